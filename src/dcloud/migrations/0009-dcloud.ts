import type { NamedMigration } from '../../core/db/migrate.js';

/** Subclouds of a system controller, their one-time join tokens, and subcloud groups. */
export const dcloudMigration: NamedMigration = {
  name: '0009_dcloud',
  async up(db) {
    await db.schema
      .createTable('subcloud_groups')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('update_apply_type', 'text', (c) => c.notNull())
      .addColumn('max_parallel_subclouds', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('subclouds')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('location', 'text', (c) => c.notNull())
      .addColumn('group_name', 'text', (c) => c.notNull())
      .addColumn('management', 'text', (c) => c.notNull())
      .addColumn('availability', 'text', (c) => c.notNull())
      .addColumn('deploy_status', 'text', (c) => c.notNull())
      .addColumn('software_version', 'text')
      // Sync status per endpoint ({"identity":"in-sync",…}); one column so a state change is one row write.
      .addColumn('endpoints', 'text', (c) => c.notNull())
      // AlarmCounts as JSON; null while offline or before the first digest.
      .addColumn('alarms', 'text')
      .addColumn('last_seen_at', 'text')
      // SHA-256 of the uplink client certificate last issued to the subcloud; the uplink accepts no other.
      .addColumn('certificate_fingerprint', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('subclouds_group_name').on('subclouds').column('group_name').execute();
    await db.schema
      .createTable('subcloud_enrollments')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
  },
};
