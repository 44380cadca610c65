/**
 * Output of `corosync-cpgtool` (corosync 3.1.7), byte for byte, as pure functions. Observed
 * with the real tool (test/unit/cpgtool-format.test.ts has the captured texts):
 *
 * - Group names are printed byte by byte. With escaping (the default, `-e` turns it off) a
 *   byte outside 0x20..0x7e becomes `\xHH` and a backslash becomes `\\`. The C tool reads the
 *   byte as a (signed) `char`, so bytes 0x80..0xff print as `\xFFFFFFHH` — reproduced.
 * - Full listing without a delimiter: the header `Group Name\t       PID\t   Node ID`, then for
 *   each entry a group line whenever the group differs from the previous entry's (the first
 *   "previous" is the empty name, so a leading empty-named group gets no group line), and
 *   `\t\t%10u\t%10u (addresses)`.
 * - With a delimiter D: `GRP_NAMEDPIDDNODEID`, then `groupDpidDnodeid` per entry.
 * - Names only (`-n`): each name followed by `\n`, or by D and one final `\n` with a delimiter.
 * - The delimiter is the first BYTE of the `-d` argument (an empty argument means none).
 */
import { Buffer } from 'node:buffer';

/** One entry of a cpg iteration, as the tool uses it. */
export interface CpgtoolEntry {
  /** The group name's significant bytes. */
  readonly group: Buffer;
  readonly nodeid: number;
  readonly pid: number;
}

/** Header line of the full listing without a delimiter. */
export const FULL_HEADER = 'Group Name\t       PID\t   Node ID\n';

/** corosync-cpgtool's usage text (`-h`), with the program name it prints first. */
export function cpgtoolUsage(progName = 'corosync-cpgtool'): string {
  return (
    `${progName} [-d delimiter] [-e] [-n] [-h]\n\n` +
    'A tool for displaying cpg groups and members.\n' +
    'options:\n' +
    '\t-d\tDelimiter between fields.\n' +
    "\t-e\tDon't escape unprintable characters in group name.\n" +
    '\t-n\tDisplay only all existing group names.\n' +
    '\t-h\tDisplay this help.\n'
  );
}

/** The delimiter byte chosen by `-d arg` (undefined for an empty argument: no delimiter). */
export function delimiterFromArg(arg: string): number | undefined {
  const b = Buffer.from(arg, 'utf8');
  return b.length > 0 && b[0] !== 0 ? b[0] : undefined;
}

/** A group name as the tool prints it (bytes; with `escape` only printable ASCII remains). */
export function formatGroupName(name: Uint8Array, escape: boolean): Buffer {
  if (!escape) return Buffer.from(name);
  let out = '';
  for (const b of name) {
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b);
    else if (b === 0x5c) out += '\\\\';
    else if (b >= 0x80) out += `\\xFFFFFF${b.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return Buffer.from(out, 'latin1');
}

function pad10(n: number): string {
  return String(n >>> 0).padStart(10, ' ');
}

/**
 * The full listing (no `-n`). `addresses(nodeid)` gives the node's addresses as the tool
 * prints them inside the parentheses (joined by spaces); only used without a delimiter.
 */
export function formatFullListing(
  entries: readonly CpgtoolEntry[],
  opts: { delimiter?: number; escape: boolean },
  addresses: (nodeid: number) => readonly string[] = () => [],
): Buffer {
  const parts: Buffer[] = [];
  const d = opts.delimiter;
  if (d !== undefined) {
    const ds = Buffer.from([d]);
    parts.push(Buffer.concat([Buffer.from('GRP_NAME'), ds, Buffer.from('PID'), ds, Buffer.from('NODEID\n')]));
    for (const e of entries) {
      parts.push(formatGroupName(e.group, opts.escape));
      parts.push(ds, Buffer.from(String(e.pid >>> 0)), ds, Buffer.from(`${e.nodeid >>> 0}\n`));
    }
    return Buffer.concat(parts);
  }
  parts.push(Buffer.from(FULL_HEADER));
  let previous: Buffer = Buffer.alloc(0);
  for (const e of entries) {
    if (!previous.equals(e.group)) {
      parts.push(formatGroupName(e.group, opts.escape), Buffer.from('\n'));
      previous = e.group;
    }
    parts.push(Buffer.from(`\t\t${pad10(e.pid)}\t${pad10(e.nodeid)} (${addresses(e.nodeid).join(' ')})\n`));
  }
  return Buffer.concat(parts);
}

/** The `-n` listing: group names (in iteration order). */
export function formatNameListing(
  names: readonly Uint8Array[],
  opts: { delimiter?: number; escape: boolean },
): Buffer {
  const parts: Buffer[] = [];
  const sep = Buffer.from([opts.delimiter ?? 0x0a]);
  for (const n of names) parts.push(formatGroupName(n, opts.escape), sep);
  if (opts.delimiter !== undefined) parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Addresses from a cmap `runtime.members.<id>.ip` value such as `r(0) ip(10.0.0.1) r(1) ip(10.0.1.1) `. */
export function addressesFromMemberIp(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/ip\(([^)]*)\)/g)) out.push(m[1]!);
  return out;
}

/** Our `--json` output of the full listing: one object per entry. */
export function jsonFullListing(
  entries: readonly CpgtoolEntry[],
  escape: boolean,
  addresses: (nodeid: number) => readonly string[] = () => [],
): string {
  const rows = entries.map((e) =>
    JSON.stringify({
      group: jsonName(e.group, escape),
      pid: e.pid >>> 0,
      nodeid: e.nodeid >>> 0,
      addresses: addresses(e.nodeid),
    }),
  );
  return rows.length === 0 ? '[]\n' : '[\n' + rows.map((r) => '  ' + r).join(',\n') + '\n]\n';
}

/** Our `--json` output of `-n`: an array of names. */
export function jsonNameListing(names: readonly Uint8Array[], escape: boolean): string {
  const rows = names.map((n) => JSON.stringify(jsonName(n, escape)));
  return rows.length === 0 ? '[]\n' : '[\n' + rows.map((r) => '  ' + r).join(',\n') + '\n]\n';
}

/** A name for JSON: the escaped text, or with `-e` the bytes decoded as UTF-8. */
function jsonName(name: Uint8Array, escape: boolean): string {
  return escape ? formatGroupName(name, true).toString('latin1') : Buffer.from(name).toString('utf8');
}
