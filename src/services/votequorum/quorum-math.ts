/**
 * votequorum's vote arithmetic and node table (spec votequorum.md §1, §2, §4, §5.1–§5.2, §9),
 * kept apart from messages, IPC and icmap so it can be checked on its own (the differential
 * property test in test/unit/votequorum-math.test.ts compares it with a naive model).
 *
 * {@link QuorumCore} holds what corosync keeps in globals: the node table (sorted by nodeid,
 * including the local node "us"; the qdevice pseudo record aside), the current quorum and
 * quorate flag, the wait-for-all status, the expected-votes barriers, the member lists of the
 * last two syncs and the options that change the arithmetic. Everything the service must turn
 * into output (notifications, icmap keys, the quorum engine callback, logs) leaves through
 * {@link QuorumHooks}, called synchronously.
 *
 * Pure: no clocks, timers, I/O. Numbers are unsigned 32-bit as in corosync, except `quorum`:
 * corosync 3.1.7 stores it in a uint8_t, so a quorum above 255 wraps there. We keep the full
 * value (deviation: only visible in GETINFO of clusters with more than 510 votes).
 */

/** `nodestate_t` / `VOTEQUORUM_NODESTATE_*`. The qdevice record has state 0. */
export const NodeState = { MEMBER: 1, DEAD: 2, LEAVING: 3 } as const;
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

/** Node flags carried in NODEINFO (spec §1). */
export const NodeFlag = {
  QUORATE: 1,
  LEAVING: 2,
  WFASTATUS: 4,
  FIRST: 8,
  QDEVICE_REGISTERED: 16,
  QDEVICE_ALIVE: 32,
  QDEVICE_CAST_VOTE: 64,
  QDEVICE_MASTER_WINS: 128,
} as const;

/** Auto tie breaker modes (also `runtime.votequorum.atb_type`). */
export const AtbMode = { NONE: 0, LOWEST: 1, HIGHEST: 2, LIST: 3 } as const;
export type AtbMode = (typeof AtbMode)[keyof typeof AtbMode];

/** RECONFIGURE params (spec §1). */
export const ReconfigParam = { EXPECTED_VOTES: 1, NODE_VOTES: 2, CANCEL_WFA: 3 } as const;

/** `VOTEQUORUM_QDEVICE_NODEID`: the qdevice pseudo node. */
export const QDEVICE_NODEID = 0;

/**
 * Records corosync preallocates (PROCESSOR_COUNT_MAX + 2, the qdevice included). Past that a
 * DEAD record is recycled.
 */
export const NODE_TABLE_CAPACITY = 386;

/** One record of the node table. */
export interface VqNode {
  readonly nodeId: number;
  state: number;
  votes: number;
  expectedVotes: number;
  flags: number;
}

/** A NODEINFO's payload (spec §5.1). */
export interface NodeinfoFields {
  readonly nodeId: number;
  readonly votes: number;
  readonly expectedVotes: number;
  readonly flags: number;
}

export type QuorumLogLevel = 'debug' | 'info' | 'notice' | 'warn' | 'crit';

/** Output of the core. Every hook is optional. */
export interface QuorumHooks {
  /** Send the EXPECTEDVOTES notification to trackers (value: us.expectedVotes). */
  expectedVotesNotification?(expected: number): void;
  /** The expected-votes tracking barrier rose: persist it, publish the runtime key. */
  evTrackingBarrier?(value: number): void;
  /** ev_barrier changed (runtime.votequorum.ev_barrier). */
  evBarrier?(value: number): void;
  /** lowest/highest MEMBER nodeid recomputed while quorate (runtime.votequorum.*_node_id). */
  nodeIds?(lowest: number, highest: number): void;
  /** wait_for_all_status written (corosync rewrites the key every time). */
  waitForAllStatus?(status: boolean): void;
  /** The quorate state changed outside a sync: quorum engine callback + QUORUM notification. */
  quorateChanged?(quorate: boolean): void;
  /** last_man_standing was switched off (a node with more than one vote appeared). */
  lmsDisabled?(): void;
  log?(level: QuorumLogLevel, msg: string): void;
}

/** Result of {@link QuorumCore.calculateQuorum}. */
export interface QuorumCalc {
  readonly quorum: number;
  /** Votes of MEMBER nodes, plus the qdevice's when our qdevice casts its vote. */
  readonly totalVotes: number;
  /** MEMBER nodes, plus one for a voting qdevice. */
  readonly totalNodes: number;
}

/** Result of {@link QuorumCore.syncInit}. */
export interface SyncInitResult {
  /** Some member of the previous sync is not in the new member list. */
  readonly nodesLeft: boolean;
  /** The last-man-standing timer must be (re)started now. */
  readonly startLmsTimer: boolean;
}

function u32(n: number): number {
  return n >>> 0;
}

/** The vote arithmetic and node table of one votequorum instance. */
export class QuorumCore {
  // ---- options (set by the configuration reader) ----
  twoNode = false;
  waitForAll = false;
  lastManStanding = false;
  atb: AtbMode = AtbMode.NONE;
  /** Tie-breaker nodes for ATB LIST, in configured order. */
  atbList: number[] = [];
  allowDownscale = false;
  evTracking = false;

  // ---- state ----
  quorum = 0;
  quorate = false;
  waitForAllStatus = false;
  evBarrier = 0;
  evTrackingBarrier = 0;
  /** As of the last quorate recalculation; -1 before the first. */
  lowestNodeId = -1;
  highestNodeId = -1;
  /** Member list of the last sync (quorum_members) and of the one before. */
  members: number[] = [];
  previousMembers: number[] = [];
  syncInProgress = false;
  /** Local qdevice enabled master-wins (set through IPC). */
  qdeviceMasterWins = false;

  readonly us: VqNode;
  readonly qdevice: VqNode;
  /** MEMBER/DEAD/LEAVING records, ascending nodeid, `us` included. */
  private readonly table: VqNode[] = [];
  /** Records allocated so far (the qdevice counts, as in corosync). */
  private allocated = 0;
  private readonly hooks: QuorumHooks;

  constructor(nodeId: number, hooks: QuorumHooks = {}) {
    this.hooks = hooks;
    this.qdevice = { nodeId: QDEVICE_NODEID, state: 0, votes: 0, expectedVotes: 0, flags: 0 };
    this.allocated = 1;
    const us = this.allocate(u32(nodeId));
    if (!us) throw new Error('votequorum: could not allocate our node record');
    this.us = us;
    us.state = NodeState.MEMBER;
    us.votes = 1;
    us.flags = NodeFlag.FIRST;
  }

  // ---- node table ----

  /** All records (DEAD/LEAVING included), ascending nodeid. Do not modify the array. */
  nodes(): readonly VqNode[] {
    return this.table;
  }

  /** corosync's find_node_by_nodeid: us, the qdevice (0) or a table record. */
  find(nodeId: number): VqNode | undefined {
    const id = u32(nodeId);
    if (id === this.us.nodeId) return this.us;
    if (id === QDEVICE_NODEID) return this.qdevice;
    return this.table.find((n) => n.nodeId === id);
  }

  /**
   * A new zeroed record in nodeid order; past {@link NODE_TABLE_CAPACITY} records the first
   * DEAD one (never us) is recycled. undefined when the table is full of live nodes (corosync
   * would then overwrite its last record; we refuse).
   */
  allocate(nodeId: number): VqNode | undefined {
    if (this.allocated >= NODE_TABLE_CAPACITY) {
      const i = this.table.findIndex((n) => n.state === NodeState.DEAD && n !== this.us);
      if (i < 0) {
        this.log('crit', `Unable to find memory for node ${nodeId} data!!`);
        return undefined;
      }
      this.table.splice(i, 1);
    } else {
      this.allocated++;
    }
    const node: VqNode = { nodeId: u32(nodeId), state: 0, votes: 0, expectedVotes: 0, flags: 0 };
    let at = this.table.findIndex((n) => node.nodeId < n.nodeId);
    if (at < 0) at = this.table.length;
    this.table.splice(at, 0, node);
    return node;
  }

  private memberNodes(): VqNode[] {
    return this.table.filter((n) => n.state === NodeState.MEMBER);
  }

  /** Highest expected votes and Σ votes over MEMBER records (GETINFO's fields, no qdevice). */
  memberTotals(): { highestExpected: number; totalVotes: number } {
    let highestExpected = 0;
    let totalVotes = 0;
    for (const n of this.memberNodes()) {
      highestExpected = Math.max(highestExpected, n.expectedVotes);
      totalVotes = u32(totalVotes + n.votes);
    }
    return { highestExpected, totalVotes };
  }

  // ---- quorum arithmetic (§4.1–§4.3) ----

  /** §4.1 calculate_quorum. Pure: changes nothing. */
  calculateQuorum(allowDecrease: boolean, maxExpected: number): QuorumCalc {
    let max = u32(maxExpected);
    if (this.allowDownscale && allowDecrease && max !== 0) max = Math.max(this.evBarrier, max);
    let highestExpected = 0;
    let totalVotes = 0;
    let totalNodes = 0;
    for (const n of this.memberNodes()) {
      highestExpected = Math.max(highestExpected, n.expectedVotes);
      totalVotes = u32(totalVotes + n.votes);
      totalNodes++;
    }
    if (this.us.flags & NodeFlag.QDEVICE_CAST_VOTE) {
      totalVotes = u32(totalVotes + this.qdevice.votes);
      totalNodes++;
    }
    if (max > 0) highestExpected = max;
    // a strict majority of the larger of expected and present votes
    let quorum = Math.max(Math.floor((highestExpected + 2) / 2), Math.floor((totalVotes + 2) / 2));
    if (!allowDecrease) quorum = Math.max(this.quorum, quorum);
    if (this.twoNode && totalNodes <= 2) quorum = 1;
    return { quorum, totalVotes, totalNodes };
  }

  /** Set every MEMBER record's expected votes (0 = leave them). */
  updateNodeExpectedVotes(expected: number): void {
    if (!expected) return;
    for (const n of this.memberNodes()) n.expectedVotes = u32(expected);
  }

  /** wait_for_all_status and the WFASTATUS flag of us. */
  setWaitForAllStatus(status: boolean): void {
    this.waitForAllStatus = status;
    if (status) this.us.flags |= NodeFlag.WFASTATUS;
    else this.us.flags &= ~NodeFlag.WFASTATUS;
    this.hooks.waitForAllStatus?.(status);
  }

  setEvBarrier(value: number): void {
    this.evBarrier = u32(value);
    this.hooks.evBarrier?.(this.evBarrier);
  }

  /** §4.2 recalculate_quorum. */
  recalculate(allowDecrease: boolean, byCurrentNodes: boolean): void {
    let total = 0;
    let count = 0;
    for (const n of this.memberNodes()) {
      total = u32(total + n.votes);
      count++;
    }
    if (this.qdevice.votes) {
      total = u32(total + this.qdevice.votes);
      count++;
    }
    if (!byCurrentNodes) count = 0;
    if (total > this.us.expectedVotes) {
      this.us.expectedVotes = total;
      this.hooks.expectedVotesNotification?.(this.us.expectedVotes);
    }
    if (this.evTracking && this.us.expectedVotes > this.evTrackingBarrier) {
      this.evTrackingBarrier = this.us.expectedVotes;
      this.hooks.evTrackingBarrier?.(this.evTrackingBarrier);
    }
    const calc = this.calculateQuorum(allowDecrease, count);
    this.quorum = calc.quorum;
    this.updateNodeExpectedVotes(count);
    this.areWeQuorate(calc.totalVotes);
  }

  private isMember(nodeId: number): boolean {
    return this.table.some((n) => n.state === NodeState.MEMBER && n.nodeId === nodeId);
  }

  /** The tie-breaker test of §4.3 step 3 for the current ATB mode. */
  tieBreakerAllows(): boolean {
    if (this.atb === AtbMode.LOWEST) return this.isMember(this.lowestNodeId);
    if (this.atb === AtbMode.HIGHEST) return this.isMember(this.highestNodeId);
    for (let i = 0; i < this.atbList.length; i++) {
      if (!this.members.includes(this.atbList[i]!)) continue;
      // an earlier tie-breaker seen last time but not here may be quorate elsewhere
      for (let j = 0; j < i; j++) if (this.previousMembers.includes(this.atbList[j]!)) return false;
      return true;
    }
    return false;
  }

  /** Some MEMBER node's qdevice casts its vote with master-wins enabled. */
  masterWinsPartition(): boolean {
    const need = NodeFlag.QDEVICE_MASTER_WINS | NodeFlag.QDEVICE_CAST_VOTE;
    return this.memberNodes().some((n) => (n.flags & need) === need);
  }

  /** §4.3 are_we_quorate. */
  areWeQuorate(totalVotes: number): void {
    if (this.waitForAll && this.waitForAllStatus) {
      if (totalVotes !== this.us.expectedVotes) {
        this.log(
          'notice',
          `Waiting for all cluster members. Current votes: ${totalVotes} expected_votes: ${this.us.expectedVotes}`,
        );
        return;
      }
      this.setWaitForAllStatus(false);
    }
    let quorate = this.quorum <= totalVotes;
    if (quorate) {
      let lo = this.us.nodeId;
      let hi = this.us.nodeId;
      for (const n of this.memberNodes()) {
        lo = Math.min(lo, n.nodeId);
        hi = Math.max(hi, n.nodeId);
      }
      this.lowestNodeId = lo;
      this.highestNodeId = hi;
      this.hooks.nodeIds?.(lo, hi);
    }
    if (
      this.atb !== AtbMode.NONE &&
      totalVotes === Math.floor(this.us.expectedVotes / 2) &&
      this.previousMembers.length - this.members.length < this.quorum &&
      this.tieBreakerAllows()
    ) {
      quorate = true;
    }
    if (this.qdeviceMasterWins && !quorate && this.masterWinsPartition()) {
      this.log('debug', 'node is quorate as part of master_wins partition');
      quorate = true;
    }
    const changed = quorate !== this.quorate;
    if (changed)
      this.log('debug', quorate ? 'quorum regained, resuming activity' : 'quorum lost, blocking activity');
    this.quorate = quorate;
    if (quorate) this.us.flags |= NodeFlag.QUORATE;
    else this.us.flags &= ~NodeFlag.QUORATE;
    if (this.waitForAll) this.setWaitForAllStatus(!quorate);
    if (changed && !this.syncInProgress) this.hooks.quorateChanged?.(quorate);
  }

  // ---- message effects (§5.1, §5.2) ----

  /**
   * NODEINFO from `sender` describing `msg.nodeId` (§5.1). Returns false when the message was
   * ignored (no record could be allocated, or a qdevice NODEINFO from a node we do not know).
   */
  nodeinfo(sender: number, msg: NodeinfoFields): boolean {
    const id = u32(msg.nodeId);
    let node = this.find(id);
    let isNew = false;
    if (id === QDEVICE_NODEID) {
      const from = this.find(sender);
      if (!from || from === this.qdevice) {
        // corosync asserts; the sender's own NODEINFO always precedes its qdevice NODEINFO
        this.log('warn', `qdevice nodeinfo from unknown node ${sender} ignored`);
        return false;
      }
      const old = this.qdevice.votes;
      if (!this.quorate && from.flags & NodeFlag.QUORATE) this.qdevice.votes = u32(msg.votes);
      else this.qdevice.votes = Math.max(this.qdevice.votes, u32(msg.votes));
      if (old !== this.qdevice.votes) this.recalculate(false, false);
      return true;
    }
    if (!node) {
      node = this.allocate(id);
      if (!node) return false;
      isNew = true;
    }
    const old = isNew
      ? { votes: 0, expectedVotes: 0, state: NodeState.DEAD as number, flags: 0 }
      : { votes: node.votes, expectedVotes: node.expectedVotes, state: node.state, flags: node.flags };
    let allowDecrease = false;
    let byNode = false;
    node.flags = u32(msg.flags);
    node.votes = u32(msg.votes);
    node.state = NodeState.MEMBER;
    if (node.flags & NodeFlag.LEAVING) {
      node.state = NodeState.LEAVING;
      allowDecrease = true;
      byNode = true;
    }
    if (!this.quorate && node.flags & NodeFlag.QUORATE) {
      // joining a quorate partition: adopt its expected votes
      allowDecrease = true;
      this.us.expectedVotes = u32(msg.expectedVotes);
    }
    node.expectedVotes =
      node.flags & NodeFlag.QUORATE || this.evTracking ? u32(msg.expectedVotes) : this.us.expectedVotes;
    if (this.lastManStanding && node.votes > 1) {
      this.log(
        'warn',
        'Last Man Standing feature is supported only when all cluster nodes votes are set to 1. Disabling LMS.',
      );
      this.lastManStanding = false;
      this.hooks.lmsDisabled?.();
    }
    if (
      isNew ||
      node === this.us ||
      node.flags & NodeFlag.FIRST ||
      old.votes !== node.votes ||
      old.expectedVotes !== node.expectedVotes ||
      old.flags !== node.flags ||
      old.state !== node.state
    ) {
      this.recalculate(allowDecrease, byNode);
    }
    if (this.waitForAll && !(node.flags & NodeFlag.WFASTATUS) && node.flags & NodeFlag.QUORATE) {
      this.setWaitForAllStatus(false);
    }
    return true;
  }

  /** RECONFIGURE (§5.2). Unknown params and unknown nodes are ignored. */
  reconfigure(param: number, nodeId: number, value: number): void {
    switch (param) {
      case ReconfigParam.EXPECTED_VOTES:
        this.updateNodeExpectedVotes(value);
        this.hooks.expectedVotesNotification?.(this.us.expectedVotes);
        this.setEvBarrier(value);
        if (this.evTracking) this.us.expectedVotes = Math.max(this.us.expectedVotes, this.evTrackingBarrier);
        this.recalculate(true, false);
        return;
      case ReconfigParam.NODE_VOTES: {
        const node = this.find(nodeId);
        if (!node) return;
        node.votes = u32(value);
        this.recalculate(true, false);
        return;
      }
      case ReconfigParam.CANCEL_WFA:
        this.setWaitForAllStatus(false);
        this.log('info', `wait_for_all_status reset by user on node ${u32(nodeId)}.`);
        this.recalculate(false, false);
        return;
      default:
        this.log('debug', `unknown reconfigure param ${param} ignored`);
    }
  }

  // ---- sync (§9) and the LMS timer (§4.4) ----

  /**
   * sync_init: mark vanished members DEAD, decide on the LMS timer, rotate the member lists.
   * Sets syncInProgress.
   */
  syncInit(memberList: readonly number[]): SyncInitResult {
    this.syncInProgress = true;
    if (memberList.length > 1) this.us.flags &= ~NodeFlag.FIRST;
    let nodesLeft = false;
    for (const id of this.members) {
      if (memberList.includes(id)) continue;
      nodesLeft = true;
      const node = this.find(id);
      if (node) node.state = NodeState.DEAD;
    }
    const count = memberList.length;
    const startLmsTimer =
      this.lastManStanding &&
      ((count >= this.quorum && nodesLeft) ||
        (count <= this.quorum && this.atb !== AtbMode.NONE && this.isMember(this.lowestNodeId)));
    this.previousMembers = this.members;
    this.members = memberList.map(u32);
    return { nodesLeft, startLmsTimer };
  }

  /** sync_activate's arithmetic part: recalculate without decrease; clears syncInProgress. */
  syncActivate(): void {
    this.recalculate(false, false);
    this.syncInProgress = false;
  }

  /** The last-man-standing window expired: shrink expected votes to who is here, if quorate. */
  lmsTimerExpired(): void {
    if (this.quorate) this.recalculate(true, true);
  }

  private log(level: QuorumLogLevel, msg: string): void {
    this.hooks.log?.(level, msg);
  }
}

/**
 * Parse `quorum.auto_tie_breaker_node` (spec §3 step 8): "lowest", "highest", or a
 * whitespace-separated list of nodeids read up to the first 0 or non-number (C strtol/atoi
 * semantics: a list only if the string starts with a non-zero integer). NONE = nothing valid.
 */
export function parseAtbString(s: string): { mode: AtbMode; list: number[] } {
  let mode: AtbMode = AtbMode.NONE;
  if (s === 'lowest') mode = AtbMode.LOWEST;
  if (s === 'highest') mode = AtbMode.HIGHEST;
  const list: number[] = [];
  if (cAtoi(s) !== 0) {
    let rest = s;
    for (;;) {
      const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(rest);
      if (!m) break;
      const num = Number(m[1]);
      if (num === 0) break;
      list.push(u32(num));
      rest = rest.slice(m[0].length);
    }
    if (list.length > 0) mode = AtbMode.LIST;
  }
  return { mode, list };
}

function cAtoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}
