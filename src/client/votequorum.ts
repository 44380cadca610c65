/**
 * The votequorum client library: corosync's libvotequorum (include/corosync/votequorum.h,
 * 3.1.7) for TypeScript.
 *
 * A `VotequorumHandle` is one connection to the daemon's `votequorum` service (present only
 * when `quorum.provider` is `corosync_votequorum`; otherwise `initialize` fails as libqb's
 * connect does, with CS_ERR_LIBRARY from our transport). Calls fail with a `CsError` carrying
 * the code libvotequorum returns. Notifications (quorum, node list, expected votes) are queued
 * and run only from `dispatch()`; `events()` yields them from the same queue.
 *
 * Tracking: `trackstart(context, CsTrack.CURRENT)` queues the current node list and quorum
 * notifications (in that order) before it resolves; CHANGES also keeps sending them as they
 * change; CHANGES_ONLY only sends changes. Every notification carries the `context` given to
 * `trackstart`.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import { codecFail, codecOk, type CodecResult } from '../exec/codec.js';
import { CallbackHandle, callbackParam, u32Param, type CallbackHandleOptions } from './callback-handle.js';
import { IpcClientConnection } from './connection.js';
import {
  QDEVICE_MAX_NAME_LEN as VOTEQUORUM_QDEVICE_MAX_NAME_LEN,
  TrackFlag as CsTrack,
  VqInfoFlag,
  VqResId,
  decodeVqResponse,
  encodeVqRequest,
  type QdeviceName,
  type VqGetinfo,
  type VqResponse,
} from '../services/votequorum/codec.js';
import { readInt32LE } from '../common/bytes.js';

/** `struct votequorum_info` (GETINFO reply). */
export interface VotequorumInfo {
  readonly nodeid: number;
  /** VOTEQUORUM_NODESTATE_* (1 member, 2 dead, 3 leaving). */
  readonly state: number;
  readonly votes: number;
  readonly expectedVotes: number;
  readonly highestExpected: number;
  readonly totalVotes: number;
  readonly quorum: number;
  /** VOTEQUORUM_INFO_* bits. */
  readonly flags: number;
  readonly qdeviceVotes: number;
  readonly qdeviceName: string;
}

/** All-zero info (what the C library leaves when the daemon reports an unknown node). */
export const EMPTY_VQ_INFO: VotequorumInfo = {
  nodeid: 0,
  state: 0,
  votes: 0,
  expectedVotes: 0,
  highestExpected: 0,
  totalVotes: 0,
  quorum: 0,
  flags: 0,
  qdeviceVotes: 0,
  qdeviceName: '',
};

/** `votequorum_node_t`. */
export interface VotequorumNode {
  readonly nodeid: number;
  /** VOTEQUORUM_NODESTATE_* (0 for the qdevice entry). */
  readonly state: number;
}

/** A client name (UTF-8) as the codec's byte string (latin1 carries every byte). */
function wireName(name: string): QdeviceName {
  return { name: Buffer.from(name, 'utf8').toString('latin1'), terminated: true };
}

function fromWireName(name: string): string {
  return Buffer.from(name, 'latin1').toString('utf8');
}

/** The codec's GETINFO fields as the library's `VotequorumInfo`. */
export function votequorumInfoFromWire(i: VqGetinfo): VotequorumInfo {
  return {
    nodeid: i.nodeId,
    state: i.state,
    votes: i.votes,
    expectedVotes: i.expectedVotes,
    highestExpected: i.highestExpected,
    totalVotes: i.totalVotes,
    quorum: i.quorum,
    flags: i.flags,
    qdeviceVotes: i.qdeviceVotes,
    qdeviceName: fromWireName(i.qdeviceName),
  };
}

export { CsTrack };

/** `VOTEQUORUM_INFO_*` flag bits of `VotequorumInfo.flags` (the wire codec's table). */
export const VotequorumInfoFlag = VqInfoFlag;

/** `VOTEQUORUM_NODESTATE_*`. */
export const VotequorumNodeState = { MEMBER: 1, DEAD: 2, LEAVING: 3 } as const;

/** VOTEQUORUM_QDEVICE_NODEID: the pseudo node id of the quorum device. */
export const VOTEQUORUM_QDEVICE_NODEID = 0;
export { VOTEQUORUM_QDEVICE_MAX_NAME_LEN };
/** Default qdevice poll timeout and sync timeout (ms). */
export const VOTEQUORUM_QDEVICE_DEFAULT_TIMEOUT = 10000;
export const VOTEQUORUM_QDEVICE_DEFAULT_SYNC_TIMEOUT = 30000;

/** `votequorum_ring_id_t`. */
export interface VotequorumRingId {
  /** Node id of the ring representative. */
  readonly nodeid: number;
  readonly seq: bigint;
}

/** `votequorum_quorum_notification_fn_t`. */
export type VotequorumQuorumNotifyFn = (
  handle: VotequorumHandle,
  context: bigint,
  quorate: boolean,
  nodeList: readonly VotequorumNode[],
) => void;

/** `votequorum_nodelist_notification_fn_t`: the totem members of the current ring. */
export type VotequorumNodelistNotifyFn = (
  handle: VotequorumHandle,
  context: bigint,
  ringId: VotequorumRingId,
  nodeList: readonly number[],
) => void;

/** `votequorum_expectedvotes_notification_fn_t`. */
export type VotequorumExpectedVotesNotifyFn = (
  handle: VotequorumHandle,
  context: bigint,
  expectedVotes: number,
) => void;

/** `votequorum_callbacks_t`. */
export interface VotequorumCallbacks {
  quorumNotify?: VotequorumQuorumNotifyFn;
  expectedVotesNotify?: VotequorumExpectedVotesNotifyFn;
  nodelistNotify?: VotequorumNodelistNotifyFn;
}

/** A notification taken from the queue by `events()`. */
export type VotequorumEvent =
  | {
      readonly type: 'quorum';
      readonly context: bigint;
      readonly quorate: boolean;
      readonly nodeList: readonly VotequorumNode[];
    }
  | {
      readonly type: 'nodelist';
      readonly context: bigint;
      readonly ringId: VotequorumRingId;
      readonly nodeList: readonly number[];
    }
  | { readonly type: 'expectedVotes'; readonly context: bigint; readonly expectedVotes: number };

/** Options of `VotequorumHandle.initialize`. */
export type VotequorumInitializeOptions = CallbackHandleOptions;

const STATUS = VqResId.STATUS;

/** Check a qdevice name as libvotequorum does: 1..254 bytes, else CS_ERR_INVALID_PARAM. */
function nameParam(name: unknown, what = 'qdevice name'): string {
  if (typeof name !== 'string')
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${what} must be a string`);
  const len = Buffer.byteLength(name, 'utf8');
  if (len === 0 || len >= VOTEQUORUM_QDEVICE_MAX_NAME_LEN || name.includes('\0')) {
    throw new CsError(
      CsErrorCode.CS_ERR_INVALID_PARAM,
      `${what} must be 1..${VOTEQUORUM_QDEVICE_MAX_NAME_LEN - 1} bytes without NUL`,
    );
  }
  return name;
}

function u64Param(n: unknown, what: string): bigint {
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) return BigInt(n);
  if (typeof n === 'bigint' && n >= 0n && n < 1n << 64n) return n;
  throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${what} must be an unsigned 64-bit integer`);
}

/**
 * A connection to the votequorum service (`votequorum_handle_t`). Create it with
 * `VotequorumHandle.initialize`; release it with `finalize`.
 */
export class VotequorumHandle extends CallbackHandle<VotequorumEvent> {
  protected readonly libName = 'votequorum';
  private readonly callbacks: VotequorumCallbacks;

  private constructor(
    conn: IpcClientConnection,
    callbacks: VotequorumCallbacks,
    opts: VotequorumInitializeOptions,
  ) {
    super(conn, undefined, opts);
    this.callbacks = { ...callbacks };
  }

  /**
   * `votequorum_initialize`: connect, remembering the callbacks (any may be absent).
   * Errors: CS_ERR_LIBRARY when the service is not reachable (no daemon, or votequorum is not
   * the quorum provider), the daemon's refusal code otherwise.
   */
  static async initialize(
    callbacks: VotequorumCallbacks = {},
    opts: VotequorumInitializeOptions = {},
  ): Promise<VotequorumHandle> {
    callbackParam(callbacks.quorumNotify, 'quorumNotify');
    callbackParam(callbacks.expectedVotesNotify, 'expectedVotesNotify');
    callbackParam(callbacks.nodelistNotify, 'nodelistNotify');
    const conn = await IpcClientConnection.connect('votequorum', { runDir: opts.runDir });
    return new VotequorumHandle(conn, callbacks, opts);
  }

  /**
   * `votequorum_getinfo`: the votequorum view of node `nodeid` (0 = the local node).
   * Unknown node: CS_ERR_NOT_EXIST.
   */
  async getinfo(nodeid = 0): Promise<VotequorumInfo> {
    const id = u32Param(nodeid, 'nodeid');
    const res = await this.request(encodeVqRequest({ kind: 'getinfo', nodeId: id }));
    const error = readInt32LE(res, 16);
    if (error !== CsErrorCode.CS_OK) throw new CsError(error, 'votequorum_getinfo');
    const d = this.unwrap(decodeVqResponse(res), 'votequorum_getinfo');
    if (d.kind !== 'getinfo' || !d.info) {
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `votequorum_getinfo: unexpected reply ${d.kind}`);
    }
    return votequorumInfoFromWire(d.info);
  }

  /**
   * `votequorum_setexpected`: change the expected votes of the cluster. Rejected with
   * CS_ERR_INVALID_PARAM when it would be below the current votes or make a quorate cluster
   * lose quorum.
   */
  async setexpected(expectedVotes: number): Promise<void> {
    const v = u32Param(expectedVotes, 'expected votes');
    await this.call(
      encodeVqRequest({ kind: 'setexpected', expectedVotes: v }),
      STATUS,
      'votequorum_setexpected',
    );
  }

  /**
   * `votequorum_setvotes`: change the votes of node `nodeid` (0 addresses the quorum device).
   * Unknown node: CS_ERR_NAME_NOT_FOUND; a value that breaks quorum: CS_ERR_INVALID_PARAM.
   */
  async setvotes(nodeid: number, votes: number): Promise<void> {
    const id = u32Param(nodeid, 'nodeid');
    const v = u32Param(votes, 'votes');
    await this.call(
      encodeVqRequest({ kind: 'setvotes', nodeId: id, votes: v }),
      STATUS,
      'votequorum_setvotes',
    );
  }

  /**
   * `votequorum_trackstart`: start notifications (flags: CsTrack bits). With CURRENT or
   * CHANGES the current node list and quorum notifications are queued before this resolves.
   * Already tracking: CS_ERR_EXIST (the CURRENT notifications are still sent).
   */
  async trackstart(context: bigint | number, flags: number): Promise<void> {
    const ctx = u64Param(context, 'context');
    const f = u32Param(flags, 'track flags');
    await this.call(
      encodeVqRequest({ kind: 'trackstart', context: ctx, trackFlags: f }),
      STATUS,
      'votequorum_trackstart',
    );
  }

  /** `votequorum_trackstop`. Not tracking: CS_ERR_NOT_EXIST. */
  async trackstop(): Promise<void> {
    await this.call(encodeVqRequest({ kind: 'trackstop' }), STATUS, 'votequorum_trackstop');
  }

  /**
   * `votequorum_qdevice_register`: register a quorum device named `name` on this node (the
   * reply comes once the registration went round the cluster). Errors: CS_ERR_INVALID_PARAM
   * (name empty or ≥ 255 bytes), CS_ERR_ACCESS (qdevice not allowed by the configuration),
   * CS_ERR_EXIST (another device registered), CS_ERR_TRY_AGAIN.
   */
  async qdeviceRegister(name: string): Promise<void> {
    const n = nameParam(name);
    this.checkHandle();
    await this.call(
      encodeVqRequest({ kind: 'qdevice_register', name: wireName(n) }),
      STATUS,
      'votequorum_qdevice_register',
    );
  }

  /** `votequorum_qdevice_unregister`. Not registered: CS_ERR_NOT_EXIST; other name: INVALID_PARAM. */
  async qdeviceUnregister(name: string): Promise<void> {
    const n = nameParam(name);
    this.checkHandle();
    await this.call(
      encodeVqRequest({ kind: 'qdevice_unregister', name: wireName(n) }),
      STATUS,
      'votequorum_qdevice_unregister',
    );
  }

  /** `votequorum_qdevice_update`: rename the registered device. */
  async qdeviceUpdate(oldname: string, newname: string): Promise<void> {
    const o = nameParam(oldname, 'old qdevice name');
    const n = nameParam(newname, 'new qdevice name');
    this.checkHandle();
    await this.call(
      encodeVqRequest({ kind: 'qdevice_update', oldName: wireName(o), newName: wireName(n) }),
      STATUS,
      'votequorum_qdevice_update',
    );
  }

  /**
   * `votequorum_qdevice_poll`: tell votequorum the device is alive and whether it casts its
   * vote, for ring `ringId` (the one of the last node list notification). A stale ring id:
   * CS_ERR_MESSAGE_ERROR; not registered: CS_ERR_NOT_EXIST; other name: CS_ERR_INVALID_PARAM.
   */
  async qdevicePoll(name: string, castVote: boolean | number, ringId: VotequorumRingId): Promise<void> {
    const n = nameParam(name);
    if (!ringId || typeof ringId !== 'object') {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'ringId must be {nodeid, seq}');
    }
    const ring = {
      rep: u32Param(ringId.nodeid, 'ring id nodeid'),
      seq: u64Param(ringId.seq, 'ring id seq'),
    };
    this.checkHandle();
    await this.call(
      encodeVqRequest({ kind: 'qdevice_poll', name: wireName(n), castVote: castVote ? 1 : 0, ringId: ring }),
      STATUS,
      'votequorum_qdevice_poll',
    );
  }

  /** `votequorum_qdevice_master_wins`: enable or disable master-wins for the device. */
  async qdeviceMasterWins(name: string, allow: boolean | number): Promise<void> {
    const n = nameParam(name);
    this.checkHandle();
    await this.call(
      encodeVqRequest({ kind: 'qdevice_master_wins', name: wireName(n), allow: allow ? 1 : 0 }),
      STATUS,
      'votequorum_qdevice_master_wins',
    );
  }

  protected decodeEvent(frame: Buffer): CodecResult<VotequorumEvent> {
    const d = decodeVqResponse(frame);
    if (!d.ok) return d;
    const ev = toEvent(d.value);
    if (!ev) return codecFail('bad-id', `not a votequorum dispatch message: ${d.value.kind}`);
    return codecOk(ev);
  }

  protected invoke(ev: VotequorumEvent): void {
    switch (ev.type) {
      case 'quorum':
        this.callbacks.quorumNotify?.(this, ev.context, ev.quorate, ev.nodeList);
        return;
      case 'nodelist':
        this.callbacks.nodelistNotify?.(this, ev.context, ev.ringId, ev.nodeList);
        return;
      case 'expectedVotes':
        this.callbacks.expectedVotesNotify?.(this, ev.context, ev.expectedVotes);
        return;
    }
  }
}

function toEvent(m: VqResponse): VotequorumEvent | undefined {
  switch (m.kind) {
    case 'quorum_notification':
      return {
        type: 'quorum',
        context: m.context,
        quorate: m.quorate !== 0,
        nodeList: m.nodes.map((n) => ({ nodeid: n.nodeId, state: n.state })),
      };
    case 'nodelist_notification':
      return {
        type: 'nodelist',
        context: m.context,
        ringId: { nodeid: m.ringId.rep, seq: m.ringId.seq },
        nodeList: m.nodes,
      };
    case 'expectedvotes_notification':
      return { type: 'expectedVotes', context: m.context, expectedVotes: m.expectedVotes };
    default:
      return undefined;
  }
}
