/**
 * Pure helpers of `corosync-ts cmapctl`: how corosync-cmapctl 3.1.7 prints values, escapes
 * binary data, parses the values given to `-s`, and reads the `-p` settings file. Nothing
 * here talks to a daemon, so every rule can be unit tested.
 *
 * Observed behaviour of the C tool that these helpers reproduce (checked against the real
 * corosync-cmapctl 3.1.7 binary):
 *
 * - a line is `<key> (<type>) = <value>`; with -q only `<value>`. Binary values print as
 *   `<key> (bin)` unless -b is given, then `<key> (bin) = <escaped>`. Quirk kept: with -q a
 *   binary value still prints `bin)` (and `bin) = <escaped>` with -b).
 * - strings are written raw (no escaping at all), up to their first NUL.
 * - binary escaping: printable ASCII 0x20..0x7e stays, `\` becomes `\\`, other bytes become
 *   `\xHH` with upper-case hex; bytes >= 0x80 are sign extended (`\xFFFFFF80`).
 * - flt and dbl are printed like C `%f`: exactly rounded (ties to even) to 6 decimals,
 *   never in exponent form, `inf`, `-inf`, `nan`, `-nan`.
 * - -s parses integers/floats the way glibc `sscanf("%ld"/"%lu"/"%f"/"%lf")` does: leading
 *   white space skipped, trailing garbage ignored, overflow saturates, `%lu` accepts a minus
 *   sign (negating modulo 2^64); then the range of the narrower type is checked.
 */
import { Buffer } from 'node:buffer';
import {
  CmapValueType,
  decodeValue,
  encodeValue,
  integerTypeRange,
  valueTypeFromShortName,
  valueTypeShortName,
  valueTypeSize,
} from '../cmap/types.js';
import {
  readDoubleLE,
  readFloatLE,
  writeBigUInt64LE,
  writeDoubleLE,
  writeFloatLE,
  writeUInt32LE,
} from '../common/bytes.js';

// ---------------------------------------------------------------------------------------------
// Number formatting (C "%f")

const TWO_POW_52 = 2n ** 52n;

/** Exact value of a finite, non-negative double as mantissa × 2^exponent. */
function doubleToDyadic(x: number): { mant: bigint; exp: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & (TWO_POW_52 - 1n);
  if (biased === 0) return { mant: frac, exp: -1074 };
  return { mant: frac | TWO_POW_52, exp: biased - 1075 };
}

/**
 * C `printf("%.<precision>f")` of a double, exact (no 21-digit limit, ties to even like
 * glibc). `negative` overrides the sign for NaN (a JS NaN has no observable sign).
 */
export function formatCFixed(x: number, precision = 6, negative?: boolean): string {
  const neg = negative ?? (x < 0 || Object.is(x, -0));
  if (Number.isNaN(x)) return neg ? '-nan' : 'nan';
  if (!Number.isFinite(x)) return neg ? '-inf' : 'inf';
  const { mant, exp } = doubleToDyadic(Math.abs(x));
  const scale = 10n ** BigInt(precision);
  let scaled: bigint;
  if (exp >= 0) {
    scaled = (mant << BigInt(exp)) * scale;
  } else {
    const num = mant * scale;
    const den = 1n << BigInt(-exp);
    const q = num / den;
    const twiceRem = (num % den) * 2n;
    scaled = twiceRem > den || (twiceRem === den && (q & 1n) === 1n) ? q + 1n : q;
  }
  const intPart = (scaled / scale).toString();
  const fracPart = precision > 0 ? '.' + (scaled % scale).toString().padStart(precision, '0') : '';
  return (neg ? '-' : '') + intPart + fracPart;
}

/** `%f` of the 4 bytes of a float (little-endian), honouring the sign bit of NaN. */
export function formatFloatBytes(data: Uint8Array): string {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return formatCFixed(readFloatLE(buf, 0), 6, (buf[3]! & 0x80) !== 0);
}

/** `%f` of the 8 bytes of a double (little-endian), honouring the sign bit of NaN. */
export function formatDoubleBytes(data: Uint8Array): string {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return formatCFixed(readDoubleLE(buf, 0), 6, (buf[7]! & 0x80) !== 0);
}

// ---------------------------------------------------------------------------------------------
// Binary escaping and value lines

/** corosync-cmapctl's escaping of a binary value (see the file comment). */
export function escapeBinary(data: Uint8Array): string {
  let out = '';
  for (const b of data) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else if (b < 0x80) out += '\\x' + b.toString(16).toUpperCase().padStart(2, '0');
    else out += '\\xFFFFFF' + b.toString(16).toUpperCase();
  }
  return out;
}

/** Bytes of a stored string up to (not including) its first NUL. */
export function stringBytes(data: Uint8Array): Buffer {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const nul = buf.indexOf(0);
  return nul >= 0 ? buf.subarray(0, nul) : buf;
}

export interface PrintOptions {
  /** -b: print binary values. */
  readonly showBinary: boolean;
  /** -q: values only. */
  readonly quiet: boolean;
}

/** Thrown when a fixed-size value does not have the size of its type. */
export class ValueSizeError extends Error {
  constructor(type: number, length: number) {
    super(`value of type ${valueTypeShortName(type) ?? type} has ${length} bytes`);
    this.name = 'ValueSizeError';
  }
}

/**
 * The text of a numeric value (types i8..dbl) as corosync-cmapctl prints it. Throws
 * ValueSizeError when `data` is too short for the type.
 */
export function formatNumber(type: number, data: Uint8Array): string {
  const need = valueTypeSize(type);
  if (need === 0 || data.byteLength < need) throw new ValueSizeError(type, data.byteLength);
  const bytes = data.subarray(0, need);
  if (type === CmapValueType.FLOAT) return formatFloatBytes(bytes);
  if (type === CmapValueType.DOUBLE) return formatDoubleBytes(bytes);
  // the integers: the map's own decoder (a bigint for the 64-bit ones prints the same way)
  return String(decodeValue(type, bytes).value);
}

/**
 * One output line (with its newline) for a key of `type` whose bytes are `data`, exactly as
 * corosync-cmapctl prints it for listing, -g and tracking. Returned as bytes because string
 * values are copied raw. An unknown type code prints `<key> (` and the newline, like C.
 */
export function formatKeyLine(key: string, type: number, data: Uint8Array, opts: PrintOptions): Buffer {
  const parts: Buffer[] = [];
  if (!opts.quiet) parts.push(Buffer.from(`${key} (`));
  const name = valueTypeShortName(type);
  if (type === CmapValueType.STRING) {
    parts.push(Buffer.from(opts.quiet ? '' : 'str) = '), stringBytes(data));
  } else if (type === CmapValueType.BINARY) {
    parts.push(Buffer.from('bin)'));
    if (opts.showBinary) parts.push(Buffer.from(' = ' + escapeBinary(data)));
  } else if (name !== undefined) {
    const text = formatNumber(type, data);
    parts.push(Buffer.from(opts.quiet ? text : `${name}) = ${text}`));
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Prefix corosync-cmapctl prints before a tracked change (4 ADD, 1 DELETE, 2 MODIFY). */
export function trackEventPrefix(event: number): string {
  switch (event) {
    case 4:
      return 'create> ';
    case 1:
      return 'delete> ';
    case 2:
      return 'modify> ';
    default:
      return 'unknown change> ';
  }
}

/** JSON name of a tracked event. */
export function trackEventName(event: number): string {
  switch (event) {
    case 4:
      return 'create';
    case 1:
      return 'delete';
    case 2:
      return 'modify';
    default:
      return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// JSON form (--json)

/**
 * The JSON text of a value: integers as exact JSON numbers (64-bit ones too, written out
 * digit by digit), flt/dbl as the shortest number that reads back to the same value (`inf`,
 * `-inf`, `nan`, `-nan` as strings), str as a JSON string (UTF-8 decoded, up to the first
 * NUL), bin as a lower-case hex string with -b or `null` without it.
 */
export function jsonValueText(type: number, data: Uint8Array, showBinary: boolean): string {
  switch (type) {
    case CmapValueType.STRING:
      return JSON.stringify(stringBytes(data).toString('utf8'));
    case CmapValueType.BINARY:
      return showBinary ? JSON.stringify(Buffer.from(data).toString('hex')) : 'null';
    case CmapValueType.FLOAT:
    case CmapValueType.DOUBLE: {
      const need = valueTypeSize(type);
      if (data.byteLength < need) throw new ValueSizeError(type, data.byteLength);
      const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const x = type === CmapValueType.FLOAT ? readFloatLE(buf, 0) : readDoubleLE(buf, 0);
      if (!Number.isFinite(x)) {
        return JSON.stringify(type === CmapValueType.FLOAT ? formatFloatBytes(buf) : formatDoubleBytes(buf));
      }
      if (type === CmapValueType.DOUBLE) return Object.is(x, -0) ? '-0' : String(x);
      return shortestFloat(x);
    }
    default:
      if (valueTypeShortName(type) === undefined) return 'null';
      return formatNumber(type, data);
  }
}

/** Shortest decimal that Math.fround maps back to the float `x`. */
function shortestFloat(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

/** One `{"key":…,"type":…,"value":…}` object. */
export function jsonEntry(key: string, type: number, data: Uint8Array, showBinary: boolean): string {
  const typeName = valueTypeShortName(type) ?? String(type);
  return `{"key":${JSON.stringify(key)},"type":${JSON.stringify(typeName)},"value":${jsonValueText(type, data, showBinary)}}`;
}

/** A tracked change as one JSON line (without the newline). */
export function jsonTrackEvent(
  event: number,
  key: string,
  value: { type: number; data: Uint8Array },
  old: { type: number; data: Uint8Array } | undefined,
  showBinary: boolean,
): string {
  const fields = [`"event":${JSON.stringify(trackEventName(event))}`, `"key":${JSON.stringify(key)}`];
  const known = valueTypeShortName(value.type);
  fields.push(`"type":${known === undefined ? 'null' : JSON.stringify(known)}`);
  fields.push(`"value":${known === undefined ? 'null' : jsonValueText(value.type, value.data, showBinary)}`);
  const oldName = old ? valueTypeShortName(old.type) : undefined;
  if (old && oldName !== undefined) {
    fields.push(
      `"old":{"type":${JSON.stringify(oldName)},"value":${jsonValueText(old.type, old.data, showBinary)}}`,
    );
  }
  return `{${fields.join(',')}}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing values for -s (glibc sscanf semantics)

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function isCSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isHexDigit(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

function skipSpace(s: string): number {
  let i = 0;
  while (isCSpace(s[i])) i++;
  return i;
}

/** Sign and decimal digits at the start of `s` (after white space), or undefined. */
function scanDecimalInteger(s: string): { neg: boolean; magnitude: bigint } | undefined {
  let i = skipSpace(s);
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  const start = i;
  while (isDigit(s[i])) i++;
  if (i === start) return undefined;
  return { neg, magnitude: BigInt(s.slice(start, i)) };
}

/** `sscanf(s, "%" PRId64)`: the value, or undefined when nothing matched. Saturates. */
export function scanInt64(s: string): bigint | undefined {
  const r = scanDecimalInteger(s);
  if (!r) return undefined;
  const v = r.neg ? -r.magnitude : r.magnitude;
  if (v > INT64_MAX) return INT64_MAX;
  if (v < INT64_MIN) return INT64_MIN;
  return v;
}

/** `sscanf(s, "%" PRIu64)`: strtoull semantics (a minus sign negates modulo 2^64). */
export function scanUint64(s: string): bigint | undefined {
  const r = scanDecimalInteger(s);
  if (!r) return undefined;
  if (r.magnitude > UINT64_MAX) return UINT64_MAX;
  if (r.neg && r.magnitude !== 0n) return 2n ** 64n - r.magnitude;
  return r.magnitude;
}

type FloatScan =
  | { kind: 'inf'; neg: boolean }
  | { kind: 'nan'; neg: boolean }
  | { kind: 'dec'; neg: boolean; digits: string; exp10: number }
  | { kind: 'hex'; neg: boolean; mant: bigint; exp2: number };

/** Clamp a decimal exponent string so huge exponents stay computable (result is 0 or inf). */
function clampExponent(sign: string, digits: string): number {
  const trimmed = digits.replace(/^0+/, '');
  const n = trimmed.length > 9 ? 999_999_999 : Number(trimmed || '0');
  return sign === '-' ? -n : n;
}

/** The number syntax glibc's scanf accepts for %f / %lf. */
function scanFloatSyntax(s: string): FloatScan | undefined {
  let i = skipSpace(s);
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  const rest = s.slice(i).toLowerCase();
  if (rest.startsWith('inf')) {
    // "inf" alone or "infinity"; a started but unfinished "infinity" fails.
    const after = rest.slice(3);
    if (after.startsWith('i') && !after.startsWith('inity')) return undefined;
    return { kind: 'inf', neg };
  }
  if (rest.startsWith('nan')) return { kind: 'nan', neg };
  if (rest.startsWith('0x')) {
    let j = i + 2;
    let hex = '';
    let fracDigits = 0;
    while (isHexDigit(s[j])) hex += s[j++];
    if (s[j] === '.') {
      j++;
      while (isHexDigit(s[j])) {
        hex += s[j++];
        fracDigits++;
      }
    }
    if (hex === '') return undefined;
    let exp2 = -4 * fracDigits;
    if (s[j] === 'p' || s[j] === 'P') {
      let k = j + 1;
      let sign = '+';
      if (s[k] === '+' || s[k] === '-') sign = s[k++]!;
      const start = k;
      while (isDigit(s[k])) k++;
      if (k > start) exp2 += clampExponent(sign, s.slice(start, k));
    }
    return { kind: 'hex', neg, mant: BigInt('0x' + hex), exp2 };
  }
  let j = i;
  let intDigits = '';
  let fracDigits = '';
  while (isDigit(s[j])) intDigits += s[j++];
  if (s[j] === '.') {
    j++;
    while (isDigit(s[j])) fracDigits += s[j++];
  }
  if (intDigits === '' && fracDigits === '') return undefined;
  let exp10 = -fracDigits.length;
  if (s[j] === 'e' || s[j] === 'E') {
    let k = j + 1;
    let sign = '+';
    if (s[k] === '+' || s[k] === '-') sign = s[k++]!;
    const start = k;
    while (isDigit(s[k])) k++;
    if (k > start) exp10 += clampExponent(sign, s.slice(start, k));
  }
  const digits = (intDigits + fracDigits).replace(/^0+/, '') || '0';
  return { kind: 'dec', neg, digits, exp10 };
}

/**
 * Round m × 2^e (m ≥ 0) to the nearest binary floating point number with `mantBits`
 * significant bits (incl. the hidden one), ties to even, with gradual underflow below
 * `minExp` (the exponent of the smallest normal) and overflow to Infinity above `maxExp`.
 */
function roundDyadic(m: bigint, e: number, mantBits: number, minExp: number, maxExp: number): number {
  if (m === 0n) return 0;
  const len = m.toString(2).length;
  const top = len - 1 + e; // exponent of the leading bit
  if (top > maxExp) return Infinity;
  if (top < minExp - mantBits - 1) return 0;
  let shift = len - mantBits; // bits to drop
  if (top < minExp) shift += minExp - top;
  let q = m;
  let newE = e;
  if (shift > 0) {
    const s = BigInt(shift);
    q = m >> s;
    const rem = m - (q << s);
    const half = 1n << (s - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
    newE = e + shift;
  }
  if (q.toString(2).length - 1 + newE > maxExp) return Infinity;
  // q has at most mantBits + 1 bits and newE is not below the subnormal step: exact.
  return Number(q) * 2 ** newE;
}

/** Compare digits × 10^exp10 with m × 2^e exactly. */
function compareDecimalDyadic(digits: string, exp10: number, m: bigint, e: number): number {
  let left = BigInt(digits);
  let right = m;
  if (exp10 >= 0) left *= 10n ** BigInt(exp10);
  else right *= 10n ** BigInt(-exp10);
  if (e >= 0) right <<= BigInt(e);
  else left <<= BigInt(-e);
  return left === right ? 0 : left > right ? 1 : -1;
}

function nextFloatUp(f: number): number {
  const a = new Float32Array([f]);
  const u = new Uint32Array(a.buffer);
  u[0] = u[0]! + 1;
  return a[0]!;
}

/** Correctly rounded conversion of a decimal to the nearest float (strtof). */
function decimalToFloat(digits: string, exp10: number): number {
  if (digits === '0') return 0;
  // Avoid pathological exponents: anything this far out is 0 or infinite.
  if (exp10 + digits.length > 60) return Infinity;
  if (exp10 + digits.length < -70) return 0;
  const d = Number(`${digits}e${exp10}`); // correctly rounded double
  const f = Math.fround(d);
  if (f === d || !Number.isFinite(d)) return f;
  // Double rounding can only go wrong when d sits exactly on a midpoint between two floats.
  const lo = f < d ? f : f === Infinity ? 3.4028234663852886e38 : prevFloat(f);
  const hi = f < d ? nextFloatUp(f) : f;
  const mid = hi === Infinity ? 2 ** 128 - 2 ** 103 : (lo + hi) / 2;
  if (d !== mid) return f;
  const { mant, exp } = doubleToDyadic(mid);
  const cmp = compareDecimalDyadic(digits, exp10, mant, exp);
  if (cmp > 0) return hi;
  if (cmp < 0) return lo;
  return f; // a true tie: Math.fround already rounded to even
}

function prevFloat(f: number): number {
  const a = new Float32Array([f]);
  const u = new Uint32Array(a.buffer);
  u[0] = u[0]! - 1;
  return a[0]!;
}

/**
 * `sscanf(s, "%f")` (single = true) or `"%lf"`: the value's bytes (little-endian, 4 or 8),
 * or undefined when nothing matched. NaN carries its sign like glibc (`-nan`).
 */
export function scanFloatBytes(s: string, single: boolean): Buffer | undefined {
  const r = scanFloatSyntax(s);
  if (!r) return undefined;
  const out = Buffer.alloc(single ? 4 : 8);
  if (r.kind === 'nan') {
    if (single) writeUInt32LE(out, (r.neg ? 0xffc00000 : 0x7fc00000) >>> 0);
    else writeBigUInt64LE(out, r.neg ? 0xfff8000000000000n : 0x7ff8000000000000n);
    return out;
  }
  let mag: number;
  if (r.kind === 'inf') mag = Infinity;
  else if (r.kind === 'hex')
    mag = single ? roundDyadic(r.mant, r.exp2, 24, -126, 127) : roundDyadic(r.mant, r.exp2, 53, -1022, 1023);
  else if (single) mag = decimalToFloat(r.digits, r.exp10);
  else mag = Number(`${r.digits}e${r.exp10}`);
  const v = r.neg ? -mag : mag;
  if (single) writeFloatLE(out, v);
  else writeDoubleLE(out, v);
  return out;
}

export type SetValueParse =
  | { ok: true; type: number; bytes: Buffer }
  | { ok: true; type: typeof CmapValueType.BINARY; file: string }
  | { ok: false; message: string };

/**
 * What `-s key <typeName> <value>` stores: the (type, bytes) pair or, for `bin`, the file to
 * read (`-` = stdin). Errors carry corosync-cmapctl's message (without newline).
 */
export function parseSetValue(typeName: string, valueText: string): SetValueParse {
  const type = valueTypeFromShortName(typeName);
  if (type === undefined) return { ok: false, message: `Unknown type ${typeName}` };
  const invalid = { ok: false as const, message: `${valueText} is not valid ${typeName} type value` };
  const outOfRange = { ok: false as const, message: `${valueText} is not valid ${typeName} integer` };
  switch (type) {
    case CmapValueType.INT8:
    case CmapValueType.INT16:
    case CmapValueType.INT32:
    case CmapValueType.INT64:
    case CmapValueType.UINT8:
    case CmapValueType.UINT16:
    case CmapValueType.UINT32:
    case CmapValueType.UINT64: {
      const [min, max] = integerTypeRange(type)!;
      const v = min < 0n ? scanInt64(valueText) : scanUint64(valueText);
      if (v === undefined) return invalid;
      if (v < min || v > max) return outOfRange;
      const value =
        type === CmapValueType.INT64 || type === CmapValueType.UINT64
          ? { type, value: v }
          : { type, value: Number(v) };
      return { ok: true, type, bytes: encodeValue(value).bytes };
    }
    case CmapValueType.FLOAT:
    case CmapValueType.DOUBLE: {
      const bytes = scanFloatBytes(valueText, type === CmapValueType.FLOAT);
      if (!bytes) return invalid;
      return { ok: true, type, bytes };
    }
    case CmapValueType.STRING:
      // cut at a NUL and NUL-terminated, as the map stores strings
      return { ok: true, type, bytes: encodeValue({ type, value: valueText }).bytes };
    default:
      return { ok: true, type: CmapValueType.BINARY, file: valueText };
  }
}

// ---------------------------------------------------------------------------------------------
// The -p settings file

export type LoadStep =
  | { kind: 'delete'; key: string }
  | { kind: 'delete-prefix'; prefix: string }
  | { kind: 'set'; key: string; typeName: string; value: string }
  | { kind: 'error'; message: string };

/** Size of corosync-cmapctl's line buffer: longer lines are read in pieces. */
const LINE_BUFFER = 1024;

/** Split file bytes the way repeated `fgets(buf, 1024, f)` does. */
function fgetsChunks(content: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  let pos = 0;
  while (pos < content.length) {
    const nl = content.indexOf(0x0a, pos);
    const lineEnd = nl >= 0 ? nl + 1 : content.length;
    const end = Math.min(lineEnd, pos + LINE_BUFFER - 1);
    chunks.push(content.subarray(pos, end));
    pos = end;
  }
  return chunks;
}

/** Tokens of a line split on spaces and newlines only (C `strtok(line, " \n")`). */
function tokens(line: string): string[] {
  return line.split(/[ \n]+/).filter((t) => t !== '');
}

/**
 * The steps a `-p` settings file asks for, in file order. Format (one entry per line):
 * `key type value` sets (see -s), `^key` deletes, `^^prefix` deletes by prefix; lines that
 * are empty or whose first non-blank character is `#` are skipped. Only spaces separate
 * fields (a tab is part of a word); extra words are ignored. A set line without type or
 * value yields an `error` step (corosync-cmapctl stops there with exit code 1).
 */
export function parseLoadFile(content: Buffer): LoadStep[] {
  const steps: LoadStep[] = [];
  for (const raw of fgetsChunks(content)) {
    const nul = raw.indexOf(0);
    const chunk = (nul >= 0 ? raw.subarray(0, nul) : raw).toString('latin1');
    let i = 0;
    while (chunk[i] === ' ' || chunk[i] === '\t') i++;
    if (chunk[i] === '#' || chunk[i] === '\n') continue;
    // Conversion back to the file's bytes: the line was decoded byte-per-char above.
    const words = tokens(chunk.slice(i)).map((w) => Buffer.from(w, 'latin1').toString('utf8'));
    const first = words[0];
    if (first !== undefined && first.startsWith('^^')) {
      steps.push({ kind: 'delete-prefix', prefix: first.slice(2) });
    } else if (first !== undefined && first.startsWith('^')) {
      steps.push({ kind: 'delete', key: first.slice(1) });
    } else {
      const [, typeName, value] = words;
      if (typeName === undefined || value === undefined) {
        steps.push({
          kind: 'error',
          message: `Both type and value for key ${first ?? '(null)'} are required`,
        });
        break;
      }
      steps.push({ kind: 'set', key: first!, typeName, value });
    }
  }
  return steps;
}
