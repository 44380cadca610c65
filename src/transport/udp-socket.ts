/**
 * totem's UDP sockets. Two kinds behind one interface:
 *
 * - **native** (IPv4, the addon built): the socket is opened, bound, read and written through
 *   the project's addon (native/qbnative.c `udpOpen`, `udpRecvPollStart`, `udpSendTo`,
 *   `setSockOpt`). One recvmmsg(2) per readiness event, made by the addon
 *   before it calls into JavaScript, fetches up to 64 datagrams into a reused slab; each is
 *   handed on as a view of the slab (the receiver copies what it keeps). Sends are one
 *   sendto(2) each; a full socket buffer queues the datagram until the socket is writable
 *   again. Node's dgram module is not loaded at all: its bind loads the cluster and
 *   child_process modules (~1.1 MiB of the daemon's RSS) and its send spends several
 *   microseconds of bookkeeping per datagram.
 * - **node** (IPv6, no addon, or COROSYNC_TS_NODE_UDP=1 for comparisons): Node's dgram, with
 *   sends through the addon's sendto when it is there (src/transport/native-send.ts).
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:dgram';
import { errnoException } from '../common/errno.js';
import {
  POLL_READABLE,
  POLL_WRITABLE,
  SOL_SOCKET,
  intOption,
  loadQbNative,
  type NativePoller,
  type QbNative,
} from '../ipc/libqb/native.js';
import { NativeUdpSender, SockaddrCache, sockaddrOf } from './native-send.js';
import { loadBuiltin } from '../common/builtin.js';

export type UdpDatagramHandler = (msg: Buffer, address: string, port: number) => void;

export interface UdpSocketOptions {
  family: 4 | 6;
  /** Numeric address and port to bind. */
  addr: string;
  port: number;
  /** SO_REUSEADDR (the udp transport's sockets share mcastport). */
  reuseAddr: boolean;
  /** SO_RCVBUF / SO_SNDBUF request (the kernel caps it; failures ignored). */
  bufferSize: number;
  onDatagram: UdpDatagramHandler;
  /** A socket error: receiving failed (counted by the caller, never thrown). */
  onError: () => void;
  /** A send that was accepted (queued) failed later. */
  onSendError: () => void;
  /** 'node' forces Node's dgram; default: native when possible. */
  api?: 'native' | 'node';
}

/** What a send did: handed to the kernel, queued behind a full socket buffer, or dropped. */
export type UdpSendResult = 'sent' | 'queued' | 'error';

export interface UdpSocket {
  readonly api: 'native' | 'node';
  send(data: Buffer, port: number, addr: string): UdpSendResult;
  /**
   * bufs[from .. from+count) to one destination as `count` datagrams in one segmented send
   * (UDP_SEGMENT): all but the last exactly `segBytes` long, the last at most that.
   * 'unsupported': this socket or route cannot (the caller sends them one by one). Absent on
   * sockets that never can.
   */
  sendSegments?(
    bufs: readonly Buffer[],
    from: number,
    count: number,
    segBytes: number,
    port: number,
    addr: string,
  ): UdpSendResult | 'unsupported';
  setBroadcast(on: boolean): void;
  /** Join `group` on the interface with address `iface` (IPv4) or `::%ifname` (IPv6). */
  addMembership(group: string, iface: string | undefined): void;
  setMulticastInterface(iface: string): void;
  setMulticastLoopback(on: boolean): void;
  setMulticastTTL(ttl: number): void;
  /**
   * Throw away what is queued for this socket: the datagrams of the batch being handed on that
   * come after the current one (it stops) and what waits in the kernel. Returns how many.
   * Called from inside the datagram callback. Node's sockets cannot (0).
   */
  discardQueued(): number;
  close(): Promise<void>;
}

/** Open and bind a socket. Rejects with an ErrnoException (code EADDRINUSE, ...) on failure. */
export async function openUdpSocket(opts: UdpSocketOptions): Promise<UdpSocket> {
  if (opts.api !== 'node' && opts.family === 4 && process.env.COROSYNC_TS_NODE_UDP !== '1') {
    const load = loadQbNative();
    if (load.ok && typeof load.native.udpOpen === 'function') return NativeUdpSocket.open(load.native, opts);
  }
  return NodeUdpSocket.open(opts);
}

// ---- native ----------------------------------------------------------------------------------

/** Largest UDP payload: no datagram is ever truncated into a slot. */
const SLOT_BYTES = 65536;
const BATCH = 64;
const META_WORDS = 8;
const EAGAIN = 11;
const ENOBUFS = 105;
/** Errors of a segmented send that mean "not on this socket or route" (no checksum offload,
 * an old kernel): the socket stops trying and sends one by one. */
const NO_SEGMENTS = new Set([5 /* EIO */, 22 /* EINVAL */, 92 /* ENOPROTOOPT */, 95 /* EOPNOTSUPP */]);
/** Datagrams kept behind a full socket buffer before further ones are dropped (corosync drops
 * every datagram the kernel refuses; totem retransmits what was lost). */
const SEND_QUEUE_MAX = 4096;

const SO_BROADCAST = 6;
const IPPROTO_IP = 0;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;

function ipv4Bytes(addr: string): Buffer {
  const sa = sockaddrOf(addr, 0);
  if (!sa || sa.length !== 16) throw new TypeError(`'${addr}' is not a numeric IPv4 address`);
  return sa.subarray(4, 8);
}

/** The native kind (exported for the tests of its send queue, with a scripted addon). */
export class NativeUdpSocket implements UdpSocket {
  readonly api = 'native' as const;
  private readonly slab = Buffer.allocUnsafeSlow(SLOT_BYTES * BATCH);
  private readonly meta = new Int32Array(BATCH * META_WORDS);
  /**
   * The last view handed on per slot. A view is a new object per datagram otherwise; a ring's
   * datagrams mostly repeat their length (an idle token is always the same size), and a view
   * of the same slot and length is the same bytes, so it is handed on again.
   */
  private readonly views: Buffer[] = [];
  private readonly addrs = new Map<number, string>();
  private readonly sockaddrs = new SockaddrCache(4);
  private readonly queue: Array<{ data: Buffer; sa: Buffer }> = [];
  private poller: NativePoller | undefined;
  private closed = false;
  /** Datagrams of the batch being handed on after the current one. */
  private batchLeft = 0;
  /** `discardQueued` ran inside the callback: hand on nothing more of this batch. */
  private batchDiscarded = false;

  private constructor(
    private readonly native: QbNative,
    private readonly fd: number,
    private readonly opts: UdpSocketOptions,
  ) {
    this.segmentsOff = typeof native.udpSendSegments !== 'function';
    // the addon reads the first batch before calling us: a token visit makes no call back into
    // the addon to receive
    this.poller = native.udpRecvPollStart(
      fd,
      this.slab,
      SLOT_BYTES,
      this.meta,
      (status, events, received) => {
        if (status < 0) {
          opts.onError();
          this.flush();
          this.drain();
          return;
        }
        if (events & POLL_WRITABLE) this.flush();
        if (this.deliverBatch(received)) this.drain();
      },
    );
  }

  static open(native: QbNative, opts: UdpSocketOptions): Promise<UdpSocket> {
    const sa = sockaddrOf(opts.addr, opts.port);
    if (!sa || sa.length !== 16)
      return Promise.reject(new TypeError(`'${opts.addr}' is not a numeric IPv4 address`));
    const fd = native.udpOpen(sa, opts.reuseAddr, opts.bufferSize);
    if (fd < 0) return Promise.reject(errnoException(fd, 'bind', `${opts.addr}:${opts.port}`));
    return Promise.resolve(new NativeUdpSocket(native, fd, opts));
  }

  send(data: Buffer, port: number, addr: string): UdpSendResult {
    if (this.closed) return 'error';
    const sa = this.sockaddrs.get(addr, port);
    if (!sa) return 'error';
    if (this.queue.length === 0) {
      const n = this.native.udpSendTo(this.fd, data, sa);
      if (n >= 0) return 'sent';
      if (n !== -EAGAIN && n !== -ENOBUFS) return 'error';
      if (this.poller) this.native.pollSet(this.poller, POLL_READABLE | POLL_WRITABLE);
    }
    if (this.queue.length >= SEND_QUEUE_MAX) return 'error';
    // our copy: totem reuses some send buffers (the token's) as soon as the send returns
    this.queue.push({ data: Buffer.from(data), sa });
    return 'queued';
  }

  /** No segmented sends: an addon without them, or the kernel refused one (see NO_SEGMENTS). */
  private segmentsOff: boolean;

  sendSegments(
    bufs: readonly Buffer[],
    from: number,
    count: number,
    segBytes: number,
    port: number,
    addr: string,
  ): UdpSendResult | 'unsupported' {
    if (this.segmentsOff) return 'unsupported';
    if (this.closed) return 'error';
    const sa = this.sockaddrs.get(addr, port);
    if (!sa) return 'error';
    if (this.queue.length === 0) {
      const n = this.native.udpSendSegments(this.fd, bufs, from, count, segBytes, sa);
      if (n >= 0) return 'sent';
      if (NO_SEGMENTS.has(-n)) {
        this.segmentsOff = true;
        return 'unsupported';
      }
      if (n !== -EAGAIN && n !== -ENOBUFS) return 'error';
      if (this.poller) this.native.pollSet(this.poller, POLL_READABLE | POLL_WRITABLE);
    }
    // behind a full socket buffer: one by one, in order, as send() queues them
    if (this.queue.length + count > SEND_QUEUE_MAX) return 'error';
    for (let i = from; i < from + count; i++) this.queue.push({ data: Buffer.from(bufs[i]!), sa });
    return 'queued';
  }

  /** Send what waited for room in the socket buffer, in order. */
  private flush(): void {
    const q = this.queue;
    let i = 0;
    while (i < q.length && !this.closed) {
      const { data, sa } = q[i]!;
      const n = this.native.udpSendTo(this.fd, data, sa);
      if (n === -EAGAIN || n === -ENOBUFS) break;
      if (n < 0) this.opts.onSendError();
      i++;
    }
    q.splice(0, i);
    if (q.length === 0 && this.poller && !this.closed) this.native.pollSet(this.poller, POLL_READABLE);
  }

  /** Receive until the socket has nothing more (a batch short of BATCH). */
  private drain(): void {
    while (this.poller && !this.closed && this.deliverBatch(this.native.udpRecvNext(this.poller)));
  }

  /**
   * Hand on the `n` datagrams of the last batch (or count the error that `n` is). True when
   * more may be waiting: the batch was full.
   */
  private deliverBatch(n: number): boolean {
    if (n <= 0) {
      if (n < 0 && n !== -EAGAIN) this.opts.onError();
      return false;
    }
    const { slab, meta } = this;
    this.batchDiscarded = false;
    for (let i = 0; i < n; i++) {
      const m = i * META_WORDS;
      const len = meta[m]!;
      // a view, valid until the next recvmmsg: totemsrp copies the messages it keeps (the
      // token, a few thousand a second on an idle ring, needs no memory of its own)
      let view = this.views[i];
      if (view === undefined || view.length !== len) {
        const off = i * SLOT_BYTES;
        view = slab.subarray(off, off + len);
        this.views[i] = view;
      }
      this.batchLeft = n - i - 1;
      this.opts.onDatagram(view, this.address(meta[m + 4]!), meta[m + 2]!);
      if (this.closed || this.batchDiscarded) return false;
    }
    return n === BATCH;
  }

  discardQueued(): number {
    if (this.closed || !this.poller) return 0;
    // the slab is read again below: the loop handing on the batch must not go on
    let discarded = this.batchLeft;
    this.batchLeft = 0;
    this.batchDiscarded = true;
    for (;;) {
      const n = this.native.udpRecvNext(this.poller);
      if (n <= 0) break;
      discarded += n;
      if (n < BATCH) break;
    }
    return discarded;
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

  private option(level: number, name: number, value: Buffer, what: string): void {
    const rc = this.native.setSockOpt(this.fd, level, name, value);
    if (rc < 0) throw errnoException(rc, what);
  }

  setBroadcast(on: boolean): void {
    this.option(SOL_SOCKET, SO_BROADCAST, intOption(on ? 1 : 0), 'setBroadcast');
  }

  addMembership(group: string, iface: string | undefined): void {
    const mreq = Buffer.alloc(8); // struct ip_mreq: group, then the interface's address (any)
    ipv4Bytes(group).copy(mreq, 0);
    if (iface !== undefined) ipv4Bytes(iface).copy(mreq, 4);
    this.option(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq, 'addMembership');
  }

  setMulticastInterface(iface: string): void {
    this.option(IPPROTO_IP, IP_MULTICAST_IF, Buffer.from(ipv4Bytes(iface)), 'setMulticastInterface');
  }

  setMulticastLoopback(on: boolean): void {
    this.option(IPPROTO_IP, IP_MULTICAST_LOOP, intOption(on ? 1 : 0), 'setMulticastLoopback');
  }

  setMulticastTTL(ttl: number): void {
    this.option(IPPROTO_IP, IP_MULTICAST_TTL, intOption(ttl), 'setMulticastTTL');
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.poller) this.native.pollClose(this.poller);
      this.poller = undefined;
      this.queue.length = 0;
      this.native.closeFd(this.fd);
    }
    return Promise.resolve();
  }
}

// ---- Node's dgram ------------------------------------------------------------------------------

/** Addresses are always numeric here: skip the resolver (and its extra tick) on every send. */
function numericLookup(
  hostname: string,
  _options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, hostname, hostname.includes(':') ? 6 : 4);
}

class NodeUdpSocket implements UdpSocket {
  readonly api = 'node' as const;
  private readonly afterSend = (err: Error | null): void => {
    if (err) this.onSendError();
  };
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly sock: Socket,
    private readonly sender: NativeUdpSender | undefined,
    private readonly onSendError: () => void,
  ) {}

  static async open(opts: UdpSocketOptions): Promise<UdpSocket> {
    const { createSocket } = await loadBuiltin<typeof import('node:dgram')>('node:dgram');
    const sock = createSocket({
      type: opts.family === 4 ? 'udp4' : 'udp6',
      reuseAddr: opts.reuseAddr,
      ipv6Only: opts.family === 6,
      lookup: numericLookup as never,
    });
    sock.on('error', opts.onError);
    sock.on('message', (msg, rinfo) => opts.onDatagram(msg, rinfo.address, rinfo.port));
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ port: opts.port, address: opts.addr, exclusive: true }, () => {
          sock.removeListener('error', reject);
          resolve();
        });
      });
    } catch (err) {
      sock.close();
      throw err;
    }
    try {
      sock.setRecvBufferSize(opts.bufferSize);
      sock.setSendBufferSize(opts.bufferSize);
    } catch {
      // unprivileged limits: keep the kernel defaults
    }
    return new NodeUdpSocket(
      sock,
      opts.api === 'node' ? undefined : NativeUdpSender.create(),
      opts.onSendError,
    );
  }

  send(data: Buffer, port: number, addr: string): UdpSendResult {
    if (this.sender) {
      const r = this.sender.send(this.sock, data, addr, port);
      if (r === 'sent') return 'sent';
      if (r === 'error') return 'error';
      // a full socket buffer (or no native form of this address): Node queues it
    }
    try {
      // Node may queue the datagram and totem reuses its token buffers: send a copy
      this.sock.send(Buffer.from(data), port, addr, this.afterSend);
      return 'sent';
    } catch {
      return 'error';
    }
  }

  setBroadcast(on: boolean): void {
    this.sock.setBroadcast(on);
  }

  discardQueued(): number {
    return 0; // Node reads its sockets itself and hands on every datagram
  }

  addMembership(group: string, iface: string | undefined): void {
    this.sock.addMembership(group, iface);
  }

  setMulticastInterface(iface: string): void {
    this.sock.setMulticastInterface(iface);
  }

  setMulticastLoopback(on: boolean): void {
    this.sock.setMulticastLoopback(on);
  }

  setMulticastTTL(ttl: number): void {
    this.sock.setMulticastTTL(ttl);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    return this.closing;
  }
}
