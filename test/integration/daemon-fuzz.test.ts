// Bad input at a running daemon process, seeded: service requests of the right sizes with random
// fields over many IPC connections, then mutated datagrams of the real-corosync captures from
// three listed nodes that never run. The daemon must stay up, fail no handler (a handler that
// throws is logged as "... failed: <stack>"), keep what it accepted before (a cmap key, a CPG
// member) and deliver again once the input stops. The datagrams found two totemsrp bugs: node
// sets grown past PROCESSOR_COUNT_MAX (the next join's encoder threw and the daemon died) and a
// forged join "from" the node itself that kept it out of every ring (test/interaction/srp.test.ts
// has both as scenarios). Wire decoding alone: test/unit/totem-wire-malformed.test.ts; fixed bad
// IPC frames: test/integration/cmap-ipc.test.ts. DAEMON_FUZZ_SEED picks another seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CmapHandle, CmapMapKind, CpgHandle, CsDispatchFlags } from '../../src/client/index.js';
import { CsError, CsErrorCode } from '../../src/common/errors.js';
import { serviceSocketPath } from '../../src/common/rundir.js';
import { encodeSetupRequest } from '../../src/ipc/handshake.js';
import { CfgReqId } from '../../src/services/cfg/codec.js';
import {
  startDaemonProcess,
  uniqueLoopbackAddr,
  waitFor,
  type DaemonProcess,
} from '../helpers/daemon-process.js';
import { readPcap } from '../helpers/pcap.js';
import { udpuClusterConfig } from '../helpers/real-corosync.js';
import { mutateBytes } from '../helpers/mutate.js';
import { Prng } from '../helpers/prng.js';
import { vectorsDir } from '../helpers/vectors.js';

const SEED = Number(process.env.DAEMON_FUZZ_SEED ?? 20261124);
const DATAGRAMS = 40_000;
const IPC_CONNECTIONS = 80;
const FRAMES_PER_CONNECTION = 20;
const SERVICES = ['cmap', 'cpg', 'votequorum', 'quorum', 'cfg'] as const;
/**
 * Request sizes by service and request id (header included; corosync 3.1.7's structs, the least
 * size where a request carries data after it). Most frames get their id's size, so they pass the
 * size check and reach the handlers; the rest get another size and are refused.
 */
const REQUEST_SIZES: Record<(typeof SERVICES)[number], readonly number[]> = {
  cmap: [296, 280, 288, 288, 280, 24, 24, 296, 24, 24],
  cpg: [168, 160, 40, 152, 16, 160, 24, 24, 16, 152, 32, 24, 56],
  votequorum: [24, 24, 24, 32, 24, 272, 272, 528, 296, 280],
  quorum: [16, 24, 16, 16, 24],
  cfg: [16, 16, 288, 24, 24, 24, 16, 16, 16, 32, 24, 16],
};
const ALL_SIZES = [...new Set(Object.values(REQUEST_SIZES).flat())];

/** The captured datagrams of every vector file: real headers, real payloads to mutate. */
function capturedDatagrams(): Buffer[] {
  const dir = vectorsDir();
  const out: Buffer[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.pcap'))
    .sort()) {
    for (const d of readPcap(join(dir, f)).datagrams) out.push(d.payload);
  }
  return out;
}

/** A request frame: header (id, size) and a body of zeros, small numbers, edge values, noise. */
function randomRequest(rng: Prng, service: (typeof SERVICES)[number]): { head: Buffer; body: Buffer } {
  const sizes = REQUEST_SIZES[service];
  let id = rng.bool(0.95) ? rng.int(0, sizes.length - 1) : rng.int(sizes.length, 20);
  // the requests that stop the node (kill / shutdown) are tested on their own
  if (service === 'cfg' && (id === CfgReqId.KILLNODE || id === CfgReqId.TRYSHUTDOWN)) id = CfgReqId.LOCAL_GET;
  let size = rng.bool(0.95) ? (sizes[id] ?? 16) : rng.pick(ALL_SIZES);
  if (rng.bool(0.03)) size += rng.int(1, 300);
  const body = Buffer.alloc(size - 16);
  for (let o = 0; o + 4 <= body.length; o += 4) {
    const r = rng.next();
    const v =
      r < 0.35
        ? 0
        : r < 0.55
          ? rng.int(1, 8)
          : r < 0.7
            ? rng.int(9, 300)
            : r < 0.8
              ? 0xffffffff
              : rng.int(0, 0xffffffff);
    body.writeUInt32LE(v, o);
  }
  const head = Buffer.alloc(16);
  head.writeInt32LE(id, 0);
  head.writeInt32LE(size, 8);
  return { head, body };
}

/** One connection on our stream transport: the setup, `frames`, the end; resolves once closed. */
async function rawSession(runDir: string, service: string, frames: Buffer[]): Promise<void> {
  const sock = connect(serviceSocketPath(runDir, service));
  sock.on('data', () => undefined);
  sock.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(encodeSetupRequest({ maxMsgSize: 1 << 20, pid: process.pid }));
  sock.end(Buffer.concat(frames));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    closed,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the ${service} connection was not closed`)), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Run `h`'s queued callbacks until `cond` holds (the wait is on the daemon's events). */
async function dispatchUntil(
  h: CpgHandle,
  cond: () => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    async () => {
      await h.dispatch(CsDispatchFlags.ALL);
      return cond();
    },
    what,
    timeoutMs,
  );
}

/** Multicast `text` until the daemon takes it (TRY_AGAIN while the ring re-forms). */
async function mcastAccepted(h: CpgHandle, text: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      try {
        await h.mcastJoined(0, Buffer.from(text));
        return true;
      } catch (err) {
        if (err instanceof CsError && err.code === CsErrorCode.CS_ERR_TRY_AGAIN) return false;
        throw err;
      }
    },
    `the daemon to take "${text}"`,
    timeoutMs,
  );
}

test('mutated captured datagrams and random service requests: the daemon stays up, fails no handler, keeps what it accepted', async () => {
  const rng = new Prng(SEED);
  const peers: Socket[] = [];
  const peerAddrs: string[] = [];
  let d: DaemonProcess | undefined;
  let cmap: CmapHandle | undefined;
  let cpg: CpgHandle | undefined;
  try {
    // three listed nodes that never run: their datagrams pass the unlisted-source filter
    for (let i = 0; i < 3; i++) {
      const s = createSocket('udp4');
      s.on('message', () => undefined);
      const addr = uniqueLoopbackAddr();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(5405, addr, () => resolve());
      });
      peers.push(s);
      peerAddrs.push(addr);
    }
    const selfAddr = uniqueLoopbackAddr();
    d = await startDaemonProcess({
      configText: udpuClusterConfig({
        clusterName: 'fuzz',
        addrs: [selfAddr, ...peerAddrs],
        totemExtra: '  token: 1000\n',
      }),
      args: ['--nodeid', '1'],
    });
    const runDir = d.runDir;

    cmap = await CmapHandle.initialize(undefined, { runDir });
    await cmap.setString('fuzz.kept', 'intact');
    const delivered: string[] = [];
    cpg = await CpgHandle.initialize(
      { deliver: (_h, _g, _n, _p, msg) => delivered.push(Buffer.from(msg).toString()) },
      { runDir },
    );
    await cpg.join('fuzz');
    await mcastAccepted(cpg, 'before', 10_000);
    await dispatchUntil(cpg, () => delivered.includes('before'), 'the message sent before the input', 10_000);

    // IPC: requests of the services' sizes with random fields, one connection after another,
    // each taken to its end: the daemon reads the frames, then the end of the stream, and closes
    let frames = 0;
    for (let c = 0; c < IPC_CONNECTIONS; c++) {
      const service = rng.pick(SERVICES);
      const batch: Buffer[] = [];
      for (let f = 0; f < FRAMES_PER_CONNECTION; f++) {
        const { head, body } = randomRequest(rng, service);
        batch.push(head, body);
        frames++;
      }
      await rawSession(runDir, service, batch);
    }
    assert.equal(frames, IPC_CONNECTIONS * FRAMES_PER_CONNECTION);

    // the wire: mutated captures (and some noise) from the listed peers
    const captured = capturedDatagrams();
    assert.ok(captured.length > 1000, `captures found in ${vectorsDir()}`);
    for (let i = 0; i < DATAGRAMS; i++) {
      const dg = rng.bool(0.05) ? rng.bytes(rng.int(0, 1500)) : mutateBytes(rng, rng.pick(captured));
      rng.pick(peers).send(dg, 5405, selfAddr);
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }

    // afterwards: up, nothing failed, what it accepted is there, and it delivers again
    await mcastAccepted(cpg, 'after', 30_000);
    await dispatchUntil(cpg, () => delivered.includes('after'), 'a message sent after the input', 30_000);
    assert.equal(await cmap.getString('fuzz.kept'), 'intact');
    // the datagrams reached the protocol, not only the transport's filter
    const stats = await CmapHandle.initialize(CmapMapKind.STATS, { runDir });
    try {
      const joins = await stats.getUint64('stats.srp.memb_join_rx');
      const mcasts = await stats.getUint64('stats.srp.mcast_rx');
      assert.ok(joins > 100n && mcasts > 100n, `join messages ${joins}, multicasts ${mcasts} received`);
    } finally {
      await stats.finalize();
    }
    assert.equal(d.child.exitCode, null, 'the daemon is still running');
    const failures = d
      .stderr()
      .split('\n')
      .filter((l) => /failed:|Uncaught|TypeError|RangeError|ReferenceError/.test(l));
    assert.deepEqual(failures, [], 'no handler failed');
    assert.match(d.stderr(), /closed: invalid request/, 'malformed requests were refused and logged');
  } catch (err) {
    // what the daemon said is the diagnosis (a crash, a handler's stack)
    if (d && err instanceof Error)
      err.message += `\n--- daemon stderr (last 3000 chars) ---\n${d.stderr().slice(-3000)}`;
    throw err;
  } finally {
    await cpg?.finalize().catch(() => undefined);
    await cmap?.finalize().catch(() => undefined);
    await d?.stop();
    for (const s of peers) s.close();
  }
});
