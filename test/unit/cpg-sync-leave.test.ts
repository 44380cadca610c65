/**
 * A CPG process that leaves while a sync round runs (its connection closes: the PROCLEAVE is not
 * flow-controlled) after — or while — its node's JOINLIST of the round listed it. corosync 3.1.7
 * applies the stale JOINLIST entry at activation on every other node (NODEUP of a process that
 * is gone) while its own node skips its own entries: the views differ from then on. Found by the
 * CPG simulator (seed 123); the service drops such entries (a documented deviation).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CsErrorCode } from '../../src/common/errors.js';
import { ringId } from '../../src/totem/wire/index.js';
import { CpgCluster, type FakeConn } from '../helpers/cpg-harness.js';

/** Start a sync round of ring `seq` on nodes 1 and 2 (as CpgCluster.form's first half). */
function init(c: CpgCluster, seq: number): void {
  const members = [1, 2];
  for (const id of members) {
    const n = c.node(id);
    n.syncing = true;
    n.ring = ringId(1, seq);
    const trans = n.ringMembers.filter((x) => members.includes(x));
    n.ringMembers = members;
    n.engine.sync!.init(trans, members, n.ring);
  }
}

function processAll(c: CpgCluster): void {
  for (const id of [1, 2]) assert.equal(c.node(id).engine.sync!.process(), true);
}

function activate(c: CpgCluster): void {
  c.flush();
  for (const id of [1, 2]) c.node(id).engine.sync!.activate();
  for (const id of [1, 2]) c.node(id).syncing = false;
}

function setup(): { c: CpgCluster; watch: FakeConn; leaver: FakeConn } {
  const c = new CpgCluster([1, 2]);
  c.form([[1, 2]]);
  const watch = c.node(1).connect(100);
  const leaver = c.node(2).connect(200);
  assert.equal(watch.join('G'), CsErrorCode.CS_OK);
  assert.equal(leaver.join('G'), CsErrorCode.CS_OK);
  c.flush();
  watch.lines();
  return { c, watch, leaver };
}

describe('CPG: a process leaving during a sync round', () => {
  it('JOINLIST delivered before the PROCLEAVE: the stale entry is not applied', () => {
    const { c, watch, leaver } = setup();
    init(c, 100);
    processAll(c); // node 2's JOINLIST lists 2/200
    leaver.close(); // PROCLEAVE(PROCDOWN) behind it
    activate(c);
    assert.deepEqual(watch.lines(), [
      'cpg_confchg group=G members=1/100 left=2/200:procdown joined=',
      'totem_confchg ring=1.100 members=1,2',
    ]);
  });

  it('PROCLEAVE sent before a JOINLIST built while it was on its way: the entry is ignored', () => {
    const { c, watch, leaver } = setup();
    init(c, 100);
    leaver.close(); // PROCLEAVE queued; node 2 still lists 2/200 until it delivers it
    processAll(c);
    activate(c);
    assert.deepEqual(watch.lines(), [
      'cpg_confchg group=G members=1/100 left=2/200:procdown joined=',
      'totem_confchg ring=1.100 members=1,2',
    ]);
  });

  it('the next round starts clean: a JOINLIST entry of a process that is back counts', () => {
    const { c, watch, leaver } = setup();
    init(c, 100);
    leaver.close();
    processAll(c);
    activate(c);
    watch.lines();
    // a later round: a new process of node 2 with the same pid is listed and known everywhere
    const again = c.node(2).connect(200);
    assert.equal(again.join('G'), CsErrorCode.CS_OK);
    c.flush();
    init(c, 104);
    processAll(c);
    activate(c);
    assert.deepEqual(watch.lines(), [
      'cpg_confchg group=G members=1/100,2/200 left= joined=2/200:join',
      'totem_confchg ring=1.104 members=1,2',
    ]);
  });
});
