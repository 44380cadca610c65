// Differential property test of src/services/votequorum/quorum-math.ts against a deliberately
// naive model written from the spec text (votequorum.md §4, §5.1, §5.2, §9): plain objects, a
// Map of nodes, everything recomputed from scratch with filter/reduce. Both receive the same
// random inputs — one node's view of a cluster: configuration (votes, expected votes, qdevice
// votes, every option combination), sync rounds with random member sets and the NODEINFOs the
// members would send (random flags), stray NODEINFOs, RECONFIGUREs, LMS expiries, qdevice vote
// changes — and after every step quorate, quorum, expected votes, flags, the node table, the
// barriers, the lowest/highest ids and the emitted events must agree. Every failure prints its
// seed and step.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../helpers/prng.js';
import {
  AtbMode,
  NodeFlag,
  NodeState,
  QuorumCore,
  ReconfigParam,
  parseAtbString,
  type NodeinfoFields,
} from '../../src/services/votequorum/quorum-math.js';

// ---------------------------------------------------------------------------------------
// The naive model

interface Opts {
  twoNode: boolean;
  waitForAll: boolean;
  lms: boolean;
  atb: number;
  atbList: number[];
  allowDownscale: boolean;
  evTracking: boolean;
}

interface MNode {
  state: number;
  votes: number;
  exp: number;
  flags: number;
}

interface Model {
  o: Opts;
  usId: number;
  nodes: Map<number, MNode>;
  qdVotes: number;
  quorum: number;
  quorate: boolean;
  wfa: boolean;
  evBarrier: number;
  evtBarrier: number;
  lowest: number;
  highest: number;
  members: number[];
  prev: number[];
  syncing: boolean;
  masterWins: boolean;
  events: string[];
}

const majority = (x: number) => Math.floor(x / 2) + 1;
const us = (m: Model) => m.nodes.get(m.usId)!;
const present = (m: Model) => [...m.nodes.entries()].filter(([, n]) => n.state === NodeState.MEMBER);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function mSetWfa(m: Model, v: boolean): void {
  m.wfa = v;
  us(m).flags = v ? us(m).flags | NodeFlag.WFASTATUS : us(m).flags & ~NodeFlag.WFASTATUS;
  m.events.push(`wfa=${v}`);
}

function mCalc(m: Model, allowDecrease: boolean, maxExp: number): { q: number; votes: number } {
  const p = present(m);
  let votes = sum(p.map(([, n]) => n.votes));
  let count = p.length;
  if (us(m).flags & NodeFlag.QDEVICE_CAST_VOTE) {
    votes += m.qdVotes;
    count += 1;
  }
  let e = maxExp;
  if (m.o.allowDownscale && allowDecrease && e) e = Math.max(e, m.evBarrier);
  if (e === 0) e = Math.max(0, ...p.map(([, n]) => n.exp));
  let q = Math.max(majority(e), majority(votes));
  if (!allowDecrease && m.quorum > q) q = m.quorum;
  if (m.o.twoNode && count <= 2) q = 1;
  return { q, votes };
}

function mTieBreak(m: Model): boolean {
  const isMember = (id: number) => m.nodes.get(id)?.state === NodeState.MEMBER;
  if (m.o.atb === AtbMode.LOWEST) return isMember(m.lowest);
  if (m.o.atb === AtbMode.HIGHEST) return isMember(m.highest);
  const firstHere = m.o.atbList.findIndex((id) => m.members.includes(id));
  if (firstHere < 0) return false;
  return !m.o.atbList.slice(0, firstHere).some((id) => m.prev.includes(id));
}

function mQuorate(m: Model, votes: number): void {
  if (m.o.waitForAll && m.wfa) {
    if (votes !== us(m).exp) return;
    mSetWfa(m, false);
  }
  let q = votes >= m.quorum;
  if (q) {
    const ids = [m.usId, ...present(m).map(([id]) => id)];
    m.lowest = Math.min(...ids);
    m.highest = Math.max(...ids);
    m.events.push(`ids=${m.lowest},${m.highest}`);
  }
  const half = Math.floor(us(m).exp / 2);
  if (
    m.o.atb !== AtbMode.NONE &&
    votes === half &&
    m.prev.length - m.members.length < m.quorum &&
    mTieBreak(m)
  ) {
    q = true;
  }
  if (!q && m.masterWins) {
    const both = NodeFlag.QDEVICE_MASTER_WINS | NodeFlag.QDEVICE_CAST_VOTE;
    if (present(m).some(([, n]) => (n.flags & both) === both)) q = true;
  }
  const changed = q !== m.quorate;
  m.quorate = q;
  us(m).flags = q ? us(m).flags | NodeFlag.QUORATE : us(m).flags & ~NodeFlag.QUORATE;
  if (m.o.waitForAll) mSetWfa(m, !q);
  if (changed && !m.syncing) m.events.push(`quorate=${q}`);
}

function mRecalc(m: Model, allowDecrease: boolean, byNodes: boolean): void {
  const p = present(m);
  const total = sum(p.map(([, n]) => n.votes)) + m.qdVotes;
  const count = p.length + (m.qdVotes ? 1 : 0);
  if (total > us(m).exp) {
    us(m).exp = total;
    m.events.push(`ev=${total}`);
  }
  if (m.o.evTracking && us(m).exp > m.evtBarrier) {
    m.evtBarrier = us(m).exp;
    m.events.push(`evt=${m.evtBarrier}`);
  }
  const r = mCalc(m, allowDecrease, byNodes ? count : 0);
  m.quorum = r.q;
  if (byNodes && count) for (const [, n] of present(m)) n.exp = count;
  mQuorate(m, r.votes);
}

function mNodeinfo(m: Model, from: number, msg: NodeinfoFields): void {
  if (msg.nodeId === 0) {
    const sender = m.nodes.get(from)!;
    const before = m.qdVotes;
    m.qdVotes = !m.quorate && sender.flags & NodeFlag.QUORATE ? msg.votes : Math.max(m.qdVotes, msg.votes);
    if (before !== m.qdVotes) mRecalc(m, false, false);
    return;
  }
  const old = m.nodes.get(msg.nodeId);
  const before = old ? { ...old } : undefined;
  const n: MNode = old ?? { state: 0, votes: 0, exp: 0, flags: 0 };
  if (!old) m.nodes.set(msg.nodeId, n);
  n.flags = msg.flags;
  n.votes = msg.votes;
  const leaving = (msg.flags & NodeFlag.LEAVING) !== 0;
  n.state = leaving ? NodeState.LEAVING : NodeState.MEMBER;
  let allowDecrease = leaving;
  const quorateSender = (msg.flags & NodeFlag.QUORATE) !== 0;
  if (!m.quorate && quorateSender) {
    allowDecrease = true;
    us(m).exp = msg.expectedVotes;
  }
  n.exp = quorateSender || m.o.evTracking ? msg.expectedVotes : us(m).exp;
  if (m.o.lms && n.votes > 1) {
    m.o.lms = false;
    m.events.push('lms-off');
  }
  const same =
    before &&
    before.votes === n.votes &&
    before.exp === n.exp &&
    before.flags === n.flags &&
    before.state === n.state;
  if (!same || msg.nodeId === m.usId || n.flags & NodeFlag.FIRST) mRecalc(m, allowDecrease, leaving);
  // the record's flags after the recalculation (for our own record they may have changed)
  if (m.o.waitForAll && !(n.flags & NodeFlag.WFASTATUS) && n.flags & NodeFlag.QUORATE) mSetWfa(m, false);
}

function mReconfigure(m: Model, param: number, nodeId: number, value: number): void {
  if (param === ReconfigParam.EXPECTED_VOTES) {
    if (value) for (const [, n] of present(m)) n.exp = value;
    m.events.push(`ev=${us(m).exp}`);
    m.evBarrier = value;
    if (m.o.evTracking) us(m).exp = Math.max(us(m).exp, m.evtBarrier);
    mRecalc(m, true, false);
  } else if (param === ReconfigParam.NODE_VOTES) {
    if (nodeId === 0) m.qdVotes = value;
    else if (m.nodes.has(nodeId)) m.nodes.get(nodeId)!.votes = value;
    else return;
    mRecalc(m, true, false);
  } else if (param === ReconfigParam.CANCEL_WFA) {
    mSetWfa(m, false);
    mRecalc(m, false, false);
  }
}

function mSyncInit(m: Model, members: number[]): boolean {
  m.syncing = true;
  if (members.length > 1) us(m).flags &= ~NodeFlag.FIRST;
  const gone = m.members.filter((id) => !members.includes(id));
  for (const id of gone) if (m.nodes.has(id)) m.nodes.get(id)!.state = NodeState.DEAD;
  const lowestHere = m.nodes.get(m.lowest)?.state === NodeState.MEMBER;
  const lms =
    m.o.lms &&
    ((members.length >= m.quorum && gone.length > 0) ||
      (members.length <= m.quorum && m.o.atb !== AtbMode.NONE && lowestHere));
  m.prev = m.members;
  m.members = [...members];
  return lms;
}

// ---------------------------------------------------------------------------------------
// Driving both

interface Scenario {
  opts: Opts;
  usId: number;
  all: number[];
  votes: Map<number, number>;
  expected: number;
  qdVotes: number;
}

function makeScenario(rng: Prng, forced?: Partial<Opts>): Scenario {
  const size = rng.int(1, 8);
  const ids = rng.shuffle([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 100, 4000000000]).slice(0, size);
  const usId = rng.pick(ids);
  const weighted = rng.bool(0.3);
  const votes = new Map(ids.map((id) => [id, weighted ? rng.int(0, 3) : 1]));
  const total = [...votes.values()].reduce((a, b) => a + b, 0);
  const atb = rng.pick([AtbMode.NONE, AtbMode.NONE, AtbMode.LOWEST, AtbMode.HIGHEST, AtbMode.LIST]);
  const opts: Opts = {
    twoNode: rng.bool(0.25),
    waitForAll: rng.bool(0.4),
    lms: rng.bool(0.3),
    atb,
    atbList: atb === AtbMode.LIST ? rng.shuffle(ids).slice(0, rng.int(1, ids.length)) : [],
    allowDownscale: rng.bool(0.2),
    evTracking: rng.bool(0.2),
    ...forced,
  };
  if (opts.allowDownscale) opts.evTracking = true;
  const qdVotes = rng.bool(0.2) ? rng.int(1, 3) : 0;
  return { opts, usId, all: ids, votes, expected: rng.bool(0.5) ? total : rng.int(1, total + 3), qdVotes };
}

function newModel(s: Scenario): Model {
  const m: Model = {
    o: { ...s.opts, atbList: [...s.opts.atbList] },
    usId: s.usId,
    nodes: new Map([
      [
        s.usId,
        { state: NodeState.MEMBER, votes: s.votes.get(s.usId)!, exp: s.expected, flags: NodeFlag.FIRST },
      ],
    ]),
    qdVotes: s.qdVotes,
    quorum: 0,
    quorate: false,
    wfa: false,
    evBarrier: 0,
    evtBarrier: 0,
    lowest: -1,
    highest: -1,
    members: [],
    prev: [],
    syncing: false,
    masterWins: false,
    events: [],
  };
  m.evBarrier = s.expected;
  if (m.o.waitForAll) mSetWfa(m, true);
  mRecalc(m, false, false);
  return m;
}

function newCore(s: Scenario, events: string[]): QuorumCore {
  const c = new QuorumCore(s.usId, {
    expectedVotesNotification: (e) => events.push(`ev=${e}`),
    evTrackingBarrier: (v) => events.push(`evt=${v}`),
    nodeIds: (lo, hi) => events.push(`ids=${lo},${hi}`),
    waitForAllStatus: (v) => events.push(`wfa=${v}`),
    quorateChanged: (q) => events.push(`quorate=${q}`),
    lmsDisabled: () => events.push('lms-off'),
  });
  c.twoNode = s.opts.twoNode;
  c.waitForAll = s.opts.waitForAll;
  c.lastManStanding = s.opts.lms;
  c.atb = s.opts.atb as AtbMode;
  c.atbList = [...s.opts.atbList];
  c.allowDownscale = s.opts.allowDownscale;
  c.evTracking = s.opts.evTracking;
  c.us.votes = s.votes.get(s.usId)!;
  c.us.expectedVotes = s.expected;
  c.qdevice.votes = s.qdVotes;
  c.evBarrier = s.expected;
  if (c.waitForAll) c.setWaitForAllStatus(true);
  c.recalculate(false, false);
  return c;
}

function snapshot(c: QuorumCore) {
  return {
    quorum: c.quorum,
    quorate: c.quorate,
    usExpected: c.us.expectedVotes,
    usFlags: c.us.flags,
    wfa: c.waitForAllStatus,
    evBarrier: c.evBarrier,
    evtBarrier: c.evTrackingBarrier,
    lowest: c.lowestNodeId,
    highest: c.highestNodeId,
    lms: c.lastManStanding,
    qdVotes: c.qdevice.votes,
    nodes: c.nodes().map((n) => [n.nodeId, n.state, n.votes, n.expectedVotes, n.flags]),
  };
}

function modelSnapshot(m: Model) {
  return {
    quorum: m.quorum,
    quorate: m.quorate,
    usExpected: us(m).exp,
    usFlags: us(m).flags,
    wfa: m.wfa,
    evBarrier: m.evBarrier,
    evtBarrier: m.evtBarrier,
    lowest: m.lowest,
    highest: m.highest,
    lms: m.o.lms,
    qdVotes: m.qdVotes,
    nodes: [...m.nodes.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([id, n]) => [id, n.state, n.votes, n.exp, n.flags]),
  };
}

function runSeed(seed: number, steps: number, forced?: Partial<Opts>): void {
  const rng = new Prng(seed);
  const s = makeScenario(rng, forced);
  const events: string[] = [];
  const core = newCore(s, events);
  const model = newModel(s);
  const where = (step: number, what: string) =>
    `seed ${seed} step ${step} (${what}); options ${JSON.stringify(s.opts)} us=${s.usId}`;
  const check = (step: number, what: string) => {
    assert.deepEqual(snapshot(core), modelSnapshot(model), where(step, what));
    assert.deepEqual(events, model.events, where(step, what) + ' events');
    // a side query must agree too
    const maxExp = rng.int(0, 12);
    const dec = rng.bool();
    const a = core.calculateQuorum(dec, maxExp);
    const b = mCalc(model, dec, maxExp);
    assert.deepEqual([a.quorum, a.totalVotes], [b.q, b.votes], where(step, `calculate(${dec}, ${maxExp})`));
  };
  check(0, 'init');
  const peerFlags = () => {
    let f = 0;
    if (rng.bool(0.4)) f |= NodeFlag.QUORATE;
    if (rng.bool(0.3)) f |= NodeFlag.WFASTATUS;
    if (rng.bool(0.15)) f |= NodeFlag.FIRST;
    if (rng.bool(0.05)) f |= NodeFlag.LEAVING;
    if (rng.bool(0.1)) f |= NodeFlag.QDEVICE_CAST_VOTE | (rng.bool() ? NodeFlag.QDEVICE_MASTER_WINS : 0);
    return f;
  };
  const peerInfo = (id: number): NodeinfoFields => ({
    nodeId: id,
    votes: rng.bool(0.9) ? s.votes.get(id)! : rng.int(0, 3),
    expectedVotes: rng.int(1, 12),
    flags: peerFlags(),
  });
  for (let step = 1; step <= steps; step++) {
    const roll = rng.int(0, 99);
    let what: string;
    if (roll < 45) {
      // a sync round: members, NODEINFOs in an agreed order, activation
      const others = s.all.filter((id) => id !== s.usId && rng.bool(0.6));
      const members = [s.usId, ...others].sort((a, b) => a - b);
      what = `sync ${members.join(',')}`;
      const r = core.syncInit(members);
      const lms = mSyncInit(model, members);
      assert.equal(r.startLmsTimer, lms, where(step, what + ' lms timer'));
      // each member sends NODEINFO(itself) then NODEINFO(qdevice); senders interleave
      const order = rng.shuffle(members);
      for (const id of order) {
        const msg: NodeinfoFields =
          id === s.usId
            ? { nodeId: id, votes: core.us.votes, expectedVotes: core.us.expectedVotes, flags: core.us.flags }
            : peerInfo(id);
        core.nodeinfo(id, msg);
        mNodeinfo(model, id, msg);
        const q = { nodeId: 0, votes: rng.bool(0.8) ? s.qdVotes : rng.int(0, 3), expectedVotes: 0, flags: 0 };
        core.nodeinfo(id, q);
        mNodeinfo(model, id, q);
      }
      core.syncActivate();
      mRecalc(model, false, false);
      model.syncing = false;
    } else if (roll < 60) {
      const id = rng.pick(model.members.length ? model.members : [s.usId]);
      const msg: NodeinfoFields =
        id === s.usId
          ? { nodeId: id, votes: core.us.votes, expectedVotes: core.us.expectedVotes, flags: core.us.flags }
          : peerInfo(id);
      what = `nodeinfo ${JSON.stringify(msg)}`;
      core.nodeinfo(id, msg);
      mNodeinfo(model, id, msg);
    } else if (roll < 75) {
      const param = rng.pick([
        ReconfigParam.EXPECTED_VOTES,
        ReconfigParam.NODE_VOTES,
        ReconfigParam.CANCEL_WFA,
      ]);
      const nodeId = rng.bool(0.2) ? 0 : rng.pick(s.all);
      const value = rng.int(0, 12);
      what = `reconfigure ${param} ${nodeId} ${value}`;
      core.reconfigure(param, nodeId, value);
      mReconfigure(model, param, nodeId, value);
    } else if (roll < 85) {
      what = 'lms expiry';
      core.lmsTimerExpired();
      if (model.quorate) mRecalc(model, true, true);
    } else if (roll < 92) {
      what = 'master wins';
      const v = rng.bool();
      core.qdeviceMasterWins = v;
      model.masterWins = v;
    } else {
      what = 'qdevice cast vote';
      const cast = rng.bool();
      if (cast) core.us.flags |= NodeFlag.QDEVICE_CAST_VOTE;
      else core.us.flags &= ~NodeFlag.QDEVICE_CAST_VOTE;
      us(model).flags = cast
        ? us(model).flags | NodeFlag.QDEVICE_CAST_VOTE
        : us(model).flags & ~NodeFlag.QDEVICE_CAST_VOTE;
    }
    check(step, what);
  }
}

describe('votequorum quorum math: differential against a naive model', () => {
  it('random scenarios (seeds 1..400, 80 steps each)', () => {
    for (let seed = 1; seed <= 400; seed++) runSeed(seed, 80);
  });

  it('every option combination (two_node × wfa × lms × atb × allow_downscale × ev_tracking)', () => {
    let seed = 10000;
    for (const twoNode of [false, true])
      for (const waitForAll of [false, true])
        for (const lms of [false, true])
          for (const atb of [AtbMode.NONE, AtbMode.LOWEST, AtbMode.HIGHEST, AtbMode.LIST])
            for (const allowDownscale of [false, true])
              for (const evTracking of [false, true])
                for (let k = 0; k < 4; k++) {
                  const forced: Partial<Opts> = { twoNode, waitForAll, lms, atb, allowDownscale, evTracking };
                  if (atb !== AtbMode.LIST) forced.atbList = [];
                  runSeed(seed++, 60, forced);
                }
  });
});

describe('votequorum quorum math: fixed cases', () => {
  function core(n: number, expected: number, opts: Partial<QuorumCore> = {}): QuorumCore {
    const c = new QuorumCore(1);
    Object.assign(c, opts);
    c.us.expectedVotes = expected;
    c.evBarrier = expected;
    if (c.waitForAll) c.setWaitForAllStatus(true);
    c.recalculate(false, false);
    const members = Array.from({ length: n }, (_, i) => i + 1);
    c.syncInit(members);
    for (const id of members) {
      const f = id === 1 ? c.us.flags : 0;
      c.nodeinfo(id, { nodeId: id, votes: 1, expectedVotes: expected, flags: f });
    }
    c.syncActivate();
    return c;
  }

  it('a strict majority of max(expected, present votes)', () => {
    assert.deepEqual([core(3, 5).quorum, core(3, 5).quorate], [3, true]);
    assert.deepEqual([core(2, 5).quorum, core(2, 5).quorate], [3, false]);
    assert.deepEqual([core(4, 4).quorum, core(2, 4).quorate], [3, false]);
    // present votes above expected raise expected votes
    const c = core(6, 4);
    assert.equal(c.us.expectedVotes, 6);
    assert.equal(c.quorum, 4);
  });

  it('two_node: quorum 1 with two voters; wait_for_all holds the first quorum', () => {
    const c = core(1, 2, { twoNode: true });
    assert.equal(c.quorum, 1);
    assert.equal(c.quorate, true);
    const w = core(1, 2, { twoNode: true, waitForAll: true });
    assert.equal(w.quorate, false);
    assert.equal(w.waitForAllStatus, true);
    assert.equal(core(2, 2, { twoNode: true, waitForAll: true }).quorate, true);
  });

  it('ATB lowest: the half with the lowest nodeid of the last quorate period wins', () => {
    const c = core(4, 4, { atb: AtbMode.LOWEST });
    assert.equal(c.lowestNodeId, 1);
    c.syncInit([1, 2]);
    c.syncActivate();
    assert.equal(c.quorate, true);
    const d = new QuorumCore(3);
    d.atb = AtbMode.LOWEST;
    d.us.expectedVotes = 4;
    d.recalculate(false, false);
    d.syncInit([1, 2, 3, 4]);
    for (const id of [1, 2, 3, 4])
      d.nodeinfo(id, { nodeId: id, votes: 1, expectedVotes: 4, flags: id === 3 ? d.us.flags : 0 });
    d.syncActivate();
    assert.equal(d.lowestNodeId, 1);
    d.syncInit([3, 4]);
    d.syncActivate();
    assert.equal(d.quorate, false);
  });

  it('parses auto_tie_breaker_node like strtol', () => {
    assert.deepEqual(parseAtbString('lowest'), { mode: AtbMode.LOWEST, list: [] });
    assert.deepEqual(parseAtbString('highest'), { mode: AtbMode.HIGHEST, list: [] });
    assert.deepEqual(parseAtbString('3 1  2'), { mode: AtbMode.LIST, list: [3, 1, 2] });
    assert.deepEqual(parseAtbString('3 0 2'), { mode: AtbMode.LIST, list: [3] });
    assert.deepEqual(parseAtbString('4 x 2'), { mode: AtbMode.LIST, list: [4] });
    assert.deepEqual(parseAtbString('0 1'), { mode: AtbMode.NONE, list: [] });
    assert.deepEqual(parseAtbString('nodes'), { mode: AtbMode.NONE, list: [] });
  });

  it('recycles the first DEAD record once 386 records are used', () => {
    const c = new QuorumCore(1);
    for (let id = 2; id <= 385; id++) assert.ok(c.allocate(id));
    assert.equal(c.allocate(1000), undefined, 'no DEAD record to recycle');
    c.find(7)!.state = NodeState.DEAD;
    c.find(9)!.state = NodeState.DEAD;
    const n = c.allocate(1000);
    assert.ok(n);
    assert.equal(c.find(7), undefined);
    assert.ok(c.find(9));
    assert.equal(c.nodes().at(-1)!.nodeId, 1000);
  });
});
