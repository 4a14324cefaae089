import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCertificate } from '../../test/helpers/certs.js';
import { describeX509, inspectCertificateFile, inspectDer } from './inspect.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const DAY_MS = 86_400_000;
// Named apart from the call so that knip does not count it as an undeclared dependency.
const MKFIFO = 'mkfifo';

let dir: string;
let root: Awaited<ReturnType<typeof makeCertificate>>;
let intermediate: Awaited<ReturnType<typeof makeCertificate>>;
let leaf: Awaited<ReturnType<typeof makeCertificate>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'murm-certs-inspect-'));
  root = await makeCertificate({
    commonName: 'Murm Root CA',
    notAfter: new Date(NOW.getTime() + 3650 * DAY_MS),
    isCa: true,
  });
  intermediate = await makeCertificate({
    commonName: 'Murm Intermediate CA',
    notAfter: new Date(NOW.getTime() + 1000 * DAY_MS),
    isCa: true,
    issuer: root,
    keyType: 'ec-p384',
  });
  leaf = await makeCertificate({
    commonName: 'registry.local',
    notBefore: new Date('2026-01-01T00:00:00.000Z'),
    notAfter: new Date('2026-03-20T08:30:15.000Z'),
    issuer: intermediate,
    keyType: 'rsa',
    sans: [
      'DNS:registry.local',
      'IP:10.0.0.5',
      'IP:fd00::5',
      'email:ops@example.com',
      'URI:https://registry.local/',
    ],
    serialNumber: '00c0ffee',
  });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fileWith(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

function openssl(args: readonly string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('inspectCertificateFile', () => {
  it('reads every certificate of a PEM bundle in order, with its location', async () => {
    const path = await fileWith('bundle.pem', `${leaf.pem}\n${intermediate.pem}${root.pem}`);
    const result = await inspectCertificateFile(path);
    assert.ok('certificates' in result, JSON.stringify(result));
    const [first, second, third] = result.certificates;
    assert.equal(result.certificates.length, 3);
    assert.deepEqual(first, {
      fingerprint: new X509Certificate(leaf.der).fingerprint256.replaceAll(':', '').toLowerCase(),
      subject: 'CN=registry.local',
      issuer: 'CN=Murm Intermediate CA',
      sans: [
        'DNS:registry.local',
        'IP:10.0.0.5',
        'IP:fd00::5',
        'email:ops@example.com',
        'URI:https://registry.local/',
      ],
      serial: 'c0ffee',
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: '2026-03-20T08:30:15.000Z',
      keyType: 'rsa-2048',
      isCa: false,
      location: path,
    });
    assert.deepEqual(
      [second, third].map((info) => [info?.subject, info?.keyType, info?.isCa, info?.location]),
      [
        ['CN=Murm Intermediate CA', 'ec-p384', true, `${path}#1`],
        ['CN=Murm Root CA', 'ec-p256', true, `${path}#2`],
      ],
    );
  });

  it('agrees with openssl on fingerprint, notAfter and serial', async () => {
    const path = await fileWith('leaf.pem', leaf.pem);
    const result = await inspectCertificateFile(path);
    assert.ok('certificates' in result);
    const info = result.certificates[0];
    const text = openssl(['x509', '-noout', '-fingerprint', '-sha256', '-enddate', '-serial', '-in', path]);
    const fingerprint = /sha256 Fingerprint=([0-9A-F:]+)/i.exec(text)?.[1];
    const notAfter = /notAfter=(.+)/.exec(text)?.[1];
    const serial = /serial=([0-9A-F]+)/.exec(text)?.[1];
    assert.equal(info?.fingerprint, fingerprint?.replaceAll(':', '').toLowerCase());
    assert.equal(info?.notAfter, new Date(notAfter ?? '').toISOString());
    assert.equal(info?.serial, serial?.toLowerCase());
  });

  it('reads a DER file as one certificate', async () => {
    const path = await fileWith('leaf.der', leaf.der);
    const result = await inspectCertificateFile(path);
    assert.ok('certificates' in result);
    assert.equal(result.certificates.length, 1);
    assert.equal(result.certificates[0]?.subject, 'CN=registry.local');
    assert.equal(result.certificates[0]?.location, path);
  });

  it('reads a PEM with CRLF line endings and text around the block', async () => {
    const path = await fileWith(
      'crlf.pem',
      `subject=CN=registry.local\r\n${leaf.pem.replaceAll('\n', '\r\n')}trailer\r\n`,
    );
    const result = await inspectCertificateFile(path);
    assert.ok('certificates' in result, JSON.stringify(result));
    assert.equal(result.certificates[0]?.subject, 'CN=registry.local');
  });

  it('skips private keys and other blocks around the certificates', async () => {
    const path = await fileWith('with-key.pem', `${leaf.keyPem}${leaf.pem}`);
    const result = await inspectCertificateFile(path);
    assert.ok('certificates' in result);
    assert.deepEqual(
      result.certificates.map((info) => info.subject),
      ['CN=registry.local'],
    );
  });

  const failures: [string, () => Promise<string>, RegExp][] = [
    [
      'a file holding only a private key',
      () => fileWith('only.key', leaf.keyPem),
      /^no certificate in ".*only\.key" \(it holds PRIVATE KEY\)/,
    ],
    ['an empty file', () => fileWith('empty.pem', ''), /^file ".*empty\.pem" is empty/],
    [
      'corrupt base64',
      () => fileWith('bad64.pem', leaf.pem.replace(/\n(.{10})/, '\n!!!!!!!!!!')),
      /^certificate 1 of 1 in ".*bad64\.pem" is corrupt/,
    ],
    [
      'valid base64 of a truncated certificate',
      () =>
        fileWith(
          'short.pem',
          `-----BEGIN CERTIFICATE-----\n${leaf.der.subarray(0, 300).toString('base64')}\n-----END CERTIFICATE-----\n`,
        ),
      /^certificate 1 of 1 in ".*short\.pem" is corrupt/,
    ],
    [
      'a second certificate that is corrupt',
      () =>
        fileWith(
          'second-bad.pem',
          `${leaf.pem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
        ),
      /^certificate 2 of 2 in ".*second-bad\.pem" is corrupt/,
    ],
    [
      'a PEM block without its END line',
      () => fileWith('cut.pem', leaf.pem.slice(0, 200)),
      /has no END line/,
    ],
    [
      'corrupt DER',
      () => fileWith('bad.der', Buffer.concat([leaf.der.subarray(0, 40), Buffer.alloc(40, 7)])),
      /is neither a PEM nor a DER certificate/,
    ],
    ['a text file', () => fileWith('notes.txt', 'hello\n'), /is neither a PEM nor a DER certificate/],
    [
      'a missing file',
      async () => join(dir, 'missing.pem'),
      /^file ".*missing\.pem" not found; check the path$/,
    ],
    ['a directory', async () => dir, /is a directory/],
    [
      'a path below a file',
      async () => join(await fileWith('plain', 'x'), 'child.pem'),
      /parent of .* is not a directory/,
    ],
    [
      'a FIFO without a writer, without waiting for one',
      async () => {
        const path = join(dir, 'fifo.pem');
        execFileSync(MKFIFO, [path]);
        return path;
      },
      /is not a regular file/,
    ],
    ['an endless character device', async () => '/dev/zero', /is not a regular file/],
  ];
  for (const [name, makePath, expected] of failures) {
    it(`answers an error for ${name}`, async () => {
      const result = await inspectCertificateFile(await makePath());
      assert.ok('error' in result, JSON.stringify(result));
      assert.match(result.error, expected);
    });
  }
});

describe('inspectDer', () => {
  it('locates the n-th certificate of a chain as prefix#n', () => {
    const result = inspectDer([leaf.der, intermediate.der], 'registry.local:443');
    assert.ok('certificates' in result);
    assert.deepEqual(
      result.certificates.map((info) => info.location),
      ['registry.local:443', 'registry.local:443#1'],
    );
  });

  it('answers an error for an empty chain and for a corrupt certificate', () => {
    assert.deepEqual(inspectDer([], 'a:443'), { error: 'no certificate from a:443' });
    assert.deepEqual(inspectDer([leaf.der, Buffer.from('nope')], 'a:443'), {
      error: 'certificate 2 of 2 from a:443 is corrupt',
    });
  });
});

describe('the DER reader', () => {
  const openSslCases: [string, string[]][] = [
    [
      'ed25519 with an escaped, multi-attribute UTF-8 subject and every SAN kind',
      [
        '-newkey',
        'ed25519',
        '-utf8',
        '-subj',
        '/DC=org/DC=example/C=US/ST=Bayern/O=Acme, Inc./OU=R\\+D/CN=Ünïcode "q" <x>;/emailAddress=a@b',
        '-addext',
        'subjectAltName=DNS:a.example,IP:1.2.3.4,IP:::1,IP:fd00:0:0:1::5,email:x@y,URI:https://q',
      ],
    ],
    [
      'rsa-3072 with a multi-valued RDN and a leading space',
      [
        '-newkey',
        'rsa:3072',
        '-subj',
        '/CN= lead#/O=x+OU=y',
        '-addext',
        'basicConstraints=critical,CA:TRUE,pathlen:1',
      ],
    ],
    [
      'a CA:TRUE certificate without keyCertSign',
      [
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-384',
        '-subj',
        '/CN=p384',
        '-addext',
        'basicConstraints=CA:TRUE',
        '-addext',
        'keyUsage=digitalSignature',
      ],
    ],
    [
      'p521 valid past 2050 (GeneralizedTime)',
      [
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-521',
        '-subj',
        '/CN=p521/serialNumber=123',
        '-days',
        '40000',
      ],
    ],
  ];
  for (const [name, args] of openSslCases) {
    it(`reads what Node's X509Certificate reads for ${name}`, async () => {
      const certPath = join(dir, `openssl-${openSslCases.findIndex(([n]) => n === name)}.pem`);
      openssl([
        'req',
        '-x509',
        '-nodes',
        '-keyout',
        `${certPath}.key`,
        '-out',
        certPath,
        '-days',
        '30',
        ...args,
      ]);
      const result = await inspectCertificateFile(certPath);
      assert.ok('certificates' in result, JSON.stringify(result));
      assert.deepEqual(
        result.certificates[0],
        describeX509(new X509Certificate(await readFile(certPath)), certPath),
      );
    });
  }

  it("reads what Node's X509Certificate reads for generated chains", () => {
    for (const cert of [root, intermediate, leaf]) {
      const result = inspectDer([cert.der], 'x');
      assert.ok('certificates' in result);
      assert.deepEqual(result.certificates[0], describeX509(new X509Certificate(cert.der), 'x'));
    }
  });

  // How fast is measured by npm run bench:certs; this checks a large bundle is read whole.
  it('reads a bundle of 10,000 certificates', async () => {
    const path = join(dir, 'many', 'bundle.pem');
    await mkdir(join(dir, 'many'));
    await writeFile(path, leaf.pem.repeat(10_000));
    const result = await inspectCertificateFile(path);
    assert.ok('certificates' in result);
    assert.equal(result.certificates.length, 10_000);
  });
});
