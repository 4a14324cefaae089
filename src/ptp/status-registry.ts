import { type Clock, systemClock } from '../core/clock.js';
import type { OsClockPayload } from '../inventory/agent-protocol.js';
import type { NodeSyncListener, NodeSyncStatus, PtpStatusSource } from './oran/status-source.js';
import { isSyncStatusChange, type PtpSyncStatus } from './sync-state.js';

/** The latest status one host's agent reported for one of its ptp4l or phc2sys instances. */
export interface PtpInstanceStatus {
  instance: string;
  /** `phc2sys` instances report the system clock they discipline (the node's os-clock state). */
  service: 'ptp4l' | 'phc2sys';
  /** Whether this is the host's primary instance (the one the O-RAN API publishes as the node's `ptp`). */
  isPrimary: boolean;
  /** Undefined until the agent reported the instance (or after it reconnected without it yet). */
  status: PtpSyncStatus | undefined;
  /** When the controller received `status`. */
  reportedAt: Date | undefined;
  /** The port states pmc reported with `status`, when the agent sent them. */
  ports: readonly PtpPortState[] | undefined;
  /** For a phc2sys instance: its source, PHC and PHC offset as the agent last reported them. */
  osClock: OsClockPayload | undefined;
}

/** One port of a ptp4l instance and its state (PORT_DATA_SET `portState`). */
export interface PtpPortState {
  portNumber: number;
  portState: string;
}

interface Reported {
  status: PtpSyncStatus;
  reportedAt: Date;
  ports: readonly PtpPortState[] | undefined;
  osClock: OsClockPayload | undefined;
}

/** The monitored instances a host runs (ptp4l ones first, each kind by name) and which one is primary. */
export interface PtpMonitoredHost {
  instances: readonly string[];
  /** One of `instances` (a ptp4l one); undefined when the host runs no ptp4l instance. */
  primary: string | undefined;
  /** The phc2sys instances among `instances`; the first is the node's os clock. */
  phc2sys?: readonly string[] | undefined;
}

interface HostEntry {
  instances: readonly string[];
  primary: string | undefined;
  phc2sys: readonly string[];
  statuses: Map<string, Reported>;
}

/**
 * The PTP status of every host, as their agents report it, kept per host and per ptp4l or phc2sys
 * instance; the O-RAN notification API reads it as a `PtpStatusSource`. A host's node status is the
 * status of its primary instance (`ptpHostMonitoring` in status-directives.ts: the first instance by
 * name that can take time from the network; on a host whose instances only serve time, the first one);
 * its `osClock` is the state of its first phc2sys instance by name, absent until that one reported.
 * Statuses are kept for the instances the host's applied configuration names only: a report for any
 * other instance (an agent still running an older configuration) is dropped. Listeners are called
 * synchronously, in the order reports arrive, once per change of a node's state, clock class, source,
 * running flag, alarms or os-clock state (a repeated report after a reconnect is not a change).
 */
export class PtpStatusRegistry implements PtpStatusSource {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly listeners = new Set<NodeSyncListener>();
  private readonly clock: Clock;

  constructor(options: { clock?: Clock | undefined } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Sets the monitored instances of a host (from its applied configuration); statuses of instances no
   * longer listed are dropped. Returns the names of the instances dropped. An empty list forgets the host.
   */
  setInstances(hostname: string, host: PtpMonitoredHost): string[] {
    const entry = this.hosts.get(hostname);
    const removed = (entry?.instances ?? []).filter((name) => !host.instances.includes(name));
    if (host.instances.length === 0) {
      this.hosts.delete(hostname);
      return removed;
    }
    const previous = this.current(hostname);
    const statuses = entry?.statuses ?? new Map<string, Reported>();
    for (const name of removed) statuses.delete(name);
    const phc2sys = (host.phc2sys ?? []).filter((name) => host.instances.includes(name));
    this.hosts.set(hostname, { instances: [...host.instances], primary: host.primary, phc2sys, statuses });
    const next = this.current(hostname);
    // The node's status may now come from another instance: a change for the O-RAN API.
    const isMoved = entry?.primary !== host.primary || entry?.phc2sys[0] !== phc2sys[0];
    if (next !== undefined && isMoved && isNodeChange(previous, next)) this.emit(next, previous);
    return removed;
  }

  /** Forgets a host (deleted); returns the instances it had. */
  removeHost(hostname: string): string[] {
    const entry = this.hosts.get(hostname);
    this.hosts.delete(hostname);
    return [...(entry?.instances ?? [])];
  }

  /**
   * Records a status report; returns false (and records nothing) when the host's configuration has no
   * such instance. The report replaces the previous one even when nothing notable changed (the offset).
   */
  report(
    hostname: string,
    instance: string,
    status: PtpSyncStatus,
    details: { ports?: readonly PtpPortState[] | undefined; osClock?: OsClockPayload | undefined } = {},
  ): boolean {
    const entry = this.hosts.get(hostname);
    if (!entry?.instances.includes(instance)) return false;
    const previous = this.current(hostname);
    const { ports, osClock } = details;
    entry.statuses.set(instance, { status, reportedAt: this.clock.now(), ports, osClock });
    const next = this.current(hostname);
    if (next !== undefined && isNodeChange(previous, next)) this.emit(next, previous);
    return true;
  }

  /** Whether the host's applied configuration runs `instance` as a phc2sys instance. */
  isPhc2sys(hostname: string, instance: string): boolean {
    return this.hosts.get(hostname)?.phc2sys.includes(instance) ?? false;
  }

  /** The host's instances with their latest statuses (ptp4l first, each kind by name); [] if unknown. */
  instances(hostname: string): PtpInstanceStatus[] {
    const entry = this.hosts.get(hostname);
    if (!entry) return [];
    return entry.instances.map((instance) => {
      const reported = entry.statuses.get(instance);
      return {
        instance,
        service: entry.phc2sys.includes(instance) ? 'phc2sys' : 'ptp4l',
        isPrimary: instance === entry.primary,
        status: reported?.status,
        reportedAt: reported?.reportedAt,
        ports: reported?.ports,
        osClock: reported?.osClock,
      };
    });
  }

  list(): readonly NodeSyncStatus[] {
    return [...this.hosts.keys()].flatMap((node) => this.current(node) ?? []);
  }

  current(node: string): NodeSyncStatus | undefined {
    const entry = this.hosts.get(node);
    const status = entry?.primary === undefined ? undefined : entry.statuses.get(entry.primary)?.status;
    if (entry === undefined || status === undefined) return undefined;
    const osClock = entry.phc2sys[0] === undefined ? undefined : entry.statuses.get(entry.phc2sys[0]);
    return { node, ptp: status, ...(osClock === undefined ? {} : { osClock: osClock.status.state }) };
  }

  onChange(listener: NodeSyncListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(node: NodeSyncStatus, previous: NodeSyncStatus | undefined): void {
    for (const listener of [...this.listeners]) listener(node, previous);
  }
}

function isNodeChange(previous: NodeSyncStatus | undefined, next: NodeSyncStatus): boolean {
  return (
    previous === undefined || isSyncStatusChange(previous.ptp, next.ptp) || previous.osClock !== next.osClock
  );
}

/** What the O-RAN API publishes: the same fields the agent's monitor treats as a change. */
