/**
 * Validation of the logging.* keys as corosync's logconfig reads them at startup (and on every
 * logging change). An invalid value is fatal at startup.
 * spec/config.md §4.4.
 */
import { ConfigError, EXIT_LOGCONFIGREAD } from './parser.js';
import { type ConfigMap, getStr, sortedKeys } from './values.js';

/** libqb facility names (qb_log_facility2int, case-sensitive). */
export const SYSLOG_FACILITIES = [
  'auth',
  'authpriv',
  'cron',
  'daemon',
  'ftp',
  'kern',
  'lpr',
  'mail',
  'news',
  'syslog',
  'user',
  'uucp',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

/** logsys priority names (case-insensitive; "error" is an alias of "err"). */
export const LOG_PRIORITIES: Record<string, number> = {
  alert: 1,
  crit: 2,
  debug: 7,
  emerg: 0,
  err: 3,
  error: 3,
  info: 6,
  notice: 5,
  warning: 4,
};

export function logPriorityId(name: string): number | undefined {
  return LOG_PRIORITIES[name.toLowerCase()];
}

/** Effective logging settings of one logger (top level or a subsystem). */
export interface LoggerSettings {
  subsys: string | undefined;
  toStderr: boolean | undefined;
  toSyslog: boolean | undefined;
  toLogfile: boolean | undefined;
  logfile: string | undefined;
  syslogFacility: string;
  syslogPriority: number | undefined;
  logfilePriority: number | undefined;
  debug: 'off' | 'on' | 'trace';
}

export interface LoggingConfig {
  timestamp: 'off' | 'on' | 'hires';
  fileline: boolean;
  functionName: boolean;
  blackbox: boolean;
  main: LoggerSettings;
  subsystems: LoggerSettings[];
}

/** Logging errors reach the user as "parse error in config: <reason>." (exit status 7). */
function fail(reason: string): never {
  throw new ConfigError(`parse error in config: ${reason}.`, undefined, undefined, EXIT_LOGCONFIGREAD);
}

function onOff(map: ConfigMap, key: string, name: string, allowed: string[]): string | undefined {
  const v = getStr(map, key);
  if (v === undefined) return undefined;
  if (!allowed.includes(v)) fail(`unknown value for ${name}`);
  return v;
}

function destination(
  map: ConfigMap,
  path: string,
  key: string,
  topLevel: boolean,
  deprecated: string | undefined,
  defaultValue: boolean,
  warnings: string[],
): boolean | undefined {
  const v = getStr(map, `${path}.${key}`);
  if (v === undefined) return topLevel && !deprecated ? defaultValue : undefined;
  if (deprecated) {
    warnings.push(
      `Warning: the ${key} config parameter has been obsoleted. See corosync.conf man page ${deprecated} directive.`,
    );
  }
  if (v === 'yes' || v === 'on') return true;
  if (v === 'no' || v === 'off') return false;
  fail(`unknown value for ${key}`);
}

function loggerSettings(
  map: ConfigMap,
  path: string,
  subsys: string | undefined,
  warnings: string[],
): LoggerSettings {
  const top = subsys === undefined;
  const toStderr = destination(map, path, 'to_stderr', top, undefined, true, warnings);
  const toSyslog = destination(map, path, 'to_syslog', top, undefined, true, warnings);
  const facility = getStr(map, `${path}.syslog_facility`);
  if (facility !== undefined && !(SYSLOG_FACILITIES as readonly string[]).includes(facility)) {
    fail('unknown syslog facility specified');
  }
  let syslogPriority: number | undefined = top ? LOG_PRIORITIES.info : undefined;
  const level = getStr(map, `${path}.syslog_level`);
  if (level !== undefined) {
    warnings.push(
      'Warning: the syslog_level config parameter has been obsoleted. See corosync.conf man page syslog_priority directive.',
    );
    const id = logPriorityId(level);
    if (id === undefined) fail('unknown syslog level specified');
    syslogPriority = id;
  }
  const prio = getStr(map, `${path}.syslog_priority`);
  if (prio !== undefined) {
    const id = logPriorityId(prio);
    if (id === undefined) fail('unknown syslog priority specified');
    syslogPriority = id;
  }
  const logfile = getStr(map, `${path}.logfile`);
  // to_file (deprecated) is applied first; at top level an unset to_logfile then resets the
  // file output to its default (off), so `to_file: yes` alone has no effect there (3.1.7).
  const toFile = destination(map, path, 'to_file', top, 'to_logfile', false, warnings);
  const toLogfileSet = destination(map, path, 'to_logfile', top, undefined, false, warnings);
  const toLogfile = toLogfileSet !== undefined ? toLogfileSet : toFile;
  let logfilePriority: number | undefined = top ? LOG_PRIORITIES.info : undefined;
  const lfp = getStr(map, `${path}.logfile_priority`);
  if (lfp !== undefined) {
    const id = logPriorityId(lfp);
    if (id === undefined) fail('unknown logfile priority specified');
    logfilePriority = id;
  }
  const debugValue = getStr(map, `${path}.debug`);
  if (debugValue !== undefined && !['trace', 'on', 'off'].includes(debugValue))
    fail('unknown value for debug');
  return {
    subsys,
    toStderr,
    toSyslog,
    toLogfile,
    logfile,
    syslogFacility: facility ?? 'daemon',
    syslogPriority,
    logfilePriority,
    debug: (debugValue ?? 'off') as LoggerSettings['debug'],
  };
}

/**
 * Validate logging.* like corosync_log_config_read and return the effective settings.
 * Throws ConfigError with corosync's message; deprecation warnings are appended to `warnings`.
 */
export function readLoggingConfig(map: ConfigMap, warnings: string[] = []): LoggingConfig {
  const fileline = onOff(map, 'logging.fileline', 'fileline', ['on', 'off']);
  const functionName = onOff(map, 'logging.function_name', 'function_name', ['on', 'off']);
  const timestamp = onOff(map, 'logging.timestamp', 'timestamp', ['on', 'hires', 'off']);
  const blackbox = onOff(map, 'logging.blackbox', 'blackbox', ['on', 'off']);
  const main = loggerSettings(map, 'logging', undefined, warnings);
  const subsystems: LoggerSettings[] = [];
  for (const key of sortedKeys(map, 'logging.logger_subsys.')) {
    const m = /^logging\.logger_subsys\.([^.]+)\.(\S+)$/.exec(key);
    if (!m || m[2] !== 'subsys') continue;
    const subsys = m[1] as string;
    subsystems.push(loggerSettings(map, `logging.logger_subsys.${subsys}`, subsys, warnings));
  }
  return {
    timestamp: (timestamp ?? 'hires') as LoggingConfig['timestamp'],
    fileline: fileline === 'on',
    functionName: functionName === 'on',
    blackbox: blackbox !== 'off',
    main,
    subsystems,
  };
}
