/**
 * Reading corosync.conf from disk (main file + `<dir>/uidgid.d/*`), the built-in default
 * config, the host facts for startup, and `corosync -t` (checkConfig).
 */
import { Buffer } from 'node:buffer';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hostsFileResolver } from './addr.js';
import {
  ConfigError,
  parseMainConfig,
  parseUidGidFile,
  userDbFromText,
  type ParseOptions,
  type UserDb,
} from './parser.js';
import { buildStartupMap, strerror, type StartupEnv, type StartupResult } from './totem.js';
import { type ConfigMap, sortedMap } from './values.js';

/** corosync's COROSYSCONFDIR default config path. */
export const DEFAULT_CONFIG_PATH = '/etc/corosync/corosync.conf';

/** The config corosync-ts uses when none is given: one udpu node on 127.0.0.1. */
export const BUILTIN_CONFIG = `# corosync-ts built-in default configuration
totem {
\tversion: 2
\tcluster_name: corosync-ts
\ttransport: udpu
\tcrypto_cipher: none
\tcrypto_hash: none
}

nodelist {
\tnode {
\t\tname: node1
\t\tnodeid: 1
\t\tring0_addr: 127.0.0.1
\t}
}

quorum {
\tprovider: corosync_votequorum
}

logging {
\tto_stderr: yes
\tto_logfile: no
\tto_syslog: no
\ttimestamp: on
}
`;

function readTextOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** getpwnam/getgrnam backed by /etc/passwd and /etc/group, read when first needed. */
export function systemUserDb(passwdPath = '/etc/passwd', groupPath = '/etc/group'): UserDb {
  let db: UserDb | undefined;
  const get = (): UserDb => (db ??= userDbFromText(readTextOr(passwdPath, ''), readTextOr(groupPath, '')));
  return { uid: (n) => get().uid(n), gid: (n) => get().gid(n) };
}

export interface UidGidFile {
  /** Path used in error messages: `<config dir>/uidgid.d/<name>`. */
  fileName: string;
  text: string | Buffer;
}

export interface ParseTextOptions extends ParseOptions {
  /** Contents of the uidgid.d files, in the order to parse them. */
  uidgidFiles?: UidGidFile[];
}

/**
 * Parse corosync.conf text (plus optional uidgid.d file contents) into the icmap keys it
 * produces. User/group names resolve through /etc/passwd and /etc/group unless a userDb is
 * given. Throws ConfigError.
 */
export function parseConfigText(
  text: string | Buffer,
  fileName: string,
  opts: ParseTextOptions = {},
): ConfigMap {
  const map: ConfigMap = new Map();
  const parseOpts: ParseOptions = { userDb: opts.userDb ?? systemUserDb() };
  parseMainConfig(text, fileName, map, parseOpts);
  for (const f of opts.uidgidFiles ?? []) parseUidGidFile(f.text, f.fileName, map, parseOpts);
  return sortedMap(map);
}

/** The uidgid.d directory corosync reads for a config path ("<dirname>/uidgid.d"). */
export function uidgidDirFor(configPath: string): string {
  return `${path.dirname(configPath)}/uidgid.d`;
}

/** Regular files of uidgid.d in readdir order (missing directory → none). */
export function readUidGidFiles(configPath: string): UidGidFile[] {
  const dir = uidgidDirFor(configPath);
  let handle: fs.Dir;
  try {
    handle = fs.opendirSync(dir);
  } catch {
    return [];
  }
  const out: UidGidFile[] = [];
  try {
    for (let ent = handle.readSync(); ent !== null; ent = handle.readSync()) {
      const file = `${dir}/${ent.name}`;
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      try {
        out.push({ fileName: file, text: fs.readFileSync(file) });
      } catch {
        continue;
      }
    }
  } finally {
    handle.closeSync();
  }
  return out;
}

/** Read the main file; a directory reads as empty (fgets fails at once in C). */
function readMainFile(configPath: string): Buffer {
  try {
    if (fs.statSync(configPath).isDirectory()) return Buffer.alloc(0);
    return fs.readFileSync(configPath);
  } catch (err) {
    throw new ConfigError(`Can't read file ${configPath}: ${strerror(err)}`);
  }
}

/** Read and parse a config file and its uidgid.d directory. Throws ConfigError. */
export function readConfigFile(configPath: string, opts: ParseOptions = {}): ConfigMap {
  const text = readMainFile(configPath);
  const map: ConfigMap = new Map();
  const parseOpts: ParseOptions = { userDb: opts.userDb ?? systemUserDb() };
  parseMainConfig(text, configPath, map, parseOpts);
  for (const f of readUidGidFiles(configPath)) parseUidGidFile(f.text, f.fileName, map, parseOpts);
  return sortedMap(map);
}

/** "Successfully read main configuration file '<path>'." */
export function readSuccessMessage(configPath: string): string {
  return `Successfully read main configuration file '${configPath}'.`;
}

/**
 * Local interface addresses in getifaddrs order (all IPv4 addresses, then all IPv6), as
 * corosync walks them when looking for its node.
 */
export function localAddressesFromOs(
  ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(ifaces)) {
    for (const info of list ?? []) {
      if (info.family === 'IPv4') v4.push(info.address);
      else v6.push(info.address);
    }
  }
  return [...v4, ...v6];
}

/** Host facts from this machine: hostname, interfaces, /etc/hosts names, key file reader. */
export function systemStartupEnv(overrides: Partial<StartupEnv> = {}): StartupEnv {
  const hosts = hostsFileResolver(readTextOr('/etc/hosts', ''));
  return {
    hostname: os.hostname(),
    localAddresses: localAddressesFromOs(),
    resolve: hosts.resolve,
    reverse: hosts.reverse,
    readKeyFile: (p) => fs.readFileSync(p),
    ...overrides,
  };
}

/** Read a config file and run the startup processing. Throws ConfigError. */
export function loadStartupConfig(
  configPath: string,
  env: StartupEnv,
  opts: ParseOptions = {},
): StartupResult {
  return buildStartupMap(readConfigFile(configPath, opts), env);
}

export interface CheckResult {
  ok: boolean;
  /** corosync's error message when not ok. */
  error?: string;
  /** corosync's exit status: 0, or the ConfigError's (7 logging, 8 config). */
  exitCode: number;
  warnings: string[];
}

/**
 * `corosync -t -c <path>`: parse, validate logging and totem, report. Never throws for a
 * config problem.
 */
export function checkConfig(configPath: string, env: StartupEnv, opts: ParseOptions = {}): CheckResult {
  try {
    const res = buildStartupMap(readConfigFile(configPath, opts), { ...env, testOnly: true });
    return { ok: true, exitCode: 0, warnings: res.warnings };
  } catch (err) {
    if (err instanceof ConfigError)
      return { ok: false, error: err.message, exitCode: err.exitCode, warnings: [] };
    throw err;
  }
}
