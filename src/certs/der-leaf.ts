import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { isIP } from 'node:net';
import { children, expectTag, readTlv, type Tlv } from './der-reader.js';

/** What `signLeafDer` puts in a leaf certificate; dates are truncated to whole seconds. */
interface LeafDerRequest {
  caCertDer: Buffer;
  /** The CA's ECDSA P-256 private key: the certificate is signed ecdsa-with-SHA256. */
  caKey: KeyObject;
  subjectPublicKeyInfoDer: Buffer;
  commonName: string;
  dns: readonly string[];
  ips: readonly string[];
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
  /** RSA subjects also get keyEncipherment, for TLS 1.2 RSA key exchange. */
  isRsaSubject: boolean;
}

const SEQUENCE = 0x30;
const SET = 0x31;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OID = 0x06;

/** DER content of the object identifiers we write or look for, as hex. */
const OIDS = {
  commonName: '550403',
  subjectKeyIdentifier: '551d0e',
  keyUsage: '551d0f',
  subjectAltName: '551d11',
  basicConstraints: '551d13',
  authorityKeyIdentifier: '551d23',
  extKeyUsage: '551d25',
  serverAuth: '2b06010505070301',
  clientAuth: '2b06010505070302',
  ecdsaWithSha256: '2a8648ce3d040302',
} as const;

/** Signature algorithms a CSR may use, by OID: what to hash with and which key must have signed. */
const CSR_SIGNATURES: Record<string, { hash: string; keyType: 'ec' | 'rsa' }> = {
  '2a8648ce3d040302': { hash: 'sha256', keyType: 'ec' },
  '2a8648ce3d040303': { hash: 'sha384', keyType: 'ec' },
  '2a864886f70d01010b': { hash: 'sha256', keyType: 'rsa' },
};
const CSR_CURVES = new Set(['prime256v1', 'secp384r1']);
const CSR_PEM =
  /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]*)-----END (NEW )?CERTIFICATE REQUEST-----/;

/** Parses a PEM PKCS#10 request and checks its signature; throws an Error saying what is wrong. */
export function parseCsr(csrPem: string): { subjectPublicKeyInfoDer: Buffer; publicKey: KeyObject } {
  let request: ReturnType<typeof readCsr>;
  try {
    request = readCsr(csrPem);
  } catch (error) {
    throw new Error(`csr is not a PEM PKCS#10 certificate request: ${(error as Error).message}`);
  }
  const { info, algorithm, signature, subjectPublicKeyInfoDer, publicKey } = request;
  const details = publicKey.asymmetricKeyDetails;
  const isKnownKey =
    publicKey.asymmetricKeyType === algorithm.keyType &&
    (algorithm.keyType === 'rsa' || CSR_CURVES.has(details?.namedCurve ?? ''));
  if (!isKnownKey) {
    throw new Error(
      'the certificate request must use an ECDSA P-256/P-384 or RSA key signed with SHA-256/384',
    );
  }
  let isValid = false;
  try {
    isValid = verify(algorithm.hash, info, publicKey, signature);
  } catch {
    // A signature that is not even a DER ECDSA value is simply a bad signature.
  }
  if (!isValid) throw new Error('the signature of the certificate request does not verify');
  return { subjectPublicKeyInfoDer, publicKey };
}

function readCsr(csrPem: string) {
  const match = CSR_PEM.exec(csrPem);
  if (match === null) throw new Error('no CERTIFICATE REQUEST block');
  const der = Buffer.from((match[2] ?? '').replace(/\s+/g, ''), 'base64');
  const outer = readTlv(der, 0, der.length, SEQUENCE);
  if (outer.end !== der.length) throw new Error('bytes after the request');
  const [info, algorithm, signature, extra] = children(der, outer);
  if (extra !== undefined) throw new Error('unexpected field after the signature');
  const infoTlv = expectTag(info, SEQUENCE);
  const [version, subject, spki] = children(der, infoTlv);
  if (hexOf(der, expectTag(version, INTEGER)) !== '00') throw new Error('version is not 1');
  expectTag(subject, SEQUENCE);
  const subjectPublicKeyInfoDer = raw(der, expectTag(spki, SEQUENCE));
  const [oid] = children(der, expectTag(algorithm, SEQUENCE));
  const known = CSR_SIGNATURES[hexOf(der, expectTag(oid, OID))];
  if (known === undefined) throw new Error('unsupported signature algorithm');
  const bits = expectTag(signature, BIT_STRING);
  if (der[bits.start] !== 0) throw new Error('signature is not whole bytes');
  return {
    info: raw(der, infoTlv),
    algorithm: known,
    signature: der.subarray(bits.start + 1, bits.end),
    subjectPublicKeyInfoDer,
    publicKey: createPublicKey({ key: subjectPublicKeyInfoDer, format: 'der', type: 'spki' }),
  };
}

/** A DER X.509 v3 leaf certificate for the subject's key, signed ecdsa-with-SHA256 by the CA. */
export function signLeafDer(request: LeafDerRequest): Buffer {
  const ca = readCa(request.caCertDer);
  const subjectKeyBits = publicKeyBits(
    request.subjectPublicKeyInfoDer,
    readTlv(request.subjectPublicKeyInfoDer, 0, request.subjectPublicKeyInfoDer.length, SEQUENCE),
  );
  const signatureAlgorithm = tlv(SEQUENCE, oid(OIDS.ecdsaWithSha256));
  const tbs = tlv(
    SEQUENCE,
    tlv(0xa0, tlv(INTEGER, Buffer.from([2]))),
    serialInteger(request.serialHex),
    signatureAlgorithm,
    ca.subject,
    tlv(SEQUENCE, derTime(request.notBefore), derTime(request.notAfter)),
    tlv(
      SEQUENCE,
      tlv(SET, tlv(SEQUENCE, oid(OIDS.commonName), tlv(0x0c, Buffer.from(request.commonName, 'utf8')))),
    ),
    request.subjectPublicKeyInfoDer,
    tlv(0xa3, tlv(SEQUENCE, ...leafExtensions(request, ca.keyId, subjectKeyBits))),
  );
  const signature = sign('sha256', tbs, request.caKey);
  return tlv(SEQUENCE, tbs, signatureAlgorithm, tlv(BIT_STRING, Buffer.from([0]), signature));
}

function leafExtensions(request: LeafDerRequest, caKeyId: Buffer, subjectKeyBits: Buffer): Buffer[] {
  // keyUsage bits: digitalSignature is bit 0 (0x80), keyEncipherment bit 2 (0x20); DER drops trailing zero bits.
  const keyUsage = request.isRsaSubject ? [0x05, 0xa0] : [0x07, 0x80];
  const names = [
    ...request.dns.map((name) => tlv(0x82, Buffer.from(name, 'ascii'))),
    ...request.ips.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  return [
    extension(OIDS.basicConstraints, true, tlv(SEQUENCE)),
    extension(OIDS.keyUsage, true, tlv(BIT_STRING, Buffer.from(keyUsage))),
    extension(OIDS.extKeyUsage, false, tlv(SEQUENCE, oid(OIDS.serverAuth), oid(OIDS.clientAuth))),
    ...(names.length > 0 ? [extension(OIDS.subjectAltName, false, tlv(SEQUENCE, ...names))] : []),
    extension(OIDS.authorityKeyIdentifier, false, tlv(SEQUENCE, tlv(0x80, caKeyId))),
    extension(OIDS.subjectKeyIdentifier, false, tlv(OCTET_STRING, sha1(subjectKeyBits))),
  ];
}

function extension(id: string, isCritical: boolean, value: Buffer): Buffer {
  const critical = isCritical ? [tlv(0x01, Buffer.from([0xff]))] : [];
  return tlv(SEQUENCE, oid(id), ...critical, tlv(OCTET_STRING, value));
}

/** The CA's subject Name (raw, so the issuer matches byte for byte) and the key identifier for AKI. */
function readCa(der: Buffer): { subject: Buffer; keyId: Buffer } {
  const [tbs] = children(der, readTlv(der, 0, der.length, SEQUENCE));
  const fields = children(der, expectTag(tbs, SEQUENCE));
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = raw(der, expectTag(fields[first + 4], SEQUENCE));
  const spki = expectTag(fields[first + 5], SEQUENCE);
  const wrapper = fields.slice(first + 6).find((field) => field.tag === 0xa3);
  const extensions =
    wrapper === undefined ? [] : children(der, readTlv(der, wrapper.start, wrapper.end, SEQUENCE));
  for (const item of extensions) {
    const parts = children(der, expectTag(item, SEQUENCE));
    if (hexOf(der, expectTag(parts[0], OID)) !== OIDS.subjectKeyIdentifier) continue;
    const value = expectTag(parts[parts.length - 1], OCTET_STRING);
    const keyId = readTlv(der, value.start, value.end, OCTET_STRING);
    return { subject, keyId: der.subarray(keyId.start, keyId.end) };
  }
  // RFC 5280 method 1, as the SKI of a CA without one would have been.
  return { subject, keyId: sha1(publicKeyBits(der, spki)) };
}

/** The subjectPublicKey BIT STRING's bytes after its unused-bits byte. */
function publicKeyBits(der: Buffer, spki: Tlv): Buffer {
  const [, key] = children(der, spki);
  const bits = expectTag(key, BIT_STRING);
  return der.subarray(bits.start + 1, bits.end);
}

function serialInteger(serialHex: string): Buffer {
  if (!/^[0-9a-f]+$/i.test(serialHex)) throw new Error(`serial "${serialHex}" is not hex`);
  let bytes = Buffer.from(serialHex.length % 2 === 0 ? serialHex : `0${serialHex}`, 'hex');
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  bytes = bytes.subarray(first);
  if (bytes[0] === 0) throw new Error('serial must be positive');
  // A set high bit would read as negative: RFC 5280 wants a positive INTEGER of at most 20 octets.
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  if (bytes.length > 20) throw new Error(`serial "${serialHex}" is longer than 20 octets`);
  return tlv(INTEGER, bytes);
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always to the second in UTC. */
function derTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (!(year >= 1950 && year <= 9999)) throw new Error(`${date.toISOString()} cannot be a certificate date`);
  const digits = date.toISOString().slice(0, 19).replace(/\D/g, '');
  return year < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${digits}Z`));
}

/** The 4 or 16 bytes of an IPv4 or IPv6 address, as iPAddress in subjectAltName carries them. */
function ipBytes(ip: string): Buffer {
  const version = isIP(ip);
  if (version === 4) return Buffer.from(ip.split('.').map(Number));
  if (version !== 6 || ip.includes('%')) throw new Error(`"${ip}" is not an IP address`);
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes the last two groups.
  const text = ip.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((group) => group.toString(16)).join(':'),
  );
  const groupsOf = (part: string) =>
    part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
  const [head = '', tail] = text.split('::');
  const before = groupsOf(head);
  const after = tail === undefined ? [] : groupsOf(tail);
  const groups = [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
  const bytes = Buffer.alloc(16);
  for (const [i, group] of groups.entries()) bytes.writeUInt16BE(group, i * 2);
  return bytes;
}

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const lengthBytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
  const header = length < 0x80 ? [tag, length] : [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  return Buffer.concat([Buffer.from(header), ...parts]);
}

function oid(hex: string): Buffer {
  return tlv(OID, Buffer.from(hex, 'hex'));
}

function sha1(data: Buffer): Buffer {
  return createHash('sha1').update(data).digest();
}

function raw(der: Buffer, tlv: Tlv): Buffer {
  return der.subarray(tlv.offset, tlv.end);
}

function hexOf(der: Buffer, tlv: Tlv): string {
  return der.toString('hex', tlv.start, tlv.end);
}
