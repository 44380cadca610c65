/**
 * Kernel randomness (/dev/urandom, i.e. getrandom's pool) without `node:crypto`: the daemon only
 * needs a few random words (handle checks, connection tokens, SHM cookies), and loading Node's
 * crypto module initialises OpenSSL and ~20 internal modules, 2 MB of the idle daemon's RSS.
 */
import { Buffer } from 'node:buffer';
import { readUInt32LE } from './bytes.js';
import { closeSync, openSync, readSync } from 'node:fs';

const POOL_BYTES = 256;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

function refill(): void {
  const fd = openSync('/dev/urandom', 'r');
  try {
    let got = 0;
    while (got < POOL_BYTES) got += readSync(fd, pool, got, POOL_BYTES - got, null);
  } finally {
    closeSync(fd);
  }
  used = 0;
}

/** `n` random bytes (a new Buffer). */
export function randomBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    if (used === POOL_BYTES) refill();
    out[i] = pool[used]!;
    pool[used++] = 0; // a byte is handed out once
  }
  return out;
}

/** A uniformly random integer in [min, max) (max − min ≤ 2^32), by rejection sampling. */
export function randomInt(min: number, max: number): number {
  const range = max - min;
  if (!Number.isInteger(range) || range <= 0 || range > 0x1_0000_0000) {
    throw new RangeError(`randomInt: bad range [${min}, ${max})`);
  }
  const limit = 0x1_0000_0000 - (0x1_0000_0000 % range);
  for (;;) {
    const v = readUInt32LE(randomBytes(4), 0);
    if (v < limit) return min + (v % range);
  }
}
