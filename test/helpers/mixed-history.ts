/**
 * Checkers over what CPG clients were delivered (test/c/cpg-client.c prints the same events as
 * JSON lines; TypeScript clients record them in the same shape). They look only at the
 * recorded callbacks, never inside a daemon, and return readable violations.
 *
 * Properties (CPG over totem: every message and confchg of a group is delivered in agreed
 * order, spec/cpg.md §4-§6, spec/totem-srp.md §15):
 * - no duplicates: a receiver delivers each message at most once;
 * - sender identity and FIFO: a message `<label>:<seq>` is always delivered with its sender's
 *   (nodeid, pid), and each receiver delivers a sender's messages in seq order without gaps;
 * - agreed order: any two receivers deliver the messages they both delivered in the same order;
 * - virtual synchrony: two receivers that deliver the same two consecutive confchgs deliver the
 *   same messages, in the same order, between them;
 * - confchg agreement: while two clients are both members, they see the same confchgs (the one
 *   that brings them together only has to agree on the members: after a merge each side sees
 *   the other join; the one in which one of them leaves is not compared: after a partition each
 *   side sees the other leave). A crashed client's confchgs only have to be a prefix.
 */

/** `[nodeid, pid]` of a member, `[nodeid, pid, reason]` in left/joined lists. */
export type MemberTuple = readonly [number, number];
export type ChangeTuple = readonly [number, number, number];

export type HistEvent =
  | { readonly ev: 'deliver'; readonly nodeid: number; readonly pid: number; readonly msg: string }
  | {
      readonly ev: 'confchg';
      readonly group: string;
      readonly members: readonly MemberTuple[];
      readonly left: readonly ChangeTuple[];
      readonly joined: readonly ChangeTuple[];
    }
  | { readonly ev: 'totem'; readonly rep: number; readonly seq: number; readonly members: readonly number[] };

/** One client's recorded callbacks, in the order they were dispatched. */
export interface ClientHistory {
  /** Label the client puts in front of its messages (`<label>:<seq>`). */
  readonly label: string;
  readonly nodeid: number;
  readonly pid: number;
  readonly events: readonly HistEvent[];
  /**
   * The client stopped without leaving (its daemon was killed): its history is a prefix, so its
   * confchgs only have to be a prefix of the others'.
   */
  readonly crashed?: boolean;
}

export interface HistoryReport {
  violations: string[];
  /** Deliveries looked at, summed over receivers. */
  deliveries: number;
  /** Distinct messages delivered anywhere. */
  messages: number;
  /** Confchg callbacks looked at, summed over receivers. */
  confchgs: number;
}

const MAX_VIOLATIONS = 40;

function parseMsg(msg: string): { label: string; seq: number } | undefined {
  const i = msg.lastIndexOf(':');
  if (i <= 0) return undefined;
  const seq = Number(msg.slice(i + 1));
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { label: msg.slice(0, i), seq };
}

export function confchgKey(e: Extract<HistEvent, { ev: 'confchg' }>): string {
  const m = e.members.map(([n, p]) => `${n}:${p}`).join(',');
  const l = e.left.map(([n, p, r]) => `${n}:${p}/${r}`).join(',');
  const j = e.joined.map(([n, p, r]) => `${n}:${p}/${r}`).join(',');
  return `${e.group} m[${m}] l[${l}] j[${j}]`;
}

function deliveries(h: ClientHistory): string[] {
  const out: string[] = [];
  for (const e of h.events) if (e.ev === 'deliver') out.push(e.msg);
  return out;
}

function confchgs(h: ClientHistory): Array<Extract<HistEvent, { ev: 'confchg' }>> {
  return h.events.filter((e): e is Extract<HistEvent, { ev: 'confchg' }> => e.ev === 'confchg');
}

const isMember = (e: Extract<HistEvent, { ev: 'confchg' }>, h: ClientHistory): boolean =>
  e.members.some(([n, p]) => n === h.nodeid && p === h.pid);
const hasLeft = (e: Extract<HistEvent, { ev: 'confchg' }>, h: ClientHistory): boolean =>
  e.left.some(([n, p]) => n === h.nodeid && p === h.pid);

/**
 * The confchgs `a` saw while a and b were both members, as segments: a segment starts with the
 * confchg that brings them together (only its member list is kept: after a merge each side sees
 * the other side join) and ends before the confchg in which either of them left (after a
 * partition each side sees the other leave). Segments are separated by `--`.
 */
function sharedConfchgs(a: ClientHistory, b: ClientHistory): string[] {
  const out: string[] = [];
  let on = false;
  for (const e of confchgs(a)) {
    if (on && (hasLeft(e, a) || hasLeft(e, b))) {
      on = false;
      out.push('--');
      continue;
    }
    if (on) {
      out.push(confchgKey(e));
    } else if (isMember(e, a) && isMember(e, b)) {
      on = true;
      out.push(`${e.group} m[${e.members.map(([n, p]) => `${n}:${p}`).join(',')}] (joined or merged)`);
    }
  }
  return out;
}

/**
 * Epochs of a receiver: messages delivered between confchg k and k+1, keyed by the pair of
 * confchg keys and the occurrence of that pair (a pair may repeat).
 */
function epochs(h: ClientHistory): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const seen = new Map<string, number>();
  let prev: string | undefined;
  let msgs: string[] = [];
  for (const e of h.events) {
    if (e.ev === 'deliver') {
      msgs.push(e.msg);
    } else if (e.ev === 'confchg') {
      const cur = confchgKey(e);
      if (prev !== undefined) {
        const pair = `${prev}  ==>  ${cur}`;
        const n = (seen.get(pair) ?? 0) + 1;
        seen.set(pair, n);
        out.set(`${pair} #${n}`, msgs);
      }
      prev = cur;
      msgs = [];
    }
  }
  return out;
}

function firstDiff(a: readonly string[], b: readonly string[]): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return `at ${i}: ${a[i]} vs ${b[i]}`;
  }
  return `lengths ${a.length} vs ${b.length}`;
}

/** Run every check over the histories of all clients of one group. */
export function checkCpgHistories(histories: readonly ClientHistory[]): HistoryReport {
  const violations: string[] = [];
  const add = (s: string): void => {
    if (violations.length < MAX_VIOLATIONS) violations.push(s);
  };
  const senders = new Map<string, ClientHistory>();
  for (const h of histories) senders.set(h.label, h);
  let total = 0;
  let nconf = 0;
  const all = new Set<string>();

  for (const h of histories) {
    const seen = new Set<string>();
    const lastSeq = new Map<string, number>();
    for (const e of h.events) {
      if (e.ev === 'confchg') {
        nconf++;
        // a sender that left (partition) may come back with messages the receiver never saw
        for (const [n, p] of e.left) {
          for (const s of histories) if (s.nodeid === n && s.pid === p) lastSeq.delete(s.label);
        }
      }
      if (e.ev !== 'deliver') continue;
      total++;
      all.add(e.msg);
      if (seen.has(e.msg)) add(`${h.label}: duplicate delivery of ${e.msg}`);
      seen.add(e.msg);
      const p = parseMsg(e.msg);
      if (!p) {
        add(`${h.label}: unexpected message ${JSON.stringify(e.msg)}`);
        continue;
      }
      const s = senders.get(p.label);
      if (s && (s.nodeid !== e.nodeid || s.pid !== e.pid)) {
        add(`${h.label}: ${e.msg} delivered from ${e.nodeid}:${e.pid}, sender is ${s.nodeid}:${s.pid}`);
      }
      const last = lastSeq.get(p.label);
      if (last !== undefined && p.seq !== last + 1) {
        add(`${h.label}: FIFO of ${p.label}: ${p.label}:${p.seq} after ${p.label}:${last}`);
      }
      lastSeq.set(p.label, p.seq);
    }
  }

  for (let i = 0; i < histories.length; i++) {
    for (let j = i + 1; j < histories.length; j++) {
      const a = histories[i]!;
      const b = histories[j]!;
      // agreed order over the messages both delivered
      const da = deliveries(a);
      const db = deliveries(b);
      const inB = new Set(db);
      const inA = new Set(da);
      const ca = da.filter((m) => inB.has(m));
      const cb = db.filter((m) => inA.has(m));
      if (ca.join('\n') !== cb.join('\n')) {
        add(`agreed order ${a.label} vs ${b.label}: ${firstDiff(ca, cb)}`);
      }
      // virtual synchrony: same consecutive confchgs => same messages in between
      const ea = epochs(a);
      const eb = epochs(b);
      for (const [k, ma] of ea) {
        const mb = eb.get(k);
        if (mb && ma.join('\n') !== mb.join('\n')) {
          add(`virtual synchrony ${a.label} vs ${b.label} between ${k}: ${firstDiff(ma, mb)}`);
        }
      }
      // confchg agreement while both are members
      let sa = sharedConfchgs(a, b);
      let sb = sharedConfchgs(b, a);
      if (a.crashed) sb = sb.slice(0, sa.length);
      if (b.crashed) sa = sa.slice(0, sb.length);
      if (sa.join('\n') !== sb.join('\n')) {
        add(`confchgs ${a.label} vs ${b.label}: ${firstDiff(sa, sb)}`);
      }
    }
  }
  return { violations, deliveries: total, messages: all.size, confchgs: nconf };
}

/**
 * Messages of `expected` that `h` did not deliver: per label a count (`<label>:1..count`) or an
 * inclusive range of seqs `[from, to]`.
 */
export function missingDeliveries(
  h: ClientHistory,
  expected: ReadonlyMap<string, number | readonly [number, number]>,
): string[] {
  const got = new Set(deliveries(h));
  const out: string[] = [];
  for (const [label, want] of expected) {
    const [from, to] = typeof want === 'number' ? [1, want] : want;
    for (let s = from; s <= to; s++) if (!got.has(`${label}:${s}`)) out.push(`${label}:${s}`);
  }
  return out;
}
