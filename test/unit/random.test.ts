import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from '../../src/common/random.js';

test('randomBytes gives fresh kernel bytes across pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const b = randomBytes(8); // 1600 bytes: several refills of the 256-byte pool
    assert.equal(b.length, 8);
    seen.add(b.toString('hex'));
  }
  assert.equal(seen.size, 200, 'no 64-bit value repeats');
  assert.equal(randomBytes(0).length, 0);
});

test('randomInt stays in [min, max), reaches both ends of a small range, refuses bad ranges', () => {
  const counts = new Map<number, number>();
  for (let i = 0; i < 2000; i++) {
    const v = randomInt(3, 7);
    assert.ok(v >= 3 && v < 7, String(v));
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), [3, 4, 5, 6]);
  for (const v of counts.values()) assert.ok(v > 350, 'roughly uniform'); // expected 500 each
  const big = randomInt(1, 0x8000_0000);
  assert.ok(big >= 1 && big < 0x8000_0000);
  assert.throws(() => randomInt(5, 5), RangeError);
  assert.throws(() => randomInt(0, 2 ** 33), RangeError);
});
