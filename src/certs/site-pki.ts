import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { commonJsExports } from '../core/commonjs.js';
import { AppError, invalidInput } from '../core/errors.js';

/** The site's private PKI: a root CA and the HTTPS server certificate it issued. */
export interface SitePki {
  /** Absolute path of the site root CA certificate (PEM). */
  caCertPath: string;
  /** Server certificate chain PEM: the leaf, then the CA. */
  serverCertPem: string;
  /** Server private key, PKCS#8 PEM. */
  serverKeyPem: string;
  /** True when the CA was created by this call. */
  isNew: boolean;
}

type X509Module = typeof X509;

interface PkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

interface Ca extends KeyPairPem {
  cert: X509Certificate;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const CA_VALIDITY_YEARS = 10;
const SERVER_VALIDITY_DAYS = 365;
const RENEW_WITHIN_DAYS = 30;
const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const ALWAYS_HOSTS = ['localhost', '127.0.0.1', '::1'] as const;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DNS_NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/;

/** Loads the site PKI from `<dataDir>/pki`, creating the root CA and the HTTPS server certificate when missing; throws `invalid_input` for a host that is neither a DNS name nor an IP address. */
export async function ensureSitePki(options: {
  dataDir: string;
  hosts: readonly string[];
  now: Date;
  siteName?: string;
}): Promise<SitePki> {
  const { now } = options;
  const hosts = normalizeHosts(options.hosts);
  const paths = pkiPaths(resolve(options.dataDir, 'pki'));
  await mkdir(paths.dir, { recursive: true, mode: DIR_MODE });
  await chmod(paths.dir, DIR_MODE);

  let ca = await loadCa(paths, now);
  const isNew = ca === undefined;
  let server = ca === undefined ? undefined : await loadServer(paths, ca, hosts, now);
  if (ca === undefined || server === undefined) {
    // Only the issuing path pays for loading the x509 library; a warm restart never does.
    const x509 = await loadX509();
    if (ca === undefined) {
      ca = await createCa(x509, options.siteName ?? 'site', now);
      // Key before certificate: a crash in between leaves a pair that fails the match check and is redone.
      await writeFileAtomic(paths.caKey, ca.keyPem, KEY_MODE);
      await writeFileAtomic(paths.caCert, ca.certPem, CERT_MODE);
    }
    server = await issueServer(x509, ca, hosts, now);
    await writeFileAtomic(paths.serverKey, server.keyPem, KEY_MODE);
    await writeFileAtomic(paths.serverCert, server.certPem, CERT_MODE);
  }
  return {
    caCertPath: paths.caCert,
    serverCertPem: server.certPem + ca.certPem,
    serverKeyPem: server.keyPem,
    isNew,
  };
}

/** The site root CA that signs (the certificate of `ca.crt` matching `ca.key`, and that key) under `<dataDir>/pki`; throws `precondition_failed` when it is missing. */
export async function readSiteCa(dataDir: string): Promise<KeyPairPem> {
  const paths = pkiPaths(resolve(dataDir, 'pki'));
  const pair = signingPair(await readPair(paths.caCert, paths.caKey));
  if (pair === undefined) {
    throw new AppError(
      'precondition_failed',
      `the site root CA is missing under "${paths.dir}"; start "murm serve" once to create it`,
    );
  }
  return pair;
}

function pkiPaths(dir: string): PkiPaths {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
  };
}

/** Lowercases, unbrackets and dedupes the hosts, first requested host first, then the loopback names. */
function normalizeHosts(requested: readonly string[]): string[] {
  const hosts = new Set<string>();
  for (const raw of [...requested, ...ALWAYS_HOSTS]) {
    let host = raw.trim().toLowerCase();
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (host === '') continue;
    if (isIP(host) === 6) host = new URL(`http://[${host}]`).hostname.slice(1, -1);
    else if (isIP(host) === 0 && !DNS_NAME.test(host)) {
      throw invalidInput(
        'hosts',
        `host "${raw}" is neither a DNS name nor an IP address; fix the hosts list`,
      );
    }
    hosts.add(host);
  }
  return [...hosts];
}

async function loadCa(paths: PkiPaths, now: Date): Promise<Ca | undefined> {
  const pair = signingPair(await readPair(paths.caCert, paths.caKey));
  if (pair === undefined) return undefined;
  const cert = parseCert(pair.certPem);
  if (cert === undefined || !cert.ca || !keyMatches(cert, pair.keyPem)) return undefined;
  // A CA close to its end is replaced rather than left to issue server certificates that outlive it.
  if (expiresWithin(cert, now, RENEW_WITHIN_DAYS)) return undefined;
  return { ...pair, cert };
}

async function loadServer(
  paths: PkiPaths,
  ca: Ca,
  hosts: readonly string[],
  now: Date,
): Promise<KeyPairPem | undefined> {
  const pair = await readPair(paths.serverCert, paths.serverKey);
  if (pair === undefined) return undefined;
  const cert = parseCert(pair.certPem);
  if (cert === undefined || !keyMatches(cert, pair.keyPem)) return undefined;
  if (!cert.checkIssued(ca.cert) || !cert.verify(ca.cert.publicKey)) return undefined;
  if (expiresWithin(cert, now, RENEW_WITHIN_DAYS)) return undefined;
  const hasEveryHost = hosts.every((host) =>
    isIP(host) === 0
      ? cert.checkHost(host, { subject: 'never' }) !== undefined
      : cert.checkIP(host) !== undefined,
  );
  return hasEveryHost ? pair : undefined;
}

/**
 * During a CA rotation `ca.crt` is a bundle of two roots and `ca.key` the key of the one that signs;
 * picks that root out of the bundle (undefined when none matches).
 */
function signingPair(pair: KeyPairPem | undefined): KeyPairPem | undefined {
  if (pair === undefined) return undefined;
  const certPem = splitPemCertificates(pair.certPem).find((pem) => {
    const cert = parseCert(pem);
    return cert !== undefined && keyMatches(cert, pair.keyPem);
  });
  return certPem === undefined ? undefined : { certPem, keyPem: pair.keyPem };
}

/** Every certificate of a PEM bundle, each as its own PEM file text. */
export function splitPemCertificates(bundle: string): string[] {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map(pemFile);
}

async function readPair(certPath: string, keyPath: string): Promise<KeyPairPem | undefined> {
  const [certPem, keyPem] = await Promise.all([readIfExists(certPath), readIfExists(keyPath)]);
  if (certPem === undefined || keyPem === undefined) return undefined;
  return { certPem, keyPem };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseCert(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function expiresWithin(cert: X509Certificate, now: Date, days: number): boolean {
  const validTo = new Date(cert.validTo).getTime();
  return Number.isNaN(validTo) || validTo - now.getTime() <= days * DAY_MS;
}

/** Loads @peculiar/x509 with node's WebCrypto as its provider. */
export async function loadX509(): Promise<X509Module> {
  // @peculiar/x509 uses tsyringe, which needs the Reflect metadata API loaded first.
  await import('reflect-metadata');
  const x509 = commonJsExports(await import('@peculiar/x509')) as X509Module;
  x509.cryptoProvider.set(webcrypto);
  return x509;
}

/** A new site root CA (ECDSA P-256, 10 years). */
export async function createRootCa(siteName: string, now: Date): Promise<KeyPairPem> {
  const { certPem, keyPem } = await createCa(await loadX509(), siteName, now);
  return { certPem, keyPem };
}

async function createCa(x509: X509Module, siteName: string, now: Date): Promise<Ca> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [`Murmuration site root CA ${siteName}`] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = pemFile(cert.toString('pem'));
  return { certPem, keyPem: await privateKeyPem(keys.privateKey), cert: new X509Certificate(certPem) };
}

async function issueServer(
  x509: X509Module,
  ca: Ca,
  hosts: readonly string[],
  now: Date,
): Promise<KeyPairPem> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKeyDer = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
  const caKey = await webcrypto.subtle.importKey('pkcs8', caKeyDer, EC_KEY, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const notAfter = Math.min(now.getTime() + SERVER_VALIDITY_DAYS * DAY_MS, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [hosts[0] ?? 'localhost'] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((host) => ({ type: isIP(host) === 0 ? 'dns' : 'ip', value: host })),
      ),
      caSki === null
        ? await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey)
        : new x509.AuthorityKeyIdentifierExtension(caSki.keyId),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemFile(cert.toString('pem')), keyPem: await privateKeyPem(keys.privateKey) };
}

/** A positive 16-byte serial whose first byte is never zero, so DER keeps all 16 bytes. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** A private key as PKCS#8 PEM. */
export async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** A PEM text with LF line ends and one final newline. */
export function pemFile(pem: string): string {
  return `${pem.replace(/\r\n/g, '\n').trim()}\n`;
}

/** Writes through a temporary file in the same directory and renames it, so readers never see half a file. */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const file = await open(tmp, 'wx', mode);
    try {
      await file.writeFile(data);
      // The umask may have narrowed `mode` at creation; set it exactly.
      await file.chmod(mode);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
