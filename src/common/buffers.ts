/**
 * Zero-filled buffers for frames and messages that are sent soon after they are built.
 *
 * Why not Buffer.alloc: V8 keeps a typed array of up to 64 bytes inside its own heap, and the
 * first native call that asks for its memory (napi_get_buffer_info in every send of the addon)
 * moves it out: an allocation, a copy and a new ArrayBuffer per frame. The small frames are the
 * hot ones (a CPG mcast request header is 56 bytes, a response header 24): measured on a cold
 * CPG send, 27 µs from writeDirectPair to sendmsg(2) with Buffer.alloc, 16 µs with a pool slice.
 * Below Node's pool limit a slice of the pool (off-heap) is zeroed instead; larger buffers keep
 * Buffer.alloc (calloc'd memory of their own).
 */
import { Buffer } from 'node:buffer';

/** Node hands out pool slices below half of Buffer.poolSize (8 KiB by default). */
const POOLED_BELOW = 4096;

/** A zero-filled Buffer of `size` bytes, never inside V8's heap (see the file comment). */
export function zeroedBuffer(size: number): Buffer {
  return size < POOLED_BELOW ? Buffer.allocUnsafe(size).fill(0) : Buffer.alloc(size);
}
