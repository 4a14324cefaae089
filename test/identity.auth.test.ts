import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type Body = { error: { code: string; message: string; details: Record<string, unknown> } };

for (const backend of BACKENDS) {
  describe(`authentication on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let admin: string;
    // One database per backend; a site (and so a fresh clock) per test, because tests move time.
    before(async () => {
      database = await backend.create();
    });
    beforeEach(async () => {
      t = await openTestSite(database);
      admin = await t.login('admin', ADMIN_PASSWORD);
    });
    afterEach(() => t.close());
    after(() => database.drop());

    async function createUser(name: string, password = 'First-Pass-0001', roles = ['reader']) {
      const response = await t.request({
        method: 'POST',
        url: '/v1/users',
        token: admin,
        body: { name, roles, password },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    const login = (username: string, password: string) =>
      t.request({ method: 'POST', url: '/v1/auth/tokens', body: { username, password } });

    test('issues a token that whoami accepts, and never stores it in clear', async () => {
      const response = await login('admin', ADMIN_PASSWORD);
      assert.equal(response.status, 201);
      const { token } = response.body as { token: string };
      const whoami = await t.request({ method: 'GET', url: '/v1/auth/whoami', token });
      assert.equal(whoami.status, 200);
      assert.equal((whoami.body as { name: string }).name, 'admin');
      const rows = await t.site.database.db.selectFrom('tokens').select('token_hash').execute();
      assert.ok(rows.length > 0);
      assert.ok(
        rows.every(
          (row: { token_hash: string }) => row.token_hash !== token && !row.token_hash.includes(token),
        ),
      );
    });

    test('refuses a wrong password and an unknown user with the same message', async () => {
      const wrong = await login('admin', 'Wrong-Pass-0001');
      const unknown = await login('nobody', 'Wrong-Pass-0001');
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.equal((wrong.body as Body).error.message, (unknown.body as Body).error.message);
    });

    test('locks after 5 failures, refuses the right password on the 6th, and says when it unlocks', async () => {
      await createUser('lockme');
      for (let attempt = 1; attempt <= 4; attempt++) {
        assert.equal((await login('lockme', 'Wrong-Pass-0001')).status, 401);
      }
      const fifth = await login('lockme', 'Wrong-Pass-0001');
      assert.equal(fifth.status, 403);
      assert.equal((fifth.body as Body).error.code, 'account_locked');
      const sixth = await login('lockme', 'First-Pass-0001');
      assert.equal(sixth.status, 403);
      const expectedUntil = new Date(t.clock.now().getTime() + 1800_000).toISOString();
      assert.match((sixth.body as Body).error.message, new RegExp(`until ${expectedUntil}`));
      t.clock.advance(1799);
      assert.equal((await login('lockme', 'First-Pass-0001')).status, 403);
      t.clock.advance(1);
      assert.equal((await login('lockme', 'First-Pass-0001')).status, 201);
    });

    test('lets an admin unlock a locked user at once', async () => {
      await createUser('unlockme');
      for (let attempt = 1; attempt <= 5; attempt++) await login('unlockme', 'Wrong-Pass-0001');
      assert.equal((await login('unlockme', 'First-Pass-0001')).status, 403);
      const unlocked = await t.request({ method: 'POST', url: '/v1/users/unlockme/unlock', token: admin });
      assert.equal(unlocked.status, 200);
      assert.equal((unlocked.body as { isLocked: boolean }).isLocked, false);
      assert.equal((await login('unlockme', 'First-Pass-0001')).status, 201);
    });

    test('answers password_expired after 90 days and accepts a changed password', async () => {
      await createUser('ages');
      t.clock.advance(90 * 86_400);
      const expired = await login('ages', 'First-Pass-0001');
      assert.equal(expired.status, 401);
      assert.equal((expired.body as Body).error.code, 'password_expired');
      assert.match((expired.body as Body).error.message, /murm user set-password ages/);
      const changed = await t.request({
        method: 'POST',
        url: '/v1/auth/password',
        body: { username: 'ages', currentPassword: 'First-Pass-0001', newPassword: 'Second-Pass-0002' },
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal((await login('ages', 'Second-Pass-0002')).status, 201);
    });

    test('refuses any of the last 5 passwords and accepts the 6th oldest', async () => {
      await createUser('history', 'Pass-Number-00');
      const token = await t.login('history', 'Pass-Number-00');
      let current = 'Pass-Number-00';
      for (let n = 1; n <= 5; n++) {
        const next = `Pass-Number-0${n}`;
        const set = await t.request({
          method: 'PUT',
          url: '/v1/users/history/password',
          token,
          body: { password: next, currentPassword: current },
        });
        assert.equal(set.status, 200, JSON.stringify(set.body));
        current = next;
      }
      // History now holds 01..05; 00 has dropped out.
      for (const reused of ['Pass-Number-05', 'Pass-Number-01']) {
        const refused = await t.request({
          method: 'PUT',
          url: '/v1/users/history/password',
          token,
          body: { password: reused, currentPassword: current },
        });
        assert.equal(refused.status, 400);
        assert.match((refused.body as Body).error.message, /last 5 passwords/);
      }
      const accepted = await t.request({
        method: 'PUT',
        url: '/v1/users/history/password',
        token,
        body: { password: 'Pass-Number-00', currentPassword: current },
      });
      assert.equal(accepted.status, 200);
    });

    test('refuses a token after its TTL and after logout', async () => {
      const token = await t.login('admin', ADMIN_PASSWORD);
      t.clock.advance(3599);
      assert.equal((await t.request({ method: 'GET', url: '/v1/auth/whoami', token })).status, 200);
      t.clock.advance(1);
      const expired = await t.request({ method: 'GET', url: '/v1/auth/whoami', token });
      assert.equal(expired.status, 401);
      assert.equal((expired.body as Body).error.details.reason, 'expired');
      const second = await t.login('admin', ADMIN_PASSWORD);
      assert.equal(
        (await t.request({ method: 'DELETE', url: '/v1/auth/tokens/current', token: second })).status,
        204,
      );
      assert.equal((await t.request({ method: 'GET', url: '/v1/auth/whoami', token: second })).status, 401);
    });

    test('refuses to delete or demote the last enabled admin', async () => {
      const demote = await t.request({
        method: 'PATCH',
        url: '/v1/users/admin',
        token: admin,
        body: { roles: ['reader'] },
      });
      assert.equal(demote.status, 409);
      const remove = await t.request({ method: 'DELETE', url: '/v1/users/admin', token: admin });
      assert.equal(remove.status, 409);
      const whoami = await t.request({ method: 'GET', url: '/v1/auth/whoami', token: admin });
      assert.deepEqual((whoami.body as { roles: string[] }).roles, ['admin']);
    });

    test('applies a role change to existing tokens at once', async () => {
      await createUser('promoted', 'First-Pass-0001', ['reader']);
      const token = await t.login('promoted', 'First-Pass-0001');
      assert.equal((await t.request({ method: 'GET', url: '/v1/users', token })).status, 403);
      await t.request({
        method: 'PATCH',
        url: '/v1/users/promoted',
        token: admin,
        body: { roles: ['admin'] },
      });
      assert.equal((await t.request({ method: 'GET', url: '/v1/users', token })).status, 200);
      await t.request({
        method: 'PATCH',
        url: '/v1/users/promoted',
        token: admin,
        body: { isEnabled: false },
      });
      assert.equal((await t.request({ method: 'GET', url: '/v1/auth/whoami', token })).status, 401);
    });

    test('lets a non-admin change only their own password and only with the current one', async () => {
      await createUser('self', 'First-Pass-0001', ['operator']);
      await createUser('other', 'First-Pass-0001', ['operator']);
      const token = await t.login('self', 'First-Pass-0001');
      const other = await t.request({
        method: 'PUT',
        url: '/v1/users/other/password',
        token,
        body: { password: 'Another-Pass-9' },
      });
      assert.equal(other.status, 403);
      const noCurrent = await t.request({
        method: 'PUT',
        url: '/v1/users/self/password',
        token,
        body: { password: 'Another-Pass-9' },
      });
      assert.equal(noCurrent.status, 400);
      assert.equal((noCurrent.body as Body).error.details.field, 'currentPassword');
      assert.equal((await login('self', 'First-Pass-0001')).status, 201);
    });
  });
}
