/**
 * Giving freed C heap back to the kernel while the daemon runs.
 *
 * Every message buffer (datagrams, IPC frames, delivered messages) is an ArrayBuffer whose
 * bytes glibc's malloc hands out from the process heap. Buffers die in a different order than
 * they were made, and glibc only returns the top of its heap on its own: measured on a 3-node
 * bench, the sender's heap grew to 54 MiB during a 64 KiB CPG burst and stayed there with
 * 6 MiB of it in use. `malloc_trim(0)` also returns the free pages inside the heap (57 → 21 MiB
 * in 0.2–3.6 ms). It is called when the anonymous resident memory grew by `growthBytes` since
 * the last trim, checked every `periodMs`: a busy daemon trims at most a few times a second.
 *
 * Once the daemon has been quiet for a while (clients connected, a burst over), one full GC
 * and a trim return what the last activity left behind (measured: 56.4 → 54.8 MiB after a
 * client joined; a trim alone gave back 0.3 MiB). V8 does not do this by itself in a process
 * that stays this quiet. It runs again only after the memory grew again. The daemon makes that
 * GC incremental (`IncrementalCollection`): traffic that resumes while it runs must not find
 * the daemon in one long pause.
 *
 * Under light load (CPG traffic at a low rate) the old generation grows by promotion, and V8's
 * own full collection at its limit is atomic in a heap this small; the trimmer starts an
 * incremental one before that ('mark', HeapTrimOptions.mark).
 */
import { Buffer } from 'node:buffer';
import { closeSync, openSync, readSync } from 'node:fs';

export interface HeapTrimOptions {
  /** Growth of the anonymous resident memory since the last trim that triggers one. */
  growthBytes: number;
  /**
   * Quiet-time collection: once the daemon used less than `quietCpuFraction` of a CPU for
   * `quietUs` in a row and its memory is `idleGrowthBytes` above what the last quiet-time
   * collection left, one full GC and a trim. Left out: no quiet-time collections.
   */
  quiet?: { quietUs: number; quietCpuFraction: number; idleGrowthBytes: number };
  /**
   * Collections under light load: V8's old generation grew `growthBytes` since its last full
   * collection while the daemon used more than the quiet fraction and at most `maxCpuFraction`
   * of a CPU: start an incremental one ('mark'). V8 marks incrementally only above 8 MB of old
   * generation; below it, where a daemon stays, the full collection it starts by itself at its
   * limit is atomic, 5-10 ms that the ring waits (bench/README.md item 42). Needs `quiet`.
   */
  mark?: { growthBytes: number; maxCpuFraction: number };
}

/** One check: anonymous resident bytes now, and CPU and wall time since the previous check. */
export interface HeapSample {
  anonBytes: number;
  cpuUs: number;
  elapsedUs: number;
  /** V8's old generation growth since its last full collection (undefined: not known). */
  oldGrowthBytes?: number | undefined;
}

/**
 * What a check asks for: nothing, malloc_trim, a full GC followed by malloc_trim (quiet), or
 * the start of an incremental full GC (light load).
 */
export type HeapAction = 'none' | 'trim' | 'collect' | 'mark';

/** Checks a 'mark' is given to end (the growth to fall back) before another may start. */
export const MARK_WAIT_CHECKS = 8;

/** When to trim or collect, given samples (pure: no clock, no I/O). */
export class HeapTrimPolicy {
  private readonly growthBytes: number;
  private readonly quiet: HeapTrimOptions['quiet'];
  private baseline: number | undefined;
  /** What the last quiet-time collection (or the first sample) left. */
  private idleMark: number | undefined;
  private quietForUs = 0;
  private readonly mark: HeapTrimOptions['mark'];
  /** Checks left before another 'mark' (while the last one's collection runs). */
  private markWait = 0;

  constructor(opts: HeapTrimOptions) {
    if (!(opts.growthBytes > 0)) throw new RangeError('growthBytes must be positive');
    if (opts.quiet && !(opts.quiet.quietUs > 0 && opts.quiet.idleGrowthBytes > 0))
      throw new RangeError('quiet: quietUs and idleGrowthBytes must be positive');
    if (opts.mark && !(opts.quiet && opts.mark.growthBytes > 0 && opts.mark.maxCpuFraction > 0))
      throw new RangeError('mark: needs quiet, and a positive growthBytes and maxCpuFraction');
    this.growthBytes = opts.growthBytes;
    this.quiet = opts.quiet;
    this.mark = opts.mark;
  }

  sample(s: HeapSample): HeapAction {
    const anon = s.anonBytes;
    if (this.baseline === undefined || anon < this.baseline) {
      // memory given back by other means (V8 shrank its heap) lowers the mark to beat
      this.baseline = anon;
    }
    this.idleMark = Math.min(this.idleMark ?? anon, this.baseline);
    if (anon - this.baseline >= this.growthBytes) return 'trim';
    const q = this.quiet;
    if (!q) return 'none';
    const busy = s.elapsedUs <= 0 || s.cpuUs > s.elapsedUs * q.quietCpuFraction;
    this.quietForUs = busy ? 0 : this.quietForUs + s.elapsedUs;
    if (this.quietForUs >= q.quietUs && anon - this.idleMark >= q.idleGrowthBytes) return 'collect';
    return this.markAction(s, busy);
  }

  /** 'mark' under light load (see HeapTrimOptions.mark), at most once per MARK_WAIT_CHECKS while the growth stays. */
  private markAction(s: HeapSample, busy: boolean): HeapAction {
    const m = this.mark;
    const growth = s.oldGrowthBytes;
    if (!m || growth === undefined) return 'none';
    if (growth < m.growthBytes) {
      this.markWait = 0; // a full collection ended: the next growth may start one
      return 'none';
    }
    if (this.markWait > 0) {
      this.markWait--;
      return 'none';
    }
    // quiet: the quiet-time collection's turn (lowered scheduling); busy: V8's own pace
    if (!busy || s.cpuUs > s.elapsedUs * m.maxCpuFraction) return 'none';
    this.markWait = MARK_WAIT_CHECKS;
    return 'mark';
  }

  /** After a trim: the memory it left is the new baseline (also when it freed nothing). */
  trimmed(anonBytes: number): void {
    this.baseline = anonBytes;
  }

  /** After a quiet-time collection: the new baseline and idle mark. */
  collected(anonBytes: number): void {
    this.baseline = anonBytes;
    this.idleMark = anonBytes;
    this.quietForUs = 0;
  }
}

/**
 * Anonymous resident pages in the text of /proc/<pid>/statm (`size resident shared ...`, pages):
 * resident minus shared (file-backed and shared memory). Read from the bytes, without strings:
 * undefined unless the first three fields are decimal numbers.
 */
export function parseStatmAnonPages(bytes: Uint8Array, length: number): number | undefined {
  let field = 0;
  let value = 0;
  let digits = 0;
  let resident = 0;
  for (let i = 0; i < length; i++) {
    const c = bytes[i]!;
    if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      digits++;
      continue;
    }
    if (c !== 0x20 && c !== 0x0a) return undefined;
    if (digits === 0) return undefined;
    if (field === 1) resident = value;
    else if (field === 2) return resident - value;
    field++;
    value = 0;
    digits = 0;
  }
  return field === 2 && digits > 0 ? resident - value : undefined;
}

/**
 * /proc/self/statm, read again and again through one descriptor into one buffer. The trimmer
 * reads it four times a second for the daemon's whole life; `readFileSync` made a 64 KiB
 * buffer, its copy and two strings on each read: at idle more than half of what the daemon
 * allocated (sampling heap profiler, bench/README.md item 42), and what made an idle daemon's
 * anonymous memory climb ~50 KB a second between quiet-time collections.
 */
export class StatmReader {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(256);

  constructor(private readonly path = '/proc/self/statm') {}

  /** Anonymous resident pages now (undefined when the file cannot be read or parsed). */
  anonPages(): number | undefined {
    try {
      this.fd ??= openSync(this.path, 'r');
      // at offset 0 procfs makes the text anew
      const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      return parseStatmAnonPages(this.buf, n);
    } catch {
      return undefined;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed: nothing held
    }
    this.fd = undefined;
  }
}

/**
 * A quiet-time collection that runs on after the call that starts it (V8's incremental
 * marking, advancing between the event loop's tasks): the daemon's ring is not held up by one
 * long pause when traffic comes back while it runs.
 */
export interface IncrementalCollection {
  /** Start it; false: it could not start (the trimmer then collects at once). */
  start(): boolean;
  /** Whether the collection started last has ended. */
  done(): boolean;
  /** It has not ended in time: undo what `start` changed (the daemon's scheduling policy). */
  abandon(): void;
}

/** Checks an incremental collection gets to end before it is abandoned (and its trim runs). */
export const INCREMENTAL_CHECKS = 8;

/**
 * Start the periodic check (timer unref'd: it never keeps the process alive). Returns the
 * stop function. `trim` is malloc_trim(0) through the addon, `collect` a full V8 collection;
 * `quietly` runs a quiet-time collection and its trim (the daemon lowers its scheduling
 * around them). With `incremental`, a quiet-time collection is started there instead and its
 * trim (inside `quietly`) comes at the first check that finds it ended, or after
 * INCREMENTAL_CHECKS checks; nothing else is done meanwhile.
 */
export function startHeapTrimmer(
  actions: {
    trim: () => void;
    collect?: () => void;
    quietly?: (work: () => void) => void;
    incremental?: IncrementalCollection;
    /** Start an incremental full collection at the daemon's scheduling (a 'mark'). */
    mark?: () => void;
  },
  opts: HeapTrimOptions & { periodMs: number },
  probe: HeapProbe,
): () => void {
  const policy = new HeapTrimPolicy(
    actions.collect
      ? {
          growthBytes: opts.growthBytes,
          ...(opts.quiet ? { quiet: opts.quiet } : {}),
          ...(actions.mark && opts.mark && opts.quiet ? { mark: opts.mark } : {}),
        }
      : { growthBytes: opts.growthBytes },
  );
  let cpu = probe.cpuUs();
  let now = probe.nowUs();
  /** One sample object for every check (the policy keeps none). */
  const sample: HeapSample = { anonBytes: 0, cpuUs: 0, elapsedUs: 0 };
  /** Checks made since an incremental collection started (undefined: none runs). */
  let collecting: number | undefined;
  const inQuiet = (work: () => void): void => {
    if (actions.quietly) actions.quietly(work);
    else work();
  };
  const timer = setInterval(() => {
    const anon = probe.anon();
    const cpuNow = probe.cpuUs();
    const nowNow = probe.nowUs();
    const cpuUs = cpuNow - cpu;
    const elapsedUs = nowNow - now;
    cpu = cpuNow;
    now = nowNow;
    const incremental = actions.incremental;
    if (collecting !== undefined && incremental) {
      collecting++;
      const ended = incremental.done();
      if (!ended && collecting < INCREMENTAL_CHECKS) return;
      if (!ended) incremental.abandon();
      collecting = undefined;
      inQuiet(actions.trim);
      const after = probe.anon() ?? anon;
      if (after !== undefined) policy.collected(after);
      return;
    }
    if (anon === undefined) return;
    sample.anonBytes = anon;
    sample.cpuUs = cpuUs;
    sample.elapsedUs = elapsedUs;
    sample.oldGrowthBytes = probe.oldGrowth?.();
    const action = policy.sample(sample);
    if (action === 'trim') {
      actions.trim();
      policy.trimmed(probe.anon() ?? anon);
    } else if (action === 'mark') {
      actions.mark?.();
    } else if (action === 'collect') {
      if (incremental?.start()) {
        collecting = 0;
        return;
      }
      inQuiet(() => {
        actions.collect!();
        actions.trim();
      });
      policy.collected(probe.anon() ?? anon);
    }
  }, opts.periodMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    probe.close?.();
  };
}

/** What the trimmer reads on each check (this process's, or a test's script). */
export interface HeapProbe {
  anon: () => number | undefined;
  cpuUs: () => number;
  nowUs: () => number;
  /** V8's old generation growth since its last full collection (bytes; undefined or negative: unknown or shrunk). */
  oldGrowth?: () => number | undefined;
  /** Release what the probe holds open (called when the trimmer stops). */
  close?: () => void;
}

/**
 * This process: /proc/self/statm with the system's page size, process.cpuUsage, hrtime, and
 * the old generation's growth from the addon when given (`oldGrowth`).
 */
export function processHeapProbe(pageSize: number, oldGrowth?: () => number): HeapProbe {
  const statm = new StatmReader();
  return {
    ...(oldGrowth ? { oldGrowth } : {}),
    anon: () => {
      const pages = statm.anonPages();
      return pages === undefined ? undefined : pages * pageSize;
    },
    cpuUs: () => {
      const u = process.cpuUsage();
      return u.user + u.system;
    },
    nowUs: () => Number(process.hrtime.bigint() / 1000n),
    close: () => statm.close(),
  };
}
