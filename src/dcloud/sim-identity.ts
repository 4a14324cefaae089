import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pemFile } from '../certs/site-pki.js';
import type { ApiClient } from '../cli/client.js';
import { AppError } from '../core/errors.js';
import { makeKeyAndCsr } from './sim-csr.js';
import { controllerCacheKey } from './sim-model.js';
import { SUBCLOUD_ENROLL_PATH, type SubcloudEnrollResponse } from './uplink-protocol.js';

/**
 * Identities of simulated subclouds: a P-256 key and the uplink certificate the controller issued for
 * it, made and fetched exactly as a real subcloud does (`/v1/subcloud-enroll` with a CSR), and kept in
 * a cache directory per controller so a rerun skips enrollment.
 *
 * Cache layout (`~/.cache/murm-sim/<host>-<port>/`): `ca.pem`, the controller CA the identities were
 * issued under (another CA means another controller: the cache is dropped), and `identities-*.jsonl`,
 * one JSON {@link SimIdentity} per line, appended by each simulator process; later lines win.
 */
export interface SimIdentity {
  name: string;
  keyPem: string;
  certPem: string;
}

/** Enrolls one subcloud with its one-time token; throws the controller's error as an AppError. */
export async function enrollSimSubcloud(api: ApiClient, name: string, token: string): Promise<SimIdentity> {
  const { keyPem, csr } = makeKeyAndCsr(name);
  const answer = await api.post<Partial<SubcloudEnrollResponse>>(SUBCLOUD_ENROLL_PATH, { token, csr });
  if (typeof answer?.certificate !== 'string') {
    throw new AppError(
      'internal',
      `the controller answered the enrollment of "${name}" without a certificate`,
    );
  }
  const certPem = pemFile(answer.certificate);
  if (!isCertificateForKey(certPem, keyPem)) {
    throw new AppError('internal', `the controller issued "${name}" a certificate for another key`);
  }
  return { name, keyPem, certPem };
}

/** Whether `certPem` certifies the public half of `keyPem`. */
export function isCertificateForKey(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** The certificate's notAfter as an ISO 8601 string. */
export function certificateNotAfter(certPem: string): string {
  return new Date(new X509Certificate(certPem).validTo).toISOString();
}

/** The default cache directory for a controller: `$XDG_CACHE_HOME|~/.cache` `/murm-sim/<host>-<port>`. */
export function defaultCacheDir(controller: string): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'murm-sim', controllerCacheKey(controller));
}

/** The identity cache of one controller. */
export class IdentityCache {
  private readonly file: string;

  constructor(private readonly dir: string) {
    this.file = join(dir, `identities-${process.pid}-${randomBytes(3).toString('hex')}.jsonl`);
  }

  /**
   * Every cached identity, after dropping the whole cache when it was made under another CA than
   * `caPem` (another controller on the same address). Compacts the cache into one file.
   */
  load(caPem: string): Map<string, SimIdentity> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const caFile = join(this.dir, 'ca.pem');
    const byName = new Map<string, SimIdentity>();
    let storedCa: string | undefined;
    try {
      storedCa = readFileSync(caFile, 'utf8');
    } catch {
      storedCa = undefined;
    }
    const files = readdirSync(this.dir).filter((f) => f.startsWith('identities-') && f.endsWith('.jsonl'));
    if (storedCa !== caPem) {
      for (const f of files) rmSync(join(this.dir, f), { force: true });
      writeFileSync(caFile, caPem, { mode: 0o644 });
      return byName;
    }
    for (const f of files) {
      for (const line of readFileSync(join(this.dir, f), 'utf8').split('\n')) {
        const identity = parseIdentity(line);
        if (identity) byName.set(identity.name, identity);
      }
      rmSync(join(this.dir, f), { force: true });
    }
    this.replaceAll([...byName.values()]);
    return byName;
  }

  /** Replaces the cache with `identities` (after dropping the ones the controller no longer knows). */
  replaceAll(identities: readonly SimIdentity[]): void {
    const text = identities.map((i) => `${JSON.stringify(i)}\n`).join('');
    writeFileSync(this.file, text, { mode: 0o600 });
  }

  /** Appends one identity (new enrollment or renewed certificate). */
  add(identity: SimIdentity): void {
    appendFileSync(this.file, `${JSON.stringify(identity)}\n`, { mode: 0o600 });
  }
}

function parseIdentity(line: string): SimIdentity | undefined {
  if (line.trim() === '') return undefined;
  try {
    const value = JSON.parse(line) as Partial<SimIdentity>;
    if (
      typeof value.name === 'string' &&
      typeof value.keyPem === 'string' &&
      typeof value.certPem === 'string'
    ) {
      return { name: value.name, keyPem: value.keyPem, certPem: value.certPem };
    }
  } catch {
    // a line cut short by a killed process: skip it
  }
  return undefined;
}
