import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { httpsRequest, loginOverHttps } from './helpers/https.js';
import { makeTempDir, runCli, type ServerProcess, startServer } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Rotation-Pass-0001';
const CLEAN_ENV = { MURM_URL: '', MURM_CA: '', MURM_TOKEN: '', MURM_PASSWORD: '', MURM_NEW_PASSWORD: '' };

interface CaView {
  phase: string;
  roots: { fingerprint256: string; isSigning: boolean }[];
  completed?: string[];
}

/** True when a NEW TLS connection to the server verifies against `caFile` alone. */
function verifiesWith(server: ServerProcess, caFile: string): boolean {
  const { port } = new URL(server.url);
  const result = spawnSync(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', caFile, '-verify_return_error'],
    { input: '', encoding: 'utf8' },
  );
  return result.status === 0 && /Verify return code: 0 \(ok\)/.test(result.stdout);
}

/** Certificates of a PEM bundle, in order. */
function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** A client on ONE keep-alive connection that trusts `ca`, making requests until stopped. */
function keepAliveClient(server: ServerProcess, ca: string, token: string) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  const sockets = new Set<Socket>();
  const failures: unknown[] = [];
  let count = 0;
  let isStopped = false;
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const request = https.get(
        `${server.url}/v1/auth/whoami`,
        { agent, headers: { authorization: `Bearer ${token}` } },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('socket', (socket) => sockets.add(socket as Socket));
      request.on('error', reject);
    });
  const loop = (async () => {
    while (!isStopped) {
      try {
        const status = await get();
        if (status !== 200) failures.push(new Error(`status ${status}`));
        count++;
      } catch (error) {
        failures.push(error);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    get,
    async stop() {
      isStopped = true;
      await loop;
      agent.destroy();
      return { sockets: sockets.size, failures, count };
    },
  };
}

for (const backend of BACKENDS) {
  describe(`site root CA rotation on ${backend.name}`, () => {
    let database: TestDatabase;
    let server: ServerProcess;
    let token: string;
    const call = (method: string, url: string, body?: unknown) =>
      httpsRequest(`${server.url}${url}`, {
        caPath: server.caPath,
        method,
        token,
        ...(body === undefined ? {} : { body }),
      });
    const step = async (phase: string) => {
      const done = await call('POST', `/v1/pki/rotate-ca?phase=${phase}`);
      assert.equal(done.status, 200, done.text);
      assert.equal((done.body as CaView).phase, phase);
      return done.body as CaView;
    };

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

    test('keeps a client given the bundle working across the whole rotation, without a restart', async () => {
      const pid = server.child.pid;
      const issued = await call('POST', '/v1/managed-certificates', {
        name: 'registry',
        dns: ['registry.local'],
      });
      assert.equal(issued.status, 201, issued.text);
      const oldRootPem = fs.readFileSync(server.caPath, 'utf8');
      assert.equal(splitPem(oldRootPem).length, 1);

      const trustBoth = await step('trust-both');
      assert.equal(trustBoth.roots.length, 2);
      const bundle = fs.readFileSync(server.caPath, 'utf8');
      const [first, newRootPem] = splitPem(bundle);
      assert.ok(first !== undefined && newRootPem !== undefined);
      assert.equal(new X509Certificate(first).fingerprint256, new X509Certificate(oldRootPem).fingerprint256);
      const dir = makeTempDir('rotation');
      const bundleFile = path.join(dir, 'bundle.crt');
      const oldFile = path.join(dir, 'old.crt');
      const newFile = path.join(dir, 'new.crt');
      fs.writeFileSync(bundleFile, bundle);
      fs.writeFileSync(oldFile, oldRootPem);
      fs.writeFileSync(newFile, newRootPem);
      assert.ok(verifiesWith(server, bundleFile));

      const client = keepAliveClient(server, bundle, token);
      assert.equal(await client.get(), 200);
      await step('update-certs');
      assert.equal(await client.get(), 200);
      assert.ok(verifiesWith(server, bundleFile));
      assert.ok(verifiesWith(server, newFile));
      await step('trust-new-ca');
      assert.equal(await client.get(), 200);
      assert.ok(verifiesWith(server, bundleFile));
      const idle = await step('idle');
      assert.equal(await client.get(), 200);
      const { sockets, failures, count } = await client.stop();
      assert.deepEqual(failures, []);
      assert.equal(sockets, 1, 'every request used the one keep-alive connection');
      assert.ok(count > 0);

      assert.ok(verifiesWith(server, bundleFile));
      assert.ok(verifiesWith(server, newFile));
      assert.equal(verifiesWith(server, oldFile), false);
      assert.equal(fs.readFileSync(server.caPath, 'utf8'), newRootPem);
      assert.equal(fs.readFileSync(path.join(server.dataDir, 'pki', 'ca-previous.crt'), 'utf8'), oldRootPem);
      assert.deepEqual(
        idle.roots.map((root) => root.fingerprint256),
        [new X509Certificate(newRootPem).fingerprint256],
      );

      const oldRoot = new X509Certificate(oldRootPem);
      const newRoot = new X509Certificate(newRootPem);
      const managed = await call('GET', '/v1/managed-certificates');
      const items = (managed.body as { items: { name: string; certPem: string }[] }).items;
      assert.deepEqual(items.map((item) => item.name).sort(), ['api-server', 'registry']);
      for (const item of items) {
        const leaf = new X509Certificate(item.certPem);
        assert.ok(leaf.verify(newRoot.publicKey), `${item.name} is issued by the new root`);
        assert.equal(leaf.verify(oldRoot.publicKey), false);
      }
      assert.equal(server.child.pid, pid);
      assert.equal(server.child.exitCode, null);
    });

    test('refuses a phase out of order', async () => {
      const refused = await call('POST', '/v1/pki/rotate-ca?phase=trust-new-ca');
      assert.equal(refused.status, 409, refused.text);
      const shown = await call('GET', '/v1/pki/ca');
      assert.equal((shown.body as CaView).phase, 'idle');
    });

    test('resumes a rotation stopped half-way after a restart', async () => {
      await step('trust-both');
      await step('update-certs');
      const bundle = fs.readFileSync(server.caPath, 'utf8');
      assert.equal(await server.stop('SIGKILL'), null);
      server = await startServer({
        dataDir: server.dataDir,
        env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD },
        args: backend.name === 'postgres' ? ['--database', database.url] : [],
      });
      assert.equal(fs.readFileSync(server.caPath, 'utf8'), bundle, 'a restart keeps both roots');
      const shown = await call('GET', '/v1/pki/ca');
      assert.equal((shown.body as CaView).phase, 'update-certs');
      const resumed = await call('POST', '/v1/pki/rotate-ca');
      assert.equal(resumed.status, 200, resumed.text);
      assert.deepEqual((resumed.body as CaView).completed, ['trust-new-ca', 'idle']);
      const [, newRootPem] = splitPem(bundle);
      assert.equal(fs.readFileSync(server.caPath, 'utf8'), newRootPem);
      assert.ok(verifiesWith(server, server.caPath));
    });

    test('murm cert rotate-ca prints each phase and murm cert ca show the new root', async () => {
      const configDir = makeTempDir('rotation-cli');
      const murm = (args: string[], env: Record<string, string> = {}) =>
        runCli(args, { env: { ...CLEAN_ENV, MURM_CONFIG_DIR: configDir, ...env } });
      const login = await murm(['login', '--url', server.url, '--ca', server.caPath], {
        MURM_PASSWORD: ADMIN_PASSWORD,
      });
      assert.equal(login.code, EXIT_CODES.ok, login.stderr);
      const before = fs.readFileSync(server.caPath, 'utf8');
      const rotated = await murm(['cert', 'rotate-ca']);
      assert.equal(rotated.code, EXIT_CODES.ok, rotated.stderr);
      assert.deepEqual(
        rotated.stdout
          .trim()
          .split('\n')
          .map((line) => line.split(':')[0]),
        ['trust-both', 'update-certs', 'trust-new-ca', 'idle'],
      );
      const after = fs.readFileSync(server.caPath, 'utf8');
      assert.notEqual(after, before);
      const shown = await murm(['cert', 'ca', 'show', '-o', 'json']);
      assert.equal(shown.code, EXIT_CODES.ok, shown.stderr);
      const view = JSON.parse(shown.stdout) as CaView;
      assert.equal(view.phase, 'idle');
      assert.deepEqual(
        view.roots.map((root) => [root.fingerprint256, root.isSigning]),
        [[new X509Certificate(after).fingerprint256, true]],
      );
      assert.ok(verifiesWith(server, server.caPath));
    });
  });
}
