import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { issueFromCsr } from './issue.js';
import { readSiteCa } from './site-pki.js';

const CLIENT_CERTIFICATE_LIFETIME_MS = 365 * 86_400_000;
/** Tolerates clocks a little behind ours; never more than a tenth of the life, so short test certificates are not born old. */
const MAX_BACKDATE_MS = 5 * 60_000;

/**
 * Issues a client certificate from the site root CA for the key of a CSR: a host agent's (CN = host
 * name) or a subcloud's uplink (CN = subcloud name). Returns the PEM, its SHA-256 fingerprint (what the
 * agent channel and the uplink compare) and the CA bundle. `lifetimeMs` (default 365 days) is how
 * long it is valid from now; the site CA's own expiry caps it.
 */
export async function issueClientCertificate(
  dataDir: string,
  clock: Clock,
  csrPem: string,
  hostname: string,
  lifetimeMs = CLIENT_CERTIFICATE_LIFETIME_MS,
): Promise<{ certificatePem: string; fingerprint: string; caBundle: string }> {
  const { ca, caBundle } = await cachedSiteCa(dataDir);
  const now = clock.now().getTime();
  const issued = await issueFromCsr(ca, {
    csrPem,
    commonName: hostname,
    notBefore: new Date(now - Math.min(MAX_BACKDATE_MS, Math.floor(lifetimeMs / 10))),
    notAfter: new Date(now + lifetimeMs),
  });
  const fingerprint = new X509Certificate(issued.certPem).fingerprint256.replaceAll(':', '').toLowerCase();
  return { certificatePem: issued.certPem, fingerprint, caBundle };
}

let cached:
  | { key: string; value: Promise<{ ca: Awaited<ReturnType<typeof readSiteCa>>; caBundle: string }> }
  | undefined;

/** The site CA and its bundle, read again only when ca.crt or ca.key changed (rotation). */
async function cachedSiteCa(dataDir: string) {
  const pki = path.join(dataDir, 'pki');
  const [certStat, keyStat] = await Promise.all([
    fs.stat(path.join(pki, 'ca.crt')).catch(() => undefined),
    fs.stat(path.join(pki, 'ca.key')).catch(() => undefined),
  ]);
  const key = `${pki}:${certStat?.mtimeMs}:${keyStat?.mtimeMs}`;
  if (cached?.key !== key) {
    const value = (async () => ({
      ca: await readSiteCa(dataDir),
      caBundle: await fs.readFile(path.join(pki, 'ca.crt'), 'utf8'),
    }))();
    value.catch(() => {
      if (cached?.value === value) cached = undefined;
    });
    cached = { key, value };
  }
  return cached.value;
}
