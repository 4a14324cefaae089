import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { trustedCasMigration } from '../certs/migrations/0006-trusted-cas.js';
import { DEFAULT_PASSWORD_POLICY } from '../core/config.js';
import { type Database, openDatabase } from '../core/db/database.js';
import { migrateToLatest } from '../core/db/migrate.js';
import { AppError } from '../core/errors.js';
import { syncRevision } from '../dcloud/sync.js';
import { identitySyncSource, identitySyncTarget } from './fleet-sync.js';
import { identityMigration } from './migrations/0001-identity.js';
import { fleetWideMigration } from './migrations/0010-fleet-wide.js';
import { IdentityService } from './service.js';
import { IdentityStore } from './store.js';

const clock = { now: () => new Date('2026-06-01T00:00:00Z') };

async function openIdentity(): Promise<{ database: Database; identity: IdentityService }> {
  const database = await openDatabase('sqlite::memory:');
  await migrateToLatest(database, [identityMigration, trustedCasMigration, fleetWideMigration]);
  const identity = new IdentityService(new IdentityStore(database), clock, DEFAULT_PASSWORD_POLICY, 3600);
  return { database, identity };
}

/** A pino logger that keeps its records for the test to read. */
function capturingLogger() {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records };
}

describe('identity sync endpoint', () => {
  let controller: { database: Database; identity: IdentityService };
  let subcloud: { database: Database; identity: IdentityService };
  before(async () => {
    controller = await openIdentity();
    subcloud = await openIdentity();
    subcloud.identity.setFleetManaged(true);
  });
  after(async () => {
    await controller.database.close();
    await subcloud.database.close();
  });

  test('offers only fleet-wide users, by name, with sorted roles and the stored hash', async () => {
    await controller.identity.createUser({ name: 'local', roles: ['reader'], password: 'Local-Pass-0001' });
    await controller.identity.createUser({
      name: 'zoe',
      roles: ['reader', 'admin'],
      password: 'Zoe-Pass-00001',
      isFleetWide: true,
    });
    await controller.identity.createUser({
      name: 'ann',
      roles: ['operator'],
      password: 'Ann-Pass-00001',
      isFleetWide: true,
    });
    const desired = (await identitySyncSource(controller.identity).desired()) as Array<{
      name: string;
      roles: string[];
      passwordHash: string;
      isEnabled: boolean;
    }>;
    assert.deepEqual(
      desired.map((user) => [user.name, user.roles, user.isEnabled]),
      [
        ['ann', ['operator'], true],
        ['zoe', ['admin', 'reader'], true],
      ],
    );
    assert.ok(desired.every((user) => user.passwordHash.startsWith('scrypt$')));
  });

  test('applies the desired users so that both revisions match, and logs the counts', async () => {
    const { logger, records } = capturingLogger();
    const target = identitySyncTarget(subcloud.identity, logger);
    const desired = await identitySyncSource(controller.identity).desired();
    let changes = 0;
    const unsubscribe = target.onChange(() => changes++);
    await target.apply(desired);
    assert.equal(syncRevision(await target.current()), syncRevision(desired));
    await target.apply(desired);
    unsubscribe();
    assert.equal(changes, 1, 'a second apply of the same users changes nothing');
    const applied = records.find((record) => record.endpoint === 'identity' && Array.isArray(record.created));
    assert.deepEqual(applied?.created, ['ann', 'zoe']);
    assert.equal(applied?.level, 30);
  });

  test('leaves a local user of a fleet-wide name alone and reports it as a conflict', async () => {
    await subcloud.identity.createUser({ name: 'bob', roles: ['reader'], password: 'Bob-Local-0001' });
    const { logger, records } = capturingLogger();
    const target = identitySyncTarget(subcloud.identity, logger);
    const desired = [
      ...(await identitySyncSource(controller.identity).desired()),
      { name: 'bob', roles: ['admin'], passwordHash: 'scrypt$1$1$1$AA==$AA==', isEnabled: true },
    ];
    await target.apply(desired);
    assert.equal(syncRevision(await target.current()), syncRevision(desired.slice(0, 2)));
    assert.deepEqual((await subcloud.identity.getUser('bob')).roles, ['reader']);
    assert.deepEqual(records.find((record) => record.level === 40)?.users, ['bob']);
  });

  test('refuses a malformed user and changes nothing', async () => {
    const target = identitySyncTarget(subcloud.identity, capturingLogger().logger);
    const before = syncRevision(await target.current());
    await assert.rejects(
      target.apply([{ name: 'eve', roles: ['root'], passwordHash: 'scrypt$x', isEnabled: true }]),
      (error: unknown) => error instanceof AppError && error.code === 'invalid_input',
    );
    await assert.rejects(
      target.apply([{ name: 'eve', roles: ['reader'], passwordHash: 'plain', isEnabled: true }]),
      (error: unknown) => error instanceof AppError && error.code === 'invalid_input',
    );
    assert.equal(syncRevision(await target.current()), before);
  });
});
