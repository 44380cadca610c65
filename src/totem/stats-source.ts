/**
 * The stats map's `stats.srp.*` and `stats.pg.*` keys (cmap.md §5.1) read from the live
 * counters of the SRP core and totempg. Pure: values are read when the stats map asks.
 */
import { CmapValueType, encodeValue, type StoredValue } from '../cmap/types.js';
import type { StatsSource } from '../cmap/stats.js';
import type { SrpStats } from './srp.js';
import type { PgStats } from './pg.js';

const U64_KEYS = [
  'orf_token_tx',
  'orf_token_rx',
  'memb_merge_detect_tx',
  'memb_merge_detect_rx',
  'memb_join_tx',
  'memb_join_rx',
  'mcast_tx',
  'mcast_retx',
  'mcast_rx',
  'memb_commit_token_tx',
  'memb_commit_token_rx',
  'token_hold_cancel_tx',
  'token_hold_cancel_rx',
  'operational_entered',
  'operational_token_lost',
  'gather_entered',
  'gather_token_lost',
  'commit_entered',
  'commit_token_lost',
  'recovery_entered',
  'recovery_token_lost',
  'consensus_timeouts',
  'rx_msg_dropped',
] as const satisfies ReadonlyArray<keyof SrpStats>;

const U32_KEYS = ['continuous_gather', 'continuous_sendmsg_failures'] as const satisfies ReadonlyArray<
  keyof SrpStats
>;

/** Values corosync recomputes every 1.5 s; the runtime updates them from its stats timer. */
export interface SrpDerivedStats {
  mtt_rx_token: number;
  avg_token_workload: number;
  avg_backlog_calc: number;
  time_since_token_last_received: number;
}

export interface TotemStatsInputs {
  srp: () => SrpStats;
  derived: () => SrpDerivedStats;
  pg: () => PgStats;
  clear: () => void;
}

const u64 = (n: number): StoredValue =>
  encodeValue({ type: CmapValueType.UINT64, value: BigInt(Math.max(0, n)) });
const u32 = (n: number): StoredValue => encodeValue({ type: CmapValueType.UINT32, value: n >>> 0 });
const u8 = (n: number): StoredValue => encodeValue({ type: CmapValueType.UINT8, value: n & 0xff });

/** One source for `stats.srp.` and one for `stats.pg.`, as corosync names and types them. */
export function totemStatsSources(inputs: TotemStatsInputs): Array<{ prefix: string; source: StatsSource }> {
  const srpKeys = [
    ...U64_KEYS,
    ...U32_KEYS,
    'firewall_enabled_or_nic_failure',
    'mtt_rx_token',
    'avg_token_workload',
    'avg_backlog_calc',
    'time_since_token_last_received',
  ].map((k) => `stats.srp.${k}`);
  const srp: StatsSource = {
    keys: () => srpKeys,
    get(key) {
      const name = key.slice('stats.srp.'.length);
      const s = inputs.srp();
      if ((U64_KEYS as readonly string[]).includes(name)) return u64(s[name as keyof SrpStats]);
      if ((U32_KEYS as readonly string[]).includes(name)) return u32(s[name as keyof SrpStats]);
      if (name === 'firewall_enabled_or_nic_failure') return u8(s.firewall_enabled_or_nic_failure);
      const d = inputs.derived();
      if (name === 'time_since_token_last_received') return u64(d.time_since_token_last_received);
      if (name === 'mtt_rx_token' || name === 'avg_token_workload' || name === 'avg_backlog_calc') {
        return u32(d[name]);
      }
      return undefined;
    },
    clear: (target) => {
      if (target === 'totem') inputs.clear();
    },
  };
  const pgKeys = ['stats.pg.msg_queue_avail', 'stats.pg.msg_reserved'];
  const pg: StatsSource = {
    keys: () => pgKeys,
    get(key) {
      const p = inputs.pg();
      if (key === 'stats.pg.msg_queue_avail') return u32(p.msgQueueAvail);
      if (key === 'stats.pg.msg_reserved') return u32(p.msgReserved);
      return undefined;
    },
  };
  return [
    { prefix: 'stats.srp.', source: srp },
    { prefix: 'stats.pg.', source: pg },
  ];
}
