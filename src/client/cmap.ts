/**
 * The cmap client library: corosync's libcmap (include/corosync/cmap.h) for TypeScript.
 *
 * Every call talks to the daemon's cmap service over IPC and fails with a `CsError` carrying
 * corosync's `cs_error_t` code, exactly where libcmap would return it. Change notifications
 * (trackers) are queued when they arrive and run only from `dispatch()` (or are taken from
 * the same queue by `notifications()`), never from inside another call.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import {
  CmapValueType,
  decodeValue,
  encodeValue,
  type CmapValue,
  type CmapNumberType,
} from '../cmap/types.js';
import {
  CmapReqId,
  CmapResId,
  CmapSize,
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
} from '../ipc/cmap-codec.js';
import { IpcClientConnection } from './connection.js';
import { ClientHandle } from './callback-handle.js';
import { iterateHandle } from './handle-iterator.js';
import { readBigInt64LE, readBigUInt64LE, readInt32LE } from '../common/bytes.js';

/** Which map a handle works on: CMAP_MAP_DEFAULT / CMAP_MAP_ICMAP (0) or CMAP_MAP_STATS (1). */
export const CmapMapKind = { ICMAP: 0, STATS: 1 } as const;

/** cs_dispatch_flags_t: how `dispatch()` runs queued notifications. */
export const CsDispatchFlags = { ONE: 1, ALL: 2, BLOCKING: 3, ONE_NONBLOCKING: 4 } as const;

/** CMAP_TRACK_* bits for `trackAdd` (the event passed to a callback is one of DELETE/MODIFY/ADD). */
export const CmapTrack = { DELETE: 1, MODIFY: 2, ADD: 4, PREFIX: 8 } as const;

/** A value carried by a notification (`struct cmap_notify_value`); type 0 and len 0 = none. */
export interface CmapNotifyValue {
  /** cmap value type code (CmapValueType), 0 for "no value". */
  type: number;
  /** Length in bytes (strings include their NUL). */
  len: number;
  /** The value bytes, as stored by the map. */
  data: Buffer;
}

/**
 * A tracker callback (`cmap_notify_fn_t`). `event` is CmapTrack.ADD, MODIFY or DELETE;
 * `trackHandle` is the handle `trackAdd` returned.
 */
export type CmapNotifyFn = (
  handle: CmapHandle,
  trackHandle: bigint,
  event: number,
  keyName: string,
  newValue: CmapNotifyValue,
  oldValue: CmapNotifyValue,
  userData: unknown,
) => void;

/** One step of an iteration: the key and its metadata (cmap_iter_next). */
export interface CmapIterEntry {
  key: string;
  /** cmap value type code. */
  type: number;
  /** value_len as the daemon reports it (strings include the NUL). */
  length: number;
}

/** A notification taken from the queue by `notifications()`. */
export interface CmapNotification {
  /** Handle returned by `trackAdd`. */
  trackHandle: bigint;
  /** CmapTrack.ADD, MODIFY or DELETE. */
  event: number;
  keyName: string;
  newValue: CmapNotifyValue;
  oldValue: CmapNotifyValue;
  /** `userData` given to `trackAdd`. */
  userData: unknown;
}

/** Options of `CmapHandle.initialize`. */
export interface CmapInitializeOptions {
  /** Daemon run directory (default: COROSYNC_TS_RUN_DIR, then the default run dir). */
  runDir?: string;
  /**
   * Notifications queued in memory before the library stops reading the event channel
   * (the daemon then queues them, within its own bound). Default 16384.
   */
  maxQueuedNotifications?: number;
}

/** The result of `getRaw`. */
export interface CmapRawValue {
  /** cmap value type code. */
  type: number;
  /** Actual stored length (strings include their NUL). */
  length: number;
  /** The bytes received (the whole value unless a smaller capacity was requested). */
  data: Buffer;
}

interface TrackerRecord {
  notify: CmapNotifyFn;
  userData: unknown;
  trackHandle: bigint;
}

const OK = CsErrorCode.CS_OK;
/** CS_MAX_NAME_LENGTH: libcmap rejects key names (and prefixes) this long or longer. */
const CS_MAX_NAME_LENGTH = 256;
/** cmap_get_int's buffer: the capacity libcmap asks for in the typed getters. */
const TYPED_GET_CAPACITY = 16;
/** First capacity tried by `get`/`getString` before falling back to a metadata round trip. */
const ADAPTIVE_GET_CAPACITY = 64;

function notifyValue(v: { type: number; bytes: Uint8Array }): CmapNotifyValue {
  const data = Buffer.from(v.bytes);
  return { type: v.type, len: data.length, data };
}

function keyArg(key: string, what = 'key name'): Buffer {
  if (typeof key !== 'string')
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${what} must be a string`);
  const bytes = keyBytes(key);
  if (bytes.length >= CS_MAX_NAME_LENGTH) {
    throw new CsError(CsErrorCode.CS_ERR_NAME_TOO_LONG, `${what} of ${bytes.length} bytes (limit 255)`);
  }
  return bytes;
}

/** Throw a reply's error, or CS_ERR_LIBRARY when an OK reply is shorter than `okSize`. */
function checkReply(res: Buffer, okSize: number, op: string, key: string | undefined): void {
  const error = readInt32LE(res, 16);
  if (error === OK && res.length >= okSize) return;
  const what = key === undefined ? op : `${op} ${key}`;
  if (error !== OK) throw new CsError(error, what);
  throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `${what}: short response (${res.length} < ${okSize})`);
}

/** The value bytes of a typed getter's GET reply (a view of it), after checking its type. */
function typedValue(res: Buffer, key: string, type: number): Buffer {
  const r = decodeGetResponse(res);
  if (r.type !== type) {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${key} has type ${r.type}, not ${type}`);
  }
  return r.data;
}

function handleArg(h: bigint, what: string): bigint {
  if (typeof h !== 'bigint' || h < 0n || h > 0xffff_ffff_ffff_ffffn) {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${what} must be a u64 bigint`);
  }
  return h;
}

/**
 * A connection to the cmap service (`cmap_handle_t`). Create it with `CmapHandle.initialize`,
 * release it with `finalize`.
 *
 * Notifications: `trackAdd` registers a callback; notifications arrive on the event channel
 * and wait in one queue. `dispatch(flags)` takes them from that queue and calls the
 * callbacks (libcmap's `cmap_dispatch`). `notifications()` is the idiomatic alternative: an
 * async iterator over the SAME queue that yields each notification as an object instead of
 * calling the callback. Every notification is delivered exactly once, to whichever consumer
 * takes it first; use one style per handle. Notifications of trackers deleted meanwhile
 * are dropped, as libcmap does.
 */
export class CmapHandle extends ClientHandle {
  private readonly trackers = new Map<bigint, TrackerRecord>();
  private nextInstHandle = 1n;

  private constructor(conn: IpcClientConnection, maxQueued: number) {
    super(conn, undefined, maxQueued);
  }

  /**
   * Connect to the cmap service (`cmap_initialize`), or with `map` given, connect and select
   * that map (`cmap_initialize_map`: CmapMapKind.ICMAP or CmapMapKind.STATS).
   *
   * Errors: CS_ERR_LIBRARY when no daemon listens at the run directory; the daemon's refusal
   * code (e.g. CS_ERR_TRY_AGAIN); CS_ERR_NOT_EXIST for an unknown map.
   */
  static async initialize(map?: number, options?: CmapInitializeOptions): Promise<CmapHandle> {
    const conn = await IpcClientConnection.connect('cmap', { runDir: options?.runDir });
    const handle = new CmapHandle(conn, options?.maxQueuedNotifications ?? 16384);
    if (map !== undefined) {
      try {
        if (!Number.isInteger(map))
          throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'map must be an integer');
        await handle.call(encodeSetCurrentMapRequest(map), CmapSize.BARE_RES, 'cmap_initialize_map');
      } catch (err) {
        await conn.close();
        throw err;
      }
    }
    return handle;
  }

  /**
   * Close the connection (`cmap_finalize`). Trackers are forgotten and queued notifications
   * dropped; a pending `dispatch()` or `notifications()` wait ends with CS_ERR_BAD_HANDLE
   * (the iterator simply finishes). A second call fails with CS_ERR_BAD_HANDLE.
   */
  async finalize(): Promise<void> {
    this.markFinalized();
    this.trackers.clear();
    await this.conn.close();
  }

  /** One queued notification to its tracker's callback (none when the tracker was deleted). */
  protected runFrame(frame: Buffer): void {
    const n = this.decode(frame);
    const rec = this.trackers.get(n.instHandle);
    rec?.notify(this, rec.trackHandle, n.event, n.keyName, n.newValue, n.oldValue, rec.userData);
  }

  /**
   * An async iterator over the notification queue (the idiomatic alternative to
   * `dispatch`). Each `next()` takes the oldest queued notification of a live tracker, or
   * waits for one; it does not call the tracker's callback. The iteration ends when the
   * handle is finalized and throws CS_ERR_LIBRARY when the connection is lost (after the
   * queued notifications). `break`ing out of a `for await` leaves the handle untouched.
   */
  notifications(): AsyncIterableIterator<CmapNotification> {
    return this.dispatcher.events((frame) => {
      const n = this.decode(frame);
      const rec = this.trackers.get(n.instHandle);
      if (!rec) return undefined;
      return {
        trackHandle: rec.trackHandle,
        event: n.event,
        keyName: n.keyName,
        newValue: n.newValue,
        oldValue: n.oldValue,
        userData: rec.userData,
      };
    });
  }

  /** Number of notifications waiting in the queue. */
  get pendingNotifications(): number {
    return this.queue.length;
  }

  // ---- get ----

  /** Read a key as a typed value (strings without their NUL). CS_ERR_NOT_EXIST if missing. */
  async get(key: string): Promise<CmapValue> {
    const raw = await this.getRaw(key);
    return decodeValue(raw.type, raw.data);
  }

  /**
   * `cmap_get`. With `capacity` given, exactly one GET asking for that many value bytes
   * (0 = metadata only: type and length, no data); a value longer than a non-zero capacity is
   * CS_ERR_INVALID_PARAM. Without it, the whole value is fetched (one round trip for values up
   * to 64 bytes, otherwise metadata first).
   */
  async getRaw(key: string, capacity?: number): Promise<CmapRawValue> {
    const name = keyArg(key);
    if (capacity !== undefined) {
      if (!Number.isSafeInteger(capacity) || capacity < 0) {
        throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `invalid capacity ${capacity}`);
      }
      return this.getOnce(name, capacity, key);
    }
    try {
      return await this.getOnce(name, ADAPTIVE_GET_CAPACITY, key);
    } catch (err) {
      if (!CsError.is(err, CsErrorCode.CS_ERR_INVALID_PARAM)) throw err;
    }
    // The value is longer than the first guess: ask for its length, then fetch it whole.
    // It may grow in between; retry a few times like a careful C caller would.
    for (let attempt = 0; ; attempt++) {
      const meta = await this.getOnce(name, 0, key);
      if (meta.length === 0) return meta;
      try {
        return await this.getOnce(name, meta.length, key);
      } catch (err) {
        if (!CsError.is(err, CsErrorCode.CS_ERR_INVALID_PARAM) || attempt >= 3) throw err;
      }
    }
  }

  /** `cmap_get_int8`: CS_ERR_INVALID_PARAM if the key is not INT8. */
  getInt8(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.INT8);
  }
  /** `cmap_get_uint8`. */
  getUint8(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.UINT8);
  }
  /** `cmap_get_int16`. */
  getInt16(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.INT16);
  }
  /** `cmap_get_uint16`. */
  getUint16(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.UINT16);
  }
  /** `cmap_get_int32`. */
  getInt32(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.INT32);
  }
  /** `cmap_get_uint32`. */
  getUint32(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.UINT32);
  }
  /** `cmap_get_int64`. */
  async getInt64(key: string): Promise<bigint> {
    return readBigInt64LE(await this.getTyped(key, CmapValueType.INT64), 0);
  }
  /** `cmap_get_uint64`. */
  async getUint64(key: string): Promise<bigint> {
    return readBigUInt64LE(await this.getTyped(key, CmapValueType.UINT64), 0);
  }
  /** `cmap_get_float`. */
  getFloat(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.FLOAT);
  }
  /** `cmap_get_double`. */
  getDouble(key: string): Promise<number> {
    return this.getNumber(key, CmapValueType.DOUBLE);
  }

  /** `cmap_get_string`: the string without its NUL; CS_ERR_INVALID_PARAM if not a STRING. */
  async getString(key: string): Promise<string> {
    const raw = await this.getRaw(key);
    if (raw.type !== CmapValueType.STRING) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${key} is not a string`);
    }
    const v = decodeValue(raw.type, raw.data);
    return v.value as string;
  }

  // ---- set ----

  /** Store a typed value (`cmap_set`; strings are sent without NUL, the daemon adds it). */
  async set(key: string, value: CmapValue): Promise<void> {
    const stored = encodeValue(value);
    const bytes =
      stored.type === CmapValueType.STRING ? stored.bytes.subarray(0, stored.bytes.length - 1) : stored.bytes;
    await this.setRaw(key, stored.type, bytes);
  }

  /** `cmap_set` with raw bytes: sent exactly as given. */
  async setRaw(key: string, type: number, data: Uint8Array): Promise<void> {
    const name = keyArg(key);
    if (!Number.isInteger(type)) throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `invalid type ${type}`);
    if (!(data instanceof Uint8Array))
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'value must be bytes');
    await this.callVoid(encodeSetRequest(name, type, data), CmapSize.BARE_RES, 'cmap_set', key);
  }

  /** `cmap_set_int8` (out-of-range numbers: CS_ERR_INVALID_PARAM). */
  setInt8(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.INT8, n);
  }
  /** `cmap_set_uint8`. */
  setUint8(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.UINT8, n);
  }
  /** `cmap_set_int16`. */
  setInt16(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.INT16, n);
  }
  /** `cmap_set_uint16`. */
  setUint16(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.UINT16, n);
  }
  /** `cmap_set_int32`. */
  setInt32(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.INT32, n);
  }
  /** `cmap_set_uint32`. */
  setUint32(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.UINT32, n);
  }
  /** `cmap_set_int64`. */
  setInt64(key: string, n: bigint): Promise<void> {
    return this.set(key, { type: CmapValueType.INT64, value: n });
  }
  /** `cmap_set_uint64`. */
  setUint64(key: string, n: bigint): Promise<void> {
    return this.set(key, { type: CmapValueType.UINT64, value: n });
  }
  /** `cmap_set_float` (IEEE single). */
  setFloat(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.FLOAT, n);
  }
  /** `cmap_set_double`. */
  setDouble(key: string, n: number): Promise<void> {
    return this.setNumber(key, CmapValueType.DOUBLE, n);
  }
  /** `cmap_set_string`: the text up to its first NUL (if any). */
  setString(key: string, s: string): Promise<void> {
    if (typeof s !== 'string')
      return Promise.reject(new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'value must be a string'));
    return this.set(key, { type: CmapValueType.STRING, value: s });
  }
  /** Store a BINARY value. */
  setBinary(key: string, bytes: Uint8Array): Promise<void> {
    return this.setRaw(key, CmapValueType.BINARY, bytes);
  }

  // ---- delete / adjust ----

  /** `cmap_delete`: CS_ERR_NOT_EXIST if missing, CS_ERR_ACCESS for read-only keys. */
  async delete(key: string): Promise<void> {
    const name = keyArg(key);
    await this.callVoid(encodeDeleteRequest(name), CmapSize.BARE_RES, 'cmap_delete', key);
  }

  /** `cmap_inc`: add 1 (integer types only, wrapping). */
  async inc(key: string): Promise<void> {
    await this.callVoid(encodeAdjustIntRequest(keyArg(key), 1), CmapSize.BARE_RES, 'cmap_inc', key);
  }

  /** `cmap_dec`: subtract 1 (integer types only, wrapping). */
  async dec(key: string): Promise<void> {
    await this.callVoid(encodeAdjustIntRequest(keyArg(key), -1), CmapSize.BARE_RES, 'cmap_dec', key);
  }

  // ---- iteration ----

  /** `cmap_iter_init`: start iterating keys starting with `prefix` (all keys without one). */
  async iterInit(prefix?: string): Promise<bigint> {
    const name = prefix ? keyArg(prefix, 'prefix') : undefined;
    const res = await this.call(encodeIterInitRequest(name), CmapSize.ITER_INIT_RES, 'cmap_iter_init');
    return decodeHandleResponse(res);
  }

  /**
   * `cmap_iter_next`: the next key in byte order, or null at the end (CS_ERR_NO_SECTIONS).
   * Unknown iterator: CS_ERR_BAD_HANDLE.
   */
  async iterNext(iter: bigint): Promise<CmapIterEntry | null> {
    const frame = encodeHandleRequest(CmapReqId.ITER_NEXT, handleArg(iter, 'iterator handle'));
    const res = await this.send(frame);
    const error = readInt32LE(res, 16);
    if (error === CsErrorCode.CS_ERR_NO_SECTIONS) return null;
    if (error !== OK) throw new CsError(error, 'cmap_iter_next');
    if (res.length < CmapSize.ITER_NEXT_RES) {
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `cmap_iter_next: short response (${res.length} bytes)`);
    }
    const r = decodeIterNextResponse(res);
    return { key: r.key, type: r.type, length: r.length };
  }

  /** `cmap_iter_finalize`. Unknown iterator: CS_ERR_BAD_HANDLE. */
  async iterFinalize(iter: bigint): Promise<void> {
    const frame = encodeHandleRequest(CmapReqId.ITER_FINALIZE, handleArg(iter, 'iterator handle'));
    await this.call(frame, CmapSize.BARE_RES, 'cmap_iter_finalize');
  }

  /**
   * Iterate keys with `prefix` (`for await (const e of handle.iter('totem.'))`). Wraps
   * iterInit/iterNext/iterFinalize; the daemon-side iterator is finalized when the loop ends
   * or breaks.
   */
  iter(prefix?: string): AsyncIterableIterator<CmapIterEntry> {
    return iterateHandle(
      () => this.iterInit(prefix),
      (it) => this.iterNext(it),
      (it) => this.iterFinalize(it),
    );
  }

  // ---- tracking ----

  /**
   * `cmap_track_add`: watch `key` (or, with CmapTrack.PREFIX, every key starting with it;
   * undefined/'' with PREFIX = whole map) for the events in `flags`. `notify` runs from
   * `dispatch()`. Returns the track handle. Bad flags: CS_ERR_INVALID_PARAM (from the daemon).
   */
  async trackAdd(
    key: string | undefined,
    flags: number,
    notify: CmapNotifyFn,
    userData?: unknown,
  ): Promise<bigint> {
    this.checkHandle();
    if (typeof notify !== 'function')
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'notify must be a function');
    if (!Number.isInteger(flags))
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `invalid track flags ${flags}`);
    const name = key ? keyArg(key) : undefined;
    const inst = this.nextInstHandle++;
    const rec: TrackerRecord = { notify, userData, trackHandle: 0n };
    // Registered before the request: a notification may be queued before the reply.
    this.trackers.set(inst, rec);
    try {
      const res = await this.call(
        encodeTrackAddRequest(name, flags, inst),
        CmapSize.TRACK_ADD_RES,
        'cmap_track_add',
      );
      rec.trackHandle = decodeHandleResponse(res);
      return rec.trackHandle;
    } catch (err) {
      this.trackers.delete(inst);
      throw err;
    }
  }

  /** `cmap_track_delete`. Unknown handle: CS_ERR_BAD_HANDLE. Queued notifications of it are dropped. */
  async trackDelete(trackHandle: bigint): Promise<void> {
    const frame = encodeHandleRequest(CmapReqId.TRACK_DELETE, handleArg(trackHandle, 'track handle'));
    const res = await this.call(frame, CmapSize.TRACK_DELETE_RES, 'cmap_track_delete');
    const inst = decodeHandleResponse(res);
    if (!this.trackers.delete(inst))
      throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, 'unknown tracker instance');
  }

  // ---- internals ----

  /**
   * Send a request; its reply. Not async itself (one promise per call, the connection's): a
   * finalized handle throws here, inside the async method that called it.
   */
  private send(frame: Buffer): Promise<Buffer> {
    this.checkHandle();
    return this.conn.request(frame);
  }

  /**
   * Send a request, throw the reply's error, check the OK reply's size. `op` (and `key`, when
   * given) name the call in errors; the name is put together only then.
   */
  private async call(frame: Buffer, okSize: number, op: string, key?: string): Promise<Buffer> {
    const res = await this.send(frame);
    checkReply(res, okSize, op, key);
    return res;
  }

  /**
   * `call` for the requests whose reply carries nothing more: the setters, delete, inc and
   * dec. One async function between the caller and the connection: each further one was a
   * promise and a microtask more per call (a cmap set loop runs one call at a time).
   */
  private async callVoid(frame: Buffer, okSize: number, op: string, key?: string): Promise<void> {
    checkReply(await this.send(frame), okSize, op, key);
  }

  private async getOnce(name: Buffer, capacity: number, key: string): Promise<CmapRawValue> {
    if (capacity > this.conn.maxMsgSize - CmapSize.GET_RES) {
      throw new CsError(CsErrorCode.CS_ERR_TOO_BIG, `capacity ${capacity} exceeds the message size`);
    }
    const res = await this.call(
      encodeGetRequest(name, capacity),
      CmapSize.GET_RES + capacity,
      'cmap_get',
      key,
    );
    const r = decodeGetResponse(res);
    return { type: r.type, length: r.length, data: Buffer.from(r.data) };
  }

  /**
   * The GET of a typed getter (`cmap_get_int32` and the others: capacity TYPED_GET_CAPACITY),
   * sent; `typedValue` checks its reply. Not async itself (a bad key throws here, inside the
   * async getter that calls it): a typed get runs two async functions (the getter and `call`),
   * not the five of `getRaw`'s way.
   */
  private typedGet(key: string): Promise<Buffer> {
    const name = keyArg(key);
    if (TYPED_GET_CAPACITY > this.conn.maxMsgSize - CmapSize.GET_RES) {
      throw new CsError(
        CsErrorCode.CS_ERR_TOO_BIG,
        `capacity ${TYPED_GET_CAPACITY} exceeds the message size`,
      );
    }
    return this.call(
      encodeGetRequest(name, TYPED_GET_CAPACITY),
      CmapSize.GET_RES + TYPED_GET_CAPACITY,
      'cmap_get',
      key,
    );
  }

  private async getTyped(key: string, type: number): Promise<Buffer> {
    return typedValue(await this.typedGet(key), key, type);
  }

  private async getNumber(key: string, type: CmapNumberType): Promise<number> {
    return decodeValue(type, typedValue(await this.typedGet(key), key, type)).value as number;
  }

  private setNumber(key: string, type: CmapNumberType, n: number): Promise<void> {
    if (typeof n !== 'number') {
      return Promise.reject(new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'value must be a number'));
    }
    try {
      const { bytes } = encodeValue({ type, value: n });
      return this.callVoid(encodeSetRequest(keyArg(key), type, bytes), CmapSize.BARE_RES, 'cmap_set', key);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private decode(frame: Buffer): {
    instHandle: bigint;
    event: number;
    keyName: string;
    newValue: CmapNotifyValue;
    oldValue: CmapNotifyValue;
  } {
    const id = readInt32LE(frame, 0);
    if (id !== CmapResId.NOTIFY_CALLBACK) {
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `unexpected dispatch message id ${id}`);
    }
    const n = decodeNotify(frame);
    if (typeof n === 'string') throw new CsError(CsErrorCode.CS_ERR_LIBRARY, n);
    return {
      instHandle: n.instHandle,
      event: n.event,
      keyName: n.key,
      newValue: notifyValue(n.newValue),
      oldValue: notifyValue(n.oldValue),
    };
  }
}
