/**
 * totem over UDP unicast (`transport: udpu`), spec/totem-wire.md §2.2.
 *
 * One socket bound to `<ring0_addr>:<mcastport>` receives everything and sends everything:
 * tokens (source port = mcastport, as corosync) and the "multicast" copies. corosync sends
 * the copies from one extra ephemeral-port socket per member; peers never look at the source
 * port, so one socket is enough and keeps the member list free of socket churn.
 *
 * Several daemons on one host: give each its own loopback address (127.0.0.1, 127.0.0.2, …)
 * as ring0_addr; each binds `<its addr>:5405`. On IPv6 there is only ::1, so members on one
 * address need distinct ports (`TransportMember.port`).
 */
import { Buffer } from 'node:buffer';
import { UdpTransportBase, byteLength, type TotemTransport, type UdpCommonOptions } from './types.js';
import type { UdpSocket } from './udp-socket.js';

export type UdpuOptions = UdpCommonOptions;

export class UdpuTransport extends UdpTransportBase implements TotemTransport {
  readonly kind = 'udpu' as const;

  constructor(opts: UdpuOptions) {
    super(opts);
  }

  open(): Promise<void> {
    return this.openWith(async () => {
      // No SO_REUSEADDR: a second daemon on the same address:port must fail, not share it.
      const sock = await this.openSocket(this.port, this.localAddr, false);
      this.markOwn(this.port);
      this.sendSocket = sock;
    });
  }

  sendAll(bytes: Buffer | Buffer[]): void {
    const peers = this.members.peers();
    if (peers.length === 0) return;
    const len = byteLength(bytes);
    if (!this.admit(len, peers.length)) return;
    if (this.gather('all', bytes, len)) return;
    const sock = this.sendSocket as UdpSocket;
    for (const p of peers) this.transmit(sock, bytes, len, p.port, p.addr);
  }

  protected sendGatheredToAll(bufs: readonly Buffer[], from: number, end: number): void {
    const sock = this.sendSocket as UdpSocket;
    // peer by peer: each peer still gets the frames in order, before anything sent after them
    for (const p of this.members.peers()) this.sendRun(sock, bufs, from, end, p.port, p.addr);
  }
}
