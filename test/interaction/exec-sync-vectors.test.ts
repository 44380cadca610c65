// Our exec engine in the place of node1 of the real corosync 3.1.7 captures (test/vectors).
//
// The captured MCASTs of each ring are reassembled with TotemPg in agreed (seq) order. Our
// ExecEngine (real cmap engine; cpg, quorum and votequorum faked: their sync steps just report
// done and send nothing) gets node1's configuration changes, scripted from the captures'
// membership, and every message of the ring in the captured order. When the capture shows a
// message node1 sent in group "sync" or a cmap MCAST, our engine must already have produced it,
// byte for byte (ring ids, service lists, zero pads: all deterministic), and that message is
// what gets delivered; node1's cpg/votequorum messages are delivered as captured (the fakes
// ignore them). The round must complete exactly at the message where the capture's round ends
// (the last barrier), and nothing of ours may be left unsent.
//
// a-coldstart: node1's own ring 1.5, then ring 1.9 {1,3} (whose SERVICE_BUILDs are only
// delivered in the next ring and are discarded as old), then ring 1.d {1,2,3}.
// c-kill-rejoin: ring 1.11 {1,2} after node3 was killed, then 1.16 {1,2,3} when it is back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readPcap } from '../helpers/pcap.js';
import { vectorsDir as vectorsDir_ } from '../helpers/vectors.js';
import { Icmap } from '../../src/cmap/icmap.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { ExecEngine, type ExecEffect, type ExecGroup } from '../../src/exec/engine.js';
import { decodeExecHeader, execMessageName } from '../../src/exec/codec.js';
import type { ServiceEngine, SyncHooks } from '../../src/exec/service-engine.js';
import { decodeSyncMessage, encodeSyncBarrier, encodeSyncServiceBuild } from '../../src/exec/sync-codec.js';
import { CmapExecEngine } from '../../src/services/cmap/exec.js';
import { TotemPg, type PgDeliverUpcall } from '../../src/totem/pg.js';
import { MessageType, decodeMcast, formatRingId, type McastMessage } from '../../src/totem/wire/index.js';
import { ringId, type RingId } from '../../src/totem/wire/seq.js';

const vectorsDir = vectorsDir_();
const skip = existsSync(path.join(vectorsDir, 'a-coldstart.pcap'))
  ? false
  : `capture vectors not found in ${vectorsDir}`;

interface RingMessage {
  ring: string;
  /** seq of the MCAST that completed the message */
  seq: number;
  from: number;
  group: ExecGroup;
  message: Buffer;
}

/** Every reassembled message of every ring of a capture, per ring in agreed order. */
function loadMessages(name: string): Map<string, RingMessage[]> {
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
  const out = new Map<string, RingMessage[]>();
  for (const [ring, bySeq] of rings) {
    const rx = new TotemPg({ lower: { mcast: () => true, avail: () => 1000 } });
    const main = rx.createInstance({ label: 'main', confchg: true });
    rx.joinGroup('a', main);
    const sync = rx.createInstance({ label: 'sync' });
    rx.joinGroup('sync', sync);
    const list: RingMessage[] = [];
    for (const m of [...bySeq.values()].sort((a, b) => a.seq - b.seq)) {
      assert.equal(rx.deliver(m.nodeid, m.payload, m.bigEndian), null);
      for (const u of rx.drain()) {
        const d = u as PgDeliverUpcall;
        list.push({
          ring,
          seq: m.seq,
          from: d.from,
          group: d.group.toString('latin1') as ExecGroup,
          message: Buffer.from(d.message),
        });
      }
    }
    out.set(ring, list);
  }
  return out;
}

/** cpg / quorum / votequorum stand-ins: sync steps that are done at once, no sends. */
function fake(
  id: number,
  defaultName: string,
  name: string,
  execFnCount: number,
  log: string[],
): ServiceEngine {
  const sync: SyncHooks = {
    init: () => {},
    process: () => {
      log.push(`process ${name}`);
      return true;
    },
    activate: () => log.push(`activate ${name}`),
    abort: () => log.push(`abort ${name}`),
  };
  return { id, name, defaultName, priority: id === 5 ? 2 : 1, execFnCount, deliver: () => {}, sync };
}

function describeMessage(m: { group: ExecGroup; message: Buffer }): string {
  if (m.group === 'sync') {
    const r = decodeSyncMessage(m.message);
    if (!r.ok) return `sync ?${r.error}`;
    return r.value.kind === 'barrier'
      ? `barrier ${formatRingId(r.value.ringId)}`
      : `service_build ${formatRingId(r.value.ringId)} [${r.value.services.join(',')}]`;
  }
  const h = decodeExecHeader(m.message);
  return h.ok ? execMessageName(h.value.id) : `a ?${h.error}`;
}

/** node1: our engine, its outbox, and the replay of captured rings. */
class Node1 {
  readonly icmap = new Icmap();
  readonly outbox: { group: ExecGroup; bytes: Buffer }[] = [];
  readonly logs: string[] = [];
  readonly services: string[] = [];
  readonly engine: ExecEngine;
  readonly effects: { at: string; effect: ExecEffect }[] = [];
  /** Own messages matched byte for byte against the capture. */
  matched: string[] = [];

  constructor() {
    const sink = (m: string): void => void this.logs.push(m);
    this.engine = new ExecEngine({
      nodeId: 1,
      icmap: this.icmap,
      send: (group, iov) => {
        this.outbox.push({ group, bytes: Buffer.concat(iov) });
        return CsErrorCode.CS_OK;
      },
      log: { debug: sink, info: sink, notice: sink, warn: sink, error: sink },
    });
    this.engine.register(
      new CmapExecEngine({ icmap: this.icmap, log: { debug: sink, warn: sink, error: sink } }),
    );
    this.engine.register(fake(2, 'corosync_cpg', 'cpg', 7, this.services));
    this.engine.register(fake(5, 'corosync_votequorum', 'votequorum', 4, this.services));
    this.engine.register(fake(3, 'corosync_quorum', 'quorum', 0, this.services));
  }

  confchg(trans: number[], members: number[], left: number[], joined: number[], ring: RingId): void {
    this.engine.confchg('transitional', trans, left, [], ring);
    this.engine.confchg('regular', members, [], joined, ring);
    this.collect('confchg');
  }

  private collect(at: string): void {
    for (const effect of this.engine.drain()) this.effects.push({ at, effect });
  }

  /** The runtime's pump end: run the process worker (as after every token). */
  private tick(at: string): void {
    this.engine.runPending();
    this.collect(at);
  }

  deliver(group: ExecGroup, from: number, message: Buffer, at: string): void {
    this.engine.deliver(group, from, message);
    this.collect(at);
    this.tick(at);
  }

  /** Replay one captured ring (all its messages, in agreed order). */
  replay(messages: RingMessage[]): void {
    this.tick('start');
    for (const m of messages) {
      const at = `${m.ring} seq ${m.seq} from ${m.from}: ${describeMessage(m)}`;
      const ours = m.from === 1 && (m.group === 'sync' || m.message.readInt32LE(0) >>> 16 === 0);
      if (ours) {
        const sent = this.outbox.shift();
        assert.ok(sent, `${at}: node1 sent this but our engine has not produced it`);
        assert.equal(sent.group, m.group, at);
        assert.ok(
          sent.bytes.equals(m.message),
          `${at}: our bytes differ\n ours ${sent.bytes.toString('hex')}\n real ${m.message.toString('hex')}`,
        );
        this.matched.push(describeMessage(m));
        this.deliver(sent.group, 1, sent.bytes, at);
      } else {
        this.deliver(m.group, m.from, m.message, at);
      }
    }
  }

  /** A round whose messages are not in the capture: the other members' messages made up. */
  completeRoundSynthetically(ring: RingId, others: number[]): void {
    const drainOwn = (): void => {
      while (this.outbox.length > 0) {
        const s = this.outbox.shift()!;
        this.deliver(s.group, 1, s.bytes, 'synthetic');
      }
    };
    this.tick('synthetic');
    drainOwn();
    for (const n of others) this.deliver('sync', n, encodeSyncServiceBuild(ring, [0, 2, 3, 5]), 'synthetic');
    for (let svc = 0; svc < 4; svc++) {
      this.tick('synthetic');
      drainOwn();
      for (const n of others) this.deliver('sync', n, encodeSyncBarrier(ring), 'synthetic');
    }
    drainOwn();
  }

  completions(): { at: string; ring: string; first: boolean }[] {
    return this.effects
      .filter((e) => e.effect.kind === 'sync-completed')
      .map((e) => {
        const c = e.effect as Extract<ExecEffect, { kind: 'sync-completed' }>;
        return { at: e.at, ring: formatRingId(c.ringId), first: c.first };
      });
  }
}

describe('exec + sync engine against the captures (node1)', { skip }, () => {
  it('a-coldstart: rings 1.5, 1.9 and 1.d', () => {
    const rings = loadMessages('a-coldstart');
    assert.deepEqual([...rings.keys()], ['1.5', '2.5', '1.d']);
    const n1 = new Node1();

    // node1's first ring: alone (transitional list empty at boot)
    n1.confchg([], [1], [], [1], ringId(1, 5));
    assert.deepEqual(
      n1.outbox.map((o) => describeMessage({ group: o.group, message: o.bytes })),
      ['service_build 1.5 [0,2,3,5]'],
    );
    n1.replay(rings.get('1.5')!);
    assert.deepEqual(n1.matched, [
      'service_build 1.5 [0,2,3,5]',
      'cmap.mcast',
      'barrier 1.5',
      'barrier 1.5',
      'barrier 1.5',
      'barrier 1.5',
    ]);
    assert.deepEqual(n1.completions(), [{ at: '1.5 seq 8 from 1: barrier 1.5', ring: '1.5', first: true }]);
    assert.equal(n1.engine.ready, true);
    assert.ok(n1.logs.includes('Single node sync -> no action'));
    assert.equal(n1.outbox.length, 0);

    // ring 1.9 {1,3}: its SERVICE_BUILD goes out but the ring ends before anything is delivered
    n1.matched = [];
    n1.confchg([1], [1, 3], [], [3], ringId(1, 9));
    assert.deepEqual(n1.effects.at(-1)?.effect, { kind: 'sync-started', ringId: ringId(1, 9) });
    // ring 1.d {1,2,3}
    n1.confchg([1, 3], [1, 2, 3], [], [2], ringId(1, 0xd));
    assert.deepEqual(
      n1.outbox.map((o) => describeMessage({ group: o.group, message: o.bytes })),
      ['service_build 1.9 [0,2,3,5]', 'service_build 1.d [0,2,3,5]'],
    );
    n1.replay(rings.get('1.d')!);
    assert.deepEqual(n1.matched, [
      'service_build 1.9 [0,2,3,5]',
      'service_build 1.d [0,2,3,5]',
      'cmap.mcast',
      'barrier 1.d',
      'barrier 1.d',
      'barrier 1.d',
      'barrier 1.d',
    ]);
    assert.equal(n1.logs.filter((l) => l === 'service build for old ring - discarding').length, 2);
    // the round ends with node3's votequorum barrier, the 12th barrier of ring 1.d
    assert.deepEqual(n1.completions().at(-1), {
      at: '1.d seq 24 from 3: barrier 1.d',
      ring: '1.d',
      first: false,
    });
    assert.equal(n1.completions().length, 2);
    assert.equal(n1.outbox.length, 0);
    assert.equal(n1.engine.syncInProgress, false);
    // cmap recorded every member's config_version (none configured: 0)
    for (const id of [1, 2, 3]) {
      assert.equal(n1.icmap.getValue(`runtime.members.${id}.config_version`)?.value, 0n, `node ${id}`);
    }
    assert.equal(n1.icmap.getValue('runtime.services.cmap.0.rx')?.value, 1n + 3n);
    assert.equal(n1.icmap.getValue('runtime.services.cmap.0.tx')?.value, 2n);
    // the fakes were walked in id order in both rounds
    assert.deepEqual(
      n1.services.filter((s) => s.startsWith('activate')),
      [
        'activate cpg',
        'activate quorum',
        'activate votequorum',
        'activate cpg',
        'activate quorum',
        'activate votequorum',
      ],
    );
  });

  it('c-kill-rejoin: ring 1.11 after the kill, 1.16 after the rejoin', () => {
    const rings = loadMessages('c-kill-rejoin');
    assert.deepEqual([...rings.keys()], ['1.d', '1.11', '3.12', '1.16']);
    const n1 = new Node1();
    // before the capture: ring 1.d {1,2,3} (left by a2-coldstart-staggered), synced
    n1.confchg([], [1, 2, 3], [], [1, 2, 3], ringId(1, 0xd));
    n1.completeRoundSynthetically(ringId(1, 0xd), [2, 3]);
    assert.equal(n1.completions().length, 1);
    n1.replay(rings.get('1.d')!); // cpg procjoins only
    assert.deepEqual(n1.matched, []);

    n1.confchg([1, 2], [1, 2], [3], [], ringId(1, 0x11));
    n1.replay(rings.get('1.11')!);
    assert.deepEqual(n1.matched, [
      'service_build 1.11 [0,2,3,5]',
      'cmap.mcast',
      'barrier 1.11',
      'barrier 1.11',
      'barrier 1.11',
      'barrier 1.11',
    ]);
    assert.deepEqual(n1.completions().at(-1), {
      at: '1.11 seq 14 from 1: barrier 1.11',
      ring: '1.11',
      first: false,
    });

    // node3's own ring 3.12 is never delivered to node1
    n1.matched = [];
    n1.confchg([1, 2], [1, 2, 3], [], [3], ringId(1, 0x16));
    n1.replay(rings.get('1.16')!);
    assert.deepEqual(n1.matched, [
      'service_build 1.16 [0,2,3,5]',
      'cmap.mcast',
      'barrier 1.16',
      'barrier 1.16',
      'barrier 1.16',
      'barrier 1.16',
    ]);
    assert.deepEqual(n1.completions().at(-1), {
      at: '1.16 seq 21 from 3: barrier 1.16',
      ring: '1.16',
      first: false,
    });
    assert.equal(n1.outbox.length, 0);
    assert.equal(n1.icmap.getValue('runtime.members.3.config_version')?.value, 0n);
  });
});
