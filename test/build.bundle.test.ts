import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { httpsRequest } from './helpers/https.js';
import { REPO_ROOT, runCli, type ServerProcess, startServer } from './helpers/processes.js';

// `npm start` and the `murm` bin run the esbuild bundle, not the sources the other tests run through tsx.
// This proves the bundle works end to end: lazily loaded chunks, CommonJS packages, the native addon.
describe('the built bundle (what npm start runs)', () => {
  let server: ServerProcess;
  const password = 'Bundle-Pass-001';
  before(async () => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT, stdio: 'pipe' });
    server = await startServer({ isBundle: true, env: { MURM_ADMIN_PASSWORD: password } });
  });
  after(async () => {
    await server.stop('SIGKILL');
  });

  test('creates the PKI, serves the API, validates bodies and serves metrics and docs', async () => {
    const call = (method: string, url: string, token?: string, body?: unknown) =>
      httpsRequest(`${server.url}${url}`, {
        caPath: server.caPath,
        method,
        ...(token ? { token } : {}),
        body,
      });
    const login = await call('POST', '/v1/auth/tokens', undefined, { username: 'admin', password });
    assert.equal(login.status, 201, login.text);
    const { token } = login.body as { token: string };
    const invalid = await call('POST', '/v1/users', token, { name: 'x', roles: ['reader'] });
    assert.equal(invalid.status, 400);
    assert.equal((invalid.body as { error: { details: { field: string } } }).error.details.field, 'password');
    assert.equal((await call('GET', '/metrics', token)).status, 200);
    assert.equal((await call('GET', '/docs', token)).status, 200);

    const env = { MURM_URL: server.url, MURM_CA: server.caPath, MURM_TOKEN: token };
    const whoami = await runCli(['whoami', '-o', 'json'], { env, isBundle: true });
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.equal((JSON.parse(whoami.stdout) as { name: string }).name, 'admin');
  });
});
