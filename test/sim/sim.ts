/**
 * The deterministic simulator: N real totemsrp cores on the in-memory {@link Cluster}, a
 * seeded fault mix (loss, duplication, reordering, delay, symmetric and asymmetric
 * partitions, pauses longer than the token timeout, crashes and restarts keeping the ringid
 * seq, clean leaves), an application per node that multicasts numbered payloads and runs a
 * sync-like barrier before acknowledging the transitional state, then a liveness phase that
 * heals everything. Checkers read the recorded history afterwards.
 *
 * Each seed draws its own mix from `new Prng(seed)`; the same seed replays exactly.
 */
import { srpConfig, type SrpConfig, type SrpEffect } from '../../src/totem/srp.js';
import { Prng } from '../helpers/prng.js';
import { checkHistory, checkSelfDelivery, type SentInfo, type Violation } from './checkers.js';
import { Cluster, type NetDecision, type NetModel, type SimNode } from './cluster.js';

/** 10 µs: far below every protocol timeout, enough to break a perfectly periodic schedule. */
export const DEFAULT_HEAL_JITTER_MS = 0.01;

export interface SimOptions {
  /** Number of nodes (default: drawn 2..5). */
  nodes?: number;
  /** Keep a full textual trace (slower). */
  trace?: boolean;
  /** Least delay jitter (ms) after the heal; default DEFAULT_HEAL_JITTER_MS. 0 = as drawn. */
  healJitter?: number;
  /** Trace window in virtual ms (with `trace`). */
  traceFrom?: number;
  traceTo?: number;
  /** Fault-phase length in virtual ms (default: drawn). */
  faultMs?: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  violations: Violation[];
  /** One line describing the drawn mix. */
  mix: string;
  events: number;
  delivered: number;
  sent: number;
  rings: number;
  virtualMs: number;
  trace: string[];
  /** Fault schedule as applied (for the report). */
  script: string[];
  /** stats.srp.* summed over every core of the run. */
  stats: Record<string, number>;
}

/** The seeded network: loss, duplication, delay with jitter (reordering) and partitions. */
export class FaultNet implements NetModel {
  loss = 0;
  dup = 0;
  base = 0.1;
  jitter = 0;
  /** Blocked directions "from>to". */
  readonly blocked = new Set<string>();
  constructor(private readonly rng: Prng) {}

  decide(_now: number, from: number, to: number): NetDecision {
    if (this.blocked.has(`${from}>${to}`)) return { drop: true };
    if (this.loss > 0 && this.rng.bool(this.loss)) return { drop: true };
    const delay = this.base + (this.jitter > 0 ? this.rng.next() * this.jitter : 0);
    if (this.dup > 0 && this.rng.bool(this.dup)) {
      return { drop: false, delay, dup: delay + this.rng.next() * (this.jitter + 1) };
    }
    return { drop: false, delay };
  }

  /**
   * Restore the network. `minJitter` (ms) is the least delay jitter the healed network keeps:
   * with none, every delay is equal and the whole system becomes periodic, and corosync's
   * membership rules admit a periodic schedule that never merges (seed 192: see
   * test/sim/README.md). Real networks and schedulers always jitter.
   */
  heal(minJitter: number): void {
    this.jitter = Math.max(this.jitter, minJitter);
    this.blocked.clear();
    this.loss = 0;
    this.dup = 0;
  }
}

/** Per-node application: numbered messages, a barrier per regular ring, transAck when complete. */
class App {
  counter = 0;
  ring = '';
  members: number[] = [];
  barriers = new Set<number>();
  waiting = true;
  constructor(readonly node: number) {}
}

export function runSeed(seed: number, opts: SimOptions = {}): SimResult {
  const rng = new Prng(seed);
  const netRng = rng.fork();
  const n = opts.nodes ?? rng.int(2, 5);
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  // timeouts: corosync's defaults or a faster profile (same derivations)
  const fast = rng.bool(0.6);
  const input = fast ? { baseToken: rng.pick([300, 500, 1000]), tokenCoefficient: rng.pick([0, 650]) } : {};
  const windowSize = rng.pick([50, 50, 20, 8]);
  const maxMessages = rng.pick([17, 17, 5, 3]);
  const configs: SrpConfig[] = ids.map((id) => srpConfig(id, ids, { ...input, windowSize, maxMessages }));
  const cfg0 = configs[0]!;
  const net = new FaultNet(netRng);
  const cluster = new Cluster(configs, {
    net,
    trace: opts.trace ?? false,
    ...(opts.traceFrom !== undefined ? { traceFrom: opts.traceFrom } : {}),
    ...(opts.traceTo !== undefined ? { traceTo: opts.traceTo } : {}),
  });
  const apps = new Map(ids.map((id) => [id, new App(id)]));
  const sent = new Map<string, SentInfo>();
  const script: string[] = [];
  const note = (s: string): void => {
    script.push(`${cluster.now.toFixed(1)}: ${s}`);
    cluster.log(`FAULT ${s}`);
  };

  // ---- fault mix ----
  const loss = rng.bool(0.5) ? rng.pick([0.005, 0.02, 0.05, 0.1]) : 0;
  const dup = rng.bool(0.4) ? rng.pick([0.01, 0.05]) : 0;
  net.base = rng.pick([0.1, 0.2, 0.5]);
  net.jitter = rng.bool(0.5) ? rng.pick([0.1, 1, 5]) : 0;
  const faultMs = opts.faultMs ?? rng.int(15, 40) * cfg0.token;
  const rate = rng.pick([5, 20, 100]); // mean ms between a node's sends
  const mix =
    `nodes=${n} token=${cfg0.token} consensus=${cfg0.consensus} window=${windowSize} max_messages=${maxMessages} ` +
    `loss=${loss} dup=${dup} delay=${net.base}+${net.jitter} send_every~${rate}ms fault_phase=${faultMs}ms`;

  // ---- application ----
  const sendApp = (nd: SimNode): void => {
    const s = nd.srp;
    const app = apps.get(nd.id)!;
    if (!s || s.isStopped || app.waiting || s.avail() < 10) return;
    const id = `a:${nd.id}:${nd.inc}:${++app.counter}`;
    if (s.mcast(Buffer.from(id), 0)) sent.set(id, { node: nd.id, inc: nd.inc, t: cluster.now });
    else app.counter--;
  };
  cluster.app = {
    onEffect(nd: SimNode, e: SrpEffect): void {
      const app = apps.get(nd.id)!;
      const s = nd.srp!;
      if (e.kind === 'waitingTransAck') {
        app.waiting = e.value;
      } else if (e.kind === 'confchg' && e.type === 'regular') {
        app.ring = `${e.ringId.rep}.${e.ringId.seq}`;
        app.members = e.members;
        app.barriers.clear();
        const id = `b:${nd.id}:${nd.inc}:${app.ring}`;
        if (s.mcast(Buffer.from(id), 0)) sent.set(id, { node: nd.id, inc: nd.inc, t: cluster.now });
      } else if (e.kind === 'deliver') {
        const p = e.payload.toString();
        if (p.startsWith('b:')) {
          const [, from, , ring] = p.split(':');
          if (ring === app.ring) {
            app.barriers.add(Number(from));
            if (app.waiting && app.members.every((m) => app.barriers.has(m))) s.transAck();
          }
        }
      }
    },
  };
  let appOn = true;
  const scheduleApp = (id: number, t: number): void => {
    cluster.at(t, () => {
      if (!appOn) return;
      const nd = cluster.node(id);
      const burst = rng.int(1, 3);
      for (let i = 0; i < burst; i++) sendApp(nd);
      scheduleApp(id, cluster.now + 1 + rng.int(0, rate * 2));
    });
  };

  // ---- boot (staggered) ----
  for (const id of ids) {
    const t = rng.bool(0.5) ? 0 : rng.int(0, cfg0.token);
    cluster.at(t, () => {
      apps.get(id)!.waiting = true;
      cluster.boot(id);
    });
    scheduleApp(id, t + 1);
  }

  // ---- fault schedule ----
  const down = new Set<number>();
  let healed = false;
  scheduleFaults({
    rng,
    cluster,
    net,
    fixedLoss: loss,
    ids,
    tokenMs: cfg0.token,
    faultMs,
    note,
    down,
    healed: () => healed,
    crash: (victim) => cluster.crash(victim),
    leave: (victim) => cluster.act(victim, (s) => s.leave(cluster.now)),
    restart: (victim) => {
      apps.get(victim)!.waiting = true;
      cluster.boot(victim);
    },
  });
  net.loss = loss;
  net.dup = dup;

  // ---- run the fault phase ----
  const violations: Violation[] = [];
  // A budget against runaways (message storms, timer loops). A busy ring on a fast network
  // legitimately makes ~40 events per virtual ms (seed 243: 5 nodes, 0.1 ms hops, 193 s of
  // faults), so the budget grows with the fault phase.
  const MAX_EVENTS = 6_000_000 + 50 * faultMs;
  if (!cluster.runUntil(faultMs, MAX_EVENTS)) {
    violations.push({
      prop: 'budget',
      t: cluster.now,
      detail: `more than ${MAX_EVENTS} events or a runaway event queue in the fault phase`,
    });
  }

  // ---- heal: restore the network, restart every node that is down ----
  const healAt = cluster.now;
  note('HEAL: network restored, all nodes up');
  healed = true;
  net.heal(opts.healJitter ?? DEFAULT_HEAL_JITTER_MS);
  for (const id of ids) {
    const nd = cluster.node(id);
    nd.pausedUntil = Math.min(nd.pausedUntil, healAt);
    if (!nd.alive) {
      down.delete(id);
      apps.get(id)!.waiting = true;
      cluster.boot(id);
    }
  }
  // Liveness bound: a failed member is excluded after token + consensus; merging partitioned
  // rings needs a merge-detect round and a consensus round on top; allow three of each.
  const bound = 3 * (cfg0.token + cfg0.consensus) + 10 * cfg0.join;
  let formedAt = -1;
  const step = Math.max(10, Math.trunc(cfg0.join));
  for (let t = healAt + step; t <= healAt + bound; t += step) {
    cluster.runUntil(t, MAX_EVENTS);
    if (oneRing(cluster, ids)) {
      formedAt = t;
      break;
    }
  }
  if (formedAt < 0) {
    violations.push({
      prop: 'liveness',
      t: cluster.now,
      detail: `no single ring of all ${n} nodes within ${bound}ms after heal: ${ringSummary(cluster, ids)}`,
    });
  }
  // keep traffic flowing a little, then stop the apps and let everything drain
  cluster.runUntil(cluster.now + 2 * cfg0.token, MAX_EVENTS);
  appOn = false;
  // drain: until every queue is empty and every node delivered up to the same point
  const drainEnd = cluster.now + 200 * cfg0.token;
  while (cluster.now < drainEnd) {
    cluster.runUntil(cluster.now + cfg0.token, MAX_EVENTS);
    if (quiescent(cluster, ids)) break;
  }
  cluster.runUntil(cluster.now + 2 * cfg0.token, MAX_EVENTS);
  if (formedAt >= 0 && !oneRing(cluster, ids)) {
    violations.push({
      prop: 'liveness',
      t: cluster.now,
      detail: `ring did not stay formed: ${ringSummary(cluster, ids)}`,
    });
  }

  violations.push(...checkHistory(cluster.history, sent));
  if (formedAt >= 0) {
    const alive = new Map(ids.map((id) => [id, cluster.node(id).inc]));
    violations.push(...checkSelfDelivery(cluster.history, sent, alive));
  }
  const rings = new Set(
    cluster.history
      .filter((h) => h.effect.kind === 'confchg' && h.effect.type === 'regular')
      .map((h) => (h.effect.kind === 'confchg' ? `${h.effect.ringId.rep}.${h.effect.ringId.seq}` : '')),
  ).size;
  return {
    seed,
    ok: violations.length === 0,
    violations,
    mix,
    events: cluster.events,
    delivered: cluster.history.filter((h) => h.effect.kind === 'deliver').length,
    sent: sent.size,
    rings,
    virtualMs: cluster.now,
    trace: cluster.trace,
    script,
    stats: { ...sumStats(cluster), encapsulated_sent: cluster.encapsulatedSent },
  };
}

function sumStats(c: Cluster): Record<string, number> {
  const out: Record<string, number> = {};
  for (const core of c.cores) {
    for (const [k, v] of Object.entries(core.stats)) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

/** Every node in `ids` is OPERATIONAL in the same ring whose members are exactly `ids`. */
export function oneRing(c: Cluster, ids: number[]): boolean {
  const first = c.node(ids[0]!).srp;
  if (!first) return false;
  for (const id of ids) {
    const s = c.node(id).srp;
    if (!s || s.state !== 'OPERATIONAL') return false;
    if (s.ringId.rep !== first.ringId.rep || s.ringId.seq !== first.ringId.seq) return false;
    if (s.members.join() !== ids.join()) return false;
  }
  return true;
}

/** Nothing left to send or acknowledge, and every node delivered as far as the first. */
export function quiescent(c: Cluster, ids: number[]): boolean {
  const first = c.node(ids[0]!).srp;
  if (!first) return false;
  for (const id of ids) {
    const s = c.node(id).srp;
    if (!s || s.pendingMessages > 0 || s.waitingTransAck) return false;
    if (s.highDelivered !== first.highDelivered || s.aru !== first.aru) return false;
  }
  return true;
}

function ringSummary(c: Cluster, ids: number[]): string {
  return ids
    .map((id) => {
      const s = c.node(id).srp;
      if (!s) return `n${id}: down`;
      return `n${id}: ${s.state} ring=${s.ringId.rep}.${s.ringId.seq.toString(16)} members=[${s.members}] proc=[${s.procList}] failed=[${s.failedList}]`;
    })
    .join('; ');
}

/** Human-readable failure report: seed, mix, violations and the trace window before the first one. */
export function formatFailure(r: SimResult, traced?: SimResult): string {
  const lines = [
    `SIM FAILURE seed=${r.seed} (replay: node dist/test/sim/run.js --seed ${r.seed} --trace)`,
    `mix: ${r.mix}`,
    ...r.violations.slice(0, 10).map((v) => `  [${v.prop}] t=${v.t.toFixed(3)} ${v.detail}`),
    'fault script:',
    ...r.script.map((s) => `  ${s}`),
  ];
  if (traced && traced.trace.length) {
    const t0 = Math.max(0, (r.violations[0]?.t ?? 0) + 1);
    const idx = traced.trace.findIndex((l) => Number(l.trim().split(' ')[0]) > t0);
    const end = idx < 0 ? traced.trace.length : idx;
    lines.push(
      `trace (last 120 lines up to t=${t0.toFixed(3)}):`,
      ...traced.trace.slice(Math.max(0, end - 120), end),
    );
  }
  return lines.join('\n');
}

/** What the fault script needs from a simulation (totem-only or with CPG on top). */
export interface FaultScriptContext {
  rng: Prng;
  cluster: Cluster;
  net: { blocked: Set<string>; loss: number };
  /** The seed's loss rate, restored after a loss burst. */
  fixedLoss: number;
  ids: number[];
  tokenMs: number;
  faultMs: number;
  note: (text: string) => void;
  /** Nodes crashed or left and not restarted yet (shared with the caller). */
  down: Set<number>;
  healed: () => boolean;
  /** Node-specific actions: crash, clean leave, restart after either. */
  crash: (victim: number) => void;
  leave: (victim: number) => void;
  restart: (victim: number) => void;
}

/**
 * Draw and schedule the fault mix of a seed (2–10 faults during the fault phase: partitions,
 * asymmetric links, pauses beyond the token timeout, crashes, clean leaves, loss bursts,
 * heals). The draw order is part of what makes a seed replay exactly: keep it.
 */
export function scheduleFaults(ctx: FaultScriptContext): void {
  const { rng, cluster, net, ids, tokenMs, faultMs, note, down, fixedLoss } = ctx;
  const n = ids.length;
  const nFaults = rng.int(2, 10);
  const restartLater = (victim: number, dur: number): void => {
    cluster.at(cluster.now + dur, () => {
      if (!down.has(victim)) return;
      down.delete(victim);
      note(`restart n${victim}`);
      ctx.restart(victim);
    });
  };
  for (let i = 0; i < nFaults; i++) {
    const t = rng.int(tokenMs, faultMs);
    const kind = rng.pick(['partition', 'asym', 'pause', 'crash', 'leave', 'loss-burst', 'heal'] as const);
    const victim = rng.pick(ids);
    const dur = rng.int(tokenMs / 2, tokenMs * 4);
    const groupMask = rng.int(1, (1 << n) - 2);
    cluster.at(t, () => {
      switch (kind) {
        case 'partition': {
          const a = ids.filter((x) => (groupMask >> (x - 1)) & 1);
          const b = ids.filter((x) => !((groupMask >> (x - 1)) & 1));
          note(`partition [${a}] | [${b}] for ${dur}ms`);
          const keys: string[] = [];
          for (const x of a) for (const y of b) keys.push(`${x}>${y}`, `${y}>${x}`);
          for (const k of keys) net.blocked.add(k);
          cluster.at(cluster.now + dur, () => {
            if (ctx.healed()) return;
            for (const k of keys) net.blocked.delete(k);
            note(`partition [${a}] | [${b}] healed`);
          });
          break;
        }
        case 'asym': {
          const other = rng.pick(ids.filter((x) => x !== victim));
          const k = `${victim}>${other}`;
          note(`asymmetric: ${victim} → ${other} blocked for ${dur}ms`);
          net.blocked.add(k);
          cluster.at(cluster.now + dur, () => {
            if (ctx.healed()) return;
            net.blocked.delete(k);
            note(`asymmetric ${k} healed`);
          });
          break;
        }
        case 'pause': {
          const nd = cluster.node(victim);
          if (!nd.srp) break;
          const len = rng.int(Math.trunc(tokenMs / 2), tokenMs * 2);
          note(`pause n${victim} for ${len}ms`);
          nd.pausedUntil = cluster.now + len;
          break;
        }
        case 'crash': {
          if (!cluster.node(victim).srp || down.size >= n - 1) break;
          note(`crash n${victim} for ${dur}ms`);
          ctx.crash(victim);
          down.add(victim);
          restartLater(victim, dur);
          break;
        }
        case 'leave': {
          const nd = cluster.node(victim);
          if (!nd.srp || nd.srp.isStopped || down.size >= n - 1) break;
          note(`clean leave n${victim}, back in ${dur}ms`);
          ctx.leave(victim);
          down.add(victim);
          restartLater(victim, dur);
          break;
        }
        case 'loss-burst': {
          note(`loss burst 30% for ${dur}ms`);
          net.loss = 0.3;
          cluster.at(cluster.now + dur, () => {
            if (ctx.healed()) return;
            net.loss = fixedLoss;
            note('loss burst over');
          });
          break;
        }
        case 'heal':
          note('heal partitions');
          net.blocked.clear();
          break;
      }
    });
  }
}
