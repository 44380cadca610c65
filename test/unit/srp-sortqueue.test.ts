/**
 * The sort queue (src/totem/srp-sortqueue.ts): a ring that starts small and grows up to the
 * window's 16384 slots. Whatever its size, it must answer as a fixed 16384-slot queue would:
 * checked against a model (a map per seq) over random operations in the window, across u32
 * wrap-around, and for the miss counters of seqs that have no message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  QUEUE_RTR_ITEMS_SIZE_MAX,
  SORT_QUEUE_INITIAL_SLOTS,
  SortQueue,
} from '../../src/totem/srp-sortqueue.js';

const msg = (seq: number): Buffer => Buffer.from(`m${seq >>> 0}`);

/** Start a queue's window at `head` (release everything below it). */
function queueAt(head: number): SortQueue {
  const q = new SortQueue();
  if (head !== 0) q.release((head - 1) >>> 0);
  assert.equal(q.headSeqid, head >>> 0);
  return q;
}

test('sort queue: starts small and grows to the next power of two that spans head..seq', () => {
  const q = queueAt(1);
  assert.equal(q.capacity, SORT_QUEUE_INITIAL_SLOTS);
  for (let s = 1; s <= 200; s++) q.add(s, msg(s));
  assert.equal(q.capacity, SORT_QUEUE_INITIAL_SLOTS);
  q.add(1000, msg(1000)); // 1000 − 1 + 1 = 1000 seqs from the head: 1024 slots
  assert.equal(q.capacity, 1024);
  for (let s = 1; s <= 200; s++) assert.deepEqual(q.get(s), msg(s), `seq ${s} after growth`);
  assert.deepEqual(q.get(1000), msg(1000));
  assert.equal(q.inuse(201), false);
  assert.equal(q.count, 201);
});

test('sort queue: miss counters of missing seqs move with the growth; release resets them', () => {
  const q = queueAt(10);
  assert.equal(q.missCount(12), 1);
  assert.equal(q.missCount(12), 2);
  assert.equal(q.missCount(200), 1);
  q.missCount(5000); // grows to 8192
  assert.equal(q.capacity, 8192);
  assert.equal(q.missCount(12), 3);
  assert.equal(q.missCount(200), 2);
  q.release(12);
  assert.equal(q.missCount(200), 3, 'a seq above the release keeps its count');
  q.add(12 + 8192, msg(12 + 8192)); // the slot of 12, reused
  assert.equal(q.missCount(12 + 8192), 1, 'a reused slot starts counting again');
});

test('sort queue: across the u32 wrap-around', () => {
  const head = 0xffffff00;
  const q = queueAt(head);
  const seqs = [head, 0xffffffff, 0, 1, 300, 600].map((s) => s >>> 0);
  for (const s of seqs) q.add(s, msg(s));
  assert.equal(q.capacity, 1024);
  for (const s of seqs) assert.deepEqual(q.get(s), msg(s), `seq ${s}`);
  q.release(0);
  assert.equal(q.headSeqid, 1);
  assert.equal(q.count, 3);
  assert.equal(q.get(0xffffffff), undefined);
  assert.deepEqual(q.get(600), msg(600));
});

test('sort queue: a seq beyond the window takes its slot in the full ring, as a fixed queue would', () => {
  const q = queueAt(1);
  q.add(1, msg(1));
  const far = 1 + QUEUE_RTR_ITEMS_SIZE_MAX + 5;
  assert.equal(q.inRange(far), false);
  q.add(far, msg(far));
  assert.equal(q.capacity, QUEUE_RTR_ITEMS_SIZE_MAX);
  assert.deepEqual(q.get(far), msg(far));
  assert.deepEqual(q.get(1), msg(1));
  q.missCount(far + 1); // no further growth
  assert.equal(q.capacity, QUEUE_RTR_ITEMS_SIZE_MAX);
});

test('sort queue: copyFrom gives an exact copy whatever the two sizes', () => {
  const big = queueAt(100);
  big.add(100, msg(100));
  big.add(3000, msg(3000));
  big.missCount(2000);
  const small = new SortQueue();
  small.copyFrom(big);
  assert.equal(small.capacity, big.capacity);
  assert.equal(small.headSeqid, 100);
  assert.deepEqual(small.get(3000), msg(3000));
  assert.equal(small.missCount(2000), 2);
  const again = queueAt(5);
  again.add(5, msg(5));
  const same = new SortQueue();
  same.copyFrom(again);
  assert.deepEqual(same.get(5), msg(5));
  assert.equal(same.count, 1);
});

test('sort queue: random operations in the window answer as a map per seq does', () => {
  let state = 0x2545f491;
  const rand = (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  for (const start of [1, 0xfffff000]) {
    const q = queueAt(start);
    const model = new Map<number, Buffer>();
    const misses = new Map<number, number>();
    let head = start >>> 0;
    for (let step = 0; step < 20_000; step++) {
      const op = rand(10);
      // mostly near the head, now and then far into the window
      const off = rand(10) === 0 ? rand(QUEUE_RTR_ITEMS_SIZE_MAX) : rand(300);
      const seq = (head + off) >>> 0;
      if (op < 5) {
        if (!model.has(seq)) {
          assert.equal(q.inuse(seq), false);
          q.add(seq, msg(seq));
          model.set(seq, msg(seq));
          misses.set(seq, 0);
        }
      } else if (op < 7) {
        if (!model.has(seq)) {
          const want = (misses.get(seq) ?? 0) + 1;
          misses.set(seq, want);
          assert.equal(q.missCount(seq), want, `miss count of ${seq}`);
        }
      } else if (op < 8) {
        const upto = (head + rand(200)) >>> 0;
        q.release(upto);
        for (let s = head; s !== (upto + 1) >>> 0; s = (s + 1) >>> 0) {
          model.delete(s);
          misses.delete(s);
        }
        head = (upto + 1) >>> 0;
      } else {
        assert.deepEqual(q.get(seq), model.get(seq), `get ${seq}`);
        assert.equal(q.inuse(seq), model.has(seq));
      }
      assert.equal(q.count, model.size);
    }
    for (const [s, m] of model) assert.deepEqual(q.get(s), m);
  }
});
