import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import type {
  AgentFrame,
  MonitorDirective,
  OsClockPayload,
  Phc2sysMonitorDirective,
  Ptp4lMonitorDirective,
  PtpStatusPayload,
} from '../inventory/agent-protocol.js';
import { PtpInstanceMonitor } from '../ptp/monitor.js';
import { type PmcSnapshot, type PmcTarget, queryPmcSnapshot } from '../ptp/pmc.js';
import type { PtpSyncStatus } from '../ptp/sync-state.js';
import { OsClockMonitor } from './os-clock-monitor.js';
import { PhcCtlReader, type PhcReader } from './phc-reader.js';
import { isPhc2sysRunning } from './phc2sys-process.js';

/**
 * How the agent judges its ptp4l and phc2sys instances. Unset fields take the StarlingX defaults of
 * sync-state.ts (`DEFAULT_SYNC_OPTIONS`): holdover 30 s, out of tolerance above 1000 ns (minor) and
 * 1 ms (major); polls every 1000 ms. The os clock (phc2sys) uses the same holdover, poll interval and
 * major tolerance, and os-clock-state.ts's `DEFAULT_OS_CLOCK_OPTIONS` for the rest (1000 ns, TAI−UTC 37 s).
 */
export interface PtpMonitorSettings {
  pollIntervalMs?: number | undefined;
  holdoverSeconds?: number | undefined;
  toleranceNs?: number | undefined;
  majorToleranceNs?: number | undefined;
  /** pmc by absolute path when it is not on PATH (a non-login root shell may lack /usr/sbin). */
  pmcPath?: string | undefined;
  /** |PHC − CLOCK_REALTIME − TAI−UTC| up to which the system clock counts as locked. */
  osClockToleranceNs?: number | undefined;
  /** TAI − UTC in seconds (37 since 2017); the PHC runs on TAI, the system clock on UTC. */
  taiUtcOffsetSeconds?: number | undefined;
}

interface Running {
  directive: Ptp4lMonitorDirective;
  monitor: PtpInstanceMonitor;
  /** Port states of the last snapshot pmc returned. */
  ports: { portNumber: number; portState: string }[] | undefined;
  /** Whether the monitor has reported at least once; its initial FREERUN is no observation. */
  hasReported: boolean;
}

interface RunningOsClock {
  directive: Phc2sysMonitorDirective;
  monitor: OsClockMonitor;
  hasReported: boolean;
}

const DIRECTIVES_FILE = 'ptp-monitors.json';

/**
 * The agent's PTP monitors, one per directive of the applied configuration: a ptp4l monitor polls its
 * instance through pmc on the instance's `uds_address` (a host path, used as is); an os-clock monitor
 * per phc2sys instance (os-clock-monitor.ts) reads the states of the ptp4l monitors here, the process
 * table and the PHC. Each hands every status change to `send` as a `ptp-status` frame. The directives
 * are kept in the state directory with the applied revision, so monitoring resumes after a restart
 * without a new config frame.
 */
export class PtpMonitors {
  private readonly running = new Map<string, Running>();
  private readonly osClocks = new Map<string, RunningOsClock>();
  private readonly phc: PhcReader;
  private isStopped = false;

  constructor(
    private readonly options: {
      hostname: string;
      stateDir: string;
      settings: PtpMonitorSettings;
      logger: Logger;
      send: (frame: AgentFrame) => void;
      /** The PHC seam; phc_ctl by default. */
      phc?: PhcReader | undefined;
      /** Where phc2sys processes are looked for; `/proc` by default. */
      procRoot?: string | undefined;
    },
  ) {
    this.phc = options.phc ?? new PhcCtlReader();
  }

  /** Starts the monitors of the directives the last applied configuration left in the state directory. */
  async resume(): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.options.stateDir, DIRECTIVES_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await this.follow(JSON.parse(text) as MonitorDirective[]);
  }

  /** Makes the monitors match `directives` (after their configuration was applied) and remembers them. */
  async apply(directives: readonly MonitorDirective[]): Promise<void> {
    const path = join(this.options.stateDir, DIRECTIVES_FILE);
    await writeFile(`${path}.tmp`, JSON.stringify(directives), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
    await this.follow(directives);
  }

  /** The latest status of every monitor that has observed its instance; sent after each hello. */
  currentFrames(): AgentFrame[] {
    return [
      ...[...this.running.values()]
        .filter((entry) => entry.hasReported)
        .map((entry) => statusFrame(entry.directive.instance, entry.monitor.status, { ports: entry.ports })),
      ...[...this.osClocks.values()]
        .filter((entry) => entry.hasReported)
        .map((entry) =>
          statusFrame(entry.directive.instance, entry.monitor.status, {
            osClock: entry.monitor.status.osClock,
          }),
        ),
    ];
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    await Promise.all([...this.osClocks.values()].map((entry) => entry.monitor.stop()));
    this.osClocks.clear();
    await Promise.all([...this.running.values()].map((entry) => entry.monitor.stop()));
    this.running.clear();
  }

  private async follow(directives: readonly MonitorDirective[]): Promise<void> {
    const ptp4l = directives.filter((d): d is Ptp4lMonitorDirective => d.kind === 'ptp4l');
    const phc2sys = directives.filter((d): d is Phc2sysMonitorDirective => d.kind === 'phc2sys');
    await this.reconcile(this.osClocks, phc2sys, 'phc2sys', sameDirective, (d) => this.startOsClock(d));
    await this.reconcile(this.running, ptp4l, 'ptp4l', sameTarget, (d) => this.start(d));
  }

  /**
   * Stops the monitors whose instance is no longer wanted or whose directive changed (per `isSame`),
   * then starts one for every wanted instance without a monitor.
   */
  private async reconcile<D extends MonitorDirective>(
    entries: Map<string, { directive: D; monitor: { stop(): Promise<void> } }>,
    directives: readonly D[],
    kind: D['kind'],
    isSame: (wanted: D, current: D) => boolean,
    start: (directive: D) => void,
  ): Promise<void> {
    const wanted = new Map(directives.map((directive) => [directive.instance, directive]));
    for (const [instance, entry] of [...entries]) {
      const directive = wanted.get(instance);
      if (directive !== undefined && isSame(directive, entry.directive)) continue;
      entries.delete(instance);
      await entry.monitor.stop();
      this.options.logger.info({ instance }, `stopped monitoring ${kind} instance`);
    }
    if (this.isStopped) return;
    for (const directive of wanted.values()) {
      if (!entries.has(directive.instance)) start(directive);
    }
  }

  private startOsClock(directive: Phc2sysMonitorDirective): void {
    const { settings, hostname, logger, procRoot } = this.options;
    const entry: RunningOsClock = {
      directive,
      hasReported: false,
      monitor: new OsClockMonitor({
        hostname,
        directive,
        sourceStatus: (ptp4l) => {
          const source = this.running.get(ptp4l);
          return source?.hasReported ? source.monitor.status : undefined;
        },
        isSourcePending: (ptp4l) => this.running.get(ptp4l)?.hasReported === false,
        isRunning: () => isPhc2sysRunning(directive.configPath, procRoot),
        phc: this.phc,
        intervalMs: settings.pollIntervalMs,
        options: definedOnly({
          holdoverSeconds: settings.holdoverSeconds,
          toleranceNs: settings.osClockToleranceNs,
          majorToleranceNs: settings.majorToleranceNs,
          taiUtcOffsetSeconds: settings.taiUtcOffsetSeconds,
        }),
      }),
    };
    entry.monitor.onChange((status, previous) => {
      entry.hasReported = true;
      logger.info(
        {
          instance: directive.instance,
          state: status.state,
          from: previous.state,
          source: status.osClock.sourceInstance,
          phcError: status.osClock.phcError,
          alarms: status.alarms.length,
        },
        'os clock status changed',
      );
      this.options.send(statusFrame(directive.instance, status, { osClock: status.osClock }));
    });
    this.osClocks.set(directive.instance, entry);
    entry.monitor.start();
    logger.info(
      { instance: directive.instance, config: directive.configPath, sources: directive.sources },
      'monitoring phc2sys instance',
    );
  }

  private start(directive: Ptp4lMonitorDirective): void {
    const { settings, hostname, logger } = this.options;
    const target: PmcTarget = {
      udsPath: directive.udsAddress,
      domainNumber: directive.domainNumber,
      pmcPath: settings.pmcPath,
    };
    const entry: Running = {
      directive,
      ports: undefined,
      hasReported: false,
      monitor: new PtpInstanceMonitor({
        hostname,
        instance: directive.instance,
        pmc: target,
        intervalMs: settings.pollIntervalMs,
        sync: definedOnly({
          holdoverSeconds: settings.holdoverSeconds,
          toleranceNs: settings.toleranceNs,
          majorToleranceNs: settings.majorToleranceNs,
        }),
        query: async (pmc): Promise<PmcSnapshot> => {
          entry.ports = undefined;
          const snapshot = await queryPmcSnapshot(pmc);
          entry.ports = snapshot.ports.map(({ portNumber, portState }) => ({ portNumber, portState }));
          return snapshot;
        },
      }),
    };
    entry.monitor.onChange((status, previous) => {
      entry.hasReported = true;
      logger.info(
        {
          instance: directive.instance,
          state: status.state,
          from: previous.state,
          alarms: status.alarms.length,
        },
        'ptp4l instance status changed',
      );
      this.options.send(statusFrame(directive.instance, status, { ports: entry.ports }));
    });
    this.running.set(directive.instance, entry);
    entry.monitor.start();
    logger.info({ instance: directive.instance, uds: directive.udsAddress }, 'monitoring ptp4l instance');
  }
}

function statusFrame(
  instance: string,
  status: PtpSyncStatus,
  { ports, osClock }: { ports?: Running['ports']; osClock?: OsClockPayload },
): Extract<AgentFrame, { type: 'ptp-status' }> {
  const payload: PtpStatusPayload = {
    state: status.state,
    since: status.since.toISOString(),
    observedAt: status.observedAt.toISOString(),
    isRunning: status.isRunning,
    source: status.source,
    clockClass: status.clockClass,
    ...(status.offsetNs === undefined ? {} : { offsetNs: status.offsetNs }),
    ...(status.gmIdentity === undefined ? {} : { gmIdentity: status.gmIdentity }),
    ...(ports === undefined ? {} : { ports }),
    ...(osClock === undefined ? {} : { osClock }),
    alarms: status.alarms,
  };
  return { type: 'ptp-status', instance, status: payload };
}

function sameDirective(a: Phc2sysMonitorDirective, b: Phc2sysMonitorDirective): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameTarget(a: Ptp4lMonitorDirective, b: Ptp4lMonitorDirective): boolean {
  return a.udsAddress === b.udsAddress && a.domainNumber === b.domainNumber;
}

function definedOnly<T extends object>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
