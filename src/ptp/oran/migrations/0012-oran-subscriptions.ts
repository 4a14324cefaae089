import type { NamedMigration } from '../../../core/db/migrate.js';

/** O-RAN notification API subscriptions; they outlive restarts, the events in flight do not. */
export const oranSubscriptionsMigration: NamedMigration = {
  name: '0012_ptp_oran_subscriptions',
  async up(db) {
    await db.schema
      .createTable('oran_subscriptions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('endpoint_uri', 'text', (c) => c.notNull())
      .addColumn('resource_address', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    // The API answers 409 for a second subscription of one endpoint to one address.
    await db.schema
      .createIndex('oran_subscriptions_endpoint_address')
      .on('oran_subscriptions')
      .columns(['endpoint_uri', 'resource_address'])
      .unique()
      .execute();
  },
};
