/**
 * The deterministic simulator with the CPG stack on top (test/sim/cpg-sim.ts): a fixed set of
 * seeds, bounded in time (short fault phases). More seeds:
 * `node dist/test/sim/run.js --cpg --seeds N [--nodes K] [--fault-ms MS]`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatCpgFailure, runCpgSeed, type CpgSimOptions } from './cpg-sim.js';

const SEEDS: { seed: number; opts: CpgSimOptions; todo?: string }[] = [
  { seed: 1, opts: { nodes: 2, faultMs: 6000 } },
  { seed: 2, opts: { nodes: 3, faultMs: 6000 } },
  { seed: 3, opts: { nodes: 3, faultMs: 8000 } },
  // regression: staged totempg data flushed into the transitional queue overtook the normal
  // queue (PROCJOIN behind the member's own MCAST → "Unknown node", message lost everywhere);
  // fixed by the beforeWaitingTransAck / onTokenReceived hooks
  { seed: 4, opts: { nodes: 2, faultMs: 8000 } },
  { seed: 100, opts: { faultMs: 8000 } },
  { seed: 102, opts: { faultMs: 8000 } },
  { seed: 104, opts: { faultMs: 8000 } },
  { seed: 106, opts: { faultMs: 8000 } },
  { seed: 107, opts: { faultMs: 8000 } },
  { seed: 109, opts: { faultMs: 8000 } },
  { seed: 111, opts: { faultMs: 8000 } },
  // regression (wiring): a sync completed by an old-ring message that totemsrp delivered while
  // installing the next ring was not acked to totempg (the wiring compared with the SRP's
  // already new ring id): the old ring's later normal-phase packets went into the trans
  // assemblies and a fragmented message of a node that moved with us was lost
  { seed: 103, opts: { faultMs: 8000 } },
  // regression (checker): with its drawn fault phase, a fragmented message straddles a ring
  // change that one receiver did not go through with the sender while aborted syncs hide the
  // leave — corosync 3.1.7 loses it there too (totemLost); also the wiring fix above
  { seed: 103, opts: {} },
  // regression (checker): after aborted syncs nodes from different partitions report different
  // NODEDOWN/NODEUP confchgs for the same ring (corosync 3.1.7's CPG downlist is local)
  { seed: 105, opts: { faultMs: 8000 } },
  // regression (service): a process that closed during a sync after its node's JOINLIST listed
  // it came back as NODEUP on the other nodes only (ghost member, confchg sequences differ)
  { seed: 123, opts: {} },
  { seed: 137, opts: {} },
  // regression (sim): the CPG simulator healed without the least delay jitter of the totem
  // simulator; with no jitter left, {1}, {2,5} and {1,3,4} formed and broke rings every ~10 ms
  // for ever after the heal (the periodic schedule of seed 192 in README.md)
  { seed: 1, opts: { faultMs: 8000 } },
  // clean with their drawn fault phases (5 nodes: duplication, 10 % loss, reordering)
  { seed: 135, opts: {} },
  { seed: 136, opts: {} },
  { seed: 187, opts: {} },
  { seed: 209, opts: {} },
];

describe('deterministic simulation with CPG (fixed seeds)', () => {
  for (const { seed, opts, todo } of SEEDS) {
    const name = `seed ${seed} (${opts.nodes ?? 'drawn'} nodes, ${opts.faultMs ?? 'drawn'} ms of faults)`;
    it(name, todo ? { todo } : {}, () => {
      const r = runCpgSeed(seed, opts);
      if (!r.ok) assert.fail(formatCpgFailure(r, runCpgSeed(seed, { ...opts, trace: true })));
      assert.ok(r.cpg.delivered > 0 && r.cpg.sent > 0 && r.cpg.selfChecked > 0);
    });
  }

  // Byzantine input (CpgSimOptions.corruptDeliveries): every node mutates some of the totempg
  // packets it delivers until the heal; node 1 restarts then. The decoders of totempg, the exec
  // layer, the sync engine and CPG must refuse the garbage without an exception or a failing
  // handler, and the restart's clean ring must sync on every node. (Order and CPG checkers are
  // not asked: the nodes read different bytes.) Each of these seeds stalled its sync in the
  // corrupted ring before the restart was added.
  for (const [seed, p] of [
    [22, 0.05],
    [27, 0.05],
    [60, 0.3],
    [71, 0.3],
  ] as const) {
    it(`seed ${seed}, ${p * 100} % of deliveries mutated: no exception, no failing handler, a synced ring after`, () => {
      const r = runCpgSeed(seed, { corruptDeliveries: p, faultMs: 6000 });
      assert.ok(r.corrupted > 30, `${r.corrupted} packets mutated`);
      assert.equal(r.serviceErrors, 0, 'service handlers that threw');
      assert.ok(r.ok, r.violations.map((v) => `${v.prop}: ${v.detail}`).join('\n'));
    });
  }

  it('a seed replays exactly', () => {
    const a = runCpgSeed(7, { nodes: 2, faultMs: 3000 });
    const b = runCpgSeed(7, { nodes: 2, faultMs: 3000 });
    assert.deepEqual([a.events, a.delivered, a.cpg, a.script], [b.events, b.delivered, b.cpg, b.script]);
  });
});
