/**
 * `corosync-ts cfgtool`: corosync-cfgtool of corosync 3.1.7 — same options (short and
 * getopt_long forms), output, messages and exit codes — plus `--json`.
 *
 *   cfgtool [[-i <interface ip>] [-b] -s] [-n] [-R] [-L] [-k nodeid] [-a nodeid] [-h] [-H [--force]]
 *
 *   -s / --status    link status of this node (per link, per node); -b / --brief: one char per node
 *   -n / --nodes     status of the reachable nodes and their links
 *   -R / --reload    reload corosync.conf on every node          (exit: 0, or the cs_error_t)
 *   -L / --reopen    reopen the log files                         (exit: 0, or the cs_error_t)
 *   -k / --kill N    kill node N                                  (exit 0 / 1)
 *   -a / --address N the addresses of node N                      (exit 0 / 1)
 *   -H / --shutdown  shut down corosync on this node (--force: regardless of vetoes; exit 0
 *                    even when refused, as 3.1.7)
 *   -i / --if X      accepted and ignored (as in 3.1.7)
 *   -h, or no action: usage, exit 0. A bad option: glibc's message, exit 1.
 *
 * The last action given wins. `--json` (ours, anywhere before `--`) turns the output of -s,
 * -n and -a into JSON.
 */
import { CmapHandle } from '../client/cmap.js';
import { CfgHandle, CfgShutdownFlag, INTERFACE_MAX, type CfgNodeStatusV1 } from '../client/cfg.js';
import { EMPTY_LINK_STATUS } from '../client/cfg.js';
import { CsErrorCode, csStrerror } from '../common/errors.js';
import { resolveRunDir } from '../common/rundir.js';
import { getopt, takeJsonFlag } from './args.js';
import {
  cfgtoolUsage,
  expandLongOptions,
  formatAddresses,
  formatHeader,
  formatLinkStatus,
  formatNodeStatus,
  linkStatusJson,
  linkTransports,
  nodeStatusJson,
  type LinkReport,
  type LongOption,
} from './cfgtool-format.js';
import { numberOption } from './quorumtool.js';
import { csCode as code, initializeOrReport, type OutputSink } from './tool-io.js';

export interface CfgtoolIo {
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** Environment (COROSYNC_TS_RUN_DIR, POSIXLY_CORRECT). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Explicit daemon run directory (overrides the environment). */
  runDir?: string;
  /** Name used in diagnostics. Default "corosync-cfgtool". */
  progName?: string;
  /** `-H`: pause between CS_ERR_TRY_AGAIN retries (default 1000 ms, 30 tries, as 3.1.7). */
  retryDelayMs?: number;
}

const OPTSTRING = 'i:snbrRLk:a:hH\u0001';
const FORCE = '\u0001';
const LONG_OPTIONS: readonly LongOption[] = [
  { name: 'if', hasArg: true, short: 'i' },
  { name: 'status', hasArg: false, short: 's' },
  { name: 'nodes', hasArg: false, short: 'n' },
  { name: 'brief', hasArg: false, short: 'b' },
  { name: 'reload', hasArg: false, short: 'R' },
  { name: 'reopen', hasArg: false, short: 'L' },
  { name: 'kill', hasArg: true, short: 'k' },
  { name: 'address', hasArg: true, short: 'a' },
  { name: 'shutdown', hasArg: false, short: 'H' },
  { name: 'force', hasArg: false, short: FORCE },
];

type Action = 'noop' | 'linkstatus' | 'nodestatus' | 'reload' | 'reopen' | 'shutdown' | 'showaddr' | 'kill';

/** Run the tool; resolves with the exit code. */
export async function cfgtoolMain(argv: string[], io: CfgtoolIo = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const progName = io.progName ?? 'corosync-cfgtool';

  const { args, json } = takeJsonFlag(argv);
  const expanded = expandLongOptions(args, LONG_OPTIONS, progName);
  const parsed = getopt(expanded.argv, OPTSTRING, { progName, env });

  let action: Action = 'noop';
  let brief = false;
  let force = false;
  let nodeid = 0;
  for (const { opt, arg = '' } of parsed.options) {
    switch (opt) {
      case FORCE:
        force = true;
        break;
      case 's':
        action = 'linkstatus';
        break;
      case 'n':
        action = 'nodestatus';
        break;
      case 'b':
        brief = true;
        break;
      case 'R':
        action = 'reload';
        break;
      case 'L':
        action = 'reopen';
        break;
      case 'H':
        action = 'shutdown';
        break;
      case 'k':
      case 'a': {
        const n = numberOption(arg, 1, 0xffffffff, 'The nodeid was not valid, try a positive number', err);
        if (n === undefined) return 1;
        nodeid = n;
        action = opt === 'k' ? 'kill' : 'showaddr';
        break;
      }
      default:
        // -i (unused by 3.1.7), -r, -h
        break;
    }
  }
  const optError = parsed.error?.message ?? expanded.error;
  if (optError) {
    err.write(optError + '\n');
    return 1;
  }

  const runDir = io.runDir ?? (io.env ? resolveRunDir(undefined, io.env) : undefined);
  switch (action) {
    case 'linkstatus':
    case 'nodestatus':
      return nodeStatusDo(action, brief, json, runDir, out, err);
    case 'reload':
      return simpleDo('reload', runDir, out, err);
    case 'reopen':
      return simpleDo('reopen', runDir, out, err);
    case 'kill':
      return killDo(nodeid, runDir, out, err);
    case 'shutdown':
      return shutdownDo(force, runDir, io.retryDelayMs ?? 1000, out, err);
    case 'showaddr':
      return showAddrs(nodeid, json, runDir, out, err);
    default:
      out.write(cfgtoolUsage());
      return 0;
  }
}

function zeroStatus(): CfgNodeStatusV1 {
  return {
    version: 0,
    nodeid: 0,
    reachable: 0,
    remote: 0,
    external: 0,
    onwireMin: 0,
    onwireMax: 0,
    onwireVer: 0,
    linkStatus: Array.from({ length: 8 }, () => EMPTY_LINK_STATUS),
  };
}

/**
 * Open the cfg API (a failure is reported as the C tool reports it, `describe` turning the
 * error code into text, and the tool exits 1), run `use` with it, and finalize it however
 * `use` ends. Resolves with `use`'s exit code.
 */
async function withCfg(
  runDir: string | undefined,
  err: OutputSink,
  use: (cfg: CfgHandle) => Promise<number>,
  describe?: (code: number) => string | number,
): Promise<number> {
  const cfg = await initializeOrReport(
    () => CfgHandle.initialize({}, { runDir }),
    'configuration',
    err,
    describe,
  );
  if (!cfg) return 1;
  try {
    return await use(cfg);
  } finally {
    await cfg.finalize().catch(() => undefined);
  }
}

async function nodeStatusDo(
  action: 'linkstatus' | 'nodestatus',
  brief: boolean,
  json: boolean,
  runDir: string | undefined,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  return withCfg(runDir, err, async (cfg) => {
    let cmap: CmapHandle | undefined;
    try {
      cmap = await initializeOrReport(() => CmapHandle.initialize(undefined, { runDir }), 'cmap', err);
      if (!cmap) return 1;
      let transport = 'knet';
      try {
        transport = await cmap.getString('totem.transport');
      } catch {
        // knet is the default
      }
      let local: number;
      try {
        local = await cfg.localGet();
      } catch (e) {
        err.write(`Could not get the local node id, the error is: ${code(e)}\n`);
        return 1;
      }
      const nodeids: number[] = [];
      try {
        for await (const e of cmap.iter('nodelist.node.')) {
          if (!/^nodelist\.node\.\d+\.nodeid$/.test(e.key)) continue;
          try {
            nodeids.push(await cmap.getUint32(e.key));
          } catch {
            // not a u32: skipped as the C tool does
          }
        }
      } catch (e) {
        err.write(`Could not get nodelist from cmap. error ${code(e)}\n`);
        return 1;
      }
      if (nodeids.length === 0) {
        err.write('No nodes found in nodelist\n');
        return 1;
      }
      nodeids.sort((a, b) => a - b);
      const overrides = new Map<number, string>();
      try {
        for await (const e of cmap.iter('totem.interface.')) {
          const m = /^totem\.interface\.(\d+)\.knet_transport$/.exec(e.key);
          if (!m || Number(m[1]) >= 8) continue;
          try {
            overrides.set(Number(m[1]), await cmap.getString(e.key));
          } catch {
            // keep the default
          }
        }
      } catch {
        // defaults are fine
      }
      await cmap.finalize().catch(() => undefined);
      cmap = undefined;

      const header = formatHeader(local, transport);
      const status: CfgNodeStatusV1[] = [];
      const ok: boolean[] = [];
      for (const id of nodeids) {
        try {
          status.push(await cfg.nodeStatusGet(id));
          ok.push(true);
        } catch (e) {
          status.push(zeroStatus());
          ok.push(false);
          // -s reports failures; -n silently skips the node
          if (action === 'linkstatus') {
            err.write(`Could not get the node status for nodeid ${id | 0}, the error is: ${code(e)}\n`);
          }
        }
      }
      const report: LinkReport = {
        localNodeId: local,
        transport,
        nodeids,
        status,
        linkTransport: linkTransports(transport, overrides),
      };
      if (json) {
        const obj = action === 'linkstatus' ? linkStatusJson(report) : nodeStatusJson(report, ok);
        out.write(JSON.stringify(obj, null, 2) + '\n');
      } else {
        out.write(
          header + (action === 'linkstatus' ? formatLinkStatus(report, brief) : formatNodeStatus(report, ok)),
        );
      }
      return 0;
    } finally {
      await cmap?.finalize().catch(() => undefined);
    }
  });
}

async function simpleDo(
  what: 'reload' | 'reopen',
  runDir: string | undefined,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  if (what === 'reload') out.write('Reloading corosync.conf...\n');
  return withCfg(
    runDir,
    err,
    async (cfg) => {
      try {
        if (what === 'reload') await cfg.reloadConfig();
        else await cfg.reopenLogFiles();
        if (what === 'reload') out.write('Done\n');
        return 0;
      } catch (e) {
        err.write(
          what === 'reload'
            ? `Could not reload configuration. Error ${csStrerror(code(e))}\n`
            : `Could not reopen corosync logging files. Error ${csStrerror(code(e))}\n`,
        );
        return code(e);
      }
    },
    csStrerror,
  );
}

async function killDo(
  nodeid: number,
  runDir: string | undefined,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  out.write(`Killing node ${nodeid >>> 0}\n`);
  return withCfg(runDir, err, async (cfg) => {
    try {
      await cfg.killNode(nodeid, 'Killed by corosync-cfgtool');
      return 0;
    } catch (e) {
      err.write(`Could not kill node (error = ${csStrerror(code(e))})\n`);
      return 1;
    }
  });
}

async function shutdownDo(
  force: boolean,
  runDir: string | undefined,
  retryDelayMs: number,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  return withCfg(runDir, err, async (cfg) => {
    out.write('Shutting down corosync\n');
    const flag = force ? CfgShutdownFlag.REGARDLESS : CfgShutdownFlag.REQUEST;
    let result: number = CsErrorCode.CS_OK;
    // cs_repeat(result, 30, …): retry TRY_AGAIN (a sync is running) up to 30 times
    for (let tries = 0; ;) {
      try {
        await cfg.tryShutdown(flag);
        result = CsErrorCode.CS_OK;
        break;
      } catch (e) {
        result = code(e);
        if (result !== CsErrorCode.CS_ERR_TRY_AGAIN || ++tries >= 30) break;
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
      }
    }
    // 3.1.7 reports the failure but still exits 0
    if (result !== CsErrorCode.CS_OK) err.write(`Could not shutdown (error = ${result})\n`);
    return 0;
  });
}

async function showAddrs(
  nodeid: number,
  json: boolean,
  runDir: string | undefined,
  out: OutputSink,
  err: OutputSink,
): Promise<number> {
  return withCfg(runDir, err, async (cfg) => {
    try {
      const addrs = await cfg.getNodeAddrs(nodeid, INTERFACE_MAX);
      if (json) {
        out.write(
          JSON.stringify(
            { nodeid, addresses: addrs.filter((a) => a.family !== 0).map((a) => a.address) },
            null,
            2,
          ) + '\n',
        );
      } else out.write(formatAddresses(addrs));
      return 0;
    } catch {
      err.write(`Could not get node address for nodeid ${nodeid | 0}\n`);
      return 1;
    }
  });
}
