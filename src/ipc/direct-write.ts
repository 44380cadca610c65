/**
 * Writing a frame to a unix stream socket with one send(2) through the addon, bypassing Node's
 * writable stream, whenever Node holds nothing unsent for that socket (so the order of bytes is
 * kept). At low message rates Node's write path (Writable.write, cork/uncork, writev, the
 * after-write tick) runs cold and costs tens of microseconds per message on the IPC latency
 * path; one system call does not. What send(2) cannot take (a full socket buffer, an error)
 * goes through the socket's own write, which queues it, waits for room and reports errors.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { QbNative } from './libqb/native.js';

/**
 * Write `frame` to `sock` (descriptor `fd`; -1 or no addon: the socket's write only). `done`
 * runs once the bytes left our buffers. Returns false when Node's buffer is over its high-water
 * mark afterwards, like `Socket.write`.
 */
export function writeDirect(
  native: QbNative | undefined,
  fd: number,
  sock: Socket,
  frame: Buffer,
  done?: () => void,
): boolean {
  if (canSendNow(native, fd, sock)) {
    const n = native.dgramSend(fd, frame);
    if (n === frame.length) {
      done?.();
      return true;
    }
    // the rest waits for room in the socket's write (-EAGAIN, or part written); any other
    // error is reported by that write
    if (n > 0) frame = frame.subarray(n);
  }
  return sock.write(frame, done);
}

/**
 * {@link writeDirect} of a frame in two pieces, `head` then `body` (a request header and the
 * caller's payload): one sendmsg(2) with both, so the payload is not copied behind the header.
 * What the socket does not take goes through the socket's write as with writeDirect.
 */
export function writeDirectPair(
  native: QbNative | undefined,
  fd: number,
  sock: Socket,
  head: Buffer,
  body: Buffer,
): boolean {
  if (canSendNow(native, fd, sock)) {
    const n = native.dgramSend2(fd, head, body);
    if (n === head.length + body.length) return true;
    if (n > 0) {
      if (n >= head.length) return sock.write(body.subarray(n - head.length));
      head = head.subarray(n);
    }
  }
  sock.write(head);
  return sock.write(body);
}

/** send(2) may go ahead: the addon is there and Node holds nothing unsent (or corked) for the socket. */
function canSendNow(native: QbNative | undefined, fd: number, sock: Socket): native is QbNative {
  return (
    native !== undefined &&
    fd >= 0 &&
    sock.writableLength === 0 &&
    sock.writableCorked === 0 &&
    !sock.destroyed
  );
}

/** The descriptor of a connected net.Socket (-1 if Node does not expose it). */
export function socketFd(sock: Socket): number {
  return (sock as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
}
