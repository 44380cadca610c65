/**
 * CPG benchmark client on our TypeScript libcpg (src/client/cpg.ts), used by bench/run.ts on
 * our daemons. Same protocol, message header and output as bench/c/cpg-bench.c (see there):
 *
 *   node dist/bench/cpg-bench-client.js <group> <label> <run-dir>
 *
 * Times are process.hrtime (CLOCK_MONOTONIC) in microseconds, as in the C client.
 */
import { Buffer } from 'node:buffer';
import { createInterface } from 'node:readline';
import { CsError, CsErrorCode } from '../src/common/errors.js';
import {
  CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
  CpgGuarantee,
  CpgHandle,
  CpgModel,
} from '../src/client/cpg.js';
import { readBigUInt64LE, readUInt32LE, writeBigUInt64LE, writeUInt32LE } from '../src/common/bytes.js';

const MAGIC = 0x43424e43;
const FLAG_LATENCY = 1;
const HDR = 32;

const [group = 'bench', , runDir] = process.argv.slice(2);

const nowNs = (): bigint => process.hrtime.bigint();
/** A plain timer: node:timers/promises' setTimeout adds abort-signal and async-hook layers. */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const us = (ns: bigint): number => Number(ns / 1000n) + Number(ns % 1000n) / 1000;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

let curRun = -1;
let got = 0;
let gotBytes = 0;
let startNs = 0n;
let firstNs = 0n;
let lastNs = 0n;
/**
 * Every message's latency, recorded for every run (reported for latency runs only): the
 * throughput runs before the latency runs then warm up exactly the code the latency runs use.
 * A branch first taken in a latency run deoptimises the code that runs it (this callback, or
 * the library function it was inlined into), and at 100 messages a second V8 takes longer than
 * a run to optimise it again (bench/README.md item 18).
 */
let lat = new Float64Array(0);
let latN = 0;
let latRun = false;

function onDeliver(msg: Buffer): void {
  const t = nowNs();
  if (msg.length < HDR || readUInt32LE(msg, 0) !== MAGIC) return;
  const run = readUInt32LE(msg, 4);
  const total = readUInt32LE(msg, 12);
  const flags = readUInt32LE(msg, 16);
  const sendNs = readBigUInt64LE(msg, 24);
  if (run !== curRun) {
    curRun = run;
    got = 0;
    gotBytes = 0;
    lat = new Float64Array(total);
    latN = 0;
    latRun = (flags & FLAG_LATENCY) !== 0;
    startNs = sendNs;
    firstNs = t;
  }
  if (sendNs < startNs) startNs = sendNs; // several senders: the earliest send of the run
  got++;
  gotBytes += msg.length;
  lastNs = t;
  // µs with the nanoseconds as decimals, one BigInt subtraction: every client runs this right
  // after its stamp, and its CPU delays the other clients' wake-ups
  if (latN < lat.length) lat[latN++] = Number(t - sendNs) / 1000;
  if (got === total) done(run);
}

/**
 * A latency run's "done" (and the sender's "sent") is printed this long after the run's last
 * message, as by the C client (REPORT_DELAY_NS there): the bench's process wakes up to read
 * every line, and a report printed at once woke it while the other clients were still
 * receiving that message.
 */
const REPORT_DELAY_MS = 20;

/** The run's report (a latency run's REPORT_DELAY_MS later); `lat` only for a latency run, as the C client's. */
function done(run: number): void {
  if (latRun) setTimeout(printDone, REPORT_DELAY_MS, run);
  else printDone(run);
}

function printDone(run: number): void {
  const report: Record<string, unknown> = {
    ev: 'done',
    run,
    n: got,
    bytes: gotBytes,
    start: us(startNs),
    first: us(firstNs),
    last: us(lastNs),
  };
  if (latRun) report.lat = Array.from(lat.subarray(0, latN), (v) => Math.round(v * 1000) / 1000);
  out(report);
}

function fail(what: string, err: unknown): never {
  out({ ev: 'error', what, code: err instanceof CsError ? err.code : String(err) });
  process.exit(2);
}

async function connect(): Promise<CpgHandle> {
  for (;;) {
    let h: CpgHandle | undefined;
    try {
      h = await CpgHandle.modelInitialize(
        CpgModel.V1,
        {
          flags: CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
          deliver: (_h, _g, _nodeid, _pid, msg) => onDeliver(msg),
          confchg: (_h, _g, members, left, joined) =>
            out({
              ev: 'confchg',
              members: members.length,
              left: left.map((a) => [a.nodeid, a.pid, a.reason]),
              joined: joined.map((a) => [a.nodeid, a.pid, a.reason]),
              t: us(nowNs()),
            }),
          totemConfchg: (_h, _ring, members) => out({ ev: 'totem', members: [...members], t: us(nowNs()) }),
        },
        undefined,
        runDir ? { runDir } : {},
      );
      await h.join(group);
      return h;
    } catch (err) {
      // before our daemon's first sync, connections are refused with CS_ERR_TRY_AGAIN
      if (!CsError.is(err, CsErrorCode.CS_ERR_TRY_AGAIN)) fail('cpg_join', err);
      await h?.finalize().catch(() => undefined);
      await sleep(10);
    }
  }
}

const handle = await connect();
out({ ev: 'ready', nodeid: await handle.localGet(), pid: handle.localPid, t: us(nowNs()) });

/** Set when this client finalizes its handle: the blocking dispatch then ends with CS_ERR_BAD_HANDLE. */
let finalizing = false;

void (async () => {
  try {
    await handle.dispatch(3 /* CS_DISPATCH_BLOCKING */);
  } catch (err) {
    if (finalizing && CsError.is(err, CsErrorCode.CS_ERR_BAD_HANDLE)) return;
    fail('cpg_dispatch', err);
  }
})();

/**
 * One "send" command. The message loop is a function of its own, so that what follows it (the
 * report, and a latency run's delay before it, first taken at the end of the first paced
 * warm-up run) is not code of the optimised loop: reached there for the first time, it
 * deoptimised the loop, whose reoptimisation then came during the measured runs, one message
 * every 10 ms (V8's compiler thread took 16 ms of a CPU for it; bench/README.md item 42).
 */
async function sendRun(
  run: number,
  count: number,
  size: number,
  intervalUs: number,
  total: number,
): Promise<void> {
  const buf = Buffer.alloc(Math.max(size, HDR), 'x');
  writeUInt32LE(buf, MAGIC, 0);
  writeUInt32LE(buf, run, 4);
  writeUInt32LE(buf, total, 12);
  writeUInt32LE(buf, intervalUs ? FLAG_LATENCY : 0, 16);
  writeUInt32LE(buf, 0, 20);
  const t0 = nowNs();
  const t1 = await sendMessages(buf, count, intervalUs, t0);
  if (intervalUs) await sleep(REPORT_DELAY_MS);
  out({ ev: 'sent', run, n: count, t0: us(t0), t1: us(t1) });
}

/** Send `count` copies of `buf` (numbered, time-stamped), paced from `t0` if `intervalUs`; returns when the last was handed over. */
async function sendMessages(buf: Buffer, count: number, intervalUs: number, t0: bigint): Promise<bigint> {
  for (let i = 0; i < count; i++) {
    if (intervalUs) {
      const due = t0 + BigInt(i) * BigInt(intervalUs) * 1000n;
      const wait = Number(due - nowNs()) / 1e6;
      if (wait > 0) await sleep(wait);
    }
    // a fresh buffer per message: the library may still hold the previous one unsent
    const msg = Buffer.from(buf);
    writeUInt32LE(msg, i + 1, 8);
    writeBigUInt64LE(msg, nowNs(), 24);
    try {
      await handle.send(CpgGuarantee.AGREED, msg);
    } catch (err) {
      fail('cpg_mcast_joined', err);
    }
  }
  return nowNs();
}

let chain: Promise<void> = Promise.resolve();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const m = /^send (\d+) (\d+) (\d+) (\d+)(?: (\d+))?$/.exec(line.trim());
    if (m) {
      const [run, count, size, interval] = m.slice(1, 5).map(Number) as [number, number, number, number];
      const total = m[5] === undefined ? count : Number(m[5]);
      chain = chain.then(() => sendRun(run, count, size, interval, total));
    } else if (line.startsWith('stat')) {
      out({
        ev: 'stat',
        run: curRun,
        n: got,
        bytes: gotBytes,
        start: us(startNs),
        first: us(firstNs),
        last: us(lastNs),
      });
    } else if (line.startsWith('quit')) {
      void chain.then(async () => {
        finalizing = true;
        await handle.finalize().catch(() => undefined);
        out({ ev: 'bye' });
        process.exit(0);
      });
    } else if (line.trim() !== '') fail('unknown command', line);
  })
  .on('close', () => {
    finalizing = true;
    void handle.finalize().finally(() => process.exit(0));
  });
