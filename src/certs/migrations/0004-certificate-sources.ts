import type { NamedMigration } from '../../core/db/migrate.js';

/** Sources the certificate monitor watches: paths (files, directories, globs) and TLS endpoints. */
export const certificateSourcesMigration: NamedMigration = {
  name: '0004_certificate_sources',
  async up(db) {
    await db.schema
      .createTable('certificate_sources')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
};
