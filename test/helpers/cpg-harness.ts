/**
 * An in-memory multi-node harness for the CPG service engine: N CpgService instances, an
 * "agreed order" bus that delivers every multicast to every node of the sender's ring
 * (sender included) in one total order, membership changes driven the way corosync's sync
 * engine drives services (init on every node, process until done, deliver, activate), and
 * fake IPC connections that record responses and dispatched callbacks.
 */
import { CsErrorCode } from '../../src/common/errors.js';
import type { ExecApi } from '../../src/exec/service-engine.js';
import type { IpcServiceDefinition } from '../../src/ipc/server.js';
import { type RingId, ringId } from '../../src/totem/wire/index.js';
import {
  type CpgAddress,
  type CpgName,
  type CpgResponse,
  cpgName,
  cpgNameToString,
  cpgReasonName,
  decodeCpgResponse,
  encodeCpgRequest,
} from '../../src/services/cpg/codec.js';
import { CpgService, type CpgServiceOptions } from '../../src/services/cpg/service.js';
import { FakeConn as BaseFakeConn } from './exec-harness.js';

/**
 * A CPG client connection as the service sees it: the generic fake of exec-harness.ts plus
 * CPG request helpers; records what the service sends back.
 */
export class FakeConn extends BaseFakeConn {
  constructor(def: IpcServiceDefinition<unknown>, pid: number) {
    super(def, pid);
  }

  /** Hand a raw request frame to the service (see BaseFakeConn.request). */
  raw(frame: Buffer): Buffer[] {
    return this.request(frame);
  }

  /** Send a request; returns the decoded single response, or undefined when none came. */
  call(req: Parameters<typeof encodeCpgRequest>[0]): CpgResponse | undefined {
    const out = this.raw(encodeCpgRequest(req));
    if (out.length === 0) return undefined;
    if (out.length !== 1) throw new Error(`${out.length} responses to one request`);
    const r = decodeCpgResponse(out[0]!);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  }

  /** The error code of the single response to `req` (throws when there was none). */
  error(req: Parameters<typeof encodeCpgRequest>[0]): number {
    const r = this.call(req);
    if (!r) throw new Error('no response');
    return r.error;
  }

  join(group: string, flags = 0, pid = this.pid): number {
    return this.error({ kind: 'join', group: cpgName(group), pid, flags });
  }

  leave(group: string, pid = this.pid): number {
    return this.error({ kind: 'leave', group: cpgName(group), pid });
  }

  mcast(data: string | Buffer): void {
    const message = typeof data === 'string' ? Buffer.from(data) : data;
    const r = this.call({ kind: 'mcast', guarantee: 0, message });
    if (r) throw new Error('MCAST got a response');
  }

  /** Decoded callbacks received so far (and forget them). */
  take(): CpgResponse[] {
    return this.events.splice(0).map((f) => {
      const r = decodeCpgResponse(f);
      if (!r.ok) throw new Error(r.error);
      return r.value;
    });
  }

  /** Callbacks rendered as short lines (and forget them). */
  lines(): string[] {
    return this.take().map(renderEvent);
  }
}

const addr = (a: CpgAddress, reason: boolean): string =>
  `${a.nodeid}/${a.pid}${reason ? `:${cpgReasonName(a.reason)}` : ''}`;

/** One line per callback, in the words of b-cpg-messages.deliveries.txt. */
export function renderEvent(e: CpgResponse): string {
  switch (e.kind) {
    case 'confchg':
      return (
        `cpg_confchg group=${cpgNameToString(e.group)} members=${e.members.map((a) => addr(a, false)).join(',')} ` +
        `left=${e.left.map((a) => addr(a, true)).join(',')} joined=${e.joined.map((a) => addr(a, true)).join(',')}`
      );
    case 'deliver':
      return `deliver from=${e.nodeid}/${e.pid} len=${e.message.length} data="${e.message.subarray(0, 64).toString('latin1')}"`;
    case 'partial_deliver':
      return `partial from=${e.nodeid}/${e.pid} type=${e.type} msglen=${e.msglen} frag="${e.fragment.toString('latin1')}"`;
    case 'totem_confchg':
      return `totem_confchg ring=${e.ringId.nodeid}.${e.ringId.seq} members=${e.members.join(',')}`;
    default:
      return `${e.kind} error=${e.error}`;
  }
}

/** A message on the bus. */
export interface BusMessage {
  readonly from: number;
  readonly fn: number;
  readonly buf: Buffer;
}

/** One node: an engine, its fake exec API and its clients. */
export class CpgNode {
  readonly engine: CpgService;
  readonly api: ExecApi;
  ring: RingId = ringId(0, 0);
  ringMembers: number[] = [];
  syncing = true;
  /** While true, every mcast answers CS_ERR_TRY_AGAIN (totem queue full). */
  queueFull = false;
  alive = true;
  /** Every buffer this node multicast, in order. */
  readonly sent: BusMessage[] = [];

  constructor(
    readonly id: number,
    private readonly cluster: CpgCluster | undefined,
    opts: CpgServiceOptions = {},
  ) {
    this.engine = new CpgService(opts);
    this.api = {
      nodeId: id,
      mcast: (service, fn, iov) => {
        if (service !== 2) throw new Error(`cpg sent for service ${service}`);
        if (this.queueFull) return CsErrorCode.CS_ERR_TRY_AGAIN;
        const buf = Buffer.concat(Buffer.isBuffer(iov) ? [iov] : [...iov]);
        const m = { from: id, fn, buf };
        this.sent.push(m);
        this.cluster?.queue.push(m);
        return CsErrorCode.CS_OK;
      },
      syncInProgress: () => this.syncing,
      ringId: () => this.ring,
      members: () => this.ringMembers,
    };
    this.engine.init(this.api);
  }

  connect(pid: number): FakeConn {
    return new FakeConn(this.engine.ipc as IpcServiceDefinition<unknown>, pid);
  }
}

/** N nodes on an agreed-order bus. */
export class CpgCluster {
  readonly nodes = new Map<number, CpgNode>();
  readonly queue: BusMessage[] = [];
  /** Every message delivered, in agreed order. */
  readonly delivered: BusMessage[] = [];
  private seq = 0;

  constructor(
    ids: readonly number[],
    private readonly opts: CpgServiceOptions = {},
  ) {
    for (const id of ids) this.addNode(id);
  }

  addNode(id: number): CpgNode {
    const n = new CpgNode(id, this, this.opts);
    this.nodes.set(id, n);
    return n;
  }

  node(id: number): CpgNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Deliver every queued message (and whatever deliveries cause) in agreed order. */
  flush(): void {
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 100_000) throw new Error('bus does not settle');
      const m = this.queue.shift()!;
      const sender = this.nodes.get(m.from);
      if (!sender || !sender.alive) continue;
      this.delivered.push(m);
      for (const id of sender.ringMembers) {
        const n = this.nodes.get(id);
        if (n?.alive) n.engine.deliver(m.fn, m.buf, m.from);
      }
    }
  }

  /** A node dies: its queued messages are lost, it leaves every ring. */
  crash(id: number): void {
    const n = this.node(id);
    n.alive = false;
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.from === id) this.queue.splice(i, 1);
  }

  /**
   * Form new rings (one per partition) as totem + the sync engine would: messages of the old
   * rings are delivered first; then, per partition, every node gets sync init with
   * trans = (its old ring ∩ partition), `process` is called until done (`beforeRetry` runs
   * between attempts), the sync traffic is delivered and every node activates.
   */
  form(partitions: readonly (readonly number[])[], beforeRetry?: (node: CpgNode) => void): void {
    this.flush();
    for (const part of partitions) {
      const members = [...part].sort((a, b) => a - b);
      const ring = ringId(members[0]!, ++this.seq * 4);
      const nodes = members.map((id) => this.node(id));
      for (const n of nodes) {
        const trans = n.ringMembers.filter((id) => members.includes(id));
        n.syncing = true;
        n.ring = ring;
        n.ringMembers = members;
        n.engine.sync!.init(trans, members, ring);
      }
      for (const n of nodes) {
        let tries = 0;
        while (!n.engine.sync!.process()) {
          if (++tries > 100) throw new Error(`node ${n.id}: sync process never done`);
          beforeRetry?.(n);
        }
      }
      this.flush();
      for (const n of nodes) n.engine.sync!.activate();
      for (const n of nodes) n.syncing = false;
    }
  }
}

export const name = (s: string): CpgName => cpgName(s);
