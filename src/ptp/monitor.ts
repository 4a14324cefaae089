import { type Clock, systemClock } from '../core/clock.js';
import { PollingMonitor } from '../core/polling-monitor.js';
import { type PmcSnapshot, type PmcTarget, queryPmcSnapshot } from './pmc.js';
import {
  DEFAULT_SYNC_OPTIONS,
  initialSyncStatus,
  isSyncStatusChange,
  nextSyncStatus,
  type PtpSyncStatus,
  type SyncStateOptions,
} from './sync-state.js';

export interface PtpInstanceMonitorOptions {
  hostname: string;
  /** The ptp4l instance name. */
  instance: string;
  pmc: PmcTarget;
  /** Time between the end of one poll and the start of the next; default 1000 ms. */
  intervalMs?: number | undefined;
  sync?: Partial<
    Pick<SyncStateOptions, 'holdoverSeconds' | 'toleranceNs' | 'majorToleranceNs' | 'lockedClockClasses'>
  >;
  clock?: Clock | undefined;
  /** Replaces the pmc run; for tests without linuxptp. */
  query?: ((target: PmcTarget) => Promise<PmcSnapshot>) | undefined;
}

/**
 * Watches one ptp4l instance through pmc and reports LOCKED/HOLDOVER/FREERUN and its 100.119 alarms.
 * Lifecycle as PollingMonitor's. Polling rather than SUBSCRIBE_EVENTS_NP push: pushes carry only port
 * states, while offset, clock class and the holdover timer need a poll anyway; one poll costs ~100 ms
 * of pmc idle wait.
 */
export class PtpInstanceMonitor extends PollingMonitor<PtpSyncStatus> {
  private readonly clock: Clock;
  private readonly syncOptions: SyncStateOptions;

  constructor(private readonly options: PtpInstanceMonitorOptions) {
    const clock = options.clock ?? systemClock;
    super(initialSyncStatus(clock.now()), options.intervalMs);
    this.clock = clock;
    this.syncOptions = {
      ...DEFAULT_SYNC_OPTIONS,
      ...options.sync,
      hostname: options.hostname,
      instance: options.instance,
    };
  }

  /** Runs one poll and folds it into the status (also usable without start()). */
  async poll(): Promise<PtpSyncStatus> {
    const query = this.options.query ?? queryPmcSnapshot;
    // Any failure (no reply, partial, timeout, pmc missing) means the instance's status is unknown,
    // which StarlingX treats as ptp4l not running.
    const snapshot = await query(this.options.pmc).catch(() => undefined);
    return this.update(nextSyncStatus(this.current, { at: this.clock.now(), snapshot }, this.syncOptions));
  }

  protected hasChanged(previous: PtpSyncStatus, next: PtpSyncStatus): boolean {
    return isSyncStatusChange(previous, next);
  }
}
