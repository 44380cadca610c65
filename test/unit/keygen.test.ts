// corosync-ts keygen against corosync-keygen 3.1.7: messages, exit codes, file mode and size
// (the expected texts were captured from the real tool).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KEYFILE, DEFAULT_KEY_LEN, keygenMain, keygenUsage } from '../../src/cli/keygen.js';

function sink(): { write(c: string | Uint8Array): boolean; text: string } {
  const s = {
    text: '',
    write(c: string | Uint8Array): boolean {
      s.text += c.toString();
      return true;
    },
  };
  return s;
}

async function run(argv: string[]): Promise<{ rc: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const rc = await keygenMain(argv, { stdout: out, stderr: err, env: {} });
  return { rc, out: out.text, err: err.text };
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'csts-keygen-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('defaults as 3.1.7: /etc/corosync/authkey, 256 bytes', () => {
  assert.equal(DEFAULT_KEYFILE, '/etc/corosync/authkey');
  assert.equal(DEFAULT_KEY_LEN, 256);
});

test(
  '-k file: 256 random bytes, mode 0400, messages — real tool output',
  withDir(async (dir) => {
    const f = join(dir, 'authkey');
    const r = await run(['-k', f]);
    assert.equal(r.rc, 0);
    assert.equal(
      r.out,
      'Corosync Cluster Engine Authentication key generator.\n' +
        'Gathering 2048 bits for key from /dev/urandom.\n' +
        `Writing corosync key to ${f}.\n`,
    );
    assert.equal(r.err, '');
    const st = statSync(f);
    assert.equal(st.mode & 0o777, 0o400);
    assert.equal(st.size, 256);
    const r2 = await run(['--key-file=' + join(dir, 'k2'), '--size', '128', '-l']);
    assert.equal(r2.rc, 0);
    assert.ok(r2.out.includes('Gathering 1024 bits for key from /dev/urandom.\n'));
    assert.equal(statSync(join(dir, 'k2')).size, 128);
    assert.notDeepEqual(readFileSync(f).subarray(0, 128), readFileSync(join(dir, 'k2')));
  }),
);

test(
  '-r source file: bytes copied; end of file is an error',
  withDir(async (dir) => {
    const src = join(dir, 'rnd');
    writeFileSync(src, Buffer.alloc(300, 7));
    const f = join(dir, 'key');
    const r = await run(['-k', f, '-r', src, '-s', '200']);
    assert.equal(r.rc, 0);
    assert.ok(r.out.includes(`Gathering 1600 bits for key from ${src}.\n`));
    assert.deepEqual(readFileSync(f), Buffer.alloc(200, 7));
    const short = await run(['-k', join(dir, 'k3'), '-r', src, '-s', '400']);
    assert.equal(short.rc, 1);
    assert.ok(
      short.out.includes('Press keys on your keyboard to generate entropy (800 bits still needed).\n'),
    );
    const missing = await run(['-k', f, '-r', join(dir, 'nope')]);
    assert.equal(missing.rc, 1);
    assert.equal(missing.err, 'corosync-keygen: Failed to open random source: No such file or directory\n');
  }),
);

test('bad sizes — real tool output', async () => {
  for (const s of ['1', '127', '4097', '99999', 'x', '128x', '']) {
    const r = await run(['-s', s]);
    assert.equal(r.rc, 1, s);
    assert.equal(r.err, 'corosync-keygen: Unsupported key size (supported <128,4096>)\n\n');
    assert.equal(r.out, '');
  }
});

test('cannot create the key file: exit 2 — real tool output', async () => {
  const r = await run(['-k', '/nonexist/x']);
  assert.equal(r.rc, 2);
  assert.equal(r.err, 'corosync-keygen: Could not create /nonexist/x: No such file or directory\n');
  assert.ok(r.out.startsWith('Corosync Cluster Engine Authentication key generator.\nGathering 2048 bits'));
});

test('option errors and -h — real tool output', async () => {
  const h = await run(['-h']);
  assert.equal(h.rc, 0);
  assert.equal(h.out, keygenUsage());
  assert.ok(
    h.out.startsWith('Usage: corosync-keygen [-k <keyfile>] [-s size] [-m <randomfile>] [-l] [-h]\n'),
  );
  assert.ok(h.out.endsWith('     -h / --help -  Print basic usage.\n\n'));
  const x = await run(['-x']);
  assert.deepEqual(x, {
    rc: 1,
    out: 'Error parsing command line options.\n',
    err: "corosync-keygen: invalid option -- 'x'\n",
  });
  const k = await run(['-k']);
  assert.equal(k.err, "corosync-keygen: option requires an argument -- 'k'\n");
  const lk = await run(['--key']);
  assert.equal(lk.err, "corosync-keygen: option '--key-file' requires an argument\n");
  assert.equal(lk.out, 'Error parsing command line options.\n');
  const foo = await run(['--foo']);
  assert.equal(foo.err, "corosync-keygen: unrecognized option '--foo'\n");
  assert.equal(foo.rc, 1);
});
