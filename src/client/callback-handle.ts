/**
 * The shared base of the client handles, in two layers:
 *
 * - `ClientHandle`, what every handle (cpg, cmap, votequorum, quorum, cfg) has: one IPC
 *   connection, one dispatch queue, a user context, `dispatch()` with the four
 *   cs_dispatch_flags_t modes, the finalized state (DESIGN rule 2: user callbacks run only
 *   from dispatch).
 * - `CallbackHandle`, the common shape of the small callback libraries (votequorum, quorum,
 *   cfg) on top of it: checked request/reply calls, an `events()` iterator over the queue and
 *   a `finalize()` that only disconnects.
 *
 * Behaviour shared by libvotequorum, libquorum and libcfg 3.1.7:
 * - `finalize()` only disconnects (no request is sent); afterwards every call fails with
 *   CS_ERR_BAD_HANDLE, a second finalize too.
 * - A lost connection makes requests fail with CS_ERR_LIBRARY; `dispatch()` still runs the
 *   callbacks already queued, then throws CS_ERR_LIBRARY.
 * - A callback that finalizes the handle ends `dispatch()` with CS_ERR_BAD_HANDLE.
 * - An unknown or malformed dispatch message: CS_ERR_LIBRARY (as the C libraries answer an
 *   unknown id).
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import type { CodecResult } from '../exec/codec.js';
import type { IpcClientConnection } from './connection.js';
import { DispatchQueue, QueueDispatcher } from './dispatch-queue.js';
import { RESPONSE_HEADER_SIZE, frameSize } from '../ipc/frame.js';
import { readInt32LE } from '../common/bytes.js';

/** Options every one of these handles accepts. */
export interface CallbackHandleOptions {
  /** Daemon run directory (default: COROSYNC_TS_RUN_DIR, then the default run dir). */
  runDir?: string;
  /** Dispatch frames held in memory before the event channel is paused. Default 16384. */
  maxQueuedEvents?: number;
}

/**
 * What every client handle (cpg, cmap, votequorum, quorum, cfg) is made of: one IPC connection
 * to a daemon service, the queue its dispatch frames wait in until `dispatch()` runs them, the
 * user context, and the finalized state that turns every later call into CS_ERR_BAD_HANDLE.
 * A subclass says how one frame is run (`runFrame`) and writes its own `finalize()` (the
 * libraries differ there: libcpg tells the daemon, the others only disconnect), starting it
 * with `markFinalized()`.
 */
export abstract class ClientHandle {
  protected readonly conn: IpcClientConnection;
  protected readonly queue: DispatchQueue;
  protected readonly dispatcher: QueueDispatcher;
  protected finalized = false;
  private context: unknown;

  protected constructor(conn: IpcClientConnection, context: unknown, maxQueued: number) {
    this.conn = conn;
    this.context = context;
    this.queue = new DispatchQueue(conn, maxQueued);
    this.dispatcher = new QueueDispatcher(
      this.queue,
      conn,
      () => this.finalized,
      (frame) => this.runFrame(frame),
    );
    conn.onEvent = (frame) => {
      if (!this.finalized) this.queue.push(frame);
    };
    conn.onLost = () => this.connectionLost();
  }

  /** Run one dispatch frame: call the user's callback it completes, if any. */
  protected abstract runFrame(frame: Buffer): void;

  /** The connection is gone: waiting dispatches must look again (and end with CS_ERR_LIBRARY). */
  protected connectionLost(): void {
    this.queue.wake();
  }

  /**
   * The first step of every `finalize()`: CS_ERR_BAD_HANDLE when already finalized; otherwise
   * the handle refuses every call from now on, queued callbacks are dropped, a waiting
   * `dispatch()` ends with CS_ERR_BAD_HANDLE and an events iterator finishes.
   */
  protected markFinalized(): void {
    this.checkHandle();
    this.finalized = true;
    this.queue.close();
  }

  /**
   * File descriptor of the event channel (the C libraries' `*_fd_get`): readable when
   * callbacks arrive. Node users normally await `dispatch(CsDispatchFlags.ONE)` instead.
   */
  fdGet(): number {
    this.checkHandle();
    const fd = this.conn.eventFd();
    if (fd < 0) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, 'connection lost');
    return fd;
  }

  /** The context given at initialisation or by `contextSet` (`*_context_get`). */
  contextGet(): unknown {
    this.checkHandle();
    return this.context;
  }

  /** Attach a user context to the handle (`*_context_set`). */
  contextSet(context: unknown): void {
    this.checkHandle();
    this.context = context;
  }

  /** Number of dispatch messages waiting in the queue. */
  get pendingEvents(): number {
    return this.queue.length;
  }

  /**
   * Run queued callbacks (`*_dispatch`):
   * - `ONE` (1): wait for one dispatch message and process it;
   * - `ALL` (2): process every queued message, then return (never waits);
   * - `BLOCKING` (3): process messages as they come; ends only with CS_ERR_BAD_HANDLE
   *   (finalized) or CS_ERR_LIBRARY (connection lost);
   * - `ONE_NONBLOCKING` (4): process one queued message; CS_ERR_TRY_AGAIN when none waits.
   *
   * A callback that finalizes the handle ends the dispatch with CS_ERR_BAD_HANDLE. After the
   * connection is lost, queued messages are still processed, then CS_ERR_LIBRARY is thrown.
   * A malformed or unknown dispatch message: CS_ERR_LIBRARY. Exceptions thrown by a callback
   * propagate. Other flag values: CS_ERR_INVALID_PARAM.
   */
  async dispatch(flags: number): Promise<void> {
    this.checkHandle();
    return this.dispatcher.dispatch(flags);
  }

  protected checkHandle(): void {
    if (this.finalized) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, 'handle finalized');
  }
}

/** Base of VotequorumHandle, QuorumHandle and CfgHandle. `E` is the decoded event type. */
export abstract class CallbackHandle<E> extends ClientHandle {
  protected constructor(conn: IpcClientConnection, context: unknown, opts: CallbackHandleOptions) {
    super(conn, context, opts.maxQueuedEvents ?? 16384);
  }

  /** Decode a dispatch frame into an event (a CodecFailure becomes CS_ERR_LIBRARY). */
  protected abstract decodeEvent(frame: Buffer): CodecResult<E>;

  /** Call the user's callback for `ev` (absent callbacks: nothing). */
  protected abstract invoke(ev: E): void;

  /** Library name used in error messages (e.g. "votequorum"). */
  protected abstract readonly libName: string;

  protected runFrame(frame: Buffer): void {
    this.invoke(this.decode(frame));
  }

  /**
   * Disconnect from the daemon (the C libraries send nothing). Queued callbacks are dropped;
   * a waiting `dispatch()` ends with CS_ERR_BAD_HANDLE, `events()` finishes. A second call:
   * CS_ERR_BAD_HANDLE.
   */
  async finalize(): Promise<void> {
    this.markFinalized();
    await this.conn.close();
  }

  /** True after `finalize()`. */
  get isFinalized(): boolean {
    return this.finalized;
  }

  /**
   * An async iterator over the callback queue (the idiomatic alternative to `dispatch`): each
   * `next()` yields the oldest event as an object, or waits for one; callbacks are not called.
   * Ends when the handle is finalized; throws CS_ERR_LIBRARY when the connection is lost
   * (after the queued events). Use one style per handle: an event goes to whichever consumer
   * takes it first.
   */
  events(): AsyncIterableIterator<E> {
    return this.dispatcher.events((frame) => this.decode(frame));
  }

  /** Send a request and return its reply frame (header checked). */
  protected async request(frame: Buffer): Promise<Buffer> {
    this.checkHandle();
    const res = await this.conn.request(frame);
    if (res.length < RESPONSE_HEADER_SIZE || frameSize(res) !== res.length) {
      throw new CsError(
        CsErrorCode.CS_ERR_LIBRARY,
        `malformed ${this.libName} reply: ${res.length} bytes` +
          (res.length >= RESPONSE_HEADER_SIZE ? ` (header size ${frameSize(res)})` : ''),
      );
    }
    return res;
  }

  /**
   * Send a request; throw the reply's error when it is not CS_OK (whatever the reply's id —
   * a generic refusal such as TRY_AGAIN comes back as a bare header with id 0); otherwise
   * return the reply after checking its id.
   */
  protected async call(frame: Buffer, replyId: number, what: string): Promise<Buffer> {
    const res = await this.request(frame);
    const error = readInt32LE(res, 16);
    if (error !== CsErrorCode.CS_OK) throw new CsError(error, what);
    if (readInt32LE(res, 0) !== replyId) {
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `${what}: unexpected reply id ${readInt32LE(res, 0)}`);
    }
    return res;
  }

  /** Unwrap a decoded reply (a failure is a broken daemon: CS_ERR_LIBRARY). */
  protected unwrap<T>(r: CodecResult<T>, what: string): T {
    if (!r.ok) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `${what}: malformed reply: ${r.error}`);
    return r.value;
  }

  private decode(frame: Buffer): E {
    const d = this.decodeEvent(frame);
    if (!d.ok)
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `malformed ${this.libName} dispatch message: ${d.error}`);
    return d.value;
  }
}

/** Throw CS_ERR_INVALID_PARAM unless `n` is an integer in [0, 2^32). */
export function u32Param(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${what} must be an unsigned 32-bit integer`);
  }
  return n;
}

/** Throw CS_ERR_INVALID_PARAM unless `fn` is a function or absent. */
export function callbackParam(fn: unknown, what: string): void {
  if (fn !== undefined && fn !== null && typeof fn !== 'function') {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `${what} must be a function`);
  }
}
