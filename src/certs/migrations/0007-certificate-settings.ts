import type { NamedMigration } from '../../core/db/migrate.js';

/** Alarm settings of single certificates, by fingerprint, over those of their source. */
export const certificateSettingsMigration: NamedMigration = {
  name: '0007_certificate_settings',
  async up(db) {
    await db.schema
      .createTable('certificate_settings')
      .addColumn('fingerprint', 'text', (c) => c.primaryKey())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
  },
};
