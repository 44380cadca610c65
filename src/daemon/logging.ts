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
import type { LoggerSettings, LoggingConfig } from '../config/logging.js';

export type { LoggingConfig } from '../config/logging.js';

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

/** A log file that cannot be opened (corosync's logsys message). */
export class LogfileError extends Error {}

/** Effective settings of one subsystem: its own values, the top level's where it sets none. */
interface EffectiveSettings {
  toStderr: boolean;
  toLogfile: boolean;
  logfile: string | undefined;
  logfilePriority: number;
  debug: LoggerSettings['debug'];
}

function resolveSettings(config: LoggingConfig): {
  global: EffectiveSettings;
  subsys: Map<string, EffectiveSettings>;
} {
  const top = config.main;
  const global: EffectiveSettings = {
    toStderr: top.toStderr ?? true,
    toLogfile: top.toLogfile ?? false,
    logfile: top.logfile,
    logfilePriority: top.logfilePriority ?? Priority.info,
    debug: top.debug,
  };
  const subsys = new Map<string, EffectiveSettings>();
  for (const s of config.subsystems) {
    if (s.subsys === undefined) continue;
    subsys.set(s.subsys, {
      toStderr: s.toStderr ?? global.toStderr,
      toLogfile: s.toLogfile ?? global.toLogfile,
      logfile: s.logfile ?? global.logfile,
      logfilePriority: s.logfilePriority ?? global.logfilePriority,
      debug: s.debug,
    });
  }
  return { global, subsys };
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
  private timestamp: LoggingConfig['timestamp'] = 'hires';
  private global: EffectiveSettings = {
    toStderr: true,
    toLogfile: false,
    logfile: undefined,
    logfilePriority: Priority.info,
    debug: 'off',
  };
  private perSubsys = new Map<string, EffectiveSettings>();
  private readonly files = new Map<string, number>();
  private syslogNoted = false;

  constructor(private readonly outputs: LogOutputs) {}

  /**
   * Apply a validated configuration (startup and every logging.* change). Opens and closes log
   * files as needed; throws LogfileError when a file cannot be opened (nothing changes then).
   */
  configure(config: LoggingConfig): void {
    const { global, subsys } = resolveSettings(config);
    const wanted = new Set<string>();
    for (const s of [global, ...subsys.values()]) {
      if (s.toLogfile && s.logfile) wanted.add(s.logfile);
    }
    const opened: Array<[string, number]> = [];
    for (const path of wanted) {
      if (this.files.has(path)) continue;
      try {
        opened.push([path, openSync(path, 'a', 0o600)]);
      } catch (err) {
        for (const [, fd] of opened) closeSync(fd);
        const e = err as NodeJS.ErrnoException;
        throw new LogfileError(`Can't open logfile '${path}' for reason: ${e.message} (${-(e.errno ?? 0)})`);
      }
    }
    for (const [path, fd] of opened) this.files.set(path, fd);
    for (const [path, fd] of this.files) {
      if (!wanted.has(path)) {
        closeSync(fd);
        this.files.delete(path);
      }
    }
    this.timestamp = config.timestamp;
    this.global = global;
    this.perSubsys = subsys;
    if (!this.syslogNoted && config.main.toSyslog) {
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

  /** Reopen every log file (cfg REOPEN_LOG_FILES, e.g. after logrotate moved them). */
  reopen(): void {
    for (const [path, fd] of this.files) {
      closeSync(fd);
      this.files.set(path, openSync(path, 'a', 0o600));
    }
  }

  private settingsFor(subsys: string): EffectiveSettings {
    return this.perSubsys.get(subsys) ?? this.global;
  }

  /** True when a message of this priority would be written anywhere (cheap guard for hot paths). */
  enabled(subsys: string, priority: number): boolean {
    const s = this.settingsFor(subsys);
    return priority <= threshold(s) && (s.toStderr || (s.toLogfile && s.logfile !== undefined));
  }

  log(subsys: string, priority: number, message: string): void {
    const s = this.settingsFor(subsys);
    if (priority > threshold(s)) return;
    if (!s.toStderr && !(s.toLogfile && s.logfile)) return;
    const ts =
      this.timestamp === 'off' ? '' : `${formatTimestamp(this.outputs.now(), this.timestamp === 'hires')} `;
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
function threshold(s: EffectiveSettings): number {
  const configured = s.logfilePriority;
  if (s.debug === 'trace') return Priority.trace;
  if (s.debug === 'on') return Math.max(configured, Priority.debug);
  return configured;
}
