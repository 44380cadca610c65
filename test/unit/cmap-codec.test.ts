// Golden tests for the cmap IPC structs: expected bytes written by hand from the byte tables
// of spec/cmap.md §3 (offsets, sizes, pads zero, little-endian).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CmapReqId,
  CmapResId,
  cmapRequestSizeError,
  decodeAdjustIntRequest,
  decodeGetRequest,
  decodeGetResponse,
  decodeHandleRequest,
  decodeHandleResponse,
  decodeIterInitRequest,
  decodeIterNextResponse,
  decodeKeyRequest,
  decodeNotify,
  decodeSetCurrentMapRequest,
  decodeSetRequest,
  decodeTrackAddRequest,
  encodeAdjustIntRequest,
  encodeBareResponse,
  encodeDeleteRequest,
  encodeGetRequest,
  encodeGetResponse,
  encodeHandleRequest,
  encodeIterInitRequest,
  encodeIterInitResponse,
  encodeIterNextResponse,
  encodeNotify,
  encodeSetCurrentMapRequest,
  encodeSetRequest,
  encodeTrackAddRequest,
  encodeTrackAddResponse,
  encodeTrackDeleteResponse,
  keyBytes,
  readMarNameCString,
} from '../../src/ipc/cmap-codec.js';

/** Hex with whitespace ignored. */
function hex(...parts: string[]): Buffer {
  return Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');
}
/** n zero bytes as hex. */
function z(n: number): string {
  return '00'.repeat(n);
}
/** mar_name_t for an ASCII name: length u16, 6 pad, 256 value bytes. */
function name(s: string): string {
  const len = Buffer.from(s).length;
  return (
    Buffer.from([len & 0xff, len >> 8]).toString('hex') + z(6) + Buffer.from(s).toString('hex') + z(256 - len)
  );
}

function eqHex(actual: Buffer, expected: Buffer): void {
  assert.equal(actual.length, expected.length, 'size');
  assert.equal(actual.toString('hex'), expected.toString('hex'));
}

test('SET request: 296 + value_len, key @16, value_len @280, type @288, value @296', () => {
  const buf = encodeSetRequest(keyBytes('a.b'), 11, Buffer.from('xy'));
  eqHex(
    buf,
    hex(
      '00000000 00000000', // id 0
      '2a010000 00000000', // size 298
      name('a.b'),
      '02000000 00000000', // value_len 2
      '0b',
      z(7), // type STRING
      '7879', // value, no NUL
    ),
  );
  assert.equal(cmapRequestSizeError(buf), undefined);
  const d = decodeSetRequest(buf);
  assert.equal(d.key, 'a.b');
  assert.equal(d.type, 11);
  assert.equal(d.value.toString(), 'xy');
});

test('DELETE request: 280 bytes', () => {
  const buf = encodeDeleteRequest(keyBytes('totem.x'));
  eqHex(buf, hex('01000000 00000000', '18010000 00000000', name('totem.x')));
  assert.equal(decodeKeyRequest(buf), 'totem.x');
  assert.equal(cmapRequestSizeError(buf), undefined);
});

test('GET request: 288 bytes, capacity @280', () => {
  const buf = encodeGetRequest(keyBytes('abc'), 16);
  eqHex(buf, hex('02000000 00000000', '20010000 00000000', name('abc'), '10000000 00000000'));
  assert.deepEqual(decodeGetRequest(buf), { key: 'abc', capacity: 16n });
});

test('GET response: 40 + capacity on success, exactly 40 on error', () => {
  const ok = encodeGetResponse(1, 8, 6, hex('04030201'));
  eqHex(
    ok,
    hex(
      '02000000 00000000', // id 2
      '30000000 00000000', // size 48 = 40 + capacity 8
      '01000000 00000000', // CS_OK
      '04000000 00000000', // value_len 4 (actual)
      '06',
      z(7), // type UINT32
      '04030201 00000000', // value, rest zero
    ),
  );
  const d = decodeGetResponse(ok);
  assert.equal(d.length, 4);
  assert.equal(d.type, 6);
  assert.equal(d.data.toString('hex'), '04030201');

  const err = encodeGetResponse(12, 8, 6, hex('04030201'));
  eqHex(err, hex('02000000 00000000', '28000000 00000000', '0c000000 00000000', z(16)));
});

test('ADJUST_INT request: 288 bytes, step i32 @280', () => {
  const buf = encodeAdjustIntRequest(keyBytes('abc'), -1);
  eqHex(buf, hex('03000000 00000000', '20010000 00000000', name('abc'), 'ffffffff 00000000'));
  assert.deepEqual(decodeAdjustIntRequest(buf), { key: 'abc', step: -1 });
});

test('bare responses: 24 bytes (SET id 0, DELETE 1, ADJUST 3, ITER_FINALIZE 6, SET_CURRENT_MAP reply id 10)', () => {
  eqHex(encodeBareResponse(CmapResId.SET, 11), hex('00000000 00000000 18000000 00000000 0b000000 00000000'));
  eqHex(
    encodeBareResponse(CmapResId.SET_CURRENT_MAP, 10),
    hex('0a000000 00000000 18000000 00000000 0a000000 00000000'),
  );
});

test('ITER_INIT request 280 (length 0 = no prefix) and response 32', () => {
  eqHex(encodeIterInitRequest(undefined), hex('04000000 00000000', '18010000 00000000', z(264)));
  assert.equal(decodeIterInitRequest(encodeIterInitRequest(undefined)), undefined);
  const withPrefix = encodeIterInitRequest(keyBytes('totem.'));
  eqHex(withPrefix, hex('04000000 00000000', '18010000 00000000', name('totem.')));
  assert.equal(decodeIterInitRequest(withPrefix), 'totem.');
  const res = encodeIterInitResponse(1, 0x1234_5678_0000_0001n);
  eqHex(res, hex('04000000 00000000 20000000 00000000 01000000 00000000', '01000000 78563412'));
  assert.equal(decodeHandleResponse(res), 0x1234_5678_0000_0001n);
});

test('ITER_NEXT request 24 and response 304', () => {
  const req = encodeHandleRequest(CmapReqId.ITER_NEXT, 5n);
  eqHex(req, hex('05000000 00000000 18000000 00000000 05000000 00000000'));
  assert.equal(decodeHandleRequest(req), 5n);
  const res = encodeIterNextResponse(1, { key: 'a.b.c', length: 4, type: 6 });
  eqHex(
    res,
    hex(
      '05000000 00000000 30010000 00000000 01000000 00000000',
      name('a.b.c'),
      '04000000 00000000', // value_len @288
      '06',
      z(7), // type @296
    ),
  );
  assert.deepEqual(decodeIterNextResponse(res), { error: 1, key: 'a.b.c', length: 4, type: 6 });
  const end = encodeIterNextResponse(27, undefined);
  eqHex(end, hex('05000000 00000000 30010000 00000000 1b000000 00000000', z(280)));
});

test('ITER_FINALIZE request 24 / TRACK_DELETE request 24', () => {
  eqHex(
    encodeHandleRequest(CmapReqId.ITER_FINALIZE, 0xfedcba9876543210n),
    hex('06000000 00000000 18000000 00000000 1032547698badcfe'),
  );
  eqHex(
    encodeHandleRequest(CmapReqId.TRACK_DELETE, 1n),
    hex('08000000 00000000 18000000 00000000 01000000 00000000'),
  );
});

test('TRACK_ADD request 296 and response 32', () => {
  const req = encodeTrackAddRequest(keyBytes('abc'), 8 | 4, 0x42n);
  eqHex(
    req,
    hex(
      '07000000 00000000 28010000 00000000',
      name('abc'),
      '0c000000 00000000', // track_type @280 + pad
      '42000000 00000000', // track_inst_handle @288
    ),
  );
  assert.deepEqual(decodeTrackAddRequest(req), { key: 'abc', trackType: 12, instHandle: 0x42n });
  assert.equal(decodeTrackAddRequest(encodeTrackAddRequest(undefined, 8, 1n)).key, undefined);
  eqHex(
    encodeTrackAddResponse(1, 7n),
    hex('07000000 00000000 20000000 00000000 01000000 00000000 07000000 00000000'),
  );
});

test('TRACK_DELETE response 32 carries track_inst_handle', () => {
  eqHex(
    encodeTrackDeleteResponse(1, 0x42n),
    hex('08000000 00000000 20000000 00000000 01000000 00000000 42000000 00000000'),
  );
  eqHex(encodeTrackDeleteResponse(9, 0n), hex('08000000 00000000 20000000 00000000 09000000 00000000', z(8)));
});

test('SET_CURRENT_MAP request 24: map i32 @16', () => {
  const req = encodeSetCurrentMapRequest(1);
  eqHex(req, hex('09000000 00000000 18000000 00000000 01000000 00000000'));
  assert.equal(decodeSetCurrentMapRequest(req), 1);
});

test('NOTIFY (id 9): 336 + new_len + old_len', () => {
  const buf = encodeNotify(
    0x1122334455667788n,
    'abc',
    2,
    { type: 2, bytes: hex('05') },
    { type: 2, bytes: hex('04') },
  );
  eqHex(
    buf,
    hex(
      '09000000 00000000', // id 9
      '52010000 00000000', // size 338
      '01000000 00000000', // CS_OK
      '88776655 44332211', // track_inst_handle @24
      name('abc'), // @32
      '02000000 00000000', // event MODIFY @296
      '02',
      z(7), // new type @304
      '02',
      z(7), // old type @312
      '01000000 00000000', // new len @320
      '01000000 00000000', // old len @328
      '05', // new value @336
      '04', // old value
    ),
  );
  const d = decodeNotify(buf);
  assert.notEqual(typeof d, 'string');
  if (typeof d === 'string') return;
  assert.equal(d.instHandle, 0x1122334455667788n);
  assert.equal(d.key, 'abc');
  assert.equal(d.event, 2);
  assert.equal(Buffer.from(d.newValue.bytes).toString('hex'), '05');
  assert.equal(Buffer.from(d.oldValue.bytes).toString('hex'), '04');

  // ADD: no old value (type 0, len 0); DELETE: no new value.
  const add = encodeNotify(1n, 'abc', 4, { type: 11, bytes: Buffer.from('hi\0') }, undefined);
  assert.equal(add.length, 339);
  assert.equal(add.readUInt8(312), 0);
  assert.equal(add.readBigUInt64LE(328), 0n);
  assert.equal(add.subarray(336).toString(), 'hi\0');
  assert.match(String(decodeNotify(add.subarray(0, 338))), /carries/);
});

test('mar_name_t: server reads value as a C string and ignores length', () => {
  const buf = encodeDeleteRequest(keyBytes('abcdef'));
  buf.writeUInt16LE(2, 16); // lying length
  assert.equal(readMarNameCString(buf, 16), 'abcdef');
  buf[16 + 8 + 3] = 0; // embedded NUL ends the name
  assert.equal(decodeKeyRequest(buf), 'abc');
  // 256 bytes without NUL: bounded by the array.
  const full = Buffer.alloc(280);
  full.fill(0x61, 24, 280);
  assert.equal(decodeKeyRequest(full).length, 256);
});

test('request size checks: exact sizes, SET consistency, unknown ids', () => {
  assert.equal(cmapRequestSizeError(encodeGetRequest(keyBytes('abc'), 0)), undefined);
  const short = encodeGetRequest(keyBytes('abc'), 0).subarray(0, 280);
  assert.match(String(cmapRequestSizeError(short)), /expected 288/);
  const set = encodeSetRequest(keyBytes('abc'), 12, Buffer.from('xyz'));
  assert.match(String(cmapRequestSizeError(set.subarray(0, 298))), /value_len/);
  const bad = Buffer.alloc(24);
  bad.writeInt32LE(42, 0);
  assert.match(String(cmapRequestSizeError(bad)), /unknown cmap request id 42/);
  bad.writeInt32LE(-5, 0);
  assert.match(String(cmapRequestSizeError(bad)), /unknown/);
  for (const id of [5, 6, 8, 9]) {
    const b = Buffer.alloc(24);
    b.writeInt32LE(id, 0);
    assert.equal(cmapRequestSizeError(b), undefined);
    assert.notEqual(cmapRequestSizeError(Buffer.alloc(32, 0).fill(id, 0, 1)), undefined);
  }
});
