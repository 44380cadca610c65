/**
 * A deterministic in-memory cluster of real {@link TotemSrp} cores: a virtual clock, one event
 * queue (a binary heap ordered by time, then insertion), per-node timers driven by the cores'
 * `timer` effects, and a network whose behaviour is a pluggable {@link NetModel}. Used by the
 * interaction tests (scripted, no faults) and by the simulator (seeded faults).
 *
 * Nothing here reads the real clock or Math.random: the same inputs give the same run.
 */
import { type SrpConfig, type SrpEffect, type SrpTimer, TotemSrp } from '../../src/totem/srp.js';
import { describeDatagram } from './describe.js';

/** What the network does with one datagram from → to: drop it, or deliver after `delay` ms. */
export type NetDecision = { drop: true } | { drop: false; delay: number; dup?: number };

export interface NetModel {
  decide(now: number, from: number, to: number, bytes: Buffer): NetDecision;
}

/** A lossless network with a fixed latency (0 = same instant, FIFO). */
export class PerfectNet implements NetModel {
  constructor(private readonly latency = 0) {}
  decide(): NetDecision {
    return { drop: false, delay: this.latency };
  }
}

export interface Recorded {
  t: number;
  node: number;
  /** Incarnation of the node (bumped by every boot and crash). */
  inc: number;
  effect: SrpEffect;
}

type Ev =
  | { kind: 'net'; at: number; n: number; from: number; to: number; bytes: Buffer }
  | { kind: 'timer'; at: number; n: number; node: number; timer: SrpTimer; inc: number; due: number }
  | { kind: 'call'; at: number; n: number; fn: () => void };

class Heap {
  private a: Ev[] = [];
  get size(): number {
    return this.a.length;
  }
  push(e: Ev): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[i]!, a[p]!)) {
        [a[i], a[p]] = [a[p]!, a[i]!];
        i = p;
      } else break;
    }
  }
  peek(): Ev | undefined {
    return this.a[0];
  }
  pop(): Ev | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: Ev, y: Ev): boolean {
  return x.at < y.at || (x.at === y.at && x.n < y.n);
}

/** Hooks an application (the simulator's) installs on a node. */
export interface NodeApp {
  onEffect?(node: SimNode, e: SrpEffect): void;
}

export class SimNode {
  srp: TotemSrp | null = null;
  /** Incarnation: bumped on crash, so events of a previous life are ignored. */
  inc = 0;
  /** Persisted ring seq (the ringid file). */
  persisted = 0n;
  /** Paused until this time: arriving events are deferred. */
  pausedUntil = 0;
  readonly timers = new Map<SrpTimer, number>();
  constructor(
    readonly id: number,
    readonly cfg: SrpConfig,
  ) {}
  get alive(): boolean {
    return this.srp !== null && !this.srp.isStopped;
  }
}

export interface ClusterOptions {
  net?: NetModel;
  /** Keep every effect in `history` (the checkers read it). Default true. */
  record?: boolean;
  /** Keep a textual trace of every datagram and state change. Default false. */
  trace?: boolean;
  /** Trace only from this virtual time on (ms). */
  traceFrom?: number;
  /** Trace only up to this virtual time (ms). */
  traceTo?: number;
  /**
   * Keep at most about this many trace lines, dropping the oldest (long seeds run tens of
   * millions of events; a full trace does not fit in memory). Default 200 000.
   */
  traceLimit?: number;
}

export class Cluster {
  now = 0;
  readonly nodes = new Map<number, SimNode>();
  readonly history: Recorded[] = [];
  readonly trace: string[] = [];
  /** Datagrams put on the wire (after the sender, before the network decides). */
  readonly wire: { t: number; from: number; to: number; bytes: Buffer }[] = [];
  net: NetModel;
  app: NodeApp = {};
  recordWire = false;
  private readonly heap = new Heap();
  private n = 0;
  private readonly record: boolean;
  private readonly tracing: boolean;
  private readonly traceFrom: number;
  private readonly traceTo: number;
  private readonly traceLimit: number;
  events = 0;
  /** Encapsulated (recovery) MCAST copies put on the wire. */
  encapsulatedSent = 0;
  /** Every core ever booted (for summing stats). */
  readonly cores: TotemSrp[] = [];

  constructor(configs: SrpConfig[], opts: ClusterOptions = {}) {
    for (const c of configs) this.nodes.set(c.nodeId, new SimNode(c.nodeId, c));
    this.net = opts.net ?? new PerfectNet();
    this.record = opts.record ?? true;
    this.tracing = opts.trace ?? false;
    this.traceFrom = opts.traceFrom ?? 0;
    this.traceTo = opts.traceTo ?? Infinity;
    this.traceLimit = opts.traceLimit ?? 200_000;
  }

  node(id: number): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  srp(id: number): TotemSrp {
    const s = this.node(id).srp;
    if (!s) throw new Error(`node ${id} is down`);
    return s;
  }

  /** Whether a trace line written now would be kept (callers skip building costly lines). */
  get tracingNow(): boolean {
    return this.tracing && this.now >= this.traceFrom && this.now <= this.traceTo;
  }

  log(line: string): void {
    if (!this.tracingNow) return;
    this.trace.push(`${this.now.toFixed(3).padStart(10)} ${line}`);
    if (this.trace.length > 2 * this.traceLimit) this.trace.splice(0, this.trace.length - this.traceLimit);
  }

  /** Create (or re-create after a crash) the core of `id` and start it. */
  boot(id: number): void {
    const nd = this.node(id);
    nd.inc++;
    nd.timers.clear();
    nd.pausedUntil = 0;
    nd.srp = new TotemSrp(nd.cfg, { ringSeq: nd.persisted });
    this.cores.push(nd.srp);
    this.log(`n${id} boot (persisted ring seq ${nd.persisted})`);
    this.step(nd, (s) => s.start(this.now));
  }

  /** Kill -9: the core disappears with its timers and in-flight input. */
  crash(id: number): void {
    const nd = this.node(id);
    nd.srp = null;
    nd.inc++;
    nd.timers.clear();
    this.log(`n${id} CRASH`);
  }

  /** Run `fn` against node `id`'s core now and process its effects. */
  act(id: number, fn: (s: TotemSrp) => void): void {
    const nd = this.node(id);
    if (!nd.srp) return;
    this.step(nd, fn);
  }

  /** Schedule a call at absolute time `at`. */
  at(at: number, fn: () => void): void {
    this.heap.push({ kind: 'call', at, n: this.n++, fn });
  }

  /** Inject a raw datagram into node `to` now (from a pseudo sender). */
  inject(to: number, bytes: Buffer): void {
    const nd = this.node(to);
    if (!nd.srp) return;
    this.step(nd, (s) => s.receive(this.now, bytes));
  }

  private step(nd: SimNode, fn: (s: TotemSrp) => void): void {
    const s = nd.srp!;
    fn(s);
    for (;;) {
      // as the daemon's pump: a message queued while the rep held the token takes it up again
      if (s.wantsHeldToken) s.takeHeldToken(this.now);
      const effects = s.drain();
      if (effects.length === 0) break;
      for (const e of effects) this.apply(nd, e);
      if (nd.srp !== s) break;
    }
  }

  private apply(nd: SimNode, e: SrpEffect): void {
    switch (e.kind) {
      case 'send': {
        const targets = e.to === 'all' ? nd.cfg.nodelist.filter((x) => x !== nd.id) : [e.to];
        // the core reuses its token buffers after the next drain; the network keeps a copy
        const bytes = Buffer.from(e.bytes);
        if (bytes[3] === 1 && bytes[4] === 1) this.encapsulatedSent++;
        for (const to of targets) {
          if (this.recordWire) this.wire.push({ t: this.now, from: nd.id, to, bytes: bytes });
          const d = this.net.decide(this.now, nd.id, to, bytes);
          if (this.tracingNow) {
            this.log(`n${nd.id} -> n${to} ${describeDatagram(bytes)}${d.drop ? ' [LOST]' : ''}`);
          }
          if (d.drop) continue;
          this.heap.push({
            kind: 'net',
            at: this.now + d.delay,
            n: this.n++,
            from: nd.id,
            to,
            bytes: bytes,
          });
          if (d.dup !== undefined) {
            this.heap.push({
              kind: 'net',
              at: this.now + d.dup,
              n: this.n++,
              from: nd.id,
              to,
              bytes: bytes,
            });
          }
        }
        return;
      }
      case 'timer':
        if (!e.armed) nd.timers.delete(e.timer);
        else {
          nd.timers.set(e.timer, e.at);
          this.heap.push({
            kind: 'timer',
            at: e.at,
            n: this.n++,
            node: nd.id,
            timer: e.timer,
            inc: nd.inc,
            due: e.at,
          });
        }
        return;
      case 'persistRingSeq':
        nd.persisted = e.seq;
        break;
      case 'log':
        this.log(`n${nd.id} ${e.level}: ${e.message}`);
        return;
      case 'tokenReceived':
        return;
      default:
        break;
    }
    if (this.record) this.history.push({ t: this.now, node: nd.id, inc: nd.inc, effect: e });
    if (this.tracingNow && e.kind === 'confchg') {
      this.log(
        `n${nd.id} CONFCHG ${e.type} ring=${e.ringId.rep}.${e.ringId.seq.toString(16)} members=[${e.members}] ` +
          `left=[${e.left}] joined=[${e.joined}]`,
      );
    }
    this.app.onEffect?.(nd, e);
  }

  /** Process events up to and including time `until`. Returns false if `maxEvents` ran out. */
  runUntil(until: number, maxEvents = Infinity): boolean {
    let budget = maxEvents;
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.at > until) break;
      if (budget-- <= 0 || this.heap.size > 1_000_000) return false;
      this.heap.pop();
      this.now = top.at;
      this.events++;
      this.dispatch(top);
    }
    this.now = until;
    return true;
  }

  /** Advance by `ms`. */
  advance(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /** Process every event due now (no time passes). */
  settle(): void {
    this.runUntil(this.now);
  }

  private dispatch(ev: Ev): void {
    if (ev.kind === 'call') {
      ev.fn();
      return;
    }
    const id = ev.kind === 'net' ? ev.to : ev.node;
    const nd = this.nodes.get(id);
    if (!nd || !nd.srp) return;
    if (ev.kind === 'timer' && (ev.inc !== nd.inc || nd.timers.get(ev.timer) !== ev.due)) return;
    if (nd.pausedUntil > this.now) {
      // the process is stopped: everything waits until it runs again
      this.heap.push({ ...ev, at: nd.pausedUntil, n: this.n++ });
      return;
    }
    if (ev.kind === 'timer') {
      nd.timers.delete(ev.timer);
      this.step(nd, (s) => s.timerExpired(this.now, ev.timer));
    } else {
      this.step(nd, (s) => s.receive(this.now, ev.bytes));
    }
  }
}
