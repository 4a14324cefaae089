import type { NamedMigration } from '../../core/db/migrate.js';

/** Certificates this site issues from its root CA and renews itself; keys live in files, not here. */
export const managedCertificatesMigration: NamedMigration = {
  name: '0005_managed_certificates',
  async up(db) {
    await db.schema
      .createTable('managed_certificates')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('dns', 'text', (c) => c.notNull())
      .addColumn('ips', 'text', (c) => c.notNull())
      .addColumn('key_type', 'text', (c) => c.notNull())
      .addColumn('duration_seconds', 'bigint', (c) => c.notNull())
      .addColumn('renew_before_seconds', 'bigint', (c) => c.notNull())
      .addColumn('serial', 'text', (c) => c.notNull())
      .addColumn('not_before', 'text', (c) => c.notNull())
      .addColumn('not_after', 'text', (c) => c.notNull())
      .addColumn('cert_pem', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('renewed_at', 'text')
      .execute();
    await db.schema
      .createIndex('managed_certificates_not_after')
      .on('managed_certificates')
      .column('not_after')
      .execute();
  },
};
