import assert from 'node:assert/strict';
import type { Severity } from '../fault/model.js';
import type { PmcSnapshot } from './pmc.js';

/**
 * Sync state of one ptp4l instance, derived from successive pmc snapshots as StarlingX's PTP tracking
 * does (ptp_monitor.py / ptpsync.py), with time passed in so tests move it:
 * - `LOCKED`: the source is good. A port is SLAVE with a Sync lately (ingress_time ≠ 0), the
 *   grandmaster's class is in `lockedClockClasses` and |master_offset| ≤ `majorToleranceNs`; or the
 *   instance is itself the grandmaster (gmIdentity = own clockIdentity, a port MASTER) and advertises a
 *   class in `lockedClockClasses`, i.e. it is locked to its own source (GNSS).
 * - `HOLDOVER`: the source was lost while LOCKED; lasts `holdoverSeconds`, then `FREERUN`.
 * - `FREERUN`: never locked, or holdover ran out.
 * A good source moves HOLDOVER or FREERUN back to LOCKED at once.
 */
const SYNC_STATES = ['LOCKED', 'HOLDOVER', 'FREERUN'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

/** Legal edges; LOCKED → FREERUN only when holdoverSeconds is 0. */
const TRANSITIONS: Record<SyncState, readonly SyncState[]> = {
  LOCKED: ['HOLDOVER', 'FREERUN'],
  HOLDOVER: ['LOCKED', 'FREERUN'],
  FREERUN: ['LOCKED'],
};

export interface SyncStateOptions {
  hostname: string;
  /** The ptp4l instance name, as in `host=<h>.instance=<i>.ptp`. */
  instance: string;
  /** How long HOLDOVER lasts before FREERUN. */
  holdoverSeconds: number;
  /** |master_offset| above this raises 100.119 out-of-tolerance (minor). */
  toleranceNs: number;
  /** |master_offset| above this raises it major and no longer counts as locked. */
  majorToleranceNs: number;
  /** Grandmaster clock classes that count as locked. */
  lockedClockClasses: readonly number[];
}

/**
 * StarlingX defaults: holdover 30 s (ptp-notification tracking DEFAULT_HOLDOVER_SECONDS), out of
 * tolerance minor above 1000 ns and major above 1 ms (collectd ptp plugin; ptpsync also leaves LOCKED
 * above 1 ms), locked classes 6, 7, 135 (ptp4lClockClassLockedList).
 */
export const DEFAULT_SYNC_OPTIONS = {
  holdoverSeconds: 30,
  toleranceNs: 1_000,
  majorToleranceNs: 1_000_000,
  lockedClockClasses: [6, 7, 135],
} as const satisfies Omit<SyncStateOptions, 'hostname' | 'instance'>;

/** G.8275.1 clock classes this instance passes on while not LOCKED. */
const HOLDOVER_CLOCK_CLASS = 7;
const FREERUN_CLOCK_CLASS = 248;

/** A 100.119 alarm that should be active; anything not listed should be cleared. */
interface PtpAlarm {
  alarmId: '100.119';
  entityTypeId: 'host';
  entityInstanceId: string;
  severity: Severity;
  reasonText: string;
}

/** One poll: the snapshot, or undefined when ptp4l did not answer (not running). */
export interface PtpObservation {
  at: Date;
  snapshot: PmcSnapshot | undefined;
}

export interface PtpSyncStatus {
  state: SyncState;
  /** When `state` was entered. */
  since: Date;
  /** Time of the observation this status came from. */
  observedAt: Date;
  isRunning: boolean;
  /** `ptp` when a port is SLAVE, `local` when this instance is the grandmaster. */
  source: 'ptp' | 'local' | 'none';
  /** The class this instance passes on: the grandmaster's while LOCKED, 7 in HOLDOVER, 248 in FREERUN. */
  clockClass: number;
  /** Last measured master_offset while a port is SLAVE. */
  offsetNs: number | undefined;
  gmIdentity: string | undefined;
  alarms: PtpAlarm[];
}

/** The status before the first observation: FREERUN, nothing known, no alarms. */
export function initialSyncStatus(at: Date): PtpSyncStatus {
  return {
    state: 'FREERUN',
    since: at,
    observedAt: at,
    isRunning: false,
    source: 'none',
    clockClass: FREERUN_CLOCK_CLASS,
    offsetNs: undefined,
    gmIdentity: undefined,
    alarms: [],
  };
}

/** Folds one observation into the status; pure. */
export function nextSyncStatus(
  previous: PtpSyncStatus,
  observation: PtpObservation,
  options: SyncStateOptions,
): PtpSyncStatus {
  const source = assessSource(observation.snapshot, options);
  const state = nextState(previous, source.isGood, observation.at, options.holdoverSeconds);
  if (state !== previous.state) {
    assert.ok(
      TRANSITIONS[previous.state].includes(state),
      `illegal PTP transition ${previous.state} → ${state}`,
    );
  }
  const status: Omit<PtpSyncStatus, 'alarms'> = {
    state,
    since: state === previous.state ? previous.since : observation.at,
    observedAt: observation.at,
    isRunning: observation.snapshot !== undefined,
    source: source.kind,
    clockClass: clockClassFor(state, source.clockClass),
    offsetNs: source.offsetNs,
    gmIdentity: source.gmIdentity,
  };
  return { ...status, alarms: alarmsFor(status, options) };
}

function nextState(previous: PtpSyncStatus, isGood: boolean, at: Date, holdoverSeconds: number): SyncState {
  if (isGood) return 'LOCKED';
  const entered = previous.state === 'LOCKED' ? at : previous.since;
  const isHoldoverOver = at.getTime() - entered.getTime() >= holdoverSeconds * 1000;
  if (previous.state === 'FREERUN') return 'FREERUN';
  return isHoldoverOver ? 'FREERUN' : 'HOLDOVER';
}

interface SourceAssessment {
  isGood: boolean;
  kind: PtpSyncStatus['source'];
  clockClass: number;
  offsetNs: number | undefined;
  gmIdentity: string | undefined;
}

function assessSource(snapshot: PmcSnapshot | undefined, options: SyncStateOptions): SourceAssessment {
  if (snapshot === undefined) {
    return {
      isGood: false,
      kind: 'none',
      clockClass: FREERUN_CLOCK_CLASS,
      offsetNs: undefined,
      gmIdentity: undefined,
    };
  }
  const { ports, timeStatus, parent, grandmasterSettings, defaultDataSet } = snapshot;
  const isLocalGm =
    timeStatus.gmIdentity === defaultDataSet.clockIdentity &&
    ports.some((port) => port.portState === 'MASTER' || port.portState === 'GRAND_MASTER');
  if (isLocalGm) {
    const clockClass = grandmasterSettings.clockClass;
    return {
      isGood: options.lockedClockClasses.includes(clockClass),
      kind: 'local',
      clockClass,
      offsetNs: undefined,
      gmIdentity: defaultDataSet.clockIdentity,
    };
  }
  // gmPresent and PARENT_DATA_SET stay stale after the GM goes away; SLAVE plus a recent Sync does not.
  const isSlave = ports.some((port) => port.portState === 'SLAVE') && timeStatus.ingressTimeNs !== 0n;
  if (!isSlave) {
    return {
      isGood: false,
      kind: 'none',
      clockClass: FREERUN_CLOCK_CLASS,
      offsetNs: undefined,
      gmIdentity: undefined,
    };
  }
  const offsetNs = timeStatus.masterOffsetNs;
  return {
    isGood:
      options.lockedClockClasses.includes(parent.gmClockClass) &&
      Math.abs(offsetNs) <= options.majorToleranceNs,
    kind: 'ptp',
    clockClass: parent.gmClockClass,
    offsetNs,
    gmIdentity: parent.grandmasterIdentity,
  };
}

function clockClassFor(state: SyncState, sourceClass: number): number {
  if (state === 'LOCKED') return sourceClass;
  return state === 'HOLDOVER' ? HOLDOVER_CLOCK_CLASS : FREERUN_CLOCK_CLASS;
}

/**
 * The 100.119 alarms of one ptp4l instance (StarlingX collectd ptp plugin): `…ptp` major when ptp4l does
 * not answer (and then nothing else, the other conditions are unknown), `…ptp=no-lock` major while not
 * LOCKED, `…ptp=out-of-tolerance` minor/major while a port is SLAVE with the offset beyond tolerance.
 */
function alarmsFor(status: Omit<PtpSyncStatus, 'alarms'>, options: SyncStateOptions): PtpAlarm[] {
  const entity = `host=${options.hostname}.instance=${options.instance}.ptp`;
  const name = `"${options.instance}" on "${options.hostname}"`;
  if (!status.isRunning) {
    return [
      alarm(entity, 'major', `PTP instance ${name} is not running; check the ptp4l service and its log`),
    ];
  }
  const alarms: PtpAlarm[] = [];
  if (status.state !== 'LOCKED') {
    const reason = `PTP instance ${name} is not locked to a primary reference clock (${status.state})`;
    alarms.push(alarm(`${entity}=no-lock`, 'major', reason));
  }
  const offset = Math.abs(status.offsetNs ?? 0);
  if (status.source === 'ptp' && offset > options.toleranceNs) {
    const severity = offset > options.majorToleranceNs ? 'major' : 'minor';
    const reason = `PTP instance ${name} clocking is out of tolerance: offset ${status.offsetNs} ns`;
    alarms.push(alarm(`${entity}=out-of-tolerance`, severity, reason));
  }
  return alarms;
}

function alarm(entityInstanceId: string, severity: Severity, reasonText: string): PtpAlarm {
  return { alarmId: '100.119', entityTypeId: 'host', entityInstanceId, severity, reasonText };
}

/** Whether `next` differs from `previous` in what subscribers and the controller act on (not in offset or poll time). */
export function isSyncStatusChange(previous: PtpSyncStatus, next: PtpSyncStatus): boolean {
  return (
    previous.state !== next.state ||
    previous.clockClass !== next.clockClass ||
    previous.source !== next.source ||
    previous.isRunning !== next.isRunning ||
    alarmKey(previous) !== alarmKey(next)
  );
}

function alarmKey(status: PtpSyncStatus): string {
  return status.alarms.map((alarm) => `${alarm.entityInstanceId}:${alarm.severity}`).join(',');
}
