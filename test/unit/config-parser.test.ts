import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { CmapValueType, decodeValue } from '../../src/cmap/types.js';
import { parseConfigText, readConfigFile } from '../../src/config/load.js';
import { ConfigError, userDbFromText, type UserDb } from '../../src/config/parser.js';
import type { ConfigMap } from '../../src/config/values.js';

const db: UserDb = userDbFromText(
  'root:x:0:0:root:/root:/bin/bash\nhacluster:x:189:189::/home:/sbin/nologin\n',
  'root:x:0:\nhaclient:x:189:\n',
);

function parse(text: string | Buffer): ConfigMap {
  return parseConfigText(text, 'test.conf', { userDb: db });
}

/** Key → [type, value] for readable assertions. */
function view(map: ConfigMap): Record<string, [number, unknown]> {
  const out: Record<string, [number, unknown]> = {};
  for (const [k, v] of map) out[k] = [v.type, decodeValue(v.type, v.bytes).value];
  return out;
}

const S = CmapValueType.STRING;
const U8 = CmapValueType.UINT8;
const U16 = CmapValueType.UINT16;
const U32 = CmapValueType.UINT32;
const I32 = CmapValueType.INT32;
const U64 = CmapValueType.UINT64;

function parseErr(text: string | Buffer): ConfigError {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    return err;
  }
  assert.fail('expected a parse error');
}

describe('grammar', () => {
  test('comments, blanks, CRLF, trailing spaces, # inside values, quotes kept', () => {
    const m = view(
      parse(
        '# top\n\n   # indented comment\r\nsection {\r\n  a_key:  va # not a comment  \t\r\n  q: "x"\n  empty:\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'section.a_key': [S, 'va # not a comment'],
      'section.empty': [S, ''],
      'section.q': [S, '"x"'],
    });
  });

  test('section name forms: "name {", "name{", "name: {"', () => {
    const m = view(parse('abc{\nk1: 1\n}\ndef: {\nk2: 2\n}\nghi   {\nk3: 3\n}\n'));
    assert.deepEqual(Object.keys(m), ['abc.k1', 'def.k2', 'ghi.k3']);
  });

  test('first colon splits; IPv6 values keep their colons; internal spaces kept', () => {
    const m = view(parse('thing {\n  addr: fe80::1:2\n  text: a  b\tc\n}\n'));
    assert.deepEqual(m['thing.addr'], [S, 'fe80::1:2']);
    assert.deepEqual(m['thing.text'], [S, 'a  b\tc']);
  });

  test('key with a space is rejected by icmap', () => {
    const e = parseErr('thing {\n  spaced key: x\n}\n');
    assert.equal(
      e.message,
      'parser error: test.conf:2: Can\'t store key "thing.spaced key" into icmap, returned error is CS_ERR_NAME_TOO_LONG',
    );
    assert.equal(e.file, 'test.conf');
    assert.equal(e.line, 2);
  });

  test('repeated sections merge and a repeated key overwrites', () => {
    const m = view(parse('abc {\nx: 1\ny: 2\n}\nabc {\nx: 3\n}\n'));
    assert.deepEqual(m, { 'abc.x': [S, '3'], 'abc.y': [S, '2'] });
  });

  test('top-level keys are stored; 1-2 character keys are rejected', () => {
    assert.deepEqual(view(parse('abc: v\n')), { abc: [S, 'v'] });
    assert.equal(
      parseErr('ab: v\n').message,
      'parser error: test.conf:1: Can\'t store key "ab" into icmap, returned error is CS_ERR_NAME_TOO_LONG',
    );
  });

  test('a line of 510 bytes is fine, 511 is too long (also as the last line without newline)', () => {
    const ok = `#${'x'.repeat(509)}\n`;
    assert.deepEqual(view(parse(ok)), {});
    assert.deepEqual(view(parse(`#${'x'.repeat(509)}`)), {});
    assert.equal(
      parseErr(`abc: 1\n#${'x'.repeat(510)}\n`).message,
      'parser error: test.conf:2: Line too long',
    );
    assert.equal(parseErr(`#${'x'.repeat(510)}`).message, 'parser error: test.conf:1: Line too long');
  });

  test('structural errors with line numbers', () => {
    const cases: [string, string][] = [
      ['abc {\nx: 1\n', 'parser error: test.conf:2: Missing closing brace'],
      ['abc {\nx: 1\n\n# c\n', 'parser error: test.conf:4: Missing closing brace'],
      ['abc { x: 1\n}\n', "parser error: test.conf:1: Extra characters after opening bracket '{'"],
      ['  {\n}\n', "parser error: test.conf:1: Missing section name before opening bracket '{'"],
      ['abc {\n} }\n', "parser error: test.conf:2: Extra characters before or after closing bracket '}'"],
      ['abc {\n}\n}\n', 'parser error: test.conf:3: Unexpected closing brace'],
      [
        'abc {\nwords only\n}\n',
        'parser error: test.conf:2: Line is not opening or closing section or key value',
      ],
    ];
    for (const [text, msg] of cases) assert.equal(parseErr(text).message, msg, JSON.stringify(text));
  });

  test('cmap path length limits', () => {
    const longName = 'a'.repeat(250);
    assert.equal(
      parseErr(`abcd {\n${longName} {\n}\n}\n`).message,
      'parser error: test.conf:2: Start of section makes total cmap path too long',
    );
    assert.equal(
      parseErr(`abcd {\n${longName}: 1\n}\n`).message,
      'parser error: test.conf:2: New key makes total cmap path too long',
    );
  });

  test('a NUL byte ends the line for the parser (C string), which then reads as too long', () => {
    const buf = Buffer.from('abc {\nx: 1\u0000junk\n}\n', 'latin1');
    assert.equal(parseErr(buf).message, 'parser error: test.conf:2: Line too long');
  });

  test('values are stored byte for byte', () => {
    const m = parse(Buffer.from('abc {\nname: caf\u00e9\n}\n', 'utf8'));
    assert.deepEqual(
      m.get('abc.name')?.bytes,
      Buffer.concat([Buffer.from('café', 'utf8'), Buffer.from([0])]),
    );
  });
});

describe('typed keys and integer validation', () => {
  test('totem numeric keys, strings, u64 config_version, i32 compression level', () => {
    const m = view(
      parse(
        'totem {\nversion: 2\ntoken: +3000\nconfig_version: 18446744073709551615\nknet_compression_level: -5\ncluster_name: x y\nsecauth: on\nnetmtu: 1400\n}\n',
      ),
    );
    assert.deepEqual(m['totem.version'], [U32, 2]);
    assert.deepEqual(m['totem.token'], [U32, 3000]);
    assert.deepEqual(m['totem.config_version'], [U64, 18446744073709551615n]);
    assert.deepEqual(m['totem.knet_compression_level'], [I32, -5]);
    assert.deepEqual(m['totem.cluster_name'], [S, 'x y']);
    assert.deepEqual(m['totem.secauth'], [S, 'on']);
    assert.deepEqual(m['totem.netmtu'], [U32, 1400]);
  });

  test('config_version: a leading minus wraps like strtoull', () => {
    assert.deepEqual(view(parse('totem {\nconfig_version: -1\n}\n'))['totem.config_version'], [
      U64,
      2n ** 64n - 1n,
    ]);
  });

  test('range errors name the key, the type range and the value', () => {
    const cases: [string, string][] = [
      [
        'totem {\ntoken: -1\n}\n',
        'Value of key "totem.token" is expected to be integer in range (0..4294967295), but "-1" was given',
      ],
      [
        'totem {\ntoken: 4294967296\n}\n',
        'Value of key "totem.token" is expected to be integer in range (0..4294967295), but "4294967296" was given',
      ],
      [
        'totem {\ntoken: 1 2\n}\n',
        'Value of key "totem.token" is expected to be integer in range (0..4294967295), but "1 2" was given',
      ],
      [
        'totem {\ntoken:\n}\n',
        'Value of key "totem.token" is expected to be integer in range (0..4294967295), but "" was given',
      ],
      [
        'totem {\nknet_compression_level: 2147483648\n}\n',
        'Value of key "totem.knet_compression_level" is expected to be integer in range (-2147483648..2147483647), but "2147483648" was given',
      ],
      [
        'quorum {\ntwo_node: 256\n}\n',
        'Value of key "quorum.two_node" is expected to be integer in range (0..255), but "256" was given',
      ],
      [
        'totem {\ninterface {\nmcastport: 65536\n}\n}\n',
        'Value of key "totem.interface.mcastport" is expected to be integer in range (0..65535), but "65536" was given',
      ],
      [
        'nodelist {\nnode {\nnodeid: abc\n}\n}\n',
        'Value of key "nodelist.node.0.nodeid" is expected to be integer in range (0..4294967295), but "abc" was given',
      ],
      [
        'totem {\nconfig_version: 18446744073709551616\n}\n',
        'Value of key "totem.config_version" is expected to be integer in range (0..18446744073709551615), but "18446744073709551616" was given',
      ],
    ];
    for (const [text, msg] of cases) {
      const e = parseErr(text);
      // The offending line is the one holding the quoted value.
      const value = /but "(.*)" was given$/.exec(msg)?.[1] as string;
      const line =
        text.split('\n').findIndex((l) => l.includes(':') && l.split(':')[1]?.trim() === value) + 1;
      assert.equal(e.message, `parser error: test.conf:${line}: ${msg}`, text);
    }
  });

  test('enumerated totem values', () => {
    const cases: [string, string][] = [
      ['ip_version: ipv5', 'Invalid ip_version type'],
      ['crypto_cipher: des', 'Invalid cipher type. Should be none, aes256, aes192 or aes128'],
      ['crypto_hash: crc', 'Invalid hash type. Should be none, md5, sha1, sha256, sha384 or sha512'],
      ['crypto_model: gnutls', 'Invalid crypto model. Should be nss or openssl'],
      [
        'knet_compression_model: none',
        'Invalid compression model. Should be zlib, lz4, lz4hc, lzo2, lzma, bzip2 or zstd',
      ],
    ];
    for (const [line, msg] of cases) {
      assert.equal(parseErr(`totem {\n${line}\n}\n`).message, `parser error: test.conf:2: ${msg}`);
    }
    for (const ok of ['ip_version: ipv4-6', 'crypto_model: openssl', 'knet_compression_model: zstd']) {
      assert.ok(parse(`totem {\n${ok}\n}\n`).size === 1);
    }
  });

  test('quorum and qdevice types', () => {
    const m = view(
      parse(
        'quorum {\nprovider: corosync_votequorum\nexpected_votes: 3\nwait_for_all: 1\nauto_tie_breaker_node: lowest\nleaving_timeout: 5\ndevice {\nvotes: 1\nmaster_wins: 1\nmodel: net\nnet {\nhost: h\ntimeout: 5\n}\n}\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'quorum.auto_tie_breaker_node': [S, 'lowest'],
      'quorum.device.master_wins': [U8, 1],
      'quorum.device.model': [S, 'net'],
      'quorum.device.net.host': [S, 'h'],
      'quorum.device.net.timeout': [S, '5'],
      'quorum.device.votes': [U32, 1],
      'quorum.expected_votes': [U32, 3],
      'quorum.leaving_timeout': [U32, 5],
      'quorum.provider': [S, 'corosync_votequorum'],
      'quorum.wait_for_all': [U8, 1],
    });
  });

  test('system values are validated', () => {
    const cases: [string, string][] = [
      ['qb_ipc_type: pipe', 'Invalid system.qb_ipc_type'],
      ['sched_rr: maybe', 'Invalid system.sched_rr value'],
      ['move_to_root_cgroup: 1', 'Invalid system.move_to_root_cgroup'],
      ['allow_knet_handle_fallback: on', 'Invalid system.allow_knet_handle_fallback'],
    ];
    for (const [line, msg] of cases) {
      assert.equal(parseErr(`system {\n${line}\n}\n`).message, `parser error: test.conf:2: ${msg}`);
    }
    assert.deepEqual(view(parse('system {\npriority: bogus\nstate_dir: /x\n}\n')), {
      'system.priority': [S, 'bogus'],
      'system.state_dir': [S, '/x'],
    });
  });

  test('resources types; pload stays strings', () => {
    const m = view(
      parse(
        'resources {\nwatchdog_timeout: 9\nsystem {\nmemory_used {\npoll_period: 1000\nmax: 80\n}\n}\nprocess {\npoll_period: 7\n}\n}\npload {\ncount: 5\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'pload.count': [S, '5'],
      'resources.process.poll_period': [U64, 7n],
      'resources.system.memory_used.max': [S, '80'],
      'resources.system.memory_used.poll_period': [U64, 1000n],
      'resources.watchdog_timeout': [U32, 9],
    });
  });
});

describe('totem.interface buffering and members', () => {
  test('keys go to the block linknumber, wherever linknumber appears; unknown keys are per-section', () => {
    const m = view(
      parse(
        'totem {\ninterface {\nmcastport: 6000\nttl: 3\nringnumber: 1\nknet_transport: sctp\nlinknumber: 2\n}\ninterface {\nbindnetaddr: 10.0.0.0\nknet_link_priority: 4\nknet_ping_interval: 100\nknet_ping_timeout: 200\nknet_ping_precision: 300\nknet_pong_count: 5\nbroadcast: yes\nmcastaddr: 239.1.1.1\n}\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'totem.interface.0.bindnetaddr': [S, '10.0.0.0'],
      'totem.interface.0.broadcast': [S, 'yes'],
      'totem.interface.0.knet_link_priority': [U8, 4],
      'totem.interface.0.knet_ping_interval': [U32, 100],
      'totem.interface.0.knet_ping_precision': [U32, 300],
      'totem.interface.0.knet_ping_timeout': [U32, 200],
      'totem.interface.0.knet_pong_count': [U32, 5],
      'totem.interface.0.mcastaddr': [S, '239.1.1.1'],
      'totem.interface.2.knet_transport': [S, 'sctp'],
      'totem.interface.2.mcastport': [U16, 6000],
      'totem.interface.2.ttl': [U8, 3],
      'totem.interface.ringnumber': [S, '1'],
    });
  });

  test('linknumber range is u8', () => {
    assert.equal(
      parseErr('totem {\ninterface {\nlinknumber: 300\n}\n}\n').message,
      'parser error: test.conf:3: Value of key "totem.interface.linknumber" is expected to be integer in range (0..255), but "300" was given',
    );
  });

  test('member addresses are numbered in reverse order of appearance', () => {
    const m = view(
      parse(
        'totem {\ninterface {\nmember {\nmemberaddr: 10.0.0.1\n}\nmember {\nmemberaddr: 10.0.0.2\n}\nmember {\nmemberaddr: 10.0.0.3\n}\n}\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'totem.interface.0.member.0': [S, '10.0.0.3'],
      'totem.interface.0.member.1': [S, '10.0.0.2'],
      'totem.interface.0.member.2': [S, '10.0.0.1'],
    });
    assert.equal(
      parseErr('totem {\ninterface {\nmember {\naddr: 1\n}\n}\n}\n').message,
      'parser error: test.conf:4: Only memberaddr is allowed in member section',
    );
  });
});

describe('logging sections', () => {
  test('logger_subsys: keys under the subsystem; the first of a repeated key wins', () => {
    const m = view(
      parse('logging {\nto_syslog: no\nlogger_subsys {\ndebug: on\nsubsys: QUORUM\ndebug: off\n}\n}\n'),
    );
    assert.deepEqual(m, {
      'logging.logger_subsys.QUORUM.debug': [S, 'on'],
      'logging.logger_subsys.QUORUM.subsys': [S, 'QUORUM'],
      'logging.to_syslog': [S, 'no'],
    });
    assert.equal(
      parseErr('logging {\nlogger_subsys {\ndebug: on\n}\n}\n').message,
      'parser error: test.conf:4: No subsys key in logger_subsys directive',
    );
  });

  test('logging_daemon: the four name/subsys combinations', () => {
    const m = view(
      parse(
        'logging {\nlogging_daemon {\nname: corosync\ndebug: on\n}\nlogging_daemon {\nname: corosync\nsubsys: CPG\ndebug: trace\n}\nlogging_daemon {\nname: other\nto_syslog: no\n}\nlogging_daemon {\nname: other\nsubsys: S1\nto_stderr: yes\n}\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'logging.debug': [S, 'on'],
      'logging.logger_subsys.CPG.debug': [S, 'trace'],
      'logging.logger_subsys.CPG.subsys': [S, 'CPG'],
      'logging.logging_daemon.other.S1.name': [S, 'other'],
      'logging.logging_daemon.other.S1.subsys': [S, 'S1'],
      'logging.logging_daemon.other.S1.to_stderr': [S, 'yes'],
      'logging.logging_daemon.other.name': [S, 'other'],
      'logging.logging_daemon.other.to_syslog': [S, 'no'],
    });
    assert.equal(
      parseErr('logging {\nlogging_daemon {\nsubsys: X\n}\n}\n').message,
      'parser error: test.conf:4: No name key in logging_daemon directive',
    );
  });
});

describe('nodelist', () => {
  test('positions in file order; nodeid and quorum_votes are u32; nodelist-level keys are strings', () => {
    const m = view(
      parse(
        'nodelist {\nlabel: x\nnode {\nring0_addr: 10.0.0.1\nnodeid: 1\nquorum_votes: 2\n}\nnode {\nname: b\n}\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'nodelist.label': [S, 'x'],
      'nodelist.node.0.nodeid': [U32, 1],
      'nodelist.node.0.quorum_votes': [U32, 2],
      'nodelist.node.0.ring0_addr': [S, '10.0.0.1'],
      'nodelist.node.1.name': [S, 'b'],
    });
  });

  test('quirk: a sub-section inside a node bumps the counter; a new nodelist section restarts at 0', () => {
    const m = view(
      parse(
        'nodelist {\nnode {\nname: a\nextra {\nx: 1\n}\ny: 2\n}\nnode {\nname: b\n}\n}\nnodelist {\nnode {\nname: c\n}\n}\n',
      ),
    );
    assert.deepEqual(m, {
      'nodelist.node.0.name': [S, 'c'],
      'nodelist.node.0.x': [S, '1'],
      'nodelist.node.1.y': [S, '2'],
      'nodelist.node.2.name': [S, 'b'],
    });
  });
});

describe('uidgid', () => {
  test('numeric ids and names resolve to uidgid.config.{uid,gid}.<id> = u8 1', () => {
    const m = view(parse('uidgid {\nuid: hacluster\ngid: haclient\nuid: 0\ngid: 4294967294\n}\n'));
    assert.deepEqual(m, {
      'uidgid.config.gid.189': [U8, 1],
      'uidgid.config.gid.4294967294': [U8, 1],
      'uidgid.config.uid.0': [U8, 1],
      'uidgid.config.uid.189': [U8, 1],
    });
  });

  test('errors', () => {
    assert.equal(
      parseErr('uidgid {\nuid: nobody-here\n}\n').message,
      "parser error: test.conf:2: The 'nobody-here' user is not found in /etc/passwd, please read the documentation.",
    );
    assert.equal(
      parseErr('uidgid {\ngid: -1\n}\n').message,
      "parser error: test.conf:2: The '-1' group is not found in /etc/group, please read the documentation.",
    );
    assert.equal(
      parseErr('uidgid {\nuser: x\n}\n').message,
      'parser error: test.conf:2: uidgid: Only uid and gid are allowed items',
    );
  });

  test('uidgid.d files: only a uidgid section with uid/gid', () => {
    const ok = parseConfigText('abc: 1\n', 'main.conf', {
      userDb: db,
      uidgidFiles: [{ fileName: '/d/uidgid.d/a', text: 'uidgid {\nuid: root\n}\n' }],
    });
    assert.deepEqual(view(ok)['uidgid.config.uid.0'], [U8, 1]);
    const bad = (text: string): string => {
      try {
        parseConfigText('abc: 1\n', 'main.conf', {
          userDb: db,
          uidgidFiles: [{ fileName: '/d/uidgid.d/x', text }],
        });
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    };
    assert.equal(
      bad('totem {\n}\n'),
      "parser error: /d/uidgid.d/x:1: uidgid: Can't add subsection different than uidgid",
    );
    assert.equal(
      bad('uid: 5\n'),
      'parser error: /d/uidgid.d/x:1: uidgid: Only uid and gid are allowed items',
    );
  });

  test('readConfigFile reads <dir>/uidgid.d regular files and reports missing files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-cfg-'));
    try {
      const conf = path.join(dir, 'corosync.conf');
      fs.writeFileSync(conf, 'uidgid {\ngid: 7\n}\n');
      fs.mkdirSync(path.join(dir, 'uidgid.d'));
      fs.mkdirSync(path.join(dir, 'uidgid.d', 'subdir'));
      fs.writeFileSync(path.join(dir, 'uidgid.d', '.hidden'), 'uidgid {\nuid: 8\n}\n');
      fs.writeFileSync(path.join(dir, 'uidgid.d', 'b'), 'uidgid {\ngid: 9\n}\n');
      const m = view(readConfigFile(conf, { userDb: db }));
      assert.deepEqual(Object.keys(m), ['uidgid.config.gid.7', 'uidgid.config.gid.9', 'uidgid.config.uid.8']);
      assert.throws(
        () => readConfigFile(path.join(dir, 'nope.conf')),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message === `Can't read file ${path.join(dir, 'nope.conf')}: No such file or directory`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
