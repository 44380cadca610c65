/**
 * Loader of the native addon (native/qbnative.c, built by node-gyp into build/Release). The
 * addon is optional: without it the daemon serves only its own IPC transport.
 */
import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeInt32BE, writeInt32LE } from '../../common/bytes.js';

/** An opaque handle of a mapped ring (a napi external). */
export type NativeRing = { readonly __nativeRing: unique symbol };
/** An opaque libuv poll watcher (a napi external). */
export type NativePoller = { readonly __nativePoller: unique symbol };

/** setSockOpt's level for socket-wide options. */
export const SOL_SOCKET = 1;

/** An int socket option's value (setSockOpt takes the bytes as the kernel reads them: host order). */
export function intOption(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (endianness() === 'LE') writeInt32LE(b, v, 0);
  else writeInt32BE(b, v, 0);
  return b;
}

/** Poll event bits of pollStart/pollSet and of the callback. */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;

export interface QbNative {
  readonly pageSize: number;
  listenAbstract(name: string, backlog: number): number;
  peerCred(fd: number): [pid: number, uid: number, gid: number];
  /** A non-blocking unix stream listener on a filesystem path: its descriptor or a negative errno. */
  listenPath(path: string, backlog: number): number;
  /** accept4 (non-blocking, close-on-exec): the connection's descriptor or a negative errno (-EAGAIN: none). */
  acceptFd(fd: number): number;
  closeFd(fd: number): void;
  /** A second descriptor of the same open file (close-on-exec): it, or a negative errno. */
  dupFd(fd: number): number;
  ringCreate(base: string, dataBytes: number, hdrBytes: number, uid: number, gid: number): NativeRing;
  ringHdrGet(ring: NativeRing, off: number): number;
  ringHdrSet(ring: NativeRing, off: number, value: number): void;
  ringWordGet(ring: NativeRing, idx: number): number;
  ringWordSet(ring: NativeRing, idx: number, value: number): void;
  ringRead(ring: NativeRing, idx: number, len: number): Buffer;
  ringWrite(ring: NativeRing, idx: number, data: Buffer): void;
  ringSemPost(ring: NativeRing): void;
  ringSemTryWait(ring: NativeRing): boolean;
  ringSemValue(ring: NativeRing): number;
  ringRefDec(ring: NativeRing): number;
  ringSizesOk(ring: NativeRing): boolean;
  ringClose(ring: NativeRing, unlink: boolean): void;
  dgramBind(name: string, bufBytes: number): number;
  /** 0 or a negative errno. */
  dgramConnect(fd: number, name: string): number;
  /** send(2) on a datagram or stream socket, never blocking: bytes sent or a negative errno (-EAGAIN: no room). */
  dgramSend(fd: number, data: Buffer): number;
  /** `dgramSend` of `head` followed by `body`, in one sendmsg(2): bytes sent (possibly part) or a negative errno. */
  dgramSend2(fd: number, head: Buffer, body: Buffer): number;
  /**
   * A counter the event loop advances before and after it polls for I/O (no JavaScript runs):
   * equal readings were taken in the same loop turn. One per thread's loop: call once, keep it.
   */
  loopTurns(): Uint32Array;
  /** One datagram, or a negative errno (-EAGAIN: none; -EMSGSIZE: one longer than max was dropped). */
  dgramRecv(fd: number, max: number): Buffer | number;
  /** A non-blocking unix stream socket connected to a filesystem path: its descriptor or a negative errno. */
  streamConnect(path: string): number;
  /** One non-blocking recv(2) into buf[off, off + len): bytes, 0 at end of stream, or a negative errno (-EAGAIN: none). */
  streamRecv(fd: number, buf: Buffer, off: number, len: number): number;
  /** SCHED_RR at the highest priority for the calling thread: that priority, or a negative errno. */
  schedSetRr(): number;
  /** SCHED_OTHER for the calling thread (the daemon's quiet-time collection): 0 or a negative errno. */
  schedSetOther?(): number;
  /** setpriority(PRIO_PGRP, 0, prio): 0 or a negative errno. */
  setPriorityPgrp(prio: number): number;
  /** CLOCK_MONOTONIC in milliseconds, written into out[0] (no allocation, unlike process.hrtime). */
  monotonicMs?(out: Float64Array): void;
  /** One datagram by sendto(2) to a prepared sockaddr_in/_in6: bytes sent or a negative errno. */
  udpSendTo(fd: number, data: Buffer, sockaddr: Buffer): number;
  /**
   * bufs[first .. first+count) as `count` datagrams to one sockaddr in one sendmsg(2) with
   * UDP_SEGMENT (all but the last exactly segBytes long, the last at most): bytes sent or a
   * negative errno (-EIO/-EINVAL/-ENOPROTOOPT: no segmentation here).
   */
  udpSendSegments(
    fd: number,
    bufs: readonly Buffer[],
    first: number,
    count: number,
    segBytes: number,
    sockaddr: Buffer,
  ): number;
  /**
   * A non-blocking UDP socket of the sockaddr's family, SO_REUSEADDR when asked, buffers raised
   * to bufBytes, bound to sockaddr: its descriptor or a negative errno.
   */
  udpOpen(sockaddr: Buffer, reuseAddr: boolean, bufBytes: number): number;
  /** setsockopt(2) with the bytes of `value`: 0 or a negative errno. */
  setSockOpt(fd: number, level: number, name: number, value: Buffer): number;
  /** Replace the process image (same pid); returns a negative errno only when that failed. */
  execv(path: string, argv: string[]): number;
  /**
   * The file as a string whose characters stay in a private read-only mapping of it (V8 may
   * still copy it), taken as Latin-1; a negative errno on failure (-ENOSYS: Node lacks external
   * strings). Absent from an addon built before it.
   */
  mapFileLatin1?(path: string): string | number;
  /** setrlimit(RLIMIT_MEMLOCK, unlimited): 0 or a negative errno. */
  memlockUnlimited?(): number;
  /**
   * mlock2(MLOCK_ONFAULT) of every private file mapping of the process (code and data of node,
   * the libraries, the addon): [mappings locked, bytes locked, the first errno or 0].
   */
  lockFileMappings?(): [number, number, number];
  /** malloc_trim(0): 1 when memory was given back. */
  mallocTrim(): number;
  /**
   * V8's low-memory notification (native/v8mem.cc): collect all garbage and shrink the young
   * generation to its initial size, which a full GC does not. 1 when done, 0 without an isolate.
   */
  lowMemoryNotification?(): number;
  /**
   * V8's moderate memory-pressure notification: incremental marking that shrinks the heap as
   * `lowMemoryNotification` does, in small steps between tasks. `restoreRr`: put the thread back
   * to SCHED_RR (highest priority) when that full collection ends. 1 started, 0 no isolate.
   */
  collectIncrementally?(restoreRr: boolean): number;
  /** Full collections ended since the first `collectIncrementally` (counted from then on). */
  fullGcCount?(): number;
  /** Forget a pending `restoreRr` (a collection that did not end in time). */
  cancelRrRestore?(): number;
  /**
   * Bytes V8's old generation grew by since the last full collection ended (the first call
   * counts from then; negative when it shrank), -1 without an isolate.
   */
  oldGenerationGrowth?(): number;
  pollStart(fd: number, events: number, cb: (status: number, events: number) => void): NativePoller;
  /**
   * A poller for a UDP socket's readability (pollSet and pollClose as for pollStart's). On a
   * readable event the addon takes up to 64 datagrams by one recvmmsg before it calls back:
   * datagram i in slab[i*slotBytes..], 8 meta words each (length, truncated, port, family,
   * address words); `received` is the count, or a negative errno (-EAGAIN: none, or not read).
   * One call into JavaScript per wake-up; the poller keeps slab and meta.
   */
  udpRecvPollStart(
    fd: number,
    slab: Buffer,
    slotBytes: number,
    meta: Int32Array,
    cb: (status: number, events: number, received: number) => void,
  ): NativePoller;
  /** The next batch of a udpRecvPollStart poller, as its callback gets one (after a full one). */
  udpRecvNext(poller: NativePoller): number;
  /**
   * A poller for a stream socket's readability (pollSet and pollClose as for pollStart's). On a
   * readable event the addon makes one recv into `buf` before it calls back: `received` is the
   * byte count, 0 at the end of the stream, or a negative errno (-EAGAIN: nothing, or not read).
   * Later reads of the same wake-up go through streamRecv. Optional: an addon built before it.
   */
  streamRecvPollStart?(
    fd: number,
    buf: Buffer,
    cb: (status: number, events: number, received: number) => void,
  ): NativePoller;
  pollSet(poller: NativePoller, events: number): void;
  pollClose(poller: NativePoller): void;
}

export type NativeLoad = { ok: true; native: QbNative; path: string } | { ok: false; reason: string };

let cached: NativeLoad | undefined;

/** Where the addon is looked for: <package root>/build/Release/qbnative.node. */
export function nativeAddonPath(): string {
  // this file is <root>/dist/src/ipc/libqb/native.js (or <root>/src/ipc/libqb/native.ts), or
  // part of the binary's CommonJS bundle <root>/dist/bundle/corosync-ts.js, where __filename is
  // the bundle's path (and import.meta is empty)
  let dir = dirname(typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(resolve(dir, 'package.json')) && existsSync(resolve(dir, 'binding.gyp'))) break;
    dir = dirname(dir);
  }
  return resolve(dir, 'build', 'Release', 'qbnative.node');
}

/** Load the addon once; never throws. */
export function loadQbNative(): NativeLoad {
  if (cached) return cached;
  if (process.platform !== 'linux') return (cached = { ok: false, reason: 'libqb IPC needs Linux' });
  // kept on the global object too, per addon file: the binary's launcher and its bundle (two
  // copies of this module in one process, dist/bundle/main.js and corosync-ts.js) load the same
  // file once between them (a second process.dlopen would initialise it again), while another
  // copy of the package in the same process keeps its own addon
  const path = nativeAddonPath();
  const holder = globalThis as Record<symbol, NativeLoad | undefined>;
  const key = Symbol.for(`corosync-ts.qbnative ${path}`);
  return (cached = holder[key] ??= loadFile(path));
}

function loadFile(path: string): NativeLoad {
  if (!existsSync(path)) {
    return {
      ok: false,
      reason: `native addon ${path} not built (run npm ci or npx node-gyp rebuild)`,
    };
  }
  try {
    // process.dlopen rather than createRequire: node:module is not needed for one addon
    const mod = { exports: {} as unknown };
    process.dlopen(mod, path);
    const native = mod.exports as QbNative;
    return { ok: true, native, path };
  } catch (err) {
    return { ok: false, reason: `cannot load ${path}: ${(err as Error).message}` };
  }
}
