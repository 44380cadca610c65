/**
 * A one-node CPG daemon for client tests: an in-process IpcServer (temporary run directory)
 * with the REAL CPG service engine (src/services/cpg/service.ts) on a fake exec layer.
 *
 * The fake exec layer ("loopback totem") delivers every multicast back to the same engine, in
 * order, from a later event-loop turn (as totem would: never from inside the IPC handler).
 * A sync round for the one-node membership runs at start so the service is ready.
 *
 *   const d = await startCpgDaemon();
 *   try { const h = await CpgHandle.initialize(cbs, { runDir: d.runDir }); ... }
 *   finally { await d.close(); }
 *
 * Test controls: `d.setSyncInProgress(true)` makes flow-control-required requests fail with
 * TRY_AGAIN (and MCASTs be dropped) as during a corosync sync; `d.holdDeliveries()` /
 * `d.releaseDeliveries()` keep multicasts in the fake totem queue (e.g. to observe
 * JOIN_STARTED); `d.runSync(members)` runs a sync round; `d.connections()` gives the server
 * side of each client connection (to send raw dispatch frames).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsErrorCode } from '../../src/common/errors.js';
import type { ExecApi } from '../../src/exec/service-engine.js';
import { IpcServer, type IpcLogger, type IpcServerConnection } from '../../src/ipc/server.js';
import { CpgService, type CpgServiceOptions } from '../../src/services/cpg/service.js';
import { Icmap, icmapIpcView } from '../../src/cmap/icmap.js';
import { StatsMap } from '../../src/cmap/stats.js';
import { createCmapService } from '../../src/services/cmap/service.js';

export interface CpgDaemon {
  readonly runDir: string;
  readonly server: IpcServer;
  readonly engine: CpgService;
  readonly nodeId: number;
  /** The icmap behind the cmap service (with `withCmap`). */
  readonly icmap: Icmap;
  readonly logs: string[];
  /** Exec messages multicast so far (fn numbers, in order). */
  readonly sentFns: number[];
  /** Pretend a sync round is (not) running. */
  setSyncInProgress(on: boolean): void;
  /** Keep multicasts queued until `releaseDeliveries`. */
  holdDeliveries(): void;
  /** Deliver what was held and go back to delivering at once. */
  releaseDeliveries(): void;
  /** Resolve once every multicast sent so far has been delivered. */
  settled(): Promise<void>;
  /** Run a sync round (init, process until done, activate) for `members`. */
  runSync(members?: readonly number[]): Promise<void>;
  /** The server side of the open client connections. */
  connections(): IpcServerConnection[];
  close(): Promise<void>;
}

export interface CpgDaemonOptions {
  nodeId?: number;
  service?: CpgServiceOptions;
  /** Largest IPC frame the server grants (default 1 MiB). */
  maxMsgSize?: number;
  echo?: boolean;
  /** Also serve cmap (over a fresh icmap) on the same run directory. */
  withCmap?: boolean;
}

export async function startCpgDaemon(opts: CpgDaemonOptions = {}): Promise<CpgDaemon> {
  const runDir = mkdtempSync(join(tmpdir(), 'csts-cpg-'));
  const nodeId = opts.nodeId ?? 1;
  const logs: string[] = [];
  const echo = opts.echo ?? Boolean(process.env.IPC_DAEMON_DEBUG);
  const rec = (level: string) => (msg: string) => {
    logs.push(`${level} ${msg}`);
    if (echo) process.stderr.write(`[cpg-daemon] ${level} ${msg}\n`);
  };
  const logger: IpcLogger = {
    debug: rec('debug'),
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
  };

  const engine = new CpgService({ logger, random: () => 0x1234, ...opts.service });
  let syncing = false;
  let held = false;
  let seq = 1n;
  let members: readonly number[] = [nodeId];
  const queue: Array<{ fn: number; msg: Buffer }> = [];
  const sentFns: number[] = [];
  let flushScheduled = false;
  let settleWaiters: Array<() => void> = [];

  const flush = (): void => {
    flushScheduled = false;
    if (held) return;
    while (queue.length > 0) {
      const m = queue.shift()!;
      engine.deliver(m.fn, m.msg, nodeId);
    }
    const w = settleWaiters;
    settleWaiters = [];
    for (const r of w) r();
  };
  const schedule = (): void => {
    if (flushScheduled || held) return;
    flushScheduled = true;
    setImmediate(flush);
  };

  const api: ExecApi = {
    nodeId,
    mcast(_service, fn, iov) {
      const msg = Buffer.isBuffer(iov) ? Buffer.from(iov) : Buffer.concat(iov as Buffer[]);
      queue.push({ fn, msg });
      sentFns.push(fn);
      schedule();
      return CsErrorCode.CS_OK;
    },
    syncInProgress: () => syncing,
    ringId: () => ({ rep: nodeId, seq }),
    members: () => members,
  };
  engine.init(api);

  const settled = (): Promise<void> =>
    new Promise((resolve) => {
      if (queue.length === 0) resolve();
      else {
        settleWaiters.push(resolve);
        schedule();
      }
    });

  const runSync = async (m: readonly number[] = members): Promise<void> => {
    members = m;
    seq += 4n;
    syncing = true;
    engine.sync.init(m, m, { rep: nodeId, seq });
    while (!engine.sync.process()) await settled();
    await settled();
    engine.sync.activate();
    syncing = false;
  };

  const server = new IpcServer({ runDir, logger, maxMsgSize: opts.maxMsgSize });
  server.registerService(engine.ipc);
  const icmap = new Icmap();
  if (opts.withCmap) {
    const stats = new StatsMap();
    server.registerService(createCmapService({ icmap: icmapIpcView(icmap), stats, logger }));
  }
  try {
    await server.listen();
    await runSync();
  } catch (err) {
    await server.close();
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    runDir,
    server,
    engine,
    nodeId,
    icmap,
    logs,
    sentFns,
    setSyncInProgress(on: boolean) {
      syncing = on;
    },
    holdDeliveries() {
      held = true;
    },
    releaseDeliveries() {
      held = false;
      schedule();
    },
    settled,
    runSync,
    connections: () => server.connections(),
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** One connection of the scripted fake: what the client sent, and a way to answer it. */
export interface ScriptedConn {
  readonly conn: IpcServerConnection;
  /** Request frames received, in order. */
  readonly requests: Buffer[];
}

export interface ScriptedCpgDaemon {
  readonly runDir: string;
  readonly conns: ScriptedConn[];
  close(): Promise<void>;
}

/**
 * A fake `cpg` IPC service that answers with whatever `reply` returns (undefined = no reply,
 * as for MCAST). For library edge cases the real engine never produces: malformed or unknown
 * dispatch frames, fragments out of order, BUSY answers.
 */
export async function startScriptedCpgDaemon(
  reply: (frame: Buffer, sc: ScriptedConn) => Buffer | undefined,
): Promise<ScriptedCpgDaemon> {
  const runDir = mkdtempSync(join(tmpdir(), 'csts-cpgfake-'));
  const quiet = (): void => undefined;
  const server = new IpcServer({ runDir, logger: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
  const conns: ScriptedConn[] = [];
  server.registerService<ScriptedConn>({
    name: 'cpg',
    id: 2,
    requestCount: 13,
    checkRequest: () => undefined,
    init: (conn) => {
      const sc = { conn: conn as IpcServerConnection, requests: [] };
      conns.push(sc);
      return sc;
    },
    handle: (conn, sc, frame) => {
      sc.requests.push(Buffer.from(frame));
      const r = reply(frame, sc);
      if (r) conn.respond(r);
    },
    exit: () => undefined,
  });
  await server.listen();
  return {
    runDir,
    conns,
    async close() {
      await server.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
