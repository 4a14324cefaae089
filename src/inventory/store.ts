import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';
import type {
  AdministrativeState,
  Availability,
  OperationalState,
  Personality,
  SystemMode,
  SystemType,
} from './model.js';
import type { CpuFunctionCounts, HostInventory } from './topology.js';

interface SystemTable {
  id: number;
  name: string;
  description: string;
  system_type: string;
  mode: string;
  region: string;
  software_version: string;
  updated_at: string;
}

interface HostsTable {
  hostname: string;
  personality: string;
  subfunctions: string;
  administrative: string;
  operational: string;
  availability: string;
  labels: string;
  agent_certificate: string | null;
  last_heartbeat_at: string | null;
  target_revision: string | null;
  applied_revision: string | null;
  cpu_counts: string | null;
  created_at: string;
  updated_at: string;
}

interface EnrollmentsTable {
  hostname: string;
  token_hash: string;
  expires_at: string;
}

interface InventoryTable {
  hostname: string;
  inventory: string;
  reported_at: string;
}

type Tables = {
  system: SystemTable;
  hosts: HostsTable;
  host_enrollments: EnrollmentsTable;
  host_inventory: InventoryTable;
};

export interface SystemRecord {
  name: string;
  description: string;
  systemType: SystemType;
  mode: SystemMode;
  region: string;
  softwareVersion: string;
  updatedAt: string;
}

export interface HostRecord {
  hostname: string;
  personality: Personality;
  subfunctions: string[];
  administrative: AdministrativeState;
  operational: OperationalState;
  availability: Availability;
  labels: Record<string, string>;
  agentCertificate: string | null;
  lastHeartbeatAt: string | null;
  targetRevision: string | null;
  appliedRevision: string | null;
  cpuCounts: CpuFunctionCounts | null;
  createdAt: string;
  updatedAt: string;
}

/** The inventory tables: one system row, hosts, enrollment tokens (hashed) and reported inventory. */
export class InventoryStore {
  private readonly db: Kysely<Tables>;

  constructor(database: Database) {
    this.db = tablesOf<Tables>(database);
  }

  async getSystem(): Promise<SystemRecord | undefined> {
    const row = await this.db.selectFrom('system').selectAll().where('id', '=', 1).executeTakeFirst();
    return row && systemFromRow(row);
  }

  async putSystem(system: SystemRecord): Promise<void> {
    const row = { id: 1, ...systemToRow(system) };
    await this.db
      .insertInto('system')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(systemToRow(system)))
      .execute();
  }

  async listHosts(): Promise<HostRecord[]> {
    const rows = await this.db.selectFrom('hosts').selectAll().orderBy('hostname').execute();
    return rows.map(hostFromRow);
  }

  async insertHost(host: HostRecord): Promise<void> {
    await this.db.insertInto('hosts').values(hostToRow(host)).execute();
  }

  /** Writes the whole row; `expectedUpdatedAt` makes it a compare-and-set (false = someone else won). */
  async updateHost(host: HostRecord, expectedUpdatedAt: string): Promise<boolean> {
    const result = await this.db
      .updateTable('hosts')
      .set(hostToRow(host))
      .where('hostname', '=', host.hostname)
      .where('updated_at', '=', expectedUpdatedAt)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Removes the host with its enrollment token and inventory, in one transaction. */
  async deleteHost(hostname: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('host_enrollments').where('hostname', '=', hostname).execute();
      await trx.deleteFrom('host_inventory').where('hostname', '=', hostname).execute();
      await trx.deleteFrom('hosts').where('hostname', '=', hostname).execute();
    });
  }

  /** Stores the host's one enrollment token (a new one replaces the old). */
  async putEnrollment(hostname: string, tokenHash: string, expiresAt: string): Promise<void> {
    await this.db
      .insertInto('host_enrollments')
      .values({ hostname, token_hash: tokenHash, expires_at: expiresAt })
      .onConflict((oc) => oc.column('hostname').doUpdateSet({ token_hash: tokenHash, expires_at: expiresAt }))
      .execute();
  }

  /** Deletes and returns the enrollment with this token hash: a token works once. */
  async takeEnrollment(tokenHash: string): Promise<{ hostname: string; expiresAt: string } | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('host_enrollments')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst();
      if (!row) return undefined;
      await trx.deleteFrom('host_enrollments').where('hostname', '=', row.hostname).execute();
      return { hostname: row.hostname, expiresAt: row.expires_at };
    });
  }

  async putInventory(hostname: string, inventory: HostInventory, reportedAt: string): Promise<void> {
    const values = { inventory: JSON.stringify(inventory), reported_at: reportedAt };
    await this.db
      .insertInto('host_inventory')
      .values({ hostname, ...values })
      .onConflict((oc) => oc.column('hostname').doUpdateSet(values))
      .execute();
  }

  async listInventory(): Promise<{ hostname: string; inventory: HostInventory; reportedAt: string }[]> {
    const rows = await this.db.selectFrom('host_inventory').selectAll().execute();
    return rows.map((row) => ({
      hostname: row.hostname,
      inventory: JSON.parse(row.inventory) as HostInventory,
      reportedAt: row.reported_at,
    }));
  }
}

function systemToRow(system: SystemRecord): Omit<SystemTable, 'id'> {
  return {
    name: system.name,
    description: system.description,
    system_type: system.systemType,
    mode: system.mode,
    region: system.region,
    software_version: system.softwareVersion,
    updated_at: system.updatedAt,
  };
}

function systemFromRow(row: SystemTable): SystemRecord {
  return {
    name: row.name,
    description: row.description,
    systemType: row.system_type as SystemType,
    mode: row.mode as SystemMode,
    region: row.region,
    softwareVersion: row.software_version,
    updatedAt: row.updated_at,
  };
}

function hostToRow(host: HostRecord): HostsTable {
  return {
    hostname: host.hostname,
    personality: host.personality,
    subfunctions: JSON.stringify(host.subfunctions),
    administrative: host.administrative,
    operational: host.operational,
    availability: host.availability,
    labels: JSON.stringify(host.labels),
    agent_certificate: host.agentCertificate,
    last_heartbeat_at: host.lastHeartbeatAt,
    target_revision: host.targetRevision,
    applied_revision: host.appliedRevision,
    cpu_counts: host.cpuCounts === null ? null : JSON.stringify(host.cpuCounts),
    created_at: host.createdAt,
    updated_at: host.updatedAt,
  };
}

function hostFromRow(row: HostsTable): HostRecord {
  return {
    hostname: row.hostname,
    personality: row.personality as Personality,
    subfunctions: JSON.parse(row.subfunctions) as string[],
    administrative: row.administrative as AdministrativeState,
    operational: row.operational as OperationalState,
    availability: row.availability as Availability,
    labels: JSON.parse(row.labels) as Record<string, string>,
    agentCertificate: row.agent_certificate,
    lastHeartbeatAt: row.last_heartbeat_at,
    targetRevision: row.target_revision,
    appliedRevision: row.applied_revision,
    cpuCounts: row.cpu_counts === null ? null : (JSON.parse(row.cpu_counts) as CpuFunctionCounts),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
