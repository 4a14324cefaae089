import type { Dispatcher } from 'undici';
import { commonJsExports } from '../../core/commonjs.js';
import type { Logger } from '../../core/log.js';
import type { OranEvent } from './model.js';

/** A subscriber as the publisher sees it: where to POST. */
interface Subscriber {
  id: string;
  endpointUri: string;
}

interface OranPublisherOptions {
  logger: Logger;
  /**
   * Waits between attempts: attempt n + 1 follows a failed attempt n after `retryDelaysMs[n - 1]`;
   * after the last, the event is dropped. Default 0.5, 1, 2, 4, 8 s (6 attempts, ~15.5 s).
   */
  retryDelaysMs?: readonly number[] | undefined;
  /** Events waiting per (subscriber, resource); beyond it the oldest waiting one is dropped. Default 100. */
  maxQueued?: number | undefined;
  /** Per attempt; default 5 s. */
  requestTimeoutMs?: number | undefined;
}

const DEFAULT_RETRY_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000];
const DEFAULT_MAX_QUEUED = 100;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

/** The events of one (subscriber, resource) not yet delivered or dropped, oldest first. */
interface Lane {
  subscriber: Subscriber;
  bodies: string[];
  isRunning: boolean;
}

/**
 * Pushes CloudEvents to subscribers' EndpointUri with retry and backoff.
 *
 * Ordering: each (subscriber, resource address) has one lane, sent strictly one event at a time, so a
 * newer event is never sent before an older one was delivered (2xx) or dropped after its last attempt.
 * Lanes are independent: a failing subscriber delays only its own lanes. Delivery is at-most-once per
 * attempt sequence and in memory: events waiting when the process stops are lost (the API's state can
 * always be pulled again via CurrentState, and the next change is pushed).
 * Lifecycle: `running` until close(), then `closed` (publish is ignored, retry waits end at once).
 */
export class OranPublisher {
  private readonly lanes = new Map<string, Lane>();
  private readonly closing = new AbortController();
  private readonly retryDelaysMs: readonly number[];
  private readonly maxQueued: number;
  private readonly timeoutMs: number;
  private readonly running = new Set<Promise<void>>();
  private dispatcher: Promise<Dispatcher> | undefined;

  constructor(private readonly options: OranPublisherOptions) {
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** Loads the HTTP client now, so the first event is not delayed by it (~80 ms); optional. */
  async prepare(): Promise<void> {
    await this.currentDispatcher();
  }

  /** Queues one event for each subscriber, on the lane of the event's resource. */
  publish(event: OranEvent, subscribers: readonly Subscriber[]): void {
    if (this.closing.signal.aborted) return;
    const body = JSON.stringify(event);
    const resource = event.data.values[0]?.ResourceAddress ?? event.source;
    for (const subscriber of subscribers) {
      const key = `${subscriber.id}\n${resource}`;
      let lane = this.lanes.get(key);
      if (lane === undefined) {
        lane = { subscriber, bodies: [], isRunning: false };
        this.lanes.set(key, lane);
      }
      if (lane.bodies.length >= this.maxQueued) {
        // The head may be in flight; drop the oldest one still waiting behind it.
        lane.bodies.splice(lane.isRunning ? 1 : 0, 1);
        this.options.logger.warn(
          { subscriptionId: subscriber.id, resource },
          'dropped an O-RAN event: queue full',
        );
      }
      lane.bodies.push(body);
      if (!lane.isRunning) this.run(key, lane);
    }
  }

  /** Drops every waiting event of a subscriber; an attempt in flight still ends. */
  forget(subscriptionId: string): void {
    for (const [key, lane] of this.lanes) {
      if (lane.subscriber.id === subscriptionId) {
        lane.bodies.length = 0;
        this.lanes.delete(key);
      }
    }
  }

  /** How many events wait or are in flight. */
  get pendingCount(): number {
    let count = 0;
    for (const lane of this.lanes.values()) count += lane.bodies.length;
    return count;
  }

  /** Stops: waiting events are dropped, attempts in flight end, the HTTP client is closed. */
  async close(): Promise<void> {
    this.closing.abort();
    for (const lane of this.lanes.values()) lane.bodies.length = 0;
    this.lanes.clear();
    await Promise.all(this.running);
    const dispatcher = this.dispatcher;
    this.dispatcher = undefined;
    if (dispatcher) await (await dispatcher).close();
  }

  private run(key: string, lane: Lane): void {
    lane.isRunning = true;
    const done = this.drain(lane)
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'O-RAN event lane failed'))
      .finally(() => {
        lane.isRunning = false;
        this.running.delete(done);
        if (this.lanes.get(key) === lane && lane.bodies.length === 0) this.lanes.delete(key);
      });
    this.running.add(done);
  }

  private async drain(lane: Lane): Promise<void> {
    for (let body = lane.bodies[0]; body !== undefined; body = lane.bodies[0]) {
      await this.deliver(lane.subscriber, body);
      // forget() or close() may have emptied the lane meanwhile; only the head we sent goes.
      if (lane.bodies[0] === body) lane.bodies.shift();
    }
  }

  /** Attempts one event until it is delivered, its attempts run out, or the publisher closes. */
  private async deliver(subscriber: Subscriber, body: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const error = await this.attempt(subscriber.endpointUri, body);
      if (error === undefined) return;
      const delayMs = this.retryDelaysMs[attempt - 1];
      if (delayMs === undefined || this.closing.signal.aborted) {
        this.options.logger.warn(
          { subscriptionId: subscriber.id, endpointUri: subscriber.endpointUri, error, attempts: attempt },
          `dropped an O-RAN event after ${attempt} attempts`,
        );
        return;
      }
      if (!(await this.wait(delayMs))) return;
    }
  }

  /** One POST; the failure described, or undefined on a 2xx answer. */
  private async attempt(endpointUri: string, body: string): Promise<string | undefined> {
    const url = new URL(endpointUri);
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.closing.signal]);
    try {
      const dispatcher = await this.currentDispatcher();
      const response = await dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { 'content-type': CONTENT_TYPE },
        body,
        signal,
      });
      await response.body.dump().catch(() => undefined);
      const { statusCode } = response;
      return statusCode >= 200 && statusCode < 300 ? undefined : `receiver answered ${statusCode}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  /** Resolves true after `ms`, or false at once when the publisher closes. */
  private wait(ms: number): Promise<boolean> {
    const { signal } = this.closing;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private currentDispatcher(): Promise<Dispatcher> {
    this.dispatcher ??= import('undici').then((module) => {
      const { Agent } = commonJsExports(module);
      return new Agent({ connect: { timeout: this.timeoutMs }, headersTimeout: this.timeoutMs });
    });
    return this.dispatcher;
  }
}
