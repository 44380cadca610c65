/**
 * What corosync 3.1.7 does with the parsed config at startup (spec/config.md §5): logging
 * validation, totem defaults/validation, derived timeouts, `runtime.config.totem.*`, local node
 * selection, nodeid generation, bindnetaddr and UDP multicast write-back, system checks.
 *
 * Pure: host facts (hostname, local addresses, name resolution, key file reading) come in
 * through {@link StartupEnv}.
 */
import { Buffer } from 'node:buffer';
import {
  formatIp,
  ipEqual,
  isMulticast,
  lookupAll,
  totemipParse,
  type IpAddr,
  type IpVersion,
  type NameResolver,
} from './addr.js';
import { readLoggingConfig, type LoggingConfig } from './logging.js';
import { ConfigError } from './parser.js';
import { PG_RESERVE_OVERHEAD } from '../totem/pg-packet.js';
import {
  type ConfigMap,
  asInt32,
  getI32,
  getStr,
  getU16,
  getU32,
  getU64,
  getU8,
  i32Value,
  sortedKeys,
  sortedMap,
  strValue,
  u16Value,
  u32Value,
} from './values.js';
import { readUInt32BE } from '../common/bytes.js';

/** Linux HZ = 100 → MINIMUM_TIMEOUT 30 ms, MINIMUM_TIMEOUT_HOLD 14 ms. */
const HZ = 100;
export const MINIMUM_TIMEOUT = Math.trunc(1000 / HZ) * 3;
export const MINIMUM_TIMEOUT_HOLD = Math.trunc(MINIMUM_TIMEOUT * 0.8 - 1000 / HZ);
export const INTERFACE_MAX = 8;
const DEFAULT_PORT = 5405;
const KNET_MAX_HOST = 65536;
const KNET_MAX_PACKET_SIZE = 65536;
const UDP_NETMTU = 1500;
const KNET_PING_PRECISION = 2048;
const KNET_PONG_COUNT = 2;
/** KNET_MIN_KEY_LEN / KNET_MAX_KEY_LEN of the libknet linked to corosync 3.1.7 (measured: 128). */
export const PRIVATE_KEY_LEN_MIN = 128;
export const PRIVATE_KEY_LEN_MAX = 4096;
const LINK_MODE_BYTES = 64;
const DEFAULT_AUTHKEY = '/etc/corosync/authkey';

export type Transport = 'knet' | 'udpu' | 'udp';

/** Host facts the startup processing needs; the daemon fills them from `os`. */
export interface StartupEnv {
  /** uname nodename (`os.hostname()`). */
  hostname: string;
  /** Local interface addresses in getifaddrs order (all IPv4 first, then IPv6), numeric. */
  localAddresses: readonly string[];
  /**
   * Choose the local node explicitly (several daemons on one host): its nodeid, or its
   * position in the nodelist. Used instead of the name/address search.
   */
  localNodeIdOverride?: number;
  localNodePosOverride?: number;
  /** Forward name lookups (getaddrinfo). Without it only numeric addresses resolve. */
  resolve?: NameResolver;
  /** Reverse lookups of local addresses (getnameinfo). Without it none have a name. */
  reverse?: (addr: string) => string | undefined;
  /** Read the crypto key file; throws an errno error. Without it the key is not checked. */
  readKeyFile?: (path: string) => Buffer;
  /** `corosync -t`: stop after totem validation (no system.priority check). */
  testOnly?: boolean;
}

export interface TotemMember {
  addr: IpAddr;
  nodeid: number;
}

export interface TotemInterface {
  linknumber: number;
  configured: boolean;
  bindnet: IpAddr | undefined;
  mcastAddr: IpAddr | undefined;
  localIp: IpAddr | undefined;
  ipPort: number;
  ttl: number;
  knetLinkPriority: number;
  knetPingInterval: number;
  knetPingTimeout: number;
  knetPingPrecision: number;
  knetPongCount: number;
  knetTransport: 'udp' | 'sctp' | undefined;
  members: TotemMember[];
}

/** The effective totem timing values (totem_volatile_config_read). */
export interface TotemVolatile {
  token: number;
  tokenWarning: number;
  tokenRetransmit: number;
  hold: number;
  tokenRetransmitsBeforeLossConst: number;
  join: number;
  sendJoin: number;
  consensus: number;
  merge: number;
  downcheck: number;
  failRecvConst: number;
  seqnoUnchangedConst: number;
  heartbeatFailuresAllowed: number;
  maxNetworkDelay: number;
  windowSize: number;
  maxMessages: number;
  missCountConst: number;
  knetPmtudInterval: number;
  knetMtu: number;
  knetCompressionThreshold: number;
  knetCompressionLevel: number;
  knetCompressionModel: string;
  blockUnlistedIps: number;
  cancelTokenHoldOnRetransmit: number;
}

export interface TotemConfig extends TotemVolatile {
  version: number;
  transport: Transport;
  clusterName: string | undefined;
  ipVersion: IpVersion;
  linkMode: string;
  cryptoModel: string;
  cryptoCipher: string;
  cryptoHash: string;
  /** The key bytes when crypto is on and a reader was given. */
  privateKey: Buffer | undefined;
  netMtu: number;
  threads: number;
  clearNodeHighBit: boolean;
  configVersion: bigint;
  /** Local nodeid (explicit or generated); 0 when no local node was found. */
  nodeId: number;
  localNodePos: number | undefined;
  broadcastUse: boolean;
  interfaces: TotemInterface[];
}

export interface StartupResult {
  /** Every key under the config prefixes as corosync has it after loading (icmap order). */
  map: ConfigMap;
  warnings: string[];
  totem: TotemConfig;
  logging: LoggingConfig;
}

function fail(message: string): never {
  throw new ConfigError(message);
}

function parseError(reason: string): never {
  fail(`parse error in config: ${reason}`);
}

/** C atoi. */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  return Number(BigInt.asIntN(32, BigInt(m[1] as string)));
}

/** sscanf("nodelist.node.%u.%s"): the position and the rest, or undefined. */
function nodeKey(key: string): { pos: number; rest: string } | undefined {
  const m = /^nodelist\.node\.(\d+)\.(\S+)/.exec(key);
  if (!m) return undefined;
  return { pos: Number(BigInt.asUintN(32, BigInt(m[1] as string))), rest: m[2] as string };
}

/** sscanf("nodelist.node.%u.ring%u%s") with %s == "_addr": the link number. */
function ringKey(key: string): { pos: number; link: number } | undefined {
  const m = /^nodelist\.node\.(\d+)\.ring(\d+)_addr$/.exec(key);
  if (!m) return undefined;
  return {
    pos: Number(BigInt.asUintN(32, BigInt(m[1] as string))),
    link: Number(BigInt.asUintN(32, BigInt(m[2] as string))),
  };
}

function emptyInterface(linknumber: number): TotemInterface {
  return {
    linknumber,
    configured: false,
    bindnet: undefined,
    mcastAddr: undefined,
    localIp: undefined,
    ipPort: 0,
    ttl: 0,
    knetLinkPriority: 0,
    knetPingInterval: 0,
    knetPingTimeout: 0,
    knetPingPrecision: 0,
    knetPongCount: 0,
    knetTransport: undefined,
    members: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Volatile parameters

function readU32Param(
  map: ConfigMap,
  name: string,
  deletedKey: string | undefined,
  def: number,
  allowZero: boolean,
): number {
  const key = `totem.${name}`;
  let v = getU32(map, key);
  if (v === undefined || deletedKey === key || (!allowZero && v === 0)) v = def >>> 0;
  map.set(`runtime.config.${key}`, u32Value(v));
  return v;
}

/**
 * totem_volatile_config_read: effective timing values from `map` (defaults for absent, wrong
 * type, deleted or — where not allowed — zero values), published into `map` as
 * `runtime.config.totem.*`. `link0Members` is the member count of link 0 (token_coefficient).
 */
export function readVolatileConfig(map: ConfigMap, link0Members: number, deletedKey?: string): TotemVolatile {
  const u = (name: string, def: number, allowZero: boolean): number =>
    readU32Param(map, name, deletedKey, def, allowZero);
  const trblc = u('token_retransmits_before_loss_const', 4, false);
  let token = u('token', 3000, false);
  const tokenWarning = u('token_warning', 75, true);
  if (link0Members > 2) {
    const coefficient = getU32(map, 'totem.token_coefficient') ?? 650;
    token = (token + Math.imul(link0Members - 2, coefficient)) >>> 0;
    map.set('runtime.config.totem.token', u32Value(token));
  }
  const maxNetworkDelay = u('max_network_delay', 50, false);
  const windowSize = u('window_size', 50, false);
  const maxMessages = u('max_messages', 17, false);
  const missCountConst = u('miss_count_const', 5, false);
  const knetPmtudInterval = u('knet_pmtud_interval', 30, false);
  const knetMtu = u('knet_mtu', 0, false);
  const tokenRetransmit = u('token_retransmit', Math.trunc(token / (trblc + 0.2)), false);
  const hold = u('hold', Math.trunc(tokenRetransmit * 0.8 - 1000 / HZ), false);
  const join = u('join', 50, false);
  const consensus = u('consensus', Math.trunc(Math.fround(1.2 * token)), false);
  const merge = u('merge', 200, false);
  const downcheck = u('downcheck', 1000, false);
  const failRecvConst = u('fail_recv_const', 2500, false);
  const seqnoUnchangedConst = u('seqno_unchanged_const', 30, false);
  const sendJoin = u('send_join', 0, true);
  const heartbeatFailuresAllowed = u('heartbeat_failures_allowed', 0, true);
  const knetCompressionThreshold = u('knet_compression_threshold', 0, true);

  let level = getI32(map, 'totem.knet_compression_level');
  if (level === undefined || deletedKey === 'totem.knet_compression_level') level = 0;
  map.set('runtime.config.totem.knet_compression_level', i32Value(level));

  let model = getStr(map, 'totem.knet_compression_model');
  if (model === undefined || deletedKey === 'totem.knet_compression_model') model = 'none';
  map.set('runtime.config.totem.knet_compression_model', strValue(model));

  const bool = (name: string, def: number): number => {
    const key = `totem.${name}`;
    let val = def;
    const s = deletedKey === key ? undefined : getStr(map, key);
    if (s === 'yes') val = 1;
    else if (s === 'no') val = 0;
    map.set(`runtime.config.${key}`, u32Value(val));
    return val;
  };
  const blockUnlistedIps = bool('block_unlisted_ips', 1);
  const cancelTokenHoldOnRetransmit = bool('cancel_token_hold_on_retransmit', 0);

  return {
    token,
    tokenWarning,
    tokenRetransmit,
    hold,
    tokenRetransmitsBeforeLossConst: trblc,
    join,
    sendJoin,
    consensus,
    merge,
    downcheck,
    failRecvConst,
    seqnoUnchangedConst,
    heartbeatFailuresAllowed,
    maxNetworkDelay,
    windowSize,
    maxMessages,
    missCountConst,
    knetPmtudInterval,
    knetMtu,
    knetCompressionThreshold,
    knetCompressionLevel: level,
    knetCompressionModel: model,
    blockUnlistedIps,
    cancelTokenHoldOnRetransmit,
  };
}

/**
 * totem_volatile_config_validate. Returns the error message ("parse error in config: …") or
 * undefined. At startup the error is fatal; on a runtime change corosync only logs it.
 */
export function validateVolatileConfig(
  v: TotemVolatile,
  interfaces: readonly TotemInterface[],
  map: ConfigMap,
): string | undefined {
  const err = (reason: string): string => `parse error in config: ${reason}`;
  const MIN = MINIMUM_TIMEOUT;
  if (v.maxNetworkDelay < MIN) {
    return err(
      `The max_network_delay parameter (${asInt32(v.maxNetworkDelay)} ms) may not be less than (${MIN} ms).`,
    );
  }
  if (v.token < MIN) {
    return err(`The token timeout parameter (${asInt32(v.token)} ms) may not be less than (${MIN} ms).`);
  }
  const warning = asInt32(v.tokenWarning);
  if (warning > 100 || warning < 0) {
    return err(`The token warning parameter (${warning}%) must be between 0 (disabled) and 100.`);
  }
  if (v.tokenRetransmit < MIN) {
    if (getU32(map, 'totem.token_retransmit') !== undefined) {
      return err(
        `The token retransmit timeout parameter (${asInt32(v.tokenRetransmit)} ms) may not be less than (${MIN} ms).`,
      );
    }
    return err('Not appropriate token or token_retransmits_before_loss_const value set');
  }
  if (v.hold < MINIMUM_TIMEOUT_HOLD) {
    return err(
      `The token hold timeout parameter (${asInt32(v.hold)} ms) may not be less than (${MINIMUM_TIMEOUT_HOLD} ms).`,
    );
  }
  if (v.join < MIN) {
    return err(`The join timeout parameter (${asInt32(v.join)} ms) may not be less than (${MIN} ms).`);
  }
  if (v.consensus < MIN) {
    return err(
      `The consensus timeout parameter (${asInt32(v.consensus)} ms) may not be less than (${MIN} ms).`,
    );
  }
  if (v.consensus < v.join) {
    return err(
      `The consensus timeout parameter (${asInt32(v.consensus)} ms) may not be less than join timeout (${asInt32(v.join)} ms).`,
    );
  }
  if (v.merge < MIN) {
    return err(`The merge timeout parameter (${asInt32(v.merge)} ms) may not be less than (${MIN} ms).`);
  }
  if (v.downcheck < MIN) {
    return err(
      `The downcheck timeout parameter (${asInt32(v.downcheck)} ms) may not be less than (${MIN} ms).`,
    );
  }
  const configured = interfaces.filter((i) => i.configured);
  if (configured.length > 1) {
    const members = (configured[0] as TotemInterface).members.length;
    for (let i = 0; i < members; i++) {
      if (getStr(map, `nodelist.node.${i}.name`) === undefined) {
        return err("for a multi-link configuration, all nodes must have a 'name' attribute");
      }
    }
    if (configured.some((i) => i.members.length !== members)) {
      return err('Not all nodes have the same number of links');
    }
  }
  for (const iface of interfaces) {
    if (!iface.configured) continue;
    const first = iface.members[0];
    for (let j = 1; j < iface.members.length; j++) {
      const m = iface.members[j] as TotemMember;
      if (first && m.addr.family !== first.addr.family) {
        return err(
          `Nodes for link ${iface.linknumber} have different IP families (compared ${formatIp(m.addr)} with ${formatIp(first.addr)})`,
        );
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Local node

/** nodelist_byname: first node (icmap order) whose name or ring0_addr equals `find`. */
function nodelistByName(map: ConfigMap, find: string, stripDomain: boolean): number {
  for (const key of sortedKeys(map, 'nodelist.node.')) {
    const nk = nodeKey(key);
    if (!nk || (nk.rest !== 'name' && nk.rest !== 'ring0_addr')) continue;
    let name = getStr(map, key);
    if (name === undefined) continue;
    if (stripDomain) {
      const dot = name.indexOf('.');
      if (dot >= 0) name = name.slice(0, dot);
    }
    if (name === find) return nk.pos;
  }
  return -1;
}

function findLocalNodeByHost(map: ConfigMap, env: StartupEnv): number {
  const node = env.hostname;
  let pos = nodelistByName(map, node, false);
  if (pos > -1) return pos;
  let name = node;
  for (let dot = name.lastIndexOf('.'); dot >= 0; dot = name.lastIndexOf('.')) {
    name = name.slice(0, dot);
    pos = nodelistByName(map, name, false);
    if (pos > -1) return pos;
  }
  pos = nodelistByName(map, name, true);
  if (pos > -1) return pos;
  for (const addr of env.localAddresses) {
    const rname = env.reverse?.(addr);
    if (rname !== undefined) {
      pos = nodelistByName(map, rname, false);
      if (pos > -1) return pos;
      const dot = rname.indexOf('.');
      if (dot >= 0) {
        pos = nodelistByName(map, rname.slice(0, dot), false);
        if (pos > -1) return pos;
      }
    }
    pos = nodelistByName(map, addr, false);
    if (pos > -1) return pos;
  }
  const locals = env.localAddresses.flatMap((a) => lookupAll(a));
  for (const key of sortedKeys(map, 'nodelist.node.')) {
    const nk = nodeKey(key);
    if (!nk || (nk.rest !== 'name' && nk.rest !== 'ring0_addr')) continue;
    const name = getStr(map, key);
    if (name === undefined) continue;
    const resolved = lookupAll(name, env.resolve);
    if (resolved.some((r) => locals.some((l) => ipEqual(r, l)))) return nk.pos;
  }
  return -1;
}

/** find_local_node: position of this host in the nodelist, stored as nodelist.local_node_pos. */
function findLocalNode(map: ConfigMap, env: StartupEnv, useCache: boolean): number {
  if (useCache) {
    const cached = getU32(map, 'nodelist.local_node_pos');
    if (cached !== undefined) return cached;
  }
  let pos = -1;
  if (env.localNodePosOverride !== undefined) {
    const p = env.localNodePosOverride;
    if (sortedKeys(map, `nodelist.node.${p}.`).length > 0) pos = p;
  } else if (env.localNodeIdOverride !== undefined) {
    for (const key of sortedKeys(map, 'nodelist.node.')) {
      const nk = nodeKey(key);
      if (nk && nk.rest === 'nodeid' && getU32(map, key) === env.localNodeIdOverride) {
        pos = nk.pos;
        break;
      }
    }
  } else {
    pos = findLocalNodeByHost(map, env);
  }
  if (pos > -1) map.set('nodelist.local_node_pos', u32Value(pos));
  return pos;
}

// ---------------------------------------------------------------------------------------------
// Totem config read

/** generate_nodeid: the IPv4 address as a big-endian number, or -1. */
function generateNodeId(addr: string, clearHighBit: boolean, resolve?: NameResolver): number {
  const ip = totemipParse(addr, 'ipv4', resolve);
  if (!ip) return -1;
  let id = readUInt32BE(ip.bytes, 0);
  if (clearHighBit) id = (id & 0x7fffffff) >>> 0;
  return id;
}

/** UDP multicast address derived from the cluster name (get_cluster_mcast_addr). */
export function clusterMcastAddr(clusterName: string | Buffer, linknumber: number, family: 4 | 6): string {
  const bytes = typeof clusterName === 'string' ? Buffer.from(clusterName, 'latin1') : clusterName;
  let value = 0;
  for (const b of bytes) {
    value = (value << 1) | 0;
    value = (value + (b >= 0x80 ? b - 0x100 : b)) | 0;
  }
  const id = ((value & 0xffff) + linknumber) & 0xffff;
  return family === 4 ? `239.192.${id >> 8}.${id % 0xff}` : id === 0 ? 'ff15::' : `ff15::${id.toString(16)}`;
}

interface ReadState {
  tc: TotemConfig;
  warnings: Set<string>;
}

const W_MEMBERS_IGNORED = 'member section is used together with nodelist. Members ignored.';
const W_MEMBERS_DEPRECATED = 'member section is deprecated.';
const W_TOTEM_NODEID =
  'nodeid in totem section is deprecated and ignored. Nodelist (or autogenerated) nodeid is going to be used.';
const W_BINDNET_NODELIST =
  'interface section bindnetaddr is used together with nodelist. Nodelist one is going to be used.';

function configConvertNodelistToInterface(map: ConfigMap, env: StartupEnv): void {
  const pos = findLocalNode(map, env, true);
  if (pos < 0) return;
  for (const key of sortedKeys(map, `nodelist.node.${pos}.`)) {
    const rk = ringKey(key);
    if (!rk) continue;
    const addr = getStr(map, key);
    if (addr === undefined) continue;
    map.set(`totem.interface.${rk.link}.bindnetaddr`, strValue(addr));
  }
}

function getInterfaceParams(map: ConfigMap, env: StartupEnv, st: ReadState): void {
  const tc = st.tc;
  const clusterName = getStr(map, 'totem.cluster_name');
  let tmpVersion: IpVersion = 'ipv4';
  for (const key of sortedKeys(map, 'totem.interface.')) {
    const m = /^totem\.interface\.([^.]+)\.(\S+)/.exec(key);
    if (!m) continue;
    if (m[2] !== 'bindnetaddr' && tc.transport === 'udp') continue;
    const link = atoi(m[1] as string) >>> 0;
    if (link >= INTERFACE_MAX) {
      parseError(`interface ring number ${link} is bigger than allowed maximum ${INTERFACE_MAX - 1}`);
    }
    const iface = tc.interfaces[link] as TotemInterface;
    const bind = getStr(map, `totem.interface.${link}.bindnetaddr`);
    if (bind !== undefined) {
      const ip = totemipParse(bind, tc.ipVersion, env.resolve);
      if (!ip) fail(`failed to parse bindnet address '${bind}'`);
      iface.bindnet = ip;
    }
    const mcast = getStr(map, `totem.interface.${link}.mcastaddr`);
    if (mcast !== undefined) {
      const ip = totemipParse(mcast, tc.ipVersion, env.resolve);
      if (!ip) fail(`failed to parse mcast address '${mcast}'`);
      iface.mcastAddr = ip;
    } else if (tc.transport === 'udp') {
      const b0 = (tc.interfaces[0] as TotemInterface).bindnet;
      if (b0?.family === 4) tmpVersion = 'ipv4';
      else if (b0?.family === 6) tmpVersion = 'ipv6';
      if (clusterName !== undefined) {
        const fam = tmpVersion === 'ipv4' ? 4 : 6;
        iface.mcastAddr = totemipParse(clusterMcastAddr(clusterName, link, fam), tmpVersion);
      }
    }
    if (getStr(map, `totem.interface.${link}.broadcast`) === 'yes') tc.broadcastUse = true;

    const port = getU16(map, `totem.interface.${link}.mcastport`);
    iface.ipPort = port ?? (tc.broadcastUse ? DEFAULT_PORT + 2 * link : DEFAULT_PORT + link);
    iface.ttl = getU8(map, `totem.interface.${link}.ttl`) ?? 1;
    iface.knetTransport = 'udp';
    const kt = getStr(map, `totem.interface.${link}.knet_transport`);
    if (kt !== undefined) {
      if (kt === 'sctp') iface.knetTransport = 'sctp';
      else if (kt === 'udp') iface.knetTransport = 'udp';
      else fail("Unrecognised knet_transport. expected 'udp' or 'sctp'");
    }
    iface.configured = true;
    iface.knetLinkPriority = getU8(map, `totem.interface.${link}.knet_link_priority`) ?? 1;
    iface.knetPingInterval = getU32(map, `totem.interface.${link}.knet_ping_interval`) ?? 0;
    iface.knetPingTimeout = getU32(map, `totem.interface.${link}.knet_ping_timeout`) ?? 0;
    iface.knetPingPrecision =
      getU32(map, `totem.interface.${link}.knet_ping_precision`) ?? KNET_PING_PRECISION;
    iface.knetPongCount = getU32(map, `totem.interface.${link}.knet_pong_count`) ?? KNET_PONG_COUNT;

    const members: TotemMember[] = [];
    for (const mk of sortedKeys(map, `totem.interface.${link}.member.`)) {
      if (members.length === 0) {
        if (getStr(map, 'nodelist.node.0.ring0_addr') !== undefined) {
          st.warnings.add(W_MEMBERS_IGNORED);
          break;
        }
        st.warnings.add(W_MEMBERS_DEPRECATED);
      }
      const s = getStr(map, mk);
      if (s === undefined) continue;
      const ip = totemipParse(s, tc.ipVersion, env.resolve);
      if (!ip) fail(`failed to parse node address '${s}'`);
      members.push({ addr: ip, nodeid: 0 });
    }
    iface.members = members;
  }
}

function putNodelistMembers(map: ConfigMap, env: StartupEnv, tc: TotemConfig): void {
  for (const iface of tc.interfaces) iface.members = [];
  let lastPos = -1;
  for (const key of sortedKeys(map, 'nodelist.node.')) {
    const nk = nodeKey(key);
    if (!nk || nk.pos === lastPos) continue;
    lastPos = nk.pos;
    const pos = nk.pos;
    for (const key2 of sortedKeys(map, `nodelist.node.${pos}.`)) {
      let nodeid = getU32(map, `nodelist.node.${pos}.nodeid`) ?? 0;
      const rk = ringKey(key2);
      if (!rk) continue;
      if (rk.link >= INTERFACE_MAX) {
        parseError(`interface ring number ${rk.link} is bigger than allowed maximum ${INTERFACE_MAX - 1}`);
      }
      const addrStr = getStr(map, key2);
      if (addrStr === undefined) continue;
      if (nodeid === 0 && (tc.transport === 'udp' || tc.transport === 'udpu')) {
        const ring0 = getStr(map, `nodelist.node.${pos}.ring0_addr`);
        if (ring0 !== undefined) {
          const gen = generateNodeId(ring0, tc.clearNodeHighBit, env.resolve);
          if (gen === -1)
            fail(`An IPV6 network requires that a node ID be specified for address '${addrStr}'.`);
          nodeid = gen;
          map.set(`nodelist.node.${pos}.nodeid`, u32Value(nodeid));
        }
      }
      if (nodeid === 0 && tc.transport === 'knet') {
        fail(`Knet requires an explicit nodeid to be specified for address '${addrStr}'.`);
      }
      if (tc.transport === 'knet' && nodeid >= KNET_MAX_HOST) {
        fail(`Knet requires nodeid to be less than ${KNET_MAX_HOST} for address '${addrStr}'.`);
      }
      const ip = totemipParse(addrStr, tc.ipVersion, env.resolve);
      if (!ip) fail(`failed to parse node address '${addrStr}'`);
      const iface = tc.interfaces[rk.link] as TotemInterface;
      iface.members.push({ addr: ip, nodeid });
      iface.configured = true;
    }
  }
  // configure_link_params
  const localPos = findLocalNode(map, env, false);
  for (const iface of tc.interfaces) {
    if (!iface.configured) continue;
    const addr = getStr(map, `nodelist.node.${localPos >>> 0}.ring${iface.linknumber}_addr`);
    if (addr === undefined) continue;
    const ip = totemipParse(addr, tc.ipVersion, env.resolve);
    if (!ip) continue;
    iface.localIp = ip;
    if (!iface.knetLinkPriority) iface.knetLinkPriority = 1;
    if (!iface.knetPingPrecision) iface.knetPingPrecision = KNET_PING_PRECISION;
    if (!iface.knetPongCount) iface.knetPongCount = KNET_PONG_COUNT;
    if (!iface.knetTransport) iface.knetTransport = 'udp';
    if (!iface.ipPort) iface.ipPort = DEFAULT_PORT + iface.linknumber;
  }
}

function readCrypto(map: ConfigMap, env: StartupEnv, tc: TotemConfig): void {
  tc.cryptoModel = getStr(map, 'totem.crypto_model') ?? 'nss';
  let cipher = 'none';
  let hash = 'none';
  if (getStr(map, 'totem.secauth') === 'on') {
    cipher = 'aes256';
    hash = 'sha256';
  }
  const c = getStr(map, 'totem.crypto_cipher');
  if (c !== undefined && ['none', 'aes256', 'aes192', 'aes128'].includes(c)) cipher = c;
  const h = getStr(map, 'totem.crypto_hash');
  if (h !== undefined && ['none', 'md5', 'sha1', 'sha256', 'sha384', 'sha512'].includes(h)) hash = h;
  if (cipher !== 'none' && hash === 'none')
    fail('crypto_cipher requires crypto_hash with value other than none');
  if (tc.cryptoModel === 'none') fail('invalid crypto_model');
  tc.cryptoCipher = cipher;
  tc.cryptoHash = hash;
  if (cipher === 'none' && hash === 'none') return;

  const readKeyfile = (path: string): Buffer | undefined => {
    if (!env.readKeyFile) return undefined;
    let data: Buffer;
    try {
      data = env.readKeyFile(path);
    } catch (err) {
      fail(`Could not open ${path}: ${strerror(err)}`);
    }
    const key = data.subarray(0, PRIVATE_KEY_LEN_MAX);
    if (key.length < PRIVATE_KEY_LEN_MIN) {
      fail(`Could only read ${key.length * 8} bits of minimum ${PRIVATE_KEY_LEN_MIN * 8} bits from ${path}.`);
    }
    return key;
  };
  const keyfile = getStr(map, 'totem.keyfile');
  if (keyfile !== undefined) {
    tc.privateKey = readKeyfile(keyfile);
    return;
  }
  const inline = map.get('totem.key');
  if (inline) {
    // The length includes the string's NUL.
    if (inline.bytes.length > PRIVATE_KEY_LEN_MAX) fail('key is too long');
    if (inline.bytes.length < PRIVATE_KEY_LEN_MIN) fail('key is too short');
    tc.privateKey = Buffer.from(inline.bytes);
    return;
  }
  tc.privateKey = readKeyfile(DEFAULT_AUTHKEY);
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  EPERM: 'Operation not permitted',
};

/** strerror text of a Node errno error. */
export function strerror(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ERRNO_TEXT[code]) return ERRNO_TEXT[code] as string;
  return err instanceof Error ? err.message : String(err);
}

/** totem_config_read. */
function totemConfigRead(map: ConfigMap, env: StartupEnv, warnings: Set<string>): TotemConfig {
  let transport: Transport = 'knet';
  const t = getStr(map, 'totem.transport');
  if (t !== undefined) {
    if (t === 'udpu' || t === 'udp' || t === 'knet') transport = t;
    else fail('Invalid transport type. Should be udpu, udp or knet');
  }
  const tc: TotemConfig = {
    ...readVolatileShape(),
    version: getU32(map, 'totem.version') ?? 0,
    transport,
    clusterName: undefined,
    ipVersion: transport === 'udp' ? 'ipv4' : 'ipv6-4',
    linkMode: 'passive',
    cryptoModel: 'nss',
    cryptoCipher: 'none',
    cryptoHash: 'none',
    privateKey: undefined,
    netMtu: 0,
    threads: 0,
    clearNodeHighBit: false,
    configVersion: getU64(map, 'totem.config_version') ?? 0n,
    nodeId: 0,
    localNodePos: undefined,
    broadcastUse: false,
    interfaces: Array.from({ length: INTERFACE_MAX }, (_, i) => emptyInterface(i)),
  };
  const cn = map.get('totem.cluster_name');
  if (cn && getStr(map, 'totem.cluster_name') !== undefined) {
    tc.clusterName = cn.bytes.subarray(0, cn.bytes.length - 1).toString('utf8');
  }
  readCrypto(map, env, tc);
  const linkMode = getStr(map, 'totem.link_mode');
  if (linkMode !== undefined) {
    if (linkMode.length >= LINK_MODE_BYTES) fail('totem.link_mode is too long');
    tc.linkMode = linkMode;
  }
  if (getU32(map, 'totem.nodeid') !== undefined) warnings.add(W_TOTEM_NODEID);
  tc.clearNodeHighBit = getStr(map, 'totem.clear_node_high_bit') === 'yes';
  tc.threads = getU32(map, 'totem.threads') ?? 0;
  tc.netMtu = getU32(map, 'totem.netmtu') ?? 0;
  const ipv = getStr(map, 'totem.ip_version');
  if (ipv === 'ipv4' || ipv === 'ipv6' || ipv === 'ipv6-4' || ipv === 'ipv4-6') tc.ipVersion = ipv;

  if (getStr(map, 'totem.interface.0.bindnetaddr') === undefined) {
    configConvertNodelistToInterface(map, env);
  } else if (getStr(map, 'nodelist.node.0.ring0_addr') !== undefined) {
    warnings.add(W_BINDNET_NODELIST);
    configConvertNodelistToInterface(map, env);
  }

  const st: ReadState = { tc, warnings };
  tc.broadcastUse = false;
  getInterfaceParams(map, env, st);
  if (tc.broadcastUse) {
    (tc.interfaces[0] as TotemInterface).mcastAddr = { family: 4, bytes: Buffer.from([255, 255, 255, 255]) };
  }
  if (tc.transport === 'udp') {
    for (const iface of tc.interfaces) {
      if (!iface.configured) continue;
      const mk = `totem.interface.${iface.linknumber}.mcastaddr`;
      if (getStr(map, mk) === undefined && iface.mcastAddr) map.set(mk, strValue(formatIp(iface.mcastAddr)));
      const pk = `totem.interface.${iface.linknumber}.mcastport`;
      if (getU16(map, pk) === undefined) map.set(pk, u16Value(iface.ipPort));
    }
  }

  if (
    getStr(map, 'nodelist.node.0.name') !== undefined ||
    getStr(map, 'nodelist.node.0.ring0_addr') !== undefined
  ) {
    const pos = findLocalNode(map, env, true);
    if (pos !== -1) {
      tc.nodeId = getU32(map, `nodelist.node.${pos}.nodeid`) ?? 0;
      if (tc.transport === 'knet' && !tc.nodeId) fail('Knet requires an explicit nodeid for the local node');
      if ((tc.transport === 'udp' || tc.transport === 'udpu') && !tc.nodeId) {
        const ring0 = getStr(map, `nodelist.node.${pos}.ring0_addr`) ?? '';
        const gen = generateNodeId(ring0, tc.clearNodeHighBit, env.resolve);
        if (gen === -1) fail('An IPV6 network requires that a node ID be specified');
        tc.nodeId = gen;
      }
    }
    putNodelistMembers(map, env, tc);
  }

  const vol = readVolatileConfig(map, (tc.interfaces[0] as TotemInterface).members.length);
  Object.assign(tc, vol);

  // calc_knet_ping_timers
  for (const iface of tc.interfaces) {
    if (!iface.configured) continue;
    if (!iface.knetPongCount) iface.knetPongCount = KNET_PONG_COUNT;
    if (!iface.knetPingTimeout) iface.knetPingTimeout = Math.trunc(tc.token / iface.knetPongCount);
    map.set(
      `runtime.config.totem.interface.${iface.linknumber}.knet_ping_timeout`,
      u32Value(iface.knetPingTimeout),
    );
    if (!iface.knetPingInterval) iface.knetPingInterval = Math.trunc(tc.token / (iface.knetPongCount * 2));
    map.set(
      `runtime.config.totem.interface.${iface.linknumber}.knet_ping_interval`,
      u32Value(iface.knetPingInterval),
    );
  }
  const lp = getU32(map, 'nodelist.local_node_pos');
  tc.localNodePos = lp;
  return tc;
}

function readVolatileShape(): TotemVolatile {
  return {
    token: 0,
    tokenWarning: 0,
    tokenRetransmit: 0,
    hold: 0,
    tokenRetransmitsBeforeLossConst: 0,
    join: 0,
    sendJoin: 0,
    consensus: 0,
    merge: 0,
    downcheck: 0,
    failRecvConst: 0,
    seqnoUnchangedConst: 0,
    heartbeatFailuresAllowed: 0,
    maxNetworkDelay: 0,
    windowSize: 0,
    maxMessages: 0,
    missCountConst: 0,
    knetPmtudInterval: 0,
    knetMtu: 0,
    knetCompressionThreshold: 0,
    knetCompressionLevel: 0,
    knetCompressionModel: 'none',
    blockUnlistedIps: 0,
    cancelTokenHoldOnRetransmit: 0,
  };
}

/** check_for_duplicate_nodeids, including its scan order quirk (see comments). */
function duplicateNodeIdError(map: ConfigMap, tc: TotemConfig): string | undefined {
  let result: string | undefined;
  const keys = sortedKeys(map, 'nodelist.node.');
  let lastPos = -1;
  for (const key of keys) {
    const nk = nodeKey(key);
    if (!nk || nk.pos === lastPos) continue;
    lastPos = nk.pos;
    const pos = nk.pos;
    let nodeid = getU32(map, `nodelist.node.${pos}.nodeid`);
    let autogenerated = false;
    let ring0: string | undefined;
    if (nodeid === undefined) {
      ring0 = getStr(map, `nodelist.node.${pos}.ring0_addr`);
      if (ring0 === undefined) continue;
      const gen = generateNodeId(ring0, tc.clearNodeHighBit);
      if (gen === -1) continue;
      nodeid = gen;
      autogenerated = true;
    }
    // The inner scan walks keys in icmap (string) order and stops at the first key whose
    // position is not below `pos`, so e.g. nodes 2..9 are never compared with node 10.
    let pos1 = 0;
    for (const k1 of keys) {
      if (!(pos1 < pos)) break;
      const n1 = nodeKey(k1);
      if (!n1) continue;
      pos1 = n1.pos;
      if (pos1 >= pos || n1.rest !== 'nodeid') continue;
      let nodeid1 = getU32(map, `nodelist.node.${pos1}.nodeid`);
      if (nodeid1 === undefined) {
        const r1 = getStr(map, `nodelist.node.${pos1}.ring0_addr`);
        if (r1 === undefined) continue;
        const g1 = generateNodeId(r1, tc.clearNodeHighBit);
        if (g1 === -1) continue;
        nodeid1 = g1;
      }
      if (nodeid === nodeid1) {
        const how = autogenerated ? `(autogenerated from ${ring0})` : '';
        result = `Nodeid ${nodeid}${how} appears twice in corosync.conf`;
        break;
      }
    }
  }
  return result;
}

/** totem_config_validate. */
function totemConfigValidate(map: ConfigMap, tc: TotemConfig): void {
  const configured = tc.interfaces.filter((i) => i.configured);
  if (configured.length === 0) parseError('No interfaces defined');
  if (getU32(map, 'nodelist.local_node_pos') === undefined) parseError('No valid name found for local host');
  for (const iface of configured) {
    const i = iface.linknumber;
    if (tc.transport === 'udp' && !iface.mcastAddr)
      parseError(`No multicast address specified for interface ${i}`);
    if (iface.ipPort === 0) parseError(`No multicast port specified for interface ${i}`);
    if (tc.transport !== 'udp' && iface.ttl !== 1) {
      parseError(`Can only set ttl on multicast transport types for interface ${i}`);
    }
    if (tc.transport !== 'knet' && iface.knetLinkPriority !== 1) {
      parseError(`Can only set link priority on knet transport type for interface ${i}`);
    }
    if (iface.mcastAddr?.family === 6 && tc.nodeId === 0) {
      parseError(`An IPV6 network requires that a node ID be specified for interface ${i}`);
    }
    if (!tc.broadcastUse && tc.transport === 'udp') {
      if (iface.mcastAddr?.family !== iface.bindnet?.family) {
        parseError(`Multicast address family does not match bind address family for interface ${i}`);
      }
      if (iface.mcastAddr && !isMulticast(iface.mcastAddr)) {
        parseError(`mcastaddr is not a correct multicast address for interface ${i}`);
      }
    }
  }
  if (tc.version !== 2) parseError('This totem parser can only parse version 2 configurations.');
  const vErr = validateVolatileConfig(tc, tc.interfaces, map);
  if (vErr !== undefined) fail(vErr);
  const dup = duplicateNodeIdError(map, tc);
  if (dup !== undefined) fail(dup);
  if (!['active', 'rr', 'passive'].includes(tc.linkMode)) {
    parseError(
      `The Knet link mode "${tc.linkMode}" specified is invalid.  It must be active, passive or rr.`,
    );
  }
  const interfaceMax = tc.transport === 'knet' ? INTERFACE_MAX : 1;
  if (interfaceMax < configured.length) {
    parseError(`${configured.length} is too many configured interfaces for non-Knet transport.`);
  }
  if (tc.transport !== 'knet' && (tc.cryptoCipher !== 'none' || tc.cryptoHash !== 'none')) {
    parseError('crypto_cipher & crypto_hash are only valid for the Knet transport.');
  }
  if (tc.netMtu === 0) tc.netMtu = tc.transport === 'knet' ? KNET_MAX_PACKET_SIZE : UDP_NETMTU;
  // corosync does not check this and computes its packet sizes with unsigned underflow;
  // we refuse what totempg cannot pack (its 90-byte srp allowance, its headers, 9 data bytes)
  if (tc.netMtu < MIN_NET_MTU) {
    parseError(`totem.netmtu ${tc.netMtu} is too small (corosync-ts needs at least ${MIN_NET_MTU})`);
  }
}

/** The smallest totem.netmtu totempg can pack a message byte into (deviation: corosync has none). */
export const MIN_NET_MTU = 90 + PG_RESERVE_OVERHEAD + 9;

/** The system.priority check done at startup (after `-t` would have exited). */
function checkPriority(map: ConfigMap): void {
  const p = getStr(map, 'system.priority');
  if (p === undefined || p === 'max' || p === 'min') return;
  const m = /^[ \t\n\v\f\r]*[+-]?\d+$/.exec(p);
  const n = m ? BigInt(p.trim()) : undefined;
  if (n === undefined || n > 2147483647n || n < -2147483648n) fail(`Priority value ${p} is invalid`);
}

/** The key prefixes this module is responsible for. */
export const CONFIG_PREFIXES = [
  'totem.',
  'nodelist.',
  'quorum.',
  'logging.',
  'system.',
  'resources.',
  'uidgid.',
  'runtime.config.',
] as const;

/**
 * Everything corosync does with a parsed config before its services start: logging checks,
 * totem_config_read, the warnings, totem_config_validate and (unless testOnly) the
 * system.priority check. Returns the resulting icmap contents (icmap order), the warnings
 * corosync logs, and the effective totem and logging settings. Throws ConfigError.
 */
export function buildStartupMap(parsed: ConfigMap, env: StartupEnv): StartupResult {
  const map: ConfigMap = new Map(parsed);
  const logWarnings: string[] = [];
  const logging = readLoggingConfig(map, logWarnings);
  const totemWarnings = new Set<string>();
  const totem = totemConfigRead(map, env, totemWarnings);
  const warnings = [...logWarnings];
  for (const w of [W_MEMBERS_IGNORED, W_MEMBERS_DEPRECATED, W_TOTEM_NODEID, W_BINDNET_NODELIST]) {
    if (totemWarnings.has(w)) warnings.push(w);
  }
  if (totemWarnings.size > 0) warnings.push('Please migrate config file to nodelist.');
  totemConfigValidate(map, totem);
  if (!env.testOnly) checkPriority(map);
  return { map: sortedMap(map), warnings, totem, logging };
}
