/**
 * Sync protocol messages (exec/sync.c, spec services-exec.md §5.1), carried in totempg group
 * "sync". Their header ids are the raw values 0 and 1 (no service shift), and corosync does no
 * byte-order conversion on them; we refuse messages flagged for conversion (see codec.ts).
 *
 * BARRIER (id 0), 32 bytes:
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |   16 | request header (id 0, size 32) |
 * |  16 |   12 | ring_id, packed: rep u32 @16, seq u64 @20 |
 * |  28 |    4 | pad (zero) |
 *
 * SERVICE_BUILD (id 1), 552 bytes:
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |   16 | request header (id 1, size 552) |
 * |  16 |   12 | ring_id (as above) |
 * |  28 |    4 | pad |
 * |  32 |    4 | service_list_entries (i32) |
 * |  36 |    4 | pad |
 * |  40 |  512 | service_list: 128 × i32; entries past the count are zero |
 */
import { Buffer } from 'node:buffer';
import { readRingId, writeRingId } from '../totem/wire/header.js';
import type { RingId } from '../totem/wire/seq.js';
import {
  EXEC_HEADER_SIZE,
  SERVICES_COUNT_MAX,
  type CodecResult,
  checkExactSize,
  checkFrameHeader,
  codecFail,
  codecOk,
  refuseOtherByteOrder,
} from './codec.js';
import { allocRequest } from '../ipc/frame.js';
import { readInt32LE, writeInt32LE } from '../common/bytes.js';

/** Header ids of the sync messages. */
export const SyncMessageId = { BARRIER: 0, SERVICE_BUILD: 1 } as const;
export type SyncMessageId = (typeof SyncMessageId)[keyof typeof SyncMessageId];

/** sizeof(struct req_exec_barrier_message). */
export const SYNC_BARRIER_SIZE = 32;
/** sizeof(struct req_exec_service_build_message). */
export const SYNC_SERVICE_BUILD_SIZE = 552;
/** Capacity of service_list. */
export const SYNC_SERVICE_LIST_MAX = 128;

const RING_ID_OFF = 16;
const ENTRIES_OFF = 32;
const LIST_OFF = 40;

export interface SyncBarrier {
  readonly kind: 'barrier';
  readonly ringId: RingId;
}

export interface SyncServiceBuild {
  readonly kind: 'service_build';
  readonly ringId: RingId;
  /** Service ids in the order sent (corosync sends them ascending). */
  readonly services: readonly number[];
}

export type SyncMessage = SyncBarrier | SyncServiceBuild;

/** BARRIER for `ringId`. */
export function encodeSyncBarrier(ringId: RingId): Buffer {
  const buf = allocRequest(SyncMessageId.BARRIER, SYNC_BARRIER_SIZE);
  writeRingId(buf, RING_ID_OFF, ringId);
  return buf;
}

/** SERVICE_BUILD for `ringId` with `services` (≤ 128 ids, each 0..63; RangeError otherwise). */
export function encodeSyncServiceBuild(ringId: RingId, services: readonly number[]): Buffer {
  if (services.length > SYNC_SERVICE_LIST_MAX) {
    throw new RangeError(`${services.length} sync services exceed the ${SYNC_SERVICE_LIST_MAX}-entry list`);
  }
  const buf = allocRequest(SyncMessageId.SERVICE_BUILD, SYNC_SERVICE_BUILD_SIZE);
  writeRingId(buf, RING_ID_OFF, ringId);
  writeInt32LE(buf, services.length, ENTRIES_OFF);
  services.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 0 || s >= SERVICES_COUNT_MAX) {
      throw new RangeError(`sync service id ${s} is not in 0..${SERVICES_COUNT_MAX - 1}`);
    }
    writeInt32LE(buf, s, LIST_OFF + 4 * i);
  });
  return buf;
}

export function encodeSyncMessage(m: SyncMessage): Buffer {
  return m.kind === 'barrier' ? encodeSyncBarrier(m.ringId) : encodeSyncServiceBuild(m.ringId, m.services);
}

/**
 * Decode a message received in group "sync". Checks: byte order, header present, header.size
 * = bytes received = the struct size of the id, id 0 or 1, 0 ≤ entries ≤ 128, every listed
 * service id in 0..63 (corosync keeps the union of lists in a 64-slot table).
 * Bytes of service_list past the count are not read.
 */
export function decodeSyncMessage(msg: Buffer, endianConvert = false): CodecResult<SyncMessage> {
  const bad =
    refuseOtherByteOrder(endianConvert, 'sync message') ??
    checkFrameHeader(msg, EXEC_HEADER_SIZE, 'sync message');
  if (bad) return bad;
  const id = readInt32LE(msg, 0);
  if (id === SyncMessageId.BARRIER) {
    return (
      checkExactSize(msg.length, SYNC_BARRIER_SIZE, 'sync barrier') ??
      codecOk({ kind: 'barrier', ringId: readRingId(msg, RING_ID_OFF, false) })
    );
  }
  if (id === SyncMessageId.SERVICE_BUILD) {
    const wrongSize = checkExactSize(msg.length, SYNC_SERVICE_BUILD_SIZE, 'sync service_build');
    if (wrongSize) return wrongSize;
    const n = readInt32LE(msg, ENTRIES_OFF);
    if (n < 0 || n > SYNC_SERVICE_LIST_MAX) {
      return codecFail('bad-count', `sync service_build lists ${n} services (0..${SYNC_SERVICE_LIST_MAX})`);
    }
    const services: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const s = readInt32LE(msg, LIST_OFF + 4 * i);
      if (s < 0 || s >= SERVICES_COUNT_MAX) {
        return codecFail(
          'bad-value',
          `sync service_build entry ${i} is service id ${s} (0..${SERVICES_COUNT_MAX - 1})`,
        );
      }
      services[i] = s;
    }
    return codecOk({ kind: 'service_build', ringId: readRingId(msg, RING_ID_OFF, false), services });
  }
  return codecFail('bad-id', `unknown sync message id ${id}`);
}
