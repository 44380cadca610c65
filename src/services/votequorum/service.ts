/**
 * The votequorum service engine (corosync 3.1.7 exec/votequorum.c behaviour, spec
 * votequorum.md): vote-based quorum for the cluster, the provider behind the quorum service.
 *
 * - Arithmetic and node table: {@link QuorumCore} (quorum-math.ts).
 * - Configuration (§3): read from icmap at init (a startup error throws, so the daemon exits
 *   with corosync's message), re-read at runtime through icmap trackers on `quorum.`,
 *   `nodelist.` and `config.totemconfig_reload_in_progress`, exactly the keys 3.1.7 honours.
 * - Exec handlers NODEINFO / RECONFIGURE / QDEVICE_REG / QDEVICE_RECONFIGURE (§5).
 * - Sync hooks (§9): vanished members DEAD and the last-man-standing timer at init; NODEINFO of
 *   us and of the qdevice (+ QDEVICE_REG) and the NODELIST notification in process, which keeps
 *   reporting "not done" while a registered qdevice has not polled for the new ring; quorum
 *   recalculation, provider callback and QUORUM notification at activation.
 * - IPC lib handlers 0..9 (§6, §7) with trackers (CURRENT / CHANGES / CHANGES_ONLY).
 * - `runtime.votequorum.*` keys (§8) and the read-only `quorum.*` keys.
 * - {@link QuorumProvider}: how the quorum service (and anyone else) learns quorum changes.
 *
 * Pure: timers are armed through {@link VotequorumTimers} (the runtime calls
 * {@link VotequorumService.timerExpired}), the expected-votes barrier is persisted through
 * {@link EvTrackingStore}. Messages go out through ExecApi.mcast, callbacks through
 * IpcConnection.sendEvent (which only queues).
 *
 * Registration (what the daemon wires): when `quorum.provider` is `corosync_votequorum`,
 * register this engine with the exec layer right BEFORE the quorum engine (corosync links
 * votequorum from inside the quorum engine's init, so votequorum's keys and its "Service engine
 * loaded" line come first), register `engine.ipc` with the IPC server, and hand `engine` (a
 * QuorumProvider) to the quorum service. Its `init` multicasts the first NODEINFO.
 */
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync, openSync, closeSync, fdatasyncSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Icmap } from '../../cmap/icmap.js';
import { TrackFlags, type TrackEvent } from '../../cmap/map.js';
import { installVotequorumReadOnlyKeys } from '../../cmap/ro-keys.js';
import { CmapValueType } from '../../cmap/types.js';
import { CsErrorCode } from '../../common/errors.js';
import { ServiceId, TotemGuarantee } from '../../exec/codec.js';
import type { ExecApi, ServiceEngine, SyncHooks } from '../../exec/service-engine.js';
import type { IpcConnection, IpcServiceDefinition } from '../../ipc/server.js';
import { type RingId, ZERO_RING_ID } from '../../totem/wire/index.js';
import {
  type QdeviceName,
  type VqExecMessage,
  type VqGetinfo,
  type VqNodeEntry,
  type VqRequest,
  QDEVICE_DEFAULT_SYNC_TIMEOUT,
  QDEVICE_DEFAULT_TIMEOUT,
  QdeviceOperation,
  TrackFlag,
  VQ_REQUEST_COUNT,
  VqInfoFlag,
  decodeVqExec,
  decodeVqRequest,
  encodeVqExpectedVotesNotification,
  encodeVqGetinfo,
  encodeVqNodeinfo,
  encodeVqNodelistNotification,
  encodeVqQdeviceReconfigure,
  encodeVqQdeviceReg,
  encodeVqQuorumNotification,
  encodeVqReconfigure,
  encodeVqStatus,
  qdeviceNameFits,
} from './codec.js';
import {
  AtbMode,
  NodeFlag,
  QDEVICE_NODEID,
  QuorumCore,
  type QuorumLogLevel,
  ReconfigParam,
  parseAtbString,
} from './quorum-math.js';
import { readInt32LE, readUInt32LE, writeUInt32LE } from '../../common/bytes.js';

export const VOTEQUORUM_SERVICE_ID = ServiceId.VOTEQUORUM;
export const VOTEQUORUM_SERVICE_NAME = 'votequorum';
/** Default last_man_standing_window (ms). */
export const DEFAULT_LMS_WINDOW = 10000;

const OK = CsErrorCode.CS_OK;

/** What the quorum service is told (corosync's quorum_set_quorate_fn_t). */
export type QuorumCallback = (quorate: boolean, members: readonly number[], ringId: RingId) => void;

/**
 * A quorum provider as the quorum service sees it. `subscribe` returns the unsubscribe
 * function. Callbacks run synchronously inside votequorum's step: at every sync activation
 * (always) and whenever the quorate state changes outside a sync.
 */
export interface QuorumProvider {
  subscribe(cb: QuorumCallback): () => void;
  quorate(): boolean;
  /** Member list of the last sync (ascending, as totem gives it). */
  members(): number[];
  /** Ring id of the last sync. */
  ringId(): RingId;
}

export type VotequorumTimerKind = 'lms' | 'qdevice';

/** Timers the runtime arms for the service; on expiry it calls `timerExpired(kind)`. */
export interface VotequorumTimers {
  /** (Re)arm `kind` to fire once after `ms` milliseconds (replaces an armed one). */
  arm(kind: VotequorumTimerKind, ms: number): void;
  disarm(kind: VotequorumTimerKind): void;
}

/** Where the expected-votes tracking barrier lives (corosync: `<state_dir>/ev_tracking`). */
export interface EvTrackingStore {
  /** The stored barrier (0 if none; create it). Throw when it cannot be read or created. */
  load(): number;
  /** Persist a new barrier (errors are logged by the caller). */
  save(value: number): void;
}

/** An in-memory store (tests, or a daemon without a state directory). */
export function memoryEvTrackingStore(initial = 0): EvTrackingStore & { value: number } {
  const store = {
    value: initial >>> 0,
    load: () => store.value,
    save: (v: number) => {
      store.value = v >>> 0;
    },
  };
  return store;
}

/**
 * corosync's file: 4 raw bytes, host (little-endian) order, created with 0 when missing;
 * rewritten and fdatasync'ed on every rise. Only for the runtime shell: the core never does I/O
 * by itself, it calls the store it is given.
 */
export function fileEvTrackingStore(stateDir: string): EvTrackingStore {
  const file = join(stateDir, 'ev_tracking');
  return {
    load: () => {
      try {
        const b = readFileSync(file);
        if (b.length >= 4) return readUInt32LE(b, 0);
      } catch {
        // missing or unreadable: (re)create below
      }
      writeFileSync(file, Buffer.alloc(4), { mode: 0o700 });
      return 0;
    },
    save: (value) => {
      const b = Buffer.alloc(4);
      writeUInt32LE(b, value >>> 0, 0);
      const fd = openSync(file, 'w', 0o700);
      try {
        writeSync(fd, b, 0, 4, 0);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
  };
}

export interface VotequorumLogger {
  debug(msg: string): void;
  info(msg: string): void;
  notice?(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface VotequorumServiceOptions {
  icmap: Icmap;
  logger?: VotequorumLogger;
  /** Without timers the LMS window and the qdevice timeouts never expire. */
  timers?: VotequorumTimers;
  /** Used when expected_votes_tracking / allow_downscale is on (default: in memory). */
  evTrackingStore?: EvTrackingStore;
}

/** Per-connection private data (corosync's `struct quorum_pd`). */
export class VqConnState {
  readonly conn: IpcConnection;
  trackingEnabled = false;
  trackFlags = 0;
  context = 0n;

  constructor(conn: IpcConnection) {
    this.conn = conn;
  }
}

/** Counters of what the engine refused or dropped. */
export interface VotequorumStats {
  malformedExec: number;
  ignoredExec: number;
  sendFailures: number;
}

/** Result of one configuration read (§3): an error string means "fatal at startup". */
type ReadResult = string | undefined;

/** The votequorum service engine. Register it with the exec layer and `ipc` with the IPC server. */
export class VotequorumService implements ServiceEngine, QuorumProvider {
  readonly id = VOTEQUORUM_SERVICE_ID;
  readonly name = 'corosync vote quorum service v1.0';
  readonly defaultName = 'corosync_votequorum';
  readonly priority = 2;
  readonly execFnCount = 4;
  readonly sync: SyncHooks;
  readonly ipc: IpcServiceDefinition<VqConnState>;
  readonly stats: VotequorumStats = { malformedExec: 0, ignoredExec: 0, sendFailures: 0 };

  private readonly icmap: Icmap;
  private readonly logger: VotequorumLogger | undefined;
  private readonly timers: VotequorumTimers | undefined;
  private readonly evStore: EvTrackingStore;
  private api: ExecApi | undefined;
  private coreRef: QuorumCore | undefined;

  // configuration-derived
  private initialAtb: AtbMode = AtbMode.NONE;
  private wfaAutoset = false;
  private lmsWindow = DEFAULT_LMS_WINDOW;
  private qdeviceTimeout = QDEVICE_DEFAULT_TIMEOUT;
  private qdeviceSyncTimeout = QDEVICE_DEFAULT_SYNC_TIMEOUT;
  private qdeviceCanOperate = true;

  // qdevice
  private qdeviceName = '';
  private qdeviceRegConn: IpcConnection | undefined;
  private qdeviceTimerSet = false;
  private lmsTimerSet = false;

  // sync
  private quorumRingId: RingId = ZERO_RING_ID;
  private syncWaitForPoll = false;
  /** Messages of this round's sync_process not yet accepted by totem. */
  private syncOutbox: Buffer[] | undefined;
  private syncNotified = false;

  /** Tracking connections, most recent first (corosync adds at the list head). */
  private trackers: VqConnState[] = [];
  private readonly subscribers: QuorumCallback[] = [];
  private readonly icmapTracks: number[] = [];

  constructor(opts: VotequorumServiceOptions) {
    this.icmap = opts.icmap;
    this.logger = opts.logger;
    this.timers = opts.timers;
    this.evStore = opts.evTrackingStore ?? memoryEvTrackingStore();
    this.sync = {
      init: (_trans, members, ringId) => this.syncInit(members, ringId),
      process: () => this.syncProcess(),
      activate: () => this.syncActivate(),
      abort: () => undefined,
    };
    this.ipc = this.createIpc();
  }

  // ---------------------------------------------------------------------------------------
  // QuorumProvider

  subscribe(cb: QuorumCallback): () => void {
    this.subscribers.push(cb);
    return () => {
      const i = this.subscribers.indexOf(cb);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  /** Alias of {@link subscribe}. */
  onQuorumChange(cb: QuorumCallback): () => void {
    return this.subscribe(cb);
  }

  quorate(): boolean {
    return this.coreRef?.quorate ?? false;
  }

  members(): number[] {
    return this.coreRef ? this.coreRef.members.slice() : [];
  }

  ringId(): RingId {
    return this.quorumRingId;
  }

  // ---------------------------------------------------------------------------------------
  // Introspection (tests, tools)

  /** The arithmetic core (read it; change it only in tests). Throws before init. */
  get core(): QuorumCore {
    if (!this.coreRef) throw new Error('votequorum: not initialised');
    return this.coreRef;
  }

  /** The qdevice name known here ('' = none). */
  get knownQdeviceName(): string {
    return this.qdeviceName;
  }

  /** True while sync_process waits for a qdevice poll of the new ring. */
  get waitingForQdevicePoll(): boolean {
    return this.syncWaitForPoll;
  }

  get qdeviceOperable(): boolean {
    return this.qdeviceCanOperate;
  }

  // ---------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * exec_init_fn: node table with us, configuration (a fatal configuration error throws with
   * corosync's message), first recalculation, read-only keys, config trackers, NODEINFO(us).
   */
  init(api: ExecApi): void {
    this.api = api;
    const core = new QuorumCore(api.nodeId, {
      expectedVotesNotification: (expected) => this.sendExpectedVotesNotification(expected),
      evTrackingBarrier: (v) => this.publishEvTrackingBarrier(v),
      evBarrier: (v) => this.setU32('runtime.votequorum.ev_barrier', v),
      nodeIds: (lo, hi) => {
        this.log('debug', `lowest node id: ${lo} us: ${api.nodeId}`);
        this.log('debug', `highest node id: ${hi} us: ${api.nodeId}`);
        this.setU32('runtime.votequorum.lowest_node_id', lo);
        this.setU32('runtime.votequorum.highest_node_id', hi);
      },
      waitForAllStatus: (s) => this.setU8('runtime.votequorum.wait_for_all_status', s ? 1 : 0),
      quorateChanged: () => this.quorumChanged(),
      lmsDisabled: () => this.disarm('lms'),
      log: (level, msg) => this.log(level, msg),
    });
    this.coreRef = core;
    this.setU32('runtime.votequorum.this_node_id', core.us.nodeId);
    const error = this.readConfig(false);
    if (error) throw new Error(error);
    core.recalculate(false, false);
    installVotequorumReadOnlyKeys(this.icmap);
    const flags = TrackFlags.ADD | TrackFlags.DELETE | TrackFlags.MODIFY | TrackFlags.PREFIX;
    const cb = (ev: TrackEvent) => this.refreshConfig(ev.key);
    this.icmapTracks.push(this.icmap.trackAdd('nodelist.', flags, cb));
    this.icmapTracks.push(this.icmap.trackAdd('quorum.', flags, cb));
    this.icmapTracks.push(
      this.icmap.trackAdd('config.totemconfig_reload_in_progress', TrackFlags.ADD | TrackFlags.MODIFY, cb),
    );
    // the first NODEINFO goes out from init, before SERVICE_BUILD (as the captures show)
    this.sendNodeinfo(core.us.nodeId);
  }

  /** exec_exit_fn: with allow_downscale, tell the others we are leaving (NODEINFO + LEAVING). */
  exit(): boolean {
    const core = this.coreRef;
    if (core?.allowDownscale) {
      core.us.flags |= NodeFlag.LEAVING;
      this.sendNodeinfo(core.us.nodeId);
    }
    for (const h of this.icmapTracks.splice(0)) {
      try {
        this.icmap.trackDelete(h);
      } catch {
        // already gone
      }
    }
    this.disarm('lms');
    this.disarm('qdevice');
    return true;
  }

  /** A timer armed through {@link VotequorumTimers} fired. */
  timerExpired(kind: VotequorumTimerKind): void {
    const core = this.coreRef;
    if (!core) return;
    if (kind === 'lms') {
      if (!this.lmsTimerSet) return;
      this.lmsTimerSet = false;
      core.lmsTimerExpired();
      return;
    }
    // qdevice poll (or sync) timeout
    if (!(core.us.flags & NodeFlag.QDEVICE_ALIVE) || !this.qdeviceTimerSet) return;
    core.us.flags &= ~(NodeFlag.QDEVICE_ALIVE | NodeFlag.QDEVICE_CAST_VOTE);
    this.log('info', `lost contact with quorum device ${this.qdeviceName}`);
    this.sendNodeinfo(core.us.nodeId);
    this.qdeviceTimerSet = false;
    this.syncWaitForPoll = false;
  }

  private arm(kind: VotequorumTimerKind, ms: number): void {
    if (kind === 'lms') this.lmsTimerSet = true;
    else this.qdeviceTimerSet = true;
    this.timers?.arm(kind, ms);
  }

  private disarm(kind: VotequorumTimerKind): void {
    if (kind === 'lms') {
      if (!this.lmsTimerSet) return;
      this.lmsTimerSet = false;
    } else {
      if (!this.qdeviceTimerSet) return;
      this.qdeviceTimerSet = false;
    }
    this.timers?.disarm(kind);
  }

  // ---------------------------------------------------------------------------------------
  // icmap helpers

  private setU32(key: string, v: number): void {
    this.icmap.setValue(key, { type: CmapValueType.UINT32, value: v >>> 0 });
  }

  private setU8(key: string, v: number): void {
    this.icmap.setValue(key, { type: CmapValueType.UINT8, value: v & 0xff });
  }

  /** icmap_get_<type>: undefined when missing or of another type. */
  private getNum(key: string, type: number): number | undefined {
    const v = this.icmap.getValue(key);
    return v && v.type === type && typeof v.value === 'number' ? v.value : undefined;
  }

  private getU32(key: string): number | undefined {
    return this.getNum(key, CmapValueType.UINT32);
  }

  private getU8(key: string): number | undefined {
    return this.getNum(key, CmapValueType.UINT8);
  }

  private getString(key: string): string | undefined {
    const v = this.icmap.getValue(key);
    return v && v.type === CmapValueType.STRING ? v.value : undefined;
  }

  private setAtbType(mode: AtbMode): void {
    this.setU32('runtime.votequorum.atb_type', mode);
  }

  private setCanOperate(v: boolean): void {
    this.qdeviceCanOperate = v;
    this.setU8('runtime.votequorum.qdevice_can_operate', v ? 1 : 0);
  }

  private publishEvTrackingBarrier(v: number): void {
    this.setU32('runtime.votequorum.ev_tracking_barrier', v);
    try {
      this.evStore.save(v);
    } catch (err) {
      this.log('warn', `Unable to update ev_tracking_barrier on disk data!!! (${errText(err)})`);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Configuration (§3)

  /** Nodelist part of the read: undefined without `nodelist.local_node_pos`. */
  private readNodelist(): { votes: number; count: number; expected: number } | undefined {
    const ourPos = this.getU32('nodelist.local_node_pos');
    if (ourPos === undefined) {
      this.log('debug', 'No nodelist defined or our node is not in the nodelist');
      return undefined;
    }
    let votes = 0;
    let count = 0;
    let expected = 0;
    let last: number | undefined;
    for (const key of this.icmap.keys('nodelist.node.')) {
      const m = /^nodelist\.node\.(\d+)\.(.+)$/.exec(key);
      if (!m) continue;
      const pos = Number(m[1]) >>> 0;
      if (pos === last) continue;
      last = pos;
      count++;
      const v = this.getU32(`nodelist.node.${pos}.quorum_votes`) ?? 1;
      expected = (expected + v) >>> 0;
      if (pos === ourPos) votes = v;
    }
    return { votes, count, expected };
  }

  /**
   * votequorum_readconfig. Returns corosync's fatal error string (startup only; at runtime the
   * same conditions are logged and handled as 3.1.7 does).
   */
  private readConfig(runtime: boolean): ReadResult {
    const core = this.core;
    this.log('debug', `Reading configuration (runtime: ${runtime ? 1 : 0})`);
    if (runtime) {
      core.atb = this.initialAtb;
      this.setAtbType(core.atb);
    }
    let expected = this.getU32('quorum.expected_votes') ?? 0;
    const nodelist = this.readNodelist();
    let nodeExpected = nodelist?.expected ?? 0;
    // qdevice: configured iff quorum.device.model is a non-empty string; votes -1 = unset
    let qdeviceVotes = 0;
    const model = this.getString('quorum.device.model');
    const haveQdevice = model !== undefined && model.length > 0;
    if (haveQdevice) {
      qdeviceVotes = this.getU32('quorum.device.votes') ?? -1;
      this.qdeviceTimeout = this.getU32('quorum.device.timeout') ?? QDEVICE_DEFAULT_TIMEOUT;
      this.qdeviceSyncTimeout = this.getU32('quorum.device.sync_timeout') ?? QDEVICE_DEFAULT_SYNC_TIMEOUT;
      this.setCanOperate(true);
    }
    core.twoNode = (this.getU8('quorum.two_node') ?? 0) !== 0;

    const fatal = (msg: string, runtimeAction?: () => void): ReadResult => {
      if (!runtime) return msg;
      this.log('crit', msg);
      runtimeAction?.();
      return undefined;
    };

    if (!nodelist && !expected) {
      const msg = 'configuration error: nodelist or quorum.expected_votes must be configured!';
      if (!runtime) return msg;
      this.log('crit', msg);
      this.log('crit', 'will continue with current runtime data');
      return undefined;
    }
    if (core.twoNode && haveQdevice) {
      const msg = 'configuration error: two_node and quorum device cannot be configured at the same time!';
      if (!runtime) return msg;
      this.log('crit', msg);
      if (core.us.flags & NodeFlag.QDEVICE_REGISTERED) {
        this.log('crit', 'quorum device is registered, disabling two_node');
        core.twoNode = false;
      } else {
        this.log('crit', 'quorum device is not registered, allowing two_node');
        this.setCanOperate(false);
      }
    }
    if (!runtime) {
      core.allowDownscale = (this.getU8('quorum.allow_downscale') ?? 0) !== 0;
      const wfa = this.getU8('quorum.wait_for_all');
      if (wfa === undefined) this.wfaAutoset = true;
      else core.waitForAll = wfa !== 0;
      core.lastManStanding = (this.getU8('quorum.last_man_standing') ?? 0) !== 0;
      this.lmsWindow = this.getU32('quorum.last_man_standing_window') ?? DEFAULT_LMS_WINDOW;
      core.evTracking = (this.getU8('quorum.expected_votes_tracking') ?? 0) !== 0;
      const atb = (this.getU8('quorum.auto_tie_breaker') ?? 0) !== 0;
      const atbString = this.getString('quorum.auto_tie_breaker_node');
      if (atb) {
        core.atb = AtbMode.LOWEST;
        this.setAtbType(core.atb);
      } else {
        core.atb = AtbMode.NONE;
        if (atbString !== undefined) {
          this.log('warn', 'auto_tie_breaker_node: is meaningless if auto_tie_breaker is set to 0');
        }
      }
      if (atb && atbString !== undefined) {
        const parsed = parseAtbString(atbString);
        core.atb = parsed.mode;
        core.atbList = parsed.list.slice(0, 384);
        this.setAtbType(core.atb);
        if (core.atb === AtbMode.NONE) {
          this.log(
            'warn',
            "auto_tie_breaker_nodes is not valid. It must be 'lowest', 'highest' or a space-separated list of node IDs. auto_tie_breaker is disabled",
          );
        }
      }
      this.initialAtb = core.atb;
      if (core.allowDownscale) core.evTracking = true;
      if (core.evTracking) {
        let barrier: number;
        try {
          barrier = this.evStore.load() >>> 0;
        } catch (err) {
          this.log('warn', `Unable to create ev_tracking file (${errText(err)})`);
          return 'Unable to load ev_tracking file!';
        }
        core.evTrackingBarrier = barrier;
        this.publishEvTrackingBarrier(barrier);
      }
    }
    if (this.wfaAutoset) core.waitForAll = core.twoNode;
    if (core.twoNode && core.atb !== AtbMode.NONE) {
      this.log('crit', 'two_node and auto_tie_breaker are both specified but are not compatible.');
      this.log('crit', 'two_node has been disabled, please fix your corosync.conf');
      core.twoNode = false;
    }
    if (core.atb !== AtbMode.NONE && nodeExpected % 2 === 1 && !core.waitForAll) {
      if (core.lastManStanding) {
        this.log('crit', 'auto_tie_breaker is set, the cluster has an odd number of nodes');
        this.log(
          'crit',
          'and last_man_standing is also set. Due to this ambiguity, corosync will fail to start.',
        );
        const msg =
          'configuration error: auto_tie_breaker & last_man_standing not available in odd sized cluster';
        // at runtime corosync stops reading here too
        return runtime ? undefined : msg;
      }
      this.log('crit', 'auto_tie_breaker is set and the cluster has an odd number of nodes.');
      this.log('crit', 'wait_for_all needs to be set for this configuration but it is missing');
      this.log('crit', 'Therefore auto_tie_breaker has been disabled. Please fix your corosync.conf');
      core.atb = AtbMode.NONE;
      this.setAtbType(core.atb);
    }
    const disableQdevice = () => {
      this.log('crit', 'disabling quorum device operations');
      this.setCanOperate(false);
    };
    const checks: Array<[boolean, string]> = [
      [
        haveQdevice && core.lastManStanding,
        'configuration error: quorum.device is not compatible with last_man_standing',
      ],
      [
        haveQdevice && core.atb !== AtbMode.NONE,
        'configuration error: quorum.device is not compatible with auto_tie_breaker',
      ],
      [
        haveQdevice && core.allowDownscale,
        'configuration error: quorum.device is not compatible with allow_downscale',
      ],
      [
        expected !== 0 && haveQdevice && qdeviceVotes === -1,
        'configuration error: quorum.device.votes must be specified when quorum.expected_votes is set',
      ],
      [
        haveQdevice && qdeviceVotes === -1 && nodelist !== undefined && nodelist.count !== nodeExpected,
        'configuration error: quorum.device.votes must be specified when not all nodes votes 1',
      ],
    ];
    for (const [bad, msg] of checks) {
      if (!bad) continue;
      const r = fatal(msg, disableQdevice);
      if (r) return r;
    }
    // C computes this in unsigned arithmetic with "unset" = 0xffffffff: only set votes matter
    if (qdeviceVotes > 0 && expected !== 0 && ((expected - qdeviceVotes) | 0) < 2) {
      const r = fatal(
        'configuration error: quorum.device.votes is too high or expected_votes is too low',
        disableQdevice,
      );
      if (r) return r;
    }
    if (haveQdevice && qdeviceVotes === -1 && !expected && nodelist && nodelist.count === nodeExpected) {
      qdeviceVotes = nodeExpected - 1;
      nodeExpected += qdeviceVotes;
    }
    this.log(
      'debug',
      `ev_tracking=${core.evTracking ? 1 : 0}, ev_tracking_barrier = ${core.evTrackingBarrier}: expected_votes = ${expected}`,
    );
    if (core.evTracking) expected = core.evTrackingBarrier;
    if (nodelist) {
      core.us.votes = nodelist.votes;
      core.us.expectedVotes = nodeExpected >>> 0;
    } else {
      core.us.votes = this.getU32('quorum.votes') ?? 1;
    }
    if (expected) core.us.expectedVotes = expected >>> 0;
    if (!haveQdevice) core.qdevice.votes = 0;
    if (qdeviceVotes !== -1 && haveQdevice) core.qdevice.votes = qdeviceVotes >>> 0;
    core.setEvBarrier(core.us.expectedVotes);
    this.setU8('runtime.votequorum.two_node', core.twoNode ? 1 : 0);
    if (core.waitForAll) {
      if (!runtime) core.setWaitForAllStatus(true);
    } else if (this.wfaAutoset && core.waitForAllStatus) {
      core.setWaitForAllStatus(false);
    }
    return undefined;
  }

  /** The icmap tracker callback (§3.1). */
  private refreshConfig(key: string): void {
    const core = this.coreRef;
    if (!core) return;
    if ((this.getU8('config.totemconfig_reload_in_progress') ?? 0) !== 0) return;
    if (key === 'config.totemconfig_reload_in_progress') {
      const v = this.icmap.getValue('config.reload_status');
      if (v && v.type === CmapValueType.INT32 && v.value !== OK) return;
    }
    if (key === 'quorum.cancel_wait_for_all' && (this.getU8('quorum.cancel_wait_for_all') ?? 0) >= 1) {
      this.setU8('quorum.cancel_wait_for_all', 0);
      if (!this.mcast(encodeVqReconfigure(ReconfigParam.CANCEL_WFA, core.us.nodeId, 0))) {
        this.log('error', 'Failed to send Cancel WFA message to other nodes');
      }
      return;
    }
    const oldVotes = core.us.votes;
    const oldExpected = core.us.expectedVotes;
    this.readConfig(true);
    this.sendNodeinfo(core.us.nodeId);
    this.sendNodeinfo(QDEVICE_NODEID);
    if (core.us.votes !== oldVotes) {
      if (!this.mcast(encodeVqReconfigure(ReconfigParam.NODE_VOTES, core.us.nodeId, core.us.votes))) {
        this.log('error', 'Failed to send new votes message to other nodes');
      }
    }
    if (core.us.expectedVotes !== oldExpected) {
      if (
        !this.mcast(encodeVqReconfigure(ReconfigParam.EXPECTED_VOTES, core.us.nodeId, core.us.expectedVotes))
      ) {
        this.log('error', 'Failed to send expected votes message to other nodes');
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Sending

  private mcast(msg: Buffer): boolean {
    if (!this.api) return false;
    const fn = readInt32LE(msg, 0) & 0xffff;
    const ok = this.api.mcast(VOTEQUORUM_SERVICE_ID, fn, msg, TotemGuarantee.AGREED) === OK;
    if (!ok) this.stats.sendFailures++;
    return ok;
  }

  private nodeinfoMessage(nodeId: number): Buffer | undefined {
    const node = this.core.find(nodeId);
    if (!node) return undefined;
    return encodeVqNodeinfo(nodeId, node.votes, node.expectedVotes, node.flags);
  }

  private sendNodeinfo(nodeId: number): boolean {
    const msg = this.nodeinfoMessage(nodeId);
    return msg ? this.mcast(msg) : false;
  }

  // ---------------------------------------------------------------------------------------
  // Notifications

  private quorumNodes(): VqNodeEntry[] {
    const core = this.core;
    const out: VqNodeEntry[] = core.nodes().map((n) => ({ nodeId: n.nodeId, state: n.state }));
    if (core.us.flags & NodeFlag.QDEVICE_REGISTERED)
      out.push({ nodeId: QDEVICE_NODEID, state: core.qdevice.state });
    return out;
  }

  private sendQuorumNotification(to?: { conn: IpcConnection; context: bigint }): void {
    const core = this.core;
    this.log('debug', `Sending quorum callback, quorate = ${core.quorate ? 1 : 0}`);
    const nodes = this.quorumNodes();
    if (to) {
      to.conn.sendEvent(encodeVqQuorumNotification(core.quorate, to.context, nodes));
      return;
    }
    for (const t of this.trackers)
      t.conn.sendEvent(encodeVqQuorumNotification(core.quorate, t.context, nodes));
  }

  private sendNodelistNotification(to?: { conn: IpcConnection; context: bigint }): void {
    const members = this.core.members;
    if (to) {
      to.conn.sendEvent(encodeVqNodelistNotification(to.context, this.quorumRingId, members));
      return;
    }
    for (const t of this.trackers) {
      t.conn.sendEvent(encodeVqNodelistNotification(t.context, this.quorumRingId, members));
    }
  }

  private sendExpectedVotesNotification(expected: number): void {
    this.log('debug', 'Sending expected votes callback');
    for (const t of this.trackers) t.conn.sendEvent(encodeVqExpectedVotesNotification(t.context, expected));
  }

  /** The provider callback (quorum engine) and the QUORUM notification to trackers. */
  private quorumChanged(): void {
    const core = this.core;
    const members = core.members.slice();
    for (const cb of this.subscribers.slice()) {
      try {
        cb(core.quorate, members, this.quorumRingId);
      } catch (err) {
        this.log('error', `quorum callback failed: ${errText(err)}`);
      }
    }
    this.sendQuorumNotification();
  }

  // ---------------------------------------------------------------------------------------
  // Exec handlers (§5)

  deliver(fn: number, message: Buffer, fromNodeid: number): void {
    const r = decodeVqExec(message);
    if (!r.ok) {
      this.stats.malformedExec++;
      this.log('warn', `exec message ${fn} from node ${fromNodeid} dropped: ${r.error}`);
      return;
    }
    const expectedKind = ['nodeinfo', 'reconfigure', 'qdevice_reg', 'qdevice_reconfigure'][fn];
    if (r.value.kind !== expectedKind) {
      this.stats.malformedExec++;
      return;
    }
    if (!this.coreRef) return;
    this.handleExec(r.value, fromNodeid >>> 0);
  }

  private handleExec(m: VqExecMessage, from: number): void {
    const core = this.core;
    switch (m.kind) {
      case 'nodeinfo':
        this.log('debug', `got nodeinfo message from cluster node ${from}`);
        this.log(
          'debug',
          `nodeinfo message[${m.nodeId}]: votes: ${m.votes}, expected: ${m.expectedVotes} flags: ${m.flags}`,
        );
        if (!core.nodeinfo(from, m)) this.stats.ignoredExec++;
        return;
      case 'reconfigure':
        this.log('debug', `got reconfigure message from cluster node ${from} for ${m.nodeId}`);
        core.reconfigure(m.param, m.nodeId, m.value);
        return;
      case 'qdevice_reg':
        this.qdeviceRegDelivered(m.operation, m.name, from);
        return;
      case 'qdevice_reconfigure':
        this.log(
          'debug',
          `Received qdevice name change req from node ${from} [from: ${m.oldName} to: ${m.newName}]`,
        );
        if (m.oldName === this.qdeviceName) {
          this.log('debug', 'Allowing qdevice rename');
          this.qdeviceName = m.newName;
        }
        return;
    }
  }

  private qdeviceRegDelivered(operation: number, name: string, from: number): void {
    const core = this.core;
    this.log('debug', `Received qdevice op ${operation} req from node ${from} [${name}]`);
    if (operation === QdeviceOperation.REGISTER) {
      if (from !== core.us.nodeId) {
        if (!this.qdeviceName) {
          this.log('debug', 'Remote qdevice name recorded');
          this.qdeviceName = name;
        }
        return;
      }
      // our own registration re-broadcast during a sync
      if (core.us.flags & NodeFlag.QDEVICE_REGISTERED) return;
      const conn = this.qdeviceRegConn;
      if (!conn) {
        this.log('warn', 'Unable to determine origin of the qdevice register call!');
        return;
      }
      if (!this.qdeviceName) this.qdeviceName = name;
      let error: number = OK;
      if (name === this.qdeviceName) {
        core.us.flags |= NodeFlag.QDEVICE_REGISTERED;
        this.sendNodeinfo(QDEVICE_NODEID);
        this.sendNodeinfo(core.us.nodeId);
      } else {
        this.log(
          'warn',
          `A new qdevice with different name (new: ${name} old: ${this.qdeviceName}) is trying to register!`,
        );
        error = CsErrorCode.CS_ERR_EXIST;
      }
      this.qdeviceRegConn = undefined;
      conn.respond(encodeVqStatus(error));
      return;
    }
    if (operation === QdeviceOperation.UNREGISTER) {
      const stillRegistered = core
        .nodes()
        .some((n) => n.state === 1 && n.flags & NodeFlag.QDEVICE_REGISTERED);
      if (!stillRegistered) this.qdeviceName = '';
    }
  }

  // ---------------------------------------------------------------------------------------
  // Sync (§9)

  private syncInit(members: readonly number[], ringId: RingId): void {
    const core = this.core;
    this.syncOutbox = undefined;
    this.syncNotified = false;
    this.syncWaitForPoll = false;
    const r = core.syncInit(members);
    if (r.startLmsTimer) {
      this.disarm('lms');
      this.arm('lms', this.lmsWindow);
    }
    this.quorumRingId = ringId;
    const f = core.us.flags;
    if (f & NodeFlag.QDEVICE_REGISTERED && f & NodeFlag.QDEVICE_ALIVE) {
      this.disarm('qdevice');
      this.arm('qdevice', this.qdeviceSyncTimeout);
      this.syncWaitForPoll = true;
      this.log(
        'info',
        `waiting for quorum device ${this.qdeviceName} poll (but maximum for ${this.qdeviceSyncTimeout} ms)`,
      );
    }
  }

  /**
   * First call: NODEINFO(us), NODEINFO(qdevice), QDEVICE_REG if a name is known, then the
   * NODELIST notification. Deviation from 3.1.7 (robustness, same wire content): a message the
   * totem queue refuses is retried on the next call instead of being lost.
   */
  private syncProcess(): boolean {
    const core = this.core;
    if (!this.syncOutbox) {
      const out: Buffer[] = [];
      const us = this.nodeinfoMessage(core.us.nodeId);
      if (us) out.push(us);
      const q = this.nodeinfoMessage(QDEVICE_NODEID);
      if (q) out.push(q);
      if (this.qdeviceName) out.push(encodeVqQdeviceReg(QdeviceOperation.REGISTER, this.qdeviceName));
      this.syncOutbox = out;
    }
    while (this.syncOutbox.length > 0) {
      if (!this.mcast(this.syncOutbox[0]!)) return false;
      this.syncOutbox.shift();
    }
    if (!this.syncNotified) {
      this.syncNotified = true;
      this.log(
        'debug',
        `Sending nodelist callback. ring_id = ${this.quorumRingId.rep}.${this.quorumRingId.seq.toString(16)}`,
      );
      this.sendNodelistNotification();
    }
    return !(core.us.flags & NodeFlag.QDEVICE_REGISTERED && this.syncWaitForPoll);
  }

  private syncActivate(): void {
    this.core.syncActivate();
    this.quorumChanged();
  }

  // ---------------------------------------------------------------------------------------
  // IPC (§6, §7)

  private createIpc(): IpcServiceDefinition<VqConnState> {
    return {
      name: VOTEQUORUM_SERVICE_NAME,
      id: VOTEQUORUM_SERVICE_ID,
      requestCount: VQ_REQUEST_COUNT,
      checkRequest: (frame) => {
        const r = decodeVqRequest(frame);
        return r.ok ? undefined : r.error;
      },
      init: (conn) => new VqConnState(conn),
      handle: (conn, st, frame) => {
        const r = decodeVqRequest(frame);
        if (!r.ok) {
          conn.close(`invalid votequorum request: ${r.error}`);
          return;
        }
        if (!this.coreRef) {
          conn.respond(encodeVqStatus(CsErrorCode.CS_ERR_TRY_AGAIN));
          return;
        }
        this.handleRequest(conn, st, r.value);
      },
      exit: (conn, st) => {
        if (st.trackingEnabled) {
          st.trackingEnabled = false;
          this.trackers = this.trackers.filter((t) => t !== st);
        }
        // corosync keeps a dangling pointer here; we forget the pending registration
        if (this.qdeviceRegConn === conn) this.qdeviceRegConn = undefined;
      },
    };
  }

  private handleRequest(conn: IpcConnection, st: VqConnState, req: VqRequest): void {
    switch (req.kind) {
      case 'getinfo':
        this.getinfo(conn, req.nodeId);
        return;
      case 'setexpected':
        conn.respond(encodeVqStatus(this.setExpected(req.expectedVotes)));
        return;
      case 'setvotes':
        conn.respond(encodeVqStatus(this.setVotes(req.nodeId, req.votes)));
        return;
      case 'trackstart':
        conn.respond(encodeVqStatus(this.trackStart(conn, st, req.context, req.trackFlags)));
        return;
      case 'trackstop':
        if (st.trackingEnabled) {
          st.trackingEnabled = false;
          this.trackers = this.trackers.filter((t) => t !== st);
          conn.respond(encodeVqStatus(OK));
        } else {
          conn.respond(encodeVqStatus(CsErrorCode.CS_ERR_NOT_EXIST));
        }
        return;
      case 'qdevice_register': {
        const error = this.qdeviceRegister(conn, req.name);
        if (error !== undefined) conn.respond(encodeVqStatus(error));
        return;
      }
      case 'qdevice_unregister':
        conn.respond(encodeVqStatus(this.qdeviceUnregister(req.name)));
        return;
      case 'qdevice_update':
        conn.respond(encodeVqStatus(this.qdeviceUpdate(req.oldName, req.newName)));
        return;
      case 'qdevice_poll':
        conn.respond(encodeVqStatus(this.qdevicePoll(req.name, req.castVote, req.ringId)));
        return;
      case 'qdevice_master_wins':
        conn.respond(encodeVqStatus(this.qdeviceMasterWins(req.name, req.allow)));
        return;
    }
  }

  private getinfo(conn: IpcConnection, requested: number): void {
    const core = this.core;
    this.log('debug', `got getinfo request on ${conn.token} for node ${requested}`);
    const nodeId = requested === QDEVICE_NODEID ? core.us.nodeId : requested;
    const node = core.find(nodeId);
    if (!node) {
      conn.respond(encodeVqGetinfo(CsErrorCode.CS_ERR_NOT_EXIST, undefined));
      return;
    }
    const totals = core.memberTotals();
    let totalVotes = totals.totalVotes;
    if (node.flags & NodeFlag.QDEVICE_CAST_VOTE) totalVotes = (totalVotes + core.qdevice.votes) >>> 0;
    let flags = 0;
    if (core.twoNode) flags |= VqInfoFlag.TWONODE;
    if (core.quorate) flags |= VqInfoFlag.QUORATE;
    if (core.waitForAll) flags |= VqInfoFlag.WAIT_FOR_ALL;
    if (core.lastManStanding) flags |= VqInfoFlag.LAST_MAN_STANDING;
    if (core.atb !== AtbMode.NONE) flags |= VqInfoFlag.AUTO_TIE_BREAKER;
    if (core.allowDownscale) flags |= VqInfoFlag.ALLOW_DOWNSCALE;
    if (node.flags & NodeFlag.QDEVICE_REGISTERED) flags |= VqInfoFlag.QDEVICE_REGISTERED;
    if (node.flags & NodeFlag.QDEVICE_ALIVE) flags |= VqInfoFlag.QDEVICE_ALIVE;
    if (node.flags & NodeFlag.QDEVICE_CAST_VOTE) flags |= VqInfoFlag.QDEVICE_CAST_VOTE;
    if (node.flags & NodeFlag.QDEVICE_MASTER_WINS) flags |= VqInfoFlag.QDEVICE_MASTER_WINS;
    const info: VqGetinfo = {
      nodeId: node.nodeId,
      state: node.state,
      votes: node.votes,
      expectedVotes: node.expectedVotes,
      highestExpected: totals.highestExpected,
      totalVotes,
      quorum: core.quorum,
      flags,
      qdeviceVotes: core.qdevice.votes,
      qdeviceName: this.qdeviceName,
    };
    conn.respond(encodeVqGetinfo(OK, info));
  }

  private setExpected(expected: number): number {
    const core = this.core;
    const saved = core.allowDownscale;
    core.allowDownscale = false;
    const calc = core.calculateQuorum(true, expected);
    core.allowDownscale = saved;
    if (expected < calc.totalVotes || (core.quorate && calc.quorum > calc.totalVotes)) {
      return CsErrorCode.CS_ERR_INVALID_PARAM;
    }
    core.updateNodeExpectedVotes(expected);
    if (!this.mcast(encodeVqReconfigure(ReconfigParam.EXPECTED_VOTES, core.us.nodeId, expected))) {
      return CsErrorCode.CS_ERR_NO_RESOURCES;
    }
    return OK;
  }

  private setVotes(nodeId: number, votes: number): number {
    const core = this.core;
    const node = core.find(nodeId);
    if (!node) return CsErrorCode.CS_ERR_NAME_NOT_FOUND;
    const saved = node.votes;
    node.votes = votes >>> 0;
    const calc = core.calculateQuorum(true, 0);
    if (calc.quorum < Math.floor(calc.totalVotes / 2) || calc.quorum > calc.totalVotes) {
      node.votes = saved;
      return CsErrorCode.CS_ERR_INVALID_PARAM;
    }
    // the tentative change stays even before the RECONFIGURE is delivered (3.1.7)
    if (!this.mcast(encodeVqReconfigure(ReconfigParam.NODE_VOTES, nodeId, votes))) {
      return CsErrorCode.CS_ERR_NO_RESOURCES;
    }
    return OK;
  }

  private trackStart(conn: IpcConnection, st: VqConnState, context: bigint, flags: number): number {
    if (flags & TrackFlag.CURRENT || flags & TrackFlag.CHANGES) {
      this.log('debug', `sending initial status to ${conn.token}`);
      this.sendNodelistNotification({ conn, context });
      this.sendQuorumNotification({ conn, context });
    }
    if (st.trackingEnabled) return CsErrorCode.CS_ERR_EXIST;
    if (flags & TrackFlag.CHANGES || flags & TrackFlag.CHANGES_ONLY) {
      st.trackFlags = flags;
      st.trackingEnabled = true;
      st.context = context;
      this.trackers.unshift(st);
    }
    return OK;
  }

  /** Returns the immediate status, or undefined when the reply waits for the exec delivery. */
  private qdeviceRegister(conn: IpcConnection, name: QdeviceName): number | undefined {
    const core = this.core;
    if (!this.qdeviceCanOperate) {
      this.log(
        'info',
        'Registration of quorum device is disabled by incorrect corosync.conf. See logs for more information',
      );
      return CsErrorCode.CS_ERR_ACCESS;
    }
    if (core.us.flags & NodeFlag.QDEVICE_REGISTERED) {
      if (name.name === this.qdeviceName && name.terminated) return OK;
      this.log(
        'warn',
        `A new qdevice with different name (new: ${name.name} old: ${this.qdeviceName}) is trying to re-register!`,
      );
      return CsErrorCode.CS_ERR_EXIST;
    }
    if (this.qdeviceRegConn) {
      this.log('warn', 'Registration request already in progress');
      return CsErrorCode.CS_ERR_TRY_AGAIN;
    }
    // corosync would assert on a name that does not fit (libvotequorum never sends one)
    if (!name.terminated || !qdeviceNameFits(name.name)) return CsErrorCode.CS_ERR_INVALID_PARAM;
    this.qdeviceRegConn = conn;
    if (!this.mcast(encodeVqQdeviceReg(QdeviceOperation.REGISTER, name.name))) {
      this.log('warn', 'Unable to send qdevice registration request to cluster');
      this.qdeviceRegConn = undefined;
      return CsErrorCode.CS_ERR_TRY_AGAIN;
    }
    return undefined;
  }

  private nameMatches(name: QdeviceName): boolean {
    return name.terminated && name.name === this.qdeviceName;
  }

  private qdeviceUnregister(name: QdeviceName): number {
    const core = this.core;
    if (!(core.us.flags & NodeFlag.QDEVICE_REGISTERED)) return CsErrorCode.CS_ERR_NOT_EXIST;
    if (!this.nameMatches(name)) return CsErrorCode.CS_ERR_INVALID_PARAM;
    if (this.qdeviceTimerSet) {
      this.disarm('qdevice');
      this.syncWaitForPoll = false;
    }
    core.us.flags &= ~(
      NodeFlag.QDEVICE_REGISTERED |
      NodeFlag.QDEVICE_ALIVE |
      NodeFlag.QDEVICE_CAST_VOTE |
      NodeFlag.QDEVICE_MASTER_WINS
    );
    this.sendNodeinfo(core.us.nodeId);
    this.mcast(encodeVqQdeviceReg(QdeviceOperation.UNREGISTER, name.name));
    return OK;
  }

  private qdeviceUpdate(oldName: QdeviceName, newName: QdeviceName): number {
    if (!(this.core.us.flags & NodeFlag.QDEVICE_REGISTERED)) return CsErrorCode.CS_ERR_NOT_EXIST;
    if (!this.nameMatches(oldName)) return CsErrorCode.CS_ERR_INVALID_PARAM;
    if (!newName.terminated || !qdeviceNameFits(newName.name)) return CsErrorCode.CS_ERR_INVALID_PARAM;
    this.mcast(encodeVqQdeviceReconfigure(oldName.name, newName.name));
    return OK;
  }

  private qdevicePoll(name: QdeviceName, castVote: number, ringId: RingId): number {
    const core = this.core;
    if (!this.qdeviceCanOperate) return CsErrorCode.CS_ERR_ACCESS;
    if (!(core.us.flags & NodeFlag.QDEVICE_REGISTERED)) return CsErrorCode.CS_ERR_NOT_EXIST;
    if (ringId.rep !== this.quorumRingId.rep || ringId.seq !== this.quorumRingId.seq) {
      this.log(
        'debug',
        `Received poll ring id (${ringId.rep}.${ringId.seq.toString(16)}) != last sync ring id ` +
          `(${this.quorumRingId.rep}.${this.quorumRingId.seq.toString(16)}). Ignoring poll call.`,
      );
      return CsErrorCode.CS_ERR_MESSAGE_ERROR;
    }
    if (!this.nameMatches(name)) return CsErrorCode.CS_ERR_INVALID_PARAM;
    this.disarm('qdevice');
    const old = core.us.flags;
    core.us.flags |= NodeFlag.QDEVICE_ALIVE;
    if (castVote) core.us.flags |= NodeFlag.QDEVICE_CAST_VOTE;
    else core.us.flags &= ~NodeFlag.QDEVICE_CAST_VOTE;
    if (core.us.flags !== old) this.sendNodeinfo(core.us.nodeId);
    this.arm('qdevice', this.qdeviceTimeout);
    this.syncWaitForPoll = false;
    return OK;
  }

  private qdeviceMasterWins(name: QdeviceName, allow: number): number {
    const core = this.core;
    const old = core.us.flags;
    if (!this.qdeviceCanOperate) return CsErrorCode.CS_ERR_ACCESS;
    if (!(core.us.flags & NodeFlag.QDEVICE_REGISTERED)) return CsErrorCode.CS_ERR_NOT_EXIST;
    if (!this.nameMatches(name)) return CsErrorCode.CS_ERR_INVALID_PARAM;
    if (allow) core.us.flags |= NodeFlag.QDEVICE_MASTER_WINS;
    else core.us.flags &= ~NodeFlag.QDEVICE_MASTER_WINS;
    if (core.us.flags !== old) this.sendNodeinfo(core.us.nodeId);
    core.qdeviceMasterWins = allow !== 0;
    this.setU8('runtime.votequorum.qdevice_master_wins', allow ? 1 : 0);
    return OK;
  }

  // ---------------------------------------------------------------------------------------

  private log(level: QuorumLogLevel | 'error', msg: string): void {
    const l = this.logger;
    if (!l) return;
    const text = `VOTEQ: ${msg}`;
    switch (level) {
      case 'debug':
        l.debug(text);
        return;
      case 'info':
        l.info(text);
        return;
      case 'notice':
        (l.notice ?? l.info).call(l, text);
        return;
      case 'warn':
        l.warn(text);
        return;
      default:
        l.error(text);
    }
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
