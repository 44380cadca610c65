/**
 * The contract between the exec layer (src/exec/engine.ts: routing of group "a" messages, the
 * sync protocol of group "sync") and the service engines (cmap, cpg, quorum, votequorum, cfg),
 * after corosync's `struct corosync_service_engine` (services-exec.md §2–§5).
 *
 * Everything here is pure: services never see sockets, timers or clocks. A service sends
 * through the ExecApi it is given and receives deliveries, configuration changes and sync
 * calls from the exec layer, which runs them in corosync's order.
 */
import { Buffer } from 'node:buffer';
import type { IpcServiceDefinition } from '../ipc/server.js';
import type { RingId } from '../totem/wire/index.js';

/** What the exec layer offers a service. */
export interface ExecApi {
  /** This node's nodeid. */
  readonly nodeId: number;
  /**
   * Multicast an exec message of `serviceId`/`fn` in group "a" (header.id = service << 16 | fn
   * must already be in the first bytes of `iov`). Returns CS_OK or CS_ERR_TRY_AGAIN (totem queue full).
   * Counts runtime.services.<svc>.<fn>.tx. The pieces are only read during the call (totempg
   * copies them into its packet), so a caller may reuse a header buffer for its next send.
   */
  mcast(serviceId: number, fn: number, iov: Buffer | readonly Buffer[], guarantee?: number): number;
  /** True while a sync round runs (corosync's sync_in_process). */
  syncInProgress(): boolean;
  /** The current ring id and regular member list. */
  ringId(): RingId;
  members(): readonly number[];
}

/** A service's part in the sync protocol (corosync's sync_init/process/activate/abort). */
export interface SyncHooks {
  init(transList: readonly number[], memberList: readonly number[], ringId: RingId): void;
  /** Run one step; return true when done (corosync returns 0), false to be called again. */
  process(): boolean;
  activate(): void;
  abort(): void;
}

/** A service engine as the exec layer runs it. */
export interface ServiceEngine {
  /** Service id (cmap 0, cfg 1, cpg 2, quorum 3, pload 4, votequorum 5). */
  readonly id: number;
  /** Engine name for logs, e.g. "corosync cluster closed process group service v1.01". */
  readonly name: string;
  /** Default name, e.g. "corosync_cpg" (internal_configuration.service.<id>.name). */
  readonly defaultName: string;
  /** Unload order: higher priority first (votequorum 2, the others 1). */
  readonly priority: number;
  /** Number of exec functions (runtime.services.<svc>.<fn>.tx/rx keys, unknown-fn check). */
  readonly execFnCount: number;
  /** Called once when the service is linked, with the exec API. */
  init?(api: ExecApi): void;
  /**
   * An exec message of this service in agreed order. `message` starts with the 16-byte
   * header; `fromNodeid` comes from totem. Malformed messages must be dropped (and logged),
   * never thrown.
   */
  deliver(fn: number, message: Buffer, fromNodeid: number): void;
  /** A totem configuration change (corosync calls this for services that have one). */
  confchg?(
    type: 'transitional' | 'regular',
    members: readonly number[],
    left: readonly number[],
    joined: readonly number[],
    ringId: RingId,
  ): void;
  /** Present when the service takes part in sync. */
  readonly sync?: SyncHooks;
  /** The service's IPC lib handlers, when it has a client API. */
  readonly ipc?: IpcServiceDefinition<unknown>;
  /** exec_exit_fn: return false for "busy, call me again later". */
  exit?(): boolean;
}
