// corosync-cpgtool output formatting. The expected texts were captured from the real
// corosync-cpgtool 3.1.7 (Debian) against a real corosync in a network namespace, with five
// groups joined through libcpg by one process (pid 10291, node 1, 127.0.0.1), listed by the
// daemon in this order: "sp ace", "" (empty name), "we\ird" + 01 c3 a9 7f + "x", "beta",
// "alpha".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressesFromMemberIp,
  cpgtoolUsage,
  delimiterFromArg,
  formatFullListing,
  formatGroupName,
  formatNameListing,
  jsonFullListing,
  jsonNameListing,
  type CpgtoolEntry,
} from '../../src/cli/cpgtool-format.js';

const WEIRD = Buffer.concat([Buffer.from('we\\ird'), Buffer.from([1, 0xc3, 0xa9, 0x7f]), Buffer.from('x')]);
const NAMES = [Buffer.from('sp ace'), Buffer.alloc(0), WEIRD, Buffer.from('beta'), Buffer.from('alpha')];
const ENTRIES: CpgtoolEntry[] = NAMES.map((group) => ({ group, nodeid: 1, pid: 10291 }));
const ADDR = (): string[] => ['127.0.0.1'];
const WEIRD_ESC = 'we\\\\ird\\x01\\xFFFFFFC3\\xFFFFFFA9\\x7Fx';
const WEIRD_RAW = Buffer.concat([
  Buffer.from('we\\ird'),
  Buffer.from([1, 0xc3, 0xa9, 0x7f]),
  Buffer.from('x'),
]);

const line = (name: string | Buffer): Buffer =>
  Buffer.concat([Buffer.from(name), Buffer.from('\n\t\t     10291\t         1 (127.0.0.1)\n')]);

test('full listing (no options) — real tool output', () => {
  const expected =
    'Group Name\t       PID\t   Node ID\n' +
    'sp ace\n\t\t     10291\t         1 (127.0.0.1)\n' +
    '\n\t\t     10291\t         1 (127.0.0.1)\n' +
    `${WEIRD_ESC}\n\t\t     10291\t         1 (127.0.0.1)\n` +
    'beta\n\t\t     10291\t         1 (127.0.0.1)\n' +
    'alpha\n\t\t     10291\t         1 (127.0.0.1)\n';
  assert.equal(formatFullListing(ENTRIES, { escape: true }, ADDR).toString('latin1'), expected);
});

test('full listing -e — raw bytes', () => {
  const expected = Buffer.concat([
    Buffer.from('Group Name\t       PID\t   Node ID\n'),
    line('sp ace'),
    line(''),
    line(WEIRD_RAW),
    line('beta'),
    line('alpha'),
  ]);
  assert.ok(formatFullListing(ENTRIES, { escape: false }, ADDR).equals(expected));
});

test('-d , and -d , -e', () => {
  assert.equal(
    formatFullListing(ENTRIES, { delimiter: 0x2c, escape: true }).toString('latin1'),
    `GRP_NAME,PID,NODEID\nsp ace,10291,1\n,10291,1\n${WEIRD_ESC},10291,1\nbeta,10291,1\nalpha,10291,1\n`,
  );
  const raw = formatFullListing(ENTRIES, { delimiter: 0x2c, escape: false });
  assert.ok(
    raw.equals(
      Buffer.concat([
        Buffer.from('GRP_NAME,PID,NODEID\nsp ace,10291,1\n,10291,1\n'),
        WEIRD_RAW,
        Buffer.from(',10291,1\nbeta,10291,1\nalpha,10291,1\n'),
      ]),
    ),
  );
});

test('-d é uses the first byte (0xC3) of the argument; -d "" means no delimiter', () => {
  assert.equal(delimiterFromArg('é'), 0xc3);
  assert.equal(delimiterFromArg(''), undefined);
  assert.equal(delimiterFromArg(',;'), 0x2c);
  const out = formatFullListing(ENTRIES.slice(0, 1), { delimiter: delimiterFromArg('é'), escape: true });
  assert.ok(out.equals(Buffer.from('GRP_NAME\xc3PID\xc3NODEID\nsp ace\xc310291\xc31\n', 'latin1')));
});

test('-n, -n -d ,, -n -e', () => {
  assert.equal(
    formatNameListing(NAMES, { escape: true }).toString('latin1'),
    `sp ace\n\n${WEIRD_ESC}\nbeta\nalpha\n`,
  );
  assert.equal(
    formatNameListing(NAMES, { delimiter: 0x2c, escape: true }).toString('latin1'),
    `sp ace,,${WEIRD_ESC},beta,alpha,\n`,
  );
  assert.ok(
    formatNameListing(NAMES, { escape: false }).equals(
      Buffer.concat([Buffer.from('sp ace\n\n'), WEIRD_RAW, Buffer.from('\nbeta\nalpha\n')]),
    ),
  );
});

test('empty daemon: header only; names: nothing (or a lone newline with -d)', () => {
  assert.equal(formatFullListing([], { escape: true }).toString(), 'Group Name\t       PID\t   Node ID\n');
  assert.equal(formatFullListing([], { delimiter: 0x2c, escape: true }).toString(), 'GRP_NAME,PID,NODEID\n');
  assert.equal(formatNameListing([], { escape: true }).toString(), '');
  assert.equal(formatNameListing([], { delimiter: 0x2c, escape: true }).toString(), '\n');
});

test('group lines only when the group changes; a leading empty name gets none', () => {
  const e: CpgtoolEntry[] = [
    { group: Buffer.alloc(0), nodeid: 1, pid: 1 },
    { group: Buffer.from('g'), nodeid: 1, pid: 2 },
    { group: Buffer.from('g'), nodeid: 2, pid: 3 },
  ];
  assert.equal(
    formatFullListing(e, { escape: true }, (n) => (n === 2 ? ['10.0.0.2', '10.0.1.2'] : [])).toString(),
    'Group Name\t       PID\t   Node ID\n' +
      '\t\t         1\t         1 ()\n' +
      'g\n' +
      '\t\t         2\t         1 ()\n' +
      '\t\t         3\t         2 (10.0.0.2 10.0.1.2)\n',
  );
});

test('escaping of every byte class', () => {
  assert.equal(
    formatGroupName(Buffer.from([0, 0x1f, 0x20, 0x7e, 0x7f, 0x5c, 0x80, 0xff]), true).toString('latin1'),
    '\\x00\\x1F ~\\x7F\\\\\\xFFFFFF80\\xFFFFFFFF',
  );
});

test('usage text — real tool output', () => {
  assert.equal(
    cpgtoolUsage(),
    'corosync-cpgtool [-d delimiter] [-e] [-n] [-h]\n\nA tool for displaying cpg groups and members.\noptions:\n' +
      "\t-d\tDelimiter between fields.\n\t-e\tDon't escape unprintable characters in group name.\n" +
      '\t-n\tDisplay only all existing group names.\n\t-h\tDisplay this help.\n',
  );
});

test('addresses from runtime.members.<id>.ip; JSON listings', () => {
  assert.deepEqual(addressesFromMemberIp('r(0) ip(127.0.0.1) '), ['127.0.0.1']);
  assert.deepEqual(addressesFromMemberIp('r(0) ip(10.0.0.1) r(1) ip(fd00::1) '), ['10.0.0.1', 'fd00::1']);
  assert.deepEqual(addressesFromMemberIp(''), []);
  assert.deepEqual(JSON.parse(jsonFullListing(ENTRIES.slice(2, 4), true, ADDR)), [
    { group: WEIRD_ESC, pid: 10291, nodeid: 1, addresses: ['127.0.0.1'] },
    { group: 'beta', pid: 10291, nodeid: 1, addresses: ['127.0.0.1'] },
  ]);
  assert.deepEqual(JSON.parse(jsonNameListing([Buffer.from('é')], false)), ['é']);
  assert.equal(jsonNameListing([], true), '[]\n');
});
