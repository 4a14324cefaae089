import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureSitePki } from '../src/certs/site-pki.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { makeTempDir } from './helpers/processes.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type Managed = {
  name: string;
  dns: string[];
  ips: string[];
  keyType: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  certPem: string;
  renewedAt: string | null;
};

const DAY_SECONDS = 86_400;

for (const backend of BACKENDS) {
  describe(`managed certificates on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let token: string;
    let caPath: string;
    let managedDir: string;
    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      token = await t.login('admin', ADMIN_PASSWORD);
      const pki = await ensureSitePki({
        dataDir: t.config.dataDir,
        hosts: ['localhost'],
        now: t.clock.now(),
      });
      caPath = pki.caCertPath;
      managedDir = path.join(t.config.dataDir, 'pki', 'managed');
    });
    after(async () => {
      await t.close();
      await database.drop();
    });
    const call = (method: string, url: string, body?: unknown, as = token) =>
      t.request({ method, url, token: as, body });
    /** openssl at the fake clock's time, since the certificates are issued at it. */
    const verify = (certPem: string) => {
      const file = path.join(makeTempDir('verify'), 'leaf.crt');
      fs.writeFileSync(file, certPem);
      const attime = String(Math.floor(t.clock.now().getTime() / 1000));
      return spawnSync('openssl', ['verify', '-attime', attime, '-CAfile', caPath, file], {
        encoding: 'utf8',
      });
    };
    const x509Text = (certPem: string, ...args: string[]) =>
      execFileSync('openssl', ['x509', '-noout', ...args], { input: certPem, encoding: 'utf8' });

    test('issues a certificate the site CA verifies, with the SANs asked for and a 0600 key file', async () => {
      const issued = await call('POST', '/v1/managed-certificates', {
        name: 'registry',
        dns: ['registry.local', 'Registry'],
        ips: ['10.0.0.5', 'fd00::5'],
        duration: '90d',
        renewBefore: '30d',
      });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const cert = issued.body as Managed;
      assert.deepEqual(cert.dns, ['registry.local', 'registry']);
      assert.equal(cert.keyType, 'ecdsa-p256');
      const verified = verify(cert.certPem);
      assert.equal(verified.status, 0, verified.stdout + verified.stderr);
      const sans = x509Text(cert.certPem, '-ext', 'subjectAltName');
      assert.match(
        sans,
        /DNS:registry\.local, DNS:registry, IP Address:10\.0\.0\.5, IP Address:FD00:0:0:0:0:0:0:5/,
      );
      assert.match(
        x509Text(cert.certPem, '-ext', 'extendedKeyUsage'),
        /TLS Web Server Authentication, TLS Web Client Authentication/,
      );
      assert.equal(x509Text(cert.certPem, '-serial').trim().toLowerCase(), `serial=${cert.serial}`);
      const days = (Date.parse(cert.notAfter) - t.clock.now().getTime()) / 86_400_000;
      assert.ok(Math.abs(days - 90) < 0.01, String(days));
      const keyFile = path.join(managedDir, 'registry.key');
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      assert.equal(fs.readFileSync(path.join(managedDir, 'registry.crt'), 'utf8'), cert.certPem);
      const listed = await call('GET', '/v1/managed-certificates');
      const shown = await call('GET', '/v1/managed-certificates/registry');
      for (const response of [issued, listed, shown]) {
        assert.doesNotMatch(JSON.stringify(response.body), /PRIVATE KEY|keyPem/);
      }
      assert.deepEqual(
        (listed.body as { items: Managed[] }).items.map((item) => item.name),
        ['registry'],
      );
    });

    test('issues an RSA-2048 key when asked', async () => {
      const issued = await call('POST', '/v1/managed-certificates', {
        name: 'ldap',
        dns: ['ldap.example'],
        keyType: 'rsa-2048',
        duration: '365d',
      });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const cert = issued.body as Managed;
      assert.match(x509Text(cert.certPem, '-text'), /Public-Key: \(2048 bit\)/);
      assert.equal(verify(cert.certPem).status, 0);
    });

    test('refuses a bad spec and a name that is taken', async () => {
      const bad = [
        { name: 'x', dns: ['a.example'], duration: '30d', renewBefore: '30d' },
        { name: 'x', ips: ['10.0.0.300'] },
        { name: 'x' },
        { name: 'Bad Name', dns: ['a.example'] },
      ];
      for (const body of bad) {
        assert.equal(
          (await call('POST', '/v1/managed-certificates', body)).status,
          400,
          JSON.stringify(body),
        );
      }
      const taken = await call('POST', '/v1/managed-certificates', { name: 'registry', dns: ['r.example'] });
      assert.equal(taken.status, 409);
    });

    test('watches managed certificates for expiry as a platform source', async () => {
      await t.site.certificates.audit();
      const seen = await call('GET', '/v1/certificates?source=platform-managed');
      const items = (seen.body as { items: { serial: string; state: string }[] }).items;
      const registry = ((await call('GET', '/v1/managed-certificates/registry')).body as Managed).serial;
      assert.ok(
        items.some((item) => item.serial === registry && item.state === 'ok'),
        JSON.stringify(items),
      );
    });

    test('renews only when the clock passes notAfter minus renew-before, with a new serial and key', async () => {
      const before = (await call('GET', '/v1/managed-certificates/registry')).body as Managed;
      const keyBefore = fs.readFileSync(path.join(managedDir, 'registry.key'), 'utf8');
      const renewed: string[] = [];
      t.site.managedCertificates.onRenewed((name) => {
        renewed.push(name);
      });
      t.clock.advance(59 * DAY_SECONDS);
      assert.deepEqual(await t.site.managedCertificates.renewDue(), []);
      t.clock.advance(1 * DAY_SECONDS + 600);
      assert.deepEqual(await t.site.managedCertificates.renewDue(), ['registry']);
      assert.deepEqual(renewed, ['registry']);
      token = await t.login('admin', ADMIN_PASSWORD); // the old token expired with the clock
      const after = (await call('GET', '/v1/managed-certificates/registry')).body as Managed;
      assert.notEqual(after.serial, before.serial);
      assert.equal(after.renewedAt, t.clock.now().toISOString());
      assert.ok(Date.parse(after.notAfter) > Date.parse(before.notAfter));
      assert.deepEqual([after.dns, after.ips], [before.dns, before.ips]);
      assert.equal(verify(after.certPem).status, 0);
      assert.notEqual(fs.readFileSync(path.join(managedDir, 'registry.key'), 'utf8'), keyBefore);
      assert.deepEqual(await t.site.managedCertificates.renewDue(), []);
    });

    test('renews on request for an operator, not for a reader', async () => {
      const before = (await call('GET', '/v1/managed-certificates/ldap')).body as Managed;
      const reader = await t.userWithRole('reader');
      assert.equal(
        (await call('POST', '/v1/managed-certificates/ldap/renew', undefined, reader)).status,
        403,
      );
      const operator = await t.userWithRole('operator');
      const renewed = await call('POST', '/v1/managed-certificates/ldap/renew', undefined, operator);
      assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
      assert.notEqual((renewed.body as Managed).serial, before.serial);
      assert.equal((await call('POST', '/v1/managed-certificates/nope/renew')).status, 404);
    });

    test('exports the key to an admin only, and audits it', async () => {
      const configurator = await t.userWithRole('configurator');
      const refused = await call('GET', '/v1/managed-certificates/registry/export', undefined, configurator);
      assert.equal(refused.status, 403);
      const exported = await call('GET', '/v1/managed-certificates/registry/export');
      assert.equal(exported.status, 200);
      const body = exported.body as { certPem: string; keyPem: string; caPem: string };
      assert.equal(body.keyPem, fs.readFileSync(path.join(managedDir, 'registry.key'), 'utf8'));
      assert.equal(body.caPem, fs.readFileSync(caPath, 'utf8'));
      assert.match(body.keyPem, /^-----BEGIN PRIVATE KEY-----/);
      const audit = await call('GET', '/v1/audit?limit=1000');
      assert.ok(
        JSON.stringify(audit.body).includes('certificate.key-exported'),
        JSON.stringify(audit.body).slice(0, 500),
      );
    });

    test('deletes the row, the key file and the certificate file', async () => {
      const configurator = await t.userWithRole('configurator');
      assert.equal(
        (await call('DELETE', '/v1/managed-certificates/ldap', undefined, configurator)).status,
        204,
      );
      assert.equal(fs.existsSync(path.join(managedDir, 'ldap.key')), false);
      assert.equal(fs.existsSync(path.join(managedDir, 'ldap.crt')), false);
      assert.equal((await call('GET', '/v1/managed-certificates/ldap')).status, 404);
      assert.equal((await call('DELETE', '/v1/managed-certificates/ldap')).status, 404);
    });
  });
}
