import { createHash } from 'node:crypto';
import type { SyncEndpoint } from './uplink-protocol.js';

/**
 * Sync endpoints are pluggable: each domain that has fleet-wide resources provides a source (on the
 * system controller: what every managed subcloud should have) and a target (on a subcloud: its local
 * copy, applied through the domain's own service). Adding an endpoint (software, ptp, kubernetes)
 * means adding one provider pair and listing it where the dcloud module is wired (main.ts).
 *
 * Resources are plain JSON values. Both sides compute the revision with {@link syncRevision} over the
 * same canonical form, so "in sync" is simply "the subcloud's revision equals the desired revision".
 */

/** System-controller side of an endpoint. */
export interface SyncSource {
  readonly endpoint: SyncEndpoint;
  /** The resources every managed subcloud should hold, in a stable order. */
  desired(): Promise<unknown[]>;
  /** Calls `listener` after the desired resources changed; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** Subcloud side of an endpoint. */
export interface SyncTarget {
  readonly endpoint: SyncEndpoint;
  /** The subcloud's current copy of the fleet-wide resources (same shape and order as desired()). */
  current(): Promise<unknown[]>;
  /** Replaces the local copy with `resources`; local-only resources are never touched. */
  apply(resources: unknown[]): Promise<void>;
  /** Calls `listener` after the local copy changed (for deltas); returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** Revision of a list of resources: SHA-256 (16 hex digits) of their canonical JSON (keys sorted). */
export function syncRevision(resources: readonly unknown[]): string {
  return createHash('sha256').update(canonicalJson(resources)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
