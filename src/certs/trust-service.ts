import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { conflict, invalidInput, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { describeX509 } from './inspect.js';
import type { FleetCaChanges, TrustedCa, TrustedCaStore } from './trust-store.js';

/** What `add` did: the CAs of the bundle, and how many of them were new. */
interface AddedCas {
  items: TrustedCa[];
  addedCount: number;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g;
const ANY_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;
const MAX_BUNDLE_CERTIFICATES = 500;
/** `addedBy` of the CAs a subcloud received from its system controller. */
const FLEET_ADDED_BY = 'system-controller';

/** What the system controller copies of a fleet-wide CA. */
export interface FleetCa {
  fingerprint: string;
  pem: string;
}

/**
 * CA certificates the site trusts for its outbound TLS (alarm webhooks), beside the site root CA; the
 * system's CAs are not among them, the sender adds those itself. Rows are kept in memory (loaded by
 * `open`) so that `bundle` is synchronous and cheap enough to call before every request; every change
 * is written first, then applied to memory, then told to `onChange` listeners (and to `onFleetChange`
 * listeners when the fleet-wide CAs changed).
 *
 * Fleet-wide CAs are copied by the system controller to every managed subcloud. On a fleet-managed site
 * (a subcloud) they change only through {@link applyFleetWide}; removing or re-marking them is refused.
 */
export class TrustedCas {
  private items: TrustedCa[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly fleetListeners = new Set<() => void>();
  private isFleetManaged = false;

  constructor(
    private readonly deps: { store: TrustedCaStore; clock: Clock; logger: Logger; dataDir: string },
  ) {}

  /** Loads the stored CAs; call once before the other methods. */
  async open(): Promise<void> {
    this.items = await this.deps.store.list();
  }

  /** Calls `listener` after every change of the trusted CAs; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` after the fleet-wide CAs changed; returns the unsubscribe function. */
  onFleetChange(listener: () => void): () => void {
    this.fleetListeners.add(listener);
    return () => this.fleetListeners.delete(listener);
  }

  /** Marks this site as managed by a system controller: fleet-wide CAs become read-only here. */
  setFleetManaged(isFleetManaged: boolean): void {
    this.isFleetManaged = isFleetManaged;
  }

  /**
   * Adds every CA of a PEM bundle (already trusted ones are kept as they are, but marked fleet-wide when
   * asked); throws `invalid_input` for a bundle with no certificate, a corrupt one, or one that is not a
   * CA, and `conflict` for fleet-wide CAs on a fleet-managed site.
   */
  async add(pem: string, addedBy: string, options: { isFleetWide?: boolean } = {}): Promise<AddedCas> {
    const isFleetWide = options.isFleetWide ?? false;
    if (isFleetWide) this.assertFleetWideEditable();
    const addedAt = this.deps.clock.now().toISOString();
    const items = parseCaBundle(pem).map((ca) => ({ ...ca, addedAt, addedBy, isFleetWide }));
    const inserted = await this.deps.store.insertMissing(items);
    const toMark = isFleetWide
      ? this.items.filter(
          (ca) => !ca.isFleetWide && items.some((item) => item.fingerprint === ca.fingerprint),
        )
      : [];
    await this.deps.store.setFleetWide(
      toMark.map((ca) => ca.fingerprint),
      true,
    );
    if (inserted.length + toMark.length > 0) await this.reload();
    const stored = new Map(this.items.map((ca) => [ca.fingerprint, ca]));
    return {
      items: items.map((ca) => stored.get(ca.fingerprint) ?? ca),
      addedCount: inserted.length,
    };
  }

  list(): TrustedCa[] {
    return [...this.items];
  }

  /** Stops trusting a CA; throws `not_found`, or `conflict` for a fleet-wide CA on a fleet-managed site. */
  async remove(fingerprint: string): Promise<void> {
    const normalized = normalizeFingerprint(fingerprint);
    if (this.isFleetManaged && this.find(normalized)?.isFleetWide)
      throw managedByControllerError(fingerprint);
    if (!(await this.deps.store.delete(normalized))) throw notFound('trusted CA', fingerprint);
    await this.reload();
  }

  /** Marks a CA fleet-wide or local; throws `not_found`, or `conflict` on a fleet-managed site. */
  async setFleetWide(fingerprint: string, isFleetWide: boolean): Promise<TrustedCa> {
    const normalized = normalizeFingerprint(fingerprint);
    if (this.isFleetManaged && this.find(normalized)?.isFleetWide)
      throw managedByControllerError(fingerprint);
    this.assertFleetWideEditable();
    if ((await this.deps.store.setFleetWide([normalized], isFleetWide)) === 0) {
      throw notFound('trusted CA', fingerprint);
    }
    await this.reload();
    const changed = this.find(normalized);
    if (!changed) throw notFound('trusted CA', fingerprint);
    return changed;
  }

  /** The fleet-wide CAs, by fingerprint, as the system controller copies them. */
  listFleetWide(): FleetCa[] {
    return this.items
      .filter((ca) => ca.isFleetWide)
      .map((ca) => ({ fingerprint: ca.fingerprint, pem: ca.pem }))
      .sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0));
  }

  /**
   * Makes the local fleet-wide CAs those of `cas`, in one transaction; a local CA of the same
   * fingerprint stays local and comes back as a conflict. Throws `invalid_input` (changing nothing)
   * when a PEM is not one CA certificate of the given fingerprint.
   */
  async applyFleetWide(cas: readonly FleetCa[]): Promise<FleetCaChanges> {
    const addedAt = this.deps.clock.now().toISOString();
    const items = cas.map((ca) => ({
      ...parseFleetCa(ca),
      addedAt,
      addedBy: FLEET_ADDED_BY,
      isFleetWide: true,
    }));
    const changes = await this.deps.store.replaceFleetWide(items);
    if (changes.added.length + changes.removed.length > 0) await this.reload();
    return changes;
  }

  /** The trusted CAs and the site root CA (when it exists), as one PEM bundle; never the system's CAs. */
  bundle(): string {
    return [...this.items.map((ca) => ca.pem), ...this.siteRootCa()].join('');
  }

  private find(fingerprint: string): TrustedCa | undefined {
    return this.items.find((ca) => ca.fingerprint === fingerprint);
  }

  private assertFleetWideEditable(): void {
    if (this.isFleetManaged) {
      throw conflict(
        'this site is managed by a system controller; mark trusted CAs fleet-wide on the system controller',
      );
    }
  }

  private async reload(): Promise<void> {
    const fleetBefore = fleetKey(this.items);
    this.items = await this.deps.store.list();
    const listeners = [...this.listeners];
    if (fleetKey(this.items) !== fleetBefore) listeners.push(...this.fleetListeners);
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        this.deps.logger.error({ err: error }, 'a trusted CA listener failed');
      }
    }
  }

  /** Read on every call: the root CA file may be replaced (rotated) while the site runs. */
  private siteRootCa(): string[] {
    try {
      return [readFileSync(join(this.deps.dataDir, 'pki', 'ca.crt'), 'utf8')];
    } catch (error) {
      // An in-process site without PKI (tests, or before the first `murm serve`) has no root CA yet.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}

/** A CA as read from PEM, before the site records who added it. */
type ParsedCa = Omit<TrustedCa, 'addedAt' | 'addedBy' | 'isFleetWide'>;

function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replaceAll(':', '').toLowerCase();
}

/** Which CAs are fleet-wide, as one comparable string (a fingerprint names one certificate). */
function fleetKey(items: readonly TrustedCa[]): string {
  return items
    .filter((ca) => ca.isFleetWide)
    .map((ca) => ca.fingerprint)
    .sort()
    .join(',');
}

function managedByControllerError(fingerprint: string) {
  return conflict(`trusted CA "${fingerprint}" is managed by the system controller; change it there`, {
    fingerprint,
  });
}

/** A CA received from the system controller: exactly one CA certificate, of the fingerprint given. */
function parseFleetCa(ca: FleetCa): ParsedCa {
  const parsed = parseCaBundle(ca.pem);
  const [only] = parsed;
  if (parsed.length !== 1 || only?.fingerprint !== ca.fingerprint) {
    throw invalidInput(
      'pem',
      `fleet-wide CA "${ca.fingerprint}" is not one CA certificate of that fingerprint`,
      { fingerprint: ca.fingerprint },
    );
  }
  return only;
}

/** The CA certificates of a PEM bundle, normalised; throws `invalid_input` naming the first problem. */
function parseCaBundle(text: string): ParsedCa[] {
  const blocks = [...text.matchAll(CERT_BLOCK)];
  const begins = text.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (begins === 0) {
    const labels = [...new Set(Array.from(text.matchAll(ANY_BEGIN), (match) => match[1]))];
    throw invalidInput(
      'pem',
      `no certificate in the bundle (it holds ${labels.join(', ') || 'no PEM block'}); give PEM "BEGIN CERTIFICATE" blocks`,
    );
  }
  if (blocks.length !== begins) {
    throw invalidInput(
      'pem',
      'a certificate in the bundle has no END line; the bundle is truncated or corrupt',
    );
  }
  if (blocks.length > MAX_BUNDLE_CERTIFICATES) {
    throw invalidInput(
      'pem',
      `the bundle holds ${blocks.length} certificates; add at most ${MAX_BUNDLE_CERTIFICATES} at once`,
    );
  }
  const cas = new Map<string, ParsedCa>();
  for (const [index, block] of blocks.entries()) {
    const position = `certificate ${index + 1} of ${blocks.length}`;
    const cert = parseBlock(block[1] ?? '');
    if (cert === undefined) {
      throw invalidInput('pem', `${position} in the bundle is corrupt; export the CA again`, { index });
    }
    const info = describeX509(cert, position);
    if (!info.isCa) {
      throw invalidInput(
        'pem',
        `${position} ("${info.subject}") is not a CA certificate; trust the CA that issued it instead`,
        { index, fingerprint: info.fingerprint },
      );
    }
    cas.set(info.fingerprint, {
      fingerprint: info.fingerprint,
      subject: info.subject,
      notAfter: info.notAfter,
      pem: cert.toString(),
    });
  }
  return [...cas.values()];
}

function parseBlock(body: string): X509Certificate | undefined {
  if (!BASE64_BODY.test(body)) return undefined;
  try {
    return new X509Certificate(Buffer.from(body, 'base64'));
  } catch {
    return undefined;
  }
}
