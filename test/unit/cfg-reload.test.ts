// cfg RELOAD_CONFIG (spec cfg.md §2.7/§3.4, config.md §6) on the exec harness: every node
// re-reads its own file; the requester is answered with its local result; a valid file
// changes exactly the keys that differ (ADD/MODIFY/DELETE notifications) and recomputes
// runtime.config.totem.*; an invalid one changes nothing and says why; runtime-unchangeable
// keys are reported and keep their live values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrackFlags } from '../../src/cmap/map.js';
import type { Icmap } from '../../src/cmap/icmap.js';
import { CsErrorCode } from '../../src/common/errors.js';
import { parseConfigText } from '../../src/config/load.js';
import { EMPTY_USER_DB } from '../../src/config/parser.js';
import { CfgResId, encodeCfgRequest } from '../../src/services/cfg/codec.js';
import type { CfgReloadApplied } from '../../src/services/cfg/service.js';
import { type ExecCluster, type NodeCtl, cfgCluster, envFor, nodelistConf } from '../helpers/exec-harness.js';

const E = CsErrorCode;
const EV: Record<number, string> = {
  [TrackFlags.ADD]: 'ADD',
  [TrackFlags.MODIFY]: 'MODIFY',
  [TrackFlags.DELETE]: 'DELETE',
};

const BASE = nodelistConf([1, 2], '  token_warning: 80\n');

interface Setup {
  c: ExecCluster;
  ctl: Map<number, NodeCtl>;
  files: Map<number, string>;
  applied: Map<number, CfgReloadApplied[]>;
  events: Map<number, string[]>;
}

function setup(ids = [1, 2], initial = BASE): Setup {
  const files = new Map<number, string>(ids.map((id) => [id, initial]));
  const applied = new Map<number, CfgReloadApplied[]>(ids.map((id) => [id, []]));
  const events = new Map<number, string[]>();
  const { c, ctl } = cfgCluster(
    ids,
    () => initial,
    (n) => ({
      reload: {
        read: () =>
          parseConfigText(files.get(n.id)!, '/etc/corosync/corosync.conf', { userDb: EMPTY_USER_DB }),
        env: envFor(n.id),
      },
      applyReload: (a) => applied.get(n.id)!.push(a),
    }),
  );
  c.form([ids]);
  for (const id of ids) {
    const list: string[] = [];
    events.set(id, list);
    c.node(id).icmap.trackAdd(
      '',
      TrackFlags.ADD | TrackFlags.MODIFY | TrackFlags.DELETE | TrackFlags.PREFIX,
      (e) => {
        if (e.key.startsWith('runtime.services.')) return;
        list.push(`${EV[e.event]} ${e.key}`);
      },
    );
  }
  return { c, ctl, files, applied, events };
}

/** Ask node `id` for a reload through IPC; returns the client's replies after delivery. */
function reload(s: Setup, id: number): number[] {
  const conn = s.c.node(id).connect(s.ctl.get(id)!.svc.ipc);
  const now = conn.request(encodeCfgRequest({ kind: 'reload_config' }));
  assert.deepEqual(now, [], 'no reply before the exec message is delivered');
  s.c.flush();
  return conn.takeResponses().map((f) => {
    assert.equal(f.readInt32LE(0), CfgResId.RELOAD_CONFIG);
    assert.equal(f.length, 24);
    return f.readInt32LE(16);
  });
}

function snapshot(icmap: Icmap): Map<string, string> {
  return new Map(
    icmap
      .entries()
      .filter(([k]) => !k.startsWith('runtime.services.'))
      .map(([k, v]) => [k, `${v.type}:${v.bytes.toString('hex')}`]),
  );
}

const u32 = (icmap: Icmap, key: string): unknown => icmap.getValue(key)?.value;

describe('cfg reload: success', () => {
  it('changes exactly the keys that differ, recomputes runtime.config.totem.*, answers OK', () => {
    const s = setup();
    const next = nodelistConf([1, 2, 3], '  token: 5000\n').replace(
      'to_stderr: no',
      'to_stderr: yes\n  timestamp: on',
    );
    s.files.set(1, next);
    s.files.set(2, next);
    assert.equal(u32(s.c.node(1).icmap, 'runtime.config.totem.token'), 3000);
    assert.deepEqual(reload(s, 1), [E.CS_OK]);

    for (const id of [1, 2]) {
      const n = s.c.node(id);
      assert.ok(n.logs.includes('notice: Config reload requested by node 1'));
      const ev = s.events.get(id)!;
      const config = ev.filter((e) => !e.includes(' config.'));
      // 3 nodes now: token = 5000 + 650 (token_coefficient), consensus = 1.2 × token
      assert.deepEqual(
        config.sort(),
        [
          'ADD logging.timestamp',
          'ADD nodelist.node.2.nodeid',
          'ADD nodelist.node.2.ring0_addr',
          'ADD totem.token',
          'DELETE totem.token_warning',
          'MODIFY logging.to_stderr',
          'MODIFY runtime.config.totem.consensus',
          'MODIFY runtime.config.totem.hold',
          'MODIFY runtime.config.totem.interface.0.knet_ping_interval',
          'MODIFY runtime.config.totem.interface.0.knet_ping_timeout',
          'MODIFY runtime.config.totem.token',
          'MODIFY runtime.config.totem.token_retransmit',
          'MODIFY runtime.config.totem.token_warning',
        ].sort(),
      );
      assert.deepEqual(
        ev.filter((e) => e.includes(' config.')),
        [
          'ADD config.totemconfig_reload_in_progress',
          'ADD config.reload_in_progress',
          'ADD config.reload_status',
          'MODIFY config.totemconfig_reload_in_progress',
          'MODIFY config.reload_in_progress',
        ],
      );
      assert.equal(u32(n.icmap, 'runtime.config.totem.token'), 5650);
      assert.equal(u32(n.icmap, 'runtime.config.totem.consensus'), 6780);
      assert.equal(u32(n.icmap, 'runtime.config.totem.token_warning'), 75);
      assert.equal(u32(n.icmap, 'config.reload_status'), E.CS_OK);
      assert.equal(u32(n.icmap, 'config.reload_in_progress'), 0);
      assert.equal(u32(n.icmap, 'config.totemconfig_reload_in_progress'), 0);

      const [a] = s.applied.get(id)!;
      assert.ok(a);
      assert.equal(a.totem.token, 5650);
      assert.equal(a.previous.token, 3000);
      assert.deepEqual(a.addedMembers, [{ linknumber: 0, nodeid: 3, addr: '127.0.0.3' }]);
      assert.deepEqual(a.removedMembers, []);
      assert.deepEqual(a.deleted, ['totem.token_warning']);
      assert.deepEqual(a.unchangeable, []);
      assert.deepEqual(
        s.ctl
          .get(id)!
          .svc.currentTotem()
          .interfaces[0]!.members.map((m) => m.nodeid),
        [1, 2, 3],
      );
    }
  });

  it('removing a node and changing nothing else: DELETE of its keys, members removed', () => {
    const s = setup([1, 2, 3], nodelistConf([1, 2, 3]));
    s.files.set(1, nodelistConf([1, 3]));
    s.files.set(2, nodelistConf([1, 3]));
    s.files.set(3, nodelistConf([1, 3]));
    assert.deepEqual(reload(s, 3), [E.CS_OK]);
    const a = s.applied.get(1)![0]!;
    assert.deepEqual(a.removedMembers, [{ linknumber: 0, nodeid: 2, addr: '127.0.0.2' }]);
    // node positions shift: node.1 is now 127.0.0.3
    const ev = s.events.get(1)!.filter((e) => e.includes('nodelist.'));
    assert.deepEqual(ev.sort(), [
      'DELETE nodelist.node.2.nodeid',
      'DELETE nodelist.node.2.ring0_addr',
      'MODIFY nodelist.node.1.nodeid',
      'MODIFY nodelist.node.1.ring0_addr',
    ]);
    // node 2 reloaded a file without itself: refused, nothing changed
    assert.equal(s.applied.get(2)!.length, 0);
    assert.deepEqual(s.c.node(2).logsWith('Configuration is not valid'), [
      'error: Configuration is not valid: parse error in config: No valid name found for local host',
    ]);
  });

  it('a second identical reload changes nothing but the status keys', () => {
    const s = setup();
    assert.deepEqual(reload(s, 2), [E.CS_OK]);
    for (const id of [1, 2]) {
      assert.ok(
        s.events.get(id)!.every((e) => e.includes(' config.')),
        s.events.get(id)!.join('\n'),
      );
      assert.deepEqual(s.applied.get(id)![0]!.added, []);
      assert.deepEqual(s.applied.get(id)![0]!.modified, []);
    }
  });
});

describe('cfg reload: failure changes nothing', () => {
  it('a syntax error: INVALID_PARAM to the requester, reason logged, map untouched', () => {
    const s = setup();
    s.files.set(1, BASE.replace('totem {', 'totem {{'));
    const before = snapshot(s.c.node(1).icmap);
    assert.deepEqual(reload(s, 1), [E.CS_ERR_INVALID_PARAM]);
    const after = snapshot(s.c.node(1).icmap);
    after.delete('config.reload_status');
    assert.deepEqual(after, before);
    assert.deepEqual(s.events.get(1), ['ADD config.reload_status']);
    assert.equal(u32(s.c.node(1).icmap, 'config.reload_status'), E.CS_ERR_INVALID_PARAM);
    assert.ok(s.c.node(1).logsWith('error: Unable to reload config file: parser error').length === 1);
    assert.deepEqual(s.applied.get(1), []);
    // node 2 read its own (unchanged) file and succeeded; the requester hears only its own result
    assert.deepEqual(s.applied.get(2)!.length, 1);
  });

  it('a value the totem checks refuse', () => {
    const s = setup();
    s.files.set(2, nodelistConf([1, 2], '  token: 10\n'));
    const before = snapshot(s.c.node(2).icmap);
    assert.deepEqual(reload(s, 2), [E.CS_ERR_INVALID_PARAM]);
    const after = snapshot(s.c.node(2).icmap);
    after.delete('config.reload_status');
    assert.deepEqual(after, before);
    assert.deepEqual(s.c.node(2).logsWith('Configuration is not valid'), [
      'error: Configuration is not valid: parse error in config: The token timeout parameter (10 ms) may not be less than (30 ms).',
    ]);
    assert.deepEqual(s.applied.get(2), []);
  });

  it('a changed address of an existing node: the interface must be deleted and recreated', () => {
    const s = setup();
    s.files.set(1, BASE.replace('127.0.0.2', '127.0.0.22'));
    const before = snapshot(s.c.node(1).icmap);
    assert.deepEqual(reload(s, 1), [E.CS_ERR_INVALID_PARAM]);
    const after = snapshot(s.c.node(1).icmap);
    after.delete('config.reload_status');
    assert.deepEqual(after, before);
    assert.ok(
      s.c
        .node(1)
        .logs.includes(
          'error: new config has different address for link 0 (addr changed from 127.0.0.2 to 127.0.0.22). Internal value was NOT changed.',
        ),
    );
    assert.ok(
      s.c
        .node(1)
        .logs.includes(
          'error: Cannot configure new interface definitions: To reconfigure an interface it must be deleted and ' +
            'recreated. A working interface needs to be available to corosync at all times',
        ),
    );
  });

  it('a requester that disconnected before delivery gets nothing; the reload still runs', () => {
    const s = setup();
    const conn = s.c.node(1).connect(s.ctl.get(1)!.svc.ipc);
    conn.request(encodeCfgRequest({ kind: 'reload_config' }));
    conn.close();
    s.c.flush();
    assert.deepEqual(conn.responses, []);
    assert.equal(s.applied.get(1)!.length, 1);
  });

  it('no reload source: CS_ERR_NOT_SUPPORTED', () => {
    const { c, ctl } = cfgCluster([1]);
    c.form([[1]]);
    const conn = c.node(1).connect(ctl.get(1)!.svc.ipc);
    conn.request(encodeCfgRequest({ kind: 'reload_config' }));
    c.flush();
    assert.equal(conn.responses[0]!.readInt32LE(16), E.CS_ERR_NOT_SUPPORTED);
  });
});

describe('cfg reload: keys that cannot change at run-time', () => {
  it('are reported, keep their live values, and do not stop the other changes', () => {
    const s = setup();
    const next = nodelistConf([1, 2], '  token: 4000\n  netmtu: 1200\n')
      .replace('cluster_name: test', 'cluster_name: other')
      .replace('provider: corosync_votequorum', 'expected_votes: 2');
    s.files.set(1, next);
    assert.deepEqual(reload(s, 1), [E.CS_OK]);
    const n = s.c.node(1);
    for (const key of ['totem.netmtu', 'totem.cluster_name', 'quorum.provider']) {
      assert.ok(
        n.logs.includes(`notice: Modified entry '${key}' in corosync.conf cannot be changed at run-time`),
        key,
      );
    }
    assert.equal(n.icmap.getValue('totem.cluster_name')?.value, 'test');
    assert.equal(n.icmap.has('totem.netmtu'), false);
    assert.equal(n.icmap.getValue('quorum.provider')?.value, 'corosync_votequorum');
    assert.equal(n.icmap.getValue('quorum.expected_votes')?.value, 2);
    assert.equal(u32(n.icmap, 'runtime.config.totem.token'), 4000);
    const a = s.applied.get(1)![0]!;
    assert.deepEqual([...a.unchangeable].sort(), ['quorum.provider', 'totem.cluster_name', 'totem.netmtu']);
    assert.equal(a.totem.netMtu, 1500);
    assert.equal(a.totem.clusterName, 'test');
  });

  it('udpu link parameters read only at startup are reported and kept', () => {
    const s = setup();
    const next = BASE.replace(
      'transport: udpu\n',
      'transport: udpu\n  interface {\n    linknumber: 0\n    mcastport: 6000\n  }\n',
    );
    s.files.set(1, next);
    const port = s.c.node(1).icmap.getValue('totem.interface.0.mcastport');
    assert.deepEqual(reload(s, 1), [E.CS_OK]);
    assert.ok(
      s.c
        .node(1)
        .logs.includes(
          "notice: Modified entry 'totem.interface.0.mcastport' in corosync.conf cannot be changed at run-time",
        ),
    );
    assert.deepEqual(s.c.node(1).icmap.getValue('totem.interface.0.mcastport'), port);
    assert.equal(s.applied.get(1)![0]!.totem.interfaces[0]!.ipPort, 5405);
  });
});
