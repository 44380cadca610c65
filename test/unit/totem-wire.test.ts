// Unit tests of the totem wire codecs: the worked hex dumps of spec/totem-wire.md §8 (decoded
// field by field and re-encoded byte for byte), big-endian input built by swapping
// little-endian messages field by field per the spec's tables, round trips of constructed
// messages, the allocation-light token path, encoder guards, and corosync's seq compare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MCAST_HEADER_SIZE,
  MESSAGE_ENCAPSULATED,
  MESSAGE_NOT_ENCAPSULATED,
  MEMB_COMMIT_TOKEN_MAX_SIZE,
  MEMB_JOIN_MAX_SIZE,
  MessageType,
  ORF_TOKEN_MAX_SIZE,
  PROCESSOR_COUNT_MAX,
  RETRANSMIT_ENTRIES_MAX,
  UDPU_LIMITS_1500,
  ZERO_RING_ID,
  type McastFields,
  type MembCommitTokenFields,
  type MembJoinFields,
  type OrfTokenFields,
  type RingId,
  type TotemMessage,
  createOrfToken,
  decodeHeader,
  decodeMcast,
  decodeMembCommitToken,
  decodeMembJoin,
  decodeMembMergeDetect,
  decodeMessage,
  decodeOrfToken,
  decodeOrfTokenInto,
  decodeTokenHoldCancel,
  encodeMcast,
  encodeMcastHeader,
  encodeMembCommitToken,
  encodeMembCommitTokenInto,
  encodeMembJoin,
  encodeMembMergeDetect,
  encodeMessage,
  encodeMessageInto,
  encodeOrfToken,
  encodeOrfTokenInto,
  encodeTokenHoldCancel,
  formatRingId,
  isLeave,
  mtuLimits,
  ringId,
  ringIdEquals,
  seqLt,
  seqLte,
} from '../../src/totem/wire/index.js';
import { Prng } from '../helpers/prng.js';

/** Hex with whitespace and a leading `0000 ` offset column per line ignored. */
function dump(text: string): Buffer {
  const hex = text
    .trim()
    .split('\n')
    .map((l) => l.trim().replace(/^[0-9a-f]{4}\s+/, ''))
    .join('')
    .replace(/\s+/g, '');
  return Buffer.from(hex, 'hex');
}

function mustDecode(buf: Buffer): TotemMessage {
  const r = decodeMessage(buf);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

const R12 = ringId(1, 12);
const R16 = ringId(1, 16);

// ---- spec §8 worked examples (constructed from the layout in the spec) ----

const EX_ORF = dump(`
0000  70 c0 03 00 00 02 00 00 00 00 00 00 00 07 00 00
0010  00 1a 00 00 00 04 00 00 00 02 00 00 00 01 00 00
0020  00 0c 00 00 00 00 00 00 00 03 00 00 00 02 00 00
0030  00 00 00 00 00 02 00 00 00 01 00 00 00 0c 00 00
0040  00 00 00 00 00 05 00 00 00 01 00 00 00 0c 00 00
0050  00 00 00 00 00 06 00 00 00`);

const EX_MCAST = dump(`
0000  70 c0 03 01 02 01 00 00 00 00 00 00 00 01 00 00
0010  00 07 00 00 00 29 00 00 00 01 00 00 00 0c 00 00
0020  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0030  00 00 00 01 00 28 00 01 00 04 00 73 79 6e 63 00
0040  00 00 00 00 00 00 00 20 00 00 00 00 00 00 00 01
0050  00 00 00 0c 00 00 00 00 00 00 00 00 00 00 00`);

const EX_ENCAP = dump(`
0000  70 c0 03 01 01 02 00 00 00 00 00 00 00 02 00 00
0010  00 01 00 00 00 64 00 00 00 01 00 00 00 10 00 00
0020  00 00 00 00 00 00 00 00 00 00 00 00 00 70 c0 03
0030  01 02 01 00 00 00 00 00 00 00 01 00 00 00 07 00
0040  00 00 29 00 00 00 01 00 00 00 0c 00 00 00 00 00
0050  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0060  01 00 28 00 01 00 04 00 73 79 6e 63 00 00 00 00
0070  00 00 00 00 20 00 00 00 00 00 00 00 01 00 00 00
0080  0c 00 00 00 00 00 00 00 00 00 00 00`);

const EX_JOIN = dump(`
0000  70 c0 03 03 00 02 00 00 00 00 00 00 00 02 00 00
0010  00 03 00 00 00 00 00 00 00 0c 00 00 00 00 00 00
0020  00 02 00 00 00 01 00 00 00 03 00 00 00`);

const EX_LEAVE = dump(`
0000  70 c0 03 03 00 00 00 00 00 00 00 00 00 03 00 00
0010  00 02 00 00 00 01 00 00 00 0c 00 00 00 00 00 00
0020  00 01 00 00 00 02 00 00 00 03 00 00 00`);

const EX_MERGE = dump(`
0000  70 c0 03 02 00 01 00 00 00 00 00 00 00 01 00 00
0010  00 01 00 00 00 0c 00 00 00 00 00 00 00`);

const EX_HOLD_CANCEL = dump(`
0000  70 c0 03 05 00 02 00 00 00 00 00 00 00 01 00 00
0010  00 0c 00 00 00 00 00 00 00`);

const EX_COMMIT = dump(`
0000  70 c0 03 04 00 01 00 00 00 00 00 00 00 01 00 00
0010  00 01 00 00 00 10 00 00 00 00 00 00 00 00 00 00
0020  00 01 00 00 00 03 00 00 00 01 00 00 00 02 00 00
0030  00 03 00 00 00 01 00 00 00 0c 00 00 00 00 00 00
0040  00 07 00 00 00 07 00 00 00 01 00 00 00 00 00 00
0050  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0060  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0070  00 00 00 00 00 00 00 00 00 00 00 00 00`);

const EX_MERGE_BE = dump(`
0000  c0 70 03 02 00 00 00 00 01 00 00 00 00 00 00 00
0010  01 00 00 00 01 00 00 00 00 00 00 00 0c`);

const HDR_LE = { encapsulated: 0, targetNodeid: 0, bigEndian: false };

test('spec §8.1: ORF token with two rtr items', () => {
  assert.equal(EX_ORF.length, 89);
  const tok: OrfTokenFields = {
    nodeid: 2,
    seq: 7,
    tokenSeq: 26,
    aru: 4,
    aruAddr: 2,
    ringId: R12,
    backlog: 3,
    fcc: 2,
    retransFlg: 0,
    rtrList: [
      { ringId: R12, seq: 5 },
      { ringId: R12, seq: 6 },
    ],
  };
  assert.deepEqual(mustDecode(EX_ORF), { type: MessageType.OrfToken, ...HDR_LE, ...tok });
  assert.deepEqual(encodeOrfToken(tok), EX_ORF);
});

const MCAST_82: McastFields = {
  encapsulated: MESSAGE_NOT_ENCAPSULATED,
  nodeid: 1,
  systemFrom: 1,
  seq: 7,
  thisSeqno: 41,
  ringId: R12,
  nodeId: 0,
  guarantee: 0,
};

test('spec §8.2: regular MCAST, payload is a zero-copy view', () => {
  assert.equal(EX_MCAST.length, 95);
  const m = mustDecode(EX_MCAST);
  assert.equal(m.type, MessageType.Mcast);
  if (m.type !== MessageType.Mcast) return;
  const { payload, raw, inner, type, targetNodeid, bigEndian, ...fields } = m;
  assert.deepEqual(fields, MCAST_82);
  assert.deepEqual([type, targetNodeid, bigEndian, inner], [1, 0, false, null]);
  assert.equal(raw, EX_MCAST);
  assert.equal(payload.length, 50);
  assert.equal(payload.buffer, EX_MCAST.buffer);
  assert.equal(payload.byteOffset, EX_MCAST.byteOffset + MCAST_HEADER_SIZE);
  // totempg header bytes of the example: msg_count 1, msg_len 40, group "sync".
  assert.equal(payload.readUInt16LE(6), 1);
  assert.equal(payload.readUInt16LE(8), 40);
  assert.equal(payload.toString('latin1', 14, 18), 'sync');
  assert.deepEqual(encodeMcast(MCAST_82, payload), EX_MCAST);
  assert.deepEqual(Buffer.concat([encodeMcastHeader(MCAST_82), payload]), EX_MCAST);
  assert.deepEqual(encodeMessage(m), EX_MCAST);
});

test('spec §8.3: encapsulated MCAST carries the original bytes and decodes them as inner', () => {
  assert.equal(EX_ENCAP.length, 140);
  const r = decodeMcast(EX_ENCAP);
  assert.ok(r.ok);
  const m = r.value;
  assert.equal(m.encapsulated, MESSAGE_ENCAPSULATED);
  assert.deepEqual(
    [m.nodeid, m.systemFrom, m.seq, m.thisSeqno, m.nodeId, m.guarantee, formatRingId(m.ringId)],
    [2, 2, 1, 100, 0, 0, '1.10'],
  );
  assert.deepEqual(m.payload, EX_MCAST);
  assert.ok(m.inner);
  assert.equal(m.inner.raw, m.payload, 'inner.raw is the payload view itself');
  assert.equal(m.inner.seq, 7);
  assert.equal(m.inner.nodeid, 1);
  assert.ok(ringIdEquals(m.inner.ringId, R12));
  // Building the recovery copy from a received message's raw bytes.
  const orig = decodeMcast(EX_MCAST);
  assert.ok(orig.ok);
  const outer: McastFields = {
    encapsulated: MESSAGE_ENCAPSULATED,
    nodeid: 2,
    systemFrom: 2,
    seq: 1,
    thisSeqno: 100,
    ringId: R16,
    nodeId: 0,
    guarantee: 0,
  };
  assert.deepEqual(encodeMcast(outer, orig.value.raw), EX_ENCAP);
});

test('spec §8.4 / §8.5: MEMB_JOIN and LEAVE', () => {
  const join: MembJoinFields = {
    nodeid: 2,
    systemFrom: 2,
    procList: [2, 1, 3],
    failedList: [],
    ringSeq: 12n,
  };
  assert.deepEqual(mustDecode(EX_JOIN), { type: MessageType.MembJoin, ...HDR_LE, ...join });
  assert.deepEqual(encodeMembJoin(join), EX_JOIN);
  const leave: MembJoinFields = { nodeid: 0, systemFrom: 3, procList: [1, 2], failedList: [3], ringSeq: 12n };
  const d = mustDecode(EX_LEAVE);
  assert.deepEqual(d, { type: MessageType.MembJoin, ...HDR_LE, ...leave });
  assert.equal(isLeave(leave), true);
  assert.equal(isLeave(join), false);
  assert.deepEqual(encodeMembJoin(leave), EX_LEAVE);
});

test('spec §8.6 / §8.7: MERGE_DETECT and TOKEN_HOLD_CANCEL', () => {
  assert.deepEqual(mustDecode(EX_MERGE), {
    type: MessageType.MembMergeDetect,
    ...HDR_LE,
    nodeid: 1,
    systemFrom: 1,
    ringId: R12,
  });
  assert.deepEqual(encodeMembMergeDetect({ nodeid: 1, systemFrom: 1, ringId: R12 }), EX_MERGE);
  assert.deepEqual(mustDecode(EX_HOLD_CANCEL), {
    type: MessageType.TokenHoldCancel,
    ...HDR_LE,
    nodeid: 2,
    ringId: R12,
  });
  assert.deepEqual(encodeTokenHoldCancel({ nodeid: 2, ringId: R12 }), EX_HOLD_CANCEL);
});

const COMMIT_88: MembCommitTokenFields = {
  nodeid: 1,
  tokenSeq: 1,
  ringId: R16,
  retransFlg: 0,
  membIndex: 1,
  addr: [1, 2, 3],
  membList: [
    { ringId: R12, aru: 7, highDelivered: 7, receivedFlg: 1 },
    { ringId: ZERO_RING_ID, aru: 0, highDelivered: 0, receivedFlg: 0 },
    { ringId: ZERO_RING_ID, aru: 0, highDelivered: 0, receivedFlg: 0 },
  ],
};

test('spec §8.8: MEMB_COMMIT_TOKEN', () => {
  assert.equal(EX_COMMIT.length, 125);
  assert.deepEqual(mustDecode(EX_COMMIT), { type: MessageType.MembCommitToken, ...HDR_LE, ...COMMIT_88 });
  assert.deepEqual(encodeMembCommitToken(COMMIT_88), EX_COMMIT);
});

test('spec §8.9: big-endian MERGE_DETECT decodes to the fields of §8.6', () => {
  const be = mustDecode(EX_MERGE_BE);
  const le = mustDecode(EX_MERGE);
  assert.equal(be.bigEndian, true);
  assert.deepEqual({ ...be, bigEndian: false }, le);
  const h = decodeHeader(EX_MERGE_BE);
  assert.ok(h.ok);
  assert.deepEqual(h.value, {
    magic: 0xc070,
    version: 3,
    type: 2,
    encapsulated: 0,
    nodeid: 1,
    targetNodeid: 0,
    bigEndian: true,
  });
  // Re-encoding a big-endian message yields the little-endian form.
  assert.deepEqual(encodeMessage(be), EX_MERGE);
});

// ---- big-endian input built by swapping LE messages per the spec's field tables ----

function swap32(b: Buffer, off: number): void {
  b.subarray(off, off + 4).swap32();
}
function swap64(b: Buffer, off: number): void {
  b.subarray(off, off + 8).swap64();
}
function swapRing(b: Buffer, off: number): void {
  swap32(b, off);
  swap64(b, off + 4);
}

/**
 * A big-endian copy of a little-endian totem message: every u16/u32/u64 of the header and body
 * (spec §4, §6, §7) swapped in place; single bytes and MCAST payloads (the originator's bytes)
 * left alone. Written from the spec's offset tables, independently of the codec.
 */
function toBigEndian(le: Buffer): Buffer {
  const b = Buffer.from(le);
  b.subarray(0, 2).swap16();
  swap32(b, 5);
  swap32(b, 9);
  switch (le[3]) {
    case 0: {
      for (const o of [13, 17, 21, 25]) swap32(b, o);
      swapRing(b, 29);
      for (const o of [41, 45, 49, 53]) swap32(b, o);
      const n = le.readInt32LE(53);
      for (let i = 0; i < n; i++) {
        swapRing(b, 57 + 16 * i);
        swap32(b, 57 + 16 * i + 12);
      }
      break;
    }
    case 1:
      for (const o of [13, 17, 21]) swap32(b, o);
      swapRing(b, 25);
      swap32(b, 37);
      swap32(b, 41);
      break;
    case 2:
      swap32(b, 13);
      swapRing(b, 17);
      break;
    case 3: {
      for (const o of [13, 17, 21]) swap32(b, o);
      swap64(b, 25);
      const n = le.readUInt32LE(17) + le.readUInt32LE(21);
      for (let i = 0; i < n; i++) swap32(b, 33 + 4 * i);
      break;
    }
    case 4: {
      swap32(b, 13);
      swapRing(b, 17);
      for (const o of [29, 33, 37]) swap32(b, o);
      const n = le.readInt32LE(37);
      for (let i = 0; i < n; i++) swap32(b, 41 + 4 * i);
      for (let i = 0; i < n; i++) {
        const o = 41 + 4 * n + 24 * i;
        swapRing(b, o);
        for (const k of [12, 16, 20]) swap32(b, o + k);
      }
      break;
    }
    case 5:
      swapRing(b, 13);
      break;
  }
  return b;
}

test('big-endian: every example swapped per the spec decodes to the same fields', () => {
  assert.deepEqual(toBigEndian(EX_MERGE), EX_MERGE_BE, 'the swapper reproduces spec §8.9');
  for (const le of [EX_ORF, EX_MCAST, EX_ENCAP, EX_JOIN, EX_LEAVE, EX_MERGE, EX_HOLD_CANCEL, EX_COMMIT]) {
    const be = toBigEndian(le);
    assert.notDeepEqual(be, le);
    assert.deepEqual(be.subarray(0, 2), Buffer.from([0xc0, 0x70]));
    const a = mustDecode(le);
    const b = mustDecode(be);
    assert.equal(b.bigEndian, true);
    if (a.type === MessageType.Mcast && b.type === MessageType.Mcast) {
      // The payload stays in the originator's (here little-endian) order.
      const { raw: _ra, payload: pa, inner: ia, ...fa } = a;
      const { raw: rb, payload: pb, inner: ib, ...fb } = b;
      assert.deepEqual({ ...fb, bigEndian: false }, fa);
      assert.equal(rb, be);
      assert.deepEqual(pb, pa);
      assert.deepEqual(ib, ia);
      if (ib) assert.equal(ib.bigEndian, false, 'inner keeps its own byte order');
    } else {
      assert.deepEqual({ ...b, bigEndian: false }, a);
    }
    // Encoding a decoded big-endian message writes the little-endian original.
    assert.deepEqual(encodeMessage(b), le);
  }
});

test('big-endian: a BE inner message inside an LE recovery copy', () => {
  const innerBe = toBigEndian(EX_MCAST);
  const outer = encodeMcast({ ...MCAST_82, encapsulated: 1, seq: 3, ringId: R16 }, innerBe);
  const r = decodeMcast(outer);
  assert.ok(r.ok);
  assert.equal(r.value.bigEndian, false);
  assert.ok(r.value.inner);
  assert.equal(r.value.inner.bigEndian, true);
  assert.equal(r.value.inner.seq, 7);
  assert.ok(ringIdEquals(r.value.inner.ringId, R12));
});

// ---- round trips of constructed messages ----

function randomRing(p: Prng): RingId {
  return p.bool(0.2)
    ? ringId(p.nextU32(), (BigInt(p.nextU32()) << 32n) | BigInt(p.nextU32()))
    : ringId(p.int(1, 1000), p.int(0, 100000));
}

test('round trip: constructed messages of every type, random field values (seeded)', () => {
  const p = new Prng(0x70c0);
  for (let iter = 0; iter < 300; iter++) {
    const nodeid = p.nextU32() || 1;
    const msgs: TotemMessage[] = [];
    const hdr = { encapsulated: 0, targetNodeid: 0, bigEndian: false, nodeid };
    const rtrN = p.int(0, RETRANSMIT_ENTRIES_MAX);
    msgs.push({
      type: MessageType.OrfToken,
      ...hdr,
      seq: p.nextU32(),
      tokenSeq: p.nextU32(),
      aru: p.nextU32(),
      aruAddr: p.nextU32(),
      ringId: randomRing(p),
      backlog: p.nextU32(),
      fcc: p.nextU32(),
      retransFlg: p.nextU32() | 0,
      rtrList: Array.from({ length: rtrN }, () => ({ ringId: randomRing(p), seq: p.nextU32() })),
    });
    const payload = p.bytes(p.int(0, 1410));
    const mc = Buffer.concat([
      encodeMcastHeader({
        encapsulated: MESSAGE_NOT_ENCAPSULATED,
        nodeid,
        systemFrom: nodeid,
        seq: p.nextU32(),
        thisSeqno: p.nextU32() | 0,
        ringId: randomRing(p),
        nodeId: 0,
        guarantee: p.int(0, 1),
      }),
      payload,
    ]);
    const mcd = decodeMcast(mc);
    assert.ok(mcd.ok);
    msgs.push(mcd.value);
    msgs.push({ type: MessageType.MembMergeDetect, ...hdr, systemFrom: nodeid, ringId: randomRing(p) });
    msgs.push({
      type: MessageType.MembJoin,
      ...hdr,
      systemFrom: nodeid,
      procList: Array.from({ length: p.int(0, 40) }, () => p.nextU32()),
      failedList: Array.from({ length: p.int(0, 40) }, () => p.nextU32()),
      ringSeq: randomRing(p).seq,
    });
    const n = p.int(1, 50);
    msgs.push({
      type: MessageType.MembCommitToken,
      ...hdr,
      tokenSeq: p.nextU32(),
      ringId: randomRing(p),
      retransFlg: 0,
      membIndex: p.int(0, n),
      addr: Array.from({ length: n }, () => p.nextU32()),
      membList: Array.from({ length: n }, () => ({
        ringId: randomRing(p),
        aru: p.nextU32(),
        highDelivered: p.nextU32(),
        receivedFlg: p.int(0, 1),
      })),
    });
    msgs.push({ type: MessageType.TokenHoldCancel, ...hdr, ringId: randomRing(p) });
    for (const m of msgs) {
      const buf = encodeMessage(m);
      const back = mustDecode(buf);
      if (m.type === MessageType.Mcast && back.type === MessageType.Mcast) {
        assert.deepEqual(back.payload, m.payload);
        assert.deepEqual({ ...back, raw: null, payload: null }, { ...m, raw: null, payload: null });
      } else {
        assert.deepEqual(back, m);
      }
      // encodeMessageInto at an offset writes the same bytes there.
      const big = Buffer.alloc(buf.length + 7, 0xee);
      assert.equal(encodeMessageInto(back, big, 7), buf.length);
      assert.deepEqual(big.subarray(7), buf);
      assert.deepEqual(big.subarray(0, 7), Buffer.alloc(7, 0xee));
    }
  }
});

test('round trip: largest messages hit the spec maxima', () => {
  const r = ringId(1, 0xffffffffffffffffn);
  const tok: OrfTokenFields = {
    ...createOrfToken(),
    nodeid: 1,
    ringId: r,
    rtrList: Array.from({ length: RETRANSMIT_ENTRIES_MAX }, (_, i) => ({ ringId: r, seq: i + 1 })),
  };
  const tb = encodeOrfToken(tok);
  assert.equal(tb.length, ORF_TOKEN_MAX_SIZE);
  assert.equal(ORF_TOKEN_MAX_SIZE, 537);
  const td = decodeOrfToken(tb);
  assert.ok(td.ok);
  assert.equal(td.value.ringId.seq, 0xffffffffffffffffn);
  assert.equal(td.value.rtrList[29]!.seq, 30);

  const ids = Array.from({ length: PROCESSOR_COUNT_MAX }, (_, i) => i + 1);
  const jb = encodeMembJoin({ nodeid: 1, systemFrom: 1, procList: ids, failedList: ids, ringSeq: 4n });
  assert.equal(jb.length, MEMB_JOIN_MAX_SIZE);
  const jd = decodeMembJoin(jb);
  assert.ok(jd.ok);
  assert.deepEqual(jd.value.failedList, ids);

  const ct: MembCommitTokenFields = {
    nodeid: 1,
    tokenSeq: 9,
    ringId: r,
    retransFlg: 0,
    membIndex: PROCESSOR_COUNT_MAX,
    addr: ids,
    membList: ids.map((id) => ({ ringId: ringId(id, 8), aru: id, highDelivered: id, receivedFlg: 1 })),
  };
  const cb = encodeMembCommitToken(ct);
  assert.equal(cb.length, MEMB_COMMIT_TOKEN_MAX_SIZE);
  const cd = decodeMembCommitToken(cb);
  assert.ok(cd.ok);
  assert.deepEqual(cd.value.membList, ct.membList);
});

// ---- the allocation-light token path ----

test('decodeOrfTokenInto reuses the token, its rtr items and unchanged ring ids', () => {
  const out = createOrfToken();
  const base: OrfTokenFields = { ...createOrfToken(), nodeid: 2, ringId: R12, seq: 9 };
  const three = encodeOrfToken({
    ...base,
    rtrList: [
      { ringId: R12, seq: 4 },
      { ringId: R12, seq: 5 },
      { ringId: R12, seq: 6 },
    ],
  });
  assert.equal(decodeOrfTokenInto(three, out), null);
  const ring = out.ringId;
  const item0 = out.rtrList[0];
  assert.equal(out.rtrList.length, 3);
  assert.equal(out.rtrList[0]!.ringId, ring, 'rtr ring ids share the token ring object');

  const one = encodeOrfToken({ ...base, tokenSeq: 77, rtrList: [{ ringId: R12, seq: 8 }] });
  assert.equal(decodeOrfTokenInto(one, out), null);
  assert.equal(out.ringId, ring, 'same ring ⇒ same object');
  assert.equal(out.rtrList[0], item0, 'rtr item object reused');
  assert.deepEqual(
    out.rtrList.map((x) => x.seq),
    [8],
  );
  assert.equal(out.tokenSeq, 77);

  const other = encodeOrfToken({ ...base, ringId: R16 });
  assert.equal(decodeOrfTokenInto(other, out), null);
  assert.notEqual(out.ringId, ring);
  assert.ok(ringIdEquals(out.ringId, R16));
  assert.equal(out.rtrList.length, 0);

  // Seqs beyond 2^53 take the BigInt path and still compare correctly.
  const huge = ringId(5, 0xfedcba9876543210n);
  const h = encodeOrfToken({ ...base, ringId: huge });
  assert.equal(decodeOrfTokenInto(h, out), null);
  assert.equal(out.ringId.seq, 0xfedcba9876543210n);
  const again = out.ringId;
  assert.equal(decodeOrfTokenInto(h, out), null);
  assert.equal(out.ringId.seq, again.seq);

  // Encoding into a reused buffer: no new Buffer, same bytes as encodeOrfToken.
  const buf = Buffer.alloc(ORF_TOKEN_MAX_SIZE);
  const n = encodeOrfTokenInto(out, buf, 0);
  assert.deepEqual(buf.subarray(0, n), h);
});

test('encoders refuse what the protocol forbids (RangeError, not a bad datagram)', () => {
  const tok: OrfTokenFields = {
    ...createOrfToken(),
    nodeid: 1,
    rtrList: Array.from({ length: RETRANSMIT_ENTRIES_MAX + 1 }, () => ({ ringId: R12, seq: 1 })),
  };
  assert.throws(() => encodeOrfToken(tok), RangeError);
  assert.throws(() => encodeOrfTokenInto({ ...tok, rtrList: [] }, Buffer.alloc(56)), RangeError);
  assert.throws(
    () => encodeMembCommitToken({ ...COMMIT_88, membList: COMMIT_88.membList.slice(1) }),
    /3 addr entries but 2 memb entries/,
  );
  assert.throws(() => encodeMembCommitTokenInto(COMMIT_88, Buffer.alloc(124)), RangeError);
  const many = Array.from({ length: PROCESSOR_COUNT_MAX + 1 }, (_, i) => i + 1);
  assert.throws(
    () => encodeMembJoin({ nodeid: 1, systemFrom: 1, procList: many, failedList: [], ringSeq: 0n }),
    RangeError,
  );
});

test('typed decoders agree with decodeMessage on the examples', () => {
  const pairs: [Buffer, (b: Buffer) => { ok: boolean }][] = [
    [EX_ORF, decodeOrfToken],
    [EX_MCAST, decodeMcast],
    [EX_MERGE, decodeMembMergeDetect],
    [EX_JOIN, decodeMembJoin],
    [EX_COMMIT, decodeMembCommitToken],
    [EX_HOLD_CANCEL, decodeTokenHoldCancel],
  ];
  for (const [buf, dec] of pairs) {
    assert.deepEqual(dec(buf), decodeMessage(buf));
  }
});

// ---- constants ----

test('limits for udpu with netmtu 1500', () => {
  assert.deepEqual(UDPU_LIMITS_1500, {
    netmtu: 1500,
    totempgNetMtu: 1410,
    mcastMaxSize: 1455,
    encapsulatedMcastMaxSize: 1500,
  });
  assert.equal(mtuLimits(9000).mcastMaxSize, 8955);
});

// ---- sequence compare and ring ids ----

/** The spec's formula, literally, in BigInt arithmetic. */
function refLt(a: number, b: number, orEqual: boolean): boolean {
  const M = 1n << 32n;
  let x = BigInt(a);
  let y = BigInt(b);
  if (a > 0x80000000 || b > 0x80000000) {
    x = (((x - 0x10000n) % M) + M) % M;
    y = (((y - 0x10000n) % M) + M) % M;
  }
  return orEqual ? x <= y : x < y;
}

test('seqLt / seqLte: corosync rollover rule', () => {
  // Cases the spec calls out (totem-srp.md §1.1).
  assert.equal(seqLte(0, 0xffffffff), false, 'fresh token_seq 0 beats my_token_seq 0xffffffff');
  assert.equal(seqLt(0, 0xffffffff), false, 'initial aru 0xffffffff is not overwritten');
  assert.equal(seqLt(0xffffffff, 0), true);
  assert.equal(seqLt(1, 2), true);
  assert.equal(seqLt(2, 1), false);
  assert.equal(seqLt(5, 5), false);
  assert.equal(seqLte(5, 5), true);
  assert.equal(seqLt(0x80000000, 0x80000001), true);
  // 0x8000ffff vs 0x10: both shifted; 0x10 − 0x10000 wraps to the top.
  assert.equal(seqLt(0x8000ffff, 0x10), true);
  assert.equal(seqLt(0x10, 0x8000ffff), false);
  // Against the literal formula on boundary and random values.
  const edge = [0, 1, 0xffff, 0x10000, 0x10001, 0x7fffffff, 0x80000000, 0x80000001, 0x8000ffff, 0xfffeffff];
  edge.push(0xffff0000, 0xfffffffe, 0xffffffff);
  const p = new Prng(1982);
  const vals = [...edge, ...Array.from({ length: 200 }, () => p.nextU32())];
  for (const a of vals) {
    for (const b of edge.concat(p.nextU32())) {
      assert.equal(seqLt(a, b), refLt(a, b, false), `lt(${a}, ${b})`);
      assert.equal(seqLte(a, b), refLt(a, b, true), `lte(${a}, ${b})`);
    }
  }
});

test('ring id helpers', () => {
  assert.equal(formatRingId(ringId(1, 0xd)), '1.d');
  assert.equal(formatRingId(ringId(0x3, 0x1b)), '3.1b');
  assert.equal(ringIdEquals(ringId(1, 12), R12), true);
  assert.equal(ringIdEquals(ringId(2, 12), R12), false);
  assert.equal(ringIdEquals(ringId(1, 13), R12), false);
  assert.deepEqual(ringId(-1, -1), { rep: 0xffffffff, seq: 0xffffffffffffffffn });
  assert.deepEqual(ZERO_RING_ID, { rep: 0, seq: 0n });
});
