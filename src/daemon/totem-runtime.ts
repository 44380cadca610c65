/**
 * The totem stack of a running node: the pure SRP core and totempg, driven by real time,
 * real timers and a real UDP transport. This file only moves bytes and effects between them:
 * datagrams → srp.receive; srp effects → sends, timers, deliveries to totempg, configuration
 * changes (runtime.members.* keys, logs), ringid persistence.
 */
import { Buffer } from 'node:buffer';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Icmap } from '../cmap/icmap.js';
import type { StatsMap, StatsSourceHandle } from '../cmap/stats.js';
import { CmapValueType } from '../cmap/types.js';
import { formatIp } from '../config/addr.js';
import type { TotemConfig } from '../config/totem.js';
import { TotemPg, type PgUpcall } from '../totem/pg.js';
import {
  MCAST_HEADROOM,
  SRP_TIMERS,
  TotemSrp,
  srpConfigFromTotem,
  type SrpConfChg,
  type SrpEffect,
} from '../totem/srp.js';
import { totemStatsSources, type SrpDerivedStats } from '../totem/stats-source.js';
import { MAX_NO_CONT_GATHER, MAX_NO_CONT_SENDMSG_FAILURES } from '../totem/token-stats.js';
import type { RingId } from '../totem/wire/index.js';
import type { TotemTransport } from '../transport/types.js';
import { loadQbNative } from '../ipc/libqb/native.js';
import type { SubsysLogger } from './logging.js';
import { readBigUInt64LE, writeBigUInt64LE } from '../common/bytes.js';

/** Name of the ring id file in the state directory, as corosync names it. */
export function ringIdFileName(nodeId: number): string {
  return `ringid_${nodeId}`;
}

/** Read the persisted ring seq (8 host-order bytes); 0 when absent or unreadable. */
export function readRingSeq(stateDir: string, nodeId: number): bigint {
  try {
    const buf = readFileSync(join(stateDir, ringIdFileName(nodeId)));
    return buf.length >= 8 ? readBigUInt64LE(buf, 0) : 0n;
  } catch {
    return 0n;
  }
}

/** Write the ring seq atomically (temp file + rename) so a crash never leaves half a file. */
export function writeRingSeq(stateDir: string, nodeId: number, seq: bigint): void {
  const buf = Buffer.alloc(8);
  writeBigUInt64LE(buf, seq);
  const path = join(stateDir, ringIdFileName(nodeId));
  writeFileSync(`${path}.tmp`, buf, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export interface TotemRuntimeOptions {
  totem: TotemConfig;
  icmap: Icmap;
  stats: StatsMap;
  logger: SubsysLogger;
  stateDir: string;
  transport: TotemTransport;
  /** Up-calls of totempg (group messages, confchg) for the layers above (exec/sync). */
  onUpcall?: (upcall: PgUpcall) => void;
  /** A configuration change after totempg saw it (the exec layer uses it). */
  onConfchg?: (confchg: SrpConfChg) => void;
  /**
   * Runs whenever the cores are quiet after a step (corosync runs its sync "process worker"
   * on every token sent); whatever it queues in totempg is picked up by the same pump.
   */
  idle?: () => void;
}

export class TotemRuntime {
  readonly srp: TotemSrp;
  readonly pg: TotemPg;
  /**
   * Per core timer (by its SRP_TIMERS index): the Node timeout armed and when it fires (NaN:
   * none), and the deadline the core wants (NaN: not armed; may be later than the timeout).
   * Typed arrays: the token timers are re-armed on every token visit, and a number stored in a
   * Map or a mixed-type field is a new heap object each time.
   */
  private readonly timeouts: Array<NodeJS.Timeout | undefined> = SRP_TIMERS.map(() => undefined);
  private readonly timeoutAt = new Float64Array(SRP_TIMERS.length).fill(NaN);
  private readonly deadlines = new Float64Array(SRP_TIMERS.length).fill(NaN);
  /**
   * The pause timer runs after the I/O of its loop turn: corosync's event loop serves sockets
   * before timers (HIGH against MED priority), so after a stall (SIGSTOP, a VM pause) the joins
   * that queued up meet the old timestamp and are flushed (srp.ts pauseFlush). libuv runs
   * timers first, and after a SIGCONT epoll_wait even returns EINTR, so the turn would refresh
   * the timestamp before any datagram was read.
   */
  private readonly timerFiredFns = SRP_TIMERS.map((t, i) => {
    const fire = (): void => this.timerFired(i);
    return t === 'pause' ? (): void => void setImmediate(fire) : fire;
  });
  private readonly statsHandles: StatsSourceHandle[] = [];
  private readonly addrByNode = new Map<number, string>();
  private stopped = false;
  private pumping = false;
  /**
   * The addon's monotonic clock (the same CLOCK_MONOTONIC as process.hrtime), read on every
   * token visit: it writes into `clockOut` where process.hrtime() allocates an array.
   */
  private readonly clock: ((out: Float64Array) => void) | undefined;
  private readonly clockOut = new Float64Array(1);
  private currentTotem: TotemConfig;
  /** The 1.5 s averages as of the last `updateDerivedStats` (corosync's stats timer). */
  private derivedStats: SrpDerivedStats = {
    mtt_rx_token: 0,
    avg_token_workload: 0,
    avg_backlog_calc: 0,
    time_since_token_last_received: 0,
  };
  /** The current regular configuration (members), for runtime.members and callers. */
  members: number[] = [];
  ringId: RingId | undefined;

  constructor(private readonly opts: TotemRuntimeOptions) {
    const { totem } = opts;
    this.currentTotem = totem;
    const addon = loadQbNative();
    this.clock = addon.ok ? addon.native.monotonicMs?.bind(addon.native) : undefined;
    this.srp = new TotemSrp(
      srpConfigFromTotem(totem),
      { ringSeq: readRingSeq(opts.stateDir, totem.nodeId) },
      {
        // totempg sends what it holds when the token arrives (corosync's TOKEN_RECEIVED
        // callback), inside the token step so the packet rides this token
        onTokenReceived: () => this.pg.tokenReceived(),
        // staged normal-phase messages must not be flushed into the transitional queue
        beforeWaitingTransAck: () => this.pg.tokenReceived(),
        // a join after a process pause: what queued up during the pause is stale
        discardQueued: () => opts.transport.discardQueued?.() ?? 0,
      },
    );
    this.pg = new TotemPg({
      lower: {
        mcast: (packet, guarantee) => this.srp.mcast(packet, guarantee),
        mcastPrepared: (buf, guarantee) => this.srp.mcastPrepared(buf, guarantee),
        headroom: MCAST_HEADROOM,
        avail: () => this.srp.avail(),
        // corosync's totempg signals TOTEM_EVENT_NEW_MSG on every send: releases a held token.
        // The hold-cancel (and the rep's re-sent token) leave at once, not after the rest of
        // the request that queued the message (its response, statistics, the after-request
        // pump): on a resting ring the cancel starts the token rotation this message waits
        // for (instrumented, 3 nodes: 22 µs from the signal to the send, 28 before; see
        // bench/README.md item 14).
        newMessage: () => this.messageComing(),
      },
      netMtu: totem.netMtu - 90,
    });
    for (const m of totem.interfaces[0]?.members ?? []) this.addrByNode.set(m.nodeid, formatIp(m.addr));
    opts.transport.onDatagram((bytes) => {
      if (this.stopped) return;
      this.srp.receive(this.now(), bytes);
      this.pump();
    });
  }

  private now(): number {
    if (this.clock) {
      this.clock(this.clockOut);
      return this.clockOut[0]!;
    }
    // process.hrtime, not performance.now(): the latter loads perf_hooks (~1 MB of idle RSS)
    const [sec, ns] = process.hrtime();
    return sec * 1000 + ns / 1e6;
  }

  async start(): Promise<void> {
    mkdirSync(this.opts.stateDir, { recursive: true });
    await this.opts.transport.open();
    const derived = (): SrpDerivedStats => this.derivedStats;
    for (const { prefix, source } of totemStatsSources({
      srp: () => this.srp.stats,
      derived,
      pg: () => this.pg.stats,
      clear: () => {
        for (const k of Object.keys(this.srp.stats) as Array<keyof typeof this.srp.stats>)
          this.srp.stats[k] = 0;
        this.pg.clearStats();
      },
    })) {
      this.statsHandles.push(this.opts.stats.registerSource(prefix, source));
    }
    this.srp.start(this.now());
    this.pump();
  }

  /**
   * corosync's 1.5 s totem stats update (the daemon's stats timer calls it before polling the
   * trackers): the token averages, time since the last token, and the firewall/NIC verdict
   * with its warning.
   */
  updateDerivedStats(): void {
    const s = this.srp.stats;
    this.derivedStats = this.srp.tokenStats.averages(this.now(), this.derivedStats);
    const gathering = s.continuous_gather > MAX_NO_CONT_GATHER;
    const sendFailing = s.continuous_sendmsg_failures > MAX_NO_CONT_SENDMSG_FAILURES;
    s.firewall_enabled_or_nic_failure = gathering || sendFailing ? 1 : 0;
    if (gathering || sendFailing) {
      const reason = gathering
        ? 'totem is continuously in gather state'
        : 'number of multicast sendmsg failures is above threshold';
      this.opts.logger.warn(
        'Totem is unable to form a cluster because of an operating system or network fault ' +
          `(reason: ${reason}). The most common cause of this message is that the local firewall is ` +
          'configured improperly.',
      );
    }
  }

  /**
   * A message is coming: totempg is sending one (its newMessage hook), or a client request that
   * will multicast was read (IpcServerOptions.beforeTotemRequest). Releases a held token now
   * (corosync's totempg signals TOTEM_EVENT_NEW_MSG on every send), and the hold-cancel leaves
   * at once, without the idle hook (callers are inside a request handler). On a
   * resting ring a non-rep's message waits for the rotation this starts; starting it before the
   * request's decoding, checks and packing takes that work off the message's way (bench
   * --steps, step 2). A request its handler then refuses costs one needless rotation. At the rep
   * holding the token nothing leaves here: the next pump takes the held token up again with the
   * staged message (srp.takeHeldToken).
   */
  messageComing(): void {
    if (!this.stopped && this.srp.newMessageSignal()) this.pump(false);
  }

  /** Multicast a totempg message to groups (returns CS_OK or CS_ERR_TRY_AGAIN). */
  mcastGroups(groups: readonly string[], payload: Buffer | Buffer[], guarantee = 0): number {
    const res = this.pg.mcastGroups(groups, payload, guarantee);
    this.pump();
    return res;
  }

  /**
   * Run the effects of the last core step(s) until both cores are quiet. The transport gathers
   * the sends of a step and hands them to the kernel together (segmented runs, see
   * UdpTransportBase.cork) as soon as the step's sends are over: before any other effect
   * (a token must not wait behind deliveries) and before the core runs again (it reuses its
   * token buffer). `runIdle` false: only the effects already queued, without the idle hook (for
   * a caller inside a request handler, where the sync worker must not run).
   */
  pump(runIdle = true): void {
    if (this.pumping) return; // re-entrant calls from up-calls: the outer loop picks their effects up
    this.pumping = true;
    const { transport } = this.opts;
    transport.cork?.();
    try {
      for (;;) {
        // a message queued while the rep held the token (srp.takeHeldToken); not from the early
        // signal (runIdle false), which comes before the request's message is staged
        if (runIdle && this.srp.wantsHeldToken) this.srp.takeHeldToken(this.now());
        const n = this.srp.drainEach(this.applyEffect);
        transport.flush?.();
        if (n > 0) continue;
        if (!runIdle) break;
        this.opts.idle?.();
        const more = this.srp.drainEach(this.applyEffect);
        transport.flush?.();
        // the idle hook (the sync worker) may have staged a message while the rep holds the token
        // in hand: that leaves no effect yet, only the retake the loop's top serves (without it a
        // message sent from idle waited for the next timer: 200 ms per sync step on one node)
        if (more === 0 && !this.srp.wantsHeldToken) break;
      }
    } finally {
      transport.uncork?.();
      this.pumping = false;
    }
  }

  private readonly applyEffect = (e: SrpEffect): void => this.apply(e);

  private apply(e: SrpEffect): void {
    const { transport, logger } = this.opts;
    if (e.kind !== 'send') transport.flush?.();
    switch (e.kind) {
      case 'send':
        if (e.to === 'all') transport.sendAll(e.bytes);
        else transport.sendTo(e.to, e.bytes);
        break;
      case 'timer':
        this.setTimer(e.index, e.armed ? e.at : NaN);
        break;
      case 'deliver': {
        const err = this.pg.deliver(e.from, e.payload, e.endianConvert);
        if (err) logger.debug(`totempg dropped a packet from ${e.from}: ${err.error}`);
        this.runUpcalls();
        break;
      }
      case 'confchg':
        this.updateMembers(e);
        this.pg.confchg(e.type, e.members, e.left, e.joined, e.ringId);
        this.runUpcalls();
        this.opts.onConfchg?.(e);
        break;
      case 'persistRingSeq':
        writeRingSeq(this.opts.stateDir, this.opts.totem.nodeId, e.seq);
        break;
      case 'tokenReceived':
        // handled inside the step by the onTokenReceived hook
        break;
      case 'waitingTransAck':
        this.pg.setWaitingTransAck(e.value);
        break;
      case 'log':
        if (e.level === 'notice') logger.notice(e.message);
        else if (e.level === 'warning') logger.warn(e.message);
        else logger.debug(e.message);
        break;
    }
  }

  private runUpcalls(): void {
    for (const u of this.pg.drain()) this.opts.onUpcall?.(u);
  }

  /** "r(0) ip(a.b.c.d) " as corosync's totem_ifaces_print formats a member's links. */
  private ifacesPrint(nodeid: number): string {
    const addr = this.addrByNode.get(nodeid);
    return addr ? `r(0) ip(${addr}) ` : '';
  }

  /**
   * runtime.members.<id>.{ip,join_count,status} as corosync's main.c keeps them, for both the
   * transitional and the regular configuration: left members become "left", joined members
   * "joined" with join_count 1 the first time and +1 on every later join.
   */
  private updateMembers(c: SrpConfChg): void {
    const { icmap, logger } = this.opts;
    for (const id of c.left) {
      icmap.setValue(`runtime.members.${id}.status`, { type: CmapValueType.STRING, value: 'left' });
      logger.debug(`Member left: ${this.ifacesPrint(id)}`);
    }
    for (const id of c.joined) {
      if (icmap.get(`runtime.members.${id}.ip`)) icmap.adjustInt(`runtime.members.${id}.join_count`, 1);
      else {
        icmap.setValue(`runtime.members.${id}.ip`, {
          type: CmapValueType.STRING,
          value: this.ifacesPrint(id),
        });
        icmap.setValue(`runtime.members.${id}.join_count`, { type: CmapValueType.UINT32, value: 1 });
      }
      icmap.setValue(`runtime.members.${id}.status`, { type: CmapValueType.STRING, value: 'joined' });
      logger.debug(`Member joined: ${this.ifacesPrint(id)}`);
    }
    if (c.type === 'regular') {
      this.members = [...c.members];
      this.ringId = c.ringId;
    }
  }

  /**
   * Arm (or cancel, `at` NaN) the core's timer `index`. The token timers are re-armed to a
   * later deadline on every token visit; instead of a clearTimeout/setTimeout pair each time,
   * the armed timeout is kept and, when it fires before the wanted deadline, re-armed for the
   * rest. Only a deadline earlier than the armed one replaces it.
   */
  private setTimer(index: number, at: number): void {
    if (this.stopped) {
      this.deadlines[index] = NaN;
      this.clearTimeout(index);
      return;
    }
    // Cancelled: the Node timeout stays and finds no deadline when it fires. The token
    // retransmit timer is cancelled by every token received and armed by every token sent
    // (thousands of times a second on a busy ring); re-using the pending timeout saves a
    // clearTimeout/setTimeout pair each time.
    this.deadlines[index] = at;
    if (Number.isNaN(at)) return;
    const armedAt = this.timeoutAt[index]!;
    if (armedAt <= at) return; // (false when none is armed: NaN)
    this.clearTimeout(index);
    this.armTimeout(index, at);
  }

  private armTimeout(index: number, at: number): void {
    const delay = Math.max(0, Math.ceil(at - this.now()));
    this.timeouts[index] = setTimeout(this.timerFiredFns[index]!, delay);
    this.timeoutAt[index] = at;
  }

  private clearTimeout(index: number): void {
    const handle = this.timeouts[index];
    if (handle === undefined) return;
    clearTimeout(handle);
    this.timeouts[index] = undefined;
    this.timeoutAt[index] = NaN;
  }

  private timerFired(index: number): void {
    this.timeouts[index] = undefined;
    this.timeoutAt[index] = NaN;
    const want = this.deadlines[index]!;
    if (this.stopped || Number.isNaN(want)) return;
    const now = this.now();
    // moved later since it was armed: wait for the rest
    if (want - now >= 1) {
      this.armTimeout(index, want);
      return;
    }
    this.deadlines[index] = NaN;
    // libuv's millisecond clock can fire a timer a fraction of a millisecond before
    // the monotonic clock reaches `at`; the core ignores early expiries, so never pass less
    this.srp.timerExpired(Math.max(now, want), SRP_TIMERS[index]!);
    this.pump();
  }

  /** Replace the transport's member list (cfg reload added or removed nodes). */
  transportSetMembers(members: Array<{ nodeid: number; addr: string }>): void {
    this.opts.transport.setMembers(members);
    this.addrByNode.clear();
    for (const m of members) this.addrByNode.set(m.nodeid, m.addr);
  }

  /** The totem configuration in use (start-up, then every reconfiguration). */
  get totemConfig(): TotemConfig {
    return this.currentTotem;
  }

  /**
   * Apply new totem timing/flow-control values at once (a cfg reload, or a cmap change of a
   * `totem.*` key), as corosync's SRP does by reading its shared totem_config.
   */
  reconfigure(totem: TotemConfig): void {
    this.currentTotem = totem;
    this.srp.reconfigure(srpConfigFromTotem(totem));
  }

  /** Leave the ring cleanly (the leave message), then stop timers and close the transport. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.srp.leave(this.now());
    this.pump();
    this.stopped = true;
    for (let i = 0; i < SRP_TIMERS.length; i++) this.clearTimeout(i);
    this.deadlines.fill(NaN);
    for (const h of this.statsHandles) h.unregister();
    await this.opts.transport.close();
  }
}
