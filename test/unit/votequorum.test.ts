// The votequorum engine in a small multi-node in-memory cluster: real ExecEngine (exec routing and
// sync protocol) and VotequorumService per node, an agreed-order bus per partition, confchgs in
// corosync's order (transitional then regular), fake timers and fake IPC connections.
//
// Covered: partitions (halves, one isolated, uneven groups, merges, crashes, restarts, graceful
// leaves) under the invariant "at most one partition provides service at any instant" for every
// option combination that votequorum.5 calls safe; wait_for_all cold start; two_node restart after
// fence; last_man_standing shrinking step by step; GETINFO / SETEXPECTED / SETVOTES; TRACKSTART
// notifications; runtime keys; runtime reconfiguration through icmap; startup errors; qdevice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../helpers/prng.js';
import { Icmap } from '../../src/cmap/icmap.js';
import { CmapValueType, type CmapValue } from '../../src/cmap/types.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { ExecEngine, type ExecGroup } from '../../src/exec/engine.js';
import type { IpcConnection } from '../../src/ipc/server.js';
import type { RingId } from '../../src/totem/wire/index.js';
import {
  TrackFlag,
  VqInfoFlag,
  decodeVqExec,
  decodeVqResponse,
  encodeVqRequest,
  type VqRequest,
  type VqResponse,
} from '../../src/services/votequorum/codec.js';
import { AtbMode, NodeFlag, NodeState } from '../../src/services/votequorum/quorum-math.js';
import {
  VotequorumService,
  memoryEvTrackingStore,
  type EvTrackingStore,
  type VotequorumTimerKind,
} from '../../src/services/votequorum/service.js';

// ---------------------------------------------------------------------------------------
// Harness

const u32 = (value: number): CmapValue => ({ type: CmapValueType.UINT32, value });
const u8 = (value: number): CmapValue => ({ type: CmapValueType.UINT8, value });
const str = (value: string): CmapValue => ({ type: CmapValueType.STRING, value });

interface NodeConfig {
  ids: number[];
  votes?: Map<number, number>;
  quorum?: Record<string, CmapValue>;
}

class Node {
  readonly id: number;
  readonly icmap = new Icmap();
  readonly engine: ExecEngine;
  readonly vq: VotequorumService;
  readonly timers = new Map<VotequorumTimerKind, number>();
  readonly callbacks: Array<{ quorate: boolean; members: readonly number[]; ring: RingId }> = [];
  partKey = '';

  constructor(id: number, cluster: Cluster, cfg: NodeConfig, store: EvTrackingStore) {
    this.id = id;
    const pos = cfg.ids.indexOf(id);
    this.icmap.setValue('nodelist.local_node_pos', u32(pos));
    cfg.ids.forEach((n, i) => {
      this.icmap.setValue(`nodelist.node.${i}.nodeid`, u32(n));
      this.icmap.setValue(`nodelist.node.${i}.ring0_addr`, str(`10.0.0.${n}`));
      const v = cfg.votes?.get(n);
      if (v !== undefined) this.icmap.setValue(`nodelist.node.${i}.quorum_votes`, u32(v));
    });
    for (const [k, v] of Object.entries(cfg.quorum ?? {})) this.icmap.setValue(`quorum.${k}`, v);
    this.engine = new ExecEngine({
      nodeId: id,
      icmap: this.icmap,
      send: (group, iov) => cluster.send(this, group, Buffer.concat(iov)),
      log: { debug() {}, info() {}, notice() {}, warn() {}, error() {} },
    });
    this.vq = new VotequorumService({
      icmap: this.icmap,
      evTrackingStore: store,
      timers: {
        arm: (kind, ms) => this.timers.set(kind, ms),
        disarm: (kind) => this.timers.delete(kind),
      },
    });
    this.vq.subscribe((quorate, members, ring) =>
      this.callbacks.push({ quorate, members: [...members], ring }),
    );
  }

  /** Provides service: sync done and the quorum service was last told "quorate". */
  get providing(): boolean {
    return !this.engine.syncInProgress && this.callbacks.at(-1)?.quorate === true;
  }

  fire(kind: VotequorumTimerKind): boolean {
    if (!this.timers.has(kind)) return false;
    this.timers.delete(kind);
    this.vq.timerExpired(kind);
    return true;
  }
}

interface Queued {
  from: number;
  group: ExecGroup;
  msg: Buffer;
}

class Cluster {
  readonly cfg: NodeConfig;
  readonly nodes = new Map<number, Node>();
  readonly stores = new Map<number, EvTrackingStore>();
  readonly queues = new Map<string, Queued[]>();
  private seq = 4n;
  checkInvariant = true;
  deliveries = 0;

  constructor(cfg: NodeConfig) {
    this.cfg = cfg;
  }

  send(node: Node, group: ExecGroup, msg: Buffer): number {
    let q = this.queues.get(node.partKey);
    if (!q) this.queues.set(node.partKey, (q = []));
    q.push({ from: node.id, group, msg });
    return CsErrorCode.CS_OK;
  }

  /** Start (or restart, fresh) a node; it forms a ring of its own. */
  start(id: number): Node {
    let store = this.stores.get(id);
    if (!store) this.stores.set(id, (store = memoryEvTrackingStore()));
    const node = new Node(id, this, this.cfg, store);
    node.partKey = `solo-${id}-${this.seq}`;
    this.nodes.set(id, node);
    node.engine.register(node.vq);
    this.partition([[id]], [id]);
    return node;
  }

  kill(id: number): void {
    const node = this.nodes.get(id);
    if (!node) return;
    this.pump();
    const touched = this.parts()
      .find((p) => p.includes(id))!
      .filter((x) => x !== id);
    this.nodes.delete(id);
    if (touched.length) this.partition([touched], touched);
  }

  /** Clean shutdown: the engine unloads (LEAVING with allow_downscale), then the node leaves. */
  leave(id: number): void {
    const node = this.nodes.get(id)!;
    node.engine.unloadServices();
    this.pump();
    this.kill(id);
  }

  /** The current partitions (sets of alive node ids, by partKey). */
  parts(): number[][] {
    const by = new Map<string, number[]>();
    for (const n of this.nodes.values()) {
      let p = by.get(n.partKey);
      if (!p) by.set(n.partKey, (p = []));
      p.push(n.id);
    }
    return [...by.values()].map((p) => p.sort((a, b) => a - b));
  }

  /**
   * New partitions for the nodes in `affected` (others keep their ring). Pending messages of the
   * old rings are delivered first (EVS: in the old configuration), then every affected node gets
   * a transitional and a regular confchg.
   */
  partition(newParts: number[][], affected = newParts.flat()): void {
    this.pump();
    const oldMembers = new Map<number, number[]>();
    for (const p of this.parts()) for (const id of p) oldMembers.set(id, p);
    for (const p of newParts) {
      const members = p.filter((id) => this.nodes.has(id)).sort((a, b) => a - b);
      if (!members.some((id) => affected.includes(id))) continue;
      this.seq += 4n;
      const ring: RingId = { rep: members[0]!, seq: this.seq };
      const key = `${ring.rep}.${ring.seq}`;
      for (const id of members) {
        const node = this.nodes.get(id)!;
        const old = oldMembers.get(id) ?? [id];
        const trans = members.filter((x) => old.includes(x));
        node.partKey = key;
        node.engine.confchg(
          'transitional',
          trans,
          old.filter((x) => !members.includes(x)),
          [],
          ring,
        );
        node.engine.confchg(
          'regular',
          members,
          [],
          members.filter((x) => !trans.includes(x)),
          ring,
        );
        node.engine.drain();
      }
    }
    this.pump();
  }

  /** Deliver everything queued, round-robin over partitions, running sync workers in between. */
  pump(): void {
    for (let guard = 0; guard < 200000; guard++) {
      let moved = false;
      for (const [key, q] of this.queues) {
        const m = q.shift();
        if (!m) continue;
        moved = true;
        for (const n of this.nodes.values()) if (n.partKey === key) n.engine.deliver(m.group, m.from, m.msg);
        this.deliveries++;
        this.check();
      }
      // sync workers run once per round; a process() that keeps waiting (qdevice) is no progress
      for (const n of this.nodes.values()) {
        n.engine.runPending();
        n.engine.drain();
      }
      this.check();
      if (!moved && [...this.queues.values()].every((q) => q.length === 0)) return;
    }
    throw new Error('cluster did not settle');
  }

  check(): void {
    if (!this.checkInvariant) return;
    const keys = new Set([...this.nodes.values()].filter((n) => n.providing).map((n) => n.partKey));
    assert.ok(
      keys.size <= 1,
      `two partitions provide service: ${JSON.stringify(this.parts())} ${this.describe()}`,
    );
  }

  /** The single partition whose nodes provide service, if any. */
  servingPartition(): number[] | undefined {
    return this.parts().find((p) => p.some((id) => this.nodes.get(id)!.providing));
  }

  node(id: number): Node {
    return this.nodes.get(id)!;
  }

  describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        const c = n.vq.core;
        return `${n.id}[q=${c.quorate ? 1 : 0} quorum=${c.quorum} ev=${c.us.expectedVotes} wfa=${c.waitForAllStatus ? 1 : 0} sync=${n.engine.syncInProgress ? 1 : 0}]`;
      })
      .join(' ');
  }
}

function cluster(
  ids: number[],
  quorum: Record<string, CmapValue> = {},
  votes?: Map<number, number>,
): Cluster {
  return new Cluster({ ids, quorum, ...(votes ? { votes } : {}) });
}

/** Start every node alone, then merge them into one ring. */
function coldStart(c: Cluster, ids: number[]): void {
  for (const id of ids) c.start(id);
  c.partition([ids]);
}

// ---------------------------------------------------------------------------------------
// Fake IPC

class FakeConn implements IpcConnection {
  readonly token = '0x1';
  readonly pid = 1;
  readonly serviceId = 5;
  readonly maxMsgSize = 1 << 20;
  privateData: unknown;
  closed = false;
  responses: VqResponse[] = [];
  events: VqResponse[] = [];
  respond(frame: Buffer): void {
    const r = decodeVqResponse(frame);
    assert.ok(r.ok, r.ok ? '' : r.error);
    this.responses.push(r.value);
  }
  sendEvent(frame: Buffer): void {
    const r = decodeVqResponse(frame);
    assert.ok(r.ok, r.ok ? '' : r.error);
    this.events.push(r.value);
  }
  addCloseHook(): void {}
  close(): void {
    this.closed = true;
  }
}

function connect(vq: VotequorumService): { conn: FakeConn; call: (r: VqRequest) => VqResponse | undefined } {
  const conn = new FakeConn();
  const st = vq.ipc.init(conn);
  conn.privateData = st;
  return {
    conn,
    call: (r) => {
      const frame = encodeVqRequest(r);
      assert.equal(vq.ipc.checkRequest(frame), undefined);
      const before = conn.responses.length;
      vq.ipc.handle(conn, st, frame);
      return conn.responses.length > before ? conn.responses.at(-1) : undefined;
    },
  };
}

function status(r: VqResponse | undefined): number {
  assert.ok(r && r.kind === 'status');
  return r.error;
}

function getinfo(vq: VotequorumService, nodeId = 0) {
  const { call } = connect(vq);
  const r = call({ kind: 'getinfo', nodeId });
  assert.ok(r && r.kind === 'getinfo');
  return r;
}

const qname = (name: string) => ({ name, terminated: true });

// ---------------------------------------------------------------------------------------

describe('votequorum engine: scenarios', () => {
  it('plain 3-node cluster: quorate with 2 of 3, one partition only', () => {
    const c = cluster([1, 2, 3]);
    coldStart(c, [1, 2, 3]);
    for (const id of [1, 2, 3]) {
      assert.equal(c.node(id).vq.quorate(), true);
      assert.deepEqual(c.node(id).vq.members(), [1, 2, 3]);
      assert.equal(c.node(id).vq.core.quorum, 2);
    }
    c.partition([[1, 2], [3]]);
    assert.deepEqual(c.servingPartition(), [1, 2]);
    assert.equal(c.node(3).vq.quorate(), false);
    const last = c.node(3).callbacks.at(-1)!;
    assert.deepEqual([last.quorate, last.members], [false, [3]]);
    // node 3 still knows 1 and 2, as DEAD
    assert.deepEqual(
      c
        .node(3)
        .vq.core.nodes()
        .map((n) => [n.nodeId, n.state]),
      [
        [1, NodeState.DEAD],
        [2, NodeState.DEAD],
        [3, NodeState.MEMBER],
      ],
    );
    c.partition([[1, 2, 3]]);
    assert.ok([1, 2, 3].every((id) => c.node(id).providing));
  });

  it('wait_for_all: no first quorum until every vote is present', () => {
    const c = cluster([1, 2, 3], { wait_for_all: u8(1) });
    c.start(1);
    c.start(2);
    c.partition([[1, 2]]);
    assert.equal(c.node(1).vq.quorate(), false, 'two of three, but waiting for all');
    assert.equal(c.node(1).vq.core.waitForAllStatus, true);
    assert.equal(c.node(1).icmap.getValue('runtime.votequorum.wait_for_all_status')?.value, 1);
    c.start(3);
    c.partition([[1, 2, 3]]);
    assert.ok([1, 2, 3].every((id) => c.node(id).vq.quorate()));
    assert.equal(c.node(1).vq.core.waitForAllStatus, false);
    // losing one node keeps quorum (wait_for_all only gates the first quorum)
    c.kill(3);
    assert.equal(c.node(1).vq.quorate(), true);
    // a restarted node 3 alone waits again; joining the quorate partition releases it
    c.start(3);
    assert.equal(c.node(3).vq.quorate(), false);
    assert.equal(c.node(3).vq.core.waitForAllStatus, true);
    c.partition([[1, 2, 3]]);
    assert.equal(c.node(3).vq.quorate(), true);
    // a partition of {1,2} that loses quorum re-arms wait_for_all
    c.partition([[1], [2], [3]]);
    assert.equal(c.node(1).vq.core.waitForAllStatus, true);
    c.partition([[1, 2]], [1, 2]);
    assert.equal(c.node(1).vq.quorate(), false);
  });

  it('cancel_wait_for_all through icmap releases the whole partition', () => {
    const c = cluster([1, 2, 3], { wait_for_all: u8(1) });
    c.start(1);
    c.start(2);
    c.partition([[1, 2]]);
    assert.equal(c.node(2).vq.quorate(), false);
    c.node(1).icmap.setValue('quorum.cancel_wait_for_all', u8(1));
    assert.equal(c.node(1).icmap.getValue('quorum.cancel_wait_for_all')?.value, 0);
    c.pump();
    assert.equal(c.node(1).vq.quorate(), true);
    assert.equal(c.node(2).vq.quorate(), true);
  });

  it('two_node: both halves keep quorum (fence race); the fenced node restarts waiting for all', () => {
    const c = cluster([1, 2], { two_node: u8(1) });
    c.checkInvariant = false; // two_node relies on fencing, not on votes
    coldStart(c, [1, 2]);
    assert.ok(c.node(1).vq.quorate() && c.node(2).vq.quorate());
    assert.equal(c.node(1).vq.core.quorum, 1);
    assert.equal(c.node(1).icmap.getValue('runtime.votequorum.two_node')?.value, 1);
    const info = getinfo(c.node(1).vq);
    assert.ok(info.kind === 'getinfo' && info.info);
    assert.equal(
      info.info.flags & (VqInfoFlag.TWONODE | VqInfoFlag.WAIT_FOR_ALL),
      VqInfoFlag.TWONODE | VqInfoFlag.WAIT_FOR_ALL,
    );
    c.partition([[1], [2]]);
    assert.ok(c.node(1).providing && c.node(2).providing, 'both survive the split');
    // node 1 wins the fence race; node 2 reboots
    c.kill(2);
    c.checkInvariant = true;
    c.start(2);
    assert.equal(c.node(2).vq.quorate(), false, 'alone after fencing: wait_for_all (autoset by two_node)');
    assert.equal(c.node(1).vq.quorate(), true);
    c.partition([[1, 2]]);
    assert.ok(c.node(1).vq.quorate() && c.node(2).vq.quorate());
  });

  it('last_man_standing: expected votes shrink one window at a time, down to two', () => {
    const ids = [1, 2, 3, 4, 5, 6];
    const c = cluster(ids, {
      last_man_standing: u8(1),
      wait_for_all: u8(1),
      last_man_standing_window: u32(20000),
    });
    coldStart(c, ids);
    assert.equal(c.node(1).vq.core.quorum, 4);
    const history: Array<[number, number]> = [];
    for (const victim of [6, 5, 4, 3]) {
      c.kill(victim);
      const alive = [...c.nodes.keys()];
      assert.ok(
        alive.every((id) => c.node(id).vq.quorate()),
        `quorate with ${alive.length}`,
      );
      assert.equal(c.node(1).timers.get('lms'), 20000, 'LMS timer armed');
      for (const id of alive) c.node(id).fire('lms');
      c.pump();
      history.push([c.node(1).vq.core.us.expectedVotes, c.node(1).vq.core.quorum]);
    }
    assert.deepEqual(history, [
      [5, 3],
      [4, 3],
      [3, 2],
      [2, 2],
    ]);
    // the last one alone cannot keep quorum without auto_tie_breaker
    c.kill(2);
    assert.equal(c.node(1).vq.quorate(), false);
  });

  it('last_man_standing + auto_tie_breaker: down to the last node', () => {
    const ids = [1, 2, 3, 4];
    const c = cluster(ids, { last_man_standing: u8(1), wait_for_all: u8(1), auto_tie_breaker: u8(1) });
    coldStart(c, ids);
    for (const victim of [4, 3, 2]) {
      c.kill(victim);
      assert.equal(c.node(1).vq.quorate(), true, `quorate after losing ${victim}`);
      for (const id of c.nodes.keys()) c.node(id).fire('lms');
      c.pump();
    }
    assert.equal(c.node(1).vq.quorate(), true);
  });

  it('allow_downscale: a clean leave lowers expected votes of the survivors', () => {
    const c = cluster([1, 2, 3, 4], { allow_downscale: u8(1) });
    coldStart(c, [1, 2, 3, 4]);
    c.leave(4);
    const core = c.node(1).vq.core;
    assert.equal(core.nodes().find((n) => n.nodeId === 4)!.state, NodeState.DEAD);
    assert.equal(c.node(1).vq.quorate(), true);
    // tracking: the barrier holds the highest expected votes seen
    assert.equal(c.node(1).icmap.getValue('runtime.votequorum.ev_tracking_barrier')?.value, 4);
    assert.equal(c.stores.get(1) && (c.stores.get(1) as ReturnType<typeof memoryEvTrackingStore>).value, 4);
  });

  it('auto_tie_breaker: a 2/2 split keeps the half with the lowest (or highest, or listed) node', () => {
    for (const [mode, node, winner] of [
      ['lowest', undefined, [1, 2]],
      ['highest', 'highest', [3, 4]],
      ['list', '4 1', [3, 4]],
    ] as const) {
      const q: Record<string, CmapValue> = { auto_tie_breaker: u8(1) };
      if (node) q.auto_tie_breaker_node = str(node);
      const c = cluster([1, 2, 3, 4], q);
      coldStart(c, [1, 2, 3, 4]);
      c.partition([
        [1, 2],
        [3, 4],
      ]);
      assert.deepEqual(c.servingPartition(), [...winner], mode);
      assert.equal(
        c.node(1).icmap.getValue('runtime.votequorum.atb_type')?.value,
        { lowest: AtbMode.LOWEST, highest: AtbMode.HIGHEST, list: AtbMode.LIST }[mode],
      );
    }
  });
});

describe('votequorum engine: partitions never give quorum to two sides', () => {
  interface Combo {
    wfa: boolean;
    lms: boolean;
    atb: 'none' | 'lowest' | 'highest' | 'list';
    downscale: boolean;
    tracking: boolean;
  }
  const combos: Combo[] = [];
  for (const wfa of [false, true])
    for (const lms of [false, true])
      for (const atb of ['none', 'lowest', 'highest', 'list'] as const)
        for (const downscale of [false, true])
          for (const tracking of [false, true]) {
            // votequorum.5: "It is essential to enable WFA when using LMS"
            if (lms && !wfa) continue;
            combos.push({ wfa, lms, atb, downscale, tracking });
          }

  function run(seed: number, combo: Combo): void {
    const rng = new Prng(seed);
    const n = rng.int(2, 6);
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    // LMS needs one vote per node (votequorum.5); allow_downscale is "incomplete and unsupported"
    // and counts nodes, not votes, so it is only exercised with one vote per node
    const weighted = !combo.lms && !combo.downscale && rng.bool(0.3);
    const votes = weighted ? new Map(ids.map((id) => [id, rng.int(1, 3)])) : undefined;
    const q: Record<string, CmapValue> = {};
    if (combo.wfa) q.wait_for_all = u8(1);
    if (combo.lms) q.last_man_standing = u8(1);
    if (combo.atb !== 'none') q.auto_tie_breaker = u8(1);
    if (combo.atb === 'highest') q.auto_tie_breaker_node = str('highest');
    if (combo.atb === 'list')
      q.auto_tie_breaker_node = str(rng.shuffle(ids).slice(0, rng.int(1, n)).join(' '));
    if (combo.downscale) q.allow_downscale = u8(1);
    if (combo.tracking) q.expected_votes_tracking = u8(1);
    const c = cluster(ids, q, votes);
    // auto_tie_breaker decides with per-node history (lowest/highest nodeid of the node's last
    // quorate period, the node's own previous member list): after chains of partitions nodes of
    // one ring can disagree and two sides can both win a tie (3.1.7 behaviour; seeds 147 and 241
    // show it for LIST and LOWEST). ATB is safe for a split of a cluster that shares one history
    // (the scenario test above); in these random chains it runs for liveness only.
    c.checkInvariant = combo.atb === 'none';
    const where = () =>
      `seed ${seed} combo ${JSON.stringify(combo)} n=${n} votes=${JSON.stringify(votes ? [...votes] : 1)}`;
    const dead = new Set<number>();
    try {
      for (const id of ids) c.start(id);
      c.partition([ids]);
      for (let step = 0; step < 25; step++) {
        const alive = [...c.nodes.keys()];
        const roll = rng.int(0, 99);
        if (roll < 40 && alive.length > 1) {
          // random partitioning: halves, one isolated, uneven groups
          const shuffled = rng.shuffle(alive);
          const k = rng.pick([1, Math.floor(alive.length / 2), rng.int(1, alive.length - 1)]);
          const parts = [shuffled.slice(0, k), shuffled.slice(k)];
          if (rng.bool(0.3) && parts[1]!.length > 1) parts.push(parts[1]!.splice(0, 1));
          c.partition(parts);
        } else if (roll < 60) {
          c.partition([alive]);
        } else if (roll < 70 && alive.length > 1) {
          const victim = rng.pick(alive);
          // crashes only: with clean leaves, allow_downscale ("incomplete and currently
          // unsupported", votequorum.5) lowers expected votes below the configured ones and
          // 3.1.7's arithmetic can then give quorum to both sides of a later split (its own
          // scenario test below covers a clean leave without partitions)
          c.kill(victim);
          dead.add(victim);
        } else if (roll < 80 && dead.size > 0) {
          const back = rng.pick([...dead]);
          dead.delete(back);
          c.start(back);
        } else {
          for (const id of alive) if (rng.bool(0.7)) c.node(id).fire('lms');
          c.pump();
        }
        // the quorate side fences whoever it cannot see (what pacemaker does before recovery)
        const serving = c.servingPartition();
        if (serving && combo.lms) {
          for (const id of [...c.nodes.keys()]) {
            if (!serving.includes(id)) {
              c.kill(id);
              dead.add(id);
            }
          }
        }
      }
    } catch (err) {
      throw new Error(`${where()}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  it(`every option combination (${combos.length}), 12 seeds each`, () => {
    let seed = 1;
    for (const combo of combos) for (let k = 0; k < 12; k++) run(seed++, combo);
  });
});

describe('votequorum engine: IPC', () => {
  it('GETINFO of us, of another node, of an unknown node', () => {
    const c = cluster([1, 2, 3]);
    coldStart(c, [1, 2, 3]);
    const r = getinfo(c.node(2).vq);
    assert.ok(r.kind === 'getinfo' && r.info);
    assert.deepEqual(r.info, {
      nodeId: 2,
      state: NodeState.MEMBER,
      votes: 1,
      expectedVotes: 3,
      highestExpected: 3,
      totalVotes: 3,
      quorum: 2,
      flags: VqInfoFlag.QUORATE,
      qdeviceVotes: 0,
      qdeviceName: '',
    });
    const other = getinfo(c.node(2).vq, 3);
    assert.ok(other.kind === 'getinfo' && other.info?.nodeId === 3);
    const none = getinfo(c.node(2).vq, 9);
    assert.ok(none.kind === 'getinfo');
    assert.equal(none.error, CsErrorCode.CS_ERR_NOT_EXIST);
    assert.equal(none.info?.nodeId, 0);
  });

  it('SETEXPECTED: validated, then applied cluster-wide by RECONFIGURE', () => {
    const c = cluster([1, 2, 3, 4, 5]);
    coldStart(c, [1, 2, 3]);
    const { call } = connect(c.node(1).vq);
    // expected below present votes
    assert.equal(status(call({ kind: 'setexpected', expectedVotes: 2 })), CsErrorCode.CS_ERR_INVALID_PARAM);
    assert.equal(status(call({ kind: 'setexpected', expectedVotes: 3 })), CsErrorCode.CS_OK);
    c.pump();
    for (const id of [1, 2, 3]) {
      const core = c.node(id).vq.core;
      assert.equal(core.quorum, 2);
      assert.equal(core.evBarrier, 3);
      assert.equal(c.node(id).icmap.getValue('runtime.votequorum.ev_barrier')?.value, 3);
      assert.ok(core.nodes().every((n) => n.expectedVotes === 3));
    }
    // quorate cluster: refuse what would make it inquorate (8 expected → quorum 5 > 3 votes)
    assert.equal(status(call({ kind: 'setexpected', expectedVotes: 8 })), CsErrorCode.CS_ERR_INVALID_PARAM);
  });

  it('SETVOTES: validated, kept locally at once, then RECONFIGURE everywhere', () => {
    const c = cluster([1, 2, 3]);
    coldStart(c, [1, 2, 3]);
    const { call } = connect(c.node(1).vq);
    assert.equal(status(call({ kind: 'setvotes', nodeId: 9, votes: 1 })), CsErrorCode.CS_ERR_NAME_NOT_FOUND);
    // a vote count that leaves quorum above the votes present is refused (and undone)
    const solo = cluster([7]);
    coldStart(solo, [7]);
    const s7 = connect(solo.node(7).vq);
    assert.equal(
      status(s7.call({ kind: 'setvotes', nodeId: 7, votes: 0 })),
      CsErrorCode.CS_ERR_INVALID_PARAM,
    );
    assert.equal(solo.node(7).vq.core.us.votes, 1, 'restored');
    assert.equal(status(call({ kind: 'setvotes', nodeId: 2, votes: 2 })), CsErrorCode.CS_OK);
    assert.equal(c.node(1).vq.core.find(2)!.votes, 2, 'tentative change kept');
    c.pump();
    for (const id of [1, 2, 3]) {
      const core = c.node(id).vq.core;
      assert.equal(core.find(2)!.votes, 2);
      assert.equal(core.us.expectedVotes, 4, 'expected votes follow the present votes');
      assert.equal(core.quorum, 3);
    }
  });

  it('TRACKSTART / TRACKSTOP: CURRENT, CHANGES, CHANGES_ONLY and the notifications', () => {
    const c = cluster([1, 2, 3]);
    coldStart(c, [1, 2]);
    const vq = c.node(1).vq;
    const cur = connect(vq);
    assert.equal(
      status(cur.call({ kind: 'trackstart', context: 5n, trackFlags: TrackFlag.CURRENT })),
      CsErrorCode.CS_OK,
    );
    assert.deepEqual(
      cur.conn.events.map((e) => e.kind),
      ['nodelist_notification', 'quorum_notification'],
    );
    const nl = cur.conn.events[0]!;
    assert.ok(nl.kind === 'nodelist_notification');
    assert.deepEqual([nl.context, nl.nodes, nl.ringId], [5n, [1, 2], vq.ringId()]);
    const qn = cur.conn.events[1]!;
    assert.ok(qn.kind === 'quorum_notification');
    assert.deepEqual(
      [qn.quorate, qn.context, qn.nodes],
      [
        1,
        5n,
        [
          { nodeId: 1, state: 1 },
          { nodeId: 2, state: 1 },
        ],
      ],
    );

    const changes = connect(vq);
    assert.equal(
      status(changes.call({ kind: 'trackstart', context: 7n, trackFlags: TrackFlag.CHANGES })),
      CsErrorCode.CS_OK,
    );
    assert.equal(changes.conn.events.length, 2);
    assert.equal(
      status(changes.call({ kind: 'trackstart', context: 8n, trackFlags: TrackFlag.CHANGES })),
      CsErrorCode.CS_ERR_EXIST,
    );
    const only = connect(vq);
    assert.equal(
      status(only.call({ kind: 'trackstart', context: 9n, trackFlags: TrackFlag.CHANGES_ONLY })),
      CsErrorCode.CS_OK,
    );
    assert.equal(only.conn.events.length, 0);

    changes.conn.events = [];
    cur.conn.events = [];
    c.start(3);
    c.partition([[1, 2, 3]]);
    // a membership change: NODELIST during sync process, QUORUM at activation, EXPECTEDVOTES none
    const kinds = changes.conn.events.map((e) => e.kind);
    assert.deepEqual(kinds, ['nodelist_notification', 'quorum_notification']);
    assert.equal(cur.conn.events.length, 0, 'CURRENT alone does not track');
    assert.deepEqual(
      only.conn.events.map((e) => [e.kind, 'context' in e ? e.context : 0n]),
      [
        ['nodelist_notification', 9n],
        ['quorum_notification', 9n],
      ],
    );
    // expected votes changes reach trackers
    only.conn.events = [];
    assert.equal(status(only.call({ kind: 'setexpected', expectedVotes: 4 })), CsErrorCode.CS_OK);
    c.pump();
    const ev = only.conn.events.find((e) => e.kind === 'expectedvotes_notification');
    assert.ok(ev && ev.kind === 'expectedvotes_notification' && ev.context === 9n);
    assert.equal(status(only.call({ kind: 'trackstop' })), CsErrorCode.CS_OK);
    assert.equal(status(only.call({ kind: 'trackstop' })), CsErrorCode.CS_ERR_NOT_EXIST);
  });

  it('quorum device: register (reply on delivery), poll, cast vote, sync wait, timeout, unregister', () => {
    // quorum.device.model makes a qdevice configured: votes computed as node_count - 1
    const c2 = cluster([1, 2], { 'device.model': str('net') });
    coldStart(c2, [1, 2]);
    const n1 = c2.node(1);
    assert.equal(n1.vq.core.qdevice.votes, 1);
    assert.equal(n1.vq.core.us.expectedVotes, 3);
    assert.equal(n1.icmap.getValue('runtime.votequorum.qdevice_can_operate')?.value, 1);
    const { conn, call } = connect(n1.vq);
    assert.equal(
      call({ kind: 'qdevice_register', name: qname('Qdevice') }),
      undefined,
      'reply waits for delivery',
    );
    assert.equal(
      status(call({ kind: 'qdevice_poll', name: qname('Qdevice'), castVote: 1, ringId: n1.vq.ringId() })),
      CsErrorCode.CS_ERR_NOT_EXIST,
    );
    c2.pump();
    assert.equal(status(conn.responses.at(-1)), CsErrorCode.CS_OK);
    assert.ok(n1.vq.core.us.flags & NodeFlag.QDEVICE_REGISTERED);
    assert.equal(c2.node(2).vq.knownQdeviceName, 'Qdevice');
    assert.equal(status(call({ kind: 'qdevice_register', name: qname('Qdevice') })), CsErrorCode.CS_OK);
    assert.equal(status(call({ kind: 'qdevice_register', name: qname('Other') })), CsErrorCode.CS_ERR_EXIST);
    // poll with a stale ring id / wrong name
    assert.equal(
      status(
        call({ kind: 'qdevice_poll', name: qname('Qdevice'), castVote: 1, ringId: { rep: 9, seq: 1n } }),
      ),
      CsErrorCode.CS_ERR_MESSAGE_ERROR,
    );
    assert.equal(
      status(call({ kind: 'qdevice_poll', name: qname('x'), castVote: 1, ringId: n1.vq.ringId() })),
      CsErrorCode.CS_ERR_INVALID_PARAM,
    );
    assert.equal(
      status(call({ kind: 'qdevice_poll', name: qname('Qdevice'), castVote: 1, ringId: n1.vq.ringId() })),
      CsErrorCode.CS_OK,
    );
    assert.equal(n1.timers.get('qdevice'), 10000);
    c2.pump();
    const info = getinfo(n1.vq);
    assert.ok(info.kind === 'getinfo' && info.info);
    assert.equal(info.info.totalVotes, 3, 'our qdevice casts its vote');
    assert.equal(
      info.info.flags &
        (VqInfoFlag.QDEVICE_REGISTERED | VqInfoFlag.QDEVICE_ALIVE | VqInfoFlag.QDEVICE_CAST_VOTE),
      VqInfoFlag.QDEVICE_REGISTERED | VqInfoFlag.QDEVICE_ALIVE | VqInfoFlag.QDEVICE_CAST_VOTE,
    );
    assert.equal(info.info.qdeviceName, 'Qdevice');
    // node 2 leaves: node 1 keeps quorum with its vote + the qdevice's (2 of 3)
    // and its sync waits for a poll of the new ring
    c2.kill(2);
    assert.equal(n1.vq.waitingForQdevicePoll, true);
    assert.equal(n1.engine.syncInProgress, true, 'sync blocked until the qdevice polls');
    assert.equal(n1.timers.get('qdevice'), 30000);
    assert.equal(
      status(call({ kind: 'qdevice_poll', name: qname('Qdevice'), castVote: 1, ringId: n1.vq.ringId() })),
      CsErrorCode.CS_OK,
    );
    c2.pump();
    assert.equal(n1.engine.syncInProgress, false);
    assert.equal(n1.vq.quorate(), true);
    // the qdevice stops polling: it loses its vote, node 1 loses quorum
    assert.ok(n1.fire('qdevice'));
    c2.pump();
    assert.equal(n1.vq.core.us.flags & NodeFlag.QDEVICE_ALIVE, 0);
    assert.equal(n1.vq.quorate(), false);
    // rename, master wins, unregister
    assert.equal(
      status(call({ kind: 'qdevice_update', oldName: qname('Qdevice'), newName: qname('QD2') })),
      CsErrorCode.CS_OK,
    );
    c2.pump();
    assert.equal(n1.vq.knownQdeviceName, 'QD2');
    assert.equal(
      status(call({ kind: 'qdevice_master_wins', name: qname('QD2'), allow: 1 })),
      CsErrorCode.CS_OK,
    );
    assert.equal(n1.icmap.getValue('runtime.votequorum.qdevice_master_wins')?.value, 1);
    assert.equal(
      status(call({ kind: 'qdevice_unregister', name: qname('nope') })),
      CsErrorCode.CS_ERR_INVALID_PARAM,
    );
    assert.equal(status(call({ kind: 'qdevice_unregister', name: qname('QD2') })), CsErrorCode.CS_OK);
    c2.pump();
    assert.equal(n1.vq.core.us.flags & NodeFlag.QDEVICE_REGISTERED, 0);
    assert.equal(n1.vq.knownQdeviceName, '');
    assert.equal(
      status(call({ kind: 'qdevice_unregister', name: qname('QD2') })),
      CsErrorCode.CS_ERR_NOT_EXIST,
    );
  });

  it('quorum device operations disabled when a runtime change makes the configuration invalid', () => {
    const c = cluster([1, 2, 3], { 'device.model': str('net'), 'device.votes': u32(1) });
    coldStart(c, [1]);
    const n = c.node(1);
    assert.equal(n.vq.qdeviceOperable, true);
    n.icmap.setValue('quorum.expected_votes', u32(2)); // expected - device votes < 2
    assert.equal(n.vq.qdeviceOperable, false);
    assert.equal(n.icmap.getValue('runtime.votequorum.qdevice_can_operate')?.value, 0);
    const { call } = connect(n.vq);
    assert.equal(status(call({ kind: 'qdevice_register', name: qname('Q') })), CsErrorCode.CS_ERR_ACCESS);
  });
});

describe('votequorum engine: configuration', () => {
  function startWith(q: Record<string, CmapValue>, nodelist = true): Node {
    const c = nodelist ? cluster([1, 2, 3], q) : new Cluster({ ids: [], quorum: q });
    if (!nodelist) {
      // no nodelist at all: drop the keys the harness wrote
      const n = new Node(1, c, { ids: [1], quorum: q }, memoryEvTrackingStore());
      for (const k of n.icmap.keys('nodelist.')) n.icmap.delete(k);
      n.engine.register(n.vq);
      return n;
    }
    return c.start(1);
  }

  it('startup errors stop the daemon with corosync messages', () => {
    assert.throws(() => startWith({}, false), /nodelist or quorum.expected_votes must be configured/);
    assert.throws(
      () => startWith({ two_node: u8(1), 'device.model': str('net') }),
      /two_node and quorum device cannot be configured at the same time/,
    );
    assert.throws(
      () => startWith({ auto_tie_breaker: u8(1), last_man_standing: u8(1) }),
      /auto_tie_breaker & last_man_standing not available in odd sized cluster/,
    );
    assert.throws(
      () => startWith({ 'device.model': str('net'), last_man_standing: u8(1) }),
      /quorum.device is not compatible with last_man_standing/,
    );
    assert.throws(
      () => startWith({ 'device.model': str('net'), expected_votes: u32(3) }),
      /quorum.device.votes must be specified when quorum.expected_votes is set/,
    );
    assert.throws(
      () => startWith({ 'device.model': str('net'), expected_votes: u32(3), 'device.votes': u32(2) }),
      /quorum.device.votes is too high or expected_votes is too low/,
    );
  });

  it('runtime.votequorum.* keys and the read-only quorum.* keys', () => {
    const n = startWith({ wait_for_all: u8(1), expected_votes_tracking: u8(1) });
    const keys = Object.fromEntries(
      n.icmap.entries('runtime.votequorum.').map(([k]) => [k, n.icmap.getValue(k)?.value]),
    );
    assert.deepEqual(keys, {
      'runtime.votequorum.ev_barrier': 3,
      'runtime.votequorum.ev_tracking_barrier': 3,
      'runtime.votequorum.this_node_id': 1,
      'runtime.votequorum.two_node': 0,
      'runtime.votequorum.wait_for_all_status': 1,
    });
    assert.equal(n.icmap.isReadOnly('quorum.wait_for_all'), true);
    assert.equal(n.icmap.isReadOnly('quorum.expected_votes'), false);
    // without a nodelist: quorum.votes and quorum.expected_votes
    const m = startWith({ expected_votes: u32(5), votes: u32(2) }, false);
    assert.equal(m.vq.core.us.votes, 2);
    assert.equal(m.vq.core.us.expectedVotes, 5);
    assert.equal(m.vq.core.quorum, 3);
    // ATB in an odd cluster without wait_for_all is switched off
    const o = startWith({ auto_tie_breaker: u8(1) });
    assert.equal(o.vq.core.atb, AtbMode.NONE);
    assert.equal(o.icmap.getValue('runtime.votequorum.atb_type')?.value, AtbMode.NONE);
  });

  it('runtime changes of quorum.* and nodelist.*: NODEINFO + RECONFIGURE; ignored during a reload', () => {
    const c = cluster([1, 2, 3]);
    coldStart(c, [1, 2, 3]);
    const n = c.node(1);
    const sent: string[] = [];
    const watch = () => {
      const q = c.queues.get(n.partKey)!;
      for (const m of q.splice(0)) {
        const r = decodeVqExec(m.msg);
        if (r.ok)
          sent.push(
            r.value.kind + (r.value.kind === 'reconfigure' ? `:${r.value.param}:${r.value.value}` : ''),
          );
        q.push(m);
      }
    };
    n.icmap.setValue('config.totemconfig_reload_in_progress', u8(1));
    n.icmap.setValue('quorum.expected_votes', u32(5));
    watch();
    assert.deepEqual(sent, [], 'suspended during a reload');
    c.queues.set(n.partKey, []);
    n.icmap.setValue('config.reload_status', { type: CmapValueType.INT32, value: CsErrorCode.CS_OK });
    n.icmap.setValue('config.totemconfig_reload_in_progress', u8(0));
    watch();
    assert.deepEqual(sent, ['nodeinfo', 'nodeinfo', 'reconfigure:1:5']);
    c.pump();
    for (const id of [1, 2, 3]) assert.equal(c.node(id).vq.core.quorum, 3);
    // a node's votes from the nodelist
    sent.length = 0;
    n.icmap.setValue('nodelist.node.0.quorum_votes', u32(2));
    watch();
    assert.deepEqual(sent, ['nodeinfo', 'nodeinfo', 'reconfigure:2:2']);
    c.pump();
    assert.equal(c.node(3).vq.core.find(1)!.votes, 2);
  });
});
