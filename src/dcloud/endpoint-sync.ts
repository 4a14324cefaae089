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
}

interface Desired {
  revision: string;
  resources: unknown[];
}

/**
 * Desired state per endpoint (cached revision of each source, recomputed on its change) and the
 * pushes to subclouds: a queue with at most `maxInFlight` RPCs at once, one entry per
 * (subcloud, endpoint); a push asked for while the same one runs runs again after it, with the then
 * desired resources. Nothing retries on its own: the triggers are digests, deltas, source changes
 * and manage, so a subcloud that cannot converge is not pushed to in a loop.
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

  constructor(private readonly options: EndpointSyncOptions) {}

  /** Computes every source's desired revision and subscribes to their changes. */
  async open(): Promise<void> {
    for (const source of this.options.sources) {
      await this.load(source);
      this.unsubscribes.push(source.onChange(() => void this.refresh(source)));
    }
  }

  close(): void {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
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
      this.running.add(key);
      void this.run(key).finally(() => {
        this.running.delete(key);
        if (this.again.delete(key)) {
          this.waiting.add(key);
          this.queue.push(key);
        }
        this.pump();
      });
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.running.size === 0 && this.head >= this.queue.length) {
      for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  private async run(key: string): Promise<void> {
    const [name = '', endpoint] = key.split('\u0000') as [string, SyncEndpoint];
    const { hooks, transport, rpcDeadlineMs } = this.options;
    if (!hooks.canPush(name, endpoint)) return;
    try {
      if (endpoint === 'dc-cert') {
        const renewed = (await transport.call(name, 'dc-cert.renew', {}, rpcDeadlineMs)) as { csr?: unknown };
        if (typeof renewed?.csr !== 'string') throw new Error('dc-cert.renew answered without a csr');
        const certificate = await hooks.renew(name, renewed.csr);
        await transport.call(name, 'dc-cert.install', { certificate }, rpcDeadlineMs);
        return;
      }
      const desired = this.desired.get(endpoint);
      if (!desired) return;
      const params = { endpoint, resources: desired.resources };
      const result = (await transport.call(name, 'sync.apply', params, rpcDeadlineMs)) as {
        revision?: unknown;
      };
      if (typeof result?.revision !== 'string') throw new Error('sync.apply answered without a revision');
      await hooks.applied(name, endpoint, result.revision);
    } catch (error) {
      this.options.logger.warn(
        { subcloud: name, endpoint, err: error instanceof Error ? error.message : String(error) },
        'push to subcloud failed; it stays out-of-sync until its next digest or a source change',
      );
    }
  }
}
