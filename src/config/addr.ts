/**
 * IP address parsing as corosync's totemip_parse does it (getaddrinfo with a family hint),
 * without native calls: numeric addresses are parsed here, names go through a resolver the
 * caller supplies (e.g. one built from /etc/hosts).
 */
import { Buffer } from 'node:buffer';
import { readUInt16BE, writeUInt16BE, writeUInt32BE } from '../common/bytes.js';

export interface IpAddr {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Buffer;
}

/** totem_ip_version_enum. */
export type IpVersion = 'ipv4' | 'ipv6' | 'ipv6-4' | 'ipv4-6';

/** Forward lookup of a host name: its addresses in getaddrinfo order (numeric strings). */
export type NameResolver = (name: string) => string[];

/** inet_aton: a, a.b, a.b.c, a.b.c.d; each part decimal, octal (0…) or hex (0x…). */
export function parseIPv4(text: string): Buffer | undefined {
  const parts = text.split('.');
  if (parts.length < 1 || parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = p.length === 1 ? 0 : parseInt(p.slice(1), 8);
    else if (/^[1-9][0-9]*$/.test(p)) n = parseInt(p, 10);
    else return undefined;
    if (!Number.isFinite(n)) return undefined;
    nums.push(n);
  }
  let value: number;
  const last = nums[nums.length - 1] as number;
  const lead = nums.slice(0, -1);
  if (lead.some((n) => n > 255)) return undefined;
  const maxLast = [0xffffffff, 0xffffff, 0xffff, 0xff][lead.length] as number;
  if (last > maxLast) return undefined;
  if (lead.length === 0) value = last;
  else if (lead.length === 1) value = (lead[0] as number) * 2 ** 24 + last;
  else if (lead.length === 2) value = (lead[0] as number) * 2 ** 24 + (lead[1] as number) * 2 ** 16 + last;
  else
    value =
      (lead[0] as number) * 2 ** 24 + (lead[1] as number) * 2 ** 16 + (lead[2] as number) * 2 ** 8 + last;
  const b = Buffer.alloc(4);
  writeUInt32BE(b, value >>> 0);
  return b;
}

/** Strict dotted quad (inet_pton AF_INET). */
function parseDottedQuad(text: string): Buffer | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const nums = m.slice(1).map(Number);
  if (nums.some((n) => n > 255)) return undefined;
  return Buffer.from(nums);
}

/** inet_pton AF_INET6 (a trailing %scope is accepted and ignored, as getaddrinfo does). */
export function parseIPv6(text: string): Buffer | undefined {
  const pct = text.indexOf('%');
  const s = pct >= 0 ? text.slice(0, pct) : text;
  if (s === '' || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i] as string;
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseDottedQuad(it);
        if (!v4) return undefined;
        out.push(readUInt16BE(v4, 0), readUInt16BE(v4, 2));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] as string);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => writeUInt16BE(b, g, i * 2));
  return b;
}

/** inet_ntop. */
export function formatIp(addr: IpAddr): string {
  if (addr.family === 4) return Array.from(addr.bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(readUInt16BE(addr.bytes, i * 2));
  // IPv4-compatible / mapped forms as glibc prints them.
  const zeros5 = groups.slice(0, 5).every((g) => g === 0);
  if (zeros5 && (groups[5] === 0xffff || (groups[5] === 0 && (groups[6] as number) !== 0))) {
    const v4 = Array.from(addr.bytes.subarray(12)).join('.');
    return groups[5] === 0xffff ? `::ffff:${v4}` : `::${v4}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.map((g) => g.toString(16)).join(':');
  const left = groups
    .slice(0, bestStart)
    .map((g) => g.toString(16))
    .join(':');
  const right = groups
    .slice(bestStart + bestLen)
    .map((g) => g.toString(16))
    .join(':');
  return `${left}::${right}`;
}

function numeric(text: string): IpAddr[] {
  const v4 = parseIPv4(text);
  if (v4) return [{ family: 4, bytes: v4 }];
  const v6 = parseIPv6(text);
  if (v6) return [{ family: 6, bytes: v6 }];
  return [];
}

/** getaddrinfo: numeric forms first, then the resolver (which yields numeric strings). */
export function lookupAll(text: string, resolve?: NameResolver): IpAddr[] {
  const n = numeric(text);
  if (n.length > 0) return n;
  if (!resolve) return [];
  return resolve(text).flatMap(numeric);
}

/** totemip_parse: pick an address of `text` according to the ip_version preference. */
export function totemipParse(text: string, version: IpVersion, resolve?: NameResolver): IpAddr | undefined {
  const all = lookupAll(text, resolve);
  const v4 = all.find((a) => a.family === 4);
  const v6 = all.find((a) => a.family === 6);
  switch (version) {
    case 'ipv4':
      return v4;
    case 'ipv6':
      return v6;
    case 'ipv6-4':
      return v6 ?? v4;
    case 'ipv4-6':
      return v4 ?? v6;
  }
}

export function ipEqual(a: IpAddr, b: IpAddr): boolean {
  return a.family === b.family && a.bytes.equals(b.bytes);
}

/** totemip_is_mcast == 0. */
export function isMulticast(a: IpAddr): boolean {
  return a.family === 4 ? ((a.bytes[0] as number) & 0xf0) === 0xe0 : a.bytes[0] === 0xff;
}

/** A resolver for names listed in /etc/hosts-format text (forward lookups, file order). */
export function hostsFileResolver(hostsText: string): {
  resolve: NameResolver;
  reverse: (addr: string) => string | undefined;
} {
  const byName = new Map<string, string[]>();
  const byAddr = new Map<string, string>();
  for (const raw of hostsText.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [addr, ...names] = line.split(/\s+/);
    if (!addr || names.length === 0) continue;
    const parsed = numeric(addr)[0];
    if (!parsed) continue;
    const canon = formatIp(parsed);
    for (const n of names) {
      const key = n.toLowerCase();
      const list = byName.get(key) ?? [];
      list.push(canon);
      byName.set(key, list);
    }
    if (!byAddr.has(canon)) byAddr.set(canon, names[0] as string);
  }
  return {
    resolve: (name) => byName.get(name.toLowerCase()) ?? [],
    reverse: (addr) => {
      const p = numeric(addr)[0];
      return p ? byAddr.get(formatIp(p)) : undefined;
    },
  };
}
