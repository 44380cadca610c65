/**
 * The exec layer (spec services-exec.md §2–§5; corosync 3.1.7 exec/main.c, exec/service.c):
 * the registry of service engines, routing of totempg group "a" messages to them, the
 * configuration-change sequence of `confchg_fn`, and the sync engine (src/exec/sync.ts) on
 * group "sync". Pure: no sockets, timers or clocks.
 *
 * How the runtime drives it (src/daemon/totem-runtime.ts):
 *
 * - totempg: one instance "main" that wants confchgs and joins group "a", one instance "sync"
 *   that joins group "sync". Every up-call goes to {@link ExecEngine.handleUpcall} (or to
 *   `deliver` / `confchg` directly; then do not also pass pg's confchg up-calls).
 * - `send(group, iov, guarantee)` is `pg.mcastGroups([group], iov, guarantee)` and nothing
 *   more: it must not pump srp/pg or deliver anything synchronously. (Should it ever re-enter,
 *   the engine defers calls that arrive during one of its steps until that step ends, but
 *   pumping from inside a send would still re-enter the runtime.)
 * - After each pump (a received datagram, a timer, a local send) call
 *   {@link ExecEngine.runPending}: the sync "process worker" (corosync runs it on every token
 *   this node sends). It makes at most one `process()` call per call and never loops, so
 *   calling it once per pump is enough; it returns whether work is still pending.
 * - After every call into the engine (handleUpcall, runPending, register, a service's IPC
 *   handler), take {@link ExecEngine.drain} and apply its effects:
 *   `sync-started` / `sync-completed` → recompute IPC flow control; on `sync-completed` call
 *   `srp.transAck()` (totempg may release the transitional messages), and when `first` is set
 *   allow IPC connections and notify systemd; `shutdown-request` → start a normal shutdown.
 *   The engine itself logs "Completed service synchronization, ready to provide service.".
 * - `ready` (the first sync completed) is the IPC admission flag; `syncInProgress` makes
 *   flow-control-required lib functions answer CS_ERR_TRY_AGAIN (§4.2).
 *
 * icmap keys written here (§3.1): `internal_configuration.service.<id>.{name,ver}`,
 * `runtime.services.<suffix>.service_id`, `runtime.services.<suffix>.<fn>.{tx,rx}` (u64,
 * fast-incremented per message sent/received). `runtime.members.*` belong to the runtime.
 */
import { Buffer } from 'node:buffer';
import type { FastCounter, Icmap } from '../cmap/icmap.js';
import { CmapValueType } from '../cmap/types.js';
import type { PgUpcall } from '../totem/pg.js';
import type { RingId } from '../totem/wire/index.js';
import { ZERO_RING_ID, formatRingId } from '../totem/wire/seq.js';
import {
  EXEC_GROUP_NAME,
  SERVICES_COUNT_MAX,
  SYNC_GROUP_NAME,
  TotemGuarantee,
  decodeExecHeader,
} from './codec.js';
import type { ExecApi, ServiceEngine } from './service-engine.js';
import { SyncEngine, type SyncService } from './sync.js';

export type ExecGroup = 'a' | 'sync';

export interface ExecLogger {
  debug(msg: string): void;
  info(msg: string): void;
  notice(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface ExecEngineOptions {
  nodeId: number;
  icmap: Icmap;
  /**
   * Multicast `iov` (concatenated) in totempg group `group`. Returns CS_OK or
   * CS_ERR_TRY_AGAIN. Must only queue (pg.mcastGroups), never pump or deliver synchronously.
   */
  send(group: ExecGroup, iov: readonly Buffer[], guarantee: number): number;
  log: ExecLogger;
}

/** What the runtime must do after an engine step (see the file comment). */
export type ExecEffect =
  /** A configuration change started a sync (sync_in_process 0 → 1). */
  | { readonly kind: 'sync-started'; readonly ringId: RingId }
  /** The sync round of `ringId` completed; `first` = the first since start (IPC may open). */
  | { readonly kind: 'sync-completed'; readonly ringId: RingId; readonly first: boolean }
  /** A service asked for a normal shutdown (e.g. cmap's config_version check). */
  | { readonly kind: 'shutdown-request'; readonly reason: string };

/** What `drain` returns when nothing happened. */
const NO_EFFECTS: readonly ExecEffect[] = Object.freeze([]);

/** Counters of the exec layer (for logs and the stats map). */
export interface ExecStats {
  /** Group "a" messages handed to a service. */
  delivered: number;
  /** Refused by the header codec (truncated, size mismatch, bad id). */
  malformed: number;
  /** Refused because the sender has the other byte order (policy of src/exec/codec.ts). */
  endianRefused: number;
  /** For a service that is not loaded here (dropped silently, as corosync does). */
  notLoaded: number;
  /** fn id beyond the service's exec functions. */
  unknownFn: number;
  /** A service's handler threw (logged; the daemon carries on). */
  serviceErrors: number;
  /** Messages of groups other than "a" and "sync". */
  unknownGroup: number;
}

interface Registered {
  readonly engine: ServiceEngine;
  readonly suffix: string;
  /** The counters of runtime.services.<suffix>.<fn>.tx / .rx, by fn (see Icmap.counter). */
  readonly txCounters: FastCounter[];
  readonly rxCounters: FastCounter[];
  unloaded: boolean;
}

/** `corosync_cmap` → `cmap`: the part after the last `_` (runtime.services.<suffix>). */
export function serviceSuffix(defaultName: string): string {
  const i = defaultName.lastIndexOf('_');
  return i < 0 ? defaultName : defaultName.slice(i + 1);
}

export class ExecEngine {
  readonly nodeId: number;
  readonly sync: SyncEngine;
  readonly stats: ExecStats = {
    delivered: 0,
    malformed: 0,
    endianRefused: 0,
    notLoaded: 0,
    unknownFn: 0,
    serviceErrors: 0,
    unknownGroup: 0,
  };

  private readonly opts: ExecEngineOptions;
  private readonly table: (Registered | undefined)[] = new Array<Registered | undefined>(SERVICES_COUNT_MAX);
  /** In link order. */
  private readonly linked: Registered[] = [];
  private readonly api: ExecApi;
  /** corosync's sync_in_process: starts at 1 (no sync has completed yet). */
  private syncRunning = true;
  private firstSyncDone = false;
  private ring: RingId = ZERO_RING_ID;
  private memberList: readonly number[] = [];
  private effects: ExecEffect[] = [];
  /** Inside an engine step: calls that arrive meanwhile wait in `deferred`. */
  private busy = false;
  /** What the sync's process worker returned in the last runPending step. */
  private pendingAfterStep = false;
  /** Group names of deliver up-calls by their Buffer (see handleUpcall). */
  private readonly groupNames = new WeakMap<Buffer, string>();
  private deferred: Array<() => void> = [];
  /** Senders whose other byte order was already reported (log once per node). */
  private readonly endianLogged = new Set<number>();

  constructor(opts: ExecEngineOptions) {
    this.opts = opts;
    this.nodeId = opts.nodeId;
    this.sync = new SyncEngine({
      localServices: () => this.syncServices(),
      send: (msg) => opts.send(SYNC_GROUP_NAME, [msg], TotemGuarantee.AGREED),
      completed: (ringId) => this.syncCompleted(ringId),
      log: opts.log,
    });
    this.api = {
      nodeId: opts.nodeId,
      mcast: (serviceId, fn, iov, guarantee) => this.mcast(serviceId, fn, iov, guarantee),
      syncInProgress: () => this.syncRunning,
      ringId: () => this.ring,
      members: () => this.memberList,
    };
  }

  // ---------------------------------------------------------------------------------------
  // Observers

  /** corosync's `sync_in_process`: true from boot and from every confchg until sync completes. */
  get syncInProgress(): boolean {
    return this.syncRunning;
  }

  /** The first sync completed: IPC connections may be accepted (§4.1). */
  get ready(): boolean {
    return this.firstSyncDone;
  }

  /** The ring id of the last configuration change (transitional or regular). */
  get ringId(): RingId {
    return this.ring;
  }

  /** The last regular member list. */
  get members(): readonly number[] {
    return this.memberList;
  }

  /** The engine registered for `id`, if any. */
  service(id: number): ServiceEngine | undefined {
    const r = this.table[id];
    return r && !r.unloaded ? r.engine : undefined;
  }

  /** Loaded engines in link order. */
  services(): ServiceEngine[] {
    return this.linked.filter((r) => !r.unloaded).map((r) => r.engine);
  }

  /** The API handed to services (also usable by the runtime for tests). */
  get execApi(): ExecApi {
    return this.api;
  }

  /**
   * Effects produced since the last call, oldest first. Usually there are none (the runtime asks
   * after every token visit): then the same empty list every time, not a new one.
   */
  drain(): readonly ExecEffect[] {
    const out = this.effects;
    if (out.length === 0) return NO_EFFECTS;
    this.effects = [];
    return out;
  }

  /** Queue a shutdown request (for services' `requestShutdown` callbacks). */
  requestShutdown(reason: string): void {
    this.effects.push({ kind: 'shutdown-request', reason });
  }

  // ---------------------------------------------------------------------------------------
  // Linking (§3.1)

  /**
   * Link a service as corosync's service loader does: `init(api)` (exec_init_fn; a throw
   * means the daemon cannot start), then the icmap keys. Throws RangeError for an id outside
   * 0..63 or already linked.
   */
  register(engine: ServiceEngine): void {
    const id = engine.id;
    if (!Number.isInteger(id) || id < 0 || id >= SERVICES_COUNT_MAX) {
      throw new RangeError(`service id ${id} is not in 0..${SERVICES_COUNT_MAX - 1}`);
    }
    if (this.table[id] && !this.table[id].unloaded) {
      throw new RangeError(`service id ${id} is already linked (${this.table[id].engine.name})`);
    }
    if (!Number.isInteger(engine.execFnCount) || engine.execFnCount < 0 || engine.execFnCount > 0x10000) {
      throw new RangeError(`service ${id}: exec function count ${engine.execFnCount} is invalid`);
    }
    const suffix = serviceSuffix(engine.defaultName);
    const base = `runtime.services.${suffix}`;
    const txKeys = Array.from({ length: engine.execFnCount }, (_, fn) => `${base}.${fn}.tx`);
    const rxKeys = Array.from({ length: engine.execFnCount }, (_, fn) => `${base}.${fn}.rx`);
    const { icmap } = this.opts;
    const reg: Registered = {
      engine,
      suffix,
      txCounters: txKeys.map((k) => icmap.counter(k)),
      rxCounters: rxKeys.map((k) => icmap.counter(k)),
      unloaded: false,
    };
    this.step(() => {
      this.table[id] = reg;
      this.linked.push(reg);
      try {
        engine.init?.(this.api);
      } catch (err) {
        // exec_init_fn failed: corosync exits; leave nothing half-linked behind
        this.table[id] = undefined;
        this.linked.pop();
        throw err;
      }
      icmap.setValue(`internal_configuration.service.${id}.name`, {
        type: CmapValueType.STRING,
        value: engine.defaultName,
      });
      icmap.setValue(`internal_configuration.service.${id}.ver`, { type: CmapValueType.UINT32, value: 0 });
      icmap.setValue(`${base}.service_id`, { type: CmapValueType.UINT16, value: id });
      for (let fn = 0; fn < engine.execFnCount; fn++) {
        icmap.setValue(txKeys[fn]!, { type: CmapValueType.UINT64, value: 0n });
        icmap.setValue(rxKeys[fn]!, { type: CmapValueType.UINT64, value: 0n });
      }
      this.opts.log.notice(`Service engine loaded: ${engine.name} [${id}]`);
    });
  }

  /**
   * Unload services for shutdown (§3.3): highest priority first, ascending id within a
   * priority. A service whose `exit()` returns false ("busy") stops the walk; call again later.
   * Returns true when every service is unloaded. (The IPC servers are the runtime's to close.)
   */
  unloadServices(): boolean {
    const order = this.linked
      .filter((r) => !r.unloaded)
      .sort((a, b) => b.engine.priority - a.engine.priority || a.engine.id - b.engine.id);
    for (const r of order) {
      let done = true;
      this.step(() => {
        done = r.engine.exit ? r.engine.exit() !== false : true;
      });
      if (!done) return false;
      r.unloaded = true;
      this.opts.log.notice(`Service engine unloaded: ${r.engine.name}`);
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Sending (main_mcast)

  private mcast(serviceId: number, fn: number, iov: Buffer | readonly Buffer[], guarantee?: number): number {
    const r = this.table[serviceId];
    // corosync counts the attempt, before totem accepts or refuses it
    // as corosync, a send before the service's keys exist (votequorum's NODEINFO from init) is not counted
    if (r && !r.unloaded) r.txCounters[fn]?.incrementIfPresent();
    // the pieces are copied into totempg's packet before send returns: no copy of the array
    const pieces = Buffer.isBuffer(iov) ? [iov] : (iov as readonly Buffer[]);
    return this.opts.send(EXEC_GROUP_NAME, pieces, guarantee ?? TotemGuarantee.AGREED);
  }

  // ---------------------------------------------------------------------------------------
  // Input from totempg

  /**
   * One totempg up-call: deliveries of groups "a" and "sync", and configuration changes
   * (pass only those of one instance; the runtime gives confchgs to the "main" instance).
   * Queue-level up-calls are ignored here.
   */
  handleUpcall(u: PgUpcall): void {
    if (u.kind === 'deliver') {
      // totempg hands over the joined name's own Buffer: decode it once, not per message
      let group = this.groupNames.get(u.group);
      if (group === undefined) {
        group = u.group.toString('latin1');
        this.groupNames.set(u.group, group);
      }
      if (group === EXEC_GROUP_NAME || group === SYNC_GROUP_NAME) {
        this.deliver(group, u.from, u.message, u.endianConvert);
      } else {
        this.stats.unknownGroup++;
      }
    } else if (u.kind === 'confchg') {
      this.confchg(u.type, u.members, u.left, u.joined, u.ringId);
    }
  }

  /** A message of group "a" (exec routing, §2.2) or "sync" (the sync engine), in agreed order. */
  deliver(group: ExecGroup, from: number, message: Buffer, endianConvert = false): void {
    this.stepWith(this.deliverNow, group, from, message, endianConvert);
  }

  private deliverNow(group: ExecGroup, from: number, message: Buffer, endianConvert: boolean): void {
    if (group === SYNC_GROUP_NAME) this.sync.deliver(from, message, endianConvert);
    else this.route(from, message, endianConvert);
  }

  private route(from: number, message: Buffer, endianConvert: boolean): void {
    const { log } = this.opts;
    const h = decodeExecHeader(message, endianConvert);
    if (!h.ok) {
      if (h.code === 'endian-unsupported') {
        this.stats.endianRefused++;
        const text = `exec message from node ${from} refused: ${h.error}`;
        if (this.endianLogged.has(from)) log.debug(text);
        else {
          this.endianLogged.add(from);
          log.warn(text);
        }
      } else {
        this.stats.malformed++;
        log.warn(`exec message from node ${from} dropped: ${h.error}`);
      }
      return;
    }
    const { service, fn } = h.value;
    const r = this.table[service];
    if (!r || r.unloaded) {
      this.stats.notLoaded++;
      return;
    }
    if (fn >= r.engine.execFnCount) {
      this.stats.unknownFn++;
      log.warn(`discarded unknown message ${fn} for service ${service} (max id ${r.engine.execFnCount})`);
      return;
    }
    r.rxCounters[fn]!.increment();
    this.stats.delivered++;
    try {
      r.engine.deliver(fn, message, from);
    } catch (err) {
      this.stats.serviceErrors++;
      log.error(
        `${r.engine.name}: handler of message ${fn} from node ${from} failed: ` +
          `${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
  }

  /**
   * A configuration change (corosync's `confchg_fn` steps 1, 2, 5–7; the runtime keeps the
   * runtime.members.* keys): sync_in_process := 1, remember the ring, services' confchg,
   * abort a running sync, then save the transitional list or start a new round.
   */
  confchg(
    type: 'transitional' | 'regular',
    members: readonly number[],
    left: readonly number[],
    joined: readonly number[],
    ringId: RingId,
  ): void {
    this.step(() => {
      const wasRunning = this.syncRunning;
      if (!wasRunning) this.effects.push({ kind: 'sync-started', ringId });
      this.syncRunning = true;
      this.ring = ringId;
      if (type === 'regular') this.memberList = [...members];
      for (let id = 0; id < SERVICES_COUNT_MAX; id++) {
        const r = this.table[id];
        if (!r || r.unloaded || !r.engine.confchg) continue;
        try {
          r.engine.confchg(type, members, left, joined, ringId);
        } catch (err) {
          this.stats.serviceErrors++;
          this.opts.log.error(
            `${r.engine.name}: confchg failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
          );
        }
      }
      if (wasRunning) this.sync.abort();
      if (type === 'transitional') this.sync.saveTransitional(members);
      else this.sync.start(members, ringId);
    });
  }

  /**
   * The sync process worker (corosync: on every TOKEN_SENT). Call after each pump; at most one
   * service `process()` call per call. Returns true while sync work is pending.
   */
  runPending(): boolean {
    // the common case, after every token visit: no sync work waiting
    if (!this.sync.hasPendingWork && !this.busy) return false;
    this.pendingAfterStep = false;
    this.stepWith(this.runSyncPending, undefined, undefined, undefined, undefined);
    return this.pendingAfterStep || this.sync.hasPendingWork;
  }

  private runSyncPending(): void {
    this.pendingAfterStep = this.sync.runPending();
  }

  /** Alias of {@link runPending} named after the totem event corosync uses. */
  tokenSent(): boolean {
    return this.runPending();
  }

  // ---------------------------------------------------------------------------------------

  private syncServices(): SyncService[] {
    const out: SyncService[] = [];
    for (let id = 0; id < SERVICES_COUNT_MAX; id++) {
      const r = this.table[id];
      if (r && !r.unloaded && r.engine.sync) out.push({ id, name: r.engine.name, hooks: r.engine.sync });
    }
    return out;
  }

  /** corosync_sync_completed. */
  private syncCompleted(ringId: RingId): void {
    this.opts.log.notice('Completed service synchronization, ready to provide service.');
    this.opts.log.debug(`sync of ring ${formatRingId(ringId)} completed`);
    this.syncRunning = false;
    const first = !this.firstSyncDone;
    this.firstSyncDone = true;
    this.effects.push({ kind: 'sync-completed', ringId, first });
  }

  /**
   * Run `fn` as one engine step. A call that arrives while a step runs (a runtime that
   * delivered synchronously from inside a send) is deferred until the outer step ends, so a
   * service never sees a delivery in the middle of its own handler.
   */
  private step(fn: () => void): void {
    this.stepWith(fn, undefined, undefined, undefined, undefined);
  }

  /**
   * {@link step} of method `fn` with its arguments: the per-message callers (deliver,
   * runPending) pass a method and need no closure unless the call has to be deferred.
   */
  private stepWith<A, B, C, D>(
    fn: (this: ExecEngine, a: A, b: B, c: C, d: D) => void,
    a: A,
    b: B,
    c: C,
    d: D,
  ): void {
    if (this.busy) {
      this.deferred.push(() => fn.call(this, a, b, c, d));
      return;
    }
    this.busy = true;
    try {
      fn.call(this, a, b, c, d);
      this.runDeferred();
    } finally {
      this.busy = false;
    }
  }

  private runDeferred(): void {
    while (this.deferred.length > 0) this.deferred.shift()!();
  }
}
