/** Tests of the stats map (spec/cmap.md §5). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  IPC_CONNECTION_KEY_NAMES,
  StatsMap,
  createIpcConnectionStats,
  type IpcConnectionStats,
  type StatsClearTarget,
} from '../../src/cmap/stats.js';
import { TrackFlags, type TrackEvent } from '../../src/cmap/map.js';
import { CmapValueType as T, type StoredValue } from '../../src/cmap/types.js';
import { CsErrorCode as E } from '../../src/common/errors.js';

const P = TrackFlags.PREFIX;
const A = TrackFlags.ADD;
const D = TrackFlags.DELETE;
const M = TrackFlags.MODIFY;

function errCode(fn: () => void): number {
  try {
    fn();
  } catch (err) {
    return (err as { code: number }).code;
  }
  return E.CS_OK;
}

const u64 = (v: StoredValue | undefined): bigint | undefined => v?.bytes.readBigUInt64LE(0);

function recorder(): { events: string[]; raw: TrackEvent[]; cb: (name: string) => (ev: TrackEvent) => void } {
  const events: string[] = [];
  const raw: TrackEvent[] = [];
  return {
    events,
    raw,
    cb: (name) => (ev) => {
      raw.push(ev);
      const fmt = (v: StoredValue | undefined): string => (v ? `${v.type}:${v.bytes.toString('hex')}` : '-');
      events.push(`${name} ${ev.event} ${ev.key} new=${fmt(ev.newValue)} old=${fmt(ev.oldValue)}`);
    },
  };
}

function conn(s: StatsMap, service = 2, pid = 1234, procname = 'corosync-cmapct'): IpcConnectionStats {
  return createIpcConnectionStats({ service, pid, token: s.allocIpcToken(), procname });
}

describe('stats map: IPC keys', () => {
  it('has the global keys from the start', () => {
    const s = new StatsMap();
    assert.deepEqual(s.keys(), ['stats.ipcs.global.active', 'stats.ipcs.global.closed']);
    assert.equal(s.get('stats.ipcs.global.active')?.type, T.UINT64);
    assert.equal(u64(s.get('stats.ipcs.global.active')), 0n);
    assert.equal(s.get('stats.ipcs.global.nope'), undefined);
  });

  it('adds the 13 per-connection keys with the types of spec §5.1', () => {
    const s = new StatsMap();
    const c = conn(s, 0, 4242, 'pacemakerd');
    s.addIpcConnection(c);
    const prefix = `stats.ipcs.service0.4242.${c.token}.`;
    assert.equal(StatsMap.ipcKeyPrefix(c), prefix);
    const expected: Record<string, number> = {
      queueing: T.INT32,
      queued: T.UINT32,
      sent: T.UINT32,
      flow_control: T.UINT32,
      invalid_request: T.UINT64,
      overload: T.UINT64,
      requests: T.UINT64,
      responses: T.UINT64,
      dispatched: T.UINT64,
      send_retries: T.UINT64,
      recv_retries: T.UINT64,
      flow_control_count: T.UINT64,
      procname: T.STRING,
    };
    assert.deepEqual([...IPC_CONNECTION_KEY_NAMES].sort(), Object.keys(expected).sort());
    const keys = s.keys(prefix);
    assert.deepEqual(
      keys,
      Object.keys(expected)
        .map((n) => prefix + n)
        .sort(),
    );
    for (const [name, type] of Object.entries(expected)) {
      assert.equal(s.get(prefix + name)?.type, type, name);
    }
    assert.deepEqual(s.get(prefix + 'procname')?.bytes, Buffer.from('pacemakerd\0'));
    assert.equal(u64(s.get('stats.ipcs.global.active')), 1n);
    // Iteration: fixed type size, 0 for the procname string.
    const lens = new Map<string, number>();
    for (let e = s.iterNext(prefix, undefined); e; e = s.iterNext(prefix, e.key)) lens.set(e.key, e.length);
    assert.equal(lens.size, 13);
    assert.equal(lens.get(prefix + 'procname'), 0);
    assert.equal(lens.get(prefix + 'queueing'), 4);
    assert.equal(lens.get(prefix + 'requests'), 8);
  });

  it('reads live counters on every get', () => {
    const s = new StatsMap();
    const c = conn(s);
    s.addIpcConnection(c);
    const k = StatsMap.ipcKeyPrefix(c);
    c.requests = 5;
    c.queueing = -1;
    c.queued = 2 ** 32 + 3; // u32 wraps
    c.dispatched = 2 ** 40 + 7;
    assert.equal(u64(s.get(k + 'requests')), 5n);
    assert.equal(s.get(k + 'queueing')?.bytes.readInt32LE(0), -1);
    assert.equal(s.get(k + 'queued')?.bytes.readUInt32LE(0), 3);
    assert.equal(u64(s.get(k + 'dispatched')), 2n ** 40n + 7n);
    c.requests++;
    assert.equal(u64(s.get(k + 'requests')), 6n);
  });

  it('removes keys on close and counts active/closed', () => {
    const s = new StatsMap();
    const c1 = conn(s);
    const c2 = conn(s);
    assert.notEqual(c1.token, c2.token);
    s.addIpcConnection(c1);
    s.addIpcConnection(c2);
    assert.equal(u64(s.get('stats.ipcs.global.active')), 2n);
    assert.equal(s.removeIpcConnection(c1), true);
    assert.equal(s.removeIpcConnection(c1), false);
    assert.deepEqual(s.keys(StatsMap.ipcKeyPrefix(c1)), []);
    assert.equal(s.keys(StatsMap.ipcKeyPrefix(c2)).length, 13);
    assert.equal(u64(s.get('stats.ipcs.global.active')), 1n);
    assert.equal(u64(s.get('stats.ipcs.global.closed')), 1n);
    assert.deepEqual(s.ipcConnections(), [c2]);
  });

  it('rejects duplicate connections and bad tokens', () => {
    const s = new StatsMap();
    const c = conn(s);
    s.addIpcConnection(c);
    assert.equal(
      errCode(() => s.addIpcConnection(c)),
      E.CS_ERR_EXIST,
    );
    const same = createIpcConnectionStats({ service: c.service, pid: c.pid, token: c.token });
    assert.equal(
      errCode(() => s.addIpcConnection(same)),
      E.CS_ERR_EXIST,
    );
    for (const token of ['1234', '0x', '0xzz', '0x1.2', '']) {
      const bad = createIpcConnectionStats({ service: 1, pid: 1, token });
      assert.equal(
        errCode(() => s.addIpcConnection(bad)),
        E.CS_ERR_INVALID_PARAM,
        token,
      );
    }
  });
});

describe('stats map: writes', () => {
  function withSource(): { s: StatsMap; cleared: StatsClearTarget[] } {
    const s = new StatsMap();
    const cleared: StatsClearTarget[] = [];
    s.registerSource('stats.srp.', {
      keys: () => ['stats.srp.orf_token_rx'],
      get: () => ({ type: T.UINT64, bytes: Buffer.alloc(8) }),
      clear: (t) => cleared.push(t),
    });
    return { s, cleared };
  }

  it('stats.clear.ipc zeroes counters, keeps gauges', () => {
    const { s, cleared } = withSource();
    const c = conn(s);
    s.addIpcConnection(c);
    s.removeIpcConnection(conn(s)); // not registered: no effect
    const other = conn(s);
    s.addIpcConnection(other);
    s.removeIpcConnection(other);
    Object.assign(c, {
      queueing: 1,
      queued: 4,
      sent: 9,
      flowControl: 1,
      invalidRequest: 1,
      overload: 2,
      requests: 3,
      responses: 4,
      dispatched: 5,
      sendRetries: 6,
      recvRetries: 7,
      flowControlCount: 8,
    });
    assert.equal(u64(s.get('stats.ipcs.global.closed')), 1n);
    s.set('stats.clear.ipc', T.UINT8, Buffer.from([1]));
    assert.deepEqual(
      {
        queueing: c.queueing,
        queued: c.queued,
        flowControl: c.flowControl,
        sent: c.sent,
        invalidRequest: c.invalidRequest,
        overload: c.overload,
        requests: c.requests,
        responses: c.responses,
        dispatched: c.dispatched,
        sendRetries: c.sendRetries,
        recvRetries: c.recvRetries,
        flowControlCount: c.flowControlCount,
      },
      {
        queueing: 1,
        queued: 4,
        flowControl: 1,
        sent: 0,
        invalidRequest: 0,
        overload: 0,
        requests: 0,
        responses: 0,
        dispatched: 0,
        sendRetries: 0,
        recvRetries: 0,
        flowControlCount: 0,
      },
    );
    assert.equal(u64(s.get('stats.ipcs.global.closed')), 0n);
    assert.equal(u64(s.get('stats.ipcs.global.active')), 1n);
    assert.deepEqual(cleared, []);
  });

  it('routes clear keys by prefix; type and value are ignored', () => {
    const { s, cleared } = withSource();
    s.set('stats.clear.totem', T.STRING, Buffer.from('x'));
    s.set('stats.clear.knet', 99, Buffer.alloc(0));
    s.set('stats.clear.schedmiss', T.UINT8, Buffer.from([1]));
    assert.deepEqual(cleared, ['totem', 'knet', 'schedmiss']);
    cleared.length = 0;
    const c = conn(s);
    s.addIpcConnection(c);
    c.requests = 10;
    s.set('stats.clear.all', T.UINT8, Buffer.from([1]));
    assert.deepEqual(cleared, ['totem', 'knet', 'schedmiss']);
    assert.equal(c.requests, 0);
    cleared.length = 0;
    c.requests = 10;
    s.set('stats.clear.ipcXYZ', T.UINT8, Buffer.from([1]));
    assert.equal(c.requests, 0);
    s.set('stats.clear.totem.srp', T.UINT8, Buffer.from([1]));
    assert.deepEqual(cleared, ['totem']);
  });

  it('NOT_SUPPORTED for unknown clear keys, ACCESS for everything else', () => {
    const { s } = withSource();
    for (const k of ['stats.clear.', 'stats.clear.foo', 'stats.clear.tot']) {
      assert.equal(
        errCode(() => s.set(k, T.UINT8, Buffer.from([1]))),
        E.CS_ERR_NOT_SUPPORTED,
        k,
      );
    }
    for (const k of [
      'stats.ipcs.global.active',
      'stats.srp.orf_token_rx',
      'stats.clear',
      'foo.bar',
      'stats.new',
    ]) {
      assert.equal(
        errCode(() => s.set(k, T.UINT8, Buffer.from([1]))),
        E.CS_ERR_ACCESS,
        k,
      );
      assert.equal(
        errCode(() => s.delete(k)),
        E.CS_ERR_ACCESS,
        k,
      );
      assert.equal(
        errCode(() => s.adjustInt(k, 1)),
        E.CS_ERR_ACCESS,
        k,
      );
      assert.equal(s.isReadOnly(k), true);
    }
    for (const k of ['stats.clear.all', 'stats.clear.foo']) {
      assert.equal(
        errCode(() => s.delete(k)),
        E.CS_ERR_NOT_SUPPORTED,
        k,
      );
      assert.equal(
        errCode(() => s.adjustInt(k, 1)),
        E.CS_ERR_NOT_SUPPORTED,
        k,
      );
      assert.equal(s.isReadOnly(k), false);
    }
    // The clear keys are not in the map.
    assert.equal(s.get('stats.clear.all'), undefined);
    assert.deepEqual(s.keys('stats.clear'), []);
  });
});

describe('stats map: tracking', () => {
  it('prefix trackers need ADD and DELETE; masks are validated', () => {
    const s = new StatsMap();
    for (const f of [P, P | A, P | D, P | M, P | A | M]) {
      assert.equal(
        errCode(() => s.trackAdd('stats.', f, () => {})),
        E.CS_ERR_NOT_SUPPORTED,
        String(f),
      );
    }
    assert.equal(
      errCode(() => s.trackAdd('stats.', 16 | P | A | D, () => {})),
      E.CS_ERR_INVALID_PARAM,
    );
    const h = s.trackAdd('stats.', P | A | D, () => {});
    assert.ok(h > 0);
    for (const f of [0, M, A, D, A | D | M])
      assert.ok(s.trackAdd('stats.ipcs.global.active', f, () => {}) > 0);
    s.trackDelete(h);
    assert.equal(
      errCode(() => s.trackDelete(h)),
      E.CS_ERR_BAD_HANDLE,
    );
    assert.equal(s.trackerCount, 5);
  });

  it('prefix trackers get ADD/DELETE (new = old = value) when connections come and go', () => {
    const s = new StatsMap();
    const r = recorder();
    s.trackAdd('stats.ipcs.', P | A | D, r.cb('p'));
    const c = conn(s, 1, 77, 'cfgtool');
    c.requests = 3; // before add: the ADD payload carries it
    s.addIpcConnection(c);
    const prefix = StatsMap.ipcKeyPrefix(c);
    assert.deepEqual(
      r.raw.map((e) => e.key),
      IPC_CONNECTION_KEY_NAMES.map((n) => prefix + n),
    );
    assert.ok(r.raw.every((e) => e.event === A && e.newValue === e.oldValue && e.newValue !== undefined));
    const req = r.raw.find((e) => e.key === prefix + 'requests')!;
    assert.equal(u64(req.newValue), 3n);
    const pn = r.raw.find((e) => e.key === prefix + 'procname')!;
    assert.deepEqual(pn.newValue?.bytes, Buffer.from('cfgtool\0'));

    r.raw.length = 0;
    c.requests = 9;
    s.removeIpcConnection(c);
    assert.deepEqual(
      r.raw.map((e) => `${e.event} ${e.key}`),
      IPC_CONNECTION_KEY_NAMES.map((n) => `${D} ${prefix}${n}`),
    );
    const del = r.raw.find((e) => e.key === prefix + 'requests')!;
    assert.equal(u64(del.newValue), 9n);
    assert.equal(u64(del.oldValue), 9n);
  });

  it('exact-key trackers with ADD/DELETE get those events for their key only', () => {
    const s = new StatsMap();
    const r = recorder();
    const token = s.allocIpcToken();
    const key = `stats.ipcs.service2.5.${token}.sent`;
    s.trackAdd(key, A | D, r.cb('exact'));
    s.trackAdd(key, M, r.cb('modonly'));
    const c = createIpcConnectionStats({ service: 2, pid: 5, token });
    s.addIpcConnection(c);
    s.removeIpcConnection(c);
    assert.deepEqual(r.events, [
      `exact 4 ${key} new=6:00000000 old=6:00000000`,
      `exact 1 ${key} new=6:00000000 old=6:00000000`,
    ]);
  });

  it('poll() sends MODIFY (new = old = current) to non-prefix trackers whose value changed', () => {
    const s = new StatsMap();
    const r = recorder();
    const c = conn(s);
    s.addIpcConnection(c);
    const key = StatsMap.ipcKeyPrefix(c) + 'requests';
    s.trackAdd(key, 0, r.cb('mask0')); // polled whatever the mask
    s.trackAdd(key, M, r.cb('mod'));
    s.trackAdd(undefined, M, r.cb('keyless')); // never fires
    s.trackAdd('stats.ipcs.', P | A | D, r.cb('prefix')); // not polled
    s.poll();
    assert.deepEqual(r.events, []);
    c.requests = 2;
    s.poll();
    assert.deepEqual(r.events, [
      `mod 2 ${key} new=8:0200000000000000 old=8:0200000000000000`,
      `mask0 2 ${key} new=8:0200000000000000 old=8:0200000000000000`,
    ]);
    r.events.length = 0;
    s.poll();
    assert.deepEqual(r.events, []);
    c.requests = 3;
    c.requests = 2; // back to the last seen value before the poll: nothing
    s.poll();
    assert.deepEqual(r.events, []);
  });

  it('poll() covers global keys; a missing key starts from zero and is skipped while absent', () => {
    const s = new StatsMap();
    const r = recorder();
    s.trackAdd('stats.ipcs.global.closed', M, r.cb('closed'));
    const token = s.allocIpcToken();
    const key = `stats.ipcs.service3.9.${token}.responses`;
    s.trackAdd(key, M, r.cb('future'));
    s.poll();
    const c = createIpcConnectionStats({ service: 3, pid: 9, token });
    s.addIpcConnection(c);
    s.poll(); // appears with 0: equal to the zero start, nothing
    assert.deepEqual(r.events, []);
    c.responses = 1;
    s.removeIpcConnection(conn(s)); // unknown: no change to closed
    s.poll();
    assert.deepEqual(r.events, [`future 2 ${key} new=8:0100000000000000 old=8:0100000000000000`]);
    r.events.length = 0;
    s.removeIpcConnection(c);
    s.poll();
    assert.deepEqual(r.events, [
      'closed 2 stats.ipcs.global.closed new=8:0100000000000000 old=8:0100000000000000',
    ]);
  });

  it('a tracker deleted by an earlier poll callback is not called', () => {
    const s = new StatsMap();
    const calls: string[] = [];
    const c = conn(s);
    s.addIpcConnection(c);
    const key = StatsMap.ipcKeyPrefix(c) + 'sent';
    const older = s.trackAdd(key, M, () => calls.push('older'));
    s.trackAdd(key, M, () => {
      calls.push('newer');
      s.trackDelete(older);
    });
    c.sent = 1;
    s.poll();
    assert.deepEqual(calls, ['newer']);
  });
});

describe('stats map: sources', () => {
  function srpSource(values: Map<string, number>): {
    keys: () => string[];
    get: (k: string) => StoredValue | undefined;
    clear: (t: StatsClearTarget) => void;
  } {
    return {
      keys: () => [...values.keys()],
      get: (k) => {
        const v = values.get(k);
        if (v === undefined) return undefined;
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(BigInt(v));
        return { type: T.UINT64, bytes: b };
      },
      clear: (t) => {
        if (t === 'totem') for (const k of values.keys()) values.set(k, 0);
      },
    };
  }

  it('merges source keys into iteration and reads them live', () => {
    const s = new StatsMap();
    const vals = new Map([
      ['stats.srp.orf_token_tx', 1],
      ['stats.srp.mcast_rx', 2],
    ]);
    s.registerSource('stats.srp.', srpSource(vals));
    s.registerSource('stats.pg.', {
      keys: () => ['stats.pg.msg_queue_avail'],
      get: () => ({ type: T.UINT32, bytes: Buffer.from([5, 0, 0, 0]) }),
    });
    assert.deepEqual(s.keys(), [
      'stats.ipcs.global.active',
      'stats.ipcs.global.closed',
      'stats.pg.msg_queue_avail',
      'stats.srp.mcast_rx',
      'stats.srp.orf_token_tx',
    ]);
    vals.set('stats.srp.mcast_rx', 42);
    assert.equal(u64(s.get('stats.srp.mcast_rx')), 42n);
    assert.deepEqual(s.iterNext('stats.p', undefined), {
      key: 'stats.pg.msg_queue_avail',
      type: T.UINT32,
      length: 4,
    });
    s.set('stats.clear.totem', T.UINT8, Buffer.from([1]));
    assert.equal(u64(s.get('stats.srp.mcast_rx')), 0n);
  });

  it('announces added/removed keys and unregisters with DELETE events', () => {
    const s = new StatsMap();
    const r = recorder();
    s.trackAdd('stats.knet.', P | A | D, r.cb('p'));
    const vals = new Map([['stats.knet.handle.tx_crypt_packets', 1]]);
    const h = s.registerSource('stats.knet.', srpSource(vals));
    vals.set('stats.knet.node2.link0.mtu', 7);
    h.keysAdded(['stats.knet.node2.link0.mtu']);
    h.keysRemoved(['stats.knet.node2.link0.mtu', 'stats.knet.not.mine']);
    vals.delete('stats.knet.node2.link0.mtu');
    h.unregister();
    h.unregister();
    assert.deepEqual(
      r.raw.map((e) => `${e.event} ${e.key} ${u64(e.newValue)}`),
      [
        '4 stats.knet.handle.tx_crypt_packets 1',
        '4 stats.knet.node2.link0.mtu 7',
        '1 stats.knet.node2.link0.mtu 7',
        '1 stats.knet.handle.tx_crypt_packets 1',
      ],
    );
    assert.deepEqual(s.keys('stats.knet'), []);
  });

  it('rejects keys outside the prefix, duplicates and bad prefixes', () => {
    const s = new StatsMap();
    assert.equal(
      errCode(() => s.registerSource('stats.srp.', srpSource(new Map([['stats.pg.x', 1]])))),
      E.CS_ERR_INVALID_PARAM,
    );
    assert.equal(
      errCode(() => s.registerSource('stats.ipcs.', srpSource(new Map([['stats.ipcs.global.active', 1]])))),
      E.CS_ERR_EXIST,
    );
    assert.equal(
      errCode(() => s.registerSource('other.', srpSource(new Map()))),
      E.CS_ERR_INVALID_PARAM,
    );
    assert.equal(
      errCode(() => s.registerSource('stats.clear.', srpSource(new Map()))),
      E.CS_ERR_INVALID_PARAM,
    );
    const h = s.registerSource('stats.srp.', srpSource(new Map([['stats.srp.a', 1]])));
    assert.equal(
      errCode(() => h.keysAdded(['stats.srp.a'])),
      E.CS_ERR_EXIST,
    );
    assert.deepEqual(s.keys('stats.srp.'), ['stats.srp.a']);
  });

  it('never notifies ADD/DELETE for stats.schedmiss keys', () => {
    const s = new StatsMap();
    const r = recorder();
    s.trackAdd(undefined, P | A | D, r.cb('all'));
    const h = s.registerSource('stats.schedmiss.', srpSource(new Map([['stats.schedmiss.0.timestamp', 1]])));
    assert.deepEqual(s.keys('stats.schedmiss.'), ['stats.schedmiss.0.timestamp']);
    h.unregister();
    assert.deepEqual(r.events, []);
  });

  it('iteration skips a source key that cannot be read', () => {
    const s = new StatsMap();
    s.registerSource('stats.srp.', {
      keys: () => ['stats.srp.a', 'stats.srp.b', 'stats.srp.c'],
      get: (k) => (k === 'stats.srp.b' ? undefined : { type: T.UINT8, bytes: Buffer.from([1]) }),
    });
    const walk: string[] = [];
    for (let e = s.iterNext('stats.srp.', undefined); e; e = s.iterNext('stats.srp.', e.key))
      walk.push(e.key);
    assert.deepEqual(walk, ['stats.srp.a', 'stats.srp.c']);
  });
});
