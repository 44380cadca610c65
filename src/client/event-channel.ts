/**
 * The byte sources under a client connection's channels: Node's net.Socket (both channels
 * without the addon), or, when the addon is built, the sockets read directly through it (the
 * request channel then writes through a net.Socket on a second descriptor).
 *
 * Why a second way: a dispatch message at low rates (the CPG latency bench: one every 10 ms)
 * wakes the client from idle, where Node's stream read path runs cold (measured 0.4-0.5 ms from
 * the daemon's write to our 'data' handler on 2 CPUs; see ../ipc/native-reader.ts). The frames
 * the native channel yields lie in its reused buffer and are copied out (a dispatch frame is kept
 * by the queue and the callback).
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { CsError, CsErrorCode } from '../common/errors.js';
import { errnoName } from '../common/errno.js';
import type { QbNative } from '../ipc/libqb/native.js';
import { NativeStreamReader } from '../ipc/native-reader.js';
import { writeSocketOnDup } from '../ipc/native-listener.js';
import { socketFd } from '../ipc/direct-write.js';

/** What a client connection needs from its event channel. */
export interface EventChannel {
  /** The socket's descriptor (-1 if unknown). */
  readonly fd: number;
  readonly destroyed: boolean;
  /**
   * Deliver received bytes to `onData` (reading resumes; a later call replaces the handlers);
   * `onEnd` once when the stream ends or fails. `lent` chunks are valid only during the call (the buffer is reused).
   */
  start(onData: (chunk: Buffer, lent: boolean) => void, onEnd: (reason: string) => void): void;
  /** Write a handshake frame (small: it never waits for room). */
  write(frame: Buffer): void;
  pause(): void;
  resume(): void;
  /**
   * Hand what the socket holds now to the data handler before returning (nothing while
   * paused). false: this channel cannot read outside Node's poll phase (the net.Socket one).
   */
  readPending(): boolean;
  /** Close at once. */
  destroy(): void;
  /** Close after what is queued for writing (resolves when closed). */
  close(): Promise<void>;
}

/** A request channel: also a net.Socket to write requests with (Node queues what send(2) cannot take). */
export interface RequestChannel extends EventChannel {
  readonly socket: Socket;
}

/** A channel on a net.Socket: either channel when the addon is not built or turned off. */
export class SocketChannel implements RequestChannel {
  readonly fd: number;
  private onData: ((chunk: Buffer, lent: boolean) => void) | undefined;
  private onEnd: ((reason: string) => void) | undefined;

  constructor(private readonly sock: Socket) {
    this.fd = socketFd(sock);
    sock.pause();
    sock.on('data', (chunk: Buffer) => this.onData?.(chunk, false));
    sock.on('error', (e) => this.onEnd?.(`connection error: ${e.message}`));
    sock.on('close', () => this.onEnd?.('the daemon closed the connection'));
    sock.on('end', () => this.onEnd?.('the daemon closed the connection'));
  }

  get destroyed(): boolean {
    return this.sock.destroyed;
  }

  /** The socket (the request channel writes through it). */
  get socket(): Socket {
    return this.sock;
  }

  start(onData: (chunk: Buffer, lent: boolean) => void, onEnd: (reason: string) => void): void {
    this.onData = onData;
    this.onEnd = onEnd;
    this.sock.resume();
  }

  write(frame: Buffer): void {
    this.sock.write(frame);
  }

  pause(): void {
    this.sock.pause();
  }

  resume(): void {
    this.sock.resume();
  }

  readPending(): boolean {
    return false;
  }

  destroy(): void {
    this.sock.destroy();
  }

  close(): Promise<void> {
    const s = this.sock;
    if (s.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end(() => s.destroy());
    });
  }
}

/** One read takes what a burst of dispatch messages left in the socket, like libuv's 64 KiB. */
const READ_BYTES = 64 * 1024;
const EPIPE = constants.errno.EPIPE;

/** A unix stream socket connected to `path` by the addon; throws CS_ERR_LIBRARY when it cannot be reached. */
function connectStream(native: QbNative, path: string): number {
  const fd = native.streamConnect(path);
  if (fd < 0) throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `cannot connect to ${path}: ${errnoName(fd)}`);
  return fd;
}

/** The event channel read through the addon (see the file comment). */
export class NativeEventChannel implements EventChannel {
  private readonly native: QbNative;
  protected readonly reader: NativeStreamReader;
  private onData: ((chunk: Buffer, lent: boolean) => void) | undefined;
  private onEnd: ((reason: string) => void) | undefined;
  private started = false;

  /** Connect to a unix stream endpoint; throws CS_ERR_LIBRARY when it cannot be reached. */
  static connect(native: QbNative, path: string): NativeEventChannel {
    return new NativeEventChannel(native, connectStream(native, path));
  }

  protected constructor(native: QbNative, fd: number) {
    this.native = native;
    // its own memory: frames lying in it are recognised by their buffer
    const buf = Buffer.allocUnsafeSlow(READ_BYTES);
    this.reader = new NativeStreamReader(
      native,
      fd,
      buf,
      (chunk) => this.onData?.(chunk, true),
      (errno) => this.ended(errno),
      true,
    );
  }

  get fd(): number {
    return this.reader.fd;
  }

  get destroyed(): boolean {
    return this.reader.closed;
  }

  start(onData: (chunk: Buffer, lent: boolean) => void, onEnd: (reason: string) => void): void {
    this.onData = onData;
    this.onEnd = onEnd;
    this.started = true;
    this.reader.resume();
  }

  write(frame: Buffer): void {
    const n = this.native.dgramSend(this.fd, frame);
    if (n !== frame.length) {
      const why = n < 0 ? errnoName(n) : `${n} of ${frame.length} bytes written`;
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `event channel write failed: ${why}`);
    }
  }

  pause(): void {
    this.reader.pause();
  }

  resume(): void {
    if (this.started) this.reader.resume();
  }

  readPending(): boolean {
    if (this.started) this.reader.readNow();
    return true;
  }

  destroy(): void {
    this.reader.close();
  }

  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  protected ended(errno: number): void {
    const onEnd = this.onEnd;
    const reason = errno === 0 ? 'the daemon closed the connection' : `connection error: ${errnoName(errno)}`;
    // after the poll phase, as Node emits a socket's 'end': a reply the daemon wrote on the
    // request socket before closing both is read in this same phase and must not be failed
    if (onEnd) setImmediate(onEnd, reason);
  }
}

/**
 * The request channel read through the addon: replies come one per wake-up (a cmap get loop,
 * any awaited call) and Node's stream read cost a 64 KiB allocation, its shrinking and the
 * stream's events on each. Requests are written by a net.Socket on a second descriptor of the
 * same socket (direct writes first, src/ipc/direct-write.ts; Node queues what does not fit).
 */
export class NativeRequestChannel extends NativeEventChannel implements RequestChannel {
  readonly socket: Socket;

  /** Connect to a unix stream endpoint; throws CS_ERR_LIBRARY when it cannot be reached or used. */
  static connectRequest(native: QbNative, path: string): NativeRequestChannel {
    const fd = connectStream(native, path);
    const w = writeSocketOnDup(native, fd);
    if (typeof w === 'string')
      throw new CsError(CsErrorCode.CS_ERR_LIBRARY, `cannot use the connection to ${path}: ${w}`);
    return new NativeRequestChannel(native, fd, w.sock);
  }

  private constructor(native: QbNative, fd: number, sock: Socket) {
    super(native, fd);
    this.socket = sock;
    sock.on('error', () => undefined); // a failed write closes the socket: reported below
    sock.on('close', () => {
      if (this.reader.closed) return;
      this.reader.close();
      this.ended(-EPIPE); // our side of the socket is gone
    });
  }

  override destroy(): void {
    this.reader.close();
    this.socket.destroy();
  }
}
