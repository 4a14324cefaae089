import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import {
  CA_ROTATION_PHASES,
  type CaRotationPhase,
  nextCaRotationPhase,
  transitionCaRotation,
} from './ca-rotation.js';
import type { ManagedCertificates } from './managed-service.js';
import { createRootCa, readSiteCa, splitPemCertificates, writeFileAtomic } from './site-pki.js';

/** A root the site trusts, as `GET /v1/pki/ca` shows it. */
interface TrustedRoot {
  subject: string;
  fingerprint256: string;
  notBefore: string;
  notAfter: string;
  /** True for the root that signs new certificates. */
  isSigning: boolean;
}

/** The rotation phase and the roots of `pki/ca.crt`. */
interface CaRotationView {
  phase: CaRotationPhase;
  startedAt: string | null;
  updatedAt: string | null;
  roots: TrustedRoot[];
}

/** What `pki/ca-rotation.json` holds. */
interface StoredRotation {
  phase: CaRotationPhase;
  startedAt: string | null;
  updatedAt: string | null;
}

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const IDLE: StoredRotation = { phase: 'idle', startedAt: null, updatedAt: null };

/**
 * Rotates the site root CA in the phases of `ca-rotation.ts` without a restart: the trusted bundle
 * `pki/ca.crt` holds both roots while the managed certificates move to the new one. Steps run one
 * at a time in this process; the phase is kept in `pki/ca-rotation.json` (written atomically).
 */
export class CaRotation {
  private readonly dir: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: { dataDir: string; managed: ManagedCertificates; clock: Clock; logger: Logger },
  ) {
    this.dir = resolve(deps.dataDir, 'pki');
  }

  /** The phase and the trusted roots. */
  async show(): Promise<CaRotationView> {
    const state = await this.readState();
    const signing = await readSiteCa(this.deps.dataDir);
    const signingFingerprint = new X509Certificate(signing.certPem).fingerprint256;
    const bundle = await readFile(this.path('ca.crt'), 'utf8');
    const roots = splitPemCertificates(bundle).map((pem) => {
      const cert = new X509Certificate(pem);
      return {
        subject: cert.subject,
        fingerprint256: cert.fingerprint256,
        notBefore: new Date(cert.validFrom).toISOString(),
        notAfter: new Date(cert.validTo).toISOString(),
        isSigning: cert.fingerprint256 === signingFingerprint,
      };
    });
    return { ...state, roots };
  }

  /** Runs the step to `phase` (the next one when omitted); throws `conflict` when it is not the next. */
  async step(phase?: CaRotationPhase): Promise<CaRotationPhase> {
    return this.serialized(async () => {
      const { phase: current } = await this.readState();
      return this.run(current, phase ?? nextCaRotationPhase(current));
    });
  }

  /** Runs every remaining step until the rotation is back to `idle` (a whole rotation when idle); returns the phases done. */
  async rotate(): Promise<CaRotationPhase[]> {
    return this.serialized(async () => {
      const done: CaRotationPhase[] = [];
      let { phase } = await this.readState();
      do {
        phase = await this.run(phase, nextCaRotationPhase(phase));
        done.push(phase);
      } while (phase !== 'idle');
      return done;
    });
  }

  private async run(from: CaRotationPhase, to: CaRotationPhase): Promise<CaRotationPhase> {
    transitionCaRotation(from, to);
    if (to === 'trust-both') await this.trustBoth();
    else if (to === 'update-certs') await this.updateCerts();
    else if (to === 'trust-new-ca') await this.trustNewCa();
    else await this.finish();
    const now = this.deps.clock.now().toISOString();
    const previous = await this.readState();
    await this.writeState(
      to === 'idle'
        ? { ...IDLE, updatedAt: now }
        : { phase: to, startedAt: previous.startedAt ?? now, updatedAt: now },
    );
    this.deps.logger.info({ phase: to }, 'site root CA rotation phase done');
    return to;
  }

  /** A new root (kept when a crashed step made it already), then `ca.crt` = old root + new root. */
  private async trustBoth(): Promise<void> {
    const current = await readSiteCa(this.deps.dataDir);
    let next = await this.readNext();
    if (next === undefined) {
      next = await createRootCa('site', this.deps.clock.now());
      // Key before certificate: a crash in between leaves a pair that does not match and is made again.
      await writeFileAtomic(this.path('ca-next.key'), next.keyPem, KEY_MODE);
      await writeFileAtomic(this.path('ca-next.crt'), next.certPem, CERT_MODE);
    }
    await writeFileAtomic(this.path('ca.crt'), current.certPem + next.certPem, CERT_MODE);
  }

  /** The new root signs from now on; every managed certificate it did not issue yet is re-issued (listeners reload HTTPS). */
  private async updateCerts(): Promise<void> {
    const next = await this.requireNext();
    const currentKey = await readFile(this.path('ca.key'), 'utf8');
    if (currentKey !== next.keyPem) {
      await writeFileAtomic(this.path('ca-previous.key'), currentKey, KEY_MODE);
      await writeFileAtomic(this.path('ca.key'), next.keyPem, KEY_MODE);
    }
    const root = new X509Certificate(next.certPem);
    for (const cert of await this.deps.managed.list()) {
      const leaf = new X509Certificate(cert.certPem);
      if (leaf.checkIssued(root) && leaf.verify(root.publicKey)) continue;
      await this.deps.managed.renew(cert.name);
    }
  }

  /** `ca.crt` = the new root alone; the old root is kept as `ca-previous.crt`. */
  private async trustNewCa(): Promise<void> {
    const next = await this.requireNext();
    const fingerprint = new X509Certificate(next.certPem).fingerprint256;
    const bundle = await readFile(this.path('ca.crt'), 'utf8');
    const old = splitPemCertificates(bundle).filter(
      (pem) => new X509Certificate(pem).fingerprint256 !== fingerprint,
    );
    if (old.length > 0) await writeFileAtomic(this.path('ca-previous.crt'), old.join(''), CERT_MODE);
    await writeFileAtomic(this.path('ca.crt'), next.certPem, CERT_MODE);
  }

  /** Removes the transition files; the old root's key goes, its certificate stays for the record. */
  private async finish(): Promise<void> {
    for (const name of ['ca-next.crt', 'ca-next.key', 'ca-previous.key']) {
      await rm(this.path(name), { force: true });
    }
  }

  private async readNext(): Promise<{ certPem: string; keyPem: string } | undefined> {
    const [certPem, keyPem] = await Promise.all([
      readOptional(this.path('ca-next.crt')),
      readOptional(this.path('ca-next.key')),
    ]);
    if (certPem === undefined || keyPem === undefined) return undefined;
    try {
      return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))
        ? { certPem, keyPem }
        : undefined;
    } catch {
      return undefined;
    }
  }

  private async requireNext(): Promise<{ certPem: string; keyPem: string }> {
    const next = await this.readNext();
    // The phase is stored only after its files: past trust-both, ca-next.crt/.key exist and match.
    if (next === undefined)
      throw new Error(`"${this.path('ca-next.crt')}" is missing or does not match its key`);
    return next;
  }

  private async readState(): Promise<StoredRotation> {
    const text = await readOptional(this.path('ca-rotation.json'));
    if (text === undefined) return IDLE;
    const stored = JSON.parse(text) as StoredRotation;
    if (!CA_ROTATION_PHASES.includes(stored.phase))
      throw new Error(`unknown CA rotation phase "${stored.phase}"`);
    return stored;
  }

  private async writeState(state: StoredRotation): Promise<void> {
    await writeFileAtomic(this.path('ca-rotation.json'), `${JSON.stringify(state)}\n`, CERT_MODE);
  }

  /** One step at a time: two concurrent requests must not both start from the same phase. */
  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private path(name: string): string {
    return join(this.dir, name);
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
