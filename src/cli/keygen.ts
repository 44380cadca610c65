/**
 * `corosync-ts keygen`: corosync-keygen of corosync 3.1.7 — same options, messages and exit
 * codes.
 *
 *   keygen [-k <keyfile>] [-s size] [-r <randomfile>] [-l] [-h]
 *
 *   -k / --key-file=F     write the key to F (default /etc/corosync/authkey)
 *   -r / --random-file=F  read random bytes from F (default /dev/urandom)
 *   -s / --size=N         key length in bytes, 128..4096 (default 256)
 *   -l / --less-secure    accepted, no effect
 *   -h / --help           usage (exit 0)
 *
 * The key file is created (or truncated) with mode 0600 and then set to 0400 before the key
 * is written. Exit codes: 0 ok; 1 bad option, bad size or unreadable random source; 2 cannot
 * create the key file; 3 cannot chmod it; 4 short write; 5 close failed. Messages on errors
 * are `corosync-keygen: <what>: <strerror>` as err(3) prints them.
 *
 * One difference: 3.1.7 loops forever when the random source hits end of file (it keeps
 * asking for keyboard entropy); we fail with exit 1.
 */
import { Buffer } from 'node:buffer';
import { closeSync, fchmodSync, openSync, readSync, writeSync } from 'node:fs';
import { getopt } from './args.js';
import { expandLongOptions, type LongOption } from './cfgtool-format.js';
import type { OutputSink } from './quorumtool.js';

/** COROSYSCONFDIR "/authkey". */
export const DEFAULT_KEYFILE = '/etc/corosync/authkey';
/** DEFAULT_KEYFILE_LEN. */
export const DEFAULT_KEY_LEN = 256;
/** TOTEM_PRIVATE_KEY_LEN_MIN / MAX (knet's key length bounds). */
export const KEY_LEN_MIN = 128;
export const KEY_LEN_MAX = 4096;
export const DEFAULT_RANDOM_DEV = '/dev/urandom';

export interface KeygenIo {
  stdout?: OutputSink;
  stderr?: OutputSink;
  env?: NodeJS.ProcessEnv;
  /** Program name in messages. Default "corosync-keygen". */
  progName?: string;
}

const LONG_OPTIONS: readonly LongOption[] = [
  { name: 'key-file', hasArg: true, short: 'k' },
  { name: 'less-secure', hasArg: false, short: 'l' },
  { name: 'random-file', hasArg: true, short: 'r' },
  { name: 'size', hasArg: true, short: 's' },
  { name: 'help', hasArg: false, short: 'h' },
];

/** The usage text exactly as 3.1.7 prints it with `-h` (it lists an -m it does not have). */
export function keygenUsage(): string {
  return (
    'Usage: corosync-keygen [-k <keyfile>] [-s size] [-m <randomfile>] [-l] [-h]\n' +
    '     -k / --key-file=<filename> -  Write to the specified keyfile\n' +
    `            instead of the default ${DEFAULT_KEYFILE}.\n` +
    '     -r / --random-file -  Random number source file. Default is \n' +
    '            /dev/urandom. As an example /dev/random may be requested\n' +
    '            (that may require user input for entropy).\n' +
    '     -l / --less-secure - Not used, option is kept only\n' +
    '            for compatibility.\n' +
    '     -s / --size -  Length of key.\n' +
    '     -h / --help -  Print basic usage.\n' +
    '\n'
  );
}

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
  EEXIST: 'File exists',
  EIO: 'Input/output error',
  EINVAL: 'Invalid argument',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
  EDQUOT: 'Disk quota exceeded',
  EFBIG: 'File too large',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
};

/** strerror(3) text of a Node system error. */
export function strerror(e: unknown): string {
  const c = (e as NodeJS.ErrnoException | undefined)?.code;
  if (c && STRERROR[c]) return STRERROR[c];
  return e instanceof Error ? e.message : String(e);
}

/** strtoll(s, &ep, 10) with `*ep == '\0'` required; undefined when it would fail those tests. */
function parseSize(s: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?\d*)$/.exec(s);
  if (!m) return undefined;
  const digits = m[1]!.replace(/^[+-]/, '');
  if (digits === '') return 0; // strtoll converts nothing: 0 (then out of range)
  const n = Number(m[1]);
  return Number.isFinite(n) ? n : undefined;
}

/** Run the tool; resolves with the exit code. */
export async function keygenMain(argv: string[], io: KeygenIo = {}): Promise<number> {
  await Promise.resolve();
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const prog = io.progName ?? 'corosync-keygen';

  const expanded = expandLongOptions(argv, LONG_OPTIONS, prog);
  const parsed = getopt(expanded.argv, 'k:r:s:lh', { progName: prog, env: io.env ?? process.env });
  let keyfile = DEFAULT_KEYFILE;
  let randomDev = DEFAULT_RANDOM_DEV;
  let keyLen = DEFAULT_KEY_LEN;
  for (const { opt, arg = '' } of parsed.options) {
    switch (opt) {
      case 'k':
        keyfile = arg;
        break;
      case 'r':
        randomDev = arg;
        break;
      case 's': {
        const n = parseSize(arg);
        if (n === undefined || n < KEY_LEN_MIN || n > KEY_LEN_MAX) {
          err.write(`${prog}: Unsupported key size (supported <${KEY_LEN_MIN},${KEY_LEN_MAX}>)\n\n`);
          return 1;
        }
        keyLen = n;
        break;
      }
      case 'h':
        out.write(keygenUsage());
        return 0;
      default:
        break;
    }
  }
  const optError = parsed.error?.message ?? expanded.error;
  if (optError) {
    err.write(optError + '\n');
    out.write('Error parsing command line options.\n');
    return 1;
  }

  out.write('Corosync Cluster Engine Authentication key generator.\n');
  out.write(`Gathering ${keyLen * 8} bits for key from ${randomDev}.\n`);
  let rfd: number;
  try {
    rfd = openSync(randomDev, 'r');
  } catch (e) {
    err.write(`${prog}: Failed to open random source: ${strerror(e)}\n`);
    return 1;
  }
  if (randomDev === '/dev/random') out.write('Press keys on your keyboard to generate entropy.\n');
  const key = Buffer.alloc(keyLen);
  try {
    let got = 0;
    while (got < keyLen) {
      let n: number;
      try {
        n = readSync(rfd, key, got, keyLen - got, null);
      } catch (e) {
        err.write(`${prog}: Could not read /dev/random: ${strerror(e)}\n`);
        return 1;
      }
      if (n === 0) {
        err.write(`${prog}: Could not read /dev/random: end of file on ${randomDev}\n`);
        return 1;
      }
      got += n;
      if (got !== keyLen) {
        out.write(
          `Press keys on your keyboard to generate entropy (${(keyLen - got) * 8} bits still needed).\n`,
        );
      }
    }
  } finally {
    closeSync(rfd);
  }

  let kfd: number;
  try {
    kfd = openSync(keyfile, 'w', 0o600);
  } catch (e) {
    err.write(`${prog}: Could not create ${keyfile}: ${strerror(e)}\n`);
    return 2;
  }
  try {
    fchmodSync(kfd, 0o400);
  } catch (e) {
    err.write(`${prog}: Failed to set key file permissions to 0400: ${strerror(e)}\n`);
    closeSync(kfd);
    return 3;
  }
  out.write(`Writing corosync key to ${keyfile}.\n`);
  try {
    const n = writeSync(kfd, key, 0, keyLen);
    if (n !== keyLen) throw Object.assign(new Error('short write'), { code: 'EIO' });
  } catch (e) {
    err.write(`${prog}: Could not write ${keyfile}: ${strerror(e)}\n`);
    closeSync(kfd);
    return 4;
  }
  try {
    closeSync(kfd);
  } catch (e) {
    err.write(`${prog}: Could not close ${keyfile}: ${strerror(e)}\n`);
    return 5;
  }
  return 0;
}
