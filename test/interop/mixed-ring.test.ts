/**
 * A ring of our node and two real corosync 3.1.7 daemons (udpu, crypto none), each in its own
 * network namespace on one bridge. Real corosync-cmapctl must see our node joined, our cmapctl
 * must see theirs; after a real daemon is killed, the survivors agree on the new ring.
 * (The real daemons wait for the sync protocol, which arrives with the exec layer; the ring
 * itself is what this test checks.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NetnsBridge } from '../helpers/netns-bridge.js';
import {
  ourRunDir,
  parseCmapctlOutput,
  realCorosyncAvailable,
  startOurDaemon,
  startRealCorosync,
  type RealCorosync,
  udpuClusterConfig,
} from '../helpers/real-corosync.js';
import { runCli, waitFor } from '../helpers/daemon-process.js';

const CONFIG = udpuClusterConfig({ clusterName: 'mixed', addrs: ['10.251.0.1', '10.251.0.2', '10.251.0.3'] });

async function realMembers(inst: RealCorosync): Promise<Map<string, string>> {
  const r = await inst.exec('corosync-cmapctl', ['runtime.members.']);
  const out = new Map<string, string>();
  for (const [k, v] of parseCmapctlOutput(r.stdout)) if (k.endsWith('.status')) out.set(k, v.value);
  return out;
}

async function ourMembers(inst: RealCorosync): Promise<Map<string, string>> {
  const r = await runCli(['cmapctl', 'runtime.members.'], { COROSYNC_TS_RUN_DIR: ourRunDir(inst) });
  const out = new Map<string, string>();
  for (const [k, v] of parseCmapctlOutput(r.stdout)) if (k.endsWith('.status')) out.set(k, v.value);
  return out;
}

function status(m: Map<string, string>, id: number): string | undefined {
  return m.get(`runtime.members.${id}.status`);
}

const avail = realCorosyncAvailable();
if (!avail.ok) console.log(`# skipping mixed ring with real corosync: ${avail.reason}`);

describe(
  'a ring of our node and two real corosync 3.1.7 daemons',
  { skip: avail.ok ? false : avail.reason },
  () => {
    let bridge: NetnsBridge;
    const nodes: RealCorosync[] = [];
    const dump = () => nodes.map((n) => `---- ${n.ns}\n${n.output().slice(-3000)}`).join('\n');

    before(async () => {
      bridge = NetnsBridge.create('mix');
      for (const id of [1, 2]) {
        nodes.push(
          await startRealCorosync({
            configText: CONFIG,
            hostname: `node${id}`,
            name: `mixr${id}`,
            attach: (ns) => bridge.attach(ns, `10.251.0.${id}/24`),
          }),
        );
      }
      nodes.push(
        await startOurDaemon({
          configText: CONFIG,
          hostname: 'node3',
          name: 'mixours',
          attach: (ns) => bridge.attach(ns, '10.251.0.3/24'),
        }),
      );
    });

    after(async () => {
      for (const n of nodes) await n.stop();
      bridge?.destroy();
    });

    test('all three form one ring: each side lists the other as joined', { timeout: 60_000 }, async () => {
      const [real1, real2, ours] = nodes as [RealCorosync, RealCorosync, RealCorosync];
      await waitFor(
        async () => {
          const r1 = await realMembers(real1);
          const r2 = await realMembers(real2);
          const o = await ourMembers(ours);
          return [1, 2, 3].every(
            (id) => status(r1, id) === 'joined' && status(r2, id) === 'joined' && status(o, id) === 'joined',
          );
        },
        `one ring of 1, 2, 3 seen by every node\n${dump()}`,
        30_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${dump()}`);
      });
    });

    test('killing a real daemon: the survivors agree on the new ring', { timeout: 60_000 }, async () => {
      const [real1, real2, ours] = nodes as [RealCorosync, RealCorosync, RealCorosync];
      process.kill(real2.pid, 'SIGKILL');
      await waitFor(
        async () => {
          const r1 = await realMembers(real1);
          const o = await ourMembers(ours);
          return (
            status(r1, 2) === 'left' &&
            status(o, 2) === 'left' &&
            status(r1, 3) === 'joined' &&
            status(o, 1) === 'joined'
          );
        },
        'node 2 left on both survivors',
        30_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${dump()}`);
      });
      assert.match(ours.output(), /A new membership \(1\.[0-9a-f]+\) was formed/);
    });
  },
);
