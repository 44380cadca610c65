/**
 * The client's channels, read by Node's net.Socket or by the native addon (event-channel.ts):
 * both hand over every dispatch frame intact and in order (also frames that span reads of the
 * native 64 KiB buffer), keep the frames they handed over unchanged by later reads, stop and
 * resume with pause/resume, report the daemon closing the connection, and expose the socket's
 * descriptor until closed; the request channel hands every reply of pipelined requests to its
 * request, intact, and replies kept by callers stay unchanged by later reads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync } from 'node:fs';
import { IpcClientConnection } from '../../src/client/connection.js';
import { NativeRequestChannel } from '../../src/client/event-channel.js';
import { serviceSocketPath } from '../../src/common/rundir.js';
import { allocResponse, RESPONSE_HEADER_SIZE } from '../../src/ipc/frame.js';
import { decodeGetResponse, encodeGetRequest } from '../../src/ipc/cmap-codec.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import type { IpcServerConnection } from '../../src/ipc/server.js';
import { startIpcDaemon, type IpcDaemon } from '../helpers/ipc-daemon.js';
import { waitFor } from '../helpers/daemon-process.js';

const EVENT_ID = 77;

/** A dispatch frame of `size` bytes whose body repeats the byte `n & 0xff` after a u32 `n`. */
function eventFrame(n: number, size: number): Buffer {
  const f = allocResponse(EVENT_ID, size, 1);
  f.writeUInt32LE(n, RESPONSE_HEADER_SIZE);
  f.fill(n & 0xff, RESPONSE_HEADER_SIZE + 4);
  return f;
}

function checkFrame(f: Buffer, n: number, size: number): void {
  assert.equal(f.length, size, `frame ${n}: length`);
  assert.equal(f.readInt32LE(0), EVENT_ID);
  assert.equal(f.readUInt32LE(RESPONSE_HEADER_SIZE), n, `frame ${n}: number`);
  for (let i = RESPONSE_HEADER_SIZE + 4; i < size; i++) {
    if (f[i] !== (n & 0xff)) assert.fail(`frame ${n}: byte ${i} is ${f[i]}, not ${n & 0xff}`);
  }
}

async function open(d: IpcDaemon, native: boolean): Promise<[IpcClientConnection, IpcServerConnection]> {
  const conn = await IpcClientConnection.connect('cmap', { runDir: d.runDir, native });
  let server: IpcServerConnection | undefined;
  await waitFor(
    () => (server = d.server.connections().find((c) => c.serviceName === 'cmap')) !== undefined,
    'server side',
    3000,
  );
  return [conn, server!];
}

const native = loadQbNative();
const modes: Array<[string, boolean, string | false]> = [
  ['net.Socket', false, false],
  ['native addon', true, native.ok ? false : native.reason],
];

for (const [name, native, skip] of modes) {
  describe(`client event channel (${name})`, { skip }, () => {
    it('hands over every frame intact and in order, also across reads; kept frames stay unchanged', async () => {
      const d = await startIpcDaemon();
      try {
        const [conn, server] = await open(d, native);
        const got: Buffer[] = [];
        conn.onEvent = (f) => got.push(f);
        // sizes chosen so frames straddle the 64 KiB reads: 40 × 5 003 B ≈ 200 KB in one burst
        const sizes = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 5003 : i % 3 === 1 ? 28 : 70_001));
        sizes.forEach((s, i) => server.sendEvent(eventFrame(i, s)));
        await waitFor(() => got.length === sizes.length, `${sizes.length} frames`, 5000);
        // a second burst after the first was handed over: the first frames must not change
        sizes.forEach((s, i) => server.sendEvent(eventFrame(1000 + i, s)));
        await waitFor(() => got.length === 2 * sizes.length, 'second burst', 5000);
        sizes.forEach((s, i) => {
          checkFrame(got[i]!, i, s);
          checkFrame(got[sizes.length + i]!, 1000 + i, s);
        });
        await conn.close();
      } finally {
        await d.close();
      }
    });

    it('pause stops the frames, resume brings the held ones; the descriptor is valid until close', async () => {
      const d = await startIpcDaemon();
      try {
        const [conn, server] = await open(d, native);
        const fd = conn.eventFd();
        assert.ok(fd >= 0, 'event channel descriptor');
        assert.ok(fstatSync(fd).isSocket(), 'the descriptor is a socket');
        const got: Buffer[] = [];
        conn.onEvent = (f) => got.push(f);
        server.sendEvent(eventFrame(1, 100));
        await waitFor(() => got.length === 1, 'first frame', 3000);
        conn.pauseEvents();
        for (let i = 2; i <= 5; i++) server.sendEvent(eventFrame(i, 100));
        // a reply sent after those events arrives on the other socket; the paused channel keeps
        // its frames unread meanwhile
        const reply = await conn.request(allocRequestFrame());
        assert.ok(reply.length >= RESPONSE_HEADER_SIZE);
        assert.equal(got.length, 1, 'no frame while paused');
        conn.resumeEvents();
        await waitFor(() => got.length === 5, 'held frames after resume', 3000);
        got.forEach((f, i) => checkFrame(f, i + 1, 100));
        await conn.close();
        assert.equal(conn.eventFd(), -1);
      } finally {
        await d.close();
      }
    });

    it('the daemon closing the connection is reported once, with the reason', async () => {
      const d = await startIpcDaemon();
      try {
        const [conn, server] = await open(d, native);
        const lost: string[] = [];
        conn.onLost = (e) => lost.push(e.message);
        server.close('test closes it');
        await waitFor(() => lost.length > 0, 'connection lost', 3000);
        assert.equal(lost.length, 1);
        assert.match(lost[0]!, /closed the connection/);
        assert.equal(conn.alive, false);
        await assert.rejects(conn.request(allocRequestFrame()), /closed the connection/);
      } finally {
        await d.close();
      }
    });
  });
}

for (const [name, native, skip] of modes) {
  describe(`client request channel (${name})`, { skip }, () => {
    it('pipelined replies reach their requests intact; kept replies stay unchanged by later reads', async () => {
      const d = await startIpcDaemon();
      try {
        const [conn] = await open(d, native);
        // values of many lengths (up to 3 KiB), so replies straddle the native reader's reads
        const value = (i: number): string =>
          `v${i}:`.padEnd(1 + ((i * 997) % 3000), String.fromCharCode(97 + (i % 26)));
        const N = 300;
        for (let i = 0; i < N; i++)
          d.icmap.setValue(`test.pipe.k${i}`, { type: CmapValueType.STRING, value: value(i) });
        const burst = (): Promise<Buffer[]> =>
          Promise.all(
            Array.from({ length: N }, (_, i) =>
              conn.request(encodeGetRequest(Buffer.from(`test.pipe.k${i}`), 4096)),
            ),
          );
        const check = (replies: Buffer[], what: string): void =>
          replies.forEach((r, i) => {
            const g = decodeGetResponse(r);
            assert.equal(g.error, 1, `${what} ${i}: CS_OK`);
            assert.equal(g.data.toString('latin1'), `${value(i)}\0`, `${what} ${i}: value`);
          });
        const first = await burst();
        check(first, 'first burst');
        const second = await burst();
        check(second, 'second burst');
        check(first, 'first burst after the second');
        await conn.close();
      } finally {
        await d.close();
      }
    });
  });
}

describe('native request channel', { skip: native.ok ? false : native.reason }, () => {
  it('its write socket closing on our side (a failed write) ends the channel once, with the reason', async () => {
    const d = await startIpcDaemon();
    try {
      assert.ok(native.ok);
      const ch = NativeRequestChannel.connectRequest(native.native, serviceSocketPath(d.runDir, 'cmap'));
      const ends: string[] = [];
      ch.start(
        () => undefined,
        (reason) => ends.push(reason),
      );
      ch.socket.destroy();
      await waitFor(() => ends.length > 0, 'channel end', 3000);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(ends, ['connection error: EPIPE']);
      assert.equal(ch.destroyed, true, 'the reader is closed with the socket');
      assert.throws(
        () => NativeRequestChannel.connectRequest(native.native, `${d.runDir}/no-such-socket`),
        /cannot connect to .*no-such-socket: ENOENT/,
      );
    } finally {
      await d.close();
    }
  });
});

describe('daemon event socket buffer', { skip: native.ok ? false : native.reason }, () => {
  it('a client that does not read leaves 1 MiB of events in the socket before the daemon queues any', async () => {
    const d = await startIpcDaemon();
    try {
      const [conn, server] = await open(d, true);
      const got: Buffer[] = [];
      conn.onEvent = (f) => got.push(f);
      conn.pauseEvents();
      // 16 × 64 KiB: five times the kernel's default socket buffer
      for (let i = 0; i < 16; i++) server.sendEvent(eventFrame(i, 65_536));
      // the daemon writes its events at the end of the current turn (a microtask): one
      // setImmediate later every write has been tried
      await new Promise((r) => setImmediate(r));
      assert.equal(server.stats.queued, 0, 'every event went into the socket');
      conn.resumeEvents();
      await waitFor(() => got.length === 16, '16 frames', 5000);
      got.forEach((f, i) => checkFrame(f, i, 65_536));
      await conn.close();
    } finally {
      await d.close();
    }
  });
});

/** cmap's "get" of a key that does not exist: any request the cmap service answers. */
function allocRequestFrame(): Buffer {
  return encodeGetRequest(Buffer.from('no.such.key'), 0);
}
