// `corosync-ts cpgtool` end to end against the real CPG service (one-node loopback exec layer,
// test/helpers/fake-cpg-service.ts) plus cmap for node addresses; groups are joined with our
// client library.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpgtoolMain } from '../../src/cli/cpgtool.js';
import { CpgHandle, CsDispatchFlags } from '../../src/client/index.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { startCpgDaemon, type CpgDaemon } from '../helpers/fake-cpg-service.js';

let d: CpgDaemon;
const handles: CpgHandle[] = [];

class Sink {
  chunks: Buffer[] = [];
  write(c: string | Uint8Array): boolean {
    this.chunks.push(Buffer.from(c));
    return true;
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

async function run(argv: string[], runDir = d.runDir): Promise<{ code: number; out: string; err: string }> {
  const out = new Sink();
  const err = new Sink();
  const code = await cpgtoolMain(argv, { stdout: out, stderr: err, runDir, env: {} });
  return { code, out: out.text, err: err.text };
}

before(async () => {
  d = await startCpgDaemon({ withCmap: true });
  d.icmap.setValue('runtime.members.1.ip', { type: CmapValueType.STRING, value: 'r(0) ip(127.0.0.1) ' });
  let seen = 0;
  const joins: Array<[string | Buffer, number]> = [
    ['alpha', 101],
    ['beta', 102],
    ['alpha', 103],
    [Buffer.from([0x61, 0x0a, 0xe9]), 104],
  ];
  for (const [g, pid] of joins) {
    const h = await CpgHandle.initialize({ confchg: () => seen++ }, { runDir: d.runDir, pid });
    handles.push(h);
    await h.join(g);
    while (seen < handles.length) await h.dispatch(CsDispatchFlags.ONE);
    seen = handles.length;
  }
});
after(async () => {
  for (const h of handles) await h.finalize().catch(() => undefined);
  await d.close();
});

test('full listing', async () => {
  const r = await run([]);
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out,
    'Group Name\t       PID\t   Node ID\n' +
      'a\\x0A\\xFFFFFFE9\n' +
      '\t\t       104\t         1 (127.0.0.1)\n' +
      'beta\n' +
      '\t\t       102\t         1 (127.0.0.1)\n' +
      'alpha\n' +
      '\t\t       101\t         1 (127.0.0.1)\n' +
      '\t\t       103\t         1 (127.0.0.1)\n',
  );
});

test('-d, -n, -e, --json', async () => {
  assert.equal(
    (await run(['-d', ';'])).out,
    'GRP_NAME;PID;NODEID\na\\x0A\\xFFFFFFE9;104;1\nbeta;102;1\nalpha;101;1\nalpha;103;1\n',
  );
  assert.equal((await run(['-n'])).out, 'a\\x0A\\xFFFFFFE9\nbeta\nalpha\n');
  assert.equal((await run(['-n', '-e', '-d:'])).out, 'a\n\xe9:beta:alpha:\n');
  const j = await run(['--json']);
  assert.deepEqual(JSON.parse(j.out), [
    { group: 'a\\x0A\\xFFFFFFE9', pid: 104, nodeid: 1, addresses: ['127.0.0.1'] },
    { group: 'beta', pid: 102, nodeid: 1, addresses: ['127.0.0.1'] },
    { group: 'alpha', pid: 101, nodeid: 1, addresses: ['127.0.0.1'] },
    { group: 'alpha', pid: 103, nodeid: 1, addresses: ['127.0.0.1'] },
  ]);
  assert.deepEqual(JSON.parse((await run(['-n', '--json'])).out), ['a\\x0A\\xFFFFFFE9', 'beta', 'alpha']);
});

test('help and option errors (before connecting)', async () => {
  const h = await run(['-h', '-x'], '/nonexistent');
  assert.equal(h.code, 0);
  assert.match(h.out, /^corosync-cpgtool \[-d delimiter\] \[-e\] \[-n\] \[-h\]\n\n/);
  assert.deepEqual(await run(['-x'], '/nonexistent'), {
    code: 1,
    out: '',
    err: "corosync-cpgtool: invalid option -- 'x'\n",
  });
  assert.deepEqual(await run(['-d'], '/nonexistent'), {
    code: 1,
    out: '',
    err: "corosync-cpgtool: option requires an argument -- 'd'\n",
  });
});

test('no daemon: the C tool message and exit code 1', async () => {
  assert.deepEqual(await run([], '/nonexistent'), {
    code: 1,
    out: '',
    err: 'Could not initialize corosync cpg API error 2\n',
  });
});
