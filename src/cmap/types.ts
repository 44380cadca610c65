/**
 * cmap value types (include/corosync/cmap.h, icmap.h) and their byte form. icmap keeps every
 * value as (type, bytes) in host byte order; corosync deployments are little-endian, and so is
 * everything we write (see spec/services-exec.md §1).
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import {
  readBigInt64LE,
  readBigUInt64LE,
  readDoubleLE,
  readFloatLE,
  readInt16LE,
  readInt32LE,
  readInt8,
  readUInt16LE,
  readUInt32LE,
  readUInt8,
  writeBigInt64LE,
  writeBigUInt64LE,
  writeDoubleLE,
  writeFloatLE,
  writeInt16LE,
  writeInt32LE,
  writeInt8,
  writeUInt16LE,
  writeUInt32LE,
  writeUInt8,
} from '../common/bytes.js';

export const CmapValueType = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  INT64: 7,
  UINT64: 8,
  FLOAT: 9,
  DOUBLE: 10,
  STRING: 11,
  BINARY: 12,
} as const;

export type CmapValueTypeName = keyof typeof CmapValueType;
export type CmapValueTypeCode = (typeof CmapValueType)[CmapValueTypeName];

/** Type codes whose JS value is a `number`. */
export type CmapNumberType =
  | typeof CmapValueType.INT8
  | typeof CmapValueType.UINT8
  | typeof CmapValueType.INT16
  | typeof CmapValueType.UINT16
  | typeof CmapValueType.INT32
  | typeof CmapValueType.UINT32
  | typeof CmapValueType.FLOAT
  | typeof CmapValueType.DOUBLE;

/** Type codes whose JS value is a `bigint`. */
export type CmapBigintType = typeof CmapValueType.INT64 | typeof CmapValueType.UINT64;

/** A typed cmap value as TypeScript code sees it. Strings carry no trailing NUL. */
export type CmapValue =
  | { type: CmapNumberType; value: number }
  | { type: CmapBigintType; value: bigint }
  | { type: typeof CmapValueType.STRING; value: string }
  | { type: typeof CmapValueType.BINARY; value: Uint8Array };

/** A value as icmap stores it: type code and the exact bytes (strings NUL-terminated). */
export interface StoredValue {
  readonly type: number;
  readonly bytes: Buffer;
}

/** ICMAP_KEYNAME_MINLEN / MAXLEN and ICMAP_MAX_VALUE_LEN. */
export const KEY_NAME_MIN_LEN = 3;
export const KEY_NAME_MAX_LEN = 255;
export const MAX_VALUE_LEN = 16 * 1024;

/** Fixed byte size of a type, 0 for STRING/BINARY (variable) and for unknown codes. */
export function valueTypeSize(type: number): number {
  switch (type) {
    case CmapValueType.INT8:
    case CmapValueType.UINT8:
      return 1;
    case CmapValueType.INT16:
    case CmapValueType.UINT16:
      return 2;
    case CmapValueType.INT32:
    case CmapValueType.UINT32:
    case CmapValueType.FLOAT:
      return 4;
    case CmapValueType.INT64:
    case CmapValueType.UINT64:
    case CmapValueType.DOUBLE:
      return 8;
    default:
      return 0;
  }
}

export function isValidValueType(type: number): type is CmapValueTypeCode {
  return Number.isInteger(type) && type >= CmapValueType.INT8 && type <= CmapValueType.BINARY;
}

/** The short names corosync-cmapctl prints and accepts: i8 u8 … flt dbl str bin. */
const shortNames: Record<CmapValueTypeCode, string> = {
  1: 'i8',
  2: 'u8',
  3: 'i16',
  4: 'u16',
  5: 'i32',
  6: 'u32',
  7: 'i64',
  8: 'u64',
  9: 'flt',
  10: 'dbl',
  11: 'str',
  12: 'bin',
};

export function valueTypeShortName(type: number): string | undefined {
  return isValidValueType(type) ? shortNames[type] : undefined;
}

export function valueTypeFromShortName(name: string): CmapValueTypeCode | undefined {
  for (const [code, short] of Object.entries(shortNames)) {
    if (short === name) return Number(code) as CmapValueTypeCode;
  }
  return undefined;
}

const INT_RANGES: Partial<Record<number, [bigint, bigint]>> = {
  [CmapValueType.INT8]: [-128n, 127n],
  [CmapValueType.UINT8]: [0n, 255n],
  [CmapValueType.INT16]: [-32768n, 32767n],
  [CmapValueType.UINT16]: [0n, 65535n],
  [CmapValueType.INT32]: [-2147483648n, 2147483647n],
  [CmapValueType.UINT32]: [0n, 4294967295n],
  [CmapValueType.INT64]: [-(2n ** 63n), 2n ** 63n - 1n],
  [CmapValueType.UINT64]: [0n, 2n ** 64n - 1n],
};

/** Inclusive range of an integer type, undefined for the non-integer types. */
export function integerTypeRange(type: number): [bigint, bigint] | undefined {
  return INT_RANGES[type];
}

/** Encode a typed value into the bytes icmap stores (strings get their NUL). */
export function encodeValue(v: CmapValue): StoredValue {
  const size = valueTypeSize(v.type);
  switch (v.type) {
    case CmapValueType.STRING: {
      const text = Buffer.from(v.value, 'utf8');
      const nul = text.indexOf(0);
      const body = nul >= 0 ? text.subarray(0, nul) : text;
      const bytes = Buffer.alloc(body.length + 1);
      body.copy(bytes);
      return { type: v.type, bytes };
    }
    case CmapValueType.BINARY:
      return { type: v.type, bytes: Buffer.from(v.value) };
    case CmapValueType.INT64:
    case CmapValueType.UINT64: {
      checkIntegerRange(v.type, v.value);
      const bytes = Buffer.alloc(8);
      if (v.type === CmapValueType.INT64) writeBigInt64LE(bytes, v.value);
      else writeBigUInt64LE(bytes, v.value);
      return { type: v.type, bytes };
    }
    default: {
      const bytes = Buffer.alloc(size);
      const n = v.value;
      if (v.type === CmapValueType.FLOAT) writeFloatLE(bytes, n);
      else if (v.type === CmapValueType.DOUBLE) writeDoubleLE(bytes, n);
      else {
        if (!Number.isInteger(n)) {
          throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `value ${n} is not an integer`);
        }
        checkIntegerRange(v.type, BigInt(n));
        switch (v.type) {
          case CmapValueType.INT8:
            writeInt8(bytes, n);
            break;
          case CmapValueType.UINT8:
            writeUInt8(bytes, n);
            break;
          case CmapValueType.INT16:
            writeInt16LE(bytes, n);
            break;
          case CmapValueType.UINT16:
            writeUInt16LE(bytes, n);
            break;
          case CmapValueType.INT32:
            writeInt32LE(bytes, n);
            break;
          case CmapValueType.UINT32:
            writeUInt32LE(bytes, n);
            break;
        }
      }
      return { type: v.type, bytes };
    }
  }
}

function checkIntegerRange(type: number, n: bigint): void {
  const range = INT_RANGES[type];
  if (range && (n < range[0] || n > range[1])) {
    throw new CsError(
      CsErrorCode.CS_ERR_INVALID_PARAM,
      `value ${n} out of range ${range[0]}..${range[1]} for type ${valueTypeShortName(type)}`,
    );
  }
}

/**
 * Decode stored bytes into a typed value. Strings end at their first NUL. Throws
 * CS_ERR_INVALID_PARAM when a fixed-size type has the wrong length or the code is unknown.
 */
export function decodeValue(type: number, bytes: Uint8Array): CmapValue {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = valueTypeSize(type);
  if (size !== 0 && buf.length !== size) {
    throw new CsError(
      CsErrorCode.CS_ERR_INVALID_PARAM,
      `value of type ${valueTypeShortName(type)} must be ${size} bytes, got ${buf.length}`,
    );
  }
  switch (type) {
    case CmapValueType.INT8:
      return { type, value: readInt8(buf, 0) };
    case CmapValueType.UINT8:
      return { type, value: readUInt8(buf, 0) };
    case CmapValueType.INT16:
      return { type, value: readInt16LE(buf, 0) };
    case CmapValueType.UINT16:
      return { type, value: readUInt16LE(buf, 0) };
    case CmapValueType.INT32:
      return { type, value: readInt32LE(buf, 0) };
    case CmapValueType.UINT32:
      return { type, value: readUInt32LE(buf, 0) };
    case CmapValueType.INT64:
      return { type, value: readBigInt64LE(buf, 0) };
    case CmapValueType.UINT64:
      return { type, value: readBigUInt64LE(buf, 0) };
    case CmapValueType.FLOAT:
      return { type, value: readFloatLE(buf, 0) };
    case CmapValueType.DOUBLE:
      return { type, value: readDoubleLE(buf, 0) };
    case CmapValueType.STRING: {
      const nul = buf.indexOf(0);
      return { type, value: buf.toString('utf8', 0, nul >= 0 ? nul : buf.length) };
    }
    case CmapValueType.BINARY:
      return { type, value: Uint8Array.from(buf) };
    default:
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `unknown cmap value type ${type}`);
  }
}
