// libvotequorum for TypeScript: struct layouts (spec votequorum.md §7) and the client against
// the in-process fake votequorum service (test/helpers/fake-quorum-services.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeVqRequest,
  decodeVqResponse,
  encodeVqExpectedVotesNotification,
  encodeVqGetinfo,
  encodeVqNodelistNotification,
  encodeVqQuorumNotification,
  encodeVqRequest,
} from '../../src/services/votequorum/codec.js';
import {
  CsDispatchFlags,
  CsError,
  CsErrorCode,
  CsTrack,
  VotequorumHandle,
  type VotequorumEvent,
} from '../../src/client/index.js';
import { startQuorumDaemon } from '../helpers/fake-quorum-services.js';

const NODES = [1, 2, 3].map((n) => ({ nodeid: n, name: `node${n}`, addrs: [`10.77.0.${n}`] }));

test('request layouts (sizes and offsets)', () => {
  const ts = encodeVqRequest({ kind: 'trackstart', context: 0x1122334455667788n, trackFlags: 2 });
  assert.equal(ts.length, 32);
  assert.equal(ts.readInt32LE(0), 3);
  assert.equal(ts.readInt32LE(8), 32);
  assert.equal(ts.readBigUInt64LE(16), 0x1122334455667788n);
  assert.equal(ts.readUInt32LE(24), 2);
  const sv = encodeVqRequest({ kind: 'setvotes', nodeId: 7, votes: 3 });
  assert.deepEqual([sv.length, sv.readUInt32LE(16), sv.readInt32LE(20)], [24, 3, 7]);
  const poll = encodeVqRequest({
    kind: 'qdevice_poll',
    name: { name: 'dev', terminated: true },
    castVote: 1,
    ringId: { rep: 5, seq: 9n },
  });
  assert.deepEqual(
    [poll.length, poll.readInt32LE(272), poll.readUInt32LE(280), poll.readBigUInt64LE(288)],
    [296, 1, 5, 9n],
  );
  assert.equal(poll.subarray(16, 20).toString('latin1'), 'dev\0');
  const up = encodeVqRequest({
    kind: 'qdevice_update',
    oldName: { name: 'a', terminated: true },
    newName: { name: 'b', terminated: true },
  });
  assert.deepEqual([up.length, up[16], up[271]], [528, 0x61, 0x62]);
  const x = { name: 'x', terminated: true };
  assert.equal(encodeVqRequest({ kind: 'qdevice_master_wins', name: x, allow: 1 }).length, 280);
  assert.equal(encodeVqRequest({ kind: 'qdevice_register', name: x }).length, 272);
  for (const r of [ts, sv, poll, up]) assert.ok(decodeVqRequest(r).ok);
  assert.deepEqual(decodeVqRequest(sv), { ok: true, value: { kind: 'setvotes', nodeId: 7, votes: 3 } });
  assert.equal(decodeVqRequest(Buffer.concat([sv, Buffer.alloc(8)])).ok, false);
});

test('getinfo reply and notifications round-trip with the spec sizes', () => {
  const info = {
    nodeId: 1,
    state: 1,
    votes: 1,
    expectedVotes: 3,
    highestExpected: 3,
    totalVotes: 2,
    quorum: 2,
    flags: 2,
    qdeviceVotes: 0,
    qdeviceName: 'Qdev',
  };
  const g = encodeVqGetinfo(1, info);
  assert.equal(g.length, 320);
  assert.equal(g.readUInt32LE(48), 2);
  assert.equal(g.subarray(60, 64).toString(), 'Qdev');
  assert.deepEqual(decodeVqResponse(g), { ok: true, value: { kind: 'getinfo', error: 1, info } });
  const q = encodeVqQuorumNotification(true, 5n, [
    { nodeId: 1, state: 1 },
    { nodeId: 2, state: 2 },
  ]);
  assert.deepEqual(
    [q.length, q.readUInt32LE(40), q.readUInt32LE(56), q.readUInt32LE(60)],
    [48 + 16, 2, 2, 2],
  );
  const n = encodeVqNodelistNotification(5n, { rep: 1, seq: 12n }, [1, 2]);
  assert.deepEqual(
    [n.length, n.readUInt32LE(32), n.readBigUInt64LE(40), n.readUInt32LE(48), n.readUInt32LE(60)],
    [64, 1, 12n, 2, 2],
  );
  const e = encodeVqExpectedVotesNotification(5n, 4);
  assert.equal(e.length, 40);
  for (const m of [q, n, e]) assert.ok(decodeVqResponse(m).ok);
  // a count beyond the frame is refused
  const bad = Buffer.from(n);
  bad.writeUInt32LE(9, 48);
  assert.equal(decodeVqResponse(bad).ok, false);
});

test('getinfo, setexpected, setvotes against the service', async () => {
  const d = await startQuorumDaemon({ nodes: NODES, members: [1, 2] });
  try {
    const h = await VotequorumHandle.initialize({}, { runDir: d.runDir });
    const local = await h.getinfo(0);
    assert.deepEqual(
      [local.nodeid, local.votes, local.expectedVotes, local.totalVotes, local.quorum, local.flags & 2],
      [1, 1, 3, 2, 2, 2],
    );
    assert.equal((await h.getinfo(2)).nodeid, 2);
    await assert.rejects(h.getinfo(9), (e) => CsError.is(e, CsErrorCode.CS_ERR_NOT_EXIST));
    await assert.rejects(h.setexpected(1), (e) => CsError.is(e, CsErrorCode.CS_ERR_INVALID_PARAM));
    await h.setexpected(2);
    assert.equal((await h.getinfo()).expectedVotes, 2);
    await assert.rejects(h.setvotes(9, 1), (e) => CsError.is(e, CsErrorCode.CS_ERR_NAME_NOT_FOUND));
    await h.setvotes(2, 2);
    assert.equal((await h.getinfo(2)).votes, 2);
    await assert.rejects(h.qdeviceRegister(''), (e) => CsError.is(e, CsErrorCode.CS_ERR_INVALID_PARAM));
    await assert.rejects(h.qdeviceRegister('x'.repeat(255)), (e) =>
      CsError.is(e, CsErrorCode.CS_ERR_INVALID_PARAM),
    );
    await assert.rejects(h.qdeviceRegister('dev'), (e) => CsError.is(e, CsErrorCode.CS_ERR_ACCESS));
    await h.finalize();
    await assert.rejects(h.getinfo(), (e) => CsError.is(e, CsErrorCode.CS_ERR_BAD_HANDLE));
    await assert.rejects(h.finalize(), (e) => CsError.is(e, CsErrorCode.CS_ERR_BAD_HANDLE));
  } finally {
    await d.close();
  }
});

test('trackstart CURRENT/CHANGES/CHANGES_ONLY, callbacks only from dispatch, the 4 modes', async () => {
  const d = await startQuorumDaemon({ nodes: NODES, members: [1, 2] });
  try {
    const seen: string[] = [];
    const h = await VotequorumHandle.initialize(
      {
        quorumNotify: (_h, ctx, quorate, nodes) =>
          seen.push(`q ${ctx} ${quorate} ${nodes.map((n) => `${n.nodeid}:${n.state}`).join(',')}`),
        nodelistNotify: (_h, ctx, ring, nodes) =>
          seen.push(`n ${ctx} ${ring.nodeid}.${ring.seq} ${nodes.join(',')}`),
        expectedVotesNotify: (_h, ctx, ev) => seen.push(`e ${ctx} ${ev}`),
      },
      { runDir: d.runDir },
    );
    await assert.rejects(h.dispatch(CsDispatchFlags.ONE_NONBLOCKING), (e) =>
      CsError.is(e, CsErrorCode.CS_ERR_TRY_AGAIN),
    );
    await h.trackstart(7n, CsTrack.CURRENT);
    assert.equal(seen.length, 0, 'nothing runs outside dispatch');
    assert.equal(h.pendingEvents, 2);
    await h.dispatch(CsDispatchFlags.ONE);
    assert.equal(seen.length, 1);
    await h.dispatch(CsDispatchFlags.ALL);
    const ring = d.ringId();
    assert.deepEqual(seen, [`n 7 ${ring.nodeid}.${ring.seq} 1,2`, 'q 7 true 1:1,2:1']);
    // CURRENT alone does not register a tracker
    await assert.rejects(h.trackstop(), (e) => CsError.is(e, CsErrorCode.CS_ERR_NOT_EXIST));
    seen.length = 0;
    await h.trackstart(9n, CsTrack.CHANGES_ONLY);
    assert.equal(h.pendingEvents, 0);
    d.setMembership([1, 2, 3]);
    const got: VotequorumEvent[] = [];
    for await (const ev of h.events()) {
      got.push(ev);
      if (ev.type === 'quorum') break;
    }
    assert.deepEqual(
      got.map((e) => e.type),
      ['nodelist', 'quorum'],
    );
    assert.equal(got[1]!.context, 9n);
    await assert.rejects(h.trackstart(1n, CsTrack.CHANGES), (e) => CsError.is(e, CsErrorCode.CS_ERR_EXIST));
    await h.dispatch(CsDispatchFlags.ALL); // the CURRENT part of the refused trackstart
    // expected votes notification when setexpected raises them
    await h.setexpected(4);
    await h.dispatch(CsDispatchFlags.ONE);
    assert.ok(seen.includes('e 9 4'));
    await h.trackstop();
    // BLOCKING ends with BAD_HANDLE when a callback finalizes the handle
    const h2 = await VotequorumHandle.initialize(
      {
        nodelistNotify: (hh) => {
          void hh.finalize();
        },
      },
      { runDir: d.runDir },
    );
    await h2.trackstart(0n, CsTrack.CURRENT);
    await assert.rejects(h2.dispatch(CsDispatchFlags.BLOCKING), (e) =>
      CsError.is(e, CsErrorCode.CS_ERR_BAD_HANDLE),
    );
    await assert.rejects(h.dispatch(9), (e) => CsError.is(e, CsErrorCode.CS_ERR_INVALID_PARAM));
    assert.equal(h.contextGet(), undefined);
    h.contextSet('ctx');
    assert.equal(h.contextGet(), 'ctx');
    assert.ok(h.fdGet() >= 0);
    await h.finalize();
  } finally {
    await d.close();
  }
});

test('lost connection: queued callbacks still run, then CS_ERR_LIBRARY', async () => {
  const d = await startQuorumDaemon({ nodes: NODES });
  const h = await VotequorumHandle.initialize({}, { runDir: d.runDir });
  await h.trackstart(0n, CsTrack.CURRENT);
  await d.close();
  await h.dispatch(CsDispatchFlags.ONE);
  await h.dispatch(CsDispatchFlags.ONE);
  await assert.rejects(h.dispatch(CsDispatchFlags.BLOCKING), (e) =>
    CsError.is(e, CsErrorCode.CS_ERR_LIBRARY),
  );
  await assert.rejects(h.getinfo(), (e) => CsError.is(e, CsErrorCode.CS_ERR_LIBRARY));
  await h.finalize();
});

test('initialize without a votequorum service: CS_ERR_LIBRARY', async () => {
  const d = await startQuorumDaemon({ nodes: NODES, votequorum: false });
  try {
    await assert.rejects(VotequorumHandle.initialize({}, { runDir: d.runDir }), (e) =>
      CsError.is(e, CsErrorCode.CS_ERR_LIBRARY),
    );
  } finally {
    await d.close();
  }
});
