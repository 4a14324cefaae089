import { createHash } from 'node:crypto';
import { children, expectTag, readTlv, type Tlv } from './der-reader.js';
import type { CertificateInfo } from './model.js';

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

/** Reads the fields monitoring needs from one DER certificate, or undefined when this reader cannot. */
export function readCertificateDer(der: Buffer, location: string): CertificateInfo | undefined {
  try {
    return decodeCertificate(der, location);
  } catch {
    return undefined;
  }
}

function decodeCertificate(der: Buffer, location: string): CertificateInfo {
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
export function compressIpv6(full: string): string {
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
