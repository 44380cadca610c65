/**
 * A virtual LAN for multi-node tests: a hub network namespace holding a Linux bridge, and one
 * veth pair per node namespace (the node's end is `eth0` with the node's address). Loss between
 * nodes is made with nftables rules in the hub (the kernel here has no netem).
 */
import { spawnSync } from 'node:child_process';

let counter = 0;

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

export class NetnsBridge {
  readonly hub: string;
  private ports = 0;
  private destroyed = false;
  /** Removes the hub if the process exits first; unhooked by destroy() (no listener leak). */
  private readonly onExit = (): void => this.destroy();

  private constructor(hub: string) {
    this.hub = hub;
  }

  /** Create the hub namespace with bridge `br0` up. */
  static create(label = 'br'): NetnsBridge {
    const hub = `cts-${label}-${process.pid}-${++counter}`;
    run('ip', ['netns', 'add', hub]);
    const bridge = new NetnsBridge(hub);
    try {
      run('ip', ['-n', hub, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
      run('ip', ['-n', hub, 'link', 'set', 'br0', 'up']);
    } catch (err) {
      bridge.destroy();
      throw err;
    }
    process.once('exit', bridge.onExit);
    return bridge;
  }

  /** Plug namespace `ns` into the bridge: its `eth0` gets `cidr` (e.g. 10.250.0.1/24). */
  attach(ns: string, cidr: string): void {
    const port = `p${++this.ports}`;
    const tmp = `ctsv${process.pid % 10000}x${this.ports}`;
    run('ip', ['-n', this.hub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', tmp]);
    run('ip', ['-n', this.hub, 'link', 'set', tmp, 'netns', ns]);
    run('ip', ['-n', ns, 'link', 'set', tmp, 'name', 'eth0']);
    run('ip', ['-n', ns, 'addr', 'add', cidr.includes('/') ? cidr : `${cidr}/24`, 'dev', 'eth0']);
    run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    run('ip', ['-n', this.hub, 'link', 'set', port, 'master', 'br0']);
    run('ip', ['-n', this.hub, 'link', 'set', port, 'up']);
  }

  /** Remove the hub namespace (its veth ends vanish with it). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    spawnSync('ip', ['netns', 'del', this.hub]);
  }
}
