import { AppError, invalidInput, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { InventoryService } from '../inventory/service.js';
import type { NetworkInterface } from '../inventory/topology.js';
import type {
  LinuxptpVersion,
  PtpHost,
  PtpInstance,
  PtpInterface,
  PtpParameter,
  PtpProblem,
  PtpSite,
} from './model.js';
import type { PtpHostRecord, PtpInterfaceRecord, PtpPortRecord, PtpStore } from './store.js';
import { validatePtpSite } from './validate.js';

/** A PTP instance as the API shows it: with the hosts it is assigned to. */
export type PtpInstanceView = Omit<PtpInstance, 'parameters'> & {
  parameters: PtpParameter[];
  hosts: string[];
};

/** A PTP interface as the API shows it: with its ports, host by host. */
export type PtpInterfaceView = Omit<PtpInterface, 'parameters' | 'hostInterfaces'> & {
  parameters: PtpParameter[];
  hostInterfaces: Record<string, string[]>;
};

/** The host's PTP assignments and what the last apply rendered for it. */
export interface PtpHostView {
  hostname: string;
  /** The version the host's files use: `linuxptpOverride`, else the detected one, else 3.1. */
  linuxptpVersion: LinuxptpVersion;
  linuxptpOverride: LinuxptpVersion | null;
  /** `ptp4l -v` as the agent reported it; null = unknown. */
  linuxptpDetected: string | null;
  instances: string[];
  ports: { ifname: string; ptpInterface: string }[];
  appliedFiles: string[];
}

/** Problems of a configuration still being built; they stop `apply`, not the change itself. */
const INCOMPLETE = new Set<PtpProblem['code']>(['no-ports', 'no-source']);

/** Everything in the PTP tables, as the use cases change it (a new object per change). */
interface PtpState {
  instances: PtpInstance[];
  interfaces: PtpInterfaceRecord[];
  hostInstances: { hostname: string; instance: string }[];
  ports: PtpPortRecord[];
  hosts: PtpHostRecord[];
}

interface Touched {
  instances?: readonly string[];
  hosts?: readonly string[];
}

/**
 * What the PTP use cases (definitions.ts, host-assignments.ts, the apply in service.ts) share: the
 * state, its one-at-a-time queue, the validator run against each change, lookups and API views.
 */
export class PtpConfig {
  state: PtpState = { instances: [], interfaces: [], hostInstances: [], ports: [], hosts: [] };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly store: PtpStore,
    readonly inventory: InventoryService,
    readonly logger: Logger,
  ) {}

  async load(): Promise<void> {
    this.state = await this.store.load();
  }

  /**
   * Throws `invalid_input` with the first problem the change causes: those of the touched instances
   * and of every host touched or running one of them. Incomplete configurations pass (see INCOMPLETE).
   */
  check(next: PtpState, touched: Touched): void {
    const instances = new Set(touched.instances ?? []);
    const hosts = new Set(touched.hosts ?? []);
    for (const row of next.hostInstances) if (instances.has(row.instance)) hosts.add(row.hostname);
    const problems = validatePtpSite(this.site(next)).filter(
      (problem) =>
        !INCOMPLETE.has(problem.code) &&
        (problem.host !== undefined
          ? hosts.has(problem.host)
          : problem.instance !== undefined &&
            (instances.has(problem.instance) ||
              next.hostInstances.some(
                (row) => row.instance === problem.instance && hosts.has(row.hostname),
              ))),
    );
    const first = problems[0];
    if (first) throw invalidInput('ptp', first.message, { problems });
  }

  /** The validator's and renderer's snapshot, with each host's NICs as its agent last reported them. */
  site(state: PtpState): PtpSite {
    const hostnames = new Set([
      ...state.hostInstances.map((row) => row.hostname),
      ...state.ports.map((port) => port.hostname),
      ...state.hosts.map((host) => host.hostname),
    ]);
    const hosts: PtpHost[] = [...hostnames].sort().map((hostname) => ({
      hostname,
      linuxptpVersion: state.hosts.find((host) => host.hostname === hostname)?.linuxptpVersion ?? '3.1',
      instances: state.hostInstances.filter((row) => row.hostname === hostname).map((row) => row.instance),
      network: this.network(hostname),
    }));
    const interfaces: PtpInterface[] = state.interfaces.map((record) => ({
      ...record,
      hostInterfaces: portsByHost(state.ports.filter((port) => port.ptpInterface === record.name)),
    }));
    return { instances: state.instances, interfaces, hosts };
  }

  /** The host's NICs; undefined (no NIC check) before its agent reported inventory. */
  private network(hostname: string): readonly NetworkInterface[] | undefined {
    try {
      return this.inventory.reportedInventory(hostname).inventory.network;
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') return undefined;
      throw error;
    }
  }

  instance(name: string): PtpInstance {
    const instance = this.state.instances.find((candidate) => candidate.name === name);
    if (!instance) throw notFound('ptp instance', name);
    return instance;
  }

  ptpInterface(name: string): PtpInterfaceRecord {
    const record = this.state.interfaces.find((candidate) => candidate.name === name);
    if (!record) throw notFound('ptp interface', name);
    return record;
  }

  hostRecord(hostname: string): PtpHostRecord {
    return (
      this.state.hosts.find((host) => host.hostname === hostname) ?? {
        hostname,
        linuxptpVersion: '3.1',
        linuxptpOverride: null,
        linuxptpDetected: null,
        appliedFiles: null,
      }
    );
  }

  hasAssignments(hostname: string): boolean {
    return (
      this.state.hostInstances.some((row) => row.hostname === hostname) ||
      this.state.ports.some((port) => port.hostname === hostname)
    );
  }

  /** Whether the inventory still has the host; a deleted one keeps its PTP rows, but gets no files. */
  isKnownHost(hostname: string): boolean {
    try {
      this.inventory.getHost(hostname);
      return true;
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') return false;
      throw error;
    }
  }

  hostsOf(instance: string): string[] {
    return this.state.hostInstances.filter((row) => row.instance === instance).map((row) => row.hostname);
  }

  instancesOf(hostname: string): string[] {
    return this.state.hostInstances.filter((row) => row.hostname === hostname).map((row) => row.instance);
  }

  instanceView(instance: PtpInstance): PtpInstanceView {
    return { ...instance, parameters: [...instance.parameters], hosts: this.hostsOf(instance.name) };
  }

  interfaceView(record: PtpInterfaceRecord): PtpInterfaceView {
    const ports = this.state.ports.filter((port) => port.ptpInterface === record.name);
    return { ...record, parameters: [...record.parameters], hostInterfaces: portsByHost(ports) };
  }

  hostView(hostname: string): PtpHostView {
    const record = this.hostRecord(hostname);
    return {
      hostname,
      linuxptpVersion: record.linuxptpVersion,
      linuxptpOverride: record.linuxptpOverride,
      linuxptpDetected: record.linuxptpDetected,
      instances: this.instancesOf(hostname),
      ports: this.state.ports
        .filter((port) => port.hostname === hostname)
        .map((port) => ({ ifname: port.ifname, ptpInterface: port.ptpInterface })),
      appliedFiles: (record.appliedFiles ?? []).map((file) => file.path),
    };
  }

  serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

export function withHost(hosts: readonly PtpHostRecord[], record: PtpHostRecord): PtpHostRecord[] {
  return [...hosts.filter((host) => host.hostname !== record.hostname), record];
}

function portsByHost(ports: readonly PtpPortRecord[]): Record<string, string[]> {
  const byHost: Record<string, string[]> = {};
  for (const port of ports) byHost[port.hostname] = [...(byHost[port.hostname] ?? []), port.ifname];
  return byHost;
}

export function quoted(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ');
}
