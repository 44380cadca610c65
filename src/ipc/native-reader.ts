/**
 * Reading a unix stream socket through the addon: one libuv poll watcher and non-blocking
 * recv(2) into a buffer the caller reuses, instead of Node's stream read path.
 *
 * Why: at low message rates every IPC message wakes a process from idle, and Node's read path
 * (onStreamRead, Readable.push/addChunk, emit, the nextTick of maybeReadMore, a fresh 64 KiB
 * buffer per read) then runs cold: on a small machine it adds a tenth of a millisecond or more
 * per hop, and a CPG message crosses two such reads (the sender's request, each receiver's
 * dispatch message). Used by the daemon for its clients' sockets and by the client for its
 * event channel.
 */
import { Buffer } from 'node:buffer';
import { POLL_READABLE, type NativePoller, type QbNative } from './libqb/native.js';

const EAGAIN = 11;

export class NativeStreamReader {
  private readonly poller: NativePoller;
  private paused: boolean;
  private closedFlag = false;
  /**
   * The view of `buf` handed out for the last read shorter than `buf`, reused while reads keep
   * that length: a chunk is lent for the call only, and a fresh view per read was a tenth of a
   * receiving client's allocation per message.
   */
  private view: Buffer | undefined;

  /**
   * Read descriptor `fd` (the reader owns it from now on) into `buf`. `onChunk` gets a view of
   * `buf`, valid only during the call. `onEnd` runs once, after the reader closed itself: 0 at
   * the end of the stream, or a negative errno. Reading starts at once unless `paused`.
   */
  constructor(
    private readonly native: QbNative,
    readonly fd: number,
    private readonly buf: Buffer,
    private readonly onChunk: (chunk: Buffer) => void,
    private readonly onEnd: (errno: number) => void,
    paused = false,
  ) {
    this.paused = paused;
    // the addon's first read of a wake-up is made before it calls us (one call into the addon
    // less per message); an addon without it: every read from here
    const start = native.streamRecvPollStart;
    if (start) {
      this.poller = start.call(native, fd, buf, (status, _events, received) =>
        this.onReadable(status, received),
      );
      if (paused) native.pollSet(this.poller, 0);
    } else {
      this.poller = native.pollStart(fd, paused ? 0 : POLL_READABLE, (status) => this.onReadable(status));
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  pause(): void {
    if (this.paused || this.closedFlag) return;
    this.paused = true;
    this.native.pollSet(this.poller, 0);
  }

  resume(): void {
    if (!this.paused || this.closedFlag) return;
    this.paused = false;
    this.native.pollSet(this.poller, POLL_READABLE);
  }

  /**
   * Read what the socket holds now, at once, as a readiness event would (nothing while paused
   * or closed): the chunks reach `onChunk` before this returns.
   */
  readNow(): void {
    this.onReadable(0);
  }

  /** Stop reading and close the descriptor (idempotent; onEnd is not called). */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.native.pollClose(this.poller);
    this.native.closeFd(this.fd);
  }

  /** A readiness event (`received`: the addon's read of it, if it made one), or readNow. */
  private onReadable(status: number, received = -EAGAIN): void {
    if (this.closedFlag) return;
    if (status < 0) {
      this.end(status);
      return;
    }
    const { native, fd, buf } = this;
    const size = buf.length;
    // what the addon read is handed on even if the reader was paused since (the bytes are out
    // of the socket); an -EAGAIN from it (nothing, or not read) reads here as before
    let first = received !== -EAGAIN;
    while (first || (!this.paused && !this.closedFlag)) {
      const n = first ? received : native.streamRecv(fd, buf, 0, size);
      first = false;
      if (n > 0) {
        let chunk = buf;
        if (n < size) {
          const view = this.view;
          chunk = view !== undefined && view.length === n ? view : (this.view = buf.subarray(0, n));
        }
        this.onChunk(chunk);
        if (n < size) return; // drained: the next readiness event brings more
        continue;
      }
      if (n !== -EAGAIN) this.end(n);
      return;
    }
  }

  private end(errno: number): void {
    this.close();
    this.onEnd(errno);
  }
}
