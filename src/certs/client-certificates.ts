import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { issueFromCsr } from './issue.js';
import { readSiteCa } from './site-pki.js';

const CLIENT_CERTIFICATE_DAYS = 365;
const BACKDATE_MS = 5 * 60_000;

/**
 * Issues a client certificate from the site root CA for the key of a CSR: a host agent's (CN = host
 * name) or a subcloud's uplink (CN = subcloud name). Returns the PEM, its SHA-256 fingerprint (what the
 * agent channel and the uplink compare) and the CA bundle.
 */
export async function issueClientCertificate(
  dataDir: string,
  clock: Clock,
  csrPem: string,
  hostname: string,
): Promise<{ certificatePem: string; fingerprint: string; caBundle: string }> {
  const ca = await readSiteCa(dataDir);
  const now = clock.now().getTime();
  const issued = await issueFromCsr(ca, {
    csrPem,
    commonName: hostname,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CLIENT_CERTIFICATE_DAYS * 86_400_000),
  });
  const fingerprint = new X509Certificate(issued.certPem).fingerprint256.replaceAll(':', '').toLowerCase();
  const caBundle = await fs.readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  return { certificatePem: issued.certPem, fingerprint, caBundle };
}
