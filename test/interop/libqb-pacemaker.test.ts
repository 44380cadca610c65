/**
 * Debian's unmodified Pacemaker 2.1.5 on a three-node cluster of OUR daemons (libqb IPC over
 * shared memory). Each node is one of our daemons in its own network + mount + UTS namespace
 * (test/helpers/real-corosync.ts: private /etc/corosync, /run and /dev/shm) on one bridge;
 * pacemakerd runs inside that namespace with private /var/lib/pacemaker and
 * /var/log/pacemaker bind mounts and a first CIB setting dc-deadtime=2s (a fresh cluster
 * otherwise waits 20 s before electing a DC). Pacemaker's daemons (pacemakerd as root;
 * pacemaker-based, -fenced, -attrd, -controld as hacluster) use cpg, cmap, quorum and cfg
 * through libcorosync over libqb. They are admitted by uidgid.d/pacemaker (uid hacluster, gid
 * haclient, the file Pacemaker's docs suggest; Debian 12 does not ship one) and by the
 * uidgid.gid.<haclient> key pacemakerd itself writes into cmap at start; both are checked.
 *
 * Checked: `crm_mon -1` on every node shows all three nodes online; with stonith-enabled=false
 * an ocf:pacemaker:Dummy resource created with cibadmin starts; putting its node in standby
 * (crm_attribute) moves it to another node; stopping pacemakerd on its new node moves it again.
 * Everything the test starts (pacemaker processes, namespaces, mounts, /dev/shm tmpfs) goes
 * away at the end, also on failure. Skipped with a printed reason without root, corosync 3.1.7
 * tools, the libqb addon or the pacemaker packages.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { NetnsBridge } from '../helpers/netns-bridge.js';
import {
  realCorosyncAvailable,
  startOurDaemon,
  type Availability,
  type ExecResult,
  type RealCorosync,
  udpuClusterConfig,
} from '../helpers/real-corosync.js';

const TOOLS = ['pacemakerd', 'crm_mon', 'cibadmin', 'crm_attribute', 'crm_resource'];
const DUMMY_AGENT = '/usr/lib/ocf/resource.d/pacemaker/Dummy';
const NODES = [1, 2, 3] as const;
const RSC = 'dummy1';

function available(): Availability {
  const base = realCorosyncAvailable();
  if (!base.ok) return base;
  const addon = loadQbNative();
  if (!addon.ok) return { ok: false, reason: addon.reason };
  for (const cmd of TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0)
      return {
        ok: false,
        reason: `${cmd} not found in PATH (apt-get install pacemaker pacemaker-cli-utils pacemaker-resource-agents)`,
      };
  }
  if (!fs.existsSync(DUMMY_AGENT))
    return { ok: false, reason: `${DUMMY_AGENT} missing (apt-get install pacemaker-resource-agents)` };
  const v = spawnSync('pacemakerd', ['--version'], { encoding: 'utf8' });
  if (!/Pacemaker 2\.1\./.test(v.stdout ?? ''))
    return { ok: false, reason: `pacemakerd is not 2.1.x: ${(v.stdout ?? '').split('\n')[0]}` };
  for (const name of ['hacluster', 'haclient']) {
    const r = spawnSync('getent', [name === 'hacluster' ? 'passwd' : 'group', name], { encoding: 'utf8' });
    if (r.status !== 0) return { ok: false, reason: `no ${name} user/group (pacemaker package)` };
  }
  return { ok: true, reason: '' };
}

const avail = available();
if (!avail.ok) console.log(`# skipping Pacemaker on corosync-ts: ${avail.reason}`);

const SUBNET = `10.247.${process.pid % 250}`;

function config(): string {
  return udpuClusterConfig({ clusterName: 'qbpcmk', addrs: NODES.map((id) => `${SUBNET}.${id}`) });
}

/** /etc/corosync/uidgid.d/pacemaker: lets Pacemaker's daemons (user hacluster, group haclient) in. */
const UIDGID = 'uidgid {\n  uid: hacluster\n  gid: haclient\n}\n';

const INITIAL_CIB = `<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
`;

const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

function idOf(db: 'passwd' | 'group', name: string): number {
  const r = spawnSync('getent', [db, name], { encoding: 'utf8' });
  return Number((r.stdout ?? '').split(':')[2]);
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** The mount-namespace identity of a process ("mnt:[4026…]"), or '' when it is gone. */
function mntNs(pid: number): string {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return '';
  }
}

/** Pids of every process in mount namespace `ns` (all were started by this test). */
function pidsInMntNs(ns: string): number[] {
  const out: number[] = [];
  if (ns === '') return out;
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid !== process.pid && mntNs(pid) === ns) out.push(pid);
  }
  return out;
}

/** Whether the Dummy agent's state file (HA_VARRUN=/run, private per node) exists on `n`. */
async function hasStateFile(n: PcmkNode): Promise<boolean> {
  return (await n.exec('test', ['-e', `/run/Dummy-${RSC}.state`])).code === 0;
}

/** One cluster node: our daemon plus pacemakerd in the same namespaces. */
class PcmkNode {
  inst: RealCorosync | undefined;
  private pcmk: ChildProcess | undefined;
  private pcmkOut = '';
  private ns = '';

  constructor(readonly id: number) {}

  /** If the test process exits without destroy(): kill what is left in the namespace. */
  private readonly onExit = (): void => this.killRest();

  /** SIGKILL every process in this node's mount namespace except our daemon, by pid. */
  private killRest(): void {
    const daemon = this.inst?.pid ?? -1;
    for (const pid of pidsInMntNs(this.ns)) {
      if (pid === daemon) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  get name(): string {
    return `node${this.id}`;
  }

  async start(bridge: NetnsBridge): Promise<void> {
    this.inst = await startOurDaemon({
      configText: config(),
      name: `pcmk${this.id}`,
      hostname: this.name,
      files: { 'uidgid.d/pacemaker': UIDGID },
      attach: (ns) => bridge.attach(ns, `${SUBNET}.${this.id}/24`),
    });
    this.ns = mntNs(this.inst.pid);
    // Never sweep the test's own mount namespace (the daemon always runs in a private one).
    if (this.ns === mntNs(process.pid))
      throw new Error(`${this.name}: the daemon shares our mount namespace`);
    process.once('exit', this.onExit);
    // Private state and log directories for pacemaker, owned as the package makes them.
    const uid = idOf('passwd', 'hacluster');
    const gid = idOf('group', 'haclient');
    const lib = path.join(this.inst.dir, 'pcmk-lib');
    const log = path.join(this.inst.dir, 'pcmk-log');
    for (const d of [lib, ...['cib', 'pengine', 'blackbox', 'cores'].map((s) => path.join(lib, s)), log]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o770 });
      fs.chownSync(d, uid, gid);
    }
    // A first CIB with a short dc-deadtime: a fresh cluster otherwise waits the default 20 s
    // for a DC before its first election. (stonith-enabled is set by the test with crm_attribute.)
    const cib = path.join(lib, 'cib', 'cib.xml');
    fs.writeFileSync(cib, INITIAL_CIB, { mode: 0o600 });
    fs.chownSync(cib, uid, gid);
    const r = await this.inst.exec('sh', [
      '-c',
      `mount --bind ${q(lib)} /var/lib/pacemaker && mount --bind ${q(log)} /var/log/pacemaker`,
    ]);
    assert.equal(r.code, 0, `bind mounts for pacemaker failed: ${r.stderr}`);
  }

  startPacemaker(): void {
    const inst = this.inst!;
    this.pcmkOut = '';
    this.pcmk = spawn('nsenter', ['-t', String(inst.pid), '-m', '-n', '-u', '--', 'pacemakerd'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PCMK_logfile: '/var/log/pacemaker/pacemaker.log',
        PCMK_logfacility: 'none',
        PCMK_logpriority: 'info',
      },
    });
    this.pcmk.stdout!.on('data', (d: Buffer) => (this.pcmkOut += d.toString()));
    this.pcmk.stderr!.on('data', (d: Buffer) => (this.pcmkOut += d.toString()));
  }

  pacemakerRunning(): boolean {
    return this.pcmk !== undefined && !exited(this.pcmk);
  }

  /** SIGTERM pacemakerd and wait for its orderly shutdown (it stops its resources first). */
  async stopPacemaker(ms: number): Promise<boolean> {
    if (!this.pcmk || exited(this.pcmk)) return true;
    this.pcmk.kill('SIGTERM');
    return waitExit(this.pcmk, ms);
  }

  exec(cmd: string, args: string[], ms = 15_000): Promise<ExecResult> {
    return this.inst!.exec(cmd, args, ms);
  }

  /** The tail of pacemaker's log and corosync-ts's output. */
  dump(): string {
    let log = '';
    try {
      log = fs.readFileSync(path.join(this.inst?.dir ?? '/nonexistent', 'pcmk-log', 'pacemaker.log'), 'utf8');
    } catch {
      /* not written yet */
    }
    const lines = log.split('\n');
    return [
      `---- ${this.name}: pacemakerd output\n${this.pcmkOut.slice(-2000)}`,
      `---- ${this.name}: pacemaker.log (last 60 lines)\n${lines.slice(-60).join('\n')}`,
      `---- ${this.name}: corosync-ts\n${this.inst?.output().slice(-2000) ?? ''}`,
    ].join('\n');
  }

  /** Warning and error lines of pacemaker's log (for debugging). */
  problems(): string {
    let log = '';
    try {
      log = fs.readFileSync(path.join(this.inst?.dir ?? '/nonexistent', 'pcmk-log', 'pacemaker.log'), 'utf8');
    } catch {
      /* not written */
    }
    const bad = log.split('\n').filter((l) => /\t(warning|error|crit):/.test(l));
    return `---- ${this.name}: ${bad.length} warning/error lines\n${bad.join('\n')}`;
  }

  /** Stop pacemaker (orderly if it can), kill whatever is left in the namespace, stop the daemon. */
  async destroy(): Promise<void> {
    if (this.pcmk && !exited(this.pcmk)) {
      if (!(await this.stopPacemaker(10_000))) this.pcmk.kill('SIGKILL');
      await waitExit(this.pcmk, 5000);
    }
    // Pacemaker's children (and agents) are not our children: end every process that is still
    // in this node's mount namespace except the daemon.
    process.removeListener('exit', this.onExit);
    this.killRest();
    const daemon = this.inst?.pid ?? -1;
    const deadline = Date.now() + 5000;
    while (pidsInMntNs(this.ns).some((p) => p !== daemon) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await this.inst?.stop();
  }
}

async function poll(
  check: () => Promise<boolean>,
  what: string,
  ms: number,
  dump: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${dump()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function must(r: ExecResult, what: string): ExecResult {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  return r;
}

/** "Online: [ node1 node2 node3 ]" of crm_mon -1 (names sorted), or [] when absent. */
function onlineNodes(crmMon: string): string[] {
  const m = /^\s*\* Online: \[ ([^\]]*) \]/m.exec(crmMon) ?? /^Online: \[ ([^\]]*) \]/m.exec(crmMon);
  return m ? (m[1] as string).trim().split(/\s+/).sort() : [];
}

/** The node running `rsc` according to crm_mon -1 ("* dummy1 (ocf:pacemaker:Dummy): Started node2"). */
function startedOn(crmMon: string, rsc: string): string | undefined {
  const m = new RegExp(`${rsc}\\s+\\(ocf:pacemaker:Dummy\\):\\s+Started (\\S+)`).exec(crmMon);
  return m?.[1];
}

describe(
  'Pacemaker 2.1.5 on a three-node corosync-ts cluster (libqb over shm)',
  { skip: avail.ok ? false : avail.reason },
  () => {
    let bridge: NetnsBridge | undefined;
    const nodes = NODES.map((id) => new PcmkNode(id));
    const dump = (): string => nodes.map((n) => n.dump()).join('\n');
    const crmMon = async (n: PcmkNode): Promise<string> => {
      const r = await n.exec('crm_mon', ['-1', '-r'], 5000);
      return r.code === 0 ? r.stdout : '';
    };
    let lastMon = '';

    before(async () => {
      bridge = NetnsBridge.create('pcmk');
      await Promise.all(nodes.map((n) => n.start(bridge!)));
      for (const n of nodes) n.startPacemaker();
    });

    after(async () => {
      if (process.env.PCMK_TEST_DEBUG) console.log(nodes.map((n) => n.problems()).join('\n'));
      await Promise.all(nodes.map((n) => n.destroy()));
      bridge?.destroy();
    });

    test('crm_mon -1 on every node shows all three nodes online', { timeout: 40_000 }, async () => {
      const deadline = Date.now() + 35_000;
      for (const n of nodes) {
        await poll(
          async () => {
            lastMon = await crmMon(n);
            return onlineNodes(lastMon).join(' ') === 'node1 node2 node3';
          },
          `crm_mon -1 on ${n.name} to show node1 node2 node3 online`,
          Math.max(0, deadline - Date.now()),
          () => `last crm_mon:\n${lastMon}\n${dump()}`,
        );
      }
      assert.match(lastMon, /Current DC: node\d/);
      assert.match(lastMon, /partition with quorum/);
      // uidgid.d's entry (uidgid.config.uid.<hacluster>) and the key pacemakerd writes at start
      // through libcmap (uidgid.gid.<haclient>; enough alone, as on corosync) are both in cmap.
      const keys = must(await nodes[0]!.exec('corosync-cmapctl', ['uidgid']), 'corosync-cmapctl uidgid');
      assert.match(
        keys.stdout,
        new RegExp(`^uidgid\\.config\\.uid\\.${idOf('passwd', 'hacluster')} \\(u8\\) = 1$`, 'm'),
      );
      assert.match(
        keys.stdout,
        new RegExp(`^uidgid\\.gid\\.${idOf('group', 'haclient')} \\(u8\\) = 1$`, 'm'),
      );
    });

    test('an ocf:pacemaker:Dummy resource starts', { timeout: 20_000 }, async () => {
      must(
        await nodes[0]!.exec('crm_attribute', ['-t', 'crm_config', '-n', 'stonith-enabled', '-v', 'false']),
        'crm_attribute stonith-enabled=false',
      );
      must(
        await nodes[0]!.exec('cibadmin', [
          '--create',
          '-o',
          'resources',
          '-X',
          `<primitive id="${RSC}" class="ocf" provider="pacemaker" type="Dummy">` +
            `<operations><op id="${RSC}-monitor" name="monitor" interval="10s"/></operations></primitive>`,
        ]),
        'cibadmin --create primitive',
      );
      await poll(
        async () => {
          lastMon = await crmMon(nodes[0]!);
          return startedOn(lastMon, RSC) !== undefined;
        },
        `${RSC} to start`,
        15_000,
        () => `last crm_mon:\n${lastMon}\n${dump()}`,
      );
    });

    test(
      'the resource moves when its node goes to standby, then when pacemaker stops there',
      { timeout: 40_000 },
      async () => {
        const first = startedOn(lastMon, RSC)!;
        const firstNode = nodes.find((n) => n.name === first)!;
        const other = nodes.find((n) => n !== firstNode)!;
        assert.ok(await hasStateFile(firstNode), `the Dummy agent's state file is missing on ${first}`);
        must(
          await other.exec('crm_attribute', ['-t', 'nodes', '-N', first, '-n', 'standby', '-v', 'on']),
          `standby ${first}`,
        );
        let second: string | undefined;
        await poll(
          async () => {
            lastMon = await crmMon(other);
            second = startedOn(lastMon, RSC);
            return (
              second !== undefined && second !== first && new RegExp(`Node ${first}: standby`).test(lastMon)
            );
          },
          `${RSC} to leave ${first} (standby)`,
          12_000,
          () => `last crm_mon:\n${lastMon}\n${dump()}`,
        );
        const secondNode = nodes.find((n) => n.name === second)!;
        // The agent really ran there and stopped on the standby node; crm_resource agrees.
        assert.ok(await hasStateFile(secondNode), `the Dummy agent's state file is missing on ${second}`);
        assert.ok(!(await hasStateFile(firstNode)), `the Dummy agent's state file is still on ${first}`);
        const loc = must(await other.exec('crm_resource', ['--locate', '-r', RSC]), 'crm_resource --locate');
        assert.match(loc.stdout, new RegExp(`is running on: ${second}`));

        // Stop pacemaker on the node that now runs it: it moves to the remaining online node.
        const third = nodes.find((n) => n !== firstNode && n !== secondNode)!;
        assert.ok(await secondNode.stopPacemaker(12_000), `pacemakerd on ${second} did not stop\n${dump()}`);
        await poll(
          async () => {
            lastMon = await crmMon(third);
            return (
              startedOn(lastMon, RSC) === third.name && new RegExp(`OFFLINE: \\[ ${second} \\]`).test(lastMon)
            );
          },
          `${RSC} to run on ${third.name} and ${second} to be offline after pacemaker stopped there`,
          12_000,
          () => `last crm_mon:\n${lastMon}\n${dump()}`,
        );
        assert.ok(await hasStateFile(third), `the Dummy agent's state file is missing on ${third.name}`);
        assert.ok(!(await hasStateFile(secondNode)), `the Dummy agent's state file is still on ${second}`);
        assert.match(lastMon, /partition with quorum/);
      },
    );
  },
);
