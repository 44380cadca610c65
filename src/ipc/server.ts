/**
 * The IPC server core: service registry, per-connection objects, admission, stats and
 * malformed-request policy. It does not know which transport carried a frame: a transport
 * (today `StreamTransport` in stream-transport.ts, later a libqb one) accepts clients, does
 * its handshake, and hands the core whole request frames through `IpcServerConnection`.
 *
 * Services see only the `IpcConnection` interface (respond, sendEvent, private state, close
 * hooks) and decoded frames; they never touch sockets.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { CsErrorCode } from '../common/errors.js';
import { IPC_MAX_MSG_SIZE, RESPONSE_HEADER_SIZE, allocResponse } from './frame.js';
import { encodeFlowControl } from './handshake.js';
import { StreamTransport } from './stream-transport.js';
import { createIpcConnectionStats, type IpcConnectionStats } from '../cmap/stats.js';
import { readInt32LE } from '../common/bytes.js';

/** The minimal logger the IPC layer writes to (the daemon adapts its logger to it). */
export interface IpcLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * The live counters of one IPC connection, as the stats map publishes them under
 * `stats.ipcs.service<S>.<pid>.<token>.*` (spec cmap.md §5.1). The server mutates the object
 * in place; the stats map reads it when asked. Defined by the stats map (src/cmap/stats.ts).
 */
export type { IpcConnectionStats };

/** What the server needs from the stats map (StatsMap implements it). */
export interface IpcStatsHooks {
  addIpcConnection(stats: IpcConnectionStats): void;
  removeIpcConnection(stats: IpcConnectionStats): void;
  /** A unique `0x…` token for a new connection (optional; the server has its own otherwise). */
  allocIpcToken?(): string;
}

/** A connection as a service sees it: transport-independent. */
export interface IpcConnection {
  /** Unique token of this connection (same as its stats token). */
  readonly token: string;
  /** Client pid as announced at setup. */
  readonly pid: number;
  readonly serviceId: number;
  readonly closed: boolean;
  /** The negotiated largest frame, in either direction. */
  readonly maxMsgSize: number;
  /** Service-private state (the return value of the service's `init`). */
  readonly privateData: unknown;
  /** Send the response to the request being handled. Responses go out in request order. */
  respond(frame: Buffer): void;
  /**
   * Queue a dispatch message on the event channel (order-preserving). When the bounded
   * queue would overflow, the connection is counted as overloaded and closed.
   */
  sendEvent(frame: Buffer): void;
  /** Run `hook` once when the connection closes (after the service's `exit`). */
  addCloseHook(hook: () => void): void;
  /** Close the connection; `reason` is logged. */
  close(reason?: string): void;
}

/** An IPC service (corosync's lib handlers + lib_init_fn/lib_exit_fn). */
export interface IpcServiceDefinition<State = unknown> {
  /** IPC name, also the endpoint name (`cmap` → `<runDir>/cmap.sock`). */
  readonly name: string;
  /** corosync service id (cmap 0, cfg 7, cpg 2, ...): used in stats keys. */
  readonly id: number;
  /**
   * Number of request ids (corosync's lib_engine_count): ids 0..requestCount-1 exist. A
   * well-formed frame with another id gets corosync's answer, a bare response
   * `{id 0, size 24, CS_ERR_INVALID_PARAM}`, and the connection stays open.
   */
  readonly requestCount: number;
  /**
   * Validate the size of a request frame whose id exists. Return a reason to reject it as
   * malformed (the connection is closed and `invalid_request` counted), else undefined.
   */
  checkRequest(frame: Buffer): string | undefined;
  /**
   * Whether lib function `id` is "flow control required" (corosync's lib_engine flag). Such
   * requests are not handled while the connection is flow-controlled: they wait, in order,
   * until the level drops to 0 (see IpcServerConnection.deliver). Default: none.
   */
  flowControlRequired?(id: number): boolean;
  /** lib_init_fn: create the per-connection private state. */
  init(conn: IpcConnection): State;
  /** Handle one valid request; must call `conn.respond` (once) unless the request has no reply. */
  handle(conn: IpcConnection, state: State, frame: Buffer): void;
  /** lib_exit_fn: free what the connection holds (iterators, trackers, ...). */
  exit(conn: IpcConnection, state: State): void;
}

export interface IpcServerOptions {
  /** Directory for the endpoints (see src/common/rundir.ts). */
  runDir: string;
  logger: IpcLogger;
  /** Stats map hooks; connections are registered there while open. */
  stats?: IpcStatsHooks;
  /** Largest frame granted to clients (default and upper bound 1 MiB). */
  maxMsgSize?: number;
  /**
   * Bound of a connection's dispatch queue, in bytes (default 1 GiB). corosync queues the
   * events of a client that does not read in memory without any bound (ipc_glue's outq, freed
   * only when the client reads or goes): a client that is merely slow, or starved of CPU by
   * the real-time daemon, must not lose its connection. The bound only keeps one stuck client
   * from taking all memory.
   */
  maxEventQueueBytes?: number;
  /** Bound of a connection's dispatch queue, in messages (default 2^24). */
  maxEventQueueFrames?: number;
  /** Stop reading a client's requests while this many response bytes are unsent (default 4 MiB). */
  maxResponseBacklogBytes?: number;
  /** A client must finish both handshakes within this time (default 10 s). */
  setupTimeoutMs?: number;
  /**
   * Admission (exec/ipc_glue.c accept rules): return CS_OK to accept or the cs_error_t the
   * client's initialize should fail with (CS_ERR_TRY_AGAIN before the first sync, ...).
   */
  admit?: (info: { service: string; pid: number }) => number;
  /** Called after each request a service handled (the daemon lets totem act on it at once). */
  afterRequest?: () => void;
  /**
   * A request that multicasts through totem (one the service marks flow-control-required, as
   * corosync's handlers that send do) was read, before its handler runs: the daemon releases a
   * held token now rather than after the handler packed the message (see TotemRuntime.
   * messageComing).
   */
  beforeTotemRequest?: () => void;
  /**
   * Accept and write through the native addon when it is built (default true; see
   * stream-transport.ts and direct-write.ts). false: Node's net.Server and socket writes only,
   * as without the addon.
   */
  native?: boolean;
}

/** The interface a transport implements for one connection. */
export interface IpcLink {
  /** Write a response frame (transport keeps order). */
  writeResponse(frame: Buffer): void;
  /**
   * Write a dispatch frame if the event channel is ready; `flushed` runs once it left our
   * buffers. Returns false when the event channel is not attached yet (the core queues).
   */
  writeEvent(frame: Buffer, flushed: () => void): boolean;
  /**
   * Stop (false) or restart (true) reading the client's requests, so that the transport's own
   * back-pressure reaches the client (libqb: the request ring fills up and the client gets
   * EAGAIN) while the server holds requests during flow control.
   */
  setReading(on: boolean): void;
  /** Tear the transport connection down (idempotent). */
  destroy(): void;
}

let tokenSeq = 0x1000;

function readProcname(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (open >= 0 && close > open) return stat.slice(open + 1, close);
  } catch {
    // process gone or no procfs
  }
  return '';
}

/** The core's object for one client connection; transports drive it, services see IpcConnection. */
export class IpcServerConnection implements IpcConnection {
  readonly token: string;
  readonly pid: number;
  readonly serviceId: number;
  readonly maxMsgSize: number;
  readonly stats: IpcConnectionStats;
  privateData: unknown;
  private closedFlag = false;
  private readonly server: IpcServer;
  private readonly service: IpcServiceDefinition<unknown>;
  private link: IpcLink | undefined;
  private readonly waiting: Buffer[] = [];
  private queuedBytes = 0;
  /** Requests that arrived while flow control was on and wait for it to end (in order). */
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private releaseScheduled = false;
  private readonly closeHooks: Array<() => void> = [];

  constructor(
    server: IpcServer,
    service: IpcServiceDefinition<unknown>,
    pid: number,
    maxMsgSize: number,
    token: string = `0x${(tokenSeq++).toString(16)}`,
  ) {
    this.server = server;
    this.service = service;
    this.pid = pid;
    this.serviceId = service.id;
    this.maxMsgSize = maxMsgSize;
    this.token = token;
    this.stats = createIpcConnectionStats({ service: service.id, pid, token, procname: readProcname(pid) });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** A short description for log lines. */
  get description(): string {
    return `${this.service.name} connection ${this.token} (pid ${this.pid})`;
  }

  /** Called by the transport once the link exists (before any request is delivered). */
  attachLink(link: IpcLink): void {
    this.link = link;
    // a client connecting while its service is flow-controlled starts flow-controlled
    const level = this.server.flowControlLevel(this.service.name);
    if (level > 0) this.setFlowControl(level);
  }

  /** The IPC name of the connection's service. */
  get serviceName(): string {
    return this.service.name;
  }

  /** Called by the transport when the event channel became ready: flush what waited. */
  eventChannelReady(): void {
    if (!this.link) return;
    while (this.waiting.length > 0 && !this.closedFlag) {
      const frame = this.waiting[0]!;
      if (!this.link.writeEvent(frame, () => this.flushed(frame.length))) return;
      this.waiting.shift();
      this.stats.sent = (this.stats.sent + 1) >>> 0;
    }
  }

  respond(frame: Buffer): void {
    if (this.closedFlag || !this.link) return;
    this.stats.responses++;
    this.link.writeResponse(frame);
  }

  sendEvent(frame: Buffer): void {
    this.enqueueEvent(frame, true);
  }

  /**
   * Publish a flow-control level to the client, as libqb's shared flag does (0 off; 1 blocks
   * every request; 2 only requests of clients that raised their limit, i.e. cpg mcast). The
   * level travels as a transport control frame on the event channel, in order with dispatches.
   */
  setFlowControl(level: number): void {
    if (this.closedFlag || !this.link || level === this.stats.flowControl) return;
    this.stats.flowControl = level;
    if (level > 0) this.stats.flowControlCount++;
    this.enqueueEvent(encodeFlowControl(level), false);
    if (level === 0) this.scheduleRelease();
  }

  /** Handle the requests held during flow control, in order, once it is off (next turn). */
  private scheduleRelease(): void {
    if (this.held.length === 0 || this.releaseScheduled) return;
    this.releaseScheduled = true;
    setImmediate(() => {
      this.releaseScheduled = false;
      while (this.held.length > 0 && this.stats.flowControl === 0 && !this.closedFlag) {
        const frame = this.held.shift()!;
        this.heldBytes -= frame.length;
        this.process(frame);
      }
      if (this.held.length === 0 && !this.closedFlag) this.link?.setReading(true);
    });
  }

  private enqueueEvent(frame: Buffer, dispatch: boolean): void {
    if (this.closedFlag || !this.link) return;
    const opts = this.server.limits;
    if (
      this.stats.queued + 1 > opts.maxEventQueueFrames ||
      this.queuedBytes + frame.length > opts.maxEventQueueBytes
    ) {
      this.stats.overload++;
      this.close(
        `dispatch queue overflow (${this.stats.queued} messages, ${this.queuedBytes} bytes queued; limits ` +
          `${opts.maxEventQueueFrames} messages, ${opts.maxEventQueueBytes} bytes)`,
        'warn',
      );
      return;
    }
    if (dispatch) this.stats.dispatched++;
    this.stats.queued++;
    this.stats.queueing = 1;
    this.queuedBytes += frame.length;
    if (this.waiting.length > 0 || !this.link.writeEvent(frame, () => this.flushed(frame.length))) {
      this.waiting.push(frame);
      return;
    }
    this.stats.sent = (this.stats.sent + 1) >>> 0;
  }

  private flushed(bytes: number): void {
    this.queuedBytes -= bytes;
    if (this.stats.queued > 0) this.stats.queued--;
    if (this.stats.queued === 0) this.stats.queueing = 0;
  }

  addCloseHook(hook: () => void): void {
    if (this.closedFlag) {
      hook();
      return;
    }
    this.closeHooks.push(hook);
  }

  /**
   * Deliver one request frame (already bounded by the transport's framing). Malformed
   * frames close the connection; handler failures close it too, never the daemon.
   */
  deliver(frame: Buffer): void {
    if (this.closedFlag) return;
    // libqb's server does not read a flow-controlled client's requests at all
    // (qb_ipcs_dispatch_connection_request returns early while fc_enabled), so what the client
    // wrote before it saw the level - typically cpg MCASTs just as a sync starts - waits and
    // is handled after the sync, instead of reaching a service that refuses it (MCAST has no
    // reply: it would be lost without a trace). We hold the flow-control-required requests and
    // everything behind them; the others (cpg local_get, membership, ...) are still answered.
    if (
      this.held.length > 0 ||
      (this.stats.flowControl > 0 && this.service.flowControlRequired?.(readInt32LE(frame, 0)))
    ) {
      if (this.heldBytes + frame.length > this.server.limits.maxEventQueueBytes) {
        this.stats.overload++;
        this.close(`${this.held.length} requests (${this.heldBytes} bytes) sent during flow control`, 'warn');
        return;
      }
      this.held.push(frame);
      this.heldBytes += frame.length;
      // no more reads until the held requests are handled: what the client writes meanwhile
      // stays in its socket, and its library answers TRY_AGAIN once that backlog is full
      this.link?.setReading(false);
      if (this.stats.flowControl === 0) this.scheduleRelease();
      return;
    }
    this.process(frame);
  }

  private process(frame: Buffer): void {
    const id = readInt32LE(frame, 0);
    if (id < 0 || id >= this.service.requestCount) {
      this.stats.invalidRequest++;
      this.server.logger.debug(
        `${this.description}: unknown request id ${id}, answered CS_ERR_INVALID_PARAM`,
      );
      this.respond(allocResponse(0, RESPONSE_HEADER_SIZE, CsErrorCode.CS_ERR_INVALID_PARAM));
      return;
    }
    if (this.server.beforeTotemRequest && this.service.flowControlRequired?.(id))
      this.server.beforeTotemRequest();
    const reason = this.service.checkRequest(frame);
    if (reason !== undefined) {
      this.invalid(reason);
      return;
    }
    this.stats.requests++;
    try {
      this.service.handle(this, this.privateData, frame);
    } catch (err) {
      this.close(
        `request handler failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        'error',
      );
    }
    this.server.requestHandled();
  }

  /** Count a malformed frame (framing or service check) and close the connection. */
  invalid(reason: string): void {
    if (this.closedFlag) return;
    this.stats.invalidRequest++;
    this.close(`invalid request: ${reason}`, 'warn');
  }

  close(reason?: string, level: 'debug' | 'warn' | 'error' = 'debug'): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const log = this.server.logger;
    log[level](`IPC ${this.description} closed${reason ? `: ${reason}` : ''}`);
    this.waiting.length = 0;
    this.held.length = 0;
    this.heldBytes = 0;
    this.link?.destroy();
    this.server.connectionClosed(this);
    try {
      this.service.exit(this, this.privateData);
    } catch (err) {
      log.error(
        `IPC ${this.description}: service exit failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    for (const hook of this.closeHooks.splice(0)) {
      try {
        hook();
      } catch (err) {
        log.error(
          `IPC ${this.description}: close hook failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
}

/** Resolved limits of a server. */
export interface IpcServerLimits {
  readonly maxMsgSize: number;
  readonly maxEventQueueBytes: number;
  readonly maxEventQueueFrames: number;
  readonly maxResponseBacklogBytes: number;
  readonly setupTimeoutMs: number;
}

/**
 * The daemon's IPC server. Usage: `new IpcServer(opts)`, `registerService(...)` for every
 * service, `await listen()`; on shutdown `await close()` (closes every client connection,
 * running each service's exit for it, and removes the endpoints).
 */
export class IpcServer {
  readonly runDir: string;
  readonly logger: IpcLogger;
  readonly limits: IpcServerLimits;
  /** IpcServerOptions.native. */
  readonly useNative: boolean;
  private readonly statsHooks: IpcStatsHooks | undefined;
  private readonly admitFn: ((info: { service: string; pid: number }) => number) | undefined;
  private readonly afterRequest: (() => void) | undefined;
  /** IpcServerOptions.beforeTotemRequest. */
  readonly beforeTotemRequest: (() => void) | undefined;
  private readonly services = new Map<string, IpcServiceDefinition<unknown>>();
  private readonly open = new Set<IpcServerConnection>();
  private readonly fcLevels = new Map<string, number>();
  private readonly transport: StreamTransport;
  private listening = false;
  private closing = false;
  /** Connections closed since the server started (stats.ipcs.global.closed). */
  closedCount = 0;

  constructor(opts: IpcServerOptions) {
    this.runDir = opts.runDir;
    this.logger = opts.logger;
    this.statsHooks = opts.stats;
    this.admitFn = opts.admit;
    this.afterRequest = opts.afterRequest;
    this.beforeTotemRequest = opts.beforeTotemRequest;
    this.useNative = opts.native ?? true;
    this.limits = {
      maxMsgSize: Math.min(opts.maxMsgSize ?? IPC_MAX_MSG_SIZE, IPC_MAX_MSG_SIZE),
      maxEventQueueBytes: opts.maxEventQueueBytes ?? 1024 * 1024 * 1024,
      maxEventQueueFrames: opts.maxEventQueueFrames ?? 1 << 24,
      maxResponseBacklogBytes: opts.maxResponseBacklogBytes ?? 4 * 1024 * 1024,
      setupTimeoutMs: opts.setupTimeoutMs ?? 10_000,
    };
    this.transport = new StreamTransport(this);
  }

  /** Register a service; its endpoint is created by `listen()` (or at once if already listening). */
  registerService<State>(def: IpcServiceDefinition<State>): void {
    if (this.services.has(def.name)) throw new Error(`IPC service ${def.name} registered twice`);
    this.services.set(def.name, def as IpcServiceDefinition<unknown>);
    if (this.listening) void this.transport.listen(def.name);
  }

  /** Names of the registered services. */
  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  /** Create the endpoints of all registered services. */
  async listen(): Promise<void> {
    if (this.listening) return;
    this.listening = true;
    await this.transport.listenAll(this.serviceNames());
  }

  /** Open connections (stats.ipcs.global.active). */
  get activeCount(): number {
    return this.open.size;
  }

  /** A snapshot of the open connections. */
  connections(): IpcServerConnection[] {
    return [...this.open];
  }

  /**
   * Set the flow-control level of every connection of the services `match` selects (corosync
   * raises level 2 on all services but votequorum while a sync runs, exec/main.c).
   */
  setFlowControl(match: (serviceName: string) => boolean, level: number): void {
    for (const name of this.services.keys()) if (match(name)) this.fcLevels.set(name, level);
    for (const conn of this.open) if (match(conn.serviceName)) conn.setFlowControl(level);
  }

  /** A connection handled a request (see IpcServerOptions.afterRequest). */
  requestHandled(): void {
    this.afterRequest?.();
  }

  /** The flow-control level currently published for a service's connections. */
  flowControlLevel(serviceName: string): number {
    return this.fcLevels.get(serviceName) ?? 0;
  }

  /** Stop listening, close every connection (services' exit runs), remove the endpoints. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const conn of [...this.open]) conn.close('server shutting down');
    await this.transport.close();
  }

  // ---- transport-facing API ----

  /**
   * Admit a client that completed a transport handshake. Returns the connection, or the
   * cs_error_t to refuse it with.
   */
  openConnection(serviceName: string, pid: number, maxMsgSize: number): IpcServerConnection | number {
    if (this.closing) return CsErrorCode.CS_ERR_TRY_AGAIN;
    const service = this.services.get(serviceName);
    if (!service) return CsErrorCode.CS_ERR_NOT_SUPPORTED;
    if (this.admitFn) {
      let verdict: number;
      try {
        verdict = this.admitFn({ service: serviceName, pid });
      } catch (err) {
        this.logger.error(`IPC admission check failed: ${err instanceof Error ? err.message : String(err)}`);
        verdict = CsErrorCode.CS_ERR_LIBRARY;
      }
      if (verdict !== CsErrorCode.CS_OK) {
        this.logger.debug(`IPC ${serviceName}: denied connection from pid ${pid} (error ${verdict})`);
        return verdict;
      }
    }
    const conn = new IpcServerConnection(this, service, pid, maxMsgSize, this.statsHooks?.allocIpcToken?.());
    this.open.add(conn);
    try {
      this.statsHooks?.addIpcConnection(conn.stats);
    } catch (err) {
      this.logger.error(`IPC stats registration failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      conn.privateData = service.init(conn);
    } catch (err) {
      this.open.delete(conn);
      this.removeStats(conn);
      this.logger.error(
        `IPC ${serviceName}: lib_init failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return CsErrorCode.CS_ERR_LIBRARY;
    }
    this.logger.debug(`IPC ${conn.description} opened`);
    return conn;
  }

  /** Called by IpcServerConnection.close. */
  connectionClosed(conn: IpcServerConnection): void {
    if (!this.open.delete(conn)) return;
    this.closedCount++;
    this.removeStats(conn);
  }

  private removeStats(conn: IpcServerConnection): void {
    try {
      this.statsHooks?.removeIpcConnection(conn.stats);
    } catch (err) {
      this.logger.error(`IPC stats removal failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
