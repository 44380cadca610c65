/**
 * A one-process stand-in for the daemon side of votequorum, quorum and cfg (plus a real cmap
 * service over an Icmap filled like corosync's), for client library and tool tests while the
 * real services (src/services/{votequorum,quorum,cfg}) are being written.
 *
 * The model follows spec votequorum.md §4/§7/§10 and cfg.md §2 closely enough for the IPC
 * semantics (replies, errors, notification order and contents) but it is not the cluster
 * engine: membership changes are made by the test (`setMembership`), everything is local and
 * applied at once.
 *
 *   const d = await startQuorumDaemon({ nodes: [{ nodeid: 1, name: 'node1', addrs: ['10.0.0.1'] }, …] });
 *   try { const h = await VotequorumHandle.initialize(cbs, { runDir: d.runDir }); … }
 *   finally { await d.close(); }
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Icmap, icmapIpcView } from '../../src/cmap/icmap.js';
import { StatsMap } from '../../src/cmap/stats.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { IpcServer, type IpcConnection, type IpcLogger } from '../../src/ipc/server.js';
import { createCmapService } from '../../src/services/cmap/service.js';
import { EMPTY_VQ_INFO, type VotequorumInfo } from '../../src/client/votequorum.js';
import { EMPTY_LINK_STATUS, type CfgNodeStatusV1 } from '../../src/client/cfg.js';
import {
  TrackFlag as CsTrack,
  decodeVqRequest as decodeVqWire,
  encodeVqExpectedVotesNotification,
  encodeVqGetinfo,
  encodeVqNodelistNotification,
  encodeVqQuorumNotification,
  encodeVqStatus,
} from '../../src/services/votequorum/codec.js';
import {
  QuorumResId,
  decodeQuorumRequest,
  encodeQuorumResponse,
  type QuorumRingId,
} from '../../src/services/quorum/codec.js';
import {
  CfgReqId,
  CfgResId,
  decodeCfgRequest,
  encodeCfgBareResponse,
  encodeCfgResponse,
  type CfgLinkStatus,
} from '../../src/services/cfg/codec.js';
import type { CodecResult } from '../../src/exec/codec.js';

// ---- adapters from the fake's simple shapes to the service codecs ----

type VqReq =
  | { kind: 'getinfo'; nodeid: number }
  | { kind: 'setexpected'; expectedVotes: number }
  | { kind: 'setvotes'; nodeid: number; votes: number }
  | { kind: 'trackstart'; context: bigint; flags: number }
  | { kind: 'trackstop' }
  | { kind: 'qdevice_register' | 'qdevice_unregister'; name: string }
  | { kind: 'qdevice_update'; oldname: string; newname: string }
  | { kind: 'qdevice_poll'; name: string; castVote: number; ringId: QuorumRingId }
  | { kind: 'qdevice_master_wins'; name: string; allow: number };

function decodeVqRequest(frame: Buffer): CodecResult<VqReq> {
  const d = decodeVqWire(frame);
  if (!d.ok) return d;
  const r = d.value;
  const ok = (value: VqReq): CodecResult<VqReq> => ({ ok: true, value });
  const utf8 = (n: { name: string }): string => Buffer.from(n.name, 'latin1').toString('utf8');
  switch (r.kind) {
    case 'getinfo':
      return ok({ kind: 'getinfo', nodeid: r.nodeId });
    case 'setexpected':
      return ok({ kind: 'setexpected', expectedVotes: r.expectedVotes });
    case 'setvotes':
      return ok({ kind: 'setvotes', nodeid: r.nodeId, votes: r.votes });
    case 'trackstart':
      return ok({ kind: 'trackstart', context: r.context, flags: r.trackFlags });
    case 'trackstop':
      return ok({ kind: 'trackstop' });
    case 'qdevice_register':
    case 'qdevice_unregister':
      return ok({ kind: r.kind, name: utf8(r.name) });
    case 'qdevice_update':
      return ok({ kind: 'qdevice_update', oldname: utf8(r.oldName), newname: utf8(r.newName) });
    case 'qdevice_poll':
      return ok({
        kind: 'qdevice_poll',
        name: utf8(r.name),
        castVote: r.castVote,
        ringId: { nodeid: r.ringId.rep, seq: r.ringId.seq },
      });
    case 'qdevice_master_wins':
      return ok({ kind: 'qdevice_master_wins', name: utf8(r.name), allow: r.allow });
  }
}

function encodeVqGetinfoResponse(info: VotequorumInfo, error: number): Buffer {
  const { nodeid, ...rest } = info;
  return encodeVqGetinfo(error, { nodeId: nodeid, ...rest });
}

type VqDispatchMsg =
  | { kind: 'quorum'; context: bigint; quorate: number; nodes: readonly { nodeid: number; state: number }[] }
  | { kind: 'nodelist'; context: bigint; ringId: QuorumRingId; nodes: readonly number[] }
  | { kind: 'expectedvotes'; context: bigint; expectedVotes: number };

function encodeVqDispatch(m: VqDispatchMsg): Buffer {
  switch (m.kind) {
    case 'quorum':
      return encodeVqQuorumNotification(
        m.quorate !== 0,
        m.context,
        m.nodes.map((n) => ({ nodeId: n.nodeid, state: n.state })),
      );
    case 'nodelist':
      return encodeVqNodelistNotification(m.context, { rep: m.ringId.nodeid, seq: m.ringId.seq }, m.nodes);
    case 'expectedvotes':
      return encodeVqExpectedVotesNotification(m.context, m.expectedVotes);
  }
}

function encodeQuorumU32Response(id: number, error: number, value: number): Buffer {
  if (id === QuorumResId.GETQUORATE)
    return encodeQuorumResponse({ kind: 'getquorate', error, quorate: value });
  const kind = id === QuorumResId.GETTYPE ? 'gettype' : 'model_gettype';
  return encodeQuorumResponse({ kind, error, quorumType: value });
}

function encodeQuorumBareResponse(id: number, error: number): Buffer {
  return encodeQuorumResponse({ kind: id === QuorumResId.TRACKSTART ? 'trackstart' : 'trackstop', error });
}

type QuorumDispatchMsg =
  | { kind: 'v0_quorum'; quorate: number; ringSeq: bigint; viewList: readonly number[] }
  | { kind: 'v1_quorum'; quorate: number; ringId: QuorumRingId; viewList: readonly number[] }
  | {
      kind: 'v1_nodelist';
      ringId: QuorumRingId;
      members: readonly number[];
      joined: readonly number[];
      left: readonly number[];
    };

function encodeQuorumDispatch(m: QuorumDispatchMsg): Buffer {
  switch (m.kind) {
    case 'v0_quorum':
      return encodeQuorumResponse({ ...m, kind: 'notification', error: 1 });
    case 'v1_quorum':
      return encodeQuorumResponse({ ...m, kind: 'v1_quorum_notification', error: 1 });
    case 'v1_nodelist':
      return encodeQuorumResponse({ ...m, kind: 'v1_nodelist_notification', error: 1 });
  }
}

function encodeCfgRingStatusResponse(
  interfaces: readonly { name: string; status: string }[],
  error: number,
): Buffer {
  return encodeCfgResponse({ kind: 'ringstatusget', error, interfaceCount: interfaces.length, interfaces });
}

function encodeCfgNodeAddrsResponse(
  family: number,
  addrs: readonly Uint8Array[],
  error: number,
  slots = addrs.length,
): Buffer {
  return encodeCfgResponse({
    kind: 'get_node_addrs',
    error,
    family,
    addrs: addrs.map((a) => Buffer.from(a)),
    slots,
  });
}

function encodeCfgLocalGetResponse(nodeid: number, error: number): Buffer {
  return encodeCfgResponse({ kind: 'local_get', error, nodeid });
}

function encodeCfgNodeStatusErrorResponse(error: number, version = 0): Buffer {
  return encodeCfgResponse({ kind: 'nodestatusget_version', error, version });
}

function encodeCfgNodeStatusResponse(s: CfgNodeStatusV1, error: number): Buffer {
  const { version: _v, linkStatus, ...rest } = s;
  return encodeCfgResponse({ kind: 'nodestatusget', error, status: { ...rest, links: linkStatus } });
}

function encodeCfgTestShutdown(flags: number, error = 1): Buffer {
  return encodeCfgResponse({ kind: 'testshutdown', error, flags });
}

const OK = CsErrorCode.CS_OK;
const MEMBER = 1;
const DEAD = 2;

/** Info flags (votequorum.md §1). */
const F = {
  TWONODE: 1,
  QUORATE: 2,
  WAIT_FOR_ALL: 4,
  QDEVICE_REGISTERED: 64,
  QDEVICE_ALIVE: 128,
  QDEVICE_CAST_VOTE: 256,
  QDEVICE_MASTER_WINS: 512,
} as const;

export interface FakeNodeConfig {
  nodeid: number;
  /** nodelist.node.N.name (absent: no name key). */
  name?: string;
  /** ringX_addr values (IP literals), link 0 first. */
  addrs: string[];
  /** quorum_votes (default 1). */
  votes?: number;
}

export interface QuorumDaemonOptions {
  nodes: FakeNodeConfig[];
  /** Local node id (default: the first node's). */
  localNodeId?: number;
  /** Members at start (default: only the local node). */
  members?: number[];
  /** `quorum.provider` = corosync_votequorum (default true). false: no provider, no votequorum service. */
  votequorum?: boolean;
  /** totem.transport key (default 'knet'; undefined value → key absent). */
  transport?: 'knet' | 'udpu' | 'udp';
  /** quorum.two_node. */
  twoNode?: boolean;
  /** quorum.expected_votes (default: Σ nodelist votes). */
  expectedVotes?: number;
  /** totem.interface.N.knet_transport values. */
  knetTransports?: Record<number, string>;
  /** A quorum device may register (quorum.device.model set); its votes. */
  qdeviceVotes?: number;
  /** cfg.shutdown_timeout (ms, default 5000). */
  shutdownTimeoutMs?: number;
  echo?: boolean;
}

interface VqNode {
  nodeid: number;
  state: number;
  votes: number;
  expected: number;
  flags: number;
}

interface VqConn {
  tracking: boolean;
  context: bigint;
}

interface QConn {
  model: number;
  tracking: boolean;
}

interface CfgConn {
  tracker: boolean;
}

/** The cfg shutdown session (cfg.md §2.4). */
interface ShutdownSession {
  requester: IpcConnection;
  flags: number;
  expected: number;
  yes: number;
  no: number;
  voted: Map<IpcConnection, boolean>;
  timer: NodeJS.Timeout;
}

export interface QuorumDaemon {
  readonly runDir: string;
  readonly icmap: Icmap;
  readonly logs: string[];
  readonly localNodeId: number;
  /** Current totem members. */
  members(): number[];
  /** The ring id of the last membership. */
  ringId(): { nodeid: number; seq: bigint };
  /** Change the membership and send every notification a sync would send. */
  setMembership(members: number[]): void;
  /**
   * Pretend a sync runs: cfg "flow control required" requests get CS_ERR_TRY_AGAIN. With
   * `refusals`, the sync "ends" by itself after that many refused requests.
   */
  setSyncInProgress(on: boolean, refusals?: number): void;
  /** The error the next RELOAD_CONFIG replies with (default CS_OK). */
  setReloadResult(error: number): void;
  /** Node ids KILLNODE was accepted for, in order. */
  readonly killed: number[];
  /** Number of shutdowns that went through (exec SHUTDOWN would have been sent). */
  shutdowns(): number;
  /** Number of config reloads and log reopens handled. */
  reloads(): number;
  reopens(): number;
  /** The votequorum info of node `nodeid` (0 = local) as GETINFO would report it. */
  info(nodeid?: number): VotequorumInfo | undefined;
  close(): Promise<void>;
}

function ipBytes(addr: string): { family: number; raw: Buffer } {
  const raw = Buffer.alloc(16);
  if (isIP(addr) === 4) {
    addr.split('.').forEach((p, i) => raw.writeUInt8(Number(p), i));
    return { family: 2, raw };
  }
  // IPv6: expand '::'
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => raw.writeUInt16BE(parseInt(g, 16), 2 * i));
  return { family: 10, raw };
}

export async function startQuorumDaemon(opts: QuorumDaemonOptions): Promise<QuorumDaemon> {
  const runDir = mkdtempSync(join(tmpdir(), 'csts-quorum-'));
  const logs: string[] = [];
  const echo = opts.echo ?? Boolean(process.env.IPC_DAEMON_DEBUG);
  const rec = (level: string) => (msg: string) => {
    logs.push(`${level} ${msg}`);
    if (echo) process.stderr.write(`[quorum-daemon] ${level} ${msg}\n`);
  };
  const logger: IpcLogger = {
    debug: rec('debug'),
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
  };

  const cfgNodes = opts.nodes;
  const localNodeId = opts.localNodeId ?? cfgNodes[0]!.nodeid;
  const useVq = opts.votequorum ?? true;
  const transport = opts.transport ?? 'knet';
  const twoNode = opts.twoNode ?? false;
  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 5000;
  const nodeCfg = (id: number): FakeNodeConfig | undefined => cfgNodes.find((n) => n.nodeid === id);

  // ---- cmap contents ----
  const icmap = new Icmap();
  const str = (k: string, v: string): void => icmap.setValue(k, { type: CmapValueType.STRING, value: v });
  const u32 = (k: string, v: number): void => icmap.setValue(k, { type: CmapValueType.UINT32, value: v });
  const u8 = (k: string, v: number): void => icmap.setValue(k, { type: CmapValueType.UINT8, value: v });
  if (opts.transport !== undefined || transport) str('totem.transport', transport);
  str('totem.cluster_name', 'fakeclu');
  cfgNodes.forEach((n, pos) => {
    u32(`nodelist.node.${pos}.nodeid`, n.nodeid);
    if (n.name !== undefined) str(`nodelist.node.${pos}.name`, n.name);
    n.addrs.forEach((a, l) => str(`nodelist.node.${pos}.ring${l}_addr`, a));
    if (n.votes !== undefined) u32(`nodelist.node.${pos}.quorum_votes`, n.votes);
    if (n.nodeid === localNodeId) u32('nodelist.local_node_pos', pos);
  });
  for (const [link, t] of Object.entries(opts.knetTransports ?? {}))
    str(`totem.interface.${link}.knet_transport`, t);
  if (useVq) {
    str('quorum.provider', 'corosync_votequorum');
    u32('runtime.votequorum.this_node_id', localNodeId);
    if (twoNode) u8('quorum.two_node', 1);
    if (opts.qdeviceVotes !== undefined) str('quorum.device.model', 'net');
  }

  // ---- votequorum state ----
  const table: VqNode[] = [];
  const nodeExpected = cfgNodes.reduce((s, n) => s + (n.votes ?? 1), 0);
  const ensure = (id: number): VqNode => {
    let n = table.find((x) => x.nodeid === id);
    if (!n) {
      n = { nodeid: id, state: DEAD, votes: nodeCfg(id)?.votes ?? 1, expected: 0, flags: 0 };
      table.push(n);
      table.sort((a, b) => a.nodeid - b.nodeid);
    }
    return n;
  };
  const us = ensure(localNodeId);
  us.state = MEMBER;
  let expectedVotes = opts.expectedVotes ?? nodeExpected;
  us.expected = expectedVotes;
  let quorum = 0;
  let quorate = false;
  const wfa = twoNode;
  let wfaStatus = wfa;
  let qdeviceName = '';
  const qdevice = { votes: opts.qdeviceVotes ?? 0 };
  let members: number[] = opts.members ?? [localNodeId];
  let ring = { nodeid: Math.min(...members), seq: 4n };
  let syncing = false;
  let syncRefusalsLeft = Infinity;
  let reloadResult: number = OK;
  let shutdownCount = 0;
  let reloadCount = 0;
  let reopenCount = 0;
  const killed: number[] = [];

  const vqConns = new Map<IpcConnection, VqConn>();
  const qConns = new Map<IpcConnection, QConn>();
  const cfgConns = new Map<IpcConnection, CfgConn>();
  let session: ShutdownSession | undefined;

  const calc = (allowDecrease: boolean, maxExpected: number): { q: number; total: number } => {
    let highest = 0;
    let total = 0;
    let count = 0;
    for (const n of table) {
      if (n.state !== MEMBER) continue;
      highest = Math.max(highest, n.expected);
      total += n.votes;
      count++;
    }
    if (us.flags & F.QDEVICE_CAST_VOTE) {
      total += qdevice.votes;
      count++;
    }
    if (maxExpected > 0) highest = maxExpected;
    let q = Math.max(Math.floor((highest + 2) / 2), Math.floor((total + 2) / 2));
    if (!allowDecrease) q = Math.max(quorum, q);
    if (twoNode && count <= 2) q = 1;
    return { q, total };
  };

  const vqSendAll = (make: (c: VqConn) => Buffer): void => {
    for (const [conn, c] of vqConns) if (c.tracking) conn.sendEvent(make(c));
  };
  const vqNodeEntries = (): Array<{ nodeid: number; state: number }> => {
    const list = table.map((n) => ({ nodeid: n.nodeid, state: n.state }));
    if (us.flags & F.QDEVICE_REGISTERED) list.push({ nodeid: 0, state: 0 });
    return list;
  };
  const vqQuorumMsg = (context: bigint): Buffer =>
    encodeVqDispatch({ kind: 'quorum', context, quorate: quorate ? 1 : 0, nodes: vqNodeEntries() });
  const vqNodelistMsg = (context: bigint): Buffer =>
    encodeVqDispatch({ kind: 'nodelist', context, ringId: ring, nodes: members });

  /** recalculate_quorum (§4.2) + are_we_quorate (§4.3, without ATB/LMS). Returns whether quorate changed. */
  const recalc = (allowDecrease: boolean): boolean => {
    let total = 0;
    for (const n of table) if (n.state === MEMBER) total += n.votes;
    if (qdevice.votes) total += qdevice.votes;
    if (total > us.expected) {
      us.expected = total;
      expectedVotes = total;
      vqSendAll((c) =>
        encodeVqDispatch({ kind: 'expectedvotes', context: c.context, expectedVotes: us.expected }),
      );
    }
    for (const n of table) if (n.state === MEMBER) n.expected = us.expected;
    const r = calc(allowDecrease, 0);
    quorum = r.q;
    const was = quorate;
    if (wfa && wfaStatus && r.total !== us.expected) return false;
    wfaStatus = false;
    quorate = quorum <= r.total;
    if (quorate) us.flags |= 1;
    else us.flags &= ~1;
    return was !== quorate;
  };

  const quorumView = (): number[] => (useVq ? members : []);
  const isQuorate = (): boolean => (useVq ? quorate : true);
  const qQuorumMsg = (model: number): Buffer =>
    model === 1
      ? encodeQuorumDispatch({
          kind: 'v1_quorum',
          quorate: isQuorate() ? 1 : 0,
          ringId: ring,
          viewList: quorumView(),
        })
      : encodeQuorumDispatch({
          kind: 'v0_quorum',
          quorate: isQuorate() ? 1 : 0,
          ringSeq: ring.seq,
          viewList: quorumView(),
        });

  const applyMembership = (next: number[], sendNotifications: boolean): void => {
    const old = members;
    members = [...next].sort((a, b) => a - b);
    ring = { nodeid: members[0] ?? localNodeId, seq: ring.seq + 4n };
    for (const id of members) ensure(id).state = MEMBER;
    for (const n of table) if (!members.includes(n.nodeid)) n.state = DEAD;
    if (!sendNotifications) {
      recalc(false);
      return;
    }
    const joined = members.filter((m) => !old.includes(m));
    const left = old.filter((m) => !members.includes(m));
    // quorum service sync_activate (V1 node list) runs before votequorum's activation
    for (const [conn, c] of qConns) {
      if (c.tracking && c.model === 1) {
        conn.sendEvent(
          encodeQuorumDispatch({ kind: 'v1_nodelist', ringId: ring, members: quorumView(), joined, left }),
        );
      }
    }
    if (useVq) {
      vqSendAll((c) => vqNodelistMsg(c.context));
      recalc(false);
      vqSendAll((c) => vqQuorumMsg(c.context));
    }
    for (const [conn, c] of qConns) if (c.tracking) conn.sendEvent(qQuorumMsg(c.model));
  };
  applyMembership(members, false);

  const infoOf = (nodeid: number): VotequorumInfo | undefined => {
    const n = nodeid === 0 || nodeid === localNodeId ? us : table.find((x) => x.nodeid === nodeid);
    if (!n) return undefined;
    let highest = 0;
    let total = 0;
    for (const m of table) {
      if (m.state !== MEMBER) continue;
      highest = Math.max(highest, m.expected);
      total += m.votes;
    }
    if (n.flags & F.QDEVICE_CAST_VOTE) total += qdevice.votes;
    let flags = 0;
    if (twoNode) flags |= F.TWONODE;
    if (quorate) flags |= F.QUORATE;
    if (wfa) flags |= F.WAIT_FOR_ALL;
    if (n.flags & 16) flags |= F.QDEVICE_REGISTERED;
    if (n.flags & 32) flags |= F.QDEVICE_ALIVE;
    if (n.flags & 64) flags |= F.QDEVICE_CAST_VOTE;
    if (n.flags & 128) flags |= F.QDEVICE_MASTER_WINS;
    return {
      nodeid: n.nodeid,
      state: n.state,
      votes: n.votes,
      expectedVotes: n.expected,
      highestExpected: highest,
      totalVotes: total,
      quorum,
      flags,
      qdeviceVotes: qdevice.votes,
      qdeviceName,
    };
  };

  const notifyQuorateChange = (): void => {
    vqSendAll((c) => vqQuorumMsg(c.context));
    for (const [conn, c] of qConns) if (c.tracking) conn.sendEvent(qQuorumMsg(c.model));
  };

  const server = new IpcServer({ runDir, logger });
  server.registerService(createCmapService({ icmap: icmapIpcView(icmap), stats: new StatsMap(), logger }));

  // ---- votequorum ----
  if (useVq) {
    server.registerService<VqConn>({
      name: 'votequorum',
      id: 5,
      requestCount: 10,
      checkRequest: (frame) => {
        const d = decodeVqRequest(frame);
        return d.ok ? undefined : d.error;
      },
      init: (conn) => {
        const c = { tracking: false, context: 0n };
        vqConns.set(conn, c);
        return c;
      },
      exit: (conn) => {
        vqConns.delete(conn);
      },
      handle: (conn, c, frame) => {
        const d = decodeVqRequest(frame);
        if (!d.ok) return;
        const r = d.value;
        const status = (e: number): void => conn.respond(encodeVqStatus(e));
        const regFlag = 16;
        switch (r.kind) {
          case 'getinfo': {
            const info = infoOf(r.nodeid >>> 0);
            conn.respond(
              encodeVqGetinfoResponse(info ?? EMPTY_VQ_INFO, info ? OK : CsErrorCode.CS_ERR_NOT_EXIST),
            );
            return;
          }
          case 'setexpected': {
            const { q, total } = calc(true, r.expectedVotes);
            if (r.expectedVotes < total || (quorate && q > total))
              return status(CsErrorCode.CS_ERR_INVALID_PARAM);
            us.expected = r.expectedVotes;
            expectedVotes = r.expectedVotes;
            for (const n of table) if (n.state === MEMBER) n.expected = r.expectedVotes;
            status(OK);
            vqSendAll((t) =>
              encodeVqDispatch({ kind: 'expectedvotes', context: t.context, expectedVotes: us.expected }),
            );
            if (recalc(true)) notifyQuorateChange();
            return;
          }
          case 'setvotes': {
            const id = r.nodeid >>> 0;
            const target = id === 0 ? qdevice : table.find((n) => n.nodeid === id);
            if (!target) return status(CsErrorCode.CS_ERR_NAME_NOT_FOUND);
            const saved = target.votes;
            target.votes = r.votes;
            const { q, total } = calc(true, 0);
            if (q < Math.floor(total / 2) || q > total) {
              target.votes = saved;
              return status(CsErrorCode.CS_ERR_INVALID_PARAM);
            }
            status(OK);
            if (recalc(true)) notifyQuorateChange();
            return;
          }
          case 'trackstart':
            if (r.flags & (CsTrack.CURRENT | CsTrack.CHANGES)) {
              conn.sendEvent(vqNodelistMsg(r.context));
              conn.sendEvent(vqQuorumMsg(r.context));
            }
            if (c.tracking) return status(CsErrorCode.CS_ERR_EXIST);
            if (r.flags & (CsTrack.CHANGES | CsTrack.CHANGES_ONLY)) {
              c.tracking = true;
              c.context = r.context;
            }
            return status(OK);
          case 'trackstop':
            if (!c.tracking) return status(CsErrorCode.CS_ERR_NOT_EXIST);
            c.tracking = false;
            return status(OK);
          case 'qdevice_register':
            if (opts.qdeviceVotes === undefined) return status(CsErrorCode.CS_ERR_ACCESS);
            if (us.flags & regFlag) return status(r.name === qdeviceName ? OK : CsErrorCode.CS_ERR_EXIST);
            qdeviceName = r.name;
            us.flags |= regFlag;
            return status(OK);
          case 'qdevice_unregister':
            if (!(us.flags & regFlag)) return status(CsErrorCode.CS_ERR_NOT_EXIST);
            if (r.name !== qdeviceName) return status(CsErrorCode.CS_ERR_INVALID_PARAM);
            us.flags &= ~(16 | 32 | 64 | 128);
            qdeviceName = '';
            status(OK);
            if (recalc(false)) notifyQuorateChange();
            return;
          case 'qdevice_update':
            if (!(us.flags & regFlag)) return status(CsErrorCode.CS_ERR_NOT_EXIST);
            if (r.oldname !== qdeviceName) return status(CsErrorCode.CS_ERR_INVALID_PARAM);
            qdeviceName = r.newname;
            return status(OK);
          case 'qdevice_poll':
          case 'qdevice_master_wins': {
            if (opts.qdeviceVotes === undefined) return status(CsErrorCode.CS_ERR_ACCESS);
            if (!(us.flags & regFlag)) return status(CsErrorCode.CS_ERR_NOT_EXIST);
            if (r.kind === 'qdevice_poll') {
              if (r.ringId.nodeid !== ring.nodeid || r.ringId.seq !== ring.seq) {
                return status(CsErrorCode.CS_ERR_MESSAGE_ERROR);
              }
              if (r.name !== qdeviceName) return status(CsErrorCode.CS_ERR_INVALID_PARAM);
              us.flags |= 32;
              if (r.castVote) us.flags |= 64;
              else us.flags &= ~64;
              status(OK);
              if (recalc(false)) notifyQuorateChange();
              return;
            }
            if (r.name !== qdeviceName) return status(CsErrorCode.CS_ERR_INVALID_PARAM);
            if (r.allow) us.flags |= 128;
            else us.flags &= ~128;
            return status(OK);
          }
        }
      },
    });
  }

  // ---- quorum ----
  server.registerService<QConn>({
    name: 'quorum',
    id: 3,
    requestCount: 5,
    checkRequest: (frame) => {
      const d = decodeQuorumRequest(frame);
      return d.ok ? undefined : d.error;
    },
    init: (conn) => {
      const c = { model: 0, tracking: false };
      qConns.set(conn, c);
      return c;
    },
    exit: (conn) => {
      qConns.delete(conn);
    },
    handle: (conn, c, frame) => {
      const d = decodeQuorumRequest(frame);
      if (!d.ok) return;
      const r = d.value;
      const qtype = useVq ? 1 : 0;
      switch (r.kind) {
        case 'getquorate':
          return conn.respond(encodeQuorumU32Response(QuorumResId.GETQUORATE, OK, isQuorate() ? 1 : 0));
        case 'gettype':
          return conn.respond(encodeQuorumU32Response(QuorumResId.GETTYPE, OK, qtype));
        case 'model_gettype':
          if (r.model !== 0 && r.model !== 1) {
            return conn.respond(
              encodeQuorumU32Response(QuorumResId.MODEL_GETTYPE, CsErrorCode.CS_ERR_INVALID_PARAM, qtype),
            );
          }
          c.model = r.model;
          return conn.respond(encodeQuorumU32Response(QuorumResId.MODEL_GETTYPE, OK, qtype));
        case 'trackstart':
          if (r.flags & (CsTrack.CURRENT | CsTrack.CHANGES)) {
            if (c.model === 1) {
              conn.sendEvent(
                encodeQuorumDispatch({
                  kind: 'v1_nodelist',
                  ringId: ring,
                  members: quorumView(),
                  joined: [],
                  left: [],
                }),
              );
            }
            conn.sendEvent(qQuorumMsg(c.model));
          }
          if (c.tracking)
            return conn.respond(encodeQuorumBareResponse(QuorumResId.TRACKSTART, CsErrorCode.CS_ERR_EXIST));
          if (r.flags & (CsTrack.CHANGES | CsTrack.CHANGES_ONLY)) c.tracking = true;
          return conn.respond(encodeQuorumBareResponse(QuorumResId.TRACKSTART, OK));
        case 'trackstop':
          c.tracking = false;
          return conn.respond(encodeQuorumBareResponse(QuorumResId.TRACKSTOP, OK));
      }
    },
  });

  // ---- cfg ----
  const trackers = (): IpcConnection[] => [...cfgConns].filter(([, c]) => c.tracker).map(([conn]) => conn);
  const decide = (): void => {
    const s = session;
    if (!s || s.yes + s.no < s.expected) return;
    clearTimeout(s.timer);
    session = undefined;
    if (s.yes >= s.expected || s.flags === 1) {
      s.requester.respond(encodeCfgBareResponse(CfgResId.TRYSHUTDOWN, OK));
      shutdownCount++;
    } else {
      s.requester.respond(encodeCfgBareResponse(CfgResId.TRYSHUTDOWN, CsErrorCode.CS_ERR_BUSY));
    }
  };
  const leave = (conn: IpcConnection, c: CfgConn): void => {
    const s = session;
    if (s && s.requester === conn) {
      clearTimeout(s.timer);
      session = undefined;
    }
    if (!c.tracker) return;
    c.tracker = false;
    if (s && session === s) {
      const v = s.voted.get(conn);
      if (v === true) s.yes--;
      if (v === false) s.no--;
      s.voted.delete(conn);
      s.yes++;
      decide();
    }
  };
  const linkStatusFor = (nodeid: number): CfgLinkStatus[] => {
    const n = nodeCfg(nodeid);
    const local = nodeCfg(localNodeId);
    if (!n) return [];
    const reachable = members.includes(nodeid) ? 1 : 0;
    if (transport !== 'knet') {
      return [
        {
          enabled: 1,
          connected: reachable,
          dynconnected: 0,
          mtu: 1410,
          srcIpaddr: n.addrs[0] ?? '',
          dstIpaddr: '',
        },
      ];
    }
    return n.addrs.map((a, l) => ({
      enabled: 1,
      connected: nodeid === localNodeId ? 1 : reachable,
      dynconnected: 0,
      mtu: 1446,
      srcIpaddr: local?.addrs[l] ?? '',
      dstIpaddr: a,
    }));
  };
  const FLOW_REQUIRED = new Set<number>([
    CfgReqId.RINGSTATUSGET,
    CfgReqId.RINGREENABLE,
    CfgReqId.KILLNODE,
    CfgReqId.TRYSHUTDOWN,
    CfgReqId.REPLYTOSHUTDOWN,
    CfgReqId.RELOAD_CONFIG,
    CfgReqId.TRACKSTART,
    CfgReqId.TRACKSTOP,
  ]);
  server.registerService<CfgConn>({
    name: 'cfg',
    id: 1,
    requestCount: 12,
    checkRequest: (frame) => {
      const d = decodeCfgRequest(frame);
      return d.ok ? undefined : d.error;
    },
    init: (conn) => {
      const c = { tracker: false };
      cfgConns.set(conn, c);
      return c;
    },
    exit: (conn, c) => {
      leave(conn, c);
      cfgConns.delete(conn);
    },
    handle: (conn, c, frame) => {
      const d = decodeCfgRequest(frame);
      if (!d.ok) return;
      const r = d.value;
      if (syncing && FLOW_REQUIRED.has(frame.readInt32LE(0))) {
        if (--syncRefusalsLeft <= 0) syncing = false;
        return conn.respond(encodeCfgBareResponse(0, CsErrorCode.CS_ERR_TRY_AGAIN));
      }
      switch (r.kind) {
        case 'ringstatusget': {
          const local = nodeCfg(localNodeId);
          const entries = (local?.addrs ?? []).map((a, l) => {
            let status = 'OK';
            if (transport === 'knet') {
              status = cfgNodes
                .map((n) => n.nodeid)
                .sort((x, y) => x - y)
                .map((id) => (id === localNodeId ? 'n' : String(1 | (members.includes(id) ? 2 : 0))))
                .join('');
            }
            return { name: `${l} ${a}`, status };
          });
          return conn.respond(
            encodeCfgRingStatusResponse(transport === 'knet' ? entries : entries.slice(0, 1), OK),
          );
        }
        case 'ringreenable':
          return conn.respond(encodeCfgBareResponse(CfgResId.RINGREENABLE, CsErrorCode.CS_ERR_NOT_SUPPORTED));
        case 'killnode':
          if (!members.includes(r.nodeid)) {
            return conn.respond(encodeCfgBareResponse(CfgResId.KILLNODE, CsErrorCode.CS_ERR_NOT_EXIST));
          }
          killed.push(r.nodeid);
          logger.info(`kill node ${r.nodeid}: ${r.reason}`);
          return conn.respond(encodeCfgBareResponse(CfgResId.KILLNODE, OK));
        case 'tryshutdown': {
          if (r.flags === 2) {
            shutdownCount++;
            return conn.respond(encodeCfgBareResponse(CfgResId.TRYSHUTDOWN, OK));
          }
          if (session)
            return conn.respond(encodeCfgBareResponse(CfgResId.TRYSHUTDOWN, CsErrorCode.CS_ERR_EXIST));
          const others = trackers().filter((t) => t !== conn);
          if (others.length === 0) {
            shutdownCount++;
            return conn.respond(encodeCfgBareResponse(CfgResId.TRYSHUTDOWN, OK));
          }
          const s: ShutdownSession = {
            requester: conn,
            flags: r.flags,
            expected: others.length,
            yes: 0,
            no: 0,
            voted: new Map(),
            timer: setTimeout(() => {
              if (session !== s) return;
              s.no = s.expected - s.yes;
              decide();
              for (const t of trackers())
                t.sendEvent(encodeCfgTestShutdown(s.flags, CsErrorCode.CS_ERR_TIMEOUT));
            }, shutdownTimeoutMs),
          };
          session = s;
          for (const t of others) t.sendEvent(encodeCfgTestShutdown(r.flags));
          return;
        }
        case 'replytoshutdown': {
          const s = session;
          if (!s)
            return conn.respond(encodeCfgBareResponse(CfgResId.REPLYTOSHUTDOWN, CsErrorCode.CS_ERR_ACCESS));
          const prev = s.voted.get(conn);
          if (prev === true) s.yes--;
          if (prev === false) s.no--;
          const yes = r.response !== 0;
          s.voted.set(conn, yes);
          if (yes) s.yes++;
          else s.no++;
          conn.respond(encodeCfgBareResponse(CfgResId.REPLYTOSHUTDOWN, OK));
          decide();
          return;
        }
        case 'get_node_addrs': {
          const n = nodeCfg(r.nodeid === 0 ? localNodeId : r.nodeid);
          if (!n || n.addrs.length === 0) {
            return conn.respond(encodeCfgNodeAddrsResponse(0, [], CsErrorCode.CS_ERR_NOT_EXIST));
          }
          const parsed = n.addrs.map(ipBytes);
          return conn.respond(
            encodeCfgNodeAddrsResponse(
              parsed[0]!.family,
              parsed.map((p) => p.raw),
              OK,
            ),
          );
        }
        case 'local_get':
          return conn.respond(encodeCfgLocalGetResponse(localNodeId, OK));
        case 'reload_config':
          reloadCount++;
          return conn.respond(encodeCfgBareResponse(CfgResId.RELOAD_CONFIG, reloadResult));
        case 'reopen_log_files':
          reopenCount++;
          return conn.respond(encodeCfgBareResponse(CfgResId.REOPEN_LOG_FILES, OK));
        case 'nodestatusget': {
          if (r.version !== 1)
            return conn.respond(encodeCfgNodeStatusErrorResponse(CsErrorCode.CS_ERR_NOT_SUPPORTED));
          if (!nodeCfg(r.nodeid)) {
            return conn.respond(encodeCfgNodeStatusErrorResponse(CsErrorCode.CS_ERR_FAILED_OPERATION));
          }
          const links = linkStatusFor(r.nodeid);
          while (links.length < 8) links.push(EMPTY_LINK_STATUS);
          return conn.respond(
            encodeCfgNodeStatusResponse(
              {
                version: 1,
                nodeid: r.nodeid,
                reachable: members.includes(r.nodeid) ? 1 : 0,
                remote: 0,
                external: 0,
                onwireMin: 0,
                onwireMax: 0,
                onwireVer: 0,
                linkStatus: links,
              },
              OK,
            ),
          );
        }
        case 'trackstart':
          if (!c.tracker) {
            c.tracker = true;
            if (session) {
              session.expected++;
              conn.sendEvent(encodeCfgTestShutdown(session.flags));
            }
          }
          return conn.respond(encodeCfgBareResponse(CfgResId.STATETRACKSTART, OK));
        case 'trackstop':
          conn.respond(encodeCfgBareResponse(CfgResId.STATETRACKSTOP, OK));
          leave(conn, c);
          return;
      }
    },
  });

  try {
    await server.listen();
  } catch (err) {
    await server.close();
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    runDir,
    icmap,
    logs,
    localNodeId,
    killed,
    members: () => [...members],
    ringId: () => ({ ...ring }),
    setMembership: (next) => applyMembership(next, true),
    setSyncInProgress: (on, refusals = Infinity) => {
      syncing = on;
      syncRefusalsLeft = refusals;
    },
    setReloadResult: (e) => {
      reloadResult = e;
    },
    shutdowns: () => shutdownCount,
    reloads: () => reloadCount,
    reopens: () => reopenCount,
    info: (nodeid = 0) => infoOf(nodeid),
    async close() {
      if (closed) return;
      closed = true;
      if (session) clearTimeout(session.timer);
      await server.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
