// The quorum service (spec votequorum.md §10): IPC structs against hand-written bytes from
// the spec tables, and the engine on the exec harness — no provider (always quorate),
// a provider reporting at its sync activation, V0/V1 notifications, tracking rules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CsErrorCode } from '../../src/common/errors.js';
import type { ExecApi, ServiceEngine } from '../../src/exec/service-engine.js';
import {
  type QuorumRequest,
  type QuorumResponse,
  QuorumModel,
  QuorumTrackFlags,
  decodeQuorumRequest,
  decodeQuorumResponse,
  encodeQuorumRequest,
  encodeQuorumResponse,
} from '../../src/services/quorum/codec.js';
import { type QuorumProvider, QuorumService, formatViewList } from '../../src/services/quorum/service.js';
import type { RingId } from '../../src/totem/wire/seq.js';
import { ExecCluster, type ExecNode, type FakeConn } from '../helpers/exec-harness.js';

const E = CsErrorCode;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('quorum codec: spec byte tables', () => {
  it('requests', () => {
    assert.deepEqual(
      encodeQuorumRequest({ kind: 'trackstart', flags: 6 }),
      hex('01000000 00000000 18000000 00000000 06000000 00000000'),
    );
    assert.deepEqual(encodeQuorumRequest({ kind: 'getquorate' }), hex('00000000 00000000 10000000 00000000'));
    assert.deepEqual(
      encodeQuorumRequest({ kind: 'model_gettype', model: 1 }),
      hex('04000000 00000000 18000000 00000000 01000000 00000000'),
    );
    const all: QuorumRequest[] = [
      { kind: 'getquorate' },
      { kind: 'trackstart', flags: 7 },
      { kind: 'trackstop' },
      { kind: 'gettype' },
      { kind: 'model_gettype', model: 9 },
    ];
    for (const r of all)
      assert.deepEqual(decodeQuorumRequest(encodeQuorumRequest(r)), { ok: true, value: r });
  });

  it('refuses wrong sizes and ids', () => {
    const short = hex('01000000 00000000 10000000 00000000');
    assert.equal(decodeQuorumRequest(short).ok, false);
    const lying = encodeQuorumRequest({ kind: 'trackstart', flags: 1 });
    lying.writeInt32LE(32, 8);
    assert.equal(decodeQuorumRequest(lying).ok, false);
    assert.equal(decodeQuorumRequest(hex('05000000 00000000 10000000 00000000')).ok, false);
    assert.equal(decodeQuorumRequest(Buffer.alloc(8)).ok, false);
  });

  it('GETQUORATE and GETTYPE replies', () => {
    assert.deepEqual(
      encodeQuorumResponse({ kind: 'getquorate', error: E.CS_OK, quorate: 1 }),
      hex('00000000 00000000 20000000 00000000 01000000 00000000 01000000 00000000'),
    );
    assert.deepEqual(
      encodeQuorumResponse({ kind: 'model_gettype', error: E.CS_ERR_INVALID_PARAM, quorumType: 1 }),
      hex('05000000 00000000 20000000 00000000 07000000 00000000 01000000 00000000'),
    );
    assert.deepEqual(
      encodeQuorumResponse({ kind: 'trackstop', error: E.CS_OK }),
      hex('02000000 00000000 18000000 00000000 01000000 00000000'),
    );
  });

  it('V0 notification: 48 + 4n with the trailing pad', () => {
    const res: QuorumResponse = {
      kind: 'notification',
      error: E.CS_OK,
      quorate: 1,
      ringSeq: 0x10n,
      viewList: [1, 2],
    };
    const bytes = hex(
      '03000000 00000000 38000000 00000000 01000000 00000000' +
        '01000000 00000000 1000000000000000 02000000 01000000 02000000 00000000',
    );
    assert.deepEqual(encodeQuorumResponse(res), bytes);
    assert.deepEqual(decodeQuorumResponse(bytes), { ok: true, value: res });
  });

  it('V1 quorum notification: 56 + 4n', () => {
    const res: QuorumResponse = {
      kind: 'v1_quorum_notification',
      error: E.CS_OK,
      quorate: 0,
      ringId: { nodeid: 1, seq: 8n },
      viewList: [1, 2, 3],
    };
    const bytes = hex(
      '06000000 00000000 44000000 00000000 01000000 00000000' +
        '00000000 00000000 01000000 00000000 0800000000000000 03000000' +
        '01000000 02000000 03000000 00000000',
    );
    assert.deepEqual(encodeQuorumResponse(res), bytes);
    assert.deepEqual(decodeQuorumResponse(bytes), { ok: true, value: res });
  });

  it('V1 nodelist notification: 64 + 4(m+j+l), members then joined then left', () => {
    const res: QuorumResponse = {
      kind: 'v1_nodelist_notification',
      error: E.CS_OK,
      ringId: { nodeid: 2, seq: 0x1cn },
      members: [2, 3],
      joined: [3],
      left: [1],
    };
    const bytes = hex(
      '07000000 00000000 50000000 00000000 01000000 00000000' +
        '02000000 00000000 1c00000000000000 02000000 00000000 01000000 00000000 01000000' +
        '02000000 03000000 03000000 01000000 00000000',
    );
    assert.deepEqual(encodeQuorumResponse(res), bytes);
    assert.deepEqual(decodeQuorumResponse(bytes), { ok: true, value: res });
  });

  it('decoders refuse counts beyond the frame', () => {
    const b = encodeQuorumResponse({
      kind: 'notification',
      error: E.CS_OK,
      quorate: 1,
      ringSeq: 0n,
      viewList: [1],
    });
    b.writeUInt32LE(5, 40);
    assert.equal(decodeQuorumResponse(b).ok, false);
    assert.equal(decodeQuorumResponse(Buffer.alloc(10)).ok, false);
  });
});

// ---- engine ----

/** A provider in votequorum's place (service 5): reports at its sync activation. */
class FakeProvider implements ServiceEngine, QuorumProvider {
  readonly id = 5;
  readonly name = 'fake quorum provider';
  readonly defaultName = 'corosync_votequorum';
  readonly priority = 2;
  readonly execFnCount = 0;
  private cbs: Array<(q: boolean, m: readonly number[], r: RingId) => void> = [];
  private api!: ExecApi;
  private q = false;
  private m: number[] = [];
  constructor(private readonly expected: number) {}
  readonly sync = {
    init: () => undefined,
    process: () => true,
    activate: () => {
      this.m = [...this.api.members()];
      this.q = this.m.length * 2 > this.expected;
      for (const cb of this.cbs) cb(this.q, this.m, this.api.ringId());
    },
    abort: () => undefined,
  };
  init(api: ExecApi): void {
    this.api = api;
  }
  deliver(): void {}
  subscribe(cb: (q: boolean, m: readonly number[], r: RingId) => void): void {
    this.cbs.push(cb);
  }
  quorate(): boolean {
    return this.q;
  }
  members(): readonly number[] {
    return this.m;
  }
}

function cluster(withProvider: boolean): { c: ExecCluster; q: Map<number, QuorumService> } {
  const q = new Map<number, QuorumService>();
  const c = new ExecCluster([1, 2, 3], (n: ExecNode) => {
    const provider = withProvider ? new FakeProvider(3) : undefined;
    const svc = new QuorumService({ ...(provider ? { provider } : {}), log: n.log });
    q.set(n.id, svc);
    return provider ? [svc, provider] : [svc];
  });
  return { c, q };
}

function call(conn: FakeConn, req: QuorumRequest): QuorumResponse {
  const out = conn.request(encodeQuorumRequest(req));
  assert.equal(out.length, 1);
  const r = decodeQuorumResponse(out[0]!);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function events(conn: FakeConn): QuorumResponse[] {
  return conn.takeEvents().map((f) => {
    const r = decodeQuorumResponse(f);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  });
}

/** Short text of a notification. */
function line(e: QuorumResponse): string {
  switch (e.kind) {
    case 'notification':
      return `v0 quorate=${e.quorate} seq=${e.ringSeq} view=${e.viewList.join(',')}`;
    case 'v1_quorum_notification':
      return `quorum quorate=${e.quorate} ring=${e.ringId.nodeid}.${e.ringId.seq} view=${e.viewList.join(',')}`;
    case 'v1_nodelist_notification':
      return (
        `nodelist ring=${e.ringId.nodeid}.${e.ringId.seq} members=${e.members.join(',')} ` +
        `joined=${e.joined.join(',')} left=${e.left.join(',')}`
      );
    default:
      return `${e.kind} ${e.error}`;
  }
}

const lines = (conn: FakeConn): string[] => events(conn).map(line);

describe('quorum service without a provider', () => {
  it('is always quorate, type 0, notifications only from TRACKSTART and V1 nodelists', () => {
    const { c, q } = cluster(false);
    const svc = q.get(1)!;
    assert.equal(svc.quorate(), true);
    c.form([[1, 2, 3]]);
    const v0 = c.node(1).connect(svc.ipc);
    const v1 = c.node(1).connect(svc.ipc);
    assert.deepEqual(call(v0, { kind: 'getquorate' }), { kind: 'getquorate', error: E.CS_OK, quorate: 1 });
    assert.deepEqual(call(v0, { kind: 'gettype' }), { kind: 'gettype', error: E.CS_OK, quorumType: 0 });
    assert.deepEqual(call(v1, { kind: 'model_gettype', model: QuorumModel.V1 }), {
      kind: 'model_gettype',
      error: E.CS_OK,
      quorumType: 0,
    });
    assert.equal(call(v0, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES }).error, E.CS_OK);
    // nothing ever called set_quorum: quorate 1, ring 0, empty view (3.1.7)
    assert.deepEqual(lines(v0), ['v0 quorate=1 seq=0 view=']);
    assert.equal(call(v1, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES }).error, E.CS_OK);
    assert.deepEqual(lines(v1), [
      'nodelist ring=1.4 members=1,2,3 joined= left=',
      'quorum quorate=1 ring=0.0 view=',
    ]);
    c.form([[1, 2], [3]]);
    assert.deepEqual(lines(v0), []);
    assert.deepEqual(lines(v1), ['nodelist ring=1.8 members=1,2 joined= left=3']);
    assert.equal(svc.quorate(), true);
  });
});

describe('quorum service with a provider', () => {
  it('V1 trackers see NODELIST then QUORUM for every membership change; V0 see QUORUM', () => {
    const { c, q } = cluster(true);
    const svc = q.get(1)!;
    assert.equal(svc.quorate(), false);
    assert.equal(svc.quorumType, 1);
    const v1 = c.node(1).connect(svc.ipc);
    const v0 = c.node(1).connect(svc.ipc);
    call(v1, { kind: 'model_gettype', model: 1 });
    assert.equal(call(v1, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES_ONLY }).error, E.CS_OK);
    assert.equal(call(v0, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES_ONLY }).error, E.CS_OK);
    assert.deepEqual(events(v1), []);
    const internal: boolean[] = [];
    const unregister = svc.registerCallback((quorate) => internal.push(quorate));

    c.form([[1, 2, 3]]);
    assert.deepEqual(lines(v1), [
      'nodelist ring=1.4 members=1,2,3 joined=1,2,3 left=',
      'quorum quorate=1 ring=1.4 view=1,2,3',
    ]);
    assert.deepEqual(lines(v0), ['v0 quorate=1 seq=4 view=1,2,3']);
    assert.deepEqual(internal, [true]);
    const logs = c.node(1).logs;
    assert.ok(logs.includes('notice: This node is within the primary component and will provide service.'));
    assert.ok(logs.includes('notice: Members[3]: 1 2 3'));
    assert.ok(logs.includes('notice: Sync members[3]: 1 2 3'));
    assert.ok(logs.includes('notice: Sync joined[3]: 1 2 3'));

    c.form([[1], [2, 3]]);
    assert.deepEqual(lines(v1), [
      'nodelist ring=1.8 members=1 joined= left=2,3',
      'quorum quorate=0 ring=1.8 view=1',
    ]);
    assert.deepEqual(lines(v0), ['v0 quorate=0 seq=8 view=1']);
    assert.deepEqual(internal, [true, false]);
    assert.equal(svc.quorate(), false);
    assert.ok(logs.includes('notice: Sync left[2]: 2 3'));
    assert.ok(
      logs.includes(
        'notice: This node is within the non-primary component and will NOT provide any services.',
      ),
    );
    assert.equal(call(v0, { kind: 'getquorate' }).kind === 'getquorate' && svc.quorate(), false);
    // node 2's side is quorate
    assert.equal(q.get(2)!.quorate(), true);

    c.form([[1, 2, 3]]);
    assert.deepEqual(lines(v1), [
      'nodelist ring=1.16 members=1,2,3 joined=2,3 left=',
      'quorum quorate=1 ring=1.16 view=1,2,3',
    ]);
    unregister();
    c.form([[1, 2], [3]]);
    assert.deepEqual(internal, [true, false, true]);
  });

  it('TRACKSTART rules: initial status, EXIST when tracking, TRACKSTOP always OK, close stops', () => {
    const { c, q } = cluster(true);
    c.form([[1, 2, 3]]);
    const svc = q.get(2)!;
    const a = c.node(2).connect(svc.ipc);
    // CURRENT only: initial status but no tracking
    assert.equal(call(a, { kind: 'trackstart', flags: QuorumTrackFlags.CURRENT }).error, E.CS_OK);
    assert.deepEqual(lines(a), ['v0 quorate=1 seq=4 view=1,2,3']);
    assert.equal(svc.stateOf(a)!.tracking, false);
    assert.equal(call(a, { kind: 'trackstop' }).error, E.CS_OK); // not tracking: still OK (3.1.7)
    assert.equal(call(a, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES }).error, E.CS_OK);
    assert.deepEqual(lines(a), ['v0 quorate=1 seq=4 view=1,2,3']);
    // again: the initial status is sent, then EXIST
    assert.equal(call(a, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES }).error, E.CS_ERR_EXIST);
    assert.deepEqual(lines(a), ['v0 quorate=1 seq=4 view=1,2,3']);
    assert.equal(call(a, { kind: 'trackstop' }).error, E.CS_OK);
    c.form([[1, 2], [3]]);
    assert.deepEqual(lines(a), []);
    // a closed tracker gets nothing and is forgotten
    const b = c.node(2).connect(svc.ipc);
    call(b, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES_ONLY });
    b.close();
    c.form([[1, 2, 3]]);
    assert.deepEqual(b.events, []);
  });

  it('MODEL_GETTYPE refuses unknown models and keeps the model', () => {
    const { c, q } = cluster(true);
    c.form([[1, 2, 3]]);
    const svc = q.get(1)!;
    const a = c.node(1).connect(svc.ipc);
    assert.deepEqual(call(a, { kind: 'model_gettype', model: 2 }), {
      kind: 'model_gettype',
      error: E.CS_ERR_INVALID_PARAM,
      quorumType: 1,
    });
    assert.equal(svc.stateOf(a)!.model, QuorumModel.V0);
    assert.ok(c.node(1).logs.includes('error: quorum_model_type request for unsupported model 2'));
    call(a, { kind: 'model_gettype', model: 1 });
    call(a, { kind: 'model_gettype', model: 0 });
    assert.equal(svc.stateOf(a)!.model, QuorumModel.V0);
  });

  it('malformed requests close the connection; unknown ids answer INVALID_PARAM', () => {
    const { c, q } = cluster(false);
    c.form([[1, 2, 3]]);
    const a = c.node(1).connect(q.get(1)!.ipc);
    const bad = hex('09000000 00000000 10000000 00000000');
    const out = a.request(bad);
    assert.equal(out[0]!.readInt32LE(16), E.CS_ERR_INVALID_PARAM);
    const wrongSize = hex('01000000 00000000 10000000 00000000');
    a.request(wrongSize);
    assert.equal(a.closed, true);
  });

  it('a provider callback outside sync notifies too (quorate change)', () => {
    const { c, q } = cluster(true);
    c.form([[1, 2, 3]]);
    const svc = q.get(3)!;
    const a = c.node(3).connect(svc.ipc);
    call(a, { kind: 'model_gettype', model: 1 });
    call(a, { kind: 'trackstart', flags: QuorumTrackFlags.CHANGES_ONLY });
    svc.setQuorum([1, 2, 3], false, { rep: 1, seq: 4n });
    assert.deepEqual(lines(a), ['quorum quorate=0 ring=1.4 view=1,2,3']);
    assert.deepEqual(svc.quorumView(), { members: [1, 2, 3], ringId: { rep: 1, seq: 4n } });
  });
});

describe('quorum log view list', () => {
  it('cuts long lists into 63-character chunks ending in a backslash', () => {
    assert.deepEqual(formatViewList([1, 2, 3], 'Members'), ['Members[3]: 1 2 3']);
    assert.deepEqual(formatViewList([], 'Members'), ['Members[0]:']);
    const ids = Array.from({ length: 20 }, (_, i) => 1000000 + i);
    const out = formatViewList(ids, 'Members');
    assert.equal(out.length, 3);
    assert.ok(out[0]!.endsWith('\\'));
    assert.equal(
      out[0],
      `Members[20]:${ids
        .slice(0, 7)
        .map((i) => ` ${i}`)
        .join('')}\\`,
    );
    assert.ok(!out[2]!.endsWith('\\'));
    const joined = out.map((l) => l.replace(/^Members\[20\]:/, '').replace(/\\$/, '')).join('');
    assert.equal(joined, ids.map((i) => ` ${i}`).join(''));
  });
});
