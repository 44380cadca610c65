/**
 * totem over IP multicast (`transport: udp`), spec/totem-wire.md §2.4.
 *
 * Three sockets, as corosync has them:
 *  - receive: bound to `<mcastaddr>:<mcastport>` with SO_REUSEADDR, group joined on the bind
 *    interface (or SO_BROADCAST with `broadcast: yes`);
 *  - send: bound to `<local ip>:<mcastport − 1>` (SO_REUSEADDR); every datagram leaves from
 *    it — multicasts to `<mcastaddr>:<mcastport>` and unicast tokens to `<peer>:<mcastport>`;
 *    multicast TTL = `totem.interface.0.ttl`, IP_MULTICAST_LOOP off, IP_MULTICAST_IF = bind
 *    interface;
 *  - token: bound to `<local ip>:<mcastport>` (SO_REUSEADDR), receives unicast tokens.
 * corosync's AF_UNIX socketpair for local delivery of its own multicasts is not needed: the
 * SRP core delivers its own messages internally. Any copy of our own multicast that does
 * come back (source = our send socket) is dropped and counted in `rxOwn`.
 *
 * Several daemons on one host (tests): give each its own address 127.0.0.N and the same
 * mcastaddr/mcastport. The receive sockets all bind `<mcastaddr>:<mcastport>` (SO_REUSEADDR,
 * Node's `reuseAddr: true`), and Linux hands every group datagram to each of them. On `lo`
 * the group can be joined with interface 127.0.0.N even though `lo` lacks the MULTICAST
 * flag, and a multicast sent out through `lo` reaches the other local members even with
 * IP_MULTICAST_LOOP off (the loopback device itself loops it), so corosync's settings work
 * unchanged; each daemon then sees its own multicast, which is dropped by source.
 */
import { Buffer } from 'node:buffer';
import { networkInterfaces } from 'node:os';
import type { UdpSocket } from './udp-socket.js';
import {
  UdpTransportBase,
  byteLength,
  canonicalAddr,
  addrFamily,
  type TotemTransport,
  type UdpCommonOptions,
} from './types.js';

export interface UdpOptions extends UdpCommonOptions {
  /** Effective `totem.interface.0.mcastaddr` (config computes the default from cluster_name). */
  mcastAddr: string;
  /** `totem.interface.0.ttl` (default 1). */
  ttl?: number;
  /** `totem.interface.0.broadcast: yes` (mcastAddr is then 255.255.255.255). */
  broadcast?: boolean;
  /** IP_MULTICAST_LOOP on the send socket. corosync: off (the default here). */
  multicastLoop?: boolean;
  /**
   * IPv6 only: the interface name to join on and send from. Default: the interface that
   * carries `localAddr` (os.networkInterfaces()); none found → the kernel's choice.
   */
  interfaceName?: string;
}

/** The name of the interface holding `addr`, for IPv6 scope ids. */
function interfaceOf(addr: string): string | undefined {
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv6' && canonicalAddr(a.address.split('%')[0] as string) === addr) return name;
    }
  }
  return undefined;
}

export class UdpTransport extends UdpTransportBase implements TotemTransport {
  readonly kind = 'udp' as const;
  private readonly mcastAddr: string;
  private readonly ttl: number;
  private readonly broadcast: boolean;
  private readonly loop: boolean;
  private readonly ifName: string | undefined;

  constructor(opts: UdpOptions) {
    super(opts);
    const group = canonicalAddr(opts.mcastAddr);
    if (group === undefined || addrFamily(group) !== this.family)
      throw new TypeError(`mcastaddr '${opts.mcastAddr}' is not a numeric IPv${this.family} address`);
    if (this.port < 2) throw new RangeError('udp needs mcastport ≥ 2 (the send socket uses mcastport − 1)');
    this.mcastAddr = group;
    this.ttl = opts.ttl ?? 1;
    if (!Number.isInteger(this.ttl) || this.ttl < 0 || this.ttl > 255)
      throw new RangeError(`bad ttl ${this.ttl}`);
    this.broadcast = opts.broadcast ?? false;
    this.loop = opts.multicastLoop ?? false;
    this.ifName = this.family === 6 ? (opts.interfaceName ?? interfaceOf(this.localAddr)) : undefined;
  }

  /** The interface argument Node wants: the address (IPv4) or `::%ifname` (IPv6). */
  private mcastInterface(): string | undefined {
    if (this.family === 4) return this.localAddr;
    return this.ifName === undefined ? undefined : `::%${this.ifName}`;
  }

  open(): Promise<void> {
    return this.openWith(async () => {
      const iface = this.mcastInterface();

      const recv = await this.openSocket(this.port, this.mcastAddr, true);
      if (this.broadcast) {
        recv.setBroadcast(true);
      } else {
        recv.addMembership(this.mcastAddr, iface);
        if (iface !== undefined) recv.setMulticastInterface(iface);
      }

      const send = await this.openSocket(this.port - 1, this.localAddr, true);
      this.markOwn(this.port - 1);
      if (this.broadcast) {
        send.setBroadcast(true);
      } else {
        send.setMulticastLoopback(this.loop);
        send.setMulticastTTL(this.ttl);
        if (iface !== undefined) send.setMulticastInterface(iface);
      }

      await this.openSocket(this.port, this.localAddr, true); // the token socket: receives only
      this.sendSocket = send;
    });
  }

  sendAll(bytes: Buffer | Buffer[]): void {
    const len = byteLength(bytes);
    if (!this.admit(len, 1)) return;
    if (this.gather('all', bytes, len)) return;
    this.transmit(this.sendSocket as UdpSocket, bytes, len, this.port, this.mcastAddr);
  }

  protected sendGatheredToAll(bufs: readonly Buffer[], from: number, end: number): void {
    this.sendRun(this.sendSocket as UdpSocket, bufs, from, end, this.port, this.mcastAddr);
  }
}
