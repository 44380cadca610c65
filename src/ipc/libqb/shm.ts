/**
 * The native side of a SHM ring: a RingMemory over the addon's fault-guarded accessors, and
 * creation/destruction of the files.
 */
import { Buffer } from 'node:buffer';
import type { NativeRing, QbNative } from './native.js';
import { RING_HDR_BYTES, Ring, ringDataBytes, type RingMemory } from './ring.js';

class NativeRingMemory implements RingMemory {
  constructor(
    private readonly n: QbNative,
    private readonly h: NativeRing,
  ) {}
  hdrGet(off: number): number {
    return this.n.ringHdrGet(this.h, off);
  }
  hdrSet(off: number, value: number): void {
    this.n.ringHdrSet(this.h, off, value);
  }
  wordGet(idx: number): number {
    return this.n.ringWordGet(this.h, idx);
  }
  wordSet(idx: number, value: number): void {
    this.n.ringWordSet(this.h, idx, value);
  }
  read(idx: number, len: number): Buffer {
    return this.n.ringRead(this.h, idx, len);
  }
  write(idx: number, data: Buffer): void {
    this.n.ringWrite(this.h, idx, data);
  }
  semPost(): void {
    this.n.ringSemPost(this.h);
  }
  semTryWait(): boolean {
    return this.n.ringSemTryWait(this.h);
  }
}

/** One ring the server created: its files, mapping and protocol object. */
export class ShmRing {
  readonly ring: Ring;
  private closed = false;

  private constructor(
    private readonly n: QbNative,
    private readonly h: NativeRing,
    dataBytes: number,
    maxMsgSize: number,
  ) {
    this.ring = new Ring(new NativeRingMemory(n, h), dataBytes, maxMsgSize);
  }

  /** Create `<base>-header` and `<base>-data`, owned by the client. Throws on failure. */
  static create(n: QbNative, base: string, maxMsgSize: number, uid: number, gid: number): ShmRing {
    const dataBytes = ringDataBytes(maxMsgSize, n.pageSize);
    const h = n.ringCreate(base, dataBytes, RING_HDR_BYTES, uid, gid);
    return new ShmRing(n, h, dataBytes, maxMsgSize);
  }

  /** Drop our reference, unmap, and unlink the files. Never throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.n.ringRefDec(this.h);
    } catch {
      // truncated header: nothing to tell the client
    }
    try {
      this.n.ringClose(this.h, true);
    } catch {
      // already released
    }
  }
}
