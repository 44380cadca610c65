/**
 * corosync's "main process was not scheduled" detector (exec/main.c
 * timer_function_scheduler_timeout), with its clocks, timer and logger injected so it runs
 * without real time in tests.
 *
 * - `start()` runs the timer function once at once: it records the current monotonic time and
 *   reports nothing (the first diff is 0 against a threshold of 0).
 * - Every run: diff = now − previous run; if diff > threshold, a WARNING
 *   `Corosync main process was not scheduled (@<wall ms>) for <diff %0.4f> ms (threshold is
 *   <threshold %0.4f> ms). Consider token timeout increase.` is logged and a schedmiss event
 *   (wall ms, diff in ms as a 32-bit float) is recorded.
 * - Then threshold = token timeout × 0.8 and the next run is armed in token timeout / 3 ms; the
 *   token timeout is read at every run (it can change at runtime).
 */

const NS_PER_MS = 1_000_000;

export interface SchedMissDeps {
  /** Monotonic clock, ns (qb_util_nano_current_get). */
  monotonicNs(): bigint | number;
  /** Wall clock, ms since the epoch. */
  wallMs(): number;
  /** WARNING on subsystem MAIN. */
  warn(msg: string): void;
  /** The effective totem token timeout, ms (runtime.config.totem.token). */
  tokenTimeoutMs(): number;
  /** Arms a one-shot timer; returns its cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
  /** Records an event (the stats map's `addSchedMiss`). */
  addEvent?(timestampMs: number, delayMs: number): void;
}

/**
 * printf("%0.4f") of a non-negative 32-bit float value. Exact: x × 10000 fits a double without
 * rounding (24-bit mantissa × 10000), so ties are real ties and go to even like glibc.
 */
export function formatMs4(x: number): string {
  if (!Number.isFinite(x) || x < 0) return x.toFixed(4);
  const scaled = x * 10000;
  let q = Math.floor(scaled);
  const frac = scaled - q;
  if (frac > 0.5 || (frac === 0.5 && q % 2 === 1)) q += 1;
  const int = Math.floor(q / 10000);
  const dec = q - int * 10000;
  return `${int}.${String(dec).padStart(4, '0')}`;
}

/** C's `(float)ns / QB_TIME_NS_IN_MSEC`: float arithmetic. */
function nsToFloatMs(ns: bigint): number {
  return Math.fround(Math.fround(Number(ns)) / NS_PER_MS);
}

function toBigNs(v: bigint | number): bigint {
  return typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
}

export class SchedMissDetector {
  private prev: bigint | undefined;
  /** Threshold, ns (corosync's max_tv_diff). */
  private maxDiffNs = 0n;
  private cancel: (() => void) | undefined;
  private running = false;

  constructor(private readonly deps: SchedMissDeps) {}

  /** Runs the timer function once (silently) and arms the next run. No-op when running. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.prev = undefined;
    this.maxDiffNs = 0n;
    this.tick();
  }

  /** Cancels the pending run. */
  stop(): void {
    this.running = false;
    const cancel = this.cancel;
    this.cancel = undefined;
    cancel?.();
  }

  /** The current threshold in ns (for tests / diagnostics). */
  get thresholdNs(): bigint {
    return this.maxDiffNs;
  }

  private tick(): void {
    this.cancel = undefined;
    if (!this.running) return;
    const now = toBigNs(this.deps.monotonicNs());
    if (this.prev === undefined) {
      // Initial call: pretend everything is ok.
      this.prev = now;
      this.maxDiffNs = 0n;
    }
    const diff = now - this.prev;
    this.prev = now;
    if (diff > this.maxDiffNs) {
      const ts = Math.floor(this.deps.wallMs());
      const delay = nsToFloatMs(diff);
      const threshold = nsToFloatMs(this.maxDiffNs);
      this.deps.warn(
        `Corosync main process was not scheduled (@${ts}) for ${formatMs4(delay)} ms ` +
          `(threshold is ${formatMs4(threshold)} ms). Consider token timeout increase.`,
      );
      this.deps.addEvent?.(ts, delay);
    }
    // Next threshold, because the token timeout can change.
    const token = this.deps.tokenTimeoutMs();
    this.maxDiffNs = BigInt(Math.trunc(token * NS_PER_MS * 0.8));
    // qb_loop_timer_add(token_timeout * QB_TIME_NS_IN_MSEC / 3): integer ns.
    const periodMs = Math.floor((token * NS_PER_MS) / 3) / NS_PER_MS;
    this.cancel = this.deps.setTimer(periodMs, () => this.tick());
  }
}
