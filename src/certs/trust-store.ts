import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';

interface TrustedCasTable {
  fingerprint: string;
  subject: string;
  not_after: string;
  pem: string;
  added_at: string;
  added_by: string;
}

/** A CA certificate the site trusts for outbound TLS; `fingerprint` is its SHA-256 in lowercase hex. */
export interface TrustedCa {
  fingerprint: string;
  subject: string;
  notAfter: string;
  pem: string;
  addedAt: string;
  addedBy: string;
}

type Tables = { trusted_cas: TrustedCasTable };

/** The `trusted_cas` table. */
export class TrustedCaStore {
  private readonly db: Kysely<Tables>;

  constructor(database: Database) {
    this.db = tablesOf<Tables>(database);
  }

  async list(): Promise<TrustedCa[]> {
    const rows = await this.db
      .selectFrom('trusted_cas')
      .selectAll()
      .orderBy('added_at')
      .orderBy('fingerprint')
      .execute();
    return rows.map(fromRow);
  }

  /** Inserts those not stored yet (by fingerprint); returns the fingerprints it inserted. */
  async insertMissing(cas: readonly TrustedCa[]): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const inserted: string[] = [];
      for (const ca of cas) {
        const result = await trx
          .insertInto('trusted_cas')
          .values(toRow(ca))
          .onConflict((oc) => oc.column('fingerprint').doNothing())
          .executeTakeFirst();
        if ((result.numInsertedOrUpdatedRows ?? 0n) > 0n) inserted.push(ca.fingerprint);
      }
      return inserted;
    });
  }

  async delete(fingerprint: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('trusted_cas')
      .where('fingerprint', '=', fingerprint)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function toRow(ca: TrustedCa): TrustedCasTable {
  return {
    fingerprint: ca.fingerprint,
    subject: ca.subject,
    not_after: ca.notAfter,
    pem: ca.pem,
    added_at: ca.addedAt,
    added_by: ca.addedBy,
  };
}

function fromRow(row: TrustedCasTable): TrustedCa {
  return {
    fingerprint: row.fingerprint,
    subject: row.subject,
    notAfter: row.not_after,
    pem: row.pem,
    addedAt: row.added_at,
    addedBy: row.added_by,
  };
}
