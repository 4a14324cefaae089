import assert from 'node:assert/strict';
import { type Database, openDatabase } from '../../src/core/db/database.js';
import { migrateToLatest } from '../../src/core/db/migrate.js';
import { fdoMigration } from '../../src/fdo/rendezvous/migrations/0013-fdo.js';
import { BACKENDS } from './databases.js';

/** A fresh database with only the FDO tables, for rendezvous tests that need no other part. */
export interface FdoDatabase {
  database: Database;
  /** Closes the database and drops it. */
  close(): Promise<void>;
}

/** Opens it on the first backend (SQLite): these tests are about the protocol, not the storage. */
export async function openFdoDatabase(): Promise<FdoDatabase> {
  const backend = BACKENDS[0];
  assert.ok(backend);
  const testDatabase = await backend.create();
  const database = await openDatabase(testDatabase.url);
  await migrateToLatest(database, [fdoMigration]);
  return {
    database,
    async close() {
      await database.close();
      await testDatabase.drop();
    },
  };
}
