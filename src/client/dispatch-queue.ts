/**
 * The bounded in-memory queue of dispatch frames that a client handle keeps between the
 * event channel and `dispatch()` (DESIGN rule 2: user callbacks run only from dispatch).
 *
 * Frames are pushed as they arrive on the event channel and taken, oldest first, by the
 * handle's `dispatch()` or its async-iterator layer. When more than `maxQueued` frames wait,
 * the queue stops reading the event channel (the daemon then buffers them within its own
 * bound) and resumes once half of them have been taken. Used by every client handle (cpg,
 * cmap, votequorum, quorum, cfg).
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import type { IpcClientConnection } from './connection.js';

/** What the queue needs from a connection (IpcClientConnection implements it). */
export type DispatchSource = Pick<IpcClientConnection, 'pauseEvents' | 'resumeEvents'>;

/** FIFO of dispatch frames with waiters, a bound, and event-channel backpressure. */
export class DispatchQueue {
  private readonly source: DispatchSource;
  private readonly maxQueued: number;
  private frames: Buffer[] = [];
  private head = 0;
  private waiters: Array<() => void> = [];
  private paused = false;
  private closedFlag = false;
  private consumer: (() => void) | undefined;
  private consuming = false;

  /**
   * @param source the connection whose event channel feeds the queue
   * @param maxQueued frames kept in memory before the event channel is paused (≥ 1)
   */
  constructor(source: DispatchSource, maxQueued: number) {
    this.source = source;
    this.maxQueued = Math.max(1, Math.floor(maxQueued));
  }

  /** Number of frames waiting. */
  get length(): number {
    return this.frames.length - this.head;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Append a frame (ignored after `close()`). A small view of a large socket chunk is
   * copied so the chunk can be freed (not a view of Buffer's small shared pool).
   */
  push(frame: Buffer): void {
    if (this.closedFlag) return;
    // (a frame of Buffer's 8 KiB pool is left as it is: the pool is shared and small)
    const big = frame.buffer.byteLength > 16 * 1024;
    const own = big && frame.byteLength * 4 < frame.buffer.byteLength ? Buffer.from(frame) : frame;
    this.frames.push(own);
    if (!this.paused && this.length >= this.maxQueued) {
      this.paused = true;
      this.source.pauseEvents();
    }
    this.wake();
  }

  /**
   * Hand frames to `fn` synchronously: it runs right after every push, wake and close (inside
   * the event channel's read callback), and must take what it can with {@link shift}. A
   * blocking dispatch uses this instead of awaiting {@link wait}: the promise hop and the
   * event-loop turns before it cost a fraction of a millisecond per callback at low rates.
   * Returns false when another consumer is set. `fn` must not throw.
   */
  consumeSync(fn: () => void): boolean {
    if (this.consumer) return false;
    this.consumer = fn;
    return true;
  }

  /** Remove the consumer set by {@link consumeSync} (if it is `fn`). */
  stopConsuming(fn: () => void): void {
    if (this.consumer === fn) this.consumer = undefined;
  }

  private runConsumer(): void {
    const fn = this.consumer;
    if (!fn || this.consuming) return;
    this.consuming = true;
    try {
      fn();
    } finally {
      this.consuming = false;
    }
  }

  /** Take the oldest frame, or undefined when none waits. */
  shift(): Buffer | undefined {
    if (this.head >= this.frames.length) return undefined;
    const frame = this.frames[this.head]!;
    this.frames[this.head] = undefined as unknown as Buffer;
    this.head++;
    if (this.head === this.frames.length) {
      this.frames = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames.splice(0, this.head);
      this.head = 0;
    }
    if (this.paused && this.length <= this.maxQueued / 2) {
      this.paused = false;
      this.source.resumeEvents();
    }
    return frame;
  }

  /**
   * Resolve at the next `push`, `wake` or `close` — or after `timeoutMs` when given. Does not
   * look at frames already queued: check `length` first.
   */
  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closedFlag) {
        resolve();
        return;
      }
      if (timeoutMs === undefined) {
        this.waiters.push(resolve);
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  /** Resolve every pending `wait()` and run the consumer (e.g. the connection was lost). */
  wake(): void {
    const w = this.waiters;
    if (w.length > 0) {
      this.waiters = [];
      for (const resolve of w) resolve();
    }
    this.runConsumer();
  }

  /** Drop every frame and refuse new ones; pending waits resolve. */
  close(): void {
    this.closedFlag = true;
    this.frames = [];
    this.head = 0;
    this.wake();
  }
}

/** cs_dispatch_flags_t values. */
const DISPATCH = { ONE: 1, ALL: 2, BLOCKING: 3, ONE_NONBLOCKING: 4 } as const;

/**
 * `cs_dispatch` over a handle's queue, shared by the client handles (one per handle, made at
 * its start). `runFrame` turns one frame into its callback (if it completes one).
 */
export class QueueDispatcher {
  constructor(
    private readonly queue: DispatchQueue,
    private readonly conn: Pick<IpcClientConnection, 'alive' | 'lostReason'>,
    private readonly finalized: () => boolean,
    private readonly runFrame: (frame: Buffer) => void,
  ) {}

  /**
   * `flags`: ONE waits for one frame, ALL takes what is queued, ONE_NONBLOCKING one queued frame
   * or CS_ERR_TRY_AGAIN, BLOCKING runs until the handle is finalized (CS_ERR_BAD_HANDLE) or the
   * connection is lost and nothing is queued (CS_ERR_LIBRARY); other values:
   * CS_ERR_INVALID_PARAM. What a callback throws ends the dispatch with it.
   *
   * BLOCKING takes frames synchronously as they arrive ({@link DispatchQueue.consumeSync}) rather
   * than after an awaited promise: at low rates the promise hop and the stream code before it
   * cost 0.1-0.2 ms per callback. A second concurrent BLOCKING dispatch of the same handle falls
   * back to awaiting.
   */
  async dispatch(flags: number): Promise<void> {
    const { ONE, ALL, BLOCKING, ONE_NONBLOCKING } = DISPATCH;
    if (flags !== ONE && flags !== ALL && flags !== BLOCKING && flags !== ONE_NONBLOCKING) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `invalid dispatch flags ${flags}`);
    }
    if (flags === BLOCKING) {
      const blocking = this.consumeBlocking();
      if (blocking) return blocking;
    }
    for (;;) {
      if (this.runOne()) {
        if (flags === ONE || flags === ONE_NONBLOCKING) return;
        continue;
      }
      if (flags === ALL) return;
      if (flags === ONE_NONBLOCKING) throw new CsError(CsErrorCode.CS_ERR_TRY_AGAIN, 'no callback queued');
      await this.queue.wait();
    }
  }

  /**
   * The async iterator over the queue (the handles' idiomatic alternative to `dispatch`): each
   * `next()` takes the oldest frame `convert` makes a value of (frames it returns undefined for
   * are skipped), or waits for one. Ends when the handle is finalized; throws CS_ERR_LIBRARY
   * when the connection is lost and nothing is queued. `return()` (a `break` out of
   * `for await`) leaves the handle as it is.
   */
  events<T>(convert: (frame: Buffer) => T | undefined): AsyncIterableIterator<T> {
    const { queue, conn } = this;
    const next = async (): Promise<IteratorResult<T>> => {
      for (;;) {
        if (this.finalized()) return { done: true, value: undefined };
        const frame = queue.shift();
        if (!frame) {
          if (!conn.alive) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, conn.lostReason?.message);
          await queue.wait();
          continue;
        }
        const value = convert(frame);
        if (value !== undefined) return { done: false, value };
      }
    };
    const it: AsyncIterableIterator<T> = {
      next,
      return: async () => ({ done: true, value: undefined }),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** Process the oldest queued frame; false when none is queued (throws as `dispatch` ends). */
  private runOne(): boolean {
    if (this.finalized()) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, 'handle finalized');
    const frame = this.queue.shift();
    if (!frame) {
      if (!this.conn.alive) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, this.conn.lostReason?.message);
      return false;
    }
    this.runFrame(frame);
    if (this.finalized()) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, 'handle finalized in a callback');
    return true;
  }

  /** The synchronous BLOCKING dispatch; undefined when the queue already has a consumer. */
  private consumeBlocking(): Promise<void> | undefined {
    let consume: () => void = () => undefined;
    const done = new Promise<void>((_resolve, reject) => {
      consume = (): void => {
        try {
          while (this.runOne());
        } catch (err) {
          this.queue.stopConsuming(consume);
          reject(err);
        }
      };
    });
    if (!this.queue.consumeSync(consume)) return undefined;
    consume(); // what is queued already, now
    return done;
  }
}
