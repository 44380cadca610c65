import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { lockDaemonMemory, type MemoryLockSystem } from '../../src/daemon/memory-lock.js';
import { recordingLog } from '../helpers/recording-log.js';
import { loadQbNative, nativeAddonPath } from '../../src/ipc/libqb/native.js';

function fakeSystem(
  limit: number,
  lock: { mappings: number; bytes: number; errno: number },
): MemoryLockSystem & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    raiseLimit: () => {
      calls.push('limit');
      return limit;
    },
    lockFileMappings: () => {
      calls.push('lock');
      return lock;
    },
  };
}

test('memory lock: without a raised RLIMIT_MEMLOCK nothing is locked, with corosync warning', () => {
  const log = recordingLog();
  const sys = fakeSystem(-1, { mappings: 9, bytes: 1, errno: 0 });
  assert.deepEqual(lockDaemonMemory(sys, log), { lockedBytes: 0 });
  assert.deepEqual(sys.calls, ['limit']);
  assert.deepEqual(log.lines, [
    'warn Could not increase RLIMIT_MEMLOCK, not locking memory: Operation not permitted (1)',
  ]);
});

test('memory lock: a failed lock warns as corosync does, what did lock is kept', () => {
  const log = recordingLog();
  const sys = fakeSystem(0, { mappings: 3, bytes: 3 << 20, errno: 12 });
  assert.deepEqual(lockDaemonMemory(sys, log), { lockedBytes: 3 << 20 });
  assert.deepEqual(sys.calls, ['limit', 'lock']);
  assert.equal(
    log.lines[0],
    'warn Could not lock memory of service to avoid page faults: Cannot allocate memory (12)',
  );
  assert.match(log.lines[1]!, /^debug Locked 3 file mappings \(3\.0 MiB mapped/);
});

test('memory lock: success says so at debug level only', () => {
  const log = recordingLog();
  const sys = fakeSystem(0, { mappings: 40, bytes: 96 << 20, errno: 0 });
  assert.deepEqual(lockDaemonMemory(sys, log), { lockedBytes: 96 << 20 });
  assert.equal(log.lines.length, 1);
  assert.match(log.lines[0]!, /^debug Locked 40 file mappings \(96\.0 MiB mapped/);
});

const load = loadQbNative();

/**
 * A child node process locks its file mappings through the addon, then churns V8's heap and
 * gives memory back (GC, malloc_trim, V8's low-memory notification): with mlockall V8 aborts
 * there; with the file mappings alone it must not. It prints what /proc says of its mappings.
 */
const CHILD = `
const { readFileSync } = require('node:fs');
const addon = require(process.argv[1]);
const [mappings, bytes, errno] = addon.lockFileMappings();
const keep = [];
for (let r = 0; r < 20; r++) {
  for (let i = 0; i < 50000; i++) keep.push({ i, s: 'x' + i, b: Buffer.alloc(256) });
  keep.length = 0;
  globalThis.gc();
}
addon.mallocTrim();
addon.lowMemoryNotification();
const smaps = readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/);
const field = (m, name) => Number(new RegExp(name + ':\\\\s+(\\\\d+) kB').exec(m)[1]);
// node's code: the largest of its executable mappings
const text = smaps
  .filter((m) => / r-xp .*\\/node$/.test(m.split('\\n')[0]))
  .sort((a, b) => field(b, 'Rss') - field(a, 'Rss'))[0];
const heapLocked = smaps.filter((m) => !/ \\//.test(m.split('\\n')[0]) && / Locked:\\s+[1-9]/.test(m)).length;
const status = readFileSync('/proc/self/status', 'utf8');
console.log(JSON.stringify({
  mappings, bytes, errno,
  textRss: field(text, 'Rss'), textPss: field(text, 'Pss'), textLocked: field(text, 'Locked'),
  heapLocked,
  vmLck: Number(/VmLck:\\s+(\\d+)/.exec(status)[1]),
}));
`;

test(
  'the addon locks the private file mappings (node code included) and V8 keeps working',
  { skip: load.ok ? false : 'addon not built' },
  (t) => {
    const res = spawnSync(process.execPath, ['--expose-gc', '-e', CHILD, nativeAddonPath()], {
      encoding: 'utf8',
    });
    assert.equal(res.status, 0, res.stderr);
    const r = JSON.parse(res.stdout) as Record<string, number>;
    const ENOMEM = 12;
    const EPERM = 1;
    if (r.errno === ENOMEM || r.errno === EPERM) {
      // without CAP_IPC_LOCK the process may lock only RLIMIT_MEMLOCK (8 MiB here): what the
      // kernel allows is not ours to test; V8 still had to survive (status 0 above)
      const capEff = BigInt(
        `0x${/CapEff:\s+([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`,
      );
      const CAP_IPC_LOCK = 14n;
      assert.equal(
        (capEff >> CAP_IPC_LOCK) & 1n,
        0n,
        `mlock2 failed (errno ${r.errno}) although CAP_IPC_LOCK is held`,
      );
      t.skip(`mlock2 refused without CAP_IPC_LOCK (errno ${r.errno})`);
      return;
    }
    assert.equal(r.errno, 0);
    assert.ok(r.mappings! >= 5, `mappings ${r.mappings}`);
    // node's code: every resident page of it is locked (smaps counts Locked as a share, like Pss)
    assert.ok(r.textRss! > 1024, `text rss ${r.textRss} kB`);
    assert.ok(r.textLocked! > 0);
    assert.equal(r.textLocked, r.textPss);
    assert.ok(r.vmLck! * 1024 >= r.bytes! - 4096, `VmLck ${r.vmLck} kB, locked ${r.bytes} bytes`);
    // anonymous memory (V8's heap) is not locked
    assert.equal(r.heapLocked, 0);
  },
);
