import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { invalidInput, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { describeX509 } from './inspect.js';
import type { TrustedCa, TrustedCaStore } from './trust-store.js';

/** What `add` did: the CAs of the bundle, and how many of them were new. */
interface AddedCas {
  items: TrustedCa[];
  addedCount: number;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g;
const ANY_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;
const MAX_BUNDLE_CERTIFICATES = 500;

/**
 * CA certificates the site trusts for its outbound TLS (alarm webhooks), beside the site root CA; the
 * system's CAs are not among them, the sender adds those itself. Rows are kept in memory (loaded by
 * `open`) so that `bundle` is synchronous and cheap enough to call before every request; every change
 * is written first, then applied to memory, then told to `onChange` listeners.
 */
export class TrustedCas {
  private items: TrustedCa[] = [];
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly deps: { store: TrustedCaStore; clock: Clock; logger: Logger; dataDir: string },
  ) {}

  /** Loads the stored CAs; call once before the other methods. */
  async open(): Promise<void> {
    this.items = await this.deps.store.list();
  }

  /** Calls `listener` after every change of the trusted CAs. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Adds every CA of a PEM bundle (already trusted ones are kept as they are); throws `invalid_input` for a bundle with no certificate, a corrupt one, or one that is not a CA. */
  async add(pem: string, addedBy: string): Promise<AddedCas> {
    const addedAt = this.deps.clock.now().toISOString();
    const items = parseCaBundle(pem).map((ca) => ({ ...ca, addedAt, addedBy }));
    const inserted = await this.deps.store.insertMissing(items);
    if (inserted.length > 0) await this.reload();
    const stored = new Map(this.items.map((ca) => [ca.fingerprint, ca]));
    return {
      items: items.map((ca) => stored.get(ca.fingerprint) ?? ca),
      addedCount: inserted.length,
    };
  }

  list(): TrustedCa[] {
    return [...this.items];
  }

  /** Stops trusting a CA; throws `not_found`. */
  async remove(fingerprint: string): Promise<void> {
    const normalized = fingerprint.replaceAll(':', '').toLowerCase();
    if (!(await this.deps.store.delete(normalized))) throw notFound('trusted CA', fingerprint);
    await this.reload();
  }

  /** The trusted CAs and the site root CA (when it exists), as one PEM bundle; never the system's CAs. */
  bundle(): string {
    return [...this.items.map((ca) => ca.pem), ...this.siteRootCa()].join('');
  }

  private async reload(): Promise<void> {
    this.items = await this.deps.store.list();
    for (const listener of this.listeners) {
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

/** The CA certificates of a PEM bundle, normalised; throws `invalid_input` naming the first problem. */
function parseCaBundle(text: string): Omit<TrustedCa, 'addedAt' | 'addedBy'>[] {
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
  const cas = new Map<string, Omit<TrustedCa, 'addedAt' | 'addedBy'>>();
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
