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
  return (datagram) => {
    if (fd < 0) {
      if (Date.now() < retryAt) return;
      fd = open.call(native, path);
      if (fd < 0) {
        retryAt = Date.now() + REOPEN_MS;
        return;
      }
    }
    const n = native.dgramSend(fd, Buffer.from(datagram));
    // the syslog daemon restarted (its socket is new): reconnect next time
    if (n < 0 && n !== -11 /* EAGAIN: full, dropped like syslog(3) under pressure */) {
      native.closeFd(fd);
      fd = -1;
    }
  };
}
