// Malformed datagrams: every decoder returns a typed failure naming what was wrong and never
// throws, for truncation at every byte, bad magic/version/type, counts that exceed the buffer,
// absurd list lengths, bad encapsulation, and random corruption (seeded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FRAME_SIZE_MAX,
  MessageType,
  type DecodeErrorCode,
  type DecodeResult,
  type TotemMessage,
  createOrfToken,
  decodeMcast,
  decodeMembCommitToken,
  decodeMembJoin,
  decodeMembMergeDetect,
  decodeMessage,
  decodeOrfToken,
  decodeOrfTokenInto,
  decodeTokenHoldCancel,
  encodeMcast,
  encodeMembCommitToken,
  encodeMembJoin,
  encodeMembMergeDetect,
  encodeOrfToken,
  encodeTokenHoldCancel,
  ringId,
} from '../../src/totem/wire/index.js';
import { Prng } from '../helpers/prng.js';

const R = ringId(1, 0x1d);

const ORF = encodeOrfToken({
  ...createOrfToken(),
  nodeid: 2,
  seq: 9,
  aru: 9,
  ringId: R,
  rtrList: [
    { ringId: R, seq: 3 },
    { ringId: R, seq: 4 },
  ],
});
const INNER = encodeMcast(
  {
    encapsulated: 2,
    nodeid: 3,
    systemFrom: 3,
    seq: 5,
    thisSeqno: 1,
    ringId: ringId(1, 0x19),
    nodeId: 0,
    guarantee: 0,
  },
  Buffer.from('0000000001000300616263', 'hex'),
);
const MCAST = encodeMcast(
  { encapsulated: 2, nodeid: 1, systemFrom: 1, seq: 10, thisSeqno: 4, ringId: R, nodeId: 0, guarantee: 0 },
  Buffer.from('000000000100050001000100', 'hex'),
);
const ENCAP = encodeMcast(
  { encapsulated: 1, nodeid: 1, systemFrom: 1, seq: 1, thisSeqno: 5, ringId: R, nodeId: 0, guarantee: 0 },
  INNER,
);
const JOIN = encodeMembJoin({
  nodeid: 1,
  systemFrom: 1,
  procList: [1, 2, 3],
  failedList: [3],
  ringSeq: 0x1dn,
});
const MERGE = encodeMembMergeDetect({ nodeid: 1, systemFrom: 1, ringId: R });
const COMMIT = encodeMembCommitToken({
  nodeid: 1,
  tokenSeq: 1,
  ringId: ringId(1, 0x21),
  retransFlg: 0,
  membIndex: 1,
  addr: [1, 2],
  membList: [
    { ringId: R, aru: 9, highDelivered: 9, receivedFlg: 1 },
    { ringId: ringId(0, 0), aru: 0, highDelivered: 0, receivedFlg: 0 },
  ],
});
const HOLD = encodeTokenHoldCancel({ nodeid: 2, ringId: R });

const ALL: readonly [string, Buffer][] = [
  ['ORF_TOKEN', ORF],
  ['MCAST', MCAST],
  ['MCAST(encapsulated)', ENCAP],
  ['MEMB_JOIN', JOIN],
  ['MEMB_MERGE_DETECT', MERGE],
  ['MEMB_COMMIT_TOKEN', COMMIT],
  ['TOKEN_HOLD_CANCEL', HOLD],
];

/** Decode without letting an exception escape unnoticed. */
function safe<T>(f: () => DecodeResult<T>, what: string): DecodeResult<T> {
  let r: DecodeResult<T>;
  try {
    r = f();
  } catch (e) {
    assert.fail(`${what}: decoder threw ${String(e)}`);
  }
  return r;
}

function expectFail(buf: Buffer, code: DecodeErrorCode, re: RegExp, what = ''): void {
  const r = safe(() => decodeMessage(buf), what);
  assert.equal(r.ok, false, `${what}: expected failure ${code}`);
  if (r.ok) return;
  assert.equal(r.code, code, `${what}: ${r.error}`);
  assert.match(r.error, re, what);
}

function setU32(buf: Buffer, off: number, v: number): Buffer {
  const b = Buffer.from(buf);
  b.writeUInt32LE(v >>> 0, off);
  return b;
}

test('all base messages decode (sanity of the fixtures)', () => {
  for (const [name, buf] of ALL) assert.ok(decodeMessage(buf).ok, name);
});

test('truncation at every byte gives a typed error naming the message', () => {
  // Fixed part of each type: below it the error is about the fixed part, above it about lists.
  const fixed: Record<number, number> = { 0: 57, 1: 45, 2: 29, 3: 33, 4: 41, 5: 25 };
  for (const [name, buf] of ALL) {
    const type = buf[3]!;
    for (let len = 0; len < buf.length; len++) {
      const cut = buf.subarray(0, len);
      const what = `${name} cut to ${len}`;
      if (len < 13) {
        expectFail(cut, 'too-short', new RegExp(`shorter than the totem header \\(${len} < 13\\)`), what);
      } else if (type === MessageType.Mcast && len >= 45) {
        if (buf[4] === 1 && len < 90) {
          expectFail(cut, 'bad-inner', /^encapsulated MCAST: inner message: /, what);
        } else {
          // The totem layer cannot tell: a payload (also the inner one) has no length of its own.
          const r = decodeMessage(cut);
          assert.ok(r.ok && r.value.type === MessageType.Mcast && r.value.payload.length === len - 45, what);
        }
      } else if (len < fixed[type]!) {
        const label = name.replace(/\(.*/, '');
        expectFail(
          cut,
          'truncated',
          new RegExp(`^${label} shorter than .*\\(${len} < ${fixed[type]}\\)`),
          what,
        );
      } else {
        // Lists/arrays cut short.
        expectFail(cut, 'truncated', /shorter than its (rtr list|lists|arrays) of/, what);
      }
    }
  }
  // The brief's example wording.
  const r = decodeMcast(MCAST.subarray(0, 30));
  assert.deepEqual(r, { ok: false, code: 'truncated', error: 'MCAST shorter than header (30 < 45)' });
});

test('bad magic, version and type', () => {
  for (const [name, buf] of ALL) {
    for (const magic of [
      [0x00, 0x00],
      [0x70, 0x70],
      [0xc0, 0xc0],
    ]) {
      const b = Buffer.from(buf);
      b[0] = magic[0]!;
      b[1] = magic[1]!;
      expectFail(b, 'bad-magic', /bad magic bytes 0x[0-9a-f]{4} \(expected 70c0 or c070\)/, name);
    }
    const v = Buffer.from(buf);
    v[2] = 2;
    expectFail(v, 'bad-version', /unsupported totem header version 2 \(expected 3\)/, name);
  }
  const c22 = Buffer.from(MERGE);
  c22.writeUInt16LE(0xffff, 0);
  expectFail(c22, 'bad-magic', /corosync 2\.2/);
  const c23 = Buffer.from(MERGE);
  c23.writeUInt16LE(0xfefe, 0);
  expectFail(c23, 'bad-magic', /corosync 2\.3/);
  const knet = Buffer.from(MERGE);
  knet[0] = 0x01;
  expectFail(knet, 'bad-magic', /knet/);
  for (const t of [6, 7, 0x80, 0xff]) {
    const b = Buffer.from(MERGE);
    b[3] = t;
    expectFail(b, 'unknown-type', new RegExp(`unknown totem message type ${t}$`));
  }
});

test('a typed decoder handed another type says so', () => {
  const r = decodeMembJoin(ORF);
  assert.deepEqual(r, { ok: false, code: 'wrong-type', error: 'expected MEMB_JOIN, got ORF_TOKEN' });
  assert.equal(decodeOrfTokenInto(MCAST, createOrfToken())?.code, 'wrong-type');
  assert.equal(decodeMcast(HOLD).ok, false);
  assert.equal(decodeMembCommitToken(JOIN).ok, false);
  assert.equal(decodeMembMergeDetect(COMMIT).ok, false);
  assert.equal(decodeTokenHoldCancel(MERGE).ok, false);
  assert.equal(decodeOrfToken(Buffer.alloc(3)).ok, false);
});

test('ORF token: rtr count beyond the buffer or the protocol limit', () => {
  expectFail(
    setU32(ORF, 53, 3),
    'truncated',
    /ORF_TOKEN shorter than its rtr list of 3 entries \(89 < 105\)/,
  );
  expectFail(setU32(ORF, 53, 31), 'bad-count', /ORF_TOKEN rtr_list_entries 31 outside 0\.\.30/);
  expectFail(setU32(ORF, 53, -1), 'bad-count', /rtr_list_entries -1 outside/);
  expectFail(setU32(ORF, 53, 0x7fffffff), 'bad-count', /rtr_list_entries 2147483647/);
  // Fewer entries than the bytes allow: trailing bytes are ignored (as corosync does).
  const r = decodeMessage(setU32(ORF, 53, 1));
  assert.ok(r.ok && r.value.type === MessageType.OrfToken && r.value.rtrList.length === 1);
});

test('MEMB_JOIN: list counts beyond the buffer or PROCESSOR_COUNT_MAX', () => {
  expectFail(
    setU32(JOIN, 17, 4),
    'truncated',
    /MEMB_JOIN shorter than its lists of 4 \+ 1 entries \(49 < 53\)/,
  );
  expectFail(setU32(JOIN, 21, 2), 'truncated', /lists of 3 \+ 2 entries/);
  expectFail(setU32(JOIN, 17, 385), 'bad-count', /proc_list_entries 385 exceeds PROCESSOR_COUNT_MAX 384/);
  expectFail(setU32(JOIN, 21, 0xffffffff), 'bad-count', /failed_list_entries 4294967295 exceeds/);
  // Both counts near 2^31 must not wrap into a small required length (a C-style overflow).
  expectFail(setU32(setU32(JOIN, 17, 0x80000000), 21, 0x80000000), 'bad-count', /proc_list_entries/);
});

test('MEMB_COMMIT_TOKEN: addr_entries and memb_index bounds, short tokens refused', () => {
  expectFail(setU32(COMMIT, 37, 3), 'truncated', /arrays of 3 members \(97 < 125\)/);
  expectFail(setU32(COMMIT, 37, 0), 'bad-count', /addr_entries 0 outside 1\.\.384/);
  expectFail(setU32(COMMIT, 37, -5), 'bad-count', /addr_entries -5/);
  expectFail(setU32(COMMIT, 37, 385), 'bad-count', /addr_entries 385/);
  expectFail(setU32(COMMIT, 33, 3), 'bad-count', /memb_index 3 outside 0\.\.addr_entries \(2\)/);
  expectFail(setU32(COMMIT, 33, -1), 'bad-count', /memb_index -1/);
  // 3.1.7 wrongly accepts a commit token shorter than 41 bytes; we refuse it.
  expectFail(
    COMMIT.subarray(0, 40),
    'truncated',
    /MEMB_COMMIT_TOKEN shorter than its fixed part \(40 < 41\)/,
  );
});

test('MCAST: encapsulation must hold exactly one valid, non-encapsulated MCAST; size bound', () => {
  const badInnerMagic = Buffer.from(ENCAP);
  badInnerMagic[45] = 0;
  expectFail(badInnerMagic, 'bad-inner', /^encapsulated MCAST: inner message: bad magic/);
  const innerJoin = encodeMcast({ ...decodeFields(ENCAP), encapsulated: 1 }, JOIN);
  expectFail(innerJoin, 'bad-inner', /inner message: expected MCAST, got MEMB_JOIN/);
  const nested = encodeMcast({ ...decodeFields(ENCAP), encapsulated: 1 }, ENCAP);
  expectFail(nested, 'bad-inner', /nesting > 1/);
  expectFail(
    ENCAP.subarray(0, 45),
    'bad-inner',
    /inner message: datagram shorter than the totem header \(0 < 13\)/,
  );
  // Encapsulated values other than 1 are "not encapsulated": the payload stays opaque.
  for (const e of [0, 2, 3, 0xff]) {
    const b = Buffer.from(ENCAP);
    b[4] = e;
    const r = decodeMessage(b);
    assert.ok(
      r.ok && r.value.type === MessageType.Mcast && r.value.inner === null && r.value.encapsulated === e,
    );
  }
  const huge = Buffer.concat([MCAST, Buffer.alloc(FRAME_SIZE_MAX + 1 - MCAST.length)]);
  expectFail(huge, 'too-long', /MCAST longer than FRAME_SIZE_MAX \(65537 > 65536\)/);
  assert.ok(decodeMessage(huge.subarray(0, FRAME_SIZE_MAX)).ok);
});

function decodeFields(buf: Buffer) {
  const r = decodeMcast(buf);
  assert.ok(r.ok);
  return r.value;
}

test('trailing bytes after fixed-size messages are ignored, as corosync does', () => {
  for (const buf of [MERGE, HOLD, JOIN, COMMIT]) {
    const longer = Buffer.concat([buf, Buffer.from([1, 2, 3])]);
    const a = decodeMessage(buf);
    const b = decodeMessage(longer);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(b.value, a.value);
  }
});

test('big-endian counts are read in the big-endian order', () => {
  // A BE join whose proc count, read LE, would be absurd: 3 as BE = 0x03000000 as LE.
  const be = Buffer.from(JOIN);
  be[0] = 0xc0;
  be[1] = 0x70;
  for (const o of [5, 9, 13, 17, 21, 33, 37, 41, 45]) be.subarray(o, o + 4).swap32();
  be.subarray(25, 33).swap64();
  const r = decodeMembJoin(be);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.value.procList, [1, 2, 3]);
  assert.deepEqual(r.value.failedList, [3]);
  // The same bytes with an LE magic: count 0x03000000 is refused, not trusted.
  const le = Buffer.from(be);
  le[0] = 0x70;
  le[1] = 0xc0;
  expectFail(le, 'bad-count', /proc_list_entries 50331648 exceeds/);
});

test('random corruption never throws and always yields ok or a coded error (seeded)', () => {
  const p = new Prng(0xc070);
  const codes = new Set<string>();
  let failures = 0;
  for (let i = 0; i < 20000; i++) {
    const [, base] = p.pick(ALL);
    const b = Buffer.from(base.subarray(0, p.bool(0.3) ? p.int(0, base.length) : base.length));
    const flips = p.int(1, 4);
    for (let k = 0; k < flips && b.length > 0; k++) {
      // Bias towards the header and the count fields, where the interesting branches are.
      const at = p.bool(0.5) ? p.int(0, Math.min(b.length - 1, 60)) : p.int(0, b.length - 1);
      b[at] = p.bool(0.5) ? p.nextU32() & 0xff : b[at]! ^ (1 << p.int(0, 7));
    }
    const r: DecodeResult<TotemMessage> = safe(() => decodeMessage(b), `case ${i}`);
    if (!r.ok) {
      failures++;
      codes.add(r.code);
      assert.ok(r.error.length > 10);
    }
    // The hot-path token decoder on arbitrary bytes as well.
    const t = createOrfToken();
    const tr = safe(() => {
      const bad = decodeOrfTokenInto(b, t);
      return bad ?? { ok: true as const, value: t };
    }, `into ${i}`);
    if (tr.ok) assert.ok(t.rtrList.length <= 30);
  }
  assert.ok(failures > 1000, `corruption produced failures (${failures})`);
  for (const c of [
    'too-short',
    'bad-magic',
    'bad-version',
    'unknown-type',
    'truncated',
    'bad-count',
    'bad-inner',
  ]) {
    assert.ok(codes.has(c), `fuzzing reached ${c}`);
  }
});
