/**
 * Start the real `corosync-ts` binary as a child process for integration tests: its own run
 * directory, waiting for readiness through its endpoints (never a fixed sleep), and a stop
 * that always reaps the process and removes what the test made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';

/** util-linux's setpriv (always on Debian), to tie a daemon's life to the test process. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/**
 * The `corosync-ts` binary as it ships: dist/bundle/main.js (`npm run bundle`, the package's
 * `bin`), resolved from this compiled file (dist/test/helpers).
 */
export const CLI_PATH = resolve(fileURLToPath(import.meta.url), '../../../bundle/main.js');

let addrCounter = 0;

/**
 * A loopback address of its own for each daemon a test starts, in 127.64.0.0/10: 12 bits of the
 * pid and a 10-bit counter, so tests running side by side (pids close together) never contend for
 * one address:port (with 6 bits of the pid, two test files whose pids differed by 64 did).
 */
export function uniqueLoopbackAddr(): string {
  for (;;) {
    addrCounter = (addrCounter + 1) & 1023;
    const n = ((process.pid % 4096) << 10) | addrCounter;
    const last = n & 0xff;
    if (last === 0 || last === 0xff) continue;
    return `127.${64 + (n >> 16)}.${(n >> 8) & 0xff}.${last}`;
  }
}

/**
 * A one-node udpu config like the built-in one, on a unique loopback address. Such addresses
 * are routed locally but not configured on an interface, so the daemon needs `--nodeid 1`.
 */
export function singleNodeConfig(addr = uniqueLoopbackAddr(), extra = ''): string {
  return `totem {
  version: 2
  cluster_name: test
  transport: udpu
}
logging {
  to_stderr: yes
  to_syslog: no
  timestamp: off
}
quorum {
  provider: corosync_votequorum
}
nodelist {
  node {
    name: node1
    nodeid: 1
    ring0_addr: ${addr}
  }
}
${extra}`;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion (tools, -t, -v, background start) with a deadline. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`corosync-ts ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // stdio may still hold data after 'exit'; 'close' follows once the pipes drain
      child.on('close', () => resolvePromise({ code, signal, stdout, stderr }));
    });
  });
}

/** Poll `check` until it returns true or the deadline passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface DaemonProcess {
  child: ChildProcess;
  runDir: string;
  /** The config file the daemon runs on (undefined for the built-in config). */
  configFile: string | undefined;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (then SIGKILL after a grace period), wait for exit, remove the temp dirs. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Start `corosync-ts -f` in a fresh run dir on a config text (default: a one-node config on a
 * loopback address of its own; `builtin: true` runs the built-in config on 127.0.0.1) and wait
 * until its cmap endpoint exists and it reported it is ready.
 */
export async function startDaemonProcess(
  opts: { configText?: string; builtin?: boolean; args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<DaemonProcess> {
  const base = mkdtempSync(join(tmpdir(), 'cts-daemon-'));
  const runDir = join(base, 'run');
  const args = ['-f'];
  let configFile: string | undefined;
  if (opts.builtin) args.push('--default-config');
  else {
    const conf = join(base, 'corosync.conf');
    configFile = conf;
    writeFileSync(conf, opts.configText ?? singleNodeConfig());
    args.push('-c', conf);
    // 127.64/10 addresses are not on any interface: name the local node explicitly
    if (opts.configText === undefined) args.push('--nodeid', '1');
  }
  args.push(...(opts.args ?? []));
  // setpriv --pdeathsig: the daemon dies with the test process even when that is killed
  const [cmd, cmdArgs] = SETPRIV
    ? [SETPRIV, ['--pdeathsig', 'KILL', process.execPath, ...DAEMON_NODE_FLAGS, CLI_PATH, ...args]]
    : [process.execPath, [...DAEMON_NODE_FLAGS, CLI_PATH, ...args]];
  const child = spawn(cmd, cmdArgs, {
    env: {
      ...process.env,
      COROSYNC_TS_RUN_DIR: runDir,
      COROSYNC_TS_STATE_DIR: join(base, 'state'),
      ...opts.env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const stop = async () => {
    if (!done) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const res = await exited;
      clearTimeout(timer);
      rmSync(base, { recursive: true, force: true });
      return res;
    }
    rmSync(base, { recursive: true, force: true });
    return exited;
  };
  try {
    await waitFor(() => {
      if (done) throw new Error(`daemon exited during startup:\n${stderr}`);
      return stderr.includes('ready to provide service') && existsSync(join(runDir, 'cmap.sock'));
    }, 'the daemon to become ready');
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, runDir, configFile, stderr: () => stderr, exited, stop };
}
