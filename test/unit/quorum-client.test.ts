// libquorum for TypeScript: struct layouts (spec votequorum.md §10.3) and the client (models
// V0 and V1) against the in-process fake quorum service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeQuorumResponse,
  encodeQuorumRequest,
  encodeQuorumResponse,
} from '../../src/services/quorum/codec.js';
import {
  CsDispatchFlags,
  CsError,
  CsErrorCode,
  CsTrack,
  QuorumHandle,
  QuorumModel,
  QuorumType,
} from '../../src/client/index.js';
import { startQuorumDaemon } from '../helpers/fake-quorum-services.js';

const NODES = [1, 2, 3].map((n) => ({ nodeid: n, name: `node${n}`, addrs: [`10.77.0.${n}`] }));

test('request and notification layouts', () => {
  assert.deepEqual(
    [...encodeQuorumRequest({ kind: 'trackstart', flags: 2 })].slice(0, 20),
    [1, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0],
  );
  assert.equal(encodeQuorumRequest({ kind: 'getquorate' }).length, 16);
  assert.equal(encodeQuorumRequest({ kind: 'model_gettype', model: 1 }).readUInt32LE(16), 1);
  const v0 = encodeQuorumResponse({
    kind: 'notification',
    error: 1,
    quorate: 1,
    ringSeq: 0x10n,
    viewList: [1, 2],
  });
  assert.deepEqual(
    [v0.length, v0.readInt32LE(0), v0.readBigUInt64LE(32), v0.readUInt32LE(40), v0.readUInt32LE(48)],
    [56, 3, 16n, 2, 2],
  );
  const v1 = encodeQuorumResponse({
    kind: 'v1_quorum_notification',
    error: 1,
    quorate: 0,
    ringId: { nodeid: 1, seq: 5n },
    viewList: [1],
  });
  assert.deepEqual(
    [v1.length, v1.readInt32LE(0), v1.readUInt32LE(32), v1.readUInt32LE(48), v1.readUInt32LE(52)],
    [60, 6, 1, 1, 1],
  );
  const nl = encodeQuorumResponse({
    kind: 'v1_nodelist_notification',
    error: 1,
    ringId: { nodeid: 1, seq: 5n },
    members: [1, 2],
    joined: [2],
    left: [3],
  });
  assert.deepEqual(
    [
      nl.length,
      nl.readUInt32LE(40),
      nl.readUInt32LE(48),
      nl.readUInt32LE(56),
      nl.readUInt32LE(68),
      nl.readUInt32LE(72),
    ],
    [64 + 16, 2, 1, 1, 2, 3],
  );
  assert.deepEqual(decodeQuorumResponse(nl), {
    ok: true,
    value: {
      kind: 'v1_nodelist_notification',
      error: 1,
      ringId: { nodeid: 1, seq: 5n },
      members: [1, 2],
      joined: [2],
      left: [3],
    },
  });
});

test('model V0: quorum type, getquorate, trackstart CURRENT and CHANGES', async () => {
  const d = await startQuorumDaemon({ nodes: NODES, members: [1, 2] });
  try {
    const seen: Array<[boolean, bigint, number[]]> = [];
    const h = await QuorumHandle.initialize(
      { quorumNotify: (_h, q, seq, view) => seen.push([q, seq, [...view]]) },
      { runDir: d.runDir },
    );
    assert.equal(h.quorumType, QuorumType.SET);
    assert.equal(h.model, QuorumModel.V0);
    assert.equal(await h.getquorate(), true);
    await h.trackstart(CsTrack.CHANGES);
    assert.equal(seen.length, 0);
    await h.dispatch(CsDispatchFlags.ALL);
    assert.deepEqual(seen, [[true, d.ringId().seq, [1, 2]]]);
    await assert.rejects(h.trackstart(CsTrack.CHANGES), (e) => CsError.is(e, CsErrorCode.CS_ERR_EXIST));
    await h.dispatch(CsDispatchFlags.ALL);
    seen.length = 0;
    d.setMembership([1]);
    await h.dispatch(CsDispatchFlags.ONE);
    assert.deepEqual(seen, [[false, d.ringId().seq, [1]]]);
    await h.trackstop();
    await h.trackstop(); // always OK
    await h.finalize();
    await assert.rejects(h.getquorate(), (e) => CsError.is(e, CsErrorCode.CS_ERR_BAD_HANDLE));
  } finally {
    await d.close();
  }
});

test('model V1: node list (joined/left) before the quorum notification; context', async () => {
  const d = await startQuorumDaemon({ nodes: NODES, members: [1, 2] });
  try {
    const seen: string[] = [];
    const h = await QuorumHandle.modelInitialize(
      QuorumModel.V1,
      {
        quorumNotify: (_h, q, ring, members) =>
          seen.push(`q ${q} ${ring.nodeid}.${ring.seq} ${members.join(',')}`),
        nodelistNotify: (_h, ring, m, j, l) =>
          seen.push(`n ${ring.seq} ${m.join(',')} +${j.join(',')} -${l.join(',')}`),
      },
      { mine: true },
      { runDir: d.runDir },
    );
    assert.deepEqual(h.contextGet(), { mine: true });
    await h.trackstart(CsTrack.CURRENT | CsTrack.CHANGES);
    await h.dispatch(CsDispatchFlags.ALL);
    const s1 = d.ringId().seq;
    assert.deepEqual(seen, [`n ${s1} 1,2 + -`, `q true 1.${s1} 1,2`]);
    seen.length = 0;
    d.setMembership([1, 3]);
    const types: string[] = [];
    for await (const ev of h.events()) {
      types.push(ev.type);
      if (ev.type === 'v1Nodelist') assert.deepEqual([ev.joinedList, ev.leftList], [[3], [2]]);
      if (ev.type === 'v1Quorum') break;
    }
    assert.deepEqual(types, ['v1Nodelist', 'v1Quorum']);
    await h.finalize();
  } finally {
    await d.close();
  }
});

test('invalid model: CS_ERR_INVALID_PARAM before connecting; no provider: QUORUM_FREE, quorate', async () => {
  await assert.rejects(QuorumHandle.modelInitialize(2, {}), (e) =>
    CsError.is(e, CsErrorCode.CS_ERR_INVALID_PARAM),
  );
  const d = await startQuorumDaemon({ nodes: NODES, votequorum: false });
  try {
    const h = await QuorumHandle.initialize({}, { runDir: d.runDir });
    assert.equal(h.quorumType, QuorumType.FREE);
    assert.equal(await h.getquorate(), true);
    await h.finalize();
  } finally {
    await d.close();
  }
});
