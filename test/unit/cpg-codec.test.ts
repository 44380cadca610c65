// CPG codecs: every exec message and IPC struct against expected bytes written by hand from
// the byte tables of spec/cpg.md §1, §2, §7 (little-endian, pads zero), then malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CsError, CsErrorCode } from '../../src/common/errors.js';
import type { CodecResult } from '../../src/exec/codec.js';
import {
  CPG_MAX_NAME_LENGTH,
  CpgIterationType,
  CpgPartialType,
  CpgReason,
  CpgReqId,
  CpgResId,
  CpgSize,
  type CpgExecMessage,
  type CpgRequest,
  type CpgResponse,
  cpgName,
  cpgNameEquals,
  cpgNameToString,
  decodeCpgExec,
  decodeCpgRequest,
  decodeCpgResponse,
  decodeCpgZcHeader,
  encodeCpgBareResponse,
  encodeCpgDeliverCallback,
  encodeCpgDeliverCallbackHeader,
  encodeCpgDownlist,
  encodeCpgDownlistOld,
  encodeCpgExec,
  encodeCpgJoinList,
  encodeCpgMcast,
  encodeCpgMcastHeader,
  encodeCpgPartialMcast,
  encodeCpgProcJoin,
  encodeCpgProcLeave,
  encodeCpgRequest,
  encodeCpgResponse,
  encodeCpgZcHeader,
  readCpgName,
} from '../../src/services/cpg/codec.js';
import { Prng } from '../helpers/prng.js';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
}
function z(n: number): string {
  return '00'.repeat(n);
}
/** mar_cpg_name_t per spec cpg.md §1.1: u32 length, 4 pad, 128 value bytes (zero after the name). */
function nameHex(lengthLE: string, ascii: string): string {
  return `${lengthLE} 00000000 ${Buffer.from(ascii, 'latin1').toString('hex')} ${z(128 - ascii.length)}`;
}
const VECTORS = nameHex('07000000', 'vectors');

function ok<T>(r: CodecResult<T>): T {
  if (!r.ok) assert.fail(`decode failed: ${r.code}: ${r.error}`);
  return r.value;
}
function errCode<T>(r: CodecResult<T>): string {
  return r.ok ? 'ok' : r.code;
}

// ---------------------------------------------------------------------------------------
// Group names

test('cpg name helpers', () => {
  const n = cpgName('vectors');
  assert.equal(n.length, 7);
  assert.equal(n.value.length, 128);
  assert.equal(cpgNameToString(n), 'vectors');
  // equality ignores the bytes after `length`
  const garbage = { length: 7, value: Buffer.from(n.value) };
  garbage.value[100] = 0x41;
  assert.ok(cpgNameEquals(n, garbage));
  assert.ok(!cpgNameEquals(n, cpgName('vectorz')));
  assert.ok(!cpgNameEquals(n, cpgName('vectors\0')));
  assert.equal(cpgName('x'.repeat(128)).length, 128);
  assert.throws(
    () => cpgName('x'.repeat(129)),
    (e: unknown) => CsError.is(e, CsErrorCode.CS_ERR_NAME_TOO_LONG),
  );
  // reading keeps all 128 value bytes (garbage after the name is forwarded unchanged)
  const raw = hex(nameHex('03000000', 'abcdefgh'));
  const r = readCpgName(raw, 0, 't');
  assert.ok(!('ok' in r));
  assert.equal(cpgNameToString(r), 'abc');
  assert.equal(r.value.toString('latin1', 0, 8), 'abcdefgh');
});

// ---------------------------------------------------------------------------------------
// Exec messages (spec cpg.md §2)

interface ExecCase {
  name: string;
  expected: Buffer;
  encoded: Buffer;
  decoded: CpgExecMessage;
}

const execCases: ExecCase[] = [
  {
    // the procjoin of capture b-cpg-messages #16
    name: 'PROCJOIN',
    expected: hex(`00000200 00000000 a8000000 00000000 ${VECTORS} a5680000 00000000 01000000 00000000`),
    encoded: encodeCpgProcJoin(cpgName('vectors'), 26789),
    decoded: { kind: 'procjoin', group: cpgName('vectors'), pid: 26789, reason: CpgReason.JOIN },
  },
  {
    name: 'PROCLEAVE (procdown)',
    expected: hex(`01000200 00000000 a8000000 00000000 ${VECTORS} c6680000 00000000 05000000 00000000`),
    encoded: encodeCpgProcLeave(cpgName('vectors'), 26822, CpgReason.PROCDOWN),
    decoded: { kind: 'procleave', group: cpgName('vectors'), pid: 26822, reason: CpgReason.PROCDOWN },
  },
  {
    // response-style header (error 0) then two 144-byte entries {pid, pad, name}
    name: 'JOINLIST',
    expected: hex(`02000200 00000000 38010000 00000000 00000000 00000000
      dd690000 00000000 ${nameHex('09000000', 'vectors-c')}
      cc6b0000 00000000 ${nameHex('0c000000', 'vectors-wait')}`),
    encoded: encodeCpgJoinList([
      { pid: 27101, group: cpgName('vectors-c') },
      { pid: 27596, group: cpgName('vectors-wait') },
    ]),
    decoded: {
      kind: 'joinlist',
      entries: [
        { pid: 27101, group: cpgName('vectors-c') },
        { pid: 27596, group: cpgName('vectors-wait') },
      ],
    },
  },
  {
    name: 'JOINLIST (empty)',
    expected: hex('02000200 00000000 18000000 00000000 00000000 00000000'),
    encoded: encodeCpgJoinList([]),
    decoded: { kind: 'joinlist', entries: [] },
  },
  {
    name: 'MCAST',
    expected: hex(`03000200 00000000 cb000000 00000000 ${VECTORS}
      13000000 00000000 c6680000 00000000 01000000 00000000 10a4928661550000
      ${Buffer.from('hello from node1 #1').toString('hex')}`),
    encoded: encodeCpgMcast({
      group: cpgName('vectors'),
      pid: 26822,
      source: { nodeid: 1, conn: 0x55618692a410n },
      message: Buffer.from('hello from node1 #1'),
    }),
    decoded: {
      kind: 'mcast',
      group: cpgName('vectors'),
      pid: 26822,
      source: { nodeid: 1, conn: 0x55618692a410n },
      message: Buffer.from('hello from node1 #1'),
    },
  },
  {
    name: 'DOWNLIST_OLD',
    expected: hex(`04000200 00000000 18060000 00000000 02000000 00000000 02000000 03000000 ${z(1528)}`),
    encoded: encodeCpgDownlistOld([2, 3]),
    decoded: { kind: 'downlist_old', leftNodes: [2, 3] },
  },
  {
    name: 'DOWNLIST',
    expected: hex(`05000200 00000000 20060000 00000000 03000000 00000000 01000000 00000000
      03000000 ${z(1532)}`),
    encoded: encodeCpgDownlist(3, [3]),
    decoded: { kind: 'downlist', oldMembers: 3, leftNodes: [3] },
  },
  {
    name: 'PARTIAL_MCAST',
    expected: hex(`06000200 00000000 cc000000 00000000 ${nameHex('01000000', 'g')}
      0a000000 00000000 04000000 00000000 34120000 00000000 01000000 00000000
      02000000 00000000 8877665544332211 61626364`),
    encoded: encodeCpgPartialMcast({
      group: cpgName('g'),
      msglen: 10,
      pid: 0x1234,
      type: CpgPartialType.FIRST,
      source: { nodeid: 2, conn: 0x1122334455667788n },
      fragment: Buffer.from('abcd'),
    }),
    decoded: {
      kind: 'partial_mcast',
      group: cpgName('g'),
      msglen: 10,
      pid: 0x1234,
      type: CpgPartialType.FIRST,
      source: { nodeid: 2, conn: 0x1122334455667788n },
      fragment: Buffer.from('abcd'),
    },
  },
];

for (const c of execCases) {
  test(`exec ${c.name}: golden bytes, decode, re-encode`, () => {
    assert.deepEqual(c.encoded, c.expected);
    const d = ok(decodeCpgExec(c.expected));
    assert.deepEqual(d, c.decoded);
    assert.deepEqual(encodeCpgExec(d), c.expected);
  });
}

test('exec sizes match spec cpg.md §2', () => {
  assert.equal(execCases[0]!.expected.length, 168);
  assert.equal(execCases[2]!.expected.length, 24 + 2 * 144);
  assert.equal(execCases[4]!.expected.length, 184 + 19);
  assert.equal(execCases[5]!.expected.length, 1560);
  assert.equal(execCases[6]!.expected.length, 1568);
  assert.equal(execCases[7]!.expected.length, 200 + 4);
  // header + payload as separate pieces gives the same bytes
  const head = encodeCpgMcastHeader(
    { group: cpgName('vectors'), pid: 26822, source: { nodeid: 1, conn: 0x55618692a410n } },
    19,
  );
  assert.deepEqual(Buffer.concat([head, Buffer.from('hello from node1 #1')]), execCases[4]!.expected);
});

test('exec decode: garbage after the name and in DOWNLIST tail', () => {
  // group value bytes after `length` are carried through unchanged
  const join = Buffer.from(execCases[0]!.expected);
  join[16 + 8 + 20] = 0x7a;
  const d = ok(decodeCpgExec(join));
  assert.ok(d.kind === 'procjoin' && cpgNameEquals(d.group, cpgName('vectors')));
  assert.deepEqual(encodeCpgExec(d), join);
  // stale nodeids after left_nodes are not part of the message
  const down = Buffer.from(execCases[6]!.expected);
  down.writeUInt32LE(2, 32 + 4);
  assert.deepEqual(ok(decodeCpgExec(down)), { kind: 'downlist', oldMembers: 3, leftNodes: [3] });
});

test('exec decode: truncations at every length fail', () => {
  for (const c of execCases) {
    const fixed =
      c.decoded.kind === 'joinlist'
        ? 24
        : c.decoded.kind === 'mcast'
          ? 184
          : c.decoded.kind === 'partial_mcast'
            ? 200
            : c.expected.length;
    for (let cut = 0; cut < c.expected.length; cut++) {
      // a plain cut: the header's size no longer matches
      assert.notEqual(errCode(decodeCpgExec(c.expected.subarray(0, cut))), 'ok', `${c.name} cut ${cut}`);
      // a cut whose header.size was fixed up to match: still malformed below the fixed part
      if (cut >= 16 && cut < fixed) {
        const b = Buffer.from(c.expected.subarray(0, cut));
        b.writeInt32LE(cut, 8);
        assert.equal(errCode(decodeCpgExec(b)), 'truncated', `${c.name} fixed-up cut ${cut}`);
      }
    }
  }
});

test('exec decode: counts and lengths that disagree with the message', () => {
  const [join, , joinlist, , mcast, downOld, down, partial] = execCases.map((c) => c.expected) as [
    Buffer,
    Buffer,
    Buffer,
    Buffer,
    Buffer,
    Buffer,
    Buffer,
    Buffer,
  ];
  const patched = (b: Buffer, f: (x: Buffer) => void): Buffer => {
    const x = Buffer.from(b);
    f(x);
    return x;
  };
  // names longer than 128
  assert.equal(errCode(decodeCpgExec(patched(join, (x) => x.writeUInt32LE(129, 16)))), 'name-too-long');
  assert.equal(
    errCode(decodeCpgExec(patched(join, (x) => x.writeUInt32LE(0xffffffff, 16)))),
    'name-too-long',
  );
  assert.equal(errCode(decodeCpgExec(patched(join, (x) => x.writeUInt32LE(128, 16)))), 'ok');
  assert.equal(errCode(decodeCpgExec(patched(mcast, (x) => x.writeUInt32LE(200, 16)))), 'name-too-long');
  assert.equal(errCode(decodeCpgExec(patched(partial, (x) => x.writeUInt32LE(129, 16)))), 'name-too-long');
  assert.equal(
    errCode(decodeCpgExec(patched(joinlist, (x) => x.writeUInt32LE(129, 24 + 144 + 8)))),
    'name-too-long',
  );
  // joinlist: a partial entry
  const jl = Buffer.concat([joinlist, Buffer.alloc(10)]);
  jl.writeInt32LE(jl.length, 8);
  assert.equal(errCode(decodeCpgExec(jl)), 'bad-count');
  // longer than a fixed struct
  const longJoin = Buffer.concat([join, Buffer.alloc(8)]);
  longJoin.writeInt32LE(176, 8);
  assert.equal(errCode(decodeCpgExec(longJoin)), 'size-mismatch');
  // mcast msglen beyond / short of the payload
  assert.equal(errCode(decodeCpgExec(patched(mcast, (x) => x.writeUInt32LE(20, 152)))), 'bad-count');
  assert.equal(errCode(decodeCpgExec(patched(mcast, (x) => x.writeUInt32LE(18, 152)))), 'bad-count');
  assert.equal(errCode(decodeCpgExec(patched(mcast, (x) => x.writeUInt32LE(0xffffffff, 152)))), 'bad-count');
  // downlist counts beyond the 384-entry array
  assert.equal(errCode(decodeCpgExec(patched(down, (x) => x.writeUInt32LE(385, 24)))), 'bad-count');
  assert.equal(errCode(decodeCpgExec(patched(down, (x) => x.writeUInt32LE(384, 24)))), 'ok');
  assert.equal(errCode(decodeCpgExec(patched(downOld, (x) => x.writeUInt32LE(385, 16)))), 'bad-count');
  // partial: fraglen vs bytes, fraglen > msglen, unknown type
  assert.equal(errCode(decodeCpgExec(patched(partial, (x) => x.writeUInt32LE(5, 160)))), 'bad-count');
  assert.equal(errCode(decodeCpgExec(patched(partial, (x) => x.writeUInt32LE(3, 152)))), 'bad-count');
  assert.equal(errCode(decodeCpgExec(patched(partial, (x) => x.writeUInt32LE(4, 152)))), 'ok');
  for (const t of [0, 4, 0xffffffff]) {
    assert.equal(
      errCode(decodeCpgExec(patched(partial, (x) => x.writeUInt32LE(t, 176)))),
      'bad-value',
      `type ${t}`,
    );
  }
  // header size field disagreeing with the bytes
  assert.equal(errCode(decodeCpgExec(patched(join, (x) => x.writeInt32LE(167, 8)))), 'size-mismatch');
  // ids: unknown cpg fn, other service
  assert.equal(errCode(decodeCpgExec(patched(join, (x) => x.writeInt32LE(0x00020007, 0)))), 'bad-id');
  assert.equal(errCode(decodeCpgExec(patched(join, (x) => x.writeInt32LE(0x00050000, 0)))), 'bad-id');
  // byte-order policy
  assert.equal(errCode(decodeCpgExec(join, true)), 'endian-unsupported');
});

test('exec encoders refuse what cannot be represented', () => {
  assert.throws(() => encodeCpgDownlist(1, new Array<number>(385).fill(1)), RangeError);
  assert.throws(() => encodeCpgDownlistOld(new Array<number>(385).fill(1)), RangeError);
  assert.throws(() => encodeCpgProcJoin({ length: 129, value: Buffer.alloc(128) }, 1), RangeError);
});

// ---------------------------------------------------------------------------------------
// IPC requests (spec cpg.md §7)

interface ReqCase {
  name: string;
  expected: Buffer;
  req: CpgRequest;
}

const reqCases: ReqCase[] = [
  {
    name: 'JOIN',
    expected: hex(`00000000 00000000 a8000000 00000000 ${VECTORS} a5680000 00000000 01000000 00000000`),
    req: { kind: 'join', group: cpgName('vectors'), pid: 26789, flags: 1 },
  },
  {
    name: 'LEAVE',
    expected: hex(`01000000 00000000 a0000000 00000000 ${VECTORS} a5680000 00000000`),
    req: { kind: 'leave', group: cpgName('vectors'), pid: 26789 },
  },
  {
    // 24-byte response-style header, guarantee @24, msglen @32, message @40
    name: 'MCAST',
    expected: hex(`02000000 00000000 2d000000 00000000 00000000 00000000
      00000000 00000000 05000000 00000000 68656c6c6f`),
    req: { kind: 'mcast', guarantee: 0, message: Buffer.from('hello') },
  },
  {
    name: 'MEMBERSHIP',
    expected: hex(`03000000 00000000 98000000 00000000 ${VECTORS}`),
    req: { kind: 'membership_get', group: cpgName('vectors') },
  },
  {
    name: 'LOCAL_GET',
    expected: hex('04000000 00000000 10000000 00000000'),
    req: { kind: 'local_get' },
  },
  {
    name: 'ITERATIONINITIALIZE (one group)',
    expected: hex(`05000000 00000000 a0000000 00000000 ${VECTORS} 02000000 00000000`),
    req: {
      kind: 'iteration_initialize',
      iterationType: CpgIterationType.ONE_GROUP,
      group: cpgName('vectors'),
    },
  },
  {
    name: 'ITERATIONINITIALIZE (all)',
    expected: hex(`05000000 00000000 a0000000 00000000 ${z(136)} 03000000 00000000`),
    req: { kind: 'iteration_initialize', iterationType: CpgIterationType.ALL, group: undefined },
  },
  {
    name: 'ITERATIONNEXT',
    expected: hex('06000000 00000000 18000000 00000000 7856341205000000'),
    req: { kind: 'iteration_next', handle: 0x512345678n },
  },
  {
    name: 'ITERATIONFINALIZE',
    expected: hex('07000000 00000000 18000000 00000000 7856341205000000'),
    req: { kind: 'iteration_finalize', handle: 0x512345678n },
  },
  {
    name: 'FINALIZE',
    expected: hex('08000000 00000000 10000000 00000000'),
    req: { kind: 'finalize' },
  },
  {
    name: 'ZC_ALLOC',
    expected: hex(`09000000 00000000 98000000 00000000 0000100000000000
      ${Buffer.from('/dev/shm/cpg').toString('hex')} ${z(128 - 12)}`),
    req: { kind: 'zc_alloc', mapSize: 0x100000n, path: '/dev/shm/cpg' },
  },
  {
    name: 'ZC_FREE',
    expected: hex('0a000000 00000000 20000000 00000000 0000100000000000 f0debc9a78563412'),
    req: { kind: 'zc_free', mapSize: 0x100000n, serverAddress: 0x123456789abcdef0n },
  },
  {
    name: 'ZC_EXECUTE',
    expected: hex('0b000000 00000000 18000000 00000000 f0debc9a78563412'),
    req: { kind: 'zc_execute', serverAddress: 0x123456789abcdef0n },
  },
  {
    // response-style header, guarantee @24, msglen @32, fraglen @40, type @48, fragment @56
    name: 'PARTIAL_MCAST',
    expected: hex(`0c000000 00000000 3c000000 00000000 00000000 00000000
      00000000 00000000 0a000000 00000000 04000000 00000000 02000000 00000000 61626364`),
    req: {
      kind: 'partial_mcast',
      guarantee: 0,
      msglen: 10,
      type: CpgPartialType.CONTINUED,
      fragment: Buffer.from('abcd'),
    },
  },
];

for (const c of reqCases) {
  test(`request ${c.name}: golden bytes, decode, re-encode`, () => {
    assert.deepEqual(encodeCpgRequest(c.req), c.expected);
    assert.equal(c.expected.readInt32LE(8), c.expected.length);
    const d = ok(decodeCpgRequest(c.expected));
    assert.deepEqual(d, c.req);
  });
}

test('request sizes match the table of spec cpg.md §7', () => {
  const sizes = Object.fromEntries(reqCases.map((c) => [c.name, c.expected.length]));
  assert.equal(sizes['JOIN'], 168);
  assert.equal(sizes['LEAVE'], 160);
  assert.equal(sizes['MCAST'], 40 + 5);
  assert.equal(sizes['MEMBERSHIP'], 152);
  assert.equal(sizes['LOCAL_GET'], 16);
  assert.equal(sizes['ITERATIONINITIALIZE (all)'], 160);
  assert.equal(sizes['ITERATIONNEXT'], 24);
  assert.equal(sizes['FINALIZE'], 16);
  assert.equal(sizes['ZC_ALLOC'], 152);
  assert.equal(sizes['ZC_FREE'], 32);
  assert.equal(sizes['ZC_EXECUTE'], 24);
  assert.equal(sizes['PARTIAL_MCAST'], 56 + 4);
});

test('request decode: malformed input', () => {
  const byName = (n: string): Buffer => reqCases.find((c) => c.name === n)!.expected;
  const patched = (b: Buffer, f: (x: Buffer) => void): Buffer => {
    const x = Buffer.from(b);
    f(x);
    return x;
  };
  for (const c of reqCases) {
    for (let cut = 0; cut < c.expected.length; cut++) {
      assert.notEqual(errCode(decodeCpgRequest(c.expected.subarray(0, cut))), 'ok', `${c.name} cut ${cut}`);
      if (cut >= 16) {
        // header.size fixed up to match: every fixed-size request is now the wrong size
        const b = Buffer.from(c.expected.subarray(0, cut));
        b.writeInt32LE(cut, 8);
        assert.notEqual(errCode(decodeCpgRequest(b)), 'ok', `${c.name} fixed-up cut ${cut}`);
      }
    }
  }
  // a JOIN with a name longer than 128 → the server answers CS_ERR_NAME_TOO_LONG
  assert.equal(
    errCode(decodeCpgRequest(patched(byName('JOIN'), (x) => x.writeUInt32LE(129, 16)))),
    'name-too-long',
  );
  assert.equal(
    errCode(decodeCpgRequest(patched(byName('LEAVE'), (x) => x.writeUInt32LE(500, 16)))),
    'name-too-long',
  );
  assert.equal(
    errCode(decodeCpgRequest(patched(byName('MEMBERSHIP'), (x) => x.writeUInt32LE(129, 16)))),
    'name-too-long',
  );
  assert.equal(
    errCode(
      decodeCpgRequest(patched(byName('ITERATIONINITIALIZE (one group)'), (x) => x.writeUInt32LE(129, 16))),
    ),
    'name-too-long',
  );
  // NAME_ONLY / ALL: libcpg leaves the name uninitialised, so any length is accepted and ignored
  const nameOnly = patched(byName('ITERATIONINITIALIZE (all)'), (x) => {
    x.fill(0xcc, 16, 152);
    x.writeUInt32LE(CpgIterationType.NAME_ONLY, 152);
  });
  assert.deepEqual(ok(decodeCpgRequest(nameOnly)), {
    kind: 'iteration_initialize',
    iterationType: CpgIterationType.NAME_ONLY,
    group: undefined,
  });
  // unknown ids
  for (const id of [13, 100, -1]) {
    assert.equal(
      errCode(decodeCpgRequest(patched(byName('FINALIZE'), (x) => x.writeInt32LE(id, 0)))),
      'bad-id',
    );
  }
  // header.size disagrees with the frame
  assert.equal(
    errCode(decodeCpgRequest(patched(byName('JOIN'), (x) => x.writeInt32LE(169, 8)))),
    'size-mismatch',
  );
  // a fixed request that is too long
  const longLocal = Buffer.concat([byName('LOCAL_GET'), Buffer.alloc(8)]);
  longLocal.writeInt32LE(24, 8);
  assert.equal(errCode(decodeCpgRequest(longLocal)), 'size-mismatch');
  // mcast msglen beyond the frame
  assert.equal(
    errCode(decodeCpgRequest(patched(byName('MCAST'), (x) => x.writeUInt32LE(6, 32)))),
    'bad-count',
  );
  assert.equal(
    errCode(decodeCpgRequest(patched(byName('MCAST'), (x) => x.writeUInt32LE(0xffffffff, 32)))),
    'bad-count',
  );
  // partial: fraglen mismatch, fraglen > msglen, bad type
  const partial = byName('PARTIAL_MCAST');
  assert.equal(errCode(decodeCpgRequest(patched(partial, (x) => x.writeUInt32LE(3, 40)))), 'bad-count');
  assert.equal(errCode(decodeCpgRequest(patched(partial, (x) => x.writeUInt32LE(3, 32)))), 'bad-count');
  assert.equal(errCode(decodeCpgRequest(patched(partial, (x) => x.writeUInt32LE(9, 48)))), 'bad-value');
  // ZC_ALLOC path without NUL: bounded by the 128-byte array
  const zc = patched(byName('ZC_ALLOC'), (x) => x.fill(0x61, 24, 152));
  const zd = ok(decodeCpgRequest(zc));
  assert.ok(zd.kind === 'zc_alloc' && zd.path === 'a'.repeat(128));
  assert.throws(() => encodeCpgRequest({ kind: 'zc_alloc', mapSize: 1n, path: 'a'.repeat(128) }), RangeError);
});

// ---------------------------------------------------------------------------------------
// IPC responses and callbacks (spec cpg.md §7)

interface ResCase {
  name: string;
  expected: Buffer;
  res: CpgResponse;
}

const addr = (nodeid: number, pid: number, reason = 0): { nodeid: number; pid: number; reason: number } => ({
  nodeid,
  pid,
  reason,
});

const resCases: ResCase[] = [
  {
    name: 'RES_JOIN (CS_ERR_EXIST)',
    expected: hex('00000000 00000000 18000000 00000000 0e000000 00000000'),
    res: { kind: 'bare', id: CpgResId.JOIN, error: CsErrorCode.CS_ERR_EXIST },
  },
  {
    name: 'RES_PARTIAL_SEND (CS_ERR_INTERRUPT)',
    expected: hex('12000000 00000000 18000000 00000000 10000000 00000000'),
    res: { kind: 'bare', id: CpgResId.PARTIAL_SEND, error: CsErrorCode.CS_ERR_INTERRUPT },
  },
  {
    name: 'RES_FINALIZE',
    expected: hex('0c000000 00000000 18000000 00000000 01000000 00000000'),
    res: { kind: 'bare', id: CpgResId.FINALIZE, error: CsErrorCode.CS_OK },
  },
  {
    name: 'RES_MEMBERSHIP (always 9248 bytes)',
    expected: hex(`03000000 00000000 20240000 00000000 01000000 00000000 02000000 00000000
      01000000 00000000 a5680000 00000000 00000000 00000000
      02000000 00000000 aa680000 00000000 00000000 00000000 ${z(9216 - 48)}`),
    res: { kind: 'membership', error: CsErrorCode.CS_OK, members: [addr(1, 26789), addr(2, 26794)] },
  },
  {
    name: 'RES_LOCAL_GET',
    expected: hex('07000000 00000000 20000000 00000000 01000000 00000000 03000000 00000000'),
    res: { kind: 'local_get', error: CsErrorCode.CS_OK, localNodeid: 3 },
  },
  {
    name: 'RES_ITERATIONINITIALIZE',
    expected: hex('09000000 00000000 20000000 00000000 01000000 00000000 0100000078563412'),
    res: { kind: 'iteration_initialize', error: CsErrorCode.CS_OK, handle: 0x1234567800000001n },
  },
  {
    name: 'RES_ITERATIONNEXT',
    expected: hex(`0a000000 00000000 a8000000 00000000 01000000 00000000 ${VECTORS} 03000000 af680000`),
    res: {
      kind: 'iteration_next',
      error: CsErrorCode.CS_OK,
      description: { group: cpgName('vectors'), nodeid: 3, pid: 26799 },
    },
  },
  {
    name: 'RES_ITERATIONNEXT (end: CS_ERR_NO_SECTIONS, zero description)',
    expected: hex(`0a000000 00000000 a8000000 00000000 1b000000 00000000 ${z(144)}`),
    res: {
      kind: 'iteration_next',
      error: CsErrorCode.CS_ERR_NO_SECTIONS,
      description: { group: cpgName(''), nodeid: 0, pid: 0 },
    },
  },
  {
    name: 'FLOWCONTROL_CALLBACK',
    expected: hex('08000000 00000000 20000000 00000000 01000000 00000000 01000000 00000000'),
    res: { kind: 'flowcontrol', error: CsErrorCode.CS_OK, state: 1 },
  },
  {
    // counts in the header: member, joined, left; arrays: member, left, joined
    name: 'CONFCHG_CALLBACK',
    expected: hex(`04000000 00000000 18010000 00000000 01000000 00000000 ${VECTORS}
      01000000 00000000 01000000 00000000 02000000 00000000
      01000000 00000000 a5680000 00000000 00000000 00000000
      01000000 00000000 c6680000 00000000 05000000 00000000
      02000000 00000000 d6680000 00000000 02000000 00000000
      03000000 00000000 35690000 00000000 01000000 00000000`),
    res: {
      kind: 'confchg',
      error: CsErrorCode.CS_OK,
      group: cpgName('vectors'),
      members: [addr(1, 26789)],
      left: [addr(1, 26822, CpgReason.PROCDOWN), addr(2, 26838, CpgReason.LEAVE)],
      joined: [addr(3, 26933, CpgReason.JOIN)],
    },
  },
  {
    name: 'DELIVER_CALLBACK',
    expected: hex(`05000000 00000000 cb000000 00000000 01000000 00000000 ${VECTORS}
      13000000 00000000 01000000 00000000 c6680000 00000000
      ${Buffer.from('hello from node1 #1').toString('hex')}`),
    res: {
      kind: 'deliver',
      error: CsErrorCode.CS_OK,
      group: cpgName('vectors'),
      nodeid: 1,
      pid: 26822,
      message: Buffer.from('hello from node1 #1'),
    },
  },
  {
    // ring id {nodeid, pad, seq u64}, count @40, list @44, 4 trailing pad bytes
    name: 'TOTEM_CONFCHG_CALLBACK',
    expected: hex(`0d000000 00000000 3c000000 00000000 01000000 00000000
      01000000 00000000 0d00000000000000 03000000 01000000 02000000 03000000 00000000`),
    res: {
      kind: 'totem_confchg',
      error: CsErrorCode.CS_OK,
      ringId: { nodeid: 1, seq: 0xdn },
      members: [1, 2, 3],
    },
  },
  {
    name: 'TOTEM_CONFCHG_CALLBACK (no members)',
    expected: hex(`0d000000 00000000 30000000 00000000 01000000 00000000
      02000000 00000000 1100000000000000 00000000 00000000`),
    res: { kind: 'totem_confchg', error: CsErrorCode.CS_OK, ringId: { nodeid: 2, seq: 0x11n }, members: [] },
  },
  {
    name: 'PARTIAL_DELIVER_CALLBACK',
    expected: hex(`11000000 00000000 cc000000 00000000 01000000 00000000 ${nameHex('01000000', 'g')}
      0a000000 00000000 04000000 00000000 02000000 00000000 34120000 00000000
      03000000 00000000 61626364`),
    res: {
      kind: 'partial_deliver',
      error: CsErrorCode.CS_OK,
      group: cpgName('g'),
      msglen: 10,
      nodeid: 2,
      pid: 0x1234,
      type: CpgPartialType.LAST,
      fragment: Buffer.from('abcd'),
    },
  },
];

for (const c of resCases) {
  test(`response ${c.name}: golden bytes, decode, re-encode`, () => {
    assert.deepEqual(encodeCpgResponse(c.res), c.expected);
    assert.equal(c.expected.readInt32LE(8), c.expected.length);
    assert.deepEqual(ok(decodeCpgResponse(c.expected)), c.res);
  });
}

test('response sizes match spec cpg.md §7', () => {
  const size = (n: string): number => resCases.find((c) => c.name.startsWith(n))!.expected.length;
  assert.equal(size('RES_JOIN'), CpgSize.RES_BARE);
  assert.equal(size('RES_MEMBERSHIP'), 9248);
  assert.equal(size('RES_LOCAL_GET'), 32);
  assert.equal(size('RES_ITERATIONINITIALIZE'), 32);
  assert.equal(size('RES_ITERATIONNEXT'), 168);
  assert.equal(size('CONFCHG_CALLBACK'), 184 + 24 * 4);
  assert.equal(size('DELIVER_CALLBACK'), 184 + 19);
  assert.equal(size('TOTEM_CONFCHG_CALLBACK'), 48 + 4 * 3);
  assert.equal(size('PARTIAL_DELIVER_CALLBACK'), 200 + 4);
  assert.deepEqual(
    encodeCpgBareResponse(0, CsErrorCode.CS_ERR_TRY_AGAIN),
    hex('00000000 00000000 18000000 00000000 06000000 00000000'),
  );
});

test('response decode: malformed input', () => {
  const byName = (n: string): Buffer => resCases.find((c) => c.name.startsWith(n))!.expected;
  const patched = (b: Buffer, f: (x: Buffer) => void): Buffer => {
    const x = Buffer.from(b);
    f(x);
    return x;
  };
  for (const c of resCases) {
    for (let cut = 0; cut < c.expected.length; cut += cut < 300 ? 1 : 97) {
      assert.notEqual(errCode(decodeCpgResponse(c.expected.subarray(0, cut))), 'ok', `${c.name} cut ${cut}`);
      if (cut >= 24) {
        const b = Buffer.from(c.expected.subarray(0, cut));
        b.writeInt32LE(cut, 8);
        assert.notEqual(errCode(decodeCpgResponse(b)), 'ok', `${c.name} fixed-up cut ${cut}`);
      }
    }
  }
  const members = byName('RES_MEMBERSHIP');
  assert.equal(errCode(decodeCpgResponse(patched(members, (x) => x.writeUInt32LE(385, 24)))), 'bad-count');
  assert.equal(errCode(decodeCpgResponse(patched(members, (x) => x.writeUInt32LE(384, 24)))), 'ok');
  const confchg = byName('CONFCHG_CALLBACK');
  // counts beyond the frame, including sums that overflow 32 bits
  for (const [off, v] of [
    [160, 2],
    [168, 2],
    [176, 3],
    [160, 0xffffffff],
    [176, 0x0aaaaaab],
  ] as const) {
    assert.equal(errCode(decodeCpgResponse(patched(confchg, (x) => x.writeUInt32LE(v, off)))), 'bad-count');
  }
  assert.equal(
    errCode(decodeCpgResponse(patched(confchg, (x) => x.writeUInt32LE(129, 24)))),
    'name-too-long',
  );
  const deliver = byName('DELIVER_CALLBACK');
  assert.equal(errCode(decodeCpgResponse(patched(deliver, (x) => x.writeUInt32LE(20, 160)))), 'bad-count');
  assert.equal(
    errCode(decodeCpgResponse(patched(deliver, (x) => x.writeUInt32LE(129, 24)))),
    'name-too-long',
  );
  const totem = byName('TOTEM_CONFCHG_CALLBACK');
  assert.equal(errCode(decodeCpgResponse(patched(totem, (x) => x.writeUInt32LE(4, 40)))), 'bad-count');
  assert.equal(
    errCode(decodeCpgResponse(patched(totem, (x) => x.writeUInt32LE(0x40000001, 40)))),
    'bad-count',
  );
  const pd = byName('PARTIAL_DELIVER_CALLBACK');
  assert.equal(errCode(decodeCpgResponse(patched(pd, (x) => x.writeUInt32LE(0, 192)))), 'bad-value');
  assert.equal(errCode(decodeCpgResponse(patched(pd, (x) => x.writeUInt32LE(3, 160)))), 'bad-count');
  assert.equal(errCode(decodeCpgResponse(patched(pd, (x) => x.writeUInt32LE(5, 168)))), 'bad-count');
  // ids never sent / unknown
  for (const id of [CpgResId.FLOW_CONTROL_STATE_SET, CpgResId.ZC_ALLOC, 19, -1]) {
    assert.equal(
      errCode(decodeCpgResponse(patched(byName('RES_JOIN'), (x) => x.writeInt32LE(id, 0)))),
      'bad-id',
    );
  }
  // a bare response that is too long
  const longBare = Buffer.concat([byName('RES_JOIN'), Buffer.alloc(8)]);
  longBare.writeInt32LE(32, 8);
  assert.equal(errCode(decodeCpgResponse(longBare)), 'size-mismatch');
  assert.throws(
    () =>
      encodeCpgResponse({
        kind: 'membership',
        error: 1,
        members: Array.from({ length: 385 }, () => addr(1, 1)),
      }),
    RangeError,
  );
});

test('zero-copy header: i32 map_size @0, u64 server_address @8', () => {
  const expected = hex('00001000 00000000 f0debc9a78563412');
  assert.deepEqual(encodeCpgZcHeader({ mapSize: 0x100000, serverAddress: 0x123456789abcdef0n }), expected);
  assert.deepEqual(ok(decodeCpgZcHeader(expected)), {
    mapSize: 0x100000,
    serverAddress: 0x123456789abcdef0n,
  });
  assert.equal(errCode(decodeCpgZcHeader(expected.subarray(0, 15))), 'truncated');
});

test('ids of spec cpg.md §7', () => {
  assert.equal(CpgReqId.PARTIAL_MCAST, 12);
  assert.equal(CpgResId.TOTEM_CONFCHG_CALLBACK, 13);
  assert.equal(CpgResId.PARTIAL_DELIVER_CALLBACK, 17);
  assert.equal(CPG_MAX_NAME_LENGTH, 128);
});

test('cpg decoders never throw on random bytes; what they accept round-trips', () => {
  const prng = new Prng(0xc0de);
  let accepted = 0;
  // struct sizes of spec cpg.md, so that fixed-size decoders get past their size check
  const sizes = [16, 24, 32, 48, 56, 152, 160, 168, 184, 200, 1560, 1568, 9248];
  for (let i = 0; i < 6000; i++) {
    const len = i % 2 === 0 ? sizes[prng.nextU32() % sizes.length]! : prng.nextU32() % 400;
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = prng.nextU32() % 4 === 0 ? prng.nextU32() & 0xff : 0;
    if (len >= 16) {
      // make the header plausible most of the time so decoding gets past the first checks
      if (i % 4 !== 0) b.writeInt32LE(len, 8);
      if (i % 3 === 0) b.writeInt32LE(0x00020000 | (prng.nextU32() % 7), 0);
      else if (i % 3 === 1) b.writeInt32LE(prng.nextU32() % 19, 0);
    }
    const e = decodeCpgExec(b);
    if (e.ok) {
      accepted++;
      assert.deepEqual(ok(decodeCpgExec(encodeCpgExec(e.value))), e.value);
    }
    const q = decodeCpgRequest(b);
    if (q.ok && q.value.kind !== 'zc_alloc') {
      accepted++;
      assert.deepEqual(ok(decodeCpgRequest(encodeCpgRequest(q.value))), q.value);
    }
    const r = decodeCpgResponse(b);
    if (r.ok) {
      accepted++;
      assert.deepEqual(ok(decodeCpgResponse(encodeCpgResponse(r.value))), r.value);
    }
  }
  // random bytes with a plausible header do get accepted sometimes
  assert.ok(accepted > 50, `accepted ${accepted}`);
});

test('the one-allocation DELIVER frame equals header + message', () => {
  const group = cpgName('g');
  const msg = Buffer.from('payload bytes');
  const d = { group, nodeid: 7, pid: 4242 };
  // allocUnsafe memory is reused: make it dirty first, the header must still come out zeroed
  Buffer.allocUnsafe(4096).fill(0xaa);
  assert.deepEqual(
    encodeCpgDeliverCallback(d, msg),
    Buffer.concat([encodeCpgDeliverCallbackHeader(d, msg.length), msg]),
  );
});
