/**
 * `corosync-ts cpgtool`: corosync-cpgtool of corosync 3.1.7 — same options, output, messages
 * and exit codes — plus `--json`.
 *
 *   cpgtool [-d delimiter] [-e] [-n] [-h]
 *
 *   (none)  every group with its members: pid, node id and the node's addresses
 *   -d D    delimited output (first byte of D); no addresses
 *   -e      print group names raw instead of escaping unprintable bytes
 *   -n      group names only
 *   -h      help
 *
 * `--json` (ours, anywhere before `--`): the full listing becomes a JSON array of
 * `{"group","pid","nodeid","addresses"}` objects, `-n` an array of names; `-d` is ignored
 * then. Group names in JSON are escaped as in the text output unless `-e` is given (then
 * they are the bytes decoded as UTF-8).
 *
 * Node addresses: the C tool asks the cfg service (corosync_cfg_get_node_addrs). Until our cfg
 * client exists they come from the cmap key `runtime.members.<nodeid>.ip`; when cmap cannot be
 * opened the tool fails the way the C tool fails when cfg cannot be opened. Exit codes: 0 on
 * success, 1 on an option error, a connection failure or an iteration error.
 */
import { CmapHandle, CpgHandle, CpgIterationType, type CpgIterationDescription } from '../client/index.js';
import { resolveRunDir } from '../common/rundir.js';
import { getopt, takeJsonFlag } from './args.js';
import { csCode as code, initializeOrReport, type OutputSink } from './tool-io.js';
import {
  addressesFromMemberIp,
  cpgtoolUsage,
  delimiterFromArg,
  formatFullListing,
  formatNameListing,
  jsonFullListing,
  jsonNameListing,
  type CpgtoolEntry,
} from './cpgtool-format.js';

export interface CpgtoolIo {
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** Environment (COROSYNC_TS_RUN_DIR, POSIXLY_CORRECT). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Explicit daemon run directory (overrides the environment). */
  runDir?: string;
  /** Name used in diagnostics and the usage line. Default "corosync-cpgtool". */
  progName?: string;
}

const OPTSTRING = 'hd:ne';

/** Run the tool; resolves with the exit code. */
export async function cpgtoolMain(argv: string[], io: CpgtoolIo = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const progName = io.progName ?? 'corosync-cpgtool';

  const { args, json } = takeJsonFlag(argv);

  const parsed = getopt(args, OPTSTRING, { progName, env });
  let delimiter: number | undefined;
  let escape = true;
  let namesOnly = false;
  for (const { opt, arg = '' } of parsed.options) {
    switch (opt) {
      case 'd': {
        const d = delimiterFromArg(arg);
        if (d !== undefined) delimiter = d;
        break;
      }
      case 'n':
        namesOnly = true;
        break;
      case 'e':
        escape = false;
        break;
      case 'h':
        out.write(cpgtoolUsage(progName));
        return 0;
    }
  }
  if (parsed.error) {
    err.write(parsed.error.message + '\n');
    return 1;
  }

  const runDir = io.runDir ?? (io.env ? resolveRunDir(undefined, io.env) : undefined);
  const cpg = await initializeOrReport(() => CpgHandle.initialize({}, { runDir }), 'cpg', err);
  if (!cpg) return 1;
  let cmap: CmapHandle | undefined;
  try {
    // The C tool opens cfg (for addresses) whatever the options; we open cmap likewise.
    cmap = await initializeOrReport(() => CmapHandle.initialize(undefined, { runDir }), 'configuration', err);
    if (!cmap) return 1;

    let iter: bigint;
    try {
      iter = await cpg.iterationInitialize(namesOnly ? CpgIterationType.NAME_ONLY : CpgIterationType.ALL);
    } catch (e) {
      err.write(`Cannot initialize cpg iterator error ${code(e)}\n`);
      return 1;
    }
    const entries: CpgIterationDescription[] = [];
    let failure: unknown;
    for (;;) {
      try {
        const d = await cpg.iterationNext(iter);
        if (!d) break;
        entries.push(d);
      } catch (e) {
        failure = e;
        break;
      }
    }
    const list: CpgtoolEntry[] = entries.map((e) => ({ group: e.group.bytes, nodeid: e.nodeid, pid: e.pid }));

    if (namesOnly) {
      // The C tool prints what it got and ignores an iteration error here.
      const names = list.map((e) => e.group);
      out.write(json ? jsonNameListing(names, escape) : formatNameListing(names, { delimiter, escape }));
      await cpg.iterationFinalize(iter).catch(() => undefined);
      return 0;
    }

    const addrs = new Map<number, string[]>();
    if (cmap && (delimiter === undefined || json)) {
      for (const e of list) {
        if (addrs.has(e.nodeid)) continue;
        let a: string[] = [];
        try {
          a = addressesFromMemberIp(await cmap.getString(`runtime.members.${e.nodeid}.ip`));
        } catch {
          // unknown node: the C tool prints empty parentheses when cfg has no addresses
        }
        addrs.set(e.nodeid, a);
      }
    }
    const lookup = (nodeid: number): string[] => addrs.get(nodeid) ?? [];
    if (failure !== undefined) {
      // The C tool has already printed the entries before it notices the error.
      if (!json) out.write(formatFullListing(list, { delimiter, escape }, lookup));
      err.write(`cpg iteration error ${code(failure)}\n`);
      return 1;
    }
    out.write(
      json ? jsonFullListing(list, escape, lookup) : formatFullListing(list, { delimiter, escape }, lookup),
    );
    await cpg.iterationFinalize(iter).catch(() => undefined);
    return 0;
  } finally {
    await cpg.finalize().catch(() => undefined);
    await cmap?.finalize().catch(() => undefined);
  }
}
