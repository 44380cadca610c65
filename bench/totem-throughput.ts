/**
 * Totem throughput on N local processes (udpu on 127.0.0.1..N): messages/s and MB/s delivered
 * at every node through SRP + totempg, one sender or all senders. Not part of `npm test`.
 *
 *   node dist/bench/totem-throughput.js [--nodes 3] [--count 20000] [--size 1024] [--all]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const nodes = arg('nodes', 3);
const count = arg('count', 20000);
const size = arg('size', 1024);
const allSend = process.argv.includes('--all');
const base = 100 + (process.pid % 100);

const config = `totem {
  version: 2
  cluster_name: bench
  transport: udpu
}
nodelist {
${Array.from({ length: nodes }, (_, i) => `  node {\n    nodeid: ${i + 1}\n    ring0_addr: 127.0.${base}.${i + 1}\n  }\n`).join('')}}
`;

const script = fileURLToPath(new URL('./totem-node.js', import.meta.url));
const children: ChildProcess[] = [];
const waitAll = (kind: string) =>
  Promise.all(
    children.map(
      (c) =>
        new Promise<Record<string, number>>((r) => {
          const on = (m: { kind: string } & Record<string, number>) => {
            if (m.kind === kind) {
              c.off('message', on);
              r(m);
            }
          };
          c.on('message', on);
        }),
    ),
  );

for (let i = 1; i <= nodes; i++) {
  children.push(fork(script, [String(i), String(nodes)], { env: { ...process.env, BENCH_CONFIG: config } }));
}
try {
  await waitAll('ring');
  const senders = allSend ? children : children.slice(0, 1);
  const expect = count * senders.length;
  const ready = waitAll('ready');
  for (const c of children) c.send({ kind: 'expect', expect });
  await ready;
  const done = waitAll('done');
  const t0 = performance.now() + performance.timeOrigin;
  for (const c of senders) c.send({ kind: 'send', count, size });
  const results = await done;
  for (const [i, r] of results.entries()) {
    const secs = (r.at! - t0) / 1000;
    console.log(
      `node ${i + 1}: ${r.delivered} msgs of ${size} B in ${secs.toFixed(3)} s = ${(r.delivered! / secs).toFixed(0)} msg/s, ${(r.bytes! / secs / 1e6).toFixed(2)} MB/s`,
    );
  }
} finally {
  for (const c of children) c.send({ kind: 'stop' });
  await Promise.all(children.map((c) => new Promise((r) => c.on('exit', r))));
}
