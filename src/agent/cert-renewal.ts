import { X509Certificate } from 'node:crypto';
import { type Clock, systemClock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { AgentFrame, ControllerFrame } from '../inventory/agent-protocol.js';
import { newKeyRequest, storeRenewedIdentity } from './enroll.js';

/** Renew once less than this share of the certificate's life is left (day 243 of 365). */
const DEFAULT_RENEW_FRACTION = 1 / 3;
const DEFAULT_RETRY_BASE_MS = 60_000;
const DEFAULT_RETRY_CAP_MS = 3_600_000;
const DEFAULT_ANSWER_TIMEOUT_MS = 60_000;
/** Look again at least hourly: setTimeout cannot wait months, and wall clocks jump. */
const MAX_CHECK_DELAY_MS = 3_600_000;
const MAX_RETRY_EXPONENT = 20;

/** Tunables of client-certificate renewal; every field has a default (tests shorten them). */
export interface CertificateRenewalSettings {
  /** The clock renewal decisions read (default: the system clock). */
  clock?: Clock | undefined;
  /** Renew once less than this share of the life remains (default 1/3). */
  renewFraction?: number | undefined;
  /** First retry delay after a failure before jitter (default 1 min), doubling up to `retryCapMs` (1 h). */
  retryBaseMs?: number | undefined;
  retryCapMs?: number | undefined;
  /** How long to wait for the controller's answer before counting a failure (default 1 min). */
  answerTimeoutMs?: number | undefined;
  random?: (() => number) | undefined;
}

/** The moment a certificate valid over [notBefore, notAfter] becomes due for renewal. */
export function renewalDueAtMs(
  validity: { notBeforeMs: number; notAfterMs: number },
  renewFraction = DEFAULT_RENEW_FRACTION,
): number {
  const fraction = Math.min(Math.max(renewFraction, 0), 1);
  return validity.notAfterMs - (validity.notAfterMs - validity.notBeforeMs) * fraction;
}

/**
 * How long to wait before retry number `failures` (1 for the first): a draw from [d/2, d) with
 * d = min(cap, base × 2^(failures−1)), so agents refused together do not return together.
 */
export function renewalRetryDelayMs(
  failures: number,
  random: () => number,
  options: { baseMs?: number | undefined; capMs?: number | undefined } = {},
): number {
  const exponent = Math.min(Math.max(failures - 1, 0), MAX_RETRY_EXPONENT);
  const ceiling = Math.min(
    options.capMs ?? DEFAULT_RETRY_CAP_MS,
    (options.baseMs ?? DEFAULT_RETRY_BASE_MS) * 2 ** exponent,
  );
  const draw = Math.min(Math.max(random(), 0), 1);
  return Math.floor(ceiling / 2 + (draw * ceiling) / 2);
}

function validityOf(certificatePem: string): { notBeforeMs: number; notAfterMs: number } {
  const certificate = new X509Certificate(certificatePem);
  return { notBeforeMs: Date.parse(certificate.validFrom), notAfterMs: Date.parse(certificate.validTo) };
}

/**
 * Renewal of the agent's client certificate over its channel. States:
 * - `idle`: a timer checks when the certificate is due (or a failed attempt may retry); only while
 *   connected, since the request travels on the channel.
 * - `requesting`: a `certificate-request` for a new key was sent; the answer or a timeout ends it.
 * - `storing`: key and certificate are being written; then `renewed()` lets the runtime reconnect.
 * - `stopped`: the agent stops.
 * A refusal, a bad answer, a timeout or a failed write keeps the current certificate and retries
 * with jittered backoff; a dropped connection just asks again on the next one.
 */
export class CertificateRenewal {
  private state: 'idle' | 'requesting' | 'storing' | 'stopped' = 'idle';
  private isConnected = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private retryAtMs: number | undefined;
  private pendingKeyPem: string | undefined;
  /** Bumped on every disconnect, so a request started on an earlier connection is not sent on a later one. */
  private connection = 0;
  private current: { keyPem: string; certificatePem: string; dueAtMs: number; notAfterMs: number };
  private readonly clock: Clock;

  constructor(
    private readonly deps: {
      stateDir: string;
      hostname: string;
      keyPem: string;
      certificatePem: string;
      logger: Logger;
      settings?: CertificateRenewalSettings | undefined;
      /** Sends on the open channel; false when there is none. */
      send(frame: AgentFrame): boolean;
      /** The new identity is stored: present it from the next connection on. */
      renewed(identity: { keyPem: string; certificatePem: string }): void;
    },
  ) {
    this.clock = deps.settings?.clock ?? systemClock;
    this.current = this.identity(deps.keyPem, deps.certificatePem);
  }

  /** The channel was welcomed: check (now or when due). */
  connected(): void {
    this.isConnected = true;
    this.arm();
  }

  /** The channel closed: an unanswered request is dropped and asked again on the next connection. */
  disconnected(): void {
    this.isConnected = false;
    this.connection += 1;
    clearTimeout(this.timer);
    if (this.state === 'requesting') {
      this.state = 'idle';
      this.pendingKeyPem = undefined;
    }
  }

  /** A frame from the controller; true when it was renewal's (`certificate`, or an error refusing it). */
  handleFrame(frame: ControllerFrame): boolean {
    if (frame.type === 'error' && frame.refused === 'certificate-request') {
      if (this.state === 'requesting') this.failed(`the controller refused: ${frame.message}`);
      return true;
    }
    if (frame.type !== 'certificate') return false;
    if (this.state !== 'requesting' || this.pendingKeyPem === undefined) {
      this.deps.logger.warn('ignoring a certificate this agent did not ask for');
      return true;
    }
    if (typeof frame.certificate !== 'string' || typeof frame.caBundle !== 'string') {
      this.failed('the controller answered without certificate and caBundle');
      return true;
    }
    void this.store(frame.certificate, frame.caBundle, this.pendingKeyPem);
    return true;
  }

  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.timer);
  }

  private identity(keyPem: string, certificatePem: string) {
    const validity = validityOf(certificatePem);
    const dueAtMs = renewalDueAtMs(validity, this.deps.settings?.renewFraction);
    return { keyPem, certificatePem, dueAtMs, notAfterMs: validity.notAfterMs };
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (!this.isConnected || this.state !== 'idle') return;
    const targetMs = Math.max(this.current.dueAtMs, this.retryAtMs ?? Number.NEGATIVE_INFINITY);
    const delayMs = Math.min(Math.max(targetMs - this.clock.now().getTime(), 0), MAX_CHECK_DELAY_MS);
    this.timer = setTimeout(() => this.check(), delayMs).unref();
  }

  private check(): void {
    if (!this.isConnected || this.state !== 'idle') return;
    const targetMs = Math.max(this.current.dueAtMs, this.retryAtMs ?? Number.NEGATIVE_INFINITY);
    if (this.clock.now().getTime() < targetMs) {
      this.arm();
      return;
    }
    this.state = 'requesting';
    void this.request();
  }

  private async request(): Promise<void> {
    const connection = this.connection;
    const { keyPem, csr } = await newKeyRequest();
    if (this.state !== 'requesting' || connection !== this.connection) return;
    if (!this.deps.send({ type: 'certificate-request', csr })) {
      this.state = 'idle';
      return;
    }
    this.pendingKeyPem = keyPem;
    const notAfter = new Date(this.current.notAfterMs).toISOString();
    this.deps.logger.info({ notAfter }, 'client certificate due for renewal: asked the controller');
    const timeoutMs = this.deps.settings?.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.state === 'requesting') this.failed(`no answer from the controller in ${timeoutMs} ms`);
    }, timeoutMs).unref();
  }

  private async store(certificatePem: string, caBundle: string, keyPem: string): Promise<void> {
    this.state = 'storing';
    this.pendingKeyPem = undefined;
    clearTimeout(this.timer);
    try {
      const renewed = this.identity(keyPem, certificatePem);
      const commonName = /^CN=(.*)$/m.exec(new X509Certificate(certificatePem).subject)?.[1];
      if (commonName !== this.deps.hostname) {
        throw new Error(`the renewed certificate is not for "${this.deps.hostname}"`);
      }
      if (renewed.notAfterMs <= this.current.notAfterMs) {
        throw new Error('the renewed certificate does not outlive the current one');
      }
      await storeRenewedIdentity(this.deps.stateDir, {
        keyPem,
        certificatePem,
        caBundle,
        previousKeyPem: this.current.keyPem,
      });
      if ((this.state as string) === 'stopped') return;
      this.current = renewed;
      this.failures = 0;
      this.retryAtMs = undefined;
      this.state = 'idle';
      this.deps.logger.info(
        { notAfter: new Date(renewed.notAfterMs).toISOString() },
        'stored the renewed client certificate; reconnecting with it',
      );
      this.deps.renewed({ keyPem, certificatePem });
      this.arm();
    } catch (error) {
      if ((this.state as string) === 'stopped') return;
      this.failed(error instanceof Error ? error.message : String(error));
    }
  }

  private failed(reason: string): void {
    this.state = 'idle';
    this.pendingKeyPem = undefined;
    this.failures += 1;
    const settings = this.deps.settings ?? {};
    const delayMs = renewalRetryDelayMs(this.failures, settings.random ?? Math.random, {
      baseMs: settings.retryBaseMs,
      capMs: settings.retryCapMs,
    });
    this.retryAtMs = this.clock.now().getTime() + delayMs;
    this.deps.logger.warn(
      {
        reason,
        failures: this.failures,
        retryInMs: delayMs,
        notAfter: new Date(this.current.notAfterMs).toISOString(),
      },
      'client certificate renewal failed; keeping the current certificate',
    );
    this.arm();
  }
}
