/**
 * The read-only access list corosync registers at startup (spec/cmap.md §1.3): keys cmap IPC
 * clients may not set, delete or adjust. Internal writers (config reload, services) are not
 * affected. Where corosync registers each group: CORE_* in exec/main.c, LOCAL_NODE_POS_KEY in
 * totemconfig (once the local node's position is known), VOTEQUORUM_RO_KEYS in votequorum's
 * init (only when votequorum is the quorum provider).
 */
import type { Icmap } from './icmap.js';

export const CORE_RO_PREFIXES: readonly string[] = [
  'internal_configuration.',
  'runtime.services.',
  'runtime.config.',
  'runtime.totem.',
  'uidgid.config.',
  'system.',
  'nodelist.',
];

export const CORE_RO_KEYS: readonly string[] = [
  'totem.crypto_cipher',
  'totem.crypto_hash',
  'totem.crypto_model',
  'totem.keyfile',
  'totem.key',
  'totem.secauth',
  'totem.ip_version',
  'totem.rrp_mode',
  'totem.transport',
  'totem.cluster_name',
  'totem.netmtu',
  'totem.threads',
  'totem.version',
  'totem.nodeid',
  'totem.clear_node_high_bit',
  'config.reload_in_progress',
  'config.totemconfig_reload_in_progress',
];

export const LOCAL_NODE_POS_KEY = 'nodelist.local_node_pos';

export const VOTEQUORUM_RO_KEYS: readonly string[] = [
  'quorum.allow_downscale',
  'quorum.wait_for_all',
  'quorum.last_man_standing',
  'quorum.last_man_standing_window',
  'quorum.expected_votes_tracking',
  'quorum.auto_tie_breaker',
  'quorum.auto_tie_breaker_node',
];

/** Registers the exec/main.c part of the list (prefixes and core keys). */
export function installCoreReadOnlyKeys(icmap: Icmap): void {
  for (const p of CORE_RO_PREFIXES) icmap.addReadOnly(p, true);
  for (const k of CORE_RO_KEYS) icmap.addReadOnly(k, false);
}

/** Registers votequorum's keys (call when votequorum initialises). */
export function installVotequorumReadOnlyKeys(icmap: Icmap): void {
  for (const k of VOTEQUORUM_RO_KEYS) icmap.addReadOnly(k, false);
}

/**
 * The whole list of spec §1.3 at once (core + local_node_pos + votequorum), for callers that do
 * not register the groups at the moments corosync does.
 */
export function installDefaultReadOnlyKeys(icmap: Icmap): void {
  installCoreReadOnlyKeys(icmap);
  icmap.addReadOnly(LOCAL_NODE_POS_KEY, false);
  installVotequorumReadOnlyKeys(icmap);
}
