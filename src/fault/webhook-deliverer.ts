import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { nextDelaySeconds, stateAfterFailure } from './webhook-model.js';
import { WebhookSender } from './webhook-sender.js';
import type { AlarmWebhookStore, DueDelivery } from './webhook-store.js';

interface WebhookDelivererOptions {
  store: AlarmWebhookStore;
  clock: Clock;
  logger: Logger;
  /** Called once per failed attempt. */
  onDeliveryFailure: () => void;
  /** A value in [0, 1) for backoff jitter. */
  random: () => number;
  maxAttempts: number;
  /** Extra CA certificates (PEM) for HTTPS receivers, beside the system's. */
  trustedCaBundle: () => string;
}

const CONCURRENCY = 8;
const CLAIM_BATCH = 64;
// Longer than a request can take, so a claimed row is never sent twice by one healthy process.
const LEASE_MS = 60_000;
const PURGE_EVERY_MS = 600_000;
const DELIVERED_RETENTION_MS = 86_400_000;
const FAILED_RETENTION_MS = 7 * 86_400_000;

/** Delivery passes over the webhook outbox: claim due rows, send them, record each outcome. */
export class WebhookDeliverer {
  private lastPurgeAt = Number.NEGATIVE_INFINITY;
  private readonly sender: WebhookSender;

  constructor(private readonly options: WebhookDelivererOptions) {
    this.sender = new WebhookSender(options.clock, options.trustedCaBundle);
  }

  /**
   * Sends every pending delivery due now (8 at a time), recording each outcome; returns how many were
   * attempted. Purges old delivered and failed rows first, at most every 10 minutes.
   */
  async deliverDue(): Promise<number> {
    await this.purgeIfDue();
    let attempted = 0;
    for (;;) {
      const now = this.options.clock.now();
      const leaseUntil = new Date(now.getTime() + LEASE_MS).toISOString();
      const claimed = await this.options.store.claimDue(now.toISOString(), leaseUntil, CLAIM_BATCH);
      await forEachLimited(claimed, CONCURRENCY, (delivery) => this.attempt(delivery));
      attempted += claimed.length;
      if (claimed.length < CLAIM_BATCH) return attempted;
    }
  }

  /** Closes the HTTP client; call only once no pass is in flight. */
  async close(): Promise<void> {
    await this.sender.close();
  }

  private async attempt(delivery: DueDelivery): Promise<void> {
    const { store, clock, logger } = this.options;
    const outcome = await this.sender.send(delivery);
    const at = clock.now();
    const attempts = delivery.attempts + 1;
    const common = {
      deliveryId: delivery.id,
      webhookId: delivery.webhookId,
      previousAttempts: delivery.attempts,
    };
    try {
      if (outcome.error === null) {
        await store.recordAttempt({
          ...common,
          state: 'delivered',
          nextAttemptAt: at.toISOString(),
          lastStatus: 'delivered',
          statusCode: outcome.statusCode,
          error: null,
          at: at.toISOString(),
        });
        return;
      }
      this.options.onDeliveryFailure();
      const state = stateAfterFailure(attempts, this.options.maxAttempts);
      const delayMs =
        state === 'failed' ? 0 : Math.round(nextDelaySeconds(attempts, this.options.random) * 1000);
      await store.recordAttempt({
        ...common,
        state,
        nextAttemptAt: new Date(at.getTime() + delayMs).toISOString(),
        lastStatus: state === 'failed' ? 'failed' : 'retrying',
        statusCode: outcome.statusCode,
        error: outcome.error,
        at: at.toISOString(),
      });
      if (state === 'failed') {
        logger.warn(
          { webhookId: delivery.webhookId, eventUuid: delivery.eventUuid, error: outcome.error },
          `gave up delivering an alarm webhook event after ${attempts} attempts`,
        );
      }
    } catch (error) {
      // The row stays claimed until its lease ends and is then sent again: at-least-once holds.
      logger.error({ err: error, deliveryId: delivery.id }, 'could not record a webhook delivery attempt');
    }
  }

  private async purgeIfDue(): Promise<void> {
    const now = this.options.clock.now().getTime();
    if (now - this.lastPurgeAt < PURGE_EVERY_MS) return;
    this.lastPurgeAt = now;
    await this.options.store.purge('delivered', new Date(now - DELIVERED_RETENTION_MS).toISOString());
    await this.options.store.purge('failed', new Date(now - FAILED_RETENTION_MS).toISOString());
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    for (let item = items[next++]; item !== undefined; item = items[next++]) await run(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
