/**
 * Background start. corosync forks and detaches; Node cannot fork, so the foreground process
 * starts a detached copy of itself (same arguments, plus -f) with stdio on /dev/null and an IPC
 * channel, waits until that child reports "ready" (or a startup error with its exit code) and
 * then exits, so `corosync-ts` without -f returns only once the node is running — and a
 * startup error is still printed on the terminal that started it.
 */
import { missingNodeFlags } from './node-flags.js';
import { loadBuiltin } from '../common/builtin.js';

/** Set in the child's environment; the child then reports its startup outcome to the parent. */
export const DAEMONIZED_ENV = 'COROSYNC_TS_DAEMONIZED';

export type StartupReport =
  { ready: true; pid: number } | { ready: false; exitCode: number; message: string };

/** True in the detached child. */
export function isDaemonizedChild(): boolean {
  return process.env[DAEMONIZED_ENV] === '1' && typeof process.send === 'function';
}

/** In the detached child: tell the parent how startup went, then drop the channel. */
export function reportStartup(report: StartupReport): void {
  if (!isDaemonizedChild()) return;
  process.send!(report, () => {
    if (report.ready) process.disconnect?.();
  });
}

/** In the parent: start the detached child and wait for its report. Resolves to an exit code. */
export async function startInBackground(scriptPath: string, argv: string[]): Promise<number> {
  // imported here: the running daemon never needs child_process (2 MB of idle RSS)
  const { spawn } = await loadBuiltin<typeof import('node:child_process')>('node:child_process');
  return new Promise((resolve) => {
    const execArgv = [...process.execArgv, ...missingNodeFlags(process.execArgv)];
    const child = spawn(process.execPath, [...execArgv, scriptPath, ...argv, '-f'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, [DAEMONIZED_ENV]: '1' },
    });
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on('message', (msg: StartupReport) => {
      if (msg.ready) finish(0);
      else {
        process.stderr.write(msg.message.endsWith('\n') ? msg.message : `${msg.message}\n`);
        finish(msg.exitCode);
      }
    });
    child.on('exit', (code, signal) => {
      if (!settled) {
        process.stderr.write(`corosync-ts: daemon exited during startup (${signal ?? `exit ${code}`})\n`);
        finish(code ?? 1);
      }
    });
    child.on('error', (err) => {
      process.stderr.write(`corosync-ts: cannot start the daemon: ${err.message}\n`);
      finish(1);
    });
  });
}
