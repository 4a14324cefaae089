import { type Kysely, type Migration, Migrator } from 'kysely';
import type { Database, Dialect } from './database.js';

/** One schema step of one domain. `name` sorts globally: `<NNNN>_<domain>_<what>`. */
export interface NamedMigration {
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: migrations build schema, not typed queries.
  up(db: Kysely<any>, dialect: Dialect): Promise<void>;
}

/** Applies every pending migration in name order and records it; throws when one fails. */
export async function migrateToLatest(
  database: Database,
  migrations: readonly NamedMigration[],
): Promise<string[]> {
  const byName: Record<string, Migration> = {};
  for (const migration of migrations) {
    byName[migration.name] = { up: (db) => migration.up(db, database.dialect) };
  }
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: async () => byName },
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `migration "${failed}" failed: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
