// Unit tests of the corosync-cmapctl formatting/parsing helpers. Expected texts and bytes were
// observed with the real corosync-cmapctl 3.1.7 and with glibc sscanf/printf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  escapeBinary,
  formatCFixed,
  formatKeyLine,
  jsonEntry,
  jsonTrackEvent,
  parseLoadFile,
  parseSetValue,
  scanFloatBytes,
  scanInt64,
  scanUint64,
  trackEventPrefix,
  ValueSizeError,
} from '../../src/cli/cmapctl-format.js';
import { CmapValueType as T } from '../../src/cmap/types.js';

const plain = { showBinary: false, quiet: false };
const bin = { showBinary: true, quiet: false };
const quiet = { showBinary: false, quiet: true };
const quietBin = { showBinary: true, quiet: true };

function le(type: number, v: number | bigint): Buffer {
  const b = Buffer.alloc({ 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 8, 8: 8, 9: 4, 10: 8 }[type]!);
  switch (type) {
    case T.INT8:
      b.writeInt8(Number(v));
      break;
    case T.UINT8:
      b.writeUInt8(Number(v));
      break;
    case T.INT16:
      b.writeInt16LE(Number(v));
      break;
    case T.UINT16:
      b.writeUInt16LE(Number(v));
      break;
    case T.INT32:
      b.writeInt32LE(Number(v));
      break;
    case T.UINT32:
      b.writeUInt32LE(Number(v));
      break;
    case T.INT64:
      b.writeBigInt64LE(BigInt(v));
      break;
    case T.UINT64:
      b.writeBigUInt64LE(BigInt(v));
      break;
    case T.FLOAT:
      b.writeFloatLE(Number(v));
      break;
    default:
      b.writeDoubleLE(Number(v));
  }
  return b;
}

const line = (key: string, type: number, data: Buffer, o = plain) =>
  formatKeyLine(key, type, data, o).toString('latin1');

test('integer types print with their short names and full ranges', () => {
  const cases: Array<[number, number | bigint, string]> = [
    [T.INT8, -128, 'k (i8) = -128'],
    [T.INT8, 127, 'k (i8) = 127'],
    [T.UINT8, 255, 'k (u8) = 255'],
    [T.INT16, -32768, 'k (i16) = -32768'],
    [T.UINT16, 65535, 'k (u16) = 65535'],
    [T.INT32, -2147483648, 'k (i32) = -2147483648'],
    [T.UINT32, 4294967295, 'k (u32) = 4294967295'],
    [T.INT64, -(2n ** 63n), 'k (i64) = -9223372036854775808'],
    [T.INT64, 2n ** 63n - 1n, 'k (i64) = 9223372036854775807'],
    [T.UINT64, 2n ** 64n - 1n, 'k (u64) = 18446744073709551615'],
  ];
  for (const [type, v, want] of cases) {
    assert.equal(line('k', type, le(type, v)), want + '\n');
    assert.equal(line('k', type, le(type, v), quiet), want.split(' = ')[1] + '\n');
  }
});

test('flt and dbl print like C %f (exact, ties to even, no exponent)', () => {
  assert.equal(formatCFixed(3.14159), '3.141590');
  assert.equal(formatCFixed(0.0078125), '0.007812'); // exact tie → even (glibc), toFixed says 0.007813
  assert.equal(formatCFixed(0.0234375), '0.023438'); // tie, rounds up to even
  assert.equal(formatCFixed(1e30), '1000000000000000019884624838656.000000');
  assert.equal(formatCFixed(5e-7), '0.000000'); // 5e-7 as a double is just below the tie
  assert.equal(formatCFixed(-0), '-0.000000');
  assert.equal(formatCFixed(-0.05), '-0.050000');
  assert.equal(formatCFixed(Infinity), 'inf');
  assert.equal(formatCFixed(-Infinity), '-inf');
  assert.equal(formatCFixed(NaN), 'nan');
  assert.equal(formatCFixed(NaN, 6, true), '-nan');
  assert.equal(formatCFixed(4.9e-324), '0.000000');
  // values checked against glibc printf("%f", strtod(...))
  assert.equal(formatCFixed(1.9999995), '1.999999');
  assert.equal(formatCFixed(1.0000005), '1.000001');
  assert.equal(formatCFixed(0.9999995), '1.000000');
  assert.equal(formatCFixed(123456789.1234565), '123456789.123456');
  // float promoted to double
  assert.equal(
    line('t.fmax', T.FLOAT, Buffer.from('ffff7f7f', 'hex')),
    't.fmax (flt) = 340282346638528859811704183484516925440.000000\n',
  );
  assert.equal(line('t.flt', T.FLOAT, le(T.FLOAT, 3.14159)), 't.flt (flt) = 3.141590\n');
  assert.equal(line('k', T.FLOAT, Buffer.from('0000c0ff', 'hex')), 'k (flt) = -nan\n');
  assert.equal(line('k', T.DOUBLE, Buffer.from('000000000000f8ff', 'hex')), 'k (dbl) = -nan\n');
  assert.equal(line('k', T.DOUBLE, Buffer.from('000000000000f87f', 'hex'), quiet), 'nan\n');
  assert.equal(line('k', T.DOUBLE, le(T.DOUBLE, -Infinity)), 'k (dbl) = -inf\n');
});

test('strings print raw up to the first NUL, no escaping', () => {
  const s = Buffer.concat([Buffer.from('he said "hi"\nnew\\tab\\ é\x01\x7f', 'utf8'), Buffer.from([0])]);
  assert.deepEqual(
    formatKeyLine('s.str', T.STRING, s, plain),
    Buffer.concat([Buffer.from('s.str (str) = '), s.subarray(0, s.length - 1), Buffer.from('\n')]),
  );
  assert.equal(line('s', T.STRING, Buffer.from([0])), 's (str) = \n');
  assert.equal(line('s', T.STRING, Buffer.from('ab\0cd\0')), 's (str) = ab\n');
  assert.equal(line('s', T.STRING, Buffer.from('x\0'), quiet), 'x\n');
  // invalid UTF-8 bytes are passed through untouched
  assert.deepEqual(
    formatKeyLine('s', T.STRING, Buffer.from([0xff, 0xfe, 0]), quiet),
    Buffer.from([0xff, 0xfe, 0x0a]),
  );
});

test('binary: hidden without -b, escaped with sign extension with -b, quirky with -q', () => {
  const data = Buffer.from('615c6200017f80ff202271220ac3a9', 'hex');
  const esc = 'a\\\\b\\x00\\x01\\x7F\\xFFFFFF80\\xFFFFFFFF "q"\\x0A\\xFFFFFFC3\\xFFFFFFA9';
  assert.equal(escapeBinary(data), esc);
  assert.equal(line('s.bin', T.BINARY, data), 's.bin (bin)\n');
  assert.equal(line('s.bin', T.BINARY, data, bin), `s.bin (bin) = ${esc}\n`);
  assert.equal(line('s.bin', T.BINARY, data, quiet), 'bin)\n');
  assert.equal(line('s.bin', T.BINARY, data, quietBin), `bin) = ${esc}\n`);
  assert.equal(line('s.bin', T.BINARY, Buffer.from('xyz'), bin), 's.bin (bin) = xyz\n');
  assert.equal(line('s.bin', T.BINARY, Buffer.alloc(0), bin), 's.bin (bin) = \n');
  assert.equal(escapeBinary(Buffer.from([0x1f, 0x20, 0x7e, 0x7f, 0x5c])), '\\x1F ~\\x7F\\\\');
});

test('unknown type codes and short values', () => {
  assert.equal(line('k', 0, Buffer.alloc(0)), 'k (\n');
  assert.equal(line('k', 0, Buffer.alloc(0), quiet), '\n');
  assert.throws(() => formatKeyLine('k', T.UINT32, Buffer.alloc(2), plain), ValueSizeError);
});

test('track event prefixes', () => {
  assert.equal(trackEventPrefix(4), 'create> ');
  assert.equal(trackEventPrefix(2), 'modify> ');
  assert.equal(trackEventPrefix(1), 'delete> ');
  assert.equal(trackEventPrefix(8), 'unknown change> ');
});

test('JSON entries', () => {
  assert.equal(
    jsonEntry('a', T.UINT64, le(T.UINT64, 2n ** 64n - 1n), false),
    '{"key":"a","type":"u64","value":18446744073709551615}',
  );
  assert.equal(jsonEntry('a', T.INT8, le(T.INT8, -5), false), '{"key":"a","type":"i8","value":-5}');
  assert.equal(
    jsonEntry('a', T.FLOAT, le(T.FLOAT, 3.14159), false),
    '{"key":"a","type":"flt","value":3.14159}',
  );
  assert.equal(jsonEntry('a', T.DOUBLE, le(T.DOUBLE, 0.1), false), '{"key":"a","type":"dbl","value":0.1}');
  assert.equal(
    jsonEntry('a', T.DOUBLE, Buffer.from('000000000000f8ff', 'hex'), false),
    '{"key":"a","type":"dbl","value":"-nan"}',
  );
  assert.equal(
    jsonEntry('a', T.STRING, Buffer.from('q"\n\0'), false),
    '{"key":"a","type":"str","value":"q\\"\\n"}',
  );
  assert.equal(
    jsonEntry('a', T.BINARY, Buffer.from([0, 255]), false),
    '{"key":"a","type":"bin","value":null}',
  );
  assert.equal(
    jsonEntry('a', T.BINARY, Buffer.from([0, 255]), true),
    '{"key":"a","type":"bin","value":"00ff"}',
  );
  for (const text of [
    jsonEntry('k', T.DOUBLE, le(T.DOUBLE, 1e30), false),
    jsonTrackEvent(
      2,
      'k',
      { type: T.UINT8, data: le(T.UINT8, 7) },
      { type: T.STRING, data: Buffer.from('x\0') },
      false,
    ),
  ]) {
    assert.doesNotThrow(() => JSON.parse(text));
  }
  assert.equal(
    jsonTrackEvent(
      2,
      'k',
      { type: T.UINT8, data: le(T.UINT8, 7) },
      { type: T.STRING, data: Buffer.from('x\0') },
      false,
    ),
    '{"event":"modify","key":"k","type":"u8","value":7,"old":{"type":"str","value":"x"}}',
  );
  assert.equal(
    jsonTrackEvent(4, 'k', { type: T.INT32, data: le(T.INT32, -1) }, undefined, false),
    '{"event":"create","key":"k","type":"i32","value":-1}',
  );
});

test('integer scanning follows glibc sscanf %ld / %lu', () => {
  const i64: Array<[string, bigint | undefined]> = [
    ['', undefined],
    [' ', undefined],
    ['-', undefined],
    ['+', undefined],
    ['+-1', undefined],
    ['abc', undefined],
    ['12abc', 12n],
    [' 7', 7n],
    ['\t\n12', 12n],
    ['+7', 7n],
    ['-0', 0n],
    ['0x10', 0n],
    ['00012', 12n],
    ['1e5', 1n],
    ['99999999999999999999', 2n ** 63n - 1n],
    ['-99999999999999999999', -(2n ** 63n)],
  ];
  for (const [s, want] of i64) assert.equal(scanInt64(s), want, JSON.stringify(s));
  const u64: Array<[string, bigint | undefined]> = [
    ['-1', 2n ** 64n - 1n],
    ['-18446744073709551615', 1n],
    ['-18446744073709551616', 2n ** 64n - 1n],
    ['18446744073709551616', 2n ** 64n - 1n],
    ['99999999999999999999', 2n ** 64n - 1n],
    [' -0', 0n],
    ['x', undefined],
  ];
  for (const [s, want] of u64) assert.equal(scanUint64(s), want, JSON.stringify(s));
});

test('float scanning follows glibc sscanf %f / %lf (bytes checked)', () => {
  // [input, float bytes (big-endian hex) or null = no match, double bytes or null]
  const cases: Array<[string, string | null, string | null]> = [
    ['', null, null],
    ['.', null, null],
    ['-.', null, null],
    ['.e1', null, null],
    ['12abc', '41400000', '4028000000000000'],
    ['0x10', '41800000', '4030000000000000'],
    ['-0', '80000000', '8000000000000000'],
    ['1e', '3f800000', '3ff0000000000000'],
    ['1e+', '3f800000', '3ff0000000000000'],
    ['1e5x', '47c35000', '40f86a0000000000'],
    ['.5', '3f000000', '3fe0000000000000'],
    ['1,5', '3f800000', '3ff0000000000000'],
    ['inf', '7f800000', '7ff0000000000000'],
    ['INF', '7f800000', '7ff0000000000000'],
    ['infinity', '7f800000', '7ff0000000000000'],
    ['infinityx', '7f800000', '7ff0000000000000'],
    ['infin', null, null],
    ['infinit', null, null],
    ['in', null, null],
    ['n', null, null],
    ['-inf', 'ff800000', 'fff0000000000000'],
    ['nan', '7fc00000', '7ff8000000000000'],
    ['-nan', 'ffc00000', 'fff8000000000000'],
    ['NaN(123)', '7fc00000', '7ff8000000000000'],
    ['nan(12', '7fc00000', '7ff8000000000000'],
    ['nanx', '7fc00000', '7ff8000000000000'],
    ['0x', null, null],
    ['0xp3', null, null],
    ['0x1p3', '41000000', '4020000000000000'],
    ['0x.8', '3f000000', '3fe0000000000000'],
    ['0x1.8p-1', '3f400000', '3fe8000000000000'],
    ['0x1p', '3f800000', '3ff0000000000000'],
    ['1e40', '7f800000', '483d6329f1c35ca5'],
    ['1e-50', '00000000', '358dee7a4ad4b81f'],
    ['1e-400', '00000000', '0000000000000000'],
    ['2.2250738585072011e-308', '00000000', '000fffffffffffff'],
    ['3.4028235677973366e38', '7f7fffff', '47effffff0000000'],
    ['3.4028235e38', '7f7fffff', '47efffffe54daff8'],
    ['99999999999999999999', '60ad78ec', '4415af1d78b58c40'],
    ['1.00000005960464477539062', '3f800000', '3ff0000010000000'],
    // the double rounds to the float midpoint; the float must still round up (no double rounding)
    ['1.000000059604644775390626', '3f800001', '3ff0000010000000'],
    ['0.0078125', '3c000000', '3f80000000000000'],
    ['1.5e+3', '44bb8000', '4097700000000000'],
    ['1E3', '447a0000', '408f400000000000'],
  ];
  const hex = (b: Buffer | undefined) => (b ? Buffer.from(b).reverse().toString('hex') : null);
  for (const [s, f, d] of cases) {
    assert.equal(hex(scanFloatBytes(s, true)), f, `flt ${JSON.stringify(s)}`);
    assert.equal(hex(scanFloatBytes(s, false)), d, `dbl ${JSON.stringify(s)}`);
  }
});

test('-s value parsing: types, ranges and messages', () => {
  const ok = (t: string, v: string) => {
    const r = parseSetValue(t, v);
    assert.ok(r.ok && 'bytes' in r, `${t} ${v}`);
    return r.bytes.toString('hex');
  };
  const bad = (t: string, v: string) => {
    const r = parseSetValue(t, v);
    assert.ok(!r.ok);
    return r.message;
  };
  assert.equal(bad('foo', '1'), 'Unknown type foo');
  assert.equal(bad('I8', '1'), 'Unknown type I8');
  assert.equal(ok('i8', '-128'), '80');
  assert.equal(bad('i8', '128'), '128 is not valid i8 integer');
  assert.equal(bad('i8', '-129'), '-129 is not valid i8 integer');
  assert.equal(ok('u8', '255'), 'ff');
  assert.equal(ok('u8', ' -0'), '00');
  assert.equal(bad('u8', '-1'), '-1 is not valid u8 integer');
  assert.equal(bad('u8', '-256'), '-256 is not valid u8 integer');
  assert.equal(bad('u8', '256'), '256 is not valid u8 integer');
  assert.equal(ok('i16', '-32768'), '0080');
  assert.equal(bad('i16', '32768'), '32768 is not valid i16 integer');
  assert.equal(ok('u16', '65535'), 'ffff');
  assert.equal(bad('u16', '65536'), '65536 is not valid u16 integer');
  assert.equal(ok('i32', '12abc'), '0c000000');
  assert.equal(bad('i32', '2147483648'), '2147483648 is not valid i32 integer');
  assert.equal(bad('i32', 'abc'), 'abc is not valid i32 type value');
  assert.equal(bad('i32', ''), ' is not valid i32 type value');
  assert.equal(ok('u32', '4294967295'), 'ffffffff');
  assert.equal(bad('u32', '-1'), '-1 is not valid u32 integer');
  assert.equal(ok('i64', '99999999999999999999'), 'ffffffffffffff7f');
  assert.equal(ok('u64', '-1'), 'ffffffffffffffff');
  assert.equal(bad('u64', 'x'), 'x is not valid u64 type value');
  assert.equal(ok('flt', '2.5'), '00002040');
  assert.equal(bad('flt', '.'), '. is not valid flt type value');
  assert.equal(ok('dbl', '-nan'), '000000000000f8ff');
  assert.equal(bad('dbl', 'x'), 'x is not valid dbl type value');
  assert.equal(ok('str', 'é"\n'), Buffer.from('é"\n\0').toString('hex'));
  assert.equal(ok('str', ''), '00');
  assert.deepEqual(parseSetValue('bin', '-'), { ok: true, type: T.BINARY, file: '-' });
});

test('-p file parsing', () => {
  const text =
    '# comment\n   \n\t# c2\np.a u8 5\n  p.b str hello world\np.d i8 -3\n^t.x\n^^t.f\n^ p.a\n^^\n' +
    'p.f str x\r\nlast u8 3';
  assert.deepEqual(parseLoadFile(Buffer.from(text)), [
    { kind: 'set', key: 'p.a', typeName: 'u8', value: '5' },
    { kind: 'set', key: 'p.b', typeName: 'str', value: 'hello' },
    { kind: 'set', key: 'p.d', typeName: 'i8', value: '-3' },
    { kind: 'delete', key: 't.x' },
    { kind: 'delete-prefix', prefix: 't.f' },
    { kind: 'delete', key: '' },
    { kind: 'delete-prefix', prefix: '' },
    { kind: 'set', key: 'p.f', typeName: 'str', value: 'x\r' },
    { kind: 'set', key: 'last', typeName: 'u8', value: '3' },
  ]);
  // tabs do not separate fields
  assert.deepEqual(parseLoadFile(Buffer.from('p.c\tu8\t5\nnext u8 1\n')), [
    { kind: 'error', message: 'Both type and value for key p.c\tu8\t5 are required' },
  ]);
  assert.deepEqual(parseLoadFile(Buffer.from('p.g u8\n')), [
    { kind: 'error', message: 'Both type and value for key p.g are required' },
  ]);
  // blanks at the end of the file without a newline: C's key is NULL
  assert.deepEqual(parseLoadFile(Buffer.from('a.b u8 1\n   ')), [
    { kind: 'set', key: 'a.b', typeName: 'u8', value: '1' },
    { kind: 'error', message: 'Both type and value for key (null) are required' },
  ]);
  // non-ASCII survives
  assert.deepEqual(parseLoadFile(Buffer.from('k.é str ünï\n')), [
    { kind: 'set', key: 'k.é', typeName: 'str', value: 'ünï' },
  ]);
  // lines longer than 1023 bytes are read in pieces (fgets with a 1024 byte buffer)
  const long = 'k.long str ' + 'v'.repeat(1100) + '\n';
  const steps = parseLoadFile(Buffer.from(long));
  assert.equal(steps.length, 2);
  assert.deepEqual(steps[0], { kind: 'set', key: 'k.long', typeName: 'str', value: 'v'.repeat(1023 - 11) });
  assert.equal(steps[1]!.kind, 'error');
});
