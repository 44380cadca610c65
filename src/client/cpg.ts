/**
 * The CPG client library: corosync's libcpg (include/corosync/cpg.h, 3.1.7) for TypeScript.
 *
 * A `CpgHandle` is one connection to the daemon's `cpg` service. Every call fails with a
 * `CsError` carrying the `cs_error_t` code libcpg would return. Callbacks (deliver, confchg,
 * totem confchg) are queued when they arrive and run only from `dispatch()`; `events()` is
 * an async iterator over the same queue for code that prefers `for await`.
 *
 * Behaviour that follows libcpg 3.1.7 (spec cpg.md §7, §8):
 * - `join`/`leave` repeat the request while the daemon answers CS_ERR_BUSY.
 * - `mcastJoined` does not wait for the daemon (MCAST has no reply). Messages longer than
 *   `maxAtomicMsgsizeGet()` (1 048 576 − 1024 bytes with the default IPC size) are sent as a
 *   sequence of PARTIAL_MCAST fragments, each acknowledged by the daemon; fragments never span
 *   two of the caller's buffers. Receivers reassemble them per (nodeid, pid) and see one
 *   ordinary deliver callback.
 * - `flowControlStateGet()` always reports DISABLED.
 * - Zero-copy buffers (`zcbAlloc`/`zcbFree`/`zcbMcastJoined`) are ordinary Buffers: no shared
 *   mapping is created and the daemon is not involved until the message is sent.
 *
 * Flow control on our stream transport: libqb clients get CS_ERR_TRY_AGAIN from a shared
 * flow-control flag. Here `mcastJoined` throws CS_ERR_TRY_AGAIN while (a) more than
 * `maxSendBacklogBytes` request bytes wait unsent in our socket buffer (the daemon stopped
 * reading), or (b) the daemon published flow-control level 1 or 2 (a transport control frame
 * on the event channel, src/ipc/handshake.ts; corosync raises level 2 while a sync runs).
 * `send()` waits for those conditions to clear (socket drain / level back to 0) instead of
 * sleeping.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

/** libcpg's libqb flow-control limit around cpg_mcast_joined (qb_ipcc_fc_enable_max_set(2)). */
const CPG_MCAST_FC_LIMIT = 2;
import { CsError, CsErrorCode } from '../common/errors.js';
import { iterateHandle } from './handle-iterator.js';
import { isCodecFailure } from '../exec/codec.js';
import {
  CPG_MAX_NAME_LENGTH,
  CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
  CpgFlowControlState,
  CpgIterationType,
  CpgPartialType,
  CpgReason,
  CpgResId,
  CpgSize,
  cpgName,
  cpgNameEquals,
  decodeCpgResponse,
  encodeCpgMcastRequestHeader,
  encodeCpgPartialMcastRequestHeader,
  encodeCpgRequest,
  type CpgName,
  type CpgResponse,
} from '../services/cpg/codec.js';
import { IpcClientConnection } from './connection.js';
import { ClientHandle } from './callback-handle.js';
import { readInt32LE, readUInt32LE } from '../common/bytes.js';

export { CpgFlowControlState, CpgIterationType, CpgReason, CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF };

/** `cpg_model_t`: the only model is V1. */
export const CpgModel = { V1: 1 } as const;

/** `cpg_guarantee_t`. corosync delivers every message in agreed order whatever is asked. */
export const CpgGuarantee = { UNORDERED: 0, FIFO: 1, AGREED: 2, SAFE: 3 } as const;

/** CPG_MEMBERS_MAX: the largest list libcpg's C callbacks can hold (we pass any size). */
export const CPG_MEMBERS_MAX = 128;

/** IPC_REQUEST_SIZE of the C libraries: the largest zero-copy message. */
const IPC_REQUEST_SIZE = 1024 * 1024;
/** Room libcpg leaves for corosync's own headers: max atomic size = IPC size − 1024. */
const CPG_HEADER_ALLOWANCE = 1024;
/** libcpg's MAX_RETRIES × 10 ms: how long a fragment waits for flow control to clear. */
const FRAGMENT_FLOW_CONTROL_WAIT_MS = 1000;
/** Upper bound of the back-off between retries that no event can shorten. */
const MAX_RETRY_DELAY_MS = 100;
/** What a message accepted at once resolves with (one settled promise, shared). */
const SENT: Promise<void> = Promise.resolve();

/**
 * A group name as the library hands it out: the exact bytes (`length` of them) and their
 * UTF-8 decoding for convenience (lossy for names that are not UTF-8; use `bytes` then).
 */
export interface CpgGroupName {
  /** The name decoded as UTF-8. */
  readonly name: string;
  /** The significant bytes of the name (0..128). */
  readonly bytes: Buffer;
}

/** What the API accepts as a group name: a string (UTF-8), raw bytes, or a `CpgGroupName`. */
export type CpgGroupNameInput = string | Uint8Array | CpgGroupName;

/** `struct cpg_address`: a process in a group and why it is in a confchg list. */
export interface CpgAddress {
  readonly nodeid: number;
  readonly pid: number;
  /** CpgReason (UNDEFINED for members). */
  readonly reason: number;
}

/** `struct cpg_ring_id`. */
export interface CpgRingId {
  /** Node id of the ring representative. */
  readonly nodeid: number;
  readonly seq: bigint;
}

/** `struct cpg_iteration_description_t`. NAME_ONLY iterations report nodeid and pid as 0. */
export interface CpgIterationDescription {
  readonly group: CpgGroupName;
  readonly nodeid: number;
  readonly pid: number;
}

/** `cpg_deliver_fn_t`: a message multicast to the group (runs from `dispatch()`). */
export type CpgDeliverFn = (
  handle: CpgHandle,
  groupName: CpgGroupName,
  nodeid: number,
  pid: number,
  message: Buffer,
) => void;

/**
 * `cpg_confchg_fn_t`: the group's membership changed. `memberList` is the membership after
 * the change; `leftList` and `joinedList` say who changed and why (CpgReason).
 */
export type CpgConfchgFn = (
  handle: CpgHandle,
  groupName: CpgGroupName,
  memberList: readonly CpgAddress[],
  leftList: readonly CpgAddress[],
  joinedList: readonly CpgAddress[],
) => void;

/** `cpg_totem_confchg_fn_t`: the totem (node) membership changed. */
export type CpgTotemConfchgFn = (handle: CpgHandle, ringId: CpgRingId, memberList: readonly number[]) => void;

/** `cpg_callbacks_t` (for `initialize`). */
export interface CpgCallbacks {
  deliver?: CpgDeliverFn;
  confchg?: CpgConfchgFn;
}

/** `cpg_model_v1_data_t` (for `modelInitialize`). */
export interface CpgModelV1Data {
  deliver?: CpgDeliverFn;
  confchg?: CpgConfchgFn;
  totemConfchg?: CpgTotemConfchgFn;
  /** Subset of CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF; sent with every join. Default 0. */
  flags?: number;
}

/** Options of `CpgHandle.initialize` / `modelInitialize` (ours; libcpg has none). */
export interface CpgInitializeOptions {
  /** Daemon run directory (default: COROSYNC_TS_RUN_DIR, then the default run dir). */
  runDir?: string;
  /**
   * Pid announced in join/leave requests (default `process.pid`, as libcpg's getpid()).
   * Lets one Node process act as several group members, e.g. in tests.
   */
  pid?: number;
  /** Dispatch frames held in memory before the event channel is paused. Default 16384. */
  maxQueuedEvents?: number;
  /** Unsent request bytes above which `mcastJoined` answers CS_ERR_TRY_AGAIN. Default 2 MiB. */
  maxSendBacklogBytes?: number;
  /** Bytes of partially received (fragmented) messages kept per handle. Default 256 MiB. */
  maxReassemblyBytes?: number;
}

/** Options of `CpgHandle.send`. */
export interface CpgSendOptions {
  /** Give up (rejecting with the signal's reason) when aborted. */
  signal?: AbortSignal;
}

/** A callback taken from the queue by `events()` (fragmented messages come reassembled). */
export type CpgEvent =
  | {
      readonly type: 'deliver';
      readonly groupName: CpgGroupName;
      readonly nodeid: number;
      readonly pid: number;
      readonly message: Buffer;
    }
  | {
      readonly type: 'confchg';
      readonly groupName: CpgGroupName;
      readonly memberList: readonly CpgAddress[];
      readonly leftList: readonly CpgAddress[];
      readonly joinedList: readonly CpgAddress[];
    }
  | {
      readonly type: 'totemConfchg';
      readonly ringId: CpgRingId;
      readonly memberList: readonly number[];
    };

interface Assembly {
  readonly nodeid: number;
  readonly pid: number;
  readonly msglen: number;
  readonly parts: Buffer[];
  received: number;
}

const OK = CsErrorCode.CS_OK;

function invalid(msg: string): CsError {
  return new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, msg);
}

/** Turn any accepted group name into the wire form (CS_ERR_NAME_TOO_LONG above 128 bytes). */
function groupArg(group: CpgGroupNameInput): CpgName {
  if (typeof group === 'string' || group instanceof Uint8Array) return cpgName(group);
  if (group && typeof group === 'object' && group.bytes instanceof Uint8Array) return cpgName(group.bytes);
  throw invalid('group name must be a string, bytes or a CpgGroupName');
}

/** The wire name as handed to users. */
export function cpgGroupName(n: CpgName): CpgGroupName {
  const bytes = Buffer.from(n.value.subarray(0, Math.min(n.length, CPG_MAX_NAME_LENGTH)));
  return { name: bytes.toString('utf8'), bytes };
}

/** Where a DELIVER_CALLBACK frame's group name bytes start (after its length and pad at 24). */
const DELIVER_NAME_VALUE = 32;

/** The `length` name bytes at `frame[off]` are `bytes` (compared in place: no view). */
function sameNameAt(frame: Buffer, off: number, length: number, bytes: Buffer): boolean {
  if (bytes.length !== length) return false;
  for (let i = 0; i < length; i++) if (frame[off + i] !== bytes[i]) return false;
  return true;
}

function u32Arg(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw invalid(`${what} must be a u32`);
  return n;
}

function iovArg(iov: Buffer | Uint8Array | readonly (Buffer | Uint8Array)[]): Buffer[] {
  const list = iov instanceof Uint8Array ? [iov] : iov;
  if (!Array.isArray(list)) throw invalid('message must be a Buffer or an array of Buffers');
  return list.map((b: unknown) => {
    if (!(b instanceof Uint8Array)) throw invalid('message parts must be Buffers');
    return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  });
}

/**
 * The request socket of a connection, for frames that get no reply (cpg MCAST).
 * IpcClientConnection pairs every `request()` with a response, so a no-reply frame must
 * bypass it; writes on the same socket keep their order with `request()` frames.
 * (Proposed: a public `post()`/backlog/drain API on IpcClientConnection instead.)
 */
function requestSocket(conn: IpcClientConnection): Socket {
  const s = (conn as unknown as { req?: Socket }).req;
  if (!s) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, 'request channel unavailable');
  return s;
}

/**
 * A connection to the CPG service (`cpg_handle_t`). Create it with `CpgHandle.initialize` or
 * `CpgHandle.modelInitialize`; release it with `finalize`.
 *
 * Callbacks wait in one queue. `dispatch(flags)` takes them from it and calls the callbacks
 * given at initialisation (libcpg's `cpg_dispatch`); `events()` takes them from the SAME queue
 * and yields them as objects without calling the callbacks. Every callback is delivered once,
 * to whichever consumer takes it first; use one style per handle.
 *
 * As in libcpg, one dispatch "message" may call no callback (a fragment of a larger message,
 * or a callback that was not given).
 */
export class CpgHandle extends ClientHandle {
  private readonly sock: Socket;
  private readonly model: Required<Pick<CpgModelV1Data, 'flags'>> & CpgModelV1Data;
  private readonly pid: number;
  private readonly maxAtomic: number;
  private readonly maxBacklog: number;
  private readonly maxReassembly: number;
  private daemonFlowControl = false;
  private writableWaiters: Array<() => void> = [];
  private readonly assemblies: Assembly[] = [];
  /** The group name object of the last delivered message (see deliverGroupName). */
  private lastDeliverGroup: { readonly group: CpgGroupName; readonly name: CpgName } | undefined;
  private assembledBytes = 0;
  private readonly iterations = new Map<bigint, bigint>();
  private nextIterationHandle = 1n;
  private readonly zcBuffers = new Set<Buffer>();

  private constructor(
    conn: IpcClientConnection,
    model: CpgModelV1Data,
    context: unknown,
    opts: CpgInitializeOptions,
  ) {
    super(conn, context, opts.maxQueuedEvents ?? 16384);
    this.sock = requestSocket(conn);
    this.model = { ...model, flags: model.flags ?? 0 };
    this.pid = opts.pid ?? process.pid;
    this.maxAtomic = Math.max(1, conn.maxMsgSize - CPG_HEADER_ALLOWANCE);
    this.maxBacklog = opts.maxSendBacklogBytes ?? 2 * 1024 * 1024;
    this.maxReassembly = opts.maxReassemblyBytes ?? 256 * 1024 * 1024;
    // libcpg raises libqb's flow-control limit to 2 around cpg_mcast_joined: level 2 (sync
    // running) blocks sending messages, and only that
    conn.onFlowControl = (level) => {
      this.daemonFlowControl = level > 0 && level <= CPG_MCAST_FC_LIMIT;
      if (!this.daemonFlowControl) this.wakeWritable();
    };
    this.sock.on('drain', () => this.wakeWritable());
  }

  /**
   * Connect with the callbacks of `cpg_callbacks_t` (`cpg_initialize`): model V1, join flags 0,
   * no totem confchg callback.
   *
   * Errors: CS_ERR_LIBRARY when no daemon listens at the run directory; the daemon's refusal
   * code (e.g. CS_ERR_TRY_AGAIN before its first sync).
   */
  static initialize(callbacks: CpgCallbacks = {}, opts: CpgInitializeOptions = {}): Promise<CpgHandle> {
    return CpgHandle.modelInitialize(
      CpgModel.V1,
      { deliver: callbacks.deliver, confchg: callbacks.confchg, flags: 0 },
      undefined,
      opts,
    );
  }

  /**
   * `cpg_model_initialize`. `model` must be CpgModel.V1 and `data.flags` a subset of
   * CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF (else CS_ERR_INVALID_PARAM, checked before
   * connecting). With that flag, the first confchg after each join is followed by a totem
   * confchg with the current node membership. `context` is what `contextGet` returns.
   */
  static async modelInitialize(
    model: number,
    data: CpgModelV1Data = {},
    context?: unknown,
    opts: CpgInitializeOptions = {},
  ): Promise<CpgHandle> {
    if (model !== CpgModel.V1) throw invalid(`unknown cpg model ${model}`);
    const flags = data.flags ?? 0;
    if (!Number.isInteger(flags) || (flags & ~CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF) !== 0) {
      throw invalid(`invalid model flags ${flags}`);
    }
    for (const [name, fn] of [
      ['deliver', data.deliver],
      ['confchg', data.confchg],
      ['totemConfchg', data.totemConfchg],
    ] as const) {
      if (fn !== undefined && fn !== null && typeof fn !== 'function')
        throw invalid(`${name} must be a function`);
    }
    if (opts.pid !== undefined) u32Arg(opts.pid, 'pid');
    const conn = await IpcClientConnection.connect('cpg', { runDir: opts.runDir });
    try {
      return new CpgHandle(conn, data, context, opts);
    } catch (err) {
      await conn.close();
      throw err;
    }
  }

  /**
   * `cpg_finalize`: tell the daemon, then close the connection. Queued callbacks are dropped;
   * a pending `dispatch()` ends with CS_ERR_BAD_HANDLE and `events()` finishes. The handle is
   * unusable afterwards even when this throws (CS_ERR_LIBRARY if the daemon was already gone,
   * as libcpg reports it). A second call: CS_ERR_BAD_HANDLE.
   */
  async finalize(): Promise<void> {
    this.markFinalized();
    this.iterations.clear();
    this.assemblies.length = 0;
    this.assembledBytes = 0;
    this.zcBuffers.clear();
    this.wakeWritable();
    let failure: unknown;
    try {
      await this.conn.request(encodeCpgRequest({ kind: 'finalize' }));
    } catch (err) {
      failure = err;
    }
    await this.conn.close();
    if (failure !== undefined) throw failure;
  }

  /** The pid this handle announces in join and leave requests. */
  get localPid(): number {
    return this.pid;
  }

  /**
   * An async iterator over the callback queue (the idiomatic alternative to `dispatch`). Each
   * `next()` yields the oldest complete callback as an object (fragments are reassembled
   * first), or waits for one; the handle's callbacks are not called. The iteration ends when
   * the handle is finalized and throws CS_ERR_LIBRARY when the connection is lost (after the
   * queued callbacks). `break`ing out of a `for await` leaves the handle untouched.
   */
  events(): AsyncIterableIterator<CpgEvent> {
    return this.dispatcher.events((frame) => this.process(frame));
  }

  // ---- membership ----

  /**
   * `cpg_join`: become a member of `groupName` (with this handle's pid and model flags). The
   * daemon answers at once; the own confchg (joined list containing us) follows through
   * dispatch. Retries while the daemon answers CS_ERR_BUSY (waiting for the next callback to
   * arrive, or a short back-off), as libcpg does — forever, like libcpg.
   * Errors: CS_ERR_NAME_TOO_LONG (> 128 bytes), CS_ERR_EXIST (this handle or another
   * connection with the same pid is in that group), CS_ERR_TRY_AGAIN (a leave of the same
   * process is not yet delivered), CS_ERR_BAD_HANDLE, CS_ERR_LIBRARY.
   */
  async join(groupName: CpgGroupNameInput): Promise<void> {
    const group = groupArg(groupName);
    this.checkHandle();
    const frame = encodeCpgRequest({ kind: 'join', group, pid: this.pid, flags: this.model.flags });
    await this.callRetryingBusy(frame, 'cpg_join');
  }

  /**
   * `cpg_leave`: leave `groupName` (the request carries this handle's pid and the given name;
   * the daemon applies it to that group). Retries CS_ERR_BUSY (join not yet completed) like
   * libcpg. Errors: CS_ERR_NOT_EXIST when not joined, CS_ERR_NAME_TOO_LONG, ...
   */
  async leave(groupName: CpgGroupNameInput): Promise<void> {
    const group = groupArg(groupName);
    this.checkHandle();
    const frame = encodeCpgRequest({ kind: 'leave', group, pid: this.pid });
    await this.callRetryingBusy(frame, 'cpg_leave');
  }

  /**
   * `cpg_membership_get`: the current members of `groupName` (ordered by nodeid, then pid),
   * whether or not this handle is joined. `reason` is whatever the daemon sent (0 from ours).
   */
  async membershipGet(groupName: CpgGroupNameInput): Promise<CpgAddress[]> {
    const group = groupArg(groupName);
    const r = await this.call(
      encodeCpgRequest({ kind: 'membership_get', group }),
      'membership',
      'cpg_membership_get',
    );
    return r.members.map((a) => ({ nodeid: a.nodeid, pid: a.pid, reason: a.reason }));
  }

  /** `cpg_local_get`: this node's id. */
  async localGet(): Promise<number> {
    const r = await this.call(encodeCpgRequest({ kind: 'local_get' }), 'local_get', 'cpg_local_get');
    return r.localNodeid;
  }

  /** `cpg_flow_control_state_get`: always CpgFlowControlState.DISABLED, as in libcpg 3.1.7. */
  flowControlStateGet(): number {
    this.checkHandle();
    return CpgFlowControlState.DISABLED;
  }

  /**
   * `cpg_max_atomic_msgsize_get`: the largest message sent in one MCAST (IPC message size
   * − 1024 = 1 047 552 with the default size). Longer messages are fragmented.
   */
  maxAtomicMsgsizeGet(): number {
    this.checkHandle();
    return this.maxAtomic;
  }

  // ---- messages ----

  /**
   * `cpg_mcast_joined`: multicast a message (one Buffer, or several sent back to back as one
   * message) to the group this handle joined. Up to `maxAtomicMsgsizeGet()` bytes the message
   * is queued for the daemon and the promise resolves without waiting for it (MCAST has no
   * reply; if the handle is not joined the daemon drops it). Longer messages go as fragments,
   * each acknowledged, so the promise resolves after the last one was accepted.
   *
   * Errors: CS_ERR_TRY_AGAIN under flow control (see the file comment; nothing was sent —
   * retry later, or use `send`), CS_ERR_NOT_EXIST / CS_ERR_INTERRUPT from a fragmented send
   * (not joined / membership changed in between), CS_ERR_BAD_HANDLE, CS_ERR_LIBRARY.
   * `guarantee` (CpgGuarantee) is passed on and ignored by corosync.
   */
  mcastJoined(guarantee: number, iov: Buffer | Uint8Array | readonly (Buffer | Uint8Array)[]): Promise<void> {
    try {
      const long = this.mcastNow(guarantee, iov);
      return long ? this.sendFragments(guarantee, long.msglen, long.parts) : SENT;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The synchronous part of `mcastJoined`: checks, then queues a message of up to
   * `maxAtomicMsgsizeGet()` bytes (returns undefined), or returns a longer one's parts for
   * `sendFragments`. Throws what mcastJoined rejects with. Why not an async function: every
   * message of a low-rate sender runs this cold, and entering `send` and `mcastJoined` as two
   * async functions cost about 10 µs before the message left (measured on the CPG latency
   * bench, 3 nodes).
   */
  private mcastNow(
    guarantee: number,
    iov: Buffer | Uint8Array | readonly (Buffer | Uint8Array)[],
  ): { msglen: number; parts: Buffer[] } | undefined {
    u32Arg(guarantee, 'guarantee');
    const parts = Buffer.isBuffer(iov) ? undefined : iovArg(iov);
    this.checkSendable();
    let body: Buffer;
    let msglen: number;
    if (parts === undefined) {
      body = iov as Buffer;
      msglen = body.length;
      if (msglen > this.maxAtomic) return { msglen, parts: [body] };
    } else {
      msglen = 0;
      for (const p of parts) msglen += p.length;
      if (msglen > this.maxAtomic) return { msglen, parts };
      // several parts are joined once
      body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, msglen);
    }
    if (this.flowControlled())
      throw new CsError(CsErrorCode.CS_ERR_TRY_AGAIN, 'cpg_mcast_joined: flow control');
    this.conn.post(encodeCpgMcastRequestHeader(guarantee, msglen), body);
    return undefined;
  }

  /**
   * Awaitable multicast: `mcastJoined`, retried on CS_ERR_TRY_AGAIN until it is accepted. It
   * waits for the condition that caused the refusal to clear (the socket drained, the daemon
   * lifted flow control) and falls back to a short back-off (≤ 100 ms) only when the daemon
   * refused a fragment with nothing to wait for. Other errors are thrown.
   */
  send(
    guarantee: number,
    iov: Buffer | Uint8Array | readonly (Buffer | Uint8Array)[],
    opts: CpgSendOptions = {},
  ): Promise<void> {
    // the usual case, a message accepted at once, without entering an async function
    if (!opts.signal) {
      try {
        const long = this.mcastNow(guarantee, iov);
        if (!long) return SENT;
      } catch (err) {
        if (!CsError.is(err, CsErrorCode.CS_ERR_TRY_AGAIN)) return Promise.reject(err);
      }
    }
    return this.sendRetrying(guarantee, iov, opts);
  }

  private async sendRetrying(
    guarantee: number,
    iov: Buffer | Uint8Array | readonly (Buffer | Uint8Array)[],
    opts: CpgSendOptions,
  ): Promise<void> {
    let delay = 1;
    for (;;) {
      opts.signal?.throwIfAborted();
      try {
        await this.mcastJoined(guarantee, iov);
        return;
      } catch (err) {
        if (!CsError.is(err, CsErrorCode.CS_ERR_TRY_AGAIN)) throw err;
      }
      if (this.flowControlled()) {
        await this.waitWritable(undefined, opts.signal);
        delay = 1;
      } else {
        await this.waitWritable(delay, opts.signal);
        delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
      }
    }
  }

  // ---- zero-copy (emulated) ----

  /**
   * `cpg_zcb_alloc`: a zero-filled buffer of `size` bytes for `zcbMcastJoined`. No shared
   * memory is mapped (the daemon is not contacted); the buffer belongs to this handle until
   * `zcbFree` or `finalize`.
   */
  zcbAlloc(size: number): Buffer {
    this.checkHandle();
    if (!Number.isSafeInteger(size) || size < 0) throw invalid(`invalid size ${size}`);
    const buf = Buffer.alloc(size);
    this.zcBuffers.add(buf);
    return buf;
  }

  /** `cpg_zcb_free`. A buffer not from this handle's `zcbAlloc`: CS_ERR_INVALID_PARAM. */
  zcbFree(buffer: Buffer): void {
    this.checkHandle();
    if (!this.zcBuffers.delete(buffer)) throw invalid('not a buffer from zcbAlloc of this handle');
  }

  /**
   * `cpg_zcb_mcast_joined`: multicast the first `msgLen` bytes (default: all) of a buffer from
   * `zcbAlloc`. More than 1 MiB: CS_ERR_TOO_BIG (libcpg's limit); otherwise as `mcastJoined`.
   */
  async zcbMcastJoined(guarantee: number, buffer: Buffer, msgLen: number = buffer.length): Promise<void> {
    this.checkHandle();
    if (!this.zcBuffers.has(buffer)) throw invalid('not a buffer from zcbAlloc of this handle');
    if (!Number.isSafeInteger(msgLen) || msgLen < 0) throw invalid(`invalid message length ${msgLen}`);
    if (msgLen > IPC_REQUEST_SIZE) {
      throw new CsError(CsErrorCode.CS_ERR_TOO_BIG, `message of ${msgLen} bytes exceeds ${IPC_REQUEST_SIZE}`);
    }
    if (msgLen > buffer.length)
      throw invalid(`message length ${msgLen} exceeds the buffer (${buffer.length})`);
    await this.mcastJoined(guarantee, buffer.subarray(0, msgLen));
  }

  // ---- iteration ----

  /**
   * `cpg_iteration_initialize`: start listing groups and members (a snapshot taken by the
   * daemon). `type` is CpgIterationType.NAME_ONLY, ONE_GROUP (then `groupName` is required)
   * or ALL; `groupName` is allowed only with ONE_GROUP (else CS_ERR_INVALID_PARAM, as libcpg).
   * Returns the iteration handle for `iterationNext`/`iterationFinalize`.
   */
  async iterationInitialize(type: number, groupName?: CpgGroupNameInput): Promise<bigint> {
    const group = groupName === undefined ? undefined : groupArg(groupName);
    const { NAME_ONLY, ONE_GROUP, ALL } = CpgIterationType;
    if ((type === ONE_GROUP) !== (group !== undefined)) {
      throw invalid('a group name is required with ONE_GROUP and allowed only with it');
    }
    if (type !== NAME_ONLY && type !== ONE_GROUP && type !== ALL)
      throw invalid(`invalid iteration type ${type}`);
    const r = await this.call(
      encodeCpgRequest({ kind: 'iteration_initialize', iterationType: type, group }),
      'iteration_initialize',
      'cpg_iteration_initialize',
    );
    const handle = this.nextIterationHandle++;
    this.iterations.set(handle, r.handle);
    return handle;
  }

  /**
   * `cpg_iteration_next`: the next entry, or null at the end (CS_ERR_NO_SECTIONS). Unknown
   * iteration handle: CS_ERR_BAD_HANDLE; one the daemon no longer knows: CS_ERR_LIBRARY.
   */
  async iterationNext(iteration: bigint): Promise<CpgIterationDescription | null> {
    const exec = this.iterationArg(iteration);
    const res = await this.request(encodeCpgRequest({ kind: 'iteration_next', handle: exec }));
    if (res.error === CsErrorCode.CS_ERR_NO_SECTIONS) return null;
    if (res.error !== OK) throw new CsError(res.error, 'cpg_iteration_next');
    const r = this.expect(res, 'iteration_next', 'cpg_iteration_next');
    return { group: cpgGroupName(r.description.group), nodeid: r.description.nodeid, pid: r.description.pid };
  }

  /**
   * `cpg_iteration_finalize`: release the iteration (locally even when the daemon reports an
   * error, which is then thrown). Unknown iteration handle: CS_ERR_BAD_HANDLE.
   */
  async iterationFinalize(iteration: bigint): Promise<void> {
    const exec = this.iterationArg(iteration);
    const res = await this.request(encodeCpgRequest({ kind: 'iteration_finalize', handle: exec }));
    this.iterations.delete(iteration);
    if (res.error !== OK) throw new CsError(res.error, 'cpg_iteration_finalize');
  }

  /**
   * Iterate with `for await (const d of handle.iterate(CpgIterationType.ALL))`: wraps
   * iterationInitialize/Next/Finalize; the iteration is finalized when the loop ends or breaks.
   */
  iterate(type: number, groupName?: CpgGroupNameInput): AsyncIterableIterator<CpgIterationDescription> {
    return iterateHandle(
      () => this.iterationInitialize(type, groupName),
      (it) => this.iterationNext(it),
      (it) => this.iterationFinalize(it),
    );
  }

  // ---- internals ----

  private checkSendable(): void {
    this.checkHandle();
    if (!this.conn.alive) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, this.conn.lostReason?.message);
  }

  private iterationArg(iteration: bigint): bigint {
    this.checkHandle();
    if (typeof iteration !== 'bigint') throw invalid('iteration handle must be a bigint');
    const exec = this.iterations.get(iteration);
    if (exec === undefined) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, 'unknown iteration handle');
    return exec;
  }

  private async request(frame: Buffer): Promise<CpgResponse> {
    this.checkHandle();
    const res = await this.conn.request(frame);
    const d = decodeCpgResponse(res);
    if (!d.ok) {
      // A generic refusal ({id 0, size 24, error}) decodes as a bare response; anything
      // else that fails to decode is a broken daemon.
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `malformed cpg response: ${d.error}`);
    }
    return d.value;
  }

  private expect<K extends CpgResponse['kind']>(
    r: CpgResponse,
    kind: K,
    what: string,
  ): Extract<CpgResponse, { kind: K }> {
    if (r.kind !== kind) {
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `${what}: unexpected response ${r.kind}`);
    }
    return r as Extract<CpgResponse, { kind: K }>;
  }

  /** Send a request, throw its error, check the OK reply's kind. */
  private async call<K extends CpgResponse['kind']>(
    frame: Buffer,
    kind: K,
    what: string,
  ): Promise<Extract<CpgResponse, { kind: K }>> {
    const r = await this.request(frame);
    if (r.error !== OK) throw new CsError(r.error, what);
    return this.expect(r, kind, what);
  }

  private async callRetryingBusy(frame: Buffer, what: string): Promise<void> {
    let delay = 1;
    for (;;) {
      const r = await this.request(frame);
      if (r.error === OK) return;
      if (r.error !== CsErrorCode.CS_ERR_BUSY) throw new CsError(r.error, what);
      // BUSY ends when our own join/leave is delivered, which also queues a confchg for us:
      // wait for the next dispatch frame, or a short back-off if it already arrived.
      await this.queue.wait(delay);
      this.checkHandle();
      delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    }
  }

  private flowControlled(): boolean {
    return this.daemonFlowControl || this.conn.requestBacklogBytes >= this.maxBacklog;
  }

  /**
   * Resolve when sending may work again: the socket drained, the daemon lifted flow control,
   * the connection was lost or the handle finalized — or after `timeoutMs` if given.
   */
  private waitWritable(timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.writableWaiters.indexOf(done);
        if (i >= 0) this.writableWaiters.splice(i, 1);
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      this.writableWaiters.push(done);
      if (this.finalized || !this.conn.alive) done();
    });
  }

  private wakeWritable(): void {
    const w = this.writableWaiters;
    if (w.length === 0) return;
    this.writableWaiters = [];
    for (const resolve of w) resolve();
  }

  /**
   * libcpg's send_fragments: fragments of ≤ maxAtomic bytes that never span two buffers,
   * typed FIRST / CONTINUED / LAST, each answered by the daemon (PARTIAL_SEND). While flow
   * control is on, a fragment waits (on events) up to libcpg's retry budget, then the send
   * fails with CS_ERR_TRY_AGAIN. Any error in a reply ends the send with that error.
   */
  private async sendFragments(guarantee: number, msglen: number, parts: Buffer[]): Promise<void> {
    let sent = 0;
    for (const part of parts) {
      for (let off = 0; off < part.length;) {
        const fraglen = Math.min(part.length - off, this.maxAtomic);
        const type =
          sent === 0
            ? CpgPartialType.FIRST
            : sent + fraglen === msglen
              ? CpgPartialType.LAST
              : CpgPartialType.CONTINUED;
        if (this.flowControlled()) {
          const deadline = Date.now() + FRAGMENT_FLOW_CONTROL_WAIT_MS;
          while (this.flowControlled() && Date.now() < deadline) {
            await this.waitWritable(deadline - Date.now());
            this.checkSendable();
          }
          if (this.flowControlled()) {
            throw new CsError(CsErrorCode.CS_ERR_TRY_AGAIN, 'cpg_mcast_joined: flow control');
          }
        }
        const frame = Buffer.concat([
          encodeCpgPartialMcastRequestHeader(guarantee, msglen, type, fraglen),
          part.subarray(off, off + fraglen),
        ]);
        const r = await this.request(frame);
        if (r.error !== OK) throw new CsError(r.error, 'cpg_mcast_joined (fragment)');
        off += fraglen;
        sent += fraglen;
      }
    }
  }

  /** Messages that are whole and well formed are delivered in place; the rest are decoded. */
  protected runFrame(frame: Buffer): void {
    if (this.deliverInPlace(frame)) return;
    const ev = this.process(frame);
    if (ev) this.invoke(ev);
  }

  /** The connection is gone: a sender waiting for room must see it too. */
  protected override connectionLost(): void {
    super.connectionLost();
    this.wakeWritable();
  }

  /** Decode one dispatch frame; returns the complete callback it yields (if any). */
  private process(frame: Buffer): CpgEvent | undefined {
    const d = decodeCpgResponse(frame);
    if (isCodecFailure(d))
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `malformed dispatch message: ${d.error}`);
    const m = d.value;
    switch (m.kind) {
      case 'deliver':
        return {
          type: 'deliver',
          groupName: this.deliverGroupName(m.group),
          nodeid: m.nodeid,
          pid: m.pid,
          message: m.message,
        };
      case 'partial_deliver':
        return this.reassemble(m);
      case 'confchg': {
        for (const l of m.left) this.dropAssembly(l.nodeid, l.pid);
        return {
          type: 'confchg',
          groupName: cpgGroupName(m.group),
          memberList: m.members,
          leftList: m.left,
          joinedList: m.joined,
        };
      }
      case 'totem_confchg':
        return { type: 'totemConfchg', ringId: m.ringId, memberList: m.members };
      default:
        throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `unexpected dispatch message (${m.kind})`);
    }
  }

  /**
   * The group name of a delivered message: the previous one's object again while it is the
   * same name (a handle is in one group), so a message costs no name copy or UTF-8 decode.
   */
  private deliverGroupName(n: CpgName): CpgGroupName {
    const last = this.lastDeliverGroup;
    // compared with the bytes handed out: a caller who changed them gets a fresh object
    if (last !== undefined && cpgNameEquals(n, last.name)) return last.group;
    // frozen: every callback of the group shares it
    const group = Object.freeze(cpgGroupName(n));
    this.lastDeliverGroup = { group, name: { length: group.bytes.length, value: group.bytes } };
    return group;
  }

  /**
   * The dispatch of a well-formed DELIVER_CALLBACK frame (nearly every frame a group member
   * gets): `deliver` is called with the fields read in place, the message a view of the frame.
   * The general way (decodeCpgResponse, then an event object) allocated ~630 bytes per message
   * in objects nobody keeps: at one message every 10 ms a receiving client's scavenge every few
   * seconds, each a latency tail sample. False for any other frame, or one that is not what it
   * should be: `process` then decodes it (and names what is wrong).
   */
  private deliverInPlace(frame: Buffer): boolean {
    const size = frame.length;
    const HEADER = CpgSize.DELIVER_HEADER;
    if (size < HEADER || readInt32LE(frame, 0) !== CpgResId.DELIVER_CALLBACK) return false;
    if (readInt32LE(frame, 8) !== size || readUInt32LE(frame, 160) !== size - HEADER) return false;
    const nameLength = readUInt32LE(frame, 24);
    if (nameLength > CPG_MAX_NAME_LENGTH) return false;
    let group = this.lastDeliverGroup?.group;
    if (group === undefined || !sameNameAt(frame, DELIVER_NAME_VALUE, nameLength, group.bytes)) {
      group = this.deliverGroupName({
        length: nameLength,
        value: frame.subarray(DELIVER_NAME_VALUE, DELIVER_NAME_VALUE + CPG_MAX_NAME_LENGTH),
      });
    }
    this.model.deliver?.(
      this,
      group,
      readUInt32LE(frame, 168),
      readUInt32LE(frame, 176),
      frame.subarray(HEADER),
    );
    return true;
  }

  private reassemble(m: Extract<CpgResponse, { kind: 'partial_deliver' }>): CpgEvent | undefined {
    if (m.type === CpgPartialType.FIRST) {
      this.dropAssembly(m.nodeid, m.pid);
      this.assemblies.push({ nodeid: m.nodeid, pid: m.pid, msglen: m.msglen, parts: [], received: 0 });
    }
    const i = this.assemblies.findIndex((a) => a.nodeid === m.nodeid && a.pid === m.pid);
    if (i < 0) return undefined; // continuation of a message we never saw begin
    const a = this.assemblies[i]!;
    if (a.received + m.fragment.length > a.msglen || m.msglen !== a.msglen) {
      this.dropAssembly(m.nodeid, m.pid); // inconsistent fragments: the message is lost
      return undefined;
    }
    if (this.assembledBytes + m.fragment.length > this.maxReassembly) {
      this.dropAssembly(m.nodeid, m.pid);
      throw new CsError(
        CsErrorCode.CS_ERR_NO_MEMORY,
        `reassembly of fragmented messages exceeds ${this.maxReassembly} bytes`,
      );
    }
    a.parts.push(Buffer.from(m.fragment));
    a.received += m.fragment.length;
    this.assembledBytes += m.fragment.length;
    if (m.type !== CpgPartialType.LAST) return undefined;
    this.dropAssembly(m.nodeid, m.pid);
    if (a.received !== a.msglen) return undefined;
    return {
      type: 'deliver',
      groupName: cpgGroupName(m.group),
      nodeid: m.nodeid,
      pid: m.pid,
      message: a.parts.length === 1 ? a.parts[0]! : Buffer.concat(a.parts, a.msglen),
    };
  }

  private dropAssembly(nodeid: number, pid: number): void {
    for (let i = this.assemblies.length - 1; i >= 0; i--) {
      const a = this.assemblies[i]!;
      if (a.nodeid !== nodeid || a.pid !== pid) continue;
      this.assembledBytes -= a.received;
      this.assemblies.splice(i, 1);
    }
  }

  private invoke(ev: CpgEvent): void {
    switch (ev.type) {
      case 'deliver':
        this.model.deliver?.(this, ev.groupName, ev.nodeid, ev.pid, ev.message);
        return;
      case 'confchg':
        this.model.confchg?.(this, ev.groupName, ev.memberList, ev.leftList, ev.joinedList);
        return;
      case 'totemConfchg':
        this.model.totemConfchg?.(this, ev.ringId, ev.memberList);
        return;
    }
  }
}
