/**
 * Giving freed C heap back to the kernel while the daemon runs.
 *
 * Every message buffer (datagrams, IPC frames, delivered messages) is an ArrayBuffer whose
 * bytes glibc's malloc hands out from the process heap. Buffers die in a different order than
 * they were made, and glibc only returns the top of its heap on its own: measured on a 3-node
 * bench, the sender's heap grew to 54 MiB during a 64 KiB CPG burst and stayed there with
 * 6 MiB of it in use. `malloc_trim(0)` also returns the free pages inside the heap (57 → 21 MiB
 * in 0.2–3.6 ms). It is called when the anonymous resident memory grew by `growthBytes` since
 * the last trim, checked every `periodMs`: an idle daemon never trims, a busy one at most a
 * few times a second.
 */
import { readFileSync } from 'node:fs';

export interface HeapTrimOptions {
  /** Growth of the anonymous resident memory since the last trim that triggers one. */
  growthBytes: number;
}

/** When to trim, given samples of the anonymous resident memory (pure: no clock, no I/O). */
export class HeapTrimPolicy {
  private readonly growthBytes: number;
  private baseline: number | undefined;

  constructor(opts: HeapTrimOptions) {
    if (!(opts.growthBytes > 0)) throw new RangeError('growthBytes must be positive');
    this.growthBytes = opts.growthBytes;
  }

  /** A sample; true when a trim is due. */
  sample(anonBytes: number): boolean {
    if (this.baseline === undefined || anonBytes < this.baseline) {
      // memory given back by other means (V8 shrank its heap) lowers the mark to beat
      this.baseline = anonBytes;
      return false;
    }
    return anonBytes - this.baseline >= this.growthBytes;
  }

  /** After a trim: the memory it left is the new baseline (also when it freed nothing). */
  trimmed(anonBytes: number): void {
    this.baseline = anonBytes;
  }
}

const PAGE_SIZE = 4096;

/**
 * Anonymous resident bytes of this process: resident minus file-backed pages of
 * /proc/self/statm (one small read; undefined without procfs).
 */
export function readAnonResidentBytes(read: (path: string) => string = readStatm): number | undefined {
  try {
    const fields = read('/proc/self/statm').split(' ');
    const resident = Number(fields[1]);
    const shared = Number(fields[2]);
    if (!Number.isFinite(resident) || !Number.isFinite(shared)) return undefined;
    return (resident - shared) * PAGE_SIZE;
  } catch {
    return undefined;
  }
}

function readStatm(path: string): string {
  return readFileSync(path, 'latin1');
}

/**
 * Start the periodic check (timer unref'd: it never keeps the process alive). Returns the
 * stop function. `trim` is malloc_trim(0) through the addon.
 */
export function startHeapTrimmer(
  trim: () => void,
  opts: HeapTrimOptions & { periodMs: number },
  readAnon: () => number | undefined = () => readAnonResidentBytes(),
): () => void {
  const policy = new HeapTrimPolicy(opts);
  const timer = setInterval(() => {
    const before = readAnon();
    if (before === undefined || !policy.sample(before)) return;
    trim();
    policy.trimmed(readAnon() ?? before);
  }, opts.periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
