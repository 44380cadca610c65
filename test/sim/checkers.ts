/**
 * Checkers over the recorded history of a simulated run (spec/totem-srp.md §15). They look
 * only at what the cores handed out (deliveries, configuration changes) and at what the
 * applications sent; they never peek inside a core.
 */
import type { SrpConfChg, SrpDeliver } from '../../src/totem/srp.js';
import type { Recorded } from './cluster.js';

export interface Violation {
  /** Property name, e.g. `P5 identical order`. */
  prop: string;
  /** Virtual time of the offending event (for the trace window). */
  t: number;
  detail: string;
}

/** What an application sent: message id → sender and when. */
export interface SentInfo {
  node: number;
  inc: number;
  t: number;
}

const ringKey = (r: { rep: number; seq: bigint }): string => `${r.rep}.${r.seq.toString(16)}`;

interface Life {
  node: number;
  inc: number;
  events: Recorded[];
}

function lives(history: readonly Recorded[]): Life[] {
  const map = new Map<string, Life>();
  for (const h of history) {
    const k = `${h.node}/${h.inc}`;
    let l = map.get(k);
    if (!l) {
      l = { node: h.node, inc: h.inc, events: [] };
      map.set(k, l);
    }
    l.events.push(h);
  }
  return [...map.values()];
}

/** One regular-ring epoch of one node incarnation: what it delivered while in that ring. */
interface Epoch {
  node: number;
  inc: number;
  ring: string;
  members: number[];
  /** Messages of this ring delivered (agreed + recovery), in order. */
  delivered: string[];
  /** The transitional configuration that ended it (if any). */
  nextTrans?: SrpConfChg;
  nextRing?: string;
}

export function checkHistory(history: readonly Recorded[], sent: ReadonlyMap<string, SentInfo>): Violation[] {
  const v: Violation[] = [];
  const add = (prop: string, t: number, detail: string): void => {
    if (v.length < 50) v.push({ prop, t, detail });
  };
  // (ring, seq) → message id, across all nodes (P5 / P6)
  const atSeq = new Map<string, { id: string; node: number }>();
  // ring → members reported with REGULAR (P2)
  const ringMembers = new Map<string, string>();
  const epochs: Epoch[] = [];
  const lastRegularSeqByNode = new Map<number, bigint>();

  for (const life of lives(history)) {
    const { node } = life;
    let regular: SrpConfChg | null = null;
    let hadRegular = false;
    let pendingTrans: SrpConfChg | null = null;
    let epoch: Epoch | null = null;
    const seenIds = new Set<string>();
    const seenSeq = new Set<string>();
    const lastSeqInRing = new Map<string, number>();
    const fifo = new Map<string, number>(); // sender/inc → last n
    for (const h of life.events) {
      const e = h.effect;
      if (e.kind === 'confchg') {
        if (e.type === 'transitional') {
          if (pendingTrans) add('P8 shape', h.t, `n${node}: two transitional configurations in a row`);
          pendingTrans = e;
          if (!e.members.includes(node) && hadRegular) {
            add('P3 self-inclusion', h.t, `n${node}: transitional ${ringKey(e.ringId)} lacks self`);
          }
          if (!hadRegular && e.members.length > 0) {
            add('P3 self-inclusion', h.t, `n${node}: first transitional not empty: [${e.members}]`);
          }
          if (e.joined.length) add('P8 shape', h.t, `n${node}: transitional with joined [${e.joined}]`);
          if (regular) {
            for (const m of e.members) {
              if (!regular.members.includes(m)) {
                add('P8 shape', h.t, `n${node}: trans member ${m} not in old regular [${regular.members}]`);
              }
            }
            const left = regular.members.filter((m) => !e.members.includes(m));
            if (left.join() !== [...e.left].sort((a, b) => a - b).join()) {
              add('P8 shape', h.t, `n${node}: left [${e.left}] ≠ old − trans [${left}]`);
            }
          }
          if (epoch) {
            epoch.nextTrans = e;
            epoch.nextRing = ringKey(e.ringId);
          }
        } else {
          if (!pendingTrans || ringKey(pendingTrans.ringId) !== ringKey(e.ringId)) {
            add('P8 shape', h.t, `n${node}: regular ${ringKey(e.ringId)} not preceded by its transitional`);
          }
          if (e.left.length) add('P8 shape', h.t, `n${node}: regular with left [${e.left}]`);
          if (!e.members.includes(node)) add('P3 self-inclusion', h.t, `n${node}: regular lacks self`);
          const sorted = [...e.members].sort((a, b) => a - b);
          if (sorted.join() !== e.members.join()) add('P2 membership', h.t, `n${node}: members not sorted`);
          if (e.ringId.rep !== sorted[0]) add('P2 membership', h.t, `n${node}: rep ${e.ringId.rep} ≠ min`);
          const key = ringKey(e.ringId);
          const prev = ringMembers.get(key);
          if (prev !== undefined && prev !== e.members.join()) {
            add('P2 membership', h.t, `ring ${key}: members [${prev}] vs n${node} [${e.members}]`);
          }
          ringMembers.set(key, e.members.join());
          if (pendingTrans) {
            const joined = e.members.filter((m) => !pendingTrans!.members.includes(m));
            if (joined.join() !== [...e.joined].sort((a, b) => a - b).join()) {
              add('P8 shape', h.t, `n${node}: joined [${e.joined}] ≠ new − trans [${joined}]`);
            }
            for (const m of pendingTrans.members) {
              if (!e.members.includes(m))
                add('P8 shape', h.t, `n${node}: trans member ${m} not in new regular`);
            }
          }
          const last = lastRegularSeqByNode.get(node);
          if (last !== undefined && e.ringId.seq <= last) {
            add('P1 ring ids', h.t, `n${node}: ring seq ${e.ringId.seq} after ${last}`);
          }
          lastRegularSeqByNode.set(node, e.ringId.seq);
          regular = e;
          hadRegular = true;
          pendingTrans = null;
          epoch = { node, inc: life.inc, ring: key, members: e.members, delivered: [] };
          epochs.push(epoch);
        }
        continue;
      }
      if (e.kind !== 'deliver') continue;
      const d = e as SrpDeliver;
      const id = d.payload.toString();
      const rk = ringKey(d.ringId);
      if (!regular || ringKey(regular.ringId) !== rk) {
        add(
          'P6 foreign',
          h.t,
          `n${node}: delivered ${id} of ring ${rk} while in ${regular ? ringKey(regular.ringId) : 'none'}`,
        );
      }
      if (seenIds.has(id)) add('P6 duplicates', h.t, `n${node}: ${id} delivered twice`);
      seenIds.add(id);
      const sk = `${rk}/${d.seq}`;
      if (seenSeq.has(sk)) add('P6 duplicates', h.t, `n${node}: (ring ${rk}, seq ${d.seq}) delivered twice`);
      seenSeq.add(sk);
      const lastSeq = lastSeqInRing.get(rk);
      if (lastSeq !== undefined && d.seq <= lastSeq) {
        add('P4 agreed order', h.t, `n${node}: seq ${d.seq} after ${lastSeq} in ring ${rk}`);
      }
      if (lastSeq !== undefined && !pendingTrans && d.seq !== lastSeq + 1) {
        add('P4 agreed order', h.t, `n${node}: gap in agreed delivery ${lastSeq} → ${d.seq} in ring ${rk}`);
      }
      lastSeqInRing.set(rk, d.seq);
      const other = atSeq.get(sk);
      if (other && other.id !== id) {
        add(
          'P5 identical order',
          h.t,
          `(ring ${rk}, seq ${d.seq}): n${other.node} got ${other.id}, n${node} got ${id}`,
        );
      }
      if (!other) atSeq.set(sk, { id, node });
      const s = sent.get(id);
      if (!s) add('no phantom messages', h.t, `n${node}: delivered ${id}, never sent`);
      else if (s.node !== d.from) add('P12 delivery source', h.t, `n${node}: ${id} reported from ${d.from}`);
      const parts = id.split(':');
      if (parts[0] === 'a') {
        const src = `${parts[1]}/${parts[2]}`;
        const n = Number(parts[3]);
        const prevN = fifo.get(src);
        if (prevN !== undefined && n <= prevN)
          add('FIFO', h.t, `n${node}: ${id} after n=${prevN} from ${src}`);
        fifo.set(src, n);
      }
      if (epoch) epoch.delivered.push(id);
    }
  }

  // P9: nodes moving together from ring R to ring R' delivered the same set of R's messages.
  const byTransition = new Map<string, Epoch[]>();
  for (const ep of epochs) {
    if (!ep.nextRing) continue;
    const k = `${ep.ring}->${ep.nextRing}`;
    let list = byTransition.get(k);
    if (!list) byTransition.set(k, (list = []));
    list.push(ep);
  }
  for (const [k, list] of byTransition) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const p = list[i]!;
        const q = list[j]!;
        if (!p.nextTrans!.members.includes(q.node) || !q.nextTrans!.members.includes(p.node)) continue;
        // Skip mode may withhold messages whose originator is outside the transitional set
        // (spec P9), so compare what both must agree on: messages from common trans members.
        const common = p.nextTrans!.members.filter((m) => q.nextTrans!.members.includes(m));
        const fromCommon = (id: string): boolean => common.includes(Number(id.split(':')[1]));
        const pd = p.delivered.filter(fromCommon);
        const qd = q.delivered.filter(fromCommon);
        const a = [...pd].sort().join(',');
        const b = [...qd].sort().join(',');
        if (a !== b) {
          const onlyP = pd.filter((x) => !qd.includes(x));
          const onlyQ = qd.filter((x) => !pd.includes(x));
          add(
            'P9 virtual synchrony',
            0,
            `${k}: n${p.node} and n${q.node} delivered different sets; only n${p.node}: [${onlyP.slice(0, 5)}] ` +
              `only n${q.node}: [${onlyQ.slice(0, 5)}]`,
          );
        }
      }
    }
  }
  return v;
}

/**
 * P7 self delivery: every app message a node incarnation still alive at the end accepted
 * must have been delivered to itself.
 */
export function checkSelfDelivery(
  history: readonly Recorded[],
  sent: ReadonlyMap<string, SentInfo>,
  aliveAtEnd: ReadonlyMap<number, number>,
): Violation[] {
  const got = new Set<string>();
  for (const h of history) {
    if (h.effect.kind === 'deliver') got.add(`${h.node}/${h.inc}/${h.effect.payload.toString()}`);
  }
  const v: Violation[] = [];
  for (const [id, s] of sent) {
    if (!id.startsWith('a:')) continue;
    if (aliveAtEnd.get(s.node) !== s.inc) continue;
    if (!got.has(`${s.node}/${s.inc}/${id}`)) {
      if (v.length < 20)
        v.push({ prop: 'P7 self delivery', t: s.t, detail: `n${s.node}: own ${id} never delivered` });
    }
  }
  return v;
}
