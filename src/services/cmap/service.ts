/**
 * The cmap IPC service (exec/cmap.c lib side, spec cmap.md §3): decodes request frames,
 * applies them to the connection's selected map (icmap or stats) and answers with
 * corosync's exact response structs. Trackers turn map change events into NOTIFY dispatch
 * messages on the connection's event channel; because maps call trackers synchronously,
 * the notification is queued before the reply of the operation that caused it.
 *
 * Pure of sockets: it sees frames and the transport-independent `IpcConnection`.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../../common/errors.js';
import type { CmapMap, TrackEvent } from '../../cmap/map.js';
import {
  CmapReqId,
  CmapResId,
  CmapSetMap,
  CmapSize,
  cmapRequestSizeError,
  decodeAdjustIntRequest,
  decodeGetRequest,
  decodeHandleRequest,
  decodeIterInitRequest,
  decodeKeyRequest,
  decodeSetCurrentMapRequest,
  decodeSetRequest,
  decodeTrackAddRequest,
  encodeBareResponse,
  encodeGetResponse,
  encodeIterInitResponse,
  encodeIterNextResponse,
  encodeNotify,
  encodeTrackAddResponse,
  encodeTrackDeleteResponse,
  CMAP_REQUEST_COUNT,
} from '../../ipc/cmap-codec.js';
import type { IpcConnection, IpcLogger, IpcServiceDefinition } from '../../ipc/server.js';
import { sequentialHandleChecks, type HandleCheckSource } from '../../ipc/handle-check.js';
import { readInt32LE, writeBigUInt64LE } from '../../common/bytes.js';

/** corosync service id of cmap (CMAP_SERVICE). */
export const CMAP_SERVICE_ID = 0;
/** IPC name of cmap. */
export const CMAP_SERVICE_NAME = 'cmap';

export interface CmapServiceOptions {
  /** The default map (CMAP_SETMAP_DEFAULT): usually `icmapIpcView(icmap)`. */
  icmap: CmapMap;
  /** The stats map (CMAP_SETMAP_STATS); without it SET_CURRENT_MAP(1) answers NOT_EXIST. */
  stats?: CmapMap;
  /** Check words of iterator/tracker handles (default deterministic; the daemon passes random ones). */
  handleChecks?: HandleCheckSource;
  logger?: IpcLogger;
  /** Open iterators per connection (default 1024); beyond: CS_ERR_NO_SECTIONS. */
  maxIterators?: number;
  /** Trackers per connection (default 4096); beyond: CS_ERR_NO_RESOURCES. */
  maxTrackers?: number;
}

interface IterState {
  readonly map: CmapMap;
  readonly prefix: string;
  after: string | undefined;
  done: boolean;
}

interface TrackState {
  readonly map: CmapMap;
  mapHandle: number;
  readonly instHandle: bigint;
}

/** Per-connection private data (corosync's cmap_conn_info). */
export class CmapConnState {
  /** Selected map: 0 default (icmap), 1 stats. */
  mapKind: number = CmapSetMap.DEFAULT;
  map: CmapMap;
  readonly iterators = new Map<bigint, IterState>();
  readonly trackers = new Map<bigint, TrackState>();
  private nextIndex = 1;

  constructor(
    map: CmapMap,
    private readonly check: HandleCheckSource,
  ) {
    this.map = map;
  }

  /** A new opaque handle: random 31-bit check in the high word, a per-connection index below. */
  newHandle(): bigint {
    const index = this.nextIndex;
    this.nextIndex = this.nextIndex >= 0xffff_ffff ? 1 : this.nextIndex + 1;
    return (BigInt(this.check()) << 32n) | BigInt(index);
  }
}

const OK = CsErrorCode.CS_OK;

/** Create the cmap service for `IpcServer.registerService`. */
export function createCmapService(opts: CmapServiceOptions): IpcServiceDefinition<CmapConnState> {
  const handleChecks = opts.handleChecks ?? sequentialHandleChecks();
  const logger = opts.logger;
  const maxIterators = opts.maxIterators ?? 1024;
  const maxTrackers = opts.maxTrackers ?? 4096;

  /** The cs_error_t of a failure; unexpected exceptions are logged and become CS_ERR_LIBRARY. */
  const codeOf = (err: unknown, what: string): number => {
    if (err instanceof CsError) return err.code;
    logger?.error(`cmap ${what} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return CsErrorCode.CS_ERR_LIBRARY;
  };

  const run = (what: string, fn: () => void): number => {
    try {
      fn();
      return OK;
    } catch (err) {
      return codeOf(err, what);
    }
  };

  const handlers: Record<number, (conn: IpcConnection, st: CmapConnState, frame: Buffer) => void> = {
    [CmapReqId.SET]: (conn, st, frame) => {
      const req = decodeSetRequest(frame);
      const err = run('set', () => st.map.set(req.key, req.type, req.value));
      conn.respond(encodeBareResponse(CmapResId.SET, err));
    },

    [CmapReqId.DELETE]: (conn, st, frame) => {
      const key = decodeKeyRequest(frame);
      const err = run('delete', () => st.map.delete(key));
      conn.respond(encodeBareResponse(CmapResId.DELETE, err));
    },

    [CmapReqId.GET]: (conn, st, frame) => {
      const req = decodeGetRequest(frame);
      // A reply larger than the negotiated frame size could not be delivered
      // (corosync would fail to allocate or send it): refuse up front.
      if (req.capacity > BigInt(conn.maxMsgSize - CmapSize.GET_RES)) {
        conn.respond(encodeGetResponse(CsErrorCode.CS_ERR_TOO_BIG, 0, 0, Buffer.alloc(0)));
        return;
      }
      const capacity = Number(req.capacity);
      let error: number = OK;
      let type = 0;
      let bytes: Uint8Array = Buffer.alloc(0);
      try {
        const v = st.map.get(req.key);
        if (!v) error = CsErrorCode.CS_ERR_NOT_EXIST;
        else if (capacity > 0 && capacity < v.bytes.length) error = CsErrorCode.CS_ERR_INVALID_PARAM;
        else {
          type = v.type;
          bytes = v.bytes;
        }
      } catch (err) {
        error = codeOf(err, 'get');
      }
      if (error !== OK) {
        conn.respond(encodeGetResponse(error, 0, 0, bytes));
        return;
      }
      // Success: 40 + requested capacity bytes; value_len is the actual length.
      const res = encodeGetResponse(OK, capacity, type, capacity > 0 ? bytes : Buffer.alloc(0));
      if (capacity === 0) writeBigUInt64LE(res, BigInt(bytes.length), 24);
      conn.respond(res);
    },

    [CmapReqId.ADJUST_INT]: (conn, st, frame) => {
      const req = decodeAdjustIntRequest(frame);
      const err = run('adjust_int', () => st.map.adjustInt(req.key, req.step));
      conn.respond(encodeBareResponse(CmapResId.ADJUST_INT, err));
    },

    [CmapReqId.ITER_INIT]: (conn, st, frame) => {
      const prefix = decodeIterInitRequest(frame) ?? '';
      if (st.iterators.size >= maxIterators) {
        logger?.warn(`cmap: connection ${conn.token} reached its limit of ${maxIterators} iterators`);
        conn.respond(encodeIterInitResponse(CsErrorCode.CS_ERR_NO_SECTIONS, 0n));
        return;
      }
      const handle = st.newHandle();
      st.iterators.set(handle, { map: st.map, prefix, after: undefined, done: false });
      conn.respond(encodeIterInitResponse(OK, handle));
    },

    [CmapReqId.ITER_NEXT]: (conn, st, frame) => {
      const it = st.iterators.get(decodeHandleRequest(frame));
      if (!it) {
        conn.respond(encodeIterNextResponse(CsErrorCode.CS_ERR_BAD_HANDLE, undefined));
        return;
      }
      let entry: { key: string; length: number; type: number } | undefined;
      let error: number = OK;
      if (!it.done) {
        try {
          entry = it.map.iterNext(it.prefix, it.after);
        } catch (err) {
          error = codeOf(err, 'iter_next');
        }
      }
      if (error === OK && !entry) {
        it.done = true;
        error = CsErrorCode.CS_ERR_NO_SECTIONS;
      }
      if (entry) it.after = entry.key;
      conn.respond(encodeIterNextResponse(error, error === OK ? entry : undefined));
    },

    [CmapReqId.ITER_FINALIZE]: (conn, st, frame) => {
      const ok = st.iterators.delete(decodeHandleRequest(frame));
      conn.respond(encodeBareResponse(CmapResId.ITER_FINALIZE, ok ? OK : CsErrorCode.CS_ERR_BAD_HANDLE));
    },

    [CmapReqId.TRACK_ADD]: (conn, st, frame) => {
      const req = decodeTrackAddRequest(frame);
      if (st.trackers.size >= maxTrackers) {
        logger?.warn(`cmap: connection ${conn.token} reached its limit of ${maxTrackers} trackers`);
        conn.respond(encodeTrackAddResponse(CsErrorCode.CS_ERR_NO_RESOURCES, 0n));
        return;
      }
      const track: TrackState = { map: st.map, mapHandle: 0, instHandle: req.instHandle };
      const notify = (ev: TrackEvent): void => {
        if (conn.closed) return;
        conn.sendEvent(encodeNotify(track.instHandle, ev.key, ev.event, ev.newValue, ev.oldValue));
      };
      try {
        track.mapHandle = st.map.trackAdd(req.key, req.trackType, notify);
      } catch (err) {
        conn.respond(encodeTrackAddResponse(codeOf(err, 'track_add'), 0n));
        return;
      }
      const handle = st.newHandle();
      st.trackers.set(handle, track);
      conn.respond(encodeTrackAddResponse(OK, handle));
    },

    [CmapReqId.TRACK_DELETE]: (conn, st, frame) => {
      const handle = decodeHandleRequest(frame);
      const track = st.trackers.get(handle);
      if (!track) {
        conn.respond(encodeTrackDeleteResponse(CsErrorCode.CS_ERR_BAD_HANDLE, 0n));
        return;
      }
      st.trackers.delete(handle);
      const err = run('track_delete', () => track.map.trackDelete(track.mapHandle));
      conn.respond(encodeTrackDeleteResponse(err, track.instHandle));
    },

    [CmapReqId.SET_CURRENT_MAP]: (conn, st, frame) => {
      const want = decodeSetCurrentMapRequest(frame);
      let err: number = OK;
      if (st.iterators.size > 0 || st.trackers.size > 0) err = CsErrorCode.CS_ERR_BUSY;
      else if (want === CmapSetMap.DEFAULT) {
        st.map = opts.icmap;
        st.mapKind = want;
      } else if (want === CmapSetMap.STATS && opts.stats) {
        st.map = opts.stats;
        st.mapKind = want;
      } else err = CsErrorCode.CS_ERR_NOT_EXIST;
      conn.respond(encodeBareResponse(CmapResId.SET_CURRENT_MAP, err));
    },
  };

  return {
    name: CMAP_SERVICE_NAME,
    id: CMAP_SERVICE_ID,
    requestCount: CMAP_REQUEST_COUNT,
    checkRequest: cmapRequestSizeError,
    init(conn) {
      logger?.debug(`cmap: lib_init_fn: conn=${conn.token}`);
      return new CmapConnState(opts.icmap, handleChecks);
    },
    handle(conn, st, frame) {
      handlers[readInt32LE(frame, 0)]!(conn, st, frame);
    },
    exit(conn, st) {
      logger?.debug(`cmap: exit_fn for conn=${conn.token}`);
      st.iterators.clear();
      for (const track of st.trackers.values()) {
        try {
          track.map.trackDelete(track.mapHandle);
        } catch {
          // already gone
        }
      }
      st.trackers.clear();
    },
  };
}
