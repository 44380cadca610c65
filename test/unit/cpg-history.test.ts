/**
 * The CPG history checkers (test/helpers/cpg-history.ts) on small hand-made histories: the
 * corosync 3.1.7 behaviours they accept (found by the CPG simulator, seeds 103 and 105) and, for
 * each, a planted violation of the same shape that they still report.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkCpgHistories, type CheckOptions, type Life } from '../helpers/cpg-history.js';
import type { HistoryRecord } from '../helpers/cpg-worker.js';

type Addr = [number, number];
const init = (node: number, pid: number): HistoryRecord => ({ k: 'init', t: 0, node, pid });
const send = (s: number): HistoryRecord => ({ k: 's', t: 0, s });
const dlv = ([n, p]: Addr, s: number): HistoryRecord => ({ k: 'd', t: 0, n, p, s });
const join = (m: Addr[], who: Addr[], reason = 1): HistoryRecord => ({
  k: 'c',
  t: 0,
  m,
  l: [],
  j: who.map(([n, p]) => [n, p, reason]),
});
const leave = (m: Addr[], who: Addr[], reason: number): HistoryRecord => ({
  k: 'c',
  t: 0,
  m,
  l: who.map(([n, p]) => [n, p, reason]),
  j: [],
});
const ring = (seq: number, m: number[]): HistoryRecord => ({ k: 'r', t: 0, rn: 1, rs: String(seq), m });
const quiesce: HistoryRecord = { k: 'q', t: 0 };
const exit: HistoryRecord = { k: 'end', t: 0, why: 'exit' };
const life = (node: number, pid: number, records: HistoryRecord[]): Life => ({
  label: `n${node}.p${pid}`,
  node,
  pid,
  records: [init(node, pid), ...records],
});
const props = (lives: Life[], opts?: CheckOptions): string[] =>
  checkCpgHistories(lives, new Set(), opts).violations.map((v) => v.prop);

describe('cpg-history checkers', () => {
  const A: Addr = [1, 10];
  const B: Addr = [2, 20];
  const C: Addr = [2, 21];

  it('totem confchgs before the own join are no cluster events for the client', () => {
    // B's daemon sent it the sync activations of R1.4 and R1.8 while it was not joined (corosync
    // sends them to every connection), and the initial totem confchg after its join repeats
    // R1.8; A was in the group during R1.4 and saw a confchg B could not see
    const a = life(1, 10, [
      join([A], [A]),
      ring(4, [1, 2]),
      join([A, C], [C]),
      leave([A], [C], 2),
      ring(8, [1, 2]),
      join([A, B], [B]),
      ring(12, [1, 2]),
      quiesce,
      exit,
    ]);
    const b = life(2, 20, [
      ring(4, [1, 2]),
      ring(8, [1, 2]),
      join([A, B], [B]),
      ring(8, [1, 2]),
      ring(12, [1, 2]),
      quiesce,
      exit,
    ]);
    const c = life(2, 21, [join([A, C], [C]), exit]);
    assert.deepEqual(props([a, b, c]), []);
    // planted: after its join B misses a confchg A got in the same ring
    const a2 = life(1, 10, [
      join([A], [A]),
      ring(8, [1, 2]),
      join([A, B], [B]),
      join([A, B, [1, 11]], [[1, 11]]),
      ring(12, [1, 2]),
      quiesce,
      exit,
    ]);
    const a3 = life(1, 11, [
      join([A, B, [1, 11]], [[1, 11]]),
      ring(8, [1, 2]),
      ring(12, [1, 2]),
      quiesce,
      exit,
    ]);
    assert.ok(props([a2, b, a3]).includes('confchg sequence'));
  });

  it('per-node downlists after aborted syncs: compared only for nodes that moved together', () => {
    // between the completed syncs of R1.4 and R1.8 nodes 1 and 2 were in different partitions:
    // each reports the other's processes down and back up (cpg_sync_init's local downlist)
    const a = life(1, 10, [
      join([A], [A]),
      ring(4, [1, 2]),
      join([A, B], [B]),
      leave([A], [B], 3),
      join([A, B], [B], 4),
      ring(8, [1, 2]),
      quiesce,
      exit,
    ]);
    const b = life(2, 20, [
      join([A, B], [B]),
      ring(4, [1, 2]),
      leave([B], [A], 3),
      join([A, B], [A], 4),
      ring(8, [1, 2]),
      quiesce,
      exit,
    ]);
    assert.ok(props([a, b]).includes('confchg sequence'), 'without totem knowledge every pair is compared');
    assert.deepEqual(props([a, b], { movedTogether: () => false }), []);
    // planted: the same difference between nodes that did move together is still reported
    assert.ok(props([a, b], { movedTogether: () => true }).includes('confchg sequence'));
  });

  it('agreed order: one total order passes, two receivers disagreeing are reported', () => {
    const b = life(2, 20, [
      join([A, B], [B]),
      ring(4, [1, 2]),
      send(1),
      send(2),
      dlv(B, 1),
      dlv(B, 2),
      dlv(A, 1),
      quiesce,
      exit,
    ]);
    const a = (order: HistoryRecord[]): Life =>
      life(1, 10, [join([A], [A]), ring(4, [1, 2]), join([A, B], [B]), send(1), ...order, quiesce, exit]);
    assert.deepEqual(props([a([dlv(B, 1), dlv(B, 2), dlv(A, 1)]), b]), []);
    // planted: node 1 delivers its own message before B's #2, node 2 after it
    assert.ok(props([a([dlv(B, 1), dlv(A, 1), dlv(B, 2)]), b]).includes('agreed order'));
  });

  it('a fragmented message totempg could not reassemble at a node is excused only there', () => {
    // B sent #1..#3; #2 straddled a ring change that node 1 did not go through with node 2
    const b = life(2, 20, [
      join([A, B], [B]),
      ring(4, [1, 2]),
      send(1),
      send(2),
      send(3),
      dlv(B, 1),
      dlv(B, 2),
      dlv(B, 3),
      quiesce,
      exit,
    ]);
    const a = life(1, 10, [
      join([A], [A]),
      ring(4, [1, 2]),
      join([A, B], [B]),
      dlv(B, 1),
      dlv(B, 3),
      quiesce,
      exit,
    ]);
    const without = props([a, b]);
    assert.ok(without.includes('FIFO (gap)') && without.includes('virtual synchrony'));
    assert.deepEqual(props([a, b], { totemLost: new Set(['1:M2/20#2']) }), []);
    // planted: excused at another node (or another message) does not excuse it here
    assert.ok(props([a, b], { totemLost: new Set(['3:M2/20#2']) }).includes('FIFO (gap)'));
    assert.ok(props([a, b], { totemLost: new Set(['1:M2/20#1']) }).includes('virtual synchrony'));
  });
});
