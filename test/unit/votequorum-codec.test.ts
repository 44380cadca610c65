// votequorum codecs against hand-written bytes from the spec tables (votequorum.md §5, §7).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  QdeviceOperation,
  TrackFlag,
  VqExecId,
  decodeVqExec,
  decodeVqRequest,
  decodeVqResponse,
  encodeVqExec,
  encodeVqExpectedVotesNotification,
  encodeVqGetinfo,
  encodeVqNodelistNotification,
  encodeVqQuorumNotification,
  encodeVqRequest,
  encodeVqStatus,
} from '../../src/services/votequorum/codec.js';

/** Hex with spaces/newlines ignored and `..` as "zero bytes up to the given length". */
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function padTo(b: Buffer, n: number): Buffer {
  return Buffer.concat([b, Buffer.alloc(n - b.length)]);
}

describe('votequorum exec codec', () => {
  it('NODEINFO: 32 bytes, id 0x00050000', () => {
    const bytes = hex(`
      00 00 05 00 00 00 00 00  20 00 00 00 00 00 00 00
      02 00 00 00 01 00 00 00  03 00 00 00 09 00 00 00`);
    const r = decodeVqExec(bytes);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { kind: 'nodeinfo', nodeId: 2, votes: 1, expectedVotes: 3, flags: 9 });
    assert.deepEqual(encodeVqExec(r.value), bytes);
  });

  it('RECONFIGURE: param u8 @24, zero pads, 32 bytes', () => {
    const bytes = hex(`
      01 00 05 00 00 00 00 00  20 00 00 00 00 00 00 00
      07 00 00 00 05 00 00 00  01 00 00 00 00 00 00 00`);
    const r = decodeVqExec(bytes);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { kind: 'reconfigure', nodeId: 7, value: 5, param: 1 });
    assert.deepEqual(encodeVqExec(r.value), bytes);
  });

  it('QDEVICE_REG: operation @16, name @20, 280 bytes', () => {
    const head = hex(`
      02 00 05 00 00 00 00 00  18 01 00 00 00 00 00 00
      01 00 00 00 51 64 65 76  69 63 65`); // "Qdevice"
    const bytes = padTo(head, 280);
    const r = decodeVqExec(bytes);
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      kind: 'qdevice_reg',
      operation: QdeviceOperation.REGISTER,
      name: 'Qdevice',
      terminated: true,
    });
    assert.deepEqual(encodeVqExec(r.value), bytes);
  });

  it('QDEVICE_RECONFIGURE: oldname @16, newname @271, 528 bytes', () => {
    const bytes = Buffer.alloc(528);
    hex('03 00 05 00 00 00 00 00  10 02 00 00 00 00 00 00').copy(bytes, 0);
    Buffer.from('old').copy(bytes, 16);
    Buffer.from('new').copy(bytes, 271);
    const r = decodeVqExec(bytes);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { kind: 'qdevice_reconfigure', oldName: 'old', newName: 'new' });
    assert.deepEqual(encodeVqExec(r.value), bytes);
  });

  it('refuses wrong sizes, truncation, other ids and the other byte order', () => {
    const ok = encodeVqExec({ kind: 'nodeinfo', nodeId: 1, votes: 1, expectedVotes: 1, flags: 0 });
    const long = Buffer.concat([ok, Buffer.alloc(8)]);
    long.writeInt32LE(40, 8);
    assert.equal(decodeVqExec(long).ok, false);
    assert.equal(decodeVqExec(ok.subarray(0, 20)).ok, false);
    assert.equal(decodeVqExec(ok.subarray(0, 8)).ok, false);
    const other = Buffer.from(ok);
    other.writeInt32LE(VqExecId.QDEVICE_RECONFIGURE + 1, 0);
    assert.equal(decodeVqExec(other).ok, false);
    const r = decodeVqExec(ok, true);
    assert.ok(!r.ok && r.code === 'endian-unsupported');
  });
});

describe('votequorum IPC requests', () => {
  it('layouts of every request', () => {
    const cases: Array<[Buffer, unknown]> = [
      [hex('00000000 00000000 18000000 00000000 03000000 00000000'), { kind: 'getinfo', nodeId: 3 }],
      [
        hex('01000000 00000000 18000000 00000000 05000000 00000000'),
        { kind: 'setexpected', expectedVotes: 5 },
      ],
      [
        hex('02000000 00000000 18000000 00000000 02000000 04000000'),
        { kind: 'setvotes', votes: 2, nodeId: 4 },
      ],
      [
        hex('03000000 00000000 20000000 00000000 efcdab8967452301 03000000 00000000'),
        {
          kind: 'trackstart',
          context: 0x0123456789abcdefn,
          trackFlags: TrackFlag.CURRENT | TrackFlag.CHANGES,
        },
      ],
      [hex('04000000 00000000 10000000 00000000'), { kind: 'trackstop' }],
    ];
    for (const [bytes, value] of cases) {
      const r = decodeVqRequest(bytes);
      assert.ok(
        r.ok,
        JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v)),
      );
      assert.deepEqual(r.value, value);
      assert.deepEqual(encodeVqRequest(r.value), bytes);
    }
  });

  it('QDEVICE_POLL: name @16, cast_vote @272, ring id {nodeid @280, seq @288}, 296 bytes', () => {
    const bytes = Buffer.alloc(296);
    hex('08000000 00000000 28010000 00000000').copy(bytes, 0);
    Buffer.from('qd').copy(bytes, 16);
    bytes.writeInt32LE(1, 272);
    bytes.writeUInt32LE(2, 280);
    bytes.writeBigUInt64LE(0x1cn, 288);
    const r = decodeVqRequest(bytes);
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      kind: 'qdevice_poll',
      name: { name: 'qd', terminated: true },
      castVote: 1,
      ringId: { rep: 2, seq: 0x1cn },
    });
    assert.deepEqual(encodeVqRequest(r.value), bytes);
  });

  it('QDEVICE_REGISTER / UNREGISTER (272), UPDATE (528), MASTER_WINS (280)', () => {
    const reg = Buffer.alloc(272);
    hex('05000000 00000000 10010000 00000000').copy(reg, 0);
    Buffer.from('Qdevice').copy(reg, 16);
    const r1 = decodeVqRequest(reg);
    assert.ok(r1.ok);
    assert.deepEqual(r1.value, { kind: 'qdevice_register', name: { name: 'Qdevice', terminated: true } });
    assert.deepEqual(encodeVqRequest(r1.value), reg);
    const mw = Buffer.alloc(280);
    hex('09000000 00000000 18010000 00000000').copy(mw, 0);
    Buffer.from('Qdevice').copy(mw, 16);
    mw.writeUInt32LE(1, 272);
    const r2 = decodeVqRequest(mw);
    assert.ok(r2.ok);
    assert.deepEqual(r2.value, {
      kind: 'qdevice_master_wins',
      name: { name: 'Qdevice', terminated: true },
      allow: 1,
    });
    assert.deepEqual(encodeVqRequest(r2.value), mw);
    const upd = Buffer.alloc(528);
    hex('07000000 00000000 10020000 00000000').copy(upd, 0);
    Buffer.from('a').copy(upd, 16);
    Buffer.from('b').copy(upd, 271);
    const r3 = decodeVqRequest(upd);
    assert.ok(r3.ok);
    assert.deepEqual(r3.value, {
      kind: 'qdevice_update',
      oldName: { name: 'a', terminated: true },
      newName: { name: 'b', terminated: true },
    });
    // an unterminated 255-byte name is reported as such
    const full = Buffer.from(reg);
    full.fill(0x41, 16, 271);
    const r4 = decodeVqRequest(full);
    assert.ok(r4.ok && r4.value.kind === 'qdevice_register' && !r4.value.name.terminated);
  });

  it('refuses short frames and header sizes that disagree', () => {
    assert.equal(decodeVqRequest(hex('00000000 00000000 10000000 00000000')).ok, false);
    assert.equal(decodeVqRequest(hex('00000000 00000000 20000000 00000000 03000000 00000000')).ok, false);
    assert.equal(decodeVqRequest(hex('0a000000 00000000 10000000 00000000')).ok, false);
  });
});

describe('votequorum IPC responses and dispatch messages', () => {
  it('STATUS: bare 24-byte header, id 0', () => {
    assert.deepEqual(encodeVqStatus(14), hex('00000000 00000000 18000000 00000000 0e000000 00000000'));
  });

  it('GETINFO: 320 bytes, fields from 24, name at 60', () => {
    const info = {
      nodeId: 1,
      state: 1,
      votes: 1,
      expectedVotes: 3,
      highestExpected: 3,
      totalVotes: 3,
      quorum: 2,
      flags: 2 | 4,
      qdeviceVotes: 0,
      qdeviceName: 'qd',
    };
    const b = encodeVqGetinfo(1, info);
    const expect = Buffer.alloc(320);
    hex(`01000000 00000000 40010000 00000000 01000000 00000000
         01000000 01000000 01000000 03000000 03000000 03000000 02000000 06000000 00000000 7164`).copy(
      expect,
      0,
    );
    assert.deepEqual(b, expect);
    const r = decodeVqResponse(b);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { kind: 'getinfo', error: 1, info });
    // an error reply leaves every field zero
    const e = encodeVqGetinfo(12, undefined);
    assert.equal(e.length, 320);
    assert.ok(e.subarray(24).every((x) => x === 0));
  });

  it('QUORUM_NOTIFICATION: 48 + 8n', () => {
    const b = encodeVqQuorumNotification(true, 0x1122n, [
      { nodeId: 1, state: 1 },
      { nodeId: 2, state: 2 },
    ]);
    assert.deepEqual(
      b,
      hex(`03000000 00000000 40000000 00000000 01000000 00000000
           01000000 00000000 2211000000000000 02000000 00000000
           01000000 01000000 02000000 02000000`),
    );
    const r = decodeVqResponse(b);
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      kind: 'quorum_notification',
      quorate: 1,
      context: 0x1122n,
      nodes: [
        { nodeId: 1, state: 1 },
        { nodeId: 2, state: 2 },
      ],
    });
  });

  it('NODELIST_NOTIFICATION: 56 + 4n, ring id {nodeid @32, seq @40}', () => {
    const b = encodeVqNodelistNotification(7n, { rep: 1, seq: 0xdn }, [1, 2, 3]);
    assert.deepEqual(
      b,
      hex(`05000000 00000000 44000000 00000000 01000000 00000000
           0700000000000000 01000000 00000000 0d00000000000000 03000000 00000000
           01000000 02000000 03000000`),
    );
    const r = decodeVqResponse(b);
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      kind: 'nodelist_notification',
      context: 7n,
      ringId: { rep: 1, seq: 0xdn },
      nodes: [1, 2, 3],
    });
  });

  it('EXPECTEDVOTES_NOTIFICATION: 40 bytes', () => {
    const b = encodeVqExpectedVotesNotification(9n, 5);
    assert.deepEqual(
      b,
      hex(`04000000 00000000 28000000 00000000 01000000 00000000 0900000000000000 05000000 00000000`),
    );
    const r = decodeVqResponse(b);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { kind: 'expectedvotes_notification', context: 9n, expectedVotes: 5 });
  });
});
