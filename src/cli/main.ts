#!/usr/bin/env -S node --single-threaded-gc --v8-pool-size=1 --expose-gc --max-semi-space-size=4
/**
 * The one `corosync-ts` binary. With a first word naming a tool it is that tool
 * (`corosync-ts cmapctl -g totem.version`); otherwise it is the daemon and takes corosync's
 * own flags (-c FILE, -f, -t, -v) plus a few long options of ours.
 */
import { parseDaemonArgs } from './daemon-args.js';

const TOOLS: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  cmapctl: async () => (await import('./cmapctl.js')).cmapctlMain,
  cpgtool: async () => (await import('./cpgtool.js')).cpgtoolMain,
  quorumtool: async () => (await import('./quorumtool.js')).quorumtoolMain,
  cfgtool: async () => (await import('./cfgtool.js')).cfgtoolMain,
  keygen: async () => (await import('./keygen.js')).keygenMain,
};

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-')) {
    const load = TOOLS[first];
    if (load) return (await load())(argv.slice(1));
  }
  const parsed = parseDaemonArgs(argv);
  if ('exit' in parsed) {
    if (parsed.out === 'print-default-config') {
      const { BUILTIN_CONFIG } = await import('../config/load.js');
      process.stdout.write(BUILTIN_CONFIG);
    } else if (parsed.out) process.stdout.write(parsed.out);
    if (parsed.err) process.stderr.write(parsed.err);
    return parsed.exit;
  }
  if (!parsed.testOnly) {
    const { reexecWithDaemonFlags } = await import('../daemon/node-flags.js');
    const { isDaemonizedChild } = await import('../daemon/background.js');
    // the background parent only spawns the daemon (with the flags); the daemon itself needs them
    if (parsed.foreground || isDaemonizedChild()) {
      const failure = reexecWithDaemonFlags(process.argv[1]!, argv);
      if (failure) process.stderr.write(`corosync-ts: ${failure}; running without them\n`);
    }
  }
  const { runDaemon } = await import('../daemon/daemon.js');
  return runDaemon(parsed);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`corosync-ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
