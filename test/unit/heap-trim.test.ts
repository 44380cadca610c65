import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs, { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  HeapTrimPolicy,
  parseStatmAnonPages,
  StatmReader,
  startHeapTrimmer,
  INCREMENTAL_CHECKS,
  MARK_WAIT_CHECKS,
  type IncrementalCollection,
  type HeapSample,
  type HeapTrimOptions,
} from '../../src/daemon/heap-trim.js';
import { DAEMON_NODE_FLAGS, missingNodeFlags } from '../../src/daemon/node-flags.js';

const MiB = 1024 * 1024;
/** A check of a busy daemon (a whole CPU over 250 ms) at `mib` MiB of anonymous memory. */
const busy = (mib: number): HeapSample => ({ anonBytes: mib * MiB, cpuUs: 250_000, elapsedUs: 250_000 });
/** A check of a quiet daemon (0.4 % of a CPU over 250 ms). */
const quiet = (mib: number): HeapSample => ({ anonBytes: mib * MiB, cpuUs: 1_000, elapsedUs: 250_000 });
const QUIET = { quietUs: 1_000_000, quietCpuFraction: 0.02, idleGrowthBytes: MiB };
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('heap trim policy: the first sample only sets the mark; growth by the threshold trims', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB });
  assert.equal(p.sample(busy(20)), 'none');
  assert.equal(p.sample(busy(27)), 'none');
  assert.equal(p.sample(busy(28)), 'trim');
  p.trimmed(22 * MiB);
  assert.equal(p.sample(busy(29)), 'none', 'measured from what the trim left, not from the first mark');
  assert.equal(p.sample(busy(30)), 'trim');
});

test('heap trim policy: a trim that freed nothing still moves the mark (no trim on every check)', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB });
  p.sample(busy(10));
  assert.equal(p.sample(busy(40)), 'trim');
  p.trimmed(40 * MiB); // the growth was V8's heap, not free C heap
  assert.equal(p.sample(busy(41)), 'none');
  assert.equal(p.sample(busy(47)), 'none');
  assert.equal(p.sample(busy(48)), 'trim');
});

test('heap trim policy: memory given back otherwise lowers the mark', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB });
  p.sample(busy(50));
  assert.equal(p.sample(busy(20)), 'none');
  assert.equal(p.sample(busy(28)), 'trim', '8 MiB above the lower mark');
});

test('heap trim policy: the threshold must be positive', () => {
  assert.throws(() => new HeapTrimPolicy({ growthBytes: 0 }), /growthBytes/);
});

test('anonymous resident pages come from statm: resident minus file-backed pages', () => {
  const parse = (text: string): number | undefined => {
    const b = Buffer.from(text, 'latin1');
    return parseStatmAnonPages(b, b.length);
  };
  assert.equal(parse('12345 3000 1000 100 0 5000 0\n'), 2000);
  assert.equal(parse('12345 3000 1000'), 2000, 'the third field ends the text');
  // only `length` bytes count: what lies beyond them in the buffer (a longer earlier read) not
  const b = Buffer.from('9 8 7 6 5 4 3\n99 99 99', 'latin1');
  assert.equal(parseStatmAnonPages(b, 14), 1);
  for (const bad of ['garbage', '', '12345', '12345 3000', '12345  3000 1000', '1 2x 3', '1 2 -3'])
    assert.equal(parse(bad), undefined, JSON.stringify(bad));
});

test('statm reader: one descriptor read again, undefined without the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-statm-'));
  try {
    const file = path.join(dir, 'statm');
    fs.writeFileSync(file, '100 50 20 1 0 30 0\n');
    const r = new StatmReader(file);
    assert.equal(r.anonPages(), 30);
    // rewritten in place, shorter: the same descriptor reads the new text from its start
    fs.writeFileSync(file, '100 9 2\n');
    assert.equal(r.anonPages(), 7);
    r.close();
    r.close(); // idempotent
    assert.equal(new StatmReader(path.join(dir, 'missing')).anonPages(), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // this process, twice through one descriptor
  const own = new StatmReader();
  const first = own.anonPages();
  const again = own.anonPages();
  own.close();
  assert.ok(first !== undefined && first * 4096 > MiB, `this process has anonymous memory (${first} pages)`);
  assert.ok(again !== undefined && again > 0);
});

test('light-load collection: a mark once the old generation grew, neither quiet nor busy, one at a time', () => {
  const MARK = { growthBytes: 1 * MiB, maxCpuFraction: 0.5 };
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB, quiet: QUIET, mark: MARK });
  /** A check at 20 % of a CPU with the old generation `old` MiB above its last full collection. */
  const light = (old: number | undefined): HeapSample => ({
    anonBytes: 20 * MiB,
    cpuUs: 50_000,
    elapsedUs: 250_000,
    oldGrowthBytes: old === undefined ? undefined : old * MiB,
  });
  assert.equal(p.sample(light(0.5)), 'none', 'below the growth');
  assert.equal(p.sample(light(undefined)), 'none', 'growth not known');
  assert.equal(
    p.sample({ ...quiet(20), oldGrowthBytes: 2 * MiB }),
    'none',
    'quiet: the quiet-time collection decides',
  );
  assert.equal(p.sample({ ...busy(20), oldGrowthBytes: 2 * MiB }), 'none', 'busy: V8 keeps its own pace');
  assert.equal(p.sample(light(1.2)), 'mark');
  // its collection runs: no second start while the growth stays, until the wait is over
  for (let i = 0; i < MARK_WAIT_CHECKS; i++) assert.equal(p.sample(light(1.4)), 'none', `check ${i}`);
  assert.equal(p.sample(light(1.5)), 'mark', 'it never ended: another start');
  // a full collection ended (the growth fell back): the next growth starts one at once
  assert.equal(p.sample(light(0.1)), 'none');
  assert.equal(p.sample(light(1.1)), 'mark');
  assert.throws(() => new HeapTrimPolicy({ growthBytes: MiB, mark: MARK }), /mark/);
  assert.throws(
    () => new HeapTrimPolicy({ growthBytes: MiB, quiet: QUIET, mark: { ...MARK, growthBytes: 0 } }),
    /mark/,
  );
});

test('quiet-time collection: after the quiet period, once, and again only after new growth', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB, quiet: QUIET });
  assert.equal(p.sample(quiet(20)), 'none'); // the first sample is the idle mark
  for (let i = 0; i < 8; i++) assert.equal(p.sample(quiet(20.5)), 'none', 'less than 1 MiB above the mark');
  assert.equal(p.sample(busy(23)), 'none');
  assert.equal(p.sample(quiet(23)), 'none');
  assert.equal(p.sample(quiet(23)), 'none');
  assert.equal(p.sample(quiet(23)), 'none');
  assert.equal(p.sample(quiet(23)), 'collect', '1 s quiet (4 checks) with 3 MiB above the mark');
  p.collected(21 * MiB);
  for (let i = 0; i < 12; i++)
    assert.equal(p.sample(quiet(21.5)), 'none', 'no collection without new growth');
  assert.equal(p.sample(quiet(22.5)), 'collect', 'grown 1.5 MiB while quiet: collect again');
});

test('quiet-time collection: one busy check restarts the quiet period; without the option never', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB, quiet: QUIET });
  p.sample(quiet(10)); // the first check counts as quiet too
  for (let i = 0; i < 2; i++) assert.equal(p.sample(quiet(12)), 'none');
  assert.equal(p.sample(busy(12)), 'none', '0.75 s quiet, then a busy check');
  for (let i = 0; i < 3; i++) assert.equal(p.sample(quiet(12)), 'none');
  assert.equal(p.sample(quiet(12)), 'collect');
  const plain = new HeapTrimPolicy({ growthBytes: 8 * MiB });
  plain.sample(quiet(10));
  for (let i = 0; i < 40; i++) assert.equal(plain.sample(quiet(15)), 'none');
  assert.throws(() => new HeapTrimPolicy({ growthBytes: MiB, quiet: { ...QUIET, quietUs: 0 } }), /quiet/);
});

test('the trimmer checks on its period: trims after growth, collects then trims when quiet', async () => {
  // anon MiB, cpu µs used since the previous check
  const calls = await runTrimmer([
    { anon: 10, cpu: 0 }, // start values
    { anon: 10, cpu: 250_000 }, // mark
    { anon: 19, cpu: 250_000 }, // +9 MiB: trim, then the re-read
    12,
    12,
    12,
    12,
    12, // 1 s quiet, 2 MiB above the first mark: collect + trim, then the re-read
    11,
    11,
  ]);
  // the trims and the collection, then the probe closed by the trimmer's stop
  assert.deepEqual(calls, ['trim', 'collect', 'trim', 'close']);
});

test('the trimmer starts a light-load collection through its mark action', async () => {
  // old generation growth per check (MiB), at 20 % of a CPU: the mark at 1.5, not again at 1.6
  // (its collection runs), none after the growth fell back
  const light = (old: number): Check => ({ anon: 20, cpu: 50_000, old });
  const calls = await runTrimmer([0.2, 0.6, 1.5, 1.6, 0.1, 0.2].map(light), {
    mark: { growthBytes: MiB, maxCpuFraction: 0.5 },
  });
  assert.deepEqual(calls, ['mark@2', 'close']);
});

/**
 * One check of a scripted probe: anonymous memory (MiB), CPU used since the previous check (µs;
 * 0: quiet), the old generation's growth (MiB). A number: `anon` alone.
 */
interface Check {
  anon: number;
  cpu?: number;
  old?: number;
}

/**
 * Run the trimmer over scripted checks (every read of the probe's `anon` takes the next one;
 * the trimmer re-reads after a trim or a collection) until they run out, then stop it; returns
 * what it did: its actions, `quietly`'s lower / raise when asked for, the mark with the index of
 * its check, and the probe's close.
 */
async function runTrimmer(
  checks: ReadonlyArray<number | Check>,
  opts: {
    quietly?: boolean;
    incremental?: (calls: string[]) => IncrementalCollection;
    mark?: HeapTrimOptions['mark'];
  } = {},
): Promise<string[]> {
  const calls: string[] = [];
  let i = 0;
  let cpu = 0;
  let current: Check = { anon: 0 };
  let stop: (() => void) | undefined;
  // the trimmer's timer does not hold the event loop open (a daemon must be able to exit)
  const keepAlive = setTimeout(() => assert.fail('the trimmer never finished its script'), 10_000);
  await new Promise<void>((resolve) => {
    stop = startHeapTrimmer(
      {
        trim: () => calls.push('trim'),
        collect: () => calls.push('collect'),
        ...(opts.quietly
          ? {
              quietly: (work: () => void) => {
                calls.push('lower');
                work();
                calls.push('raise');
              },
            }
          : {}),
        ...(opts.incremental ? { incremental: opts.incremental(calls) } : {}),
        ...(opts.mark ? { mark: () => calls.push(`mark@${i - 1}`) } : {}),
      },
      { periodMs: 1, growthBytes: 8 * MiB, quiet: QUIET, ...(opts.mark ? { mark: opts.mark } : {}) },
      {
        anon: () => {
          const c = checks[i++];
          if (c === undefined) {
            resolve();
            return undefined;
          }
          current = typeof c === 'number' ? { anon: c } : c;
          cpu += current.cpu ?? 0;
          return current.anon * MiB;
        },
        oldGrowth: () => (current.old === undefined ? undefined : current.old * MiB),
        cpuUs: () => cpu,
        nowUs: () => i * 250_000,
        close: () => calls.push('close'),
      },
    );
  });
  clearTimeout(keepAlive);
  stop!();
  return calls;
}

test('a quiet-time collection and its trim run inside `quietly` (the daemon lowers its policy there)', async () => {
  const calls = await runTrimmer([10, 10, 12, 12, 12, 12, 12, 11], { quietly: true });
  assert.deepEqual(calls, ['lower', 'collect', 'trim', 'raise', 'close']);
});

test('an incremental quiet-time collection: started, then its trim at the first check that finds it ended', async () => {
  let checks = 0;
  const calls = await runTrimmer([10, 10, 12, 12, 12, 12, 12, 12, 12, 11, 11, 11], {
    quietly: true,
    incremental: (c) => ({
      start: () => (c.push('start'), true),
      done: () => (c.push('done?'), ++checks === 3),
      abandon: () => c.push('abandon'),
    }),
  });
  // quiet for 1 s and 2 MiB up: start; nothing else until it ended (no second start, no
  // atomic collection); the trim inside `quietly`; the memory it left is the new idle mark
  assert.deepEqual(calls, ['start', 'done?', 'done?', 'done?', 'lower', 'trim', 'raise', 'close']);
});

test('an incremental collection that does not end in time is abandoned and its trim still runs', async () => {
  const script = [10, 10, 12, 12, 12, 12, 12, ...Array<number>(INCREMENTAL_CHECKS).fill(12), 12];
  const calls = await runTrimmer(script, {
    quietly: true,
    incremental: (c) => ({
      start: () => (c.push('start'), true),
      done: () => false,
      abandon: () => c.push('abandon'),
    }),
  });
  assert.deepEqual(calls, ['start', 'abandon', 'lower', 'trim', 'raise', 'close']);
});

test('an incremental collection that cannot start: the atomic one runs instead', async () => {
  const calls = await runTrimmer([10, 10, 12, 12, 12, 12, 12, 11], {
    quietly: true,
    incremental: (c) => ({
      start: () => (c.push('start'), false),
      done: () => assert.fail('not started: never asked'),
      abandon: () => assert.fail('not started: never abandoned'),
    }),
  });
  assert.deepEqual(calls, ['start', 'lower', 'collect', 'trim', 'raise', 'close']);
});

test('the daemon flags are the same in the shebang, npm start and the re-exec list', () => {
  const shebang = readFileSync(path.join(ROOT, 'src/cli/main.ts'), 'utf8').split('\n')[0]!;
  assert.equal(shebang, `#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`);
  // the binary that ships (package.json "bin") is the launcher's bundle, which runs the bundle of
  // main.ts (src/cli/bin.ts): both keep the same shebang
  assert.equal(readFileSync(path.join(ROOT, 'src/cli/bin.ts'), 'utf8').split('\n')[0]!, shebang);
  const bundled = readFileSync(path.join(ROOT, 'dist/bundle/main.js'), 'utf8').split('\n')[0]!;
  assert.equal(bundled, shebang);
  // CommonJS: no ES module loader at start (bench/README.md item 33)
  assert.deepEqual(JSON.parse(readFileSync(path.join(ROOT, 'dist/bundle/package.json'), 'utf8')), {
    type: 'commonjs',
  });
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    bin: Record<string, string>;
  };
  assert.equal(pkg.bin['corosync-ts'], 'dist/bundle/main.js');
  assert.ok(
    pkg.scripts.start!.startsWith(`node ${DAEMON_NODE_FLAGS.join(' ')} dist/bundle/main.js `),
    pkg.scripts.start,
  );
  assert.deepEqual(missingNodeFlags([...DAEMON_NODE_FLAGS]), []);
  assert.deepEqual(
    missingNodeFlags(['--expose-gc']),
    DAEMON_NODE_FLAGS.filter((f) => f !== '--expose-gc'),
  );
});
