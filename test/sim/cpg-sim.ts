/**
 * The deterministic simulator with CPG on top: every simulated node runs the real stack of a
 * daemon (src/daemon/daemon.ts + totem-runtime.ts) above its totemsrp core — totempg with the
 * instances "main" (group "a", confchgs) and "sync" (group "sync"), the exec layer and its sync
 * engine, the CPG service — and a few simulated CPG clients (fake IPC connections) that join one
 * group, multicast numbered, self-checking payloads (test/helpers/cpg-worker.ts's format) and
 * record every deliver / confchg / totem confchg callback. A crash or clean leave of a node ends
 * its clients' lives ("lost"); the restarted node gets new clients (new pids). Clients also retire
 * now and then (stop sending, wait for their own messages, exit) and are replaced.
 *
 * Checked afterwards: the totem checkers (test/sim/checkers.ts) over the SRP history — the SRP
 * payload is the totempg packet behind a unique `p:<node>:<inc>:<n>:` tag, so every packet is
 * checked for agreed order, duplicates, phantoms, virtual synchrony and self delivery — and the CPG history checkers
 * (test/helpers/cpg-history.ts) over the clients' records.
 *
 * Wiring (as src/daemon/daemon.ts + totem-runtime.ts do it in the working tree of this commit):
 * the core gets the hooks `onTokenReceived` and `beforeWaitingTransAck` (both flush totempg's
 * partly filled packet); each core's `drain()` is wrapped so that its effects reach totempg /
 * exec before the cluster routes them; the exec layer's effects are applied after every up-call
 * (`pg.setWaitingTransAck(false)` on sync-completed of the exec layer's ring, `transAck()` if
 * the core is still in that ring — one difference from daemon.ts, see applyExec); when the core
 * is quiet the exec layer's turn runs (`runPending`) — TotemRuntime.pump's idle. Clients respect IPC
 * admission (only after the first sync) and flow control (no join/mcast while a sync runs); an
 * MCAST the service drops (totem queue full) is retried with the same number (TRY_AGAIN).
 */
import { Icmap } from '../../src/cmap/icmap.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { EXEC_GROUP_NAME, SYNC_GROUP_NAME } from '../../src/exec/codec.js';
import { ExecEngine } from '../../src/exec/engine.js';
import { ringIdEquals } from '../../src/totem/wire/index.js';
import type { IpcServiceDefinition } from '../../src/ipc/server.js';
import { CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF, decodeCpgResponse } from '../../src/services/cpg/codec.js';
import { CpgService } from '../../src/services/cpg/service.js';
import { TotemPg } from '../../src/totem/pg.js';
import { srpConfig, TotemSrp, type SrpConfig, type SrpEffect, type SrpOutput } from '../../src/totem/srp.js';
import { FakeConn } from '../helpers/cpg-harness.js';
import {
  checkCpgHistories,
  msgKey,
  violationReport,
  type HistoryStats,
  type Life,
  type Violation as CpgViolation,
} from '../helpers/cpg-history.js';
import { decodePayload, encodePayload, type HistoryRecord } from '../helpers/cpg-worker.js';
import { mutateBytes } from '../helpers/mutate.js';
import { Prng } from '../helpers/prng.js';
import { checkHistory, checkSelfDelivery, type SentInfo, type Violation } from './checkers.js';
import { Cluster, type Recorded, type SimNode } from './cluster.js';
import { DEFAULT_HEAL_JITTER_MS, FaultNet, oneRing, quiescent, scheduleFaults } from './sim.js';

export interface CpgSimOptions {
  /** Number of nodes (default: drawn 2..5). */
  nodes?: number;
  /** Keep a full textual trace (slower). */
  trace?: boolean;
  /** Fault-phase length in virtual ms (default: drawn). */
  faultMs?: number;
  /**
   * Least delay jitter (ms) after the heal, as the totem simulator (sim.ts, seed 192: a
   * perfectly periodic schedule can keep partitions from ever merging); default
   * DEFAULT_HEAL_JITTER_MS. 0 = as drawn.
   */
  healJitter?: number;
  /**
   * Byzantine input: until the heal, each node's delivered totempg packet is mutated with this
   * probability (test/helpers/mutate.ts) before totempg, the exec layer and CPG read it. Each
   * receiver mutates its own copy, so the nodes disagree; the order and CPG checkers then
   * report what the garbage did. `ok` then means: no exception out of a stack, no service
   * handler failing (`serviceErrors`) and a synced ring after the heal, where node 1 restarts
   * (`robustUnderCorruption`). Default 0 (off; the seed draws what it always did).
   */
  corruptDeliveries?: number;
}

export interface CpgSimResult {
  seed: number;
  ok: boolean;
  /** Totem-level and liveness violations. */
  violations: Violation[];
  /** CPG history violations. */
  cpgViolations: CpgViolation[];
  /** Report of the CPG violations with the records around them. */
  cpgReport: string;
  mix: string;
  events: number;
  /** SRP deliveries. */
  delivered: number;
  rings: number;
  virtualMs: number;
  trace: string[];
  script: string[];
  cpg: HistoryStats;
  /** Exceptions of service handlers the exec layer caught (stats.serviceErrors, all lives). */
  serviceErrors: number;
  /** Packets mutated by `corruptDeliveries`. */
  corrupted: number;
}

const GROUP = 'simgrp';
/** The tag in front of every totempg packet on the SRP level (p:<node>:<inc>:<n>:). */
const TAG_MAX = 32;

/** One simulated client process: a fake IPC connection that records its callbacks. */
class Client {
  readonly records: HistoryRecord[] = [];
  readonly label: string;
  conn: RecordingConn;
  joined = false;
  seq = 0;
  /** Own messages sent and not yet delivered back. */
  readonly outstanding = new Set<number>();
  retiring = false;
  ended = false;
  constructor(
    readonly node: number,
    readonly pid: number,
    svc: CpgService,
    private readonly clock: () => number,
  ) {
    this.label = `n${node}.p${pid}`;
    this.records.push({ k: 'init', t: clock(), node, pid });
    this.conn = new RecordingConn(svc.ipc as IpcServiceDefinition<unknown>, pid, (f) => this.onEvent(f));
  }

  private onEvent(frame: Buffer): void {
    const r = decodeCpgResponse(frame);
    const t = this.clock();
    if (!r.ok) {
      this.records.push({
        k: 'd',
        t,
        n: this.node,
        p: this.pid,
        s: -1,
        bad: `undecodable callback: ${r.error}`,
      });
      return;
    }
    const e = r.value;
    if (e.kind === 'deliver') {
      const d = decodePayload(e.message, e.nodeid, e.pid);
      this.records.push({ k: 'd', t, ...d });
      if (d.n === this.node && d.p === this.pid) this.outstanding.delete(d.s);
    } else if (e.kind === 'confchg') {
      this.records.push({
        k: 'c',
        t,
        m: e.members.map((a) => [a.nodeid, a.pid]),
        l: e.left.map((a) => [a.nodeid, a.pid, a.reason]),
        j: e.joined.map((a) => [a.nodeid, a.pid, a.reason]),
      });
    } else if (e.kind === 'totem_confchg') {
      this.records.push({ k: 'r', t, rn: e.ringId.nodeid, rs: e.ringId.seq.toString(), m: [...e.members] });
    }
  }

  end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.records.push({ k: 'end', t: this.clock(), why });
  }
}

class RecordingConn extends FakeConn {
  constructor(
    def: IpcServiceDefinition<unknown>,
    pid: number,
    private readonly onFrame: (f: Buffer) => void,
  ) {
    super(def, pid);
  }
  override sendEvent(frame: Buffer): void {
    if (!this.closed) this.onFrame(Buffer.from(frame));
  }
}

/** The daemon stack of one node incarnation. */
interface Stack {
  inc: number;
  pg: TotemPg;
  exec: ExecEngine;
  cpg: CpgService;
  clients: Client[];
  /** Tagged SRP packets sent (counter of the tag). */
  tagN: number;
}

export function runCpgSeed(seed: number, opts: CpgSimOptions = {}): CpgSimResult {
  const rng = new Prng(seed);
  const netRng = rng.fork();
  const cliRng = rng.fork();
  const n = opts.nodes ?? rng.int(2, 5);
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const fast = rng.bool(0.6);
  const input = fast ? { baseToken: rng.pick([300, 500, 1000]), tokenCoefficient: rng.pick([0, 650]) } : {};
  const windowSize = rng.pick([50, 50, 20, 8]);
  const maxMessages = rng.pick([17, 17, 5, 3]);
  const configs: SrpConfig[] = ids.map((id) => srpConfig(id, ids, { ...input, windowSize, maxMessages }));
  const cfg0 = configs[0]!;
  const net = new FaultNet(netRng);
  const cluster = new Cluster(configs, { net, trace: opts.trace ?? false });
  const sent = new Map<string, SentInfo>();
  const script: string[] = [];
  const note = (s: string): void => {
    script.push(`${cluster.now.toFixed(1)}: ${s}`);
    cluster.log(`FAULT ${s}`);
  };

  const loss = rng.bool(0.5) ? rng.pick([0.005, 0.02, 0.05, 0.1]) : 0;
  const dup = rng.bool(0.4) ? rng.pick([0.01, 0.05]) : 0;
  net.base = rng.pick([0.1, 0.2, 0.5]);
  net.jitter = rng.bool(0.5) ? rng.pick([0.1, 1, 5]) : 0;
  const faultMs = opts.faultMs ?? rng.int(15, 40) * cfg0.token;
  const rate = rng.pick([10, 40, 150]); // mean ms between a client's sends
  const perNode = rng.int(1, 3);
  const mix =
    `cpg nodes=${n} clients/node=${perNode} token=${cfg0.token} consensus=${cfg0.consensus} window=${windowSize} ` +
    `max_messages=${maxMessages} loss=${loss} dup=${dup} delay=${net.base}+${net.jitter} send_every~${rate}ms ` +
    `fault_phase=${faultMs}ms`;

  // ---- the per-node daemon stack ----
  const stacks = new Map<number, Stack>();
  const execs: ExecEngine[] = [];
  // its own generator, so that a run without corruption draws exactly what it always did
  const corruptRng = opts.corruptDeliveries ? new Prng(seed ^ 0x5eed_f00d) : undefined;
  let corrupted = 0;
  /** The network is restored (faults stop, corruption too); set at the heal below. */
  let healed = false;
  const allClients: Client[] = [];
  const lostAllowed = new Set<string>();
  let nextPid = 1000;
  let stackErrors = 0;
  const errors: Violation[] = [];
  const silent = { debug: () => {}, info: () => {}, notice: () => {}, warn: () => {}, error: () => {} };

  // the exec layer's effects, right after every call into it (daemon.ts applyExecEffects):
  // sync-completed acks the transitional phase at once, inside the delivery that completed it.
  // corosync 3.1.7: sync completion → totempg_trans_ack → totemsrp_trans_ack clears
  // waiting_trans_ack and switches totempg back to its normal assemblies, unconditionally. The
  // completing message may be an old-ring message that totemsrp delivers while it installs the
  // next ring (memb_state_operational_enter delivers the old ring's messages first; its
  // waiting_trans_ack = 1 and totempg's switch to the trans assemblies come after them): totempg
  // must switch back all the same — the old ring's normal-phase messages behind the completing
  // one continue the normal assemblies (else a fragmented message of a node that moved with us
  // is lost: sim seed 103) — while the SRP flag, already up for the new ring, stays (the
  // waitingTransAck effect later in this batch puts totempg back on the trans assemblies).
  const applyExec = (st: Stack, s: TotemSrp): void => {
    for (const e of st.exec.drain()) {
      if (e.kind !== 'sync-completed') continue;
      // the exec layer's ring is the last regular confchg it got: a completion of an older
      // ring (applied late) must not end the new ring's phase
      if (ringIdEquals(e.ringId, st.exec.ringId)) st.pg.setWaitingTransAck(false);
      if (ringIdEquals(e.ringId, s.ringId)) s.transAck();
    }
  };
  const upcalls = (st: Stack, s: TotemSrp): void => {
    for (const u of st.pg.drain()) {
      st.exec.handleUpcall(u);
      applyExec(st, s);
    }
  };
  const handle = (nd: SimNode, st: Stack, s: TotemSrp, e: SrpEffect): void => {
    switch (e.kind) {
      case 'deliver': {
        let packet = untag(e.payload);
        if (!packet) {
          errors.push({ prop: 'sim', t: cluster.now, detail: `n${nd.id}: untagged SRP payload` });
          return;
        }
        if (corruptRng && !healed && corruptRng.bool(opts.corruptDeliveries)) {
          packet = mutateBytes(corruptRng, packet);
          corrupted++;
        }
        st.pg.deliver(e.from, packet, e.endianConvert);
        upcalls(st, s);
        return;
      }
      case 'confchg':
        st.pg.confchg(e.type, e.members, e.left, e.joined, e.ringId);
        upcalls(st, s);
        return;
      case 'waitingTransAck':
        st.pg.setWaitingTransAck(e.value);
        return;
      default:
        // 'tokenReceived': totempg already flushed from the onTokenReceived hook
        return;
    }
  };
  const idle = (st: Stack, s: TotemSrp): void => {
    st.exec.runPending();
    applyExec(st, s);
  };

  const bootNode = (id: number): void => {
    const nd = cluster.node(id);
    nd.inc++;
    nd.timers.clear();
    nd.pausedUntil = 0;
    const st = {} as Stack;
    // as TotemRuntime: totempg flushes its partly filled packet when the token arrives (inside
    // the token step) and before waiting_trans_ack goes up (staged normal-phase messages must
    // not overtake the normal queue through the transitional one)
    const s = new TotemSrp(
      nd.cfg,
      { ringSeq: nd.persisted },
      { onTokenReceived: () => st.pg.tokenReceived(), beforeWaitingTransAck: () => st.pg.tokenReceived() },
    );
    nd.srp = s;
    cluster.cores.push(s);
    cluster.log(`n${id} boot (persisted ring seq ${nd.persisted}) with the CPG stack`);
    st.inc = nd.inc;
    st.clients = [];
    st.tagN = 0;
    st.pg = new TotemPg({
      lower: {
        mcast: (packet, guarantee) => {
          const tag = `p:${id}:${st.inc}:${st.tagN + 1}:`;
          const buf = Buffer.concat([Buffer.from(tag, 'latin1'), packet]);
          if (!s.mcast(buf, guarantee)) return false;
          st.tagN++;
          sent.set(tag, { node: id, inc: st.inc, t: cluster.now });
          return true;
        },
        avail: () => s.avail(),
      },
      netMtu: 1410 - TAG_MAX,
    });
    st.exec = new ExecEngine({
      nodeId: id,
      icmap: new Icmap(),
      log: silent,
      send: (group, iov, guarantee) => st.pg.mcastGroups([group], iov, guarantee),
    });
    execs.push(st.exec);
    st.pg.joinGroup(EXEC_GROUP_NAME, st.pg.createInstance({ label: 'main', confchg: true }));
    st.pg.joinGroup(SYNC_GROUP_NAME, st.pg.createInstance({ label: 'sync' }));
    const cpgRng = cliRng.fork();
    st.cpg = new CpgService({ random: () => cpgRng.int(1, 0x7fff_ffff) });
    st.exec.register(st.cpg);
    st.pg.setWaitingTransAck(s.waitingTransAck);
    stacks.set(id, st);
    const orig = s.drain.bind(s);
    s.drain = (): SrpOutput => {
      if (nd.srp !== s) return orig();
      try {
        let effs = orig();
        if (effs.length === 0) {
          idle(st, s);
          effs = orig();
        }
        for (const e of effs) handle(nd, st, s, e);
        return effs;
      } catch (err) {
        if (stackErrors++ < 5) {
          errors.push({
            prop: 'exception',
            t: cluster.now,
            detail: `n${id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
          });
        }
        return [];
      }
    };
    cluster.act(id, (c) => c.start(cluster.now));
  };

  const killClients = (id: number): void => {
    const st = stacks.get(id);
    if (!st) return;
    for (const c of st.clients) {
      c.end('lost');
      lostAllowed.add(c.label);
    }
    stacks.delete(id);
  };
  const crashNode = (id: number): void => {
    killClients(id);
    cluster.crash(id);
  };

  // ---- clients ----
  /** The totempg packets of every client message. */
  const packets: MsgPackets[] = [];
  let sendOn = true;
  const clientTick = (id: number): void => {
    const nd = cluster.node(id);
    const st = stacks.get(id);
    if (!st || !nd.alive || nd.pausedUntil > cluster.now || st.inc !== nd.inc) return;
    // IPC admission: only after the first sync (exec/main.c)
    if (!st.exec.ready) return;
    const live = st.clients.filter((c) => !c.ended);
    if (live.length < perNode && sendOn) {
      const c = new Client(id, nextPid++, st.cpg, () => cluster.now);
      st.clients.push(c);
      allClients.push(c);
    }
    cluster.act(id, () => {
      for (const c of st.clients) {
        if (c.ended) continue;
        if (!c.joined) {
          // cpg_join: TRY_AGAIN while a sync runs (flow control) or the queue is full
          if (st.exec.syncInProgress) continue;
          const err = c.conn.join(GROUP, CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF);
          if (err === CsErrorCode.CS_OK) c.joined = true;
          continue;
        }
        if (c.retiring) {
          if (c.outstanding.size === 0) {
            c.conn.close();
            c.end('exit');
          }
          continue;
        }
        if (!sendOn) continue;
        if (sendOn && cliRng.bool(0.01)) {
          c.retiring = true;
          continue;
        }
        // libqb flow control holds requests back while a sync runs
        if (st.exec.syncInProgress) continue;
        const burst = cliRng.int(1, 3);
        for (let i = 0; i < burst; i++) {
          const seq = c.seq + 1;
          const dropped = st.cpg.stats.mcastDropped;
          const tagBefore = st.tagN;
          c.conn.mcast(encodePayload(id, c.pid, seq));
          if (st.cpg.stats.mcastDropped !== dropped) break; // TRY_AGAIN: same seq later
          // the totempg packets it went out in (tag numbers): a message that fits is staged
          // and goes out in the next packet this node emits; a larger one starts in the first
          // packet this send emitted and ends in the last one or, still staged, in the next
          packets.push({
            node: id,
            inc: st.inc,
            key: msgKey(id, c.pid, seq),
            first: st.tagN > tagBefore ? tagBefore + 1 : st.tagN + 1,
            last: st.pg.staged.count > 0 ? st.tagN + 1 : st.tagN,
          });
          c.seq = seq;
          c.outstanding.add(seq);
          c.records.push({ k: 's', t: cluster.now, s: seq });
        }
      }
    });
  };
  let tick = true;
  const scheduleClients = (id: number, t: number): void => {
    cluster.at(t, () => {
      if (!tick) return;
      clientTick(id);
      scheduleClients(id, cluster.now + 1 + cliRng.int(0, rate * 2));
    });
  };

  // ---- boot (staggered) ----
  for (const id of ids) {
    const t = rng.bool(0.5) ? 0 : rng.int(0, cfg0.token);
    cluster.at(t, () => bootNode(id));
    scheduleClients(id, t + 1);
  }

  // ---- fault schedule (as sim.ts) ----
  const down = new Set<number>();
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
    crash: (victim) => crashNode(victim),
    leave: (victim) => {
      // the daemon stops: its clients lose their connection
      killClients(victim);
      cluster.act(victim, (s) => s.leave(cluster.now));
    },
    restart: (victim) => bootNode(victim),
  });
  net.loss = loss;
  net.dup = dup;

  const violations: Violation[] = [];
  const MAX_EVENTS = 6_000_000;
  if (!cluster.runUntil(faultMs, MAX_EVENTS)) {
    violations.push({
      prop: 'budget',
      t: cluster.now,
      detail: `more than ${MAX_EVENTS} events in the fault phase`,
    });
  }

  // ---- heal ----
  const healAt = cluster.now;
  note('HEAL: network restored, all nodes up');
  healed = true;
  net.heal(opts.healJitter ?? DEFAULT_HEAL_JITTER_MS);
  for (const id of ids) {
    const nd = cluster.node(id);
    nd.pausedUntil = Math.min(nd.pausedUntil, healAt);
    if (!nd.alive) {
      down.delete(id);
      if (stacks.has(id)) killClients(id);
      bootNode(id);
    }
  }
  if (opts.corruptDeliveries) {
    // A sync whose messages were garbled can stall in its ring, as in corosync (nothing below
    // checks the payloads when crypto is off). A new membership must recover: restart node 1,
    // so the others' stacks, which read the garbage, go through a sync of a clean ring.
    note('restart n1: a new ring after the corrupted phase');
    killClients(ids[0]!);
    cluster.crash(ids[0]!);
    bootNode(ids[0]!);
  }
  const bound = 3 * (cfg0.token + cfg0.consensus) + 10 * cfg0.join;
  let formedAt = -1;
  const step = Math.max(10, Math.trunc(cfg0.join));
  for (let t = healAt + step; t <= healAt + bound; t += step) {
    cluster.runUntil(t, MAX_EVENTS);
    if (oneRing(cluster, ids) && ids.every((id) => stacks.get(id)?.exec.syncInProgress === false)) {
      formedAt = t;
      break;
    }
  }
  if (formedAt < 0) {
    violations.push({
      prop: 'liveness',
      t: cluster.now,
      detail: `no synced ring of all ${n} nodes within ${bound}ms after heal: ${summary(cluster, ids, stacks)}`,
    });
  }
  // traffic for a while, then stop sending and drain until every client has its own messages
  cluster.runUntil(cluster.now + 4 * cfg0.token, MAX_EVENTS);
  sendOn = false;
  const settled = (): boolean =>
    quiescent(cluster, ids) &&
    ids.every((id) => {
      const st = stacks.get(id);
      return (
        !!st &&
        !st.exec.syncInProgress &&
        st.pg.staged.count === 0 &&
        st.clients.every((c) => c.ended || (c.joined && c.outstanding.size === 0))
      );
    });
  const drainEnd = cluster.now + 200 * cfg0.token;
  while (cluster.now < drainEnd) {
    cluster.runUntil(cluster.now + cfg0.token, MAX_EVENTS);
    if (settled()) break;
  }
  cluster.runUntil(cluster.now + 2 * cfg0.token, MAX_EVENTS);
  tick = false;
  if (!settled()) {
    violations.push({
      prop: 'liveness',
      t: cluster.now,
      detail: `CPG did not settle: ${summary(cluster, ids, stacks)}`,
    });
  }
  // quiesce marker and a clean exit for every client still running
  for (const c of allClients) {
    if (c.ended) continue;
    c.records.push({ k: 'q', t: cluster.now });
    c.end('exit');
  }

  violations.push(...errors);
  // the totem checkers name a message by its payload: give them the tag only
  const history: Recorded[] = cluster.history.map((h) => {
    if (h.effect.kind !== 'deliver') return h;
    const tag = tagOf(h.effect.payload);
    return { ...h, effect: { ...h.effect, payload: Buffer.from(tag, 'latin1') } };
  });
  violations.push(...checkHistory(history, sent));
  if (formedAt >= 0) {
    // self delivery (P7) of every packet of a node incarnation alive at the end; the checker
    // looks at 'a:' ids (not FIFO: packets queued during waiting_trans_ack overtake older ones)
    const asA = (id: string): string => `a${id.slice(1)}`;
    const alive = new Map(ids.map((id) => [id, cluster.node(id).inc]));
    const hA = history.map((h) =>
      h.effect.kind === 'deliver'
        ? { ...h, effect: { ...h.effect, payload: Buffer.from(asA(h.effect.payload.toString())) } }
        : h,
    );
    const sentA = new Map([...sent].map(([k, v]) => [asA(k), v]));
    violations.push(...checkSelfDelivery(hA, sentA, alive));
  }
  const lives: Life[] = allClients.map((c) => ({
    label: c.label,
    node: c.node,
    pid: c.pid,
    records: c.records,
  }));
  const cpgRes = checkCpgHistories(lives, lostAllowed, {
    totemLost: totemLost(cluster.history, packets),
    movedTogether: movedTogether(cluster.history),
  });
  const serviceErrors = execs.reduce((sum, x) => sum + x.stats.serviceErrors, 0);
  const rings = new Set(
    cluster.history
      .filter((h) => h.effect.kind === 'confchg' && h.effect.type === 'regular')
      .map((h) => (h.effect.kind === 'confchg' ? `${h.effect.ringId.rep}.${h.effect.ringId.seq}` : '')),
  ).size;
  return {
    seed,
    ok: opts.corruptDeliveries
      ? robustUnderCorruption(violations) && serviceErrors === 0
      : violations.length === 0 && cpgRes.violations.length === 0,
    violations,
    cpgViolations: cpgRes.violations,
    cpgReport: cpgRes.violations.length ? violationReport(lives, cpgRes.violations) : '',
    mix,
    events: cluster.events,
    delivered: cluster.history.filter((h) => h.effect.kind === 'deliver').length,
    rings,
    virtualMs: cluster.now,
    trace: cluster.trace,
    script,
    cpg: cpgRes.stats,
    serviceErrors,
    corrupted,
  };
}

/**
 * What must hold under `corruptDeliveries`: no exception out of a stack (or the simulator's own
 * checks) and a synced ring of all nodes after the heal. The order and CPG checkers' findings
 * are what the garbage did and are not counted.
 */
export function robustUnderCorruption(violations: readonly Violation[]): boolean {
  return !violations.some(
    (v) => v.prop === 'exception' || v.prop === 'sim' || v.detail.startsWith('no synced ring'),
  );
}

/** The totempg packets `first..last` (tag numbers of its node's incarnation) of a client message. */
interface MsgPackets {
  node: number;
  inc: number;
  /** cpg-history's message key (M<node>/<pid>#<seq>). */
  key: string;
  first: number;
  last: number;
}

/**
 * The client messages that totempg cannot hand up at a receiver node, as `<node>:<message key>`
 * (checkCpgHistories' `totemLost`), so that the CPG checkers judge what CPG adds to what totem
 * delivered (the totem checkers judge that): the receiver's totemsrp did not deliver every
 * packet of the sender from the message's first to its last (it was not in the ring they went
 * out in, or it was not with the sender when that ring ended — the totem checkers verify that
 * this is legitimate), or a transitional configuration without the sender came between the
 * first and the last (totempg.c app_confchg_fn frees the assemblies of the nodes that left, the
 * next fragment's continuation then mismatches and the rest is thrown away).
 *
 * The CPG layer of corosync 3.1.7 does not always report a leave for such a sender: it computes
 * its downlist against the members of the last *completed* sync (cpg.c cpg_sync_init), so when
 * the syncs of the rings in between were aborted — the receiver was cut off from the sender and
 * back before a sync completed — the message is missing at the receiver without a confchg that
 * explains it. That is corosync 3.1.7's behaviour, which we keep (sim seeds 103, 106).
 */
function totemLost(history: readonly Recorded[], msgs: readonly MsgPackets[]): Set<string> {
  const out = new Set<string>();
  if (msgs.length === 0) return out;
  // per receiver incarnation: tag → delivery position, and transitional confchgs in order
  interface Rx {
    node: number;
    inc: number;
    at: Map<string, number>;
    trans: { pos: number; members: readonly number[] }[];
  }
  const rx = new Map<string, Rx>();
  let pos = 0;
  for (const h of history) {
    pos++;
    const k = `${h.node}:${h.inc}`;
    let r = rx.get(k);
    if (!r) rx.set(k, (r = { node: h.node, inc: h.inc, at: new Map(), trans: [] }));
    if (h.effect.kind === 'deliver') r.at.set(tagOf(h.effect.payload), pos);
    else if (h.effect.kind === 'confchg' && h.effect.type === 'transitional') {
      r.trans.push({ pos, members: h.effect.members });
    }
  }
  for (const m of msgs) {
    const tag = (n: number): string => `p:${m.node}:${m.inc}:${n}:`;
    // (a node's clients are not told apart by incarnation: lost only if no incarnation got it)
    const lostAt = new Set<number>();
    const gotAt = new Set<number>();
    for (const r of rx.values()) {
      if (r.node === m.node && r.inc === m.inc) continue;
      const iF = r.at.get(tag(m.first));
      const iL = r.at.get(tag(m.last));
      let lost = iF === undefined || iL === undefined;
      for (let n = m.first + 1; !lost && n < m.last; n++) lost = !r.at.has(tag(n));
      if (!lost && iL! > iF!)
        lost = r.trans.some((t) => t.pos > iF! && t.pos < iL! && !t.members.includes(m.node));
      (lost ? lostAt : gotAt).add(r.node);
    }
    for (const node of lostAt) if (!gotAt.has(node)) out.add(`${node}:${m.key}`);
  }
  return out;
}

/**
 * For checkCpgHistories: whether two nodes went from ring `from` to ring `to` (`R<rep>.<seq>`,
 * seq in decimal as the clients record it) through the same rings with the same transitional
 * sets (unknown: true).
 */
function movedTogether(
  history: readonly Recorded[],
): (a: number, b: number, from: string, to: string) => boolean {
  const rings = new Map<number, { ring: string; trans: string }[]>();
  for (const h of history) {
    const e = h.effect;
    if (e.kind !== 'confchg' || e.type !== 'transitional') continue;
    let l = rings.get(h.node);
    if (!l) rings.set(h.node, (l = []));
    l.push({
      ring: `R${e.ringId.rep}.${e.ringId.seq.toString()}`,
      trans: [...e.members].sort((x, y) => x - y).join(),
    });
  }
  const memo = new Map<string, string | undefined>();
  const path = (node: number, from: string, to: string): string | undefined => {
    const k = `${node}|${from}|${to}`;
    if (memo.has(k)) return memo.get(k);
    const v = computePath(node, from, to);
    memo.set(k, v);
    return v;
  };
  const computePath = (node: number, from: string, to: string): string | undefined => {
    const l = rings.get(node) ?? [];
    const i = l.findIndex((r) => r.ring === from);
    const j = l.findIndex((r) => r.ring === to);
    if (i < 0 || j < i) return undefined;
    return l
      .slice(i + 1, j + 1)
      .map((r) => `${r.ring}:${r.trans}`)
      .join(' ');
  };
  return (a, b, from, to) => {
    const pa = path(a, from, to);
    const pb = path(b, from, to);
    return pa === undefined || pb === undefined || pa === pb;
  };
}

/** The payload behind the `p:<node>:<inc>:<n>:` tag (null when there is none). */
function untag(payload: Buffer): Buffer | null {
  let colons = 0;
  for (let i = 0; i < Math.min(payload.length, TAG_MAX); i++) {
    if (payload[i] === 0x3a && ++colons === 4) return payload.subarray(i + 1);
  }
  return null;
}

/** The `p:<node>:<inc>:<n>:` tag of an SRP payload ('' when there is none). */
function tagOf(payload: Buffer): string {
  let colons = 0;
  for (let i = 0; i < Math.min(payload.length, TAG_MAX); i++) {
    if (payload[i] === 0x3a && ++colons === 4) return payload.toString('latin1', 0, i + 1);
  }
  return '';
}

function summary(c: Cluster, ids: number[], stacks: ReadonlyMap<number, Stack>): string {
  return ids
    .map((id) => {
      const s = c.node(id).srp;
      const st = stacks.get(id);
      if (!s || !st) return `n${id}: down`;
      const cl = st.clients
        .filter((x) => !x.ended)
        .map((x) => `${x.pid}${x.joined ? '' : '(unjoined)'}:${x.outstanding.size}`)
        .join(',');
      return (
        `n${id}: ${s.state} ring=${s.ringId.rep}.${s.ringId.seq.toString(16)} members=[${s.members}] ` +
        `waitingTransAck=${s.waitingTransAck} pending=${s.pendingMessages} syncing=${st.exec.syncInProgress} ` +
        `staged=${st.pg.staged.count} clients=[${cl}]`
      );
    })
    .join('; ');
}

/** Human-readable failure report: seed, mix, violations, fault script, trace window. */
export function formatCpgFailure(r: CpgSimResult, traced?: CpgSimResult): string {
  const lines = [
    `CPG SIM FAILURE seed=${r.seed} (replay: node dist/test/sim/run.js --cpg --seed ${r.seed} --trace)`,
    `mix: ${r.mix}`,
    ...r.violations.slice(0, 10).map((v) => `  [${v.prop}] t=${v.t.toFixed(3)} ${v.detail.slice(0, 2000)}`),
  ];
  if (r.cpgReport) lines.push('cpg histories:', r.cpgReport);
  lines.push('fault script:', ...r.script.map((s) => `  ${s}`));
  if (traced && traced.trace.length) {
    const t0 = Math.max(0, (r.violations[0]?.t ?? r.virtualMs) + 1);
    const idx = traced.trace.findIndex((l) => Number(l.trim().split(' ')[0]) > t0);
    const end = idx < 0 ? traced.trace.length : idx;
    lines.push(
      `trace (last 80 lines up to t=${t0.toFixed(3)}):`,
      ...traced.trace.slice(Math.max(0, end - 80), end),
    );
  }
  return lines.join('\n');
}
