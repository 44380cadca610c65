/**
 * A cheap microtask for per-message paths.
 *
 * Node's `queueMicrotask` makes an AsyncResource per call and `process.nextTick` an object with
 * computed keys and two async ids; on a path that runs once per message at low rates that code
 * is cold: nextTick measured 25-30 µs per call on the client's send path (CPG latency bench,
 * 57-62 µs from the timestamp to send(2) with it, 17-35 µs with this). A reaction on a settled
 * promise is one V8 builtin. Used by the daemon's end-of-turn event flush.
 */
const SETTLED = Promise.resolve();

/**
 * Run `fn` once the code running now and the microtasks queued before this call are done.
 * `fn` must not throw: it would surface as an unhandled rejection.
 */
export function runAfterCurrent(fn: () => void): void {
  void SETTLED.then(fn);
}
