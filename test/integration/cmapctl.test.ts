/**
 * `corosync-ts cmapctl` (cmapctlMain) against an in-process cmap IPC server: listing, -g,
 * -s of every type, -d, -D, -p, tracking with changes made by another client, the stats map,
 * --json, and the exit codes/messages of failures.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { cmapctlMain, type CmapctlIo } from '../../src/cli/cmapctl.js';
import { CmapHandle } from '../../src/client/index.js';
import { startIpcDaemon, type IpcDaemon } from '../helpers/ipc-daemon.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A sink that remembers everything and lets a test await some text. */
class Sink {
  private chunks: Buffer[] = [];
  private waiters: Array<() => void> = [];
  write(c: string | Uint8Array): boolean {
    this.chunks.push(Buffer.from(c));
    this.waiters.splice(0).forEach((w) => w());
    return true;
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  async waitFor(pred: (text: string) => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this.text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; output so far:\n${this.text}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }
}

describe('cmapctl against an in-process cmap server', () => {
  let d: IpcDaemon;
  let tmp: string;
  let other: CmapHandle;

  const io = (
    extra: Omit<CmapctlIo, 'stdout' | 'stderr'> = {},
  ): CmapctlIo & { stdout: Sink; stderr: Sink } => ({
    runDir: d.runDir,
    env: {},
    stdout: new Sink(),
    stderr: new Sink(),
    sleep: async () => undefined,
    ...extra,
  });
  const run = async (argv: string[], extra: Omit<CmapctlIo, 'stdout' | 'stderr'> = {}): Promise<Run> => {
    const o = io(extra);
    const code = await cmapctlMain(argv, o);
    return { code, stdout: o.stdout.text, stderr: o.stderr.text };
  };

  before(async () => {
    d = await startIpcDaemon();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cmapctl-int-'));
    other = await CmapHandle.initialize(undefined, { runDir: d.runDir });
  });
  after(async () => {
    await other?.finalize().catch(() => undefined);
    await d?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('-s of every type, then listing, -q, -b and -g', async () => {
    const binFile = path.join(tmp, 'b');
    fs.writeFileSync(binFile, Buffer.from([0x41, 0x5c, 0x00, 0xff]));
    const sets: string[][] = [
      ['s.i8', 'i8', '-128'],
      ['s.u8', 'u8', '255'],
      ['s.i16', 'i16', '-300'],
      ['s.u16', 'u16', '65535'],
      ['s.i32', 'i32', '-70000'],
      ['s.u32', 'u32', '4294967295'],
      ['s.i64', 'i64', '-9223372036854775808'],
      ['s.u64', 'u64', '-1'],
      ['s.flt', 'flt', '3.14159'],
      ['s.dbl', 'dbl', '1e30'],
      ['s.str', 'str', 'say "hi"\nbye é'],
      ['s.bin', 'bin', binFile],
    ];
    for (const s of sets) {
      const r = await run(['-s', '--', ...s]);
      assert.deepEqual(r, { code: 0, stdout: '', stderr: '' }, s.join(' '));
    }
    const listed = await run(['s.']);
    assert.equal(listed.code, 0);
    assert.equal(
      listed.stdout,
      [
        's.bin (bin)',
        's.dbl (dbl) = 1000000000000000019884624838656.000000',
        's.flt (flt) = 3.141590',
        's.i16 (i16) = -300',
        's.i32 (i32) = -70000',
        's.i64 (i64) = -9223372036854775808',
        's.i8 (i8) = -128',
        's.str (str) = say "hi"\nbye é',
        's.u16 (u16) = 65535',
        's.u32 (u32) = 4294967295',
        's.u64 (u64) = 18446744073709551615',
        's.u8 (u8) = 255',
        '',
      ].join('\n'),
    );
    assert.equal((await run(['-b', 's.bin'])).stdout, 's.bin (bin) = A\\\\\\x00\\xFFFFFFFF\n');
    assert.equal((await run(['-q', 's.u8', 's.bin'])).stdout, '255\nbin)\n');
    assert.equal((await run(['-g', 's.u16', 's.i8'])).stdout, 's.u16 (u16) = 65535\ns.i8 (i8) = -128\n');
    assert.equal((await run(['-qg', 's.dbl'])).stdout, '1000000000000000019884624838656.000000\n');
    // the value really is what the C tool would store
    assert.deepEqual(await other.get('s.u64'), { type: 8, value: 2n ** 64n - 1n });
    assert.deepEqual(await other.getRaw('s.str'), {
      type: 11,
      length: Buffer.byteLength('say "hi"\nbye é') + 1,
      data: Buffer.from('say "hi"\nbye é\0'),
    });
  });

  test('-s bin from stdin, empty input refused', async () => {
    const stdin = new PassThrough();
    stdin.end(Buffer.from('xyz'));
    assert.equal((await run(['-s', 'in.bin', 'bin', '-'], { stdin })).code, 0);
    assert.equal((await run(['-b', '-g', 'in.bin'])).stdout, 'in.bin (bin) = xyz\n');
    const empty = new PassThrough();
    empty.end();
    assert.deepEqual(await run(['-s', 'in.bin2', 'bin', '-'], { stdin: empty }), {
      code: 1,
      stdout: '',
      stderr: 'Failed to set key in.bin2. Error CS_ERR_INVALID_PARAM\n',
    });
    assert.deepEqual(await run(['-s', 'in.bin3', 'bin', path.join(tmp, 'missing')]), {
      code: 1,
      stdout: '',
      stderr: "Can't open input file: No such file or directory\n",
    });
  });

  test('errors: missing key, bad type, bad value, read-only key, too few args', async () => {
    assert.deepEqual(await run(['-g', 'no.such.key']), {
      code: 1,
      stdout: '',
      stderr: "Can't get key no.such.key. Error CS_ERR_NOT_EXIST\n",
    });
    assert.deepEqual(await run(['-s', 'e.k', 'foo', '1']), {
      code: 1,
      stdout: '',
      stderr: 'Unknown type foo\n',
    });
    assert.deepEqual(await run(['-s', 'e.k', 'u8', '256']), {
      code: 1,
      stdout: '',
      stderr: '256 is not valid u8 integer\n',
    });
    assert.deepEqual(await run(['-s', 'e.k', 'i32', 'x']), {
      code: 1,
      stdout: '',
      stderr: 'x is not valid i32 type value\n',
    });
    assert.deepEqual(await run(['-s', 'totem.cluster_name', 'str', 'x']), {
      code: 1,
      stdout: '',
      stderr: 'Failed to set key totem.cluster_name. Error CS_ERR_ACCESS\n',
    });
    assert.deepEqual(await run(['-s', 'ab', 'str', 'x']), {
      code: 1,
      stdout: '',
      stderr: 'Failed to set key ab. Error CS_ERR_NAME_TOO_LONG\n',
    });
    assert.deepEqual(await run(['-s', 'e.k', 'u8']), {
      code: 1,
      stdout: '',
      stderr: 'At least 3 parameters are expected for set\n',
    });
    assert.deepEqual(await run(['-d', 'no.such.key']), {
      code: 1,
      stdout: '',
      stderr: "Can't delete key no.such.key. Error CS_ERR_NOT_EXIST\n",
    });
    assert.deepEqual(await run(['-g']), { code: 1, stdout: '', stderr: 'Expected key after options\n' });
    // listing: failure only when every prefix is empty
    assert.deepEqual(await run(['nothing.here.']), { code: 1, stdout: '', stderr: '' });
    assert.equal((await run(['nothing.here.', 's.u8'])).code, 0);
  });

  test('-d and -D', async () => {
    for (const k of ['del.a', 'del.b', 'del.c.x', 'keep.a']) await other.setRaw(k, 2, Buffer.from([1]));
    assert.equal((await run(['-d', 'del.a'])).code, 0);
    assert.equal((await run(['del.'])).stdout, 'del.b (u8) = 1\ndel.c.x (u8) = 1\n');
    assert.deepEqual(await run(['-D', 'del.']), { code: 0, stdout: '', stderr: '' });
    assert.equal((await run(['del.'])).code, 1);
    assert.equal((await run(['-g', 'keep.a'])).code, 0);
  });

  test('-p settings file', async () => {
    await other.setRaw('pf.old', 2, Buffer.from([1]));
    await other.setRaw('pf.pre.a', 2, Buffer.from([1]));
    await other.setRaw('pf.pre.b', 2, Buffer.from([1]));
    const file = path.join(tmp, 'settings');
    fs.writeFileSync(
      file,
      '# c\n\npf.a u8 5\n  pf.b str hello world\n^pf.old\n^^pf.pre.\n^pf.nope\npf.c dbl 0.5\n',
    );
    assert.deepEqual(await run(['-p', file]), {
      code: 0,
      stdout: '',
      stderr: "Can't delete key pf.nope. Error CS_ERR_NOT_EXIST\n",
    });
    assert.equal((await run(['pf.'])).stdout, 'pf.a (u8) = 5\npf.b (str) = hello\npf.c (dbl) = 0.500000\n');
    fs.writeFileSync(file, 'pf.d u8 1\npf.e u8\npf.f u8 1\n');
    assert.deepEqual(await run(['-p', file]), {
      code: 1,
      stdout: '',
      stderr: 'Both type and value for key pf.e are required\n',
    });
    assert.equal((await run(['-g', 'pf.d'])).code, 0);
    assert.equal((await run(['-g', 'pf.f'])).code, 1);
    assert.deepEqual(await run(['-p', path.join(tmp, 'missing')]), {
      code: 0,
      stdout: '',
      stderr: "Couldn't open file.: No such file or directory\n",
    });
  });

  test('-T prints changes made by another client; "q" ends it', async () => {
    const stdin = new PassThrough();
    const o = io({ stdin });
    const done = cmapctlMain(['-b', '-T', 'tr.'], o);
    await o.stdout.waitFor((t) => t.includes('Type "q" to finish\n'));
    await other.setRaw('tr.a', 11, Buffer.from('x "y"\0'));
    await other.setRaw('tr.a', 6, Buffer.from([1, 0, 0, 0]));
    await other.setRaw('tr.b', 12, Buffer.from([0x80, 0x5c]));
    await other.delete('tr.a');
    await other.setRaw('other.key', 2, Buffer.from([1]));
    await other.delete('tr.b');
    const expected =
      'Type "q" to finish\n' +
      'create> tr.a (str) = x "y"\n' +
      'modify> tr.a (u32) = 1\n' +
      'create> tr.b (bin) = \\xFFFFFF80\\\\\n' +
      'delete> tr.a (u32) = 1\n' +
      'delete> tr.b (bin) = \\xFFFFFF80\\\\\n';
    await o.stdout.waitFor((t) => t.length >= expected.length);
    stdin.write('xq\n'); // a read starting with "x" does not quit
    stdin.write('q\n');
    assert.equal(await done, 0);
    assert.equal(o.stdout.text, expected);
  });

  test('-t tracks one key; -q; end of input ends tracking', async () => {
    const stdin = new PassThrough();
    const o = io({ stdin });
    const done = cmapctlMain(['-q', '-t', 'tk.one'], o);
    await o.stdout.waitFor((t) => t.includes('finish\n'));
    await other.setRaw('tk.one.more', 2, Buffer.from([1]));
    await other.setRaw('tk.one', 2, Buffer.from([9]));
    await o.stdout.waitFor((t) => t.endsWith('create> 9\n'));
    stdin.end();
    assert.equal(await done, 0);
    assert.equal(o.stdout.text, 'Type "q" to finish\ncreate> 9\n');
  });

  test('--json listing, -g and tracking', async () => {
    await other.setRaw('js.a', 8, Buffer.from('ffffffffffffffff', 'hex'));
    await other.setRaw('js.b', 11, Buffer.from('q"\n\0'));
    await other.setRaw('js.c', 12, Buffer.from([1, 2]));
    const r = await run(['--json', 'js.']);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), [
      { key: 'js.a', type: 'u64', value: 18446744073709552000 },
      { key: 'js.b', type: 'str', value: 'q"\n' },
      { key: 'js.c', type: 'bin', value: null },
    ]);
    assert.match(r.stdout, /"value":18446744073709551615/);
    const g = await run(['-b', '-g', 'js.c', '--json']);
    assert.deepEqual(JSON.parse(g.stdout), [{ key: 'js.c', type: 'bin', value: '0102' }]);
    assert.deepEqual(await run(['--json', 'js.none.']), { code: 1, stdout: '[]\n', stderr: '' });

    const stdin = new PassThrough();
    const o = io({ stdin });
    const done = cmapctlMain(['--json', '-T', 'js.'], o);
    await o.stderr.waitFor((t) => t.includes('Type "q" to finish\n'));
    await other.setRaw('js.b', 6, Buffer.from([2, 0, 0, 0]));
    await other.delete('js.b');
    await o.stdout.waitFor((t) => t.split('\n').length >= 3);
    stdin.write('q\n');
    assert.equal(await done, 0);
    assert.deepEqual(
      o.stdout.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      [
        { event: 'modify', key: 'js.b', type: 'u32', value: 2, old: { type: 'str', value: 'q"\n' } },
        { event: 'delete', key: 'js.b', type: 'u32', value: 2 },
      ],
    );
  });

  test('-m stats, -C and the run directory from COROSYNC_TS_RUN_DIR', async () => {
    const r = await run(['-m', 'stats', 'stats.ipcs.global.']);
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^stats\.ipcs\.global\.active \(u64\) = \d+\nstats\.ipcs\.global\.closed \(u64\) = \d+\n$/,
    );
    assert.equal((await run(['-C', 'all'])).code, 0);
    assert.deepEqual(await run(['-m', 'stats', '-s', 'stats.srp.mcast_tx', 'u64', '1']), {
      code: 1,
      stdout: '',
      stderr: 'Failed to set key stats.srp.mcast_tx. Error CS_ERR_ACCESS\n',
    });
    const viaEnv = await run(['-g', 's.u8'], { runDir: undefined, env: { COROSYNC_TS_RUN_DIR: d.runDir } });
    assert.equal(viaEnv.stdout, 's.u8 (u8) = 255\n');
    const none = await run(['-g', 's.u8'], { runDir: path.join(tmp, 'no-daemon') });
    assert.deepEqual(none, {
      code: 1,
      stdout: '',
      stderr: 'Failed to initialize the cmap API. Error CS_ERR_LIBRARY\n',
    });
  });
});
