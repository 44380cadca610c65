// Where a run of gathered datagrams may leave as one segmented (UDP_SEGMENT) send.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentRunEnd } from '../../src/transport/types.js';

const sized = (...lens: number[]): Buffer[] => lens.map((n) => Buffer.alloc(n));

test('segmentRunEnd: equal lengths run on, one shorter datagram ends the run', () => {
  const b = sized(1400, 1400, 1400, 700, 1400);
  assert.equal(segmentRunEnd(b, 0, b.length, 65507, 1472), 4);
  assert.equal(segmentRunEnd(b, 4, b.length, 65507, 1472), 5);
});

test('segmentRunEnd: a longer datagram starts a new run', () => {
  const b = sized(900, 900, 1400, 1400);
  assert.equal(segmentRunEnd(b, 0, b.length, 65507, 1472), 2);
  assert.equal(segmentRunEnd(b, 2, b.length, 65507, 1472), 4);
});

test('segmentRunEnd: stops at `to`, at 64 datagrams and at the byte limit', () => {
  const b = sized(...Array.from({ length: 100 }, () => 1000));
  assert.equal(segmentRunEnd(b, 0, 10, 65507, 1472), 10);
  assert.equal(segmentRunEnd(b, 0, b.length, 65507, 1472), 64, 'the kernel takes at most 64 segments');
  assert.equal(segmentRunEnd(b, 0, b.length, 5500, 1472), 5, '5 × 1000 bytes fit 5500, 6 do not');
});

test('segmentRunEnd: a datagram the kernel would fragment (or an empty one) goes alone', () => {
  const b = sized(1500, 1500, 0, 0);
  assert.equal(segmentRunEnd(b, 0, b.length, 65507, 1472), 1);
  assert.equal(segmentRunEnd(b, 2, b.length, 65507, 1472), 3);
  const c = sized(1000, 0);
  assert.equal(segmentRunEnd(c, 0, c.length, 65507, 1472), 1, 'an empty datagram is not a segment');
});
