/**
 * The 13-byte common header (`struct totem_message_header`, spec/totem-wire.md §4), byte-order
 * detection (§3), the receive-side header checks (§2.7 steps 1–4) and the typed decode result
 * shared by every decoder of this folder.
 *
 * | off | size | field           |
 * |----:|-----:|-----------------|
 * |   0 |    2 | magic 0xC070, writer's byte order (`70 c0` = little-endian writer) |
 * |   2 |    1 | version (3)     |
 * |   3 |    1 | type (0..5)     |
 * |   4 |    1 | encapsulated (MCAST only: 1 = recovery copy, 2 = normal; 0 otherwise) |
 * |   5 |    4 | nodeid (sender / MCAST originator; 0 in a JOIN = LEAVE) |
 * |   9 |    4 | target_nodeid (knet only; uninitialised memory on udp/udpu) |
 */
import { Buffer } from 'node:buffer';
import { HEADER_SIZE, MESSAGE_TYPE_NAMES, MessageType, TOTEM_VERSION, messageTypeName } from './constants.js';
import type { RingId } from './seq.js';
import {
  readBigUInt64BE,
  readBigUInt64LE,
  readInt32BE,
  readInt32LE,
  readUInt16BE,
  readUInt16LE,
  readUInt32BE,
  readUInt32LE,
  writeBigUInt64LE,
  writeUInt32LE,
} from '../../common/bytes.js';

/** Why a datagram was refused. Stable strings: the daemon counts drops per code. */
export type DecodeErrorCode =
  /** shorter than the 13-byte header */
  | 'too-short'
  /** bytes 0..1 are neither `70 c0` nor `c0 70` */
  | 'bad-magic'
  /** version byte is not 3 */
  | 'bad-version'
  /** type byte is not 0..5 */
  | 'unknown-type'
  /** a typed decoder was handed a message of another type */
  | 'wrong-type'
  /** shorter than the fixed part of its type, or than its lists/arrays say */
  | 'truncated'
  /** a count or index is negative or above its protocol limit */
  | 'bad-count'
  /** longer than any message of its type may be */
  | 'too-long'
  /** an encapsulated MCAST whose inner message is not a valid, non-encapsulated MCAST */
  | 'bad-inner';

/** A refused datagram: `error` says what was wrong, in words, with the numbers involved. */
export interface DecodeFailure {
  readonly ok: false;
  readonly code: DecodeErrorCode;
  readonly error: string;
}

/** A decoded value. */
export interface DecodeSuccess<T> {
  readonly ok: true;
  readonly value: T;
}

/** What every decoder returns; decoders never throw on bad input. */
export type DecodeResult<T> = DecodeSuccess<T> | DecodeFailure;

/** Build a failure. */
export function fail(code: DecodeErrorCode, error: string): DecodeFailure {
  return { ok: false, code, error };
}

/** Build a success. */
export function ok<T>(value: T): DecodeSuccess<T> {
  return { ok: true, value };
}

/** Header fields present on every received message. */
export interface ReceivedHeader {
  /** Byte 4. Meaningful for MCAST only; the other types are sent with 0. */
  encapsulated: number;
  /** Raw `target_nodeid`: garbage on udp/udpu (spec §4). Kept for diagnostics; encoders write 0. */
  targetNodeid: number;
  /** The writer was big-endian (magic bytes `c0 70`). Encoders always write little-endian. */
  bigEndian: boolean;
}

/** The decoded common header. */
export interface TotemHeader extends ReceivedHeader {
  readonly magic: number;
  readonly version: number;
  readonly type: MessageType;
  readonly nodeid: number;
}

/**
 * Checks of §2.7 steps 1–4 (length ≥ 13, magic in either order, version 3, known type).
 * Returns `null` when the header is acceptable. Allocation-free on success.
 */
export function checkHeader(buf: Uint8Array): DecodeFailure | null {
  if (buf.length < HEADER_SIZE) {
    return fail('too-short', `datagram shorter than the totem header (${buf.length} < ${HEADER_SIZE})`);
  }
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  if (!((b0 === 0x70 && b1 === 0xc0) || (b0 === 0xc0 && b1 === 0x70))) {
    const hex = (b0 << 8) | b1;
    return fail(
      'bad-magic',
      `bad magic bytes 0x${hex.toString(16).padStart(4, '0')} (expected 70c0 or c070)${magicGuess(b0, b1)}`,
    );
  }
  const version = buf[2]!;
  if (version !== TOTEM_VERSION) {
    return fail('bad-version', `unsupported totem header version ${version} (expected ${TOTEM_VERSION})`);
  }
  const type = buf[3]!;
  if (type >= MESSAGE_TYPE_NAMES.length) {
    return fail('unknown-type', `unknown totem message type ${type}`);
  }
  return null;
}

/** A hint for magic values that other corosync versions/transports are known to send. */
function magicGuess(b0: number, b1: number): string {
  if (b0 === 0xff && b1 === 0xff) return ' (looks like corosync 2.2 with crypto)';
  if (b0 === 0xfe && b1 === 0xfe) return ' (looks like corosync 2.3+ with crypto)';
  if (b0 === 0x01) return ' (looks like a knet packet)';
  return '';
}

/** Whether the writer was big-endian. Only meaningful after {@link checkHeader} passed. */
export function isBigEndian(buf: Uint8Array): boolean {
  return buf[0] === 0xc0;
}

/** The type byte (no checks). */
export function peekType(buf: Uint8Array): number {
  return buf[3]!;
}

/** Decode just the header (for diagnostics and dispatch; allocates one object). */
export function decodeHeader(buf: Buffer): DecodeResult<TotemHeader> {
  const bad = checkHeader(buf);
  if (bad) return bad;
  const be = isBigEndian(buf);
  return ok({
    magic: be ? readUInt16BE(buf, 0) : readUInt16LE(buf, 0),
    version: buf[2]!,
    type: buf[3]! as MessageType,
    encapsulated: buf[4]!,
    nodeid: u32(buf, 5, be),
    targetNodeid: u32(buf, 9, be),
    bigEndian: be,
  });
}

/** Check the header and that the message is of `type`; `null` when both hold. */
export function checkHeaderOfType(buf: Uint8Array, type: MessageType): DecodeFailure | null {
  const bad = checkHeader(buf);
  if (bad) return bad;
  if (buf[3] !== type) {
    return fail('wrong-type', `expected ${messageTypeName(type)}, got ${messageTypeName(buf[3]!)}`);
  }
  return null;
}

/**
 * Write a little-endian header at `off`. `target_nodeid` is always written as 0 (the spec's
 * advice for senders; receivers ignore it).
 */
export function writeHeader(
  buf: Buffer,
  off: number,
  type: MessageType,
  encapsulated: number,
  nodeid: number,
): void {
  buf[off] = 0x70;
  buf[off + 1] = 0xc0;
  buf[off + 2] = TOTEM_VERSION;
  buf[off + 3] = type;
  buf[off + 4] = encapsulated & 0xff;
  writeUInt32LE(buf, nodeid >>> 0, off + 5);
  writeUInt32LE(buf, 0, off + 9);
}

// ---- primitive readers in either byte order (callers have checked the bounds) ----

/** u32 at `off`. */
export function u32(buf: Buffer, off: number, be: boolean): number {
  return be ? readUInt32BE(buf, off) : readUInt32LE(buf, off);
}

/** i32 at `off`. */
export function i32(buf: Buffer, off: number, be: boolean): number {
  return be ? readInt32BE(buf, off) : readInt32LE(buf, off);
}

/** u64 at `off`. */
export function u64(buf: Buffer, off: number, be: boolean): bigint {
  return be ? readBigUInt64BE(buf, off) : readBigUInt64LE(buf, off);
}

/**
 * The ring id at `off`. When `prev` holds the same value it is returned instead of a new
 * object, so decoding a token of an unchanged ring allocates nothing (the u64 is compared
 * through its two u32 halves; no BigInt is created on that path).
 */
export function readRingId(buf: Buffer, off: number, be: boolean, prev?: RingId): RingId {
  const rep = u32(buf, off, be);
  const lo = be ? readUInt32BE(buf, off + 8) : readUInt32LE(buf, off + 4);
  const hi = be ? readUInt32BE(buf, off + 4) : readUInt32LE(buf, off + 8);
  if (prev !== undefined && prev.rep === rep && hi < 0x200000 && Number(prev.seq) === hi * 0x100000000 + lo) {
    return prev;
  }
  return { rep, seq: (BigInt(hi) << 32n) | BigInt(lo) };
}

/**
 * Write a ring id little-endian at `off`. Seqs below 2⁵³ (all real ones) are written through
 * plain numbers, so no BigInt is created; `seq` must be a u64 (RangeError otherwise).
 */
export function writeRingId(buf: Buffer, off: number, r: RingId): void {
  writeUInt32LE(buf, r.rep >>> 0, off);
  const seq = r.seq;
  if (seq >= 0n && seq <= 0x1fffffffffffffn) {
    const n = Number(seq);
    const lo = n % 0x100000000;
    writeUInt32LE(buf, lo, off + 4);
    writeUInt32LE(buf, (n - lo) / 0x100000000, off + 8);
  } else {
    writeBigUInt64LE(buf, seq, off + 4);
  }
}
