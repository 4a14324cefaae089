import { type Clock, systemClock } from '../core/clock.js';
import { type PmcSnapshot, type PmcTarget, queryPmcSnapshot } from './pmc.js';
import {
  DEFAULT_SYNC_OPTIONS,
  initialSyncStatus,
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

/** Called with the new and the previous status when the state, clock class, source or alarms change. */
export type PtpStatusListener = (status: PtpSyncStatus, previous: PtpSyncStatus) => void;

/**
 * Lifecycle:
 * - `idle`: created; `status` is the initial FREERUN.
 * - `running`: start() was called; one pmc poll at a time, the next `intervalMs` after the last ended.
 * - `stopping` → `stopped`: stop() was called; waits for the poll under way, then no poll follows.
 * Polling rather than SUBSCRIBE_EVENTS_NP push: pushes carry only port states, while offset, clock class
 * and the holdover timer need a poll anyway; one poll costs ~100 ms of pmc idle wait.
 */
type MonitorState = 'idle' | 'running' | 'stopping' | 'stopped';

const DEFAULT_INTERVAL_MS = 1_000;

/** Watches one ptp4l instance through pmc and reports LOCKED/HOLDOVER/FREERUN and its 100.119 alarms. */
export class PtpInstanceMonitor {
  private state: MonitorState = 'idle';
  private current: PtpSyncStatus;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<PtpStatusListener>();
  private readonly clock: Clock;
  private readonly syncOptions: SyncStateOptions;

  constructor(private readonly options: PtpInstanceMonitorOptions) {
    this.clock = options.clock ?? systemClock;
    this.current = initialSyncStatus(this.clock.now());
    this.syncOptions = {
      ...DEFAULT_SYNC_OPTIONS,
      ...options.sync,
      hostname: options.hostname,
      instance: options.instance,
    };
  }

  /** The latest status. */
  get status(): PtpSyncStatus {
    return this.current;
  }

  /** Adds a change listener; returns a function that removes it. */
  onChange(listener: PtpStatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Polls at once, then every `intervalMs` until stop(). */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.schedule(0);
  }

  /** Stops polling; resolves when the poll under way (if any) has finished. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    clearTimeout(this.timer);
    await this.polling;
    this.state = 'stopped';
  }

  /** Runs one poll and folds it into the status (also usable without start()). */
  async poll(): Promise<PtpSyncStatus> {
    const query = this.options.query ?? queryPmcSnapshot;
    // Any failure (no reply, partial, timeout, pmc missing) means the instance's status is unknown,
    // which StarlingX treats as ptp4l not running.
    const snapshot = await query(this.options.pmc).catch(() => undefined);
    const previous = this.current;
    this.current = nextSyncStatus(previous, { at: this.clock.now(), snapshot }, this.syncOptions);
    if (hasChanged(previous, this.current)) {
      for (const listener of this.listeners) listener(this.current, previous);
    }
    return this.current;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.polling = this.poll().then(
        () => this.scheduleNext(),
        () => this.scheduleNext(),
      );
    }, delayMs);
  }

  private scheduleNext(): void {
    if (this.state === 'running') this.schedule(this.options.intervalMs ?? DEFAULT_INTERVAL_MS);
  }
}

function hasChanged(previous: PtpSyncStatus, next: PtpSyncStatus): boolean {
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
