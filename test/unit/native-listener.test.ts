/** The addon-accepted unix listener (src/ipc/native-listener.ts) and what it keeps out of the daemon. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import {
  NativeListener,
  socketOnFd,
  splitAccepted,
  type SplitConnection,
} from '../../src/ipc/native-listener.js';
import { nativeSkip } from '../helpers/native-udp.js';

const DIST_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

describe('native unix listener', { skip: nativeSkip }, () => {
  it('accepts every connection of a burst as a working net.Socket; close stops accepting', async () => {
    const native = loadQbNative();
    assert.ok(native.ok);
    const dir = mkdtempSync(path.join(tmpdir(), 'cts-listener-'));
    const sockPath = path.join(dir, 'endpoint');
    const fd = native.native.listenPath(sockPath, 64); // above the burst: a full backlog refuses unix connects (EAGAIN)
    assert.ok(fd >= 0, `listenPath: errno ${-fd}`);
    assert.equal(
      native.native.listenPath(path.join(dir, 'x'.repeat(120)), 64),
      -36,
      'too long for sun_path: ENAMETOOLONG',
    );
    assert.equal(native.native.listenPath(sockPath, 64), -98, 'a second listener on the path: EADDRINUSE');
    const accepted: Socket[] = [];
    const errors: number[] = [];
    let onCount: (() => void) | undefined;
    const listener = new NativeListener(
      native.native,
      fd,
      (fd) => {
        const sock = socketOnFd(native.native, fd)!;
        accepted.push(sock);
        sock.on('data', (d) => sock.write(Buffer.concat([Buffer.from('echo:'), d])));
        onCount?.();
      },
      (errno) => errors.push(errno),
    );
    const N = 20;
    const allAccepted = new Promise<void>((resolve) => {
      onCount = () => {
        if (accepted.length === N) resolve();
      };
    });
    const clients = Array.from({ length: N }, () => connect(sockPath));
    await allAccepted;
    const replies = await Promise.all(
      clients.map(
        (c, i) =>
          new Promise<string>((resolve) => {
            c.once('data', (d) => resolve(d.toString()));
            c.write(`c${i}`);
          }),
      ),
    );
    assert.deepEqual(
      replies,
      clients.map((_, i) => `echo:c${i}`),
    );
    assert.deepEqual(errors, []);
    listener.close();
    listener.close(); // idempotent
    await assert.rejects(
      new Promise((resolve, reject) => {
        const late = connect(sockPath);
        late.once('connect', () => resolve(late));
        late.once('error', reject);
      }),
      (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED',
    );
    for (const c of clients) c.destroy();
    for (const s of accepted) s.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('splitAccepted reads through the addon and writes through a socket on a second descriptor', async () => {
    const native = loadQbNative();
    assert.ok(native.ok);
    const n = native.native;
    const dir = mkdtempSync(path.join(tmpdir(), 'cts-split-'));
    const sockPath = path.join(dir, 'endpoint');
    const buf = Buffer.alloc(8);
    const got: string[] = [];
    const lent: boolean[] = [];
    let split: SplitConnection | string | undefined;
    let onGot: (() => void) | undefined;
    let ended: ((errno: number) => void) | undefined;
    const end = new Promise<number>((resolve) => (ended = resolve));
    const listener = new NativeListener(
      n,
      n.listenPath(sockPath, 4),
      (fd) => {
        split = splitAccepted(
          n,
          fd,
          buf,
          (chunk) => {
            lent.push(chunk.buffer === buf.buffer);
            got.push(chunk.toString());
            if (typeof split === 'object') split.sock.write(`ack:${chunk.length};`);
            onGot?.();
          },
          (errno) => ended?.(errno),
        );
      },
      () => undefined,
    );
    const client = connect(sockPath);
    let replies = '';
    client.on('data', (d) => (replies += d.toString()));
    const twelve = new Promise<void>((resolve) => {
      onGot = () => {
        if (got.join('').length === 12) resolve();
      };
    });
    client.write('hello, world'); // longer than the reader's buffer: read in pieces
    await twelve;
    assert.equal(got.join(''), 'hello, world');
    assert.ok(got.length >= 2, 'an 8-byte buffer takes 12 bytes in two reads at least');
    assert.ok(lent.every(Boolean), "chunks are views of the caller's buffer");
    assert.ok(typeof split === 'object');
    const s = split as SplitConnection;
    assert.notEqual(s.wfd, s.reader.fd, 'the socket writes on its own descriptor');
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (replies.split(';').length - 1 === got.length) resolve();
        else client.once('data', check);
      };
      check();
    });
    client.end();
    assert.equal(await end, 0, 'the client closing ends the reader with 0');
    assert.ok(s.reader.closed);
    s.sock.destroy();
    listener.close();
    client.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('splitAccepted says why when the descriptor cannot be used', () => {
    const native = loadQbNative();
    assert.ok(native.ok);
    const r = splitAccepted(
      native.native,
      1_000_000,
      Buffer.alloc(8),
      () => undefined,
      () => undefined,
    );
    assert.equal(r, 'EBADF');
  });

  it("a daemon's sockets never load Node's cluster, child_process or dgram modules", () => {
    // a fresh process: this test runner itself has loaded child_process
    const script = `
      const { openUdpSocket } = await import(${JSON.stringify(path.join(DIST_SRC, 'transport/udp-socket.js'))});
      const { NativeListener } = await import(${JSON.stringify(path.join(DIST_SRC, 'ipc/native-listener.js'))});
      const { loadQbNative } = await import(${JSON.stringify(path.join(DIST_SRC, 'ipc/libqb/native.js'))});
      const native = loadQbNative().native;
      const udp = await openUdpSocket({ family: 4, addr: '127.0.0.1', port: 0, reuseAddr: false, bufferSize: 0,
        onDatagram() {}, onError() {}, onSendError() {} });
      const name = 'cts-no-cluster-' + process.pid;
      const l = new NativeListener(native, native.listenAbstract(name, 4), () => {}, () => {});
      l.close();
      await udp.close();
      console.log(JSON.stringify(process.moduleLoadList.filter((m) => /cluster|child_process|dgram/.test(m))));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out.trim()), []);
  });
});
