import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';
import type { KeyType } from './issue.js';

interface ManagedCertificatesTable {
  name: string;
  dns: string;
  ips: string;
  key_type: string;
  duration_seconds: number;
  renew_before_seconds: number;
  serial: string;
  not_before: string;
  not_after: string;
  cert_pem: string;
  created_at: string;
  renewed_at: string | null;
}

/** A stored managed certificate (its key is a file beside the data, never a column). */
export interface StoredManagedCertificate {
  name: string;
  dns: string[];
  ips: string[];
  keyType: KeyType;
  durationSeconds: number;
  renewBeforeSeconds: number;
  serial: string;
  notBefore: string;
  notAfter: string;
  certPem: string;
  createdAt: string;
  renewedAt: string | null;
}

type Tables = { managed_certificates: ManagedCertificatesTable };

/** The `managed_certificates` table. */
export class ManagedCertificateStore {
  private readonly db: Kysely<Tables>;

  constructor(database: Database) {
    this.db = tablesOf<Tables>(database);
  }

  async list(): Promise<StoredManagedCertificate[]> {
    const rows = await this.db.selectFrom('managed_certificates').selectAll().orderBy('name').execute();
    return rows.map(fromRow);
  }

  async find(name: string): Promise<StoredManagedCertificate | undefined> {
    const row = await this.db
      .selectFrom('managed_certificates')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  /** Those whose renewal time (notAfter − renewBefore) is at or before `now`; the index on not_after narrows the scan. */
  async listDue(now: Date, maxRenewBeforeSeconds: number): Promise<StoredManagedCertificate[]> {
    const horizon = new Date(now.getTime() + maxRenewBeforeSeconds * 1000).toISOString();
    const rows = await this.db
      .selectFrom('managed_certificates')
      .selectAll()
      .where('not_after', '<=', horizon)
      .orderBy('not_after')
      .execute();
    return rows
      .map(fromRow)
      .filter((row) => Date.parse(row.notAfter) - row.renewBeforeSeconds * 1000 <= now.getTime());
  }

  async maxRenewBeforeSeconds(): Promise<number> {
    const row = await this.db
      .selectFrom('managed_certificates')
      .select((eb) => eb.fn.max('renew_before_seconds').as('max'))
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }

  async insert(cert: StoredManagedCertificate): Promise<void> {
    await this.db.insertInto('managed_certificates').values(toRow(cert)).execute();
  }

  /** Replaces the certificate if it still has `previousSerial`; false when another renewal won. */
  async replace(cert: StoredManagedCertificate, previousSerial: string): Promise<boolean> {
    const { name: _name, created_at: _created, ...changes } = toRow(cert);
    const result = await this.db
      .updateTable('managed_certificates')
      .set(changes)
      .where('name', '=', cert.name)
      .where('serial', '=', previousSerial)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async delete(name: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('managed_certificates')
      .where('name', '=', name)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function toRow(cert: StoredManagedCertificate): ManagedCertificatesTable {
  return {
    name: cert.name,
    dns: JSON.stringify(cert.dns),
    ips: JSON.stringify(cert.ips),
    key_type: cert.keyType,
    duration_seconds: cert.durationSeconds,
    renew_before_seconds: cert.renewBeforeSeconds,
    serial: cert.serial,
    not_before: cert.notBefore,
    not_after: cert.notAfter,
    cert_pem: cert.certPem,
    created_at: cert.createdAt,
    renewed_at: cert.renewedAt,
  };
}

function fromRow(row: ManagedCertificatesTable): StoredManagedCertificate {
  return {
    name: row.name,
    dns: JSON.parse(row.dns) as string[],
    ips: JSON.parse(row.ips) as string[],
    keyType: row.key_type as KeyType,
    durationSeconds: Number(row.duration_seconds),
    renewBeforeSeconds: Number(row.renew_before_seconds),
    serial: row.serial,
    notBefore: row.not_before,
    notAfter: row.not_after,
    certPem: row.cert_pem,
    createdAt: row.created_at,
    renewedAt: row.renewed_at,
  };
}
