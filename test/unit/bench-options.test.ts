/**
 * `npm run bench` refuses an option it does not know before it starts anything: every option
 * bench/README.md documents must be one it accepts (an option added to the code's defaults but
 * not to its list of known names could be documented and yet refused).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const RUN_JS = path.join(ROOT, 'dist', 'bench', 'run.js');

test('every option of bench/README.md is accepted by the bench', () => {
  const readme = readFileSync(path.join(ROOT, 'bench', 'README.md'), 'utf8');
  const options = [...new Set([...readme.matchAll(/^\| `--([a-z0-9-]+)/gm)].map((m) => m[1]!))];
  assert.ok(options.length >= 20, `options found in the README's table: ${options.join(' ')}`);
  // the check stops at the first unknown name: a documented one placed before a made-up one
  // must pass it, so the error must name the made-up one
  const refused = options.filter((name) => {
    const r = spawnSync(process.execPath, [RUN_JS, `--${name}`, '1', '--no-such-option'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return !r.stderr.includes('unknown option --no-such-option');
  });
  assert.deepEqual(refused, []);
});
