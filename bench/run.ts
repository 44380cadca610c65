/**
 * `npm run bench`: our cluster and real corosync 3.1.7, measured in the same run on the same
 * machine with the same corosync.conf (3 nodes, udpu, crypto none, default totem timeouts),
 * each node in its own network namespace on one bridge (test/helpers/real-corosync.ts and
 * netns-bridge.ts). Ours = 3 corosync-ts daemons with bench/cpg-bench-client.ts clients;
 * theirs = 3 real corosync with bench/c/cpg-bench.c clients (libcpg). One after the other.
 *
 * Workloads: CPG throughput, one sender, 1 KiB and 64 KiB (median of 3 runs of the slowest
 * node's delivery rate); CPG latency at low load (p50/p99 over every node); failure detection
 * (SIGKILL one daemon, until both survivors' CPG confchg); cold start (first daemon launched
 * until every node's cmap shows all three members joined). Prints ours / theirs / ratio and
 * writes bench/results/<timestamp>.json. Needs root, corosync 3.1.7, gcc and libcpg headers.
 *
 *   node dist/bench/run.js [--reps 3] [--count1k 20000] [--count64k 1000] [--lat-count 500]
 *     [--lat-interval-us 10000] [--no-sched-rr] [--only ours|theirs] [--cpu-prof]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CmapHandle, CmapMapKind } from '../src/client/cmap.js';
import { NetnsBridge } from '../test/helpers/netns-bridge.js';
import {
  ourRunDir,
  realCorosyncAvailable,
  startOurDaemon,
  startRealCorosync,
  type RealCorosync,
} from '../test/helpers/real-corosync.js';

// ---- options ----

function numArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}
function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const REPS = numArg('reps', 3);
const TPUT_RUNS = numArg('runs', 3);
const COUNT_1K = numArg('count1k', 20000);
const COUNT_64K = numArg('count64k', 1000);
const LAT_COUNT = numArg('lat-count', 500);
const LAT_INTERVAL_US = numArg('lat-interval-us', 10000);
const LAT_SIZE = numArg('lat-size', 1024);
const NO_SCHED_RR = process.argv.includes('--no-sched-rr');
const CPU_PROF = process.argv.includes('--cpu-prof');
const ONLY = strArg('only');
const NODES = 3;
const KILLED = 3;
const GROUP = 'bench';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = path.resolve(HERE, '../..');
const C_SOURCE = path.join(ROOT, 'bench/c/cpg-bench.c');
const TS_CLIENT = path.join(HERE, 'cpg-bench-client.js');
const RESULTS = path.join(ROOT, 'bench/results');

type Impl = 'ours' | 'theirs';

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

function config(subnet: string): string {
  const nodes = Array.from(
    { length: NODES },
    (_, i) =>
      `  node {\n    name: node${i + 1}\n    nodeid: ${i + 1}\n    ring0_addr: ${subnet}.${i + 1}\n  }\n`,
  ).join('');
  return `totem {
  version: 2
  cluster_name: bench
  transport: udpu
  crypto_cipher: none
  crypto_hash: none
}
logging {
  to_stderr: yes
  to_syslog: no
  timestamp: hires
}
${NO_SCHED_RR ? 'system {\n  sched_rr: no\n}\n' : ''}nodelist {
${nodes}}
`;
}

// ---- clients ----

interface BenchEvent {
  ev: string;
  [k: string]: unknown;
}

class BenchClient {
  readonly events: BenchEvent[] = [];
  ended: string | undefined;
  nodeid = 0;
  private stderr = '';
  private readonly child: ChildProcess;
  private readonly changes = new EventEmitter();
  private readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    inst: RealCorosync,
    cmd: string[],
  ) {
    this.changes.setMaxListeners(0);
    this.child = spawn('nsenter', ['-t', String(inst.pid), '-m', '-n', '-u', '--', ...cmd], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin?.on('error', () => undefined);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as BenchEvent;
        if (e.ev === 'ready') this.nodeid = e.nodeid as number;
        if (e.ev === 'error') this.ended = `${String(e.what)} failed: ${String(e.code)}`;
        this.events.push(e);
      } catch {
        this.ended ??= `bad output line ${JSON.stringify(line.slice(0, 200))}`;
      }
      this.changes.emit('change');
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, sig) => {
        this.ended ??= `exited (${code ?? sig}) ${this.stderr.trim().slice(-2000)}`;
        this.changes.emit('change');
        resolve();
      }),
    );
  }

  command(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Resolve with the first event (from index `from`) matching `pred`; reject after `ms`. */
  waitFor(pred: (e: BenchEvent) => boolean, what: string, ms: number, from = 0): Promise<BenchEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = from; i < this.events.length; i++) {
          const e = this.events[i]!;
          if (pred(e)) {
            done();
            resolve(e);
            return true;
          }
        }
        if (this.ended !== undefined) {
          done();
          reject(new Error(`${this.label} ended while waiting for ${what}: ${this.ended}`));
          return true;
        }
        return false;
      };
      const onChange = (): void => void check();
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label}: timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.changes.off('change', onChange);
      };
      if (!check()) this.changes.on('change', onChange);
    });
  }

  lastMembers(): number {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.ev === 'confchg') return e.members as number;
    }
    return 0;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin?.end('quit\n');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

// ---- clusters ----

interface Cluster {
  impl: Impl;
  nodes: RealCorosync[];
  clients: BenchClient[];
  coldStartMs: number;
  schedPolicy: string[];
  stop(): Promise<void>;
}

let clusterCounter = 0;
let cBin = '';

async function ringOfAll(
  impl: Impl,
  nodes: RealCorosync[],
  cmaps: (CmapHandle | undefined)[],
): Promise<boolean> {
  const ids = Array.from({ length: NODES }, (_, i) => i + 1);
  const oks = await Promise.all(
    nodes.map(async (n, i) => {
      if (impl === 'theirs') {
        const r = await n.exec('corosync-cmapctl', ['runtime.members.'], 2000);
        return ids.every((id) =>
          new RegExp(`^runtime\\.members\\.${id}\\.status \\(str\\) = joined$`, 'm').test(r.stdout),
        );
      }
      try {
        cmaps[i] ??= await CmapHandle.initialize(CmapMapKind.ICMAP, { runDir: ourRunDir(n) });
        for (const id of ids) {
          if ((await cmaps[i]!.get(`runtime.members.${id}.status`)).value !== 'joined') return false;
        }
        return true;
      } catch {
        await cmaps[i]?.finalize().catch(() => undefined);
        cmaps[i] = undefined;
        return false;
      }
    }),
  );
  return oks.every(Boolean);
}

function schedPolicy(pid: number): string {
  const r = spawnSync('chrt', ['-p', String(pid)], { encoding: 'utf8' });
  const pol = /policy: (\S+)/.exec(r.stdout)?.[1] ?? '?';
  const prio = /priority: (\d+)/.exec(r.stdout)?.[1] ?? '?';
  return `${pol}/${prio}`;
}

async function startCluster(impl: Impl): Promise<Cluster> {
  const n = ++clusterCounter;
  const subnet = `10.${240 + (n % 10)}.${(process.pid % 200) + 1}`;
  const bridge = NetnsBridge.create(`b${n}`);
  const text = config(subnet);
  let t0 = 0;
  const nodes: RealCorosync[] = [];
  const clients: BenchClient[] = [];
  const cmaps: (CmapHandle | undefined)[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(cmaps.map((c) => c?.finalize().catch(() => undefined)));
    await Promise.all(nodes.map((x) => x.stop().catch(() => undefined)));
    bridge.destroy();
  };
  try {
    const started = await Promise.allSettled(
      Array.from({ length: NODES }, (_, i) => {
        const opts = {
          configText: text,
          hostname: `node${i + 1}`,
          name: `${impl}${n}n${i + 1}`,
          startTimeoutMs: 30_000,
          attach: (ns: string) => {
            bridge.attach(ns, `${subnet}.${i + 1}/24`);
            if (t0 === 0) t0 = nowUs();
          },
        };
        return impl === 'theirs' ? startRealCorosync(opts) : startOurDaemon(opts);
      }),
    );
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const deadline = Date.now() + 60_000;
    while (!(await ringOfAll(impl, nodes, cmaps))) {
      if (Date.now() > deadline) {
        throw new Error(
          `no ring of all nodes after 60 s\n${nodes.map((x) => x.output().slice(-2000)).join('\n')}`,
        );
      }
      await sleep(20);
    }
    const coldStartMs = (nowUs() - t0) / 1000;
    const schedPolicies = nodes.map((x) => schedPolicy(x.pid));
    // one client per node, one at a time (each join seen by the clients before)
    for (let i = 0; i < NODES; i++) {
      const label = `${impl}${i + 1}`;
      const cmd =
        impl === 'theirs'
          ? [cBin, GROUP, label]
          : [process.execPath, TS_CLIENT, GROUP, label, '/run/corosync-ts'];
      const c = new BenchClient(label, nodes[i]!, cmd);
      clients.push(c);
      await c.waitFor((e) => e.ev === 'ready', `${label} ready`, 30_000);
      await Promise.all(
        clients.map((x) => x.waitFor(() => x.lastMembers() === clients.length, `${label} join seen`, 15_000)),
      );
    }
    return { impl, nodes, clients, coldStartMs, schedPolicy: schedPolicies, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---- workloads ----

interface ThroughputRun {
  /** Slowest node: messages/s from the first send to its last delivery. */
  msgsPerSec: number;
  mbPerSec: number;
  /** Messages delivered at the node that got the fewest (of `sent`). */
  delivered: number;
  sent: number;
  /** Deliveries stopped short of `sent` (rates then count the delivered messages only). */
  lost: boolean;
  perNode: { nodeid: number; delivered: number; msgsPerSec: number; mbPerSec: number }[];
  senderSeconds: number;
}

let runId = 0;

/** Ask every client how far it got in the current run ("stat"). */
async function stats(c: Cluster): Promise<(BenchEvent | undefined)[]> {
  const marks = c.clients.map((x) => x.events.length);
  for (const x of c.clients) x.command('stat');
  return Promise.all(
    c.clients.map((x, i) => x.waitFor((e) => e.ev === 'stat', 'stat', 5000, marks[i]).catch(() => undefined)),
  );
}

/** A run's end at one node: "done", or the last "stat" when deliveries stopped short. */
function rate(d: BenchEvent): { msgsPerSec: number; mbPerSec: number } {
  const secs = ((d.last as number) - (d.start as number)) / 1e6;
  return { msgsPerSec: (d.n as number) / secs, mbPerSec: (d.bytes as number) / secs / 1e6 };
}

/** Seconds without a new delivery anywhere, after the sender finished, that end a run as lost. */
const STALL_S = 5;

async function throughput(c: Cluster, size: number, count: number): Promise<ThroughputRun> {
  const run = ++runId;
  const marks = c.clients.map((x) => x.events.length);
  const deadline = Date.now() + 120_000;
  const sender = c.clients[0]!;
  sender.command(`send ${run} ${count} ${size} 0`);
  const find = (x: BenchEvent[], from: number, ev: string): BenchEvent | undefined =>
    x.slice(from).find((e) => e.ev === ev && e.run === run);
  let ends: BenchEvent[] | undefined;
  let lost = false;
  let lastProgress = '';
  let stillSince = Date.now();
  for (;;) {
    const dones = c.clients.map((x, i) => find(x.events, marks[i]!, 'done'));
    if (dones.every((d) => d !== undefined)) {
      ends = dones as BenchEvent[];
      break;
    }
    const ended = c.clients.find((x) => x.ended !== undefined);
    if (ended) throw new Error(`${ended.label} ended: ${ended.ended}`);
    await sleep(200);
    if (!find(sender.events, marks[0]!, 'sent')) {
      if (Date.now() > deadline) throw new Error(`run ${run}: sender still sending after 120 s`);
      continue;
    }
    const st = await stats(c);
    const progress = st.map((e) => `${String(e?.run)}:${String(e?.n)}`).join(' ');
    if (progress !== lastProgress) {
      lastProgress = progress;
      stillSince = Date.now();
    } else if (Date.now() - stillSince > STALL_S * 1000 || Date.now() > deadline) {
      // deliveries stopped short of `count`: messages were lost (or are stuck)
      const dones2 = c.clients.map((x, i) => find(x.events, marks[i]!, 'done'));
      if (dones2.every((d) => d !== undefined)) continue;
      ends = st.map(
        (e, i) => dones2[i] ?? (e?.run === run ? e : { ev: 'stat', n: 0, bytes: 0, start: 0, last: 1 }),
      );
      lost = true;
      break;
    }
  }
  const sent = find(sender.events, marks[0]!, 'sent')!;
  const perNode = ends.map((d, i) => ({
    nodeid: c.clients[i]!.nodeid,
    delivered: d.n as number,
    ...rate(d),
  }));
  const slowest = perNode.reduce((a, b) =>
    b.delivered < a.delivered || b.msgsPerSec < a.msgsPerSec ? b : a,
  );
  return {
    msgsPerSec: slowest.msgsPerSec,
    mbPerSec: slowest.mbPerSec,
    delivered: Math.min(...perNode.map((p) => p.delivered)),
    sent: count,
    lost,
    perNode,
    senderSeconds: ((sent.t1 as number) - (sent.t0 as number)) / 1e6,
  };
}

interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
  perNode: { nodeid: number; p50Ms: number; p99Ms: number }[];
}

async function latency(c: Cluster): Promise<LatencyResult> {
  const run = ++runId;
  const marks = c.clients.map((x) => x.events.length);
  const timeoutMs = (LAT_COUNT * LAT_INTERVAL_US) / 1000 + 60_000;
  c.clients[0]!.command(`send ${run} ${LAT_COUNT} ${LAT_SIZE} ${LAT_INTERVAL_US}`);
  const dones = await Promise.all(
    c.clients.map((x, i) =>
      x.waitFor((e) => e.ev === 'done' && e.run === run, `run ${run} delivered`, timeoutMs, marks[i]),
    ),
  );
  const all: number[] = [];
  const perNode = dones.map((d, i) => {
    const lat = (d.lat as number[]).map((u) => u / 1000).sort((a, b) => a - b);
    all.push(...lat);
    return { nodeid: c.clients[i]!.nodeid, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
  });
  all.sort((a, b) => a - b);
  return {
    p50Ms: percentile(all, 50),
    p99Ms: percentile(all, 99),
    maxMs: all[all.length - 1]!,
    samples: all.length,
    perNode,
  };
}

interface FailureResult {
  /** SIGKILL until the last survivor's CPG confchg (the killed node's member left). */
  cpgConfchgMs: number;
  /** SIGKILL until the last survivor's totem confchg without the killed node. */
  totemConfchgMs: number;
}

async function failureDetection(c: Cluster): Promise<FailureResult> {
  const survivors = c.clients.filter((x) => x.nodeid !== KILLED);
  const victim = c.nodes[KILLED - 1]!;
  const marks = survivors.map((x) => x.events.length);
  const tKill = nowUs();
  process.kill(victim.pid, 'SIGKILL');
  const [cpg, totem] = await Promise.all([
    Promise.all(
      survivors.map((x, i) =>
        x.waitFor(
          (e) => e.ev === 'confchg' && (e.left as number[][]).some((l) => l[0] === KILLED),
          'confchg without the killed node',
          60_000,
          marks[i],
        ),
      ),
    ),
    Promise.all(
      survivors.map((x, i) =>
        x.waitFor(
          (e) => e.ev === 'totem' && !(e.members as number[]).includes(KILLED),
          'totem confchg without the killed node',
          60_000,
          marks[i],
        ),
      ),
    ),
  ]);
  const last = (es: BenchEvent[]): number => Math.max(...es.map((e) => e.t as number));
  return { cpgConfchgMs: (last(cpg) - tKill) / 1000, totemConfchgMs: (last(totem) - tKill) / 1000 };
}

// ---- one implementation ----

interface ImplResult {
  impl: Impl;
  schedPolicy: string[];
  coldStartMs: number[];
  failure: FailureResult[];
  throughput1k: ThroughputRun[];
  throughput64k: ThroughputRun[];
  latency: LatencyResult | undefined;
  errors: string[];
  seconds: number;
}

async function attempt<T>(res: ImplResult, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const msg = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    res.errors.push(msg);
    console.log(`  ! ${msg.split('\n')[0]}`);
    return undefined;
  }
}

async function benchImpl(impl: Impl): Promise<ImplResult> {
  const t = Date.now();
  const res: ImplResult = {
    impl,
    schedPolicy: [],
    coldStartMs: [],
    failure: [],
    throughput1k: [],
    throughput64k: [],
    latency: undefined,
    errors: [],
    seconds: 0,
  };
  for (let rep = 1; rep <= REPS; rep++) {
    const c = await attempt(res, `${impl} cluster start`, () => startCluster(impl));
    if (!c) continue;
    try {
      res.coldStartMs.push(c.coldStartMs);
      res.schedPolicy = c.schedPolicy;
      console.log(
        `  ${impl} #${rep}: cold start ${c.coldStartMs.toFixed(0)} ms (daemons ${c.schedPolicy.join(' ')})`,
      );
      if (rep === 1) {
        for (const [size, count, into] of [
          [1024, COUNT_1K, res.throughput1k],
          [65536, COUNT_64K, res.throughput64k],
        ] as const) {
          for (let r = 0; r < TPUT_RUNS; r++) {
            const logMarks = c.nodes.map((n) => n.output().length);
            const tr = await attempt(res, `${impl} throughput ${size} B`, () => throughput(c, size, count));
            if (!tr) break;
            if (tr.lost) {
              // the daemons' own word on it (ours logs "mcast ... dropped: totem queue full")
              const logs = c.nodes.map((n, i) => n.output().slice(logMarks[i]));
              const drops = logs.map((l) => (l.match(/dropped[^\n]*/g) ?? []).length);
              const sample = /[^\n]*dropped[^\n]*/.exec(logs.join('\n'))?.[0];
              const msg =
                `${impl} throughput ${size} B: ${tr.delivered} of ${tr.sent} delivered; ` +
                `daemon log lines with "dropped" per node: ${drops.join('/')}` +
                (sample ? `, e.g. ${sample.trim()}` : '');
              res.errors.push(msg);
              console.log(`  ! ${msg}`);
            }
            into.push(tr);
            console.log(
              `  ${impl} throughput ${size} B x ${count}: ${tr.msgsPerSec.toFixed(0)} msg/s, ` +
                `${tr.mbPerSec.toFixed(1)} MB/s (slowest node)` +
                (tr.lost ? ` — LOST: only ${tr.delivered} of ${tr.sent} delivered, rate over those` : ''),
            );
          }
        }
        res.latency = await attempt(res, `${impl} latency`, () => latency(c));
        if (res.latency) {
          console.log(
            `  ${impl} latency: p50 ${res.latency.p50Ms.toFixed(3)} ms, p99 ${res.latency.p99Ms.toFixed(3)} ms`,
          );
        }
      }
      const f = await attempt(res, `${impl} failure detection`, () => failureDetection(c));
      if (f) {
        res.failure.push(f);
        console.log(`  ${impl} failure detection: cpg confchg ${f.cpgConfchgMs.toFixed(0)} ms`);
      }
    } finally {
      await c.stop();
    }
  }
  res.seconds = (Date.now() - t) / 1000;
  return res;
}

// ---- report ----

interface Row {
  metric: string;
  better: 'higher' | 'lower';
  ours: number | undefined;
  theirs: number | undefined;
  /** Some runs lost messages on that side (the value counts delivered messages only). */
  oursLost?: boolean;
  theirsLost?: boolean;
}

function rows(ours: ImplResult | undefined, theirs: ImplResult | undefined): Row[] {
  const pick = (f: (r: ImplResult) => number | undefined) => ({
    ours: ours ? f(ours) : undefined,
    theirs: theirs ? f(theirs) : undefined,
  });
  const med = (xs: number[]): number | undefined => (xs.length ? median(xs) : undefined);
  const lost = (f: (r: ImplResult) => ThroughputRun[]) => ({
    oursLost: ours ? f(ours).some((x) => x.lost) : false,
    theirsLost: theirs ? f(theirs).some((x) => x.lost) : false,
  });
  const t1k = lost((r) => r.throughput1k);
  const t64k = lost((r) => r.throughput64k);
  return [
    {
      metric: 'cpg 1 KiB msg/s',
      better: 'higher',
      ...t1k,
      ...pick((r) => med(r.throughput1k.map((x) => x.msgsPerSec))),
    },
    {
      metric: 'cpg 1 KiB MB/s',
      better: 'higher',
      ...t1k,
      ...pick((r) => med(r.throughput1k.map((x) => x.mbPerSec))),
    },
    {
      metric: 'cpg 64 KiB msg/s',
      better: 'higher',
      ...t64k,
      ...pick((r) => med(r.throughput64k.map((x) => x.msgsPerSec))),
    },
    {
      metric: 'cpg 64 KiB MB/s',
      better: 'higher',
      ...t64k,
      ...pick((r) => med(r.throughput64k.map((x) => x.mbPerSec))),
    },
    { metric: 'cpg latency p50 ms', better: 'lower', ...pick((r) => r.latency?.p50Ms) },
    { metric: 'cpg latency p99 ms', better: 'lower', ...pick((r) => r.latency?.p99Ms) },
    {
      metric: 'failure detection ms',
      better: 'lower',
      ...pick((r) => med(r.failure.map((x) => x.cpgConfchgMs))),
    },
    {
      metric: '  (totem confchg ms)',
      better: 'lower',
      ...pick((r) => med(r.failure.map((x) => x.totemConfchgMs))),
    },
    { metric: 'cold start ms', better: 'lower', ...pick((r) => med(r.coldStartMs)) },
  ];
}

function fmt(v: number | undefined): string {
  if (v === undefined) return '-';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

function table(rs: Row[]): string {
  const lines = [['metric', 'ours', 'theirs', 'ours/theirs', '']];
  for (const r of rs) {
    const ratio = r.ours !== undefined && r.theirs ? r.ours / r.theirs : undefined;
    lines.push([
      r.metric,
      fmt(r.ours) + (r.oursLost ? '*' : ''),
      fmt(r.theirs) + (r.theirsLost ? '*' : ''),
      ratio === undefined ? '-' : ratio.toFixed(2),
      `${r.better} is better`,
    ]);
  }
  const w = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l) =>
      l
        .map((c, i) => (i === 0 || i === 4 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

// ---- main ----

function check(): string | undefined {
  const a = realCorosyncAvailable();
  if (!a.ok) return a.reason;
  for (const cmd of ['gcc', 'chrt']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0)
      return `${cmd} not found`;
  }
  if (!fs.existsSync('/usr/include/corosync/cpg.h'))
    return 'libcpg headers missing (/usr/include/corosync/cpg.h)';
  return undefined;
}

async function main(): Promise<void> {
  const why = check();
  if (why) {
    console.error(`bench: cannot run: ${why}`);
    process.exit(1);
  }
  const binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-bench-'));
  process.once('exit', () => fs.rmSync(binDir, { recursive: true, force: true }));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  cBin = path.join(binDir, 'cpg-bench');
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', cBin, C_SOURCE, '-lcpg'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot build ${C_SOURCE}: ${cc.stderr}`);
  let profDir: string | undefined;
  if (CPU_PROF) {
    profDir = path.join(RESULTS, `cpuprof-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    fs.mkdirSync(profDir, { recursive: true });
  }

  const cpu =
    /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
  const machine = { nproc: os.availableParallelism(), cpu, kernel: os.release(), node: process.version };
  const corosync = spawnSync('corosync', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const sched = NO_SCHED_RR
    ? 'system { sched_rr: no } for both: every daemon at SCHED_OTHER'
    : 'corosync defaults: real corosync runs at SCHED_RR 99 (sched_rr: yes); ours ignores sched_rr (SCHED_OTHER)';
  console.log(
    `corosync-ts bench: ${machine.nproc} CPUs, ${machine.cpu}, Linux ${machine.kernel}, Node ${machine.node}`,
  );
  console.log(`theirs: ${corosync}`);
  console.log(`scheduling: ${sched}`);
  console.log(
    `3 nodes, udpu, crypto none, default totem timeouts; one sender; ${REPS} cluster starts per side; ` +
      `throughput ${COUNT_1K} x 1 KiB, ${COUNT_64K} x 64 KiB (median of ${TPUT_RUNS}); latency ${LAT_COUNT} x ${LAT_SIZE} B every ${LAT_INTERVAL_US} us`,
  );

  const t = Date.now();
  const results: Partial<Record<Impl, ImplResult>> = {};
  for (const impl of ['ours', 'theirs'] as const) {
    if (ONLY && ONLY !== impl) continue;
    console.log(`${impl}:`);
    const saved = process.env.NODE_OPTIONS;
    if (impl === 'ours' && profDir) {
      // --cpu-prof is not allowed in NODE_OPTIONS: a preload starts the profiler instead
      const preload = pathToFileURL(path.join(HERE, 'cpu-prof.js')).href;
      process.env.NODE_OPTIONS = `${saved ?? ''} --import=${preload}`.trim();
      process.env.CTS_BENCH_CPU_PROF_DIR = profDir;
    }
    try {
      results[impl] = await benchImpl(impl);
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
      delete process.env.CTS_BENCH_CPU_PROF_DIR;
    }
  }
  const rs = rows(results.ours, results.theirs);
  console.log('');
  console.log(table(rs));
  if (rs.some((r) => r.oursLost || r.theirsLost)) {
    console.log('* messages were lost in some runs: the rate counts the delivered ones (see the JSON)');
  }
  const seconds = (Date.now() - t) / 1000;
  console.log(`\nrun took ${seconds.toFixed(0)} s`);

  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const json = {
    date: new Date().toISOString(),
    machine,
    corosync,
    scheduling: sched,
    config: config('10.x.y'),
    options: {
      reps: REPS,
      throughputRuns: TPUT_RUNS,
      count1k: COUNT_1K,
      count64k: COUNT_64K,
      latCount: LAT_COUNT,
      latIntervalUs: LAT_INTERVAL_US,
      latSize: LAT_SIZE,
      noSchedRr: NO_SCHED_RR,
    },
    summary: rs.map((r) => ({ ...r, ratio: r.ours !== undefined && r.theirs ? r.ours / r.theirs : null })),
    results,
    cpuProfiles: profDir,
    seconds,
  };
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  if (profDir)
    console.log(`cpu profiles of our daemons and clients in ${path.relative(process.cwd(), profDir)}`);
}

await main();
