import { createPrivateKey, X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { AppError } from '../core/errors.js';
import { loadX509, pemFile, privateKeyPem, randomSerial } from './site-pki.js';

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

const KEY_ALGORITHMS = {
  'ecdsa-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'rsa-2048': {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
} as const;
const CA_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Signs a server/client leaf certificate with the site root CA; notAfter never outlives the CA. */
export async function issueLeaf(
  ca: { certPem: string; keyPem: string },
  request: LeafRequest,
): Promise<IssuedLeaf> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHMS[request.keyType], true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const signed = await signLeaf(ca, request, keys.publicKey, request.keyType === 'rsa-2048');
  return { ...signed, keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * Signs a client certificate for the public key of a PKCS#10 request (a host agent's), after checking
 * the request's own signature. The subject of the request is ignored: the caller decides the name.
 */
export async function issueFromCsr(
  ca: { certPem: string; keyPem: string },
  request: { csrPem: string; commonName: string; notBefore: Date; notAfter: Date },
): Promise<Omit<IssuedLeaf, 'keyPem'>> {
  const x509 = await loadX509();
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  try {
    csr = new x509.Pkcs10CertificateRequest(request.csrPem);
  } catch {
    throw new AppError('invalid_input', 'csr is not a PEM PKCS#10 certificate request', { field: 'csr' });
  }
  if (!(await csr.verify())) {
    throw new AppError('invalid_input', 'the signature of the certificate request does not verify', {
      field: 'csr',
    });
  }
  const publicKey = await csr.publicKey.export();
  const isRsa = csr.publicKey.algorithm.name.startsWith('RSA');
  return signLeaf(ca, { ...request, dns: [], ips: [] }, publicKey, isRsa);
}

/** Parsed CA certificates and imported CA keys, by PEM: importing the key dominated each signature. */
const signingCas = new Map<
  string,
  Promise<{ caCert: import('@peculiar/x509').X509Certificate; caKey: webcrypto.CryptoKey }>
>();

function signingCa(ca: { certPem: string; keyPem: string }) {
  const key = `${ca.certPem}\n${ca.keyPem}`;
  let entry = signingCas.get(key);
  if (!entry) {
    entry = (async () => {
      const x509 = await loadX509();
      const caKeyDer = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
      return {
        caCert: new x509.X509Certificate(ca.certPem),
        caKey: await webcrypto.subtle.importKey('pkcs8', caKeyDer, CA_KEY, false, ['sign']),
      };
    })();
    // A site has one or two CAs at a time (two during rotation); keep the cache that small.
    if (signingCas.size >= 4) signingCas.clear();
    signingCas.set(key, entry);
  }
  return entry;
}

async function signLeaf(
  ca: { certPem: string; keyPem: string },
  request: Omit<LeafRequest, 'keyType'>,
  publicKey: webcrypto.CryptoKey,
  isRsa: boolean,
): Promise<Omit<IssuedLeaf, 'keyPem'>> {
  const x509 = await loadX509();
  const { caCert, caKey } = await signingCa(ca);
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const notAfter = new Date(Math.min(request.notAfter.getTime(), caCert.notAfter.getTime()));
  const usages = isRsa
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature;
  const names = [
    ...request.dns.map((value) => ({ type: 'dns' as const, value })),
    ...request.ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ CN: [request.commonName] }],
    issuer: caCert.subjectName,
    notBefore: request.notBefore,
    notAfter,
    publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      caSki === null
        ? await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey)
        : new x509.AuthorityKeyIdentifierExtension(caSki.keyId),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  const certPem = pemFile(cert.toString('pem'));
  const issued = new NodeX509(certPem);
  return {
    certPem,
    serial: issued.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}
