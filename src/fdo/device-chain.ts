import { type KeyObject, X509Certificate } from 'node:crypto';
import { importCertificateKey } from './crypto.js';
import { FDO_ERROR, FdoError } from './errors.js';

const MAX_CHAIN = 8;

function rejected(detail: string): FdoError {
  return new FdoError(FDO_ERROR.INVALID_OWNERSHIP_VOUCHER, `device certificate chain: ${detail}`);
}

/**
 * Checks OVDevCertChain (leaf first): every certificate parses, is issued and signed by the next one, and a
 * self-issued last certificate verifies its own signature. Some sample roots lack basicConstraints, so CA
 * flags are not required. Returns the leaf key (the device attestation key, fdo.md §3 rule 7).
 * Throws FdoError(INVALID_OWNERSHIP_VOUCHER).
 */
export function verifyDeviceChain(ders: readonly Uint8Array[]): {
  leafKey: KeyObject;
  certificates: X509Certificate[];
} {
  if (ders.length === 0 || ders.length > MAX_CHAIN)
    throw rejected(`${ders.length} certificates, expected 1..${MAX_CHAIN}`);
  const certificates = ders.map((der, i) => {
    try {
      return new X509Certificate(der);
    } catch {
      throw rejected(`certificate ${i} does not parse`);
    }
  });
  for (let i = 0; i < certificates.length; i++) {
    const cert = certificates[i] as X509Certificate;
    const issuer = certificates[i + 1] ?? (cert.checkIssued(cert) ? cert : undefined);
    if (!issuer) continue;
    if (!cert.checkIssued(issuer)) throw rejected(`certificate ${i} is not issued by certificate ${i + 1}`);
    if (!cert.verify(issuer.publicKey)) throw rejected(`certificate ${i} signature does not verify`);
  }
  let leafKey: KeyObject;
  try {
    leafKey = importCertificateKey(ders[0] as Uint8Array);
  } catch (err) {
    throw rejected(`leaf key is not usable: ${(err as Error).message}`);
  }
  return { leafKey, certificates };
}

/** Throws FdoError(INVALID_OWNERSHIP_VOUCHER) unless the device leaf certificate is valid at `now`. */
export function checkLeafValidity(leaf: X509Certificate, now: Date): void {
  if (now < new Date(leaf.validFrom) || now > new Date(leaf.validTo)) {
    throw rejected(`leaf is not valid at ${now.toISOString()} (${leaf.validFrom} … ${leaf.validTo})`);
  }
}
