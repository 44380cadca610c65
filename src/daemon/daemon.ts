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
import { TrackFlags } from '../cmap/map.js';
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
  systemStartupEnv,
  type ConfigMap,
  type StartupEnv,
  type StartupResult,
} from '../config/index.js';
import { IpcServer } from '../ipc/server.js';
import { CMAP_SERVICE_ID, CMAP_SERVICE_NAME, createCmapService } from '../services/cmap/service.js';
import { COROSYNC_COMPAT_VERSION, VERSION } from '../version.js';
import type { DaemonArgs } from '../cli/daemon-args.js';
import { isDaemonizedChild, reportStartup, startInBackground } from './background.js';
import { Logger, type LogOutputs } from './logging.js';
import { AlreadyRunningError, acquirePidFile, releasePidFile } from './pidfile.js';
import { TotemRuntime } from './totem-runtime.js';
import { createTransport, type TotemTransport } from '../transport/index.js';
import type { SrpConfChg } from '../totem/srp.js';
import { CsErrorCode } from '../common/errors.js';

export const ExitCode = {
  DONE: 0,
  LOGCONFIGREAD: 7,
  MAINCONFIGREAD: 8,
  FATAL_ERR: 15,
  DIR_NOT_PRESENT: 16,
  ALREADY_RUNNING: 18,
} as const;

/** corosync refreshes its stats (and polls stats trackers) every 1.5 s. */
export const STATS_POLL_INTERVAL_MS = 1500;

/** A startup failure with corosync's exit code and the text it prints. */
export class StartupError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    /** The text exactly as it goes to stderr when nothing logged it yet (corosync's newline rules). */
    readonly stderrText: string | undefined = `${message}\n`,
  ) {
    super(message);
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
    const startup = buildStartupMap(
      parsed,
      systemStartupEnv({
        ...opts.env,
        ...(opts.localNodeId !== undefined ? { localNodeIdOverride: opts.localNodeId } : {}),
        testOnly,
      }),
    );
    return { startup, logger, source };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    main.error(err.message);
    main.error(`Corosync Cluster Engine exiting with status ${err.exitCode}.`);
    logger.close();
    throw new StartupError(err.exitCode, err.message, undefined);
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
}

/** A running node (in-process handle, used by runDaemon and by tests). */
export class Daemon {
  private statsTimer: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;

  /** True once the first configuration is in place (corosync: the first sync completed). */
  private ready = false;
  private totemRuntime: TotemRuntime | undefined;

  private constructor(
    readonly icmap: Icmap,
    readonly stats: StatsMap,
    readonly ipc: IpcServer,
    readonly logger: Logger,
    readonly runDir: string,
    readonly stateDir: string,
    private readonly pidFile: string,
  ) {}

  /** The totem stack (SRP + totempg + transport). */
  get totem(): TotemRuntime {
    if (!this.totemRuntime) throw new Error('totem is not running');
    return this.totemRuntime;
  }

  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const stderr = opts.stderr ?? ((line: string) => void process.stderr.write(line));
    const outputs: LogOutputs = { stderr, now: () => new Date(), pid: process.pid, hostname: hostname() };
    const { startup, logger, source } = loadConfig(opts, outputs, false);
    const icmap = new Icmap();
    installDefaultReadOnlyKeys(icmap);
    for (const [key, value] of startup.map) icmap.set(key, value.type, value.bytes);
    const main = logger.subsys('MAIN');
    if (source === 'builtin') main.notice('Using the built-in default configuration');
    else main.info(readSuccessMessage(source));
    for (const w of startup.warnings) main.warn(w);

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
        admit: () => (daemon?.ready ? CsErrorCode.CS_OK : CsErrorCode.CS_ERR_TRY_AGAIN),
      });
      ipc.registerService(
        createCmapService({ icmap: icmapIpcView(icmap), stats, logger: logger.subsys('CMAP') as never }),
      );
      daemon = new Daemon(icmap, stats, ipc, logger, runDir, stateDir, pidFile);
      const d = daemon;
      d.trackLoggingChanges();
      const totemLog = logger.subsys('TOTEM');
      let transport: TotemTransport;
      try {
        transport = createTransport(startup.totem);
      } catch (err) {
        throw new StartupError(ExitCode.MAINCONFIGREAD, `parse error in config: ${(err as Error).message}`);
      }
      d.totemRuntime = new TotemRuntime({
        totem: startup.totem,
        icmap,
        stats,
        logger: totemLog,
        stateDir,
        transport,
        onConfchg: (c) => d.configurationChanged(c),
      });
      main.info(`IPC endpoints in ${runDir}, state in ${stateDir}`);
      totemLog.notice(`Initializing transport (${transportName(startup.totem.transport)}).`);
      try {
        await d.totemRuntime.start();
      } catch (err) {
        throw new StartupError(
          ExitCode.FATAL_ERR,
          `Unable to start the totem transport: ${(err as Error).message}`,
        );
      }
      await ipc.listen();
      d.statsTimer = setInterval(() => stats.poll(), STATS_POLL_INTERVAL_MS);
      return d;
    } catch (err) {
      if (daemon) await daemon.stop().catch(() => undefined);
      else releasePidFile(pidFile);
      throw err;
    }
  }

  /**
   * A configuration change from totem. Services and their sync protocol arrive with the exec
   * layer; until then the (empty) synchronisation completes at once, which is when corosync
   * lets totem leave its transitional queue and admits IPC clients.
   */
  private configurationChanged(c: SrpConfChg): void {
    if (c.type !== 'regular') return;
    this.totem.srp.transAck();
    this.logger.subsys('QUORUM').notice(`Members[${c.members.length}]: ${c.members.join(' ')}`);
    this.logger.subsys('MAIN').notice('Completed service synchronization, ready to provide service.');
    this.ready = true;
  }

  /** Re-read logging.* on every change, as corosync's logconfig does; errors are only logged. */
  private trackLoggingChanges(): void {
    const apply = () => {
      try {
        this.logger.configure(readLoggingConfig(new Map(this.icmap.entries('logging.')) as ConfigMap));
      } catch (err) {
        this.logger.subsys('MAIN').error((err as Error).message);
      }
    };
    this.icmap.trackAdd(
      'logging.',
      TrackFlags.ADD | TrackFlags.DELETE | TrackFlags.MODIFY | TrackFlags.PREFIX,
      apply,
    );
  }

  /** Close every client connection, remove the endpoints and the pid file. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.statsTimer) clearInterval(this.statsTimer);
      await this.totemRuntime?.stop();
      await this.ipc.close();
      releasePidFile(this.pidFile);
      this.logger.subsys('MAIN').notice('Corosync Cluster Engine exiting normally');
      this.logger.close();
    })();
    return this.stopped;
  }
}

function loadMainConfig(opts: DaemonOptions): { parsed: ConfigMap; source: string } {
  try {
    if (opts.configText !== undefined) {
      const name = opts.configName ?? '<config>';
      return { parsed: parseConfigText(opts.configText, name), source: name };
    }
    if (opts.configFile !== undefined)
      return { parsed: readConfigFile(opts.configFile), source: opts.configFile };
    return { parsed: parseConfigText(BUILTIN_CONFIG, '<built-in>'), source: 'builtin' };
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
  icmap.setValue(`internal_configuration.service.${CMAP_SERVICE_ID}.name`, {
    type: CmapValueType.STRING,
    value: 'corosync_cmap',
  });
  icmap.setValue(`internal_configuration.service.${CMAP_SERVICE_ID}.ver`, {
    type: CmapValueType.UINT32,
    value: 0,
  });
  icmap.setValue(`runtime.services.${CMAP_SERVICE_NAME}.service_id`, {
    type: CmapValueType.UINT16,
    value: CMAP_SERVICE_ID,
  });
  icmap.setValue(`runtime.services.${CMAP_SERVICE_NAME}.0.tx`, { type: CmapValueType.UINT64, value: 0n });
  icmap.setValue(`runtime.services.${CMAP_SERVICE_NAME}.0.rx`, { type: CmapValueType.UINT64, value: 0n });
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
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({
      ...chooseConfig(args),
      ...(args.localNodeId !== undefined ? { localNodeId: args.localNodeId } : {}),
    });
  } catch (err) {
    if (err instanceof StartupError) {
      if (err.stderrText !== undefined) process.stderr.write(err.stderrText);
      reportStartup({ ready: false, exitCode: err.exitCode, message: err.stderrText ?? `${err.message}\n` });
      return err.exitCode;
    }
    throw err;
  }
  reportStartup({ ready: true, pid: process.pid });
  return new Promise<number>((resolve) => {
    const onSignal = () => {
      for (const s of SIGNALS) process.off(s, onSignal);
      daemon.logger.subsys('MAIN').notice('Node was shut down by a signal');
      daemon.stop().then(
        () => resolve(ExitCode.DONE),
        () => resolve(ExitCode.DONE),
      );
    };
    for (const s of SIGNALS) process.on(s, onSignal);
    process.on('SIGHUP', () => {
      // corosync ignores SIGHUP; so do we (a closed terminal must not stop the node).
    });
  });
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGQUIT'];

/** Remove a run directory a test created (helper for tests and tools). */
export function removeRunDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
