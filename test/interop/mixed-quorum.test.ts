/**
 * votequorum in a mixed ring: two real corosync 3.1.7 daemons and our node 3 (udpu, crypto
 * none, corosync_votequorum), each in its own network namespace on one bridge. The real
 * `corosync-quorumtool -s` on a real node and our `corosync-ts quorumtool -s` must report the
 * same nodes, votes, expected votes, quorum, flags, ring id and membership (the Date line,
 * Node ID and the "(local)" marker differ legitimately), before and after a real node dies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NetnsBridge } from '../helpers/netns-bridge.js';
import {
  ourRunDir,
  realCorosyncAvailable,
  startOurDaemon,
  startRealCorosync,
  type RealCorosync,
  udpuClusterConfig,
} from '../helpers/real-corosync.js';
import { runCli, waitFor } from '../helpers/daemon-process.js';

const NET = '10.253.0';

const CONFIG = udpuClusterConfig({
  clusterName: 'mixedq',
  addrs: [1, 2, 3].map((i) => `${NET}.${i}`),
  totemExtra: '  token: 1000\n',
});

/** The comparable fields of `quorumtool -s`. */
interface Status {
  rc: number | null;
  provider: string;
  nodes: string;
  ring: string;
  quorate: string;
  expected: string;
  highest: string;
  total: string;
  quorum: string;
  flags: string;
  members: string[];
}

function field(text: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'm').exec(text);
  return m ? m[1]! : `<no ${name}>`;
}

function parseStatus(rc: number | null, text: string): Status {
  const table = text.split('Membership information')[1] ?? '';
  return {
    rc,
    provider: field(text, 'Quorum provider'),
    nodes: field(text, 'Nodes'),
    ring: field(text, 'Ring ID'),
    quorate: field(text, 'Quorate'),
    expected: field(text, 'Expected votes'),
    highest: field(text, 'Highest expected'),
    total: field(text, 'Total votes'),
    quorum: field(text, 'Quorum').replace(/\s+/g, ' '),
    flags: field(text, 'Flags'),
    members: table
      .split('\n')
      .filter((l) => /^\s+\d+\s+\d+\s/.test(l))
      .map((l) =>
        l
          .replace(/\s*\(local\)\s*$/, '')
          .trim()
          .replace(/\s+/g, ' '),
      ),
  };
}

async function realStatus(inst: RealCorosync): Promise<Status> {
  const r = await inst.exec('corosync-quorumtool', ['-s']);
  return parseStatus(r.code, r.stdout);
}

async function ourStatus(inst: RealCorosync): Promise<Status> {
  const r = await runCli(['quorumtool', '-s'], { COROSYNC_TS_RUN_DIR: ourRunDir(inst) });
  return parseStatus(r.code, r.stdout);
}

const avail = realCorosyncAvailable();
if (!avail.ok) console.log(`# skipping mixed votequorum with real corosync: ${avail.reason}`);

describe(
  'votequorum: real corosync-quorumtool and ours agree in a mixed ring',
  { skip: avail.ok ? false : avail.reason },
  () => {
    let bridge: NetnsBridge;
    const nodes: RealCorosync[] = [];
    const dump = () => nodes.map((n) => `---- ${n.ns}\n${n.output().slice(-3000)}`).join('\n');

    before(async () => {
      bridge = NetnsBridge.create('mqu');
      for (const id of [1, 2]) {
        nodes.push(
          await startRealCorosync({
            configText: CONFIG,
            hostname: `node${id}`,
            name: `mqur${id}`,
            attach: (ns) => bridge.attach(ns, `${NET}.${id}/24`),
          }),
        );
      }
      nodes.push(
        await startOurDaemon({
          configText: CONFIG,
          hostname: 'node3',
          name: 'mquours',
          attach: (ns) => bridge.attach(ns, `${NET}.3/24`),
        }),
      );
    });

    after(async () => {
      for (const n of nodes) await n.stop();
      bridge?.destroy();
    });

    /** Wait until both tools report `nodes` members, then check they agree field by field. */
    async function agree(real: RealCorosync, ours: RealCorosync, nodeCount: number): Promise<Status> {
      let r: Status | undefined;
      let o: Status | undefined;
      await waitFor(
        async () => {
          r = await realStatus(real);
          o = await ourStatus(ours);
          return (
            r.nodes === String(nodeCount) &&
            o.nodes === String(nodeCount) &&
            JSON.stringify(r) === JSON.stringify(o)
          );
        },
        `both quorumtools to report ${nodeCount} nodes alike`,
        30_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nreal: ${JSON.stringify(r)}\nours: ${JSON.stringify(o)}\n${dump()}`);
      });
      assert.deepEqual(o, r);
      return r!;
    }

    test('3 nodes: same nodes, votes, expected votes, quorum and flags', { timeout: 60_000 }, async () => {
      const [real1, , ours] = nodes as [RealCorosync, RealCorosync, RealCorosync];
      const s = await agree(real1, ours, 3);
      assert.deepEqual(
        { ...s, ring: '' },
        {
          rc: 0,
          provider: 'corosync_votequorum',
          nodes: '3',
          ring: '',
          quorate: 'Yes',
          expected: '3',
          highest: '3',
          total: '3',
          quorum: '2',
          flags: 'Quorate',
          members: ['1 1 node1', '2 1 node2', '3 1 node3'],
        },
      );
    });

    test('a real node killed: both still agree (2 nodes, quorate)', { timeout: 60_000 }, async () => {
      const [real1, real2, ours] = nodes as [RealCorosync, RealCorosync, RealCorosync];
      process.kill(real2.pid, 'SIGKILL');
      const s = await agree(real1, ours, 2);
      assert.deepEqual(
        { ...s, ring: '' },
        {
          rc: 0,
          provider: 'corosync_votequorum',
          nodes: '2',
          ring: '',
          quorate: 'Yes',
          expected: '3',
          highest: '3',
          total: '2',
          quorum: '2',
          flags: 'Quorate',
          members: ['1 1 node1', '3 1 node3'],
        },
      );
    });
  },
);
