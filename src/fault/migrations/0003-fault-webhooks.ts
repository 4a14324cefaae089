import type { NamedMigration } from '../../core/db/migrate.js';

/** Alarm webhook subscriptions and their delivery outbox (durable across restarts: at-least-once). */
export const faultWebhooksMigration: NamedMigration = {
  name: '0003_fault_webhooks',
  async up(db) {
    await db.schema
      .createTable('alarm_webhooks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('filter', 'text', (c) => c.notNull())
      .addColumn('is_enabled', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_status', 'text')
      .addColumn('last_status_code', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('last_attempt_at', 'text')
      .addColumn('last_success_at', 'text')
      .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('alarm_webhook_outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('webhook_id', 'text', (c) => c.notNull().references('alarm_webhooks.id').onDelete('cascade'))
      .addColumn('event_uuid', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('alarm_webhook_outbox_due')
      .on('alarm_webhook_outbox')
      .columns(['state', 'next_attempt_at'])
      .execute();
    // One row per (webhook, event): a change published twice is enqueued once. It also serves the
    // ON DELETE CASCADE lookup and the pending count per webhook.
    await db.schema
      .createIndex('alarm_webhook_outbox_event')
      .on('alarm_webhook_outbox')
      .columns(['webhook_id', 'event_uuid'])
      .unique()
      .execute();
  },
};
