import { conflict, invalidInput, notFound } from '../core/errors.js';
import type { PtpConfig, PtpInstanceView, PtpInterfaceView } from './config-state.js';
import { quoted } from './config-state.js';
import {
  isValidPtpName,
  type PtpInstance,
  type PtpParameter,
  type PtpService as PtpServiceName,
} from './model.js';
import type { PtpInterfaceRecord } from './store.js';

/**
 * PTP instances and PTP interfaces with their parameters (StarlingX `ptp-instance-*`,
 * `ptp-interface-*`): each change is checked against every host running what it touches.
 */
export class PtpDefinitions {
  constructor(private readonly config: PtpConfig) {}

  listInstances(): PtpInstanceView[] {
    return this.config.state.instances.map((instance) => this.config.instanceView(instance));
  }

  /** Throws `not_found`. */
  getInstance(name: string): PtpInstanceView {
    return this.config.instanceView(this.config.instance(name));
  }

  /** Throws `invalid_input` for a bad name, `conflict` when it exists. */
  async addInstance(name: string, service: PtpServiceName): Promise<PtpInstanceView> {
    return this.config.serialized(async () => {
      checkName('ptp instance', name);
      if (this.config.state.instances.some((instance) => instance.name === name)) {
        throw conflict(`ptp instance "${name}" already exists`, { name });
      }
      const instance: PtpInstance = { name, service, parameters: [] };
      await this.config.store.putInstance(instance);
      this.config.state = { ...this.config.state, instances: [...this.config.state.instances, instance] };
      return this.config.instanceView(instance);
    });
  }

  /** Throws `not_found`; `conflict` while the instance is assigned to hosts or owns interfaces. */
  async deleteInstance(name: string): Promise<void> {
    return this.config.serialized(async () => {
      this.config.instance(name);
      const hosts = this.config.hostsOf(name);
      if (hosts.length > 0) {
        throw conflict(
          `ptp instance "${name}" is assigned to ${quoted(hosts)}; remove it from them first (murm host ptp-instance remove)`,
          { hosts },
        );
      }
      const interfaces = this.config.state.interfaces.filter((candidate) => candidate.instance === name);
      if (interfaces.length > 0) {
        const names = interfaces.map((candidate) => candidate.name);
        throw conflict(
          `ptp instance "${name}" has ptp interfaces ${quoted(names)}; delete them first (murm ptp interface delete)`,
          { interfaces: names },
        );
      }
      await this.config.store.deleteInstance(name);
      this.config.state = {
        ...this.config.state,
        instances: this.config.state.instances.filter((instance) => instance.name !== name),
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
    return this.config.state.interfaces.map((record) => this.config.interfaceView(record));
  }

  /** Throws `not_found`. */
  getInterface(name: string): PtpInterfaceView {
    return this.config.interfaceView(this.config.ptpInterface(name));
  }

  /** Throws `invalid_input` for a bad name, `not_found` for the instance, `conflict` when it exists. */
  async addInterface(name: string, instance: string): Promise<PtpInterfaceView> {
    return this.config.serialized(async () => {
      checkName('ptp interface', name);
      this.config.instance(instance);
      if (this.config.state.interfaces.some((candidate) => candidate.name === name)) {
        throw conflict(`ptp interface "${name}" already exists`, { name });
      }
      const record: PtpInterfaceRecord = { name, instance, parameters: [] };
      await this.config.store.putInterface(record);
      this.config.state = { ...this.config.state, interfaces: [...this.config.state.interfaces, record] };
      return this.config.interfaceView(record);
    });
  }

  /** Throws `not_found`; `conflict` while the interface has host interfaces assigned. */
  async deleteInterface(name: string): Promise<void> {
    return this.config.serialized(async () => {
      this.config.ptpInterface(name);
      const ports = this.config.state.ports.filter((port) => port.ptpInterface === name);
      if (ports.length > 0) {
        const where = ports.map((port) => `${port.hostname}/${port.ifname}`);
        throw conflict(
          `ptp interface "${name}" is assigned to ${quoted(where)}; remove it from them first (murm host if-ptp remove)`,
          { ports: where },
        );
      }
      await this.config.store.deleteInterface(name);
      this.config.state = {
        ...this.config.state,
        interfaces: this.config.state.interfaces.filter((record) => record.name !== name),
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

  private async changeInstanceParameters(
    name: string,
    change: (current: readonly PtpParameter[]) => PtpParameter[],
  ): Promise<PtpInstanceView> {
    return this.config.serialized(async () => {
      const instance = { ...this.config.instance(name) };
      instance.parameters = change(instance.parameters);
      const next = {
        ...this.config.state,
        instances: this.config.state.instances.map((candidate) =>
          candidate.name === name ? instance : candidate,
        ),
      };
      this.config.check(next, { instances: [name] });
      await this.config.store.putInstance(instance);
      this.config.state = next;
      return this.config.instanceView(instance);
    });
  }

  private async changeInterfaceParameters(
    name: string,
    change: (current: readonly PtpParameter[]) => PtpParameter[],
  ): Promise<PtpInterfaceView> {
    return this.config.serialized(async () => {
      const record = { ...this.config.ptpInterface(name) };
      record.parameters = change(record.parameters);
      const next = {
        ...this.config.state,
        interfaces: this.config.state.interfaces.map((candidate) =>
          candidate.name === name ? record : candidate,
        ),
      };
      this.config.check(next, { instances: [record.instance] });
      await this.config.store.putInterface(record);
      this.config.state = next;
      return this.config.interfaceView(record);
    });
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
