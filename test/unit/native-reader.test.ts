// NativeStreamReader (src/ipc/native-reader.ts) over a real unix stream socket: chunks are
// views of the caller's buffer, lent for the call; a read of the length of the previous one
// reuses that view object, a read filling the buffer is the buffer itself.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadQbNative, type QbNative } from '../../src/ipc/libqb/native.js';
import { NativeStreamReader } from '../../src/ipc/native-reader.js';
import { nativeSkip } from '../helpers/native-udp.js';

/** A unix stream connection made by the addon to a net.Server (its peer socket on our side). */
async function connected(): Promise<{ native: QbNative; fd: number; peer: Socket; cleanup: () => void }> {
  const load = loadQbNative();
  assert.ok(load.ok);
  const native = load.native;
  const dir = mkdtempSync(join(tmpdir(), 'reader-'));
  const path = join(dir, 'sock');
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const fd = native.streamConnect(path);
  assert.ok(fd >= 0, `streamConnect: ${fd}`);
  const [peer] = (await accepted) as [Socket];
  const cleanup = (): void => {
    peer.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { native, fd, peer, cleanup };
}

describe('NativeStreamReader', { skip: nativeSkip }, () => {
  test('a chunk is the buffer, or a view reused while reads keep their length', async () => {
    const { native, fd, peer, cleanup } = await connected();
    const buf = Buffer.alloc(8);
    const chunks: Array<{ chunk: Buffer; text: string }> = [];
    let wake: (() => void) | undefined;
    const reader = new NativeStreamReader(
      native,
      fd,
      buf,
      (chunk) => {
        chunks.push({ chunk, text: chunk.toString() });
        wake?.();
      },
      () => undefined,
    );
    /** Write `text` from the peer; resolves with the chunk it arrives as (5 s deadline). */
    const next = async (text: string): Promise<{ chunk: Buffer; text: string }> => {
      const n = chunks.length;
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<void>((resolve, reject) => {
        wake = resolve;
        timer = setTimeout(() => reject(new Error(`no chunk for ${JSON.stringify(text)}`)), 5000);
      });
      peer.write(text);
      try {
        await arrived;
      } finally {
        clearTimeout(timer);
      }
      assert.equal(chunks.length, n + 1, 'one chunk per write');
      return chunks[n]!;
    };
    try {
      const a = await next('abc');
      const b = await next('xyz');
      const c = await next('hello');
      const d = await next('12345678');
      assert.deepEqual(
        [a, b, c, d].map((x) => x.text),
        ['abc', 'xyz', 'hello', '12345678'],
      );
      assert.equal(b.chunk, a.chunk, 'same length: the same view');
      assert.notEqual(c.chunk, a.chunk, 'another length: another view');
      assert.equal(c.chunk.buffer, buf.buffer);
      assert.equal(d.chunk, buf, 'a read that fills the buffer is the buffer');
    } finally {
      reader.close();
      cleanup();
    }
  });
  test("a wake-up's first read is the addon's, the rest the reader's; pause stops between chunks; end of stream", async () => {
    const { native, fd, peer, cleanup } = await connected();
    assert.equal(typeof native.streamRecvPollStart, 'function', 'the addon reads before it calls back');
    const texts: string[] = [];
    let pauseAfter = -1;
    let ended: number | undefined;
    let wake: (() => void) | undefined;
    const reader: NativeStreamReader = new NativeStreamReader(
      native,
      fd,
      Buffer.alloc(8),
      (chunk) => {
        texts.push(chunk.toString());
        if (texts.length === pauseAfter) reader.pause();
        wake?.();
      },
      (errno) => {
        ended = errno;
        wake?.();
      },
    );
    /** Resolve once `done()` holds (checked after every chunk and at the end; 5 s deadline). */
    const until = async (done: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    };
    try {
      // 20 bytes in one write: three chunks of one wake-up (8 + 8 + 4), the first read by the addon
      peer.write('abcdefghijklmnopqrst');
      await until(() => texts.join('').length === 20, 'the 20 bytes');
      assert.deepEqual(texts, ['abcdefgh', 'ijklmnop', 'qrst']);
      // paused in the first chunk's callback: nothing more until resumed, then the rest in order
      texts.length = 0;
      pauseAfter = 1;
      peer.write('ABCDEFGHIJKLMNOPQRST');
      await until(() => texts.length === 1, 'the first chunk');
      // a negative check: the rest is in the socket, and 100 ms is time for it to be read wrongly
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(texts, ['ABCDEFGH'], 'no chunk while paused');
      pauseAfter = -1;
      reader.resume();
      await until(() => texts.join('').length === 20, 'the rest after resume');
      assert.deepEqual(texts, ['ABCDEFGH', 'IJKLMNOP', 'QRST']);
      // the peer's end: onEnd(0) once, the reader closed
      peer.end();
      await until(() => ended !== undefined, 'the end of the stream');
      assert.equal(ended, 0);
      assert.equal(reader.closed, true);
    } finally {
      reader.close();
      cleanup();
    }
  });

  test('the addon refuses a buffer argument that is not a Buffer, with a TypeError, before any read', () => {
    const load = loadQbNative();
    assert.ok(load.ok);
    const { native } = load;
    const notBuffer = 'x' as unknown as Buffer;
    assert.throws(() => native.streamRecv(0, notBuffer, 0, 1), {
      name: 'TypeError',
      message: 'expected a Buffer',
    });
    assert.throws(() => native.streamRecvPollStart?.(0, notBuffer, () => undefined), {
      name: 'TypeError',
      message: 'expected a Buffer',
    });
  });
});
