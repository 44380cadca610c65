// CPG client library edge cases against a scripted fake cpg IPC service: fragment
// reassembly rules, malformed and unknown dispatch frames, BUSY retries, daemon errors, the
// exact request bytes. No sleeps: waits are on events, with deadlines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CsError, CsErrorCode } from '../../src/common/errors.js';
import {
  CpgHandle,
  CsDispatchFlags,
  CpgIterationType,
  DispatchQueue,
  type CpgGroupName,
} from '../../src/client/index.js';
import {
  CpgPartialType,
  CpgReqId,
  CpgResId,
  cpgName,
  decodeCpgRequest,
  encodeCpgBareResponse,
  encodeCpgResponse,
  type CpgName,
} from '../../src/services/cpg/codec.js';
import { startScriptedCpgDaemon, type ScriptedConn } from '../helpers/fake-cpg-service.js';

const E = CsErrorCode;
const { ONE, ALL, BLOCKING, ONE_NONBLOCKING } = CsDispatchFlags;
const G: CpgName = cpgName('g');

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

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await new Promise<void>((r) => setImmediate(r));
  }
}

function partial(nodeid: number, pid: number, type: number, msglen: number, fragment: string): Buffer {
  return encodeCpgResponse({
    kind: 'partial_deliver',
    error: E.CS_OK,
    group: G,
    msglen,
    nodeid,
    pid,
    type,
    fragment: Buffer.from(fragment),
  });
}

function deliver(nodeid: number, pid: number, text: string): Buffer {
  return encodeCpgResponse({
    kind: 'deliver',
    error: E.CS_OK,
    group: G,
    nodeid,
    pid,
    message: Buffer.from(text),
  });
}

/** A default responder: bare OK replies with the right ids, none for MCAST. */
function okReply(frame: Buffer): Buffer | undefined {
  const id = frame.readInt32LE(0);
  switch (id) {
    case CpgReqId.MCAST:
      return undefined;
    case CpgReqId.JOIN:
      return encodeCpgBareResponse(CpgResId.JOIN, E.CS_OK);
    case CpgReqId.LEAVE:
      return encodeCpgBareResponse(CpgResId.LEAVE, E.CS_OK);
    case CpgReqId.FINALIZE:
      return encodeCpgBareResponse(CpgResId.FINALIZE, E.CS_OK);
    case CpgReqId.PARTIAL_MCAST:
      return encodeCpgBareResponse(CpgResId.PARTIAL_SEND, E.CS_OK);
    default:
      return encodeCpgBareResponse(0, E.CS_ERR_NOT_SUPPORTED);
  }
}

test('fragments: reassembly per (nodeid, pid), restart on FIRST, orphans ignored, left drops', async () => {
  const d = await startScriptedCpgDaemon(okReply);
  const got: string[] = [];
  const h = await CpgHandle.initialize(
    {
      deliver: (_h, g, nodeid, pid, msg) => got.push(`${g.name}:${nodeid}:${pid}:${msg.toString()}`),
      confchg: (_h, _g, _m, left) =>
        got.push(`confchg left=${left.map((a) => `${a.nodeid}:${a.pid}`).join(',')}`),
    },
    { runDir: d.runDir },
  );
  try {
    await waitFor(() => d.conns.length === 1, 'connection');
    const sc = d.conns[0]!;
    const frames = [
      partial(2, 99, CpgPartialType.CONTINUED, 6, 'zz'), // orphan: ignored
      partial(2, 99, CpgPartialType.FIRST, 6, 'ab'),
      partial(3, 5, CpgPartialType.FIRST, 4, 'xx'),
      deliver(4, 1, 'plain'),
      partial(2, 99, CpgPartialType.CONTINUED, 6, 'cd'),
      partial(2, 99, CpgPartialType.LAST, 6, 'ef'),
      partial(3, 5, CpgPartialType.FIRST, 4, 'XX'), // restarts 3:5
      encodeCpgResponse({
        kind: 'confchg',
        error: E.CS_OK,
        group: G,
        members: [],
        left: [{ nodeid: 3, pid: 5, reason: 5 }],
        joined: [],
      }),
      partial(3, 5, CpgPartialType.LAST, 4, 'YY'), // its assembly was dropped: ignored
      partial(3, 5, CpgPartialType.FIRST, 4, 'to'),
      partial(3, 5, CpgPartialType.LAST, 4, 'ab'),
    ];
    for (const f of frames) sc.conn.sendEvent(f);
    await waitFor(() => h.pendingEvents === frames.length, 'frames queued');
    // ONE processes one frame even when it calls nothing (an orphan fragment).
    await h.dispatch(ONE);
    assert.deepEqual(got, []);
    await h.dispatch(ALL);
    assert.deepEqual(got, ['g:4:1:plain', 'g:2:99:abcdef', 'confchg left=3:5', 'g:3:5:toab']);
    await rejectsCode(h.dispatch(ONE_NONBLOCKING), E.CS_ERR_TRY_AGAIN);
  } finally {
    await h.finalize();
    await d.close();
  }
});

test('deliveries of one group share one frozen group name; another name gets its own', async () => {
  const d = await startScriptedCpgDaemon(okReply);
  const names: CpgGroupName[] = [];
  const h = await CpgHandle.initialize({ deliver: (_h, g) => names.push(g) }, { runDir: d.runDir });
  try {
    await waitFor(() => d.conns.length === 1, 'connection');
    const other = (text: string): Buffer =>
      encodeCpgResponse({
        kind: 'deliver',
        error: E.CS_OK,
        group: cpgName('h'),
        nodeid: 1,
        pid: 1,
        message: Buffer.from(text),
      });
    const frames = [deliver(1, 1, 'a'), deliver(2, 2, 'b'), other('c'), deliver(1, 1, 'd')];
    for (const f of frames) d.conns[0]!.conn.sendEvent(f);
    await waitFor(() => h.pendingEvents === frames.length, 'frames queued');
    await h.dispatch(ALL);
    assert.deepEqual(
      names.map((g) => g.name),
      ['g', 'g', 'h', 'g'],
    );
    assert.equal(names[1], names[0], 'same name: the same object');
    assert.notEqual(names[2], names[0]);
    assert.ok(Object.isFrozen(names[0]));
    assert.deepEqual(names[3]!.bytes, Buffer.from('g'));
  } finally {
    await h.finalize();
    await d.close();
  }
});

test('deliver gets the fields of its frame; a name changed by the caller gets a fresh object; a bad name length is named', async () => {
  const d = await startScriptedCpgDaemon(okReply);
  const got: Array<{ group: CpgGroupName; nodeid: number; pid: number; message: string }> = [];
  const h = await CpgHandle.initialize(
    {
      deliver: (_h, group, nodeid, pid, message) =>
        got.push({ group, nodeid, pid, message: message.toString() }),
    },
    { runDir: d.runDir },
  );
  try {
    await waitFor(() => d.conns.length === 1, 'connection');
    const conn = d.conns[0]!.conn;
    conn.sendEvent(deliver(7, 4242, 'first'));
    conn.sendEvent(deliver(0xffff_fffe, 0x8000_0001, ''));
    await waitFor(() => h.pendingEvents === 2, 'frames queued');
    await h.dispatch(ALL);
    assert.deepEqual(
      got.map(({ nodeid, pid, message }) => [nodeid, pid, message]),
      [
        [7, 4242, 'first'],
        [0xffff_fffe, 0x8000_0001, ''],
      ],
    );
    assert.equal(got[1]!.group, got[0]!.group);
    // a caller who changes the bytes handed out gets a fresh, correct object next time
    got[0]!.group.bytes[0] = 0x78;
    conn.sendEvent(deliver(1, 1, 'after'));
    await waitFor(() => h.pendingEvents === 1, 'frame queued');
    await h.dispatch(ONE);
    assert.notEqual(got[2]!.group, got[0]!.group);
    assert.equal(got[2]!.group.name, 'g');

    const long = deliver(1, 1, 'x');
    long.writeUInt32LE(129, 24); // group name length above 128
    conn.sendEvent(long);
    await waitFor(() => h.pendingEvents === 1, 'bad frame queued');
    await assert.rejects(h.dispatch(ONE), (err: unknown) => {
      assert.ok(CsError.is(err, E.CS_ERR_LIBRARY));
      assert.match((err as Error).message, /group name length 129/);
      return true;
    });
    assert.equal(got.length, 3, 'the bad frame reached no callback');
  } finally {
    await h.finalize();
    await d.close();
  }
});

test('malformed and unknown dispatch frames: CS_ERR_LIBRARY from dispatch', async () => {
  const d = await startScriptedCpgDaemon(okReply);
  const h = await CpgHandle.initialize({}, { runDir: d.runDir });
  try {
    await waitFor(() => d.conns.length === 1, 'connection');
    const bad = deliver(1, 1, 'abc');
    bad.writeUInt32LE(99, 160); // msglen disagrees with the size
    const unknown = encodeCpgBareResponse(CpgResId.FLOW_CONTROL_STATE_SET, E.CS_OK);
    d.conns[0]!.conn.sendEvent(bad);
    d.conns[0]!.conn.sendEvent(unknown);
    await waitFor(() => h.pendingEvents === 2, 'frames queued');
    await rejectsCode(h.dispatch(ONE), E.CS_ERR_LIBRARY);
    await rejectsCode(h.events().next(), E.CS_ERR_LIBRARY);
  } finally {
    await h.finalize();
    await d.close();
  }
});

test('join and leave repeat on BUSY; other errors are thrown; request bytes', async () => {
  let busy = 2;
  const d = await startScriptedCpgDaemon((frame) => {
    const id = frame.readInt32LE(0);
    if (id === CpgReqId.JOIN) {
      return encodeCpgBareResponse(CpgResId.JOIN, busy-- > 0 ? E.CS_ERR_BUSY : E.CS_OK);
    }
    if (id === CpgReqId.LEAVE) return encodeCpgBareResponse(CpgResId.LEAVE, E.CS_ERR_NOT_EXIST);
    return okReply(frame);
  });
  const h = await CpgHandle.modelInitialize(1, { flags: 1 }, undefined, { runDir: d.runDir, pid: 4242 });
  try {
    await h.join('busy-group');
    const sc: ScriptedConn = d.conns[0]!;
    assert.equal(sc.requests.length, 3);
    const req = decodeCpgRequest(sc.requests[0]!);
    assert.ok(req.ok && req.value.kind === 'join');
    assert.equal(req.value.pid, 4242);
    assert.equal(req.value.flags, 1);
    assert.equal(req.value.group.length, 10);
    assert.equal(sc.requests[0]!.length, 168);
    await rejectsCode(h.leave('busy-group'), E.CS_ERR_NOT_EXIST);

    await h.mcastJoined(2, [Buffer.from('ab'), Buffer.from('c')]);
    await waitFor(() => sc.requests.length === 5, 'mcast request');
    assert.equal(
      sc.requests[4]!.toString('hex'),
      '02000000000000002b000000000000000000000000000000' + '0200000000000000' + '0300000000000000' + '616263',
    );
  } finally {
    await h.finalize();
    await d.close();
  }
});

test('fragment refused by the daemon: the send ends with that error', async () => {
  let n = 0;
  const d = await startScriptedCpgDaemon((frame) => {
    if (frame.readInt32LE(0) === CpgReqId.PARTIAL_MCAST) {
      n++;
      return encodeCpgBareResponse(CpgResId.PARTIAL_SEND, n === 2 ? E.CS_ERR_INTERRUPT : E.CS_OK);
    }
    return okReply(frame);
  });
  const h = await CpgHandle.initialize({}, { runDir: d.runDir });
  try {
    const max = h.maxAtomicMsgsizeGet();
    await rejectsCode(h.mcastJoined(0, Buffer.alloc(max * 3)), E.CS_ERR_INTERRUPT);
    assert.equal(n, 2);
    const types = d.conns[0]!.requests.map((f) => {
      const r = decodeCpgRequest(f);
      return r.ok && r.value.kind === 'partial_mcast'
        ? [r.value.type, r.value.msglen, r.value.fragment.length]
        : [];
    });
    assert.deepEqual(types, [
      [CpgPartialType.FIRST, max * 3, max],
      [CpgPartialType.CONTINUED, max * 3, max],
    ]);
  } finally {
    await h.finalize();
    await d.close();
  }
});

test('iteration: a daemon error creates no handle; finalize errors after local release', async () => {
  const d = await startScriptedCpgDaemon((frame) => {
    const id = frame.readInt32LE(0);
    if (id === CpgReqId.ITERATIONINITIALIZE) {
      const r = decodeCpgRequest(frame);
      const fail =
        r.ok && r.value.kind === 'iteration_initialize' && r.value.iterationType === CpgIterationType.ALL;
      return encodeCpgResponse({
        kind: 'iteration_initialize',
        error: fail ? E.CS_ERR_NO_MEMORY : E.CS_OK,
        handle: 77n,
      });
    }
    if (id === CpgReqId.ITERATIONFINALIZE)
      return encodeCpgBareResponse(CpgResId.ITERATIONFINALIZE, E.CS_ERR_LIBRARY);
    if (id === CpgReqId.ITERATIONNEXT) {
      return encodeCpgResponse({
        kind: 'iteration_next',
        error: E.CS_ERR_NO_SECTIONS,
        description: { group: cpgName(''), nodeid: 0, pid: 0 },
      });
    }
    return okReply(frame);
  });
  const h = await CpgHandle.initialize({}, { runDir: d.runDir });
  try {
    await rejectsCode(h.iterationInitialize(CpgIterationType.ALL), E.CS_ERR_NO_MEMORY);
    const it = await h.iterationInitialize(CpgIterationType.NAME_ONLY);
    assert.equal(await h.iterationNext(it), null);
    const next = decodeCpgRequest(d.conns[0]!.requests.at(-1)!);
    assert.ok(next.ok && next.value.kind === 'iteration_next' && next.value.handle === 77n);
    await rejectsCode(h.iterationFinalize(it), E.CS_ERR_LIBRARY);
    await rejectsCode(h.iterationFinalize(it), E.CS_ERR_BAD_HANDLE);
  } finally {
    await h.finalize();
    await d.close();
  }
});

test('DispatchQueue: order, bound with pause/resume, wait with timeout, close', async () => {
  const calls: string[] = [];
  const q = new DispatchQueue(
    { pauseEvents: () => calls.push('pause'), resumeEvents: () => calls.push('resume') },
    4,
  );
  for (let i = 0; i < 4; i++) q.push(Buffer.from([i]));
  assert.deepEqual(calls, ['pause']);
  assert.equal(q.shift()![0], 0);
  assert.equal(q.shift()![0], 1);
  assert.deepEqual(calls, ['pause', 'resume']);
  const w = q.wait();
  q.push(Buffer.from([9]));
  await w;
  await q.wait(1); // times out without a push
  assert.deepEqual([q.shift()![0], q.shift()![0], q.shift()![0]], [2, 3, 9]);
  assert.equal(q.shift(), undefined);
  q.close();
  q.push(Buffer.from([1]));
  assert.equal(q.length, 0);
  await q.wait(); // resolves at once when closed
});

test('DispatchQueue.consumeSync: the consumer runs inside push, wake and close, never re-entered', () => {
  const q = new DispatchQueue({ pauseEvents: () => undefined, resumeEvents: () => undefined }, 8);
  const seen: string[] = [];
  const consumer = (): void => {
    for (let f = q.shift(); f; f = q.shift()) {
      seen.push(`frame ${f[0]}`);
      if (f[0] === 1) q.push(Buffer.from([2])); // re-entrant push: taken by this same loop
    }
    seen.push(q.closed ? 'closed' : 'empty');
  };
  q.push(Buffer.from([0]));
  assert.equal(q.consumeSync(consumer), true);
  assert.equal(
    q.consumeSync(() => undefined),
    false,
    'one consumer at a time',
  );
  assert.deepEqual(seen, [], 'setting a consumer does not run it');
  q.push(Buffer.from([1]));
  assert.deepEqual(seen, ['frame 0', 'frame 1', 'frame 2', 'empty']);
  q.wake();
  assert.deepEqual(seen.slice(4), ['empty']);
  q.stopConsuming(() => undefined); // not the consumer: ignored
  q.close();
  assert.deepEqual(seen.slice(5), ['closed']);
  q.stopConsuming(consumer);
  q.wake();
  assert.equal(seen.length, 6, 'removed: not run again');
});

test('BLOCKING dispatch runs a callback before the event loop turns; a throwing callback ends it', async () => {
  const d = await startScriptedCpgDaemon(okReply);
  const got: string[] = [];
  let fail = false;
  const h = await CpgHandle.initialize(
    {
      deliver: (_h, _g, _n, _p, msg) => {
        // called from the event channel's read handler itself, not from a resumed await
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 100;
        const stack = new Error().stack ?? '';
        Error.stackTraceLimit = limit;
        got.push(`${msg.toString()}${stack.includes('onEventData') ? ' (in read)' : ''}`);
        if (fail) throw new Error('callback failed');
      },
    },
    { runDir: d.runDir },
  );
  try {
    await waitFor(() => d.conns.length === 1, 'connection');
    const blocking = h.dispatch(BLOCKING);
    // a second blocking dispatch still works (it awaits the queue) and ends at finalize
    const second = rejectsCode(h.dispatch(BLOCKING), E.CS_ERR_BAD_HANDLE);
    d.conns[0]!.conn.sendEvent(deliver(1, 1, 'one'));
    d.conns[0]!.conn.sendEvent(deliver(1, 1, 'two'));
    await waitFor(() => got.length === 2, 'callbacks');
    fail = true;
    d.conns[0]!.conn.sendEvent(deliver(1, 1, 'three'));
    await assert.rejects(blocking, /callback failed/);
    assert.deepEqual(got, ['one (in read)', 'two (in read)', 'three (in read)']);
    await h.finalize();
    await second;
  } finally {
    await d.close();
  }
});
