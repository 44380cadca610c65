/**
 * The configuration the totemsrp core needs (spec/totem-srp.md §2), as a plain object so tests
 * and the simulator can set any value. {@link srpConfig} applies corosync's defaults and
 * derivations; {@link srpConfigFromTotem} takes the effective values of a loaded corosync.conf.
 */
import type { TotemConfig } from '../config/totem.js';

export interface SrpConfig {
  /** The local nodeid (non-zero u32). */
  nodeId: number;
  /** Every configured nodeid, the local one included (the udpu member list). */
  nodelist: readonly number[];
  /** Token timeout (already scaled by token_coefficient), ms. */
  token: number;
  tokenRetransmit: number;
  hold: number;
  /** token_warning percent (0 disables the warning timer). */
  tokenWarning: number;
  join: number;
  consensus: number;
  merge: number;
  failRecvConst: number;
  seqnoUnchangedConst: number;
  windowSize: number;
  maxMessages: number;
  missCountConst: number;
  heartbeatFailuresAllowed: number;
  maxNetworkDelay: number;
  cancelTokenHoldOnRetransmit: boolean;
  /** `MESSAGE_QUEUE_MAX` = 4 MiB / totempg net_mtu (2974 for netmtu 1500). */
  messageQueueMax: number;
}

/** Knobs of {@link srpConfig}: any SrpConfig field, plus the un-derived inputs. */
export interface SrpConfigInput extends Partial<SrpConfig> {
  /** `totem.token` before scaling (default 3000). */
  baseToken?: number;
  /** `totem.token_coefficient` (default 650). */
  tokenCoefficient?: number;
  /** `totem.token_retransmits_before_loss_const` (default 4). */
  tokenRetransmitsBeforeLossConst?: number;
  /** `totem.netmtu` (default 1500). */
  netmtu?: number;
}

/**
 * Effective configuration with corosync 3.1.7's defaults and derived timeouts: token scaled by
 * `(N − 2) × token_coefficient` for N > 2 nodelist entries, token_retransmit = token / (k + 0.2),
 * hold = token_retransmit × 0.8 − 10, consensus = 1.2 × token. Explicit fields win.
 */
export function srpConfig(
  nodeId: number,
  nodelist: readonly number[],
  input: SrpConfigInput = {},
): SrpConfig {
  const n = nodelist.length;
  const coefficient = input.tokenCoefficient ?? 650;
  const token = input.token ?? (input.baseToken ?? 3000) + (n > 2 ? (n - 2) * coefficient : 0);
  const k = input.tokenRetransmitsBeforeLossConst ?? 4;
  const tokenRetransmit = input.tokenRetransmit ?? Math.trunc(token / (k + 0.2));
  const hold = input.hold ?? Math.trunc(tokenRetransmit * 0.8 - 10);
  const consensus = input.consensus ?? Math.trunc(1.2 * token);
  const netmtu = input.netmtu ?? 1500;
  return {
    nodeId,
    nodelist: [...nodelist],
    token,
    tokenRetransmit,
    hold,
    tokenWarning: input.tokenWarning ?? 75,
    join: input.join ?? 50,
    consensus,
    merge: input.merge ?? 200,
    failRecvConst: input.failRecvConst ?? 2500,
    seqnoUnchangedConst: input.seqnoUnchangedConst ?? 30,
    windowSize: input.windowSize ?? 50,
    maxMessages: input.maxMessages ?? 17,
    missCountConst: input.missCountConst ?? 5,
    heartbeatFailuresAllowed: input.heartbeatFailuresAllowed ?? 0,
    maxNetworkDelay: input.maxNetworkDelay ?? 50,
    cancelTokenHoldOnRetransmit: input.cancelTokenHoldOnRetransmit ?? false,
    messageQueueMax: input.messageQueueMax ?? Math.trunc((4 * 1048576) / (netmtu - 90)),
  };
}

/** The core's configuration from the effective totem config of a loaded corosync.conf. */
export function srpConfigFromTotem(t: TotemConfig): SrpConfig {
  const nodelist = (t.interfaces[0]?.members ?? []).map((m) => m.nodeid);
  return {
    nodeId: t.nodeId,
    nodelist,
    token: t.token,
    tokenRetransmit: t.tokenRetransmit,
    hold: t.hold,
    tokenWarning: t.tokenWarning,
    join: t.join,
    consensus: t.consensus,
    merge: t.merge,
    failRecvConst: t.failRecvConst,
    seqnoUnchangedConst: t.seqnoUnchangedConst,
    windowSize: t.windowSize,
    maxMessages: t.maxMessages,
    missCountConst: t.missCountConst,
    heartbeatFailuresAllowed: t.heartbeatFailuresAllowed,
    maxNetworkDelay: t.maxNetworkDelay,
    cancelTokenHoldOnRetransmit: t.cancelTokenHoldOnRetransmit !== 0,
    messageQueueMax: Math.trunc((4 * 1048576) / (t.netMtu - 90)),
  };
}
