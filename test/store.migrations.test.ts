import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openDatabase } from '../src/core/db/database.js';
import { migrateToLatest, type NamedMigration } from '../src/core/db/migrate.js';
import { identityMigration } from '../src/identity/migrations/0001-identity.js';
import { BACKENDS } from './helpers/databases.js';

for (const backend of BACKENDS) {
  describe(`migrations on ${backend.name}`, () => {
    test('apply once, are recorded, and are a no-op the second time', async () => {
      const testDb = await backend.create();
      const database = await openDatabase(testDb.url);
      try {
        assert.deepEqual(await migrateToLatest(database, [identityMigration]), ['0001_identity']);
        assert.deepEqual(await migrateToLatest(database, [identityMigration]), []);
        const recorded = await database.db.selectFrom('schema_migrations').select('name').execute();
        assert.deepEqual(
          recorded.map((row: { name: string }) => row.name),
          ['0001_identity'],
        );
      } finally {
        await database.close();
        await testDb.drop();
      }
    });

    test('stops at a failing migration, names it, and leaves a schema a fixed release can finish', async () => {
      const testDb = await backend.create();
      const database = await openDatabase(testDb.url);
      const failing: NamedMigration = {
        name: '0002_broken',
        up: async (db) => {
          await db.schema.createTable('users').addColumn('x', 'text').execute(); // already exists
        },
      };
      try {
        await assert.rejects(
          migrateToLatest(database, [identityMigration, failing]),
          /migration "0002_broken" failed/,
        );
        // PostgreSQL has transactional DDL, so the whole run rolls back; SQLite keeps the steps before it.
        const recorded = await database.db.selectFrom('schema_migrations').select('name').execute();
        assert.deepEqual(
          recorded.map((row: { name: string }) => row.name),
          backend.name === 'postgres' ? [] : ['0001_identity'],
        );
        assert.deepEqual(
          await migrateToLatest(database, [identityMigration]),
          backend.name === 'postgres' ? ['0001_identity'] : [],
        );
      } finally {
        await database.close();
        await testDb.drop();
      }
    });
  });
}

test('refuses a database setting that is neither postgres:// nor sqlite:', async () => {
  const { resolveServeConfig } = await import('../src/core/config.js');
  assert.throws(
    () => resolveServeConfig({ database: 'mysql://x' }, {}, '/tmp'),
    /neither a postgres:\/\/ URL nor sqlite/,
  );
  assert.throws(() => resolveServeConfig({ listen: 'nonsense' }, {}, '/tmp'), /not host:port/);
  assert.throws(() => resolveServeConfig({}, { MURM_TOKEN_TTL: '-5' }, '/tmp'), /MURM_TOKEN_TTL/);
  assert.deepEqual(resolveServeConfig({ listen: '[::1]:8443' }, {}, '/tmp').listen, {
    host: '::1',
    port: 8443,
  });
});
