import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { conflict, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { AlarmChange } from './model.js';
import { WebhookDeliverer } from './webhook-deliverer.js';
import {
  type AlarmWebhookFilter,
  DEFAULT_MAX_ATTEMPTS,
  type LastDeliveryStatus,
  matchesFilter,
  validateFilter,
  validateSecret,
  validateWebhookUrl,
} from './webhook-model.js';
import type { AlarmWebhook, AlarmWebhookStore, NewDelivery } from './webhook-store.js';

type Subscribe = (listener: (change: AlarmChange) => void) => () => void;

/** What the service needs; `alarmChanges` is the fault service (or its subscribe function). */
interface AlarmWebhookServiceOptions {
  store: AlarmWebhookStore;
  clock: Clock;
  alarmChanges: Subscribe | { subscribe: Subscribe };
  logger: Logger;
  /** Called once per failed attempt (the `murm_webhook_delivery_failures_total` counter). */
  onDeliveryFailure?: () => void;
  /** A value in [0, 1) for backoff jitter; tests pass a constant. */
  random?: () => number;
  maxAttempts?: number;
  /** Extra CA certificates (PEM) HTTPS receivers are verified against, beside the system's; asked before each send. */
  trustedCaBundle?: () => string;
}

/** A webhook as the API shows it: the secret never, only its first characters. */
export interface AlarmWebhookView {
  id: string;
  url: string;
  filter: AlarmWebhookFilter;
  secretHint: string;
  isEnabled: boolean;
  createdAt: string;
  lastDelivery: {
    status: LastDeliveryStatus | null;
    statusCode: number | null;
    error: string | null;
    attemptAt: string | null;
    successAt: string | null;
  };
  consecutiveFailures: number;
  pendingCount: number;
}

const MAX_WEBHOOKS = 100;
const POLL_INTERVAL_MS = 1_000;
const MAX_BUFFERED_CHANGES = 10_000;

/**
 * Alarm webhooks: subscriptions, a durable outbox and its delivery loop.
 * Lifecycle: `idle` (subscribed to alarm changes from construction, so none is missed; deliveries run only
 * when `deliverDue` is called) → `running` (`start`: a 1 s loop, kicked at once after each enqueue) →
 * `stopping` → `stopped` (`stop`: unsubscribes, writes buffered changes, awaits deliveries in flight).
 */
export class AlarmWebhookService {
  private state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  private readonly unsubscribe: () => void;
  private readonly buffered: AlarmChange[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private isKicked = false;
  private readonly passes = new Set<Promise<number>>();
  private readonly deliverer: WebhookDeliverer;
  private readonly store: AlarmWebhookStore;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(options: AlarmWebhookServiceOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.deliverer = new WebhookDeliverer({
      store: options.store,
      clock: options.clock,
      logger: options.logger,
      random: options.random ?? Math.random,
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      onDeliveryFailure: options.onDeliveryFailure ?? (() => {}),
      trustedCaBundle: options.trustedCaBundle ?? (() => ''),
    });
    const listener = (change: AlarmChange) => this.onChange(change);
    const source = options.alarmChanges;
    this.unsubscribe = typeof source === 'function' ? source(listener) : source.subscribe(listener);
  }

  /** Subscribes a receiver; throws `invalid_input` for a bad URL, secret or filter, `conflict` past 100. */
  async create(input: {
    url: string;
    secret: string;
    filter?: AlarmWebhookFilter;
  }): Promise<AlarmWebhookView> {
    const url = validateWebhookUrl(input.url);
    validateSecret(input.secret);
    const filter = validateFilter(input.filter ?? {});
    if ((await this.store.countWebhooks()) >= MAX_WEBHOOKS) {
      throw conflict(
        `this site already has ${MAX_WEBHOOKS} alarm webhooks; delete one before adding another`,
      );
    }
    const id = randomUUID();
    const createdAt = this.clock.now().toISOString();
    await this.store.insertWebhook({ id, url, secret: input.secret, filter, createdAt });
    return this.get(id);
  }

  async list(): Promise<AlarmWebhookView[]> {
    return (await this.store.listWebhooks()).map(toView);
  }

  /** Throws `not_found` when there is no such webhook. */
  async get(id: string): Promise<AlarmWebhookView> {
    const webhook = await this.store.findWebhook(id);
    if (!webhook) throw notFound('alarm webhook', id);
    return toView(webhook);
  }

  /** Deletes a webhook and its undelivered events; throws `not_found` when there is no such webhook. */
  async delete(id: string): Promise<void> {
    if (!(await this.store.deleteWebhook(id))) throw notFound('alarm webhook', id);
  }

  /** Starts the background delivery loop. */
  start(): void {
    assert.equal(this.state, 'idle', `cannot start the webhook service when it is ${this.state}`);
    this.state = 'running';
    this.schedule(0);
  }

  /** Stops the loop and the subscription, writes buffered changes and waits for deliveries in flight. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    this.unsubscribe();
    clearTimeout(this.timer);
    await this.flushing;
    await this.ticking;
    await Promise.allSettled([...this.passes]);
    if (this.buffered.length > 0) {
      this.logger.error({ count: this.buffered.length }, 'alarm changes not written to the webhook outbox');
    }
    await this.deliverer.close();
    this.state = 'stopped';
  }

  /**
   * Writes buffered changes, then sends every pending delivery due now (8 at a time), recording each
   * outcome; returns how many were attempted. Also purges old delivered and failed rows now and then.
   */
  async deliverDue(): Promise<number> {
    assert.notEqual(this.state, 'stopped', 'the webhook service is stopped');
    if (this.buffered.length > 0) this.flushing ??= this.drain();
    await this.flushing;
    const pass = this.deliverer.deliverDue();
    this.passes.add(pass);
    try {
      return await pass;
    } finally {
      this.passes.delete(pass);
    }
  }

  private onChange(change: AlarmChange): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    if (this.buffered.length >= MAX_BUFFERED_CHANGES) {
      const dropped = this.buffered.shift();
      this.logger.error(
        { eventUuid: dropped?.eventUuid },
        'webhook outbox unreachable; dropped an alarm change',
      );
    }
    this.buffered.push(change);
    this.flushing ??= this.drain();
  }

  /** Writes buffered changes to the outbox; on a database error keeps them for the next pass. */
  private async drain(): Promise<void> {
    try {
      // Let a burst of changes published in one turn join a single insert.
      await Promise.resolve();
      while (this.buffered.length > 0) {
        const batch = this.buffered.splice(0);
        try {
          await this.enqueue(batch);
        } catch (error) {
          this.buffered.unshift(...batch);
          this.logger.error(
            { err: error, count: batch.length },
            'could not write alarm changes to the webhook outbox',
          );
          return;
        }
        this.kick();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async enqueue(changes: readonly AlarmChange[]): Promise<void> {
    const webhooks = await this.store.listEnabledFilters();
    if (webhooks.length === 0) return;
    const at = this.clock.now().toISOString();
    const rows: NewDelivery[] = [];
    for (const change of changes) {
      let body: string | undefined;
      for (const webhook of webhooks) {
        if (!matchesFilter(webhook.filter, change)) continue;
        body ??= JSON.stringify({ eventId: change.eventUuid, kind: change.kind, alarm: change.alarm });
        rows.push({ id: randomUUID(), webhookId: webhook.id, eventUuid: change.eventUuid, body, at });
      }
    }
    await this.store.insertDeliveries(rows);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, delayMs);
    // The HTTP listener keeps a server alive; this timer alone must not keep a process from exiting.
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.state !== 'running') return;
    this.isKicked = false;
    this.ticking = this.deliverDue().then(
      () => undefined,
      (error: unknown) => this.logger.error({ err: error }, 'alarm webhook delivery pass failed'),
    );
    await this.ticking;
    this.ticking = undefined;
    if (this.state === 'running') this.schedule(this.isKicked ? 0 : POLL_INTERVAL_MS);
  }

  /** Runs a pass at once after an enqueue (or right after the pass in progress). */
  private kick(): void {
    if (this.state !== 'running') return;
    if (this.ticking) this.isKicked = true;
    else this.schedule(0);
  }
}

function toView(webhook: AlarmWebhook): AlarmWebhookView {
  return {
    id: webhook.id,
    url: webhook.url,
    filter: webhook.filter,
    secretHint: `${webhook.secret.slice(0, 4)}…`,
    isEnabled: webhook.isEnabled,
    createdAt: webhook.createdAt,
    lastDelivery: {
      status: webhook.lastStatus,
      statusCode: webhook.lastStatusCode,
      error: webhook.lastError,
      attemptAt: webhook.lastAttemptAt,
      successAt: webhook.lastSuccessAt,
    },
    consecutiveFailures: webhook.consecutiveFailures,
    pendingCount: webhook.pendingCount,
  };
}
