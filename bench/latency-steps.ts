/**
 * A CPG message's way from the sending client to every receiving client, step by step, from
 * system-call tracepoints recorded on all CPUs during a latency run (`npm run bench --
 * --steps`, which runs `perf record` around one extra, uncounted latency run of each side).
 *
 * Both sides make the same system calls at the same points, which is what makes the steps
 * comparable without instrumenting either program:
 * - a client's request: sendmsg (our library: header and body) or a sendto without an address
 *   (libqb's one-byte notification after writing the request into shared memory);
 * - a daemon reads a request with recvfrom and writes a client's event (or libqb's event
 *   notification) with a sendto without an address; its UDP sends are sendto with an address
 *   or sendmsg (corosync's sends, our segmented runs);
 * - a client reads its event (or the notification) with recvfrom.
 *
 * Per message (the sender's request at t0): the first daemon (the sender's node) reads it, its
 * first UDP send after that (the hold-cancel or the token on a resting ring) starts the ring,
 * each daemon writes the event, each client reads it. Pure: text in, table out.
 */

export interface StepRow {
  step: string;
  n: number;
  p10Us: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

type Kind = 'request' | 'read' | 'event' | 'udp';

interface TraceEvent {
  t: number;
  pid: number;
  kind: Kind;
}

const LINE = /^\s*(\d+)\/\d+\s+([\d.]+):\s+syscalls:sys_(\S+):\s*(.*)$/;
const ADDR = /addr: (0x[0-9a-f]+)/;

/** The tracepoints to record (perf record -e). */
export const STEP_EVENTS = [
  'syscalls:sys_enter_sendto',
  'syscalls:sys_enter_sendmsg',
  'syscalls:sys_exit_recvfrom',
].join(',');

/** Classify `perf script -F pid,tid,time,event,trace` lines of the given processes. */
function parse(text: string, daemons: ReadonlySet<number>, clients: ReadonlySet<number>): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const t = Number(m[2]);
    const name = m[3]!;
    const addrMatch = ADDR.exec(m[4]!);
    const noAddr = addrMatch !== null && Number(addrMatch[1]) === 0;
    let kind: Kind | undefined;
    if (clients.has(pid)) {
      if (name === 'enter_sendmsg' || (name === 'enter_sendto' && noAddr)) kind = 'request';
      else if (name === 'exit_recvfrom') kind = 'read';
    } else if (daemons.has(pid)) {
      if (name === 'exit_recvfrom') kind = 'read';
      else if (name === 'enter_sendto' && noAddr) kind = 'event';
      else if (name === 'enter_sendto' || name === 'enter_sendmsg') kind = 'udp';
    }
    if (kind) out.push({ t, pid, kind });
  }
  out.sort((a, b) => a.t - b.t);
  return out;
}

/** Median of `xs` (not empty; the mean of the middle two for an even count): the bench's one definition. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile of ascending `sorted` (not empty): the bench's one definition. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * How far below zero a step-6 value may be before the match is taken as wrong: the samples are
 * CLOCK_MONOTONIC differences, the steps perf's clock, both read from the same counter.
 */
const STAMP_SLACK_US = 5;

/** How many requests of the sender (`clientPids[0]`) the trace holds. */
export function countRequests(
  text: string,
  daemonPids: readonly number[],
  clientPids: readonly number[],
): number {
  const sender = clientPids[0];
  return parse(text, new Set(daemonPids), new Set(clientPids)).filter(
    (e) => e.pid === sender && e.kind === 'request',
  ).length;
}

/**
 * The step table. `daemonPids[i]` and `clientPids[i]` are node i+1's daemon and client; the
 * sender is `clientPids[0]`. A message's events are looked for until the next request or
 * `windowS` seconds after it.
 *
 * `latencyUs[i][m]`, when given, is client i's latency sample (the bench's own, from the
 * sender's time stamp to the receiving client's) of the run's m-th message. Step 6 is each
 * sample minus its step 5: the time the clients spent outside the traced calls on the message's
 * way, i.e. in the sender from its stamp to its request and in the receiver from its read to its
 * stamp (library code, and the waits for a CPU inside it). The traced requests are the run's
 * last ones (perf's tracepoints come on a few tens of ms after its file appears, so the first
 * messages of a run can be missing); as a stamp precedes its request and a read its stamp, no
 * value may be negative, and if one is (beyond STAMP_SLACK_US) the requests were not the samples'
 * messages and step 6 is left out, as it is when a client's samples are fewer than the requests.
 */
export function analyzeSteps(
  text: string,
  daemonPids: readonly number[],
  clientPids: readonly number[],
  windowS = 0.004,
  latencyUs?: readonly (readonly number[])[],
): StepRow[] {
  const events = parse(text, new Set(daemonPids), new Set(clientPids));
  const d1 = daemonPids[0];
  const sender = clientPids[0];
  const steps = new Map<string, number[]>();
  const add = (step: string, s: number): void => {
    let v = steps.get(step);
    if (!v) steps.set(step, (v = []));
    v.push(s * 1e6);
  };
  const starts = events.filter((e) => e.pid === sender && e.kind === 'request');
  const matched =
    latencyUs !== undefined &&
    latencyUs.length === clientPids.length &&
    latencyUs.every((l) => l.length === latencyUs[0]!.length && l.length >= starts.length)
      ? latencyUs
      : undefined;
  const offset = matched ? matched[0]!.length - starts.length : 0;
  /** Per message, the step 6 of each client whose events were found. */
  const ownByMessage: number[][] = [];
  let from = 0;
  for (let i = 0; i < starts.length; i++) {
    const t0 = starts[i]!.t;
    const end = Math.min(i + 1 < starts.length ? starts[i + 1]!.t : Infinity, t0 + windowS);
    while (from < events.length && events[from]!.t < t0) from++;
    const win: TraceEvent[] = [];
    for (let k = from; k < events.length && events[k]!.t < end; k++) win.push(events[k]!);
    const mine: number[] = [];
    ownByMessage.push(mine);
    const read = win.find((e) => e.pid === d1 && e.kind === 'read');
    if (!read) continue;
    add('1 request sent -> node 1 reads it', read.t - t0);
    const firstUdp = win.find((e) => e.pid === d1 && e.kind === 'udp' && e.t >= read.t);
    if (!firstUdp) continue;
    add('2 node 1 read -> its first UDP send', firstUdp.t - read.t);
    daemonPids.forEach((dp, k) => {
      const ev = win.find((e) => e.pid === dp && e.kind === 'event' && e.t >= firstUdp.t);
      if (!ev) return;
      add(
        k === 0 ? '3 first UDP send -> event written (node 1)' : '3 first UDP send -> event written (others)',
        ev.t - firstUdp.t,
      );
      const cr = win.find((e) => e.pid === clientPids[k] && e.kind === 'read' && e.t >= ev.t);
      if (!cr) return;
      add('4 event written -> client reads it', cr.t - ev.t);
      add('5 request sent -> client reads (every client)', cr.t - t0);
      if (matched) mine.push(matched[k]![i + offset]! / 1e6 - (cr.t - t0));
    });
  }
  const own = ownByMessage.flat();
  if (own.length > 0 && own.every((s) => s * 1e6 >= -STAMP_SLACK_US)) {
    for (const s of own) add("6 the clients' own time: latency - step 5", s);
    // Step 6 of every client of a message holds the same sender part (its stamp -> its
    // request) and each receiver's own (its read -> its stamp): the smallest of them bounds the
    // sender's part from above, and what the others spent beyond it is theirs.
    for (const mine of ownByMessage) {
      if (mine.length !== clientPids.length) continue;
      const least = Math.min(...mine);
      add("6a sender's part, at most: least step 6 of the message", least);
      for (const s of mine) add("6b receivers' part, at least: step 6 - 6a", s - least);
    }
  }
  return [...steps.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([step, v]) => {
      v.sort((a, b) => a - b);
      return {
        step,
        n: v.length,
        p10Us: percentile(v, 10),
        p50Us: percentile(v, 50),
        p90Us: percentile(v, 90),
        p99Us: percentile(v, 99),
      };
    });
}

/** Rows as aligned text lines. */
export function formatSteps(rows: readonly StepRow[]): string[] {
  const w = Math.max(...rows.map((r) => r.step.length));
  return rows.map(
    (r) =>
      `${r.step.padEnd(w)}  n ${String(r.n).padStart(4)}  p10/p50/p90/p99 ` +
      [r.p10Us, r.p50Us, r.p90Us, r.p99Us].map((x) => x.toFixed(0)).join(' / ') +
      ' us',
  );
}
