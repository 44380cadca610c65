/**
 * The daemon side of our stream transport writes replies and dispatch messages with send(2)
 * through the addon when it can and through the socket's own write otherwise
 * (src/ipc/stream-transport.ts writeDirect): replies of pipelined requests arrive complete and
 * in order, also when the client reads none of them for a while (the socket buffer fills and
 * the rest waits in Node's queue); a reply gathered before the daemon closes a connection for a
 * malformed request in the same chunk still reaches the client; a burst of dispatch messages larger than the socket
 * buffer arrives intact once a paused client reads again; large requests of two connections,
 * interleaved, arrive intact (with the addon, all connections are read into one buffer). Both with the addon and with Node's
 * sockets only (the server's `native: false`, as on a machine without the addon).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IpcClientConnection } from '../../src/client/connection.js';
import { CmapReqId, encodeGetRequest, encodeSetRequest } from '../../src/ipc/cmap-codec.js';
import { allocRequest, allocResponse, RESPONSE_HEADER_SIZE } from '../../src/ipc/frame.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { startIpcDaemon } from '../helpers/ipc-daemon.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { waitFor } from '../helpers/daemon-process.js';

const key = (i: number): Buffer => Buffer.from(`w.key${String(i).padStart(4, '0')}`);

const load = loadQbNative();
const modes: Array<[string, boolean, string | false]> = [
  ['Node sockets', false, false],
  ['addon', true, load.ok ? false : load.reason],
];

for (const [mode, native, skip] of modes)
  describe(`stream transport writes (${mode})`, { skip }, () => {
    it('replies of pipelined requests arrive complete and in order, also after a backlog', async () => {
      const d = await startIpcDaemon({ native });
      try {
        const conn = await IpcClientConnection.connect('cmap', { runDir: d.runDir });
        const value = Buffer.alloc(16_000);
        const n = 400; // 60 × 16 kB replies: more than a unix socket buffer holds
        for (let i = 0; i < n; i++) {
          value.fill(i);
          d.icmap.setValue(key(i).toString(), { type: CmapValueType.BINARY, value: Buffer.from(value) });
        }
        conn.pauseEvents();
        const replies = Array.from({ length: n }, (_, i) => conn.request(encodeGetRequest(key(i), 16_000)));
        const frames = await Promise.all(replies);
        frames.forEach((f, i) => {
          assert.equal(f.readInt32LE(16), 1, `reply ${i}: CS_OK`);
          // the value's bytes end the reply: all equal to i
          const tail = f.subarray(f.length - 16_000);
          assert.ok(
            tail.every((b) => b === (i & 0xff)),
            `reply ${i} carries value ${i}`,
          );
        });
        await conn.close();
      } finally {
        await d.close();
      }
    });

    it('a reply gathered before the daemon closes the connection for a malformed request still arrives', async () => {
      const d = await startIpcDaemon({ native });
      try {
        const conn = await IpcClientConnection.connect('cmap', { runDir: d.runDir });
        const good = conn.request(
          encodeSetRequest(Buffer.from('w.before'), CmapValueType.UINT8, Buffer.from([7])),
        );
        // same tick: both frames leave in one write; the second is a GET without its body, which
        // the service's check refuses: the daemon closes the connection while handling the chunk
        const broken = allocRequest(CmapReqId.GET, 16);
        const bad = assert.rejects(conn.request(broken), /closed the connection/);
        const reply = await good;
        assert.equal(reply.readInt32LE(16), 1, 'the set was answered CS_OK');
        await bad;
        assert.equal(d.icmap.getValue('w.before')?.value, 7);
        await d.waitForLog(/closed: invalid request/);
      } finally {
        await d.close();
      }
    });

    it('large requests of two connections, interleaved across reads, arrive intact', async () => {
      // with the addon every connection is read into one shared buffer: a frame that spans
      // reads must be kept out of it before the other connection's read overwrites it
      const d = await startIpcDaemon({ native });
      try {
        const conns = await Promise.all(
          [0, 1].map(() => IpcClientConnection.connect('cmap', { runDir: d.runDir })),
        );
        const n = 60;
        const size = 16_000; // cmap's largest value is 16 KiB: ~4 requests per 64 KiB read, one cut
        const pending: Promise<Buffer>[] = [];
        for (let i = 0; i < n; i++)
          conns.forEach((c, k) => {
            const value = Buffer.alloc(size, (i * 2 + k) & 0xff);
            value.writeUInt32LE(i * 2 + k, 0);
            pending.push(
              c.request(encodeSetRequest(Buffer.from(`w.big${k}.${i}`), CmapValueType.BINARY, value)),
            );
          });
        const replies = await Promise.all(pending);
        replies.forEach((r, j) => assert.equal(r.readInt32LE(16), 1, `set ${j}: CS_OK`));
        for (let i = 0; i < n; i++)
          for (const k of [0, 1]) {
            const v = Buffer.from(d.icmap.getValue(`w.big${k}.${i}`)?.value as Uint8Array);
            assert.equal(v.length, size);
            assert.equal(v.readUInt32LE(0), i * 2 + k, `w.big${k}.${i}: its own value`);
            assert.ok(
              v.subarray(4).every((b) => b === ((i * 2 + k) & 0xff)),
              `w.big${k}.${i}: intact`,
            );
          }
        await Promise.all(conns.map((c) => c.close()));
      } finally {
        await d.close();
      }
    });

    it('a burst of dispatch messages beyond the socket buffer arrives intact after a pause', async () => {
      const d = await startIpcDaemon({ native });
      try {
        const conn = await IpcClientConnection.connect('cmap', { runDir: d.runDir });
        const server = d.server.connections().find((c) => c.serviceName === 'cmap')!;
        const got: Buffer[] = [];
        conn.onEvent = (f) => got.push(f);
        conn.pauseEvents();
        const n = 400;
        const size = 20_000; // 8 MB in one event-loop turn
        for (let i = 0; i < n; i++) {
          const f = allocResponse(90, size, 1);
          f.writeUInt32LE(i, RESPONSE_HEADER_SIZE);
          f.fill(i & 0xff, RESPONSE_HEADER_SIZE + 4);
          server.sendEvent(f);
        }
        await conn.request(encodeGetRequest(key(0), 16)); // a round trip while the events wait
        assert.equal(got.length, 0);
        conn.resumeEvents();
        await waitFor(() => got.length === n, `${n} dispatch messages`, 10_000);
        got.forEach((f, i) => {
          assert.equal(f.length, size);
          assert.equal(f.readUInt32LE(RESPONSE_HEADER_SIZE), i, `message ${i} in order`);
          assert.ok(
            f.subarray(RESPONSE_HEADER_SIZE + 4).every((b) => b === (i & 0xff)),
            `message ${i} intact`,
          );
        });
        await conn.close();
      } finally {
        await d.close();
      }
    });
  });
