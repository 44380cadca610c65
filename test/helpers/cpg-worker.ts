/**
 * A CPG client program for fault tests with real processes, and the parent-side controller
 * that runs it (`spawnCpgWorker`).
 *
 * The worker (this file run with `node`, forked with an IPC channel) connects to one daemon,
 * joins a group, and on command multicasts numbered messages at a steady rate through
 * `CpgHandle.send()` (so CS_ERR_TRY_AGAIN back-pressure is respected). Every message carries
 * the sender's nodeid, pid and sequence number plus a filler derived from them, so receivers
 * can tell where it came from and that it arrived intact. Every callback (deliver, confchg,
 * totem confchg) and every send is appended, in order, as one JSON line to the history file
 * with a synchronous write: the file is complete even if the worker dies.
 *
 * History records (`k` = kind), `t` = Date.now():
 *   init  {node, pid}                        connected, before the join
 *   s     {s}                                about to send message number s
 *   d     {n, p, s, bad?}                    delivered message s of (n, p); bad = payload mismatch
 *   c     {m: [n,p][], l: [n,p,r][], j: [n,p,r][]}   confchg (members after, left, joined)
 *   r     {rn, rs, m: number[]}              totem confchg (ring rep, ring seq, nodes)
 *   q     {}                                 quiesce marker (parent: nothing is in flight)
 *   end   {why}                              'exit' (finalized) or 'lost: …' (daemon gone)
 *
 * Commands from the parent: start {rate}, stop, quiesce, exit. Replies: ready, stopped {last},
 * quiesced, lost {why}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
  CpgGuarantee,
  CpgHandle,
  CpgModel,
  CsDispatchFlags,
  CsError,
  CsErrorCode,
} from '../../src/client/index.js';

export type HistoryRecord =
  | { k: 'init'; t: number; node: number; pid: number }
  | { k: 's'; t: number; s: number }
  | { k: 'd'; t: number; n: number; p: number; s: number; bad?: string }
  | {
      k: 'c';
      t: number;
      m: [number, number][];
      l: [number, number, number][];
      j: [number, number, number][];
    }
  | { k: 'r'; t: number; rn: number; rs: string; m: number[] }
  | { k: 'q'; t: number }
  | { k: 'end'; t: number; why: string };

type Command = { cmd: 'start'; rate: number } | { cmd: 'stop' } | { cmd: 'quiesce' } | { cmd: 'exit' };
type Reply =
  | { ev: 'ready'; node: number; pid: number }
  | { ev: 'stopped'; last: number }
  | { ev: 'quiesced' }
  | { ev: 'lost'; why: string }
  | { ev: 'error'; why: string };

const MAGIC = 0x43504766; // "CPGf"
const HEADER = 16;

/** Payload size of message `seq`: 16..2999 bytes, so some messages span several totem packets. */
export function payloadSize(seq: number): number {
  return HEADER + ((seq * 7919) % 2984);
}

function fillByte(node: number, pid: number, seq: number, i: number): number {
  return (node * 31 + pid * 17 + seq * 13 + i) & 0xff;
}

export function encodePayload(node: number, pid: number, seq: number): Buffer {
  const b = Buffer.alloc(payloadSize(seq));
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(node, 4);
  b.writeUInt32LE(pid, 8);
  b.writeUInt32LE(seq, 12);
  for (let i = HEADER; i < b.length; i++) b[i] = fillByte(node, pid, seq, i);
  return b;
}

/** Decode and verify a payload against the sender the callback reported. */
export function decodePayload(
  msg: Buffer,
  node: number,
  pid: number,
): { n: number; p: number; s: number; bad?: string } {
  if (msg.length < HEADER || msg.readUInt32LE(0) !== MAGIC) {
    return { n: node, p: pid, s: -1, bad: `foreign payload of ${msg.length} bytes` };
  }
  const n = msg.readUInt32LE(4);
  const p = msg.readUInt32LE(8);
  const s = msg.readUInt32LE(12);
  if (n !== node || p !== pid) return { n, p, s, bad: `callback says ${node}/${pid}` };
  if (msg.length !== payloadSize(s)) return { n, p, s, bad: `length ${msg.length} != ${payloadSize(s)}` };
  for (let i = HEADER; i < msg.length; i++) {
    if (msg[i] !== fillByte(n, p, s, i)) return { n, p, s, bad: `corrupt byte at ${i}` };
  }
  return { n, p, s };
}

// ---------------------------------------------------------------------------------------------
// The worker program

async function connectWithRetry(
  runDir: string,
  record: (r: HistoryRecord) => void,
  onJoined: (joined: readonly { nodeid: number; pid: number }[]) => void,
  onDead: (why: string) => void,
): Promise<CpgHandle> {
  const deadline = Date.now() + 15_000;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      return await CpgHandle.modelInitialize(
        CpgModel.V1,
        {
          flags: CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
          deliver: (_h, _g, nodeid, pid, msg) =>
            record({ k: 'd', t: Date.now(), ...decodePayload(msg, nodeid, pid) }),
          confchg: (_h, _g, members, left, joined) => {
            record({
              k: 'c',
              t: Date.now(),
              m: members.map((a) => [a.nodeid, a.pid]),
              l: left.map((a) => [a.nodeid, a.pid, a.reason]),
              j: joined.map((a) => [a.nodeid, a.pid, a.reason]),
            });
            onJoined(joined);
          },
          totemConfchg: (_h, ring, members) =>
            record({ k: 'r', t: Date.now(), rn: ring.nodeid, rs: ring.seq.toString(), m: [...members] }),
        },
        undefined,
        { runDir },
      );
    } catch (err) {
      // the daemon refuses clients (TRY_AGAIN) until its first sync completed
      if (Date.now() > deadline) {
        onDead(`cannot connect: ${(err as Error).message}`);
        throw err;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function workerMain(): Promise<void> {
  const [runDir, group, outFile] = process.argv.slice(2);
  if (!runDir || !group || !outFile || !process.send) {
    throw new Error('usage: cpg-worker <runDir> <group> <historyFile> (forked with an IPC channel)');
  }
  const fd = openSync(outFile, 'a');
  let ended = false;
  const record = (r: HistoryRecord): void => {
    if (!ended) writeSync(fd, `${JSON.stringify(r)}\n`);
  };
  const reply = (r: Reply): void => {
    if (process.connected) process.send!(r);
  };
  const finish = (why: string): void => {
    if (ended) return;
    record({ k: 'end', t: Date.now(), why });
    ended = true;
    closeSync(fd);
  };

  let node = 0;
  let pid = 0;
  let joined = false;
  const h = await connectWithRetry(
    runDir,
    record,
    (list) => {
      // ready once our own join was delivered (the confchg whose joined list holds us)
      if (!joined && list.some((a) => a.nodeid === node && a.pid === pid)) {
        joined = true;
        reply({ ev: 'ready', node, pid });
      }
    },
    (why) => {
      finish(why);
      reply({ ev: 'lost', why });
    },
  );
  node = await h.localGet();
  pid = h.localPid;
  record({ k: 'init', t: Date.now(), node, pid });

  let sending = false;
  let rate = 0;
  let seq = 0;
  let sendLoop: Promise<void> = Promise.resolve();
  let dead = false;

  // the worker stays (IPC channel open) until the parent says 'exit' or goes away
  const lost = (why: string): void => {
    if (dead) return;
    dead = true;
    sending = false;
    finish(`lost: ${why}`);
    reply({ ev: 'lost', why });
  };

  // callbacks run from here, in arrival order
  const dispatchLoop = (async () => {
    try {
      await h.dispatch(CsDispatchFlags.BLOCKING);
    } catch (err) {
      if (CsError.is(err, CsErrorCode.CS_ERR_BAD_HANDLE)) return; // finalized by 'exit'
      lost((err as Error).message);
    }
  })();

  async function runSender(): Promise<void> {
    const tickMs = 10;
    let credit = 0;
    let last = Date.now();
    while (sending && !dead) {
      const now = Date.now();
      // at most half a second of backlog: a long TRY_AGAIN wait does not turn into a burst
      credit = Math.min(credit + ((now - last) * rate) / 1000, Math.max(1, rate / 2));
      last = now;
      while (credit >= 1 && sending && !dead) {
        credit--;
        const s = ++seq;
        record({ k: 's', t: Date.now(), s });
        try {
          await h.send(CpgGuarantee.AGREED, encodePayload(node, pid, s));
        } catch (err) {
          lost((err as Error).message);
          return;
        }
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
  }

  process.on('message', (c: Command) => {
    switch (c.cmd) {
      case 'start':
        rate = c.rate;
        if (!sending && !dead) {
          sending = true;
          sendLoop = runSender();
        }
        break;
      case 'stop':
        sending = false;
        void sendLoop.then(() => reply({ ev: 'stopped', last: seq }));
        break;
      case 'quiesce':
        record({ k: 'q', t: Date.now() });
        reply({ ev: 'quiesced' });
        break;
      case 'exit':
        sending = false;
        void (async () => {
          await sendLoop;
          if (!dead) {
            dead = true;
            await h.finalize().catch(() => undefined);
            finish('exit');
          }
          await dispatchLoop;
          if (process.connected) process.disconnect();
        })();
        break;
    }
  });
  process.on('disconnect', () => {
    // the parent went away: leave quietly
    if (!dead) {
      dead = true;
      sending = false;
      void h.finalize().catch(() => undefined);
      finish('parent gone');
    }
  });

  await h.join(group);
}

// ---------------------------------------------------------------------------------------------
// Parent side

/** A running worker as the test sees it: commands, its replies, and its history so far. */
export class CpgWorker {
  readonly history: HistoryRecord[] = [];
  node = 0;
  pid = 0;
  /** Set once the worker reported it lost its daemon (or could not connect). */
  lostWhy: string | undefined;
  /** Sequence number of the last message, once the worker stopped sending. */
  lastSent: number | undefined;
  readonly exited: Promise<number | null>;
  private offset = 0;
  private partial = '';
  private waiters: Array<{ ev: Reply['ev']; resolve: (r: Reply) => void }> = [];
  private exitCode: number | null | undefined;
  private stderrText = '';

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
    readonly historyFile: string,
  ) {
    child.on('message', (r: Reply) => {
      if (r.ev === 'ready') {
        this.node = r.node;
        this.pid = r.pid;
      } else if (r.ev === 'lost') this.lostWhy = r.why;
      else if (r.ev === 'stopped') this.lastSent = r.last;
      const i = this.waiters.findIndex((w) => w.ev === r.ev);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(r);
    });
    child.stderr?.on('data', (d: Buffer) => (this.stderrText += d.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  stderr(): string {
    return this.stderrText;
  }

  /** Read the history lines written since the last call. */
  poll(): HistoryRecord[] {
    const fresh: HistoryRecord[] = [];
    let fd: number;
    try {
      fd = openSync(this.historyFile, 'r');
    } catch {
      return fresh;
    }
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.partial += buf.toString('utf8', 0, n);
      }
    } finally {
      closeSync(fd);
    }
    const lines = this.partial.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      const r = JSON.parse(line) as HistoryRecord;
      this.history.push(r);
      fresh.push(r);
    }
    return fresh;
  }

  private command(c: Command): void {
    if (this.child.connected) this.child.send(c);
  }

  /** Wait for a reply of the given kind (rejects after `ms`, or when the worker exits). */
  private expect<E extends Reply['ev']>(ev: E, ms: number): Promise<Extract<Reply, { ev: E }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`${this.label}: no '${ev}' within ${ms} ms\n${this.stderrText}`));
      }, ms);
      const done = (r: Reply): void => {
        clearTimeout(timer);
        resolve(r as Extract<Reply, { ev: E }>);
      };
      this.waiters.push({ ev, resolve: done });
      void this.exited.then(() => {
        if (ev !== 'lost' && this.waiters.some((w) => w.resolve === done)) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w.resolve !== done);
          reject(new Error(`${this.label}: exited before '${ev}' (${this.lostWhy ?? 'no reason'})`));
        }
      });
    });
  }

  /** Resolves once the worker's own join confchg was delivered. */
  ready(ms = 20_000): Promise<unknown> {
    return this.node ? Promise.resolve() : this.expect('ready', ms);
  }

  start(rate: number): void {
    this.command({ cmd: 'start', rate });
  }

  /** Stop sending; resolves with the number of the last message. */
  async stop(ms = 20_000): Promise<number> {
    if (!this.alive || !this.child.connected) return this.lastSent ?? this.lastIntended();
    const p = this.expect('stopped', ms);
    this.command({ cmd: 'stop' });
    return (await p).last;
  }

  async quiesce(ms = 5_000): Promise<void> {
    if (!this.alive || !this.child.connected) return;
    const p = this.expect('quiesced', ms);
    this.command({ cmd: 'quiesce' });
    await p;
  }

  /** Finalize the handle and let the worker end (SIGKILL after `ms`). */
  async exit(ms = 10_000): Promise<void> {
    if (this.alive) {
      this.command({ cmd: 'exit' });
      const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
      await this.exited;
      clearTimeout(timer);
    }
    this.poll();
  }

  /** Highest sequence number the worker recorded as sent (from its history). */
  lastIntended(): number {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const r = this.history[i]!;
      if (r.k === 's') return r.s;
    }
    return 0;
  }
}

/** Path of this module's compiled program. */
const WORKER_PATH = fileURLToPath(import.meta.url);

/** Fork a worker on the daemon at `runDir`; it joins `group` and writes its history to `historyFile`. */
export function spawnCpgWorker(label: string, runDir: string, group: string, historyFile: string): CpgWorker {
  const child = fork(WORKER_PATH, [runDir, group, historyFile], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  return new CpgWorker(label, child, historyFile);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  workerMain().catch((err: unknown) => {
    if (process.send && process.connected) process.send({ ev: 'error', why: String(err) } satisfies Reply);
    process.stderr.write(`cpg-worker: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
    if (process.connected) process.disconnect();
  });
}
