import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { httpsRequest, loginOverHttps } from './helpers/https.js';
import { type ServerProcess, startServer } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Renewal-Pass-0001';

/** The serial of the certificate a NEW TLS connection is served, verified against the site CA. */
function servedSerial(server: ServerProcess): string {
  const { port } = new URL(server.url);
  const shown = execFileSync(
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
  assert.match(shown, /Verify return code: 0 \(ok\)/);
  const serial = execFileSync('openssl', ['x509', '-noout', '-serial'], { input: shown, encoding: 'utf8' });
  return serial
    .trim()
    .replace(/^serial=/, '')
    .toLowerCase();
}

for (const backend of BACKENDS) {
  describe(`HTTPS server certificate renewal on ${backend.name}`, () => {
    let database: TestDatabase;
    let server: ServerProcess;
    let token: string;
    const call = (method: string, url: string) =>
      httpsRequest(`${server.url}${url}`, { caPath: server.caPath, method, token });

    before(async () => {
      database = await backend.create();
      server = await startServer({
        env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD },
        args: backend.name === 'postgres' ? ['--database', database.url] : [],
      });
      token = await loginOverHttps(server, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await server.stop('SIGKILL');
      await database.drop();
    });

    test('serves the managed certificate api-server, whose key file is 0600', async () => {
      const shown = await call('GET', '/v1/managed-certificates/api-server');
      assert.equal(shown.status, 200, shown.text);
      const { serial } = shown.body as { serial: string };
      assert.equal(servedSerial(server), serial);
      const key = path.join(server.dataDir, 'pki', 'managed', 'api-server.key');
      assert.equal(fs.statSync(key).mode & 0o777, 0o600);
      assert.doesNotMatch(shown.text, /PRIVATE KEY/);
    });

    test('serves the renewed certificate on a new connection without a restart', async () => {
      const before = servedSerial(server);
      const renewed = await call('POST', '/v1/managed-certificates/api-server/renew');
      assert.equal(renewed.status, 200, renewed.text);
      const { serial } = renewed.body as { serial: string };
      assert.notEqual(serial, before);
      assert.equal(servedSerial(server), serial);
      assert.equal(server.child.exitCode, null);
      assert.equal((await call('GET', '/v1/auth/whoami')).status, 200);
    });

    test('keeps the renewed certificate across a restart', async () => {
      const current = servedSerial(server);
      assert.equal(await server.stop('SIGTERM'), 0, server.output());
      server = await startServer({
        dataDir: server.dataDir,
        env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD },
        args: backend.name === 'postgres' ? ['--database', database.url] : [],
      });
      assert.equal(servedSerial(server), current);
    });
  });
}
