/**
 * The CPG service engine (corosync 3.1.7 exec/cpg.c behaviour, spec cpg.md): closed process
 * groups on top of the exec layer.
 *
 * - Cluster logic: the `process_info` list (src/services/cpg/groups.ts) changes only in agreed
 *   order — exec PROCJOIN/PROCLEAVE deliveries and sync activation — so it is identical on every
 *   node. Each change produces CONFCHG callbacks for the local connections of that group.
 * - Sync hooks: DOWNLIST then JOINLIST in `process`, NODEDOWN / NODEUP / zombie PROCDOWN
 *   confchgs and the TOTEM_CONFCHG in `activate`.
 * - IPC lib handlers 0..12 with corosync's response structs (codec.ts), per-connection state
 *   (UNJOINED → JOIN_STARTED → JOIN_COMPLETED → LEAVE_STARTED), iteration snapshots.
 *
 * Pure: no sockets, timers or clocks. Messages go out through `ExecApi.mcast`, callbacks through
 * `IpcConnection.sendEvent` (which only queues). Malformed exec messages and IPC frames are
 * counted and dropped, never thrown.
 *
 * Where 3.1.7 has a client-visible bug that does not change what goes on the wire for a
 * well-behaved client, this engine does what the API documents; each place is marked
 * "Deviation from 3.1.7" below.
 */
import { Buffer } from 'node:buffer';
import { sequentialHandleChecks, type HandleCheckSource } from '../../ipc/handle-check.js';
import { CsErrorCode } from '../../common/errors.js';
import { PROCESSOR_COUNT_MAX, TotemGuarantee, type CodecResult } from '../../exec/codec.js';
import type { ExecApi, ServiceEngine, SyncHooks } from '../../exec/service-engine.js';
import type { IpcConnection, IpcLogger, IpcServiceDefinition } from '../../ipc/server.js';
import { type RingId, ZERO_RING_ID } from '../../totem/wire/index.js';
import {
  type CpgAddress,
  type CpgName,
  type CpgRequest,
  type CpgExecMessage,
  type CpgMcast,
  type CpgPartialMcast,
  CPG_MAX_ATOMIC_MSG_SIZE,
  CPG_MEMBERSHIP_MAX,
  CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
  CPG_REQUEST_COUNT,
  CpgExecFn,
  CpgIterationType,
  CpgPartialType,
  CpgReason,
  CpgReqId,
  CpgResId,
  cpgNameEquals,
  cpgNameToString,
  decodeCpgExec,
  decodeCpgRequest,
  encodeCpgBareResponse,
  encodeCpgDeliverCallback,
  encodeCpgDownlist,
  encodeCpgJoinList,
  encodeCpgMcastHeader,
  patchCpgMcastHeader,
  encodeCpgPartialDeliverCallbackHeader,
  encodeCpgPartialMcastHeader,
  encodeCpgProcJoin,
  encodeCpgProcLeave,
  encodeCpgResponse,
} from './codec.js';
import {
  type CpgProcess,
  GroupAccumulator,
  ProcessList,
  nodedownGroupKey,
  nodeupGroupKey,
} from './groups.js';
import { readInt32LE } from '../../common/bytes.js';

/** corosync service id of cpg (CPG_SERVICE). */
export const CPG_SERVICE_ID = 2;
/** IPC name of cpg. */
export const CPG_SERVICE_NAME = 'cpg';
/** CPG_MEMBERS_MAX: libcpg copies at most this many entries per confchg list into stack arrays. */
export const CPG_MEMBERS_MAX = 128;

/** Per-connection state (`enum cpd_state`). */
export const CpdState = {
  UNJOINED: 0,
  LEAVE_STARTED: 1,
  JOIN_STARTED: 2,
  JOIN_COMPLETED: 3,
} as const;
export type CpdState = (typeof CpdState)[keyof typeof CpdState];

/**
 * Lib functions marked CS_LIB_FLOW_CONTROL_REQUIRED in corosync's cpg_lib_engine: join, leave,
 * mcast, finalize, zc_alloc, zc_free, zc_execute, partial_mcast (spec cpg.md §7).
 */
const FLOW_CONTROL_REQUIRED: readonly boolean[] = [
  true, // 0 JOIN
  true, // 1 LEAVE
  true, // 2 MCAST
  false, // 3 MEMBERSHIP
  false, // 4 LOCAL_GET
  false, // 5 ITERATIONINITIALIZE
  false, // 6 ITERATIONNEXT
  false, // 7 ITERATIONFINALIZE
  true, // 8 FINALIZE
  true, // 9 ZC_ALLOC
  true, // 10 ZC_FREE
  true, // 11 ZC_EXECUTE
  true, // 12 PARTIAL_MCAST
];

/** True when lib function `id` is "flow control required" (refused with TRY_AGAIN during sync). */
export function cpgFlowControlRequired(id: number): boolean {
  return FLOW_CONTROL_REQUIRED[id] ?? false;
}

/** The empty group name an unjoined connection carries (corosync zeroes it). */
const EMPTY_NAME: CpgName = Object.freeze({ length: 0, value: Buffer.alloc(128) });

const OK = CsErrorCode.CS_OK;

export interface CpgServiceOptions {
  logger?: IpcLogger;
  /**
   * Largest message of one MCAST request and largest fragment of one PARTIAL_MCAST request
   * (default 1 047 552 = libcpg's max atomic message size). Bigger MCASTs are dropped (they
   * have no reply), bigger fragments answered CS_ERR_TOO_BIG.
   */
  maxMessageSize?: number;
  /**
   * A local join is refused with CS_ERR_NO_SPACE when its group already has this many
   * processes cluster-wide (default 128, CPG_MEMBERS_MAX: libcpg's confchg arrays hold 128
   * entries per list; larger groups overflow C clients).
   */
  maxMembersPerGroup?: number;
  /** A local join that would create a group beyond this many is refused with CS_ERR_TOO_MANY_GROUPS (default 65536). */
  maxGroups?: number;
  /** Open iterations per connection (default 1024); beyond: CS_ERR_NO_MEMORY, as when corosync cannot create a handle. */
  maxIterationsPerConnection?: number;
  /** JOINLIST entries stored per sync round (default 65536); beyond: dropped and logged. */
  maxJoinlistEntries?: number;
  /** Check words of iteration handles (default deterministic; the daemon passes random ones). */
  random?: HandleCheckSource;
  /**
   * A connection's zero-copy buffer table (files: runtime shell, injected by the daemon). Without
   * it ZC_ALLOC/ZC_FREE are answered and ignored and ZC_EXECUTE gets CS_ERR_NOT_SUPPORTED.
   */
  zeroCopy?: () => ZeroCopyTable;
}

/** What the CPG service needs of a connection's zero-copy buffers (the daemon injects them: src/daemon/cpg-zerocopy.ts). */
export interface ZeroCopyTable {
  alloc(path: string, mapSize: bigint): { token: bigint } | { error: string };
  readFrame(token: bigint): { frame: Buffer } | { error: string };
  free(token: bigint): void;
  closeAll(): void;
}

/** An iteration snapshot (ITERATIONINITIALIZE .. ITERATIONFINALIZE). */
interface Iteration {
  readonly items: readonly CpgProcess[];
  next: number;
}

/** Per-connection private data (corosync's `struct cpg_pd`). */
/** The exec fn each decoded exec message kind must arrive with. */
const EXEC_FN_OF_KIND: Readonly<Record<CpgExecMessage['kind'], number>> = {
  procjoin: CpgExecFn.PROCJOIN,
  procleave: CpgExecFn.PROCLEAVE,
  joinlist: CpgExecFn.JOINLIST,
  mcast: CpgExecFn.MCAST,
  downlist_old: CpgExecFn.DOWNLIST_OLD,
  downlist: CpgExecFn.DOWNLIST,
  partial_mcast: CpgExecFn.PARTIAL_MCAST,
};

function deliverFrame(m: CpgMcast, from: number): Buffer {
  return encodeCpgDeliverCallback({ group: m.group, nodeid: from, pid: m.pid }, m.message);
}

function partialDeliverFrame(m: CpgPartialMcast, from: number): Buffer {
  return Buffer.concat([
    encodeCpgPartialDeliverCallbackHeader(
      { group: m.group, msglen: m.msglen, nodeid: from, pid: m.pid, type: m.type },
      m.fragment.length,
    ),
    m.fragment,
  ]);
}

export class CpgConnState {
  readonly conn: IpcConnection;
  /** Opaque token put into `mar_message_source_t.conn` of our MCAST/PARTIAL_MCAST messages. */
  readonly sourceToken: bigint;
  group: CpgName = EMPTY_NAME;
  pid = 0;
  state: CpdState = CpdState.UNJOINED;
  flags = 0;
  initialTotemConfSent = false;
  /** Confchg callbacks dispatched to this connection (detects confchgs during a partial send). */
  transitionCounter = 0;
  initialTransitionCounter = 0;
  /** False after FINALIZE or close: no more callbacks, not seen by the join checks. */
  listed = true;
  readonly iterations = new Map<bigint, Iteration>();
  /** Zero-copy buffers of this connection (created at its first ZC_ALLOC). */
  zc: ZeroCopyTable | undefined;
  private nextIndex = 1;
  private mcastHead: Buffer | undefined;
  private mcastHeadGroup: CpgName | undefined;
  private mcastHeadPid = 0;
  private mcastHeadNode = 0;

  constructor(conn: IpcConnection, sourceToken: bigint) {
    this.conn = conn;
    this.sourceToken = sourceToken;
  }

  /** True in JOIN_STARTED and JOIN_COMPLETED: the states that may multicast to the group. */
  get joined(): boolean {
    return this.state === CpdState.JOIN_STARTED || this.state === CpdState.JOIN_COMPLETED;
  }

  /**
   * The exec MCAST header for a message of `msglen` bytes from this connection. One buffer per
   * connection, rebuilt when its group, pid or the node id changed and otherwise only patched:
   * the exec layer copies it into a totempg packet before its send returns.
   */
  mcastHeader(nodeid: number, msglen: number): Buffer {
    let h = this.mcastHead;
    if (
      !h ||
      this.mcastHeadGroup !== this.group ||
      this.mcastHeadPid !== this.pid ||
      this.mcastHeadNode !== nodeid
    ) {
      h = encodeCpgMcastHeader(
        { group: this.group, pid: this.pid, source: { nodeid, conn: this.sourceToken } },
        msglen,
      );
      this.mcastHead = h;
      this.mcastHeadGroup = this.group;
      this.mcastHeadPid = this.pid;
      this.mcastHeadNode = nodeid;
      return h;
    }
    patchCpgMcastHeader(h, msglen);
    return h;
  }

  newHandle(random: () => number): bigint {
    const index = this.nextIndex;
    this.nextIndex = this.nextIndex >= 0xffff_ffff ? 1 : this.nextIndex + 1;
    return (BigInt(random() & 0x7fff_ffff) << 32n) | BigInt(index);
  }
}

/** The cpg IPC definition, plus what the IPC admission needs to know. */
export interface CpgIpcServiceDefinition extends IpcServiceDefinition<CpgConnState> {
  /** corosync's per-function flow_control flag: such requests get TRY_AGAIN while a sync runs. */
  flowControlRequired(id: number): boolean;
  /** True for the request that never gets a response (MCAST, id 2): refusals drop it silently. */
  noResponse(id: number): boolean;
}

/** Counters of what the engine refused or dropped. */
export interface CpgServiceStats {
  /** Exec messages that failed to decode (dropped). */
  malformedExec: number;
  /** MCAST/PARTIAL_MCAST deliveries dropped because the sender's node has no member in the group. */
  unknownNodeDrops: number;
  /** MCAST requests dropped (not joined, too big, sync running, or totem queue full). */
  mcastDropped: number;
  /** PROCLEAVE(PROCDOWN) messages that had to wait for room in the totem queue. */
  deferredLeaves: number;
  /** JOINLIST entries dropped beyond maxJoinlistEntries. */
  joinlistOverflow: number;
}

interface StoredJoin {
  readonly sender: number;
  readonly pid: number;
  readonly group: CpgName;
}

function tokenToBigint(token: string, fallback: bigint): bigint {
  if (/^0x[0-9a-f]{1,16}$/i.test(token)) return BigInt(token);
  if (/^[0-9]{1,19}$/.test(token)) return BigInt.asUintN(64, BigInt(token));
  return fallback;
}

/**
 * The CPG service engine. Register `engine` with the exec layer (it is the ServiceEngine) and
 * `engine.ipc` with the IPC server.
 */
export class CpgService implements ServiceEngine {
  readonly id = CPG_SERVICE_ID;
  readonly name = 'corosync cluster closed process group service v1.01';
  readonly defaultName = 'corosync_cpg';
  readonly priority = 1;
  readonly execFnCount = 7;
  readonly sync: SyncHooks;
  readonly ipc: CpgIpcServiceDefinition;
  readonly stats: CpgServiceStats = {
    malformedExec: 0,
    unknownNodeDrops: 0,
    mcastDropped: 0,
    deferredLeaves: 0,
    joinlistOverflow: 0,
  };

  private api: ExecApi | undefined;
  private readonly logger: IpcLogger | undefined;
  private readonly maxMessageSize: number;
  private readonly zeroCopy: (() => ZeroCopyTable) | undefined;
  private readonly maxMembersPerGroup: number;
  private readonly maxGroups: number;
  private readonly maxIterations: number;
  private readonly maxJoinlistEntries: number;
  private readonly random: () => number;

  private readonly processes = new ProcessList();
  /** Listed connections, most recently opened first (corosync adds new ones at the head). */
  private conns: CpgConnState[] = [];
  private sourceSeq = 1n;

  // sync state
  private syncState: 'downlist' | 'joinlist' = 'downlist';
  private memberList: number[] = [];
  private oldMembers: number[] = [];
  private lastSyncRingId: RingId = ZERO_RING_ID;
  private downlist: number[] = [];
  /** JOINLIST entries of this round in arrival order (corosync walks them newest first). */
  private joinlists: StoredJoin[] = [];
  /** PROCLEAVE(PROCDOWN) messages of closed connections waiting for room in the totem queue. */
  private pendingLeaves: Buffer[] = [];
  /** Processes whose PROCLEAVE was delivered in this sync round (see the 'procleave' case). */
  private leftThisRound: StoredJoin[] = [];
  /** Between sync init and activate / abort. */
  private syncRunning = false;
  /** The request checkRequest decoded last, for handleRequest (see there). */
  private checkedFrame: Buffer | undefined;
  private checkedRequest: CodecResult<CpgRequest> | undefined;

  constructor(opts: CpgServiceOptions = {}) {
    this.logger = opts.logger;
    this.maxMessageSize = opts.maxMessageSize ?? CPG_MAX_ATOMIC_MSG_SIZE;
    this.zeroCopy = opts.zeroCopy;
    this.maxMembersPerGroup = opts.maxMembersPerGroup ?? CPG_MEMBERS_MAX;
    this.maxGroups = opts.maxGroups ?? 65536;
    this.maxIterations = opts.maxIterationsPerConnection ?? 1024;
    this.maxJoinlistEntries = opts.maxJoinlistEntries ?? 65536;
    this.random = opts.random ?? sequentialHandleChecks();
    this.sync = {
      init: (trans, members, ringId) => this.syncInit(trans, members, ringId),
      process: () => this.syncProcess(),
      activate: () => this.syncActivate(),
      abort: () => this.syncAbort(),
    };
    this.ipc = this.createIpc();
  }

  init(api: ExecApi): void {
    this.api = api;
  }

  exit(): boolean {
    return true;
  }

  // ---- introspection (tests, tools) ----

  /** The cluster-wide process list, in corosync's order. */
  processList(): readonly CpgProcess[] {
    return this.processes.all();
  }

  /** The per-connection state of `conn` (undefined for a connection of another service). */
  stateOf(conn: IpcConnection): CpgConnState | undefined {
    return conn.privateData instanceof CpgConnState ? conn.privateData : undefined;
  }

  /** Totem member list saved at the last activation and ring id saved at the last sync init. */
  lastTotemView(): { members: readonly number[]; ringId: RingId } {
    return { members: this.oldMembers.slice(), ringId: this.lastSyncRingId };
  }

  // ---- helpers ----

  private get nodeId(): number {
    return this.api?.nodeId ?? 0;
  }

  private send(fn: number, iov: Buffer | readonly Buffer[]): boolean {
    if (!this.api) return false;
    return this.api.mcast(CPG_SERVICE_ID, fn, iov, TotemGuarantee.AGREED) === OK;
  }

  /** Retry PROCLEAVE messages of closed connections that found the totem queue full. */
  private flushPendingLeaves(): void {
    while (this.pendingLeaves.length > 0) {
      if (!this.send(CpgExecFn.PROCLEAVE, this.pendingLeaves[0]!)) return;
      this.pendingLeaves.shift();
    }
  }

  private log(level: keyof IpcLogger, msg: string): void {
    this.logger?.[level](`CPG: ${msg}`);
  }

  private totemConfchgFrame(): Buffer {
    return encodeCpgResponse({
      kind: 'totem_confchg',
      error: OK,
      ringId: { nodeid: this.lastSyncRingId.rep, seq: this.lastSyncRingId.seq },
      members: this.oldMembers,
    });
  }

  /**
   * corosync's notify_lib_joinlist: one CONFCHG for `group` (members = current members minus
   * the left ones), completion of local joins, dispatch to the group's joined connections, reset
   * of local leavers, and the one-time initial TOTEM_CONFCHG.
   */
  private notifyConfchg(group: CpgName, joined: readonly CpgAddress[], left: readonly CpgAddress[]): void {
    const members = this.processes
      .ofGroup(group)
      .filter((p) => !left.some((l) => l.nodeid === p.nodeid && l.pid === p.pid))
      .map((p) => ({ nodeid: p.nodeid, pid: p.pid, reason: CpgReason.UNDEFINED }));
    const frame = encodeCpgResponse({ kind: 'confchg', error: OK, group, members, left, joined });
    const local = this.nodeId;
    for (const j of joined) {
      if (j.nodeid !== local) continue;
      for (const c of this.conns) {
        if (c.pid === j.pid && cpgNameEquals(c.group, group)) c.state = CpdState.JOIN_COMPLETED;
      }
    }
    for (const c of this.conns) {
      if (!cpgNameEquals(c.group, group)) continue;
      if (c.state === CpdState.JOIN_COMPLETED || c.state === CpdState.LEAVE_STARTED) {
        c.conn.sendEvent(frame);
        c.transitionCounter++;
      }
    }
    // Deviation from 3.1.7: corosync means to return a local connection to UNJOINED once its
    // own PROCLEAVE(LEAVE) is delivered, but its loop bound uses the joined-list count, so the
    // connection stays LEAVE_STARTED forever (keeps receiving callbacks of the group, a re-join
    // answers EXIST/BUSY). We do the documented reset: after cpg_leave completes the handle can
    // join again. Only local state changes; the wire is the same.
    for (const l of left) {
      if (l.nodeid !== local || l.reason !== CpgReason.LEAVE) continue;
      for (const c of this.conns) {
        if (c.pid === l.pid && cpgNameEquals(c.group, group)) {
          c.pid = 0;
          c.group = EMPTY_NAME;
          c.state = CpdState.UNJOINED;
        }
      }
    }
    for (const c of this.conns) {
      if (c.flags & CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF && !c.initialTotemConfSent) {
        c.initialTotemConfSent = true;
        c.conn.sendEvent(this.totemConfchgFrame());
      }
    }
  }

  private doProcJoin(
    group: CpgName,
    pid: number,
    nodeid: number,
    reason: number,
    acc?: GroupAccumulator<CpgAddress>,
  ): void {
    if (!this.processes.insert({ nodeid, pid, group })) return;
    const addr = { nodeid, pid, reason };
    if (acc) acc.add(group, addr);
    else this.notifyConfchg(group, [addr], []);
  }

  private doProcLeave(group: CpgName, pid: number, nodeid: number, reason: number): void {
    // Always a confchg, even for a process nobody knew (corosync does the same).
    this.notifyConfchg(group, [], [{ nodeid, pid, reason }]);
    this.processes.remove(group, pid, nodeid);
  }

  // ---- exec handlers ----

  deliver(fn: number, message: Buffer, fromNodeid: number): void {
    try {
      this.deliverUnsafe(fn, message, fromNodeid);
    } catch (err) {
      this.stats.malformedExec++;
      this.log('error', `exec fn ${fn} from node ${fromNodeid} failed: ${errText(err)}`);
    }
  }

  private deliverUnsafe(fn: number, message: Buffer, from: number): void {
    this.flushPendingLeaves();
    const r = decodeCpgExec(message);
    if (!r.ok) {
      this.stats.malformedExec++;
      this.log('warn', `dropped malformed exec message fn ${fn} from node ${from}: ${r.error}`);
      return;
    }
    const m = r.value;
    if (EXEC_FN_OF_KIND[m.kind] !== fn) {
      this.stats.malformedExec++;
      this.log('warn', `dropped exec message: fn ${fn} but header says ${m.kind} (node ${from})`);
      return;
    }
    switch (m.kind) {
      case 'procjoin':
        this.log('debug', `got procjoin message from cluster node ${from} for pid ${m.pid}`);
        this.doProcJoin(m.group, m.pid, from, CpgReason.JOIN);
        this.leftThisRound = this.leftThisRound.filter(
          (e) => !(e.sender === from && e.pid === m.pid && cpgNameEquals(e.group, m.group)),
        );
        return;
      case 'procleave': {
        this.log('debug', `got procleave message from cluster node ${from} for pid ${m.pid}`);
        this.doProcLeave(m.group, m.pid, from, m.reason);
        // Deviation from 3.1.7: a process that leaves while a sync runs (a connection closed
        // then: its PROCLEAVE is not flow-controlled) may be listed in its node's JOINLIST of
        // this round, sent before the leave (or built before the node delivered it). corosync
        // applies that entry at activation on every other node — NODEUP of a process that is
        // gone, a ghost member there but not on its own node, which skips its own entries (sim
        // seed 123). The stale entry is dropped here, and one still to come is ignored.
        const gone = (e: StoredJoin): boolean =>
          e.sender === from && e.pid === m.pid && cpgNameEquals(e.group, m.group);
        this.joinlists = this.joinlists.filter((e) => !gone(e));
        if (this.syncRunning) this.leftThisRound.push({ sender: from, pid: m.pid, group: m.group });
        return;
      }
      case 'joinlist':
        this.log('debug', `got joinlist message from node ${from}`);
        for (const e of m.entries) {
          if (this.joinlists.length >= this.maxJoinlistEntries) {
            this.stats.joinlistOverflow++;
            this.log(
              'warn',
              `joinlist from node ${from}: more than ${this.maxJoinlistEntries} entries, dropped`,
            );
            break;
          }
          const stale = this.leftThisRound.some(
            (l) => l.sender === from && l.pid === e.pid && cpgNameEquals(l.group, e.group),
          );
          if (!stale) this.joinlists.push({ sender: from, pid: e.pid, group: e.group });
        }
        return;
      case 'mcast':
        this.deliverToGroup(m.group, from, deliverFrame, m);
        return;
      case 'partial_mcast':
        this.deliverToGroup(m.group, from, partialDeliverFrame, m);
        return;
      case 'downlist_old':
        this.log('debug', `downlist OLD from node ${from}`);
        return;
      case 'downlist':
        this.log('debug', `downlist left_list: ${m.leftNodes.length} received`);
        return;
    }
  }

  /**
   * Dispatch a (partial) message to the joined connections of `group`, unless the sending node
   * has no process in the group, in which case nobody gets it.
   */
  private deliverToGroup<M>(group: CpgName, from: number, build: (m: M, from: number) => Buffer, m: M): void {
    let frame: Buffer | undefined;
    for (const c of this.conns) {
      if (c.state !== CpdState.JOIN_COMPLETED && c.state !== CpdState.LEAVE_STARTED) continue;
      if (!cpgNameEquals(c.group, group)) continue;
      if (!frame) {
        if (!this.processes.nodeInGroup(from, group)) {
          this.stats.unknownNodeDrops++;
          this.log('warn', 'Unknown node -> we will not deliver message');
          return;
        }
        frame = build(m, from);
      }
      c.conn.sendEvent(frame);
    }
  }

  // ---- sync ----

  private syncInit(trans: readonly number[], members: readonly number[], ringId: RingId): void {
    this.syncState = 'downlist';
    this.memberList = members.slice();
    this.lastSyncRingId = ringId;
    this.downlist = this.oldMembers.filter((n) => !trans.includes(n));
    // Deviation from 3.1.7 (corosync PR #828): stored JOINLIST entries are dropped at every
    // init, so entries of an aborted round cannot resurrect processes of a departed node.
    this.joinlists = [];
    this.leftThisRound = [];
    this.syncRunning = true;
  }

  private syncProcess(): boolean {
    this.flushPendingLeaves();
    if (this.syncState === 'downlist') {
      const left = this.downlist.slice(0, PROCESSOR_COUNT_MAX);
      if (!this.send(CpgExecFn.DOWNLIST, encodeCpgDownlist(this.oldMembers.length, left))) return false;
      this.syncState = 'joinlist';
    }
    const local = this.nodeId;
    const mine = this.processes.all().filter((p) => p.nodeid === local);
    if (mine.length === 0) return true;
    return this.send(
      CpgExecFn.JOINLIST,
      encodeCpgJoinList(mine.map((p) => ({ pid: p.pid, group: p.group }))),
    );
  }

  private syncActivate(): void {
    this.oldMembers = this.memberList.slice();
    const local = this.nodeId;

    // NODEDOWN: processes of nodes that left, one confchg per group in key order.
    const down = new GroupAccumulator<CpgAddress>(nodedownGroupKey);
    const downSet = new Set(this.downlist);
    for (const p of this.processes.removeWhere((p) => downSet.has(p.nodeid))) {
      down.add(p.group, { nodeid: p.nodeid, pid: p.pid, reason: CpgReason.NODEDOWN });
    }
    for (const g of down.sorted()) this.notifyConfchg(g.group, [], g.list);

    // NODEUP: other nodes' JOINLIST entries, newest first.
    const up = new GroupAccumulator<CpgAddress>(nodeupGroupKey);
    for (let i = this.joinlists.length - 1; i >= 0; i--) {
      const e = this.joinlists[i]!;
      if (e.sender === local) continue;
      this.doProcJoin(e.group, e.pid, e.sender, CpgReason.NODEUP, up);
    }
    for (const g of up.sorted()) this.notifyConfchg(g.group, g.list, []);

    // Zombies: remote processes no JOINLIST of this round vouches for.
    for (const p of this.processes.all()) {
      if (p.nodeid === local) continue;
      const found = this.joinlists.some(
        (e) =>
          e.sender !== local && e.sender === p.nodeid && e.pid === p.pid && cpgNameEquals(e.group, p.group),
      );
      if (!found) this.doProcLeave(p.group, p.pid, p.nodeid, CpgReason.PROCDOWN);
    }

    this.joinlists = [];
    this.leftThisRound = [];
    this.syncRunning = false;
    const frame = this.totemConfchgFrame();
    for (const c of this.conns) c.conn.sendEvent(frame);
  }

  private syncAbort(): void {
    this.joinlists = [];
    this.leftThisRound = [];
    this.syncRunning = false;
  }

  // ---- IPC ----

  private createIpc(): CpgIpcServiceDefinition {
    return {
      name: CPG_SERVICE_NAME,
      id: CPG_SERVICE_ID,
      requestCount: CPG_REQUEST_COUNT,
      flowControlRequired: cpgFlowControlRequired,
      noResponse: (id) => id === CpgReqId.MCAST,
      checkRequest: (frame) => {
        const r = decodeCpgRequest(frame);
        // the server hands the same frame to handle() next: decode it once
        this.checkedFrame = frame;
        this.checkedRequest = r;
        // A too-long group name is not malformed: JOIN answers CS_ERR_NAME_TOO_LONG.
        if (r.ok || r.code === 'name-too-long') return undefined;
        return r.error;
      },
      init: (conn) => {
        const st = new CpgConnState(conn, tokenToBigint(conn.token, this.sourceSeq++));
        this.conns.unshift(st);
        this.log('debug', `lib_init_fn: conn=${conn.token}`);
        return st;
      },
      handle: (conn, st, frame) => this.handleRequest(conn, st, frame),
      exit: (conn, st) => this.libExit(conn, st),
    };
  }

  private unlist(st: CpgConnState): void {
    st.listed = false;
    this.conns = this.conns.filter((c) => c !== st);
  }

  private libExit(conn: IpcConnection, st: CpgConnState): void {
    this.log('debug', `exit_fn for conn=${conn.token}`);
    // Deviation from 3.1.7: corosync tests `group_name.length > 0`, so a process that joined
    // the empty group name (length 0, valid) would never be removed when it dies. We send the
    // PROCDOWN leave for every joined connection (JOIN_STARTED or JOIN_COMPLETED).
    if (st.joined) {
      const msg = encodeCpgProcLeave(st.group, st.pid, CpgReason.PROCDOWN);
      this.flushPendingLeaves();
      if (this.pendingLeaves.length > 0 || !this.send(CpgExecFn.PROCLEAVE, msg)) {
        // corosync ignores a failed send here (the process would stay a member forever);
        // we keep the message and retry on the next delivery or sync step.
        this.stats.deferredLeaves++;
        this.pendingLeaves.push(msg);
      }
    }
    st.iterations.clear();
    st.zc?.closeAll();
    this.unlist(st);
  }

  private handleRequest(conn: IpcConnection, st: CpgConnState, frame: Buffer): void {
    // what checkRequest decoded for this frame (forgotten at once: it may pin a read chunk)
    const checked = frame === this.checkedFrame ? this.checkedRequest : undefined;
    this.checkedFrame = undefined;
    this.checkedRequest = undefined;
    this.flushPendingLeaves();
    const id = readInt32LE(frame, 0);
    if (cpgFlowControlRequired(id) && (!this.api || this.api.syncInProgress())) {
      // corosync_sending_allowed: -EINPROGRESS → TRY_AGAIN; MCAST gets no answer at all.
      if (id === CpgReqId.MCAST) {
        this.stats.mcastDropped++;
        this.log('debug', `mcast from ${conn.token} dropped: sync in progress`);
      } else {
        conn.respond(encodeCpgBareResponse(0, CsErrorCode.CS_ERR_TRY_AGAIN));
      }
      return;
    }
    const r = checked ?? decodeCpgRequest(frame);
    if (!r.ok) {
      // Only a group name longer than 128 bytes gets here (checkRequest refused the rest).
      this.nameTooLong(conn, st, id);
      return;
    }
    this.dispatch(conn, st, r.value);
  }

  /** Requests whose group name length is above 128: no group can match such a name. */
  private nameTooLong(conn: IpcConnection, st: CpgConnState, id: number): void {
    switch (id) {
      case CpgReqId.JOIN:
        conn.respond(encodeCpgBareResponse(CpgResId.JOIN, CsErrorCode.CS_ERR_NAME_TOO_LONG));
        return;
      case CpgReqId.LEAVE:
        conn.respond(
          encodeCpgBareResponse(
            CpgResId.LEAVE,
            st.state === CpdState.JOIN_COMPLETED
              ? CsErrorCode.CS_ERR_NAME_TOO_LONG
              : leaveStateError(st.state),
          ),
        );
        return;
      case CpgReqId.MEMBERSHIP:
        conn.respond(encodeCpgResponse({ kind: 'membership', error: OK, members: [] }));
        return;
      case CpgReqId.ITERATIONINITIALIZE:
        this.iterationInit(conn, st, []);
        return;
      default:
        conn.close('cpg request with a group name longer than 128 bytes');
    }
  }

  private dispatch(conn: IpcConnection, st: CpgConnState, req: CpgRequest): void {
    switch (req.kind) {
      case 'join':
        conn.respond(encodeCpgBareResponse(CpgResId.JOIN, this.join(st, req.group, req.pid, req.flags)));
        return;
      case 'leave':
        conn.respond(encodeCpgBareResponse(CpgResId.LEAVE, this.leave(st, req.group, req.pid)));
        return;
      case 'mcast':
        this.mcast(conn, st, req.message);
        return;
      case 'membership_get': {
        const members = this.processes
          .ofGroup(req.group)
          // corosync's reply array has 384 entries (a longer list would overflow its stack)
          .slice(0, CPG_MEMBERSHIP_MAX)
          .map((p) => ({ nodeid: p.nodeid, pid: p.pid, reason: 0 }));
        conn.respond(encodeCpgResponse({ kind: 'membership', error: OK, members }));
        return;
      }
      case 'local_get':
        conn.respond(encodeCpgResponse({ kind: 'local_get', error: OK, localNodeid: this.nodeId }));
        return;
      case 'iteration_initialize':
        this.iterationInit(conn, st, this.iterationSnapshot(req.iterationType, req.group));
        return;
      case 'iteration_next':
        this.iterationNext(conn, st, req.handle);
        return;
      case 'iteration_finalize': {
        const found = st.iterations.delete(req.handle);
        conn.respond(
          encodeCpgBareResponse(CpgResId.ITERATIONFINALIZE, found ? OK : CsErrorCode.CS_ERR_LIBRARY),
        );
        return;
      }
      case 'finalize':
        // No more callbacks; the PROCLEAVE is sent when the connection actually closes.
        this.log('debug', `cpg finalize for conn=${conn.token}`);
        this.unlist(st);
        conn.respond(encodeCpgBareResponse(CpgResId.FINALIZE, OK));
        return;
      case 'zc_alloc': {
        // corosync answers a bare header with id 0 (libcpg ignores its error)
        st.zc ??= this.zeroCopy?.();
        const r = st.zc?.alloc(req.path, req.mapSize);
        if (r && 'error' in r) this.log('warn', `zero-copy alloc from ${conn.token} refused: ${r.error}`);
        conn.respond(encodeCpgBareResponse(0, OK));
        return;
      }
      case 'zc_free':
        st.zc?.free(req.serverAddress);
        conn.respond(encodeCpgBareResponse(0, OK));
        return;
      case 'zc_execute':
        conn.respond(encodeCpgBareResponse(CpgResId.MCAST, this.zcExecute(conn, st, req.serverAddress)));
        return;
      case 'partial_mcast':
        conn.respond(
          encodeCpgBareResponse(
            CpgResId.PARTIAL_SEND,
            this.partialMcast(conn, st, req.msglen, req.type, req.fragment),
          ),
        );
        return;
    }
  }

  /** ZC_EXECUTE: the MCAST request the client wrote into its zero-copy buffer, with a reply. */
  private zcExecute(conn: IpcConnection, st: CpgConnState, token: bigint): number {
    if (!st.zc) return CsErrorCode.CS_ERR_NOT_SUPPORTED;
    if (!st.joined) return CsErrorCode.CS_ERR_NOT_EXIST;
    const r = st.zc.readFrame(token);
    const req = 'frame' in r ? decodeCpgRequest(r.frame) : undefined;
    if (!req || !req.ok || req.value.kind !== 'mcast') {
      const reason = 'error' in r ? r.error : 'not a cpg mcast request';
      this.log('warn', `zero-copy mcast from ${conn.token} refused: ${reason}`);
      return CsErrorCode.CS_ERR_INVALID_PARAM;
    }
    if (req.value.message.length > this.maxMessageSize) return CsErrorCode.CS_ERR_TOO_BIG;
    return this.multicast(st, req.value.message) ? OK : CsErrorCode.CS_ERR_TRY_AGAIN;
  }

  private join(st: CpgConnState, group: CpgName, pid: number, flags: number): number {
    if (this.conns.some((c) => c.pid === pid && cpgNameEquals(c.group, group)))
      return CsErrorCode.CS_ERR_EXIST;
    // the leave of this process may not be delivered yet
    if (this.processes.find(group, pid, this.nodeId)) return CsErrorCode.CS_ERR_TRY_AGAIN;
    switch (st.state) {
      case CpdState.LEAVE_STARTED:
        return CsErrorCode.CS_ERR_BUSY;
      case CpdState.JOIN_STARTED:
      case CpdState.JOIN_COMPLETED:
        return CsErrorCode.CS_ERR_EXIST;
    }
    if (this.processes.ofGroup(group).length >= this.maxMembersPerGroup) {
      this.log(
        'warn',
        `join of "${cpgNameToString(group)}" refused: ${this.maxMembersPerGroup} members already`,
      );
      return CsErrorCode.CS_ERR_NO_SPACE;
    }
    if (!this.processes.hasGroup(group) && this.processes.groupCount() >= this.maxGroups) {
      this.log('warn', `join of "${cpgNameToString(group)}" refused: ${this.maxGroups} groups already`);
      return CsErrorCode.CS_ERR_TOO_MANY_GROUPS;
    }
    // corosync's admission reserved totem queue room before calling the handler; we learn
    // about a full queue from the send itself and leave the connection unjoined.
    if (!this.send(CpgExecFn.PROCJOIN, encodeCpgProcJoin(group, pid, CpgReason.JOIN))) {
      return CsErrorCode.CS_ERR_TRY_AGAIN;
    }
    st.state = CpdState.JOIN_STARTED;
    st.pid = pid;
    st.flags = flags;
    st.group = group;
    return OK;
  }

  private leave(st: CpgConnState, group: CpgName, pid: number): number {
    if (st.state !== CpdState.JOIN_COMPLETED) return leaveStateError(st.state);
    // pid and group come from the request, as in corosync
    if (!this.send(CpgExecFn.PROCLEAVE, encodeCpgProcLeave(group, pid, CpgReason.LEAVE))) {
      return CsErrorCode.CS_ERR_TRY_AGAIN;
    }
    st.state = CpdState.LEAVE_STARTED;
    return OK;
  }

  private mcast(conn: IpcConnection, st: CpgConnState, message: Buffer): void {
    if (!st.joined) {
      this.stats.mcastDropped++;
      this.log(
        'error',
        `*** ${conn.token} can't mcast to group ${cpgNameToString(st.group)} state:${st.state}`,
      );
      return;
    }
    if (message.length > this.maxMessageSize) {
      this.stats.mcastDropped++;
      this.log(
        'warn',
        `mcast of ${message.length} bytes from ${conn.token} dropped (max ${this.maxMessageSize})`,
      );
      return;
    }
    if (!this.multicast(st, message)) {
      // MCAST has no reply, so the client cannot be told; corosync asserts here instead.
      this.stats.mcastDropped++;
      this.log('warn', `mcast from ${conn.token} dropped: totem queue full`);
    }
  }

  /** An exec MCAST of `message` from this connection's process to its group. */
  private multicast(st: CpgConnState, message: Buffer): boolean {
    return this.send(CpgExecFn.MCAST, [st.mcastHeader(this.nodeId, message.length), message]);
  }

  private partialMcast(
    conn: IpcConnection,
    st: CpgConnState,
    msglen: number,
    type: number,
    fragment: Buffer,
  ): number {
    let error: number = st.joined ? OK : CsErrorCode.CS_ERR_NOT_EXIST;
    if (type === CpgPartialType.FIRST) st.initialTransitionCounter = st.transitionCounter;
    if (st.transitionCounter !== st.initialTransitionCounter) error = CsErrorCode.CS_ERR_INTERRUPT;
    if (error === OK && fragment.length > this.maxMessageSize) error = CsErrorCode.CS_ERR_TOO_BIG;
    if (error !== OK) {
      this.log(
        'error',
        `*** ${conn.token} can't mcast to group ${cpgNameToString(st.group)} state:${st.state}, error:${error}`,
      );
      return error;
    }
    const head = encodeCpgPartialMcastHeader(
      { group: st.group, msglen, pid: st.pid, type, source: { nodeid: this.nodeId, conn: st.sourceToken } },
      fragment.length,
    );
    return this.send(CpgExecFn.PARTIAL_MCAST, [head, fragment]) ? OK : CsErrorCode.CS_ERR_TRY_AGAIN;
  }

  /**
   * corosync's grouped copy of process_info: each item goes right after the first item of its
   * group already in the snapshot, or at the front (so [g1:a, g2:b, g1:c, g1:d] → b, a, d, c).
   */
  private iterationSnapshot(type: number, group: CpgName | undefined): CpgProcess[] {
    const out: CpgProcess[] = [];
    for (const p of this.processes.all()) {
      let item = p;
      if (type === CpgIterationType.NAME_ONLY) {
        if (out.some((q) => cpgNameEquals(q.group, p.group))) continue;
        item = { nodeid: 0, pid: 0, group: p.group };
      } else if (type === CpgIterationType.ONE_GROUP) {
        if (!group || !cpgNameEquals(p.group, group)) continue;
      }
      const first = out.findIndex((q) => cpgNameEquals(q.group, p.group));
      if (first < 0) out.unshift(item);
      else out.splice(first + 1, 0, item);
    }
    return out;
  }

  private iterationInit(conn: IpcConnection, st: CpgConnState, items: CpgProcess[]): void {
    if (st.iterations.size >= this.maxIterations) {
      conn.respond(
        encodeCpgResponse({ kind: 'iteration_initialize', error: CsErrorCode.CS_ERR_NO_MEMORY, handle: 0n }),
      );
      return;
    }
    let handle = st.newHandle(this.random);
    while (st.iterations.has(handle)) handle = st.newHandle(this.random);
    st.iterations.set(handle, { items, next: 0 });
    conn.respond(encodeCpgResponse({ kind: 'iteration_initialize', error: OK, handle }));
  }

  private iterationNext(conn: IpcConnection, st: CpgConnState, handle: bigint): void {
    // Deviation from 3.1.7: handles are looked up among this connection's iterations only;
    // corosync's handle database is daemon-wide, so one client could walk (or finalize)
    // another client's iteration. Unknown handles answer CS_ERR_LIBRARY as there.
    const it = st.iterations.get(handle);
    const none = { group: EMPTY_NAME, nodeid: 0, pid: 0 };
    if (!it) {
      conn.respond(
        encodeCpgResponse({ kind: 'iteration_next', error: CsErrorCode.CS_ERR_LIBRARY, description: none }),
      );
      return;
    }
    // Deviation from 3.1.7: corosync's cursor wraps around its circular list, so a NEXT after
    // the end starts over at the first item; the API documents CS_ERR_NO_SECTIONS at the end.
    const item = it.items[it.next];
    if (!item) {
      conn.respond(
        encodeCpgResponse({
          kind: 'iteration_next',
          error: CsErrorCode.CS_ERR_NO_SECTIONS,
          description: none,
        }),
      );
      return;
    }
    it.next++;
    conn.respond(
      encodeCpgResponse({
        kind: 'iteration_next',
        error: OK,
        description: { group: item.group, nodeid: item.nodeid, pid: item.pid },
      }),
    );
  }
}

function leaveStateError(state: CpdState): number {
  return state === CpdState.JOIN_STARTED ? CsErrorCode.CS_ERR_BUSY : CsErrorCode.CS_ERR_NOT_EXIST;
}

function errText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
