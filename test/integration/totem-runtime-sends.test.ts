/**
 * TotemRuntime's send batching (src/daemon/totem-runtime.ts `pump`): two runtimes on udpu over
 * loopback, each transport wrapped to log what the runtime does with it. The sends of a core
 * step are gathered (corked) and handed on together before anything else happens: before a
 * delivery up-call runs, and before the step ends. On a resting ring the hold-cancel of a new
 * message leaves at once (not at the request's end), or already when the request is read; the
 * rep's message sent from the idle hook (the sync worker's place) leaves in the same pump.
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
import { uniqueLoopbackAddr, waitFor } from '../helpers/daemon-process.js';

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

interface Pair {
  runtimes: TotemRuntime[];
  transports: TotemTransport[];
  logs: Event[][];
  delivered: string[][];
  stop(): Promise<void>;
}

/** Two runtimes on udpu over loopback (nodes 1 and 2), started, with a ring of both. */
async function startPair(label: string, idle?: (nodeid: number) => void): Promise<Pair> {
  const addrs = [uniqueLoopbackAddr(), uniqueLoopbackAddr()];
  const port = 40000 + Math.floor(Math.random() * 20000);
  const conf = `totem {
  version: 2
  cluster_name: ${label}
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
  const base = mkdtempSync(join(tmpdir(), `cts-${label}-`));
  const pair: Pair = {
    runtimes: [],
    transports: [],
    logs: [[], []],
    delivered: [[], []],
    stop: async () => {
      for (const rt of pair.runtimes) await rt.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    for (const id of [1, 2]) {
      const totem = buildStartupMap(parseConfigText(conf, 'corosync.conf'), {
        hostname: 'nowhere',
        localAddresses: addrs,
        localNodeIdOverride: id,
      }).totem;
      const log = pair.logs[id - 1]!;
      const transport = createTransport(totem, id);
      pair.transports.push(transport);
      const rt: TotemRuntime = new TotemRuntime({
        totem,
        icmap: new Icmap(),
        stats: new StatsMap(),
        logger: silent,
        stateDir: join(base, `n${id}`),
        transport: logged(transport, log),
        onUpcall: (u: PgUpcall) => {
          log.push('upcall');
          if (u.kind === 'deliver') pair.delivered[id - 1]!.push(u.message.toString());
        },
        ...(idle ? { idle: () => idle(id) } : {}),
      });
      const inst = rt.pg.createInstance({ label: 'test' });
      rt.pg.joinGroup('g', inst);
      pair.runtimes.push(rt);
    }
    for (const rt of pair.runtimes) await rt.start();
    await waitFor(() => pair.runtimes.every((rt) => rt.members.length === 2), 'a ring of both nodes', 20_000);
    return pair;
  } catch (err) {
    await pair.stop();
    throw err;
  }
}

test('runtime: a step sends corked, and its sends leave before up-calls and at its end', async () => {
  const pair = await startPair('batching');
  const { runtimes, transports, logs, delivered } = pair;
  try {
    // a burst: several packets leave on one token visit
    const big = Buffer.alloc(6000, 0x41);
    for (let i = 0; i < 20; i++) runtimes[0]!.mcastGroups(['g'], Buffer.from(`m${i}:${big.toString()}`));
    await waitFor(() => delivered.every((d) => d.length >= 20), 'every message delivered', 30_000);
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
    await pair.stop();
  }
});

/**
 * Wait until the ring rests (node 1, the rep, holds the token after seqno_unchanged_const quiet
 * rotations, and node `index + 1` counted them too); returns that node's hold-cancel count then,
 * with its transport log cleared.
 */
async function whenResting(pair: Pair, index: number): Promise<number> {
  const rt = pair.runtimes[index]!;
  const rep = pair.runtimes[0]!;
  await waitFor(
    () => rep.srp.tokenHeld && rt.srp.tokenHeld,
    `node 1 (the rep) holds the token and node ${index + 1} counted the quiet rotations`,
    20_000,
  );
  pair.logs[index]!.length = 0;
  return rt.srp.stats.token_hold_cancel_tx;
}

test('runtime: on a resting ring a queued message of a non-rep puts the hold-cancel on the wire at once', async () => {
  const pair = await startPair('resting');
  const { runtimes, logs, delivered } = pair;
  try {
    const cancels = await whenResting(pair, 1);
    // what the exec layer does for a client's request: totempg only, no pump of its own
    runtimes[1]!.pg.mcastGroups(['g'], Buffer.from('wake'));
    assert.equal(runtimes[1]!.srp.stats.token_hold_cancel_tx, cancels + 1, 'a hold-cancel was queued');
    assert.ok(
      logs[1]!.includes('send') && logs[1]!.includes('flush'),
      `the hold-cancel left before mcastGroups returned (${logs[1]!.join(' ')})`,
    );
    await waitFor(() => delivered.every((d) => d.includes('wake')), 'the message delivered', 10_000);
  } finally {
    await pair.stop();
  }
});

test('runtime: messageComing on a non-rep releases a held token before the message is queued, once', async () => {
  const pair = await startPair('coming');
  const { runtimes, logs, delivered } = pair;
  try {
    const cancels = await whenResting(pair, 1);
    // what the IPC server does when it reads a request that will multicast
    runtimes[1]!.messageComing();
    assert.equal(runtimes[1]!.srp.stats.token_hold_cancel_tx, cancels + 1, 'a hold-cancel was sent');
    assert.ok(!runtimes[1]!.srp.tokenHeld, 'the token is no longer held');
    assert.ok(logs[1]!.includes('send') && logs[1]!.includes('flush'), `on the wire (${logs[1]!.join(' ')})`);
    // the handler's message then finds the token released: no second cancel
    runtimes[1]!.pg.mcastGroups(['g'], Buffer.from('after'));
    assert.equal(runtimes[1]!.srp.stats.token_hold_cancel_tx, cancels + 1, 'one hold-cancel in all');
    await waitFor(() => delivered.every((d) => d.includes('after')), 'the message delivered', 10_000);
  } finally {
    await pair.stop();
  }
});

/**
 * After the rep's pump: its message `text` left with the token (two sends, no hold-cancel beyond
 * `cancels`), was delivered at the rep in that pump, and then at every node.
 */
async function assertLeftWithToken(pair: Pair, cancels: number, text: string): Promise<void> {
  const rep = pair.runtimes[0]!;
  const log = pair.logs[0]!;
  assert.ok(!rep.srp.tokenHeld && !rep.srp.wantsHeldToken, 'the token left');
  assert.equal(rep.srp.stats.token_hold_cancel_tx, cancels, 'no hold-cancel');
  assert.equal(log.filter((e) => e === 'send').length, 2, `the message and the token (${log.join(' ')})`);
  assert.ok(pair.delivered[0]!.includes(text), 'delivered at the rep in the same pump');
  await waitFor(() => pair.delivered.every((d) => d.includes(text)), 'the message delivered', 10_000);
}

test('runtime: the rep holding the token sends its own message with it at the pump after the request', async () => {
  const pair = await startPair('retake');
  const { runtimes, logs } = pair;
  try {
    const rep = runtimes[0]!;
    const cancels = await whenResting(pair, 0);
    // the IPC server's early signal: the message is not staged yet, nothing leaves
    rep.messageComing();
    assert.ok(rep.srp.wantsHeldToken, 'the rep waits for the message');
    assert.ok(!logs[0]!.includes('send'), `nothing sent yet (${logs[0]!.join(' ')})`);
    // the handler stages the message (totempg only), then the daemon's after-request pump
    rep.pg.mcastGroups(['g'], Buffer.from('from the rep'));
    assert.ok(!logs[0]!.includes('send'), `still nothing sent (${logs[0]!.join(' ')})`);
    rep.pump();
    await assertLeftWithToken(pair, cancels, 'from the rep');
  } finally {
    await pair.stop();
  }
});

test('runtime: a message the idle hook sends while the rep holds the token leaves in the same pump', async () => {
  // the daemon's sync worker runs in the idle hook and sends its barrier messages from there;
  // on a one-node ring every sync step found the token held and waited for the next timer
  let sendFromIdle = false;
  const pair: Pair = await startPair('idle', (nodeid) => {
    if (nodeid !== 1 || !sendFromIdle) return;
    sendFromIdle = false;
    pair.runtimes[0]!.pg.mcastGroups(['g'], Buffer.from('from idle'));
  });
  const rep = pair.runtimes[0]!;
  try {
    const cancels = await whenResting(pair, 0);
    sendFromIdle = true;
    rep.pump();
    assert.equal(sendFromIdle, false, 'the idle hook ran and sent');
    await assertLeftWithToken(pair, cancels, 'from idle');
  } finally {
    await pair.stop();
  }
});
