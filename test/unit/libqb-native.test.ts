/**
 * The native addon's SHM rings (native/qbnative.c through src/ipc/libqb/shm.ts), when it is
 * built: file sizes and layout as libqb expects them, chunks visible in the files, and the
 * SIGBUS guard: a ring whose files were truncated under us makes the access throw EFAULT
 * instead of killing the process.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import v8 from 'node:v8';
import { spawnSync } from 'node:child_process';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { CHUNK_MAGIC, RING_HDR, RING_HDR_BYTES, ringDataBytes } from '../../src/ipc/libqb/ring.js';
import { ShmRing } from '../../src/ipc/libqb/shm.js';

const load = loadQbNative();
if (!load.ok) console.log(`# skipping native ring tests: ${load.reason}`);

describe('qbnative rings', { skip: load.ok ? false : load.reason }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-qbnative-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const native = load.ok ? load.native : undefined;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;

  test('creates header and data files of libqb sizes with the header filled in', () => {
    const base = path.join(dir, 'qb-request-cmap');
    const ring = ShmRing.create(native!, base, 1024 * 1024, uid, gid);
    try {
      const hdr = fs.readFileSync(`${base}-header`);
      assert.equal(hdr.length, RING_HDR_BYTES);
      assert.equal(fs.statSync(`${base}-data`).size, ringDataBytes(1024 * 1024, native!.pageSize));
      assert.equal(fs.statSync(`${base}-data`).mode & 0o777, 0o600);
      assert.equal(hdr.readUInt32LE(RING_HDR.WORD_SIZE), ringDataBytes(1024 * 1024, native!.pageSize) / 4);
      assert.equal(
        hdr.toString('utf8', RING_HDR.HDR_PATH, RING_HDR.HDR_PATH + base.length + 7),
        `${base}-header`,
      );
      assert.equal(
        hdr.toString('utf8', RING_HDR.DATA_PATH, RING_HDR.DATA_PATH + base.length + 5),
        `${base}-data`,
      );
      assert.equal(hdr.readInt32LE(RING_HDR.REF_COUNT), 1);
      assert.equal(fs.readFileSync(`${base}-data`).readUInt32LE(0), 5);
    } finally {
      ring.close();
    }
    assert.equal(fs.existsSync(`${base}-header`), false, 'close unlinks');
    assert.equal(fs.existsSync(`${base}-data`), false);
  });

  test('refuses to reuse an existing file (O_EXCL)', () => {
    const base = path.join(dir, 'qb-taken');
    fs.writeFileSync(`${base}-header`, 'x');
    assert.throws(() => ShmRing.create(native!, base, 8192, uid, gid), /EEXIST|exists/);
    assert.equal(fs.readFileSync(`${base}-header`, 'utf8'), 'x', 'a file that is not ours stays');
  });

  test('a chunk written through the mapping is in the file; the semaphore counts it', () => {
    const base = path.join(dir, 'qb-response-cmap');
    const ring = ShmRing.create(native!, base, 8192, uid, gid);
    try {
      const payload = Buffer.from('hello ring');
      assert.ok(ring.ring.write(payload));
      const data = fs.readFileSync(`${base}-data`);
      assert.equal(data.readUInt32LE(0), payload.length);
      assert.equal(data.readUInt32LE(4), CHUNK_MAGIC);
      assert.deepEqual(data.subarray(8, 8 + payload.length), payload);
      assert.deepEqual(ring.ring.read(), { kind: 'chunk', data: payload });
      assert.deepEqual(ring.ring.read(), { kind: 'empty' });
    } finally {
      ring.close();
    }
  });

  test('truncated files: accesses throw EFAULT, the process lives on', () => {
    const base = path.join(dir, 'qb-event-cmap');
    const ring = ShmRing.create(native!, base, 8192, uid, gid);
    try {
      assert.ok(ring.ring.write(Buffer.from('before')));
      fs.truncateSync(`${base}-data`, 0);
      assert.throws(
        () => ring.ring.write(Buffer.from('after')),
        (err: NodeJS.ErrnoException) => err.code === 'EFAULT',
      );
      fs.truncateSync(`${base}-header`, 0);
      assert.throws(
        () => ring.ring.read(),
        (err: NodeJS.ErrnoException) => err.code === 'EFAULT',
      );
      assert.throws(
        () => ring.ring.setUserWord(1),
        (err: NodeJS.ErrnoException) => err.code === 'EFAULT',
      );
    } finally {
      ring.close();
    }
  });
});

describe('qbnative unix stream client calls', { skip: load.ok ? false : load.reason }, () => {
  const native = load.ok ? load.native : undefined;
  const ENOENT = os.constants.errno.ENOENT;
  const EAGAIN = os.constants.errno.EAGAIN;

  test('streamConnect, streamRecv into a caller buffer, 0 at end of stream; errors as -errno', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qbstream-'));
    const sock = path.join(dir, 's');
    const listener = native!.listenPath(sock, 4);
    try {
      assert.equal(native!.streamConnect(path.join(dir, 'absent')), -ENOENT);
      const fd = native!.streamConnect(sock);
      assert.ok(fd >= 0, `connect: ${fd}`);
      const peer = native!.acceptFd(listener);
      assert.ok(peer >= 0, `accept: ${peer}`);
      const buf = Buffer.alloc(16, 0x55);
      assert.equal(native!.streamRecv(fd, buf, 0, 16), -EAGAIN, 'nothing to read yet');
      assert.equal(native!.dgramSend(peer, Buffer.from('hello')), 5);
      assert.equal(native!.streamRecv(fd, buf, 4, 8), 5);
      assert.equal(buf.toString('latin1', 4, 9), 'hello');
      assert.equal(buf[3], 0x55, 'bytes before the offset untouched');
      assert.throws(
        () => native!.streamRecv(fd, buf, 10, 8),
        (e: NodeJS.ErrnoException) => e.code === 'ERANGE',
      );
      native!.closeFd(peer);
      assert.equal(native!.streamRecv(fd, buf, 0, 16), 0, 'end of stream');
      native!.closeFd(fd);
    } finally {
      native!.closeFd(listener);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('qbnative clock', { skip: load.ok ? false : load.reason }, () => {
  test("monotonicMs reads process.hrtime's clock (CLOCK_MONOTONIC) in milliseconds into a Float64Array", () => {
    const native = load.ok ? load.native : undefined;
    const ms = (): number => {
      const [sec, ns] = process.hrtime();
      return sec * 1000 + ns / 1e6;
    };
    const out = new Float64Array(1);
    const before = ms();
    native!.monotonicMs!(out);
    const after = ms();
    assert.ok(out[0]! >= before && out[0]! <= after, `${before} <= ${out[0]} <= ${after}`);
    assert.throws(() => native!.monotonicMs!(new Uint32Array(2) as unknown as Float64Array), /Float64Array/);
    assert.throws(() => native!.monotonicMs!(new Float64Array(0)), /Float64Array/);
  });
});

describe('qbnative V8 memory', { skip: load.ok ? false : load.reason }, () => {
  test('lowMemoryNotification shrinks a grown young generation', () => {
    const native = load.ok ? load.native : undefined;
    const newSpace = (): number =>
      v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    // survivors in every scavenge make V8 grow the young generation
    let keep: Array<{ i: number; a: number[] }> = [];
    for (let i = 0; i < 300_000; i++) {
      keep.push({ i, a: [i] });
      if (keep.length > 50_000) keep = [];
    }
    keep = [];
    const grown = newSpace();
    assert.equal(native!.lowMemoryNotification!(), 1);
    const shrunk = newSpace();
    assert.ok(shrunk < grown, `new space ${grown} → ${shrunk} bytes`);
  });
});

/**
 * A child node with the daemon's flags makes old-space garbage, starts an incremental
 * collection and turns its event loop until the addon has counted a full collection's end;
 * with `rt` (root only) it first goes SCHED_RR → SCHED_OTHER and asks to be put back.
 */
const INCREMENTAL_CHILD = `
const { readFileSync } = require('node:fs');
const v8 = require('node:v8');
const addon = require(process.argv[1]);
// the scheduling policy of this thread: field 41 of its stat (0 SCHED_OTHER, 2 SCHED_RR)
const policy = () => Number(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ')[38]);
let keep = [];
for (let i = 0; i < 400000; i++) keep.push({ i, s: 'x' + i });
globalThis.gc(); // into old space
keep = null;
const usedBefore = v8.getHeapStatistics().used_heap_size;
const rt = process.argv[2] === 'rt' && addon.schedSetRr() > 0 && addon.schedSetOther() === 0;
const before = addon.fullGcCount();
const started = addon.collectIncrementally(rt);
const endedInCall = addon.fullGcCount() !== before;
const policyDuring = policy();
const t0 = Date.now();
let turns = 0;
const turn = () => {
  turns++;
  const ended = addon.fullGcCount() !== before;
  if (!ended && Date.now() - t0 < 10000) return void setImmediate(turn);
  console.log(JSON.stringify({
    rt, started, endedInCall, ended, turns, policyDuring, policyAfter: policy(),
    usedBefore, usedAfter: v8.getHeapStatistics().used_heap_size,
  }));
};
setImmediate(turn);
`;

/**
 * A child with the daemon's flags: the growth right away, after objects were promoted into the
 * old generation by scavenges (kept alive), and after an incremental collection ended.
 */
const OLD_GROWTH_CHILD = `
const addon = require(process.argv[1]);
globalThis.gc();
const first = addon.oldGenerationGrowth();
const gcs = addon.fullGcCount();
const keep = [];
for (let i = 0; i < 20000; i++) keep.push({ i, s: 'y' + i, a: [i, i + 1] });
// garbage after them: scavenges promote the kept objects
for (let j = 0; j < 30; j++) { let t = []; for (let i = 0; i < 20000; i++) t.push({ j, i }); t = null; }
const grown = addon.oldGenerationGrowth();
const before = addon.fullGcCount();
const fullInBetween = before !== gcs;
addon.collectIncrementally(false);
const t0 = Date.now();
const turn = () => {
  const ended = addon.fullGcCount() !== before;
  if (!ended && Date.now() - t0 < 10000) return void setImmediate(turn);
  console.log(JSON.stringify({ first, grown, fullInBetween, ended, after: addon.oldGenerationGrowth(), kept: keep.length }));
};
setImmediate(turn);
`;

function incrementalChild(mode: 'plain' | 'rt'): Record<string, unknown> {
  const r = spawnSync(
    process.execPath,
    ['--single-threaded-gc', '--expose-gc', '-e', INCREMENTAL_CHILD, load.ok ? load.path : '', mode],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('qbnative incremental collection', { skip: load.ok ? false : load.reason }, () => {
  test('collectIncrementally returns at once; the collection ends later, between event-loop turns', () => {
    const r = incrementalChild('plain');
    assert.equal(r.started, 1);
    assert.equal(r.endedInCall, false, 'the collection must not run inside the call');
    assert.equal(r.ended, true, 'the addon counted the end of a full collection');
    assert.ok((r.turns as number) > 1, `ended after ${String(r.turns)} turns`);
    assert.ok((r.usedAfter as number) < (r.usedBefore as number) / 2, JSON.stringify(r));
    assert.equal(r.policyAfter, 0, 'not asked to: the policy is left alone');
  });

  test('asked to, the addon puts the thread back to SCHED_RR when the collection ends', (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root for SCHED_RR');
    const r = incrementalChild('rt');
    if (r.rt !== true) return t.skip('this machine refuses SCHED_RR');
    assert.equal(r.policyDuring, 0, 'SCHED_OTHER while it marks');
    assert.equal(r.ended, true);
    assert.equal(r.policyAfter, 2, 'SCHED_RR once it ended');
  });

  test('oldGenerationGrowth: what the old generation gained since the last full collection', () => {
    const r = spawnSync(
      process.execPath,
      ['--single-threaded-gc', '--expose-gc', '-e', OLD_GROWTH_CHILD, load.ok ? load.path : ''],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const g = JSON.parse(r.stdout) as Record<string, number | boolean>;
    assert.ok(Math.abs(g.first as number) < 256 * 1024, `the first call counts from then: ${g.first}`);
    assert.equal(g.fullInBetween, false, `V8 collected by itself meanwhile: ${JSON.stringify(g)}`);
    assert.ok((g.grown as number) > 1024 * 1024, `promoted objects are growth: ${JSON.stringify(g)}`);
    assert.equal(g.ended, true, 'the incremental collection ended');
    assert.ok((g.after as number) < 512 * 1024, `a full collection resets it: ${JSON.stringify(g)}`);
  });

  test('collectIncrementally takes a boolean', () => {
    const native = load.ok ? load.native : undefined;
    assert.throws(() => native!.collectIncrementally!(1 as unknown as boolean), /boolean/);
  });
});

describe('qbnative load', { skip: load.ok ? false : load.reason }, () => {
  test('two copies of the loader in one process share one load of the addon file', async () => {
    // a query string makes a second instance of the module, as the binary's launcher and its
    // bundle each have their own copy: the second must not dlopen (and initialise) it again
    const url = new URL('../../src/ipc/libqb/native.js', import.meta.url);
    url.search = '?second-copy';
    const copy = (await import(url.href)) as typeof import('../../src/ipc/libqb/native.js');
    const again = copy.loadQbNative();
    assert.ok(again.ok);
    assert.equal(again.native, load.ok ? load.native : undefined);
  });
});
