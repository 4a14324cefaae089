import { CompiledQuery, type Kysely } from 'kysely';
import { type Database, tablesOf } from '../../core/db/database.js';
import type { AccessList, AccessRule, AccessSubject, Registration, StoredRegistration } from './model.js';

interface RegistrationsTable {
  guid: string;
  device_info: string;
  owner_key_hash: string;
  manufacturer_key_hash: string;
  to1d: Uint8Array;
  device_key: Uint8Array;
  to2_addresses: string;
  wait_seconds: number;
  source: string;
  registered_at: string;
  expires_at: string;
}

interface AccessRulesTable {
  list: string;
  subject: string;
  value: string;
  created_at: string;
}

type Tables = { fdo_registrations: RegistrationsTable; fdo_access_rules: AccessRulesTable };

const SUMMARY_COLUMNS = [
  'guid',
  'device_info',
  'owner_key_hash',
  'manufacturer_key_hash',
  'to2_addresses',
  'wait_seconds',
  'source',
  'registered_at',
  'expires_at',
] as const;

/** The FDO tables: registrations (one per device GUID) and the allow/deny rules. */
export class RendezvousStore {
  private readonly db: Kysely<Tables>;
  /** TO1 looks a registration up on every HelloRV: its SQL is built once and only the parameters change. */
  private readonly findLiveSql: string;

  constructor(database: Database) {
    this.db = tablesOf<Tables>(database);
    this.findLiveSql = this.db
      .selectFrom('fdo_registrations')
      .selectAll()
      .where('guid', '=', '')
      .where('expires_at', '>', '')
      .compile().sql;
  }

  /** Inserts or replaces the registration of its GUID (a new TO0 replaces the previous owner's). */
  async upsert(registration: StoredRegistration): Promise<void> {
    const row = toRow(registration);
    const { guid: _guid, ...update } = row;
    await this.db
      .insertInto('fdo_registrations')
      .values(row)
      .onConflict((conflict) => conflict.column('guid').doUpdateSet(update))
      .execute();
  }

  /** The registration of a GUID still live at `now`, with its to1d and device key. */
  async findLive(guid: string, now: Date): Promise<StoredRegistration | undefined> {
    const { rows } = await this.db.executeQuery<RegistrationsTable>(
      CompiledQuery.raw(this.findLiveSql, [guid, now.toISOString()]),
    );
    const row = rows[0];
    if (!row) return undefined;
    return { ...fromRow(row), to1d: new Uint8Array(row.to1d), deviceKey: new Uint8Array(row.device_key) };
  }

  /** Live registrations ordered by GUID, after `afterGuid`, at most `limit`. */
  async list(options: { now: Date; limit: number; afterGuid?: string | undefined }): Promise<Registration[]> {
    let query = this.db
      .selectFrom('fdo_registrations')
      .select(SUMMARY_COLUMNS)
      .where('expires_at', '>', options.now.toISOString());
    if (options.afterGuid !== undefined) query = query.where('guid', '>', options.afterGuid);
    const rows = await query.orderBy('guid').limit(options.limit).execute();
    return rows.map(fromRow);
  }

  /** The registration of a GUID (live or not yet swept). */
  async find(guid: string): Promise<Registration | undefined> {
    const row = await this.db
      .selectFrom('fdo_registrations')
      .select(SUMMARY_COLUMNS)
      .where('guid', '=', guid)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  /** Deletes a registration; false when there was none. */
  async delete(guid: string): Promise<boolean> {
    const result = await this.db.deleteFrom('fdo_registrations').where('guid', '=', guid).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** Deletes registrations expired at `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('fdo_registrations')
      .where('expires_at', '<=', now.toISOString())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Live registrations at `now`. */
  async countLive(now: Date): Promise<number> {
    const row = await this.db
      .selectFrom('fdo_registrations')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('expires_at', '>', now.toISOString())
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async listRules(): Promise<AccessRule[]> {
    const rows = await this.db
      .selectFrom('fdo_access_rules')
      .selectAll()
      .orderBy('list')
      .orderBy('subject')
      .orderBy('value')
      .execute();
    return rows.map((row) => ({
      list: row.list as AccessList,
      subject: row.subject as AccessSubject,
      value: row.value,
      createdAt: row.created_at,
    }));
  }

  /** Adds a rule; false when it existed already. */
  async addRule(rule: AccessRule): Promise<boolean> {
    const result = await this.db
      .insertInto('fdo_access_rules')
      .values({ list: rule.list, subject: rule.subject, value: rule.value, created_at: rule.createdAt })
      .onConflict((conflict) => conflict.columns(['list', 'subject', 'value']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /** Removes a rule; false when there was none. */
  async removeRule(list: AccessList, subject: AccessSubject, value: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('fdo_access_rules')
      .where('list', '=', list)
      .where('subject', '=', subject)
      .where('value', '=', value)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function toRow(registration: StoredRegistration): RegistrationsTable {
  return {
    guid: registration.guid,
    device_info: registration.deviceInfo,
    owner_key_hash: registration.ownerKeyHash,
    manufacturer_key_hash: registration.manufacturerKeyHash,
    // better-sqlite3 binds Buffers, not plain Uint8Arrays; both drivers take a Buffer view without a copy.
    to1d: Buffer.from(registration.to1d.buffer, registration.to1d.byteOffset, registration.to1d.byteLength),
    device_key: Buffer.from(
      registration.deviceKey.buffer,
      registration.deviceKey.byteOffset,
      registration.deviceKey.byteLength,
    ),
    to2_addresses: JSON.stringify(registration.to2Addresses),
    wait_seconds: registration.waitSeconds,
    source: registration.source,
    registered_at: registration.registeredAt,
    expires_at: registration.expiresAt,
  };
}

function fromRow(row: Omit<RegistrationsTable, 'to1d' | 'device_key'>): Registration {
  return {
    guid: row.guid,
    deviceInfo: row.device_info,
    ownerKeyHash: row.owner_key_hash,
    manufacturerKeyHash: row.manufacturer_key_hash,
    to2Addresses: JSON.parse(row.to2_addresses) as Registration['to2Addresses'],
    waitSeconds: Number(row.wait_seconds),
    source: row.source,
    registeredAt: row.registered_at,
    expiresAt: row.expires_at,
  };
}
