/**
 * The per-node sort queue of totemsrp (spec/totem-srp.md §1.2): a window of
 * {@link QUEUE_RTR_ITEMS_SIZE_MAX} slots indexed by message seq, starting at `headSeqid`.
 *
 * Implementation: a fixed array ring buffer. The slot of seq `s` is `s mod 16384`; because
 * 2³² is a multiple of 16384 this stays consistent across u32 wrap-around. Each slot also
 * remembers which seq it holds, so a lookup of a seq outside the window can never return the
 * message of another seq that happens to share the slot (corosync's `sq` has no such guard
 * and relies on its callers' range checks; the protocol effect is the same).
 */
import { Buffer } from 'node:buffer';
import { seqLt } from './wire/seq.js';

/** `QUEUE_RTR_ITEMS_SIZE_MAX`: slots per sort queue. */
export const QUEUE_RTR_ITEMS_SIZE_MAX = 16384;
const MASK = QUEUE_RTR_ITEMS_SIZE_MAX - 1;
const ROLLOVER_POINT = 0x80000000;
const ROLLOVER_SHIFT = 0x10000;

export class SortQueue {
  private readonly items: (Buffer | undefined)[] = new Array<Buffer | undefined>(
    QUEUE_RTR_ITEMS_SIZE_MAX,
  ).fill(undefined);
  private readonly seqs = new Uint32Array(QUEUE_RTR_ITEMS_SIZE_MAX);
  private readonly miss = new Uint32Array(QUEUE_RTR_ITEMS_SIZE_MAX);
  /** Lowest seq the window accepts. */
  headSeqid = 0;
  /** Number of stored messages (for stats and tests). */
  count = 0;

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
    const slot = seq & MASK;
    return this.items[slot] !== undefined && this.seqs[slot] === seq >>> 0;
  }

  /** The message stored for `seq`, if any. */
  get(seq: number): Buffer | undefined {
    const slot = seq & MASK;
    const item = this.items[slot];
    if (item === undefined || this.seqs[slot] !== seq >>> 0) return undefined;
    return item;
  }

  /** Store `msg` at `seq` and reset the slot's miss counter. The slot must be free. */
  add(seq: number, msg: Buffer): void {
    const slot = seq & MASK;
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
    const slot = seq & MASK;
    const c = this.miss[slot]! + 1;
    this.miss[slot] = c;
    return c;
  }

  /** Free every slot from `headSeqid` up to and including `upto`; `headSeqid := upto + 1`. */
  release(upto: number): void {
    let n = (upto - this.headSeqid + 1) >>> 0;
    if (n > QUEUE_RTR_ITEMS_SIZE_MAX) n = QUEUE_RTR_ITEMS_SIZE_MAX;
    let s = this.headSeqid;
    for (let i = 0; i < n; i++, s = (s + 1) >>> 0) {
      const slot = s & MASK;
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
    for (let i = 0; i < QUEUE_RTR_ITEMS_SIZE_MAX; i++) this.items[i] = src.items[i];
    this.seqs.set(src.seqs);
    this.miss.set(src.miss);
    this.headSeqid = src.headSeqid;
    this.count = src.count;
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
