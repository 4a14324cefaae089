import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';

interface CertificateSourcesTable {
  id: string;
  kind: string;
  target: string;
  settings: string;
  created_at: string;
}

interface CertificateSettingsTable {
  fingerprint: string;
  settings: string;
  updated_at: string;
}

/** A stored watch source; `settings` is the JSON of its alarm settings. */
export interface StoredSource {
  id: string;
  kind: 'path' | 'endpoint';
  target: string;
  settings: string;
  createdAt: string;
}

type SourceTables = {
  certificate_sources: CertificateSourcesTable;
  certificate_settings: CertificateSettingsTable;
};

/** The `certificate_sources` table and the per-certificate `certificate_settings` overrides. */
export class CertificateSourceStore {
  private readonly db: Kysely<SourceTables>;

  constructor(database: Database) {
    this.db = tablesOf<SourceTables>(database);
  }

  /** Per-certificate settings (JSON) by fingerprint. */
  async listCertificateSettings(): Promise<Map<string, string>> {
    const rows = await this.db.selectFrom('certificate_settings').selectAll().execute();
    return new Map(rows.map((row) => [row.fingerprint, row.settings]));
  }

  /** Stores the override of one certificate, or removes it when `settings` is undefined. */
  async setCertificateSettings(fingerprint: string, settings: string | undefined, at: string): Promise<void> {
    if (settings === undefined) {
      await this.db.deleteFrom('certificate_settings').where('fingerprint', '=', fingerprint).execute();
      return;
    }
    await this.db
      .insertInto('certificate_settings')
      .values({ fingerprint, settings, updated_at: at })
      .onConflict((oc) => oc.column('fingerprint').doUpdateSet({ settings, updated_at: at }))
      .execute();
  }

  async list(): Promise<StoredSource[]> {
    const rows = await this.db.selectFrom('certificate_sources').selectAll().orderBy('created_at').execute();
    return rows.map((row) => ({
      id: row.id,
      kind: row.kind as StoredSource['kind'],
      target: row.target,
      settings: row.settings,
      createdAt: row.created_at,
    }));
  }

  async insert(source: StoredSource): Promise<void> {
    await this.db
      .insertInto('certificate_sources')
      .values({
        id: source.id,
        kind: source.kind,
        target: source.target,
        settings: source.settings,
        created_at: source.createdAt,
      })
      .execute();
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('certificate_sources').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
