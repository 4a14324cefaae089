import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, type KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import { parseCsr, signLeafDer } from './der-leaf.js';
import { issueFromCsr, issueLeaf } from './issue.js';
import { createRootCa, loadX509, pemFile, privateKeyPem } from './site-pki.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const YEAR_MS = 365 * 24 * 60 * 60 * 1000;
const KEYS = {
  'ec-p256': { key: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  'ec-p384': { key: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  rsa: {
    key: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
} as const;

let ca: { certPem: string; keyPem: string };
let caCert: X509Certificate;
let dir: string;

before(async () => {
  ca = await createRootCa('der-leaf', NOW);
  caCert = new X509Certificate(ca.certPem);
  dir = await mkdtemp(join(tmpdir(), 'murm-der-leaf-'));
  await writeFile(join(dir, 'ca.crt'), ca.certPem);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A PEM CSR made by @peculiar/x509, as the agent and the subcloud uplink make them. */
async function buildCsr(keyType: keyof typeof KEYS, commonName = 'agent-host') {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(KEYS[keyType].key, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: KEYS[keyType].sign,
  });
  return { csrPem: pemFile(request.toString('pem')), keyPem: await privateKeyPem(keys.privateKey) };
}

function buildLeaf(csrPem: string, overrides: Partial<Parameters<typeof signLeafDer>[0]> = {}) {
  const { subjectPublicKeyInfoDer, publicKey } = parseCsr(csrPem);
  const der = signLeafDer({
    caCertDer: caCert.raw,
    caKey: createPrivateKey(ca.keyPem),
    subjectPublicKeyInfoDer,
    commonName: 'subcloud-7',
    dns: [],
    ips: [],
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + YEAR_MS),
    serialHex: '7f0102030405060708090a0b0c0d0e0f',
    isRsaSubject: publicKey.asymmetricKeyType === 'rsa',
    ...overrides,
  });
  return { der, cert: new X509Certificate(der), publicKey };
}

async function openssl(args: string[], certPem: string): Promise<string> {
  const path = join(dir, `leaf-${Math.random().toString(16).slice(2)}.crt`);
  await writeFile(path, certPem);
  return execFileSync('openssl', [...args.map((arg) => (arg === 'LEAF' ? path : arg))], { encoding: 'utf8' });
}

/** RFC 5280 key identifier of an EC public key: SHA-1 of the uncompressed point. */
function ecKeyId(key: KeyObject): string {
  const { x = '', y = '' } = key.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
  return createHash('sha1').update(point).digest('hex');
}

function colonHex(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

describe('parseCsr', () => {
  for (const keyType of ['ec-p256', 'ec-p384', 'rsa'] as const) {
    it(`accepts a ${keyType} request and returns its key`, async () => {
      const { csrPem, keyPem } = await buildCsr(keyType);
      const { publicKey, subjectPublicKeyInfoDer } = parseCsr(csrPem);
      const expected = createPrivateKey(keyPem).export({ format: 'jwk' });
      assert.equal(publicKey.export({ format: 'jwk' }).x, expected.x);
      assert.equal(publicKey.export({ format: 'jwk' }).n, expected.n);
      assert.deepEqual(subjectPublicKeyInfoDer, publicKey.export({ format: 'der', type: 'spki' }));
    });
  }

  it('accepts a request made by openssl req', async () => {
    const keyPath = join(dir, 'openssl.key');
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      keyPath,
    ]);
    const csrPem = execFileSync('openssl', ['req', '-new', '-key', keyPath, '-subj', '/CN=host-9'], {
      encoding: 'utf8',
    });
    assert.equal(parseCsr(csrPem).publicKey.asymmetricKeyType, 'ec');
  });

  it('refuses a request whose signature does not match its content', async () => {
    const { csrPem } = await buildCsr('ec-p256', 'honest-name');
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const at = der.indexOf('honest-name');
    der.write('forged', at);
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(() => parseCsr(forged), /signature of the certificate request does not verify/);
  });

  it('refuses garbage, truncated requests and certificates', async () => {
    const { csrPem } = await buildCsr('ec-p256');
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const wrap = (bytes: Buffer) =>
      `-----BEGIN CERTIFICATE REQUEST-----\n${bytes.toString('base64')}\n-----END CERTIFICATE REQUEST-----`;
    for (const input of [
      '',
      'not a csr',
      wrap(Buffer.from('hello world')),
      wrap(der.subarray(0, der.length - 10)),
      wrap(Buffer.concat([der, Buffer.from([0])])),
      ca.certPem,
    ]) {
      assert.throws(() => parseCsr(input), /csr is not a PEM PKCS#10 certificate request/, input);
    }
  });
});

describe('signLeafDer', () => {
  it('issues a certificate node, the CA key and openssl accept', async () => {
    const { cert, der } = buildLeaf((await buildCsr('ec-p256')).csrPem, {
      dns: ['sc7.example.net'],
      ips: ['192.0.2.7', '2001:db8::7', '::ffff:198.51.100.1'],
    });
    assert.equal(cert.verify(caCert.publicKey), true);
    assert.equal(cert.checkIssued(caCert), true);
    assert.equal(cert.subject, 'CN=subcloud-7');
    assert.equal(cert.issuer, caCert.subject);
    assert.equal(cert.serialNumber, '7F0102030405060708090A0B0C0D0E0F');
    assert.equal(cert.ca, false);
    assert.equal(
      cert.subjectAltName,
      'DNS:sc7.example.net, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:7, IP Address:0:0:0:0:0:FFFF:C633:6401',
    );
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(new Date(cert.validFrom).toISOString(), NOW.toISOString());
    assert.equal(new Date(cert.validTo).toISOString(), new Date(NOW.getTime() + YEAR_MS).toISOString());
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    assert.match(await openssl(['verify', '-CAfile', join(dir, 'ca.crt'), 'LEAF'], pem), /: OK/);
  });

  it('writes the extensions signLeaf wrote, as openssl prints them', async () => {
    for (const keyType of ['ec-p256', 'rsa'] as const) {
      const { cert, publicKey } = buildLeaf((await buildCsr(keyType)).csrPem, { dns: ['a.example'] });
      const text = await openssl(['x509', '-noout', '-text', '-in', 'LEAF'], cert.toString());
      assert.match(text, /Basic Constraints: critical\n\s+CA:FALSE/);
      const usage = keyType === 'rsa' ? 'Digital Signature, Key Encipherment' : 'Digital Signature';
      assert.match(text, new RegExp(`Key Usage: critical\\n\\s+${usage}\\n`));
      assert.match(
        text,
        /Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication/,
      );
      assert.match(text, /Subject Alternative Name: \n\s+DNS:a\.example\n/);
      const caSki = /Subject Key Identifier: \n\s+([0-9A-F:]+)/.exec(
        await openssl(['x509', '-noout', '-text', '-in', 'LEAF'], ca.certPem),
      )?.[1];
      assert.ok(caSki);
      assert.match(text, new RegExp(`Authority Key Identifier: \\n\\s+${caSki}\\n`));
      if (keyType !== 'rsa') {
        assert.match(text, new RegExp(`Subject Key Identifier: \\n\\s+${colonHex(ecKeyId(publicKey))}\\n`));
      }
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    }
  });

  it('leaves out subjectAltName when there are no names', async () => {
    const { cert } = buildLeaf((await buildCsr('ec-p256')).csrPem);
    assert.equal(cert.subjectAltName, undefined);
  });

  it('derives the authority key id from the CA key when the CA has no SKI', async () => {
    const keyPath = join(dir, 'bare.key');
    const certPath = join(dir, 'bare.crt');
    execFileSync('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-subj', '/CN=bare CA', '-days', '30', '-keyout', keyPath, '-out', certPath],
      ...['-addext', 'subjectKeyIdentifier=none', '-addext', 'authorityKeyIdentifier=none'],
    ]);
    const bare = new X509Certificate(
      execFileSync('openssl', ['x509', '-in', certPath], { encoding: 'utf8' }),
    );
    const bareKey = createPrivateKey(execFileSync('cat', [keyPath], { encoding: 'utf8' }));
    const { cert } = buildLeaf((await buildCsr('ec-p256')).csrPem, { caCertDer: bare.raw, caKey: bareKey });
    assert.equal(cert.verify(bare.publicKey), true);
    const text = await openssl(['x509', '-noout', '-text', '-in', 'LEAF'], cert.toString());
    assert.match(
      text,
      new RegExp(`Authority Key Identifier: \\n\\s+${colonHex(ecKeyId(bare.publicKey))}\\n`),
    );
  });

  it('writes UTCTime before 2050 and GeneralizedTime from 2050', async () => {
    const { der, cert } = buildLeaf((await buildCsr('ec-p256')).csrPem, {
      notBefore: new Date('2049-12-31T23:59:59.900Z'),
      notAfter: new Date('2050-01-01T00:00:00Z'),
    });
    assert.ok(der.includes(Buffer.from('\x17\x0d491231235959Z', 'latin1')));
    assert.ok(der.includes(Buffer.from('\x18\x0f20500101000000Z', 'latin1')));
    assert.equal(new Date(cert.validFrom).toISOString(), '2049-12-31T23:59:59.000Z');
    assert.equal(new Date(cert.validTo).toISOString(), '2050-01-01T00:00:00.000Z');
  });

  it('encodes a serial with the high bit set as a positive INTEGER', async () => {
    const { der, cert } = buildLeaf((await buildCsr('ec-p256')).csrPem, { serialHex: '00ff01' });
    assert.ok(der.includes(Buffer.from([0x02, 0x03, 0x00, 0xff, 0x01])));
    assert.equal(cert.serialNumber, 'FF01');
  });

  it('lets a client with the issued certificate through a TLS server that requires CA-signed clients', async () => {
    const server = await issueLeaf(ca, {
      commonName: 'controller',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      keyType: 'ecdsa-p256',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + YEAR_MS),
    });
    const client = await buildCsr('ec-p256');
    const issued = await issueFromCsr(ca, {
      csrPem: client.csrPem,
      commonName: 'subcloud-7',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + YEAR_MS),
    });
    const tls = createServer(
      {
        cert: server.certPem,
        key: server.keyPem,
        ca: ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end(`hello ${socket.getPeerCertificate().subject.CN}`),
    );
    await new Promise<void>((done) => tls.listen(0, '127.0.0.1', done));
    try {
      const { port } = tls.address() as AddressInfo;
      const answer = await new Promise<string>((done, fail) => {
        const socket = connect({
          port,
          host: '127.0.0.1',
          ca: ca.certPem,
          cert: issued.certPem,
          key: client.keyPem,
        });
        let text = '';
        socket.on('data', (chunk) => {
          text += String(chunk);
        });
        socket.on('end', () => done(text));
        socket.on('error', fail);
      });
      assert.equal(answer, 'hello subcloud-7');
    } finally {
      tls.close();
    }
  });
});

describe('issueFromCsr', () => {
  it('reports the serial and validity written into the certificate, capped at the CA', async () => {
    const issued = await issueFromCsr(ca, {
      csrPem: (await buildCsr('rsa')).csrPem,
      commonName: 'host-1',
      notBefore: new Date(NOW.getTime() + 1234),
      notAfter: new Date(NOW.getTime() + 50 * YEAR_MS),
    });
    const cert = new X509Certificate(issued.certPem);
    assert.equal(issued.serial, cert.serialNumber.toLowerCase());
    assert.equal(issued.notBefore.toISOString(), new Date(cert.validFrom).toISOString());
    assert.equal(issued.notAfter.toISOString(), new Date(caCert.validTo).toISOString());
    assert.equal(new Date(cert.validTo).toISOString(), new Date(caCert.validTo).toISOString());
  });

  it('answers invalid_input for a request that is not a CSR', async () => {
    await assert.rejects(
      issueFromCsr(ca, { csrPem: 'not a csr', commonName: 'x', notBefore: NOW, notAfter: NOW }),
      (error: { code?: string; details?: unknown }) =>
        error.code === 'invalid_input' && JSON.stringify(error.details) === '{"field":"csr"}',
    );
  });
});
