/**
 * Checkers over the histories recorded by CPG clients (test/helpers/cpg-worker.ts): what each
 * client process sent and, in order, every deliver / confchg / totem confchg callback it got.
 * Like the totem simulator's checkers (test/sim/checkers.ts) they look only at what the
 * system handed out, never inside a daemon; the properties are spec/totem-srp.md §15 lifted to
 * CPG (spec/cpg.md §4–§6):
 *
 * - integrity: the payload names the sender the callback names, and is intact;
 * - no phantom: every delivered message was sent by that process;
 * - no duplicates: a receiver delivers a message at most once;
 * - FIFO per sender, without gaps unless the receiver saw the sender leave in between (or, when
 *   the caller knows them, totem could not hand the missing messages up at that node);
 * - delivery source: the sender is a member of the receiver's view when delivered;
 * - agreed order: any two receivers deliver the messages (and confchgs) they both delivered in
 *   the same relative order;
 * - virtual synchrony: between the same two configuration changes, receivers deliver the same
 *   set of messages (less what totem could not hand up at a node, when the caller knows it);
 * - confchg shape: members after = members before − left + joined, the receiver is a member;
 * - identical confchg sequences on nodes that went through the same rings (with the same
 *   transitional sets, when the caller knows them);
 * - ring ids increase;
 * - self delivery: a sender delivers its own messages unless its daemon was lost.
 */
import type { HistoryRecord } from './cpg-worker.js';

/** CpgReason values (spec/cpg.md §1.2). */
const REASON = { JOIN: 1, LEAVE: 2, NODEDOWN: 3, NODEUP: 4, PROCDOWN: 5 } as const;
const SYNC_REASONS = new Set<number>([REASON.NODEDOWN, REASON.NODEUP]);

/** One client process from connect to exit: its identity and history. */
export interface Life {
  label: string;
  node: number;
  pid: number;
  records: readonly HistoryRecord[];
}

export interface Violation {
  prop: string;
  /** The life and record index where it shows (for the excerpt). */
  label: string;
  index: number;
  detail: string;
  /** Optionally a second place (the other receiver). */
  other?: { label: string; index: number };
}

export interface HistoryStats {
  lives: number;
  sent: number;
  delivered: number;
  confchgs: number;
  totemConfchgs: number;
  /** Receiver pairs compared for agreed order, and the common events compared. */
  orderPairs: number;
  orderChecked: number;
  /** Configuration segments compared for virtual synchrony. */
  segmentsCompared: number;
  /**
   * Messages missing only at a receiver that (re)joined their sender in the configuration
   * change before: the first message of that sender in the new configuration, its first
   * fragment sent in the old ring (totem-pg.md §5: a fragmented message that straddled a ring
   * change is thrown away by receivers that were not in the old ring). Counted, not failed,
   * unless `strict`.
   */
  straddled: number;
  /** Ring epochs whose confchg sequences were compared. */
  epochsCompared: number;
  /** Messages checked for self delivery. */
  selfChecked: number;
}

export interface CheckOptions {
  /**
   * Fail on the straddled-at-join heuristic instead of counting it (see {@link HistoryStats});
   * default: strict when `totemLost` is given (the exact losses replace the heuristic).
   */
  strict?: boolean;
  /**
   * Messages that totem cannot hand up at a node, as `<node>:M<n>/<p>#<s>`, known exactly by a
   * caller that sees the totem level (the simulator): totemsrp did not deliver all their packets
   * there (the totem checkers judge whether that was legitimate), or their fragments straddled a
   * configuration change the node did not go through with the sender (corosync 3.1.7 frees such a
   * sender's partial assembly, totem-pg.md §5.2/§6). Their absence at that node is not a FIFO gap
   * nor a virtual-synchrony difference (corosync's CPG does not always report a leave for the
   * sender then: its downlist counts from the last completed sync); counted in `straddled`.
   */
  totemLost?: ReadonlySet<string>;
  /**
   * Whether nodes `a` and `b` went from totem ring `from` to ring `to` (`R<rep>.<seq>`) through
   * the same rings with the same transitional sets, known by a caller that sees the totem level.
   * corosync 3.1.7's CPG builds its downlist locally (cpg_sync_init: the members of the last
   * completed sync − this ring's transitional set; a received downlist is only logged), so nodes
   * that come from different partitions — possible between the same two completed syncs when
   * the syncs in between were aborted — report different NODEDOWN/NODEUP confchgs for the same
   * ring, and may have delivered different tails of the old ring. Only lives on nodes that moved
   * together are compared then. Without it every pair is compared.
   */
  movedTogether?: (a: number, b: number, from: string, to: string) => boolean;
}

export interface CheckResult {
  violations: Violation[];
  stats: HistoryStats;
}

export const msgKey = (n: number, p: number, s: number): string => `M${n}/${p}#${s}`;
const fmtList = (l: readonly (readonly number[])[]): string => l.map((a) => a.join(':')).join(',');

type Confchg = Extract<HistoryRecord, { k: 'c' }>;

function confchgDesc(c: Confchg): string {
  return `m=${fmtList(c.m)} l=${fmtList(c.l)} j=${fmtList(c.j)}`;
}

const isSyncConfchg = (c: Confchg): boolean =>
  c.l.some((a) => SYNC_REASONS.has(a[2])) || c.j.some((a) => SYNC_REASONS.has(a[2]));

/** A life's history with the derived keys the checkers share. */
interface Analysed {
  life: Life;
  /** Index of the confchg that reported our own join (-1: never joined). */
  joinIndex: number;
  /**
   * Index of the totem confchg that names the ring current at our join: the last one before the
   * join, else the initial one right after it (-1: none).
   */
  joinRing: number;
  /**
   * Totem confchgs that are no cluster event for this life: every one before our join (corosync
   * sends sync activations to every connection, joined or not, and the one-time initial totem
   * confchg on any group's confchg, so it may come before the join) and the initial one right
   * after the join.
   */
  quietRings: Set<number>;
  /** Per record: a cluster-wide key for confchgs and non-initial totem confchgs. */
  keys: (string | undefined)[];
  /** Keys that occur more than once in this life (not usable for matching). */
  ambiguous: Set<string>;
  lost: boolean;
}

function analyse(life: Life): Analysed {
  const r = life.records;
  let joinIndex = -1;
  for (let i = 0; i < r.length && joinIndex < 0; i++) {
    const x = r[i]!;
    if (x.k === 'c' && x.j.some((a) => a[0] === life.node && a[1] === life.pid)) joinIndex = i;
  }
  // cpg.c 3.1.7: the initial TOTEM_CONFCHG (CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF) goes out
  // from notify_lib_joinlist — any group's confchg on this node — to every flagged connection
  // that has not had it, joined or not; sync activations (notify_lib_totem_membership(NULL))
  // go to every connection. Before its own join a client may so get any number of them; the
  // last one names the ring of the join. Without any, the initial one comes right after the
  // join confchg (that confchg's notify_lib_joinlist sends it); with some, an initial one there
  // repeats the ring of the last.
  const quietRings = new Set<number>();
  let joinRing = -1;
  for (let i = 0; i < (joinIndex < 0 ? r.length : joinIndex); i++) {
    if (r[i]!.k === 'r') {
      quietRings.add(i);
      joinRing = i;
    }
  }
  const afterJoin = joinIndex >= 0 ? r[joinIndex + 1] : undefined;
  if (afterJoin?.k === 'r') {
    const before = joinRing >= 0 ? r[joinRing] : undefined;
    if (!before) {
      joinRing = joinIndex + 1;
      quietRings.add(joinIndex + 1);
    } else if (before.k === 'r' && before.rn === afterJoin.rn && before.rs === afterJoin.rs) {
      quietRings.add(joinIndex + 1);
    }
  }
  if (joinIndex < 0) joinRing = -1;
  const keys: (string | undefined)[] = r.map(() => undefined);
  for (let i = 0; i < r.length; i++) {
    const x = r[i]!;
    if (x.k === 'r' && !quietRings.has(i)) keys[i] = `R${x.rn}.${x.rs}`;
    else if (x.k === 'q') keys[i] = 'Q';
    else if (x.k === 'c') {
      let tag = '';
      if (isSyncConfchg(x)) {
        // confchgs of a sync activation come right before its totem confchg: tag them with it,
        // so the same description in another round is another key
        let j = i + 1;
        while (j < r.length && (r[j]!.k === 'c' || r[j]!.k === 's')) j++;
        const nx = r[j];
        tag = nx?.k === 'r' && !quietRings.has(j) ? `@R${nx.rn}.${nx.rs} ` : `@?${life.label}:${i} `;
      }
      keys[i] = `C${tag}${confchgDesc(x)}`;
    }
  }
  const seen = new Set<string>();
  const ambiguous = new Set<string>();
  for (const k of keys) {
    if (k === undefined) continue;
    if (seen.has(k)) ambiguous.add(k);
    seen.add(k);
  }
  const last = r[r.length - 1];
  return {
    life,
    joinIndex,
    joinRing,
    quietRings,
    keys,
    ambiguous,
    lost: last?.k === 'end' && last.why !== 'exit',
  };
}

/**
 * Check the histories of every client process of one run. `lostAllowed` names the lives whose
 * daemon the test killed (they may end with a lost connection and are exempt from self
 * delivery); any other life that lost its daemon is a violation.
 */
export function checkCpgHistories(
  lives: readonly Life[],
  lostAllowed: ReadonlySet<string>,
  opts: CheckOptions = {},
): CheckResult {
  const totemLost = opts.totemLost ?? new Set<string>();
  const excused = (node: number, key: string): boolean => totemLost.has(`${node}:${key}`);
  const violations: Violation[] = [];
  const add = (v: Violation): void => {
    if (violations.length < 40) violations.push(v);
  };
  const stats: HistoryStats = {
    lives: lives.length,
    sent: 0,
    delivered: 0,
    confchgs: 0,
    totemConfchgs: 0,
    orderPairs: 0,
    orderChecked: 0,
    segmentsCompared: 0,
    straddled: 0,
    epochsCompared: 0,
    selfChecked: 0,
  };
  const an = lives.map(analyse);

  // what every process sent: sender → set of seqs
  const sentBy = new Map<string, Set<number>>();
  for (const a of an) {
    const s = new Set<number>();
    for (const x of a.life.records) if (x.k === 's') s.add(x.s);
    sentBy.set(`${a.life.node}/${a.life.pid}`, s);
    stats.sent += s.size;
  }

  for (const a of an) {
    const { life } = a;
    const recs = life.records;
    if (a.lost && !lostAllowed.has(life.label)) {
      const last = recs[recs.length - 1] as Extract<HistoryRecord, { k: 'end' }>;
      add({ prop: 'unexpected loss', label: life.label, index: recs.length - 1, detail: last.why });
    }
    const delivered = new Set<string>();
    const lastFrom = new Map<string, { s: number; index: number }>();
    // senders that left since their last delivery (a gap in their numbers is allowed then)
    const leftSince = new Set<string>();
    let members: Set<string> | undefined;
    let lastRingSeq = -1n;
    let lastWasInitial = false;
    // every number between two deliveries from a sender is one totempg lost at our node
    const gapExcused = (n: number, p: number, from: number, to: number): boolean => {
      for (let s = from + 1; s < to; s++) if (!excused(life.node, msgKey(n, p, s))) return false;
      stats.straddled += to - from - 1;
      return true;
    };
    for (let i = 0; i < recs.length; i++) {
      const x = recs[i]!;
      if (x.k === 'd') {
        stats.delivered++;
        const sender = `${x.n}/${x.p}`;
        const key = msgKey(x.n, x.p, x.s);
        if (x.bad) add({ prop: 'integrity', label: life.label, index: i, detail: `${key}: ${x.bad}` });
        if (!sentBy.get(sender)?.has(x.s)) {
          add({ prop: 'no phantom', label: life.label, index: i, detail: `${key} was never sent` });
        }
        if (delivered.has(key)) add({ prop: 'no duplicates', label: life.label, index: i, detail: key });
        delivered.add(key);
        if (i < a.joinIndex || a.joinIndex < 0) {
          add({ prop: 'delivery source', label: life.label, index: i, detail: `${key} before our own join` });
        } else if (members && !members.has(sender)) {
          add({
            prop: 'delivery source',
            label: life.label,
            index: i,
            detail: `${key}: ${sender} not a member`,
          });
        }
        const prev = lastFrom.get(sender);
        if (prev) {
          if (x.s <= prev.s) {
            add({
              prop: 'FIFO',
              label: life.label,
              index: i,
              detail: `${key} after #${prev.s} (record ${prev.index})`,
            });
          } else if (x.s !== prev.s + 1 && !leftSince.has(sender) && !gapExcused(x.n, x.p, prev.s, x.s)) {
            add({
              prop: 'FIFO (gap)',
              label: life.label,
              index: i,
              detail: `${key} after #${prev.s} (record ${prev.index}) without ${sender} leaving in between`,
            });
          }
        }
        lastFrom.set(sender, { s: x.s, index: i });
        leftSince.delete(sender);
      } else if (x.k === 'c') {
        stats.confchgs++;
        const after = new Set(x.m.map((m) => `${m[0]}/${m[1]}`));
        for (const l of x.l) leftSince.add(`${l[0]}/${l[1]}`);
        for (const l of x.l) {
          if (![REASON.LEAVE, REASON.NODEDOWN, REASON.PROCDOWN].includes(l[2] as 2 | 3 | 5)) {
            add({ prop: 'confchg shape', label: life.label, index: i, detail: `left reason ${l[2]}` });
          }
        }
        for (const j of x.j) {
          if (j[2] !== REASON.JOIN && j[2] !== REASON.NODEUP) {
            add({ prop: 'confchg shape', label: life.label, index: i, detail: `joined reason ${j[2]}` });
          }
        }
        if (members) {
          const expect = new Set(members);
          for (const l of x.l) expect.delete(`${l[0]}/${l[1]}`);
          for (const j of x.j) expect.add(`${j[0]}/${j[1]}`);
          const a1 = [...expect].sort().join(' ');
          const a2 = [...after].sort().join(' ');
          if (a1 !== a2) {
            add({
              prop: 'confchg shape',
              label: life.label,
              index: i,
              detail: `members ${a2}, expected (before − left + joined) ${a1}`,
            });
          }
        }
        if (i >= a.joinIndex && a.joinIndex >= 0 && !after.has(`${life.node}/${life.pid}`)) {
          add({
            prop: 'self inclusion',
            label: life.label,
            index: i,
            detail: 'we are not in the member list',
          });
        }
        if (i >= a.joinIndex && a.joinIndex >= 0) members = after;
      } else if (x.k === 'r') {
        stats.totemConfchgs++;
        const seq = BigInt(x.rs);
        // the initial totem confchg names the ring of the last sync start (last_sync_ring_id),
        // so it may repeat the ring before it or the one whose activation is still to come
        const quiet = a.quietRings.has(i);
        const ok = quiet || lastWasInitial ? seq >= lastRingSeq : seq > lastRingSeq;
        if (!ok) {
          add({
            prop: 'ring id monotonicity',
            label: life.label,
            index: i,
            detail: `ring seq ${seq} after ${lastRingSeq}`,
          });
        }
        if (!x.m.includes(life.node)) {
          add({
            prop: 'self inclusion',
            label: life.label,
            index: i,
            detail: `node ${life.node} not in totem members`,
          });
        }
        lastRingSeq = seq > lastRingSeq ? seq : lastRingSeq;
        lastWasInitial = quiet;
      }
    }
    // self delivery
    if (!a.lost) {
      for (const s of sentBy.get(`${life.node}/${life.pid}`) ?? []) {
        stats.selfChecked++;
        if (!delivered.has(msgKey(life.node, life.pid, s))) {
          const idx = recs.findIndex((r) => r.k === 's' && r.s === s);
          add({
            prop: 'self delivery',
            label: life.label,
            index: idx,
            detail: `own message #${s} never delivered`,
          });
        }
      }
    }
  }

  checkAgreedOrder(an, stats, add);
  // with the exact totem-level losses the straddled-at-join heuristic is not needed
  checkVirtualSynchrony(an, stats, add, opts.strict ?? opts.totemLost !== undefined, excused);
  checkConfchgSequences(an, stats, add, opts.movedTogether);
  return { violations, stats };
}

/** Message and confchg keys of a life in delivery order, with their record index. */
function orderedEvents(a: Analysed): Map<string, number> {
  const out = new Map<string, number>();
  a.life.records.forEach((x, i) => {
    if (x.k === 'd') out.set(msgKey(x.n, x.p, x.s), i);
    else if (x.k === 'c') {
      const k = a.keys[i]!;
      if (!a.ambiguous.has(k)) out.set(k, i);
    }
  });
  return out;
}

/**
 * Whether one total order is consistent with every life's order: the graph of "delivered right
 * before" edges of all lives together is acyclic (Kahn). Then no two lives disagree; this is
 * linear in the events, where the pairwise walk is quadratic in the lives.
 */
function oneTotalOrder(events: readonly Map<string, number>[], stats: HistoryStats): boolean {
  const id = new Map<string, number>();
  const edges: number[][] = [];
  const indeg: number[] = [];
  const node = (k: string): number => {
    let n = id.get(k);
    if (n === undefined) {
      id.set(k, (n = edges.length));
      edges.push([]);
      indeg.push(0);
    }
    return n;
  };
  for (const ev of events) {
    let prev = -1;
    for (const k of ev.keys()) {
      const n = node(k);
      if (prev >= 0) {
        edges[prev]!.push(n);
        indeg[n]!++;
        stats.orderChecked++;
      }
      prev = n;
    }
  }
  const ready: number[] = [];
  indeg.forEach((d, n) => {
    if (d === 0) ready.push(n);
  });
  let done = 0;
  while (ready.length > 0) {
    const n = ready.pop()!;
    done++;
    for (const m of edges[n]!) if (--indeg[m]! === 0) ready.push(m);
  }
  return done === edges.length;
}

function checkAgreedOrder(an: Analysed[], stats: HistoryStats, add: (v: Violation) => void): void {
  const events = an.map(orderedEvents);
  stats.orderPairs += (an.length * (an.length - 1)) / 2;
  if (oneTotalOrder(events, stats)) return;
  // some lives disagree: find and report the pairs (a cycle through three or more lives with no
  // two of them disagreeing is not reported: confchg keys are descriptions, not identities)
  for (let x = 0; x < an.length; x++) {
    for (let y = x + 1; y < an.length; y++) {
      const ex = events[x]!;
      const ey = events[y]!;
      // walk y's events in its order; their indices in x must increase
      let lastX = -1;
      let lastKey = '';
      for (const [key, iy] of ey) {
        const ix = ex.get(key);
        if (ix === undefined) continue;
        stats.orderChecked++;
        if (ix < lastX) {
          add({
            prop: 'agreed order',
            label: an[y]!.life.label,
            index: iy,
            detail: `${an[y]!.life.label} delivers ${key} after ${lastKey}; ${an[x]!.life.label} the other way round`,
            other: { label: an[x]!.life.label, index: ix },
          });
          break; // one report per pair
        }
        lastX = ix;
        lastKey = key;
      }
    }
  }
}

/** Deliveries between consecutive boundaries (cluster-wide events) of a life. */
interface Segment {
  start: string;
  end: string;
  startIndex: number;
  messages: string[];
}

function segments(a: Analysed): Segment[] {
  const out: Segment[] = [];
  const r = a.life.records;
  if (a.joinIndex < 0) return out;
  let cur: Segment = { start: a.keys[a.joinIndex]!, end: '', startIndex: a.joinIndex, messages: [] };
  for (let i = a.joinIndex + 1; i < r.length; i++) {
    const x = r[i]!;
    if (x.k === 'd') cur.messages.push(msgKey(x.n, x.p, x.s));
    else if (a.keys[i] !== undefined) {
      cur.end = a.keys[i]!;
      out.push(cur);
      cur = { start: a.keys[i]!, end: '', startIndex: i, messages: [] };
    }
  }
  cur.end = `END:${a.life.label}`;
  out.push(cur);
  return out.filter((s) => !a.ambiguous.has(s.start) && !a.ambiguous.has(s.end));
}

/**
 * The totem-pg quirk: `m` (the first message of its sender S in `ref`'s segment) is missing at
 * `o` only because `o` was not in the ring where m's first fragment went out — S (re)joined o's
 * view with NODEUP in the sync right before the segment, and o's first delivery from S in the
 * segment is m's successor.
 */
function straddledAtJoin(m: string, ref: Segment, o: { a: Analysed; seg: Segment }): boolean {
  const k = /^M(\d+)\/(\d+)#(\d+)$/.exec(m);
  if (!k) return false;
  const [n, p, s] = [Number(k[1]), Number(k[2]), Number(k[3])];
  const prefix = `M${n}/${p}#`;
  if (ref.messages.find((x) => x.startsWith(prefix)) !== m) return false;
  if (o.seg.messages.find((x) => x.startsWith(prefix)) !== `${prefix}${s + 1}`) return false;
  const r = o.a.life.records;
  for (let i = o.seg.startIndex; i >= 0 && i > o.seg.startIndex - 8; i--) {
    const x = r[i]!;
    if (x.k === 'd') break;
    if (x.k === 'c' && x.j.some((j) => j[0] === n && j[1] === p && j[2] === REASON.NODEUP)) return true;
  }
  return false;
}

function checkVirtualSynchrony(
  an: Analysed[],
  stats: HistoryStats,
  add: (v: Violation) => void,
  strict: boolean,
  excused: (node: number, key: string) => boolean,
): void {
  const byKey = new Map<string, { a: Analysed; seg: Segment }[]>();
  for (const a of an) {
    for (const seg of segments(a)) {
      const k = `${seg.start} → ${seg.end}`;
      let l = byKey.get(k);
      if (!l) byKey.set(k, (l = []));
      l.push({ a, seg });
    }
  }
  for (const [k, list] of byKey) {
    if (list.length < 2) continue;
    const [first, ...rest] = list;
    const ref = new Set(first!.seg.messages);
    for (const o of rest) {
      stats.segmentsCompared++;
      const mine = new Set(o.seg.messages);
      let missing = [...ref].filter((m) => !mine.has(m));
      let extra = [...mine].filter((m) => !ref.has(m));
      const nMissing = missing.length + extra.length;
      missing = missing.filter((m) => !excused(o.a.life.node, m));
      extra = extra.filter((m) => !excused(first!.a.life.node, m));
      stats.straddled += nMissing - missing.length - extra.length;
      if (!strict) {
        const known = missing.filter((m) => straddledAtJoin(m, first!.seg, o));
        stats.straddled += known.length;
        missing = missing.filter((m) => !known.includes(m));
      }
      if (missing.length || extra.length) {
        add({
          prop: 'virtual synchrony',
          label: o.a.life.label,
          index: o.seg.startIndex,
          detail:
            `segment ${k}: ${o.a.life.label} lacks ${missing.length} [${missing.slice(0, 5).join(' ')}]` +
            ` and has ${extra.length} more [${extra.slice(0, 5).join(' ')}] than ${first!.a.life.label}`,
          other: { label: first!.a.life.label, index: first!.seg.startIndex },
        });
      }
    }
  }
}

/**
 * For every ring both lives installed (non-initial totem confchg, or the initial one for a
 * life that joined during that ring) and both left through the same next ring (or both reached
 * the quiesce marker in), the confchgs in between must be the same list.
 */
function checkConfchgSequences(
  an: Analysed[],
  stats: HistoryStats,
  add: (v: Violation) => void,
  movedTogether: CheckOptions['movedTogether'],
): void {
  interface Epoch {
    a: Analysed;
    ring: string;
    /** Keys of the confchgs up to the next ring (incl. the sync confchgs before it). */
    confchgs: { key: string; index: number }[];
    end: string;
    /** The life joined during this ring: its list starts after its own join. */
    joinedIn: boolean;
    startIndex: number;
  }
  const epochs = new Map<string, Epoch[]>();
  for (const a of an) {
    const r = a.life.records;
    let cur: Epoch | undefined;
    const close = (end: string): void => {
      if (!cur) return;
      cur.end = end;
      let l = epochs.get(cur.ring);
      if (!l) epochs.set(cur.ring, (l = []));
      l.push(cur);
      cur = undefined;
    };
    for (let i = 0; i < r.length; i++) {
      const x = r[i]!;
      if (x.k === 'r') {
        if (a.quietRings.has(i) && i !== a.joinRing) continue;
        close(`R${x.rn}.${x.rs}`);
        cur = {
          a,
          ring: `R${x.rn}.${x.rs}`,
          confchgs: [],
          end: '',
          joinedIn: i === a.joinRing,
          startIndex: i,
        };
      } else if (x.k === 'q') close('Q');
      else if (x.k === 'c' && cur && i > a.joinIndex) cur.confchgs.push({ key: a.keys[i]!, index: i });
    }
    close(`END:${a.life.label}`);
  }
  const ownJoin = (a: Analysed): string => a.keys[a.joinIndex]!;
  for (const list of epochs.values()) {
    for (let x = 0; x < list.length; x++) {
      for (let y = x + 1; y < list.length; y++) {
        const ex = list[x]!;
        const ey = list[y]!;
        if (ex.end !== ey.end || ex.end.startsWith('END:')) continue;
        if (
          ex.end !== 'Q' &&
          movedTogether &&
          !movedTogether(ex.a.life.node, ey.a.life.node, ex.ring, ex.end)
        ) {
          continue;
        }
        let lx = ex.confchgs;
        let ly = ey.confchgs;
        // a life that joined during the ring saw only what came after its own join
        for (const [e, other] of [
          [ex, ey],
          [ey, ex],
        ] as const) {
          if (!e.joinedIn) continue;
          const anchor = ownJoin(e.a);
          const list2 = other === ex ? lx : ly;
          const at = list2.findIndex((c) => c.key === anchor);
          if (at < 0 && !other.joinedIn) {
            add({
              prop: 'confchg sequence',
              label: other.a.life.label,
              index: other.startIndex,
              detail: `ring ${ex.ring}: never saw the join of ${e.a.life.label}`,
            });
            continue;
          }
          if (other === ex) lx = lx.slice(at + 1);
          else ly = ly.slice(at + 1);
        }
        stats.epochsCompared++;
        const kx = lx.map((c) => c.key);
        const ky = ly.map((c) => c.key);
        const n = Math.max(kx.length, ky.length);
        for (let i = 0; i < n; i++) {
          if (kx[i] === ky[i]) continue;
          add({
            prop: 'confchg sequence',
            label: ey.a.life.label,
            index: ly[i]?.index ?? ey.startIndex,
            detail:
              `ring ${ex.ring} → ${ex.end}: confchg #${i} differs: ` +
              `${ex.a.life.label}: ${kx[i] ?? '(none)'} / ${ey.a.life.label}: ${ky[i] ?? '(none)'}`,
            other: { label: ex.a.life.label, index: lx[i]?.index ?? ex.startIndex },
          });
          break;
        }
      }
    }
  }
}

function fmtRecord(x: HistoryRecord): string {
  switch (x.k) {
    case 'init':
      return `init node ${x.node} pid ${x.pid}`;
    case 's':
      return `send #${x.s}`;
    case 'd':
      return `deliver ${x.n}/${x.p}#${x.s}${x.bad ? ` BAD ${x.bad}` : ''}`;
    case 'c':
      return `confchg ${confchgDesc(x)}`;
    case 'r':
      return `totem ring ${x.rn}.${x.rs} [${x.m.join(',')}]`;
    case 'q':
      return 'quiesce';
    case 'end':
      return `end (${x.why})`;
  }
}

/** The records around `index` of a life, one per line, the offending one marked. */
export function excerpt(life: Life, index: number, around = 8): string {
  const lo = Math.max(0, index - around);
  const hi = Math.min(life.records.length, index + around + 1);
  const lines = [`--- ${life.label} (node ${life.node}, pid ${life.pid}) records ${lo}..${hi - 1}`];
  for (let i = lo; i < hi; i++) {
    const x = life.records[i]!;
    lines.push(`${i === index ? '>>' : '  '} ${String(i).padStart(6)} ${x.t} ${fmtRecord(x)}`);
  }
  return lines.join('\n');
}

/** A report of the violations with the history around each (first `max` of them). */
export function violationReport(lives: readonly Life[], violations: readonly Violation[], max = 5): string {
  const byLabel = new Map(lives.map((l) => [l.label, l]));
  const out: string[] = [`${violations.length} violation(s)`];
  for (const v of violations.slice(0, max)) {
    out.push(`[${v.prop}] ${v.label}@${v.index}: ${v.detail}`);
    const l = byLabel.get(v.label);
    if (l) out.push(excerpt(l, v.index));
    if (v.other) {
      const o = byLabel.get(v.other.label);
      if (o) out.push(excerpt(o, v.other.index));
    }
  }
  for (const v of violations.slice(max)) out.push(`[${v.prop}] ${v.label}@${v.index}: ${v.detail}`);
  return out.join('\n');
}
