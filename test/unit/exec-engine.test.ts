// The exec layer (spec services-exec.md §2.2 routing, §3.1 linking, §3.2 confchg, §3.3
// unloading) and cmap's MCAST codec (cmap.md §4.1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Icmap } from '../../src/cmap/icmap.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { ExecEngine, serviceSuffix, type ExecGroup } from '../../src/exec/engine.js';
import { execId } from '../../src/exec/codec.js';
import { allocRequest } from '../../src/ipc/frame.js';
import type { ExecApi, ServiceEngine } from '../../src/exec/service-engine.js';
import {
  CMAP_MCAST_HEADER_SIZE,
  CmapExecEngine,
  cmapConfigVersionMcastSize,
  cmapMcastItemFromIcmap,
  decodeCmapMcast,
  encodeCmapMcast,
} from '../../src/services/cmap/exec.js';
import type { PgInstance } from '../../src/totem/pg.js';
import { ringId } from '../../src/totem/wire/seq.js';

class Recorder implements ServiceEngine {
  readonly name: string;
  readonly priority: number;
  readonly got: string[] = [];
  api!: ExecApi;
  throwOnDeliver = false;
  busyExits = 0;
  constructor(
    readonly id: number,
    readonly defaultName: string,
    readonly execFnCount: number,
    priority = 1,
    private readonly shared?: string[],
  ) {
    this.name = `engine ${defaultName}`;
    this.priority = priority;
  }
  init(api: ExecApi): void {
    this.api = api;
    this.shared?.push(`init ${this.id}`);
  }
  deliver(fn: number, message: Buffer, from: number): void {
    if (this.throwOnDeliver) throw new Error('boom');
    this.got.push(`fn${fn} from ${from} len ${message.length}`);
  }
  confchg(
    type: string,
    members: readonly number[],
    left: readonly number[],
    joined: readonly number[],
  ): void {
    this.shared?.push(
      `confchg ${this.id} ${type} [${members.join(',')}] -[${left.join(',')}] +[${joined.join(',')}]`,
    );
  }
  exit(): boolean {
    if (this.busyExits > 0) {
      this.busyExits--;
      return false;
    }
    this.shared?.push(`exit ${this.id}`);
    return true;
  }
}

interface Sent {
  group: ExecGroup;
  bytes: Buffer;
  guarantee: number;
}

function setup(nodeId = 1): {
  engine: ExecEngine;
  icmap: Icmap;
  sent: Sent[];
  logs: string[];
  refuse: { on: boolean };
} {
  const icmap = new Icmap();
  const sent: Sent[] = [];
  const logs: string[] = [];
  const refuse = { on: false };
  const lvl = (l: string) => (m: string) => void logs.push(`${l}: ${m}`);
  const engine = new ExecEngine({
    nodeId,
    icmap,
    send: (group, iov, guarantee) => {
      if (refuse.on) return CsErrorCode.CS_ERR_TRY_AGAIN;
      sent.push({ group, bytes: Buffer.concat(iov), guarantee });
      return CsErrorCode.CS_OK;
    },
    log: {
      debug: lvl('debug'),
      info: lvl('info'),
      notice: lvl('notice'),
      warn: lvl('warn'),
      error: lvl('error'),
    },
  });
  return { engine, icmap, sent, logs, refuse };
}

const u64 = (icmap: Icmap, key: string): bigint | undefined =>
  icmap.getValue(key)?.value as bigint | undefined;

describe('exec engine: linking', () => {
  it('writes the keys of §3.1 and calls init with the exec API', () => {
    const { engine, icmap, logs } = setup(7);
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    assert.deepEqual(icmap.getValue('internal_configuration.service.2.name'), {
      type: CmapValueType.STRING,
      value: 'corosync_cpg',
    });
    assert.deepEqual(icmap.getValue('internal_configuration.service.2.ver'), {
      type: CmapValueType.UINT32,
      value: 0,
    });
    assert.deepEqual(icmap.getValue('runtime.services.cpg.service_id'), {
      type: CmapValueType.UINT16,
      value: 2,
    });
    for (let fn = 0; fn < 7; fn++) {
      assert.deepEqual(icmap.getValue(`runtime.services.cpg.${fn}.tx`), {
        type: CmapValueType.UINT64,
        value: 0n,
      });
      assert.deepEqual(icmap.getValue(`runtime.services.cpg.${fn}.rx`), {
        type: CmapValueType.UINT64,
        value: 0n,
      });
    }
    assert.equal(icmap.has('runtime.services.cpg.7.tx'), false);
    assert.equal(cpg.api.nodeId, 7);
    assert.ok(logs.includes('notice: Service engine loaded: engine corosync_cpg [2]'));
    assert.equal(engine.service(2), cpg);
    assert.deepEqual(engine.services(), [cpg]);
    // a service without exec functions still gets its id keys (quorum)
    engine.register(new Recorder(3, 'corosync_quorum', 0));
    assert.deepEqual(icmap.getValue('runtime.services.quorum.service_id'), {
      type: CmapValueType.UINT16,
      value: 3,
    });
    assert.deepEqual(icmap.keys('runtime.services.quorum.'), ['runtime.services.quorum.service_id']);
  });

  it('refuses ids outside 0..63 and a second engine for an id', () => {
    const { engine } = setup();
    assert.throws(() => engine.register(new Recorder(64, 'x_y', 0)), RangeError);
    assert.throws(() => engine.register(new Recorder(-1, 'x_y', 0)), RangeError);
    engine.register(new Recorder(2, 'corosync_cpg', 7));
    assert.throws(() => engine.register(new Recorder(2, 'corosync_cpg', 7)), RangeError);
  });

  it('an init that throws leaves nothing linked (the daemon exits)', () => {
    const { engine, icmap } = setup();
    const bad = new Recorder(2, 'corosync_cpg', 7);
    bad.init = () => {
      throw new Error("Can't add config_version icmap tracker");
    };
    assert.throws(() => engine.register(bad), /tracker/);
    assert.equal(engine.service(2), undefined);
    assert.equal(icmap.has('runtime.services.cpg.service_id'), false);
    engine.register(new Recorder(2, 'corosync_cpg', 7));
    assert.ok(engine.service(2));
  });

  it('suffix = text after the last underscore', () => {
    assert.equal(serviceSuffix('corosync_votequorum'), 'votequorum');
    assert.equal(serviceSuffix('plain'), 'plain');
  });
});

describe('exec engine: routing of group "a" (§2.2)', () => {
  it('delivers by service and fn, with the totem sender, and counts rx', () => {
    const { engine, icmap } = setup();
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    engine.deliver('a', 3, allocRequest(execId(2, 5), 40));
    engine.deliver('a', 2, allocRequest(execId(2, 5), 16));
    engine.deliver('a', 2, allocRequest(execId(2, 0), 168));
    assert.deepEqual(cpg.got, ['fn5 from 3 len 40', 'fn5 from 2 len 16', 'fn0 from 2 len 168']);
    assert.equal(u64(icmap, 'runtime.services.cpg.5.rx'), 2n);
    assert.equal(u64(icmap, 'runtime.services.cpg.0.rx'), 1n);
    assert.equal(u64(icmap, 'runtime.services.cpg.1.rx'), 0n);
    assert.equal(engine.stats.delivered, 3);
  });

  it('rx counters notify trackers without an old value (fast increment)', () => {
    const { engine, icmap } = setup();
    engine.register(new Recorder(2, 'corosync_cpg', 7));
    const events: unknown[] = [];
    icmap.trackAdd('runtime.services.cpg.3.rx', 2, (ev) => events.push(ev));
    engine.deliver('a', 1, allocRequest(execId(2, 3), 16));
    assert.equal(events.length, 1);
    assert.equal((events[0] as { oldValue?: unknown }).oldValue, undefined);
  });

  it('drops messages of services not loaded here silently', () => {
    const { engine, logs } = setup();
    engine.register(new Recorder(2, 'corosync_cpg', 7));
    engine.deliver('a', 1, allocRequest(execId(5, 0), 32));
    assert.equal(engine.stats.notLoaded, 1);
    assert.deepEqual(
      logs.filter((l) => !l.startsWith('notice: Service engine')),
      [],
    );
  });

  it('warns about unknown fn ids with corosync words', () => {
    const { engine, logs, icmap } = setup();
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    engine.deliver('a', 1, allocRequest(execId(2, 7), 16));
    engine.deliver('a', 1, allocRequest(execId(2, 0xffff), 16));
    assert.deepEqual(cpg.got, []);
    assert.ok(logs.includes('warn: discarded unknown message 7 for service 2 (max id 7)'));
    assert.ok(logs.includes('warn: discarded unknown message 65535 for service 2 (max id 7)'));
    assert.equal(engine.stats.unknownFn, 2);
    assert.equal(icmap.has('runtime.services.cpg.7.rx'), false);
    // quorum has no exec functions at all
    engine.register(new Recorder(3, 'corosync_quorum', 0));
    engine.deliver('a', 1, allocRequest(execId(3, 0), 16));
    assert.ok(logs.includes('warn: discarded unknown message 0 for service 3 (max id 0)'));
  });

  it('drops malformed headers: short, size mismatch, service id ≥ 64', () => {
    const { engine, logs } = setup();
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    engine.deliver('a', 1, Buffer.alloc(0));
    engine.deliver('a', 1, Buffer.alloc(15));
    const m = allocRequest(execId(2, 0), 32);
    engine.deliver('a', 1, m.subarray(0, 31)); // header says 32
    const big = allocRequest(execId(2, 0), 32);
    big.writeInt32LE(64, 8);
    engine.deliver('a', 1, big);
    const neg = allocRequest(0, 16);
    neg.writeInt32LE(-1, 0);
    engine.deliver('a', 1, neg);
    assert.deepEqual(cpg.got, []);
    assert.equal(engine.stats.malformed, 5);
    assert.equal(logs.filter((l) => l.startsWith('warn: exec message from node 1 dropped')).length, 5);
  });

  it('refuses messages of the other byte order (logged once per sender, counted always)', () => {
    const { engine, logs, icmap } = setup();
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    const m = allocRequest(execId(2, 0), 168);
    engine.deliver('a', 4, m, true);
    engine.deliver('a', 4, m, true);
    engine.deliver('a', 5, m, true);
    assert.deepEqual(cpg.got, []);
    assert.equal(engine.stats.endianRefused, 3);
    assert.equal(logs.filter((l) => l.startsWith('warn:') && l.includes('other byte order')).length, 2);
    assert.equal(u64(icmap, 'runtime.services.cpg.0.rx'), 0n);
  });

  it('a handler that throws is logged; the engine carries on', () => {
    const { engine, logs } = setup();
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    cpg.throwOnDeliver = true;
    engine.deliver('a', 1, allocRequest(execId(2, 0), 16));
    assert.equal(engine.stats.serviceErrors, 1);
    assert.ok(
      logs.some((l) => l.startsWith('error: engine corosync_cpg: handler of message 0 from node 1 failed')),
    );
    cpg.throwOnDeliver = false;
    engine.deliver('a', 1, allocRequest(execId(2, 0), 16));
    assert.equal(cpg.got.length, 1);
  });

  it('handleUpcall routes pg deliveries by group name and passes confchgs', () => {
    const { engine, sent } = setup();
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    const inst = { id: 1, label: 'main', wantsConfchg: true, groups: [] } as PgInstance;
    engine.handleUpcall({
      kind: 'deliver',
      instance: inst,
      group: Buffer.from('a'),
      from: 2,
      message: allocRequest(execId(2, 1), 16),
      endianConvert: false,
    });
    engine.handleUpcall({
      kind: 'deliver',
      instance: inst,
      group: Buffer.from('other'),
      from: 2,
      message: allocRequest(execId(2, 1), 16),
      endianConvert: false,
    });
    assert.deepEqual(cpg.got, ['fn1 from 2 len 16']);
    assert.equal(engine.stats.unknownGroup, 1);
    engine.handleUpcall({
      kind: 'confchg',
      instance: inst,
      type: 'regular',
      members: [1, 2],
      left: [],
      joined: [1, 2],
      ringId: ringId(1, 8),
    });
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.group, 'sync');
    engine.handleUpcall({ kind: 'q-level', instance: inst, level: 2 });
  });
});

describe('exec engine: sending', () => {
  it('api.mcast sends in group "a" with the guarantee and counts tx (even when totem refuses)', () => {
    const { engine, icmap, sent, refuse } = setup();
    const cpg = new Recorder(2, 'corosync_cpg', 7);
    engine.register(cpg);
    const head = allocRequest(execId(2, 3), 24);
    assert.equal(cpg.api.mcast(2, 3, [head.subarray(0, 16), head.subarray(16)]), CsErrorCode.CS_OK);
    assert.equal(cpg.api.mcast(2, 3, head, 1), CsErrorCode.CS_OK);
    assert.deepEqual(
      sent.map((s) => [s.group, s.bytes.length, s.guarantee]),
      [
        ['a', 24, 0],
        ['a', 24, 1],
      ],
    );
    assert.deepEqual(sent[0]!.bytes, head);
    refuse.on = true;
    assert.equal(cpg.api.mcast(2, 3, head), CsErrorCode.CS_ERR_TRY_AGAIN);
    assert.equal(u64(icmap, 'runtime.services.cpg.3.tx'), 3n);
    // an unknown fn or service is sent but not counted
    refuse.on = false;
    cpg.api.mcast(2, 9, allocRequest(execId(2, 9), 16));
    cpg.api.mcast(9, 0, allocRequest(execId(9, 0), 16));
    assert.equal(sent.length, 4);
  });
});

describe('exec engine: configuration changes (§3.2)', () => {
  it("calls the services' confchg in id order, then the sync steps", () => {
    const { engine, sent } = setup(1);
    const shared: string[] = [];
    engine.register(new Recorder(5, 'corosync_votequorum', 4, 2, shared));
    engine.register(new Recorder(1, 'corosync_cfg', 5, 1, shared));
    shared.length = 0;
    engine.confchg('transitional', [1], [3], [], ringId(1, 12));
    assert.equal(sent.length, 0, 'TRANSITIONAL only saves the list');
    engine.confchg('regular', [1, 2], [], [2], ringId(1, 12));
    assert.deepEqual(shared, [
      'confchg 1 transitional [1] -[3] +[]',
      'confchg 5 transitional [1] -[3] +[]',
      'confchg 1 regular [1,2] -[] +[2]',
      'confchg 5 regular [1,2] -[] +[2]',
    ]);
    assert.equal(sent.length, 1);
    assert.equal(engine.sync.state, 'servicelist-build');
    assert.deepEqual(engine.ringId, ringId(1, 12));
    assert.deepEqual(engine.members, [1, 2]);
    assert.deepEqual(engine.sync.transitionalList, [1]);
  });
});

describe('exec engine: re-entrancy and unloading', () => {
  it('a delivery arriving from inside a send is deferred until the step ends', () => {
    const icmap = new Icmap();
    const order: string[] = [];
    let reenter = true;
    const engine: ExecEngine = new ExecEngine({
      nodeId: 1,
      icmap,
      send: (group, iov) => {
        order.push(`send ${group}`);
        // a runtime that (wrongly) delivers synchronously from inside the send
        if (reenter && group === 'a') {
          reenter = false;
          engine.deliver('a', 1, Buffer.concat(iov));
          order.push('send returns');
        }
        return CsErrorCode.CS_OK;
      },
      log: { debug() {}, info() {}, notice() {}, warn() {}, error() {} },
    });
    class Echo extends Recorder {
      override deliver(fn: number, message: Buffer, from: number): void {
        order.push(`deliver begin ${from}`);
        if (from === 2) this.api.mcast(2, 0, allocRequest(execId(2, 0), 16));
        order.push(`deliver end ${from}`);
        super.deliver(fn, message, from);
      }
    }
    engine.register(new Echo(2, 'corosync_cpg', 7));
    engine.deliver('a', 2, allocRequest(execId(2, 0), 16));
    assert.deepEqual(order, [
      'deliver begin 2',
      'send a',
      'send returns',
      'deliver end 2',
      'deliver begin 1',
      'deliver end 1',
    ]);
  });

  it('unloads highest priority first, ascending id within a priority; busy exits are retried', () => {
    const { engine, logs } = setup();
    const shared: string[] = [];
    const cmapLike = new Recorder(0, 'corosync_cmap', 1, 1, shared);
    const cpg = new Recorder(2, 'corosync_cpg', 7, 1, shared);
    const vq = new Recorder(5, 'corosync_votequorum', 4, 2, shared);
    engine.register(cpg);
    engine.register(vq);
    engine.register(cmapLike);
    cpg.busyExits = 1;
    shared.length = 0;
    assert.equal(engine.unloadServices(), false);
    assert.deepEqual(shared, ['exit 5', 'exit 0']);
    assert.equal(engine.unloadServices(), true);
    assert.deepEqual(shared, ['exit 5', 'exit 0', 'exit 2']);
    assert.ok(logs.includes('notice: Service engine unloaded: engine corosync_votequorum'));
    assert.deepEqual(engine.services(), []);
    // messages for unloaded services are dropped
    engine.deliver('a', 1, allocRequest(execId(2, 0), 16));
    assert.deepEqual(cpg.got, []);
  });
});

describe('cmap exec engine and MCAST codec (cmap.md §4)', () => {
  it('encodes config_version items with the byte layout of §4.1', () => {
    const icmap = new Icmap();
    const missing = encodeCmapMcast(0, [cmapMcastItemFromIcmap(icmap, 'totem.config_version')]);
    assert.equal(missing.length, 328);
    assert.equal(cmapConfigVersionMcastSize(false), 328);
    assert.equal(missing.readInt32LE(0), 0);
    assert.equal(missing.readInt32LE(8), 328);
    assert.equal(missing.readUInt8(24), 1);
    assert.equal(missing.readUInt16LE(48), 20);
    assert.equal(missing.toString('latin1', 56, 76), 'totem.config_version');
    assert.equal(missing.readUInt8(48 + 264), 0);
    assert.equal(missing.readBigUInt64LE(48 + 272), 0n);
    // every other byte is zero
    const mask = Buffer.from(missing);
    mask.fill(0, 0, 1);
    mask.writeInt32LE(0, 8);
    mask.writeUInt8(0, 24);
    mask.writeUInt16LE(0, 48);
    mask.fill(0, 56, 76);
    assert.ok(mask.equals(Buffer.alloc(328)));

    icmap.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 0x0102030405n });
    const present = encodeCmapMcast(1, [cmapMcastItemFromIcmap(icmap, 'totem.config_version')]);
    assert.equal(present.length, 336);
    assert.equal(present.readUInt8(16), 1);
    assert.equal(present.readUInt8(48 + 264), CmapValueType.UINT64);
    assert.equal(present.readBigUInt64LE(48 + 272), 8n);
    assert.equal(present.readBigUInt64LE(48 + 280), 0x0102030405n);
    const d = decodeCmapMcast(present);
    assert.ok(d.ok);
    assert.equal(d.value.reason, 1);
    assert.equal(d.value.items[0]!.key, 'totem.config_version');
    // a string value is padded to 8
    const s = encodeCmapMcast(0, [{ key: 'a.b', type: CmapValueType.STRING, value: Buffer.from('abc\0') }]);
    assert.equal(s.length, CMAP_MCAST_HEADER_SIZE + 288);
    assert.throws(
      () => encodeCmapMcast(0, new Array(33).fill({ key: 'a.b', type: 0, value: Buffer.alloc(0) })),
      RangeError,
    );
  });

  it('decoder refuses malformed messages', () => {
    const icmap = new Icmap();
    icmap.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 3n });
    const good = encodeCmapMcast(0, [cmapMcastItemFromIcmap(icmap, 'totem.config_version')]);
    const codes = (m: Buffer, endian = false): string => {
      const r = decodeCmapMcast(m, endian);
      return r.ok ? 'ok' : r.code;
    };
    assert.equal(codes(good), 'ok');
    assert.equal(codes(good, true), 'endian-unsupported');
    assert.equal(codes(good.subarray(0, 40)), 'size-mismatch');
    const short = Buffer.from(good.subarray(0, 40));
    short.writeInt32LE(40, 8);
    assert.equal(codes(short), 'truncated');
    const many = Buffer.from(good);
    many.writeUInt8(33, 24);
    assert.equal(codes(many), 'bad-count');
    const two = Buffer.from(good);
    two.writeUInt8(2, 24);
    assert.equal(codes(two), 'truncated');
    const longKey = Buffer.from(good);
    longKey.writeUInt16LE(256, 48);
    assert.equal(codes(longKey), 'name-too-long');
    const hugeValue = Buffer.from(good);
    hugeValue.writeBigUInt64LE(1n << 40n, 48 + 272);
    assert.equal(codes(hugeValue), 'bad-count');
    const oddValue = Buffer.from(good);
    oddValue.writeBigUInt64LE(5n, 48 + 272); // 280 + 5 rounds to 288 = fits exactly
    assert.equal(codes(oddValue), 'ok');
  });

  it('receiver: u64 sets runtime.members.<sender>.config_version, other types and a missing key give 0', () => {
    const { engine, icmap, logs } = setup(1);
    const cmap = new CmapExecEngine({ icmap, log: { debug() {}, warn: (m) => logs.push(m), error() {} } });
    engine.register(cmap);
    const peer = new Icmap();
    peer.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 12n });
    engine.deliver('a', 2, encodeCmapMcast(0, [cmapMcastItemFromIcmap(peer, 'totem.config_version')]));
    assert.equal(u64(icmap, 'runtime.members.2.config_version'), 12n);
    assert.equal(cmap.highestConfigVersionReceived, 12n);
    peer.setValue('totem.config_version', { type: CmapValueType.UINT32, value: 99 });
    engine.deliver('a', 3, encodeCmapMcast(1, [cmapMcastItemFromIcmap(peer, 'totem.config_version')]));
    assert.equal(u64(icmap, 'runtime.members.3.config_version'), 0n);
    engine.deliver('a', 4, encodeCmapMcast(0, []));
    assert.equal(u64(icmap, 'runtime.members.4.config_version'), 0n);
    // own messages are recorded but never raise "highest received"
    peer.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 50n });
    engine.deliver('a', 1, encodeCmapMcast(0, [cmapMcastItemFromIcmap(peer, 'totem.config_version')]));
    assert.equal(u64(icmap, 'runtime.members.1.config_version'), 50n);
    assert.equal(cmap.highestConfigVersionReceived, 12n);
    // unknown reason: ignored; a u64 of the wrong length: dropped with a warning
    engine.deliver('a', 5, encodeCmapMcast(7, [cmapMcastItemFromIcmap(peer, 'totem.config_version')]));
    assert.equal(icmap.has('runtime.members.5.config_version'), false);
    engine.deliver(
      'a',
      6,
      encodeCmapMcast(0, [
        { key: 'totem.config_version', type: CmapValueType.UINT64, value: Buffer.alloc(4) },
      ]),
    );
    assert.equal(icmap.has('runtime.members.6.config_version'), false);
    assert.ok(logs.some((l) => l.includes('config_version of 4 bytes')));
    assert.equal(u64(icmap, 'runtime.services.cmap.0.rx'), 6n);
  });

  it('sync process retries while totem refuses; exit removes the tracker', () => {
    const { engine, icmap, sent, refuse } = setup(1);
    const cmap = new CmapExecEngine({ icmap });
    engine.register(cmap);
    assert.equal(icmap.trackerCount, 1);
    cmap.sync!.init([], [1], ringId(1, 4));
    refuse.on = true;
    assert.equal(cmap.sync!.process(), false);
    refuse.on = false;
    assert.equal(cmap.sync!.process(), true);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.bytes.length, 328);
    assert.equal(cmap.exit(), true);
    assert.equal(icmap.trackerCount, 0);
    icmap.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 4n });
    assert.equal(sent.length, 1, 'no tracker any more');
  });

  it('a refused NEW_CONFIG_VERSION is logged as corosync does', () => {
    const { engine, icmap, refuse } = setup(1);
    const errors: string[] = [];
    engine.register(
      new CmapExecEngine({ icmap, log: { debug() {}, warn() {}, error: (m) => errors.push(m) } }),
    );
    refuse.on = true;
    icmap.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 4n });
    assert.deepEqual(errors, ["Can't inform other nodes about new config version"]);
  });

  it('exposes the IPC service it is given', () => {
    const ipc = { name: 'cmap', id: 0, requestCount: 10 } as unknown as NonNullable<ServiceEngine['ipc']>;
    const cmap = new CmapExecEngine({ icmap: new Icmap(), ipc });
    assert.equal(cmap.ipc, ipc);
    assert.equal(cmap.id, 0);
    assert.equal(cmap.defaultName, 'corosync_cmap');
    assert.equal(cmap.execFnCount, 1);
  });
});
