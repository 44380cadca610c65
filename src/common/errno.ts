/**
 * errno numbers as the addon returns them (negative) turned into Node-style errors, from
 * os.constants (already loaded) rather than node:util, whose import costs the daemon the
 * modules util pulls in.
 */
import { constants } from 'node:os';

/** 'EADDRINUSE' for 98 or −98; `errno N` for a number the platform does not name. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  for (const [name, value] of Object.entries(constants.errno)) {
    if (value === n) return name;
  }
  return `errno ${n}`;
}

/** An Error with Node's errno fields: code, errno (negative), syscall; `where` ends the message. */
export function errnoException(errno: number, syscall: string, where?: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  const err = new Error(
    `${syscall} ${code}${where === undefined ? '' : ` ${where}`}`,
  ) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -Math.abs(errno);
  err.syscall = syscall;
  return err;
}

/** glibc's strerror text for the errnos the daemon reports in corosync's words; else the name. */
const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'Operation not permitted',
  EINVAL: 'Invalid argument',
  ESRCH: 'No such process',
  EACCES: 'Permission denied',
  ENOSYS: 'Function not implemented',
  ENOMEM: 'Cannot allocate memory',
  EAGAIN: 'Resource temporarily unavailable',
};

/** What corosync's messages show for an errno (strerror), e.g. "Operation not permitted" for 1. */
export function errnoText(errno: number): string {
  const name = errnoName(errno);
  return ERRNO_TEXT[name] ?? name;
}
