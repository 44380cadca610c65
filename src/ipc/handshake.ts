/**
 * The connection handshake of our own IPC stream transport ("csts" transport).
 *
 * Endpoints: one unix stream socket per service, `serviceSocketPath(runDir, <service>)`
 * (e.g. `<runDir>/cmap.sock`). A client handle uses TWO connections to that endpoint, like
 * libqb's separate response and event channels:
 *
 * 1. **Request/response channel.** The client connects and sends the SETUP request. The
 *    server answers with the SETUP response. From then on the client sends request frames
 *    (16-byte request header + service payload) and the server sends exactly one response
 *    frame (24-byte response header + payload) per request, in request order.
 * 2. **Event channel.** The client opens a second connection and sends EVENT_ATTACH with the
 *    cookie from the SETUP response. The server answers with EVENT_ATTACH response (bare
 *    24-byte header) and afterwards only sends dispatch frames (24-byte header + payload,
 *    e.g. cmap NOTIFY). The client never sends anything else on it. `fdGet()` returns this
 *    socket's descriptor.
 *
 * Closing either connection closes the whole IPC connection (the service's lib_exit runs).
 *
 * Exact bytes (little-endian, every field 8-aligned as in corosync's structs, pads zero):
 *
 * SETUP request, 32 bytes (id -1):
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |    4 | id = -1 (i32) |
 * |   4 |    4 | pad |
 * |   8 |    4 | size = 32 (i32) |
 * |  12 |    4 | pad |
 * |  16 |    4 | max_msg_size wanted by the client (u32; 0x100000) |
 * |  20 |    4 | pad |
 * |  24 |    4 | client pid (u32) |
 * |  28 |    4 | pad |
 *
 * e.g. `ffffffff00000000 2000000000000000 0000100000000000 d204000000000000` (pid 1234).
 *
 * SETUP response, 40 bytes (id -1):
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |   24 | response header: id = -1, size = 40, error = cs_error_t (CS_OK = 1) |
 * |  24 |    8 | connection cookie (u64, random, non-zero; 0 on error) |
 * |  32 |    4 | granted max_msg_size (u32; 0 on error) |
 * |  36 |    4 | pad |
 *
 * EVENT_ATTACH request, 24 bytes (id -2):
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |   16 | request header: id = -2, size = 24 |
 * |  16 |    8 | connection cookie (u64) from the SETUP response |
 *
 * EVENT_ATTACH response, 24 bytes: response header id = -2, size = 24, error
 * (CS_OK, or CS_ERR_BAD_HANDLE for an unknown/used cookie). After an error the server closes.
 *
 * The granted size is min(max(wanted, IPC_MIN_MSG_SIZE), server maximum); both directions of
 * both channels use it as their frame size bound.
 */
import { Buffer } from 'node:buffer';
import { RESPONSE_HEADER_SIZE, allocRequest, allocResponse } from './frame.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt32LE,
  writeBigUInt64LE,
  writeUInt32LE,
} from '../common/bytes.js';

/** Request id of SETUP (libqb also uses -1 for its "authenticate" request). */
export const IPC_SETUP_ID = -1;
/** Request id of EVENT_ATTACH (libqb reserves -2 for "new event socket"). */
export const IPC_EVENT_ATTACH_ID = -2;

export const SETUP_REQUEST_SIZE = 32;
export const SETUP_RESPONSE_SIZE = 40;
export const EVENT_ATTACH_REQUEST_SIZE = 24;
export const EVENT_ATTACH_RESPONSE_SIZE = 24;

/** Smallest max_msg_size a server grants (any corosync struct fits). */
export const IPC_MIN_MSG_SIZE = 8192;

export interface SetupRequest {
  readonly maxMsgSize: number;
  readonly pid: number;
}

export interface SetupResponse {
  readonly error: number;
  readonly cookie: bigint;
  readonly maxMsgSize: number;
}

export function encodeSetupRequest(req: SetupRequest): Buffer {
  const buf = allocRequest(IPC_SETUP_ID, SETUP_REQUEST_SIZE);
  writeUInt32LE(buf, req.maxMsgSize >>> 0, 16);
  writeUInt32LE(buf, req.pid >>> 0, 24);
  return buf;
}

/** Decode a SETUP request frame (the caller checked id and size). */
export function decodeSetupRequest(frame: Buffer): SetupRequest {
  return { maxMsgSize: readUInt32LE(frame, 16), pid: readUInt32LE(frame, 24) };
}

export function encodeSetupResponse(res: SetupResponse): Buffer {
  const buf = allocResponse(IPC_SETUP_ID, SETUP_RESPONSE_SIZE, res.error);
  writeBigUInt64LE(buf, res.cookie, 24);
  writeUInt32LE(buf, res.maxMsgSize >>> 0, 32);
  return buf;
}

export function decodeSetupResponse(frame: Buffer): SetupResponse {
  return {
    error: readInt32LE(frame, 16),
    cookie: readBigUInt64LE(frame, 24),
    maxMsgSize: readUInt32LE(frame, 32),
  };
}

export function encodeEventAttachRequest(cookie: bigint): Buffer {
  const buf = allocRequest(IPC_EVENT_ATTACH_ID, EVENT_ATTACH_REQUEST_SIZE);
  writeBigUInt64LE(buf, cookie, 16);
  return buf;
}

export function decodeEventAttachRequest(frame: Buffer): bigint {
  return readBigUInt64LE(frame, 16);
}

export function encodeEventAttachResponse(error: number): Buffer {
  return allocResponse(IPC_EVENT_ATTACH_ID, EVENT_ATTACH_RESPONSE_SIZE, error);
}

/**
 * Flow-control frame (ours; libqb keeps this flag in shared memory): sent by the server on
 * the event channel, in order with dispatch frames, whenever the connection's level changes.
 * A bare 24-byte response header: id -4, size 24, and the level (0 off, 1, 2) in the error
 * field. Clients consume it; it never reaches dispatch(). A client refuses a request with
 * CS_ERR_TRY_AGAIN while 0 < level <= its limit (1 by default; libcpg raises it to 2 around
 * cpg_mcast_joined), as libqb clients do.
 */
export const FLOW_CONTROL_ID = -4;

export function encodeFlowControl(level: number): Buffer {
  return allocResponse(FLOW_CONTROL_ID, RESPONSE_HEADER_SIZE, level);
}

/** The level of a flow-control frame, or undefined when `frame` is not one. */
export function decodeFlowControl(frame: Buffer): number | undefined {
  if (frame.length !== RESPONSE_HEADER_SIZE || readInt32LE(frame, 0) !== FLOW_CONTROL_ID) return undefined;
  return readInt32LE(frame, 16);
}
