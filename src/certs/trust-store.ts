import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';

interface TrustedCasTable {
  fingerprint: string;
  subject: string;
  not_after: string;
  pem: string;
  added_at: string;
  added_by: string;
  fleet_wide: number;
}

/** A CA certificate the site trusts for outbound TLS; `fingerprint` is its SHA-256 in lowercase hex. */
export interface TrustedCa {
  fingerprint: string;
  subject: string;
  notAfter: string;
  pem: string;
  addedAt: string;
  addedBy: string;
  /** Copied by the system controller to every managed subcloud; read-only on a subcloud. */
  isFleetWide: boolean;
}

/** What applying the controller's fleet-wide CAs did, by fingerprint. */
export interface FleetCaChanges {
  added: string[];
  removed: string[];
  /** Listed by the controller but trusted here as a local CA, which is left as it is. */
  conflicts: string[];
  unchangedCount: number;
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

  /** Marks CAs fleet-wide or local; returns how many of them it found. */
  async setFleetWide(fingerprints: readonly string[], isFleetWide: boolean): Promise<number> {
    if (fingerprints.length === 0) return 0;
    const result = await this.db
      .updateTable('trusted_cas')
      .set({ fleet_wide: isFleetWide ? 1 : 0 })
      .where('fingerprint', 'in', fingerprints)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /**
   * In one transaction: makes the fleet-wide CAs exactly `cas` (which must be marked fleet-wide).
   * A CA with the same fingerprint is the same certificate, so a fleet copy never needs updating; a
   * local one of the same fingerprint is left alone and reported.
   */
  async replaceFleetWide(cas: readonly TrustedCa[]): Promise<FleetCaChanges> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('trusted_cas').select(['fingerprint', 'fleet_wide']).execute();
      const stored = new Map(rows.map((row) => [row.fingerprint, Boolean(row.fleet_wide)]));
      const changes: FleetCaChanges = { added: [], removed: [], conflicts: [], unchangedCount: 0 };
      for (const ca of cas) {
        const isStoredFleetWide = stored.get(ca.fingerprint);
        if (isStoredFleetWide === undefined) {
          await trx.insertInto('trusted_cas').values(toRow(ca)).execute();
          changes.added.push(ca.fingerprint);
        } else if (isStoredFleetWide) {
          changes.unchangedCount++;
        } else {
          changes.conflicts.push(ca.fingerprint);
        }
      }
      const listed = new Set(cas.map((ca) => ca.fingerprint));
      changes.removed = rows
        .filter((row) => row.fleet_wide && !listed.has(row.fingerprint))
        .map((row) => row.fingerprint);
      if (changes.removed.length > 0) {
        await trx
          .deleteFrom('trusted_cas')
          .where('fingerprint', 'in', changes.removed)
          .where('fleet_wide', '=', 1)
          .execute();
      }
      return changes;
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
    fleet_wide: ca.isFleetWide ? 1 : 0,
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
    isFleetWide: Boolean(row.fleet_wide),
  };
}
