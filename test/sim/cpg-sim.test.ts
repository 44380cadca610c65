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
  // open: a fragmented message lost at one receiver (FIFO gap, virtual synchrony), see report
  { seed: 103, opts: { faultMs: 8000 }, todo: 'message lost at one receiver after a ring change' },
  // open: partition merge after aborted syncs → per-node NODEDOWN/NODEUP confchgs differ
  { seed: 105, opts: { faultMs: 8000 }, todo: 'confchg sequences differ after an aborted sync' },
];

describe('deterministic simulation with CPG (fixed seeds)', () => {
  for (const { seed, opts, todo } of SEEDS) {
    const name = `seed ${seed} (${opts.nodes ?? 'drawn'} nodes, ${opts.faultMs} ms of faults)`;
    it(name, todo ? { todo } : {}, () => {
      const r = runCpgSeed(seed, opts);
      if (!r.ok) assert.fail(formatCpgFailure(r, runCpgSeed(seed, { ...opts, trace: true })));
      assert.ok(r.cpg.delivered > 0 && r.cpg.sent > 0 && r.cpg.selfChecked > 0);
    });
  }

  it('a seed replays exactly', () => {
    const a = runCpgSeed(7, { nodes: 2, faultMs: 3000 });
    const b = runCpgSeed(7, { nodes: 2, faultMs: 3000 });
    assert.deepEqual([a.events, a.delivered, a.cpg, a.script], [b.events, b.delivered, b.cpg, b.script]);
  });
});
