// corosync-cfgtool output formatting and option handling. The expected texts were captured
// from the real corosync-cfgtool 3.1.7 (Debian) against real corosync 3.1.7 in network
// namespaces: knet, nodelist 1..3 (10.77.0.1..3), nodes 1 and 2 running; and udpu two_node,
// nodes 1 and 2 running. Node status values (mtu 1446 knet / 1410 udpu, addresses) are the
// ones the real daemon reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfgtoolUsage,
  expandLongOptions,
  formatAddresses,
  formatHeader,
  formatLinkStatus,
  formatNodeStatus,
  linkStatusJson,
  linkTransports,
  nodeStatusJson,
  type LinkReport,
} from '../../src/cli/cfgtool-format.js';
import { EMPTY_LINK_STATUS, type CfgLinkStatus, type CfgNodeStatusV1 } from '../../src/client/cfg.js';

function ns(nodeid: number, reachable: number, links: Partial<CfgLinkStatus>[]): CfgNodeStatusV1 {
  const linkStatus = Array.from({ length: 8 }, (_, i) => ({ ...EMPTY_LINK_STATUS, ...(links[i] ?? {}) }));
  return {
    version: 1,
    nodeid,
    reachable,
    remote: 0,
    external: 0,
    onwireMin: 0,
    onwireMax: 0,
    onwireVer: 0,
    linkStatus,
  };
}

const KNET: LinkReport = {
  localNodeId: 1,
  transport: 'knet',
  nodeids: [1, 2, 3],
  status: [
    ns(1, 1, [{ enabled: 1, connected: 1, mtu: 1446, srcIpaddr: '10.77.0.1', dstIpaddr: '10.77.0.1' }]),
    ns(2, 1, [{ enabled: 1, connected: 1, mtu: 1446, srcIpaddr: '10.77.0.1', dstIpaddr: '10.77.0.2' }]),
    ns(3, 0, [{ enabled: 1, connected: 0, mtu: 1446, srcIpaddr: '10.77.0.1', dstIpaddr: '10.77.0.3' }]),
  ],
  linkTransport: linkTransports('knet', new Map()),
};

const UDPU: LinkReport = {
  localNodeId: 1,
  transport: 'udpu',
  nodeids: [1, 2],
  status: [
    ns(1, 1, [{ enabled: 1, connected: 1, mtu: 1410, srcIpaddr: '10.77.0.1' }]),
    ns(2, 1, [{ enabled: 1, connected: 1, mtu: 1410, srcIpaddr: '10.77.0.2' }]),
  ],
  linkTransport: linkTransports('udpu', new Map()),
};

test('-s (knet) — real tool output', () => {
  assert.equal(
    formatHeader(1, 'knet') + formatLinkStatus(KNET, false),
    'Local node ID 1, transport knet\n' +
      'LINK ID 0 udp\n' +
      '\taddr\t= 10.77.0.1\n' +
      '\tstatus:\n' +
      '\t\tnodeid:          1:\tlocalhost\n' +
      '\t\tnodeid:          2:\tconnected\n' +
      '\t\tnodeid:          3:\tdisconnected\n',
  );
});

test('-s -b (knet) — real tool output', () => {
  assert.equal(
    formatHeader(1, 'knet') + formatLinkStatus(KNET, true),
    'Local node ID 1, transport knet\nLINK ID 0 udp\n\taddr\t= 10.77.0.1\n\tstatus\t= n31\n',
  );
});

test('-n (knet) — real tool output', () => {
  assert.equal(
    formatHeader(1, 'knet') + formatNodeStatus(KNET, [true, true, true]),
    'Local node ID 1, transport knet\n' +
      'nodeid: 2 reachable\n' +
      '   LINK: 0 udp (10.77.0.1->10.77.0.2) enabled connected mtu: 1446\n' +
      '\n',
  );
});

test('-s / -s -b / -n (udpu) — real tool output', () => {
  assert.equal(
    formatHeader(1, 'udpu') + formatLinkStatus(UDPU, false),
    'Local node ID 1, transport udpu\n' +
      'LINK ID 0 \n' +
      '\taddr\t= 10.77.0.2\n' +
      '\tstatus:\n' +
      '\t\tnodeid:          1:\tlocalhost\n' +
      '\t\tnodeid:          2:\tconnected\n',
  );
  assert.equal(formatLinkStatus(UDPU, true), 'LINK ID 0 \n\taddr\t= 10.77.0.2\n\tstatus\t= n3\n');
  assert.equal(
    formatNodeStatus(UDPU, [true, true]),
    'nodeid: 2 reachable\n   LINK: 0  (10.77.0.2) enabled connected mtu: 1410\n\n',
  );
});

test('-n on a lone node prints the header only — real tool output', () => {
  const lone: LinkReport = { ...KNET, status: [KNET.status[0]!, ns(2, 0, []), ns(3, 0, [])] };
  assert.equal(
    formatHeader(1, 'knet') + formatNodeStatus(lone, [true, true, true]),
    'Local node ID 1, transport knet\n',
  );
});

test('knet_transport overrides and remote/external/dynconnected words', () => {
  const t = linkTransports('knet', new Map([[1, 'sctp']]));
  assert.deepEqual(t.slice(0, 3), ['udp', 'sctp', 'udp']);
  const r: LinkReport = {
    ...KNET,
    nodeids: [1, 2],
    status: [
      KNET.status[0]!,
      {
        ...ns(2, 1, [
          { enabled: 1, connected: 0, dynconnected: 1, mtu: 1000, srcIpaddr: 'a', dstIpaddr: 'b' },
          { enabled: 1, connected: 1, mtu: 9, srcIpaddr: 'c', dstIpaddr: 'd' },
        ]),
        remote: 1,
        external: 1,
      },
    ],
    linkTransport: t,
  };
  assert.equal(
    formatNodeStatus(r, [true, true]),
    'nodeid: 2 reachable remote external\n' +
      '   LINK: 0 udp (a->b) enabled dynconnected mtu: 1000\n' +
      '   LINK: 1 sctp (c->d) enabled connected mtu: 9\n\n',
  );
  assert.equal(
    formatLinkStatus(r, true),
    'LINK ID 0 udp\n\taddr\t= a\n\tstatus\t= n1\nLINK ID 1 sctp\n\taddr\t= c\n\tstatus\t= n3\n',
  );
});

test('-a output', () => {
  assert.equal(formatAddresses([{ family: 2, address: '10.77.0.1' }]), '10.77.0.1\n');
  assert.equal(
    formatAddresses([
      { family: 2, address: '10.0.0.1' },
      { family: 2, address: '10.0.1.1' },
    ]),
    '10.0.0.1 10.0.1.1\n',
  );
  // an unused first entry still puts the separator before the second
  assert.equal(
    formatAddresses([
      { family: 0, address: '' },
      { family: 2, address: '10.0.1.1' },
    ]),
    ' 10.0.1.1\n',
  );
});

test('usage — real tool output', () => {
  const u = cfgtoolUsage();
  assert.ok(
    u.startsWith(
      'corosync-cfgtool [[-i <interface ip>] [-b] -s] [-R] [-L] [-k nodeid] [-a nodeid] [-h] [-H]\n\n',
    ),
  );
  assert.ok(
    u.includes(
      '\t-i\tFinds only information about the specified interface IP address or link id when used with -s..\n',
    ),
  );
  assert.ok(
    u.endsWith(
      '\t-H\tShutdown corosync cleanly on this node.\n\t\t--force will shut down corosync regardless of daemon vetos\n',
    ),
  );
});

const LONGS = [
  { name: 'status', hasArg: false, short: 's' },
  { name: 'shutdown', hasArg: false, short: 'H' },
  { name: 'kill', hasArg: true, short: 'k' },
  { name: 'brief', hasArg: false, short: 'b' },
];

test('getopt_long messages — real tool output', () => {
  const p = 'corosync-cfgtool';
  assert.equal(
    expandLongOptions(['--s'], LONGS, p).error,
    "corosync-cfgtool: option '--s' is ambiguous; possibilities: '--status' '--shutdown'",
  );
  assert.equal(expandLongOptions(['--foo'], LONGS, p).error, "corosync-cfgtool: unrecognized option '--foo'");
  assert.equal(
    expandLongOptions(['--kill'], LONGS, p).error,
    "corosync-cfgtool: option '--kill' requires an argument",
  );
  assert.equal(
    expandLongOptions(['--status=3'], LONGS, p).error,
    "corosync-cfgtool: option '--status' doesn't allow an argument",
  );
  assert.deepEqual(expandLongOptions(['--stat', '--bri', '--kill=4', '--kill', '5', '--', '--x'], LONGS, p), {
    argv: ['-s', '-b', '-k', '4', '-k', '5', '--', '--x'],
  });
});

test('--json shapes', () => {
  const j = linkStatusJson(KNET) as { links: Array<{ nodes: Array<{ status: string }> }> };
  assert.deepEqual(
    j.links[0]!.nodes.map((n) => n.status),
    ['localhost', 'connected', 'disconnected'],
  );
  const n = nodeStatusJson(KNET, [true, true, true]) as { nodes: Array<{ nodeid: number }> };
  assert.deepEqual(
    n.nodes.map((x) => x.nodeid),
    [2],
  );
});
