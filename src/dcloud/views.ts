import {
  type AvailabilityState,
  type CloudStatus,
  cloudStatus,
  type DeployStatus,
  type ManagementState,
  overallSyncStatus,
} from './model.js';
import type { SubcloudRecord } from './store.js';
import { type AlarmCounts, SYNC_ENDPOINTS, type SyncEndpoint, type SyncStatus } from './uplink-protocol.js';

/** A subcloud as lists show it. */
export interface SubcloudView {
  name: string;
  description: string;
  location: string;
  group: string;
  management: ManagementState;
  availability: AvailabilityState;
  deployStatus: DeployStatus;
  syncStatus: SyncStatus;
  cloudStatus: CloudStatus;
  softwareVersion: string | null;
  lastSeenAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One subcloud in full: its endpoints' sync status and alarm counts (null while offline). */
export interface SubcloudDetail extends SubcloudView {
  endpoints: { endpoint: SyncEndpoint; syncStatus: SyncStatus }[];
  alarms: AlarmCounts | null;
}

export interface AlarmSummaryItem {
  name: string;
  critical: number | null;
  major: number | null;
  minor: number | null;
  warning: number | null;
  cloudStatus: CloudStatus;
}

export interface AlarmSummary {
  items: AlarmSummaryItem[];
  /** Alarm counts summed over the subclouds that report them, and how many subclouds have each cloud status. */
  totals: AlarmCounts & { cloudStatus: Record<CloudStatus, number> };
}

export function toView(subcloud: SubcloudRecord): SubcloudView {
  return {
    name: subcloud.name,
    description: subcloud.description,
    location: subcloud.location,
    group: subcloud.group,
    management: subcloud.management,
    availability: subcloud.availability,
    deployStatus: subcloud.deployStatus,
    syncStatus: overallSyncStatus(subcloud.availability, subcloud.endpoints),
    cloudStatus: cloudStatus(subcloud.availability, subcloud.alarms),
    softwareVersion: subcloud.softwareVersion,
    lastSeenAt: subcloud.lastSeenAt,
    createdAt: subcloud.createdAt,
    updatedAt: subcloud.updatedAt,
  };
}

export function toDetail(subcloud: SubcloudRecord): SubcloudDetail {
  const isOffline = subcloud.availability === 'offline';
  return {
    ...toView(subcloud),
    endpoints: SYNC_ENDPOINTS.map((endpoint) => ({ endpoint, syncStatus: subcloud.endpoints[endpoint] })),
    alarms: isOffline || subcloud.alarms === null ? null : { ...subcloud.alarms },
  };
}

/** StarlingX's alarm aggregation over subclouds sorted by name; offline ones count as `disabled`. */
export function alarmSummary(subclouds: readonly SubcloudRecord[]): AlarmSummary {
  const totals: AlarmSummary['totals'] = {
    critical: 0,
    major: 0,
    minor: 0,
    warning: 0,
    cloudStatus: { OK: 0, degraded: 0, critical: 0, disabled: 0 },
  };
  const items = subclouds.map((subcloud): AlarmSummaryItem => {
    const status = cloudStatus(subcloud.availability, subcloud.alarms);
    totals.cloudStatus[status] += 1;
    const counts = status === 'disabled' ? null : subcloud.alarms;
    if (counts) {
      totals.critical += counts.critical;
      totals.major += counts.major;
      totals.minor += counts.minor;
      totals.warning += counts.warning;
    }
    return {
      name: subcloud.name,
      critical: counts?.critical ?? null,
      major: counts?.major ?? null,
      minor: counts?.minor ?? null,
      warning: counts?.warning ?? null,
      cloudStatus: status,
    };
  });
  return { items, totals };
}
