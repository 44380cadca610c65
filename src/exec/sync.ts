/**
 * The sync protocol (spec services-exec.md §5; corosync 3.1.7 exec/sync.c), as a pure state
 * machine. After every REGULAR configuration change each sync-capable service runs
 * `init → process (until done) → barrier → activate`, one service at a time in ascending id
 * order, with a cluster-wide barrier between services:
 *
 * 1. `start()` multicasts SERVICE_BUILD (ring id + local sync service ids) and calls `init` of
 *    every locally known sync service at once.
 * 2. Every member's SERVICE_BUILD for the current ring is collected; ids this node does not
 *    know are added as dummy services (process = done, activate/abort = nothing), so every
 *    node walks the union of all lists. When all members' lists are in: PROCESS.
 * 3. PROCESS: the "process worker" ({@link SyncEngine.runPending}) calls the current service's
 *    `process()` until it reports done, then multicasts a BARRIER (state BARRIER).
 * 4. When every member's BARRIER for the current ring is in, the current service is activated
 *    and the next one enters PROCESS; after the last one the round is complete.
 *
 * Messages carry only the ring id, not the service index: correctness relies on totem's agreed
 * order (a node cannot send the barrier for service i+1 before it has seen all barriers for i).
 *
 * Where this differs from exec/sync.c, on purpose (none of it is visible on the wire):
 * - A send refused with TRY_AGAIN (totem queue full) is retried by the next `runPending()`
 *   instead of being lost (C ignores the result, which would stall the round forever).
 * - After `abort()` the ring id is "none" rather than all-zero, so nothing matches it.
 * - The current service's `abort` runs once per aborted round; C calls it again on the
 *   REGULAR confchg that follows the TRANSITIONAL one (its state stays PROCESS).
 * - Messages from nodes outside the member list are ignored entirely (C still merges such a
 *   node's service list); a SERVICE_BUILD outside SERVICELIST_BUILD (duplicate) or a BARRIER
 *   outside PROCESS/BARRIER is ignored. None of these can happen under EVS.
 * - A hook that throws is logged and treated as if it had returned normally (`process` as
 *   done), so a bug in one service cannot stall the cluster's sync.
 *
 * Known upstream weakness kept (spec §5.4): when a round is aborted in SERVICELIST_BUILD or
 * BARRIER state, no service's `abort` is called; services already activated stay activated and
 * services initialised but not reached get no abort. Each round calls `init` afresh, so `init`
 * must fully reset a service's per-round state.
 *
 * Pure (DESIGN.md rule 1): no clocks or timers. Sends go through the `send` function given at
 * construction, which must only queue the message (totempg's mcast), never deliver anything
 * synchronously; the owner (src/exec/engine.ts) runs `runPending()` as its scheduler.
 */
import { Buffer } from 'node:buffer';
import type { SyncHooks } from './service-engine.js';
import { CsErrorCode } from '../common/errors.js';
import type { RingId } from '../totem/wire/index.js';
import { formatRingId, ringIdEquals } from '../totem/wire/seq.js';
import {
  type SyncBarrier,
  type SyncServiceBuild,
  decodeSyncMessage,
  encodeSyncBarrier,
  encodeSyncServiceBuild,
} from './sync-codec.js';

/** A locally known sync-capable service. */
export interface SyncService {
  readonly id: number;
  /** Name for logs ("Committing synchronization for <name>"). */
  readonly name: string;
  readonly hooks: SyncHooks;
}

export interface SyncLogger {
  debug(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface SyncEngineOptions {
  /** The sync services loaded on this node (read at every round start). */
  localServices(): readonly SyncService[];
  /**
   * Multicast one sync message in totempg group "sync" (AGREED). Returns CS_OK or
   * CS_ERR_TRY_AGAIN. Must only queue: nothing may be delivered back synchronously.
   */
  send(message: Buffer): number;
  /** The round for `ringId` completed (corosync's `corosync_sync_completed`). */
  completed(ringId: RingId): void;
  log: SyncLogger;
}

/** corosync's `enum sync_state`. */
export type SyncState = 'servicelist-build' | 'process' | 'barrier';

/** One entry of the round's service list (`struct service_entry`). */
interface ServiceEntry {
  readonly id: number;
  readonly name: string;
  /** undefined = dummy for a service another node runs and we do not. */
  readonly hooks: SyncHooks | undefined;
  /** Per-service sub-state. */
  sub: 'process' | 'activate';
}

interface Processor {
  readonly nodeid: number;
  received: boolean;
}

/** Counters for logs and stats. */
export interface SyncStats {
  /** Rounds started / completed / aborted (abort() while a round ran). */
  roundsStarted: number;
  roundsCompleted: number;
  roundsAborted: number;
  /** Messages of another ring (or received after an abort) discarded. */
  oldRing: number;
  /** Messages refused by the codec (malformed, other byte order). */
  malformed: number;
  /** Messages from nodes outside the member list, or in a state that cannot take them. */
  ignored: number;
  /** Sends refused by totem and queued for a retry. */
  sendRetries: number;
  /** Hooks that threw. */
  hookErrors: number;
}

/** The name corosync gives a dummy entry (without its stray trailing newline). */
export function unknownServiceName(id: number): string {
  return `Unknown External Service (id = ${id})`;
}

export class SyncEngine {
  readonly stats: SyncStats = {
    roundsStarted: 0,
    roundsCompleted: 0,
    roundsAborted: 0,
    oldRing: 0,
    malformed: 0,
    ignored: 0,
    sendRetries: 0,
    hookErrors: 0,
  };

  private readonly opts: SyncEngineOptions;
  /** corosync starts in BARRIER. */
  private myState: SyncState = 'barrier';
  /** The current round's ring; undefined before the first round and after an abort. */
  private ring: RingId | undefined;
  private processors: Processor[] = [];
  private memberList: number[] = [];
  private transList: number[] = [];
  private services: ServiceEntry[] = [];
  private index = 0;
  /** A round is between start() and completion/abort. */
  private running = false;
  /** The process worker is scheduled (corosync's schedwrk handle). */
  private workerScheduled = false;
  /** Own sync messages refused by totem, to send again (in order) before anything else. */
  private unsent: Buffer[] = [];

  constructor(opts: SyncEngineOptions) {
    this.opts = opts;
  }

  // ---------------------------------------------------------------------------------------
  // Observers

  get state(): SyncState {
    return this.myState;
  }

  /** The ring of the current round (undefined before the first round and after an abort). */
  get ringId(): RingId | undefined {
    return this.ring;
  }

  /** A round is in progress (started, neither completed nor aborted). */
  get inRound(): boolean {
    return this.running;
  }

  /** The round's service ids in processing order (union of all members' lists once known). */
  get serviceList(): readonly number[] {
    return this.services.map((s) => s.id);
  }

  /** The service being synchronised, if a round runs and has not finished its list. */
  get currentService(): { id: number; name: string; dummy: boolean } | undefined {
    if (!this.running) return undefined;
    const s = this.services[this.index];
    return s ? { id: s.id, name: s.name, dummy: s.hooks === undefined } : undefined;
  }

  /** The transitional list the round's `init` calls got (saved list ∩ new members). */
  get transitionalList(): readonly number[] {
    return this.transList;
  }

  /** True when `runPending()` has work: the process worker is scheduled or a send awaits retry. */
  get hasPendingWork(): boolean {
    return this.unsent.length > 0 || this.workerScheduled;
  }

  // ---------------------------------------------------------------------------------------
  // Configuration changes (called by the exec engine in corosync's confchg order)

  /** `sync_save_transitional`: remember the transitional member list. */
  saveTransitional(members: readonly number[]): void {
    this.transList = [...members];
  }

  /** `sync_start` on a REGULAR configuration: a fresh round for `members` / `ringId`. */
  start(members: readonly number[], ringId: RingId): void {
    this.ring = ringId;
    this.processors = [];
    for (const nodeid of members) {
      if (!this.processors.some((p) => p.nodeid === nodeid))
        this.processors.push({ nodeid, received: false });
    }
    this.memberList = [...members];
    this.index = 0;
    this.workerScheduled = false;
    this.unsent = [];
    this.myState = 'servicelist-build';
    this.running = true;
    this.stats.roundsStarted++;

    const seen = new Set<number>();
    this.services = [];
    for (const s of this.opts.localServices()) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      this.services.push({ id: s.id, name: s.name, hooks: s.hooks, sub: 'process' });
    }
    this.services.sort((a, b) => a.id - b.id);

    this.transmit(
      encodeSyncServiceBuild(
        ringId,
        this.services.map((s) => s.id),
      ),
    );

    // effective transitional list: the saved one restricted to the new members, saved order
    const inMembers = new Set(members);
    this.transList = this.transList.filter((n) => inMembers.has(n));

    this.opts.log.debug('call init for locally known services');
    for (const s of this.services) {
      const hooks = s.hooks;
      if (hooks) this.guard(s, 'init', () => hooks.init(this.transList, this.memberList, ringId));
    }
  }

  /**
   * `sync_abort`: a new configuration arrived. If the current service has not finished its
   * process step, its worker is cancelled and its `abort` called; in any case the round's ring
   * is forgotten so that late messages of the old round are discarded.
   */
  abort(): void {
    if (this.running) {
      this.stats.roundsAborted++;
      if (this.myState === 'process' && this.workerScheduled) {
        this.workerScheduled = false;
        const s = this.services[this.index];
        const hooks = s?.hooks;
        if (s && hooks) this.guard(s, 'abort', () => hooks.abort());
      }
    }
    this.running = false;
    this.workerScheduled = false;
    this.unsent = [];
    this.ring = undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Messages of group "sync", in agreed order (own messages included)

  deliver(from: number, message: Buffer, endianConvert = false): void {
    const r = decodeSyncMessage(message, endianConvert);
    if (!r.ok) {
      this.stats.malformed++;
      this.opts.log.warn(`sync: dropped a message from node ${from}: ${r.error}`);
      return;
    }
    if (r.value.kind === 'barrier') this.onBarrier(from, r.value);
    else this.onServiceBuild(from, r.value);
  }

  // ---------------------------------------------------------------------------------------
  // The process worker

  /**
   * Run the scheduled work once: first any own sync message totem refused earlier, then, if the
   * current service is in PROCESS, one call of its `process()`; when that reports done, its
   * BARRIER is multicast. Never loops: one `process()` call at most. Returns `hasPendingWork`.
   * corosync runs this on every token this node sends; any scheduler that keeps calling it
   * while it returns true works (the service's own messages always precede its BARRIER).
   */
  runPending(): boolean {
    if (!this.flushUnsent()) return true;
    if (!this.workerScheduled || this.myState !== 'process') return this.hasPendingWork;
    const s = this.services[this.index];
    if (!s || s.sub !== 'process') {
      this.workerScheduled = false;
      return this.hasPendingWork;
    }
    let done = true;
    const hooks = s.hooks;
    if (hooks) {
      this.guard(s, 'process', () => {
        done = hooks.process();
      });
    }
    if (!done) return true;
    this.workerScheduled = false;
    this.myState = 'barrier';
    if (this.ring) this.transmit(encodeSyncBarrier(this.ring));
    return this.hasPendingWork;
  }

  // ---------------------------------------------------------------------------------------
  // Handlers

  private onServiceBuild(from: number, m: SyncServiceBuild): void {
    if (!this.ring || !ringIdEquals(this.ring, m.ringId)) {
      this.stats.oldRing++;
      this.opts.log.debug('service build for old ring - discarding');
      return;
    }
    const p = this.processors.find((x) => x.nodeid === from);
    if (!p) {
      this.stats.ignored++;
      this.opts.log.debug(
        `sync: service build from node ${from}, not a member of ring ${formatRingId(m.ringId)}`,
      );
      return;
    }
    if (this.myState !== 'servicelist-build' || !this.running) {
      this.stats.ignored++;
      this.opts.log.debug(`sync: service build from node ${from} after the service list was complete`);
      return;
    }
    let added = false;
    for (const id of m.services) {
      if (this.services.some((s) => s.id === id)) continue;
      this.services.push({ id, name: unknownServiceName(id), hooks: undefined, sub: 'process' });
      added = true;
    }
    if (added) this.services.sort((a, b) => a.id - b.id);
    p.received = true;
    if (this.processors.every((x) => x.received)) {
      this.opts.log.debug('enter sync process');
      this.processEnter();
    }
  }

  private onBarrier(from: number, m: SyncBarrier): void {
    if (!this.ring || !ringIdEquals(this.ring, m.ringId)) {
      this.stats.oldRing++;
      this.opts.log.debug('barrier for old ring - discarding');
      return;
    }
    const p = this.processors.find((x) => x.nodeid === from);
    if (!p) {
      this.stats.ignored++;
      this.opts.log.debug(`sync: barrier from node ${from}, not a member of ring ${formatRingId(m.ringId)}`);
      return;
    }
    const s = this.services[this.index];
    if (!this.running || this.myState === 'servicelist-build' || !s) {
      this.stats.ignored++;
      this.opts.log.debug(`sync: barrier from node ${from} outside the process phase`);
      return;
    }
    p.received = true;
    if (!this.processors.every((x) => x.received)) return;
    this.opts.log.debug(`Committing synchronization for ${s.name}`);
    s.sub = 'activate';
    const hooks = s.hooks;
    if (hooks) this.guard(s, 'activate', () => hooks.activate());
    this.index++;
    if (this.index === this.services.length) this.complete();
    else this.processEnter();
  }

  /** `sync_process_enter`. */
  private processEnter(): void {
    this.myState = 'process';
    if (this.services.length === 0) {
      this.myState = 'servicelist-build';
      this.complete();
      return;
    }
    for (const p of this.processors) p.received = false;
    this.workerScheduled = true;
  }

  private complete(): void {
    const ring = this.ring!;
    this.running = false;
    this.workerScheduled = false;
    this.stats.roundsCompleted++;
    this.opts.completed(ring);
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  /** Send, or keep for a retry (after what is already waiting, to keep the order). */
  private transmit(msg: Buffer): void {
    this.unsent.push(msg);
    this.flushUnsent();
  }

  /** Send what waits, in order; false when totem refused one (it stays first in line). */
  private flushUnsent(): boolean {
    while (this.unsent.length > 0) {
      const res = this.opts.send(this.unsent[0]!);
      if (res !== CsErrorCode.CS_OK) {
        this.stats.sendRetries++;
        return false;
      }
      this.unsent.shift();
    }
    return true;
  }

  private guard(s: ServiceEntry, what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.stats.hookErrors++;
      this.opts.log.error(
        `sync ${what} of ${s.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
  }
}
