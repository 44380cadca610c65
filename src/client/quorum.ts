/**
 * The quorum client library: corosync's libquorum (include/corosync/quorum.h, 3.1.7) for
 * TypeScript.
 *
 * A `QuorumHandle` is one connection to the daemon's `quorum` service (always loaded). Model
 * V0 (`initialize`) gets one kind of notification: quorate flag, ring sequence number and the
 * member list. Model V1 (`modelInitialize(QuorumModel.V1, …)`) gets a quorum notification
 * with the full ring id and, before it on every membership change, a node list notification
 * with members, joined and left lists. Notifications run only from `dispatch()` (or come from
 * `events()`).
 *
 * `quorumType` (QUORUM_FREE = 0 / QUORUM_SET = 1) says whether a quorum provider is
 * configured; with none the cluster is always quorate.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import { codecFail, codecOk, type CodecResult } from '../exec/codec.js';
import { CallbackHandle, callbackParam, u32Param, type CallbackHandleOptions } from './callback-handle.js';
import { IpcClientConnection } from './connection.js';
import {
  QuorumModel,
  QuorumResId,
  QuorumTrackFlags as CsTrack,
  QuorumType,
  decodeQuorumResponse,
  encodeQuorumRequest,
  type QuorumResponse,
  type QuorumRingId,
} from '../services/quorum/codec.js';
import { readInt32LE } from '../common/bytes.js';

export { CsTrack };

/** `quorum_model_t`; QUORUM_FREE / QUORUM_SET (the `quorumType` values); `struct quorum_ring_id`. */
export { QuorumModel, QuorumType, type QuorumRingId };

type U32ReplyKind = 'getquorate' | 'gettype' | 'model_gettype';

/** The u32 of a GETQUORATE / GETTYPE / MODEL_GETTYPE reply (id and size checked). */
function decodeU32Reply(frame: Buffer, kind: U32ReplyKind): CodecResult<number> {
  const d = decodeQuorumResponse(frame);
  if (!d.ok) return d;
  const r = d.value;
  if (r.kind !== kind) return codecFail('bad-id', `${kind} reply expected, got ${r.kind}`);
  return codecOk(r.kind === 'getquorate' ? r.quorate : (r as { quorumType: number }).quorumType);
}

/** `quorum_notification_fn_t` (model V0). */
export type QuorumNotifyFn = (
  handle: QuorumHandle,
  quorate: boolean,
  ringSeq: bigint,
  viewList: readonly number[],
) => void;

/** `quorum_v1_quorum_notification_fn_t`. */
export type QuorumV1QuorumNotifyFn = (
  handle: QuorumHandle,
  quorate: boolean,
  ringId: QuorumRingId,
  memberList: readonly number[],
) => void;

/** `quorum_v1_nodelist_notification_fn_t`. */
export type QuorumV1NodelistNotifyFn = (
  handle: QuorumHandle,
  ringId: QuorumRingId,
  memberList: readonly number[],
  joinedList: readonly number[],
  leftList: readonly number[],
) => void;

/** `quorum_callbacks_t` (for `initialize`). */
export interface QuorumCallbacks {
  quorumNotify?: QuorumNotifyFn;
}

/** `quorum_model_v0_data_t`. */
export interface QuorumModelV0Data {
  quorumNotify?: QuorumNotifyFn;
}

/** `quorum_model_v1_data_t`. */
export interface QuorumModelV1Data {
  quorumNotify?: QuorumV1QuorumNotifyFn;
  nodelistNotify?: QuorumV1NodelistNotifyFn;
}

/** A notification taken from the queue by `events()`. */
export type QuorumEvent =
  | {
      /** Model V0 quorum notification. */
      readonly type: 'quorum';
      readonly quorate: boolean;
      readonly ringSeq: bigint;
      readonly viewList: readonly number[];
    }
  | {
      /** Model V1 quorum notification. */
      readonly type: 'v1Quorum';
      readonly quorate: boolean;
      readonly ringId: QuorumRingId;
      readonly memberList: readonly number[];
    }
  | {
      /** Model V1 node list notification. */
      readonly type: 'v1Nodelist';
      readonly ringId: QuorumRingId;
      readonly memberList: readonly number[];
      readonly joinedList: readonly number[];
      readonly leftList: readonly number[];
    };

export type QuorumInitializeOptions = CallbackHandleOptions;

type ModelData = { model: 0; data: QuorumModelV0Data } | { model: 1; data: QuorumModelV1Data };

/**
 * A connection to the quorum service (`quorum_handle_t`). Create it with
 * `QuorumHandle.initialize` (model V0) or `QuorumHandle.modelInitialize`; release it with
 * `finalize`.
 */
export class QuorumHandle extends CallbackHandle<QuorumEvent> {
  protected readonly libName = 'quorum';
  private readonly modelData: ModelData;
  /** QUORUM_SET (1) when a quorum provider is configured, QUORUM_FREE (0) otherwise. */
  readonly quorumType: number;

  private constructor(
    conn: IpcClientConnection,
    modelData: ModelData,
    quorumType: number,
    context: unknown,
    opts: QuorumInitializeOptions,
  ) {
    super(conn, context, opts);
    this.modelData = modelData;
    this.quorumType = quorumType;
  }

  /** `quorum_initialize`: model V0 with a quorum notification callback. */
  static initialize(
    callbacks: QuorumCallbacks = {},
    opts: QuorumInitializeOptions = {},
  ): Promise<QuorumHandle> {
    return QuorumHandle.modelInitialize(
      QuorumModel.V0,
      { quorumNotify: callbacks.quorumNotify },
      undefined,
      opts,
    );
  }

  /**
   * `quorum_model_initialize`: connect with model V0 or V1 (anything else:
   * CS_ERR_INVALID_PARAM before connecting). `context` is what `contextGet` returns. The
   * quorum type is in `handle.quorumType`. Errors: CS_ERR_LIBRARY when no daemon listens; the
   * daemon's refusal or reply error otherwise.
   */
  static async modelInitialize(
    model: 0,
    data?: QuorumModelV0Data,
    context?: unknown,
    opts?: QuorumInitializeOptions,
  ): Promise<QuorumHandle>;
  static async modelInitialize(
    model: 1,
    data?: QuorumModelV1Data,
    context?: unknown,
    opts?: QuorumInitializeOptions,
  ): Promise<QuorumHandle>;
  static async modelInitialize(
    model: number,
    data?: QuorumModelV0Data | QuorumModelV1Data,
    context?: unknown,
    opts?: QuorumInitializeOptions,
  ): Promise<QuorumHandle>;
  static async modelInitialize(
    model: number,
    data: QuorumModelV0Data | QuorumModelV1Data = {},
    context?: unknown,
    opts: QuorumInitializeOptions = {},
  ): Promise<QuorumHandle> {
    if (model !== QuorumModel.V0 && model !== QuorumModel.V1) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `unknown quorum model ${String(model)}`);
    }
    callbackParam(data.quorumNotify, 'quorumNotify');
    if (model === QuorumModel.V1) callbackParam((data as QuorumModelV1Data).nodelistNotify, 'nodelistNotify');
    const conn = await IpcClientConnection.connect('quorum', { runDir: opts.runDir });
    try {
      // V0 asks GETTYPE (the connection stays V0); V1 asks MODEL_GETTYPE, which switches it.
      const frame =
        model === QuorumModel.V0
          ? encodeQuorumRequest({ kind: 'gettype' })
          : encodeQuorumRequest({ kind: 'model_gettype', model });
      const replyKind = model === QuorumModel.V0 ? 'gettype' : 'model_gettype';
      const res = await conn.request(frame);
      if (res.length < 24) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, 'malformed quorum reply');
      const error = readInt32LE(res, 16);
      if (error !== CsErrorCode.CS_OK) throw new CsError(error, 'quorum_model_initialize');
      const t = decodeU32Reply(res, replyKind);
      if (!t.ok) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `quorum_model_initialize: ${t.error}`);
      const md: ModelData =
        model === QuorumModel.V0
          ? { model: 0, data: { ...(data as QuorumModelV0Data) } }
          : { model: 1, data: { ...(data as QuorumModelV1Data) } };
      return new QuorumHandle(conn, md, t.value, context, opts);
    } catch (err) {
      await conn.close();
      throw err;
    }
  }

  /** The model this handle was initialized with (QuorumModel). */
  get model(): number {
    return this.modelData.model;
  }

  /** `quorum_getquorate`. */
  async getquorate(): Promise<boolean> {
    const res = await this.call(
      encodeQuorumRequest({ kind: 'getquorate' }),
      QuorumResId.GETQUORATE,
      'quorum_getquorate',
    );
    return this.unwrap(decodeU32Reply(res, 'getquorate'), 'quorum_getquorate') !== 0;
  }

  /**
   * `quorum_trackstart` (flags: CsTrack bits). With CURRENT or CHANGES the current state is
   * queued (V1: node list, then quorum notification) before this resolves. Already tracking:
   * CS_ERR_EXIST.
   */
  async trackstart(flags: number): Promise<void> {
    const f = u32Param(flags, 'track flags');
    await this.call(
      encodeQuorumRequest({ kind: 'trackstart', flags: f }),
      QuorumResId.TRACKSTART,
      'quorum_trackstart',
    );
  }

  /** `quorum_trackstop` (corosync answers CS_OK even when not tracking). */
  async trackstop(): Promise<void> {
    await this.call(encodeQuorumRequest({ kind: 'trackstop' }), QuorumResId.TRACKSTOP, 'quorum_trackstop');
  }

  protected decodeEvent(frame: Buffer): CodecResult<QuorumEvent> {
    const d = decodeQuorumResponse(frame);
    if (!d.ok) return d;
    const ev = toEvent(d.value);
    if (!ev) return codecFail('bad-id', `not a quorum dispatch message: ${d.value.kind}`);
    // Each model understands only its own messages (libquorum: CS_ERR_LIBRARY otherwise).
    const v0 = ev.type === 'quorum';
    if (v0 !== (this.modelData.model === QuorumModel.V0)) {
      return {
        ok: false,
        code: 'bad-id',
        error: `${ev.type} notification on a model ${this.modelData.model} handle`,
      };
    }
    return { ok: true, value: ev };
  }

  protected invoke(ev: QuorumEvent): void {
    const md = this.modelData;
    if (md.model === QuorumModel.V0) {
      if (ev.type === 'quorum') md.data.quorumNotify?.(this, ev.quorate, ev.ringSeq, ev.viewList);
      return;
    }
    if (ev.type === 'v1Quorum') md.data.quorumNotify?.(this, ev.quorate, ev.ringId, ev.memberList);
    else if (ev.type === 'v1Nodelist') {
      md.data.nodelistNotify?.(this, ev.ringId, ev.memberList, ev.joinedList, ev.leftList);
    }
  }
}

function toEvent(m: QuorumResponse): QuorumEvent | undefined {
  switch (m.kind) {
    case 'notification':
      return { type: 'quorum', quorate: m.quorate !== 0, ringSeq: m.ringSeq, viewList: m.viewList };
    case 'v1_quorum_notification':
      return { type: 'v1Quorum', quorate: m.quorate !== 0, ringId: m.ringId, memberList: m.viewList };
    case 'v1_nodelist_notification':
      return {
        type: 'v1Nodelist',
        ringId: m.ringId,
        memberList: m.members,
        joinedList: m.joined,
        leftList: m.left,
      };
    default:
      return undefined;
  }
}
