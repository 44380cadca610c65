/**
 * The daemon's CPU scheduling, as corosync 3.1.7 sets it at start-up (exec/main.c) from
 * `system.sched_rr` (default yes), `system.priority` and `system.move_to_root_cgroup`:
 *
 * - sched_rr yes: the main thread goes to SCHED_RR at the highest priority (99 on Linux). With
 *   move_to_root_cgroup auto, a failure is silent at first, the process moves to the root cpu
 *   cgroup (where the kernel grants real-time budget) and tries once more, then warns
 *   "Could not set SCHED_RR at priority 99: <strerror> (<errno>)". If SCHED_RR cannot be had,
 *   the process group gets the highest nice priority instead (setpriority(PRIO_PGRP, -20)).
 * - sched_rr no: `priority` (max = highest, min = lowest, or a number) is the process group's
 *   nice value; an unparsable value stops the daemon ("Priority value X is invalid", exit 8).
 * - move_to_root_cgroup yes: move first, always.
 *
 * Only the main thread is made real-time, as corosync only makes its main thread (and its log
 * thread) real-time: the event loop, totem, IPC and the services all run there. V8's helper
 * threads (GC, compiler) stay SCHED_OTHER.
 *
 * corosync also locks its memory after this (mlockall): see memory-lock.ts.
 *
 * The decisions are a pure function of the config values and of what the system calls
 * answer (injected), so they are tested without privileges.
 */
import { constants as osConstants } from 'node:os';
import { existsSync, writeFileSync } from 'node:fs';
import type { SubsysLogger } from './logging.js';
import { loadQbNative } from '../ipc/libqb/native.js';
import { errnoText } from '../common/errno.js';

/** What the policy needs from the system (the addon and /sys/fs/cgroup in the daemon). */
export interface SchedulingSystem {
  /** SCHED_RR at the highest priority for the main thread: that priority, or a negative errno. */
  setRoundRobin(): number;
  /** setpriority(PRIO_PGRP, 0, prio): 0 or a negative errno. */
  setPriorityPgrp(prio: number): number;
  /** Move the process to the root cpu cgroup (corosync's best effort; logs what happened). */
  moveToRootCgroup(log: SubsysLogger): void;
}

export type MoveToRootCgroup = 'yes' | 'no' | 'auto';

export interface SchedulingConfig {
  /** system.sched_rr: anything but "yes" turns SCHED_RR off (as corosync's strcmp). */
  schedRr: string | undefined;
  /** system.priority */
  priority: string | undefined;
  /** system.move_to_root_cgroup (validated by the config parser) */
  moveToRootCgroup: string | undefined;
}

export interface SchedulingOutcome {
  /** The SCHED_RR priority obtained, or 0 when the main thread stays SCHED_OTHER. */
  rrPriority: number;
  /** The nice value asked for the process group, if one was (INT_MIN/INT_MAX: max/min). */
  nice: number | undefined;
}

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

export class InvalidPriorityError extends Error {
  constructor(readonly value: string) {
    super(`Priority value ${value} is invalid`);
  }
}

/**
 * system.priority as corosync reads it: "max" → INT_MIN, "min" → INT_MAX, else strtol with
 * the whole string consumed and the value within int (so "" is 0, " 5" is 5, "5 " is invalid).
 */
export function parsePriority(value: string): number {
  if (value === 'max') return INT_MIN;
  if (value === 'min') return INT_MAX;
  if (value === '') return 0;
  if (!/^[ \t\n\v\f\r]*[+-]?[0-9]+$/.test(value)) throw new InvalidPriorityError(value);
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n < INT_MIN || n > INT_MAX) throw new InvalidPriorityError(value);
  return n;
}

/** Apply corosync's start-up scheduling policy. Throws InvalidPriorityError (exit 8). */
export function applyScheduling(
  cfg: SchedulingConfig,
  sys: SchedulingSystem,
  log: SubsysLogger,
): SchedulingOutcome {
  const move: MoveToRootCgroup =
    cfg.moveToRootCgroup === 'yes' ? 'yes' : cfg.moveToRootCgroup === 'no' ? 'no' : 'auto';
  const schedRr = cfg.schedRr === undefined || cfg.schedRr === 'yes';
  let prio = cfg.priority === undefined ? 0 : parsePriority(cfg.priority);

  if (move === 'yes') sys.moveToRootCgroup(log);

  let rrPriority = 0;
  if (schedRr) {
    let res = sys.setRoundRobin();
    if (res < 0 && move === 'auto') {
      sys.moveToRootCgroup(log);
      res = sys.setRoundRobin();
    }
    if (res < 0) {
      // corosync is silent on the first try only in auto mode; the last failure always warns
      log.warn(`Could not set SCHED_RR at priority 99: ${errnoText(-res)} (${-res})`);
      prio = INT_MIN;
    } else {
      rrPriority = res;
      prio = 0;
    }
  }

  let nice: number | undefined;
  if (prio !== 0) {
    nice = prio;
    const res = sys.setPriorityPgrp(prio);
    if (res < 0) log.warn(`Could not set priority ${prio}: ${errnoText(-res)} (${-res})`);
  }
  return { rrPriority, nice };
}

/** corosync_move_to_root_cgroup: cgroup v1 cpu controller with RT budget, else cgroup v2 root. */
export function moveToRootCgroup(log: SubsysLogger, root = '/sys/fs/cgroup', pid = process.pid): void {
  let tasksFile: string;
  if (existsSync(`${root}/cpu/cpu.rt_runtime_us`)) {
    log.debug('Moving main pid to cgroup v1 root cgroup');
    tasksFile = `${root}/cpu/tasks`;
  } else if (existsSync(`${root}/cgroup.procs`)) {
    log.debug('Moving main pid to cgroup v2 root cgroup');
    tasksFile = `${root}/cgroup.procs`;
  } else {
    log.debug(
      "cpu.rt_runtime_us or cgroup.procs doesn't exist -> system without cgroup or with disabled CONFIG_RT_GROUP_SCHED",
    );
    return;
  }
  try {
    writeFileSync(tasksFile, `${pid}\n`);
  } catch {
    log.warn("Can't write corosync pid into cgroups tasks file");
  }
}

/** The real system: the addon's sched_setscheduler/setpriority and /sys/fs/cgroup. */
export function processSchedulingSystem(): SchedulingSystem {
  const load = loadQbNative();
  const enosys = -(osConstants.errno.ENOSYS ?? 38);
  return {
    setRoundRobin: () => (load.ok ? load.native.schedSetRr() : enosys),
    setPriorityPgrp: (prio) => (load.ok ? load.native.setPriorityPgrp(prio) : enosys),
    moveToRootCgroup: (log) => moveToRootCgroup(log),
  };
}

/** The two policy switches `atNormalPolicy` needs (the addon's, or a test's). */
export interface PolicySwitch {
  /** SCHED_OTHER for the calling thread: 0 or a negative errno. */
  schedSetOther(): number;
  /** SCHED_RR at the highest priority for the calling thread: that priority, or a negative errno. */
  schedSetRr(): number;
}

/**
 * Run `work` with the calling (real-time main) thread at SCHED_OTHER and put it back to
 * SCHED_RR after, also when `work` throws; if the thread cannot be lowered, `work` runs as it
 * is. For housekeeping that must not take a CPU from other real-time work (the quiet-time
 * collection, src/daemon/heap-trim.ts). A failure to return to SCHED_RR is logged with
 * corosync's start-up warning: the thread then stays at SCHED_OTHER.
 */
export function atNormalPolicy(sys: PolicySwitch, log: SubsysLogger, work: () => void): void {
  if (sys.schedSetOther() < 0) {
    work();
    return;
  }
  try {
    work();
  } finally {
    backToRealTime(sys, log);
  }
}

/** SCHED_RR at priority 99 again after `schedSetOther`; a failure is logged as corosync's start-up warning. */
export function backToRealTime(sys: PolicySwitch, log: SubsysLogger): void {
  const res = sys.schedSetRr();
  if (res < 0) log.warn(`Could not set SCHED_RR at priority 99: ${errnoText(-res)} (${-res})`);
}
