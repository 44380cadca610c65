import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CmapHandle, CmapTrack, CsDispatchFlags, CsError, CsErrorCode } from '../../src/client/index.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';
import {
  CLI_PATH,
  runCli,
  singleNodeConfig,
  startDaemonProcess,
  waitFor,
} from '../helpers/daemon-process.js';

test('the daemon starts on the built-in config and serves its keys', async () => {
  const d = await startDaemonProcess({ builtin: true });
  try {
    const h = await CmapHandle.initialize(0, { runDir: d.runDir });
    assert.equal(await h.getString('totem.transport'), 'udpu');
    assert.equal(await h.getString('nodelist.node.0.ring0_addr'), '127.0.0.1');
    assert.equal(await h.getUint32('nodelist.local_node_pos'), 0);
    assert.equal(await h.getUint32('runtime.config.totem.token'), 3000);
    assert.equal(await h.getString('quorum.provider'), 'corosync_votequorum');
    await h.finalize();
    assert.match(d.stderr(), /notice {2}\[MAIN {2}\] Corosync Cluster Engine 3\.1\.7 .*starting up/);
  } finally {
    const res = await d.stop();
    assert.equal(res.code, 0);
  }
});

/** Block this thread (no event-loop turn) while the daemon, another process, goes on. */
function blockThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('a notification written before a reply is queued when the reply resolves, behind an earlier reply', async () => {
  // The GET's reply lands while this process does not read (blocked); then the SET leaves and
  // its notification and reply land, again unread. The request socket turned readable first,
  // so the next poll phase reads both replies before the event socket: the SET's await must
  // still find its notification queued (the library reads the event socket before handing
  // replies over). The blocks only make that order likely; a slow daemon makes the round pass
  // without testing it, never fail.
  const d = await startDaemonProcess();
  try {
    const h = await CmapHandle.initialize(0, { runDir: d.runDir });
    const got: number[] = [];
    await h.setUint32('order.other', 7);
    await h.trackAdd('order.a', CmapTrack.ADD | CmapTrack.MODIFY, (_h, _t, _ev, _key, nv) =>
      got.push(nv.data.readUInt32LE(0)),
    );
    for (let i = 1; i <= 10; i++) {
      const get = h.getUint32('order.other');
      blockThread(20);
      const set = h.setUint32('order.a', i);
      process.nextTick(blockThread, 20); // after the tick's flush of the SET
      await set;
      assert.equal(h.pendingNotifications, 1, `round ${i}: the SET's notification is queued`);
      await h.dispatch(CsDispatchFlags.ALL);
      assert.equal(await get, 7);
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await h.finalize();
  } finally {
    await d.stop();
  }
});

test('SIGTERM closes client connections, removes the endpoints and exits 0', async () => {
  const d = await startDaemonProcess();
  let stopped = false;
  try {
    const h = await CmapHandle.initialize(0, { runDir: d.runDir });
    assert.ok(existsSync(join(d.runDir, 'corosync-ts.pid')));
    d.child.kill('SIGTERM');
    const res = await d.exited;
    stopped = true;
    assert.equal(res.code, 0);
    await assert.rejects(h.get('totem.version'), (e: unknown) => CsError.is(e, CsErrorCode.CS_ERR_LIBRARY));
    assert.equal(existsSync(join(d.runDir, 'cmap.sock')), false);
    assert.equal(existsSync(join(d.runDir, 'corosync-ts.pid')), false);
    assert.match(d.stderr(), /Node was shut down by a signal/);
    assert.match(d.stderr(), /Corosync Cluster Engine exiting normally/);
  } finally {
    if (!stopped) await d.stop();
    else await d.stop();
  }
});

test('SIGINT stops the daemon too', async () => {
  const d = await startDaemonProcess();
  d.child.kill('SIGINT');
  const res = await d.exited;
  await d.stop();
  assert.equal(res.code, 0);
});

test('a second daemon on the same run directory refuses to start with exit 18', async () => {
  const d = await startDaemonProcess();
  try {
    const res = await runCli(['-f', '-c', d.configFile!, '--nodeid', '1'], {
      COROSYNC_TS_RUN_DIR: d.runDir,
      COROSYNC_TS_STATE_DIR: join(d.runDir, 'state2'),
    });
    assert.equal(res.code, 18);
    assert.match(res.stderr, /Another Corosync instance is already running\./);
  } finally {
    await d.stop();
  }
});

test('-t checks a config: 0 when valid, 8 with file:line when not, 7 for logging values', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-t-'));
  try {
    const good = join(dir, 'good.conf');
    writeFileSync(
      good,
      'totem {\n version: 2\n transport: udpu\n}\nnodelist {\n node {\n  ring0_addr: 127.0.0.1\n  nodeid: 1\n }\n}\n',
    );
    const ok = await runCli(['-t', '-c', good]);
    assert.equal(ok.code, 0, ok.stderr);

    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, 'totem {\n version: 2\n');
    const res = await runCli(['-t', '-c', bad]);
    assert.equal(res.code, 8);
    assert.equal(res.stderr, `parser error: ${bad}:2: Missing closing brace\n`);

    const badLog = join(dir, 'badlog.conf');
    writeFileSync(badLog, 'logging {\n debug: maybe\n}\n');
    const logRes = await runCli(['-t', '-c', badLog]);
    assert.equal(logRes.code, 7);
    assert.equal(logRes.stderr, 'parse error in config: unknown value for debug.');

    const missing = await runCli(['-t', '-c', join(dir, 'nope.conf')]);
    assert.equal(missing.code, 8);
    assert.match(missing.stderr, /Can't read file .*nope\.conf: No such file or directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-v prints the version and an unknown flag prints the usage with exit 1', async () => {
  const v = await runCli(['-v']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^Corosync Cluster Engine, version '3\.1\.7'/);
  const bad = await runCli(['-x']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid option -- 'x'\nusage:\n {8}-c {5}: Corosync config file path\./);
});

test('without -f the daemon starts in the background and the command returns once it is ready', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-bg-'));
  const runDir = join(dir, 'run');
  let pid = 0;
  try {
    const conf = join(dir, 'c.conf');
    writeFileSync(conf, singleNodeConfig());
    const res = await runCli(['-c', conf, '--nodeid', '1'], {
      COROSYNC_TS_RUN_DIR: runDir,
      COROSYNC_TS_STATE_DIR: join(dir, 'state'),
    });
    assert.equal(res.code, 0, res.stderr);
    pid = Number(readFileSync(join(runDir, 'corosync-ts.pid'), 'utf8').trim());
    assert.ok(pid > 0);
    const h = await CmapHandle.initialize(0, { runDir });
    assert.equal(await h.getString('totem.transport'), 'udpu');
    await h.finalize();
  } finally {
    if (pid > 0) {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 'the background daemon to exit');
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a background start with a bad config reports the error and its exit code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-bg-'));
  try {
    const conf = join(dir, 'c.conf');
    writeFileSync(conf, 'totem {\n');
    const res = await runCli(['-c', conf], {
      COROSYNC_TS_RUN_DIR: join(dir, 'run'),
      COROSYNC_TS_STATE_DIR: join(dir, 'state'),
    });
    assert.equal(res.code, 8);
    assert.match(res.stderr, /Missing closing brace/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** [policy, rt_priority] of a process's main thread from /proc/<pid>/stat (fields 41 and 40). */
function schedOf(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 on
  return [Number(fields[41 - 3]), Number(fields[40 - 3])];
}

test('the daemon runs its main thread at SCHED_RR 99 as corosync does, or SCHED_OTHER with sched_rr: no', async () => {
  const SCHED_OTHER = 0;
  const SCHED_RR = 2;
  const rr = await startDaemonProcess();
  try {
    const [policy, prio] = schedOf(rr.child.pid!);
    if (process.getuid?.() === 0) {
      assert.deepEqual([policy, prio], [SCHED_RR, 99]);
      assert.doesNotMatch(rr.stderr(), /Could not set SCHED_RR/);
    } else {
      assert.equal(policy, SCHED_OTHER);
      assert.match(rr.stderr(), /Could not set SCHED_RR at priority 99: Operation not permitted \(1\)/);
    }
  } finally {
    await rr.stop();
  }
  const other = await startDaemonProcess({
    configText: singleNodeConfig(undefined, 'system {\n  sched_rr: no\n}\n'),
    args: ['--nodeid', '1'],
  });
  try {
    assert.deepEqual(schedOf(other.child.pid!), [SCHED_OTHER, 0]);
  } finally {
    await other.stop();
  }
});

test('the daemon locks its code in memory where corosync would lock its memory, else warns as corosync does', async () => {
  // corosync raises RLIMIT_MEMLOCK first (needs CAP_SYS_RESOURCE) and locks nothing when it cannot
  const CAP_SYS_RESOURCE = 24n;
  const capEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const mayRaise = ((capEff >> CAP_SYS_RESOURCE) & 1n) === 1n;
  const d = await startDaemonProcess();
  try {
    const vmLckKb = Number(/VmLck:\s+(\d+) kB/.exec(readFileSync(`/proc/${d.child.pid}/status`, 'utf8'))![1]);
    if (mayRaise) {
      assert.ok(vmLckKb > 10 * 1024, `VmLck ${vmLckKb} kB`);
      assert.doesNotMatch(d.stderr(), /not locking memory|Could not lock memory/);
    } else {
      assert.equal(vmLckKb, 0);
      assert.match(
        d.stderr(),
        /\[MAIN {2}\] Could not increase RLIMIT_MEMLOCK, not locking memory: Operation not permitted \(1\)/,
      );
    }
  } finally {
    await d.stop();
  }
});

test('an invalid system.priority stops the daemon with exit 8 and corosync message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-prio-'));
  try {
    const conf = join(dir, 'corosync.conf');
    writeFileSync(conf, singleNodeConfig(undefined, 'system {\n  sched_rr: no\n  priority: fast\n}\n'));
    const res = await runCli(['-f', '-c', conf, '--nodeid', '1'], {
      COROSYNC_TS_RUN_DIR: join(dir, 'run'),
      COROSYNC_TS_STATE_DIR: join(dir, 'state'),
    });
    assert.equal(res.code, 8);
    assert.match(
      res.stderr,
      /err {5}\[MAIN {2}\] Priority value fast is invalid\n[^]*exiting with status 8\.\n$/,
    );
    // -t does not look at it (corosync checks it after the config test exits)
    assert.equal((await runCli(['-t', '-c', conf, '--nodeid', '1'])).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('started without its Node flags, the daemon re-executes itself with them (same pid, one start-up)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cts-reexec-'));
  const conf = join(dir, 'corosync.conf');
  writeFileSync(conf, singleNodeConfig());
  const child = spawn(process.execPath, [CLI_PATH, '-f', '-c', conf, '--nodeid', '1'], {
    env: { ...process.env, COROSYNC_TS_RUN_DIR: join(dir, 'run'), COROSYNC_TS_STATE_DIR: join(dir, 'state') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitFor(() => stderr.includes('ready to provide service'), 'the re-executed daemon to be ready');
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(cmdline.slice(1, 2 + DAEMON_NODE_FLAGS.length), [...DAEMON_NODE_FLAGS, CLI_PATH]);
    assert.equal(stderr.match(/starting up/g)?.length, 1, stderr);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Start a one-node daemon (with its Node flags) and call `onStderr` with everything it wrote so
 * far on each write, synchronously: what a test does there happens at that point of the start.
 */
function spawnWatched(onStderr: (all: string, runDir: string, child: ChildProcess) => void): {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'cts-signal-'));
  const conf = join(dir, 'corosync.conf');
  writeFileSync(conf, singleNodeConfig());
  const runDir = join(dir, 'run');
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, CLI_PATH, '-f', '-c', conf, '--nodeid', '1'], {
    env: { ...process.env, COROSYNC_TS_RUN_DIR: runDir, COROSYNC_TS_STATE_DIR: join(dir, 'state') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    onStderr(stderr, runDir, child);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  // a daemon a failed assertion left running dies with SIGKILL 10 s on
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  void exited.then(() => clearTimeout(killer));
  return { exited, stderr: () => stderr, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the moment it reports ready, the daemon has its IPC endpoints and a SIGTERM stops it cleanly', async () => {
  // a one-node ring is ready within milliseconds of its start: before the fix the first sync
  // completed while the IPC endpoints were still being made, and the signal handlers came
  // later still (a SIGTERM then killed the process, 9 starts in 10)
  for (let round = 1; round <= 3; round++) {
    let sockAtReady: boolean | undefined;
    const d = spawnWatched((all, runDir, child) => {
      if (sockAtReady === undefined && all.includes('ready to provide service')) {
        sockAtReady = existsSync(join(runDir, 'cmap.sock'));
        child.kill('SIGTERM');
      }
    });
    try {
      const res = await d.exited;
      assert.deepEqual(res, { code: 0, signal: null }, d.stderr());
      assert.equal(sockAtReady, true, 'cmap.sock exists when ready is reported');
      assert.match(d.stderr(), /Node was shut down by a signal[\s\S]*exiting normally/);
    } finally {
      d.cleanup();
    }
  }
});

test('a SIGTERM while the daemon starts stops it once it is up, with exit 0', async () => {
  let sent = false;
  const d = spawnWatched((all, _runDir, child) => {
    if (!sent && all.includes('starting up')) {
      sent = true;
      child.kill('SIGTERM');
    }
  });
  try {
    const res = await d.exited;
    assert.deepEqual(res, { code: 0, signal: null }, d.stderr());
    assert.match(d.stderr(), /Node was shut down by a signal[\s\S]*exiting normally/);
  } finally {
    d.cleanup();
  }
});

test('the daemon keeps its bundle as a mapping of the file, not a copy in its heap', async () => {
  // the launcher maps dist/bundle/corosync-ts.js through the addon and V8 compiles that string
  // as it is (src/cli/code-cache.ts); a copy would leave no mapping of the file
  const d = await startDaemonProcess();
  try {
    const maps = readFileSync(`/proc/${d.child.pid}/maps`, 'utf8').split('\n');
    const bundle = join(dirname(CLI_PATH), 'corosync-ts.js');
    assert.ok(
      maps.some((l) => l.endsWith(` ${bundle}`) && / r--p /.test(l)),
      `a read-only private mapping of ${bundle}`,
    );
  } finally {
    await d.stop();
  }
});
