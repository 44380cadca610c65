/**
 * A synchronous sendto(2) through the project's Node-API addon (native/qbnative.c `udpSendTo`)
 * for the sockets that stay Node's dgram sockets (IPv6; src/transport/udp-socket.ts), and the
 * sockaddr builder both socket kinds use. Node's dgram `send` spends several microseconds of
 * bookkeeping per datagram before the system call (measured: ~7.5 µs per 1 KiB datagram on
 * loopback against ~2.7 µs for a plain sendto in C); totem sends one datagram per peer per
 * packet, on the token's critical path. Without the addon (or on a Node whose dgram internals
 * differ) every send goes through Node's dgram.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:dgram';
import { endianness } from 'node:os';
import { parseIPv4, parseIPv6 } from '../config/addr.js';
import { loadQbNative, type QbNative } from '../ipc/libqb/native.js';
import { writeUInt16BE, writeUInt16LE } from '../common/bytes.js';

const AF_INET = 2;
const AF_INET6 = 10;
/** sa_family is in host byte order. */
const LE = endianness() === 'LE';
/** errno values after which Node's queued send is the right fallback (full socket buffer). */
const EAGAIN = 11;
const ENOBUFS = 105;

export type NativeSendResult = 'sent' | 'retry' | 'error';

export class NativeUdpSender {
  private readonly sockaddrs = new SockaddrCache();
  private readonly fds = new WeakMap<Socket, number | null>();

  private constructor(private readonly native: QbNative) {}

  /** The sender, or undefined when the addon (or its udpSendTo) is missing. */
  static create(): NativeUdpSender | undefined {
    if (process.env.COROSYNC_TS_NODE_UDP === '1') return undefined; // for comparisons
    const load = loadQbNative();
    if (!load.ok) return undefined;
    return typeof load.native.udpSendTo === 'function' ? new NativeUdpSender(load.native) : undefined;
  }

  /**
   * Send `data` to addr:port on `sock`'s descriptor. 'retry': the kernel buffer is full (or the
   * descriptor/address cannot be used natively) — send through Node instead; 'error': dropped.
   */
  send(sock: Socket, data: Buffer, addr: string, port: number): NativeSendResult {
    const fd = this.fdOf(sock);
    const sa = fd === undefined ? undefined : this.sockaddrs.get(addr, port);
    if (fd === undefined || sa === undefined) return 'retry';
    const n = this.native.udpSendTo(fd, data, sa);
    if (n >= 0) return 'sent';
    return n === -EAGAIN || n === -ENOBUFS ? 'retry' : 'error';
  }

  /** The descriptor of a bound dgram socket (Node keeps it in an internal state object). */
  private fdOf(sock: Socket): number | undefined {
    let fd = this.fds.get(sock);
    if (fd === undefined) {
      const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
      const state = sym ? (sock as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[sym] : undefined;
      const raw = state?.handle?.fd;
      fd = typeof raw === 'number' && raw >= 0 ? raw : null;
      this.fds.set(sock, fd);
    }
    return fd ?? undefined;
  }
}

/** addr → port → sockaddr (undefined: no native form), built once: no key string per send. */
export class SockaddrCache {
  private readonly byAddr = new Map<string, Map<number, Buffer | null>>();

  /** `family`: only addresses of that family (4 or 6) have a sockaddr here. */
  constructor(private readonly family?: 4 | 6) {}

  get(addr: string, port: number): Buffer | undefined {
    let byPort = this.byAddr.get(addr);
    if (!byPort) {
      byPort = new Map();
      this.byAddr.set(addr, byPort);
    }
    let sa = byPort.get(port);
    if (sa === undefined) {
      const built = sockaddrOf(addr, port);
      sa =
        built && (this.family === undefined || built.length === (this.family === 4 ? 16 : 28)) ? built : null;
      byPort.set(port, sa);
    }
    return sa ?? undefined;
  }
}

/**
 * struct sockaddr_in (16 bytes) / sockaddr_in6 (28 bytes) for a numeric address; undefined for
 * anything else (names, scoped IPv6 addresses).
 */
export function sockaddrOf(addr: string, port: number): Buffer | undefined {
  const v4 = addr.includes(':') ? undefined : parseIPv4(addr);
  if (v4) return sockaddr(AF_INET, 16, port, v4, 4);
  if (addr.includes('%')) return undefined;
  const v6 = parseIPv6(addr);
  return v6 ? sockaddr(AF_INET6, 28, port, v6, 8) : undefined;
}

/** sa_family (host order), the port (network order) and the address bytes at `addrOffset`. */
function sockaddr(family: number, size: number, port: number, ip: Buffer, addrOffset: number): Buffer {
  const sa = Buffer.alloc(size);
  if (LE) writeUInt16LE(sa, family, 0);
  else writeUInt16BE(sa, family, 0);
  writeUInt16BE(sa, port, 2);
  ip.copy(sa, addrOffset);
  return sa;
}
