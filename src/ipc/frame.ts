/**
 * IPC framing: corosync's request/response headers (libqb `qbipc_common.h`, spec
 * services-exec.md §1.1) and a stream reassembler that cuts a byte stream into whole frames.
 *
 * Request header, 16 bytes, little-endian, pads zero:
 *
 * | off | size | field     |
 * |----:|-----:|-----------|
 * |   0 |    4 | id (i32)  |
 * |   4 |    4 | pad       |
 * |   8 |    4 | size (i32), total frame length including the header |
 * |  12 |    4 | pad       |
 *
 * Response / dispatch header, 24 bytes: the request header plus `error` (i32, a cs_error_t)
 * at 16 and 4 pad bytes.
 *
 * Every frame on our stream transport is exactly one such struct: the header's `size` tells
 * where the next frame starts. Nothing else is added on the wire.
 */

import { Buffer } from 'node:buffer';
import { zeroedBuffer } from '../common/buffers.js';
import { readInt32LE, writeInt32LE } from '../common/bytes.js';

/** Size of `struct qb_ipc_request_header`. */
export const REQUEST_HEADER_SIZE = 16;
/** Size of `struct qb_ipc_response_header`. */
export const RESPONSE_HEADER_SIZE = 24;
/** Largest frame we accept or send: the 1 MiB every corosync client library asks for. */
export const IPC_MAX_MSG_SIZE = 1024 * 1024;

/** A decoded header. `error` is only present on response/dispatch headers. */
export interface FrameHeader {
  readonly id: number;
  readonly size: number;
}

/** Write a request header at `offset` (pads zero). */
export function writeRequestHeader(buf: Buffer, id: number, size: number, offset = 0): void {
  writeInt32LE(buf, id, offset);
  writeInt32LE(buf, 0, offset + 4);
  writeInt32LE(buf, size, offset + 8);
  writeInt32LE(buf, 0, offset + 12);
}

/** Write a response header at `offset` (pads zero). */
export function writeResponseHeader(buf: Buffer, id: number, size: number, error: number, offset = 0): void {
  writeRequestHeader(buf, id, size, offset);
  writeInt32LE(buf, error, offset + 16);
  writeInt32LE(buf, 0, offset + 20);
}

/** A zero-filled request frame of `size` bytes with its header written. */
export function allocRequest(id: number, size: number): Buffer {
  const buf = zeroedBuffer(size);
  writeInt32LE(buf, id, 0);
  writeInt32LE(buf, size, 8);
  return buf;
}

/** A zero-filled response/dispatch frame of `size` bytes with its header written. */
export function allocResponse(id: number, size: number, error: number): Buffer {
  const buf = zeroedBuffer(size);
  writeInt32LE(buf, id, 0);
  writeInt32LE(buf, size, 8);
  writeInt32LE(buf, error, 16);
  return buf;
}

/** The size (i32 @8) of a frame. */
export function frameSize(frame: Buffer): number {
  return readInt32LE(frame, 8);
}

/** Why a byte stream could not be cut into frames. */
export type FrameErrorKind = 'too-small' | 'too-big' | 'truncated';

/** A malformed frame on a stream: the connection that carried it must be closed. */
export class FrameError extends Error {
  readonly kind: FrameErrorKind;
  /** The size the header announced (or, for 'truncated', the bytes still missing). */
  readonly size: number;

  constructor(kind: FrameErrorKind, size: number, message: string) {
    super(message);
    this.name = 'FrameError';
    this.kind = kind;
    this.size = size;
  }
}

/** Bounds a reassembler checks on every header. */
export interface FrameLimits {
  /** Smallest legal frame (16 for requests, 24 for responses). */
  minSize: number;
  /** Largest legal frame (the negotiated max message size). */
  maxSize: number;
}

/**
 * Cuts a byte stream into whole frames. Frames that lie inside one received chunk are
 * returned as views of it (no copy); only frames spanning chunks are copied once.
 *
 * After a FrameError the reassembler is poisoned: the stream position is lost, so the
 * caller must close the connection.
 */
export class FrameReassembler {
  private limits: FrameLimits;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the frame being assembled, once its header has been seen; 0 = unknown. */
  private need = 0;
  private failed: FrameError | undefined;
  /** The incomplete frame's own buffer, once `ownPending` made one (bytes go straight into it). */
  private assembly: { readonly buf: Buffer; filled: number } | undefined;

  constructor(limits: FrameLimits) {
    this.limits = { ...limits };
  }

  /** Change the upper bound (after the setup handshake negotiated it). */
  setMaxSize(maxSize: number): void {
    this.limits.maxSize = maxSize;
  }

  /** Bytes received but not yet returned as a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Size announced by the header of the incomplete frame, or 0 when not known yet. */
  get pendingFrameSize(): number {
    return this.need;
  }

  /**
   * Add received bytes and call `onFrame` for every frame completed by them, in order.
   * Returns a FrameError (and stops) at the first header that breaks the limits.
   * `onFrame` may return `false` to stop early; the remaining bytes stay buffered and the
   * next `push` (possibly with an empty chunk) continues from there.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => boolean | void): FrameError | undefined {
    if (this.failed) return this.failed;
    const a = this.assembly;
    if (this.buffered === 0 && !a) return this.pushFresh(chunk, onFrame);
    if (a) {
      const k = Math.min(chunk.length, a.buf.length - a.filled);
      chunk.copy(a.buf, a.filled, 0, k);
      a.filled += k;
      this.buffered += k;
      if (a.filled < a.buf.length) return undefined;
      this.assembly = undefined;
      this.buffered -= a.buf.length;
      this.need = 0;
      chunk = chunk.subarray(k);
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.buffered += chunk.length;
      }
      if (onFrame(a.buf) === false) return undefined;
    } else if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.need === 0) {
        if (this.buffered < 12) return undefined;
        const size = this.peekSize();
        const err = this.check(size);
        if (err) {
          this.failed = err;
          return err;
        }
        this.need = size;
      }
      if (this.buffered < this.need) return undefined;
      const frame = this.take(this.need);
      this.need = 0;
      if (onFrame(frame) === false) return undefined;
    }
  }

  /**
   * `push` with nothing buffered (the usual case: a read brings whole frames): the frames are cut
   * straight out of the chunk, and only a trailing piece is kept. One dispatch message per read
   * at low rates runs this path cold, so it does no more than that.
   */
  private pushFresh(chunk: Buffer, onFrame: (frame: Buffer) => boolean | void): FrameError | undefined {
    const n = chunk.length;
    let off = 0;
    let size = 0;
    while (n - off >= 12) {
      size = readInt32LE(chunk, off + 8);
      const err = this.check(size);
      if (err) {
        this.failed = err;
        return err;
      }
      if (n - off < size) break;
      // a chunk that is one whole frame (the usual read at low rates) is that frame: no view
      const frame = size === n ? chunk : chunk.subarray(off, off + size);
      off += size;
      size = 0;
      if (onFrame(frame) === false) break;
    }
    if (off < n) {
      this.chunks.push(off === 0 ? chunk : chunk.subarray(off));
      this.buffered = n - off;
      this.need = size; // known when the loop stopped at an incomplete frame, else 0
    }
    return undefined;
  }

  /**
   * Copy the bytes still buffered into memory of their own: the caller is about to reuse the
   * buffer its chunks were read into. When the incomplete frame's size is known, they go into
   * that frame's own buffer, and the rest of the frame is copied there as it arrives (each byte
   * once); such a frame is handed over in memory of its own.
   */
  ownPending(): void {
    if (this.buffered === 0 || this.assembly) return;
    if (this.need > this.buffered) {
      // a frame whose size is known: its final buffer now, so later chunks are copied once
      const buf = Buffer.allocUnsafe(this.need);
      let filled = 0;
      for (const c of this.chunks) filled += c.copy(buf, filled);
      this.chunks = [];
      this.assembly = { buf, filled };
      return;
    }
    this.chunks = [Buffer.concat(this.chunks, this.buffered)];
  }

  /** The error to report when the stream ends now, or undefined if it ended between frames. */
  endOfStream(): FrameError | undefined {
    if (this.failed) return undefined;
    if (this.buffered === 0) return undefined;
    const announced = this.need !== 0 ? this.need : this.buffered >= 12 ? this.peekSize() : 0;
    return new FrameError(
      'truncated',
      announced,
      announced
        ? `stream ended inside a frame (${this.buffered} of ${announced} bytes received)`
        : `stream ended inside a frame header (${this.buffered} bytes received)`,
    );
  }

  private check(size: number): FrameError | undefined {
    if (size < this.limits.minSize) {
      return new FrameError(
        'too-small',
        size,
        `frame size ${size} is below the minimum ${this.limits.minSize}`,
      );
    }
    if (size > this.limits.maxSize) {
      return new FrameError('too-big', size, `frame size ${size} exceeds the maximum ${this.limits.maxSize}`);
    }
    return undefined;
  }

  /** Read the i32 size at stream offset 8 without consuming anything. */
  private peekSize(): number {
    const first = this.chunks[0]!;
    if (first.length >= 12) return readInt32LE(first, 8);
    const head = Buffer.allocUnsafe(12);
    let filled = 0;
    for (const c of this.chunks) {
      const n = Math.min(c.length, 12 - filled);
      c.copy(head, filled, 0, n);
      filled += n;
      if (filled === 12) break;
    }
    return readInt32LE(head, 8);
  }

  /** Consume exactly `n` buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const frame = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return frame;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
