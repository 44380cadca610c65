/**
 * libqb's connection setup on the service's stream socket (spec libqb-ipc.md §2), as pure
 * codecs. The client sends a 24-byte connection request and blocks until the server answers
 * with a 12328-byte connection response; afterwards the socket carries only 1-byte
 * notifications (SHM) or nothing (socket transport).
 *
 * Connection request (little-endian, every field 8-aligned as in `qbipc_common.h`):
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |    4 | id = -1 (QB_IPC_MSG_AUTHENTICATE) |
 * |   8 |    4 | size = 24 |
 * |  16 |    4 | max_msg_size the client wants (0x100000 for corosync's libraries) |
 *
 * Connection response:
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |   24 | response header: id -1, size 12328, error (0 or a negative errno) |
 * |  24 |    4 | connection_type: 0 SOCKET, 1 SHM |
 * |  28 |    4 | max_msg_size granted |
 * |  32 |    8 | connection cookie (opaque; clients never read it) |
 * |  40 | 4096 | "request" name (NUL padded) |
 * | 4136 | 4096 | "response" name |
 * | 8232 | 4096 | "event" name |
 */
import { Buffer } from 'node:buffer';
import { constants } from 'node:os';
import { CsErrorCode } from '../../common/errors.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt32LE,
  writeBigUInt64LE,
  writeInt32LE,
  writeUInt32LE,
} from '../../common/bytes.js';

export const QB_IPC_MSG_AUTHENTICATE = -1;
export const QB_IPC_MSG_DISCONNECT = -3;
export const CONNECTION_REQUEST_SIZE = 24;
export const CONNECTION_RESPONSE_SIZE = 12328;
/** PATH_MAX: the size of each name field of the response. */
export const QB_PATH_MAX = 4096;
export const RESPONSE_NAME_OFFSETS = { request: 40, response: 4136, event: 8232 } as const;

/** `enum qb_ipc_type` values carried in connection_type. */
export const QbIpcType = { SOCKET: 0, SHM: 1 } as const;
export type QbIpcTypeValue = (typeof QbIpcType)[keyof typeof QbIpcType];

export interface ConnectionRequest {
  readonly maxMsgSize: number;
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Decode the 24 setup bytes; anything but libqb's authenticate request is refused. */
export function decodeConnectionRequest(buf: Buffer): DecodeResult<ConnectionRequest> {
  if (buf.length !== CONNECTION_REQUEST_SIZE) {
    return {
      ok: false,
      reason: `connection request of ${buf.length} bytes (want ${CONNECTION_REQUEST_SIZE})`,
    };
  }
  const id = readInt32LE(buf, 0);
  const size = readInt32LE(buf, 8);
  if (id !== QB_IPC_MSG_AUTHENTICATE || size !== CONNECTION_REQUEST_SIZE) {
    return { ok: false, reason: `not a libqb connection request (id ${id}, size ${size})` };
  }
  return { ok: true, value: { maxMsgSize: readUInt32LE(buf, 16) } };
}

export function encodeConnectionRequest(maxMsgSize: number): Buffer {
  const buf = Buffer.alloc(CONNECTION_REQUEST_SIZE);
  writeInt32LE(buf, QB_IPC_MSG_AUTHENTICATE, 0);
  writeInt32LE(buf, CONNECTION_REQUEST_SIZE, 8);
  writeUInt32LE(buf, maxMsgSize >>> 0, 16);
  return buf;
}

export interface ConnectionResponse {
  /** 0, or a negative errno. */
  readonly error: number;
  readonly type: QbIpcTypeValue;
  readonly maxMsgSize: number;
  readonly cookie: bigint;
  readonly request: string;
  readonly response: string;
  readonly event: string;
}

export function encodeConnectionResponse(res: ConnectionResponse): Buffer {
  const buf = Buffer.alloc(CONNECTION_RESPONSE_SIZE);
  writeInt32LE(buf, QB_IPC_MSG_AUTHENTICATE, 0);
  writeInt32LE(buf, CONNECTION_RESPONSE_SIZE, 8);
  writeInt32LE(buf, res.error, 16);
  if (res.error === 0) {
    writeInt32LE(buf, res.type, 24);
    writeUInt32LE(buf, res.maxMsgSize >>> 0, 28);
    writeBigUInt64LE(buf, res.cookie, 32);
    for (const k of ['request', 'response', 'event'] as const) {
      const bytes = Buffer.from(res[k], 'utf8');
      if (bytes.length >= QB_PATH_MAX) throw new RangeError(`${k} name too long (${bytes.length} bytes)`);
      bytes.copy(buf, RESPONSE_NAME_OFFSETS[k]);
    }
  }
  return buf;
}

function readName(buf: Buffer, off: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 || end > off + QB_PATH_MAX ? off + QB_PATH_MAX : end);
}

export function decodeConnectionResponse(buf: Buffer): DecodeResult<ConnectionResponse> {
  if (buf.length !== CONNECTION_RESPONSE_SIZE)
    return { ok: false, reason: `response of ${buf.length} bytes` };
  const type = readInt32LE(buf, 24);
  if (type !== QbIpcType.SOCKET && type !== QbIpcType.SHM) return { ok: false, reason: `type ${type}` };
  return {
    ok: true,
    value: {
      error: readInt32LE(buf, 16),
      type,
      maxMsgSize: readUInt32LE(buf, 28),
      cookie: readBigUInt64LE(buf, 32),
      request: readName(buf, RESPONSE_NAME_OFFSETS.request),
      response: readName(buf, RESPONSE_NAME_OFFSETS.response),
      event: readName(buf, RESPONSE_NAME_OFFSETS.event),
    },
  };
}

const E = constants.errno;

/**
 * The negative errno to refuse a connection with, for the cs_error_t our admission returned.
 * The client's library maps it back with corosync's qb_to_cs_error (common_lib/
 * error_conversion.c), so each pair below round-trips: EAGAIN→TRY_AGAIN, EACCES→ACCESS,
 * ENOSYS→NOT_SUPPORTED, ENOMEM→NO_MEMORY, EBUSY→BUSY, EINVAL→INVALID_PARAM; anything else
 * becomes CS_ERR_LIBRARY on the client (ECONNREFUSED maps there).
 */
export function csErrorToNegErrno(code: number): number {
  switch (code) {
    case CsErrorCode.CS_ERR_TRY_AGAIN:
      return -E.EAGAIN;
    case CsErrorCode.CS_ERR_ACCESS:
      return -E.EACCES;
    case CsErrorCode.CS_ERR_NOT_SUPPORTED:
      return -E.ENOSYS;
    case CsErrorCode.CS_ERR_NO_MEMORY:
      return -E.ENOMEM;
    case CsErrorCode.CS_ERR_BUSY:
      return -E.EBUSY;
    case CsErrorCode.CS_ERR_INVALID_PARAM:
      return -E.EINVAL;
    case CsErrorCode.CS_ERR_NO_RESOURCES:
      return -E.EMFILE;
    default:
      return -E.ECONNREFUSED;
  }
}

/** corosync's max_msg_size rule: libqb grants max(client's, server's); we bound it too. */
export function grantMaxMsgSize(wanted: number, serverMin: number, serverMax: number): number {
  return Math.min(Math.max(wanted >>> 0, serverMin), serverMax);
}
