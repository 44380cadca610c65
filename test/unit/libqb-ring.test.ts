/**
 * The libqb ring-buffer logic (src/ipc/libqb/ring.ts) over heap memory: chunk layout,
 * wrap-around through the double mapping, free space as libqb computes it, and refusal of
 * corrupted shared state.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CHUNK_MAGIC,
  CHUNK_MAGIC_DEAD,
  HeapRingMemory,
  RING_HDR,
  RING_HDR_BYTES,
  Ring,
  ringDataBytes,
} from '../../src/ipc/libqb/ring.js';

function ring(dataBytes = 4096, maxChunk = 4096): { r: Ring; m: HeapRingMemory } {
  const m = new HeapRingMemory(dataBytes);
  return { r: new Ring(m, dataBytes, maxChunk), m };
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

describe('libqb ring sizes', () => {
  test('data file size matches libqb for corosync 1 MiB and small sizes', () => {
    assert.equal(ringDataBytes(1024 * 1024, 4096), 1052672);
    assert.equal(ringDataBytes(8192, 4096), 12288);
    assert.equal(ringDataBytes(4096 - 13, 4096), 4096);
    assert.equal(ringDataBytes(4096 - 12, 4096), 8192);
  });
  test('header layout: base 8248, server rings carry one i32 of user data', () => {
    assert.equal(RING_HDR.BASE_SIZE, 8248);
    assert.equal(RING_HDR_BYTES, 8252);
    assert.equal(RING_HDR.SEM, 8208);
    assert.equal(RING_HDR.USER_DATA, 8240);
  });
});

describe('libqb ring chunks', () => {
  test('a written chunk has length, committed magic, payload; write_pt advances by words', () => {
    const { r, m } = ring();
    assert.equal(r.spaceFree(), 4096);
    assert.ok(r.write(bytes(10, 1)));
    assert.equal(m.data.readUInt32LE(0), 10);
    assert.equal(m.data.readUInt32LE(4), CHUNK_MAGIC);
    assert.deepEqual(m.data.subarray(8, 18), bytes(10, 1));
    assert.equal(m.hdrGet(RING_HDR.WRITE_PT), 2 + 3);
    assert.equal(m.sem, 1);
    assert.equal(r.spaceFree(), (1024 - 5 - 1) * 4);
  });

  test('read takes the semaphore, copies, reclaims and advances read_pt', () => {
    const { r, m } = ring();
    r.write(bytes(10, 1));
    r.write(bytes(4, 2));
    const a = r.read();
    assert.deepEqual(a, { kind: 'chunk', data: bytes(10, 1) });
    assert.equal(m.data.readUInt32LE(0), 0);
    assert.equal(m.data.readUInt32LE(4), CHUNK_MAGIC_DEAD);
    assert.equal(m.hdrGet(RING_HDR.READ_PT), 5);
    assert.deepEqual(r.read(), { kind: 'chunk', data: bytes(4, 2) });
    assert.deepEqual(r.read(), { kind: 'empty' });
    assert.equal(r.spaceFree(), 4096, 'equal pointers: empty');
  });

  test('chunks wrap around the end of the data area (double mapping)', () => {
    const { r, m } = ring(4096);
    // move both pointers near the end
    m.hdrSet(RING_HDR.WRITE_PT, 1020);
    m.hdrSet(RING_HDR.READ_PT, 1020);
    const payload = bytes(100, 3);
    assert.ok(r.write(payload));
    // header words at 1020/1021, payload from word 1022 running into word 0...
    assert.equal(m.data.readUInt32LE(1020 * 4), 100);
    assert.equal(m.hdrGet(RING_HDR.WRITE_PT), (1020 + 2 + 25) % 1024);
    assert.deepEqual(r.read(), { kind: 'chunk', data: payload });
    assert.equal(m.hdrGet(RING_HDR.READ_PT), 23);
  });

  test('header words wrap too: magic of a chunk at the last word is word 0', () => {
    const { r, m } = ring(4096);
    m.hdrSet(RING_HDR.WRITE_PT, 1023);
    m.hdrSet(RING_HDR.READ_PT, 1023);
    assert.ok(r.write(bytes(8, 4)));
    assert.equal(m.data.readUInt32LE(1023 * 4), 8);
    assert.equal(m.data.readUInt32LE(0), CHUNK_MAGIC);
    assert.deepEqual(r.read(), { kind: 'chunk', data: bytes(8, 4) });
  });

  test('a full ring refuses a write until the reader reclaims', () => {
    const { r } = ring(4096);
    let n = 0;
    while (r.write(bytes(500, n))) n++;
    assert.equal(n, 8, '8 chunks of 127 words leave 7 words: less than 500 + 12 bytes');
    assert.equal(r.read().kind, 'chunk');
    assert.ok(r.write(bytes(500, 99)));
  });

  test('the largest chunk fits an empty ring', () => {
    const max = 4096 - 13;
    const dataBytes = ringDataBytes(max, 4096);
    const { r } = ring(dataBytes, max);
    assert.ok(r.write(bytes(max, 5)));
    assert.deepEqual(r.read(), { kind: 'chunk', data: bytes(max, 5) });
    assert.throws(() => r.write(bytes(max + 1, 5)), RangeError);
  });

  test('many round trips keep the pointers consistent', () => {
    const { r } = ring(8192);
    for (let i = 0; i < 2000; i++) {
      const b = bytes(1 + ((i * 37) % 700), i);
      assert.ok(r.write(b));
      assert.deepEqual(r.read(), { kind: 'chunk', data: b });
    }
  });
});

describe('libqb ring: corrupted shared state is refused, never trusted', () => {
  test('a post without a committed chunk is bad', () => {
    const { r, m } = ring();
    m.sem = 1;
    const res = r.read();
    assert.equal(res.kind, 'bad');
  });
  test('a chunk length beyond the maximum is bad', () => {
    const { r, m } = ring(4096, 100);
    r.write(bytes(50, 1));
    m.data.writeUInt32LE(5000, 0);
    assert.equal(r.read().kind, 'bad');
  });
  test('a read_pt outside the ring is bad; a write_pt outside throws', () => {
    const { r, m } = ring();
    r.write(bytes(4, 1));
    m.hdrSet(RING_HDR.READ_PT, 99999);
    assert.equal(r.read().kind, 'bad');
    m.hdrSet(RING_HDR.WRITE_PT, -1);
    assert.throws(() => r.write(bytes(4, 1)), RangeError);
  });
});
