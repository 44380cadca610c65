// The sync engine (spec services-exec.md §3.2, §5) run by 1–3 ExecEngines over an in-memory
// "totem" that delivers every sent message to every current member, sender included, in one
// global order. The scripts below choose when each node runs its process worker and how far
// delivery goes, then check the service-list union, barrier and activation order, aborts,
// old-ring messages, joins, retries, and cmap's config_version rule (cmap.md §4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Icmap } from '../../src/cmap/icmap.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { ExecEngine, type ExecEffect, type ExecGroup } from '../../src/exec/engine.js';
import { execId } from '../../src/exec/codec.js';
import { allocRequest } from '../../src/ipc/frame.js';
import type { ExecApi, ServiceEngine, SyncHooks } from '../../src/exec/service-engine.js';
import { decodeSyncMessage, encodeSyncBarrier, encodeSyncServiceBuild } from '../../src/exec/sync-codec.js';
import { unknownServiceName } from '../../src/exec/sync.js';
import { CmapExecEngine, decodeCmapMcast } from '../../src/services/cmap/exec.js';
import { formatRingId, ringId, type RingId } from '../../src/totem/wire/seq.js';

const NAMES: Record<number, string> = { 0: 'cmap', 2: 'cpg', 3: 'quorum', 5: 'votequorum' };
const STOCK = [0, 2, 3, 5];

/** A service with sync hooks that records what the exec layer does to it. */
class FakeService implements ServiceEngine {
  readonly name: string;
  readonly defaultName: string;
  readonly priority = 1;
  readonly execFnCount = 1;
  readonly sync: SyncHooks;
  api!: ExecApi;
  /** process() answers "not done" this many more times. */
  notDone = 0;
  /** process() multicasts one exec message of this service before reporting done. */
  sendInProcess = true;
  constructor(
    readonly id: number,
    private readonly node: number,
    private readonly log: string[],
  ) {
    this.name = NAMES[id] ?? `svc${id}`;
    this.defaultName = `fake_${this.name}`;
    this.sync = {
      init: (trans, members, ring) =>
        this.rec(`init trans=[${trans.join(',')}] members=[${members.join(',')}] ring=${formatRingId(ring)}`),
      process: () => {
        this.rec('process');
        if (this.notDone > 0) {
          this.notDone--;
          return false;
        }
        if (this.sendInProcess) {
          const msg = allocRequest(execId(this.id, 0), 24);
          msg.writeUInt32LE(this.node, 16);
          if (this.api.mcast(this.id, 0, msg) !== CsErrorCode.CS_OK) return false;
        }
        return true;
      },
      activate: () => this.rec(`activate sync=${this.api.syncInProgress()}`),
      abort: () => this.rec('abort'),
    };
  }
  init(api: ExecApi): void {
    this.api = api;
  }
  deliver(_fn: number, message: Buffer, from: number): void {
    this.rec(`rx from ${from} (${message.readUInt32LE(16)})`);
  }
  private rec(what: string): void {
    this.log.push(`n${this.node} ${this.name} ${what}`);
  }
}

interface Wire {
  seq: number;
  from: number;
  group: ExecGroup;
  msg: Buffer;
}

interface Node {
  id: number;
  engine: ExecEngine;
  icmap: Icmap;
  svcs: Map<number, FakeService>;
  effects: ExecEffect[];
  logs: string[];
  /** Members of this node's last regular configuration. */
  members: number[];
  /** Its sends answer TRY_AGAIN while set. */
  refuse: boolean;
}

/** N exec engines over an in-memory totem with one global delivery order. */
class Cluster {
  readonly log: string[] = [];
  readonly nodes = new Map<number, Node>();
  /** Sent, not yet delivered. */
  queue: Wire[] = [];
  /** Everything delivered, in order. */
  readonly delivered: Wire[] = [];
  members: number[] = [];
  private seq = 0;

  add(id: number, services: readonly number[] = STOCK, extra: ServiceEngine[] = []): Node {
    const icmap = new Icmap();
    const logs: string[] = [];
    const node: Node = {
      id,
      icmap,
      svcs: new Map(),
      effects: [],
      logs,
      members: [],
      refuse: false,
      engine: undefined as unknown as ExecEngine,
    };
    const sink = (m: string): void => void logs.push(m);
    node.engine = new ExecEngine({
      nodeId: id,
      icmap,
      send: (group, iov) => {
        if (node.refuse) return CsErrorCode.CS_ERR_TRY_AGAIN;
        this.queue.push({ seq: ++this.seq, from: id, group, msg: Buffer.concat(iov) });
        return CsErrorCode.CS_OK;
      },
      log: { debug: sink, info: sink, notice: sink, warn: sink, error: sink },
    });
    for (const e of extra) node.engine.register(e);
    for (const s of services) {
      const svc = new FakeService(s, id, this.log);
      node.svcs.set(s, svc);
      node.engine.register(svc);
    }
    this.nodes.set(id, node);
    return node;
  }

  node(id: number): Node {
    return this.nodes.get(id)!;
  }

  /**
   * A new ring `members` / `ring`: every new member gets TRANSITIONAL (its old members that
   * stay; empty for a node's first ring, as totemsrp starts with an empty member list) then
   * REGULAR. `queued` says what happens to undelivered messages: delivered first
   * ('flush', EVS), lost ('drop'), or kept to be delivered late in the new ring ('keep').
   */
  confchg(members: number[], ring: RingId, queued: 'flush' | 'drop' | 'keep' = 'drop'): void {
    if (queued === 'flush') this.deliverAll();
    if (queued === 'drop') this.queue = [];
    for (const id of members) {
      const n = this.node(id);
      const trans = n.members.filter((m) => members.includes(m));
      const left = n.members.filter((m) => !members.includes(m));
      const joined = members.filter((m) => !trans.includes(m));
      n.engine.confchg('transitional', trans, left, [], ring);
      n.engine.confchg('regular', members, [], joined, ring);
      n.members = [...members];
      n.effects.push(...n.engine.drain());
    }
    this.members = [...members];
  }

  /** Run every member's process worker (ascending id). True if any had work. */
  runWorkers(): boolean {
    let any = false;
    for (const id of [...this.members].sort((a, b) => a - b)) {
      const n = this.node(id);
      if (n.engine.sync.hasPendingWork) any = true;
      n.engine.runPending();
      n.effects.push(...n.engine.drain());
    }
    return any;
  }

  /** Deliver the oldest queued message to every member. False when the queue is empty. */
  deliverOne(): boolean {
    const w = this.queue.shift();
    if (!w) return false;
    this.delivered.push(w);
    for (const id of this.members) {
      const n = this.node(id);
      n.engine.deliver(w.group, w.from, w.msg);
      n.effects.push(...n.engine.drain());
    }
    return true;
  }

  deliverAll(): void {
    while (this.deliverOne());
  }

  /** Alternate workers and single deliveries until nothing moves (bounded). */
  run(until: () => boolean = () => false, limit = 1000): void {
    for (let i = 0; i < limit; i++) {
      if (until()) return;
      const worked = this.runWorkers();
      const moved = this.deliverOne();
      if (!worked && !moved && this.queue.length === 0) {
        // workers may have queued nothing and there is nothing left: quiescent
        if (!this.members.some((id) => this.node(id).engine.sync.hasPendingWork)) return;
      }
    }
    if (!until()) assert.fail('cluster did not settle');
  }

  /** What a node's fake services saw, without the node prefix. */
  events(id: number, filter?: RegExp): string[] {
    const p = `n${id} `;
    return this.log
      .filter((l) => l.startsWith(p) && (!filter || filter.test(l)))
      .map((l) => l.slice(p.length));
  }

  /** The delivered sync messages and service messages as short strings. */
  wireLog(): string[] {
    return this.delivered.map((w) => {
      if (w.group === 'sync') {
        const r = decodeSyncMessage(w.msg);
        assert.ok(r.ok);
        return r.value.kind === 'barrier'
          ? `${w.from}:barrier ${formatRingId(r.value.ringId)}`
          : `${w.from}:build ${formatRingId(r.value.ringId)} [${r.value.services.join(',')}]`;
      }
      const svc = w.msg.readUInt32LE(0) >>> 16;
      return `${w.from}:${NAMES[svc] ?? svc}`;
    });
  }

  completed(id: number): ExecEffect[] {
    return this.node(id).effects.filter((e) => e.kind === 'sync-completed');
  }
}

const R = (rep: number, seq: number): RingId => ringId(rep, seq);

describe('sync engine: one node', () => {
  it('runs init for all, then process/barrier/activate per service in id order, and completes', () => {
    const c = new Cluster();
    c.add(1);
    c.confchg([1], R(1, 4));
    assert.equal(c.node(1).engine.syncInProgress, true);
    assert.equal(c.node(1).engine.ready, false);
    c.run();
    assert.deepEqual(c.events(1), [
      'cmap init trans=[] members=[1] ring=1.4',
      'cpg init trans=[] members=[1] ring=1.4',
      'quorum init trans=[] members=[1] ring=1.4',
      'votequorum init trans=[] members=[1] ring=1.4',
      'cmap process',
      'cmap rx from 1 (1)',
      'cmap activate sync=true',
      'cpg process',
      'cpg rx from 1 (1)',
      'cpg activate sync=true',
      'quorum process',
      'quorum rx from 1 (1)',
      'quorum activate sync=true',
      'votequorum process',
      'votequorum rx from 1 (1)',
      'votequorum activate sync=true',
    ]);
    assert.deepEqual(c.wireLog(), [
      '1:build 1.4 [0,2,3,5]',
      '1:cmap',
      '1:barrier 1.4',
      '1:cpg',
      '1:barrier 1.4',
      '1:quorum',
      '1:barrier 1.4',
      '1:votequorum',
      '1:barrier 1.4',
    ]);
    const n = c.node(1);
    assert.deepEqual(c.completed(1), [{ kind: 'sync-completed', ringId: R(1, 4), first: true }]);
    assert.equal(n.engine.syncInProgress, false);
    assert.equal(n.engine.ready, true);
    assert.ok(n.logs.includes('Completed service synchronization, ready to provide service.'));
    assert.ok(n.logs.includes('Committing synchronization for cmap'));
    assert.equal(n.engine.sync.hasPendingWork, false);
  });

  it('a node without sync services completes as soon as its own SERVICE_BUILD is back', () => {
    const c = new Cluster();
    c.add(1, []);
    c.confchg([1], R(1, 4));
    assert.deepEqual(c.completed(1), []);
    c.run();
    assert.deepEqual(c.wireLog(), ['1:build 1.4 []']);
    assert.equal(c.completed(1).length, 1);
  });
});

describe('sync engine: several nodes', () => {
  for (const n of [2, 3]) {
    it(`${n} nodes: every node activates cmap → cpg → quorum → votequorum after all barriers of each`, () => {
      const c = new Cluster();
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      for (const id of ids) c.add(id);
      c.confchg(ids, R(1, 8));
      c.run();
      for (const id of ids) {
        assert.deepEqual(
          c.events(id, /activate/),
          [
            'cmap activate sync=true',
            'cpg activate sync=true',
            'quorum activate sync=true',
            'votequorum activate sync=true',
          ],
          `node ${id}`,
        );
        assert.equal(c.completed(id).length, 1);
        // each node received every node's sync data of every service
        assert.equal(c.events(id, / rx from /).length, 4 * n);
      }
      // in the agreed order: per service, all data and all barriers before the next service
      const wire = c.wireLog();
      assert.equal(wire.filter((w) => w.includes('build')).length, n);
      assert.equal(wire.filter((w) => w.includes('barrier')).length, 4 * n);
      const afterBuilds = wire.slice(n);
      const perService = ['cmap', 'cpg', 'quorum', 'votequorum'];
      let pos = 0;
      for (const svc of perService) {
        const chunk = afterBuilds.slice(pos, pos + 2 * n);
        assert.equal(chunk.filter((w) => w.endsWith(`:${svc}`)).length, n, `${svc}: ${chunk.join(' ')}`);
        assert.equal(chunk.filter((w) => w.includes('barrier 1.8')).length, n, `${svc}: ${chunk.join(' ')}`);
        // each node's data precedes its own barrier
        for (const id of ids) {
          assert.ok(chunk.indexOf(`${id}:${svc}`) < chunk.indexOf(`${id}:barrier 1.8`));
        }
        pos += 2 * n;
      }
      // activation happens on the delivery of the last barrier of the service: the activation
      // of service i on every node precedes any data of service i+1 on that node
      for (const id of ids) {
        const ev = c.events(id);
        assert.ok(ev.indexOf('cmap activate sync=true') < ev.findIndex((e) => e.startsWith('cpg rx')));
        assert.ok(ev.indexOf('cpg activate sync=true') < ev.findIndex((e) => e.startsWith('quorum rx')));
      }
    });
  }

  it('service lists are united: a node without votequorum runs a dummy for id 5 and still sends its barrier', () => {
    const c = new Cluster();
    c.add(1, [0, 2, 3, 5]);
    c.add(2, [0, 2, 3]);
    c.confchg([1, 2], R(1, 8));
    let sawDummy = false;
    c.run(() => {
      const cur = c.node(2).engine.sync.currentService;
      if (cur?.id === 5) {
        assert.deepEqual(cur, { id: 5, name: unknownServiceName(5), dummy: true });
        assert.equal(cur.name, 'Unknown External Service (id = 5)');
        sawDummy = true;
      }
      return false;
    });
    assert.ok(sawDummy);
    assert.deepEqual(c.node(1).engine.sync.serviceList, [0, 2, 3, 5]);
    assert.deepEqual(c.node(2).engine.sync.serviceList, [0, 2, 3, 5]);
    const wire = c.wireLog();
    assert.deepEqual(wire.slice(0, 2).sort(), ['1:build 1.8 [0,2,3,5]', '2:build 1.8 [0,2,3]']);
    assert.equal(wire.filter((w) => w === '2:barrier 1.8').length, 4);
    assert.equal(wire.filter((w) => w === '1:barrier 1.8').length, 4);
    // votequorum data of node 1 only; node 2 has no such service (message dropped there)
    assert.deepEqual(
      wire.filter((w) => w.endsWith(':votequorum')),
      ['1:votequorum'],
    );
    assert.deepEqual(c.events(2, /votequorum/), []);
    assert.equal(c.node(2).engine.stats.notLoaded, 1);
    assert.equal(c.completed(1).length, 1);
    assert.equal(c.completed(2).length, 1);
    assert.ok(c.node(2).logs.includes('Committing synchronization for Unknown External Service (id = 5)'));
  });

  it('the dummy is inserted in id order: lists [0,3] and [2,5] are walked as 0,2,3,5 on both', () => {
    const c = new Cluster();
    c.add(1, [0, 3]);
    c.add(2, [2, 5]);
    c.confchg([1, 2], R(2, 8));
    c.run();
    assert.deepEqual(c.node(1).engine.sync.serviceList, [0, 2, 3, 5]);
    assert.deepEqual(c.node(2).engine.sync.serviceList, [0, 2, 3, 5]);
    assert.deepEqual(c.events(1, /activate/), ['cmap activate sync=true', 'quorum activate sync=true']);
    assert.deepEqual(c.events(2, /activate/), ['cpg activate sync=true', 'votequorum activate sync=true']);
    assert.equal(c.wireLog().filter((w) => w.includes('barrier')).length, 8);
  });

  it('process() that is not done is called again on the next worker run; the barrier waits for it', () => {
    const c = new Cluster();
    c.add(1);
    c.add(2);
    c.node(2).svcs.get(2)!.notDone = 3;
    c.confchg([1, 2], R(1, 8));
    c.run();
    assert.deepEqual(c.events(2, /cpg process/).length, 4);
    assert.equal(c.events(1, /cpg process/).length, 1);
    assert.equal(c.completed(1).length, 1);
    assert.equal(c.completed(2).length, 1);
    // node 1 waited in BARRIER for cpg: its quorum process ran only after node 2's cpg barrier
    const wire = c.wireLog();
    assert.ok(wire.indexOf('2:cpg') < wire.indexOf('1:quorum'));
  });

  it('sends refused with TRY_AGAIN are retried in order by the worker', () => {
    const c = new Cluster();
    c.add(1);
    c.add(2);
    c.node(2).refuse = true;
    c.confchg([1, 2], R(1, 8));
    // node 2's SERVICE_BUILD did not go out
    c.deliverAll();
    assert.deepEqual(c.wireLog(), ['1:build 1.8 [0,2,3,5]']);
    assert.equal(c.node(2).engine.sync.hasPendingWork, true);
    c.runWorkers();
    c.runWorkers();
    assert.equal(c.node(2).engine.sync.stats.sendRetries >= 2, true);
    c.node(2).refuse = false;
    c.run();
    assert.equal(c.completed(1).length, 1);
    assert.equal(c.completed(2).length, 1);
    assert.equal(c.wireLog().filter((w) => w === '2:barrier 1.8').length, 4);
  });

  it('messages from a node outside the member list are ignored', () => {
    const c = new Cluster();
    c.add(1);
    c.add(2);
    c.confchg([1, 2], R(1, 8));
    const n1 = c.node(1);
    n1.engine.deliver('sync', 9, encodeSyncServiceBuild(R(1, 8), [0, 7]));
    n1.engine.deliver('sync', 9, encodeSyncBarrier(R(1, 8)));
    assert.equal(n1.engine.sync.stats.ignored, 2);
    c.run();
    assert.deepEqual(n1.engine.sync.serviceList, [0, 2, 3, 5]);
    assert.equal(c.completed(1).length, 1);
  });

  it('malformed and other-byte-order sync messages are dropped with a log line', () => {
    const c = new Cluster();
    c.add(1);
    c.confchg([1], R(1, 4));
    const e = c.node(1).engine;
    e.deliver('sync', 1, Buffer.alloc(10));
    e.deliver('sync', 1, encodeSyncBarrier(R(1, 4)), true);
    const bad = encodeSyncServiceBuild(R(1, 4), [0]);
    bad.writeInt32LE(500, 32);
    e.deliver('sync', 1, bad);
    assert.equal(e.sync.stats.malformed, 3);
    assert.ok(c.node(1).logs.some((l) => l.includes('other byte order')));
    c.run();
    assert.equal(c.completed(1).length, 1);
  });
});

describe('sync engine: configuration changes during a round', () => {
  it('a new configuration aborts the current service in PROCESS, discards old-ring messages, and restarts with init for all', () => {
    const c = new Cluster();
    for (const id of [1, 2, 3]) c.add(id);
    c.node(3).svcs.get(2)!.notDone = 1000; // node 3 is stuck in cpg's process
    c.confchg([1, 2, 3], R(1, 8));
    c.run(() => c.events(1).includes('cmap activate sync=true') && c.node(1).engine.sync.state === 'barrier');
    // nodes 1 and 2 sent their cpg barrier (BARRIER state); node 3 is in PROCESS for cpg
    c.run(() => c.node(2).engine.sync.state === 'barrier' && c.queue.length === 0);
    assert.equal(c.node(3).engine.sync.state, 'process');
    assert.equal(c.node(3).engine.sync.currentService?.name, 'cpg');
    // a late barrier of the old ring, sent by node 1 just before the change
    c.queue.push({ seq: 9999, from: 1, group: 'sync', msg: encodeSyncBarrier(R(1, 8)) });
    c.node(3).svcs.get(2)!.notDone = 0;
    c.log.length = 0;
    c.confchg([1, 2, 3], R(1, 12), 'keep');
    // known weakness kept: only the node in PROCESS calls abort; nodes in BARRIER do not
    assert.deepEqual(c.events(3, /abort/), ['cpg abort']);
    assert.deepEqual(c.events(1, /abort/), []);
    assert.deepEqual(c.events(2, /abort/), []);
    // fresh init of every service, with the new lists
    for (const id of [1, 2, 3]) {
      assert.deepEqual(c.events(id, /init/), [
        'cmap init trans=[1,2,3] members=[1,2,3] ring=1.c',
        'cpg init trans=[1,2,3] members=[1,2,3] ring=1.c',
        'quorum init trans=[1,2,3] members=[1,2,3] ring=1.c',
        'votequorum init trans=[1,2,3] members=[1,2,3] ring=1.c',
      ]);
    }
    const before = c.node(2).engine.sync.stats.oldRing;
    c.run();
    assert.ok(c.node(2).engine.sync.stats.oldRing > before, 'the late barrier was discarded');
    assert.ok(c.node(2).logs.includes('barrier for old ring - discarding'));
    for (const id of [1, 2, 3]) {
      assert.deepEqual(c.events(id, /activate/), [
        'cmap activate sync=true',
        'cpg activate sync=true',
        'quorum activate sync=true',
        'votequorum activate sync=true',
      ]);
      assert.deepEqual(c.completed(id), [{ kind: 'sync-completed', ringId: R(1, 12), first: true }]);
    }
    // abort is called once per aborted round (transitional + regular confchg)
    assert.equal(c.node(3).engine.sync.stats.roundsAborted, 1);
  });

  it('a late SERVICE_BUILD of an old ring is discarded and does not count', () => {
    const c = new Cluster();
    c.add(1);
    c.add(2);
    c.confchg([1, 2], R(1, 8));
    const oldBuilds = c.queue.splice(0);
    c.confchg([1, 2], R(1, 12));
    c.queue.unshift(...oldBuilds);
    c.deliverOne();
    c.deliverOne();
    assert.equal(c.node(1).engine.sync.stats.oldRing, 2);
    assert.ok(c.node(1).logs.includes('service build for old ring - discarding'));
    assert.equal(c.node(1).engine.sync.state, 'servicelist-build');
    c.run();
    assert.equal(c.completed(1).length, 1);
    assert.equal(c.completed(2).length, 1);
  });

  it('a node joining mid-round: the round restarts with the transitional list of the old members', () => {
    const c = new Cluster();
    c.add(1);
    c.add(2);
    c.add(3);
    // nodes 1 and 2 form a ring first (node 3 not yet there)
    c.confchg([1, 2], R(1, 8));
    c.run(() => c.events(1).includes('cpg activate sync=true'));
    c.log.length = 0;
    c.confchg([1, 2, 3], R(1, 12));
    assert.deepEqual(c.events(1, /cmap init/), ['cmap init trans=[1,2] members=[1,2,3] ring=1.c']);
    assert.deepEqual(c.events(2, /cmap init/), ['cmap init trans=[1,2] members=[1,2,3] ring=1.c']);
    assert.deepEqual(c.events(3, /cmap init/), ['cmap init trans=[] members=[1,2,3] ring=1.c']);
    c.run();
    for (const id of [1, 2, 3]) {
      assert.deepEqual(c.events(id, /activate/), [
        'cmap activate sync=true',
        'cpg activate sync=true',
        'quorum activate sync=true',
        'votequorum activate sync=true',
      ]);
      assert.equal(c.completed(id).length, 1);
      assert.equal(c.completed(id)[0]!.kind, 'sync-completed');
    }
  });

  it('a node leaving mid-round: the barrier no longer waits for it', () => {
    const c = new Cluster();
    for (const id of [1, 2, 3]) c.add(id);
    c.node(3).svcs.get(0)!.notDone = 1000; // node 3 never finishes cmap
    c.confchg([1, 2, 3], R(1, 8));
    c.run(
      () =>
        c.node(1).engine.sync.state === 'barrier' &&
        c.node(2).engine.sync.state === 'barrier' &&
        c.queue.length === 0,
    );
    assert.deepEqual(c.completed(1), []);
    c.log.length = 0;
    c.confchg([1, 2], R(1, 12));
    assert.deepEqual(c.events(1, /cmap init/), ['cmap init trans=[1,2] members=[1,2] ring=1.c']);
    c.run();
    assert.equal(c.completed(1).length, 1);
    assert.equal(c.completed(2).length, 1);
  });

  it('sync-started / sync-completed effects and syncInProgress across rounds', () => {
    const c = new Cluster();
    c.add(1);
    c.add(2);
    c.confchg([1, 2], R(1, 8));
    // boot: sync_in_process starts at 1, so no sync-started effect for the first round
    assert.deepEqual(c.node(1).effects, []);
    c.run();
    assert.deepEqual(c.node(1).effects, [{ kind: 'sync-completed', ringId: R(1, 8), first: true }]);
    assert.equal(c.node(1).engine.execApi.syncInProgress(), false);
    c.node(1).effects.length = 0;
    c.confchg([1, 2], R(1, 12));
    assert.deepEqual(c.node(1).effects, [{ kind: 'sync-started', ringId: R(1, 12) }]);
    assert.equal(c.node(1).engine.execApi.syncInProgress(), true);
    assert.deepEqual(c.node(1).engine.execApi.ringId(), R(1, 12));
    assert.deepEqual(c.node(1).engine.execApi.members(), [1, 2]);
    c.run();
    assert.deepEqual(c.node(1).effects.at(-1), { kind: 'sync-completed', ringId: R(1, 12), first: false });
  });
});

describe('cmap config_version through sync (cmap.md §4)', () => {
  function cmapCluster(versions: Record<number, bigint | undefined>): Cluster {
    const c = new Cluster();
    for (const [idStr, v] of Object.entries(versions)) {
      const id = Number(idStr);
      // fake cpg/quorum/votequorum, and the real cmap engine on the node's own icmap
      const node = c.add(id, [2, 3, 5]);
      if (v !== undefined)
        node.icmap.setValue('totem.config_version', { type: CmapValueType.UINT64, value: v });
      const sink = (m: string): void => void node.logs.push(m);
      const cmap = new CmapExecEngine({
        icmap: node.icmap,
        log: { debug: sink, warn: sink, error: sink },
        requestShutdown: (reason) => node.engine.requestShutdown(reason),
      });
      node.engine.register(cmap);
    }
    return c;
  }

  /** Each node forms a ring of its own first (transitional list empty: a single-node sync). */
  const bootAlone = (c: Cluster, ids: number[]): void => {
    for (const id of ids) {
      c.confchg([id], R(id, 4));
      c.run();
    }
  };
  const cv = (c: Cluster, at: number, of: number): bigint | undefined => {
    const v = c.node(at).icmap.getValue(`runtime.members.${of}.config_version`);
    return v?.value as bigint | undefined;
  };
  const shutdowns = (c: Cluster, id: number): ExecEffect[] =>
    c.node(id).effects.filter((e) => e.kind === 'shutdown-request');

  it('a node with an older non-zero config_version that merges into a newer cluster asks to shut down', () => {
    const c = cmapCluster({ 1: 5n, 2: 7n });
    // each node first syncs alone: single-node sync, no check and not the "first sync"
    bootAlone(c, [1, 2]);
    assert.deepEqual(shutdowns(c, 1), []);
    assert.ok(c.node(1).logs.includes('Single node sync -> no action'));
    c.confchg([1, 2], R(1, 8));
    c.run();
    assert.equal(cv(c, 1, 1), 5n);
    assert.equal(cv(c, 1, 2), 7n);
    assert.equal(cv(c, 2, 1), 5n);
    assert.equal(cv(c, 2, 2), 7n);
    const reason = 'Received config version (7) is different than my config version (5)! Exiting';
    assert.deepEqual(shutdowns(c, 1), [{ kind: 'shutdown-request', reason }]);
    assert.ok(c.node(1).logs.includes(reason));
    assert.deepEqual(shutdowns(c, 2), []);
    // the MCAST of the sync carries reason SYNC and the u64 value (336 bytes)
    const m = c.delivered.find((w) => w.group === 'a' && w.from === 1 && w.msg.readUInt32LE(0) === 0);
    assert.ok(m);
    assert.equal(m.msg.length, 336);
    const d = decodeCmapMcast(m.msg);
    assert.ok(d.ok);
    assert.equal(d.value.reason, 0);
  });

  it('equal versions, version 0 and later syncs do nothing', () => {
    const c = cmapCluster({ 1: 3n, 2: 3n, 3: undefined });
    bootAlone(c, [1, 2, 3]);
    c.confchg([1, 2, 3], R(1, 8));
    c.run();
    for (const id of [1, 2, 3]) assert.deepEqual(shutdowns(c, id), []);
    assert.equal(cv(c, 1, 3), 0n);
    assert.ok(c.node(3).logs.includes('My config version is 0 -> no action'));
    // a later multi-node sync is not the first any more
    c.node(1).icmap.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 9n });
    c.confchg([1, 2, 3], R(1, 12), 'flush');
    c.run();
    assert.ok(c.node(2).logs.includes('Not first sync -> no action'));
    for (const id of [1, 2, 3]) assert.deepEqual(shutdowns(c, id), []);
    assert.equal(cv(c, 3, 1), 9n);
  });

  it('changing totem.config_version multicasts NEW_CONFIG_VERSION; receivers record it', () => {
    const c = cmapCluster({ 1: 1n, 2: 1n });
    c.confchg([1, 2], R(1, 8));
    c.run();
    const tx = c.node(1).icmap.getValue('runtime.services.cmap.0.tx')?.value;
    c.node(1).icmap.setValue('totem.config_version', { type: CmapValueType.UINT64, value: 2n });
    assert.equal(c.node(1).icmap.getValue('runtime.services.cmap.0.tx')?.value, (tx as bigint) + 1n);
    c.deliverAll();
    const w = c.delivered.at(-1)!;
    const d = decodeCmapMcast(w.msg);
    assert.ok(d.ok);
    assert.equal(d.value.reason, 1);
    assert.equal(cv(c, 2, 1), 2n);
    assert.equal(cv(c, 1, 1), 2n);
    // deleting the key announces version 0 (item of type 0)
    c.node(1).icmap.delete('totem.config_version');
    c.deliverAll();
    const d2 = decodeCmapMcast(c.delivered.at(-1)!.msg);
    assert.ok(d2.ok);
    assert.equal(d2.value.items[0]!.type, 0);
    assert.equal(c.delivered.at(-1)!.msg.length, 328);
    assert.equal(cv(c, 2, 1), 0n);
  });
});
