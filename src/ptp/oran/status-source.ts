import type { PtpSyncStatus, SyncState } from '../sync-state.js';

/** GNSS receiver states the O-RAN API reports (ts2phc / gpsd as StarlingX exposes them). */
type GnssSyncState = 'SYNCHRONIZED' | 'NOT_SYNCHRONIZED';

/**
 * What is known about one node's time synchronization. `ptp` comes from the node's primary ptp4l
 * monitor; the other parts are present only where a monitor for them exists, and their resources are
 * published only then.
 */
export interface NodeSyncStatus {
  node: string;
  ptp: PtpSyncStatus;
  /** The system clock (phc2sys) state. */
  osClock?: SyncState | undefined;
  gnss?: GnssSyncState | undefined;
  synce?: SyncState | undefined;
}

/** Called with the new and the previous status of one node (previous undefined for a new node). */
export type NodeSyncListener = (status: NodeSyncStatus, previous: NodeSyncStatus | undefined) => void;

/**
 * Where the O-RAN notification API reads PTP status from; the site wires it to the agents' monitors.
 * Listeners must be called in the order the changes happened, once per change.
 */
export interface PtpStatusSource {
  /** Every node with a known status. */
  list(): readonly NodeSyncStatus[];
  /** The latest status of one node, or undefined when none is known. */
  current(node: string): NodeSyncStatus | undefined;
  /** Adds a change listener; returns a function that removes it. */
  onChange(listener: NodeSyncListener): () => void;
}
