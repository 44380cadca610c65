// The CPG client library end to end: a real IpcServer with the real CPG service engine on a
// loopback exec layer (test/helpers/fake-cpg-service.ts), the client over unix sockets.
// No sleeps: every wait is on an event, with a deadline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CsError, CsErrorCode } from '../../src/common/errors.js';
import {
  CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
  CpgFlowControlState,
  CpgGuarantee,
  CpgHandle,
  CpgIterationType,
  CpgModel,
  CpgReason,
  CsDispatchFlags,
  type CpgAddress,
  type CpgEvent,
  type CpgGroupName,
} from '../../src/client/index.js';
import { startCpgDaemon, type CpgDaemon } from '../helpers/fake-cpg-service.js';

const E = CsErrorCode;
const { ONE, ALL, BLOCKING, ONE_NONBLOCKING } = CsDispatchFlags;
let d: CpgDaemon;
let nextPid = 50_000;

before(async () => {
  d = await startCpgDaemon();
});
after(async () => {
  await d.close();
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    }),
  ]);
}

/** Re-check `cond` on every event-loop turn until it holds (deadline 5 s). */
async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await new Promise<void>((r) => setImmediate(r));
  }
}

async function rejectsCode(p: Promise<unknown> | (() => unknown), code: number): Promise<void> {
  try {
    if (typeof p === 'function') await p();
    else await p;
  } catch (err) {
    assert.ok(err instanceof CsError, `expected CsError, got ${String(err)}`);
    assert.equal(err.codeName, new CsError(code).codeName, err.message);
    return;
  }
  assert.fail(`expected ${new CsError(code).codeName}`);
}

type Rec =
  | { kind: 'deliver'; group: string; nodeid: number; pid: number; msg: Buffer }
  | { kind: 'confchg'; group: string; members: CpgAddress[]; left: CpgAddress[]; joined: CpgAddress[] }
  | { kind: 'totem'; ringNodeid: number; members: number[] };

/** A handle whose callbacks record into `recs`, with its own pid. */
async function open(flags = 0): Promise<{ h: CpgHandle; recs: Rec[]; pid: number }> {
  const recs: Rec[] = [];
  const pid = nextPid++;
  const h = await CpgHandle.modelInitialize(
    CpgModel.V1,
    {
      deliver: (_h, g: CpgGroupName, nodeid, p, msg) =>
        recs.push({ kind: 'deliver', group: g.name, nodeid, pid: p, msg: Buffer.from(msg) }),
      confchg: (_h, g, members, left, joined) =>
        recs.push({
          kind: 'confchg',
          group: g.name,
          members: [...members],
          left: [...left],
          joined: [...joined],
        }),
      totemConfchg: (_h, ring, members) =>
        recs.push({ kind: 'totem', ringNodeid: ring.nodeid, members: [...members] }),
      flags,
    },
    undefined,
    { runDir: d.runDir, pid },
  );
  return { h, recs, pid };
}

/** dispatch(ONE) until `recs` has `n` entries. */
async function until(h: CpgHandle, recs: Rec[], n: number): Promise<void> {
  await within(
    (async () => {
      while (recs.length < n) await h.dispatch(ONE);
    })(),
    5000,
    `waiting for ${n} callbacks (have ${recs.length})`,
  );
}

const addr = (nodeid: number, pid: number, reason: number = CpgReason.UNDEFINED): CpgAddress => ({
  nodeid,
  pid,
  reason,
});

test('local information: local_get, max atomic size, flow control, context, fd', async () => {
  const ctx = { app: 1 };
  const h = await CpgHandle.modelInitialize(CpgModel.V1, {}, ctx, { runDir: d.runDir });
  try {
    assert.equal(await h.localGet(), d.nodeId);
    assert.equal(h.maxAtomicMsgsizeGet(), 1024 * 1024 - 1024);
    assert.equal(h.flowControlStateGet(), CpgFlowControlState.DISABLED);
    assert.equal(h.contextGet(), ctx);
    h.contextSet('other');
    assert.equal(h.contextGet(), 'other');
    assert.ok(h.fdGet() >= 0);
    assert.equal(h.localPid, process.pid);
  } finally {
    await h.finalize();
  }
  await rejectsCode(() => h.localGet(), E.CS_ERR_BAD_HANDLE);
  await rejectsCode(() => h.contextGet(), E.CS_ERR_BAD_HANDLE);
  await rejectsCode(() => h.finalize(), E.CS_ERR_BAD_HANDLE);
});

test('model and flag validation happen before connecting', async () => {
  await rejectsCode(
    CpgHandle.modelInitialize(2, {}, undefined, { runDir: d.runDir }),
    E.CS_ERR_INVALID_PARAM,
  );
  await rejectsCode(
    CpgHandle.modelInitialize(CpgModel.V1, { flags: 2 }, undefined, { runDir: d.runDir }),
    E.CS_ERR_INVALID_PARAM,
  );
  await rejectsCode(CpgHandle.initialize({}, { runDir: '/nonexistent-run-dir' }), E.CS_ERR_LIBRARY);
});

test('join, confchg, membership, mcast with iovecs, leave', async () => {
  const a = await open();
  const b = await open();
  try {
    await a.h.join('grp-basic');
    await until(a.h, a.recs, 1);
    assert.deepEqual(a.recs[0], {
      kind: 'confchg',
      group: 'grp-basic',
      members: [addr(1, a.pid)],
      left: [],
      joined: [addr(1, a.pid, CpgReason.JOIN)],
    });
    await rejectsCode(a.h.join('grp-basic'), E.CS_ERR_EXIST);

    await b.h.join(Buffer.from('grp-basic'));
    await until(a.h, a.recs, 2);
    await until(b.h, b.recs, 1);
    const both = [addr(1, a.pid), addr(1, b.pid)];
    assert.deepEqual(a.recs[1], {
      kind: 'confchg',
      group: 'grp-basic',
      members: both,
      left: [],
      joined: [addr(1, b.pid, CpgReason.JOIN)],
    });
    assert.deepEqual(b.recs[0], a.recs[1]);
    assert.deepEqual(await a.h.membershipGet('grp-basic'), both);
    assert.deepEqual(await a.h.membershipGet('no-such-group'), []);

    await a.h.mcastJoined(CpgGuarantee.AGREED, [Buffer.from('hello '), Buffer.from('world')]);
    await b.h.mcastJoined(CpgGuarantee.AGREED, Buffer.from('second'));
    await until(a.h, a.recs, 4);
    await until(b.h, b.recs, 3);
    for (const recs of [a.recs, b.recs]) {
      const delivered = recs.filter((r) => r.kind === 'deliver');
      assert.deepEqual(
        delivered.map((r) => r.kind === 'deliver' && [r.group, r.nodeid, r.pid, r.msg.toString()]),
        [
          ['grp-basic', 1, a.pid, 'hello world'],
          ['grp-basic', 1, b.pid, 'second'],
        ],
      );
    }

    await b.h.leave('grp-basic');
    await until(a.h, a.recs, 5);
    assert.deepEqual(a.recs[4], {
      kind: 'confchg',
      group: 'grp-basic',
      members: [addr(1, a.pid)],
      left: [addr(1, b.pid, CpgReason.LEAVE)],
      joined: [],
    });
    // An unjoined connection cannot leave (a joined one may "leave" any group name: the
    // daemon applies the leave to the group named in the request).
    const c = await CpgHandle.initialize({}, { runDir: d.runDir, pid: nextPid++ });
    await rejectsCode(c.leave('never-joined'), E.CS_ERR_NOT_EXIST);
    await c.finalize();
  } finally {
    await a.h.finalize();
    await b.h.finalize();
  }
});

test('a finalized member leaves with PROCDOWN', async () => {
  const a = await open();
  const b = await open();
  try {
    await a.h.join('grp-procdown');
    await b.h.join('grp-procdown');
    await until(a.h, a.recs, 2);
    await b.h.finalize();
    await until(a.h, a.recs, 3);
    assert.deepEqual(a.recs[2], {
      kind: 'confchg',
      group: 'grp-procdown',
      members: [addr(1, a.pid)],
      left: [addr(1, b.pid, CpgReason.PROCDOWN)],
      joined: [],
    });
  } finally {
    await a.h.finalize();
  }
});

test('messages above the atomic size are fragmented per buffer and reassembled', async () => {
  const a = await open();
  const b = await open();
  try {
    await a.h.join('grp-big');
    await b.h.join('grp-big');
    await until(a.h, a.recs, 2);
    await until(b.h, b.recs, 1);
    const max = a.h.maxAtomicMsgsizeGet();
    const p1 = Buffer.alloc(max + 10, 0x41);
    const p2 = Buffer.alloc(100, 0x42);
    const p3 = Buffer.alloc(2 * max + 1, 0x43);
    const before = d.sentFns.length;
    await a.h.mcastJoined(CpgGuarantee.AGREED, [p1, p2, p3]);
    // p1 → 2 fragments, p2 → 1, p3 → 3: fragments never span buffers.
    assert.deepEqual(d.sentFns.slice(before), [6, 6, 6, 6, 6, 6]);
    await b.h.send(CpgGuarantee.AGREED, Buffer.from('after'));
    await until(b.h, b.recs, 3);
    const [big, small] = b.recs.slice(1);
    assert.ok(big?.kind === 'deliver' && small?.kind === 'deliver');
    assert.equal(big.pid, a.pid);
    assert.ok(big.msg.equals(Buffer.concat([p1, p2, p3])));
    assert.equal(small.msg.toString(), 'after');
  } finally {
    await a.h.finalize();
    await b.h.finalize();
  }
});

test('DELIVER_INITIAL_TOTEM_CONF: a totem confchg follows the own join confchg', async () => {
  const a = await open(CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF);
  try {
    await a.h.join('grp-totem');
    await until(a.h, a.recs, 2);
    assert.equal(a.recs[0]?.kind, 'confchg');
    assert.deepEqual(a.recs[1], { kind: 'totem', ringNodeid: 1, members: [1] });
    // A later membership change reaches every connection.
    const syncing = d.runSync([1]);
    await until(a.h, a.recs, 3);
    await syncing;
    assert.deepEqual(a.recs[2], { kind: 'totem', ringNodeid: 1, members: [1] });
  } finally {
    await a.h.finalize();
  }
});

test('iteration: ALL, NAME_ONLY, ONE_GROUP, async iterator, handle checks', async () => {
  const a = await open();
  const b = await open();
  const c = await CpgHandle.initialize({}, { runDir: d.runDir });
  try {
    await a.h.join('it-1');
    await b.h.join('it-2');
    await b.h.mcastJoined(0, Buffer.alloc(0)); // nothing to wait for; just must not disturb
    await until(a.h, a.recs, 1);
    await until(b.h, b.recs, 1);
    const all = [];
    for await (const x of c.iterate(CpgIterationType.ALL)) {
      if (x.group.name.startsWith('it-')) all.push([x.group.name, x.nodeid, x.pid]);
    }
    assert.deepEqual(all.sort(), [
      ['it-1', 1, a.pid],
      ['it-2', 1, b.pid],
    ]);
    const names = [];
    for await (const x of c.iterate(CpgIterationType.NAME_ONLY)) {
      if (x.group.name.startsWith('it-')) names.push([x.group.name, x.nodeid, x.pid]);
    }
    assert.deepEqual(names.sort(), [
      ['it-1', 0, 0],
      ['it-2', 0, 0],
    ]);
    const it = await c.iterationInitialize(CpgIterationType.ONE_GROUP, 'it-2');
    const first = await c.iterationNext(it);
    assert.deepEqual(first && [first.group.name, first.group.bytes.toString(), first.nodeid, first.pid], [
      'it-2',
      'it-2',
      1,
      b.pid,
    ]);
    assert.equal(await c.iterationNext(it), null);
    await c.iterationFinalize(it);
    await rejectsCode(c.iterationNext(it), E.CS_ERR_BAD_HANDLE);
    await rejectsCode(c.iterationFinalize(it), E.CS_ERR_BAD_HANDLE);
    await rejectsCode(c.iterationInitialize(CpgIterationType.ONE_GROUP), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(c.iterationInitialize(CpgIterationType.ALL, 'x'), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(c.iterationInitialize(9), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(
      c.iterationInitialize(CpgIterationType.ONE_GROUP, 'x'.repeat(129)),
      E.CS_ERR_NAME_TOO_LONG,
    );
  } finally {
    await a.h.finalize();
    await b.h.finalize();
    await c.finalize();
  }
});

test('dispatch modes and events() share one queue', async () => {
  const a = await open();
  try {
    await rejectsCode(a.h.dispatch(ONE_NONBLOCKING), E.CS_ERR_TRY_AGAIN);
    await a.h.dispatch(ALL); // nothing queued: returns
    await rejectsCode(a.h.dispatch(7), E.CS_ERR_INVALID_PARAM);
    await a.h.join('grp-modes');
    await a.h.mcastJoined(CpgGuarantee.AGREED, Buffer.from('m1'));
    await a.h.mcastJoined(CpgGuarantee.AGREED, Buffer.from('m2'));
    const it = a.h.events();
    const first = await within(it.next(), 5000, 'first event');
    assert.equal((first.value as CpgEvent).type, 'confchg');
    assert.equal(a.recs.length, 0, 'events() does not call callbacks');
    await until(a.h, a.recs, 1);
    assert.equal(a.recs[0]?.kind, 'deliver');
    const third = await within(it.next(), 5000, 'third event');
    const ev = third.value as CpgEvent;
    assert.ok(ev.type === 'deliver' && ev.message.toString() === 'm2');
    await rejectsCode(a.h.dispatch(ONE_NONBLOCKING), E.CS_ERR_TRY_AGAIN);

    // BLOCKING runs until a callback finalizes the handle.
    const h2 = await CpgHandle.initialize(
      {
        deliver: (h) => {
          void h.finalize();
        },
      },
      { runDir: d.runDir, pid: nextPid++ },
    );
    await h2.join('grp-modes-2');
    await h2.mcastJoined(0, Buffer.from('x'));
    await within(rejectsCode(h2.dispatch(BLOCKING), E.CS_ERR_BAD_HANDLE), 5000, 'blocking dispatch');

    // A pending events() iteration finishes on finalize.
    const pending = it.next();
    await a.h.finalize();
    assert.deepEqual(await within(pending, 5000, 'iterator end'), { done: true, value: undefined });
  } finally {
    await a.h.finalize().catch(() => undefined);
  }
});

test('BUSY is retried: leave during JOIN_STARTED completes once the join is delivered', async () => {
  const a = await open();
  try {
    d.holdDeliveries();
    await a.h.join('grp-busy');
    const leaving = a.h.leave('grp-busy');
    // The leave is answered BUSY (join not yet delivered) and retried.
    const server = d.connections().find((c) => d.engine.stateOf(c)?.pid === a.pid)!;
    await waitFor(() => server.stats.requests >= 3, 'two leave attempts');
    d.releaseDeliveries();
    await within(leaving, 5000, 'leave after BUSY');
    await until(a.h, a.recs, 2);
    assert.deepEqual(
      a.recs.map((r) => r.kind === 'confchg' && [r.joined.length, r.left.map((x) => x.reason)]),
      [
        [1, []],
        [0, [CpgReason.LEAVE]],
      ],
    );
  } finally {
    d.releaseDeliveries();
    await a.h.finalize();
  }
});

test('sync in progress: join gets TRY_AGAIN; flow-control frames gate mcastJoined and send()', async () => {
  const a = await open();
  try {
    d.setSyncInProgress(true);
    await rejectsCode(a.h.join('grp-fc'), E.CS_ERR_TRY_AGAIN);
    d.setSyncInProgress(false);
    await a.h.join('grp-fc');
    await until(a.h, a.recs, 1);

    const server = d.connections().find((c) => d.engine.stateOf(c)?.pid === a.pid)!;
    // level 2 (what corosync raises while a sync runs) blocks cpg mcast only
    server.setFlowControl(2);
    // The flow-control frame is consumed by the library. Until it arrives, probes still go
    // out; the server holds them (libqb does not read a flow-controlled client) and handles
    // them once the level is 0 again: none may be lost.
    const before = a.recs.length;
    let probes = 0;
    await within(
      (async () => {
        for (;;) {
          try {
            await a.h.mcastJoined(0, Buffer.from('probe'));
            probes++;
          } catch (err) {
            if (CsError.is(err, E.CS_ERR_TRY_AGAIN)) return;
            throw err;
          }
          await new Promise((r) => setImmediate(r)); // let the flow-control frame arrive
        }
      })(),
      5000,
      'flow control on',
    );
    assert.equal(a.recs.length, before, 'held probes are not delivered during flow control');
    // another client's requests are read meanwhile (with the addon into the daemon's one read
    // buffer, where the held probes were read too): the held frames must stay intact
    const b = await open();
    try {
      await b.h.join('grp-fc-other');
      await b.h.mcastJoined(0, Buffer.alloc(300, 'z'));
    } finally {
      await b.h.finalize();
    }
    assert.equal(a.h.flowControlStateGet(), CpgFlowControlState.DISABLED, 'as libcpg 3.1.7');
    const sending = a.h.send(CpgGuarantee.AGREED, Buffer.from('queued'));
    const ac = new AbortController();
    const aborted = a.h.send(0, Buffer.from('never'), { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(aborted, /stop/);
    server.setFlowControl(0);
    await within(sending, 5000, 'send after flow control');
    await until(a.h, a.recs, before + probes + 1);
    const delivered = a.recs.slice(before).map((r) => (r.kind === 'deliver' ? r.msg.toString() : r.kind));
    assert.deepEqual(
      delivered,
      [...Array<string>(probes).fill('probe'), 'queued'],
      'held probes first, in order',
    );
    assert.equal(a.h.pendingEvents, 0, 'flow-control frames never reach dispatch');
  } finally {
    d.setSyncInProgress(false);
    await a.h.finalize();
  }
});

test('zero-copy emulation', async () => {
  const a = await open();
  try {
    await a.h.join('grp-zc');
    const buf = a.h.zcbAlloc(16);
    buf.write('zero-copy');
    await a.h.zcbMcastJoined(CpgGuarantee.AGREED, buf, 9);
    await until(a.h, a.recs, 2);
    const m = a.recs[1];
    assert.ok(m?.kind === 'deliver' && m.msg.toString() === 'zero-copy');
    await rejectsCode(a.h.zcbMcastJoined(0, Buffer.alloc(4)), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(a.h.zcbMcastJoined(0, buf, 17), E.CS_ERR_INVALID_PARAM);
    const huge = a.h.zcbAlloc(1024 * 1024 + 1);
    await rejectsCode(a.h.zcbMcastJoined(0, huge), E.CS_ERR_TOO_BIG);
    a.h.zcbFree(buf);
    a.h.zcbFree(huge);
    await rejectsCode(() => a.h.zcbFree(buf), E.CS_ERR_INVALID_PARAM);
  } finally {
    await a.h.finalize();
  }
});

test('argument checks: long names, bad buffers, bad guarantee', async () => {
  const a = await open();
  try {
    await rejectsCode(a.h.join('n'.repeat(129)), E.CS_ERR_NAME_TOO_LONG);
    await rejectsCode(a.h.leave(Buffer.alloc(129)), E.CS_ERR_NAME_TOO_LONG);
    await rejectsCode(a.h.membershipGet('n'.repeat(129)), E.CS_ERR_NAME_TOO_LONG);
    await a.h.join('n'.repeat(128));
    await rejectsCode(a.h.mcastJoined(-1, Buffer.alloc(1)), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(a.h.mcastJoined(0, 'text' as unknown as Buffer), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(a.h.join(42 as unknown as string), E.CS_ERR_INVALID_PARAM);
  } finally {
    await a.h.finalize();
  }
});

test('connection lost: queued callbacks first, then CS_ERR_LIBRARY', async () => {
  const d2 = await startCpgDaemon({ nodeId: 7 });
  const recs: string[] = [];
  const h = await CpgHandle.initialize(
    { confchg: (_h, g) => recs.push(g.name) },
    { runDir: d2.runDir, pid: nextPid++ },
  );
  try {
    await h.join('grp-lost');
    await d2.settled();
    // Wait until the confchg is queued client-side, then kill the daemon.
    await waitFor(() => h.pendingEvents > 0, 'confchg queued');
    await d2.close();
    await within(rejectsCode(h.dispatch(BLOCKING), E.CS_ERR_LIBRARY), 5000, 'lost');
    assert.deepEqual(recs, ['grp-lost']);
    await rejectsCode(h.mcastJoined(0, Buffer.alloc(1)), E.CS_ERR_LIBRARY);
    await rejectsCode(h.localGet(), E.CS_ERR_LIBRARY);
  } finally {
    await h.finalize().catch(() => undefined);
    await d2.close();
  }
});
