// The classic-pcap reader used by the totem golden tests, on hand-built capture images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePcap } from '../helpers/pcap.js';

interface Frame {
  sec: number;
  frac: number;
  bytes: Buffer;
}

function pcapImage(frames: Frame[], opts: { be?: boolean; ns?: boolean; link?: number } = {}): Buffer {
  const hdr = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number) => (opts.be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  const w16 = (b: Buffer, v: number, o: number) => (opts.be ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  w32(hdr, opts.ns ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(hdr, 2, 4);
  w16(hdr, 4, 6);
  w32(hdr, 262144, 16);
  w32(hdr, opts.link ?? 1, 20);
  const parts: Buffer[] = [hdr];
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    w32(rec, f.sec, 0);
    w32(rec, f.frac, 4);
    w32(rec, f.bytes.length, 8);
    w32(rec, f.bytes.length, 12);
    parts.push(rec, f.bytes);
  }
  return Buffer.concat(parts);
}

function udpFrame(
  src: number[],
  sport: number,
  dst: number[],
  dport: number,
  payload: Buffer,
  o: { vlan?: boolean; proto?: number; frag?: number } = {},
): Buffer {
  const eth = Buffer.alloc(o.vlan ? 18 : 14);
  if (o.vlan) {
    eth.writeUInt16BE(0x8100, 12);
    eth.writeUInt16BE(0x0800, 16);
  } else {
    eth.writeUInt16BE(0x0800, 12);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt16BE(o.frag ?? 0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = o.proto ?? 17;
  Buffer.from(src).copy(ip, 12);
  Buffer.from(dst).copy(ip, 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  // Ethernet minimum-size padding after the IP packet must not leak into the payload.
  const pad = Buffer.alloc(Math.max(0, 60 - (eth.length + 28 + payload.length)));
  return Buffer.concat([eth, ip, udp, payload, pad]);
}

const A = [10, 250, 0, 1];
const B = [10, 250, 0, 2];

test('pcap: little-endian µs file, addresses, ports, payload, padding stripped', () => {
  const img = pcapImage([
    { sec: 1700000000, frac: 123456, bytes: udpFrame(A, 42258, B, 5405, Buffer.from('hello')) },
    { sec: 1700000001, frac: 5, bytes: udpFrame(B, 5405, A, 5405, Buffer.alloc(600, 7), { vlan: true }) },
  ]);
  const p = parsePcap(img);
  assert.equal(p.linkType, 1);
  assert.equal(p.nanosecond, false);
  assert.equal(p.skipped, 0);
  assert.equal(p.datagrams.length, 2);
  const [d0, d1] = p.datagrams;
  assert.deepEqual(
    [d0!.index, d0!.src, d0!.sport, d0!.dst, d0!.dport, d0!.payload.toString(), d0!.tsSec, d0!.tsUsec],
    [0, '10.250.0.1', 42258, '10.250.0.2', 5405, 'hello', 1700000000, 123456],
  );
  assert.equal(d0!.time, 1700000000.123456);
  assert.equal(d1!.payload.length, 600);
  assert.equal(d1!.src, '10.250.0.2');
  assert.equal(d1!.tsUsec, 5);
});

test('pcap: big-endian nanosecond file', () => {
  const img = pcapImage(
    [{ sec: 10, frac: 999_999_999, bytes: udpFrame(A, 1, B, 2, Buffer.from([1, 2, 3])) }],
    {
      be: true,
      ns: true,
    },
  );
  const p = parsePcap(img);
  assert.equal(p.nanosecond, true);
  assert.equal(p.datagrams[0]!.tsUsec, 999_999);
  assert.deepEqual(p.datagrams[0]!.payload, Buffer.from([1, 2, 3]));
});

test('pcap: non-UDP, non-IPv4 and fragmented frames are skipped and counted', () => {
  const arp = Buffer.alloc(42);
  arp.writeUInt16BE(0x0806, 12);
  const img = pcapImage([
    { sec: 1, frac: 0, bytes: arp },
    { sec: 1, frac: 1, bytes: udpFrame(A, 1, B, 2, Buffer.from('tcp'), { proto: 6 }) },
    { sec: 1, frac: 2, bytes: udpFrame(A, 1, B, 2, Buffer.from('frag'), { frag: 0x2000 }) },
    { sec: 1, frac: 3, bytes: udpFrame(A, 1, B, 2, Buffer.from('ok')) },
  ]);
  const p = parsePcap(img);
  assert.equal(p.skipped, 3);
  assert.equal(p.datagrams.length, 1);
  assert.equal(p.datagrams[0]!.index, 0);
  assert.equal(p.datagrams[0]!.payload.toString(), 'ok');
});

test('pcap: malformed files are reported', () => {
  assert.throws(() => parsePcap(Buffer.alloc(10)), /shorter than its 24-byte header/);
  assert.throws(() => parsePcap(Buffer.alloc(24)), /not a classic pcap file/);
  assert.throws(() => parsePcap(pcapImage([], { link: 101 })), /link type 101/);
  const img = pcapImage([{ sec: 1, frac: 0, bytes: udpFrame(A, 1, B, 2, Buffer.from('x')) }]);
  assert.throws(() => parsePcap(img.subarray(0, img.length - 1)), /runs past the end/);
  assert.throws(() => parsePcap(img.subarray(0, 30)), /truncated record header/);
});
