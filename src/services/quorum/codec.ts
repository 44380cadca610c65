/**
 * IPC structs of the quorum service (service 3, IPC name `quorum`; spec votequorum.md §10.3,
 * corosync 3.1.7 include/corosync/ipc_quorum.h). The quorum service has no exec messages.
 *
 * Requests (16-byte request header, little-endian, pads zero):
 *
 * | id | request       | size | layout |
 * |---:|---------------|-----:|--------|
 * |  0 | GETQUORATE    |   16 | header |
 * |  1 | TRACKSTART    |   24 | header; track_flags u32 @16; pad |
 * |  2 | TRACKSTOP     |   16 | header |
 * |  3 | GETTYPE       |   16 | header |
 * |  4 | MODEL_GETTYPE |   24 | header; model u32 @16; pad |
 *
 * Responses and dispatch messages (24-byte response header):
 *
 * | id | message                   | size | layout |
 * |---:|---------------------------|-----:|--------|
 * |  0 | GETQUORATE                |   32 | quorate u32 @24; pad |
 * |  1 | TRACKSTART                |   24 | bare |
 * |  2 | TRACKSTOP                 |   24 | bare |
 * |  3 | NOTIFICATION (model V0)   | 48+4n | quorate i32 @24; pad; ring_seq u64 @32; n u32 @40; view_list u32[n] @44; 4 trailing pad |
 * |  4 | GETTYPE                   |   32 | quorum_type u32 @24; pad |
 * |  5 | MODEL_GETTYPE             |   32 | quorum_type u32 @24; pad |
 * |  6 | V1 QUORUM_NOTIFICATION    | 56+4n | quorate i32 @24; pad; ring_id {nodeid u32 @32, pad, seq u64 @40}; n u32 @48; view_list @52; 4 trailing pad |
 * |  7 | V1 NODELIST_NOTIFICATION  | 64+4(m+j+l) | ring_id {nodeid @24, seq @32}; m @40; j @48; l @56; members, joined, left u32 @60; 4 trailing pad |
 *
 * The trailing 4 bytes of the notifications come from the structs' 8-byte alignment (the
 * arrays start at a 4-byte offset inside a struct whose size is rounded up); corosync sends
 * them and leaves them uninitialised in V0/V1 quorum notifications. We write zeros.
 *
 * Decoders never throw: they check sizes and counts and return a CodecFailure.
 */
import { Buffer } from 'node:buffer';
import {
  type CodecResult,
  PROCESSOR_COUNT_MAX,
  checkFrameHeader,
  checkMinSize,
  checkNodeCount,
  checkRequestFrame,
  codecFail,
  codecOk,
  readNodeIds,
  writeNodeIds,
} from '../../exec/codec.js';
import { REQUEST_HEADER_SIZE, RESPONSE_HEADER_SIZE, allocRequest, allocResponse } from '../../ipc/frame.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt32LE,
  writeBigUInt64LE,
  writeInt32LE,
  writeUInt32LE,
} from '../../common/bytes.js';

/** corosync service id of quorum (QUORUM_SERVICE). */
export const QUORUM_SERVICE_ID = 3;
/** IPC (libqb) name of the quorum service. */
export const QUORUM_SERVICE_NAME = 'quorum';

/** `enum req_quorum_types`. */
export const QuorumReqId = {
  GETQUORATE: 0,
  TRACKSTART: 1,
  TRACKSTOP: 2,
  GETTYPE: 3,
  MODEL_GETTYPE: 4,
} as const;

/** Number of quorum lib functions (lib_engine_count). */
export const QUORUM_REQUEST_COUNT = 5;

/** `enum res_quorum_types`. */
export const QuorumResId = {
  GETQUORATE: 0,
  TRACKSTART: 1,
  TRACKSTOP: 2,
  NOTIFICATION: 3,
  GETTYPE: 4,
  MODEL_GETTYPE: 5,
  V1_QUORUM_NOTIFICATION: 6,
  V1_NODELIST_NOTIFICATION: 7,
} as const;

/** `enum lib_quorum_model`. */
export const QuorumModel = { V0: 0, V1: 1 } as const;
export type QuorumModel = (typeof QuorumModel)[keyof typeof QuorumModel];

/** `CS_TRACK_*` flags (corotypes.h). */
export const QuorumTrackFlags = { CURRENT: 0x01, CHANGES: 0x02, CHANGES_ONLY: 0x04 } as const;

/** quorum_type values reported by GETTYPE / MODEL_GETTYPE. */
export const QuorumType = { FREE: 0, SET: 1 } as const;

/** Exact request sizes by id. */
export const QUORUM_REQUEST_SIZES: readonly number[] = [16, 24, 16, 16, 24];

/** Fixed parts of the variable-size dispatch messages. */
export const QUORUM_NOTIFICATION_V0_BASE = 48;
export const QUORUM_NOTIFICATION_V1_BASE = 56;
export const QUORUM_NODELIST_V1_BASE = 64;
const V0_LIST_OFF = 44;
const V1_LIST_OFF = 52;
const NODELIST_LIST_OFF = 60;

/** `mar_quorum_ring_id_t` (nodeid u32 @0, pad, seq u64 @8). */
export interface QuorumRingId {
  readonly nodeid: number;
  readonly seq: bigint;
}

// ----------------------------------------------------------------------------------------
// Requests

export type QuorumRequest =
  | { readonly kind: 'getquorate' }
  | { readonly kind: 'trackstart'; readonly flags: number }
  | { readonly kind: 'trackstop' }
  | { readonly kind: 'gettype' }
  | { readonly kind: 'model_gettype'; readonly model: number };

/** Encode a request (client side and tests). */
export function encodeQuorumRequest(req: QuorumRequest): Buffer {
  switch (req.kind) {
    case 'getquorate':
      return allocRequest(QuorumReqId.GETQUORATE, REQUEST_HEADER_SIZE);
    case 'trackstart': {
      const b = allocRequest(QuorumReqId.TRACKSTART, 24);
      writeUInt32LE(b, req.flags >>> 0, 16);
      return b;
    }
    case 'trackstop':
      return allocRequest(QuorumReqId.TRACKSTOP, REQUEST_HEADER_SIZE);
    case 'gettype':
      return allocRequest(QuorumReqId.GETTYPE, REQUEST_HEADER_SIZE);
    case 'model_gettype': {
      const b = allocRequest(QuorumReqId.MODEL_GETTYPE, 24);
      writeUInt32LE(b, req.model >>> 0, 16);
      return b;
    }
  }
}

/** Decode a request frame: known id, header size = bytes, exact struct size. */
export function decodeQuorumRequest(frame: Buffer): CodecResult<QuorumRequest> {
  const bad = checkRequestFrame(frame, QUORUM_REQUEST_SIZES, 'quorum request', 'exact');
  if (bad) return bad;
  switch (readInt32LE(frame, 0)) {
    case QuorumReqId.GETQUORATE:
      return codecOk({ kind: 'getquorate' });
    case QuorumReqId.TRACKSTART:
      return codecOk({ kind: 'trackstart', flags: readUInt32LE(frame, 16) });
    case QuorumReqId.TRACKSTOP:
      return codecOk({ kind: 'trackstop' });
    case QuorumReqId.GETTYPE:
      return codecOk({ kind: 'gettype' });
    default:
      return codecOk({ kind: 'model_gettype', model: readUInt32LE(frame, 16) });
  }
}

// ----------------------------------------------------------------------------------------
// Responses and dispatch messages

export type QuorumResponse =
  | { readonly kind: 'getquorate'; readonly error: number; readonly quorate: number }
  | { readonly kind: 'trackstart'; readonly error: number }
  | { readonly kind: 'trackstop'; readonly error: number }
  | { readonly kind: 'gettype'; readonly error: number; readonly quorumType: number }
  | { readonly kind: 'model_gettype'; readonly error: number; readonly quorumType: number }
  | {
      readonly kind: 'notification';
      readonly error: number;
      readonly quorate: number;
      readonly ringSeq: bigint;
      readonly viewList: readonly number[];
    }
  | {
      readonly kind: 'v1_quorum_notification';
      readonly error: number;
      readonly quorate: number;
      readonly ringId: QuorumRingId;
      readonly viewList: readonly number[];
    }
  | {
      readonly kind: 'v1_nodelist_notification';
      readonly error: number;
      readonly ringId: QuorumRingId;
      readonly members: readonly number[];
      readonly joined: readonly number[];
      readonly left: readonly number[];
    };

/** Encode a response or dispatch message (RangeError for lists above 384 entries). */
export function encodeQuorumResponse(res: QuorumResponse): Buffer {
  switch (res.kind) {
    case 'getquorate': {
      const b = allocResponse(QuorumResId.GETQUORATE, 32, res.error);
      writeUInt32LE(b, res.quorate >>> 0, 24);
      return b;
    }
    case 'trackstart':
      return allocResponse(QuorumResId.TRACKSTART, RESPONSE_HEADER_SIZE, res.error);
    case 'trackstop':
      return allocResponse(QuorumResId.TRACKSTOP, RESPONSE_HEADER_SIZE, res.error);
    case 'gettype':
    case 'model_gettype': {
      const id = res.kind === 'gettype' ? QuorumResId.GETTYPE : QuorumResId.MODEL_GETTYPE;
      const b = allocResponse(id, 32, res.error);
      writeUInt32LE(b, res.quorumType >>> 0, 24);
      return b;
    }
    case 'notification': {
      checkNodeCount(res.viewList.length, 'quorum view list');
      const b = allocResponse(
        QuorumResId.NOTIFICATION,
        QUORUM_NOTIFICATION_V0_BASE + 4 * res.viewList.length,
        res.error,
      );
      writeInt32LE(b, res.quorate | 0, 24);
      writeBigUInt64LE(b, BigInt.asUintN(64, res.ringSeq), 32);
      writeUInt32LE(b, res.viewList.length, 40);
      writeNodeIds(b, V0_LIST_OFF, res.viewList);
      return b;
    }
    case 'v1_quorum_notification': {
      checkNodeCount(res.viewList.length, 'quorum view list');
      const b = allocResponse(
        QuorumResId.V1_QUORUM_NOTIFICATION,
        QUORUM_NOTIFICATION_V1_BASE + 4 * res.viewList.length,
        res.error,
      );
      writeInt32LE(b, res.quorate | 0, 24);
      writeUInt32LE(b, res.ringId.nodeid >>> 0, 32);
      writeBigUInt64LE(b, BigInt.asUintN(64, res.ringId.seq), 40);
      writeUInt32LE(b, res.viewList.length, 48);
      writeNodeIds(b, V1_LIST_OFF, res.viewList);
      return b;
    }
    case 'v1_nodelist_notification': {
      checkNodeCount(res.members.length, 'member list');
      checkNodeCount(res.joined.length, 'joined list');
      checkNodeCount(res.left.length, 'left list');
      const n = res.members.length + res.joined.length + res.left.length;
      const b = allocResponse(
        QuorumResId.V1_NODELIST_NOTIFICATION,
        QUORUM_NODELIST_V1_BASE + 4 * n,
        res.error,
      );
      writeUInt32LE(b, res.ringId.nodeid >>> 0, 24);
      writeBigUInt64LE(b, BigInt.asUintN(64, res.ringId.seq), 32);
      writeUInt32LE(b, res.members.length, 40);
      writeUInt32LE(b, res.joined.length, 48);
      writeUInt32LE(b, res.left.length, 56);
      let off = writeNodeIds(b, NODELIST_LIST_OFF, res.members);
      off = writeNodeIds(b, off, res.joined);
      writeNodeIds(b, off, res.left);
      return b;
    }
  }
}

/** Decode a response or dispatch message (client side and tests). Never throws. */
export function decodeQuorumResponse(frame: Buffer): CodecResult<QuorumResponse> {
  const badHeader = checkFrameHeader(frame, RESPONSE_HEADER_SIZE, 'quorum response');
  if (badHeader) return badHeader;
  const id = readInt32LE(frame, 0);
  const error = readInt32LE(frame, 16);
  const need = (n: number) => checkMinSize(frame.length, n, `quorum response ${id}`);
  switch (id) {
    case QuorumResId.GETQUORATE:
      return need(32) ?? codecOk({ kind: 'getquorate', error, quorate: readUInt32LE(frame, 24) });
    case QuorumResId.TRACKSTART:
      return codecOk({ kind: 'trackstart', error });
    case QuorumResId.TRACKSTOP:
      return codecOk({ kind: 'trackstop', error });
    case QuorumResId.GETTYPE:
      return need(32) ?? codecOk({ kind: 'gettype', error, quorumType: readUInt32LE(frame, 24) });
    case QuorumResId.MODEL_GETTYPE:
      return need(32) ?? codecOk({ kind: 'model_gettype', error, quorumType: readUInt32LE(frame, 24) });
    case QuorumResId.NOTIFICATION: {
      const bad = need(QUORUM_NOTIFICATION_V0_BASE);
      if (bad) return bad;
      const n = readUInt32LE(frame, 40);
      if (n > PROCESSOR_COUNT_MAX || frame.length < QUORUM_NOTIFICATION_V0_BASE + 4 * n) {
        return codecFail('bad-count', `quorum notification with ${n} entries in ${frame.length} bytes`);
      }
      return codecOk({
        kind: 'notification',
        error,
        quorate: readInt32LE(frame, 24),
        ringSeq: readBigUInt64LE(frame, 32),
        viewList: readNodeIds(frame, V0_LIST_OFF, n),
      });
    }
    case QuorumResId.V1_QUORUM_NOTIFICATION: {
      const bad = need(QUORUM_NOTIFICATION_V1_BASE);
      if (bad) return bad;
      const n = readUInt32LE(frame, 48);
      if (n > PROCESSOR_COUNT_MAX || frame.length < QUORUM_NOTIFICATION_V1_BASE + 4 * n) {
        return codecFail('bad-count', `quorum v1 notification with ${n} entries in ${frame.length} bytes`);
      }
      return codecOk({
        kind: 'v1_quorum_notification',
        error,
        quorate: readInt32LE(frame, 24),
        ringId: { nodeid: readUInt32LE(frame, 32), seq: readBigUInt64LE(frame, 40) },
        viewList: readNodeIds(frame, V1_LIST_OFF, n),
      });
    }
    case QuorumResId.V1_NODELIST_NOTIFICATION: {
      const bad = need(QUORUM_NODELIST_V1_BASE);
      if (bad) return bad;
      const m = readUInt32LE(frame, 40);
      const j = readUInt32LE(frame, 48);
      const l = readUInt32LE(frame, 56);
      if (
        m > PROCESSOR_COUNT_MAX ||
        j > PROCESSOR_COUNT_MAX ||
        l > PROCESSOR_COUNT_MAX ||
        frame.length < QUORUM_NODELIST_V1_BASE + 4 * (m + j + l)
      ) {
        return codecFail(
          'bad-count',
          `quorum nodelist notification with ${m}/${j}/${l} entries in ${frame.length} bytes`,
        );
      }
      return codecOk({
        kind: 'v1_nodelist_notification',
        error,
        ringId: { nodeid: readUInt32LE(frame, 24), seq: readBigUInt64LE(frame, 32) },
        members: readNodeIds(frame, NODELIST_LIST_OFF, m),
        joined: readNodeIds(frame, NODELIST_LIST_OFF + 4 * m, j),
        left: readNodeIds(frame, NODELIST_LIST_OFF + 4 * (m + j), l),
      });
    }
    default:
      return codecFail('bad-id', `quorum response id ${id} does not exist`);
  }
}
