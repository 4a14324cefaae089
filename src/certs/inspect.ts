import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { CertificateInfo } from './model.js';

/** Certificates read from a file or an endpoint, or why none could be read. */
export type InspectResult = { certificates: CertificateInfo[] } | { error: string };

// A bundle of 100,000 PEM certificates is about 70 MiB; anything much larger is not a certificate file.
const MAX_FILE_BYTES = 256 * 1024 * 1024;
const CERT_BLOCK = /-----BEGIN ((?:TRUSTED |X509 )?CERTIFICATE)-----([^-]*)-----END \1-----/g;
const CERT_BEGIN = /-----BEGIN (?:TRUSTED |X509 )?CERTIFICATE-----/g;
const ANY_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;
const SLICE_MS = 5;
const scratch = Buffer.allocUnsafe(64 * 1024);
let sliceStartedAt = 0;
let pendingYield: Promise<void> | undefined;

/**
 * Reads every certificate in a PEM (one or many blocks) or DER file; never throws, answers `{ error }`.
 * The read itself is synchronous (see `readCertificateFile`); calls yield to the event loop at least
 * every few milliseconds, so many concurrent calls never hold it for long.
 */
export async function inspectCertificateFile(path: string): Promise<InspectResult> {
  if (performance.now() - sliceStartedAt > SLICE_MS) await yieldToEventLoop();
  let data: Buffer;
  try {
    data = readCertificateFile(path);
  } catch (error) {
    return { error: readErrorMessage(path, error) };
  }
  if (data.length === 0)
    return { error: `file "${path}" is empty; write the certificate (PEM or DER) into it` };
  if (data.includes('-----BEGIN ')) return inspectPem(data.toString('latin1'), path);
  const info = data[0] === 0x30 ? parseCertificate(data, path) : undefined;
  if (info === undefined) {
    return {
      error: `"${path}" is neither a PEM nor a DER certificate; check that the path names a certificate`,
    };
  }
  return { certificates: [info] };
}

/**
 * One turn of the event loop shared by every waiting caller: were each to wait for its own, the callers
 * would run one after another in the same turn, each for a whole slice.
 */
function yieldToEventLoop(): Promise<void> {
  pendingYield ??= new Promise<void>((resolve) =>
    setImmediate(() => {
      pendingYield = undefined;
      sliceStartedAt = performance.now();
      resolve();
    }),
  );
  return pendingYield;
}

/** Parses DER certificates, e.g. a chain presented by an endpoint, located `<prefix>`, `<prefix>#1`, …; never throws. */
export function inspectDer(buffers: readonly Buffer[], locationPrefix: string): InspectResult {
  if (buffers.length === 0) return { error: `no certificate from ${locationPrefix}` };
  const certificates: CertificateInfo[] = [];
  for (const [index, der] of buffers.entries()) {
    const info = parseCertificate(der, locationOf(locationPrefix, index));
    if (info === undefined) {
      return { error: `certificate ${index + 1} of ${buffers.length} from ${locationPrefix} is corrupt` };
    }
    certificates.push(info);
  }
  return { certificates };
}

function inspectPem(text: string, path: string): InspectResult {
  const blocks = [...text.matchAll(CERT_BLOCK)];
  const begins = text.match(CERT_BEGIN)?.length ?? 0;
  if (begins === 0) {
    const labels = [...new Set(Array.from(text.matchAll(ANY_BEGIN), (match) => match[1]))];
    return {
      error: `no certificate in "${path}" (it holds ${labels.join(', ') || 'no PEM block'}); point the source at the certificate file`,
    };
  }
  if (blocks.length !== begins) {
    return {
      error: `a certificate in "${path}" has no END line; the file is truncated or corrupt, replace it`,
    };
  }
  const certificates: CertificateInfo[] = [];
  for (const [index, block] of blocks.entries()) {
    const body = block[2] ?? '';
    const info = BASE64_BODY.test(body)
      ? parseCertificate(Buffer.from(body, 'base64'), locationOf(path, index))
      : undefined;
    if (info === undefined) {
      return {
        error: `certificate ${index + 1} of ${blocks.length} in "${path}" is corrupt; replace the file`,
      };
    }
    certificates.push(info);
  }
  return { certificates };
}

function locationOf(prefix: string, index: number): string {
  return index === 0 ? prefix : `${prefix}#${index}`;
}

/**
 * Reads a file with synchronous calls: a certificate is a few KiB on a local disk, and each thread-pool
 * round trip of `fs/promises` costs more than the read itself (100,000 files: ~1 s of main thread
 * synchronously, 3–5 s asynchronously on a 2-CPU host). The price: a hung network mount blocks the process.
 */
function readCertificateFile(path: string): Buffer {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it changes nothing for a regular file.
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const bytesRead = fs.readSync(fd, scratch, 0, scratch.length, 0);
    // Most files fit the scratch buffer, returned as is (the caller consumes it before the next read);
    // only a larger one pays for fstat.
    if (bytesRead < scratch.length) return scratch.subarray(0, bytesRead);
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    if (stats.size > MAX_FILE_BYTES) throw Object.assign(new Error('too large'), { code: 'EFBIG' });
    const data = Buffer.allocUnsafe(stats.size);
    let offset = 0;
    while (offset < data.length) {
      const count = fs.readSync(fd, data, offset, data.length - offset, offset);
      if (count === 0) break;
      offset += count;
    }
    return data.subarray(0, offset);
  } finally {
    fs.closeSync(fd);
  }
}

function readErrorMessage(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return `file "${path}" not found; check the path`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied reading "${path}"; let the murm service user read it`;
    case 'EISDIR':
      return `"${path}" is a directory; monitor it as a directory source`;
    case 'ENOTREG':
    case 'EAGAIN':
    case 'ESPIPE':
      return `"${path}" is not a regular file; point the source at a certificate file`;
    case 'EFBIG':
      return `"${path}" is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB; it is not a certificate file`;
    case 'ENOTDIR':
      return `a parent of "${path}" is not a directory; check the path`;
    default:
      return `cannot read "${path}" (${code ?? (error as Error).message})`;
  }
}

/**
 * Parses one DER certificate, or undefined when it is corrupt. Node's `X509Certificate` costs ~200 µs a
 * certificate with OpenSSL 3.0 (d2i_X509 decodes the public key through the provider layer,
 * openssl/openssl#19119), too slow for 100,000 certificates, so a small DER reader takes the fields
 * monitoring needs and `X509Certificate` only handles what the reader does not understand.
 */
function parseCertificate(der: Buffer, location: string): CertificateInfo | undefined {
  try {
    return readCertificateDer(der, location);
  } catch {
    try {
      return describeX509(new X509Certificate(der), location);
    } catch {
      return undefined;
    }
  }
}

/** The same fields as the DER reader, taken from Node's `X509Certificate`. */
export function describeX509(cert: X509Certificate, location: string): CertificateInfo {
  return {
    fingerprint: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    sans: nodeSans(cert.subjectAltName),
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    keyType: nodeKeyType(cert),
    isCa: cert.ca,
    location,
  };
}

function nodeSans(text: string | undefined): string[] {
  const sans: string[] = [];
  // Node quotes a name holding a separator as a JSON string: `DNS:"a, b"`.
  for (const [entry] of (text ?? '').matchAll(/(?:[^,"]|"(?:\\.|[^"\\])*")+/g)) {
    const colon = entry.indexOf(':');
    const kind = entry.slice(0, colon).trim();
    let value = entry.slice(colon + 1);
    if (value.startsWith('"')) value = JSON.parse(value) as string;
    if (kind === 'IP Address') sans.push(`IP:${value.includes(':') ? compressIpv6(value) : value}`);
    else if (kind === 'Registered ID') sans.push(`RID:${value}`);
    else if (kind !== 'othername' && colon > 0) sans.push(`${kind}:${value}`);
  }
  return sans;
}

function nodeKeyType(cert: X509Certificate): string {
  try {
    const key = cert.publicKey;
    const details = key.asymmetricKeyDetails ?? {};
    switch (key.asymmetricKeyType) {
      case 'ec':
        return `ec-${NODE_CURVES[details.namedCurve ?? ''] ?? details.namedCurve}`;
      case 'rsa':
      case 'rsa-pss':
        return `${key.asymmetricKeyType}-${details.modulusLength}`;
      default:
        return key.asymmetricKeyType ?? 'unknown';
    }
  } catch {
    return 'unknown';
  }
}

const NODE_CURVES: Record<string, string> = {
  prime256v1: 'p256',
  secp384r1: 'p384',
  secp521r1: 'p521',
};

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

const SEQUENCE = 0x30;
const SET = 0x31;

/** Short names OpenSSL prints for name attributes, keyed by the hex of the OID's DER content. */
const NAME_ATTRIBUTES: Record<string, string> = {
  '550403': 'CN',
  '550404': 'SN',
  '550405': 'serialNumber',
  '550406': 'C',
  '550407': 'L',
  '550408': 'ST',
  '550409': 'street',
  '55040a': 'O',
  '55040b': 'OU',
  '55040c': 'title',
  '55040f': 'businessCategory',
  '550411': 'postalCode',
  '55042a': 'GN',
  '55042b': 'initials',
  '55042e': 'dnQualifier',
  '550441': 'pseudonym',
  '550461': 'organizationIdentifier',
  '2a864886f70d010901': 'emailAddress',
  '0992268993f22c640101': 'UID',
  '0992268993f22c640119': 'DC',
};

const EC_CURVES: Record<string, string> = {
  '2a8648ce3d030107': 'ec-p256',
  '2b81040022': 'ec-p384',
  '2b81040023': 'ec-p521',
  '2b8104000a': 'ec-secp256k1',
};

const KEY_ALGORITHMS: Record<string, string> = {
  '2a8648ce3d0201': 'ec',
  '2a864886f70d010101': 'rsa',
  '2a864886f70d01010a': 'rsa-pss',
  '2b6570': 'ed25519',
  '2b6571': 'ed448',
  '2b656e': 'x25519',
  '2b656f': 'x448',
  '2a8648ce380401': 'dsa',
};

function readCertificateDer(der: Buffer, location: string): CertificateInfo {
  const cert = readTlv(der, 0, der.length, SEQUENCE);
  const [tbs] = children(der, cert);
  const fields = children(der, expectTag(tbs, SEQUENCE));
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, , issuer, validity, subject, spki] = fields.slice(first, first + 6);
  const [notBefore, notAfter] = children(der, expectTag(validity, SEQUENCE));
  const extensions = readExtensions(der, fields.slice(first + 6));
  return {
    fingerprint: createHash('sha256').update(der.subarray(0, cert.end)).digest('hex'),
    subject: formatName(der, expectTag(subject, SEQUENCE)),
    issuer: formatName(der, expectTag(issuer, SEQUENCE)),
    sans: extensions.sans,
    serial: serialHex(der, expectTag(serial, 0x02)),
    notBefore: readTime(der, notBefore),
    notAfter: readTime(der, notAfter),
    keyType: readKeyType(der, expectTag(spki, SEQUENCE)),
    isCa: extensions.isCa,
    location,
  };
}

function readTlv(der: Buffer, pos: number, limit: number, tag?: number): Tlv {
  const found = byteAt(der, pos, limit);
  if ((found & 0x1f) === 0x1f) throw new Error('high tag numbers are not used in certificates');
  let length = byteAt(der, pos + 1, limit);
  let start = pos + 2;
  if (length >= 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + byteAt(der, start + i, limit);
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new Error('truncated');
  if (tag !== undefined && found !== tag) throw new Error(`expected tag ${tag}, found ${found}`);
  return { tag: found, start, end };
}

function byteAt(der: Buffer, pos: number, limit: number): number {
  const value = pos < limit ? der[pos] : undefined;
  if (value === undefined) throw new Error('truncated');
  return value;
}

/** The elements of a constructed value; they must fill it exactly. */
function children(der: Buffer, parent: Tlv): Tlv[] {
  const items: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const item = readTlv(der, pos, parent.end);
    items.push(item);
    pos = item.end;
  }
  return items;
}

function expectTag(tlv: Tlv | undefined, tag: number): Tlv {
  if (tlv === undefined || tlv.tag !== tag) throw new Error(`expected tag ${tag}`);
  return tlv;
}

function hexOf(der: Buffer, tlv: Tlv): string {
  return der.toString('hex', tlv.start, tlv.end);
}

function serialHex(der: Buffer, tlv: Tlv): string {
  let start = tlv.start;
  while (start < tlv.end - 1 && der[start] === 0) start++;
  return der.toString('hex', start, tlv.end);
}

function readTime(der: Buffer, tlv: Tlv | undefined): string {
  // UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ, the only forms RFC 5280 allows.
  const yearDigits = tlv?.tag === 0x17 ? 2 : tlv?.tag === 0x18 ? 4 : 0;
  if (tlv === undefined || yearDigits === 0 || tlv.end - tlv.start !== yearDigits + 11)
    throw new Error('bad time');
  const text = der.toString('latin1', tlv.start, tlv.end);
  if (!/^\d+Z$/.test(text)) throw new Error('bad time');
  let year = text.slice(0, yearDigits);
  // RFC 5280: a two-digit year below 50 is 20YY, otherwise 19YY.
  if (yearDigits === 2) year = `${Number(year) < 50 ? '20' : '19'}${year}`;
  const t = text.slice(yearDigits);
  const iso = `${year}-${t.slice(0, 2)}-${t.slice(2, 4)}T${t.slice(4, 6)}:${t.slice(6, 8)}:${t.slice(8, 10)}.000Z`;
  if (Number.isNaN(Date.parse(iso))) throw new Error('bad time');
  return iso;
}

function readKeyType(der: Buffer, spki: Tlv): string {
  const [algorithm, key] = children(der, spki);
  const [oid, parameters] = children(der, expectTag(algorithm, SEQUENCE));
  const name = KEY_ALGORITHMS[hexOf(der, expectTag(oid, 0x06))];
  if (name === 'ec') {
    const curve = expectTag(parameters, 0x06);
    return EC_CURVES[hexOf(der, curve)] ?? `ec-${oidText(der, curve)}`;
  }
  if (name === 'rsa' || name === 'rsa-pss') {
    const bits = expectTag(key, 0x03);
    // The BIT STRING holds SEQUENCE { modulus INTEGER, publicExponent INTEGER } after its unused-bits byte.
    const [modulus] = children(der, readTlv(der, bits.start + 1, bits.end, SEQUENCE));
    const { start, end } = expectTag(modulus, 0x02);
    let first = start;
    while (first < end - 1 && der[first] === 0) first++;
    return `${name}-${(end - first - 1) * 8 + (32 - Math.clz32(der[first] ?? 0))}`;
  }
  return name ?? 'unknown';
}

function readExtensions(der: Buffer, trailing: Tlv[]): { sans: string[]; isCa: boolean } {
  const result = { sans: [] as string[], isCa: false };
  const wrapper = trailing.find((tlv) => tlv.tag === 0xa3);
  if (wrapper === undefined) return result;
  let isCaConstraint = false;
  let canSignCertificates = true;
  for (const extension of children(der, readTlv(der, wrapper.start, wrapper.end, SEQUENCE))) {
    const parts = children(der, expectTag(extension, SEQUENCE));
    const id = hexOf(der, expectTag(parts[0], 0x06));
    const value = expectTag(parts[parts.length - 1], 0x04);
    if (id === '551d13') {
      const [isCa] = children(der, readTlv(der, value.start, value.end, SEQUENCE));
      isCaConstraint = isCa?.tag === 0x01 && der[isCa.start] !== 0;
    } else if (id === '551d0f') {
      const usage = readTlv(der, value.start, value.end, 0x03);
      // keyCertSign is bit 5 of the first byte after the unused-bits byte.
      canSignCertificates = ((der[usage.start + 1] ?? 0) & 0x04) !== 0;
    } else if (id === '551d11') {
      result.sans = readGeneralNames(der, readTlv(der, value.start, value.end, SEQUENCE));
    }
  }
  // As OpenSSL's X509_check_ca() === 1, which Node's `ca` reports: CA:TRUE and, if present, keyCertSign.
  result.isCa = isCaConstraint && canSignCertificates;
  return result;
}

function readGeneralNames(der: Buffer, sequence: Tlv): string[] {
  const sans: string[] = [];
  for (const name of children(der, sequence)) {
    if (name.tag === 0x81) sans.push(`email:${der.toString('latin1', name.start, name.end)}`);
    else if (name.tag === 0x82) sans.push(`DNS:${der.toString('latin1', name.start, name.end)}`);
    else if (name.tag === 0x86) sans.push(`URI:${der.toString('latin1', name.start, name.end)}`);
    else if (name.tag === 0x87) sans.push(`IP:${ipText(der.subarray(name.start, name.end))}`);
    else if (name.tag === 0x88) sans.push(`RID:${oidText(der, name)}`);
    else if (name.tag === 0xa4) sans.push(`DirName:${formatName(der, readTlv(der, name.start, name.end))}`);
  }
  return sans;
}

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length !== 16) return `<invalid ${bytes.length}-byte address>`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return compressIpv6(groups.join(':'));
}

/** RFC 5952 text of a full eight-group IPv6 address: the longest run of two or more zero groups becomes `::`. */
function compressIpv6(full: string): string {
  const groups = full.split(':').map((group) => group.replace(/^0+(?=.)/, '').toLowerCase());
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (groups[j] === '0') j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j + 1;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

function oidText(der: Buffer, tlv: Tlv): string {
  const arcs: number[] = [];
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) {
    const byte = der[i] ?? 0;
    value = value * 128 + (byte & 0x7f);
    if (byte < 0x80) {
      if (arcs.length === 0)
        arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** A Name as Node prints it, RDNs joined by `, ` instead of new lines: `C=US, O=Acme\, Inc., CN=x`. */
function formatName(der: Buffer, name: Tlv): string {
  const rdns: string[] = [];
  for (const rdn of children(der, name)) {
    const values: string[] = [];
    for (const attribute of children(der, expectTag(rdn, SET))) {
      const [type, value] = children(der, expectTag(attribute, SEQUENCE));
      const oid = expectTag(type, 0x06);
      if (value === undefined) throw new Error('attribute without a value');
      values.push(
        `${NAME_ATTRIBUTES[hexOf(der, oid)] ?? oidText(der, oid)}=${escapeValue(stringValue(der, value))}`,
      );
    }
    rdns.push(values.join(' + '));
  }
  return rdns.join(', ');
}

function stringValue(der: Buffer, tlv: Tlv): string {
  switch (tlv.tag) {
    case 0x0c:
      return der.toString('utf8', tlv.start, tlv.end);
    case 0x1e:
      return Buffer.from(der.subarray(tlv.start, tlv.end)).swap16().toString('utf16le');
    case 0x1c: {
      let text = '';
      for (let i = tlv.start; i + 3 < tlv.end; i += 4) text += String.fromCodePoint(der.readUInt32BE(i));
      return text;
    }
    default:
      // PrintableString, IA5String, T61String, VisibleString, NumericString: one byte a character.
      return der.toString('latin1', tlv.start, tlv.end);
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what OpenSSL escapes.
const CONTROL = /[\u0000-\u001f\u007f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above.
const NEEDS_ESCAPE = /[,+"\\<>;\u0000-\u001f\u007f]|^[ #]| $/;

/** OpenSSL's RFC 2253 escaping (ASN1_STRFLGS_ESC_2253 | ESC_CTRL), as in Node's subject and issuer. */
function escapeValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value
    .replace(/[,+"\\<>;]|^[ #]| $/g, (char) => `\\${char}`)
    .replace(CONTROL, (char) => `\\${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}
