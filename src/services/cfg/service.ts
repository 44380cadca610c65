/**
 * The cfg service engine (service 1, IPC `cfg`; corosync 3.1.7 exec/cfg.c behaviour, spec
 * cfg.md and config.md §6): administration of the local node and the cluster.
 *
 * - Exec messages: KILLNODE (the named node exits at once with status 255), SHUTDOWN (the
 *   sender shuts down in order), RELOAD_CONFIG (every node re-reads its own corosync.conf;
 *   the sender answers its client with its local result), CRYPTO_RECONFIG (a no-op for
 *   udp/udpu; phase 1 from ourselves is followed by phase 2 as in corosync), RINGREENABLE
 *   (never sent, ignored). All are sent TOTEM_SAFE.
 * - Shutdown negotiation: TRYSHUTDOWN asks every tracking connection (TRACKSTART) through a
 *   TESTSHUTDOWN callback, collects REPLYTOSHUTDOWN votes until all answered or
 *   `cfg.shutdown_timeout` (ms, default 5000) passed, then answers the requester OK (and
 *   multicasts SHUTDOWN) or CS_ERR_BUSY. A tracker that goes away counts as YES.
 * - Link and node information for the non-knet transports: RINGSTATUSGET ("<link> <ip>",
 *   status "OK"), GET_NODE_ADDRS, NODESTATUSGET (reachable = in the current membership; link 0
 *   enabled when the socket is bound, connected = reachable, mtu = netmtu), LOCAL_GET.
 * - Reload (config.md §6) is atomic here: the file is read and parsed, runtime-unchangeable
 *   keys are put back to their live values (and reported), the whole startup processing
 *   (buildStartupMap: logging, totem, nodelist validation, derived keys) runs on the result,
 *   the new interfaces are checked against the running ones; only when all of that succeeded
 *   is the live map changed (DELETE for keys gone from the file, ADD/MODIFY for the rest,
 *   runtime.config.totem.* recomputed) and the daemon told to apply the totem changes.
 *   A failure changes nothing but `config.reload_status`.
 *
 * Pure: time comes in through the `timers` option (the shutdown timeout), process effects
 * (shutdown, kill, totem reconfiguration, log reopening) through callbacks.
 *
 * Deviations from 3.1.7 (none changes the wire):
 * - Reload is atomic (3.1.7 deletes keys before validating, so a late error leaves the map
 *   half-updated; a parse error leaves `config.totemconfig_reload_in_progress` at 1 and does
 *   not write `config.reload_status`). A runtime-unchangeable key removed from the file is
 *   kept too (3.1.7 deletes it from the map while totem keeps using it), and the link keys
 *   udp/udpu only read at startup (`totem.interface.N.{bindnetaddr,mcastaddr,mcastport,ttl,
 *   broadcast}`) are reported and kept instead of being silently updated in the map.
 *   A reload whose file no longer lists the local node, or gives it another nodeid, is
 *   refused (3.1.7 accepts it and runs on with a nodelist that does not match the node).
 * - REPLYTOSHUTDOWN: a connection's vote counts once; a second reply replaces the first
 *   (3.1.7 counts every reply, so one client could outvote the others).
 * - GET_NODE_ADDRS copies every address and counts it in num_addrs (3.1.7 skips addresses
 *   whose first two bytes are zero, e.g. ::1, because it reads them as a sockaddr family).
 * - A multicast refused by a full totem queue answers CS_ERR_TRY_AGAIN (3.1.7 asserts).
 * - TRYSHUTDOWN with no trackers ends the session (3.1.7 keeps it, so later TRYSHUTDOWNs
 *   answer CS_ERR_EXIST until the node is gone).
 */
import { Buffer } from 'node:buffer';
import type { Icmap } from '../../cmap/icmap.js';
import { CmapValueType, type StoredValue } from '../../cmap/types.js';
import { CsErrorCode } from '../../common/errors.js';
import { formatIp } from '../../config/addr.js';
import type { LoggingConfig } from '../../config/logging.js';
import { ConfigError } from '../../config/parser.js';
import {
  type StartupEnv,
  type TotemConfig,
  type TotemInterface,
  buildStartupMap,
} from '../../config/totem.js';
import type { ConfigMap } from '../../config/values.js';
import { TotemGuarantee } from '../../exec/codec.js';
import type { ExecLogger } from '../../exec/engine.js';
import type { ExecApi, ServiceEngine } from '../../exec/service-engine.js';
import type { IpcConnection, IpcServiceDefinition } from '../../ipc/server.js';
import {
  AF_INET,
  AF_INET6,
  CFG_EXEC_FN_COUNT,
  CFG_INTERFACE_NAME_MAX_LEN,
  CFG_INTERFACE_STATUS_MAX_LEN,
  CFG_MAX_INTERFACES,
  CFG_NODE_STATUS_V1,
  CFG_REQUEST_COUNT,
  CFG_SERVICE_ID,
  CFG_SERVICE_NAME,
  type CfgExecMessage,
  CfgExecFn,
  type CfgInterfaceStatus,
  type CfgLinkStatus,
  type CfgRequest,
  CfgResId,
  CfgShutdownFlags,
  CryptoReconfigPhase,
  TOTEMIP_ADDRLEN,
  decodeCfgExec,
  decodeCfgRequest,
  encodeCfgBareResponse,
  encodeCfgExec,
  encodeCfgResponse,
} from './codec.js';
import { readInt32LE } from '../../common/bytes.js';

const OK = CsErrorCode.CS_OK;

/** corosync's DEFAULT_SHUTDOWN_TIMEOUT (ms), overridden by icmap `cfg.shutdown_timeout` (u32). */
export const DEFAULT_SHUTDOWN_TIMEOUT = 5000;

/**
 * Keys whose value cannot change at run-time (exec/cfg.c remove_ro_entries, built without
 * knet crypto reconfiguration support, so the crypto keys are among them).
 */
export const RUNTIME_FIXED_KEYS: readonly string[] = [
  'totem.secauth',
  'totem.crypto_hash',
  'totem.crypto_cipher',
  'totem.keyfile',
  'totem.key',
  'totem.version',
  'totem.threads',
  'totem.ip_version',
  'totem.rrp_mode',
  'totem.netmtu',
  'totem.interface.ringnumber',
  'totem.interface.bindnetaddr',
  'totem.interface.mcastaddr',
  'totem.interface.broadcast',
  'totem.interface.mcastport',
  'totem.interface.ttl',
  'totem.transport',
  'totem.cluster_name',
  'quorum.provider',
  'system.move_to_root_cgroup',
  'system.allow_knet_handle_fallback',
  'system.sched_rr',
  'system.priority',
  'system.qb_ipc_type',
  'system.state_dir',
];

/** Per-link keys udp/udpu read only at startup (link 0's socket parameters). */
const STATIC_LINK_KEY = /^totem\.interface\.\d+\.(bindnetaddr|mcastaddr|mcastport|ttl|broadcast)$/;

/** Prefixes whose keys a reload deletes when the new file no longer has them. */
export const RELOAD_DELETE_PREFIXES: readonly string[] = [
  'logging.',
  'totem.',
  'nodelist.',
  'quorum.',
  'uidgid.config.',
  'nozzle.',
];

/** Lib functions marked CS_LIB_FLOW_CONTROL_REQUIRED (TRY_AGAIN while a sync runs). */
const FLOW_CONTROL_REQUIRED: readonly boolean[] = [
  true, // 0 RINGSTATUSGET
  true, // 1 RINGREENABLE
  true, // 2 KILLNODE
  true, // 3 TRYSHUTDOWN
  true, // 4 REPLYTOSHUTDOWN
  false, // 5 GET_NODE_ADDRS
  false, // 6 LOCAL_GET
  true, // 7 RELOAD_CONFIG
  false, // 8 REOPEN_LOG_FILES
  false, // 9 NODESTATUSGET
  true, // 10 TRACKSTART
  true, // 11 TRACKSTOP
];

/** True when cfg lib function `id` needs flow control (refused with TRY_AGAIN during sync). */
export function cfgFlowControlRequired(id: number): boolean {
  return FLOW_CONTROL_REQUIRED[id] ?? false;
}

/** One-shot timers, provided by the runtime (the daemon: setTimeout; tests: manual). */
export interface CfgTimers {
  set(ms: number, fire: () => void): unknown;
  clear(handle: unknown): void;
}

/** Where a reload reads the configuration from. */
export interface CfgReloadSource {
  /** Read and parse corosync.conf (+ uidgid.d) into config keys; throws ConfigError. */
  read(): ConfigMap;
  /** The host facts the startup processing used (same local-node choice as at startup). */
  env: StartupEnv;
}

/** A node added to or removed from a link by a reload. */
export interface CfgLinkMemberChange {
  readonly linknumber: number;
  readonly nodeid: number;
  readonly addr: string;
}

/** What a successful reload changed; the daemon applies `totem` to the running stack. */
export interface CfgReloadApplied {
  /** The effective totem configuration after the reload (link 0 socket parameters kept). */
  readonly totem: TotemConfig;
  readonly previous: TotemConfig;
  readonly logging: LoggingConfig;
  readonly addedMembers: readonly CfgLinkMemberChange[];
  readonly removedMembers: readonly CfgLinkMemberChange[];
  /** Keys of the live map, by change. */
  readonly added: readonly string[];
  readonly modified: readonly string[];
  readonly deleted: readonly string[];
  /** Keys changed in the file that cannot change at run-time (kept at their live values). */
  readonly unchangeable: readonly string[];
  readonly warnings: readonly string[];
}

/** The outcome of a local reload. */
export interface CfgReloadResult {
  /** cs_error_t: CS_OK, CS_ERR_INVALID_PARAM (bad file), CS_ERR_NOT_SUPPORTED (no source). */
  readonly error: number;
  /** Why it failed (as logged). */
  readonly reason?: string;
  readonly applied?: CfgReloadApplied;
  /** Reported unchangeable keys, also on failure after the check ran. */
  readonly unchangeable: readonly string[];
}

export interface CfgServiceOptions {
  icmap: Icmap;
  /** The totem configuration the node runs (startup result). */
  totem: TotemConfig;
  /** One-shot timers for the shutdown timeout. */
  timers: CfgTimers;
  /** The exec SHUTDOWN of this node was delivered: shut down in order (services-exec.md §3.3). */
  requestShutdown(reason: string): void;
  /**
   * A KILLNODE naming this node was delivered: exit at once with status 255 (no service
   * unload, no totem leave). Called inside the delivery; the caller should not return into
   * the engine if it can help it.
   */
  kill(reason: string, fromNodeid: number): void;
  /** Reload source; without one RELOAD_CONFIG answers CS_ERR_NOT_SUPPORTED. */
  reload?: CfgReloadSource;
  /** A reload was committed to the live map: apply totem timeouts and member changes. */
  applyReload?(applied: CfgReloadApplied): void;
  /** REOPEN_LOG_FILES: reopen log files, return a cs_error_t (default: CS_OK). */
  reopenLogFiles?(): number;
  /** True while the transport socket is bound (corosync's BIND_STATE_REGULAR); default true. */
  linkBound?(): boolean;
  log?: ExecLogger;
}

/** Per-connection state (corosync's `struct cfg_info`). */
export class CfgConnState {
  tracking = false;
  constructor(
    readonly conn: IpcConnection,
    /** Token put into `source.conn` of RELOAD_CONFIG for this connection. */
    readonly sourceToken: bigint,
  ) {}
}

interface ShutdownSession {
  readonly requester: CfgConnState;
  readonly flags: number;
  expected: number;
  /** Votes of this session: true = yes. */
  readonly votes: Map<CfgConnState, boolean>;
  timer: unknown;
  timedOut: boolean;
}

/** Counters of refused input. */
export interface CfgServiceStats {
  malformedExec: number;
  /** Multicasts refused by a full totem queue. */
  sendFailures: number;
}

function sameStored(a: StoredValue | undefined, b: StoredValue | undefined): boolean {
  if (!a || !b) return a === b;
  return a.type === b.type && a.bytes.equals(b.bytes);
}

function ipBytes16(addr: { bytes: Buffer }): Buffer {
  const out = Buffer.alloc(TOTEMIP_ADDRLEN);
  addr.bytes.copy(out, 0, 0, Math.min(addr.bytes.length, TOTEMIP_ADDRLEN));
  return out;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The cfg service engine. Register it with the exec layer and `ipc` with the IPC server.
 */
export class CfgService implements ServiceEngine {
  readonly id = CFG_SERVICE_ID;
  readonly name = 'corosync configuration service';
  readonly defaultName = 'corosync_cfg';
  readonly priority = 1;
  readonly execFnCount = CFG_EXEC_FN_COUNT;
  readonly ipc: IpcServiceDefinition<CfgConnState> & { flowControlRequired(id: number): boolean };
  readonly stats: CfgServiceStats = { malformedExec: 0, sendFailures: 0 };

  private api: ExecApi | undefined;
  private readonly opts: CfgServiceOptions;
  private readonly log: ExecLogger | undefined;
  private totem: TotemConfig;
  private readonly trackers: CfgConnState[] = [];
  private session: ShutdownSession | undefined;
  private nextSource = 1n;
  /** RELOAD_CONFIG requests waiting for their own delivery, by source token. */
  private readonly pendingReloads = new Map<bigint, IpcConnection>();

  constructor(opts: CfgServiceOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.totem = opts.totem;
    this.ipc = this.createIpc();
  }

  init(api: ExecApi): void {
    this.api = api;
  }

  exit(): boolean {
    return true;
  }

  confchg(): void {
    // corosync's cfg_confchg_fn is empty
  }

  // ---- introspection ----

  /** The totem configuration as the last successful reload left it. */
  currentTotem(): TotemConfig {
    return this.totem;
  }

  /** The state of a cfg connection (undefined for other connections). */
  stateOf(conn: IpcConnection): CfgConnState | undefined {
    return conn.privateData instanceof CfgConnState ? conn.privateData : undefined;
  }

  /** True while a TRYSHUTDOWN waits for answers. */
  get shutdownPending(): boolean {
    return this.session !== undefined;
  }

  private get nodeId(): number {
    return this.api?.nodeId ?? this.totem.nodeId;
  }

  private send(msg: CfgExecMessage): boolean {
    const fn = {
      ringreenable: CfgExecFn.RINGREENABLE,
      killnode: CfgExecFn.KILLNODE,
      shutdown: CfgExecFn.SHUTDOWN,
      reload_config: CfgExecFn.RELOAD_CONFIG,
      crypto_reconfig: CfgExecFn.CRYPTO_RECONFIG,
    }[msg.kind];
    const res = this.api ? this.api.mcast(CFG_SERVICE_ID, fn, encodeCfgExec(msg), TotemGuarantee.SAFE) : 0;
    if (res !== OK) {
      this.stats.sendFailures++;
      this.log?.warn(`cfg: ${msg.kind} could not be sent (totem queue full)`);
      return false;
    }
    return true;
  }

  // ---- exec handlers ----

  deliver(fn: number, message: Buffer, fromNodeid: number): void {
    const r = decodeCfgExec(fn, message);
    if (!r.ok) {
      this.stats.malformedExec++;
      this.log?.warn(`cfg: exec message ${fn} from node ${fromNodeid} dropped: ${r.error}`);
      return;
    }
    const msg = r.value;
    switch (msg.kind) {
      case 'ringreenable':
        return;
      case 'killnode':
        this.log?.debug(`request to kill node ${msg.nodeid} (us=${this.nodeId})`);
        if (msg.nodeid === this.nodeId) {
          this.log?.notice(`Killed by node ${fromNodeid} : ${msg.reason}`);
          this.opts.kill(msg.reason, fromNodeid);
        }
        return;
      case 'shutdown':
        this.log?.notice(`Node ${fromNodeid} was shut down by sysadmin`);
        if (fromNodeid === this.nodeId) this.opts.requestShutdown('shut down by sysadmin (cfg)');
        return;
      case 'reload_config': {
        this.log?.notice(`Config reload requested by node ${fromNodeid}`);
        const res = this.reloadConfig();
        if (fromNodeid === this.nodeId) {
          const conn = this.pendingReloads.get(msg.source.conn);
          this.pendingReloads.delete(msg.source.conn);
          conn?.respond(encodeCfgBareResponse(CfgResId.RELOAD_CONFIG, res.error));
        }
        return;
      }
      case 'crypto_reconfig':
        if (fromNodeid !== this.nodeId) return;
        // udp/udpu have no crypto to reconfigure; the phases still run as in corosync
        this.log?.debug(`Crypto reconfiguration phase ${msg.phase}`);
        if (msg.phase < CryptoReconfigPhase.CLEANUP) {
          this.send({ kind: 'crypto_reconfig', phase: CryptoReconfigPhase.CLEANUP });
        }
        return;
    }
  }

  // ---- reload (config.md §6) ----

  /**
   * Re-read the configuration and, when it is valid, make it live. Nothing but
   * `config.reload_status` changes when it is not.
   */
  reloadConfig(): CfgReloadResult {
    const src = this.opts.reload;
    const { icmap } = this.opts;
    const fail = (error: number, reason: string, unchangeable: readonly string[] = []): CfgReloadResult => {
      icmap.setValue('config.reload_status', { type: CmapValueType.INT32, value: error });
      return { error, reason, unchangeable };
    };
    if (!src) {
      const reason = 'no configuration file to reload';
      this.log?.error(`Unable to reload config file: ${reason}`);
      return fail(CsErrorCode.CS_ERR_NOT_SUPPORTED, reason);
    }
    let parsed: ConfigMap;
    try {
      parsed = src.read();
    } catch (err) {
      // ConfigError (file:line and what was expected) or an I/O error: never fatal here
      const reason = errText(err);
      this.log?.error(`Unable to reload config file: ${reason}`);
      return fail(CsErrorCode.CS_ERR_INVALID_PARAM, reason);
    }

    // keys that cannot change at run-time keep their live value
    const unchangeable: string[] = [];
    const candidate: ConfigMap = new Map(parsed);
    const keep = (key: string, map: ConfigMap): void => {
      const live = icmap.get(key);
      if (sameStored(live, map.get(key))) return;
      this.log?.notice(`Modified entry '${key}' in corosync.conf cannot be changed at run-time`);
      unchangeable.push(key);
      if (live) map.set(key, { type: live.type, bytes: Buffer.from(live.bytes) });
      else map.delete(key);
    };
    for (const key of RUNTIME_FIXED_KEYS) keep(key, candidate);

    let startup;
    try {
      startup = buildStartupMap(candidate, src.env);
    } catch (err) {
      const reason = err instanceof ConfigError ? err.message : `internal error: ${errText(err)}`;
      this.log?.error(`Configuration is not valid: ${reason}`);
      return fail(CsErrorCode.CS_ERR_INVALID_PARAM, reason, unchangeable);
    }
    const next = startup.map;
    const old = this.totem;
    const nonKnet = old.transport !== 'knet';
    if (nonKnet) {
      for (const key of [...next.keys(), ...icmap.keys('totem.interface.')]) {
        if (STATIC_LINK_KEY.test(key) && !unchangeable.includes(key)) keep(key, next);
      }
    }

    const reason = this.checkInterfaces(old, startup.totem);
    if (reason !== undefined) {
      this.log?.error(`Cannot configure new interface definitions: ${reason}`);
      return fail(CsErrorCode.CS_ERR_INVALID_PARAM, reason, unchangeable);
    }

    // commit
    const u8 = (key: string, value: number): void =>
      icmap.setValue(key, { type: CmapValueType.UINT8, value });
    u8('config.totemconfig_reload_in_progress', 1);
    u8('config.reload_in_progress', 1);
    const deleted: string[] = [];
    for (const prefix of RELOAD_DELETE_PREFIXES) {
      for (const key of icmap.keys(prefix)) {
        if (next.has(key)) continue;
        icmap.delete(key);
        deleted.push(key);
      }
    }
    const added: string[] = [];
    const modified: string[] = [];
    for (const [key, v] of next) {
      const live = icmap.get(key);
      if (sameStored(live, v)) continue;
      (live ? modified : added).push(key);
      icmap.set(key, v.type, v.bytes);
    }
    const totem = this.effectiveTotem(old, startup.totem);
    this.totem = totem;
    icmap.setValue('config.reload_status', { type: CmapValueType.INT32, value: OK });
    u8('config.totemconfig_reload_in_progress', 0);
    u8('config.reload_in_progress', 0);

    const { addedMembers, removedMembers } = memberChanges(old, totem);
    const applied: CfgReloadApplied = {
      totem,
      previous: old,
      logging: startup.logging,
      addedMembers,
      removedMembers,
      added,
      modified,
      deleted,
      unchangeable,
      warnings: startup.warnings,
    };
    for (const w of startup.warnings) this.log?.warn(w);
    this.log?.debug(
      `Configuration reloaded: ${added.length} added, ${modified.length} modified, ${deleted.length} deleted`,
    );
    try {
      this.opts.applyReload?.(applied);
    } catch (err) {
      this.log?.error(`cfg: applying the reloaded totem configuration failed: ${errText(err)}`);
    }
    return { error: OK, applied, unchangeable };
  }

  /**
   * The checks of totemconfig_configure_new_params: a node's address on a link that exists in
   * both configurations must not change; the local node must keep its nodeid.
   */
  private checkInterfaces(old: TotemConfig, next: TotemConfig): string | undefined {
    if (next.nodeId !== old.nodeId) {
      return `the local node's nodeid cannot change at run-time (running ${old.nodeId}, new config ${next.nodeId})`;
    }
    let changed = false;
    for (const ni of next.interfaces) {
      const oi = old.interfaces[ni.linknumber];
      if (!ni.configured || !oi?.configured) continue;
      if (ni.knetTransport !== oi.knetTransport) {
        this.log?.error(
          `New config has different knet transport for link ${ni.linknumber}. Internal value was NOT changed.`,
        );
        changed = true;
      }
      for (const m of ni.members) {
        const o = oi.members.find((x) => x.nodeid === m.nodeid);
        if (!o || (o.addr.family === m.addr.family && o.addr.bytes.equals(m.addr.bytes))) continue;
        this.log?.error(
          `new config has different address for link ${ni.linknumber} (addr changed from ${formatIp(o.addr)} to ` +
            `${formatIp(m.addr)}). Internal value was NOT changed.`,
        );
        changed = true;
      }
    }
    if (!changed) return undefined;
    return 'To reconfigure an interface it must be deleted and recreated. A working interface needs to be available to corosync at all times';
  }

  /** For udp/udpu link 0's socket parameters are static: keep them, take the new members. */
  private effectiveTotem(old: TotemConfig, next: TotemConfig): TotemConfig {
    if (old.transport === 'knet') return next;
    const interfaces: TotemInterface[] = next.interfaces.map((ni) => {
      const oi = old.interfaces[ni.linknumber];
      if (!oi?.configured) return ni;
      return { ...oi, members: ni.members };
    });
    return { ...next, netMtu: old.netMtu, transport: old.transport, interfaces };
  }

  // ---- shutdown negotiation ----

  private testShutdown(st: CfgConnState, flags: number, error: number): void {
    st.conn.sendEvent(encodeCfgResponse({ kind: 'testshutdown', error, flags }));
  }

  private shutdownTimeout(): number {
    const v = this.opts.icmap.getValue('cfg.shutdown_timeout');
    return v && v.type === CmapValueType.UINT32 ? v.value : DEFAULT_SHUTDOWN_TIMEOUT;
  }

  private tryShutdown(st: CfgConnState, flags: number): void {
    const reply = (error: number): void =>
      st.conn.respond(encodeCfgBareResponse(CfgResId.TRYSHUTDOWN, error));
    if (flags === CfgShutdownFlags.IMMEDIATE) {
      reply(this.send({ kind: 'shutdown' }) ? OK : CsErrorCode.CS_ERR_TRY_AGAIN);
      return;
    }
    if (this.session) {
      reply(CsErrorCode.CS_ERR_EXIST);
      return;
    }
    const asked = this.trackers.filter((t) => t !== st);
    if (asked.length === 0) {
      reply(this.send({ kind: 'shutdown' }) ? OK : CsErrorCode.CS_ERR_TRY_AGAIN);
      return;
    }
    const session: ShutdownSession = {
      requester: st,
      flags,
      expected: asked.length,
      votes: new Map(),
      timer: undefined,
      timedOut: false,
    };
    this.session = session;
    session.timer = this.opts.timers.set(this.shutdownTimeout(), () => this.shutdownTimerFired(session));
    for (const t of asked) this.testShutdown(t, flags, OK);
    // no reply now: it goes out with the decision
  }

  private shutdownTimerFired(session: ShutdownSession): void {
    if (this.session !== session) return;
    session.timer = undefined;
    session.timedOut = true;
    const flags = session.flags;
    this.checkShutdown();
    for (const t of this.trackers) this.testShutdown(t, flags, CsErrorCode.CS_ERR_TIMEOUT);
  }

  /** The decision once everyone answered (or the timeout marked the undecided as NO). */
  private checkShutdown(): void {
    const s = this.session;
    if (!s) return;
    let yes = 0;
    let no = 0;
    for (const v of s.votes.values()) {
      if (v) yes++;
      else no++;
    }
    if (s.timedOut) no = s.expected;
    if (yes + no < s.expected) return;
    if (s.timer !== undefined) this.opts.timers.clear(s.timer);
    s.timer = undefined;
    this.session = undefined;
    let error: number = CsErrorCode.CS_ERR_BUSY;
    if (yes >= s.expected || s.flags === CfgShutdownFlags.REGARDLESS) {
      error = this.send({ kind: 'shutdown' }) ? OK : CsErrorCode.CS_ERR_TRY_AGAIN;
    }
    s.requester.conn.respond(encodeCfgBareResponse(CfgResId.TRYSHUTDOWN, error));
    this.log?.debug(
      `shutdown decision is: (yes count: ${yes}, no count: ${no}) flags=${s.flags.toString(16)}`,
    );
  }

  private replyToShutdown(st: CfgConnState, response: number): number {
    const s = this.session;
    if (!s) return CsErrorCode.CS_ERR_ACCESS;
    s.votes.set(st, response !== 0);
    this.checkShutdown();
    return OK;
  }

  private trackStart(st: CfgConnState): void {
    if (st.tracking) return;
    st.tracking = true;
    this.trackers.push(st);
    const s = this.session;
    if (s) {
      // a shutdown is being negotiated: ask the newcomer too
      s.expected++;
      this.testShutdown(st, s.flags, OK);
    }
  }

  /** TRACKSTOP or connection close (corosync's remove_ci_from_shutdown). */
  private leave(st: CfgConnState): void {
    const s = this.session;
    if (s && s.requester === st) {
      if (s.timer !== undefined) this.opts.timers.clear(s.timer);
      this.session = undefined;
    }
    if (!st.tracking) return;
    st.tracking = false;
    const i = this.trackers.indexOf(st);
    if (i >= 0) this.trackers.splice(i, 1);
    const cur = this.session;
    if (cur) {
      // leaving is an implicit YES
      cur.votes.set(st, true);
      this.checkShutdown();
    }
  }

  // ---- link / node information ----

  private nodeInterfaces(
    nodeid: number,
  ): Array<{ linknumber: number; addr: TotemInterface['members'][number]['addr'] }> {
    const out: Array<{ linknumber: number; addr: TotemInterface['members'][number]['addr'] }> = [];
    for (const iface of this.totem.interfaces) {
      if (!iface.configured) continue;
      for (const m of iface.members)
        if (m.nodeid === nodeid) out.push({ linknumber: iface.linknumber, addr: m.addr });
    }
    return out;
  }

  private ringStatus(): Buffer {
    const entries = this.nodeInterfaces(this.nodeId).slice(0, CFG_MAX_INTERFACES);
    const interfaces: CfgInterfaceStatus[] = [];
    let error: number = OK;
    for (const [i, e] of entries.entries()) {
      const ip = formatIp(e.addr);
      if (Buffer.byteLength(ip) >= CFG_INTERFACE_NAME_MAX_LEN - 3) {
        this.log?.error(`String representation of interface ${i} is too long`);
        error = CsErrorCode.CS_ERR_NAME_TOO_LONG;
        break;
      }
      // udp and udpu report one status for their single link
      const status = 'OK';
      if (status.length >= CFG_INTERFACE_STATUS_MAX_LEN) {
        error = CsErrorCode.CS_ERR_NAME_TOO_LONG;
        break;
      }
      interfaces.push({ name: `${e.linknumber} ${ip}`, status });
    }
    return encodeCfgResponse({ kind: 'ringstatusget', error, interfaceCount: entries.length, interfaces });
  }

  private nodeAddrs(requested: number): Buffer {
    const nodeid = requested === 0 ? this.nodeId : requested;
    const entries = this.nodeInterfaces(nodeid).slice(0, 8);
    if (entries.length === 0) {
      return encodeCfgResponse({
        kind: 'get_node_addrs',
        error: CsErrorCode.CS_ERR_NOT_EXIST,
        family: 0,
        addrs: [],
      });
    }
    return encodeCfgResponse({
      kind: 'get_node_addrs',
      error: OK,
      family: entries[0]!.addr.family === 6 ? AF_INET6 : AF_INET,
      addrs: entries.map((e) => ipBytes16(e.addr)),
    });
  }

  private nodeStatus(nodeid: number, version: number): Buffer {
    if (version !== CFG_NODE_STATUS_V1) {
      return encodeCfgResponse({
        kind: 'nodestatusget_version',
        error: CsErrorCode.CS_ERR_NOT_SUPPORTED,
        version: 0,
      });
    }
    const reachable = this.api?.members().includes(nodeid) ? 1 : 0;
    const links: CfgLinkStatus[] = [];
    // the udp/udpu transports know their link-0 member list (the nodelist)
    const member = this.totem.interfaces[0]?.members.find((m) => m.nodeid === nodeid);
    if (member) {
      links.push({
        enabled: (this.opts.linkBound?.() ?? true) ? 1 : 0,
        connected: reachable,
        dynconnected: 0,
        mtu: this.totem.netMtu,
        srcIpaddr: formatIp(member.addr),
        dstIpaddr: '',
      });
    }
    return encodeCfgResponse({
      kind: 'nodestatusget',
      error: OK,
      status: { nodeid, reachable, remote: 0, external: 0, onwireMin: 0, onwireMax: 0, onwireVer: 0, links },
    });
  }

  private killNode(nodeid: number, reasonLength: number, reason: string): number {
    const v = this.opts.icmap.get(`runtime.members.${nodeid}.status`);
    if (!v) return CsErrorCode.CS_ERR_NOT_EXIST;
    if (v.type !== CmapValueType.STRING) return CsErrorCode.CS_ERR_LIBRARY;
    if (v.bytes.subarray(0, v.bytes.length - 1).toString('latin1') !== 'joined')
      return CsErrorCode.CS_ERR_NOT_EXIST;
    return this.send({ kind: 'killnode', nodeid, reasonLength, reason }) ? OK : CsErrorCode.CS_ERR_TRY_AGAIN;
  }

  // ---- IPC ----

  private createIpc(): IpcServiceDefinition<CfgConnState> & { flowControlRequired(id: number): boolean } {
    return {
      name: CFG_SERVICE_NAME,
      id: CFG_SERVICE_ID,
      requestCount: CFG_REQUEST_COUNT,
      flowControlRequired: cfgFlowControlRequired,
      checkRequest: (frame) => {
        const r = decodeCfgRequest(frame);
        return r.ok ? undefined : r.error;
      },
      init: (conn) => new CfgConnState(conn, this.nextSource++),
      handle: (conn, st, frame) => {
        const id = readInt32LE(frame, 0);
        if (cfgFlowControlRequired(id) && (!this.api || this.api.syncInProgress())) {
          // corosync_sending_allowed: -EINPROGRESS → bare {id 0, TRY_AGAIN}
          conn.respond(encodeCfgBareResponse(0, CsErrorCode.CS_ERR_TRY_AGAIN));
          return;
        }
        const r = decodeCfgRequest(frame);
        if (!r.ok) {
          conn.close(`cfg request refused: ${r.error}`);
          return;
        }
        this.handleRequest(conn, st, r.value);
      },
      exit: (_conn, st) => {
        this.leave(st);
        this.pendingReloads.delete(st.sourceToken);
      },
    };
  }

  private handleRequest(conn: IpcConnection, st: CfgConnState, req: CfgRequest): void {
    const bare = (id: number, error: number): void => conn.respond(encodeCfgBareResponse(id, error));
    switch (req.kind) {
      case 'ringstatusget':
        conn.respond(this.ringStatus());
        return;
      case 'ringreenable':
        bare(CfgResId.RINGREENABLE, CsErrorCode.CS_ERR_NOT_SUPPORTED);
        return;
      case 'killnode':
        bare(CfgResId.KILLNODE, this.killNode(req.nodeid, req.reasonLength, req.reason));
        return;
      case 'tryshutdown':
        this.tryShutdown(st, req.flags);
        return;
      case 'replytoshutdown':
        bare(CfgResId.REPLYTOSHUTDOWN, this.replyToShutdown(st, req.response));
        return;
      case 'get_node_addrs':
        conn.respond(this.nodeAddrs(req.nodeid));
        return;
      case 'local_get':
        conn.respond(encodeCfgResponse({ kind: 'local_get', error: OK, nodeid: this.nodeId }));
        return;
      case 'reload_config':
        this.pendingReloads.set(st.sourceToken, conn);
        if (!this.send({ kind: 'reload_config', source: { nodeid: this.nodeId, conn: st.sourceToken } })) {
          this.pendingReloads.delete(st.sourceToken);
          bare(CfgResId.RELOAD_CONFIG, CsErrorCode.CS_ERR_TRY_AGAIN);
        }
        // otherwise the reply goes out when our own RELOAD_CONFIG is delivered
        return;
      case 'reopen_log_files': {
        this.log?.debug('Reopening logging files');
        let res: number = OK;
        try {
          res = this.opts.reopenLogFiles?.() ?? OK;
        } catch (err) {
          this.log?.error(`cfg: reopening log files failed: ${errText(err)}`);
          res = CsErrorCode.CS_ERR_LIBRARY;
        }
        bare(CfgResId.REOPEN_LOG_FILES, res);
        return;
      }
      case 'nodestatusget':
        conn.respond(this.nodeStatus(req.nodeid, req.version));
        return;
      case 'trackstart':
        this.trackStart(st);
        bare(CfgResId.STATETRACKSTART, OK);
        return;
      case 'trackstop':
        this.leave(st);
        bare(CfgResId.STATETRACKSTOP, OK);
        return;
    }
  }
}

/** Nodes added to / removed from each link between two totem configurations. */
function memberChanges(
  old: TotemConfig,
  next: TotemConfig,
): { addedMembers: CfgLinkMemberChange[]; removedMembers: CfgLinkMemberChange[] } {
  const addedMembers: CfgLinkMemberChange[] = [];
  const removedMembers: CfgLinkMemberChange[] = [];
  for (let link = 0; link < Math.max(old.interfaces.length, next.interfaces.length); link++) {
    const o = old.interfaces[link];
    const n = next.interfaces[link];
    const om = o?.configured ? o.members : [];
    const nm = n?.configured ? n.members : [];
    for (const m of nm) {
      if (!om.some((x) => x.nodeid === m.nodeid))
        addedMembers.push({ linknumber: link, nodeid: m.nodeid, addr: formatIp(m.addr) });
    }
    for (const m of om) {
      if (!nm.some((x) => x.nodeid === m.nodeid))
        removedMembers.push({ linknumber: link, nodeid: m.nodeid, addr: formatIp(m.addr) });
    }
  }
  return { addedMembers, removedMembers };
}
