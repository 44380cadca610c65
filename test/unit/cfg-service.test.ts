// The cfg service (spec cfg.md): exec and IPC structs against hand-written bytes from the
// spec tables, and the engine on the exec harness — shutdown negotiation (trackers, votes,
// veto, timeout, disconnects) across nodes, kill node, link/node information, flow control.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CmapValueType } from '../../src/cmap/types.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { TotemGuarantee } from '../../src/exec/codec.js';
import {
  CFG_RINGSTATUSGET_SIZE,
  type CfgExecMessage,
  type CfgRequest,
  type CfgResponse,
  CfgResId,
  CfgShutdownFlags,
  decodeCfgExec,
  decodeCfgRequest,
  decodeCfgResponse,
  encodeCfgExec,
  encodeCfgRequest,
  encodeCfgResponse,
} from '../../src/services/cfg/codec.js';
import { cfgFlowControlRequired } from '../../src/services/cfg/service.js';
import {
  ExecCluster,
  type FakeConn,
  ManualTimers,
  type NodeCtl,
  cfgCluster,
} from '../helpers/exec-harness.js';
import type { ServiceEngine } from '../../src/exec/service-engine.js';

const E = CsErrorCode;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('cfg codec: spec byte tables', () => {
  it('exec KILLNODE (288): nodeid @16, mar_name_t reason length @24, value @32', () => {
    const msg: CfgExecMessage = { kind: 'killnode', nodeid: 2, reasonLength: 4, reason: 'bye' };
    const b = encodeCfgExec(msg);
    assert.equal(b.length, 288);
    assert.deepEqual(
      b.subarray(0, 40),
      hex('01000100 00000000 20010000 00000000 02000000 00000000 0400 000000000000 62796500 00000000'),
    );
    assert.ok(b.subarray(40).every((x) => x === 0));
    assert.deepEqual(decodeCfgExec(1, b), { ok: true, value: msg });
  });

  it('exec SHUTDOWN, RELOAD_CONFIG, CRYPTO_RECONFIG, RINGREENABLE', () => {
    assert.deepEqual(encodeCfgExec({ kind: 'shutdown' }), hex('02000100 00000000 10000000 00000000'));
    const reload: CfgExecMessage = { kind: 'reload_config', source: { nodeid: 3, conn: 0x1122n } };
    assert.deepEqual(
      encodeCfgExec(reload),
      hex('03000100 00000000 20000000 00000000 03000000 00000000 2211000000000000'),
    );
    assert.deepEqual(decodeCfgExec(3, encodeCfgExec(reload)), { ok: true, value: reload });
    assert.deepEqual(
      encodeCfgExec({ kind: 'crypto_reconfig', phase: 2 }),
      hex('04000100 00000000 18000000 00000000 02000000 00000000'),
    );
    const rr = encodeCfgExec({ kind: 'ringreenable', source: { nodeid: 1, conn: 0n } });
    assert.equal(rr.length, 32);
    assert.equal(decodeCfgExec(0, rr).ok, true);
  });

  it('exec decoders refuse wrong sizes, ids and byte order', () => {
    const b = encodeCfgExec({ kind: 'shutdown' });
    assert.equal(decodeCfgExec(1, b).ok, false);
    assert.equal(decodeCfgExec(2, b, true).ok, false);
    assert.equal(decodeCfgExec(9, b).ok, false);
    const long = Buffer.concat([b, Buffer.alloc(8)]);
    long.writeInt32LE(24, 8);
    assert.equal(decodeCfgExec(2, long).ok, false);
  });

  it('IPC requests', () => {
    assert.deepEqual(
      encodeCfgRequest({ kind: 'tryshutdown', flags: CfgShutdownFlags.REGARDLESS }),
      hex('03000000 00000000 18000000 00000000 01000000 00000000'),
    );
    assert.deepEqual(
      encodeCfgRequest({ kind: 'nodestatusget', nodeid: 5, version: 1 }),
      hex('09000000 00000000 20000000 00000000 05000000 00000000 01000000 00000000'),
    );
    assert.deepEqual(
      encodeCfgRequest({ kind: 'trackstart', flags: 0 }),
      hex('0a000000 00000000 18000000 00000000 00000000 00000000'),
    );
    const kill = encodeCfgRequest({ kind: 'killnode', nodeid: 7, reasonLength: 3, reason: 'ab' });
    assert.equal(kill.length, 288);
    assert.deepEqual(kill.subarray(16, 32), hex('07000000 00000000 0300 616200000000'));
    const all: CfgRequest[] = [
      { kind: 'ringstatusget' },
      { kind: 'ringreenable' },
      { kind: 'killnode', nodeid: 7, reasonLength: 3, reason: 'ab' },
      { kind: 'tryshutdown', flags: 2 },
      { kind: 'replytoshutdown', response: 1 },
      { kind: 'get_node_addrs', nodeid: 0 },
      { kind: 'local_get' },
      { kind: 'reload_config' },
      { kind: 'reopen_log_files' },
      { kind: 'nodestatusget', nodeid: 3, version: 1 },
      { kind: 'trackstart', flags: 1 },
      { kind: 'trackstop' },
    ];
    for (const r of all) assert.deepEqual(decodeCfgRequest(encodeCfgRequest(r)), { ok: true, value: r });
    assert.equal(decodeCfgRequest(hex('03000000 00000000 10000000 00000000')).ok, false);
  });

  it('TESTSHUTDOWN, LOCAL_GET, bare replies', () => {
    assert.deepEqual(
      encodeCfgResponse({ kind: 'testshutdown', error: E.CS_ERR_TIMEOUT, flags: 1 }),
      hex('0a000000 00000000 20000000 00000000 05000000 00000000 01000000 00000000'),
    );
    assert.deepEqual(
      encodeCfgResponse({ kind: 'local_get', error: E.CS_OK, nodeid: 0x0a0b0c0d }),
      hex('0c000000 00000000 20000000 00000000 01000000 00000000 0d0c0b0a 00000000'),
    );
    assert.deepEqual(
      encodeCfgResponse({ kind: 'reload_config', error: E.CS_ERR_INVALID_PARAM }),
      hex('0e000000 00000000 18000000 00000000 07000000 00000000'),
    );
    assert.deepEqual(
      encodeCfgResponse({ kind: 'trackstart', error: E.CS_OK }),
      hex('02000000 00000000 18000000 00000000 01000000 00000000'),
    );
  });

  it('RINGSTATUSGET (10272): count @24, names @32 (128 each), statuses @2080 (512 each)', () => {
    const res: CfgResponse = {
      kind: 'ringstatusget',
      error: E.CS_OK,
      interfaceCount: 1,
      interfaces: [{ name: '0 10.0.0.1', status: 'OK' }],
    };
    const b = encodeCfgResponse(res);
    assert.equal(b.length, CFG_RINGSTATUSGET_SIZE);
    assert.deepEqual(
      b.subarray(0, 32),
      hex('00000000 00000000 20280000 00000000 01000000 00000000 01000000 00000000'),
    );
    assert.deepEqual(b.subarray(32, 43), Buffer.from('0 10.0.0.1\0'));
    assert.deepEqual(b.subarray(2080, 2083), Buffer.from('OK\0'));
    assert.equal(
      b.subarray(43, 2080).every((x) => x === 0),
      true,
    );
    assert.deepEqual(decodeCfgResponse(b), { ok: true, value: res });
  });

  it('GET_NODE_ADDRS: family @24, num_addrs @28, 16-byte addresses @32', () => {
    const b = encodeCfgResponse({
      kind: 'get_node_addrs',
      error: E.CS_OK,
      family: 2,
      addrs: [hex('7f000002 00000000 00000000 00000000')],
    });
    assert.deepEqual(
      b,
      hex(
        '0b000000 00000000 30000000 00000000 01000000 00000000 02000000 01000000 7f000002 000000000000000000000000',
      ),
    );
    const notExist = encodeCfgResponse({
      kind: 'get_node_addrs',
      error: E.CS_ERR_NOT_EXIST,
      family: 0,
      addrs: [],
    });
    assert.deepEqual(
      notExist,
      hex('0b000000 00000000 20000000 00000000 0c000000 00000000 00000000 00000000'),
    );
  });

  it('NODESTATUSGET: V1 4200 bytes, link_status[8] of 520 @40; error form 32 bytes', () => {
    const b = encodeCfgResponse({
      kind: 'nodestatusget',
      error: E.CS_OK,
      status: {
        nodeid: 2,
        reachable: 1,
        remote: 0,
        external: 0,
        onwireMin: 0,
        onwireMax: 0,
        onwireVer: 0,
        links: [
          { enabled: 1, connected: 1, dynconnected: 0, mtu: 1500, srcIpaddr: '127.0.0.2', dstIpaddr: '' },
        ],
      },
    });
    assert.equal(b.length, 4200);
    assert.deepEqual(
      b.subarray(0, 56),
      hex(
        '10000000 00000000 68100000 00000000 01000000 00000000 01000000 02000000 01000000 00000000' +
          '01010000 dc050000 3132372e 302e302e 3200',
      ).subarray(0, 56),
    );
    assert.deepEqual(b.subarray(48, 58), Buffer.from('127.0.0.2\0'));
    const v = encodeCfgResponse({ kind: 'nodestatusget_version', error: E.CS_ERR_NOT_SUPPORTED, version: 0 });
    assert.deepEqual(v, hex('10000000 00000000 20000000 00000000 13000000 00000000 00000000 00000000'));
    const d = decodeCfgResponse(b);
    assert.ok(d.ok && d.value.kind === 'nodestatusget' && d.value.status.links[0]!.srcIpaddr === '127.0.0.2');
  });
});

// ---- engine ----

/** Send a request; returns (and consumes) the replies it produced. */
function call(conn: FakeConn, req: CfgRequest): CfgResponse[] {
  const out = conn.request(encodeCfgRequest(req));
  if (out.length > 0) conn.responses.splice(-out.length);
  return out.map((f) => {
    const r = decodeCfgResponse(f);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  });
}

function one(conn: FakeConn, req: CfgRequest): CfgResponse {
  const out = call(conn, req);
  assert.equal(out.length, 1, `one reply to ${req.kind}`);
  return out[0]!;
}

function events(conn: FakeConn): CfgResponse[] {
  return conn.takeEvents().map((f) => {
    const r = decodeCfgResponse(f);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  });
}

function replies(conn: FakeConn): CfgResponse[] {
  return conn.takeResponses().map((f) => {
    const r = decodeCfgResponse(f);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  });
}

function up(): { c: ExecCluster; ctl: Map<number, NodeCtl> } {
  const r = cfgCluster([1, 2, 3]);
  r.c.form([[1, 2, 3]]);
  return r;
}

describe('cfg shutdown negotiation', () => {
  it('no trackers: OK at once, SHUTDOWN is SAFE and shuts only its sender down', () => {
    const { c, ctl } = up();
    const req = c.node(2).connect(ctl.get(2)!.svc.ipc);
    assert.deepEqual(call(req, { kind: 'tryshutdown', flags: CfgShutdownFlags.REQUEST }), [
      { kind: 'tryshutdown', error: E.CS_OK },
    ]);
    const sent = c.node(2).sent.at(-1)!;
    assert.equal(sent.guarantee, TotemGuarantee.SAFE);
    assert.deepEqual(sent.bytes, hex('02000100 00000000 10000000 00000000'));
    c.flush();
    for (const id of [1, 2, 3]) {
      assert.ok(c.node(id).logs.includes('notice: Node 2 was shut down by sysadmin'));
      assert.deepEqual(ctl.get(id)!.shutdowns.length, id === 2 ? 1 : 0);
    }
    assert.equal(c.node(2).icmap.getValue('runtime.services.cfg.2.rx')?.value, 1n);
  });

  it('all trackers say yes: OK to the requester after the last vote, then SHUTDOWN', () => {
    const { c, ctl } = up();
    const { svc, timers } = ctl.get(1)!;
    const n = c.node(1);
    const t1 = n.connect(svc.ipc);
    const t2 = n.connect(svc.ipc);
    const req = n.connect(svc.ipc);
    assert.deepEqual(call(t1, { kind: 'trackstart', flags: 0 }), [{ kind: 'trackstart', error: E.CS_OK }]);
    assert.deepEqual(call(t2, { kind: 'trackstart', flags: 0 }), [{ kind: 'trackstart', error: E.CS_OK }]);
    assert.deepEqual(call(req, { kind: 'tryshutdown', flags: CfgShutdownFlags.REQUEST }), []);
    assert.equal(svc.shutdownPending, true);
    assert.deepEqual(
      [...timers.armed.values()].map((t) => t.ms),
      [5000],
    );
    assert.deepEqual(events(t1), [{ kind: 'testshutdown', error: E.CS_OK, flags: 0 }]);
    assert.deepEqual(events(t2), [{ kind: 'testshutdown', error: E.CS_OK, flags: 0 }]);
    assert.deepEqual(events(req), []);
    // a second request meanwhile
    const other = n.connect(svc.ipc);
    assert.deepEqual(call(other, { kind: 'tryshutdown', flags: 0 }), [
      { kind: 'tryshutdown', error: E.CS_ERR_EXIST },
    ]);
    assert.deepEqual(call(t1, { kind: 'replytoshutdown', response: 1 }), [
      { kind: 'replytoshutdown', error: E.CS_OK },
    ]);
    assert.deepEqual(replies(req), []);
    assert.deepEqual(call(t2, { kind: 'replytoshutdown', response: 1 }), [
      { kind: 'replytoshutdown', error: E.CS_OK },
    ]);
    assert.deepEqual(replies(req), [{ kind: 'tryshutdown', error: E.CS_OK }]);
    assert.equal(timers.armed.size, 0);
    assert.equal(svc.shutdownPending, false);
    c.flush();
    assert.deepEqual(ctl.get(1)!.shutdowns.length, 1);
  });

  it('one NO vetoes: CS_ERR_BUSY and no SHUTDOWN; REGARDLESS overrides the veto', () => {
    const { c, ctl } = up();
    const { svc } = ctl.get(3)!;
    const n = c.node(3);
    const t1 = n.connect(svc.ipc);
    const t2 = n.connect(svc.ipc);
    const req = n.connect(svc.ipc);
    call(t1, { kind: 'trackstart', flags: 0 });
    call(t2, { kind: 'trackstart', flags: 0 });
    call(req, { kind: 'tryshutdown', flags: CfgShutdownFlags.REQUEST });
    call(t1, { kind: 'replytoshutdown', response: 0 });
    assert.deepEqual(replies(req), []);
    call(t2, { kind: 'replytoshutdown', response: 1 });
    assert.deepEqual(replies(req), [{ kind: 'tryshutdown', error: E.CS_ERR_BUSY }]);
    c.flush();
    assert.deepEqual(ctl.get(3)!.shutdowns, []);
    assert.ok(n.logs.includes('debug: shutdown decision is: (yes count: 1, no count: 1) flags=0'));

    call(req, { kind: 'tryshutdown', flags: CfgShutdownFlags.REGARDLESS });
    assert.deepEqual(
      events(t1).map((e) => e.kind === 'testshutdown' && e.flags),
      [0, 1],
    );
    call(t1, { kind: 'replytoshutdown', response: 0 });
    call(t2, { kind: 'replytoshutdown', response: 0 });
    assert.deepEqual(replies(req), [{ kind: 'tryshutdown', error: E.CS_OK }]);
    c.flush();
    assert.equal(ctl.get(3)!.shutdowns.length, 1);
  });

  it('timeout: undecided count as NO, BUSY, then TESTSHUTDOWN(TIMEOUT) to every tracker', () => {
    const { c, ctl } = up();
    const { svc, timers } = ctl.get(1)!;
    const n = c.node(1);
    n.icmap.setValue('cfg.shutdown_timeout', { type: CmapValueType.UINT32, value: 1234 });
    const t1 = n.connect(svc.ipc);
    const t2 = n.connect(svc.ipc);
    const req = n.connect(svc.ipc);
    call(t1, { kind: 'trackstart', flags: 0 });
    call(t2, { kind: 'trackstart', flags: 0 });
    call(req, { kind: 'trackstart', flags: 0 });
    call(req, { kind: 'tryshutdown', flags: 0 });
    assert.deepEqual(
      [...timers.armed.values()].map((t) => t.ms),
      [1234],
    );
    // the requester is a tracker but is not asked
    assert.deepEqual(events(req), []);
    call(t1, { kind: 'replytoshutdown', response: 1 });
    timers.fireAll();
    assert.deepEqual(replies(req), [{ kind: 'tryshutdown', error: E.CS_ERR_BUSY }]);
    for (const t of [t1, t2]) {
      assert.deepEqual(events(t), [
        { kind: 'testshutdown', error: E.CS_OK, flags: 0 },
        { kind: 'testshutdown', error: E.CS_ERR_TIMEOUT, flags: 0 },
      ]);
    }
    assert.deepEqual(events(req), [{ kind: 'testshutdown', error: E.CS_ERR_TIMEOUT, flags: 0 }]);
    c.flush();
    assert.deepEqual(ctl.get(1)!.shutdowns, []);
    // the session is over: votes are refused
    assert.deepEqual(call(t2, { kind: 'replytoshutdown', response: 1 }), [
      { kind: 'replytoshutdown', error: E.CS_ERR_ACCESS },
    ]);
  });

  it('a tracker that leaves counts as YES; a requester that leaves cancels silently', () => {
    const { c, ctl } = up();
    const { svc, timers } = ctl.get(2)!;
    const n = c.node(2);
    const t1 = n.connect(svc.ipc);
    const t2 = n.connect(svc.ipc);
    const req = n.connect(svc.ipc);
    call(t1, { kind: 'trackstart', flags: 0 });
    call(t2, { kind: 'trackstart', flags: 0 });
    call(req, { kind: 'tryshutdown', flags: 0 });
    call(t1, { kind: 'replytoshutdown', response: 1 });
    t2.close();
    assert.deepEqual(replies(req), [{ kind: 'tryshutdown', error: E.CS_OK }]);
    c.flush();
    assert.equal(ctl.get(2)!.shutdowns.length, 1);

    // TRACKSTOP withdraws a NO and turns it into YES
    const t3 = n.connect(svc.ipc);
    call(t3, { kind: 'trackstart', flags: 0 });
    const req2 = n.connect(svc.ipc);
    call(req2, { kind: 'tryshutdown', flags: 0 });
    call(t3, { kind: 'replytoshutdown', response: 0 });
    // t1 still has to answer: no decision yet
    assert.deepEqual(replies(req2), []);
    assert.deepEqual(call(t3, { kind: 'trackstop' }), [{ kind: 'trackstop', error: E.CS_OK }]);
    assert.deepEqual(replies(req2), []);
    call(t1, { kind: 'replytoshutdown', response: 1 });
    assert.deepEqual(replies(req2), [{ kind: 'tryshutdown', error: E.CS_OK }]);

    // the requester goes away: nobody is answered, the timer is gone, a new session can start
    const req3 = n.connect(svc.ipc);
    call(req3, { kind: 'tryshutdown', flags: 0 });
    assert.equal(timers.armed.size, 1);
    req3.close();
    assert.equal(timers.armed.size, 0);
    assert.equal(svc.shutdownPending, false);
    const req4 = n.connect(svc.ipc);
    assert.deepEqual(call(req4, { kind: 'tryshutdown', flags: 0 }), []);
    assert.equal(svc.shutdownPending, true);
  });

  it('a tracker that starts during a session is asked too; a vote counts once per connection', () => {
    const { c, ctl } = up();
    const { svc } = ctl.get(1)!;
    const n = c.node(1);
    const t1 = n.connect(svc.ipc);
    const req = n.connect(svc.ipc);
    call(t1, { kind: 'trackstart', flags: 0 });
    call(req, { kind: 'tryshutdown', flags: 0 });
    const late = n.connect(svc.ipc);
    call(late, { kind: 'trackstart', flags: 0 });
    assert.deepEqual(events(late), [{ kind: 'testshutdown', error: E.CS_OK, flags: 0 }]);
    call(t1, { kind: 'replytoshutdown', response: 1 });
    call(t1, { kind: 'replytoshutdown', response: 1 });
    assert.deepEqual(replies(req), []);
    call(late, { kind: 'replytoshutdown', response: 1 });
    assert.deepEqual(replies(req), [{ kind: 'tryshutdown', error: E.CS_OK }]);
  });

  it('IMMEDIATE asks nobody', () => {
    const { c, ctl } = up();
    const { svc } = ctl.get(1)!;
    const t1 = c.node(1).connect(svc.ipc);
    call(t1, { kind: 'trackstart', flags: 0 });
    const req = c.node(1).connect(svc.ipc);
    assert.deepEqual(call(req, { kind: 'tryshutdown', flags: CfgShutdownFlags.IMMEDIATE }), [
      { kind: 'tryshutdown', error: E.CS_OK },
    ]);
    assert.deepEqual(events(t1), []);
    c.flush();
    assert.equal(ctl.get(1)!.shutdowns.length, 1);
  });

  it('flow-control-required requests get a bare TRY_AGAIN while a sync runs; a full queue too', () => {
    const { c, ctl } = cfgCluster([1, 2]);
    const { svc } = ctl.get(1)!;
    const conn = c.node(1).connect(svc.ipc);
    // before the first sync completed
    const out = conn.request(encodeCfgRequest({ kind: 'tryshutdown', flags: 0 }));
    assert.deepEqual(out, [hex('00000000 00000000 18000000 00000000 06000000 00000000')]);
    assert.deepEqual(one(conn, { kind: 'local_get' }), { kind: 'local_get', error: E.CS_OK, nodeid: 1 });
    assert.equal(cfgFlowControlRequired(7), true);
    assert.equal(cfgFlowControlRequired(9), false);
    c.form([[1, 2]]);
    c.node(1).queueFull = true;
    assert.deepEqual(one(conn, { kind: 'tryshutdown', flags: CfgShutdownFlags.IMMEDIATE }), {
      kind: 'tryshutdown',
      error: E.CS_ERR_TRY_AGAIN,
    });
    assert.deepEqual(one(conn, { kind: 'reload_config' }), {
      kind: 'reload_config',
      error: E.CS_ERR_TRY_AGAIN,
    });
    assert.equal(svc.stats.sendFailures, 2);
  });
});

describe('cfg kill node', () => {
  it('kills a joined node; refuses unknown and departed nodes', () => {
    const { c, ctl } = up();
    const conn = c.node(1).connect(ctl.get(1)!.svc.ipc);
    assert.deepEqual(one(conn, { kind: 'killnode', nodeid: 3, reasonLength: 8, reason: 'testing' }), {
      kind: 'killnode',
      error: E.CS_OK,
    });
    assert.equal(c.node(1).sent.at(-1)!.guarantee, TotemGuarantee.SAFE);
    c.flush();
    assert.deepEqual(ctl.get(3)!.kills, [{ reason: 'testing', from: 1 }]);
    assert.deepEqual(ctl.get(1)!.kills, []);
    assert.deepEqual(ctl.get(2)!.kills, []);
    assert.ok(c.node(3).logs.includes('notice: Killed by node 1 : testing'));
    assert.ok(c.node(2).logs.includes('debug: request to kill node 3 (us=2)'));
    assert.deepEqual(one(conn, { kind: 'killnode', nodeid: 9, reasonLength: 1, reason: '' }), {
      kind: 'killnode',
      error: E.CS_ERR_NOT_EXIST,
    });
    c.form([[1, 2], [3]]);
    assert.deepEqual(one(conn, { kind: 'killnode', nodeid: 3, reasonLength: 1, reason: '' }), {
      kind: 'killnode',
      error: E.CS_ERR_NOT_EXIST,
    });
    // the local node may be the target
    assert.equal(one(conn, { kind: 'killnode', nodeid: 1, reasonLength: 5, reason: 'self' }).error, E.CS_OK);
    c.flush();
    assert.deepEqual(ctl.get(1)!.kills, [{ reason: 'self', from: 1 }]);
  });
});

describe('cfg link and node information (udpu)', () => {
  it('RINGSTATUSGET: "<link> <ip>" and "OK"; LOCAL_GET; RINGREENABLE not supported', () => {
    const { c, ctl } = up();
    const conn = c.node(2).connect(ctl.get(2)!.svc.ipc);
    assert.deepEqual(one(conn, { kind: 'ringstatusget' }), {
      kind: 'ringstatusget',
      error: E.CS_OK,
      interfaceCount: 1,
      interfaces: [{ name: '0 127.0.0.2', status: 'OK' }],
    });
    assert.deepEqual(one(conn, { kind: 'local_get' }), { kind: 'local_get', error: E.CS_OK, nodeid: 2 });
    assert.deepEqual(one(conn, { kind: 'ringreenable' }), {
      kind: 'ringreenable',
      error: E.CS_ERR_NOT_SUPPORTED,
    });
  });

  it('GET_NODE_ADDRS: 0 = local, other nodes, unknown → NOT_EXIST', () => {
    const { c, ctl } = up();
    const conn = c.node(1).connect(ctl.get(1)!.svc.ipc);
    const addr = (b: string) => hex(b + '000000000000000000000000');
    assert.deepEqual(one(conn, { kind: 'get_node_addrs', nodeid: 0 }), {
      kind: 'get_node_addrs',
      error: E.CS_OK,
      family: 2,
      addrs: [addr('7f000001')],
      slots: 1,
    });
    assert.deepEqual(one(conn, { kind: 'get_node_addrs', nodeid: 3 }), {
      kind: 'get_node_addrs',
      error: E.CS_OK,
      family: 2,
      addrs: [addr('7f000003')],
      slots: 1,
    });
    assert.deepEqual(one(conn, { kind: 'get_node_addrs', nodeid: 42 }), {
      kind: 'get_node_addrs',
      error: E.CS_ERR_NOT_EXIST,
      family: 0,
      addrs: [],
      slots: 0,
    });
  });

  it('NODESTATUSGET: reachable members, known non-members, unknown nodes, other versions', () => {
    let bound = true;
    const { c, ctl } = cfgCluster([1, 2, 3], undefined, () => ({ linkBound: () => bound }));
    c.form([[1, 2], [3]]);
    const conn = c.node(1).connect(ctl.get(1)!.svc.ipc);
    const status = (nodeid: number) => {
      const r = one(conn, { kind: 'nodestatusget', nodeid, version: 1 });
      assert.ok(r.kind === 'nodestatusget');
      return r.status;
    };
    const s2 = status(2);
    assert.equal(s2.nodeid, 2);
    assert.equal(s2.reachable, 1);
    assert.deepEqual(s2.links[0], {
      enabled: 1,
      connected: 1,
      dynconnected: 0,
      mtu: 1500,
      srcIpaddr: '127.0.0.2',
      dstIpaddr: '',
    });
    assert.equal(s2.links[1]!.mtu, 0);
    const s3 = status(3);
    assert.equal(s3.reachable, 0);
    assert.deepEqual(
      [s3.links[0]!.enabled, s3.links[0]!.connected, s3.links[0]!.srcIpaddr],
      [1, 0, '127.0.0.3'],
    );
    bound = false;
    assert.equal(status(1).links[0]!.enabled, 0);
    const s9 = status(9);
    assert.deepEqual([s9.nodeid, s9.reachable, s9.links[0]!.mtu], [9, 0, 0]);
    assert.deepEqual(one(conn, { kind: 'nodestatusget', nodeid: 2, version: 2 }), {
      kind: 'nodestatusget_version',
      error: E.CS_ERR_NOT_SUPPORTED,
      version: 0,
    });
  });

  it('REOPEN_LOG_FILES answers the callback result', () => {
    let calls = 0;
    const { c, ctl } = cfgCluster([1], undefined, () => ({
      reopenLogFiles: () => {
        calls++;
        return E.CS_ERR_LIBRARY;
      },
    }));
    c.form([[1]]);
    const conn = c.node(1).connect(ctl.get(1)!.svc.ipc);
    assert.deepEqual(one(conn, { kind: 'reopen_log_files' }), {
      kind: 'reopen_log_files',
      error: E.CS_ERR_LIBRARY,
    });
    assert.equal(calls, 1);
  });
});

describe('cfg exec edge cases', () => {
  it('CRYPTO_RECONFIG: phase 1 from ourselves is followed by phase 2; others ignore it', () => {
    const { c, ctl } = up();
    const api = c.node(2).exec.execApi;
    api.mcast(1, 4, encodeCfgExec({ kind: 'crypto_reconfig', phase: 1 }), TotemGuarantee.SAFE);
    c.flush();
    const cryptos = c.delivered.filter((m) => m.bytes.readInt32LE(0) === 0x00010004);
    assert.deepEqual(
      cryptos.map((m) => `${m.from}:${m.bytes.readUInt32LE(16)}`),
      ['2:1', '2:2'],
    );
    assert.ok(c.node(2).logs.includes('debug: Crypto reconfiguration phase 1'));
    assert.ok(c.node(2).logs.includes('debug: Crypto reconfiguration phase 2'));
    assert.equal(c.node(1).logsWith('Crypto reconfiguration').length, 0);
    assert.equal(ctl.get(1)!.svc.stats.malformedExec, 0);
  });

  it('malformed exec messages are counted and dropped', () => {
    const { c, ctl } = up();
    const short = hex('01000100 00000000 10000000 00000000');
    c.node(1).exec.deliver('a', 2, short);
    assert.equal(ctl.get(1)!.svc.stats.malformedExec, 1);
    assert.deepEqual(ctl.get(1)!.kills, []);
  });

  it('the requests table: unknown id → INVALID_PARAM, wrong size → closed', () => {
    const { c, ctl } = up();
    const conn = c.node(1).connect(ctl.get(1)!.svc.ipc);
    const out = conn.request(hex('0c000000 00000000 10000000 00000000'));
    assert.equal(out[0]!.readInt32LE(16), E.CS_ERR_INVALID_PARAM);
    conn.request(hex('05000000 00000000 10000000 00000000'));
    assert.equal(conn.closed, true);
    assert.equal(CfgResId.NODESTATUSGET, 16);
  });
});

// ---- the harness (test/helpers/exec-harness.ts) itself ----

class Echo implements ServiceEngine {
  readonly id = 9;
  readonly name = 'echo';
  readonly defaultName = 'corosync_echo';
  readonly priority = 1;
  readonly execFnCount = 1;
  readonly got: string[] = [];
  readonly activations: string[] = [];
  api!: Parameters<NonNullable<ServiceEngine['init']>>[0];
  readonly sync = {
    init: () => undefined,
    process: () => true,
    activate: () => void this.activations.push(this.api.members().join(',')),
    abort: () => undefined,
  };
  init(api: Parameters<NonNullable<ServiceEngine['init']>>[0]): void {
    this.api = api;
  }
  deliver(_fn: number, message: Buffer, from: number): void {
    this.got.push(`${from}:${message.subarray(16).toString()}`);
  }
}

describe('exec harness', () => {
  it('forms rings through the real sync protocol and delivers in one order', () => {
    const echoes = new Map<number, Echo>();
    const c = new ExecCluster([1, 2, 3], (n) => {
      const e = new Echo();
      echoes.set(n.id, e);
      return [e];
    });
    c.form([[1, 2, 3]]);
    for (const n of c.nodes.values()) assert.equal(n.exec.syncInProgress, false);
    for (const e of echoes.values()) assert.deepEqual(e.activations, ['1,2,3']);
    const msg = (text: string) => {
      const b = Buffer.alloc(16 + text.length);
      b.writeInt32LE((9 << 16) | 0, 0);
      b.writeInt32LE(b.length, 8);
      b.write(text, 16);
      return b;
    };
    echoes.get(2)!.api.mcast(9, 0, msg('x'));
    echoes.get(1)!.api.mcast(9, 0, msg('y'));
    c.flush();
    for (const e of echoes.values()) assert.deepEqual(e.got, ['2:x', '1:y']);
    c.form([[1], [2, 3]]);
    assert.deepEqual(echoes.get(1)!.activations, ['1,2,3', '1']);
    assert.deepEqual(echoes.get(3)!.activations, ['1,2,3', '2,3']);
    assert.equal(c.node(1).icmap.getValue('runtime.members.2.status')?.value, 'left');
    assert.equal(c.node(2).icmap.getValue('runtime.members.3.status')?.value, 'joined');
  });

  it('manual timers fire only when told', () => {
    const t = new ManualTimers();
    const fired: number[] = [];
    const a = t.set(10, () => fired.push(1));
    t.set(20, () => fired.push(2));
    t.clear(a);
    t.fireAll();
    assert.deepEqual(fired, [2]);
    assert.equal(t.armed.size, 0);
  });
});
