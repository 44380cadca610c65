/**
 * The number accessors of src/common/bytes.ts are Buffer's own methods called as functions:
 * for every one, the same value read, the same bytes and return value written, and the same
 * error for an offset outside the buffer or a value outside the type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as bytes from '../../src/common/bytes.js';

type Reader = (buf: Buffer, offset?: number) => number | bigint;
type Writer = (buf: Buffer, value: never, offset?: number) => number;

const READS: Record<string, number> = {
  readUInt8: 1,
  readInt8: 1,
  readUInt16LE: 2,
  readUInt16BE: 2,
  readInt16LE: 2,
  readUInt32LE: 4,
  readUInt32BE: 4,
  readInt32LE: 4,
  readInt32BE: 4,
  readBigUInt64LE: 8,
  readBigUInt64BE: 8,
  readBigInt64LE: 8,
  readFloatLE: 4,
  readDoubleLE: 8,
};

/** Per write function: its width, a value in range and one out of range (none for floats). */
const WRITES: Record<string, [number, number | bigint, number | bigint | undefined]> = {
  writeUInt8: [1, 0xfe, 256],
  writeInt8: [1, -100, 128],
  writeUInt16LE: [2, 0xbeef, 0x10000],
  writeUInt16BE: [2, 0xbeef, -1],
  writeInt16LE: [2, -12345, 0x8000],
  writeUInt32LE: [4, 0xdeadbeef, 2 ** 32],
  writeUInt32BE: [4, 0xdeadbeef, -1],
  writeInt32LE: [4, -123456789, 2 ** 31],
  writeInt32BE: [4, -123456789, -(2 ** 31) - 1],
  writeBigUInt64LE: [8, 0xfedcba9876543210n, -1n],
  writeBigInt64LE: [8, -0x123456789abcdefn, 2n ** 63n],
  writeFloatLE: [4, 1.5, undefined],
  writeDoubleLE: [8, -2.25e300, undefined],
};

/** The error a call throws (code and class), or 'none'. */
function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (err) {
    return `${(err as Error).constructor.name} ${(err as NodeJS.ErrnoException).code}`;
  }
}

const sample = Buffer.from(Array.from({ length: 19 }, (_, i) => (i * 37 + 11) & 0xff));

test('bytes: every exported function is one of the tables here (none untested)', () => {
  assert.deepEqual(Object.keys(bytes).sort(), [...Object.keys(READS), ...Object.keys(WRITES)].sort());
});

test('bytes: reads give what the Buffer method gives, at every offset of a view', () => {
  const view = sample.subarray(3); // a view not starting at its memory's first byte
  for (const [name, width] of Object.entries(READS)) {
    const fn = (bytes as unknown as Record<string, Reader>)[name]!;
    const method = (Buffer.prototype as unknown as Record<string, (this: Buffer, o?: number) => unknown>)[
      name
    ]!;
    for (let off = 0; off + width <= view.length; off++) {
      assert.deepEqual(fn(view, off), method.call(view, off), `${name} at ${off}`);
    }
    assert.deepEqual(fn(view), method.call(view), `${name} without an offset`);
  }
});

test('bytes: reads outside the buffer throw the error the method throws', () => {
  for (const [name, width] of Object.entries(READS)) {
    const fn = (bytes as unknown as Record<string, Reader>)[name]!;
    const method = (Buffer.prototype as unknown as Record<string, (this: Buffer, o?: number) => unknown>)[
      name
    ]!;
    for (const off of [sample.length - width + 1, sample.length, -1, 1.5]) {
      const ours = thrown(() => fn(sample, off));
      assert.notEqual(ours, 'none', `${name} at ${off} throws`);
      assert.equal(
        ours,
        thrown(() => method.call(sample, off)),
        `${name} at ${off}`,
      );
    }
  }
});

test('bytes: writes store the same bytes, return the same offset and refuse the same values', () => {
  for (const [name, [width, value, outOfRange]] of Object.entries(WRITES)) {
    const fn = (bytes as unknown as Record<string, Writer>)[name]!;
    const method = (
      Buffer.prototype as unknown as Record<string, (this: Buffer, v: unknown, o?: number) => number>
    )[name]!;
    for (const off of [0, 3, 11 - width]) {
      const a = Buffer.alloc(11, 0xaa);
      const b = Buffer.alloc(11, 0xaa);
      assert.equal(fn(a, value as never, off), method.call(b, value, off), `${name} returns`);
      assert.deepEqual(a, b, `${name} at ${off} writes`);
      assert.notDeepEqual(a, Buffer.alloc(11, 0xaa), `${name} at ${off} wrote something`);
    }
    const small = Buffer.alloc(width + 2);
    const past = thrown(() => fn(small, value as never, 3));
    assert.notEqual(past, 'none', `${name} past the end throws`);
    assert.equal(
      past,
      thrown(() => method.call(small, value, 3)),
      `${name} past the end`,
    );
    if (outOfRange !== undefined) {
      const bad = thrown(() => fn(small, outOfRange as never, 0));
      assert.notEqual(bad, 'none', `${name} of ${outOfRange} throws`);
      assert.equal(
        bad,
        thrown(() => method.call(small, outOfRange, 0)),
        `${name} of ${outOfRange}`,
      );
    }
  }
});
