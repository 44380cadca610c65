/**
 * The Totem Single Ring Protocol of corosync 3.1.7 as a pure state machine
 * (spec/totem-srp.md). States GATHER, COMMIT, RECOVERY and OPERATIONAL; membership by
 * join/consensus; commit token with two rotations; recovery of old-ring messages and extended
 * virtual synchrony (transitional then regular configuration); ORF token handling with
 * token_seq dedupe, retransmit lists and flow control; merge detection; token hold; clean
 * leave.
 *
 * Pure (DESIGN rules 1–2): no clock, timers, sockets, randomness or Promises. Every call takes
 * `now` (ms) where time matters; every effect (datagrams, deliveries, configuration changes,
 * timers to arm or cancel, ring seq to persist) is queued and handed out by {@link drain}.
 *
 * Loopback: the core never relies on the transport echoing its own multicasts. Its own JOIN,
 * MERGE_DETECT and TOKEN_HOLD_CANCEL, and tokens addressed to itself (one-node ring), are fed
 * back internally after the current step, as the kernel loopback does for corosync. Its own
 * MCASTs are already in its sort queue when sent (their echo would be a duplicate): the echo is
 * only counted in stats.mcast_rx, as corosync counts the copy it drops.
 * `send` effects with `to: 'all'` are for the other nodelist members only.
 *
 * Written from the spec and from reading exec/totemsrp.c; no upstream code is reused.
 */
import { Buffer } from 'node:buffer';
import {
  MCAST_HEADER_SIZE,
  MESSAGE_ENCAPSULATED,
  MESSAGE_NOT_ENCAPSULATED,
  MessageType,
  ORF_TOKEN_MAX_SIZE,
  ORF_TOKEN_SIZE,
  PROCESSOR_COUNT_MAX,
  RETRANSMIT_ENTRIES_MAX,
  RTR_ITEM_SIZE,
} from './wire/constants.js';
import { checkHeader, isBigEndian, readRingId, u32, writeRingId } from './wire/header.js';
import {
  type McastFields,
  type MembCommitToken,
  type MembCommitTokenFields,
  type MembJoin,
  type OrfToken,
  createOrfToken,
  decodeMembCommitToken,
  decodeMembJoin,
  decodeMembMergeDetect,
  decodeOrfTokenInto,
  decodeTokenHoldCancel,
  encodeMcastHeaderInto,
  encodeMembCommitToken,
  encodeMembJoin,
  encodeMembMergeDetect,
  encodeOrfTokenInto,
  encodeTokenHoldCancel,
} from './wire/messages.js';
import {
  type RingId,
  ZERO_RING_ID,
  formatRingId,
  ringId as makeRingId,
  ringIdEquals,
  seqLt,
  seqLte,
} from './wire/seq.js';
import type { SrpConfig } from './srp-config.js';
import { QUEUE_RTR_ITEMS_SIZE_MAX, SortQueue } from './srp-sortqueue.js';
import { setEqual, setHas, setMerge, setSubset, setSubtract, sortedIds } from './srp-sets.js';
import { TokenStatsRing } from './token-stats.js';
import { readUInt32LE, writeInt32LE, writeUInt32LE } from '../common/bytes.js';

export { srpConfig, srpConfigFromTotem, type SrpConfig, type SrpConfigInput } from './srp-config.js';

export type SrpState = 'OPERATIONAL' | 'GATHER' | 'COMMIT' | 'RECOVERY';

/** Every timer of §12 (the transport's netif check lives outside the core). */
export type SrpTimer =
  | 'token'
  | 'tokenWarning'
  | 'tokenRetransmit'
  | 'tokenHoldRetransmit'
  | 'join'
  | 'consensus'
  | 'mergeDetect'
  | 'heartbeat'
  | 'pause';

/** Every timer, in the order of `index` in the `timer` effect. */
export const SRP_TIMERS: readonly SrpTimer[] = [
  'token',
  'tokenWarning',
  'tokenRetransmit',
  'tokenHoldRetransmit',
  'join',
  'consensus',
  'mergeDetect',
  'heartbeat',
  'pause',
];
const T_TOKEN = 0;
const T_WARNING = 1;
const T_RETRANSMIT = 2;
const T_HOLD = 3;
const T_JOIN = 4;
const T_CONSENSUS = 5;
const T_MERGE = 6;
const T_HEARTBEAT = 7;
const T_PAUSE = 8;
/** An empty node list (withinNodeBound's arguments for a lone sender). */
const NO_NODES: readonly number[] = [];

export interface SrpConfChg {
  kind: 'confchg';
  type: 'transitional' | 'regular';
  members: number[];
  left: number[];
  joined: number[];
  ringId: RingId;
}

export interface SrpDeliver {
  kind: 'deliver';
  /** Originator (header.nodeid of the original MCAST). */
  from: number;
  /** Bytes 45.. of the stored message (a view, never mutated). */
  payload: Buffer;
  /** The originator wrote the other byte order. */
  endianConvert: boolean;
  /** Ring and seq the message was ordered in (for checkers and logs). */
  ringId: RingId;
  seq: number;
}

export type SrpEffect =
  /** `to: 'all'` = every other nodelist member (udpu "multicast"). */
  | { kind: 'send'; to: number | 'all'; bytes: Buffer }
  | SrpDeliver
  | SrpConfChg
  /**
   * Arm at absolute time `at`, or cancel (`armed` false; `at` is then NaN). Coalesced: the last
   * state of each step. `index`: the timer's place in SRP_TIMERS. `at` is never null: a field
   * that holds null or a number boxes every number stored into it (an allocation per token
   * visit), a number-only field is updated in place.
   */
  | { kind: 'timer'; timer: SrpTimer; index: number; armed: boolean; at: number }
  /** Write the ringid file (8 bytes, host order). */
  | { kind: 'persistRingSeq'; seq: bigint }
  /** A token was accepted (corosync's TOKEN_RECEIVED callback point, for stats). */
  | { kind: 'tokenReceived' }
  | { kind: 'waitingTransAck'; value: boolean }
  | { kind: 'log'; level: 'notice' | 'debug' | 'warning'; message: string };

export type SrpOutput = SrpEffect[];

/** stats.srp.* with corosync's names (cmap.md §5.1); `rx_malformed` is ours. */
export interface SrpStats {
  orf_token_tx: number;
  orf_token_rx: number;
  memb_merge_detect_tx: number;
  memb_merge_detect_rx: number;
  memb_join_tx: number;
  memb_join_rx: number;
  mcast_tx: number;
  mcast_retx: number;
  mcast_rx: number;
  memb_commit_token_tx: number;
  memb_commit_token_rx: number;
  token_hold_cancel_tx: number;
  token_hold_cancel_rx: number;
  operational_entered: number;
  operational_token_lost: number;
  gather_entered: number;
  gather_token_lost: number;
  commit_entered: number;
  commit_token_lost: number;
  recovery_entered: number;
  recovery_token_lost: number;
  consensus_timeouts: number;
  rx_msg_dropped: number;
  continuous_gather: number;
  continuous_sendmsg_failures: number;
  firewall_enabled_or_nic_failure: number;
  /** Datagrams refused by the decoders (bad header, truncated, bad counts). */
  rx_malformed: number;
}

function newStats(): SrpStats {
  return {
    orf_token_tx: 0,
    orf_token_rx: 0,
    memb_merge_detect_tx: 0,
    memb_merge_detect_rx: 0,
    memb_join_tx: 0,
    memb_join_rx: 0,
    mcast_tx: 0,
    mcast_retx: 0,
    mcast_rx: 0,
    memb_commit_token_tx: 0,
    memb_commit_token_rx: 0,
    token_hold_cancel_tx: 0,
    token_hold_cancel_rx: 0,
    operational_entered: 0,
    operational_token_lost: 0,
    gather_entered: 0,
    gather_token_lost: 0,
    commit_entered: 0,
    commit_token_lost: 0,
    recovery_entered: 0,
    recovery_token_lost: 0,
    consensus_timeouts: 0,
    rx_msg_dropped: 0,
    continuous_gather: 0,
    continuous_sendmsg_failures: 0,
    firewall_enabled_or_nic_failure: 0,
    rx_malformed: 0,
  };
}

/** Gather reasons (§6.1), for logs. */
const GATHER_REASONS = [
  'consensus timeout',
  'missing',
  'the token was lost in the OPERATIONAL state',
  'the consensus timeout expired',
  'the token was lost in the COMMIT state',
  'the token was lost in the RECOVERY state',
  'failed to receive',
  'foreign message in OPERATIONAL state',
  'foreign message in GATHER state',
  'merge during OPERATIONAL state',
  'merge during GATHER state',
  'merge during JOIN processing',
  'join during OPERATIONAL state',
  'join during COMMIT state',
  'join during RECOVERY',
  'interface change',
];

const SEQ_NONE = 0xffffffff;
/**
 * Synchronous call-outs of the core at the points where corosync calls totempg back. A hook
 * may call {@link TotemSrp.mcast} (it only queues then); it must not call any other input.
 */
export interface SrpHooks {
  /** corosync's TOKEN_RECEIVED callback (totem-srp.md §9 step 7.3): a token was accepted. */
  onTokenReceived?: () => void;
  /**
   * Operational entry is about to set waiting_trans_ack (§8.4): the last moment for messages
   * staged above to reach the normal queue.
   */
  beforeWaitingTransAck?: () => void;
  /**
   * A join arrived after the process stalled (§6.3 step 2): discard every datagram still queued
   * for this node (the rest of the batch being read, the sockets' receive queues) and say how
   * many there were. Without it nothing is discarded.
   */
  discardQueued?: () => number;
}

const TOKEN_RECEIVED: SrpEffect = Object.freeze({ kind: 'tokenReceived' }) as SrpEffect;

type SendEffect = Extract<SrpEffect, { kind: 'send' }>;

/**
 * The effects of one drain: `effects[0..n)` and the `send` effects among them, reused with the
 * batch. The arrays keep their length (handed-over slots hold SPENT): an array emptied through
 * `length = 0` loses its memory in V8, and every token visit would grow a new one.
 */
interface EffectBatch {
  effects: SrpEffect[];
  n: number;
  sends: SendEffect[];
  sendsUsed: number;
}

function newEffectBatch(): EffectBatch {
  return { effects: [], n: 0, sends: [], sendsUsed: 0 };
}

/** What a batch's slot holds once its effect was handed over (any constant effect would do). */
const SPENT = TOKEN_RECEIVED;

/** A FIFO with O(1) push/shift (a growable ring buffer). */
class Fifo<T> {
  private buf: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  length = 0;

  push(x: T): void {
    if (this.length === this.buf.length) {
      const next = new Array<T | undefined>(this.buf.length * 2);
      for (let i = 0; i < this.length; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
      this.buf = next;
      this.head = 0;
    }
    this.buf[(this.head + this.length) % this.buf.length] = x;
    this.length++;
  }

  peek(): T | undefined {
    return this.length === 0 ? undefined : this.buf[this.head];
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const x = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.length--;
    return x;
  }

  clear(): void {
    this.buf = new Array<T | undefined>(16);
    this.head = 0;
    this.length = 0;
  }
}

/**
 * A received message the sort queue keeps: the transport lends its receive buffer only for the
 * call. Memory of its own (not a pool slice): a kept message must not pin a shared 8 KiB chunk.
 */
function ownCopy(buf: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(buf.length);
  buf.copy(own, 0);
  return own;
}

/** Free bytes {@link TotemSrp.mcastPrepared} wants in front of a payload (the MCAST header). */
export const MCAST_HEADROOM = MCAST_HEADER_SIZE;

export class TotemSrp {
  private cfgNow: SrpConfig;
  /** The configuration in use (replaced by {@link reconfigure}). */
  get cfg(): SrpConfig {
    return this.cfgNow;
  }
  readonly stats: SrpStats = newStats();
  private readonly me: number;
  private readonly persistedSeq: bigint;

  private started = false;
  private stopped = false;
  private now = 0;
  /**
   * The effects since the last drain, and the batch handed out by the drain before (two used in
   * turn: one is applied while the next one fills).
   */
  private batch = newEffectBatch();
  private spareBatch = newEffectBatch();
  /** Deadline per timer (NaN: not armed); a typed array, so arming allocates nothing. */
  private readonly timerAt = new Float64Array(SRP_TIMERS.length).fill(NaN);
  private readonly timerDirty: boolean[] = SRP_TIMERS.map(() => false);
  /** One `timer` effect per timer, refilled by `drain` (effects are read before the next one). */
  private readonly timerEffects = SRP_TIMERS.map((timer, index) => ({
    kind: 'timer' as const,
    timer,
    index,
    armed: false,
    at: NaN,
  }));
  /**
   * Two token send buffers used in turn (a token step can send one token while the previous
   * send effect is still to be applied), each with its views by rtr-list length: a token visit
   * allocates nothing. The transport copies what it cannot send at once.
   */
  private readonly tokenSlabs = [
    Buffer.allocUnsafeSlow(ORF_TOKEN_MAX_SIZE),
    Buffer.allocUnsafeSlow(ORF_TOKEN_MAX_SIZE),
  ];
  private readonly tokenViews: Buffer[][] = [[], []];
  private tokenSlab = 0;
  private readonly loop = new Fifo<Buffer>();
  private looping = false;

  // ---- protocol state (§3) ----
  private memb: SrpState = 'OPERATIONAL';
  private myRingId: RingId = ZERO_RING_ID;
  private myOldRingId: RingId = ZERO_RING_ID;
  private tokenRingIdSeq = 0n;
  private myProcList: number[] = [];
  private myFailedList: number[] = [];
  private myMembList: number[] = [];
  private myNewMembList: number[] = [];
  private myTransMembList: number[] = [];
  private myDeliverMembList: number[] = [];
  private myLeftMembList: number[] = [];
  private consensus: number[] = [];
  private myAru = 0;
  private myHighSeqReceived = 0;
  private myHighDelivered = 0;
  private myLastAru = 0;
  private lastReleased = 0;
  private myTokenSeq = SEQ_NONE;
  private myLastSeq = 0;
  private mySeqUnchanged = 0;
  private myAruCount = 0;
  private myReceivedFlg = 1;
  private myInstallSeq = 0;
  private myRetransFlgCount = 0;
  private myRotationCounter = 0;
  private mySetRetransFlg = 0;
  private oldSaved = false;
  private oldAru = 0;
  private oldHighSeqReceived = 0;
  private orfTokenDiscard = false;
  private originatedOrfToken = false;
  private failedToRecv = false;
  private myTokenHeld = false;
  /**
   * The rep kept the last token it processed (an idle ring: it decided not to forward it) and has
   * not sent it out since (hold timer, hold-cancel, retransmit). See {@link takeHeldToken}.
   * Implies OPERATIONAL and myTokenHeld: set only there by tokenSend, cleared by every send of
   * the held token and on entering GATHER.
   */
  private tokenInHand = false;
  /** A new message came while {@link tokenInHand}: the driver calls takeHeldToken() next. */
  private retakeWanted = false;
  private myTrc = 0;
  private myPbl = 0;
  private myCbl = 0;
  private waitingTransAckFlag = true;
  private globalSeqno = 0;
  private lastSentToken: Buffer | null = null;
  private tokenTarget = 0;
  private commitToken: MembCommitTokenFields | null = null;
  private leftVoluntarily: number[] = [];
  /** Messages dropped because they would take the node sets past PROCESSOR_COUNT_MAX. */
  private membershipOverflows = 0;
  /** When the pause timer last fired (or the core started): corosync's pause_timestamp. */
  private pauseTimestamp = 0;
  private lastTokenRx = -1;
  /** The last 100 accepted tokens, for the 1.5 s averages of stats.srp (token-stats.ts). */
  readonly tokenStats = new TokenStatsRing();

  private readonly regular = new SortQueue();
  private readonly recovery = new SortQueue();
  private readonly newMessageQueue = new Fifo<Buffer>();
  private readonly newMessageQueueTrans = new Fifo<Buffer>();
  private readonly retransMessageQueue = new Fifo<Buffer>();
  private readonly tok: OrfToken = createOrfToken();
  /** Header fields of new messages, reused (seq and ring are assigned when the token sends them). */
  private readonly newMcastFields: McastFields = {
    encapsulated: MESSAGE_NOT_ENCAPSULATED,
    nodeid: 0,
    systemFrom: 0,
    seq: 0,
    thisSeqno: 0,
    ringId: ZERO_RING_ID,
    nodeId: 0,
    guarantee: 0,
  };
  private readonly useHeartbeat: boolean;
  private readonly heartbeatTimeout: number;

  private readonly hooks: SrpHooks;
  /** >0 while a hook runs: a re-entrant mcast() only queues (the running step sends it). */
  private hookDepth = 0;

  constructor(cfg: SrpConfig, persisted: { ringSeq: bigint }, hooks: SrpHooks = {}) {
    this.hooks = hooks;
    if (!Number.isInteger(cfg.nodeId) || cfg.nodeId <= 0 || cfg.nodeId > 0xffffffff) {
      throw new RangeError(`totemsrp: bad local nodeid ${cfg.nodeId}`);
    }
    this.cfgNow = { ...cfg };
    this.me = cfg.nodeId;
    this.persistedSeq = persisted.ringSeq;
    const hb = cfg.heartbeatFailuresAllowed * cfg.tokenRetransmit + cfg.maxNetworkDelay;
    this.useHeartbeat = cfg.heartbeatFailuresAllowed > 0 && hb < cfg.token;
    this.heartbeatTimeout = hb;
  }

  // =============================================================================================
  // Read-only views.

  get state(): SrpState {
    return this.memb;
  }
  get ringId(): RingId {
    return this.myRingId;
  }
  get oldRingId(): RingId {
    return this.myOldRingId;
  }
  /** Current regular membership (my_memb_list). */
  get members(): readonly number[] {
    return this.myMembList;
  }
  get procList(): readonly number[] {
    return this.myProcList;
  }
  get failedList(): readonly number[] {
    return this.myFailedList;
  }
  get aru(): number {
    return this.myAru;
  }
  get highSeqReceived(): number {
    return this.myHighSeqReceived;
  }
  get highDelivered(): number {
    return this.myHighDelivered;
  }
  get tokenSeq(): number {
    return this.myTokenSeq;
  }
  get highestRingSeqSeen(): bigint {
    return this.tokenRingIdSeq;
  }
  get waitingTransAck(): boolean {
    return this.waitingTransAckFlag;
  }
  get tokenHeld(): boolean {
    return this.myTokenHeld;
  }
  /** True when a new message waits for {@link takeHeldToken} (the rep holds the token in hand). */
  get wantsHeldToken(): boolean {
    return this.retakeWanted;
  }
  get isStopped(): boolean {
    return this.stopped;
  }
  /** Messages waiting for the token in the queue mcast() currently fills. */
  get pendingMessages(): number {
    return (this.waitingTransAckFlag ? this.newMessageQueueTrans : this.newMessageQueue).length;
  }
  /** `totemsrp_avail`: room left in the queue mcast() currently fills. */
  avail(): number {
    const q = this.waitingTransAckFlag ? this.newMessageQueueTrans : this.newMessageQueue;
    return Math.max(0, this.cfg.messageQueueMax - q.length - 2);
  }
  /** Armed timers (absolute times), for tests. */
  timerDeadline(timer: SrpTimer): number | null {
    const at = this.timerAt[SRP_TIMERS.indexOf(timer)];
    return at === undefined || Number.isNaN(at) ? null : at;
  }
  /** `stats.srp.time_since_token_last_received` at `now`. */
  timeSinceTokenLastReceived(now: number): number {
    return this.lastTokenRx < 0 ? 0 : now - this.lastTokenRx;
  }

  // =============================================================================================
  // Inputs.

  /**
   * A live change of the timeouts and flow-control values. corosync's SRP reads the shared
   * totem_config at every use, so a cmap change of `totem.token` or a cfg reload takes effect at
   * once: new values apply from the next time a timer is armed or a token is handled; armed
   * timers keep their deadlines. The node id, the node list and the heartbeat decision (made
   * once at start, as corosync does) stay.
   */
  reconfigure(next: SrpConfig): void {
    this.cfgNow = { ...next, nodeId: this.cfgNow.nodeId, nodelist: this.cfgNow.nodelist };
  }

  /** The interface came up: load the ring id (persisted + 1) and enter GATHER (§5). */
  start(now: number): void {
    if (this.started) return;
    this.started = true;
    this.now = now;
    this.setRingId(makeRingId(this.me, this.persistedSeq + 1n));
    this.tokenRingIdSeq = this.myRingId.seq;
    this.log('debug', `Created or loaded sequence id ${formatRingId(this.myRingId)} for this ring.`);
    this.pauseTimestamp = now;
    this.arm(T_PAUSE, this.pauseInterval());
    this.gatherEnter(15);
    this.runLoop();
  }

  /** A datagram from the network (only read during the call: kept messages are copied). Malformed ones are counted and dropped. */
  receive(now: number, datagram: Buffer): void {
    if (!this.started || this.stopped) return;
    this.now = now;
    this.handle(datagram);
    this.runLoop();
  }

  /** A timer armed through a `timer` effect fired. Stale or cancelled expiries are ignored. */
  timerExpired(now: number, timer: SrpTimer): void {
    if (!this.started || this.stopped) return;
    const idx = SRP_TIMERS.indexOf(timer);
    const at = this.timerAt[idx];
    if (at === undefined || Number.isNaN(at) || at > now) return;
    this.timerAt[idx] = NaN;
    this.now = now;
    switch (idx) {
      case T_TOKEN:
      case T_HEARTBEAT:
        this.onTokenTimeout();
        break;
      case T_WARNING:
        this.log('notice', `Token has not been received in ${Math.trunc(now - this.lastTokenRx)} ms `);
        this.armWarning();
        break;
      case T_RETRANSMIT:
        this.onTokenRetransmitTimeout();
        break;
      case T_HOLD:
        if (this.memb === 'OPERATIONAL' || this.memb === 'RECOVERY') this.tokenRetransmit();
        break;
      case T_JOIN:
        if (this.memb === 'GATHER' || this.memb === 'COMMIT') {
          this.joinMessageSend();
          this.arm(T_JOIN, this.cfg.join);
        }
        break;
      case T_CONSENSUS:
        this.consensusTimeoutExpired();
        break;
      case T_MERGE:
        if (this.memb === 'OPERATIONAL' && this.myRingId.rep === this.me) this.mergeDetectSend();
        break;
      case T_PAUSE:
        this.pauseTimestamp = now;
        this.arm(T_PAUSE, this.pauseInterval());
        break;
    }
    this.runLoop();
  }

  /**
   * Queue an application message (payload = a totempg packet). False when the queue in use is
   * full. Also sends TOKEN_HOLD_CANCEL when the token is held (totempg's event_signal).
   */
  mcast(payload: Buffer, guarantee: number): boolean {
    const q = this.newQueueWithRoom();
    if (!q) return false;
    const buf = Buffer.allocUnsafe(MCAST_HEADER_SIZE + payload.length);
    payload.copy(buf, MCAST_HEADER_SIZE);
    return this.queueNew(q, buf, guarantee);
  }

  /**
   * {@link mcast} of a payload already placed after {@link MCAST_HEADROOM} free bytes at the
   * start of `buf`: the core writes the MCAST header there and keeps `buf` (no copy; totempg
   * builds its packets this way). `false` when the active new-message queue is full.
   */
  mcastPrepared(buf: Buffer, guarantee: number): boolean {
    const q = this.newQueueWithRoom();
    return q ? this.queueNew(q, buf, guarantee) : false;
  }

  /** The active new-message queue, or undefined when stopped or full. */
  private newQueueWithRoom(): Fifo<Buffer> | undefined {
    if (this.stopped) return undefined;
    const q = this.waitingTransAckFlag ? this.newMessageQueueTrans : this.newMessageQueue;
    return q.length < this.cfg.messageQueueMax - 1 ? q : undefined;
  }

  private queueNew(q: Fifo<Buffer>, buf: Buffer, guarantee: number): true {
    const h = this.newMcastFields;
    h.nodeid = this.me;
    h.systemFrom = this.me;
    h.guarantee = guarantee;
    encodeMcastHeaderInto(h, buf, 0);
    this.stats.mcast_tx++;
    q.push(buf);
    if (this.started && this.hookDepth === 0) {
      if (!this.markRetake()) this.tokenHoldCancelSend();
      this.runLoop();
    }
    return true;
  }

  private runHook(hook: (() => void) | undefined): void {
    if (!hook) return;
    this.hookDepth++;
    try {
      hook();
    } finally {
      this.hookDepth--;
    }
  }

  /**
   * totemsrp_event_signal(TOTEM_EVENT_NEW_MSG): the layer above has a new message (totempg
   * signals every send, also those it only stages until the next token). A token held on an
   * idle ring is released at once (token_hold_cancel_send), else the message would wait for
   * the hold timeout; the rep holding the token in hand sends no cancel but takes the token up
   * again at the driver's next {@link takeHeldToken} ({@link markRetake}). Returns true when a
   * TOKEN_HOLD_CANCEL was queued (there are sends to drain).
   */
  newMessageSignal(): boolean {
    if (!this.started || this.stopped || this.hookDepth > 0) return false;
    if (this.markRetake()) return false;
    const cancelled = this.tokenHoldCancelSend();
    this.runLoop(); // the rep holding the token takes its own cancel at once
    return cancelled;
  }

  /**
   * The rep holds the token in hand and a message of its own is coming: instead of a
   * TOKEN_HOLD_CANCEL and a retransmission of the held token (corosync's way: the token then
   * makes a whole rotation before the rep may send), the rep takes the held token up again as if
   * it had just come back, at the driver's next {@link takeHeldToken}, after the message is
   * queued (totempg stages it after signalling). **Deviation** from corosync 3.1.7, for latency:
   * a message from the rep on a resting ring leaves at once, not one rotation later. Peers see
   * the token with its token_seq advanced by two and no hold-cancel (the token's changed seq
   * resets their unchanged-rotation count as the cancel would); corosync accepts any token_seq
   * above its last. Only on a clean ring: OPERATIONAL, the held token carries no retransmission
   * request and its aru equals its seq (every member has every message, confirmed by the
   * rotations that led to the hold), so taking it twice frees nothing unconfirmed.
   * Returns true when the driver must call takeHeldToken.
   */
  private markRetake(): boolean {
    if (!this.tokenInHand) return false;
    this.retakeWanted = true;
    return true;
  }

  /**
   * The driver's turn after a new message was queued while the rep held the token in hand
   * ({@link wantsHeldToken}): process the held token again (it sends what is queued and forwards
   * the token). When the ring changed meanwhile, or the held token is not clean, the usual
   * TOKEN_HOLD_CANCEL instead. Returns true when there are effects to drain.
   */
  takeHeldToken(now: number): boolean {
    if (!this.retakeWanted) return false;
    this.retakeWanted = false;
    if (!this.started || this.stopped) return false;
    this.now = now;
    const held = this.lastSentToken;
    const t = this.tok;
    if (
      !this.tokenInHand ||
      held === null ||
      held.length !== ORF_TOKEN_SIZE ||
      decodeOrfTokenInto(held, t) !== null ||
      t.aru !== t.seq ||
      !ringIdEquals(t.ringId, this.myRingId)
    ) {
      const cancelled = this.tokenHoldCancelSend();
      this.runLoop();
      return cancelled;
    }
    this.tokenInHand = false;
    this.myTokenHeld = false;
    this.mySeqUnchanged = 0; // what our own hold-cancel would do
    this.cancel(T_HOLD);
    this.orfTokenStep(t);
    this.runLoop();
    return true;
  }

  /** Clean shutdown (§14): multicast the LEAVE message, then stop (all timers cancelled). */
  leave(now: number): void {
    if (!this.started || this.stopped) return;
    this.now = now;
    setMerge(this.myFailedList, [this.me]);
    const active = setSubtract(this.myProcList, [this.me]);
    this.stats.memb_join_tx++;
    this.sendAll(
      encodeMembJoin({
        nodeid: 0,
        systemFrom: this.me,
        procList: active,
        failedList: this.myFailedList.slice(),
        ringSeq: this.myRingId.seq,
      }),
      false,
    );
    this.stopped = true;
    for (let i = 0; i < SRP_TIMERS.length; i++) this.cancel(i);
  }

  /** Sync finished: leave waiting_trans_ack (§13). */
  transAck(): void {
    this.waitingTransAckFlag = false;
    this.emit({ kind: 'waitingTransAck', value: false });
  }

  /**
   * The effects of the calls since the last drain, in order; timer changes come last. A new
   * list, but its timer effects are reused by the next drain, its send effects by the one after
   * and the bytes of a token send by the token after next: apply them (or copy what you keep)
   * before draining again. The runtime uses {@link drainEach}, which allocates nothing.
   */
  drain(): SrpOutput {
    const list: SrpEffect[] = [];
    this.drainEach((e) => list.push(e));
    return list;
  }

  /**
   * Hand the effects of the calls since the last drain to `fn`, in order (timer changes last),
   * and return how many there were. What `fn` causes (an up-call that multicasts, say) goes
   * into the next drain. Reuse as in {@link drain}.
   */
  drainEach(fn: (e: SrpEffect) => void): number {
    for (let i = 0; i < SRP_TIMERS.length; i++) {
      if (this.timerDirty[i]) {
        this.timerDirty[i] = false;
        const e = this.timerEffects[i]!;
        const at = this.timerAt[i]!;
        e.armed = !Number.isNaN(at);
        e.at = at;
        this.emit(e);
      }
    }
    const b = this.batch;
    this.batch = this.spareBatch;
    this.batch.n = 0;
    this.batch.sendsUsed = 0;
    this.spareBatch = b;
    const { effects, n } = b;
    for (let i = 0; i < n; i++) {
      const e = effects[i]!;
      effects[i] = SPENT; // drop the reference (a message's bytes, a log line)
      fn(e);
    }
    return n;
  }

  private emit(e: SrpEffect): void {
    const b = this.batch;
    b.effects[b.n++] = e;
  }

  /** A `send` effect, from the batch's own (reused with the batch). */
  private sendEffect(to: number | 'all', bytes: Buffer): void {
    const b = this.batch;
    let e = b.sends[b.sendsUsed];
    if (e === undefined) {
      e = { kind: 'send', to, bytes };
      b.sends.push(e);
    } else {
      e.to = to;
      e.bytes = bytes;
    }
    b.sendsUsed++;
    this.emit(e);
  }

  // =============================================================================================
  // Plumbing: effects, timers, loopback.

  private log(level: 'notice' | 'debug' | 'warning', message: string): void {
    this.emit({ kind: 'log', level, message });
  }

  private arm(idx: number, after: number): void {
    this.timerAt[idx] = this.now + after;
    this.timerDirty[idx] = true;
  }

  private cancel(idx: number): void {
    if (!Number.isNaN(this.timerAt[idx]!)) {
      this.timerAt[idx] = NaN;
      this.timerDirty[idx] = true;
    }
  }

  private armWarning(): void {
    if (this.cfg.tokenWarning > 0)
      this.arm(T_WARNING, Math.trunc((this.cfg.token * this.cfg.tokenWarning) / 100));
  }

  private resetTokenTimeout(): void {
    this.arm(T_TOKEN, this.cfg.token);
    this.armWarning();
  }

  private cancelTokenTimeout(): void {
    this.cancel(T_TOKEN);
    this.cancel(T_WARNING);
  }

  private resetTokenRetransmitTimeout(): void {
    this.arm(T_RETRANSMIT, this.cfg.tokenRetransmit);
  }

  /** Multicast: the other nodelist members get it on the wire; `self` feeds it back to us. */
  private sendAll(bytes: Buffer, self: boolean): void {
    this.sendEffect('all', bytes);
    if (self) this.loop.push(bytes);
  }

  /**
   * An MCAST on the wire. corosync gets its own copy back (udpu: it is in its own member list;
   * udp: the loopback socketpair) and counts it in stats.srp.mcast_rx before dropping it as a
   * duplicate; the copy is not made here (the message is in our sort queue already), only counted.
   */
  private mcastSend(bytes: Buffer): void {
    this.sendAll(bytes, false);
    this.stats.mcast_rx++;
  }

  /** Unicast a token to `to` (ourselves: through the internal loopback). */
  private sendTo(to: number, bytes: Buffer): void {
    if (to === this.me) this.loop.push(bytes);
    else this.sendEffect(to, bytes);
  }

  private runLoop(): void {
    if (this.looping) return;
    this.looping = true;
    try {
      while (this.loop.length > 0 && !this.stopped) this.handle(this.loop.shift()!);
      if (this.stopped) this.loop.clear();
    } finally {
      this.looping = false;
    }
  }

  private setRingId(r: RingId): void {
    this.myRingId = r;
  }

  private malformed(): void {
    this.stats.rx_malformed++;
    this.stats.rx_msg_dropped++;
  }

  /**
   * Whether every node this core knows of (its proc and failed lists) with `proc`, `failed` and
   * the sender `from` added stays within PROCESSOR_COUNT_MAX, the most a join or commit token
   * can carry. corosync 3.1.7 keeps these sets in arrays of that size and merges into them
   * without a bound: two joins naming 300 new nodes each made Debian's corosync 3.1.7 abort
   * ("stack smashing detected"). Here such input is dropped (`boundExceeded`).
   */
  private withinNodeBound(proc: readonly number[], failed: readonly number[], from: number): boolean {
    const mine = this.myProcList.length + this.myFailedList.length;
    if (mine + proc.length + failed.length + 1 <= PROCESSOR_COUNT_MAX) return true;
    const known = new Set(this.myProcList);
    for (const x of this.myFailedList) known.add(x);
    for (const x of proc) known.add(x);
    for (const x of failed) known.add(x);
    known.add(from);
    return known.size <= PROCESSOR_COUNT_MAX;
  }

  /** Drop a message that names too many nodes; logged at 1, 2, 4, 8… drops (a flood stays readable). */
  private boundExceeded(what: string, from: number): void {
    this.stats.rx_msg_dropped++;
    const n = ++this.membershipOverflows;
    if ((n & (n - 1)) === 0) {
      this.log(
        'warning',
        `${what} from node ${from} would take the membership past ${PROCESSOR_COUNT_MAX} nodes: dropped (${n} so far)`,
      );
    }
  }

  // =============================================================================================
  // Dispatch (main_deliver_fn).

  private handle(buf: Buffer): void {
    if (checkHeader(buf) !== null) {
      this.malformed();
      return;
    }
    switch (buf[3]) {
      case MessageType.OrfToken:
        this.stats.orf_token_rx++;
        this.onOrfToken(buf);
        break;
      case MessageType.Mcast:
        this.stats.mcast_rx++;
        this.onMcast(buf);
        break;
      case MessageType.MembMergeDetect:
        this.stats.memb_merge_detect_rx++;
        this.onMergeDetect(buf);
        break;
      case MessageType.MembJoin:
        this.stats.memb_join_rx++;
        this.onJoin(buf);
        break;
      case MessageType.MembCommitToken:
        this.stats.memb_commit_token_rx++;
        this.onCommitToken(buf);
        break;
      case MessageType.TokenHoldCancel:
        this.stats.token_hold_cancel_rx++;
        this.onTokenHoldCancel(buf);
        break;
    }
  }

  // =============================================================================================
  // Timers.

  private onTokenTimeout(): void {
    switch (this.memb) {
      case 'OPERATIONAL':
        this.log(
          'notice',
          `A processor failed, forming new configuration: token timed out (${this.cfg.token}ms), ` +
            `waiting ${this.cfg.consensus}ms for consensus.`,
        );
        this.gatherEnter(2);
        this.stats.operational_token_lost++;
        break;
      case 'GATHER':
        this.consensusTimeoutExpired();
        this.gatherEnter(3);
        this.stats.gather_token_lost++;
        break;
      case 'COMMIT':
        this.gatherEnter(4);
        this.stats.commit_token_lost++;
        break;
      case 'RECOVERY':
        this.recoveryTokenLoss();
        this.orfTokenDiscard = true;
        break;
    }
  }

  private onTokenRetransmitTimeout(): void {
    if (this.memb === 'GATHER') return;
    this.tokenRetransmit();
    this.resetTokenRetransmitTimeout();
  }

  private tokenRetransmit(): void {
    this.tokenInHand = false;
    if (this.lastSentToken !== null) this.sendTo(this.tokenTarget, this.lastSentToken);
  }

  private consensusTimeoutExpired(): void {
    this.stats.consensus_timeouts++;
    if (this.consensusAgreed()) {
      this.consensus = [this.me];
      this.resetTokenTimeout();
    } else {
      const notSet = this.myProcList.filter((x) => !setHas(this.consensus, x));
      setMerge(this.myFailedList, notSet);
      this.gatherEnter(0);
    }
  }

  private recoveryTokenLoss(): void {
    this.myAru = this.oldAru;
    this.myHighSeqReceived = this.oldHighSeqReceived;
    this.gatherEnter(5);
    this.stats.recovery_token_lost++;
  }

  // =============================================================================================
  // GATHER (§6).

  private gatherEnter(reason: number): void {
    this.tokenInHand = false;
    this.orfTokenDiscard = true;
    this.originatedOrfToken = false;
    setMerge(this.myProcList, [this.me]);
    this.joinMessageSend();
    this.arm(T_JOIN, this.cfg.join);
    this.arm(T_CONSENSUS, this.cfg.consensus);
    this.cancel(T_RETRANSMIT);
    this.cancelTokenTimeout();
    this.cancel(T_MERGE);
    this.consensus = [this.me];
    this.log('debug', `entering GATHER state from ${reason} (${GATHER_REASONS[reason] ?? 'unknown'}).`);
    this.memb = 'GATHER';
    this.stats.gather_entered++;
    if (reason === 3) this.stats.continuous_gather++;
  }

  private joinMessageSend(): void {
    this.stats.memb_join_tx++;
    this.sendAll(
      encodeMembJoin({
        nodeid: this.me,
        systemFrom: this.me,
        procList: this.myProcList,
        failedList: this.myFailedList,
        ringSeq: this.myRingId.seq,
      }),
      true,
    );
  }

  private mergeDetectSend(): void {
    this.stats.memb_merge_detect_tx++;
    this.sendAll(
      encodeMembMergeDetect({ nodeid: this.me, systemFrom: this.me, ringId: this.myRingId }),
      true,
    );
  }

  /** Multicast TOKEN_HOLD_CANCEL if this node holds the token (§11.2); true when it did. */
  private tokenHoldCancelSend(): boolean {
    if (!this.myTokenHeld) return false;
    this.myTokenHeld = false;
    this.stats.token_hold_cancel_tx++;
    const cancel = encodeTokenHoldCancel({ nodeid: this.me, ringId: this.myRingId });
    // Our own copy is taken first, then the copies for the others go out (corosync sends all
    // copies, then reads its own back). Why: the rep holding the token re-sends the token as it
    // takes its own cancel (when it cannot take the token up again, see takeHeldToken), and
    // that token is what the new message waits for; behind the two hold-cancel sends it left
    // 20-65 µs later (each send runs the receiver's network stack first on a one-machine
    // cluster). A peer may now see the token before the cancel: it
    // forwards the token either way (only the rep holds it), and the cancel then resets its
    // unchanged-rotation count as before; at most it sends one needless cancel of its own if
    // its client sends within that rotation. Inside a step (a delivery up-call that sends), the
    // loop is already running and the order stays corosync's.
    this.loop.push(cancel);
    this.runLoop();
    this.sendEffect('all', cancel);
    return true;
  }

  /** corosync's pause timer period: a fifth of the token timeout. */
  private pauseInterval(): number {
    return this.cfg.token / 5;
  }

  /**
   * pause_flush (§6.3 step 2): the pause timer has not fired for more than half the token
   * timeout, so this process stalled and what waits in its queues is old: discard it. True when
   * something was discarded: the join at hand is dropped too.
   */
  private pauseFlush(): boolean {
    const paused = this.now - this.pauseTimestamp;
    if (paused <= this.cfg.token / 2) return false;
    this.log('notice', `Process pause detected for ${Math.trunc(paused)} ms, flushing membership messages.`);
    const discarded = this.hooks.discardQueued?.() ?? 0;
    return discarded > 0;
  }

  private consensusAgreed(): boolean {
    const active = setSubtract(this.myProcList, this.myFailedList);
    for (const x of active) if (!setHas(this.consensus, x)) return false;
    return true;
  }

  private lowestInConfig(): boolean {
    const active = setSubtract(this.myProcList, this.myFailedList);
    if (active.length === 0) return false;
    let lowest = active[0]!;
    for (const x of active) if (x < lowest) lowest = x;
    return lowest === this.me;
  }

  private onJoin(buf: Buffer): void {
    const r = decodeMembJoin(buf);
    if (!r.ok) {
      this.malformed();
      return;
    }
    const j = r.value;
    if (this.pauseFlush()) return;
    if (this.tokenRingIdSeq < j.ringSeq) this.tokenRingIdSeq = j.ringSeq;
    switch (this.memb) {
      case 'OPERATIONAL':
        if (!this.ignoreJoinUnderOperational(j)) this.joinProcess(j);
        break;
      case 'GATHER':
        this.joinProcess(j);
        break;
      case 'COMMIT':
        if (setHas(this.myNewMembList, j.systemFrom) && j.ringSeq >= this.myRingId.seq) {
          this.joinProcess(j);
          this.gatherEnter(13);
        }
        break;
      case 'RECOVERY':
        if (setHas(this.myNewMembList, j.systemFrom) && j.ringSeq >= this.myRingId.seq) {
          this.joinProcess(j);
          this.recoveryTokenLoss();
          this.gatherEnter(14);
        }
        break;
    }
  }

  private ignoreJoinUnderOperational(j: MembJoin): boolean {
    if (setHas(j.failedList, this.me)) return true;
    return setHas(this.myMembList, j.systemFrom) && j.ringSeq < this.myRingId.seq;
  }

  /** memb_join_process (§6.4). */
  private joinProcess(j: MembJoin): void {
    const leave = j.nodeid === 0;
    const s = j.systemFrom;
    let gatherEntered = false;
    if (leave && j.failedList.length > 0) {
      const who = j.failedList[j.failedList.length - 1]!;
      this.log('notice', `Received LEAVE message from ${who}`);
      // bounded like the other sets: a flood of leaves naming new nodes does not grow it
      if (this.leftVoluntarily.length < PROCESSOR_COUNT_MAX) setMerge(this.leftVoluntarily, [who]);
    }
    if (setEqual(j.procList, this.myProcList) && setEqual(j.failedList, this.myFailedList)) {
      if (!leave && this.consensus.length < PROCESSOR_COUNT_MAX) setMerge(this.consensus, [s]);
      if (this.consensusAgreed() && this.failedToRecv) {
        this.failedToRecv = false;
        this.myProcList = [this.me];
        this.myFailedList = [];
        this.commitTokenCreate();
        this.commitEnter();
        return;
      }
      if (this.consensusAgreed() && this.lowestInConfig()) {
        this.commitTokenCreate();
        this.commitEnter();
      }
    } else if (setSubset(j.procList, this.myProcList) && setSubset(j.failedList, this.myFailedList)) {
      // nothing new
    } else if (setHas(this.myFailedList, s)) {
      // news from a node I consider failed
    } else {
      if (!this.withinNodeBound(j.procList, j.failedList, s)) {
        this.boundExceeded('MEMB_JOIN', s);
        return;
      }
      const procBefore = this.myProcList.length;
      const failedBefore = this.myFailedList.length;
      setMerge(this.myProcList, j.procList);
      if (setHas(j.failedList, this.me)) {
        // Deviation from 3.1.7: corosync also adds the sender when that is this node. My own
        // join names me failed only after FAILED TO RECEIVE put me there already; any other
        // join "from me" that does is forged, and with me in my failed list no ring can form
        // (no active member is lowest, so no commit token). Found by the daemon fuzz test;
        // Debian's corosync 3.1.7 aborts on it (memb_consensus_agreed's assertion).
        if (s !== this.me) setMerge(this.myFailedList, [s]);
      } else if (setHas(this.myMembList, s)) {
        if (!setHas(this.myFailedList, s)) {
          setMerge(this.myFailedList, j.failedList);
        } else {
          setMerge(this.myFailedList, setSubtract(j.failedList, this.myMembList));
        }
      }
      // Deviation from 3.1.7: corosync re-enters GATHER here even when the join changed
      // neither of my sets (its sender is not in my ring and its failed list is not adopted).
      // Each such entry multicasts a join and restarts the consensus timer, so nodes with
      // incompatible failed lists answer each other's joins forever and the consensus timeout
      // never fires (simulator seeds 192, 352: a join storm in GATHER). Only a real change
      // re-enters GATHER; the join timer still re-sends my join every `join` ms.
      if (this.myProcList.length !== procBefore || this.myFailedList.length !== failedBefore) {
        this.gatherEnter(11);
        gatherEntered = true;
      }
    }
    if (!gatherEntered && this.memb === 'OPERATIONAL') this.gatherEnter(12);
  }

  private onMergeDetect(buf: Buffer): void {
    const r = decodeMembMergeDetect(buf);
    if (!r.ok) {
      this.malformed();
      return;
    }
    const m = r.value;
    if (ringIdEquals(m.ringId, this.myRingId)) return;
    if (!this.withinNodeBound(NO_NODES, NO_NODES, m.systemFrom)) {
      this.boundExceeded('MEMB_MERGE_DETECT', m.systemFrom);
      return;
    }
    if (this.memb === 'OPERATIONAL') {
      setMerge(this.myProcList, [m.systemFrom]);
      this.gatherEnter(9);
    } else if (this.memb === 'GATHER' && !setHas(this.myProcList, m.systemFrom)) {
      setMerge(this.myProcList, [m.systemFrom]);
      this.gatherEnter(10);
    }
  }

  private onTokenHoldCancel(buf: Buffer): void {
    const r = decodeTokenHoldCancel(buf);
    if (!r.ok) {
      this.malformed();
      return;
    }
    if (!ringIdEquals(r.value.ringId, this.myRingId)) return;
    this.mySeqUnchanged = 0;
    if (this.myRingId.rep === this.me) this.onTokenRetransmitTimeout();
  }

  // =============================================================================================
  // COMMIT (§7).

  private commitTokenCreate(): void {
    const members = sortedIds(setSubtract(this.myProcList, this.myFailedList));
    this.commitToken = {
      nodeid: this.me,
      tokenSeq: 0,
      ringId: makeRingId(this.me, this.tokenRingIdSeq + 4n),
      retransFlg: 0,
      membIndex: 0,
      addr: members,
      membList: members.map(() => ({ ringId: ZERO_RING_ID, aru: 0, highDelivered: 0, receivedFlg: 0 })),
    };
  }

  private oldRingStateSave(): void {
    if (this.oldSaved) return;
    this.oldSaved = true;
    this.myOldRingId = this.myRingId;
    this.oldAru = this.myAru;
    this.oldHighSeqReceived = this.myHighSeqReceived;
  }

  private commitEnter(): void {
    const ct = this.commitToken!;
    this.oldRingStateSave();
    // memb_state_commit_token_update
    const k = ct.membIndex;
    this.myNewMembList = ct.addr.slice();
    const mine = ct.membList[k]!;
    mine.ringId = this.myOldRingId;
    mine.aru = this.oldAru;
    this.myReceivedFlg = this.myAru === this.myHighSeqReceived ? 1 : 0;
    mine.receivedFlg = this.myReceivedFlg;
    mine.highDelivered = this.myHighDelivered;
    let highAru = mine.aru;
    for (let i = 0; i <= k; i++) {
      const e = ct.membList[i]!;
      if (ringIdEquals(e.ringId, mine.ringId) && seqLt(highAru, e.aru)) highAru = e.aru;
    }
    for (let i = 0; i <= k; i++) {
      const e = ct.membList[i]!;
      if (ringIdEquals(e.ringId, mine.ringId) && seqLt(e.aru, highAru)) {
        e.receivedFlg = 0;
        if (i === k) this.myReceivedFlg = 0;
      }
    }
    ct.nodeid = this.me;
    ct.membIndex = k + 1;
    // target set, then (synchronously on udp/udpu) the commit token is sent
    this.tokenTarget = ct.addr[ct.membIndex % ct.addr.length]!;
    this.commitTokenSend(ct);
    this.cancel(T_JOIN);
    this.cancel(T_CONSENSUS);
    this.setRingId(ct.ringId);
    this.emit({ kind: 'persistRingSeq', seq: this.myRingId.seq });
    this.tokenRingIdSeq = this.myRingId.seq;
    this.log('debug', 'entering COMMIT state.');
    this.memb = 'COMMIT';
    this.resetTokenRetransmitTimeout();
    this.resetTokenTimeout();
    this.stats.commit_entered++;
    this.stats.continuous_gather = 0;
    this.myTrc = 0;
    this.myPbl = 0;
    this.myCbl = 0;
  }

  private commitTokenSend(ct: MembCommitTokenFields): void {
    ct.tokenSeq = (ct.tokenSeq + 1) >>> 0;
    ct.nodeid = this.me;
    const bytes = encodeMembCommitToken(ct);
    this.lastSentToken = bytes;
    this.tokenInHand = false;
    this.stats.memb_commit_token_tx++;
    this.sendTo(this.tokenTarget, bytes);
    this.resetTokenRetransmitTimeout();
  }

  private onCommitToken(buf: Buffer): void {
    const r = decodeMembCommitToken(buf);
    if (!r.ok) {
      this.malformed();
      return;
    }
    const ct = r.value;
    switch (this.memb) {
      case 'OPERATIONAL':
        break;
      case 'GATHER': {
        const sub = setSubtract(this.myProcList, this.myFailedList);
        if (setEqual(ct.addr, sub) && ct.ringId.seq > this.myRingId.seq && ct.membIndex < ct.addr.length) {
          this.commitToken = ct;
          this.commitEnter();
        }
        break;
      }
      case 'COMMIT':
        if (ct.ringId.seq === this.myRingId.seq && ct.membIndex === ct.addr.length) this.recoveryEnter(ct);
        break;
      case 'RECOVERY':
        if (this.me === this.myRingId.rep && !this.originatedOrfToken) {
          this.originatedOrfToken = true;
          this.orfTokenSendInitial();
          this.resetTokenTimeout();
          this.resetTokenRetransmitTimeout();
        }
        break;
    }
  }

  // =============================================================================================
  // RECOVERY (§8).

  private recoveryEnter(ct: MembCommitToken): void {
    this.orfTokenDiscard = false;
    this.recovery.reset();
    this.retransMessageQueue.clear();
    let lowRingAru = this.oldHighSeqReceived;
    this.commitTokenSend(ct); // second rotation (memb_state_commit_token_send_recovery)
    this.myTokenSeq = SEQ_NONE;

    // transitional membership: old members present in the new ring with the same old ring
    const trans: number[] = [];
    for (const x of this.myMembList) {
      const j = ct.addr.indexOf(x);
      if (j >= 0 && ringIdEquals(ct.membList[j]!.ringId, this.myOldRingId)) trans.push(x);
    }
    this.myTransMembList = trans;

    let someoneLacks = false;
    for (let i = 0; i < ct.addr.length; i++) {
      if (setHas(trans, ct.addr[i]!) && ct.membList[i]!.receivedFlg === 0) {
        this.myDeliverMembList = trans.slice();
        someoneLacks = true;
        break;
      }
    }
    let originated = 0;
    if (someoneLacks) {
      for (let i = 0; i < ct.addr.length; i++) {
        const e = ct.membList[i]!;
        if (setHas(this.myDeliverMembList, ct.addr[i]!) && ringIdEquals(e.ringId, this.myOldRingId)) {
          if (seqLt(e.aru, lowRingAru)) lowRingAru = e.aru;
        }
      }
      const range = (this.oldHighSeqReceived - lowRingAru) >>> 0;
      if (range >= QUEUE_RTR_ITEMS_SIZE_MAX) {
        throw new Error(`totemsrp: recovery range ${range} exceeds the sort queue`);
      }
      for (let i = 1; i <= range; i++) {
        const m = this.regular.get((lowRingAru + i) >>> 0);
        if (m === undefined) continue;
        const enc = Buffer.allocUnsafe(MCAST_HEADER_SIZE + m.length);
        encodeMcastHeaderInto(
          {
            encapsulated: MESSAGE_ENCAPSULATED,
            nodeid: this.me,
            systemFrom: this.me,
            seq: 0,
            thisSeqno: 0,
            ringId: this.myRingId,
            nodeId: 0,
            guarantee: 0,
          },
          enc,
          0,
        );
        m.copy(enc, MCAST_HEADER_SIZE);
        this.retransMessageQueue.push(enc);
        originated++;
      }
      this.log(
        'debug',
        `copying all old ring messages from ${((lowRingAru + 1) >>> 0).toString(16)}-` +
          `${this.oldHighSeqReceived.toString(16)}; originated ${originated} messages in RECOVERY.`,
      );
    }
    this.myAru = 0;
    this.myAruCount = 0;
    this.mySeqUnchanged = 0;
    this.myHighSeqReceived = 0;
    this.myInstallSeq = 0;
    this.lastReleased = 0;
    // Deviation from 3.1.7 (local logic, no wire effect): corosync never resets these two
    // counters when RECOVERY is entered, only when OPERATIONAL is. After a RECOVERY that was
    // abandoned (token lost, join) their stale values let a node reach "two rotations" on its
    // first token visit of the next RECOVERY and install the ring while the others still
    // recover; the simulator found this (seed 171: premature OPERATIONAL, then a new-ring
    // message delivered as an old-ring one, and an 80 s stall until "failed to receive").
    this.myRetransFlgCount = 0;
    this.myRotationCounter = 0;
    this.resetTokenTimeout();
    this.resetTokenRetransmitTimeout();
    this.log('debug', 'entering RECOVERY state.');
    this.memb = 'RECOVERY';
    this.stats.recovery_entered++;
    this.stats.continuous_gather = 0;
  }

  private orfTokenSendInitial(): void {
    const t = this.tok;
    t.nodeid = this.me;
    t.seq = 0;
    t.tokenSeq = 0;
    t.aru = SEQ_NONE;
    t.aruAddr = this.me;
    t.ringId = this.myRingId;
    t.backlog = 0;
    t.fcc = 0;
    const flg = this.retransMessageQueue.length > 0 ? 1 : 0;
    t.retransFlg = flg;
    this.mySetRetransFlg = flg;
    t.rtrList.length = 0;
    this.stats.orf_token_tx++;
    this.tokenSend(t, true);
  }

  private tokenSend(t: OrfToken, forward: boolean): void {
    t.nodeid = this.me;
    const bytes = this.tokenBuffer(t.rtrList.length);
    encodeOrfTokenInto(t, bytes, 0);
    this.lastSentToken = bytes;
    this.tokenInHand = !forward && this.memb === 'OPERATIONAL';
    if (forward) this.sendTo(this.tokenTarget, bytes);
  }

  /** The next token send buffer, sized for `rtrItems` (at most RETRANSMIT_ENTRIES_MAX) retransmit entries. */
  private tokenBuffer(rtrItems: number): Buffer {
    const k = this.tokenSlab;
    this.tokenSlab = k ^ 1;
    const views = this.tokenViews[k]!;
    return (views[rtrItems] ??= this.tokenSlabs[k]!.subarray(0, ORF_TOKEN_SIZE + RTR_ITEM_SIZE * rtrItems));
  }

  /** Move recovered old-ring messages into the regular queue (§8.4 step 2). */
  private deliverFromRecoveryToRegular(): void {
    const range = this.myAru;
    for (let i = 1; i <= range; i++) {
      const m = this.recovery.get(i);
      if (m === undefined || m[4] !== MESSAGE_ENCAPSULATED) continue;
      const inner = m.subarray(MCAST_HEADER_SIZE);
      if (inner.length < MCAST_HEADER_SIZE) continue;
      // corosync compares the inner ring id raw and reads the inner seq without conversion
      if (!ringIdEquals(readRingId(inner, 25, false, this.myOldRingId), this.myOldRingId)) continue;
      const seq = readUInt32LE(inner, 17);
      if (this.regular.inRange(seq) && !this.regular.inuse(seq)) {
        this.regular.add(seq, inner);
        if (seqLt(this.oldHighSeqReceived, seq)) this.oldHighSeqReceived = seq;
      }
    }
  }

  /** memb_state_operational_enter (§8.4): EVS delivery and installation of the new ring. */
  private operationalEnter(): void {
    this.originatedOrfToken = false;
    this.consensus = [];
    this.oldSaved = false;
    this.deliverFromRecoveryToRegular();
    const aruSave = this.myAru;
    this.myAru = this.oldAru;
    this.deliverToApp(false, this.oldHighSeqReceived, this.myOldRingId);
    this.myLeftMembList = setSubtract(this.myMembList, this.myTransMembList);
    const joined = setSubtract(this.myNewMembList, this.myTransMembList);
    this.myMembList = this.myNewMembList.slice();
    this.lastReleased = 0;
    this.mySetRetransFlg = 0;
    this.emit({
      kind: 'confchg',
      type: 'transitional',
      members: this.myTransMembList.slice(),
      left: this.myLeftMembList.slice(),
      joined: [],
      ringId: this.myRingId,
    });
    // Whatever the upper layer still stages for the normal queue goes there now, behind the
    // normal-phase messages already queued; once the flag is up it would go to the trans queue
    // and overtake them (a fragment chain split across the queues breaks at every receiver).
    if (!this.waitingTransAckFlag) this.runHook(this.hooks.beforeWaitingTransAck);
    this.waitingTransAckFlag = true;
    this.deliverToApp(true, this.oldHighSeqReceived, this.myOldRingId);
    this.emit({ kind: 'waitingTransAck', value: true });
    this.myAru = aruSave;
    this.emit({
      kind: 'confchg',
      type: 'regular',
      members: this.myNewMembList.slice(),
      left: [],
      joined,
      ringId: this.myRingId,
    });
    this.regular.copyFrom(this.recovery);
    this.myLastAru = 0;
    this.myProcList = this.myNewMembList.slice();
    this.myFailedList = [];
    const i = this.regular.highestPresentAtOrBelow(this.myHighSeqReceived);
    this.myHighDelivered = i;
    this.regular.release(i);
    this.lastReleased = i;
    const failed = this.myLeftMembList.filter((x) => !setHas(this.leftVoluntarily, x));
    this.leftVoluntarily = [];
    this.log(
      'notice',
      `A new membership (${formatRingId(this.myRingId)}) was formed. Members` +
        (joined.length ? ` joined: ${joined.join(' ')}` : '') +
        (this.myLeftMembList.length ? ` left: ${this.myLeftMembList.join(' ')}` : '') +
        (failed.length ? `; failed to receive the leave message. failed: ${failed.join(' ')}` : ''),
    );
    this.memb = 'OPERATIONAL';
    this.stats.operational_entered++;
    this.stats.continuous_gather = 0;
    this.myReceivedFlg = 1;
    this.arm(T_PAUSE, this.pauseInterval()); // reset_pause_timeout: re-armed, timestamp kept
    this.myOldRingId = this.myRingId;
  }

  // =============================================================================================
  // ORF token (§9).

  private onOrfToken(buf: Buffer): void {
    if (decodeOrfTokenInto(buf, this.tok) !== null) {
      this.malformed();
      return;
    }
    this.orfTokenStep(this.tok);
  }

  /** A decoded ORF token (`this.tok`): received, or the rep's held one taken up again. */
  private orfTokenStep(t: OrfToken): void {
    if (this.orfTokenDiscard) return;

    if (t.seq === this.myLastSeq) {
      if (Number.isNaN(this.timerAt[T_MERGE]!)) this.arm(T_MERGE, this.cfg.merge);
      this.mySeqUnchanged++;
    } else {
      this.cancel(T_MERGE);
      this.cancel(T_HOLD);
      this.mySeqUnchanged = 0;
    }
    this.myLastSeq = t.seq;

    const rep = this.myRingId.rep === this.me;
    this.myTokenHeld = rep
      ? this.mySeqUnchanged > this.cfg.seqnoUnchangedConst
      : this.mySeqUnchanged >= this.cfg.seqnoUnchangedConst;
    let forward = !(rep && this.myTokenHeld);

    if (this.memb === 'COMMIT') {
      this.heartbeatUpdate(forward);
      return;
    }
    if (!ringIdEquals(t.ringId, this.myRingId)) {
      this.heartbeatUpdate(forward);
      return;
    }
    if (seqLte(t.tokenSeq, this.myTokenSeq)) return;
    // Deviation from 3.1.7 (spec quirk 3, "optional"): corosync frees before the ring and
    // token_seq checks. A retransmitted copy of the token just processed then counts as a
    // second visit (my_last_aru already holds its aru) and frees messages that no full rotation
    // has confirmed; if the only other holders then fail, a transitional peer never gets them
    // (found by the simulator, seed 334: P9). Free only on accepted tokens.
    if (this.memb === 'OPERATIONAL') this.messagesFree(t.aru);

    this.lastTokenRx = this.now;
    this.tokenStats.received(this.now);
    this.emit(TOKEN_RECEIVED);
    // TOKEN_RECEIVED callback (§9 step 7.3), before flow control and sending: what the upper
    // layer queues now (totempg's partly filled packet) rides this token.
    this.runHook(this.hooks.onTokenReceived);
    const lastAru = this.myLastAru;
    this.myLastAru = t.aru;

    let allowed = this.fccCalculate(t);
    const retransmitted = this.orfTokenRtr(t, allowed);
    allowed -= retransmitted;
    if (
      this.cfg.cancelTokenHoldOnRetransmit &&
      this.myTokenHeld &&
      (t.rtrList.length > 0 || retransmitted > 0)
    ) {
      this.myTokenHeld = false;
      forward = true;
    }
    // fcc_rtr_limit: do not overflow the sort queue window
    if (seqLt((this.lastReleased + QUEUE_RTR_ITEMS_SIZE_MAX - allowed - this.cfg.windowSize) >>> 0, t.seq)) {
      allowed = 0;
    }
    const sent = this.orfTokenMcast(t, allowed);
    // fcc_token_update (u32 arithmetic)
    const transmitted = retransmitted + sent;
    t.fcc = (t.fcc + transmitted - this.myTrc) >>> 0;
    t.backlog = (t.backlog + this.myCbl - this.myPbl) >>> 0;
    this.myTrc = transmitted;
    this.myPbl = this.myCbl;

    if (seqLt(this.myAru, t.aru) || t.aruAddr === this.me || t.aruAddr === 0) {
      t.aru = this.myAru;
      t.aruAddr = t.aru === t.seq ? 0 : this.me;
    }
    if (t.aru === lastAru && t.aruAddr !== 0) this.myAruCount++;
    else this.myAruCount = 0;

    if (this.myAruCount > this.cfg.failRecvConst && t.aruAddr === this.me) {
      this.log('warning', 'FAILED TO RECEIVE');
      this.failedToRecv = true;
      setMerge(this.myFailedList, [this.me]);
      this.gatherEnter(6);
    } else {
      this.myTokenSeq = t.tokenSeq;
      t.tokenSeq = (t.tokenSeq + 1) >>> 0;
      if (this.memb === 'RECOVERY') this.recoveryInstallLogic(t);
      this.tokenSend(t, forward);
      if (this.memb === 'OPERATIONAL') this.deliverToApp(false, this.myHighSeqReceived, this.myRingId);
      this.resetTokenTimeout();
      this.resetTokenRetransmitTimeout();
      if (rep && this.myTokenHeld) this.arm(T_HOLD, this.cfg.hold);
      this.tokenStats.sent(this.now); // corosync's TOKEN_SENT callback
    }
    this.heartbeatUpdate(forward);
  }

  private heartbeatUpdate(forward: boolean): void {
    if (forward && this.useHeartbeat) this.arm(T_HEARTBEAT, this.heartbeatTimeout);
    else this.cancel(T_HEARTBEAT);
  }

  /** §8.3: retrans_flg bookkeeping, install seq and the two rotations before OPERATIONAL. */
  private recoveryInstallLogic(t: OrfToken): void {
    if (this.retransMessageQueue.length > 0) {
      if (t.retransFlg === 0) {
        t.retransFlg = 1;
        this.mySetRetransFlg = 1;
      }
    } else if (t.retransFlg === 1 && this.mySetRetransFlg) {
      t.retransFlg = 0;
      this.mySetRetransFlg = 0;
    }
    if (t.retransFlg === 0) this.myRetransFlgCount++;
    else this.myRetransFlgCount = 0;
    if (this.myRetransFlgCount === 2) this.myInstallSeq = t.seq;
    if (this.myRetransFlgCount >= 2 && this.myReceivedFlg === 0 && seqLte(this.myInstallSeq, this.myAru)) {
      this.myReceivedFlg = 1;
      this.myDeliverMembList = this.myTransMembList.slice();
    }
    if (this.myRetransFlgCount >= 3 && seqLte(this.myInstallSeq, t.aru)) this.myRotationCounter++;
    else this.myRotationCounter = 0;
    if (this.myRotationCounter === 2) {
      this.operationalEnter();
      this.myRotationCounter = 0;
      this.myRetransFlgCount = 0;
    }
  }

  /** fcc_calculate (§9.1), u32 arithmetic. */
  private fccCalculate(t: OrfToken): number {
    let allowed = this.cfg.maxMessages;
    const window = (this.cfg.windowSize - t.fcc) >>> 0;
    if (allowed > window) allowed = window;
    this.myCbl = this.backlogGet();
    this.tokenStats.setBacklog(this.myCbl);
    const d = (t.backlog + this.myCbl - this.myPbl) >>> 0;
    if (d !== 0) {
      const b = Math.floor(((this.cfg.windowSize * this.myPbl) >>> 0) / d) >>> 0;
      if (b > 0 && allowed > b) allowed = b;
    }
    return allowed;
  }

  private backlogGet(): number {
    if (this.memb === 'OPERATIONAL') {
      return (this.waitingTransAckFlag ? this.newMessageQueueTrans : this.newMessageQueue).length;
    }
    if (this.memb === 'RECOVERY') return this.retransMessageQueue.length;
    return 0;
  }

  /** messages_free (§9.2). */
  private messagesFree(tokenAru: number): void {
    let releaseTo = tokenAru;
    if (seqLt(this.myLastAru, releaseTo)) releaseTo = this.myLastAru;
    if (seqLt(this.myHighDelivered, releaseTo)) releaseTo = this.myHighDelivered;
    if (seqLt(releaseTo, this.lastReleased)) return;
    const range = (releaseTo - this.lastReleased) >>> 0;
    if (range === 0) return;
    if (range >= QUEUE_RTR_ITEMS_SIZE_MAX) throw new Error(`totemsrp: release range ${range} too large`);
    this.regular.release(releaseTo);
    this.lastReleased = releaseTo;
  }

  /** orf_token_rtr (§9.3): serve requests, then add mine. Returns the number re-sent. */
  private orfTokenRtr(t: OrfToken, allowed: number): number {
    const q = this.memb === 'RECOVERY' ? this.recovery : this.regular;
    const list = t.rtrList;
    let served = 0;
    let i = 0;
    while (served < allowed && i < list.length) {
      const item = list[i]!;
      if (!ringIdEquals(item.ringId, this.myRingId)) {
        i++;
        continue;
      }
      const m = q.inRange(item.seq) ? q.get(item.seq) : undefined;
      if (m !== undefined) {
        this.mcastSend(m);
        for (let k = i; k < list.length - 1; k++) list[k] = list[k + 1]!;
        list.length--;
        this.stats.mcast_retx++;
        served++;
      } else {
        i++;
      }
    }
    const range = (t.seq - this.myAru) >>> 0;
    for (let k = 1; list.length < RETRANSMIT_ENTRIES_MAX && k <= range; k++) {
      const s = (this.myAru + k) >>> 0;
      if (!q.inRange(s)) break;
      if (q.inuse(s)) continue;
      if (q.missCount(s) < this.cfg.missCountConst) continue;
      let found = false;
      for (let j = 0; j < list.length; j++) {
        if (list[j]!.seq === s) {
          found = true;
          break;
        }
      }
      if (!found) list.push({ ringId: this.myRingId, seq: s });
    }
    return served;
  }

  /** orf_token_mcast (§9.4). */
  private orfTokenMcast(t: OrfToken, allowed: number): number {
    let q: Fifo<Buffer>;
    let sq: SortQueue;
    if (this.memb === 'RECOVERY') {
      q = this.retransMessageQueue;
      sq = this.recovery;
      this.resetTokenRetransmitTimeout();
    } else {
      q = this.waitingTransAckFlag ? this.newMessageQueueTrans : this.newMessageQueue;
      sq = this.regular;
    }
    let n = 0;
    for (; n < allowed; n++) {
      const m = q.peek();
      if (m === undefined) break;
      t.seq = (t.seq + 1) >>> 0;
      writeUInt32LE(m, t.seq, 17);
      writeInt32LE(m, this.globalSeqno | 0, 21);
      this.globalSeqno = (this.globalSeqno + 1) | 0;
      writeRingId(m, 25, this.myRingId);
      if (sq.inuse(t.seq)) {
        // A message already sits at this seq (it can only be a stale copy); keep the protocol
        // going rather than assert as corosync does.
        this.log('warning', `sort queue slot ${t.seq} already in use while sending`);
      } else {
        sq.add(t.seq, m);
      }
      this.mcastSend(m);
      q.shift();
      this.myHighSeqReceived = t.seq;
    }
    this.updateAru();
    return n;
  }

  // =============================================================================================
  // MCAST (§10).

  private onMcast(buf: Buffer): void {
    if (buf.length < MCAST_HEADER_SIZE) {
      this.malformed();
      return;
    }
    const be = isBigEndian(buf);
    const encapsulated = buf[4] === MESSAGE_ENCAPSULATED;
    if (encapsulated) {
      const inner = buf.subarray(MCAST_HEADER_SIZE);
      if (
        inner.length < MCAST_HEADER_SIZE ||
        checkHeader(inner) !== null ||
        inner[3] !== MessageType.Mcast ||
        inner[4] === MESSAGE_ENCAPSULATED
      ) {
        this.malformed();
        return;
      }
    }
    const ring = readRingId(buf, 25, be, this.myRingId);
    if (ring !== this.myRingId && !ringIdEquals(ring, this.myRingId)) {
      const from = u32(buf, 13, be);
      if (!this.withinNodeBound(NO_NODES, NO_NODES, from)) {
        this.boundExceeded('MCAST', from);
        return;
      }
      switch (this.memb) {
        case 'OPERATIONAL':
          setMerge(this.myProcList, [from]);
          this.gatherEnter(7);
          break;
        case 'GATHER':
          if (!setHas(this.myProcList, from)) {
            setMerge(this.myProcList, [from]);
            this.gatherEnter(8);
          }
          break;
        default:
          this.stats.rx_msg_dropped++;
      }
      return;
    }
    if (this.memb === 'RECOVERY' && !encapsulated) {
      // Deviation from 3.1.7 (spec §17): a regular message of the new ring, sent by a member
      // that already entered OPERATIONAL, would be stored in the regular queue, which still
      // holds the old ring's messages under the same seq numbers, and be delivered as an
      // old-ring message if that old seq was a gap. Drop it instead: once this node is
      // OPERATIONAL the seq is missing from its queue and is requested through the rtr list.
      this.stats.rx_msg_dropped++;
      return;
    }
    const q = encapsulated ? this.recovery : this.regular;
    const seq = u32(buf, 17, be);
    if (q.inRange(seq) && !q.inuse(seq)) {
      if (seqLt(this.myHighSeqReceived, seq)) this.myHighSeqReceived = seq;
      q.add(seq, ownCopy(buf));
    }
    this.updateAru();
    if (this.memb === 'OPERATIONAL') this.deliverToApp(false, this.myHighSeqReceived, this.myRingId);
  }

  /** update_aru (§10.1). */
  private updateAru(): void {
    const q = this.memb === 'RECOVERY' ? this.recovery : this.regular;
    const range = (this.myHighSeqReceived - this.myAru) >>> 0;
    const base = this.myAru;
    let i = 1;
    for (; i <= range; i++) if (!q.inuse((base + i) >>> 0)) break;
    this.myAru = (base + i - 1) >>> 0;
  }

  /** messages_deliver_to_app (§10.2). */
  private deliverToApp(skip: boolean, end: number, ring: RingId): void {
    const range = (end - this.myHighDelivered) >>> 0;
    if (range === 0) return;
    if (range >= QUEUE_RTR_ITEMS_SIZE_MAX) {
      throw new Error(`totemsrp: delivery range ${range} exceeds the sort queue`);
    }
    const stored = this.myHighDelivered;
    for (let i = 1; i <= range; i++) {
      const s = (stored + i) >>> 0;
      if (!this.regular.inRange(s)) break;
      const m = this.regular.get(s);
      if (m === undefined && !skip) break;
      this.myHighDelivered = s;
      if (m === undefined) continue;
      const be = isBigEndian(m);
      if (skip && !setHas(this.myDeliverMembList, u32(m, 13, be))) continue;
      this.emit({
        kind: 'deliver',
        from: u32(m, 5, be),
        payload: m.subarray(MCAST_HEADER_SIZE),
        endianConvert: be,
        ringId: ring,
        seq: s,
      });
    }
  }
}
