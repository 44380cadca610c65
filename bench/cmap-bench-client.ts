/**
 * cmap benchmark client on our TypeScript libcmap (src/client/cmap.ts), used by bench/run.ts on
 * our daemons. Same modes, arguments and output as bench/c/cmap-bench.c (see there), plus the
 * run directory as the last argument:
 *
 *   node dist/bench/cmap-bench-client.js get|set <ms> [warm_ms] <run-dir>
 *   node dist/bench/cmap-bench-client.js tracker <key> <run-dir>
 *   node dist/bench/cmap-bench-client.js setter <key> <run-dir>
 *
 * The tracker and the setter stay up for a cluster's cmap runs and take commands on stdin (see
 * bench/c/cmap-bench.c): `run <count> <skip>` (tracker), `run <count> <interval_us>` (setter),
 * `quit`.
 *
 * One request at a time (each call awaited before the next, as libcmap's synchronous calls).
 */
import { createInterface } from 'node:readline';
import { CmapHandle, CmapTrack, CsDispatchFlags, type CmapNotifyValue } from '../src/client/cmap.js';
import { CsError, CsErrorCode } from '../src/common/errors.js';
import { CmapValueType } from '../src/cmap/types.js';
import { readBigUInt64LE } from '../src/common/bytes.js';

const args = process.argv.slice(2);
const op = args[0];
const runDir = args[args.length - 1];

const nowNs = (): bigint => process.hrtime.bigint();
/** A plain timer: node:timers/promises' setTimeout adds abort-signal and async-hook layers. */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const us = (ns: bigint): number => Number(ns / 1000n) + Number(ns % 1000n) / 1000;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

function fail(what: string, err: unknown): never {
  out({ ev: 'error', what, code: err instanceof CsError ? err.code : String(err) });
  process.exit(2);
}

/** Retry CS_ERR_TRY_AGAIN (the daemon is busy), fail on anything else. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!CsError.is(err, CsErrorCode.CS_ERR_TRY_AGAIN)) fail(what, err);
      await sleep(1);
    }
  }
}

/** Set once `quit` (or the end of stdin) was read: the handle's finalize ends the dispatch loop. */
let quitting = false;

/**
 * The long-lived modes' commands, one per line on stdin: `run <a> <b>` goes to `onRun` (false:
 * a bad command), `quit` or the end of stdin resolves. Anything else fails the client.
 */
function commands(onRun: (cmd: string, a: number, b: number) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    const stop = (): void => {
      quitting = true;
      rl.close();
      resolve();
    };
    rl.on('line', (line) => {
      const [cmd = '', a = '', b = ''] = line.trim().split(/\s+/);
      if (cmd === 'quit') stop();
      else if (cmd === '') return;
      else if (!(/^\d+$/.test(a) && /^\d+$/.test(b) && onRun(cmd, Number(a), Number(b))))
        fail('bad command', line);
    });
    rl.on('close', stop);
  });
}

const h = await call('cmap_initialize', () => CmapHandle.initialize(undefined, runDir ? { runDir } : {}));
out({ ev: 'ready', nodeid: 0, pid: process.pid, t: us(nowNs()) });

if ((op === 'get' || op === 'set') && args.length >= 3) {
  const warmMs = args.length >= 4 ? Number(args[2]) : 0;
  let v = 0;
  /** Calls until `end`; returns how many and when the loop started and ended. */
  const loop = async (ms: number): Promise<{ n: number; t0: bigint; t1: bigint }> => {
    const t0 = nowNs();
    const end = t0 + BigInt(ms) * 1_000_000n;
    let t1 = t0;
    let n = 0;
    for (; (t1 = nowNs()) < end; n++) {
      if (op === 'get') v = await call('cmap_get_uint32', () => h.getUint32('bench.cmap.get'));
      else await call('cmap_set_uint32', () => h.setUint32('bench.cmap.set', n));
    }
    return { n, t0, t1 };
  };
  await call('cmap_set_uint32', () => h.setUint32('bench.cmap.get', 42));
  if (warmMs > 0) await loop(warmMs); // the same calls first, not counted
  const { n, t0, t1 } = await loop(Number(args[1]));
  if (op === 'get' && v !== 42) fail('cmap_get_uint32 value', v);
  out({ ev: 'result', op, n, t0: us(t0), t1: us(t1) });
} else if (op === 'tracker' && args.length >= 3) {
  const key = args[1]!;
  /**
   * A run's latencies, its warm-up notifications included (only the last `want` are reported):
   * the measured notifications run exactly the code the warm-up ran, without a branch first
   * taken at the first measured one, and record into preallocated memory, as the CPG client
   * does (bench/README.md items 18 and 40). Between runs (`n` = length) notifications are
   * ignored.
   */
  let lat = new Float64Array(0);
  let n = 0;
  let skip = 0;
  const notify = (_h: CmapHandle, _th: bigint, _ev: number, _key: string, nv: CmapNotifyValue): void => {
    const t = nowNs();
    if (nv.type !== CmapValueType.UINT64 || nv.len !== 8 || n >= lat.length) return;
    lat[n++] = Number(t - readBigUInt64LE(nv.data, 0)) / 1000;
    if (n === lat.length) {
      const measured = Array.from(lat.subarray(skip), (v) => Math.round(v * 1000) / 1000);
      out({ ev: 'done', op: 'track', n: measured.length, lat: measured });
    }
  };
  await call('cmap_track_add', () => h.trackAdd(key, CmapTrack.ADD | CmapTrack.MODIFY, notify));
  // dispatch as a cmap user would: one notification at a time, as they arrive
  void (async () => {
    try {
      for (;;) await h.dispatch(CsDispatchFlags.ONE);
    } catch (err) {
      if (!quitting) fail('cmap_dispatch', err);
    }
  })();
  out({ ev: 'tracking' });
  await commands((cmd, a, b) => {
    if (cmd !== 'run') return false;
    skip = b;
    lat = new Float64Array(a + b);
    n = 0;
    out({ ev: 'armed' });
    return true;
  });
} else if (op === 'setter' && args.length >= 3) {
  const key = args[1]!;
  let chain = Promise.resolve();
  await commands((cmd, count, intervalArg) => {
    if (cmd !== 'run') return false;
    const intervalUs = BigInt(intervalArg);
    chain = chain.then(async () => {
      const t0 = nowNs();
      for (let i = 0; i < count; i++) {
        const due = t0 + BigInt(i) * intervalUs * 1000n;
        const wait = Number(due - nowNs()) / 1e6;
        if (wait > 0) await sleep(wait);
        await call('cmap_set_uint64', () => h.setUint64(key, nowNs()));
      }
      out({ ev: 'result', op, n: count, t0: us(t0), t1: us(nowNs()) });
    });
    return true;
  });
  await chain;
} else {
  fail('bad arguments', args.join(' '));
}
await h.finalize().catch(() => undefined);
process.exit(0);
