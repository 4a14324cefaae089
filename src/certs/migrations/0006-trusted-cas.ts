import type { NamedMigration } from '../../core/db/migrate.js';

/** CA certificates the site trusts for its outbound TLS, beside the site root CA. */
export const trustedCasMigration: NamedMigration = {
  name: '0006_trusted_cas',
  async up(db) {
    await db.schema
      .createTable('trusted_cas')
      .addColumn('fingerprint', 'text', (c) => c.primaryKey())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('not_after', 'text', (c) => c.notNull())
      .addColumn('pem', 'text', (c) => c.notNull())
      .addColumn('added_at', 'text', (c) => c.notNull())
      .addColumn('added_by', 'text', (c) => c.notNull())
      .execute();
  },
};
