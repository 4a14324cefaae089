import { type Clock, systemClock } from '../core/clock.js';
import { PollingMonitor } from '../core/polling-monitor.js';
import type { Phc2sysMonitorDirective } from '../inventory/agent-protocol.js';
import type { PtpSyncStatus } from '../ptp/sync-state.js';
import {
  DEFAULT_OS_CLOCK_OPTIONS,
  initialOsClockStatus,
  nextOsClockStatus,
  type OsClockOptions,
  type OsClockStatus,
} from './os-clock-state.js';
import type { PhcReader } from './phc-reader.js';

export interface OsClockMonitorOptions {
  hostname: string;
  directive: Phc2sysMonitorDirective;
  /** The latest status of a ptp4l instance monitored on this agent; undefined before it reported. */
  sourceStatus: (ptp4l: string) => PtpSyncStatus | undefined;
  /**
   * Whether a ptp4l instance is monitored on this agent but has not reported yet (its first pmc poll
   * is under way). While any followed one is, polls judge nothing: after every start or apply the
   * os clock would otherwise be FREERUN with no source for one poll, raising alarms on a locked host.
   */
  isSourcePending?: ((ptp4l: string) => boolean) | undefined;
  /** Whether phc2sys runs with the directive's configuration (phc2sys-process.ts on a real host). */
  isRunning: () => Promise<boolean>;
  phc: PhcReader;
  /** Time between the end of one poll and the start of the next; default 1000 ms. */
  intervalMs?: number | undefined;
  options?: Partial<Omit<OsClockOptions, 'hostname' | 'instance'>> | undefined;
  clock?: Clock | undefined;
}

/**
 * Watches the system clock one phc2sys instance disciplines and reports its os-clock state and
 * 100.119 alarms (os-clock-state.ts), polling as PollingMonitor does. Each poll: is phc2sys running;
 * which followed ptp4l instance is in use (the first LOCKED one in failover order, as StarlingX's HA
 * phc2sys picks); the PHC of that source's first interface (or of the first source when none is
 * LOCKED) against CLOCK_REALTIME. A ptp4l instance with ports on several NICs (boundary_clock_jbod)
 * has a PHC per NIC; the first interface's stands for all of them.
 */
export class OsClockMonitor extends PollingMonitor<OsClockStatus> {
  private readonly clock: Clock;
  private readonly stateOptions: OsClockOptions;

  constructor(private readonly options: OsClockMonitorOptions) {
    const clock = options.clock ?? systemClock;
    super(initialOsClockStatus(clock.now()), options.intervalMs);
    this.clock = clock;
    this.stateOptions = {
      ...DEFAULT_OS_CLOCK_OPTIONS,
      ...options.options,
      hostname: options.hostname,
      instance: options.directive.instance,
    };
  }

  /** Runs one poll and folds it into the status (also usable without start()). */
  async poll(): Promise<OsClockStatus> {
    const { directive, sourceStatus, phc, isSourcePending } = this.options;
    if (isSourcePending && directive.sources.some((source) => isSourcePending(source.ptp4l))) {
      return this.current;
    }
    // A failed scan says nothing about phc2sys; counting it as not running raises the process alarm.
    const isRunning = await this.options.isRunning().catch(() => false);
    const locked = directive.sources.find((source) => sourceStatus(source.ptp4l)?.state === 'LOCKED');
    const ifname = (locked ?? directive.sources[0])?.interfaces[0];
    let reading: Parameters<typeof nextOsClockStatus>[1]['phc'];
    if (isRunning && ifname !== undefined) {
      reading = await phc.compare(ifname).then(
        (offsetNs) => ({ interface: ifname, offsetNs }),
        (error: unknown) => ({
          interface: ifname,
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    }
    const lockedStatus = locked === undefined ? undefined : sourceStatus(locked.ptp4l);
    return this.update(
      nextOsClockStatus(
        this.current,
        {
          at: this.clock.now(),
          isRunning,
          followed: directive.sources.map((source) => source.ptp4l),
          source:
            locked === undefined || lockedStatus === undefined
              ? undefined
              : { instance: locked.ptp4l, status: lockedStatus },
          phc: reading,
        },
        this.stateOptions,
      ),
    );
  }

  /** What is worth a frame: state, running, source in use, PHC readable or not, alarms (not the offset). */
  protected hasChanged(previous: OsClockStatus, next: OsClockStatus): boolean {
    const key = (status: OsClockStatus) =>
      JSON.stringify([
        status.state,
        status.isRunning,
        status.clockClass,
        status.osClock.sourceInstance,
        status.osClock.phcError,
        status.alarms.map((alarm) => `${alarm.entityInstanceId}:${alarm.severity}`),
      ]);
    return key(previous) !== key(next);
  }
}
