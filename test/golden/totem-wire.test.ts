// Golden tests of the totem wire codecs against real corosync 3.1.7 captures
// (test/vectors (a copy of the project's shared/vectors), see its README). For every datagram of every pcap:
//  * it decodes without error, with the typed decoder of its type as well as decodeMessage;
//  * the decoded fields equal those of the matching line of `<name>.decoded.txt` (written by
//    the capture harness's own decoder, independent from ours);
//  * re-encoding gives the captured bytes, except header.target_nodeid (bytes 9..12), which the
//    spec (totem-wire.md §4) names as garbage on udp/udpu: only the knet transport writes it, so
//    corosync leaves uninitialised memory there in ORF tokens, joins, merge-detects and
//    token-hold-cancels. Our encoders write 0 (the spec's advice), so those 4 bytes are masked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { readPcap, type UdpDatagram } from '../helpers/pcap.js';
import { vectorsDir as vectorsDir_ } from '../helpers/vectors.js';
import {
  MCAST_HEADER_SIZE,
  MessageType,
  ORF_TOKEN_MAX_SIZE,
  UDPU_LIMITS_1500,
  type RingId,
  type TotemMessage,
  createOrfToken,
  decodeMcast,
  decodeMembCommitToken,
  decodeMembJoin,
  decodeMembMergeDetect,
  decodeMessage,
  decodeOrfTokenInto,
  decodeTokenHoldCancel,
  encodeMessage,
  formatRingId,
  messageTypeName,
} from '../../src/totem/wire/index.js';

const vectorsDir = vectorsDir_();

/** header.target_nodeid: offsets 9..12 (garbage on udp/udpu, see the file comment). */
const GARBAGE_FROM = 9;
const GARBAGE_TO = 13;

/** The harness decoder's type names. */
const LISTING_TYPE: Record<number, string> = {
  [MessageType.OrfToken]: 'ORF_TOKEN',
  [MessageType.Mcast]: 'MCAST',
  [MessageType.MembMergeDetect]: 'MERGE_DETECT',
  [MessageType.MembJoin]: 'MEMB_JOIN',
  [MessageType.MembCommitToken]: 'COMMIT_TOKEN',
  [MessageType.TokenHoldCancel]: 'TOKEN_HOLD_CANCEL',
};

interface ListingLine {
  readonly num: number;
  readonly rel: string;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  readonly len: number;
  readonly type: string;
  readonly version: number;
  /** key=value pairs of the line (values with brackets kept whole); for MCAST only before `pg{`. */
  readonly kv: Map<string, string>;
  /** MCAST: the `pg{...}` fields and the ` ; `-separated entry descriptions after it. */
  readonly pg?: { frag: number; cont: number; n: number; entries: string[] };
  readonly text: string;
}

const LINE_RE = /^#(\d+) \+(\d+\.\d{6}) (\S+):(\d+) > (\S+):(\d+) len=(\d+) (\S+) v(\d+) (.*)$/;

function parseKv(s: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const m of s.matchAll(/(\w+)=(\[[^\]]*\]|\S+)/g)) {
    if (!kv.has(m[1]!)) kv.set(m[1]!, m[2]!);
  }
  return kv;
}

function parseLine(text: string): ListingLine {
  const m = LINE_RE.exec(text);
  assert.ok(m, `unparseable listing line: ${text}`);
  let rest = m[10]!;
  let pg: ListingLine['pg'];
  if (m[8] === 'MCAST') {
    const at = rest.indexOf(' pg{');
    assert.ok(at >= 0, `MCAST line without pg{}: ${text}`);
    const pm = /^ pg\{frag=(\d+) cont=(\d+) n=(\d+)\} ?(.*)$/.exec(rest.slice(at));
    assert.ok(pm, `bad pg{} in: ${text}`);
    pg = { frag: Number(pm[1]), cont: Number(pm[2]), n: Number(pm[3]), entries: pm[4]!.split(' ; ') };
    rest = rest.slice(0, at);
  }
  return {
    num: Number(m[1]),
    rel: m[2]!,
    src: m[3]!,
    sport: Number(m[4]),
    dst: m[5]!,
    dport: Number(m[6]),
    len: Number(m[7]),
    type: m[8]!,
    version: Number(m[9]),
    kv: parseKv(rest),
    pg,
    text,
  };
}

function field(line: ListingLine, key: string): string {
  const v = line.kv.get(key);
  assert.ok(v !== undefined, `listing line lacks ${key}=: ${line.text}`);
  return v;
}
const num = (line: ListingLine, key: string): number => Number(field(line, key));
const hexBig = (line: ListingLine, key: string): bigint => BigInt(`0x${field(line, key)}`);
const list = (line: ListingLine, key: string): number[] => {
  const v = field(line, key);
  assert.match(v, /^\[[\d,]*\]$/);
  return v === '[]' ? [] : v.slice(1, -1).split(',').map(Number);
};
/** The listing writes ring ids as corosync does: `rep.seq` in hex. */
const ring = (line: ListingLine, key: string): string => field(line, key);

function relTime(d: UdpDatagram, first: UdpDatagram): string {
  const us = (d.tsSec - first.tsSec) * 1_000_000 + (d.tsUsec - first.tsUsec);
  return `${Math.floor(us / 1_000_000)}.${String(us % 1_000_000).padStart(6, '0')}`;
}

/** Check the fields shown by the listing line against our decoded message. */
function checkAgainstListing(msg: TotemMessage, line: ListingLine, payload: Buffer): void {
  const where = line.text;
  assert.equal(LISTING_TYPE[msg.type], line.type, where);
  assert.equal(line.version, 3, where);
  assert.equal(msg.nodeid, num(line, 'nodeid'), where);
  // The listing prints target_nodeid only when non-zero.
  const tgt = line.kv.get('tgt_raw');
  assert.equal(msg.targetNodeid, tgt === undefined ? 0 : Number(tgt), where);
  assert.equal(msg.bigEndian, false, where);
  switch (msg.type) {
    case MessageType.OrfToken: {
      assert.equal(msg.encapsulated, 0, where);
      assert.equal(msg.seq, num(line, 'seq'), where);
      assert.equal(msg.tokenSeq, num(line, 'token_seq'), where);
      assert.equal(msg.aru, num(line, 'aru'), where);
      assert.equal(msg.aruAddr, num(line, 'aru_addr'), where);
      assert.equal(formatRingId(msg.ringId), ring(line, 'ring'), where);
      assert.equal(msg.backlog, num(line, 'backlog'), where);
      assert.equal(msg.fcc, num(line, 'fcc'), where);
      assert.equal(msg.retransFlg, num(line, 'retrans_flg'), where);
      const rtr = field(line, 'rtr');
      // No capture holds a non-empty list; the format of its items is therefore only
      // checked loosely (item count and any ring=/seq= the items show).
      const items = rtr === '[]' ? [] : (rtr.match(/\{[^}]*\}/g) ?? []);
      assert.equal(msg.rtrList.length, items.length, where);
      items.forEach((it, i) => {
        const s = /seq=(\d+)/.exec(it);
        if (s) assert.equal(msg.rtrList[i]!.seq, Number(s[1]), where);
        const r = /ring=([0-9a-f]+\.[0-9a-f]+)/.exec(it);
        if (r) assert.equal(formatRingId(msg.rtrList[i]!.ringId), r[1], where);
      });
      break;
    }
    case MessageType.Mcast: {
      assert.equal(msg.encapsulated, num(line, 'enc'), where);
      assert.equal(msg.systemFrom, num(line, 'from'), where);
      assert.equal(msg.seq, num(line, 'seq'), where);
      assert.equal(msg.thisSeqno, num(line, 'this_seqno'), where);
      assert.equal(formatRingId(msg.ringId), ring(line, 'ring'), where);
      assert.equal(msg.nodeId, num(line, 'node_id'), where);
      assert.equal(msg.guarantee, num(line, 'guarantee'), where);
      checkTotempgHeader(msg.payload, line, where);
      // Zero copy: payload and raw are views of the received datagram.
      assert.equal(msg.raw, payload, where);
      assert.equal(msg.payload.buffer, payload.buffer, where);
      assert.equal(msg.payload.byteOffset, payload.byteOffset + MCAST_HEADER_SIZE, where);
      break;
    }
    case MessageType.MembMergeDetect:
      assert.equal(msg.encapsulated, 0, where);
      assert.equal(msg.systemFrom, num(line, 'from'), where);
      assert.equal(formatRingId(msg.ringId), ring(line, 'ring'), where);
      break;
    case MessageType.MembJoin:
      assert.equal(msg.encapsulated, 0, where);
      assert.equal(msg.systemFrom, num(line, 'from'), where);
      // ring_seq is printed in hex without a prefix (ring_seq=d after ring 1.d).
      assert.equal(msg.ringSeq, hexBig(line, 'ring_seq'), where);
      assert.deepEqual(msg.procList, list(line, 'proc'), where);
      assert.deepEqual(msg.failedList, list(line, 'failed'), where);
      break;
    case MessageType.MembCommitToken: {
      assert.equal(msg.encapsulated, 0, where);
      assert.equal(msg.tokenSeq, num(line, 'token_seq'), where);
      assert.equal(formatRingId(msg.ringId), ring(line, 'ring'), where);
      assert.equal(msg.retransFlg, num(line, 'retrans_flg'), where);
      assert.equal(msg.membIndex, num(line, 'memb_index'), where);
      assert.deepEqual(msg.addr, list(line, 'addr'), where);
      const memb = [...field(line, 'memb').matchAll(/\{([^}]*)\}/g)].map((x) => parseKv(x[1]!));
      assert.equal(msg.membList.length, memb.length, where);
      msg.membList.forEach((e, i) => {
        const kv = memb[i]!;
        assert.equal(formatRingId(e.ringId), kv.get('ring'), where);
        assert.equal(e.aru, Number(kv.get('aru')), where);
        assert.equal(e.highDelivered, Number(kv.get('high_delivered')), where);
        assert.equal(e.receivedFlg, Number(kv.get('received_flg')), where);
      });
      break;
    }
    case MessageType.TokenHoldCancel:
      assert.equal(msg.encapsulated, 0, where);
      assert.equal(formatRingId(msg.ringId), ring(line, 'ring'), where);
      break;
  }
}

/**
 * The payload of a regular MCAST starts with the totempg header (totem-pg.md §2): u16 version,
 * u16 type, u8 fragmented, u8 continuation, u16 msg_count, u16 msg_len[msg_count], then the
 * entries; a complete first entry starts with a group header (u16 count, u16 len[], names).
 * Only read here to tie the listing's `pg{...}` and entries to the payload view we hand up.
 */
function checkTotempgHeader(p: Buffer, line: ListingLine, where: string): void {
  const pg = line.pg!;
  assert.ok(p.length >= 8, where);
  assert.equal(p[4], pg.frag, where);
  assert.equal(p[5], pg.cont, where);
  const n = p.readUInt16LE(6);
  assert.equal(n, pg.n, where);
  assert.equal(pg.entries.length, n, `entry descriptions vs msg_count: ${where}`);
  let off = 8 + 2 * n;
  for (let i = 0; i < n; i++) {
    const len = p.readUInt16LE(8 + 2 * i);
    const desc = pg.entries[i]!;
    const cont = /^\(continued fragment (\d+)B\)/.exec(desc);
    if (cont) {
      assert.equal(i, 0, where);
      assert.equal(len, Number(cont[1]), where);
    } else {
      const g = /^\[([^\]]+)\]/.exec(desc);
      assert.ok(g, `entry ${i} description: ${where}`);
      const groups = p.readUInt16LE(off);
      assert.equal(groups, 1, where);
      const glen = p.readUInt16LE(off + 2);
      assert.equal(p.toString('latin1', off + 4, off + 4 + glen), g[1], where);
      // The listing counts a first fragment's bytes after the group header (2 + 2 + name).
      const first = /\(first fragment (\d+)B/.exec(desc);
      if (first) assert.equal(len - (4 + glen), Number(first[1]), where);
    }
    off += len;
  }
  assert.equal(off, p.length, `payload length = 8 + 2n + sum(msg_len): ${where}`);
}

/** Type-specific decoder result (must agree with decodeMessage). */
function decodeTyped(buf: Buffer, type: number): TotemMessage {
  const r =
    type === MessageType.Mcast
      ? decodeMcast(buf)
      : type === MessageType.MembJoin
        ? decodeMembJoin(buf)
        : type === MessageType.MembCommitToken
          ? decodeMembCommitToken(buf)
          : type === MessageType.MembMergeDetect
            ? decodeMembMergeDetect(buf)
            : decodeTokenHoldCancel(buf);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

function maskGarbage(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c.fill(0, GARBAGE_FROM, GARBAGE_TO);
  return c;
}

const pcaps = existsSync(vectorsDir)
  ? readdirSync(vectorsDir)
      .filter((f) => f.endsWith('.pcap'))
      .sort()
  : [];

if (pcaps.length === 0) {
  test('totem wire golden vectors', { skip: `no pcap vectors found in ${vectorsDir}` }, () => {});
}

const totals = { datagrams: 0 };

for (const file of pcaps) {
  const name = file.slice(0, -'.pcap'.length);
  test(`golden: ${file}`, (t) => {
    const pcap = readPcap(path.join(vectorsDir, file));
    assert.equal(pcap.skipped, 0, 'every frame of the capture is an IPv4/UDP datagram');
    const listingPath = path.join(vectorsDir, `${name}.decoded.txt`);
    assert.ok(existsSync(listingPath), `missing ${listingPath}`);
    const lines = readFileSync(listingPath, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map(parseLine);
    assert.equal(lines.length, pcap.datagrams.length, 'one listing line per datagram');

    const counts = new Map<string, number>();
    const maxLen = new Map<number, number>();
    let rings: RingId | undefined;
    const reused = createOrfToken();
    const first = pcap.datagrams[0]!;
    for (const d of pcap.datagrams) {
      const line = lines[d.index]!;
      const where = `${file} #${d.index + 1}`;
      assert.equal(line.num, d.index + 1, where);
      assert.equal(line.rel, relTime(d, first), where);
      assert.deepEqual([line.src, line.sport, line.dst, line.dport], [d.src, d.sport, d.dst, d.dport], where);
      assert.equal(line.len, d.payload.length, where);

      const r = decodeMessage(d.payload);
      assert.ok(r.ok, `${where}: ${r.ok ? '' : r.error}`);
      const msg = r.value;
      checkAgainstListing(msg, line, d.payload);

      if (msg.type === MessageType.OrfToken) {
        // The hot-path decoder, reusing one token object across the whole file, must agree.
        assert.equal(decodeOrfTokenInto(d.payload, reused), null, where);
        assert.deepEqual(reused, msg, where);
        if (rings !== undefined && rings.rep === msg.ringId.rep && rings.seq === msg.ringId.seq) {
          assert.equal(reused.ringId, rings, `${where}: unchanged ring id object reused`);
        }
        rings = reused.ringId;
      } else {
        assert.deepEqual(decodeTyped(d.payload, msg.type), msg, where);
      }

      // Re-encode: identical except the masked garbage bytes.
      const enc = encodeMessage(msg);
      assert.equal(enc.length, d.payload.length, where);
      for (let i = 0; i < enc.length; i++) {
        if (enc[i] !== d.payload[i] && (i < GARBAGE_FROM || i >= GARBAGE_TO)) {
          assert.fail(`${where} ${messageTypeName(msg.type)}: re-encoded byte ${i} differs`);
        }
      }
      assert.deepEqual(maskGarbage(enc), maskGarbage(d.payload), where);
      assert.deepEqual(enc.subarray(GARBAGE_FROM, GARBAGE_TO), Buffer.alloc(4), 'we write target_nodeid 0');

      const key = messageTypeName(msg.type);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      maxLen.set(msg.type, Math.max(maxLen.get(msg.type) ?? 0, d.payload.length));
    }

    // Size limits of spec §2.6 hold in the captures (and the captures exercise them).
    assert.ok((maxLen.get(MessageType.OrfToken) ?? 0) <= ORF_TOKEN_MAX_SIZE);
    assert.ok((maxLen.get(MessageType.Mcast) ?? 0) <= UDPU_LIMITS_1500.mcastMaxSize);

    totals.datagrams += pcap.datagrams.length;
    const summary = `${file}: ${pcap.datagrams.length} datagrams decoded, 0 errors (${[...counts]
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`;
    t.diagnostic(summary);
    console.log(summary);
  });
}

test('golden: total', { skip: pcaps.length === 0 ? 'no vectors' : false }, () => {
  console.log(`all vectors: ${totals.datagrams} datagrams in ${pcaps.length} files`);
  assert.ok(totals.datagrams > 0);
});
