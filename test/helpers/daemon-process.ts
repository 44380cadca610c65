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

/** dist/src/cli/main.js, resolved from this compiled file (dist/test/helpers). */
export const CLI_PATH = resolve(fileURLToPath(import.meta.url), '../../../src/cli/main.js');

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
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (then SIGKILL after a grace period), wait for exit, remove the temp dirs. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Start `corosync-ts -f` on a config text (default: the built-in config) in a fresh run dir
 * and wait until its pid file and cmap endpoint exist and it reported it is ready.
 */
export async function startDaemonProcess(
  opts: { configText?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<DaemonProcess> {
  const base = mkdtempSync(join(tmpdir(), 'cts-daemon-'));
  const runDir = join(base, 'run');
  const args = ['-f'];
  if (opts.configText !== undefined) {
    const conf = join(base, 'corosync.conf');
    writeFileSync(conf, opts.configText);
    args.push('-c', conf);
  } else args.push('--default-config');
  args.push(...(opts.args ?? []));
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, COROSYNC_TS_RUN_DIR: runDir, ...opts.env },
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
  return { child, runDir, stderr: () => stderr, exited, stop };
}
