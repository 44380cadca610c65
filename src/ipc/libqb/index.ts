/**
 * Starting the libqb transport beside our own one (daemon wiring): loads the addon, reads
 * `system.qb_ipc_type`, and applies corosync's connection rules (exec/ipc_glue.c): uid 0 or
 * gid 0, or a `uidgid.uid.<uid>`, `uidgid.config.uid.<uid>`, `uidgid.gid.<gid>` or
 * `uidgid.config.gid.<gid>` key with the u8 value 1.
 */
import type { IpcLogger, IpcServer } from '../server.js';
import { loadQbNative } from './native.js';
import { LibqbTransport } from './transport.js';

export { LibqbTransport } from './transport.js';
export { loadQbNative } from './native.js';

/** A typed view of the cmap keys the transport reads. */
export interface LibqbConfigView {
  /** The value of a string key, if set. */
  getString(key: string): string | undefined;
  /** The value of a u8 key, if set with that type. */
  getU8(key: string): number | undefined;
}

/** corosync's cs_ipcs_connection_accept credential rule. */
export function uidGidAllowed(cfg: LibqbConfigView, uid: number, gid: number): boolean {
  if (uid === 0 || gid === 0) return true;
  for (const key of [
    `uidgid.uid.${uid}`,
    `uidgid.config.uid.${uid}`,
    `uidgid.gid.${gid}`,
    `uidgid.config.gid.${gid}`,
  ]) {
    if (cfg.getU8(key) === 1) return true;
  }
  return false;
}

/** Start the libqb transport for every registered service; undefined (after one warning) if impossible. */
export async function startLibqbTransport(
  server: IpcServer,
  cfg: LibqbConfigView,
  logger: IpcLogger,
): Promise<LibqbTransport | undefined> {
  const load = loadQbNative();
  if (!load.ok) {
    logger.warn(`libqb IPC disabled (corosync's own tools and libraries cannot connect): ${load.reason}`);
    return undefined;
  }
  // corosync's cs_get_ipc_type: native (the default) is shm on Linux; shm; socket
  const type = cfg.getString('system.qb_ipc_type') === 'socket' ? 'socket' : 'shm';
  const transport = new LibqbTransport(server, {
    native: load.native,
    authorize: (uid, gid) => uidGidAllowed(cfg, uid, gid),
    type,
  });
  try {
    transport.sweepStale();
    const names = await transport.listenAll(server.serviceNames());
    logger.info(`libqb IPC (${type}) listening for ${names.join(', ') || 'no services'}`);
  } catch (err) {
    // never fatal: our own transport still serves
    logger.warn(`libqb IPC disabled: ${err instanceof Error ? err.message : String(err)}`);
    await transport.close().catch(() => undefined);
    return undefined;
  }
  return transport;
}
