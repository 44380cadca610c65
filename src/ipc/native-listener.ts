/**
 * A unix stream listener accepted through the project's addon (accept4 on a libuv poll
 * watcher) instead of net.Server: Node's `Server.listen` loads its cluster module, which
 * loads child_process and dgram, ~1 MiB of resident memory a daemon never uses. Accepted
 * connections are handed over as descriptors; `socketOnFd` makes an ordinary net.Socket of one,
 * `splitAccepted` a reader through the addon and a socket to write with.
 */
import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';
import { errnoName } from '../common/errno.js';
import { POLL_READABLE, type NativePoller, type QbNative } from './libqb/native.js';
import { NativeStreamReader } from './native-reader.js';

const EAGAIN = 11;
/** accept4 failures that concern only the connection being accepted: try the next one. */
const PER_CONNECTION_ERRORS = new Set([-103 /* ECONNABORTED */, -71 /* EPROTO */, -1 /* EPERM */]);

export class NativeListener {
  private poller: NativePoller | undefined;
  private closed = false;

  /**
   * Start accepting on listening descriptor `fd` (non-blocking; the listener owns it from now
   * on). `onError` gets accept errors other than "nothing waiting" (EMFILE and the like: the
   * connection stays queued and is retried on the next readiness).
   */
  constructor(
    private readonly native: QbNative,
    private readonly fd: number,
    private readonly onConnection: (fd: number) => void,
    private readonly onError: (errno: number) => void,
  ) {
    this.poller = native.pollStart(fd, POLL_READABLE, (status) => {
      if (status < 0) this.onError(status);
      this.acceptAll();
    });
  }

  private acceptAll(): void {
    while (!this.closed) {
      const c = this.native.acceptFd(this.fd);
      if (c === -EAGAIN) return;
      if (c < 0) {
        this.onError(c);
        if (PER_CONNECTION_ERRORS.has(c)) continue;
        return;
      }
      this.onConnection(c);
    }
  }

  /** Stop accepting and close the listening descriptor (accepted sockets stay open). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.poller) this.native.pollClose(this.poller);
    this.poller = undefined;
    this.native.closeFd(this.fd);
  }
}

/**
 * A net.Socket on an accepted descriptor (it owns the descriptor from now on), or undefined
 * when Node refuses it (the descriptor is closed then). `readable: false`: Node never reads it
 * (the caller reads the socket through another descriptor of its own).
 */
export function socketOnFd(native: QbNative, fd: number, readable = true): Socket | undefined {
  try {
    return new Socket({ fd, readable, writable: true, allowHalfOpen: false });
  } catch {
    native.closeFd(fd);
    return undefined;
  }
}

/** An accepted connection read through the addon and written by a net.Socket. */
export interface SplitConnection {
  /** Writes (Node queues what send(2) cannot take); closing it closes the reader too. */
  sock: Socket;
  /** The socket's descriptor, for direct writes (src/ipc/direct-write.ts). */
  wfd: number;
  reader: NativeStreamReader;
}

/**
 * A write-only net.Socket on a second descriptor of socket `fd` (`fd` itself stays for reading
 * through the addon). Returns why not when that cannot be made (`fd` is closed then).
 */
export function writeSocketOnDup(native: QbNative, fd: number): { sock: Socket; wfd: number } | string {
  const wfd = native.dupFd(fd);
  const sock = wfd >= 0 ? socketOnFd(native, wfd, false) : undefined;
  if (sock) return { sock, wfd };
  native.closeFd(fd);
  return wfd < 0 ? errnoName(wfd) : 'Node refused the descriptor';
}

/**
 * Serve accepted descriptor `fd` through the addon: a NativeStreamReader on `fd` (chunks lent
 * from `buf`, `onEnd` as the reader's) and a write-only net.Socket on a duplicate descriptor.
 * Why: at one message per wake-up Node's stream read path (an allocation per read, `Readable`
 * push and events) is most of a read's cost. The reader's first callback comes from the poll
 * phase, after the caller's synchronous setup. Returns why not when the descriptor cannot be
 * used (it is closed then).
 */
export function splitAccepted(
  native: QbNative,
  fd: number,
  buf: Buffer,
  onChunk: (chunk: Buffer) => void,
  onEnd: (errno: number) => void,
): SplitConnection | string {
  const w = writeSocketOnDup(native, fd);
  if (typeof w === 'string') return w;
  const reader = new NativeStreamReader(native, fd, buf, onChunk, onEnd);
  w.sock.on('close', () => reader.close());
  return { ...w, reader };
}
