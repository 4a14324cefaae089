import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';
import type { RenderedFile } from '../inventory/agent-protocol.js';
import type { LinuxptpVersion, PtpInstance, PtpParameter, PtpService } from './model.js';

interface InstancesTable {
  name: string;
  service: string;
  parameters: string;
}

interface InterfacesTable {
  name: string;
  instance: string;
  parameters: string;
}

interface HostInstancesTable {
  hostname: string;
  instance: string;
}

interface PortsTable {
  ptp_interface: string;
  hostname: string;
  ifname: string;
}

interface HostsTable {
  hostname: string;
  linuxptp_version: string;
  applied_files: string | null;
  linuxptp_override: string | null;
  linuxptp_detected: string | null;
}

type Tables = {
  ptp_instances: InstancesTable;
  ptp_interfaces: InterfacesTable;
  ptp_host_instances: HostInstancesTable;
  ptp_interface_ports: PortsTable;
  ptp_hosts: HostsTable;
};

/** A PTP interface as stored; its host ports are rows of their own. */
export interface PtpInterfaceRecord {
  name: string;
  instance: string;
  parameters: PtpParameter[];
}

/** One host interface taken by a PTP interface. */
export interface PtpPortRecord {
  ptpInterface: string;
  hostname: string;
  ifname: string;
}

/** Per-host PTP settings: the linuxptp version and the files of the last apply. */
export interface PtpHostRecord {
  hostname: string;
  /** The version the host's files use: the override, else the detected one, else 3.1. */
  linuxptpVersion: LinuxptpVersion;
  /** The version an operator set; null = follow what the agent detects. */
  linuxptpOverride: LinuxptpVersion | null;
  /** `ptp4l -v` as the host's agent last reported it; null = unknown (not reported, not installed). */
  linuxptpDetected: string | null;
  appliedFiles: RenderedFile[] | null;
}

/** Everything in the PTP tables, read at start. */
export interface PtpRecords {
  instances: PtpInstance[];
  interfaces: PtpInterfaceRecord[];
  hostInstances: { hostname: string; instance: string }[];
  ports: PtpPortRecord[];
  hosts: PtpHostRecord[];
}

/** The PTP tables: instances, interfaces, their host assignments and per-host settings. */
export class PtpStore {
  private readonly db: Kysely<Tables>;

  constructor(database: Database) {
    this.db = tablesOf<Tables>(database);
  }

  async load(): Promise<PtpRecords> {
    const [instances, interfaces, hostInstances, ports, hosts] = await Promise.all([
      this.db.selectFrom('ptp_instances').selectAll().orderBy('name').execute(),
      this.db.selectFrom('ptp_interfaces').selectAll().orderBy('name').execute(),
      this.db.selectFrom('ptp_host_instances').selectAll().orderBy('hostname').orderBy('instance').execute(),
      this.db
        .selectFrom('ptp_interface_ports')
        .selectAll()
        .orderBy('ptp_interface')
        .orderBy('hostname')
        .orderBy('ifname')
        .execute(),
      this.db.selectFrom('ptp_hosts').selectAll().orderBy('hostname').execute(),
    ]);
    return {
      instances: instances.map((row) => ({
        name: row.name,
        service: row.service as PtpService,
        parameters: JSON.parse(row.parameters) as PtpParameter[],
      })),
      interfaces: interfaces.map((row) => ({
        name: row.name,
        instance: row.instance,
        parameters: JSON.parse(row.parameters) as PtpParameter[],
      })),
      hostInstances,
      ports: ports.map((row) => ({
        ptpInterface: row.ptp_interface,
        hostname: row.hostname,
        ifname: row.ifname,
      })),
      hosts: hosts.map((row) => ({
        hostname: row.hostname,
        linuxptpVersion: row.linuxptp_version as LinuxptpVersion,
        linuxptpOverride: row.linuxptp_override as LinuxptpVersion | null,
        linuxptpDetected: row.linuxptp_detected,
        appliedFiles: row.applied_files === null ? null : (JSON.parse(row.applied_files) as RenderedFile[]),
      })),
    };
  }

  async putInstance(instance: PtpInstance): Promise<void> {
    const values = { service: instance.service, parameters: JSON.stringify(instance.parameters) };
    await this.db
      .insertInto('ptp_instances')
      .values({ name: instance.name, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values))
      .execute();
  }

  async deleteInstance(name: string): Promise<void> {
    await this.db.deleteFrom('ptp_instances').where('name', '=', name).execute();
  }

  async putInterface(ptpInterface: PtpInterfaceRecord): Promise<void> {
    const values = { instance: ptpInterface.instance, parameters: JSON.stringify(ptpInterface.parameters) };
    await this.db
      .insertInto('ptp_interfaces')
      .values({ name: ptpInterface.name, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values))
      .execute();
  }

  async deleteInterface(name: string): Promise<void> {
    await this.db.deleteFrom('ptp_interfaces').where('name', '=', name).execute();
  }

  async addHostInstance(hostname: string, instance: string): Promise<void> {
    await this.db.insertInto('ptp_host_instances').values({ hostname, instance }).execute();
  }

  async removeHostInstance(hostname: string, instance: string): Promise<void> {
    await this.db
      .deleteFrom('ptp_host_instances')
      .where('hostname', '=', hostname)
      .where('instance', '=', instance)
      .execute();
  }

  async addPort(port: PtpPortRecord): Promise<void> {
    await this.db
      .insertInto('ptp_interface_ports')
      .values({ ptp_interface: port.ptpInterface, hostname: port.hostname, ifname: port.ifname })
      .execute();
  }

  async removePort(port: PtpPortRecord): Promise<void> {
    await this.db
      .deleteFrom('ptp_interface_ports')
      .where('ptp_interface', '=', port.ptpInterface)
      .where('hostname', '=', port.hostname)
      .where('ifname', '=', port.ifname)
      .execute();
  }

  async putHost(host: PtpHostRecord): Promise<void> {
    const values = {
      linuxptp_version: host.linuxptpVersion,
      linuxptp_override: host.linuxptpOverride,
      linuxptp_detected: host.linuxptpDetected,
      applied_files: host.appliedFiles === null ? null : JSON.stringify(host.appliedFiles),
    };
    await this.db
      .insertInto('ptp_hosts')
      .values({ hostname: host.hostname, ...values })
      .onConflict((oc) => oc.column('hostname').doUpdateSet(values))
      .execute();
  }
}
