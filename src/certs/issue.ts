import { createPrivateKey, generateKeyPair, type KeyObject, X509Certificate as NodeX509 } from 'node:crypto';
import { promisify } from 'node:util';
import { AppError } from '../core/errors.js';
import { parseCsr, signLeafDer } from './der-leaf.js';
import { pemFile, randomSerial } from './site-pki.js';

/** Key algorithms a managed certificate can have. */
export const KEY_TYPES = ['ecdsa-p256', 'rsa-2048'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** What a leaf certificate is issued for. */
interface LeafRequest {
  commonName: string;
  dns: readonly string[];
  ips: readonly string[];
  keyType: KeyType;
  notBefore: Date;
  notAfter: Date;
}

/** An issued leaf: PEMs, serial (lowercase hex) and the validity actually granted. */
interface IssuedLeaf {
  certPem: string;
  keyPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** A CA ready to sign: its DER certificate, its key and its expiry. */
interface SigningCa {
  caCertDer: Buffer;
  caKey: KeyObject;
  caNotAfter: Date;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** Signs a server/client leaf certificate with the site root CA; notAfter never outlives the CA. */
export async function issueLeaf(
  ca: { certPem: string; keyPem: string },
  request: LeafRequest,
): Promise<IssuedLeaf> {
  const keys =
    request.keyType === 'rsa-2048'
      ? await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
      : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
  const signed = signLeaf(ca, request, { spki, isRsa: request.keyType === 'rsa-2048' });
  return { ...signed, keyPem: pemFile(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()) };
}

/**
 * Signs a client certificate for the public key of a PKCS#10 request (a host agent's), after checking
 * the request's own signature. The subject of the request is ignored: the caller decides the name.
 * Throws `invalid_input` (field `csr`) for a request that does not parse or whose signature fails.
 */
export async function issueFromCsr(
  ca: { certPem: string; keyPem: string },
  request: { csrPem: string; commonName: string; notBefore: Date; notAfter: Date },
): Promise<Omit<IssuedLeaf, 'keyPem'>> {
  let csr: ReturnType<typeof parseCsr>;
  try {
    csr = parseCsr(request.csrPem);
  } catch (error) {
    throw new AppError('invalid_input', (error as Error).message, { field: 'csr' });
  }
  const isRsa = csr.publicKey.asymmetricKeyType === 'rsa';
  return signLeaf(ca, { ...request, dns: [], ips: [] }, { spki: csr.subjectPublicKeyInfoDer, isRsa });
}

/** Decoded CA certificates and keys, by PEM: parsing the key per certificate cost more than signing. */
const signingCas = new Map<string, SigningCa>();

function signingCa(ca: { certPem: string; keyPem: string }): SigningCa {
  const key = `${ca.certPem}\n${ca.keyPem}`;
  let entry = signingCas.get(key);
  if (entry === undefined) {
    const caCert = new NodeX509(ca.certPem);
    entry = {
      caCertDer: caCert.raw,
      caKey: createPrivateKey(ca.keyPem),
      caNotAfter: new Date(caCert.validTo),
    };
    // A site has one or two CAs at a time (two during rotation); keep the cache that small.
    if (signingCas.size >= 4) signingCas.clear();
    signingCas.set(key, entry);
  }
  return entry;
}

function signLeaf(
  ca: { certPem: string; keyPem: string },
  request: Omit<LeafRequest, 'keyType'>,
  subject: { spki: Buffer; isRsa: boolean },
): Omit<IssuedLeaf, 'keyPem'> {
  const { caCertDer, caKey, caNotAfter } = signingCa(ca);
  // Certificates carry whole seconds; report the validity as it is written.
  const notBefore = wholeSeconds(request.notBefore.getTime());
  const notAfter = wholeSeconds(Math.min(request.notAfter.getTime(), caNotAfter.getTime()));
  const serial = randomSerial();
  const der = signLeafDer({
    caCertDer,
    caKey,
    subjectPublicKeyInfoDer: subject.spki,
    commonName: request.commonName,
    dns: request.dns,
    ips: request.ips,
    notBefore,
    notAfter,
    serialHex: serial,
    isRsaSubject: subject.isRsa,
  });
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`,
    serial,
    notBefore,
    notAfter,
  };
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}
