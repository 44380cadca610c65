// votequorum against the captures of real corosync 3.1.7 (test/vectors, 3 nodes, nodelist with
// one vote each, no quorum options).
//
// 1. Every votequorum exec message of every capture (deduplicated, reassembled with TotemPg in
//    agreed order) decodes with our codec and re-encodes byte for byte.
// 2. What they say matches the configuration: each node's NODEINFO(itself) carries 1 vote and 3
//    expected votes, NODEINFO(qdevice) is all zero, only known flags are used, and a node's
//    first NODEINFO (sent when the service is linked, before its first SERVICE_BUILD) has FIRST.
// 3. Replay (cold-start captures, where every node starts inside the capture): for every node a
//    VotequorumService configured like the captured nodes gets the rings that node was part of —
//    sync init at the ring's start, every votequorum message in agreed order, sync process once
//    the barriers of cmap/cpg/quorum are in, activation after its own barriers — and must send
//    exactly the votequorum messages the real node sent (init NODEINFO, then NODEINFO(us) and
//    NODEINFO(qdevice) per round, with the real flags), and end quorate with 3 expected votes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readPcap } from '../helpers/pcap.js';
import { vectorsDir as vectorsDir_ } from '../helpers/vectors.js';
import { Icmap } from '../../src/cmap/icmap.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { ServiceId, decodeExecHeader } from '../../src/exec/codec.js';
import { decodeSyncMessage } from '../../src/exec/sync-codec.js';
import { TotemPg, type PgDeliverUpcall } from '../../src/totem/pg.js';
import {
  MessageType,
  decodeMcast,
  formatRingId,
  type McastMessage,
  type RingId,
} from '../../src/totem/wire/index.js';
import { decodeVqExec, encodeVqExec, type VqNodeinfoMessage } from '../../src/services/votequorum/codec.js';
import { NodeFlag } from '../../src/services/votequorum/quorum-math.js';
import { VotequorumService } from '../../src/services/votequorum/service.js';

const vectorsDir = vectorsDir_();
const skip = existsSync(path.join(vectorsDir, 'a-coldstart.pcap'))
  ? false
  : `capture vectors not found in ${vectorsDir}`;
const CAPTURES = [
  'a-coldstart',
  'a2-coldstart-staggered',
  'b-cpg-messages',
  'c-kill-rejoin',
  'c2-graceful-leave-rejoin',
];

interface Msg {
  ring: string;
  ringId: RingId;
  from: number;
  group: string;
  message: Buffer;
}

/** Every reassembled message, rings in order of first appearance, each ring in seq order. */
function loadMessages(name: string): Msg[] {
  const pcap = readPcap(path.join(vectorsDir, `${name}.pcap`));
  const rings = new Map<string, Map<number, McastMessage>>();
  for (const d of pcap.datagrams) {
    if (d.payload[3] !== MessageType.Mcast) continue;
    const r = decodeMcast(d.payload);
    assert.ok(r.ok);
    const ring = formatRingId(r.value.ringId);
    let bySeq = rings.get(ring);
    if (!bySeq) rings.set(ring, (bySeq = new Map()));
    if (!bySeq.has(r.value.seq)) bySeq.set(r.value.seq, r.value);
  }
  const out: Msg[] = [];
  for (const [ring, bySeq] of rings) {
    const rx = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
    rx.joinGroup('a', rx.createInstance({ label: 'main', confchg: true }));
    rx.joinGroup('sync', rx.createInstance({ label: 'sync' }));
    for (const m of [...bySeq.values()].sort((a, b) => a.seq - b.seq)) {
      assert.equal(rx.deliver(m.nodeid, m.payload, m.bigEndian), null);
      for (const u of rx.drain()) {
        const d = u as PgDeliverUpcall;
        out.push({
          ring,
          ringId: m.ringId,
          from: d.from,
          group: d.group.toString('latin1'),
          message: Buffer.from(d.message),
        });
      }
    }
  }
  return out;
}

function isVotequorum(m: Msg): boolean {
  if (m.group !== 'a') return false;
  const h = decodeExecHeader(m.message);
  return h.ok && h.value.service === ServiceId.VOTEQUORUM;
}

const KNOWN_FLAGS = Object.values(NodeFlag).reduce((a, b) => a | b, 0);

describe('votequorum against the corosync 3.1.7 captures', { skip }, () => {
  for (const name of CAPTURES) {
    it(`${name}: every votequorum message decodes and re-encodes byte for byte`, () => {
      const msgs = loadMessages(name).filter(isVotequorum);
      assert.ok(msgs.length > 0 || name === 'b-cpg-messages', 'no votequorum messages');
      const firstSeen = new Set<number>();
      for (const m of msgs) {
        const r = decodeVqExec(m.message);
        assert.ok(r.ok, `${name} ${m.ring} from ${m.from}: ${r.ok ? '' : r.error}`);
        assert.deepEqual(encodeVqExec(r.value), m.message, `${name} ${m.ring} from ${m.from}`);
        assert.equal(r.value.kind, 'nodeinfo', 'the captures hold only NODEINFOs');
        const n = r.value as VqNodeinfoMessage;
        if (n.nodeId === 0) {
          assert.deepEqual([n.votes, n.expectedVotes, n.flags], [0, 0, 0], 'qdevice NODEINFO');
          continue;
        }
        assert.equal(n.nodeId, m.from, 'a node only describes itself');
        assert.equal(n.votes, 1);
        assert.equal(n.expectedVotes, 3);
        assert.equal(n.flags & ~KNOWN_FLAGS, 0);
        if (name.includes('coldstart') && !firstSeen.has(m.from)) {
          firstSeen.add(m.from);
          assert.ok(n.flags & NodeFlag.FIRST, `${name}: node ${m.from}'s first NODEINFO has FIRST`);
        }
      }
    });
  }

  for (const name of ['a-coldstart', 'a2-coldstart-staggered']) {
    it(`${name}: each node replayed through our engine sends exactly what the real one sent`, () => {
      const all = loadMessages(name);
      // the rings a node took part in: those it sent a SERVICE_BUILD for (some are only
      // delivered in the next ring), in ring-id order
      const ringOf = new Map<string, { id: RingId; members: Set<number> }>();
      for (const m of all) {
        if (m.group !== 'sync') continue;
        const s = decodeSyncMessage(m.message);
        if (!s.ok || s.value.kind !== 'service_build') continue;
        const key = formatRingId(s.value.ringId);
        let e = ringOf.get(key);
        if (!e) ringOf.set(key, (e = { id: s.value.ringId, members: new Set() }));
        e.members.add(m.from);
      }
      const rings = [...ringOf.entries()].sort(
        (a, b) => Number(a[1].id.seq - b[1].id.seq) || a[1].id.rep - b[1].id.rep,
      );
      for (const node of [1, 2, 3]) {
        const icmap = new Icmap();
        icmap.setValue('nodelist.local_node_pos', { type: CmapValueType.UINT32, value: node - 1 });
        for (let i = 0; i < 3; i++) {
          icmap.setValue(`nodelist.node.${i}.nodeid`, { type: CmapValueType.UINT32, value: i + 1 });
          icmap.setValue(`nodelist.node.${i}.ring0_addr`, {
            type: CmapValueType.STRING,
            value: `10.250.0.${i + 1}`,
          });
        }
        const sent: string[] = [];
        const vq = new VotequorumService({ icmap });
        vq.init({
          nodeId: node,
          mcast: (_s, _f, iov) => {
            sent.push((Buffer.isBuffer(iov) ? iov : Buffer.concat([...iov])).toString('hex'));
            return CsErrorCode.CS_OK;
          },
          syncInProgress: () => true,
          ringId: () => ({ rep: node, seq: 0n }),
          members: () => [],
        });
        const real: string[] = all
          .filter((m) => isVotequorum(m) && m.from === node)
          .map((m) => m.message.toString('hex'));
        let activations = 0;
        for (const [key, r] of rings) {
          if (!r.members.has(node)) continue;
          const members = [...r.members].sort((a, b) => a - b);
          vq.sync.init(members, members, r.id);
          // votequorum is the 4th sync service: its process runs once the barriers of the
          // first three (cmap, cpg, quorum) are in, its activation after its own barriers
          let barriers = 0;
          for (const m of all.filter((x) => x.ring === key)) {
            if (isVotequorum(m)) vq.deliver(m.message.readInt32LE(0) & 0xffff, m.message, m.from);
            if (m.group !== 'sync') continue;
            const s = decodeSyncMessage(m.message);
            if (!s.ok || s.value.kind !== 'barrier' || formatRingId(s.value.ringId) !== key) continue;
            barriers++;
            if (barriers === 3 * members.length) assert.ok(vq.sync.process());
            if (barriers === 4 * members.length) {
              vq.sync.activate();
              activations++;
            }
          }
        }
        assert.ok(activations > 0);
        assert.deepEqual(sent, real, `${name}: node ${node}'s votequorum messages`);
        const core = vq.core;
        assert.equal(core.quorate, true, `${name}: node ${node} quorate`);
        assert.equal(core.quorum, 2);
        assert.equal(core.us.expectedVotes, 3);
        assert.deepEqual(vq.members(), [1, 2, 3]);
      }
    });
  }
});
