import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { CertificateInfo } from './model.js';
import { compressIpv6, readCertificateDer } from './x509-der.js';

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
  const info = readCertificateDer(der, location);
  if (info !== undefined) return info;
  try {
    return describeX509(new X509Certificate(der), location);
  } catch {
    return undefined;
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
