/**
 * The per-node sort queue of totemsrp (spec/totem-srp.md §1.2): a window of
 * {@link QUEUE_RTR_ITEMS_SIZE_MAX} slots indexed by message seq, starting at `headSeqid`.
 *
 * Implementation: a ring buffer of a power-of-two number of slots, grown on demand up to the
 * window's 16384. The slot of seq `s` is `s mod capacity`; because 2³² is a multiple of every
 * capacity this stays consistent across u32 wrap-around. Every seq the queue stores or counts
 * misses for lies in `[headSeqid, headSeqid + capacity)`, so no two of them share a slot; one
 * further out grows the ring first. Each slot also remembers which seq it holds, so a lookup of
 * a seq outside that range can never return the message of another seq that happens to share
 * the slot (corosync's `sq` has no such guard and relies on its callers' range checks; the
 * protocol effect is the same).
 *
 * Why it grows: the two queues of a node at the full window hold 3 × 16384 slots each (the
 * messages, their seqs, the miss counters: ~0.5 MiB for both) while an idle or lightly loaded
 * ring keeps a few dozen messages between its head and its highest seq.
 */
import { Buffer } from 'node:buffer';
import { seqLt } from './wire/seq.js';

/** `QUEUE_RTR_ITEMS_SIZE_MAX`: slots per sort queue. */
export const QUEUE_RTR_ITEMS_SIZE_MAX = 16384;
/** Slots a queue starts with. */
export const SORT_QUEUE_INITIAL_SLOTS = 256;
const MAX_MASK = QUEUE_RTR_ITEMS_SIZE_MAX - 1;
const ROLLOVER_POINT = 0x80000000;
const ROLLOVER_SHIFT = 0x10000;

export class SortQueue {
  private items: (Buffer | undefined)[] = new Array<Buffer | undefined>(SORT_QUEUE_INITIAL_SLOTS).fill(
    undefined,
  );
  private seqs = new Uint32Array(SORT_QUEUE_INITIAL_SLOTS);
  private miss = new Uint32Array(SORT_QUEUE_INITIAL_SLOTS);
  /** Slots − 1 (the slot of seq s is s & mask). */
  private mask = SORT_QUEUE_INITIAL_SLOTS - 1;
  /** Lowest seq the window accepts. */
  headSeqid = 0;
  /** Number of stored messages (for stats and tests). */
  count = 0;

  /** Slots the ring has now (for tests). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** `sq_in_range`: `headSeqid ≤ s < headSeqid + 16384`, with corosync's rollover variant. */
  inRange(seq: number): boolean {
    const head = this.headSeqid;
    if (head > ROLLOVER_POINT) {
      const s = (seq - ROLLOVER_SHIFT) >>> 0;
      const h = (head - ROLLOVER_SHIFT) >>> 0;
      return !(s < h) && !(s >= h + QUEUE_RTR_ITEMS_SIZE_MAX);
    }
    return seq >= head && seq < head + QUEUE_RTR_ITEMS_SIZE_MAX;
  }

  /** Whether a message is stored for `seq`. */
  inuse(seq: number): boolean {
    const slot = seq & this.mask;
    return this.items[slot] !== undefined && this.seqs[slot] === seq >>> 0;
  }

  /** The message stored for `seq`, if any. */
  get(seq: number): Buffer | undefined {
    const slot = seq & this.mask;
    const item = this.items[slot];
    if (item === undefined || this.seqs[slot] !== seq >>> 0) return undefined;
    return item;
  }

  /** Store `msg` at `seq` and reset the slot's miss counter. The slot must be free. */
  add(seq: number, msg: Buffer): void {
    this.makeRoom(seq);
    const slot = seq & this.mask;
    if (this.items[slot] !== undefined) {
      throw new Error(`sort queue: slot of seq ${seq >>> 0} already holds seq ${this.seqs[slot]}`);
    }
    this.items[slot] = msg;
    this.seqs[slot] = seq >>> 0;
    this.miss[slot] = 0;
    this.count++;
  }

  /** `sq_item_miss_count`: increment and return the miss counter of `seq`'s slot. */
  missCount(seq: number): number {
    this.makeRoom(seq);
    const slot = seq & this.mask;
    const c = this.miss[slot]! + 1;
    this.miss[slot] = c;
    return c;
  }

  /** Free every slot from `headSeqid` up to and including `upto`; `headSeqid := upto + 1`. */
  release(upto: number): void {
    const mask = this.mask;
    let n = (upto - this.headSeqid + 1) >>> 0;
    // every stored seq is below headSeqid + capacity: past that, all slots have been visited
    if (n > mask + 1) n = mask + 1;
    let s = this.headSeqid;
    for (let i = 0; i < n; i++, s = (s + 1) >>> 0) {
      const slot = s & mask;
      if (this.items[slot] !== undefined) {
        this.items[slot] = undefined;
        this.count--;
      }
      this.miss[slot] = 0;
    }
    this.headSeqid = (upto + 1) >>> 0;
  }

  /** `sq_reinit(0)`: empty the queue, window starts at 0. */
  reset(): void {
    if (this.count > 0) this.items.fill(undefined);
    this.miss.fill(0);
    this.headSeqid = 0;
    this.count = 0;
  }

  /** `sq_copy`: make this queue an exact copy of `src` (messages are shared, never mutated). */
  copyFrom(src: SortQueue): void {
    if (this.mask !== src.mask) {
      this.items = src.items.slice();
      this.seqs = src.seqs.slice();
      this.miss = src.miss.slice();
      this.mask = src.mask;
    } else {
      for (let i = 0; i <= this.mask; i++) this.items[i] = src.items[i];
      this.seqs.set(src.seqs);
      this.miss.set(src.miss);
    }
    this.headSeqid = src.headSeqid;
    this.count = src.count;
  }

  /** Grow the ring when `seq` lies past its last slot (and the ring is not at the window's size). */
  private makeRoom(seq: number): void {
    if ((seq - this.headSeqid) >>> 0 > this.mask && this.mask !== MAX_MASK) this.grow(seq);
  }

  /**
   * Make room for `seq`: a ring of the next power of two that holds `[headSeqid, seq]`, at most
   * the window's QUEUE_RTR_ITEMS_SIZE_MAX slots (a seq beyond the window, which the callers'
   * range checks and the sender's flow control keep out, then takes its slot as corosync's
   * fixed ring would give it), every slot moved to its seq's new slot. A slot's seq is the one
   * of `[headSeqid, headSeqid + capacity)` that maps to it, so the miss counters of seqs with no
   * message move too.
   */
  private grow(seq: number): void {
    const span = ((seq - this.headSeqid) >>> 0) + 1;
    let cap = (this.mask + 1) * 2;
    while (cap < span && cap < QUEUE_RTR_ITEMS_SIZE_MAX) cap *= 2;
    const oldMask = this.mask;
    const mask = cap - 1;
    const items = new Array<Buffer | undefined>(cap).fill(undefined);
    const seqs = new Uint32Array(cap);
    const miss = new Uint32Array(cap);
    const head = this.headSeqid;
    for (let i = 0; i <= oldMask; i++) {
      const s = (head + ((i - head) & oldMask)) >>> 0;
      const slot = s & mask;
      items[slot] = this.items[i];
      seqs[slot] = this.seqs[i]!;
      miss[slot] = this.miss[i]!;
    }
    this.items = items;
    this.seqs = seqs;
    this.miss = miss;
    this.mask = mask;
  }

  /** Highest stored seq ≤ `upto` walking down from `upto` (0 when none); see §8.4 step 12. */
  highestPresentAtOrBelow(upto: number): number {
    let i = upto >>> 0;
    while (i !== 0 && !this.inuse(i)) i = (i - 1) >>> 0;
    return i;
  }
}

/** `min` under corosync's compare. */
export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}
