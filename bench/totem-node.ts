/**
 * One totem node for the totem throughput bench (a child process of bench/totem-throughput.ts):
 * the daemon's totem stack (SRP + totempg + udpu transport) without services, joined to group
 * "bench". Talks to the driver over the IPC channel: reports when the ring has every node,
 * sends `count` messages of `size` bytes when told, reports when it delivered `expect` messages.
 */
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Icmap } from '../src/cmap/icmap.js';
import { StatsMap } from '../src/cmap/stats.js';
import { buildStartupMap, parseConfigText } from '../src/config/index.js';
import { TotemRuntime } from '../src/daemon/totem-runtime.js';
import { CsErrorCode } from '../src/common/errors.js';
import { createTransport } from '../src/transport/index.js';

const [configText, nodeIdArg, nodesArg] = [process.env.BENCH_CONFIG!, process.argv[2]!, process.argv[3]!];
const nodeId = Number(nodeIdArg);
const nodes = Number(nodesArg);
const startup = buildStartupMap(parseConfigText(configText, 'bench.conf'), {
  hostname: 'bench',
  localAddresses: ['127.0.0.1'],
  localNodeIdOverride: nodeId,
});
const quiet = {
  error: () => {},
  warn: () => {},
  notice: () => {},
  info: () => {},
  debug: () => {},
  trace: () => {},
};
const icmap = new Icmap();
const stateDir = mkdtempSync(join(tmpdir(), 'cts-bench-'));
process.once('exit', () => rmSync(stateDir, { recursive: true, force: true }));
const runtime = new TotemRuntime({
  totem: startup.totem,
  icmap,
  stats: new StatsMap(),
  logger: quiet,
  stateDir,
  transport: createTransport(startup.totem),
  onConfchg: (c) => {
    if (c.type !== 'regular') return;
    runtime.srp.transAck();
    if (c.members.length === nodes) process.send!({ kind: 'ring' });
  },
  onUpcall: (u) => {
    if (u.kind !== 'deliver') return;
    delivered++;
    bytes += u.message.length;
    if (delivered === expect)
      process.send!({ kind: 'done', delivered, bytes, at: performance.now() + performance.timeOrigin });
  },
});
const instance = runtime.pg.createInstance({ label: 'bench' });
runtime.pg.joinGroup('bench', instance);
let delivered = 0;
let bytes = 0;
let expect = -1;

function sendAll(count: number, size: number): void {
  const payload = Buffer.alloc(size, nodeId);
  let sent = 0;
  const step = () => {
    while (sent < count) {
      if (runtime.mcastGroups(['bench'], payload) !== CsErrorCode.CS_OK) {
        setImmediate(step); // queue full: let tokens drain it
        return;
      }
      sent++;
    }
  };
  step();
}

process.on('message', (m: { kind: string; count?: number; size?: number; expect?: number }) => {
  if (m.kind === 'expect') {
    delivered = 0;
    bytes = 0;
    expect = m.expect!;
    process.send!({ kind: 'ready' });
  } else if (m.kind === 'send') sendAll(m.count!, m.size!);
  else if (m.kind === 'stop') void runtime.stop().then(() => process.exit(0));
});

// the driver is gone (e.g. Ctrl-C): do not linger
process.on('disconnect', () => process.exit(0));

await runtime.start();
