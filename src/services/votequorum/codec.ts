/**
 * votequorum byte layouts (spec votequorum.md §5, §7; corosync 3.1.7 exec/votequorum.c,
 * include/corosync/ipc_votequorum.h), byte-exact and little-endian:
 *
 * - exec messages (service 5, totempg group "a"): NODEINFO (32), RECONFIGURE (32),
 *   QDEVICE_REG (280), QDEVICE_RECONFIGURE (528) — "packed" structs whose 8-aligned header
 *   rounds their size up to a multiple of 8, trailing bytes included;
 * - IPC requests 0..9 and the responses / dispatch messages STATUS, GETINFO,
 *   QUORUM_NOTIFICATION, EXPECTEDVOTES_NOTIFICATION, NODELIST_NOTIFICATION.
 *
 * Every struct is built zero-filled, so pads (and the bytes after a name's NUL, which corosync
 * leaves uninitialised) are zero. Names (`char[255]`) are byte strings: we carry them as latin1
 * strings so every byte survives; a name is what precedes the first NUL, or all 255 bytes when
 * there is none (`terminated` says which).
 *
 * Decoders check header id, `header.size` against the bytes received and the fixed size, and
 * array counts; they never throw. Exec decoders take totem's endian flag and refuse the other
 * byte order (policy of src/exec/codec.ts).
 */
import { Buffer } from 'node:buffer';
import {
  type CodecResult,
  ServiceId,
  checkExactMessage,
  checkFrameHeader,
  checkHeaderPresent,
  checkMinSize,
  checkRequestFrame,
  codecFail,
  codecOk,
  execId,
  readNodeIds,
  refuseOtherByteOrder,
  writeNodeIds,
} from '../../exec/codec.js';
import { REQUEST_HEADER_SIZE, RESPONSE_HEADER_SIZE, allocRequest, allocResponse } from '../../ipc/frame.js';
import type { RingId } from '../../totem/wire/index.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt32LE,
  readUInt8,
  writeBigUInt64LE,
  writeInt32LE,
  writeUInt32LE,
  writeUInt8,
} from '../../common/bytes.js';

// ========================================================================================
// Constants

/** VOTEQUORUM_QDEVICE_MAX_NAME_LEN: capacity of a qdevice name, NUL included. */
export const QDEVICE_MAX_NAME_LEN = 255;
/** Default poll timeout and sync timeout of a qdevice (ms). */
export const QDEVICE_DEFAULT_TIMEOUT = 10000;
export const QDEVICE_DEFAULT_SYNC_TIMEOUT = 30000;

/** Exec function ids. */
export const VqExecFn = { NODEINFO: 0, RECONFIGURE: 1, QDEVICE_REG: 2, QDEVICE_RECONFIGURE: 3 } as const;
export type VqExecFn = (typeof VqExecFn)[keyof typeof VqExecFn];

/** Exec header ids 0x0005_000x. */
export const VqExecId = {
  NODEINFO: execId(ServiceId.VOTEQUORUM, VqExecFn.NODEINFO),
  RECONFIGURE: execId(ServiceId.VOTEQUORUM, VqExecFn.RECONFIGURE),
  QDEVICE_REG: execId(ServiceId.VOTEQUORUM, VqExecFn.QDEVICE_REG),
  QDEVICE_RECONFIGURE: execId(ServiceId.VOTEQUORUM, VqExecFn.QDEVICE_RECONFIGURE),
} as const;

/** Exec message sizes. */
export const VqExecSize = {
  NODEINFO: 32,
  RECONFIGURE: 32,
  QDEVICE_REG: 280,
  QDEVICE_RECONFIGURE: 528,
} as const;

/** QDEVICE_REG operations. */
export const QdeviceOperation = { UNREGISTER: 0, REGISTER: 1 } as const;

/** IPC request ids. */
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
export type VqReqId = (typeof VqReqId)[keyof typeof VqReqId];
export const VQ_REQUEST_COUNT = 10;

/** IPC request sizes, by id. */
export const VQ_REQUEST_SIZE: readonly number[] = [24, 24, 24, 32, 16, 272, 272, 528, 296, 280];

/** IPC response / dispatch ids. */
export const VqResId = {
  STATUS: 0,
  GETINFO: 1,
  TRACKSTART: 2,
  QUORUM_NOTIFICATION: 3,
  EXPECTEDVOTES_NOTIFICATION: 4,
  NODELIST_NOTIFICATION: 5,
} as const;

export const VqResSize = {
  STATUS: 24,
  GETINFO: 320,
  QUORUM_NOTIFICATION_BASE: 48,
  EXPECTEDVOTES_NOTIFICATION: 40,
  NODELIST_NOTIFICATION_BASE: 56,
} as const;

/** `VOTEQUORUM_INFO_*` flags of GETINFO. */
export const VqInfoFlag = {
  TWONODE: 1,
  QUORATE: 2,
  WAIT_FOR_ALL: 4,
  LAST_MAN_STANDING: 8,
  AUTO_TIE_BREAKER: 16,
  ALLOW_DOWNSCALE: 32,
  QDEVICE_REGISTERED: 64,
  QDEVICE_ALIVE: 128,
  QDEVICE_CAST_VOTE: 256,
  QDEVICE_MASTER_WINS: 512,
} as const;

/** CS_TRACK_* flags. */
export const TrackFlag = { CURRENT: 1, CHANGES: 2, CHANGES_ONLY: 4 } as const;

/** Most entries a QUORUM notification can carry (corosync's buffer: PROCESSOR_COUNT_MAX + 2). */
export const VQ_NOTIFICATION_MAX_NODES = 386;

// ========================================================================================
// Names

/** A `char[255]` name as received. */
export interface QdeviceName {
  /** Bytes before the first NUL (latin1), or all 255 when unterminated. */
  readonly name: string;
  /** A NUL was found within the 255 bytes. */
  readonly terminated: boolean;
}

function readName(buf: Buffer, off: number): QdeviceName {
  const field = buf.subarray(off, off + QDEVICE_MAX_NAME_LEN);
  const nul = field.indexOf(0);
  return nul < 0
    ? { name: field.toString('latin1'), terminated: false }
    : { name: field.subarray(0, nul).toString('latin1'), terminated: true };
}

/** Writes `name` (latin1 bytes) and its NUL; throws RangeError when it does not fit in 254 bytes. */
function writeName(buf: Buffer, off: number, name: string): void {
  const bytes = Buffer.from(name, 'latin1');
  if (bytes.length >= QDEVICE_MAX_NAME_LEN) {
    throw new RangeError(`qdevice name of ${bytes.length} bytes (at most ${QDEVICE_MAX_NAME_LEN - 1})`);
  }
  bytes.copy(buf, off);
}

/** True when `name` fits a `char[255]` with its NUL. */
export function qdeviceNameFits(name: string): boolean {
  return Buffer.byteLength(name, 'latin1') < QDEVICE_MAX_NAME_LEN;
}

// ========================================================================================
// Exec messages

export interface VqNodeinfoMessage {
  readonly kind: 'nodeinfo';
  readonly nodeId: number;
  readonly votes: number;
  readonly expectedVotes: number;
  readonly flags: number;
}

export interface VqReconfigureMessage {
  readonly kind: 'reconfigure';
  readonly nodeId: number;
  readonly value: number;
  /** ReconfigParam (u8). */
  readonly param: number;
}

export interface VqQdeviceRegMessage {
  readonly kind: 'qdevice_reg';
  readonly operation: number;
  readonly name: string;
  readonly terminated: boolean;
}

export interface VqQdeviceReconfigureMessage {
  readonly kind: 'qdevice_reconfigure';
  readonly oldName: string;
  readonly newName: string;
}

export type VqExecMessage =
  VqNodeinfoMessage | VqReconfigureMessage | VqQdeviceRegMessage | VqQdeviceReconfigureMessage;

export function encodeVqNodeinfo(
  nodeId: number,
  votes: number,
  expectedVotes: number,
  flags: number,
): Buffer {
  const buf = allocRequest(VqExecId.NODEINFO, VqExecSize.NODEINFO);
  writeUInt32LE(buf, nodeId >>> 0, 16);
  writeUInt32LE(buf, votes >>> 0, 20);
  writeUInt32LE(buf, expectedVotes >>> 0, 24);
  writeUInt32LE(buf, flags >>> 0, 28);
  return buf;
}

export function encodeVqReconfigure(param: number, nodeId: number, value: number): Buffer {
  const buf = allocRequest(VqExecId.RECONFIGURE, VqExecSize.RECONFIGURE);
  writeUInt32LE(buf, nodeId >>> 0, 16);
  writeUInt32LE(buf, value >>> 0, 20);
  writeUInt8(buf, param & 0xff, 24);
  return buf;
}

export function encodeVqQdeviceReg(operation: number, name: string): Buffer {
  const buf = allocRequest(VqExecId.QDEVICE_REG, VqExecSize.QDEVICE_REG);
  writeUInt32LE(buf, operation >>> 0, 16);
  writeName(buf, 20, name);
  return buf;
}

export function encodeVqQdeviceReconfigure(oldName: string, newName: string): Buffer {
  const buf = allocRequest(VqExecId.QDEVICE_RECONFIGURE, VqExecSize.QDEVICE_RECONFIGURE);
  writeName(buf, 16, oldName);
  writeName(buf, 16 + QDEVICE_MAX_NAME_LEN, newName);
  return buf;
}

export function encodeVqExec(m: VqExecMessage): Buffer {
  switch (m.kind) {
    case 'nodeinfo':
      return encodeVqNodeinfo(m.nodeId, m.votes, m.expectedVotes, m.flags);
    case 'reconfigure':
      return encodeVqReconfigure(m.param, m.nodeId, m.value);
    case 'qdevice_reg':
      return encodeVqQdeviceReg(m.operation, m.name);
    case 'qdevice_reconfigure':
      return encodeVqQdeviceReconfigure(m.oldName, m.newName);
  }
}

/**
 * Decode a votequorum exec message (id from the header). Sizes must be exact: corosync always
 * sends sizeof(struct).
 */
export function decodeVqExec(msg: Buffer, endianConvert = false): CodecResult<VqExecMessage> {
  const id = msg.length >= 4 ? readInt32LE(msg, 0) : -1;
  const exact = (size: number, what: string) => checkExactMessage(msg, id, size, what, endianConvert);
  switch (id) {
    case VqExecId.NODEINFO: {
      const bad = exact(VqExecSize.NODEINFO, 'votequorum NODEINFO');
      if (bad) return bad;
      return codecOk({
        kind: 'nodeinfo',
        nodeId: readUInt32LE(msg, 16),
        votes: readUInt32LE(msg, 20),
        expectedVotes: readUInt32LE(msg, 24),
        flags: readUInt32LE(msg, 28),
      });
    }
    case VqExecId.RECONFIGURE: {
      const bad = exact(VqExecSize.RECONFIGURE, 'votequorum RECONFIGURE');
      if (bad) return bad;
      return codecOk({
        kind: 'reconfigure',
        nodeId: readUInt32LE(msg, 16),
        value: readUInt32LE(msg, 20),
        param: readUInt8(msg, 24),
      });
    }
    case VqExecId.QDEVICE_REG: {
      const bad = exact(VqExecSize.QDEVICE_REG, 'votequorum QDEVICE_REG');
      if (bad) return bad;
      const n = readName(msg, 20);
      return codecOk({
        kind: 'qdevice_reg',
        operation: readUInt32LE(msg, 16),
        name: n.name,
        terminated: n.terminated,
      });
    }
    case VqExecId.QDEVICE_RECONFIGURE: {
      const bad = exact(VqExecSize.QDEVICE_RECONFIGURE, 'votequorum QDEVICE_RECONFIGURE');
      if (bad) return bad;
      return codecOk({
        kind: 'qdevice_reconfigure',
        oldName: readName(msg, 16).name,
        newName: readName(msg, 16 + QDEVICE_MAX_NAME_LEN).name,
      });
    }
    default:
      return (
        refuseOtherByteOrder(endianConvert, 'votequorum message') ??
        checkHeaderPresent(msg, REQUEST_HEADER_SIZE, 'votequorum message') ??
        codecFail('bad-id', `not a votequorum exec id: 0x${(id >>> 0).toString(16)}`)
      );
  }
}

// ========================================================================================
// IPC requests

export type VqRequest =
  | { readonly kind: 'getinfo'; readonly nodeId: number }
  | { readonly kind: 'setexpected'; readonly expectedVotes: number }
  | { readonly kind: 'setvotes'; readonly votes: number; readonly nodeId: number }
  | { readonly kind: 'trackstart'; readonly context: bigint; readonly trackFlags: number }
  | { readonly kind: 'trackstop' }
  | { readonly kind: 'qdevice_register'; readonly name: QdeviceName }
  | { readonly kind: 'qdevice_unregister'; readonly name: QdeviceName }
  | { readonly kind: 'qdevice_update'; readonly oldName: QdeviceName; readonly newName: QdeviceName }
  | {
      readonly kind: 'qdevice_poll';
      readonly name: QdeviceName;
      readonly castVote: number;
      readonly ringId: RingId;
    }
  | { readonly kind: 'qdevice_master_wins'; readonly name: QdeviceName; readonly allow: number };

/**
 * Decode an IPC request. The frame must hold at least its struct (libvotequorum sends exactly
 * sizeof); `header.size` must equal the frame length.
 */
export function decodeVqRequest(frame: Buffer): CodecResult<VqRequest> {
  const bad = checkRequestFrame(frame, VQ_REQUEST_SIZE, 'votequorum request', 'at-least');
  if (bad) return bad;
  switch (readInt32LE(frame, 0)) {
    case VqReqId.GETINFO:
      return codecOk({ kind: 'getinfo', nodeId: readUInt32LE(frame, 16) });
    case VqReqId.SETEXPECTED:
      return codecOk({ kind: 'setexpected', expectedVotes: readUInt32LE(frame, 16) });
    case VqReqId.SETVOTES:
      return codecOk({ kind: 'setvotes', votes: readUInt32LE(frame, 16), nodeId: readUInt32LE(frame, 20) });
    case VqReqId.TRACKSTART:
      return codecOk({
        kind: 'trackstart',
        context: readBigUInt64LE(frame, 16),
        trackFlags: readUInt32LE(frame, 24),
      });
    case VqReqId.TRACKSTOP:
      return codecOk({ kind: 'trackstop' });
    case VqReqId.QDEVICE_REGISTER:
      return codecOk({ kind: 'qdevice_register', name: readName(frame, 16) });
    case VqReqId.QDEVICE_UNREGISTER:
      return codecOk({ kind: 'qdevice_unregister', name: readName(frame, 16) });
    case VqReqId.QDEVICE_UPDATE:
      return codecOk({
        kind: 'qdevice_update',
        oldName: readName(frame, 16),
        newName: readName(frame, 16 + QDEVICE_MAX_NAME_LEN),
      });
    case VqReqId.QDEVICE_POLL:
      return codecOk({
        kind: 'qdevice_poll',
        name: readName(frame, 16),
        castVote: readInt32LE(frame, 272),
        ringId: { rep: readUInt32LE(frame, 280), seq: readBigUInt64LE(frame, 288) },
      });
    default:
      return codecOk({
        kind: 'qdevice_master_wins',
        name: readName(frame, 16),
        allow: readUInt32LE(frame, 272),
      });
  }
}

/** Encode a request as libvotequorum does (for the client library and tests). */
export function encodeVqRequest(r: VqRequest): Buffer {
  const ids: Record<VqRequest['kind'], number> = {
    getinfo: VqReqId.GETINFO,
    setexpected: VqReqId.SETEXPECTED,
    setvotes: VqReqId.SETVOTES,
    trackstart: VqReqId.TRACKSTART,
    trackstop: VqReqId.TRACKSTOP,
    qdevice_register: VqReqId.QDEVICE_REGISTER,
    qdevice_unregister: VqReqId.QDEVICE_UNREGISTER,
    qdevice_update: VqReqId.QDEVICE_UPDATE,
    qdevice_poll: VqReqId.QDEVICE_POLL,
    qdevice_master_wins: VqReqId.QDEVICE_MASTER_WINS,
  };
  const id = ids[r.kind];
  const buf = allocRequest(id, VQ_REQUEST_SIZE[id]!);
  switch (r.kind) {
    case 'getinfo':
      writeUInt32LE(buf, r.nodeId >>> 0, 16);
      break;
    case 'setexpected':
      writeUInt32LE(buf, r.expectedVotes >>> 0, 16);
      break;
    case 'setvotes':
      writeUInt32LE(buf, r.votes >>> 0, 16);
      writeUInt32LE(buf, r.nodeId >>> 0, 20);
      break;
    case 'trackstart':
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.context), 16);
      writeUInt32LE(buf, r.trackFlags >>> 0, 24);
      break;
    case 'trackstop':
      break;
    case 'qdevice_register':
    case 'qdevice_unregister':
      writeName(buf, 16, r.name.name);
      break;
    case 'qdevice_update':
      writeName(buf, 16, r.oldName.name);
      writeName(buf, 16 + QDEVICE_MAX_NAME_LEN, r.newName.name);
      break;
    case 'qdevice_poll':
      writeName(buf, 16, r.name.name);
      writeInt32LE(buf, r.castVote | 0, 272);
      writeUInt32LE(buf, r.ringId.rep >>> 0, 280);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.ringId.seq), 288);
      break;
    case 'qdevice_master_wins':
      writeName(buf, 16, r.name.name);
      writeUInt32LE(buf, r.allow >>> 0, 272);
      break;
  }
  return buf;
}

// ========================================================================================
// IPC responses and dispatch messages

export interface VqGetinfo {
  readonly nodeId: number;
  readonly state: number;
  readonly votes: number;
  readonly expectedVotes: number;
  readonly highestExpected: number;
  readonly totalVotes: number;
  readonly quorum: number;
  readonly flags: number;
  readonly qdeviceVotes: number;
  readonly qdeviceName: string;
}

export interface VqNodeEntry {
  readonly nodeId: number;
  readonly state: number;
}

export type VqResponse =
  | { readonly kind: 'status'; readonly error: number }
  | { readonly kind: 'getinfo'; readonly error: number; readonly info: VqGetinfo | undefined }
  | {
      readonly kind: 'quorum_notification';
      readonly quorate: number;
      readonly context: bigint;
      readonly nodes: readonly VqNodeEntry[];
    }
  | { readonly kind: 'expectedvotes_notification'; readonly context: bigint; readonly expectedVotes: number }
  | {
      readonly kind: 'nodelist_notification';
      readonly context: bigint;
      readonly ringId: RingId;
      readonly nodes: readonly number[];
    };

/** STATUS (24 bytes): a bare response header with id 0. */
export function encodeVqStatus(error: number): Buffer {
  return allocResponse(VqResId.STATUS, VqResSize.STATUS, error);
}

/** GETINFO response (320 bytes); `info` undefined = all fields zero (error replies). */
export function encodeVqGetinfo(error: number, info: VqGetinfo | undefined): Buffer {
  const buf = allocResponse(VqResId.GETINFO, VqResSize.GETINFO, error);
  if (info) {
    const vals = [
      info.nodeId,
      info.state,
      info.votes,
      info.expectedVotes,
      info.highestExpected,
      info.totalVotes,
      info.quorum,
      info.flags,
      info.qdeviceVotes,
    ];
    vals.forEach((v, i) => writeUInt32LE(buf, v >>> 0, 24 + 4 * i));
    writeName(buf, 60, info.qdeviceName);
  }
  return buf;
}

export function encodeVqQuorumNotification(
  quorate: boolean,
  context: bigint,
  nodes: readonly VqNodeEntry[],
): Buffer {
  const size = VqResSize.QUORUM_NOTIFICATION_BASE + 8 * nodes.length;
  const buf = allocResponse(VqResId.QUORUM_NOTIFICATION, size, 1 /* CS_OK */);
  writeUInt32LE(buf, quorate ? 1 : 0, 24);
  writeBigUInt64LE(buf, BigInt.asUintN(64, context), 32);
  writeUInt32LE(buf, nodes.length, 40);
  nodes.forEach((n, i) => {
    writeUInt32LE(buf, n.nodeId >>> 0, 48 + 8 * i);
    writeUInt32LE(buf, n.state >>> 0, 52 + 8 * i);
  });
  return buf;
}

export function encodeVqNodelistNotification(
  context: bigint,
  ringId: RingId,
  nodes: readonly number[],
): Buffer {
  const size = VqResSize.NODELIST_NOTIFICATION_BASE + 4 * nodes.length;
  const buf = allocResponse(VqResId.NODELIST_NOTIFICATION, size, 1 /* CS_OK */);
  writeBigUInt64LE(buf, BigInt.asUintN(64, context), 24);
  writeUInt32LE(buf, ringId.rep >>> 0, 32);
  writeBigUInt64LE(buf, BigInt.asUintN(64, ringId.seq), 40);
  writeUInt32LE(buf, nodes.length, 48);
  writeNodeIds(buf, 56, nodes);
  return buf;
}

export function encodeVqExpectedVotesNotification(context: bigint, expectedVotes: number): Buffer {
  const buf = allocResponse(
    VqResId.EXPECTEDVOTES_NOTIFICATION,
    VqResSize.EXPECTEDVOTES_NOTIFICATION,
    1 /* CS_OK */,
  );
  writeBigUInt64LE(buf, BigInt.asUintN(64, context), 24);
  writeUInt32LE(buf, expectedVotes >>> 0, 32);
  return buf;
}

/** Decode a response or dispatch message (client side, tests). */
export function decodeVqResponse(frame: Buffer): CodecResult<VqResponse> {
  const badHeader = checkFrameHeader(frame, RESPONSE_HEADER_SIZE, 'votequorum response');
  if (badHeader) return badHeader;
  const id = readInt32LE(frame, 0);
  const error = readInt32LE(frame, 16);
  switch (id) {
    case VqResId.STATUS:
      return codecOk({ kind: 'status', error });
    case VqResId.GETINFO: {
      const bad = checkMinSize(frame.length, VqResSize.GETINFO, 'GETINFO response');
      if (bad) return bad;
      const u = (i: number) => readUInt32LE(frame, 24 + 4 * i);
      return codecOk({
        kind: 'getinfo',
        error,
        info: {
          nodeId: u(0),
          state: u(1),
          votes: u(2),
          expectedVotes: u(3),
          highestExpected: u(4),
          totalVotes: u(5),
          quorum: u(6),
          flags: u(7),
          qdeviceVotes: u(8),
          qdeviceName: readName(frame, 60).name,
        },
      });
    }
    case VqResId.QUORUM_NOTIFICATION: {
      const bad = checkMinSize(frame.length, VqResSize.QUORUM_NOTIFICATION_BASE, 'QUORUM notification');
      if (bad) return bad;
      const n = readUInt32LE(frame, 40);
      if (n > VQ_NOTIFICATION_MAX_NODES || frame.length !== VqResSize.QUORUM_NOTIFICATION_BASE + 8 * n) {
        return codecFail('bad-count', `QUORUM notification with ${n} entries in ${frame.length} bytes`);
      }
      const nodes: VqNodeEntry[] = [];
      for (let i = 0; i < n; i++) {
        nodes.push({ nodeId: readUInt32LE(frame, 48 + 8 * i), state: readUInt32LE(frame, 52 + 8 * i) });
      }
      return codecOk({
        kind: 'quorum_notification',
        quorate: readUInt32LE(frame, 24),
        context: readBigUInt64LE(frame, 32),
        nodes,
      });
    }
    case VqResId.EXPECTEDVOTES_NOTIFICATION: {
      const bad = checkMinSize(
        frame.length,
        VqResSize.EXPECTEDVOTES_NOTIFICATION,
        'EXPECTEDVOTES notification',
      );
      if (bad) return bad;
      return codecOk({
        kind: 'expectedvotes_notification',
        context: readBigUInt64LE(frame, 24),
        expectedVotes: readUInt32LE(frame, 32),
      });
    }
    case VqResId.NODELIST_NOTIFICATION: {
      const bad = checkMinSize(frame.length, VqResSize.NODELIST_NOTIFICATION_BASE, 'NODELIST notification');
      if (bad) return bad;
      const n = readUInt32LE(frame, 48);
      if (frame.length !== VqResSize.NODELIST_NOTIFICATION_BASE + 4 * n) {
        return codecFail('bad-count', `NODELIST notification with ${n} entries in ${frame.length} bytes`);
      }
      return codecOk({
        kind: 'nodelist_notification',
        context: readBigUInt64LE(frame, 24),
        ringId: { rep: readUInt32LE(frame, 32), seq: readBigUInt64LE(frame, 40) },
        nodes: readNodeIds(frame, 56, n),
      });
    }
    default:
      return codecFail('bad-id', `unknown votequorum response id ${id}`);
  }
}
