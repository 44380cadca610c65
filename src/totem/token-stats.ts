/**
 * The per-token history behind `stats.srp.mtt_rx_token`, `avg_token_workload`,
 * `avg_backlog_calc` and `time_since_token_last_received`, kept as corosync 3.1.7 keeps it: a
 * ring of the last 100 accepted tokens (receive time, send time, backlog seen while computing
 * flow control), averaged by the daemon's 1.5 s stats timer. Times are whole milliseconds in
 * 32-bit unsigned arithmetic, as corosync stores them, so the averages wrap exactly where
 * corosync's do. Pure: callers pass the time.
 */

/** corosync's TOTEM_TOKEN_STATS_MAX. */
export const TOKEN_STATS_MAX = 100;
/** corosync's MAX_NO_CONT_GATHER: more consecutive GATHER entries than this look like a firewall. */
export const MAX_NO_CONT_GATHER = 3;
/** corosync's MAX_NO_CONT_SENDMSG_FAILURES. */
export const MAX_NO_CONT_SENDMSG_FAILURES = 30;

export interface TokenAverages {
  mtt_rx_token: number;
  avg_token_workload: number;
  avg_backlog_calc: number;
  time_since_token_last_received: number;
}

export class TokenStatsRing {
  private readonly rx = new Uint32Array(TOKEN_STATS_MAX);
  private readonly tx = new Uint32Array(TOKEN_STATS_MAX);
  private readonly backlog = new Uint32Array(TOKEN_STATS_MAX);
  private latest = 0;
  private earliest = 0;

  /** An accepted token arrived (corosync's TOKEN_RECEIVED callback). */
  received(nowMs: number): void {
    this.latest = this.latest === TOKEN_STATS_MAX - 1 ? 0 : this.latest + 1;
    if (this.earliest === this.latest) {
      // full: the oldest slot is dropped and reused
      this.earliest = this.earliest === TOKEN_STATS_MAX - 1 ? 0 : this.earliest + 1;
      this.rx[this.earliest] = 0;
      this.tx[this.earliest] = 0;
      this.backlog[this.earliest] = 0;
    }
    this.rx[this.latest] = Math.trunc(nowMs) >>> 0;
    this.tx[this.latest] = 0; // stays 0 if this token is never sent on
  }

  /** The token was sent on (corosync's TOKEN_SENT callback). */
  sent(nowMs: number): void {
    this.tx[this.latest] = Math.trunc(nowMs) >>> 0;
  }

  /** The backlog flow control just computed for the current token. */
  setBacklog(n: number): void {
    this.backlog[this.latest] = n >>> 0;
  }

  /** Receive time of the latest token (0 before any). */
  get lastRx(): number {
    return this.rx[this.latest]!;
  }

  /**
   * The 1.5 s update: averages over the pairs from the latest token back to (not including)
   * the earliest one, skipping tokens that were neither sent nor later than their predecessor.
   * Where there is no pair yet, the previous averages stay (`prev`), as in corosync.
   */
  averages(nowMs: number, prev: TokenAverages): TokenAverages {
    let totalMtt = 0;
    let totalHold = 0;
    let totalBacklog = 0;
    let count = 0;
    let t = this.latest;
    for (;;) {
      const p = t === 0 ? TOKEN_STATS_MAX - 1 : t - 1;
      if (p === this.earliest) break;
      const gap = (this.rx[t]! - this.rx[p]!) >>> 0;
      if (this.tx[t] !== 0 || gap > 0) {
        totalMtt = (totalMtt + gap) >>> 0;
        totalHold = (totalHold + ((this.tx[t]! - this.rx[t]!) >>> 0)) >>> 0;
        totalBacklog = (totalBacklog + this.backlog[t]!) >>> 0;
        count++;
      }
      t = p;
    }
    const out = { ...prev };
    if (count > 0) {
      out.mtt_rx_token = Math.floor(totalMtt / count);
      out.avg_token_workload = Math.floor(totalHold / count);
      out.avg_backlog_calc = Math.floor(totalBacklog / count);
    }
    // 64-bit in corosync (now − a 32-bit receive time): no wrap here
    out.time_since_token_last_received = Math.max(0, Math.trunc(nowMs) - this.rx[this.latest]!);
    return out;
  }
}
