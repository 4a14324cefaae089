import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadX509,
  pemFile,
  privateKeyPem,
  splitPemCertificates,
  writeFileAtomic,
} from '../certs/site-pki.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import {
  JOIN_BUNDLE_PREFIX,
  type JoinBundle,
  SUBCLOUD_ENROLL_PATH,
  type SubcloudEnrollRequest,
  type SubcloudEnrollResponse,
} from './uplink-protocol.js';

/** The system controller this site joined, as `<dataDir>/dc/link.json` records it. */
export interface StoredLink {
  name: string;
  controller: string;
  /** Origin of the uplink listener when the bundle named one apart from the API. */
  uplink?: string;
}

/** What the uplink presents and trusts, read from `<dataDir>/dc/`. */
interface UplinkIdentity {
  link: StoredLink;
  keyPem: string;
  certificatePem: string;
  caPem: string;
}

/** Files under `<dataDir>/dc/`. `link.json` is written last: it marks a joined site. */
const FILES = {
  key: 'uplink.key',
  pendingKey: 'uplink.key.pending',
  certificate: 'uplink.crt',
  caBundle: 'controller-ca.crt',
  link: 'link.json',
} as const;

const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** The bundle as `murm subcloud add` prints it: `murm-join:` + base64url(JSON). */
export function encodeJoinBundle(bundle: JoinBundle): string {
  return `${JOIN_BUNDLE_PREFIX}${Buffer.from(JSON.stringify(bundle), 'utf8').toString('base64url')}`;
}

/** Parses a bundle; throws `invalid_input` ("not a join bundle: …") for anything else. */
export function decodeJoinBundle(text: string): JoinBundle {
  const trimmed = text.trim();
  if (!trimmed.startsWith(JOIN_BUNDLE_PREFIX)) {
    throw notABundle(`it does not start with "${JOIN_BUNDLE_PREFIX}"`);
  }
  const payload = trimmed.slice(JOIN_BUNDLE_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(payload)) throw notABundle('the text after the prefix is not base64url');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw notABundle('it does not decode to JSON; was it cut short when copied?');
  }
  const { name, controller, caPem, token } = (
    typeof value === 'object' && value !== null ? value : {}
  ) as Record<string, unknown>;
  for (const [field, item] of Object.entries({ name, controller, caPem, token })) {
    if (typeof item !== 'string' || item === '') throw notABundle(`"${field}" is missing`);
  }
  const { uplink } = value as Record<string, unknown>;
  const bundle = { name, controller, caPem, token } as JoinBundle;
  if (!isHttpsUrl(bundle.controller))
    throw notABundle(`controller "${bundle.controller}" is not an https:// URL`);
  if (uplink !== undefined) {
    if (typeof uplink !== 'string' || !isHttpsUrl(uplink))
      throw notABundle('"uplink" is not an https:// URL');
    bundle.uplink = uplink;
  }
  if (splitPemCertificates(bundle.caPem).length === 0) throw notABundle('caPem holds no PEM certificate');
  return bundle;
}

/**
 * Joins the system controller of `bundle`: makes an ECDSA P-256 key that never leaves `<dataDir>/dc/`,
 * spends the one-time token with a CSR (trusting only the bundle's CA) and stores the issued client
 * certificate, the controller's CA bundle and the link. Throws the server's error (for example a spent
 * token) as an AppError; nothing is stored unless the join succeeded.
 */
export async function joinController(options: {
  dataDir: string;
  bundle: JoinBundle;
  logger: Logger;
}): Promise<StoredLink> {
  const { bundle, logger } = options;
  const { keyPem, csrPem } = await createUplinkKey(bundle.name);
  const response = await postEnrollment(bundle, { token: bundle.token, csr: csrPem });
  if (!isIssuedForKey(response.certificate, keyPem)) {
    throw new AppError(
      'internal',
      'the system controller issued a certificate that does not match the key of this site',
    );
  }
  if (response.name !== bundle.name) {
    logger.warn(
      { bundle: bundle.name, issued: response.name },
      'the system controller named this subcloud differently',
    );
  }
  const dir = dcDir(options.dataDir);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const link: StoredLink = {
    name: response.name,
    controller: new URL(bundle.controller).origin,
    ...(bundle.uplink === undefined ? {} : { uplink: new URL(bundle.uplink).origin }),
  };
  // Trust the bundle's CA and the one the controller answered with, so a CA rotation does not strand us.
  const cas = [
    ...new Set([...splitPemCertificates(bundle.caPem), ...splitPemCertificates(response.caBundle)]),
  ];
  await writeFileAtomic(join(dir, FILES.key), keyPem, KEY_MODE);
  await writeFileAtomic(join(dir, FILES.caBundle), cas.join(''), PUBLIC_MODE);
  await writeFileAtomic(join(dir, FILES.certificate), pemFile(response.certificate), PUBLIC_MODE);
  await writeFileAtomic(join(dir, FILES.link), `${JSON.stringify(link, null, 2)}\n`, PUBLIC_MODE);
  logger.info({ ...link }, 'joined the system controller');
  return link;
}

/** The link an earlier join stored; undefined when this site never joined a system controller. */
export async function readLink(dataDir: string): Promise<StoredLink | undefined> {
  const text = await readOptional(join(dcDir(dataDir), FILES.link));
  if (text === undefined) return undefined;
  const value = JSON.parse(text) as Partial<StoredLink>;
  if (typeof value.name !== 'string' || typeof value.controller !== 'string') {
    throw new AppError('internal', `"${join(dcDir(dataDir), FILES.link)}" holds no name and controller`);
  }
  return {
    name: value.name,
    controller: value.controller,
    ...(typeof value.uplink === 'string' ? { uplink: value.uplink } : {}),
  };
}

/**
 * Key, certificate, CA and link of the uplink. Finishes an interrupted certificate install first: the
 * new certificate is written before its pending key moves into place, so a certificate that matches
 * only the pending key means the move did not happen yet. Throws `precondition_failed` when not joined.
 */
export async function readUplinkIdentity(dataDir: string): Promise<UplinkIdentity> {
  const dir = dcDir(dataDir);
  const link = await readLink(dataDir);
  if (link === undefined) {
    throw new AppError(
      'precondition_failed',
      'this site has not joined a system controller; run `murm dc join <bundle>`',
    );
  }
  const [keyPem, certificatePem, caPem, pendingKeyPem] = await Promise.all(
    [FILES.key, FILES.certificate, FILES.caBundle, FILES.pendingKey].map((name) =>
      readOptional(join(dir, name)),
    ),
  );
  if (keyPem === undefined || certificatePem === undefined || caPem === undefined) {
    throw new AppError(
      'precondition_failed',
      `"${dir}" lacks the uplink key, certificate or CA; join again with a new bundle`,
    );
  }
  if (
    !isIssuedForKey(certificatePem, keyPem) &&
    pendingKeyPem !== undefined &&
    isIssuedForKey(certificatePem, pendingKeyPem)
  ) {
    await rename(join(dir, FILES.pendingKey), join(dir, FILES.key));
    return { link, keyPem: pendingKeyPem, certificatePem, caPem };
  }
  return { link, keyPem, certificatePem, caPem };
}

/** Keeps a renewal key on disk (0600) until its certificate arrives. */
export async function storePendingKey(dataDir: string, keyPem: string): Promise<void> {
  await writeFileAtomic(join(dcDir(dataDir), FILES.pendingKey), keyPem, KEY_MODE);
}

/** The pending renewal key, if a renewal is under way. */
export function readPendingKey(dataDir: string): Promise<string | undefined> {
  return readOptional(join(dcDir(dataDir), FILES.pendingKey));
}

/**
 * Installs a renewed certificate: writes it, then moves the pending key over the old one (see
 * readUplinkIdentity for the crash window). Throws `precondition_failed` when it is not for that key.
 */
export async function installUplinkCertificate(
  dataDir: string,
  certificatePem: string,
  pendingKeyPem: string,
): Promise<void> {
  if (!isIssuedForKey(certificatePem, pendingKeyPem)) {
    throw new AppError(
      'precondition_failed',
      'the certificate is not for the pending key of this subcloud; call dc-cert.renew again',
    );
  }
  const dir = dcDir(dataDir);
  await writeFileAtomic(join(dir, FILES.pendingKey), pendingKeyPem, KEY_MODE);
  await writeFileAtomic(join(dir, FILES.certificate), pemFile(certificatePem), PUBLIC_MODE);
  await rename(join(dir, FILES.pendingKey), join(dir, FILES.key));
}

/** A new ECDSA P-256 key and a PEM CSR for it. The subject is a hint only: the controller decides the name. */
export async function createUplinkKey(commonName: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_KEY, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const x509 = await loadX509();
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return { keyPem: await privateKeyPem(keys.privateKey), csrPem: pemFile(request.toString('pem')) };
}

async function postEnrollment(
  bundle: JoinBundle,
  request: SubcloudEnrollRequest,
): Promise<SubcloudEnrollResponse> {
  // ApiClient reads its trust anchor from a file; the bundle's CA lives only in memory until the join succeeds.
  const scratch = await mkdtemp(join(tmpdir(), 'murm-join-'));
  const caPath = join(scratch, 'ca.crt');
  await writeFile(caPath, bundle.caPem, { mode: PUBLIC_MODE });
  let answer: unknown;
  try {
    // undici (through the CLI's client) is loaded only for the one join, not on every start of the site.
    const { ApiClient } = await import('../cli/client.js');
    const api = await ApiClient.open({ url: bundle.controller, caPath });
    try {
      answer = await api.post<unknown>(SUBCLOUD_ENROLL_PATH, request);
    } finally {
      await api.close();
    }
  } catch (error) {
    if (error instanceof AppError) {
      throw new AppError(error.code, `joining ${bundle.controller} failed: ${error.message}`, error.details);
    }
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const { name, certificate, caBundle } = (
    typeof answer === 'object' && answer !== null ? answer : {}
  ) as Record<string, unknown>;
  if (typeof name !== 'string' || typeof certificate !== 'string' || typeof caBundle !== 'string') {
    throw new AppError(
      'internal',
      `${bundle.controller} answered the join without name, certificate and caBundle; is it a murm system controller?`,
    );
  }
  return { name, certificate, caBundle };
}

function isIssuedForKey(certificatePem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function notABundle(reason: string): AppError {
  return new AppError(
    'invalid_input',
    `not a join bundle: ${reason}; pass the bundle \`murm subcloud add\` printed`,
    {
      field: 'bundle',
    },
  );
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

function dcDir(dataDir: string): string {
  return join(dataDir, 'dc');
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
