// getopt behaviour as glibc's getopt gives it to corosync-cmapctl (checked with the real tool).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getopt } from '../../src/cli/args.js';

const OPTS = 'm:hqgsdDtTbp:C:';
const env = {};
const p = (argv: string[], extra: { posixlyCorrect?: boolean } = {}) =>
  getopt(argv, OPTS, { progName: 'corosync-cmapctl', env, ...extra });

test('bundled flags and attached/separate arguments', () => {
  assert.deepEqual(p(['-qg', 'totem.version']), {
    options: [{ opt: 'q' }, { opt: 'g' }],
    operands: ['totem.version'],
  });
  assert.deepEqual(p(['-qmstats', '-g', 'k']).options, [
    { opt: 'q' },
    { opt: 'm', arg: 'stats' },
    { opt: 'g' },
  ]);
  assert.deepEqual(p(['-m', 'stats']).options, [{ opt: 'm', arg: 'stats' }]);
  // a separate argument is taken even when it looks like an option
  assert.deepEqual(p(['-p', '-x']).options, [{ opt: 'p', arg: '-x' }]);
  assert.deepEqual(p(['-bb']).options, [{ opt: 'b' }, { opt: 'b' }]);
});

test('permutation: operands may come before options', () => {
  assert.deepEqual(p(['totem.v', '-q']), { options: [{ opt: 'q' }], operands: ['totem.v'] });
  assert.deepEqual(p(['-s', 'k', 'dbl', '--', '-infinity']), {
    options: [{ opt: 's' }],
    operands: ['k', 'dbl', '-infinity'],
  });
  // POSIXLY_CORRECT: the first operand ends the options
  assert.deepEqual(p(['totem.v', '-q'], { posixlyCorrect: true }), {
    options: [],
    operands: ['totem.v', '-q'],
  });
  assert.deepEqual(getopt(['a', '-q'], OPTS, { env: { POSIXLY_CORRECT: '1' } }).operands, ['a', '-q']);
  assert.deepEqual(getopt(['a', '-q'], '+' + OPTS, { env }).operands, ['a', '-q']);
});

test('-- ends options and a lone - is an operand', () => {
  assert.deepEqual(p(['-g', '--', '-x']), { options: [{ opt: 'g' }], operands: ['-x'] });
  assert.deepEqual(p(['--']), { options: [], operands: [] });
  assert.deepEqual(p(['-s', 'k', 'bin', '-']), { options: [{ opt: 's' }], operands: ['k', 'bin', '-'] });
});

test('errors carry glibc messages and stop parsing', () => {
  assert.deepEqual(p(['-x']).error, {
    kind: 'invalid',
    opt: 'x',
    message: "corosync-cmapctl: invalid option -- 'x'",
  });
  // negative numbers are option bundles
  assert.equal(p(['-s', 'k', 'i8', '-128']).error?.message, "corosync-cmapctl: invalid option -- '1'");
  assert.equal(p(['--json']).error?.message, "corosync-cmapctl: invalid option -- '-'");
  assert.deepEqual(p(['-m']).error, {
    kind: 'missing-argument',
    opt: 'm',
    message: "corosync-cmapctl: option requires an argument -- 'm'",
  });
  // options before the bad one are kept in order (so "-h -x" can still print help)
  const r = p(['-h', '-x', '-q']);
  assert.deepEqual(r.options, [{ opt: 'h' }]);
  assert.equal(r.error?.opt, 'x');
  assert.deepEqual(p(['-gx', 'foo']).options, [{ opt: 'g' }]);
});
