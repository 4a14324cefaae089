import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Database } from '../../core/db/database.js';
import { conflict, invalidInput, notFound } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  buildEvent,
  changedValues,
  DEFAULT_CLUSTER,
  isCoveredBy,
  type OranEvent,
  parseResourceAddress,
  type ResourceAddress,
  type ResourceValue,
  resourceValues,
} from './model.js';
import { OranPublisher } from './publisher.js';
import type { NodeSyncStatus, PtpStatusSource } from './status-source.js';
import { type OranSubscription, OranSubscriptionsStore } from './subscriptions-store.js';

interface OranNotificationServiceOptions {
  database: Database;
  source: PtpStatusSource;
  clock: Clock;
  logger: Logger;
  /** The cluster name in resource addresses; default `.`, as StarlingX. */
  cluster?: string | undefined;
  /** Passed to the publisher; default 0.5, 1, 2, 4, 8 s. */
  retryDelaysMs?: readonly number[] | undefined;
}

/** A resource a node publishes, as `GET /publishers` lists it. */
interface OranPublisherInfo {
  id: string;
  resourceAddress: string;
}

interface ActiveSubscription {
  subscription: OranSubscription;
  address: ResourceAddress;
}

const MAX_URI_LENGTH = 2_048;

/**
 * Use cases of the O-RAN notification API: subscriptions (stored; kept in memory for fan-out), pulls
 * of the current state, and turning PTP status changes into pushed events.
 * Lifecycle: created → start() (loads subscriptions, listens to the source) → close().
 */
export class OranNotificationService {
  private readonly store: OranSubscriptionsStore;
  private readonly publisher: OranPublisher;
  private readonly active = new Map<string, ActiveSubscription>();
  private unsubscribe: (() => void) | undefined;
  /** The cluster name in resource addresses. */
  readonly cluster: string;

  constructor(private readonly options: OranNotificationServiceOptions) {
    this.cluster = options.cluster ?? DEFAULT_CLUSTER;
    this.store = new OranSubscriptionsStore(options.database);
    this.publisher = new OranPublisher({ logger: options.logger, retryDelaysMs: options.retryDelaysMs });
  }

  /** Loads the stored subscriptions and starts pushing events for status changes. */
  async start(): Promise<void> {
    for (const subscription of await this.store.list()) {
      const address = parseResourceAddress(subscription.resourceAddress, this.cluster);
      this.active.set(subscription.id, { subscription, address });
    }
    this.unsubscribe = this.options.source.onChange((status, previous) =>
      this.publishChange(status, previous),
    );
    await this.publisher.prepare();
  }

  /** Stops pushing; events still waiting are dropped. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.publisher.close();
  }

  /** Subscribes an endpoint; throws invalid_input, not_found (no such node) or conflict (already). */
  async subscribe(input: { endpointUri: unknown; resourceAddress: unknown }): Promise<OranSubscription> {
    const endpointUri = checkEndpointUri(input.endpointUri);
    if (typeof input.resourceAddress !== 'string') {
      throw invalidInput('ResourceAddress', 'ResourceAddress is required, e.g. "/./controller-0/sync"');
    }
    const address = parseResourceAddress(input.resourceAddress, this.cluster);
    if (this.options.source.current(address.node) === undefined) throw notFound('PTP node', address.node);
    const subscription: OranSubscription = {
      id: randomUUID(),
      endpointUri,
      resourceAddress: input.resourceAddress,
      createdAt: this.options.clock.now().toISOString(),
    };
    if (!(await this.store.insert(subscription))) {
      throw conflict(
        `endpoint "${endpointUri}" is already subscribed to "${input.resourceAddress}"; delete that subscription first`,
      );
    }
    this.active.set(subscription.id, { subscription, address });
    return subscription;
  }

  /** Every subscription. */
  listSubscriptions(): Promise<OranSubscription[]> {
    return this.store.list();
  }

  /** One subscription; throws not_found. */
  async getSubscription(id: string): Promise<OranSubscription> {
    const subscription = await this.store.find(id);
    if (subscription === undefined) throw notFound('subscription', id);
    return subscription;
  }

  /** Deletes a subscription and drops its waiting events; throws not_found. */
  async deleteSubscription(id: string): Promise<void> {
    this.active.delete(id);
    this.publisher.forget(id);
    if (!(await this.store.delete(id))) throw notFound('subscription', id);
  }

  /**
   * The current value of a resource as an event, or of every resource under a shorter address as a
   * list of events; throws invalid_input, not_found.
   */
  currentState(addressText: string): OranEvent | OranEvent[] {
    const address = parseResourceAddress(addressText, this.cluster);
    const status = this.options.source.current(address.node);
    if (status === undefined) throw notFound('PTP node', address.node);
    const values = this.valuesUnder(status, address);
    if (values.length === 0) throw notFound('resource', addressText);
    const time = this.options.clock.now();
    const events = values.map((value) => buildEvent(value, { id: randomUUID(), time }));
    const isOneResource = values.length === 1 && values[0]?.path === address.path;
    return isOneResource && events[0] !== undefined ? events[0] : events;
  }

  /** Every resource with data, one per node and resource. */
  listPublishers(): OranPublisherInfo[] {
    return this.options.source
      .list()
      .flatMap((status) => resourceValues(status, this.cluster))
      .map((value) => ({ id: publisherId(value.address), resourceAddress: value.address }));
  }

  private valuesUnder(status: NodeSyncStatus, address: ResourceAddress): ResourceValue[] {
    return resourceValues(status, this.cluster).filter((value) =>
      isCoveredBy({ cluster: this.cluster, node: status.node, path: value.path }, address),
    );
  }

  private publishChange(status: NodeSyncStatus, previous: NodeSyncStatus | undefined): void {
    // A change from a new ptp4l observation carries the time of that pmc poll, so a receiver can tell
    // how long detection and delivery took; any other change (OS clock, GNSS) is stamped now.
    const observedAt = new Date(status.ptp.observedAt);
    const isNewObservation =
      previous === undefined || observedAt.getTime() !== new Date(previous.ptp.observedAt).getTime();
    const time = isNewObservation ? observedAt : this.options.clock.now();
    for (const value of changedValues(status, previous, this.cluster)) {
      const resource = { cluster: this.cluster, node: status.node, path: value.path };
      const subscribers = [...this.active.values()]
        .filter((active) => isCoveredBy(resource, active.address))
        .map(({ subscription }) => ({ id: subscription.id, endpointUri: subscription.endpointUri }));
      if (subscribers.length === 0) continue;
      this.publisher.publish(buildEvent(value, { id: randomUUID(), time }), subscribers);
    }
  }
}

function checkEndpointUri(value: unknown): string {
  const fail = (why: string) =>
    invalidInput(
      'EndpointUri',
      `EndpointUri ${why}; give an absolute http(s) URL such as "http://127.0.0.1:9090/events"`,
    );
  if (typeof value !== 'string' || value === '') throw fail('is required');
  if (value.length > MAX_URI_LENGTH) throw fail(`is longer than ${MAX_URI_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail(`"${value}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw fail(`"${value}" is not http or https`);
  if (url.username !== '' || url.password !== '') throw fail(`"${value}" must not carry credentials`);
  return value;
}

/** A stable id per resource address, so a publisher keeps its id across restarts. */
function publisherId(address: string): string {
  return Buffer.from(address).toString('base64url');
}
