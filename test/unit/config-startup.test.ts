import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeValue } from '../../src/cmap/types.js';
import { BUILTIN_CONFIG, parseConfigText } from '../../src/config/load.js';
import { ConfigError, EMPTY_USER_DB } from '../../src/config/parser.js';
import {
  buildStartupMap,
  clusterMcastAddr,
  type StartupEnv,
  type StartupResult,
} from '../../src/config/totem.js';

const ENV: StartupEnv = { hostname: 'host', localAddresses: ['127.0.0.1', '10.0.0.1', '::1'] };

function start(text: string, env: Partial<StartupEnv> = {}): StartupResult {
  return buildStartupMap(parseConfigText(text, 'test.conf', { userDb: EMPTY_USER_DB }), { ...ENV, ...env });
}

function val(r: StartupResult, key: string): unknown {
  const v = r.map.get(key);
  return v ? decodeValue(v.type, v.bytes).value : undefined;
}

function err(text: string, env: Partial<StartupEnv> = {}): ConfigError {
  try {
    start(text, env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail('expected a config error');
}

function nodes(n: number, opts: { nodeid?: boolean; base?: string } = {}): string {
  const base = opts.base ?? '10.0.0.';
  let s = 'nodelist {\n';
  for (let i = 1; i <= n; i++) {
    s += `node {\nring0_addr: ${base}${i}\n${opts.nodeid === false ? '' : `nodeid: ${i}\n`}}\n`;
  }
  return `${s}}\n`;
}

const UDPU = (extra = ''): string => `totem {\nversion: 2\ntransport: udpu\ncluster_name: c\n${extra}}\n`;

describe('derived timeouts', () => {
  test('2 nodes: token 3000, retransmit 714, hold 561, consensus 3600', () => {
    const r = start(UDPU() + nodes(2));
    assert.deepEqual(
      [r.totem.token, r.totem.tokenRetransmit, r.totem.hold, r.totem.consensus],
      [3000, 714, 561, 3600],
    );
    assert.equal(val(r, 'runtime.config.totem.token'), 3000);
    assert.equal(val(r, 'runtime.config.totem.token_retransmit'), 714);
    assert.equal(val(r, 'runtime.config.totem.hold'), 561);
    assert.equal(val(r, 'runtime.config.totem.consensus'), 3600);
  });

  test('3 nodes: token 3650, retransmit 869, hold 685, consensus 4380', () => {
    const r = start(UDPU() + nodes(3));
    assert.deepEqual(
      [r.totem.token, r.totem.tokenRetransmit, r.totem.hold, r.totem.consensus],
      [3650, 869, 685, 4380],
    );
    assert.equal(val(r, 'runtime.config.totem.interface.0.knet_ping_timeout'), 1825);
    assert.equal(val(r, 'runtime.config.totem.interface.0.knet_ping_interval'), 912);
  });

  test('token_coefficient: applies to an explicit token too; 0 disables', () => {
    assert.equal(start(UDPU('token: 1000\ntoken_coefficient: 100\n') + nodes(5)).totem.token, 1300);
    assert.equal(start(UDPU('token_coefficient: 0\n') + nodes(5)).totem.token, 3000);
  });

  test('explicit values are kept; zero means default where zero is not allowed', () => {
    const r = start(UDPU('token: 0\njoin: 0\nsend_join: 0\ntoken_warning: 0\nconsensus: 5000\n') + nodes(2));
    assert.equal(r.totem.token, 3000);
    assert.equal(r.totem.join, 50);
    assert.equal(r.totem.sendJoin, 0);
    assert.equal(r.totem.tokenWarning, 0);
    assert.equal(r.totem.consensus, 5000);
  });

  test('runtime.config.totem.* has the full set with types', () => {
    const r = start(BUILTIN_CONFIG);
    const runtime = [...r.map.keys()].filter((k) => k.startsWith('runtime.config.totem.'));
    assert.equal(runtime.length, 26);
    assert.equal(val(r, 'runtime.config.totem.knet_compression_model'), 'none');
    assert.equal(val(r, 'runtime.config.totem.knet_compression_level'), 0);
    assert.equal(r.map.get('runtime.config.totem.knet_compression_level')?.type, 5);
    assert.equal(val(r, 'runtime.config.totem.block_unlisted_ips'), 1);
  });

  test('block_unlisted_ips / cancel_token_hold_on_retransmit yes/no strings become 1/0', () => {
    const r = start(UDPU('block_unlisted_ips: no\ncancel_token_hold_on_retransmit: yes\n') + nodes(1));
    assert.equal(val(r, 'runtime.config.totem.block_unlisted_ips'), 0);
    assert.equal(val(r, 'runtime.config.totem.cancel_token_hold_on_retransmit'), 1);
  });
});

describe('timeout validation (fatal at startup)', () => {
  const cases: [string, string][] = [
    ['token: 20', 'parse error in config: The token timeout parameter (20 ms) may not be less than (30 ms).'],
    [
      'max_network_delay: 10',
      'parse error in config: The max_network_delay parameter (10 ms) may not be less than (30 ms).',
    ],
    [
      'token_warning: 101',
      'parse error in config: The token warning parameter (101%) must be between 0 (disabled) and 100.',
    ],
    [
      'token_retransmit: 20',
      'parse error in config: The token retransmit timeout parameter (20 ms) may not be less than (30 ms).',
    ],
    [
      'token: 100\ntoken_retransmits_before_loss_const: 10',
      'parse error in config: Not appropriate token or token_retransmits_before_loss_const value set',
    ],
    [
      'hold: 10',
      'parse error in config: The token hold timeout parameter (10 ms) may not be less than (14 ms).',
    ],
    ['join: 20', 'parse error in config: The join timeout parameter (20 ms) may not be less than (30 ms).'],
    [
      'join: 500\nconsensus: 400',
      'parse error in config: The consensus timeout parameter (400 ms) may not be less than join timeout (500 ms).',
    ],
    ['merge: 29', 'parse error in config: The merge timeout parameter (29 ms) may not be less than (30 ms).'],
    [
      'downcheck: 1',
      'parse error in config: The downcheck timeout parameter (1 ms) may not be less than (30 ms).',
    ],
    [
      'token_warning: 4294967295',
      'parse error in config: The token warning parameter (-1%) must be between 0 (disabled) and 100.',
    ],
  ];
  for (const [extra, msg] of cases) {
    test(extra.replace('\n', ', '), () => {
      const e = err(UDPU(`${extra}\n`) + nodes(2));
      assert.equal(e.message, msg);
      assert.equal(e.exitCode, 8);
    });
  }
});

describe('totem validation', () => {
  test('transport, version, link_mode, crypto, interfaces', () => {
    const cases: [string, string][] = [
      [
        'totem {\nversion: 2\ntransport: tcp\n}\n' + nodes(1),
        'Invalid transport type. Should be udpu, udp or knet',
      ],
      [
        'totem {\nversion: 1\ntransport: udpu\n}\n' + nodes(1),
        'parse error in config: This totem parser can only parse version 2 configurations.',
      ],
      [
        'totem {\ntransport: udpu\n}\n' + nodes(1),
        'parse error in config: This totem parser can only parse version 2 configurations.',
      ],
      [
        UDPU('link_mode: fast\n') + nodes(1),
        'parse error in config: The Knet link mode "fast" specified is invalid.  It must be active, passive or rr.',
      ],
      [UDPU(`link_mode: ${'x'.repeat(64)}\n`) + nodes(1), 'totem.link_mode is too long'],
      [
        UDPU('crypto_cipher: aes256\n') + nodes(1),
        'crypto_cipher requires crypto_hash with value other than none',
      ],
      [
        UDPU('crypto_cipher: aes256\ncrypto_hash: sha1\n') + nodes(1),
        'parse error in config: crypto_cipher & crypto_hash are only valid for the Knet transport.',
      ],
      [
        UDPU() + 'nodelist {\nnode {\nring0_addr: 10.0.0.1\nring1_addr: 10.1.0.1\nnodeid: 1\nname: a\n}\n}\n',
        'parse error in config: 2 is too many configured interfaces for non-Knet transport.',
      ],
      [
        UDPU('interface {\nttl: 2\n}\n') + nodes(1),
        'parse error in config: Can only set ttl on multicast transport types for interface 0',
      ],
      [
        UDPU('interface {\nknet_link_priority: 2\n}\n') + nodes(1),
        'parse error in config: Can only set link priority on knet transport type for interface 0',
      ],
      [
        // deviation: corosync accepts it and underflows its packet sizes
        UDPU('netmtu: 122\n') + nodes(1),
        'parse error in config: totem.netmtu 122 is too small (corosync-ts needs at least 123)',
      ],
      [
        UDPU('interface {\nknet_transport: tcp\n}\n') + nodes(1),
        "Unrecognised knet_transport. expected 'udp' or 'sctp'",
      ],
      [
        UDPU() + 'nodelist {\nnode {\nring0_addr: 10.0.0.1\nring9_addr: 10.0.0.1\nnodeid: 1\n}\n}\n',
        'parse error in config: interface ring number 9 is bigger than allowed maximum 7',
      ],
      ['totem {\nversion: 2\ntransport: udpu\n}\n', 'parse error in config: No interfaces defined'],
      [
        UDPU() + 'nodelist {\nnode {\nring0_addr: 10.9.9.9\nnodeid: 1\n}\n}\n',
        'parse error in config: No valid name found for local host',
      ],
      [
        UDPU() + 'nodelist {\nnode {\nring0_addr: not_an_address\nnodeid: 1\n}\n}\n',
        "failed to parse node address 'not_an_address'",
      ],
    ];
    for (const [text, msg] of cases) assert.equal(err(text).message, msg, text);
  });

  test('knet nodeid rules', () => {
    const knet = 'totem {\nversion: 2\n}\n';
    assert.equal(
      err(knet + 'nodelist {\nnode {\nring0_addr: 10.0.0.1\n}\n}\n').message,
      'Knet requires an explicit nodeid for the local node',
    );
    assert.equal(
      err(
        knet + 'nodelist {\nnode {\nring0_addr: 10.0.0.1\nnodeid: 1\n}\nnode {\nring0_addr: 10.0.0.2\n}\n}\n',
      ).message,
      "Knet requires an explicit nodeid to be specified for address '10.0.0.2'.",
    );
    assert.equal(
      err(knet + 'nodelist {\nnode {\nring0_addr: 10.0.0.1\nnodeid: 65536\n}\n}\n').message,
      "Knet requires nodeid to be less than 65536 for address '10.0.0.1'.",
    );
    assert.equal(
      err(knet + 'nodelist {\nnode {\nring0_addr: 10.0.0.1\nring1_addr: 10.1.0.1\nnodeid: 1\n}\n}\n').message,
      "parse error in config: for a multi-link configuration, all nodes must have a 'name' attribute",
    );
    assert.equal(
      err(
        knet +
          'nodelist {\nnode {\nring0_addr: 10.0.0.1\nnodeid: 1\n}\nnode {\nring0_addr: fd00::2\nnodeid: 2\n}\n}\n',
      ).message,
      'parse error in config: Nodes for link 0 have different IP families (compared fd00::2 with 10.0.0.1)',
    );
    const r = start(knet + 'nodelist {\nnode {\nring0_addr: 10.0.0.1\nnodeid: 1\n}\n}\n');
    assert.equal(r.totem.transport, 'knet');
    assert.equal(r.totem.netMtu, 65536);
    assert.equal(r.totem.ipVersion, 'ipv6-4');
  });

  test('crypto key length (knet), with a key reader', () => {
    const text = 'totem {\nversion: 2\ncrypto_cipher: aes128\ncrypto_hash: sha1\n}\n' + nodes(1);
    assert.equal(
      err(text, { readKeyFile: () => Buffer.alloc(100) }).message,
      'Could only read 800 bits of minimum 1024 bits from /etc/corosync/authkey.',
    );
    const missing = Object.assign(new Error('x'), { code: 'ENOENT' });
    assert.equal(
      err(text, {
        readKeyFile: () => {
          throw missing;
        },
      }).message,
      'Could not open /etc/corosync/authkey: No such file or directory',
    );
    const r = start(text, { readKeyFile: () => Buffer.alloc(5000, 1) });
    assert.equal(r.totem.privateKey?.length, 4096);
    assert.equal(err(text.replace('}\n', 'key: short\n}\n'), {}).message, 'key is too short');
  });
});

describe('nodeids', () => {
  test('udpu generates nodeids from ring0_addr and writes them back', () => {
    const r = start(UDPU() + nodes(2, { nodeid: false }));
    assert.equal(val(r, 'nodelist.node.0.nodeid'), 167772161);
    assert.equal(val(r, 'nodelist.node.1.nodeid'), 167772162);
    assert.equal(r.totem.nodeId, 167772161);
  });

  test('clear_node_high_bit clears bit 31', () => {
    const r = start(UDPU('clear_node_high_bit: yes\n') + nodes(1, { nodeid: false, base: '200.0.0.' }), {
      localAddresses: ['200.0.0.1'],
    });
    assert.equal(val(r, 'nodelist.node.0.nodeid'), (0xc8000001 & 0x7fffffff) >>> 0);
  });

  test('IPv6 needs an explicit nodeid', () => {
    assert.equal(
      err(UDPU() + 'nodelist {\nnode {\nring0_addr: ::1\n}\n}\n').message,
      'An IPV6 network requires that a node ID be specified',
    );
    assert.equal(
      err(
        UDPU() +
          'nodelist {\nnode {\nring0_addr: 10.0.0.1\nnodeid: 1\n}\nnode {\nring0_addr: fd00::5\n}\n}\n',
      ).message,
      "An IPV6 network requires that a node ID be specified for address 'fd00::5'.",
    );
  });

  test('duplicate nodeids (explicit and generated)', () => {
    assert.equal(
      err(
        UDPU() +
          'nodelist {\nnode {\nring0_addr: 10.0.0.1\nnodeid: 7\n}\nnode {\nring0_addr: 10.0.0.2\nnodeid: 7\n}\n}\n',
      ).message,
      'Nodeid 7 appears twice in corosync.conf',
    );
    assert.equal(
      err(
        UDPU() +
          'nodelist {\nnode {\nring0_addr: 10.0.0.1\n}\nnode {\nring0_addr: 10.0.0.2\nnodeid: 167772161\n}\n}\n',
      ).message,
      'Nodeid 167772161 appears twice in corosync.conf',
    );
  });

  test('quirk: the duplicate scan misses node 10 vs nodes 2..9 (string order)', () => {
    let text = 'nodelist {\n';
    for (let i = 0; i <= 10; i++)
      text += `node {\nring0_addr: 10.0.0.${i + 1}\nnodeid: ${i === 10 ? 3 : i + 1}\n}\n`;
    text += '}\n';
    // node 10 has nodeid 3 like node 2; corosync does not notice.
    assert.equal(start(UDPU() + text).totem.token, 3000 + 9 * 650);
  });
});

describe('local node selection', () => {
  const three =
    UDPU() +
    'nodelist {\nnode {\nring0_addr: 10.0.0.1\nname: a.example.com\nnodeid: 1\n}\nnode {\nring0_addr: 10.0.0.2\nname: b\nnodeid: 2\n}\nnode {\nring0_addr: 10.0.0.3\nname: c\nnodeid: 3\n}\n}\n';
  const pos = (env: Partial<StartupEnv>): unknown => val(start(three, env), 'nodelist.local_node_pos');

  test('exact hostname, hostname minus domains, short names, addresses', () => {
    assert.equal(pos({ hostname: 'b', localAddresses: [] }), 1);
    assert.equal(pos({ hostname: 'c.lab.example', localAddresses: [] }), 2);
    assert.equal(pos({ hostname: 'a.other', localAddresses: [] }), 0);
    assert.equal(pos({ hostname: 'zzz', localAddresses: ['127.0.0.1', '10.0.0.3'] }), 2);
    assert.equal(
      pos({
        hostname: 'zzz',
        localAddresses: ['10.0.0.9'],
        reverse: (a) => (a === '10.0.0.9' ? 'b.dom' : undefined),
      }),
      1,
    );
    assert.equal(
      pos({
        hostname: 'zzz',
        localAddresses: ['192.168.1.1'],
        resolve: (n) => (n === 'c' ? ['192.168.1.1'] : []),
      }),
      2,
    );
  });

  test('explicit override by nodeid or position', () => {
    assert.equal(pos({ hostname: 'b', localNodeIdOverride: 3 }), 2);
    assert.equal(pos({ hostname: 'b', localNodePosOverride: 0 }), 0);
    assert.equal(start(three, { localNodeIdOverride: 3 }).totem.nodeId, 3);
  });

  test('bindnetaddr is written from the local node; interface bindnetaddr + nodelist warns', () => {
    const r = start(three, { hostname: 'c' });
    assert.equal(val(r, 'totem.interface.0.bindnetaddr'), '10.0.0.3');
    const w = start(UDPU('interface {\nbindnetaddr: 10.0.0.0\n}\n') + nodes(2), { hostname: 'x' });
    assert.equal(val(w, 'totem.interface.0.bindnetaddr'), '10.0.0.1');
    assert.deepEqual(w.warnings, [
      'interface section bindnetaddr is used together with nodelist. Nodelist one is going to be used.',
      'Please migrate config file to nodelist.',
    ]);
  });

  test('totem.nodeid is ignored with a warning', () => {
    assert.ok(
      start(UDPU('nodeid: 5\n') + nodes(1)).warnings[0]?.startsWith('nodeid in totem section is deprecated'),
    );
  });
});

describe('udp multicast', () => {
  test('address from cluster_name: 239.192.(id>>8).(id%255), ff15::id for IPv6, +link', () => {
    assert.equal(clusterMcastAddr('mcast-demo', 0, 4), '239.192.161.47');
    assert.equal(clusterMcastAddr('mcast-demo', 1, 4), '239.192.161.48');
    assert.equal(clusterMcastAddr('mcast-demo', 0, 6), 'ff15::a18d');
    assert.equal(clusterMcastAddr('abc', 0, 4), '239.192.2.173');
    // High-bit bytes count as negative (signed char).
    assert.equal(clusterMcastAddr(Buffer.from([0xff]), 0, 4), '239.192.255.0');
  });

  test('udp writes back mcastaddr and mcastport; broadcast uses 255.255.255.255', () => {
    const r = start('totem {\nversion: 2\ntransport: udp\ncluster_name: mcast-demo\n}\n' + nodes(2));
    assert.equal(val(r, 'totem.interface.0.mcastaddr'), '239.192.161.47');
    assert.equal(val(r, 'totem.interface.0.mcastport'), 5405);
    assert.equal(r.map.get('totem.interface.0.mcastport')?.type, 4);
    const b = start(
      'totem {\nversion: 2\ntransport: udp\ncluster_name: x\ninterface {\nbroadcast: yes\n}\n}\n' + nodes(1),
    );
    assert.equal(val(b, 'totem.interface.0.mcastaddr'), '255.255.255.255');
    assert.equal(
      err('totem {\nversion: 2\ntransport: udp\n}\n' + nodes(1)).message,
      'parse error in config: No multicast address specified for interface 0',
    );
    assert.equal(
      err(
        'totem {\nversion: 2\ntransport: udp\ncluster_name: x\ninterface {\nmcastaddr: 10.1.1.1\n}\n}\n' +
          nodes(1),
      ).message,
      'parse error in config: mcastaddr is not a correct multicast address for interface 0',
    );
  });
});

describe('logging and system checks', () => {
  const withLogging = (body: string): string => `${UDPU()}${nodes(1)}logging {\n${body}\n}\n`;
  test('invalid logging values: "parse error in config: <reason>." with exit status 7', () => {
    const cases: [string, string][] = [
      ['fileline: yes', 'unknown value for fileline'],
      ['function_name: 1', 'unknown value for function_name'],
      ['timestamp: yes', 'unknown value for timestamp'],
      ['blackbox: yes', 'unknown value for blackbox'],
      ['to_stderr: maybe', 'unknown value for to_stderr'],
      ['to_syslog: 1', 'unknown value for to_syslog'],
      ['to_logfile: 1', 'unknown value for to_logfile'],
      ['syslog_facility: local8', 'unknown syslog facility specified'],
      ['syslog_level: loud', 'unknown syslog level specified'],
      ['syslog_priority: loud', 'unknown syslog priority specified'],
      ['logfile_priority: loud', 'unknown logfile priority specified'],
      ['debug: yes', 'unknown value for debug'],
      ['logger_subsys {\nsubsys: QUORUM\ndebug: yes\n}', 'unknown value for debug'],
    ];
    for (const [body, reason] of cases) {
      const e = err(withLogging(body));
      assert.equal(e.message, `parse error in config: ${reason}.`, body);
      assert.equal(e.exitCode, 7);
    }
  });

  test('valid logging values, priorities are case-insensitive, deprecated keys warn', () => {
    const r = start(
      withLogging('timestamp: hires\nsyslog_priority: ERROR\nto_file: yes\nsyslog_level: info'),
    );
    assert.equal(r.logging.timestamp, 'hires');
    assert.equal(r.logging.main.syslogPriority, 3);
    // Quirk: at top level an absent to_logfile resets the output that to_file enabled.
    assert.equal(r.logging.main.toLogfile, false);
    assert.equal(r.warnings.length, 2);
  });

  test('system.priority is checked at startup, not with -t', () => {
    const text = `${UDPU()}${nodes(1)}system {\npriority: high\n}\n`;
    assert.equal(err(text).message, 'Priority value high is invalid');
    assert.equal(start(text, { testOnly: true }).totem.transport, 'udpu');
    assert.ok(start(`${UDPU()}${nodes(1)}system {\npriority: -10\n}\n`));
  });
});
