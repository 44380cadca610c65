/** libqb connection setup codecs (src/ipc/libqb/setup.ts) against the captured bytes of spec libqb-ipc.md §6.2. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { constants } from 'node:os';
import { CsErrorCode } from '../../src/common/errors.js';
import { uidGidAllowed } from '../../src/ipc/libqb/index.js';
import {
  CONNECTION_RESPONSE_SIZE,
  QbIpcType,
  csErrorToNegErrno,
  decodeConnectionRequest,
  decodeConnectionResponse,
  encodeConnectionRequest,
  encodeConnectionResponse,
  grantMaxMsgSize,
} from '../../src/ipc/libqb/setup.js';

describe('libqb connection request', () => {
  test('decodes the bytes corosync-cmapctl sends', () => {
    const captured = Buffer.from('ffffffff00000000' + '1800000000000000' + '0000100000000000', 'hex');
    assert.deepEqual(decodeConnectionRequest(captured), { ok: true, value: { maxMsgSize: 0x100000 } });
    assert.deepEqual(encodeConnectionRequest(0x100000), captured);
  });
  test('refuses other ids, sizes and lengths', () => {
    const bad = encodeConnectionRequest(0x100000);
    bad.writeInt32LE(0, 0);
    assert.equal(decodeConnectionRequest(bad).ok, false);
    const big = encodeConnectionRequest(1);
    big.writeInt32LE(32, 8);
    assert.equal(decodeConnectionRequest(big).ok, false);
    assert.equal(decodeConnectionRequest(Buffer.alloc(10)).ok, false);
    assert.equal(decodeConnectionRequest(Buffer.alloc(30)).ok, false);
  });
});

describe('libqb connection response', () => {
  test('layout: header, type, granted size, cookie, three 4096-byte names', () => {
    const buf = encodeConnectionResponse({
      error: 0,
      type: QbIpcType.SHM,
      maxMsgSize: 0x100000,
      cookie: 1n,
      request: '/dev/shm/qb-1-2-3-abcdef/qb-request-cmap',
      response: '/dev/shm/qb-1-2-3-abcdef/qb-response-cmap',
      event: '/dev/shm/qb-1-2-3-abcdef/qb-event-cmap',
    });
    assert.equal(buf.length, CONNECTION_RESPONSE_SIZE);
    assert.equal(
      buf.subarray(0, 40).toString('hex'),
      'ffffffff00000000' +
        '2830000000000000' +
        '0000000000000000' +
        '01000000' +
        '00001000' +
        '0100000000000000',
    );
    assert.equal(buf.readBigUInt64LE(32), 1n);
    assert.equal(buf.toString('latin1', 40, 40 + 40), '/dev/shm/qb-1-2-3-abcdef/qb-request-cmap');
    assert.equal(buf[40 + 40], 0);
    assert.equal(buf.toString('latin1', 4136, 4136 + 41), '/dev/shm/qb-1-2-3-abcdef/qb-response-cmap');
    assert.equal(buf.toString('latin1', 8232, 8232 + 38), '/dev/shm/qb-1-2-3-abcdef/qb-event-cmap');
    const back = decodeConnectionResponse(buf);
    assert.ok(back.ok);
    assert.equal(back.value.event, '/dev/shm/qb-1-2-3-abcdef/qb-event-cmap');
  });
  test('an error response carries only the header', () => {
    const buf = encodeConnectionResponse({
      error: -constants.errno.EAGAIN,
      type: QbIpcType.SHM,
      maxMsgSize: 5,
      cookie: 9n,
      request: 'x',
      response: 'y',
      event: 'z',
    });
    assert.equal(buf.readInt32LE(16), -constants.errno.EAGAIN);
    assert.ok(buf.subarray(24).every((b) => b === 0));
  });
});

describe('libqb admission mapping', () => {
  test('cs_error_t codes map to the errno corosync maps back to them', () => {
    assert.equal(csErrorToNegErrno(CsErrorCode.CS_ERR_TRY_AGAIN), -constants.errno.EAGAIN);
    assert.equal(csErrorToNegErrno(CsErrorCode.CS_ERR_ACCESS), -constants.errno.EACCES);
    assert.equal(csErrorToNegErrno(CsErrorCode.CS_ERR_NOT_SUPPORTED), -constants.errno.ENOSYS);
    assert.ok(csErrorToNegErrno(CsErrorCode.CS_ERR_LIBRARY) < 0);
  });
  test('granted size is bounded', () => {
    assert.equal(grantMaxMsgSize(0x100000, 8192, 0x100000), 0x100000);
    assert.equal(grantMaxMsgSize(1, 8192, 0x100000), 8192);
    assert.equal(grantMaxMsgSize(0xffffffff, 8192, 0x100000), 0x100000);
  });
  test('uid/gid rule of corosync: root, gid 0, or uidgid keys with value 1', () => {
    const keys = new Map<string, number>([
      ['uidgid.uid.1000', 1],
      ['uidgid.config.gid.50', 1],
      ['uidgid.uid.1001', 0],
    ]);
    const cfg = { getString: () => undefined, getU8: (k: string) => keys.get(k) };
    assert.ok(uidGidAllowed(cfg, 0, 100));
    assert.ok(uidGidAllowed(cfg, 100, 0));
    assert.ok(uidGidAllowed(cfg, 1000, 100));
    assert.ok(uidGidAllowed(cfg, 7, 50));
    assert.ok(!uidGidAllowed(cfg, 1001, 100));
    assert.ok(!uidGidAllowed(cfg, 65534, 65534));
  });
});
