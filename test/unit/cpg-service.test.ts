// The CPG service engine on an in-memory agreed-order bus (test/helpers/cpg-harness.ts):
// exec handlers, confchg generation, sync hooks, IPC lib handlers and their limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CsErrorCode } from '../../src/common/errors.js';
import {
  CpgExecFn,
  CpgPartialType,
  CpgReason,
  CpgReqId,
  CpgResId,
  CpgSize,
  cpgName,
  cpgNameToString,
  decodeCpgExec,
  encodeCpgMcast,
  encodeCpgProcJoin,
  encodeCpgRequest,
} from '../../src/services/cpg/codec.js';
import { CpdState, cpgFlowControlRequired } from '../../src/services/cpg/service.js';
import { CpgCluster, type FakeConn } from '../helpers/cpg-harness.js';

const E = CsErrorCode;

function cluster3(): CpgCluster {
  const c = new CpgCluster([1, 2, 3]);
  c.form([[1, 2, 3]]);
  return c;
}

function stateOf(c: CpgCluster, node: number, conn: FakeConn): CpdState {
  return c.node(node).engine.stateOf(conn)!.state;
}

describe('cpg service: join / leave / mcast across 3 nodes', () => {
  it('join, deliver in agreed order, leave; every node sees the same confchgs', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const b = c.node(2).connect(200);
    const d = c.node(3).connect(300);
    assert.equal(a.join('g'), E.CS_OK);
    assert.equal(stateOf(c, 1, a), CpdState.JOIN_STARTED);
    c.flush();
    assert.equal(stateOf(c, 1, a), CpdState.JOIN_COMPLETED);
    assert.deepEqual(a.lines(), ['cpg_confchg group=g members=1/100 left= joined=1/100:join']);
    assert.equal(b.join('g'), E.CS_OK);
    assert.equal(d.join('g'), E.CS_OK);
    c.flush();
    assert.deepEqual(a.lines(), [
      'cpg_confchg group=g members=1/100,2/200 left= joined=2/200:join',
      'cpg_confchg group=g members=1/100,2/200,3/300 left= joined=3/300:join',
    ]);
    assert.deepEqual(b.lines(), [
      'cpg_confchg group=g members=1/100,2/200 left= joined=2/200:join',
      'cpg_confchg group=g members=1/100,2/200,3/300 left= joined=3/300:join',
    ]);
    assert.deepEqual(d.lines(), ['cpg_confchg group=g members=1/100,2/200,3/300 left= joined=3/300:join']);

    a.mcast('one');
    d.mcast('two');
    b.mcast('three');
    c.flush();
    const expected = [
      'deliver from=1/100 len=3 data="one"',
      'deliver from=3/300 len=3 data="two"',
      'deliver from=2/200 len=5 data="three"',
      'cpg_confchg group=g members=1/100,3/300 left=2/200:leave joined=',
    ];
    assert.equal(b.leave('g'), E.CS_OK);
    assert.equal(stateOf(c, 2, b), CpdState.LEAVE_STARTED);
    c.flush();
    // the leaver gets its own leave, then is unjoined (the documented reset, see service.ts)
    for (const x of [a, b, d]) assert.deepEqual(x.lines(), expected);
    assert.equal(stateOf(c, 2, b), CpdState.UNJOINED);
    a.mcast('after');
    c.flush();
    assert.deepEqual(b.lines(), []);
    assert.deepEqual(a.lines(), ['deliver from=1/100 len=5 data="after"']);
    // a finished leave lets the handle join again (3.1.7 would answer CS_ERR_BUSY forever)
    assert.equal(b.join('g'), E.CS_OK);
    c.flush();
    assert.deepEqual(b.lines(), ['cpg_confchg group=g members=1/100,2/200,3/300 left= joined=2/200:join']);
    // every node holds the same process list
    const lists = [1, 2, 3].map((n) =>
      c
        .node(n)
        .engine.processList()
        .map((p) => `${p.nodeid}/${p.pid}@${cpgNameToString(p.group)}`),
    );
    assert.deepEqual(lists[0], ['1/100@g', '2/200@g', '3/300@g']);
    assert.deepEqual(lists[1], lists[0]);
    assert.deepEqual(lists[2], lists[0]);
  });

  it('a longer mixed history gives identical callback sequences on every node', () => {
    const c = cluster3();
    const listeners = [1, 2, 3].map((n) => c.node(n).connect(1000 + n));
    for (const l of listeners) assert.equal(l.join('mix'), E.CS_OK);
    c.flush();
    for (const l of listeners) l.take();
    const others = [1, 2, 3].flatMap((n) => [c.node(n).connect(2000 + n), c.node(n).connect(3000 + n)]);
    for (const [i, o] of others.entries()) {
      assert.equal(o.join(i % 2 ? 'mix' : 'other'), E.CS_OK);
      if (i % 3 === 0) c.flush();
      o.mcast(`m${i}`);
    }
    c.flush();
    others[0]!.close();
    assert.equal(others[1]!.leave('mix'), E.CS_OK);
    others[4]!.close();
    others[3]!.mcast('late');
    c.flush();
    const seqs = listeners.map((l) => l.lines());
    assert.equal(seqs[0]!.length, 8);
    assert.deepEqual(seqs[1], seqs[0]);
    assert.deepEqual(seqs[2], seqs[0]);
  });

  it('a sender gets its own message; messages of a group do not reach other groups', () => {
    const c = cluster3();
    const a = c.node(1).connect(1);
    const b = c.node(2).connect(2);
    a.join('x');
    b.join('y');
    c.flush();
    a.take();
    b.take();
    a.mcast('to-x');
    c.flush();
    assert.deepEqual(a.lines(), ['deliver from=1/1 len=4 data="to-x"']);
    assert.deepEqual(b.lines(), []);
  });

  it("a connection's MCAST header follows its message size, group and pid (it is reused between sends)", () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const b = c.node(2).connect(200);
    assert.equal(a.join('g1'), E.CS_OK);
    assert.equal(b.join('g1'), E.CS_OK);
    c.flush();
    a.lines();
    b.lines();
    a.mcast('x'.repeat(300));
    a.mcast('yy');
    c.flush();
    // (lines() shows the first 64 bytes of the data)
    assert.deepEqual(b.lines(), [
      `deliver from=1/100 len=300 data="${'x'.repeat(64)}"`,
      'deliver from=1/100 len=2 data="yy"',
    ]);
    assert.equal(a.leave('g1'), E.CS_OK);
    c.flush();
    assert.equal(a.join('g2', 0, 101), E.CS_OK);
    assert.equal(b.leave('g1'), E.CS_OK);
    c.flush();
    assert.equal(b.join('g2'), E.CS_OK);
    c.flush();
    b.lines();
    a.mcast('zzz');
    c.flush();
    assert.deepEqual(b.lines(), ['deliver from=1/101 len=3 data="zzz"']);
    const sent = c.node(1).sent.filter((m) => m.buf.readInt32LE(0) === ((2 << 16) | 3));
    assert.equal(sent.length, 3);
    for (const m of sent) assert.equal(m.buf.readInt32LE(8), m.buf.length, 'header size = message size');
    assert.equal(sent[2]!.buf.subarray(24, 26).toString(), 'g2');
  });

  it('the DELIVER callback has corosync layout', () => {
    const c = cluster3();
    const a = c.node(1).connect(7);
    a.join('g');
    c.flush();
    a.take();
    a.mcast(Buffer.from('abc'));
    c.flush();
    const f = a.events[0]!;
    assert.equal(f.length, CpgSize.DELIVER_HEADER + 3);
    assert.equal(f.readInt32LE(0), CpgResId.DELIVER_CALLBACK);
    assert.equal(f.readInt32LE(8), 187);
    assert.equal(f.readInt32LE(16), E.CS_OK);
    assert.equal(f.readUInt32LE(168), 1);
    assert.equal(f.readUInt32LE(176), 7);
    // the exec MCAST: group and pid of the connection, source = our nodeid + a token
    const sent = c.node(1).sent.filter((m) => m.fn === CpgExecFn.MCAST);
    const m = decodeCpgExec(sent[0]!.buf);
    assert.ok(m.ok && m.value.kind === 'mcast');
    assert.equal(m.value.pid, 7);
    assert.equal(m.value.source.nodeid, 1);
    assert.notEqual(m.value.source.conn, 0n);
    assert.equal(cpgNameToString(m.value.group), 'g');
  });
});

describe('cpg service: lib handler errors and limits', () => {
  it('join and leave answers by state', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    assert.equal(a.leave('g'), E.CS_ERR_NOT_EXIST);
    assert.equal(a.join('g'), E.CS_OK);
    assert.equal(a.join('g'), E.CS_ERR_EXIST);
    assert.equal(a.join('h'), E.CS_ERR_EXIST);
    assert.equal(a.leave('g'), E.CS_ERR_BUSY); // JOIN_STARTED
    c.flush();
    assert.equal(a.join('h'), E.CS_ERR_EXIST);
    // another connection of the same process cannot join the same group
    const a2 = c.node(1).connect(100);
    assert.equal(a2.join('g'), E.CS_ERR_EXIST);
    assert.equal(a2.join('h'), E.CS_OK);
    assert.equal(a.leave('g'), E.CS_OK);
    assert.equal(a.leave('g'), E.CS_ERR_NOT_EXIST); // LEAVE_STARTED
    assert.equal(a.join('x'), E.CS_ERR_BUSY); // LEAVE_STARTED
    // join responses are bare 24-byte RES_JOIN
    const raw = a.raw(encodeCpgRequest({ kind: 'join', group: cpgName('x'), pid: 100, flags: 0 }));
    assert.equal(raw[0]!.length, 24);
    assert.equal(raw[0]!.readInt32LE(0), CpgResId.JOIN);
  });

  it('a join while the old leave is not delivered yet answers TRY_AGAIN', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    a.join('g');
    c.flush();
    a.close(); // PROCLEAVE(PROCDOWN) queued, not delivered
    const again = c.node(1).connect(100);
    assert.equal(again.join('g'), E.CS_ERR_TRY_AGAIN);
    c.flush();
    assert.equal(again.join('g'), E.CS_OK);
  });

  it('a group name over 128 bytes: NAME_TOO_LONG for join, empty answers for queries', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const frame = encodeCpgRequest({ kind: 'join', group: cpgName('g'), pid: 100, flags: 0 });
    frame.writeUInt32LE(129, 16);
    assert.deepEqual(
      a.raw(frame).map((f) => [f.readInt32LE(0), f.readInt32LE(16)]),
      [[CpgResId.JOIN, E.CS_ERR_NAME_TOO_LONG]],
    );
    const mem = encodeCpgRequest({ kind: 'membership_get', group: cpgName('g') });
    mem.writeUInt32LE(500, 16);
    const r = a.raw(mem);
    assert.equal(r[0]!.length, CpgSize.RES_MEMBERSHIP);
    assert.equal(r[0]!.readUInt32LE(24), 0);
    assert.equal(a.closed, false);
    assert.equal(c.node(1).sent.filter((m) => m.fn === CpgExecFn.PROCJOIN).length, 0);
  });

  it('malformed and unknown requests', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const bad = Buffer.alloc(24);
    bad.writeInt32LE(13, 0);
    bad.writeInt32LE(24, 8);
    const r = a.raw(bad);
    assert.deepEqual([r[0]!.readInt32LE(0), r[0]!.readInt32LE(16)], [0, E.CS_ERR_INVALID_PARAM]);
    const short = encodeCpgRequest({ kind: 'local_get' });
    const wrong = Buffer.concat([short, Buffer.alloc(8)]);
    wrong.writeInt32LE(wrong.length, 8);
    a.raw(wrong);
    assert.equal(a.closed, true);
  });

  it('members per group and group count limits', () => {
    const c = new CpgCluster([1, 2], { maxMembersPerGroup: 2, maxGroups: 2 });
    c.form([[1, 2]]);
    const conns = [1, 2, 3, 4].map((i) => c.node(i % 2 ? 1 : 2).connect(i));
    assert.equal(conns[0]!.join('g'), E.CS_OK);
    assert.equal(conns[1]!.join('g'), E.CS_OK);
    c.flush();
    assert.equal(conns[2]!.join('g'), E.CS_ERR_NO_SPACE);
    assert.equal(conns[2]!.join('h'), E.CS_OK);
    c.flush();
    assert.equal(conns[3]!.join('k'), E.CS_ERR_TOO_MANY_GROUPS);
    assert.equal(conns[3]!.join('h'), E.CS_OK);
    // a refused join leaves the connection unjoined
    assert.equal(c.node(2).engine.stateOf(conns[3]!)!.state, CpdState.JOIN_STARTED);
  });

  it('message size limit: an oversized MCAST is dropped, an oversized fragment answers TOO_BIG', () => {
    const c = new CpgCluster([1], { maxMessageSize: 10 });
    c.form([[1]]);
    const a = c.node(1).connect(1);
    a.join('g');
    c.flush();
    a.take();
    a.mcast(Buffer.alloc(11));
    a.mcast(Buffer.alloc(10));
    c.flush();
    assert.deepEqual(
      a.take().map((e) => e.kind === 'deliver' && e.message.length),
      [10],
    );
    assert.equal(c.node(1).engine.stats.mcastDropped, 1);
    const r = a.call({
      kind: 'partial_mcast',
      guarantee: 0,
      msglen: 20,
      type: CpgPartialType.FIRST,
      fragment: Buffer.alloc(11),
    });
    assert.equal(r?.error, E.CS_ERR_TOO_BIG);
  });

  it('mcast from an unjoined connection is dropped without an answer', () => {
    const c = cluster3();
    const a = c.node(1).connect(1);
    a.mcast('nobody');
    assert.equal(c.node(1).sent.filter((m) => m.fn === CpgExecFn.MCAST).length, 0);
    assert.equal(a.responses.length, 0);
  });

  it('zero-copy requests are answered but not implemented', () => {
    const c = cluster3();
    const a = c.node(1).connect(1);
    const alloc = a.raw(encodeCpgRequest({ kind: 'zc_alloc', mapSize: 4096n, path: '/dev/shm/x' }));
    assert.deepEqual(
      [alloc[0]!.length, alloc[0]!.readInt32LE(0), alloc[0]!.readInt32LE(16)],
      [24, 0, E.CS_OK],
    );
    const free = a.raw(encodeCpgRequest({ kind: 'zc_free', mapSize: 4096n, serverAddress: 1n }));
    assert.deepEqual([free[0]!.length, free[0]!.readInt32LE(0)], [24, 0]);
    const exec = a.call({ kind: 'zc_execute', serverAddress: 1n });
    assert.deepEqual(exec, { kind: 'bare', id: CpgResId.MCAST, error: E.CS_ERR_NOT_SUPPORTED });
  });
});

describe('cpg service: flow control during sync', () => {
  it('flow-control-required functions are refused with TRY_AGAIN, mcast silently', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const n = c.node(1);
    n.syncing = true;
    const r = a.raw(encodeCpgRequest({ kind: 'join', group: cpgName('g'), pid: 100, flags: 0 }));
    assert.equal(r.length, 1);
    assert.deepEqual(
      [r[0]!.length, r[0]!.readInt32LE(0), r[0]!.readInt32LE(16)],
      [24, 0, E.CS_ERR_TRY_AGAIN],
    );
    assert.equal(a.call({ kind: 'finalize' })?.error, E.CS_ERR_TRY_AGAIN);
    // not flow-controlled: answered normally
    assert.equal(a.call({ kind: 'local_get' })?.kind, 'local_get');
    assert.equal(a.call({ kind: 'membership_get', group: cpgName('g') })?.kind, 'membership');
    n.syncing = false;
    assert.equal(a.join('g'), E.CS_OK);
    c.flush();
    n.syncing = true;
    a.mcast('during sync');
    assert.equal(a.responses.length, 5);
    assert.equal(n.sent.filter((m) => m.fn === CpgExecFn.MCAST).length, 0);
    n.syncing = false;
    // the table the IPC admission uses
    const required = Array.from({ length: 13 }, (_, i) => cpgFlowControlRequired(i));
    assert.deepEqual(required, [
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      true,
      true,
      true,
      true,
      true,
    ]);
    assert.equal(n.engine.ipc.flowControlRequired(CpgReqId.MEMBERSHIP), false);
    assert.equal(n.engine.ipc.noResponse(CpgReqId.MCAST), true);
  });
});

describe('cpg service: sync', () => {
  it('node down: NODEDOWN confchg then TOTEM_CONFCHG on the survivors', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const b = c.node(2).connect(200);
    const d = c.node(3).connect(300);
    const d2 = c.node(3).connect(301);
    a.join('g');
    b.join('other');
    d.join('g');
    d2.join('other');
    c.flush();
    a.take();
    b.take();
    c.crash(3);
    c.form([[1, 2]]);
    assert.deepEqual(a.lines(), [
      'cpg_confchg group=g members=1/100 left=3/300:nodedown joined=',
      'totem_confchg ring=1.8 members=1,2',
    ]);
    assert.deepEqual(b.lines(), [
      'cpg_confchg group=other members=2/200 left=3/301:nodedown joined=',
      'totem_confchg ring=1.8 members=1,2',
    ]);
    // DOWNLIST on the wire: old_members 3, left [3]
    const dl = c.delivered.filter((m) => m.fn === CpgExecFn.DOWNLIST).slice(-2);
    for (const m of dl) {
      const r = decodeCpgExec(m.buf);
      assert.ok(r.ok && r.value.kind === 'downlist');
      assert.deepEqual([r.value.oldMembers, r.value.leftNodes], [3, [3]]);
    }
  });

  it('NODEDOWN: one confchg per group, groups in strcmp order', () => {
    const c = cluster3();
    const conns = [
      c.node(3).connect(5),
      c.node(3).connect(6),
      c.node(3).connect(7),
      c.node(1).connect(1),
      c.node(1).connect(2),
    ];
    conns[0]!.join('zz');
    conns[1]!.join('b');
    conns[2]!.join('zz');
    conns[3]!.join('zz');
    conns[4]!.join('b');
    c.flush();
    const watch1 = conns[3]!;
    const watch2 = conns[4]!;
    watch1.take();
    watch2.take();
    c.crash(3);
    c.form([[1, 2]]);
    assert.deepEqual(watch1.lines().slice(0, 1), [
      'cpg_confchg group=zz members=1/1 left=3/5:nodedown,3/7:nodedown joined=',
    ]);
    assert.deepEqual(watch2.lines().slice(0, 1), [
      'cpg_confchg group=b members=1/2 left=3/6:nodedown joined=',
    ]);
  });

  it('a node joining with existing groups: JOINLIST exchange gives NODEUP confchgs (spec §5.6)', () => {
    const c = new CpgCluster([1, 2, 3]);
    c.form([[1, 2], [3]]);
    const a = c.node(1).connect(100);
    const d = c.node(3).connect(300);
    a.join('G');
    d.join('G');
    c.flush();
    assert.deepEqual(a.lines(), ['cpg_confchg group=G members=1/100 left= joined=1/100:join']);
    assert.deepEqual(d.lines(), ['cpg_confchg group=G members=3/300 left= joined=3/300:join']);
    const before = c.delivered.length;
    c.form([[1, 2, 3]]);
    assert.deepEqual(a.lines(), [
      'cpg_confchg group=G members=1/100,3/300 left= joined=3/300:nodeup',
      'totem_confchg ring=1.12 members=1,2,3',
    ]);
    assert.deepEqual(d.lines(), [
      'cpg_confchg group=G members=1/100,3/300 left= joined=1/100:nodeup',
      'totem_confchg ring=1.12 members=1,2,3',
    ]);
    // sync traffic: every node a DOWNLIST, nodes with members a JOINLIST after it
    const sync = c.delivered.slice(before).map((m) => {
      const r = decodeCpgExec(m.buf);
      assert.ok(r.ok);
      return `${m.from}:${r.value.kind}`;
    });
    assert.deepEqual(sync, ['1:downlist', '1:joinlist', '2:downlist', '3:downlist', '3:joinlist']);
  });

  it('NODEUP: entries newest first, one confchg per group in strcmp order', () => {
    const c = new CpgCluster([1, 2]);
    c.form([[1], [2]]);
    const w = c.node(1).connect(1);
    const wb = c.node(1).connect(2);
    w.join('b');
    wb.join('a');
    const r = [c.node(2).connect(300), c.node(2).connect(301), c.node(2).connect(302)];
    r[0]!.join('b');
    r[1]!.join('b');
    r[2]!.join('a');
    c.flush();
    w.take();
    wb.take();
    c.form([[1, 2]]);
    // node 2's JOINLIST lists 300@b, 301@b, 302@a; walked backwards: 302, 301, 300
    assert.deepEqual(w.lines(), [
      'cpg_confchg group=b members=1/1,2/300,2/301 left= joined=2/301:nodeup,2/300:nodeup',
      'totem_confchg ring=1.12 members=1,2',
    ]);
    assert.deepEqual(wb.lines(), [
      'cpg_confchg group=a members=1/2,2/302 left= joined=2/302:nodeup',
      'totem_confchg ring=1.12 members=1,2',
    ]);
    // the sender gets the confchgs of the other side too
    assert.deepEqual(r[2]!.lines(), [
      'cpg_confchg group=a members=2/302 left= joined=2/302:join',
      'cpg_confchg group=a members=1/2,2/302 left= joined=1/2:nodeup',
      'totem_confchg ring=1.12 members=1,2',
    ]);
  });

  it('zombies: a remote process no JOINLIST vouches for leaves with PROCDOWN', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const b = c.node(2).connect(200);
    a.join('g');
    b.join('g');
    c.flush();
    // a join of node 3 that node 3 itself never saw (as if it died there meanwhile)
    const ghost = encodeCpgProcJoin(cpgName('g'), 999);
    for (const n of [1, 2]) c.node(n).engine.deliver(CpgExecFn.PROCJOIN, ghost, 3);
    a.take();
    b.take();
    c.form([[1, 2, 3]]);
    const expected = [
      'cpg_confchg group=g members=1/100,2/200 left=3/999:procdown joined=',
      'totem_confchg ring=1.8 members=1,2,3',
    ];
    assert.deepEqual(a.lines(), expected);
    assert.deepEqual(b.lines(), expected);
  });

  it('stored JOINLISTs of an aborted round do not survive into the next (PR #828)', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const d = c.node(3).connect(300);
    a.join('g');
    d.join('g');
    c.flush();
    a.take();
    // round 1 starts: node 3 gets its JOINLIST out, then dies before the barrier
    for (const n of [1, 2, 3]) c.node(n).engine.sync!.init([1, 2, 3], [1, 2, 3], c.node(1).ring);
    for (const n of [1, 2, 3]) c.node(n).syncing = true;
    while (!c.node(3).engine.sync!.process());
    c.flush();
    c.crash(3);
    // no abort (the sync engine was not in PROCESS for cpg), straight to the next round
    c.form([[1, 2]]);
    assert.deepEqual(a.lines(), [
      'cpg_confchg group=g members=1/100 left=3/300:nodedown joined=',
      'totem_confchg ring=1.8 members=1,2',
    ]);
    assert.deepEqual(
      c
        .node(1)
        .engine.processList()
        .map((p) => p.nodeid),
      [1],
    );
  });

  it('sync process retries when the totem queue is full', () => {
    const c = new CpgCluster([1, 2]);
    c.form([[1, 2]]);
    const a = c.node(1).connect(1);
    a.join('g');
    c.flush();
    c.node(1).queueFull = true;
    let retries = 0;
    c.form([[1, 2]], (n) => {
      retries++;
      n.queueFull = false;
    });
    assert.equal(retries, 1);
    const kinds = c.node(1).sent.map((m) => m.fn);
    assert.deepEqual(kinds, [CpgExecFn.DOWNLIST, CpgExecFn.PROCJOIN, CpgExecFn.DOWNLIST, CpgExecFn.JOINLIST]);
  });

  it('model V1 DELIVER_INITIAL_TOTEM_CONF: one TOTEM_CONFCHG right after the first confchg', () => {
    const c = cluster3();
    const a = c.node(2).connect(5);
    assert.equal(a.join('g', 1), E.CS_OK);
    c.flush();
    assert.deepEqual(a.lines(), [
      'cpg_confchg group=g members=2/5 left= joined=2/5:join',
      'totem_confchg ring=1.4 members=1,2,3',
    ]);
    const b = c.node(1).connect(6);
    b.join('g');
    c.flush();
    assert.deepEqual(a.lines(), ['cpg_confchg group=g members=1/6,2/5 left= joined=1/6:join']);
    // TOTEM_CONFCHG layout: 48 + 4n, list at 44
    const t = c.node(2).connect(7);
    t.join('g', 1);
    c.flush();
    const f = t.events[1]!;
    assert.equal(f.length, 48 + 12);
    assert.equal(f.readInt32LE(0), CpgResId.TOTEM_CONFCHG_CALLBACK);
    assert.equal(f.readUInt32LE(24), 1);
    assert.equal(f.readBigUInt64LE(32), 4n);
    assert.deepEqual([f.readUInt32LE(44), f.readUInt32LE(48), f.readUInt32LE(52)], [1, 2, 3]);
  });

  it('every connection, joined or not, gets the TOTEM_CONFCHG at activation', () => {
    const c = cluster3();
    const idle = c.node(1).connect(1);
    c.form([[1, 2, 3]]);
    assert.deepEqual(idle.lines(), ['totem_confchg ring=1.8 members=1,2,3']);
  });
});

describe('cpg service: process death and finalize', () => {
  it('connection close sends PROCLEAVE with reason PROCDOWN', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const b = c.node(2).connect(200);
    a.join('g');
    b.join('g');
    c.flush();
    b.take();
    a.close();
    c.flush();
    assert.deepEqual(b.lines(), ['cpg_confchg group=g members=2/200 left=1/100:procdown joined=']);
    const leave = decodeCpgExec(c.node(1).sent.at(-1)!.buf);
    assert.ok(leave.ok && leave.value.kind === 'procleave');
    assert.equal(leave.value.reason, CpgReason.PROCDOWN);
  });

  it('a close while JOIN_STARTED still leaves; a close after leave sends nothing', () => {
    const c = cluster3();
    const w = c.node(2).connect(2);
    w.join('g');
    c.flush();
    w.take();
    const a = c.node(1).connect(100);
    a.join('g');
    a.close();
    c.flush();
    assert.deepEqual(w.lines(), [
      'cpg_confchg group=g members=1/100,2/2 left= joined=1/100:join',
      'cpg_confchg group=g members=2/2 left=1/100:procdown joined=',
    ]);
    const b = c.node(1).connect(101);
    b.join('g');
    c.flush();
    b.leave('g');
    b.close();
    const sent = c.node(1).sent.length;
    c.flush();
    assert.equal(c.node(1).sent.length, sent);
    assert.deepEqual(w.lines(), [
      'cpg_confchg group=g members=1/101,2/2 left= joined=1/101:join',
      'cpg_confchg group=g members=2/2 left=1/101:leave joined=',
    ]);
  });

  it('a PROCDOWN that finds the totem queue full is sent later', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const w = c.node(2).connect(2);
    a.join('g');
    w.join('g');
    c.flush();
    w.take();
    c.node(1).queueFull = true;
    a.close();
    assert.equal(c.node(1).engine.stats.deferredLeaves, 1);
    c.node(1).queueFull = false;
    const x = c.node(2).connect(3);
    x.join('g');
    c.flush();
    assert.deepEqual(w.lines(), [
      'cpg_confchg group=g members=1/100,2/2,2/3 left= joined=2/3:join',
      'cpg_confchg group=g members=2/2,2/3 left=1/100:procdown joined=',
    ]);
  });

  it('finalize: no more callbacks (not even its own PROCDOWN); the leave goes out at close', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const w = c.node(2).connect(2);
    a.join('g');
    w.join('g');
    c.flush();
    a.take();
    w.take();
    assert.deepEqual(a.call({ kind: 'finalize' }), { kind: 'bare', id: CpgResId.FINALIZE, error: E.CS_OK });
    w.mcast('x');
    c.flush();
    assert.deepEqual(a.lines(), []);
    a.close();
    c.flush();
    assert.deepEqual(w.lines(), [
      'deliver from=2/2 len=1 data="x"',
      'cpg_confchg group=g members=2/2 left=1/100:procdown joined=',
    ]);
  });
});

describe('cpg service: queries', () => {
  it('membership_get: 9248 bytes, group members in (nodeid, pid) order, joined or not', () => {
    const c = cluster3();
    const conns = [c.node(3).connect(9), c.node(1).connect(50), c.node(1).connect(20)];
    for (const x of conns) x.join('g');
    c.flush();
    const q = c.node(2).connect(1);
    const raw = q.raw(encodeCpgRequest({ kind: 'membership_get', group: cpgName('g') }));
    assert.equal(raw[0]!.length, 9248);
    assert.equal(raw[0]!.readInt32LE(0), CpgResId.MEMBERSHIP);
    const r = q.call({ kind: 'membership_get', group: cpgName('g') });
    assert.ok(r?.kind === 'membership');
    assert.deepEqual(
      r.members.map((m) => `${m.nodeid}/${m.pid}/${m.reason}`),
      ['1/20/0', '1/50/0', '3/9/0'],
    );
    const none = q.call({ kind: 'membership_get', group: cpgName('nope') });
    assert.ok(none?.kind === 'membership');
    assert.equal(none.members.length, 0);
  });

  it('local_get', () => {
    const c = cluster3();
    const q = c.node(3).connect(1);
    const raw = q.raw(encodeCpgRequest({ kind: 'local_get' }));
    assert.equal(raw[0]!.length, 32);
    assert.deepEqual(q.call({ kind: 'local_get' }), { kind: 'local_get', error: E.CS_OK, localNodeid: 3 });
  });

  it('iteration: corosync grouping order, NAME_ONLY, ONE_GROUP, end and bad handles', () => {
    const c = new CpgCluster([1, 2], { random: () => 0x1234 });
    c.form([[1, 2]]);
    // process_info [g1:(1,10), g2:(1,20), g1:(1,30), g1:(2,5)]
    const joins: [number, number, string][] = [
      [1, 10, 'g1'],
      [1, 20, 'g2'],
      [1, 30, 'g1'],
      [2, 5, 'g1'],
    ];
    for (const [n, pid, g] of joins) c.node(n).connect(pid).join(g);
    c.flush();
    const q = c.node(1).connect(1);
    const walk = (type: number, group?: string): string[] => {
      const init = q.call({
        kind: 'iteration_initialize',
        iterationType: type,
        group: group ? cpgName(group) : undefined,
      });
      assert.ok(init?.kind === 'iteration_initialize' && init.error === E.CS_OK);
      assert.equal(init.handle >> 32n, 0x1234n);
      const out: string[] = [];
      for (;;) {
        const n = q.call({ kind: 'iteration_next', handle: init.handle });
        assert.ok(n?.kind === 'iteration_next');
        if (n.error === E.CS_ERR_NO_SECTIONS) {
          assert.equal(n.description.group.length, 0);
          // stays at the end
          const again = q.call({ kind: 'iteration_next', handle: init.handle });
          assert.equal(again?.error, E.CS_ERR_NO_SECTIONS);
          break;
        }
        assert.equal(n.error, E.CS_OK);
        out.push(`${cpgNameToString(n.description.group)}:${n.description.nodeid}/${n.description.pid}`);
      }
      assert.deepEqual(q.call({ kind: 'iteration_finalize', handle: init.handle }), {
        kind: 'bare',
        id: CpgResId.ITERATIONFINALIZE,
        error: E.CS_OK,
      });
      assert.equal(q.call({ kind: 'iteration_finalize', handle: init.handle })?.error, E.CS_ERR_LIBRARY);
      return out;
    };
    assert.deepEqual(walk(3), ['g2:1/20', 'g1:1/10', 'g1:2/5', 'g1:1/30']);
    assert.deepEqual(walk(7), ['g2:1/20', 'g1:1/10', 'g1:2/5', 'g1:1/30']); // any other type = ALL
    assert.deepEqual(walk(1), ['g2:0/0', 'g1:0/0']);
    assert.deepEqual(walk(2, 'g1'), ['g1:1/10', 'g1:2/5', 'g1:1/30']);
    assert.deepEqual(walk(2, 'none'), []);
    assert.equal(q.call({ kind: 'iteration_next', handle: 42n })?.error, E.CS_ERR_LIBRARY);
    const raw = q.raw(encodeCpgRequest({ kind: 'iteration_next', handle: 42n }));
    assert.equal(raw[0]!.length, 168);
  });

  it('iteration limit per connection', () => {
    const c = new CpgCluster([1], { maxIterationsPerConnection: 2 });
    c.form([[1]]);
    const q = c.node(1).connect(1);
    const init = () => q.call({ kind: 'iteration_initialize', iterationType: 3, group: undefined })!.error;
    assert.deepEqual([init(), init(), init()], [E.CS_OK, E.CS_OK, E.CS_ERR_NO_MEMORY]);
  });
});

describe('cpg service: partial mcast', () => {
  it('fragments go out as PARTIAL_MCAST and reach members as PARTIAL_DELIVER callbacks', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const b = c.node(2).connect(200);
    a.join('g');
    b.join('g');
    c.flush();
    a.take();
    b.take();
    const parts = ['hel', 'lo ', 'world'];
    const types = [CpgPartialType.FIRST, CpgPartialType.CONTINUED, CpgPartialType.LAST];
    for (const [i, p] of parts.entries()) {
      const raw = a.raw(
        encodeCpgRequest({
          kind: 'partial_mcast',
          guarantee: 0,
          msglen: 11,
          type: types[i]!,
          fragment: Buffer.from(p),
        }),
      );
      assert.deepEqual(
        raw.map((f) => [f.length, f.readInt32LE(0), f.readInt32LE(16)]),
        [[24, CpgResId.PARTIAL_SEND, E.CS_OK]],
      );
    }
    c.flush();
    const expected = [
      'partial from=1/100 type=1 msglen=11 frag="hel"',
      'partial from=1/100 type=2 msglen=11 frag="lo "',
      'partial from=1/100 type=3 msglen=11 frag="world"',
    ];
    assert.deepEqual(a.lines(), expected);
    assert.deepEqual(b.lines(), expected);
    const f = c.node(1).sent.filter((m) => m.fn === CpgExecFn.PARTIAL_MCAST);
    assert.equal(f.length, 3);
    assert.equal(f[0]!.buf.length, CpgSize.PARTIAL_MCAST_HEADER + 3);
  });

  it('a confchg between FIRST and the next fragment interrupts the send; unjoined → NOT_EXIST', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    const send = (type: number) =>
      a.call({ kind: 'partial_mcast', guarantee: 0, msglen: 4, type, fragment: Buffer.from('ab') })!.error;
    assert.equal(send(CpgPartialType.FIRST), E.CS_ERR_NOT_EXIST);
    a.join('g');
    c.flush();
    assert.equal(send(CpgPartialType.FIRST), E.CS_OK);
    c.node(2).connect(5).join('g');
    c.flush();
    assert.equal(send(CpgPartialType.LAST), E.CS_ERR_INTERRUPT);
    assert.equal(send(CpgPartialType.FIRST), E.CS_OK);
    assert.equal(send(CpgPartialType.LAST), E.CS_OK);
  });
});

describe('cpg service: exec robustness', () => {
  it('malformed exec messages are dropped without throwing or changing state', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    a.join('g');
    c.flush();
    a.take();
    const e = c.node(1).engine;
    const good = encodeCpgProcJoin(cpgName('g'), 5);
    const truncated = good.subarray(0, 100);
    const badSize = Buffer.from(good);
    badSize.writeInt32LE(999, 8);
    const longName = Buffer.from(good);
    longName.writeUInt32LE(129, 16);
    const mcast = encodeCpgMcast({
      group: cpgName('g'),
      pid: 1,
      source: { nodeid: 2, conn: 0n },
      message: Buffer.from('xyz'),
    });
    const badLen = Buffer.from(mcast);
    badLen.writeUInt32LE(1000, 152);
    const cases: [number, Buffer][] = [
      [CpgExecFn.PROCJOIN, Buffer.alloc(0)],
      [CpgExecFn.PROCJOIN, truncated],
      [CpgExecFn.PROCJOIN, badSize],
      [CpgExecFn.PROCJOIN, longName],
      [CpgExecFn.PROCLEAVE, good], // fn disagrees with the header
      [CpgExecFn.MCAST, badLen],
      [CpgExecFn.JOINLIST, Buffer.from('garbage garbage garbage garbage')],
      [CpgExecFn.DOWNLIST, Buffer.alloc(1568, 0xff)],
      [9, good],
    ];
    for (const [fn, buf] of cases) assert.doesNotThrow(() => e.deliver(fn, buf, 2));
    assert.equal(e.stats.malformedExec, cases.length);
    assert.deepEqual(a.lines(), []);
    assert.equal(e.processList().length, 1);
  });

  it('a message from a node with no member in the group is not delivered at all', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    a.join('g');
    c.flush();
    a.take();
    const e = c.node(1).engine;
    const m = encodeCpgMcast({
      group: cpgName('g'),
      pid: 1,
      source: { nodeid: 2, conn: 0n },
      message: Buffer.from('xyz'),
    });
    e.deliver(CpgExecFn.MCAST, m, 2);
    assert.deepEqual(a.lines(), []);
    assert.equal(e.stats.unknownNodeDrops, 1);
  });

  it('a leave of an unknown process still produces a confchg; duplicate joins are ignored', () => {
    const c = cluster3();
    const a = c.node(1).connect(100);
    a.join('g');
    c.flush();
    a.take();
    const e = c.node(1).engine;
    const j = encodeCpgProcJoin(cpgName('g'), 7);
    e.deliver(CpgExecFn.PROCJOIN, j, 2);
    e.deliver(CpgExecFn.PROCJOIN, j, 2);
    const leave = Buffer.from(j);
    leave.writeInt32LE((2 << 16) | CpgExecFn.PROCLEAVE, 0);
    leave.writeUInt32LE(CpgReason.LEAVE, 160);
    e.deliver(CpgExecFn.PROCLEAVE, leave, 2);
    e.deliver(CpgExecFn.PROCLEAVE, leave, 2);
    assert.deepEqual(a.lines(), [
      'cpg_confchg group=g members=1/100,2/7 left= joined=2/7:join',
      'cpg_confchg group=g members=1/100 left=2/7:leave joined=',
      'cpg_confchg group=g members=1/100 left=2/7:leave joined=',
    ]);
  });
});
