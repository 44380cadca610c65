/**
 * The daemon's lock: `<run dir>/corosync-ts.pid` holding the pid, like corosync's
 * /run/corosync.pid. A file whose pid is no longer alive is stale and taken over.
 */
import { openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export const PID_FILE_NAME = 'corosync-ts.pid';

export class AlreadyRunningError extends Error {
  constructor(readonly pid: number) {
    super('Another Corosync instance is already running.');
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the lock for this process; throws AlreadyRunningError when a live daemon holds it. */
export function acquirePidFile(runDir: string, pid = process.pid): string {
  const path = join(runDir, PID_FILE_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      } catch {
        // unreadable or vanished: treat as stale
      }
      if (Number.isInteger(holder) && holder > 0 && holder !== pid && alive(holder)) {
        throw new AlreadyRunningError(holder);
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`Corosync Executive couldn't create lock file ${path}`);
}

/** Remove the lock if it is still ours. */
export function releasePidFile(path: string, pid = process.pid): void {
  try {
    if (Number.parseInt(readFileSync(path, 'utf8').trim(), 10) === pid) rmSync(path, { force: true });
  } catch {
    // already gone
  }
}
