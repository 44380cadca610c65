/**
 * `npm run bench:history` (bench/history.ts): reading stored runs and counting, per goal and
 * cluster size, the runs that met it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  GOALS,
  formatMetric,
  formatStalls,
  formatTally,
  loadRuns,
  meets,
  parseRun,
  tally,
  type StoredRow,
  type StoredRun,
} from '../../bench/history.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function row(nodes: number, metric: string, ratio: number | null, oursLost = false): StoredRow {
  const better = / msg\/s$| MB\/s$|ops\/s$/.test(metric) ? 'higher' : 'lower';
  return { nodes, metric, better, ratio, oursLost };
}

function run(date: string, rows: StoredRow[]): StoredRun {
  return { file: `${date}.json`, date, quick: false, paired: true, full: true, rows, slowest: [] };
}

test('a run meets a goal only when every row it covers does', () => {
  const runs = [
    run('2026-01-01T00:00:00Z', [
      row(3, 'cpg 1 sender 64 B msg/s', 1.8),
      row(3, 'cpg all send 1 KiB msg/s', 1.2),
      row(3, 'cpg latency p99 ms', 1.4),
      row(5, 'cpg latency p99 ms', 1.6),
    ]),
    run('2026-01-02T00:00:00Z', [
      row(3, 'cpg 1 sender 64 B msg/s', 2.0),
      row(3, 'cpg all send 1 KiB msg/s', 0.9), // one size below: the run misses the goal
      row(3, 'cpg all send 64 KiB msg/s', null), // theirs no result: not counted
      row(3, 'cpg latency p99 ms', 1.5), // the limit itself meets it
    ]),
  ];
  const t = tally(runs);
  const get = (goal: string, nodes: number) => t.find((x) => x.goal.startsWith(goal) && x.nodes === nodes)!;
  assert.deepEqual(
    {
      runs: get('CPG throughput', 3).runs,
      met: get('CPG throughput', 3).met,
      worst: get('CPG throughput', 3).worst,
    },
    { runs: 2, met: 1, worst: [1.2, 0.9] },
  );
  assert.deepEqual(
    {
      runs: get('CPG latency p99', 3).runs,
      met: get('CPG latency p99', 3).met,
      worst: get('CPG latency p99', 3).worst,
    },
    { runs: 2, met: 2, worst: [1.4, 1.5] },
  );
  assert.deepEqual(
    { runs: get('CPG latency p99', 5).runs, met: get('CPG latency p99', 5).met },
    { runs: 1, met: 0 },
  );
  // a goal whose rows no run has is shown, not dropped (a renamed metric would vanish silently)
  assert.equal(get('failure detection', 3).runs, 0);
  const text = formatTally(t);
  assert.match(text, /CPG latency p99 <= 1\.5x \(median of runs\)\s+3\s+2\s+2\s+1\.45 \[1\.40-1\.50\]/);
  assert.match(text, /failure detection <= 1\.05x\s+3\s+0\s+0\s+no run has its rows/);
});

test('a throughput row in which our side lost messages does not meet the goal', () => {
  assert.equal(meets(row(3, 'cpg 1 sender 64 B msg/s', 3.0, true), 1), false);
  assert.equal(meets(row(3, 'cpg 1 sender 64 B msg/s', 3.0), 1), true);
  assert.equal(meets(row(3, 'cpg latency p99 ms', 1.51), 1.5), false);
  assert.equal(meets(row(3, 'cpg latency p99 ms', null), 1.5), undefined);
});

test('the goals cover the rows the bench writes, by their exact names', () => {
  const source = readFileSync(path.join(ROOT, 'bench', 'run.ts'), 'utf8');
  const names = [
    'cpg latency p99 ms',
    '  (p99 of all runs pooled, ms)',
    'failure detection ms',
    'daemon RSS idle (8 s) MiB',
    'daemon RSS peak load MiB',
  ];
  for (const n of names) assert.ok(source.includes(`'${n}'`), `bench/run.ts writes a row named "${n}"`);
  const covered = (m: string) => GOALS.filter((g) => g.covers(m)).map((g) => g.name);
  for (const n of names) assert.equal(covered(n).length, 1, n);
  // throughput rows are named from the size and sender mode; MB/s repeats msg/s and is not counted twice
  assert.equal(covered('cpg 1 sender 16 KiB msg/s').length, 1);
  assert.equal(covered('cpg all send 64 B msg/s').length, 1);
  assert.deepEqual(covered('cpg all send 64 B MB/s'), []);
  assert.deepEqual(covered('cmap get ops/s'), []);
});

test('stored files: what is read, what is refused and why, oldest first', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cts-bench-history-'));
  try {
    const summary = [
      { nodes: 3, metric: 'cpg latency p99 ms', better: 'lower', over: 'runs', ratio: 1.33, oursLost: false },
      { nodes: 3, metric: 'cmap get ops/s', better: 'higher', over: 'runs', ratio: null },
      'not a row',
    ];
    writeFileSync(
      path.join(dir, 'b.json'),
      JSON.stringify({
        date: '2026-02-02T00:00:00Z',
        commit: 'abc1234',
        options: {
          quick: false,
          only: null,
          sizes: [64, 1024, 16384, 65536],
          senders: ['one', 'all'],
          latRuns: 7,
        },
        summary,
        results: [
          { impl: 'ours', nodeCount: 3, latency: [{ maxMs: 1.2 }, { maxMs: 12.6 }, { maxMs: 5 }] },
          { impl: 'theirs', nodeCount: 3, latency: [{ maxMs: 1.1 }, { maxMs: 'x' }, { maxMs: 2 }] },
          { impl: 'theirs', nodeCount: 5 },
        ],
      }),
    );
    writeFileSync(
      path.join(dir, 'a.json'),
      JSON.stringify({
        date: '2026-01-01T00:00:00Z',
        options: { quick: false, only: 'ours', sizes: [1024], senders: ['one'], latRuns: 7 },
        summary: [],
      }),
    );
    writeFileSync(path.join(dir, 'c.json'), '{"date": ');
    writeFileSync(path.join(dir, 'd.json'), '{"date": "2026-03-03"}');
    writeFileSync(path.join(dir, 'notes.txt'), 'not a run');
    const { runs, skipped } = loadRuns(dir);
    assert.deepEqual(
      runs.map((r) => [path.basename(r.file), r.quick, r.paired, r.full, r.commit, r.rows.length]),
      [
        ['a.json', false, false, false, undefined, 0],
        ['b.json', false, true, true, 'abc1234', 2],
      ],
    );
    assert.equal(skipped.length, 2);
    assert.match(skipped[0]!, /^c\.json: not JSON/);
    assert.equal(skipped[1], 'd.json: no summary rows');
    assert.equal(
      formatMetric(runs, 'latency p99'),
      '2026-02-02T00:00:00  abc1234          3n  cpg latency p99 ms  1.33',
    );
    assert.equal(formatMetric(runs, 'no such metric'), 'no run has a row matching "no such metric"');
    // each side's latency runs with a message slower than the limit (5 ms: one; 5 itself is not)
    assert.equal(
      formatStalls(runs, 5),
      [
        '3n ours    1 of 3 latency runs had a message slower than 5 ms',
        '3n theirs  0 of 2 latency runs had a message slower than 5 ms',
      ].join('\n'),
    );
    assert.equal(formatStalls([], 5), 'no latency runs');
    // cluster sizes in numeric order (16 after 3), then the side
    const sized = (nodes: number, impl: string): StoredRun => ({
      ...runs[1]!,
      slowest: [{ impl, nodes, maxMs: [6] }],
    });
    assert.deepEqual(
      formatStalls([sized(16, 'theirs'), sized(3, 'theirs'), sized(16, 'ours')], 5)
        .split('\n')
        .map((l) => l.slice(0, 10)),
      ['3n theirs ', '16n ours  ', '16n theirs'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(parseRun('x', '[]'), 'no summary rows');
  assert.equal(parseRun('x', 'null'), 'not an object');
});
