import type { RaiseInput } from '../fault/service.js';
import {
  type AlarmCounts,
  type EndpointDigest,
  SYNC_ENDPOINTS,
  type SyncEndpoint,
  type SyncStatus,
} from './uplink-protocol.js';

/**
 * Distributed-cloud rules as pure functions: subcloud names, availability, per-endpoint and overall
 * sync status, cloud status from alarm counts, which 280.x alarms a subcloud should have, and subcloud
 * groups. StarlingX facts: dcmanager's state manager and alarm aggregation (reference §1).
 *
 * Availability (`online | offline`):
 * - new subclouds are offline; the first digest on a connection makes it online;
 * - a closed uplink starts a grace period; still disconnected when it ends → offline;
 * - a ping timeout (two unanswered pings) → offline at once.
 * Going offline sets every endpoint to `unknown`; for managed subclouds it raises 280.001.
 */

export const MANAGEMENT_STATES = ['managed', 'unmanaged'] as const;
export type ManagementState = (typeof MANAGEMENT_STATES)[number];
export const AVAILABILITY_STATES = ['online', 'offline'] as const;
export type AvailabilityState = (typeof AVAILABILITY_STATES)[number];
/** `not-deployed` until the subcloud's first digest, then `complete` (StarlingX's deploy phases are not modelled). */
const DEPLOY_STATUSES = ['not-deployed', 'complete'] as const;
export type DeployStatus = (typeof DEPLOY_STATUSES)[number];
const CLOUD_STATUSES = ['OK', 'degraded', 'critical', 'disabled'] as const;
export type CloudStatus = (typeof CLOUD_STATUSES)[number];
export const UPDATE_APPLY_TYPES = ['serial', 'parallel'] as const;
export type UpdateApplyType = (typeof UPDATE_APPLY_TYPES)[number];

/** The group every subcloud belongs to unless told otherwise (StarlingX: id 1, parallel, max 2). */
export const DEFAULT_GROUP = {
  name: 'Default',
  description: 'Default Subcloud Group',
  updateApplyType: 'parallel',
  maxParallelSubclouds: 2,
} as const;
export const MAX_PARALLEL_SUBCLOUDS = 5000;

/** Alarm ids the distributed cloud raises. */
const DC_ALARMS = { offline: '280.001', outOfSync: '280.002' } as const;

/** A refused change: the error code for the edges and a sentence that says what to do. */
export interface Refusal {
  code: 'invalid_input' | 'conflict' | 'precondition_failed';
  reason: string;
  field?: string;
}

const SUBCLOUD_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Subcloud names are like host names (they become certificate CNs and alarm entity values). */
export function checkSubcloudName(name: string): Refusal | undefined {
  if (SUBCLOUD_NAME.test(name)) return undefined;
  return {
    code: 'invalid_input',
    field: 'name',
    reason: `"${name}" is not a valid subcloud name: lowercase letters, digits and "-", at most 63 characters`,
  };
}

export type EndpointStatuses = Record<SyncEndpoint, SyncStatus>;

/** Every endpoint unknown: a new subcloud, or one that went offline. */
export function unknownEndpoints(): EndpointStatuses {
  return Object.fromEntries(SYNC_ENDPOINTS.map((endpoint) => [endpoint, 'unknown'])) as EndpointStatuses;
}

/** What moves availability: a digest, a closed uplink, its grace period ending, or a ping timeout. */
export type AvailabilityEvent = 'digest' | 'closed' | 'grace-expired' | 'ping-timeout';

/** Availability after an event; a closed uplink changes nothing until its grace period ends. */
export function availabilityAfter(current: AvailabilityState, event: AvailabilityEvent): AvailabilityState {
  switch (event) {
    case 'digest':
      return 'online';
    case 'closed':
      return current;
    case 'grace-expired':
    case 'ping-timeout':
      return 'offline';
  }
}

/**
 * One endpoint's status from what the subcloud reported. dc-cert: in-sync while the uplink
 * certificate's notAfter is more than `renewBeforeMs` away. Others: in-sync iff the reported revision
 * equals the desired one. Nothing reported (or no desired revision yet) → unknown.
 */
export function endpointStatus(input: {
  endpoint: SyncEndpoint;
  reported: EndpointDigest | undefined;
  desiredRevision: string | undefined;
  nowMs: number;
  renewBeforeMs: number;
}): SyncStatus {
  const { endpoint, reported } = input;
  if (!reported) return 'unknown';
  if (endpoint === 'dc-cert') {
    const notAfter = reported.notAfter === undefined ? Number.NaN : Date.parse(reported.notAfter);
    if (Number.isNaN(notAfter)) return 'unknown';
    return notAfter - input.nowMs > input.renewBeforeMs ? 'in-sync' : 'out-of-sync';
  }
  if (input.desiredRevision === undefined) return 'unknown';
  return reported.revision === input.desiredRevision ? 'in-sync' : 'out-of-sync';
}

/** Overall sync status: unknown when offline or all unknown; out-of-sync if any endpoint is; else in-sync. */
export function overallSyncStatus(availability: AvailabilityState, endpoints: EndpointStatuses): SyncStatus {
  if (availability === 'offline') return 'unknown';
  // A loop, not Object.values(): list filters call this for every subcloud.
  let isAllUnknown = true;
  for (const endpoint of SYNC_ENDPOINTS) {
    const status = endpoints[endpoint];
    if (status === 'out-of-sync') return 'out-of-sync';
    if (status !== 'unknown') isAllUnknown = false;
  }
  return isAllUnknown ? 'unknown' : 'in-sync';
}

/** StarlingX alarm aggregation: critical if any critical; degraded if any major or minor; offline → disabled. */
export function cloudStatus(availability: AvailabilityState, alarms: AlarmCounts | null): CloudStatus {
  if (availability === 'offline' || alarms === null) return 'disabled';
  if (alarms.critical > 0) return 'critical';
  if (alarms.major > 0 || alarms.minor > 0) return 'degraded';
  return 'OK';
}

function subcloudEntity(name: string): string {
  return `subcloud=${name}`;
}

function endpointEntity(name: string, endpoint: SyncEndpoint): string {
  return `${subcloudEntity(name)}.resource=${endpoint}`;
}

/** Every alarm (id, entity) this domain may hold for a subcloud. */
export function possibleAlarms(name: string): { alarmId: string; entityInstanceId: string }[] {
  return [
    { alarmId: DC_ALARMS.offline, entityInstanceId: subcloudEntity(name) },
    ...SYNC_ENDPOINTS.map((endpoint) => ({
      alarmId: DC_ALARMS.outOfSync,
      entityInstanceId: endpointEntity(name, endpoint),
    })),
  ];
}

/**
 * The 280.x alarms a subcloud should have right now: none when unmanaged; 280.001 when offline;
 * 280.002 per out-of-sync endpoint (unknown endpoints clear it).
 */
export function wantedAlarms(subcloud: {
  name: string;
  management: ManagementState;
  availability: AvailabilityState;
  endpoints: EndpointStatuses;
}): RaiseInput[] {
  const { name } = subcloud;
  if (subcloud.management === 'unmanaged') return [];
  if (subcloud.availability === 'offline') {
    return [
      {
        alarmId: DC_ALARMS.offline,
        entityInstanceId: subcloudEntity(name),
        severity: 'critical',
        reasonText: `${name} is offline`,
      },
    ];
  }
  return SYNC_ENDPOINTS.filter((endpoint) => subcloud.endpoints[endpoint] === 'out-of-sync').map(
    (endpoint) => ({
      alarmId: DC_ALARMS.outOfSync,
      entityInstanceId: endpointEntity(name, endpoint),
      severity: 'major',
      reasonText: `${name} ${endpoint} sync_status is out-of-sync`,
    }),
  );
}

/** Whether a management change is allowed: it must actually change something. */
export function checkManagementChange(
  name: string,
  current: ManagementState,
  target: ManagementState,
): Refusal | undefined {
  if (current !== target) return undefined;
  return { code: 'conflict', reason: `subcloud "${name}" is already ${target}` };
}

/** Delete needs an unmanaged subcloud unless forced. */
export function checkSubcloudDelete(
  name: string,
  management: ManagementState,
  force: boolean,
): Refusal | undefined {
  if (management === 'unmanaged' || force) return undefined;
  return {
    code: 'precondition_failed',
    reason: `subcloud "${name}" is managed: unmanage it first ("murm subcloud unmanage ${name}"), or delete with --force`,
  };
}

export interface GroupSettings {
  description: string;
  updateApplyType: UpdateApplyType;
  maxParallelSubclouds: number;
}

/** Validates a group's name (on create) and settings; StarlingX: name ≤ 255, max parallel 1..5000. */
export function checkGroup(group: {
  name?: string | undefined;
  description?: string | undefined;
  updateApplyType?: string | undefined;
  maxParallelSubclouds?: number | undefined;
}): Refusal | undefined {
  if (group.name !== undefined && (group.name.trim().length === 0 || group.name.length > 255)) {
    return { code: 'invalid_input', field: 'name', reason: 'a group name is 1 to 255 characters' };
  }
  if (group.name !== undefined && /^\d+$/.test(group.name)) {
    // StarlingX looks groups up by id or name, so an all-digit name would be ambiguous.
    return {
      code: 'invalid_input',
      field: 'name',
      reason: `group name "${group.name}" must not be all digits`,
    };
  }
  if (group.description !== undefined && group.description.length > 255) {
    return {
      code: 'invalid_input',
      field: 'description',
      reason: 'a group description is at most 255 characters',
    };
  }
  if (
    group.updateApplyType !== undefined &&
    !(UPDATE_APPLY_TYPES as readonly string[]).includes(group.updateApplyType)
  ) {
    return {
      code: 'invalid_input',
      field: 'updateApplyType',
      reason: `update apply type "${group.updateApplyType}" is not one of ${UPDATE_APPLY_TYPES.join(', ')}`,
    };
  }
  const max = group.maxParallelSubclouds;
  if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > MAX_PARALLEL_SUBCLOUDS)) {
    return {
      code: 'invalid_input',
      field: 'maxParallelSubclouds',
      reason: `max parallel subclouds must be an integer from 1 to ${MAX_PARALLEL_SUBCLOUDS}`,
    };
  }
  return undefined;
}

/** The Default group cannot be deleted, nor a group that still has subclouds. */
export function checkGroupDelete(name: string, members: number): Refusal | undefined {
  if (name === DEFAULT_GROUP.name) {
    return { code: 'precondition_failed', reason: 'the Default group cannot be deleted' };
  }
  if (members > 0) {
    return {
      code: 'precondition_failed',
      reason: `group "${name}" still has ${members} subcloud(s); move them to another group before deleting it`,
    };
  }
  return undefined;
}
