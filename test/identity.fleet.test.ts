import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { trustedCaSyncSource, trustedCaSyncTarget } from '../src/certs/trust-fleet-sync.js';
import { createLogger } from '../src/core/log.js';
import type { SyncSource, SyncTarget } from '../src/dcloud/sync.js';
import { syncRevision } from '../src/dcloud/sync.js';
import { identitySyncSource, identitySyncTarget } from '../src/identity/fleet-sync.js';
import { makeCertificate } from './helpers/certs.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type UserView = { name: string; roles: string[]; isFleetWide: boolean };
type TrustedCaView = { fingerprint: string; pem: string; isFleetWide: boolean; addedBy: string };
type ErrorBody = { error: { code: string; message: string } };

const FLEET_PASSWORD = 'Fleet-Pass-0001';
const NEW_FLEET_PASSWORD = 'Fleet-Pass-0002';
const logger = createLogger('silent');

/** Brings the subcloud's copy to what the controller wants, as the uplink does; returns the resources. */
async function sync(source: SyncSource, target: SyncTarget): Promise<unknown[]> {
  const desired = await source.desired();
  await target.apply(desired);
  return desired;
}

for (const backend of BACKENDS) {
  describe(`fleet-wide users and trusted CAs on ${backend.name}`, () => {
    const databases: TestDatabase[] = [];
    let controller: TestSite;
    let subcloud: TestSite;
    let controllerAdmin: string;
    let subcloudAdmin: string;
    let users: { source: SyncSource; target: SyncTarget };
    let userChanges = 0;
    before(async () => {
      databases.push(await backend.create(), await backend.create());
      controller = await openTestSite(databases[0] as TestDatabase);
      subcloud = await openTestSite(databases[1] as TestDatabase);
      subcloud.site.identity.setFleetManaged(true);
      subcloud.site.trustedCas.setFleetManaged(true);
      controllerAdmin = await controller.login('admin', ADMIN_PASSWORD);
      subcloudAdmin = await subcloud.login('admin', ADMIN_PASSWORD);
      users = {
        source: identitySyncSource(controller.site.identity),
        target: identitySyncTarget(subcloud.site.identity, logger),
      };
      users.source.onChange(() => userChanges++);
    });
    after(async () => {
      await controller?.close();
      await subcloud?.close();
      for (const database of databases) await database.drop();
    });
    const onController = (method: string, url: string, body?: unknown) =>
      controller.request({ method, url, token: controllerAdmin, body });
    const onSubcloud = (method: string, url: string, body?: unknown, token = subcloudAdmin) =>
      subcloud.request({ method, url, token, body });
    const loginOnSubcloud = (username: string, password: string) =>
      subcloud.request({ method: 'POST', url: '/v1/auth/tokens', body: { username, password } });

    test('copies a fleet-wide user to the subcloud, where it logs in with the controller password', async () => {
      const created = await onController('POST', '/v1/users', {
        name: 'ops',
        roles: ['operator'],
        password: FLEET_PASSWORD,
        fleetWide: true,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((created.body as UserView).isFleetWide, true);
      assert.equal(userChanges, 1);
      const desired = await sync(users.source, users.target);
      assert.equal(desired.length, 1);
      assert.equal(syncRevision(await users.target.current()), syncRevision(desired));
      assert.equal((await loginOnSubcloud('ops', FLEET_PASSWORD)).status, 201);
      const copy = await onSubcloud('GET', '/v1/users/ops');
      assert.deepEqual(copy.body, { ...(copy.body as object), roles: ['operator'], isFleetWide: true });
    });

    test('refuses to change, delete or re-password a fleet-wide user on the subcloud', async () => {
      const refusals = [
        await onSubcloud('PATCH', '/v1/users/ops', { roles: ['admin'] }),
        await onSubcloud('PATCH', '/v1/users/ops', { fleetWide: false }),
        await onSubcloud('DELETE', '/v1/users/ops'),
        await onSubcloud('PUT', '/v1/users/ops/password', { password: 'Other-Pass-0001' }),
        await subcloud.request({
          method: 'POST',
          url: '/v1/auth/password',
          body: { username: 'ops', currentPassword: FLEET_PASSWORD, newPassword: 'Other-Pass-0001' },
        }),
      ];
      for (const refused of refusals) {
        assert.equal(refused.status, 409, JSON.stringify(refused.body));
        assert.match(
          (refused.body as ErrorBody).error.message,
          /user "ops" is managed by the system controller/,
        );
      }
      const markedHere = await onSubcloud('POST', '/v1/users', {
        name: 'rogue',
        roles: ['reader'],
        password: 'Rogue-Pass-0001',
        fleetWide: true,
      });
      assert.equal(markedHere.status, 409);
      assert.equal((await onSubcloud('GET', '/v1/users/rogue')).status, 404);
      assert.equal((await loginOnSubcloud('ops', FLEET_PASSWORD)).status, 201);
    });

    test('keeps lockout local: a locked fleet-wide user is unlocked on the subcloud', async () => {
      for (let attempt = 1; attempt <= 5; attempt++) await loginOnSubcloud('ops', 'Wrong-Pass-0001');
      assert.equal((await loginOnSubcloud('ops', FLEET_PASSWORD)).status, 403);
      assert.equal((await onSubcloud('POST', '/v1/users/ops/unlock')).status, 200);
      assert.equal((await loginOnSubcloud('ops', FLEET_PASSWORD)).status, 201);
      const revision = syncRevision(await users.target.current());
      assert.equal(revision, syncRevision(await users.source.desired()));
    });

    test('carries a password change on the controller to the subcloud and revokes the old tokens', async () => {
      const oldToken = ((await loginOnSubcloud('ops', FLEET_PASSWORD)).body as { token: string }).token;
      const before = userChanges;
      const changed = await onController('PUT', '/v1/users/ops/password', { password: NEW_FLEET_PASSWORD });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(userChanges, before + 1);
      assert.notEqual(syncRevision(await users.target.current()), syncRevision(await users.source.desired()));
      const desired = await sync(users.source, users.target);
      assert.equal(syncRevision(await users.target.current()), syncRevision(desired));
      assert.equal((await loginOnSubcloud('ops', FLEET_PASSWORD)).status, 401);
      assert.equal((await loginOnSubcloud('ops', NEW_FLEET_PASSWORD)).status, 201);
      assert.equal((await onSubcloud('GET', '/v1/auth/whoami', undefined, oldToken)).status, 401);
    });

    test('carries role changes, and removes an unmarked user from the subcloud with its tokens', async () => {
      const before = userChanges;
      assert.equal(
        (await onController('PATCH', '/v1/users/ops', { roles: ['reader', 'operator'] })).status,
        200,
      );
      await sync(users.source, users.target);
      assert.deepEqual(((await onSubcloud('GET', '/v1/users/ops')).body as UserView).roles, [
        'operator',
        'reader',
      ]);
      const token = ((await loginOnSubcloud('ops', NEW_FLEET_PASSWORD)).body as { token: string }).token;
      const unmarked = await onController('PATCH', '/v1/users/ops', { fleetWide: false });
      assert.equal(unmarked.status, 200);
      assert.equal((unmarked.body as UserView).isFleetWide, false);
      assert.equal(userChanges, before + 2);
      assert.deepEqual(await sync(users.source, users.target), []);
      assert.deepEqual(await users.target.current(), []);
      assert.equal((await onSubcloud('GET', '/v1/users/ops')).status, 404);
      assert.equal((await onSubcloud('GET', '/v1/auth/whoami', undefined, token)).status, 401);
      assert.equal((await onController('GET', '/v1/users/ops')).status, 200, 'the controller keeps it');
    });

    test('leaves a local user of the same name untouched on the subcloud', async () => {
      const local = await onSubcloud('POST', '/v1/users', {
        name: 'dana',
        roles: ['reader'],
        password: 'Local-Pass-0001',
      });
      assert.equal(local.status, 201);
      await onController('POST', '/v1/users', {
        name: 'dana',
        roles: ['admin'],
        password: FLEET_PASSWORD,
        fleetWide: true,
      });
      await onController('POST', '/v1/users', {
        name: 'eric',
        roles: ['reader'],
        password: FLEET_PASSWORD,
        fleetWide: true,
      });
      const desired = await sync(users.source, users.target);
      assert.equal(desired.length, 2);
      const withoutConflict = desired.filter((user) => (user as UserView).name !== 'dana');
      assert.equal(syncRevision(await users.target.current()), syncRevision(withoutConflict));
      const dana = (await onSubcloud('GET', '/v1/users/dana')).body as UserView;
      assert.deepEqual([dana.roles, dana.isFleetWide], [['reader'], false]);
      assert.equal((await loginOnSubcloud('dana', 'Local-Pass-0001')).status, 201);
      assert.equal((await loginOnSubcloud('dana', FLEET_PASSWORD)).status, 401);
      assert.equal((await loginOnSubcloud('eric', FLEET_PASSWORD)).status, 201);
    });

    test('copies fleet-wide trusted CAs into the subcloud bundle, read-only there, and removes them', async () => {
      const source = trustedCaSyncSource(controller.site.trustedCas);
      const target = trustedCaSyncTarget(subcloud.site.trustedCas, logger);
      let changes = 0;
      source.onChange(() => changes++);
      const notAfter = new Date(controller.clock.now().getTime() + 365 * 86_400_000);
      const fleetCa = await makeCertificate({ commonName: 'Fleet Root CA', isCa: true, notAfter });
      const laterCa = await makeCertificate({ commonName: 'Later Fleet CA', isCa: true, notAfter });
      const added = await onController('POST', '/v1/trusted-cas', { pem: fleetCa.pem, fleetWide: true });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const later = await onController('POST', '/v1/trusted-cas', { pem: laterCa.pem });
      const laterView = (later.body as { items: TrustedCaView[] }).items[0] as TrustedCaView;
      assert.equal(laterView.isFleetWide, false);
      assert.equal(changes, 1);
      const marked = await onController('PATCH', `/v1/trusted-cas/${laterView.fingerprint}`, {
        fleetWide: true,
      });
      assert.equal(marked.status, 200, JSON.stringify(marked.body));
      assert.equal(changes, 2);

      const desired = await sync(source, target);
      assert.equal(desired.length, 2);
      assert.equal(syncRevision(await target.current()), syncRevision(desired));
      const copies = ((await onSubcloud('GET', '/v1/trusted-cas')).body as { items: TrustedCaView[] }).items;
      assert.ok(copies.every((ca) => ca.isFleetWide && ca.addedBy === 'system-controller'));
      const bundle = subcloud.site.trustedCas.bundle();
      assert.ok(copies.every((ca) => bundle.includes(ca.pem)));

      const path = `/v1/trusted-cas/${laterView.fingerprint}`;
      for (const refused of [
        await onSubcloud('DELETE', path),
        await onSubcloud('PATCH', path, { fleetWide: false }),
        await onSubcloud('POST', '/v1/trusted-cas', { pem: laterCa.pem, fleetWide: true }),
      ]) {
        assert.equal(refused.status, 409, JSON.stringify(refused.body));
      }

      assert.equal((await onController('PATCH', path, { fleetWide: false })).status, 200);
      assert.equal(changes, 3);
      const remaining = await sync(source, target);
      assert.equal(remaining.length, 1);
      assert.equal(syncRevision(await target.current()), syncRevision(remaining));
      assert.ok(!subcloud.site.trustedCas.bundle().includes(laterView.pem));
      assert.ok(subcloud.site.trustedCas.bundle().includes((remaining[0] as TrustedCaView).pem));
    });
  });
}
