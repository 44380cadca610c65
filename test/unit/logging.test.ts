import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger, LogfileError, Priority, formatTimestamp } from '../../src/daemon/logging.js';
import { readLoggingConfig } from '../../src/config/logging.js';
import { parseConfigText } from '../../src/config/load.js';

const fixedDate = new Date(2026, 10, 3, 4, 5, 6, 7);

/** A logger configured from the text of a logging {} section, capturing stderr lines. */
function capture(loggingSection: string) {
  const lines: string[] = [];
  const logger = new Logger({
    stderr: (l) => lines.push(l),
    now: () => fixedDate,
    pid: 4242,
    hostname: 'h1',
  });
  logger.configure(readLoggingConfig(parseConfigText(`logging {\n${loggingSection}\n}\n`, 'test.conf')));
  return { lines, logger };
}

test('timestamps have libqb %t and %T forms', () => {
  assert.equal(formatTimestamp(fixedDate, false), 'Nov 03 04:05:06');
  assert.equal(formatTimestamp(fixedDate, true), 'Nov 03 04:05:06.007');
});

test('stderr lines use corosync priority and subsystem padding', () => {
  const { lines, logger } = capture('timestamp: on');
  logger.subsys('MAIN').notice('Corosync Cluster Engine starting up');
  logger.subsys('QUORUM').info('Members[1]: 1');
  assert.deepEqual(lines, [
    'Nov 03 04:05:06 notice  [MAIN  ] Corosync Cluster Engine starting up\n',
    'Nov 03 04:05:06 info    [QUORUM] Members[1]: 1\n',
  ]);
});

test('default timestamp is hires', () => {
  const { lines, logger } = capture('to_stderr: yes');
  logger.subsys('MAIN').error('x');
  assert.deepEqual(lines, ['Nov 03 04:05:06.007 err     [MAIN  ] x\n']);
});

test('debug messages appear only with debug on, trace only with debug trace', () => {
  const off = capture('timestamp: off');
  off.logger.subsys('MAIN').debug('hidden');
  assert.deepEqual(off.lines, []);
  const on = capture('timestamp: off\nto_syslog: no\ndebug: on');
  on.logger.subsys('MAIN').debug('shown');
  on.logger.subsys('MAIN').trace('not shown');
  assert.deepEqual(on.lines, ['debug   [MAIN  ] shown\n']);
  const trace = capture('timestamp: off\nto_syslog: no\ndebug: trace');
  trace.logger.subsys('MAIN').trace('t');
  assert.equal(trace.lines.length, 1);
});

test('per-subsystem settings override the top level', () => {
  const { lines, logger } = capture('timestamp: off\nlogger_subsys {\nsubsys: QUORUM\ndebug: on\n}');
  logger.subsys('QUORUM').debug('q');
  logger.subsys('TOTEM').debug('t');
  assert.deepEqual(lines, ['debug   [QUORUM] q\n']);
  assert.equal(logger.enabled('QUORUM', Priority.debug), true);
  assert.equal(logger.enabled('TOTEM', Priority.debug), false);
});

test('to_stderr: no silences stderr', () => {
  const { lines, logger } = capture('to_stderr: no');
  logger.subsys('MAIN').error('nowhere');
  assert.deepEqual(lines, []);
});

test('logfile priority filters and the file line carries pid and hostname', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-log-'));
  try {
    const file = join(dir, 'corosync.log');
    const { lines, logger } = capture(
      `timestamp: hires\nto_stderr: no\nto_logfile: yes\nlogfile: ${file}\nlogfile_priority: notice`,
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

test('an unopenable logfile is an error naming the file, and the old settings stay', () => {
  const { lines, logger } = capture('timestamp: off');
  assert.throws(
    () =>
      logger.configure(
        readLoggingConfig(
          parseConfigText('logging {\nto_logfile: yes\nlogfile: /nonexistent-dir/x.log\n}\n', 't.conf'),
        ),
      ),
    (e: unknown) =>
      e instanceof LogfileError && /Can't open logfile '\/nonexistent-dir\/x.log' for reason/.test(e.message),
  );
  logger.subsys('MAIN').notice('still here');
  assert.deepEqual(lines, ['notice  [MAIN  ] still here\n']);
});

/** A logger whose syslog datagrams are captured. */
function captureSyslog(loggingSection: string) {
  const datagrams: string[] = [];
  const logger = new Logger({
    stderr: () => undefined,
    now: () => fixedDate,
    pid: 4242,
    hostname: 'h1',
    syslog: (d) => datagrams.push(d),
  });
  logger.configure(readLoggingConfig(parseConfigText(`logging {\n${loggingSection}\n}\n`, 'test.conf')));
  return { datagrams, logger };
}

test('syslog: glibc framing, facility and priority; to_syslog defaults to yes at info', () => {
  const { datagrams, logger } = captureSyslog('to_stderr: no');
  logger.subsys('TOTEM').notice('A new membership (1.5) was formed. Members joined: 1');
  logger.subsys('MAIN').debug('not at the default syslog priority');
  // daemon (3) × 8 + notice (5) = 29; the day is space-padded as syslog(3) writes it
  assert.deepEqual(datagrams, [
    '<29>Nov  3 04:05:06 corosync[4242]:  [TOTEM ] A new membership (1.5) was formed. Members joined: 1',
  ]);
});

test('syslog: syslog_facility, syslog_priority, per-subsystem off', () => {
  const { datagrams, logger } = captureSyslog(
    'syslog_facility: local3\nsyslog_priority: warning\n' +
      'logger_subsys {\n subsys: CPG\n to_syslog: no\n}',
  );
  logger.subsys('MAIN').notice('below warning: not sent');
  logger.subsys('MAIN').error('sent');
  logger.subsys('CPG').error('CPG does not log to syslog');
  // local3 = 19: 19 × 8 + 3 (err) = 155
  assert.deepEqual(datagrams, ['<155>Nov  3 04:05:06 corosync[4242]:  [MAIN  ] sent']);
});

test('syslog: debug on sends debug messages, raised to info as libqb does', () => {
  const { datagrams, logger } = captureSyslog('debug: on');
  logger.subsys('QUORUM').debug('a debug line');
  logger.subsys('QUORUM').trace('no trace without debug: trace');
  // daemon 3 × 8 + info 6 = 30
  assert.deepEqual(datagrams, ['<30>Nov  3 04:05:06 corosync[4242]:  [QUORUM] a debug line']);
});

test('syslog: to_syslog no writes nothing', () => {
  const { datagrams, logger } = captureSyslog('to_syslog: no');
  logger.subsys('MAIN').error('not sent');
  assert.deepEqual(datagrams, []);
});
