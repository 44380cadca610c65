// An in-memory multi-node harness for service engines driven by the real exec layer
// (src/exec/engine.ts): N ExecEngines on an agreed-order bus (every message goes to every
// node of the sender's ring, sender included, in one total order), configuration changes
// in corosync's order (transitional then regular confchg, runtime.members.* keys as the
// totem runtime writes them), the sync protocol run until every node completed, fake IPC
// connections and manual timers, plus the cfg cluster builder. The quorum and cfg service
// tests import it; it has no tests of its own (cfg-service.test.ts checks it).
import { Icmap } from '../../src/cmap/icmap.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { ExecEngine, type ExecGroup, type ExecLogger } from '../../src/exec/engine.js';
import type { ServiceEngine } from '../../src/exec/service-engine.js';
import { RESPONSE_HEADER_SIZE, allocResponse } from '../../src/ipc/frame.js';
import type { IpcConnection, IpcServiceDefinition } from '../../src/ipc/server.js';
import { type RingId, ringId } from '../../src/totem/wire/seq.js';
import { parseConfigText } from '../../src/config/load.js';
import { EMPTY_USER_DB } from '../../src/config/parser.js';
import { type StartupEnv, buildStartupMap } from '../../src/config/totem.js';
import { CfgService, type CfgServiceOptions } from '../../src/services/cfg/service.js';

let tokenSeq = 0x7000;

/** A client connection as a service sees it; records what the service sends back. */
export class FakeConn implements IpcConnection {
  readonly token: string;
  readonly serviceId: number;
  readonly maxMsgSize = 1024 * 1024;
  privateData: unknown;
  closed = false;
  readonly responses: Buffer[] = [];
  readonly events: Buffer[] = [];
  private readonly hooks: Array<() => void> = [];

  constructor(
    private readonly def: IpcServiceDefinition<unknown>,
    readonly pid = 1000,
  ) {
    this.serviceId = def.id;
    this.token = `0x${(tokenSeq++).toString(16)}`;
    this.privateData = def.init(this);
  }

  respond(frame: Buffer): void {
    if (!this.closed) this.responses.push(Buffer.from(frame));
  }

  sendEvent(frame: Buffer): void {
    if (!this.closed) this.events.push(Buffer.from(frame));
  }

  addCloseHook(hook: () => void): void {
    this.hooks.push(hook);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.def.exit(this, this.privateData);
    for (const h of this.hooks.splice(0)) h();
  }

  /**
   * Hand a request frame to the service as the IPC server core does (unknown id → bare
   * INVALID_PARAM, malformed → closed). Returns the responses it produced.
   */
  request(frame: Buffer): Buffer[] {
    const before = this.responses.length;
    const id = frame.readInt32LE(0);
    if (id < 0 || id >= this.def.requestCount) {
      this.respond(allocResponse(0, RESPONSE_HEADER_SIZE, CsErrorCode.CS_ERR_INVALID_PARAM));
    } else if (this.def.checkRequest(frame) !== undefined) {
      this.close();
    } else {
      this.def.handle(this, this.privateData, frame);
    }
    return this.responses.slice(before);
  }

  /** Responses and events received so far (and forget them). */
  takeResponses(): Buffer[] {
    return this.responses.splice(0);
  }

  takeEvents(): Buffer[] {
    return this.events.splice(0);
  }
}

/** Timers fired by hand. */
export class ManualTimers {
  private seq = 0;
  readonly armed = new Map<number, { ms: number; fire: () => void }>();

  set(ms: number, fire: () => void): unknown {
    const h = ++this.seq;
    this.armed.set(h, { ms, fire });
    return h;
  }

  clear(handle: unknown): void {
    this.armed.delete(handle as number);
  }

  /** Fire every armed timer (in arming order). */
  fireAll(): void {
    for (const [h, t] of [...this.armed]) {
      this.armed.delete(h);
      t.fire();
    }
  }
}

/** A logger that records "level: message" lines. */
export function recordingLogger(lines: string[]): ExecLogger {
  const lvl = (l: string) => (m: string) => void lines.push(`${l}: ${m}`);
  return {
    debug: lvl('debug'),
    info: lvl('info'),
    notice: lvl('notice'),
    warn: lvl('warn'),
    error: lvl('error'),
  };
}

interface BusMessage {
  readonly from: number;
  readonly group: ExecGroup;
  readonly bytes: Buffer;
  readonly guarantee: number;
}

/** One node: its icmap, exec layer, log lines and current ring. */
export class ExecNode {
  readonly icmap = new Icmap();
  readonly logs: string[] = [];
  readonly log = recordingLogger(this.logs);
  readonly exec: ExecEngine;
  members: number[] = [];
  ring: RingId = ringId(0, 0);
  alive = true;
  /** While true every multicast answers CS_ERR_TRY_AGAIN (totem queue full). */
  queueFull = false;
  /** Everything this node multicast in group "a". */
  readonly sent: BusMessage[] = [];

  constructor(
    readonly id: number,
    private readonly cluster: ExecCluster,
  ) {
    this.exec = new ExecEngine({
      nodeId: id,
      icmap: this.icmap,
      log: this.log,
      send: (group, iov, guarantee) => {
        if (this.queueFull) return CsErrorCode.CS_ERR_TRY_AGAIN;
        const m = { from: id, group, bytes: Buffer.concat(iov), guarantee };
        if (group === 'a') this.sent.push(m);
        this.cluster.queue.push(m);
        return CsErrorCode.CS_OK;
      },
    });
  }

  /** Open a client connection to a service of this node. */
  connect<S>(def: IpcServiceDefinition<S>, pid = 1000): FakeConn {
    return new FakeConn(def as IpcServiceDefinition<unknown>, pid);
  }

  /** Log lines containing `text`. */
  logsWith(text: string): string[] {
    return this.logs.filter((l) => l.includes(text));
  }
}

/** N nodes on an agreed-order bus. */
export class ExecCluster {
  readonly nodes = new Map<number, ExecNode>();
  readonly queue: BusMessage[] = [];
  /** Group "a" messages in delivery order. */
  readonly delivered: BusMessage[] = [];
  private seq = 0;

  constructor(ids: readonly number[], services: (node: ExecNode) => ServiceEngine[]) {
    for (const id of ids) {
      const n = new ExecNode(id, this);
      this.nodes.set(id, n);
      for (const s of services(n)) n.exec.register(s);
    }
  }

  node(id: number): ExecNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Deliver every queued message (and whatever the deliveries send) in agreed order. */
  flush(): void {
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 100_000) throw new Error('bus does not settle');
      const m = this.queue.shift()!;
      const sender = this.nodes.get(m.from);
      if (!sender?.alive) continue;
      if (m.group === 'a') this.delivered.push(m);
      for (const id of sender.members) {
        const n = this.nodes.get(id);
        if (n?.alive) n.exec.deliver(m.group, m.from, m.bytes);
      }
    }
  }

  /**
   * Form the given rings (partitions): transitional and regular confchg on every node of each
   * ring, runtime.members.* as the totem runtime keeps them, then the sync protocol until it
   * completed everywhere.
   */
  form(rings: number[][]): void {
    this.flush();
    for (const members of rings) {
      const sorted = [...members].sort((a, b) => a - b);
      const ring = ringId(sorted[0]!, ++this.seq * 4);
      for (const id of sorted) {
        const n = this.node(id);
        const old = n.members;
        const trans = old.filter((x) => sorted.includes(x));
        const left = old.filter((x) => !sorted.includes(x));
        const joined = sorted.filter((x) => !trans.includes(x));
        this.members(n, left, []);
        n.exec.confchg('transitional', trans, left, [], n.ring);
        this.members(n, [], joined);
        n.members = sorted;
        n.ring = ring;
        n.exec.confchg('regular', sorted, [], joined, ring);
      }
    }
    this.settle();
  }

  /** Run the sync process workers and deliveries until no node is syncing. */
  settle(): void {
    for (let guard = 0; ; guard++) {
      if (guard > 10_000) throw new Error('sync does not complete');
      this.flush();
      let pending = false;
      for (const n of this.nodes.values()) {
        if (!n.alive) continue;
        if (n.exec.runPending()) pending = true;
      }
      this.flush();
      const syncing = [...this.nodes.values()].some((n) => n.alive && n.exec.syncInProgress);
      if (!pending && !syncing && this.queue.length === 0) return;
    }
  }

  private members(n: ExecNode, left: readonly number[], joined: readonly number[]): void {
    const set = (key: string, value: string) => n.icmap.setValue(key, { type: CmapValueType.STRING, value });
    for (const id of left) set(`runtime.members.${id}.status`, 'left');
    for (const id of joined) {
      if (n.icmap.has(`runtime.members.${id}.ip`)) n.icmap.adjustInt(`runtime.members.${id}.join_count`, 1);
      else {
        set(`runtime.members.${id}.ip`, `r(0) ip(127.0.0.${id}) `);
        n.icmap.setValue(`runtime.members.${id}.join_count`, { type: CmapValueType.UINT32, value: 1 });
      }
      set(`runtime.members.${id}.status`, 'joined');
    }
  }
}

export const CONF3 = nodelistConf([1, 2, 3]);

/** A udpu config with nodes `ids` on 127.0.0.<id>; `totem` adds lines to the totem section. */
export function nodelistConf(ids: number[], totem = '', extra = ''): string {
  const nodes = ids.map((id) => `  node {\n    nodeid: ${id}\n    ring0_addr: 127.0.0.${id}\n  }\n`).join('');
  return (
    `totem {\n  version: 2\n  cluster_name: test\n  transport: udpu\n${totem}}\n` +
    `nodelist {\n${nodes}}\n` +
    `quorum {\n  provider: corosync_votequorum\n}\n` +
    `logging {\n  to_stderr: no\n}\n${extra}`
  );
}

export function envFor(id: number): StartupEnv {
  return { hostname: 'host', localAddresses: [], localNodeIdOverride: id };
}

export interface NodeCtl {
  svc: CfgService;
  timers: ManualTimers;
  shutdowns: string[];
  kills: Array<{ reason: string; from: number }>;
}

export function cfgCluster(
  ids: number[],
  confText: (id: number) => string = () => CONF3,
  extra: (n: ExecNode) => Partial<CfgServiceOptions> = () => ({}),
): { c: ExecCluster; ctl: Map<number, NodeCtl> } {
  const ctl = new Map<number, NodeCtl>();
  const c = new ExecCluster(ids, (n) => {
    const startup = buildStartupMap(
      parseConfigText(confText(n.id), 'test.conf', { userDb: EMPTY_USER_DB }),
      envFor(n.id),
    );
    for (const [k, v] of startup.map) n.icmap.set(k, v.type, v.bytes);
    const timers = new ManualTimers();
    const shutdowns: string[] = [];
    const kills: Array<{ reason: string; from: number }> = [];
    const svc = new CfgService({
      icmap: n.icmap,
      totem: startup.totem,
      timers,
      requestShutdown: (r) => shutdowns.push(r),
      kill: (reason, from) => kills.push({ reason, from }),
      log: n.log,
      ...extra(n),
    });
    ctl.set(n.id, { svc, timers, shutdowns, kills });
    return [svc];
  });
  return { c, ctl };
}
