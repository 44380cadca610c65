import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { HeapTrimPolicy, readAnonResidentBytes, startHeapTrimmer } from '../../src/daemon/heap-trim.js';
import { DAEMON_NODE_FLAGS, missingNodeFlags } from '../../src/daemon/node-flags.js';

const MiB = 1024 * 1024;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('heap trim policy: the first sample only sets the mark; growth by the threshold trims', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB });
  assert.equal(p.sample(20 * MiB), false);
  assert.equal(p.sample(27 * MiB), false);
  assert.equal(p.sample(28 * MiB), true);
  p.trimmed(22 * MiB);
  assert.equal(p.sample(29 * MiB), false, 'measured from what the trim left, not from the first mark');
  assert.equal(p.sample(30 * MiB), true);
});

test('heap trim policy: a trim that freed nothing still moves the mark (no trim on every check)', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB });
  p.sample(10 * MiB);
  assert.equal(p.sample(40 * MiB), true);
  p.trimmed(40 * MiB); // the growth was V8's heap, not free C heap
  assert.equal(p.sample(41 * MiB), false);
  assert.equal(p.sample(47 * MiB), false);
  assert.equal(p.sample(48 * MiB), true);
});

test('heap trim policy: memory given back otherwise lowers the mark', () => {
  const p = new HeapTrimPolicy({ growthBytes: 8 * MiB });
  p.sample(50 * MiB);
  assert.equal(p.sample(20 * MiB), false);
  assert.equal(p.sample(28 * MiB), true, '8 MiB above the lower mark');
});

test('heap trim policy: the threshold must be positive', () => {
  assert.throws(() => new HeapTrimPolicy({ growthBytes: 0 }), /growthBytes/);
});

test('anonymous resident bytes come from statm: resident minus file-backed pages', () => {
  assert.equal(
    readAnonResidentBytes(() => '12345 3000 1000 100 0 5000 0\n'),
    2000 * 4096,
  );
  assert.equal(
    readAnonResidentBytes(() => 'garbage'),
    undefined,
  );
  assert.equal(
    readAnonResidentBytes(() => {
      throw new Error('no procfs');
    }),
    undefined,
  );
  const own = readAnonResidentBytes();
  assert.ok(own !== undefined && own > MiB, `this process has anonymous memory (${own})`);
});

test('the trimmer checks on its period and trims only after growth', async () => {
  const samples = [10, 12, 19, 12, 12].map((m) => m * MiB);
  let trims = 0;
  let reads = 0;
  let stop: (() => void) | undefined;
  // the trimmer's timer does not hold the event loop open (a daemon must be able to exit)
  const keepAlive = setTimeout(() => assert.fail('the trimmer never read its samples'), 10_000);
  const done = new Promise<void>((resolve) => {
    stop = startHeapTrimmer(
      () => trims++,
      { periodMs: 1, growthBytes: 8 * MiB },
      () => {
        const v = samples[reads++];
        if (v === undefined) resolve();
        return v;
      },
    );
  });
  await done;
  clearTimeout(keepAlive);
  stop!();
  // reads: 10 (mark), 12, 19 → trim, then the re-read 12 after it is the new mark, then 12
  assert.equal(trims, 1);
  assert.equal(reads, 6);
});

test('the daemon flags are the same in the shebang, npm start and the re-exec list', () => {
  const shebang = readFileSync(path.join(ROOT, 'src/cli/main.ts'), 'utf8').split('\n')[0]!;
  assert.equal(shebang, `#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  assert.ok(pkg.scripts.start!.startsWith(`node ${DAEMON_NODE_FLAGS.join(' ')} `), pkg.scripts.start);
  assert.deepEqual(missingNodeFlags([...DAEMON_NODE_FLAGS]), []);
  assert.deepEqual(
    missingNodeFlags(['--expose-gc']),
    DAEMON_NODE_FLAGS.filter((f) => f !== '--expose-gc'),
  );
});
