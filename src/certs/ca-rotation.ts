import { conflict } from '../core/errors.js';

/**
 * Phases of a site root CA rotation, as StarlingX names the Kubernetes root CA update phases. The
 * stored phase is the last one completed; each step below moves to the next phase only:
 *
 * - `idle`: one root; `pki/ca.crt` and `pki/ca.key` are the root. Step `trust-both` starts a rotation.
 * - `trust-both`: a new root exists (`pki/ca-next.crt/.key`); `pki/ca.crt` is a bundle of both roots,
 *   old first, and the old root still signs. Clients are given this bundle now. Next: `update-certs`.
 * - `update-certs`: the new root signs (`pki/ca.key` is its key) and every managed certificate, the
 *   HTTPS server's among them, was re-issued by it and reloaded without a restart. Next: `trust-new-ca`.
 * - `trust-new-ca`: `pki/ca.crt` is the new root alone; the old one is kept as `pki/ca-previous.crt`.
 *   Next: `idle`, which removes the transition files and ends the rotation.
 *
 * A crash between two phases leaves the last completed one stored; running the next step again
 * resumes, because every step can be repeated.
 */
export const CA_ROTATION_PHASES = ['idle', 'trust-both', 'update-certs', 'trust-new-ca'] as const;
export type CaRotationPhase = (typeof CA_ROTATION_PHASES)[number];

/** The only phase each phase can move to. */
const CA_ROTATION_TRANSITIONS: Record<CaRotationPhase, readonly CaRotationPhase[]> = {
  idle: ['trust-both'],
  'trust-both': ['update-certs'],
  'update-certs': ['trust-new-ca'],
  'trust-new-ca': ['idle'],
};

/** The phase that follows `phase`. */
export function nextCaRotationPhase(phase: CaRotationPhase): CaRotationPhase {
  const [next] = CA_ROTATION_TRANSITIONS[phase];
  if (next === undefined) throw new Error(`phase "${phase}" has no next phase`);
  return next;
}

/** Checks that a rotation in phase `from` can run step `to`; throws `conflict` otherwise. */
export function transitionCaRotation(from: CaRotationPhase, to: CaRotationPhase): CaRotationPhase {
  if (!CA_ROTATION_TRANSITIONS[from].includes(to)) {
    throw conflict(
      `the CA rotation is in phase "${from}"; the next phase is "${nextCaRotationPhase(from)}", not "${to}"`,
      { phase: from, requested: to },
    );
  }
  return to;
}
