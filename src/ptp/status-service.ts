import { invalidInput } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FaultService } from '../fault/service.js';
import type { AgentFrame, OsClockPayload, PtpStatusPayload } from '../inventory/agent-protocol.js';
import type { PtpHostMonitoring } from './status-directives.js';
import type { PtpInstanceStatus, PtpStatusRegistry } from './status-registry.js';
import type { PtpSyncStatus, SyncState } from './sync-state.js';

const PTP_ALARM = '100.119';
/**
 * The conditions a monitor raises as entity suffixes of `host=<h>.instance=<i>.ptp` (ptp4l: sync-state.ts
 * `alarmsFor`; phc2sys: agent/os-clock-state.ts), and, for phc2sys only, StarlingX's
 * `host=<h>.phc2sys=<i>.phc2sys=no-source-clock`.
 */
const CONDITIONS = ['', '=no-lock', '=out-of-tolerance'] as const;
const MAX_DETAIL_LENGTH = 512;

/** What the status service reads from the PTP configuration. */
interface PtpConfiguration {
  hostMonitoring(hostname: string): PtpHostMonitoring;
  listAppliedHosts(): string[];
}

/**
 * The controller's end of PTP status: takes the agents' `ptp-status` frames into the registry and
 * keeps the 100.119 alarms of each ptp4l and phc2sys instance equal to what its latest status lists
 * (raising only what is new or changed, so a reconnect repeating a status raises nothing, and clearing
 * what is no longer listed). An instance removed from a host's applied configuration loses its status and all of
 * its alarms. While a host's agent is away its last statuses and alarms stay (200.005 says the host is
 * offline). Work runs one item at a time, in the order frames and changes arrived.
 */
export class PtpStatusService {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: {
      registry: PtpStatusRegistry;
      fault: FaultService;
      configuration: PtpConfiguration;
      logger: Logger;
    },
  ) {}

  /** Learns every host's monitored instances from the applied configuration. */
  open(): void {
    for (const hostname of this.options.configuration.listAppliedHosts()) {
      this.options.registry.setInstances(hostname, this.options.configuration.hostMonitoring(hostname).host);
    }
  }

  /** Latest statuses of the host's ptp4l and phc2sys instances (ptp4l first, each kind by name). */
  instances(hostname: string): PtpInstanceStatus[] {
    return this.options.registry.instances(hostname);
  }

  /** The host's os-clock state: its first phc2sys instance's, undefined until that one reported. */
  osClock(hostname: string): SyncState | undefined {
    return this.instances(hostname).find((entry) => entry.service === 'phc2sys')?.status?.state;
  }

  /** The host's applied PTP files changed: follow its instances, clearing the alarms of removed ones. */
  hostChanged(hostname: string): Promise<void> {
    return this.serialized(async () => {
      const { host } = this.options.configuration.hostMonitoring(hostname);
      for (const instance of this.options.registry.setInstances(hostname, host)) {
        await this.options.fault.clearAllFor(`host=${hostname}.instance=${instance}`);
        await this.options.fault.clearAllFor(`host=${hostname}.phc2sys=${instance}`);
      }
    });
  }

  /** The host was deleted (the inventory cleared its alarms). */
  hostRemoved(hostname: string): void {
    this.options.registry.removeHost(hostname);
  }

  /** Agent-frame handler: takes `ptp-status` frames, ignores the others. */
  handleFrame(hostname: string, frame: AgentFrame): Promise<void> {
    if (frame.type !== 'ptp-status') return Promise.resolve();
    return this.serialized(async () => {
      const status = toSyncStatus(frame.status);
      const { registry } = this.options;
      const isPhc2sys = registry.isPhc2sys(hostname, frame.instance);
      const osClock = isPhc2sys ? checkOsClock(frame.status.osClock) : undefined;
      const details = { ports: frame.status.ports, osClock };
      if (!registry.report(hostname, frame.instance, status, details)) {
        // An agent still on an older configuration; its next config stops that monitor.
        this.options.logger.debug(
          { hostname, instance: frame.instance },
          'status of an unmonitored instance',
        );
        return;
      }
      await reconcilePtpAlarms(this.options.fault, hostname, frame.instance, status.alarms, isPhc2sys);
    });
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/**
 * Makes the active 100.119 alarms of one ptp4l or phc2sys instance equal `alarms`: raises those not
 * active with the same severity and reason, clears the instance's other conditions. Throws
 * `invalid_input` for an alarm of another host or instance (an agent speaks for its own host only),
 * with nothing changed.
 */
async function reconcilePtpAlarms(
  fault: Pick<FaultService, 'raise' | 'clear' | 'findActive'>,
  hostname: string,
  instance: string,
  alarms: PtpSyncStatus['alarms'],
  isPhc2sys: boolean,
): Promise<void> {
  const base = `host=${hostname}.instance=${instance}.ptp`;
  const entities = CONDITIONS.map((suffix) => `${base}${suffix}`);
  if (isPhc2sys) entities.push(`host=${hostname}.phc2sys=${instance}.phc2sys=no-source-clock`);
  for (const alarm of alarms) {
    if (alarm.alarmId !== PTP_ALARM || !entities.includes(alarm.entityInstanceId)) {
      throw invalidInput(
        'alarms',
        `alarm ${alarm.alarmId} "${alarm.entityInstanceId}" is not a condition of ptp instance "${instance}" on "${hostname}"`,
      );
    }
  }
  for (const entity of entities) {
    const wanted = alarms.find((alarm) => alarm.entityInstanceId === entity);
    if (wanted === undefined) {
      await fault.clear(PTP_ALARM, entity);
      continue;
    }
    const active = fault.findActive(PTP_ALARM, entity);
    if (active?.severity === wanted.severity && active.reasonText === wanted.reasonText) continue;
    await fault.raise({
      alarmId: PTP_ALARM,
      entityInstanceId: entity,
      severity: wanted.severity,
      reasonText: wanted.reasonText,
    });
  }
}

/** The os-clock details of a phc2sys status, checked (the channel's schema does not know them). */
function checkOsClock(value: unknown): OsClockPayload | undefined {
  if (value === undefined) return undefined;
  const fail = (why: string) => invalidInput('osClock', `os-clock details ${why}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('must be an object');
  const details = value as Record<string, unknown>;
  const checked: OsClockPayload = {};
  for (const key of ['sourceInstance', 'phcInterface', 'phcError'] as const) {
    const field = details[key];
    if (field === undefined) continue;
    if (typeof field !== 'string' || field.length > MAX_DETAIL_LENGTH) {
      throw fail(`${key} must be a string of at most ${MAX_DETAIL_LENGTH} characters`);
    }
    checked[key] = field;
  }
  const offset = details.phcOffsetNs;
  if (offset !== undefined) {
    if (typeof offset !== 'number' || !Number.isFinite(offset)) throw fail('phcOffsetNs must be a number');
    checked.phcOffsetNs = offset;
  }
  return checked;
}

function toSyncStatus(payload: PtpStatusPayload): PtpSyncStatus {
  const since = new Date(payload.since);
  const observedAt = new Date(payload.observedAt);
  if (Number.isNaN(since.getTime()) || Number.isNaN(observedAt.getTime())) {
    throw invalidInput('status', 'ptp status times must be ISO-8601 timestamps');
  }
  return {
    state: payload.state,
    since,
    observedAt,
    isRunning: payload.isRunning,
    source: payload.source,
    clockClass: payload.clockClass,
    offsetNs: payload.offsetNs,
    gmIdentity: payload.gmIdentity,
    alarms: payload.alarms.map((alarm) => ({ ...alarm })),
  };
}
