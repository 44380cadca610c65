/**
 * Runs the CommonJS bundle of the binary (dist/bundle/corosync-ts.js) with V8's code cache: the
 * bytecode of every function the previous start compiled, read back instead of parsed and
 * compiled again. A daemon's start costs ~25 % less CPU with it (bench/README.md item 33), which
 * matters when several daemons start at once on few CPUs.
 *
 * The cache lives next to the bundle (`.code-cache/`, one file per Node version and command-line
 * flag set: the daemon and the tools run with different V8 flags, and V8 refuses a cache made
 * under other flags). Each file starts with what it was made from (the bundle's size, mtime and
 * inode, Node's version); any difference, a file V8 rejects, or one that others than its owner
 * (or root) could have written, is not used, and a fresh one is written once this process has
 * run a while (`writeAfterMs`) or at its exit. Anything that goes wrong only costs the cache:
 * the bundle runs either way. COROSYNC_TS_CODE_CACHE=0 turns it off.
 *
 * The bundle is built inside the CommonJS function wrapper (WRAPPED_BUNDLE_HEAD, esbuild's
 * banner), so that its file, mapped as an external string (`readSource`, the addon's
 * mapFileLatin1), is the very source V8 compiles and keeps: V8 holds a script's source for the
 * functions it compiles later, and a wrapper added here would make a copy of the 0.8 MB bundle
 * in the JavaScript heap for the process's lifetime, where the mapping costs only the pages V8
 * reads (none when every function came from the cache). A bundle without the wrapper is wrapped
 * here.
 */
import { Buffer } from 'node:buffer';
import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { constants as vmConstants, Script } from 'node:vm';
import { readUInt32LE, writeUInt32LE } from '../common/bytes.js';

const MAGIC = 'CTSC1';

/**
 * How the bundle's file begins (package.json's `bundle` script puts it there); the file ends
 * with the closing `})` and the source-map comment.
 */
export const WRAPPED_BUNDLE_HEAD = '(function (exports, require, module, __filename, __dirname) {';

/** What {@link runWithCodeCache} did with the cache. */
export interface CodeCacheOutcome {
  /** The cache file of this Node version and flag set (undefined when caching is off). */
  file?: string;
  /** True when V8 compiled the bundle from the cache. */
  used: boolean;
  /** Why no cache was used (a missing file included), when it was not. */
  reason?: string;
  /** Write the cache now (what the timer and the exit handler do; a no-op once done or when used). */
  writeNow(): void;
  /** True when the source compiled is the string `readSource` gave, as it is (a wrapped bundle). */
  sourceKept: boolean;
}

export interface CodeCacheOptions {
  /** Where the cache files are (default: `.code-cache` next to the bundle). */
  cacheDir?: string;
  /** Write a fresh cache this long after the start (default 2000 ms; the exit writes it too). */
  writeAfterMs?: number;
  /** Environment (default process.env): COROSYNC_TS_CODE_CACHE=0 disables the cache. */
  env?: NodeJS.ProcessEnv;
  /**
   * The bundle's text without copying it (the addon's mapping), or undefined to read the file.
   * Used as it is when the bundle is a wrapped one; taken as Latin-1 (the bundle is ASCII).
   */
  readSource?: (path: string) => string | undefined;
}

/** 32-bit FNV-1a of a string, as 8 hex digits (names the cache file; not a security measure). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * A file or directory only its owner (this user or root) can write, and not a symbolic link: a
 * cache anyone else could write would be code run by whoever starts the binary.
 */
function safeOwner(path: string, dir: boolean): boolean {
  const st = lstatSync(path);
  if (dir ? !st.isDirectory() : !st.isFile()) return false;
  const euid = process.geteuid?.() ?? -1;
  return (st.uid === euid || st.uid === 0) && (st.mode & 0o022) === 0;
}

/**
 * Compile and run the CommonJS file `bundlePath` as Node's module loader would (`require`,
 * `module`, `exports`, `__filename`, `__dirname`), with the code cache.
 */
export function runWithCodeCache(
  bundlePath: string,
  requireFn: NodeJS.Require,
  opts: CodeCacheOptions = {},
): CodeCacheOutcome {
  const env = opts.env ?? process.env;
  const given = opts.readSource?.(bundlePath);
  const source = given ?? readFileSync(bundlePath, 'utf8');
  // an unwrapped bundle's `#!` line: a comment of the same length keeps the columns
  const wrapped = source.startsWith(WRAPPED_BUNDLE_HEAD)
    ? source
    : `${WRAPPED_BUNDLE_HEAD} ${source.startsWith('#!') ? `//${source.slice(2)}` : source}\n})`;
  const sourceKept = given !== undefined && wrapped === source;

  let file: string | undefined;
  let cachedData: Buffer | undefined;
  let header = '';
  let reason: string | undefined;
  if (env.COROSYNC_TS_CODE_CACHE === '0') reason = 'turned off (COROSYNC_TS_CODE_CACHE=0)';
  else {
    const dir = opts.cacheDir ?? join(dirname(bundlePath), '.code-cache');
    const st = statSync(bundlePath);
    file = join(dir, `${fnv1a(`${process.version} ${process.arch} ${process.execArgv.join(' ')}`)}.cache`);
    header = JSON.stringify({ node: process.version, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    try {
      if (!safeOwner(dir, true) || !safeOwner(file, false))
        reason = `${file}: a link, not owned by this user or root, or writable by others; not used`;
      else {
        const data = readFileSync(file);
        const magicEnd = MAGIC.length;
        const len = data.length >= magicEnd + 4 ? readUInt32LE(data, magicEnd) : -1;
        const made =
          len >= 0 && data.length >= magicEnd + 4 + len
            ? data.toString('utf8', magicEnd + 4, magicEnd + 4 + len)
            : '';
        if (data.toString('latin1', 0, magicEnd) !== MAGIC || made !== header)
          reason = `${file}: made from another build`;
        else cachedData = data.subarray(magicEnd + 4 + len);
      }
    } catch (err) {
      reason = `${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
  }

  const script = new Script(wrapped, {
    filename: bundlePath,
    // for a first start (functions compiled from the cache lose it on Node 20: the bundle loads
    // modules on demand with require, src/common/builtin.ts)
    importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    ...(cachedData ? { cachedData } : {}),
  });
  const used = cachedData !== undefined && !script.cachedDataRejected;
  if (cachedData && !used) reason = `${file}: rejected by V8`;

  let written = used || file === undefined;
  const writeNow = (): void => {
    if (written || file === undefined) return;
    written = true;
    writeCache(file, header, script);
  };
  if (!written) {
    const timer = setTimeout(writeNow, opts.writeAfterMs ?? 2000);
    timer.unref();
    process.once('exit', writeNow);
  }

  const mod = { exports: {} as unknown, filename: bundlePath, id: bundlePath };
  const fn = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: unknown,
    filename: string,
    dirname: string,
  ) => void;
  fn.call(mod.exports, mod.exports, requireFn, mod, bundlePath, dirname(bundlePath));
  return {
    ...(file !== undefined ? { file } : {}),
    used,
    ...(reason !== undefined ? { reason } : {}),
    writeNow,
    sourceKept,
  };
}

/** Write the cache atomically (a temporary file renamed over it); failures are ignored. */
function writeCache(file: string, header: string, script: Script): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (!safeOwner(dir, true)) return;
    const data = script.createCachedData();
    const head = Buffer.from(header, 'utf8');
    const prefix = Buffer.alloc(MAGIC.length + 4);
    prefix.write(MAGIC, 0, 'latin1');
    writeUInt32LE(prefix, head.length, MAGIC.length);
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      // the mode asked for is masked by the umask; what a reader accepts is checked on the file
      if ((fstatSync(fd).mode & 0o022) !== 0) return;
      for (const part of [prefix, head, data]) writeSync(fd, part);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch {
    // no cache this time
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed (or never made)
    }
  }
}
