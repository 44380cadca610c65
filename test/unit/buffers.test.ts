/**
 * zeroedBuffer (src/common/buffers.ts): zero-filled, the asked length, and small ones outside
 * V8's heap (a slice of Node's pool), so that native sends need not copy them out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zeroedBuffer } from '../../src/common/buffers.js';

/** Fill Node's current buffer pool with 0xff, after making sure `room` bytes of it are still free. */
function dirtyPool(room: number): void {
  let probe = Buffer.allocUnsafe(1);
  while (probe.buffer.byteLength - probe.byteOffset - 8 < room) probe = Buffer.allocUnsafe(1);
  new Uint8Array(probe.buffer).fill(0xff);
}

test('zeroedBuffer: the asked length, all zero, even where the pool held other bytes', () => {
  for (const size of [0, 1, 16, 24, 56, 64, 65, 1024, 4095, 4096, 10_000]) {
    if (size < 4096) dirtyPool(size);
    const buf = zeroedBuffer(size);
    assert.equal(buf.length, size);
    assert.ok(
      buf.every((b) => b === 0),
      `${size} bytes zeroed`,
    );
  }
});

test('zeroedBuffer: small frames are slices of a larger off-heap buffer, not arrays of their own', () => {
  for (const size of [1, 24, 56, 64]) {
    const buf = zeroedBuffer(size);
    // Buffer.alloc(size) would be an on-heap array whose buffer, once asked for, is `size` bytes
    assert.ok(buf.buffer.byteLength > size, `${size}: backed by ${buf.buffer.byteLength} bytes`);
  }
});
