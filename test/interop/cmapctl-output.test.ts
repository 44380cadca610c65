/**
 * corosync-ts cmapctl vs the real corosync-cmapctl 3.1.7: keys of every type are set on a
 * real corosync with the real `corosync-cmapctl -s`, read back with the real tool (listing,
 * -b, -q, -g, tracking) and compared line by line with what our pure formatter prints for the
 * (key, type, bytes) we know we set — the bytes coming from our own `-s` value parser, so the
 * parser is checked too. Option/usage errors, which our tool reports before connecting, are
 * compared by running both tools.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cmapctlHelp, cmapctlMain } from '../../src/cli/cmapctl.js';
import {
  formatKeyLine,
  parseLoadFile,
  parseSetValue,
  trackEventPrefix,
} from '../../src/cli/cmapctl-format.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { realCorosyncAvailable, startRealCorosync, type RealCorosync } from '../helpers/real-corosync.js';

const CONFIG = `totem {
  version: 2
  cluster_name: cmapctl
  transport: knet
  crypto_cipher: none
  crypto_hash: none
}
nodelist {
  node {
    nodeid: 1
    name: n1
    ring0_addr: 127.0.0.1
  }
}
quorum {
  provider: corosync_votequorum
}
logging {
  to_stderr: yes
  to_syslog: no
}
`;

interface Case {
  key: string;
  type: string;
  value: string;
  /** For bin: the file content. */
  file?: Buffer;
}

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const CASES: Case[] = [
  { key: 'it.i8.min', type: 'i8', value: '-128' },
  { key: 'it.i8.max', type: 'i8', value: '127' },
  { key: 'it.u8', type: 'u8', value: '255' },
  { key: 'it.u8.garbage', type: 'u8', value: '12abc' },
  { key: 'it.i16', type: 'i16', value: '-32768' },
  { key: 'it.u16', type: 'u16', value: '65535' },
  { key: 'it.i32', type: 'i32', value: '-2147483648' },
  { key: 'it.i32.hex', type: 'i32', value: '0x10' },
  { key: 'it.u32', type: 'u32', value: '4294967295' },
  { key: 'it.i64.min', type: 'i64', value: '-9223372036854775808' },
  { key: 'it.i64.sat', type: 'i64', value: '99999999999999999999' },
  { key: 'it.u64.max', type: 'u64', value: '18446744073709551615' },
  { key: 'it.u64.neg', type: 'u64', value: '-1' },
  { key: 'it.u64.neg2', type: 'u64', value: '-18446744073709551615' },
  { key: 'it.flt.pi', type: 'flt', value: '3.14159' },
  { key: 'it.flt.big', type: 'flt', value: '1e40' },
  { key: 'it.flt.max', type: 'flt', value: '3.4028235e38' },
  { key: 'it.flt.hex', type: 'flt', value: '0x1.8p-1' },
  { key: 'it.flt.tiny', type: 'flt', value: '1e-45' },
  { key: 'it.flt.negzero', type: 'flt', value: '-0' },
  { key: 'it.flt.nan', type: 'flt', value: '-nan' },
  { key: 'it.flt.mid', type: 'flt', value: '1.000000059604644775390626' },
  { key: 'it.dbl.big', type: 'dbl', value: '1e30' },
  { key: 'it.dbl.tie', type: 'dbl', value: '0.0078125' },
  { key: 'it.dbl.tie2', type: 'dbl', value: '123456789.1234565' },
  { key: 'it.dbl.small', type: 'dbl', value: '2.5e-7' },
  { key: 'it.dbl.ninf', type: 'dbl', value: '-infinity' },
  { key: 'it.dbl.nan', type: 'dbl', value: 'nan(123)' },
  { key: 'it.dbl.exp', type: 'dbl', value: '1e5x' },
  { key: 'it.dbl.huge', type: 'dbl', value: '1.7976931348623157e308' },
  { key: 'it.str.quotes', type: 'str', value: 'he said "hi" and \'bye\'' },
  { key: 'it.str.newline', type: 'str', value: 'line1\nline2\ttab\\back' },
  { key: 'it.str.utf8', type: 'str', value: 'žluťoučký kůň — 日本語 😀' },
  { key: 'it.str.ctl', type: 'str', value: 'a\x01b\x1bc\x7f' },
  { key: 'it.str.empty', type: 'str', value: '' },
  { key: 'it.str.spaces', type: 'str', value: '  lead and trail  ' },
  { key: 'it.bin.all', type: 'bin', value: '', file: allBytes },
  { key: 'it.bin.text', type: 'bin', value: '', file: Buffer.from('xyz \\ "q"') },
];

/** The bytes our parser stores for a case. */
function ourBytes(c: Case): { type: number; bytes: Buffer } {
  if (c.file) return { type: CmapValueType.BINARY, bytes: c.file };
  const p = parseSetValue(c.type, c.value);
  assert.ok(p.ok && 'bytes' in p, `${c.type} ${c.value}`);
  return { type: p.type, bytes: p.bytes };
}

function ours(keys: Case[], opts: { showBinary: boolean; quiet: boolean }): string {
  return keys
    .map((c) => {
      const { type, bytes } = ourBytes(c);
      return formatKeyLine(c.key, type, bytes, opts).toString('utf8');
    })
    .join('');
}

async function collect(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await cmapctlMain(argv, {
    stdout: { write: (c) => out.push(Buffer.from(c)) },
    stderr: { write: (c) => err.push(Buffer.from(c)) },
    runDir: '/nonexistent-run-dir',
    env: {},
  });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

const avail = realCorosyncAvailable();
if (!avail.ok) console.log(`# skipping cmapctl interop: ${avail.reason}`);

describe(
  'cmapctl output matches real corosync-cmapctl 3.1.7',
  { skip: avail.ok ? false : avail.reason },
  () => {
    let inst: RealCorosync;
    let tmp: string;
    const cmapctl = (args: string[]) => inst.exec('corosync-cmapctl', args);
    const sorted = [...CASES].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));

    before(async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cmapctl-interop-'));
      inst = await startRealCorosync({ configText: CONFIG, name: 'cmapctl' });
      for (const c of CASES) {
        let value = c.value;
        if (c.file) {
          value = path.join(tmp, c.key);
          fs.writeFileSync(value, c.file);
        }
        const r = await cmapctl(['-s', '--', c.key, c.type, value]);
        assert.equal(r.code, 0, `set ${c.key}: ${r.stderr}`);
      }
    });

    after(async () => {
      await inst?.stop();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    for (const [flags, opts] of [
      [[], { showBinary: false, quiet: false }],
      [['-b'], { showBinary: true, quiet: false }],
      [['-q'], { showBinary: false, quiet: true }],
      [['-q', '-b'], { showBinary: true, quiet: true }],
    ] as const) {
      test(`listing with [${flags.join(' ')}]`, async () => {
        const r = await cmapctl([...flags, 'it.']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, ours(sorted, opts));
      });
    }

    test('-g of every key, one at a time and several at once', async () => {
      for (const c of CASES) {
        const r = await cmapctl(['-b', '-g', c.key]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, ours([c], { showBinary: true, quiet: false }), c.key);
      }
      const some = CASES.slice(0, 5);
      const r = await cmapctl(['-q', '-g', ...some.map((c) => c.key)]);
      assert.equal(r.stdout, ours(some, { showBinary: false, quiet: true }));
    });

    test('-s value errors: same messages and exit code', async () => {
      for (const [type, value] of [
        ['i8', '128'],
        ['i8', '-129'],
        ['u8', '-1'],
        ['u16', '65536'],
        ['u32', '-1'],
        ['i32', 'abc'],
        ['i32', ''],
        ['flt', '.'],
        ['flt', 'infin'],
        ['dbl', '0x'],
        ['foo', '1'],
      ]) {
        const real = await cmapctl(['-s', '--', 'it.err', type, value]);
        const p = parseSetValue(type!, value!);
        assert.equal(real.code, 1);
        assert.ok(!p.ok);
        assert.equal(real.stderr, p.message + '\n');
      }
    });

    test('usage errors and help: our tool prints the same (before connecting)', async () => {
      for (const argv of [
        ['-h'],
        ['-h', '-x'],
        ['-x', '-h'],
        ['-m'],
        ['-m', 'foo'],
        ['-C', 'foo'],
        ['-g'],
        ['-s'],
        ['-d'],
        ['-D'],
        ['-t'],
        ['-T'],
        ['-s', 'k', 'i8', '-128'],
        ['-gx', 'foo'],
      ]) {
        const real = await cmapctl(argv);
        const mine = await collect(argv);
        assert.deepEqual(mine, { code: real.code, stdout: real.stdout, stderr: real.stderr }, argv.join(' '));
      }
      const help = await cmapctl(['-h']);
      assert.equal(help.stdout, cmapctlHelp());
    });

    test('-p settings file: effects and error message', async () => {
      const file = path.join(tmp, 'settings');
      const text =
        '# comment\n  \nit.p.a u8 5\n  it.p.b str hello world\nit.p.c i8 -3\nit.p.gone u8 1\n^it.p.gone\n' +
        'it.p.d dbl 2.5\nit.p.e str x\r\n';
      fs.writeFileSync(file, text);
      const r = await cmapctl(['-p', file]);
      assert.equal(r.code, 0, r.stderr);
      const listed = await cmapctl(['it.p.']);
      const steps = parseLoadFile(Buffer.from(text));
      const final = new Map<string, { type: number; bytes: Buffer }>();
      for (const s of steps) {
        if (s.kind === 'set') {
          const p = parseSetValue(s.typeName, s.value);
          assert.ok(p.ok && 'bytes' in p);
          final.set(s.key, { type: p.type, bytes: p.bytes });
        } else if (s.kind === 'delete') final.delete(s.key);
      }
      const expected = [...final.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => formatKeyLine(k, v.type, v.bytes, { showBinary: false, quiet: false }).toString())
        .join('');
      assert.equal(listed.stdout, expected);

      const bad = path.join(tmp, 'bad');
      fs.writeFileSync(bad, 'it.p.t\tu8\t5\n');
      const rb = await cmapctl(['-p', bad]);
      const sb = parseLoadFile(fs.readFileSync(bad));
      assert.equal(rb.code, 1);
      assert.equal(sb[0]!.kind, 'error');
      assert.equal(rb.stderr, (sb[0] as { message: string }).message + '\n');
    });

    test('tracking lines', async () => {
      // stdbuf makes the real tool's stdout line buffered so the banner shows when tracking is on.
      const child = spawn(
        'nsenter',
        [
          '-t',
          String(inst.pid),
          '-m',
          '-n',
          '-u',
          '--',
          'stdbuf',
          '-oL',
          'corosync-cmapctl',
          '-b',
          '-T',
          'it.track.',
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '';
      const waiters: Array<() => void> = [];
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        waiters.splice(0).forEach((w) => w());
      });
      const waitFor = async (pred: () => boolean, what: string) => {
        const deadline = Date.now() + 10000;
        while (!pred()) {
          if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}; got:\n${out}`);
          await new Promise<void>((res) => {
            waiters.push(res);
            setTimeout(res, 200);
          });
        }
      };
      try {
        await waitFor(() => out.includes('Type "q" to finish\n'), 'banner');
        const binFile = path.join(tmp, 'track.bin');
        fs.writeFileSync(binFile, Buffer.from([0x00, 0x80, 0x5c, 0x41]));
        const steps: Array<[string[], number, Case]> = [
          [['-s', 'it.track.a', 'str', 'a "b"\nc'], 4, { key: 'it.track.a', type: 'str', value: 'a "b"\nc' }],
          [['-s', 'it.track.a', 'u8', '7'], 2, { key: 'it.track.a', type: 'u8', value: '7' }],
          [['-s', 'it.track.f', 'flt', '2.5'], 4, { key: 'it.track.f', type: 'flt', value: '2.5' }],
          [['-d', 'it.track.a'], 1, { key: 'it.track.a', type: 'u8', value: '7' }],
          [
            ['-s', 'it.track.b', 'bin', binFile],
            4,
            { key: 'it.track.b', type: 'bin', value: '', file: fs.readFileSync(binFile) },
          ],
          [
            ['-d', 'it.track.b'],
            1,
            { key: 'it.track.b', type: 'bin', value: '', file: fs.readFileSync(binFile) },
          ],
          [['-s', '--', 'it.track.f', 'dbl', '-1e30'], 2, { key: 'it.track.f', type: 'dbl', value: '-1e30' }],
        ];
        let expected = 'Type "q" to finish\n';
        for (const [args, event, c] of steps) {
          const r = await cmapctl(args);
          assert.equal(r.code, 0, r.stderr);
          const { type, bytes } = ourBytes(c);
          expected +=
            trackEventPrefix(event) +
            formatKeyLine(c.key, type, bytes, { showBinary: true, quiet: false }).toString();
          await waitFor(() => out.length >= expected.length, `event for ${args.join(' ')}`);
        }
        child.stdin.write('q\n');
        const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
        assert.equal(code, 0);
        assert.equal(out, expected);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  },
);
