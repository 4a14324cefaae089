import assert from 'node:assert/strict';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { loadX509, pemFile, privateKeyPem, writeFileAtomic } from '../certs/site-pki.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { AGENT_ENROLL_PATH, type EnrollRequest, type EnrollResponse } from '../inventory/agent-protocol.js';

/** Files of the state directory that hold the agent's identity. `agent.crt` is written last: it marks an enrolled agent. */
const AGENT_FILES = {
  key: 'agent.key',
  /** The key of `agent.crt` while a renewal replaces both (see storeRenewedIdentity). */
  previousKey: 'agent.key.previous',
  certificate: 'agent.crt',
  caBundle: 'ca.crt',
  hostname: 'hostname',
} as const;

const STATE_DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * Enrolls this host once: makes an ECDSA P-256 key that never leaves the state directory, sends a
 * CSR with the one-time token from `murm host add`, and stores the issued client certificate, the
 * site CA bundle and the host name the controller chose. Throws the server's error (for example an
 * unknown or spent token) as an AppError; nothing is written unless enrollment succeeded.
 */
/**
 * How an agent reaches its controller's enrollment: by default `POST /v1/agent/enroll` over HTTPS; the
 * controller's own in-process agent calls the service directly (no HTTP client to load for it).
 */
export type EnrollTransport = (request: EnrollRequest) => Promise<EnrollResponse>;

async function enrollAgent(options: {
  controller: string;
  caFile: string;
  token: string;
  stateDir: string;
  enroll?: EnrollTransport | undefined;
}): Promise<{ hostname: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_KEY, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await certificateRequest(keys);
  const keyPem = await privateKeyPem(keys.privateKey);
  const request = { token: options.token, csr };
  const response = await (options.enroll ?? ((body) => postEnrollment(options, body)))(request);
  assertIssuedForKey(response.certificate, keyPem);

  await mkdir(options.stateDir, { recursive: true, mode: STATE_DIR_MODE });
  const file = (name: string) => join(options.stateDir, name);
  await writeFileAtomic(file(AGENT_FILES.key), keyPem, KEY_MODE);
  await writeFileAtomic(file(AGENT_FILES.caBundle), pemFile(response.caBundle), PUBLIC_MODE);
  await writeFileAtomic(file(AGENT_FILES.hostname), `${response.hostname}\n`, PUBLIC_MODE);
  await writeFileAtomic(file(AGENT_FILES.certificate), pemFile(response.certificate), PUBLIC_MODE);
  return { hostname: response.hostname };
}

/** A new P-256 key for a renewal and a CSR for it (both PEM); the key is stored only once certified. */
export async function newKeyRequest(): Promise<{ keyPem: string; csr: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_KEY, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  return { keyPem: await privateKeyPem(keys.privateKey), csr: await certificateRequest(keys) };
}

/**
 * Replaces the stored key and certificate with renewed ones. The order survives a crash at any
 * step: the current key is copied to `agent.key.previous`, then the new key, then the certificate
 * (its write switches identities); a start that finds `agent.crt` not matching `agent.key` uses
 * `agent.key.previous` (see findAgentIdentity). Throws `internal` when the certificate is not for
 * `keyPem`, and what the file system throws; the stored identity is then still a working pair.
 */
export async function storeRenewedIdentity(
  stateDir: string,
  renewed: { keyPem: string; certificatePem: string; caBundle: string; previousKeyPem: string },
): Promise<void> {
  assertIssuedForKey(renewed.certificatePem, renewed.keyPem);
  const file = (name: string) => join(stateDir, name);
  await writeFileAtomic(file(AGENT_FILES.previousKey), renewed.previousKeyPem, KEY_MODE);
  await writeFileAtomic(file(AGENT_FILES.caBundle), pemFile(renewed.caBundle), PUBLIC_MODE);
  await writeFileAtomic(file(AGENT_FILES.key), renewed.keyPem, KEY_MODE);
  await writeFileAtomic(file(AGENT_FILES.certificate), pemFile(renewed.certificatePem), PUBLIC_MODE);
  await rm(file(AGENT_FILES.previousKey), { force: true });
}

/** A PEM PKCS#10 request. Its subject is only a hint for logs: the token decides the host name. */
async function certificateRequest(keys: webcrypto.CryptoKeyPair): Promise<string> {
  const x509 = await loadX509();
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [osHostname()] }],
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return pemFile(request.toString('pem'));
}

async function postEnrollment(
  options: { controller: string; caFile: string },
  request: EnrollRequest,
): Promise<EnrollResponse> {
  // undici (through the CLI's client) is loaded only for the one enrollment, not on every start.
  const { ApiClient } = await import('../cli/client.js');
  const api = await ApiClient.open({ url: options.controller, caPath: options.caFile });
  let answer: unknown;
  try {
    answer = await api.post<unknown>(AGENT_ENROLL_PATH, request);
  } catch (error) {
    if (error instanceof AppError) {
      throw new AppError(
        error.code,
        `enrollment at ${options.controller} failed: ${error.message}`,
        error.details,
      );
    }
    throw error;
  } finally {
    await api.close();
  }
  return parseEnrollResponse(answer, options.controller);
}

function parseEnrollResponse(answer: unknown, controller: string): EnrollResponse {
  const body = (typeof answer === 'object' && answer !== null ? answer : {}) as Partial<
    Record<string, unknown>
  >;
  const { hostname, certificate, caBundle } = body;
  if (typeof hostname !== 'string' || typeof certificate !== 'string' || typeof caBundle !== 'string') {
    throw new AppError(
      'internal',
      `${controller} answered the enrollment without hostname, certificate and caBundle; is it a murm controller?`,
    );
  }
  return { hostname, certificate, caBundle };
}

/** A certificate for another key would leave the agent enrolled but unable to connect; fail now instead. */
function assertIssuedForKey(certificatePem: string, keyPem: string): void {
  if (!isKeyOf(certificatePem, keyPem)) {
    throw new AppError(
      'internal',
      'the controller issued a certificate that does not match the key of this agent',
    );
  }
}

function isKeyOf(certificatePem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** What the agent presents on its channel, read from the state directory. */
interface AgentIdentity {
  hostname: string;
  keyPem: string;
  certificatePem: string;
}

/**
 * The identity of this agent: the stored one, or a new one from enrolling with `token` when the state
 * directory holds none. Throws `invalid_input` for a bad URL, an unreadable CA file or a missing
 * token, and the controller's error when enrollment fails. A token passed while enrolled is ignored.
 */
export async function ensureEnrolled(options: {
  controller: string;
  caFile: string;
  token?: string | undefined;
  stateDir: string;
  logger: Logger;
  enroll?: EnrollTransport | undefined;
}): Promise<AgentIdentity & { trustedCas: string[] }> {
  const { controller, caFile, stateDir, logger, enroll } = options;
  assertControllerUrl(controller);
  const caPem = await readCaFile(caFile);
  const token = options.token === '' ? undefined : options.token;
  let identity = await findAgentIdentity(stateDir);
  if (identity === undefined) {
    if (token === undefined) {
      throw new AppError(
        'invalid_input',
        'this agent is not enrolled yet: pass --token from `murm host add`',
      );
    }
    const { hostname } = await enrollAgent({ controller, caFile, token, stateDir, enroll });
    logger.info({ hostname, stateDir }, 'enrolled with the controller');
    identity = await findAgentIdentity(stateDir);
    assert.ok(identity !== undefined, `enrollment left no certificate in "${stateDir}"`);
  } else if (token !== undefined) {
    logger.warn({ stateDir }, 'already enrolled: ignoring the enrollment token');
  }
  // Trust the CA given now and the bundle enrollment stored, so a site CA rotation does not strand us.
  const storedCa = await readOptional(join(stateDir, AGENT_FILES.caBundle));
  return { ...identity, trustedCas: storedCa === undefined ? [caPem] : [caPem, storedCa] };
}

/** The identity an earlier enrollment stored; undefined when this state directory was never enrolled. */
async function findAgentIdentity(stateDir: string): Promise<AgentIdentity | undefined> {
  const file = (name: string) => join(stateDir, name);
  const certificatePem = await readOptional(file(AGENT_FILES.certificate));
  if (certificatePem === undefined) return undefined;
  const storedKey = await readOptional(file(AGENT_FILES.key));
  if (storedKey === undefined) {
    throw new AppError(
      'precondition_failed',
      `"${file(AGENT_FILES.certificate)}" exists but its key "${file(AGENT_FILES.key)}" is missing; delete the state directory and enroll again with a new token`,
    );
  }
  let keyPem = storedKey;
  if (!isKeyOf(certificatePem, storedKey)) {
    // A renewal stopped between writing the new key and the certificate: the old pair still works.
    const previousKey = await readOptional(file(AGENT_FILES.previousKey));
    if (previousKey === undefined || !isKeyOf(certificatePem, previousKey)) {
      throw new AppError(
        'precondition_failed',
        `"${file(AGENT_FILES.certificate)}" is not for the key in "${file(AGENT_FILES.key)}"; delete the state directory and enroll again with a new token`,
      );
    }
    keyPem = previousKey;
  }
  const hostname =
    (await readOptional(file(AGENT_FILES.hostname)))?.trim() || commonName(certificatePem) || osHostname();
  return { hostname, keyPem, certificatePem };
}

/** Throws `invalid_input` unless `value` is an https:// URL: the channel is wss:// on the same origin. */
function assertControllerUrl(value: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(value).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'https:') {
    throw new AppError(
      'invalid_input',
      `--controller "${value}" is not an https:// URL like https://HOST:7443`,
      {
        field: 'controller',
      },
    );
  }
}

async function readCaFile(caFile: string): Promise<string> {
  try {
    return await readFile(caFile, 'utf8');
  } catch (error) {
    throw new AppError('invalid_input', `cannot read the CA file "${caFile}" (${(error as Error).message})`, {
      field: 'ca',
    });
  }
}

function commonName(certificatePem: string): string | undefined {
  try {
    const subject = new X509Certificate(certificatePem).subject;
    return /^CN=(.*)$/m.exec(subject)?.[1];
  } catch {
    return undefined;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
