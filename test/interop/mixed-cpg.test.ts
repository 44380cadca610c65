/**
 * Mixed CPG clusters: real corosync 3.1.7 daemons and ours in one ring (udpu, crypto none),
 * each node in its own network namespace on one bridge. On every real node a C client built
 * from test/c/cpg-client.c (real libcpg) joins the group; on every node of ours a TypeScript
 * client (src/client/cpg.ts, in this process) joins it. Then:
 * - corosync-cpgtool on the real nodes and our cpgtool list every member, with its node id
 *   and pid, whichever daemon it joined through;
 * - every client multicasts numbered messages; every client delivers all of them, and the
 *   recorded callbacks satisfy agreed order, FIFO, no duplicates, virtual synchrony and
 *   confchg agreement (test/helpers/mixed-history.ts);
 * - a daemon is killed with SIGKILL while messages are in flight (a real one in the first
 *   ring, one of ours — the ring representative — in the second): the surviving clients on
 *   both sides get the same confchg (the dead node's member left with NODEDOWN), deliver the
 *   same messages up to it, and keep agreeing afterwards;
 * - the two survivors are split (one's bridge port leaves the bridge), a new client joins on
 *   each side, the port comes back: every client sees the other side's members join with
 *   NODEUP (pid descending, as corosync builds the list from the JOINLISTs) and all four agree
 *   again. The histories are checked with test/helpers/cpg-history.ts as well.
 * Skipped with a printed reason without root, corosync 3.1.7, gcc or the libcpg headers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { checkCpgHistories as checkShared, violationReport, type Life } from '../helpers/cpg-history.js';
import type { HistoryRecord } from '../helpers/cpg-worker.js';
import { runCli } from '../helpers/daemon-process.js';
import {
  checkCpgHistories,
  confchgKey,
  missingDeliveries,
  type HistEvent,
} from '../helpers/mixed-history.js';
import { NetnsBridge } from '../helpers/netns-bridge.js';
import {
  ourRunDir,
  parseCmapctlOutput,
  realCorosyncAvailable,
  startOurDaemon,
  startRealCorosync,
  type Availability,
  type RealCorosync,
  udpuClusterConfig,
} from '../helpers/real-corosync.js';
import {
  CClient,
  TsClient,
  addr,
  delivered,
  lastConfchg,
  poll,
  until,
  type Client,
} from '../helpers/cpg-interop-clients.js';

const GROUP = 'mixcpg';
const CPG_REASON_NODEDOWN = 3;
const CPG_REASON_JOIN = 1;
const CPG_REASON_NODEUP = 4;
/** Messages per client: before the kill, around it, after it. */
const PHASE1 = 300;
const PHASE2 = 2000;
const PHASE3 = 100;
/** Messages per client while partitioned, and after the merge. */
const PHASE4 = 50;
const PHASE5 = 100;

const SOURCE = path.resolve(fileURLToPath(import.meta.url), '../../../../test/c/cpg-client.c');

function config(subnet: string): string {
  return udpuClusterConfig({ clusterName: 'mixcpg', addrs: [1, 2, 3].map((id) => `${subnet}.${id}`) });
}

// ---- availability and the C client binary ----

let binDir: string | undefined;
let clientBin = '';

function prepareClient(): Availability {
  const base = realCorosyncAvailable();
  if (!base.ok) return base;
  for (const cmd of ['gcc', 'corosync-cpgtool']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) {
      return { ok: false, reason: `${cmd} not found in PATH` };
    }
  }
  if (!fs.existsSync('/usr/include/corosync/cpg.h')) {
    return { ok: false, reason: 'libcpg headers missing (/usr/include/corosync/cpg.h; install libcpg-dev)' };
  }
  binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cts-cpgc-'));
  process.once('exit', () => {
    if (binDir) fs.rmSync(binDir, { recursive: true, force: true });
  });
  clientBin = path.join(binDir, 'cpg-client');
  const cc = spawnSync('gcc', ['-O1', '-Wall', '-o', clientBin, SOURCE, '-lcpg'], { encoding: 'utf8' });
  if (cc.status !== 0) return { ok: false, reason: `cannot build test/c/cpg-client.c: ${cc.stderr.trim()}` };
  return { ok: true, reason: '' };
}

const avail = prepareClient();
if (!avail.ok) console.log(`# skipping mixed CPG clusters with real corosync: ${avail.reason}`);

// ---- one mixed cluster ----

type Kind = 'real' | 'ours';

interface Cluster {
  kinds: readonly Kind[];
  /** The bridge's hub namespace. */
  hub: string;
  nodes: RealCorosync[];
  clients: Client[];
  dump(): string;
  stop(): Promise<void>;
}

async function memberStatus(inst: RealCorosync, kind: Kind): Promise<Map<string, string>> {
  const r =
    kind === 'real'
      ? await inst.exec('corosync-cmapctl', ['runtime.members.'])
      : await runCli(['cmapctl', 'runtime.members.'], { COROSYNC_TS_RUN_DIR: ourRunDir(inst) });
  const out = new Map<string, string>();
  for (const [k, v] of parseCmapctlOutput(r.stdout)) if (k.endsWith('.status')) out.set(k, v.value);
  return out;
}

/** `GRP_NAME,PID,NODEID` listing of corosync-cpgtool (real) or our cpgtool: "nodeid:pid" of GROUP. */
async function cpgtoolMembers(inst: RealCorosync, kind: Kind): Promise<string[]> {
  const r =
    kind === 'real'
      ? await inst.exec('corosync-cpgtool', ['-d', ','])
      : await runCli(['cpgtool', '-d', ','], { COROSYNC_TS_RUN_DIR: ourRunDir(inst) });
  const out: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const [g, pid, nodeid] = line.split(',');
    if (g === GROUP && pid && nodeid) out.push(`${nodeid}:${pid}`);
  }
  return out.sort();
}

async function startCluster(label: string, subnet: string, kinds: readonly Kind[]): Promise<Cluster> {
  const bridge = NetnsBridge.create(label);
  const nodes: RealCorosync[] = [];
  const clients: Client[] = [];
  const dump = (): string =>
    [
      ...clients.map(
        (c) =>
          `---- client ${c.label} (${c.kind}, ${c.nodeid}:${c.pid}) sent ${c.sentCount()}, ` +
          `${c.events.filter((e) => e.ev === 'deliver').length} delivered, ended: ${c.ended ?? 'no'}\n` +
          c.events
            .filter((e) => e.ev !== 'deliver')
            .map((e) => `  ${JSON.stringify(e)}`)
            .join('\n'),
      ),
      ...nodes.map((n, i) => `---- node ${i + 1} (${kinds[i]}) ${n.ns}\n${n.output().slice(-4000)}`),
    ].join('\n');
  const cluster: Cluster = {
    kinds,
    hub: bridge.hub,
    nodes,
    clients,
    dump,
    stop: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await Promise.all(nodes.map((n) => n.stop()));
      bridge.destroy();
    },
  };
  try {
    const text = config(subnet);
    const started = await Promise.all(
      kinds.map((kind, i) => {
        const id = i + 1;
        const opts = {
          configText: text,
          hostname: `node${id}`,
          name: `${label}${id}`,
          attach: (ns: string) => bridge.attach(ns, `${subnet}.${id}/24`),
        };
        return kind === 'real' ? startRealCorosync(opts) : startOurDaemon(opts);
      }),
    );
    nodes.push(...started);
    // one ring of all three, seen by every node
    await poll(
      async () => {
        for (let i = 0; i < nodes.length; i++) {
          const m = await memberStatus(nodes[i]!, kinds[i]!);
          if (![1, 2, 3].every((id) => m.get(`runtime.members.${id}.status`) === 'joined')) return false;
        }
        return true;
      },
      'one ring of nodes 1, 2, 3',
      40_000,
      dump,
    );
    // a client on every node: C on the real ones, TypeScript on ours. One at a time, each once
    // every client so far saw the previous join: a join request accepted while another join is
    // in flight gets its initial totem confchg before its own join confchg (corosync sends it
    // after the first confchg of any group), which test/helpers/cpg-history.ts does not expect.
    for (let i = 0; i < kinds.length; i++) {
      const name = `${kinds[i] === 'real' ? 'c' : 'ts'}${i + 1}`;
      if (kinds[i] === 'real') {
        const c = new CClient(name, nodes[i]!, clientBin, GROUP);
        clients.push(c);
        await until(() => c.pid !== 0 || c.ended !== undefined, `${name} to join`, 20_000, dump);
        if (c.ended) throw new Error(`${name}: ${c.ended}\n${dump()}`);
      } else {
        const c = new TsClient(name, GROUP);
        clients.push(c);
        await c.start(ourRunDir(nodes[i]!));
      }
      await until(
        () => clients.every((x) => lastConfchg(x)?.members.length === clients.length),
        `every client to see ${name} join`,
        15_000,
        dump,
      );
    }
    clients.sort((a, b) => a.nodeid - b.nodeid);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** The hub-side bridge port of a node's `eth0` (its veth peer). */
function bridgePort(hub: string, ns: string): string {
  const own = spawnSync('ip', ['-n', ns, '-o', 'link', 'show', 'eth0'], { encoding: 'utf8' });
  const peer = /eth0@if(\d+)/.exec(own.stdout)?.[1];
  const ports = spawnSync('ip', ['-n', hub, '-o', 'link'], { encoding: 'utf8' });
  for (const line of ports.stdout.split('\n')) {
    const m = /^(\d+): ([^@:]+)@/.exec(line);
    if (m && m[1] === peer) return m[2]!;
  }
  throw new Error(`no bridge port for ${ns}: ${own.stdout} ${ports.stdout}`);
}

/** Cut a bridge port off the bridge (a partition) or plug it back in. */
function setPort(hub: string, port: string, connected: boolean): void {
  const r = spawnSync(
    'ip',
    ['-n', hub, 'link', 'set', port, ...(connected ? ['master', 'br0'] : ['nomaster'])],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`ip link set ${port}: ${r.stderr}`);
}

/**
 * A client's history as test/helpers/cpg-history.ts reads it (the records of
 * test/helpers/cpg-worker.ts): every message it may have sent, then its callbacks in order, and
 * an `end` record when its daemon died under it.
 */
function toLife(c: Client, all: readonly Client[]): Life {
  const byLabel = new Map(all.map((x) => [x.label, x] as const));
  const records: HistoryRecord[] = [{ k: 'init', t: 0, node: c.nodeid, pid: c.pid }];
  // a client killed while sending may have had more messages accepted than it confirmed
  let sent = c.sentCount();
  if (c.history().crashed) {
    for (const x of all) {
      for (const e of x.events) {
        if (e.ev === 'deliver' && e.msg.startsWith(`${c.label}:`))
          sent = Math.max(sent, Number(e.msg.slice(c.label.length + 1)));
      }
    }
  }
  for (let s = 1; s <= sent; s++) records.push({ k: 's', t: 0, s });
  for (const e of c.events) {
    if (e.ev === 'deliver') {
      const i = e.msg.lastIndexOf(':');
      const from = byLabel.get(e.msg.slice(0, i));
      const bad = from && from.nodeid === e.nodeid && from.pid === e.pid ? undefined : `payload ${e.msg}`;
      records.push({
        k: 'd',
        t: 0,
        n: e.nodeid,
        p: e.pid,
        s: Number(e.msg.slice(i + 1)),
        ...(bad ? { bad } : {}),
      });
    } else if (e.ev === 'confchg') {
      records.push({
        k: 'c',
        t: 0,
        m: e.members.map(([n, p]) => [n, p]),
        l: e.left.map(([n, p, r]) => [n, p, r]),
        j: e.joined.map(([n, p, r]) => [n, p, r]),
      });
    } else {
      records.push({ k: 'r', t: 0, rn: e.rep, rs: String(e.seq), m: [...e.members] });
    }
  }
  if (c.history().crashed) records.push({ k: 'end', t: 0, why: `lost: ${c.ended}` });
  return { label: c.label, node: c.nodeid, pid: c.pid, records };
}

/**
 * Check every client's history with the shared CPG checker (test/helpers/cpg-history.ts) and
 * the pairwise one of test/helpers/mixed-history.ts; returns the deliveries checked.
 */
function assertHistories(cl: Cluster, what: string, killed: readonly Client[] = []): number {
  const lives = cl.clients.map((c) => toLife(c, cl.clients));
  const shared = checkShared(lives, new Set(killed.map((c) => c.label)));
  assert.equal(
    shared.violations.length,
    0,
    `${what}: ${violationReport(lives, shared.violations)}\n${cl.dump()}`,
  );
  const report = checkCpgHistories(cl.clients.map((c) => c.history()));
  assert.deepEqual(report.violations, [], `${what}: history violations\n${cl.dump()}`);
  assert.equal(shared.stats.delivered, report.deliveries);
  return report.deliveries;
}

/** Tests of one mixed cluster: join + cpgtool, messages, kill of node `victim` (1-based). */
function scenario(
  title: string,
  label: string,
  subnet: string,
  kinds: readonly Kind[],
  victim: number,
): void {
  describe(title, { skip: avail.ok ? false : avail.reason }, () => {
    let cl: Cluster;
    before(async () => {
      cl = await startCluster(label, subnet, kinds);
    });
    after(async () => {
      await cl?.stop();
    });

    test(
      'every client joins; cpgtool on each node lists all three members',
      { timeout: 30_000 },
      async () => {
        const all = cl.clients.map(addr).sort();
        assert.deepEqual(
          cl.clients.map((c) => c.nodeid),
          [1, 2, 3],
        );
        // every client sees the full group
        await until(
          () => cl.clients.every((c) => lastConfchg(c)?.members.length === 3),
          'every client to see the three members',
          15_000,
          cl.dump,
        );
        for (const c of cl.clients) {
          assert.deepEqual(
            lastConfchg(c)!
              .members.map(([n, p]) => `${n}:${p}`)
              .sort(),
            all,
            c.label,
          );
          const joins = c.events.filter((e) => e.ev === 'confchg').flatMap((e) => e.joined);
          assert.ok(
            joins.every(([, , r]) => r === CPG_REASON_JOIN),
            `${c.label}: joins by PROCJOIN\n${cl.dump()}`,
          );
        }
        // the real tool sees members of our daemon and ours sees members of theirs
        for (let i = 0; i < cl.nodes.length; i++) {
          assert.deepEqual(await cpgtoolMembers(cl.nodes[i]!, kinds[i]!), all, `cpgtool on node ${i + 1}`);
        }
      },
    );

    test(
      `every client sends ${PHASE1} messages; all deliver all in one agreed order`,
      { timeout: 40_000 },
      async () => {
        await Promise.all(cl.clients.map((c) => c.send(PHASE1)));
        const expected = new Map(cl.clients.map((c) => [c.label, PHASE1] as const));
        await until(
          () => cl.clients.every((c) => delivered(c) >= 3 * PHASE1 || c.ended !== undefined),
          'every client to deliver every message',
          30_000,
          cl.dump,
        );
        for (const c of cl.clients) {
          assert.equal(c.ended, undefined, `${c.label} ended\n${cl.dump()}`);
          assert.deepEqual(missingDeliveries(c.history(), expected).slice(0, 10), [], c.label);
        }
        const n = assertHistories(cl, 'phase 1');
        assert.equal(n, 9 * PHASE1);
      },
    );

    test(
      `kill -9 node ${victim} (${kinds[victim - 1]}) with messages in flight: survivors agree`,
      { timeout: 60_000 },
      async () => {
        const dead = cl.clients.find((c) => c.nodeid === victim)!;
        const survivors = cl.clients.filter((c) => c !== dead);
        // phase 2: everybody sends; the victim's daemon dies once its traffic is flowing
        const sending = cl.clients.map((c) => c.send(PHASE2));
        const firstOfPhase2 = `${dead.label}:${PHASE1 + 200}`;
        await until(
          () => survivors.some((c) => c.events.some((e) => e.ev === 'deliver' && e.msg === firstOfPhase2)),
          'phase-2 traffic of the victim',
          20_000,
          cl.dump,
        );
        process.kill(cl.nodes[victim - 1]!.pid, 'SIGKILL');
        const left = (c: Client): boolean =>
          c.events.some(
            (e) =>
              e.ev === 'confchg' &&
              e.left.some(([n, p, r]) => n === dead.nodeid && p === dead.pid && r === CPG_REASON_NODEDOWN),
          );
        await until(() => survivors.every(left), 'NODEDOWN confchg on the survivors', 30_000, cl.dump);
        await Promise.all(sending);
        // the same confchg everywhere: the dead member left with NODEDOWN, nothing else changed
        const keys = survivors.map((c) => {
          const e = c.events.find(
            (x) => x.ev === 'confchg' && x.left.some(([n, p]) => n === dead.nodeid && p === dead.pid),
          ) as Extract<HistEvent, { ev: 'confchg' }>;
          return confchgKey(e);
        });
        const want = `${GROUP} m[${survivors.map(addr).join(',')}] l[${addr(dead)}/${CPG_REASON_NODEDOWN}] j[]`;
        assert.deepEqual(
          keys,
          survivors.map(() => want),
          cl.dump(),
        );
        // the totem membership seen by the survivors after it: the same ring without the victim
        await until(
          () =>
            survivors.every((c) => {
              const t = [...c.events].reverse().find((e) => e.ev === 'totem');
              return t !== undefined && t.ev === 'totem' && !t.members.includes(victim);
            }),
          'totem confchg without the victim',
          10_000,
          cl.dump,
        );
        const rings = survivors.map((c) => {
          const t = [...c.events].reverse().find((e) => e.ev === 'totem') as Extract<
            HistEvent,
            { ev: 'totem' }
          >;
          return JSON.stringify(t);
        });
        assert.equal(new Set(rings).size, 1, `survivors disagree on the new ring: ${rings.join(' ')}`);
        // survivors' own messages all arrive (accepted ones are never lost), then phase 3
        for (const c of survivors) assert.equal(c.ended, undefined, `${c.label} ended\n${cl.dump()}`);
        await Promise.all(survivors.map((c) => c.send(PHASE3)));
        const expected = new Map(survivors.map((c) => [c.label, PHASE1 + PHASE2 + PHASE3] as const));
        await until(
          () =>
            survivors.every(
              (c) => missingDeliveries(c.history(), expected).length === 0 || c.ended !== undefined,
            ),
          'survivors to deliver all survivor messages',
          30_000,
          cl.dump,
        );
        for (const c of survivors) {
          assert.equal(c.ended, undefined, `${c.label} ended\n${cl.dump()}`);
          assert.deepEqual(missingDeliveries(c.history(), expected).slice(0, 10), [], c.label);
        }
        assert.notEqual(dead.ended, undefined, 'the victim client noticed its daemon died');
        const n = assertHistories(cl, 'after the kill', [dead]);
        const fromDead = survivors.map(
          (c) => c.events.filter((e) => e.ev === 'deliver' && e.msg.startsWith(`${dead.label}:`)).length,
        );
        console.log(
          `# ${title}: ${n} deliveries checked; ${dead.label} (killed) reached the survivors with ` +
            `${fromDead[0]} of ${PHASE1 + PHASE2} messages`,
        );
      },
    );

    test(
      'partition of the survivors, a new member on each side, merge: NODEUP both ways',
      { timeout: 60_000 },
      async () => {
        const old = cl.clients.filter((c) => c.ended === undefined);
        assert.equal(old.length, 2);
        const [a, b] = old as [Client, Client];
        const cutIdx = b.nodeid - 1;
        const port = bridgePort(cl.hub, cl.nodes[cutIdx]!.ns);
        setPort(cl.hub, port, false);
        const sawLeave = (c: Client, o: Client): boolean =>
          c.events.some(
            (e) =>
              e.ev === 'confchg' &&
              e.left.some(([n, p, r]) => n === o.nodeid && p === o.pid && r === CPG_REASON_NODEDOWN),
          );
        await until(
          () => sawLeave(a, b) && sawLeave(b, a),
          'each side to see the other leave',
          30_000,
          cl.dump,
        );
        // while apart, one more client joins on each side
        const fresh: Client[] = [];
        for (const o of old) {
          const i = o.nodeid - 1;
          const label = `${o.label}b`;
          if (kinds[i] === 'real') {
            const c = new CClient(label, cl.nodes[i]!, clientBin, GROUP);
            cl.clients.push(c);
            fresh.push(c);
            await until(() => c.pid !== 0 || c.ended !== undefined, `${label} to join`, 20_000, cl.dump);
            assert.equal(c.ended, undefined, cl.dump());
          } else {
            const c = new TsClient(label, GROUP);
            cl.clients.push(c);
            fresh.push(c);
            await c.start(ourRunDir(cl.nodes[i]!), (process.pid + 1 + i) >>> 0);
          }
        }
        const side = (c: Client): Client[] => [...old, ...fresh].filter((x) => x.nodeid === c.nodeid);
        await until(
          () => [...old, ...fresh].every((c) => lastConfchg(c)?.members.length === 2),
          'the new members to be seen on their side',
          15_000,
          cl.dump,
        );
        const base = new Map([...old, ...fresh].map((c) => [c.label, c.sentCount()] as const));
        await Promise.all([...old, ...fresh].map((c) => c.send(PHASE4)));
        const range = (c: Client, from: number, n: number): [string, readonly [number, number]] => [
          c.label,
          [from + 1, from + n],
        ];
        await until(
          () =>
            [...old, ...fresh].every(
              (c) =>
                missingDeliveries(
                  c.history(),
                  new Map(side(c).map((s) => range(s, base.get(s.label)!, PHASE4))),
                ).length === 0,
            ),
          'each side to deliver its own messages',
          15_000,
          cl.dump,
        );
        // heal: one ring again; each side sees the other side's members join with NODEUP
        setPort(cl.hub, port, true);
        const everyone = [...old, ...fresh];
        await until(
          () => everyone.every((c) => lastConfchg(c)?.members.length === 4),
          'the merged group of four',
          30_000,
          cl.dump,
        );
        const byAddr = (x: Client, y: Client): number => x.nodeid - y.nodeid || x.pid - y.pid;
        const members = [...everyone].sort(byAddr).map(addr).join(',');
        for (const c of everyone) {
          const other = everyone.filter((x) => x.nodeid !== c.nodeid);
          // NODEUP entries come in reverse order of the sender's JOINLIST (ascending pid): pid descending
          const joined = [...other]
            .sort((x, y) => y.pid - x.pid)
            .map((x) => `${addr(x)}/${CPG_REASON_NODEUP}`)
            .join(',');
          assert.equal(
            confchgKey(lastConfchg(c)!),
            `${GROUP} m[${members}] l[] j[${joined}]`,
            `${c.label}\n${cl.dump()}`,
          );
        }
        // everybody talks again; everybody hears everybody
        const base5 = new Map(everyone.map((c) => [c.label, c.sentCount()] as const));
        await Promise.all(everyone.map((c) => c.send(PHASE5)));
        const expected = new Map(everyone.map((s) => range(s, base5.get(s.label)!, PHASE5)));
        await until(
          () =>
            everyone.every(
              (c) => missingDeliveries(c.history(), expected).length === 0 || c.ended !== undefined,
            ),
          'every client to deliver every message after the merge',
          30_000,
          cl.dump,
        );
        for (const c of everyone) {
          assert.equal(c.ended, undefined, `${c.label} ended\n${cl.dump()}`);
          assert.deepEqual(missingDeliveries(c.history(), expected).slice(0, 10), [], c.label);
        }
        const n = assertHistories(
          cl,
          'after the merge',
          cl.clients.filter((c) => c.history().crashed),
        );
        console.log(`# ${title}: ${n} deliveries checked in all (${cl.clients.length} clients)`);
      },
    );
  });
}

scenario('mixed CPG: two real corosync + our node 3', 'mcpga', '10.252.0', ['real', 'real', 'ours'], 2);
scenario(
  'mixed CPG: our nodes 1, 2 (representative ours) + real node 3',
  'mcpgb',
  '10.252.0',
  ['ours', 'ours', 'real'],
  1,
);

/** A `stats.srp.<name>` counter of a node (through its own cmapctl). */
async function srpStat(inst: RealCorosync, kind: Kind, name: string): Promise<number> {
  const key = `stats.srp.${name}`;
  const r =
    kind === 'real'
      ? await inst.exec('corosync-cmapctl', ['-m', 'stats', key])
      : await runCli(['cmapctl', '-m', 'stats', key], { COROSYNC_TS_RUN_DIR: ourRunDir(inst) });
  const v = parseCmapctlOutput(r.stdout).get(key);
  assert.ok(v, `${key} (${kind}): ${r.stdout}${r.stderr}`);
  return Number(v.value);
}

/**
 * Our daemon as the ring's representative with real peers, messages on a resting ring: the rep
 * takes its held token up again for its own message (srp.ts takeHeldToken) instead of sending
 * a TOKEN_HOLD_CANCEL and retransmitting it, so the peers see a token whose token_seq advanced
 * by two and no cancel. Real corosync must accept that token and deliver the message.
 */
describe(
  'mixed CPG: our node 1 (representative) + real nodes 2, 3, messages on a resting ring',
  {
    skip: avail.ok ? false : avail.reason,
  },
  () => {
    let cl: Cluster;
    before(async () => {
      cl = await startCluster('mcpgr', '10.252.0', ['ours', 'real', 'real']);
    });
    after(async () => {
      await cl?.stop();
    });

    test(
      'each message of the rep leaves with its held token; the real nodes deliver it',
      { timeout: 60_000 },
      async () => {
        const [ours, real2] = cl.nodes as [RealCorosync, RealCorosync, RealCorosync];
        const COUNT = 5;
        const GAP_MS = 250; // a resting ring: 30 quiet rotations take a few ms here
        const cancelsTx = await srpStat(ours, 'ours', 'token_hold_cancel_tx');
        const cancelsRx = await srpStat(real2, 'real', 'token_hold_cancel_rx');
        const tokens = await srpStat(real2, 'real', 'orf_token_rx');
        const sender = cl.clients[0]!;
        for (let i = 1; i <= COUNT; i++) {
          const before = delivered(sender);
          await new Promise((r) => setTimeout(r, GAP_MS));
          await sender.send(1);
          await until(
            () => cl.clients.every((c) => delivered(c) > before || c.ended !== undefined),
            `message ${i} delivered everywhere`,
            10_000,
            cl.dump,
          );
        }
        for (const c of cl.clients) assert.equal(c.ended, undefined, `${c.label} ended\n${cl.dump()}`);
        const expected = new Map([[sender.label, COUNT] as const]);
        for (const c of cl.clients) assert.deepEqual(missingDeliveries(c.history(), expected), [], c.label);
        assertHistories(cl, 'resting ring');
        // the ring rested between the messages: a ring kept turning would pass ~1 000 tokens a second
        const seen = (await srpStat(real2, 'real', 'orf_token_rx')) - tokens;
        assert.ok(seen < COUNT * 40, `node 2 saw ${seen} tokens for ${COUNT} messages: the ring rested`);
        assert.equal(
          await srpStat(ours, 'ours', 'token_hold_cancel_tx'),
          cancelsTx,
          'our rep sent no hold-cancel',
        );
        assert.equal(
          await srpStat(real2, 'real', 'token_hold_cancel_rx'),
          cancelsRx,
          'node 2 got no hold-cancel',
        );
      },
    );
  },
);

after(() => {
  if (binDir) fs.rmSync(binDir, { recursive: true, force: true });
  binDir = undefined;
});
