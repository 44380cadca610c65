/**
 * An in-process IPC server with the cmap service over a fresh Icmap + StatsMap, in a
 * temporary run directory. For tests that need a daemon-side cmap without the whole daemon:
 *
 *   const d = await startIpcDaemon();
 *   try { const h = await CmapHandle.initialize(undefined, { runDir: d.runDir }); ... }
 *   finally { await d.close(); }
 *
 * `d.logs` collects every log line ("<level> <message>"); `d.waitForLog(re)` awaits one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Icmap, icmapIpcView } from '../../src/cmap/icmap.js';
import { installDefaultReadOnlyKeys } from '../../src/cmap/ro-keys.js';
import { StatsMap } from '../../src/cmap/stats.js';
import { IpcServer, type IpcLogger, type IpcServerOptions } from '../../src/ipc/server.js';
import { createCmapService } from '../../src/services/cmap/service.js';

export interface IpcDaemon {
  readonly runDir: string;
  readonly icmap: Icmap;
  readonly stats: StatsMap;
  readonly server: IpcServer;
  /** Every log line as "<level> <message>". */
  readonly logs: string[];
  /** Resolve when a log line matches `re` (already logged lines count); reject after `ms`. */
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  /** Close the server (all connections) and remove the run directory. */
  close(): Promise<void>;
}

export interface IpcDaemonOptions extends Partial<Omit<IpcServerOptions, 'runDir' | 'logger' | 'stats'>> {
  /** Install corosync's read-only key list in the icmap (default true). */
  readOnlyKeys?: boolean;
  /** Echo log lines to stderr (default: when IPC_DAEMON_DEBUG is set). */
  echo?: boolean;
}

export async function startIpcDaemon(opts: IpcDaemonOptions = {}): Promise<IpcDaemon> {
  const runDir = mkdtempSync(join(tmpdir(), 'csts-ipc-'));
  const logs: string[] = [];
  const watchers: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const echo = opts.echo ?? Boolean(process.env.IPC_DAEMON_DEBUG);
  const record = (level: string) => (msg: string) => {
    const line = `${level} ${msg}`;
    logs.push(line);
    if (echo) process.stderr.write(`[ipc-daemon] ${line}\n`);
    for (let i = watchers.length - 1; i >= 0; i--) {
      if (watchers[i]!.re.test(line)) {
        watchers[i]!.resolve(line);
        watchers.splice(i, 1);
      }
    }
  };
  const logger: IpcLogger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
  const icmap = new Icmap();
  if (opts.readOnlyKeys !== false) installDefaultReadOnlyKeys(icmap);
  const stats = new StatsMap();
  const { readOnlyKeys: _ro, echo: _echo, ...serverOpts } = opts;
  const server = new IpcServer({ ...serverOpts, runDir, logger, stats });
  server.registerService(createCmapService({ icmap: icmapIpcView(icmap), stats, logger }));
  try {
    await server.listen();
  } catch (err) {
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    runDir,
    icmap,
    stats,
    server,
    logs,
    waitForLog(re: RegExp, ms = 5000): Promise<string> {
      const found = logs.find((l) => re.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = watchers.indexOf(w);
          if (i >= 0) watchers.splice(i, 1);
          reject(new Error(`no log line matching ${re} within ${ms} ms; got:\n${logs.join('\n')}`));
        }, ms);
        const w = {
          re,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        watchers.push(w);
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await server.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
