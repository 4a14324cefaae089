import { AppError, conflict, invalidInput, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { RenderedFile } from '../inventory/agent-protocol.js';
import type { InventoryService } from '../inventory/service.js';
import type { NetworkInterface } from '../inventory/topology.js';
import {
  isValidPtpName,
  type LinuxptpVersion,
  type PtpHost,
  type PtpInstance,
  type PtpInterface,
  type PtpParameter,
  type PtpProblem,
  type PtpService as PtpServiceName,
  type PtpSite,
} from './model.js';
import { renderPtpHost } from './render.js';
import type { PtpHostRecord, PtpInterfaceRecord, PtpPortRecord, PtpRecords, PtpStore } from './store.js';
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
  linuxptpVersion: LinuxptpVersion;
  instances: string[];
  ports: { ifname: string; ptpInterface: string }[];
  appliedFiles: string[];
}

/** Problems of a configuration still being built; they stop `apply`, not the change itself. */
const INCOMPLETE = new Set<PtpProblem['code']>(['no-ports', 'no-source']);

interface State {
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
 * PTP instances, interfaces and their assignments (StarlingX `ptp-instance-*`, `host-ptp-instance-*`,
 * `host-if-ptp-*`). Every change is checked with the pure validator against the hosts' reported NICs
 * and refused, with nothing stored, when it breaks an affected host. As in StarlingX, changes are
 * staged: `apply` checks that every assigned host is complete, renders its files and hands them to
 * the inventory, which makes them part of the host's configuration (new revision, 250.001 until the
 * agent applies). Mutations run one at a time.
 */
export class PtpService {
  private readonly store: PtpStore;
  private readonly inventory: InventoryService;
  private readonly logger: Logger;
  private readonly listeners = new Set<(hostname: string) => Promise<void>>();
  private state: State = { instances: [], interfaces: [], hostInstances: [], ports: [], hosts: [] };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: { store: PtpStore; inventory: InventoryService; logger: Logger }) {
    this.store = options.store;
    this.inventory = options.inventory;
    this.logger = options.logger;
  }

  async open(): Promise<void> {
    const records: PtpRecords = await this.store.load();
    this.state = records;
  }

  /** Calls `listener` for each host whose applied PTP files changed (the inventory re-renders it). */
  onChange(listener: (hostname: string) => Promise<void>): void {
    this.listeners.add(listener);
  }

  /** The files of the host's last apply; the inventory adds them to the host's configuration. */
  hostFiles(hostname: string): RenderedFile[] | undefined {
    return this.state.hosts.find((host) => host.hostname === hostname)?.appliedFiles ?? undefined;
  }

  listInstances(): PtpInstanceView[] {
    return this.state.instances.map((instance) => this.instanceView(instance));
  }

  /** Throws `not_found`. */
  getInstance(name: string): PtpInstanceView {
    return this.instanceView(this.instance(name));
  }

  /** Throws `invalid_input` for a bad name, `conflict` when it exists. */
  async addInstance(name: string, service: PtpServiceName): Promise<PtpInstanceView> {
    return this.serialized(async () => {
      checkName('ptp instance', name);
      if (this.state.instances.some((instance) => instance.name === name)) {
        throw conflict(`ptp instance "${name}" already exists`, { name });
      }
      const instance: PtpInstance = { name, service, parameters: [] };
      await this.store.putInstance(instance);
      this.state = { ...this.state, instances: [...this.state.instances, instance] };
      return this.instanceView(instance);
    });
  }

  /** Throws `not_found`; `conflict` while the instance is assigned to hosts or owns interfaces. */
  async deleteInstance(name: string): Promise<void> {
    return this.serialized(async () => {
      this.instance(name);
      const hosts = this.hostsOf(name);
      if (hosts.length > 0) {
        throw conflict(
          `ptp instance "${name}" is assigned to ${quoted(hosts)}; remove it from them first (murm host ptp-instance remove)`,
          { hosts },
        );
      }
      const interfaces = this.state.interfaces.filter((candidate) => candidate.instance === name);
      if (interfaces.length > 0) {
        const names = interfaces.map((candidate) => candidate.name);
        throw conflict(
          `ptp instance "${name}" has ptp interfaces ${quoted(names)}; delete them first (murm ptp interface delete)`,
          { interfaces: names },
        );
      }
      await this.store.deleteInstance(name);
      this.state = {
        ...this.state,
        instances: this.state.instances.filter((instance) => instance.name !== name),
      };
    });
  }

  /** Adds or replaces instance parameters; throws `invalid_input` naming the first problem. */
  async addInstanceParameters(name: string, parameters: readonly PtpParameter[]): Promise<PtpInstanceView> {
    return this.changeInstanceParameters(name, (current) => withParameters(current, parameters));
  }

  /** Throws `not_found` for a parameter the instance does not have. */
  async removeInstanceParameters(name: string, keys: readonly string[]): Promise<PtpInstanceView> {
    return this.changeInstanceParameters(name, (current) =>
      withoutParameters(current, keys, `ptp instance "${name}"`),
    );
  }

  listInterfaces(): PtpInterfaceView[] {
    return this.state.interfaces.map((record) => this.interfaceView(record));
  }

  /** Throws `not_found`. */
  getInterface(name: string): PtpInterfaceView {
    return this.interfaceView(this.ptpInterface(name));
  }

  /** Throws `invalid_input` for a bad name, `not_found` for the instance, `conflict` when it exists. */
  async addInterface(name: string, instance: string): Promise<PtpInterfaceView> {
    return this.serialized(async () => {
      checkName('ptp interface', name);
      this.instance(instance);
      if (this.state.interfaces.some((candidate) => candidate.name === name)) {
        throw conflict(`ptp interface "${name}" already exists`, { name });
      }
      const record: PtpInterfaceRecord = { name, instance, parameters: [] };
      await this.store.putInterface(record);
      this.state = { ...this.state, interfaces: [...this.state.interfaces, record] };
      return this.interfaceView(record);
    });
  }

  /** Throws `not_found`; `conflict` while the interface has host interfaces assigned. */
  async deleteInterface(name: string): Promise<void> {
    return this.serialized(async () => {
      this.ptpInterface(name);
      const ports = this.state.ports.filter((port) => port.ptpInterface === name);
      if (ports.length > 0) {
        const where = ports.map((port) => `${port.hostname}/${port.ifname}`);
        throw conflict(
          `ptp interface "${name}" is assigned to ${quoted(where)}; remove it from them first (murm host if-ptp remove)`,
          { ports: where },
        );
      }
      await this.store.deleteInterface(name);
      this.state = {
        ...this.state,
        interfaces: this.state.interfaces.filter((record) => record.name !== name),
      };
    });
  }

  async addInterfaceParameters(name: string, parameters: readonly PtpParameter[]): Promise<PtpInterfaceView> {
    return this.changeInterfaceParameters(name, (current) => withParameters(current, parameters));
  }

  async removeInterfaceParameters(name: string, keys: readonly string[]): Promise<PtpInterfaceView> {
    return this.changeInterfaceParameters(name, (current) =>
      withoutParameters(current, keys, `ptp interface "${name}"`),
    );
  }

  /**
   * The host's PTP assignments; throws `not_found` for a host the inventory does not know and that
   * has no assignments (a deleted host keeps its assignments until they are removed).
   */
  getHost(hostname: string): PtpHostView {
    if (!this.hasAssignments(hostname)) this.inventory.getHost(hostname);
    return this.hostView(hostname);
  }

  private hostView(hostname: string): PtpHostView {
    const record = this.hostRecord(hostname);
    return {
      hostname,
      linuxptpVersion: record.linuxptpVersion,
      instances: this.instancesOf(hostname),
      ports: this.state.ports
        .filter((port) => port.hostname === hostname)
        .map((port) => ({ ifname: port.ifname, ptpInterface: port.ptpInterface })),
      appliedFiles: (record.appliedFiles ?? []).map((file) => file.path),
    };
  }

  /** Assigns a PTP instance to a host; throws `not_found`, `conflict` when already assigned. */
  async assignHostInstance(hostname: string, instance: string): Promise<PtpHostView> {
    return this.serialized(async () => {
      this.inventory.getHost(hostname);
      this.instance(instance);
      if (this.instancesOf(hostname).includes(instance)) {
        throw conflict(`ptp instance "${instance}" is already assigned to host "${hostname}"`);
      }
      const next = { ...this.state, hostInstances: [...this.state.hostInstances, { hostname, instance }] };
      this.check(next, { hosts: [hostname] });
      await this.store.addHostInstance(hostname, instance);
      this.state = next;
      return this.hostView(hostname);
    });
  }

  async removeHostInstance(hostname: string, instance: string): Promise<PtpHostView> {
    return this.serialized(async () => {
      if (!this.hasAssignments(hostname)) this.inventory.getHost(hostname);
      if (!this.instancesOf(hostname).includes(instance)) {
        throw notFound('ptp instance assignment', `${instance} on ${hostname}`);
      }
      const next = {
        ...this.state,
        hostInstances: this.state.hostInstances.filter(
          (row) => !(row.hostname === hostname && row.instance === instance),
        ),
      };
      this.check(next, { hosts: [hostname] });
      await this.store.removeHostInstance(hostname, instance);
      this.state = next;
      return this.hostView(hostname);
    });
  }

  /** Makes host interface `ifname` a port of `ptpInterface` on the host. */
  async assignHostInterface(hostname: string, ifname: string, ptpInterface: string): Promise<PtpHostView> {
    return this.serialized(async () => {
      this.inventory.getHost(hostname);
      this.ptpInterface(ptpInterface);
      const port = { ptpInterface, hostname, ifname };
      if (this.state.ports.some((candidate) => samePort(candidate, port))) {
        throw conflict(
          `"${ifname}" of host "${hostname}" is already a port of ptp interface "${ptpInterface}"`,
        );
      }
      const next = { ...this.state, ports: [...this.state.ports, port] };
      this.check(next, { hosts: [hostname] });
      await this.store.addPort(port);
      this.state = next;
      return this.hostView(hostname);
    });
  }

  async removeHostInterface(hostname: string, ifname: string, ptpInterface: string): Promise<PtpHostView> {
    return this.serialized(async () => {
      if (!this.hasAssignments(hostname)) this.inventory.getHost(hostname);
      const port = { ptpInterface, hostname, ifname };
      if (!this.state.ports.some((candidate) => samePort(candidate, port))) {
        throw notFound('ptp interface assignment', `${ptpInterface} on ${hostname}/${ifname}`);
      }
      const next = {
        ...this.state,
        ports: this.state.ports.filter((candidate) => !samePort(candidate, port)),
      };
      this.check(next, { hosts: [hostname] });
      await this.store.removePort(port);
      this.state = next;
      return this.hostView(hostname);
    });
  }

  /** Sets the linuxptp version whose parameter names the host's files use. */
  async setLinuxptpVersion(hostname: string, version: LinuxptpVersion): Promise<PtpHostView> {
    return this.serialized(async () => {
      this.inventory.getHost(hostname);
      const record = { ...this.hostRecord(hostname), linuxptpVersion: version };
      const next = { ...this.state, hosts: withHost(this.state.hosts, record) };
      this.check(next, { hosts: [hostname] });
      await this.store.putHost(record);
      this.state = next;
      return this.hostView(hostname);
    });
  }

  /**
   * Renders every host with PTP assignments (and clears hosts that no longer have any), then tells
   * the inventory about each host whose files changed. Throws `invalid_input` naming the first
   * problem of any host, with nothing applied.
   */
  async apply(): Promise<{ hosts: { hostname: string; files: string[]; isChanged: boolean }[] }> {
    return this.serialized(async () => {
      const site = this.site(this.state);
      const results: { hostname: string; files: string[]; isChanged: boolean }[] = [];
      const records: PtpHostRecord[] = [];
      for (const host of site.hosts.filter((candidate) => this.isKnownHost(candidate.hostname))) {
        const isAssigned = host.instances.length > 0;
        const current = this.hostRecord(host.hostname);
        if (!isAssigned && current.appliedFiles === null) continue;
        const files = isAssigned ? renderPtpHost(site, host.hostname) : null;
        const isChanged = JSON.stringify(files) !== JSON.stringify(current.appliedFiles);
        records.push({ ...current, appliedFiles: files });
        results.push({ hostname: host.hostname, files: (files ?? []).map((file) => file.path), isChanged });
      }
      for (const record of records) {
        await this.store.putHost(record);
        this.state = { ...this.state, hosts: withHost(this.state.hosts, record) };
      }
      for (const result of results.filter((candidate) => candidate.isChanged)) {
        for (const listener of this.listeners) await listener(result.hostname);
      }
      this.logger.info({ hosts: results.map((result) => result.hostname) }, 'ptp configuration applied');
      return { hosts: results };
    });
  }

  private async changeInstanceParameters(
    name: string,
    change: (current: readonly PtpParameter[]) => PtpParameter[],
  ): Promise<PtpInstanceView> {
    return this.serialized(async () => {
      const instance = { ...this.instance(name) };
      instance.parameters = change(instance.parameters);
      const next = {
        ...this.state,
        instances: this.state.instances.map((candidate) => (candidate.name === name ? instance : candidate)),
      };
      this.check(next, { instances: [name] });
      await this.store.putInstance(instance);
      this.state = next;
      return this.instanceView(instance);
    });
  }

  private async changeInterfaceParameters(
    name: string,
    change: (current: readonly PtpParameter[]) => PtpParameter[],
  ): Promise<PtpInterfaceView> {
    return this.serialized(async () => {
      const record = { ...this.ptpInterface(name) };
      record.parameters = change(record.parameters);
      const next = {
        ...this.state,
        interfaces: this.state.interfaces.map((candidate) => (candidate.name === name ? record : candidate)),
      };
      this.check(next, { instances: [record.instance] });
      await this.store.putInterface(record);
      this.state = next;
      return this.interfaceView(record);
    });
  }

  /**
   * Throws `invalid_input` with the first problem the change causes: those of the touched instances
   * and of every host touched or running one of them. Incomplete configurations pass (see INCOMPLETE).
   */
  private check(next: State, touched: Touched): void {
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
  private site(state: State): PtpSite {
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

  private instance(name: string): PtpInstance {
    const instance = this.state.instances.find((candidate) => candidate.name === name);
    if (!instance) throw notFound('ptp instance', name);
    return instance;
  }

  private ptpInterface(name: string): PtpInterfaceRecord {
    const record = this.state.interfaces.find((candidate) => candidate.name === name);
    if (!record) throw notFound('ptp interface', name);
    return record;
  }

  private hostRecord(hostname: string): PtpHostRecord {
    return (
      this.state.hosts.find((host) => host.hostname === hostname) ?? {
        hostname,
        linuxptpVersion: '3.1',
        appliedFiles: null,
      }
    );
  }

  private hasAssignments(hostname: string): boolean {
    return (
      this.state.hostInstances.some((row) => row.hostname === hostname) ||
      this.state.ports.some((port) => port.hostname === hostname)
    );
  }

  /** Whether the inventory still has the host; a deleted one keeps its PTP rows, but gets no files. */
  private isKnownHost(hostname: string): boolean {
    try {
      this.inventory.getHost(hostname);
      return true;
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') return false;
      throw error;
    }
  }

  private hostsOf(instance: string): string[] {
    return this.state.hostInstances.filter((row) => row.instance === instance).map((row) => row.hostname);
  }

  private instancesOf(hostname: string): string[] {
    return this.state.hostInstances.filter((row) => row.hostname === hostname).map((row) => row.instance);
  }

  private instanceView(instance: PtpInstance): PtpInstanceView {
    return { ...instance, parameters: [...instance.parameters], hosts: this.hostsOf(instance.name) };
  }

  private interfaceView(record: PtpInterfaceRecord): PtpInterfaceView {
    const ports = this.state.ports.filter((port) => port.ptpInterface === record.name);
    return { ...record, parameters: [...record.parameters], hostInterfaces: portsByHost(ports) };
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function checkName(kind: string, name: string): void {
  if (!isValidPtpName(name)) {
    throw invalidInput(
      'name',
      `${kind} name "${name}" may only contain letters, digits, "-" and "_" (at most 64)`,
    );
  }
}

/** A parameter already set gets the new value in its place; new ones go at the end. */
function withParameters(current: readonly PtpParameter[], added: readonly PtpParameter[]): PtpParameter[] {
  const next = [...current];
  for (const parameter of added) {
    const at = next.findIndex((candidate) => candidate.name === parameter.name);
    if (at < 0) next.push(parameter);
    else next[at] = parameter;
  }
  return next;
}

function withoutParameters(
  current: readonly PtpParameter[],
  keys: readonly string[],
  owner: string,
): PtpParameter[] {
  for (const key of keys) {
    if (!current.some((parameter) => parameter.name === key)) throw notFound(`parameter of ${owner}`, key);
  }
  return current.filter((parameter) => !keys.includes(parameter.name));
}

function withHost(hosts: readonly PtpHostRecord[], record: PtpHostRecord): PtpHostRecord[] {
  return [...hosts.filter((host) => host.hostname !== record.hostname), record];
}

function samePort(a: PtpPortRecord, b: PtpPortRecord): boolean {
  return a.ptpInterface === b.ptpInterface && a.hostname === b.hostname && a.ifname === b.ifname;
}

function portsByHost(ports: readonly PtpPortRecord[]): Record<string, string[]> {
  const byHost: Record<string, string[]> = {};
  for (const port of ports) byHost[port.hostname] = [...(byHost[port.hostname] ?? []), port.ifname];
  return byHost;
}

function quoted(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ');
}
