/**
 * Bad exec messages at the service handlers, seeded: three nodes with cmap, cfg, CPG, quorum and
 * votequorum on the exec harness form a ring; then node 1 gets 30 000 group-"a" messages from
 * members and a stranger: half the ring's own messages mutated (test/helpers/mutate.ts), half
 * headers of every loaded service and fn (and some beyond) with bodies of zeros, small numbers
 * and noise. The exec layer refuses what is malformed; what it routes, the handlers must decode
 * or refuse without throwing (a throw is counted in stats.serviceErrors and logged as "failed").
 * Totempg packets mutated on their way through the whole stack: the simulator's Byzantine mode
 * (test/sim/cpg-sim.test.ts); datagrams at a daemon: test/integration/daemon-fuzz.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { buildStartupMap, EMPTY_USER_DB, parseConfigText } from '../../src/config/index.js';
import { CfgService } from '../../src/services/cfg/service.js';
import { CmapExecEngine } from '../../src/services/cmap/exec.js';
import { CpgService } from '../../src/services/cpg/service.js';
import { QuorumService } from '../../src/services/quorum/service.js';
import { VotequorumService } from '../../src/services/votequorum/service.js';
import { CONF3, ExecCluster, ManualTimers, envFor } from '../helpers/exec-harness.js';
import { mutateBytes } from '../helpers/mutate.js';
import { Prng } from '../helpers/prng.js';

const SEED = 20261124;
const MESSAGES = 30_000;
/** cmap 0, cfg 1, cpg 2, quorum 3, votequorum 5 (corosync's service ids). */
const SERVICE_IDS = [0, 1, 2, 3, 5];
const BODY_LENGTHS = [0, 4, 8, 16, 24, 32, 64, 128, 256, 264, 272, 280, 300, 520, 1000];

test('random and mutated exec messages reach every service handler without one throwing', () => {
  const rng = new Prng(SEED);
  const c = new ExecCluster([1, 2, 3], (n) => {
    const startup = buildStartupMap(
      parseConfigText(CONF3, 'test.conf', { userDb: EMPTY_USER_DB }),
      envFor(n.id),
    );
    for (const [k, v] of startup.map) n.icmap.set(k, v.type, v.bytes);
    return [
      new CmapExecEngine({ icmap: n.icmap }),
      new CfgService({
        icmap: n.icmap,
        totem: startup.totem,
        timers: new ManualTimers(),
        requestShutdown: () => undefined,
        kill: () => undefined,
        log: n.log,
      }),
      new CpgService({ random: () => rng.int(1, 1000) }),
      new QuorumService({ log: n.log }),
      new VotequorumService({ icmap: n.icmap }),
    ];
  });
  c.form([[1, 2, 3]]);
  c.settle();
  const captured = [1, 2, 3].flatMap((id) => c.node(id).sent.map((m) => m.bytes));
  assert.ok(captured.length >= 10, `${captured.length} messages of the ring to mutate`);
  const node = c.node(1);
  for (let i = 0; i < MESSAGES; i++) {
    let msg: Buffer;
    if (rng.bool(0.5)) msg = mutateBytes(rng, rng.pick(captured));
    else {
      const body = Buffer.alloc(rng.pick(BODY_LENGTHS));
      for (let o = 0; o + 4 <= body.length; o += 4) {
        const v = rng.bool(0.4) ? 0 : rng.bool(0.5) ? rng.int(1, 10) : rng.int(0, 0xffffffff);
        body.writeUInt32LE(v, o);
      }
      const head = Buffer.alloc(16);
      head.writeInt32LE((rng.pick(SERVICE_IDS) << 16) | rng.int(0, 12), 0);
      head.writeInt32LE(16 + body.length, 8);
      msg = Buffer.concat([head, body]);
    }
    node.exec.deliver('a', rng.pick([1, 2, 3, 7]), msg);
    // what the handlers multicast in answer goes round the bus now and then
    if (i % 50 === 49) c.settle();
  }
  const { stats } = node.exec;
  assert.ok(stats.delivered > 5000 && stats.malformed > 5000, JSON.stringify(stats));
  assert.equal(stats.serviceErrors, 0, node.logsWith('failed').slice(0, 3).join('\n'));
});
