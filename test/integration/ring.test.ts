/**
 * Several corosync-ts processes on loopback form one ring (udpu): runtime.members.* on every
 * node, a killed node is noticed within token + consensus, a restarted node rejoins.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CmapHandle } from '../../src/client/index.js';
import {
  startDaemonProcess,
  uniqueLoopbackAddr,
  waitFor,
  type DaemonProcess,
} from '../helpers/daemon-process.js';

const TOKEN = 1000;
const N = 3;
// token grows by token_coefficient (650) per node above 2; consensus = 1.2 × token
const EFFECTIVE_TOKEN = TOKEN + (N - 2) * 650;
const CONSENSUS = Math.trunc(1.2 * EFFECTIVE_TOKEN);

function ringConfig(addrs: string[]): string {
  const nodes = addrs.map((a, i) => `  node {\n    nodeid: ${i + 1}\n    ring0_addr: ${a}\n  }\n`).join('');
  return `totem {
  version: 2
  cluster_name: looptest
  transport: udpu
  token: ${TOKEN}
}
logging {
  to_stderr: yes
  to_syslog: no
  timestamp: hires
}
nodelist {
${nodes}}
`;
}

async function statuses(d: DaemonProcess): Promise<Record<number, string>> {
  const h = await CmapHandle.initialize(0, { runDir: d.runDir });
  try {
    const out: Record<number, string> = {};
    for await (const e of h.iter('runtime.members.')) {
      const m = /^runtime\.members\.(\d+)\.status$/.exec(e.key);
      if (m) out[Number(m[1])] = await h.getString(e.key);
    }
    return out;
  } finally {
    await h.finalize();
  }
}

async function allSee(ds: DaemonProcess[], expected: Record<number, string>, what: string, ms: number) {
  await waitFor(
    async () => {
      for (const d of ds) {
        const s = await statuses(d).catch(() => ({}) as Record<number, string>);
        for (const [id, st] of Object.entries(expected)) if (s[Number(id)] !== st) return false;
      }
      return true;
    },
    what,
    ms,
  );
}

describe(`${N} corosync-ts processes on loopback`, () => {
  const addrs = Array.from({ length: N }, () => uniqueLoopbackAddr());
  const config = ringConfig(addrs);
  const nodes: DaemonProcess[] = [];

  before(async () => {
    for (let i = 1; i <= N; i++) {
      nodes.push(await startDaemonProcess({ configText: config, args: ['--nodeid', String(i)] }));
    }
  });

  after(async () => {
    for (const d of nodes) await d.stop();
  });

  test('form one ring seen by every node', { timeout: 30_000 }, async () => {
    await allSee(nodes, { 1: 'joined', 2: 'joined', 3: 'joined' }, 'one ring of all nodes', 15_000);
    const h = await CmapHandle.initialize(1, { runDir: nodes[0]!.runDir });
    try {
      assert.ok((await h.getUint64('stats.srp.orf_token_rx')) > 0n, 'the token circulates');
      assert.equal((await h.getUint64('stats.srp.operational_entered')) >= 1n, true);
      // the 1.5 s averages: the token rotates, so its mean rotation time becomes positive
      await waitFor(
        async () => (await h.getUint32('stats.srp.mtt_rx_token')) > 0,
        'mtt_rx_token > 0',
        10_000,
      );
      assert.equal(await h.getUint8('stats.srp.firewall_enabled_or_nic_failure'), 0);
    } finally {
      await h.finalize();
    }
  });

  test(
    'a killed node is noticed within token + consensus; it rejoins after restart',
    { timeout: 60_000 },
    async () => {
      const victim = nodes[2]!;
      const started = Date.now();
      victim.child.kill('SIGKILL');
      await victim.exited;
      const survivors = nodes.slice(0, 2);
      await allSee(survivors, { 3: 'left' }, 'node 3 left', 20_000);
      const detection = Date.now() - started;
      // the bound corosync gives: token loss after `token`, then `consensus` to agree (plus join/scheduling slack)
      assert.ok(detection < EFFECTIVE_TOKEN + CONSENSUS + 2000, `detection took ${detection} ms`);
      console.log(`# failure detection: ${detection} ms (token ${EFFECTIVE_TOKEN} + consensus ${CONSENSUS})`);

      const again = await startDaemonProcess({ configText: config, args: ['--nodeid', '3'] });
      nodes[2] = again;
      await allSee(nodes, { 1: 'joined', 2: 'joined', 3: 'joined' }, 'node 3 back in the ring', 20_000);
      const h = await CmapHandle.initialize(0, { runDir: nodes[0]!.runDir });
      try {
        assert.equal(await h.getUint32('runtime.members.3.join_count'), 2);
      } finally {
        await h.finalize();
      }
    },
  );

  test(
    "a node stopped past token / 2 reports corosync's process pause and flushes what queued up; the ring forms again",
    { timeout: 60_000 },
    async () => {
      const paused = nodes[2]!;
      const logBefore = paused.stderr().length;
      paused.child.kill('SIGSTOP');
      try {
        // the others notice, form a ring of two and keep sending joins and merge-detects that
        // queue up in the stopped node's socket
        await allSee(nodes.slice(0, 2), { 3: 'left' }, 'node 3 left', 20_000);
      } finally {
        paused.child.kill('SIGCONT');
      }
      await waitFor(
        () =>
          /Process pause detected for \d+ ms, flushing membership messages\./.test(
            paused.stderr().slice(logBefore),
          ),
        "node 3's pause notice",
        10_000,
      );
      const ms = Number(/Process pause detected for (\d+) ms/.exec(paused.stderr().slice(logBefore))![1]);
      assert.ok(ms > EFFECTIVE_TOKEN / 2, `a pause of ${ms} ms`);
      await allSee(nodes, { 1: 'joined', 2: 'joined', 3: 'joined' }, 'node 3 back in the ring', 20_000);
    },
  );
});
