/** totem's UDP sockets (src/transport/udp-socket.ts): the native kind and Node's, side by side. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { POLL_READABLE, loadQbNative } from '../../src/ipc/libqb/native.js';
import { sockaddrOf } from '../../src/transport/native-send.js';
import { openUdpSocket, type UdpSocket } from '../../src/transport/udp-socket.js';
import { boundUdp, nativeSkip } from '../helpers/native-udp.js';
import { uniqueLoopbackAddr } from '../helpers/daemon-process.js';

interface Got {
  msg: Buffer;
  address: string;
  port: number;
}

/** A socket on a fresh loopback address (retrying the port on a clash) and what it received. */
async function open(
  api: 'native' | 'node',
  /** Called after each datagram was recorded, inside the socket's callback. */
  onEach?: (msg: Buffer) => void,
): Promise<{ sock: UdpSocket; addr: string; port: number; got: Got[]; wait: (n: number) => Promise<void> }> {
  const addr = uniqueLoopbackAddr();
  const got: Got[] = [];
  let want = 0;
  let reached: (() => void) | undefined;
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    try {
      const sock = await openUdpSocket({
        family: 4,
        addr,
        port,
        reuseAddr: false,
        bufferSize: 1 << 20,
        api,
        onDatagram: (msg, address, from) => {
          // the socket lends its receive buffer for the call only: keep a copy
          got.push({ msg: Buffer.from(msg), address, port: from });
          onEach?.(msg);
          if (got.length >= want) reached?.();
        },
        onError: () => assert.fail('no socket error expected'),
        onSendError: () => assert.fail('no send error expected'),
      });
      const wait = (n: number): Promise<void> => {
        want = n;
        if (got.length >= n) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`only ${got.length} of ${n} datagrams in 5 s`)),
            5000,
          );
          reached = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      };
      return { sock, addr, port, got, wait };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 5) throw err;
    }
  }
}

/** A socket on addr:port that ignores whatever it gets. */
function bindOnly(api: 'native' | 'node', addr: string, port: number): Promise<UdpSocket> {
  const ignore = (): void => undefined;
  return openUdpSocket({
    family: 4,
    addr,
    port,
    reuseAddr: false,
    bufferSize: 0,
    api,
    onDatagram: ignore,
    onError: ignore,
    onSendError: ignore,
  });
}

for (const api of ['native', 'node'] as const) {
  describe(`UDP socket (${api})`, { skip: api === 'native' ? nativeSkip : false }, () => {
    it('receives every datagram whole and in order with its source, over several recvmmsg batches', async () => {
      const rx = await open(api);
      assert.equal(rx.sock.api, api);
      const tx = await boundUdp('udp4', '127.0.0.1');
      const groups = [
        // 150 small ones queued at once: more than one batch of 64
        Array.from({ length: 150 }, (_, i) => Buffer.alloc(100, i & 0xff)),
        [Buffer.alloc(65507, 9)], // the largest UDP payload fits a slot
        Array.from({ length: 40 }, (_, i) => Buffer.alloc(1 + ((i * 97) % 1500), i)),
      ];
      const sent: Buffer[] = [];
      for (const g of groups) {
        sent.push(...g);
        for (const b of g) tx.send(b, rx.port, rx.addr);
        await rx.wait(sent.length);
      }
      assert.deepEqual(
        rx.got.map((g) => g.msg),
        sent,
      );
      assert.ok(rx.got.every((g) => g.address === '127.0.0.1' && g.port === tx.address().port));
      await rx.sock.close();
      tx.close();
    });

    it('sends to a peer; the peer sees our bound address and port as the source', async () => {
      const a = await open(api);
      const b = await open(api);
      for (let i = 0; i < 10; i++) assert.equal(a.sock.send(Buffer.from(`m${i}`), b.port, b.addr), 'sent');
      await b.wait(10);
      assert.deepEqual(
        b.got.map((g) => g.msg.toString()),
        Array.from({ length: 10 }, (_, i) => `m${i}`),
      );
      assert.ok(b.got.every((g) => g.address === a.addr && g.port === a.port));
      await a.sock.close();
      await b.sock.close();
      assert.equal(
        a.sock.send(Buffer.from('late'), b.port, b.addr),
        'error',
        'a closed socket sends nothing',
      );
    });

    it('discardQueued inside the callback drops the rest of the batch and what the kernel holds (native; node: nothing)', async () => {
      let discarded = -1;
      const rx = await open(api, (msg) => {
        if (msg.toString() === 'flush') discarded = rx.sock.discardQueued();
      });
      const tx = await boundUdp('udp4', '127.0.0.1');
      // one synchronous loop: all 101 are in the kernel's queue before the socket reads
      tx.send(Buffer.from('flush'), rx.port, rx.addr);
      for (let i = 0; i < 100; i++) tx.send(Buffer.from(`old ${i}`), rx.port, rx.addr);
      tx.send(Buffer.from('after'), rx.port, rx.addr);
      if (api === 'native') {
        await rx.wait(1);
        assert.equal(discarded, 101, 'the 63 of the batch after it and the 38 the kernel held');
        tx.send(Buffer.from('later'), rx.port, rx.addr);
        await rx.wait(2);
        assert.deepEqual(
          rx.got.map((g) => g.msg.toString()),
          ['flush', 'later'],
          'nothing discarded is handed on; the socket goes on receiving',
        );
      } else {
        await rx.wait(102);
        assert.equal(discarded, 0, "Node's sockets hand on every datagram");
      }
      await rx.sock.close();
      tx.close();
    });

    it('a second bind of the same address and port fails with EADDRINUSE', async () => {
      const a = await open(api);
      await assert.rejects(
        bindOnly(api, a.addr, a.port),
        (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE' && e.syscall === 'bind',
      );
      await a.sock.close();
      // and the port is free again once closed
      const again = await bindOnly(api, a.addr, a.port);
      await again.close();
    });

    it('socket options: multicast TTL, loopback and interface, broadcast; a bad group is an error', async () => {
      const a = await open(api);
      a.sock.setMulticastTTL(1);
      a.sock.setMulticastLoopback(false);
      a.sock.setMulticastInterface(a.addr);
      a.sock.setBroadcast(true);
      assert.throws(
        () => a.sock.addMembership('127.0.0.1', a.addr),
        (e: NodeJS.ErrnoException) => typeof e.code === 'string',
      );
      await a.sock.close();
    });
  });
}

describe('UDP socket (native): segmented sends', { skip: nativeSkip }, () => {
  it('a run of equal datagrams (the last shorter) arrives as the same datagrams, in order', async () => {
    const a = await open('native');
    const b = await open('native');
    const bufs = [Buffer.from('skip'), ...[1200, 1200, 1200, 500].map((n, i) => Buffer.alloc(n, 0x61 + i))];
    assert.ok(a.sock.sendSegments, 'the native socket has segmented sends');
    assert.equal(a.sock.sendSegments(bufs, 1, 4, 1200, b.port, b.addr), 'sent');
    await b.wait(4);
    assert.deepEqual(
      b.got.map((g) => g.msg),
      bufs.slice(1),
    );
    assert.ok(b.got.every((g) => g.address === a.addr && g.port === a.port));
    await a.sock.close();
    await b.sock.close();
  });

  it('a run the kernel refuses makes the socket stop trying; plain sends go on', async () => {
    const a = await open('native');
    const b = await open('native');
    const send = a.sock.sendSegments!.bind(a.sock);
    // not a valid run (the second is longer than the segment size): EINVAL, as the kernel answers
    // runs it cannot segment
    const bad = [Buffer.alloc(100), Buffer.alloc(200)];
    assert.equal(send(bad, 0, 2, 100, b.port, b.addr), 'unsupported');
    const good = [Buffer.alloc(100, 1), Buffer.alloc(100, 2)];
    assert.equal(send(good, 0, 2, 100, b.port, b.addr), 'unsupported', 'not tried again');
    assert.equal(a.sock.send(Buffer.from('plain'), b.port, b.addr), 'sent');
    await b.wait(1);
    assert.equal(b.got[0]!.msg.toString(), 'plain');
    await a.sock.close();
    await b.sock.close();
  });
});

describe(
  'qbnative udpRecvPollStart / udpRecvNext: the batch read before the callback',
  { skip: nativeSkip },
  () => {
    it('a readable event brings the count, the bytes in the slab and the sources in meta; pollClose stops it', async () => {
      const load = loadQbNative();
      assert.ok(load.ok);
      const native = load.native;
      const addr = uniqueLoopbackAddr();
      let fd = -1;
      let port = 0;
      for (let attempt = 0; fd < 0 && attempt < 20; attempt++) {
        port = 20000 + Math.floor(Math.random() * 30000);
        fd = native.udpOpen(sockaddrOf(addr, port)!, false, 1 << 20);
      }
      assert.ok(fd >= 0, `udpOpen: ${fd}`);
      const sender = await boundUdp('udp4', addr);
      const slab = Buffer.alloc(4 * 2048);
      const meta = new Int32Array(4 * 8);
      const events: Array<{ status: number; events: number; received: number; first: string }> = [];
      let wake: (() => void) | undefined;
      const poller = native.udpRecvPollStart(fd, slab, 2048, meta, (status, ev, received) => {
        events.push({
          status,
          events: ev,
          received,
          first: received > 0 ? slab.toString('utf8', 0, meta[0]) : '',
        });
        wake?.();
      });
      try {
        sender.send('hello', port, addr);
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no readable event within 5 s')), 5000);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        assert.equal(events[0]!.status, 0);
        assert.equal(events[0]!.events & POLL_READABLE, POLL_READABLE);
        assert.equal(events[0]!.received, 1);
        assert.equal(events[0]!.first, 'hello');
        assert.equal(meta[2], sender.address().port, 'source port');
        assert.equal(meta[3], 4, 'family');
        // nothing left: the next batch finds the socket empty
        assert.equal(native.udpRecvNext(poller), -11 /* EAGAIN */);
      } finally {
        native.pollClose(poller);
        sender.close();
        native.closeFd(fd);
      }
    });

    it('refuses a slab shorter than one slot, a meta that is not an Int32Array, udpRecvNext on a plain poller', () => {
      const load = loadQbNative();
      assert.ok(load.ok);
      const start = load.native.udpRecvPollStart.bind(load.native);
      assert.throws(
        () => start(0, Buffer.alloc(100), 2048, new Int32Array(8), () => undefined),
        /ERANGE|slot/,
      );
      assert.throws(
        () =>
          start(0, Buffer.alloc(4096), 2048, new Uint32Array(8) as unknown as Int32Array, () => undefined),
        /Int32Array/,
      );
      const fd = load.native.udpOpen(sockaddrOf(uniqueLoopbackAddr(), 0)!, false, 0);
      assert.ok(fd >= 0, `udpOpen: ${fd}`);
      const plain = load.native.pollStart(fd, 0, () => undefined);
      try {
        assert.throws(() => load.native.udpRecvNext(plain), /not a receiving poller/);
      } finally {
        load.native.pollClose(plain);
        load.native.closeFd(fd);
      }
    });
  },
);

describe('UDP socket (node): no segmented sends', () => {
  it('has no sendSegments (the transport sends one by one)', async () => {
    const a = await open('node');
    assert.equal(a.sock.sendSegments, undefined);
    await a.sock.close();
  });
});
