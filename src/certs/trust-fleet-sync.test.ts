import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeCertificate } from '../../test/helpers/certs.js';
import { type Database, openDatabase } from '../core/db/database.js';
import { migrateToLatest } from '../core/db/migrate.js';
import { AppError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { syncRevision } from '../dcloud/sync.js';
import { identityMigration } from '../identity/migrations/0001-identity.js';
import { fleetWideMigration } from '../identity/migrations/0010-fleet-wide.js';
import { trustedCasMigration } from './migrations/0006-trusted-cas.js';
import { trustedCaSyncSource, trustedCaSyncTarget } from './trust-fleet-sync.js';
import { TrustedCas } from './trust-service.js';
import { TrustedCaStore } from './trust-store.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const clock = { now: () => NOW };
const logger = createLogger('silent');

async function openTrustedCas(): Promise<{ database: Database; trustedCas: TrustedCas }> {
  const database = await openDatabase('sqlite::memory:');
  await migrateToLatest(database, [identityMigration, trustedCasMigration, fleetWideMigration]);
  const trustedCas = new TrustedCas({
    store: new TrustedCaStore(database),
    clock,
    logger,
    dataDir: '/nonexistent',
  });
  await trustedCas.open();
  return { database, trustedCas };
}

const makeCa = (commonName: string) =>
  makeCertificate({ commonName, isCa: true, notAfter: new Date(NOW.getTime() + 365 * 86_400_000) });

describe('certificates sync endpoint', () => {
  let controller: { database: Database; trustedCas: TrustedCas };
  let subcloud: { database: Database; trustedCas: TrustedCas };
  before(async () => {
    controller = await openTrustedCas();
    subcloud = await openTrustedCas();
    subcloud.trustedCas.setFleetManaged(true);
  });
  after(async () => {
    await controller.database.close();
    await subcloud.database.close();
  });

  test('offers only fleet-wide CAs, by fingerprint, and fires when they change', async () => {
    const source = trustedCaSyncSource(controller.trustedCas);
    let changes = 0;
    source.onChange(() => changes++);
    await controller.trustedCas.add((await makeCa('Local CA')).pem, 'admin');
    assert.equal(changes, 0);
    const [a, b] = [await makeCa('Fleet CA A'), await makeCa('Fleet CA B')];
    await controller.trustedCas.add(a.pem + b.pem, 'admin', { isFleetWide: true });
    assert.equal(changes, 1);
    const desired = (await source.desired()) as Array<{ fingerprint: string; pem: string }>;
    assert.equal(desired.length, 2);
    assert.deepEqual(
      desired.map((ca) => ca.fingerprint),
      desired.map((ca) => ca.fingerprint).sort(),
    );
  });

  test('applies the desired CAs so that both revisions match, and trusts them in the bundle', async () => {
    const target = trustedCaSyncTarget(subcloud.trustedCas, logger);
    const desired = await trustedCaSyncSource(controller.trustedCas).desired();
    let changes = 0;
    target.onChange(() => changes++);
    await target.apply(desired);
    await target.apply(desired);
    assert.equal(changes, 1);
    assert.equal(syncRevision(await target.current()), syncRevision(desired));
    for (const ca of desired as Array<{ pem: string }>)
      assert.ok(subcloud.trustedCas.bundle().includes(ca.pem));
    assert.ok(subcloud.trustedCas.list().every((ca) => ca.addedBy === 'system-controller'));
  });

  test('keeps a local CA of the same fingerprint local, and refuses to remove a fleet copy', async () => {
    const shared = await makeCa('Shared CA');
    await subcloud.trustedCas.add(shared.pem, 'admin');
    const [local] = subcloud.trustedCas.list().filter((ca) => !ca.isFleetWide);
    assert.ok(local);
    const target = trustedCaSyncTarget(subcloud.trustedCas, logger);
    const desired = await trustedCaSyncSource(controller.trustedCas).desired();
    await target.apply([...desired, { fingerprint: local.fingerprint, pem: local.pem }]);
    assert.equal(syncRevision(await target.current()), syncRevision(desired));
    const [fleetCopy] = await target.current();
    await assert.rejects(
      subcloud.trustedCas.remove((fleetCopy as { fingerprint: string }).fingerprint),
      (error: unknown) => error instanceof AppError && error.code === 'conflict',
    );
  });

  test('refuses a PEM that is not the CA of the fingerprint given, and changes nothing', async () => {
    const target = trustedCaSyncTarget(subcloud.trustedCas, logger);
    const before = syncRevision(await target.current());
    const other = await makeCa('Other CA');
    await assert.rejects(
      target.apply([{ fingerprint: 'ab'.repeat(32), pem: other.pem }]),
      (error: unknown) => error instanceof AppError && error.code === 'invalid_input',
    );
    assert.equal(syncRevision(await target.current()), before);
  });

  test('removes the fleet copies no longer listed, and drops them from the bundle', async () => {
    const target = trustedCaSyncTarget(subcloud.trustedCas, logger);
    const [first] = (await target.current()) as Array<{ pem: string }>;
    await target.apply([]);
    assert.deepEqual(await target.current(), []);
    assert.ok(first && !subcloud.trustedCas.bundle().includes(first.pem));
    assert.equal(subcloud.trustedCas.list().length, 1, 'the local CA stays');
  });
});
