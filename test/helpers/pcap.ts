/**
 * A small reader for classic libpcap files (not pcapng) holding Ethernet frames: yields the
 * IPv4/UDP datagrams with their timestamps and addresses. Enough for the capture vectors in
 * test/vectors (a copy of the project's shared/vectors); anything that is not an unfragmented IPv4 UDP datagram is counted in
 * `skipped` and left out.
 *
 * File header (24 bytes): magic u32 (0xa1b2c3d4 = µs stamps, 0xa1b23c4d = ns stamps; read in
 * either byte order to learn the file's order), version u16 ×2, thiszone i32, sigfigs u32,
 * snaplen u32, linktype u32 (1 = Ethernet). Each record: ts_sec u32, ts_frac u32, incl_len u32,
 * orig_len u32, then incl_len bytes of frame.
 */
import { readFileSync } from 'node:fs';

/** One UDP datagram of a capture. */
export interface UdpDatagram {
  /** 0-based position among the datagrams returned (not counting skipped frames). */
  readonly index: number;
  /** Seconds since the epoch, as a float (µs precision is exact only via tsSec/tsUsec). */
  readonly time: number;
  readonly tsSec: number;
  /** Sub-second part in microseconds (ns files are truncated to µs). */
  readonly tsUsec: number;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  /** The UDP payload, a view into the file buffer. */
  readonly payload: Buffer;
}

export interface PcapFile {
  readonly linkType: number;
  readonly nanosecond: boolean;
  readonly datagrams: UdpDatagram[];
  /** Frames that were not unfragmented IPv4/UDP (ARP, IPv6, fragments, truncated...). */
  readonly skipped: number;
}

const LINKTYPE_ETHERNET = 1;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const IPPROTO_UDP = 17;

function ipv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Parse a classic pcap image. Throws on a malformed file header or record header. */
export function parsePcap(file: Buffer): PcapFile {
  if (file.length < 24) throw new Error(`pcap: file shorter than its 24-byte header (${file.length})`);
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  let nanosecond: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nanosecond = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = file.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) {
      throw new Error(`pcap: not a classic pcap file (magic 0x${magicLE.toString(16)})`);
    }
    le = false;
    nanosecond = magicBE === 0xa1b23c4d;
  }
  const r32 = (off: number): number => (le ? file.readUInt32LE(off) : file.readUInt32BE(off));
  const linkType = r32(20) & 0x0fffffff;
  if (linkType !== LINKTYPE_ETHERNET)
    throw new Error(`pcap: link type ${linkType}, only Ethernet (1) supported`);

  const datagrams: UdpDatagram[] = [];
  let skipped = 0;
  let off = 24;
  while (off < file.length) {
    if (off + 16 > file.length) throw new Error(`pcap: truncated record header at offset ${off}`);
    const tsSec = r32(off);
    const frac = r32(off + 4);
    const incl = r32(off + 8);
    const start = off + 16;
    const end = start + incl;
    if (end > file.length) throw new Error(`pcap: record at offset ${off} runs past the end of the file`);
    off = end;
    const tsUsec = nanosecond ? Math.floor(frac / 1000) : frac;
    const frame = file.subarray(start, end);
    const d = parseEthernetUdp(frame);
    if (d === null) {
      skipped++;
      continue;
    }
    datagrams.push({
      index: datagrams.length,
      time: tsSec + tsUsec / 1e6,
      tsSec,
      tsUsec,
      ...d,
    });
  }
  return { linkType, nanosecond, datagrams, skipped };
}

type Addressed = Pick<UdpDatagram, 'src' | 'sport' | 'dst' | 'dport' | 'payload'>;

/** Ethernet (optionally one VLAN tag) → IPv4 → UDP, or null. */
function parseEthernetUdp(frame: Buffer): Addressed | null {
  if (frame.length < 14) return null;
  let l3 = 14;
  let ethertype = frame.readUInt16BE(12);
  if (ethertype === ETHERTYPE_VLAN) {
    if (frame.length < 18) return null;
    ethertype = frame.readUInt16BE(16);
    l3 = 18;
  }
  if (ethertype !== ETHERTYPE_IPV4 || frame.length < l3 + 20) return null;
  const vihl = frame[l3]!;
  if (vihl >> 4 !== 4) return null;
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) return null;
  const totalLen = frame.readUInt16BE(l3 + 2);
  const fragField = frame.readUInt16BE(l3 + 6);
  const moreFragments = (fragField & 0x2000) !== 0;
  const fragOffset = fragField & 0x1fff;
  if (moreFragments || fragOffset !== 0) return null;
  if (frame[l3 + 9] !== IPPROTO_UDP) return null;
  if (totalLen < ihl + 8 || l3 + totalLen > frame.length) return null;
  const l4 = l3 + ihl;
  const udpLen = frame.readUInt16BE(l4 + 4);
  if (udpLen < 8 || udpLen > totalLen - ihl) return null;
  return {
    src: ipv4(frame, l3 + 12),
    dst: ipv4(frame, l3 + 16),
    sport: frame.readUInt16BE(l4),
    dport: frame.readUInt16BE(l4 + 2),
    payload: frame.subarray(l4 + 8, l4 + udpLen),
  };
}

/** Read and parse a classic pcap file. */
export function readPcap(path: string): PcapFile {
  return parsePcap(readFileSync(path));
}
