/**
 * Our own IPC transport: unix stream sockets in the run directory, one endpoint per
 * service, two connections per client handle (request/response + event). The handshake
 * bytes are documented in handshake.ts.
 *
 * This is the only IPC file with sockets. It cuts streams into frames (frame.ts), runs the
 * handshake, and hands request frames to the transport-independent core (server.ts).
 *
 * With the addon, an accepted socket is read through it (native-reader.ts: a poll watcher and
 * recv(2) into one buffer shared by all connections) and written by a net.Socket on a second
 * descriptor of it (libuv watches a descriptor with one watcher only); without it, Node's
 * net.Server and sockets do both.
 */
import { Buffer } from 'node:buffer';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, unlinkSync } from 'node:fs';
import { serviceSocketPath } from '../common/rundir.js';
import { CsErrorCode } from '../common/errors.js';
import { FrameReassembler, REQUEST_HEADER_SIZE } from './frame.js';
import {
  EVENT_ATTACH_REQUEST_SIZE,
  IPC_EVENT_ATTACH_ID,
  IPC_MIN_MSG_SIZE,
  IPC_SETUP_ID,
  SETUP_REQUEST_SIZE,
  decodeEventAttachRequest,
  decodeSetupRequest,
  encodeEventAttachResponse,
  encodeSetupResponse,
} from './handshake.js';
import type { IpcLink, IpcServer, IpcServerConnection } from './server.js';
import { NativeListener, splitAccepted } from './native-listener.js';
import { NativeStreamReader } from './native-reader.js';
import { SOL_SOCKET, intOption, loadQbNative, type QbNative } from './libqb/native.js';
import { writeDirect } from './direct-write.js';
import { errnoException, errnoName } from '../common/errno.js';
import { randomBytes } from '../common/random.js';
import { runAfterCurrent } from '../common/microtask.js';
import { readBigUInt64LE, readInt32LE } from '../common/bytes.js';

/** One read of a client socket: what a burst of pipelined requests left, like libuv's 64 KiB. */
const READ_BYTES = 64 * 1024;

/**
 * Send buffer of every accepted connection: as much as corosync's dispatch ring holds (libcpg
 * and friends connect with 1 MiB rings, IPC_DISPATCH_SIZE). With the kernel's default (~208
 * KiB, three 64 KiB CPG messages) a client reading large messages has to be woken for every
 * few of them and falls behind real-time daemons; what it has not read then waits in our
 * event queue. Measured (3 nodes, 64 KiB messages from all nodes): that queue peaked at 84–114
 * MiB per daemon (RSS 165–211 MiB), with 1 MiB at 6–9 MiB (RSS 98–106 MiB), throughput the same.
 */
const EVENT_SOCKET_BUFFER = 1024 * 1024;
const SO_SNDBUF = 7;
/** Past net.core.wmem_max; needs CAP_NET_ADMIN (the daemon runs as root), else SO_SNDBUF. */
const SO_SNDBUFFORCE = 32;

const SOCKET_BUFFER_OPT = intOption(EVENT_SOCKET_BUFFER);

/** Handshake frames are small; anything bigger before setup is garbage. */
const HANDSHAKE_MAX = 64;

function randomCookie(): bigint {
  for (;;) {
    const v = readBigUInt64LE(randomBytes(8), 0);
    if (v !== 0n) return v;
  }
}

/** How an accepted socket is read: Node's stream or the addon's reader. */
interface ByteReader {
  pause(): unknown;
  resume(): unknown;
}

/** An accepted socket: written through `sock` (and `fd` directly), read through `reader`. */
interface Accepted {
  readonly sock: Socket;
  readonly reader: ByteReader;
  readonly fd: number;
}

/** One client connection's two sockets. */
class StreamLink implements IpcLink {
  readonly requests: Socket;
  events: Socket | undefined;
  /** The event socket's reader (the addon's; it is read only for its end). */
  eventReader: NativeStreamReader | undefined;
  conn: IpcServerConnection | undefined;
  private destroyed = false;
  /** Reasons reads of the request socket are paused: held requests, unsent responses. */
  private holdPause = false;
  backlogPause = false;
  /** Replies of the requests of one received chunk, written together at its end. */
  private replies: Buffer[] | undefined;
  /** A dispatch message went out directly in this event-loop turn (later ones are gathered). */
  private sentThisTurn = false;
  eventFd = -1;

  constructor(
    requests: Socket,
    private readonly reader: ByteReader,
    private readonly native: QbNative | undefined,
    private readonly requestFd: number,
  ) {
    this.requests = requests;
  }

  /** Gather the replies written until `endChunk` (the requests of one received chunk). */
  beginChunk(): void {
    this.replies = [];
  }

  /** Write the replies gathered since `beginChunk`, after every dispatch message queued so far. */
  endChunk(): void {
    const replies = this.replies;
    this.replies = undefined;
    if (!replies || replies.length === 0) return;
    this.flushEvents();
    const out = replies.length === 1 ? replies[0]! : Buffer.concat(replies);
    writeDirect(this.native, this.requestFd, this.requests, out);
  }

  setReading(on: boolean): void {
    this.holdPause = !on;
    this.applyPause();
  }

  applyPause(): void {
    if (this.holdPause || this.backlogPause) this.reader.pause();
    else this.reader.resume();
  }

  writeResponse(frame: Buffer): void {
    if (this.replies) {
      this.replies.push(frame);
      return;
    }
    // the events a request caused (and any gathered before them) leave before its reply
    this.flushEvents();
    writeDirect(this.native, this.requestFd, this.requests, frame);
  }

  private flushEvents(): void {
    const ev = this.events;
    if (ev) while (ev.writableCorked > 0) ev.uncork();
  }

  writeEvent(frame: Buffer, flushed: () => void): boolean {
    const ev = this.events;
    if (!ev || ev.destroyed) return false;
    // The first dispatch message of a turn (the I/O or timer callback running now) leaves at
    // once (latency). Deliveries come in bursts (a token brings many datagrams, one recvmmsg
    // batch is one callback): the later events of the turn are gathered into one write,
    // flushed by a microtask when the callback returns. A request's replies flush them first
    // (endChunk, writeResponse), which keeps "event before the reply that caused it".
    // A microtask, not setImmediate: measured at 100 deliveries/s (3 nodes, perf samples
    // between the datagram's recvmmsg and the event's send), setImmediate's Immediate object
    // and loop-reference toggling were 11 % of that span, on every delivery (and not
    // queueMicrotask either: see common/microtask.ts).
    if (!this.sentThisTurn && ev.writableCorked === 0) {
      this.sentThisTurn = true;
      runAfterCurrent(this.endTurnTask);
      if (!writeDirect(this.native, this.eventFd, ev, frame, flushed) && this.conn)
        this.conn.stats.sendRetries++;
      return true;
    }
    if (ev.writableCorked === 0) ev.cork();
    if (!ev.write(frame, flushed) && this.conn) this.conn.stats.sendRetries++;
    return true;
  }

  /** The end of a turn that sent dispatch messages: write what was gathered. */
  private readonly endTurnTask = (): void => {
    this.sentThisTurn = false;
    this.flushEvents();
  };

  destroy(): void {
    if (this.destroyed) return;
    this.endChunk(); // replies gathered before the close still go out
    this.destroyed = true;
    // the addon's readers stop now (their descriptors close; the writers' keep the sockets open)
    if (this.reader instanceof NativeStreamReader) this.reader.close();
    this.eventReader?.close();
    for (const s of [this.requests, this.events]) {
      if (!s || s.destroyed) continue;
      // Flush what is queued (e.g. a final response), then drop the socket.
      s.end(() => s.destroy());
      s.setTimeout(2000, () => s.destroy());
    }
  }
}

/** Unix stream socket transport for an IpcServer. */
export class StreamTransport {
  private readonly server: IpcServer;
  private readonly listeners = new Map<string, { srv: Server | NativeListener; path: string }>();
  /** Connections whose event channel is not attached yet, by cookie. */
  private readonly pending = new Map<bigint, { link: StreamLink; timer: NodeJS.Timeout }>();
  private readonly raw = new Set<Socket>();
  /** Accepted sockets that belong to a connection (request or event channel). */
  private readonly linked = new WeakSet<Socket>();
  /** The addon, for direct writes and reads (undefined without it: Node's sockets only). */
  private readonly native: QbNative | undefined;
  /** The addon's reads of every connection go here (frames in it are copied before use). */
  private readonly readBuf: Buffer | undefined;

  constructor(server: IpcServer) {
    this.server = server;
    const addon = server.useNative ? loadQbNative() : undefined;
    this.native = addon?.ok ? addon.native : undefined;
    // its own memory: frames lying in it are recognised by their buffer
    this.readBuf = this.native ? Buffer.allocUnsafeSlow(READ_BYTES) : undefined;
  }

  async listenAll(names: string[]): Promise<void> {
    mkdirSync(this.server.runDir, { recursive: true, mode: 0o755 });
    for (const name of names) await this.listen(name);
  }

  /** Create the endpoint of one service; a stale socket file is replaced, a live one is an error. */
  async listen(name: string): Promise<void> {
    if (this.listeners.has(name)) return;
    const path = serviceSocketPath(this.server.runDir, name);
    await removeStaleSocket(path);
    const native = this.native;
    let srv: Server | NativeListener;
    if (native) {
      // accepted by the addon: net.Server's listen() would load Node's cluster module
      const fd = native.listenPath(path, 511);
      if (fd < 0) throw errnoException(fd, 'listen', path);
      srv = new NativeListener(
        native,
        fd,
        (fd) => this.acceptNative(name, native, fd),
        (errno) => this.server.logger.error(`IPC ${name}: accept failed: errno ${-errno}`),
      );
    } else {
      const server = createServer({ allowHalfOpen: false }, (sock) => this.accept(name, sock, sock, -1));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.server.logger.error(`IPC ${name}: listener error: ${err.message}`));
      srv = server;
    }
    this.listeners.set(name, { srv, path });
    this.server.logger.debug(`IPC ${name}: listening on ${path}`);
  }

  async close(): Promise<void> {
    for (const { timer, link } of this.pending.values()) {
      clearTimeout(timer);
      link.destroy();
    }
    this.pending.clear();
    const closing: Promise<void>[] = [];
    for (const s of this.raw) {
      if (s.destroyed) continue;
      closing.push(new Promise<void>((resolve) => s.once('close', () => resolve())));
      // Sockets of open connections are already ending (their last writes flush first).
      if (!this.linked.has(s)) s.destroy();
    }
    for (const { srv, path } of this.listeners.values()) {
      if (srv instanceof NativeListener) srv.close();
      else closing.push(new Promise<void>((resolve) => srv.close(() => resolve())));
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
    this.listeners.clear();
    await Promise.all(closing);
  }

  /**
   * A connection accepted by the addon: read through it on descriptor `fd`, written by a
   * net.Socket on a second descriptor.
   */
  private acceptNative(service: string, native: QbNative, fd: number): void {
    if (native.setSockOpt(fd, SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER_OPT) < 0)
      native.setSockOpt(fd, SOL_SOCKET, SO_SNDBUF, SOCKET_BUFFER_OPT); // capped by wmem_max: best effort
    const split = splitAccepted(
      native,
      fd,
      this.readBuf!,
      (chunk) => input(chunk, 0),
      (errno) => input(undefined, errno),
    );
    if (typeof split === 'string') {
      this.server.logger.error(`IPC ${service}: cannot use an accepted connection: ${split}`);
      return;
    }
    const input = this.accept(service, split.sock, split.reader, split.wfd);
  }

  /**
   * Serve one accepted socket. `reader`: the socket itself (Node reads it) or the addon's reader
   * (then the returned function takes its chunks, lent, and its end: errno 0 or negative).
   * `fd`: the socket's descriptor for direct writes (-1: none).
   */
  private accept(
    service: string,
    sock: Socket,
    reader: ByteReader,
    fd: number,
  ): (chunk: Buffer | undefined, errno: number) => void {
    const log = this.server.logger;
    const limits = this.server.limits;
    const accepted: Accepted = { sock, reader, fd };
    this.raw.add(sock);
    const asm = new FrameReassembler({ minSize: REQUEST_HEADER_SIZE, maxSize: HANDSHAKE_MAX });
    let mode: 'handshake' | 'requests' | 'events' | 'done' = 'handshake';
    let link: StreamLink | undefined;
    const timer = setTimeout(() => {
      if (mode === 'handshake') {
        log.warn(
          `IPC ${service}: client did not complete the handshake in ${limits.setupTimeoutMs} ms; closing`,
        );
        sock.destroy();
      }
    }, limits.setupTimeoutMs);
    timer.unref();

    const fail = (reason: string): void => {
      mode = 'done';
      if (link?.conn) link.conn.invalid(reason);
      else {
        log.warn(`IPC ${service}: ${reason}; closing connection`);
        sock.destroy();
      }
    };

    const onFrame = (frame: Buffer): boolean => {
      switch (mode) {
        case 'requests':
          // a frame in the addon's shared read buffer is copied: the core may keep it
          link!.conn!.deliver(lentBuf !== undefined && frame.buffer === lentBuf ? Buffer.from(frame) : frame);
          return !link!.conn!.closed;
        case 'handshake': {
          const id = readInt32LE(frame, 0);
          if (id === IPC_SETUP_ID && frame.length === SETUP_REQUEST_SIZE) {
            clearTimeout(timer);
            link = this.setup(service, accepted, frame);
            if (!link) {
              mode = 'done';
              return false;
            }
            mode = 'requests';
            asm.setMaxSize(link.conn!.maxMsgSize);
            return true;
          }
          if (id === IPC_EVENT_ATTACH_ID && frame.length === EVENT_ATTACH_REQUEST_SIZE) {
            clearTimeout(timer);
            link = this.attach(service, accepted, frame);
            mode = link ? 'events' : 'done';
            return link !== undefined;
          }
          fail(`invalid handshake frame (id ${id}, size ${frame.length})`);
          return false;
        }
        case 'events':
          fail(`unexpected frame (id ${readInt32LE(frame, 0)}, size ${frame.length}) on the event channel`);
          return false;
        default:
          return false;
      }
    };

    let lentBuf: ArrayBufferLike | undefined;
    const onChunk = (chunk: Buffer, lent: boolean): void => {
      if (mode === 'done') return;
      const l = link;
      // The replies to the requests of this chunk go out in one write at its end, after every
      // event queued so far (also those of deliveries earlier in this poll phase).
      const batch = mode === 'requests' && l !== undefined;
      if (batch) l.beginChunk();
      let err: Error | undefined;
      lentBuf = lent ? chunk.buffer : undefined;
      try {
        err = asm.push(chunk, onFrame);
      } finally {
        lentBuf = undefined;
        if (lent) asm.ownPending();
        if (batch) l.endChunk();
      }
      if (batch && !l.conn!.closed && l.requests.writableLength > limits.maxResponseBacklogBytes) {
        l.backlogPause = true;
        l.applyPause();
        l.requests.once('drain', () => {
          l.backlogPause = false;
          l.applyPause();
        });
      }
      if (err && (mode as string) !== 'done') fail(err.message);
    };
    const onEnd = (): void => {
      const err = asm.endOfStream();
      if (err && mode !== 'done') {
        fail(err.message);
        return;
      }
      this.lost(sock, link, 'client disconnected');
    };
    const onError = (message: string): void => this.lost(sock, link, `socket error: ${message}`);
    if (reader === sock) {
      sock.on('data', (chunk: Buffer) => onChunk(chunk, false));
      sock.on('end', onEnd);
    }
    sock.on('error', (e) => onError(e.message));
    sock.on('close', () => {
      clearTimeout(timer);
      this.raw.delete(sock);
      this.lost(sock, link, 'client disconnected');
    });
    return (chunk, errno) => {
      if (chunk) onChunk(chunk, true);
      else if (errno === 0) onEnd();
      else onError(errnoName(errno));
    };
  }

  private lost(sock: Socket, link: StreamLink | undefined, reason: string): void {
    if (!link) {
      sock.destroy();
      return;
    }
    if (link.conn && !link.conn.closed) link.conn.close(reason);
    else link.destroy();
    for (const [cookie, p] of this.pending) {
      if (p.link === link) {
        clearTimeout(p.timer);
        this.pending.delete(cookie);
      }
    }
  }

  private setup(service: string, { sock, reader, fd }: Accepted, frame: Buffer): StreamLink | undefined {
    const req = decodeSetupRequest(frame);
    const limits = this.server.limits;
    const granted = Math.min(Math.max(req.maxMsgSize, IPC_MIN_MSG_SIZE), limits.maxMsgSize);
    const result = this.server.openConnection(service, req.pid, granted);
    if (typeof result === 'number') {
      sock.end(encodeSetupResponse({ error: result, cookie: 0n, maxMsgSize: 0 }));
      return undefined;
    }
    const link = new StreamLink(sock, reader, this.native, fd);
    this.linked.add(sock);
    link.conn = result;
    result.attachLink(link);
    const cookie = randomCookie();
    const timer = setTimeout(() => {
      this.pending.delete(cookie);
      result.close(`event channel not attached within ${limits.setupTimeoutMs} ms`, 'warn');
    }, limits.setupTimeoutMs);
    timer.unref();
    this.pending.set(cookie, { link, timer });
    sock.write(encodeSetupResponse({ error: CsErrorCode.CS_OK, cookie, maxMsgSize: granted }));
    return link;
  }

  private attach(service: string, { sock, reader, fd }: Accepted, frame: Buffer): StreamLink | undefined {
    const cookie = decodeEventAttachRequest(frame);
    const p = this.pending.get(cookie);
    if (!p || p.link.conn?.closed) {
      this.server.logger.warn(`IPC ${service}: event channel request with an unknown cookie; closing`);
      sock.end(encodeEventAttachResponse(CsErrorCode.CS_ERR_BAD_HANDLE));
      return undefined;
    }
    clearTimeout(p.timer);
    this.pending.delete(cookie);
    const link = p.link;
    link.events = sock;
    link.eventFd = fd;
    if (reader instanceof NativeStreamReader) link.eventReader = reader;
    this.linked.add(sock);
    sock.write(encodeEventAttachResponse(CsErrorCode.CS_OK));
    link.conn!.eventChannelReady();
    return link;
  }
}

/** Remove a socket file nobody listens on; refuse to steal a live endpoint. */
async function removeStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    const err = new Error(`IPC endpoint ${path} is in use by another process`) as NodeJS.ErrnoException;
    err.code = 'EADDRINUSE';
    throw err;
  }
  try {
    unlinkSync(path);
  } catch {
    // did not exist
  }
}
