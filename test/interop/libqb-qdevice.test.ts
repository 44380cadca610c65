/**
 * Debian's unmodified corosync-qdevice (model net) with corosync-qnetd against a two-node
 * cluster of OUR daemons, and the same against real corosync 3.1.7 for comparison. Every node and qnetd run in their own network namespace on one
 * bridge; qnetd gets a private /etc/corosync and /run (mount namespace). The cluster's TLS
 * certificates are made the documented way: corosync-qnetd-certutil -i on qnetd's host,
 * corosync-qdevice-net-certutil -i / -r on node 1, corosync-qnetd-certutil -s to sign,
 * corosync-qdevice-net-certutil -M on node 1 and -m on node 2.
 *
 * corosync-qdevice reads quorum.device.* through libcmap and registers as the quorum device
 * through libvotequorum (qdevice_register, qdevice_poll, …) over libqb IPC; qnetd's ffsplit
 * algorithm gives the device one vote. Checked: corosync-quorumtool -s (Debian's, over libqb)
 * and our `corosync-ts quorumtool -s` on both nodes show "Flags: Quorate Qdevice", 3 expected
 * and total votes and the Qdevice line in the membership; corosync-qdevice-tool -s shows the
 * connection; corosync-qnetd-tool -l lists both nodes. Then node 2 stops: node 1 alone keeps
 * quorum with the device's vote (2 of 3). corosync-quorumtool -s prints the same on our
 * cluster as on real corosync's (date and ring id aside), both nodes up and node 1 alone.
 * Skipped with a printed reason without root, corosync 3.1.7 or the qdevice/qnetd packages.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { runCli } from '../helpers/daemon-process.js';
import { NetnsBridge } from '../helpers/netns-bridge.js';
import {
  ourRunDir,
  parseCmapctlOutput,
  realCorosyncAvailable,
  startOurDaemon,
  startRealCorosync,
  type Availability,
  type ExecResult,
  type RealCorosync,
  udpuClusterConfig,
} from '../helpers/real-corosync.js';

const TOOLS = [
  'corosync-qdevice',
  'corosync-qnetd',
  'corosync-qdevice-tool',
  'corosync-qnetd-tool',
  'corosync-qdevice-net-certutil',
  'corosync-qnetd-certutil',
  'certutil',
  'corosync-quorumtool',
];

function available(): Availability {
  const base = realCorosyncAvailable();
  if (!base.ok) return base;
  const addon = loadQbNative();
  if (!addon.ok) return { ok: false, reason: addon.reason };
  for (const cmd of TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0)
      return {
        ok: false,
        reason: `${cmd} not found in PATH (apt-get install corosync-qdevice corosync-qnetd)`,
      };
  }
  return { ok: true, reason: '' };
}

const avail = available();
if (!avail.ok) console.log(`# skipping corosync-qdevice/qnetd against corosync-ts: ${avail.reason}`);

const CLUSTER = 'qbqdev';
const SUBNET = `10.248.${process.pid % 250}`;
const QNETD_ADDR = `${SUBNET}.100`;

function config(socket: boolean): string {
  return udpuClusterConfig({
    clusterName: CLUSTER,
    addrs: [1, 2].map((id) => `${SUBNET}.${id}`),
    quorum: `  device {\n    model: net\n    votes: 1\n    net {\n      host: ${QNETD_ADDR}\n      algorithm: ffsplit\n      tls: on\n    }\n  }\n`,
    after: socket ? 'system {\n  qb_ipc_type: socket\n}\n' : '',
  });
}

const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/** A long-running program, its stdout+stderr kept. */
interface Proc {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function startProc(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

let qnetdCount = 0;

/** qnetd's namespace: network on the bridge, private /etc/corosync and /run. */
class QnetdHost {
  readonly ns = `cts-qnetd-${process.pid}-${++qnetdCount}`;
  /** Temp directory with etc/ and run/ (made by setup). */
  dir = '';
  private nsCreated = false;
  private proc: Proc | undefined;
  /** The pid of the `sleep infinity` holding the mount namespace (commands nsenter into it). */
  private holder: ChildProcess | undefined;

  setup(bridge: NetnsBridge): void {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-qnetd-'));
    for (const d of ['etc', 'run/corosync-qnetd']) fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    const r = spawnSync('ip', ['netns', 'add', this.ns], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip netns add: ${r.stderr}`);
    this.nsCreated = true;
    spawnSync('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
    bridge.attach(this.ns, `${QNETD_ADDR}/24`);
    const script = [
      'set -e',
      'mount --make-rprivate /',
      `mount --bind ${q(path.join(this.dir, 'etc'))} /etc/corosync`,
      `mount --bind ${q(path.join(this.dir, 'run'))} /run`,
      'exec sleep infinity',
    ].join('\n');
    this.holder = spawn('ip', ['netns', 'exec', this.ns, 'unshare', '-m', 'sh', '-c', script], {
      stdio: 'ignore',
    });
  }

  private nsenter(cmd: string, args: string[]): string[] {
    return ['-t', String(this.holder!.pid), '-m', '-n', '--', cmd, ...args];
  }

  exec(cmd: string, args: string[], timeoutMs = 20_000): ExecResult {
    const r = spawnSync('nsenter', this.nsenter(cmd, args), { encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Wait until the bind mounts are in place (the holder then runs `sleep`). */
  async ready(): Promise<void> {
    await poll(
      async () => {
        const r = this.exec('sh', ['-c', 'grep -c " /etc/corosync " /proc/self/mountinfo']);
        return r.code === 0 && Number(r.stdout.trim()) >= 1;
      },
      'the qnetd namespace mounts',
      10_000,
    );
  }

  start(): Proc {
    this.proc = startProc('nsenter', this.nsenter('corosync-qnetd', ['-f', '-d']));
    return this.proc;
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
    if (this.holder && this.holder.exitCode === null) this.holder.kill('SIGKILL');
    if (this.nsCreated) spawnSync('ip', ['netns', 'del', this.ns]);
    this.nsCreated = false;
    if (this.dir !== '') fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function poll(
  check: () => Promise<boolean>,
  what: string,
  ms: number,
  dump = (): string => '',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${dump()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function must(r: ExecResult, what: string): ExecResult {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  return r;
}

/** `ours-socket`: our daemons with `system { qb_ipc_type: socket }`. */
type Kind = 'real' | 'ours' | 'ours-socket';

/** corosync-quorumtool -s outputs seen in each run, to compare ours with real corosync's. */
const snapshots: Record<Kind, { both: string[]; alone: string }> = {
  real: { both: [], alone: '' },
  ours: { both: [], alone: '' },
  'ours-socket': { both: [], alone: '' },
};

/** What differs between runs: the date, the ring id (totem sequence numbers). */
const normaliseQuorumtool = (s: string): string =>
  s
    .replace(/^Date:.*$/m, 'Date: <date>')
    .replace(/^Ring ID:.*$/m, 'Ring ID: <ring>')
    .trimEnd();

function scenario(kind: Kind): void {
  describe(
    `corosync-qdevice + corosync-qnetd (TLS) on a two-node ${kind === 'real' ? 'real corosync' : `corosync-ts (libqb over ${kind === 'ours' ? 'shm' : 'sockets'})`} cluster`,
    { skip: avail.ok ? false : avail.reason },
    () => {
      let bridge: NetnsBridge | undefined;
      const qnetd = new QnetdHost();
      let qnetdProc: Proc | undefined;
      const nodes: RealCorosync[] = [];
      const qdevices: Proc[] = [];
      const dump = (): string =>
        [
          `---- qnetd\n${qnetdProc?.output().slice(-3000) ?? ''}`,
          ...qdevices.map((p, i) => `---- qdevice on node ${i + 1}\n${p.output().slice(-4000)}`),
          ...nodes.map((n, i) => `---- node ${i + 1}\n${n.output().slice(-3000)}`),
        ].join('\n');

      const startNode = (id: number): Promise<RealCorosync> => {
        const opts = {
          configText: config(kind === 'ours-socket'),
          hostname: `node${id}`,
          name: `qdev${kind === 'ours-socket' ? 'sock' : kind}${id}`,
          attach: (ns: string) => bridge!.attach(ns, `${SUBNET}.${id}/24`),
          startTimeoutMs: 30_000,
        };
        return kind === 'real' ? startRealCorosync(opts) : startOurDaemon(opts);
      };

      const startQdevice = (inst: RealCorosync): Proc => {
        fs.mkdirSync(path.join(inst.dir, 'run', 'corosync-qdevice'), { recursive: true });
        return startProc('nsenter', [
          '-t',
          String(inst.pid),
          '-m',
          '-n',
          '-u',
          '--',
          'corosync-qdevice',
          '-f',
          '-d',
        ]);
      };

      before(async () => {
        bridge = NetnsBridge.create(`qdev${kind === 'ours-socket' ? 'sock' : kind}`);
        qnetd.setup(bridge);
        await qnetd.ready();
        // certificates: qnetd's CA and server certificate
        must(qnetd.exec('corosync-qnetd-certutil', ['-i']), 'corosync-qnetd-certutil -i');
        const caCrt = path.join(qnetd.dir, 'etc', 'qnetd', 'nssdb', 'qnetd-cacert.crt');
        assert.ok(fs.existsSync(caCrt), 'qnetd-cacert.crt made');
        qnetdProc = qnetd.start();
        nodes.push(...(await Promise.all([startNode(1), startNode(2)])));
        await poll(
          async () => {
            for (const n of nodes) {
              const r = await n.exec('corosync-cmapctl', ['runtime.members.']);
              const m = parseCmapctlOutput(r.stdout);
              if (![1, 2].every((id) => m.get(`runtime.members.${id}.status`)?.value === 'joined'))
                return false;
            }
            return true;
          },
          'one ring of nodes 1, 2',
          40_000,
          dump,
        );
        // node 1: qdevice nssdb with qnetd's CA, a certificate request, signed by qnetd, imported;
        // node 2: the resulting pk12 imported
        const n1etc = path.join(nodes[0]!.dir, 'etc');
        fs.copyFileSync(caCrt, path.join(n1etc, 'qnetd-cacert.crt'));
        must(
          await nodes[0]!.exec('corosync-qdevice-net-certutil', [
            '-i',
            '-c',
            '/etc/corosync/qnetd-cacert.crt',
          ]),
          'corosync-qdevice-net-certutil -i (node 1)',
        );
        must(
          await nodes[0]!.exec('corosync-qdevice-net-certutil', ['-r', '-n', CLUSTER]),
          'corosync-qdevice-net-certutil -r',
        );
        const crq = path.join(n1etc, 'qdevice', 'net', 'nssdb', 'qdevice-net-node.crq');
        fs.copyFileSync(crq, path.join(qnetd.dir, 'etc', 'qdevice-net-node.crq'));
        must(
          qnetd.exec('corosync-qnetd-certutil', [
            '-s',
            '-c',
            '/etc/corosync/qdevice-net-node.crq',
            '-n',
            CLUSTER,
          ]),
          'corosync-qnetd-certutil -s',
        );
        const signed = path.join(qnetd.dir, 'etc', 'qnetd', 'nssdb', `cluster-${CLUSTER}.crt`);
        fs.copyFileSync(signed, path.join(n1etc, `cluster-${CLUSTER}.crt`));
        must(
          await nodes[0]!.exec('corosync-qdevice-net-certutil', [
            '-M',
            '-c',
            `/etc/corosync/cluster-${CLUSTER}.crt`,
          ]),
          'corosync-qdevice-net-certutil -M',
        );
        const p12 = path.join(n1etc, 'qdevice', 'net', 'nssdb', 'qdevice-net-node.p12');
        const n2etc = path.join(nodes[1]!.dir, 'etc');
        fs.copyFileSync(caCrt, path.join(n2etc, 'qnetd-cacert.crt'));
        fs.copyFileSync(p12, path.join(n2etc, 'qdevice-net-node.p12'));
        must(
          await nodes[1]!.exec('corosync-qdevice-net-certutil', [
            '-i',
            '-c',
            '/etc/corosync/qnetd-cacert.crt',
          ]),
          'corosync-qdevice-net-certutil -i (node 2)',
        );
        must(
          await nodes[1]!.exec('corosync-qdevice-net-certutil', [
            '-m',
            '-c',
            '/etc/corosync/qdevice-net-node.p12',
          ]),
          'corosync-qdevice-net-certutil -m',
        );
        qdevices.push(startQdevice(nodes[0]!), startQdevice(nodes[1]!));
      });

      after(async () => {
        await Promise.all(qdevices.map((p) => p.stop()));
        await Promise.all(nodes.map((n) => n.stop()));
        await qnetd.stop();
        bridge?.destroy();
      });

      test(
        'qdevice registers through libvotequorum; its vote is counted on both nodes',
        { timeout: 60_000 },
        async () => {
          for (let i = 0; i < nodes.length; i++) {
            const n = nodes[i]!;
            let last = '';
            await poll(
              async () => {
                const r = await n.exec('corosync-quorumtool', ['-s']);
                last = r.stdout + r.stderr;
                return /Flags:\s+Quorate Qdevice/.test(r.stdout) && /Total votes:\s+3\b/.test(r.stdout);
              },
              `the Qdevice vote on node ${i + 1}`,
              45_000,
              () => `${last}\n${dump()}`,
            );
            const real = (await n.exec('corosync-quorumtool', ['-s'])).stdout;
            snapshots[kind].both[i] = real;
            console.log(`# corosync-quorumtool -s on node ${i + 1}:\n${real.replace(/^/gm, '#   ')}`);
            assert.match(real, /Expected votes:\s+3\b/);
            assert.match(real, /Total votes:\s+3\b/);
            assert.match(real, /Quorum:\s+2\b/);
            assert.match(real, /^\s+0\s+1\s+Qdevice$/m);
            assert.match(real, new RegExp(`^\\s+${i + 1}\\s+1\\s+A,V,NMW node${i + 1} \\(local\\)$`, 'm'));
            if (kind !== 'real') {
              // our own tool over our native IPC
              const ours = await runCli(['quorumtool', '-s'], { COROSYNC_TS_RUN_DIR: ourRunDir(n) });
              assert.equal(ours.code, 0, ours.stderr);
              assert.match(ours.stdout, /Flags:\s+Quorate Qdevice/);
              assert.match(ours.stdout, /Total votes:\s+3\b/);
              assert.match(ours.stdout, /^\s+0\s+1\s+Qdevice$/m);
            }
            const tool = await n.exec('corosync-qdevice-tool', ['-s']);
            assert.equal(tool.code, 0, tool.stderr);
            assert.match(tool.stdout, /State:\s+Connected/);
          }
          const list = qnetd.exec('corosync-qnetd-tool', ['-l']);
          assert.equal(list.code, 0, list.stderr);
          assert.match(list.stdout, new RegExp(`Cluster "${CLUSTER}":`));
          assert.match(list.stdout, /Node ID 1:/);
          assert.match(list.stdout, /Node ID 2:/);
        },
      );

      test('node 2 stops: node 1 keeps quorum with the device vote', { timeout: 60_000 }, async () => {
        await qdevices[1]!.stop();
        await nodes[1]!.stop();
        let last = '';
        await poll(
          async () => {
            const r = await nodes[0]!.exec('corosync-quorumtool', ['-s']);
            last = r.stdout + r.stderr;
            return (
              /Nodes:\s+1\b/.test(r.stdout) &&
              /Total votes:\s+2\b/.test(r.stdout) &&
              /Flags:\s+Quorate Qdevice/.test(r.stdout)
            );
          },
          'node 1 quorate with 2 of 3 votes',
          45_000,
          () => `${last}\n${dump()}`,
        );
        console.log(`# corosync-quorumtool -s on node 1 alone:\n${last.replace(/^/gm, '#   ')}`);
        assert.match(last, /Quorate:\s+Yes/);
        assert.match(last, /^\s+0\s+1\s+Qdevice$/m);
        snapshots[kind].alone = last;
        if (kind !== 'real' && snapshots.real.alone !== '') {
          for (let i = 0; i < 2; i++) {
            assert.equal(
              normaliseQuorumtool(snapshots[kind].both[i]!),
              normaliseQuorumtool(snapshots.real.both[i]!),
              `corosync-quorumtool -s on node ${i + 1}, both nodes up: ours vs real corosync`,
            );
          }
          assert.equal(
            normaliseQuorumtool(snapshots[kind].alone),
            normaliseQuorumtool(snapshots.real.alone),
            'corosync-quorumtool -s on node 1 alone: ours vs real corosync',
          );
        }
      });
    },
  );
}

// real corosync first: its outputs are what ours are compared with
scenario('real');
scenario('ours');
scenario('ours-socket');
