import type { NamedMigration } from '../../core/db/migrate.js';

/** System, hosts, their one-time enrollment tokens and the inventory their agents report. */
export const inventoryMigration: NamedMigration = {
  name: '0008_inventory',
  async up(db) {
    await db.schema
      .createTable('system')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('system_type', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('software_version', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('hosts')
      .addColumn('hostname', 'text', (c) => c.primaryKey())
      .addColumn('personality', 'text', (c) => c.notNull())
      .addColumn('subfunctions', 'text', (c) => c.notNull())
      .addColumn('administrative', 'text', (c) => c.notNull())
      .addColumn('operational', 'text', (c) => c.notNull())
      .addColumn('availability', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      // SHA-256 of the client certificate the site CA issued to this host's agent; the channel accepts no other.
      .addColumn('agent_certificate', 'text')
      .addColumn('last_heartbeat_at', 'text')
      .addColumn('target_revision', 'text')
      .addColumn('applied_revision', 'text')
      // Requested physical cores per function and NUMA node (CpuFunctionCounts as JSON); null = defaults.
      .addColumn('cpu_counts', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('host_enrollments')
      .addColumn('hostname', 'text', (c) => c.primaryKey())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('host_inventory')
      .addColumn('hostname', 'text', (c) => c.primaryKey())
      .addColumn('inventory', 'text', (c) => c.notNull())
      .addColumn('reported_at', 'text', (c) => c.notNull())
      .execute();
  },
};
