/**
 * IPC structs of the votequorum (service 5) and quorum (service 3) services, corosync 3.1.7
 * (spec votequorum.md §7 and §10.3): request encoders and response/dispatch decoders for the
 * client libraries, and the reverse direction (request decoders, response encoders) for
 * in-process test services.
 *
 * TEMPORARY HOME: the daemon-side codecs (src/services/votequorum/codec.ts,
 * src/services/quorum/codec.ts) did not exist when the clients were written. Once they land,
 * this file should be merged into them (one codec per wire format, DESIGN rule 3).
 *
 * All integers little-endian; pads and unused bytes are written as zeros. Decoders never
 * throw: they check every size and count and return a CodecFailure.
 */
import { codecFail, codecOk, type CodecResult } from '../exec/codec.js';
import { REQUEST_HEADER_SIZE, RESPONSE_HEADER_SIZE, allocRequest, allocResponse } from '../ipc/frame.js';

// ------------------------------------------------------------------------------------------
// Shared helpers

/** `CS_TRACK_*` flags of quorum/votequorum trackstart. */
export const CsTrack = { CURRENT: 0x01, CHANGES: 0x02, CHANGES_ONLY: 0x04 } as const;

/** A ring id as the IPC structs carry it (`mar_*_ring_id`: nodeid @0, pad, seq @8). */
export interface IpcRingId {
  /** Node id of the ring representative. */
  readonly nodeid: number;
  readonly seq: bigint;
}

function u32(n: number): number {
  return n >>> 0;
}

/** Write a NUL-terminated string into a fixed char field (truncated to `len - 1` bytes). */
function writeCString(buf: Buffer, offset: number, len: number, s: string | Uint8Array): void {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  bytes.copy(buf, offset, 0, Math.min(bytes.length, len - 1));
}

/** Read a NUL-terminated string from a fixed char field (stops at the field's end). */
export function readCString(buf: Buffer, offset: number, len: number): string {
  const field = buf.subarray(offset, offset + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
}

/** The header of a response/dispatch frame, after checking it is one. */
export interface ResponseHead {
  readonly id: number;
  readonly size: number;
  readonly error: number;
}

/** Check the response header of `frame` (≥ 24 bytes, size field = frame length). */
export function decodeResponseHead(frame: Buffer): CodecResult<ResponseHead> {
  if (frame.length < RESPONSE_HEADER_SIZE) {
    return codecFail('truncated', `response of ${frame.length} bytes is shorter than its header`);
  }
  const size = frame.readInt32LE(8);
  if (size !== frame.length) {
    return codecFail('size-mismatch', `header size ${size} but ${frame.length} bytes received`);
  }
  return codecOk({ id: frame.readInt32LE(0), size, error: frame.readInt32LE(16) });
}

function checkRequestHead(frame: Buffer, id: number, size: number, what: string): CodecResult<true> {
  if (frame.length < REQUEST_HEADER_SIZE) return codecFail('truncated', `${what}: ${frame.length} bytes`);
  if (frame.readInt32LE(0) !== id) return codecFail('bad-id', `${what}: id ${frame.readInt32LE(0)}`);
  if (frame.length !== size || frame.readInt32LE(8) !== size) {
    return codecFail(
      'size-mismatch',
      `${what}: ${frame.length} bytes (header ${frame.readInt32LE(8)}), want ${size}`,
    );
  }
  return codecOk(true);
}

function checkResponse(frame: Buffer, id: number, minSize: number, what: string): CodecResult<ResponseHead> {
  const h = decodeResponseHead(frame);
  if (!h.ok) return h;
  if (h.value.id !== id) return codecFail('bad-id', `${what}: response id ${h.value.id}`);
  if (frame.length < minSize)
    return codecFail('truncated', `${what}: ${frame.length} bytes, want ≥ ${minSize}`);
  return h;
}

// ------------------------------------------------------------------------------------------
// votequorum

/** votequorum request ids (`MESSAGE_REQ_VOTEQUORUM_*`). */
export const VqReqId = {
  GETINFO: 0,
  SETEXPECTED: 1,
  SETVOTES: 2,
  TRACKSTART: 3,
  TRACKSTOP: 4,
  QDEVICE_REGISTER: 5,
  QDEVICE_UNREGISTER: 6,
  QDEVICE_UPDATE: 7,
  QDEVICE_POLL: 8,
  QDEVICE_MASTER_WINS: 9,
} as const;

/** votequorum response/dispatch ids (`MESSAGE_RES_VOTEQUORUM_*`). */
export const VqResId = {
  STATUS: 0,
  GETINFO: 1,
  TRACKSTART: 2,
  QUORUM_NOTIFICATION: 3,
  EXPECTEDVOTES_NOTIFICATION: 4,
  NODELIST_NOTIFICATION: 5,
} as const;

/** Sizes of the fixed votequorum structs. */
export const VqSize = {
  GETINFO_REQ: 24,
  SETEXPECTED_REQ: 24,
  SETVOTES_REQ: 24,
  TRACKSTART_REQ: 32,
  TRACKSTOP_REQ: 16,
  QDEVICE_REGISTER_REQ: 272,
  QDEVICE_UPDATE_REQ: 528,
  QDEVICE_POLL_REQ: 296,
  QDEVICE_MASTER_WINS_REQ: 280,
  STATUS_RES: 24,
  GETINFO_RES: 320,
  QUORUM_NOTIFICATION: 48,
  NODELIST_NOTIFICATION: 56,
  EXPECTEDVOTES_NOTIFICATION: 40,
} as const;

/** VOTEQUORUM_QDEVICE_MAX_NAME_LEN: the name field size (names are < 255 bytes). */
export const VOTEQUORUM_QDEVICE_MAX_NAME_LEN = 255;

/** A votequorum request (client → daemon). Names are strings (UTF-8 on the wire). */
export type VqRequest =
  | { readonly kind: 'getinfo'; readonly nodeid: number }
  | { readonly kind: 'setexpected'; readonly expectedVotes: number }
  | { readonly kind: 'setvotes'; readonly nodeid: number; readonly votes: number }
  | { readonly kind: 'trackstart'; readonly context: bigint; readonly flags: number }
  | { readonly kind: 'trackstop' }
  | { readonly kind: 'qdevice_register'; readonly name: string }
  | { readonly kind: 'qdevice_unregister'; readonly name: string }
  | { readonly kind: 'qdevice_update'; readonly oldname: string; readonly newname: string }
  | {
      readonly kind: 'qdevice_poll';
      readonly name: string;
      readonly castVote: number;
      readonly ringId: IpcRingId;
    }
  | { readonly kind: 'qdevice_master_wins'; readonly name: string; readonly allow: number };

/** Encode a votequorum request frame. */
export function encodeVqRequest(r: VqRequest): Buffer {
  const N = VOTEQUORUM_QDEVICE_MAX_NAME_LEN;
  switch (r.kind) {
    case 'getinfo': {
      const b = allocRequest(VqReqId.GETINFO, VqSize.GETINFO_REQ);
      b.writeInt32LE(r.nodeid | 0, 16);
      return b;
    }
    case 'setexpected': {
      const b = allocRequest(VqReqId.SETEXPECTED, VqSize.SETEXPECTED_REQ);
      b.writeUInt32LE(u32(r.expectedVotes), 16);
      return b;
    }
    case 'setvotes': {
      const b = allocRequest(VqReqId.SETVOTES, VqSize.SETVOTES_REQ);
      b.writeUInt32LE(u32(r.votes), 16);
      b.writeInt32LE(r.nodeid | 0, 20);
      return b;
    }
    case 'trackstart': {
      const b = allocRequest(VqReqId.TRACKSTART, VqSize.TRACKSTART_REQ);
      b.writeBigUInt64LE(BigInt.asUintN(64, r.context), 16);
      b.writeUInt32LE(u32(r.flags), 24);
      return b;
    }
    case 'trackstop':
      return allocRequest(VqReqId.TRACKSTOP, VqSize.TRACKSTOP_REQ);
    case 'qdevice_register':
    case 'qdevice_unregister': {
      const id = r.kind === 'qdevice_register' ? VqReqId.QDEVICE_REGISTER : VqReqId.QDEVICE_UNREGISTER;
      const b = allocRequest(id, VqSize.QDEVICE_REGISTER_REQ);
      writeCString(b, 16, N, r.name);
      return b;
    }
    case 'qdevice_update': {
      const b = allocRequest(VqReqId.QDEVICE_UPDATE, VqSize.QDEVICE_UPDATE_REQ);
      writeCString(b, 16, N, r.oldname);
      writeCString(b, 16 + N, N, r.newname);
      return b;
    }
    case 'qdevice_poll': {
      const b = allocRequest(VqReqId.QDEVICE_POLL, VqSize.QDEVICE_POLL_REQ);
      writeCString(b, 16, N, r.name);
      b.writeInt32LE(r.castVote | 0, 272);
      b.writeUInt32LE(u32(r.ringId.nodeid), 280);
      b.writeBigUInt64LE(BigInt.asUintN(64, r.ringId.seq), 288);
      return b;
    }
    case 'qdevice_master_wins': {
      const b = allocRequest(VqReqId.QDEVICE_MASTER_WINS, VqSize.QDEVICE_MASTER_WINS_REQ);
      writeCString(b, 16, N, r.name);
      b.writeUInt32LE(u32(r.allow), 272);
      return b;
    }
  }
}

/** Decode a votequorum request frame (daemon side). */
export function decodeVqRequest(frame: Buffer): CodecResult<VqRequest> {
  if (frame.length < REQUEST_HEADER_SIZE) return codecFail('truncated', `request of ${frame.length} bytes`);
  const id = frame.readInt32LE(0);
  const N = VOTEQUORUM_QDEVICE_MAX_NAME_LEN;
  const sizes: Record<number, number> = {
    [VqReqId.GETINFO]: VqSize.GETINFO_REQ,
    [VqReqId.SETEXPECTED]: VqSize.SETEXPECTED_REQ,
    [VqReqId.SETVOTES]: VqSize.SETVOTES_REQ,
    [VqReqId.TRACKSTART]: VqSize.TRACKSTART_REQ,
    [VqReqId.TRACKSTOP]: VqSize.TRACKSTOP_REQ,
    [VqReqId.QDEVICE_REGISTER]: VqSize.QDEVICE_REGISTER_REQ,
    [VqReqId.QDEVICE_UNREGISTER]: VqSize.QDEVICE_REGISTER_REQ,
    [VqReqId.QDEVICE_UPDATE]: VqSize.QDEVICE_UPDATE_REQ,
    [VqReqId.QDEVICE_POLL]: VqSize.QDEVICE_POLL_REQ,
    [VqReqId.QDEVICE_MASTER_WINS]: VqSize.QDEVICE_MASTER_WINS_REQ,
  };
  const size = sizes[id];
  if (size === undefined) return codecFail('bad-id', `unknown votequorum request ${id}`);
  const c = checkRequestHead(frame, id, size, `votequorum request ${id}`);
  if (!c.ok) return c;
  switch (id) {
    case VqReqId.GETINFO:
      return codecOk({ kind: 'getinfo', nodeid: frame.readInt32LE(16) });
    case VqReqId.SETEXPECTED:
      return codecOk({ kind: 'setexpected', expectedVotes: frame.readUInt32LE(16) });
    case VqReqId.SETVOTES:
      return codecOk({ kind: 'setvotes', votes: frame.readUInt32LE(16), nodeid: frame.readInt32LE(20) });
    case VqReqId.TRACKSTART:
      return codecOk({
        kind: 'trackstart',
        context: frame.readBigUInt64LE(16),
        flags: frame.readUInt32LE(24),
      });
    case VqReqId.TRACKSTOP:
      return codecOk({ kind: 'trackstop' });
    case VqReqId.QDEVICE_REGISTER:
      return codecOk({ kind: 'qdevice_register', name: readCString(frame, 16, N) });
    case VqReqId.QDEVICE_UNREGISTER:
      return codecOk({ kind: 'qdevice_unregister', name: readCString(frame, 16, N) });
    case VqReqId.QDEVICE_UPDATE:
      return codecOk({
        kind: 'qdevice_update',
        oldname: readCString(frame, 16, N),
        newname: readCString(frame, 16 + N, N),
      });
    case VqReqId.QDEVICE_POLL:
      return codecOk({
        kind: 'qdevice_poll',
        name: readCString(frame, 16, N),
        castVote: frame.readInt32LE(272),
        ringId: { nodeid: frame.readUInt32LE(280), seq: frame.readBigUInt64LE(288) },
      });
    default:
      return codecOk({
        kind: 'qdevice_master_wins',
        name: readCString(frame, 16, N),
        allow: frame.readUInt32LE(272),
      });
  }
}

/** `struct votequorum_info` (GETINFO reply). */
export interface VotequorumInfo {
  readonly nodeid: number;
  /** VOTEQUORUM_NODESTATE_* (1 member, 2 dead, 3 leaving). */
  readonly state: number;
  readonly votes: number;
  readonly expectedVotes: number;
  readonly highestExpected: number;
  readonly totalVotes: number;
  readonly quorum: number;
  /** VOTEQUORUM_INFO_* bits. */
  readonly flags: number;
  readonly qdeviceVotes: number;
  readonly qdeviceName: string;
}

/** All-zero info (what the C library leaves when the daemon reports an unknown node). */
export const EMPTY_VQ_INFO: VotequorumInfo = {
  nodeid: 0,
  state: 0,
  votes: 0,
  expectedVotes: 0,
  highestExpected: 0,
  totalVotes: 0,
  quorum: 0,
  flags: 0,
  qdeviceVotes: 0,
  qdeviceName: '',
};

/** A bare status reply (`res_lib_votequorum_status`, id 0). */
export function encodeVqStatus(error: number): Buffer {
  return allocResponse(VqResId.STATUS, VqSize.STATUS_RES, error);
}

/** GETINFO reply (320 bytes). */
export function encodeVqGetinfoResponse(info: VotequorumInfo, error: number): Buffer {
  const b = allocResponse(VqResId.GETINFO, VqSize.GETINFO_RES, error);
  const vals = [
    info.nodeid,
    info.state,
    info.votes,
    info.expectedVotes,
    info.highestExpected,
    info.totalVotes,
    info.quorum,
    info.flags,
    info.qdeviceVotes,
  ];
  vals.forEach((v, i) => b.writeUInt32LE(u32(v), 24 + 4 * i));
  writeCString(b, 60, VOTEQUORUM_QDEVICE_MAX_NAME_LEN, info.qdeviceName);
  return b;
}

/** Decode a GETINFO reply (the error is in `head.error`; fields are decoded whatever it is). */
export function decodeVqGetinfoResponse(
  frame: Buffer,
): CodecResult<{ readonly error: number; readonly info: VotequorumInfo }> {
  const h = checkResponse(frame, VqResId.GETINFO, VqSize.GETINFO_RES, 'votequorum getinfo');
  if (!h.ok) return h;
  const r = (i: number): number => frame.readUInt32LE(24 + 4 * i);
  return codecOk({
    error: h.value.error,
    info: {
      nodeid: r(0),
      state: r(1),
      votes: r(2),
      expectedVotes: r(3),
      highestExpected: r(4),
      totalVotes: r(5),
      quorum: r(6),
      flags: r(7),
      qdeviceVotes: r(8),
      qdeviceName: readCString(frame, 60, VOTEQUORUM_QDEVICE_MAX_NAME_LEN),
    },
  });
}

/** `votequorum_node_t`. */
export interface VotequorumNode {
  readonly nodeid: number;
  /** VOTEQUORUM_NODESTATE_* (0 for the qdevice entry). */
  readonly state: number;
}

/** A votequorum dispatch message. */
export type VqDispatch =
  | {
      readonly kind: 'quorum';
      readonly context: bigint;
      readonly quorate: number;
      readonly nodes: readonly VotequorumNode[];
    }
  | {
      readonly kind: 'nodelist';
      readonly context: bigint;
      readonly ringId: IpcRingId;
      readonly nodes: readonly number[];
    }
  | { readonly kind: 'expectedvotes'; readonly context: bigint; readonly expectedVotes: number };

/** Encode a votequorum dispatch message (error CS_OK = 1). */
export function encodeVqDispatch(m: VqDispatch): Buffer {
  switch (m.kind) {
    case 'quorum': {
      const b = allocResponse(
        VqResId.QUORUM_NOTIFICATION,
        VqSize.QUORUM_NOTIFICATION + 8 * m.nodes.length,
        1,
      );
      b.writeUInt32LE(u32(m.quorate), 24);
      b.writeBigUInt64LE(BigInt.asUintN(64, m.context), 32);
      b.writeUInt32LE(m.nodes.length, 40);
      m.nodes.forEach((n, i) => {
        b.writeUInt32LE(u32(n.nodeid), 48 + 8 * i);
        b.writeUInt32LE(u32(n.state), 52 + 8 * i);
      });
      return b;
    }
    case 'nodelist': {
      const b = allocResponse(
        VqResId.NODELIST_NOTIFICATION,
        VqSize.NODELIST_NOTIFICATION + 4 * m.nodes.length,
        1,
      );
      b.writeBigUInt64LE(BigInt.asUintN(64, m.context), 24);
      b.writeUInt32LE(u32(m.ringId.nodeid), 32);
      b.writeBigUInt64LE(BigInt.asUintN(64, m.ringId.seq), 40);
      b.writeUInt32LE(m.nodes.length, 48);
      m.nodes.forEach((n, i) => b.writeUInt32LE(u32(n), 56 + 4 * i));
      return b;
    }
    case 'expectedvotes': {
      const b = allocResponse(VqResId.EXPECTEDVOTES_NOTIFICATION, VqSize.EXPECTEDVOTES_NOTIFICATION, 1);
      b.writeBigUInt64LE(BigInt.asUintN(64, m.context), 24);
      b.writeUInt32LE(u32(m.expectedVotes), 32);
      return b;
    }
  }
}

/** Decode a votequorum dispatch message; unknown ids are `bad-id`. */
export function decodeVqDispatch(frame: Buffer): CodecResult<VqDispatch> {
  const h = decodeResponseHead(frame);
  if (!h.ok) return h;
  switch (h.value.id) {
    case VqResId.QUORUM_NOTIFICATION: {
      if (frame.length < VqSize.QUORUM_NOTIFICATION) return codecFail('truncated', 'quorum notification');
      const n = frame.readUInt32LE(40);
      if (n > (frame.length - VqSize.QUORUM_NOTIFICATION) / 8) {
        return codecFail('bad-count', `quorum notification: ${n} entries in ${frame.length} bytes`);
      }
      const nodes: VotequorumNode[] = [];
      for (let i = 0; i < n; i++) {
        nodes.push({ nodeid: frame.readUInt32LE(48 + 8 * i), state: frame.readUInt32LE(52 + 8 * i) });
      }
      return codecOk({
        kind: 'quorum',
        quorate: frame.readUInt32LE(24),
        context: frame.readBigUInt64LE(32),
        nodes,
      });
    }
    case VqResId.NODELIST_NOTIFICATION: {
      if (frame.length < VqSize.NODELIST_NOTIFICATION) return codecFail('truncated', 'nodelist notification');
      const n = frame.readUInt32LE(48);
      if (n > (frame.length - VqSize.NODELIST_NOTIFICATION) / 4) {
        return codecFail('bad-count', `nodelist notification: ${n} entries in ${frame.length} bytes`);
      }
      const nodes: number[] = [];
      for (let i = 0; i < n; i++) nodes.push(frame.readUInt32LE(56 + 4 * i));
      return codecOk({
        kind: 'nodelist',
        context: frame.readBigUInt64LE(24),
        ringId: { nodeid: frame.readUInt32LE(32), seq: frame.readBigUInt64LE(40) },
        nodes,
      });
    }
    case VqResId.EXPECTEDVOTES_NOTIFICATION:
      if (frame.length < VqSize.EXPECTEDVOTES_NOTIFICATION)
        return codecFail('truncated', 'expectedvotes notification');
      return codecOk({
        kind: 'expectedvotes',
        context: frame.readBigUInt64LE(24),
        expectedVotes: frame.readUInt32LE(32),
      });
    default:
      return codecFail('bad-id', `unknown votequorum dispatch message ${h.value.id}`);
  }
}

// ------------------------------------------------------------------------------------------
// quorum

/** quorum request ids (`MESSAGE_REQ_QUORUM_*`). */
export const QuorumReqId = {
  GETQUORATE: 0,
  TRACKSTART: 1,
  TRACKSTOP: 2,
  GETTYPE: 3,
  MODEL_GETTYPE: 4,
} as const;

/** quorum response/dispatch ids (`MESSAGE_RES_QUORUM_*`). */
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

/** A quorum request. */
export type QuorumRequest =
  | { readonly kind: 'getquorate' }
  | { readonly kind: 'trackstart'; readonly flags: number }
  | { readonly kind: 'trackstop' }
  | { readonly kind: 'gettype' }
  | { readonly kind: 'model_gettype'; readonly model: number };

export function encodeQuorumRequest(r: QuorumRequest): Buffer {
  switch (r.kind) {
    case 'getquorate':
      return allocRequest(QuorumReqId.GETQUORATE, 16);
    case 'trackstart': {
      const b = allocRequest(QuorumReqId.TRACKSTART, 24);
      b.writeUInt32LE(u32(r.flags), 16);
      return b;
    }
    case 'trackstop':
      return allocRequest(QuorumReqId.TRACKSTOP, 16);
    case 'gettype':
      return allocRequest(QuorumReqId.GETTYPE, 16);
    case 'model_gettype': {
      const b = allocRequest(QuorumReqId.MODEL_GETTYPE, 24);
      b.writeUInt32LE(u32(r.model), 16);
      return b;
    }
  }
}

export function decodeQuorumRequest(frame: Buffer): CodecResult<QuorumRequest> {
  if (frame.length < REQUEST_HEADER_SIZE) return codecFail('truncated', `request of ${frame.length} bytes`);
  const id = frame.readInt32LE(0);
  const size = id === QuorumReqId.TRACKSTART || id === QuorumReqId.MODEL_GETTYPE ? 24 : 16;
  if (id < 0 || id > 4) return codecFail('bad-id', `unknown quorum request ${id}`);
  const c = checkRequestHead(frame, id, size, `quorum request ${id}`);
  if (!c.ok) return c;
  switch (id) {
    case QuorumReqId.GETQUORATE:
      return codecOk({ kind: 'getquorate' });
    case QuorumReqId.TRACKSTART:
      return codecOk({ kind: 'trackstart', flags: frame.readUInt32LE(16) });
    case QuorumReqId.TRACKSTOP:
      return codecOk({ kind: 'trackstop' });
    case QuorumReqId.GETTYPE:
      return codecOk({ kind: 'gettype' });
    default:
      return codecOk({ kind: 'model_gettype', model: frame.readUInt32LE(16) });
  }
}

/** A reply with one u32 after the header (GETQUORATE, GETTYPE, MODEL_GETTYPE): 32 bytes. */
export function encodeQuorumU32Response(id: number, error: number, value: number): Buffer {
  const b = allocResponse(id, 32, error);
  b.writeUInt32LE(u32(value), 24);
  return b;
}

/** A bare reply (TRACKSTART, TRACKSTOP). */
export function encodeQuorumBareResponse(id: number, error: number): Buffer {
  return allocResponse(id, RESPONSE_HEADER_SIZE, error);
}

/** Decode a 32-byte reply carrying one u32 (checks id and size). */
export function decodeQuorumU32Response(frame: Buffer, id: number): CodecResult<number> {
  const h = checkResponse(frame, id, 32, `quorum reply ${id}`);
  if (!h.ok) return h;
  return codecOk(frame.readUInt32LE(24));
}

/** A quorum dispatch message (V0 or V1 form). */
export type QuorumDispatch =
  | {
      readonly kind: 'v0_quorum';
      readonly quorate: number;
      readonly ringSeq: bigint;
      readonly viewList: readonly number[];
    }
  | {
      readonly kind: 'v1_quorum';
      readonly quorate: number;
      readonly ringId: IpcRingId;
      readonly viewList: readonly number[];
    }
  | {
      readonly kind: 'v1_nodelist';
      readonly ringId: IpcRingId;
      readonly members: readonly number[];
      readonly joined: readonly number[];
      readonly left: readonly number[];
    };

function writeU32List(b: Buffer, offset: number, list: readonly number[]): void {
  list.forEach((n, i) => b.writeUInt32LE(u32(n), offset + 4 * i));
}

function readU32List(b: Buffer, offset: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(b.readUInt32LE(offset + 4 * i));
  return out;
}

/** Encode a quorum dispatch message (with the trailing pad the C structs carry). */
export function encodeQuorumDispatch(m: QuorumDispatch): Buffer {
  switch (m.kind) {
    case 'v0_quorum': {
      const b = allocResponse(QuorumResId.NOTIFICATION, 48 + 4 * m.viewList.length, 1);
      b.writeInt32LE(m.quorate | 0, 24);
      b.writeBigUInt64LE(BigInt.asUintN(64, m.ringSeq), 32);
      b.writeUInt32LE(m.viewList.length, 40);
      writeU32List(b, 44, m.viewList);
      return b;
    }
    case 'v1_quorum': {
      const b = allocResponse(QuorumResId.V1_QUORUM_NOTIFICATION, 56 + 4 * m.viewList.length, 1);
      b.writeInt32LE(m.quorate | 0, 24);
      b.writeUInt32LE(u32(m.ringId.nodeid), 32);
      b.writeBigUInt64LE(BigInt.asUintN(64, m.ringId.seq), 40);
      b.writeUInt32LE(m.viewList.length, 48);
      writeU32List(b, 52, m.viewList);
      return b;
    }
    case 'v1_nodelist': {
      const all = [...m.members, ...m.joined, ...m.left];
      const b = allocResponse(QuorumResId.V1_NODELIST_NOTIFICATION, 64 + 4 * all.length, 1);
      b.writeUInt32LE(u32(m.ringId.nodeid), 24);
      b.writeBigUInt64LE(BigInt.asUintN(64, m.ringId.seq), 32);
      b.writeUInt32LE(m.members.length, 40);
      b.writeUInt32LE(m.joined.length, 48);
      b.writeUInt32LE(m.left.length, 56);
      writeU32List(b, 60, all);
      return b;
    }
  }
}

/** Decode a quorum dispatch message (V0 or V1); unknown ids are `bad-id`. */
export function decodeQuorumDispatch(frame: Buffer): CodecResult<QuorumDispatch> {
  const h = decodeResponseHead(frame);
  if (!h.ok) return h;
  const fits = (offset: number, n: number): boolean => n <= (frame.length - offset) / 4;
  switch (h.value.id) {
    case QuorumResId.NOTIFICATION: {
      if (frame.length < 44) return codecFail('truncated', 'quorum notification');
      const n = frame.readUInt32LE(40);
      if (!fits(44, n))
        return codecFail('bad-count', `quorum notification: ${n} entries in ${frame.length} bytes`);
      return codecOk({
        kind: 'v0_quorum',
        quorate: frame.readInt32LE(24),
        ringSeq: frame.readBigUInt64LE(32),
        viewList: readU32List(frame, 44, n),
      });
    }
    case QuorumResId.V1_QUORUM_NOTIFICATION: {
      if (frame.length < 52) return codecFail('truncated', 'v1 quorum notification');
      const n = frame.readUInt32LE(48);
      if (!fits(52, n))
        return codecFail('bad-count', `v1 quorum notification: ${n} entries in ${frame.length} bytes`);
      return codecOk({
        kind: 'v1_quorum',
        quorate: frame.readInt32LE(24),
        ringId: { nodeid: frame.readUInt32LE(32), seq: frame.readBigUInt64LE(40) },
        viewList: readU32List(frame, 52, n),
      });
    }
    case QuorumResId.V1_NODELIST_NOTIFICATION: {
      if (frame.length < 60) return codecFail('truncated', 'v1 nodelist notification');
      const m = frame.readUInt32LE(40);
      const j = frame.readUInt32LE(48);
      const l = frame.readUInt32LE(56);
      if (!fits(60, m + j + l)) {
        return codecFail(
          'bad-count',
          `v1 nodelist notification: ${m}+${j}+${l} entries in ${frame.length} bytes`,
        );
      }
      return codecOk({
        kind: 'v1_nodelist',
        ringId: { nodeid: frame.readUInt32LE(24), seq: frame.readBigUInt64LE(32) },
        members: readU32List(frame, 60, m),
        joined: readU32List(frame, 60 + 4 * m, j),
        left: readU32List(frame, 60 + 4 * (m + j), l),
      });
    }
    default:
      return codecFail('bad-id', `unknown quorum dispatch message ${h.value.id}`);
  }
}
