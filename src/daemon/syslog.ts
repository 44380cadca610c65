/**
 * The syslog sink of the daemon's logger (`logging.to_syslog`): datagrams to the local syslog
 * socket, as glibc's syslog(3) sends them for libqb's syslog target. Node has no unix datagram
 * sockets; the project's addon (native/qbnative.c `unixDgramOpen`) provides one. Without the
 * addon or without a syslog daemon the messages are dropped, as syslog(3) drops them.
 */
import { Buffer } from 'node:buffer';
import { loadQbNative } from '../ipc/libqb/native.js';

/** Where syslog listens; COROSYNC_TS_SYSLOG_SOCKET overrides it (tests). */
export function syslogSocketPath(): string {
  return process.env.COROSYNC_TS_SYSLOG_SOCKET ?? '/dev/log';
}

/** How long to wait before trying to reach an absent syslog again. */
const REOPEN_MS = 10_000;

/** Lines kept while syslog's socket is full, and how soon they are tried again. */
const BACKLOG_MAX = 1000;
const BACKLOG_RETRY_MS = 5;

export function openSyslogSink(path = syslogSocketPath()): ((datagram: string) => void) | undefined {
  const load = loadQbNative();
  if (!load.ok) return undefined;
  const native = load.native as unknown as {
    unixDgramOpen?: (path: string) => number;
    dgramSend(fd: number, data: Buffer): number;
    closeFd(fd: number): void;
  };
  const open = native.unixDgramOpen;
  if (typeof open !== 'function') return undefined;
  let fd = -1;
  let retryAt = 0;
  // datagrams the socket refused with EAGAIN (a unix datagram queue holds only
  // net.unix.max_dgram_qlen, 10 by default, until syslog reads): sent again shortly, in order,
  // as glibc's syslog(3) would block until they fit; bounded, the oldest dropped beyond it
  const backlog: string[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  const sendOne = (datagram: string): boolean => {
    if (fd < 0) {
      if (Date.now() < retryAt) return true;
      fd = open.call(native, path);
      if (fd < 0) {
        retryAt = Date.now() + REOPEN_MS;
        return true;
      }
    }
    const n = native.dgramSend(fd, Buffer.from(datagram));
    if (n === -11) return false; // EAGAIN: the queue is full
    // the syslog daemon restarted (its socket is new): reconnect next time
    if (n < 0) {
      native.closeFd(fd);
      fd = -1;
    }
    return true;
  };
  const armFlush = (): void => {
    flushTimer ??= setTimeout(flush, BACKLOG_RETRY_MS);
    flushTimer.unref();
  };
  const flush = (): void => {
    flushTimer = undefined;
    while (backlog.length > 0 && sendOne(backlog[0]!)) backlog.shift();
    if (backlog.length > 0) armFlush();
  };
  return (datagram) => {
    if (backlog.length === 0 && sendOne(datagram)) return;
    if (backlog.length >= BACKLOG_MAX) backlog.shift();
    backlog.push(datagram);
    armFlush();
  };
}
