import { AppError } from '../core/errors.js';

/**
 * Fault management model (StarlingX FM). An active alarm is identified by (alarmId, entityInstanceId).
 * Raising an active alarm again updates its severity, reason and timestamp and keeps its uuid; clearing
 * is idempotent. Every set and clear is also an event-log record; catalog entries of type `log` go only
 * to the event log (state `log`).
 */

/** Alarm severities, most severe first (StarlingX ranks critical > major > minor > warning). */
export const SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A catalog threshold: the least severe severity that still counts, or `none`. */
export type SeverityThreshold = Severity | 'none';

/** Event-log states: an alarm was set or cleared, or a customer log was written. */
export const EVENT_STATES = ['set', 'clear', 'log'] as const;
export type EventState = (typeof EVENT_STATES)[number];

/** X.733-style alarm types (StarlingX fm_api constants). */
export const ALARM_TYPES = [
  'other',
  'communication',
  'qos',
  'processing-error',
  'equipment',
  'environmental',
  'integrity-violation',
  'operational-violation',
  'physical-violation',
  'security-service-or-mechanism-violation',
  'time-domain-violation',
  'deployment-in-progress',
] as const;
type AlarmType = (typeof ALARM_TYPES)[number];

/** One entry of the alarm catalog (src/fault/catalog.json). */
export interface CatalogEntry {
  /** `NNN.NNN`, e.g. `100.101`. */
  id: string;
  /** `alarm` entries are raised and cleared; `log` entries only go to the event log. */
  kind: 'alarm' | 'log';
  description: string;
  /** Entity type, e.g. `host`, `subcloud`, `certificate`. */
  entityType: string;
  /** How the entity instance id is formed, e.g. `host=<hostname>.filesystem=<mount>`. */
  entityInstanceFormat: string;
  severities: Severity[];
  alarmType: AlarmType;
  probableCause: string;
  proposedRepairAction: string;
  isServiceAffecting: boolean;
  isSuppressible: boolean;
  mgmtAffectingSeverity: SeverityThreshold;
  degradeAffectingSeverity: SeverityThreshold;
}

/** An active alarm. */
export interface Alarm {
  uuid: string;
  alarmId: string;
  entityTypeId: string;
  entityInstanceId: string;
  severity: Severity;
  reasonText: string;
  /** When this (alarmId, entityInstanceId) was first raised. */
  raisedAt: string;
  /** When it was last raised or updated. */
  timestamp: string;
}

/** One event-log record. */
export interface EventRecord {
  seq: number;
  uuid: string;
  eventId: string;
  state: EventState;
  entityTypeId: string;
  entityInstanceId: string;
  severity: Severity | 'clear';
  reasonText: string;
  timestamp: string;
}

/** Counts of active alarms by severity and the overall status. */
export interface AlarmSummary {
  critical: number;
  major: number;
  minor: number;
  warning: number;
  status: 'OK' | 'degraded' | 'critical';
}

const RANK: Record<Severity, number> = { critical: 0, major: 1, minor: 2, warning: 3 };

/** 0 for critical … 3 for warning: sorts most severe first. */
export function severityRank(severity: Severity): number {
  return RANK[severity];
}

/** True when `severity` is at least as severe as the threshold (`none` never is). */
export function meetsThreshold(severity: Severity, threshold: SeverityThreshold): boolean {
  return threshold !== 'none' && RANK[severity] <= RANK[threshold];
}

/** StarlingX summary status: critical if any critical; degraded if any major or minor; else OK. */
export function summaryStatus(counts: Omit<AlarmSummary, 'status'>): AlarmSummary['status'] {
  if (counts.critical > 0) return 'critical';
  if (counts.major > 0 || counts.minor > 0) return 'degraded';
  return 'OK';
}

/** The key of an active alarm. */
export function alarmKey(alarmId: string, entityInstanceId: string): string {
  return `${alarmId}\u0000${entityInstanceId}`;
}

/** The entity type of an instance id: the type of its first `type=value` pair (`host=a.port=b` → `host`). */
export function entityTypeOf(entityInstanceId: string): string {
  return entityInstanceId.split('=')[0] ?? '';
}

/**
 * Checks an entity instance id: `.`-joined parts, each `type=value` or a bare name, as StarlingX forms
 * them (`host=controller-0.port=eth0`, `system.certificate.mode=ssl.uuid=…`; values may hold `.` as in
 * `host=controller-0.ntp=10.0.0.1`). At most 255 characters, no white space.
 */
export function validateEntityInstanceId(value: string): void {
  if (
    value.length === 0 ||
    value.length > 255 ||
    !/^[A-Za-z0-9_-]+[.=]/.test(value) ||
    /\s/.test(value) ||
    value.includes('\u0000')
  ) {
    throw new AppError(
      'invalid_input',
      `entity instance id "${value}" must be type=value pairs joined by "." (e.g. host=controller-0.port=eth0), at most 255 characters`,
      { field: 'entityInstanceId' },
    );
  }
}

/** Throws `invalid_input` unless the catalog entry allows the severity. */
export function validateSeverity(entry: CatalogEntry, severity: Severity): void {
  if (!entry.severities.includes(severity)) {
    throw new AppError(
      'invalid_input',
      `alarm ${entry.id} does not allow severity "${severity}"; the catalog allows ${entry.severities.join(', ')}`,
      { field: 'severity', allowed: entry.severities },
    );
  }
}

/** An active alarm in a list: the stored alarm and its derived flags. */
export interface AlarmListItem extends Alarm {
  isSuppressed: boolean;
  isMgmtAffecting: boolean;
  isDegradeAffecting: boolean;
}

/** An active alarm in full (show, stream, `expand=true` lists): the list item plus its catalog facts. */
export interface AlarmView extends AlarmListItem {
  alarmType: AlarmType;
  probableCause: string;
  proposedRepairAction: string;
  isServiceAffecting: boolean;
}

/** What happened to an active alarm; published after the change is committed. */
export interface AlarmChange {
  kind: 'raised' | 'updated' | 'cleared';
  /** The event-log record of this change: a stable id for at-least-once consumers. */
  eventSeq: number;
  eventUuid: string;
  alarm: AlarmView;
}
