/**
 * The native UDP socket's send queue (src/transport/udp-socket.ts) behind a full socket buffer,
 * driven by a scripted addon: what sendto(2) answers is chosen per call, so the -EAGAIN and
 * -ENOBUFS paths, which a loopback socket almost never takes, run deterministically.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  POLL_READABLE,
  POLL_WRITABLE,
  type NativePoller,
  type QbNative,
} from '../../src/ipc/libqb/native.js';
import { NativeUdpSocket, type UdpSocketOptions } from '../../src/transport/udp-socket.js';

const EAGAIN = 11;
const ENOBUFS = 105;
const EPERM = 1;
const EINVAL = 22;
const FD = 42;
const PEER = '127.0.0.2';

/**
 * A scripted addon: sendto answers from `answers` (then the length), every call is recorded;
 * recvmmsg answers from `batches`. `readable()` is a readable event whose first batch the
 * "addon" took before calling back; further batches come from udpRecvNext.
 */
class ScriptedNative {
  /** What the next sendto / segmented sends return: a negative errno, or 0 / none left: taken. */
  answers: number[] = [];
  segmentAnswers: number[] = [];
  /** What each recvmmsg returns: datagrams (their bytes) or a negative errno; none left: -EAGAIN. */
  batches: Array<Buffer[] | number> = [];
  recvNextCalls = 0;
  /** The bytes of every sendto that the kernel took, in order (copies). */
  readonly sent: Buffer[] = [];
  readonly sendCalls: Buffer[] = [];
  segmentCalls = 0;
  readonly pollEvents: number[] = [];
  pollCb: ((status: number, events: number, received: number) => void) | undefined;
  closed = false;
  private slab: Buffer | undefined;
  private slot = 0;
  private meta: Int32Array | undefined;

  udpOpen(): number {
    return FD;
  }
  udpRecvPollStart(
    _fd: number,
    slab: Buffer,
    slotBytes: number,
    meta: Int32Array,
    cb: (status: number, events: number, received: number) => void,
  ): NativePoller {
    this.slab = slab;
    this.slot = slotBytes;
    this.meta = meta;
    this.pollEvents.push(POLL_READABLE);
    this.pollCb = cb;
    return {} as NativePoller;
  }
  pollSet(_p: NativePoller, events: number): void {
    this.pollEvents.push(events);
  }
  pollClose(): void {
    this.pollCb = undefined;
  }
  closeFd(): void {
    this.closed = true;
  }
  udpRecvNext(): number {
    this.recvNextCalls++;
    return this.take();
  }
  /** One recvmmsg: the next scripted batch written into the slab and meta. */
  private take(): number {
    const b = this.batches.shift();
    if (b === undefined) return -EAGAIN;
    if (typeof b === 'number') return b;
    b.forEach((d, i) => {
      d.copy(this.slab!, i * this.slot);
      this.meta!.fill(0, i * 8, i * 8 + 8);
      this.meta![i * 8] = d.length;
      this.meta![i * 8 + 2] = 5405;
      this.meta![i * 8 + 4] = 0x0200007f; // 127.0.0.2, read little-endian
    });
    return b.length;
  }
  udpSendTo(fd: number, data: Buffer): number {
    assert.equal(fd, FD);
    this.sendCalls.push(Buffer.from(data));
    const a = this.answers.shift();
    if (a !== undefined && a < 0) return a;
    this.sent.push(Buffer.from(data));
    return data.length;
  }
  udpSendSegments(fd: number, bufs: readonly Buffer[], first: number, count: number): number {
    assert.equal(fd, FD);
    this.segmentCalls++;
    const a = this.segmentAnswers.shift();
    if (a !== undefined && a < 0) return a;
    let n = 0;
    for (let i = first; i < first + count; i++) {
      this.sent.push(Buffer.from(bufs[i]!));
      n += bufs[i]!.length;
    }
    return n;
  }
  /** The socket became readable (libuv's poll callback, after the addon's first recvmmsg). */
  readable(): void {
    this.pollCb!(0, POLL_READABLE, this.take());
  }
  /** The socket became writable (the addon reads nothing for this event). */
  writable(): void {
    this.pollCb?.(0, POLL_WRITABLE, -EAGAIN);
  }
}

/** The socket options of these tests (127.0.0.1:5405) with the given handlers. */
function socketOptions(
  handlers: Pick<UdpSocketOptions, 'onDatagram' | 'onError' | 'onSendError'>,
): UdpSocketOptions {
  return { family: 4, addr: '127.0.0.1', port: 5405, reuseAddr: false, bufferSize: 0, ...handlers };
}

async function openScripted(): Promise<{
  sock: NativeUdpSocket;
  native: ScriptedNative;
  sendErrors: () => number;
}> {
  const native = new ScriptedNative();
  let sendErrors = 0;
  const opts = socketOptions({
    onDatagram: () => assert.fail('no datagram expected'),
    onError: () => assert.fail('no socket error expected'),
    onSendError: () => sendErrors++,
  });
  const sock = (await NativeUdpSocket.open(native as unknown as QbNative, opts)) as NativeUdpSocket;
  return { sock, native, sendErrors: () => sendErrors };
}

const dgram = (i: number): Buffer => Buffer.from(`datagram ${i}`);

describe('native UDP socket: the send queue behind a full socket buffer', () => {
  it('a refused datagram is queued (a copy), later ones wait behind it, and all leave in order once writable', async () => {
    const { sock, native } = await openScripted();
    assert.equal(sock.send(dgram(0), 5405, PEER), 'sent');
    native.answers = [-EAGAIN];
    const d1 = dgram(1);
    assert.equal(sock.send(d1, 5405, PEER), 'queued');
    assert.deepEqual(native.pollEvents.at(-1), POLL_READABLE | POLL_WRITABLE, 'waits for room');
    d1.fill(0); // totem reuses its token buffer as soon as send returns
    // while datagrams wait, new ones queue behind them without a system call (order is kept)
    const calls = native.sendCalls.length;
    assert.equal(sock.send(dgram(2), 5405, PEER), 'queued');
    assert.equal(sock.send(dgram(3), 5405, PEER), 'queued');
    assert.equal(native.sendCalls.length, calls);

    native.writable();
    assert.deepEqual(
      native.sent.map((b) => b.toString()),
      ['datagram 0', 'datagram 1', 'datagram 2', 'datagram 3'],
    );
    assert.equal(native.pollEvents.at(-1), POLL_READABLE, 'writability no longer watched');
    // the queue is empty again: the next datagram goes straight out
    assert.equal(sock.send(dgram(4), 5405, PEER), 'sent');
    await sock.close();
  });

  it('ENOBUFS is a full buffer too; a flush that meets it again keeps the rest for the next writable event', async () => {
    const { sock, native } = await openScripted();
    native.answers = [-ENOBUFS];
    for (let i = 0; i < 4; i++) assert.equal(sock.send(dgram(i), 5405, PEER), 'queued');
    native.answers = [0, -EAGAIN]; // 0: taken
    native.writable();
    assert.deepEqual(
      native.sent.map((b) => b.toString()),
      ['datagram 0'],
    );
    assert.equal(native.pollEvents.at(-1), POLL_READABLE | POLL_WRITABLE, 'still waiting for room');
    native.writable();
    assert.deepEqual(
      native.sent.map((b) => b.toString()),
      ['datagram 0', 'datagram 1', 'datagram 2', 'datagram 3'],
    );
    assert.equal(native.pollEvents.at(-1), POLL_READABLE);
    await sock.close();
  });

  it('a queued datagram that then fails is counted as a send error and the queue goes on', async () => {
    const { sock, native, sendErrors } = await openScripted();
    native.answers = [-EAGAIN];
    for (let i = 0; i < 3; i++) assert.equal(sock.send(dgram(i), 5405, PEER), 'queued');
    native.answers = [-EPERM];
    native.writable();
    assert.equal(sendErrors(), 1);
    assert.deepEqual(
      native.sent.map((b) => b.toString()),
      ['datagram 1', 'datagram 2'],
    );
    await sock.close();
  });

  it('any other errno of a direct send drops the datagram (error), nothing is queued', async () => {
    const { sock, native } = await openScripted();
    native.answers = [-EPERM];
    assert.equal(sock.send(dgram(0), 5405, PEER), 'error');
    assert.equal(sock.send(dgram(1), 5405, PEER), 'sent', 'the next one goes straight out');
    assert.deepEqual(
      native.sent.map((b) => b.toString()),
      ['datagram 1'],
    );
    await sock.close();
  });

  it('the queue is bounded: past 4096 waiting datagrams further ones are dropped', async () => {
    const { sock, native } = await openScripted();
    native.answers = [-EAGAIN];
    for (let i = 0; i < 4096; i++) assert.equal(sock.send(dgram(i), 5405, PEER), 'queued');
    assert.equal(sock.send(dgram(4096), 5405, PEER), 'error');
    native.writable();
    assert.equal(native.sent.length, 4096);
    assert.equal(native.sent.at(-1)!.toString(), 'datagram 4095');
    await sock.close();
  });

  it('close drops what waits; a closed socket sends nothing', async () => {
    const { sock, native } = await openScripted();
    native.answers = [-EAGAIN];
    assert.equal(sock.send(dgram(0), 5405, PEER), 'queued');
    await sock.close();
    assert.ok(native.closed);
    native.writable(); // a late event after close: nothing is sent
    assert.equal(native.sent.length, 0);
    assert.equal(sock.send(dgram(1), 5405, PEER), 'error');
  });

  it('a segmented send refused for room queues its datagrams one by one, in order, behind the queue', async () => {
    const { sock, native } = await openScripted();
    const bufs = [0, 1, 2, 3].map(dgram);
    native.segmentAnswers = [-EAGAIN];
    assert.equal(sock.sendSegments(bufs, 1, 3, 16, 5405, PEER), 'queued');
    bufs.forEach((b) => b.fill(0)); // the caller's buffers are free again
    assert.equal(sock.send(dgram(9), 5405, PEER), 'queued');
    native.writable();
    assert.deepEqual(
      native.sent.map((b) => b.toString()),
      ['datagram 1', 'datagram 2', 'datagram 3', 'datagram 9'],
    );
    await sock.close();
  });

  it('a segmented send the kernel cannot do turns segmentation off for the socket', async () => {
    const { sock, native } = await openScripted();
    native.segmentAnswers = [-EINVAL];
    assert.equal(sock.sendSegments([dgram(0), dgram(1)], 0, 2, 16, 5405, PEER), 'unsupported');
    assert.equal(sock.sendSegments([dgram(0), dgram(1)], 0, 2, 16, 5405, PEER), 'unsupported');
    assert.equal(native.segmentCalls, 1, 'not tried again');
    await sock.close();
  });
});

async function openReceiving(): Promise<{
  sock: NativeUdpSocket;
  native: ScriptedNative;
  got: string[];
  errors: () => number;
}> {
  const native = new ScriptedNative();
  const got: string[] = [];
  let errors = 0;
  const opts = socketOptions({
    onDatagram: (msg, address, port) => got.push(`${msg.toString()} from ${address}:${port}`),
    onError: () => errors++,
    onSendError: () => assert.fail('no send error expected'),
  });
  const sock = (await NativeUdpSocket.open(native as unknown as QbNative, opts)) as NativeUdpSocket;
  return { sock, native, got, errors: () => errors };
}

describe('native UDP socket: the batch the addon reads before calling back', () => {
  it('the first batch comes with the event; no further recvmmsg unless it was full', async () => {
    const { sock, native, got } = await openReceiving();
    native.batches = [[dgram(0), dgram(1)]];
    native.readable();
    assert.deepEqual(got, ['datagram 0 from 127.0.0.2:5405', 'datagram 1 from 127.0.0.2:5405']);
    assert.equal(native.recvNextCalls, 0, 'a short batch: nothing more is waiting');
    await sock.close();
  });

  it('a full batch (64) is followed by recvmmsg calls until one comes back short', async () => {
    const { sock, native, got } = await openReceiving();
    const full = (from: number): Buffer[] => Array.from({ length: 64 }, (_, i) => dgram(from + i));
    native.batches = [full(0), full(64), [dgram(128)]];
    native.readable();
    assert.equal(got.length, 129);
    assert.equal(got[128], 'datagram 128 from 127.0.0.2:5405');
    assert.equal(native.recvNextCalls, 2);
    await sock.close();
  });

  it('a receive error is counted, EAGAIN is not; a writable event reads nothing and flushes', async () => {
    const { sock, native, got, errors } = await openReceiving();
    native.batches = [-EAGAIN];
    native.readable();
    assert.equal(errors(), 0);
    native.batches = [-EINVAL];
    native.readable();
    assert.equal(errors(), 1);
    native.answers = [-EAGAIN];
    assert.equal(sock.send(dgram(7), 5405, PEER), 'queued');
    native.batches = [[dgram(8)]]; // waiting, but a writable-only event does not read
    native.writable();
    assert.deepEqual(
      native.sent.map((b) => b.toString()),
      ['datagram 7'],
    );
    assert.deepEqual(got, []);
    assert.equal(native.recvNextCalls, 0);
    await sock.close();
  });
});
