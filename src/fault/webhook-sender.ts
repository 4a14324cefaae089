import fs from 'node:fs';
import tls from 'node:tls';
import type { Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { commonJsExports } from '../core/commonjs.js';
import { deliveryHeaders, describeFailure } from './webhook-model.js';
import type { DueDelivery } from './webhook-store.js';

/** How one POST ended: `error` is null exactly when the receiver answered 2xx. */
interface SendOutcome {
  statusCode: number | null;
  error: string | null;
}

const REQUEST_TIMEOUT_MS = 5_000;
const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

/**
 * Sends signed alarm webhook POSTs over one HTTP client, created on first use and closed by `close`.
 * The client is made again when the extra trusted CAs change, so a CA trusted now verifies the next send.
 */
export class WebhookSender {
  private dispatcher: Promise<Dispatcher> | undefined;
  private dispatcherCas = '';

  constructor(
    private readonly clock: Clock,
    private readonly trustedCaBundle: () => string = () => '',
  ) {}

  /** One POST; never throws: a failure is described in `error`. */
  async send(delivery: DueDelivery): Promise<SendOutcome> {
    const url = new URL(delivery.url);
    const { kind } = JSON.parse(delivery.body) as { kind: string };
    const headers = deliveryHeaders({
      secret: delivery.secret,
      at: this.clock.now(),
      body: delivery.body,
      eventId: delivery.eventUuid,
      kind,
    });
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    try {
      const dispatcher = await this.currentDispatcher();
      const response = await dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers,
        body: delivery.body,
        signal,
      });
      // The answer's body is not ours to read; a failure to drain it does not undo the status.
      await response.body.dump().catch(() => undefined);
      const { statusCode } = response;
      const isSuccess = statusCode >= 200 && statusCode < 300;
      return { statusCode, error: isSuccess ? null : `receiver answered ${statusCode}` };
    } catch (error) {
      return {
        statusCode: null,
        error: signal.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : describeFailure(error),
      };
    }
  }

  private currentDispatcher(): Promise<Dispatcher> {
    const cas = this.trustedCaBundle();
    if (this.dispatcher !== undefined && cas !== this.dispatcherCas) {
      // Closing waits for the requests the old client already queued, this one's among them if any.
      void this.dispatcher.then((old) => old.close()).catch(() => undefined);
      this.dispatcher = undefined;
    }
    this.dispatcherCas = cas;
    this.dispatcher ??= createDispatcher(cas);
    return this.dispatcher;
  }

  /** Closes the HTTP client, if one was created; a later `send` creates a new one. */
  async close(): Promise<void> {
    const dispatcher = this.dispatcher;
    this.dispatcher = undefined;
    if (dispatcher) await (await dispatcher).close();
  }
}

/** An HTTP client that verifies HTTPS receivers against Node's roots, the system's trust store and `extraCas`. */
async function createDispatcher(extraCas: string): Promise<Dispatcher> {
  const { Agent } = commonJsExports(await import('undici'));
  const system = trustedCertificates();
  // Giving `ca` replaces Node's default roots, so with extra CAs the defaults are listed explicitly.
  const ca = extraCas === '' ? system : [...(system ?? [...tls.rootCertificates]), extraCas];
  return new Agent({
    connect: { ...(ca === undefined ? {} : { ca }), timeout: REQUEST_TIMEOUT_MS },
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
}

function trustedCertificates(): string[] | undefined {
  // Node 22.15+ reads the system store itself; Node 20 knows only its bundled roots, so read the file.
  const withSystem = tls as { getCACertificates?: (type: 'default' | 'system') => string[] };
  if (withSystem.getCACertificates) {
    return [...withSystem.getCACertificates('default'), ...withSystem.getCACertificates('system')];
  }
  const file = SYSTEM_CA_FILES.find((candidate) => fs.existsSync(candidate));
  if (file === undefined) return undefined;
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  return [
    ...tls.rootCertificates,
    fs.readFileSync(file, 'utf8'),
    ...(extra ? [fs.readFileSync(extra, 'utf8')] : []),
  ];
}
