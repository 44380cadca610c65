/**
 * The contracts between the cmap maps (icmap, stats), the config loader and the cmap IPC
 * service. Implementations: src/cmap/icmap.ts (Icmap, icmapIpcView), src/cmap/stats.ts (StatsMap).
 */
import type { StoredValue } from './types.js';

/** ICMAP/CMAP_TRACK_* mask bits. */
export const TrackFlags = {
  DELETE: 1,
  MODIFY: 2,
  ADD: 4,
  PREFIX: 8,
} as const;

/** One change notification: `event` is exactly one of ADD (4), MODIFY (2), DELETE (1). */
export interface TrackEvent {
  readonly event: 1 | 2 | 4;
  readonly key: string;
  /** Absent means "none" (type 0, length 0 on the wire). */
  readonly newValue?: StoredValue;
  readonly oldValue?: StoredValue;
}

export type TrackCallback = (event: TrackEvent) => void;

/** What one iteration step yields: the key and the metadata cmap ITER_NEXT reports. */
export interface IterEntry {
  readonly key: string;
  readonly type: number;
  /** value_len as corosync reports it for this map (strings include their NUL). */
  readonly length: number;
}

/**
 * A map as cmap IPC clients see it: every method applies that map's access rules
 * (read-only keys → CS_ERR_ACCESS, …) and throws CsError with corosync's code on failure.
 */
export interface CmapMap {
  get(key: string): StoredValue | undefined;
  set(key: string, type: number, bytes: Uint8Array): void;
  delete(key: string): void;
  adjustInt(key: string, step: number): void;
  /** The first entry whose key starts with `prefix` and sorts strictly after `after` (live map). */
  iterNext(prefix: string, after: string | undefined): IterEntry | undefined;
  /** `key` undefined = no key (corosync's NULL / length 0). Returns a non-zero handle. */
  trackAdd(key: string | undefined, flags: number, callback: TrackCallback): number;
  /** Throws CS_ERR_BAD_HANDLE (or NOT_EXIST) for an unknown handle. */
  trackDelete(handle: number): void;
}
