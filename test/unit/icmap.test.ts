/** Focused tests of the Icmap rules of spec/cmap.md §1–§2. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Icmap, addWrapped, icmapIpcView, isValidKeyName } from '../../src/cmap/icmap.js';
import { TrackFlags, type TrackEvent } from '../../src/cmap/map.js';
import {
  CORE_RO_KEYS,
  CORE_RO_PREFIXES,
  VOTEQUORUM_RO_KEYS,
  installDefaultReadOnlyKeys,
} from '../../src/cmap/ro-keys.js';
import { CmapValueType as T, MAX_VALUE_LEN } from '../../src/cmap/types.js';
import { CsErrorCode as E } from '../../src/common/errors.js';

const ALL = TrackFlags.ADD | TrackFlags.MODIFY | TrackFlags.DELETE;

function errCode(fn: () => void): number {
  try {
    fn();
  } catch (err) {
    return (err as { code: number }).code;
  }
  return E.CS_OK;
}

const str = (s: string): Buffer => Buffer.from(s, 'latin1');
const u8 = (n: number): Buffer => Buffer.from([n]);

function recorder(): { events: string[]; cb: (name: string) => (ev: TrackEvent) => void } {
  const events: string[] = [];
  return {
    events,
    cb: (name) => (ev) => {
      const fmt = (v: TrackEvent['newValue']): string => (v ? `${v.type}:${v.bytes.toString('hex')}` : '-');
      events.push(`${name} ${ev.event} ${ev.key} new=${fmt(ev.newValue)} old=${fmt(ev.oldValue)}`);
    },
  };
}

describe('icmap key names', () => {
  it('accepts 3..255 characters of [a-zA-Z0-9._-/:]', () => {
    const m = new Icmap();
    m.set('aZ0._-/:', T.UINT8, u8(1));
    m.set('abc', T.UINT8, u8(1));
    m.set('k'.repeat(255), T.UINT8, u8(1));
    assert.equal(m.size, 3);
    assert.ok(isValidKeyName('a:b/c-d_e.f'));
  });

  it('rejects short, long and bad-character keys with CS_ERR_NAME_TOO_LONG', () => {
    const m = new Icmap();
    for (const k of ['', 'a', 'ab', 'k'.repeat(256), 'a b', 'abc!', 'näme', 'ab\u0000c', 'a,b', 'a*b']) {
      assert.equal(
        errCode(() => m.set(k, T.UINT8, u8(1))),
        E.CS_ERR_NAME_TOO_LONG,
        JSON.stringify(k),
      );
    }
    assert.equal(m.size, 0);
  });

  it('checks the value before the name', () => {
    const m = new Icmap();
    assert.equal(
      errCode(() => m.set('ab', T.UINT8, Buffer.alloc(2))),
      E.CS_ERR_INVALID_PARAM,
    );
  });
});

describe('icmap values', () => {
  it('stores strings NUL-terminated, with or without the NUL given', () => {
    const m = new Icmap();
    m.set('s.a', T.STRING, str('abc'));
    m.set('s.b', T.STRING, str('abc\0'));
    m.set('s.c', T.STRING, Buffer.alloc(0));
    m.set('s.d', T.STRING, Buffer.from([0]));
    assert.deepEqual(m.get('s.a')?.bytes, str('abc\0'));
    assert.deepEqual(m.get('s.b')?.bytes, str('abc\0'));
    assert.deepEqual(m.get('s.c')?.bytes, Buffer.from([0]));
    assert.deepEqual(m.get('s.d')?.bytes, Buffer.from([0]));
    assert.equal(m.iterNext('s.a', undefined)?.length, 4);
    assert.deepEqual(m.getValue('s.a'), { type: T.STRING, value: 'abc' });
  });

  it('rejects strings with bytes after an embedded NUL', () => {
    const m = new Icmap();
    assert.equal(
      errCode(() => m.set('s.x', T.STRING, str('ab\0c'))),
      E.CS_ERR_INVALID_PARAM,
    );
    assert.equal(
      errCode(() => m.set('s.x', T.STRING, str('abc\0\0'))),
      E.CS_ERR_INVALID_PARAM,
    );
    assert.equal(
      errCode(() => m.set('s.x', T.STRING, str('\0\0'))),
      E.CS_ERR_INVALID_PARAM,
    );
    assert.equal(m.has('s.x'), false);
  });

  it('limits values to 16384 bytes', () => {
    const m = new Icmap();
    assert.equal(MAX_VALUE_LEN, 16384);
    m.set('bin.max', T.BINARY, Buffer.alloc(16384, 1));
    assert.equal(
      errCode(() => m.set('bin.over', T.BINARY, Buffer.alloc(16385, 1))),
      E.CS_ERR_INVALID_PARAM,
    );
    // A 16384-byte string without NUL is accepted and stored with its NUL (16385 bytes).
    m.set('str.max', T.STRING, Buffer.alloc(16384, 0x41));
    assert.equal(m.get('str.max')?.bytes.length, 16385);
    m.set('str.max2', T.STRING, Buffer.concat([Buffer.alloc(16383, 0x41), Buffer.from([0])]));
    assert.equal(m.get('str.max2')?.bytes.length, 16384);
    assert.equal(
      errCode(() => m.set('str.over', T.STRING, Buffer.alloc(16385, 0x41))),
      E.CS_ERR_INVALID_PARAM,
    );
    m.setValue('str.typed', { type: T.STRING, value: 'B'.repeat(16384) });
    assert.equal(m.get('str.typed')?.bytes.length, 16385);
  });

  it('requires the exact size for fixed types and rejects unknown type codes', () => {
    const m = new Icmap();
    const sizes: Array<[number, number]> = [
      [T.INT8, 1],
      [T.UINT8, 1],
      [T.INT16, 2],
      [T.UINT16, 2],
      [T.INT32, 4],
      [T.UINT32, 4],
      [T.INT64, 8],
      [T.UINT64, 8],
      [T.FLOAT, 4],
      [T.DOUBLE, 8],
    ];
    for (const [type, size] of sizes) {
      m.set(`fixed.${type}`, type, Buffer.alloc(size));
      for (const bad of [0, size - 1, size + 1]) {
        assert.equal(
          errCode(() => m.set(`bad.${type}`, type, Buffer.alloc(bad))),
          E.CS_ERR_INVALID_PARAM,
        );
      }
    }
    for (const type of [0, 13, 255, -1]) {
      assert.equal(
        errCode(() => m.set('unknown.type', type, Buffer.alloc(0))),
        E.CS_ERR_INVALID_PARAM,
      );
    }
    m.set('bin.empty', T.BINARY, Buffer.alloc(0));
    assert.equal(m.get('bin.empty')?.bytes.length, 0);
  });

  it('copies the caller bytes', () => {
    const m = new Icmap();
    const b = Buffer.from([1, 2, 3]);
    m.set('bin.copy', T.BINARY, b);
    b[0] = 9;
    assert.deepEqual([...m.get('bin.copy')!.bytes], [1, 2, 3]);
  });

  it('setValue/getValue round-trip every type', () => {
    const m = new Icmap();
    const values = [
      { type: T.INT8, value: -5 },
      { type: T.UINT8, value: 200 },
      { type: T.INT16, value: -30000 },
      { type: T.UINT16, value: 60000 },
      { type: T.INT32, value: -2000000000 },
      { type: T.UINT32, value: 4000000000 },
      { type: T.INT64, value: -(2n ** 62n) },
      { type: T.UINT64, value: 2n ** 64n - 1n },
      { type: T.FLOAT, value: 1.5 },
      { type: T.DOUBLE, value: Math.PI },
      { type: T.STRING, value: 'hello' },
      { type: T.BINARY, value: Uint8Array.from([0, 1, 0]) },
    ] as const;
    values.forEach((v, i) => m.setValue(`typed.${i}`, v));
    values.forEach((v, i) => assert.deepEqual(m.getValue(`typed.${i}`), v));
    assert.equal(m.getValue('typed.none'), undefined);
    assert.equal(
      errCode(() => m.setValue('typed.x', { type: T.UINT8, value: 256 })),
      E.CS_ERR_INVALID_PARAM,
    );
  });
});

describe('icmap iteration', () => {
  it('walks keys in byte order, a key before its extensions', () => {
    const m = new Icmap();
    const keys = [
      'nodelist.node.2.nodeid',
      'nodelist.node.10.nodeid',
      'nodelist.node.1.nodeid',
      'nodelist.node.0.ring0_addr',
      'nodelist.node.0.nodeid',
      'nodelist.node.0',
      'nodelist.local_node_pos',
      'Zeta.key',
      'a_b.c',
      'a.b.c',
    ];
    for (const k of keys) m.set(k, T.UINT32, Buffer.alloc(4));
    const walk: string[] = [];
    for (let e = m.iterNext('', undefined); e; e = m.iterNext('', e.key)) walk.push(e.key);
    assert.deepEqual(walk, [
      'Zeta.key',
      'a.b.c',
      'a_b.c',
      'nodelist.local_node_pos',
      'nodelist.node.0',
      'nodelist.node.0.nodeid',
      'nodelist.node.0.ring0_addr',
      'nodelist.node.1.nodeid',
      'nodelist.node.10.nodeid',
      'nodelist.node.2.nodeid',
    ]);
  });

  it('uses a plain string prefix', () => {
    const m = new Icmap();
    for (const k of ['totem.interface.0.x', 'totem.interfaceX', 'totem.interfac', 'totem.token']) {
      m.set(k, T.UINT8, u8(0));
    }
    assert.deepEqual(m.keys('totem.interface'), ['totem.interface.0.x', 'totem.interfaceX']);
    assert.deepEqual(m.keys('totem.interface.'), ['totem.interface.0.x']);
    assert.deepEqual(m.keys('nothing'), []);
  });

  it('walks the live map', () => {
    const m = new Icmap();
    for (const k of ['p.a', 'p.c', 'p.e']) m.set(k, T.UINT8, u8(0));
    const first = m.iterNext('p.', undefined)!;
    assert.equal(first.key, 'p.a');
    m.set('p.b', T.UINT8, u8(0)); // after the cursor: appears
    m.set('p.0', T.UINT8, u8(0)); // before the cursor: not seen
    m.delete('p.c'); // removed: disappears
    const rest: string[] = [];
    for (let e = m.iterNext('p.', first.key); e; e = m.iterNext('p.', e.key)) rest.push(e.key);
    assert.deepEqual(rest, ['p.b', 'p.e']);
    // The cursor key itself may have been deleted.
    m.delete('p.b');
    assert.equal(m.iterNext('p.', 'p.b')?.key, 'p.e');
  });

  it('reports type and stored length', () => {
    const m = new Icmap();
    m.set('x.str', T.STRING, str('hey'));
    m.set('x.u64', T.UINT64, Buffer.alloc(8));
    assert.deepEqual(m.iterNext('x.', undefined), { key: 'x.str', type: T.STRING, length: 4 });
    assert.deepEqual(m.iterNext('x.', 'x.str'), { key: 'x.u64', type: T.UINT64, length: 8 });
    assert.equal(m.iterNext('x.', 'x.u64'), undefined);
  });
});

describe('icmap notifications', () => {
  it('sends ADD, MODIFY (with old value) and DELETE (with old value)', () => {
    const m = new Icmap();
    const r = recorder();
    m.trackAdd('k.one', ALL, r.cb('t'));
    m.set('k.one', T.UINT8, u8(1));
    m.set('k.one', T.UINT8, u8(2));
    m.delete('k.one');
    assert.deepEqual(r.events, [
      't 4 k.one new=2:01 old=-',
      't 2 k.one new=2:02 old=2:01',
      't 1 k.one new=- old=2:02',
    ]);
  });

  it('sends nothing when the value is unchanged; a type change counts', () => {
    const m = new Icmap();
    const r = recorder();
    m.set('k.s', T.STRING, str('abc'));
    m.set('k.i', T.INT8, u8(1));
    m.trackAdd('k.', ALL | TrackFlags.PREFIX, r.cb('t'));
    m.set('k.s', T.STRING, str('abc'));
    m.set('k.s', T.STRING, str('abc\0'));
    m.set('k.i', T.INT8, u8(1));
    assert.deepEqual(r.events, []);
    m.set('k.i', T.UINT8, u8(1));
    assert.deepEqual(r.events, ['t 2 k.i new=2:01 old=1:01']);
  });

  it('honours the event mask', () => {
    const m = new Icmap();
    const r = recorder();
    m.trackAdd('k.m', TrackFlags.MODIFY, r.cb('mod'));
    m.trackAdd('k.m', TrackFlags.ADD | TrackFlags.DELETE, r.cb('adddel'));
    m.trackAdd('k.m', 0, r.cb('none'));
    m.set('k.m', T.UINT8, u8(1));
    m.set('k.m', T.UINT8, u8(2));
    m.delete('k.m');
    assert.deepEqual(r.events, [
      'adddel 4 k.m new=2:01 old=-',
      'mod 2 k.m new=2:02 old=2:01',
      'adddel 1 k.m new=- old=2:02',
    ]);
  });

  it('delivers longest prefix first; exact trackers newest first, prefix trackers oldest first', () => {
    const m = new Icmap();
    const r = recorder();
    const P = TrackFlags.PREFIX;
    m.trackAdd(undefined, ALL | P, r.cb('whole'));
    m.trackAdd('a.', ALL | P, r.cb('pA1'));
    m.trackAdd('a.b.c', ALL, r.cb('exact1'));
    m.trackAdd('a.b.', ALL | P, r.cb('pAB1'));
    m.trackAdd('a.b.c', ALL | P, r.cb('pABC'));
    m.trackAdd('a.b.c', ALL, r.cb('exact2'));
    m.trackAdd('a.b.', ALL | P, r.cb('pAB2'));
    m.trackAdd('a.', ALL | P, r.cb('pA2'));
    m.trackAdd('', ALL | P, r.cb('whole2'));
    m.trackAdd('a.b.cd', ALL | P, r.cb('longer')); // not a prefix of a.b.c
    m.trackAdd('a.b', ALL, r.cb('exactParent')); // exact on a shorter key: never for a.b.c
    m.set('a.b.c', T.UINT8, u8(7));
    assert.deepEqual(
      r.events.map((e) => e.split(' ')[0]),
      ['exact2', 'exact1', 'pABC', 'pAB1', 'pAB2', 'pA1', 'pA2', 'whole', 'whole2'],
    );
  });

  it('prefix trackers use a plain string prefix and include the key equal to it', () => {
    const m = new Icmap();
    const r = recorder();
    m.trackAdd('totem.interface', TrackFlags.ADD | TrackFlags.PREFIX, r.cb('p'));
    m.set('totem.interfaceX', T.UINT8, u8(1));
    m.set('totem.interface', T.UINT8, u8(1));
    m.set('totem.interfac', T.UINT8, u8(1));
    assert.deepEqual(
      r.events.map((e) => e.split(' ')[2]),
      ['totem.interfaceX', 'totem.interface'],
    );
  });

  it('key-less trackers without PREFIX never fire', () => {
    const m = new Icmap();
    const r = recorder();
    m.trackAdd(undefined, ALL, r.cb('a'));
    m.trackAdd('', ALL, r.cb('b'));
    m.set('abc', T.UINT8, u8(1));
    m.delete('abc');
    assert.deepEqual(r.events, []);
  });

  it('validates flags and handles', () => {
    const m = new Icmap();
    for (const f of [16, 32, 0x10000, -1, 1.5, 2 ** 32 + 1]) {
      assert.equal(
        errCode(() => m.trackAdd('abc', f, () => {})),
        E.CS_ERR_INVALID_PARAM,
        String(f),
      );
    }
    const h1 = m.trackAdd('abc', 15, () => {});
    const h2 = m.trackAdd('abc', 0, () => {});
    assert.ok(h1 > 0 && h2 > 0 && h1 !== h2);
    m.trackDelete(h1);
    assert.equal(
      errCode(() => m.trackDelete(h1)),
      E.CS_ERR_BAD_HANDLE,
    );
    assert.equal(
      errCode(() => m.trackDelete(12345)),
      E.CS_ERR_BAD_HANDLE,
    );
    assert.equal(m.trackerCount, 1);
  });

  it('fastIncrement sends MODIFY without an old value', () => {
    const m = new Icmap();
    const r = recorder();
    m.set('runtime.services.cpg.0.tx', T.UINT64, Buffer.alloc(8));
    m.trackAdd('runtime.services.', TrackFlags.MODIFY | TrackFlags.PREFIX, r.cb('t'));
    m.fastIncrement('runtime.services.cpg.0.tx');
    m.fastIncrement('runtime.services.cpg.0.tx');
    assert.deepEqual(r.events, [
      't 2 runtime.services.cpg.0.tx new=8:0100000000000000 old=-',
      't 2 runtime.services.cpg.0.tx new=8:0200000000000000 old=-',
    ]);
    assert.equal(
      errCode(() => m.fastIncrement('none.such')),
      E.CS_ERR_NOT_EXIST,
    );
    m.set('s.x', T.STRING, str('x'));
    assert.equal(
      errCode(() => m.fastIncrement('s.x')),
      E.CS_ERR_INVALID_PARAM,
    );
  });

  it('counter: increments in place, tells trackers added later, and follows a replaced or deleted value', () => {
    const m = new Icmap();
    const r = recorder();
    const key = 'runtime.services.cpg.0.rx';
    m.set(key, T.UINT64, Buffer.alloc(8));
    const c = m.counter(key);
    c.increment();
    c.increment();
    assert.equal(m.get(key)!.bytes.toString('hex'), '0200000000000000');
    // a tracker registered after the counter went quiet still hears every increment
    const h = m.trackAdd('runtime.services.', TrackFlags.MODIFY | TrackFlags.PREFIX, r.cb('t'));
    c.increment();
    c.increment();
    assert.deepEqual(r.events, [
      't 2 runtime.services.cpg.0.rx new=8:0300000000000000 old=-',
      't 2 runtime.services.cpg.0.rx new=8:0400000000000000 old=-',
    ]);
    m.trackDelete(h);
    c.increment();
    assert.equal(r.events.length, 2, 'no tracker: no event');
    assert.equal(m.get(key)!.bytes.toString('hex'), '0500000000000000');
    // a value set anew (another type too) is the one counted on
    m.set(key, T.UINT32, Buffer.from('09000000', 'hex'));
    c.increment();
    assert.equal(m.get(key)!.bytes.toString('hex'), '0a000000');
    m.delete(key);
    assert.equal(
      errCode(() => c.increment()),
      E.CS_ERR_NOT_EXIST,
    );
    c.incrementIfPresent();
    assert.equal(m.get(key), undefined, 'incrementIfPresent of a missing key: nothing, no key made');
    m.set(key, T.UINT64, Buffer.alloc(8));
    c.incrementIfPresent();
    assert.equal(m.get(key)!.bytes.toString('hex'), '0100000000000000');
  });

  it('fastIncrement of an untracked counter counts in place; a tracked one hands out values that never change', () => {
    const m = new Icmap();
    const key = 'runtime.services.cpg.2.rx';
    m.set(key, T.UINT64, Buffer.from('feffffff00000000', 'hex'));
    const before = m.get(key)!;
    m.fastIncrement(key);
    m.fastIncrement(key);
    assert.equal(m.get(key), before, 'no tracker: the stored value itself changes');
    assert.deepEqual(
      m.getValue(key),
      { type: T.UINT64, value: 0x1_0000_0000n },
      'the carry reaches the high word',
    );
    const seen: Buffer[] = [];
    m.trackAdd(key, TrackFlags.MODIFY, (ev) => seen.push(ev.newValue!.bytes as Buffer));
    m.fastIncrement(key);
    m.fastIncrement(key);
    assert.deepEqual(
      seen.map((b) => b.toString('hex')),
      ['0100000001000000', '0200000001000000'],
      'each event keeps the value it reported',
    );
    assert.equal(
      before.bytes.toString('hex'),
      '0000000001000000',
      'a value handed out earlier is not changed by tracked steps',
    );
  });

  it('notifies after the change: callbacks see the new state', () => {
    const m = new Icmap();
    const seen: Array<string | undefined> = [];
    m.trackAdd('k.x', ALL, (ev) => seen.push(`${ev.event}:${m.get('k.x')?.bytes.toString('hex') ?? 'gone'}`));
    m.set('k.x', T.UINT8, u8(1));
    m.set('k.x', T.UINT8, u8(2));
    m.delete('k.x');
    assert.deepEqual(seen, ['4:01', '2:02', '1:gone']);
  });
});

describe('icmap re-entrant callbacks', () => {
  it('a tracker deleted by an earlier callback of the same change is skipped', () => {
    const m = new Icmap();
    const calls: string[] = [];
    let hB = 0;
    m.trackAdd('k.', ALL | TrackFlags.PREFIX, () => {
      calls.push('A');
      if (hB) {
        m.trackDelete(hB);
        hB = 0;
      }
    });
    hB = m.trackAdd('k.', ALL | TrackFlags.PREFIX, () => calls.push('B'));
    m.set('k.1', T.UINT8, u8(1));
    m.set('k.2', T.UINT8, u8(1));
    assert.deepEqual(calls, ['A', 'A']);
  });

  it('a tracker may delete itself; a tracker added during delivery gets only later changes', () => {
    const m = new Icmap();
    const calls: string[] = [];
    let added = false;
    const hSelf: { h: number } = { h: 0 };
    hSelf.h = m.trackAdd('k.', ALL | TrackFlags.PREFIX, () => {
      calls.push('self');
      m.trackDelete(hSelf.h);
      if (!added) {
        added = true;
        m.trackAdd('k.', ALL | TrackFlags.PREFIX, (ev) => calls.push(`new:${ev.key}`));
      }
    });
    m.set('k.1', T.UINT8, u8(1));
    m.set('k.2', T.UINT8, u8(1));
    assert.deepEqual(calls, ['self', 'new:k.2']);
  });

  it('changes made by a callback are notified at once, then delivery continues', () => {
    const m = new Icmap();
    const calls: string[] = [];
    m.trackAdd('k.', ALL | TrackFlags.PREFIX, (ev) => {
      calls.push(`first:${ev.event}:${ev.key}:${ev.newValue?.bytes[0]}`);
      if (ev.key === 'k.trigger') m.set('k.echo', T.UINT8, u8(9));
    });
    m.trackAdd('k.', ALL | TrackFlags.PREFIX, (ev) =>
      calls.push(`second:${ev.event}:${ev.key}:${ev.newValue?.bytes[0]}`),
    );
    m.set('k.trigger', T.UINT8, u8(1));
    assert.deepEqual(calls, [
      'first:4:k.trigger:1',
      'first:4:k.echo:9',
      'second:4:k.echo:9',
      'second:4:k.trigger:1',
    ]);
    assert.equal(m.get('k.echo')?.bytes[0], 9);
  });

  it('a throwing callback does not stop the others; the error surfaces after the change', () => {
    const m = new Icmap();
    const calls: string[] = [];
    m.trackAdd('k.', ALL | TrackFlags.PREFIX, () => {
      calls.push('a');
      throw new Error('boom');
    });
    m.trackAdd('k.', ALL | TrackFlags.PREFIX, () => calls.push('b'));
    assert.throws(() => m.set('k.1', T.UINT8, u8(1)), /boom/);
    assert.deepEqual(calls, ['a', 'b']);
    assert.equal(m.get('k.1')?.bytes[0], 1);
  });
});

describe('icmap adjustInt', () => {
  const cases: Array<[string, number, number, bigint, number, bigint]> = [
    // [name, type, width, start (unsigned bits), step, expected (unsigned bits)]
    ['i8 max+1', T.INT8, 1, 0x7fn, 1, 0x80n],
    ['i8 min-1', T.INT8, 1, 0x80n, -1, 0x7fn],
    ['u8 max+1', T.UINT8, 1, 0xffn, 1, 0n],
    ['u8 0-1', T.UINT8, 1, 0n, -1, 0xffn],
    ['u8 +300', T.UINT8, 1, 0n, 300, 44n],
    ['i16 max+1', T.INT16, 2, 0x7fffn, 1, 0x8000n],
    ['u16 max+1', T.UINT16, 2, 0xffffn, 1, 0n],
    ['u16 0-1', T.UINT16, 2, 0n, -1, 0xffffn],
    ['i32 max+1', T.INT32, 4, 0x7fffffffn, 1, 0x80000000n],
    ['u32 max+1', T.UINT32, 4, 0xffffffffn, 1, 0n],
    ['u32 0+min', T.UINT32, 4, 0n, -2147483648, 0x80000000n],
    ['i64 max+1', T.INT64, 8, 0x7fffffffffffffffn, 1, 0x8000000000000000n],
    ['i64 -1+1', T.INT64, 8, 0xffffffffffffffffn, 1, 0n],
    ['u64 max+1', T.UINT64, 8, 0xffffffffffffffffn, 1, 0n],
    ['u64 0-1', T.UINT64, 8, 0n, -1, 0xffffffffffffffffn],
    ['u64 carry', T.UINT64, 8, 0xffffffffn, 1, 0x100000000n],
    ['u64 borrow', T.UINT64, 8, 0x100000000n, -1, 0xffffffffn],
    ['u64 +max32', T.UINT64, 8, 0x180000001n, 2147483647, 0x200000000n],
    ['u64 +max32 wrap', T.UINT64, 8, 0xffffffff80000001n, 2147483647, 0n],
  ];
  const toBytes = (v: bigint, w: number): Buffer => {
    const b = Buffer.alloc(w);
    for (let i = 0; i < w; i++) b[i] = Number((v >> BigInt(8 * i)) & 0xffn);
    return b;
  };
  for (const [name, type, width, start, step, want] of cases) {
    it(`wraps: ${name}`, () => {
      const m = new Icmap();
      const r = recorder();
      m.set('adj.key', type, toBytes(start, width));
      m.trackAdd('adj.key', TrackFlags.MODIFY, r.cb('t'));
      m.adjustInt('adj.key', step);
      assert.deepEqual(m.get('adj.key')?.bytes, toBytes(want, width));
      assert.equal(m.get('adj.key')?.type, type);
      assert.deepEqual(r.events, [
        `t 2 adj.key new=${type}:${toBytes(want, width).toString('hex')} old=${type}:${toBytes(start, width).toString('hex')}`,
      ]);
      assert.deepEqual(addWrapped(toBytes(start, width), width, step), toBytes(want, width));
    });
  }

  it('rejects non-integer types, missing keys and bad steps; a no-op step is silent', () => {
    const m = new Icmap();
    m.set('f.flt', T.FLOAT, Buffer.alloc(4));
    m.set('f.dbl', T.DOUBLE, Buffer.alloc(8));
    m.set('f.str', T.STRING, str('1'));
    m.set('f.bin', T.BINARY, Buffer.alloc(4));
    for (const k of ['f.flt', 'f.dbl', 'f.str', 'f.bin']) {
      assert.equal(
        errCode(() => m.adjustInt(k, 1)),
        E.CS_ERR_INVALID_PARAM,
        k,
      );
    }
    assert.equal(
      errCode(() => m.adjustInt('f.none', 1)),
      E.CS_ERR_NOT_EXIST,
    );
    m.set('f.u8', T.UINT8, u8(5));
    for (const s of [1.5, 2 ** 31, -(2 ** 31) - 1, NaN]) {
      assert.equal(
        errCode(() => m.adjustInt('f.u8', s)),
        E.CS_ERR_INVALID_PARAM,
        String(s),
      );
    }
    const r = recorder();
    m.trackAdd('f.u8', ALL, r.cb('t'));
    m.adjustInt('f.u8', 0);
    m.adjustInt('f.u8', 256);
    assert.deepEqual(r.events, []);
    assert.equal(m.get('f.u8')?.bytes[0], 5);
  });
});

describe('icmap delete', () => {
  it('CS_ERR_NOT_EXIST for a missing key', () => {
    const m = new Icmap();
    assert.equal(
      errCode(() => m.delete('no.such.key')),
      E.CS_ERR_NOT_EXIST,
    );
    m.set('yes.key', T.UINT8, u8(0));
    m.delete('yes.key');
    assert.equal(m.has('yes.key'), false);
    assert.equal(m.iterNext('', undefined), undefined);
  });
});

describe('icmap read-only list through icmapIpcView', () => {
  it('denies set/delete/adjust of read-only keys with CS_ERR_ACCESS; internal writes still work', () => {
    const m = new Icmap();
    installDefaultReadOnlyKeys(m);
    const v = icmapIpcView(m);
    m.set('totem.cluster_name', T.STRING, str('c1'));
    m.set('runtime.services.cmap.service_id', T.UINT16, Buffer.alloc(2));
    m.set('nodelist.node.0.nodeid', T.UINT32, Buffer.alloc(4));
    for (const k of ['totem.cluster_name', 'runtime.services.cmap.service_id', 'nodelist.node.0.nodeid']) {
      assert.equal(
        errCode(() => v.set(k, T.UINT8, u8(1))),
        E.CS_ERR_ACCESS,
        k,
      );
      assert.equal(
        errCode(() => v.delete(k)),
        E.CS_ERR_ACCESS,
        k,
      );
      assert.equal(
        errCode(() => v.adjustInt(k, 1)),
        E.CS_ERR_ACCESS,
        k,
      );
    }
    // RO is checked first, even for missing keys and invalid values.
    assert.equal(
      errCode(() => v.set('system.none', 99, Buffer.alloc(0))),
      E.CS_ERR_ACCESS,
    );
    assert.equal(
      errCode(() => v.delete('quorum.wait_for_all')),
      E.CS_ERR_ACCESS,
    );
    // Reads and iteration are allowed.
    assert.deepEqual(v.get('totem.cluster_name')?.bytes, str('c1\0'));
    assert.equal(v.iterNext('totem.', undefined)?.key, 'totem.cluster_name');
    // Not read-only: exact keys are exact; prefixes are plain prefixes.
    v.set('totem.cluster_name2', T.STRING, str('x'));
    v.set('totem.token', T.UINT32, Buffer.alloc(4));
    v.set('nodelistX', T.UINT8, u8(1));
    v.set('quorum.expected_votes', T.UINT32, Buffer.alloc(4));
    v.adjustInt('quorum.expected_votes', 3);
    v.delete('nodelistX');
    assert.equal(m.get('quorum.expected_votes')?.bytes[0], 3);
    m.set('totem.cluster_name', T.STRING, str('c2'));
    assert.deepEqual(m.get('totem.cluster_name')?.bytes, str('c2\0'));
  });

  it('installs the whole list of spec §1.3', () => {
    const m = new Icmap();
    installDefaultReadOnlyKeys(m);
    for (const p of CORE_RO_PREFIXES) assert.ok(m.isReadOnly(`${p}anything`), p);
    for (const k of [...CORE_RO_KEYS, ...VOTEQUORUM_RO_KEYS, 'nodelist.local_node_pos'])
      assert.ok(m.isReadOnly(k), k);
    assert.equal(CORE_RO_PREFIXES.length + CORE_RO_KEYS.length + VOTEQUORUM_RO_KEYS.length + 1, 7 + 25);
    assert.equal(m.isReadOnly('totem.keyfil'), false);
    assert.equal(m.isReadOnly('quorum.votes'), false);
    assert.equal(m.isReadOnly('runtime.members.1.ip'), false);
  });

  it('addReadOnly/removeReadOnly report duplicates and misses', () => {
    const m = new Icmap();
    assert.equal(m.addReadOnly('a.b', false), true);
    assert.equal(m.addReadOnly('a.b', false), false);
    assert.equal(m.addReadOnly('a.b', true), true);
    assert.equal(m.isReadOnly('a.bc'), true);
    assert.equal(m.removeReadOnly('a.b', true), true);
    assert.equal(m.isReadOnly('a.bc'), false);
    assert.equal(m.isReadOnly('a.b'), true);
    assert.equal(m.removeReadOnly('a.b', false), true);
    assert.equal(m.removeReadOnly('a.b', false), false);
    assert.equal(m.isReadOnly('a.b'), false);
  });

  it('delegates tracking through the view', () => {
    const m = new Icmap();
    const v = icmapIpcView(m);
    const r = recorder();
    const h = v.trackAdd('v.k', ALL, r.cb('v'));
    m.set('v.k', T.UINT8, u8(1));
    v.trackDelete(h);
    m.set('v.k', T.UINT8, u8(2));
    assert.deepEqual(r.events, ['v 4 v.k new=2:01 old=-']);
    assert.equal(
      errCode(() => v.trackAdd('v.k', 64, () => {})),
      E.CS_ERR_INVALID_PARAM,
    );
  });
});
