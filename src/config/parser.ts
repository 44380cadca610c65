/**
 * corosync.conf grammar and section → icmap key mapping, as corosync 3.1.7 reads its config
 * (spec/config.md §2–§4). Pure: the caller passes the text and a user/group database; the
 * result is written into a ConfigMap (icmap key → typed value).
 */
import { Buffer } from 'node:buffer';
import { csStrerror, CsErrorCode } from '../common/errors.js';
import { type ConfigMap, strValue, u8Value, u16Value, u32Value, i32Value, u64Value } from './values.js';

/** ICMAP_KEYNAME_MAXLEN: the longest key icmap accepts; also the parser's path budget. */
const KEYNAME_MAXLEN = 255;
const KEYNAME_MINLEN = 3;
/** fgets buffer of the C parser: 511 bytes of data per read. */
const LINE_BUFFER = 512;
/** Sizes of the C message buffers; longer messages are replaced by a fixed text. */
const ITEM_ERR_BUF = 256;
const PARSER_ERR_BUF = 384;
const CANT_FORMAT = "Can't format parser error message";

/**
 * A configuration error with corosync's exact message. Parser errors carry the file name and
 * 1-based line; errors found after parsing (totem, logging, system) have neither.
 */
export class ConfigError extends Error {
  readonly file: string | undefined;
  readonly line: number | undefined;
  /**
   * corosync's exit status for this failure: 8 (COROSYNC_DONE_MAINCONFIGREAD) for parser and
   * totem errors, 7 (COROSYNC_DONE_LOGCONFIGREAD) for logging errors.
   */
  readonly exitCode: number;

  constructor(message: string, file?: string, line?: number, exitCode = EXIT_MAINCONFIGREAD) {
    super(message);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.exitCode = exitCode;
  }
}

/** corosync exit statuses for config failures (enum e_corosync_done). */
export const EXIT_LOGCONFIGREAD = 7;
export const EXIT_MAINCONFIGREAD = 8;

/** Name → id lookups used by the uidgid section (getpwnam/getgrnam). */
export interface UserDb {
  /** uid of a user name, undefined when there is no such user. */
  uid(name: string): number | undefined;
  /** gid of a group name, undefined when there is no such group. */
  gid(name: string): number | undefined;
}

/** A user database with no entries (numeric ids still work). */
export const EMPTY_USER_DB: UserDb = { uid: () => undefined, gid: () => undefined };

/** Parse /etc/passwd or /etc/group text into name → id (first entry wins, as getpwnam). */
export function parseIdDatabase(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length < 3) continue;
    const name = fields[0] as string;
    const id = fields[2] as string;
    if (!/^\d+$/.test(id) || out.has(name)) continue;
    out.set(name, Number(id));
  }
  return out;
}

/** Build a UserDb from /etc/passwd and /etc/group contents. */
export function userDbFromText(passwd: string, group: string): UserDb {
  const users = parseIdDatabase(passwd);
  const groups = parseIdDatabase(group);
  return { uid: (n) => users.get(n), gid: (n) => groups.get(n) };
}

export interface ParseOptions {
  userDb?: UserDb;
}

const enum State {
  NORMAL,
  TOTEM,
  INTERFACE,
  LOGGER_SUBSYS,
  UIDGID,
  LOGGING_DAEMON,
  MEMBER,
  QUORUM,
  QDEVICE,
  NODELIST,
  NODELIST_NODE,
  SYSTEM,
  RESOURCES,
  RESOURCES_SYSTEM,
  RESOURCES_PROCESS,
  RESOURCES_SYSTEM_MEMUSED,
  RESOURCES_PROCESS_MEMUSED,
}

const SECTION_STATES: Record<string, State> = {
  totem: State.TOTEM,
  'totem.interface': State.INTERFACE,
  'totem.interface.member': State.MEMBER,
  system: State.SYSTEM,
  'logging.logger_subsys': State.LOGGER_SUBSYS,
  'logging.logging_daemon': State.LOGGING_DAEMON,
  uidgid: State.UIDGID,
  quorum: State.QUORUM,
  'quorum.device': State.QDEVICE,
  nodelist: State.NODELIST,
  'nodelist.node': State.NODELIST_NODE,
  resources: State.RESOURCES,
  'resources.system': State.RESOURCES_SYSTEM,
  'resources.system.memory_used': State.RESOURCES_SYSTEM_MEMUSED,
  'resources.process': State.RESOURCES_PROCESS,
  'resources.process.memory_used': State.RESOURCES_PROCESS_MEMUSED,
};

const TOTEM_U32_KEYS = new Set(
  [
    'version',
    'nodeid',
    'threads',
    'token',
    'token_coefficient',
    'token_retransmit',
    'token_warning',
    'hold',
    'token_retransmits_before_loss_const',
    'join',
    'send_join',
    'consensus',
    'merge',
    'downcheck',
    'fail_recv_const',
    'seqno_unchanged_const',
    'rrp_token_expired_timeout',
    'rrp_problem_count_timeout',
    'rrp_problem_count_threshold',
    'rrp_problem_count_mcast_threshold',
    'rrp_autorecovery_check_timeout',
    'heartbeat_failures_allowed',
    'max_network_delay',
    'window_size',
    'max_messages',
    'miss_count_const',
    'knet_pmtud_interval',
    'knet_mtu',
    'knet_compression_threshold',
    'netmtu',
  ].map((k) => `totem.${k}`),
);

const QUORUM_U32_KEYS = new Set([
  'quorum.expected_votes',
  'quorum.votes',
  'quorum.last_man_standing_window',
  'quorum.leaving_timeout',
]);
const QUORUM_U8_KEYS = new Set([
  'quorum.two_node',
  'quorum.expected_votes_tracking',
  'quorum.allow_downscale',
  'quorum.wait_for_all',
  'quorum.auto_tie_breaker',
  'quorum.last_man_standing',
]);
const QDEVICE_U32_KEYS = new Set([
  'quorum.device.timeout',
  'quorum.device.sync_timeout',
  'quorum.device.votes',
]);

/** Crypto and compression models of the libknet linked to corosync 3.1.7 (Debian build). */
export const KNET_CRYPTO_MODELS = ['nss', 'openssl'] as const;
export const KNET_COMPRESS_MODELS = ['zlib', 'lz4', 'lz4hc', 'lzo2', 'lzma', 'bzip2', 'zstd'] as const;

/** "a, b or c", as corosync lists the libknet models in its messages. */
function humanList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

type IntKind = 'u8' | 'u16' | 'u32' | 'i32';
const INT_RANGES: Record<IntKind, [bigint, bigint]> = {
  u8: [0n, 255n],
  u16: [0n, 65535n],
  u32: [0n, 4294967295n],
  i32: [-2147483648n, 2147483647n],
};
const U64_MAX = 2n ** 64n - 1n;
const LLONG_MIN = -(2n ** 63n);
const LLONG_MAX = 2n ** 63n - 1n;

/** strtoll-style integer check of the whole string, then the type's range (safe_atoq). */
function parseIntStrict(value: string, kind: IntKind): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(value);
  if (!m) return undefined;
  let n = BigInt(m[2] as string);
  if (m[1] === '-') n = -n;
  if (n < LLONG_MIN || n > LLONG_MAX) return undefined;
  const [min, max] = INT_RANGES[kind];
  if (n < min || n > max) return undefined;
  return Number(n);
}

/** strtoull-style parse of the whole string (a leading '-' negates modulo 2^64). */
function parseU64(value: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(value);
  if (!m) return undefined;
  const mag = BigInt(m[2] as string);
  if (mag > U64_MAX) return undefined;
  return m[1] === '-' ? BigInt.asUintN(64, -mag) : mag;
}

/** uid_determine/gid_determine numeric form: strtol whole string, 0..UINT_MAX. */
function parseNumericId(value: string): number | undefined {
  if (value === '') return undefined;
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(value);
  if (!m) return undefined;
  let n = BigInt(m[2] as string);
  if (m[1] === '-') n = -n;
  if (n < 0n || n > 4294967295n) return undefined;
  return Number(n);
}

function isValidKeyChar(c: string): boolean {
  return /^[A-Za-z0-9._/:-]$/.test(c);
}

/** icmap_check_key_name. */
export function isValidKeyName(key: string): boolean {
  if (key.length < KEYNAME_MINLEN || key.length > KEYNAME_MAXLEN) return false;
  for (const c of key) if (!isValidKeyChar(c)) return false;
  return true;
}

/** snprintf(key_name, ICMAP_KEYNAME_MAXLEN, ...): keeps at most 254 characters. */
function clampKey(key: string): string {
  return key.length > KEYNAME_MAXLEN - 1 ? key.slice(0, KEYNAME_MAXLEN - 1) : key;
}

/** Error raised inside a mapping callback; converted to the file:line form by the driver. */
class ItemError extends Error {}

function formatItemError(text: string): never {
  throw new ItemError(text.length >= ITEM_ERR_BUF ? CANT_FORMAT : text);
}

function atoiError(keyName: string, value: string, kind: IntKind | 'u64'): never {
  const [min, max] = kind === 'u64' ? [0n, U64_MAX] : INT_RANGES[kind];
  formatItemError(
    `Value of key "${keyName}" is expected to be integer in range (${min}..${max}), but "${value}" was given`,
  );
}

/** Strip leading blanks; strip trailing blanks (and ':' / '{' when asked), keeping one char. */
function removeWhitespace(s: string, colonAndBrace: boolean): string {
  let start = 0;
  while (start < s.length && (s[start] === ' ' || s[start] === '\t')) start++;
  let end = s.length - 1;
  const strip = (c: string | undefined): boolean =>
    c === ' ' || c === '\t' || (colonAndBrace && (c === ':' || c === '{'));
  while (end > start && strip(s[end])) end--;
  if (end < start) return '';
  return s.slice(start, end + 1);
}

/** Position just after the first `ch` and any blanks following it, or -1 (strchr_rs). */
function strchrRs(s: string, ch: string): number {
  const i = s.indexOf(ch);
  if (i < 0) return -1;
  let p = i + 1;
  while (p < s.length && (s[p] === ' ' || s[p] === '\t')) p++;
  return p;
}

interface Callbacks {
  sectionStart(path: string, state: State): State;
  sectionEnd(path: string, state: State): State;
  item(path: string, key: string, value: string, state: State): void;
}

/** Split a buffer into lines the way a 512-byte fgets loop sees them. */
function* readLines(buf: Buffer): Generator<{ text: string; tooLong: boolean }> {
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    const lineEnd = nl < 0 ? buf.length : nl + 1;
    // fgets reads at most LINE_BUFFER - 1 bytes.
    const chunkEnd = Math.min(lineEnd, pos + LINE_BUFFER - 1);
    const chunk = buf.subarray(pos, chunkEnd);
    pos = chunkEnd;
    const atEof = pos >= buf.length && chunkEnd === buf.length && nl < 0 && chunk.length < LINE_BUFFER - 1;
    // C string semantics: the line ends at the first NUL byte.
    const nul = chunk.indexOf(0);
    const data = nul >= 0 ? chunk.subarray(0, nul) : chunk;
    let text = data.toString('latin1');
    if (text.length > 0) {
      if (!text.endsWith('\n') && !atEof) {
        yield { text: '', tooLong: true };
        return;
      }
      if (text.endsWith('\n')) text = text.slice(0, -1);
      if (text.endsWith('\r')) text = text.slice(0, -1);
    }
    yield { text, tooLong: false };
  }
}

/** The generic line grammar driver (parse_section). Throws ConfigError. */
function parseText(buf: Buffer, fileName: string, cb: Callbacks): void {
  const fail = (lineNo: number, msg: string): never => {
    const full = `parser error: ${fileName}:${lineNo}: ${msg}`;
    throw new ConfigError(full.length >= PARSER_ERR_BUF ? CANT_FORMAT : full, fileName, lineNo);
  };
  // Stack of open sections: path and the state items inside it use.
  const stack: { path: string; state: State }[] = [{ path: '', state: State.NORMAL }];
  let lineNo = 0;
  for (const { text, tooLong } of readLines(buf)) {
    lineNo++;
    if (tooLong) fail(lineNo, 'Line too long');
    const line = text.replace(/[ \t]+$/, '');
    const firstNonBlank = /[^ \t]/.exec(line);
    if (!firstNonBlank || firstNonBlank[0] === '#') continue;
    const top = stack[stack.length - 1] as { path: string; state: State };
    const path = top.path;
    try {
      let loc = strchrRs(line, '{');
      if (loc >= 0) {
        const section = removeWhitespace(line.slice(0, loc - 1), true);
        const after = removeWhitespace(line.slice(loc), false);
        if (section === '') fail(lineNo, "Missing section name before opening bracket '{'");
        if (after !== '') fail(lineNo, "Extra characters after opening bracket '{'");
        if (path.length + section.length + 1 >= KEYNAME_MAXLEN) {
          fail(lineNo, 'Start of section makes total cmap path too long');
        }
        const newPath = path === '' ? section : `${path}.${section}`;
        const newState = cb.sectionStart(newPath, top.state);
        stack.push({ path: newPath, state: newState });
        continue;
      }
      loc = strchrRs(line, ':');
      if (loc >= 0) {
        const key = removeWhitespace(line.slice(0, loc - 1), true);
        const value = removeWhitespace(line.slice(loc), false);
        if (path.length + key.length + 1 >= KEYNAME_MAXLEN) {
          fail(lineNo, 'New key makes total cmap path too long');
        }
        const full = path === '' ? key : `${path}.${key}`;
        cb.item(full, key, value, top.state);
        continue;
      }
      if (line.includes('}')) {
        if (removeWhitespace(line, false) !== '}') {
          fail(lineNo, "Extra characters before or after closing bracket '}'");
        }
        if (stack.length === 1) fail(lineNo, 'Unexpected closing brace');
        cb.sectionEnd(path, top.state);
        stack.pop();
        continue;
      }
      fail(lineNo, 'Line is not opening or closing section or key value');
    } catch (err) {
      if (err instanceof ItemError) fail(lineNo, err.message);
      throw err;
    }
  }
  if (stack.length > 1) fail(lineNo, 'Missing closing brace');
}

function uidFor(value: string, db: UserDb, what: 'user' | 'group'): number {
  const numeric = parseNumericId(value);
  let id: number | undefined = numeric;
  if (id === undefined) {
    id = what === 'user' ? db.uid(value) : db.gid(value);
    if (id === undefined) {
      formatItemError(
        what === 'user'
          ? `The '${value}' user is not found in /etc/passwd, please read the documentation.`
          : `The '${value}' group is not found in /etc/group, please read the documentation.`,
      );
    }
  }
  // The C helper returns an int: UINT_MAX reads as -1, its error value, with an empty message.
  if (id === 4294967295) throw new ItemError('');
  return id;
}

function setKey(map: ConfigMap, key: string, value: ReturnType<typeof strValue>): void {
  if (!isValidKeyName(key)) {
    formatItemError(
      `Can't store key "${key}" into icmap, returned error is ${csStrerror(CsErrorCode.CS_ERR_NAME_TOO_LONG)}`,
    );
  }
  map.set(key, value);
}

function setUidGid(map: ConfigMap, key: string, value: string, db: UserDb): void {
  if (key === 'uid') {
    const uid = uidFor(value, db, 'user');
    setKey(map, `uidgid.config.uid.${uid}`, u8Value(1));
  } else if (key === 'gid') {
    const gid = uidFor(value, db, 'group');
    setKey(map, `uidgid.config.gid.${gid}`, u8Value(1));
  } else {
    formatItemError('uidgid: Only uid and gid are allowed items');
  }
}

interface InterfaceBuffer {
  linknumber: number;
  bindnetaddr: string | undefined;
  mcastaddr: string | undefined;
  broadcast: string | undefined;
  mcastport: number;
  ttl: number;
  knetLinkPriority: number;
  knetPingInterval: number;
  knetPingTimeout: number;
  knetPingPrecision: number;
  knetPongCount: number;
  knetTransport: string | undefined;
  /** memberaddr values, most recent first (the C list is a stack). */
  members: string[];
}

/** The main-file mapping (main_config_parser_cb). */
class MainMapper implements Callbacks {
  private iface: InterfaceBuffer = MainMapper.freshInterface();
  /** logger_subsys / logging_daemon items, most recent first. */
  private subsysItems: [string, string][] = [];
  private subsys: string | undefined;
  private daemonName: string | undefined;
  private nodeNumber = 0;

  constructor(
    private readonly map: ConfigMap,
    private readonly db: UserDb,
  ) {}

  private static freshInterface(): InterfaceBuffer {
    return {
      linknumber: 0,
      bindnetaddr: undefined,
      mcastaddr: undefined,
      broadcast: undefined,
      mcastport: -1,
      ttl: -1,
      knetLinkPriority: -1,
      knetPingInterval: -1,
      knetPingTimeout: -1,
      knetPingPrecision: -1,
      knetPongCount: -1,
      knetTransport: undefined,
      members: [],
    };
  }

  sectionStart(path: string, state: State): State {
    const next = SECTION_STATES[path];
    if (next === undefined) return state;
    switch (next) {
      case State.INTERFACE: {
        const keep = this.iface;
        this.iface = MainMapper.freshInterface();
        // bindnetaddr/mcastaddr/broadcast are not reset at section start in corosync.
        this.iface.bindnetaddr = keep.bindnetaddr;
        this.iface.mcastaddr = keep.mcastaddr;
        this.iface.broadcast = keep.broadcast;
        break;
      }
      case State.LOGGER_SUBSYS:
        this.subsysItems = [];
        this.subsys = undefined;
        break;
      case State.LOGGING_DAEMON:
        this.subsysItems = [];
        this.subsys = undefined;
        this.daemonName = undefined;
        break;
      case State.NODELIST:
        this.nodeNumber = 0;
        break;
      default:
        break;
    }
    return next;
  }

  item(path: string, key: string, value: string, state: State): void {
    const map = this.map;
    const int = (keyName: string, kind: IntKind): number => {
      const n = parseIntStrict(value, kind);
      if (n === undefined) atoiError(keyName, value, kind);
      return n;
    };
    const u64 = (keyName: string): bigint => {
      const n = parseU64(value);
      if (n === undefined) atoiError(keyName, value, 'u64');
      return n;
    };
    switch (state) {
      case State.NORMAL:
      case State.NODELIST:
        break;
      case State.QUORUM:
        if (QUORUM_U32_KEYS.has(path)) return setKey(map, path, u32Value(int(path, 'u32')));
        if (QUORUM_U8_KEYS.has(path)) return setKey(map, path, u8Value(int(path, 'u8')));
        break;
      case State.QDEVICE:
        if (QDEVICE_U32_KEYS.has(path)) return setKey(map, path, u32Value(int(path, 'u32')));
        if (path === 'quorum.device.master_wins') return setKey(map, path, u8Value(int(path, 'u8')));
        break;
      case State.TOTEM:
        if (TOTEM_U32_KEYS.has(path)) return setKey(map, path, u32Value(int(path, 'u32')));
        if (path === 'totem.knet_compression_level') return setKey(map, path, i32Value(int(path, 'i32')));
        if (path === 'totem.config_version') return setKey(map, path, u64Value(u64(path)));
        if (path === 'totem.ip_version' && !['ipv4', 'ipv6', 'ipv6-4', 'ipv4-6'].includes(value)) {
          formatItemError('Invalid ip_version type');
        }
        if (path === 'totem.crypto_model' && !(KNET_CRYPTO_MODELS as readonly string[]).includes(value)) {
          formatItemError(`Invalid crypto model. Should be ${humanList(KNET_CRYPTO_MODELS)}`);
        }
        if (path === 'totem.crypto_cipher' && !['none', 'aes256', 'aes192', 'aes128'].includes(value)) {
          formatItemError('Invalid cipher type. Should be none, aes256, aes192 or aes128');
        }
        if (
          path === 'totem.crypto_hash' &&
          !['none', 'md5', 'sha1', 'sha256', 'sha384', 'sha512'].includes(value)
        ) {
          formatItemError('Invalid hash type. Should be none, md5, sha1, sha256, sha384 or sha512');
        }
        if (
          path === 'totem.knet_compression_model' &&
          !(KNET_COMPRESS_MODELS as readonly string[]).includes(value)
        ) {
          formatItemError(`Invalid compression model. Should be ${humanList(KNET_COMPRESS_MODELS)}`);
        }
        break;
      case State.SYSTEM:
        if (path === 'system.qb_ipc_type' && !['native', 'shm', 'socket'].includes(value)) {
          formatItemError('Invalid system.qb_ipc_type');
        }
        if (path === 'system.sched_rr' && !['yes', 'no'].includes(value)) {
          formatItemError('Invalid system.sched_rr value');
        }
        if (path === 'system.move_to_root_cgroup' && !['yes', 'no', 'auto'].includes(value)) {
          formatItemError('Invalid system.move_to_root_cgroup');
        }
        if (path === 'system.allow_knet_handle_fallback' && !['yes', 'no'].includes(value)) {
          formatItemError('Invalid system.allow_knet_handle_fallback');
        }
        break;
      case State.INTERFACE: {
        const b = this.iface;
        switch (path) {
          case 'totem.interface.linknumber':
            b.linknumber = int(path, 'u8');
            return;
          case 'totem.interface.bindnetaddr':
            b.bindnetaddr = value;
            return;
          case 'totem.interface.mcastaddr':
            b.mcastaddr = value;
            return;
          case 'totem.interface.broadcast':
            b.broadcast = value;
            return;
          case 'totem.interface.mcastport':
            b.mcastport = int(path, 'u16');
            return;
          case 'totem.interface.ttl':
            b.ttl = int(path, 'u8');
            return;
          case 'totem.interface.knet_link_priority':
            b.knetLinkPriority = int(path, 'u8');
            return;
          case 'totem.interface.knet_ping_interval':
            b.knetPingInterval = int(path, 'u32');
            return;
          case 'totem.interface.knet_ping_timeout':
            b.knetPingTimeout = int(path, 'u32');
            return;
          case 'totem.interface.knet_ping_precision':
            b.knetPingPrecision = int(path, 'u32');
            return;
          case 'totem.interface.knet_pong_count':
            b.knetPongCount = int(path, 'u32');
            return;
          case 'totem.interface.knet_transport':
            b.knetTransport = value;
            return;
          default:
            break;
        }
        break;
      }
      case State.LOGGER_SUBSYS:
        if (key === 'subsys') this.subsys = value;
        else this.subsysItems.unshift([key, value]);
        return;
      case State.LOGGING_DAEMON:
        if (key === 'subsys') this.subsys = value;
        else if (key === 'name') this.daemonName = value;
        else this.subsysItems.unshift([key, value]);
        return;
      case State.UIDGID:
        return setUidGid(map, key, value, this.db);
      case State.MEMBER:
        if (key !== 'memberaddr') formatItemError('Only memberaddr is allowed in member section');
        this.iface.members.unshift(value);
        return;
      case State.NODELIST_NODE: {
        const keyName = clampKey(`nodelist.node.${this.nodeNumber}.${key}`);
        if (key === 'nodeid' || key === 'quorum_votes') {
          return setKey(map, keyName, u32Value(int(keyName, 'u32')));
        }
        return setKey(map, keyName, strValue(value));
      }
      case State.RESOURCES:
        if (key === 'watchdog_timeout') return setKey(map, path, u32Value(int(path, 'u32')));
        break;
      case State.RESOURCES_SYSTEM:
      case State.RESOURCES_SYSTEM_MEMUSED:
      case State.RESOURCES_PROCESS:
      case State.RESOURCES_PROCESS_MEMUSED:
        if (key === 'poll_period') return setKey(map, path, u64Value(u64(path)));
        break;
    }
    setKey(map, path, strValue(value));
  }

  sectionEnd(_path: string, state: State): State {
    const map = this.map;
    switch (state) {
      case State.INTERFACE: {
        const b = this.iface;
        const k = (name: string): string => clampKey(`totem.interface.${b.linknumber}.${name}`);
        if (b.bindnetaddr !== undefined) setKey(map, k('bindnetaddr'), strValue(b.bindnetaddr));
        b.bindnetaddr = undefined;
        if (b.mcastaddr !== undefined) setKey(map, k('mcastaddr'), strValue(b.mcastaddr));
        b.mcastaddr = undefined;
        if (b.broadcast !== undefined) setKey(map, k('broadcast'), strValue(b.broadcast));
        b.broadcast = undefined;
        if (b.mcastport > -1) setKey(map, k('mcastport'), u16Value(b.mcastport));
        if (b.ttl > -1) setKey(map, k('ttl'), u8Value(b.ttl));
        if (b.knetLinkPriority > -1) setKey(map, k('knet_link_priority'), u8Value(b.knetLinkPriority));
        if (b.knetPingInterval > -1) setKey(map, k('knet_ping_interval'), u32Value(b.knetPingInterval));
        if (b.knetPingTimeout > -1) setKey(map, k('knet_ping_timeout'), u32Value(b.knetPingTimeout));
        if (b.knetPingPrecision > -1) setKey(map, k('knet_ping_precision'), u32Value(b.knetPingPrecision));
        if (b.knetPongCount > -1) setKey(map, k('knet_pong_count'), u32Value(b.knetPongCount));
        if (b.knetTransport !== undefined) setKey(map, k('knet_transport'), strValue(b.knetTransport));
        // corosync frees these without resetting them (undefined behaviour on a second flush).
        b.knetTransport = undefined;
        b.members.forEach((addr, i) => setKey(map, k(`member.${i}`), strValue(addr)));
        b.members = [];
        break;
      }
      case State.LOGGER_SUBSYS: {
        const subsys = this.subsys;
        if (subsys === undefined) formatItemError('No subsys key in logger_subsys directive');
        for (const [key, value] of this.subsysItems) {
          setKey(map, clampKey(`logging.logger_subsys.${subsys}.${key}`), strValue(value));
        }
        this.subsysItems = [];
        setKey(map, clampKey(`logging.logger_subsys.${subsys}.subsys`), strValue(subsys));
        break;
      }
      case State.LOGGING_DAEMON: {
        const name = this.daemonName;
        if (name === undefined) formatItemError('No name key in logging_daemon directive');
        const subsys = this.subsys;
        const isMain = name === 'corosync';
        for (const [key, value] of this.subsysItems) {
          let keyName: string;
          if (subsys === undefined) {
            keyName = isMain ? `logging.${key}` : `logging.logging_daemon.${name}.${key}`;
          } else {
            keyName = isMain
              ? `logging.logger_subsys.${subsys}.${key}`
              : `logging.logging_daemon.${name}.${subsys}.${key}`;
          }
          setKey(map, clampKey(keyName), strValue(value));
        }
        this.subsysItems = [];
        if (subsys === undefined) {
          if (!isMain) setKey(map, clampKey(`logging.logging_daemon.${name}.name`), strValue(name));
        } else if (isMain) {
          setKey(map, clampKey(`logging.logger_subsys.${subsys}.subsys`), strValue(subsys));
        } else {
          setKey(map, clampKey(`logging.logging_daemon.${name}.${subsys}.subsys`), strValue(subsys));
          setKey(map, clampKey(`logging.logging_daemon.${name}.${subsys}.name`), strValue(name));
        }
        break;
      }
      case State.NODELIST_NODE:
        this.nodeNumber++;
        break;
      default:
        break;
    }
    return state;
  }
}

/** The uidgid.d file mapping (uidgid_config_parser_cb). */
class UidGidMapper implements Callbacks {
  constructor(
    private readonly map: ConfigMap,
    private readonly db: UserDb,
  ) {}

  sectionStart(path: string, state: State): State {
    if (path !== 'uidgid') formatItemError("uidgid: Can't add subsection different than uidgid");
    return state;
  }

  sectionEnd(_path: string, state: State): State {
    return state;
  }

  item(path: string, _key: string, value: string): void {
    if (path === 'uidgid.uid') setUidGid(this.map, 'uid', value, this.db);
    else if (path === 'uidgid.gid') setUidGid(this.map, 'gid', value, this.db);
    else formatItemError('uidgid: Only uid and gid are allowed items');
  }
}

function toBuffer(text: string | Buffer): Buffer {
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
}

/** Parse the main corosync.conf text into `map` (keys are added/overwritten). */
export function parseMainConfig(
  text: string | Buffer,
  fileName: string,
  map: ConfigMap,
  opts: ParseOptions = {},
): void {
  parseText(toBuffer(text), fileName, new MainMapper(map, opts.userDb ?? EMPTY_USER_DB));
}

/** Parse one uidgid.d file into `map`. */
export function parseUidGidFile(
  text: string | Buffer,
  fileName: string,
  map: ConfigMap,
  opts: ParseOptions = {},
): void {
  parseText(toBuffer(text), fileName, new UidGidMapper(map, opts.userDb ?? EMPTY_USER_DB));
}
