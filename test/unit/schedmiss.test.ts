/** Tests of the schedmiss detector (src/daemon/schedmiss.ts) and the stats.schedmiss.* keys. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SchedMissDetector, formatMs4, type SchedMissDeps } from '../../src/daemon/schedmiss.js';
import { MAX_SCHEDMISS_EVENTS, StatsMap } from '../../src/cmap/stats.js';
import { TrackFlags, type TrackEvent } from '../../src/cmap/map.js';
import { CmapValueType as T } from '../../src/cmap/types.js';

const MS = 1_000_000n;

interface Harness {
  det: SchedMissDetector;
  warns: string[];
  events: [number, number][];
  timers: { ms: number; fn: () => void; cancelled: boolean }[];
  clock: { mono: bigint; wall: number; token: number };
  /** Advances the fake clocks by `ms` and fires the pending timer. */
  fire(ms: number): void;
}

function harness(token = 1000, extra: Partial<SchedMissDeps> = {}): Harness {
  const warns: string[] = [];
  const events: [number, number][] = [];
  const timers: Harness['timers'] = [];
  const clock = { mono: 5_000n * MS, wall: 1_700_000_000_000, token };
  const det = new SchedMissDetector({
    monotonicNs: () => clock.mono,
    wallMs: () => clock.wall,
    warn: (m) => warns.push(m),
    tokenTimeoutMs: () => clock.token,
    setTimer: (ms, fn) => {
      const t = { ms, fn, cancelled: false };
      timers.push(t);
      return () => {
        t.cancelled = true;
      };
    },
    addEvent: (ts, d) => events.push([ts, d]),
    ...extra,
  });
  return {
    det,
    warns,
    events,
    timers,
    clock,
    fire(ms: number) {
      const t = timers[timers.length - 1]!;
      assert.equal(t.cancelled, false);
      clock.mono += BigInt(Math.round(ms * 1e6));
      clock.wall += Math.round(ms);
      t.fn();
    },
  };
}

describe('schedmiss detector', () => {
  it('first call is silent and arms the timer for token/3 with threshold token*0.8', () => {
    const h = harness(1000);
    h.det.start();
    assert.deepEqual(h.warns, []);
    assert.deepEqual(h.events, []);
    assert.equal(h.timers.length, 1);
    assert.equal(h.timers[0]!.ms, 333.333333);
    assert.equal(h.det.thresholdNs, 800n * MS);
  });

  it('reports a delay above token*0.8 with corosync text and a float delay', () => {
    const h = harness(1000);
    h.det.start();
    h.fire(333);
    assert.deepEqual(h.warns, []);
    h.clock.mono += 1234n * MS + 567_891n; // 1234.567891 ms more
    h.clock.wall += 1234;
    h.timers[h.timers.length - 1]!.fn();
    const wall = h.clock.wall;
    assert.deepEqual(h.warns, [
      // (float)1234567891 ns = 1234567936 → 1234.567936 ms, as C's `(float)tv_diff / 1e6`.
      `Corosync main process was not scheduled (@${wall}) for 1234.5680 ms (threshold is 800.0000 ms). ` +
        'Consider token timeout increase.',
    ]);
    assert.equal(h.events.length, 1);
    assert.equal(h.events[0]![0], wall);
    assert.equal(h.events[0]![1], Math.fround(1234567936 / 1e6));
    assert.equal(h.timers.length, 3);
  });

  it('does not report a delay at or below the threshold', () => {
    const h = harness(1000);
    h.det.start();
    h.fire(800); // == threshold: not >
    h.fire(500);
    h.fire(799.999);
    assert.deepEqual(h.warns, []);
    h.fire(800.001);
    assert.equal(h.warns.length, 1);
  });

  it('a token change takes effect at the next re-arm', () => {
    const h = harness(1000);
    h.det.start();
    h.clock.token = 3000;
    // This run still checks against 800 ms, then sets 2400 ms and re-arms for 1000 ms.
    h.fire(900);
    assert.equal(h.warns.length, 1);
    assert.match(h.warns[0]!, /for 900\.0000 ms \(threshold is 800\.0000 ms\)/);
    assert.equal(h.timers[h.timers.length - 1]!.ms, 1000);
    assert.equal(h.det.thresholdNs, 2400n * MS);
    h.fire(2000);
    assert.equal(h.warns.length, 1);
    h.fire(2500);
    assert.equal(h.warns.length, 2);
    assert.match(h.warns[1]!, /threshold is 2400\.0000 ms/);
  });

  it('accepts a number monotonic clock; stop cancels the pending timer', () => {
    let mono = 1e9;
    const warns: string[] = [];
    let pending: { cancelled: boolean } | undefined;
    const det = new SchedMissDetector({
      monotonicNs: () => mono,
      wallMs: () => 42.9,
      warn: (m) => warns.push(m),
      tokenTimeoutMs: () => 10,
      setTimer: (_ms, _fn) => {
        const t = { cancelled: false };
        pending = t;
        return () => {
          t.cancelled = true;
        };
      },
    });
    det.start();
    mono += 9e6;
    det.stop();
    assert.equal(pending?.cancelled, true);
    assert.deepEqual(warns, []);
  });

  it('formats like printf %0.4f (ties to even on exact float values)', () => {
    assert.equal(formatMs4(0), '0.0000');
    assert.equal(formatMs4(800), '800.0000');
    assert.equal(formatMs4(0.03125), '0.0312');
    assert.equal(formatMs4(0.09375), '0.0938');
    assert.equal(formatMs4(Math.fround(1234.567891)), '1234.5679');
    assert.equal(formatMs4(Math.fround(0.00004)), '0.0000');
  });
});

const u64 = (s: StatsMap, k: string): bigint | undefined => s.get(k)?.bytes.readBigUInt64LE(0);
const f32 = (s: StatsMap, k: string): number | undefined => s.get(k)?.bytes.readFloatLE(0);

describe('stats.schedmiss keys', () => {
  it('no keys before the first event; UINT64 timestamp and FLOAT delay', () => {
    const s = new StatsMap();
    assert.deepEqual(s.keys('stats.schedmiss'), []);
    s.addSchedMiss(1_700_000_000_123, 1234.567891);
    assert.deepEqual(s.keys('stats.schedmiss'), ['stats.schedmiss.0.delay', 'stats.schedmiss.0.timestamp']);
    const ts = s.get('stats.schedmiss.0.timestamp')!;
    assert.equal(ts.type, T.UINT64);
    assert.equal(ts.bytes.length, 8);
    assert.equal(u64(s, 'stats.schedmiss.0.timestamp'), 1_700_000_000_123n);
    const d = s.get('stats.schedmiss.0.delay')!;
    assert.equal(d.type, T.FLOAT);
    assert.equal(d.bytes.length, 4);
    assert.equal(f32(s, 'stats.schedmiss.0.delay'), Math.fround(1234.567891));
    assert.equal(s.get('stats.schedmiss.1.delay'), undefined);
  });

  it('newest first, at most 10 events', () => {
    const s = new StatsMap();
    for (let i = 1; i <= 12; i++) s.addSchedMiss(1000 + i, i + 0.5);
    assert.equal(MAX_SCHEDMISS_EVENTS, 10);
    assert.equal(s.keys('stats.schedmiss.').length, 20);
    assert.equal(u64(s, 'stats.schedmiss.0.timestamp'), 1012n);
    assert.equal(f32(s, 'stats.schedmiss.0.delay'), 12.5);
    assert.equal(u64(s, 'stats.schedmiss.9.timestamp'), 1003n);
    assert.equal(f32(s, 'stats.schedmiss.9.delay'), 3.5);
    assert.equal(s.get('stats.schedmiss.10.timestamp'), undefined);
    assert.deepEqual(
      s.schedMisses().map((e) => e.timestamp),
      [1012, 1011, 1010, 1009, 1008, 1007, 1006, 1005, 1004, 1003],
    );
  });

  it('keys appear as events are added; iteration lists them with their sizes', () => {
    const s = new StatsMap();
    s.addSchedMiss(1, 1);
    s.addSchedMiss(2, 2);
    const walk: string[] = [];
    for (let e = s.iterNext('stats.schedmiss.', undefined); e; e = s.iterNext('stats.schedmiss.', e.key)) {
      walk.push(`${e.key}:${e.type}:${e.length}`);
    }
    assert.deepEqual(walk, [
      `stats.schedmiss.0.delay:${T.FLOAT}:4`,
      `stats.schedmiss.0.timestamp:${T.UINT64}:8`,
      `stats.schedmiss.1.delay:${T.FLOAT}:4`,
      `stats.schedmiss.1.timestamp:${T.UINT64}:8`,
    ]);
    assert.ok(s.keys('stats.').includes('stats.schedmiss.1.timestamp'));
    assert.equal(u64(s, 'stats.schedmiss.1.timestamp'), 1n);
    assert.equal(s.isReadOnly('stats.schedmiss.0.delay'), true);
  });

  it('stats.clear.schedmiss and stats.clear.all remove the keys and reset', () => {
    for (const clearKey of ['stats.clear.schedmiss', 'stats.clear.all']) {
      const s = new StatsMap();
      s.addSchedMiss(1, 1);
      s.addSchedMiss(2, 2);
      s.set(clearKey, T.UINT8, Buffer.from([1]));
      assert.deepEqual(s.keys('stats.schedmiss'), [], clearKey);
      assert.deepEqual(s.schedMisses(), []);
      assert.deepEqual(s.keys(), ['stats.ipcs.global.active', 'stats.ipcs.global.closed']);
      s.addSchedMiss(3, 3);
      assert.deepEqual(s.keys('stats.schedmiss'), ['stats.schedmiss.0.delay', 'stats.schedmiss.0.timestamp']);
      assert.equal(u64(s, 'stats.schedmiss.0.timestamp'), 3n);
    }
  });

  it('other clears keep the schedmiss keys', () => {
    const s = new StatsMap();
    s.addSchedMiss(1, 1);
    s.set('stats.clear.ipc', T.UINT8, Buffer.from([1]));
    s.set('stats.clear.totem', T.UINT8, Buffer.from([1]));
    s.set('stats.clear.knet', T.UINT8, Buffer.from([1]));
    assert.equal(s.keys('stats.schedmiss').length, 2);
  });

  it('trackers never get notifications for schedmiss keys', () => {
    const s = new StatsMap();
    const seen: TrackEvent[] = [];
    const cb = (ev: TrackEvent): void => {
      seen.push(ev);
    };
    const all = TrackFlags.ADD | TrackFlags.DELETE | TrackFlags.MODIFY;
    s.trackAdd('stats.', all | TrackFlags.PREFIX, cb);
    s.trackAdd(undefined, all | TrackFlags.PREFIX, cb);
    s.addSchedMiss(1, 1);
    s.trackAdd('stats.schedmiss.0.delay', all, cb);
    s.trackAdd('stats.schedmiss.0.timestamp', TrackFlags.MODIFY, cb);
    s.trackAdd('stats.schedmiss.1.timestamp', all, cb);
    s.addSchedMiss(2, 2); // new keys .1.*, values of .0.* change
    s.poll();
    s.set('stats.clear.schedmiss', T.UINT8, Buffer.from([1]));
    s.addSchedMiss(3, 3);
    s.poll();
    assert.deepEqual(seen, []);
  });

  it('the detector feeds the stats map', () => {
    const s = new StatsMap();
    const h = harness(1000, { addEvent: (ts, d) => s.addSchedMiss(ts, d) });
    h.det.start();
    h.fire(1500);
    assert.equal(u64(s, 'stats.schedmiss.0.timestamp'), BigInt(h.clock.wall));
    assert.equal(f32(s, 'stats.schedmiss.0.delay'), 1500);
  });
});
