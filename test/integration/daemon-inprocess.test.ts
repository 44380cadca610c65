/**
 * The daemon in-process: live logging changes through cmap, system.run_dir, read-only keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CmapHandle, CsError, CsErrorCode } from '../../src/client/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { uniqueLoopbackAddr, waitFor } from '../helpers/daemon-process.js';

const CONFIG = (runDir: string, logfile: string, addr: string) => `totem {
  version: 2
  cluster_name: inproc
  transport: udpu
}
logging {
  to_stderr: yes
  to_syslog: no
  timestamp: off
  to_logfile: no
  logfile: ${logfile}
}
system {
  run_dir: ${runDir}
}
nodelist {
  node {
    ring0_addr: ${addr}
    nodeid: 7
  }
}
`;

test('system.run_dir places the endpoints; logging follows cmap changes live', async () => {
  const base = mkdtempSync(join(tmpdir(), 'cts-inproc-'));
  const runDir = join(base, 'run');
  const logfile = join(base, 'corosync.log');
  const saved = process.env.COROSYNC_TS_RUN_DIR;
  delete process.env.COROSYNC_TS_RUN_DIR;
  const lines: string[] = [];
  let daemon: Daemon | undefined;
  try {
    daemon = await Daemon.start({
      configText: CONFIG(runDir, logfile, uniqueLoopbackAddr()),
      stateDir: join(base, 'state'),
      localNodeId: 7,
      stderr: (l) => lines.push(l),
    });
    await daemon.firstSync;
    assert.equal(daemon.runDir, runDir);
    assert.ok(existsSync(join(runDir, 'cmap.sock')));

    const h = await CmapHandle.initialize(0, { runDir });
    assert.equal(await h.getUint32('nodelist.node.0.nodeid'), 7);
    await assert.rejects(h.setString('system.run_dir', '/elsewhere'), (e) =>
      CsError.is(e, CsErrorCode.CS_ERR_ACCESS),
    );

    // debug off: the IPC layer's per-connection debug lines are not written
    const debugLines = () => lines.filter((l) => l.startsWith('debug '));
    const probe = async () => (await CmapHandle.initialize(0, { runDir })).finalize();
    await probe();
    assert.deepEqual(debugLines(), []);

    await h.setString('logging.debug', 'on');
    await probe();
    await waitFor(() => debugLines().length > 0, 'debug lines after logging.debug=on');

    // a bad value is logged and the previous settings stay
    await h.setString('logging.timestamp', 'sometimes');
    await waitFor(
      () => lines.some((l) => l.includes('parse error in config: unknown value for timestamp.')),
      'the logging error',
    );
    await h.setString('logging.timestamp', 'off');

    // switch on the log file
    await h.setString('logging.to_logfile', 'yes');
    daemon.logger.subsys('MAIN').notice('marker for the log file');
    await waitFor(
      () => existsSync(logfile) && readFileSync(logfile, 'utf8').includes('marker for the log file'),
      'the log file line',
    );
    assert.match(
      readFileSync(logfile, 'utf8'),
      /\[\d+\] \S+ corosync notice {2}\[MAIN {2}\] marker for the log file/,
    );
    await h.finalize();
  } finally {
    await daemon?.stop();
    if (saved !== undefined) process.env.COROSYNC_TS_RUN_DIR = saved;
    rmSync(base, { recursive: true, force: true });
  }
});

test('the daemon keeps the SCHED_RR priority it got (its quiet-time collection lowers it only then)', async () => {
  for (const [schedRr, rrAnswer, expected] of [
    ['yes', 99, 99],
    ['yes', -1, 0], // refused (EPERM) twice: SCHED_OTHER with a nice value
    ['no', 99, 0],
  ] as const) {
    const base = mkdtempSync(join(tmpdir(), 'cts-inproc-'));
    const calls: string[] = [];
    let daemon: Daemon | undefined;
    try {
      daemon = await Daemon.start({
        configText: `${CONFIG(join(base, 'run'), join(base, 'log'), uniqueLoopbackAddr())}system {\n  sched_rr: ${schedRr}\n}\n`,
        stateDir: join(base, 'state'),
        localNodeId: 7,
        stderr: () => undefined,
        scheduling: {
          setRoundRobin: () => (calls.push('rr'), rrAnswer),
          setPriorityPgrp: () => (calls.push('nice'), 0),
          moveToRootCgroup: () => void calls.push('move'),
        },
      });
      assert.equal(daemon.rrPriority, expected, `sched_rr ${schedRr}, SCHED_RR answered ${rrAnswer}`);
      assert.equal(calls.includes('rr'), schedRr === 'yes');
    } finally {
      await daemon?.stop();
      rmSync(base, { recursive: true, force: true });
    }
  }
});
