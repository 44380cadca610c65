/**
 * The quorum service engine (service 3, IPC `quorum`; corosync 3.1.7 exec/vsf_quorum.c
 * behaviour, spec votequorum.md §10): the generic quorum front-end between a quorum provider
 * (votequorum) and libquorum clients.
 *
 * - Provider: when one is configured (`quorum.provider: corosync_votequorum`) the quorum type
 *   is 1 and the node is quorate only when the provider says so. The provider reports every
 *   determination (member list, quorate flag, ring id) to {@link QuorumService.setQuorum};
 *   the service logs transitions and the member list, tells internal listeners (IPC flow
 *   control, other services), then sends a quorum notification to every tracking client, in
 *   the format of the client's model (V0 or V1).
 * - No provider: quorum type 0 and always quorate. Nobody calls setQuorum, so (as in 3.1.7)
 *   clients only get notifications from TRACKSTART (quorate 1, ring 0, empty view list) and
 *   V1 clients the nodelist notifications of the sync hooks.
 * - Sync hooks: `init` computes the joined/left lists against the members of the last
 *   activation and logs them; `process` is done at once; `activate` remembers the members and
 *   sends the V1 NODELIST notification (with joined/left) to V1 trackers. The exec layer runs
 *   quorum (id 3) before votequorum (id 5), so V1 clients see NODELIST then QUORUM.
 * - IPC: GETQUORATE, TRACKSTART (CURRENT / CHANGES / CHANGES_ONLY), TRACKSTOP (always OK, as
 *   3.1.7), GETTYPE, MODEL_GETTYPE (switches the connection to V1). No request needs flow
 *   control, so nothing here is refused during a sync.
 *
 * Pure: no sockets, timers or clocks; callbacks go out through `IpcConnection.sendEvent`.
 */
import { Buffer } from 'node:buffer';
import { CsErrorCode } from '../../common/errors.js';
import type { ExecApi, ServiceEngine, SyncHooks } from '../../exec/service-engine.js';
import type { ExecLogger } from '../../exec/engine.js';
import type { IpcConnection, IpcServiceDefinition } from '../../ipc/server.js';
import { type RingId, ZERO_RING_ID } from '../../totem/wire/index.js';
import {
  QUORUM_REQUEST_COUNT,
  QUORUM_SERVICE_ID,
  QUORUM_SERVICE_NAME,
  QuorumModel,
  QuorumTrackFlags,
  type QuorumRequest,
  decodeQuorumRequest,
  encodeQuorumResponse,
} from './codec.js';

/**
 * What the quorum service needs from a quorum provider (votequorum). The provider calls the
 * subscribed callback on every quorum determination: at each of its sync activations and on a
 * quorate change outside sync.
 */
export interface QuorumProvider {
  subscribe(cb: (quorate: boolean, members: readonly number[], ringId: RingId) => void): void;
  quorate(): boolean;
  members(): readonly number[];
}

/** An internal listener (corosync's quorum_register_callback): called with the quorate flag. */
export type QuorumCallback = (quorate: boolean) => void;

export interface QuorumServiceOptions {
  /** The configured provider; absent = no `quorum.provider` (always quorate). */
  provider?: QuorumProvider;
  /** The provider's name for the log ("Using quorum provider corosync_votequorum"). */
  providerName?: string;
  log?: ExecLogger;
}

/** Per-connection state (corosync's `struct quorum_pd`). */
export class QuorumConnState {
  model: QuorumModel = QuorumModel.V0;
  tracking = false;
  trackFlags = 0;
  constructor(readonly conn: IpcConnection) {}
}

/** Counters of refused input. */
export interface QuorumServiceStats {
  /** Requests that passed the size check but could not be decoded (should stay 0). */
  badRequests: number;
}

/** corosync's log_view_list: "<type>[<n>]: id id ..." cut into 63-character chunks ending in "\". */
export function formatViewList(list: readonly number[], type: string): string[] {
  const lines: string[] = [];
  let i = 0;
  for (;;) {
    let buf = '';
    for (; i < list.length; i++) {
      const part = ` ${list[i]! >>> 0}`;
      if (buf.length + part.length > 63) break;
      buf += part;
    }
    lines.push(`${type}[${list.length}]:${buf}${i < list.length ? '\\' : ''}`);
    if (i >= list.length) return lines;
  }
}

/**
 * The quorum service engine. Register it with the exec layer and `ipc` with the IPC server;
 * wire the provider with `provider.subscribe(setQuorum)` (done by the constructor when the
 * provider is given in the options).
 */
export class QuorumService implements ServiceEngine {
  readonly id = QUORUM_SERVICE_ID;
  readonly name = 'corosync cluster quorum service v0.1';
  readonly defaultName = 'corosync_quorum';
  readonly priority = 1;
  readonly execFnCount = 0;
  readonly sync: SyncHooks;
  readonly ipc: IpcServiceDefinition<QuorumConnState>;
  readonly stats: QuorumServiceStats = { badRequests: 0 };
  /** 1 when a provider is configured (GETTYPE's quorum_type), else 0. */
  readonly quorumType: number;

  private readonly log: ExecLogger | undefined;
  private primaryDesignated: boolean;
  private readonly internal: QuorumCallback[] = [];
  private readonly trackers: QuorumConnState[] = [];

  // what the provider reported last
  private viewList: number[] = [];
  private quorumRingId: RingId = ZERO_RING_ID;

  // sync state
  private memberList: number[] = [];
  private oldMemberList: number[] = [];
  private joinedList: number[] = [];
  private leftList: number[] = [];
  private lastSyncRingId: RingId = ZERO_RING_ID;

  constructor(opts: QuorumServiceOptions = {}) {
    this.log = opts.log;
    this.quorumType = opts.provider ? 1 : 0;
    // without a provider the node is always quorate; with one it waits for its verdict
    this.primaryDesignated = !opts.provider;
    if (opts.provider) {
      this.log?.notice(`Using quorum provider ${opts.providerName ?? 'corosync_votequorum'}`);
      opts.provider.subscribe((quorate, members, ringId) => this.setQuorum(members, quorate, ringId));
    }
    this.sync = {
      init: (trans, members, ringId) => this.syncInit(trans, members, ringId),
      process: () => true,
      activate: () => this.syncActivate(),
      abort: () => undefined,
    };
    this.ipc = this.createIpc();
  }

  init(_api: ExecApi): void {
    // nothing: the quorum service sends no exec messages
  }

  deliver(fn: number, _message: Buffer, fromNodeid: number): void {
    // no exec functions: the exec layer never routes here (execFnCount 0)
    this.log?.warn(`quorum: unexpected exec message ${fn} from node ${fromNodeid}`);
  }

  exit(): boolean {
    return true;
  }

  // ---- internal API (corosync's quorum_callin_functions) ----

  /** The node's quorate state (primary_designated). */
  quorate(): boolean {
    return this.primaryDesignated;
  }

  /** Add an internal listener; returns a function that removes it. */
  registerCallback(cb: QuorumCallback): () => void {
    this.internal.push(cb);
    return () => this.unregisterCallback(cb);
  }

  /** Remove an internal listener; false when it was not registered. */
  unregisterCallback(cb: QuorumCallback): boolean {
    const i = this.internal.indexOf(cb);
    if (i < 0) return false;
    this.internal.splice(i, 1);
    return true;
  }

  /** The view list and ring id of the provider's last determination. */
  quorumView(): { members: readonly number[]; ringId: RingId } {
    return { members: this.viewList.slice(), ringId: this.quorumRingId };
  }

  /** The state of a connection of this service (undefined for other connections). */
  stateOf(conn: IpcConnection): QuorumConnState | undefined {
    return conn.privateData instanceof QuorumConnState ? conn.privateData : undefined;
  }

  /**
   * The provider's callback (corosync's quorum_api_set_quorum): log the transition and the
   * members, remember view and ring, tell internal listeners, notify tracking clients.
   */
  setQuorum(members: readonly number[], quorate: boolean, ringId: RingId): void {
    const was = this.primaryDesignated;
    this.primaryDesignated = quorate;
    if (quorate && !was) {
      this.log?.notice('This node is within the primary component and will provide service.');
    } else if (!quorate && was) {
      this.log?.notice('This node is within the non-primary component and will NOT provide any services.');
    }
    this.viewList = members.map((m) => m >>> 0);
    this.quorumRingId = ringId;
    for (const line of formatViewList(this.viewList, 'Members')) this.log?.notice(line);
    for (const cb of [...this.internal]) {
      try {
        cb(quorate);
      } catch (err) {
        this.log?.error(
          `quorum: internal callback failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    for (const t of this.trackers) this.sendQuorumNotification(t);
  }

  // ---- notifications ----

  private quorumNotification(st: QuorumConnState): Buffer {
    const quorate = this.primaryDesignated ? 1 : 0;
    if (st.model === QuorumModel.V1) {
      return encodeQuorumResponse({
        kind: 'v1_quorum_notification',
        error: CsErrorCode.CS_OK,
        quorate,
        ringId: { nodeid: this.quorumRingId.rep, seq: this.quorumRingId.seq },
        viewList: this.viewList,
      });
    }
    return encodeQuorumResponse({
      kind: 'notification',
      error: CsErrorCode.CS_OK,
      quorate,
      ringSeq: this.quorumRingId.seq,
      viewList: this.viewList,
    });
  }

  private sendQuorumNotification(st: QuorumConnState): void {
    this.log?.debug(`sending quorum notification to ${st.conn.token}`);
    st.conn.sendEvent(this.quorumNotification(st));
  }

  /** NODELIST notification; only V1 connections get it. */
  private sendNodelistNotification(st: QuorumConnState, withJoinedLeft: boolean): void {
    if (st.model !== QuorumModel.V1) return;
    this.log?.debug(`sending nodelist notification to ${st.conn.token}`);
    st.conn.sendEvent(
      encodeQuorumResponse({
        kind: 'v1_nodelist_notification',
        error: CsErrorCode.CS_OK,
        ringId: { nodeid: this.lastSyncRingId.rep, seq: this.lastSyncRingId.seq },
        members: this.memberList,
        joined: withJoinedLeft ? this.joinedList : [],
        left: withJoinedLeft ? this.leftList : [],
      }),
    );
  }

  // ---- sync ----

  private syncInit(trans: readonly number[], members: readonly number[], ringId: RingId): void {
    this.memberList = members.map((m) => m >>> 0);
    this.lastSyncRingId = ringId;
    const transSet = new Set(trans);
    const memberSet = new Set(this.memberList);
    // left: previous members not in the transitional list, or in it but not in the new members
    this.leftList = this.oldMemberList.filter((id) => !transSet.has(id) || !memberSet.has(id));
    const oldSet = new Set(this.oldMemberList);
    const leftSet = new Set(this.leftList);
    // joined: new members that were not members before, or that are also in the left list
    this.joinedList = this.memberList.filter((id) => !oldSet.has(id) || leftSet.has(id));
    for (const line of formatViewList(this.memberList, 'Sync members')) this.log?.notice(line);
    if (this.joinedList.length > 0) {
      for (const line of formatViewList(this.joinedList, 'Sync joined')) this.log?.notice(line);
    }
    if (this.leftList.length > 0) {
      for (const line of formatViewList(this.leftList, 'Sync left')) this.log?.notice(line);
    }
  }

  private syncActivate(): void {
    this.oldMemberList = this.memberList.slice();
    for (const t of this.trackers) this.sendNodelistNotification(t, true);
  }

  // ---- IPC ----

  private createIpc(): IpcServiceDefinition<QuorumConnState> {
    return {
      name: QUORUM_SERVICE_NAME,
      id: QUORUM_SERVICE_ID,
      requestCount: QUORUM_REQUEST_COUNT,
      checkRequest: (frame) => {
        const r = decodeQuorumRequest(frame);
        return r.ok ? undefined : r.error;
      },
      init: (conn) => {
        this.log?.debug(`lib_init_fn: conn=${conn.token}`);
        return new QuorumConnState(conn);
      },
      handle: (conn, st, frame) => {
        const r = decodeQuorumRequest(frame);
        if (!r.ok) {
          this.stats.badRequests++;
          conn.close(`quorum request refused: ${r.error}`);
          return;
        }
        this.handleRequest(conn, st, r.value);
      },
      exit: (conn, st) => {
        this.log?.debug(`lib_exit_fn: conn=${conn.token}`);
        this.stopTracking(st);
      },
    };
  }

  private stopTracking(st: QuorumConnState): boolean {
    if (!st.tracking) return false;
    st.tracking = false;
    const i = this.trackers.indexOf(st);
    if (i >= 0) this.trackers.splice(i, 1);
    return true;
  }

  private handleRequest(conn: IpcConnection, st: QuorumConnState, req: QuorumRequest): void {
    const OK = CsErrorCode.CS_OK;
    switch (req.kind) {
      case 'getquorate':
        this.log?.debug(`got quorate request on ${conn.token}`);
        conn.respond(
          encodeQuorumResponse({ kind: 'getquorate', error: OK, quorate: this.primaryDesignated ? 1 : 0 }),
        );
        return;
      case 'trackstart': {
        this.log?.debug(`got trackstart request on ${conn.token}`);
        if (req.flags & (QuorumTrackFlags.CURRENT | QuorumTrackFlags.CHANGES)) {
          this.log?.debug(`sending initial status to ${conn.token}`);
          this.sendNodelistNotification(st, false);
          this.sendQuorumNotification(st);
        }
        let error: number = OK;
        if (st.tracking) {
          error = CsErrorCode.CS_ERR_EXIST;
        } else if (req.flags & (QuorumTrackFlags.CHANGES | QuorumTrackFlags.CHANGES_ONLY)) {
          st.trackFlags = req.flags;
          st.tracking = true;
          this.trackers.push(st);
        }
        conn.respond(encodeQuorumResponse({ kind: 'trackstart', error }));
        return;
      }
      case 'trackstop':
        this.log?.debug(`got trackstop request on ${conn.token}`);
        // 3.1.7 computes CS_ERR_NOT_EXIST for a connection that was not tracking and then
        // overwrites it with CS_OK; libquorum callers rely on OK, so keep it.
        this.stopTracking(st);
        conn.respond(encodeQuorumResponse({ kind: 'trackstop', error: OK }));
        return;
      case 'gettype':
        this.log?.debug(`got quorum_type request on ${conn.token}`);
        conn.respond(encodeQuorumResponse({ kind: 'gettype', error: OK, quorumType: this.quorumType }));
        return;
      case 'model_gettype': {
        this.log?.debug(`got quorum_model_type request on ${conn.token}`);
        let error: number = OK;
        if (req.model === QuorumModel.V0 || req.model === QuorumModel.V1) {
          st.model = req.model;
        } else {
          this.log?.error(`quorum_model_type request for unsupported model ${req.model}`);
          error = CsErrorCode.CS_ERR_INVALID_PARAM;
        }
        conn.respond(encodeQuorumResponse({ kind: 'model_gettype', error, quorumType: this.quorumType }));
        return;
      }
    }
  }
}
