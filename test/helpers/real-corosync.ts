/**
 * Run the real corosync 3.1.7 in its own network namespace for interop tests.
 *
 * Each instance gets: a netns (`ip netns add`) with lo up and, when asked, an interface (`cts0`,
 * dummy or veth) carrying extra addresses; a private mount + UTS namespace (`unshare -m -u`) in which
 * /etc/corosync, /var/lib/corosync, /var/log/corosync and /run are bind mounts of a temp
 * directory and /dev/shm is a private tmpfs (so libqb's shm files never touch the host).
 * Commands run inside with `nsenter` into the daemon's namespaces, so tools like
 * corosync-cmapctl see the same IPC endpoints. stop() ends the daemon, deletes the netns
 * and the temp directory.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DAEMON_NODE_FLAGS } from '../../src/daemon/node-flags.js';

export interface RealCorosyncOptions {
  /** corosync.conf text. */
  configText: string;
  /** Extra addresses for a dummy interface, e.g. "10.250.0.1/24" (default prefix /24, /64). */
  addresses?: string[];
  /** Short label used in the netns name. */
  name?: string;
  /** uname nodename inside the instance (default: the host's). */
  hostname?: string;
  /** Files to place next to corosync.conf, path relative to /etc/corosync (e.g. "uidgid.d/a"). */
  files?: Record<string, string | Buffer>;
  /** How long to wait for IPC to answer (ms). Default 15000. */
  startTimeoutMs?: number;
  /** Called with the new namespace's name before the daemon starts (e.g. to plug it into a bridge). */
  attach?: (ns: string) => void;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RealCorosync {
  readonly ns: string;
  readonly pid: number;
  /** Temp directory holding etc/, lib/, log/, run/. */
  readonly dir: string;
  /** Run a command inside the instance's network, mount and UTS namespaces. */
  exec(cmd: string, args?: string[], timeoutMs?: number): Promise<ExecResult>;
  /** Everything corosync printed so far (stdout + stderr). */
  output(): string;
  /** True while the daemon process runs. */
  running(): boolean;
  stop(): Promise<void>;
}

export interface Availability {
  ok: boolean;
  reason: string;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The corosync.conf the interop tests and the bench run both sides on: udpu, crypto off,
 * hires stderr logging, votequorum (unless `quorum: false`), node i+1 at `addrs[i]`.
 */
export function udpuClusterConfig(opts: {
  clusterName: string;
  addrs: readonly string[];
  /** Lines inside `totem {}` after the fixed ones (two-space indented, newline-terminated). */
  totemExtra?: string;
  /** Lines inside `quorum {}` after the provider (a `device {}`), or false: no quorum section. */
  quorum?: string | false;
  /** Sections after the nodelist (`system {}`). */
  after?: string;
}): string {
  const nodes = opts.addrs
    .map(
      (addr, i) => `  node {\n    name: node${i + 1}\n    nodeid: ${i + 1}\n    ring0_addr: ${addr}\n  }\n`,
    )
    .join('');
  const quorum =
    opts.quorum === false ? '' : `quorum {\n  provider: corosync_votequorum\n${opts.quorum ?? ''}}\n`;
  return (
    `totem {\n  version: 2\n  cluster_name: ${opts.clusterName}\n  transport: udpu\n` +
    `  crypto_cipher: none\n  crypto_hash: none\n${opts.totemExtra ?? ''}}\n` +
    'logging {\n  to_stderr: yes\n  to_syslog: no\n  timestamp: hires\n}\n' +
    `${quorum}nodelist {\n${nodes}}\n${opts.after ?? ''}`
  );
}

/** Can this machine run real corosync in namespaces? */
export function realCorosyncAvailable(): Availability {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { ok: false, reason: 'needs root (network namespaces and bind mounts)' };
  }
  for (const cmd of ['corosync', 'corosync-cmapctl', 'ip', 'unshare', 'nsenter']) {
    if (!which(cmd)) return { ok: false, reason: `${cmd} not found in PATH` };
  }
  const v = spawnSync('corosync', ['-v'], { encoding: 'utf8' });
  if (!/version '3\.1\.7'/.test(v.stdout ?? '')) {
    return { ok: false, reason: `corosync is not version 3.1.7: ${(v.stdout ?? '').split('\n')[0]}` };
  }
  const probe = `ctsprobe${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return { ok: false, reason: `ip netns add failed: ${add.stderr.trim()}` };
  spawnSync('ip', ['netns', 'del', probe]);
  return { ok: true, reason: 'root, corosync 3.1.7 and ip netns available' };
}

let counter = 0;
const live = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const cleanup of live) cleanup();
  });
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

function withPrefix(addr: string): string {
  if (addr.includes('/')) return addr;
  return addr.includes(':') ? `${addr}/64` : `${addr}/24`;
}

function execIn(pid: number, cmd: string, args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      'nsenter',
      ['-t', String(pid), '-m', '-n', '-u', '--', cmd, ...args],
      { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Name of the interface carrying the extra addresses inside an instance's netns. */
export const LOCAL_IF = 'cts0';

/**
 * A multicast-capable interface with carrier inside `ns`: a dummy device when the kernel has
 * the module, else one end of a veth pair whose peer stays in the same namespace.
 */
function addLocalInterface(ns: string): void {
  const dummy = spawnSync('ip', ['-n', ns, 'link', 'add', LOCAL_IF, 'type', 'dummy'], { encoding: 'utf8' });
  if (dummy.status === 0) {
    run('ip', ['-n', ns, 'link', 'set', LOCAL_IF, 'multicast', 'on', 'up']);
    return;
  }
  run('ip', ['-n', ns, 'link', 'add', LOCAL_IF, 'type', 'veth', 'peer', 'name', `${LOCAL_IF}p`]);
  run('ip', ['-n', ns, 'link', 'set', `${LOCAL_IF}p`, 'up']);
  run('ip', ['-n', ns, 'link', 'set', LOCAL_IF, 'up']);
}

interface Prepared {
  ns: string;
  dir: string;
  script: string;
  cleanupSync: () => void;
}

function prepare(opts: RealCorosyncOptions, command: string): Prepared {
  installExitHook();
  const label = (opts.name ?? 'cs').replace(/[^A-Za-z0-9]/g, '').slice(0, 12) || 'cs';
  const ns = `cts-${label}-${process.pid}-${++counter}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-real-'));
  for (const d of ['etc', 'lib', 'log', 'run']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'etc', 'corosync.conf'), opts.configText);
  for (const [rel, content] of Object.entries(opts.files ?? {})) {
    const target = path.join(dir, 'etc', rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
  let nsCreated = false;
  const cleanupSync = (): void => {
    if (nsCreated) spawnSync('ip', ['netns', 'del', ns]);
    nsCreated = false;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('ip', ['netns', 'add', ns]);
    nsCreated = true;
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    if (opts.addresses && opts.addresses.length > 0) {
      addLocalInterface(ns);
      for (const a of opts.addresses) {
        const args = ['-n', ns, 'addr', 'add', withPrefix(a), 'dev', LOCAL_IF];
        if (a.includes(':')) args.push('nodad');
        run('ip', args);
      }
    }
    opts.attach?.(ns);
  } catch (err) {
    cleanupSync();
    throw err;
  }
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const lines = [
    'set -e',
    'mount --make-rprivate /',
    `mount --bind ${q(path.join(dir, 'etc'))} /etc/corosync`,
    `mount --bind ${q(path.join(dir, 'lib'))} /var/lib/corosync`,
    `mount --bind ${q(path.join(dir, 'log'))} /var/log/corosync`,
    `mount --bind ${q(path.join(dir, 'run'))} /run`,
    'mount -t tmpfs tmpfs /dev/shm',
  ];
  if (opts.hostname) lines.push(`hostname ${q(opts.hostname)}`);
  // the daemon dies with the test process even when that is killed (no orphans; setpriv is
  // util-linux, always on Debian)
  lines.push(`exec setpriv --pdeathsig KILL ${command}`);
  const script = path.join(dir, 'start.sh');
  fs.writeFileSync(script, `${lines.join('\n')}\n`);
  return { ns, dir, script, cleanupSync };
}

/**
 * Whether a process's network namespace has a listening unix socket with the abstract name
 * `name` (libqb pads it with NULs, which /proc/net/unix shows as '@').
 */
function listensOnAbstract(pid: number, name: string): boolean {
  let table: string;
  try {
    table = fs.readFileSync(`/proc/${pid}/net/unix`, 'utf8');
  } catch {
    return false;
  }
  const want = new RegExp(`^\\S+: \\S+ \\S+ 00010000 \\S+ \\S+ \\S+ @${name}@*$`, 'm');
  return want.test(table);
}

/** Start real corosync (`corosync -f`) and wait until its IPC answers. */
export async function startRealCorosync(opts: RealCorosyncOptions): Promise<RealCorosync> {
  return startInstance(opts, 'corosync -f -c /etc/corosync/corosync.conf', 'corosync', async (pid) => {
    // cheap first: its cmap socket (abstract, "@cmap" padded) listening in its network namespace;
    // only then a corosync-cmapctl (a process in its namespaces) to see it answer
    if (!listensOnAbstract(pid, 'cmap')) return false;
    const r = await execIn(pid, 'corosync-cmapctl', ['-g', 'totem.version'], 2000);
    // Any answer from the daemon (value or "does not exist") means IPC is up.
    return r.code === 0 || /Can't get key/.test(r.stderr);
  });
}

/** The shipped binary, dist/bundle/main.js, from this compiled file (dist/test/helpers). */
const OUR_CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bundle/main.js');

/** Where our daemon's IPC endpoints of an instance are, seen from the host. */
export function ourRunDir(inst: RealCorosync): string {
  return path.join(inst.dir, 'run', 'corosync-ts');
}

/**
 * Start our daemon (`corosync-ts -f`) in an instance set up exactly like a real corosync one
 * (own network namespace and addresses, hostname, /etc/corosync, /var/lib/corosync, /run), and
 * wait until its cmap endpoint exists. Its run directory, seen from the host, is `ourRunDir(inst)`.
 */
export async function startOurDaemon(opts: RealCorosyncOptions & { args?: string[] }): Promise<RealCorosync> {
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const extra = (opts.args ?? []).map(q).join(' ');
  const command =
    `env COROSYNC_TS_RUN_DIR=/run/corosync-ts ${q(process.execPath)} ${DAEMON_NODE_FLAGS.join(' ')} ${q(OUR_CLI)} ` +
    `-f -c /etc/corosync/corosync.conf ${extra}`;
  let dir = '';
  return startInstance(
    opts,
    command,
    'corosync-ts',
    async () => fs.existsSync(path.join(dir, 'run', 'corosync-ts', 'cmap.sock')),
    (d) => (dir = d),
  );
}

/** How often a starting daemon's readiness is checked. */
const READY_POLL_MS = 5;

async function startInstance(
  opts: RealCorosyncOptions,
  command: string,
  what: string,
  ready: (pid: number) => Promise<boolean>,
  onDir?: (dir: string) => void,
): Promise<RealCorosync> {
  const prep = prepare(opts, command);
  onDir?.(prep.dir);
  let out = '';
  const child = spawn('ip', ['netns', 'exec', prep.ns, 'unshare', '-m', '-u', 'sh', prep.script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const pid = child.pid;
  const cleanupSync = (): void => {
    if (!exited(child)) child.kill('SIGKILL');
    prep.cleanupSync();
  };
  live.add(cleanupSync);
  const inst: RealCorosync = {
    ns: prep.ns,
    pid: pid ?? -1,
    dir: prep.dir,
    exec: (cmd, args = [], timeoutMs = 10000) => execIn(pid ?? -1, cmd, args, timeoutMs),
    output: () => out,
    running: () => !exited(child),
    stop: async () => {
      if (!exited(child)) {
        child.kill('SIGTERM');
        if (!(await waitExit(child, 10000))) {
          child.kill('SIGKILL');
          await waitExit(child, 5000);
        }
      }
      live.delete(cleanupSync);
      prep.cleanupSync();
    },
  };
  try {
    if (pid === undefined) throw new Error('spawn failed');
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15000);
    for (;;) {
      if (exited(child))
        throw new Error(`${what} exited (code ${child.exitCode}) before IPC was up:\n${out}`);
      if (await ready(pid)) break;
      if (Date.now() > deadline) throw new Error(`${what} IPC did not come up in time:\n${out}`);
      // a short poll: the bench's cold start counts from launch to the ring of all nodes, and
      // waits for every daemon's readiness on the way
      await new Promise((res) => setTimeout(res, READY_POLL_MS));
    }
  } catch (err) {
    await inst.stop();
    throw err;
  }
  return inst;
}

/**
 * Run `corosync -t -c /etc/corosync/corosync.conf` inside a fresh instance namespace (same
 * mounts, hostname and addresses) and return its exit code and output.
 */
export async function runRealCorosyncTest(opts: RealCorosyncOptions, timeoutMs = 15000): Promise<ExecResult> {
  const prep = prepare(opts, 'corosync -t -c /etc/corosync/corosync.conf');
  live.add(prep.cleanupSync);
  try {
    return await new Promise<ExecResult>((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', prep.ns, 'unshare', '-m', '-u', 'sh', prep.script],
        { timeout: timeoutMs, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  } finally {
    live.delete(prep.cleanupSync);
    prep.cleanupSync();
  }
}

export interface CmapctlEntry {
  /** corosync-cmapctl's short type name (u32, str, …). */
  type: string;
  /** The printed value. */
  value: string;
}

/** Parse `corosync-cmapctl` dump lines "key (type) = value". */
export function parseCmapctlOutput(text: string): Map<string, CmapctlEntry> {
  const out = new Map<string, CmapctlEntry>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) \(([a-z0-9]+)\) = (.*)$/.exec(line);
    if (m) out.set(m[1] as string, { type: m[2] as string, value: m[3] as string });
  }
  return out;
}

/** Dump all keys of a running instance. */
export async function cmapDump(inst: RealCorosync, timeoutMs = 15_000): Promise<Map<string, CmapctlEntry>> {
  // seen once in CI (udp multicast case): right after the readiness probe succeeded, libcmap's
  // initialize failed with CS_ERR_LIBRARY while corosync kept running; cause not pinned down, so a
  // refused connection of a live daemon is retried until the deadline
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await inst.exec('corosync-cmapctl', []);
    if (r.code === 0) return parseCmapctlOutput(r.stdout);
    const refused = /Failed to initialize the cmap API/.test(r.stderr) && inst.running();
    if (!refused || Date.now() > deadline) {
      throw new Error(`corosync-cmapctl failed (${r.code}): ${r.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}
