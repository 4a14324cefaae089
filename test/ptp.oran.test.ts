import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type CloudEvent, HTTP } from 'cloudevents';
import { type Database, openDatabase } from '../src/core/db/database.js';
import { migrateToLatest } from '../src/core/db/migrate.js';
import { createLogger } from '../src/core/log.js';
import { oranSubscriptionsMigration } from '../src/ptp/oran/migrations/0012-oran-subscriptions.js';
import { OranNotificationServer } from '../src/ptp/oran/server.js';
import { OranNotificationService } from '../src/ptp/oran/service.js';
import type { NodeSyncListener, NodeSyncStatus, PtpStatusSource } from '../src/ptp/oran/status-source.js';
import { initialSyncStatus, type PtpSyncStatus } from '../src/ptp/sync-state.js';
import { FakeClock } from './helpers/clock.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';

const NODE = 'controller-0';
const LOCK_STATE = `/./${NODE}/sync/ptp-status/lock-state`;
const CLOCK_CLASS = `/./${NODE}/sync/ptp-status/clock-class`;
const SYNC_STATE = `/./${NODE}/sync/sync-status/sync-state`;
const OS_CLOCK = `/./${NODE}/sync/sync-status/os-clock-sync-state`;

function buildPtpStatus(overrides: Partial<PtpSyncStatus> = {}): PtpSyncStatus {
  return { ...initialSyncStatus(new Date('2026-01-01T00:00:00.000Z')), ...overrides };
}

const LOCKED = { state: 'LOCKED', clockClass: 6, isRunning: true, source: 'ptp' } as const;
const HOLDOVER = { state: 'HOLDOVER', clockClass: 7, isRunning: true, source: 'none' } as const;
const FREERUN = { state: 'FREERUN', clockClass: 248, isRunning: true, source: 'none' } as const;

/** A fake of our own PtpStatusSource interface: the test sets each node's status. */
class FakePtpStatusSource implements PtpStatusSource {
  private readonly nodes = new Map<string, NodeSyncStatus>();
  private readonly listeners = new Set<NodeSyncListener>();

  set(status: NodeSyncStatus): void {
    const previous = this.nodes.get(status.node);
    this.nodes.set(status.node, status);
    for (const listener of this.listeners) listener(status, previous);
  }

  setPtp(overrides: Partial<PtpSyncStatus>, node = NODE): void {
    this.set({ ...this.nodes.get(node), node, ptp: buildPtpStatus(overrides) });
  }

  list(): readonly NodeSyncStatus[] {
    return [...this.nodes.values()];
  }

  current(node: string): NodeSyncStatus | undefined {
    return this.nodes.get(node);
  }

  onChange(listener: NodeSyncListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on 127.0.0.1; answers 503 to the first `failures` requests, then 204. */
class Receiver {
  readonly received: Received[] = [];
  failures = 0;
  attempts = 0;
  private readonly server = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      this.attempts += 1;
      if (this.attempts <= this.failures) {
        response.statusCode = 503;
        response.end();
        return;
      }
      this.received.push({ path: request.url ?? '', headers: request.headers, body });
      for (const wake of this.waiters.splice(0)) wake();
      response.statusCode = 204;
      response.end();
    });
  });
  private port = 0;
  private waiters: Array<() => void> = [];

  url(path = '/events'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Resolves once `count` events arrived (at `path`, if given). */
  async waitFor(count: number, path?: string, timeoutMs = 5_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const matching = this.received.filter((r) => path === undefined || r.path === path);
      if (matching.length >= count) return matching;
      if (Date.now() > deadline) throw new Error(`got ${matching.length} of ${count} events`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

/** A running API: database, service and listener on 127.0.0.1:0. */
interface Api {
  base: string;
  port: number;
  service: OranNotificationService;
  stop(): Promise<void>;
}

async function startApi(url: string, source: PtpStatusSource, clock: FakeClock): Promise<Api> {
  const database: Database = await openDatabase(url);
  await migrateToLatest(database, [oranSubscriptionsMigration]);
  const logger = createLogger('silent');
  const service = new OranNotificationService({
    database,
    source,
    clock,
    logger,
    retryDelaysMs: [10, 20, 40],
  });
  await service.start();
  const server = new OranNotificationServer({ service, logger });
  const port = await server.listen(0, '127.0.0.1');
  return {
    base: `http://127.0.0.1:${port}/ocloudNotifications/v2`,
    port,
    service,
    async stop() {
      await server.close();
      await service.close();
      await database.close();
    },
  };
}

async function subscribe(api: Api, endpointUri: string, resourceAddress: string) {
  const response = await fetch(`${api.base}/subscriptions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ EndpointUri: endpointUri, ResourceAddress: resourceAddress }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

/** GET with the path sent as is (fetch would remove the `/./` of a StarlingX address). */
function rawGet(port: number, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) }));
      })
      .on('error', reject);
  });
}

function toCloudEvent(
  received: Received,
): CloudEvent<{ version: string; values: Array<Record<string, unknown>> }> {
  const event = HTTP.toEvent({ headers: received.headers as Record<string, string>, body: received.body });
  assert.ok(!Array.isArray(event), 'one event per POST');
  return event as CloudEvent<{ version: string; values: Array<Record<string, unknown>> }>;
}

for (const backend of BACKENDS) {
  describe(`O-RAN notification API subscriptions on ${backend.name}`, () => {
    let testDb: TestDatabase;
    let receiver: Receiver;
    const source = new FakePtpStatusSource();
    const clock = new FakeClock();

    before(async () => {
      testDb = await backend.create();
      receiver = await new Receiver().listen();
      source.setPtp(LOCKED);
    });
    after(async () => {
      await receiver.close();
      await testDb.drop();
    });

    test('creates, lists, shows and deletes subscriptions that outlive a restart', async () => {
      let api = await startApi(testDb.url, source, clock);
      const created = await subscribe(api, receiver.url(), LOCK_STATE);
      assert.equal(created.status, 201);
      const id = created.body.SubscriptionId ?? '';
      assert.deepEqual(created.body, {
        SubscriptionId: id,
        ResourceAddress: LOCK_STATE,
        EndpointUri: receiver.url(),
        UriLocation: `${api.base}/subscriptions/${id}`,
      });
      assert.equal((await subscribe(api, receiver.url(), LOCK_STATE)).status, 409);
      await api.stop();

      api = await startApi(testDb.url, source, clock);
      const listed = (await (await fetch(`${api.base}/subscriptions`)).json()) as Array<
        Record<string, string>
      >;
      assert.deepEqual(
        listed.map((s) => s.SubscriptionId),
        [id],
      );
      const shown = await fetch(`${api.base}/subscriptions/${id}`);
      assert.equal(shown.status, 200);
      assert.equal(((await shown.json()) as Record<string, string>).ResourceAddress, LOCK_STATE);

      // The restarted server still pushes to the stored subscription.
      source.setPtp(HOLDOVER);
      const [event] = await receiver.waitFor(1);
      assert.equal(toCloudEvent(event as Received).type, 'event.sync.ptp-status.ptp-state-change');

      assert.equal((await fetch(`${api.base}/subscriptions/${id}`, { method: 'DELETE' })).status, 204);
      assert.equal((await fetch(`${api.base}/subscriptions/${id}`)).status, 404);
      assert.equal((await fetch(`${api.base}/subscriptions/${id}`, { method: 'DELETE' })).status, 404);
      await api.stop();
    });

    test('refuses a bad EndpointUri or ResourceAddress with 400 and a message', async () => {
      const api = await startApi(testDb.url, source, clock);
      const cases: Array<[string, string, RegExp]> = [
        ['ftp://127.0.0.1/x', LOCK_STATE, /EndpointUri "ftp:.*" is not http or https/],
        ['not a url', LOCK_STATE, /EndpointUri "not a url" is not a URL/],
        [receiver.url(), './controller-0/sync', /must start with "\/"/],
        [receiver.url(), '/cluster-9/controller-0/sync', /names cluster "cluster-9"/],
        [receiver.url(), `/./${NODE}/sync/ptp-status/bogus`, /unknown resource "\/sync\/ptp-status\/bogus"/],
        [receiver.url(), `/./${NODE}/ptp4l-1/sync`, /instance addresses are not supported/],
      ];
      for (const [endpointUri, address, message] of cases) {
        const answer = await subscribe(api, endpointUri, address);
        assert.equal(answer.status, 400, `${endpointUri} ${address}`);
        assert.match(answer.body.message ?? '', message);
      }
      assert.equal((await subscribe(api, receiver.url(), '/./compute-7/sync')).status, 404);
      const notJson = await fetch(`${api.base}/subscriptions`, { method: 'POST', body: '{' });
      assert.equal(notJson.status, 400);
      await api.stop();
    });
  });
}

describe('O-RAN notification API', () => {
  let testDb: TestDatabase;
  let receiver: Receiver;
  let api: Api;
  const source = new FakePtpStatusSource();
  const clock = new FakeClock('2026-03-01T12:00:00.000Z');

  before(async () => {
    testDb = await (BACKENDS[0] ?? assert.fail('no backend')).create();
    receiver = await new Receiver().listen();
    source.setPtp(LOCKED);
    source.setPtp({ ...FREERUN, isRunning: false }, 'worker-1');
    api = await startApi(testDb.url, source, clock);
  });
  after(async () => {
    await api.stop();
    await receiver.close();
    await testDb.drop();
  });

  test('answers health', async () => {
    const response = await fetch(`${api.base}/health`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'OK' });
  });

  test('answers CurrentState pulls for a resource and for every resource under an address', async () => {
    const lock = await rawGet(api.port, `/ocloudNotifications/v2${LOCK_STATE}/CurrentState`);
    assert.equal(lock.status, 200);
    const event = lock.body as { type: string; source: string; time: string; data: unknown };
    assert.equal(event.type, 'event.sync.ptp-status.ptp-state-change');
    assert.equal(event.source, '/sync/ptp-status/lock-state');
    assert.equal(event.time, '2026-03-01T12:00:00.000Z');
    assert.deepEqual(event.data, {
      version: '1.0',
      values: [
        {
          ResourceAddress: LOCK_STATE,
          data_type: 'notification',
          value_type: 'enumeration',
          value: 'LOCKED',
        },
      ],
    });

    // fetch removes "/./"; the percent-encoded form keeps it. Both name the same resource.
    const normalised = await fetch(`${api.base}/./${NODE}/sync/ptp-status/clock-class/CurrentState`);
    const encoded = await fetch(`${api.base}/${encodeURIComponent(CLOCK_CLASS)}/CurrentState`);
    for (const response of [normalised, encoded]) {
      const body = (await response.json()) as {
        data: { values: Array<{ value: unknown; value_type: string }> };
      };
      assert.equal(response.status, 200);
      assert.deepEqual(
        body.data.values.map((v) => [v.value, v.value_type]),
        [[6, 'metric']],
      );
    }

    const all = await rawGet(api.port, `/ocloudNotifications/v2/./${NODE}/sync/CurrentState`);
    const types = (all.body as Array<{ type: string }>).map((e) => e.type).sort();
    assert.deepEqual(types, [
      'event.sync.ptp-status.ptp-clock-class-change',
      'event.sync.ptp-status.ptp-state-change',
      'event.sync.sync-status.synchronization-state-change',
    ]);
    // No os-clock data on this node: that resource is not there.
    assert.equal((await rawGet(api.port, `/ocloudNotifications/v2${OS_CLOCK}/CurrentState`)).status, 404);
    assert.equal(
      (await rawGet(api.port, '/ocloudNotifications/v2/./nowhere-3/sync/CurrentState')).status,
      404,
    );
  });

  test('lists publishers for each resource with data', async () => {
    const response = await fetch(`${api.base}/publishers`);
    const publishers = (await response.json()) as Array<{ ResourceAddress: string }>;
    assert.ok(publishers.some((p) => p.ResourceAddress === LOCK_STATE));
    assert.ok(publishers.some((p) => p.ResourceAddress === '/./worker-1/sync/sync-status/sync-state'));
    assert.ok(!publishers.some((p) => p.ResourceAddress === OS_CLOCK));
  });

  test('pushes a status change as a CloudEvent the cloudevents SDK parses', async () => {
    const path = '/push';
    const created = await subscribe(api, receiver.url(path), `/./${NODE}/sync`);
    assert.equal(created.status, 201);
    clock.advance(5);
    source.set({ node: NODE, ptp: buildPtpStatus(HOLDOVER), osClock: 'HOLDOVER' });
    const received = await receiver.waitFor(4, path);
    const events = received.map(toCloudEvent);
    const byType = new Map(events.map((e) => [e.type, e]));
    assert.deepEqual([...byType.keys()].sort(), [
      'event.sync.ptp-status.ptp-clock-class-change',
      'event.sync.ptp-status.ptp-state-change',
      'event.sync.sync-status.os-clock-sync-state-change',
      'event.sync.sync-status.synchronization-state-change',
    ]);
    const lock = byType.get('event.sync.ptp-status.ptp-state-change');
    assert.equal(lock?.specversion, '1.0');
    assert.equal(lock?.source, '/sync/ptp-status/lock-state');
    assert.equal(lock?.time, '2026-03-01T12:00:05.000Z');
    assert.deepEqual(lock?.data, {
      version: '1.0',
      values: [
        {
          ResourceAddress: LOCK_STATE,
          data_type: 'notification',
          value_type: 'enumeration',
          value: 'HOLDOVER',
        },
      ],
    });
    const clockClass = byType.get('event.sync.ptp-status.ptp-clock-class-change');
    assert.deepEqual(clockClass?.data?.values, [
      { ResourceAddress: CLOCK_CLASS, data_type: 'metric', value_type: 'metric', value: 7 },
    ]);
    const sync = byType.get('event.sync.sync-status.synchronization-state-change');
    assert.equal(sync?.data?.values[0]?.ResourceAddress, SYNC_STATE);
    assert.equal(sync?.data?.values[0]?.value, 'HOLDOVER');
    await fetch(`${api.base}/subscriptions/${created.body.SubscriptionId}`, { method: 'DELETE' });
  });

  test('stamps an event with the time of the pmc observation that saw the change', async () => {
    const path = '/observed';
    const created = await subscribe(api, receiver.url(path), LOCK_STATE);
    const observedAt = new Date('2026-03-01T12:00:04.125Z');
    source.setPtp({ ...FREERUN, observedAt });
    const [received] = await receiver.waitFor(1, path);
    assert.ok(received);
    const event = toCloudEvent(received);
    assert.equal(event.data?.values[0]?.value, 'FREERUN');
    assert.equal(event.time, observedAt.toISOString());
    await fetch(`${api.base}/subscriptions/${created.body.SubscriptionId}`, { method: 'DELETE' });
  });

  test('delivers every event in order to a receiver that fails the first attempts', async (t) => {
    const flaky = await new Receiver().listen();
    t.after(() => flaky.close());
    flaky.failures = 3;
    const created = await subscribe(api, flaky.url(), LOCK_STATE);
    const states = [LOCKED, HOLDOVER, FREERUN, LOCKED, HOLDOVER] as const;
    for (const state of states) source.setPtp(state);
    const received = await flaky.waitFor(states.length);
    assert.deepEqual(
      received.map((r) => toCloudEvent(r).data?.values[0]?.value),
      states.map((s) => s.state),
    );
    assert.equal(flaky.attempts, states.length + 3);
    await fetch(`${api.base}/subscriptions/${created.body.SubscriptionId}`, { method: 'DELETE' });
  });

  test('drops an event after its last attempt and then sends the next ones in order', async (t) => {
    const down = await new Receiver().listen();
    t.after(() => down.close());
    // 4 attempts per event (retry delays 10, 20, 40 ms): the first event uses them all up.
    down.failures = 4;
    const created = await subscribe(api, down.url(), LOCK_STATE);
    source.setPtp(FREERUN);
    source.setPtp(LOCKED);
    source.setPtp(HOLDOVER);
    const received = await down.waitFor(2);
    assert.deepEqual(
      received.map((r) => toCloudEvent(r).data?.values[0]?.value),
      ['LOCKED', 'HOLDOVER'],
    );
    assert.equal(down.attempts, 6);
    await fetch(`${api.base}/subscriptions/${created.body.SubscriptionId}`, { method: 'DELETE' });
  });

  test('sends nothing more after a subscription is deleted', async (t) => {
    const gone = await new Receiver().listen();
    t.after(() => gone.close());
    const fence = await new Receiver().listen();
    t.after(() => fence.close());
    const created = await subscribe(api, gone.url(), CLOCK_CLASS);
    await subscribe(api, fence.url(), CLOCK_CLASS);
    source.setPtp({ ...LOCKED, clockClass: 6 });
    await gone.waitFor(1);
    await fence.waitFor(1);
    assert.equal(
      (await fetch(`${api.base}/subscriptions/${created.body.SubscriptionId}`, { method: 'DELETE' })).status,
      204,
    );
    source.setPtp(FREERUN);
    // The fence got the second event, so the deleted one would have had it too by now.
    await fence.waitFor(2);
    assert.equal(gone.received.length, 1);
  });

  test('fans one change out to 100 subscribers', async (t) => {
    const fan = await new Receiver().listen();
    t.after(() => fan.close());
    const count = 100;
    for (let i = 0; i < count; i++) {
      assert.equal(
        (await subscribe(api, fan.url(`/s/${i}`), `/./worker-1/sync/ptp-status/lock-state`)).status,
        201,
      );
    }
    source.setPtp(LOCKED, 'worker-1');
    const received = await fan.waitFor(count);
    assert.equal(new Set(received.map((r) => r.path)).size, count);
    assert.ok(received.every((r) => toCloudEvent(r).data?.values[0]?.value === 'LOCKED'));
  });
});
