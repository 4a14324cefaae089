import { invalidInput } from '../../core/errors.js';
import type { SyncState } from '../sync-state.js';
import type { NodeSyncStatus } from './status-source.js';

/**
 * O-RAN O-Cloud Notification API v2 (WG6 v03.00) as StarlingX's ptp-notification app serves it:
 * resource addresses, their event types and value formats, and the CloudEvents 1.0 the API pushes and
 * answers pulls with. Pure: no I/O.
 *
 * A resource address is `/{cluster}/{node}/sync[/{group}[/{resource}]]`. StarlingX names the cluster
 * `.`; a shorter address (`/./controller-0/sync`, `/./controller-0/sync/ptp-status`) stands for every
 * resource under it. The instance form (`/{cluster}/{node}/{instance}/sync/…`) is refused for now: one
 * primary ptp4l instance per node is published.
 */
export const API_PREFIX = '/ocloudNotifications/v2';

/** The cluster name StarlingX uses in every resource address. */
export const DEFAULT_CLUSTER = '.';

type DataType = 'notification' | 'metric';

interface ResourceKind {
  /** The path below the node, e.g. `/sync/ptp-status/lock-state`. */
  path: string;
  type: string;
  dataType: DataType;
  /** The value for a node's status, or undefined when no data exists for this resource there. */
  valueOf(status: NodeSyncStatus): string | number | undefined;
}

/** The resources we publish, per the StarlingX v2 API reference. */
const RESOURCES: readonly ResourceKind[] = [
  {
    path: '/sync/sync-status/sync-state',
    type: 'event.sync.sync-status.synchronization-state-change',
    dataType: 'notification',
    valueOf: overallState,
  },
  {
    path: '/sync/sync-status/os-clock-sync-state',
    type: 'event.sync.sync-status.os-clock-sync-state-change',
    dataType: 'notification',
    valueOf: (status) => status.osClock,
  },
  {
    path: '/sync/ptp-status/lock-state',
    type: 'event.sync.ptp-status.ptp-state-change',
    dataType: 'notification',
    valueOf: (status) => status.ptp.state,
  },
  {
    path: '/sync/ptp-status/clock-class',
    type: 'event.sync.ptp-status.ptp-clock-class-change',
    dataType: 'metric',
    valueOf: (status) => status.ptp.clockClass,
  },
  {
    path: '/sync/gnss-status/gnss-sync-status',
    type: 'event.sync.gnss-status.gnss-state-change',
    dataType: 'notification',
    valueOf: (status) => status.gnss,
  },
  {
    path: '/sync/synce-status/lock-state',
    type: 'event.sync.synce-status.synce-state-change',
    dataType: 'notification',
    valueOf: (status) => status.synce,
  },
];

/** A parsed resource address; `path` is `/sync` or longer. */
export interface ResourceAddress {
  cluster: string;
  node: string;
  path: string;
}

/** One entry of an event's `data.values`. */
interface EventValue {
  ResourceAddress: string;
  data_type: DataType;
  value_type: 'enumeration' | 'metric';
  value: string | number;
}

/** A CloudEvents 1.0 event in JSON (structured) form. */
export interface OranEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  data: { version: '1.0'; values: EventValue[] };
}

/** One resource's current value on one node. */
export interface ResourceValue {
  address: string;
  /** The resource path below the node. */
  path: string;
  type: string;
  dataType: DataType;
  value: string | number;
}

const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$/;

/** Parses and checks a resource address; throws invalid_input saying what a good one looks like. */
export function parseResourceAddress(text: string, cluster: string): ResourceAddress {
  const example = `/${cluster}/controller-0/sync/ptp-status/lock-state`;
  const fail = (why: string) =>
    invalidInput('ResourceAddress', `resource address "${text}" ${why}; use the form "${example}"`);
  if (!text.startsWith('/')) throw fail('must start with "/"');
  const segments = text.slice(1).split('/');
  const [clusterName, node, ...rest] = segments;
  if (clusterName !== cluster) throw fail(`names cluster "${clusterName}", but this cluster is "${cluster}"`);
  if (node === undefined || !NODE_NAME.test(node)) throw fail('has no valid node name');
  if (rest[0] !== 'sync') {
    throw fail(
      rest.includes('sync')
        ? 'names an instance; instance addresses are not supported'
        : 'has no "/sync" part',
    );
  }
  const path = `/${rest.join('/')}`;
  const isKnown = path === '/sync' || RESOURCES.some((r) => r.path === path || r.path.startsWith(`${path}/`));
  if (!isKnown) throw fail(`names an unknown resource "${path}"`);
  return { cluster, node, path };
}

/** The address text of a parsed address. */
function formatResourceAddress(address: ResourceAddress): string {
  return `/${address.cluster}/${address.node}${address.path}`;
}

/** Whether a subscription's address covers a resource (same node; equal path or a path above it). */
export function isCoveredBy(resource: ResourceAddress, subscription: ResourceAddress): boolean {
  return (
    resource.node === subscription.node &&
    (resource.path === subscription.path || resource.path.startsWith(`${subscription.path}/`))
  );
}

/** Every resource with data on a node, with its value. */
export function resourceValues(status: NodeSyncStatus, cluster: string): ResourceValue[] {
  const values: ResourceValue[] = [];
  for (const kind of RESOURCES) {
    const value = kind.valueOf(status);
    if (value === undefined) continue;
    const address = formatResourceAddress({ cluster, node: status.node, path: kind.path });
    values.push({ address, path: kind.path, type: kind.type, dataType: kind.dataType, value });
  }
  return values;
}

/** The resources whose value differs from the previous status (all of them for a new node). */
export function changedValues(
  status: NodeSyncStatus,
  previous: NodeSyncStatus | undefined,
  cluster: string,
): ResourceValue[] {
  const before = new Map(
    (previous === undefined ? [] : resourceValues(previous, cluster)).map((v) => [v.address, v.value]),
  );
  return resourceValues(status, cluster).filter((value) => before.get(value.address) !== value.value);
}

/** The CloudEvent announcing one resource's value. */
export function buildEvent(value: ResourceValue, options: { id: string; time: Date }): OranEvent {
  return {
    specversion: '1.0',
    id: options.id,
    // StarlingX puts the resource path (without cluster and node) in `source`; the full address is in the values.
    source: value.path,
    type: value.type,
    time: options.time.toISOString(),
    data: {
      version: '1.0',
      values: [
        {
          ResourceAddress: value.address,
          data_type: value.dataType,
          value_type: value.dataType === 'metric' ? 'metric' : 'enumeration',
          value: value.value,
        },
      ],
    },
  };
}

const SEVERITY: Record<SyncState, number> = { LOCKED: 0, HOLDOVER: 1, FREERUN: 2 };

/**
 * The node's overall sync-state: the worst of its PTP, OS clock, GNSS and SyncE states, as StarlingX's
 * tracking combines them (a GNSS receiver that is not synchronized counts as FREERUN).
 */
function overallState(status: NodeSyncStatus): SyncState {
  const states: SyncState[] = [status.ptp.state];
  if (status.osClock !== undefined) states.push(status.osClock);
  if (status.synce !== undefined) states.push(status.synce);
  if (status.gnss !== undefined) states.push(status.gnss === 'SYNCHRONIZED' ? 'LOCKED' : 'FREERUN');
  return states.reduce((worst, state) => (SEVERITY[state] > SEVERITY[worst] ? state : worst));
}
