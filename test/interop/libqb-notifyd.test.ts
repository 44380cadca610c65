/**
 * Debian's unmodified corosync-notifyd (`-f -o -n`: foreground, log events to the terminal, no
 * reverse DNS) against a two-node cluster of OUR daemons (libqb over shared memory, then over
 * sockets), and against a two-node cluster of real
 * corosync 3.1.7, each node in its own network namespace on one bridge; notifyd runs on node 1
 * and talks libqb (cmap with the icmap and stats maps, quorum, cfg) to the daemon there. The
 * same events are made on both clusters:
 *   - a libqb client (corosync-cmapctl) connects and disconnects (stats.ipcs.* keys added and
 *     deleted: "… is now connected to corosync" / "… is now disconnected from corosync");
 *   - node 2 stops (runtime.members.2.status = left: "… ip:… left", then quorum lost);
 *   - node 2 starts again (joined, quorate again).
 * The lines notifyd prints must be the same for both daemons once what legitimately differs is
 * normalised: libqb's debug lines, pids and the connection handle (a pointer in corosync, our
 * connection id in corosync-ts) in connection names. notifyd gets the three kinds of events
 * over three independent libqb connections (cmap on the stats map: connections; cmap on icmap:
 * runtime.members; quorum), so only the order within each kind is compared: across kinds it
 * depends on which fd notifyd's poll loop serves first (on a rejoin real corosync's quorate
 * line came before the joined line in one run, after it in ours).
 * Skipped with a printed reason without root, corosync 3.1.7 or corosync-notifyd.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { describe, test } from 'node:test';
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
  type RealCorosync,
  type RealCorosyncOptions,
  udpuClusterConfig,
} from '../helpers/real-corosync.js';

function available(): Availability {
  const base = realCorosyncAvailable();
  if (!base.ok) return base;
  const addon = loadQbNative();
  if (!addon.ok) return { ok: false, reason: addon.reason };
  if (spawnSync('sh', ['-c', 'command -v corosync-notifyd'], { stdio: 'ignore' }).status !== 0)
    return { ok: false, reason: 'corosync-notifyd not found in PATH (apt-get install corosync-notifyd)' };
  return { ok: true, reason: '' };
}

const avail = available();
if (!avail.ok) console.log(`# skipping corosync-notifyd against corosync-ts: ${avail.reason}`);

/** `ours-socket`: our daemon with `system { qb_ipc_type: socket }`. */
type Kind = 'real' | 'ours' | 'ours-socket';

function config(subnet: string, socket = false): string {
  return udpuClusterConfig({
    clusterName: 'qbnotify',
    addrs: [1, 2].map((id) => `${subnet}.${id}`),
    after: socket ? 'system {\n  qb_ipc_type: socket\n}\n' : '',
  });
}

/** A long-running program inside an instance's namespaces, its stdout+stderr cut into lines. */
interface InProc {
  child: ChildProcess;
  lines: string[];
  /** Wait until `count` lines (default 1) match `re`. */
  waitLine(re: RegExp, what: string, count?: number, ms?: number): Promise<string>;
  exited: Promise<void>;
}

function spawnIn(inst: RealCorosync, cmd: string, args: string[]): InProc {
  const child = spawn('nsenter', ['-t', String(inst.pid), '-m', '-n', '-u', '--', cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.on('data', (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
      for (const w of [...waiters]) w();
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitLine = (re: RegExp, what: string, count = 1, ms = 30_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hits = lines.filter((l) => re.test(l));
        const hit = hits[count - 1];
        if (hit === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; output so far:\n${lines.join('\n')}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { child, lines, waitLine, exited };
}

async function poll(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function memberStatus(inst: RealCorosync, kind: Kind): Promise<Map<string, string>> {
  const r =
    kind === 'real'
      ? await inst.exec('corosync-cmapctl', ['runtime.members.'])
      : await runCli(['cmapctl', 'runtime.members.'], { COROSYNC_TS_RUN_DIR: ourRunDir(inst) });
  const out = new Map<string, string>();
  for (const [k, v] of parseCmapctlOutput(r.stdout)) if (k.endsWith('.status')) out.set(k, v.value);
  return out;
}

/**
 * notifyd's lines without what differs from run to run: the log prefix up to the message, the
 * connection handle and pid in connection names, and the connection events of its own cfg
 * connection (made on demand, see the header).
 */
export function normaliseNotifyd(lines: readonly string[]): Record<string, string[]> {
  const events = lines
    .filter((l) => l.startsWith('[notice] '))
    .map((l) => l.replace(/ 0x[0-9a-f]+\.\d+\.(\S+) is now /, ' <conn>.<pid>.$1 is now '));
  return {
    connections: events.filter((l) => / is now (connected to|disconnected from) corosync$/.test(l)),
    members: events.filter((l) => / ip:\S+ \S+$/.test(l)),
    quorum: events.filter((l) => / (is now quorate|has lost quorum)$/.test(l)),
    other: events.filter(
      (l) =>
        !/ is now (connected to|disconnected from) corosync$| ip:\S+ \S+$| (is now quorate|has lost quorum)$/.test(
          l,
        ),
    ),
  };
}

/** The events on one two-node cluster of `kind`; returns notifyd's raw lines. */
async function scenario(kind: Kind, subnet: string, label: string): Promise<string[]> {
  const bridge = NetnsBridge.create(label);
  const nodes: RealCorosync[] = [];
  let notifyd: InProc | undefined;
  const start = (id: number): Promise<RealCorosync> => {
    const opts: RealCorosyncOptions = {
      configText: config(subnet, kind === 'ours-socket'),
      hostname: `node${id}`,
      name: `${label}${id}`,
      attach: (ns) => bridge.attach(ns, `${subnet}.${id}/24`),
      startTimeoutMs: 30_000,
    };
    return kind === 'real' ? startRealCorosync(opts) : startOurDaemon(opts);
  };
  const both = async (status: string, ids: number[]): Promise<void> =>
    poll(
      async () => {
        const m = await memberStatus(nodes[0]!, kind);
        return ids.every((id) => m.get(`runtime.members.${id}.status`) === status);
      },
      `nodes ${ids.join(', ')} ${status} on node 1 (${kind})`,
      40_000,
    );
  try {
    nodes.push(...(await Promise.all([start(1), start(2)])));
    await both('joined', [1, 2]);
    // libqb clients are refused until the first sync: wait until quorum answers as quorate
    await poll(
      async () => /Quorate:\s+Yes/.test((await nodes[0]!.exec('corosync-quorumtool', ['-s'])).stdout),
      `quorum on node 1 (${kind})`,
      30_000,
    );
    notifyd = spawnIn(nodes[0]!, 'corosync-notifyd', ['-f', '-o', '-n']);
    // its quorum connection is made after the stats tracking is in place: seeing it is "ready"
    await notifyd.waitLine(
      / 0x[0-9a-f]+\.\d+\.corosync-notify is now connected to corosync$/,
      `notifyd to start (${kind})`,
    );
    // a client connects and disconnects
    const g = await nodes[0]!.exec('corosync-cmapctl', ['-g', 'totem.cluster_name']);
    assert.equal(g.stdout, 'totem.cluster_name (str) = qbnotify\n');
    await notifyd.waitLine(
      /corosync-cmapct\S* is now disconnected from corosync$/,
      `cmapctl's disconnect (${kind})`,
    );
    // node 2 leaves
    await nodes[1]!.stop();
    await notifyd.waitLine(/\[2\] ip:\S+ left$/, `node 2 to leave (${kind})`);
    await notifyd.waitLine(/has lost quorum$/, `quorum lost (${kind})`);
    // node 2 comes back
    nodes[1] = await start(2);
    await notifyd.waitLine(/\[2\] ip:\S+ joined$/, `node 2 to join again (${kind})`);
    // the second quorate line (the first one came when notifyd started)
    await notifyd.waitLine(/is now quorate$/, `quorate again (${kind})`, 2);
    // everything printed so far, once notifyd saw the last event
    return [...notifyd.lines];
  } finally {
    if (notifyd && notifyd.child.exitCode === null) {
      notifyd.child.kill('SIGTERM');
      const t = setTimeout(() => notifyd!.child.kill('SIGKILL'), 5000);
      await notifyd.exited;
      clearTimeout(t);
    }
    await Promise.all(nodes.map((n) => n.stop()));
    bridge.destroy();
  }
}

describe(
  'corosync-notifyd -o against corosync-ts and real corosync',
  { skip: avail.ok ? false : avail.reason },
  () => {
    const SUBNET = `10.249.${process.pid % 250}`;
    let realLines: string[] = [];

    test('real corosync: connection, node leave/join and quorum events', { timeout: 120_000 }, async () => {
      realLines = await scenario('real', SUBNET, 'ntfr');
      console.log(`# notifyd on real corosync:\n${realLines.map((l) => `#   ${l}`).join('\n')}`);
    });

    for (const kind of ['ours', 'ours-socket'] as const) {
      test(
        `corosync-ts (libqb over ${kind === 'ours' ? 'shm' : 'sockets'}): the same lines`,
        { timeout: 120_000 },
        async () => {
          const ours = await scenario(kind, SUBNET, kind === 'ours' ? 'ntfo' : 'ntfs');
          console.log(`# notifyd on corosync-ts (${kind}):\n${ours.map((l) => `#   ${l}`).join('\n')}`);
          assert.ok(realLines.length > 0, 'the real corosync run produced lines');
          assert.deepEqual(normaliseNotifyd(ours), normaliseNotifyd(realLines));
        },
      );
    }
  },
);
