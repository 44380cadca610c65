/**
 * The totem transport seam: what the runtime shell gives the SRP core to reach the other
 * nodes, and the pieces the UDP transports (udpu, udp) share.
 *
 * The SRP core is pure and hands out `{ kind: 'send', to: nodeid | 'all', bytes }` effects; it
 * never needs its own datagrams echoed back (it loops its own JOIN, MERGE_DETECT,
 * TOKEN_HOLD_CANCEL and self-addressed tokens internally). A transport therefore:
 *  - sends `to: 'all'` to every *other* configured member (udpu) or to the group (udp),
 *  - drops any copy of its own datagrams that the network hands back (udp on a loopback
 *    device, or a multicast group with loop enabled),
 *  - drops datagrams whose source address is not a configured member (corosync's
 *    `block_unlisted_ips`, default on), ignoring the source port (spec/totem-wire.md §2.2).
 *
 * One UDP datagram carries exactly one totem message, no framing (spec/totem-wire.md §2.1).
 */
import { Buffer } from 'node:buffer';
import { formatIp, parseIPv4, parseIPv6 } from '../config/addr.js';
import { openUdpSocket, type UdpSocket } from './udp-socket.js';

/** One configured member: its nodeid and its numeric ring0 address. */
export interface TransportMember {
  nodeid: number;
  /** Numeric IPv4 or IPv6 address (the nodelist `ring0_addr`, already resolved by config). */
  addr: string;
  /**
   * UDP port of that member's totem socket; the transport's own port when absent (corosync:
   * every node uses the same `mcastport`). Only tests and one-IP setups need it.
   */
  port?: number;
}

/**
 * Called for every accepted datagram. `fromNodeid` is undefined only with blockUnlisted off.
 * `bytes` may be a view of the socket's receive buffer, valid only during the call: copy what
 * you keep (totemsrp copies the messages it stores; tokens and membership messages are only
 * decoded).
 */
export type DatagramHandler = (bytes: Buffer, fromNodeid: number | undefined, fromAddr: string) => void;

export interface TransportStats {
  /** Datagrams handed to the kernel (one per destination). */
  txPackets: number;
  txBytes: number;
  /** Send failures reported by the kernel or refused synchronously (counted, never thrown). */
  txErrors: number;
  /** Datagrams refused because they exceed `maxDatagram` (never sent). */
  txOversize: number;
  /**
   * Datagrams sent although they exceed what fits in one IP packet of `netmtu` (netmtu − IP
   * − UDP header), so the kernel fragments them. corosync does the same for its largest
   * recovery frames (spec/totem-wire.md §2.6); the counter makes it visible.
   */
  txAboveIpMtu: number;
  /** `sendTo` with a nodeid that is not a member, or a send while not open. */
  txNoTarget: number;
  /** Segmented sends: runs of datagrams to one destination in one system call (see cork). */
  txSegmentedSends: number;
  /** Datagrams received and handed to the callback. */
  rxPackets: number;
  rxBytes: number;
  /** Every datagram not handed to the callback (the sum of the reasons below). */
  rxDropped: number;
  /** Source address not a configured member. */
  rxUnlisted: number;
  /** Our own datagram coming back (multicast loopback). */
  rxOwn: number;
  /** Arrived before a callback was registered. */
  rxNoHandler: number;
  /** 'error' events of the sockets (counted; the sockets stay open). */
  socketErrors: number;
}

export interface TotemTransport {
  /** `udpu` or `udp`. */
  readonly kind: 'udpu' | 'udp';
  /** Bind the sockets; resolves when ready, rejects (with every socket closed) on a bind error. */
  open(): Promise<void>;
  /**
   * Unicast to one member (ORF token, commit token), from the bound totem socket as corosync
   * does. `Buffer[]` is gathered by the kernel (header + payload without a copy). The buffers
   * must not be modified afterwards. Unknown nodeid: counted in `txNoTarget`, nothing sent.
   */
  sendTo(nodeid: number, bytes: Buffer | Buffer[]): void;
  /**
   * "Multicast". udpu: one unicast per other configured member, whether or not it is in the
   * ring. udp: one datagram to mcastaddr:mcastport. Never to ourselves.
   */
  sendAll(bytes: Buffer | Buffer[]): void;
  /**
   * Gather the sends that follow, until {@link flush} or {@link uncork}, and hand them to the
   * kernel together (runs of equal-sized datagrams to one destination in one system call). The
   * buffers of gathered sends must stay unchanged until then. Optional: a transport without it
   * sends at once.
   */
  cork?(): void;
  /** Send what was gathered, in order; stay corked. */
  flush?(): void;
  /** Send what was gathered and stop gathering. */
  uncork?(): void;
  /** Register the receive callback (replaces any previous one). */
  onDatagram(cb: DatagramHandler): void;
  /**
   * From inside the receive callback: throw away every datagram still queued on the
   * transport's sockets (corosync's recv_mcast_empty, after a process pause). How many.
   */
  discardQueued?(): number;
  /** Replace the member list (nodelist change / reload). The local node may be included. */
  setMembers(members: TransportMember[]): void;
  /** Close every socket; resolves when they are closed. Idempotent. */
  close(): Promise<void>;
  /** Largest datagram `send*` accepts (bytes of UDP payload). */
  readonly maxDatagram: number;
  readonly stats: Readonly<TransportStats>;
}

/** Gathered-send target meaning "every peer" (sendAll); other values are nodeids. */
const TO_ALL = -1;
/** What an emptied gather slot holds. */
const NO_BYTES = Buffer.alloc(0);
/** The kernel's cap on segments per segmented send (UDP_MAX_SEGMENTS). */
const SEGMENTS_MAX = 64;

/**
 * The end (exclusive) of the run starting at `from` that can leave as one segmented send:
 * datagrams of the first one's length, then at most one shorter, at most 64 and `maxTotal`
 * bytes in all, each within one IP packet (`ipMtuPayload`; a datagram the kernel would
 * fragment goes alone). At least `from + 1`.
 */
export function segmentRunEnd(
  bufs: readonly Buffer[],
  from: number,
  to: number,
  maxTotal: number,
  ipMtuPayload: number,
): number {
  const seg = bufs[from]!.length;
  if (seg > ipMtuPayload || seg === 0) return from + 1;
  let end = from + 1;
  let total = seg;
  while (end < to && end - from < SEGMENTS_MAX) {
    const len = bufs[end]!.length;
    if (len > seg || len === 0 || total + len > maxTotal) break;
    end++;
    total += len;
    if (len < seg) break; // a shorter one ends the run
  }
  return end;
}

/** Options shared by both UDP transports. */
export interface UdpCommonOptions {
  /** Our nodeid; the member with this nodeid is never a `sendAll` destination. */
  localNodeId: number;
  /** Numeric address to bind (our ring0_addr: peers filter on it). */
  localAddr: string;
  /** `totem.interface.0.mcastport` (default 5405). */
  port: number;
  members: TransportMember[];
  /** `totem.netmtu` (1500 by default for udp/udpu). */
  netMtu: number;
  /**
   * Largest UDP payload we send. Default: netmtu, the largest totem message corosync builds
   * (an encapsulated recovery MCAST is exactly netmtu bytes); capped at the UDP maximum.
   */
  maxDatagram?: number;
  /** `totem.block_unlisted_ips` (default true). */
  blockUnlisted?: boolean;
  /** SO_RCVBUF / SO_SNDBUF request (the kernel caps it). Default 1 MiB, as corosync asks. */
  socketBufferSize?: number;
  /** 'node': Node's dgram sockets even where the addon's native ones work (tests, comparisons). */
  socketApi?: 'native' | 'node';
}

/** corosync's socket buffer request: TRANSMITS_ALLOWED (16) × FRAME_SIZE_MAX (65536). */
export const DEFAULT_SOCKET_BUFFER = 16 * 65536;

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;
/** Largest UDP payload that fits one IPv4 / IPv6 (non-jumbo) packet. */
const UDP_MAX_PAYLOAD: Record<4 | 6, number> = { 4: 65535 - IPV4_HEADER - UDP_HEADER, 6: 65535 - UDP_HEADER };

export function emptyStats(): TransportStats {
  return {
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    txOversize: 0,
    txAboveIpMtu: 0,
    txNoTarget: 0,
    txSegmentedSends: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxDropped: 0,
    rxUnlisted: 0,
    rxOwn: 0,
    rxNoHandler: 0,
    socketErrors: 0,
  };
}

/** The address family of a numeric address, or undefined when it is not one. */
export function addrFamily(addr: string): 4 | 6 | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(addr) && parseIPv4(addr)) return 4;
  if (addr.includes(':') && parseIPv6(addr)) return 6;
  return undefined;
}

/** One canonical text form per address (inet_ntop style, no zone), for map keys. */
export function canonicalAddr(addr: string): string | undefined {
  const fam = addrFamily(addr);
  if (fam === 4) return formatIp({ family: 4, bytes: parseIPv4(addr) as Buffer });
  if (fam === 6) return formatIp({ family: 6, bytes: parseIPv6(addr) as Buffer });
  return undefined;
}

/** Size limits of one transport: what it refuses, and above which the kernel fragments. */
export interface SizeLimits {
  maxDatagram: number;
  ipMtuPayload: number;
}

export function sizeLimits(family: 4 | 6, netMtu: number, maxDatagram?: number): SizeLimits {
  const hardMax = UDP_MAX_PAYLOAD[family];
  const ipMtuPayload = Math.max(0, netMtu - (family === 4 ? IPV4_HEADER : IPV6_HEADER) - UDP_HEADER);
  const want = maxDatagram ?? netMtu;
  if (!Number.isInteger(want) || want <= 0) throw new RangeError(`bad datagram size limit ${want}`);
  return { maxDatagram: Math.min(want, hardMax), ipMtuPayload };
}

export function byteLength(bytes: Buffer | Buffer[]): number {
  if (Buffer.isBuffer(bytes)) return bytes.length;
  let n = 0;
  for (const b of bytes) n += b.length;
  return n;
}

interface MemberEntry {
  nodeid: number;
  addr: string;
  port: number;
}

/**
 * The member table: nodeid → endpoint for sends, source address → nodeid for the receive
 * filter (address only, as corosync; when several members share one address — one-IP test
 * setups with per-member ports — the port picks among them).
 */
export class MemberTable {
  private byNodeid = new Map<number, MemberEntry>();
  private byAddr = new Map<string, MemberEntry[]>();
  /** `sendAll` destinations: every member except the local node. */
  private others: MemberEntry[] = [];

  constructor(
    private readonly family: 4 | 6,
    private readonly defaultPort: number,
    private readonly localNodeId: number,
  ) {}

  /** Replace the list. Throws on a non-numeric address, a wrong family or a duplicate nodeid. */
  set(members: readonly TransportMember[]): void {
    const byNodeid = new Map<number, MemberEntry>();
    const byAddr = new Map<string, MemberEntry[]>();
    for (const m of members) {
      const addr = canonicalAddr(m.addr);
      if (addr === undefined) throw new TypeError(`transport member ${m.nodeid}: '${m.addr}' is not numeric`);
      if (addrFamily(addr) !== this.family)
        throw new TypeError(`transport member ${m.nodeid}: ${addr} is not IPv${this.family}`);
      if (byNodeid.has(m.nodeid)) throw new TypeError(`transport member nodeid ${m.nodeid} appears twice`);
      const port = m.port ?? this.defaultPort;
      if (!Number.isInteger(port) || port <= 0 || port > 65535)
        throw new RangeError(`transport member ${m.nodeid}: bad port ${port}`);
      const e: MemberEntry = { nodeid: m.nodeid, addr, port };
      byNodeid.set(m.nodeid, e);
      const list = byAddr.get(addr);
      if (list) list.push(e);
      else byAddr.set(addr, [e]);
    }
    this.byNodeid = byNodeid;
    this.byAddr = byAddr;
    this.others = [...byNodeid.values()].filter((e) => e.nodeid !== this.localNodeId);
  }

  get(nodeid: number): { addr: string; port: number } | undefined {
    return this.byNodeid.get(nodeid);
  }

  /** Destinations of a udpu "multicast". */
  peers(): readonly { addr: string; port: number }[] {
    return this.others;
  }

  /** The member a datagram from `addr:port` comes from (address compare; port ignored unless shared). */
  source(addr: string, port: number): number | undefined {
    let list = this.byAddr.get(addr);
    if (!list) {
      // Node prints addresses as inet_ntop does, so this only runs for unlisted sources or
      // unusual spellings (zone suffix, IPv4-mapped forms).
      const pct = addr.indexOf('%');
      const c = canonicalAddr(pct >= 0 ? addr.slice(0, pct) : addr);
      if (c === undefined) return undefined;
      list = this.byAddr.get(c);
      if (!list) return undefined;
    }
    if (list.length === 1) return (list[0] as MemberEntry).nodeid;
    return (list.find((e) => e.port === port) ?? (list[0] as MemberEntry)).nodeid;
  }
}

// ---------------------------------------------------------------------------------------------
// Socket plumbing shared by udpu and udp.

/**
 * The I/O core both transports build on: socket creation and binding, the size gate, sends
 * that count errors instead of throwing, and the receive filter.
 */
export abstract class UdpTransportBase {
  readonly stats: TransportStats = emptyStats();
  readonly maxDatagram: number;
  protected readonly family: 4 | 6;
  protected readonly localAddr: string;
  protected readonly port: number;
  protected readonly members: MemberTable;
  private readonly ipMtuPayload: number;
  private readonly blockUnlisted: boolean;
  private readonly bufferSize: number;
  private handler: DatagramHandler | undefined;
  private readonly socketApi: 'native' | 'node' | undefined;
  private readonly sockets: UdpSocket[] = [];
  /** Endpoints our datagrams leave from, to recognise them when the network echoes them. */
  private ownPorts = new Set<number>();
  protected state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  /** The socket every datagram leaves from (udpu: its one socket; udp: its send socket). */
  protected sendSocket: UdpSocket | undefined;
  private closing: Promise<void> | undefined;
  private readonly onReceive = (msg: Buffer, address: string, port: number): void =>
    this.receive(msg, address, port);
  private readonly onSocketError = (): void => {
    this.stats.socketErrors++;
  };
  private readonly onSendError = (): void => {
    this.stats.txErrors++;
  };
  /**
   * Sends gathered while corked: the datagrams and their targets (a nodeid or TO_ALL), the
   * first `gatheredCount` slots. The arrays keep their length between flushes (slots emptied,
   * not removed): an array emptied through `length = 0` loses its memory in V8, and every token
   * visit would allocate two new ones.
   */
  private readonly gatheredBytes: Buffer[] = [];
  private readonly gatheredTo: number[] = [];
  private gatheredCount = 0;
  private corked = false;
  /** Largest UDP payload of one send (the sum of a segmented run). */
  private readonly udpMax: number;

  constructor(opts: UdpCommonOptions) {
    const local = canonicalAddr(opts.localAddr);
    if (local === undefined)
      throw new TypeError(`transport local address '${opts.localAddr}' is not numeric`);
    if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535)
      throw new RangeError(`bad transport port ${opts.port}`);
    this.family = addrFamily(local) as 4 | 6;
    this.localAddr = local;
    this.port = opts.port;
    const limits = sizeLimits(this.family, opts.netMtu, opts.maxDatagram);
    this.maxDatagram = limits.maxDatagram;
    this.ipMtuPayload = limits.ipMtuPayload;
    this.udpMax = UDP_MAX_PAYLOAD[this.family];
    this.blockUnlisted = opts.blockUnlisted ?? true;
    this.bufferSize = opts.socketBufferSize ?? DEFAULT_SOCKET_BUFFER;
    this.socketApi = opts.socketApi;
    this.members = new MemberTable(this.family, opts.port, opts.localNodeId);
    this.members.set(opts.members);
  }

  onDatagram(cb: DatagramHandler): void {
    this.handler = cb;
  }

  setMembers(members: TransportMember[]): void {
    this.members.set(members);
  }

  discardQueued(): number {
    let n = 0;
    for (const sock of this.sockets) n += sock.discardQueued();
    return n;
  }

  /**
   * Open a socket bound to addr:port (with corosync's socket buffer sizes) whose datagrams go
   * through the receive filter. A close() while it was being bound closes it and rejects.
   */
  protected async openSocket(port: number, addr: string, reuseAddr: boolean): Promise<UdpSocket> {
    if (this.state === 'closed') throw new Error('transport closed while opening');
    const sock = await openUdpSocket({
      family: this.family,
      addr,
      port,
      reuseAddr,
      bufferSize: this.bufferSize,
      onDatagram: this.onReceive,
      onError: this.onSocketError,
      onSendError: this.onSendError,
      ...(this.socketApi ? { api: this.socketApi } : {}),
    });
    if ((this.state as string) === 'closed') {
      await sock.close();
      throw new Error('transport closed while opening');
    }
    this.sockets.push(sock);
    return sock;
  }

  /** Mark a bound socket's port as one our own datagrams leave from. */
  protected markOwn(port: number): void {
    this.ownPorts.add(port);
  }

  /** Run the bind steps; on failure close everything and reject. */
  protected async openWith(steps: () => Promise<void>): Promise<void> {
    if (this.state !== 'new') throw new Error(`transport cannot open: it is ${this.state}`);
    this.state = 'opening';
    try {
      await steps();
    } catch (err) {
      // A close() during open makes later steps fail in whatever way; report the cause.
      const closedMeanwhile = (this.state as string) === 'closed';
      await this.close();
      throw closedMeanwhile ? new Error('transport closed while opening', { cause: err }) : err;
    }
    if (this.state !== 'opening') throw new Error('transport closed while opening');
    this.state = 'open';
  }

  /** The size gate: false (and counted) when the datagram must not be sent. */
  protected admit(len: number, copies: number): boolean {
    if (this.state !== 'open') {
      this.stats.txNoTarget += copies;
      return false;
    }
    if (len > this.maxDatagram) {
      this.stats.txOversize += copies;
      return false;
    }
    if (len > this.ipMtuPayload) this.stats.txAboveIpMtu += copies;
    return true;
  }

  /**
   * See TotemTransport.cork. Why: with several frames per token visit (throughput), the
   * sender's CPU goes mostly to the kernel's per-datagram path (routing, bridge, netfilter,
   * veth: ~9 µs a datagram on a 2-vCPU VM), and totem sends each frame once per peer. Runs of
   * equal-sized frames to one peer leave as one segmented send (UDP_SEGMENT): the kernel walks
   * that path once per run and splits it into the very same datagrams late (at the NIC, or at
   * the receiving socket), so the wire and the receivers see no difference.
   */
  cork(): void {
    this.corked = true;
  }

  uncork(): void {
    this.flush();
    this.corked = false;
  }

  flush(): void {
    const n = this.gatheredCount;
    if (n === 0) return;
    const bufs = this.gatheredBytes;
    const targets = this.gatheredTo;
    let i = 0;
    while (i < n) {
      const to = targets[i]!;
      let end = i + 1;
      while (end < n && targets[end] === to) end++;
      this.sendGathered(to === TO_ALL ? 'all' : to, bufs, i, end);
      i = end;
    }
    // drop the references (a message's bytes); a loop, not fill(): Array.prototype.fill is a
    // call into the runtime, ~1 % of a daemon's user-space samples at one datagram a visit
    for (let k = 0; k < n; k++) bufs[k] = NO_BYTES;
    this.gatheredCount = 0;
  }

  /** While corked: keep a send for flush() and say so. */
  protected gather(to: number | 'all', bytes: Buffer | Buffer[], len: number): boolean {
    if (!this.corked) return false;
    const i = this.gatheredCount++;
    const data = Array.isArray(bytes) ? Buffer.concat(bytes, len) : bytes;
    const target = to === 'all' ? TO_ALL : to;
    if (i < this.gatheredBytes.length) {
      this.gatheredBytes[i] = data;
      this.gatheredTo[i] = target;
    } else {
      this.gatheredBytes.push(data);
      this.gatheredTo.push(target);
    }
    return true;
  }

  /** One datagram to one member (the token's way); a nodeid that is not a member is counted. */
  sendTo(nodeid: number, bytes: Buffer | Buffer[]): void {
    const len = byteLength(bytes);
    const m = this.members.get(nodeid);
    if (!m) {
      this.stats.txNoTarget++;
      return;
    }
    if (!this.admit(len, 1)) return;
    if (this.gather(nodeid, bytes, len)) return;
    this.transmit(this.sendSocket as UdpSocket, bytes, len, m.port, m.addr);
  }

  /** Send gathered datagrams bufs[from..end), all to `to`, in order (see sendRun). */
  protected sendGathered(to: number | 'all', bufs: readonly Buffer[], from: number, end: number): void {
    if (to === 'all') {
      this.sendGatheredToAll(bufs, from, end);
      return;
    }
    const m = this.members.get(to);
    if (m) this.sendRun(this.sendSocket as UdpSocket, bufs, from, end, m.port, m.addr);
    else this.stats.txNoTarget += end - from;
  }

  /** sendGathered's `'all'`: multicast, or one run per peer. */
  protected abstract sendGatheredToAll(bufs: readonly Buffer[], from: number, end: number): void;

  /**
   * bufs[from..end) to one destination, in order: runs of equal-sized datagrams as segmented
   * sends where the socket can, the rest one by one.
   */
  protected sendRun(
    sock: UdpSocket,
    bufs: readonly Buffer[],
    from: number,
    end: number,
    port: number,
    addr: string,
  ): void {
    let i = from;
    while (i < end) {
      const runEnd = sock.sendSegments ? segmentRunEnd(bufs, i, end, this.udpMax, this.ipMtuPayload) : i + 1;
      if (runEnd - i > 1) {
        const r = sock.sendSegments?.(bufs, i, runEnd - i, bufs[i]!.length, port, addr) ?? 'unsupported';
        if (r !== 'unsupported') {
          const count = runEnd - i;
          if (r === 'error') this.stats.txErrors += count;
          else {
            this.stats.txSegmentedSends++;
            this.stats.txPackets += count;
            for (let k = i; k < runEnd; k++) this.stats.txBytes += bufs[k]!.length;
          }
          i = runEnd;
          continue;
        }
      }
      const b = bufs[i]!;
      this.transmit(sock, b, b.length, port, addr);
      i++;
    }
  }

  /** One unconnected send (sendto): ICMP errors of dead peers never reach this socket. */
  protected transmit(
    sock: UdpSocket,
    bytes: Buffer | Buffer[],
    len: number,
    port: number,
    addr: string,
  ): void {
    const data = Array.isArray(bytes) ? (bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes, len)) : bytes;
    if (sock.send(data, port, addr) === 'error') {
      this.stats.txErrors++;
      return;
    }
    this.stats.txPackets++;
    this.stats.txBytes += len;
  }

  private receive(msg: Buffer, address: string, port: number): void {
    const st = this.stats;
    if (this.ownPorts.has(port) && address === this.localAddr) {
      st.rxOwn++;
      st.rxDropped++;
      return;
    }
    const from = this.members.source(address, port);
    if (from === undefined && this.blockUnlisted) {
      st.rxUnlisted++;
      st.rxDropped++;
      return;
    }
    const cb = this.handler;
    if (!cb) {
      st.rxNoHandler++;
      st.rxDropped++;
      return;
    }
    st.rxPackets++;
    st.rxBytes += msg.length;
    cb(msg, from, address);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.state = 'closed';
    this.closing = Promise.all(this.sockets.splice(0).map((s) => s.close())).then(() => undefined);
    return this.closing;
  }
}
