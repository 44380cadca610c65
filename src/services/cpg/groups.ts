/**
 * Cluster-wide CPG membership (spec cpg.md §1.3, §3): the `process_info` list, identical on
 * every node because it only changes in agreed order (exec deliveries and sync activation).
 *
 * Pure data structure; the service decides when to change it and which callbacks follow.
 */
import { Buffer } from 'node:buffer';
import { type CpgName, cpgNameBytes, cpgNameEquals } from './codec.js';

/** One member of one group: (nodeid, pid, group). */
export interface CpgProcess {
  readonly nodeid: number;
  readonly pid: number;
  readonly group: CpgName;
}

/**
 * The ordered process list. Entries are kept ascending by (nodeid, pid); a new entry goes after
 * every entry that is ≤ it, so the same process in several groups keeps insertion order.
 */
export class ProcessList {
  private items: CpgProcess[] = [];

  /** Every entry, in order (a snapshot). */
  all(): readonly CpgProcess[] {
    return this.items.slice();
  }

  get size(): number {
    return this.items.length;
  }

  find(group: CpgName, pid: number, nodeid: number): CpgProcess | undefined {
    return this.items.find((p) => p.pid === pid && p.nodeid === nodeid && cpgNameEquals(p.group, group));
  }

  /** Insert in sorted position; false when (group, pid, nodeid) is already there. */
  insert(p: CpgProcess): boolean {
    if (this.find(p.group, p.pid, p.nodeid)) return false;
    let at = this.items.length;
    for (let i = 0; i < this.items.length; i++) {
      const e = this.items[i]!;
      if (e.nodeid > p.nodeid || (e.nodeid === p.nodeid && e.pid > p.pid)) {
        at = i;
        break;
      }
    }
    this.items.splice(at, 0, p);
    return true;
  }

  /** Remove every entry matching (group, pid, nodeid); returns how many were removed. */
  remove(group: CpgName, pid: number, nodeid: number): number {
    const before = this.items.length;
    this.items = this.items.filter(
      (p) => !(p.pid === pid && p.nodeid === nodeid && cpgNameEquals(p.group, group)),
    );
    return before - this.items.length;
  }

  /** Remove the entries `pred` selects, returning them in list order. */
  removeWhere(pred: (p: CpgProcess) => boolean): CpgProcess[] {
    const removed: CpgProcess[] = [];
    this.items = this.items.filter((p) => {
      if (!pred(p)) return true;
      removed.push(p);
      return false;
    });
    return removed;
  }

  /** Members of `group`, in list order. */
  ofGroup(group: CpgName): CpgProcess[] {
    return this.items.filter((p) => cpgNameEquals(p.group, group));
  }

  /** True when `nodeid` has at least one process in `group`. */
  nodeInGroup(nodeid: number, group: CpgName): boolean {
    return this.items.some((p) => p.nodeid === nodeid && cpgNameEquals(p.group, group));
  }

  /** Number of distinct groups. */
  groupCount(): number {
    return distinctGroups(this.items).length;
  }

  hasGroup(group: CpgName): boolean {
    return this.items.some((p) => cpgNameEquals(p.group, group));
  }
}

function distinctGroups(items: readonly CpgProcess[]): CpgName[] {
  const out: CpgName[] = [];
  for (const p of items) if (!out.some((g) => cpgNameEquals(g, p.group))) out.push(p.group);
  return out;
}

/**
 * The key corosync uses to merge and order per-group callbacks of the NODEDOWN path at sync
 * (spec cpg.md §1.1): the first `length` bytes of the name, cut at the first NUL.
 */
export function nodedownGroupKey(name: CpgName): Buffer {
  const b = cpgNameBytes(name);
  const nul = b.indexOf(0);
  return nul < 0 ? b : b.subarray(0, nul);
}

/**
 * The key of the NODEUP path: the 128-byte value up to its first NUL, which may run past
 * `length` when a client left non-NUL bytes after its name.
 */
export function nodeupGroupKey(name: CpgName): Buffer {
  const nul = name.value.indexOf(0);
  return nul < 0 ? name.value : name.value.subarray(0, nul);
}

/**
 * Accumulates address lists per group under a key and yields them in ascending `strcmp`
 * order of the key (unsigned bytes, a prefix first) — how corosync emits one confchg per group
 * at sync time. Two names with the same key share one entry (the first name seen is used).
 */
export class GroupAccumulator<T> {
  private readonly byKey = new Map<string, { key: Buffer; group: CpgName; list: T[] }>();

  constructor(private readonly keyOf: (name: CpgName) => Buffer) {}

  add(group: CpgName, item: T): void {
    const key = this.keyOf(group);
    const k = key.toString('latin1');
    let e = this.byKey.get(k);
    if (!e) this.byKey.set(k, (e = { key, group, list: [] }));
    e.list.push(item);
  }

  /** Entries in ascending key order. */
  sorted(): { group: CpgName; list: T[] }[] {
    return [...this.byKey.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  }
}
