import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };
const sqlite = BACKENDS[0];
assert.ok(sqlite);

describe('request validation and error bodies', () => {
  let database: TestDatabase;
  let t: TestSite;
  let admin: string;
  before(async () => {
    database = await sqlite.create();
    t = await openTestSite(database);
    admin = await t.login('admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await t.close();
    await database.drop();
  });

  const createUser = (
    payload: unknown,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) => t.request({ method: 'POST', url: '/v1/users', token: admin, body: payload, headers });

  const cases: Array<[string, unknown, number, string, string | undefined]> = [
    ['malformed JSON', '{"name": "x",', 400, 'invalid_input', 'body'],
    ['an empty body', '', 400, 'invalid_input', 'body'],
    ['a missing field', { name: 'bob', roles: ['reader'] }, 400, 'invalid_input', 'password'],
    [
      'a wrong type',
      { name: 'bob', roles: 'reader', password: 'Valid-Pass-001' },
      400,
      'invalid_input',
      'roles',
    ],
    [
      'a number where a string belongs',
      { name: 42, roles: ['reader'], password: 'Valid-Pass-001' },
      400,
      'invalid_input',
      'name',
    ],
    [
      'an unknown field',
      { name: 'bob', roles: ['reader'], password: 'Valid-Pass-001', admin: true },
      400,
      'invalid_input',
      'admin',
    ],
    [
      'an unknown role',
      { name: 'bob', roles: ['root'], password: 'Valid-Pass-001' },
      400,
      'invalid_input',
      'roles.0',
    ],
    [
      'a weak password',
      { name: 'bob', roles: ['reader'], password: 'short' },
      400,
      'invalid_input',
      'password',
    ],
    [
      'a bad user name',
      { name: 'Bob Smith', roles: ['reader'], password: 'Valid-Pass-001' },
      400,
      'invalid_input',
      'name',
    ],
  ];
  for (const [what, payload, status, code, field] of cases) {
    test(`answers ${status} ${code} naming "${field}" for ${what}`, async () => {
      const response = await createUser(payload);
      assert.equal(response.status, status, JSON.stringify(response.body));
      const body = response.body as ErrorBody;
      assert.equal(body.error.code, code);
      assert.equal(body.error.details.field, field);
      assert.ok(body.error.message.length > 0);
    });
  }

  test('readyz answers 503 "starting" until the site has finished starting, then 200', async () => {
    t.site.setStarting(true);
    try {
      const starting = await t.request({ method: 'GET', url: '/readyz' });
      assert.equal(starting.status, 503);
      assert.equal((starting.body as ErrorBody).error.code, 'unavailable');
      assert.match((starting.body as ErrorBody).error.message, /starting/);
      assert.equal((await t.request({ method: 'GET', url: '/healthz' })).status, 200, 'alive meanwhile');
    } finally {
      t.site.setStarting(false);
    }
    assert.equal((await t.request({ method: 'GET', url: '/readyz' })).status, 200);
  });

  test('answers 413 for a body over 1 MiB and keeps serving', async () => {
    const big = JSON.stringify({ name: 'big', roles: ['reader'], password: 'x'.repeat(1024 * 1024) });
    const response = await createUser(big);
    assert.equal(response.status, 413);
    assert.equal((response.body as ErrorBody).error.code, 'payload_too_large');
    assert.equal((await t.request({ method: 'GET', url: '/v1/auth/whoami', token: admin })).status, 200);
  });

  test('answers 415 for a body that is not JSON', async () => {
    const response = await createUser('name=bob', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(response.status, 415);
    assert.equal((response.body as ErrorBody).error.code, 'unsupported_media_type');
  });

  test('answers 404 in the same error shape for an unknown route with a token, 401 without', async () => {
    const known = await t.request({ method: 'GET', url: '/v1/nothing-here', token: admin });
    assert.equal(known.status, 404);
    assert.equal((known.body as ErrorBody).error.code, 'not_found');
    assert.equal((await t.request({ method: 'GET', url: '/v1/nothing-here' })).status, 401);
  });

  test('answers 400 naming the query parameter for a bad query', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/audit?limit=0', token: admin });
    assert.equal(response.status, 400);
    assert.equal((response.body as ErrorBody).error.details.field, 'limit');
    const unknown = await t.request({ method: 'GET', url: '/v1/audit?colour=red', token: admin });
    assert.equal(unknown.status, 400);
    assert.match((unknown.body as ErrorBody).error.message, /colour/);
  });

  test('loses nothing stored when bad input is refused', async () => {
    const before = await t.request({ method: 'GET', url: '/v1/users', token: admin });
    await createUser({ name: 'admin', roles: ['reader'], password: 'Valid-Pass-001' });
    await createUser('{"broken');
    const afterwards = await t.request({ method: 'GET', url: '/v1/users', token: admin });
    assert.deepEqual(afterwards.body, before.body);
  });

  test('serves an OpenAPI 3.1 document listing every route with its permission, and HTML docs', async () => {
    const response = await t.request({ method: 'GET', url: '/openapi.json', token: admin });
    assert.equal(response.status, 200);
    const doc = response.body as {
      openapi: string;
      paths: Record<string, Record<string, { 'x-permission': string }>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.paths['/v1/users/{name}']?.delete?.['x-permission'], 'administer');
    const operations = Object.values(doc.paths).flatMap((methods) => Object.keys(methods));
    assert.equal(operations.length, t.site.routes.length);
    const docs = await t.request({ method: 'GET', url: '/docs', token: admin });
    assert.equal(docs.status, 200);
    assert.match(String(docs.body), /DELETE \/v1\/users\/\{name\}/);
  });
});
