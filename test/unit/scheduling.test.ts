import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  InvalidPriorityError,
  applyScheduling,
  atNormalPolicy,
  moveToRootCgroup,
  parsePriority,
  type SchedulingSystem,
} from '../../src/daemon/scheduling.js';
import { recordingLog } from '../helpers/recording-log.js';
import { loadQbNative, nativeAddonPath } from '../../src/ipc/libqb/native.js';

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
const EPERM = 1;

/** A fake system answering setRoundRobin from a script and recording every call. */
function fakeSystem(rrAnswers: number[]): SchedulingSystem & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    setRoundRobin: () => {
      const res = rrAnswers.shift() ?? -EPERM;
      calls.push(`rr=${res}`);
      return res;
    },
    setPriorityPgrp: (prio) => {
      calls.push(`nice=${prio}`);
      return 0;
    },
    moveToRootCgroup: () => void calls.push('move'),
  };
}

test('system.priority is read as corosync reads it (max, min, a whole int, else invalid)', () => {
  assert.equal(parsePriority('max'), INT_MIN);
  assert.equal(parsePriority('min'), INT_MAX);
  assert.equal(parsePriority('-5'), -5);
  assert.equal(parsePriority('+7'), 7);
  assert.equal(parsePriority(' 3'), 3); // strtol skips leading white space
  assert.equal(parsePriority(''), 0); // strtol consumes nothing and the end is reached
  for (const bad of ['5 ', 'abc', '1.5', '+', ' ', '2147483648', '-2147483649', 'MAX']) {
    assert.throws(() => parsePriority(bad), InvalidPriorityError, bad);
  }
  assert.throws(() => parsePriority('high'), /^InvalidPriorityError|Priority value high is invalid$/);
});

test('default: SCHED_RR at once, no nice value, no cgroup move', () => {
  const sys = fakeSystem([99]);
  const log = recordingLog();
  const out = applyScheduling(
    { schedRr: undefined, priority: undefined, moveToRootCgroup: undefined },
    sys,
    log,
  );
  assert.deepEqual(out, { rrPriority: 99, nice: undefined });
  assert.deepEqual(sys.calls, ['rr=99']);
  assert.deepEqual(log.lines, []);
});

test('auto: a refused SCHED_RR moves to the root cgroup and tries again, silently when it works', () => {
  const sys = fakeSystem([-EPERM, 99]);
  const log = recordingLog();
  const out = applyScheduling({ schedRr: 'yes', priority: '10', moveToRootCgroup: 'auto' }, sys, log);
  // a successful SCHED_RR drops system.priority, as corosync does
  assert.deepEqual(out, { rrPriority: 99, nice: undefined });
  assert.deepEqual(sys.calls, ['rr=-1', 'move', 'rr=99']);
  assert.deepEqual(log.lines, []);
});

test('SCHED_RR refused twice: corosync warning, then the highest nice value for the process group', () => {
  const sys = fakeSystem([-EPERM, -EPERM]);
  const log = recordingLog();
  const out = applyScheduling({ schedRr: 'yes', priority: undefined, moveToRootCgroup: undefined }, sys, log);
  assert.deepEqual(out, { rrPriority: 0, nice: INT_MIN });
  assert.deepEqual(sys.calls, ['rr=-1', 'move', 'rr=-1', `nice=${INT_MIN}`]);
  assert.deepEqual(log.lines, ['warn Could not set SCHED_RR at priority 99: Operation not permitted (1)']);
});

test('move_to_root_cgroup yes moves first; no never moves and warns on the one failure', () => {
  const yes = fakeSystem([99]);
  applyScheduling({ schedRr: 'yes', priority: undefined, moveToRootCgroup: 'yes' }, yes, recordingLog());
  assert.deepEqual(yes.calls, ['move', 'rr=99']);

  const no = fakeSystem([-EPERM]);
  const log = recordingLog();
  applyScheduling({ schedRr: undefined, priority: undefined, moveToRootCgroup: 'no' }, no, log);
  assert.deepEqual(no.calls, ['rr=-1', `nice=${INT_MIN}`]);
  assert.equal(log.lines.length, 1);
});

test('sched_rr other than "yes" keeps SCHED_OTHER; priority then sets the nice value', () => {
  for (const [priority, nice] of [
    ['min', INT_MAX],
    ['max', INT_MIN],
    ['-3', -3],
  ] as const) {
    const sys = fakeSystem([]);
    const out = applyScheduling(
      { schedRr: 'no', priority, moveToRootCgroup: undefined },
      sys,
      recordingLog(),
    );
    assert.deepEqual(out, { rrPriority: 0, nice });
    assert.deepEqual(sys.calls, [`nice=${nice}`]);
  }
  const none = fakeSystem([]);
  applyScheduling({ schedRr: 'No', priority: '0', moveToRootCgroup: undefined }, none, recordingLog());
  assert.deepEqual(none.calls, [], 'priority 0 is not set at all');
  assert.throws(
    () =>
      applyScheduling(
        { schedRr: 'no', priority: 'x', moveToRootCgroup: undefined },
        fakeSystem([]),
        recordingLog(),
      ),
    /Priority value x is invalid/,
  );
});

test('a refused nice value is a warning with the errno', () => {
  const sys: SchedulingSystem = { ...fakeSystem([]), setPriorityPgrp: () => -13 };
  const log = recordingLog();
  applyScheduling({ schedRr: 'no', priority: '-20', moveToRootCgroup: undefined }, sys, log);
  assert.deepEqual(log.lines, ['warn Could not set priority -20: Permission denied (13)']);
});

test('the root cgroup move writes the pid to cgroup v1 cpu tasks, else cgroup v2 cgroup.procs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-cgroup-'));
  try {
    const v2 = join(dir, 'v2');
    mkdirSync(v2);
    writeFileSync(join(v2, 'cgroup.procs'), '');
    const log = recordingLog();
    moveToRootCgroup(log, v2, 4242);
    assert.equal(readFileSync(join(v2, 'cgroup.procs'), 'utf8'), '4242\n');
    assert.deepEqual(log.lines, ['debug Moving main pid to cgroup v2 root cgroup']);

    const v1 = join(dir, 'v1');
    mkdirSync(join(v1, 'cpu'), { recursive: true });
    writeFileSync(join(v1, 'cpu', 'cpu.rt_runtime_us'), '950000\n');
    writeFileSync(join(v1, 'cgroup.procs'), '');
    moveToRootCgroup(recordingLog(), v1, 7);
    assert.equal(readFileSync(join(v1, 'cpu', 'tasks'), 'utf8'), '7\n');
    assert.equal(readFileSync(join(v1, 'cgroup.procs'), 'utf8'), '');

    const none = recordingLog();
    moveToRootCgroup(none, join(dir, 'absent'), 7);
    assert.match(none.lines[0]!, /^debug cpu\.rt_runtime_us or cgroup\.procs doesn't exist/);

    const unwritable = join(dir, 'ro');
    mkdirSync(join(unwritable, 'cgroup.procs'), { recursive: true }); // a directory: the write fails
    const warn = recordingLog();
    moveToRootCgroup(warn, unwritable, 7);
    assert.deepEqual(warn.lines.slice(1), ["warn Can't write corosync pid into cgroups tasks file"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('housekeeping at the normal policy: lowered, run, raised again (also when it throws)', () => {
  const calls: string[] = [];
  const sys = (otherAnswer: number, rrAnswer = 99) => ({
    schedSetOther: () => (calls.push('other'), otherAnswer),
    schedSetRr: () => (calls.push('rr'), rrAnswer),
  });
  const log = recordingLog();
  atNormalPolicy(sys(0), log, () => void calls.push('work'));
  assert.deepEqual(calls.splice(0), ['other', 'work', 'rr']);
  assert.throws(
    () =>
      atNormalPolicy(sys(0), log, () => {
        calls.push('work');
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.deepEqual(calls.splice(0), ['other', 'work', 'rr'], 'back to SCHED_RR after a throw');
  atNormalPolicy(sys(-EPERM), log, () => void calls.push('work'));
  assert.deepEqual(calls.splice(0), ['other', 'work'], 'not lowered: nothing to raise');
  assert.deepEqual(log.lines, []);
  atNormalPolicy(sys(0, -EPERM), log, () => void calls.push('work'));
  assert.deepEqual(log.lines, ['warn Could not set SCHED_RR at priority 99: Operation not permitted (1)']);
});

test("the addon's policy switches change the calling thread's policy (root)", (t) => {
  if (!loadQbNative().ok) return t.skip('addon not built');
  if (process.getuid?.() !== 0) return t.skip('needs root for SCHED_RR');
  // a separate process: the test runner's own thread must not become real-time
  const script = `
    const n = require(${JSON.stringify(nativeAddonPath())});
    const policy = () => require('fs').readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ')[38];
    const out = [policy()];
    out.push(n.schedSetRr(), policy(), n.schedSetOther(), policy());
    console.log(JSON.stringify(out));`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as unknown[];
  // /proc stat field 41 (policy): 0 SCHED_OTHER, 2 SCHED_RR
  assert.deepEqual(out, ['0', 99, '2', 0, '0']);
});
