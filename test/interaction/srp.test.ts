/**
 * Scripted scenarios for the totemsrp core: one or a few real cores on the deterministic
 * in-memory cluster (virtual time, no faults unless a scenario injects them).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MCAST_HEADROOM,
  TotemSrp,
  srpConfig,
  type SrpConfigInput,
  type SrpConfChg,
  type SrpDeliver,
} from '../../src/totem/srp.js';
import {
  MessageType,
  decodeMessage,
  encodeMembCommitToken,
  encodeMembJoin,
  type TotemMessage,
} from '../../src/totem/wire/index.js';
import { Cluster, type NetDecision, type NetModel } from '../sim/cluster.js';

function cluster(ids: number[], input: SrpConfigInput = {}, net?: NetModel, trace = false): Cluster {
  const c = new Cluster(
    ids.map((id) => srpConfig(id, ids, input)),
    net ? { net, trace } : { trace },
  );
  c.recordWire = true;
  return c;
}

/** The log lines of `node`'s core (from the trace of a cluster made with `trace`). */
function logged(c: Cluster, node: number): string[] {
  const out: string[] = [];
  for (const line of c.trace) {
    const m = /^\s*[\d.]+ n(\d+) (?:notice|debug|warning): (.*)$/s.exec(line);
    if (m && Number(m[1]) === node) out.push(m[2]!);
  }
  return out;
}

function confchgs(c: Cluster, node: number): SrpConfChg[] {
  return c.history
    .filter((h) => h.node === node && h.effect.kind === 'confchg')
    .map((h) => h.effect as SrpConfChg);
}

function delivered(c: Cluster, node: number): string[] {
  return c.history
    .filter((h) => h.node === node && h.effect.kind === 'deliver')
    .map((h) => (h.effect as SrpDeliver).payload.toString());
}

function wireMsgs(c: Cluster, from?: number): { t: number; from: number; to: number; m: TotemMessage }[] {
  const out: { t: number; from: number; to: number; m: TotemMessage }[] = [];
  for (const w of c.wire) {
    if (from !== undefined && w.from !== from) continue;
    const r = decodeMessage(w.bytes);
    assert.ok(r.ok, 'the core only sends valid datagrams');
    out.push({ t: w.t, from: w.from, to: w.to, m: r.value });
  }
  return out;
}

/** Boot all nodes at time 0 and run until every one is OPERATIONAL in one ring. */
function formRing(c: Cluster, ids: number[]): void {
  for (const id of ids) c.boot(id);
  c.advance(200);
  for (const id of ids) {
    assert.equal(c.srp(id).state, 'OPERATIONAL', `node ${id} operational`);
    assert.deepEqual([...c.srp(id).members], ids);
  }
}

describe('totemsrp interaction', () => {
  it('mcastPrepared (payload after MCAST_HEADROOM free bytes) puts the same datagrams on the wire as mcast', () => {
    const run = (prepared: boolean): Buffer[] => {
      const c = cluster([1, 2, 3]);
      formRing(c, [1, 2, 3]);
      c.wire.length = 0;
      for (const p of ['first', 'second message', '']) {
        const payload = Buffer.from(p);
        c.act(1, (s) => {
          if (!prepared) return s.mcast(payload, 3);
          const buf = Buffer.alloc(MCAST_HEADROOM + payload.length, 0xee);
          payload.copy(buf, MCAST_HEADROOM);
          return s.mcastPrepared(buf, 3);
        });
      }
      c.advance(200);
      for (const id of [1, 2, 3])
        assert.deepEqual(delivered(c, id), ['first', 'second message', ''], `node ${id}`);
      return c.wire.filter((w) => w.from === 1 && w.bytes[3] === MessageType.Mcast).map((w) => w.bytes);
    };
    const plain = run(false);
    assert.equal(plain.length, 6, 'three messages to two peers');
    assert.deepEqual(run(true), plain);
  });

  it('a lone node forms a singleton ring immediately (ring seq persisted + 1 + 4)', () => {
    const c = cluster([1, 2, 3]);
    c.node(1).persisted = 7n;
    c.boot(1);
    c.settle();
    const s = c.srp(1);
    assert.equal(s.state, 'OPERATIONAL');
    assert.equal(c.now, 0, 'no timer was needed');
    assert.deepEqual(s.ringId, { rep: 1, seq: 12n });
    assert.equal(c.node(1).persisted, 12n);
    const cc = confchgs(c, 1);
    assert.equal(cc.length, 2);
    assert.deepEqual(
      cc.map((x) => [x.type, x.members, x.left, x.joined]),
      [
        ['transitional', [], [], []],
        ['regular', [1], [], [1]],
      ],
    );
    // only a JOIN went on the wire (to 2 and 3); the token circulates through the loopback
    const w = wireMsgs(c);
    assert.ok(w.length >= 2);
    assert.ok(w.every((x) => x.m.type === MessageType.MembJoin));
    assert.equal(s.stats.gather_entered, 1);
    assert.equal(s.stats.commit_entered, 1);
    assert.equal(s.stats.recovery_entered, 1);
    assert.equal(s.stats.operational_entered, 1);
    assert.ok(s.tokenHeld, 'idle singleton holds the token');
  });

  it('two nodes form a ring with the commit-token and token_seq sequence of the vectors', () => {
    const c = cluster([1, 2]);
    c.boot(1);
    c.settle();
    assert.deepEqual(c.srp(1).ringId, { rep: 1, seq: 5n });
    c.wire.length = 0;
    c.boot(2);
    c.advance(100);
    for (const id of [1, 2]) {
      assert.equal(c.srp(id).state, 'OPERATIONAL');
      assert.deepEqual(c.srp(id).ringId, { rep: 1, seq: 9n }, 'highest seen (5) + 4');
      assert.deepEqual([...c.srp(id).members], [1, 2]);
    }
    const w = wireMsgs(c);
    const firstCommit = w.findIndex((x) => x.m.type === MessageType.MembCommitToken);
    assert.ok(firstCommit > 0);
    assert.ok(
      w.slice(0, firstCommit).every((x) => x.m.type === MessageType.MembJoin),
      'only joins before the commit token',
    );
    const commits = w.filter((x) => x.m.type === MessageType.MembCommitToken);
    assert.deepEqual(
      commits.map((x) => {
        const m = x.m as Extract<TotemMessage, { type: 4 }>;
        return [x.from, x.to, m.tokenSeq, m.membIndex, m.addr];
      }),
      [
        [1, 2, 1, 1, [1, 2]],
        [2, 1, 2, 2, [1, 2]],
        [1, 2, 3, 2, [1, 2]],
        [2, 1, 4, 2, [1, 2]],
      ],
    );
    const ct2 = commits[1]!.m as Extract<TotemMessage, { type: 4 }>;
    assert.deepEqual(ct2.membList[0]!.ringId, { rep: 1, seq: 5n });
    assert.deepEqual(ct2.membList[1]!.ringId, { rep: 2, seq: 5n });
    assert.equal(ct2.membList[0]!.receivedFlg, 1);
    const tokens = w
      .filter((x) => x.m.type === MessageType.OrfToken)
      .map((x) => ({ from: x.from, m: x.m as Extract<TotemMessage, { type: 0 }> }));
    assert.ok(tokens.length >= 8);
    assert.deepEqual(
      tokens.slice(0, 3).map((x) => [x.from, x.m.seq, x.m.tokenSeq, x.m.aru, x.m.aruAddr]),
      [
        [1, 0, 0, 0xffffffff, 1],
        [2, 0, 1, 0xffffffff, 1],
        [1, 0, 2, 0, 0],
      ],
    );
    // token_seq strictly increases by one per hop
    tokens.slice(0, 40).forEach((x, i) => assert.equal(x.m.tokenSeq, i));
    // EVS: node 1 had ring 1.5, node 2 had 2.5: transitional sets are {self}
    for (const id of [1, 2]) {
      const cc = confchgs(c, id).slice(-2);
      assert.deepEqual(cc[0]!.members, [id]);
      assert.deepEqual(cc[0]!.left, []);
      assert.deepEqual(cc[1]!.members, [1, 2]);
      assert.deepEqual(cc[1]!.joined, [id === 1 ? 2 : 1]);
      assert.deepEqual(cc[1]!.ringId, { rep: 1, seq: 9n });
    }
  });

  it('enters OPERATIONAL on the 4th token visit in RECOVERY; first new message at token_seq 8', () => {
    const c = cluster([1, 2]);
    c.boot(1);
    c.boot(2);
    let sentAt = -1;
    c.app = {
      onEffect: (nd, e) => {
        if (e.kind === 'confchg' && e.type === 'regular' && e.members.length === 2 && nd.id === 2) {
          nd.srp!.mcast(Buffer.from('hello'), 0);
        }
      },
    };
    c.advance(100);
    const w = wireMsgs(c);
    const lastCommit = w.map((x) => x.m.type).lastIndexOf(MessageType.MembCommitToken);
    for (const x of w.slice(lastCommit)) {
      if (x.m.type === MessageType.Mcast && x.from === 2 && sentAt < 0) {
        const prevTok = w
          .slice(lastCommit, w.indexOf(x))
          .filter((y) => y.m.type === MessageType.OrfToken)
          .pop()!;
        sentAt = (prevTok.m as Extract<TotemMessage, { type: 0 }>).tokenSeq;
      }
    }
    assert.equal(sentAt, 8, 'node 2 sends its first message while handling the token with token_seq 8');
    assert.deepEqual(delivered(c, 1), ['hello']);
    assert.deepEqual(delivered(c, 2), ['hello']);
  });

  it('token loss: GATHER exactly `token` ms after the last token, new ring after consensus', () => {
    const c = cluster([1, 2, 3]);
    formRing(c, [1, 2, 3]);
    c.advance(5000); // idle: token held by the rep
    c.crash(3);
    const s1 = c.srp(1);
    c.advance(1);
    const deadline = s1.timerDeadline('token')!;
    assert.ok(deadline > c.now);
    c.runUntil(deadline - 1);
    assert.equal(s1.state, 'OPERATIONAL');
    c.runUntil(deadline);
    assert.equal(s1.state, 'GATHER');
    assert.equal(s1.stats.operational_token_lost, 1);
    assert.equal(c.srp(2).state, 'GATHER');
    c.advance(s1.cfg.consensus + 100);
    for (const id of [1, 2]) {
      assert.equal(c.srp(id).state, 'OPERATIONAL');
      assert.deepEqual([...c.srp(id).members], [1, 2]);
      const cc = confchgs(c, id).slice(-2);
      assert.deepEqual([cc[0]!.type, cc[0]!.members, cc[0]!.left], ['transitional', [1, 2], [3]]);
      assert.deepEqual([cc[1]!.type, cc[1]!.members, cc[1]!.joined], ['regular', [1, 2], []]);
    }
    assert.ok(c.srp(1).stats.consensus_timeouts >= 1);
  });

  it('a lost mcast is requested through the rtr list and retransmitted', () => {
    let dropped = 0;
    const net: NetModel = {
      decide(_now, from, to, bytes): NetDecision {
        if (
          from === 1 &&
          to === 3 &&
          bytes[3] === MessageType.Mcast &&
          bytes.subarray(45).toString() === 'm2' &&
          dropped === 0
        ) {
          dropped++;
          return { drop: true };
        }
        return { drop: false, delay: 0.05 };
      },
    };
    const c = cluster([1, 2, 3], {}, net);
    formRing(c, [1, 2, 3]);
    c.wire.length = 0;
    const rx0 = [1, 2, 3].map((id) => c.srp(id).stats.mcast_rx);
    for (const p of ['m1', 'm2', 'm3']) c.act(1, (s) => s.mcast(Buffer.from(p), 0));
    c.advance(500);
    assert.equal(dropped, 1);
    for (const id of [1, 2, 3]) assert.deepEqual(delivered(c, id), ['m1', 'm2', 'm3'], `node ${id}`);
    const rtr = wireMsgs(c).filter((x) => x.m.type === MessageType.OrfToken && x.m.rtrList.length > 0);
    assert.ok(rtr.length > 0, 'some token carried a retransmit request');
    assert.ok(rtr.every((x) => x.from === 3 || (x.m as { rtrList: { seq: number }[] }).rtrList[0]!.seq > 0));
    const retx = [1, 2, 3].reduce((a, id) => a + c.srp(id).stats.mcast_retx, 0);
    assert.equal(retx, 1);
    // stats.srp.mcast_rx counts, as corosync's, every copy a node's socket gets, its own echo
    // included: 4 sends (3 new, 1 retransmit) reach 3 nodes each, less the one dropped
    const rx = [1, 2, 3].reduce((a, id, i) => a + c.srp(id).stats.mcast_rx - rx0[i]!, 0);
    assert.equal(rx, 4 * 3 - 1);
  });

  it("stats.srp.mcast_rx counts the echo of a node's own MCASTs, as corosync does", () => {
    const c = cluster([1, 2, 3]);
    formRing(c, [1, 2, 3]);
    const rx0 = [1, 2, 3].map((id) => c.srp(id).stats.mcast_rx);
    const tx0 = c.srp(1).stats.mcast_tx;
    for (const p of ['a', 'b', 'c']) c.act(1, (s) => s.mcast(Buffer.from(p), 0));
    c.advance(200);
    assert.equal(c.srp(1).stats.mcast_tx - tx0, 3);
    for (const [i, id] of [1, 2, 3].entries())
      assert.equal(c.srp(id).stats.mcast_rx - rx0[i]!, 3, `node ${id} counted each message once`);
    // the echo is only counted: node 1 still delivers each message once
    assert.deepEqual(delivered(c, 1), ['a', 'b', 'c']);
  });

  it('drainEach hands the effects over in order; what applying them causes comes with the next drain', () => {
    const s = new TotemSrp(srpConfig(1, [1, 2]), { ringSeq: 0n });
    s.start(0);
    const kinds: string[] = [];
    const n = s.drainEach((e) => {
      kinds.push(e.kind);
      if (kinds.length === 1) s.transAck(); // an effect caused while the first one is applied
    });
    assert.ok(n > 0 && n === kinds.length, 'the count is what was handed over');
    assert.ok(kinds.includes('send') && kinds.includes('timer'), `a booting node sends and arms: ${kinds}`);
    // transAck's effect, emitted while the first effect was applied, waits for the next drain
    assert.deepEqual(
      s.drain().map((e) => e.kind),
      ['waitingTransAck'],
    );
    assert.equal(
      s.drainEach(() => assert.fail('nothing is left')),
      0,
    );
  });

  it('flow control: at most max_messages per visit, window_size per rotation, queue full → false', () => {
    const c = cluster([1, 2], { maxMessages: 5, windowSize: 8, messageQueueMax: 40 });
    formRing(c, [1, 2]);
    c.wire.length = 0;
    let accepted = 0;
    // in one step: the rep (node 1) takes its held token up again only after the step
    c.act(1, (s) => {
      for (let i = 0; i < 50; i++) accepted += s.mcast(Buffer.from(`a${i}`), 0) ? 1 : 0;
    });
    assert.equal(accepted, 39, 'queue of 40 holds 39 (cs_queue full at size − 1)');
    for (let i = 0; i < 20; i++) c.act(2, (s) => s.mcast(Buffer.from(`b${i}`), 0));
    c.advance(2000);
    assert.equal(delivered(c, 1).length, 59);
    assert.deepEqual(delivered(c, 1), delivered(c, 2));
    // count mcasts each node sends between its token sends
    const w = wireMsgs(c);
    const burst = new Map<number, number>();
    let maxBurst = 0;
    let window = 0;
    let maxWindow = 0;
    for (const x of w) {
      if (x.m.type === MessageType.Mcast && x.m.encapsulated === 2) {
        burst.set(x.from, (burst.get(x.from) ?? 0) + 1);
        maxBurst = Math.max(maxBurst, burst.get(x.from)!);
      } else if (x.m.type === MessageType.OrfToken) {
        window = x.m.fcc;
        maxWindow = Math.max(maxWindow, window);
        burst.set(x.from, 0);
      }
    }
    assert.equal(maxBurst, 5, 'max_messages per visit');
    assert.ok(maxWindow <= 8, `fcc never above window_size (saw ${maxWindow})`);
  });

  it('a LEAVE message makes the others form a new ring without waiting for the token timeout', () => {
    const c = cluster([1, 2, 3]);
    formRing(c, [1, 2, 3]);
    c.advance(3000);
    c.wire.length = 0;
    const t0 = c.now;
    c.act(3, (s) => s.leave(c.now));
    const leave = wireMsgs(c, 3);
    assert.equal(leave.length, 2);
    const lm = leave[0]!.m as Extract<TotemMessage, { type: 3 }>;
    assert.deepEqual([lm.nodeid, lm.systemFrom, lm.procList, lm.failedList], [0, 3, [1, 2], [3]]);
    c.advance(50);
    for (const id of [1, 2]) {
      assert.equal(c.srp(id).state, 'OPERATIONAL');
      assert.deepEqual([...c.srp(id).members], [1, 2]);
      const last = confchgs(c, id).at(-2)!;
      assert.deepEqual(last.left, [3]);
    }
    assert.ok(c.now - t0 < c.srp(1).cfg.token, 'well before token timeout');
    assert.equal(c.srp(1).stats.operational_token_lost, 0);
  });

  it('recovery: old-ring messages a survivor lacks are re-sent encapsulated and delivered before the transitional configuration', () => {
    const net: NetModel = {
      decide(_now, _from, to, bytes): NetDecision {
        // node 3 never gets the regular copies of the x* messages (nor their rtr re-sends)
        if (to === 3 && bytes[3] === MessageType.Mcast && bytes[4] === 2 && bytes[45] === 0x78)
          return { drop: true };
        return { drop: false, delay: 0.05 };
      },
    };
    const c = cluster([1, 2, 3], {}, net);
    formRing(c, [1, 2, 3]);
    c.wire.length = 0;
    const mark = c.history.length;
    for (const p of ['x1', 'x2', 'x3']) c.act(1, (s) => s.mcast(Buffer.from(p), 0));
    c.advance(2);
    assert.deepEqual(delivered(c, 2), ['x1', 'x2', 'x3']);
    assert.deepEqual(delivered(c, 3), [], 'node 3 lacks them');
    c.crash(1);
    c.advance(c.srp(2).cfg.token + c.srp(2).cfg.consensus + 500);
    for (const id of [2, 3]) {
      assert.equal(c.srp(id).state, 'OPERATIONAL');
      assert.deepEqual([...c.srp(id).members], [2, 3]);
    }
    const enc = wireMsgs(c).filter((x) => x.m.type === MessageType.Mcast && x.m.encapsulated === 1);
    assert.deepEqual(
      enc
        .filter((x) => x.to === 3)
        .map((x) => (x.m as { inner: { payload: Buffer } }).inner.payload.toString()),
      ['x1', 'x2', 'x3'],
      'node 2 re-sent the old-ring messages encapsulated',
    );
    // node 3: x1..x3 (from node 1, ring 1.x) arrive before the transitional configuration
    const seq3 = c.history
      .slice(mark)
      .filter((h) => h.node === 3)
      .map((h) =>
        h.effect.kind === 'deliver'
          ? `${h.effect.payload}@${h.effect.from}`
          : h.effect.kind === 'confchg'
            ? `${h.effect.type}[${h.effect.members}]`
            : '',
      )
      .filter((x) => x);
    assert.deepEqual(seq3, ['x1@1', 'x2@1', 'x3@1', 'transitional[2,3]', 'regular[2,3]']);
    assert.deepEqual(delivered(c, 2), ['x1', 'x2', 'x3'], 'no duplicates on node 2');
  });

  it('derived timeouts follow corosync (token coefficient, retransmit, hold, consensus)', () => {
    const table = [
      [1, 3000, 714, 561, 3600],
      [2, 3000, 714, 561, 3600],
      [3, 3650, 869, 685, 4380],
      [5, 4950, 1178, 932, 5940],
      [16, 12100, 2880, 2294, 14520],
    ];
    for (const [n, token, retransmit, hold, consensus] of table) {
      const ids = Array.from({ length: n! }, (_, i) => i + 1);
      const cfg = srpConfig(1, ids);
      assert.deepEqual(
        [cfg.token, cfg.tokenRetransmit, cfg.hold, cfg.consensus],
        [token, retransmit, hold, consensus],
      );
    }
    const d = srpConfig(1, [1]);
    assert.deepEqual(
      [
        d.join,
        d.merge,
        d.failRecvConst,
        d.seqnoUnchangedConst,
        d.windowSize,
        d.maxMessages,
        d.missCountConst,
      ],
      [50, 200, 2500, 30, 50, 17, 5],
    );
    assert.equal(d.messageQueueMax, 2974);
  });

  it('malformed datagrams are counted and dropped without changing state', () => {
    const c = cluster([1, 2]);
    formRing(c, [1, 2]);
    const s = c.srp(1);
    const ring = s.ringId;
    const before = s.stats.rx_malformed;
    const bad: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from([0x70, 0xc0, 3]),
      Buffer.from('hello world, not totem'),
      Buffer.from([0x70, 0xc0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), // version 2
      Buffer.from([0x70, 0xc0, 3, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0]), // type 9
      encodeMembJoin({
        nodeid: 2,
        systemFrom: 2,
        procList: [1, 2, 5],
        failedList: [],
        ringSeq: 99n,
      }).subarray(0, 40),
      Buffer.concat([Buffer.from([0x70, 0xc0, 3, 0]), Buffer.alloc(40)]), // short token
      Buffer.concat([Buffer.from([0x70, 0xc0, 3, 1]), Buffer.alloc(20)]), // short mcast
    ];
    const ct = encodeMembCommitToken({
      nodeid: 2,
      tokenSeq: 1,
      ringId: { rep: 1, seq: 1000n },
      retransFlg: 0,
      membIndex: 7,
      addr: [1, 2],
      membList: [0, 1].map(() => ({ ringId: ring, aru: 0, highDelivered: 0, receivedFlg: 0 })),
    });
    bad.push(ct);
    for (const b of bad) c.inject(1, b);
    c.settle();
    assert.equal(s.stats.rx_malformed - before, bad.length);
    assert.equal(s.state, 'OPERATIONAL');
    assert.deepEqual(s.ringId, ring);
  });

  it('a restarted node starts above every ring it committed to and rejoins', () => {
    const c = cluster([1, 2, 3]);
    formRing(c, [1, 2, 3]);
    const seqBefore = c.srp(1).ringId.seq;
    c.crash(1);
    c.advance(20000);
    assert.deepEqual([...c.srp(2).members], [2, 3]);
    assert.ok(c.node(1).persisted === seqBefore);
    const mark = c.history.length;
    c.boot(1);
    c.advance(500);
    for (const id of [1, 2, 3]) assert.deepEqual([...c.srp(id).members], [1, 2, 3]);
    const ringSeqs = c.history
      .slice(mark)
      .filter((h) => h.node === 1 && h.effect.kind === 'confchg')
      .map((h) => h.effect as SrpConfChg)
      .filter((x) => x.type === 'regular')
      .map((x) => x.ringId.seq);
    for (let i = 1; i < ringSeqs.length; i++) assert.ok(ringSeqs[i]! > ringSeqs[i - 1]!);
    assert.ok(ringSeqs[0]! > seqBefore);
  });

  it('idle ring: the rep holds the token and an mcast cancels the hold', () => {
    const c = cluster([1, 2, 3]);
    formRing(c, [1, 2, 3]);
    c.advance(3000);
    assert.ok(c.srp(1).tokenHeld);
    c.wire.length = 0;
    c.advance(2000);
    const toks = wireMsgs(c).filter((x) => x.m.type === MessageType.OrfToken && x.from === 1);
    const hold = c.srp(1).cfg.hold;
    assert.ok(
      toks.length >= 2 && toks.length <= Math.ceil(2000 / hold) + 1,
      `held rotations (${toks.length})`,
    );
    assert.ok(wireMsgs(c).some((x) => x.m.type === MessageType.MembMergeDetect && x.from === 1));
    c.wire.length = 0;
    c.act(2, (s) => s.mcast(Buffer.from('wake'), 0));
    c.advance(5);
    const w = wireMsgs(c);
    assert.ok(w.some((x) => x.m.type === MessageType.TokenHoldCancel && x.from === 2));
    for (const id of [1, 2, 3]) assert.deepEqual(delivered(c, id), ['wake']);
  });

  it("idle ring: the rep's own message takes the held token up again: message and token leave at once, no hold-cancel", () => {
    const c = cluster([1, 2, 3]);
    formRing(c, [1, 2, 3]);
    c.advance(3000);
    assert.ok(c.srp(1).tokenHeld, 'the rep holds the token');
    const before = wireMsgs(c, 1).filter((x) => x.m.type === MessageType.OrfToken);
    const lastSeq = Math.max(...before.map((x) => (x.m as Extract<TotemMessage, { type: 0 }>).tokenSeq));
    const cancels = c.srp(1).stats.token_hold_cancel_tx;
    c.wire.length = 0;
    const t0 = c.now;
    c.act(1, (s) => s.mcast(Buffer.from('first'), 0));
    assert.equal(c.now, t0);
    const sent = wireMsgs(c, 1);
    const kinds = sent.map(
      (x) =>
        `${x.m.type === MessageType.OrfToken ? 'token' : x.m.type === MessageType.TokenHoldCancel ? 'cancel' : x.m.type === MessageType.Mcast ? 'mcast' : 'other'}>${x.to}`,
    );
    assert.deepEqual(kinds, ['mcast>2', 'mcast>3', 'token>2'], `node 1 sent ${kinds.join(' ')}`);
    const tok = sent[2]!.m as Extract<TotemMessage, { type: 0 }>;
    const msg = sent[0]!.m as Extract<TotemMessage, { type: 1 }>;
    assert.equal(tok.seq, msg.seq, 'the token carries the new message');
    assert.ok(tok.tokenSeq > lastSeq, `token_seq ${tok.tokenSeq} above every earlier one (${lastSeq})`);
    assert.equal(c.srp(1).stats.token_hold_cancel_tx, cancels, 'no hold-cancel');
    assert.ok(!c.srp(1).tokenHeld);
    c.advance(5);
    for (const id of [1, 2, 3]) assert.deepEqual(delivered(c, id), ['first']);
    // the ring rests again and a later message of the rep does the same
    c.advance(3000);
    assert.ok(c.srp(1).tokenHeld);
    c.wire.length = 0;
    c.act(1, (s) => s.mcast(Buffer.from('second'), 0));
    assert.deepEqual(
      wireMsgs(c, 1).map((x) => x.m.type),
      [MessageType.Mcast, MessageType.Mcast, MessageType.OrfToken],
    );
    c.advance(5);
    for (const id of [1, 2, 3]) assert.deepEqual(delivered(c, id), ['first', 'second']);
  });

  it('idle ring: a message of a non-rep still sends the hold-cancel, and the rep forwards the token on it', () => {
    const c = cluster([1, 2, 3]);
    formRing(c, [1, 2, 3]);
    c.advance(3000);
    assert.ok(c.srp(1).tokenHeld && c.srp(3).tokenHeld);
    c.wire.length = 0;
    c.act(3, (s) => s.mcast(Buffer.from('from 3'), 0));
    assert.deepEqual(
      wireMsgs(c, 3).map((x) => x.m.type),
      [MessageType.TokenHoldCancel, MessageType.TokenHoldCancel],
      'node 3 only cancels (the token is at node 1)',
    );
    c.settle();
    const fromRep = wireMsgs(c, 1).map((x) => x.m.type);
    assert.equal(fromRep[0], MessageType.OrfToken, 'the rep re-sends the held token on the cancel');
    c.advance(5);
    for (const id of [1, 2, 3]) assert.deepEqual(delivered(c, id), ['from 3']);
  });

  for (const signaller of [1, 3]) {
    it(`idle ring: totempg's new-message signal on node ${signaller} releases the held token at once`, () => {
      const c = cluster([1, 2, 3]);
      formRing(c, [1, 2, 3]);
      c.advance(3000);
      assert.ok(c.srp(1).tokenHeld, 'the rep holds the token');
      c.wire.length = 0;
      // a message staged above SRP (totempg packs until the next token): only the signal
      c.act(signaller, (s) => s.newMessageSignal());
      c.advance(5); // far below the hold timeout
      const toks = wireMsgs(c).filter((x) => x.m.type === MessageType.OrfToken && x.from === 1);
      assert.ok(toks.length >= 1, 'the rep forwarded the token within 5 ms');
      assert.ok(5 < c.srp(1).cfg.hold, 'the hold timeout alone would not have');
      if (signaller !== 1) {
        assert.ok(wireMsgs(c).some((x) => x.m.type === MessageType.TokenHoldCancel && x.from === signaller));
      }
    });
  }

  it('a join that would take the node sets past PROCESSOR_COUNT_MAX is dropped and logged; the ring forms again', () => {
    const c = cluster([1, 2], {}, undefined, true);
    formRing(c, [1, 2]);
    const s1 = c.srp(1);
    const droppedBefore = s1.stats.rx_msg_dropped;
    const phantoms = (from: number): number[] => Array.from({ length: 300 }, (_, i) => from + i);
    const join = (procList: number[]) =>
      encodeMembJoin({ nodeid: 2, systemFrom: 2, procList, failedList: [], ringSeq: s1.ringId.seq });
    // each fits a join (≤ 384 entries); together with the first one's 302 nodes the second does not
    c.inject(1, join([1, 2, ...phantoms(1000)]));
    c.inject(1, join([1, 2, ...phantoms(5000)]));
    assert.equal(s1.state, 'GATHER');
    assert.equal(s1.stats.rx_msg_dropped - droppedBefore, 1, 'the second join is dropped');
    const logs = logged(c, 1);
    assert.ok(
      logs.includes('MEMB_JOIN from node 2 would take the membership past 384 nodes: dropped (1 so far)'),
      logs.slice(-5).join('\n'),
    );
    // the joins node 1 sends are valid (the encoder would throw past the bound)
    for (const w of wireMsgs(c, 1)) {
      if (w.m.type === MessageType.MembJoin) assert.ok(w.m.procList.length <= 384);
    }
    // the 300 phantoms never answer: the consensus timeout fails them and [1, 2] form a ring
    c.advance(20_000);
    for (const id of [1, 2]) {
      assert.equal(c.srp(id).state, 'OPERATIONAL', `node ${id}`);
      assert.deepEqual([...c.srp(id).members], [1, 2]);
    }
  });

  it('a forged join "from" this node that names it failed does not keep it out of every ring', () => {
    const c = cluster([1, 2]);
    formRing(c, [1, 2]);
    const s1 = c.srp(1);
    const seq = s1.ringId.seq;
    // a join from an unknown node 7 takes node 1 to GATHER (OPERATIONAL ignores the forged one)
    c.inject(1, encodeMembJoin({ nodeid: 7, systemFrom: 7, procList: [7], failedList: [], ringSeq: seq }));
    assert.equal(s1.state, 'GATHER');
    c.inject(
      1,
      encodeMembJoin({ nodeid: 1, systemFrom: 1, procList: [1, 2, 8], failedList: [1], ringSeq: seq }),
    );
    c.advance(20_000);
    for (const id of [1, 2]) {
      assert.equal(c.srp(id).state, 'OPERATIONAL', `node ${id}`);
      assert.deepEqual([...c.srp(id).members], [1, 2]);
    }
  });

  it('the token warning says how long in whole milliseconds, as corosync prints it', () => {
    const c = cluster([1, 2, 3], {}, undefined, true);
    formRing(c, [1, 2, 3]);
    c.advance(100);
    c.crash(3);
    c.advance(c.srp(1).cfg.token);
    const warnings = [1, 2]
      .flatMap((id) => logged(c, id))
      .filter((m) => m.startsWith('Token has not been received'));
    assert.ok(warnings.length > 0, 'a token warning was logged');
    for (const w of warnings) assert.match(w, /^Token has not been received in \d+ ms $/);
  });

  it('a join after a process pause (no pause timer for over token/2) flushes the queues; the join goes only when something was flushed', () => {
    const join = encodeMembJoin({ nodeid: 2, systemFrom: 2, procList: [1, 2], failedList: [], ringSeq: 9n });
    const run = (at: number, queued: number) => {
      let asked = 0;
      const s = new TotemSrp(
        srpConfig(1, [1, 2]),
        { ringSeq: 0n },
        { discardQueued: () => (asked++, queued) },
      );
      s.start(0);
      s.drain();
      assert.equal(s.state, 'OPERATIONAL');
      // the pause timer (token / 5 = 600 ms) is due but not run: the process did not get to it
      assert.equal(s.timerDeadline('pause'), 600);
      s.receive(at, join);
      const logs = s
        .drain()
        .filter((e) => e.kind === 'log')
        .map((e) => (e as { message: string }).message);
      return { state: s.state, asked, pauseLog: logs.filter((m) => m.startsWith('Process pause')) };
    };
    // 1600 ms since the timestamp > token / 2 = 1500: a pause; two datagrams were waiting
    const flushed = run(1600, 2);
    assert.deepEqual(flushed, {
      state: 'OPERATIONAL',
      asked: 1,
      pauseLog: ['Process pause detected for 1600 ms, flushing membership messages.'],
    });
    // a pause, nothing waiting: the join is processed (corosync drops it only when it flushed);
    // node 1's own join, which comes back to it, is checked the same way: no timer ran yet
    assert.deepEqual(run(1600, 0), {
      state: 'GATHER',
      asked: 2,
      pauseLog: [flushed.pauseLog[0]!, flushed.pauseLog[0]!],
    });
    // 1500 ms is not more than token / 2: no pause
    assert.deepEqual(run(1500, 2), { state: 'GATHER', asked: 0, pauseLog: [] });
  });

  it('the pause timer refreshes the timestamp every token / 5, so a live process never flushes', () => {
    const c = cluster([1, 2, 3], {}, undefined, true);
    formRing(c, [1, 2, 3]);
    c.advance(10_000);
    c.crash(3); // joins follow: ring 1 2
    c.advance(10_000);
    assert.deepEqual([...c.srp(1).members], [1, 2]);
    for (const id of [1, 2])
      assert.deepEqual(
        logged(c, id).filter((m) => m.startsWith('Process pause')),
        [],
      );
  });
});
