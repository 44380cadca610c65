/**
 * `corosync-ts quorumtool`: corosync-quorumtool of corosync 3.1.7 — same options, output,
 * messages and exit codes — plus `--json`.
 *
 *   quorumtool [-s|-m|-l|-f|-e N|-v N [-n nodeid]] [-a] [-p] [-H] [-i] [-o a|n|i] [-h] [-V]
 *
 * Exit codes: `-s` 0 when quorate, 2 when not quorate, 1 on errors; other commands 0 / 1.
 * The last of -s/-m/-l/-f/-e/-v wins (default -s).
 *
 * Names (`Name` column): the node's `nodelist.node.N.name` when it has one (unless `-i`),
 * otherwise its first address from cfg (all of them, comma separated, with `-a`). The C tool
 * turns addresses into host names with a reverse DNS lookup (getnameinfo); we print the
 * numeric address (a lookup can take seconds and usually yields nothing on cluster nets).
 *
 * Differences from 3.1.7 (bugs not reproduced):
 * - Without a quorum provider, 3.1.7's `-s` and `-m` fail with "Unable to start votequorum
 *   status tracking: CS_ERR_BAD_HANDLE" (it treats "no provider" as "votequorum"); we show
 *   the status ("Quorum provider: Not configured", always quorate) and exit 0.
 * - With `-o n`, 3.1.7 shows votes of the rows in the daemon's order next to the sorted
 *   names; we keep each node's votes on its own row.
 *
 * `--json` (ours, anywhere before `--`): `-s` prints one JSON object, `-m` one object per
 * line per change, `-l` an array of members.
 */
import { CmapHandle } from '../client/cmap.js';
import { CfgHandle, INTERFACE_MAX } from '../client/cfg.js';
import { QuorumHandle, QuorumType } from '../client/quorum.js';
import { CsTrack, EMPTY_VQ_INFO, type VotequorumInfo } from '../client/votequorum.js';
import { VotequorumHandle } from '../client/votequorum.js';
import { CsError, CsErrorCode, csStrerror } from '../common/errors.js';
import { resolveRunDir } from '../common/rundir.js';
import { COROSYNC_COMPAT_VERSION, VERSION } from '../version.js';
import { getopt, takeJsonFlag } from './args.js';
import { csCode as code, type OutputSink } from './tool-io.js';
import {
  formatMembership,
  formatQuorumInfo,
  formatVotequorumInfo,
  membersJson,
  quorumtoolUsage,
  statusJson,
  type MemberRow,
  type QuorumInfoBlock,
  type SortType,
} from './quorumtool-format.js';

export interface QuorumtoolIo {
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** Environment (COROSYNC_TS_RUN_DIR, POSIXLY_CORRECT). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Explicit daemon run directory (overrides the environment). */
  runDir?: string;
  /** Name used in the usage text. Default "corosync-quorumtool". */
  progName?: string;
  /** Clock for the Date line (default: now). */
  now?: () => Date;
  /** `-m`: stop (exit 0) after this many displays (default: run until the daemon goes away). */
  monitorUpdates?: number;
  /** `-m`: stop (exit 0) when aborted. */
  signal?: AbortSignal;
}

export type { OutputSink };

const OPTSTRING = 'VHaslpmfe:v:hin:o:';
const EXIT_NOT_QUORATE = 2;

type Command = 'shownodes' | 'showstatus' | 'setvotes' | 'setexpected' | 'monitor' | 'unregister';

function errText(err: unknown): string {
  return csStrerror(code(err));
}

/** util_strtonum: a base-10 integer filling the whole word, within [min, max]. */
export function strtonum(s: string, min: number, max: number): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n) || n < min || n > max) return undefined;
  return n;
}

/**
 * An option's number (`strtonum` within [min, max]); otherwise undefined, after writing
 * `complaint` and a newline to `err` (the tool then exits 1).
 */
export function numberOption(
  arg: string,
  min: number,
  max: number,
  complaint: string,
  err: OutputSink,
): number | undefined {
  const n = strtonum(arg, min, max);
  if (n === undefined) err.write(complaint + '\n');
  return n;
}

/** Whether votequorum is there for `action`; when not, says so as the C tool does. */
function usingVotequorum(
  vq: VotequorumHandle | undefined,
  action: string,
  err: OutputSink,
): vq is VotequorumHandle {
  if (vq) return true;
  err.write(`You cannot ${action}, corosync is not using votequorum\n`);
  return false;
}

class ToolError extends Error {}

/** Everything the tool holds open (init_all). */
interface Handles {
  cmap: CmapHandle;
  quorum: QuorumHandle;
  cfg: CfgHandle;
  vq: VotequorumHandle | undefined;
  provider: string | undefined;
  ourNodeid: number;
}

/** Run the tool; resolves with the exit code. */
export async function quorumtoolMain(argv: string[], io: QuorumtoolIo = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const progName = io.progName ?? 'corosync-quorumtool';
  const now = io.now ?? (() => new Date());

  const { args, json } = takeJsonFlag(argv);

  const parsed = getopt(args, OPTSTRING, { progName, env });
  let command: Command = 'showstatus';
  let hex = false;
  let ipFormat = false;
  let sort: SortType = 'addr';
  let showAll = false;
  let machine = false;
  let votes = 0;
  let nodeid = 0;
  let nodeidSet = false;
  for (const { opt, arg = '' } of parsed.options) {
    switch (opt) {
      case 'f':
        command = 'unregister';
        break;
      case 's':
        command = 'showstatus';
        break;
      case 'a':
        showAll = true;
        break;
      case 'm':
        command = 'monitor';
        break;
      case 'i':
        ipFormat = true;
        break;
      case 'H':
        hex = true;
        break;
      case 'l':
        command = 'shownodes';
        break;
      case 'p':
        machine = true;
        break;
      case 'e': {
        const n = numberOption(
          arg,
          1,
          0x7fffffff,
          'New expected votes value was not valid, try a positive number',
          err,
        );
        if (n === undefined) return 1;
        votes = n;
        command = 'setexpected';
        break;
      }
      case 'n': {
        const n = numberOption(arg, 1, 0xffffffff, 'The nodeid was not valid, try a positive number', err);
        if (n === undefined) return 1;
        nodeid = n;
        nodeidSet = true;
        break;
      }
      case 'v': {
        const n = numberOption(
          arg,
          0,
          0x7fffffff,
          'New votes value was not valid, try a positive number or zero',
          err,
        );
        if (n === undefined) return 1;
        votes = n;
        command = 'setvotes';
        break;
      }
      case 'o':
        if (arg === 'a') sort = 'addr';
        else if (arg === 'i') sort = 'nodeid';
        else if (arg === 'n') sort = 'name';
        else {
          err.write('Invalid ordering option. valid orders are a(address), i(node ID) or n(name)\n');
          return 1;
        }
        break;
      case 'V':
        out.write(`corosync-quorumtool version: ${COROSYNC_COMPAT_VERSION} (corosync-ts ${VERSION})\n`);
        return 0;
      case 'h':
        out.write(quorumtoolUsage(progName));
        return 0;
    }
  }
  if (parsed.error) {
    err.write(parsed.error.message + '\n');
    out.write(quorumtoolUsage(progName));
    return 1;
  }

  const runDir = io.runDir ?? (io.env ? resolveRunDir(undefined, io.env) : undefined);
  const h = await initAll(runDir, err);
  if (!h.ok) return 1;
  const hs = h.handles;
  const nameFormat = { ip: ipFormat, all: showAll };
  try {
    switch (command) {
      case 'shownodes':
        return await showNodes(hs, nameFormat, { hex, machine, sort, json }, out, err);
      case 'showstatus':
        return await showStatus(hs, nameFormat, { hex, machine, sort, json }, now, out, err);
      case 'monitor':
        return await monitor(hs, nameFormat, { hex, machine, sort, json }, now, io, out, err);
      case 'setvotes':
        if (!usingVotequorum(hs.vq, 'change node votes', err)) return 1;
        try {
          await hs.vq.setvotes(nodeidSet ? nodeid : hs.ourNodeid, votes);
          return 0;
        } catch (e) {
          err.write(
            `Unable to set votes ${votes} for nodeid: ${nodeidSet ? nodeid : hs.ourNodeid}: ${errText(e)}\n`,
          );
          return 1;
        }
      case 'setexpected':
        if (!usingVotequorum(hs.vq, 'change expected votes', err)) return 1;
        try {
          await hs.vq.setexpected(votes);
          return 0;
        } catch (e) {
          err.write(`Unable to set expected votes: ${errText(e)}\n`);
          return 1;
        }
      case 'unregister':
        if (!usingVotequorum(hs.vq, 'unregister quorum device', err)) return 1;
        return await unregisterQdevice(hs.vq, hs.ourNodeid, err);
    }
  } catch (e) {
    if (e instanceof ToolError) return 1;
    throw e;
  } finally {
    await closeAll(hs);
  }
}

async function closeAll(h: Partial<Handles>): Promise<void> {
  for (const x of [h.cmap, h.quorum, h.cfg, h.vq]) {
    if (x) await x.finalize().catch(() => undefined);
  }
}

async function initAll(
  runDir: string | undefined,
  err: OutputSink,
): Promise<{ ok: true; handles: Handles } | { ok: false }> {
  const h: Partial<Handles> = {};
  const fail = async (msg: string): Promise<{ ok: false }> => {
    err.write(msg);
    await closeAll(h);
    return { ok: false };
  };
  try {
    h.cmap = await CmapHandle.initialize(undefined, { runDir });
  } catch {
    return fail('Cannot initialize CMAP service\n');
  }
  try {
    h.quorum = await QuorumHandle.initialize({}, { runDir });
  } catch {
    return fail('Cannot initialize QUORUM service\n');
  }
  try {
    h.cfg = await CfgHandle.initialize({}, { runDir });
  } catch {
    return fail('Cannot initialise CFG service\n');
  }
  h.ourNodeid = 0;
  h.provider = undefined;
  if (h.quorum.quorumType !== QuorumType.FREE) {
    try {
      h.provider = await h.cmap.getString('quorum.provider');
    } catch {
      h.provider = undefined;
    }
  }
  if (h.provider === 'corosync_votequorum') {
    try {
      h.vq = await VotequorumHandle.initialize({}, { runDir });
    } catch {
      return fail('Cannot initialise VOTEQUORUM service\n');
    }
    try {
      h.ourNodeid = await h.cmap.getUint32('runtime.votequorum.this_node_id');
    } catch {
      return fail('Unable to retrieve this_node_id\n');
    }
  }
  return { ok: true, handles: h as Handles };
}

/** The nodelist name of `nodeid` (node_name_by_nodelist), '' when none. */
async function nodelistName(cmap: CmapHandle, nodeid: number): Promise<string> {
  try {
    for await (const e of cmap.iter('nodelist.node.')) {
      const m = /^nodelist\.node\.(\d+)\.nodeid$/.exec(e.key);
      if (!m) continue;
      let id: number;
      try {
        id = await cmap.getUint32(e.key);
      } catch {
        continue;
      }
      if (id !== nodeid) continue;
      try {
        return await cmap.getString(`nodelist.node.${m[1]}.name`);
      } catch {
        continue;
      }
    }
  } catch {
    return '';
  }
  return '';
}

/** The Name column of a node (node_name). */
async function nodeName(
  h: Handles,
  nodeid: number,
  fmt: { ip: boolean; all: boolean },
  err: OutputSink,
): Promise<string> {
  let buf = '';
  let start = 0;
  if (!fmt.ip) {
    const n = await nodelistName(h.cmap, nodeid);
    if (n.length > 0) {
      buf = n;
      start = 1;
    }
  }
  let addrs;
  try {
    addrs = await h.cfg.getNodeAddrs(nodeid, INTERFACE_MAX);
  } catch (e) {
    err.write(`Unable to get node address for nodeid ${nodeid >>> 0}: ${errText(e)}\n`);
    return '';
  }
  const count = fmt.all ? addrs.length : Math.min(1, addrs.length);
  for (let i = start; i < count; i++) {
    const a = addrs[i]!;
    if (a.family === 0) continue;
    if (i > 0) buf += ', ';
    buf += a.address;
  }
  return buf;
}

interface ViewFmt {
  hex: boolean;
  machine: boolean;
  sort: SortType;
  json: boolean;
}

/** Collect getinfo (with votequorum) and names for the view list. */
async function memberRows(
  h: Handles,
  view: readonly number[],
  fmt: { ip: boolean; all: boolean },
  err: OutputSink,
): Promise<MemberRow[]> {
  const infos: Array<VotequorumInfo | null | undefined> = [];
  for (const id of view) {
    if (!h.vq) {
      infos.push(undefined);
      continue;
    }
    try {
      infos.push(await h.vq.getinfo(id));
    } catch {
      infos.push(null);
    }
  }
  const rows: MemberRow[] = [];
  for (let i = 0; i < view.length; i++) {
    rows.push({ nodeid: view[i]!, name: await nodeName(h, view[i]!, fmt, err), info: infos[i] });
  }
  return rows;
}

/** quorum trackstart(CURRENT) + dispatch until the notification came: the current view. */
async function currentView(
  h: Handles,
  err: OutputSink,
): Promise<{ quorate: boolean; ringSeq: bigint; view: number[] } | undefined> {
  try {
    await h.quorum.trackstart(CsTrack.CURRENT);
  } catch (e) {
    err.write(`Unable to start quorum status tracking: ${errText(e)}\n`);
    return undefined;
  }
  let got: { quorate: boolean; ringSeq: bigint; view: number[] } | undefined;
  const it = h.quorum.events();
  while (!got) {
    try {
      const r = await it.next();
      if (r.done) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE);
      if (r.value.type === 'quorum') {
        got = { quorate: r.value.quorate, ringSeq: r.value.ringSeq, view: [...r.value.viewList] };
      }
    } catch (e) {
      err.write(`Unable to dispatch quorum status: ${errText(e)}\n`);
      return undefined;
    }
  }
  return got;
}

/** votequorum trackstart + dispatch until a node list notification: its ring representative. */
async function votequorumRingRep(
  vq: VotequorumHandle,
  flags: number,
  err: OutputSink,
  started: boolean,
): Promise<number | undefined> {
  if (!started) {
    try {
      await vq.trackstart(0n, flags);
    } catch (e) {
      err.write(`Unable to start votequorum status tracking: ${errText(e)}\n`);
      return undefined;
    }
  }
  const it = vq.events();
  for (;;) {
    try {
      const r = await it.next();
      if (r.done) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE);
      if (r.value.type === 'nodelist') return r.value.ringId.nodeid;
    } catch (e) {
      err.write(`Unable to dispatch votequorum status: ${errText(e)}\n`);
      return undefined;
    }
  }
}

async function showNodes(
  h: Handles,
  fmt: { ip: boolean; all: boolean },
  v: ViewFmt,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  const cur = await currentView(h, err);
  if (!cur) return 1;
  const rows = await memberRows(h, cur.view, fmt, err);
  if (v.json) {
    out.write(JSON.stringify(membersJson(rows, v.sort, h.ourNodeid), null, 2) + '\n');
  } else {
    out.write(
      formatMembership(rows, {
        hex: v.hex,
        machineParsable: v.machine,
        sort: v.sort,
        localNodeId: h.ourNodeid,
        votequorum: h.vq !== undefined,
      }),
    );
  }
  return 0;
}

/** display_quorum_data: prints the blocks; returns false when the local getinfo failed. */
async function displayQuorumData(
  h: Handles,
  quorate: boolean,
  view: readonly number[],
  ringSeq: bigint,
  ringRep: number | undefined,
  fmt: { ip: boolean; all: boolean },
  v: ViewFmt,
  now: () => Date,
  out: OutputSink,
  err: OutputSink,
  jsonLine: boolean,
): Promise<boolean> {
  const block: QuorumInfoBlock = {
    date: now(),
    provider: h.provider,
    nodes: view.length,
    nodeId: h.ourNodeid,
    ringRep: h.vq ? ringRep : undefined,
    ringSeq,
    quorate,
  };
  let text = formatQuorumInfo(block, v.hex);
  let ok = true;
  let local: VotequorumInfo | undefined;
  if (h.vq) {
    try {
      local = await h.vq.getinfo(h.ourNodeid);
    } catch (e) {
      ok = false;
      if (code(e) === CsErrorCode.CS_ERR_NOT_EXIST) local = EMPTY_VQ_INFO;
      else err.write(`Unable to get node info: ${errText(e)}\n`);
    }
    if (local) text += formatVotequorumInfo(local);
  }
  // The C tool prints the header blocks, then collects the member data.
  if (!v.json) out.write(text);
  const rows = await memberRows(h, view, fmt, err);
  if (v.json) {
    const obj = statusJson({
      info: block,
      votequorum: local,
      members: rows,
      sort: v.sort,
      localNodeId: h.ourNodeid,
    });
    out.write((jsonLine ? JSON.stringify(obj) : JSON.stringify(obj, null, 2)) + '\n');
  } else {
    out.write(
      formatMembership(rows, {
        hex: v.hex,
        machineParsable: v.machine,
        sort: v.sort,
        localNodeId: h.ourNodeid,
        votequorum: h.vq !== undefined,
      }),
    );
  }
  return ok;
}

async function showStatus(
  h: Handles,
  fmt: { ip: boolean; all: boolean },
  v: ViewFmt,
  now: () => Date,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  let quorate: boolean;
  try {
    quorate = await h.quorum.getquorate();
  } catch (e) {
    err.write(`Unable to get cluster quorate status: ${errText(e)}\n`);
    return 1;
  }
  const cur = await currentView(h, err);
  if (!cur) return 1;
  try {
    await h.quorum.trackstop();
  } catch (e) {
    err.write(`Unable to stop quorum status tracking: ${errText(e)}\n`);
  }
  let ringRep: number | undefined;
  if (h.vq) {
    ringRep = await votequorumRingRep(h.vq, CsTrack.CURRENT, err, false);
    if (ringRep === undefined) return 1;
  }
  const ok = await displayQuorumData(
    h,
    quorate,
    cur.view,
    cur.ringSeq,
    ringRep,
    fmt,
    v,
    now,
    out,
    err,
    false,
  );
  if (!ok) return 1;
  return quorate ? 0 : EXIT_NOT_QUORATE;
}

async function monitor(
  h: Handles,
  fmt: { ip: boolean; all: boolean },
  v: ViewFmt,
  now: () => Date,
  io: QuorumtoolIo,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  if (h.quorum.quorumType === QuorumType.FREE) {
    out.write('\nQuorum is not configured - cannot monitor\n');
    return showStatus(h, fmt, v, now, out, err);
  }
  try {
    await h.quorum.trackstart(CsTrack.CHANGES);
  } catch (e) {
    err.write(`Unable to start quorum status tracking: ${errText(e)}\n`);
    return 1;
  }
  if (h.vq) {
    try {
      await h.vq.trackstart(0n, CsTrack.CHANGES);
    } catch (e) {
      err.write(`Unable to start votequorum status tracking: ${errText(e)}\n`);
      return 1;
    }
  }
  const signal = io.signal;
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal?.aborted) resolve('aborted');
    signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  const qit = h.quorum.events();
  let shown = 0;
  for (;;) {
    if (io.monitorUpdates !== undefined && shown >= io.monitorUpdates) return 0;
    let q: { quorate: boolean; ringSeq: bigint; view: number[] } | undefined;
    try {
      const r = await Promise.race([qit.next(), aborted]);
      if (r === 'aborted') return 0;
      if (r.done) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE);
      if (r.value.type === 'quorum')
        q = { quorate: r.value.quorate, ringSeq: r.value.ringSeq, view: [...r.value.viewList] };
    } catch (e) {
      err.write(`Unable to dispatch quorum status: ${errText(e)}\n`);
      return 1;
    }
    if (!q) continue;
    let ringRep: number | undefined;
    if (h.vq) {
      const rep = await Promise.race([votequorumRingRep(h.vq, CsTrack.CHANGES, err, true), aborted]);
      if (rep === 'aborted') return 0;
      if (rep === undefined) return 1;
      ringRep = rep;
    }
    const ok = await displayQuorumData(h, q.quorate, q.view, q.ringSeq, ringRep, fmt, v, now, out, err, true);
    if (!v.json) out.write('\n');
    shown++;
    if (!ok) {
      err.write('Unable to display quorum data: CS_ERR_NOT_EXIST\n');
      return 1;
    }
  }
}

async function unregisterQdevice(vq: VotequorumHandle, ourNodeid: number, err: OutputSink): Promise<number> {
  let info: VotequorumInfo;
  try {
    info = await vq.getinfo(ourNodeid);
  } catch (e) {
    err.write(`Unable to get quorum device info: ${errText(e)}\n`);
    return 1;
  }
  if (!(info.flags & 64)) return 0;
  try {
    await vq.qdeviceUnregister(info.qdeviceName);
  } catch (e) {
    err.write(`Unable to unregister quorum device: ${errText(e)}\n`);
    return 1;
  }
  return 0;
}
