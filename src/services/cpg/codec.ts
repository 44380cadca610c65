/**
 * CPG byte layouts (spec cpg.md §1, §2, §7; include/corosync/ipc_cpg.h, exec/cpg.c of
 * corosync 3.1.7), byte-exact and little-endian:
 *
 * - exec messages (service 2, totempg group "a"): PROCJOIN, PROCLEAVE, JOINLIST, MCAST,
 *   DOWNLIST_OLD, DOWNLIST, PARTIAL_MCAST;
 * - IPC requests (client → daemon), responses and dispatch callbacks, including the zero-copy
 *   requests and the `coroipcs_zc_header` written into a zero-copy mapping.
 *
 * Every struct is built in one zero-filled buffer of its exact size, so all pads are zero
 * (where corosync leaves stack garbage — DOWNLIST tail, DELIVER/PARTIAL_DELIVER error,
 * MEMBERSHIP unused entries, TOTEM_CONFCHG trailing pad — we write zeros or CS_OK, as the spec
 * says). Sizes are the ones corosync puts in `header.size`, which is also what it sends.
 *
 * Decoders check the header id, that `header.size` equals the bytes received, every count
 * against the size and its array, and every group name length (≤ 128); they return a typed
 * {@link CodecFailure} and never throw. Group names keep all 128 value bytes as received
 * (clients may leave garbage after `length`; corosync forwards it unchanged); message
 * payloads are views of the received buffer, not copies.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../../common/errors.js';
import {
  type CodecFailure,
  type CodecResult,
  EXEC_RESPONSE_HEADER_SIZE,
  type MessageSource,
  PROCESSOR_COUNT_MAX,
  ServiceId,
  checkExactMessage,
  checkExactSize,
  checkFrameHeader,
  checkHeaderPresent,
  checkMessage,
  checkMinSize,
  checkNodeCount,
  codecFail,
  codecOk,
  execId,
  isCodecFailure,
  readMessageSource,
  readNodeIds,
  refuseOtherByteOrder,
  writeMessageSource,
  writeNodeIds,
} from '../../exec/codec.js';
import {
  REQUEST_HEADER_SIZE,
  RESPONSE_HEADER_SIZE,
  allocRequest,
  allocResponse,
  writeRequestHeader,
  writeResponseHeader,
} from '../../ipc/frame.js';
import { zeroedBuffer } from '../../common/buffers.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt32LE,
  writeBigUInt64LE,
  writeInt32LE,
  writeUInt32LE,
} from '../../common/bytes.js';

// ========================================================================================
// Constants

/** CPG_MAX_NAME_LENGTH: capacity of a group name's value. */
export const CPG_MAX_NAME_LENGTH = 128;
/** sizeof(mar_cpg_name_t): u32 length, pad, char value[128]. */
export const CPG_NAME_SIZE = 136;
/** sizeof(mar_cpg_address_t): nodeid, pid, reason, each u32 + pad. */
export const CPG_ADDRESS_SIZE = 24;
/** sizeof(struct join_list_entry): pid u32 + pad, group name. */
export const CPG_JOIN_LIST_ENTRY_SIZE = 144;
/** sizeof(mar_cpg_iteration_description_t): group name, nodeid u32 @136, pid u32 @140. */
export const CPG_ITERATION_DESCRIPTION_SIZE = 144;
/** Entries of res_lib_cpg_membership_get.member_list and of the downlist arrays. */
export const CPG_MEMBERSHIP_MAX = PROCESSOR_COUNT_MAX;
/** CPG_ZC_PATH_LEN: capacity of the zero-copy file path. */
export const CPG_ZC_PATH_LEN = 128;
/** Largest message libcpg sends in one MCAST (1 MiB − 1024); larger ones go as PARTIAL_MCAST. */
export const CPG_MAX_ATOMIC_MSG_SIZE = 1024 * 1024 - 1024;

/** Exec function ids (`enum cpg_message_req_types`). */
export const CpgExecFn = {
  PROCJOIN: 0,
  PROCLEAVE: 1,
  JOINLIST: 2,
  MCAST: 3,
  DOWNLIST_OLD: 4,
  DOWNLIST: 5,
  PARTIAL_MCAST: 6,
} as const;
export type CpgExecFn = (typeof CpgExecFn)[keyof typeof CpgExecFn];

/** Exec header ids: 0x0002_00xx. */
export const CpgExecId = {
  PROCJOIN: execId(ServiceId.CPG, CpgExecFn.PROCJOIN),
  PROCLEAVE: execId(ServiceId.CPG, CpgExecFn.PROCLEAVE),
  JOINLIST: execId(ServiceId.CPG, CpgExecFn.JOINLIST),
  MCAST: execId(ServiceId.CPG, CpgExecFn.MCAST),
  DOWNLIST_OLD: execId(ServiceId.CPG, CpgExecFn.DOWNLIST_OLD),
  DOWNLIST: execId(ServiceId.CPG, CpgExecFn.DOWNLIST),
  PARTIAL_MCAST: execId(ServiceId.CPG, CpgExecFn.PARTIAL_MCAST),
} as const;

/** IPC request ids (`enum req_cpg_types`). */
export const CpgReqId = {
  JOIN: 0,
  LEAVE: 1,
  MCAST: 2,
  MEMBERSHIP: 3,
  LOCAL_GET: 4,
  ITERATIONINITIALIZE: 5,
  ITERATIONNEXT: 6,
  ITERATIONFINALIZE: 7,
  FINALIZE: 8,
  ZC_ALLOC: 9,
  ZC_FREE: 10,
  ZC_EXECUTE: 11,
  PARTIAL_MCAST: 12,
} as const;
export type CpgReqId = (typeof CpgReqId)[keyof typeof CpgReqId];
/** Number of cpg lib functions (ids 0..12). */
export const CPG_REQUEST_COUNT = 13;

/** IPC response / dispatch ids (`enum res_cpg_types`). */
export const CpgResId = {
  JOIN: 0,
  LEAVE: 1,
  MCAST: 2,
  MEMBERSHIP: 3,
  CONFCHG_CALLBACK: 4,
  DELIVER_CALLBACK: 5,
  FLOW_CONTROL_STATE_SET: 6,
  LOCAL_GET: 7,
  FLOWCONTROL_CALLBACK: 8,
  ITERATIONINITIALIZE: 9,
  ITERATIONNEXT: 10,
  ITERATIONFINALIZE: 11,
  FINALIZE: 12,
  TOTEM_CONFCHG_CALLBACK: 13,
  ZC_ALLOC: 14,
  ZC_FREE: 15,
  ZC_EXECUTE: 16,
  PARTIAL_DELIVER_CALLBACK: 17,
  PARTIAL_SEND: 18,
} as const;
export type CpgResId = (typeof CpgResId)[keyof typeof CpgResId];

/** `cpg_reason_t`: why a process is in a confchg list. */
export const CpgReason = {
  UNDEFINED: 0,
  JOIN: 1,
  LEAVE: 2,
  NODEDOWN: 3,
  NODEUP: 4,
  PROCDOWN: 5,
} as const;
export type CpgReason = (typeof CpgReason)[keyof typeof CpgReason];

/** Lower-case reason names (as tools and the capture listings print them). */
export function cpgReasonName(reason: number): string {
  return (
    (['undefined', 'join', 'leave', 'nodedown', 'nodeup', 'procdown'] as const)[reason] ?? `reason${reason}`
  );
}

/** `enum lib_cpg_partial_types`. */
export const CpgPartialType = { FIRST: 1, CONTINUED: 2, LAST: 3 } as const;
export type CpgPartialType = (typeof CpgPartialType)[keyof typeof CpgPartialType];

/** `cpg_iteration_type_t`. The server treats any value other than 1 and 2 as ALL. */
export const CpgIterationType = { NAME_ONLY: 1, ONE_GROUP: 2, ALL: 3 } as const;

/** Join flags (`cpg_model_v1_data_t.flags`). */
export const CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF = 0x01;

/** `cpg_flow_control_state_t`. */
export const CpgFlowControlState = { DISABLED: 0, ENABLED: 1 } as const;

/** Struct sizes; `*_HEADER` = fixed part before a variable payload or list. */
export const CpgSize = {
  // exec
  PROCJOIN: 168,
  JOINLIST_HEADER: EXEC_RESPONSE_HEADER_SIZE,
  MCAST_HEADER: 184,
  DOWNLIST_OLD: 1560,
  DOWNLIST: 1568,
  PARTIAL_MCAST_HEADER: 200,
  // IPC requests
  REQ_JOIN: 168,
  REQ_LEAVE: 160,
  REQ_MCAST_HEADER: 40,
  REQ_MEMBERSHIP: 152,
  REQ_LOCAL_GET: 16,
  REQ_ITERATIONINITIALIZE: 160,
  REQ_ITERATIONNEXT: 24,
  REQ_ITERATIONFINALIZE: 24,
  REQ_FINALIZE: 16,
  REQ_ZC_ALLOC: 152,
  REQ_ZC_FREE: 32,
  REQ_ZC_EXECUTE: 24,
  REQ_PARTIAL_MCAST_HEADER: 56,
  // IPC responses and callbacks
  RES_BARE: RESPONSE_HEADER_SIZE,
  RES_MEMBERSHIP: 9248,
  RES_LOCAL_GET: 32,
  RES_ITERATIONINITIALIZE: 32,
  RES_ITERATIONNEXT: 168,
  FLOWCONTROL_CALLBACK: 32,
  DELIVER_HEADER: 184,
  CONFCHG_HEADER: 184,
  /** sizeof(res_lib_cpg_totem_confchg_callback): the list starts at 44, 4 pad bytes follow it. */
  TOTEM_CONFCHG_HEADER: 48,
  PARTIAL_DELIVER_HEADER: 200,
  /** struct coroipcs_zc_header: i32 map_size @0, u64 server_address @8. */
  ZC_HEADER: 16,
} as const;

const TOTEM_CONFCHG_LIST_OFF = 44;

// ========================================================================================
// Group name: mar_cpg_name_t (136 bytes)

/**
 * A group name as it travels: `length` (0..128) and all 128 bytes of `value`. Equality uses
 * only the first `length` bytes ({@link cpgNameEquals}); the rest is carried unchanged.
 */
export interface CpgName {
  readonly length: number;
  /** Exactly 128 bytes. */
  readonly value: Buffer;
}

/** A name from a string (UTF-8) or bytes; the value is zero-padded. CS_ERR_NAME_TOO_LONG above 128 bytes. */
export function cpgName(name: string | Uint8Array): CpgName {
  const bytes = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  if (bytes.length > CPG_MAX_NAME_LENGTH) {
    throw new CsError(
      CsErrorCode.CS_ERR_NAME_TOO_LONG,
      `group name of ${bytes.length} bytes exceeds ${CPG_MAX_NAME_LENGTH}`,
    );
  }
  const value = Buffer.alloc(CPG_MAX_NAME_LENGTH);
  value.set(bytes);
  return { length: bytes.length, value };
}

/** The significant bytes of a name (a view of `value`). */
export function cpgNameBytes(n: CpgName): Buffer {
  return n.value.subarray(0, Math.min(n.length, CPG_MAX_NAME_LENGTH));
}

/** The significant bytes decoded as UTF-8. */
export function cpgNameToString(n: CpgName): string {
  return cpgNameBytes(n).toString('utf8');
}

/** corosync's `mar_name_compare(...) == 0`: same length and same first `length` bytes. */
export function cpgNameEquals(a: CpgName, b: CpgName): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  // runs for every local connection on every delivered message: no views, no native call
  const av = a.value;
  const bv = b.value;
  const end = Math.min(n, CPG_MAX_NAME_LENGTH);
  for (let i = 0; i < end; i++) if (av[i] !== bv[i]) return false;
  return true;
}

/** Write a name at `off`: length, zero pad, the 128 value bytes. RangeError if length > 128. */
export function writeCpgName(buf: Buffer, off: number, n: CpgName): void {
  if (n.length < 0 || n.length > CPG_MAX_NAME_LENGTH || n.value.length > CPG_MAX_NAME_LENGTH) {
    throw new RangeError(`group name length ${n.length} is not in 0..${CPG_MAX_NAME_LENGTH}`);
  }
  writeUInt32LE(buf, n.length, off);
  writeUInt32LE(buf, 0, off + 4);
  buf.fill(0, off + 8, off + CPG_NAME_SIZE);
  n.value.copy(buf, off + 8);
}

/**
 * Read a name at `off` (136 bytes must be there); `name-too-long` when length > 128. Copies the
 * value unless `view` (the name then shares `buf`'s memory: for names used only while `buf` is).
 */
export function readCpgName(buf: Buffer, off: number, what: string, view = false): CpgName | CodecFailure {
  const length = readUInt32LE(buf, off);
  if (length > CPG_MAX_NAME_LENGTH) {
    return codecFail('name-too-long', `${what}: group name length ${length} exceeds ${CPG_MAX_NAME_LENGTH}`);
  }
  const value = buf.subarray(off + 8, off + CPG_NAME_SIZE);
  return { length, value: view ? value : Buffer.from(value) };
}

// ========================================================================================
// mar_cpg_address_t (24 bytes)

export interface CpgAddress {
  readonly nodeid: number;
  readonly pid: number;
  readonly reason: number;
}

function writeAddress(buf: Buffer, off: number, a: CpgAddress): void {
  writeUInt32LE(buf, a.nodeid >>> 0, off);
  writeUInt32LE(buf, a.pid >>> 0, off + 8);
  writeUInt32LE(buf, a.reason >>> 0, off + 16);
}

function readAddress(buf: Buffer, off: number): CpgAddress {
  return {
    nodeid: readUInt32LE(buf, off),
    pid: readUInt32LE(buf, off + 8),
    reason: readUInt32LE(buf, off + 16),
  };
}

function readAddresses(buf: Buffer, off: number, n: number): CpgAddress[] {
  const out = new Array<CpgAddress>(n);
  for (let i = 0; i < n; i++) out[i] = readAddress(buf, off + CPG_ADDRESS_SIZE * i);
  return out;
}

function checkType(type: number, what: string): CodecFailure | null {
  if (type < CpgPartialType.FIRST || type > CpgPartialType.LAST) {
    return codecFail('bad-value', `${what}: fragment type ${type} is not FIRST(1), CONTINUED(2) or LAST(3)`);
  }
  return null;
}

function checkFragment(msglen: number, fraglen: number, what: string): CodecFailure | null {
  if (fraglen > msglen) {
    return codecFail(
      'bad-count',
      `${what}: fragment of ${fraglen} bytes is longer than the whole message (${msglen})`,
    );
  }
  return null;
}

// ========================================================================================
// Exec messages

/** PROCJOIN (fn 0). Receivers ignore `reason` (always JOIN from corosync). */
export interface CpgProcJoin {
  readonly kind: 'procjoin';
  readonly group: CpgName;
  readonly pid: number;
  readonly reason: number;
}

/** PROCLEAVE (fn 1): same struct; `reason` LEAVE or PROCDOWN. */
export interface CpgProcLeave {
  readonly kind: 'procleave';
  readonly group: CpgName;
  readonly pid: number;
  readonly reason: number;
}

export interface CpgJoinListEntry {
  readonly pid: number;
  readonly group: CpgName;
}

/** JOINLIST (fn 2): the sender's local group members, 24-byte response-style header. */
export interface CpgJoinList {
  readonly kind: 'joinlist';
  readonly entries: readonly CpgJoinListEntry[];
}

/** MCAST (fn 3). `message` is a view of the received buffer. */
export interface CpgMcast {
  readonly kind: 'mcast';
  readonly group: CpgName;
  readonly pid: number;
  readonly source: MessageSource;
  readonly message: Buffer;
}

/** DOWNLIST_OLD (fn 4): never sent by 3.1.7, only logged by receivers. */
export interface CpgDownlistOld {
  readonly kind: 'downlist_old';
  readonly leftNodes: readonly number[];
}

/**
 * DOWNLIST (fn 5). Only the first `left_nodes` entries of nodeids[384] are meaningful;
 * corosync leaves stale values behind them (decoders ignore them, encoders write zeros).
 */
export interface CpgDownlist {
  readonly kind: 'downlist';
  readonly oldMembers: number;
  readonly leftNodes: readonly number[];
}

/** PARTIAL_MCAST (fn 6). `fragment` is a view of the received buffer. */
export interface CpgPartialMcast {
  readonly kind: 'partial_mcast';
  readonly group: CpgName;
  /** Length of the whole message. */
  readonly msglen: number;
  readonly pid: number;
  readonly type: number;
  readonly source: MessageSource;
  readonly fragment: Buffer;
}

export type CpgExecMessage =
  CpgProcJoin | CpgProcLeave | CpgJoinList | CpgMcast | CpgDownlistOld | CpgDownlist | CpgPartialMcast;

/** PROCJOIN / PROCLEAVE: header, group @16, pid @152, reason @160; 168 bytes. */
function encodeProc(id: number, group: CpgName, pid: number, reason: number): Buffer {
  const buf = allocRequest(id, CpgSize.PROCJOIN);
  writeCpgName(buf, 16, group);
  writeUInt32LE(buf, pid >>> 0, 152);
  writeUInt32LE(buf, reason >>> 0, 160);
  return buf;
}

export function encodeCpgProcJoin(group: CpgName, pid: number, reason: number = CpgReason.JOIN): Buffer {
  return encodeProc(CpgExecId.PROCJOIN, group, pid, reason);
}

export function encodeCpgProcLeave(group: CpgName, pid: number, reason: number): Buffer {
  return encodeProc(CpgExecId.PROCLEAVE, group, pid, reason);
}

/** JOINLIST: response header (error 0), then n × {pid @0, group @8}. */
export function encodeCpgJoinList(entries: readonly CpgJoinListEntry[]): Buffer {
  const size = CpgSize.JOINLIST_HEADER + CPG_JOIN_LIST_ENTRY_SIZE * entries.length;
  const buf = allocResponse(CpgExecId.JOINLIST, size, 0);
  entries.forEach((e, i) => {
    const off = CpgSize.JOINLIST_HEADER + CPG_JOIN_LIST_ENTRY_SIZE * i;
    writeUInt32LE(buf, e.pid >>> 0, off);
    writeCpgName(buf, off + 8, e.group);
  });
  return buf;
}

/** The 184 bytes of an MCAST before its payload of `msglen` bytes (send both as pieces). */
export function encodeCpgMcastHeader(
  m: { readonly group: CpgName; readonly pid: number; readonly source: MessageSource },
  msglen: number,
): Buffer {
  const buf = zeroedBuffer(CpgSize.MCAST_HEADER);
  writeRequestHeader(buf, CpgExecId.MCAST, CpgSize.MCAST_HEADER + msglen);
  writeCpgName(buf, 16, m.group);
  writeUInt32LE(buf, msglen >>> 0, 152);
  writeUInt32LE(buf, m.pid >>> 0, 160);
  writeMessageSource(buf, 168, m.source);
  return buf;
}

/** Set the size fields of an MCAST header from {@link encodeCpgMcastHeader} for a new `msglen`. */
export function patchCpgMcastHeader(buf: Buffer, msglen: number): void {
  writeInt32LE(buf, CpgSize.MCAST_HEADER + msglen, 8);
  writeUInt32LE(buf, msglen >>> 0, 152);
}

/** MCAST: header, group @16, msglen @152, pid @160, source @168, message @184. */
export function encodeCpgMcast(m: Omit<CpgMcast, 'kind'>): Buffer {
  return Buffer.concat([encodeCpgMcastHeader(m, m.message.length), m.message]);
}

/** DOWNLIST_OLD: header, left_nodes @16, nodeids[384] @24; 1560 bytes. */
export function encodeCpgDownlistOld(leftNodes: readonly number[]): Buffer {
  checkNodeCount(leftNodes.length, 'cpg downlist left_nodes');
  const buf = allocRequest(CpgExecId.DOWNLIST_OLD, CpgSize.DOWNLIST_OLD);
  writeUInt32LE(buf, leftNodes.length, 16);
  writeNodeIds(buf, 24, leftNodes);
  return buf;
}

/** DOWNLIST: header, old_members @16, left_nodes @24, nodeids[384] @32 (unused zero); 1568 bytes. */
export function encodeCpgDownlist(oldMembers: number, leftNodes: readonly number[]): Buffer {
  checkNodeCount(leftNodes.length, 'cpg downlist left_nodes');
  const buf = allocRequest(CpgExecId.DOWNLIST, CpgSize.DOWNLIST);
  writeUInt32LE(buf, oldMembers >>> 0, 16);
  writeUInt32LE(buf, leftNodes.length, 24);
  writeNodeIds(buf, 32, leftNodes);
  return buf;
}

/** The 200 bytes of a PARTIAL_MCAST before its fragment of `fraglen` bytes. */
export function encodeCpgPartialMcastHeader(
  m: {
    readonly group: CpgName;
    readonly msglen: number;
    readonly pid: number;
    readonly type: number;
    readonly source: MessageSource;
  },
  fraglen: number,
): Buffer {
  const buf = zeroedBuffer(CpgSize.PARTIAL_MCAST_HEADER);
  writeRequestHeader(buf, CpgExecId.PARTIAL_MCAST, CpgSize.PARTIAL_MCAST_HEADER + fraglen);
  writeCpgName(buf, 16, m.group);
  writeUInt32LE(buf, m.msglen >>> 0, 152);
  writeUInt32LE(buf, fraglen >>> 0, 160);
  writeUInt32LE(buf, m.pid >>> 0, 168);
  writeUInt32LE(buf, m.type >>> 0, 176);
  writeMessageSource(buf, 184, m.source);
  return buf;
}

/** PARTIAL_MCAST: header, group @16, msglen @152, fraglen @160, pid @168, type @176, source @184, fragment @200. */
export function encodeCpgPartialMcast(m: Omit<CpgPartialMcast, 'kind'>): Buffer {
  return Buffer.concat([encodeCpgPartialMcastHeader(m, m.fragment.length), m.fragment]);
}

/** Encode any CPG exec message. */
export function encodeCpgExec(m: CpgExecMessage): Buffer {
  switch (m.kind) {
    case 'procjoin':
      return encodeCpgProcJoin(m.group, m.pid, m.reason);
    case 'procleave':
      return encodeCpgProcLeave(m.group, m.pid, m.reason);
    case 'joinlist':
      return encodeCpgJoinList(m.entries);
    case 'mcast':
      return encodeCpgMcast(m);
    case 'downlist_old':
      return encodeCpgDownlistOld(m.leftNodes);
    case 'downlist':
      return encodeCpgDownlist(m.oldMembers, m.leftNodes);
    case 'partial_mcast':
      return encodeCpgPartialMcast(m);
  }
}

/**
 * Decode a CPG exec message (the bytes after the group header; `endianConvert` from totempg).
 * The header id selects the struct; its fn must be 0..6.
 */
export function decodeCpgExec(msg: Buffer, endianConvert = false): CodecResult<CpgExecMessage> {
  const bad =
    refuseOtherByteOrder(endianConvert, 'cpg exec message') ??
    checkHeaderPresent(msg, REQUEST_HEADER_SIZE, 'cpg exec message');
  if (bad) return bad;
  const id = readInt32LE(msg, 0);
  switch (id) {
    case CpgExecId.PROCJOIN:
    case CpgExecId.PROCLEAVE: {
      const what = id === CpgExecId.PROCJOIN ? 'cpg procjoin' : 'cpg procleave';
      const bad = checkExactMessage(msg, id, CpgSize.PROCJOIN, what);
      if (bad) return bad;
      const group = readCpgName(msg, 16, what);
      if (isCodecFailure(group)) return group;
      return codecOk({
        kind: id === CpgExecId.PROCJOIN ? 'procjoin' : 'procleave',
        group,
        pid: readUInt32LE(msg, 152),
        reason: readUInt32LE(msg, 160),
      });
    }
    case CpgExecId.JOINLIST: {
      const what = 'cpg joinlist';
      const bad = checkMessage(msg, id, CpgSize.JOINLIST_HEADER, what);
      if (bad) return bad;
      const body = msg.length - CpgSize.JOINLIST_HEADER;
      if (body % CPG_JOIN_LIST_ENTRY_SIZE !== 0) {
        return codecFail(
          'bad-count',
          `${what}: ${body} bytes after the header are not a whole number of ${CPG_JOIN_LIST_ENTRY_SIZE}-byte entries`,
        );
      }
      const n = body / CPG_JOIN_LIST_ENTRY_SIZE;
      const entries: CpgJoinListEntry[] = [];
      for (let i = 0; i < n; i++) {
        const off = CpgSize.JOINLIST_HEADER + CPG_JOIN_LIST_ENTRY_SIZE * i;
        const group = readCpgName(msg, off + 8, `${what} entry ${i}`);
        if (isCodecFailure(group)) return group;
        entries.push({ pid: readUInt32LE(msg, off), group });
      }
      return codecOk({ kind: 'joinlist', entries });
    }
    case CpgExecId.MCAST: {
      const what = 'cpg mcast';
      const bad = checkMessage(msg, id, CpgSize.MCAST_HEADER, what);
      if (bad) return bad;
      const msglen = readUInt32LE(msg, 152);
      if (msglen !== msg.length - CpgSize.MCAST_HEADER) {
        return codecFail(
          'bad-count',
          `${what}: msglen ${msglen} but ${msg.length - CpgSize.MCAST_HEADER} bytes follow the header`,
        );
      }
      // a view: an MCAST is delivered and forgotten (one per message, the hot path)
      const group = readCpgName(msg, 16, what, true);
      if (isCodecFailure(group)) return group;
      return codecOk({
        kind: 'mcast',
        group,
        pid: readUInt32LE(msg, 160),
        source: readMessageSource(msg, 168),
        message: msg.subarray(CpgSize.MCAST_HEADER),
      });
    }
    case CpgExecId.DOWNLIST_OLD: {
      const what = 'cpg downlist_old';
      const bad = checkExactMessage(msg, id, CpgSize.DOWNLIST_OLD, what);
      if (bad) return bad;
      const n = readUInt32LE(msg, 16);
      if (n > CPG_MEMBERSHIP_MAX)
        return codecFail('bad-count', `${what}: left_nodes ${n} > ${CPG_MEMBERSHIP_MAX}`);
      return codecOk({ kind: 'downlist_old', leftNodes: readNodeIds(msg, 24, n) });
    }
    case CpgExecId.DOWNLIST: {
      const what = 'cpg downlist';
      const bad = checkExactMessage(msg, id, CpgSize.DOWNLIST, what);
      if (bad) return bad;
      const n = readUInt32LE(msg, 24);
      if (n > CPG_MEMBERSHIP_MAX)
        return codecFail('bad-count', `${what}: left_nodes ${n} > ${CPG_MEMBERSHIP_MAX}`);
      return codecOk({
        kind: 'downlist',
        oldMembers: readUInt32LE(msg, 16),
        leftNodes: readNodeIds(msg, 32, n),
      });
    }
    case CpgExecId.PARTIAL_MCAST: {
      const what = 'cpg partial_mcast';
      const bad = checkMessage(msg, id, CpgSize.PARTIAL_MCAST_HEADER, what);
      if (bad) return bad;
      const msglen = readUInt32LE(msg, 152);
      const fraglen = readUInt32LE(msg, 160);
      const type = readUInt32LE(msg, 176);
      if (fraglen !== msg.length - CpgSize.PARTIAL_MCAST_HEADER) {
        return codecFail(
          'bad-count',
          `${what}: fraglen ${fraglen} but ${msg.length - CpgSize.PARTIAL_MCAST_HEADER} bytes follow the header`,
        );
      }
      const badFrag = checkFragment(msglen, fraglen, what) ?? checkType(type, what);
      if (badFrag) return badFrag;
      const group = readCpgName(msg, 16, what);
      if (isCodecFailure(group)) return group;
      return codecOk({
        kind: 'partial_mcast',
        group,
        msglen,
        pid: readUInt32LE(msg, 168),
        type,
        source: readMessageSource(msg, 184),
        fragment: msg.subarray(CpgSize.PARTIAL_MCAST_HEADER),
      });
    }
    default:
      return codecFail('bad-id', `not a cpg exec message id: 0x${(id >>> 0).toString(16)}`);
  }
}

// ========================================================================================
// IPC requests (client → daemon)

export interface CpgJoinRequest {
  readonly kind: 'join';
  readonly group: CpgName;
  readonly pid: number;
  /** Model flags (CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF). */
  readonly flags: number;
}
export interface CpgLeaveRequest {
  readonly kind: 'leave';
  readonly group: CpgName;
  readonly pid: number;
}
/** MCAST request: response-style 24-byte header. `message` is a view of the frame. */
export interface CpgMcastRequest {
  readonly kind: 'mcast';
  readonly guarantee: number;
  readonly message: Buffer;
}
export interface CpgMembershipGetRequest {
  readonly kind: 'membership_get';
  readonly group: CpgName;
}
export interface CpgLocalGetRequest {
  readonly kind: 'local_get';
}
/**
 * ITERATIONINITIALIZE. `group` is only meaningful (and only decoded) for ONE_GROUP: libcpg
 * leaves it uninitialised otherwise, so its length may be anything.
 */
export interface CpgIterationInitializeRequest {
  readonly kind: 'iteration_initialize';
  readonly iterationType: number;
  readonly group: CpgName | undefined;
}
export interface CpgIterationNextRequest {
  readonly kind: 'iteration_next';
  readonly handle: bigint;
}
export interface CpgIterationFinalizeRequest {
  readonly kind: 'iteration_finalize';
  readonly handle: bigint;
}
export interface CpgFinalizeRequest {
  readonly kind: 'finalize';
}
/** ZC_ALLOC: map_size u64 @16, path_to_file char[128] @24 (read up to the first NUL). */
export interface CpgZcAllocRequest {
  readonly kind: 'zc_alloc';
  readonly mapSize: bigint;
  readonly path: string;
}
export interface CpgZcFreeRequest {
  readonly kind: 'zc_free';
  readonly mapSize: bigint;
  readonly serverAddress: bigint;
}
export interface CpgZcExecuteRequest {
  readonly kind: 'zc_execute';
  readonly serverAddress: bigint;
}
/** PARTIAL_MCAST request: response-style header. `fragment` is a view of the frame. */
export interface CpgPartialMcastRequest {
  readonly kind: 'partial_mcast';
  readonly guarantee: number;
  readonly msglen: number;
  readonly type: number;
  readonly fragment: Buffer;
}

export type CpgRequest =
  | CpgJoinRequest
  | CpgLeaveRequest
  | CpgMcastRequest
  | CpgMembershipGetRequest
  | CpgLocalGetRequest
  | CpgIterationInitializeRequest
  | CpgIterationNextRequest
  | CpgIterationFinalizeRequest
  | CpgFinalizeRequest
  | CpgZcAllocRequest
  | CpgZcFreeRequest
  | CpgZcExecuteRequest
  | CpgPartialMcastRequest;

/** The 40 bytes of an MCAST request before its `msglen`-byte message. */
export function encodeCpgMcastRequestHeader(guarantee: number, msglen: number): Buffer {
  const buf = zeroedBuffer(CpgSize.REQ_MCAST_HEADER);
  writeResponseHeader(buf, CpgReqId.MCAST, CpgSize.REQ_MCAST_HEADER + msglen, 0);
  writeUInt32LE(buf, guarantee >>> 0, 24);
  writeUInt32LE(buf, msglen >>> 0, 32);
  return buf;
}

/** The 56 bytes of a PARTIAL_MCAST request before its `fraglen`-byte fragment. */
export function encodeCpgPartialMcastRequestHeader(
  guarantee: number,
  msglen: number,
  type: number,
  fraglen: number,
): Buffer {
  const buf = zeroedBuffer(CpgSize.REQ_PARTIAL_MCAST_HEADER);
  writeResponseHeader(buf, CpgReqId.PARTIAL_MCAST, CpgSize.REQ_PARTIAL_MCAST_HEADER + fraglen, 0);
  writeUInt32LE(buf, guarantee >>> 0, 24);
  writeUInt32LE(buf, msglen >>> 0, 32);
  writeUInt32LE(buf, fraglen >>> 0, 40);
  writeUInt32LE(buf, type >>> 0, 48);
  return buf;
}

function writeZcPath(buf: Buffer, off: number, path: string): void {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length >= CPG_ZC_PATH_LEN || bytes.includes(0)) {
    throw new RangeError(
      `zero-copy path of ${bytes.length} bytes does not fit ${CPG_ZC_PATH_LEN} bytes with its NUL`,
    );
  }
  bytes.copy(buf, off);
}

/** Encode any CPG IPC request (exact size; header.size = frame length). */
export function encodeCpgRequest(r: CpgRequest): Buffer {
  switch (r.kind) {
    case 'join': {
      const buf = allocRequest(CpgReqId.JOIN, CpgSize.REQ_JOIN);
      writeCpgName(buf, 16, r.group);
      writeUInt32LE(buf, r.pid >>> 0, 152);
      writeUInt32LE(buf, r.flags >>> 0, 160);
      return buf;
    }
    case 'leave': {
      const buf = allocRequest(CpgReqId.LEAVE, CpgSize.REQ_LEAVE);
      writeCpgName(buf, 16, r.group);
      writeUInt32LE(buf, r.pid >>> 0, 152);
      return buf;
    }
    case 'mcast':
      return Buffer.concat([encodeCpgMcastRequestHeader(r.guarantee, r.message.length), r.message]);
    case 'membership_get': {
      const buf = allocRequest(CpgReqId.MEMBERSHIP, CpgSize.REQ_MEMBERSHIP);
      writeCpgName(buf, 16, r.group);
      return buf;
    }
    case 'local_get':
      return allocRequest(CpgReqId.LOCAL_GET, CpgSize.REQ_LOCAL_GET);
    case 'iteration_initialize': {
      const buf = allocRequest(CpgReqId.ITERATIONINITIALIZE, CpgSize.REQ_ITERATIONINITIALIZE);
      if (r.group) writeCpgName(buf, 16, r.group);
      writeUInt32LE(buf, r.iterationType >>> 0, 152);
      return buf;
    }
    case 'iteration_next':
    case 'iteration_finalize': {
      const id = r.kind === 'iteration_next' ? CpgReqId.ITERATIONNEXT : CpgReqId.ITERATIONFINALIZE;
      const buf = allocRequest(id, CpgSize.REQ_ITERATIONNEXT);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.handle), 16);
      return buf;
    }
    case 'finalize':
      return allocRequest(CpgReqId.FINALIZE, CpgSize.REQ_FINALIZE);
    case 'zc_alloc': {
      const buf = allocRequest(CpgReqId.ZC_ALLOC, CpgSize.REQ_ZC_ALLOC);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.mapSize), 16);
      writeZcPath(buf, 24, r.path);
      return buf;
    }
    case 'zc_free': {
      const buf = allocRequest(CpgReqId.ZC_FREE, CpgSize.REQ_ZC_FREE);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.mapSize), 16);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.serverAddress), 24);
      return buf;
    }
    case 'zc_execute': {
      const buf = allocRequest(CpgReqId.ZC_EXECUTE, CpgSize.REQ_ZC_EXECUTE);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.serverAddress), 16);
      return buf;
    }
    case 'partial_mcast':
      return Buffer.concat([
        encodeCpgPartialMcastRequestHeader(r.guarantee, r.msglen, r.type, r.fragment.length),
        r.fragment,
      ]);
  }
}

/** Fixed request sizes by id (undefined = variable: MCAST, PARTIAL_MCAST). */
const FIXED_REQUEST_SIZE: readonly (number | undefined)[] = [
  CpgSize.REQ_JOIN,
  CpgSize.REQ_LEAVE,
  undefined,
  CpgSize.REQ_MEMBERSHIP,
  CpgSize.REQ_LOCAL_GET,
  CpgSize.REQ_ITERATIONINITIALIZE,
  CpgSize.REQ_ITERATIONNEXT,
  CpgSize.REQ_ITERATIONFINALIZE,
  CpgSize.REQ_FINALIZE,
  CpgSize.REQ_ZC_ALLOC,
  CpgSize.REQ_ZC_FREE,
  CpgSize.REQ_ZC_EXECUTE,
  undefined,
];

/**
 * Decode a CPG IPC request frame. Checks: header present, header.size = frame length, id
 * 0..12, the exact struct size (or header + msglen/fraglen for the multicasts), group name
 * lengths ≤ 128 (`name-too-long`: the JOIN handler answers CS_ERR_NAME_TOO_LONG, as corosync
 * does), fragment type 1..3 and fraglen ≤ msglen.
 */
/** "cpg request <id>" per id, built once (decodeCpgRequest runs for every message sent). */
const REQUEST_WHAT: readonly string[] = Array.from(
  { length: CPG_REQUEST_COUNT },
  (_, id) => `cpg request ${id}`,
);

export function decodeCpgRequest(frame: Buffer): CodecResult<CpgRequest> {
  const badHeader = checkFrameHeader(frame, REQUEST_HEADER_SIZE, 'cpg request');
  if (badHeader) return badHeader;
  const id = readInt32LE(frame, 0);
  const size = frame.length;
  if (id < 0 || id >= CPG_REQUEST_COUNT) return codecFail('bad-id', `unknown cpg request id ${id}`);
  const fixed = FIXED_REQUEST_SIZE[id];
  const what = REQUEST_WHAT[id]!;
  if (fixed !== undefined) {
    const wrongSize = checkExactSize(size, fixed, what);
    if (wrongSize) return wrongSize;
  }
  switch (id) {
    case CpgReqId.JOIN:
    case CpgReqId.LEAVE:
    case CpgReqId.MEMBERSHIP: {
      const group = readCpgName(frame, 16, what);
      if (isCodecFailure(group)) return group;
      if (id === CpgReqId.JOIN) {
        return codecOk({
          kind: 'join',
          group,
          pid: readUInt32LE(frame, 152),
          flags: readUInt32LE(frame, 160),
        });
      }
      if (id === CpgReqId.LEAVE) return codecOk({ kind: 'leave', group, pid: readUInt32LE(frame, 152) });
      return codecOk({ kind: 'membership_get', group });
    }
    case CpgReqId.MCAST: {
      if (size < CpgSize.REQ_MCAST_HEADER) {
        return codecFail(
          'truncated',
          `cpg mcast request of ${size} bytes is shorter than ${CpgSize.REQ_MCAST_HEADER}`,
        );
      }
      const msglen = readUInt32LE(frame, 32);
      if (msglen !== size - CpgSize.REQ_MCAST_HEADER) {
        return codecFail(
          'bad-count',
          `cpg mcast request: msglen ${msglen} but ${size - CpgSize.REQ_MCAST_HEADER} bytes follow the header`,
        );
      }
      return codecOk({
        kind: 'mcast',
        guarantee: readUInt32LE(frame, 24),
        message: frame.subarray(CpgSize.REQ_MCAST_HEADER),
      });
    }
    case CpgReqId.LOCAL_GET:
      return codecOk({ kind: 'local_get' });
    case CpgReqId.ITERATIONINITIALIZE: {
      const iterationType = readUInt32LE(frame, 152);
      let group: CpgName | undefined;
      if (iterationType === CpgIterationType.ONE_GROUP) {
        const g = readCpgName(frame, 16, what);
        if (isCodecFailure(g)) return g;
        group = g;
      }
      return codecOk({ kind: 'iteration_initialize', iterationType, group });
    }
    case CpgReqId.ITERATIONNEXT:
      return codecOk({ kind: 'iteration_next', handle: readBigUInt64LE(frame, 16) });
    case CpgReqId.ITERATIONFINALIZE:
      return codecOk({ kind: 'iteration_finalize', handle: readBigUInt64LE(frame, 16) });
    case CpgReqId.FINALIZE:
      return codecOk({ kind: 'finalize' });
    case CpgReqId.ZC_ALLOC: {
      const start = 24;
      let end = frame.indexOf(0, start);
      if (end < 0 || end > start + CPG_ZC_PATH_LEN) end = start + CPG_ZC_PATH_LEN;
      return codecOk({
        kind: 'zc_alloc',
        mapSize: readBigUInt64LE(frame, 16),
        path: frame.toString('utf8', start, end),
      });
    }
    case CpgReqId.ZC_FREE:
      return codecOk({
        kind: 'zc_free',
        mapSize: readBigUInt64LE(frame, 16),
        serverAddress: readBigUInt64LE(frame, 24),
      });
    case CpgReqId.ZC_EXECUTE:
      return codecOk({ kind: 'zc_execute', serverAddress: readBigUInt64LE(frame, 16) });
    default: {
      // PARTIAL_MCAST (12)
      if (size < CpgSize.REQ_PARTIAL_MCAST_HEADER) {
        return codecFail(
          'truncated',
          `cpg partial_mcast request of ${size} bytes is shorter than ${CpgSize.REQ_PARTIAL_MCAST_HEADER}`,
        );
      }
      const msglen = readUInt32LE(frame, 32);
      const fraglen = readUInt32LE(frame, 40);
      const type = readUInt32LE(frame, 48);
      const rwhat = 'cpg partial_mcast request';
      if (fraglen !== size - CpgSize.REQ_PARTIAL_MCAST_HEADER) {
        return codecFail(
          'bad-count',
          `${rwhat}: fraglen ${fraglen} but ${size - CpgSize.REQ_PARTIAL_MCAST_HEADER} bytes follow the header`,
        );
      }
      const bad = checkFragment(msglen, fraglen, rwhat) ?? checkType(type, rwhat);
      if (bad) return bad;
      return codecOk({
        kind: 'partial_mcast',
        guarantee: readUInt32LE(frame, 24),
        msglen,
        type,
        fragment: frame.subarray(CpgSize.REQ_PARTIAL_MCAST_HEADER),
      });
    }
  }
}

// ========================================================================================
// IPC responses and dispatch callbacks (daemon → client)

/**
 * A bare 24-byte response: RES_JOIN(0), RES_LEAVE(1), RES_MCAST(2, the ZC_EXECUTE reply),
 * RES_ITERATIONFINALIZE(11), RES_FINALIZE(12), RES_PARTIAL_SEND(18); also the ZC_ALLOC/ZC_FREE
 * replies and the generic refusals, both with id 0.
 */
export interface CpgBareResponse {
  readonly kind: 'bare';
  readonly id: number;
  readonly error: number;
}
/** RES_MEMBERSHIP (9248 bytes; member_count ≤ 384). */
export interface CpgMembershipResponse {
  readonly kind: 'membership';
  readonly error: number;
  readonly members: readonly CpgAddress[];
}
export interface CpgLocalGetResponse {
  readonly kind: 'local_get';
  readonly error: number;
  readonly localNodeid: number;
}
export interface CpgIterationInitializeResponse {
  readonly kind: 'iteration_initialize';
  readonly error: number;
  readonly handle: bigint;
}
export interface CpgIterationDescription {
  readonly group: CpgName;
  readonly nodeid: number;
  readonly pid: number;
}
/** RES_ITERATIONNEXT; the description is all zero when error ≠ CS_OK (end of list). */
export interface CpgIterationNextResponse {
  readonly kind: 'iteration_next';
  readonly error: number;
  readonly description: CpgIterationDescription;
}
/** FLOWCONTROL_CALLBACK (never sent by 3.1.7). */
export interface CpgFlowControlCallback {
  readonly kind: 'flowcontrol';
  readonly error: number;
  readonly state: number;
}
/** CONFCHG_CALLBACK: counts in the header in order member, joined, left; arrays member, left, joined. */
export interface CpgConfchgCallback {
  readonly kind: 'confchg';
  readonly error: number;
  readonly group: CpgName;
  readonly members: readonly CpgAddress[];
  readonly left: readonly CpgAddress[];
  readonly joined: readonly CpgAddress[];
}
/** DELIVER_CALLBACK. `message` is a view of the frame. */
export interface CpgDeliverCallback {
  readonly kind: 'deliver';
  readonly error: number;
  readonly group: CpgName;
  readonly nodeid: number;
  readonly pid: number;
  readonly message: Buffer;
}
/** `mar_cpg_ring_id_t` (16 bytes, not packed). */
export interface CpgRingId {
  readonly nodeid: number;
  readonly seq: bigint;
}
/** TOTEM_CONFCHG_CALLBACK. */
export interface CpgTotemConfchgCallback {
  readonly kind: 'totem_confchg';
  readonly error: number;
  readonly ringId: CpgRingId;
  readonly members: readonly number[];
}
/** PARTIAL_DELIVER_CALLBACK. `fragment` is a view of the frame. */
export interface CpgPartialDeliverCallback {
  readonly kind: 'partial_deliver';
  readonly error: number;
  readonly group: CpgName;
  readonly msglen: number;
  readonly nodeid: number;
  readonly pid: number;
  readonly type: number;
  readonly fragment: Buffer;
}

export type CpgResponse =
  | CpgBareResponse
  | CpgMembershipResponse
  | CpgLocalGetResponse
  | CpgIterationInitializeResponse
  | CpgIterationNextResponse
  | CpgFlowControlCallback
  | CpgConfchgCallback
  | CpgDeliverCallback
  | CpgTotemConfchgCallback
  | CpgPartialDeliverCallback;

const BARE_RESPONSE_IDS: ReadonlySet<number> = new Set([
  CpgResId.JOIN,
  CpgResId.LEAVE,
  CpgResId.MCAST,
  CpgResId.ITERATIONFINALIZE,
  CpgResId.FINALIZE,
  CpgResId.PARTIAL_SEND,
]);

/** A bare 24-byte response with `id` and `error`. */
export function encodeCpgBareResponse(id: number, error: number): Buffer {
  return allocResponse(id, CpgSize.RES_BARE, error);
}

/** The 184 bytes of a DELIVER callback before its `msglen`-byte message (error CS_OK). */
export function encodeCpgDeliverCallbackHeader(
  d: { readonly group: CpgName; readonly nodeid: number; readonly pid: number },
  msglen: number,
): Buffer {
  const buf = zeroedBuffer(CpgSize.DELIVER_HEADER);
  writeCpgDeliverHeader(buf, d, msglen);
  return buf;
}

/**
 * The whole DELIVER callback frame (header and message) in one allocation: this runs once per
 * delivered message and local group.
 */
export function encodeCpgDeliverCallback(
  d: { readonly group: CpgName; readonly nodeid: number; readonly pid: number },
  message: Buffer,
): Buffer {
  const buf = Buffer.allocUnsafe(CpgSize.DELIVER_HEADER + message.length);
  buf.fill(0, 0, CpgSize.DELIVER_HEADER);
  writeCpgDeliverHeader(buf, d, message.length);
  message.copy(buf, CpgSize.DELIVER_HEADER);
  return buf;
}

/** The fields of a DELIVER header into a zeroed `buf` (its first 184 bytes). */
function writeCpgDeliverHeader(
  buf: Buffer,
  d: { readonly group: CpgName; readonly nodeid: number; readonly pid: number },
  msglen: number,
): void {
  writeResponseHeader(buf, CpgResId.DELIVER_CALLBACK, CpgSize.DELIVER_HEADER + msglen, CsErrorCode.CS_OK);
  writeCpgName(buf, 24, d.group);
  writeUInt32LE(buf, msglen >>> 0, 160);
  writeUInt32LE(buf, d.nodeid >>> 0, 168);
  writeUInt32LE(buf, d.pid >>> 0, 176);
}

/** The 200 bytes of a PARTIAL_DELIVER callback before its `fraglen`-byte fragment (error CS_OK). */
export function encodeCpgPartialDeliverCallbackHeader(
  d: {
    readonly group: CpgName;
    readonly msglen: number;
    readonly nodeid: number;
    readonly pid: number;
    readonly type: number;
  },
  fraglen: number,
): Buffer {
  const buf = zeroedBuffer(CpgSize.PARTIAL_DELIVER_HEADER);
  writeResponseHeader(
    buf,
    CpgResId.PARTIAL_DELIVER_CALLBACK,
    CpgSize.PARTIAL_DELIVER_HEADER + fraglen,
    CsErrorCode.CS_OK,
  );
  writeCpgName(buf, 24, d.group);
  writeUInt32LE(buf, d.msglen >>> 0, 160);
  writeUInt32LE(buf, fraglen >>> 0, 168);
  writeUInt32LE(buf, d.nodeid >>> 0, 176);
  writeUInt32LE(buf, d.pid >>> 0, 184);
  writeUInt32LE(buf, d.type >>> 0, 192);
  return buf;
}

/**
 * Encode any CPG response or callback with corosync's sizes. For `deliver` and
 * `partial_deliver` the `error` field is written as given (corosync leaves it uninitialised;
 * send CS_OK). RangeError for a membership list above 384 entries.
 */
export function encodeCpgResponse(r: CpgResponse): Buffer {
  switch (r.kind) {
    case 'bare':
      return encodeCpgBareResponse(r.id, r.error);
    case 'membership': {
      checkNodeCount(r.members.length, 'cpg membership response member_list');
      const buf = allocResponse(CpgResId.MEMBERSHIP, CpgSize.RES_MEMBERSHIP, r.error);
      writeUInt32LE(buf, r.members.length, 24);
      r.members.forEach((a, i) => writeAddress(buf, 32 + CPG_ADDRESS_SIZE * i, a));
      return buf;
    }
    case 'local_get': {
      const buf = allocResponse(CpgResId.LOCAL_GET, CpgSize.RES_LOCAL_GET, r.error);
      writeUInt32LE(buf, r.localNodeid >>> 0, 24);
      return buf;
    }
    case 'iteration_initialize': {
      const buf = allocResponse(CpgResId.ITERATIONINITIALIZE, CpgSize.RES_ITERATIONINITIALIZE, r.error);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.handle), 24);
      return buf;
    }
    case 'iteration_next': {
      const buf = allocResponse(CpgResId.ITERATIONNEXT, CpgSize.RES_ITERATIONNEXT, r.error);
      writeCpgName(buf, 24, r.description.group);
      writeUInt32LE(buf, r.description.nodeid >>> 0, 160);
      writeUInt32LE(buf, r.description.pid >>> 0, 164);
      return buf;
    }
    case 'flowcontrol': {
      const buf = allocResponse(CpgResId.FLOWCONTROL_CALLBACK, CpgSize.FLOWCONTROL_CALLBACK, r.error);
      writeUInt32LE(buf, r.state >>> 0, 24);
      return buf;
    }
    case 'confchg': {
      const m = r.members.length;
      const l = r.left.length;
      const j = r.joined.length;
      const size = CpgSize.CONFCHG_HEADER + CPG_ADDRESS_SIZE * (m + l + j);
      const buf = allocResponse(CpgResId.CONFCHG_CALLBACK, size, r.error);
      writeCpgName(buf, 24, r.group);
      writeUInt32LE(buf, m, 160);
      writeUInt32LE(buf, j, 168);
      writeUInt32LE(buf, l, 176);
      let off = CpgSize.CONFCHG_HEADER;
      for (const list of [r.members, r.left, r.joined]) {
        for (const a of list) {
          writeAddress(buf, off, a);
          off += CPG_ADDRESS_SIZE;
        }
      }
      return buf;
    }
    case 'deliver': {
      const head = encodeCpgDeliverCallbackHeader(r, r.message.length);
      writeInt32LE(head, r.error | 0, 16);
      return Buffer.concat([head, r.message]);
    }
    case 'totem_confchg': {
      const n = r.members.length;
      const size = CpgSize.TOTEM_CONFCHG_HEADER + 4 * n;
      const buf = allocResponse(CpgResId.TOTEM_CONFCHG_CALLBACK, size, r.error);
      writeUInt32LE(buf, r.ringId.nodeid >>> 0, 24);
      writeBigUInt64LE(buf, BigInt.asUintN(64, r.ringId.seq), 32);
      writeUInt32LE(buf, n, 40);
      writeNodeIds(buf, TOTEM_CONFCHG_LIST_OFF, r.members);
      return buf;
    }
    case 'partial_deliver': {
      const head = encodeCpgPartialDeliverCallbackHeader(r, r.fragment.length);
      writeInt32LE(head, r.error | 0, 16);
      return Buffer.concat([head, r.fragment]);
    }
  }
}

/**
 * Decode a CPG response or dispatch frame (as the client library receives it). Checks the
 * 24-byte header, header.size = frame length, the id, exact sizes, counts against the size
 * (membership ≤ 384), name lengths, fragment type and fraglen ≤ msglen.
 */
export function decodeCpgResponse(frame: Buffer): CodecResult<CpgResponse> {
  const badHeader = checkFrameHeader(frame, RESPONSE_HEADER_SIZE, 'cpg response');
  if (badHeader) return badHeader;
  const id = readInt32LE(frame, 0);
  const size = frame.length;
  const error = readInt32LE(frame, 16);
  if (id !== CpgResId.DELIVER_CALLBACK && BARE_RESPONSE_IDS.has(id)) {
    return (
      checkExactSize(size, CpgSize.RES_BARE, `cpg response ${id}`) ?? codecOk({ kind: 'bare', id, error })
    );
  }
  switch (id) {
    case CpgResId.MEMBERSHIP: {
      const bad = checkExactSize(size, CpgSize.RES_MEMBERSHIP, 'cpg membership response');
      if (bad) return bad;
      const n = readUInt32LE(frame, 24);
      if (n > CPG_MEMBERSHIP_MAX) {
        return codecFail('bad-count', `cpg membership response: member_count ${n} > ${CPG_MEMBERSHIP_MAX}`);
      }
      return codecOk({ kind: 'membership', error, members: readAddresses(frame, 32, n) });
    }
    case CpgResId.LOCAL_GET:
      return (
        checkExactSize(size, CpgSize.RES_LOCAL_GET, 'cpg local_get response') ??
        codecOk({ kind: 'local_get', error, localNodeid: readUInt32LE(frame, 24) })
      );
    case CpgResId.ITERATIONINITIALIZE:
      return (
        checkExactSize(size, CpgSize.RES_ITERATIONINITIALIZE, 'cpg iteration_initialize response') ??
        codecOk({ kind: 'iteration_initialize', error, handle: readBigUInt64LE(frame, 24) })
      );
    case CpgResId.ITERATIONNEXT: {
      const what = 'cpg iteration_next response';
      const bad = checkExactSize(size, CpgSize.RES_ITERATIONNEXT, what);
      if (bad) return bad;
      const group = readCpgName(frame, 24, what);
      if (isCodecFailure(group)) return group;
      return codecOk({
        kind: 'iteration_next',
        error,
        description: { group, nodeid: readUInt32LE(frame, 160), pid: readUInt32LE(frame, 164) },
      });
    }
    case CpgResId.FLOWCONTROL_CALLBACK:
      return (
        checkExactSize(size, CpgSize.FLOWCONTROL_CALLBACK, 'cpg flowcontrol callback') ??
        codecOk({ kind: 'flowcontrol', error, state: readUInt32LE(frame, 24) })
      );
    case CpgResId.CONFCHG_CALLBACK: {
      const what = 'cpg confchg callback';
      const bad = checkMinSize(size, CpgSize.CONFCHG_HEADER, what);
      if (bad) return bad;
      const m = readUInt32LE(frame, 160);
      const j = readUInt32LE(frame, 168);
      const l = readUInt32LE(frame, 176);
      const expected = CpgSize.CONFCHG_HEADER + CPG_ADDRESS_SIZE * (m + j + l);
      if (expected !== size) {
        return codecFail(
          'bad-count',
          `${what}: ${m} members + ${l} left + ${j} joined need ${expected} bytes, frame has ${size}`,
        );
      }
      const group = readCpgName(frame, 24, what);
      if (isCodecFailure(group)) return group;
      const base = CpgSize.CONFCHG_HEADER;
      return codecOk({
        kind: 'confchg',
        error,
        group,
        members: readAddresses(frame, base, m),
        left: readAddresses(frame, base + CPG_ADDRESS_SIZE * m, l),
        joined: readAddresses(frame, base + CPG_ADDRESS_SIZE * (m + l), j),
      });
    }
    case CpgResId.DELIVER_CALLBACK: {
      const what = 'cpg deliver callback';
      const bad = checkMinSize(size, CpgSize.DELIVER_HEADER, what);
      if (bad) return bad;
      const msglen = readUInt32LE(frame, 160);
      if (msglen !== size - CpgSize.DELIVER_HEADER) {
        return codecFail(
          'bad-count',
          `${what}: msglen ${msglen} but ${size - CpgSize.DELIVER_HEADER} bytes follow the header`,
        );
      }
      // a view: the library turns it into its own group name object (see cpgGroupName)
      const group = readCpgName(frame, 24, what, true);
      if (isCodecFailure(group)) return group;
      return codecOk({
        kind: 'deliver',
        error,
        group,
        nodeid: readUInt32LE(frame, 168),
        pid: readUInt32LE(frame, 176),
        message: frame.subarray(CpgSize.DELIVER_HEADER),
      });
    }
    case CpgResId.TOTEM_CONFCHG_CALLBACK: {
      const what = 'cpg totem confchg callback';
      const bad = checkMinSize(size, CpgSize.TOTEM_CONFCHG_HEADER, what);
      if (bad) return bad;
      const n = readUInt32LE(frame, 40);
      const expected = CpgSize.TOTEM_CONFCHG_HEADER + 4 * n;
      if (expected !== size) {
        return codecFail('bad-count', `${what}: ${n} members need ${expected} bytes, frame has ${size}`);
      }
      return codecOk({
        kind: 'totem_confchg',
        error,
        ringId: { nodeid: readUInt32LE(frame, 24), seq: readBigUInt64LE(frame, 32) },
        members: readNodeIds(frame, TOTEM_CONFCHG_LIST_OFF, n),
      });
    }
    case CpgResId.PARTIAL_DELIVER_CALLBACK: {
      const what = 'cpg partial deliver callback';
      const bad = checkMinSize(size, CpgSize.PARTIAL_DELIVER_HEADER, what);
      if (bad) return bad;
      const msglen = readUInt32LE(frame, 160);
      const fraglen = readUInt32LE(frame, 168);
      const type = readUInt32LE(frame, 192);
      if (fraglen !== size - CpgSize.PARTIAL_DELIVER_HEADER) {
        return codecFail(
          'bad-count',
          `${what}: fraglen ${fraglen} but ${size - CpgSize.PARTIAL_DELIVER_HEADER} bytes follow the header`,
        );
      }
      const badFrag = checkFragment(msglen, fraglen, what) ?? checkType(type, what);
      if (badFrag) return badFrag;
      const group = readCpgName(frame, 24, what);
      if (isCodecFailure(group)) return group;
      return codecOk({
        kind: 'partial_deliver',
        error,
        group,
        msglen,
        nodeid: readUInt32LE(frame, 176),
        pid: readUInt32LE(frame, 184),
        type,
        fragment: frame.subarray(CpgSize.PARTIAL_DELIVER_HEADER),
      });
    }
    default:
      return codecFail('bad-id', `unknown cpg response id ${id}`);
  }
}

// ========================================================================================
// Zero-copy mapping header (struct coroipcs_zc_header, 16 bytes)

export interface CpgZcHeader {
  readonly mapSize: number;
  readonly serverAddress: bigint;
}

/** i32 map_size @0, pad, u64 server_address @8. */
export function encodeCpgZcHeader(h: CpgZcHeader): Buffer {
  const buf = zeroedBuffer(CpgSize.ZC_HEADER);
  writeInt32LE(buf, h.mapSize | 0, 0);
  writeBigUInt64LE(buf, BigInt.asUintN(64, h.serverAddress), 8);
  return buf;
}

export function decodeCpgZcHeader(buf: Buffer): CodecResult<CpgZcHeader> {
  if (buf.length < CpgSize.ZC_HEADER) {
    return codecFail(
      'truncated',
      `zero-copy header of ${buf.length} bytes is shorter than ${CpgSize.ZC_HEADER}`,
    );
  }
  return codecOk({ mapSize: readInt32LE(buf, 0), serverAddress: readBigUInt64LE(buf, 8) });
}
