/**
 * Debian's unmodified corosync 3.1.7 tools and libraries (libqb 2.0.6 IPC) against our daemon,
 * over both libqb transports (SHM, the default, and `qb_ipc_type: socket`): corosync-cmapctl (list, get, set, delete, tracking), corosync-cpgtool
 * with a libcpg client in a group, corosync-quorumtool -s/-l and corosync-cfgtool -s/-R, compared
 * with the same tools against real corosync where the output does not depend on the run.
 * Then misbehaving raw clients (garbage, half a request, truncated shared memory, death
 * mid-request) must not stop the daemon from serving the others, and every /dev/shm entry
 * a connection created must be gone once its client is.
 *
 * Our daemon runs in its own network namespace (abstract socket names are per namespace)
 * with a private /dev/shm, set up by test/helpers/real-corosync.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseCmapctlOutput,
  ourRunDir,
  realCorosyncAvailable,
  startOurDaemon,
  startRealCorosync,
  type Availability,
  type RealCorosync,
} from '../helpers/real-corosync.js';
import { runCli, waitFor } from '../helpers/daemon-process.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';

type Transport = 'shm' | 'socket';

const C_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/c');

let binDir = '';
const bin = (name: string): string => path.join(binDir, name);

function available(): Availability {
  const base = realCorosyncAvailable();
  if (!base.ok) return base;
  const addon = loadQbNative();
  if (!addon.ok) return { ok: false, reason: addon.reason };
  for (const cmd of ['gcc', 'stdbuf', 'corosync-cpgtool', 'corosync-quorumtool', 'corosync-cfgtool']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) {
      return { ok: false, reason: `${cmd} not found in PATH` };
    }
  }
  for (const h of ['cpg.h', 'cmap.h']) {
    if (!fs.existsSync(`/usr/include/corosync/${h}`))
      return { ok: false, reason: `/usr/include/corosync/${h} missing` };
  }
  binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-libqb-'));
  process.once('exit', () => fs.rmSync(binDir, { recursive: true, force: true }));
  const builds: Array<[string, string, string[]]> = [
    ['cpg-client', 'cpg-client.c', ['-lcpg']],
    ['libqb-raw-client', 'libqb-raw-client.c', []],
    ['libqb-cmap-latency', 'libqb-cmap-latency.c', ['-lcmap']],
  ];
  for (const [out, src, libs] of builds) {
    const cc = spawnSync('gcc', ['-O1', '-Wall', '-o', bin(out), path.join(C_DIR, src), ...libs], {
      encoding: 'utf8',
    });
    if (cc.status !== 0) return { ok: false, reason: `cannot build test/c/${src}: ${cc.stderr.trim()}` };
  }
  return { ok: true, reason: '' };
}

const avail = available();
if (!avail.ok)
  console.log(`# skipping libqb IPC interop (real corosync tools against our daemon): ${avail.reason}`);

const ADDR = `10.253.${process.pid % 250}.1`;
const config = (transport: Transport): string => `totem {
  version: 2
  cluster_name: libqbtest
  transport: udpu
}
logging {
  to_stderr: yes
  to_syslog: no
  timestamp: off
}
quorum {
  provider: corosync_votequorum
}
nodelist {
  node {
    name: node1
    nodeid: 1
    ring0_addr: ${ADDR}
  }
}
${transport === 'socket' ? 'system {\n  qb_ipc_type: socket\n}\n' : ''}`;

/** A long-running command inside an instance's namespaces, with its stdout cut into lines. */
interface InProc {
  child: ChildProcess;
  lines: string[];
  waitLine(re: RegExp, what: string, ms?: number): Promise<string>;
  exited: Promise<number | null>;
}

function spawnIn(inst: RealCorosync, cmd: string, args: string[]): InProc {
  const child = spawn('nsenter', ['-t', String(inst.pid), '-m', '-n', '-u', '--', cmd, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of [...waiters]) w();
  });
  child.stderr!.on('data', (d: Buffer) => lines.push(`stderr: ${d.toString().trim()}`));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitLine = (re: RegExp, what: string, ms = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find((l) => re.test(l));
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

async function stopProc(p: InProc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGKILL');
  await p.exited;
}

/** /dev/shm entries of the instance that look like libqb connection directories. */
async function shmEntries(inst: RealCorosync): Promise<string[]> {
  const r = await inst.exec('ls', ['-1', '/dev/shm']);
  return r.stdout.split('\n').filter((l) => l.startsWith('qb-'));
}

/** Wait until the daemon answers libqb clients (it refuses with TRY_AGAIN until its first sync). */
async function waitServing(inst: RealCorosync): Promise<void> {
  await waitFor(
    async () => (await inst.exec('corosync-cmapctl', ['-g', 'totem.cluster_name'], 3000)).code === 0,
    'corosync-cmapctl to get an answer',
    20_000,
  );
}

const normaliseQuorumtool = (s: string): string =>
  s
    .replace(/^Date:.*$/m, 'Date: <date>')
    .replace(/^Ring ID:.*$/m, 'Ring ID: <ring>')
    .trimEnd();

for (const transport of ['shm', 'socket'] as const) {
  describe(
    `real corosync tools over libqb IPC (${transport}) against corosync-ts`,
    { skip: avail.ok ? false : avail.reason },
    () => {
      const CONFIG = config(transport);
      let ours: RealCorosync;
      let real: RealCorosync | undefined;

      before(async () => {
        ours = await startOurDaemon({
          configText: CONFIG,
          addresses: [`${ADDR}/24`],
          name: `libqb${transport}`,
        });
        await waitServing(ours);
      });
      after(async () => {
        await ours?.stop();
        await real?.stop();
      });

      /** Real corosync on the same config, started on first use (its own namespace). */
      async function realInstance(): Promise<RealCorosync> {
        real ??= await startRealCorosync({
          configText: CONFIG,
          addresses: [`${ADDR}/24`],
          name: `libqbreal${transport}`,
        });
        return real;
      }

      test('corosync-cmapctl lists what our own cmapctl lists', { timeout: 60_000 }, async () => {
        const viaLibqb = await ours.exec('corosync-cmapctl', []);
        assert.equal(viaLibqb.code, 0, viaLibqb.stderr);
        const viaOurs = await runCli(['cmapctl'], { COROSYNC_TS_RUN_DIR: ourRunDir(ours) });
        assert.equal(viaOurs.code, 0, viaOurs.stderr);
        const stable = (m: Map<string, unknown>): Map<string, unknown> =>
          new Map([...m].filter(([k]) => !/^(stats|runtime)\./.test(k)));
        const a = stable(parseCmapctlOutput(viaLibqb.stdout));
        const b = stable(parseCmapctlOutput(viaOurs.stdout));
        assert.ok(a.size > 15, `only ${a.size} keys listed:\n${viaLibqb.stdout}`);
        assert.deepEqual(a, b);
        // the connection stats of the libqb clients appear in the stats map too
        const prefix = await ours.exec('corosync-cmapctl', ['-m', 'stats', 'stats.ipcs.global']);
        assert.equal(prefix.code, 0, prefix.stderr);
        assert.match(prefix.stdout, /stats\.ipcs\.global\.active \(u64\) = \d+/);
      });

      test('corosync-cmapctl -g, -s, -d; errors read like real corosync', { timeout: 60_000 }, async () => {
        const g = await ours.exec('corosync-cmapctl', ['-g', 'totem.cluster_name']);
        assert.equal(g.stdout, 'totem.cluster_name (str) = libqbtest\n');
        const s = await ours.exec('corosync-cmapctl', ['-s', 'test.libqb.str', 'str', 'hello libqb']);
        assert.equal(s.code, 0, s.stderr);
        assert.equal((await ours.exec('corosync-cmapctl', ['-s', 'test.libqb.num', 'u32', '4242'])).code, 0);
        assert.equal(
          (await ours.exec('corosync-cmapctl', ['-g', 'test.libqb.str'])).stdout,
          'test.libqb.str (str) = hello libqb\n',
        );
        assert.equal(
          (await ours.exec('corosync-cmapctl', ['test.libqb.'])).stdout,
          'test.libqb.num (u32) = 4242\ntest.libqb.str (str) = hello libqb\n',
        );
        assert.equal((await ours.exec('corosync-cmapctl', ['-d', 'test.libqb.str'])).code, 0);
        const gone = await ours.exec('corosync-cmapctl', ['-g', 'test.libqb.str']);
        assert.equal(gone.code, 1);
        const r = await realInstance();
        const realGone = await r.exec('corosync-cmapctl', ['-g', 'test.libqb.str']);
        assert.equal(gone.stderr, realGone.stderr);
        assert.equal(gone.stderr, "Can't get key test.libqb.str. Error CS_ERR_NOT_EXIST\n");
        // a read-only key is refused the same way
        const ro = await ours.exec('corosync-cmapctl', ['-s', 'totem.cluster_name', 'str', 'x']);
        const realRo = await r.exec('corosync-cmapctl', ['-s', 'totem.cluster_name', 'str', 'x']);
        assert.equal(ro.code, realRo.code);
        assert.equal(ro.stderr, realRo.stderr);
      });

      test(
        'corosync-cmapctl -T receives change events over the event ring',
        { timeout: 60_000 },
        async () => {
          const tracker = spawnIn(ours, 'stdbuf', ['-oL', 'corosync-cmapctl', '-T', 'test.track.']);
          try {
            await tracker.waitLine(/^Type "q" to finish/, 'the tracker to start');
            assert.equal((await ours.exec('corosync-cmapctl', ['-s', 'test.track.a', 'str', 'one'])).code, 0);
            await tracker.waitLine(/^create> test\.track\.a \(str\) = one$/, 'the create event');
            assert.equal((await ours.exec('corosync-cmapctl', ['-s', 'test.track.a', 'str', 'two'])).code, 0);
            await tracker.waitLine(/^modify> test\.track\.a \(str\) = two$/, 'the modify event');
            assert.equal((await ours.exec('corosync-cmapctl', ['-d', 'test.track.a'])).code, 0);
            await tracker.waitLine(/^delete> test\.track\.a \(str\) = two$/, 'the delete event');
            // a stopped tracker: its event channel fills up (shm: the 1 MiB event ring; socket: our
            // send buffer; the kernel's max_dgram_qlen does not apply to a connected pair), so we
            // keep the events and deliver them all, in order, once it runs again
            const KEYS = 4000;
            const file = path.join(ours.dir, 'many-keys');
            fs.writeFileSync(
              file,
              Array.from({ length: KEYS }, (_, i) => `test.track.k${i} u32 ${i}\n`).join(''),
            );
            process.kill(tracker.child.pid!, 'SIGSTOP');
            try {
              const load = await ours.exec('corosync-cmapctl', ['-p', file]);
              assert.equal(load.code, 0, load.stderr);
              const stats = await ours.exec('corosync-cmapctl', ['-m', 'stats', 'stats.ipcs.service0.']);
              assert.match(stats.stdout, /\.send_retries \(u64\) = [1-9]/, 'the daemon had to wait for room');
            } finally {
              process.kill(tracker.child.pid!, 'SIGCONT');
            }
            await tracker.waitLine(
              /^create> test\.track\.k3999 \(u32\) = 3999$/,
              'the last create event',
              30_000,
            );
            const creates = tracker.lines.filter((l) => /^create> test\.track\.k/.test(l));
            assert.deepEqual(
              creates,
              Array.from({ length: KEYS }, (_, i) => `create> test.track.k${i} (u32) = ${i}`),
            );
            tracker.child.stdin!.end('q\n');
            assert.equal(await tracker.exited, 0);
          } finally {
            await stopProc(tracker);
          }
        },
      );

      test(
        'corosync-quorumtool -s and corosync-cfgtool -s print what they print on real corosync',
        { timeout: 90_000 },
        async () => {
          const r = await realInstance();
          const q = await ours.exec('corosync-quorumtool', ['-s']);
          const rq = await r.exec('corosync-quorumtool', ['-s']);
          assert.equal(q.code, 0, q.stderr);
          assert.equal(normaliseQuorumtool(q.stdout), normaliseQuorumtool(rq.stdout));
          const c = await ours.exec('corosync-cfgtool', ['-s']);
          assert.equal(c.code, 0, c.stderr);
          assert.match(c.stdout, /^Local node ID 1, transport udpu$/m);
          assert.match(c.stdout, new RegExp(`addr\\s+= ${ADDR.replace(/\./g, '\\.')}`));
          const rc = await r.exec('corosync-cfgtool', ['-s']);
          assert.equal(c.stdout, rc.stdout);
          // -l (node list) and -R (reload the unchanged corosync.conf): same output, same exit code
          const l = await ours.exec('corosync-quorumtool', ['-l']);
          const rl = await r.exec('corosync-quorumtool', ['-l']);
          assert.equal(l.code, rl.code, l.stderr);
          assert.equal(l.stdout, rl.stdout);
          const reload = await ours.exec('corosync-cfgtool', ['-R']);
          const rreload = await r.exec('corosync-cfgtool', ['-R']);
          assert.equal(reload.code, 0, reload.stderr);
          assert.equal(reload.code, rreload.code);
          assert.equal(reload.stdout, rreload.stdout);
        },
      );

      test(
        'corosync-cpgtool lists a libcpg client; its messages and confchg come over libqb',
        { timeout: 60_000 },
        async () => {
          const client = spawnIn(ours, bin('cpg-client'), ['libqbgrp', 'c1']);
          try {
            const ready = JSON.parse(await client.waitLine(/"ev":"ready"/, 'cpg_join')) as {
              nodeid: number;
              pid: number;
            };
            assert.equal(ready.nodeid, 1);
            await client.waitLine(/"ev":"confchg".*"joined":\[\[1,/, 'the join confchg');
            const tool = await ours.exec('corosync-cpgtool', ['-d', ',']);
            assert.equal(tool.code, 0, tool.stderr);
            assert.match(tool.stdout, new RegExp(`^libqbgrp,${ready.pid},1$`, 'm'));
            const MSGS = 5000;
            client.child.stdin!.write(`send ${MSGS}\n`);
            await client.waitLine(new RegExp(`"ev":"sent","count":${MSGS}\\b`), 'the sends', 30_000);
            await client.waitLine(new RegExp(`"msg":"c1:${MSGS}"`), 'delivery of the last message', 30_000);
            const delivered = client.lines.filter((l) => l.includes('"ev":"deliver"')).length;
            assert.equal(delivered, MSGS);
            // every message went through the request ring or socket and back as a dispatch
            const stats = await ours.exec('corosync-cmapctl', ['-m', 'stats', 'stats.ipcs.service2.']);
            const dispatched = [...stats.stdout.matchAll(/\.dispatched \(u64\) = (\d+)/g)].map((m) =>
              Number(m[1]),
            );
            assert.ok(Math.max(0, ...dispatched) >= MSGS, stats.stdout);
            client.child.stdin!.end('quit\n');
            assert.equal(await client.exited, 0);
            // the leave goes through totem: wait for it
            await waitFor(
              async () => !/libqbgrp/.test((await ours.exec('corosync-cpgtool', ['-d', ','])).stdout),
              'the group to be empty',
            );
          } finally {
            await stopProc(client);
          }
        },
      );

      test(
        'libcmap latency (printed) and the peer credentials Pacemaker checks',
        { timeout: 60_000 },
        async () => {
          const r = await realInstance();
          interface Lat {
            us_per_op: number;
            peer_pid: number;
            peer_uid: number;
            peer_gid: number;
          }
          const run = async (inst: RealCorosync): Promise<Lat> => {
            const res = await inst.exec(bin('libqb-cmap-latency'), ['totem.cluster_name', '3000'], 30_000);
            assert.equal(res.code, 0, res.stdout + res.stderr);
            return JSON.parse(res.stdout) as Lat;
          };
          const o = await run(ours);
          const rr = await run(r);
          console.log(
            `# cmap_get round trip over libqb ${transport}: corosync-ts ${o.us_per_op} us, corosync 3.1.7 ${rr.us_per_op} us`,
          );
          assert.ok(o.us_per_op < 5000, `${o.us_per_op} us per request`);
          // SO_PEERCRED on cmap_fd_get's descriptor: over SHM the daemon (uid 0), over the socket
          // transport nothing (a datagram socket), exactly as with real corosync
          if (transport === 'shm') {
            assert.deepEqual([o.peer_pid, o.peer_uid, o.peer_gid], [ours.pid, 0, 0]);
            assert.deepEqual([rr.peer_pid, rr.peer_uid, rr.peer_gid], [r.pid, 0, 0]);
          } else {
            assert.deepEqual([o.peer_pid, o.peer_uid, o.peer_gid], [rr.peer_pid, rr.peer_uid, rr.peer_gid]);
            assert.deepEqual([o.peer_pid, o.peer_uid, o.peer_gid], [0, -1, -1]);
          }
        },
      );

      test(
        'a non-root client is refused like corosync does, until uidgid allows it',
        { timeout: 60_000 },
        async () => {
          const r = await realInstance();
          const asNobody = [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            'corosync-cmapctl',
            '-g',
            'totem.cluster_name',
          ];
          const denied = await ours.exec('setpriv', asNobody);
          const realDenied = await r.exec('setpriv', asNobody);
          assert.equal(denied.code, realDenied.code);
          assert.equal(denied.stderr, realDenied.stderr);
          assert.match(denied.stderr, /CS_ERR_ACCESS/);
          for (const inst of [ours, r]) {
            assert.equal(
              (await inst.exec('corosync-cmapctl', ['-s', 'uidgid.uid.65534', 'u8', '1'])).code,
              0,
            );
          }
          const allowed = await ours.exec('setpriv', asNobody);
          assert.equal(allowed.stdout, 'totem.cluster_name (str) = libqbtest\n', allowed.stderr);
          assert.equal(allowed.stdout, (await r.exec('setpriv', asNobody)).stdout);
          for (const inst of [ours, r]) {
            assert.equal((await inst.exec('corosync-cmapctl', ['-d', 'uidgid.uid.65534'])).code, 0);
          }
        },
      );

      test(
        'misbehaving clients do not stop the daemon; shared memory is cleaned up',
        { timeout: 60_000 },
        async () => {
          const raw = async (mode: string): Promise<string> => {
            const res = await ours.exec(bin('libqb-raw-client'), ['cmap', mode], 20_000);
            assert.equal(res.code, 0, `${mode}: ${res.stdout}${res.stderr}`);
            return res.stdout;
          };
          assert.equal(await raw('garbage'), 'closed\n');
          assert.equal(await raw('partial'), 'sent\n');
          if (transport === 'shm') {
            assert.equal(await raw('truncate'), 'setup 1\nclosed\n');
            assert.match(ours.output(), /shared memory/, 'the truncated ring was noticed');
          } else {
            assert.equal(await raw('dgram'), 'setup 0\nclosed\n');
            assert.match(ours.output(), /invalid request/, 'the garbage datagram was noticed');
          }
          assert.equal(await raw('die'), `setup ${transport === 'shm' ? 1 : 0}\n`);
          assert.ok(ours.running(), 'the daemon is still running');
          const g = await ours.exec('corosync-cmapctl', ['-g', 'totem.cluster_name']);
          assert.equal(g.stdout, 'totem.cluster_name (str) = libqbtest\n');
          await waitFor(
            async () => (await shmEntries(ours)).length === 0,
            'the connection directories to go',
            10_000,
          );
        },
      );
    },
  );
}
