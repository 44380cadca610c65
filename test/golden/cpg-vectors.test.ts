// Golden tests of the exec, sync and CPG codecs against the captures of real corosync 3.1.7
// (test/vectors, see its README).
//
// Every non-encapsulated MCAST of every capture (deduplicated: udpu sends one copy per peer)
// is fed, per ring in seq order, to a TotemPg receiver (src/totem/pg.ts), which reassembles
// fragmented messages. Each delivered message of group "a" or "sync" is then:
//  * decoded with our codecs (exec header for every service; full decode for cpg and sync;
//    cmap and votequorum messages are checked at the header level only);
//  * rendered the way the harness's listing (`<name>.decoded.txt`) prints it and compared with
//    the listing entry that started the message (a whole entry, or the first fragment's
//    description, which the listing prints without reassembling);
//  * re-encoded from the decoded value and compared byte for byte with what was captured.
//    The only mask: DOWNLIST nodeids[] after the first `left_nodes` entries, which corosync
//    fills from a reused global buffer (stale nodeids; spec cpg.md §2.5) and we send as zero.
// b-cpg-messages: the CPG events of group "vectors" are turned into the IPC callbacks a client
// gets (CONFCHG and DELIVER, encoded and decoded with our IPC codecs, membership tracked as
// spec cpg.md §3–§4 describes) and compared with b-cpg-messages.deliveries.txt, node by node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readPcap } from '../helpers/pcap.js';
import { vectorsDir as vectorsDir_ } from '../helpers/vectors.js';
import { MessageType, decodeMcast, formatRingId, type McastMessage } from '../../src/totem/wire/index.js';
import { TotemPg, type PgDeliverUpcall } from '../../src/totem/pg.js';
import {
  ServiceId,
  decodeExecHeader,
  encodeExecHeader,
  execMessageName,
  serviceInfo,
} from '../../src/exec/codec.js';
import { decodeSyncMessage, encodeSyncMessage, type SyncMessage } from '../../src/exec/sync-codec.js';
import {
  CpgReason,
  CpgResId,
  type CpgAddress,
  type CpgExecMessage,
  cpgName,
  cpgNameToString,
  cpgReasonName,
  decodeCpgExec,
  decodeCpgResponse,
  encodeCpgExec,
  encodeCpgResponse,
} from '../../src/services/cpg/codec.js';
import { CsErrorCode } from '../../src/common/errors.js';

const vectorsDir = vectorsDir_();
const skip = existsSync(path.join(vectorsDir, 'b-cpg-messages.pcap'))
  ? false
  : `capture vectors not found in ${vectorsDir}`;
const CAPTURES = [
  'a-coldstart',
  'a2-coldstart-staggered',
  'b-cpg-messages',
  'c-kill-rejoin',
  'c2-graceful-leave-rejoin',
];

// ---------------------------------------------------------------------------------------
// Listing

/** What the listing says about a message: its group and, unless cut off, its description. */
interface Expected {
  where: string;
  group: string;
  /** undefined when the listing's first-fragment entry has no description (0 bytes shown). */
  desc: string | undefined;
}

const MCAST_LINE = /^#(\d+) .* MCAST v3 .* pg\{frag=\d+ cont=\d+ n=\d+\} (.*)$/;

/** datagram index → the listing's entries for it. */
function readListing(name: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const line of readFileSync(path.join(vectorsDir, `${name}.decoded.txt`), 'utf8').split('\n')) {
    if (!line.includes(' MCAST ')) continue;
    const m = MCAST_LINE.exec(line);
    assert.ok(m, `unparsed MCAST line: ${line.slice(0, 120)}`);
    out.set(Number(m[1]) - 1, m[2]!.split(' ; '));
  }
  return out;
}

/** The message-starting entries of one listing line (continued fragments dropped). */
function startedMessages(entries: string[], where: string): Expected[] {
  const out: Expected[] = [];
  for (const text of entries) {
    if (/^\(continued fragment \d+B\)$/.test(text)) continue;
    let m = /^\[([^\]]+)\] \(first fragment \d+B of a larger message(?:: (.*))?\)$/.exec(text);
    if (m) {
      out.push({ where, group: m[1]!, desc: m[2] });
      continue;
    }
    m = /^\[([^\]]+)\] (.*)$/.exec(text);
    assert.ok(m, `${where}: unparsed listing entry ${text}`);
    out.push({ where, group: m[1]!, desc: m[2]! });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Rendering in the listing's words

function quoteData(data: Buffer, max: number, ellipsis: boolean): string {
  const shown = data.subarray(0, max).toString('latin1');
  return `"${shown}${ellipsis && data.length > max ? '…' : ''}"`;
}

function renderCpg(m: CpgExecMessage): string {
  switch (m.kind) {
    case 'procjoin':
    case 'procleave':
      return `cpg.${m.kind} group="${cpgNameToString(m.group)}" pid=${m.pid} reason=${cpgReasonName(m.reason)}`;
    case 'mcast':
      return (
        `cpg.mcast group="${cpgNameToString(m.group)}" pid=${m.pid} src_nodeid=${m.source.nodeid} ` +
        `conn=0x${m.source.conn.toString(16)} msglen=${m.message.length} data=${quoteData(m.message, 48, true)}`
      );
    case 'joinlist':
      return `cpg.joinlist [${m.entries.map((e) => `${e.pid}@"${cpgNameToString(e.group)}"`).join(', ')}]`;
    case 'downlist':
      return `cpg.downlist old_members=${m.oldMembers} left=[${m.leftNodes.join(',')}]`;
    default:
      return `cpg.${m.kind}`;
  }
}

function renderSync(m: SyncMessage): string {
  if (m.kind === 'barrier') return `sync.barrier ring=${formatRingId(m.ringId)}`;
  const names = m.services.map((s) => serviceInfo(s)?.suffix ?? String(s));
  return `sync.service_build ring=${formatRingId(m.ringId)} services=[${names.join(',')}]`;
}

// ---------------------------------------------------------------------------------------
// Capture loading

interface Packet {
  mcast: McastMessage;
  index: number;
}

/** Unique MCASTs grouped by ring (rings in order of first appearance), each in seq order. */
function loadRings(name: string): { rings: Map<string, Packet[]>; copies: number } {
  const pcap = readPcap(path.join(vectorsDir, `${name}.pcap`));
  const rings = new Map<string, Map<number, Packet>>();
  let copies = 0;
  for (const d of pcap.datagrams) {
    if (d.payload[3] !== MessageType.Mcast) continue;
    const r = decodeMcast(d.payload);
    assert.ok(r.ok, `${name} #${d.index + 1}: ${r.ok ? '' : r.error}`);
    assert.equal(r.value.encapsulated, 2, `${name} #${d.index + 1}: the captures hold no recovery copies`);
    const ring = formatRingId(r.value.ringId);
    let bySeq = rings.get(ring);
    if (!bySeq) rings.set(ring, (bySeq = new Map()));
    const prev = bySeq.get(r.value.seq);
    if (prev) {
      assert.deepEqual(
        prev.mcast.payload,
        r.value.payload,
        `${name}: two MCASTs for ${ring} seq ${r.value.seq}`,
      );
      copies++;
      continue;
    }
    bySeq.set(r.value.seq, { mcast: r.value, index: d.index });
  }
  const sorted = new Map<string, Packet[]>();
  for (const [ring, bySeq] of rings)
    sorted.set(
      ring,
      [...bySeq.values()].sort((a, b) => a.mcast.seq - b.mcast.seq),
    );
  return { rings: sorted, copies };
}

/** One reassembled message, with what the listing said about it. */
interface Delivered {
  ring: string;
  from: number;
  group: string;
  message: Buffer;
  expected: Expected;
}

function deliverAll(name: string): { messages: Delivered[]; copies: number } {
  const listing = readListing(name);
  const { rings, copies } = loadRings(name);
  const messages: Delivered[] = [];
  for (const [ring, packets] of rings) {
    const rx = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
    const main = rx.createInstance({ label: 'main', confchg: true });
    rx.joinGroup('a', main);
    const sync = rx.createInstance({ label: 'sync' });
    rx.joinGroup('sync', sync);
    /** Per sender: listing descriptions of messages started but not yet delivered. */
    const pending = new Map<number, Expected[]>();
    for (const pk of packets) {
      const where = `${name} #${pk.index + 1}`;
      const entries = listing.get(pk.index);
      assert.ok(entries, `${where} missing from the listing`);
      const from = pk.mcast.nodeid;
      let q = pending.get(from);
      if (!q) pending.set(from, (q = []));
      q.push(...startedMessages(entries, where));
      assert.equal(rx.deliver(from, pk.mcast.payload, pk.mcast.bigEndian), null, where);
      for (const u of rx.drain()) {
        assert.equal(u.kind, 'deliver');
        const d = u as PgDeliverUpcall;
        const exp = pending.get(d.from)?.shift();
        assert.ok(exp, `${where}: a delivery from ${d.from} that the listing does not announce`);
        messages.push({
          ring,
          from: d.from,
          group: d.group.toString('latin1'),
          message: d.message,
          expected: exp,
        });
      }
    }
    for (const [from, q] of pending)
      assert.equal(q.length, 0, `${name} ${ring}: node ${from} left a partial message`);
  }
  return { messages, copies };
}

// ---------------------------------------------------------------------------------------

const DOWNLIST_NODEIDS_OFF = 32;

/** Messages per kind in each capture: the listing's entries divided by its 2 copies per MCAST. */
const EXPECTED_COUNTS: Record<string, Counts> = {
  'a-coldstart': {
    'sync.service_build': 7,
    'sync.barrier': 20,
    'cmap.mcast': 5,
    'votequorum.nodeinfo': 13,
    'cpg.downlist': 5,
    'cpg.procjoin': 3,
    'cpg.procleave': 3,
  },
  'a2-coldstart-staggered': {
    'sync.service_build': 8,
    'sync.barrier': 32,
    'cmap.mcast': 8,
    'votequorum.nodeinfo': 19,
    'cpg.downlist': 8,
    'cpg.procjoin': 6,
    'cpg.procleave': 6,
    'cpg.joinlist': 2,
  },
  'b-cpg-messages': {
    'cpg.procjoin': 7,
    'cpg.mcast': 14,
    'cpg.procleave': 7,
    // burst-08: its first fragment holds only the group header, so the listing cannot name it
    'first fragment without listing description': 1,
  },
  'c-kill-rejoin': {
    'sync.service_build': 6,
    'sync.barrier': 24,
    'cmap.mcast': 6,
    'votequorum.nodeinfo': 13,
    'cpg.downlist': 6,
    'cpg.joinlist': 4,
    'cpg.procjoin': 5,
    'cpg.procleave': 3,
  },
  'c2-graceful-leave-rejoin': {
    'sync.service_build': 6,
    'sync.barrier': 24,
    'cmap.mcast': 6,
    'votequorum.nodeinfo': 13,
    'cpg.downlist': 6,
    'cpg.joinlist': 1,
    'cpg.procjoin': 6,
    'cpg.procleave': 6,
  },
};

function sortedCounts(c: Counts): [string, number][] {
  return Object.entries(c).sort(([a], [b]) => a.localeCompare(b));
}

interface Counts {
  [kind: string]: number;
}

describe('exec/sync/cpg codecs against real corosync 3.1.7 captures', { skip }, () => {
  const totals: Counts = {};
  const masked = { downlists: 0, bytes: 0 };

  for (const name of CAPTURES) {
    it(`${name}: every exec message decodes as listed and re-encodes byte for byte`, () => {
      const { messages, copies } = deliverAll(name);
      assert.ok(copies > 0);
      const counts: Counts = {};
      const bump = (k: string): void => {
        counts[k] = (counts[k] ?? 0) + 1;
        totals[k] = (totals[k] ?? 0) + 1;
      };
      for (const m of messages) {
        const where = `${m.expected.where} (${m.ring}, from ${m.from})`;
        assert.equal(m.group, m.expected.group, where);
        let rendered: string;
        let reencoded: Buffer;
        let original = m.message;
        if (m.group === 'sync') {
          const r = decodeSyncMessage(m.message);
          assert.ok(r.ok, `${where}: ${r.ok ? '' : r.error}`);
          rendered = renderSync(r.value);
          reencoded = encodeSyncMessage(r.value);
          bump(`sync.${r.value.kind}`);
        } else {
          assert.equal(m.group, 'a', where);
          const h = decodeExecHeader(m.message);
          assert.ok(h.ok, `${where}: ${h.ok ? '' : h.error}`);
          if (h.value.service === ServiceId.CPG) {
            const r = decodeCpgExec(m.message);
            assert.ok(r.ok, `${where}: ${r.ok ? '' : r.error}`);
            rendered = renderCpg(r.value);
            reencoded = encodeCpgExec(r.value);
            if (r.value.kind === 'mcast') {
              assert.equal(r.value.source.nodeid, m.from, `${where}: mcast source nodeid = totem sender`);
            }
            if (r.value.kind === 'downlist') {
              // stale nodeids behind left_nodes (see the file comment): masked
              const from = DOWNLIST_NODEIDS_OFF + 4 * r.value.leftNodes.length;
              const tail = m.message.subarray(from);
              const stale = tail.filter((b) => b !== 0).length;
              if (stale > 0) {
                masked.downlists++;
                masked.bytes += stale;
                original = Buffer.concat([m.message.subarray(0, from), Buffer.alloc(tail.length)]);
              }
            }
            bump(`cpg.${r.value.kind}`);
          } else {
            // cmap / votequorum bodies are not ours: the header only
            rendered = `${execMessageName(h.value.id)} size=${h.value.size}`;
            reencoded = Buffer.concat([encodeExecHeader(h.value.id, h.value.size), m.message.subarray(16)]);
            bump(execMessageName(h.value.id));
          }
        }
        if (m.expected.desc !== undefined) assert.equal(rendered, m.expected.desc, where);
        else bump('first fragment without listing description');
        assert.deepEqual(reencoded, original, `${where}: re-encoding ${rendered}`);
      }
      console.log(`${name}: ${messages.length} messages: ${JSON.stringify(counts)}`);
      // half the entries of the listing (one copy per peer), kind by kind
      assert.deepEqual(sortedCounts(counts), sortedCounts(EXPECTED_COUNTS[name]!));
    });
  }

  it('b-cpg-messages: the CPG traffic of group "vectors" has the expected shape', () => {
    const { messages } = deliverAll('b-cpg-messages');
    const cpg = messages
      .filter((m) => m.group === 'a' && m.message.readInt32LE(0) >>> 16 === ServiceId.CPG)
      .map((m) => decodeCpgExec(m.message))
      .map((r) => (r.ok ? r.value : assert.fail(r.error)));
    const mc = cpg.filter((m) => m.kind === 'mcast');
    // 2 × "hello from node1", "hello from node2", one 3000-byte message, burst-00..09
    assert.deepEqual(
      mc.map((m) => m.message.length),
      [19, 19, 16, 3000, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
    );
    const big = mc[3]!.message.toString('latin1');
    assert.equal(big, Array.from({ length: 300 }, (_, i) => `${String(i).padStart(4, '0')}-ABCDE`).join(''));
    // 3 listeners and 4 senders join "vectors" and leave it (procdown: none calls cpg_leave)
    const proc = cpg.filter((m) => m.kind === 'procjoin' || m.kind === 'procleave');
    assert.equal(proc.filter((m) => m.kind === 'procjoin').length, 7);
    assert.deepEqual(
      proc.filter((m) => m.kind === 'procleave').map((m) => m.reason),
      new Array<number>(7).fill(CpgReason.PROCDOWN),
    );
  });

  it('b-cpg-messages: the IPC callbacks we would dispatch equal what the C clients received', () => {
    const { messages } = deliverAll('b-cpg-messages');
    // Membership of group "vectors", maintained as spec cpg.md §3 says (sorted by nodeid, pid).
    let members: { nodeid: number; pid: number }[] = [];
    const group = cpgName('vectors');
    /** Every callback the daemon would produce for a member of "vectors", rendered like the file. */
    const events: { line: string; joined?: string; left?: string }[] = [];
    const addr = (a: CpgAddress): string => `${a.nodeid}/${a.pid}`;
    const confchg = (left: CpgAddress[], joined: CpgAddress[]): void => {
      const frame = encodeCpgResponse({
        kind: 'confchg',
        error: CsErrorCode.CS_OK,
        group,
        members: members.map((p) => ({ ...p, reason: CpgReason.UNDEFINED })),
        left,
        joined,
      });
      const r = decodeCpgResponse(frame);
      assert.ok(r.ok && r.value.kind === 'confchg');
      assert.equal(frame.readInt32LE(0), CpgResId.CONFCHG_CALLBACK);
      const c = r.value;
      const list = (l: readonly CpgAddress[], reasons: boolean): string =>
        l.map((a) => (reasons ? `${addr(a)}:${cpgReasonName(a.reason)}` : addr(a))).join(',');
      const ev: { line: string; joined?: string; left?: string } = {
        line: `cpg_confchg group=${cpgNameToString(c.group)} members=${list(c.members, false)} left=${list(c.left, true)} joined=${list(c.joined, true)}`,
      };
      if (c.joined[0]) ev.joined = addr(c.joined[0]);
      if (c.left[0]) ev.left = addr(c.left[0]);
      events.push(ev);
    };
    for (const m of messages) {
      if (m.group !== 'a' || m.message.readInt32LE(0) >>> 16 !== ServiceId.CPG) continue;
      const r = decodeCpgExec(m.message);
      assert.ok(r.ok);
      const x = r.value;
      if (x.kind !== 'procjoin' && x.kind !== 'procleave' && x.kind !== 'mcast') continue;
      if (cpgNameToString(x.group) !== 'vectors') continue;
      const who = { nodeid: m.from, pid: x.pid };
      if (x.kind === 'procjoin') {
        members.push(who);
        members.sort((a, b) => a.nodeid - b.nodeid || a.pid - b.pid);
        confchg([], [{ ...who, reason: CpgReason.JOIN }]);
      } else if (x.kind === 'procleave') {
        members = members.filter((p) => !(p.nodeid === who.nodeid && p.pid === who.pid));
        confchg([{ ...who, reason: x.reason }], []);
      } else {
        const frame = encodeCpgResponse({
          kind: 'deliver',
          error: CsErrorCode.CS_OK,
          group: x.group,
          nodeid: m.from,
          pid: x.pid,
          message: x.message,
        });
        const d = decodeCpgResponse(frame);
        assert.ok(d.ok && d.value.kind === 'deliver');
        const v = d.value;
        events.push({
          line: `deliver from=${v.nodeid}/${v.pid} len=${v.message.length} data=${quoteData(v.message, 64, false)}`,
        });
      }
    }
    // What each node's long-lived client received, from its own join to its own leave.
    const file = readFileSync(path.join(vectorsDir, 'b-cpg-messages.deliveries.txt'), 'latin1').split('\n');
    let checkedNodes = 0;
    for (const node of [1, 2, 3]) {
      const lines = file
        .filter((l) => l.startsWith(`EV node=${node} `))
        .map((l) => l.slice(`EV node=${node} `.length));
      const conn = /^connected pid=(\d+) group=vectors$/.exec(lines[0]!);
      assert.ok(conn, `node ${node}: first line`);
      const me = `${node}/${conn[1]}`;
      const start = events.findIndex((e) => e.joined === me);
      let end = events.findIndex((e) => e.left === me);
      if (end < 0) end = events.length;
      assert.ok(start >= 0 && end > start, `node ${node}: own join and leave found`);
      assert.deepEqual(
        events.slice(start, end).map((e) => e.line),
        lines.slice(1),
        `node ${node}`,
      );
      checkedNodes++;
    }
    assert.equal(checkedNodes, 3);
  });

  it('summary', () => {
    assert.equal(
      masked.downlists,
      4,
      'c-kill-rejoin, c2: on rejoin, nodes 1 and 2 send left_nodes 0 with nodeid 3 still in nodeids[0]',
    );
    console.log(
      `all captures: ${JSON.stringify(totals)}; downlists with stale nodeids masked: ${masked.downlists} (${masked.bytes} non-zero bytes)`,
    );
    assert.ok((totals['cpg.joinlist'] ?? 0) > 0);
    assert.ok((totals['cpg.mcast'] ?? 0) >= 14);
  });
});
