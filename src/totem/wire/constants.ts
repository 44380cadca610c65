/**
 * Numbers of the totem wire format of corosync 3.1.7 on the udp/udpu transports
 * (spec/totem-wire.md §2.6, §4–§7). Every struct is packed; the sizes below are the sizes of
 * the fixed part of each message, the variable lists follow it directly.
 */

/** `0xC070`, written in the writer's byte order: bytes `70 c0` from a little-endian node. */
export const TOTEM_MAGIC = 0xc070;
/** The same magic read in the opposite byte order (a big-endian writer, read LE). */
export const TOTEM_MAGIC_SWAPPED = 0x70c0;
/** The only header version accepted and sent by 3.x. */
export const TOTEM_VERSION = 3;

/** Message types (byte 3 of the header). */
export const MessageType = {
  OrfToken: 0,
  Mcast: 1,
  MembMergeDetect: 2,
  MembJoin: 3,
  MembCommitToken: 4,
  TokenHoldCancel: 5,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Names as corosync's sources spell them, indexed by type (for logs and errors). */
export const MESSAGE_TYPE_NAMES: readonly string[] = [
  'ORF_TOKEN',
  'MCAST',
  'MEMB_MERGE_DETECT',
  'MEMB_JOIN',
  'MEMB_COMMIT_TOKEN',
  'TOKEN_HOLD_CANCEL',
];

/** Name of a type byte, or `type N` for an unknown one. */
export function messageTypeName(type: number): string {
  return MESSAGE_TYPE_NAMES[type] ?? `type ${type}`;
}

/** `header.encapsulated` of an MCAST that is a recovery copy of an old-ring message. */
export const MESSAGE_ENCAPSULATED = 1;
/** `header.encapsulated` of a normal MCAST. Receivers only test for `=== 1`. */
export const MESSAGE_NOT_ENCAPSULATED = 2;

// Fixed sizes (bytes).
/** `struct totem_message_header`. */
export const HEADER_SIZE = 13;
/** `struct memb_ring_id`: u32 rep + u64 seq. */
export const RING_ID_SIZE = 12;
/** `struct srp_addr` in 3.x: only a u32 nodeid. */
export const SRP_ADDR_SIZE = 4;
/** `struct rtr_item`: ring id + u32 seq. */
export const RTR_ITEM_SIZE = 16;
/** `struct orf_token` without its rtr list. */
export const ORF_TOKEN_SIZE = 57;
/** `struct mcast`: everything before the payload. */
export const MCAST_HEADER_SIZE = 45;
/** `struct memb_merge_detect`. */
export const MEMB_MERGE_DETECT_SIZE = 29;
/** `struct memb_join` without its lists. */
export const MEMB_JOIN_SIZE = 33;
/** `struct memb_commit_token` without its arrays. */
export const MEMB_COMMIT_TOKEN_SIZE = 41;
/** `struct memb_commit_token_memb_entry`. */
export const COMMIT_MEMB_ENTRY_SIZE = 24;
/** `struct token_hold_cancel`. */
export const TOKEN_HOLD_CANCEL_SIZE = 25;

// Limits.
/** `RETRANSMIT_ENTRIES_MAX`: the most rtr items a token may carry (receivers read 30 slots). */
export const RETRANSMIT_ENTRIES_MAX = 30;
/** Largest ORF token: 57 + 16·30. */
export const ORF_TOKEN_MAX_SIZE = ORF_TOKEN_SIZE + RTR_ITEM_SIZE * RETRANSMIT_ENTRIES_MAX;
/** `PROCESSOR_COUNT_MAX` of a normal build: bound for proc/failed lists and ring members. */
export const PROCESSOR_COUNT_MAX = 384;
/** Largest join we accept: both lists full. */
export const MEMB_JOIN_MAX_SIZE = MEMB_JOIN_SIZE + SRP_ADDR_SIZE * 2 * PROCESSOR_COUNT_MAX;
/** Largest commit token: 384 members. */
export const MEMB_COMMIT_TOKEN_MAX_SIZE =
  MEMB_COMMIT_TOKEN_SIZE + (SRP_ADDR_SIZE + COMMIT_MEMB_ENTRY_SIZE) * PROCESSOR_COUNT_MAX;
/** `FRAME_SIZE_MAX` (KNET_MAX_PACKET_SIZE of libknet 1.x): corosync asserts MCASTs stay below. */
export const FRAME_SIZE_MAX = 65536;
/** `UDP_RECEIVE_FRAME_SIZE_MAX`: the receive buffer of the udp/udpu transports. */
export const UDP_RECEIVE_FRAME_SIZE_MAX = 384 * (8 * 2 * 22) + 1024;

/** Default `totem.netmtu` for udp and udpu. */
export const UDP_NETMTU_DEFAULT = 1500;

/** Sizes derived from `totem.netmtu` (spec/totem-wire.md §2.6). */
export interface MtuLimits {
  /** The configured netmtu. */
  readonly netmtu: number;
  /** `net_mtu` handed to totempg: netmtu − 2·45. */
  readonly totempgNetMtu: number;
  /** Largest regular MCAST datagram: 45 + totempgNetMtu. */
  readonly mcastMaxSize: number;
  /** Largest encapsulated (recovery) MCAST datagram: 45 + mcastMaxSize = netmtu. */
  readonly encapsulatedMcastMaxSize: number;
}

/** Limits for a given netmtu (1500 by default: 1410 / 1455 / 1500). */
export function mtuLimits(netmtu: number = UDP_NETMTU_DEFAULT): MtuLimits {
  const totempgNetMtu = netmtu - 2 * MCAST_HEADER_SIZE;
  const mcastMaxSize = MCAST_HEADER_SIZE + totempgNetMtu;
  return { netmtu, totempgNetMtu, mcastMaxSize, encapsulatedMcastMaxSize: MCAST_HEADER_SIZE + mcastMaxSize };
}

/** The limits of the default netmtu 1500. */
export const UDPU_LIMITS_1500: MtuLimits = mtuLimits(UDP_NETMTU_DEFAULT);
