import type { NamedMigration } from '../../core/db/migrate.js';

/** Marks users and trusted CAs the system controller copies to every managed subcloud (0/1). */
export const fleetWideMigration: NamedMigration = {
  name: '0010_fleet_wide',
  async up(db) {
    // One column per statement: SQLite's ALTER TABLE adds a single column at a time.
    await db.schema
      .alterTable('users')
      .addColumn('fleet_wide', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('trusted_cas')
      .addColumn('fleet_wide', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};
