// libcfg for TypeScript: struct layouts (spec cfg.md §2) and the client against the
// in-process fake cfg service, including the shutdown protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CFG_NODESTATUSGET_V1_SIZE,
  CFG_RINGSTATUSGET_SIZE,
  decodeCfgRequest,
  decodeCfgResponse,
  encodeCfgRequest,
  encodeCfgResponse,
} from '../../src/services/cfg/codec.js';
import {
  AddressFamily,
  CfgHandle,
  CfgShutdownFlag,
  CfgShutdownReply,
  CsDispatchFlags,
  CsError,
  CsErrorCode,
} from '../../src/client/index.js';
import { startQuorumDaemon } from '../helpers/fake-quorum-services.js';

const NODES = [1, 2, 3].map((n) => ({ nodeid: n, name: `node${n}`, addrs: [`10.77.0.${n}`, `fd00::${n}`] }));

test('struct sizes and layouts', () => {
  assert.equal(CFG_RINGSTATUSGET_SIZE, 10272);
  assert.equal(CFG_NODESTATUSGET_V1_SIZE, 4200);
  // reason.length = strlen + 1, as libcfg (and src/client/cfg.ts) sends it
  const k = encodeCfgRequest({ kind: 'killnode', nodeid: 3, reasonLength: 4, reason: 'bye' });
  assert.deepEqual([k.length, k.readInt32LE(0), k.readUInt32LE(16), k.readUInt16LE(24)], [288, 2, 3, 4]);
  assert.equal(k.subarray(26, 30).toString('latin1'), 'bye\0');
  assert.deepEqual(decodeCfgRequest(k), {
    ok: true,
    value: { kind: 'killnode', nodeid: 3, reasonLength: 4, reason: 'bye' },
  });
  const ns = encodeCfgRequest({ kind: 'nodestatusget', nodeid: 2, version: 1 });
  assert.deepEqual([ns.length, ns.readUInt32LE(16), ns.readUInt32LE(24)], [32, 2, 1]);
  const ts = encodeCfgRequest({ kind: 'trackstart', flags: 0 });
  assert.deepEqual([ts.length, ts.readInt32LE(0)], [24, 10]);
  // num_addrs smaller than the size implies (quirk): only num_addrs entries are read
  const a = encodeCfgResponse({
    kind: 'get_node_addrs',
    error: 1,
    family: 2,
    addrs: [Buffer.from([10, 0, 0, 1])],
    slots: 3,
  });
  assert.equal(a.length, 32 + 48);
  assert.equal(a.readUInt32LE(28), 1);
  const d = decodeCfgResponse(a);
  assert.ok(d.ok && d.value.kind === 'get_node_addrs' && d.value.addrs.length === 1);
});

test('local_get, node addrs, ring status, node status, reload, reopen, kill', async () => {
  const d = await startQuorumDaemon({ nodes: NODES, members: [1, 2], localNodeId: 1 });
  try {
    const h = await CfgHandle.initialize({}, { runDir: d.runDir });
    assert.equal(await h.localGet(), 1);
    const addrs = await h.getNodeAddrs(2);
    // one family per node (the first address decides, as in corosync): 10.77.0.2 then the
    // IPv6 bytes read as IPv4 — real configs never mix families on one node
    assert.deepEqual(
      [addrs.length, addrs[0]!.family, addrs[0]!.address],
      [2, AddressFamily.INET, '10.77.0.2'],
    );
    assert.equal((await h.getNodeAddrs(0, 1)).length, 1);
    await assert.rejects(h.getNodeAddrs(9), (e) => CsError.is(e, CsErrorCode.CS_ERR_NOT_EXIST));
    const rs = await h.ringStatusGet();
    assert.deepEqual(rs[0], { name: '0 10.77.0.1', status: 'n31' });
    const st = await h.nodeStatusGet(2);
    assert.deepEqual(
      [
        st.nodeid,
        st.reachable,
        st.linkStatus.length,
        st.linkStatus[0]!.connected,
        st.linkStatus[0]!.dstIpaddr,
      ],
      [2, 1, 8, 1, '10.77.0.2'],
    );
    await assert.rejects(h.nodeStatusGet(9), (e) => CsError.is(e, CsErrorCode.CS_ERR_FAILED_OPERATION));
    await assert.rejects(h.nodeStatusGet(2, 2), (e) => CsError.is(e, CsErrorCode.CS_ERR_INVALID_PARAM));
    await h.reloadConfig();
    d.setReloadResult(CsErrorCode.CS_ERR_INVALID_PARAM);
    await assert.rejects(h.reloadConfig(), (e) => CsError.is(e, CsErrorCode.CS_ERR_INVALID_PARAM));
    await h.reopenLogFiles();
    assert.deepEqual([d.reloads(), d.reopens()], [2, 1]);
    await h.killNode(2, 'test');
    await assert.rejects(h.killNode(3, 'x'), (e) => CsError.is(e, CsErrorCode.CS_ERR_NOT_EXIST));
    await assert.rejects(h.killNode(2, 'x'.repeat(256)), (e) =>
      CsError.is(e, CsErrorCode.CS_ERR_NAME_TOO_LONG),
    );
    assert.deepEqual(d.killed, [2]);
    d.setSyncInProgress(true);
    await assert.rejects(h.ringStatusGet(), (e) => CsError.is(e, CsErrorCode.CS_ERR_TRY_AGAIN));
    assert.equal(await h.localGet(), 1, 'not flow-controlled');
    d.setSyncInProgress(false);
    await h.finalize();
    await assert.rejects(h.localGet(), (e) => CsError.is(e, CsErrorCode.CS_ERR_BAD_HANDLE));
  } finally {
    await d.close();
  }
});

test('IPv6 addresses are printed in RFC 5952 form', async () => {
  const d = await startQuorumDaemon({ nodes: [{ nodeid: 1, addrs: ['fd00::1', 'fd00:0:0:1::2'] }] });
  try {
    const h = await CfgHandle.initialize({}, { runDir: d.runDir });
    assert.deepEqual(
      (await h.getNodeAddrs(1)).map((a) => [a.family, a.address]),
      [
        [AddressFamily.INET6, 'fd00::1'],
        [AddressFamily.INET6, 'fd00:0:0:1::2'],
      ],
    );
    await h.finalize();
  } finally {
    await d.close();
  }
});

test('shutdown: trackers are asked through dispatch; YES lets it through, NO refuses (BUSY)', async () => {
  const d = await startQuorumDaemon({ nodes: NODES });
  try {
    let answer: number = CfgShutdownReply.YES;
    const asked: number[] = [];
    const tracker = await CfgHandle.initialize(
      {
        shutdown: (hh, flags) => {
          asked.push(flags);
          void hh.replyToShutdown(answer);
        },
      },
      { runDir: d.runDir },
    );
    await tracker.trackstart();
    const req = await CfgHandle.initialize({}, { runDir: d.runDir });
    const p1 = req.tryShutdown(CfgShutdownFlag.REQUEST);
    await tracker.dispatch(CsDispatchFlags.ONE);
    await p1;
    assert.deepEqual(asked, [CfgShutdownFlag.REQUEST]);
    assert.equal(d.shutdowns(), 1);

    answer = CfgShutdownReply.NO;
    const p2 = req.tryShutdown(CfgShutdownFlag.REQUEST);
    await tracker.dispatch(CsDispatchFlags.ONE);
    await assert.rejects(p2, (e) => CsError.is(e, CsErrorCode.CS_ERR_BUSY));
    assert.equal(d.shutdowns(), 1);

    // REGARDLESS goes through despite the NO; IMMEDIATE asks nobody
    const p3 = req.tryShutdown(CfgShutdownFlag.REGARDLESS);
    await tracker.dispatch(CsDispatchFlags.ONE);
    await p3;
    await req.tryShutdown(CfgShutdownFlag.IMMEDIATE);
    assert.equal(d.shutdowns(), 3);
    assert.equal(tracker.pendingEvents, 0);

    // a tracker that goes away counts as YES
    const p4 = req.tryShutdown(CfgShutdownFlag.REQUEST);
    await tracker.finalize();
    await p4;
    assert.equal(d.shutdowns(), 4);
    await assert.rejects(req.replyToShutdown(true), (e) => CsError.is(e, CsErrorCode.CS_ERR_ACCESS));
    await req.finalize();
  } finally {
    await d.close();
  }
});
