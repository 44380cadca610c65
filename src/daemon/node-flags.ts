/**
 * The Node.js flags the daemon runs with, and the re-exec that adds them when the daemon was
 * started without them (`node dist/bundle/main.js …`; the `corosync-ts` binary, the
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
 * `--max-semi-space-size=4`: a young generation of at most 2 × 4 MiB instead of 2 × 16 MiB.
 * Under load the daemon allocates mostly short-lived Buffers whose bytes live outside the V8
 * heap; a large young generation is collected rarely, so dead message buffers pile up in the C
 * heap until it is (V8 counts them only against a 64 MiB external-memory limit). 3-node bench,
 * three alternated rounds per setting (1 KiB one sender, latency): peak RSS 140–156 (16 MiB
 * default) → 120–126 (4) → 99–105 MiB (1); 1 KiB throughput ~29.9 → ~29.1 → ~26.7 MB/s; CPG
 * latency the same for all three (p50 1.0–1.4 ms, the runs' spread). 4 keeps the peak well
 * inside 3× corosync's at a 3 % throughput cost; 1 cost 10 %.
 * `--v8-pool-size=1`: one V8 worker thread (concurrent compilation) instead of one per CPU; the
 * GC no longer uses them. `--expose-gc`: the collections of src/daemon/daemon.ts
 * startMemoryUpkeep when the addon (which does them with V8's low-memory notification) is
 * missing.
 */
import { loadQbNative } from '../ipc/libqb/native.js';

export const DAEMON_NODE_FLAGS: readonly string[] = [
  '--single-threaded-gc',
  '--v8-pool-size=1',
  '--expose-gc',
  '--max-semi-space-size=4',
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
