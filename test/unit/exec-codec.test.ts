// Exec header and sync protocol codecs: expected bytes written by hand from the byte tables
// of spec/services-exec.md §1.1, §2.4, §5.1 and the worked example of spec/totem-pg.md §10.1
// (little-endian, pads zero), plus malformed-input checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EXEC_HEADER_SIZE,
  ServiceId,
  allServices,
  decodeExecHeader,
  encodeExecHeader,
  execId,
  execIdFn,
  execIdService,
  execMessageName,
  readMessageSource,
  serviceInfo,
  writeMessageSource,
} from '../../src/exec/codec.js';
import {
  SYNC_BARRIER_SIZE,
  SYNC_SERVICE_BUILD_SIZE,
  decodeSyncMessage,
  encodeSyncBarrier,
  encodeSyncMessage,
  encodeSyncServiceBuild,
} from '../../src/exec/sync-codec.js';
import { ringId } from '../../src/totem/wire/seq.js';
import { Prng } from '../helpers/prng.js';

/** Hex with spaces/newlines/`|` allowed as separators. */
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
}
/** `n` zero bytes as hex. */
function z(n: number): string {
  return '00'.repeat(n);
}

// ---------------------------------------------------------------------------------------
// Exec header

test('exec ids: service << 16 | fn, catalogue values of spec §2.4', () => {
  assert.equal(execId(ServiceId.CMAP, 0), 0x00000000);
  assert.equal(execId(ServiceId.CFG, 4), 0x00010004);
  assert.equal(execId(ServiceId.CPG, 0), 0x00020000);
  assert.equal(execId(ServiceId.CPG, 6), 0x00020006);
  assert.equal(execId(ServiceId.PLOAD, 1), 0x00040001);
  assert.equal(execId(ServiceId.VOTEQUORUM, 3), 0x00050003);
  assert.equal(execIdService(0x00050003), 5);
  assert.equal(execIdFn(0x00050003), 3);
  assert.throws(() => execId(64, 0), RangeError);
  assert.throws(() => execId(-1, 0), RangeError);
  assert.throws(() => execId(2, 0x10000), RangeError);
  assert.throws(() => execId(2, 1.5), RangeError);
});

test('exec message names', () => {
  assert.equal(execMessageName(0x00020000), 'cpg.procjoin');
  assert.equal(execMessageName(0x00020005), 'cpg.downlist');
  assert.equal(execMessageName(0x00050000), 'votequorum.nodeinfo');
  assert.equal(execMessageName(0x00000000), 'cmap.mcast');
  assert.equal(execMessageName(0x00010002), 'cfg.shutdown');
  assert.equal(execMessageName(0x00020009), 'cpg.fn9');
  assert.equal(execMessageName(0x000c0000), 'service12.fn0');
});

test('service table of spec §2.3', () => {
  const ids = allServices().map((s) => s.id);
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7]);
  const cpg = serviceInfo(ServiceId.CPG)!;
  assert.equal(cpg.suffix, 'cpg');
  assert.equal(cpg.execFns, 7);
  assert.equal(cpg.libFns, 13);
  assert.equal(cpg.fnNames.length, cpg.execFns);
  assert.equal(serviceInfo(ServiceId.VOTEQUORUM)!.priority, 2);
  assert.deepEqual(
    allServices()
      .filter((s) => s.sync)
      .map((s) => s.id),
    [0, 2, 3, 5],
  );
  for (const s of allServices()) assert.equal(s.fnNames.length, s.execFns, s.suffix);
  assert.equal(serviceInfo(8), undefined);
});

test('exec header: golden bytes (id first, then size, each padded to 8)', () => {
  // cpg PROCJOIN header: id 0x00020000, size 168.
  const expected = hex('00000200 00000000 a8000000 00000000');
  assert.deepEqual(encodeExecHeader(0x00020000, 168), expected);
  const msg = Buffer.concat([expected, Buffer.alloc(168 - 16)]);
  const r = decodeExecHeader(msg);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { id: 0x00020000, service: 2, fn: 0, size: 168 });
});

test('exec header: malformed input is refused with typed errors', () => {
  const good = Buffer.concat([hex('00000500 00000000 20000000 00000000'), Buffer.alloc(16)]);
  assert.ok(decodeExecHeader(good).ok);
  for (let cut = 0; cut < EXEC_HEADER_SIZE; cut++) {
    const r = decodeExecHeader(good.subarray(0, cut));
    assert.ok(!r.ok && r.code === 'truncated', `cut ${cut}`);
  }
  // size field disagrees with the bytes received (too small, too large, negative)
  for (const size of [16, 31, 33, -1]) {
    const b = Buffer.from(good);
    b.writeInt32LE(size, 8);
    const r = decodeExecHeader(b);
    assert.ok(!r.ok && r.code === 'size-mismatch', `size ${size}`);
  }
  // service id 64 would index past corosync's 64-entry table
  const b = Buffer.from(good);
  b.writeInt32LE(0x00400000, 0);
  const r = decodeExecHeader(b);
  assert.ok(!r.ok && r.code === 'bad-id');
  const neg = Buffer.from(good);
  neg.writeInt32LE(-1, 0);
  const rn = decodeExecHeader(neg);
  assert.ok(!rn.ok && rn.code === 'bad-id');
  // endian conversion requested by totem: refused by policy
  const re = decodeExecHeader(good, true);
  assert.ok(!re.ok && re.code === 'endian-unsupported');
});

test('mar_message_source_t: nodeid @0, pad, conn u64 @8', () => {
  const buf = Buffer.alloc(16, 0xee);
  writeMessageSource(buf, 0, { nodeid: 1, conn: 0x55618692a410n });
  assert.deepEqual(buf, hex('01000000 00000000 10a4928661550000'));
  assert.deepEqual(readMessageSource(buf, 0), { nodeid: 1, conn: 0x55618692a410n });
});

// ---------------------------------------------------------------------------------------
// Sync messages

test('sync BARRIER: golden bytes of spec totem-pg.md §10.1 (ring 1.c)', () => {
  // Bytes 18..49 of the worked example: header id 0 size 32, ring rep 1 seq 12, pad.
  const expected = hex(`
    00000000 00000000 20000000 00000000
    01000000 0c00000000000000 00000000`);
  assert.equal(expected.length, SYNC_BARRIER_SIZE);
  const enc = encodeSyncBarrier(ringId(1, 12n));
  assert.deepEqual(enc, expected);
  const r = decodeSyncMessage(expected);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { kind: 'barrier', ringId: { rep: 1, seq: 12n } });
  assert.deepEqual(encodeSyncMessage(r.value), expected);
});

test('sync SERVICE_BUILD: golden bytes (ring 1.d, services [0,2,3,5])', () => {
  const expected = hex(`
    01000000 00000000 28020000 00000000
    01000000 0d00000000000000 00000000
    04000000 00000000
    00000000 02000000 03000000 05000000 ${z(512 - 16)}`);
  assert.equal(expected.length, SYNC_SERVICE_BUILD_SIZE);
  assert.deepEqual(encodeSyncServiceBuild(ringId(1, 0xdn), [0, 2, 3, 5]), expected);
  const r = decodeSyncMessage(expected);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { kind: 'service_build', ringId: { rep: 1, seq: 13n }, services: [0, 2, 3, 5] });
  assert.deepEqual(encodeSyncMessage(r.value), expected);
});

test('sync SERVICE_BUILD: 64-bit ring seq and a full 128-entry list', () => {
  const services = Array.from({ length: 128 }, (_, i) => i % 64);
  const seq = 0x0123456789abcdefn;
  const enc = encodeSyncServiceBuild(ringId(0xfffffffe, seq), services);
  assert.deepEqual(enc.subarray(16, 28), hex('feffffff efcdab8967452301'));
  assert.deepEqual(enc.subarray(32, 36), hex('80000000'));
  assert.deepEqual(enc.subarray(548, 552), hex('3f000000'));
  const r = decodeSyncMessage(enc);
  assert.ok(r.ok && r.value.kind === 'service_build');
  assert.deepEqual(r.value.services, services);
  assert.equal(r.value.ringId.seq, seq);
  assert.throws(() => encodeSyncServiceBuild(ringId(1, 1n), new Array<number>(129).fill(0)), RangeError);
  assert.throws(() => encodeSyncServiceBuild(ringId(1, 1n), [64]), RangeError);
});

test('sync messages: malformed input is refused with typed errors', () => {
  const barrier = encodeSyncBarrier(ringId(1, 12n));
  const build = encodeSyncServiceBuild(ringId(1, 12n), [0, 2, 3, 5]);
  const code = (b: Buffer, conv = false): string => {
    const r = decodeSyncMessage(b, conv);
    return r.ok ? 'ok' : r.code;
  };
  for (let cut = 0; cut < 16; cut++) assert.equal(code(barrier.subarray(0, cut)), 'truncated');
  // cut, with the size field following the cut: the struct is too short
  for (const [msg, cuts] of [
    [barrier, [16, 28, 31]],
    [build, [16, 32, 40, 551]],
  ] as const) {
    for (const cut of cuts) {
      const b = Buffer.from(msg.subarray(0, cut));
      b.writeInt32LE(cut, 8);
      assert.equal(code(b), 'truncated', `cut ${cut}`);
    }
  }
  // size field alone wrong
  const bs = Buffer.from(barrier);
  bs.writeInt32LE(33, 8);
  assert.equal(code(bs), 'size-mismatch');
  // a longer message of the right id
  const long = Buffer.concat([barrier, Buffer.alloc(8)]);
  long.writeInt32LE(40, 8);
  assert.equal(code(long), 'size-mismatch');
  // unknown id
  const bid = Buffer.from(barrier);
  bid.writeInt32LE(2, 0);
  assert.equal(code(bid), 'bad-id');
  // counts beyond the 128-entry array, and negative
  for (const n of [129, 1000, -1]) {
    const b = Buffer.from(build);
    b.writeInt32LE(n, 32);
    assert.equal(code(b), 'bad-count', `entries ${n}`);
  }
  // a listed service id outside 0..63
  for (const id of [64, -5]) {
    const b = Buffer.from(build);
    b.writeInt32LE(id, 44);
    assert.equal(code(b), 'bad-value', `service ${id}`);
  }
  // entries past the count are not read
  const extra = Buffer.from(build);
  extra.writeInt32LE(999, 40 + 4 * 4);
  assert.equal(code(extra), 'ok');
  assert.equal(code(barrier, true), 'endian-unsupported');
});

test('sync decoder never throws on random bytes', () => {
  const prng = new Prng(0x5eed);
  for (let i = 0; i < 2000; i++) {
    const len = prng.nextU32() % 600;
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = prng.nextU32() & 0xff;
    if (len >= 12 && i % 2 === 0) {
      b.writeInt32LE(i % 3, 0);
      b.writeInt32LE(len, 8);
    }
    const r = decodeSyncMessage(b);
    assert.equal(typeof r.ok, 'boolean');
    const h = decodeExecHeader(b);
    assert.equal(typeof h.ok, 'boolean');
  }
});
