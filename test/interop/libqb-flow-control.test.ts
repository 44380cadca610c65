/**
 * libqb flow control through our transport, seen by the real libcmap (corosync 3.1.7 /
 * libqb 2.0.6): level 1 makes every request fail with CS_ERR_TRY_AGAIN on the client side
 * (connections open before and after the change), level 2 stops only clients that raised
 * their limit (libcpg's mcast), level 0 lets requests through again. Over SHM the level is
 * the request ring's user word, over the socket transport the control file.
 *
 * A bare server (test/helpers/libqb-fc-server.ts: the cmap service on the libqb transport)
 * runs in its own network namespace with a private /dev/shm; tools run there with nsenter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { loadQbNative } from '../../src/ipc/libqb/native.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.resolve(HERE, '../helpers/libqb-fc-server.js');
const LATENCY_SRC = path.resolve(HERE, '../../../test/c/libqb-cmap-latency.c');

function available(): { ok: boolean; reason: string; bin?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (network namespaces)' };
  const addon = loadQbNative();
  if (!addon.ok) return { ok: false, reason: addon.reason };
  for (const cmd of ['corosync-cmapctl', 'ip', 'unshare', 'nsenter', 'gcc']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) {
      return { ok: false, reason: `${cmd} not found in PATH` };
    }
  }
  if (!fs.existsSync('/usr/include/corosync/cmap.h')) return { ok: false, reason: 'libcmap headers missing' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-libqbfc-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'libqb-cmap-latency');
  const cc = spawnSync('gcc', ['-O1', '-Wall', '-o', bin, LATENCY_SRC, '-lcmap'], { encoding: 'utf8' });
  if (cc.status !== 0) return { ok: false, reason: `cannot build ${LATENCY_SRC}: ${cc.stderr}` };
  return { ok: true, reason: '', bin };
}

const avail = available();
if (!avail.ok) console.log(`# skipping libqb flow-control interop: ${avail.reason}`);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

for (const transport of ['shm', 'socket'] as const) {
  describe(`libqb flow control (${transport})`, { skip: avail.ok ? false : avail.reason }, () => {
    const ns = `cts-fc-${transport}-${process.pid}`;
    let server: ChildProcess;
    const lines: string[] = [];
    const waiters = new Set<() => void>();
    let stderr = '';

    const waitLine = (want: string, ms = 10_000): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!lines.includes(want)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`server did not print "${want}"; stderr:\n${stderr}`));
        }, ms);
        waiters.add(check);
        check();
      });

    const exec = (cmd: string, args: string[], ms = 10_000): Promise<Result> =>
      new Promise((resolve) => {
        execFile(
          'nsenter',
          ['-t', String(server.pid), '-m', '-n', '--', cmd, ...args],
          { timeout: ms, encoding: 'utf8' },
          (err, stdout, stderr) =>
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
        );
      });

    const setLevel = async (level: number): Promise<void> => {
      server.stdin!.write(`fc ${level}\n`);
      await waitLine(`fc ${level}`);
      lines.splice(lines.indexOf(`fc ${level}`), 1);
    };

    before(async () => {
      const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
      if (add.status !== 0) throw new Error(`ip netns add: ${add.stderr}`);
      spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const script = `mount --make-rprivate / && mount -t tmpfs tmpfs /dev/shm && exec "$0" "$1" "$2"`;
      server = spawn(
        'ip',
        ['netns', 'exec', ns, 'unshare', '-m', 'sh', '-c', script, process.execPath, SERVER, transport],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      createInterface({ input: server.stdout! }).on('line', (l) => {
        lines.push(l);
        for (const w of [...waiters]) w();
      });
      await waitLine('ready', 15_000);
    });

    after(async () => {
      if (server && server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((r) => server.once('exit', r));
        server.stdin!.end('quit\n');
        const t = setTimeout(() => server.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      spawnSync('ip', ['netns', 'del', ns]);
    });

    test(
      'level 1 refuses requests of new and open connections with TRY_AGAIN; 2 and 0 do not',
      { timeout: 60_000 },
      async () => {
        const get = (): Promise<Result> => exec('corosync-cmapctl', ['-g', 'test.fc.key']);
        assert.equal((await get()).stdout, 'test.fc.key (str) = value\n');

        // a connection that is open when the level rises: its next request fails
        const busy = spawn(
          'nsenter',
          ['-t', String(server.pid), '-m', '-n', '--', avail.bin!, 'test.fc.key', '100000000', 'announce'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let busyOut = '';
        busy.stdout!.on('data', (d: Buffer) => (busyOut += d.toString()));
        const busyExit = new Promise<number | null>((r) => busy.on('exit', (code) => r(code)));
        const started = new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`client did not start: ${busyOut}`)), 10_000);
          busy.stdout!.on('data', () => {
            if (busyOut.includes('started\n')) {
              clearTimeout(t);
              resolve();
            }
          });
        });
        try {
          await started;
          await setLevel(1);
          assert.equal(await busyExit, 1);
          assert.match(busyOut, /"error":"cmap_get","code":6/, 'CS_ERR_TRY_AGAIN on the open connection');
        } finally {
          if (busy.exitCode === null) busy.kill('SIGKILL');
        }

        // a new connection starts flow-controlled (corosync-cmapctl would retry TRY_AGAIN for 10 s,
        // so the plain libcmap client is used: one get)
        const once = (): Promise<Result> => exec(avail.bin!, ['test.fc.key', '1']);
        const refused = await once();
        assert.equal(refused.code, 1);
        assert.match(refused.stdout, /"error":"cmap_get","code":6/);

        // level 2 only stops clients that raised their limit to 2 (libcpg around cpg_mcast)
        await setLevel(2);
        assert.equal((await once()).code, 0);
        assert.equal((await get()).stdout, 'test.fc.key (str) = value\n');

        await setLevel(1);
        assert.equal((await once()).code, 1);
        await setLevel(0);
        assert.equal((await once()).code, 0);
        assert.equal((await get()).stdout, 'test.fc.key (str) = value\n');
        // the server unlinks a connection's files when it sees the client's socket close, which
        // may come just after the client process exited: wait for it (bounded)
        const shmFiles = async (): Promise<string[]> =>
          (await exec('ls', ['-1', '/dev/shm'])).stdout.split('\n').filter((l) => l.startsWith('qb-'));
        let left = await shmFiles();
        for (const end = Date.now() + 5000; left.length > 0 && Date.now() < end; left = await shmFiles()) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(left, [], "every connection's shared memory is gone");
      },
    );
  });
}
