/**
 * The binary's code cache (src/cli/code-cache.ts): a bundle runs with or without it, a cache is
 * used only when it was made from the same file by this Node with these flags and only its owner
 * (or root) could have written it, and a rejected or missing one is written again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WRAPPED_BUNDLE_HEAD } from '../../src/cli/code-cache.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CODE_CACHE_JS = fileURLToPath(new URL('../../src/cli/code-cache.js', import.meta.url));

interface Outcome {
  used: boolean;
  file?: string;
  reason?: string;
  runs: string[];
  sourceKept: boolean;
}

/**
 * Run the bundle in a fresh Node process (V8 keeps compiled scripts per process, so a second
 * compile in this one would not read the cache at all); `write` writes the cache at once (else the exit handler writes it when none was used).
 */
function run(
  bundle: string,
  opts: { cacheDir: string; env?: NodeJS.ProcessEnv; write?: boolean; readSource?: boolean },
): Outcome {
  // one script for every run, the options as an argument: the cache's key has the command line
  // (process.execArgv, where `-e` puts the script)
  const args = JSON.stringify({ bundle, ...opts });
  return JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', RUN_SCRIPT, args], { encoding: 'utf8' }),
  ) as Outcome;
}

const RUN_SCRIPT = `
  import { createRequire } from 'node:module';
  import { readFileSync } from 'node:fs';
  import { runWithCodeCache } from ${JSON.stringify(CODE_CACHE_JS)};
  const o = JSON.parse(process.argv[process.argv.length - 1]);
  const readSource = o.readSource ? (p) => readFileSync(p, 'latin1') : undefined;
  const out = runWithCodeCache(o.bundle, createRequire(import.meta.url), { cacheDir: o.cacheDir, writeAfterMs: 1e9, env: o.env ?? {}, readSource });
  if (o.write) out.writeNow();
  process.stdout.write(JSON.stringify({ used: out.used, file: out.file, reason: out.reason, runs: globalThis.codeCacheRuns, sourceKept: out.sourceKept }));
`;

const BUNDLE_BODY = [
  "'use strict';",
  'function sum(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }',
  'const runs = (globalThis.codeCacheRuns ??= []);',
  "runs.push(require('node:path').basename(__filename) + ':' + sum(10) + ':' + (module.exports === exports));",
];

/**
 * A temporary bundle that records each run (its __filename and a computed value) on globalThis:
 * with a `#!` line, or `wrapped` inside the function wrapper as the binary's bundle is built.
 */
function setup(wrapped = false): { dir: string; bundle: string; cacheDir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'cts-code-cache-'));
  const bundle = path.join(dir, 'bundle.js');
  writeFileSync(
    bundle,
    (wrapped
      ? [WRAPPED_BUNDLE_HEAD, ...BUNDLE_BODY, '})', '//# sourceMappingURL=bundle.js.map']
      : ['#!/usr/bin/env node', ...BUNDLE_BODY, '']
    ).join('\n'),
  );
  return {
    dir,
    bundle,
    cacheDir: path.join(dir, 'cache'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Run `fn` with a fresh temporary bundle, removed afterwards. */
function withBundle(fn: (t: ReturnType<typeof setup>) => void, wrapped = false): void {
  const t = setup(wrapped);
  try {
    fn(t);
  } finally {
    t.cleanup();
  }
}

const RAN = 'bundle.js:45:true';

test('code cache: the first run has none and writes it; the next one compiles from it', () =>
  withBundle((t) => {
    const first = run(t.bundle, { cacheDir: t.cacheDir, write: true });
    assert.equal(first.used, false);
    assert.match(first.reason ?? '', /ENOENT/);
    assert.deepEqual(first.runs, [RAN], 'the bundle ran as a CommonJS module');
    assert.equal(readFileSync(first.file!).toString('latin1', 0, 5), 'CTSC1');
    const second = run(t.bundle, { cacheDir: t.cacheDir });
    assert.equal(second.used, true, second.reason);
    assert.equal(second.file, first.file);
    assert.deepEqual(second.runs, [RAN]);
  }));

test('code cache: a process that used none writes it at its exit', () =>
  withBundle((t) => {
    // no explicit write: the exit handler does it (the timer is far off)
    const first = run(t.bundle, { cacheDir: t.cacheDir });
    assert.equal(first.used, false);
    assert.match(first.reason ?? '', /ENOENT/);
    assert.equal(run(t.bundle, { cacheDir: t.cacheDir }).used, true, 'written at the exit before');
  }));

test('code cache: a rebuilt bundle, a truncated file or one others can write is not used', () =>
  withBundle((t) => {
    const file = run(t.bundle, { cacheDir: t.cacheDir, write: true }).file!;
    assert.equal(run(t.bundle, { cacheDir: t.cacheDir }).used, true);

    // the bundle rebuilt (the same bytes, a new mtime): made from another build, written again
    utimesSync(t.bundle, new Date(), new Date(Date.now() + 5000));
    const rebuilt = run(t.bundle, { cacheDir: t.cacheDir, write: true });
    assert.equal(rebuilt.used, false);
    assert.match(rebuilt.reason ?? '', /another build/);
    assert.equal(run(t.bundle, { cacheDir: t.cacheDir }).used, true, 'the new cache is used');

    // V8's part cut short: V8 refuses it, and a fresh one is written
    const fresh = readFileSync(file);
    writeFileSync(file, fresh.subarray(0, fresh.length - 64), { mode: 0o644 });
    const truncated = run(t.bundle, { cacheDir: t.cacheDir, write: true });
    assert.equal(truncated.used, false);
    assert.match(truncated.reason ?? '', /rejected by V8/);
    assert.deepEqual(truncated.runs, [RAN]);
    assert.equal(run(t.bundle, { cacheDir: t.cacheDir }).used, true, 'written again');

    // writable by the group or others (the file or its directory): never read
    chmodSync(file, 0o666);
    const open = run(t.bundle, { cacheDir: t.cacheDir });
    assert.equal(open.used, false);
    assert.match(open.reason ?? '', /writable by others/);
    chmodSync(file, 0o644);
    chmodSync(t.cacheDir, 0o777);
    const openDir = run(t.bundle, { cacheDir: t.cacheDir });
    assert.equal(openDir.used, false);
    assert.match(openDir.reason ?? '', /writable by others/);
    chmodSync(t.cacheDir, 0o755);

    // a symbolic link in place of the directory
    const linked = path.join(t.dir, 'linked');
    symlinkSync(t.cacheDir, linked);
    const viaLink = run(t.bundle, { cacheDir: linked });
    assert.equal(viaLink.used, false);
    assert.match(viaLink.reason ?? '', /writable by others/);
    assert.deepEqual(viaLink.runs, [RAN], 'the bundle ran anyway');
    assert.equal(run(t.bundle, { cacheDir: t.cacheDir }).used, true, 'the cache itself is untouched');
  }));

test('code cache: COROSYNC_TS_CODE_CACHE=0 turns it off', () =>
  withBundle((t) => {
    run(t.bundle, { cacheDir: t.cacheDir, write: true });
    const off = run(t.bundle, { cacheDir: t.cacheDir, env: { COROSYNC_TS_CODE_CACHE: '0' }, write: true });
    assert.equal(off.used, false);
    assert.equal(off.file, undefined);
    assert.match(off.reason ?? '', /turned off/);
    assert.deepEqual(off.runs, [RAN]);
  }));

test('code cache: a wrapped bundle is compiled from the text readSource gave, as it is, cache and all', () =>
  withBundle((t) => {
    const first = run(t.bundle, { cacheDir: t.cacheDir, write: true, readSource: true });
    assert.equal(first.sourceKept, true);
    assert.deepEqual(first.runs, [RAN]);
    const second = run(t.bundle, { cacheDir: t.cacheDir, readSource: true });
    assert.equal(second.used, true, second.reason);
    assert.equal(second.sourceKept, true);
    assert.deepEqual(second.runs, [RAN]);
    // read by the runner itself: the same source, so the same cache
    const read = run(t.bundle, { cacheDir: t.cacheDir });
    assert.equal(read.sourceKept, false);
    assert.equal(read.used, true, read.reason);
    assert.deepEqual(read.runs, [RAN]);
  }, true));

test('code cache: an unwrapped bundle given through readSource is wrapped (a copy, not kept)', () =>
  withBundle((t) => {
    const out = run(t.bundle, { cacheDir: t.cacheDir, readSource: true });
    assert.equal(out.sourceKept, false);
    assert.deepEqual(out.runs, [RAN]);
  }));

test('the bundle script builds the binary inside the wrapper the runner expects', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: { bundle: string };
  };
  assert.ok(
    pkg.scripts.bundle.includes(`'--banner:js=${WRAPPED_BUNDLE_HEAD}' '--footer:js=})'`),
    'package.json scripts.bundle has the banner and footer of WRAPPED_BUNDLE_HEAD',
  );
  const built = path.join(ROOT, 'dist', 'bundle', 'corosync-ts.js');
  assert.equal(readFileSync(built, 'latin1').slice(0, WRAPPED_BUNDLE_HEAD.length), WRAPPED_BUNDLE_HEAD);
});

const native = loadQbNative();

test(
  'mapFileLatin1: the text stays in a mapping of the file, which goes when the string is collected',
  { skip: native.ok && native.native.mapFileLatin1 ? false : 'the addon (with mapFileLatin1) is not built' },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cts-map-'));
    try {
      const file = path.join(dir, 'text.js');
      const text = `/* ${'x'.repeat(100_000)} */\n`;
      writeFileSync(file, text);
      // a fresh process with --expose-gc: the string must be the only holder of the mapping
      const script = `
        const { loadQbNative } = await import(${JSON.stringify(path.join(ROOT, 'dist/src/ipc/libqb/native.js'))});
        const fs = await import('node:fs');
        const file = process.argv[process.argv.length - 1];
        const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').some((l) => l.endsWith(file));
        let s = loadQbNative().native.mapFileLatin1(file);
        const out = { type: typeof s, same: s === fs.readFileSync(file, 'latin1'), mappedWhileHeld: mapped() };
        s = undefined;
        for (let i = 0; i < 5 && mapped(); i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
        out.mappedAfterGc = mapped();
        out.missing = loadQbNative().native.mapFileLatin1(file + '.none');
        process.stdout.write(JSON.stringify(out));`;
      const out = JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, file], {
          encoding: 'utf8',
        }),
      ) as Record<string, unknown>;
      assert.deepEqual(out, {
        type: 'string',
        same: true,
        mappedWhileHeld: true,
        mappedAfterGc: false,
        missing: -2,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
