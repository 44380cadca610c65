/**
 * Seed runner for the deterministic simulator.
 *
 *   node dist/test/sim/run.js --seeds 200 [--nodes 4] [--from 1000]
 *   node dist/test/sim/run.js --seed 1234 [--nodes 4] --trace [--trace-from MS] [--trace-to MS]
 *   node dist/test/sim/run.js --cpg --seeds 50 [--nodes 3] [--fault-ms 8000]   (CPG on top: cpg-sim.ts)
 *   node dist/test/sim/run.js --cpg --corrupt 0.05 --seeds 50   (Byzantine deliveries: corruptDeliveries)
 *
 * Exit code 1 when any seed fails; every failure prints its seed, the drawn fault mix, the
 * violations and (re-run with tracing) the event trace before the first violation.
 */
import { formatCpgFailure, runCpgSeed } from './cpg-sim.js';
import { formatFailure, runSeed, type SimOptions } from './sim.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const nodesArg = arg('nodes');
const opts: SimOptions = nodesArg ? { nodes: Number(nodesArg) } : {};
const traceFromArg = arg('trace-from');
const traceToArg = arg('trace-to');
const healJitterArg = arg('heal-jitter');
if (healJitterArg !== undefined) opts.healJitter = Number(healJitterArg);
const traceWindow = {
  ...(traceFromArg ? { traceFrom: Number(traceFromArg) } : {}),
  ...(traceToArg ? { traceTo: Number(traceToArg) } : {}),
};
const single = arg('seed');
const trace = process.argv.includes('--trace');
const seeds: number[] = single
  ? [Number(single)]
  : Array.from({ length: Number(arg('seeds') ?? 50) }, (_, i) => Number(arg('from') ?? 1) + i);

if (process.argv.includes('--cpg')) {
  runCpg();
} else {
  runTotem();
}

/** `--cpg`: the simulator with totempg, exec/sync, the CPG service and CPG clients per node. */
function runCpg(): void {
  const faultArg = arg('fault-ms');
  const corruptArg = arg('corrupt');
  const cpgOpts = {
    ...opts,
    ...(faultArg ? { faultMs: Number(faultArg) } : {}),
    ...(corruptArg ? { corruptDeliveries: Number(corruptArg) } : {}),
  };
  let failed = 0;
  let sent = 0;
  let delivered = 0;
  const t0 = process.hrtime.bigint();
  for (const seed of seeds) {
    const ts = process.hrtime.bigint();
    const r = runCpgSeed(seed, { ...cpgOpts, trace: trace && single !== undefined });
    sent += r.cpg.sent;
    delivered += r.cpg.delivered;
    if (process.argv.includes('--progress') || single !== undefined) {
      const took = Number(process.hrtime.bigint() - ts) / 1e6;
      console.log(
        `seed ${seed} ${r.ok ? 'ok' : 'FAIL'} ${took.toFixed(0)}ms | ${r.mix} | events=${r.events} ` +
          `cpg lives=${r.cpg.lives} sent=${r.cpg.sent} delivered=${r.cpg.delivered} confchgs=${r.cpg.confchgs} ` +
          `totem-lost=${r.cpg.straddled}`,
      );
    }
    if (single !== undefined) {
      for (const s of r.script) console.log(`  ${s}`);
      if (trace) for (const l of r.trace) console.log(l);
    }
    if (!r.ok) {
      failed++;
      console.log(formatCpgFailure(r, runCpgSeed(seed, { ...cpgOpts, trace: true })));
    }
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(
    `${seeds.length} cpg seeds, ${failed} failed, ${sent} messages sent, ${delivered} deliveries, ${(ms / 1000).toFixed(1)}s`,
  );
  process.exitCode = failed ? 1 : 0;
}

function runTotem(): void {
  let failed = 0;
  const totals: Record<string, number> = {};
  let events = 0;
  let delivered = 0;
  const t0 = process.hrtime.bigint();
  for (const seed of seeds) {
    const ts = process.hrtime.bigint();
    const r = runSeed(seed, { ...opts, ...traceWindow, trace: trace && single !== undefined });
    if (process.argv.includes('--progress')) {
      const took = Number(process.hrtime.bigint() - ts) / 1e6;
      console.error(`seed ${seed} ${r.ok ? 'ok' : 'FAIL'} ${r.events} events ${took.toFixed(0)}ms`);
    }
    events += r.events;
    for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v;
    delivered += r.delivered;
    if (single !== undefined) {
      console.log(`seed ${seed}: ${r.ok ? 'ok' : 'FAIL'} | ${r.mix}`);
      console.log(
        `  events=${r.events} sent=${r.sent} delivered=${r.delivered} rings=${r.rings} virtual=${r.virtualMs}ms`,
      );
      for (const s of r.script) console.log(`  ${s}`);
      if (trace) for (const l of r.trace) console.log(l);
    }
    if (!r.ok) {
      failed++;
      const traced = r.trace.length ? r : runSeed(seed, { ...opts, trace: true });
      console.log(formatFailure(r, traced));
    }
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(
    `${seeds.length} seeds, ${failed} failed, ${events} events, ${delivered} deliveries, ${(ms / 1000).toFixed(1)}s`,
  );
  const keys = [
    'operational_entered',
    'gather_entered',
    'recovery_entered',
    'operational_token_lost',
    'consensus_timeouts',
    'mcast_retx',
    'token_hold_cancel_tx',
    'memb_merge_detect_tx',
    'rx_msg_dropped',
    'encapsulated_sent',
  ];
  console.log(`totals: ${keys.map((k) => `${k}=${totals[k] ?? 0}`).join(' ')}`);
  process.exitCode = failed ? 1 : 0;
}
