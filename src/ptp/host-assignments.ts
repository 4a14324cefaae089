import { conflict, notFound } from '../core/errors.js';
import type { AgentFrame } from '../inventory/agent-protocol.js';
import { type PtpConfig, type PtpHostView, withHost } from './config-state.js';
import type { LinuxptpVersion } from './model.js';
import type { PtpHostRecord, PtpPortRecord } from './store.js';

/**
 * Which PTP instances each host runs and which of its interfaces are ports of which PTP interface
 * (StarlingX `host-ptp-instance-*`, `host-if-ptp-*`), and the linuxptp version its files use.
 */
export class PtpHostAssignments {
  constructor(private readonly config: PtpConfig) {}

  /**
   * The host's PTP assignments; throws `not_found` for a host the inventory does not know and that
   * has no assignments (a deleted host keeps its assignments until they are removed).
   */
  getHost(hostname: string): PtpHostView {
    if (!this.config.hasAssignments(hostname)) this.config.inventory.getHost(hostname);
    return this.config.hostView(hostname);
  }

  /** Assigns a PTP instance to a host; throws `not_found`, `conflict` when already assigned. */
  async assignHostInstance(hostname: string, instance: string): Promise<PtpHostView> {
    return this.config.serialized(async () => {
      this.config.inventory.getHost(hostname);
      this.config.instance(instance);
      if (this.config.instancesOf(hostname).includes(instance)) {
        throw conflict(`ptp instance "${instance}" is already assigned to host "${hostname}"`);
      }
      const next = {
        ...this.config.state,
        hostInstances: [...this.config.state.hostInstances, { hostname, instance }],
      };
      this.config.check(next, { hosts: [hostname] });
      await this.config.store.addHostInstance(hostname, instance);
      this.config.state = next;
      return this.config.hostView(hostname);
    });
  }

  async removeHostInstance(hostname: string, instance: string): Promise<PtpHostView> {
    return this.config.serialized(async () => {
      if (!this.config.hasAssignments(hostname)) this.config.inventory.getHost(hostname);
      if (!this.config.instancesOf(hostname).includes(instance)) {
        throw notFound('ptp instance assignment', `${instance} on ${hostname}`);
      }
      const next = {
        ...this.config.state,
        hostInstances: this.config.state.hostInstances.filter(
          (row) => !(row.hostname === hostname && row.instance === instance),
        ),
      };
      this.config.check(next, { hosts: [hostname] });
      await this.config.store.removeHostInstance(hostname, instance);
      this.config.state = next;
      return this.config.hostView(hostname);
    });
  }

  /** Makes host interface `ifname` a port of `ptpInterface` on the host. */
  async assignHostInterface(hostname: string, ifname: string, ptpInterface: string): Promise<PtpHostView> {
    return this.config.serialized(async () => {
      this.config.inventory.getHost(hostname);
      this.config.ptpInterface(ptpInterface);
      const port = { ptpInterface, hostname, ifname };
      if (this.config.state.ports.some((candidate) => samePort(candidate, port))) {
        throw conflict(
          `"${ifname}" of host "${hostname}" is already a port of ptp interface "${ptpInterface}"`,
        );
      }
      const next = { ...this.config.state, ports: [...this.config.state.ports, port] };
      this.config.check(next, { hosts: [hostname] });
      await this.config.store.addPort(port);
      this.config.state = next;
      return this.config.hostView(hostname);
    });
  }

  async removeHostInterface(hostname: string, ifname: string, ptpInterface: string): Promise<PtpHostView> {
    return this.config.serialized(async () => {
      if (!this.config.hasAssignments(hostname)) this.config.inventory.getHost(hostname);
      const port = { ptpInterface, hostname, ifname };
      if (!this.config.state.ports.some((candidate) => samePort(candidate, port))) {
        throw notFound('ptp interface assignment', `${ptpInterface} on ${hostname}/${ifname}`);
      }
      const next = {
        ...this.config.state,
        ports: this.config.state.ports.filter((candidate) => !samePort(candidate, port)),
      };
      this.config.check(next, { hosts: [hostname] });
      await this.config.store.removePort(port);
      this.config.state = next;
      return this.config.hostView(hostname);
    });
  }

  /**
   * Sets the linuxptp version whose parameter names the host's files use, overriding the one its agent
   * detects; null goes back to the detected one. Like every change it takes effect at the next apply.
   * Throws `not_found`, `invalid_input` when the host's configuration is not valid for that version.
   */
  async setLinuxptpVersion(hostname: string, version: LinuxptpVersion | null): Promise<PtpHostView> {
    return this.config.serialized(async () => {
      this.config.inventory.getHost(hostname);
      const record = withEffectiveVersion({ ...this.config.hostRecord(hostname), linuxptpOverride: version });
      const next = { ...this.config.state, hosts: withHost(this.config.state.hosts, record) };
      this.config.check(next, { hosts: [hostname] });
      await this.config.store.putHost(record);
      this.config.state = next;
      return this.config.hostView(hostname);
    });
  }

  /** Agent-frame handler: takes the linuxptp version agents report in `hello` and `inventory`. */
  async handleAgentFrame(hostname: string, frame: AgentFrame): Promise<void> {
    // Older agents do not send it: absent is not "not installed".
    if ((frame.type === 'hello' || frame.type === 'inventory') && frame.linuxptpVersion !== undefined) {
      await this.recordDetectedLinuxptp(hostname, frame.linuxptpVersion);
    }
  }

  /**
   * Records the linuxptp version a host's agent detected (`ptp4l -v`; null when not installed), which
   * the host's files use unless an operator set one. Not checked: it is a fact about the host, and a
   * configuration it breaks is refused at the next apply. Hosts the inventory no longer has are skipped.
   */
  private async recordDetectedLinuxptp(hostname: string, detected: string | null): Promise<void> {
    return this.config.serialized(async () => {
      const current = this.config.hostRecord(hostname);
      if (current.linuxptpDetected === detected || !this.config.isKnownHost(hostname)) return;
      const record = withEffectiveVersion({ ...current, linuxptpDetected: detected });
      await this.config.store.putHost(record);
      this.config.state = { ...this.config.state, hosts: withHost(this.config.state.hosts, record) };
      if (record.linuxptpVersion !== current.linuxptpVersion) {
        this.config.logger.info(
          { hostname, detected, linuxptpVersion: record.linuxptpVersion },
          'linuxptp version of the host changed; it applies from the next ptp apply',
        );
      }
    });
  }
}

/**
 * The record with `linuxptpVersion` following its override, else its detected version: 3.x is 3.1
 * (the only 3.x murm knows the names of), 4 and later use the 4.x names; else 3.1.
 */
function withEffectiveVersion(record: PtpHostRecord): PtpHostRecord {
  const major = Number(/^(\d+)\./.exec(record.linuxptpDetected ?? '')?.[1] ?? Number.NaN);
  const detected: LinuxptpVersion | undefined = major >= 4 ? '4' : major === 3 ? '3.1' : undefined;
  return { ...record, linuxptpVersion: record.linuxptpOverride ?? detected ?? '3.1' };
}

function samePort(a: PtpPortRecord, b: PtpPortRecord): boolean {
  return a.ptpInterface === b.ptpInterface && a.hostname === b.hostname && a.ifname === b.ifname;
}
