// The cmap IPC service against a small fake map and a fake connection (no sockets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CsError, CsErrorCode } from '../../src/common/errors.js';
import type { CmapMap, IterEntry, TrackCallback } from '../../src/cmap/map.js';
import type { StoredValue } from '../../src/cmap/types.js';
import {
  CmapReqId,
  decodeGetResponse,
  decodeHandleResponse,
  decodeIterNextResponse,
  decodeNotify,
  encodeAdjustIntRequest,
  encodeDeleteRequest,
  encodeGetRequest,
  encodeHandleRequest,
  encodeIterInitRequest,
  encodeSetCurrentMapRequest,
  encodeSetRequest,
  encodeTrackAddRequest,
  keyBytes,
} from '../../src/ipc/cmap-codec.js';
import type { IpcConnection } from '../../src/ipc/server.js';
import { createCmapService, type CmapConnState } from '../../src/services/cmap/service.js';

const E = CsErrorCode;

/** A fake map: sorted keys, RO prefix `ro.`, synchronous exact/prefix trackers. */
class FakeMap implements CmapMap {
  values = new Map<string, StoredValue>();
  trackers = new Map<number, { key: string | undefined; flags: number; cb: TrackCallback }>();
  private seq = 0;
  throwOnGet: unknown;

  get(key: string): StoredValue | undefined {
    if (this.throwOnGet) throw this.throwOnGet;
    return this.values.get(key);
  }
  set(key: string, type: number, bytes: Uint8Array): void {
    if (key.startsWith('ro.')) throw new CsError(E.CS_ERR_ACCESS);
    if (key.length < 3) throw new CsError(E.CS_ERR_NAME_TOO_LONG);
    const old = this.values.get(key);
    const v = { type, bytes: Buffer.from(bytes) };
    this.values.set(key, v);
    this.fire(old ? 2 : 4, key, v, old);
  }
  delete(key: string): void {
    if (key.startsWith('ro.')) throw new CsError(E.CS_ERR_ACCESS);
    const old = this.values.get(key);
    if (!old) throw new CsError(E.CS_ERR_NOT_EXIST);
    this.values.delete(key);
    this.fire(1, key, undefined, old);
  }
  adjustInt(key: string, step: number): void {
    const old = this.values.get(key);
    if (!old) throw new CsError(E.CS_ERR_NOT_EXIST);
    if (old.type !== 6) throw new CsError(E.CS_ERR_INVALID_PARAM);
    const b = Buffer.alloc(4);
    b.writeUInt32LE((old.bytes.readUInt32LE(0) + step) >>> 0);
    this.values.set(key, { type: 6, bytes: b });
    this.fire(2, key, { type: 6, bytes: b }, old);
  }
  iterNext(prefix: string, after: string | undefined): IterEntry | undefined {
    const keys = [...this.values.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || k > after))
      .sort();
    const k = keys[0];
    if (k === undefined) return undefined;
    const v = this.values.get(k)!;
    return { key: k, type: v.type, length: v.bytes.length };
  }
  trackAdd(key: string | undefined, flags: number, callback: TrackCallback): number {
    if (flags & ~15) throw new CsError(E.CS_ERR_INVALID_PARAM);
    this.trackers.set(++this.seq, { key, flags, cb: callback });
    return this.seq;
  }
  trackDelete(handle: number): void {
    if (!this.trackers.delete(handle)) throw new CsError(E.CS_ERR_BAD_HANDLE);
  }
  private fire(event: 1 | 2 | 4, key: string, newValue?: StoredValue, oldValue?: StoredValue): void {
    for (const t of this.trackers.values()) {
      const match = t.flags & 8 ? key.startsWith(t.key ?? '') : t.key === key;
      if (match && t.flags & event) t.cb({ event, key, newValue, oldValue });
    }
  }
}

class FakeConn implements IpcConnection {
  token = '0x1';
  pid = 1;
  serviceId = 0;
  closed = false;
  maxMsgSize = 1024 * 1024;
  privateData: unknown;
  log: Array<['respond' | 'event', Buffer]> = [];
  respond(frame: Buffer): void {
    this.log.push(['respond', frame]);
  }
  sendEvent(frame: Buffer): void {
    this.log.push(['event', frame]);
  }
  addCloseHook(): void {}
  close(): void {
    this.closed = true;
  }
}

function setup(withStats = true) {
  const icmap = new FakeMap();
  const stats = new FakeMap();
  const logs: string[] = [];
  const logger = {
    debug: () => {},
    info: () => {},
    warn: (m: string) => logs.push(m),
    error: (m: string) => logs.push(m),
  };
  const svc = createCmapService({ icmap, stats: withStats ? stats : undefined, logger, maxIterators: 3 });
  const conn = new FakeConn();
  const st = svc.init(conn);
  conn.privateData = st;
  const call = (frame: Buffer): Buffer => {
    assert.equal(svc.checkRequest(frame), undefined);
    conn.log.length = 0;
    svc.handle(conn, st, frame);
    const responses = conn.log.filter((l) => l[0] === 'respond');
    assert.equal(responses.length, 1, 'exactly one response');
    return responses[0]![1];
  };
  return { icmap, stats, svc, conn, st: st as CmapConnState, call, logs };
}

const err = (b: Buffer) => b.readInt32LE(16);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

test('SET / DELETE / ADJUST: replies are bare 24-byte headers with the map error', () => {
  const { call, icmap } = setup();
  let r = call(encodeSetRequest(keyBytes('a.b'), 6, u32(5)));
  assert.equal(r.length, 24);
  assert.equal(r.readInt32LE(0), 0);
  assert.equal(err(r), E.CS_OK);
  assert.deepEqual(icmap.values.get('a.b'), { type: 6, bytes: u32(5) });
  assert.equal(err(call(encodeSetRequest(keyBytes('ro.x'), 6, u32(5)))), E.CS_ERR_ACCESS);
  assert.equal(err(call(encodeSetRequest(keyBytes('ab'), 6, u32(5)))), E.CS_ERR_NAME_TOO_LONG);
  r = call(encodeAdjustIntRequest(keyBytes('a.b'), -6));
  assert.equal(r.readInt32LE(0), 3);
  assert.equal(icmap.values.get('a.b')!.bytes.readUInt32LE(0), 0xffffffff);
  assert.equal(err(call(encodeAdjustIntRequest(keyBytes('nope'), 1))), E.CS_ERR_NOT_EXIST);
  r = call(encodeDeleteRequest(keyBytes('a.b')));
  assert.equal(r.readInt32LE(0), 1);
  assert.equal(err(r), E.CS_OK);
  assert.equal(err(call(encodeDeleteRequest(keyBytes('a.b')))), E.CS_ERR_NOT_EXIST);
});

test('GET: size 40 + capacity on success; 40 on NOT_EXIST / INVALID_PARAM / TOO_BIG', () => {
  const { call, icmap } = setup();
  icmap.values.set('str.key', { type: 11, bytes: Buffer.from('hello\0') });
  let r = call(encodeGetRequest(keyBytes('str.key'), 16));
  assert.equal(r.length, 56);
  assert.equal(r.readInt32LE(8), 56);
  let d = decodeGetResponse(r);
  assert.equal(d.length, 6);
  assert.equal(d.type, 11);
  assert.equal(d.data.toString(), 'hello\0');
  assert.ok(r.subarray(46).every((b) => b === 0));
  r = call(encodeGetRequest(keyBytes('str.key'), 0));
  assert.equal(r.length, 40);
  d = decodeGetResponse(r);
  assert.equal(d.length, 6);
  assert.equal(d.type, 11);
  r = call(encodeGetRequest(keyBytes('str.key'), 5));
  assert.equal(r.length, 40);
  assert.equal(err(r), E.CS_ERR_INVALID_PARAM);
  assert.equal(r.readBigUInt64LE(24), 0n);
  r = call(encodeGetRequest(keyBytes('missing'), 16));
  assert.equal(r.length, 40);
  assert.equal(err(r), E.CS_ERR_NOT_EXIST);
  r = call(encodeGetRequest(keyBytes('str.key'), 2 ** 40));
  assert.equal(r.length, 40);
  assert.equal(err(r), E.CS_ERR_TOO_BIG);
});

test('unexpected map exceptions become CS_ERR_LIBRARY and are logged', () => {
  const { call, icmap, logs } = setup();
  icmap.throwOnGet = new TypeError('boom');
  const r = call(encodeGetRequest(keyBytes('x.y'), 0));
  assert.equal(err(r), E.CS_ERR_LIBRARY);
  assert.match(logs.join('\n'), /boom/);
});

test('iterators: opaque non-zero handles, live order, NO_SECTIONS at the end, BAD_HANDLE', () => {
  const { call, icmap } = setup();
  for (const k of ['b.2', 'a.1', 'b.1', 'c.1']) icmap.values.set(k, { type: 2, bytes: Buffer.from([1]) });
  let r = call(encodeIterInitRequest(keyBytes('b.')));
  assert.equal(r.length, 32);
  assert.equal(err(r), E.CS_OK);
  const h = decodeHandleResponse(r);
  assert.notEqual(h, 0n);
  assert.notEqual(h >> 32n, 0n);
  const next = () => call(encodeHandleRequest(CmapReqId.ITER_NEXT, h));
  r = next();
  assert.equal(r.length, 304);
  assert.deepEqual(decodeIterNextResponse(r), { error: E.CS_OK, key: 'b.1', length: 1, type: 2 });
  icmap.values.set('b.15', { type: 2, bytes: Buffer.from([1]) }); // live map: appears after cursor
  assert.equal(decodeIterNextResponse(next()).key, 'b.15');
  assert.equal(decodeIterNextResponse(next()).key, 'b.2');
  r = next();
  assert.equal(r.length, 304);
  assert.deepEqual(decodeIterNextResponse(r), { error: E.CS_ERR_NO_SECTIONS, key: '', length: 0, type: 0 });
  icmap.values.set('b.3', { type: 2, bytes: Buffer.from([1]) });
  assert.equal(err(next()), E.CS_ERR_NO_SECTIONS);
  r = call(encodeHandleRequest(CmapReqId.ITER_FINALIZE, h));
  assert.equal(r.length, 24);
  assert.equal(r.readInt32LE(0), 6);
  assert.equal(err(r), E.CS_OK);
  assert.equal(err(call(encodeHandleRequest(CmapReqId.ITER_FINALIZE, h))), E.CS_ERR_BAD_HANDLE);
  assert.equal(err(next()), E.CS_ERR_BAD_HANDLE);
  // whole map
  const all = decodeHandleResponse(call(encodeIterInitRequest(undefined)));
  const keys: string[] = [];
  for (;;) {
    const e = decodeIterNextResponse(call(encodeHandleRequest(CmapReqId.ITER_NEXT, all)));
    if (e.error !== E.CS_OK) break;
    keys.push(e.key);
  }
  assert.deepEqual(keys, ['a.1', 'b.1', 'b.15', 'b.2', 'b.3', 'c.1']);
});

test('iterator limit answers NO_SECTIONS with handle 0', () => {
  const { call } = setup();
  for (let i = 0; i < 3; i++) assert.equal(err(call(encodeIterInitRequest(undefined))), E.CS_OK);
  const r = call(encodeIterInitRequest(undefined));
  assert.equal(err(r), E.CS_ERR_NO_SECTIONS);
  assert.equal(decodeHandleResponse(r), 0n);
});

test('trackers: NOTIFY is queued before the reply of the operation that caused it', () => {
  const { call, conn, svc, st, icmap } = setup();
  let r = call(encodeTrackAddRequest(keyBytes('t.'), 8 | 4 | 2 | 1, 0xabcn));
  assert.equal(r.length, 32);
  assert.equal(err(r), E.CS_OK);
  const th = decodeHandleResponse(r);
  assert.notEqual(th, 0n);

  conn.log.length = 0;
  svc.handle(conn, st, encodeSetRequest(keyBytes('t.k'), 6, u32(7)));
  svc.handle(conn, st, encodeSetRequest(keyBytes('t.k'), 6, u32(8)));
  svc.handle(conn, st, encodeDeleteRequest(keyBytes('t.k')));
  assert.deepEqual(
    conn.log.map((l) => l[0]),
    ['event', 'respond', 'event', 'respond', 'event', 'respond'],
  );
  const evs = conn.log.filter((l) => l[0] === 'event').map((l) => decodeNotify(l[1]));
  for (const e of evs) assert.notEqual(typeof e, 'string');
  const [add, mod, del] = evs as Exclude<(typeof evs)[number], string>[];
  assert.equal(add!.instHandle, 0xabcn);
  assert.equal(add!.event, 4);
  assert.equal(add!.key, 't.k');
  assert.equal(add!.oldValue.type, 0);
  assert.equal(Buffer.from(add!.newValue.bytes).readUInt32LE(0), 7);
  assert.equal(mod!.event, 2);
  assert.equal(Buffer.from(mod!.oldValue.bytes).readUInt32LE(0), 7);
  assert.equal(Buffer.from(mod!.newValue.bytes).readUInt32LE(0), 8);
  assert.equal(del!.event, 1);
  assert.equal(del!.newValue.type, 0);
  assert.equal(del!.newValue.bytes.length, 0);
  assert.equal(Buffer.from(del!.oldValue.bytes).readUInt32LE(0), 8);

  r = call(encodeHandleRequest(CmapReqId.TRACK_DELETE, th));
  assert.equal(r.length, 32);
  assert.equal(err(r), E.CS_OK);
  assert.equal(decodeHandleResponse(r), 0xabcn);
  assert.equal(icmap.trackers.size, 0);
  r = call(encodeHandleRequest(CmapReqId.TRACK_DELETE, th));
  assert.equal(err(r), E.CS_ERR_BAD_HANDLE);
  assert.equal(decodeHandleResponse(r), 0n);
});

test('TRACK_ADD: bad flags from the map, key length 0 = no key', () => {
  const { call, icmap } = setup();
  const r = call(encodeTrackAddRequest(keyBytes('abc'), 16, 1n));
  assert.equal(err(r), E.CS_ERR_INVALID_PARAM);
  assert.equal(decodeHandleResponse(r), 0n);
  assert.equal(err(call(encodeTrackAddRequest(undefined, 8 | 4, 2n))), E.CS_OK);
  assert.equal([...icmap.trackers.values()][0]!.key, undefined);
});

test('SET_CURRENT_MAP: reply id 10, BUSY with open iterators/trackers, NOT_EXIST for unknown maps', () => {
  const { call, stats } = setup();
  stats.values.set('stats.x', { type: 8, bytes: Buffer.alloc(8, 1) });
  const it = decodeHandleResponse(call(encodeIterInitRequest(undefined)));
  const r = call(encodeSetCurrentMapRequest(1));
  assert.equal(r.length, 24);
  assert.equal(r.readInt32LE(0), 10);
  assert.equal(err(r), E.CS_ERR_BUSY);
  call(encodeHandleRequest(CmapReqId.ITER_FINALIZE, it));
  const th = decodeHandleResponse(call(encodeTrackAddRequest(keyBytes('abc'), 4, 1n)));
  assert.equal(err(call(encodeSetCurrentMapRequest(1))), E.CS_ERR_BUSY);
  call(encodeHandleRequest(CmapReqId.TRACK_DELETE, th));
  assert.equal(err(call(encodeSetCurrentMapRequest(7))), E.CS_ERR_NOT_EXIST);
  assert.equal(err(call(encodeSetCurrentMapRequest(1))), E.CS_OK);
  // now GET reads the stats map
  const d = decodeGetResponse(call(encodeGetRequest(keyBytes('stats.x'), 8)));
  assert.equal(d.error, E.CS_OK);
  assert.equal(d.type, 8);
  assert.equal(err(call(encodeSetCurrentMapRequest(0))), E.CS_OK);
  assert.equal(err(call(encodeGetRequest(keyBytes('stats.x'), 8))), E.CS_ERR_NOT_EXIST);
});

test('SET_CURRENT_MAP(1) without a stats map: NOT_EXIST', () => {
  const { call } = setup(false);
  assert.equal(err(call(encodeSetCurrentMapRequest(1))), E.CS_ERR_NOT_EXIST);
});

test('exit (lib_exit) frees trackers and iterators of the connection', () => {
  const { call, svc, conn, st, icmap } = setup();
  call(encodeTrackAddRequest(keyBytes('abc'), 4, 1n));
  call(encodeTrackAddRequest(keyBytes('abd'), 4, 2n));
  call(encodeIterInitRequest(undefined));
  assert.equal(icmap.trackers.size, 2);
  svc.exit(conn, st);
  assert.equal(icmap.trackers.size, 0);
  assert.equal(st.iterators.size, 0);
  assert.equal(st.trackers.size, 0);
});

test('checkRequest rejects wrong sizes; the server answers ids past requestCount', () => {
  const { svc } = setup();
  assert.equal(svc.requestCount, 10);
  assert.match(
    String(svc.checkRequest(encodeDeleteRequest(keyBytes('abc')).subarray(0, 100))),
    /expected 280/,
  );
});
