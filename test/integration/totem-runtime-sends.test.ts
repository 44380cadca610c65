/**
 * TotemRuntime's send batching (src/daemon/totem-runtime.ts `pump`): two runtimes on udpu over
 * loopback, each transport wrapped to log what the runtime does with it. The sends of a core
 * step are gathered (corked) and handed on together before anything else happens: before a
 * delivery up-call runs, and before the step ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Icmap } from '../../src/cmap/icmap.js';
import { StatsMap } from '../../src/cmap/stats.js';
import { buildStartupMap, parseConfigText } from '../../src/config/index.js';
import { TotemRuntime } from '../../src/daemon/totem-runtime.js';
import { createTransport, type TotemTransport } from '../../src/transport/index.js';
import type { PgUpcall } from '../../src/totem/pg.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { uniqueLoopbackAddr } from '../helpers/daemon-process.js';

type Event = 'cork' | 'flush' | 'uncork' | 'send' | 'upcall';

/** The transport with every runtime call logged (the real one does the work). */
function logged(real: TotemTransport, log: Event[]): TotemTransport {
  return {
    kind: real.kind,
    maxDatagram: real.maxDatagram,
    stats: real.stats,
    open: () => real.open(),
    close: () => real.close(),
    onDatagram: (cb) => real.onDatagram(cb),
    setMembers: (m) => real.setMembers(m),
    sendTo: (nodeid, bytes) => {
      log.push('send');
      real.sendTo(nodeid, bytes);
    },
    sendAll: (bytes) => {
      log.push('send');
      real.sendAll(bytes);
    },
    cork: () => {
      log.push('cork');
      real.cork?.();
    },
    flush: () => {
      log.push('flush');
      real.flush?.();
    },
    uncork: () => {
      log.push('uncork');
      real.uncork?.();
    },
  };
}

const silent = { error() {}, warn() {}, notice() {}, info() {}, debug() {}, trace() {} };

test('runtime: a step sends corked, and its sends leave before up-calls and at its end', async () => {
  const addrs = [uniqueLoopbackAddr(), uniqueLoopbackAddr()];
  const port = 40000 + Math.floor(Math.random() * 20000);
  const conf = `totem {
  version: 2
  cluster_name: batching
  transport: udpu
  interface {
    linknumber: 0
    mcastport: ${port}
  }
}
nodelist {
${addrs.map((a, i) => `  node {\n    ring0_addr: ${a}\n    nodeid: ${i + 1}\n  }`).join('\n')}
}
`;
  const base = mkdtempSync(join(tmpdir(), 'cts-batching-'));
  const logs: Event[][] = [[], []];
  const delivered: string[][] = [[], []];
  const runtimes: TotemRuntime[] = [];
  const transports: TotemTransport[] = [];
  try {
    for (const id of [1, 2]) {
      const totem = buildStartupMap(parseConfigText(conf, 'corosync.conf'), {
        hostname: 'nowhere',
        localAddresses: addrs,
        localNodeIdOverride: id,
      }).totem;
      const log = logs[id - 1]!;
      const transport = createTransport(totem, id);
      transports.push(transport);
      const rt: TotemRuntime = new TotemRuntime({
        totem,
        icmap: new Icmap(),
        stats: new StatsMap(),
        logger: silent,
        stateDir: join(base, `n${id}`),
        transport: logged(transport, log),
        onUpcall: (u: PgUpcall) => {
          log.push('upcall');
          if (u.kind === 'deliver') delivered[id - 1]!.push(u.message.toString());
        },
      });
      const inst = rt.pg.createInstance({ label: 'test' });
      rt.pg.joinGroup('g', inst);
      runtimes.push(rt);
    }
    for (const rt of runtimes) await rt.start();
    const deadline = Date.now() + 20_000;
    while (runtimes.some((rt) => rt.members.length !== 2)) {
      assert.ok(Date.now() < deadline, 'a ring of both nodes within 20 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    // a burst: several packets leave on one token visit
    const big = Buffer.alloc(6000, 0x41);
    for (let i = 0; i < 20; i++) runtimes[0]!.mcastGroups(['g'], Buffer.from(`m${i}:${big.toString()}`));
    while (delivered.some((d) => d.length < 20)) {
      assert.ok(
        Date.now() < deadline + 10_000,
        `every message delivered (${delivered.map((d) => d.length)})`,
      );
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const d of delivered)
      assert.deepEqual(
        d.map((s) => s.slice(0, s.indexOf(':'))),
        Array.from({ length: 20 }, (_, i) => `m${i}`),
        'in order at both nodes',
      );
    for (const [i, log] of logs.entries()) {
      let corked = false;
      let unsent = 0;
      for (const e of log) {
        if (e === 'cork') corked = true;
        else if (e === 'uncork') {
          corked = false;
          unsent = 0;
        } else if (e === 'flush') unsent = 0;
        else if (e === 'send') {
          assert.ok(corked, `node ${i + 1}: every send happens corked`);
          unsent++;
        } else assert.equal(unsent, 0, `node ${i + 1}: no up-call runs while sends wait`);
      }
      assert.ok(log.includes('upcall'));
    }
    // with the addon the burst left node 1 in segmented runs
    if (loadQbNative().ok) assert.ok(transports[0]!.stats.txSegmentedSends > 0, 'segmented sends at node 1');
  } finally {
    for (const rt of runtimes) await rt.stop();
    rmSync(base, { recursive: true, force: true });
  }
});
