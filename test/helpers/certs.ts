import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';
import type { CertificateInfo } from '../../src/certs/model.js';
import { commonJsExports } from '../../src/core/commonjs.js';

/** A real certificate for tests: PEM, DER and the private key that belongs to it. */
interface TestCertificate {
  pem: string;
  der: Buffer;
  keyPem: string;
  privateKey: webcrypto.CryptoKey;
  commonName: string;
}

const KEY_ALGORITHMS = {
  ec: { name: 'ECDSA', namedCurve: 'P-256' },
  'ec-p384': { name: 'ECDSA', namedCurve: 'P-384' },
  rsa: {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
} as const;

let x509Module: Promise<typeof X509> | undefined;

async function loadX509(): Promise<typeof X509> {
  // @peculiar/x509 uses tsyringe, which needs the Reflect metadata API loaded first.
  await import('reflect-metadata');
  const x509 = commonJsExports(await import('@peculiar/x509')) as typeof X509;
  x509.cryptoProvider.set(webcrypto);
  return x509;
}

/**
 * Issues a real X.509 v3 certificate, self-signed unless `issuer` is given. `sans` take the
 * `DNS:a` / `IP:1.2.3.4` / `email:x@y` / `URI:…` form; `keyType` defaults to `ec` (P-256).
 */
export async function makeCertificate(options: {
  commonName: string;
  notAfter: Date;
  notBefore?: Date;
  isCa?: boolean;
  issuer?: TestCertificate;
  keyType?: keyof typeof KEY_ALGORITHMS;
  sans?: readonly string[];
  serialNumber?: string;
}): Promise<TestCertificate> {
  x509Module ??= loadX509();
  const x509 = await x509Module;
  const algorithm = KEY_ALGORITHMS[options.keyType ?? 'ec'];
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const issuer = options.issuer;
  const signingKey = issuer?.privateKey ?? keys.privateKey;
  const signingAlgorithm =
    signingKey.algorithm.name === 'ECDSA'
      ? { name: 'ECDSA', hash: 'SHA-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(options.isCa === true, undefined, true),
    new x509.KeyUsagesExtension(
      options.isCa === true
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
  ];
  if (options.sans !== undefined && options.sans.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(options.sans.map(generalName)));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serialNumber ?? `01${randomBytes(15).toString('hex')}`,
    subject: `CN=${options.commonName}`,
    issuer: issuer === undefined ? `CN=${options.commonName}` : `CN=${issuer.commonName}`,
    notBefore: options.notBefore ?? new Date(options.notAfter.getTime() - 365 * 86_400_000),
    notAfter: options.notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm,
    extensions,
  });
  const der = Buffer.from(cert.rawData);
  const keyDer = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    pem: pemBlock('CERTIFICATE', der),
    der,
    keyPem: pemBlock('PRIVATE KEY', keyDer),
    privateKey: keys.privateKey,
    commonName: options.commonName,
  };
}

function generalName(san: string): X509.JsonGeneralName {
  const colon = san.indexOf(':');
  const kind = san.slice(0, colon);
  const value = san.slice(colon + 1);
  if (kind === 'DNS') return { type: 'dns', value };
  if (kind === 'IP' && isIP(value) !== 0) return { type: 'ip', value };
  if (kind === 'email') return { type: 'email', value };
  if (kind === 'URI') return { type: 'url', value };
  throw new Error(`unsupported subject alternative name "${san}"`);
}

/** A PEM block of `label` around DER bytes, 64 characters a line. */
function pemBlock(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A parsed certificate for model tests; `overrides` replace the defaults. */
export function buildCertificateInfo(overrides: Partial<CertificateInfo> = {}): CertificateInfo {
  return {
    fingerprint: 'ab'.repeat(32),
    subject: 'O=Murmuration, CN=registry.local',
    issuer: 'CN=Murmuration site root CA',
    sans: ['DNS:registry.local'],
    serial: '01',
    notBefore: '2025-03-01T00:00:00.000Z',
    notAfter: '2027-03-01T00:00:00.000Z',
    keyType: 'ec-p256',
    isCa: false,
    location: '/etc/ssl/private/registry-cert.crt',
    ...overrides,
  };
}
