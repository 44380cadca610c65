/**
 * Ring ids and the sequence-number comparison of corosync (spec/totem-srp.md §1.1,
 * spec/totem-wire.md §6.1).
 */

/** `struct memb_ring_id`: representative nodeid and ring sequence (u64). Treat as immutable. */
export interface RingId {
  readonly rep: number;
  readonly seq: bigint;
}

/** The all-zero ring id (unfilled commit-token entries carry it). */
export const ZERO_RING_ID: RingId = Object.freeze({ rep: 0, seq: 0n });

/** A ring id; `rep` must be a u32 and `seq` a u64. */
export function ringId(rep: number, seq: bigint | number): RingId {
  return { rep: rep >>> 0, seq: BigInt.asUintN(64, BigInt(seq)) };
}

/** Equality of both fields (corosync compares the 12 bytes). */
export function ringIdEquals(a: RingId, b: RingId): boolean {
  return a.rep === b.rep && a.seq === b.seq;
}

/** `rep.seq` in hex, the way corosync logs ring ids, e.g. `1.d`. */
export function formatRingId(r: RingId): string {
  return `${r.rep.toString(16)}.${r.seq.toString(16)}`;
}

/** Seqs above this value switch the comparison to its shifted form. */
const ROLLOVER_POINT = 0x80000000;
/** The amount both operands are shifted by in that form. */
const ROLLOVER_SHIFT = 0x10000;

/**
 * `a < b` for u32 message/token sequence numbers, with corosync's rollover rule: when either
 * operand is above 0x80000000, both are first lowered by 0x10000 modulo 2³². This is not
 * serial-number arithmetic: `seqLt(0, 0xffffffff)` is false and `seqLt(0xffffffff, 0)` true.
 * Operands must be u32 values (0 ≤ x < 2³²).
 */
export function seqLt(a: number, b: number): boolean {
  if (a > ROLLOVER_POINT || b > ROLLOVER_POINT) {
    return (a - ROLLOVER_SHIFT) >>> 0 < (b - ROLLOVER_SHIFT) >>> 0;
  }
  return a < b;
}

/** `a ≤ b` with the same rollover rule as {@link seqLt}. */
export function seqLte(a: number, b: number): boolean {
  if (a > ROLLOVER_POINT || b > ROLLOVER_POINT) {
    return (a - ROLLOVER_SHIFT) >>> 0 <= (b - ROLLOVER_SHIFT) >>> 0;
  }
  return a <= b;
}
