import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type AuditItem = {
  seq: number;
  event: string;
  username: string | null;
  roles: string;
  method: string;
  path: string;
  target: string;
  status: number;
  detail: string | null;
  requestId: string;
  source: string;
};

for (const backend of BACKENDS) {
  describe(`security audit log on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let admin: string;
    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      admin = await t.login('admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await t.close();
      await database.drop();
    });
    const list = async (query = '') =>
      (await t.request({ method: 'GET', url: `/v1/audit${query}`, token: admin })).body as {
        items: AuditItem[];
        next?: string;
      };

    test('records a mutating request with user, roles, source, method, path, target, status and request id', async () => {
      const created = await t.request({
        method: 'POST',
        url: '/v1/users',
        token: admin,
        body: { name: 'audited', roles: ['operator'], password: 'Secret-Pass-777' },
      });
      const [record] = (await list('?limit=1')).items;
      assert.ok(record);
      assert.equal(record.event, 'request');
      assert.equal(record.username, 'admin');
      assert.equal(record.roles, 'admin');
      assert.equal(record.method, 'POST');
      assert.equal(record.path, '/v1/users');
      assert.equal(record.status, 201);
      assert.equal(record.requestId, created.headers['x-request-id']);
      assert.equal(record.source, '127.0.0.1');
      await t.request({ method: 'DELETE', url: '/v1/users/audited', token: admin });
      const [deleted] = (await list('?limit=1')).items;
      assert.equal(deleted?.target, 'users/audited');
    });

    test('records login success, failure, lockout and logout, and never a password or token', async () => {
      await t.request({
        method: 'POST',
        url: '/v1/users',
        token: admin,
        body: { name: 'victim', roles: ['reader'], password: 'Secret-Pass-888' },
      });
      for (let i = 0; i < 5; i++) {
        await t.request({
          method: 'POST',
          url: '/v1/auth/tokens',
          body: { username: 'victim', password: 'Not-It-At-All-1' },
        });
      }
      const token = await t.login('admin', ADMIN_PASSWORD);
      await t.request({ method: 'DELETE', url: '/v1/auth/tokens/current', token });
      const items = (await list('?limit=20')).items;
      const events = items.map((i) => `${i.event}:${i.username}`);
      assert.ok(events.includes('login.failure:victim'), events.join(' '));
      assert.ok(events.includes('login.lockout:victim'));
      assert.ok(events.includes('login.success:admin'));
      assert.ok(events.includes('logout:admin'));
      const stored = JSON.stringify(await t.site.database.db.selectFrom('audit_log').selectAll().execute());
      const file = fs.readFileSync(path.join(t.config.dataDir, 'audit', 'audit.jsonl'), 'utf8');
      for (const secret of ['Not-It-At-All-1', 'Secret-Pass-888', ADMIN_PASSWORD, token]) {
        assert.ok(!stored.includes(secret) && !file.includes(secret), 'a secret reached the audit log');
      }
    });

    test('filters by user and outcome, and pages with a cursor', async () => {
      const victim = (await list('?user=victim')).items;
      assert.ok(victim.length >= 5 && victim.every((i) => i.username === 'victim'));
      const failures = (await list('?outcome=failure')).items;
      assert.ok(failures.length > 0 && failures.every((i) => i.status >= 400));
      const first = await list('?limit=2');
      assert.equal(first.items.length, 2);
      assert.ok(first.next);
      const second = await list(`?limit=2&next=${first.next}`);
      assert.ok((second.items[0]?.seq ?? 0) < (first.items[1]?.seq ?? 0));
      const future = (await list(`?since=${encodeURIComponent('2099-01-01T00:00:00Z')}`)).items;
      assert.equal(future.length, 0);
    });

    test('mirrors each record to the JSON-lines file with the same hash', async () => {
      const file = fs
        .readFileSync(path.join(t.config.dataDir, 'audit', 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n');
      const last = JSON.parse(file.at(-1) as string) as { seq: number; hash: string };
      const rows = await t.site.database.db
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .execute();
      assert.equal(last.seq, Number(rows[0]?.seq));
      assert.equal(last.hash, rows[0]?.hash);
    });

    test('verifies an intact chain, then names the record that was edited in the table', async () => {
      const intact = await t.request({ method: 'GET', url: '/v1/audit/verify', token: admin });
      assert.deepEqual(
        { ...(intact.body as object), checked: 0 },
        { isIntact: true, checked: 0, firstBroken: null },
      );
      assert.ok((intact.body as { checked: number }).checked >= 10);
      const original = await t.site.database.db
        .selectFrom('audit_log')
        .select('username')
        .where('seq', '=', 3)
        .executeTakeFirstOrThrow();
      await t.site.database.db
        .updateTable('audit_log')
        .set({ username: 'someone-else' })
        .where('seq', '=', 3)
        .execute();
      const broken = await t.request({ method: 'GET', url: '/v1/audit/verify', token: admin });
      const body = broken.body as {
        isIntact: boolean;
        checked: number;
        firstBroken: { seq: number; reason: string };
      };
      assert.equal(body.isIntact, false);
      assert.equal(body.firstBroken.seq, 3);
      assert.equal(body.checked, 2);
      assert.match(body.firstBroken.reason, /edited/);
      await t.site.database.db
        .updateTable('audit_log')
        .set({ username: original.username })
        .where('seq', '=', 3)
        .execute();
      const repaired = await t.request({ method: 'GET', url: '/v1/audit/verify', token: admin });
      assert.equal((repaired.body as { isIntact: boolean }).isIntact, true);
    });

    test('names a record removed from the middle of the chain', async () => {
      await t.site.database.db.deleteFrom('audit_log').where('seq', '=', 5).execute();
      const broken = await t.request({ method: 'GET', url: '/v1/audit/verify', token: admin });
      const body = broken.body as { isIntact: boolean; firstBroken: { seq: number; reason: string } };
      assert.equal(body.isIntact, false);
      assert.equal(body.firstBroken.seq, 5);
      assert.match(body.firstBroken.reason, /missing/);
    });
  });
}

describe('security audit log under concurrent writes', () => {
  test('chains 200 records written at once without gaps or forks', async () => {
    const sqlite = BACKENDS[0];
    assert.ok(sqlite);
    const database = await sqlite.create();
    const t = await openTestSite(database);
    try {
      const writes = Array.from({ length: 200 }, (_, i) =>
        t.site.audit.record({
          event: 'request',
          username: `user-${i}`,
          roles: [],
          source: '127.0.0.1',
          method: 'POST',
          path: '/v1/x',
          target: 'x',
          status: 200,
          requestId: `r${i}`,
          detail: undefined,
        }),
      );
      await Promise.all(writes);
      const verified = await t.site.audit.verify();
      assert.equal(verified.isIntact, true);
      assert.equal(verified.checked, 200);
      const lines = fs
        .readFileSync(path.join(t.config.dataDir, 'audit', 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n');
      assert.equal(lines.length, 200);
    } finally {
      await t.close();
      await database.drop();
    }
  });
});
