import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Logger,
  LoggingConfigError,
  Priority,
  formatTimestamp,
  readLoggingConfig,
} from '../../src/daemon/logging.js';

function lookup(values: Record<string, string>) {
  return (key: string) => values[key];
}

const fixedDate = new Date(2026, 10, 3, 4, 5, 6, 7);

function capture(values: Record<string, string>, subsys: string[] = []) {
  const lines: string[] = [];
  const logger = new Logger(
    { stderr: (l) => lines.push(l), now: () => fixedDate, pid: 4242, hostname: 'h1' },
    readLoggingConfig(lookup(values), subsys),
  );
  return { lines, logger };
}

test('timestamps have libqb %t and %T forms', () => {
  assert.equal(formatTimestamp(fixedDate, false), 'Nov 03 04:05:06');
  assert.equal(formatTimestamp(fixedDate, true), 'Nov 03 04:05:06.007');
});

test('stderr lines use corosync priority and subsystem padding', () => {
  const { lines, logger } = capture({ 'logging.timestamp': 'on' });
  logger.subsys('MAIN').notice('Corosync Cluster Engine starting up');
  logger.subsys('QUORUM').info('Members[1]: 1');
  assert.deepEqual(lines, [
    'Nov 03 04:05:06 notice  [MAIN  ] Corosync Cluster Engine starting up\n',
    'Nov 03 04:05:06 info    [QUORUM] Members[1]: 1\n',
  ]);
});

test('debug messages appear only with debug on, trace only with debug trace', () => {
  const off = capture({ 'logging.timestamp': 'off' });
  off.logger.subsys('MAIN').debug('hidden');
  assert.deepEqual(off.lines, []);
  const on = capture({ 'logging.timestamp': 'off', 'logging.debug': 'on' });
  on.logger.subsys('MAIN').debug('shown');
  on.logger.subsys('MAIN').trace('not shown');
  assert.deepEqual(on.lines, ['debug   [MAIN  ] shown\n']);
  const trace = capture({ 'logging.timestamp': 'off', 'logging.debug': 'trace' });
  trace.logger.subsys('MAIN').trace('t');
  assert.equal(trace.lines.length, 1);
});

test('per-subsystem settings override the top level', () => {
  const { lines, logger } = capture(
    {
      'logging.timestamp': 'off',
      'logging.logger_subsys.QUORUM.subsys': 'QUORUM',
      'logging.logger_subsys.QUORUM.debug': 'on',
    },
    ['QUORUM'],
  );
  logger.subsys('QUORUM').debug('q');
  logger.subsys('TOTEM').debug('t');
  assert.deepEqual(lines, ['debug   [QUORUM] q\n']);
});

test('logfile priority filters and the file gets pid and hostname', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-log-'));
  try {
    const file = join(dir, 'corosync.log');
    const { lines, logger } = capture({
      'logging.timestamp': 'hires',
      'logging.to_stderr': 'no',
      'logging.to_logfile': 'yes',
      'logging.logfile': file,
      'logging.logfile_priority': 'notice',
    });
    logger.configure(
      readLoggingConfig(
        lookup({
          'logging.timestamp': 'hires',
          'logging.to_stderr': 'no',
          'logging.to_logfile': 'yes',
          'logging.logfile': file,
          'logging.logfile_priority': 'notice',
        }),
        [],
      ),
    );
    logger.log('MAIN', Priority.info, 'filtered');
    logger.log('MAIN', Priority.err, 'kept');
    logger.close();
    assert.deepEqual(lines, []);
    assert.equal(
      readFileSync(file, 'utf8'),
      'Nov 03 04:05:06.007 [4242] h1 corosync err     [MAIN  ] kept\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad values are rejected with corosync reasons', () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ 'logging.timestamp': 'sometimes' }, 'unknown value for timestamp'],
    [{ 'logging.fileline': 'yes' }, 'unknown value for fileline'],
    [{ 'logging.function_name': 'x' }, 'unknown value for function_name'],
    [{ 'logging.blackbox': 'x' }, 'unknown value for blackbox'],
    [{ 'logging.to_stderr': 'maybe' }, 'unknown value for to_stderr'],
    [{ 'logging.to_logfile': 'maybe' }, 'unknown value for to_logfile'],
    [{ 'logging.syslog_facility': 'kern' }, 'unknown syslog facility specified'],
    [{ 'logging.syslog_priority': 'loud' }, 'unknown syslog priority specified'],
    [{ 'logging.syslog_level': 'loud' }, 'unknown syslog level specified'],
    [{ 'logging.logfile_priority': 'trace' }, 'unknown logfile priority specified'],
    [{ 'logging.debug': 'yes' }, 'unknown value for debug'],
  ];
  for (const [values, reason] of cases) {
    assert.throws(
      () => readLoggingConfig(lookup(values), []),
      (e: unknown) => {
        assert.ok(e instanceof LoggingConfigError);
        assert.equal(e.message, reason);
        return true;
      },
    );
  }
});

test('an unopenable logfile is a configuration error naming the file', () => {
  const { logger } = capture({});
  assert.throws(
    () =>
      logger.configure(
        readLoggingConfig(
          lookup({ 'logging.to_logfile': 'yes', 'logging.logfile': '/nonexistent-dir/x.log' }),
          [],
        ),
      ),
    /Can't open logfile '\/nonexistent-dir\/x.log' for reason/,
  );
});
