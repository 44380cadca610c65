/**
 * Three corosync-ts processes on loopback with votequorum, driven through the real tools:
 * `quorumtool -s` agrees on every node and reports loss of quorum on a lone survivor;
 * `cfgtool -R` reloads every node's own file (an invalid file is refused and changes nothing);
 * `cfgtool -H` shuts a node down cleanly; `cfgtool -k` kills a node.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { CmapHandle } from '../../src/client/index.js';
import {
  runCli,
  startDaemonProcess,
  uniqueLoopbackAddr,
  waitFor,
  type DaemonProcess,
  type RunResult,
} from '../helpers/daemon-process.js';

const TOKEN = 300;

function ringConfig(addrs: readonly string[], token = TOKEN): string {
  const nodes = addrs
    .map((a, i) => `  node {\n    name: node${i + 1}\n    nodeid: ${i + 1}\n    ring0_addr: ${a}\n  }\n`)
    .join('');
  return `totem {
  version: 2
  cluster_name: qcfgtest
  transport: udpu
  token: ${token}
}
logging {
  to_stderr: yes
  to_syslog: no
  timestamp: off
}
quorum {
  provider: corosync_votequorum
}
nodelist {
${nodes}}
`;
}

function tool(d: DaemonProcess, args: string[]): Promise<RunResult> {
  return runCli(args, { COROSYNC_TS_RUN_DIR: d.runDir });
}

/** The fields of `quorumtool -s` that must agree across nodes (Date, Node ID, "(local)" differ). */
interface Status {
  nodes: string;
  ring: string;
  quorate: string;
  expected: string;
  highest: string;
  total: string;
  quorum: string;
  flags: string;
  members: string[];
}

function field(text: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'm').exec(text);
  assert.ok(m, `no "${name}" line in:\n${text}`);
  return m[1]!;
}

function parseStatus(text: string): Status {
  const table = text.split('Membership information')[1] ?? '';
  const members = table
    .split('\n')
    .filter((l) => /^\s+\d+\s+\d+\s/.test(l))
    .map((l) =>
      l
        .replace(/\s*\(local\)\s*$/, '')
        .trim()
        .replace(/\s+/g, ' '),
    );
  return {
    nodes: field(text, 'Nodes'),
    ring: field(text, 'Ring ID'),
    quorate: field(text, 'Quorate'),
    expected: field(text, 'Expected votes'),
    highest: field(text, 'Highest expected'),
    total: field(text, 'Total votes'),
    quorum: field(text, 'Quorum').split(' ')[0]!,
    flags: field(text, 'Flags'),
    members,
  };
}

async function cmapValue(d: DaemonProcess, key: string): Promise<string | undefined> {
  const h = await CmapHandle.initialize(0, { runDir: d.runDir });
  try {
    return String((await h.get(key)).value);
  } catch {
    return undefined;
  } finally {
    await h.finalize();
  }
}

async function memberStatus(d: DaemonProcess, id: number): Promise<string | undefined> {
  return cmapValue(d, `runtime.members.${id}.status`);
}

async function quorumStatus(d: DaemonProcess): Promise<{ r: RunResult; s: Status }> {
  const r = await tool(d, ['quorumtool', '-s']);
  return { r, s: parseStatus(r.stdout) };
}

async function startRing(n: number, token = TOKEN): Promise<DaemonProcess[]> {
  const addrs = Array.from({ length: n }, () => uniqueLoopbackAddr());
  const config = ringConfig(addrs, token);
  const ds = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      startDaemonProcess({ configText: config, args: ['--nodeid', String(i + 1)] }),
    ),
  );
  await waitFor(
    async () => {
      for (const d of ds) {
        const { r, s } = await quorumStatus(d);
        if (r.code !== 0 || s.nodes !== String(n) || s.quorate !== 'Yes') return false;
      }
      return true;
    },
    `${n} nodes in one quorate ring`,
    15_000,
  );
  return ds;
}

describe('votequorum + cfg tools on 3 corosync-ts processes', { timeout: 60_000 }, () => {
  const all: DaemonProcess[] = [];
  after(async () => {
    await Promise.all(all.map((d) => d.stop()));
  });

  test('quorumtool -s agrees on every node; a lone survivor is not quorate', async () => {
    const ds = await startRing(3);
    all.push(...ds);
    const res = await Promise.all(ds.map(quorumStatus));
    for (const [i, { r, s }] of res.entries()) {
      assert.equal(r.code, 0, `node ${i + 1}: ${r.stderr}`);
      assert.equal(field(r.stdout, 'Node ID'), String(i + 1));
      assert.equal(field(r.stdout, 'Quorum provider'), 'corosync_votequorum');
      assert.deepEqual(
        { ...s },
        {
          nodes: '3',
          ring: res[0]!.s.ring,
          quorate: 'Yes',
          expected: '3',
          highest: '3',
          total: '3',
          quorum: '2',
          flags: 'Quorate',
          members: ['1 1 node1', '2 1 node2', '3 1 node3'],
        },
        `node ${i + 1}:\n${r.stdout}`,
      );
      assert.match(r.stdout, new RegExp(`^\\s+${i + 1}\\s+1 node${i + 1} \\(local\\)$`, 'm'));
    }

    ds[1]!.child.kill('SIGKILL');
    ds[2]!.child.kill('SIGKILL');
    await Promise.all([ds[1]!.exited, ds[2]!.exited]);
    let last: RunResult | undefined;
    await waitFor(
      async () => {
        last = (await quorumStatus(ds[0]!)).r;
        return last.code === 2;
      },
      'node 1 to lose quorum',
      15_000,
    );
    const s = parseStatus(last!.stdout);
    assert.equal(s.nodes, '1');
    assert.equal(s.quorate, 'No');
    assert.equal(s.total, '1');
    assert.equal(s.expected, '3');
    assert.equal(s.quorum, '2');
    assert.match(last!.stdout, /Activity blocked/);
    assert.deepEqual(s.members.length, 1);
  });

  test('cfgtool -R reloads every node from its own file; an invalid file changes nothing', async () => {
    const ds = await startRing(3);
    all.push(...ds);
    for (const d of ds) assert.equal(await cmapValue(d, 'totem.token'), String(TOKEN));

    // every node's file gets the new value; the reload is asked on node 2 only
    for (const d of ds) {
      const text = readFileSync(d.configFile!, 'utf8');
      writeFileSync(d.configFile!, text.replace(`token: ${TOKEN}`, 'token: 450'));
    }
    const r = await tool(ds[1]!, ['cfgtool', '-R']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Reloading corosync\.conf\.\.\.\nDone/);
    await waitFor(
      async () => {
        for (const d of ds) if ((await cmapValue(d, 'totem.token')) !== '450') return false;
        return true;
      },
      'totem.token 450 on every node',
      5_000,
    );

    // an invalid file (unbalanced braces) on node 1: refused, reason logged, nothing changes
    const good = readFileSync(ds[0]!.configFile!, 'utf8');
    writeFileSync(ds[0]!.configFile!, good.replace('token: 450', 'token: 600') + '\nquorum {\n');
    const logBefore = ds[0]!.stderr().length;
    const bad = await tool(ds[0]!, ['cfgtool', '-R']);
    assert.notEqual(bad.code, 0, `an invalid file must fail the reload:\n${bad.stdout}`);
    assert.match(bad.stderr, /Could not reload configuration/);
    await waitFor(
      () => /Unable to reload config file/.test(ds[0]!.stderr().slice(logBefore)),
      'the reason in the daemon log',
      5_000,
    );
    console.log(`# invalid reload: ${bad.stderr.trim()} | ${ds[0]!.stderr().slice(logBefore).trim()}`);
    for (const d of ds) assert.equal(await cmapValue(d, 'totem.token'), '450');
    writeFileSync(ds[0]!.configFile!, good);
  });

  test('cfgtool -H shuts a node down (exit 0, the others see it leave); cfgtool -k kills one', async () => {
    const ds = await startRing(3);
    all.push(...ds);
    const h = await tool(ds[2]!, ['cfgtool', '-H']);
    assert.equal(h.code, 0, h.stderr);
    const exit3 = await ds[2]!.exited;
    assert.deepEqual(exit3, { code: 0, signal: null }, ds[2]!.stderr());
    await waitFor(
      async () => (await memberStatus(ds[0]!, 3)) === 'left' && (await memberStatus(ds[1]!, 3)) === 'left',
      'nodes 1 and 2 to see node 3 leave',
      10_000,
    );
    // two of three votes: still quorate
    assert.equal((await quorumStatus(ds[0]!)).r.code, 0);

    const k = await tool(ds[0]!, ['cfgtool', '-k', '2']);
    assert.equal(k.code, 0, k.stderr);
    const exit2 = await ds[1]!.exited;
    assert.notEqual(exit2.code, 0, 'a killed node does not exit cleanly');
    await waitFor(
      async () => (await memberStatus(ds[0]!, 2)) === 'left',
      'node 1 to see node 2 leave',
      10_000,
    );
    let r: RunResult | undefined;
    await waitFor(
      async () => {
        r = (await quorumStatus(ds[0]!)).r;
        return r.code === 2;
      },
      'node 1 to lose quorum',
      10_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${r?.stdout}\n${ds[0]!.stderr().slice(-3000)}`);
    });
    assert.match(r!.stdout, /Activity blocked/);
  });
});
