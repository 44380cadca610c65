/**
 * Codecs for the six totemsrp messages of corosync 3.1.7 (spec/totem-wire.md §5–§7).
 *
 * Decoding accepts both byte orders (selected from the magic bytes) and never throws: every
 * length, count and index is checked first and a {@link DecodeFailure} names what was wrong.
 * Encoding always writes little-endian with `target_nodeid` = 0 and throws `RangeError` only
 * on programming errors (lists longer than the protocol allows, a buffer too small).
 *
 * Decoded objects keep references into the received buffer (MCAST `payload`/`raw`): the caller
 * must not reuse that buffer's memory afterwards. Node's `dgram` hands out a fresh Buffer per
 * datagram, which is what the design relies on.
 */
import { Buffer } from 'node:buffer';
import {
  COMMIT_MEMB_ENTRY_SIZE,
  FRAME_SIZE_MAX,
  MCAST_HEADER_SIZE,
  MEMB_COMMIT_TOKEN_SIZE,
  MEMB_JOIN_SIZE,
  MEMB_MERGE_DETECT_SIZE,
  MESSAGE_ENCAPSULATED,
  MessageType,
  ORF_TOKEN_SIZE,
  PROCESSOR_COUNT_MAX,
  RETRANSMIT_ENTRIES_MAX,
  RTR_ITEM_SIZE,
  SRP_ADDR_SIZE,
  TOKEN_HOLD_CANCEL_SIZE,
  messageTypeName,
} from './constants.js';
import {
  type DecodeFailure,
  type DecodeResult,
  type ReceivedHeader,
  checkHeader,
  checkHeaderOfType,
  fail,
  i32,
  isBigEndian,
  ok,
  readRingId,
  u32,
  u64,
  writeHeader,
  writeRingId,
} from './header.js';
import { type RingId, ZERO_RING_ID } from './seq.js';
import { writeBigUInt64LE, writeInt32LE, writeUInt32LE } from '../../common/bytes.js';

// ---------------------------------------------------------------------------------------------
// Types. `*Fields` is what an encoder needs; the message types add what only a received
// message has (raw header bytes, byte order, payload views).

/** `struct rtr_item`: a retransmit request carried by the ORF token. */
export interface RtrItem {
  /** Ring the missing message belongs to. */
  ringId: RingId;
  /** Its sequence number. */
  seq: number;
}

/** ORF token body (type 0, 57 + 16·n bytes). */
export interface OrfTokenFields {
  /** Forwarder. */
  nodeid: number;
  /** Highest message seq assigned on the ring. */
  seq: number;
  /** Token instance counter. */
  tokenSeq: number;
  aru: number;
  aruAddr: number;
  ringId: RingId;
  backlog: number;
  fcc: number;
  /** i32 */
  retransFlg: number;
  /** At most {@link RETRANSMIT_ENTRIES_MAX} entries. */
  rtrList: RtrItem[];
}

/** A received ORF token. */
export interface OrfToken extends OrfTokenFields, ReceivedHeader {
  readonly type: typeof MessageType.OrfToken;
}

/** MCAST header fields (type 1, the 45 bytes before the payload). */
export interface McastFields {
  /** 2 = normal, 1 = recovery copy ({@link MESSAGE_ENCAPSULATED}). */
  encapsulated: number;
  /** Originator (kept by retransmissions); for a recovery copy, the re-sender. */
  nodeid: number;
  systemFrom: number;
  /** Ring seq assigned under the token. */
  seq: number;
  /** i32, per-sender counter, informational. */
  thisSeqno: number;
  ringId: RingId;
  /** u32, unused (0). */
  nodeId: number;
  /** i32, requested guarantee, ignored by 3.1.7. */
  guarantee: number;
}

/** A received MCAST. */
export interface McastMessage extends McastFields, ReceivedHeader {
  readonly type: typeof MessageType.Mcast;
  /**
   * Everything after the 45-byte header, as a view of the datagram (no copy): a totempg packet,
   * or for a recovery copy the complete original MCAST (then also decoded in `inner`).
   */
  payload: Buffer;
  /** The whole datagram as received. Re-send or encapsulate this to keep the originator's bytes. */
  raw: Buffer;
  /** The decoded inner message when `encapsulated === 1`, else `null`. */
  inner: McastMessage | null;
}

/** MEMB_JOIN body (type 3, 33 + 4·(p + f) bytes). A LEAVE has `nodeid` 0. */
export interface MembJoinFields {
  nodeid: number;
  systemFrom: number;
  procList: number[];
  failedList: number[];
  /** Seq of the sender's current ring. */
  ringSeq: bigint;
}

/** A received MEMB_JOIN. */
export interface MembJoin extends MembJoinFields, ReceivedHeader {
  readonly type: typeof MessageType.MembJoin;
}

/** MEMB_MERGE_DETECT body (type 2, 29 bytes). */
export interface MembMergeDetectFields {
  nodeid: number;
  systemFrom: number;
  ringId: RingId;
}

/** A received MEMB_MERGE_DETECT. */
export interface MembMergeDetect extends MembMergeDetectFields, ReceivedHeader {
  readonly type: typeof MessageType.MembMergeDetect;
}

/** `struct memb_commit_token_memb_entry` (24 bytes). */
export interface CommitMembEntry {
  /** The member's previous ring. */
  ringId: RingId;
  aru: number;
  highDelivered: number;
  receivedFlg: number;
}

/** MEMB_COMMIT_TOKEN body (type 4, 41 + 28·n bytes). */
export interface MembCommitTokenFields {
  /** Forwarder. */
  nodeid: number;
  tokenSeq: number;
  /** The new ring. */
  ringId: RingId;
  retransFlg: number;
  /** i32, 0 ≤ membIndex ≤ addr.length: who processes the token next. */
  membIndex: number;
  /** Members of the new ring, ascending nodeid. */
  addr: number[];
  /** One entry per member, same index as `addr`. */
  membList: CommitMembEntry[];
}

/** A received MEMB_COMMIT_TOKEN. */
export interface MembCommitToken extends MembCommitTokenFields, ReceivedHeader {
  readonly type: typeof MessageType.MembCommitToken;
}

/** TOKEN_HOLD_CANCEL body (type 5, 25 bytes). */
export interface TokenHoldCancelFields {
  nodeid: number;
  ringId: RingId;
}

/** A received TOKEN_HOLD_CANCEL. */
export interface TokenHoldCancel extends TokenHoldCancelFields, ReceivedHeader {
  readonly type: typeof MessageType.TokenHoldCancel;
}

/** Any decoded totem message, discriminated by `type`. */
export type TotemMessage =
  OrfToken | McastMessage | MembMergeDetect | MembJoin | MembCommitToken | TokenHoldCancel;

/** Whether a join is a LEAVE message (header nodeid 0). */
export function isLeave(join: MembJoinFields): boolean {
  return join.nodeid === 0;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

function tooShort(type: number, len: number, need: number, what: string): DecodeFailure {
  return fail('truncated', `${messageTypeName(type)} shorter than ${what} (${len} < ${need})`);
}

/** A blank ORF token to decode into with {@link decodeOrfTokenInto}. */
export function createOrfToken(): OrfToken {
  return {
    type: MessageType.OrfToken,
    encapsulated: 0,
    nodeid: 0,
    targetNodeid: 0,
    bigEndian: false,
    seq: 0,
    tokenSeq: 0,
    aru: 0,
    aruAddr: 0,
    ringId: ZERO_RING_ID,
    backlog: 0,
    fcc: 0,
    retransFlg: 0,
    rtrList: [],
  };
}

/**
 * Decode an ORF token into `out`, reusing its rtr item objects and, when unchanged, its ring
 * ids: decoding the token of a steady ring allocates nothing. Returns `null` on success; on
 * failure `out` may be partly overwritten.
 */
export function decodeOrfTokenInto(buf: Buffer, out: OrfToken): DecodeFailure | null {
  const bad = checkHeaderOfType(buf, MessageType.OrfToken);
  if (bad) return bad;
  const len = buf.length;
  if (len < ORF_TOKEN_SIZE) return tooShort(0, len, ORF_TOKEN_SIZE, 'its fixed part');
  const be = isBigEndian(buf);
  const n = i32(buf, 53, be);
  if (n < 0 || n > RETRANSMIT_ENTRIES_MAX) {
    return fail('bad-count', `ORF_TOKEN rtr_list_entries ${n} outside 0..${RETRANSMIT_ENTRIES_MAX}`);
  }
  const need = ORF_TOKEN_SIZE + RTR_ITEM_SIZE * n;
  if (len < need) return tooShort(0, len, need, `its rtr list of ${n} entries`);
  out.encapsulated = buf[4]!;
  out.nodeid = u32(buf, 5, be);
  out.targetNodeid = u32(buf, 9, be);
  out.bigEndian = be;
  out.seq = u32(buf, 13, be);
  out.tokenSeq = u32(buf, 17, be);
  out.aru = u32(buf, 21, be);
  out.aruAddr = u32(buf, 25, be);
  out.ringId = readRingId(buf, 29, be, out.ringId);
  out.backlog = u32(buf, 41, be);
  out.fcc = u32(buf, 45, be);
  out.retransFlg = i32(buf, 49, be);
  const list = out.rtrList;
  for (let i = 0; i < n; i++) {
    const off = ORF_TOKEN_SIZE + RTR_ITEM_SIZE * i;
    const item = list[i];
    if (item === undefined) {
      list.push({ ringId: readRingId(buf, off, be, out.ringId), seq: u32(buf, off + 12, be) });
    } else {
      item.ringId = readRingId(buf, off, be, item.ringId);
      item.seq = u32(buf, off + 12, be);
    }
  }
  // storing an array's length is a runtime call even when it does not change (~35 ns, on every
  // token visit); the list almost always keeps its length
  if (list.length !== n) list.length = n;
  return null;
}

/** Decode an ORF token into a new object. */
export function decodeOrfToken(buf: Buffer): DecodeResult<OrfToken> {
  const out = createOrfToken();
  const bad = decodeOrfTokenInto(buf, out);
  return bad ?? ok(out);
}

/**
 * Decode an MCAST. `payload` and `raw` are views of `buf`. A recovery copy (`encapsulated` 1)
 * must carry a complete, valid, non-encapsulated MCAST, decoded into `inner` (in its own byte
 * order). `ringIdHint` is returned as the ring id when equal (saves an allocation).
 */
export function decodeMcast(buf: Buffer, ringIdHint?: RingId): DecodeResult<McastMessage> {
  const bad = checkHeaderOfType(buf, MessageType.Mcast);
  if (bad) return bad;
  const len = buf.length;
  if (len < MCAST_HEADER_SIZE)
    return fail('truncated', `MCAST shorter than header (${len} < ${MCAST_HEADER_SIZE})`);
  if (len > FRAME_SIZE_MAX)
    return fail('too-long', `MCAST longer than FRAME_SIZE_MAX (${len} > ${FRAME_SIZE_MAX})`);
  const be = isBigEndian(buf);
  const encapsulated = buf[4]!;
  const payload = buf.subarray(MCAST_HEADER_SIZE);
  let inner: McastMessage | null = null;
  if (encapsulated === MESSAGE_ENCAPSULATED) {
    const r = decodeMcast(payload);
    if (!r.ok) return fail('bad-inner', `encapsulated MCAST: inner message: ${r.error}`);
    if (r.value.encapsulated === MESSAGE_ENCAPSULATED) {
      return fail('bad-inner', 'encapsulated MCAST: inner message is encapsulated again (nesting > 1)');
    }
    inner = r.value;
  }
  return ok({
    type: MessageType.Mcast,
    encapsulated,
    nodeid: u32(buf, 5, be),
    targetNodeid: u32(buf, 9, be),
    bigEndian: be,
    systemFrom: u32(buf, 13, be),
    seq: u32(buf, 17, be),
    thisSeqno: i32(buf, 21, be),
    ringId: readRingId(buf, 25, be, ringIdHint),
    nodeId: u32(buf, 37, be),
    guarantee: i32(buf, 41, be),
    payload,
    raw: buf,
    inner,
  });
}

function readNodeList(buf: Buffer, off: number, n: number, be: boolean): number[] {
  const list = new Array<number>(n);
  for (let i = 0; i < n; i++) list[i] = u32(buf, off + SRP_ADDR_SIZE * i, be);
  return list;
}

/** Decode a MEMB_JOIN (or LEAVE). */
export function decodeMembJoin(buf: Buffer): DecodeResult<MembJoin> {
  const bad = checkHeaderOfType(buf, MessageType.MembJoin);
  if (bad) return bad;
  const len = buf.length;
  if (len < MEMB_JOIN_SIZE) return tooShort(3, len, MEMB_JOIN_SIZE, 'its fixed part');
  const be = isBigEndian(buf);
  const p = u32(buf, 17, be);
  const f = u32(buf, 21, be);
  if (p > PROCESSOR_COUNT_MAX) {
    return fail(
      'bad-count',
      `MEMB_JOIN proc_list_entries ${p} exceeds PROCESSOR_COUNT_MAX ${PROCESSOR_COUNT_MAX}`,
    );
  }
  if (f > PROCESSOR_COUNT_MAX) {
    return fail(
      'bad-count',
      `MEMB_JOIN failed_list_entries ${f} exceeds PROCESSOR_COUNT_MAX ${PROCESSOR_COUNT_MAX}`,
    );
  }
  const need = MEMB_JOIN_SIZE + SRP_ADDR_SIZE * (p + f);
  if (len < need) return tooShort(3, len, need, `its lists of ${p} + ${f} entries`);
  return ok({
    type: MessageType.MembJoin,
    encapsulated: buf[4]!,
    nodeid: u32(buf, 5, be),
    targetNodeid: u32(buf, 9, be),
    bigEndian: be,
    systemFrom: u32(buf, 13, be),
    ringSeq: u64(buf, 25, be),
    procList: readNodeList(buf, MEMB_JOIN_SIZE, p, be),
    failedList: readNodeList(buf, MEMB_JOIN_SIZE + SRP_ADDR_SIZE * p, f, be),
  });
}

/** Decode a MEMB_MERGE_DETECT. */
export function decodeMembMergeDetect(buf: Buffer): DecodeResult<MembMergeDetect> {
  const bad = checkHeaderOfType(buf, MessageType.MembMergeDetect);
  if (bad) return bad;
  const len = buf.length;
  if (len < MEMB_MERGE_DETECT_SIZE) return tooShort(2, len, MEMB_MERGE_DETECT_SIZE, 'its fixed size');
  const be = isBigEndian(buf);
  return ok({
    type: MessageType.MembMergeDetect,
    encapsulated: buf[4]!,
    nodeid: u32(buf, 5, be),
    targetNodeid: u32(buf, 9, be),
    bigEndian: be,
    systemFrom: u32(buf, 13, be),
    ringId: readRingId(buf, 17, be),
  });
}

/**
 * Decode a MEMB_COMMIT_TOKEN. Stricter than 3.1.7 on purpose: a token shorter than 41 bytes
 * (which 3.1.7 wrongly accepts), an empty or over-long member list, or a `memb_index` outside
 * 0..addr_entries are refused.
 */
export function decodeMembCommitToken(buf: Buffer): DecodeResult<MembCommitToken> {
  const bad = checkHeaderOfType(buf, MessageType.MembCommitToken);
  if (bad) return bad;
  const len = buf.length;
  if (len < MEMB_COMMIT_TOKEN_SIZE) return tooShort(4, len, MEMB_COMMIT_TOKEN_SIZE, 'its fixed part');
  const be = isBigEndian(buf);
  const n = i32(buf, 37, be);
  if (n < 1 || n > PROCESSOR_COUNT_MAX) {
    return fail('bad-count', `MEMB_COMMIT_TOKEN addr_entries ${n} outside 1..${PROCESSOR_COUNT_MAX}`);
  }
  const membIndex = i32(buf, 33, be);
  if (membIndex < 0 || membIndex > n) {
    return fail('bad-count', `MEMB_COMMIT_TOKEN memb_index ${membIndex} outside 0..addr_entries (${n})`);
  }
  const need = MEMB_COMMIT_TOKEN_SIZE + (SRP_ADDR_SIZE + COMMIT_MEMB_ENTRY_SIZE) * n;
  if (len < need) return tooShort(4, len, need, `its arrays of ${n} members`);
  const ringId = readRingId(buf, 17, be);
  const addr = readNodeList(buf, MEMB_COMMIT_TOKEN_SIZE, n, be);
  const membList = new Array<CommitMembEntry>(n);
  const base = MEMB_COMMIT_TOKEN_SIZE + SRP_ADDR_SIZE * n;
  let prev: RingId = ZERO_RING_ID;
  for (let i = 0; i < n; i++) {
    const off = base + COMMIT_MEMB_ENTRY_SIZE * i;
    prev = readRingId(buf, off, be, prev);
    membList[i] = {
      ringId: prev,
      aru: u32(buf, off + 12, be),
      highDelivered: u32(buf, off + 16, be),
      receivedFlg: u32(buf, off + 20, be),
    };
  }
  return ok({
    type: MessageType.MembCommitToken,
    encapsulated: buf[4]!,
    nodeid: u32(buf, 5, be),
    targetNodeid: u32(buf, 9, be),
    bigEndian: be,
    tokenSeq: u32(buf, 13, be),
    ringId,
    retransFlg: u32(buf, 29, be),
    membIndex,
    addr,
    membList,
  });
}

/** Decode a TOKEN_HOLD_CANCEL. */
export function decodeTokenHoldCancel(buf: Buffer): DecodeResult<TokenHoldCancel> {
  const bad = checkHeaderOfType(buf, MessageType.TokenHoldCancel);
  if (bad) return bad;
  const len = buf.length;
  if (len < TOKEN_HOLD_CANCEL_SIZE) return tooShort(5, len, TOKEN_HOLD_CANCEL_SIZE, 'its fixed size');
  const be = isBigEndian(buf);
  return ok({
    type: MessageType.TokenHoldCancel,
    encapsulated: buf[4]!,
    nodeid: u32(buf, 5, be),
    targetNodeid: u32(buf, 9, be),
    bigEndian: be,
    ringId: readRingId(buf, 13, be),
  });
}

/** Decode any totem datagram. */
export function decodeMessage(buf: Buffer): DecodeResult<TotemMessage> {
  const bad = checkHeader(buf);
  if (bad) return bad;
  switch (buf[3]) {
    case MessageType.OrfToken:
      return decodeOrfToken(buf);
    case MessageType.Mcast:
      return decodeMcast(buf);
    case MessageType.MembMergeDetect:
      return decodeMembMergeDetect(buf);
    case MessageType.MembJoin:
      return decodeMembJoin(buf);
    case MessageType.MembCommitToken:
      return decodeMembCommitToken(buf);
    default:
      return decodeTokenHoldCancel(buf);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding (little-endian, target_nodeid 0). Every `*Into` returns the number of bytes written.

function room(buf: Buffer, off: number, size: number, what: string): void {
  if (off < 0 || off + size > buf.length) {
    throw new RangeError(`${what}: needs ${size} bytes at offset ${off}, buffer has ${buf.length}`);
  }
}

/** Encoded size of an ORF token. */
export function orfTokenSize(tok: OrfTokenFields): number {
  return ORF_TOKEN_SIZE + RTR_ITEM_SIZE * tok.rtrList.length;
}

/** Write an ORF token at `off` (allocation-free). */
export function encodeOrfTokenInto(tok: OrfTokenFields, buf: Buffer, off = 0): number {
  const n = tok.rtrList.length;
  if (n > RETRANSMIT_ENTRIES_MAX) {
    throw new RangeError(`ORF_TOKEN rtr list of ${n} entries exceeds ${RETRANSMIT_ENTRIES_MAX}`);
  }
  const size = ORF_TOKEN_SIZE + RTR_ITEM_SIZE * n;
  room(buf, off, size, 'ORF_TOKEN');
  writeHeader(buf, off, MessageType.OrfToken, 0, tok.nodeid);
  writeUInt32LE(buf, tok.seq >>> 0, off + 13);
  writeUInt32LE(buf, tok.tokenSeq >>> 0, off + 17);
  writeUInt32LE(buf, tok.aru >>> 0, off + 21);
  writeUInt32LE(buf, tok.aruAddr >>> 0, off + 25);
  writeRingId(buf, off + 29, tok.ringId);
  writeUInt32LE(buf, tok.backlog >>> 0, off + 41);
  writeUInt32LE(buf, tok.fcc >>> 0, off + 45);
  writeInt32LE(buf, tok.retransFlg | 0, off + 49);
  writeInt32LE(buf, n, off + 53);
  for (let i = 0; i < n; i++) {
    const item = tok.rtrList[i]!;
    const o = off + ORF_TOKEN_SIZE + RTR_ITEM_SIZE * i;
    writeRingId(buf, o, item.ringId);
    writeUInt32LE(buf, item.seq >>> 0, o + 12);
  }
  return size;
}

/** Encode an ORF token into a new Buffer. */
export function encodeOrfToken(tok: OrfTokenFields): Buffer {
  const buf = Buffer.allocUnsafe(orfTokenSize(tok));
  encodeOrfTokenInto(tok, buf, 0);
  return buf;
}

/** Write the 45-byte MCAST header at `off`; the payload goes right after it. */
export function encodeMcastHeaderInto(m: McastFields, buf: Buffer, off = 0): number {
  room(buf, off, MCAST_HEADER_SIZE, 'MCAST header');
  writeHeader(buf, off, MessageType.Mcast, m.encapsulated, m.nodeid);
  writeUInt32LE(buf, m.systemFrom >>> 0, off + 13);
  writeUInt32LE(buf, m.seq >>> 0, off + 17);
  writeInt32LE(buf, m.thisSeqno | 0, off + 21);
  writeRingId(buf, off + 25, m.ringId);
  writeUInt32LE(buf, m.nodeId >>> 0, off + 37);
  writeInt32LE(buf, m.guarantee | 0, off + 41);
  return MCAST_HEADER_SIZE;
}

/**
 * The 45-byte MCAST header alone, for scatter sends (`socket.send([header, payload])`) that
 * avoid copying the payload.
 */
export function encodeMcastHeader(m: McastFields): Buffer {
  const buf = Buffer.allocUnsafe(MCAST_HEADER_SIZE);
  encodeMcastHeaderInto(m, buf, 0);
  return buf;
}

/** Write header + payload at `off`. */
export function encodeMcastInto(m: McastFields, payload: Uint8Array, buf: Buffer, off = 0): number {
  const size = MCAST_HEADER_SIZE + payload.length;
  room(buf, off, size, 'MCAST');
  encodeMcastHeaderInto(m, buf, off);
  buf.set(payload, off + MCAST_HEADER_SIZE);
  return size;
}

/**
 * A complete MCAST datagram. For a recovery copy pass `encapsulated: 1` and the original
 * datagram (`McastMessage.raw`) as payload.
 */
export function encodeMcast(m: McastFields, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(MCAST_HEADER_SIZE + payload.length);
  encodeMcastInto(m, payload, buf, 0);
  return buf;
}

/** Encoded size of a MEMB_JOIN. */
export function membJoinSize(j: MembJoinFields): number {
  return MEMB_JOIN_SIZE + SRP_ADDR_SIZE * (j.procList.length + j.failedList.length);
}

/** Write a MEMB_JOIN at `off`. */
export function encodeMembJoinInto(j: MembJoinFields, buf: Buffer, off = 0): number {
  const p = j.procList.length;
  const f = j.failedList.length;
  if (p > PROCESSOR_COUNT_MAX || f > PROCESSOR_COUNT_MAX) {
    throw new RangeError(`MEMB_JOIN lists of ${p} + ${f} entries exceed ${PROCESSOR_COUNT_MAX}`);
  }
  const size = membJoinSize(j);
  room(buf, off, size, 'MEMB_JOIN');
  writeHeader(buf, off, MessageType.MembJoin, 0, j.nodeid);
  writeUInt32LE(buf, j.systemFrom >>> 0, off + 13);
  writeUInt32LE(buf, p, off + 17);
  writeUInt32LE(buf, f, off + 21);
  writeBigUInt64LE(buf, j.ringSeq, off + 25);
  let o = off + MEMB_JOIN_SIZE;
  for (let i = 0; i < p; i++, o += SRP_ADDR_SIZE) writeUInt32LE(buf, j.procList[i]! >>> 0, o);
  for (let i = 0; i < f; i++, o += SRP_ADDR_SIZE) writeUInt32LE(buf, j.failedList[i]! >>> 0, o);
  return size;
}

/** Encode a MEMB_JOIN into a new Buffer. */
export function encodeMembJoin(j: MembJoinFields): Buffer {
  const buf = Buffer.allocUnsafe(membJoinSize(j));
  encodeMembJoinInto(j, buf, 0);
  return buf;
}

/** Write a MEMB_MERGE_DETECT at `off`. */
export function encodeMembMergeDetectInto(m: MembMergeDetectFields, buf: Buffer, off = 0): number {
  room(buf, off, MEMB_MERGE_DETECT_SIZE, 'MEMB_MERGE_DETECT');
  writeHeader(buf, off, MessageType.MembMergeDetect, 0, m.nodeid);
  writeUInt32LE(buf, m.systemFrom >>> 0, off + 13);
  writeRingId(buf, off + 17, m.ringId);
  return MEMB_MERGE_DETECT_SIZE;
}

/** Encode a MEMB_MERGE_DETECT into a new Buffer. */
export function encodeMembMergeDetect(m: MembMergeDetectFields): Buffer {
  const buf = Buffer.allocUnsafe(MEMB_MERGE_DETECT_SIZE);
  encodeMembMergeDetectInto(m, buf, 0);
  return buf;
}

/** Encoded size of a MEMB_COMMIT_TOKEN. */
export function membCommitTokenSize(c: MembCommitTokenFields): number {
  return MEMB_COMMIT_TOKEN_SIZE + (SRP_ADDR_SIZE + COMMIT_MEMB_ENTRY_SIZE) * c.addr.length;
}

/** Write a MEMB_COMMIT_TOKEN at `off`. */
export function encodeMembCommitTokenInto(c: MembCommitTokenFields, buf: Buffer, off = 0): number {
  const n = c.addr.length;
  if (c.membList.length !== n) {
    throw new RangeError(`MEMB_COMMIT_TOKEN has ${n} addr entries but ${c.membList.length} memb entries`);
  }
  if (n > PROCESSOR_COUNT_MAX) {
    throw new RangeError(`MEMB_COMMIT_TOKEN of ${n} members exceeds ${PROCESSOR_COUNT_MAX}`);
  }
  const size = membCommitTokenSize(c);
  room(buf, off, size, 'MEMB_COMMIT_TOKEN');
  writeHeader(buf, off, MessageType.MembCommitToken, 0, c.nodeid);
  writeUInt32LE(buf, c.tokenSeq >>> 0, off + 13);
  writeRingId(buf, off + 17, c.ringId);
  writeUInt32LE(buf, c.retransFlg >>> 0, off + 29);
  writeInt32LE(buf, c.membIndex | 0, off + 33);
  writeInt32LE(buf, n, off + 37);
  let o = off + MEMB_COMMIT_TOKEN_SIZE;
  for (let i = 0; i < n; i++, o += SRP_ADDR_SIZE) writeUInt32LE(buf, c.addr[i]! >>> 0, o);
  for (let i = 0; i < n; i++, o += COMMIT_MEMB_ENTRY_SIZE) {
    const e = c.membList[i]!;
    writeRingId(buf, o, e.ringId);
    writeUInt32LE(buf, e.aru >>> 0, o + 12);
    writeUInt32LE(buf, e.highDelivered >>> 0, o + 16);
    writeUInt32LE(buf, e.receivedFlg >>> 0, o + 20);
  }
  return size;
}

/** Encode a MEMB_COMMIT_TOKEN into a new Buffer. */
export function encodeMembCommitToken(c: MembCommitTokenFields): Buffer {
  const buf = Buffer.allocUnsafe(membCommitTokenSize(c));
  encodeMembCommitTokenInto(c, buf, 0);
  return buf;
}

/** Write a TOKEN_HOLD_CANCEL at `off`. */
export function encodeTokenHoldCancelInto(t: TokenHoldCancelFields, buf: Buffer, off = 0): number {
  room(buf, off, TOKEN_HOLD_CANCEL_SIZE, 'TOKEN_HOLD_CANCEL');
  writeHeader(buf, off, MessageType.TokenHoldCancel, 0, t.nodeid);
  writeRingId(buf, off + 13, t.ringId);
  return TOKEN_HOLD_CANCEL_SIZE;
}

/** Encode a TOKEN_HOLD_CANCEL into a new Buffer. */
export function encodeTokenHoldCancel(t: TokenHoldCancelFields): Buffer {
  const buf = Buffer.allocUnsafe(TOKEN_HOLD_CANCEL_SIZE);
  encodeTokenHoldCancelInto(t, buf, 0);
  return buf;
}

/** Encoded size of any message. */
export function encodedSize(msg: TotemMessage): number {
  switch (msg.type) {
    case MessageType.OrfToken:
      return orfTokenSize(msg);
    case MessageType.Mcast:
      return MCAST_HEADER_SIZE + msg.payload.length;
    case MessageType.MembMergeDetect:
      return MEMB_MERGE_DETECT_SIZE;
    case MessageType.MembJoin:
      return membJoinSize(msg);
    case MessageType.MembCommitToken:
      return membCommitTokenSize(msg);
    case MessageType.TokenHoldCancel:
      return TOKEN_HOLD_CANCEL_SIZE;
  }
}

/** Write any message at `off` (an MCAST writes its header fields and copies its payload). */
export function encodeMessageInto(msg: TotemMessage, buf: Buffer, off = 0): number {
  switch (msg.type) {
    case MessageType.OrfToken:
      return encodeOrfTokenInto(msg, buf, off);
    case MessageType.Mcast:
      return encodeMcastInto(msg, msg.payload, buf, off);
    case MessageType.MembMergeDetect:
      return encodeMembMergeDetectInto(msg, buf, off);
    case MessageType.MembJoin:
      return encodeMembJoinInto(msg, buf, off);
    case MessageType.MembCommitToken:
      return encodeMembCommitTokenInto(msg, buf, off);
    case MessageType.TokenHoldCancel:
      return encodeTokenHoldCancelInto(msg, buf, off);
  }
}

/** Encode any message into a new Buffer. */
export function encodeMessage(msg: TotemMessage): Buffer {
  const buf = Buffer.allocUnsafe(encodedSize(msg));
  encodeMessageInto(msg, buf, 0);
  return buf;
}
