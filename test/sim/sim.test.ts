/**
 * The fixed seed set of the deterministic simulator (bounded time), plus checks that the
 * checkers themselves catch broken histories. More seeds: `node dist/test/sim/run.js --seeds N`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SrpEffect } from '../../src/totem/srp.js';
import { checkHistory, checkSelfDelivery, type SentInfo } from './checkers.js';
import type { Recorded } from './cluster.js';
import { formatFailure, runSeed } from './sim.js';

/** Seeds run by `npm test`: a mix of node counts, timeouts and fault kinds. */
const SEEDS: { seed: number; nodes?: number }[] = [
  { seed: 1 },
  { seed: 2 },
  { seed: 3 },
  { seed: 5, nodes: 3 },
  { seed: 8, nodes: 5 },
  { seed: 13, nodes: 2 },
  { seed: 21 },
  { seed: 34, nodes: 4 },
  { seed: 55 },
  { seed: 89, nodes: 3 },
  { seed: 144, nodes: 5 },
  { seed: 233 },
  // regression: stale RECOVERY counters → premature OPERATIONAL → new-ring message delivered
  // as an old-ring one (P5/P9) and an 80 s stall (see TotemSrp.recoveryEnter)
  { seed: 171 },
  // regression: a retransmitted token freed an unconfirmed message → lost for a peer (P9)
  { seed: 334 },
  // the healed network keeps a little jitter: with none, this 5-node seed locks into a periodic
  // schedule in which corosync's join-during-RECOVERY rule re-spreads a stale failed list and
  // two rings re-form every ~9.5 ms for ever (test/sim/README.md, "Seed 192")
  { seed: 192 },
];

describe('deterministic simulation (fixed seeds)', () => {
  for (const { seed, nodes } of SEEDS) {
    it(`seed ${seed}${nodes ? ` (${nodes} nodes)` : ''}`, () => {
      const r = runSeed(seed, nodes ? { nodes } : {});
      if (!r.ok) assert.fail(formatFailure(r, runSeed(seed, { ...(nodes ? { nodes } : {}), trace: true })));
      assert.ok(r.delivered > 0 && r.rings > 0);
    });
  }

  it('a seed replays exactly', () => {
    const a = runSeed(7, { nodes: 3, faultMs: 20000 });
    const b = runSeed(7, { nodes: 3, faultMs: 20000 });
    assert.deepEqual(
      [a.events, a.sent, a.delivered, a.rings, a.script],
      [b.events, b.sent, b.delivered, b.rings, b.script],
    );
  });
});

describe('checkers catch broken histories', () => {
  const ring = { rep: 1, seq: 5n };
  const conf = (type: 'transitional' | 'regular', members: number[], joined: number[]): SrpEffect => ({
    kind: 'confchg',
    type,
    members: type === 'transitional' ? [] : members,
    left: [],
    joined: type === 'regular' ? joined : [],
    ringId: ring,
  });
  const del = (id: string, from: number, seq: number, r = ring): SrpEffect => ({
    kind: 'deliver',
    from,
    payload: Buffer.from(id),
    endianConvert: false,
    ringId: r,
    seq,
  });
  const h = (node: number, effect: SrpEffect, t = 1): Recorded => ({ t, node, inc: 1, effect });
  const base = (node: number): Recorded[] => [
    h(node, conf('transitional', [], [])),
    h(node, conf('regular', [1, 2], [1, 2])),
  ];
  const sent = new Map<string, SentInfo>([
    ['a:1:1:1', { node: 1, inc: 1, t: 0 }],
    ['a:1:1:2', { node: 1, inc: 1, t: 0 }],
  ]);
  const props = (hist: Recorded[]): string[] => checkHistory(hist, sent).map((v) => v.prop);

  it('accepts a correct history', () => {
    const hist = [...base(1), ...base(2)];
    for (const n of [1, 2]) hist.push(h(n, del('a:1:1:1', 1, 1)), h(n, del('a:1:1:2', 1, 2)));
    assert.deepEqual(props(hist), []);
  });
  it('different messages at one (ring, seq)', () => {
    const hist = [...base(1), ...base(2), h(1, del('a:1:1:1', 1, 1)), h(2, del('a:1:1:2', 1, 1))];
    assert.ok(props(hist).includes('P5 identical order'));
  });
  it('duplicates, gaps, phantom messages, wrong source, foreign ring', () => {
    const hist = [
      ...base(1),
      h(1, del('a:1:1:1', 1, 1)),
      h(1, del('a:1:1:1', 1, 3)),
      h(1, del('a:9:1:1', 1, 4)),
      h(1, del('a:1:1:2', 2, 5)),
      h(1, del('a:1:1:3', 1, 6, { rep: 1, seq: 99n })),
    ];
    const p = props(hist);
    for (const want of [
      'P6 duplicates',
      'P4 agreed order',
      'no phantom messages',
      'P12 delivery source',
      'P6 foreign',
    ]) {
      assert.ok(p.includes(want), `${want} in ${p}`);
    }
  });
  it('membership disagreement, bad shapes, non-increasing rings', () => {
    const hist = [
      ...base(1),
      h(2, conf('transitional', [], [])),
      h(2, { ...conf('regular', [1, 2, 3], [1, 2, 3]) }),
      h(1, conf('regular', [1, 2], [])),
    ];
    const p = props(hist);
    for (const want of ['P2 membership', 'P8 shape', 'P1 ring ids'])
      assert.ok(p.includes(want), `${want} in ${p}`);
  });
  it('missing self delivery', () => {
    const v = checkSelfDelivery([...base(1)], sent, new Map([[1, 1]]));
    assert.equal(v.length, 2);
    assert.equal(v[0]!.prop, 'P7 self delivery');
  });
});
