/**
 * The runtime shell: config → icmap → logging → IPC server with its services, plus process
 * concerns (pid file, signals, background start, exit codes). Everything protocol-shaped lives
 * in the pure modules this file wires together.
 *
 * Exit codes follow corosync's (exec/util.h): 0 done, 7 logging config error, 8 main config
 * error, 16 state/run directory missing, 18 already running.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { Icmap, icmapIpcView } from '../cmap/icmap.js';
import { installDefaultReadOnlyKeys } from '../cmap/ro-keys.js';
import { StatsMap } from '../cmap/stats.js';
import { TrackFlags, type TrackEvent } from '../cmap/map.js';
import { CmapValueType } from '../cmap/types.js';
import { resolveDaemonRunDir } from '../common/rundir.js';
import {
  BUILTIN_CONFIG,
  ConfigError,
  DEFAULT_CONFIG_PATH,
  buildStartupMap,
  parseConfigText,
  readConfigFile,
  readLoggingConfig,
  readSuccessMessage,
  readVolatileConfig,
  systemStartupEnv,
  validateVolatileConfig,
  type ConfigMap,
  type StartupEnv,
  type StartupResult,
} from '../config/index.js';
import { IpcServer } from '../ipc/server.js';
// libqb IPC transport (issue 7): corosync's own tools and libraries
import { startLibqbTransport, type LibqbTransport } from '../ipc/libqb/index.js';
import { createCmapService } from '../services/cmap/service.js';
import { COROSYNC_COMPAT_VERSION, VERSION } from '../version.js';
import type { DaemonArgs } from '../cli/daemon-args.js';
import { isDaemonizedChild, reportStartup, startInBackground } from './background.js';
import { Logger, type LogOutputs, type SubsysLogger } from './logging.js';
import { openSyslogSink } from './syslog.js';
import { AlreadyRunningError, acquirePidFile, releasePidFile } from './pidfile.js';
import { TotemRuntime } from './totem-runtime.js';
import { SchedMissDetector } from './schedmiss.js';
import { ZeroCopyBuffers } from './cpg-zerocopy.js';
import { createTransport, transportMembers, type TotemTransport } from '../transport/index.js';
import { ExecEngine } from '../exec/engine.js';
import { EXEC_GROUP_NAME, SYNC_GROUP_NAME } from '../exec/codec.js';
import { CmapExecEngine } from '../services/cmap/exec.js';
import { CpgService } from '../services/cpg/service.js';
import { CfgService } from '../services/cfg/service.js';
import { QuorumService } from '../services/quorum/service.js';
import { VotequorumService, fileEvTrackingStore } from '../services/votequorum/service.js';
import { CsErrorCode } from '../common/errors.js';
import { ringIdEquals } from '../totem/wire/index.js';
import { randomHandleChecks } from '../ipc/handle-check.js';
import { loadQbNative, type QbNative } from '../ipc/libqb/native.js';
import { processHeapProbe, startHeapTrimmer, type IncrementalCollection } from './heap-trim.js';
import {
  applyScheduling,
  atNormalPolicy,
  backToRealTime,
  processSchedulingSystem,
  type PolicySwitch,
  type SchedulingSystem,
} from './scheduling.js';
import { lockDaemonMemory, processMemoryLockSystem, type MemoryLockSystem } from './memory-lock.js';

export const ExitCode = {
  DONE: 0,
  LOGCONFIGREAD: 7,
  MAINCONFIGREAD: 8,
  FATAL_ERR: 15,
  SERVICE_ENGINE_INIT: 20,
  DIR_NOT_PRESENT: 16,
  ALREADY_RUNNING: 18,
} as const;

/** corosync refreshes its stats (and polls stats trackers) every 1.5 s. */
export const STATS_POLL_INTERVAL_MS = 1500;

/** A startup failure with corosync's exit code and the text it prints. */
export class StartupError extends Error {
  /** The text exactly as it goes to stderr when nothing logged it yet (corosync's newline rules). */
  readonly stderrText: string | undefined;
  constructor(
    readonly exitCode: number,
    message: string,
    /** Default: the message and a newline; null: already logged, print nothing more. */
    stderrText: string | null = `${message}\n`,
  ) {
    super(message);
    this.stderrText = stderrText ?? undefined;
  }
}

interface LoadedConfig {
  startup: StartupResult;
  logger: Logger;
  source: string;
}

/**
 * Load the configuration in corosync's stages, each failing the way corosync fails: a parse
 * error is printed raw with exit 8; a logging error is printed raw without a newline, exit 7;
 * a totem/nodelist error is logged through the just-configured logger, exit 8.
 */
function loadConfig(opts: DaemonOptions, outputs: LogOutputs, testOnly: boolean): LoadedConfig {
  const { parsed, source } = loadMainConfig(opts);
  const logger = new Logger(outputs);
  try {
    logger.configure(readLoggingConfig(parsed));
  } catch (err) {
    if (err instanceof ConfigError) throw new StartupError(err.exitCode, err.message, err.message);
    const text = `parse error in config: ${(err as Error).message}.`;
    throw new StartupError(ExitCode.LOGCONFIGREAD, text, text);
  }
  const main = logger.subsys('MAIN');
  if (!testOnly) {
    main.notice(`Corosync Cluster Engine ${COROSYNC_COMPAT_VERSION} (corosync-ts ${VERSION}) starting up`);
    main.info('Corosync built-in features: udpu udp');
  }
  try {
    const startup = buildStartupMap(parsed, { ...startupEnv(opts), testOnly });
    return { startup, logger, source };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    main.error(err.message);
    main.error(`Corosync Cluster Engine exiting with status ${err.exitCode}.`);
    logger.close();
    throw new StartupError(err.exitCode, err.message, null);
  }
}

export interface DaemonOptions {
  /** A config file, or the text of one (with a name for messages). Default: built-in config. */
  configFile?: string;
  configText?: string;
  configName?: string;
  /** Choose the local nodelist entry by nodeid (several daemons on one host). */
  localNodeId?: number;
  /** Overrides of the host facts (tests). */
  env?: Partial<StartupEnv>;
  /** Run directory; default: COROSYNC_TS_RUN_DIR, then system.run_dir, then the default. */
  runDir?: string;
  /** State directory (ringid file); default: see resolveStateDir. */
  stateDir?: string;
  /** Where stderr log lines go (default: process.stderr). */
  stderr?: (line: string) => void;
  /** How a cfg KILLNODE ends the process (default process.exit). */
  exit?: (code: number) => void;
  /**
   * Apply corosync's process scheduling (system.sched_rr, priority, move_to_root_cgroup)
   * through this system; the `corosync-ts` daemon passes the real one, in-process nodes
   * (tests) leave the process's scheduling alone.
   */
  scheduling?: SchedulingSystem;
  /**
   * Lock the process's code in memory after the scheduling, as corosync locks its memory
   * (memory-lock.ts); the `corosync-ts` daemon passes the real system, tests leave it out.
   */
  memoryLock?: MemoryLockSystem;
}

/** A running node (in-process handle, used by runDaemon and by tests). */
export class Daemon {
  private statsTimer: NodeJS.Timeout | undefined;
  private schedMiss: SchedMissDetector | undefined;
  /** Cleanups to run on stop (timers the services asked for). */
  private readonly stopHooks: Array<() => void> = [];
  private stopped: Promise<void> | undefined;
  /** The libqb IPC transport beside our own (undefined when the addon is missing). */
  libqb: LibqbTransport | undefined;

  private constructor(
    readonly icmap: Icmap,
    readonly stats: StatsMap,
    readonly ipc: IpcServer,
    readonly logger: Logger,
    readonly runDir: string,
    readonly stateDir: string,
    private readonly pidFile: string,
    /** The totem stack (SRP + totempg + transport). */
    readonly totem: TotemRuntime,
    /** Exec routing, the sync protocol and the service engines. */
    readonly exec: ExecEngine,
    /** The main thread's SCHED_RR priority (system.sched_rr), or 0 when it runs SCHED_OTHER. */
    readonly rrPriority: number,
  ) {}

  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const stderr = opts.stderr ?? ((line: string) => void process.stderr.write(line));
    const syslog = openSyslogSink();
    const outputs: LogOutputs = {
      stderr,
      now: () => new Date(),
      pid: process.pid,
      hostname: hostname(),
      ...(syslog ? { syslog } : {}),
    };
    const { startup, logger, source } = loadConfig(opts, outputs, false);
    const icmap = new Icmap();
    installDefaultReadOnlyKeys(icmap);
    for (const [key, value] of startup.map) icmap.set(key, value.type, value.bytes);
    const main = logger.subsys('MAIN');
    if (source === 'builtin') main.notice('Using the built-in default configuration');
    else main.info(readSuccessMessage(source));
    for (const w of startup.warnings) main.warn(w);

    // corosync sets its scheduling after reading the config (system.priority was checked
    // with the startup map), before anything else starts
    let rrPriority = 0;
    if (opts.scheduling) {
      ({ rrPriority } = applyScheduling(
        {
          schedRr: icmap.getValue('system.sched_rr')?.value?.toString(),
          priority: icmap.getValue('system.priority')?.value?.toString(),
          moveToRootCgroup: icmap.getValue('system.move_to_root_cgroup')?.value?.toString(),
        },
        opts.scheduling,
        main,
      ));
    }
    // then its memory (corosync_mlockall), before the ring and the IPC start
    if (opts.memoryLock) lockDaemonMemory(opts.memoryLock, main);

    const runDir = resolveDaemonRunDir(opts.runDir ?? icmap.getValue('system.run_dir')?.value?.toString());
    try {
      mkdirSync(runDir, { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new StartupError(
        ExitCode.DIR_NOT_PRESENT,
        `Cannot create run directory ${runDir}. ${(err as Error).message}`,
      );
    }
    let pidFile: string;
    try {
      pidFile = acquirePidFile(runDir);
    } catch (err) {
      if (err instanceof AlreadyRunningError) throw new StartupError(ExitCode.ALREADY_RUNNING, err.message);
      throw err;
    }

    if (startup.totem.transport === 'knet') {
      releasePidFile(pidFile);
      throw new StartupError(
        ExitCode.MAINCONFIGREAD,
        'parse error in config: corosync-ts does not implement the knet transport; use transport: udpu or udp',
      );
    }
    const stateDir = opts.stateDir ?? resolveStateDir(icmap, runDir);
    let daemon: Daemon | undefined;
    try {
      writeRuntimeKeys(icmap);
      const stats = new StatsMap();
      const ipcLog = logger.subsys('IPC');
      const ipc = new IpcServer({
        runDir,
        logger: { debug: ipcLog.debug, info: ipcLog.info, warn: ipcLog.warn, error: ipcLog.error },
        stats,
        // corosync refuses IPC until its first sync completed (exec/main.c): TRY_AGAIN
        admit: () => (daemon?.exec.ready ? CsErrorCode.CS_OK : CsErrorCode.CS_ERR_TRY_AGAIN),
        // what a request handler queued (a cpg message, a votequorum poll) must reach totem
        // now: a held token is released by the hold-cancel this step may emit
        afterRequest: () => daemon?.totem.pump(),
        beforeTotemRequest: () => daemon?.totem.messageComing(),
      });
      const totemLog = logger.subsys('TOTEM');
      let transport: TotemTransport;
      try {
        transport = createTransport(startup.totem);
      } catch (err) {
        throw new StartupError(ExitCode.MAINCONFIGREAD, `parse error in config: ${(err as Error).message}`);
      }
      // the exec layer sends through totempg; totempg's up-calls go to the exec layer
      const exec: ExecEngine = new ExecEngine({
        nodeId: startup.totem.nodeId,
        icmap,
        log: logger.subsys('MAIN'),
        send: (group, iov, guarantee) => runtime.pg.mcastGroups([group], iov, guarantee),
      });
      const runtime: TotemRuntime = new TotemRuntime({
        totem: startup.totem,
        icmap,
        stats,
        logger: totemLog,
        stateDir,
        transport,
        onUpcall: (u) => {
          exec.handleUpcall(u);
          // corosync acks the transitional phase from inside the delivery that completes the
          // sync, so every node switches totempg's assembly list at the same point of the
          // agreed stream; waiting for the idle hook would let the rest of this batch be
          // reassembled with the old list on this node only (fragment chains break, FIFO gaps)
          daemon?.applyExecEffects();
        },
        idle: () => daemon?.runExec(),
      });
      const mainGroup = runtime.pg.createInstance({ label: 'main', confchg: true });
      runtime.pg.joinGroup(EXEC_GROUP_NAME, mainGroup);
      const syncGroup = runtime.pg.createInstance({ label: 'sync' });
      runtime.pg.joinGroup(SYNC_GROUP_NAME, syncGroup);

      daemon = new Daemon(icmap, stats, ipc, logger, runDir, stateDir, pidFile, runtime, exec, rrPriority);
      const d = daemon;
      // services in corosync's link order: cmap, cfg, cpg, (pload), votequorum, quorum
      exec.register(
        new CmapExecEngine({
          icmap,
          ipc: createCmapService({
            icmap: icmapIpcView(icmap),
            stats,
            handleChecks: randomHandleChecks,
            logger: logger.subsys('CMAP') as never,
          }),
          requestShutdown: (reason) => exec.requestShutdown(reason),
          log: logger.subsys('CMAP'),
        }),
      );
      const cfgLog = logger.subsys('CFG');
      exec.register(
        new CfgService({
          icmap,
          totem: startup.totem,
          timers: {
            set: (ms, fire) => setTimeout(fire, ms),
            clear: (h) => clearTimeout(h as NodeJS.Timeout),
          },
          requestShutdown: (reason) => exec.requestShutdown(reason),
          kill: (reason, from) => {
            logger.subsys('MAIN').error(`Killed by node ${from}: ${reason}`);
            (opts.exit ?? process.exit)(255);
          },
          reload: { read: () => readConfigSource(opts).parsed, env: startupEnv(opts) },
          applyReload: (applied) => {
            runtime.transportSetMembers(transportMembers(applied.totem));
            // corosync's totempg_put_config: the new timeouts are live at once
            runtime.reconfigure(applied.totem);
          },
          reopenLogFiles: () => {
            try {
              logger.reopen();
              return CsErrorCode.CS_OK;
            } catch {
              return CsErrorCode.CS_ERR_LIBRARY;
            }
          },
          log: cfgLog,
        }),
      );
      const cpgLog = logger.subsys('CPG');
      exec.register(
        new CpgService({
          random: randomHandleChecks,
          zeroCopy: () => new ZeroCopyBuffers(),
          logger: { debug: cpgLog.debug, info: cpgLog.info, warn: cpgLog.warn, error: cpgLog.error },
        }),
      );
      // quorum links votequorum from its init in corosync, so votequorum's keys come first
      const providerName = icmap.getValue('quorum.provider');
      let provider: VotequorumService | undefined;
      if (providerName !== undefined) {
        if (providerName.type !== CmapValueType.STRING || providerName.value !== 'corosync_votequorum') {
          throw new StartupError(ExitCode.SERVICE_ENGINE_INIT, 'Invalid quorum provider');
        }
        const vqLog = logger.subsys('VOTEQ');
        const vqTimers = new Map<string, NodeJS.Timeout>();
        const vq: VotequorumService = new VotequorumService({
          icmap,
          logger: vqLog,
          evTrackingStore: fileEvTrackingStore(stateDir),
          timers: {
            arm: (kind, ms) => {
              clearTimeout(vqTimers.get(kind));
              vqTimers.set(
                kind,
                setTimeout(() => {
                  vqTimers.delete(kind);
                  vq.timerExpired(kind);
                  runtime.pump();
                }, ms),
              );
            },
            disarm: (kind) => {
              clearTimeout(vqTimers.get(kind));
              vqTimers.delete(kind);
            },
          },
        });
        try {
          exec.register(vq);
        } catch (err) {
          throw new StartupError(ExitCode.SERVICE_ENGINE_INIT, (err as Error).message);
        }
        provider = vq;
        d.stopHooks.push(() => {
          for (const t of vqTimers.values()) clearTimeout(t);
        });
      }
      exec.register(
        new QuorumService({
          ...(provider ? { provider, providerName: 'corosync_votequorum' } : {}),
          log: logger.subsys('QUORUM'),
        }),
      );
      for (const service of exec.services()) if (service.ipc) ipc.registerService(service.ipc);
      d.trackLoggingChanges();
      d.trackTotemChanges();
      // the IPC endpoints exist before the ring starts, as corosync's do (it starts IPC when
      // totem reports its transport up, before the first membership): a one-node ring finishes
      // its first sync within milliseconds, and "ready to provide service" must not come
      // before a client can connect
      await ipc.listen();
      // --- libqb IPC transport (issue 7) ---
      d.libqb = await startLibqbTransport(
        ipc,
        {
          getString: (key) => {
            const v = icmap.getValue(key);
            return v?.type === CmapValueType.STRING ? String(v.value) : undefined;
          },
          getU8: (key) => {
            const v = icmap.getValue(key);
            return v?.type === CmapValueType.UINT8 ? Number(v.value) : undefined;
          },
        },
        { debug: ipcLog.debug, info: ipcLog.info, warn: ipcLog.warn, error: ipcLog.error },
      );
      // --- end libqb ---
      main.info(`IPC endpoints in ${runDir}, state in ${stateDir}`);
      totemLog.notice(`Initializing transport (${transportName(startup.totem.transport)}).`);
      try {
        await runtime.start();
      } catch (err) {
        throw new StartupError(
          ExitCode.FATAL_ERR,
          `Unable to start the totem transport: ${(err as Error).message}`,
        );
      }
      d.statsTimer = setInterval(() => {
        d.totem.updateDerivedStats();
        stats.poll();
      }, STATS_POLL_INTERVAL_MS);
      // "Corosync main process was not scheduled" detector (stats.schedmiss.*)
      const mainLog = logger.subsys('MAIN');
      d.schedMiss = new SchedMissDetector({
        monotonicNs: () => process.hrtime.bigint(),
        wallMs: () => Date.now(),
        warn: (msg) => mainLog.warn(msg),
        tokenTimeoutMs: () => {
          const v = icmap.getValue('runtime.config.totem.token');
          return v?.type === CmapValueType.UINT32 ? Number(v.value) : 1000;
        },
        setTimer: (ms, fn) => {
          const t = setTimeout(fn, Math.max(1, ms));
          return () => clearTimeout(t);
        },
        addEvent: (ts, delay) => stats.addSchedMiss(ts, delay),
      });
      d.schedMiss.start();
      return d;
    } catch (err) {
      if (daemon) await daemon.stop().catch(() => undefined);
      else releasePidFile(pidFile);
      throw err;
    }
  }

  /**
   * The exec layer's turn after each totem step: one sync "process" step, then the effects
   * (sync completion lets totem release the transitional queue; a shutdown request ends the node).
   */
  private runExec(): void {
    this.exec.runPending();
    this.applyExecEffects();
  }

  /** Act on the exec layer's effects (flow control, trans ack, shutdown requests). */
  private applyExecEffects(): void {
    const effects = this.exec.drain();
    // an index loop: a for-of over the (usually empty) list allocates an iterator each token visit
    for (let i = 0; i < effects.length; i++) {
      const e = effects[i]!;
      if (e.kind === 'sync-completed') {
        if (e.first) this.firstSyncResolve?.();
        // totempg leaves its transitional assemblies when the sync of the exec layer's current
        // ring completes — also when totemsrp, delivering that ring's last messages, is already
        // installing the next one (corosync's totempg_trans_ack is unconditional; skipping it
        // put the rest of the old ring's packets in the wrong assemblies: CPG simulator seed
        // 103). Now, not when the pump applies the effect: the deliveries left in this batch
        // already belong to the normal phase.
        if (ringIdEquals(e.ringId, this.exec.ringId)) this.totem.pg.setWaitingTransAck(false);
        // the SRP's trans ack only for its own ring: an older ring's must not end the new
        // ring's transitional phase
        if (ringIdEquals(e.ringId, this.totem.srp.ringId)) this.totem.srp.transAck();
      } else if (e.kind === 'shutdown-request') {
        this.logger.subsys('MAIN').notice(`Shutdown requested: ${e.reason}`);
        this.shutdownRequestedResolve?.(e.reason);
      }
    }
    this.recomputeFlowControl();
  }

  private queueCritical = false;
  private fcLevel = 0;
  private fcLevelVotequorum = 0;

  /**
   * IPC flow control as corosync recomputes it (services-exec.md §4.3): level 2 on every
   * service but votequorum while a sync runs, and on all of them while the totem send queue is
   * critical (≥ 75 % used; it stops being critical below 61 %, the start of corosync's HIGH
   * band). Flow-controlled clients get TRY_AGAIN and their requests wait in the server, so a
   * fast cpg sender is slowed down instead of losing messages to a full queue.
   */
  private recomputeFlowControl(): void {
    const used = this.totem.pg.queuePercentUsed();
    if (used >= 75) this.queueCritical = true;
    else if (used < 61) this.queueCritical = false;
    const level = this.exec.syncInProgress || this.queueCritical ? 2 : 0;
    const vqLevel = this.queueCritical ? 2 : 0;
    if (level !== this.fcLevel) {
      this.fcLevel = level;
      this.ipc.setFlowControl((name) => name !== 'votequorum', level);
    }
    if (vqLevel !== this.fcLevelVotequorum) {
      this.fcLevelVotequorum = vqLevel;
      this.ipc.setFlowControl((name) => name === 'votequorum', vqLevel);
    }
  }

  private firstSyncResolve: (() => void) | undefined;
  /**
   * Resolves when the first sync completed: from then on IPC clients are admitted (corosync
   * also tells systemd READY=1 at that point).
   */
  readonly firstSync = new Promise<void>((resolve) => (this.firstSyncResolve = resolve));

  private shutdownRequestedResolve: ((reason: string) => void) | undefined;
  /** Resolves when a service asks the node to shut down (e.g. cmap's config_version check). */
  readonly shutdownRequested = new Promise<string>((resolve) => (this.shutdownRequestedResolve = resolve));

  /** Re-read logging.* on every change, as corosync's logconfig does; errors are only logged. */
  private trackLoggingChanges(): void {
    const apply = () => {
      // a cfg reload rewrites many logging keys one by one: apply once, when it has finished
      const reloading = this.icmap.getValue('config.reload_in_progress');
      if (reloading?.type === CmapValueType.UINT8 && reloading.value === 1) return;
      try {
        this.logger.configure(readLoggingConfig(new Map(this.icmap.entries('logging.')) as ConfigMap));
      } catch (err) {
        this.logger.subsys('MAIN').error((err as Error).message);
      }
    };
    const all = TrackFlags.ADD | TrackFlags.DELETE | TrackFlags.MODIFY;
    this.icmap.trackAdd('logging.', all | TrackFlags.PREFIX, apply);
    this.icmap.trackAdd('config.reload_in_progress', TrackFlags.ADD | TrackFlags.MODIFY, apply);
  }

  /**
   * corosync's totem_change_notify: a `totem.*` key set, changed or deleted through cmap (outside
   * a cfg reload, which applies everything at its end) re-reads the volatile totem values, publishes
   * them as `runtime.config.totem.*` and hands them to the running SRP. An invalid result is
   * logged and still applied, as corosync does.
   */
  private trackTotemChanges(): void {
    const apply = (ev: TrackEvent): void => {
      const reloading = this.icmap.getValue('config.reload_in_progress');
      if (reloading?.type === CmapValueType.UINT8 && reloading.value === 1) return;
      const snapshot = new Map(this.icmap.entries('totem.')) as ConfigMap;
      const current = this.totem.totemConfig;
      const links = current.interfaces;
      const volatile = readVolatileConfig(
        snapshot,
        links[0]?.members.length ?? 0,
        ev.event === TrackFlags.DELETE ? ev.key : undefined,
      );
      const log = this.logger.subsys('TOTEM');
      log.debug('Totem related config key changed. Dumping actual totem config.');
      const error = validateVolatileConfig(volatile, links, snapshot);
      if (error) log.error(error);
      for (const [key, value] of snapshot) {
        if (!key.startsWith('runtime.config.')) continue;
        const live = this.icmap.get(key);
        if (!live || live.type !== value.type || !live.bytes.equals(value.bytes)) {
          this.icmap.set(key, value.type, value.bytes);
        }
      }
      this.totem.reconfigure({ ...current, ...volatile });
    };
    this.icmap.trackAdd(
      'totem.',
      TrackFlags.ADD | TrackFlags.DELETE | TrackFlags.MODIFY | TrackFlags.PREFIX,
      apply,
    );
  }

  /** Close every client connection, remove the endpoints and the pid file. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.statsTimer) clearInterval(this.statsTimer);
      this.schedMiss?.stop();
      for (const hook of this.stopHooks) hook();
      while (!this.exec.unloadServices()) await new Promise((r) => setImmediate(r));
      await this.totem.stop();
      await this.ipc.close();
      await this.libqb?.close(); // libqb IPC transport (issue 7)
      releasePidFile(this.pidFile);
      this.logger.subsys('MAIN').notice('Corosync Cluster Engine exiting normally');
      this.logger.close();
    })();
    return this.stopped;
  }
}

/** The host facts the config's startup processing uses (also for every cfg reload). */
function startupEnv(opts: DaemonOptions): StartupEnv {
  return systemStartupEnv({
    ...opts.env,
    ...(opts.localNodeId !== undefined ? { localNodeIdOverride: opts.localNodeId } : {}),
  });
}

/** Read the node's configuration source (startup and cfg reload); throws ConfigError. */
function readConfigSource(opts: DaemonOptions): { parsed: ConfigMap; source: string } {
  if (opts.configText !== undefined) {
    const name = opts.configName ?? '<config>';
    return { parsed: parseConfigText(opts.configText, name), source: name };
  }
  if (opts.configFile !== undefined)
    return { parsed: readConfigFile(opts.configFile), source: opts.configFile };
  return { parsed: parseConfigText(BUILTIN_CONFIG, '<built-in>'), source: 'builtin' };
}

function loadMainConfig(opts: DaemonOptions): { parsed: ConfigMap; source: string } {
  try {
    return readConfigSource(opts);
  } catch (err) {
    if (err instanceof ConfigError) throw new StartupError(err.exitCode, err.message);
    throw err;
  }
}

/** Where the ringid file lives: COROSYNC_TS_STATE_DIR, system.state_dir, corosync's default for root, else the run dir. */
export function resolveStateDir(icmap: Icmap, runDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.COROSYNC_TS_STATE_DIR;
  if (fromEnv) return fromEnv;
  const configured = icmap.getValue('system.state_dir');
  if (configured?.type === CmapValueType.STRING && configured.value) return configured.value;
  return process.getuid?.() === 0 ? '/var/lib/corosync' : runDir;
}

function transportName(t: string): string {
  return t === 'udpu' ? 'UDP/IP Unicast' : 'UDP/IP Multicast';
}

/** Keys corosync's main and service loader write at startup (cmap.md §6.2), for what we run. */
function writeRuntimeKeys(icmap: Icmap): void {
  // the exec layer writes internal_configuration.* and runtime.services.* as it links services
  for (const key of [
    'runtime.blackbox.dump_flight_data',
    'runtime.blackbox.dump_state',
    'runtime.force_gather',
  ]) {
    icmap.setValue(key, { type: CmapValueType.STRING, value: 'no' });
  }
}

/**
 * Resolve which config the daemon runs on: -c FILE, else /etc/corosync/corosync.conf when it
 * exists, else the built-in default (so a fresh machine starts a node with no setup).
 */
export function chooseConfig(args: DaemonArgs): Pick<DaemonOptions, 'configFile'> {
  if (args.useDefaultConfig) return {};
  if (args.configFile !== undefined) return { configFile: args.configFile };
  return existsSync(DEFAULT_CONFIG_PATH) ? { configFile: DEFAULT_CONFIG_PATH } : {};
}

/** `corosync -t`: check the config and exit, printing what corosync prints. */
function testConfig(args: DaemonArgs): number {
  const outputs: LogOutputs = {
    stderr: (line) => void process.stderr.write(line),
    now: () => new Date(),
    pid: process.pid,
    hostname: hostname(),
  };
  try {
    const { logger } = loadConfig(
      { ...chooseConfig(args), ...(args.localNodeId !== undefined ? { localNodeId: args.localNodeId } : {}) },
      outputs,
      true,
    );
    logger.subsys('MAIN').notice('Corosync Cluster Engine exiting normally');
    logger.close();
    return ExitCode.DONE;
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    if (err.stderrText !== undefined) process.stderr.write(err.stderrText);
    return err.exitCode;
  }
}

/** The daemon as a process: background start, signals, exit code. */
export async function runDaemon(args: DaemonArgs): Promise<number> {
  if (args.testOnly) return testConfig(args);
  if (!args.foreground && !isDaemonizedChild()) {
    return startInBackground(process.argv[1]!, process.argv.slice(2));
  }
  // signals are handled from here on, as corosync adds its handlers before totem starts: one
  // that comes while the node starts stops it as soon as it is up (a one-node ring can be ready
  // before Daemon.start returns)
  let daemon: Daemon | undefined;
  let signalled = false;
  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));
  const stopNode = (node: Daemon): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
    void node.stop().then(
      () => resolveStopped(ExitCode.DONE),
      () => resolveStopped(ExitCode.DONE),
    );
  };
  const shutDownBySignal = (node: Daemon): void => {
    node.logger.subsys('MAIN').notice('Node was shut down by a signal');
    stopNode(node);
  };
  const onSignal = (): void => {
    if (signalled) return;
    signalled = true;
    if (daemon) shutDownBySignal(daemon);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('SIGHUP', () => {
    // corosync ignores SIGHUP; so do we (a closed terminal must not stop the node).
  });
  try {
    daemon = await Daemon.start({
      ...chooseConfig(args),
      scheduling: processSchedulingSystem(),
      memoryLock: processMemoryLockSystem(),
      ...(args.localNodeId !== undefined ? { localNodeId: args.localNodeId } : {}),
    });
  } catch (err) {
    for (const s of SIGNALS) process.off(s, onSignal);
    if (err instanceof StartupError) {
      if (err.stderrText !== undefined) process.stderr.write(err.stderrText);
      reportStartup({ ready: false, exitCode: err.exitCode, message: err.stderrText ?? `${err.message}\n` });
      return err.exitCode;
    }
    throw err;
  }
  const node = daemon;
  if (signalled) shutDownBySignal(node);
  void node.shutdownRequested.then(() => stopNode(node));
  const first = await Promise.race([node.firstSync.then(() => 'up'), stopped.then(() => 'stopped')]);
  if (first === 'up') {
    reportStartup({ ready: true, pid: process.pid });
    const stopUpkeep = startMemoryUpkeep(node.rrPriority > 0, node.logger.subsys('MAIN'));
    if (stopUpkeep) void stopped.then(stopUpkeep);
  }
  return stopped;
}

/**
 * Checked 4× a second; 8 MiB of growth (a few hundred 16 KiB messages in flight) trims; 5 s
 * below 2 % of a CPU with 1 MiB more than the last quiet-time collection left collects (a full
 * GC of the idle daemon's ~8 MiB heap takes a few ms; CPG traffic of even 100 messages a second
 * keeps a daemon above 2 %).
 */
const HEAP_TRIM = {
  periodMs: 250,
  growthBytes: 8 * 1024 * 1024,
  quiet: { quietUs: 5_000_000, quietCpuFraction: 0.02, idleGrowthBytes: 1024 * 1024 },
  // V8's limit for its own (atomic) full collection is ~2-3 MiB above what the last one left
  // in a heap this small (measured: 4.6 MB after start-up, an atomic mark-compact at 7.1 MB
  // under CPG latency load, bench/README.md item 42); a CPG latency load keeps a daemon at
  // 10-20 % of a CPU, a throughput burst near 100 %, where V8 is left to its own pace
  mark: { growthBytes: 1024 * 1024, maxCpuFraction: 0.5 },
};

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGQUIT'];

/**
 * Once the node is up: one full collection (the start-up garbage: config parsing, module
 * compilation) and malloc_trim, so the idle daemon does not keep the C heap and V8 pages
 * start-up needed; then the periodic trims and quiet-time collections (src/daemon/heap-trim.ts).
 *
 * A quiet-time collection runs with the main thread at SCHED_OTHER when it is real-time
 * (`realTime`), and returns to SCHED_RR after it. The three daemons of a cluster fall quiet
 * together, and their collections (a few ms of full GC each, and malloc_trim) on real-time
 * threads took both CPUs of a 2-vCPU machine from everything else: another cluster's CPG
 * messages were late for a few hundred milliseconds after each of our bursts, its latency p99
 * 1.6–1.8× as high (bench/README.md item 36). At SCHED_OTHER the collection waits for real-time
 * work and shares the CPU with the rest. The quiet-time collection itself is incremental
 * (`incrementalCollection` below) when the addon has it, so a token that comes in meanwhile
 * waits for a marking step, not for the whole collection.
 *
 * The start-up collection (and the quiet-time one without the incremental call) is V8's
 * low-memory notification through the addon when it has it: start-up
 * grows the young generation (its survivors are long-lived), and a full GC (`gc`, exposed by
 * the daemon's --expose-gc, src/daemon/node-flags.ts) keeps it at that size. Measured on one
 * node of the default config: new space 4 MiB with 3.3 MiB resident after gc(), 1 MiB with
 * 0.3 MiB after the notification, the daemon's RSS 57.1 → 53.9 MiB; 3-node quick bench, three
 * alternated rounds: RSS 1 s after start 56.0 → 52.9 MiB, idle 54.0 → 52.8 MiB, CPG latency
 * the same within the runs' spread. `gc` remains the fallback without the addon. Returns the
 * stop function (undefined without the addon).
 */
function startMemoryUpkeep(realTime: boolean, log: SubsysLogger): (() => void) | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  const addon = loadQbNative();
  const lowMemory = addon.ok ? addon.native.lowMemoryNotification?.bind(addon.native) : undefined;
  const collect = lowMemory ? (): void => void lowMemory() : gc;
  collect?.();
  if (!addon.ok) return undefined;
  const { native } = addon;
  const trim = (): void => void native.mallocTrim();
  trim();
  const schedSetOther = native.schedSetOther?.bind(native);
  const policy = schedSetOther ? { schedSetOther, schedSetRr: () => native.schedSetRr() } : undefined;
  const quietly =
    realTime && policy ? (work: () => void): void => atNormalPolicy(policy, log, work) : undefined;
  const incremental = incrementalCollection(native, realTime ? policy : undefined, log);
  // a collection under light load stays at the daemon's scheduling: its ~0.1 ms steps run
  // between the ring's work, and at SCHED_OTHER the daemon's tokens would wait for clients
  const startMark = native.collectIncrementally?.bind(native);
  const oldGrowth = native.oldGenerationGrowth?.bind(native);
  const mark = startMark && oldGrowth ? (): void => void startMark(false) : undefined;
  return startHeapTrimmer(
    {
      trim,
      ...(collect ? { collect } : {}),
      ...(quietly ? { quietly } : {}),
      ...(incremental ? { incremental } : {}),
      ...(mark ? { mark } : {}),
    },
    HEAP_TRIM,
    processHeapProbe(native.pageSize, mark ? oldGrowth : undefined),
  );
}

/**
 * The quiet-time collection as V8's incremental marking (the addon's `collectIncrementally`):
 * the low-memory notification's two full collections stopped the daemon for 15-25 ms, and
 * when traffic came back just then the ring waited for it (CPG messages 6-20 ms late at every
 * node, bench/README.md item 41); incremental marking advances in ~0.1 ms steps between the
 * event loop's tasks and ends in a 1-1.5 ms pause, giving back the same memory.
 *
 * A real-time daemon (`policy`) runs at SCHED_OTHER while it marks, as the atomic collection
 * did (item 36: housekeeping must not take CPUs from other real-time work); the addon puts it
 * back to SCHED_RR in V8's epilogue of that collection, and the first check after it puts it
 * there again if that failed (logged). Undefined without the addon's calls.
 */
function incrementalCollection(
  native: QbNative,
  policy: PolicySwitch | undefined,
  log: SubsysLogger,
): IncrementalCollection | undefined {
  const start = native.collectIncrementally?.bind(native);
  const count = native.fullGcCount?.bind(native);
  const cancel = native.cancelRrRestore?.bind(native);
  if (!start || !count || !cancel) return undefined;
  let before = 0;
  let lowered = false;
  const raise = (): void => {
    if (!lowered || !policy) return;
    lowered = false;
    backToRealTime(policy, log);
  };
  return {
    start: () => {
      lowered = policy !== undefined && policy.schedSetOther() >= 0;
      before = count();
      if (start(lowered) === 1) return true;
      cancel();
      raise();
      return false;
    },
    done: () => {
      if (count() === before) return false;
      raise(); // the addon did it at the collection's end: this checks it (one system call)
      return true;
    },
    abandon: () => {
      cancel();
      raise();
    },
  };
}

/** Remove a run directory a test created (helper for tests and tools). */
export function removeRunDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
