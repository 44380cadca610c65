/**
 * The acceptance test of the config slice, end to end: for each config, real corosync 3.1.7 runs
 * in its own network namespace and our daemon runs inside the same namespaces (same addresses,
 * hostname and /etc/corosync), each is listed by its own tool — `corosync-cmapctl` and
 * `corosync-ts cmapctl` — and the printed (key, type, value) lines must agree for the config
 * prefixes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  cmapDump,
  parseCmapctlOutput,
  realCorosyncAvailable,
  startRealCorosync,
  type CmapctlEntry,
  type RealCorosync,
} from '../helpers/real-corosync.js';
import { CLI_PATH, runCli, waitFor } from '../helpers/daemon-process.js';
import { COMPARED_PREFIXES, SERVICE_KEY, configCases } from './config-cases.js';

/** Start `corosync-ts -f` inside `inst`'s namespaces on the same /etc/corosync, dump it with our cmapctl. */
async function ourDump(inst: RealCorosync): Promise<Map<string, CmapctlEntry>> {
  const runDir = mkdtempSync(join(tmpdir(), 'cts-e2e-'));
  const child = spawn(
    'nsenter',
    [
      '-t',
      String(inst.pid),
      '-m',
      '-n',
      '-u',
      '--',
      process.execPath,
      CLI_PATH,
      '-f',
      '-c',
      '/etc/corosync/corosync.conf',
    ],
    { env: { ...process.env, COROSYNC_TS_RUN_DIR: runDir }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let running = true;
  void exited.then(() => (running = false));
  try {
    await waitFor(() => {
      if (!running) throw new Error(`corosync-ts exited during startup:\n${stderr}`);
      return existsSync(join(runDir, 'cmap.sock')) && existsSync(join(runDir, 'corosync-ts.pid'));
    }, 'corosync-ts to listen');
    const res = await runCli(['cmapctl'], { COROSYNC_TS_RUN_DIR: runDir });
    assert.equal(res.code, 0, res.stderr);
    return parseCmapctlOutput(res.stdout);
  } finally {
    if (running) child.kill('SIGTERM');
    assert.equal(await exited, 0, `corosync-ts exit status\n${stderr}`);
    rmSync(runDir, { recursive: true, force: true });
  }
}

function compared(key: string): boolean {
  return COMPARED_PREFIXES.some((p) => key.startsWith(p)) && !SERVICE_KEY.test(key);
}

/** Readable differences between two dumps over the compared prefixes. */
function diff(ours: Map<string, CmapctlEntry>, real: Map<string, CmapctlEntry>): string[] {
  const out: string[] = [];
  const keys = new Set([...ours.keys(), ...real.keys()].filter(compared));
  for (const key of [...keys].sort()) {
    const o = ours.get(key);
    const r = real.get(key);
    if (key === 'resources.watchdog_timeout' && !o && r?.type === 'u32' && r.value === '6') continue;
    if (!o) out.push(`missing in ours: ${key} (${r!.type}) = ${r!.value}`);
    else if (!r) out.push(`extra in ours: ${key} (${o.type}) = ${o.value}`);
    else if (o.type !== r.type || o.value !== r.value) {
      out.push(`${key}: ours (${o.type}) = ${o.value}, real (${r.type}) = ${r.value}`);
    }
  }
  return out;
}

const avail = realCorosyncAvailable();
if (!avail.ok) console.log(`# skipping cmapctl end-to-end interop: ${avail.reason}`);

describe(
  'corosync-ts cmapctl lists what corosync-cmapctl lists',
  { skip: avail.ok ? false : avail.reason },
  () => {
    for (const c of configCases) {
      test(c.name, { timeout: 90_000 }, async () => {
        const inst = await startRealCorosync({
          configText: c.text,
          addresses: c.addresses,
          hostname: c.hostname,
          files: c.files,
          name: 'e2e',
        });
        let real: Map<string, CmapctlEntry>;
        let ours: Map<string, CmapctlEntry>;
        try {
          real = await cmapDump(inst);
          ours = await ourDump(inst);
        } finally {
          await inst.stop();
        }
        const keysCompared = [...real.keys()].filter(compared).length;
        assert.ok(keysCompared > 20, `only ${keysCompared} keys compared`);
        assert.deepEqual(diff(ours, real), [], `differences for ${c.name}`);
        for (const [k, v] of Object.entries(c.expect)) assert.equal(ours.get(k)?.value, v, k);
      });
    }
  },
);
