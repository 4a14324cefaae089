import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { AppError, conflict, invalidInput, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { issueLeaf, KEY_TYPES, type KeyType } from './issue.js';
import type { ManagedCertificateStore, StoredManagedCertificate } from './managed-store.js';
import { readSiteCa, writeFileAtomic } from './site-pki.js';

/** A managed certificate as the API shows it: never its key. */
type ManagedCertificate = StoredManagedCertificate;

/** What to issue: names, key and lifetime. */
interface ManagedCertificateSpec {
  name: string;
  dns: readonly string[];
  ips: readonly string[];
  keyType: KeyType;
  durationSeconds: number;
  renewBeforeSeconds: number;
}

/** A managed certificate with its private key and the CA that issued it (export only). */
interface ManagedCertificateExport {
  name: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

const NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;
const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const MIN_DURATION_SECONDS = 3600;

/**
 * Certificates the site issues from its root CA and renews itself (cert-manager's Certificate, on
 * the site CA). Each one is a row (spec, serial, validity, certificate PEM) plus two files under
 * `<dataDir>/pki/managed/`: `<name>.key` (0600) and `<name>.crt` (what the expiry monitor watches).
 * It is renewed once the clock passes notAfter − renewBefore; every renewal replaces the row by
 * compare-and-set on the serial, then tells `onRenewed` listeners (the HTTPS server reloads its key).
 */
export class ManagedCertificates {
  private readonly dir: string;
  private readonly listeners: ((name: string) => void | Promise<void>)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      store: ManagedCertificateStore;
      clock: Clock;
      logger: Logger;
      dataDir: string;
    },
  ) {
    this.dir = resolve(deps.dataDir, 'pki', 'managed');
  }

  /** The directory of the certificate and key files. */
  get directory(): string {
    return this.dir;
  }

  /** Creates the key directory (0700) so that the monitor can watch it from the start. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
    await chmod(this.dir, DIR_MODE);
  }

  /** Calls `listener` with the name of every certificate renewed from now on. */
  onRenewed(listener: (name: string) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  /** Issues a new managed certificate; throws `invalid_input` for a bad spec, `conflict` when the name is taken. */
  async issue(spec: ManagedCertificateSpec): Promise<ManagedCertificate> {
    const valid = validateSpec(spec);
    if (await this.deps.store.find(valid.name)) {
      throw conflict(`managed certificate "${valid.name}" exists; renew it or delete it first`, {
        name: valid.name,
      });
    }
    const now = this.deps.clock.now().toISOString();
    const { stored, keyPem } = await this.sign(valid, { createdAt: now, renewedAt: null });
    await this.deps.store.insert(stored);
    await this.writeFiles(stored, keyPem);
    return stored;
  }

  /** Issues the certificate if missing, renews it if due, if its names differ or its key is lost; true when it did either. */
  async ensure(spec: ManagedCertificateSpec): Promise<boolean> {
    const found = await this.deps.store.find(spec.name);
    if (found === undefined) {
      await this.issue(spec);
      return true;
    }
    const valid = validateSpec(spec);
    const isSameNames =
      sameSet(found.dns, valid.dns) && sameSet(found.ips, valid.ips) && found.keyType === valid.keyType;
    const keyPem = await readOptional(this.keyPath(found.name));
    if (isSameNames && keyPem !== undefined && keyMatches(found.certPem, keyPem) && !this.isDue(found)) {
      return false;
    }
    await this.replace(found, { ...valid, createdAt: found.createdAt });
    return true;
  }

  async list(): Promise<ManagedCertificate[]> {
    return this.deps.store.list();
  }

  /** Throws `not_found`. */
  async get(name: string): Promise<ManagedCertificate> {
    const found = await this.deps.store.find(name);
    if (!found) throw notFound('managed certificate', name);
    return found;
  }

  /** The certificate, its private key and the CA; throws `not_found`, or `precondition_failed` when the key file is gone. */
  async exportKey(name: string): Promise<ManagedCertificateExport> {
    const found = await this.get(name);
    const keyPem = await readOptional(this.keyPath(name));
    if (keyPem === undefined) {
      throw new AppError(
        'precondition_failed',
        `the key of managed certificate "${name}" is missing; renew it to make a new key`,
      );
    }
    const ca = await readSiteCa(this.deps.dataDir);
    return { name, certPem: found.certPem, keyPem, caPem: ca.certPem };
  }

  /** Deletes the row and both files; throws `not_found`. */
  async delete(name: string): Promise<void> {
    if (!(await this.deps.store.delete(name))) throw notFound('managed certificate', name);
    await rm(this.keyPath(name), { force: true });
    await rm(this.certPath(name), { force: true });
  }

  /** Renews one certificate now with a new key and serial; throws `not_found`, or `conflict` when a concurrent renewal won. */
  async renew(name: string): Promise<ManagedCertificate> {
    const found = await this.get(name);
    return this.replace(found, { ...found });
  }

  /** Renews every certificate whose renewal time has come; returns their names. */
  async renewDue(): Promise<string[]> {
    const now = this.deps.clock.now();
    const due = await this.deps.store.listDue(now, await this.deps.store.maxRenewBeforeSeconds());
    const renewed: string[] = [];
    for (const cert of due) {
      try {
        await this.replace(cert, { ...cert });
        renewed.push(cert.name);
      } catch (error) {
        // One certificate that fails must not keep the others from renewing; the next tick retries it.
        this.deps.logger.error({ err: error, name: cert.name }, 'managed certificate renewal failed');
      }
    }
    return renewed;
  }

  /** Checks for due renewals every `intervalMs` (a serving process only). */
  start(intervalMs: number): void {
    this.timer = setInterval(
      () =>
        void this.renewDue().catch((error) =>
          this.deps.logger.error({ err: error }, 'managed certificate renewal check failed'),
        ),
      intervalMs,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private isDue(cert: StoredManagedCertificate): boolean {
    return Date.parse(cert.notAfter) - cert.renewBeforeSeconds * 1000 <= this.deps.clock.now().getTime();
  }

  private async replace(
    previous: StoredManagedCertificate,
    spec: ManagedCertificateSpec & { createdAt: string },
  ): Promise<ManagedCertificate> {
    const now = this.deps.clock.now().toISOString();
    const { stored, keyPem } = await this.sign(spec, { createdAt: spec.createdAt, renewedAt: now });
    if (!(await this.deps.store.replace(stored, previous.serial))) {
      throw conflict(`managed certificate "${previous.name}" was renewed meanwhile; show it again`, {
        name: previous.name,
      });
    }
    // Files after the row: only the renewal that won the compare-and-set writes its key.
    await this.writeFiles(stored, keyPem);
    for (const listener of this.listeners) {
      try {
        await listener(stored.name);
      } catch (error) {
        this.deps.logger.error({ err: error, name: stored.name }, 'a renewal listener failed');
      }
    }
    return stored;
  }

  /** Key before certificate: a crash in between leaves a pair that `ensure` sees as mismatched and redoes. */
  private async writeFiles(cert: StoredManagedCertificate, keyPem: string): Promise<void> {
    await this.open();
    await writeFileAtomic(this.keyPath(cert.name), keyPem, KEY_MODE);
    await writeFileAtomic(this.certPath(cert.name), cert.certPem, CERT_MODE);
  }

  /** Issues from the site CA; the caller stores the row and then writes the files. */
  private async sign(
    spec: ManagedCertificateSpec,
    times: { createdAt: string; renewedAt: string | null },
  ): Promise<{ stored: StoredManagedCertificate; keyPem: string }> {
    const ca = await readSiteCa(this.deps.dataDir);
    const now = this.deps.clock.now();
    const leaf = await issueLeaf(ca, {
      commonName: spec.dns[0] ?? spec.ips[0] ?? spec.name,
      dns: spec.dns,
      ips: spec.ips,
      keyType: spec.keyType,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + spec.durationSeconds * 1000),
    });
    const stored: StoredManagedCertificate = {
      name: spec.name,
      dns: [...spec.dns],
      ips: [...spec.ips],
      keyType: spec.keyType,
      durationSeconds: spec.durationSeconds,
      renewBeforeSeconds: spec.renewBeforeSeconds,
      serial: leaf.serial,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      certPem: leaf.certPem,
      ...times,
    };
    return { stored, keyPem: leaf.keyPem };
  }

  private keyPath(name: string): string {
    return join(this.dir, `${name}.key`);
  }

  private certPath(name: string): string {
    return join(this.dir, `${name}.crt`);
  }
}

/** Checks the name, SANs, key type and lifetimes; returns the spec with names normalised. */
function validateSpec(spec: ManagedCertificateSpec): ManagedCertificateSpec {
  if (!NAME.test(spec.name)) {
    throw invalidInput(
      'name',
      `name "${spec.name}" must use a-z, 0-9, ".", "_" and "-", start and end with a letter or digit (at most 64)`,
    );
  }
  const dns = [...new Set(spec.dns.map((name) => name.trim().toLowerCase()))];
  for (const name of dns) {
    if (!DNS_NAME.test(name)) throw invalidInput('dns', `"${name}" is not a DNS name; fix --dns`);
  }
  const ips = [...new Set(spec.ips.map((ip) => ip.trim()))];
  for (const ip of ips) {
    if (isIP(ip) === 0) throw invalidInput('ips', `"${ip}" is not an IP address; fix --ip`);
  }
  if (dns.length === 0 && ips.length === 0) {
    throw invalidInput('dns', 'give at least one DNS name or IP address for the certificate');
  }
  if (!KEY_TYPES.includes(spec.keyType)) {
    throw invalidInput('keyType', `key type "${spec.keyType}" is not one of ${KEY_TYPES.join(', ')}`);
  }
  if (!Number.isSafeInteger(spec.durationSeconds) || spec.durationSeconds < MIN_DURATION_SECONDS) {
    throw invalidInput('duration', 'the duration must be at least 1h');
  }
  if (
    !Number.isSafeInteger(spec.renewBeforeSeconds) ||
    spec.renewBeforeSeconds <= 0 ||
    spec.renewBeforeSeconds >= spec.durationSeconds
  ) {
    throw invalidInput(
      'renewBefore',
      'renew-before must be more than zero and shorter than the duration, like --duration 90d --renew-before 30d',
    );
  }
  return { ...spec, dns, ips };
}

function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value) => b.includes(value));
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
