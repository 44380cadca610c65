/**
 * `npm run bench`: our cluster and real corosync 3.1.7, measured in the same run on the same
 * machine with the same corosync.conf (udpu, crypto none, default totem timeouts), each node in
 * its own network namespace on one bridge (test/helpers/real-corosync.ts and netns-bridge.ts).
 * Ours = corosync-ts daemons with bench/cpg-bench-client.ts and bench/cmap-bench-client.ts;
 * theirs = real corosync with bench/c/cpg-bench.c (libcpg) and bench/c/cmap-bench.c (libcmap).
 * 3-node and 5-node clusters, one side after the other.
 *
 * Workloads (see bench/README.md): CPG throughput at 64 B, 1 KiB, 16 KiB, 64 KiB with one sender
 * and with every node sending (slowest node's delivery rate, median and spread over runs); CPG
 * latency at low load (both clusters up at once, runs alternating, when both sides run); cmap
 * get/set operations/s and track-notification latency over IPC; the daemons' resident memory,
 * idle and peak under the throughput load; failure detection; cold start. Prints ours / theirs /
 * ratio and writes bench/results/<timestamp>.json. Needs root, corosync 3.1.7, gcc and the
 * libcpg/libcmap headers.
 *
 *   node dist/bench/run.js [--quick] [--nodes 3,5] [--sizes 64,1024,16384,65536]
 *     [--senders one,all] [--counts 64=30000,1024=20000,16384=4000,65536=1000] [--runs 3]
 *     [--reps 3] [--lat-count 500] [--lat-interval-us 10000] [--lat-size 1024] [--lat-sender 1]
 *     [--lat-warm-count 5000] [--lat-warm-paced 3000] [--cmap-ms 2000] [--cmap-warm-ms 500]
 *     [--track-count 1000] [--track-warm 1000] [--track-interval-us 2000]
 *     [--no-sched-rr] [--only ours|theirs] [--cpu-prof] [--steps]
 */
import { Buffer } from 'node:buffer';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CmapHandle, CmapMapKind } from '../src/client/cmap.js';
import {
  STEP_EVENTS,
  analyzeSteps,
  countRequests,
  formatSteps,
  median,
  percentile,
  type StepRow,
} from './latency-steps.js';
import { NetnsBridge } from '../test/helpers/netns-bridge.js';
import {
  ourRunDir,
  realCorosyncAvailable,
  startOurDaemon,
  startRealCorosync,
  type RealCorosync,
  udpuClusterConfig,
} from '../test/helpers/real-corosync.js';

// ---- options ----

function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function numArg(name: string, dflt: number, quick = dflt): number {
  const v = countArg(name, dflt, quick);
  if (v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}
/** Like numArg, 0 allowed (a warm-up that can be left out). */
function countArg(name: string, dflt: number, quick = dflt): number {
  const s = strArg(name);
  if (s === undefined) return QUICK ? quick : dflt;
  const v = Number(s);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number >= 0`);
  return v;
}
function listArg(name: string, dflt: string, quick = dflt): string[] {
  return (strArg(name) ?? (QUICK ? quick : dflt)).split(',').filter((x) => x !== '');
}
const KNOWN = new Set([
  'quick',
  'nodes',
  'sizes',
  'senders',
  'counts',
  'runs',
  'reps',
  'lat-runs',
  'lat-count',
  'lat-interval-us',
  'lat-size',
  'lat-warm-count',
  'lat-warm-paced',
  'lat-warm-runs',
  'lat-sender',
  'cmap-ms',
  'cmap-warm-ms',
  'track-count',
  'track-warm',
  'track-interval-us',
  'no-sched-rr',
  'only',
  'cpu-prof',
  'ours-client',
  'steps',
]);
for (const a of process.argv.slice(2)) {
  if (a.startsWith('--') && !KNOWN.has(a.slice(2))) throw new Error(`unknown option ${a}`);
}
/** Development mode: 3 nodes, one run, a tenth of the counts (explicit options still win). */
const QUICK = process.argv.includes('--quick');
const NODE_COUNTS = listArg('nodes', '3,5', '3').map(Number);
if (NODE_COUNTS.some((n) => !Number.isInteger(n) || n < 2 || n > 16))
  throw new Error('--nodes: cluster sizes between 2 and 16');
const SIZES = listArg('sizes', '64,1024,16384,65536').map(Number);
if (SIZES.some((n) => !Number.isInteger(n) || n < 32 || n > 1024 * 1024))
  throw new Error('--sizes: message sizes between 32 B (the header) and 1 MiB');
const SENDERS = listArg('senders', 'one,all') as Senders[];
if (SENDERS.some((x) => x !== 'one' && x !== 'all')) throw new Error('--senders: one, all or one,all');
const DEFAULT_COUNTS: Record<number, number> = { 64: 30000, 1024: 20000, 16384: 4000, 65536: 1000 };
const COUNTS = new Map<number, number>(
  SIZES.map((size) => [size, DEFAULT_COUNTS[size] ?? Math.max(200, Math.round(2e7 / size))]),
);
for (const kv of listArg('counts', '')) {
  const [k, v] = kv.split('=').map(Number);
  if (!k || !v || !(v > 0)) throw new Error(`--counts: size=count pairs, got ${kv}`);
  COUNTS.set(k, v);
}
if (QUICK && strArg('counts') === undefined)
  for (const [k, v] of COUNTS) COUNTS.set(k, Math.max(100, Math.round(v / 10)));
const REPS = numArg('reps', 3, 1);
const RUNS = numArg('runs', 3, 1);
/**
 * Latency runs per side and cluster size. More than the other workloads' runs: a run's p99 is
 * its 15th-slowest sample of 1 500, the least stable number of the table (theirs' p99 went
 * 0.35-1.6 ms between runs on the 2-vCPU VM), and a run takes only LAT_COUNT x LAT_INTERVAL_US.
 */
const LAT_RUNS = numArg('lat-runs', 7, 1);
const LAT_COUNT = numArg('lat-count', 500, 100);
const LAT_INTERVAL_US = numArg('lat-interval-us', 10000);
const LAT_SIZE = numArg('lat-size', 1024);
/**
 * The node whose client sends the latency messages (1-based). Node 1 is the ring's
 * representative: on a resting ring our rep sends its own message with the token it holds, where
 * corosync's makes one more rotation first (src/totem/srp.ts takeHeldToken); another node pays
 * the same hold-cancel and partial rotation on both sides.
 */
const LAT_SENDER = numArg('lat-sender', 1, 1);
/** Warm-up messages (one sender, LAT_SIZE bytes) a cluster gets before the paired latency runs. */
const LAT_WARM_COUNT = numArg('lat-warm-count', 5000, 1000);
/**
 * Latency warm-up messages, paced one per LAT_WARM_INTERVAL_US (not reported), before the
 * latency runs of either side. Why paced: at one message every 10 ms V8 needs thousands of
 * messages (tens of seconds) to optimise our library's per-message functions, and the code
 * optimised during the throughput runs is thrown away when the latency runs take branches the
 * throughput runs never took (the pacing, one message per read). A paced run takes those
 * branches a thousand times a second, so the measured runs see the steady state a long-running
 * low-rate client reaches, not the first seconds of one.
 */
const LAT_WARM_PACED = numArg('lat-warm-paced', 3000, 300);
const LAT_WARM_INTERVAL_US = 1000;
/**
 * Then this many latency runs as the measured ones (same count and pacing, alternating the sides
 * the same way), not reported. Why: the paced warm-up runs at 1 ms, where the ring never rests
 * and the clients' pacing path is another; the first run at the measured 10 ms was our slowest
 * of seven in three of the four full runs before this (p99 1.41, 2.35 and 3.13 ms against the
 * others' medians 1.16, 1.53 and 1.51; its clients spent 100 µs per message against ~75 later).
 * Both sides get it.
 */
const LAT_WARM_RUNS = countArg('lat-warm-runs', 1, 0);
const CMAP_MS = numArg('cmap-ms', 2000, 500);
/**
 * cmap warm-ups, not reported (item 21): every get/set client first loops CMAP_WARM_MS, every
 * tracker first takes TRACK_WARM notifications (its setter sends them, paced as the measured
 * ones), and each cluster gets one whole cmap run before the measured ones. Our daemons' and
 * clients' V8 optimises a function only after enough calls, on a compiler thread that competes
 * with the clients for the CPUs; without warm-ups the cmap runs measured those first seconds.
 */
const CMAP_WARM_MS = countArg('cmap-warm-ms', 500, 100);
const TRACK_COUNT = numArg('track-count', 1000, 200);
const TRACK_WARM = countArg('track-warm', 1000, 200);
const TRACK_INTERVAL_US = numArg('track-interval-us', 2000);
const NO_SCHED_RR = process.argv.includes('--no-sched-rr');
const CPU_PROF = process.argv.includes('--cpu-prof');
/** Record system-call tracepoints (perf) during one more latency run of each side (not counted)
 * and print the message's way step by step (bench/latency-steps.ts). */
const STEPS = process.argv.includes('--steps');
const ONLY = strArg('only');
/**
 * Both sides run: latency and cmap are measured on a cluster of each side up at once, runs
 * alternating (pairedRuns).
 */
const PAIRED = ONLY === undefined;
/** Which client drives our daemons: our TypeScript library (default) or the same C client as
 * theirs (libcpg/libcmap over our libqb-compatible IPC), to tell the library's cost from the
 * daemon's. */
const OURS_CLIENT = strArg('ours-client') ?? 'ts';
if (OURS_CLIENT !== 'ts' && OURS_CLIENT !== 'c') throw new Error('--ours-client: ts or c');
if (ONLY !== undefined && ONLY !== 'ours' && ONLY !== 'theirs') throw new Error('--only: ours or theirs');
const GROUP = 'bench';
/** RSS sampling period during the throughput workload. */
const RSS_SAMPLE_MS = 50;
/** Idle RSS is read this long after the cluster formed and the clients joined. */
const IDLE_SETTLE_MS = 8000;

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = path.resolve(HERE, '../..');
const C_CPG_SOURCE = path.join(ROOT, 'bench/c/cpg-bench.c');
const C_CMAP_SOURCE = path.join(ROOT, 'bench/c/cmap-bench.c');
const TS_CPG_CLIENT = path.join(HERE, 'cpg-bench-client.js');
const TS_CMAP_CLIENT = path.join(HERE, 'cmap-bench-client.js');
const OUR_RUN_DIR = '/run/corosync-ts'; // inside an instance's mount namespace
const RESULTS = path.join(ROOT, 'bench/results');

type Impl = 'ours' | 'theirs';
type Senders = 'one' | 'all';

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sizeName = (b: number): string => (b >= 1024 && b % 1024 === 0 ? `${b / 1024} KiB` : `${b} B`);

function config(subnet: string, nodeCount: number): string {
  // no quorum section: the bench measures CPG and cmap, not votequorum
  return udpuClusterConfig({
    clusterName: 'bench',
    addrs: Array.from({ length: nodeCount }, (_, i) => `${subnet}.${i + 1}`),
    quorum: false,
    after: NO_SCHED_RR ? 'system {\n  sched_rr: no\n}\n' : '',
  });
}

interface UdpCounters {
  /** Datagrams sent. */
  out: number;
  /** Datagrams the kernel dropped because the receiving socket's buffer was full. */
  rcvbufErrors: number;
}

/** UDP counters of a network namespace (/proc/net/snmp is per namespace). */
function udpCounters(ns: string): UdpCounters {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' });
  const [names, values] = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('Udp:'));
  const ks = names?.split(/\s+/) ?? [];
  const vs = values?.split(/\s+/) ?? [];
  const get = (k: string): number => Number(vs[ks.indexOf(k)] ?? 0) || 0;
  return { out: get('OutDatagrams'), rcvbufErrors: get('RcvbufErrors') };
}

/** CPU time (user + system) a process used so far, in seconds; undefined once gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/**
 * CPU time of every thread of a process (schedstat, ns: /proc/<pid>/stat counts 10 ms ticks, too
 * coarse for a client's ~20 ms over a latency run) and its involuntary context switches.
 */
function threadTotals(pid: number): { cpuNs: number; preemptions: number } {
  let cpuNs = 0;
  let preemptions = 0;
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return { cpuNs, preemptions };
  }
  for (const tid of tids) {
    try {
      cpuNs += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) || 0;
      const m = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(
        fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'),
      );
      preemptions += m ? Number(m[1]) : 0;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return { cpuNs, preemptions };
}

const STATUS_KB_FIELDS = { VmRSS: /^VmRSS:\s+(\d+) kB/m, RssAnon: /^RssAnon:\s+(\d+) kB/m };

/** A size field of /proc/<pid>/status in KiB, undefined once the process is gone. */
function statusKb(pid: number, field: keyof typeof STATUS_KB_FIELDS): number | undefined {
  try {
    const m = STATUS_KB_FIELDS[field].exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in KiB (VmRSS), undefined once gone. */
function rssKb(pid: number): number | undefined {
  return statusKb(pid, 'VmRSS');
}

// ---- clients ----

interface BenchEvent {
  ev: string;
  [k: string]: unknown;
}

// NetnsBridge.create adds an exit listener per bridge (one per cluster) and keeps it
process.setMaxListeners(100);

/** Client processes still running: SIGKILLed when the bench exits (also on errors and Ctrl-C). */
const liveClients = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of liveClients) c.kill('SIGKILL');
});

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
    liveClients.add(this.child);
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
      // 'close', not 'exit': every line of its stdout has been read by then
      this.child.once('close', (code, sig) => {
        liveClients.delete(this.child);
        this.ended ??= `exited (${code ?? sig}) ${this.stderr.trim().slice(-2000)}`;
        this.changes.emit('change');
        resolve();
      }),
    );
  }

  /** The client process (nsenter execs the client in place). */
  get pid(): number | undefined {
    return this.child.pid;
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
  nodeCount: number;
  nodes: RealCorosync[];
  clients: BenchClient[];
  coldStartMs: number;
  schedPolicy: string[];
  /** A run's senders never finished: later workloads on this cluster would be disturbed. */
  broken?: string;
  /** The cmap track workload's tracker and setter, started at its first run (stopped with the cluster). */
  track?: { tracker: BenchClient; setter: BenchClient };
  /** Clients that are not the CPG clients, closed by `stop` before the daemons. */
  others: BenchClient[];
  stop(): Promise<void>;
}

let clusterCounter = 0;
let cCpgBin = '';
let cCmapBin = '';

async function ringOfAll(
  impl: Impl,
  nodes: RealCorosync[],
  cmaps: (CmapHandle | undefined)[],
): Promise<boolean> {
  const ids = Array.from({ length: nodes.length }, (_, i) => i + 1);
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

async function startCluster(impl: Impl, nodeCount: number): Promise<Cluster> {
  const n = ++clusterCounter;
  const subnet = `10.${240 + (n % 10)}.${(process.pid % 200) + 1}`;
  // namespaces: cts-csbench<label>-<pid>-<k> (the helpers add the pid and a counter)
  const bridge = NetnsBridge.create(`csbench${n}`);
  const text = config(subnet, nodeCount);
  let t0 = 0;
  const nodes: RealCorosync[] = [];
  const clients: BenchClient[] = [];
  const others: BenchClient[] = [];
  const cmaps: (CmapHandle | undefined)[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all([...clients, ...others].map((c) => c.close().catch(() => undefined)));
    await Promise.all(cmaps.map((c) => c?.finalize().catch(() => undefined)));
    await Promise.all(nodes.map((x) => x.stop().catch(() => undefined)));
    bridge.destroy();
  };
  try {
    const started = await Promise.allSettled(
      Array.from({ length: nodeCount }, (_, i) => {
        const opts = {
          configText: text,
          hostname: `node${i + 1}`,
          name: `csb${impl[0]}${n}n${i + 1}`,
          startTimeoutMs: 30_000,
          attach: (ns: string) => {
            bridge.attach(ns, `${subnet}.${i + 1}/24`);
            if (t0 === 0) t0 = nowUs();
          },
        };
        return impl === 'theirs' ? startRealCorosync(opts) : startOurDaemon(opts);
      }),
    );
    // node i+1 at index i, whatever order they came up in
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
    for (let i = 0; i < nodeCount; i++) {
      const label = `${impl}${i + 1}`;
      const cmd =
        impl === 'theirs' || OURS_CLIENT === 'c'
          ? [cCpgBin, GROUP, label]
          : [process.execPath, TS_CPG_CLIENT, GROUP, label, OUR_RUN_DIR];
      const c = new BenchClient(label, nodes[i]!, cmd);
      clients.push(c);
      await c.waitFor((e) => e.ev === 'ready', `${label} ready`, 30_000);
      await Promise.all(
        clients.map((x) => x.waitFor(() => x.lastMembers() === clients.length, `${label} join seen`, 15_000)),
      );
    }
    return { impl, nodeCount, nodes, clients, others, coldStartMs, schedPolicy: schedPolicies, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---- CPG workloads ----

interface ThroughputRun {
  size: number;
  senders: Senders;
  /** Slowest node: messages/s from the first send to its last delivery. */
  msgsPerSec: number;
  mbPerSec: number;
  /** Messages delivered at the node that got the fewest (of `sent`). */
  delivered: number;
  sent: number;
  /** Deliveries stopped short of `sent` (rates then count the delivered messages only). */
  lost: boolean;
  perNode: { nodeid: number; delivered: number; msgsPerSec: number; mbPerSec: number }[];
  /** Longest time a sender needed to hand all its messages to the library. */
  senderSeconds: number;
  /** Per node, during the run: UDP datagrams dropped on a full socket buffer, and daemon log
   * lines mentioning retransmission. */
  udpRcvbufErrors: number[];
  retransmitLogLines: number[];
  /**
   * Per node, during the run: the kernel's UdpOutDatagrams (totem's packets, token included).
   * It counts send calls: a segmented send (a run of equal frames to one peer, ours) counts once.
   */
  udpOutDatagrams: number[];
  /** Per node: CPU seconds its daemon used during the run. */
  daemonCpuSeconds: number[];
  /** CPU (user + system) of each node's benchmark client during the run. */
  clientCpuSeconds: number[];
  /** CS_ERR_TRY_AGAIN answers the C senders retried (flow control; ours: not counted). */
  tryAgain: number;
  /** Per node: highest daemon VmRSS sampled during this run, KiB (which workload drives the peak). */
  rssPeakKb?: number[];
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

/** Seconds without a new delivery anywhere, after the senders finished, that end a run as lost. */
const STALL_S = 5;

/**
 * `count` messages of `size` bytes in all: from node 1 ("one"), or split evenly over every
 * node ("all", each sending its share back to back at the same time).
 */
async function throughput(c: Cluster, size: number, count: number, senders: Senders): Promise<ThroughputRun> {
  const run = ++runId;
  const marks = c.clients.map((x) => x.events.length);
  const deadline = Date.now() + 120_000;
  const sending = senders === 'one' ? [0] : c.clients.map((_, i) => i);
  sending.forEach((i, k) => {
    const share = Math.floor(count / sending.length) + (k < count % sending.length ? 1 : 0);
    c.clients[i]!.command(`send ${run} ${share} ${size} 0 ${count}`);
  });
  const find = (x: BenchEvent[], from: number, ev: string): BenchEvent | undefined =>
    x.slice(from).find((e) => e.ev === ev && e.run === run);
  const allSent = (): boolean => sending.every((i) => find(c.clients[i]!.events, marks[i]!, 'sent'));
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
    await sleep(100);
    if (!allSent()) {
      if (Date.now() > deadline) {
        // let the senders finish, so that the next workload does not run alongside this one
        const t = Date.now();
        while (!allSent() && Date.now() - t < 300_000 && !c.clients.some((x) => x.ended)) await sleep(200);
        if (!allSent()) c.broken = `run ${run}: senders still sending after 420 s`;
        else await sleep(2000);
        throw new Error(
          `run ${run}: senders still sending after 120 s` +
            (c.broken
              ? '; gave up on this cluster'
              : `, done after ${((Date.now() - t) / 1000).toFixed(0)} s more`),
        );
      }
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
  const perNode = ends.map((d, i) => ({
    nodeid: c.clients[i]!.nodeid,
    delivered: d.n as number,
    ...rate(d),
  }));
  const slowest = perNode.reduce((a, b) =>
    b.delivered < a.delivered || (b.delivered === a.delivered && b.msgsPerSec < a.msgsPerSec) ? b : a,
  );
  const senderSeconds = Math.max(
    ...sending.map((i) => {
      const e = find(c.clients[i]!.events, marks[i]!, 'sent')!;
      return ((e.t1 as number) - (e.t0 as number)) / 1e6;
    }),
  );
  return {
    size,
    senders,
    msgsPerSec: slowest.msgsPerSec,
    mbPerSec: slowest.mbPerSec,
    delivered: slowest.delivered,
    sent: count,
    lost,
    perNode,
    senderSeconds,
    udpRcvbufErrors: [],
    retransmitLogLines: [],
    udpOutDatagrams: [],
    daemonCpuSeconds: [],
    clientCpuSeconds: [],
    tryAgain: sending.reduce(
      (a, i) => a + Number(find(c.clients[i]!.events, marks[i]!, 'sent')?.try_again ?? 0),
      0,
    ),
  };
}

interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
  perNode: { nodeid: number; p50Ms: number; p99Ms: number }[];
  /**
   * Every sample, µs (0.1 µs), per node in node order, each in message order: where a slow
   * message was late (at every node: the ring; at one: that node) can be read afterwards.
   */
  samplesUs: number[][];
  /** Per node, over the run, per message sent: its daemon's CPU (every thread), µs. */
  daemonCpuUsPerMsg: number[];
  /** Per node, the same for its benchmark client (the latency sender's client included). */
  clientCpuUsPerMsg: number[];
  /** Per node: times its client was preempted (involuntary context switches) per message. */
  clientPreemptionsPerMsg: number[];
}

/**
 * Every latency sample of a run, µs, per client (node order), each in message order, as the
 * clients reported them (--steps matches them to its trace; the JSON has them rounded).
 */
const latencyByClient = new WeakMap<LatencyResult, number[][]>();

function latencyStats(lat: number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const ms = lat.map((u) => u / 1000).sort((a, b) => a - b);
  return { p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: ms[ms.length - 1]! };
}

async function latency(c: Cluster, count = LAT_COUNT, intervalUs = LAT_INTERVAL_US): Promise<LatencyResult> {
  const run = ++runId;
  const marks = c.clients.map((x) => x.events.length);
  const timeoutMs = (count * intervalUs) / 1000 + 60_000;
  const sender = c.clients[LAT_SENDER - 1];
  if (!sender) throw new Error(`--lat-sender ${LAT_SENDER}: the cluster has ${c.clients.length} nodes`);
  const daemons0 = c.nodes.map((n) => threadTotals(n.pid));
  const clients0 = c.clients.map((x) => threadTotals(x.pid ?? -1));
  sender.command(`send ${run} ${count} ${LAT_SIZE} ${intervalUs}`);
  const dones = await Promise.all(
    c.clients.map((x, i) =>
      x.waitFor((e) => e.ev === 'done' && e.run === run, `run ${run} delivered`, timeoutMs, marks[i]),
    ),
  );
  const daemons1 = c.nodes.map((n) => threadTotals(n.pid));
  const clients1 = c.clients.map((x) => threadTotals(x.pid ?? -1));
  const all: number[] = [];
  const perNode = dones.map((d, i) => {
    all.push(...(d.lat as number[]));
    const { p50Ms, p99Ms } = latencyStats(d.lat as number[]);
    return { nodeid: c.clients[i]!.nodeid, p50Ms, p99Ms };
  });
  const result: LatencyResult = {
    ...latencyStats(all),
    samples: all.length,
    perNode,
    samplesUs: dones.map((d) => (d.lat as number[]).map((u) => Math.round(u * 10) / 10)),
    daemonCpuUsPerMsg: daemons1.map((t, i) => (t.cpuNs - daemons0[i]!.cpuNs) / 1000 / count),
    clientCpuUsPerMsg: clients1.map((t, i) => (t.cpuNs - clients0[i]!.cpuNs) / 1000 / count),
    clientPreemptionsPerMsg: clients1.map((t, i) => (t.preemptions - clients0[i]!.preemptions) / count),
  };
  latencyByClient.set(
    result,
    dones.map((d) => d.lat as number[]),
  );
  return result;
}

/** Mean over the nodes whose client only receives in the latency runs (the sender's does more). */
function receiversMean(perNode: number[]): number {
  const xs = perNode.filter((_, i) => i !== LAT_SENDER - 1);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** One line on a latency run: its percentiles and what the processes spent per message. */
function latencyLine(tag: string, l: LatencyResult): string {
  const us = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join('/');
  return (
    `  ${tag} latency: p50 ${l.p50Ms.toFixed(3)} ms, p99 ${l.p99Ms.toFixed(3)} ms, max ${l.maxMs.toFixed(3)} ms; ` +
    'per message: ' +
    `daemon CPU ${us(l.daemonCpuUsPerMsg)} µs, client CPU ${us(l.clientCpuUsPerMsg)} µs, ` +
    `client preemptions ${l.clientPreemptionsPerMsg.map((x) => x.toFixed(2)).join('/')}`
  );
}

interface FailureResult {
  /** SIGKILL until the last survivor's CPG confchg (the killed node's member left). */
  cpgConfchgMs: number;
  /** SIGKILL until the last survivor's totem confchg without the killed node. */
  totemConfchgMs: number;
}

/** SIGKILL the last node's daemon; time until every survivor's client saw it leave. */
async function failureDetection(c: Cluster): Promise<FailureResult> {
  const killed = c.nodeCount;
  const survivors = c.clients.filter((x) => x.nodeid !== killed);
  const victim = c.nodes[killed - 1]!;
  const marks = survivors.map((x) => x.events.length);
  const tKill = nowUs();
  process.kill(victim.pid, 'SIGKILL');
  const [cpg, totem] = await Promise.all([
    Promise.all(
      survivors.map((x, i) =>
        x.waitFor(
          (e) => e.ev === 'confchg' && (e.left as number[][]).some((l) => l[0] === killed),
          'confchg without the killed node',
          60_000,
          marks[i],
        ),
      ),
    ),
    Promise.all(
      survivors.map((x, i) =>
        x.waitFor(
          (e) => e.ev === 'totem' && !(e.members as number[]).includes(killed),
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

// ---- cmap workloads (node 1, over IPC) ----

interface CmapRun {
  getOpsPerSec: number;
  setOpsPerSec: number;
  /** set by one client until the tracking client's notification callback (same node). */
  track: { p50Ms: number; p99Ms: number; maxMs: number; samples: number };
}

function cmapClient(c: Cluster, label: string, args: string[]): BenchClient {
  const cmd =
    c.impl === 'theirs' || OURS_CLIENT === 'c'
      ? [cCmapBin, ...args]
      : [process.execPath, TS_CMAP_CLIENT, ...args, OUR_RUN_DIR];
  return new BenchClient(label, c.nodes[0]!, cmd);
}

async function cmapOps(c: Cluster, op: 'get' | 'set'): Promise<number> {
  const x = cmapClient(c, `${c.impl} cmap ${op}`, [op, String(CMAP_MS), String(CMAP_WARM_MS)]);
  try {
    const r = await x.waitFor((e) => e.ev === 'result', `cmap ${op} result`, 120_000);
    return (r.n as number) / (((r.t1 as number) - (r.t0 as number)) / 1e6);
  } finally {
    await x.close();
  }
}

/**
 * The cluster's tracker and setter on node 1, started at its first track run and kept for the
 * later ones (both sides): a TypeScript client started afresh for each run was still having its
 * functions compiled by V8 during the measured notifications, each compile a few milliseconds of
 * a CPU, and the runs measured that warm-up (bench/README.md item 40).
 */
async function trackPair(c: Cluster): Promise<{ tracker: BenchClient; setter: BenchClient }> {
  if (c.track) return c.track;
  const key = 'bench.cmap.track';
  const tracker = cmapClient(c, `${c.impl} cmap tracker`, ['tracker', key]);
  c.others.push(tracker);
  await tracker.waitFor((e) => e.ev === 'tracking', 'tracking', 30_000);
  const setter = cmapClient(c, `${c.impl} cmap setter`, ['setter', key]);
  c.others.push(setter);
  await setter.waitFor((e) => e.ev === 'ready', 'setter ready', 30_000);
  c.track = { tracker, setter };
  return c.track;
}

async function cmapTrack(c: Cluster): Promise<CmapRun['track']> {
  const { tracker, setter } = await trackPair(c);
  const mark = tracker.events.length;
  tracker.command(`run ${TRACK_COUNT} ${TRACK_WARM}`);
  await tracker.waitFor((e) => e.ev === 'armed', 'tracker armed', 30_000, mark);
  const setMark = setter.events.length;
  setter.command(`run ${TRACK_WARM + TRACK_COUNT} ${TRACK_INTERVAL_US}`);
  const d = await tracker.waitFor(
    (e) => e.ev === 'done',
    'track notifications',
    ((TRACK_WARM + TRACK_COUNT) * TRACK_INTERVAL_US) / 1000 + 60_000,
    mark,
  );
  await setter.waitFor((e) => e.ev === 'result', 'setter done', 30_000, setMark);
  const lat = d.lat as number[];
  return { ...latencyStats(lat), samples: lat.length };
}

async function cmapRun(c: Cluster): Promise<CmapRun> {
  const getOpsPerSec = await cmapOps(c, 'get');
  const setOpsPerSec = await cmapOps(c, 'set');
  const track = await cmapTrack(c);
  return { getOpsPerSec, setOpsPerSec, track };
}

function cmapLine(tag: string, m: CmapRun): string {
  return (
    `  ${tag} cmap: get ${m.getOpsPerSec.toFixed(0)}/s, set ${m.setOpsPerSec.toFixed(0)}/s, ` +
    `track p50 ${m.track.p50Ms.toFixed(3)} ms, p99 ${m.track.p99Ms.toFixed(3)} ms`
  );
}

// ---- one implementation, one cluster size ----

interface ImplResult {
  impl: Impl;
  nodeCount: number;
  schedPolicy: string[];
  coldStartMs: number[];
  failure: FailureResult[];
  throughput: ThroughputRun[];
  latency: LatencyResult[];
  /** --steps: a latency run after the measured ones, step by step (bench/latency-steps.ts). */
  latencySteps?: StepRow[];
  cmap: CmapRun[];
  /** Daemons' VmRSS in KiB, by node: 1 s after the ring formed and the clients joined, */
  rssStartKb: number[];
  /** IDLE_SETTLE_MS after it with nothing to do (idle), and the highest sample (every
   * RSS_SAMPLE_MS) during the throughput workload. */
  rssIdleKb: number[];
  /** Of the idle RSS, the anonymous pages (RssAnon): heaps and stacks, without the pages of
   * mapped files (our daemon's `node` binary, corosync's shared libraries). */
  rssIdleAnonKb: number[];
  rssPeakKb: number[];
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

const fmtRate = (tr: ThroughputRun): string =>
  `${tr.msgsPerSec.toFixed(0)} msg/s, ${tr.mbPerSec.toFixed(1)} MB/s`;

async function throughputMatrix(c: Cluster, res: ImplResult): Promise<void> {
  const tag = `${res.impl} ${c.nodeCount}n`;
  // warm-up, not reported: one full run per size and sender mode. Our daemons and clients are
  // JIT compiled while they run (V8 reaches its optimised code after tens of thousands of
  // messages: the first 1 KiB run after a short warm-up was ~40 % slower than the third, and
  // with only one-sender warm-ups the first all-sending run — the first time nodes 2..N and
  // their clients send — was ~35 % slower than the next two); a daemon lives for days, so what
  // we report is the steady state, for both sides alike.
  for (const size of SIZES) {
    for (const senders of SENDERS) {
      await attempt(
        res,
        `${tag} warm-up ${sizeName(size)} ${senders === 'one' ? '1 sender' : 'all sending'}`,
        () => throughput(c, size, COUNTS.get(size)!, senders),
      );
      if (c.broken) return;
    }
  }
  const peak = c.nodes.map((n) => rssKb(n.pid) ?? 0);
  let runPeak = c.nodes.map(() => 0);
  const sampler = setInterval(() => {
    c.nodes.forEach((n, i) => {
      const kb = rssKb(n.pid) ?? 0;
      peak[i] = Math.max(peak[i]!, kb);
      runPeak[i] = Math.max(runPeak[i]!, kb);
    });
  }, RSS_SAMPLE_MS);
  try {
    for (const size of SIZES) {
      const count = COUNTS.get(size)!;
      for (const senders of SENDERS) {
        const what = `${tag} throughput ${sizeName(size)} ${senders === 'one' ? '1 sender' : 'all sending'}`;
        for (let r = 0; r < RUNS; r++) {
          const logMarks = c.nodes.map((n) => n.output().length);
          const udp0 = c.nodes.map((n) => udpCounters(n.ns));
          const cpu0 = c.nodes.map((n) => cpuSeconds(n.pid) ?? 0);
          const clientCpu0 = c.clients.map((x) => (x.pid ? (cpuSeconds(x.pid) ?? 0) : 0));
          runPeak = c.nodes.map((n) => rssKb(n.pid) ?? 0);
          const tr = await attempt(res, what, () => throughput(c, size, count, senders));
          if (c.broken) return;
          if (!tr) break;
          const udp1 = c.nodes.map((n) => udpCounters(n.ns));
          tr.udpRcvbufErrors = udp1.map((u, i) => u.rcvbufErrors - udp0[i]!.rcvbufErrors);
          tr.udpOutDatagrams = udp1.map((u, i) => u.out - udp0[i]!.out);
          tr.daemonCpuSeconds = c.nodes.map((n, i) => (cpuSeconds(n.pid) ?? 0) - cpu0[i]!);
          tr.clientCpuSeconds = c.clients.map(
            (x, i) => (x.pid ? (cpuSeconds(x.pid) ?? 0) : 0) - clientCpu0[i]!,
          );
          tr.rssPeakKb = c.nodes.map((n, i) => Math.max(runPeak[i]!, rssKb(n.pid) ?? 0));
          tr.retransmitLogLines = c.nodes.map(
            (n, i) =>
              (
                n
                  .output()
                  .slice(logMarks[i])
                  .match(/retransmi/gi) ?? []
              ).length,
          );
          if (tr.lost) {
            // the daemons' own word on it (ours logs "mcast ... dropped: totem queue full")
            const logs = c.nodes.map((n, i) => n.output().slice(logMarks[i]));
            const drops = logs.map((l) => (l.match(/dropped[^\n]*/g) ?? []).length);
            const sample = /[^\n]*dropped[^\n]*/.exec(logs.join('\n'))?.[0];
            const msg =
              `${what}: ${tr.delivered} of ${tr.sent} delivered; ` +
              `daemon log lines with "dropped" per node: ${drops.join('/')}` +
              (sample ? `, e.g. ${sample.trim()}` : '');
            res.errors.push(msg);
            console.log(`  ! ${msg}`);
          }
          res.throughput.push(tr);
          console.log(
            `  ${what} x ${count}: ${fmtRate(tr)} (slowest node), ` +
              `${(tr.udpOutDatagrams.reduce((a, b) => a + b, 0) / count).toFixed(2)} UDP sends per message, ` +
              `daemon CPU ${tr.daemonCpuSeconds.map((x) => x.toFixed(2)).join('/')} s, ` +
              `client CPU ${tr.clientCpuSeconds.map((x) => x.toFixed(2)).join('/')} s, ` +
              `peak RSS ${tr.rssPeakKb.map((k) => (k / 1024).toFixed(0)).join('/')} MiB` +
              (tr.tryAgain ? `, ${tr.tryAgain} TRY_AGAIN` : '') +
              (tr.lost ? ` — LOST: only ${tr.delivered} of ${tr.sent} delivered, rate over those` : '') +
              (tr.udpRcvbufErrors.some((x) => x > 0)
                ? `; UDP rcvbuf drops ${tr.udpRcvbufErrors.join('/')}`
                : '') +
              (tr.retransmitLogLines.some((x) => x > 0)
                ? `; log lines "retransmi" ${tr.retransmitLogLines.join('/')}`
                : ''),
          );
        }
      }
    }
  } finally {
    clearInterval(sampler);
    c.nodes.forEach((n, i) => (peak[i] = Math.max(peak[i]!, rssKb(n.pid) ?? 0)));
    res.rssPeakKb = peak;
  }
}

/**
 * CPG latency, then cmap, with both sides in the run: our cluster and real corosync's are up
 * together and the runs alternate (ours, theirs, then theirs, ours, ...), so both meet the same
 * machine. Why: on the 2-vCPU VM the same cluster's p50 drifted between 0.34 and 1.05 ms over
 * minutes (bench/README.md item 14), and the cmap rates by as much; measured one side after the
 * other, minutes apart, that drift went into the ratio. Each cluster first gets the same
 * warm-ups (1 KiB messages from one sender, then a short latency run; one whole cmap run), not
 * reported: ours compiles its hot paths as it runs, as it does after the throughput workloads
 * when a side is measured alone.
 */
async function pairedRuns(nodeCount: number, ours: ImplResult, theirs: ImplResult): Promise<void> {
  const clusters: Partial<Record<Impl, Cluster>> = {};
  const tagOf = (res: ImplResult): string => `${res.impl} ${nodeCount}n`;
  try {
    for (const res of [ours, theirs]) {
      const tag = tagOf(res);
      const c = await attempt(res, `${tag} latency cluster start`, () => startCluster(res.impl, nodeCount));
      if (!c) return;
      clusters[res.impl] = c;
    }
    console.log(`paired latency, ${nodeCount} nodes (both clusters up, runs alternating):`);
    for (const res of [ours, theirs]) {
      const c = clusters[res.impl]!;
      const tag = tagOf(res);
      await attempt(res, `${tag} latency warm-up`, async () => {
        await throughput(c, LAT_SIZE, LAT_WARM_COUNT, 'one');
        await latency(c, LAT_WARM_PACED, LAT_WARM_INTERVAL_US);
      });
    }
    // runs alternate: ours, theirs, then theirs, ours, ...
    const alternating = async <T>(
      runs: number,
      what: string,
      fn: (c: Cluster) => Promise<T>,
      keep: (res: ImplResult, value: T, tag: string) => void,
    ): Promise<void> => {
      for (let r = 0; r < runs; r++) {
        for (const res of r % 2 === 0 ? [ours, theirs] : [theirs, ours]) {
          const c = clusters[res.impl]!;
          if (c.broken) continue;
          const tag = tagOf(res);
          const value = await attempt(res, `${tag} ${what}`, () => fn(c));
          if (value !== undefined) keep(res, value, tag);
        }
      }
    };
    await alternating(LAT_WARM_RUNS, 'latency warm-up run', latency, (_res, l, tag) => {
      console.log(`${latencyLine(tag, l)} (warm-up, not counted)`);
    });
    await alternating(LAT_RUNS, 'latency', latency, (res, l, tag) => {
      res.latency.push(l);
      console.log(latencyLine(tag, l));
    });
    // one more run per side under perf: recording costs both sides some latency (theirs' p99
    // 1.33 ms in a recorded run against 0.77 in the others), so it is not among the measured
    if (STEPS) {
      for (const res of [ours, theirs]) {
        const c = clusters[res.impl]!;
        if (c.broken) continue;
        const tag = tagOf(res);
        const l = await attempt(res, `${tag} latency steps`, () => withSteps(res, c, () => latency(c)));
        if (!l) continue;
        console.log(
          `  ${tag} latency steps (recorded, not counted: p50 ${l.p50Ms.toFixed(3)} ms, p99 ${l.p99Ms.toFixed(3)} ms):`,
        );
        for (const line of formatSteps(res.latencySteps ?? [])) console.log(`    ${line}`);
      }
    }
    console.log(`paired cmap, ${nodeCount} nodes (both clusters up, runs alternating):`);
    for (const res of [ours, theirs]) {
      const c = clusters[res.impl]!;
      if (!c.broken) await attempt(res, `${tagOf(res)} cmap warm-up`, () => cmapRun(c));
    }
    await alternating(RUNS, 'cmap', cmapRun, (res, m, tag) => {
      res.cmap.push(m);
      console.log(cmapLine(tag, m));
    });
  } finally {
    await Promise.all(Object.values(clusters).map((c) => c.stop()));
  }
}

/**
 * Run `fn` (a latency run of cluster `c`) under `perf record` of the step tracepoints on all
 * CPUs and keep the step table in `res.latencySteps`. Without a working perf the run goes on
 * unrecorded and the reason is printed.
 */
async function withSteps(
  res: ImplResult,
  c: Cluster,
  fn: () => Promise<LatencyResult>,
): Promise<LatencyResult> {
  const file = path.join(os.tmpdir(), `cts-bench-steps-${process.pid}-${res.impl}.data`);
  fs.rmSync(file, { force: true });
  const perf = spawn('perf', ['record', '-q', '-e', STEP_EVENTS, '-a', '-o', file], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => {
    perf.once('error', () => resolve(-1));
    perf.once('close', (code) => resolve(code));
  });
  // perf writes its file header once the tracepoints are enabled
  let ended = false;
  void exited.then(() => (ended = true));
  const started = (): boolean => fs.existsSync(file) && fs.statSync(file).size > 0;
  const deadline = Date.now() + 10_000;
  while (!ended && !started() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (ended || !started()) {
    console.log('  --steps: perf record did not start; is perf (Debian: linux-perf) installed?');
    perf.kill('SIGKILL');
    return fn();
  }
  let result: LatencyResult | undefined;
  try {
    result = await fn();
    return result;
  } finally {
    perf.kill('SIGINT');
    await exited;
    const out = spawnSync('perf', ['script', '-i', file, '-F', 'pid,tid,time,event,trace'], {
      encoding: 'utf8',
      maxBuffer: 512 * 1024 * 1024,
    });
    fs.rmSync(file, { force: true });
    // the steps are counted from the sender's node ("node 1" in their names): it goes first
    const first = <T>(xs: T[]): T[] => [...xs.slice(LAT_SENDER - 1), ...xs.slice(0, LAT_SENDER - 1)];
    const daemons = first(c.nodes.map((n) => n.pid));
    const clients = first(c.clients.map((x) => x.pid ?? -1));
    const samples = result && latencyByClient.get(result);
    if (out.status === 0) {
      res.latencySteps = analyzeSteps(
        out.stdout,
        daemons,
        clients,
        (LAT_INTERVAL_US / 1e6) * 0.8,
        samples && first(samples),
      );
      if (samples && !res.latencySteps.some((r) => r.step.startsWith('6 ')))
        console.log(
          `  --steps: step 6 left out: ${countRequests(out.stdout, daemons, clients)} requests traced for ` +
            `${samples.map((l) => l.length).join('/')} messages received`,
        );
    } else console.log(`  --steps: perf script failed: ${out.stderr.slice(0, 300)}`);
  }
}

async function benchImpl(impl: Impl, nodeCount: number): Promise<ImplResult> {
  const t = Date.now();
  const res: ImplResult = {
    impl,
    nodeCount,
    schedPolicy: [],
    coldStartMs: [],
    failure: [],
    throughput: [],
    latency: [],
    cmap: [],
    rssStartKb: [],
    rssIdleKb: [],
    rssIdleAnonKb: [],
    rssPeakKb: [],
    errors: [],
    seconds: 0,
  };
  const tag = `${impl} ${nodeCount}n`;
  for (let rep = 1; rep <= REPS; rep++) {
    const c = await attempt(res, `${tag} cluster start`, () => startCluster(impl, nodeCount));
    if (!c) continue;
    try {
      res.coldStartMs.push(c.coldStartMs);
      res.schedPolicy = c.schedPolicy;
      console.log(
        `  ${tag} #${rep}: cold start ${c.coldStartMs.toFixed(0)} ms (daemons ${c.schedPolicy.join(' ')})`,
      );
      if (rep === 1) {
        await sleep(1000);
        res.rssStartKb = c.nodes.map((n) => rssKb(n.pid) ?? 0);
        console.log(
          `  ${tag} RSS 1 s after start MiB: ${res.rssStartKb.map((k) => (k / 1024).toFixed(1)).join(' ')}`,
        );
        // a daemon lives for days: its idle memory is what it settles at, not its first second
        // (ours collects once after 5 quiet seconds, src/daemon/heap-trim.ts); same wait for both
        await sleep(IDLE_SETTLE_MS - 1000);
        res.rssIdleKb = c.nodes.map((n) => rssKb(n.pid) ?? 0);
        res.rssIdleAnonKb = c.nodes.map((n) => statusKb(n.pid, 'RssAnon') ?? 0);
        console.log(
          `  ${tag} idle RSS MiB: ${res.rssIdleKb.map((k) => (k / 1024).toFixed(1)).join(' ')}` +
            ` (anonymous ${res.rssIdleAnonKb.map((k) => (k / 1024).toFixed(1)).join(' ')})`,
        );
        await throughputMatrix(c, res);
        console.log(`  ${tag} peak RSS MiB: ${res.rssPeakKb.map((k) => (k / 1024).toFixed(1)).join(' ')}`);
        // with both sides in the run, latency is measured later, on both clusters at once
        if (!PAIRED && !c.broken) {
          await attempt(res, `${tag} latency warm-up`, async () => {
            await latency(c, LAT_WARM_PACED, LAT_WARM_INTERVAL_US);
            for (let r = 0; r < LAT_WARM_RUNS; r++) await latency(c);
          });
        }
        for (let r = 0; r < LAT_RUNS && !c.broken && !PAIRED; r++) {
          const l = await attempt(res, `${tag} latency`, () => latency(c));
          if (!l) break;
          res.latency.push(l);
          console.log(latencyLine(tag, l));
        }
        // with both sides in the run, cmap is measured later too, on both clusters at once
        if (!PAIRED && !c.broken) await attempt(res, `${tag} cmap warm-up`, () => cmapRun(c));
        for (let r = 0; r < RUNS && !c.broken && !PAIRED; r++) {
          const m = await attempt(res, `${tag} cmap`, () => cmapRun(c));
          if (!m) break;
          res.cmap.push(m);
          console.log(cmapLine(tag, m));
        }
      }
      if (c.broken) {
        res.errors.push(`${tag} #${rep}: ${c.broken}; skipped the rest of this cluster's workloads`);
        continue;
      }
      const f = await attempt(res, `${tag} failure detection`, () => failureDetection(c));
      if (f) {
        res.failure.push(f);
        console.log(`  ${tag} failure detection: cpg confchg ${f.cpgConfchgMs.toFixed(0)} ms`);
      }
    } finally {
      await c.stop();
    }
  }
  res.seconds = (Date.now() - t) / 1000;
  return res;
}

// ---- report ----

/** Median and spread (min and max) of a metric's samples. */
interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

function stat(xs: number[]): Stat | undefined {
  if (xs.length === 0) return undefined;
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

interface Row {
  nodes: number;
  metric: string;
  better: 'higher' | 'lower';
  /** What the spread is over. */
  over: 'runs' | 'clusters' | 'nodes' | 'pooled';
  ours: Stat | undefined;
  theirs: Stat | undefined;
  /** Some runs lost messages on that side (the value counts delivered messages only). */
  oursLost?: boolean;
  theirsLost?: boolean;
}

function rows(nodeCount: number, ours: ImplResult | undefined, theirs: ImplResult | undefined): Row[] {
  const out: Row[] = [];
  const add = (
    metric: string,
    better: Row['better'],
    over: Row['over'],
    f: (r: ImplResult) => number[],
    lost?: (r: ImplResult) => boolean,
  ): void => {
    out.push({
      nodes: nodeCount,
      metric,
      better,
      over,
      ours: ours ? stat(f(ours)) : undefined,
      theirs: theirs ? stat(f(theirs)) : undefined,
      ...(lost ? { oursLost: ours ? lost(ours) : false, theirsLost: theirs ? lost(theirs) : false } : {}),
    });
  };
  for (const senders of SENDERS) {
    for (const size of SIZES) {
      const runs = (r: ImplResult): ThroughputRun[] =>
        r.throughput.filter((x) => x.size === size && x.senders === senders);
      const lost = (r: ImplResult): boolean => runs(r).some((x) => x.lost);
      const name = `cpg ${senders === 'one' ? '1 sender' : 'all send'} ${sizeName(size)}`;
      add(`${name} msg/s`, 'higher', 'runs', (r) => runs(r).map((x) => x.msgsPerSec), lost);
      add(`${name} MB/s`, 'higher', 'runs', (r) => runs(r).map((x) => x.mbPerSec), lost);
    }
  }
  add('cpg latency p50 ms', 'lower', 'runs', (r) => r.latency.map((x) => x.p50Ms));
  add('cpg latency p99 ms', 'lower', 'runs', (r) => r.latency.map((x) => x.p99Ms));
  add('  (p99 of all runs pooled, ms)', 'lower', 'pooled', (r) => {
    const all = r.latency.flatMap((x) => latencyByClient.get(x)?.flat() ?? []);
    return all.length ? [latencyStats(all).p99Ms] : [];
  });
  // a stall of the ring shows here first (one run's p99 moves only if it delays 1 % of the run)
  add('  (slowest message of a run, ms)', 'lower', 'runs', (r) => r.latency.map((x) => x.maxMs));
  add('  (daemon CPU µs per latency msg)', 'lower', 'runs', (r) =>
    r.latency.map((x) => x.daemonCpuUsPerMsg.reduce((a, b) => a + b, 0) / x.daemonCpuUsPerMsg.length),
  );
  add('  (receiving client CPU µs per msg)', 'lower', 'runs', (r) =>
    r.latency.map((x) => receiversMean(x.clientCpuUsPerMsg)),
  );
  add('  (receiving client preemptions per msg)', 'lower', 'runs', (r) =>
    r.latency.map((x) => receiversMean(x.clientPreemptionsPerMsg)),
  );
  add('cmap get ops/s', 'higher', 'runs', (r) => r.cmap.map((x) => x.getOpsPerSec));
  add('cmap set ops/s', 'higher', 'runs', (r) => r.cmap.map((x) => x.setOpsPerSec));
  add('cmap track latency p50 ms', 'lower', 'runs', (r) => r.cmap.map((x) => x.track.p50Ms));
  add('cmap track latency p99 ms', 'lower', 'runs', (r) => r.cmap.map((x) => x.track.p99Ms));
  add('daemon RSS 1 s after start MiB', 'lower', 'nodes', (r) =>
    r.rssStartKb.filter((k) => k > 0).map((k) => k / 1024),
  );
  add('daemon RSS idle (8 s) MiB', 'lower', 'nodes', (r) =>
    r.rssIdleKb.filter((k) => k > 0).map((k) => k / 1024),
  );
  add('  (of it anonymous, idle MiB)', 'lower', 'nodes', (r) =>
    r.rssIdleAnonKb.filter((k) => k > 0).map((k) => k / 1024),
  );
  add('daemon RSS peak load MiB', 'lower', 'nodes', (r) =>
    r.rssPeakKb.filter((k) => k > 0).map((k) => k / 1024),
  );
  add('failure detection ms', 'lower', 'clusters', (r) => r.failure.map((x) => x.cpgConfchgMs));
  add('  (totem confchg ms)', 'lower', 'clusters', (r) => r.failure.map((x) => x.totemConfchgMs));
  add('cold start ms', 'lower', 'clusters', (r) => r.coldStartMs);
  return out;
}

function fmt(v: number | undefined): string {
  if (v === undefined) return '-';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function cell(s: Stat | undefined, lost: boolean | undefined): string {
  if (!s) return '-';
  const spread = s.n > 1 ? ` [${fmt(s.min)}-${fmt(s.max)}]` : '';
  return `${fmt(s.median)}${lost ? '*' : ''}${spread}`;
}

const ratioOf = (r: Row): number | undefined =>
  r.ours !== undefined && r.theirs && r.theirs.median ? r.ours.median / r.theirs.median : undefined;

function table(rs: Row[]): string {
  const lines = [
    ['metric', 'ours median [min-max]', 'theirs median [min-max]', 'ours/theirs', 'better', 'spread over'],
  ];
  for (const r of rs) {
    const ratio = ratioOf(r);
    lines.push([
      `${r.nodes}n ${r.metric}`,
      cell(r.ours, r.oursLost),
      cell(r.theirs, r.theirsLost),
      ratio === undefined ? '-' : ratio.toFixed(2),
      r.better,
      r.over,
    ]);
  }
  const w = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l) =>
      l
        .map((c, i) => (i === 0 || i >= 4 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
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
  for (const h of ['cpg.h', 'cmap.h']) {
    if (!fs.existsSync(`/usr/include/corosync/${h}`))
      return `corosync headers missing (/usr/include/corosync/${h})`;
  }
  return undefined;
}

function build(binDir: string, source: string, lib: string): string {
  const bin = path.join(binDir, path.basename(source, '.c'));
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', bin, source, lib], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot build ${source}: ${cc.stderr}`);
  return bin;
}

/**
 * The commit our side ran from, "+changes" when the tracked files differ from it (what
 * `npm run bench:history` lists run by run); undefined outside a git checkout.
 */
function codeCommit(): string | undefined {
  const git = (args: string[]): string | undefined => {
    const r = spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const head = git(['rev-parse', '--short', 'HEAD']);
  if (!head) return undefined;
  const changes = git(['status', '--porcelain', '--untracked-files=no']);
  return changes ? `${head}+changes` : head;
}

async function main(): Promise<void> {
  const why = check();
  if (why) {
    console.error(`bench: cannot run: ${why}`);
    process.exit(1);
  }
  const binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-bench-'));
  process.once('exit', () => fs.rmSync(binDir, { recursive: true, force: true }));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(130));
  cCpgBin = build(binDir, C_CPG_SOURCE, '-lcpg');
  cCmapBin = build(binDir, C_CMAP_SOURCE, '-lcmap');
  let profDir: string | undefined;
  if (CPU_PROF) {
    profDir = path.join(RESULTS, `cpuprof-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    fs.mkdirSync(profDir, { recursive: true });
  }

  const cpu =
    /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
  const machine = {
    nproc: os.availableParallelism(),
    cpu,
    kernel: os.release(),
    node: process.version,
    loadavg: os.loadavg(),
  };
  const corosync = spawnSync('corosync', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const commit = codeCommit();
  const sched = NO_SCHED_RR
    ? 'system { sched_rr: no } for both: every daemon at SCHED_OTHER'
    : 'corosync defaults (sched_rr: yes): both daemons run their main thread at SCHED_RR 99';
  console.log(
    `corosync-ts bench: ${machine.nproc} CPUs, ${machine.cpu}, Linux ${machine.kernel}, Node ${machine.node}, ` +
      `load average ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}`,
  );
  console.log(`theirs: ${corosync}`);
  if (commit) console.log(`ours: commit ${commit}`);
  console.log(`scheduling: ${sched}; clients and this process: ${schedPolicy(process.pid)}`);
  console.log(
    `${NODE_COUNTS.join(' and ')} nodes, udpu, crypto none, default totem timeouts; ${REPS} cluster start(s) ` +
      `per side and size; throughput ${SIZES.map((s) => `${COUNTS.get(s)} x ${sizeName(s)}`).join(', ')} ` +
      `(${SENDERS.join(', ')} sending; ${RUNS} run(s)); latency ${LAT_RUNS} run(s) of ${LAT_COUNT} x ${LAT_SIZE} B every ` +
      `${LAT_INTERVAL_US} us from node ${LAT_SENDER}${PAIRED ? ' (latency and cmap: both clusters up, runs alternating)' : ''}; cmap gets and sets for ${CMAP_MS} ms each (after ${CMAP_WARM_MS} ms), ${TRACK_COUNT} tracked sets every ${TRACK_INTERVAL_US} us (after ${TRACK_WARM}; one cmap warm-up run per cluster)`,
  );

  const t = Date.now();
  const results: ImplResult[] = [];
  const rs: Row[] = [];
  for (const nodeCount of NODE_COUNTS) {
    const byImpl: Partial<Record<Impl, ImplResult>> = {};
    for (const impl of ['ours', 'theirs'] as const) {
      if (ONLY && ONLY !== impl) continue;
      console.log(`${impl}, ${nodeCount} nodes:`);
      const saved = process.env.NODE_OPTIONS;
      if (impl === 'ours' && profDir) {
        // --cpu-prof is not allowed in NODE_OPTIONS: a preload starts the profiler instead
        const preload = pathToFileURL(path.join(HERE, 'cpu-prof.js')).href;
        process.env.NODE_OPTIONS = `${saved ?? ''} --import=${preload}`.trim();
        process.env.CTS_BENCH_CPU_PROF_DIR = profDir;
      }
      try {
        byImpl[impl] = await benchImpl(impl, nodeCount);
        results.push(byImpl[impl]);
      } finally {
        if (saved === undefined) delete process.env.NODE_OPTIONS;
        else process.env.NODE_OPTIONS = saved;
        delete process.env.CTS_BENCH_CPU_PROF_DIR;
      }
    }
    if (PAIRED && byImpl.ours && byImpl.theirs) await pairedRuns(nodeCount, byImpl.ours, byImpl.theirs);
    rs.push(...rows(nodeCount, byImpl.ours, byImpl.theirs));
  }
  console.log('');
  console.log(table(rs));
  if (rs.some((r) => r.oursLost || r.theirsLost)) {
    console.log('* messages were lost in some runs: the rate counts the delivered ones (see the JSON)');
  }
  const errors = results.flatMap((r) => r.errors);
  if (errors.length)
    console.log(`\n${errors.length} error(s):\n${errors.map((e) => `  ${e.split('\n')[0]}`).join('\n')}`);
  const seconds = (Date.now() - t) / 1000;
  console.log(`\nrun took ${seconds.toFixed(0)} s`);

  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const json = {
    date: new Date().toISOString(),
    ...(commit ? { commit } : {}),
    machine,
    corosync,
    scheduling: sched,
    config: NODE_COUNTS.map((n) => config('10.x.y', n)),
    options: {
      quick: QUICK,
      nodes: NODE_COUNTS,
      sizes: SIZES,
      senders: SENDERS,
      counts: Object.fromEntries(COUNTS),
      reps: REPS,
      runs: RUNS,
      latRuns: LAT_RUNS,
      latCount: LAT_COUNT,
      latIntervalUs: LAT_INTERVAL_US,
      latSize: LAT_SIZE,
      latWarmCount: LAT_WARM_COUNT,
      latWarmPaced: LAT_WARM_PACED,
      latWarmRuns: LAT_WARM_RUNS,
      latWarmIntervalUs: LAT_WARM_INTERVAL_US,
      latPaired: PAIRED,
      cmapPaired: PAIRED,
      cmapMs: CMAP_MS,
      cmapWarmMs: CMAP_WARM_MS,
      trackCount: TRACK_COUNT,
      trackWarm: TRACK_WARM,
      trackIntervalUs: TRACK_INTERVAL_US,
      noSchedRr: NO_SCHED_RR,
      only: ONLY ?? null,
    },
    summary: rs.map((r) => ({ ...r, ratio: ratioOf(r) ?? null })),
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
