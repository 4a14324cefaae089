import type { NamedMigration } from '../../core/db/migrate.js';

/** Active alarms, the event log, and suppression per alarm id. */
export const faultMigration: NamedMigration = {
  name: '0002_fault',
  async up(db) {
    await db.schema
      .createTable('alarms')
      .addColumn('uuid', 'text', (c) => c.primaryKey())
      .addColumn('alarm_id', 'text', (c) => c.notNull())
      .addColumn('entity_type_id', 'text', (c) => c.notNull())
      .addColumn('entity_instance_id', 'text', (c) => c.notNull())
      .addColumn('severity', 'text', (c) => c.notNull())
      .addColumn('reason_text', 'text', (c) => c.notNull())
      .addColumn('raised_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('alarms_key', ['alarm_id', 'entity_instance_id'])
      .execute();
    await db.schema
      .createTable('event_log')
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('uuid', 'text', (c) => c.notNull().unique())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('entity_type_id', 'text', (c) => c.notNull())
      .addColumn('entity_instance_id', 'text', (c) => c.notNull())
      .addColumn('severity', 'text', (c) => c.notNull())
      .addColumn('reason_text', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('probable_cause', 'text', (c) => c.notNull())
      .addColumn('proposed_repair_action', 'text', (c) => c.notNull())
      .addColumn('is_service_affecting', 'integer', (c) => c.notNull())
      .addColumn('timestamp', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('event_log_timestamp').on('event_log').column('timestamp').execute();
    await db.schema.createIndex('event_log_event_id').on('event_log').columns(['event_id', 'seq']).execute();
    await db.schema
      .createIndex('event_log_entity')
      .on('event_log')
      .columns(['entity_instance_id', 'seq'])
      .execute();
    await db.schema
      .createTable('event_suppression')
      .addColumn('alarm_id', 'text', (c) => c.primaryKey())
      .addColumn('is_suppressed', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
  },
};
