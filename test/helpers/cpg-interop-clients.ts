/**
 * CPG clients for the interop tests that mix Debian's libcpg (test/c/cpg-client.c) and our
 * TypeScript client on clusters in network namespaces (test/interop/mixed-cpg.test.ts,
 * test/interop/libqb-cpg-ring.test.ts), and event-driven waiting on what they record.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { CsError, CsErrorCode } from '../../src/common/errors.js';
import {
  CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
  CpgGuarantee,
  CpgHandle,
  CpgModel,
} from '../../src/client/cpg.js';
import type { ClientHistory, HistEvent } from './mixed-history.js';
import type { RealCorosync } from './real-corosync.js';

// ---- waiting on client events (no sleeps) ----

export const changes = new EventEmitter();
changes.setMaxListeners(0);
export const bump = (): boolean => changes.emit('change');

/** Resolve once `cond()` holds, re-checked on every client event; reject after `ms`. */
export function until(cond: () => boolean, what: string, ms: number, dump: () => string): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onChange = (): void => {
      if (!cond()) return;
      clearTimeout(timer);
      changes.off('change', onChange);
      resolve();
    };
    const timer = setTimeout(() => {
      changes.off('change', onChange);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}\n${dump()}`));
    }, ms);
    changes.on('change', onChange);
  });
}

/** Poll an external condition (tools, cmap) until it holds. */
export async function poll(
  check: () => Promise<boolean>,
  what: string,
  ms: number,
  dump: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${dump()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A CPG client process driven by a test: a C one on Debian's libcpg, or our TypeScript one. */
export interface Client {
  readonly label: string;
  readonly kind: 'C' | 'TS';
  nodeid: number;
  pid: number;
  readonly events: HistEvent[];
  ended: string | undefined;
  /** Set when the test killed it (its history may stop anywhere). */
  killed: boolean;
  /** Multicast `n` more numbered messages; resolves when all were accepted by the daemon. */
  send(n: number): Promise<void>;
  sentCount(): number;
  close(): Promise<void>;
  history(): ClientHistory;
}

function historyOf(c: Client): ClientHistory {
  return {
    label: c.label,
    nodeid: c.nodeid,
    pid: c.pid,
    events: c.events,
    crashed: c.ended !== undefined && c.ended !== 'quit',
  };
}

/** test/c/cpg-client.c (built by the test) inside a node's namespaces, driven over stdin/stdout. */
export class CClient implements Client {
  readonly kind = 'C';
  nodeid = 0;
  pid = 0;
  readonly events: HistEvent[] = [];
  ended: string | undefined;
  killed = false;
  private sent = 0;
  private stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    inst: RealCorosync,
    clientBin: string,
    group: string,
  ) {
    this.child = spawn('nsenter', ['-t', String(inst.pid), '-m', '-n', '-u', '--', clientBin, group, label], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin?.on('error', () => undefined);
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, sig) => {
        this.ended ??= `exited (${code ?? sig}) ${this.stderr.trim()}`;
        bump();
        resolve();
      }),
    );
  }

  private onLine(line: string): void {
    let e: { ev: string; [k: string]: unknown };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      this.ended ??= `bad output line ${JSON.stringify(line)}`;
      bump();
      return;
    }
    switch (e.ev) {
      case 'ready':
        this.nodeid = e.nodeid as number;
        this.pid = e.pid as number;
        break;
      case 'sent':
        this.sent = e.count as number;
        break;
      case 'error':
        this.ended = `${String(e.what)} failed: error ${String(e.code)}`;
        break;
      case 'bye':
        this.ended = 'quit';
        break;
      default:
        this.events.push(e as unknown as HistEvent);
    }
    bump();
  }

  async send(n: number): Promise<void> {
    const target = this.sent + n;
    this.child.stdin?.write(`send ${n}\n`);
    await until(
      () => this.sent >= target || this.ended !== undefined,
      `${this.label} to send`,
      40_000,
      () => '',
    );
  }

  sentCount(): number {
    return this.sent;
  }

  history(): ClientHistory {
    return historyOf(this);
  }

  kill(): Promise<void> {
    this.killed = true;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin?.end('quit\n');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

/** Our TypeScript CPG client (src/client/cpg.ts) on a daemon's run directory. */
export class TsClient implements Client {
  readonly kind = 'TS';
  nodeid = 0;
  pid = 0;
  readonly events: HistEvent[] = [];
  ended: string | undefined;
  killed = false;
  private sent = 0;
  private handle: CpgHandle | undefined;
  private pump: Promise<void> | undefined;

  constructor(
    readonly label: string,
    private readonly group: string,
  ) {}

  /** Connect and join; `pid` is the pid announced (default this process's). */
  async start(runDir: string, pid?: number): Promise<void> {
    const rec = (e: HistEvent): void => {
      this.events.push(e);
      bump();
    };
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        this.handle = await CpgHandle.modelInitialize(
          CpgModel.V1,
          {
            flags: CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
            deliver: (_h, _g, nodeid, pid, msg) =>
              rec({ ev: 'deliver', nodeid, pid, msg: msg.toString('latin1') }),
            confchg: (_h, g, members, left, joined) =>
              rec({
                ev: 'confchg',
                group: g.name,
                members: members.map((a) => [a.nodeid, a.pid] as const),
                left: left.map((a) => [a.nodeid, a.pid, a.reason] as const),
                joined: joined.map((a) => [a.nodeid, a.pid, a.reason] as const),
              }),
            totemConfchg: (_h, ring, members) =>
              rec({ ev: 'totem', rep: ring.nodeid, seq: Number(ring.seq), members: [...members] }),
          },
          undefined,
          { runDir, ...(pid !== undefined ? { pid } : {}) },
        );
        const h = this.handle;
        await h.join(this.group);
        this.nodeid = await h.localGet();
        this.pid = h.localPid;
        break;
      } catch (err) {
        if (!CsError.is(err, CsErrorCode.CS_ERR_TRY_AGAIN) || Date.now() > deadline) throw err;
        await this.handle?.finalize().catch(() => undefined);
        this.handle = undefined;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const h = this.handle;
    this.pump = (async () => {
      try {
        await h.dispatch(3 /* CS_DISPATCH_BLOCKING */);
      } catch (err) {
        this.ended ??= `dispatch: ${err instanceof Error ? err.message : String(err)}`;
        bump();
      }
    })();
  }

  async send(n: number): Promise<void> {
    const h = this.handle!;
    try {
      for (let i = 0; i < n; i++) {
        await h.send(CpgGuarantee.AGREED, Buffer.from(`${this.label}:${this.sent + 1}`));
        this.sent++;
      }
    } catch (err) {
      this.ended ??= `send: ${err instanceof Error ? err.message : String(err)}`;
      bump();
    }
  }

  sentCount(): number {
    return this.sent;
  }

  history(): ClientHistory {
    return historyOf(this);
  }

  /** One message outside the numbered sequence (the large-message test). */
  async sendRaw(msg: Buffer): Promise<void> {
    await this.handle!.send(CpgGuarantee.AGREED, msg);
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h) await h.finalize().catch(() => undefined);
    await this.pump;
  }
}

export const delivered = (c: Client): number => c.events.filter((e) => e.ev === 'deliver').length;
export const addr = (c: Client): string => `${c.nodeid}:${c.pid}`;

export function lastConfchg(c: Client): Extract<HistEvent, { ev: 'confchg' }> | undefined {
  for (let i = c.events.length - 1; i >= 0; i--) {
    const e = c.events[i]!;
    if (e.ev === 'confchg') return e;
  }
  return undefined;
}
