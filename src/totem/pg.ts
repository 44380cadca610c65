/**
 * totempg: process groups on top of totemsrp (spec/totem-pg.md). Packs small group messages
 * into one totempg packet, splits large ones into fragments, reassembles them per originator
 * on receipt and hands each complete message to every local group instance that joined one of
 * its groups.
 *
 * Pure core (DESIGN.md rule 1): no clock, timers, sockets or Promises. The layer below is a
 * {@link PgLower} (totemsrp's mcast/avail); whatever must reach the layer above (deliveries,
 * configuration changes, queue-level changes) is queued as {@link PgUpcall}s that the caller
 * takes with {@link TotemPg.drain} after each step (rule 2: no user code inside a step).
 *
 * Buffers: `deliver()` keeps references to the packet it is given (complete messages are
 * delivered as zero-copy subarrays of it, partial fragments are held until the message is
 * complete) and never writes into it. Callers must not modify a packet after handing it over.
 */
import { Buffer } from 'node:buffer';
import { CsError, CsErrorCode } from '../common/errors.js';
import {
  PG_ASSEMBLY_SIZE,
  PG_DEFAULT_NET_MTU,
  PG_HEADER_SIZE,
  PG_MAX_GROUPS_PER_MSG,
  PG_MAX_PAYLOAD_PIECES,
  PG_MAX_PIECES,
  PG_MESSAGE_SIZE_MAX,
  PG_RESERVE_OVERHEAD,
  type PgDecodeError,
  type PgErrorCode,
  groupHeaderLength,
  groupHeaderLens,
  matchGroups,
  readPgPacket,
  writePgPacket,
} from './pg-packet.js';
import type { RingId } from './wire/seq.js';

export * from './pg-packet.js';

/** What totempg needs from totemsrp (totem-srp.md §13). */
export interface PgLower {
  /**
   * Queue one totempg packet as the payload of a new MCAST (the packet is a fresh Buffer that
   * the SRP core may keep). `false` when the active new-message queue is full.
   */
  mcast(packet: Buffer, guarantee: number): boolean;
  /**
   * Optional copy-free variant of {@link mcast}: `buf` starts with {@link headroom} bytes the
   * lower layer fills in (its MCAST header), followed by the packet. Used when present.
   */
  mcastPrepared?(buf: Buffer, guarantee: number): boolean;
  /** Bytes {@link mcastPrepared} wants in front of a packet. */
  readonly headroom?: number;
  /** totemsrp's `avail()`: free entries of the active new-message queue (capacity − used − 2). */
  avail(): number;
  /** TOTEM_EVENT_NEW_MSG, signalled on every send: the SRP cancels a token hold. Optional. */
  newMessage?(): void;
}

export interface TotemPgOptions {
  lower: PgLower;
  /** The internal `net_mtu` (totem.netmtu − 90 on udp/udpu). Default 1410. */
  netMtu?: number;
  /**
   * totemsrp's `MESSAGE_QUEUE_MAX` (capacity of a new-message queue). Default
   * `floor(4 MiB / netMtu)` = 2974. Used for the queue level and the reservation size limit.
   */
  queueMax?: number;
}

/** Queue level reported to IPC flow control (`enum totem_q_level`). */
export const PgQueueLevel = { LOW: 0, GOOD: 1, HIGH: 2, CRITICAL: 3 } as const;
export type PgQueueLevel = (typeof PgQueueLevel)[keyof typeof PgQueueLevel];

/** A local group instance (`totempg_groups_initialize`): the handle services hold. */
export interface PgInstance {
  /** Creation number, unique per TotemPg. */
  readonly id: number;
  /** Free text for logs ("main", "sync"). */
  readonly label: string;
  /** Whether the instance gets configuration changes (corosync: main yes, sync no). */
  readonly wantsConfchg: boolean;
  /** The joined group names, in join order. */
  readonly groups: readonly Buffer[];
}

/** A complete group message for one local instance (`deliver_fn`). */
export interface PgDeliverUpcall {
  readonly kind: 'deliver';
  readonly instance: PgInstance;
  /** The instance's group that matched (the first one in the message's group order). */
  readonly group: Buffer;
  /** Originator nodeid. */
  readonly from: number;
  /** The application bytes: the message minus its group header (a subarray, not a copy). */
  readonly message: Buffer;
  /** The originator's byte order differs from ours: the application must swap its fields. */
  readonly endianConvert: boolean;
}

export type PgConfchgType = 'transitional' | 'regular';

/** A configuration change, forwarded unchanged to instances that want them. */
export interface PgConfchgUpcall {
  readonly kind: 'confchg';
  readonly instance: PgInstance;
  readonly type: PgConfchgType;
  readonly members: readonly number[];
  readonly left: readonly number[];
  readonly joined: readonly number[];
  readonly ringId: RingId;
}

/** The queue level of an instance changed (`totem_queue_level_changed`). */
export interface PgQueueLevelUpcall {
  readonly kind: 'q-level';
  readonly instance: PgInstance;
  readonly level: PgQueueLevel;
}

export type PgUpcall = PgDeliverUpcall | PgConfchgUpcall | PgQueueLevelUpcall;

/** Counters and gauges (stats.pg.* plus our own drop counters). */
export interface PgStats {
  /**
   * `stats.pg.msg_queue_avail`: totemsrp's avail() at the last admission check (send,
   * reservation, send-ok). 3.1.7 only sets it in `totempg_groups_send_ok_groups`, which nothing
   * calls, so there it always reads 0; we report what the key's name says.
   */
  msgQueueAvail: number;
  /** `stats.pg.msg_reserved`: messages reserved by IPC requests in flight (+1 baseline). */
  msgReserved: number;
  /** Packets handed to totemsrp (from sends and token flushes). */
  packetsSent: number;
  /** Packets emitted by token flushes. */
  tokenFlushes: number;
  /** Sends refused with TRY_AGAIN (queue full). */
  sendTryAgain: number;
  /** Packets totemsrp refused although totempg had checked its room (should stay 0). */
  submitRefused: number;
  /** Packets received. */
  packetsReceived: number;
  /** Complete group messages reassembled (before group matching). */
  messagesReceived: number;
  /** Group messages that matched no local instance. */
  messagesUnmatched: number;
  /** Received packets or messages dropped as malformed, per reason. */
  rxDropped: Record<PgErrorCode, number>;
  /** Fragment chains broken (continuation ≠ last fragment number): the chain is discarded. */
  sequenceBreaks: number;
  /** Packets discarded while an originator's chain was being thrown away. */
  packetsThrownAway: number;
  /** Partial assemblies dropped because their node left the configuration. */
  assembliesDroppedOnLeave: number;
}

/** One originator's partial message (`struct assembly`). */
interface Assembly {
  /** Held pieces of the partial message (subarrays of earlier packets). */
  parts: Buffer[];
  /** Σ parts lengths. */
  held: number;
  /** The `fragmented` value of the last accepted packet. */
  lastFragNum: number;
  /** Throwing away until a packet that ends a message (`fragmented == 0`). */
  discarding: boolean;
}

interface InstanceState extends PgInstance {
  groups: Buffer[];
  qLevel: PgQueueLevel;
}

/** A group name as a Buffer (no copy when it already is one), checked for the u16 length. */
function toName(name: Buffer | Uint8Array | string): Buffer {
  const b =
    typeof name === 'string'
      ? Buffer.from(name, 'utf8')
      : Buffer.isBuffer(name)
        ? name
        : Buffer.from(name.buffer, name.byteOffset, name.length);
  if (b.length === 0 || b.length > 0xffff) {
    throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `group name length ${b.length} is not 1..65535`);
  }
  return b;
}

function newStats(): PgStats {
  return {
    msgQueueAvail: 0,
    msgReserved: 0,
    packetsSent: 0,
    tokenFlushes: 0,
    sendTryAgain: 0,
    submitRefused: 0,
    packetsReceived: 0,
    messagesReceived: 0,
    messagesUnmatched: 0,
    rxDropped: {
      'too-short': 0,
      'lens-past-end': 0,
      'length-mismatch': 0,
      'bad-count': 0,
      'reassembly-overflow': 0,
      'bad-group-header': 0,
    },
    sequenceBreaks: 0,
    packetsThrownAway: 0,
    assembliesDroppedOnLeave: 0,
  };
}

/** Payload of a send: one Buffer or a list of pieces (each piece counts for the packer). */
export type PgPayload = Uint8Array | readonly Uint8Array[];

export class TotemPg {
  /** Group header pieces of single-group sends by name ({@link namedGroupHeader}). */
  private readonly groupHeaders = new Map<string, readonly [Buffer, Buffer]>();
  readonly netMtu: number;
  /** Room for lengths plus data in one packet: net_mtu − 8 (1402 by default). */
  readonly packetSize: number;
  readonly queueMax: number;
  /** Largest reservation (`totempg_size_limit`): (initial avail − 1) × (net_mtu − 24). */
  readonly sizeLimit: number;
  readonly stats: PgStats = newStats();

  private readonly lower: PgLower;
  /** Most recently created first (corosync adds instances at the list head). */
  private readonly instances: InstanceState[] = [];
  private nextInstanceId = 1;
  private out: PgUpcall[] = [];

  // ---- sender state (§4.2), shared by all instances ----
  private readonly staging: Buffer;
  private readonly sendLens: Uint16Array;
  private stagedBytes = 0;
  private stagedCount = 0;
  private fragmentContinuation = 0;
  private nextFragment = 1;
  /** `totempg_reserved`: starts at 1. */
  private reserved = 1;

  // ---- receiver state (§5) ----
  private readonly normal = new Map<number, Assembly>();
  private readonly trans = new Map<number, Assembly>();
  private waitingTransAck = false;
  private rxLens = new Uint16Array(1024);

  constructor(opts: TotemPgOptions) {
    this.lower = opts.lower;
    this.netMtu = opts.netMtu ?? PG_DEFAULT_NET_MTU;
    if (!Number.isInteger(this.netMtu) || this.netMtu <= PG_RESERVE_OVERHEAD + 8) {
      throw new CsError(CsErrorCode.CS_ERR_INVALID_PARAM, `net_mtu ${this.netMtu} is too small for totempg`);
    }
    this.packetSize = this.netMtu - PG_HEADER_SIZE;
    this.queueMax = opts.queueMax ?? Math.floor((4 * PG_MESSAGE_SIZE_MAX) / this.netMtu);
    this.sizeLimit = (this.queueMax - 2 - 1) * (this.netMtu - PG_RESERVE_OVERHEAD);
    this.staging = Buffer.alloc(this.packetSize);
    this.sendLens = new Uint16Array(this.packetSize);
  }

  // =====================================================================================
  // Group instances
  // =====================================================================================

  /** `totempg_groups_initialize`: a new local instance, placed before the existing ones. */
  createInstance(opts: { label?: string; confchg?: boolean } = {}): PgInstance {
    const inst: InstanceState = {
      id: this.nextInstanceId++,
      label: opts.label ?? '',
      wantsConfchg: opts.confchg ?? false,
      groups: [],
      qLevel: PgQueueLevel.GOOD, // corosync starts it at QB_LOOP_MED (= 1)
    };
    this.instances.unshift(inst);
    return inst;
  }

  /** `totempg_groups_join` of one group. Joining a group twice is harmless. */
  joinGroup(name: Buffer | Uint8Array | string, handle: PgInstance): void {
    const inst = this.state(handle);
    const b = Buffer.from(toName(name)); // our own copy: the caller may reuse its buffer
    if (inst.groups.length >= PG_MAX_GROUPS_PER_MSG) {
      throw new CsError(
        CsErrorCode.CS_ERR_TOO_MANY_GROUPS,
        `an instance may join at most ${PG_MAX_GROUPS_PER_MSG} groups (it sends to all of them)`,
      );
    }
    inst.groups.push(b);
  }

  /**
   * Leave a group: the instance stops matching it and no longer names it in its sends.
   * (corosync 3.1.7's `totempg_groups_leave` is an empty stub; no caller of it exists there.)
   */
  leaveGroup(name: Buffer | Uint8Array | string, handle: PgInstance): boolean {
    const inst = this.state(handle);
    const b = toName(name);
    const i = inst.groups.findIndex((g) => g.equals(b));
    if (i < 0) return false;
    inst.groups.splice(i, 1);
    return true;
  }

  /** Remove an instance entirely (no corosync equivalent; for tests and shutdown). */
  destroyInstance(handle: PgInstance): void {
    const i = this.instances.indexOf(this.state(handle));
    this.instances.splice(i, 1);
  }

  private state(handle: PgInstance): InstanceState {
    const inst = this.instances.find((s) => s === handle);
    if (!inst) throw new CsError(CsErrorCode.CS_ERR_BAD_HANDLE, 'unknown totempg group instance');
    return inst;
  }

  // =====================================================================================
  // Sending (§4)
  // =====================================================================================

  /**
   * `totempg_groups_mcast_joined`: send `payload` to every group the instance joined.
   * Returns CS_OK (queued in totemsrp or staged for the next packet) or CS_ERR_TRY_AGAIN
   * (totemsrp's queue has no room; nothing changed). Throws CsError for invalid arguments.
   */
  mcastJoined(handle: PgInstance, payload: PgPayload, guarantee = 0): number {
    return this.mcastGroups(this.state(handle).groups, payload, guarantee);
  }

  /** `totempg_groups_mcast_groups`: send `payload` to the listed groups. */
  mcastGroups(groups: readonly (Buffer | Uint8Array | string)[], payload: PgPayload, guarantee = 0): number {
    if (groups.length > PG_MAX_GROUPS_PER_MSG) {
      throw new CsError(
        CsErrorCode.CS_ERR_TOO_MANY_GROUPS,
        `${groups.length} groups > ${PG_MAX_GROUPS_PER_MSG}`,
      );
    }
    const single = payload instanceof Uint8Array;
    const pieceCount = single ? 1 : payload.length;
    if (pieceCount > PG_MAX_PAYLOAD_PIECES || 1 + groups.length + pieceCount > PG_MAX_PIECES) {
      throw new CsError(
        CsErrorCode.CS_ERR_INVALID_PARAM,
        `${pieceCount} payload pieces with ${groups.length} groups exceed the totempg limits`,
      );
    }
    // One send per delivered message runs through here: the group header of a lone named
    // group (the exec layer's "a") is built once, and the piece list in one array.
    const all: Uint8Array[] = [];
    const first = groups[0];
    if (groups.length === 1 && typeof first === 'string') {
      const [lens, name] = this.namedGroupHeader(first);
      all.push(lens, name);
    } else {
      const names = groups.map(toName);
      all.push(groupHeaderLens(names), ...names);
    }
    let total = 0;
    for (const p of all) total += p.length;
    if (single) {
      total += payload.length;
      if (payload.length > 0) all.push(payload);
    } else {
      for (const p of payload) {
        total += p.length;
        if (p.length > 0) all.push(p);
      }
    }
    if (total > PG_MESSAGE_SIZE_MAX) {
      throw new CsError(
        CsErrorCode.CS_ERR_TOO_BIG,
        `group message of ${total} bytes exceeds ${PG_MESSAGE_SIZE_MAX} (receivers could not reassemble it)`,
      );
    }
    return this.send(all, total, guarantee);
  }

  /** The group header pieces (lengths, name) of a send to the one group `name`, cached. */
  private namedGroupHeader(name: string): readonly [Buffer, Buffer] {
    let h = this.groupHeaders.get(name);
    if (!h) {
      const b = toName(name);
      h = [groupHeaderLens([b]), b];
      if (this.groupHeaders.size < 64) this.groupHeaders.set(name, h);
    }
    return h;
  }

  /**
   * The packer (`mcast_msg`). `pieces` has no empty piece; `total` is their summed length.
   */
  private send(pieces: readonly Uint8Array[], total: number, guarantee: number): number {
    this.lower.newMessage?.();
    const avail = this.lower.avail();
    this.stats.msgQueueAvail = avail;
    // corosync's admission check, then ours: enough room for every packet this send emits
    // (corosync asserts that instead).
    if (avail < this.countFor(total + 2 * this.stagedCount) || avail < this.packetsEmittedBy(pieces)) {
      this.stats.sendTryAgain++;
      return CsErrorCode.CS_ERR_TRY_AGAIN;
    }

    const lens = this.sendLens;
    let max = this.packetSize - 2 * (this.stagedCount + 1);
    lens[this.stagedCount] = 0;
    let i = 0;
    let base = 0;
    while (i < pieces.length) {
      const piece = pieces[i]!;
      const continuation = this.fragmentContinuation;
      // The fit test uses the whole piece even when only its rest is left (§4.4).
      if (piece.length + this.stagedBytes < max - 2) {
        this.stage(piece, base, piece.length - base);
        this.nextFragment = 1;
        i++;
        base = 0;
        continue;
      }
      const take = Math.min(piece.length - base, max - this.stagedBytes);
      this.stage(piece, base, take);
      let fragmented = 0;
      if (i < pieces.length - 1 || base + take < piece.length) {
        if (this.nextFragment === 0) this.nextFragment = 1;
        fragmented = this.nextFragment;
        this.fragmentContinuation = fragmented;
        this.nextFragment = (this.nextFragment + 1) & 0xff;
      } else {
        this.fragmentContinuation = 0;
      }
      this.stagedCount++;
      this.emit(fragmented, continuation, guarantee);
      lens[0] = 0;
      max = this.packetSize - 2;
      if (base + take === piece.length) {
        i++;
        base = 0;
      } else {
        base += take;
      }
    }
    if (lens[this.stagedCount]! > 0) this.stagedCount++;
    return CsErrorCode.CS_OK;
  }

  private stage(piece: Uint8Array, from: number, len: number): void {
    this.staging.set(piece.subarray(from, from + len), this.stagedBytes);
    this.stagedBytes += len;
    this.sendLens[this.stagedCount] += len;
  }

  /** Build the packet of the staged entries, hand it down and empty the staging area. */
  private emit(fragmented: number, continuation: number, guarantee: number): void {
    const lower = this.lower;
    const prepared = lower.mcastPrepared !== undefined;
    const packet = writePgPacket(
      fragmented,
      continuation,
      this.sendLens,
      this.stagedCount,
      this.staging.subarray(0, this.stagedBytes),
      prepared ? (lower.headroom ?? 0) : 0,
    );
    this.stagedCount = 0;
    this.stagedBytes = 0;
    const accepted = prepared ? lower.mcastPrepared!(packet, guarantee) : lower.mcast(packet, guarantee);
    if (accepted) this.stats.packetsSent++;
    else this.stats.submitRefused++;
  }

  /** Dry run of the packer: how many packets a send of `pieces` emits now. */
  private packetsEmittedBy(pieces: readonly Uint8Array[]): number {
    let staged = this.stagedBytes;
    let max = this.packetSize - 2 * (this.stagedCount + 1);
    let n = 0;
    for (const piece of pieces) {
      let base = 0;
      while (base < piece.length) {
        if (piece.length + staged < max - 2) {
          staged += piece.length - base;
          break;
        }
        const take = Math.min(piece.length - base, max - staged);
        n++;
        staged = 0;
        max = this.packetSize - 2;
        base += take;
      }
    }
    return n;
  }

  /** totemsrp messages a reservation of `bytes` counts for. */
  private countFor(bytes: number): number {
    return Math.floor(bytes / (this.netMtu - PG_RESERVE_OVERHEAD)) + 1;
  }

  /**
   * TOKEN_RECEIVED callback: totemsrp calls it on every accepted token before its flow control
   * (totem-srp.md §9 step 7.3). Sends the staged entries, if any, as one packet with
   * fragmented = 0. Returns whether a packet was emitted.
   */
  tokenReceived(): boolean {
    if (this.stagedCount === 0) return false;
    if (this.lower.avail() <= 0) return false;
    const continuation = this.fragmentContinuation;
    this.fragmentContinuation = 0;
    this.emit(0, continuation, 0);
    this.stats.tokenFlushes++;
    return true;
  }

  /** Entries staged and not yet sent (for tests and diagnostics). */
  get staged(): { count: number; bytes: number; fragmentContinuation: number; nextFragment: number } {
    return {
      count: this.stagedCount,
      bytes: this.stagedBytes,
      fragmentContinuation: this.fragmentContinuation,
      nextFragment: this.nextFragment,
    };
  }

  // ---- flow control helpers used by the IPC path ----

  /**
   * `totempg_groups_joined_reserve`: reserve totemsrp room for an IPC request of
   * `payloadSize` bytes to the instance's groups. Returns −1 when the request can never be
   * sent (≥ {@link sizeLimit}), 0 when there is no room now, else the number of messages
   * reserved (give it back with {@link joinedRelease}). Also re-checks the queue level.
   */
  joinedReserve(handle: PgInstance, payloadSize: number): number {
    const inst = this.state(handle);
    let size = payloadSize;
    for (const g of inst.groups) size += g.length;
    let res: number;
    if (size >= this.sizeLimit) {
      res = -1;
    } else {
      const avail = this.lower.avail();
      this.stats.msgQueueAvail = avail;
      if (avail >= this.countFor(size)) {
        res = this.countFor(size);
        this.reserved += res;
        this.stats.msgReserved = this.reserved;
      } else {
        res = 0;
      }
    }
    this.checkQLevel(handle);
    return res;
  }

  /** `totempg_groups_joined_release`. */
  joinedRelease(count: number): void {
    this.reserved -= count;
    this.stats.msgReserved = this.reserved;
  }

  /**
   * `totempg_groups_send_ok_groups`: whether a message of `payloadSize` bytes to `groups` fits
   * in totemsrp's queue next to the reservations. 3.1.7 compares the byte size itself with
   * the free message count (and has no caller); we compare the message count the size needs,
   * as the function's documentation intends.
   */
  sendOkGroups(groups: readonly (Buffer | Uint8Array | string)[], payloadSize: number): boolean {
    let size = payloadSize;
    for (const g of groups) size += toName(g).length;
    const avail = this.lower.avail();
    this.stats.msgQueueAvail = avail;
    return avail - this.reserved > this.countFor(size);
  }

  /** Percentage of totemsrp's queue in use, reservations included. */
  queuePercentUsed(): number {
    return 100 - Math.trunc(((this.lower.avail() - this.reserved) * 100) / this.queueMax);
  }

  /**
   * `totempg_check_q_level`: update the instance's queue level with corosync's hysteresis
   * bands; a change is queued as a `q-level` up-call. Returns the new level when it changed.
   */
  checkQLevel(handle: PgInstance): PgQueueLevel | undefined {
    const inst = this.state(handle);
    const used = this.queuePercentUsed();
    const old = inst.qLevel;
    if (used >= 75) inst.qLevel = PgQueueLevel.CRITICAL;
    else if (used < 30) inst.qLevel = PgQueueLevel.LOW;
    else if (used > 40 && used < 50) inst.qLevel = PgQueueLevel.GOOD;
    else if (used > 60 && used < 70) inst.qLevel = PgQueueLevel.HIGH;
    if (inst.qLevel === old) return undefined;
    this.out.push({ kind: 'q-level', instance: inst, level: inst.qLevel });
    return inst.qLevel;
  }

  /** The instance's current queue level. */
  qLevel(handle: PgInstance): PgQueueLevel {
    return this.state(handle).qLevel;
  }

  // =====================================================================================
  // Receiving (§5)
  // =====================================================================================

  /**
   * totemsrp's waiting_trans_ack signal: while true, assemblies are kept in a separate
   * ("trans") set, as corosync does during service synchronisation.
   */
  setWaitingTransAck(waiting: boolean): void {
    this.waitingTransAck = waiting;
  }

  /**
   * A totempg packet delivered by totemsrp in agreed order. Complete group messages are
   * queued as `deliver` up-calls. Returns null, or the reason the packet (or one of its
   * messages) was dropped; drops are counted in {@link stats} and never throw.
   */
  deliver(from: number, packet: Buffer, endianConvert: boolean): PgDecodeError | null {
    this.stats.packetsReceived++;
    const maxLens = (packet.length - PG_HEADER_SIZE) >> 1;
    if (maxLens > this.rxLens.length) this.rxLens = new Uint16Array(Math.min(maxLens, 0x10000));
    const lens = this.rxLens;
    const h = readPgPacket(packet, endianConvert, lens);
    if (!h.ok) {
      this.stats.rxDropped[h.code]++;
      return h;
    }
    const count = h.count;
    const fragmented = h.fragmented;
    if (count === 0 && fragmented !== 0) {
      // Nothing to continue; corosync would index its lengths at −1.
      this.stats.rxDropped['bad-count']++;
      return {
        ok: false,
        code: 'bad-count',
        error: `totempg packet with fragmented=${fragmented} has no entries`,
      };
    }

    const map = this.waitingTransAck ? this.trans : this.normal;
    let rec = map.get(from);
    const held = rec ? rec.held : 0;

    if (held + packet.length >= PG_ASSEMBLY_SIZE) {
      this.stats.rxDropped['reassembly-overflow']++;
      this.startDiscarding(map, from, rec, fragmented);
      return {
        ok: false,
        code: 'reassembly-overflow',
        error: `message from node ${from} grows past the ${PG_ASSEMBLY_SIZE}-byte assembly buffer`,
      };
    }

    // Deviation from 3.1.7 (receive side only, nothing on the wire changes): when a fragment
    // chain is broken (a receiver that joined after the first fragment of a message went out
    // in the old ring — totem-pg.md §5.2 — or a reassembly overflow), corosync throws away the
    // whole packet, complete messages included, and the next one too. Those complete messages
    // are delivered by every member that was in the old ring, so dropping them breaks virtual
    // synchrony for no reason. We drop only what cannot be reassembled: entry 0 of a packet
    // that continues a message whose beginning we never saw; the complete entries after it
    // are delivered, and its trailing fragment starts a fresh assembly.
    const expected = rec ? rec.lastFragNum : 0;
    let first = 0;
    let partial = held;
    if (rec?.discarding || h.continuation !== expected) {
      if (!rec?.discarding) this.stats.sequenceBreaks++;
      partial = 0;
      if (h.continuation !== 0) {
        first = 1;
        this.stats.packetsThrownAway++;
      }
    }

    const deliverable = fragmented !== 0 ? count - 1 : count;
    let off = h.dataOffset;
    let err: PgDecodeError | null = null;
    for (let i = 0; i < deliverable; i++) {
      const len = lens[i]!;
      if (i < first) {
        off += len;
        continue;
      }
      let msg: Buffer;
      if (i === 0 && partial > 0) {
        rec!.parts.push(packet.subarray(off, off + len));
        msg = Buffer.concat(rec!.parts, partial + len);
      } else {
        msg = packet.subarray(off, off + len);
      }
      off += len;
      err = this.appDeliver(from, msg, endianConvert) ?? err;
    }

    if (fragmented === 0) {
      map.delete(from);
      return err;
    }
    if (!rec) {
      rec = { parts: [], held: 0, lastFragNum: 0, discarding: false };
      map.set(from, rec);
    }
    rec.lastFragNum = fragmented;
    if (first === 1 && count === 1) {
      // the whole packet is a middle piece of the unknown message: keep skipping
      rec.parts = [];
      rec.held = 0;
      rec.discarding = true;
      return err;
    }
    rec.discarding = false;
    if (count > 1 || partial === 0) {
      rec.parts = [];
      rec.held = 0;
    }
    const tail = lens[count - 1]!;
    if (tail > 0) {
      rec.parts.push(packet.subarray(off, off + tail));
      rec.held += tail;
    }
    return err;
  }

  private startDiscarding(
    map: Map<number, Assembly>,
    from: number,
    rec: Assembly | undefined,
    fragmented: number,
  ): void {
    if (fragmented === 0) {
      map.delete(from);
      return;
    }
    if (!rec) {
      map.set(from, { parts: [], held: 0, lastFragNum: 0, discarding: true });
      return;
    }
    rec.parts = [];
    rec.held = 0;
    rec.discarding = true;
  }

  /** `app_deliver_fn`: hand one complete group message to the matching instances. */
  private appDeliver(from: number, msg: Buffer, endianConvert: boolean): PgDecodeError | null {
    this.stats.messagesReceived++;
    const headerLen = groupHeaderLength(msg, endianConvert);
    if (typeof headerLen !== 'number') {
      this.stats.rxDropped[headerLen.code]++;
      return headerLen;
    }
    let matched = false;
    for (const inst of this.instances) {
      const group = matchGroups(msg, endianConvert, inst.groups);
      if (group) {
        matched = true;
        this.out.push({
          kind: 'deliver',
          instance: inst,
          group,
          from,
          message: msg.subarray(headerLen),
          endianConvert,
        });
      }
    }
    if (!matched) this.stats.messagesUnmatched++;
    return null;
  }

  /**
   * A configuration change from totemsrp (§6): partial assemblies of the nodes that left are
   * dropped (in both sets), then the change is queued for every instance that wants them.
   */
  confchg(
    type: PgConfchgType,
    members: readonly number[],
    left: readonly number[],
    joined: readonly number[],
    ringId: RingId,
  ): void {
    for (const node of left) {
      const a = this.normal.delete(node);
      const b = this.trans.delete(node);
      if (a) this.stats.assembliesDroppedOnLeave++;
      if (b) this.stats.assembliesDroppedOnLeave++;
    }
    for (const inst of this.instances) {
      if (inst.wantsConfchg) {
        this.out.push({ kind: 'confchg', instance: inst, type, members, left, joined, ringId });
      }
    }
  }

  /** Partial assemblies held, in both sets (bounded by the number of originators). */
  get assemblyCount(): number {
    return this.normal.size + this.trans.size;
  }

  /** Bytes held for `nodeid`'s partial message in the active (or given) assembly set. */
  heldBytes(nodeid: number, set: 'normal' | 'trans' = this.waitingTransAck ? 'trans' : 'normal'): number {
    return (set === 'trans' ? this.trans : this.normal).get(nodeid)?.held ?? 0;
  }

  /** Take the queued up-calls, in the order they happened. */
  drain(): PgUpcall[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** `stats.clear.totem` for the pg part: corosync zeroes both gauges. */
  clearStats(): void {
    this.stats.msgQueueAvail = 0;
    this.stats.msgReserved = 0;
  }
}
