/**
 * IPC structs of the cfg service (service 1), corosync 3.1.7 (spec cfg.md §1–§2): request
 * encoders and reply decoders for the client library, and request decoders / reply encoders
 * for in-process test services.
 *
 * TEMPORARY HOME: the daemon-side codec (src/services/cfg/codec.ts) did not exist when the
 * client was written; merge this file into it once it lands (one codec per wire format).
 *
 * Little-endian; pads and unused areas written as zeros; decoders return CodecFailure, never
 * throw.
 */
import { codecFail, codecOk, type CodecResult } from '../exec/codec.js';
import { REQUEST_HEADER_SIZE, RESPONSE_HEADER_SIZE, allocRequest, allocResponse } from '../ipc/frame.js';
import { decodeResponseHead, readCString, type ResponseHead } from './quorum-structs.js';

/** cfg request ids (`MESSAGE_REQ_CFG_*`). */
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

/** cfg response/dispatch ids (`MESSAGE_RES_CFG_*`). */
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

/** Request sizes by id. */
export const CFG_REQUEST_SIZE: Readonly<Record<number, number>> = {
  [CfgReqId.RINGSTATUSGET]: 16,
  [CfgReqId.RINGREENABLE]: 16,
  [CfgReqId.KILLNODE]: 288,
  [CfgReqId.TRYSHUTDOWN]: 24,
  [CfgReqId.REPLYTOSHUTDOWN]: 24,
  [CfgReqId.GET_NODE_ADDRS]: 24,
  [CfgReqId.LOCAL_GET]: 16,
  [CfgReqId.RELOAD_CONFIG]: 16,
  [CfgReqId.REOPEN_LOG_FILES]: 16,
  [CfgReqId.NODESTATUSGET]: 32,
  [CfgReqId.TRACKSTART]: 24,
  [CfgReqId.TRACKSTOP]: 16,
};

/** CFG_MAX_INTERFACES, CFG_INTERFACE_NAME_MAX_LEN, CFG_INTERFACE_STATUS_MAX_LEN. */
export const CFG_MAX_INTERFACES = 16;
export const CFG_INTERFACE_NAME_MAX_LEN = 128;
export const CFG_INTERFACE_STATUS_MAX_LEN = 512;
/** Size of the RINGSTATUSGET reply. */
export const CFG_RINGSTATUSGET_RES_SIZE =
  32 + CFG_MAX_INTERFACES * (CFG_INTERFACE_NAME_MAX_LEN + CFG_INTERFACE_STATUS_MAX_LEN);
/** CFG_MAX_LINKS and CFG_MAX_HOST_LEN of `struct corosync_cfg_node_status_v1`. */
export const CFG_MAX_LINKS = 8;
export const CFG_MAX_HOST_LEN = 256;
/** Size of the NODESTATUSGET v1 reply. */
export const CFG_NODESTATUSGET_V1_RES_SIZE = 40 + CFG_MAX_LINKS * 520;
/** CS_MAX_NAME_LENGTH: the kill reason must be shorter. */
export const CS_MAX_NAME_LENGTH = 256;
/** TOTEMIP_ADDRLEN: bytes per address in GET_NODE_ADDRS. */
export const TOTEMIP_ADDRLEN = 16;

/** A cfg request. */
export type CfgRequest =
  | { readonly kind: 'ringstatusget' }
  | { readonly kind: 'ringreenable' }
  | { readonly kind: 'killnode'; readonly nodeid: number; readonly reason: string }
  | { readonly kind: 'tryshutdown'; readonly flags: number }
  | { readonly kind: 'replytoshutdown'; readonly response: number }
  | { readonly kind: 'get_node_addrs'; readonly nodeid: number }
  | { readonly kind: 'local_get' }
  | { readonly kind: 'reload_config' }
  | { readonly kind: 'reopen_log_files' }
  | { readonly kind: 'nodestatusget'; readonly nodeid: number; readonly version: number }
  | { readonly kind: 'trackstart'; readonly flags: number }
  | { readonly kind: 'trackstop' };

/** Encode a cfg request frame. The kill reason must be < 256 bytes (checked by the caller). */
export function encodeCfgRequest(r: CfgRequest): Buffer {
  switch (r.kind) {
    case 'ringstatusget':
      return allocRequest(CfgReqId.RINGSTATUSGET, 16);
    case 'ringreenable':
      return allocRequest(CfgReqId.RINGREENABLE, 16);
    case 'killnode': {
      const b = allocRequest(CfgReqId.KILLNODE, 288);
      b.writeUInt32LE(r.nodeid >>> 0, 16);
      const reason = Buffer.from(r.reason, 'utf8').subarray(0, CS_MAX_NAME_LENGTH - 1);
      b.writeUInt16LE(reason.length + 1, 24);
      reason.copy(b, 26);
      return b;
    }
    case 'tryshutdown': {
      const b = allocRequest(CfgReqId.TRYSHUTDOWN, 24);
      b.writeUInt32LE(r.flags >>> 0, 16);
      return b;
    }
    case 'replytoshutdown': {
      const b = allocRequest(CfgReqId.REPLYTOSHUTDOWN, 24);
      b.writeUInt32LE(r.response >>> 0, 16);
      return b;
    }
    case 'get_node_addrs': {
      const b = allocRequest(CfgReqId.GET_NODE_ADDRS, 24);
      b.writeUInt32LE(r.nodeid >>> 0, 16);
      return b;
    }
    case 'local_get':
      return allocRequest(CfgReqId.LOCAL_GET, 16);
    case 'reload_config':
      return allocRequest(CfgReqId.RELOAD_CONFIG, 16);
    case 'reopen_log_files':
      return allocRequest(CfgReqId.REOPEN_LOG_FILES, 16);
    case 'nodestatusget': {
      const b = allocRequest(CfgReqId.NODESTATUSGET, 32);
      b.writeUInt32LE(r.nodeid >>> 0, 16);
      b.writeUInt32LE(r.version >>> 0, 24);
      return b;
    }
    case 'trackstart': {
      const b = allocRequest(CfgReqId.TRACKSTART, 24);
      b.writeUInt8(r.flags & 0xff, 16);
      return b;
    }
    case 'trackstop':
      return allocRequest(CfgReqId.TRACKSTOP, 16);
  }
}

/** Decode a cfg request frame (daemon side). */
export function decodeCfgRequest(frame: Buffer): CodecResult<CfgRequest> {
  if (frame.length < REQUEST_HEADER_SIZE) return codecFail('truncated', `request of ${frame.length} bytes`);
  const id = frame.readInt32LE(0);
  const size = CFG_REQUEST_SIZE[id];
  if (size === undefined) return codecFail('bad-id', `unknown cfg request ${id}`);
  if (frame.length !== size || frame.readInt32LE(8) !== size) {
    return codecFail('size-mismatch', `cfg request ${id}: ${frame.length} bytes, want ${size}`);
  }
  switch (id) {
    case CfgReqId.RINGSTATUSGET:
      return codecOk({ kind: 'ringstatusget' });
    case CfgReqId.RINGREENABLE:
      return codecOk({ kind: 'ringreenable' });
    case CfgReqId.KILLNODE: {
      const len = frame.readUInt16LE(24);
      if (len > CS_MAX_NAME_LENGTH) return codecFail('bad-count', `kill reason length ${len}`);
      return codecOk({
        kind: 'killnode',
        nodeid: frame.readUInt32LE(16),
        reason: readCString(frame, 26, Math.min(len, CS_MAX_NAME_LENGTH)),
      });
    }
    case CfgReqId.TRYSHUTDOWN:
      return codecOk({ kind: 'tryshutdown', flags: frame.readUInt32LE(16) });
    case CfgReqId.REPLYTOSHUTDOWN:
      return codecOk({ kind: 'replytoshutdown', response: frame.readUInt32LE(16) });
    case CfgReqId.GET_NODE_ADDRS:
      return codecOk({ kind: 'get_node_addrs', nodeid: frame.readUInt32LE(16) });
    case CfgReqId.LOCAL_GET:
      return codecOk({ kind: 'local_get' });
    case CfgReqId.RELOAD_CONFIG:
      return codecOk({ kind: 'reload_config' });
    case CfgReqId.REOPEN_LOG_FILES:
      return codecOk({ kind: 'reopen_log_files' });
    case CfgReqId.NODESTATUSGET:
      return codecOk({
        kind: 'nodestatusget',
        nodeid: frame.readUInt32LE(16),
        version: frame.readUInt32LE(24),
      });
    case CfgReqId.TRACKSTART:
      return codecOk({ kind: 'trackstart', flags: frame.readUInt8(16) });
    default:
      return codecOk({ kind: 'trackstop' });
  }
}

/** A bare reply/refusal (24 bytes). */
export function encodeCfgBareResponse(id: number, error: number): Buffer {
  return allocResponse(id, RESPONSE_HEADER_SIZE, error);
}

/** One entry of RINGSTATUSGET: "<link> <ip>" and its status string. */
export interface CfgRingStatus {
  readonly name: string;
  readonly status: string;
}

export function encodeCfgRingStatusResponse(entries: readonly CfgRingStatus[], error: number): Buffer {
  const b = allocResponse(CfgResId.RINGSTATUSGET, CFG_RINGSTATUSGET_RES_SIZE, error);
  const n = Math.min(entries.length, CFG_MAX_INTERFACES);
  b.writeUInt32LE(n, 24);
  for (let i = 0; i < n; i++) {
    Buffer.from(entries[i]!.name, 'utf8').copy(
      b,
      32 + i * CFG_INTERFACE_NAME_MAX_LEN,
      0,
      CFG_INTERFACE_NAME_MAX_LEN - 1,
    );
    Buffer.from(entries[i]!.status, 'utf8').copy(
      b,
      32 + CFG_MAX_INTERFACES * CFG_INTERFACE_NAME_MAX_LEN + i * CFG_INTERFACE_STATUS_MAX_LEN,
      0,
      CFG_INTERFACE_STATUS_MAX_LEN - 1,
    );
  }
  return b;
}

export function decodeCfgRingStatusResponse(frame: Buffer): CodecResult<CfgRingStatus[]> {
  const h = expect(frame, CfgResId.RINGSTATUSGET, CFG_RINGSTATUSGET_RES_SIZE, 'ringstatusget');
  if (!h.ok) return h;
  const n = frame.readUInt32LE(24);
  if (n > CFG_MAX_INTERFACES) return codecFail('bad-count', `ringstatusget: ${n} interfaces`);
  const out: CfgRingStatus[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      name: readCString(frame, 32 + i * CFG_INTERFACE_NAME_MAX_LEN, CFG_INTERFACE_NAME_MAX_LEN),
      status: readCString(
        frame,
        32 + CFG_MAX_INTERFACES * CFG_INTERFACE_NAME_MAX_LEN + i * CFG_INTERFACE_STATUS_MAX_LEN,
        CFG_INTERFACE_STATUS_MAX_LEN,
      ),
    });
  }
  return codecOk(out);
}

/** GET_NODE_ADDRS reply contents. */
export interface CfgNodeAddrsReply {
  /** AF_INET (2) or AF_INET6 (10); 0 when the daemon sent none. */
  readonly family: number;
  /** num_addrs as sent (may be smaller than the entries the size implies). */
  readonly numAddrs: number;
  /** The 16-byte raw address entries (the first `numAddrs` of them). */
  readonly addrs: readonly Buffer[];
}

export function encodeCfgNodeAddrsResponse(
  family: number,
  addrs: readonly Uint8Array[],
  error: number,
  entries = addrs.length,
): Buffer {
  const b = allocResponse(
    CfgResId.GET_NODE_ADDRS,
    32 + TOTEMIP_ADDRLEN * Math.max(entries, addrs.length),
    error,
  );
  b.writeUInt32LE(family >>> 0, 24);
  b.writeUInt32LE(addrs.length, 28);
  addrs.forEach((a, i) => Buffer.from(a).copy(b, 32 + TOTEMIP_ADDRLEN * i, 0, TOTEMIP_ADDRLEN));
  return b;
}

export function decodeCfgNodeAddrsResponse(frame: Buffer): CodecResult<CfgNodeAddrsReply> {
  const h = expect(frame, CfgResId.GET_NODE_ADDRS, 32, 'get_node_addrs');
  if (!h.ok) return h;
  const family = frame.readUInt32LE(24);
  const numAddrs = frame.readUInt32LE(28);
  if (numAddrs > (frame.length - 32) / TOTEMIP_ADDRLEN) {
    return codecFail('bad-count', `get_node_addrs: ${numAddrs} addresses in ${frame.length} bytes`);
  }
  const addrs: Buffer[] = [];
  for (let i = 0; i < numAddrs; i++) {
    addrs.push(Buffer.from(frame.subarray(32 + TOTEMIP_ADDRLEN * i, 32 + TOTEMIP_ADDRLEN * (i + 1))));
  }
  return codecOk({ family, numAddrs, addrs });
}

/** LOCAL_GET reply (32 bytes). */
export function encodeCfgLocalGetResponse(nodeid: number, error: number): Buffer {
  const b = allocResponse(CfgResId.LOCAL_GET, 32, error);
  b.writeUInt32LE(nodeid >>> 0, 24);
  return b;
}

export function decodeCfgLocalGetResponse(frame: Buffer): CodecResult<number> {
  const h = expect(frame, CfgResId.LOCAL_GET, 32, 'local_get');
  if (!h.ok) return h;
  return codecOk(frame.readUInt32LE(24));
}

/** `struct corosync_knet_link_status_v1`. */
export interface CfgLinkStatus {
  readonly enabled: number;
  readonly connected: number;
  readonly dynconnected: number;
  readonly mtu: number;
  readonly srcIpaddr: string;
  readonly dstIpaddr: string;
}

/** `struct corosync_cfg_node_status_v1`. */
export interface CfgNodeStatusV1 {
  readonly version: number;
  readonly nodeid: number;
  readonly reachable: number;
  readonly remote: number;
  readonly external: number;
  readonly onwireMin: number;
  readonly onwireMax: number;
  readonly onwireVer: number;
  /** Always CFG_MAX_LINKS (8) entries. */
  readonly linkStatus: readonly CfgLinkStatus[];
}

/** An all-zero link entry. */
export const EMPTY_LINK_STATUS: CfgLinkStatus = {
  enabled: 0,
  connected: 0,
  dynconnected: 0,
  mtu: 0,
  srcIpaddr: '',
  dstIpaddr: '',
};

/** NODESTATUSGET v1 reply (4200 bytes). Missing link entries are written as zeros. */
export function encodeCfgNodeStatusResponse(s: CfgNodeStatusV1, error: number): Buffer {
  const b = allocResponse(CfgResId.NODESTATUSGET, CFG_NODESTATUSGET_V1_RES_SIZE, error);
  b.writeUInt32LE(s.version >>> 0, 24);
  b.writeUInt32LE(s.nodeid >>> 0, 28);
  [s.reachable, s.remote, s.external, s.onwireMin, s.onwireMax, s.onwireVer].forEach((v, i) =>
    b.writeUInt8(v & 0xff, 32 + i),
  );
  for (let i = 0; i < Math.min(CFG_MAX_LINKS, s.linkStatus.length); i++) {
    const l = s.linkStatus[i]!;
    const o = 40 + 520 * i;
    b.writeUInt8(l.enabled & 0xff, o);
    b.writeUInt8(l.connected & 0xff, o + 1);
    b.writeUInt8(l.dynconnected & 0xff, o + 2);
    b.writeUInt32LE(l.mtu >>> 0, o + 4);
    Buffer.from(l.srcIpaddr, 'utf8').copy(b, o + 8, 0, CFG_MAX_HOST_LEN - 1);
    Buffer.from(l.dstIpaddr, 'utf8').copy(b, o + 8 + CFG_MAX_HOST_LEN, 0, CFG_MAX_HOST_LEN - 1);
  }
  return b;
}

/** The short NODESTATUSGET error reply (`res_lib_cfg_nodestatusget_version`, 32 bytes). */
export function encodeCfgNodeStatusErrorResponse(error: number, version = 0): Buffer {
  const b = allocResponse(CfgResId.NODESTATUSGET, 32, error);
  b.writeUInt32LE(version >>> 0, 24);
  return b;
}

/** Decode a NODESTATUSGET reply whose error is CS_OK (4200 bytes). */
export function decodeCfgNodeStatusResponse(frame: Buffer): CodecResult<CfgNodeStatusV1> {
  const h = expect(frame, CfgResId.NODESTATUSGET, 32, 'nodestatusget');
  if (!h.ok) return h;
  const version = frame.readUInt32LE(24);
  if (frame.length < CFG_NODESTATUSGET_V1_RES_SIZE) {
    return codecOk({
      version,
      nodeid: 0,
      reachable: 0,
      remote: 0,
      external: 0,
      onwireMin: 0,
      onwireMax: 0,
      onwireVer: 0,
      linkStatus: [],
    });
  }
  const linkStatus: CfgLinkStatus[] = [];
  for (let i = 0; i < CFG_MAX_LINKS; i++) {
    const o = 40 + 520 * i;
    linkStatus.push({
      enabled: frame.readUInt8(o),
      connected: frame.readUInt8(o + 1),
      dynconnected: frame.readUInt8(o + 2),
      mtu: frame.readUInt32LE(o + 4),
      srcIpaddr: readCString(frame, o + 8, CFG_MAX_HOST_LEN),
      dstIpaddr: readCString(frame, o + 8 + CFG_MAX_HOST_LEN, CFG_MAX_HOST_LEN),
    });
  }
  return codecOk({
    version,
    nodeid: frame.readUInt32LE(28),
    reachable: frame.readUInt8(32),
    remote: frame.readUInt8(33),
    external: frame.readUInt8(34),
    onwireMin: frame.readUInt8(35),
    onwireMax: frame.readUInt8(36),
    onwireVer: frame.readUInt8(37),
    linkStatus,
  });
}

/** TESTSHUTDOWN dispatch message (32 bytes). */
export function encodeCfgTestShutdown(flags: number, error = 1): Buffer {
  const b = allocResponse(CfgResId.TESTSHUTDOWN, 32, error);
  b.writeUInt32LE(flags >>> 0, 24);
  return b;
}

/** A cfg dispatch message. */
export interface CfgTestShutdown {
  readonly kind: 'testshutdown';
  /** CS_OK normally, CS_ERR_TIMEOUT when sent because the shutdown session timed out. */
  readonly error: number;
  readonly flags: number;
}

export function decodeCfgDispatch(frame: Buffer): CodecResult<CfgTestShutdown> {
  const h = expect(frame, CfgResId.TESTSHUTDOWN, 32, 'testshutdown');
  if (!h.ok) return h;
  return codecOk({ kind: 'testshutdown', error: h.value.error, flags: frame.readUInt32LE(24) });
}

function expect(frame: Buffer, id: number, minSize: number, what: string): CodecResult<ResponseHead> {
  const h = decodeResponseHead(frame);
  if (!h.ok) return h;
  if (h.value.id !== id) return codecFail('bad-id', `${what}: unexpected id ${h.value.id}`);
  if (frame.length < minSize)
    return codecFail('truncated', `${what}: ${frame.length} bytes, want ≥ ${minSize}`);
  return h;
}
