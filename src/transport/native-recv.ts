/**
 * Totem's receive path through the project's addon (native/qbnative.c `udpRecvBatch`): one
 * recvmmsg(2) per readiness event fetches up to 64 datagrams into a reused slab, where Node's
 * dgram makes one recvmsg, a 64 KiB allocation, a source-address string and an event per
 * datagram. Every datagram still becomes a Buffer of its own (SRP keeps received messages in
 * its sort queue), copied out of the slab.
 *
 * The socket stays Node's (binding, buffer sizes, multicast options, the send fallback): its
 * own receiving is stopped and a second descriptor of the socket (dup) is polled, so Node's
 * write watcher on the original descriptor (a queued send) and our read watcher never share
 * one libuv watcher slot. IPv4 only (addresses become strings through a small cache); IPv6
 * sockets keep Node's path. COROSYNC_TS_NODE_UDP=1 turns it off (comparisons).
 */
import type { Socket } from 'node:dgram';
import { POLL_READABLE, loadQbNative, type NativePoller, type QbNative } from '../ipc/libqb/native.js';

/** Largest UDP payload: no datagram is ever truncated into a slot. */
const SLOT_BYTES = 65536;
const BATCH = 64;
const META_WORDS = 8;
const EAGAIN = 11;

export type NativeDatagramHandler = (msg: Buffer, address: string, port: number) => void;

/** One socket's native receive loop. */
export class NativeUdpReceiver {
  private readonly slab = Buffer.allocUnsafeSlow(SLOT_BYTES * BATCH);
  private readonly meta = new Int32Array(BATCH * META_WORDS);
  private readonly addrs = new Map<number, string>();
  private poller: NativePoller | undefined;
  private closed = false;

  private constructor(
    private readonly native: QbNative,
    private readonly fd: number,
    private readonly onDatagram: NativeDatagramHandler,
    private readonly onError: () => void,
  ) {
    this.poller = native.pollStart(fd, POLL_READABLE, (status) => {
      if (status < 0) this.onError();
      this.drain();
    });
  }

  /**
   * Take over receiving for a bound IPv4 socket; undefined (Node keeps receiving) when the
   * addon or Node's internals are not as expected.
   */
  static attach(
    sock: Socket,
    onDatagram: NativeDatagramHandler,
    onError: () => void,
  ): NativeUdpReceiver | undefined {
    if (process.env.COROSYNC_TS_NODE_UDP === '1') return undefined;
    const load = loadQbNative();
    if (!load.ok || typeof load.native.udpRecvBatch !== 'function') return undefined;
    if (sock.address().family !== 'IPv4') return undefined;
    const handle = dgramHandle(sock);
    if (!handle || typeof handle.fd !== 'number' || handle.fd < 0 || typeof handle.recvStop !== 'function') {
      return undefined;
    }
    const fd = load.native.dupFd(handle.fd);
    if (fd < 0) return undefined;
    handle.recvStop();
    return new NativeUdpReceiver(load.native, fd, onDatagram, onError);
  }

  private drain(): void {
    const { native, fd, slab, meta } = this;
    while (!this.closed) {
      const n = native.udpRecvBatch(fd, slab, SLOT_BYTES, meta);
      if (n <= 0) {
        if (n < 0 && n !== -EAGAIN) this.onError();
        return;
      }
      for (let i = 0; i < n; i++) {
        const m = i * META_WORDS;
        const len = meta[m]!;
        const off = i * SLOT_BYTES;
        // its own exact-size memory, as Node's dgram gives: a message SRP keeps in its sort
        // queue must not pin a shared 8 KiB pool chunk (peak RSS +15 % when it did)
        const msg = Buffer.allocUnsafeSlow(len);
        slab.copy(msg, 0, off, off + len);
        this.onDatagram(msg, this.address(meta[m + 4]!), meta[m + 2]!);
        if (this.closed) return;
      }
      if (n < BATCH) return;
    }
  }

  /** Dotted quad of an address word (the 4 bytes as read little-endian), cached per source. */
  private address(word: number): string {
    let s = this.addrs.get(word);
    if (s === undefined) {
      s = `${word & 0xff}.${(word >>> 8) & 0xff}.${(word >>> 16) & 0xff}.${word >>> 24}`;
      if (this.addrs.size > 4096) this.addrs.clear(); // spoofed sources must not grow it
      this.addrs.set(word, s);
    }
    return s;
  }

  /** Stop polling and close our descriptor (before the socket itself is closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.poller) this.native.pollClose(this.poller);
    this.poller = undefined;
    this.native.closeFd(this.fd);
  }
}

interface DgramHandle {
  fd?: unknown;
  recvStop?: () => number;
}

interface DgramState {
  handle?: DgramHandle;
}

function dgramState(sock: Socket): DgramState | undefined {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  return sym ? (sock as unknown as Record<symbol, DgramState | undefined>)[sym] : undefined;
}

function dgramHandle(sock: Socket): (DgramHandle & { fd: number; recvStop: () => number }) | undefined {
  const h = dgramState(sock)?.handle;
  return h && typeof h.fd === 'number' && typeof h.recvStop === 'function'
    ? (h as DgramHandle & { fd: number; recvStop: () => number })
    : undefined;
}
