/**
 * Transport factory: builds the udpu or udp transport of interface 0 from the loaded totem
 * config (src/config/totem.ts). knet is not implemented (DESIGN.md, level L5).
 */
import { formatIp } from '../config/addr.js';
import type { TotemConfig, TotemInterface } from '../config/totem.js';
import type { TotemTransport, TransportMember } from './types.js';
import { UdpTransport } from './udp.js';
import { UdpuTransport } from './udpu.js';

export type { TotemTransport, TransportMember, TransportStats, DatagramHandler } from './types.js';
export { UdpuTransport, type UdpuOptions } from './udpu.js';
export { UdpTransport, type UdpOptions } from './udp.js';

export interface TransportOverrides {
  /** Bind address instead of the one derived from the config (numeric). */
  localAddr?: string;
  /** Largest datagram sent (default netmtu); see UdpCommonOptions.maxDatagram. */
  maxDatagram?: number;
  /** udp: IP_MULTICAST_LOOP (default off, as corosync). */
  multicastLoop?: boolean;
  /** udp over IPv6: interface name to join on. */
  interfaceName?: string;
  socketBufferSize?: number;
}

function link0(totem: TotemConfig): TotemInterface {
  const iface = totem.interfaces[0];
  if (!iface?.configured) throw new Error('totem transport: interface 0 is not configured');
  return iface;
}

/** The nodelist of link 0 as transport members (for the factory and for reloads). */
export function transportMembers(totem: TotemConfig): TransportMember[] {
  return link0(totem).members.map((m) => ({ nodeid: m.nodeid, addr: formatIp(m.addr) }));
}

/**
 * The transport for `totem`, as node `localNodeId`. The bind address is that node's
 * ring0_addr in the nodelist (the address peers know us by), else the config's local address
 * of link 0, else bindnetaddr.
 */
export function createTransport(
  totem: TotemConfig,
  localNodeId: number = totem.nodeId,
  overrides: TransportOverrides = {},
): TotemTransport {
  if (totem.transport === 'knet') throw new Error('totem transport knet is not supported (use udpu or udp)');
  const iface = link0(totem);
  const members = transportMembers(totem);
  const own = members.find((m) => m.nodeid === localNodeId)?.addr;
  const fallback = iface.localIp ?? iface.bindnet;
  const localAddr = overrides.localAddr ?? own ?? (fallback ? formatIp(fallback) : undefined);
  if (localAddr === undefined) throw new Error(`totem transport: no local address for nodeid ${localNodeId}`);
  const common = {
    localNodeId,
    localAddr,
    port: iface.ipPort,
    members,
    netMtu: totem.netMtu,
    maxDatagram: overrides.maxDatagram,
    blockUnlisted: totem.blockUnlistedIps !== 0,
    socketBufferSize: overrides.socketBufferSize,
  };
  if (totem.transport === 'udpu') return new UdpuTransport(common);
  if (!iface.mcastAddr) throw new Error('totem transport udp: no multicast address');
  return new UdpTransport({
    ...common,
    mcastAddr: formatIp(iface.mcastAddr),
    ttl: iface.ttl,
    broadcast: totem.broadcastUse,
    multicastLoop: overrides.multicastLoop,
    interfaceName: overrides.interfaceName,
  });
}
