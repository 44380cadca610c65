/**
 * The Node.js flags the daemon runs with, and the re-exec that adds them when the daemon was
 * started without them (`node dist/src/cli/main.js …`; the `corosync-ts` binary, the
 * background start and our test and bench launchers pass them already).
 *
 * `--single-threaded-gc`: the daemon's main thread runs at SCHED_RR 99 like corosync's
 * (system.sched_rr, src/daemon/scheduling.ts), but V8's GC helper threads stay SCHED_OTHER. A
 * real-time main thread that waits for its helpers while other real-time threads hold the CPUs
 * is a priority inversion (corosync refuses to run with a non-real-time log thread for the same
 * reason). Measured on 2 CPUs, 3 nodes, 16 KiB CPG messages: 15 MB/s and 3× the daemon CPU
 * with parallel GC, 60 MB/s with all GC work on the main thread. Not settable at run time
 * (V8 aborts), hence the command line.
 *
 * Not used: `--max-semi-space-size=4` (or 8) cut the peak RSS under load (160 → 137 MB) but
 * made every latency worse (CPG p50 0.84 → 1.1–1.25 ms, p99 1.45 → 1.9–2.2 ms, cold start
 * +60 ms; 3 nodes, two clusters each).
 * `--v8-pool-size=1`: one V8 worker thread (concurrent compilation) instead of one per CPU; the
 * GC no longer uses them. `--expose-gc`: one full collection once the node is up
 * (src/daemon/daemon.ts releaseStartupMemory).
 */
import { loadQbNative } from '../ipc/libqb/native.js';

export const DAEMON_NODE_FLAGS: readonly string[] = [
  '--single-threaded-gc',
  '--v8-pool-size=1',
  '--expose-gc',
];

/** Set to 0 to keep the process as started (no re-exec). */
export const REEXEC_ENV = 'COROSYNC_TS_REEXEC';

/** The daemon flags missing from a Node command line's exec arguments. */
export function missingNodeFlags(execArgv: readonly string[]): string[] {
  return DAEMON_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}

/**
 * Replace this process (same pid) by Node with the daemon flags added, when some are missing.
 * Returns only when nothing was missing, re-exec was turned off, or it failed (the reason is
 * returned then; the daemon goes on as started).
 */
export function reexecWithDaemonFlags(scriptPath: string, argv: readonly string[]): string | undefined {
  const missing = missingNodeFlags(process.execArgv);
  if (missing.length === 0 || process.env[REEXEC_ENV] === '0') return undefined;
  const load = loadQbNative();
  if (!load.ok) return `cannot add ${missing.join(' ')}: ${load.reason}`;
  const res = load.native.execv(process.execPath, [
    process.argv0,
    ...process.execArgv,
    ...missing,
    scriptPath,
    ...argv,
  ]);
  return `cannot re-execute ${process.execPath} with ${missing.join(' ')}: errno ${-res}`;
}
