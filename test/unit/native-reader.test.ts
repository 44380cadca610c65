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
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { NativeStreamReader } from '../../src/ipc/native-reader.js';
import { nativeSkip } from '../helpers/native-udp.js';

describe('NativeStreamReader', { skip: nativeSkip }, () => {
  test('a chunk is the buffer, or a view reused while reads keep their length', async () => {
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
      peer.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
