/**
 * The cfg client library: corosync's libcfg (include/corosync/cfg.h, 3.1.7) for TypeScript.
 *
 * A `CfgHandle` is one connection to the daemon's `cfg` service: link and node status, config
 * reload, log reopening, node kill, node addresses, the local node id, and the shutdown
 * protocol:
 *
 * - A program that wants a say in shutdowns calls `trackstart()`; when some other client asks
 *   for a shutdown (`tryShutdown(CfgShutdownFlag.REQUEST)`), the tracker's `shutdown` callback
 *   runs (from `dispatch()`) with the request's flags and must answer with
 *   `replyToShutdown(CfgShutdownReply.YES | NO)`. The requester's `tryShutdown` resolves when
 *   everyone said yes (or with REGARDLESS), and fails with CS_ERR_BUSY when someone said no or
 *   did not answer within `cfg.shutdown_timeout`. IMMEDIATE asks nobody.
 *
 * Requests marked "flow control" in corosync (ring status, kill, shutdown, reload,
 * trackstart/stop) can fail with CS_ERR_TRY_AGAIN while a membership change is being
 * synchronised; the C tools retry them.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import { codecFail, codecOk, type CodecResult } from '../exec/codec.js';
import { CallbackHandle, callbackParam, u32Param, type CallbackHandleOptions } from './callback-handle.js';
import {
  CS_MAX_NAME_LENGTH,
  CfgResId,
  decodeCfgResponse,
  encodeCfgRequest,
  type CfgInterfaceStatus,
  type CfgLinkStatus,
  type CfgResponse,
} from '../services/cfg/codec.js';
import { IpcClientConnection } from './connection.js';
import { readUInt16BE } from '../common/bytes.js';

export { CFG_MAX_LINKS, CFG_MAX_HOST_LEN } from '../services/cfg/codec.js';
/** One entry of `ringStatusGet`: "<link> <ip>" and its status string. */
export type CfgRingStatus = CfgInterfaceStatus;
export type { CfgLinkStatus };

/** `struct corosync_cfg_node_status_v1`. */
export interface CfgNodeStatusV1 {
  readonly version: number;
  readonly nodeid: number;
  readonly reachable: number;
  readonly remote: number;
  readonly external: number;
  readonly onwireMin: number;
  readonly onwireMax: number;
  readonly onwireVer: number;
  /** Always CFG_MAX_LINKS (8) entries. */
  readonly linkStatus: readonly CfgLinkStatus[];
}

/** An all-zero link entry. */
export const EMPTY_LINK_STATUS: CfgLinkStatus = {
  enabled: 0,
  connected: 0,
  dynconnected: 0,
  mtu: 0,
  srcIpaddr: '',
  dstIpaddr: '',
};

/** Decode a cfg reply or dispatch message and check it is of `kind`. */
function decodeAs<K extends CfgResponse['kind']>(
  frame: Buffer,
  kind: K,
): CodecResult<Extract<CfgResponse, { kind: K }>> {
  const d = decodeCfgResponse(frame);
  if (!d.ok) return d;
  if (d.value.kind !== kind) return codecFail('bad-id', `${kind} expected, got ${d.value.kind}`);
  return codecOk(d.value as Extract<CfgResponse, { kind: K }>);
}

/** `corosync_cfg_shutdown_flags_t`. */
export const CfgShutdownFlag = { REQUEST: 0, REGARDLESS: 1, IMMEDIATE: 2 } as const;

/** `corosync_cfg_shutdown_reply_flags_t`. */
export const CfgShutdownReply = { NO: 0, YES: 1 } as const;

/** `corosync_cfg_node_status_version_t`. */
export const CfgNodeStatusVersion = { V1: 1 } as const;

/** Address families as libcfg reports them. */
export const AddressFamily = { UNSPEC: 0, INET: 2, INET6: 10 } as const;

/** INTERFACE_MAX: the address array size the corosync tools pass to get_node_addrs. */
export const INTERFACE_MAX = 8;

/** `corosync_cfg_shutdown_callback_t`: someone asked for a shutdown; answer with `replyToShutdown`. */
export type CfgShutdownFn = (handle: CfgHandle, flags: number) => void;

/** `corosync_cfg_callbacks_t`. */
export interface CfgCallbacks {
  shutdown?: CfgShutdownFn;
}

/** An address of a node (`corosync_cfg_node_address_t`). */
export interface CfgNodeAddress {
  /**
   * AddressFamily.INET or INET6; UNSPEC (0) for an unused entry (all zero bytes), which the
   * C tools skip.
   */
  readonly family: number;
  /** Textual address ('' for an unused entry). */
  readonly address: string;
  /** The raw 16 bytes the daemon sent. */
  readonly raw: Buffer;
}

/** A notification taken from the queue by `events()`. */
export interface CfgEvent {
  readonly type: 'shutdown';
  /** The pending request's CfgShutdownFlag. */
  readonly flags: number;
  /** CS_OK, or CS_ERR_TIMEOUT when sent because the shutdown session timed out. */
  readonly error: number;
}

export type CfgInitializeOptions = CallbackHandleOptions;

function formatAddress(family: number, raw: Buffer): string {
  if (family === AddressFamily.INET) return `${raw[0]}.${raw[1]}.${raw[2]}.${raw[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(readUInt16BE(raw, i).toString(16));
  // RFC 5952: compress the longest run (≥ 2) of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * A connection to the cfg service (`corosync_cfg_handle_t`). Create it with
 * `CfgHandle.initialize`; release it with `finalize`.
 */
export class CfgHandle extends CallbackHandle<CfgEvent> {
  protected readonly libName = 'cfg';
  private readonly callbacks: CfgCallbacks;

  private constructor(conn: IpcClientConnection, callbacks: CfgCallbacks, opts: CfgInitializeOptions) {
    super(conn, undefined, opts);
    this.callbacks = { ...callbacks };
  }

  /** `corosync_cfg_initialize`. Errors: CS_ERR_LIBRARY when no daemon listens, else its refusal. */
  static async initialize(callbacks: CfgCallbacks = {}, opts: CfgInitializeOptions = {}): Promise<CfgHandle> {
    callbackParam(callbacks.shutdown, 'shutdown');
    const conn = await IpcClientConnection.connect('cfg', { runDir: opts.runDir });
    return new CfgHandle(conn, callbacks, opts);
  }

  /**
   * `corosync_cfg_ring_status_get`: the local node's links, each as its interface name
   * ("<link> <local address>") and status string (udp/udpu: "OK"; knet: one character per
   * node, `n` for the local one).
   */
  async ringStatusGet(): Promise<CfgRingStatus[]> {
    const res = await this.call(
      encodeCfgRequest({ kind: 'ringstatusget' }),
      CfgResId.RINGSTATUSGET,
      'corosync_cfg_ring_status_get',
    );
    return [...this.unwrap(decodeAs(res, 'ringstatusget'), 'corosync_cfg_ring_status_get').interfaces];
  }

  /**
   * `corosync_cfg_node_status_get`: what the transport knows about node `nodeid`: reachable,
   * remote/external, and per link (CFG_MAX_LINKS entries) enabled/connected/mtu/addresses.
   * Only version CfgNodeStatusVersion.V1 exists (else CS_ERR_INVALID_PARAM); a transport that
   * cannot tell: CS_ERR_FAILED_OPERATION.
   */
  async nodeStatusGet(nodeid: number, version: number = CfgNodeStatusVersion.V1): Promise<CfgNodeStatusV1> {
    const id = u32Param(nodeid, 'nodeid');
    if (version !== CfgNodeStatusVersion.V1) {
      throw new CsError(
        CsErrorCode.CS_ERR_INVALID_PARAM,
        `unsupported node status version ${String(version)}`,
      );
    }
    const res = await this.call(
      encodeCfgRequest({ kind: 'nodestatusget', nodeid: id, version }),
      CfgResId.NODESTATUSGET,
      'corosync_cfg_node_status_get',
    );
    const d = this.unwrap(decodeCfgResponse(res), 'corosync_cfg_node_status_get');
    if (d.kind === 'nodestatusget_version') {
      throw new CsError(CsErrorCode.CS_ERR_NOT_SUPPORTED, `daemon answered node status version ${d.version}`);
    }
    if (d.kind !== 'nodestatusget') {
      throw new CsError(
        CsErrorCode.CS_ERR_LIBRARY,
        `corosync_cfg_node_status_get: unexpected reply ${d.kind}`,
      );
    }
    const { links, ...rest } = d.status;
    const linkStatus = [...links];
    while (linkStatus.length < 8) linkStatus.push(EMPTY_LINK_STATUS);
    return { version, ...rest, linkStatus };
  }

  /**
   * `corosync_cfg_kill_node`: make node `nodeid` exit (status 255), logging `reason` there.
   * Resolves when the request went out, not when the node died. Reason ≥ 256 bytes:
   * CS_ERR_NAME_TOO_LONG; node not a member: CS_ERR_NOT_EXIST.
   */
  async killNode(nodeid: number, reason: string): Promise<void> {
    const id = u32Param(nodeid, 'nodeid');
    if (typeof reason !== 'string')
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'reason must be a string');
    if (Buffer.byteLength(reason, 'utf8') >= CS_MAX_NAME_LENGTH) {
      throw new CsError(
        CsErrorCode.CS_ERR_NAME_TOO_LONG,
        `reason longer than ${CS_MAX_NAME_LENGTH - 1} bytes`,
      );
    }
    this.checkHandle();
    await this.call(
      encodeCfgRequest({
        kind: 'killnode',
        nodeid: id,
        reasonLength: Buffer.byteLength(reason, 'utf8') + 1,
        reason,
      }),
      CfgResId.KILLNODE,
      'corosync_cfg_kill_node',
    );
  }

  /**
   * `corosync_cfg_trackstart`: take part in shutdown decisions (the `shutdown` callback runs
   * when a shutdown is requested; a session in progress asks this handle at once). The flags
   * byte is sent but unused by corosync.
   */
  async trackstart(flags = 0): Promise<void> {
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, 'track flags must be a u8');
    }
    await this.call(
      encodeCfgRequest({ kind: 'trackstart', flags }),
      CfgResId.STATETRACKSTART,
      'corosync_cfg_trackstart',
    );
  }

  /** `corosync_cfg_trackstop`: stop taking part (a pending vote of ours counts as yes). */
  async trackstop(): Promise<void> {
    await this.call(
      encodeCfgRequest({ kind: 'trackstop' }),
      CfgResId.STATETRACKSTOP,
      'corosync_cfg_trackstop',
    );
  }

  /**
   * `corosync_cfg_try_shutdown`: ask corosync on this node to shut down (CfgShutdownFlag).
   * May wait up to `cfg.shutdown_timeout` for the trackers' answers. A refusal:
   * CS_ERR_BUSY; a session already running: CS_ERR_EXIST.
   */
  async tryShutdown(flags: number): Promise<void> {
    const f = u32Param(flags, 'shutdown flags');
    await this.call(
      encodeCfgRequest({ kind: 'tryshutdown', flags: f }),
      CfgResId.TRYSHUTDOWN,
      'corosync_cfg_try_shutdown',
    );
  }

  /**
   * `corosync_cfg_replyto_shutdown`: answer a shutdown callback (CfgShutdownReply; any non-zero
   * value is yes). No session: CS_ERR_ACCESS.
   */
  async replyToShutdown(response: number | boolean): Promise<void> {
    const r = typeof response === 'boolean' ? (response ? 1 : 0) : u32Param(response, 'response');
    await this.call(
      encodeCfgRequest({ kind: 'replytoshutdown', response: r }),
      CfgResId.REPLYTOSHUTDOWN,
      'corosync_cfg_replyto_shutdown',
    );
  }

  /**
   * `corosync_cfg_get_node_addrs`: the addresses of node `nodeid` (0 = local), in link order,
   * at most `maxAddrs` of them. Entries the daemon sent as all-zero come back with family
   * UNSPEC. Unknown node: CS_ERR_NOT_EXIST.
   */
  async getNodeAddrs(nodeid: number, maxAddrs = Number.MAX_SAFE_INTEGER): Promise<CfgNodeAddress[]> {
    const id = u32Param(nodeid, 'nodeid');
    const res = await this.call(
      encodeCfgRequest({ kind: 'get_node_addrs', nodeid: id }),
      CfgResId.GET_NODE_ADDRS,
      'corosync_cfg_get_node_addrs',
    );
    const r = this.unwrap(decodeAs(res, 'get_node_addrs'), 'corosync_cfg_get_node_addrs');
    return r.addrs.slice(0, Math.max(0, maxAddrs)).map((raw) => {
      const used =
        raw.some((b) => b !== 0) && (r.family === AddressFamily.INET || r.family === AddressFamily.INET6);
      return used
        ? { family: r.family, address: formatAddress(r.family, raw), raw }
        : { family: AddressFamily.UNSPEC, address: '', raw };
    });
  }

  /** `corosync_cfg_local_get`: this node's id. */
  async localGet(): Promise<number> {
    const res = await this.call(
      encodeCfgRequest({ kind: 'local_get' }),
      CfgResId.LOCAL_GET,
      'corosync_cfg_local_get',
    );
    return this.unwrap(decodeAs(res, 'local_get'), 'corosync_cfg_local_get').nodeid;
  }

  /**
   * `corosync_cfg_reload_config`: every node re-reads its corosync.conf; resolves with this
   * node's result (the error of a failed reload is thrown).
   */
  async reloadConfig(): Promise<void> {
    await this.call(
      encodeCfgRequest({ kind: 'reload_config' }),
      CfgResId.RELOAD_CONFIG,
      'corosync_cfg_reload_config',
    );
  }

  /** `corosync_cfg_reopen_log_files` (for log rotation). */
  async reopenLogFiles(): Promise<void> {
    await this.call(
      encodeCfgRequest({ kind: 'reopen_log_files' }),
      CfgResId.REOPEN_LOG_FILES,
      'corosync_cfg_reopen_log_files',
    );
  }

  protected decodeEvent(frame: Buffer): CodecResult<CfgEvent> {
    const d = decodeAs(frame, 'testshutdown');
    if (!d.ok) return d;
    return { ok: true, value: { type: 'shutdown', flags: d.value.flags, error: d.value.error } };
  }

  protected invoke(ev: CfgEvent): void {
    this.callbacks.shutdown?.(this, ev.flags);
  }
}

export { formatAddress as formatCfgAddress };
