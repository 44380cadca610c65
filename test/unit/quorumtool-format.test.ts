// corosync-quorumtool output formatting. The expected texts were captured from the real
// corosync-quorumtool 3.1.7 (Debian) against real corosync 3.1.7 in network namespaces:
// - "knet3": nodelist of 3 (node1..node3, 10.77.0.1..3, names set), nodes 1 and 2 running;
// - "knet3one": same config, only node 1 running (inquorate);
// - "udpu2": two_node: 1, udpu, no node names (the name column was empty there because the
//   real tool's reverse DNS lookup failed inside the namespace).
// The Date line uses local time; the tests build the date in local time too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ctime,
  flagWords,
  formatMembership,
  formatQuorumInfo,
  formatVotequorumInfo,
  quorumtoolUsage,
  sortRows,
  statusJson,
  type MemberRow,
} from '../../src/cli/quorumtool-format.js';
import type { VotequorumInfo } from '../../src/client/votequorum.js';
import { strtonum } from '../../src/cli/quorumtool.js';

const DATE = new Date(2026, 10, 21, 3, 30, 19);

function info(p: Partial<VotequorumInfo>): VotequorumInfo {
  return {
    nodeid: 1,
    state: 1,
    votes: 1,
    expectedVotes: 3,
    highestExpected: 3,
    totalVotes: 2,
    quorum: 2,
    flags: 2,
    qdeviceVotes: 0,
    qdeviceName: '',
    ...p,
  };
}

const KNET3_S =
  'Quorum information\n' +
  '------------------\n' +
  'Date:             Sat Nov 21 03:30:19 2026\n' +
  'Quorum provider:  corosync_votequorum\n' +
  'Nodes:            2\n' +
  'Node ID:          1\n' +
  'Ring ID:          1.9\n' +
  'Quorate:          Yes\n' +
  '\n' +
  'Votequorum information\n' +
  '----------------------\n' +
  'Expected votes:   3\n' +
  'Highest expected: 3\n' +
  'Total votes:      2\n' +
  'Quorum:           2  \n' +
  'Flags:            Quorate \n' +
  '\n' +
  'Membership information\n' +
  '----------------------\n' +
  '    Nodeid      Votes Name\n' +
  '         1          1 node1 (local)\n' +
  '         2          1 node2\n';

const ROWS: MemberRow[] = [
  { nodeid: 1, name: 'node1', info: info({ nodeid: 1 }) },
  { nodeid: 2, name: 'node2', info: info({ nodeid: 2 }) },
];

const MEMBERSHIP_OPTS = {
  hex: false,
  machineParsable: false,
  sort: 'addr' as const,
  localNodeId: 1,
  votequorum: true,
};

function status(hex: boolean, rows = ROWS, local = info({})): string {
  return (
    formatQuorumInfo(
      {
        date: DATE,
        provider: 'corosync_votequorum',
        nodes: rows.length,
        nodeId: 1,
        ringRep: 1,
        ringSeq: 9n,
        quorate: true,
      },
      hex,
    ) +
    formatVotequorumInfo(local) +
    formatMembership(rows, { ...MEMBERSHIP_OPTS, hex })
  );
}

test('ctime(3) form, day padded with a space', () => {
  assert.equal(ctime(DATE), 'Sat Nov 21 03:30:19 2026\n');
  assert.equal(ctime(new Date(2025, 0, 5, 7, 8, 9)), 'Sun Jan  5 07:08:09 2025\n');
});

test('-s (knet3, quorate) — real tool output', () => {
  assert.equal(status(false), KNET3_S);
});

test('-s -H — real tool output', () => {
  const expected = KNET3_S.replace('Node ID:          1', 'Node ID:          0x00000001')
    .replace('         1          1 node1', '0x00000001          1 node1')
    .replace('         2          1 node2', '0x00000002          1 node2');
  assert.equal(status(true), expected);
  assert.ok(expected.includes('Ring ID:          1.9\n'), 'ring id stays hex without 0x');
});

test('-l and -l -p — real tool output', () => {
  assert.equal(
    formatMembership(ROWS, MEMBERSHIP_OPTS),
    '\nMembership information\n----------------------\n' +
      '    Nodeid      Votes Name\n' +
      '         1          1 node1 (local)\n' +
      '         2          1 node2\n',
  );
  assert.equal(
    formatMembership(ROWS, { ...MEMBERSHIP_OPTS, machineParsable: true }),
    '\nMembership information\n----------------------\n' +
      '    Nodeid      Votes    Qdevice Name\n' +
      '         1          1         NR node1 (local)\n' +
      '         2          1         NR node2\n',
  );
});

test('-s on a lone node of three (inquorate, exit 2 in the tool) — real tool output', () => {
  const text =
    formatQuorumInfo(
      {
        date: DATE,
        provider: 'corosync_votequorum',
        nodes: 1,
        nodeId: 1,
        ringRep: 1,
        ringSeq: 5n,
        quorate: false,
      },
      false,
    ) +
    formatVotequorumInfo(info({ totalVotes: 1, flags: 0 })) +
    formatMembership([{ nodeid: 1, name: 'node1', info: info({ flags: 0 }) }], MEMBERSHIP_OPTS);
  assert.equal(
    text,
    'Quorum information\n------------------\n' +
      'Date:             Sat Nov 21 03:30:19 2026\n' +
      'Quorum provider:  corosync_votequorum\n' +
      'Nodes:            1\n' +
      'Node ID:          1\n' +
      'Ring ID:          1.5\n' +
      'Quorate:          No\n' +
      '\nVotequorum information\n----------------------\n' +
      'Expected votes:   3\n' +
      'Highest expected: 3\n' +
      'Total votes:      1\n' +
      'Quorum:           2 Activity blocked\n' +
      'Flags:            \n' +
      '\nMembership information\n----------------------\n' +
      '    Nodeid      Votes Name\n' +
      '         1          1 node1 (local)\n',
  );
});

test('two_node udpu flags line — real tool output', () => {
  const t = formatVotequorumInfo(
    info({ expectedVotes: 2, highestExpected: 2, totalVotes: 2, quorum: 1, flags: 1 | 2 | 4 }),
  );
  assert.ok(t.includes('Quorum:           1  \nFlags:            2Node Quorate WaitForAll \n'));
  // names unresolved: the row is "<id> <votes> " + "" + " (local)"
  assert.equal(
    formatMembership(
      [
        { nodeid: 1, name: '', info: info({}) },
        { nodeid: 2, name: '', info: info({}) },
      ],
      MEMBERSHIP_OPTS,
    ),
    '\nMembership information\n----------------------\n' +
      '    Nodeid      Votes Name\n' +
      '         1          1  (local)\n' +
      '         2          1 \n',
  );
});

test('no votequorum: no Votes column, ring id is the sequence only', () => {
  assert.equal(
    formatMembership([], { ...MEMBERSHIP_OPTS, votequorum: false }),
    '\nMembership information\n----------------------\n    Nodeid Name\n',
  );
  const q = formatQuorumInfo(
    {
      date: DATE,
      provider: undefined,
      nodes: 0,
      nodeId: 0,
      ringRep: undefined,
      ringSeq: 0x1cn,
      quorate: true,
    },
    false,
  );
  assert.ok(q.includes('Quorum provider:  Not configured\n'));
  assert.ok(q.includes('Ring ID:          1c\n'));
});

test('all flag words in order', () => {
  assert.equal(
    flagWords(1023),
    '2Node Quorate WaitForAll LastManStanding AutoTieBreaker AllowDownscale Qdevice ',
  );
});

test('qdevice column and the qdevice row (casting / not casting)', () => {
  const reg = 64 | 128 | 256;
  const rows: MemberRow[] = [
    { nodeid: 1, name: 'node1', info: info({ flags: 2 | reg, qdeviceVotes: 1, qdeviceName: 'Qdevice' }) },
    {
      nodeid: 2,
      name: 'node2',
      info: info({ nodeid: 2, flags: 2 | 64, qdeviceVotes: 1, qdeviceName: 'Qdevice' }),
    },
  ];
  assert.equal(
    formatMembership(rows, MEMBERSHIP_OPTS),
    '\nMembership information\n----------------------\n' +
      '    Nodeid      Votes    Qdevice Name\n' +
      '         1          1    A,V,NMW node1 (local)\n' +
      '         2          1  NA,NV,NMW node2\n' +
      '         0          1            Qdevice\n',
  );
  const notCasting = rows.map((r) => ({ ...r, info: { ...r.info!, flags: 2 | 64 } }));
  assert.ok(
    formatMembership(notCasting, MEMBERSHIP_OPTS).endsWith(
      '         0          0            Qdevice (votes 1)\n',
    ),
  );
});

test('failed getinfo prints a line before the block and shows zeros', () => {
  const out = formatMembership([{ nodeid: 7, name: 'x', info: null }], MEMBERSHIP_OPTS);
  assert.ok(out.startsWith('Unable to get node 7 info\n\nMembership information\n'));
  assert.ok(out.endsWith('         7          0 x\n'));
});

test('-o i / -o n ordering', () => {
  const rows: MemberRow[] = [
    { nodeid: 3, name: 'b' },
    { nodeid: 1, name: 'c' },
    { nodeid: 2, name: 'a' },
  ];
  assert.deepEqual(
    sortRows(rows, 'nodeid').map((r) => r.nodeid),
    [1, 2, 3],
  );
  assert.deepEqual(
    sortRows(rows, 'name').map((r) => r.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    sortRows(rows, 'addr').map((r) => r.nodeid),
    [3, 1, 2],
  );
});

test('usage text — real tool output', () => {
  const u = quorumtoolUsage('corosync-quorumtool');
  assert.ok(
    u.startsWith(
      'usage: \ncorosync-quorumtool <options>\n\n  options:\n\n  -s             show quorum status\n',
    ),
  );
  assert.ok(
    u.endsWith('  (*) Starred items only work if votequorum is the quorum provider for corosync\n\n'),
  );
  assert.equal(u.split('\n').length, 23);
});

test('util_strtonum', () => {
  assert.equal(strtonum('5', 1, 10), 5);
  assert.equal(strtonum(' 5', 1, 10), 5);
  assert.equal(strtonum('+5', 1, 10), 5);
  assert.equal(strtonum('0', 1, 10), undefined);
  assert.equal(strtonum('5x', 1, 10), undefined);
  assert.equal(strtonum('', 0, 10), undefined);
  assert.equal(strtonum('4294967295', 1, 0xffffffff), 0xffffffff);
});

test('--json status object', () => {
  const j = statusJson({
    info: {
      date: DATE,
      provider: 'corosync_votequorum',
      nodes: 2,
      nodeId: 1,
      ringRep: 1,
      ringSeq: 9n,
      quorate: true,
    },
    votequorum: info({}),
    members: ROWS,
    sort: 'addr',
    localNodeId: 1,
  });
  assert.equal(j.ringId, '1.9');
  assert.equal(j.quorate, true);
  assert.deepEqual((j.votequorum as { flags: string[] }).flags, ['Quorate']);
  assert.deepEqual(j.membership, [
    { nodeid: 1, name: 'node1', local: true, votes: 1, qdevice: null },
    { nodeid: 2, name: 'node2', local: false, votes: 1, qdevice: null },
  ]);
});
