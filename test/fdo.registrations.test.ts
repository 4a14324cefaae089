import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StoredRegistration } from '../src/fdo/rendezvous/model.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { openTestSite, type TestSite } from './helpers/site.js';

const GUID_A = '66b2146ffec53ca6ad017625990572ce';
const GUID_B = 'f1d0fd0066bd4ef392bc1b7c393fbe18';
const OWNER = 'ab'.repeat(48);

function registration(guid: string, t: TestSite, waitSeconds: number): StoredRegistration {
  const now = t.clock.now();
  return {
    guid,
    deviceInfo: 'go.fdo.example',
    ownerKeyHash: OWNER,
    manufacturerKeyHash: 'cd'.repeat(48),
    to2Addresses: [{ ip: '192.0.2.10', dns: null, port: 8043, protocol: 'http' }],
    waitSeconds,
    source: '198.51.100.7',
    registeredAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + waitSeconds * 1000).toISOString(),
    to1d: Uint8Array.of(0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40),
    deviceKey: Uint8Array.of(1, 2, 3),
  };
}

for (const backend of BACKENDS) {
  describe(`fdo registrations admin API on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let admin: string;
    const call = (method: string, url: string, token = admin) => t.request({ method, url, token });

    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      admin = await t.login('admin', 'Bootstrap-Pass-1');
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    test('lists, shows and deletes registrations; a re-registration replaces the previous one', async () => {
      const registrations = t.site.fdo.registrations;
      await registrations.register(registration(GUID_A, t, 600));
      await registrations.register(registration(GUID_B, t, 600));
      await registrations.register({ ...registration(GUID_A, t, 900), deviceInfo: 'replaced' });
      const list = await call('GET', '/v1/fdo/registrations?limit=1');
      assert.equal(list.status, 200, JSON.stringify(list.body));
      const page = list.body as { items: { guid: string }[]; next?: string };
      assert.deepEqual(
        page.items.map((r) => r.guid),
        [GUID_A],
      );
      const rest = await call('GET', `/v1/fdo/registrations?limit=1&next=${page.next}`);
      assert.deepEqual(
        (rest.body as { items: { guid: string }[] }).items.map((r) => r.guid),
        [GUID_B],
      );
      const shown = await call('GET', `/v1/fdo/registrations/${GUID_A.toUpperCase()}`);
      assert.equal(shown.status, 200);
      assert.equal((shown.body as { deviceInfo: string }).deviceInfo, 'replaced');
      assert.equal((shown.body as { waitSeconds: number }).waitSeconds, 900);
      const stored = await registrations.findLive(GUID_A);
      assert.deepEqual(
        stored?.to1d,
        Uint8Array.of(0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40),
        'to1d kept byte-exact',
      );
      assert.equal((await call('DELETE', `/v1/fdo/registrations/${GUID_B}`)).status, 204);
      assert.equal((await call('GET', `/v1/fdo/registrations/${GUID_B}`)).status, 404);
      assert.equal((await call('DELETE', `/v1/fdo/registrations/${GUID_B}`)).status, 404);
      assert.equal((await call('GET', '/v1/fdo/registrations/nothex')).status, 400);
    });

    test('registrations expire by time and the sweep deletes them', async () => {
      await t.site.fdo.registrations.register(registration(GUID_B, t, 60));
      assert.equal((await call('GET', `/v1/fdo/registrations/${GUID_B}`)).status, 200);
      t.clock.advance(60);
      assert.equal((await call('GET', `/v1/fdo/registrations/${GUID_B}`)).status, 404);
      assert.equal(await t.site.fdo.registrations.findLive(GUID_B), undefined);
      assert.equal(await t.site.fdo.registrations.sweep(), 1);
    });

    test('allow and deny rules are added, listed and removed, and refuse what they name', async () => {
      const added = await call('PUT', `/v1/fdo/access-rules/deny/guid/${GUID_A}`);
      assert.equal(added.status, 201, JSON.stringify(added.body));
      assert.equal((await call('PUT', `/v1/fdo/access-rules/deny/guid/${GUID_A}`)).status, 409);
      assert.equal((await call('PUT', '/v1/fdo/access-rules/allow/owner-key/abc')).status, 400);
      assert.equal((await call('PUT', '/v1/fdo/access-rules/maybe/guid/abc')).status, 400);
      const rules = await call('GET', '/v1/fdo/access-rules');
      assert.deepEqual(
        (rules.body as { items: { list: string; subject: string; value: string }[] }).items.map(
          ({ list, subject, value }) => ({ list, subject, value }),
        ),
        [{ list: 'deny', subject: 'guid', value: GUID_A }],
      );
      assert.equal(await t.site.fdo.registrations.findLive(GUID_A), undefined, 'a denied GUID is not served');
      assert.equal((await call('DELETE', `/v1/fdo/access-rules/deny/guid/${GUID_A}`)).status, 204);
      assert.ok(await t.site.fdo.registrations.findLive(GUID_A));
      assert.equal((await call('DELETE', `/v1/fdo/access-rules/deny/guid/${GUID_A}`)).status, 404);
    });

    test('reading needs a token, changing needs the configure permission, and changes are audited', async () => {
      assert.equal((await t.request({ method: 'GET', url: '/v1/fdo/registrations' })).status, 401);
      const reader = await t.userWithRole('reader');
      assert.equal((await call('GET', '/v1/fdo/registrations', reader)).status, 200);
      assert.equal((await call('DELETE', `/v1/fdo/registrations/${GUID_A}`, reader)).status, 403);
      assert.equal((await call('PUT', `/v1/fdo/access-rules/allow/guid/${GUID_B}`, reader)).status, 403);
      const audit = await call('GET', '/v1/audit?limit=50');
      const paths = (audit.body as { items: { path: string; status: number }[] }).items.map(
        (r) => `${r.status} ${r.path}`,
      );
      assert.ok(paths.includes(`204 /v1/fdo/registrations/${GUID_B}`), paths.join('\n'));
      assert.ok(paths.includes(`403 /v1/fdo/access-rules/allow/guid/${GUID_B}`), paths.join('\n'));
    });

    test('/metrics counts live registrations', async () => {
      const metrics = await call('GET', '/metrics');
      assert.match(String(metrics.body), /^murm_fdo_registrations 1$/m);
      assert.match(String(metrics.body), /^murm_fdo_protocol_sessions 0$/m);
    });
  });
}
