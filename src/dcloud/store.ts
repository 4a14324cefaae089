import type { Kysely, Transaction } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';
import type {
  AvailabilityState,
  DeployStatus,
  EndpointStatuses,
  ManagementState,
  UpdateApplyType,
} from './model.js';
import type { AlarmCounts } from './uplink-protocol.js';

interface SubcloudGroupsTable {
  name: string;
  description: string;
  update_apply_type: string;
  max_parallel_subclouds: number;
  created_at: string;
  updated_at: string;
}

interface SubcloudsTable {
  name: string;
  description: string;
  location: string;
  group_name: string;
  management: string;
  availability: string;
  deploy_status: string;
  software_version: string | null;
  endpoints: string;
  alarms: string | null;
  last_seen_at: string | null;
  certificate_fingerprint: string | null;
  created_at: string;
  updated_at: string;
}

interface SubcloudEnrollmentsTable {
  name: string;
  token_hash: string;
  expires_at: string;
}

type Tables = {
  subcloud_groups: SubcloudGroupsTable;
  subclouds: SubcloudsTable;
  subcloud_enrollments: SubcloudEnrollmentsTable;
};

export interface SubcloudRecord {
  name: string;
  description: string;
  location: string;
  group: string;
  management: ManagementState;
  availability: AvailabilityState;
  deployStatus: DeployStatus;
  softwareVersion: string | null;
  endpoints: EndpointStatuses;
  /** Null while offline or before the first digest. */
  alarms: AlarmCounts | null;
  lastSeenAt: string | null;
  certificateFingerprint: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface GroupRecord {
  name: string;
  description: string;
  updateApplyType: UpdateApplyType;
  maxParallelSubclouds: number;
  createdAt: string;
  updatedAt: string;
}

export interface EnrollmentRecord {
  name: string;
  tokenHash: string;
  expiresAt: string;
}

/**
 * Bound parameters per statement: SQLite allows 32,766 and PostgreSQL 65,535, so a multi-row
 * statement carries at most this many values and a 5,000-subcloud batch needs only a few statements.
 */
const MAX_PARAMETERS = 30_000;
const SUBCLOUD_COLUMNS = 14;

/** The distributed-cloud tables: subclouds, their one-time join tokens (hashed) and subcloud groups. */
export class DcStore {
  private readonly db: Kysely<Tables>;

  constructor(database: Database) {
    this.db = tablesOf<Tables>(database);
  }

  async listGroups(): Promise<GroupRecord[]> {
    const rows = await this.db.selectFrom('subcloud_groups').selectAll().orderBy('name').execute();
    return rows.map(groupFromRow);
  }

  async insertGroup(group: GroupRecord): Promise<void> {
    await this.db.insertInto('subcloud_groups').values(groupToRow(group)).execute();
  }

  /** Writes the whole row; `expectedUpdatedAt` makes it a compare-and-set (false = someone else won). */
  async updateGroup(group: GroupRecord, expectedUpdatedAt: string): Promise<boolean> {
    const result = await this.db
      .updateTable('subcloud_groups')
      .set(groupToRow(group))
      .where('name', '=', group.name)
      .where('updated_at', '=', expectedUpdatedAt)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async deleteGroup(name: string): Promise<void> {
    await this.db.deleteFrom('subcloud_groups').where('name', '=', name).execute();
  }

  async listSubclouds(): Promise<SubcloudRecord[]> {
    const rows = await this.db.selectFrom('subclouds').selectAll().execute();
    return rows.map(subcloudFromRow);
  }

  /** Inserts new subclouds and their join tokens in one transaction, one multi-row insert per table (chunked). */
  async insertSubclouds(subclouds: readonly SubcloudRecord[], enrollments: readonly EnrollmentRecord[]) {
    await this.db.transaction().execute(async (trx) => {
      for (const chunk of chunks(subclouds.map(subcloudToRow), SUBCLOUD_COLUMNS)) {
        await trx.insertInto('subclouds').values(chunk).execute();
      }
      for (const chunk of chunks(enrollments.map(enrollmentToRow), 3)) {
        await trx.insertInto('subcloud_enrollments').values(chunk).execute();
      }
    });
  }

  /**
   * One group of changes in one transaction: deletes (with their join tokens) first, then whole-row
   * upserts of changed subclouds, one multi-row statement per chunk.
   */
  async writeSubclouds(changes: { deletes: readonly string[]; saves: readonly SubcloudRecord[] }) {
    if (changes.deletes.length === 0 && changes.saves.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const names of chunks(changes.deletes, 1)) {
        await trx.deleteFrom('subcloud_enrollments').where('name', 'in', names).execute();
        await trx.deleteFrom('subclouds').where('name', 'in', names).execute();
      }
      for (const chunk of chunks(changes.saves.map(subcloudToRow), SUBCLOUD_COLUMNS)) {
        await upsertSubclouds(trx, chunk);
      }
    });
  }

  /** Stores the subcloud's one join token (a new one replaces the old). */
  async putEnrollment(enrollment: EnrollmentRecord): Promise<void> {
    const row = enrollmentToRow(enrollment);
    await this.db
      .insertInto('subcloud_enrollments')
      .values(row)
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({ token_hash: row.token_hash, expires_at: row.expires_at }),
      )
      .execute();
  }

  /** Deletes and returns the enrollment with this token hash: a token works once. */
  async takeEnrollment(tokenHash: string): Promise<EnrollmentRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('subcloud_enrollments')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst();
      if (!row) return undefined;
      await trx.deleteFrom('subcloud_enrollments').where('name', '=', row.name).execute();
      return { name: row.name, tokenHash: row.token_hash, expiresAt: row.expires_at };
    });
  }
}

async function upsertSubclouds(trx: Transaction<Tables>, rows: SubcloudsTable[]): Promise<void> {
  await trx
    .insertInto('subclouds')
    .values(rows)
    .onConflict((oc) =>
      oc.column('name').doUpdateSet((eb) => ({
        description: eb.ref('excluded.description'),
        location: eb.ref('excluded.location'),
        group_name: eb.ref('excluded.group_name'),
        management: eb.ref('excluded.management'),
        availability: eb.ref('excluded.availability'),
        deploy_status: eb.ref('excluded.deploy_status'),
        software_version: eb.ref('excluded.software_version'),
        endpoints: eb.ref('excluded.endpoints'),
        alarms: eb.ref('excluded.alarms'),
        last_seen_at: eb.ref('excluded.last_seen_at'),
        certificate_fingerprint: eb.ref('excluded.certificate_fingerprint'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

function chunks<T>(items: readonly T[], columns: number): T[][] {
  const size = Math.floor(MAX_PARAMETERS / columns);
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

function groupToRow(group: GroupRecord): SubcloudGroupsTable {
  return {
    name: group.name,
    description: group.description,
    update_apply_type: group.updateApplyType,
    max_parallel_subclouds: group.maxParallelSubclouds,
    created_at: group.createdAt,
    updated_at: group.updatedAt,
  };
}

function groupFromRow(row: SubcloudGroupsTable): GroupRecord {
  return {
    name: row.name,
    description: row.description,
    updateApplyType: row.update_apply_type as UpdateApplyType,
    maxParallelSubclouds: Number(row.max_parallel_subclouds),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function enrollmentToRow(enrollment: EnrollmentRecord): SubcloudEnrollmentsTable {
  return { name: enrollment.name, token_hash: enrollment.tokenHash, expires_at: enrollment.expiresAt };
}

function subcloudToRow(subcloud: SubcloudRecord): SubcloudsTable {
  return {
    name: subcloud.name,
    description: subcloud.description,
    location: subcloud.location,
    group_name: subcloud.group,
    management: subcloud.management,
    availability: subcloud.availability,
    deploy_status: subcloud.deployStatus,
    software_version: subcloud.softwareVersion,
    endpoints: JSON.stringify(subcloud.endpoints),
    alarms: subcloud.alarms === null ? null : JSON.stringify(subcloud.alarms),
    last_seen_at: subcloud.lastSeenAt,
    certificate_fingerprint: subcloud.certificateFingerprint,
    created_at: subcloud.createdAt,
    updated_at: subcloud.updatedAt,
  };
}

function subcloudFromRow(row: SubcloudsTable): SubcloudRecord {
  return {
    name: row.name,
    description: row.description,
    location: row.location,
    group: row.group_name,
    management: row.management as ManagementState,
    availability: row.availability as AvailabilityState,
    deployStatus: row.deploy_status as DeployStatus,
    softwareVersion: row.software_version,
    endpoints: JSON.parse(row.endpoints) as EndpointStatuses,
    alarms: row.alarms === null ? null : (JSON.parse(row.alarms) as AlarmCounts),
    lastSeenAt: row.last_seen_at,
    certificateFingerprint: row.certificate_fingerprint,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
