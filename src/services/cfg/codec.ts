/**
 * Wire formats of the cfg service (service 1, IPC name `cfg`; spec cfg.md, corosync 3.1.7
 * include/corosync/ipc_cfg.h and exec/cfg.c): its five exec messages and its IPC structs.
 * Little-endian, every pad written as zero.
 *
 * Exec messages (16-byte request header, id = 1 << 16 | fn):
 *
 * | fn | message         | size | layout |
 * |---:|-----------------|-----:|--------|
 * |  0 | RINGREENABLE    |   32 | source (mar_message_source_t) @16 — never sent |
 * |  1 | KILLNODE        |  288 | nodeid u32 @16; pad; reason mar_name_t @24 (length u16 @24, value[256] @32) |
 * |  2 | SHUTDOWN        |   16 | header only |
 * |  3 | RELOAD_CONFIG   |   32 | source @16 (sender nodeid, requester connection token) |
 * |  4 | CRYPTO_RECONFIG |   24 | phase u32 @16; pad |
 *
 * IPC requests (id = function number):
 *
 * | id | request          | size | layout |
 * |---:|------------------|-----:|--------|
 * |  0 | RINGSTATUSGET    |   16 | header |
 * |  1 | RINGREENABLE     |   16 | header |
 * |  2 | KILLNODE         |  288 | nodeid u32 @16; pad; reason cs_name_t (length u16 @24, value[256] @26); pad |
 * |  3 | TRYSHUTDOWN      |   24 | flags u32 @16; pad |
 * |  4 | REPLYTOSHUTDOWN  |   24 | response u32 @16; pad |
 * |  5 | GET_NODE_ADDRS   |   24 | nodeid u32 @16; pad |
 * |  6 | LOCAL_GET        |   16 | header |
 * |  7 | RELOAD_CONFIG    |   16 | header |
 * |  8 | REOPEN_LOG_FILES |   16 | header |
 * |  9 | NODESTATUSGET    |   32 | nodeid u32 @16; pad; version u32 @24; pad |
 * | 10 | TRACKSTART       |   24 | track_flags u8 @16; pad |
 * | 11 | TRACKSTOP        |   16 | header |
 *
 * IPC responses / dispatch (24-byte response header): RINGSTATUSGET id 0 (10272 bytes:
 * interface_count u32 @24, 16 names of 128 bytes @32, 16 statuses of 512 bytes @2080),
 * GET_NODE_ADDRS id 11 (family u32 @24, num_addrs u32 @28, 16-byte addresses @32),
 * LOCAL_GET id 12 (local_nodeid u32 @24; 32 bytes), NODESTATUSGET id 16 (4200 bytes for V1,
 * see {@link CfgNodeStatusV1}, or 32 bytes with the version u32 @24 on error),
 * TESTSHUTDOWN dispatch id 10 (flags u32 @24; 32 bytes); every other reply is a bare header
 * (RINGREENABLE 1, STATETRACKSTART 2, STATETRACKSTOP 3, KILLNODE 8, TRYSHUTDOWN 9,
 * REPLYTOSHUTDOWN 13, RELOAD_CONFIG 14, REOPEN_LOG_FILES 15).
 *
 * Decoders never throw; encoders throw RangeError for values they cannot represent.
 */
import { Buffer } from 'node:buffer';
import {
  type CodecResult,
  type MessageSource,
  ServiceId,
  checkExactMessage,
  checkFrameHeader,
  checkMinSize,
  checkRequestFrame,
  codecFail,
  codecOk,
  execId,
  readMessageSource,
  writeMessageSource,
} from '../../exec/codec.js';
import { RESPONSE_HEADER_SIZE, allocRequest, allocResponse } from '../../ipc/frame.js';
import {
  readInt32LE,
  readUInt16LE,
  readUInt32LE,
  readUInt8,
  writeUInt16LE,
  writeUInt32LE,
  writeUInt8,
} from '../../common/bytes.js';

/** corosync service id of cfg (CFG_SERVICE). */
export const CFG_SERVICE_ID = ServiceId.CFG;
/** IPC (libqb) name of cfg. */
export const CFG_SERVICE_NAME = 'cfg';

/** `enum cfg_message_req_types` (exec functions). */
export const CfgExecFn = {
  RINGREENABLE: 0,
  KILLNODE: 1,
  SHUTDOWN: 2,
  RELOAD_CONFIG: 3,
  CRYPTO_RECONFIG: 4,
} as const;
export const CFG_EXEC_FN_COUNT = 5;
/** Exec message sizes by fn. */
export const CFG_EXEC_SIZES: readonly number[] = [32, 288, 16, 32, 24];

/** `enum req_lib_cfg_types`. */
export const CfgReqId = {
  RINGSTATUSGET: 0,
  RINGREENABLE: 1,
  KILLNODE: 2,
  TRYSHUTDOWN: 3,
  REPLYTOSHUTDOWN: 4,
  GET_NODE_ADDRS: 5,
  LOCAL_GET: 6,
  RELOAD_CONFIG: 7,
  REOPEN_LOG_FILES: 8,
  NODESTATUSGET: 9,
  TRACKSTART: 10,
  TRACKSTOP: 11,
} as const;
export const CFG_REQUEST_COUNT = 12;
/** Exact request sizes by id. */
export const CFG_REQUEST_SIZES: readonly number[] = [16, 16, 288, 24, 24, 24, 16, 16, 16, 32, 24, 16];

/** `enum res_lib_cfg_types`. */
export const CfgResId = {
  RINGSTATUSGET: 0,
  RINGREENABLE: 1,
  STATETRACKSTART: 2,
  STATETRACKSTOP: 3,
  KILLNODE: 8,
  TRYSHUTDOWN: 9,
  TESTSHUTDOWN: 10,
  GET_NODE_ADDRS: 11,
  LOCAL_GET: 12,
  REPLYTOSHUTDOWN: 13,
  RELOAD_CONFIG: 14,
  REOPEN_LOG_FILES: 15,
  NODESTATUSGET: 16,
} as const;

/** `corosync_cfg_shutdown_flags_t`. */
export const CfgShutdownFlags = { REQUEST: 0, REGARDLESS: 1, IMMEDIATE: 2 } as const;
/** `corosync_cfg_shutdown_reply_flags_t`. */
export const CfgShutdownReply = { NO: 0, YES: 1 } as const;
/** Crypto reconfiguration phases. */
export const CryptoReconfigPhase = { ACTIVATE: 1, CLEANUP: 2 } as const;
/** CFG_NODE_STATUS_V1. */
export const CFG_NODE_STATUS_V1 = 1;

/** Sizes of ipc_cfg.h. */
export const CFG_MAX_INTERFACES = 16;
export const CFG_INTERFACE_NAME_MAX_LEN = 128;
export const CFG_INTERFACE_STATUS_MAX_LEN = 512;
export const CFG_RINGSTATUSGET_SIZE = 10272;
const RING_NAMES_OFF = 32;
const RING_STATUS_OFF = RING_NAMES_OFF + CFG_MAX_INTERFACES * CFG_INTERFACE_NAME_MAX_LEN;
/** KNET_MAX_LINK and CFG_MAX_HOST_LEN. */
export const CFG_MAX_LINKS = 8;
export const CFG_MAX_HOST_LEN = 256;
export const CFG_LINK_STATUS_SIZE = 520;
export const CFG_NODESTATUSGET_V1_SIZE = 4200;
export const CFG_NODESTATUSGET_VERSION_SIZE = 32;
const LINK_STATUS_OFF = 40;
/** TOTEMIP_ADDRLEN: one address in GET_NODE_ADDRS. */
export const TOTEMIP_ADDRLEN = 16;
export const CFG_GET_NODE_ADDRS_BASE = 32;
/** CS_MAX_NAME_LENGTH (cs_name_t / mar_name_t value bytes). */
export const CS_MAX_NAME_LENGTH = 256;
/** AF_INET / AF_INET6 of Linux (GET_NODE_ADDRS family). */
export const AF_INET = 2;
export const AF_INET6 = 10;

// ----------------------------------------------------------------------------------------
// Exec messages

export type CfgExecMessage =
  | { readonly kind: 'ringreenable'; readonly source: MessageSource }
  | {
      readonly kind: 'killnode';
      readonly nodeid: number;
      /** reason.length as sent (libcfg: strlen + 1). */
      readonly reasonLength: number;
      /** The reason text up to its first NUL (at most 256 bytes). */
      readonly reason: string;
    }
  | { readonly kind: 'shutdown' }
  | { readonly kind: 'reload_config'; readonly source: MessageSource }
  | { readonly kind: 'crypto_reconfig'; readonly phase: number };

/** Text of a NUL-terminated byte field. */
function cString(buf: Buffer, off: number, max: number): string {
  const end = Math.min(off + max, buf.length);
  let i = off;
  while (i < end && buf[i] !== 0) i++;
  return buf.toString('utf8', off, i);
}

/** Write `text` NUL-terminated into a field of `max` bytes (RangeError if it does not fit). */
function putCString(buf: Buffer, off: number, max: number, text: string, what: string): void {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length >= max) throw new RangeError(`${what} of ${bytes.length} bytes does not fit in ${max}`);
  bytes.copy(buf, off);
}

/** Encode an exec message of cfg. */
export function encodeCfgExec(msg: CfgExecMessage): Buffer {
  const fn = {
    ringreenable: CfgExecFn.RINGREENABLE,
    killnode: CfgExecFn.KILLNODE,
    shutdown: CfgExecFn.SHUTDOWN,
    reload_config: CfgExecFn.RELOAD_CONFIG,
    crypto_reconfig: CfgExecFn.CRYPTO_RECONFIG,
  }[msg.kind];
  const buf = allocRequest(execId(CFG_SERVICE_ID, fn), CFG_EXEC_SIZES[fn]!);
  switch (msg.kind) {
    case 'ringreenable':
    case 'reload_config':
      writeMessageSource(buf, 16, msg.source);
      break;
    case 'killnode':
      writeUInt32LE(buf, msg.nodeid >>> 0, 16);
      writeUInt16LE(buf, msg.reasonLength & 0xffff, 24);
      putCString(buf, 32, CS_MAX_NAME_LENGTH + 1, msg.reason, 'kill reason');
      break;
    case 'shutdown':
      break;
    case 'crypto_reconfig':
      writeUInt32LE(buf, msg.phase >>> 0, 16);
      break;
  }
  return buf;
}

/**
 * Decode a received cfg exec message of function `fn` (header id and size must match the
 * struct exactly; messages flagged for endian conversion are refused).
 */
export function decodeCfgExec(fn: number, msg: Buffer, endianConvert = false): CodecResult<CfgExecMessage> {
  const size = CFG_EXEC_SIZES[fn];
  if (size === undefined) return codecFail('bad-id', `cfg exec fn ${fn} does not exist`);
  const bad = checkExactMessage(msg, execId(CFG_SERVICE_ID, fn), size, `cfg exec ${fn}`, endianConvert);
  if (bad) return bad;
  switch (fn) {
    case CfgExecFn.RINGREENABLE:
      return codecOk({ kind: 'ringreenable', source: readMessageSource(msg, 16) });
    case CfgExecFn.KILLNODE:
      return codecOk({
        kind: 'killnode',
        nodeid: readUInt32LE(msg, 16),
        reasonLength: readUInt16LE(msg, 24),
        reason: cString(msg, 32, CS_MAX_NAME_LENGTH),
      });
    case CfgExecFn.SHUTDOWN:
      return codecOk({ kind: 'shutdown' });
    case CfgExecFn.RELOAD_CONFIG:
      return codecOk({ kind: 'reload_config', source: readMessageSource(msg, 16) });
    default:
      return codecOk({ kind: 'crypto_reconfig', phase: readUInt32LE(msg, 16) });
  }
}

// ----------------------------------------------------------------------------------------
// IPC requests

export type CfgRequest =
  | { readonly kind: 'ringstatusget' }
  | { readonly kind: 'ringreenable' }
  | {
      readonly kind: 'killnode';
      readonly nodeid: number;
      readonly reasonLength: number;
      readonly reason: string;
    }
  | { readonly kind: 'tryshutdown'; readonly flags: number }
  | { readonly kind: 'replytoshutdown'; readonly response: number }
  | { readonly kind: 'get_node_addrs'; readonly nodeid: number }
  | { readonly kind: 'local_get' }
  | { readonly kind: 'reload_config' }
  | { readonly kind: 'reopen_log_files' }
  | { readonly kind: 'nodestatusget'; readonly nodeid: number; readonly version: number }
  | { readonly kind: 'trackstart'; readonly flags: number }
  | { readonly kind: 'trackstop' };

const REQ_IDS: Record<CfgRequest['kind'], number> = {
  ringstatusget: CfgReqId.RINGSTATUSGET,
  ringreenable: CfgReqId.RINGREENABLE,
  killnode: CfgReqId.KILLNODE,
  tryshutdown: CfgReqId.TRYSHUTDOWN,
  replytoshutdown: CfgReqId.REPLYTOSHUTDOWN,
  get_node_addrs: CfgReqId.GET_NODE_ADDRS,
  local_get: CfgReqId.LOCAL_GET,
  reload_config: CfgReqId.RELOAD_CONFIG,
  reopen_log_files: CfgReqId.REOPEN_LOG_FILES,
  nodestatusget: CfgReqId.NODESTATUSGET,
  trackstart: CfgReqId.TRACKSTART,
  trackstop: CfgReqId.TRACKSTOP,
};

/** Encode a request (client side and tests). */
export function encodeCfgRequest(req: CfgRequest): Buffer {
  const id = REQ_IDS[req.kind];
  const buf = allocRequest(id, CFG_REQUEST_SIZES[id]!);
  switch (req.kind) {
    case 'killnode':
      writeUInt32LE(buf, req.nodeid >>> 0, 16);
      writeUInt16LE(buf, req.reasonLength & 0xffff, 24);
      putCString(buf, 26, CS_MAX_NAME_LENGTH + 1, req.reason, 'kill reason');
      break;
    case 'tryshutdown':
      writeUInt32LE(buf, req.flags >>> 0, 16);
      break;
    case 'replytoshutdown':
      writeUInt32LE(buf, req.response >>> 0, 16);
      break;
    case 'get_node_addrs':
      writeUInt32LE(buf, req.nodeid >>> 0, 16);
      break;
    case 'nodestatusget':
      writeUInt32LE(buf, req.nodeid >>> 0, 16);
      writeUInt32LE(buf, req.version >>> 0, 24);
      break;
    case 'trackstart':
      writeUInt8(buf, req.flags & 0xff, 16);
      break;
    default:
      break;
  }
  return buf;
}

/** Decode a request frame: known id, header size = bytes = the struct's size. */
export function decodeCfgRequest(frame: Buffer): CodecResult<CfgRequest> {
  const bad = checkRequestFrame(frame, CFG_REQUEST_SIZES, 'cfg request', 'exact');
  if (bad) return bad;
  switch (readInt32LE(frame, 0)) {
    case CfgReqId.RINGSTATUSGET:
      return codecOk({ kind: 'ringstatusget' });
    case CfgReqId.RINGREENABLE:
      return codecOk({ kind: 'ringreenable' });
    case CfgReqId.KILLNODE:
      return codecOk({
        kind: 'killnode',
        nodeid: readUInt32LE(frame, 16),
        reasonLength: readUInt16LE(frame, 24),
        reason: cString(frame, 26, CS_MAX_NAME_LENGTH),
      });
    case CfgReqId.TRYSHUTDOWN:
      return codecOk({ kind: 'tryshutdown', flags: readUInt32LE(frame, 16) });
    case CfgReqId.REPLYTOSHUTDOWN:
      return codecOk({ kind: 'replytoshutdown', response: readUInt32LE(frame, 16) });
    case CfgReqId.GET_NODE_ADDRS:
      return codecOk({ kind: 'get_node_addrs', nodeid: readUInt32LE(frame, 16) });
    case CfgReqId.LOCAL_GET:
      return codecOk({ kind: 'local_get' });
    case CfgReqId.RELOAD_CONFIG:
      return codecOk({ kind: 'reload_config' });
    case CfgReqId.REOPEN_LOG_FILES:
      return codecOk({ kind: 'reopen_log_files' });
    case CfgReqId.NODESTATUSGET:
      return codecOk({
        kind: 'nodestatusget',
        nodeid: readUInt32LE(frame, 16),
        version: readUInt32LE(frame, 24),
      });
    case CfgReqId.TRACKSTART:
      return codecOk({ kind: 'trackstart', flags: readUInt8(frame, 16) });
    default:
      return codecOk({ kind: 'trackstop' });
  }
}

// ----------------------------------------------------------------------------------------
// IPC responses and dispatch

/** One entry of RINGSTATUSGET: "<link> <ip>" and its status string. */
export interface CfgInterfaceStatus {
  readonly name: string;
  readonly status: string;
}

/** One link of NODESTATUSGET (520 bytes). */
export interface CfgLinkStatus {
  readonly enabled: number;
  readonly connected: number;
  readonly dynconnected: number;
  readonly mtu: number;
  readonly srcIpaddr: string;
  readonly dstIpaddr: string;
}

/** `struct corosync_cfg_node_status_v1` (from offset 24 of the response). */
export interface CfgNodeStatusV1 {
  readonly nodeid: number;
  readonly reachable: number;
  readonly remote: number;
  readonly external: number;
  readonly onwireMin: number;
  readonly onwireMax: number;
  readonly onwireVer: number;
  /** Up to 8 links; missing entries are written as zeros. */
  readonly links: readonly CfgLinkStatus[];
}

/** Response kinds that are a bare header, with their ids. */
export const CFG_BARE_RESPONSES = {
  ringreenable: CfgResId.RINGREENABLE,
  trackstart: CfgResId.STATETRACKSTART,
  trackstop: CfgResId.STATETRACKSTOP,
  killnode: CfgResId.KILLNODE,
  tryshutdown: CfgResId.TRYSHUTDOWN,
  replytoshutdown: CfgResId.REPLYTOSHUTDOWN,
  reload_config: CfgResId.RELOAD_CONFIG,
  reopen_log_files: CfgResId.REOPEN_LOG_FILES,
} as const;
export type CfgBareKind = keyof typeof CFG_BARE_RESPONSES;

export type CfgResponse =
  | { readonly kind: CfgBareKind; readonly error: number }
  | {
      readonly kind: 'ringstatusget';
      readonly error: number;
      readonly interfaceCount: number;
      readonly interfaces: readonly CfgInterfaceStatus[];
    }
  | { readonly kind: 'testshutdown'; readonly error: number; readonly flags: number }
  | {
      readonly kind: 'get_node_addrs';
      readonly error: number;
      readonly family: number;
      /** The 16-byte addresses counted in num_addrs. */
      readonly addrs: readonly Buffer[];
      /** Entries header.size accounts for (≥ addrs.length; default addrs.length). */
      readonly slots?: number;
    }
  | { readonly kind: 'local_get'; readonly error: number; readonly nodeid: number }
  | { readonly kind: 'nodestatusget'; readonly error: number; readonly status: CfgNodeStatusV1 }
  | { readonly kind: 'nodestatusget_version'; readonly error: number; readonly version: number };

/** A bare response header of `id`. */
export function encodeCfgBareResponse(id: number, error: number): Buffer {
  return allocResponse(id, RESPONSE_HEADER_SIZE, error);
}

/** Encode a response or dispatch message. */
export function encodeCfgResponse(res: CfgResponse): Buffer {
  switch (res.kind) {
    case 'ringstatusget': {
      if (res.interfaces.length > CFG_MAX_INTERFACES) {
        throw new RangeError(`${res.interfaces.length} interfaces exceed ${CFG_MAX_INTERFACES}`);
      }
      const b = allocResponse(CfgResId.RINGSTATUSGET, CFG_RINGSTATUSGET_SIZE, res.error);
      writeUInt32LE(b, res.interfaceCount >>> 0, 24);
      res.interfaces.forEach((iface, i) => {
        putCString(
          b,
          RING_NAMES_OFF + i * CFG_INTERFACE_NAME_MAX_LEN,
          CFG_INTERFACE_NAME_MAX_LEN,
          iface.name,
          'interface name',
        );
        putCString(
          b,
          RING_STATUS_OFF + i * CFG_INTERFACE_STATUS_MAX_LEN,
          CFG_INTERFACE_STATUS_MAX_LEN,
          iface.status,
          'interface status',
        );
      });
      return b;
    }
    case 'testshutdown': {
      const b = allocResponse(CfgResId.TESTSHUTDOWN, 32, res.error);
      writeUInt32LE(b, res.flags >>> 0, 24);
      return b;
    }
    case 'get_node_addrs': {
      const slots = res.slots ?? res.addrs.length;
      if (slots < res.addrs.length) throw new RangeError('get_node_addrs: fewer slots than addresses');
      const b = allocResponse(
        CfgResId.GET_NODE_ADDRS,
        CFG_GET_NODE_ADDRS_BASE + TOTEMIP_ADDRLEN * slots,
        res.error,
      );
      writeUInt32LE(b, res.family >>> 0, 24);
      writeUInt32LE(b, res.addrs.length, 28);
      res.addrs.forEach((a, i) => {
        if (a.length > TOTEMIP_ADDRLEN) throw new RangeError(`address of ${a.length} bytes`);
        a.copy(b, CFG_GET_NODE_ADDRS_BASE + i * TOTEMIP_ADDRLEN);
      });
      return b;
    }
    case 'local_get': {
      const b = allocResponse(CfgResId.LOCAL_GET, 32, res.error);
      writeUInt32LE(b, res.nodeid >>> 0, 24);
      return b;
    }
    case 'nodestatusget': {
      const s = res.status;
      if (s.links.length > CFG_MAX_LINKS)
        throw new RangeError(`${s.links.length} links exceed ${CFG_MAX_LINKS}`);
      const b = allocResponse(CfgResId.NODESTATUSGET, CFG_NODESTATUSGET_V1_SIZE, res.error);
      writeUInt32LE(b, CFG_NODE_STATUS_V1, 24);
      writeUInt32LE(b, s.nodeid >>> 0, 28);
      writeUInt8(b, s.reachable & 0xff, 32);
      writeUInt8(b, s.remote & 0xff, 33);
      writeUInt8(b, s.external & 0xff, 34);
      writeUInt8(b, s.onwireMin & 0xff, 35);
      writeUInt8(b, s.onwireMax & 0xff, 36);
      writeUInt8(b, s.onwireVer & 0xff, 37);
      s.links.forEach((l, i) => {
        const off = LINK_STATUS_OFF + i * CFG_LINK_STATUS_SIZE;
        writeUInt8(b, l.enabled & 0xff, off);
        writeUInt8(b, l.connected & 0xff, off + 1);
        writeUInt8(b, l.dynconnected & 0xff, off + 2);
        writeUInt32LE(b, l.mtu >>> 0, off + 4);
        putCString(b, off + 8, CFG_MAX_HOST_LEN, l.srcIpaddr, 'src_ipaddr');
        putCString(b, off + 8 + CFG_MAX_HOST_LEN, CFG_MAX_HOST_LEN, l.dstIpaddr, 'dst_ipaddr');
      });
      return b;
    }
    case 'nodestatusget_version': {
      const b = allocResponse(CfgResId.NODESTATUSGET, CFG_NODESTATUSGET_VERSION_SIZE, res.error);
      writeUInt32LE(b, res.version >>> 0, 24);
      return b;
    }
    default:
      return encodeCfgBareResponse(CFG_BARE_RESPONSES[res.kind], res.error);
  }
}

const BARE_BY_ID = new Map<number, CfgBareKind>(
  Object.entries(CFG_BARE_RESPONSES).map(([k, id]) => [id, k as CfgBareKind]),
);

/** Decode a response or dispatch message (client side and tests). Never throws. */
export function decodeCfgResponse(frame: Buffer): CodecResult<CfgResponse> {
  const badHeader = checkFrameHeader(frame, RESPONSE_HEADER_SIZE, 'cfg response');
  if (badHeader) return badHeader;
  const id = readInt32LE(frame, 0);
  const error = readInt32LE(frame, 16);
  const bare = BARE_BY_ID.get(id);
  if (bare) return codecOk({ kind: bare, error });
  const need = (n: number) => checkMinSize(frame.length, n, `cfg response ${id}`);
  switch (id) {
    case CfgResId.RINGSTATUSGET: {
      const bad = need(CFG_RINGSTATUSGET_SIZE);
      if (bad) return bad;
      const count = readUInt32LE(frame, 24);
      if (count > CFG_MAX_INTERFACES) return codecFail('bad-count', `ring status with ${count} interfaces`);
      const interfaces: CfgInterfaceStatus[] = [];
      for (let i = 0; i < count; i++) {
        interfaces.push({
          name: cString(frame, RING_NAMES_OFF + i * CFG_INTERFACE_NAME_MAX_LEN, CFG_INTERFACE_NAME_MAX_LEN),
          status: cString(
            frame,
            RING_STATUS_OFF + i * CFG_INTERFACE_STATUS_MAX_LEN,
            CFG_INTERFACE_STATUS_MAX_LEN,
          ),
        });
      }
      return codecOk({ kind: 'ringstatusget', error, interfaceCount: count, interfaces });
    }
    case CfgResId.TESTSHUTDOWN:
      return need(32) ?? codecOk({ kind: 'testshutdown', error, flags: readUInt32LE(frame, 24) });
    case CfgResId.GET_NODE_ADDRS: {
      const bad = need(CFG_GET_NODE_ADDRS_BASE);
      if (bad) return bad;
      const slots = Math.floor((frame.length - CFG_GET_NODE_ADDRS_BASE) / TOTEMIP_ADDRLEN);
      const n = readUInt32LE(frame, 28);
      if (n > slots) return codecFail('bad-count', `get_node_addrs: ${n} addresses in ${slots} slots`);
      const addrs: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const off = CFG_GET_NODE_ADDRS_BASE + i * TOTEMIP_ADDRLEN;
        addrs.push(Buffer.from(frame.subarray(off, off + TOTEMIP_ADDRLEN)));
      }
      return codecOk({ kind: 'get_node_addrs', error, family: readUInt32LE(frame, 24), addrs, slots });
    }
    case CfgResId.LOCAL_GET:
      return need(32) ?? codecOk({ kind: 'local_get', error, nodeid: readUInt32LE(frame, 24) });
    case CfgResId.NODESTATUSGET: {
      if (frame.length === CFG_NODESTATUSGET_VERSION_SIZE) {
        return codecOk({ kind: 'nodestatusget_version', error, version: readUInt32LE(frame, 24) });
      }
      const bad = need(CFG_NODESTATUSGET_V1_SIZE);
      if (bad) return bad;
      const links: CfgLinkStatus[] = [];
      for (let i = 0; i < CFG_MAX_LINKS; i++) {
        const off = LINK_STATUS_OFF + i * CFG_LINK_STATUS_SIZE;
        links.push({
          enabled: readUInt8(frame, off),
          connected: readUInt8(frame, off + 1),
          dynconnected: readUInt8(frame, off + 2),
          mtu: readUInt32LE(frame, off + 4),
          srcIpaddr: cString(frame, off + 8, CFG_MAX_HOST_LEN),
          dstIpaddr: cString(frame, off + 8 + CFG_MAX_HOST_LEN, CFG_MAX_HOST_LEN),
        });
      }
      return codecOk({
        kind: 'nodestatusget',
        error,
        status: {
          nodeid: readUInt32LE(frame, 28),
          reachable: readUInt8(frame, 32),
          remote: readUInt8(frame, 33),
          external: readUInt8(frame, 34),
          onwireMin: readUInt8(frame, 35),
          onwireMax: readUInt8(frame, 36),
          onwireVer: readUInt8(frame, 37),
          links,
        },
      });
    }
    default:
      return codecFail('bad-id', `cfg response id ${id} does not exist`);
  }
}
