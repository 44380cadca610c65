/**
 * corosync's daemon flags (getopt "c:ftv": -c FILE, -f, -t, -v) plus our long options.
 */
import { VERSION } from '../version.js';

export const DAEMON_USAGE =
  'usage:\n' +
  '        -c     : Corosync config file path.\n' +
  '        -f     : Start application in foreground.\n' +
  '        -t     : Test configuration and exit.\n' +
  '        -v     : Display version, git revision and some useful information about Corosync and exit.\n' +
  'corosync-ts extensions:\n' +
  '        --default-config        : use the built-in default config (one node on 127.0.0.1, udpu)\n' +
  '        --print-default-config  : print the built-in default config and exit\n' +
  '        --nodeid N              : choose the local nodelist entry by nodeid (several daemons on one host)\n' +
  'tools: corosync-ts cmapctl|cpgtool|quorumtool|cfgtool|keygen [options]\n';

export interface DaemonArgs {
  configFile: string | undefined;
  foreground: boolean;
  testOnly: boolean;
  useDefaultConfig: boolean;
  localNodeId: number | undefined;
}

/** Parse daemon flags the way corosync's getopt("c:ftv") does, plus our long options. */
export function parseDaemonArgs(argv: string[]): DaemonArgs | { exit: number; out?: string; err?: string } {
  const args: DaemonArgs = {
    configFile: undefined,
    foreground: false,
    testOnly: false,
    useDefaultConfig: false,
    localNodeId: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (arg === '--default-config') {
      args.useDefaultConfig = true;
      continue;
    }
    if (arg === '--print-default-config') return { exit: 0, out: 'print-default-config' };
    if (arg === '--nodeid' || arg.startsWith('--nodeid=')) {
      const value = arg.includes('=') ? arg.slice('--nodeid='.length) : argv[++i];
      const n = Number(value);
      if (!value || !Number.isInteger(n) || n <= 0 || n > 0xffffffff) {
        return { exit: 1, err: `corosync-ts: --nodeid needs a node id, got '${value ?? ''}'\n` };
      }
      args.localNodeId = n;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      // corosync ignores non-option arguments
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j]!;
      switch (flag) {
        case 'c': {
          const rest = arg.slice(j + 1);
          const value = rest !== '' ? rest : argv[++i];
          if (value === undefined) {
            return { exit: 1, err: `corosync-ts: option requires an argument -- 'c'\n${DAEMON_USAGE}` };
          }
          args.configFile = value;
          j = arg.length;
          break;
        }
        case 'f':
          args.foreground = true;
          break;
        case 't':
          args.testOnly = true;
          break;
        case 'v':
          return { exit: 0, out: versionText() };
        default:
          return { exit: 1, err: `corosync-ts: invalid option -- '${flag}'\n${DAEMON_USAGE}` };
      }
    }
  }
  return args;
}

export function versionText(): string {
  return (
    `Corosync Cluster Engine, version '3.1.7' (corosync-ts ${VERSION})\n` +
    'corosync-ts: the Corosync Cluster Engine rebuilt in TypeScript\n\n' +
    'Built-in features: udpu udp\n' +
    'Available crypto models: none\n' +
    'Available compression models: none\n'
  );
}
