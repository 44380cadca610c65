/**
 * `npm run bench:history`: how often the stored bench runs met issue 6's speed goals.
 *
 * One run's ratios move with this VM's state (the 3-node latency p99 ratio of one full run has
 * been anywhere from 1.1× to 1.9× with the same code), so a single table says little about
 * whether a goal is met. Every `npm run bench` writes its table's rows to bench/results/*.json;
 * this reads them all and prints, per goal and cluster size, in how many runs it was met and
 * the spread of the ratio, then (with `--metric`) one metric's ratio run by run.
 *
 * Only runs that measured both sides count; `--quick` runs are left out unless asked for.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './latency-steps.js';

/** A row of a stored run's `summary` (what the bench's table printed). */
export interface StoredRow {
  nodes: number;
  metric: string;
  better: 'higher' | 'lower';
  ratio: number | null;
  /** Our runs lost messages (a throughput rate of the delivered ones only). */
  oursLost: boolean;
}

/** What this reads of one bench/results/*.json file. */
export interface StoredRun {
  file: string;
  date: string;
  /** The commit our side ran from ("+changes": with uncommitted changes); absent in older runs. */
  commit?: string;
  quick: boolean;
  /** Both sides measured (not `--only`). */
  paired: boolean;
  /** The whole matrix: the four default sizes, both sender modes, seven or more latency runs. */
  full: boolean;
  rows: StoredRow[];
  /** Per side and cluster size, the slowest message of each latency run, ms. */
  slowest: { impl: string; nodes: number; maxMs: number[] }[];
}

/** One of issue 6's goals: which rows it covers and the ratio each must reach. */
export interface Goal {
  name: string;
  /** The rows of a run the goal covers (all must meet it). */
  covers: (metric: string) => boolean;
  /** ours / theirs must be at least this ('higher' rows) or at most this ('lower' rows). */
  limit: number;
}

const THROUGHPUT = /^cpg (1 sender|all send) .+ msg\/s$/;

/**
 * Issue 6, "Speed": throughput at least equal at every size, p99 latency within 1.5×, failure
 * detection equal (bound by the timeouts; 5 % is taken as equal here, the runs' spread), memory
 * within 3×.
 */
export const GOALS: readonly Goal[] = [
  {
    name: 'CPG throughput >= 1x, every size and sender mode run',
    covers: (m) => THROUGHPUT.test(m),
    limit: 1,
  },
  { name: 'CPG latency p99 <= 1.5x (median of runs)', covers: (m) => m === 'cpg latency p99 ms', limit: 1.5 },
  {
    name: '  p99 of all runs pooled <= 1.5x',
    covers: (m) => m.trim() === '(p99 of all runs pooled, ms)',
    limit: 1.5,
  },
  { name: 'failure detection <= 1.05x', covers: (m) => m === 'failure detection ms', limit: 1.05 },
  { name: 'daemon RSS idle <= 3x', covers: (m) => m === 'daemon RSS idle (8 s) MiB', limit: 3 },
  { name: 'daemon RSS peak under load <= 3x', covers: (m) => m === 'daemon RSS peak load MiB', limit: 3 },
];

/** Read one stored run, or say why the text is not one. */
export function parseRun(file: string, text: string): StoredRun | string {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (typeof j !== 'object' || j === null) return 'not an object';
  const o = j as Record<string, unknown>;
  if (!Array.isArray(o.summary)) return 'no summary rows';
  const opts = (typeof o.options === 'object' && o.options !== null ? o.options : {}) as Record<
    string,
    unknown
  >;
  const rows: StoredRow[] = [];
  for (const r of o.summary as unknown[]) {
    if (typeof r !== 'object' || r === null) continue;
    const x = r as Record<string, unknown>;
    if (typeof x.nodes !== 'number' || typeof x.metric !== 'string') continue;
    const better = x.better === 'higher' ? 'higher' : 'lower';
    const ratio = typeof x.ratio === 'number' && Number.isFinite(x.ratio) ? x.ratio : null;
    rows.push({ nodes: x.nodes, metric: x.metric, better, ratio, oursLost: x.oursLost === true });
  }
  return {
    file,
    date: typeof o.date === 'string' ? o.date : '',
    ...(typeof o.commit === 'string' ? { commit: o.commit } : {}),
    quick: opts.quick === true,
    paired: opts.only === null || opts.only === undefined,
    full: isFull(opts),
    rows,
    slowest: slowestOf(o.results),
  };
}

/** Each side's latency runs' slowest messages, from a run's raw `results`. */
function slowestOf(results: unknown): StoredRun['slowest'] {
  if (!Array.isArray(results)) return [];
  const out: StoredRun['slowest'] = [];
  for (const r of results as unknown[]) {
    if (typeof r !== 'object' || r === null) continue;
    const x = r as Record<string, unknown>;
    if (typeof x.impl !== 'string' || typeof x.nodeCount !== 'number' || !Array.isArray(x.latency)) continue;
    const maxMs = (x.latency as unknown[])
      .map((l) => (typeof l === 'object' && l !== null ? (l as Record<string, unknown>).maxMs : undefined))
      .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (maxMs.length) out.push({ impl: x.impl, nodes: x.nodeCount, maxMs });
  }
  return out;
}

/**
 * How many latency runs of each side had a message slower than `ms` (a stall: a run's p99 moves
 * only when 1 % of its messages are late, the slowest message shows one at once).
 */
export function formatStalls(runs: readonly StoredRun[], ms: number): string {
  const tallies: { nodes: number; impl: string; runs: number; over: number }[] = [];
  for (const run of runs) {
    for (const s of run.slowest) {
      let t = tallies.find((x) => x.nodes === s.nodes && x.impl === s.impl);
      if (!t) tallies.push((t = { nodes: s.nodes, impl: s.impl, runs: 0, over: 0 }));
      t.runs += s.maxMs.length;
      t.over += s.maxMs.filter((v) => v > ms).length;
    }
  }
  if (tallies.length === 0) return 'no latency runs';
  return tallies
    .sort((a, b) => a.nodes - b.nodes || (a.impl < b.impl ? -1 : a.impl > b.impl ? 1 : 0))
    .map(
      (t) =>
        `${t.nodes}n ${t.impl.padEnd(6)}  ${t.over} of ${t.runs} latency runs had a message slower than ${ms} ms`,
    )
    .join('\n');
}

const FULL_SIZES = [64, 1024, 16384, 65536];

function isFull(opts: Record<string, unknown>): boolean {
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  return (
    opts.quick !== true &&
    FULL_SIZES.every((n) => list(opts.sizes).includes(n)) &&
    ['one', 'all'].every((m) => list(opts.senders).includes(m)) &&
    typeof opts.latRuns === 'number' &&
    opts.latRuns >= 7
  );
}

/** Whether a row's ratio meets `limit` (a row without a ratio: undefined; ours lost messages: no). */
export function meets(row: StoredRow, limit: number): boolean | undefined {
  if (row.ratio === null) return undefined;
  if (row.oursLost) return false;
  return row.better === 'higher' ? row.ratio >= limit : row.ratio <= limit;
}

/** A goal over the runs for one cluster size. */
export interface GoalTally {
  goal: string;
  nodes: number;
  /** Runs that had at least one covered row with a ratio (0: the goal's rows are in none). */
  runs: number;
  /** Of them, runs in which every covered row with a ratio met the goal. */
  met: number;
  /** Per run the covered row farthest from the goal's side (the one that decides it). */
  worst: number[];
}

/** Tally every goal per cluster size over `runs` (in the order given). */
export function tally(runs: readonly StoredRun[], goals: readonly Goal[] = GOALS): GoalTally[] {
  const sizes = [...new Set(runs.flatMap((r) => r.rows.map((x) => x.nodes)))].sort((a, b) => a - b);
  const out: GoalTally[] = [];
  for (const goal of goals) {
    for (const nodes of sizes) {
      const t: GoalTally = { goal: goal.name, nodes, runs: 0, met: 0, worst: [] };
      for (const run of runs) {
        const covered = run.rows.filter(
          (x) => x.nodes === nodes && x.ratio !== null && goal.covers(x.metric),
        );
        if (covered.length === 0) continue;
        t.runs++;
        if (covered.every((x) => meets(x, goal.limit))) t.met++;
        // 'higher' rows: the smallest ratio decides; 'lower' rows: the largest
        const ratios = covered.map((x) => x.ratio!);
        t.worst.push(covered[0]!.better === 'higher' ? Math.min(...ratios) : Math.max(...ratios));
      }
      out.push(t);
    }
  }
  return out;
}

function r2(x: number): string {
  return x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** The goals' table. */
export function formatTally(ts: readonly GoalTally[]): string {
  const head = ['goal (issue 6)', 'nodes', 'runs', 'met', 'ratio median [min-max]'];
  const lines = ts.map((t) => [
    t.goal,
    String(t.nodes),
    String(t.runs),
    String(t.met),
    t.worst.length
      ? `${r2(median(t.worst))} [${r2(Math.min(...t.worst))}-${r2(Math.max(...t.worst))}]`
      : 'no run has its rows',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [row(head), ...lines.map(row)].join('\n');
}

/** One metric's ratio run by run (`metric`: a substring of the row's name). */
export function formatMetric(runs: readonly StoredRun[], metric: string): string {
  const out: string[] = [];
  for (const run of runs) {
    for (const x of run.rows) {
      if (!x.metric.includes(metric) || x.ratio === null) continue;
      out.push(
        `${run.date.slice(0, 19)}  ${(run.commit ?? '-').padEnd(15)}  ${x.nodes}n  ${x.metric.trim()}  ${r2(x.ratio)}`,
      );
    }
  }
  return out.length ? out.join('\n') : `no run has a row matching "${metric}"`;
}

/** Read every *.json of `dir`, oldest first; files that are not runs are named in `skipped`. */
export function loadRuns(dir: string): { runs: StoredRun[]; skipped: string[] } {
  const runs: StoredRun[] = [];
  const skipped: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch (e) {
    skipped.push(`${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (const name of names) {
    const file = path.join(dir, name);
    const r = parseRun(file, fs.readFileSync(file, 'utf8'));
    if (typeof r === 'string') skipped.push(`${name}: ${r}`);
    else runs.push(r);
  }
  runs.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  return { runs, skipped };
}

const USAGE = `usage: node dist/bench/history.js [--dir DIR] [--since ISO-DATE] [--until ISO-DATE] [--last N] [--full] [--quick] [--metric TEXT]
  --dir DIR        the stored runs (default bench/results)
  --full           only full runs (every size, both sender modes, 7+ latency runs), not the
                   latency-and-cmap ones
  --since DATE     only runs from this date on (ISO 8601, e.g. 2026-11-24 or 2026-11-24T03:00)
  --until DATE     only runs before this date
  --last N         only the N latest runs (after --since)
  --quick          count --quick runs too (left out by default)
  --metric TEXT    also list, run by run, the ratio of every row whose name contains TEXT`;

function main(argv: string[]): number {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  let dir = path.join(root, 'bench', 'results');
  let since = '';
  let until = '\uffff';
  let last = Infinity;
  let quick = false;
  let full = false;
  let metric: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--dir') dir = path.resolve(value());
    else if (a === '--since') since = value();
    else if (a === '--until') until = value();
    else if (a === '--last') {
      last = Number(value());
      if (!Number.isInteger(last) || last < 1)
        throw new Error(`--last: a positive whole number, not ${argv[i]}`);
    } else if (a === '--quick') quick = true;
    else if (a === '--full') full = true;
    else if (a === '--metric') metric = value();
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return 0;
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  const { runs: all, skipped } = loadRuns(dir);
  let runs = all.filter(
    (r) => r.paired && (quick || !r.quick) && (!full || r.full) && r.date >= since && r.date < until,
  );
  if (runs.length > last) runs = runs.slice(runs.length - last);
  const left = all.length - runs.length;
  if (runs.length === 0) {
    console.log(`no stored run of both sides in ${dir}${left ? ` (${left} left out by the filters)` : ''}`);
    return 1;
  }
  console.log(
    `${runs.length} stored runs of both sides, ${runs[0]!.date.slice(0, 16)} to ${runs[runs.length - 1]!.date.slice(0, 16)}` +
      (left ? ` (${left} left out: --quick, --only or the filters)` : ''),
  );
  console.log(
    'a run meets a goal when every row it covers does; "ratio": ours / theirs of the row that decides it\n',
  );
  console.log(formatTally(tally(runs)));
  console.log(`\n${formatStalls(runs, 5)}`);
  if (metric !== undefined) console.log(`\n${formatMetric(runs, metric)}`);
  if (skipped.length) console.log(`\nnot read: ${skipped.join('; ')}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 2;
  }
}
