/**
 * The check word of opaque per-connection handles (cmap iterators/trackers, cpg iterations):
 * corosync puts a random 31-bit value in the high word so a stale or forged handle is refused.
 * Services take the source as an option (DESIGN rule 1: no randomness inside a core); the
 * daemon passes `randomHandleChecks`, tests get the deterministic default.
 */
import { randomInt } from '../common/random.js';

/** Returns a value in 1..2^31-1. */
export type HandleCheckSource = () => number;

/** Cryptographic randomness, for the daemon. */
export const randomHandleChecks: HandleCheckSource = () => randomInt(1, 0x8000_0000);

/** A deterministic sequence (a 31-bit LCG, never 0), the default of the pure services. */
export function sequentialHandleChecks(seed = 0x2545f491): HandleCheckSource {
  let x = seed % 0x7fff_ffff || 1;
  return () => {
    x = (x * 48271) % 0x7fff_ffff; // MINSTD: stays in 1..2^31-2
    return x;
  };
}
