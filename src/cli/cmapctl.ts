/**
 * `corosync-ts cmapctl`: corosync-cmapctl of corosync 3.1.7 — same options, output, messages
 * and exit codes — plus `--json`.
 *
 *   cmapctl [-b] [-q] [-m map] [prefix...]      list keys (all keys without a prefix)
 *   cmapctl [-b] [-q] -g key...                 get keys
 *   cmapctl -s key type value                   set (type i8 u8 i16 u16 i32 u32 i64 u64 flt dbl str bin;
 *                                               for bin the value is a file name, `-` = stdin)
 *   cmapctl -d key...                           delete keys
 *   cmapctl -D prefix...                        delete every key with the prefix
 *   cmapctl -p file                             apply a settings file (`key type value`, `^key`, `^^prefix`)
 *   cmapctl [-b] [-q] -t key... / -T prefix...  track changes until "q" or end of input on stdin
 *   cmapctl -C knet|ipc|totem|schedmiss|all     clear statistics (uses the stats map)
 *   cmapctl -h                                  help
 *
 * `--json` (our addition, anywhere before `--`): listings and -g print one JSON array of
 * `{"key","type","value"}` objects; tracking prints one JSON object per line per event
 * (`{"event","key","type","value"[,"old"]}`) and sends the "Type "q" to finish" banner to
 * stderr; -q is ignored. Value encoding: see `jsonValueText` in cmapctl-format.ts.
 *
 * The daemon is found through the client library (COROSYNC_TS_RUN_DIR or the default run
 * directory).
 */
import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import {
  CmapHandle,
  CmapMapKind,
  CmapTrack,
  CsDispatchFlags,
  type CmapIterEntry,
  type CmapNotifyValue,
} from '../client/index.js';
import { CsError, CsErrorCode, csStrerror } from '../common/errors.js';
import { resolveRunDir } from '../common/rundir.js';
import { CmapValueType } from '../cmap/types.js';
import { getopt, takeJsonFlag } from './args.js';
import {
  formatKeyLine,
  jsonEntry,
  jsonTrackEvent,
  parseLoadFile,
  parseSetValue,
  trackEventPrefix,
  ValueSizeError,
} from './cmapctl-format.js';
import { writeUInt32LE } from '../common/bytes.js';
import type { OutputSink } from './tool-io.js';

export type { OutputSink };

export interface CmapctlIo {
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** Input for `-t`/`-T` ("q" ends tracking) and for `-s key bin -`. Default process.stdin. */
  stdin?: NodeJS.ReadableStream;
  /** Environment (COROSYNC_TS_RUN_DIR, POSIXLY_CORRECT). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Explicit daemon run directory (overrides the environment). */
  runDir?: string;
  /** Name used in option diagnostics. Default "corosync-cmapctl". */
  progName?: string;
  /** Wait used between CS_ERR_TRY_AGAIN retries (default: real 1 s sleeps). */
  sleep?: (ms: number) => Promise<void>;
}

const OPTSTRING = 'm:hqgsdDtTbp:C:';
/** corosync-cmapctl retries CS_ERR_TRY_AGAIN this many times, one second apart. */
const MAX_TRY_AGAIN = 10;
const CLEAR_STATS_OPTIONS = ['knet', 'totem', 'ipc', 'schedmiss', 'all'];

type Action = 'get' | 'set' | 'delete' | 'delete-prefix' | 'print-prefix' | 'track' | 'load' | 'clear-stats';

const HELP = `
usage:  corosync-cmapctl [-b] [-DdghsqTCt] [-p filename] [-m map] [params...]

    -b show binary values

    -m select map to use
          The  default  map is 'icmap' which contains configuration information and some runtime variables used by corosync. 
          A 'stats' map is also available which displays network statistics - in great detail when knet is used as the transport.
Set key:
    corosync-cmapctl -s key_name type value

    where type is one of ([i|u][8|16|32|64] | flt | dbl | str | bin)
    for bin, value is file name (or - for stdin)

    map can be either 'icmap' (the default) which contains corosync
    configuration information, or 'stats' which contains statistics
    about the networking and IPC traffic in some detail.

Clear stats:
    corosync-cmapctl -C [knet|ipc|totem|schedmiss|all]
    The 'stats' map is implied

Load settings from a file:
    corosync-cmapctl -p filename

    the format of the file is:
    [^[^]]<key_name>[ <type> <value>]
    Keys prefixed with single caret ('^') are deleted (see -d).
    Keys (actually prefixes) prefixed with double caret ('^^') are deleted by prefix (see -D).
    <type> and <value> are optional (not checked) in above cases.
    Other keys are set (see -s) so both <type> and <value> are required.

Delete key:
    corosync-cmapctl -d key_name...

Delete multiple keys with prefix:
    corosync-cmapctl -D key_prefix...

Get key:
    corosync-cmapctl [-b] -g key_name...

Quiet mode:
    corosync-cmapctl [-b] -q -g key_name...

Display all keys:
    corosync-cmapctl [-b]

Display keys with prefix key_name:
    corosync-cmapctl [-b] key_name...

Track changes on keys with key_name:
    corosync-cmapctl [-b] -t key_name

Track changes on keys with key prefix:
    corosync-cmapctl [-b] -T key_prefix

`;

/** The usage text `-h` prints. */
export function cmapctlHelp(): string {
  return HELP;
}

/** Ends the command with an exit code (the C tool's `exit()` calls). */
class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function errorCode(err: unknown): number {
  if (err instanceof CsError) return err.code;
  return CsErrorCode.CS_ERR_LIBRARY;
}

function errorText(err: unknown): string {
  return csStrerror(errorCode(err));
}

/** strerror() texts for the errors opening a file can give. */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
};

function strerror(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && ERRNO_TEXT[code]) return ERRNO_TEXT[code];
  return err instanceof Error ? err.message : String(err);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

interface Settings {
  showBinary: boolean;
  quiet: boolean;
  json: boolean;
}

class Session {
  /** JSON entries collected by listing/get, printed as one array at the end. */
  readonly jsonEntries: string[] = [];

  constructor(
    readonly handle: CmapHandle,
    readonly settings: Settings,
    readonly out: OutputSink,
    readonly err: OutputSink,
    readonly stdin: () => NodeJS.ReadableStream,
    readonly sleep: (ms: number) => Promise<void>,
  ) {}

  fail(message: string): never {
    this.err.write(message + '\n');
    throw new Exit(1);
  }

  /** Print (or collect as JSON) one key whose value is `data`. */
  emit(key: string, type: number, data: Buffer): void {
    if (this.settings.json) {
      this.jsonEntries.push(jsonEntry(key, type, data, this.settings.showBinary));
    } else {
      this.out.write(formatKeyLine(key, type, data, this.settings));
    }
  }

  /** Fetch a key listed with `type`/`length` and print it (corosync-cmapctl print_key). */
  async printStoredKey(key: string, type: number, length: number): Promise<void> {
    if (type === CmapValueType.BINARY && !this.settings.showBinary) {
      this.emit(key, type, Buffer.alloc(0));
      return;
    }
    let data: Buffer | undefined;
    let failure: unknown;
    for (let retries = 0; ;) {
      try {
        const raw = await this.handle.getRaw(key, type === CmapValueType.BINARY ? length : undefined);
        if (raw.type !== type) throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'type changed');
        data = raw.data;
        break;
      } catch (e) {
        if (CsError.is(e, CsErrorCode.CS_ERR_TRY_AGAIN) && retries < MAX_TRY_AGAIN) {
          retries++;
          await this.sleep(1000);
          continue;
        }
        failure = e;
        break;
      }
    }
    if (data === undefined) {
      this.err.write(`Can't get value of ${key}. Error ${errorText(failure)}\n`);
      return;
    }
    this.emitChecked(key, type, data);
  }

  /** emit(), reporting a value of the wrong size the way a failed typed get is reported. */
  emitChecked(key: string, type: number, data: Buffer): void {
    try {
      this.emit(key, type, data);
    } catch (e) {
      if (!(e instanceof ValueSizeError)) throw e;
      this.err.write(`Can't get value of ${key}. Error ${csStrerror(CsErrorCode.CS_ERR_INVALID_PARAM)}\n`);
    }
  }

  /**
   * Walk the keys under `prefix` (all keys when undefined), calling `visit` for each in turn.
   * A failed start ends the tool; a failed step ends the walk quietly, as the C tool's loop
   * does. The daemon's iterator is released whatever happens.
   */
  private async forEachKey(
    prefix: string | undefined,
    visit: (entry: CmapIterEntry) => Promise<void> | void,
  ): Promise<void> {
    let iter: bigint;
    try {
      iter = await this.handle.iterInit(prefix);
    } catch (e) {
      this.fail(`Failed to initialize iteration. Error ${errorText(e)}`);
    }
    try {
      for (;;) {
        let entry;
        try {
          entry = await this.handle.iterNext(iter);
        } catch {
          break;
        }
        if (!entry) break;
        await visit(entry);
      }
    } finally {
      await this.handle.iterFinalize(iter).catch(() => undefined);
    }
  }

  /** List keys with a prefix; returns 1 when there was none (print_iter). */
  async printIter(prefix: string | undefined): Promise<number> {
    let noResult = 1;
    await this.forEachKey(prefix, async (entry) => {
      noResult = 0;
      await this.printStoredKey(entry.key, entry.type, entry.length);
    });
    return noResult;
  }

  async deleteWithPrefix(prefix: string): Promise<void> {
    // Collect first, then delete: the result is the same as deleting while walking, without
    // depending on how the daemon's iterator copes with removals under its cursor.
    const keys: string[] = [];
    await this.forEachKey(prefix, (entry) => {
      keys.push(entry.key);
    });
    for (const key of keys) {
      try {
        await this.handle.delete(key);
      } catch (e) {
        this.err.write(`Can't delete key ${key}. Error ${errorText(e)}\n`);
      }
    }
  }

  async setKey(key: string, typeName: string, valueText: string): Promise<void> {
    const parsed = parseSetValue(typeName, valueText);
    if (!parsed.ok) this.fail(parsed.message);
    let type: number = parsed.type;
    let bytes: Buffer;
    if ('file' in parsed) {
      type = CmapValueType.BINARY;
      try {
        bytes = parsed.file === '-' ? await readAll(this.stdin()) : await readFile(parsed.file);
      } catch (e) {
        this.fail(`Can't open input file: ${strerror(e)}`);
      }
      if (bytes.length === 0) {
        // libcmap refuses a NULL value, which is what an empty input gives the C tool.
        this.fail(`Failed to set key ${key}. Error ${csStrerror(CsErrorCode.CS_ERR_INVALID_PARAM)}`);
      }
    } else {
      bytes = parsed.bytes;
    }
    try {
      await this.handle.setRaw(key, type, bytes);
    } catch (e) {
      this.fail(`Failed to set key ${key}. Error ${errorText(e)}`);
    }
  }

  async load(file: string): Promise<void> {
    let content: Buffer;
    try {
      content = await readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') return; // fopen works, reading ends at once
      this.err.write(`Couldn't open file.: ${strerror(e)}\n`);
      return;
    }
    for (const step of parseLoadFile(content)) {
      switch (step.kind) {
        case 'delete':
          try {
            await this.handle.delete(step.key);
          } catch (e) {
            this.err.write(`Can't delete key ${step.key}. Error ${errorText(e)}\n`);
          }
          break;
        case 'delete-prefix':
          await this.deleteWithPrefix(step.prefix);
          break;
        case 'set':
          await this.setKey(step.key, step.typeName, step.value);
          break;
        case 'error':
          this.fail(step.message);
      }
    }
  }

  onNotify(event: number, key: string, newValue: CmapNotifyValue, oldValue: CmapNotifyValue): void {
    const shown = event === CmapTrack.DELETE ? oldValue : newValue;
    if (this.settings.json) {
      const old = event === CmapTrack.MODIFY && oldValue.type !== 0 ? oldValue : undefined;
      const line = jsonTrackEvent(
        event,
        key,
        { type: shown.type, data: shown.data },
        old && { type: old.type, data: old.data },
        this.settings.showBinary,
      );
      this.out.write(line + '\n');
      return;
    }
    const prefix = trackEventPrefix(event);
    if (prefix === 'unknown change> ') {
      this.out.write(prefix);
      return;
    }
    this.out.write(prefix);
    const data = shown.data.subarray(0, shown.len);
    try {
      this.out.write(formatKeyLine(key, shown.type, data, this.settings));
    } catch (e) {
      if (!(e instanceof ValueSizeError)) throw e;
      this.err.write(`Can't get value of ${key}. Error ${csStrerror(CsErrorCode.CS_ERR_INVALID_PARAM)}\n`);
    }
  }

  async track(keys: string[], prefix: boolean): Promise<void> {
    let flags = CmapTrack.ADD | CmapTrack.DELETE | CmapTrack.MODIFY;
    if (prefix) flags |= CmapTrack.PREFIX;
    for (const key of keys) {
      try {
        await this.handle.trackAdd(key, flags, (_h, _t, event, name, nv, ov) =>
          this.onNotify(event, name, nv, ov),
        );
      } catch (e) {
        this.fail(`Failed to add tracking function. Error ${errorText(e)}`);
      }
    }
    (this.settings.json ? this.err : this.out).write('Type "q" to finish\n');

    const input = this.stdin();
    let cleanup = (): void => undefined;
    const quit = new Promise<'quit'>((resolve) => {
      // The C tool reads stdin with fgets() into a 3 byte buffer: each read is at most two
      // characters (or up to a newline) and a read starting with "q" ends tracking.
      let column = 0;
      const onData = (chunk: string | Buffer): void => {
        const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
        for (const c of text) {
          if (column === 0 && c === 'q') {
            resolve('quit');
            return;
          }
          column = c === '\n' || column === 1 ? 0 : column + 1;
        }
      };
      const onEnd = (): void => resolve('quit');
      input.on('data', onData);
      input.on('end', onEnd);
      input.on('error', onEnd);
      cleanup = () => {
        input.removeListener('data', onData);
        input.removeListener('end', onEnd);
        input.removeListener('error', onEnd);
        input.pause();
      };
      input.resume();
    });
    const dispatching = this.handle.dispatch(CsDispatchFlags.BLOCKING).then(
      () => ({ error: undefined as unknown }),
      (e: unknown) => ({ error: e }),
    );
    try {
      const outcome = await Promise.race([quit, dispatching]);
      if (outcome !== 'quit' && outcome.error !== undefined) {
        this.err.write(`Dispatch error ${errorText(outcome.error)}\n`);
      }
    } finally {
      cleanup();
    }
  }

  async clearStats(what: string): Promise<void> {
    const one = Buffer.alloc(4);
    writeUInt32LE(one, 1);
    await this.handle.setRaw(`stats.clear.${what}`, CmapValueType.UINT32, one).catch(() => undefined);
  }

  private jsonFlushed = false;

  /** Print the collected JSON array (once). */
  flushJson(): void {
    if (!this.settings.json || this.jsonFlushed) return;
    this.jsonFlushed = true;
    if (this.jsonEntries.length === 0) this.out.write('[]\n');
    else this.out.write('[\n' + this.jsonEntries.map((e) => '  ' + e).join(',\n') + '\n]\n');
  }
}

/**
 * Run corosync-cmapctl with `argv` (the arguments after the command name). Resolves to the
 * exit code: 0 on success, 1 on any failure, exactly where corosync-cmapctl 3.1.7 returns
 * EXIT_FAILURE.
 */
export async function cmapctlMain(argv: string[], io: CmapctlIo = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const stdin = (): NodeJS.ReadableStream => io.stdin ?? process.stdin;

  // --json is ours; remove it before the getopt-compatible parsing.
  const { args, json } = takeJsonFlag(argv);

  const parsed = getopt(args, OPTSTRING, { progName: io.progName ?? 'corosync-cmapctl', env });
  let action: Action = 'print-prefix';
  let trackPrefix = true;
  let showBinary = false;
  let quiet = false;
  let map: number = CmapMapKind.ICMAP;
  let mapSet = false;
  let settingsFile = '';
  let clearOpt = '';
  for (const { opt, arg = '' } of parsed.options) {
    switch (opt) {
      case 'h':
        out.write(HELP);
        return 0;
      case 'b':
        showBinary = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'g':
        action = 'get';
        break;
      case 's':
        action = 'set';
        break;
      case 'd':
        action = 'delete';
        break;
      case 'D':
        action = 'delete-prefix';
        break;
      case 'p':
        settingsFile = arg;
        action = 'load';
        break;
      case 'C':
        if (!CLEAR_STATS_OPTIONS.includes(arg)) {
          err.write("argument to -C should be 'knet', 'totem', 'ipc', 'schedmiss' or 'all'\n");
          return 1;
        }
        action = 'clear-stats';
        clearOpt = arg;
        map = CmapMapKind.STATS;
        break;
      case 't':
        action = 'track';
        trackPrefix = false;
        break;
      case 'T':
        action = 'track';
        break;
      case 'm':
        // As in C, an earlier valid -m makes a later bad one pass silently.
        if (arg === 'icmap' || arg === 'default') {
          map = CmapMapKind.ICMAP;
          mapSet = true;
        } else if (arg === 'stats') {
          map = CmapMapKind.STATS;
          mapSet = true;
        } else if (!mapSet) {
          err.write("invalid map name, must be 'default', 'icmap' or 'stats'\n");
          return 1;
        }
        break;
    }
  }
  if (parsed.error) {
    err.write(parsed.error.message + '\n');
    return 1;
  }
  const operands = parsed.operands;

  if (operands.length === 0 && action !== 'load' && action !== 'clear-stats' && action !== 'print-prefix') {
    err.write('Expected key after options\n');
    return 1;
  }

  const runDir = io.runDir ?? (io.env ? resolveRunDir(undefined, io.env) : undefined);
  let handle: CmapHandle | undefined;
  for (let retries = 0; ; retries++) {
    try {
      handle = await CmapHandle.initialize(map, { runDir });
      break;
    } catch (e) {
      if (CsError.is(e, CsErrorCode.CS_ERR_TRY_AGAIN) && retries < MAX_TRY_AGAIN) {
        await sleep(1000);
        continue;
      }
      err.write(`Failed to initialize the cmap API. Error ${errorText(e)}\n`);
      return 1;
    }
  }

  const session: Session = new Session(handle, { showBinary, quiet, json }, out, err, stdin, sleep);
  try {
    switch (action) {
      case 'print-prefix': {
        let noResult = 0;
        if (operands.length === 0) noResult = await session.printIter(undefined);
        else for (const prefix of operands) noResult += await session.printIter(prefix);
        session.flushJson();
        if (noResult > 0 && noResult >= operands.length) throw new Exit(1);
        break;
      }
      case 'get':
        try {
          for (const key of operands) {
            let raw;
            try {
              raw = await handle.getRaw(key);
            } catch (e) {
              session.fail(`Can't get key ${key}. Error ${errorText(e)}`);
            }
            session.emitChecked(key, raw.type, raw.data);
          }
        } finally {
          session.flushJson();
        }
        break;
      case 'delete':
        for (const key of operands) {
          try {
            await handle.delete(key);
          } catch (e) {
            session.fail(`Can't delete key ${key}. Error ${errorText(e)}`);
          }
        }
        break;
      case 'delete-prefix':
        for (const prefix of operands) await session.deleteWithPrefix(prefix);
        break;
      case 'load':
        await session.load(settingsFile);
        break;
      case 'track':
        await session.track(operands, trackPrefix);
        break;
      case 'set':
        if (operands.length < 3) session.fail('At least 3 parameters are expected for set');
        await session.setKey(operands[0]!, operands[1]!, operands[2]!);
        break;
      case 'clear-stats':
        await session.clearStats(clearOpt);
        break;
    }
  } catch (e) {
    await handle.finalize().catch(() => undefined);
    if (e instanceof Exit) return e.code;
    throw e;
  }

  try {
    await handle.finalize();
  } catch (e) {
    err.write(`Failed to finalize the cmap API. Error ${errorText(e)}\n`);
    return 1;
  }
  return 0;
}
