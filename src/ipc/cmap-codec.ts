/**
 * cmap IPC payloads (include/corosync/ipc_cmap.h, spec cmap.md §3), byte-exact: one codec
 * shared by the cmap service (decode requests, encode responses/notifications) and the
 * client library (encode requests, decode responses/notifications).
 *
 * Every struct is written into one zero-filled buffer of its exact size (pads are zero, as
 * corosync memsets its cmap structs). Decoders never read past the frame; callers check
 * frame sizes first (`cmapRequestSizeError`, `cmapResponseSizeError`).
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import { allocRequest, allocResponse } from './frame.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt16LE,
  readUInt8,
  writeBigUInt64LE,
  writeInt32LE,
  writeUInt16LE,
  writeUInt8,
} from '../common/bytes.js';

/** MESSAGE_REQ_CMAP_* */
export const CmapReqId = {
  SET: 0,
  DELETE: 1,
  GET: 2,
  ADJUST_INT: 3,
  ITER_INIT: 4,
  ITER_NEXT: 5,
  ITER_FINALIZE: 6,
  TRACK_ADD: 7,
  TRACK_DELETE: 8,
  SET_CURRENT_MAP: 9,
} as const;

/** Number of cmap lib functions (ids 0..9). */
export const CMAP_REQUEST_COUNT = 10;

/** MESSAGE_RES_CMAP_* (note SET_CURRENT_MAP's reply id 10 and NOTIFY_CALLBACK 9). */
export const CmapResId = {
  SET: 0,
  DELETE: 1,
  GET: 2,
  ADJUST_INT: 3,
  ITER_INIT: 4,
  ITER_NEXT: 5,
  ITER_FINALIZE: 6,
  TRACK_ADD: 7,
  TRACK_DELETE: 8,
  NOTIFY_CALLBACK: 9,
  SET_CURRENT_MAP: 10,
} as const;

/** CMAP_SETMAP_DEFAULT / CMAP_SETMAP_STATS */
export const CmapSetMap = { DEFAULT: 0, STATS: 1 } as const;

/** sizeof(mar_name_t) and its value array. */
export const MAR_NAME_SIZE = 264;
export const MAR_NAME_VALUE_SIZE = 256;

/** Struct sizes (spec cmap.md §3). */
export const CmapSize = {
  SET_REQ: 296,
  DELETE_REQ: 280,
  GET_REQ: 288,
  ADJUST_INT_REQ: 288,
  ITER_INIT_REQ: 280,
  ITER_NEXT_REQ: 24,
  ITER_FINALIZE_REQ: 24,
  TRACK_ADD_REQ: 296,
  TRACK_DELETE_REQ: 24,
  SET_CURRENT_MAP_REQ: 24,
  BARE_RES: 24,
  GET_RES: 40,
  ITER_INIT_RES: 32,
  ITER_NEXT_RES: 304,
  TRACK_ADD_RES: 32,
  TRACK_DELETE_RES: 32,
  NOTIFY: 336,
} as const;

const U64_MAX = 0xffff_ffff_ffff_ffffn;

// ----------------------------------------------------------------------------------------
// mar_name_t

/** Key bytes as C sees them: UTF-8 of the string. */
export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}

/**
 * Write a mar_name_t at `offset`: length (u16) = byte length, value = the bytes (the rest of
 * the 256 bytes stays zero, so the value is NUL-terminated when shorter than 256).
 */
export function writeMarName(buf: Buffer, offset: number, name: Buffer): void {
  if (name.length > MAR_NAME_VALUE_SIZE) {
    throw new CsError(
      CsErrorCode.CS_ERR_NAME_TOO_LONG,
      `name of ${name.length} bytes does not fit mar_name_t`,
    );
  }
  writeUInt16LE(buf, name.length, offset);
  name.copy(buf, offset + 8);
}

/** The `length` field of a mar_name_t. */
export function readMarNameLength(buf: Buffer, offset: number): number {
  return readUInt16LE(buf, offset);
}

/**
 * A mar_name_t's value read the way corosync's server does: as a NUL-terminated string,
 * ignoring `length` (bounded by the 256-byte array).
 */
export function readMarNameCString(buf: Buffer, offset: number): string {
  const start = offset + 8;
  const end = start + MAR_NAME_VALUE_SIZE;
  let nul = buf.indexOf(0, start);
  if (nul < 0 || nul > end) nul = end;
  return buf.toString('utf8', start, nul);
}

/** A mar_name_t's value read by its `length` field (bounded by 256), as libcmap's iter_next does. */
export function readMarNameByLength(buf: Buffer, offset: number): string {
  const len = Math.min(readUInt16LE(buf, offset), MAR_NAME_VALUE_SIZE);
  return buf.toString('utf8', offset + 8, offset + 8 + len);
}

function u64ToNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CsError(CsErrorCode.CS_ERR_TOO_BIG, `${what} ${v} is too large`);
  }
  return Number(v);
}

function checkU64(v: bigint): bigint {
  if (v < 0n || v > U64_MAX) throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `handle ${v} is not a u64`);
  return v;
}

// ----------------------------------------------------------------------------------------
// Requests (client → server)

/** SET: header(16) key_name@16 value_len u64@280 type u8@288 value@296 (strings without NUL). */
export function encodeSetRequest(key: Buffer, type: number, value: Uint8Array): Buffer {
  const buf = allocRequest(CmapReqId.SET, CmapSize.SET_REQ + value.length);
  writeMarName(buf, 16, key);
  writeBigUInt64LE(buf, BigInt(value.length), 280);
  writeUInt8(buf, type & 0xff, 288);
  buf.set(value, CmapSize.SET_REQ);
  return buf;
}

export interface SetRequest {
  readonly key: string;
  readonly type: number;
  /** A view into the frame. */
  readonly value: Buffer;
}

export function decodeSetRequest(frame: Buffer): SetRequest {
  const len = Number(readBigUInt64LE(frame, 280));
  return {
    key: readMarNameCString(frame, 16),
    type: readUInt8(frame, 288),
    value: frame.subarray(CmapSize.SET_REQ, CmapSize.SET_REQ + len),
  };
}

/** DELETE: header(16) key_name@16. */
export function encodeDeleteRequest(key: Buffer): Buffer {
  const buf = allocRequest(CmapReqId.DELETE, CmapSize.DELETE_REQ);
  writeMarName(buf, 16, key);
  return buf;
}

/** The key of a DELETE/GET/ADJUST_INT request (server semantics: NUL-terminated). */
export function decodeKeyRequest(frame: Buffer): string {
  return readMarNameCString(frame, 16);
}

/** GET: header(16) key_name@16 value_len u64@280 (capacity; 0 = metadata only). */
export function encodeGetRequest(key: Buffer, capacity: number): Buffer {
  const buf = allocRequest(CmapReqId.GET, CmapSize.GET_REQ);
  writeMarName(buf, 16, key);
  writeBigUInt64LE(buf, BigInt(capacity), 280);
  return buf;
}

export interface GetRequest {
  readonly key: string;
  readonly capacity: bigint;
}

export function decodeGetRequest(frame: Buffer): GetRequest {
  return { key: readMarNameCString(frame, 16), capacity: readBigUInt64LE(frame, 280) };
}

/** ADJUST_INT: header(16) key_name@16 step i32@280 pad. */
export function encodeAdjustIntRequest(key: Buffer, step: number): Buffer {
  const buf = allocRequest(CmapReqId.ADJUST_INT, CmapSize.ADJUST_INT_REQ);
  writeMarName(buf, 16, key);
  writeInt32LE(buf, step, 280);
  return buf;
}

export function decodeAdjustIntRequest(frame: Buffer): { key: string; step: number } {
  return { key: readMarNameCString(frame, 16), step: readInt32LE(frame, 280) };
}

/** ITER_INIT: header(16) prefix@16 (length 0 = whole map). */
export function encodeIterInitRequest(prefix: Buffer | undefined): Buffer {
  const buf = allocRequest(CmapReqId.ITER_INIT, CmapSize.ITER_INIT_REQ);
  if (prefix) writeMarName(buf, 16, prefix);
  return buf;
}

/** The prefix of an ITER_INIT request: undefined when `length` is 0. */
export function decodeIterInitRequest(frame: Buffer): string | undefined {
  return readMarNameLength(frame, 16) > 0 ? readMarNameCString(frame, 16) : undefined;
}

/** ITER_NEXT / ITER_FINALIZE / TRACK_DELETE: header(16) handle u64@16. */
export function encodeHandleRequest(id: number, handle: bigint): Buffer {
  const buf = allocRequest(id, 24);
  writeBigUInt64LE(buf, checkU64(handle), 16);
  return buf;
}

export function decodeHandleRequest(frame: Buffer): bigint {
  return readBigUInt64LE(frame, 16);
}

/** TRACK_ADD: header(16) key_name@16 track_type i32@280 pad track_inst_handle u64@288. */
export function encodeTrackAddRequest(
  key: Buffer | undefined,
  trackType: number,
  instHandle: bigint,
): Buffer {
  const buf = allocRequest(CmapReqId.TRACK_ADD, CmapSize.TRACK_ADD_REQ);
  if (key) writeMarName(buf, 16, key);
  writeInt32LE(buf, trackType | 0, 280);
  writeBigUInt64LE(buf, checkU64(instHandle), 288);
  return buf;
}

export interface TrackAddRequest {
  /** undefined when key_name.length is 0 (no key). */
  readonly key: string | undefined;
  readonly trackType: number;
  readonly instHandle: bigint;
}

export function decodeTrackAddRequest(frame: Buffer): TrackAddRequest {
  return {
    key: readMarNameLength(frame, 16) > 0 ? readMarNameCString(frame, 16) : undefined,
    trackType: readInt32LE(frame, 280),
    instHandle: readBigUInt64LE(frame, 288),
  };
}

/** SET_CURRENT_MAP: header(16) map i32@16 pad. */
export function encodeSetCurrentMapRequest(map: number): Buffer {
  const buf = allocRequest(CmapReqId.SET_CURRENT_MAP, CmapSize.SET_CURRENT_MAP_REQ);
  writeInt32LE(buf, map | 0, 16);
  return buf;
}

export function decodeSetCurrentMapRequest(frame: Buffer): number {
  return readInt32LE(frame, 16);
}

/** The size of every cmap request but SET (whose value follows its fixed part), by id. */
const FIXED_REQUEST_SIZE: ReadonlyMap<number, number> = new Map([
  [CmapReqId.DELETE, CmapSize.DELETE_REQ],
  [CmapReqId.GET, CmapSize.GET_REQ],
  [CmapReqId.ADJUST_INT, CmapSize.ADJUST_INT_REQ],
  [CmapReqId.ITER_INIT, CmapSize.ITER_INIT_REQ],
  [CmapReqId.ITER_NEXT, CmapSize.ITER_NEXT_REQ],
  [CmapReqId.ITER_FINALIZE, CmapSize.ITER_FINALIZE_REQ],
  [CmapReqId.TRACK_ADD, CmapSize.TRACK_ADD_REQ],
  [CmapReqId.TRACK_DELETE, CmapSize.TRACK_DELETE_REQ],
  [CmapReqId.SET_CURRENT_MAP, CmapSize.SET_CURRENT_MAP_REQ],
]);

/**
 * Check a request frame's size against its id. Returns a reason for a malformed frame
 * (unknown id, wrong size), or undefined when the frame may be decoded.
 */
export function cmapRequestSizeError(frame: Buffer): string | undefined {
  const id = readInt32LE(frame, 0);
  const size = frame.length;
  if (id === CmapReqId.SET) {
    if (size < CmapSize.SET_REQ) return `SET request of ${size} bytes is shorter than ${CmapSize.SET_REQ}`;
    const len = readBigUInt64LE(frame, 280);
    if (BigInt(size) !== BigInt(CmapSize.SET_REQ) + len) {
      return `SET request of ${size} bytes announces a ${len}-byte value (expected ${CmapSize.SET_REQ} + value_len)`;
    }
    return undefined;
  }
  const want = FIXED_REQUEST_SIZE.get(id);
  // (not reached for an unknown id: the server answers unknown ids itself)
  if (want === undefined) return `unknown cmap request id ${id}`;
  return size === want ? undefined : `cmap request id ${id} has size ${size}, expected ${want}`;
}

// ----------------------------------------------------------------------------------------
// Responses (server → client)

/** A bare 24-byte response header (SET, DELETE, ADJUST_INT, ITER_FINALIZE, SET_CURRENT_MAP=10). */
export function encodeBareResponse(id: number, error: number): Buffer {
  return allocResponse(id, CmapSize.BARE_RES, error);
}

/**
 * GET response: on success 40 + capacity bytes, value_len u64@24 = actual length, type
 * u8@32, value@40 (actual bytes, rest zero). On error exactly 40 bytes, len 0, type 0.
 */
export function encodeGetResponse(error: number, capacity: number, type: number, value: Uint8Array): Buffer {
  if (error !== CsErrorCode.CS_OK) return allocResponse(CmapResId.GET, CmapSize.GET_RES, error);
  const buf = allocResponse(CmapResId.GET, CmapSize.GET_RES + capacity, error);
  writeBigUInt64LE(buf, BigInt(value.length), 24);
  writeUInt8(buf, type & 0xff, 32);
  if (capacity > 0) buf.set(value, CmapSize.GET_RES);
  return buf;
}

export interface GetResponse {
  readonly error: number;
  readonly type: number;
  /** Actual stored length (strings include their NUL). */
  readonly length: number;
  /** The value bytes present in the frame (min(length, capacity)), a view into it. */
  readonly data: Buffer;
}

export function decodeGetResponse(frame: Buffer): GetResponse {
  const error = readInt32LE(frame, 16);
  const length = u64ToNumber(readBigUInt64LE(frame, 24), 'value_len');
  const avail = Math.max(0, frame.length - CmapSize.GET_RES);
  return {
    error,
    length,
    type: readUInt8(frame, 32),
    data: frame.subarray(CmapSize.GET_RES, CmapSize.GET_RES + Math.min(length, avail)),
  };
}

/** ITER_INIT response (32): header id 4, iter_handle u64@24. */
export function encodeIterInitResponse(error: number, handle: bigint): Buffer {
  const buf = allocResponse(CmapResId.ITER_INIT, CmapSize.ITER_INIT_RES, error);
  writeBigUInt64LE(buf, handle, 24);
  return buf;
}

/** A u64 at offset 24 of a response (iter_handle, track_handle, track_inst_handle). */
export function decodeHandleResponse(frame: Buffer): bigint {
  return readBigUInt64LE(frame, 24);
}

/** ITER_NEXT response (304): key_name@24, value_len u64@288, type u8@296. */
export function encodeIterNextResponse(
  error: number,
  entry: { key: string; length: number; type: number } | undefined,
): Buffer {
  const buf = allocResponse(CmapResId.ITER_NEXT, CmapSize.ITER_NEXT_RES, error);
  if (entry) {
    writeMarName(buf, 24, keyBytes(entry.key));
    writeBigUInt64LE(buf, BigInt(entry.length), 288);
    writeUInt8(buf, entry.type & 0xff, 296);
  }
  return buf;
}

export interface IterNextResponse {
  readonly error: number;
  readonly key: string;
  readonly length: number;
  readonly type: number;
}

export function decodeIterNextResponse(frame: Buffer): IterNextResponse {
  return {
    error: readInt32LE(frame, 16),
    key: readMarNameByLength(frame, 24),
    length: u64ToNumber(readBigUInt64LE(frame, 288), 'value_len'),
    type: readUInt8(frame, 296),
  };
}

/** TRACK_ADD response (32): track_handle u64@24. */
export function encodeTrackAddResponse(error: number, trackHandle: bigint): Buffer {
  const buf = allocResponse(CmapResId.TRACK_ADD, CmapSize.TRACK_ADD_RES, error);
  writeBigUInt64LE(buf, trackHandle, 24);
  return buf;
}

/** TRACK_DELETE response (32): track_inst_handle u64@24 (0 on error). */
export function encodeTrackDeleteResponse(error: number, instHandle: bigint): Buffer {
  const buf = allocResponse(CmapResId.TRACK_DELETE, CmapSize.TRACK_DELETE_RES, error);
  writeBigUInt64LE(buf, instHandle, 24);
  return buf;
}

/** Minimum response size the client needs to decode a reply to request `reqId` with CS_OK. */
export function cmapResponseMinSize(reqId: number): number {
  switch (reqId) {
    case CmapReqId.GET:
      return CmapSize.GET_RES;
    case CmapReqId.ITER_INIT:
      return CmapSize.ITER_INIT_RES;
    case CmapReqId.ITER_NEXT:
      return CmapSize.ITER_NEXT_RES;
    case CmapReqId.TRACK_ADD:
      return CmapSize.TRACK_ADD_RES;
    case CmapReqId.TRACK_DELETE:
      return CmapSize.TRACK_DELETE_RES;
    default:
      return CmapSize.BARE_RES;
  }
}

// ----------------------------------------------------------------------------------------
// Dispatch: NOTIFY_CALLBACK (id 9)

/** A value carried by a notification: type 0 / empty bytes = none. */
export interface NotifyValue {
  readonly type: number;
  readonly bytes: Uint8Array;
}

export interface Notify {
  readonly instHandle: bigint;
  readonly key: string;
  readonly event: number;
  readonly newValue: NotifyValue;
  readonly oldValue: NotifyValue;
}

const NONE: NotifyValue = { type: 0, bytes: Buffer.alloc(0) };

/**
 * NOTIFY (336 + new + old): track_inst_handle u64@24, key_name@32, event i32@296,
 * new_value_type u8@304, old_value_type u8@312, new_value_len u64@320, old_value_len
 * u64@328, new value@336, old value after it.
 */
export function encodeNotify(
  instHandle: bigint,
  key: string,
  event: number,
  newValue: NotifyValue | undefined,
  oldValue: NotifyValue | undefined,
): Buffer {
  const nv = newValue ?? NONE;
  const ov = oldValue ?? NONE;
  const size = CmapSize.NOTIFY + nv.bytes.length + ov.bytes.length;
  const buf = allocResponse(CmapResId.NOTIFY_CALLBACK, size, CsErrorCode.CS_OK);
  writeBigUInt64LE(buf, instHandle, 24);
  writeMarName(buf, 32, keyBytes(key));
  writeInt32LE(buf, event, 296);
  writeUInt8(buf, nv.type & 0xff, 304);
  writeUInt8(buf, ov.type & 0xff, 312);
  writeBigUInt64LE(buf, BigInt(nv.bytes.length), 320);
  writeBigUInt64LE(buf, BigInt(ov.bytes.length), 328);
  buf.set(nv.bytes, CmapSize.NOTIFY);
  buf.set(ov.bytes, CmapSize.NOTIFY + nv.bytes.length);
  return buf;
}

/**
 * Decode a NOTIFY frame. Returns a reason string when the frame is malformed (too short,
 * value lengths not matching the size). Value bytes are views into the frame.
 */
export function decodeNotify(frame: Buffer): Notify | string {
  if (frame.length < CmapSize.NOTIFY) return `notification of ${frame.length} bytes is shorter than 336`;
  const newLen = readBigUInt64LE(frame, 320);
  const oldLen = readBigUInt64LE(frame, 328);
  if (BigInt(CmapSize.NOTIFY) + newLen + oldLen !== BigInt(frame.length)) {
    return `notification of ${frame.length} bytes carries ${newLen} + ${oldLen} value bytes`;
  }
  const n = Number(newLen);
  const o = Number(oldLen);
  return {
    instHandle: readBigUInt64LE(frame, 24),
    key: readMarNameCString(frame, 32),
    event: readInt32LE(frame, 296),
    newValue: { type: readUInt8(frame, 304), bytes: frame.subarray(CmapSize.NOTIFY, CmapSize.NOTIFY + n) },
    oldValue: {
      type: readUInt8(frame, 312),
      bytes: frame.subarray(CmapSize.NOTIFY + n, CmapSize.NOTIFY + n + o),
    },
  };
}
