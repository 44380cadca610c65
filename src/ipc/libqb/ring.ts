/**
 * libqb's shared-memory ring buffer (lib/ringbuffer.c semantics, spec libqb-ipc.md §4),
 * written against an abstract `RingMemory` so that the chunk logic is pure and testable; the
 * daemon backs it with the native addon's fault-guarded accessors (shm.ts).
 *
 * A ring is two files: a header and a data area of `dataBytes` (a multiple of the page size)
 * mapped twice back to back, so a chunk may run past the end. Positions are 32-bit word
 * indexes modulo `wordSize = dataBytes / 4`.
 *
 * Header (x86_64 glibc layout of `struct qb_ringbuffer_shared_s`):
 *
 * | off | size | field |
 * |----:|-----:|-------|
 * |    0 |    4 | write_pt (word index) |
 * |    4 |    4 | read_pt (word index) |
 * |    8 |    4 | word_size |
 * |   12 | 4096 | header file path |
 * | 4108 | 4096 | data file path |
 * | 8204 |    4 | ref_count (1 = creator only, 2 = client attached) |
 * | 8208 |   32 | process-shared POSIX semaphore: one post per committed chunk |
 * | 8240 |    … | user data: the request ring's i32 flow-control level |
 *
 * A chunk at word p: word p = payload length, word p+1 = magic, payload from word p+2,
 * padded to a word. The next chunk starts at p + 2 + ceil(len / 4) (mod wordSize). A writer
 * needs `len + 12` free bytes (2 header words + 1 word of rounding slack).
 *
 * Nothing read from shared memory is trusted: pointers, lengths and magics are checked
 * against what we created before they are used.
 */
import { Buffer } from 'node:buffer';
import { readInt32LE, readUInt32LE, writeInt32LE, writeUInt32LE } from '../../common/bytes.js';

export const RING_HDR = {
  WRITE_PT: 0,
  READ_PT: 4,
  WORD_SIZE: 8,
  HDR_PATH: 12,
  DATA_PATH: 4108,
  REF_COUNT: 8204,
  SEM: 8208,
  USER_DATA: 8240,
  /** sizeof(struct qb_ringbuffer_shared_s) */
  BASE_SIZE: 8248,
} as const;

/** Header size of the rings the server creates (base + one i32 of user data, as libqb does). */
export const RING_HDR_BYTES = RING_HDR.BASE_SIZE + 4;

export const CHUNK_MAGIC = 0xa1a1a1a1;
export const CHUNK_MAGIC_ALLOC = 0xa110ced0;
export const CHUNK_MAGIC_DEAD = 0xd0d0d0d0;
/** Bytes a writer needs beyond the payload (QB_RB_CHUNK_MARGIN). */
export const CHUNK_MARGIN = 12;

/**
 * Size of a ring's data file for a granted max_msg_size: what both libqb sides compute
 * (`roundup(size + margin + 1, page)`), so the client's ftruncate keeps our size.
 */
export function ringDataBytes(maxMsgSize: number, pageSize: number): number {
  const size = maxMsgSize + CHUNK_MARGIN + 1;
  return Math.ceil(size / pageSize) * pageSize;
}

/** Access to one mapped ring. Implementations bound every index; errors are thrown. */
export interface RingMemory {
  /** i32 at a byte offset of the header. */
  hdrGet(off: number): number;
  hdrSet(off: number, value: number): void;
  /** u32 data word (0 <= idx < wordSize; implementations may allow up to 2 * wordSize). */
  wordGet(idx: number): number;
  wordSet(idx: number, value: number): void;
  /** `len` bytes starting at data word `idx` (may run into the second mapping). */
  read(idx: number, len: number): Buffer;
  write(idx: number, data: Buffer): void;
  semPost(): void;
  /** Take one post if there is one. */
  semTryWait(): boolean;
}

export type RingReadResult =
  { kind: 'chunk'; data: Buffer } | { kind: 'empty' } | { kind: 'bad'; reason: string };

export class Ring {
  readonly mem: RingMemory;
  readonly wordSize: number;
  /** Largest payload this ring accepts or hands out. */
  readonly maxChunk: number;

  constructor(mem: RingMemory, dataBytes: number, maxChunk: number) {
    this.mem = mem;
    this.wordSize = dataBytes / 4;
    this.maxChunk = Math.min(maxChunk, dataBytes - CHUNK_MARGIN);
  }

  /** The word after a chunk of `len` bytes at `p`. */
  step(p: number, len: number): number {
    return (p + 2 + Math.ceil(len / 4)) % this.wordSize;
  }

  private pointer(off: number, what: string): number {
    const v = this.mem.hdrGet(off) >>> 0;
    if (v >= this.wordSize) throw new RangeError(`${what} ${v} outside the ring (${this.wordSize} words)`);
    return v;
  }

  /** Free bytes, as libqb's qb_rb_space_free computes them (equal pointers = empty). */
  spaceFree(): number {
    const w = this.pointer(RING_HDR.WRITE_PT, 'write_pt');
    const r = this.pointer(RING_HDR.READ_PT, 'read_pt');
    let words: number;
    if (w > r) words = r - w + this.wordSize - 1;
    else if (w < r) words = r - w - 1;
    else words = this.wordSize;
    return words * 4;
  }

  /**
   * Append one chunk and post the semaphore. Returns false when it does not fit now (the
   * reader has not caught up: retry later). Throws on a corrupted header or memory fault.
   */
  write(data: Buffer): boolean {
    if (data.length > this.maxChunk) throw new RangeError(`chunk of ${data.length} bytes > ${this.maxChunk}`);
    if (this.spaceFree() < data.length + CHUNK_MARGIN) return false;
    const m = this.mem;
    const p = this.pointer(RING_HDR.WRITE_PT, 'write_pt');
    const magicAt = (p + 1) % this.wordSize;
    m.wordSet(p, 0);
    m.wordSet(magicAt, CHUNK_MAGIC_ALLOC);
    if (data.length > 0) m.write((p + 2) % this.wordSize, data);
    m.wordSet(p, data.length);
    m.hdrSet(RING_HDR.WRITE_PT, this.step(p, data.length));
    m.wordSet(magicAt, CHUNK_MAGIC);
    m.semPost();
    return true;
  }

  /**
   * Take the next chunk if the semaphore says one was committed: copy it out and reclaim it
   * (zero the length, mark it consumed, then advance read_pt, as libqb's reader does).
   */
  read(): RingReadResult {
    const m = this.mem;
    if (!m.semTryWait()) return { kind: 'empty' };
    let p: number;
    try {
      p = this.pointer(RING_HDR.READ_PT, 'read_pt');
    } catch (err) {
      return { kind: 'bad', reason: (err as Error).message };
    }
    const magicAt = (p + 1) % this.wordSize;
    const magic = m.wordGet(magicAt) >>> 0;
    if (magic !== CHUNK_MAGIC) {
      return { kind: 'bad', reason: `chunk at word ${p} has magic 0x${magic.toString(16)}, not committed` };
    }
    const len = m.wordGet(p) >>> 0;
    if (len > this.maxChunk) return { kind: 'bad', reason: `chunk of ${len} bytes > ${this.maxChunk}` };
    const data = len > 0 ? m.read((p + 2) % this.wordSize, len) : Buffer.alloc(0);
    m.wordSet(p, 0);
    m.wordSet(magicAt, CHUNK_MAGIC_DEAD);
    m.hdrSet(RING_HDR.READ_PT, this.step(p, len));
    return { kind: 'chunk', data };
  }

  /** The request ring's flow-control word (user data). */
  setUserWord(value: number): void {
    this.mem.hdrSet(RING_HDR.USER_DATA, value);
  }

  userWord(): number {
    return this.mem.hdrGet(RING_HDR.USER_DATA);
  }

  refCount(): number {
    return this.mem.hdrGet(RING_HDR.REF_COUNT);
  }
}

/**
 * A RingMemory over plain memory (tests, and a model of the double mapping: data accesses
 * wrap at `dataBytes`). The semaphore is a counter.
 */
export class HeapRingMemory implements RingMemory {
  readonly header: Buffer;
  readonly data: Buffer;
  sem = 0;

  constructor(dataBytes: number, headerBytes = RING_HDR_BYTES) {
    this.header = Buffer.alloc(headerBytes);
    this.data = Buffer.alloc(dataBytes);
    writeUInt32LE(this.header, dataBytes / 4, RING_HDR.WORD_SIZE);
    writeInt32LE(this.header, 1, RING_HDR.REF_COUNT);
    writeUInt32LE(this.data, 5, 0);
  }

  private words(): number {
    return this.data.length / 4;
  }

  private checkWord(idx: number): void {
    if (!Number.isInteger(idx) || idx < 0 || idx >= 2 * this.words())
      throw new RangeError(`word index ${idx}`);
  }

  hdrGet(off: number): number {
    return readInt32LE(this.header, off);
  }

  hdrSet(off: number, value: number): void {
    writeInt32LE(this.header, value | 0, off);
  }

  wordGet(idx: number): number {
    this.checkWord(idx);
    return readUInt32LE(this.data, (idx % this.words()) * 4);
  }

  wordSet(idx: number, value: number): void {
    this.checkWord(idx);
    writeUInt32LE(this.data, value >>> 0, (idx % this.words()) * 4);
  }

  read(idx: number, len: number): Buffer {
    if (idx < 0 || idx >= this.words() || len < 0 || len > this.data.length)
      throw new RangeError('read bounds');
    const out = Buffer.alloc(len);
    const start = idx * 4;
    for (let i = 0; i < len; i++) out[i] = this.data[(start + i) % this.data.length]!;
    return out;
  }

  write(idx: number, bytes: Buffer): void {
    if (idx < 0 || idx >= this.words() || bytes.length > this.data.length)
      throw new RangeError('write bounds');
    const start = idx * 4;
    for (let i = 0; i < bytes.length; i++) this.data[(start + i) % this.data.length] = bytes[i]!;
  }

  semPost(): void {
    this.sem++;
  }

  semTryWait(): boolean {
    if (this.sem === 0) return false;
    this.sem--;
    return true;
  }
}
