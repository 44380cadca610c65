/**
 * A small seeded pseudo-random generator for tests and simulations (xoshiro128**, seeded
 * through splitmix32). Same seed ⇒ same sequence on every platform; never use Math.random
 * in tests that must replay.
 */
export class Prng {
  readonly seed: number;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    let x = this.seed;
    const split = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = split();
    this.s1 = split();
    this.s2 = split();
    this.s3 = split();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next raw 32-bit unsigned value. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`Prng.int: bad range ${lo}..${hi}`);
    }
    const span = hi - lo + 1;
    if (span <= 4294967296) return lo + Math.floor(this.next() * span);
    // Wider than 32 bits: combine two draws (53 bits of precision).
    const r = (this.nextU32() * 2097152 + (this.nextU32() >>> 11)) / 9007199254740992;
    return lo + Math.floor(r * span);
  }

  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(arr: readonly T[]): T {
    if (arr.length === 0) throw new RangeError('Prng.pick: empty array');
    return arr[this.int(0, arr.length - 1)] as T;
  }

  /** True with probability p (default 0.5). */
  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.nextU32() & 0xff;
    return b;
  }

  /** Fisher–Yates shuffle of a copy. */
  shuffle<T>(arr: readonly T[]): T[] {
    const out = arr.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  /** An independent generator derived from this one (for sub-streams). */
  fork(): Prng {
    return new Prng(this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
