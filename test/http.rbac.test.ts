import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Permission } from '../src/core/http/access.js';
import { fillRoute } from '../src/core/http/openapi.js';
import { ROLE_PERMISSIONS, ROLES, type Role } from '../src/identity/model.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { openTestSite, type TestSite } from './helpers/site.js';

/** The most powerful role that still lacks the permission: the one that must get 403. */
function roleBelow(permission: Permission): Role | undefined {
  return [...ROLES].find((role) => !ROLE_PERMISSIONS[role].includes(permission));
}

const sqlite = BACKENDS[0];
assert.ok(sqlite);

describe('route table access control', () => {
  let database: TestDatabase;
  let t: TestSite;
  const tokens = new Map<Role, string>();
  before(async () => {
    database = await sqlite.create();
    t = await openTestSite(database);
    for (const role of ROLES) tokens.set(role, await t.userWithRole(role));
  });
  after(async () => {
    await t.close();
    await database.drop();
  });

  test('has every route declare an access level, and only health, login and agent enrollment (its own token) are public', () => {
    const publicRoutes = t.site.routes
      .filter((route) => route.access === 'public')
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(publicRoutes.sort(), [
      'GET /healthz',
      'GET /readyz',
      'POST /v1/agent/enroll',
      'POST /v1/auth/password',
      'POST /v1/auth/tokens',
    ]);
    assert.ok(t.site.routes.length > 15);
  });

  test('answers 401 without a token and 403 for the role below, on every non-public route', async () => {
    const checked: string[] = [];
    for (const route of t.site.routes) {
      const access = route.access;
      if (access === 'public') continue;
      const url = fillRoute(route.url, () => 'probe');
      const label = `${route.method} ${route.url}`;
      const anonymous = await t.request({ method: route.method, url });
      assert.equal(anonymous.status, 401, `${label} without a token`);
      const garbage = await t.request({ method: route.method, url, token: 'murm_not-a-real-token' });
      assert.equal(garbage.status, 401, `${label} with a made-up token`);
      const below = roleBelow(access);
      if (below) {
        const denied = await t.request({ method: route.method, url, token: tokens.get(below) as string });
        assert.equal(denied.status, 403, `${label} as ${below}`);
        assert.equal((denied.body as { error: { code: string } }).error.code, 'forbidden');
      }
      // A live stream never completes an in-process request; its 401/403 were checked above.
      if (!route.url.endsWith('/stream')) {
        const admin = tokens.get('admin') as string;
        const allowed = await t.request({ method: route.method, url, token: admin, body: {} });
        assert.ok(
          allowed.status !== 401 && allowed.status !== 403,
          `${label} as admin answered ${allowed.status}`,
        );
      }
      // Logging out revoked the admin token this loop uses; get a new one.
      if (route.url === '/v1/auth/tokens/current') tokens.set('admin', await t.userWithRole('admin'));
      checked.push(label);
    }
    assert.ok(checked.includes('GET /v1/users') && checked.includes('GET /metrics'));
  });

  test('records every refused token in the audit log', async () => {
    await t.request({ method: 'GET', url: '/v1/auth/whoami', token: 'murm_forged' });
    const list = await t.request({
      method: 'GET',
      url: '/v1/audit?limit=5',
      token: tokens.get('admin') as string,
    });
    const events = (list.body as { items: Array<{ event: string; path: string }> }).items.map((i) => i.event);
    assert.ok(events.includes('token.rejected'), events.join(','));
  });
});
