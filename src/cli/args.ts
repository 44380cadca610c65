/**
 * A small getopt(3) for the command line tools, with the behaviour of glibc's `getopt` that
 * the corosync C tools get:
 *
 * - short options only; several may be bundled (`-bq`), an option argument may be attached
 *   (`-mstats`) or be the next word (`-m stats`, even when that word starts with `-`);
 * - `--` ends the options, a lone `-` is an operand;
 * - operands may appear between options ("permutation"), unless the option string starts
 *   with `+` or POSIXLY_CORRECT is set, in which case the first operand ends the options;
 * - an unknown option or a missing argument stops parsing with glibc's message
 *   (`prog: invalid option -- 'x'`, `prog: option requires an argument -- 'm'`).
 *
 * The options come back in command line order so a tool can act on them one by one the way
 * a C `while ((c = getopt(...)) != -1)` loop does (e.g. `-h` wins only when it comes before
 * a bad option).
 */

export interface ParsedOption {
  /** The option character. */
  readonly opt: string;
  /** Its argument, for options declared with a `:`. */
  readonly arg?: string;
}

export interface GetoptError {
  readonly kind: 'invalid' | 'missing-argument';
  readonly opt: string;
  /** glibc's diagnostic line (without the newline). */
  readonly message: string;
}

export interface GetoptResult {
  /** Options in the order they were seen, up to (not including) a bad one. */
  readonly options: ParsedOption[];
  /** Operands in their original relative order. */
  readonly operands: string[];
  /** Set when parsing stopped at an unknown option or a missing argument. */
  readonly error?: GetoptError;
}

export interface GetoptSettings {
  /** Program name used in diagnostics (glibc prints argv[0]). */
  readonly progName?: string;
  /** Stop at the first operand (POSIX mode). Defaults to `'POSIXLY_CORRECT' in env`. */
  readonly posixlyCorrect?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

interface OptSpec {
  readonly takesArg: boolean;
}

function parseOptstring(optstring: string): { specs: Map<string, OptSpec>; stopAtOperand: boolean } {
  let s = optstring;
  let stopAtOperand = false;
  if (s.startsWith('+')) {
    stopAtOperand = true;
    s = s.slice(1);
  }
  if (s.startsWith(':')) s = s.slice(1);
  const specs = new Map<string, OptSpec>();
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === ':') continue;
    const takesArg = s[i + 1] === ':';
    specs.set(c, { takesArg });
  }
  return { specs, stopAtOperand };
}

/**
 * Parse `argv` (without the program name) against a getopt option string such as
 * `"m:hqgsdDtTbp:C:"`.
 */
export function getopt(
  argv: readonly string[],
  optstring: string,
  settings: GetoptSettings = {},
): GetoptResult {
  const { specs, stopAtOperand } = parseOptstring(optstring);
  const env = settings.env ?? process.env;
  const posix = stopAtOperand || (settings.posixlyCorrect ?? env.POSIXLY_CORRECT !== undefined);
  const prog = settings.progName ?? 'getopt';
  const options: ParsedOption[] = [];
  const operands: string[] = [];

  let i = 0;
  while (i < argv.length) {
    const word = argv[i]!;
    if (word === '--') {
      operands.push(...argv.slice(i + 1));
      return { options, operands };
    }
    if (word.length < 2 || !word.startsWith('-')) {
      if (posix) {
        operands.push(...argv.slice(i));
        return { options, operands };
      }
      operands.push(word);
      i++;
      continue;
    }
    // A bundle of option characters.
    let j = 1;
    i++;
    while (j < word.length) {
      const c = word[j]!;
      const spec = c === ':' ? undefined : specs.get(c);
      if (!spec) {
        return {
          options,
          operands,
          error: { kind: 'invalid', opt: c, message: `${prog}: invalid option -- '${c}'` },
        };
      }
      if (!spec.takesArg) {
        options.push({ opt: c });
        j++;
        continue;
      }
      if (j + 1 < word.length) {
        options.push({ opt: c, arg: word.slice(j + 1) });
      } else if (i < argv.length) {
        options.push({ opt: c, arg: argv[i]! });
        i++;
      } else {
        return {
          options,
          operands,
          error: {
            kind: 'missing-argument',
            opt: c,
            message: `${prog}: option requires an argument -- '${c}'`,
          },
        };
      }
      break;
    }
  }
  return { options, operands };
}

/**
 * Our tools' `--json` flag, accepted anywhere before `--` (the C tools' getopt never sees it).
 * Returns the remaining arguments for getopt.
 */
export function takeJsonFlag(argv: readonly string[]): { args: string[]; json: boolean } {
  const args: string[] = [];
  let json = false;
  let afterEnd = false;
  for (const a of argv) {
    if (!afterEnd && a === '--json') {
      json = true;
      continue;
    }
    if (a === '--') afterEnd = true;
    args.push(a);
  }
  return { args, json };
}
