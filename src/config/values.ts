/**
 * Small helpers to build and read icmap values (StoredValue) the way the config loader needs
 * them. Config text is handled as latin1 ("binary") strings so that every byte of a value is
 * stored unchanged, whatever its encoding.
 */
import { Buffer } from 'node:buffer';
import { CmapValueType, type StoredValue } from '../cmap/types.js';
import {
  readBigUInt64LE,
  readInt32LE,
  readUInt16LE,
  readUInt32LE,
  readUInt8,
  writeBigUInt64LE,
  writeInt32LE,
  writeUInt16LE,
  writeUInt32LE,
  writeUInt8,
} from '../common/bytes.js';

/** A config map: icmap key → typed value. Iterate with {@link sortedKeys} for icmap order. */
export type ConfigMap = Map<string, StoredValue>;

export function strValue(text: string): StoredValue {
  const body = Buffer.from(text, 'latin1');
  const nul = body.indexOf(0);
  const used = nul >= 0 ? body.subarray(0, nul) : body;
  const bytes = Buffer.alloc(used.length + 1);
  used.copy(bytes);
  return { type: CmapValueType.STRING, bytes };
}

export function u8Value(n: number): StoredValue {
  const bytes = Buffer.alloc(1);
  writeUInt8(bytes, n & 0xff);
  return { type: CmapValueType.UINT8, bytes };
}

export function u16Value(n: number): StoredValue {
  const bytes = Buffer.alloc(2);
  writeUInt16LE(bytes, n & 0xffff);
  return { type: CmapValueType.UINT16, bytes };
}

export function u32Value(n: number): StoredValue {
  const bytes = Buffer.alloc(4);
  writeUInt32LE(bytes, n >>> 0);
  return { type: CmapValueType.UINT32, bytes };
}

export function i32Value(n: number): StoredValue {
  const bytes = Buffer.alloc(4);
  writeInt32LE(bytes, n | 0);
  return { type: CmapValueType.INT32, bytes };
}

export function u64Value(n: bigint): StoredValue {
  const bytes = Buffer.alloc(8);
  writeBigUInt64LE(bytes, BigInt.asUintN(64, n));
  return { type: CmapValueType.UINT64, bytes };
}

/** The string value of a key (latin1), or undefined when absent or not a string (icmap_get_string). */
export function getStr(map: ConfigMap, key: string): string | undefined {
  const v = map.get(key);
  if (!v || v.type !== CmapValueType.STRING) return undefined;
  const nul = v.bytes.indexOf(0);
  return v.bytes.toString('latin1', 0, nul >= 0 ? nul : v.bytes.length);
}

export function getU8(map: ConfigMap, key: string): number | undefined {
  const v = map.get(key);
  return v && v.type === CmapValueType.UINT8 && v.bytes.length === 1 ? readUInt8(v.bytes, 0) : undefined;
}

export function getU16(map: ConfigMap, key: string): number | undefined {
  const v = map.get(key);
  return v && v.type === CmapValueType.UINT16 && v.bytes.length === 2 ? readUInt16LE(v.bytes, 0) : undefined;
}

export function getU32(map: ConfigMap, key: string): number | undefined {
  const v = map.get(key);
  return v && v.type === CmapValueType.UINT32 && v.bytes.length === 4 ? readUInt32LE(v.bytes, 0) : undefined;
}

export function getI32(map: ConfigMap, key: string): number | undefined {
  const v = map.get(key);
  return v && v.type === CmapValueType.INT32 && v.bytes.length === 4 ? readInt32LE(v.bytes, 0) : undefined;
}

export function getU64(map: ConfigMap, key: string): bigint | undefined {
  const v = map.get(key);
  return v && v.type === CmapValueType.UINT64 && v.bytes.length === 8
    ? readBigUInt64LE(v.bytes, 0)
    : undefined;
}

/** icmap (trie) order: byte-wise ascending. Keys are ASCII, so UTF-16 comparison is the same. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Keys starting with `prefix` (plain string prefix, as icmap iterators do), in icmap order. */
export function sortedKeys(map: ConfigMap, prefix = ''): string[] {
  const out: string[] = [];
  for (const k of map.keys()) if (k.startsWith(prefix)) out.push(k);
  return out.sort(compareKeys);
}

/** A copy of the map with keys in icmap order. */
export function sortedMap(map: ConfigMap): ConfigMap {
  return new Map(sortedKeys(map).map((k) => [k, map.get(k) as StoredValue]));
}

/** Signed 32-bit view of an unsigned value, as C's `%d` prints it. */
export function asInt32(n: number): number {
  return n | 0;
}

/** Byte length of a latin1 string (one byte per character). */
export function byteLen(s: string): number {
  return s.length;
}
