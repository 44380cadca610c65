/** The token history behind stats.srp.mtt_rx_token / avg_token_workload / avg_backlog_calc. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN_STATS_MAX, TokenStatsRing, type TokenAverages } from '../../src/totem/token-stats.js';

const ZERO: TokenAverages = {
  mtt_rx_token: 0,
  avg_token_workload: 0,
  avg_backlog_calc: 0,
  time_since_token_last_received: 0,
};

function visit(r: TokenStatsRing, rx: number, hold: number, backlog: number): void {
  r.received(rx);
  r.setBacklog(backlog);
  r.sent(rx + hold);
}

describe('token stats ring (corosync 3.1.7 averaging)', () => {
  it('keeps the previous averages until there is a pair of tokens', () => {
    const r = new TokenStatsRing();
    const prev = { ...ZERO, mtt_rx_token: 7 };
    assert.deepEqual(r.averages(500, prev), { ...prev, time_since_token_last_received: 500 });
    visit(r, 100, 2, 3);
    assert.equal(r.averages(150, prev).mtt_rx_token, 7, 'one token is no interval');
    assert.equal(r.averages(150, prev).time_since_token_last_received, 50);
  });

  it('averages rotation time, hold time and backlog over the pairs after the earliest token', () => {
    const r = new TokenStatsRing();
    visit(r, 10, 1, 4);
    visit(r, 20, 3, 6);
    visit(r, 35, 5, 9);
    // pairs (35,20) and (20,10): the first token only anchors the first interval
    assert.deepEqual(r.averages(40, ZERO), {
      mtt_rx_token: 12, // (15 + 10) / 2, truncated
      avg_token_workload: 4, // (5 + 3) / 2
      avg_backlog_calc: 7, // (9 + 6) / 2, truncated
      time_since_token_last_received: 5,
    });
  });

  it('a token received but not sent counts only if time moved since the previous one', () => {
    const r = new TokenStatsRing();
    visit(r, 10, 0, 0);
    visit(r, 20, 0, 0);
    r.received(20); // same millisecond, never sent: skipped
    assert.equal(r.averages(20, ZERO).mtt_rx_token, 10);
  });

  it('a full ring overwrites its oldest entries and averages the last 98 intervals', () => {
    const r = new TokenStatsRing();
    // 200 tokens: the first 100 every 1 ms, the last 100 every 5 ms
    for (let i = 0; i < 100; i++) visit(r, i, 0, 0);
    for (let i = 0; i < 100; i++) visit(r, 100 + 5 * (i + 1), 0, 0);
    assert.equal(TOKEN_STATS_MAX, 100);
    assert.equal(r.averages(1000, ZERO).mtt_rx_token, 5, 'only the recent 5 ms intervals remain');
  });

  it('wraps in 32-bit milliseconds as corosync does', () => {
    const r = new TokenStatsRing();
    visit(r, 2 ** 32 - 10, 0, 0);
    visit(r, 2 ** 32 + 10, 0, 0); // stored as 10
    visit(r, 2 ** 32 + 30, 0, 0);
    assert.equal(r.averages(2 ** 32 + 30, ZERO).mtt_rx_token, 20);
  });
});
