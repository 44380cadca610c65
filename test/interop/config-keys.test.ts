/**
 * Config keys vs real corosync 3.1.7: for each config, start real corosync in a network
 * namespace, dump its map with corosync-cmapctl and compare (key, type, value) under the
 * config prefixes with buildStartupMap on the same text.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { decodeValue, valueTypeShortName } from '../../src/cmap/types.js';
import {
  checkConfig,
  parseConfigText,
  systemUserDb,
  type CheckResult,
  type UidGidFile,
} from '../../src/config/load.js';
import { buildStartupMap, CONFIG_PREFIXES } from '../../src/config/totem.js';
import type { ConfigMap } from '../../src/config/values.js';
import {
  cmapDump,
  realCorosyncAvailable,
  runRealCorosyncTest,
  startRealCorosync,
  type CmapctlEntry,
} from '../helpers/real-corosync.js';

import { configCases as cases, fixtures, SERVICE_KEY } from './config-cases.js';

function formatOurs(type: number, bytes: Buffer): CmapctlEntry {
  const v = decodeValue(type, bytes);
  let value: string;
  if (v.type === 10 || v.type === 9) value = (v.value as number).toFixed(6);
  else if (v.value instanceof Uint8Array) value = Buffer.from(v.value).toString('hex');
  else value = String(v.value);
  return { type: valueTypeShortName(type) ?? String(type), value };
}

function underPrefixes(key: string): boolean {
  return CONFIG_PREFIXES.some((p) => key.startsWith(p));
}

/** Differences as readable lines; empty when equal. */
function compare(ours: ConfigMap, real: Map<string, CmapctlEntry>): string[] {
  const diffs: string[] = [];
  const keys = new Set([...ours.keys(), ...[...real.keys()].filter(underPrefixes)]);
  for (const key of [...keys].sort()) {
    const o = ours.get(key);
    const r = real.get(key);
    if (SERVICE_KEY.test(key)) continue;
    if (key === 'resources.watchdog_timeout' && !o) {
      // wd publishes its default (6 s) when the config has none.
      if (r && !(r.type === 'u32' && r.value === '6')) diffs.push(`${key}: real ${r.type} ${r.value}`);
      continue;
    }
    const of = o ? formatOurs(o.type, o.bytes) : undefined;
    if (!of) diffs.push(`missing in ours: ${key} (${r?.type}) = ${r?.value}`);
    else if (!r) diffs.push(`extra in ours: ${key} (${of.type}) = ${of.value}`);
    else if (of.type !== r.type || of.value !== r.value) {
      diffs.push(`${key}: ours (${of.type}) = ${of.value}, real (${r.type}) = ${r.value}`);
    }
  }
  return diffs;
}

const avail = realCorosyncAvailable();
if (!avail.ok) console.log(`# skipping config-keys interop: ${avail.reason}`);

describe('config keys match real corosync 3.1.7', { skip: avail.ok ? false : avail.reason }, () => {
  for (const c of cases) {
    test(c.name, { timeout: 60000 }, async () => {
      const uidgidFiles: UidGidFile[] = Object.entries(c.files ?? {})
        .filter(([rel]) => rel.startsWith('uidgid.d/'))
        .map(([rel, text]) => ({ fileName: `/etc/corosync/${rel}`, text }));
      const parsed = parseConfigText(c.text, '/etc/corosync/corosync.conf', {
        uidgidFiles,
        userDb: systemUserDb(),
      });
      const v4 = (c.addresses ?? []).filter((a) => !a.includes(':')).map((a) => a.split('/')[0] as string);
      const ours = buildStartupMap(parsed, {
        hostname: c.hostname,
        localAddresses: ['127.0.0.1', ...v4, '::1'],
      }).map;

      const inst = await startRealCorosync({
        configText: c.text,
        addresses: c.addresses,
        hostname: c.hostname,
        files: c.files,
        name: 'cfgkeys',
      });
      let real: Map<string, CmapctlEntry>;
      try {
        real = await cmapDump(inst);
      } finally {
        await inst.stop();
      }
      const diffs = compare(ours, real);
      assert.deepEqual(diffs, [], `differences for ${c.name}:\n${diffs.join('\n')}`);
      for (const [k, v] of Object.entries(c.expect)) {
        assert.equal(real.get(k)?.value, v, `real ${k}`);
        const o = ours.get(k);
        assert.ok(o, `ours has ${k}`);
        assert.equal(formatOurs(o.type, o.bytes).value, v, `ours ${k}`);
      }
    });
  }
});

const badDir = path.join(fixtures, 'bad');

describe('corosync -t vs checkConfig on bad configs', { skip: avail.ok ? false : avail.reason }, () => {
  const files = fs
    .readdirSync(badDir)
    .filter((f) => f.endsWith('.conf'))
    .sort();
  test('there are bad fixtures', () => assert.ok(files.length >= 20));
  for (const f of files) {
    test(f, { timeout: 30000 }, async () => {
      const text = fs.readFileSync(path.join(badDir, f), 'utf8');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-check-'));
      let ours: CheckResult;
      try {
        const conf = path.join(dir, 'corosync.conf');
        fs.writeFileSync(conf, text);
        ours = checkConfig(conf, {
          hostname: 'ctshost',
          localAddresses: ['127.0.0.1', '::1'],
          // The real instance sees an empty /etc/corosync apart from corosync.conf.
          readKeyFile: (p) => fs.readFileSync(p.replace(/^\/etc\/corosync\//, `${dir}/`)),
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      const real = await runRealCorosyncTest({ configText: text, hostname: 'ctshost' });
      assert.equal(ours.ok, false, `${f} should fail in ours`);
      assert.equal(real.code, ours.exitCode, `exit status (real stderr: ${real.stderr})`);
      // Parser errors name the file: ours ran on a temp path, corosync on /etc/corosync.
      const expected = (ours.error ?? '').replace(
        /^parser error: [^:]*:/,
        'parser error: /etc/corosync/corosync.conf:',
      );
      assert.ok(real.stderr.includes(expected), `real stderr lacks "${expected}":\n${real.stderr}`);
    });
  }
});
