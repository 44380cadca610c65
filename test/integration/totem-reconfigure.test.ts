/**
 * Totem timeouts change at run time, as in corosync 3.1.7: a cmap change of `totem.token`
 * (totem_change_notify) and a cfg reload both reach the running SRP at once, and
 * `runtime.config.totem.*` follows. Shown by failure detection: the rings start with a 6 s token
 * (detection ≥ token + consensus = 13.2 s), are switched to 300 ms, and a killed peer is then
 * noticed in well under the old token alone.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { CmapHandle, CmapValueType } from '../../src/client/index.js';
import {
  runCli,
  startDaemonProcess,
  uniqueLoopbackAddr,
  waitFor,
  type DaemonProcess,
} from '../helpers/daemon-process.js';

const SLOW_TOKEN = 6000;
const FAST_TOKEN = 300;

function ringConfig(addrs: readonly string[], token: number): string {
  const nodes = addrs.map((a, i) => `  node {\n    nodeid: ${i + 1}\n    ring0_addr: ${a}\n  }\n`).join('');
  return `totem {
  version: 2
  cluster_name: reconftest
  transport: udpu
  token: ${token}
}
logging {
  to_stderr: yes
  to_syslog: no
}
nodelist {
${nodes}}
`;
}

async function withCmap<T>(d: DaemonProcess, fn: (h: CmapHandle) => Promise<T>): Promise<T> {
  const h = await CmapHandle.initialize(0, { runDir: d.runDir });
  try {
    return await fn(h);
  } finally {
    await h.finalize();
  }
}

async function memberStatus(d: DaemonProcess, nodeid: number): Promise<string | undefined> {
  return withCmap(d, (h) => h.getString(`runtime.members.${nodeid}.status`).catch(() => undefined));
}

async function startPair(): Promise<DaemonProcess[]> {
  const addrs = [uniqueLoopbackAddr(), uniqueLoopbackAddr()];
  const config = ringConfig(addrs, SLOW_TOKEN);
  const ds: DaemonProcess[] = [];
  for (let i = 1; i <= 2; i++) {
    ds.push(await startDaemonProcess({ configText: config, args: ['--nodeid', String(i)] }));
  }
  await waitFor(
    async () => (await memberStatus(ds[0]!, 2)) === 'joined' && (await memberStatus(ds[1]!, 1)) === 'joined',
    'a ring of both nodes',
    20_000,
  );
  return ds;
}

async function tokensReceived(d: DaemonProcess): Promise<bigint> {
  const h = await CmapHandle.initialize(1, { runDir: d.runDir }); // the stats map
  try {
    return await h.getUint64('stats.srp.orf_token_rx');
  } finally {
    await h.finalize();
  }
}

/**
 * Kill node 2 and return how long node 1 took to see it leave. An armed token timer keeps its
 * deadline (as in corosync), so first let the token visit node 1 twice: the timer is then armed
 * with the new value.
 */
async function detectionMs(ds: DaemonProcess[]): Promise<number> {
  const seen = await tokensReceived(ds[0]!);
  await waitFor(async () => (await tokensReceived(ds[0]!)) >= seen + 2n, 'two token visits', 10_000);
  const t0 = Date.now();
  ds[1]!.child.kill('SIGKILL');
  await waitFor(async () => (await memberStatus(ds[0]!, 2)) === 'left', 'node 2 left', SLOW_TOKEN);
  return Date.now() - t0;
}

describe('totem timeouts change at run time', { timeout: 90_000 }, () => {
  const all: DaemonProcess[] = [];
  after(async () => {
    for (const d of all) await d.stop();
  });

  test('cmap set totem.token: runtime.config follows and the SRP uses it at once', async () => {
    const ds = await startPair();
    all.push(...ds);
    for (const d of ds) {
      await withCmap(d, async (h) => {
        assert.equal(await h.getUint32('runtime.config.totem.token'), SLOW_TOKEN);
        await h.set('totem.token', { type: CmapValueType.UINT32, value: FAST_TOKEN });
        // derived values follow, as totem_volatile_config_read computes them
        assert.equal(await h.getUint32('runtime.config.totem.token'), FAST_TOKEN);
        assert.equal(await h.getUint32('runtime.config.totem.consensus'), Math.trunc(1.2 * FAST_TOKEN));
      });
    }
    const ms = await detectionMs(ds);
    console.log(`# detection after a live token change to ${FAST_TOKEN} ms: ${ms} ms`);
    assert.ok(ms < SLOW_TOKEN, `detected in ${ms} ms: the old ${SLOW_TOKEN} ms token is still in use`);
  });

  test('cfgtool -R: a reloaded token is live at once', async () => {
    const ds = await startPair();
    all.push(...ds);
    for (const d of ds) {
      const text = readFileSync(d.configFile!, 'utf8');
      writeFileSync(d.configFile!, text.replace(`token: ${SLOW_TOKEN}`, `token: ${FAST_TOKEN}`));
    }
    const r = await runCli(['cfgtool', '-R'], { COROSYNC_TS_RUN_DIR: ds[0]!.runDir });
    assert.equal(r.code, 0, r.stderr);
    for (const d of ds) {
      await waitFor(
        async () => (await withCmap(d, (h) => h.getUint32('runtime.config.totem.token'))) === FAST_TOKEN,
        'runtime.config.totem.token after the reload',
        5_000,
      );
    }
    const ms = await detectionMs(ds);
    console.log(`# detection after a reload to token ${FAST_TOKEN} ms: ${ms} ms`);
    assert.ok(ms < SLOW_TOKEN, `detected in ${ms} ms: the old ${SLOW_TOKEN} ms token is still in use`);
  });
});
