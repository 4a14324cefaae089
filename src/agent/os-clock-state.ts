import assert from 'node:assert/strict';
import type { Severity } from '../fault/model.js';
import type { OsClockPayload } from '../inventory/agent-protocol.js';
import {
  DEFAULT_SYNC_OPTIONS,
  initialSyncStatus,
  type PtpSyncStatus,
  type SyncState,
} from '../ptp/sync-state.js';

/**
 * The O-RAN os-clock-sync-state of the system clock one phc2sys instance disciplines, folded from
 * successive observations with time passed in (as StarlingX's OsClockMonitor judges it):
 * - `LOCKED`: phc2sys runs, one of the ptp4l instances it follows is LOCKED (the source in use), and
 *   the PHC of that source's interface is TAI−UTC (`taiUtcOffsetSeconds`, 37 s) away from
 *   CLOCK_REALTIME within `toleranceNs` (1000 ns, StarlingX's phc2sys tolerance), i.e. phc2sys has
 *   brought the system clock onto the PHC.
 * - `HOLDOVER`: that stopped being true while LOCKED; lasts `holdoverSeconds`, then `FREERUN`.
 * - `FREERUN`: never locked, or holdover ran out.
 * The edges are sync-state.ts's: a good observation moves HOLDOVER or FREERUN back to LOCKED at once.
 */
export interface OsClockOptions {
  hostname: string;
  /** The phc2sys instance name. */
  instance: string;
  holdoverSeconds: number;
  /** |offset − TAI−UTC| above this is out of tolerance (minor) and not locked. */
  toleranceNs: number;
  /** |offset − TAI−UTC| above this raises out-of-tolerance major. */
  majorToleranceNs: number;
  /** What the PHC (on TAI, as ptp4l keeps it) is expected to be ahead of CLOCK_REALTIME (UTC). */
  taiUtcOffsetSeconds: number;
}

/** Holdover and major tolerance as for ptp4l (sync-state.ts), 1000 ns and 37 s per StarlingX. */
export const DEFAULT_OS_CLOCK_OPTIONS = {
  holdoverSeconds: DEFAULT_SYNC_OPTIONS.holdoverSeconds,
  toleranceNs: 1_000,
  majorToleranceNs: DEFAULT_SYNC_OPTIONS.majorToleranceNs,
  taiUtcOffsetSeconds: 37,
} as const satisfies Omit<OsClockOptions, 'hostname' | 'instance'>;

const TRANSITIONS: Record<SyncState, readonly SyncState[]> = {
  LOCKED: ['HOLDOVER', 'FREERUN'],
  HOLDOVER: ['LOCKED', 'FREERUN'],
  FREERUN: ['LOCKED'],
};
const HOLDOVER_CLOCK_CLASS = 7;
const FREERUN_CLOCK_CLASS = 248;

/** The result of `PhcReader.compare` on the source's interface. */
type PhcReading = { interface: string; offsetNs: number } | { interface: string; error: string };

export interface OsClockObservation {
  at: Date;
  /** Whether a phc2sys process runs with this instance's configuration (phc2sys-process.ts). */
  isRunning: boolean;
  /** The ptp4l instances the phc2sys instance follows, in failover order. */
  followed: readonly string[];
  /** The followed instance in use: the first LOCKED one, with its status; undefined when none is. */
  source: { instance: string; status: PtpSyncStatus } | undefined;
  /** The PHC comparison; undefined when it was not read (phc2sys not running, nothing to read). */
  phc: PhcReading | undefined;
}

/** A phc2sys instance's status: `PtpSyncStatus` (what travels and is published) plus its details. */
export interface OsClockStatus extends PtpSyncStatus {
  osClock: OsClockPayload;
}

/** FREERUN, nothing known, no alarms. */
export function initialOsClockStatus(at: Date): OsClockStatus {
  return { ...initialSyncStatus(at), osClock: {} };
}

/** Folds one observation into the status; pure. */
export function nextOsClockStatus(
  previous: OsClockStatus,
  observation: OsClockObservation,
  options: OsClockOptions,
): OsClockStatus {
  const { phc, source } = observation;
  const deviationNs =
    phc !== undefined && 'offsetNs' in phc
      ? Math.abs(phc.offsetNs) - options.taiUtcOffsetSeconds * 1_000_000_000
      : undefined;
  const isGood =
    observation.isRunning &&
    source !== undefined &&
    deviationNs !== undefined &&
    Math.abs(deviationNs) <= options.toleranceNs;
  const state = nextState(previous, isGood, observation.at, options.holdoverSeconds);
  if (state !== previous.state) {
    assert.ok(TRANSITIONS[previous.state].includes(state), `illegal transition ${previous.state} → ${state}`);
  }
  const osClock: OsClockPayload = {
    ...(source === undefined ? {} : { sourceInstance: source.instance }),
    ...(phc === undefined ? {} : { phcInterface: phc.interface }),
    ...(phc !== undefined && 'offsetNs' in phc ? { phcOffsetNs: phc.offsetNs } : {}),
    ...(phc !== undefined && 'error' in phc ? { phcError: phc.error } : {}),
  };
  const status: Omit<OsClockStatus, 'alarms'> = {
    state,
    since: state === previous.state ? previous.since : observation.at,
    observedAt: observation.at,
    isRunning: observation.isRunning,
    source: source === undefined ? 'none' : 'ptp',
    clockClass:
      state === 'LOCKED'
        ? (source?.status.clockClass ?? FREERUN_CLOCK_CLASS)
        : state === 'HOLDOVER'
          ? HOLDOVER_CLOCK_CLASS
          : FREERUN_CLOCK_CLASS,
    offsetNs: deviationNs,
    gmIdentity: source?.status.gmIdentity,
    osClock,
  };
  return { ...status, alarms: alarmsFor(status, observation, options) };
}

function nextState(previous: OsClockStatus, isGood: boolean, at: Date, holdoverSeconds: number): SyncState {
  if (isGood) return 'LOCKED';
  if (previous.state === 'FREERUN') return 'FREERUN';
  const entered = previous.state === 'LOCKED' ? at : previous.since;
  return at.getTime() - entered.getTime() >= holdoverSeconds * 1000 ? 'FREERUN' : 'HOLDOVER';
}

/**
 * The 100.119 alarms of a phc2sys instance, with StarlingX's entities (collectd ptp plugin):
 * `host=<h>.instance=<i>.ptp` major when phc2sys is not running (and then nothing else);
 * `host=<h>.phc2sys=<i>.phc2sys=no-source-clock` major while none of its ptp4l instances is LOCKED;
 * `host=<h>.instance=<i>.ptp=no-lock` major while the system clock is not LOCKED;
 * `host=<h>.instance=<i>.ptp=out-of-tolerance` minor/major while the PHC offset is off TAI−UTC.
 */
function alarmsFor(
  status: Omit<OsClockStatus, 'alarms'>,
  observation: OsClockObservation,
  options: OsClockOptions,
): PtpSyncStatus['alarms'] {
  const { hostname, instance } = options;
  const entity = `host=${hostname}.instance=${instance}.ptp`;
  const name = `phc2sys instance "${instance}" on "${hostname}"`;
  if (!status.isRunning) {
    return [alarm(entity, 'major', `${name} is not running; check the phc2sys service and its log`)];
  }
  const alarms: PtpSyncStatus['alarms'] = [];
  if (observation.source === undefined) {
    const followed = observation.followed.map((ptp4l) => `"${ptp4l}"`).join(', ') || 'none';
    alarms.push(
      alarm(
        `host=${hostname}.phc2sys=${instance}.phc2sys=no-source-clock`,
        'major',
        `${name} has no source clock: none of the ptp4l instances it follows (${followed}) is LOCKED`,
      ),
    );
  }
  if (status.state !== 'LOCKED') {
    const why =
      observation.source === undefined
        ? 'no source clock'
        : status.osClock.phcError !== undefined
          ? `the PHC of ${status.osClock.phcInterface} cannot be read: ${status.osClock.phcError}`
          : 'the system clock is not on the PHC';
    alarms.push(
      alarm(`${entity}=no-lock`, 'major', `System clock of ${name} is not locked (${status.state}): ${why}`),
    );
  }
  const deviation = Math.abs(status.offsetNs ?? 0);
  if (deviation > options.toleranceNs) {
    alarms.push(
      alarm(
        `${entity}=out-of-tolerance`,
        deviation > options.majorToleranceNs ? 'major' : 'minor',
        `System clock of ${name} is out of tolerance: ${status.offsetNs} ns off TAI−UTC (${options.taiUtcOffsetSeconds} s) from the PHC of ${status.osClock.phcInterface}`,
      ),
    );
  }
  return alarms;
}

function alarm(entityInstanceId: string, severity: Severity, reasonText: string) {
  return { alarmId: '100.119', entityTypeId: 'host', entityInstanceId, severity, reasonText } as const;
}
