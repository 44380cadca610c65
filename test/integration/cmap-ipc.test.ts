// The cmap IPC stack end to end: a real IpcServer on a temporary run dir, the client library
// over unix sockets, plus raw sockets sending bad input. No sleeps: every wait has a deadline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CsError, CsErrorCode } from '../../src/common/errors.js';
import { serviceSocketPath } from '../../src/common/rundir.js';
import { CmapValueType } from '../../src/cmap/types.js';
import {
  CmapHandle,
  CmapMapKind,
  CmapTrack,
  CsDispatchFlags,
  type CmapNotifyValue,
} from '../../src/client/index.js';
import { encodeSetupRequest, decodeSetupResponse } from '../../src/ipc/handshake.js';
import { allocRequest } from '../../src/ipc/frame.js';
import { encodeGetRequest, keyBytes } from '../../src/ipc/cmap-codec.js';
import { startIpcDaemon, type IpcDaemon } from '../helpers/ipc-daemon.js';

const E = CsErrorCode;
let d: IpcDaemon;

before(async () => {
  d = await startIpcDaemon();
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

/** Mark a promise awaited later as handled now (its rejection is asserted later). */
function early<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

const open = (map?: number) => CmapHandle.initialize(map, { runDir: d.runDir });

/** A raw client socket with a byte queue. */
class Raw {
  readonly sock: Socket;
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  readonly closed: Promise<void>;
  constructor(path: string) {
    this.sock = connect(path);
    this.sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    this.sock.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.sock.once('close', () => resolve()));
  }
  static async open(): Promise<Raw> {
    const r = new Raw(serviceSocketPath(d.runDir, 'cmap'));
    await within(new Promise((res) => r.sock.once('connect', res)), 2000, 'raw connect');
    return r;
  }
  async recv(n: number): Promise<Buffer> {
    const deadline = Date.now() + 3000;
    while (this.buf.length < n) {
      if (Date.now() > deadline) throw new Error(`raw recv timeout (${this.buf.length}/${n})`);
      await within(new Promise<void>((res) => (this.wake = res)), 3000, 'raw recv');
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Do the SETUP handshake (announcing `pid`) and return the connection's stats object. */
  async setup(pid: number) {
    this.sock.write(encodeSetupRequest({ maxMsgSize: 1 << 20, pid }));
    const res = decodeSetupResponse(await this.recv(40));
    assert.equal(res.error, E.CS_OK);
    assert.equal(res.maxMsgSize, 1 << 20);
    const st = d.stats.ipcConnections().find((c) => c.pid === pid);
    assert.ok(st, 'connection registered in the stats map');
    return st;
  }
  destroy(): void {
    this.sock.destroy();
  }
}

test('basic get/set of every type, errors, context and fd', async () => {
  const h = await open();
  try {
    await h.setInt8('t.i8', -5);
    await h.setUint8('t.u8', 250);
    await h.setInt16('t.i16', -30000);
    await h.setUint16('t.u16', 65000);
    await h.setInt32('t.i32', -2_000_000_000);
    await h.setUint32('t.u32', 4_000_000_000);
    await h.setInt64('t.i64', -(2n ** 62n));
    await h.setUint64('t.u64', 2n ** 63n + 5n);
    await h.setFloat('t.flt', 1.5);
    await h.setDouble('t.dbl', Math.PI);
    await h.setString('t.str', 'hello world');
    await h.setBinary('t.bin', Uint8Array.from([0, 1, 2, 255]));
    assert.equal(await h.getInt8('t.i8'), -5);
    assert.equal(await h.getUint8('t.u8'), 250);
    assert.equal(await h.getInt16('t.i16'), -30000);
    assert.equal(await h.getUint16('t.u16'), 65000);
    assert.equal(await h.getInt32('t.i32'), -2_000_000_000);
    assert.equal(await h.getUint32('t.u32'), 4_000_000_000);
    assert.equal(await h.getInt64('t.i64'), -(2n ** 62n));
    assert.equal(await h.getUint64('t.u64'), 2n ** 63n + 5n);
    assert.equal(await h.getFloat('t.flt'), 1.5);
    assert.equal(await h.getDouble('t.dbl'), Math.PI);
    assert.equal(await h.getString('t.str'), 'hello world');
    assert.deepEqual(await h.get('t.bin'), {
      type: CmapValueType.BINARY,
      value: Uint8Array.from([0, 1, 2, 255]),
    });
    assert.deepEqual(await h.get('t.u32'), { type: CmapValueType.UINT32, value: 4_000_000_000 });
    assert.deepEqual(d.icmap.get('t.str'), {
      type: CmapValueType.STRING,
      bytes: Buffer.from('hello world\0'),
    });

    // getRaw: strings report their NUL; capacity 0 = metadata only; too small = INVALID_PARAM
    assert.deepEqual(await h.getRaw('t.str'), { type: 11, length: 12, data: Buffer.from('hello world\0') });
    assert.deepEqual(await h.getRaw('t.str', 0), { type: 11, length: 12, data: Buffer.alloc(0) });
    await rejectsCode(h.getRaw('t.str', 4), E.CS_ERR_INVALID_PARAM);
    const long = 'x'.repeat(5000);
    await h.setString('t.long', long);
    assert.equal(await h.getString('t.long'), long);
    await h.setRaw('t.raw', CmapValueType.STRING, Buffer.from('abc'));
    assert.equal(await h.getString('t.raw'), 'abc');

    // type mismatch in typed getters: INVALID_PARAM as libcmap
    await rejectsCode(h.getUint8('t.u32'), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(h.getString('t.u32'), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(h.getUint32('missing.key'), E.CS_ERR_NOT_EXIST);
    await rejectsCode(h.get('missing.key'), E.CS_ERR_NOT_EXIST);

    // inc/dec with wrap-around, delete
    await h.setUint8('t.ctr', 255);
    await h.inc('t.ctr');
    assert.equal(await h.getUint8('t.ctr'), 0);
    await h.dec('t.ctr');
    assert.equal(await h.getUint8('t.ctr'), 255);
    await rejectsCode(h.inc('t.str'), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(h.inc('missing.key'), E.CS_ERR_NOT_EXIST);
    await h.delete('t.ctr');
    await rejectsCode(h.delete('t.ctr'), E.CS_ERR_NOT_EXIST);

    // key names: >= 256 bytes rejected client-side, < 3 by the daemon on create, RO keys
    await rejectsCode(h.setUint8('k'.repeat(256), 1), E.CS_ERR_NAME_TOO_LONG);
    await rejectsCode(h.get('k'.repeat(300)), E.CS_ERR_NAME_TOO_LONG);
    await rejectsCode(h.iterInit('k'.repeat(256)), E.CS_ERR_NAME_TOO_LONG);
    await rejectsCode(h.setUint8('ab', 1), E.CS_ERR_NAME_TOO_LONG);
    await rejectsCode(h.setUint8('bad key!', 1), E.CS_ERR_NAME_TOO_LONG);
    await h.setUint8('k'.repeat(255), 1);
    await rejectsCode(h.setString('totem.cluster_name', 'x'), E.CS_ERR_ACCESS);
    await rejectsCode(h.setString('nodelist.node.0.name', 'x'), E.CS_ERR_ACCESS);
    await rejectsCode(h.setUint8('t.range', 256), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(h.setRaw('t.badlen', CmapValueType.UINT32, Buffer.alloc(3)), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(h.setBinary('t.huge', Buffer.alloc(16385)), E.CS_ERR_INVALID_PARAM);
    await rejectsCode(h.setBinary('t.toobig', Buffer.alloc(1 << 20)), E.CS_ERR_TOO_BIG);

    assert.equal(h.contextGet(), undefined);
    const ctx = { a: 1 };
    h.contextSet(ctx);
    assert.equal(h.contextGet(), ctx);
    assert.equal(typeof h.fdGet(), 'number');
    assert.ok(h.fdGet() >= 0);
  } finally {
    await h.finalize();
  }
  await rejectsCode(h.finalize(), E.CS_ERR_BAD_HANDLE);
  await rejectsCode(h.get('t.str'), E.CS_ERR_BAD_HANDLE);
  await rejectsCode(() => h.fdGet(), E.CS_ERR_BAD_HANDLE);
  await rejectsCode(() => h.contextGet(), E.CS_ERR_BAD_HANDLE);
  await rejectsCode(h.dispatch(CsDispatchFlags.ALL), E.CS_ERR_BAD_HANDLE);
});

test('iteration: byte order, prefixes, end, handles', async () => {
  const h = await open();
  try {
    for (const k of ['it.b', 'it.a.2', 'it.a.10', 'it.a.1', 'itx.z']) await h.setUint32(k, 1);
    await h.setString('it.s', 'abc');
    const seen = [];
    for await (const e of h.iter('it.')) seen.push(e);
    assert.deepEqual(
      seen.map((e) => e.key),
      ['it.a.1', 'it.a.10', 'it.a.2', 'it.b', 'it.s'],
    );
    assert.deepEqual(seen[4], { key: 'it.s', type: CmapValueType.STRING, length: 4 });
    const all = [];
    for await (const e of h.iter()) all.push(e.key);
    assert.ok(all.includes('itx.z') && all.includes('it.b'));
    assert.deepEqual(
      [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
      all,
    );

    const it = await h.iterInit('it.a.');
    assert.equal((await h.iterNext(it))?.key, 'it.a.1');
    // early break finalizes the daemon-side iterator
    for await (const _e of h.iter('it.')) break;
    assert.equal((await h.iterNext(it))?.key, 'it.a.10');
    assert.equal((await h.iterNext(it))?.key, 'it.a.2');
    assert.equal(await h.iterNext(it), null);
    assert.equal(await h.iterNext(it), null);
    await h.iterFinalize(it);
    await rejectsCode(h.iterNext(it), E.CS_ERR_BAD_HANDLE);
    await rejectsCode(h.iterFinalize(it), E.CS_ERR_BAD_HANDLE);
    await rejectsCode(h.iterNext(12345n), E.CS_ERR_BAD_HANDLE);
  } finally {
    await h.finalize();
  }
});

test('tracking: ADD/MODIFY/DELETE with new and old values; ALL and ONE_NONBLOCKING', async () => {
  const h = await open();
  const other = await open();
  try {
    const got: Array<{
      ev: number;
      key: string;
      nv: CmapNotifyValue;
      ov: CmapNotifyValue;
      ud: unknown;
      th: bigint;
    }> = [];
    const th = await h.trackAdd(
      'trk.',
      CmapTrack.ADD | CmapTrack.MODIFY | CmapTrack.DELETE | CmapTrack.PREFIX,
      (handle, trackHandle, event, keyName, nv, ov, ud) => {
        assert.equal(handle, h);
        got.push({ ev: event, key: keyName, nv, ov, ud, th: trackHandle });
      },
      'user-data',
    );
    await rejectsCode(h.dispatch(CsDispatchFlags.ONE_NONBLOCKING), E.CS_ERR_TRY_AGAIN);
    await h.dispatch(CsDispatchFlags.ALL); // nothing queued: returns

    await h.setUint32('trk.a', 1); // own change
    await h.dispatch(CsDispatchFlags.ALL);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.ev, CmapTrack.ADD);
    assert.equal(got[0]!.key, 'trk.a');
    assert.equal(got[0]!.th, th);
    assert.equal(got[0]!.ud, 'user-data');
    assert.deepEqual(got[0]!.nv, { type: CmapValueType.UINT32, len: 4, data: Buffer.from([1, 0, 0, 0]) });
    assert.deepEqual(got[0]!.ov, { type: 0, len: 0, data: Buffer.alloc(0) });

    await other.setUint32('trk.a', 2); // another connection's change
    await other.setString('trk.s', 'x');
    await other.delete('trk.a');
    await other.setUint32('untracked.key', 1);
    // the other handle's replies do not order our event channel: wait with ONE for the first
    await within(h.dispatch(CsDispatchFlags.ONE), 3000, 'dispatch ONE');
    assert.equal(got.length, 2);
    assert.equal(got[1]!.ev, CmapTrack.MODIFY);
    assert.deepEqual(got[1]!.nv.data, Buffer.from([2, 0, 0, 0]));
    assert.deepEqual(got[1]!.ov.data, Buffer.from([1, 0, 0, 0]));
    await within(h.dispatch(CsDispatchFlags.ONE), 3000, 'dispatch ONE');
    assert.equal(got[2]!.ev, CmapTrack.ADD);
    assert.deepEqual(got[2]!.nv, { type: CmapValueType.STRING, len: 2, data: Buffer.from('x\0') });
    await within(h.dispatch(CsDispatchFlags.ONE), 3000, 'dispatch ONE');
    assert.equal(got[3]!.ev, CmapTrack.DELETE);
    assert.deepEqual(got[3]!.nv, { type: 0, len: 0, data: Buffer.alloc(0) });
    assert.deepEqual(got[3]!.ov.data, Buffer.from([2, 0, 0, 0]));
    await rejectsCode(h.dispatch(CsDispatchFlags.ONE_NONBLOCKING), E.CS_ERR_TRY_AGAIN);

    // ONE_NONBLOCKING runs exactly one of several queued notifications
    await h.setUint32('trk.b', 1);
    await h.setUint32('trk.b', 2);
    assert.equal(h.pendingNotifications, 2);
    await h.dispatch(CsDispatchFlags.ONE_NONBLOCKING);
    assert.equal(got.length, 5);
    assert.equal(h.pendingNotifications, 1);
    await h.dispatch(CsDispatchFlags.ONE_NONBLOCKING);
    assert.equal(got.length, 6);

    // setting the same value again notifies nothing
    await h.setUint32('trk.b', 2);
    await h.dispatch(CsDispatchFlags.ALL);
    assert.equal(got.length, 6);

    // exact-key tracker; after trackDelete, queued and later notifications are dropped
    const exact: string[] = [];
    const th2 = await h.trackAdd('trk.exact', CmapTrack.ADD | CmapTrack.MODIFY, (_h, _t, ev, key) =>
      exact.push(`${ev}:${key}`),
    );
    await h.setUint8('trk.exact', 1);
    await h.setUint8('trk.exact.child', 1);
    await h.trackDelete(th2);
    await h.trackDelete(th);
    await h.dispatch(CsDispatchFlags.ALL);
    assert.deepEqual(exact, []);
    assert.equal(got.length, 6);
    await rejectsCode(h.trackDelete(th), E.CS_ERR_BAD_HANDLE);
    await rejectsCode(
      h.trackAdd('trk.', 16, () => undefined),
      E.CS_ERR_INVALID_PARAM,
    );

    // exact key, then add with value
    const exact2: string[] = [];
    await h.trackAdd('trk.exact2', CmapTrack.ADD, (_h, _t, ev, key) => exact2.push(`${ev}:${key}`));
    await h.setUint8('trk.exact2', 1);
    await h.setUint8('trk.exact2', 2); // MODIFY not in mask
    await h.dispatch(CsDispatchFlags.ALL);
    assert.deepEqual(exact2, ['4:trk.exact2']);
  } finally {
    await h.finalize();
    await other.finalize();
  }
});

test('dispatch BLOCKING runs until a callback finalizes; ONE waits for the next event', async () => {
  const h = await open();
  const writer = await open();
  try {
    const keys: string[] = [];
    await h.trackAdd('blk.', CmapTrack.ADD | CmapTrack.PREFIX, (handle, _t, _e, key) => {
      keys.push(key);
      if (keys.length === 3) void handle.finalize();
    });
    const blocking = early(h.dispatch(CsDispatchFlags.BLOCKING));
    for (const k of ['blk.1', 'blk.2', 'blk.3']) await writer.setUint8(k, 1);
    await within(rejectsCode(blocking, E.CS_ERR_BAD_HANDLE), 3000, 'blocking dispatch');
    assert.deepEqual(keys, ['blk.1', 'blk.2', 'blk.3']);

    const h2 = await open();
    try {
      const seen: string[] = [];
      await h2.trackAdd('one.', CmapTrack.ADD | CmapTrack.PREFIX, (_h, _t, _e, key) => seen.push(key));
      const one = early(h2.dispatch(CsDispatchFlags.ONE));
      await writer.setUint8('one.a', 1);
      await within(one, 3000, 'dispatch ONE');
      assert.deepEqual(seen, ['one.a']);
      // a pending ONE ends with BAD_HANDLE when the handle is finalized meanwhile
      const waiting = early(h2.dispatch(CsDispatchFlags.ONE));
      await h2.finalize();
      await within(rejectsCode(waiting, E.CS_ERR_BAD_HANDLE), 3000, 'finalize wakes dispatch');
    } finally {
      await h2.finalize().catch(() => undefined);
    }
    await rejectsCode(h.dispatch(42), E.CS_ERR_BAD_HANDLE);
  } finally {
    await writer.finalize();
  }
});

test('a notification bound pauses the event channel: thousands of notifications, none lost, in order', async () => {
  // 8 queued at most: the handle stops and resumes reading its event channel hundreds of times
  const h = await CmapHandle.initialize(undefined, { runDir: d.runDir, maxQueuedNotifications: 8 });
  const writer = await open();
  try {
    const seen: number[] = [];
    await h.trackAdd('bound.k', CmapTrack.ADD | CmapTrack.MODIFY, (_h, _t, _e, _k, nv) => {
      seen.push(nv.data.readUInt32LE(0));
    });
    const total = 3000;
    const writes = (async () => {
      for (let i = 0; i < total; i++) await writer.setUint32('bound.k', i);
    })();
    // let notifications pile up past the bound before taking any
    await within(writes, 30_000, 'writes');
    // paused near the bound (what one read of the socket held may be queued past it)
    assert.ok(h.pendingNotifications < total / 4, `queued ${h.pendingNotifications}`);
    while (seen.length < total)
      await within(h.dispatch(CsDispatchFlags.ONE), 3000, `notification ${seen.length}`);
    assert.deepEqual(
      seen,
      Array.from({ length: total }, (_, i) => i),
    );
    assert.equal(h.pendingNotifications, 0);
  } finally {
    await writer.finalize();
    await h.finalize().catch(() => undefined);
  }
});

test('notifications() async iterator shares the dispatch queue', async () => {
  const h = await open();
  try {
    await rejectsCode(h.dispatch(7), E.CS_ERR_INVALID_PARAM);
    const th = await h.trackAdd(
      'aiter.',
      CmapTrack.ADD | CmapTrack.MODIFY | CmapTrack.PREFIX,
      () => {
        assert.fail('callbacks are not run by the iterator');
      },
      42,
    );
    const it = h.notifications();
    await h.setUint16('aiter.x', 7);
    await h.setUint16('aiter.x', 8);
    const a = await within(it.next(), 3000, 'iterator next');
    assert.equal(a.done, false);
    assert.equal(a.value.keyName, 'aiter.x');
    assert.equal(a.value.event, CmapTrack.ADD);
    assert.equal(a.value.trackHandle, th);
    assert.equal(a.value.userData, 42);
    const b = await within(it.next(), 3000, 'iterator next');
    assert.equal(b.value.event, CmapTrack.MODIFY);
    assert.deepEqual(b.value.oldValue.data, Buffer.from([7, 0]));
    assert.deepEqual(b.value.newValue.data, Buffer.from([8, 0]));
    const pending = early(it.next());
    await h.finalize();
    assert.equal((await within(pending, 3000, 'iterator end')).done, true);
  } finally {
    await h.finalize().catch(() => undefined);
  }
});

test('stats map: connection keys, read-only, map selection errors', async () => {
  const s = await open(CmapMapKind.STATS);
  try {
    assert.ok((await s.getUint64('stats.ipcs.global.active')) >= 1n);
    const keys: string[] = [];
    for await (const e of s.iter(`stats.ipcs.service0.${process.pid}.`)) keys.push(e.key);
    assert.ok(
      keys.some((k) => k.endsWith('.requests')),
      keys.join(','),
    );
    const req = keys.find((k) => k.endsWith('.requests'))!;
    const before = await s.getUint64(req);
    const after = await s.getUint64(req);
    assert.ok(after > before);
    await rejectsCode(s.setUint8('stats.ipcs.global.active', 1), E.CS_ERR_ACCESS);
    await rejectsCode(s.get('t.str'), E.CS_ERR_NOT_EXIST);
  } finally {
    await s.finalize();
  }
  await rejectsCode(open(5), E.CS_ERR_NOT_EXIST);
  const dflt = await open(CmapMapKind.ICMAP);
  await dflt.setUint8('sel.key', 3);
  assert.equal(await dflt.getUint8('sel.key'), 3);
  await dflt.finalize();
});

test('pipelined requests complete in order', async () => {
  const h = await open();
  try {
    const n = 500;
    const sets = [];
    for (let i = 0; i < n; i++) sets.push(h.setUint32(`pipe.${i}`, i));
    await Promise.all(sets);
    const gets = [];
    for (let i = 0; i < n; i++) gets.push(h.getUint32(`pipe.${i}`));
    const vals = await Promise.all(gets);
    vals.forEach((v, i) => assert.equal(v, i));
  } finally {
    await h.finalize();
  }
});

test('bad input on a socket closes only that connection, logged and counted', async () => {
  const good = await open();
  try {
    await good.setString('safe.key', 'intact');
    const check = async () => assert.equal(await good.getString('safe.key'), 'intact');

    // garbage bytes before any handshake
    const g = await Raw.open();
    g.sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await within(g.closed, 3000, 'garbage closes');
    await d.waitForLog(/warn IPC cmap: .*(frame size|handshake)/);
    await check();

    // oversized frame after a valid setup
    const o = await Raw.open();
    const ost = await o.setup(900001);
    const big = allocRequest(0, 16);
    big.writeInt32LE(2 * 1024 * 1024, 8);
    o.sock.write(big);
    await within(o.closed, 3000, 'oversized closes');
    assert.equal(ost.invalidRequest, 1);
    await d.waitForLog(
      /warn IPC cmap connection \S+ \(pid 900001\) closed: invalid request: frame size 2097152 exceeds the maximum 1048576/,
    );
    await check();

    // unknown request id: corosync answers {id 0, size 24, CS_ERR_INVALID_PARAM}, connection stays
    const u = await Raw.open();
    const ust = await u.setup(900002);
    u.sock.write(allocRequest(77, 16));
    const answer = await u.recv(24);
    assert.equal(answer.readInt32LE(0), 0);
    assert.equal(answer.readInt32LE(8), 24);
    assert.equal(answer.readInt32LE(16), E.CS_ERR_INVALID_PARAM);
    assert.equal(ust.invalidRequest, 1);
    u.sock.write(encodeGetRequest(keyBytes('safe.key'), 0));
    const got = await u.recv(40);
    assert.equal(got.readInt32LE(16), E.CS_OK, 'the connection still serves requests');
    u.destroy();
    await within(u.closed, 3000, 'unknown-id connection closed by the test');
    await check();

    // wrong size for a known id
    const w = await Raw.open();
    const wst = await w.setup(900003);
    w.sock.write(encodeGetRequest(keyBytes('safe.key'), 0).subarray(0, 200).fill(0, 8, 12).fill(200, 8, 9));
    await within(w.closed, 3000, 'wrong size closes');
    assert.equal(wst.invalidRequest, 1);
    await d.waitForLog(/pid 900003\) closed: invalid request: cmap request id 2 has size 200, expected 288/);
    await check();

    // truncated frame followed by close
    const t = await Raw.open();
    const tst = await t.setup(900004);
    const half = encodeGetRequest(keyBytes('safe.key'), 0).subarray(0, 100);
    t.sock.end(half);
    await within(t.closed, 3000, 'truncated closes');
    assert.equal(tst.invalidRequest, 1);
    await d.waitForLog(
      /pid 900004\) closed: invalid request: stream ended inside a frame \(100 of 288 bytes/,
    );
    await check();

    // a valid request over a raw connection still works (and its reply is exact)
    const v = await Raw.open();
    await v.setup(900005);
    v.sock.write(encodeGetRequest(keyBytes('safe.key'), 16));
    const reply = await v.recv(56);
    assert.equal(reply.readInt32LE(8), 56);
    assert.equal(reply.readInt32LE(16), E.CS_OK);
    assert.equal(reply.subarray(40, 47).toString(), 'intact\0');
    v.destroy();
    await within(v.closed, 3000, 'raw close');

    // event channel with a bogus cookie
    const c = await Raw.open();
    const att = allocRequest(-2, 24);
    att.writeBigUInt64LE(12345n, 16);
    c.sock.write(att);
    const ack = await c.recv(24);
    assert.equal(ack.readInt32LE(16), E.CS_ERR_BAD_HANDLE);
    await within(c.closed, 3000, 'bad cookie closes');
    await check();
  } finally {
    await good.finalize();
  }
});

test('unreachable daemon and refused admission give CsError codes', async () => {
  await rejectsCode(
    CmapHandle.initialize(undefined, { runDir: join(tmpdir(), 'no-such-corosync-ts-run-dir') }),
    E.CS_ERR_LIBRARY,
  );
  const refusing = await startIpcDaemon({ admit: () => E.CS_ERR_TRY_AGAIN });
  try {
    await rejectsCode(CmapHandle.initialize(undefined, { runDir: refusing.runDir }), E.CS_ERR_TRY_AGAIN);
  } finally {
    await refusing.close();
  }
});

test('daemon shutdown: pending and later calls fail with CS_ERR_LIBRARY; exit hooks run', async () => {
  const own = await startIpcDaemon();
  const h = await CmapHandle.initialize(undefined, { runDir: own.runDir });
  try {
    await h.trackAdd('x.', CmapTrack.ADD | CmapTrack.PREFIX, () => undefined);
    const blocking = early(h.dispatch(CsDispatchFlags.BLOCKING));
    const stats = own.stats.ipcConnections();
    assert.equal(stats.length, 1);
    await own.close();
    assert.equal(own.stats.ipcConnections().length, 0);
    await within(rejectsCode(blocking, E.CS_ERR_LIBRARY), 3000, 'blocking dispatch ends');
    await rejectsCode(h.get('x.y'), E.CS_ERR_LIBRARY);
    await rejectsCode(h.dispatch(CsDispatchFlags.ALL), E.CS_ERR_LIBRARY);
  } finally {
    await h.finalize();
    await own.close();
  }
});
