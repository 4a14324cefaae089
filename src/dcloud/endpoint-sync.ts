import type { Logger } from '../core/log.js';
import { type SyncSource, syncRevision } from './sync.js';
import type { RpcMethod, SyncEndpoint } from './uplink-protocol.js';

/** Calls RPCs on connected subclouds; implemented by the uplink server. */
export interface UplinkTransport {
  /** Rejects on deadline, disconnect or an error answer. */
  call(name: string, method: RpcMethod, params: unknown, deadlineMs: number): Promise<unknown>;
  /** Closes the subcloud's uplink (deleted, or its certificate replaced). */
  disconnect(name: string): void;
}

/** What the pushes need from the subcloud state. */
interface PushHooks {
  /** Whether the push is still wanted: managed, online, connected, endpoint out-of-sync. */
  canPush(name: string, endpoint: SyncEndpoint): boolean;
  /** The subcloud applied a push and now holds `revision`. */
  applied(name: string, endpoint: SyncEndpoint, revision: string): Promise<void>;
  /** Issues (and records) a new uplink certificate for the subcloud's CSR; returns the PEM. */
  renew(name: string, csrPem: string): Promise<string>;
  /** The desired resources of an endpoint changed (its revision is already updated). */
  desiredChanged(endpoint: SyncEndpoint): Promise<void>;
}

export interface EndpointSyncOptions {
  sources: readonly SyncSource[];
  transport: UplinkTransport;
  logger: Logger;
  hooks: PushHooks;
  maxInFlight: number;
  rpcDeadlineMs: number;
  /** Timers and randomness of the push retries (tests drive them by hand); default the real ones. */
  retry?: PushRetryOptions | undefined;
}

/** How failed pushes are retried; every field has a default. */
export interface PushRetryOptions {
  timers?: RetryTimers | undefined;
  random?: (() => number) | undefined;
  /** First retry delay before jitter (default 30 s); it doubles per failure up to `maxDelayMs`. */
  baseDelayMs?: number | undefined;
  /** Longest delay before jitter (default 10 min). */
  maxDelayMs?: number | undefined;
  /** Retries running at once (default half of maxInFlight, at least 1), so fresh pushes keep slots. */
  maxInFlight?: number | undefined;
}

/** setTimeout/clearTimeout, injectable. */
export interface RetryTimers {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: RetryTimers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
const RETRY_BASE_MS = 30_000;
const RETRY_CAP_MS = 600_000;
/** 2^20 × 30 s is far past any cap; stopping there keeps the arithmetic finite. */
const MAX_RETRY_EXPONENT = 20;

/**
 * Delay before retry number `failures` (1 for the first): "equal jitter", a uniform draw from
 * [d/2, d) with d = min(cap, base × 2^(failures−1)). The floor of d/2 keeps a stuck subcloud from
 * being hammered; the jitter spreads 20,000 subclouds that failed in the same second.
 */
export function pushRetryDelayMs(
  failures: number,
  random: () => number,
  baseMs = RETRY_BASE_MS,
  capMs = RETRY_CAP_MS,
): number {
  const exponent = Math.min(Math.max(failures - 1, 0), MAX_RETRY_EXPONENT);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  const draw = Math.min(Math.max(random(), 0), 1);
  return Math.floor(ceiling / 2 + (draw * ceiling) / 2);
}

/** A failed push waiting for its retry timer, or (timer fired) in the retry queue. */
interface Retry {
  failures: number;
  timer: unknown;
}

interface Desired {
  revision: string;
  resources: unknown[];
}

/**
 * Desired state per endpoint (cached revision of each source, recomputed on its change) and the
 * pushes to subclouds: a queue with at most `maxInFlight` RPCs at once, one entry per
 * (subcloud, endpoint); a push asked for while the same one runs runs again after it, with the then
 * desired resources. The triggers are digests, deltas, source changes and manage; a push that fails
 * (refused, deadline, disconnect) is retried after a jittered exponential backoff (30 s doubling to
 * 10 min), through the same queue but with at most `retry.maxInFlight` retries running, so a fleet
 * that failed together neither stampedes nor starves fresh pushes. A retry is dropped when the push
 * stops being wanted (`canPush`: offline, unmanaged, deleted, in-sync) or succeeds, and cancelled
 * at once by cancelRetries() (offline, unmanage, delete).
 */
export class EndpointSync {
  private readonly desired = new Map<SyncEndpoint, Desired>();
  private readonly unsubscribes: (() => void)[] = [];
  private readonly refreshing = new Map<SyncEndpoint, Promise<void>>();
  private readonly stale = new Set<SyncEndpoint>();
  private queue: string[] = [];
  private head = 0;
  private readonly waiting = new Set<string>();
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private idle: (() => void)[] = [];
  private readonly retries = new Map<string, Retry>();
  /** Retries whose timer fired, waiting for a retry slot (bounded by the retries map). */
  private retryQueue: string[] = [];
  private retryHead = 0;
  private readonly runningRetries = new Set<string>();
  private readonly timers: RetryTimers;
  private readonly random: () => number;
  private readonly maxRetriesInFlight: number;

  constructor(private readonly options: EndpointSyncOptions) {
    this.timers = options.retry?.timers ?? REAL_TIMERS;
    this.random = options.retry?.random ?? Math.random;
    this.maxRetriesInFlight = options.retry?.maxInFlight ?? Math.max(1, Math.floor(options.maxInFlight / 2));
  }

  /** Computes every source's desired revision and subscribes to their changes. */
  async open(): Promise<void> {
    for (const source of this.options.sources) {
      await this.load(source);
      this.unsubscribes.push(source.onChange(() => void this.refresh(source)));
    }
  }

  close(): void {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    for (const retry of this.retries.values()) this.timers.clearTimeout(retry.timer);
    this.retries.clear();
    this.retryQueue = [];
    this.retryHead = 0;
  }

  /** Drops the pending retries of a subcloud (it went offline, was unmanaged or deleted). */
  cancelRetries(name: string): void {
    const prefix = `${name}\u0000`;
    for (const [key, retry] of this.retries) {
      if (!key.startsWith(prefix)) continue;
      this.timers.clearTimeout(retry.timer);
      this.retries.delete(key);
    }
  }

  desiredRevision(endpoint: SyncEndpoint): string | undefined {
    return this.desired.get(endpoint)?.revision;
  }

  /** Queues a push of `endpoint` to subcloud `name` (deduplicated). */
  enqueue(name: string, endpoint: SyncEndpoint): void {
    const key = `${name}\u0000${endpoint}`;
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.waiting.has(key)) return;
    this.waiting.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Resolves when no push is queued or running and no source is being re-read. */
  async settled(): Promise<void> {
    while (this.refreshing.size > 0) await Promise.all(this.refreshing.values());
    if (this.running.size === 0 && this.head >= this.queue.length) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
    await this.settled();
  }

  private async load(source: SyncSource): Promise<void> {
    const resources = await source.desired();
    this.desired.set(source.endpoint, { revision: syncRevision(resources), resources });
  }

  /** Re-reads a changed source; changes that arrive meanwhile cause one more read, not one each. */
  private async refresh(source: SyncSource): Promise<void> {
    const endpoint = source.endpoint;
    if (this.refreshing.has(endpoint)) {
      this.stale.add(endpoint);
      return;
    }
    const work = (async () => {
      do {
        this.stale.delete(endpoint);
        const before = this.desired.get(endpoint)?.revision;
        try {
          await this.load(source);
          if (this.desired.get(endpoint)?.revision !== before)
            await this.options.hooks.desiredChanged(endpoint);
        } catch (error) {
          this.options.logger.error(
            { endpoint, err: error },
            'could not read the desired state of a sync endpoint',
          );
        }
      } while (this.stale.has(endpoint));
    })();
    this.refreshing.set(endpoint, work);
    await work;
    this.refreshing.delete(endpoint);
  }

  private pump(): void {
    while (this.running.size < this.options.maxInFlight && this.head < this.queue.length) {
      const key = this.queue[this.head++] as string;
      this.waiting.delete(key);
      this.start(key, false);
    }
    while (
      this.running.size < this.options.maxInFlight &&
      this.runningRetries.size < this.maxRetriesInFlight &&
      this.retryHead < this.retryQueue.length
    ) {
      const key = this.retryQueue[this.retryHead++] as string;
      // Pushed again meanwhile (running or queued), or dropped: that push decides.
      if (this.running.has(key) || this.waiting.has(key) || !this.retries.has(key)) continue;
      this.start(key, true);
    }
    if (this.retryHead > 1024 && this.retryHead * 2 > this.retryQueue.length) {
      this.retryQueue = this.retryQueue.slice(this.retryHead);
      this.retryHead = 0;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.running.size === 0 && this.head >= this.queue.length) {
      for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  private start(key: string, isRetry: boolean): void {
    this.running.add(key);
    if (isRetry) this.runningRetries.add(key);
    void this.run(key)
      .then((outcome) => this.settle(key, outcome))
      .finally(() => {
        this.running.delete(key);
        this.runningRetries.delete(key);
        if (this.again.delete(key)) {
          this.waiting.add(key);
          this.queue.push(key);
        }
        this.pump();
      });
  }

  /** Schedules the next retry after a failure; forgets the retry when the push is done or unwanted. */
  private settle(key: string, outcome: 'done' | 'failed'): void {
    const earlier = this.retries.get(key);
    if (earlier !== undefined) this.timers.clearTimeout(earlier.timer);
    if (outcome === 'done') {
      this.retries.delete(key);
      return;
    }
    const failures = (earlier?.failures ?? 0) + 1;
    const { baseDelayMs, maxDelayMs } = this.options.retry ?? {};
    const delayMs = pushRetryDelayMs(failures, this.random, baseDelayMs, maxDelayMs);
    const timer = this.timers.setTimeout(() => {
      if (this.retries.get(key)?.timer !== timer) return;
      this.retryQueue.push(key);
      this.pump();
    }, delayMs);
    this.retries.set(key, { failures, timer });
    const [name, endpoint] = key.split('\u0000');
    this.options.logger.info({ subcloud: name, endpoint, failures, delayMs }, 'push retry scheduled');
  }

  /** One push; `done` also when it is no longer wanted (which drops any pending retry). */
  private async run(key: string): Promise<'done' | 'failed'> {
    const [name = '', endpoint] = key.split('\u0000') as [string, SyncEndpoint];
    const { hooks, transport, rpcDeadlineMs } = this.options;
    if (!hooks.canPush(name, endpoint)) return 'done';
    try {
      if (endpoint === 'dc-cert') {
        const renewed = (await transport.call(name, 'dc-cert.renew', {}, rpcDeadlineMs)) as { csr?: unknown };
        if (typeof renewed?.csr !== 'string') throw new Error('dc-cert.renew answered without a csr');
        const certificate = await hooks.renew(name, renewed.csr);
        await transport.call(name, 'dc-cert.install', { certificate }, rpcDeadlineMs);
        return 'done';
      }
      const desired = this.desired.get(endpoint);
      if (!desired) return 'done';
      const params = { endpoint, resources: desired.resources };
      const result = (await transport.call(name, 'sync.apply', params, rpcDeadlineMs)) as {
        revision?: unknown;
      };
      if (typeof result?.revision !== 'string') throw new Error('sync.apply answered without a revision');
      await hooks.applied(name, endpoint, result.revision);
      return 'done';
    } catch (error) {
      this.options.logger.warn(
        { subcloud: name, endpoint, err: error instanceof Error ? error.message : String(error) },
        'push to subcloud failed; it is retried with backoff while it stays out-of-sync',
      );
      return 'failed';
    }
  }
}
