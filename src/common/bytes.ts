/**
 * Buffer's number accessors as plain functions: `readUInt32LE(buf, off)` is `buf.readUInt32LE(off)`
 * and `writeUInt32LE(buf, value, off)` is `buf.writeUInt32LE(value, off)`: the same methods of
 * Node's, called with `call`, so the checks, the errors and the return values are theirs.
 *
 * Why: V8 11 (Node 20) does not inline the load of a method from a typed array in optimised code.
 * `buf.readUInt32LE(off)` is then, on every call, an inline-cache call (`LoadIC`) that finds the
 * method and a generic call of what it found; a constant function called with `call` is inlined
 * instead. Micro-benchmark (optimised code, warm): 9–10 ns per read against 3–3.5. On a resting
 * ring a token visit made ~12 such reads and writes and a receiving client ~13 per message, and
 * the inline-cache calls, mostly theirs, were 6–10 % of a daemon's user time and 12–14 % of a
 * client's (bench/README.md item 31). A lint rule (eslint.config.js) keeps the method form out of
 * src/ and bench/.
 */
import { Buffer } from 'node:buffer';

const P = Buffer.prototype;

// Each method in a constant binding: what lets V8 inline the call below.
const rdU8 = P.readUInt8;
const rdI8 = P.readInt8;
const rdU16LE = P.readUInt16LE;
const rdU16BE = P.readUInt16BE;
const rdI16LE = P.readInt16LE;
const rdU32LE = P.readUInt32LE;
const rdU32BE = P.readUInt32BE;
const rdI32LE = P.readInt32LE;
const rdI32BE = P.readInt32BE;
const rdBU64LE = P.readBigUInt64LE;
const rdBU64BE = P.readBigUInt64BE;
const rdBI64LE = P.readBigInt64LE;
const rdF32LE = P.readFloatLE;
const rdF64LE = P.readDoubleLE;
const wrU8 = P.writeUInt8;
const wrI8 = P.writeInt8;
const wrU16LE = P.writeUInt16LE;
const wrU16BE = P.writeUInt16BE;
const wrI16LE = P.writeInt16LE;
const wrU32LE = P.writeUInt32LE;
const wrU32BE = P.writeUInt32BE;
const wrI32LE = P.writeInt32LE;
const wrI32BE = P.writeInt32BE;
const wrBU64LE = P.writeBigUInt64LE;
const wrBI64LE = P.writeBigInt64LE;
const wrF32LE = P.writeFloatLE;
const wrF64LE = P.writeDoubleLE;

export const readUInt8 = (buf: Buffer, offset?: number): number => rdU8.call(buf, offset);
export const readInt8 = (buf: Buffer, offset?: number): number => rdI8.call(buf, offset);
export const readUInt16LE = (buf: Buffer, offset?: number): number => rdU16LE.call(buf, offset);
export const readUInt16BE = (buf: Buffer, offset?: number): number => rdU16BE.call(buf, offset);
export const readInt16LE = (buf: Buffer, offset?: number): number => rdI16LE.call(buf, offset);
export const readUInt32LE = (buf: Buffer, offset?: number): number => rdU32LE.call(buf, offset);
export const readUInt32BE = (buf: Buffer, offset?: number): number => rdU32BE.call(buf, offset);
export const readInt32LE = (buf: Buffer, offset?: number): number => rdI32LE.call(buf, offset);
export const readInt32BE = (buf: Buffer, offset?: number): number => rdI32BE.call(buf, offset);
export const readBigUInt64LE = (buf: Buffer, offset?: number): bigint => rdBU64LE.call(buf, offset);
export const readBigUInt64BE = (buf: Buffer, offset?: number): bigint => rdBU64BE.call(buf, offset);
export const readBigInt64LE = (buf: Buffer, offset?: number): bigint => rdBI64LE.call(buf, offset);
export const readFloatLE = (buf: Buffer, offset?: number): number => rdF32LE.call(buf, offset);
export const readDoubleLE = (buf: Buffer, offset?: number): number => rdF64LE.call(buf, offset);

export const writeUInt8 = (buf: Buffer, value: number, offset?: number): number =>
  wrU8.call(buf, value, offset);
export const writeInt8 = (buf: Buffer, value: number, offset?: number): number =>
  wrI8.call(buf, value, offset);
export const writeUInt16LE = (buf: Buffer, value: number, offset?: number): number =>
  wrU16LE.call(buf, value, offset);
export const writeUInt16BE = (buf: Buffer, value: number, offset?: number): number =>
  wrU16BE.call(buf, value, offset);
export const writeInt16LE = (buf: Buffer, value: number, offset?: number): number =>
  wrI16LE.call(buf, value, offset);
export const writeUInt32LE = (buf: Buffer, value: number, offset?: number): number =>
  wrU32LE.call(buf, value, offset);
export const writeUInt32BE = (buf: Buffer, value: number, offset?: number): number =>
  wrU32BE.call(buf, value, offset);
export const writeInt32LE = (buf: Buffer, value: number, offset?: number): number =>
  wrI32LE.call(buf, value, offset);
export const writeInt32BE = (buf: Buffer, value: number, offset?: number): number =>
  wrI32BE.call(buf, value, offset);
export const writeBigUInt64LE = (buf: Buffer, value: bigint, offset?: number): number =>
  wrBU64LE.call(buf, value, offset);
export const writeBigInt64LE = (buf: Buffer, value: bigint, offset?: number): number =>
  wrBI64LE.call(buf, value, offset);
export const writeFloatLE = (buf: Buffer, value: number, offset?: number): number =>
  wrF32LE.call(buf, value, offset);
export const writeDoubleLE = (buf: Buffer, value: number, offset?: number): number =>
  wrF64LE.call(buf, value, offset);
