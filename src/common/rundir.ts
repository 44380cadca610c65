/**
 * Where a daemon puts its IPC endpoints and where clients look for them.
 *
 * Order (first that is set wins): the COROSYNC_TS_RUN_DIR environment variable, the
 * `system.run_dir` config key (daemon only), then a default: /run/corosync-ts for root,
 * $XDG_RUNTIME_DIR/corosync-ts or the OS temp dir's corosync-ts-<uid> for other users.
 * The environment wins over the file so a test (or an operator) can point a daemon and its
 * clients at the same place without editing configs.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RUN_DIR_ENV = 'COROSYNC_TS_RUN_DIR';

export function defaultRunDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (uid === 0) return '/run/corosync-ts';
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg) return join(xdg, 'corosync-ts');
  return join(tmpdir(), `corosync-ts-${uid}`);
}

/** The run directory a client uses (explicit option > environment > default). */
export function resolveRunDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  const fromEnv = env[RUN_DIR_ENV];
  if (fromEnv) return fromEnv;
  return defaultRunDir(env);
}

/** The run directory the daemon uses (environment > config key > default). */
export function resolveDaemonRunDir(
  configured: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return env[RUN_DIR_ENV] || configured || defaultRunDir(env);
}

/** Path of a service's IPC socket inside a run directory, e.g. <run>/cmap.sock. */
export function serviceSocketPath(runDir: string, service: string): string {
  return join(runDir, `${service}.sock`);
}
