/** The start-up sweep of the libqb transport removes only our own directories of dead daemons. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IpcServer } from '../../src/ipc/server.js';
import { LibqbTransport, OWNER_MARKER } from '../../src/ipc/libqb/transport.js';
import type { QbNative } from '../../src/ipc/libqb/native.js';

test('sweepStale removes our directories whose daemon is gone, nothing else', () => {
  const shm = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-sweep-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const mk = (name: string, owner?: string): string => {
      const d = path.join(shm, name);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'qb-request-cmap-header'), '');
      if (owner !== undefined) fs.writeFileSync(path.join(d, OWNER_MARKER), `${owner}\n`);
      return d;
    };
    const stale = mk(`qb-${dead}-100-20-aB3dEf`, String(dead));
    const foreign = mk(`qb-${dead}-100-21-zzzzzz`); // real corosync's: no marker
    const alive = mk(`qb-${process.pid}-100-22-qqqqqq`, String(process.pid));
    const other = mk('qb-something-else', String(dead));
    const logs: string[] = [];
    const log = (m: string): number => logs.push(m);
    const server = new IpcServer({ runDir: shm, logger: { debug: log, info: log, warn: log, error: log } });
    const t = new LibqbTransport(server, { native: {} as QbNative, authorize: () => true, shmDir: shm });
    assert.equal(t.sweepStale(), 1);
    assert.equal(fs.existsSync(stale), false);
    for (const d of [foreign, alive, other]) assert.ok(fs.existsSync(d), d);
    assert.match(logs.join('\n'), /removed 1 stale/);
  } finally {
    fs.rmSync(shm, { recursive: true, force: true });
  }
});
