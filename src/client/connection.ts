/**
 * Client side of our IPC stream transport (handshake bytes: src/ipc/handshake.ts): one
 * request/response connection plus one event connection per handle. Requests may be
 * pipelined; responses come back in request order and complete the oldest pending request.
 *
 * Ordering guarantee: the daemon writes a dispatch message before the reply of the request
 * that caused it. Before replies are handed to their callers, the event channel is read of
 * what the kernel holds (with the addon: at once; with Node's sockets: replies wait for a
 * `setImmediate` batch, after the event-loop poll phase that read them and the event data
 * read in it), so a dispatch message written before a reply is queued before the caller's
 * `await` resumes.
 */
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { CsError, CsErrorCode } from '../common/errors.js';
import { resolveRunDir, serviceSocketPath } from '../common/rundir.js';
import { FrameReassembler, IPC_MAX_MSG_SIZE, RESPONSE_HEADER_SIZE } from '../ipc/frame.js';
import {
  EVENT_ATTACH_RESPONSE_SIZE,
  IPC_EVENT_ATTACH_ID,
  IPC_SETUP_ID,
  SETUP_RESPONSE_SIZE,
  decodeFlowControl,
  decodeSetupResponse,
  encodeEventAttachRequest,
  encodeSetupRequest,
} from '../ipc/handshake.js';
import { loadQbNative, type QbNative } from '../ipc/libqb/native.js';
import {
  NativeEventChannel,
  NativeRequestChannel,
  SocketChannel,
  type EventChannel,
  type RequestChannel,
} from './event-channel.js';
import { writeDirect, writeDirectPair } from '../ipc/direct-write.js';
import { readInt32LE } from '../common/bytes.js';

/** Options of `IpcClientConnection.connect`. */
export interface IpcClientOptions {
  /** Run directory of the daemon (default: COROSYNC_TS_RUN_DIR, then the default run dir). */
  runDir?: string;
  /** Largest frame to ask for (default 1 MiB, like corosync's libraries). */
  maxMsgSize?: number;
  /**
   * Use the native addon when it is built (default true): the event channel is read by it
   * (event-channel.ts) and requests are written with send(2) (src/ipc/direct-write.ts).
   * false: Node's net.Socket only.
   */
  native?: boolean;
}

function uncorkRequests(conn: IpcClientConnection): void {
  conn.uncorkRequests();
}

/** The addon's loop-turn counter of this thread (made on first use). */
let turnCounter: Uint32Array | undefined;

interface Pending {
  resolve(frame: Buffer): void;
  reject(err: Error): void;
}

const LIBRARY = CsErrorCode.CS_ERR_LIBRARY;

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const onError = (err: NodeJS.ErrnoException): void => {
      s.destroy();
      reject(new CsError(LIBRARY, `cannot connect to ${path}: ${err.code ?? err.message}`));
    };
    s.once('error', onError);
    s.once('connect', () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

/** Read exactly one handshake frame from a channel before it is started (left-over bytes stay in `asm`). */
function readChannelFrame(ch: EventChannel, asm: FrameReassembler, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    ch.start(
      (chunk, lent) => {
        let frame: Buffer | undefined;
        const err = asm.push(chunk, (f) => {
          frame = lent && f.buffer === chunk.buffer ? Buffer.from(f) : f;
          return false;
        });
        if (lent) asm.ownPending();
        if (err || frame) ch.pause();
        if (err) reject(new CsError(LIBRARY, `malformed ${what}: ${err.message}`));
        else if (frame) resolve(frame);
      },
      (reason) => reject(new CsError(LIBRARY, `${reason} during ${what}`)),
    );
  });
}

function nativeAddon(opts: IpcClientOptions): QbNative | undefined {
  if (opts.native === false) return undefined;
  const load = loadQbNative();
  return load.ok ? load.native : undefined;
}

/** One client IPC connection (a request channel and an event channel). */
export class IpcClientConnection {
  /** The negotiated largest frame. */
  readonly maxMsgSize: number;
  /** Called for every dispatch frame (in order). */
  onEvent: ((frame: Buffer) => void) | undefined;
  /** Called when the daemon changes this connection's flow-control level (see handshake.ts). */
  onFlowControl: ((level: number) => void) | undefined;
  /** The flow-control level the daemon published last (0 = off). */
  flowControlLevel = 0;
  /** Called once if the daemon side goes away (not after `close()`). */
  onLost: ((err: CsError) => void) | undefined;

  private readonly req: Socket;
  private readonly ev: EventChannel;
  private readonly reqAsm: FrameReassembler;
  private readonly evAsm: FrameReassembler;
  private readonly pending: Pending[] = [];
  private ready: Array<[Pending, Buffer]> = [];
  private flushScheduled = false;
  private corked = false;
  /** The loop turn (addon `loopTurns`) whose first request went out directly; -1: none yet. */
  private directTurn = -1;
  private readonly native: QbNative | undefined;
  private readonly reqFd: number;
  private readonly loopTurn: Uint32Array | undefined;
  private state: 'open' | 'lost' | 'closed' = 'open';
  private lostError: CsError | undefined;

  private constructor(
    req: RequestChannel,
    ev: EventChannel,
    reqAsm: FrameReassembler,
    evAsm: FrameReassembler,
    max: number,
    native: QbNative | undefined,
  ) {
    this.native = native;
    this.reqFd = native ? req.fd : -1;
    if (native) this.loopTurn = turnCounter ??= native.loopTurns();
    this.req = req.socket;
    this.ev = ev;
    this.reqAsm = reqAsm;
    this.evAsm = evAsm;
    this.maxMsgSize = max;
    reqAsm.setMaxSize(max);
    evAsm.setMaxSize(max);

    req.start(
      (chunk, lent) => this.onResponseData(chunk, lent),
      (reason) => this.lose(reason),
    );
    ev.start(
      (chunk, lent) => this.onEventData(chunk, lent),
      (reason) => this.lose(reason),
    );
  }

  /**
   * Connect to `service`'s endpoint and run both handshakes. Errors: CS_ERR_LIBRARY when the
   * endpoint cannot be reached or the handshake breaks; the daemon's cs_error_t when it
   * refuses the connection (e.g. CS_ERR_TRY_AGAIN while not ready).
   */
  static async connect(service: string, opts: IpcClientOptions = {}): Promise<IpcClientConnection> {
    const path = serviceSocketPath(resolveRunDir(opts.runDir), service);
    const want = opts.maxMsgSize ?? IPC_MAX_MSG_SIZE;
    const native = nativeAddon(opts);
    const req: RequestChannel = native
      ? NativeRequestChannel.connectRequest(native, path)
      : new SocketChannel(await openSocket(path));
    let ev: EventChannel | undefined;
    try {
      const reqAsm = new FrameReassembler({ minSize: RESPONSE_HEADER_SIZE, maxSize: SETUP_RESPONSE_SIZE });
      req.write(encodeSetupRequest({ maxMsgSize: want, pid: process.pid }));
      const setupFrame = await readChannelFrame(req, reqAsm, 'setup');
      if (readInt32LE(setupFrame, 0) !== IPC_SETUP_ID || setupFrame.length !== SETUP_RESPONSE_SIZE) {
        throw new CsError(LIBRARY, 'unexpected setup response');
      }
      const setup = decodeSetupResponse(setupFrame);
      if (setup.error !== CsErrorCode.CS_OK) throw new CsError(setup.error, `${service} connection refused`);
      if (setup.maxMsgSize < RESPONSE_HEADER_SIZE) throw new CsError(LIBRARY, 'invalid granted message size');

      ev = native ? NativeEventChannel.connect(native, path) : new SocketChannel(await openSocket(path));
      const evAsm = new FrameReassembler({
        minSize: RESPONSE_HEADER_SIZE,
        maxSize: EVENT_ATTACH_RESPONSE_SIZE,
      });
      ev.write(encodeEventAttachRequest(setup.cookie));
      const ack = await readChannelFrame(ev, evAsm, 'event channel setup');
      if (readInt32LE(ack, 0) !== IPC_EVENT_ATTACH_ID || ack.length !== EVENT_ATTACH_RESPONSE_SIZE) {
        throw new CsError(LIBRARY, 'unexpected event channel response');
      }
      const ackError = readInt32LE(ack, 16);
      if (ackError !== CsErrorCode.CS_OK) throw new CsError(ackError, `${service} event channel refused`);

      const conn = new IpcClientConnection(req, ev, reqAsm, evAsm, setup.maxMsgSize, native);
      // Bytes that arrived together with the handshake replies.
      conn.onResponseData(Buffer.alloc(0));
      conn.onEventData(Buffer.alloc(0));
      return conn;
    } catch (err) {
      req.destroy();
      ev?.destroy();
      throw err;
    }
  }

  /** True until the connection is closed or lost. */
  get alive(): boolean {
    return this.state === 'open';
  }

  /** Why the connection was lost (undefined while open or after `close()`). */
  get lostReason(): CsError | undefined {
    return this.lostError;
  }

  /** File descriptor of the event channel socket (-1 if unknown). */
  eventFd(): number {
    return this.ev.destroyed ? -1 : this.ev.fd;
  }

  /** Stop reading dispatch messages (backpressure: the daemon queues them). */
  pauseEvents(): void {
    if (this.state === 'open') this.ev.pause();
  }

  /** Resume reading dispatch messages. */
  resumeEvents(): void {
    if (this.state === 'open') this.ev.resume();
  }

  /**
   * Send one request frame; resolves with its response frame. Rejects with CS_ERR_LIBRARY
   * when the connection is (or gets) lost, CS_ERR_BAD_HANDLE after `close()`, CS_ERR_TOO_BIG
   * for a frame above the negotiated size.
   */
  request(frame: Buffer): Promise<Buffer> {
    if (this.state === 'closed') return Promise.reject(new CsError(CsErrorCode.CS_ERR_BAD_HANDLE));
    if (this.state === 'lost') return Promise.reject(new CsError(LIBRARY, this.lostError?.message));
    if (frame.length > this.maxMsgSize) {
      return Promise.reject(
        new CsError(
          CsErrorCode.CS_ERR_TOO_BIG,
          `request of ${frame.length} bytes exceeds ${this.maxMsgSize}`,
        ),
      );
    }
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.write(frame, undefined);
    });
  }

  /**
   * Write a request that gets no reply (cpg's MCAST): `head`, then `body` if given (dropped
   * unless the connection is open). The caller checks the size; backlog: `requestBacklogBytes`.
   */
  post(head: Buffer, body?: Buffer): void {
    if (this.state === 'open') this.write(head, body);
  }

  /** Bytes of requests waiting in Node's buffer (the socket had no room). */
  get requestBacklogBytes(): number {
    return this.req.writableLength;
  }

  /**
   * With the addon, the first request of an event-loop turn leaves at once (one send(2)); the
   * later ones of the turn (without the addon: all of them) are gathered into one write,
   * flushed at the end of the tick. A sender that awaits each send in a loop stays in one tick
   * until it has to wait, so its requests reach the daemon in large writes (a send(2) each
   * woke the daemon per message: 64-byte throughput fell by a fifth).
   *
   * The turn is the addon's counter, read from memory: scheduling the flush of a lone request
   * (process.nextTick) measured 25-30 µs at 100 requests/s, a third of the send path, and a
   * microtask ends too early (each awaited send would leave alone).
   */
  private write(head: Buffer, body: Buffer | undefined): void {
    const { native, loopTurn } = this;
    if (native && loopTurn && !this.corked) {
      const turn = loopTurn[0]!;
      if (turn !== this.directTurn) {
        this.directTurn = turn;
        if (body) writeDirectPair(native, this.reqFd, this.req, head, body);
        else writeDirect(native, this.reqFd, this.req, head);
        return;
      }
    }
    if (!this.corked) {
      this.corked = true;
      this.req.cork();
      process.nextTick(uncorkRequests, this);
    }
    this.req.write(head);
    if (body) this.req.write(body);
  }

  /** @internal the end of a tick that gathered requests: write them. */
  uncorkRequests(): void {
    if (!this.corked) return;
    this.corked = false;
    this.req.uncork();
  }

  /** Close both channels. Pending requests fail with CS_ERR_BAD_HANDLE. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.failPending(new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, 'handle finalized'));
    if (!wasOpen) return;
    const req = this.req;
    const reqClosed = req.destroyed
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          req.once('close', () => resolve());
          req.end(() => req.destroy());
        });
    await Promise.all([reqClosed, this.ev.close()]);
  }

  /** `lent`: the chunk's memory is reused after this call (replies are handed on later: copies). */
  private onResponseData(chunk: Buffer, lent = false): void {
    if (this.state !== 'open') return;
    const err = this.reqAsm.push(chunk, (frame) => {
      const p = this.pending.shift();
      if (!p) {
        this.lose(`unexpected response (id ${readInt32LE(frame, 0)}) with no request pending`);
        return false;
      }
      this.ready.push([p, lent && frame.buffer === chunk.buffer ? Buffer.from(frame) : frame]);
      return true;
    });
    if (lent) this.reqAsm.ownPending();
    if (err) this.lose(`malformed response: ${err.message}`);
    if (this.ready.length > 0 && !this.flushScheduled) {
      // With the addon the event channel is read here and the replies resolved now: their
      // callers resume at the end of this callback. The setImmediate batch was a second entry
      // into JavaScript per reply (CheckImmediate, processImmediate, an Immediate object).
      if (this.state === 'open' && this.ev.readPending()) this.flushReady();
      else {
        this.flushScheduled = true;
        setImmediate(() => this.flushReady());
      }
    }
  }

  private flushReady(): void {
    this.flushScheduled = false;
    const batch = this.ready;
    this.ready = [];
    for (const [p, frame] of batch) p.resolve(frame);
  }

  /** `lent`: the chunk's memory is reused after this call (frames in it are handed on as copies). */
  private onEventData(chunk: Buffer, lent = false): void {
    if (this.state !== 'open') return;
    if (
      lent &&
      this.evAsm.pendingBytes === 0 &&
      chunk.length >= 12 &&
      readInt32LE(chunk, 8) === chunk.length
    ) {
      // one whole frame (the usual read at low rates): its one copy is made here and handed on
      // as it is, not a view of the chunk copied again per frame
      chunk = Buffer.from(chunk);
      lent = false;
    }
    this.lentMemory = lent ? chunk.buffer : undefined;
    const err = this.evAsm.push(chunk, this.onEventFrame);
    this.lentMemory = undefined;
    if (lent) this.evAsm.ownPending();
    if (err) this.lose(`malformed dispatch message: ${err.message}`);
  }

  /** The memory of the chunk being cut into dispatch frames, while it is lent (see onEventData). */
  private lentMemory: ArrayBufferLike | undefined;

  /** One dispatch frame (one bound function, not a closure per read). */
  private readonly onEventFrame = (frame: Buffer): boolean => {
    const level = decodeFlowControl(frame);
    if (level !== undefined) {
      this.flowControlLevel = level;
      this.onFlowControl?.(level);
    } else this.onEvent?.(frame.buffer === this.lentMemory ? Buffer.from(frame) : frame);
    return this.state === 'open';
  };

  private failPending(err: CsError): void {
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  private lose(reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'lost';
    this.lostError = new CsError(LIBRARY, reason);
    this.req.destroy();
    this.ev.destroy();
    this.failPending(this.lostError);
    this.onLost?.(this.lostError);
  }
}
