// The CPG service engine against b-cpg-messages (real corosync 3.1.7, 3 nodes): the captured
// exec messages are unpacked with totempg (src/totem/pg.ts), decoded with codec.ts and fed in
// agreed order into 3 engines. Before each message, the client action that caused it is
// replayed on its node's engine through fake IPC connections with the capture's pids (join,
// mcast, disconnect); what that engine multicasts must equal the captured bytes (except the
// sender's connection pointer in MCAST). The callbacks the long-lived clients get must equal
// b-cpg-messages.deliveries.txt.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readPcap } from '../helpers/pcap.js';
import { vectorsDir as vectorsDir_ } from '../helpers/vectors.js';
import { MessageType, decodeMcast, formatRingId, ringId } from '../../src/totem/wire/index.js';
import { TotemPg, type PgDeliverUpcall } from '../../src/totem/pg.js';
import { ServiceId, execIdFn } from '../../src/exec/codec.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { CpgReason, decodeCpgExec } from '../../src/services/cpg/codec.js';
import { CpgNode, type FakeConn } from '../helpers/cpg-harness.js';

const vectorsDir = vectorsDir_();
const CAPTURE = 'b-cpg-messages';
const skip = existsSync(path.join(vectorsDir, `${CAPTURE}.pcap`))
  ? false
  : `capture vectors not found in ${vectorsDir}`;

interface Captured {
  from: number;
  message: Buffer;
}

/** Every exec message of group "a", reassembled, per ring in seq order (udpu duplicates dropped). */
function execMessages(): Captured[] {
  const pcap = readPcap(path.join(vectorsDir, `${CAPTURE}.pcap`));
  const rings = new Map<string, Map<number, { nodeid: number; payload: Buffer }>>();
  for (const d of pcap.datagrams) {
    if (d.payload[3] !== MessageType.Mcast) continue;
    const r = decodeMcast(d.payload);
    assert.ok(r.ok);
    const ring = formatRingId(r.value.ringId);
    let bySeq = rings.get(ring);
    if (!bySeq) rings.set(ring, (bySeq = new Map()));
    if (!bySeq.has(r.value.seq)) bySeq.set(r.value.seq, { nodeid: r.value.nodeid, payload: r.value.payload });
  }
  const out: Captured[] = [];
  for (const bySeq of rings.values()) {
    const rx = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
    rx.joinGroup('a', rx.createInstance({ label: 'main' }));
    for (const seq of [...bySeq.keys()].sort((a, b) => a - b)) {
      const pk = bySeq.get(seq)!;
      assert.equal(rx.deliver(pk.nodeid, pk.payload, false), null);
      for (const u of rx.drain()) {
        if (u.kind !== 'deliver') continue;
        const d = u as PgDeliverUpcall;
        out.push({ from: d.from, message: Buffer.from(d.message) });
      }
    }
  }
  return out;
}

/** MCAST source.conn (u64 @176) is a pointer of the sending daemon: not comparable. */
function maskConn(buf: Buffer): Buffer {
  const b = Buffer.from(buf);
  b.fill(0, 176, 184);
  return b;
}

describe('cpg service: replay of b-cpg-messages', { skip }, () => {
  it('our engines send the captured bytes and dispatch what the C clients received', () => {
    const nodes = [1, 2, 3].map((id) => new CpgNode(id, undefined));
    // the ring {1,2,3} formed before the capture started: one sync round, nobody in a group
    const ring = ringId(1, 4);
    for (const n of nodes) n.engine.sync!.init([], [1, 2, 3], ring);
    for (const n of nodes) while (!n.engine.sync!.process());
    for (const n of nodes) n.engine.sync!.activate();
    for (const n of nodes) {
      n.syncing = false;
      n.ring = ring;
      n.ringMembers = [1, 2, 3];
      n.sent.length = 0;
    }

    const clients = new Map<string, FakeConn>();
    const counts = { procjoin: 0, mcast: 0, procleave: 0 };
    for (const m of execMessages()) {
      if (m.message.readInt32LE(0) >>> 16 !== ServiceId.CPG) continue;
      const r = decodeCpgExec(m.message);
      assert.ok(r.ok, r.ok ? '' : r.error);
      const x = r.value;
      const node = nodes[m.from - 1]!;
      const sentBefore = node.sent.length;
      if (x.kind === 'procjoin') {
        const conn = node.connect(x.pid);
        clients.set(`${m.from}/${x.pid}`, conn);
        assert.equal(conn.error({ kind: 'join', group: x.group, pid: x.pid, flags: 0 }), CsErrorCode.CS_OK);
      } else if (x.kind === 'mcast') {
        const conn = clients.get(`${m.from}/${x.pid}`);
        assert.ok(conn, `mcast from unknown client ${m.from}/${x.pid}`);
        conn.mcast(x.message);
      } else if (x.kind === 'procleave') {
        assert.equal(x.reason, CpgReason.PROCDOWN);
        const conn = clients.get(`${m.from}/${x.pid}`);
        assert.ok(conn);
        conn.close();
      } else {
        assert.fail(`unexpected ${x.kind} in ${CAPTURE}`);
      }
      counts[x.kind]++;
      // the engine multicast exactly what corosync multicast
      assert.equal(node.sent.length, sentBefore + 1, `${x.kind} from ${m.from}`);
      const ours = node.sent[sentBefore]!;
      assert.equal(ours.fn, execIdFn(m.message.readInt32LE(0)));
      if (x.kind === 'mcast') assert.deepEqual(maskConn(ours.buf), maskConn(m.message));
      else assert.deepEqual(ours.buf, m.message);
      // agreed order: the captured message reaches every node
      for (const n of nodes) n.engine.deliver(ours.fn, m.message, m.from);
    }
    assert.deepEqual(counts, { procjoin: 7, mcast: 14, procleave: 7 });

    const file = readFileSync(path.join(vectorsDir, `${CAPTURE}.deliveries.txt`), 'latin1').split('\n');
    for (const id of [1, 2, 3]) {
      const lines = file
        .filter((l) => l.startsWith(`EV node=${id} `))
        .map((l) => l.slice(`EV node=${id} `.length));
      const conn = /^connected pid=(\d+) group=vectors$/.exec(lines[0]!);
      assert.ok(conn);
      const client = clients.get(`${id}/${conn[1]}`);
      assert.ok(client, `node ${id}: client ${conn[1]} joined`);
      assert.deepEqual(client.lines(), lines.slice(1), `node ${id}`);
    }
  });
});
