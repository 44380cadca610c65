/**
 * A libqb-compatible IPC transport for the IpcServer core, so that unmodified corosync client
 * libraries (libcmap, libcpg, libquorum, libvotequorum, libcfg over libqb 2.x) talk to our
 * daemon. Spec: libqb-ipc.md.
 *
 * Endpoints: one abstract unix stream socket per service, "\0<service>" padded to the whole
 * sun_path (created and accepted on by the addon, src/ipc/native-listener.ts). Per client:
 *
 * 1. Setup: the client sends the 24-byte connection request (setup.ts). We take its
 *    credentials with SO_PEERCRED, authorise them (uid/gid 0 or the cmap uidgid keys, via
 *    the `authorize` option), ask the core to open a connection (admission, service init),
 *    and create the transport objects, then always answer with the 12328-byte response.
 * 2. SHM (connection_type 1, the default): a private directory
 *    `/dev/shm/qb-<our pid>-<client pid>-<fd>-XXXXXX` (mode 0770, owned by the client) holds
 *    three rings (request, response, event), each a header and a data file owned by the
 *    client. The client commits a request chunk, posts the request semaphore and writes one
 *    byte on the setup socket; we drain the ring on every readable event. Responses are
 *    committed to the response ring (its semaphore wakes the client); events to the event
 *    ring followed by one byte on the setup socket (what the client polls). Flow control is
 *    the request ring's user word.
 * 3. SOCKET (connection_type 0, `system.qb_ipc_type: socket`): in the same kind of directory a
 *    24-byte control file (three {sent, flow_control} records; we only write the request
 *    record's flow_control, with pwrite: the client's mapping sees it through the page cache),
 *    and two abstract datagram sockets of ours, `@<dir>/qb-<svc>-request` (requests in;
 *    responses out, connected on first send to the client's `…-response`) and
 *    `…-event-tx` (events, connected on first send to the client's `…-event`). A full peer
 *    queue (EAGAIN) or a client socket not bound yet is retried on a short timer. As with
 *    corosync in this mode, any process of the network namespace can send datagrams to the
 *    request socket until the first response connects it (we do not check sender
 *    credentials): one reason SHM is the default.
 * 4. Disconnect: EOF on the setup socket (or an empty / DISCONNECT request). We drop our
 *    references, close our sockets and remove the directory.
 *
 * Our directories carry a marker file so that a start-up sweep can remove the ones a dead
 * daemon of ours left behind (and never anybody else's).
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import {
  chmodSync,
  chownSync,
  closeSync,
  fchownSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { constants } from 'node:os';
import { randomBytes } from '../../common/random.js';
import { CsErrorCode } from '../../common/errors.js';
import { REQUEST_HEADER_SIZE } from '../frame.js';
import { decodeFlowControl, IPC_MIN_MSG_SIZE } from '../handshake.js';
import type { IpcLink, IpcServer, IpcServerConnection } from '../server.js';
import { NativeListener, splitAccepted } from '../native-listener.js';
import { writeDirect } from '../direct-write.js';
import { POLL_READABLE, type NativePoller, type QbNative } from './native.js';
import {
  CONNECTION_REQUEST_SIZE,
  QB_IPC_MSG_DISCONNECT,
  QbIpcType,
  csErrorToNegErrno,
  decodeConnectionRequest,
  encodeConnectionResponse,
  grantMaxMsgSize,
} from './setup.js';
import { ShmRing } from './shm.js';
import { readBigUInt64LE, readInt32LE, writeInt32LE } from '../../common/bytes.js';

/** Name of the marker file in the per-connection directories we create. */
export const OWNER_MARKER = 'corosync-ts.owner';
/** Requests handled per turn of the event loop before yielding. */
const DRAIN_BATCH = 64;
/** Retry delays while a client makes no room (ring or datagram queue full): 5 ms doubling to 200 ms. */
const RETRY_MIN_MS = 5;
const RETRY_MAX_MS = 200;
const ONE_BYTE = Buffer.from([1]);
/** The setup sockets' shared read buffer: the connection request, then one byte per request. */
const SETUP_READ_BYTES = 16 * 1024;

export interface LibqbTransportOptions {
  native: QbNative;
  /** Whether a client with these credentials may connect (corosync's uidgid rules). */
  authorize: (uid: number, gid: number) => boolean;
  /** Transport the server chooses for its clients (corosync: system.qb_ipc_type). Default shm. */
  type?: 'shm' | 'socket';
  /** Where the connection directories go (default /dev/shm). */
  shmDir?: string;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A retry timer with back-off for output that waits for the client; progress resets the delay. */
class Retry {
  private timer: NodeJS.Timeout | undefined;
  private delay = RETRY_MIN_MS;

  /** After a flush: arm the timer if output still waits. Returns true when a new timer was armed. */
  after(progress: boolean, pending: boolean, fn: () => void): boolean {
    if (progress || !pending) this.delay = RETRY_MIN_MS;
    if (!pending || this.timer) return false;
    const d = this.delay;
    this.delay = Math.min(this.delay * 2, RETRY_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, d);
    this.timer.unref();
    return true;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Hand one received request chunk or datagram to the connection: libqb's hang-up (an empty
 * chunk or id -3) closes it, a malformed one is refused, a good one is delivered. Returns true
 * when a request was delivered (the caller then flushes what it produced).
 */
function passRequest(conn: IpcServerConnection, chunk: Buffer): boolean {
  const id = chunk.length >= 4 ? readInt32LE(chunk, 0) : undefined;
  if (chunk.length === 0 || (chunk.length >= REQUEST_HEADER_SIZE && id === QB_IPC_MSG_DISCONNECT)) {
    conn.close('client requested disconnect');
    return false;
  }
  if (chunk.length < REQUEST_HEADER_SIZE) {
    conn.invalid(`request of ${chunk.length} bytes`);
    return false;
  }
  const size = readInt32LE(chunk, 8);
  if (size < REQUEST_HEADER_SIZE || size > chunk.length) {
    conn.invalid(`request header size ${size} in ${chunk.length} bytes`);
    return false;
  }
  conn.deliver(size === chunk.length ? chunk : chunk.subarray(0, size));
  return true;
}

/** The link of either transport, as the LibqbTransport handles it. */
interface LibqbLink extends IpcLink {
  conn: IpcServerConnection | undefined;
  start(): void;
  /** Bytes arrived on the setup socket after the handshake. */
  onSetupData(): void;
}

const EAGAIN = constants.errno.EAGAIN;
const EMSGSIZE = constants.errno.EMSGSIZE;
/** How long a client may take to bind its response/event socket after the setup response. */
const CONNECT_GRACE_MS = 5000;

/**
 * What the SHM and socket links have in common: the client's connection, the responses and
 * events that wait for room on the client's side with their retry timer, whether requests are
 * read, a batch of requests handled per turn, flow-control frames turned into the level the
 * client reads, and the order of the teardown. Each link says how its requests are opened and
 * received, how its output is written and where the flow-control level goes.
 */
abstract class QueuedLink implements LibqbLink {
  conn: IpcServerConnection | undefined;
  /** Set once the setup response is on its way: event bytes may follow it. */
  protected ready = false;
  protected reading = true;
  protected destroyed = false;
  private drainScheduled = false;
  private readonly retry = new Retry();
  protected readonly responses: Buffer[] = [];
  protected readonly events: Array<{ frame: Buffer; flushed: () => void }> = [];

  constructor(
    readonly sock: Socket,
    readonly dir: string,
    private readonly onDestroy: (link: LibqbLink) => void,
  ) {}

  abstract onSetupData(): void;

  /** Start taking requests (called once, when the setup response is written). */
  protected abstract openRequests(): void;

  /**
   * The next request chunk, or undefined when there is none for now or the link failed (the
   * failure already reported to `conn` or the link torn down).
   */
  protected abstract receive(conn: IpcServerConnection): Buffer | undefined;

  /** Write what waits in `responses`, then `events`, in order; then `retryLater`. */
  protected abstract flush(): void;

  /** Make `level` the flow-control level the client reads (may throw: the link then fails). */
  protected abstract publishFlowControl(level: number): void;

  /** Close this transport's own descriptors and mappings (in `destroy`, before the directory goes). */
  protected abstract closeChannels(): void;

  protected fail(reason: string): void {
    if (this.conn && !this.conn.closed) this.conn.close(reason, 'warn');
    else this.destroy();
  }

  /** The setup response is written: flush what the service queued, then serve requests. */
  start(): void {
    this.ready = true;
    this.openRequests();
    this.flush();
    this.conn?.eventChannelReady();
    this.scheduleDrain();
  }

  writeResponse(frame: Buffer): void {
    if (this.destroyed) return;
    this.responses.push(frame);
    this.flush();
  }

  writeEvent(frame: Buffer, flushed: () => void): boolean {
    if (this.destroyed) return true;
    const level = decodeFlowControl(frame);
    if (level !== undefined) {
      try {
        this.publishFlowControl(level);
      } catch (err) {
        this.fail(`flow control: ${errMessage(err)}`);
      }
      flushed();
      return true;
    }
    this.events.push({ frame, flushed });
    this.flush();
    return true;
  }

  /** The end of a flush that wrote `sent` frames: arm the retry timer while output still waits. */
  protected retryLater(sent: number): void {
    if (this.destroyed) return;
    const pending = this.responses.length > 0 || this.events.length > 0;
    if (this.retry.after(sent > 0, pending, () => this.flush()) && this.conn) this.conn.stats.sendRetries++;
  }

  setReading(on: boolean): void {
    this.reading = on;
    if (on) this.scheduleDrain();
  }

  protected scheduleDrain(): void {
    if (this.drainScheduled || this.destroyed) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /** Handle the requests that arrived, a batch per turn. */
  protected drain(): void {
    for (let n = 0; n < DRAIN_BATCH; n++) {
      const conn = this.conn;
      if (!conn || conn.closed || this.destroyed || !this.reading || !this.ready) return;
      const chunk = this.receive(conn);
      if (chunk === undefined || !passRequest(conn, chunk)) return;
      this.flush();
    }
    this.scheduleDrain();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.retry.cancel();
    this.responses.length = 0;
    this.events.length = 0;
    this.closeChannels();
    removeDir(this.dir);
    if (!this.sock.destroyed) this.sock.destroy();
    this.onDestroy(this);
  }
}

/** One SHM connection: the three rings, the setup socket and the queues that wait for room. */
class ShmLink extends QueuedLink {
  constructor(
    sock: Socket,
    dir: string,
    readonly request: ShmRing,
    readonly response: ShmRing,
    readonly event: ShmRing,
    onDestroy: (link: LibqbLink) => void,
    /** The addon and `sock`'s descriptor: event notifications go out with one send(2). */
    private readonly native: QbNative,
    private readonly fd: number,
  ) {
    super(sock, dir, onDestroy);
  }

  protected openRequests(): void {
    // nothing to open: the client announces its requests on the setup socket (onSetupData)
  }

  protected publishFlowControl(level: number): void {
    // libqb keeps the level in the request ring's user word; the client checks it before
    // every send (1 blocks everybody, 2 only clients that did not raise their limit)
    this.request.ring.setUserWord(level);
  }

  /** Write what waits into the response and event rings, in order; retry later when full. */
  protected flush(): void {
    if (this.destroyed || !this.ready) return;
    let sent = 0;
    try {
      while (this.responses.length > 0) {
        if (!this.response.ring.write(this.responses[0]!)) break;
        this.responses.shift();
        sent++;
      }
      while (this.events.length > 0) {
        const e = this.events[0]!;
        if (!this.event.ring.write(e.frame)) break;
        this.events.shift();
        // one send(2), not Node's stream write: that costs tens of microseconds per event
        // at low rates (see direct-write.ts)
        writeDirect(this.native, this.fd, this.sock, ONE_BYTE);
        e.flushed();
        sent++;
      }
    } catch (err) {
      this.fail(`shared memory: ${errMessage(err)}`);
      return;
    }
    this.retryLater(sent);
  }

  onSetupData(): void {
    // a notification: the client committed one request per byte (the semaphore counts them)
    this.drain();
  }

  protected receive(conn: IpcServerConnection): Buffer | undefined {
    let res;
    try {
      res = this.request.ring.read();
    } catch (err) {
      this.fail(`shared memory: ${errMessage(err)}`);
      return undefined;
    }
    if (res.kind === 'empty') return undefined;
    if (res.kind === 'bad') {
      conn.invalid(`request ring: ${res.reason}`);
      return undefined;
    }
    return res.data;
  }

  protected closeChannels(): void {
    for (const r of [this.response, this.event, this.request]) r.close();
  }
}

/**
 * One socket-transport connection: the request datagram socket (also sends the responses,
 * connected on first send to the client's `-response` socket), the event-tx socket (connected
 * on first send to the client's `-event` socket) and the control file (flow control).
 */
class SocketLink extends QueuedLink {
  private poller: NativePoller | undefined;
  private responseConnected = false;
  private eventConnected = false;
  private firstConnectFailure = 0;

  constructor(
    private readonly native: QbNative,
    sock: Socket,
    dir: string,
    private readonly controlFd: number,
    private readonly requestFd: number,
    private readonly eventFd: number,
    /** `<dir>/qb-<service>`: the client's sockets are `<base>-response` and `<base>-event`. */
    private readonly base: string,
    private readonly maxMsgSize: number,
    onDestroy: (link: LibqbLink) => void,
  ) {
    super(sock, dir, onDestroy);
  }

  protected openRequests(): void {
    this.poller = this.native.pollStart(this.requestFd, POLL_READABLE, (status) => {
      // called from libuv: nothing may escape from here
      try {
        if (status < 0) this.fail(`request socket poll error ${status}`);
        else this.drain();
      } catch (err) {
        this.fail(`request handling: ${errMessage(err)}`);
      }
    });
  }

  onSetupData(): void {
    // the socket transport carries nothing on the setup socket after the handshake
  }

  protected publishFlowControl(level: number): void {
    // the request record's flow_control word of the control file (the client maps it)
    const word = Buffer.alloc(4);
    writeInt32LE(word, level, 0);
    writeSync(this.controlFd, word, 0, 4, 4);
  }

  /** Connect on first send; false while the client has not bound its socket yet. */
  private connect(fd: number, name: string): boolean {
    const rc = this.native.dgramConnect(fd, name);
    if (rc === 0) return true;
    this.firstConnectFailure ||= Date.now();
    if (Date.now() - this.firstConnectFailure > CONNECT_GRACE_MS) {
      this.fail(`client socket ${name} not reachable (errno ${-rc})`);
    }
    return false;
  }

  /** Send what waits, in order; retry later on a full queue or an unbound client socket. */
  protected flush(): void {
    if (this.destroyed || !this.ready) return;
    let sent = 0;
    try {
      while (this.responses.length > 0) {
        if (!this.responseConnected) {
          if (!this.connect(this.requestFd, `${this.base}-response`)) break;
          this.responseConnected = true;
        }
        const n = this.native.dgramSend(this.requestFd, this.responses[0]!);
        if (n === -EAGAIN) break;
        if (n < 0) throw new Error(`response send failed (errno ${-n})`);
        this.responses.shift();
        sent++;
      }
      while (this.events.length > 0) {
        if (!this.eventConnected) {
          if (!this.connect(this.eventFd, `${this.base}-event`)) break;
          this.eventConnected = true;
        }
        const e = this.events[0]!;
        const n = this.native.dgramSend(this.eventFd, e.frame);
        if (n === -EAGAIN) break;
        if (n < 0) throw new Error(`event send failed (errno ${-n})`);
        this.events.shift();
        e.flushed();
        sent++;
      }
    } catch (err) {
      this.fail(errMessage(err));
      return;
    }
    this.retryLater(sent);
  }

  override setReading(on: boolean): void {
    if (this.poller && !this.destroyed) this.native.pollSet(this.poller, on ? POLL_READABLE : 0);
    super.setReading(on);
  }

  protected receive(conn: IpcServerConnection): Buffer | undefined {
    const got = this.native.dgramRecv(this.requestFd, this.maxMsgSize);
    if (typeof got !== 'number') return got;
    if (got === -EAGAIN) return undefined;
    if (got === -EMSGSIZE) conn.invalid(`request larger than ${this.maxMsgSize} bytes`);
    else this.fail(`request socket error (errno ${-got})`);
    return undefined;
  }

  protected closeChannels(): void {
    if (this.poller) this.native.pollClose(this.poller);
    this.native.closeFd(this.requestFd);
    this.native.closeFd(this.eventFd);
    try {
      closeSync(this.controlFd);
    } catch {
      // already closed
    }
  }
}

function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // the client may have removed or replaced it; nothing of ours is left to free
  }
}

/** The libqb transport: abstract listeners plus the per-connection state. */
export class LibqbTransport {
  private readonly server: IpcServer;
  private readonly native: QbNative;
  private readonly authorize: (uid: number, gid: number) => boolean;
  private readonly shmDir: string;
  readonly type: 'shm' | 'socket';
  private readonly listeners = new Map<string, NativeListener>();
  private readonly sockets = new Set<Socket>();
  private readonly links = new Set<LibqbLink>();
  private closing = false;
  /** Lent to every setup socket's reader (chunks are used during the call only). */
  private readBuf: Buffer | undefined;

  constructor(server: IpcServer, opts: LibqbTransportOptions) {
    this.server = server;
    this.native = opts.native;
    this.authorize = opts.authorize;
    this.shmDir = opts.shmDir ?? '/dev/shm';
    this.type = opts.type ?? 'shm';
  }

  /** Open connections of this transport. */
  get connectionCount(): number {
    return this.links.size;
  }

  /**
   * Listen on the abstract names of `names`. A name already taken (another corosync in this
   * network namespace) is skipped; one warning lists them all. Returns the names listened on.
   */
  async listenAll(names: string[]): Promise<string[]> {
    const ok: string[] = [];
    const failed: string[] = [];
    for (const name of names) {
      try {
        await this.listen(name);
        ok.push(name);
      } catch (err) {
        failed.push(`@${name} (${errMessage(err)})`);
      }
    }
    if (failed.length > 0) {
      this.server.logger.warn(
        `libqb IPC: cannot listen on ${failed.join(', ')}; corosync's own clients cannot reach those services ` +
          '(is another corosync running in this network namespace?)',
      );
    }
    return ok;
  }

  async listen(name: string): Promise<void> {
    if (this.listeners.has(name)) return;
    const fd = this.native.listenAbstract(name, 128);
    const srv = new NativeListener(
      this.native,
      fd,
      (fd) => this.acceptFd(name, fd),
      (errno) => this.server.logger.error(`libqb IPC ${name}: accept failed: errno ${-errno}`),
    );
    this.listeners.set(name, srv);
    this.server.logger.debug(`libqb IPC ${name}: listening on @${name}`);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const link of [...this.links]) {
      if (link.conn && !link.conn.closed) link.conn.close('server shutting down');
      else link.destroy();
    }
    for (const s of this.sockets) s.destroy();
    for (const srv of this.listeners.values()) srv.close();
    this.listeners.clear();
  }

  /**
   * Remove the connection directories a previous daemon of ours left behind: ours (marker
   * file) whose creating pid is gone. Returns how many were removed.
   */
  sweepStale(): number {
    let removed = 0;
    let names: string[];
    try {
      names = readdirSync(this.shmDir);
    } catch {
      return 0;
    }
    for (const name of names) {
      const m = /^qb-(\d+)-\d+-\d+-[A-Za-z0-9]{6}$/.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid === process.pid || pidAlive(pid)) continue;
      const dir = `${this.shmDir}/${name}`;
      let owner: string;
      try {
        owner = readFileSync(`${dir}/${OWNER_MARKER}`, 'utf8').trim();
      } catch {
        continue; // not ours (libqb's own clients clean up after a dead corosync)
      }
      if (owner !== String(pid)) continue;
      removeDir(dir);
      removed++;
    }
    if (removed > 0) this.server.logger.info(`libqb IPC: removed ${removed} stale connection directories`);
    return removed;
  }

  /**
   * An accepted setup socket, read through the addon (`splitAccepted`): a C client writes one
   * notification byte per request, and Node's stream read of each cost a 64 KiB allocation, its
   * shrinking and the stream's events.
   */
  private acceptFd(service: string, fd: number): void {
    if (this.closing) {
      this.native.closeFd(fd);
      return;
    }
    this.readBuf ??= Buffer.allocUnsafeSlow(SETUP_READ_BYTES);
    const split = splitAccepted(
      this.native,
      fd,
      this.readBuf,
      (chunk) => input(chunk),
      () => input(undefined),
    );
    if (typeof split === 'string') {
      this.server.logger.error(`libqb IPC ${service}: cannot use an accepted connection: ${split}`);
      return;
    }
    const input = this.accept(service, split.sock, fd, split.wfd);
  }

  /**
   * Serve one setup socket: `sock` writes (descriptor `wfd`), `fd` is read by the caller, whose
   * chunks (lent) and end (undefined) go to the returned function.
   */
  private accept(
    service: string,
    sock: Socket,
    fd: number,
    wfd: number,
  ): (chunk: Buffer | undefined) => void {
    const log = this.server.logger;
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    let cred: [number, number, number];
    try {
      cred = this.native.peerCred(fd);
    } catch (err) {
      log.warn(`libqb IPC ${service}: cannot read client credentials: ${errMessage(err)}`);
      sock.destroy();
      return () => undefined;
    }
    const chunks: Buffer[] = [];
    let got = 0;
    let link: LibqbLink | undefined;
    const timer = setTimeout(() => {
      log.warn(`libqb IPC ${service}: pid ${cred[0]} sent no connection request in time; closing`);
      sock.destroy();
    }, this.server.limits.setupTimeoutMs);
    timer.unref();
    let refused = false;
    const onData = (chunk: Buffer): void => {
      if (link) {
        link.onSetupData();
        return;
      }
      if (refused) return;
      chunks.push(Buffer.from(chunk)); // lent by the reader
      got += chunk.length;
      if (got < CONNECTION_REQUEST_SIZE) return;
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      chunks.length = 0;
      const req = decodeConnectionRequest(all.subarray(0, CONNECTION_REQUEST_SIZE));
      if (!req.ok) {
        log.warn(`libqb IPC ${service}: ${req.reason} from pid ${cred[0]}; closing`);
        refused = true;
        sock.destroy();
        return;
      }
      link = this.setup(service, sock, wfd, cred, req.value.maxMsgSize);
      if (!link) {
        refused = true;
        return;
      }
      // bytes that came with the request are notifications too
      if (all.length > CONNECTION_REQUEST_SIZE) link.onSetupData();
    };
    const lost = (): void => {
      clearTimeout(timer);
      const l = link;
      if (!l) {
        sock.destroy();
        return;
      }
      if (l.conn && !l.conn.closed) l.conn.close('client disconnected');
      else l.destroy();
    };
    sock.on('close', lost);
    return (chunk) => {
      if (chunk) onData(chunk);
      else lost();
    };
  }

  /** Authorise, open the core connection and its transport objects, and answer. Undefined on refusal. */
  private setup(
    service: string,
    sock: Socket,
    fd: number,
    cred: [number, number, number],
    wanted: number,
  ): LibqbLink | undefined {
    const log = this.server.logger;
    const [pid, uid, gid] = cred;
    const refuse = (error: number, why: string): undefined => {
      log.debug(`libqb IPC ${service}: refused pid ${pid} (uid ${uid}, gid ${gid}): ${why}`);
      sock.end(
        encodeConnectionResponse({
          error,
          type: QbIpcType.SHM,
          maxMsgSize: 0,
          cookie: 0n,
          request: '',
          response: '',
          event: '',
        }),
      );
      return undefined;
    };
    if (this.closing) return refuse(csErrorToNegErrno(CsErrorCode.CS_ERR_TRY_AGAIN), 'shutting down');
    let allowed: boolean;
    try {
      allowed = this.authorize(uid, gid);
    } catch (err) {
      log.error(`libqb IPC: authorisation check failed: ${errMessage(err)}`);
      allowed = false;
    }
    if (!allowed) {
      log.error(`libqb IPC ${service}: denied connection attempt from ${uid}:${gid}`);
      return refuse(-constants.errno.EACCES, 'credentials');
    }
    const granted = grantMaxMsgSize(wanted, IPC_MIN_MSG_SIZE, this.server.limits.maxMsgSize);
    const result = this.server.openConnection(service, pid, granted);
    if (typeof result === 'number')
      return refuse(csErrorToNegErrno(result), `admission (cs_error ${result})`);
    const conn = result;

    let dir = '';
    const cleanups: Array<() => void> = [];
    let link: LibqbLink;
    let names: { request: string; response: string; event: string };
    try {
      dir = mkdtempSync(`${this.shmDir}/qb-${process.pid}-${pid}-${fd}-`);
      chmodSync(dir, 0o770);
      writeFileSync(`${dir}/${OWNER_MARKER}`, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
      try {
        chownSync(dir, uid, gid);
      } catch {
        // not root: the client runs as us anyway
      }
      const base = `${dir}/qb`;
      const onDestroy = (l: LibqbLink): void => {
        this.links.delete(l);
      };
      if (this.type === 'shm') {
        const rings: ShmRing[] = [];
        for (const kind of ['request', 'response', 'event']) {
          const ring = ShmRing.create(this.native, `${base}-${kind}-${service}`, granted, uid, gid);
          rings.push(ring);
          cleanups.push(() => ring.close());
        }
        link = new ShmLink(sock, dir, rings[0]!, rings[1]!, rings[2]!, onDestroy, this.native, fd);
        names = {
          request: `${base}-request-${service}`,
          response: `${base}-response-${service}`,
          event: `${base}-event-${service}`,
        };
      } else {
        const control = `${base}-control-${service}`;
        const controlFd = openSync(control, 'wx+', 0o600);
        cleanups.push(() => closeSync(controlFd));
        // three {i32 sent, i32 flow_control} records: request, response, event
        writeSync(controlFd, Buffer.alloc(24), 0, 24, 0);
        try {
          fchownSync(controlFd, uid, gid);
        } catch {
          // not root
        }
        const requestFd = this.native.dgramBind(`${base}-${service}-request`, granted);
        cleanups.push(() => this.native.closeFd(requestFd));
        const eventFd = this.native.dgramBind(`${base}-${service}-event-tx`, granted);
        cleanups.push(() => this.native.closeFd(eventFd));
        link = new SocketLink(
          this.native,
          sock,
          dir,
          controlFd,
          requestFd,
          eventFd,
          `${base}-${service}`,
          granted,
          onDestroy,
        );
        names = { request: control, response: `${base}-${service}`, event: '' };
      }
    } catch (err) {
      for (const c of cleanups) {
        try {
          c();
        } catch {
          // best effort
        }
      }
      if (dir) removeDir(dir);
      const code = (err as NodeJS.ErrnoException).code;
      const errno =
        code && code in constants.errno ? constants.errno[code as keyof typeof constants.errno] : 0;
      log.error(
        `libqb IPC ${service}: cannot create the ${this.type} objects of pid ${pid}: ${errMessage(err)}`,
      );
      conn.close(`${this.type} setup failed`);
      return refuse(errno > 0 ? -errno : -constants.errno.ENOMEM, 'transport setup');
    }
    link.conn = conn;
    this.links.add(link);
    conn.attachLink(link);
    sock.write(
      encodeConnectionResponse({
        error: 0,
        type: this.type === 'shm' ? QbIpcType.SHM : QbIpcType.SOCKET,
        maxMsgSize: granted,
        cookie: readBigUInt64LE(randomBytes(8), 0) | 1n,
        ...names,
      }),
    );
    link.start();
    log.debug(`libqb IPC ${conn.description}: ${this.type} connection in ${dir}`);
    return link;
  }
}
