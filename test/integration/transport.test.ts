// The totem UDP transports on real sockets, loopback only (127.0.0.1..9, ::1, 239.x on lo).
// No sleeps: every wait is on a datagram event or a counter, with a deadline. Every socket a
// test opens is closed by that test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { parseConfigText, buildStartupMap } from '../../src/config/index.js';
import {
  createTransport,
  transportMembers,
  UdpTransport,
  UdpuTransport,
  type TotemTransport,
  type TransportMember,
} from '../../src/transport/index.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';

const DEADLINE = 2000;

interface Received {
  bytes: Buffer;
  from: number | undefined;
  addr: string;
}

/** Collects a transport's datagrams; `next` waits for the next one with a deadline. */
class Inbox {
  readonly got: Received[] = [];
  private waiters: Array<() => void> = [];
  constructor(t: TotemTransport) {
    t.onDatagram((bytes, from, addr) => {
      // the transport lends its receive buffer for the call only
      this.got.push({ bytes: Buffer.from(bytes), from, addr });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** Resolve with datagram number `index` (0-based) once it has arrived. */
  at(index: number, what: string, ms = DEADLINE): Promise<Received> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
      const check = (): void => {
        const r = this.got[index];
        if (r) {
          clearTimeout(timer);
          resolve(r);
        } else this.waiters.push(check);
      };
      check();
    });
  }
}

/** Wait (polling on timer ticks, bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, ms = DEADLINE): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function randomPort(): number {
  return 40000 + Math.floor(Math.random() * 20000);
}

const v4members = (n: number, port?: number): TransportMember[] =>
  Array.from({ length: n }, (_, i) => ({
    nodeid: i + 1,
    addr: `127.0.0.${i + 1}`,
    ...(port ? { port } : {}),
  }));

/**
 * Open one udpu transport per address 127.0.0.1..n on a shared random port (retrying on a
 * port clash with something else on the host).
 */
async function udpuCluster(
  n: number,
  extraMembers: TransportMember[] = [],
  opts: { netMtu?: number; maxDatagram?: number } = {},
): Promise<{ ts: UdpuTransport[]; inboxes: Inbox[]; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const port = randomPort();
    const members = [...v4members(n), ...extraMembers];
    const ts = Array.from(
      { length: n },
      (_, i) =>
        new UdpuTransport({
          localNodeId: i + 1,
          localAddr: `127.0.0.${i + 1}`,
          port,
          members,
          netMtu: opts.netMtu ?? 1500,
          maxDatagram: opts.maxDatagram,
        }),
    );
    try {
      for (const t of ts) await t.open();
      return { ts, inboxes: ts.map((t) => new Inbox(t)), port };
    } catch (err) {
      await Promise.all(ts.map((t) => t.close()));
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 5) throw err;
    }
  }
}

function rawSocket(type: 'udp4' | 'udp6', addr: string): Promise<Socket> {
  const s = createSocket(type);
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, addr, () => {
      s.removeListener('error', reject);
      resolve(s);
    });
  });
}

function closeRaw(s: Socket): Promise<void> {
  return new Promise((r) => s.close(() => r()));
}

test('udpu: unicast and "multicast" between three nodes on 127.0.0.1..3', async () => {
  const { ts, inboxes } = await udpuCluster(3);
  const [t1, t2, t3] = ts as [UdpuTransport, UdpuTransport, UdpuTransport];
  const [in1, in2, in3] = inboxes as [Inbox, Inbox, Inbox];
  try {
    assert.equal(t1.kind, 'udpu');
    // Token-style unicast 1 → 2, gathered from two buffers.
    t1.sendTo(2, [Buffer.from('hdr:'), Buffer.from('token')]);
    const r = await in2.at(0, 'unicast 1→2');
    assert.equal(r.bytes.toString(), 'hdr:token');
    assert.equal(r.from, 1);
    assert.equal(r.addr, '127.0.0.1');

    // "Multicast" from 3: one copy to each other member, none to itself.
    t3.sendAll(Buffer.from('mcast-from-3'));
    const a = await in1.at(0, 'mcast 3→1');
    const b = await in2.at(1, 'mcast 3→2');
    assert.equal(a.bytes.toString(), 'mcast-from-3');
    assert.equal(b.bytes.toString(), 'mcast-from-3');
    assert.equal(a.from, 3);
    assert.equal(b.from, 3);
    assert.equal(t3.stats.txPackets, 2);
    assert.equal(t3.stats.txBytes, 2 * 'mcast-from-3'.length);

    // Token back around the ring 2 → 3 → 1.
    t2.sendTo(3, Buffer.from('t23'));
    assert.equal((await in3.at(0, 'unicast 2→3')).from, 2);
    t3.sendTo(1, Buffer.from('t31'));
    assert.equal((await in1.at(1, 'unicast 3→1')).bytes.toString(), 't31');

    assert.equal(in3.got.length, 1, 'node 3 never receives its own multicast');
    for (const t of ts) {
      assert.equal(t.stats.txErrors, 0);
      assert.equal(t.stats.rxDropped, 0);
      assert.equal(t.stats.socketErrors, 0);
    }
    assert.equal(t1.stats.rxPackets, 2);
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
});

test('udpu: corked sends leave in order, equal-sized runs as segmented sends', async () => {
  const { ts, inboxes } = await udpuCluster(3);
  const [t1] = ts as [UdpuTransport, UdpuTransport, UdpuTransport];
  const [, in2, in3] = inboxes as [Inbox, Inbox, Inbox];
  try {
    // a token visit's worth: full frames, a short last fragment, a new run, then the token
    const frames = [1200, 1200, 1200, 300, 1000, 1000].map((n, i) => Buffer.alloc(n, i + 1));
    t1.cork();
    for (const f of frames) t1.sendAll(f);
    t1.sendTo(2, Buffer.from('token'));
    assert.equal(t1.stats.txPackets, 0, 'nothing leaves while corked');
    t1.flush();
    const expect2 = [...frames.map((f) => f.toString('hex')), Buffer.from('token').toString('hex')];
    for (let i = 0; i < expect2.length; i++) {
      const r = await in2.at(i, `datagram ${i} at node 2`);
      assert.equal(r.bytes.toString('hex'), expect2[i], `datagram ${i} at node 2`);
      assert.equal(r.from, 1);
    }
    for (let i = 0; i < frames.length; i++)
      assert.equal(
        (await in3.at(i, `frame ${i} at node 3`)).bytes.toString('hex'),
        frames[i]!.toString('hex'),
      );
    assert.equal(t1.stats.txPackets, 2 * frames.length + 1);
    assert.equal(t1.stats.txBytes, 2 * frames.reduce((n, f) => n + f.length, 0) + 5);
    assert.equal(t1.stats.txErrors, 0);
    // with the addon: two runs (4 + 2 frames) per peer; without it, one send per datagram
    assert.equal(t1.stats.txSegmentedSends, loadQbNative().ok ? 4 : 0);

    // still corked after flush(); uncork() sends the rest and stops gathering
    t1.sendTo(3, Buffer.from('t13'));
    assert.equal(in3.got.length, frames.length);
    t1.uncork();
    assert.equal((await in3.at(frames.length, 'token 1→3')).bytes.toString(), 't13');
    t1.sendTo(3, Buffer.from('now'));
    assert.equal((await in3.at(frames.length + 1, 'uncorked send')).bytes.toString(), 'now');
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
});

test('udpu: datagrams from an unlisted source are dropped and counted; source port is ignored', async () => {
  const { ts, inboxes, port } = await udpuCluster(2);
  const [t1] = ts as [UdpuTransport, UdpuTransport];
  const [in1] = inboxes as [Inbox, Inbox];
  const stranger = await rawSocket('udp4', '127.0.0.9');
  const member2 = await rawSocket('udp4', '127.0.0.2'); // node 2's address, ephemeral port
  try {
    stranger.send(Buffer.from('intruder'), port, '127.0.0.1');
    await until(() => t1.stats.rxUnlisted === 1, 'unlisted datagram counted');
    assert.equal(t1.stats.rxDropped, 1);
    assert.equal(in1.got.length, 0);

    member2.send(Buffer.from('from-2-ephemeral'), port, '127.0.0.1');
    const r = await in1.at(0, 'datagram from a listed address, other port');
    assert.equal(r.from, 2);
    assert.equal(r.bytes.toString(), 'from-2-ephemeral');
    assert.equal(t1.stats.rxDropped, 1);
  } finally {
    await Promise.all([closeRaw(stranger), closeRaw(member2), ...ts.map((t) => t.close())]);
  }
});

test('udpu: with block_unlisted_ips off an unlisted source is delivered without a nodeid', async () => {
  const port = randomPort();
  const t = new UdpuTransport({
    localNodeId: 1,
    localAddr: '127.0.0.1',
    port,
    members: v4members(2),
    netMtu: 1500,
    blockUnlisted: false,
  });
  const stranger = await rawSocket('udp4', '127.0.0.9');
  try {
    await t.open();
    const inbox = new Inbox(t);
    stranger.send(Buffer.from('hello'), port, '127.0.0.1');
    const r = await inbox.at(0, 'unlisted datagram delivered');
    assert.equal(r.from, undefined);
    assert.equal(r.addr, '127.0.0.9');
  } finally {
    await Promise.all([closeRaw(stranger), t.close()]);
  }
});

test('udpu: datagrams above the limit are refused and counted, the limit itself passes', async () => {
  const { ts, inboxes } = await udpuCluster(2);
  const [t1, t2] = ts as [UdpuTransport, UdpuTransport];
  const [, in2] = inboxes as [Inbox, Inbox];
  try {
    assert.equal(t1.maxDatagram, 1500);
    t1.sendTo(2, Buffer.alloc(1501, 1));
    t1.sendAll([Buffer.alloc(1000), Buffer.alloc(501)]);
    assert.equal(t1.stats.txOversize, 2);
    assert.equal(t1.stats.txPackets, 0);

    // netmtu bytes are sent (corosync's encapsulated recovery MCAST is that big), flagged
    // as above one IPv4 packet's UDP payload (1472).
    t1.sendTo(2, Buffer.alloc(1500, 7));
    const r = await in2.at(0, 'netmtu-sized datagram');
    assert.equal(r.bytes.length, 1500);
    assert.equal(t1.stats.txAboveIpMtu, 1);
    t1.sendTo(2, Buffer.alloc(1472, 8));
    assert.equal((await in2.at(1, '1472-byte datagram')).bytes.length, 1472);
    assert.equal(t1.stats.txAboveIpMtu, 1);
    assert.equal(in2.got.length, 2, 'the refused datagrams never arrived');
    assert.equal(t2.stats.rxDropped, 0);
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
});

test('udpu: maxDatagram below netmtu (no IP fragmentation) is enforced', async () => {
  const { ts, inboxes } = await udpuCluster(2, [], { netMtu: 1500, maxDatagram: 1472 });
  const [t1] = ts as [UdpuTransport, UdpuTransport];
  const [, in2] = inboxes as [Inbox, Inbox];
  try {
    assert.equal(t1.maxDatagram, 1472);
    t1.sendTo(2, Buffer.alloc(1473));
    assert.equal(t1.stats.txOversize, 1);
    t1.sendTo(2, Buffer.alloc(1472));
    assert.equal((await in2.at(0, 'datagram at the limit')).bytes.length, 1472);
    assert.equal(t1.stats.txAboveIpMtu, 0);
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
});

test('udpu: sending to a member that is not listening neither throws nor breaks later sends', async () => {
  // Node 4 is configured (127.0.0.4) but nobody listens there: the kernel answers with ICMP
  // port unreachable, which an unconnected socket never sees.
  const { ts, inboxes } = await udpuCluster(2, [{ nodeid: 4, addr: '127.0.0.4' }]);
  const [t1] = ts as [UdpuTransport, UdpuTransport];
  const [, in2] = inboxes as [Inbox, Inbox];
  try {
    for (let i = 0; i < 20; i++) {
      t1.sendTo(4, Buffer.from(`lost-${i}`));
      t1.sendAll(Buffer.from(`all-${i}`)); // to 2 and to the dead 4
    }
    await in2.at(19, 'twenty multicasts reach node 2 despite the dead member');
    t1.sendTo(2, Buffer.from('after'));
    const r = await in2.at(20, 'unicast after the dead-peer sends');
    assert.equal(r.bytes.toString(), 'after');
    assert.equal(t1.stats.txPackets, 20 + 40 + 1);
    assert.equal(t1.stats.txErrors, 0);
    assert.equal(t1.stats.socketErrors, 0);

    // Unknown nodeid: counted, nothing sent.
    t1.sendTo(99, Buffer.from('x'));
    assert.equal(t1.stats.txNoTarget, 1);
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
});

test('udpu: setMembers replaces destinations and the receive filter', async () => {
  const { ts, inboxes } = await udpuCluster(3);
  const [t1, t2, t3] = ts as [UdpuTransport, UdpuTransport, UdpuTransport];
  const [in1, in2] = inboxes as [Inbox, Inbox, Inbox];
  try {
    t1.setMembers(v4members(2)); // node 3 removed from node 1's nodelist
    t1.sendAll(Buffer.from('only-2'));
    await in2.at(0, 'mcast to 2');
    assert.equal(t1.stats.txPackets, 1);
    t1.sendTo(3, Buffer.from('x'));
    assert.equal(t1.stats.txNoTarget, 1);

    t3.sendTo(1, Buffer.from('from-removed-3'));
    await until(() => t1.stats.rxUnlisted === 1, 'datagram from removed member dropped');
    t2.sendTo(1, Buffer.from('from-2'));
    assert.equal((await in1.at(0, 'datagram from 2')).from, 2);
    assert.throws(() => t1.setMembers([{ nodeid: 5, addr: 'node5' }]), TypeError);
    assert.throws(() => t1.setMembers([{ nodeid: 5, addr: '::1' }]), TypeError);
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
});

test('udpu: open/close lifecycle; a clashing bind rejects and leaves nothing open', async () => {
  const { ts } = await udpuCluster(1);
  const [t1] = ts as [UdpuTransport];
  const port = (t1 as unknown as { port: number }).port;
  const clash = new UdpuTransport({
    localNodeId: 1,
    localAddr: '127.0.0.1',
    port,
    members: v4members(1),
    netMtu: 1500,
  });
  await assert.rejects(clash.open(), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
  await clash.close();
  await assert.rejects(t1.open(), /cannot open/);

  await t1.close();
  await t1.close(); // idempotent
  t1.sendAll(Buffer.from('late'));
  t1.sendTo(1, Buffer.from('late'));
  assert.equal(t1.stats.txPackets, 0);
  assert.equal(t1.stats.txNoTarget, 1, 'the sendTo after close is counted (sendAll had no peer to send to)');

  // The port is free again.
  const again = new UdpuTransport({
    localNodeId: 1,
    localAddr: '127.0.0.1',
    port,
    members: v4members(1),
    netMtu: 1500,
  });
  await again.open();
  await again.close();
});

test('udpu over IPv6 (::1, one port per member)', async (t) => {
  let probe: Socket | undefined;
  try {
    probe = await rawSocket('udp6', '::1');
  } catch (err) {
    t.skip(`IPv6 loopback not available: ${(err as Error).message}`);
    return;
  } finally {
    if (probe) await closeRaw(probe);
  }
  const p1 = randomPort();
  const p2 = p1 + 1;
  const members: TransportMember[] = [
    { nodeid: 1, addr: '::1', port: p1 },
    { nodeid: 2, addr: '0:0:0:0:0:0:0:1', port: p2 },
  ];
  const a = new UdpuTransport({ localNodeId: 1, localAddr: '::1', port: p1, members, netMtu: 1500 });
  const b = new UdpuTransport({ localNodeId: 2, localAddr: '::1', port: p2, members, netMtu: 1500 });
  try {
    await a.open();
    await b.open();
    const ib = new Inbox(b);
    const ia = new Inbox(a);
    a.sendAll(Buffer.from('v6-mcast'));
    const r = await ib.at(0, 'v6 mcast a→b');
    assert.equal(r.from, 1);
    assert.equal(r.addr, '::1');
    b.sendTo(1, [Buffer.from('v6-'), Buffer.from('token')]);
    assert.equal((await ia.at(0, 'v6 token b→a')).from, 2);
    // IPv6 limit: 1500 − 40 − 8 = 1452 fits one packet.
    a.sendTo(2, Buffer.alloc(1453));
    assert.equal(a.stats.txAboveIpMtu, 1);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('createTransport builds udpu from a loaded corosync.conf', async () => {
  const port = randomPort();
  const conf = `
totem {
  version: 2
  cluster_name: tstest
  transport: udpu
  interface {
    linknumber: 0
    mcastport: ${port}
  }
}
nodelist {
  node {
    ring0_addr: 127.0.0.1
    nodeid: 1
  }
  node {
    ring0_addr: 127.0.0.2
    nodeid: 2
  }
}
`;
  const build = (id: number) =>
    buildStartupMap(parseConfigText(conf, 'corosync.conf'), {
      hostname: 'nowhere',
      localAddresses: ['127.0.0.1', '127.0.0.2'],
      localNodeIdOverride: id,
    }).totem;
  const c1 = build(1);
  const c2 = build(2);
  assert.deepEqual(transportMembers(c1), [
    { nodeid: 1, addr: '127.0.0.1' },
    { nodeid: 2, addr: '127.0.0.2' },
  ]);
  const t1 = createTransport(c1, 1);
  const t2 = createTransport(c2, 2);
  try {
    assert.equal(t1.kind, 'udpu');
    assert.equal(t1.maxDatagram, 1500);
    await t1.open();
    await t2.open();
    const in2 = new Inbox(t2);
    t1.sendAll(Buffer.from('configured'));
    const r = await in2.at(0, 'mcast via factory transports');
    assert.equal(r.from, 1);
  } finally {
    await Promise.all([t1.close(), t2.close()]);
  }
});

/** Can this host join a multicast group on lo and hear a datagram sent to it? */
async function multicastOnLoopback(group: string, port: number): Promise<string | undefined> {
  const recv = createSocket({ type: 'udp4', reuseAddr: true });
  const send = createSocket({ type: 'udp4' });
  try {
    await new Promise<void>((resolve, reject) => {
      recv.once('error', reject);
      recv.bind(port, group, () => resolve());
    });
    recv.addMembership(group, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      send.once('error', reject);
      send.bind(0, '127.0.0.2', () => resolve());
    });
    send.setMulticastInterface('127.0.0.2');
    const heard = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      recv.once('message', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    send.send(Buffer.from('probe'), port, group);
    return (await heard) ? undefined : `a datagram to ${group} on lo was not delivered within 1 s`;
  } catch (err) {
    return `multicast on lo not available: ${(err as Error).message}`;
  } finally {
    await Promise.all([closeRaw(recv), closeRaw(send)].map((p) => p.catch(() => undefined)));
  }
}

test('udp: multicast on 239.x over lo between three nodes, own copy dropped, tokens by unicast', async (t) => {
  const group = `239.255.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const port = randomPort();
  const reason = await multicastOnLoopback(group, port + 7);
  if (reason) {
    console.log(`# skipping udp multicast test: ${reason}`);
    t.skip(reason);
    return;
  }
  const members = v4members(3);
  const ts = [1, 2, 3].map(
    (i) =>
      new UdpTransport({
        localNodeId: i,
        localAddr: `127.0.0.${i}`,
        port,
        members,
        netMtu: 1500,
        mcastAddr: group,
        ttl: 1,
      }),
  );
  const [t1, t2, t3] = ts as [UdpTransport, UdpTransport, UdpTransport];
  try {
    for (const x of ts) await x.open();
    const [in1, in2, in3] = ts.map((x) => new Inbox(x)) as [Inbox, Inbox, Inbox];
    assert.equal(t1.kind, 'udp');

    t1.sendAll([Buffer.from('mc:'), Buffer.from('one')]);
    const r2 = await in2.at(0, 'mcast 1→group at 2');
    const r3 = await in3.at(0, 'mcast 1→group at 3');
    for (const r of [r2, r3]) {
      assert.equal(r.bytes.toString(), 'mc:one');
      assert.equal(r.from, 1);
      assert.equal(r.addr, '127.0.0.1');
    }
    assert.equal(t1.stats.txPackets, 1, 'one datagram per multicast');

    // Unicast token 2 → 3 (from the send socket, to 3's token socket).
    t2.sendTo(3, Buffer.from('token'));
    const tok = await in3.at(1, 'token 2→3');
    assert.equal(tok.from, 2);
    assert.equal(tok.bytes.toString(), 'token');

    // Node 1's own copy (lo loops it back) must never reach node 1's callback. Send one
    // multicast from 3 and wait for it at 1: by then 1's own earlier copy was handled.
    t3.sendAll(Buffer.from('from-3'));
    const r1 = await in1.at(0, 'mcast 3→group at 1');
    assert.equal(r1.from, 3);
    assert.equal(in1.got.length, 1);
    // On lo the device itself loops every multicast back, IP_MULTICAST_LOOP off or not.
    await until(() => t1.stats.rxOwn === 1, 'own multicast copy dropped at 1');
    assert.equal(t1.stats.rxDropped, 1);
    assert.equal(t1.stats.rxUnlisted, 0);

    // Corked: a run of equal frames to the group, in order at both receivers.
    const frames = [1100, 1100, 400].map((n, i) => Buffer.alloc(n, 0x40 + i));
    t2.cork();
    for (const f of frames) t2.sendAll(f);
    t2.uncork();
    for (const [inbox, base] of [
      [in1, 1],
      [in3, 2],
    ] as const)
      for (let i = 0; i < frames.length; i++)
        assert.equal(
          (await inbox.at(base + i, `corked frame ${i}`)).bytes.toString('hex'),
          frames[i]!.toString('hex'),
        );
    assert.equal(t2.stats.txSegmentedSends, loadQbNative().ok ? 1 : 0, 'one segmented send to the group');
    assert.equal(t2.stats.txPackets, 1 + frames.length);

    // Oversize refused here too.
    t1.sendAll(Buffer.alloc(1501));
    assert.equal(t1.stats.txOversize, 1);
    for (const x of ts) assert.equal(x.stats.txErrors, 0);
  } finally {
    await Promise.all(ts.map((x) => x.close()));
  }
});

test('createTransport builds udp with the mcastaddr/port/ttl from config', async () => {
  const conf = `
totem {
  version: 2
  cluster_name: tz
  transport: udp
  interface {
    linknumber: 0
    bindnetaddr: 127.0.0.1
    mcastport: 45405
  }
}
nodelist {
  node {
    ring0_addr: 127.0.0.1
    nodeid: 1
  }
  node {
    ring0_addr: 127.0.0.2
    nodeid: 2
  }
}
`;
  const totem = buildStartupMap(parseConfigText(conf, 'corosync.conf'), {
    hostname: 'nowhere',
    localAddresses: ['127.0.0.1', '127.0.0.2'],
    localNodeIdOverride: 2,
  }).totem;
  const t = createTransport(totem, 2);
  assert.ok(t instanceof UdpTransport);
  const inner = t as unknown as { mcastAddr: string; port: number; ttl: number; localAddr: string };
  assert.equal(inner.mcastAddr, '239.192.1.99'); // spec/totem-wire.md §2.4: cluster_name tz
  assert.equal(inner.port, 45405);
  assert.equal(inner.ttl, 1);
  assert.equal(inner.localAddr, '127.0.0.2');
  await t.close(); // never opened: close is still clean
});

test('close() while open() is binding: open rejects, nothing stays open', async () => {
  const port = randomPort();
  const t = new UdpTransport({
    localNodeId: 1,
    localAddr: '127.0.0.1',
    port,
    members: v4members(2),
    netMtu: 1500,
    mcastAddr: '239.255.0.77',
  });
  const opening = t.open();
  const closing = t.close();
  await assert.rejects(opening, /closed while opening/);
  await closing;
  // Every port is free again: a fresh transport binds the same ones.
  const again = new UdpTransport({
    localNodeId: 1,
    localAddr: '127.0.0.1',
    port,
    members: v4members(2),
    netMtu: 1500,
    mcastAddr: '239.255.0.77',
  });
  try {
    await again.open();
  } catch (err) {
    // Joining a group can fail where multicast is unavailable; binding must not.
    assert.notEqual((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
  } finally {
    await again.close();
  }
});
