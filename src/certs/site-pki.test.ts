import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createRootCa, ensureSitePki, readSiteCa } from './site-pki.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const DAY_MS = 24 * 60 * 60 * 1000;
const tempDirs: string[] = [];

after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'murm-site-pki-'));
  tempDirs.push(dir);
  return dir;
}

async function readCert(path: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(path));
}

async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Serves `GET /` over HTTPS on 127.0.0.1 and returns the status of one request made with `ca`. */
async function httpsStatus(certPem: string, keyPem: string, ca: string | undefined): Promise<number> {
  const server = createServer({ cert: certPem, key: keyPem }, (_req, res) => res.end('ok'));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<number>((done, fail) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/', agent: false, ...(ca ? { ca } : {}) },
        (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode ?? 0));
        },
      );
      req.on('error', fail);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }
}

describe('ensureSitePki', () => {
  it('creates the CA and server files with private key modes', async () => {
    const dataDir = await tempDataDir();
    const pki = await ensureSitePki({ dataDir, hosts: ['ctl.example.net'], now: NOW, siteName: 'lab' });
    const dir = join(dataDir, 'pki');
    assert.equal(pki.isNew, true);
    assert.equal(pki.caCertPath, join(dir, 'ca.crt'));
    assert.equal(await fileMode(dir), 0o700);
    assert.equal(await fileMode(join(dir, 'ca.key')), 0o600);
    assert.equal(await fileMode(join(dir, 'server.key')), 0o600);
    assert.equal(await fileMode(join(dir, 'ca.crt')), 0o644);
    assert.equal(await fileMode(join(dir, 'server.crt')), 0o644);
    assert.equal(await readFile(join(dir, 'server.key'), 'utf8'), pki.serverKeyPem);
    assert.match(pki.serverKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('issues a server certificate that openssl verifies against the CA', async () => {
    const dataDir = await tempDataDir();
    const pki = await ensureSitePki({ dataDir, hosts: ['ctl.example.net'], now: new Date() });
    const serverCrt = join(dataDir, 'pki', 'server.crt');
    const out = execFileSync('openssl', ['verify', '-CAfile', pki.caCertPath, serverCrt], {
      encoding: 'utf8',
    });
    assert.match(out, /: OK/);
  });

  it('creates an ECDSA P-256 root CA named after the site', async () => {
    const dataDir = await tempDataDir();
    const pki = await ensureSitePki({ dataDir, hosts: [], now: NOW, siteName: 'lab' });
    const ca = await readCert(pki.caCertPath);
    assert.equal(ca.ca, true);
    assert.equal(ca.publicKey.asymmetricKeyType, 'ec');
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(ca.subject, 'CN=Murmuration site root CA lab');
    assert.equal(ca.checkIssued(ca), true);
    assert.equal(new Date(ca.validFrom).getTime(), NOW.getTime() - 5 * 60 * 1000);
    assert.equal(new Date(ca.validTo).getUTCFullYear(), 2036);
    assert.equal(ca.serialNumber.length, 32);
  });

  it('puts every host and the loopback names in the server SANs', async () => {
    const dataDir = await tempDataDir();
    const hosts = ['ctl.example.net', '10.0.0.5', 'fd00::5'];
    await ensureSitePki({ dataDir, hosts, now: NOW });
    const server = await readCert(join(dataDir, 'pki', 'server.crt'));
    assert.equal(server.subject, 'CN=ctl.example.net');
    assert.equal(server.ca, false);
    for (const name of ['ctl.example.net', 'localhost']) {
      assert.equal(server.checkHost(name, { subject: 'never' }), name);
    }
    for (const ip of ['10.0.0.5', 'fd00::5', '127.0.0.1', '::1']) assert.ok(server.checkIP(ip), ip);
    assert.ok(server.keyUsage.includes('1.3.6.1.5.5.7.3.1'));
    assert.equal(new Date(server.validTo).getTime(), NOW.getTime() + 365 * DAY_MS);
  });

  it('reuses the existing files on a second call', async () => {
    const dataDir = await tempDataDir();
    const first = await ensureSitePki({ dataDir, hosts: ['ctl.example.net'], now: NOW });
    const second = await ensureSitePki({ dataDir, hosts: ['CTL.example.net'], now: NOW });
    assert.equal(second.isNew, false);
    assert.equal(second.serverCertPem, first.serverCertPem);
    assert.equal(second.serverKeyPem, first.serverKeyPem);
  });

  it('reissues only the server certificate when a host is added', async () => {
    const dataDir = await tempDataDir();
    const first = await ensureSitePki({ dataDir, hosts: ['ctl.example.net'], now: NOW });
    const caBefore = (await readCert(first.caCertPath)).fingerprint256;
    const second = await ensureSitePki({ dataDir, hosts: ['ctl.example.net', '10.0.0.9'], now: NOW });
    const server = await readCert(join(dataDir, 'pki', 'server.crt'));
    assert.equal(second.isNew, false);
    assert.notEqual(second.serverKeyPem, first.serverKeyPem);
    assert.equal((await readCert(second.caCertPath)).fingerprint256, caBefore);
    assert.ok(server.checkIP('10.0.0.9'));
    assert.equal(server.checkIssued(await readCert(second.caCertPath)), true);
  });

  it('reissues the server certificate when it expires within 30 days', async () => {
    const dataDir = await tempDataDir();
    const first = await ensureSitePki({ dataDir, hosts: [], now: NOW });
    const later = new Date(NOW.getTime() + 340 * DAY_MS);
    const second = await ensureSitePki({ dataDir, hosts: [], now: later });
    const server = await readCert(join(dataDir, 'pki', 'server.crt'));
    assert.equal(second.isNew, false);
    assert.notEqual(second.serverCertPem, first.serverCertPem);
    assert.equal(new Date(server.validTo).getTime(), later.getTime() + 365 * DAY_MS);
  });

  it('regenerates everything when the CA files are missing', async () => {
    const dataDir = await tempDataDir();
    const first = await ensureSitePki({ dataDir, hosts: [], now: NOW });
    const caBefore = (await readCert(first.caCertPath)).fingerprint256;
    await rm(join(dataDir, 'pki', 'ca.key'));
    const second = await ensureSitePki({ dataDir, hosts: [], now: NOW });
    const ca = await readCert(second.caCertPath);
    assert.equal(second.isNew, true);
    assert.notEqual(ca.fingerprint256, caBefore);
    assert.equal((await readCert(join(dataDir, 'pki', 'server.crt'))).checkIssued(ca), true);
  });

  it('rejects a host that is neither a DNS name nor an IP address', async () => {
    const dataDir = await tempDataDir();
    await assert.rejects(ensureSitePki({ dataDir, hosts: ['bad host'], now: NOW }), {
      code: 'invalid_input',
    });
  });

  it('does not load @peculiar/x509 when it reuses the files', async () => {
    const dataDir = await tempDataDir();
    await ensureSitePki({ dataDir, hosts: ['ctl.example.net'], now: new Date() });
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier.startsWith('@peculiar/x509')) throw new Error('x509 was imported');
      return next(specifier, context);
    }`;
    const register = `import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));`;
    const script = `const { ensureSitePki } = await import(${JSON.stringify(new URL('./site-pki.ts', import.meta.url).href)});
      const pki = await ensureSitePki({ dataDir: ${JSON.stringify(dataDir)}, hosts: ['ctl.example.net'], now: new Date() });
      process.stdout.write(String(pki.isNew));`;
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        `data:text/javascript,${encodeURIComponent(register)}`,
        '--input-type=module',
        '-e',
        script,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(out, 'false');
  });

  it('completes a TLS handshake for a client that trusts the CA', async () => {
    const dataDir = await tempDataDir();
    const pki = await ensureSitePki({ dataDir, hosts: ['ctl.example.net'], now: new Date() });
    const ca = await readFile(pki.caCertPath, 'utf8');
    assert.equal(await httpsStatus(pki.serverCertPem, pki.serverKeyPem, ca), 200);
  });

  it('fails verification for a client that does not trust the CA', async () => {
    const dataDir = await tempDataDir();
    const pki = await ensureSitePki({ dataDir, hosts: ['ctl.example.net'], now: new Date() });
    await assert.rejects(httpsStatus(pki.serverCertPem, pki.serverKeyPem, undefined), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
  });

  it('signs with the root of a two-root ca.crt bundle that matches ca.key, and keeps both', async () => {
    const dataDir = await tempDataDir();
    const pki = await ensureSitePki({ dataDir, hosts: ['localhost'], now: NOW });
    const oldRoot = await readFile(pki.caCertPath, 'utf8');
    const newRoot = await createRootCa('site', NOW);
    await writeFile(pki.caCertPath, oldRoot + newRoot.certPem);
    assert.equal((await readSiteCa(dataDir)).certPem, oldRoot);
    await writeFile(join(dataDir, 'pki', 'ca.key'), newRoot.keyPem);
    assert.equal((await readSiteCa(dataDir)).certPem, newRoot.certPem);
    const again = await ensureSitePki({ dataDir, hosts: ['localhost'], now: NOW });
    assert.equal(again.isNew, false);
    assert.equal(await readFile(pki.caCertPath, 'utf8'), oldRoot + newRoot.certPem);
    const server = new X509Certificate(again.serverCertPem);
    assert.ok(server.verify(new X509Certificate(newRoot.certPem).publicKey));
  });
});
