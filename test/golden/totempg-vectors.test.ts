// Golden tests of totempg against the captures of real corosync 3.1.7 (test/vectors (a copy of the project's shared/vectors)).
//
// Receive side: every non-encapsulated MCAST of every capture (deduplicated: udpu sends one
// copy per peer) is fed to a TotemPg receiver in agreed order (per ring, in seq order), as
// totemsrp would deliver it. Checked against:
//  * `<name>.decoded.txt` (the harness's own decoder): fragmented / continuation / msg_count
//    per packet, and per entry its kind (whole, first fragment, continued fragment), its
//    groups, its byte count and the exec message it names;
//  * corosync's invariants: every packet valid, no broken fragment chain, every message in
//    group "a" or "sync", every exec message exactly as long as its qb header says;
//  * b-cpg-messages.deliveries.txt: the CPG events (joins, leaves, messages with payload) of
//    group "vectors" that every node's client received are a contiguous run of the events we
//    reassemble, in the same order.
// Send side: re-packing each node's messages (with the iovec split corosync's services use)
// and flushing when the capture shows a token flush reproduces every captured packet byte
// for byte.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readPcap } from '../helpers/pcap.js';
import { vectorsDir as vectorsDir_ } from '../helpers/vectors.js';
import { MessageType, decodeMcast, formatRingId, type McastMessage } from '../../src/totem/wire/index.js';
import { TotemPg, groupHeaderLength, groupNames, type PgDeliverUpcall } from '../../src/totem/pg.js';

const vectorsDir = vectorsDir_();
const CAPTURES = [
  'a-coldstart',
  'a2-coldstart-staggered',
  'b-cpg-messages',
  'c-kill-rejoin',
  'c2-graceful-leave-rejoin',
];
const haveVectors = existsSync(path.join(vectorsDir, 'b-cpg-messages.pcap'));
const skip = haveVectors ? false : `capture vectors not found in ${vectorsDir}`;

/** Exec message names of the decoded listings → qb header id (spec/totem-pg.md §7, §8). */
const EXEC_IDS: Record<string, number> = {
  'sync.barrier': 0,
  'sync.service_build': 1,
  'cmap.mcast': 0x00000,
  'cpg.procjoin': 0x20000,
  'cpg.procleave': 0x20001,
  'cpg.joinlist': 0x20002,
  'cpg.mcast': 0x20003,
  'cpg.downlist': 0x20005,
  'votequorum.nodeinfo': 0x50000,
};

interface ListedEntry {
  kind: 'whole' | 'first' | 'cont';
  groups: string[];
  bytes?: number;
  name?: string;
}

interface ListedMcast {
  index: number;
  len: number;
  ring: string;
  seq: number;
  frag: number;
  cont: number;
  n: number;
  entries: ListedEntry[];
}

const LINE =
  /^#(\d+) \S+ \S+ > \S+ len=(\d+) MCAST v3 nodeid=\d+ enc=2 from=\d+ seq=(\d+) this_seqno=-?\d+ ring=(\S+) node_id=\d+ guarantee=-?\d+ pg\{frag=(\d+) cont=(\d+) n=(\d+)\} (.*)$/;

function parseEntry(text: string): ListedEntry {
  let m = /^\(continued fragment (\d+)B\)$/.exec(text);
  if (m) return { kind: 'cont', groups: [], bytes: Number(m[1]) };
  m = /^\[([^\]]*)\] \(first fragment (\d+)B of a larger message(?:: (\S+))?/.exec(text);
  if (m) {
    const e: ListedEntry = { kind: 'first', groups: m[1]!.split(','), bytes: Number(m[2]) };
    if (m[3]) e.name = m[3];
    return e;
  }
  m = /^\[([^\]]*)\] (\S+)/.exec(text);
  assert.ok(m, `unparsed listing entry: ${text}`);
  return { kind: 'whole', groups: m[1]!.split(','), name: m[2]! };
}

function readListing(name: string): Map<number, ListedMcast> {
  const out = new Map<number, ListedMcast>();
  for (const line of readFileSync(path.join(vectorsDir, `${name}.decoded.txt`), 'latin1').split('\n')) {
    if (!line.includes(' MCAST ')) continue;
    const m = LINE.exec(line);
    assert.ok(m, `unparsed MCAST line: ${line.slice(0, 120)}`);
    const index = Number(m[1]) - 1;
    out.set(index, {
      index,
      len: Number(m[2]),
      seq: Number(m[3]),
      ring: m[4]!,
      frag: Number(m[5]),
      cont: Number(m[6]),
      n: Number(m[7]),
      entries: m[8]!.split(' ; ').map(parseEntry),
    });
  }
  return out;
}

interface Packet {
  mcast: McastMessage;
  ring: string;
  listed: ListedMcast;
}

/** Unique MCASTs grouped by ring (rings in order of first appearance), each in seq order. */
function loadMcasts(name: string): { rings: Map<string, Packet[]>; datagrams: number; copies: number } {
  const listing = readListing(name);
  const pcap = readPcap(path.join(vectorsDir, `${name}.pcap`));
  const rings = new Map<string, Map<number, Packet>>();
  let copies = 0;
  for (const d of pcap.datagrams) {
    if (d.payload[3] !== MessageType.Mcast) continue;
    const r = decodeMcast(d.payload);
    assert.ok(r.ok, `${name} #${d.index + 1}: ${r.ok ? '' : r.error}`);
    const mcast = r.value;
    assert.equal(mcast.encapsulated, 2, 'the captures hold no recovery copies');
    const listed = listing.get(d.index);
    assert.ok(listed, `${name} #${d.index + 1} missing from the listing`);
    assert.equal(listed.len, d.payload.length);
    const ring = formatRingId(mcast.ringId);
    assert.equal(ring, listed.ring);
    assert.equal(mcast.seq, listed.seq);
    let bySeq = rings.get(ring);
    if (!bySeq) rings.set(ring, (bySeq = new Map()));
    const prev = bySeq.get(mcast.seq);
    if (prev) {
      assert.deepEqual(
        prev.mcast.payload,
        mcast.payload,
        `${name}: two different MCASTs for ${ring} seq ${mcast.seq}`,
      );
      copies++;
      continue;
    }
    bySeq.set(mcast.seq, { mcast, ring, listed });
  }
  const sorted = new Map<string, Packet[]>();
  for (const [ring, bySeq] of rings)
    sorted.set(
      ring,
      [...bySeq.values()].sort((a, b) => a.mcast.seq - b.mcast.seq),
    );
  return { rings: sorted, datagrams: pcap.datagrams.length, copies };
}

/** Our reading of one packet, in the listing's terms. */
function describePacket(p: Buffer): { frag: number; cont: number; entries: ListedEntry[] } {
  const frag = p[4]!;
  const cont = p[5]!;
  const n = p.readUInt16LE(6);
  const entries: ListedEntry[] = [];
  let off = 8 + 2 * n;
  for (let i = 0; i < n; i++) {
    const len = p.readUInt16LE(8 + 2 * i);
    const entry = p.subarray(off, off + len);
    off += len;
    if (i === 0 && cont !== 0) {
      entries.push({ kind: 'cont', groups: [], bytes: len });
      continue;
    }
    const hl = groupHeaderLength(entry, false);
    assert.equal(typeof hl, 'number', 'entry starts with a complete group header');
    const headerLen = hl as number;
    const groups = groupNames(entry, false).map((g) => g.toString('latin1'));
    const app = entry.subarray(headerLen);
    const e: ListedEntry = { kind: i === n - 1 && frag !== 0 ? 'first' : 'whole', groups };
    if (e.kind === 'first') e.bytes = app.length;
    if (app.length >= 4) e.name = `id:${app.readInt32LE(0)}`;
    entries.push(e);
  }
  return { frag, cont, entries };
}

/** The iovec split corosync's services hand to totempg (§4.3: the fit test is per piece). */
function appPieces(group: string, app: Buffer): Buffer[] {
  if (group !== 'a') return [app];
  const id = app.readInt32LE(0);
  if (id === 0x20003) return [app.subarray(0, 184), app.subarray(184)]; // cpg mcast: header, data
  if (id === 0x00000) {
    // cmap mcast: 48-byte header, then one piece per item of round_up_8(280 + value_len)
    const pieces = [app.subarray(0, 48)];
    let off = 48;
    for (let i = 0; i < app[24]!; i++) {
      const len = (280 + Number(app.readBigUInt64LE(off + 272)) + 7) & ~7;
      pieces.push(app.subarray(off, off + len));
      off += len;
    }
    assert.equal(off, app.length);
    return pieces;
  }
  return [app];
}

const CPG_REASONS = ['', 'join', 'leave', 'nodedown', 'nodeup', 'procdown'];

function cpgGroup(app: Buffer): string {
  return app.subarray(24, 24 + app.readUInt32LE(16)).toString('latin1');
}

/** CPG events of group "vectors" in the format of deliveries.txt, normalised. */
function cpgEvent(from: number, app: Buffer): string | undefined {
  const id = app.readInt32LE(0);
  if (id !== 0x20000 && id !== 0x20001 && id !== 0x20003) return undefined;
  if (cpgGroup(app) !== 'vectors') return undefined;
  if (id === 0x20003) {
    const msglen = app.readUInt32LE(152);
    const src = `${app.readUInt32LE(168)}/${app.readUInt32LE(160)}`;
    assert.equal(app.readUInt32LE(168), from, 'cpg mcast source nodeid is the originator');
    const data = app.subarray(184, 184 + Math.min(msglen, 64)).toString('latin1');
    assert.equal(184 + msglen, app.length);
    return `deliver from=${src} len=${msglen} data="${data}"`;
  }
  const who = `${from}/${app.readUInt32LE(152)}`;
  const reason = CPG_REASONS[app.readUInt32LE(160)];
  return id === 0x20000 ? `joined ${who}:${reason}` : `left ${who}:${reason}`;
}

function listedCpgEvents(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const line of readFileSync(path.join(vectorsDir, 'b-cpg-messages.deliveries.txt'), 'latin1').split(
    '\n',
  )) {
    const m = /^EV node=(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const node = Number(m[1]);
    const rest = m[2]!;
    let ev: string | undefined;
    const c = /^cpg_confchg group=vectors members=\S* left=(\S*) joined=(\S*)$/.exec(rest);
    if (c) {
      ev = c[2] ? `joined ${c[2]}` : `left ${c[1]}`;
      assert.ok(!(c[1] && c[2]), 'one change per confchg');
    } else if (rest.startsWith('deliver ')) {
      ev = rest;
    }
    if (ev === undefined) continue;
    let list = out.get(node);
    if (!list) out.set(node, (list = []));
    list.push(ev);
  }
  return out;
}

function indexOfRun(haystack: string[], needle: string[]): number {
  for (let i = 0; i + needle.length <= haystack.length; i++) {
    if (needle.every((x, k) => haystack[i + k] === x)) return i;
  }
  return -1;
}

describe('totempg against real corosync 3.1.7 captures', { skip }, () => {
  const totals = { packets: 0, messages: 0, fragmented: 0, repacked: 0 };

  for (const name of CAPTURES) {
    describe(name, () => {
      const { rings, copies } = loadMcasts(name);
      const packets = [...rings.values()].flat();

      it('every packet reads as the listing says (frag, cont, n, entries, groups, sizes)', () => {
        assert.ok(packets.length > 20);
        for (const pk of packets) {
          const ours = describePacket(pk.mcast.payload);
          const l = pk.listed;
          const where = `${name} #${l.index + 1}`;
          assert.equal(ours.frag, l.frag, where);
          assert.equal(ours.cont, l.cont, where);
          assert.equal(ours.entries.length, l.n, where);
          assert.equal(l.entries.length, l.n, where);
          for (let i = 0; i < l.n; i++) {
            const a = ours.entries[i]!;
            const b = l.entries[i]!;
            assert.equal(a.kind, b.kind, `${where} entry ${i}`);
            assert.deepEqual(a.groups, b.groups, `${where} entry ${i}`);
            if (b.bytes !== undefined) assert.equal(a.bytes, b.bytes, `${where} entry ${i}`);
            if (b.name !== undefined) {
              assert.ok(b.name in EXEC_IDS, `${where}: unknown exec name ${b.name}`);
              assert.equal(a.name, `id:${EXEC_IDS[b.name]}`, `${where} entry ${i} (${b.name})`);
            }
          }
        }
        assert.ok(copies > 0, 'udpu duplicates were seen and found identical');
        totals.packets += packets.length;
      });

      it('reassembly in agreed order delivers every message whole, in group a or sync', () => {
        let delivered = 0;
        for (const [ring, list] of rings) {
          const rx = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
          const main = rx.createInstance({ label: 'main', confchg: true });
          rx.joinGroup('a', main);
          const sync = rx.createInstance({ label: 'sync' });
          rx.joinGroup('sync', sync);
          const senders = new Set<number>();
          for (const pk of list) {
            senders.add(pk.mcast.nodeid);
            assert.equal(rx.deliver(pk.mcast.nodeid, pk.mcast.payload, pk.mcast.bigEndian), null);
          }
          const up = rx.drain() as PgDeliverUpcall[];
          for (const u of up) {
            assert.equal(u.kind, 'deliver');
            assert.equal(u.instance, u.group.toString() === 'a' ? main : sync);
            // Every corosync exec message is exactly as long as its qb header says.
            assert.equal(u.message.readInt32LE(8), u.message.length, `${name} ring ${ring} from ${u.from}`);
          }
          assert.equal(rx.stats.sequenceBreaks, 0);
          assert.equal(rx.stats.messagesUnmatched, 0);
          for (const s of senders)
            assert.equal(rx.heldBytes(s), 0, `${ring}: node ${s} left a partial message`);
          const expectedCount = list.reduce((n, pk) => n + pk.listed.n - (pk.listed.frag ? 1 : 0), 0);
          assert.equal(up.length, expectedCount);
          totals.fragmented += list.filter((pk) => pk.listed.frag !== 0).length;
          delivered += up.length;
        }
        totals.messages += delivered;
      });

      it('re-packing each node’s messages gives the captured packets byte for byte', () => {
        // One sender per node for the whole capture; its messages in send order.
        const nodes = new Set(packets.map((p) => p.mcast.nodeid));
        let matched = 0;
        for (const node of nodes) {
          const mine = packets.filter((p) => p.mcast.nodeid === node).map((p) => p.mcast.payload);
          const rx = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
          const inst = rx.createInstance();
          rx.joinGroup('a', inst);
          rx.joinGroup('sync', inst);
          for (const p of mine) assert.equal(rx.deliver(node, p, false), null);
          const messages = (rx.drain() as PgDeliverUpcall[]).map((u) => u);

          const emitted: Buffer[] = [];
          const tx = new TotemPg({ lower: { mcast: (p) => (emitted.push(p), true), avail: () => 1000 } });
          let k = 0;
          const check = (): void => {
            for (const p of emitted.splice(0)) {
              assert.ok(k < mine.length, `${name} node ${node}: more packets than captured`);
              assert.deepEqual(p, mine[k], `${name} node ${node}: packet ${k}`);
              k++;
              matched++;
            }
          };
          const flushDue = (): boolean => {
            const s = tx.staged;
            const next = mine[k];
            if (s.count === 0 || !next) return false;
            const n = next.readUInt16LE(6);
            return next[4] === 0 && n === s.count && next.length === 8 + 2 * n + s.bytes;
          };
          for (const m of messages) {
            if (flushDue()) {
              assert.equal(tx.tokenReceived(), true);
              check();
            }
            const g = m.group.toString('latin1');
            tx.mcastGroups([g], appPieces(g, m.message));
            check();
          }
          if (tx.staged.count > 0) tx.tokenReceived();
          check();
          assert.equal(k, mine.length, `${name} node ${node}: all captured packets reproduced`);
        }
        assert.equal(matched, packets.length);
        totals.repacked += matched;
      });
    });
  }

  describe('b-cpg-messages deliveries', () => {
    it('the CPG events each node’s client received are a contiguous run of ours', () => {
      const { rings } = loadMcasts('b-cpg-messages');
      assert.equal(rings.size, 1, 'ring 1.d throughout');
      const rx = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
      const main = rx.createInstance({ label: 'main', confchg: true });
      rx.joinGroup('a', main);
      for (const pk of [...rings.values()][0]!) rx.deliver(pk.mcast.nodeid, pk.mcast.payload, false);
      const ours: string[] = [];
      for (const u of rx.drain() as PgDeliverUpcall[]) {
        if (u.message.readInt32LE(0) >>> 16 !== 2) continue;
        const ev = cpgEvent(u.from, u.message);
        if (ev) ours.push(ev);
      }
      assert.ok(
        ours.includes(
          'deliver from=3/26933 len=3000 data="0000-ABCDE0001-ABCDE0002-ABCDE0003-ABCDE0004-ABCDE0005-ABCDE0006"',
        ),
      );
      const listed = listedCpgEvents();
      assert.deepEqual([...listed.keys()].sort(), [1, 2, 3]);
      let checked = 0;
      for (const [node, events] of listed) {
        assert.ok(events.length >= 10, `node ${node} has events`);
        assert.notEqual(
          indexOfRun(ours, events),
          -1,
          `node ${node}'s events are not a run of ours:\n${events.join('\n')}\n--- ours:\n${ours.join('\n')}`,
        );
        checked += events.length;
      }
      // The 3000-byte message was fragmented over 3 packets and reassembled; check it whole.
      const big = (() => {
        const rx2 = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
        const i2 = rx2.createInstance();
        rx2.joinGroup('a', i2);
        for (const pk of [...rings.values()][0]!) rx2.deliver(pk.mcast.nodeid, pk.mcast.payload, false);
        return (rx2.drain() as PgDeliverUpcall[]).find(
          (u) => u.message.readInt32LE(0) === 0x20003 && u.message.readUInt32LE(152) === 3000,
        );
      })();
      assert.ok(big);
      let text = '';
      for (let i = 0; i < 300; i++) text += `${String(i).padStart(4, '0')}-ABCDE`;
      assert.equal(big.message.subarray(184).toString('latin1'), text);
      assert.ok(checked >= 60);
    });
  });

  it('totals', () => {
    // Printed for the report; the per-capture tests above do the asserting.
    console.log(`totempg golden: ${JSON.stringify(totals)}`);
  });
});
