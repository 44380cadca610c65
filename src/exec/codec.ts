/**
 * Exec (cluster-wide) message framing shared by every service engine (spec
 * services-exec.md §1.1, §2): the 16-byte request header that starts every message
 * multicast in totempg group "a", the service ids, the exec message catalogue and the typed
 * decode result used by every exec/sync/service codec.
 *
 * Exec header (`struct qb_ipc_request_header`, each field 8-aligned, little-endian):
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |    4 | id (i32) = (service_id << 16) \| fn_id |
 * |   4 |    4 | pad (zero) |
 * |   8 |    4 | size (i32): whole message, header included |
 * |  12 |    4 | pad (zero) |
 *
 * A few messages (cpg JOINLIST) use the 24-byte response header instead: the same two fields
 * plus `error` (i32) at 16 and 4 pad bytes; `id` and `size` are at the same offsets, so one
 * header decoder serves both. Both are libqb's IPC headers, so messages are built with the
 * writers of ipc/frame.ts (`allocRequest`, `writeRequestHeader`, `allocResponse`).
 *
 * Byte-order policy (spec services-exec.md §1): every field is in the sender's native order and
 * corosync 3.1.7 cannot really run mixed-endian clusters (several handlers have no swap
 * routine). We write little-endian only, and every decoder here refuses a message that totem
 * flagged as "endian conversion required" with the error code `endian-unsupported`: the
 * caller counts and logs it and drops the message.
 *
 * Decoders never throw on received bytes: they check every length, count and bound and return
 * a {@link CodecFailure}. Encoders take our own data; a value that cannot be represented
 * (e.g. a service id ≥ 64) is a programming error and throws RangeError.
 */

import { Buffer } from 'node:buffer';
import { zeroedBuffer } from '../common/buffers.js';
import { REQUEST_HEADER_SIZE, writeRequestHeader } from '../ipc/frame.js';
import { PROCESSOR_COUNT_MAX } from '../totem/wire/constants.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt32LE,
  writeBigUInt64LE,
  writeUInt32LE,
} from '../common/bytes.js';

/** sizeof(struct qb_ipc_request_header): the header of every exec message. */
export const EXEC_HEADER_SIZE = 16;
/** sizeof(struct qb_ipc_response_header): used by cpg JOINLIST (quirk). */
export const EXEC_RESPONSE_HEADER_SIZE = 24;
/** corosync's service table has 64 slots and indexes it without a bounds check. */
export const SERVICES_COUNT_MAX = 64;
// corosync's PROCESSOR_COUNT_MAX (totem's constant, one for both layers): it sizes several
// fixed arrays of the exec messages as well
export { PROCESSOR_COUNT_MAX };

/** Service ids (include/corosync/corodefs.h). */
export const ServiceId = {
  CMAP: 0,
  CFG: 1,
  CPG: 2,
  QUORUM: 3,
  PLOAD: 4,
  VOTEQUORUM: 5,
  MON: 6,
  WD: 7,
} as const;
export type ServiceId = (typeof ServiceId)[keyof typeof ServiceId];

/** Static facts about a built-in service engine (spec services-exec.md §2.3). */
export interface ServiceInfo {
  readonly id: ServiceId;
  /** Part of the default service name after the last `_`; used in `runtime.services.<x>`. */
  readonly suffix: string;
  /** Default service name, e.g. `corosync_cpg` (`internal_configuration.service.<id>.name`). */
  readonly defaultName: string;
  /** Engine name as logged ("Service engine loaded: ..."). */
  readonly engineName: string;
  /** libqb IPC service name, or undefined when the engine has no IPC. */
  readonly ipcName: string | undefined;
  /** Unload priority (higher first). */
  readonly priority: number;
  /** Number of exec handlers: fn ids 0..execFns-1 are valid. */
  readonly execFns: number;
  /** Number of IPC (lib) handlers. */
  readonly libFns: number;
  /** Takes part in the sync protocol (has sync callbacks). */
  readonly sync: boolean;
  /** Exec function names (for logs, stats and tools), index = fn id. */
  readonly fnNames: readonly string[];
}

const SERVICES: readonly ServiceInfo[] = [
  {
    id: ServiceId.CMAP,
    suffix: 'cmap',
    defaultName: 'corosync_cmap',
    engineName: 'corosync configuration map access',
    ipcName: 'cmap',
    priority: 1,
    execFns: 1,
    libFns: 10,
    sync: true,
    fnNames: ['mcast'],
  },
  {
    id: ServiceId.CFG,
    suffix: 'cfg',
    defaultName: 'corosync_cfg',
    engineName: 'corosync configuration service',
    ipcName: 'cfg',
    priority: 1,
    execFns: 5,
    libFns: 12,
    sync: false,
    fnNames: ['ringreenable', 'killnode', 'shutdown', 'reload_config', 'crypto_reconfig'],
  },
  {
    id: ServiceId.CPG,
    suffix: 'cpg',
    defaultName: 'corosync_cpg',
    engineName: 'corosync cluster closed process group service v1.01',
    ipcName: 'cpg',
    priority: 1,
    execFns: 7,
    libFns: 13,
    sync: true,
    fnNames: ['procjoin', 'procleave', 'joinlist', 'mcast', 'downlist_old', 'downlist', 'partial_mcast'],
  },
  {
    id: ServiceId.QUORUM,
    suffix: 'quorum',
    defaultName: 'corosync_quorum',
    engineName: 'corosync cluster quorum service v0.1',
    ipcName: 'quorum',
    priority: 1,
    execFns: 0,
    libFns: 5,
    sync: true,
    fnNames: [],
  },
  {
    id: ServiceId.PLOAD,
    suffix: 'pload',
    defaultName: 'corosync_pload',
    engineName: 'corosync profile loading service',
    ipcName: undefined,
    priority: 1,
    execFns: 2,
    libFns: 0,
    sync: false,
    fnNames: ['start', 'mcast'],
  },
  {
    id: ServiceId.VOTEQUORUM,
    suffix: 'votequorum',
    defaultName: 'corosync_votequorum',
    engineName: 'corosync vote quorum service v1.0',
    ipcName: 'votequorum',
    priority: 2,
    execFns: 4,
    libFns: 10,
    sync: true,
    fnNames: ['nodeinfo', 'reconfigure', 'qdevice_reg', 'qdevice_reconfigure'],
  },
  {
    id: ServiceId.MON,
    suffix: 'mon',
    defaultName: 'corosync_mon',
    engineName: 'corosync resource monitoring service',
    ipcName: undefined,
    priority: 1,
    execFns: 0,
    libFns: 0,
    sync: false,
    fnNames: [],
  },
  {
    id: ServiceId.WD,
    suffix: 'wd',
    defaultName: 'corosync_wd',
    engineName: 'corosync watchdog service',
    ipcName: undefined,
    priority: 1,
    execFns: 0,
    libFns: 0,
    sync: false,
    fnNames: [],
  },
];

/** Facts about a built-in service, or undefined for an id corosync does not define. */
export function serviceInfo(id: number): ServiceInfo | undefined {
  return SERVICES[id];
}

/** Every built-in service, by ascending id. */
export function allServices(): readonly ServiceInfo[] {
  return SERVICES;
}

/** Name of totempg group carrying all service exec messages. */
export const EXEC_GROUP_NAME = 'a';
/** Name of totempg group carrying the sync protocol. */
export const SYNC_GROUP_NAME = 'sync';

/** Delivery guarantee a sender asks totem for (`TOTEM_AGREED` / `TOTEM_SAFE`). */
export const TotemGuarantee = { AGREED: 0, SAFE: 1 } as const;
export type TotemGuarantee = (typeof TotemGuarantee)[keyof typeof TotemGuarantee];

// ----------------------------------------------------------------------------------------
// Ids

/** `SERVICE_ID_MAKE(service, fn)`. Throws RangeError outside 0..63 / 0..65535. */
export function execId(service: number, fn: number): number {
  if (!Number.isInteger(service) || service < 0 || service >= SERVICES_COUNT_MAX) {
    throw new RangeError(`service id ${service} is not in 0..${SERVICES_COUNT_MAX - 1}`);
  }
  if (!Number.isInteger(fn) || fn < 0 || fn > 0xffff) {
    throw new RangeError(`exec fn id ${fn} is not in 0..65535`);
  }
  return (service << 16) | fn;
}

/** Service part (high 16 bits) of an exec id read as i32. */
export function execIdService(id: number): number {
  return (id >>> 16) & 0xffff;
}

/** Function part (low 16 bits) of an exec id. */
export function execIdFn(id: number): number {
  return id & 0xffff;
}

/**
 * `<service>.<fn>` for logs and listings, e.g. `cpg.procjoin` or `votequorum.nodeinfo`;
 * unknown parts are printed as numbers (`cpg.fn9`, `service12.fn0`).
 */
export function execMessageName(id: number): string {
  const svc = execIdService(id);
  const fn = execIdFn(id);
  const info = serviceInfo(svc);
  if (!info) return `service${svc}.fn${fn}`;
  return `${info.suffix}.${info.fnNames[fn] ?? `fn${fn}`}`;
}

// ----------------------------------------------------------------------------------------
// Typed decode results

/** Why a received exec/sync/IPC message was refused. Stable strings, counted in stats. */
export type CodecErrorCode =
  /** shorter than its header or its fixed part */
  | 'truncated'
  /** header.size disagrees with the bytes received, or with the struct's size */
  | 'size-mismatch'
  /** header.id is not the message the decoder was asked for, or no such message exists */
  | 'bad-id'
  /** a count/length field is negative, beyond its array, or disagrees with the size */
  | 'bad-count'
  /** a group name's length field is above 128 */
  | 'name-too-long'
  /** a field holds a value the protocol never uses (e.g. fragment type 7) */
  | 'bad-value'
  /** the sender's byte order differs from ours; we do not convert (policy above) */
  | 'endian-unsupported';

/** A refused message; `error` says what was wrong, with the numbers involved. */
export interface CodecFailure {
  readonly ok: false;
  readonly code: CodecErrorCode;
  readonly error: string;
}

export interface CodecSuccess<T> {
  readonly ok: true;
  readonly value: T;
}

/** What every decoder returns; decoders never throw on bad input. */
export type CodecResult<T> = CodecSuccess<T> | CodecFailure;

export function codecFail(code: CodecErrorCode, error: string): CodecFailure {
  return { ok: false, code, error };
}

export function codecOk<T>(value: T): CodecSuccess<T> {
  return { ok: true, value };
}

/** Type guard for the failure arm of internal helpers that return `T | CodecFailure`. */
export function isCodecFailure(v: unknown): v is CodecFailure {
  return typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;
}

// ----------------------------------------------------------------------------------------
// Header

/** A decoded exec header. */
export interface ExecHeader {
  readonly id: number;
  readonly service: number;
  readonly fn: number;
  readonly size: number;
}

/**
 * Decode and check the header of a received exec message (group "a"):
 * `endianConvert` (from totempg) → `endian-unsupported`; fewer than 16 bytes → `truncated`;
 * `size` ≠ the bytes received → `size-mismatch` (corosync always sends exactly `size` bytes);
 * service id ≥ 64 → `bad-id` (corosync would index past its table).
 * Whether the service is loaded and the fn is known is the dispatcher's business.
 */
export function decodeExecHeader(msg: Buffer, endianConvert = false): CodecResult<ExecHeader> {
  const bad =
    refuseOtherByteOrder(endianConvert, 'exec message') ??
    checkFrameHeader(msg, EXEC_HEADER_SIZE, 'exec message');
  if (bad) return bad;
  const id = readInt32LE(msg, 0);
  const service = execIdService(id);
  if (id < 0 || service >= SERVICES_COUNT_MAX) {
    return codecFail(
      'bad-id',
      `exec id 0x${(id >>> 0).toString(16)} names service ${service} (max ${SERVICES_COUNT_MAX - 1})`,
    );
  }
  return codecOk({ id, service, fn: execIdFn(id), size: msg.length });
}

/**
 * Just the 16-byte header, announcing `size` bytes (for sending header and payload as separate
 * pieces). Whole messages are built with `allocRequest` of ipc/frame.ts: the exec header is
 * libqb's request header, so its writers are the IPC ones.
 */
export function encodeExecHeader(id: number, size: number): Buffer {
  const buf = zeroedBuffer(EXEC_HEADER_SIZE);
  writeRequestHeader(buf, id, size);
  return buf;
}

/**
 * The common start of every typed decoder: endian policy, header present, header.id equals
 * `id`, header.size equals the bytes received, and at least `min` bytes.
 */
export function checkMessage(
  msg: Buffer,
  id: number,
  min: number,
  what: string,
  endianConvert = false,
): CodecFailure | null {
  const bad = refuseOtherByteOrder(endianConvert, what) ?? checkHeaderPresent(msg, EXEC_HEADER_SIZE, what);
  if (bad) return bad;
  const gotId = readInt32LE(msg, 0);
  if (gotId !== id) {
    return codecFail(
      'bad-id',
      `${what}: header id 0x${(gotId >>> 0).toString(16)}, expected 0x${id.toString(16)}`,
    );
  }
  return checkHeaderSize(msg, what) ?? checkMinSize(msg.length, min, what);
}

/** {@link checkMessage} for a struct of one fixed size: a longer message is a `size-mismatch`. */
export function checkExactMessage(
  msg: Buffer,
  id: number,
  size: number,
  what: string,
  endianConvert = false,
): CodecFailure | null {
  return checkMessage(msg, id, size, what, endianConvert) ?? checkExactSize(msg.length, size, what);
}

// ----------------------------------------------------------------------------------------
// Checks shared by the exec, sync and IPC decoders. Each returns null when the check passes
// (no allocation on that path: several run once per message) or the failure naming `what`.

/** A message totem flagged for byte-order conversion is refused (policy in the file comment). */
export function refuseOtherByteOrder(endianConvert: boolean, what: string): CodecFailure | null {
  if (!endianConvert) return null;
  return codecFail('endian-unsupported', `${what} from a node of the other byte order (not supported)`);
}

/** The frame holds at least its `headerSize`-byte header. */
export function checkHeaderPresent(frame: Buffer, headerSize: number, what: string): CodecFailure | null {
  if (frame.length >= headerSize) return null;
  return codecFail(
    'truncated',
    `${what} of ${frame.length} bytes is shorter than its ${headerSize}-byte header`,
  );
}

/** header.size (i32 @8) must be the bytes received: corosync and libqb send exactly that. */
function checkHeaderSize(frame: Buffer, what: string): CodecFailure | null {
  const size = readInt32LE(frame, 8);
  if (size === frame.length) return null;
  return codecFail('size-mismatch', `${what}: header size ${size} but ${frame.length} bytes`);
}

/**
 * A whole header of `headerSize` bytes (16 for exec messages and IPC requests, 24 for IPC
 * responses) whose size field equals the bytes received.
 */
export function checkFrameHeader(frame: Buffer, headerSize: number, what: string): CodecFailure | null {
  return checkHeaderPresent(frame, headerSize, what) ?? checkHeaderSize(frame, what);
}

/**
 * The start of an IPC request decoder whose structs have one size per id (`sizes[id]`): a
 * whole 16-byte header, header.size = the bytes received, an id `sizes` knows, and the
 * struct's size — exactly (cfg, quorum: anything else is a `size-mismatch`) or at least
 * (votequorum, whose library may send more: fewer bytes are `truncated`).
 */
export function checkRequestFrame(
  frame: Buffer,
  sizes: readonly number[],
  what: string,
  fit: 'exact' | 'at-least',
): CodecFailure | null {
  const bad = checkFrameHeader(frame, REQUEST_HEADER_SIZE, what);
  if (bad) return bad;
  const id = readInt32LE(frame, 0);
  const want = sizes[id];
  if (want === undefined) return codecFail('bad-id', `${what} id ${id} does not exist`);
  if (fit === 'exact' && frame.length !== want) {
    return codecFail('size-mismatch', `${what} ${id} of ${frame.length} bytes (expected ${want})`);
  }
  if (fit === 'at-least' && frame.length < want) {
    return codecFail('truncated', `${what} ${id} of ${frame.length} bytes (needs ${want})`);
  }
  return null;
}

/** `size` bytes are at least the `min` bytes of a struct's fixed part. */
export function checkMinSize(size: number, min: number, what: string): CodecFailure | null {
  if (size >= min) return null;
  return codecFail('truncated', `${what} of ${size} bytes is shorter than its ${min}-byte fixed part`);
}

/** `size` bytes are exactly a struct of `expected` bytes: fewer are `truncated`, more a `size-mismatch`. */
export function checkExactSize(size: number, expected: number, what: string): CodecFailure | null {
  if (size === expected) return null;
  return codecFail(
    size < expected ? 'truncated' : 'size-mismatch',
    `${what} of ${size} bytes, expected ${expected}`,
  );
}

// ----------------------------------------------------------------------------------------
// mar_message_source_t (spec services-exec.md §1.5), 16 bytes

/** sizeof(mar_message_source_t). */
export const MESSAGE_SOURCE_SIZE = 16;

/**
 * The sender's identity inside some exec messages: its own nodeid (u32 @0, pad) and an opaque
 * 64-bit token of its IPC connection (u64 @8; a raw pointer in corosync). Only the node that
 * created `conn` may interpret it; receivers use the totem sender nodeid, not this one.
 */
export interface MessageSource {
  readonly nodeid: number;
  readonly conn: bigint;
}

export function writeMessageSource(buf: Buffer, off: number, src: MessageSource): void {
  writeUInt32LE(buf, src.nodeid >>> 0, off);
  writeUInt32LE(buf, 0, off + 4);
  writeBigUInt64LE(buf, BigInt.asUintN(64, src.conn), off + 8);
}

/** Read a source (the caller has checked that 16 bytes are there). */
export function readMessageSource(buf: Buffer, off: number): MessageSource {
  return { nodeid: readUInt32LE(buf, off), conn: readBigUInt64LE(buf, off + 8) };
}

// ----------------------------------------------------------------------------------------
// Node id lists: u32 arrays in cpg downlists and confchgs and in the quorum and votequorum
// notifications

/** Encoders' bound: corosync sizes its node arrays by PROCESSOR_COUNT_MAX. RangeError above it. */
export function checkNodeCount(n: number, what: string): void {
  if (n > PROCESSOR_COUNT_MAX) {
    throw new RangeError(`${what} of ${n} entries exceeds ${PROCESSOR_COUNT_MAX}`);
  }
}

/** Write `ids` as u32 from `off`; returns the offset after the last one. */
export function writeNodeIds(buf: Buffer, off: number, ids: readonly number[]): number {
  for (const id of ids) {
    writeUInt32LE(buf, id >>> 0, off);
    off += 4;
  }
  return off;
}

/** Read `n` u32 node ids from `off` (the caller has checked that they are there). */
export function readNodeIds(buf: Buffer, off: number, n: number): number[] {
  const ids = new Array<number>(n);
  for (let i = 0; i < n; i++) ids[i] = readUInt32LE(buf, off + 4 * i);
  return ids;
}
