/**
 * The cmap "stats" map (spec/cmap.md §5): a read-only map whose values are computed on every
 * read from live counters. The IPC server registers its connections here; other layers (totem
 * srp/pg, a transport) plug in their keys through `registerSource`.
 *
 * Pure core: no timers. The daemon calls `poll()` every 1.5 s (corosync's stats timer) to fire
 * the polled MODIFY notifications of non-prefix trackers.
 *
 * Behaviour choices (documented deviations / decisions):
 * - DELETE notifications carry the value read just before the key disappeared (new = old = that
 *   value). corosync reads the value after removal, which for IPC connection keys may fail, in
 *   which case it sends nothing; a DELETE a client asked for is more useful than silence.
 * - `stats.clear.ipc` / `stats.clear.all` zero the counters (`closed` and per-connection sent,
 *   invalid_request, overload, requests, responses, dispatched, send_retries, recv_retries,
 *   flow_control_count) but keep the gauges: `stats.ipcs.global.active` (corosync zeroes it too,
 *   after which it runs negative/wraps as connections close), and per connection `queueing`,
 *   `queued` and `flow_control` (the current flow-control state).
 * - Track masks with bits other than DELETE|MODIFY|ADD|PREFIX → CS_ERR_INVALID_PARAM (corosync's
 *   stats map does not check them), as for the default map.
 * - `stats.schedmiss.<n>.{timestamp,delay}` (n = 0 newest … 9 oldest) are built in: the daemon's
 *   "main process was not scheduled" detector (src/daemon/schedmiss.ts) calls `addSchedMiss()`,
 *   `stats.clear.schedmiss` / `stats.clear.all` remove them. Keys under `stats.schedmiss` never
 *   notify trackers (no ADD/DELETE, no polled MODIFY), as in corosync.
 * - A source key whose value cannot be read is skipped by iteration.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import { TrackFlags, type CmapMap, type IterEntry, type TrackCallback } from './map.js';
import { CmapValueType, valueTypeSize, type StoredValue } from './types.js';
import { SortedKeys, TrackerRegistry, checkTrackFlags, type Tracker } from './icmap.js';
import { writeBigUInt64LE, writeFloatLE, writeInt32LE, writeUInt32LE } from '../common/bytes.js';

/**
 * Live counters of one IPC connection, owned and updated by the IPC server (plain mutable
 * fields; the stats map reads them when asked). u64 counters are JS numbers (exact up to 2^53).
 */
export interface IpcConnectionStats {
  /** Service id (0 cmap, 1 cfg, 2 cpg, …). */
  readonly service: number;
  readonly pid: number;
  /** Opaque unique token `0x<hex>` standing for corosync's connection pointer. */
  readonly token: string;
  procname: string;
  /** i32: 1 while responses are being queued. */
  queueing: number;
  /** u32: messages currently queued. */
  queued: number;
  /** u32 */
  sent: number;
  /** u32: current flow-control state. */
  flowControl: number;
  invalidRequest: number;
  overload: number;
  requests: number;
  responses: number;
  dispatched: number;
  sendRetries: number;
  recvRetries: number;
  flowControlCount: number;
}

/** A zeroed counters object for a new connection. */
export function createIpcConnectionStats(init: {
  service: number;
  pid: number;
  token: string;
  procname?: string;
}): IpcConnectionStats {
  return {
    service: init.service,
    pid: init.pid,
    token: init.token,
    procname: init.procname ?? '',
    queueing: 0,
    queued: 0,
    sent: 0,
    flowControl: 0,
    invalidRequest: 0,
    overload: 0,
    requests: 0,
    responses: 0,
    dispatched: 0,
    sendRetries: 0,
    recvRetries: 0,
    flowControlCount: 0,
  };
}

/** What a `stats.clear.<target>` key asks to clear. */
export type StatsClearTarget = 'totem' | 'knet' | 'ipc' | 'schedmiss';

/**
 * A provider of stats keys (e.g. totem: `stats.srp.*`, `stats.pg.*`). `keys()` is read once at
 * registration; later changes are announced through the returned handle.
 */
export interface StatsSource {
  keys(): Iterable<string>;
  get(key: string): StoredValue | undefined;
  /** Called for stats.clear.<target> (stats.clear.all calls it with 'totem', 'knet', 'schedmiss'). */
  clear?(target: StatsClearTarget): void;
}

export interface StatsSourceHandle {
  /** New keys the source now answers (ADD notifications). Keys must start with the prefix. */
  keysAdded(keys: Iterable<string>): void;
  /**
   * Keys that go away (DELETE notifications). Call it while the source can still answer
   * `get()` for them: their last values are what the notifications carry.
   */
  keysRemoved(keys: Iterable<string>): void;
  /** Removes every key of the source (with DELETE notifications) and the source itself. */
  unregister(): void;
}

export const STATS_CLEAR_PREFIX = 'stats.clear.';
export const STATS_SCHEDMISS_PREFIX = 'stats.schedmiss';
/** corosync keeps the last 10 schedmiss events (MAX_SCHEDMISS_EVENTS). */
export const MAX_SCHEDMISS_EVENTS = 10;

/** One "main process was not scheduled" event. */
export interface SchedMissEvent {
  /** Wall-clock ms since the epoch (u64). */
  readonly timestamp: number;
  /** How long the main loop was not scheduled, ms (stored as a 32-bit float). */
  readonly delay: number;
}
export const IPCS_GLOBAL_ACTIVE_KEY = 'stats.ipcs.global.active';
export const IPCS_GLOBAL_CLOSED_KEY = 'stats.ipcs.global.closed';

interface IpcField {
  readonly name: string;
  readonly type: number;
  readonly read: (c: IpcConnectionStats) => number | string;
}

/** Per-connection keys, in the order corosync adds them (= order of ADD notifications). */
const IPC_FIELDS: readonly IpcField[] = [
  { name: 'queueing', type: CmapValueType.INT32, read: (c) => c.queueing },
  { name: 'queued', type: CmapValueType.UINT32, read: (c) => c.queued },
  { name: 'invalid_request', type: CmapValueType.UINT64, read: (c) => c.invalidRequest },
  { name: 'overload', type: CmapValueType.UINT64, read: (c) => c.overload },
  { name: 'sent', type: CmapValueType.UINT32, read: (c) => c.sent },
  { name: 'procname', type: CmapValueType.STRING, read: (c) => c.procname },
  { name: 'requests', type: CmapValueType.UINT64, read: (c) => c.requests },
  { name: 'responses', type: CmapValueType.UINT64, read: (c) => c.responses },
  { name: 'dispatched', type: CmapValueType.UINT64, read: (c) => c.dispatched },
  { name: 'send_retries', type: CmapValueType.UINT64, read: (c) => c.sendRetries },
  { name: 'recv_retries', type: CmapValueType.UINT64, read: (c) => c.recvRetries },
  { name: 'flow_control', type: CmapValueType.UINT32, read: (c) => c.flowControl },
  { name: 'flow_control_count', type: CmapValueType.UINT64, read: (c) => c.flowControlCount },
];

/** Names of the per-connection keys (last key component), in corosync's order. */
export const IPC_CONNECTION_KEY_NAMES: readonly string[] = IPC_FIELDS.map((f) => f.name);

const TWO_POW_32 = 4294967296;

/** Encodes a JS number as a stored value of an integer type or a string. */
function encodeStat(type: number, v: number | string): StoredValue {
  if (type === CmapValueType.STRING) {
    const text = Buffer.from(String(v), 'utf8');
    const nul = text.indexOf(0);
    const body = nul >= 0 ? text.subarray(0, nul) : text;
    const bytes = Buffer.alloc(body.length + 1);
    body.copy(bytes);
    return { type, bytes };
  }
  const n = typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0;
  const bytes = Buffer.alloc(valueTypeSize(type));
  switch (type) {
    case CmapValueType.UINT8:
      bytes[0] = n & 0xff;
      break;
    case CmapValueType.INT32:
      writeInt32LE(bytes, n | 0, 0);
      break;
    case CmapValueType.UINT32:
      writeUInt32LE(bytes, n >>> 0, 0);
      break;
    case CmapValueType.UINT64:
    case CmapValueType.INT64:
      if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
        const hi = Math.floor(n / TWO_POW_32);
        writeUInt32LE(bytes, n - hi * TWO_POW_32, 0);
        writeUInt32LE(bytes, hi, 4);
      } else {
        writeBigUInt64LE(bytes, BigInt.asUintN(64, BigInt(n)), 0);
      }
      break;
    default:
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `unsupported stats type ${type}`);
  }
  return { type, bytes };
}

/** The two keys of schedmiss event `n`, as [field, key]. */
function schedMissKeys(n: number): [['timestamp' | 'delay', string], ['timestamp' | 'delay', string]] {
  return [
    ['timestamp', `${STATS_SCHEDMISS_PREFIX}.${n}.timestamp`],
    ['delay', `${STATS_SCHEDMISS_PREFIX}.${n}.delay`],
  ];
}

/** One key of the map: how to compute its value. */
interface StatsEntry {
  read(): StoredValue | undefined;
}

interface SourceRecord {
  readonly prefix: string;
  readonly source: StatsSource;
  readonly keys: Set<string>;
  registered: boolean;
}

/** Whether `bytes` equals the last polled value (missing trailing bytes of `last` count as 0). */
function sameAsLast(bytes: Buffer, last: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== (last[i] ?? 0)) return false;
  return true;
}

const EMPTY = Buffer.alloc(0);

/** Runs callbacks to the end and remembers the first error they threw. */
class FirstError {
  private failed = false;
  private error: unknown;

  run(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!this.failed) {
        this.failed = true;
        this.error = err;
      }
    }
  }

  rethrow(): void {
    if (this.failed) throw this.error;
  }
}

/** The stats map, as cmap IPC sees it after SET_CURRENT_MAP(1). */
export class StatsMap implements CmapMap {
  private readonly entries = new Map<string, StatsEntry>();
  private readonly index = new SortedKeys();
  private readonly trackers = new TrackerRegistry();
  /** Last value seen by `poll()` per non-prefix keyed tracker (empty = all zero). */
  private readonly lastPolled = new Map<number, Buffer>();
  private readonly connections = new Map<IpcConnectionStats, string[]>();
  private readonly sources: SourceRecord[] = [];
  private ipcClosed = 0;
  private tokenSeq = 0;
  /** schedmiss events, index 0 newest. */
  private schedMissEvents: SchedMissEvent[] = [];
  /** The `stats.schedmiss.*` keys the map itself added (not those of a registered source). */
  private readonly schedMissOwned = new Set<string>();

  constructor() {
    this.insertKey(IPCS_GLOBAL_ACTIVE_KEY, {
      read: () => encodeStat(CmapValueType.UINT64, this.connections.size),
    });
    this.insertKey(IPCS_GLOBAL_CLOSED_KEY, {
      read: () => encodeStat(CmapValueType.UINT64, this.ipcClosed),
    });
  }

  // ----- CmapMap ---------------------------------------------------------------------------

  get(key: string): StoredValue | undefined {
    return this.entries.get(key)?.read();
  }

  /**
   * Keys under `stats.clear.` clear stats (type and value ignored): matched by prefix against
   * knet, ipc, totem, schedmiss, all; no match → NOT_SUPPORTED. Any other key → ACCESS.
   */
  set(key: string, _type: number, _bytes: Uint8Array): void {
    if (!key.startsWith(STATS_CLEAR_PREFIX)) {
      throw new CsError(CsErrorCode.CS_ERR_ACCESS, `stats key '${key}' is read-only`);
    }
    let cleared = false;
    if (key.startsWith('stats.clear.knet')) {
      this.clearSources('knet');
      cleared = true;
    }
    if (key.startsWith('stats.clear.ipc')) {
      this.clearIpc();
      cleared = true;
    }
    if (key.startsWith('stats.clear.totem')) {
      this.clearSources('totem');
      cleared = true;
    }
    if (key.startsWith('stats.clear.schedmiss')) {
      this.clearSchedMiss();
      this.clearSources('schedmiss');
      cleared = true;
    }
    if (key.startsWith('stats.clear.all')) {
      this.clearSources('totem');
      this.clearSources('knet');
      this.clearIpc();
      this.clearSchedMiss();
      this.clearSources('schedmiss');
      cleared = true;
    }
    if (!cleared) {
      throw new CsError(CsErrorCode.CS_ERR_NOT_SUPPORTED, `unknown stats clear key '${key}'`);
    }
  }

  /** ACCESS (read-only key) or NOT_SUPPORTED (`stats.clear.*`). */
  delete(key: string): void {
    this.denyWrite(key);
  }

  /** ACCESS (read-only key) or NOT_SUPPORTED (`stats.clear.*`). */
  adjustInt(key: string, _step: number): void {
    this.denyWrite(key);
  }

  /** Iteration reports the type and its fixed size (0 for strings such as procname). */
  iterNext(prefix: string, after: string | undefined): IterEntry | undefined {
    let cursor = after;
    for (;;) {
      const key = this.index.nextWithPrefix(prefix, cursor);
      if (key === undefined) return undefined;
      const v = this.entries.get(key)!.read();
      if (v) return { key, type: v.type, length: valueTypeSize(v.type) };
      cursor = key;
    }
  }

  /**
   * PREFIX trackers must include ADD and DELETE (else NOT_SUPPORTED). Non-prefix trackers on a
   * key are polled by `poll()`; with ADD/DELETE they also get those events for their key.
   */
  trackAdd(key: string | undefined, flags: number, callback: TrackCallback): number {
    checkTrackFlags(flags);
    if (flags & TrackFlags.PREFIX && (!(flags & TrackFlags.ADD) || !(flags & TrackFlags.DELETE))) {
      throw new CsError(CsErrorCode.CS_ERR_NOT_SUPPORTED, 'stats prefix trackers need ADD and DELETE');
    }
    const t = this.trackers.add(key, flags, callback);
    if (!(flags & TrackFlags.PREFIX) && t.key !== undefined) {
      const v = this.get(t.key);
      this.lastPolled.set(t.handle, v ? Buffer.from(v.bytes) : EMPTY);
    }
    return t.handle;
  }

  trackDelete(handle: number): void {
    if (!this.trackers.remove(handle)) {
      throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, `unknown track handle ${handle}`);
    }
    this.lastPolled.delete(handle);
  }

  // ----- stats-specific API ----------------------------------------------------------------

  /** All keys under `prefix`, in iteration order. */
  keys(prefix = ''): string[] {
    return this.index.withPrefix(prefix);
  }

  /** Only `stats.clear.*` keys are writable. */
  isReadOnly(key: string): boolean {
    return !key.startsWith(STATS_CLEAR_PREFIX);
  }

  /** Number of registered trackers. */
  get trackerCount(): number {
    return this.trackers.size;
  }

  /**
   * The daemon's 1.5 s stats tick: every non-prefix tracker on a key whose current value differs
   * from the one it last saw gets MODIFY with new = old = current value, whatever its mask.
   * Trackers are visited newest first (corosync's tracker list order). Key-less trackers never
   * fire; a key that cannot be read is skipped.
   */
  poll(): void {
    const all = this.trackers.all();
    const errors = new FirstError();
    for (let i = all.length - 1; i >= 0; i--) {
      const t: Tracker = all[i]!;
      if (!t.alive || t.flags & TrackFlags.PREFIX || t.key === undefined) continue;
      if (t.key.startsWith(STATS_SCHEDMISS_PREFIX)) continue;
      const v = this.get(t.key);
      if (!v) continue;
      const last = this.lastPolled.get(t.handle) ?? EMPTY;
      if (sameAsLast(v.bytes, last)) continue;
      this.lastPolled.set(t.handle, Buffer.from(v.bytes));
      const key = t.key;
      errors.run(() => t.callback({ event: TrackFlags.MODIFY, key, newValue: v, oldValue: v }));
    }
    errors.rethrow();
  }

  /**
   * Records a schedmiss event (corosync's stats_add_schedmiss_event): the existing events move
   * one index down (the oldest beyond 10 is dropped) and the new one becomes
   * `stats.schedmiss.0.*`. Keys for a new index appear silently (no tracker notifications).
   * `delay` is stored as a 32-bit float, `timestamp` as a u64 (truncated, negative → 0).
   */
  addSchedMiss(timestampMs: number, delayMs: number): void {
    const ts = Number.isFinite(timestampMs) && timestampMs > 0 ? Math.trunc(timestampMs) : 0;
    this.schedMissEvents.unshift({ timestamp: ts, delay: Math.fround(delayMs) });
    this.schedMissEvents.splice(MAX_SCHEDMISS_EVENTS);
    const n = this.schedMissEvents.length - 1;
    for (const [field, key] of schedMissKeys(n)) {
      if (this.entries.has(key)) continue;
      this.schedMissOwned.add(key);
      this.insertKey(key, { read: () => this.readSchedMiss(n, field) });
    }
  }

  /** The recorded schedmiss events, newest first (a copy). */
  schedMisses(): SchedMissEvent[] {
    return [...this.schedMissEvents];
  }

  /** A fresh unique connection token (`0x…`) for `createIpcConnectionStats`. */
  allocIpcToken(): string {
    this.tokenSeq++;
    return `0x${(0x100000 + this.tokenSeq * 0x40).toString(16)}`;
  }

  /** The key prefix of a connection's keys: `stats.ipcs.service<S>.<PID>.<TOKEN>.` */
  static ipcKeyPrefix(conn: Pick<IpcConnectionStats, 'service' | 'pid' | 'token'>): string {
    return `stats.ipcs.service${conn.service}.${conn.pid}.${conn.token}.`;
  }

  /**
   * A new IPC connection: adds its 13 keys (ADD notifications, in corosync's key order) and
   * counts it in stats.ipcs.global.active. CS_ERR_EXIST if it is already registered or its keys
   * collide; CS_ERR_INVALID_PARAM for a token that is not `0x<hex>`.
   */
  addIpcConnection(conn: IpcConnectionStats): void {
    if (!/^0x[0-9a-fA-F]+$/.test(conn.token)) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `bad connection token '${conn.token}'`);
    }
    if (!Number.isInteger(conn.service) || conn.service < 0 || !Number.isInteger(conn.pid) || conn.pid < 0) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'bad connection service/pid');
    }
    const prefix = StatsMap.ipcKeyPrefix(conn);
    const keys = IPC_FIELDS.map((f) => prefix + f.name);
    if (this.connections.has(conn) || keys.some((k) => this.entries.has(k))) {
      throw new CsError(CsErrorCode.CS_ERR_EXIST, `connection ${prefix} already registered`);
    }
    this.connections.set(conn, keys);
    IPC_FIELDS.forEach((f, i) => {
      this.insertKey(keys[i]!, { read: () => encodeStat(f.type, f.read(conn)) });
    });
    this.announceAdded(keys);
  }

  /**
   * A closed IPC connection: removes its keys (DELETE notifications with the last values),
   * active − 1, closed + 1. Returns false when the connection was not registered.
   */
  removeIpcConnection(conn: IpcConnectionStats): boolean {
    const keys = this.connections.get(conn);
    if (!keys) return false;
    const last = keys.map((k) => this.get(k));
    this.connections.delete(conn);
    this.ipcClosed++;
    this.removeKeys(keys, last);
    return true;
  }

  /** Registered connections (for the IPC server and tests). */
  ipcConnections(): IpcConnectionStats[] {
    return [...this.connections.keys()];
  }

  /**
   * Plugs in a provider of keys under `prefix` (must start with `stats.`). Its current keys are
   * added at once (ADD notifications). CS_ERR_EXIST when a key is already in the map;
   * CS_ERR_INVALID_PARAM when a key is outside the prefix.
   */
  registerSource(prefix: string, source: StatsSource): StatsSourceHandle {
    if (!prefix.startsWith('stats.') || prefix.startsWith(STATS_CLEAR_PREFIX)) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `bad stats source prefix '${prefix}'`);
    }
    const rec: SourceRecord = { prefix, source, keys: new Set(), registered: true };
    const initial = this.checkNewSourceKeys(rec, source.keys());
    this.sources.push(rec);
    this.addSourceKeys(rec, initial);
    return {
      keysAdded: (keys) => {
        if (!rec.registered) return;
        this.addSourceKeys(rec, this.checkNewSourceKeys(rec, keys));
      },
      keysRemoved: (keys) => {
        if (!rec.registered) return;
        const gone = [...keys].filter((k) => rec.keys.has(k));
        for (const k of gone) rec.keys.delete(k);
        this.removeKeys(
          gone,
          gone.map((k) => this.get(k)),
        );
      },
      unregister: () => {
        if (!rec.registered) return;
        rec.registered = false;
        const gone = [...rec.keys];
        const last = gone.map((k) => this.get(k));
        rec.keys.clear();
        this.sources.splice(this.sources.indexOf(rec), 1);
        this.removeKeys(gone, last);
      },
    };
  }

  // ----- internals -------------------------------------------------------------------------

  private denyWrite(key: string): void {
    if (key.startsWith(STATS_CLEAR_PREFIX)) {
      throw new CsError(CsErrorCode.CS_ERR_NOT_SUPPORTED, `'${key}' is a write-only clear key`);
    }
    throw new CsError(CsErrorCode.CS_ERR_ACCESS, `stats key '${key}' is read-only`);
  }

  private clearIpc(): void {
    this.ipcClosed = 0;
    for (const c of this.connections.keys()) {
      c.sent = 0;
      c.invalidRequest = 0;
      c.overload = 0;
      c.requests = 0;
      c.responses = 0;
      c.dispatched = 0;
      c.sendRetries = 0;
      c.recvRetries = 0;
      c.flowControlCount = 0;
    }
  }

  /** Removes every `stats.schedmiss.*` key (silently) and forgets the events. */
  private clearSchedMiss(): void {
    const keys = [...this.schedMissOwned];
    this.schedMissOwned.clear();
    this.schedMissEvents = [];
    this.removeKeys(
      keys,
      keys.map(() => undefined),
    );
  }

  private readSchedMiss(n: number, field: 'timestamp' | 'delay'): StoredValue | undefined {
    const ev = this.schedMissEvents[n];
    if (!ev) return undefined;
    if (field === 'timestamp') return encodeStat(CmapValueType.UINT64, ev.timestamp);
    const bytes = Buffer.alloc(4);
    writeFloatLE(bytes, ev.delay, 0);
    return { type: CmapValueType.FLOAT, bytes };
  }

  private clearSources(target: StatsClearTarget): void {
    for (const rec of [...this.sources]) rec.source.clear?.(target);
  }

  private checkNewSourceKeys(rec: SourceRecord, keys: Iterable<string>): string[] {
    const list = [...keys];
    const seen = new Set<string>();
    for (const k of list) {
      if (!k.startsWith(rec.prefix)) {
        throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `key '${k}' is outside '${rec.prefix}'`);
      }
      if (this.entries.has(k) || seen.has(k)) {
        throw new CsError(CsErrorCode.CS_ERR_EXIST, `stats key '${k}' already exists`);
      }
      seen.add(k);
    }
    return list;
  }

  private addSourceKeys(rec: SourceRecord, keys: readonly string[]): void {
    for (const k of keys) {
      rec.keys.add(k);
      this.insertKey(k, { read: () => rec.source.get(k) });
    }
    this.announceAdded(keys);
  }

  private insertKey(key: string, entry: StatsEntry): void {
    this.entries.set(key, entry);
    this.index.insert(key);
  }

  /** ADD notifications for keys already inserted (value read at notification time). */
  private announceAdded(keys: readonly string[]): void {
    if (this.trackers.size === 0) return;
    const errors = new FirstError();
    for (const k of keys) {
      if (k.startsWith(STATS_SCHEDMISS_PREFIX)) continue;
      const list = this.trackers.collect(k, TrackFlags.ADD);
      if (!list) continue;
      const v = this.get(k);
      if (!v) continue;
      errors.run(() =>
        TrackerRegistry.deliver(list, { event: TrackFlags.ADD, key: k, newValue: v, oldValue: v }),
      );
    }
    errors.rethrow();
  }

  /** Removes keys one by one, each followed by its DELETE notification carrying `last[i]`. */
  private removeKeys(keys: readonly string[], last: readonly (StoredValue | undefined)[]): void {
    const errors = new FirstError();
    keys.forEach((k, i) => {
      this.entries.delete(k);
      this.index.remove(k);
      if (k.startsWith(STATS_SCHEDMISS_PREFIX)) return;
      const list = this.trackers.collect(k, TrackFlags.DELETE);
      const v = last[i];
      if (!list || !v) return;
      errors.run(() =>
        TrackerRegistry.deliver(list, { event: TrackFlags.DELETE, key: k, newValue: v, oldValue: v }),
      );
    });
    errors.rethrow();
  }
}
