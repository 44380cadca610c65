/**
 * Logging with corosync's configuration keys (logging.* and logging.logger_subsys.<S>.*),
 * its line formats and its validation messages (exec/logconfig.c, exec/logsys.c).
 *
 * Line formats, as corosync sets them up through libqb:
 *   stderr:  [<timestamp> ]<priority padded to 7> [<subsys padded to 6>] <message>
 *   logfile: [<timestamp> ][<pid>] <hostname> corosync <priority padded to 7> [<subsys>] <message>
 * timestamp "on" is `Mon DD HH:MM:SS`, "hires" adds `.mmm`.
 *
 *   syslog:  <PRI>Mmm dd hh:mm:ss corosync[<pid>]:  [<subsys padded to 6>] <message>
 *            (glibc's syslog(3) framing; sent through the sink the daemon injects)
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
  toSyslog: boolean;
  syslogPriority: number;
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
    // corosync's defaults: to_syslog yes, syslog_priority info
    toSyslog: top.toSyslog ?? true,
    syslogPriority: top.syslogPriority ?? Priority.info,
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
      toSyslog: s.toSyslog ?? global.toSyslog,
      syslogPriority: s.syslogPriority ?? global.syslogPriority,
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
  /** Where syslog datagrams go (src/daemon/syslog.ts); none: to_syslog writes nothing. */
  syslog?: (datagram: string) => void;
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
    toSyslog: false, // until the configuration is read
    syslogPriority: Priority.info,
    logfilePriority: Priority.info,
    debug: 'off',
  };
  private perSubsys = new Map<string, EffectiveSettings>();
  private readonly files = new Map<string, number>();
  private syslogFacility = SYSLOG_FACILITY_CODES.daemon;

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
    this.syslogFacility = SYSLOG_FACILITY_CODES[config.main.syslogFacility] ?? SYSLOG_FACILITY_CODES.daemon;
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
    return (
      (priority <= threshold(s) && (s.toStderr || (s.toLogfile && s.logfile !== undefined))) ||
      this.syslogWanted(s, priority)
    );
  }

  log(subsys: string, priority: number, message: string): void {
    const s = this.settingsFor(subsys);
    if (this.syslogWanted(s, priority)) this.toSyslog(subsys, priority, message);
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

  private syslogWanted(s: EffectiveSettings, priority: number): boolean {
    return s.toSyslog && this.outputs.syslog !== undefined && priority <= syslogThreshold(s);
  }

  /**
   * What glibc's syslog(3) sends for libqb's syslog target: `<PRI>Mmm dd hh:mm:ss
   * corosync[pid]: ` and corosync's syslog format " [%6g] %b" (its stderr format without the
   * priority). libqb raises debug to info and trace to debug for syslog (priority bump −1 above
   * info).
   */
  private toSyslog(subsys: string, priority: number, message: string): void {
    const severity = priority > Priority.info ? priority - 1 : priority;
    const d = this.outputs.now();
    const stamp = `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad2(d.getHours())}:${pad2(
      d.getMinutes(),
    )}:${pad2(d.getSeconds())}`;
    this.outputs.syslog?.(
      `<${this.syslogFacility * 8 + severity}>${stamp} corosync[${this.outputs.pid}]:  [${subsys.padEnd(6)}] ${message}`,
    );
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

/** syslog.h facility codes of the names corosync accepts. */
const SYSLOG_FACILITY_CODES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** The most verbose priority written: debug on/trace lower the configured floor. */
function threshold(s: EffectiveSettings): number {
  return lowered(s, s.logfilePriority);
}

function syslogThreshold(s: EffectiveSettings): number {
  return lowered(s, s.syslogPriority);
}

function lowered(s: EffectiveSettings, configured: number): number {
  if (s.debug === 'trace') return Priority.trace;
  if (s.debug === 'on') return Math.max(configured, Priority.debug);
  return configured;
}
