/**
 * Byte layouts of totempg (spec/totem-pg.md §2, §3): the packet that rides in the payload of a
 * non-encapsulated MCAST, and the group header at the start of every reassembled group message.
 * Pure codecs: no state, never throw on received bytes.
 *
 * Packet (all multi-byte fields in the originator's byte order, packed):
 *
 * | off  | size | field                                             |
 * |-----:|-----:|---------------------------------------------------|
 * |    0 |    2 | version (0, never checked)                        |
 * |    2 |    2 | type (0, never checked)                           |
 * |    4 |    1 | fragmented: 0, or the fragment number of the last entry |
 * |    5 |    1 | continuation: 0, or the fragment number the first entry continues |
 * |    6 |    2 | msg_count C                                       |
 * |    8 |   2C | msg_len[C]                                        |
 * | 8+2C |    Σ | the entries, concatenated                         |
 *
 * Group message: u16 G, u16 group_len[G], the names without terminators, then the payload.
 */
import { Buffer } from 'node:buffer';
import { readUInt16BE, readUInt16LE, writeUInt16LE, writeUInt32LE } from '../common/bytes.js';

/** Bytes before the length array: version, type, fragmented, continuation, msg_count. */
export const PG_HEADER_SIZE = 8;
/** The internal `net_mtu` with the defaults: totem.netmtu 1500 − 90 (totem-wire.md §2.6). */
export const PG_DEFAULT_NET_MTU = 1410;
/** Most groups one send may name (`MAX_GROUPS_PER_MSG`). */
export const PG_MAX_GROUPS_PER_MSG = 32;
/** Most payload pieces one send may have (`MAX_IOVECS_FROM_APP`). */
export const PG_MAX_PAYLOAD_PIECES = 32;
/** Most pieces (group header + names + payload pieces) one send may hand to the packer: 63. */
export const PG_MAX_PIECES = 63;
/** `MESSAGE_SIZE_MAX` of a normal build: 1 MiB. Largest group message we send. */
export const PG_MESSAGE_SIZE_MAX = 1024 * 1024;
/**
 * Size of a receiver's assembly buffer (`MESSAGE_SIZE_MAX + KNET_MAX_PACKET_SIZE`). corosync
 * asserts `held + packet length < this`; we drop instead.
 */
export const PG_ASSEMBLY_SIZE = PG_MESSAGE_SIZE_MAX + 64 * 1024;
/** Per-packet bytes that a reservation counts per totemsrp message: net_mtu − 8 − 16. */
export const PG_RESERVE_OVERHEAD = PG_HEADER_SIZE + 16;

/** Why a received packet or group message was refused (stable strings, counted in stats). */
export type PgErrorCode =
  /** payload shorter than the 8-byte header */
  | 'too-short'
  /** msg_count says there are more length fields than the payload holds */
  | 'lens-past-end'
  /** the payload length is not exactly 8 + 2·C + Σ msg_len */
  | 'length-mismatch'
  /** a fragmented packet without entries (nothing to continue) */
  | 'bad-count'
  /** a reassembled message would not fit the assembly buffer */
  | 'reassembly-overflow'
  /** a group message shorter than its group header says */
  | 'bad-group-header';

/** A refused packet or message. */
export interface PgDecodeError {
  readonly ok: false;
  readonly code: PgErrorCode;
  readonly error: string;
}

/** The fixed fields of a received packet; the lengths are written into a caller's array. */
export interface PgPacketHeader {
  readonly ok: true;
  readonly fragmented: number;
  readonly continuation: number;
  readonly count: number;
  /** Offset of the first entry's first byte (8 + 2·count). */
  readonly dataOffset: number;
}

function pgError(code: PgErrorCode, error: string): PgDecodeError {
  return { ok: false, code, error };
}

/**
 * Check a received packet (the three validity rules of §2) and read its lengths into `lens`
 * (which must hold at least `(packet.length - 8) / 2` entries). `bigEndian` = the originator
 * wrote big-endian fields (totemsrp's "endian conversion required" on a little-endian host).
 */
export function readPgPacket(
  packet: Uint8Array,
  bigEndian: boolean,
  lens: Uint16Array,
): PgPacketHeader | PgDecodeError {
  const len = packet.length;
  if (len < PG_HEADER_SIZE) {
    return pgError(
      'too-short',
      `totempg packet of ${len} bytes is shorter than its ${PG_HEADER_SIZE}-byte header`,
    );
  }
  const count = bigEndian ? (packet[6]! << 8) | packet[7]! : packet[6]! | (packet[7]! << 8);
  const dataOffset = PG_HEADER_SIZE + 2 * count;
  if (len < dataOffset) {
    return pgError(
      'lens-past-end',
      `totempg packet of ${len} bytes cannot hold the ${count} lengths it announces (${dataOffset} bytes)`,
    );
  }
  let expected = dataOffset;
  let off = PG_HEADER_SIZE;
  for (let i = 0; i < count; i++, off += 2) {
    const l = bigEndian ? (packet[off]! << 8) | packet[off + 1]! : packet[off]! | (packet[off + 1]! << 8);
    lens[i] = l;
    expected += l;
  }
  if (expected !== len) {
    return pgError(
      'length-mismatch',
      `totempg packet has ${len} bytes but its ${count} lengths add up to ${expected}`,
    );
  }
  return { ok: true, fragmented: packet[4]!, continuation: packet[5]!, count, dataOffset };
}

/**
 * Build a little-endian packet from its fields, the first `count` lengths and the data, after
 * `headroom` unwritten bytes (room for the MCAST header, so totemsrp need not copy it again).
 */
export function writePgPacket(
  fragmented: number,
  continuation: number,
  lens: ArrayLike<number>,
  count: number,
  data: Uint8Array,
  headroom = 0,
): Buffer {
  const dataOffset = headroom + PG_HEADER_SIZE + 2 * count;
  const out = Buffer.allocUnsafe(dataOffset + data.length);
  writeUInt32LE(out, 0, headroom); // version, type
  out[headroom + 4] = fragmented & 0xff;
  out[headroom + 5] = continuation & 0xff;
  writeUInt16LE(out, count, headroom + 6);
  for (let i = 0; i < count; i++) writeUInt16LE(out, lens[i]!, headroom + PG_HEADER_SIZE + 2 * i);
  out.set(data, dataOffset);
  return out;
}

/**
 * The group header of a send to `groups`: u16 count and u16 lengths, little-endian. The names
 * themselves follow as separate pieces (that is how the packer counts them, §4.3).
 */
export function groupHeaderLens(groups: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(2 + 2 * groups.length);
  writeUInt16LE(out, groups.length, 0);
  for (let i = 0; i < groups.length; i++) writeUInt16LE(out, groups[i]!.length, 2 + 2 * i);
  return out;
}

/** A whole group message (header, names, payload) as one Buffer; for tests and tools. */
export function encodeGroupMessage(groups: readonly Uint8Array[], payload: Uint8Array): Buffer {
  return Buffer.concat([groupHeaderLens(groups), ...groups, payload]);
}

/**
 * Length of a group message's header (2 + 2G + Σ name lengths), or an error when the message
 * is too short for it. corosync never checks this; a malformed header would make it read past
 * the message.
 */
export function groupHeaderLength(msg: Uint8Array, bigEndian: boolean): number | PgDecodeError {
  const len = msg.length;
  if (len < 2) return pgError('bad-group-header', `group message of ${len} bytes has no group count`);
  const g = bigEndian ? (msg[0]! << 8) | msg[1]! : msg[0]! | (msg[1]! << 8);
  let total = 2 + 2 * g;
  if (len < total) {
    return pgError('bad-group-header', `group message of ${len} bytes cannot hold ${g} group lengths`);
  }
  for (let i = 0, off = 2; i < g; i++, off += 2) {
    total += bigEndian ? (msg[off]! << 8) | msg[off + 1]! : msg[off]! | (msg[off + 1]! << 8);
  }
  if (len < total) {
    return pgError(
      'bad-group-header',
      `group message of ${len} bytes is shorter than its ${total}-byte group header`,
    );
  }
  return total;
}

/** The group names of a message whose header was checked by {@link groupHeaderLength}. */
export function groupNames(msg: Buffer, bigEndian: boolean): Buffer[] {
  const g = bigEndian ? readUInt16BE(msg, 0) : readUInt16LE(msg, 0);
  const names: Buffer[] = [];
  let name = 2 + 2 * g;
  for (let i = 0; i < g; i++) {
    const l = bigEndian ? readUInt16BE(msg, 2 + 2 * i) : readUInt16LE(msg, 2 + 2 * i);
    names.push(msg.subarray(name, name + l));
    name += l;
  }
  return names;
}

/**
 * Whether any group of the (checked) message equals any of `joined` (same length, same bytes),
 * and which of `joined` matched first in message order. Allocation-free.
 */
export function matchGroups(
  msg: Uint8Array,
  bigEndian: boolean,
  joined: readonly Buffer[],
): Buffer | undefined {
  const g = bigEndian ? (msg[0]! << 8) | msg[1]! : msg[0]! | (msg[1]! << 8);
  let name = 2 + 2 * g;
  for (let i = 0, off = 2; i < g; i++, off += 2) {
    const l = bigEndian ? (msg[off]! << 8) | msg[off + 1]! : msg[off]! | (msg[off + 1]! << 8);
    for (const j of joined) {
      if (j.length === l && bytesEqual(j, msg, name)) return j;
    }
    name += l;
  }
  return undefined;
}

function bytesEqual(a: Uint8Array, b: Uint8Array, bOff: number): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[bOff + k]) return false;
  return true;
}
