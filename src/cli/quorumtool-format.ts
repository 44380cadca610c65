/**
 * Output of `corosync-quorumtool` (corosync 3.1.7), byte for byte, as pure functions.
 * Observed with the real tool in network namespaces (goldens in
 * test/unit/quorumtool-format.test.ts):
 *
 * - `-s`: "Quorum information" block (Date in ctime(3) form, provider, node count, node id,
 *   ring id `<rep hex>.<seq hex>` — only `<seq hex>` without votequorum —, Quorate Yes/No);
 *   with votequorum a "Votequorum information" block (the local node's getinfo: expected,
 *   highest expected, total votes, `Quorum: <q> ` + a space or "Activity blocked", flag
 *   words each followed by a space); then the membership block.
 * - Membership block: a blank line, "Membership information", dashes, then a header of
 *   right-aligned 10-wide columns each followed by a space (Nodeid, and with votequorum
 *   Votes, and Qdevice when some node has a qdevice registered or with `-p`), then "Name".
 *   Node ids print as `%10u ` or, with `-H`, `0x%08x `. The local node's name gets
 *   " (local)". With a registered qdevice a last row describes it.
 */
import { Buffer } from 'node:buffer';
import { EMPTY_VQ_INFO, VotequorumInfoFlag, type VotequorumInfo } from '../client/votequorum.js';

/** VOTEQUORUM_INFO_* bits used by the tool. */
const INFO = VotequorumInfoFlag;

/** How `-o` orders the membership rows. */
export type SortType = 'addr' | 'nodeid' | 'name';

/** corosync-quorumtool's usage text (`-h`, also after a bad option). */
export function quorumtoolUsage(progName = 'corosync-quorumtool'): string {
  return (
    'usage: \n' +
    `${progName} <options>\n` +
    '\n' +
    '  options:\n' +
    '\n' +
    '  -s             show quorum status\n' +
    '  -m             constantly monitor quorum status\n' +
    '  -l             list nodes\n' +
    '  -a             show all names or addresses for each node\n' +
    '  -p             when used with -s or -l, generates machine parsable output\n' +
    '  -v <votes>     change the number of votes for a node (*)\n' +
    '  -n <nodeid>    optional nodeid of node for -v\n' +
    '  -e <expected>  change expected votes for the cluster (*)\n' +
    '  -H             show nodeids in hexadecimal rather than decimal\n' +
    '  -i             show node IP addresses instead of the resolved name\n' +
    '  -o <a|n|i>     order by [a] IP address (default), [n] name, [i] nodeid\n' +
    '  -f             forcefully unregister a quorum device *DANGEROUS* (*)\n' +
    '  -h             show this help text\n' +
    '  -V             show version and exit\n' +
    '\n' +
    '  (*) Starred items only work if votequorum is the quorum provider for corosync\n' +
    '\n'
  );
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime(3) of a local time, with its newline: "Sat Nov 21 03:30:19 2026\n". */
export function ctime(d: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}\n`
  );
}

/** A string right-aligned in 10 columns and a space (longer strings are not cut). */
export function padded(s: string): string {
  return s.padStart(10, ' ') + ' ';
}

function nodeidCol(nodeid: number, hex: boolean): string {
  return hex ? `0x${(nodeid >>> 0).toString(16).padStart(8, '0')} ` : padded(String(nodeid >>> 0));
}

/** The C tool's `%d` of an unsigned field. */
function d32(n: number): number {
  return n | 0;
}

/** Inputs of the "Quorum information" block. */
export interface QuorumInfoBlock {
  readonly date: Date;
  /** quorum.provider, or undefined ("Not configured"). */
  readonly provider: string | undefined;
  readonly nodes: number;
  readonly nodeId: number;
  /** Ring representative from votequorum's node list notification (only with votequorum). */
  readonly ringRep: number | undefined;
  readonly ringSeq: bigint;
  readonly quorate: boolean;
}

export function formatQuorumInfo(b: QuorumInfoBlock, hex: boolean): string {
  const nodeId = hex ? `0x${(b.nodeId >>> 0).toString(16).padStart(8, '0')}` : String(b.nodeId >>> 0);
  const seq = BigInt.asUintN(64, b.ringSeq).toString(16);
  const ring = b.ringRep !== undefined ? `${(b.ringRep >>> 0).toString(16)}.${seq}` : seq;
  return (
    'Quorum information\n' +
    '------------------\n' +
    `Date:             ${ctime(b.date)}` +
    `Quorum provider:  ${b.provider ?? 'Not configured'}\n` +
    `Nodes:            ${b.nodes}\n` +
    `Node ID:          ${nodeId}\n` +
    `Ring ID:          ${ring}\n` +
    `Quorate:          ${b.quorate ? 'Yes' : 'No'}\n`
  );
}

/** The flag words of the Flags line (each followed by a space). */
export function flagWords(flags: number): string {
  let s = '';
  if (flags & INFO.TWONODE) s += '2Node ';
  if (flags & INFO.QUORATE) s += 'Quorate ';
  if (flags & INFO.WAIT_FOR_ALL) s += 'WaitForAll ';
  if (flags & INFO.LAST_MAN_STANDING) s += 'LastManStanding ';
  if (flags & INFO.AUTO_TIE_BREAKER) s += 'AutoTieBreaker ';
  if (flags & INFO.ALLOW_DOWNSCALE) s += 'AllowDownscale ';
  if (flags & INFO.QDEVICE_REGISTERED) s += 'Qdevice ';
  return s;
}

/** The "Votequorum information" block for the local node's getinfo. */
export function formatVotequorumInfo(info: VotequorumInfo): string {
  return (
    '\nVotequorum information\n' +
    '----------------------\n' +
    `Expected votes:   ${d32(info.expectedVotes)}\n` +
    `Highest expected: ${d32(info.highestExpected)}\n` +
    `Total votes:      ${d32(info.totalVotes)}\n` +
    `Quorum:           ${d32(info.quorum)} ${info.flags & INFO.QUORATE ? ' ' : 'Activity blocked'}\n` +
    `Flags:            ${flagWords(info.flags)}\n`
  );
}

/** One member as the membership block shows it. */
export interface MemberRow {
  readonly nodeid: number;
  /** The name column (nodelist name and/or addresses, see the tool). */
  readonly name: string;
  /**
   * votequorum getinfo of the node: undefined without votequorum; null when getinfo failed
   * (the C tool prints "Unable to get node N info" and shows zeros).
   */
  readonly info?: VotequorumInfo | null;
}

export interface MembershipOptions {
  readonly hex: boolean;
  /** `-p`: always show the Qdevice column. */
  readonly machineParsable: boolean;
  readonly sort: SortType;
  /** Our node id (its row gets " (local)"). */
  readonly localNodeId: number;
  /** True when the tool has a votequorum handle (Votes column). */
  readonly votequorum: boolean;
}

/** Order rows as `-o` asks ('addr' keeps the daemon's order). */
export function sortRows(rows: readonly MemberRow[], sort: SortType): MemberRow[] {
  const out = [...rows];
  if (sort === 'nodeid') out.sort((a, b) => (a.nodeid >>> 0) - (b.nodeid >>> 0));
  if (sort === 'name') out.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return out;
}

/** The membership block (with any "Unable to get node N info" lines that precede it). */
export function formatMembership(rows: readonly MemberRow[], o: MembershipOptions): string {
  let out = '';
  const infos = rows.map((r) => (r.info === null ? EMPTY_VQ_INFO : r.info));
  let displayQdevice = false;
  if (o.votequorum) {
    rows.forEach((r, i) => {
      if (r.info === null) out += `Unable to get node ${r.nodeid >>> 0} info\n`;
      if ((infos[i]?.flags ?? 0) & INFO.QDEVICE_REGISTERED) displayQdevice = true;
    });
  }
  // The qdevice row uses the info of the first row in the daemon's order.
  const first = infos[0] ?? EMPTY_VQ_INFO;
  out += '\nMembership information\n----------------------\n';
  out += padded('Nodeid');
  if (o.votequorum) {
    out += padded('Votes');
    if (displayQdevice || o.machineParsable) out += padded('Qdevice');
  }
  out += 'Name\n';
  let ourFlags = 0;
  for (const r of sortRows(rows, o.sort)) {
    const info = r.info === null || r.info === undefined ? EMPTY_VQ_INFO : r.info;
    out += nodeidCol(r.nodeid, o.hex);
    if (o.votequorum) {
      out += padded(String(info.votes >>> 0));
      if (displayQdevice || o.machineParsable) {
        if (info.flags & INFO.QDEVICE_REGISTERED) {
          const s =
            `${info.flags & INFO.QDEVICE_ALIVE ? 'A' : 'NA'},` +
            `${info.flags & INFO.QDEVICE_CAST_VOTE ? 'V' : 'NV'},` +
            `${info.flags & INFO.QDEVICE_MASTER_WINS ? 'MW' : 'NMW'}`;
          out += padded(s.slice(0, 9));
        } else {
          out += padded('NR');
        }
      }
    }
    out += r.name;
    if (r.nodeid === o.localNodeId) {
      out += ' (local)';
      if (o.votequorum) ourFlags = info.flags;
    }
    out += '\n';
  }
  if (displayQdevice) {
    out += nodeidCol(0, o.hex);
    const casting = (ourFlags & INFO.QDEVICE_CAST_VOTE) !== 0;
    out += padded(String(casting ? first.qdeviceVotes >>> 0 : 0));
    out += `           ${first.qdeviceName}`;
    out += casting ? '\n' : ` (votes ${d32(first.qdeviceVotes)})\n`;
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// --json (ours)

export interface StatusJsonInput {
  readonly info: QuorumInfoBlock;
  /** Local getinfo (undefined without votequorum or on error). */
  readonly votequorum?: VotequorumInfo;
  readonly members: readonly MemberRow[];
  readonly sort: SortType;
  readonly localNodeId: number;
}

function infoJson(i: VotequorumInfo): Record<string, unknown> {
  return {
    expectedVotes: i.expectedVotes,
    highestExpected: i.highestExpected,
    totalVotes: i.totalVotes,
    quorum: i.quorum,
    flags: flagWords(i.flags).trim().split(' ').filter(Boolean),
    qdeviceVotes: i.qdeviceVotes,
    qdeviceName: i.qdeviceName,
  };
}

/** The membership as JSON rows. */
export function membersJson(rows: readonly MemberRow[], sort: SortType, localNodeId: number): unknown[] {
  return sortRows(rows, sort).map((r) => {
    const o: Record<string, unknown> = {
      nodeid: r.nodeid >>> 0,
      name: r.name,
      local: r.nodeid === localNodeId,
    };
    if (r.info) {
      o.votes = r.info.votes;
      o.qdevice =
        r.info.flags & INFO.QDEVICE_REGISTERED
          ? {
              alive: (r.info.flags & INFO.QDEVICE_ALIVE) !== 0,
              castVote: (r.info.flags & INFO.QDEVICE_CAST_VOTE) !== 0,
              masterWins: (r.info.flags & INFO.QDEVICE_MASTER_WINS) !== 0,
            }
          : null;
    }
    return o;
  });
}

/** `-s --json` / `-m --json`: one object. */
export function statusJson(s: StatusJsonInput): Record<string, unknown> {
  const b = s.info;
  return {
    date: b.date.toISOString(),
    quorumProvider: b.provider ?? null,
    nodes: b.nodes,
    nodeId: b.nodeId >>> 0,
    ringId:
      b.ringRep !== undefined
        ? `${(b.ringRep >>> 0).toString(16)}.${BigInt.asUintN(64, b.ringSeq).toString(16)}`
        : BigInt.asUintN(64, b.ringSeq).toString(16),
    quorate: b.quorate,
    votequorum: s.votequorum ? infoJson(s.votequorum) : null,
    membership: membersJson(s.members, s.sort, s.localNodeId),
  };
}
