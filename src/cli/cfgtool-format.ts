/**
 * Output of `corosync-cfgtool` (corosync 3.1.7), byte for byte, as pure functions, and the
 * getopt_long(3) handling that cfgtool and keygen share. Observed with the real tool in
 * network namespaces (goldens in test/unit/cfgtool-format.test.ts):
 *
 * - Header: `Local node ID <id>, transport <transport>` (transport from `totem.transport`,
 *   default "knet").
 * - `-s`: per enabled link (as seen in the node status of the highest-numbered other node):
 *   `LINK ID <n> <link transport>`, `\taddr\t= <src address>`, then `\tstatus:` and one
 *   `\t\tnodeid: %10u:\t<localhost|connected|disconnected>` line per node; with `-b`
 *   `\tstatus\t= ` and one character per node: `n` for us, else
 *   `'0' + (enabled | connected << 1)`. Link transport: knet "udp" unless
 *   `totem.interface.<n>.knet_transport` says otherwise; other transports "" (so the line
 *   ends with a space).
 * - `-n`: per reachable other node `nodeid: <id> reachable[ remote][ external]`, per enabled
 *   link `   LINK: <n> <transport> (<src>-><dst>) enabled[ connected][ dynconnected] mtu: <mtu>`
 *   (`(<src><dst>)` without knet), then an empty line.
 * - `-a`: the node's addresses separated by spaces (an unused first entry still yields the
 *   space before the next one).
 */
import type { CfgNodeStatusV1 } from '../client/cfg.js';

/** corosync-cfgtool's usage text (`-h`, or no action). */
export function cfgtoolUsage(): string {
  return (
    'corosync-cfgtool [[-i <interface ip>] [-b] -s] [-R] [-L] [-k nodeid] [-a nodeid] [-h] [-H]\n\n' +
    'A tool for displaying and configuring active parameters within corosync.\n' +
    'options:\n' +
    '\t-i\tFinds only information about the specified interface IP address or link id when used with -s..\n' +
    '\t-s\tDisplays the status of the current links on this node.\n' +
    '\t-n\tDisplays the status of the connected nodes and their links.\n' +
    '\t-b\tDisplays the brief status of the current links on this node when used with -s.\n' +
    '\t-R\tTell all instances of corosync in this cluster to reload corosync.conf.\n' +
    '\t-L\tTell corosync to reopen all logging files.\n' +
    '\t-k\tKill a node identified by node id.\n' +
    '\t-a\tDisplay the IP address(es) of a node\n' +
    '\t-h\tPrint basic usage.\n' +
    '\t-H\tShutdown corosync cleanly on this node.\n' +
    '\t\t--force will shut down corosync regardless of daemon vetos\n'
  );
}

/** CFG_MAX_LINKS. */
const MAX_LINKS = 8;

export interface LinkReport {
  readonly localNodeId: number;
  readonly transport: string;
  /** Node ids of the nodelist, ascending. */
  readonly nodeids: readonly number[];
  /** Node status per entry of `nodeids` (zeros where the query failed). */
  readonly status: readonly CfgNodeStatusV1[];
  /** Transport name shown per link number. */
  readonly linkTransport: readonly string[];
}

/** Indexes of the local node and of the "other" node whose links are listed. */
export function nodeIndexes(
  nodeids: readonly number[],
  local: number,
): { localIdx: number; otherIdx: number } {
  let localIdx = 0;
  let otherIdx = 0;
  nodeids.forEach((id, i) => {
    if (id === local) localIdx = i;
    else otherIdx = i;
  });
  return { localIdx, otherIdx };
}

/** The header line. */
export function formatHeader(localNodeId: number, transport: string): string {
  return `Local node ID ${localNodeId >>> 0}, transport ${transport}\n`;
}

/** Link transport names per link number (knet default "udp", others ""). */
export function linkTransports(transport: string, overrides: ReadonlyMap<number, string>): string[] {
  const t: string[] = [];
  for (let i = 0; i < MAX_LINKS; i++) t.push(overrides.get(i) ?? (transport === 'knet' ? 'udp' : ''));
  return t;
}

/** `-s` (and `-s -b`) body, after the header. */
export function formatLinkStatus(r: LinkReport, brief: boolean): string {
  const { localIdx, otherIdx } = nodeIndexes(r.nodeids, r.localNodeId);
  const other = r.status[otherIdx];
  let out = '';
  for (let i = 0; i < MAX_LINKS; i++) {
    const l = other?.linkStatus[i];
    if (!l?.enabled) continue;
    out += `LINK ID ${i} ${r.linkTransport[i] ?? ''}\n`;
    out += `\taddr\t= ${l.srcIpaddr}\n`;
    if (brief) {
      out += '\tstatus\t= ';
      r.nodeids.forEach((_, j) => {
        const s = r.status[j]?.linkStatus[i];
        const c =
          j === localIdx
            ? 'n'
            : String.fromCharCode(48 + (((s?.enabled ?? 0) | ((s?.connected ?? 0) << 1)) & 0xff));
        out += c;
      });
      out += '\n';
    } else {
      out += '\tstatus:\n';
      r.nodeids.forEach((_, j) => {
        const st = r.status[j];
        out += `\t\tnodeid: ${String((st?.nodeid ?? 0) >>> 0).padStart(10, ' ')}:\t`;
        if (j === localIdx) out += 'localhost';
        else out += st?.linkStatus[i]?.connected ? 'connected' : 'disconnected';
        out += '\n';
      });
    }
  }
  return out;
}

/** `-n` body, after the header. `ok[j]` says whether the node status query succeeded. */
export function formatNodeStatus(r: LinkReport, ok: readonly boolean[]): string {
  const knet = r.transport === 'knet';
  let out = '';
  r.status.forEach((s, j) => {
    if (!ok[j] || !s.reachable || s.nodeid === r.localNodeId) return;
    out += `nodeid: ${s.nodeid >>> 0} reachable`;
    if (s.remote) out += ' remote';
    if (s.external) out += ' external';
    out += '\n';
    for (let i = 0; i < MAX_LINKS; i++) {
      const l = s.linkStatus[i];
      if (!l?.enabled) continue;
      out += `   LINK: ${i} ${r.linkTransport[i] ?? ''} (${l.srcIpaddr}${knet ? '->' : ''}${l.dstIpaddr})`;
      out += ' enabled';
      if (l.connected) out += ' connected';
      if (l.dynconnected) out += ' dynconnected';
      out += ` mtu: ${l.mtu | 0}\n`;
    }
    out += '\n';
  });
  return out;
}

/** `-a` output: addresses (family 0 entries skipped, separator by position). */
export function formatAddresses(addrs: ReadonlyArray<{ family: number; address: string }>): string {
  let out = '';
  addrs.forEach((a, i) => {
    if (!a.family) return;
    if (i !== 0) out += ' ';
    out += a.address;
  });
  return out + '\n';
}

// ------------------------------------------------------------------------------------------
// --json (ours)

export function linkStatusJson(r: LinkReport): Record<string, unknown> {
  const { localIdx, otherIdx } = nodeIndexes(r.nodeids, r.localNodeId);
  const other = r.status[otherIdx];
  const links: unknown[] = [];
  for (let i = 0; i < MAX_LINKS; i++) {
    const l = other?.linkStatus[i];
    if (!l?.enabled) continue;
    links.push({
      linkId: i,
      transport: r.linkTransport[i] ?? '',
      addr: l.srcIpaddr,
      nodes: r.nodeids.map((id, j) => {
        const s = r.status[j]?.linkStatus[i];
        return {
          nodeid: id,
          status: j === localIdx ? 'localhost' : s?.connected ? 'connected' : 'disconnected',
          enabled: Boolean(s?.enabled),
          connected: Boolean(s?.connected),
        };
      }),
    });
  }
  return { localNodeId: r.localNodeId, transport: r.transport, links };
}

export function nodeStatusJson(r: LinkReport, ok: readonly boolean[]): Record<string, unknown> {
  const nodes: unknown[] = [];
  r.status.forEach((s, j) => {
    if (!ok[j] || !s.reachable || s.nodeid === r.localNodeId) return;
    const links: unknown[] = [];
    s.linkStatus.forEach((l, i) => {
      if (!l.enabled) return;
      links.push({
        linkId: i,
        transport: r.linkTransport[i] ?? '',
        src: l.srcIpaddr,
        dst: l.dstIpaddr,
        enabled: true,
        connected: Boolean(l.connected),
        dynconnected: Boolean(l.dynconnected),
        mtu: l.mtu,
      });
    });
    nodes.push({
      nodeid: s.nodeid,
      reachable: true,
      remote: Boolean(s.remote),
      external: Boolean(s.external),
      links,
    });
  });
  return { localNodeId: r.localNodeId, transport: r.transport, nodes };
}

// ------------------------------------------------------------------------------------------
// getopt_long

export interface LongOption {
  readonly name: string;
  readonly hasArg: boolean;
  /** The short option it stands for. */
  readonly short: string;
}

/**
 * Rewrite glibc-style long options (`--name`, `--name=value`, `--name value`, unambiguous
 * prefixes) into short ones so `getopt` (src/cli/args.ts) can parse the result. A bad long
 * option stops the rewrite there: the words before it are returned with glibc's message.
 * Words after `--` are left alone.
 */
export function expandLongOptions(
  argv: readonly string[],
  longs: readonly LongOption[],
  progName: string,
): { argv: string[]; error?: string } {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!w.startsWith('--')) {
      out.push(w);
      continue;
    }
    const eq = w.indexOf('=');
    const name = eq < 0 ? w.slice(2) : w.slice(2, eq);
    const exact = longs.find((l) => l.name === name);
    const matches = exact ? [exact] : longs.filter((l) => l.name.startsWith(name));
    if (matches.length === 0) {
      return { argv: out, error: `${progName}: unrecognized option '${eq < 0 ? w : w.slice(0, eq)}'` };
    }
    if (matches.length > 1) {
      const list = matches.map((m) => ` '--${m.name}'`).join('');
      return {
        argv: out,
        error: `${progName}: option '${w.slice(0, eq < 0 ? w.length : eq)}' is ambiguous; possibilities:${list}`,
      };
    }
    const opt = matches[0]!;
    if (!opt.hasArg) {
      if (eq >= 0)
        return { argv: out, error: `${progName}: option '--${opt.name}' doesn't allow an argument` };
      out.push(`-${opt.short}`);
      continue;
    }
    if (eq >= 0) {
      out.push(`-${opt.short}`, w.slice(eq + 1));
    } else if (i + 1 < argv.length) {
      out.push(`-${opt.short}`, argv[i + 1]!);
      i++;
    } else {
      return { argv: out, error: `${progName}: option '--${opt.name}' requires an argument` };
    }
  }
  return { argv: out };
}
