/**
 * Logging with corosync's configuration keys (logging.* and logging.logger_subsys.<S>.*),
 * its line formats and its validation messages (exec/logconfig.c, exec/logsys.c).
 *
 * Line formats, as corosync sets them up through libqb:
 *   stderr:  [<timestamp> ]<priority padded to 7> [<subsys padded to 6>] <message>
 *   logfile: [<timestamp> ][<pid>] <hostname> corosync <priority padded to 7> [<subsys>] <message>
 * timestamp "on" is `Mon DD HH:MM:SS`, "hires" adds `.mmm`.
 *
 * syslog output is accepted in the configuration but not written: Node has no datagram unix
 * sockets, so `to_syslog: yes` is logged once as unsupported (see README feature table).
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export const PRIORITIES = [
  'emerg',
  'alert',
  'crit',
  'err',
  'warning',
  'notice',
  'info',
  'debug',
  'trace',
] as const;
export type PriorityName = (typeof PRIORITIES)[number];

/** libqb/syslog numbers: emerg 0 … debug 7, trace 8 (LOG_TRACE). */
export const Priority: Record<PriorityName, number> = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
  trace: 8,
};

/** The names logconfig accepts for *_priority keys (no "trace"). */
const CONFIG_PRIORITIES = ['alert', 'crit', 'debug', 'emerg', 'err', 'info', 'notice', 'warning'];
const SYSLOG_FACILITIES = [
  'daemon',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
];

export type DebugMode = 'off' | 'on' | 'trace';

/** Settings that can differ per subsystem. */
export interface SubsysLogSettings {
  toStderr: boolean;
  toLogfile: boolean;
  toSyslog: boolean;
  logfile: string | undefined;
  logfilePriority: number;
  syslogPriority: number;
  syslogFacility: string;
  debug: DebugMode;
}

export interface LoggingConfig {
  timestamp: 'off' | 'on' | 'hires';
  fileline: boolean;
  functionName: boolean;
  blackbox: boolean;
  /** Top-level settings, inherited by every subsystem. */
  global: SubsysLogSettings;
  /** Per-subsystem overrides from logging.logger_subsys.<SUBSYS>.* (subsys names as written). */
  subsys: Map<string, SubsysLogSettings>;
  /** Deprecation warnings to log once the logger runs. */
  warnings: string[];
}

/** A read-only view of the keys logging reads: the string value of a key, if it is a string. */
export type StringLookup = (key: string) => string | undefined;

export class LoggingConfigError extends Error {}

function onOff(value: string | undefined, key: string, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new LoggingConfigError(`unknown value for ${key}`);
}

function destination(get: StringLookup, path: string, key: string, dflt: boolean): boolean {
  const value = get(`${path}.${key}`);
  if (value === undefined) return dflt;
  if (value === 'yes' || value === 'on') return true;
  if (value === 'no' || value === 'off') return false;
  throw new LoggingConfigError(`unknown value for ${key}`);
}

function readSettings(
  get: StringLookup,
  path: string,
  inherit: SubsysLogSettings,
  warnings: string[],
): SubsysLogSettings {
  const s: SubsysLogSettings = { ...inherit };
  s.toStderr = destination(get, path, 'to_stderr', inherit.toStderr);
  s.toSyslog = destination(get, path, 'to_syslog', inherit.toSyslog);

  const facility = get(`${path}.syslog_facility`);
  if (facility !== undefined) {
    if (!SYSLOG_FACILITIES.includes(facility))
      throw new LoggingConfigError('unknown syslog facility specified');
    s.syslogFacility = facility;
  }
  const level = get(`${path}.syslog_level`);
  if (level !== undefined) {
    warnings.push(
      'Warning: the syslog_level config parameter has been obsoleted. See corosync.conf man page syslog_priority directive.',
    );
    if (!CONFIG_PRIORITIES.includes(level)) throw new LoggingConfigError('unknown syslog level specified');
    s.syslogPriority = Priority[level as PriorityName];
  }
  const sprio = get(`${path}.syslog_priority`);
  if (sprio !== undefined) {
    if (!CONFIG_PRIORITIES.includes(sprio)) throw new LoggingConfigError('unknown syslog priority specified');
    s.syslogPriority = Priority[sprio as PriorityName];
  }
  const logfile = get(`${path}.logfile`);
  if (logfile !== undefined) s.logfile = logfile;

  if (get(`${path}.to_file`) !== undefined) {
    warnings.push(
      'Warning: the to_file config parameter has been obsoleted. See corosync.conf man page to_logfile directive.',
    );
    s.toLogfile = destination(get, path, 'to_file', inherit.toLogfile);
  }
  s.toLogfile = destination(get, path, 'to_logfile', s.toLogfile);

  const fprio = get(`${path}.logfile_priority`);
  if (fprio !== undefined) {
    if (!CONFIG_PRIORITIES.includes(fprio))
      throw new LoggingConfigError('unknown logfile priority specified');
    s.logfilePriority = Priority[fprio as PriorityName];
  }
  const debug = get(`${path}.debug`);
  if (debug === undefined) s.debug = 'off';
  else if (debug === 'on' || debug === 'off' || debug === 'trace') s.debug = debug;
  else throw new LoggingConfigError('unknown value for debug');
  return s;
}

/**
 * Read and validate the logging configuration. `subsysNames` lists the SUBSYS parts of every
 * `logging.logger_subsys.<SUBSYS>.subsys` key. Throws LoggingConfigError with corosync's reason.
 */
export function readLoggingConfig(get: StringLookup, subsysNames: readonly string[]): LoggingConfig {
  const warnings: string[] = [];
  const timestampValue = get('logging.timestamp');
  let timestamp: LoggingConfig['timestamp'] = 'hires';
  if (timestampValue !== undefined) {
    if (timestampValue === 'on' || timestampValue === 'hires' || timestampValue === 'off')
      timestamp = timestampValue;
    else throw new LoggingConfigError('unknown value for timestamp');
  }
  const fileline = onOff(get('logging.fileline'), 'fileline', false);
  const functionName = onOff(get('logging.function_name'), 'function_name', false);
  const blackbox = onOff(get('logging.blackbox'), 'blackbox', true);
  const base: SubsysLogSettings = {
    toStderr: true,
    toLogfile: false,
    toSyslog: true,
    logfile: undefined,
    logfilePriority: Priority.info,
    syslogPriority: Priority.info,
    syslogFacility: 'daemon',
    debug: 'off',
  };
  const global = readSettings(get, 'logging', base, warnings);
  const subsys = new Map<string, SubsysLogSettings>();
  for (const name of subsysNames) {
    subsys.set(name, readSettings(get, `logging.logger_subsys.${name}`, global, warnings));
  }
  return { timestamp, fileline, functionName, blackbox, global, subsys, warnings };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** libqb's %t / %T timestamp in local time: "Nov 21 02:30:00" / "Nov 21 02:30:00.123". */
export function formatTimestamp(date: Date, hires: boolean): string {
  const base = `${MONTHS[date.getMonth()]} ${pad2(date.getDate())} ${pad2(date.getHours())}:${pad2(
    date.getMinutes(),
  )}:${pad2(date.getSeconds())}`;
  if (!hires) return base;
  return `${base}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

export interface LogOutputs {
  /** Where stderr lines go (the process's stderr by default; tests capture it). */
  stderr: (line: string) => void;
  now: () => Date;
  pid: number;
  hostname: string;
}

/** The small interface every component takes: it never sees files or configuration. */
export interface SubsysLogger {
  error(msg: string): void;
  warn(msg: string): void;
  notice(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
}

/** One logger per daemon; subsystems (MAIN, TOTEM, QUORUM, CMAP, …) share its outputs. */
export class Logger {
  private config: LoggingConfig;
  private readonly files = new Map<string, number>();
  private syslogNoted = false;

  constructor(
    private readonly outputs: LogOutputs,
    config?: LoggingConfig,
  ) {
    this.config = config ?? readLoggingConfig(() => undefined, []);
  }

  /** Apply a new configuration (startup and every logging.* change). Opens log files as needed. */
  configure(config: LoggingConfig): void {
    const wanted = new Set<string>();
    for (const s of [config.global, ...config.subsys.values()]) {
      if (s.toLogfile && s.logfile) wanted.add(s.logfile);
    }
    for (const path of wanted) {
      if (this.files.has(path)) continue;
      try {
        this.files.set(path, openSync(path, 'a', 0o600));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new LoggingConfigError(
          `Can't open logfile '${path}' for reason: ${e.message} (${e.errno ?? 0})`,
        );
      }
    }
    for (const [path, fd] of this.files) {
      if (!wanted.has(path)) {
        closeSync(fd);
        this.files.delete(path);
      }
    }
    this.config = config;
    for (const w of config.warnings) this.log('MAIN', Priority.warning, w);
    if (!this.syslogNoted && config.global.toSyslog) {
      this.syslogNoted = true;
      this.log(
        'MAIN',
        Priority.debug,
        'to_syslog is not supported by corosync-ts; syslog output is disabled',
      );
    }
  }

  close(): void {
    for (const fd of this.files.values()) closeSync(fd);
    this.files.clear();
  }

  private settingsFor(subsys: string): SubsysLogSettings {
    return this.config.subsys.get(subsys) ?? this.config.global;
  }

  /** True when a message of this priority would be written anywhere (cheap guard for hot paths). */
  enabled(subsys: string, priority: number): boolean {
    const s = this.settingsFor(subsys);
    return (
      priority <= threshold(s, s.logfilePriority) && (s.toStderr || (s.toLogfile && s.logfile !== undefined))
    );
  }

  log(subsys: string, priority: number, message: string): void {
    const s = this.settingsFor(subsys);
    if (priority > threshold(s, s.logfilePriority)) return;
    if (!s.toStderr && !(s.toLogfile && s.logfile)) return;
    const cfg = this.config;
    const ts =
      cfg.timestamp === 'off' ? '' : `${formatTimestamp(this.outputs.now(), cfg.timestamp === 'hires')} `;
    const body = `${(PRIORITIES[priority] ?? 'trace').padEnd(7)} [${subsys.padEnd(6)}] ${message}`;
    if (s.toStderr) this.outputs.stderr(`${ts}${body}\n`);
    if (s.toLogfile && s.logfile) {
      const fd = this.files.get(s.logfile);
      if (fd !== undefined) {
        writeSync(fd, `${ts}[${this.outputs.pid}] ${this.outputs.hostname} corosync ${body}\n`);
      }
    }
  }

  subsys(name: string): SubsysLogger {
    return {
      error: (m) => this.log(name, Priority.err, m),
      warn: (m) => this.log(name, Priority.warning, m),
      notice: (m) => this.log(name, Priority.notice, m),
      info: (m) => this.log(name, Priority.info, m),
      debug: (m) => this.log(name, Priority.debug, m),
      trace: (m) => this.log(name, Priority.trace, m),
    };
  }
}

/** The most verbose priority written: debug on/trace lower the configured floor. */
function threshold(s: SubsysLogSettings, configured: number): number {
  if (s.debug === 'trace') return Priority.trace;
  if (s.debug === 'on') return Math.max(configured, Priority.debug);
  return configured;
}
