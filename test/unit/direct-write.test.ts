/**
 * Writing a frame in two pieces with one sendmsg(2) (src/ipc/direct-write.ts writeDirectPair,
 * the addon's dgramSend2): the reader gets header and payload back to back, and when the
 * socket's buffer fills (the peer does not read) a send that takes part of a frame, and every
 * frame after it, goes through the socket's own write in order: the stream that arrives once
 * the peer reads is exactly the frames written, in order. And the addon's loop-turn counter
 * (`loopTurns`, which decides what the client sends at once): unchanged within a callback and
 * the microtasks after it, advanced by the next timer or I/O callback; and a worker thread that
 * ends with a poll watcher and the counter open does not take the process down.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createServer, connect, type Socket } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { socketFd, writeDirectPair } from '../../src/ipc/direct-write.js';

const load = loadQbNative();

async function socketPair(): Promise<{ client: Socket; server: Socket; close(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-dw-'));
  const where = path.join(dir, 'sock');
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(where, resolve));
  const accepted = new Promise<Socket>((resolve) => srv.once('connection', resolve));
  const client = connect(where);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const server = await accepted;
  server.pause();
  return {
    client,
    server,
    close() {
      client.destroy();
      server.destroy();
      srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('writeDirectPair', { skip: load.ok ? false : load.reason }, () => {
  const native = load.ok ? load.native : undefined;

  test('header and payload arrive back to back from one send', async () => {
    const p = await socketPair();
    try {
      const head = Buffer.from('HEAD0123');
      const body = Buffer.from('the payload');
      const fd = socketFd(p.client);
      assert.ok(fd >= 0, 'the client socket exposes its descriptor');
      assert.equal(native!.dgramSend2(fd, head, body), head.length + body.length);
      const got = await new Promise<Buffer>((resolve) => {
        p.server.once('data', resolve);
        p.server.resume();
      });
      assert.equal(got.toString(), 'HEAD0123the payload');
    } finally {
      p.close();
    }
  });

  test('beyond the socket buffer: partly sent frames and the ones after them arrive whole and in order', async () => {
    const p = await socketPair();
    try {
      const fd = socketFd(p.client);
      const frames = 300;
      const expected: Buffer[] = [];
      let queued = 0;
      for (let i = 0; i < frames; i++) {
        // odd sizes so that a partial send ends inside a header as well as inside a payload
        const head = Buffer.alloc(13 + (i % 7), i & 0xff);
        head.writeUInt32LE(i, 0);
        const body = Buffer.alloc(4093 + ((i * 37) % 1500), (i * 3) & 0xff);
        expected.push(head, body);
        writeDirectPair(native!, fd, p.client, head, body);
        if (p.client.writableLength > 0) queued++;
      }
      assert.ok(queued > 0, 'the socket buffer filled: later frames waited in the socket write');
      const total = expected.reduce((n, b) => n + b.length, 0);
      const chunks: Buffer[] = [];
      let received = 0;
      await new Promise<void>((resolve) => {
        p.server.on('data', (c: Buffer) => {
          chunks.push(c);
          received += c.length;
          if (received >= total) resolve();
        });
        p.server.resume();
      });
      assert.equal(received, total);
      assert.ok(
        Buffer.concat(chunks).equals(Buffer.concat(expected)),
        'the byte stream is the frames in order',
      );
    } finally {
      p.close();
    }
  });
});

describe('loopTurns', { skip: load.ok ? false : load.reason }, () => {
  test('one reading per callback and its microtasks; a later callback reads another', async () => {
    const turns = load.ok ? load.native.loopTurns() : new Uint32Array(1);
    const inTimer = await new Promise<[number, number, number]>((resolve) => {
      setTimeout(() => {
        const first = turns[0]!;
        void Promise.resolve()
          .then(() => turns[0]!)
          .then((micro) => {
            setImmediate(() => resolve([first, micro, turns[0]!]));
          });
      }, 5);
    });
    const [first, micro, immediate] = inTimer;
    assert.equal(micro, first, 'the microtasks after a callback are in its turn');
    assert.notEqual(immediate, first, 'setImmediate runs in a later turn');
    const before = turns[0]!;
    await new Promise((resolve) => setTimeout(resolve, 2));
    assert.ok(turns[0]! > before, 'a timer after a poll is a later turn');
  });

  test('a worker thread that ends with a poll watcher and the counter still open ends cleanly', async () => {
    // a worker's loop closes what is left after its addons were unloaded: the addon must not
    // leave a close callback of its own behind (this crashed the whole process)
    const nativeUrl = new URL('../../src/ipc/libqb/native.js', import.meta.url).href;
    const code = `
      const { parentPort } = await import('node:worker_threads');
      const { loadQbNative } = await import(${JSON.stringify(nativeUrl)});
      const load = loadQbNative();
      if (!load.ok) throw new Error(load.reason);
      const fd = load.native.dgramBind('cts-worker-' + process.pid + '-' + Date.now(), 4096);
      if (fd < 0) throw new Error('dgramBind ' + fd);
      globalThis.kept = [load.native.pollStart(fd, 1, () => {}), load.native.loopTurns()];
      parentPort.postMessage('ready');
    `;
    const w = new Worker(code, { eval: true });
    const ready = await new Promise<unknown>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.equal(ready, 'ready');
    assert.equal(await w.terminate(), 1, 'terminated (and this process is still here to see it)');
  });
});
