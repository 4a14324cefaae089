import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { httpsRequest } from './helpers/https.js';
import { makeTempDir, type ServerProcess, startServer } from './helpers/processes.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPromtool && process.env.CI === 'true')
  throw new Error('promtool is missing (Debian package "prometheus")');

for (const backend of BACKENDS) {
  describe(`murm serve as a process on ${backend.name}`, () => {
    let database: TestDatabase;
    let server: ServerProcess;
    let dataDir: string;
    let adminPassword: string;
    let adminToken: string;
    const databaseArgs = () => (backend.name === 'postgres' ? ['--database', database.url] : []);
    const call = (method: string, url: string, token?: string, body?: unknown) =>
      httpsRequest(`${server.url}${url}`, {
        caPath: server.caPath,
        method,
        ...(token ? { token } : {}),
        body,
      });
    const login = async (username: string, password: string) => {
      const response = await call('POST', '/v1/auth/tokens', undefined, { username, password });
      assert.equal(response.status, 201, response.text);
      return (response.body as { token: string }).token;
    };

    before(async () => {
      database = await backend.create();
      dataDir = makeTempDir('serve');
      const env = { MURM_ADMIN_PASSWORD: '' };
      server = await startServer({ dataDir, env, args: databaseArgs() });
    });
    after(async () => {
      await server.stop('SIGKILL');
      await database.drop();
    });

    test('prints the URL, the CA path, a generated admin password and the exact login command on first start', async () => {
      const out = server.output();
      assert.match(out, /ready at https:\/\/127\.0\.0\.1:\d+/);
      assert.ok(out.includes(`site CA:  ${path.join(dataDir, 'pki', 'ca.crt')}`));
      const match = /password \(shown only now\): (\S+)/.exec(out);
      assert.ok(match?.[1], out);
      adminPassword = match[1];
      assert.ok(out.includes(`murm login --url ${server.url} --ca ${server.caPath} --username admin`));
      adminToken = await login('admin', adminPassword);
    });

    test('serves a chain that openssl s_client verifies against the site CA', () => {
      const { port } = new URL(server.url);
      const out = execFileSync(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-CAfile',
          server.caPath,
          '-verify_return_error',
          '-servername',
          'localhost',
        ],
        { input: '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] },
      );
      assert.match(out, /Verify return code: 0 \(ok\)/);
    });

    test('answers health without a token and refuses the API without one', async () => {
      assert.equal((await call('GET', '/healthz')).status, 200);
      assert.equal((await call('GET', '/readyz')).status, 200);
      assert.equal((await call('GET', '/v1/users')).status, 401);
      assert.equal((await call('GET', '/metrics')).status, 401);
    });

    test('enforces each role on real requests', async () => {
      const tokens: Record<string, string> = {};
      for (const role of ['reader', 'operator', 'configurator', 'admin']) {
        const created = await call('POST', '/v1/users', adminToken, {
          name: `${role}-1`,
          roles: [role],
          password: 'Role-Pass-0001',
        });
        assert.equal(created.status, 201, created.text);
        tokens[role] = await login(`${role}-1`, 'Role-Pass-0001');
      }
      assert.equal((await call('GET', '/v1/auth/whoami', tokens.reader)).status, 200);
      assert.equal((await call('GET', '/v1/users', tokens.configurator)).status, 403);
      assert.equal((await call('GET', '/v1/users', tokens.admin)).status, 200);
      assert.equal((await call('GET', '/v1/audit', tokens.operator)).status, 403);
      assert.equal((await call('POST', '/v1/users/reader-1/unlock', tokens.reader)).status, 403);
    });

    test('exposes metrics to a reader that pass promtool check metrics', { skip: !hasPromtool }, async () => {
      const reader = await login('reader-1', 'Role-Pass-0001');
      const metrics = await call('GET', '/metrics', reader);
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /murm_http_requests_total\{method="GET",route="\/v1\/users",status="403"\}/);
      assert.match(metrics.text, /murm_process_resident_memory_bytes/);
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics.text, encoding: 'utf8' });
      assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
    });

    test('stops gracefully on SIGTERM and keeps users, tokens and the audit chain across a restart', async () => {
      const auditBefore = await call('GET', '/v1/audit/verify', adminToken);
      assert.equal((auditBefore.body as { isIntact: boolean }).isIntact, true);
      const code = await server.stop('SIGTERM');
      // Exit code 0 (not death by signal) shows the handler closed the server and the database.
      assert.equal(code, 0, server.output());
      const caBefore = fs.readFileSync(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');

      server = await startServer({ dataDir, env: { MURM_ADMIN_PASSWORD: '' }, args: databaseArgs() });
      assert.doesNotMatch(server.output(), /password/);
      assert.equal(fs.readFileSync(server.caPath, 'utf8'), caBefore);
      const whoami = await call('GET', '/v1/auth/whoami', adminToken);
      assert.equal(whoami.status, 200, whoami.text);
      const users = await call('GET', '/v1/users', adminToken);
      assert.equal((users.body as { items: unknown[] }).items.length, 5);
      await login('reader-1', 'Role-Pass-0001'); // a new record that must chain onto the old ones
      const auditAfter = await call('GET', '/v1/audit/verify', adminToken);
      const after = auditAfter.body as { isIntact: boolean; checked: number };
      assert.equal(after.isIntact, true);
      assert.ok(after.checked > (auditBefore.body as { checked: number }).checked);
    });
  });
}
