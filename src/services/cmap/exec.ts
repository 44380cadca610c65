/**
 * cmap's cluster side (spec cmap.md §4; corosync 3.1.7 exec/cmap.c exec and sync parts): the
 * service engine with exec function 0, MCAST, which carries `totem.config_version`, and the
 * sync hooks that use it to make a node that starts with an older non-zero config_version
 * leave a cluster that runs a newer one. The IPC part lives in ./service.ts; this engine only
 * exposes it through its `ipc` field.
 *
 * MCAST (header.id 0x00000000), all fields 8-aligned, little-endian, pads zero:
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |   16 | request header (id 0, size 48 + Σ items) |
 * |  16 |    1 | reason: 0 SYNC, 1 NEW_CONFIG_VERSION |
 * |  24 |    1 | no_items (≤ 32) |
 * |  32 |    1 | reserved1 |
 * |  40 |    1 | reserved2 |
 * |  48 |    … | items |
 *
 * Item, length round_up_8(280 + value_len):
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |   0 |  264 | key_name (mar_name_t: u16 length @0, NUL-terminated bytes @8, 256 bytes) |
 * | 264 |    1 | value_type (0 = the key does not exist) |
 * | 272 |    8 | value_len (u64) |
 * | 280 |    … | value (as icmap stores it), zero padded to 8 |
 *
 * Behaviour:
 * - sync `process`: multicast MCAST(SYNC, [totem.config_version]); not done while totem
 *   refuses it. `init` remembers the list sizes and our own version (0 when absent or not a
 *   u64) and starts `highest received` at it.
 * - an icmap tracker on `totem.config_version` (add/modify/delete) multicasts
 *   MCAST(NEW_CONFIG_VERSION, [totem.config_version]).
 * - on receipt (both reasons): version = the item's u64 (0 when missing or of another type);
 *   from another node it raises `highest received`; `runtime.members.<sender>.config_version`
 *   (u64) is set, for ourselves too.
 * - `activate`: single-node syncs (empty transitional list) do nothing; on the first other
 *   sync only, a non-zero own version that differs from the highest received logs
 *   "Received config version (%llu) is different than my config version (%llu)! Exiting"
 *   and requests a normal shutdown.
 *
 * Byte order: the exec layer refuses messages from nodes of the other byte order (see
 * src/exec/codec.ts), so no swap routine is needed here.
 */
import { Buffer } from 'node:buffer';
import type { Icmap } from '../../cmap/icmap.js';
import { TrackFlags } from '../../cmap/map.js';
import { CmapValueType, type StoredValue } from '../../cmap/types.js';
import { CsErrorCode } from '../../common/errors.js';
import {
  type CodecResult,
  ServiceId,
  TotemGuarantee,
  checkMessage,
  codecFail,
  codecOk,
  execId,
} from '../../exec/codec.js';
import type { ExecApi, ServiceEngine, SyncHooks } from '../../exec/service-engine.js';
import { allocRequest } from '../../ipc/frame.js';
import type { IpcServiceDefinition } from '../../ipc/server.js';
import type { RingId } from '../../totem/wire/index.js';
import {
  readBigUInt64LE,
  readUInt16LE,
  readUInt8,
  writeBigUInt64LE,
  writeUInt16LE,
  writeUInt8,
} from '../../common/bytes.js';

/** Exec function ids of cmap. */
export const CmapExecFn = { MCAST: 0 } as const;

/** `enum cmap_mcast_reason`. */
export const CmapMcastReason = { SYNC: 0, NEW_CONFIG_VERSION: 1 } as const;
export type CmapMcastReason = (typeof CmapMcastReason)[keyof typeof CmapMcastReason];

/** sizeof(struct req_exec_cmap_mcast). */
export const CMAP_MCAST_HEADER_SIZE = 48;
/** sizeof(struct req_exec_cmap_mcast_item) without its value. */
export const CMAP_MCAST_ITEM_SIZE = 280;
/** MAX_REQ_EXEC_CMAP_MCAST_ITEMS. */
export const CMAP_MCAST_ITEMS_MAX = 32;
/** mar_name_t's value array. */
const KEY_NAME_CAPACITY = 256;
const KEY_VALUE_OFF = 8;
const ITEM_TYPE_OFF = 264;
const ITEM_LEN_OFF = 272;

/** The only key 3.1.7 ever sends. */
export const CONFIG_VERSION_KEY = 'totem.config_version';

/** One item of a MCAST. `type` 0 (and no value) = the key does not exist. */
export interface CmapMcastItem {
  readonly key: string;
  readonly type: number;
  /** The value as icmap stores it (strings with their NUL); empty for a missing key. */
  readonly value: Buffer;
}

export interface CmapMcast {
  readonly reason: number;
  readonly items: readonly CmapMcastItem[];
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** The item for `key` as the local icmap holds it (type 0 when the key does not exist). */
export function cmapMcastItemFromIcmap(icmap: Icmap, key: string): CmapMcastItem {
  const v: StoredValue | undefined = icmap.get(key);
  return v ? { key, type: v.type, value: v.bytes } : { key, type: 0, value: Buffer.alloc(0) };
}

/** Encode a MCAST (RangeError for more than 32 items or a key of 256 bytes or more). */
export function encodeCmapMcast(reason: number, items: readonly CmapMcastItem[]): Buffer {
  if (items.length > CMAP_MCAST_ITEMS_MAX) {
    throw new RangeError(`${items.length} cmap mcast items exceed ${CMAP_MCAST_ITEMS_MAX}`);
  }
  const lens = items.map((it) => align8(CMAP_MCAST_ITEM_SIZE + it.value.length));
  const size = CMAP_MCAST_HEADER_SIZE + lens.reduce((a, b) => a + b, 0);
  const buf = allocRequest(execId(ServiceId.CMAP, CmapExecFn.MCAST), size);
  writeUInt8(buf, reason, 16);
  writeUInt8(buf, items.length, 24);
  let off = CMAP_MCAST_HEADER_SIZE;
  items.forEach((it, i) => {
    const key = Buffer.from(it.key, 'latin1');
    if (key.length >= KEY_NAME_CAPACITY) throw new RangeError(`cmap mcast key of ${key.length} bytes`);
    writeUInt16LE(buf, key.length, off);
    key.copy(buf, off + KEY_VALUE_OFF);
    writeUInt8(buf, it.type, off + ITEM_TYPE_OFF);
    writeBigUInt64LE(buf, BigInt(it.value.length), off + ITEM_LEN_OFF);
    it.value.copy(buf, off + CMAP_MCAST_ITEM_SIZE);
    off += lens[i]!;
  });
  return buf;
}

/**
 * Decode a received MCAST: header (id 0, size = bytes), 48-byte fixed part, no_items ≤ 32,
 * every item inside the message with its value, key length < 256. Never throws.
 */
export function decodeCmapMcast(msg: Buffer, endianConvert = false): CodecResult<CmapMcast> {
  const bad = checkMessage(
    msg,
    execId(ServiceId.CMAP, CmapExecFn.MCAST),
    CMAP_MCAST_HEADER_SIZE,
    'cmap mcast',
    endianConvert,
  );
  if (bad) return bad;
  const reason = readUInt8(msg, 16);
  const n = readUInt8(msg, 24);
  if (n > CMAP_MCAST_ITEMS_MAX)
    return codecFail('bad-count', `cmap mcast with ${n} items (max ${CMAP_MCAST_ITEMS_MAX})`);
  const items: CmapMcastItem[] = [];
  let off = CMAP_MCAST_HEADER_SIZE;
  for (let i = 0; i < n; i++) {
    if (off + CMAP_MCAST_ITEM_SIZE > msg.length) {
      return codecFail(
        'truncated',
        `cmap mcast item ${i} at ${off} runs past the ${msg.length}-byte message`,
      );
    }
    const keyLen = readUInt16LE(msg, off);
    if (keyLen >= KEY_NAME_CAPACITY)
      return codecFail('name-too-long', `cmap mcast item ${i}: key length ${keyLen}`);
    const valueLen = readBigUInt64LE(msg, off + ITEM_LEN_OFF);
    if (valueLen > BigInt(msg.length - off - CMAP_MCAST_ITEM_SIZE)) {
      return codecFail('bad-count', `cmap mcast item ${i}: value of ${valueLen} bytes runs past the message`);
    }
    const len = Number(valueLen);
    const valueOff = off + CMAP_MCAST_ITEM_SIZE;
    items.push({
      key: msg.toString('latin1', off + KEY_VALUE_OFF, off + KEY_VALUE_OFF + keyLen),
      type: readUInt8(msg, off + ITEM_TYPE_OFF),
      value: msg.subarray(valueOff, valueOff + len),
    });
    off += align8(CMAP_MCAST_ITEM_SIZE + len);
    if (off > msg.length) {
      return codecFail('truncated', `cmap mcast item ${i}: padding runs past the ${msg.length}-byte message`);
    }
  }
  return codecOk({ reason, items });
}

// -----------------------------------------------------------------------------------------

export interface CmapExecLogger {
  debug(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface CmapExecOptions {
  icmap: Icmap;
  /** The cmap IPC service (createCmapService), exposed as the engine's `ipc`. */
  ipc?: IpcServiceDefinition<unknown>;
  /** Asked for a normal shutdown (the config_version check; corosync's api->shutdown_request). */
  requestShutdown?: (reason: string) => void;
  log?: CmapExecLogger;
}

const NO_LOG: CmapExecLogger = { debug: () => {}, warn: () => {}, error: () => {} };

/** The u64 value of `totem.config_version`, 0 when absent or of another type (icmap_get_uint64). */
function readConfigVersion(icmap: Icmap): bigint {
  const v = icmap.get(CONFIG_VERSION_KEY);
  return v && v.type === CmapValueType.UINT64 && v.bytes.length === 8 ? readBigUInt64LE(v.bytes, 0) : 0n;
}

/** cmap's service engine (id 0): exec fn 0 MCAST and the config_version sync. */
export class CmapExecEngine implements ServiceEngine {
  readonly id = ServiceId.CMAP;
  readonly name = 'corosync configuration map access';
  readonly defaultName = 'corosync_cmap';
  readonly priority = 1;
  readonly execFnCount = 1;
  readonly ipc: IpcServiceDefinition<unknown> | undefined;
  readonly sync: SyncHooks;

  private readonly icmap: Icmap;
  private readonly log: CmapExecLogger;
  private readonly requestShutdownFn: ((reason: string) => void) | undefined;
  private api: ExecApi | undefined;
  private trackHandle: number | undefined;
  private transCount = 0;
  private memberCount = 0;
  private myVersion = 0n;
  private highestReceived = 0n;
  private firstSync = true;

  constructor(opts: CmapExecOptions) {
    this.icmap = opts.icmap;
    this.ipc = opts.ipc;
    this.log = opts.log ?? NO_LOG;
    this.requestShutdownFn = opts.requestShutdown;
    this.sync = {
      init: (trans, members, ringId) => this.syncInit(trans, members, ringId),
      process: () => this.syncProcess(),
      activate: () => this.syncActivate(),
      abort: () => {},
    };
  }

  /** Our own config_version as of the last sync init / tracker event. */
  get configVersion(): bigint {
    return this.myVersion;
  }

  /** The highest config_version another node announced since the last sync init. */
  get highestConfigVersionReceived(): bigint {
    return this.highestReceived;
  }

  /** Member counts remembered by the last sync init (transitional, regular). */
  get syncListSizes(): { trans: number; members: number } {
    return { trans: this.transCount, members: this.memberCount };
  }

  init(api: ExecApi): void {
    this.api = api;
    this.trackHandle = this.icmap.trackAdd(
      CONFIG_VERSION_KEY,
      TrackFlags.ADD | TrackFlags.DELETE | TrackFlags.MODIFY,
      () => this.configVersionChanged(),
    );
  }

  exit(): boolean {
    if (this.trackHandle !== undefined) {
      try {
        this.icmap.trackDelete(this.trackHandle);
      } catch {
        this.log.error("Can't delete config_version icmap tracker");
      }
      this.trackHandle = undefined;
    }
    return true;
  }

  deliver(fn: number, message: Buffer, fromNodeid: number): void {
    if (fn !== CmapExecFn.MCAST) return;
    const r = decodeCmapMcast(message);
    if (!r.ok) {
      this.log.warn(`cmap: dropped a mcast from node ${fromNodeid}: ${r.error}`);
      return;
    }
    const { reason, items } = r.value;
    if (reason !== CmapMcastReason.SYNC && reason !== CmapMcastReason.NEW_CONFIG_VERSION) {
      this.log.debug(`Received mcast with unknown reason ${reason}`);
      return;
    }
    let version = 0n;
    const item = items.find((it) => it.key === CONFIG_VERSION_KEY);
    if (item && item.type === CmapValueType.UINT64) {
      if (item.value.length !== 8) {
        this.log.warn(
          `cmap: node ${fromNodeid} sent a config_version of ${item.value.length} bytes; dropped`,
        );
        return;
      }
      version = readBigUInt64LE(item.value, 0);
    }
    this.log.debug(`Received config version ${version} from node ${fromNodeid}`);
    if (fromNodeid !== this.api?.nodeId && version > this.highestReceived) this.highestReceived = version;
    this.icmap.setValue(`runtime.members.${fromNodeid}.config_version`, {
      type: CmapValueType.UINT64,
      value: version,
    });
  }

  // ---------------------------------------------------------------------------------------

  /** Multicast `totem.config_version` as this node holds it; CS_OK or the totem error. */
  private send(reason: CmapMcastReason): number {
    if (!this.api) return CsErrorCode.CS_ERR_LIBRARY;
    const msg = encodeCmapMcast(reason, [cmapMcastItemFromIcmap(this.icmap, CONFIG_VERSION_KEY)]);
    return this.api.mcast(ServiceId.CMAP, CmapExecFn.MCAST, msg, TotemGuarantee.AGREED);
  }

  private configVersionChanged(): void {
    this.myVersion = readConfigVersion(this.icmap);
    if (this.send(CmapMcastReason.NEW_CONFIG_VERSION) !== CsErrorCode.CS_OK) {
      this.log.error("Can't inform other nodes about new config version");
    }
  }

  private syncInit(trans: readonly number[], members: readonly number[], _ringId: RingId): void {
    this.transCount = trans.length;
    this.memberCount = members.length;
    this.myVersion = readConfigVersion(this.icmap);
    this.highestReceived = this.myVersion;
  }

  private syncProcess(): boolean {
    return this.send(CmapMcastReason.SYNC) === CsErrorCode.CS_OK;
  }

  private syncActivate(): void {
    if (this.transCount === 0) {
      this.log.debug('Single node sync -> no action');
      return;
    }
    if (!this.firstSync) {
      this.log.debug('Not first sync -> no action');
      return;
    }
    this.firstSync = false;
    if (this.myVersion === 0n) {
      this.log.debug('My config version is 0 -> no action');
      return;
    }
    if (this.highestReceived !== this.myVersion) {
      const reason =
        `Received config version (${this.highestReceived}) is different than ` +
        `my config version (${this.myVersion})! Exiting`;
      this.log.error(reason);
      this.requestShutdownFn?.(reason);
    }
  }
}

/** Size of a MCAST carrying only config_version: 336 with a u64 value, 328 when missing. */
export function cmapConfigVersionMcastSize(present: boolean): number {
  return CMAP_MCAST_HEADER_SIZE + CMAP_MCAST_ITEM_SIZE + (present ? 8 : 0);
}
