/**
 * Keeping the daemon's code in memory, as far as a Node.js process can.
 *
 * corosync 3.1.7 locks all its memory once its scheduling is set (exec/main.c): it raises
 * RLIMIT_MEMLOCK to unlimited, warning "Could not increase RLIMIT_MEMLOCK, not locking memory"
 * and going on unlocked when it may not, then calls mlockall(MCL_CURRENT | MCL_FUTURE),
 * warning "Could not lock memory of service to avoid page faults" when that fails. A real-time
 * process that page-faults on its token path stalls the ring for the time of a disk read.
 *
 * mlockall is not possible under V8: V8 changes the permissions of its heap pages and gives
 * them back with madvise, both of which fail on locked memory, and V8 aborts ("Check failed"
 * in OS::SetPermissions, seen with mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) in node 20).
 * What can be locked is what the kernel would evict first under memory pressure and read back
 * from disk: the private file mappings, i.e. node's code (42 MiB resident in an idle daemon),
 * read-only data and data, the shared libraries and the addon. They are locked with
 * MLOCK_ONFAULT, so nothing is faulted in for the lock (the resident memory stays what it was)
 * and a page first used later is locked from then on. Anonymous memory (V8's heap, malloc's,
 * the stacks) stays unlocked; on a machine without swap it is never paged out anyway.
 *
 * The same start-up order and messages as corosync: on a system where corosync does not lock
 * (no CAP_SYS_RESOURCE for the limit) neither do we.
 */
import { constants as osConstants } from 'node:os';
import { loadQbNative } from '../ipc/libqb/native.js';
import { errnoText } from '../common/errno.js';
import type { SubsysLogger } from './logging.js';

/** What the policy needs from the system (the addon in the daemon, a fake in tests). */
export interface MemoryLockSystem {
  /** setrlimit(RLIMIT_MEMLOCK, unlimited): 0 or a negative errno. */
  raiseLimit(): number;
  /** Lock the private file mappings: how many, how many bytes, the first errno or 0. */
  lockFileMappings(): { mappings: number; bytes: number; errno: number };
}

export interface MemoryLockOutcome {
  /** Bytes of mappings locked (0: nothing was locked). */
  lockedBytes: number;
}

/** corosync_mlockall, for the part of the memory a Node.js process can lock. */
export function lockDaemonMemory(sys: MemoryLockSystem, log: SubsysLogger): MemoryLockOutcome {
  const limit = sys.raiseLimit();
  if (limit < 0) {
    log.warn(`Could not increase RLIMIT_MEMLOCK, not locking memory: ${errnoText(-limit)} (${-limit})`);
    return { lockedBytes: 0 };
  }
  const res = sys.lockFileMappings();
  if (res.errno !== 0) {
    log.warn(`Could not lock memory of service to avoid page faults: ${errnoText(res.errno)} (${res.errno})`);
  }
  if (res.mappings > 0) {
    log.debug(
      `Locked ${res.mappings} file mappings (${(res.bytes / 1048576).toFixed(1)} MiB mapped, locked as they are used); the JavaScript heap stays unlocked`,
    );
  }
  return { lockedBytes: res.bytes };
}

/** The real system: the addon's setrlimit and mlock2. Without the addon: ENOSYS. */
export function processMemoryLockSystem(): MemoryLockSystem {
  const load = loadQbNative();
  const ENOSYS = osConstants.errno.ENOSYS ?? 38;
  const native = load.ok ? load.native : undefined;
  return {
    raiseLimit: () => native?.memlockUnlimited?.() ?? -ENOSYS,
    lockFileMappings: () => {
      const r = native?.lockFileMappings?.();
      return r ? { mappings: r[0], bytes: r[1], errno: r[2] } : { mappings: 0, bytes: 0, errno: ENOSYS };
    },
  };
}
