/**
 * icmap: the daemon's internal configuration/runtime map (spec/cmap.md §1–§2).
 *
 * Values are kept as (type, bytes) exactly as corosync stores them (strings NUL-terminated).
 * Keys are kept in a sorted index so that prefix iteration walks them in byte order; lookups
 * go through a hash map. Change tracking reproduces the notification order of the libqb trie
 * corosync uses (longest matching prefix first; on one key, exact-key trackers newest first,
 * then prefix trackers oldest first).
 *
 * Everything here is synchronous and pure: no timers, no I/O. Tracker callbacks run inside the
 * operation that caused them; the IPC layer queues what it needs to send.
 *
 * Behaviour choices (documented deviations from corosync 3.1.7):
 * - A value type code outside 1..12 is rejected with CS_ERR_INVALID_PARAM (corosync accepts an
 *   unknown code with length 0 because such a type has "size 0").
 * - Notifications are delivered after the map has been updated, so a callback that reads the map
 *   sees the new state (for DELETE: the key is already gone).
 * - Re-entrancy: the trackers to call for one change are fixed before the first callback runs. A
 *   tracker removed by an earlier callback of the same change is not called; a tracker added
 *   during a notification does not receive that change. A callback may change the map: the
 *   nested change is notified at once (depth first, like corosync's synchronous callbacks), then
 *   the outer delivery continues with its own values.
 * - A callback that throws does not stop delivery to the remaining trackers; the first error is
 *   rethrown after all of them ran (the map change itself has been applied).
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import { TrackFlags, type CmapMap, type IterEntry, type TrackCallback, type TrackEvent } from './map.js';
import {
  CmapValueType,
  KEY_NAME_MAX_LEN,
  KEY_NAME_MIN_LEN,
  MAX_VALUE_LEN,
  decodeValue,
  encodeValue,
  integerTypeRange,
  isValidValueType,
  valueTypeSize,
  type CmapValue,
  type StoredValue,
} from './types.js';
import { readUInt16LE, readUInt32LE, writeUInt16LE, writeUInt32LE } from '../common/bytes.js';

/** All valid track mask bits (DELETE | MODIFY | ADD | PREFIX). */
export const TRACK_FLAGS_ALL = TrackFlags.DELETE | TrackFlags.MODIFY | TrackFlags.ADD | TrackFlags.PREFIX;

/** Key-name rule applied when a key is created: 3..255 chars of `a-z A-Z 0-9 . _ - / :`. */
export function isValidKeyName(key: string): boolean {
  const n = key.length;
  if (n < KEY_NAME_MIN_LEN || n > KEY_NAME_MAX_LEN) return false;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) || // a-z
      (c >= 0x41 && c <= 0x5a) || // A-Z
      (c >= 0x30 && c <= 0x39) || // 0-9
      c === 0x2e || // .
      c === 0x5f || // _
      c === 0x2d || // -
      c === 0x2f || // /
      c === 0x3a; // :
    if (!ok) return false;
  }
  return true;
}

/** Width in bytes of an integer type, 0 for FLOAT/DOUBLE/STRING/BINARY/unknown. */
export function integerTypeWidth(type: number): number {
  return integerTypeRange(type) ? valueTypeSize(type) : 0;
}

const TWO_POW_32 = 4294967296;

/**
 * `bytes` (a little-endian integer of `width` bytes) plus `step`, wrapped to the width (two's
 * complement arithmetic, so it serves signed and unsigned types alike). Returns a new buffer.
 */
export function addWrapped(bytes: Uint8Array, width: number, step: number, inPlace = false): Buffer {
  // hot path (a runtime.services counter per exec message): no view when given a Buffer, and a
  // pooled allocation (every byte is written below) unless the value may change in place
  const src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = inPlace ? src : Buffer.allocUnsafe(width);
  switch (width) {
    case 1:
      out[0] = (src[0]! + step) & 0xff;
      break;
    case 2:
      writeUInt16LE(out, (readUInt16LE(src, 0) + step) & 0xffff, 0);
      break;
    case 4:
      writeUInt32LE(out, (readUInt32LE(src, 0) + step) >>> 0, 0);
      break;
    case 8: {
      const sum = readUInt32LE(src, 0) + step;
      const carry = Math.floor(sum / TWO_POW_32);
      writeUInt32LE(out, sum - carry * TWO_POW_32, 0);
      writeUInt32LE(out, (readUInt32LE(src, 4) + carry) >>> 0, 4);
      break;
    }
    default:
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `no integer of width ${width}`);
  }
  return out;
}

function isInt32(n: number): boolean {
  return Number.isInteger(n) && n >= -2147483648 && n <= 2147483647;
}

/**
 * Length of the value bytes icmap keeps for (type, bytes) without the trailing NUL it adds to
 * strings, or throws CS_ERR_INVALID_PARAM when corosync's icmap_set would reject the value.
 */
function checkedBodyLength(type: number, bytes: Uint8Array): number {
  const len = bytes.length;
  if (len > MAX_VALUE_LEN) {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `value length ${len} exceeds ${MAX_VALUE_LEN}`);
  }
  if (!isValidValueType(type)) {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `unknown value type ${type}`);
  }
  if (type === CmapValueType.STRING) {
    const nul = bytes.indexOf(0);
    if (nul < 0) return len;
    // Only a terminating NUL is allowed: value_len may not exceed strlen + 1.
    if (len > nul + 1) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'string value has bytes after its NUL');
    }
    return nul;
  }
  if (type === CmapValueType.BINARY) return len;
  const size = valueTypeSize(type);
  if (len !== size) {
    throw new CsError(
      CsErrorCode.CS_ERR_INVALID_PARAM,
      `value of type ${type} must be ${size} bytes, got ${len}`,
    );
  }
  return len;
}

/** Whether `stored` equals what (type, bytes[0..body]) would store. */
function sameStored(stored: StoredValue, type: number, bytes: Uint8Array, body: number): boolean {
  if (stored.type !== type) return false;
  const s = stored.bytes;
  const isString = type === CmapValueType.STRING;
  if (s.length !== (isString ? body + 1 : body)) return false;
  for (let i = 0; i < body; i++) if (s[i] !== bytes[i]) return false;
  return true;
}

function copyBody(type: number, bytes: Uint8Array, body: number): Buffer {
  const isString = type === CmapValueType.STRING;
  const out = Buffer.alloc(isString ? body + 1 : body);
  out.set(bytes.subarray(0, body), 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sorted key index

/**
 * A sorted set of strings compared by UTF-16 code unit, which for the ASCII key names icmap
 * accepts is byte (strcmp) order. Lookup O(log n); insert/remove O(log n) search + shift.
 */
export class SortedKeys {
  private readonly arr: string[] = [];

  get size(): number {
    return this.arr.length;
  }

  /** First index whose key is >= s. */
  lowerBound(s: string): number {
    const a = this.arr;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose key is > s. */
  upperBound(s: string): number {
    const a = this.arr;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! <= s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts s; returns false when it was already present. */
  insert(s: string): boolean {
    const i = this.lowerBound(s);
    if (this.arr[i] === s) return false;
    if (i === this.arr.length) this.arr.push(s);
    else this.arr.splice(i, 0, s);
    return true;
  }

  /** Removes s; returns false when it was absent. */
  remove(s: string): boolean {
    const i = this.lowerBound(s);
    if (this.arr[i] !== s) return false;
    if (i === this.arr.length - 1) this.arr.pop();
    else this.arr.splice(i, 1);
    return true;
  }

  /** The first key that starts with `prefix` and sorts strictly after `after` (if given). */
  nextWithPrefix(prefix: string, after: string | undefined): string | undefined {
    let i = this.lowerBound(prefix);
    if (after !== undefined) {
      const j = this.upperBound(after);
      if (j > i) i = j;
    }
    const k = this.arr[i];
    return k !== undefined && k.startsWith(prefix) ? k : undefined;
  }

  /** All keys starting with `prefix`, in order. */
  withPrefix(prefix: string): string[] {
    const out: string[] = [];
    const a = this.arr;
    for (let i = this.lowerBound(prefix); i < a.length; i++) {
      const k = a[i]!;
      if (!k.startsWith(prefix)) break;
      out.push(k);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Trackers

/** One registered tracker (shared by Icmap and StatsMap). */
export interface Tracker {
  readonly handle: number;
  /** undefined = no key (corosync NULL); with PREFIX this means the whole map. */
  readonly key: string | undefined;
  readonly flags: number;
  readonly callback: TrackCallback;
  /** false once deleted; a pending delivery to a dead tracker is skipped. */
  alive: boolean;
}

/**
 * The set of trackers of one map and the libqb-trie delivery order. Handles are positive
 * integers, never reused within one registry.
 */
export class TrackerRegistry {
  private nextHandle = 1;
  /** Bumped by every add and remove (FastCounter re-checks its key against the trackers then). */
  version = 0;
  private readonly byHandle = new Map<number, Tracker>();
  /** Exact-key trackers per key, in registration order. */
  private readonly exact = new Map<string, Tracker[]>();
  /** PREFIX trackers per prefix ('' = whole map), in registration order. */
  private readonly prefix = new Map<string, Tracker[]>();
  /** The distinct prefixes of `prefix`, longest first. */
  private prefixOrder: string[] = [];

  get size(): number {
    return this.byHandle.size;
  }

  get(handle: number): Tracker | undefined {
    return this.byHandle.get(handle);
  }

  /** All live trackers in registration order. */
  all(): Tracker[] {
    return [...this.byHandle.values()];
  }

  /** Registers a tracker; `flags` must already be validated by the caller. */
  add(key: string | undefined, flags: number, callback: TrackCallback): Tracker {
    const normKey = key === '' ? undefined : key;
    const t: Tracker = { handle: this.nextHandle++, key: normKey, flags, callback, alive: true };
    this.version++;
    this.byHandle.set(t.handle, t);
    if (flags & TrackFlags.PREFIX) {
      const p = normKey ?? '';
      let group = this.prefix.get(p);
      if (!group) {
        group = [];
        this.prefix.set(p, group);
        const order = this.prefixOrder;
        let i = 0;
        while (i < order.length && order[i]!.length >= p.length) i++;
        order.splice(i, 0, p);
      }
      group.push(t);
    } else if (normKey !== undefined) {
      let group = this.exact.get(normKey);
      if (!group) {
        group = [];
        this.exact.set(normKey, group);
      }
      group.push(t);
    }
    // A key-less tracker without PREFIX is only kept for its handle: it never fires.
    return t;
  }

  /** Removes a tracker; returns it, or undefined for an unknown handle. */
  remove(handle: number): Tracker | undefined {
    const t = this.byHandle.get(handle);
    if (!t) return undefined;
    this.version++;
    this.byHandle.delete(handle);
    t.alive = false;
    if (t.flags & TrackFlags.PREFIX) {
      const p = t.key ?? '';
      const group = this.prefix.get(p);
      if (group) {
        group.splice(group.indexOf(t), 1);
        if (group.length === 0) {
          this.prefix.delete(p);
          this.prefixOrder = this.prefixOrder.filter((x) => x !== p);
        }
      }
    } else if (t.key !== undefined) {
      const group = this.exact.get(t.key);
      if (group) {
        group.splice(group.indexOf(t), 1);
        if (group.length === 0) this.exact.delete(t.key);
      }
    }
    return t;
  }

  /**
   * The trackers a change of `key` with event bit `event` reaches, in delivery order, or
   * undefined when none does (no allocation in that case).
   */
  collect(key: string, event: number): Tracker[] | undefined {
    if (this.byHandle.size === 0) return undefined;
    let out: Tracker[] | undefined;
    const ex = this.exact.get(key);
    if (ex) {
      for (let i = ex.length - 1; i >= 0; i--) {
        const t = ex[i]!;
        if (t.flags & event) (out ??= []).push(t);
      }
    }
    for (const p of this.prefixOrder) {
      if (p.length > key.length || !key.startsWith(p)) continue;
      for (const t of this.prefix.get(p)!) {
        if (t.flags & event) (out ??= []).push(t);
      }
    }
    return out;
  }

  /** Calls each still-live tracker of `list` with `ev`; rethrows the first callback error. */
  static deliver(list: readonly Tracker[], ev: TrackEvent): void {
    let failed = false;
    let error: unknown;
    for (const t of list) {
      if (!t.alive) continue;
      try {
        t.callback(ev);
      } catch (err) {
        if (!failed) {
          failed = true;
          error = err;
        }
      }
    }
    if (failed) throw error;
  }
}

/** Validates a track mask: only DELETE/MODIFY/ADD/PREFIX bits (CS_ERR_INVALID_PARAM otherwise). */
export function checkTrackFlags(flags: number): void {
  if (!Number.isInteger(flags) || (flags & ~TRACK_FLAGS_ALL) !== 0 || flags < 0 || flags > 0x7fffffff) {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `invalid track flags ${flags}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The map

/** A counter bound to one icmap key (see Icmap.counter). */
export interface FastCounter {
  /** Add 1 (icmap_fast_inc); throws as `fastIncrement` does (e.g. CS_ERR_NOT_EXIST). */
  increment(): void;
  /** Add 1 if the key exists; nothing otherwise. */
  incrementIfPresent(): void;
}

/** The daemon's internal map. Methods throw CsError with corosync's code on failure. */
export class Icmap {
  private readonly values = new Map<string, StoredValue>();
  private readonly index = new SortedKeys();
  private readonly trackers = new TrackerRegistry();
  private readonly roExact = new Set<string>();
  private readonly roPrefixes: string[] = [];

  /** Number of keys. */
  get size(): number {
    return this.values.size;
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  /**
   * The stored (type, bytes), strings including their NUL. The returned object is the map's
   * own immutable record: never modify its bytes.
   */
  get(key: string): StoredValue | undefined {
    return this.values.get(key);
  }

  /** The typed value (strings without NUL), undefined when the key does not exist. */
  getValue(key: string): CmapValue | undefined {
    const v = this.values.get(key);
    return v ? decodeValue(v.type, v.bytes) : undefined;
  }

  /**
   * icmap_set: validates the value (INVALID_PARAM), then, if the key is new, its name
   * (NAME_TOO_LONG). Setting the current (type, bytes) again changes and notifies nothing.
   * STRING bytes may end with one NUL; a NUL elsewhere is INVALID_PARAM; a NUL is appended.
   */
  set(key: string, type: number, bytes: Uint8Array): void {
    const body = checkedBodyLength(type, bytes);
    const old = this.values.get(key);
    if (old) {
      if (sameStored(old, type, bytes, body)) return;
    } else if (!isValidKeyName(key)) {
      throw new CsError(CsErrorCode.CS_ERR_NAME_TOO_LONG, `invalid key name '${key}'`);
    }
    this.store(key, { type, bytes: copyBody(type, bytes, body) }, old, true);
  }

  /** Sets a typed value (icmap_set_<type>); strings are passed like icmap_set_string. */
  setValue(key: string, v: CmapValue): void {
    const enc = encodeValue(v);
    if (enc.type === CmapValueType.STRING) {
      this.set(key, enc.type, enc.bytes.subarray(0, enc.bytes.length - 1));
    } else {
      this.set(key, enc.type, enc.bytes);
    }
  }

  /** icmap_delete: CS_ERR_NOT_EXIST for a missing key; DELETE carries the removed value. */
  delete(key: string): void {
    const old = this.values.get(key);
    if (!old) throw new CsError(CsErrorCode.CS_ERR_NOT_EXIST, `key '${key}' does not exist`);
    this.values.delete(key);
    this.index.remove(key);
    this.notify(TrackFlags.DELETE, key, undefined, old);
  }

  /**
   * icmap_adjust_int: value += step in the type's width with wrap-around, stored like a set
   * (MODIFY with the old value; nothing when step leaves the value unchanged).
   * NOT_EXIST for a missing key; INVALID_PARAM for FLOAT/DOUBLE/STRING/BINARY or a step that
   * is not a 32-bit signed integer.
   */
  adjustInt(key: string, step: number): void {
    const { old, width } = this.adjustable(key, step);
    const bytes = addWrapped(old.bytes, width, step);
    if (bytes.equals(old.bytes)) return;
    this.store(key, { type: old.type, bytes }, old, true);
  }

  /**
   * icmap_fast_adjust_int: like adjustInt, but the MODIFY notification carries no old value
   * (type 0, length 0), and it is sent even when the value did not change (step 0).
   */
  fastAdjust(key: string, step: number): void {
    const { old, width } = this.adjustable(key, step);
    if (this.trackers.collect(key, TrackFlags.MODIFY) === undefined && old.bytes.length === width) {
      // Nobody is told of this change (no tracker can hold the value): the counter of every
      // exec message sent and received changes in place instead of a new value per message.
      addWrapped(old.bytes, width, step, true);
      return;
    }
    this.store(key, { type: old.type, bytes: addWrapped(old.bytes, width, step) }, old, false);
  }

  /** icmap_fast_inc, used for the runtime.services.*.rx/tx counters. */
  fastIncrement(key: string): void {
    this.fastAdjust(key, 1);
  }

  /**
   * `fastIncrement(key)` bound to one key, for a counter bumped once per message (the exec
   * layer's runtime.services.<svc>.<fn>.rx/tx). While the key keeps its stored value and no
   * tracker set change happened since it last found none interested in the key, an increment
   * is one map lookup and the in-place add; otherwise it is `fastIncrement` (same errors,
   * notifications and value replacement). Why: `fastIncrement` took ~9 µs of each cold CPG
   * delivery (the checks, a result object, the tracker scan; bench/README.md item 16).
   */
  counter(key: string): FastCounter {
    let quiet: StoredValue | undefined;
    let width = 0;
    let version = -1;
    const add = (ifPresent: boolean): void => {
      const v = this.values.get(key);
      if (v !== undefined && v === quiet && version === this.trackers.version) {
        addWrapped(v.bytes, width, 1, true);
        return;
      }
      if (v === undefined && ifPresent) return;
      this.fastAdjust(key, 1);
      const now = this.values.get(key)!;
      // fastAdjust changed `now` in place exactly when nobody was told: keep it then
      quiet = now === v ? now : undefined;
      width = integerTypeWidth(now.type);
      version = this.trackers.version;
    };
    return { increment: () => add(false), incrementIfPresent: () => add(true) };
  }

  /** The first entry whose key starts with `prefix` and sorts after `after` (live map). */
  iterNext(prefix: string, after: string | undefined): IterEntry | undefined {
    const key = this.index.nextWithPrefix(prefix, after);
    if (key === undefined) return undefined;
    const v = this.values.get(key)!;
    return { key, type: v.type, length: v.bytes.length };
  }

  /** All keys starting with `prefix`, in iteration (byte) order. */
  keys(prefix = ''): string[] {
    return this.index.withPrefix(prefix);
  }

  /** All (key, value) pairs under `prefix`, in iteration order. */
  entries(prefix = ''): Array<[string, StoredValue]> {
    return this.index.withPrefix(prefix).map((k) => [k, this.values.get(k)!]);
  }

  /**
   * icmap_track_add. `key` undefined or '' = no key (with PREFIX: the whole map; without:
   * never fires). Flags other than DELETE|MODIFY|ADD|PREFIX → INVALID_PARAM.
   * Returns a positive handle.
   */
  trackAdd(key: string | undefined, flags: number, callback: TrackCallback): number {
    checkTrackFlags(flags);
    return this.trackers.add(key, flags, callback).handle;
  }

  /** icmap_track_delete; CS_ERR_BAD_HANDLE for an unknown handle. */
  trackDelete(handle: number): void {
    if (!this.trackers.remove(handle)) {
      throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, `unknown track handle ${handle}`);
    }
  }

  /** Number of registered trackers. */
  get trackerCount(): number {
    return this.trackers.size;
  }

  /** icmap_is_key_ro: exact entries match the whole key, prefix entries a plain string prefix. */
  isReadOnly(key: string): boolean {
    if (this.roExact.has(key)) return true;
    for (const p of this.roPrefixes) if (key.startsWith(p)) return true;
    return false;
  }

  /** icmap_set_ro_access(.., ro=1). Returns false when the entry already exists (C: CS_ERR_EXIST). */
  addReadOnly(keyOrPrefix: string, isPrefix: boolean): boolean {
    if (isPrefix) {
      if (this.roPrefixes.includes(keyOrPrefix)) return false;
      this.roPrefixes.push(keyOrPrefix);
      return true;
    }
    if (this.roExact.has(keyOrPrefix)) return false;
    this.roExact.add(keyOrPrefix);
    return true;
  }

  /** icmap_set_ro_access(.., ro=0). Returns false when there was no such entry. */
  removeReadOnly(keyOrPrefix: string, isPrefix: boolean): boolean {
    if (isPrefix) {
      const i = this.roPrefixes.indexOf(keyOrPrefix);
      if (i < 0) return false;
      this.roPrefixes.splice(i, 1);
      return true;
    }
    return this.roExact.delete(keyOrPrefix);
  }

  private adjustable(key: string, step: number): { old: StoredValue; width: number } {
    if (!isInt32(step)) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `step ${step} is not a 32-bit integer`);
    }
    const old = this.values.get(key);
    if (!old) throw new CsError(CsErrorCode.CS_ERR_NOT_EXIST, `key '${key}' does not exist`);
    const width = integerTypeWidth(old.type);
    if (width === 0) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `key '${key}' does not hold an integer`);
    }
    return { old, width };
  }

  private store(key: string, entry: StoredValue, old: StoredValue | undefined, withOld: boolean): void {
    this.values.set(key, entry);
    if (!old) {
      this.index.insert(key);
      this.notify(TrackFlags.ADD, key, entry, undefined);
    } else {
      this.notify(TrackFlags.MODIFY, key, entry, withOld ? old : undefined);
    }
  }

  private notify(
    event: 1 | 2 | 4,
    key: string,
    newValue: StoredValue | undefined,
    oldValue: StoredValue | undefined,
  ): void {
    const list = this.trackers.collect(key, event);
    if (!list) return;
    const ev: TrackEvent =
      newValue && oldValue
        ? { event, key, newValue, oldValue }
        : newValue
          ? { event, key, newValue }
          : oldValue
            ? { event, key, oldValue }
            : { event, key };
    TrackerRegistry.deliver(list, ev);
  }
}

/**
 * The default map as cmap IPC sees it: set/delete/adjustInt of a read-only key (spec §1.3) →
 * CS_ERR_ACCESS; everything else goes straight to the Icmap.
 */
export function icmapIpcView(icmap: Icmap): CmapMap {
  const denyIfRo = (key: string): void => {
    if (icmap.isReadOnly(key)) {
      throw new CsError(CsErrorCode.CS_ERR_ACCESS, `key '${key}' is read-only`);
    }
  };
  return {
    get: (key) => icmap.get(key),
    set: (key, type, bytes) => {
      denyIfRo(key);
      icmap.set(key, type, bytes);
    },
    delete: (key) => {
      denyIfRo(key);
      icmap.delete(key);
    },
    adjustInt: (key, step) => {
      denyIfRo(key);
      icmap.adjustInt(key, step);
    },
    iterNext: (prefix, after) => icmap.iterNext(prefix, after),
    trackAdd: (key, flags, callback) => icmap.trackAdd(key, flags, callback),
    trackDelete: (handle) => icmap.trackDelete(handle),
  };
}
