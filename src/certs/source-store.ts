import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';

interface CertificateSourcesTable {
  id: string;
  kind: string;
  target: string;
  settings: string;
  created_at: string;
}

/** A stored watch source; `settings` is the JSON of its alarm settings. */
export interface StoredSource {
  id: string;
  kind: 'path' | 'endpoint';
  target: string;
  settings: string;
  createdAt: string;
}

/** The `certificate_sources` table. */
export class CertificateSourceStore {
  private readonly db: Kysely<{ certificate_sources: CertificateSourcesTable }>;

  constructor(database: Database) {
    this.db = tablesOf<{ certificate_sources: CertificateSourcesTable }>(database);
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
