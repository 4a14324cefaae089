import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { ensureSitePki } from '../src/certs/site-pki.js';
import { type Database, openDatabase } from '../src/core/db/database.js';
import { migrateToLatest } from '../src/core/db/migrate.js';
import { AppError } from '../src/core/errors.js';
import type { Principal } from '../src/core/http/access.js';
import { createHttpMetrics } from '../src/core/http/metrics.js';
import { createHttpServer } from '../src/core/http/server.js';
import { createLogger } from '../src/core/log.js';
import { faultWebhooksMigration } from '../src/fault/migrations/0003-fault-webhooks.js';
import type { AlarmChange } from '../src/fault/model.js';
import { registerAlarmWebhookRoutes } from '../src/fault/webhook-routes.js';
import { AlarmWebhookService, type AlarmWebhookView } from '../src/fault/webhook-service.js';
import { AlarmWebhookStore } from '../src/fault/webhook-store.js';
import { FakeClock } from './helpers/clock.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { makeTempDir } from './helpers/processes.js';

const SECRET = 'whsec-0123456789abcdef';

let eventCounter = 0;
function buildChange(overrides: { kind?: AlarmChange['kind']; alarm?: Partial<AlarmChange['alarm']> } = {}) {
  eventCounter += 1;
  const change: AlarmChange = {
    kind: overrides.kind ?? 'raised',
    eventSeq: eventCounter,
    eventUuid: `event-${eventCounter}`,
    alarm: {
      uuid: 'alarm-1',
      alarmId: '100.101',
      entityTypeId: 'host',
      entityInstanceId: 'host=controller-0.processor=0',
      severity: 'major',
      reasonText: 'Platform CPU threshold exceeded; threshold 90%, actual 95%',
      raisedAt: '2026-01-01T00:00:00.000Z',
      timestamp: '2026-01-01T00:00:00.000Z',
      alarmType: 'operational-violation',
      probableCause: 'threshold-crossed',
      proposedRepairAction: 'Monitor and if condition persists, contact next level of support.',
      isServiceAffecting: false,
      isSuppressed: false,
      isMgmtAffecting: false,
      isDegradeAffecting: false,
      ...overrides.alarm,
    },
  };
  return change;
}

/** Stands in for the fault service: publishes synthetic changes to whoever subscribed. */
function createHub() {
  const listeners = new Set<(change: AlarmChange) => void>();
  return {
    subscribe(listener: (change: AlarmChange) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    publish(change: AlarmChange) {
      for (const listener of listeners) listener(change);
    },
    get listenerCount() {
      return listeners.size;
    },
  };
}

interface Received {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on 127.0.0.1 that records what it gets and answers `status`. */
class Receiver {
  readonly received: Received[] = [];
  status = 200;
  /** While set, answers wait for it: lets a test hold a delivery in flight. */
  gate: Promise<void> | undefined;
  private readonly server: http.Server | https.Server;
  private port = 0;
  private waiters: Array<() => void> = [];

  constructor(tlsOptions?: { key: string; cert: string }) {
    const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', async () => {
        this.received.push({ url: request.url ?? '', headers: request.headers, body });
        for (const wake of this.waiters.splice(0)) wake();
        await this.gate;
        response.statusCode = this.status;
        response.end('ok');
      });
    };
    this.server = tlsOptions ? https.createServer(tlsOptions, handler) : http.createServer(handler);
  }

  get url(): string {
    return `${this.server instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${this.port}/alarms`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Resolves when the next request has arrived. */
  nextRequest(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  eventIds(): string[] {
    return this.received.map((request) => String(request.headers['x-murm-event-id']));
  }
}

for (const backend of BACKENDS) {
  describe(`alarm webhooks on ${backend.name}`, () => {
    let testDb: TestDatabase;
    let database: Database;
    let clock: FakeClock;
    let hub: ReturnType<typeof createHub>;
    let receiver: Receiver;
    let failures: number;
    const services: AlarmWebhookService[] = [];

    const openService = () => {
      const service = new AlarmWebhookService({
        store: new AlarmWebhookStore(database),
        clock,
        alarmChanges: hub,
        logger: createLogger('silent'),
        random: () => 0.5, // no jitter: backoff is exactly 1, 2, 4, … s
        onDeliveryFailure: () => {
          failures += 1;
        },
      });
      services.push(service);
      return service;
    };
    const outboxRows = async () =>
      (await database.db
        .selectFrom('alarm_webhook_outbox')
        .select(['event_uuid', 'state', 'attempts'])
        .orderBy('created_at')
        .orderBy('event_uuid')
        .execute()) as { event_uuid: string; state: string; attempts: number }[];

    // One database per backend (creating and dropping one per test races pg's asynchronous pool end);
    // every test starts from empty tables and a fresh clock.
    before(async () => {
      testDb = await backend.create();
    });
    after(() => testDb.drop());
    beforeEach(async () => {
      database = await openDatabase(testDb.url);
      await migrateToLatest(database, [faultWebhooksMigration]);
      await database.db.deleteFrom('alarm_webhooks').execute();
      clock = new FakeClock();
      hub = createHub();
      receiver = await new Receiver().listen();
      failures = 0;
    });
    afterEach(async () => {
      for (const service of services.splice(0)) await service.stop();
      await receiver.close().catch(() => undefined);
      await database.close();
    });

    test('delivers a change with a valid HMAC signature and the event id header', async () => {
      const service = openService();
      const webhook = await service.create({ url: receiver.url, secret: SECRET });
      const change = buildChange();
      hub.publish(change);
      assert.equal(await service.deliverDue(), 1);
      assert.equal(receiver.received.length, 1);
      const [request] = receiver.received;
      assert.ok(request);
      assert.equal(request.headers['x-murm-event-id'], change.eventUuid);
      assert.equal(request.headers['x-murm-event'], 'raised');
      assert.equal(request.headers['content-type'], 'application/json');
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(request.headers['x-murm-signature']));
      assert.ok(match, String(request.headers['x-murm-signature']));
      assert.equal(Number(match[1]), Math.floor(clock.now().getTime() / 1000));
      const expected = createHmac('sha256', SECRET).update(`${match[1]}.${request.body}`).digest('hex');
      assert.equal(match[2], expected);
      assert.deepEqual(JSON.parse(request.body), {
        eventId: change.eventUuid,
        kind: 'raised',
        alarm: change.alarm,
      });

      const view = await service.get(webhook.id);
      assert.equal(view.lastDelivery.status, 'delivered');
      assert.equal(view.lastDelivery.statusCode, 200);
      assert.equal(view.lastDelivery.successAt, clock.now().toISOString());
      assert.equal(view.pendingCount, 0);
      assert.equal(await service.deliverDue(), 0, 'a delivered event is not sent again');
    });

    test('sends each webhook only the changes its filter matches', async () => {
      const service = openService();
      const critical = await service.create({
        url: receiver.url,
        secret: SECRET,
        filter: { minSeverity: 'critical', kinds: ['raised'], entityInstancePrefix: 'host=controller-0' },
      });
      await service.create({ url: `${receiver.url}?all`, secret: SECRET });
      const wanted = buildChange({ alarm: { severity: 'critical' } });
      hub.publish(buildChange({ alarm: { severity: 'major' } }));
      hub.publish(wanted);
      hub.publish(buildChange({ kind: 'cleared', alarm: { severity: 'critical' } }));
      hub.publish(buildChange({ alarm: { severity: 'critical', entityInstanceId: 'host=worker-1' } }));
      assert.equal(await service.deliverDue(), 5);
      const toFiltered = receiver.received.filter((request) => request.url === '/alarms');
      const toAll = receiver.received.filter((request) => request.url === '/alarms?all');
      assert.deepEqual(
        toFiltered.map((request) => request.headers['x-murm-event-id']),
        [wanted.eventUuid],
      );
      assert.equal(toAll.length, 4);
      const rows = await database.db
        .selectFrom('alarm_webhook_outbox')
        .select(['webhook_id', 'event_uuid'])
        .where('webhook_id', '=', critical.id)
        .execute();
      assert.deepEqual(
        rows.map((row: { event_uuid: string }) => row.event_uuid),
        [wanted.eventUuid],
      );
    });

    test('enqueues a change published twice only once per webhook', async () => {
      const service = openService();
      await service.create({ url: receiver.url, secret: SECRET });
      const change = buildChange();
      hub.publish(change);
      hub.publish(change);
      assert.equal(await service.deliverDue(), 1);
      hub.publish(change);
      assert.equal(await service.deliverDue(), 0);
      assert.deepEqual(receiver.eventIds(), [change.eventUuid]);
    });

    test('retries a 500 after the backoff and shows the status code until it succeeds', async () => {
      const service = openService();
      const webhook = await service.create({ url: receiver.url, secret: SECRET });
      receiver.status = 500;
      const change = buildChange();
      hub.publish(change);
      assert.equal(await service.deliverDue(), 1);
      let view = await service.get(webhook.id);
      assert.deepEqual(view.lastDelivery, {
        status: 'retrying',
        statusCode: 500,
        error: 'receiver answered 500',
        attemptAt: clock.now().toISOString(),
        successAt: null,
      });
      assert.equal(view.consecutiveFailures, 1);
      assert.equal(view.pendingCount, 1);
      assert.equal(failures, 1);

      clock.advance(0.999);
      assert.equal(await service.deliverDue(), 0, 'not before the 1 s backoff');
      clock.advance(0.001);
      assert.equal(await service.deliverDue(), 1);
      assert.equal((await service.get(webhook.id)).consecutiveFailures, 2);
      clock.advance(1.999);
      assert.equal(await service.deliverDue(), 0, 'the second backoff is 2 s');
      receiver.status = 204;
      clock.advance(0.001);
      assert.equal(await service.deliverDue(), 1);

      view = await service.get(webhook.id);
      assert.equal(view.lastDelivery.status, 'delivered');
      assert.equal(view.lastDelivery.statusCode, 204);
      assert.equal(view.lastDelivery.error, null);
      assert.equal(view.consecutiveFailures, 0);
      assert.deepEqual(receiver.eventIds(), [change.eventUuid, change.eventUuid, change.eventUuid]);
      assert.deepEqual(await outboxRows(), [
        { event_uuid: change.eventUuid, state: 'delivered', attempts: 3 },
      ]);
    });

    test('redelivers the same event id once a receiver that went away is back on its port', async () => {
      const service = openService();
      const webhook = await service.create({ url: receiver.url, secret: SECRET });
      hub.publish(buildChange());
      assert.equal(await service.deliverDue(), 1);
      await receiver.close();
      const missed = buildChange({ kind: 'cleared' });
      hub.publish(missed);
      assert.equal(await service.deliverDue(), 1);
      const down = await service.get(webhook.id);
      assert.equal(down.lastDelivery.status, 'retrying');
      assert.equal(down.lastDelivery.statusCode, null);
      assert.match(down.lastDelivery.error ?? '', /connection refused/);
      assert.equal(failures, 1);

      await receiver.listen();
      assert.equal(await service.deliverDue(), 0, 'waits for the backoff');
      clock.advance(1);
      assert.equal(await service.deliverDue(), 1);
      assert.equal(receiver.received.length, 2);
      assert.equal(receiver.received[1]?.headers['x-murm-event-id'], missed.eventUuid);
      assert.equal(receiver.received[1]?.headers['x-murm-event'], 'cleared');
      assert.equal((await service.get(webhook.id)).lastDelivery.status, 'delivered');
    });

    test('keeps subscriptions and pending deliveries across a restart and delivers them after it', async () => {
      let service = openService();
      const webhook = await service.create({ url: receiver.url, secret: SECRET });
      receiver.status = 503;
      const retried = buildChange();
      hub.publish(retried);
      assert.equal(await service.deliverDue(), 1);
      const fresh = buildChange({ kind: 'updated' });
      hub.publish(fresh); // written to the outbox by stop(), never sent before the restart
      await service.stop();
      assert.equal(hub.listenerCount, 0);
      await database.close();

      database = await openDatabase(testDb.url);
      assert.deepEqual(await migrateToLatest(database, [faultWebhooksMigration]), []);
      service = openService();
      const [listed] = await service.list();
      assert.equal(listed?.id, webhook.id);
      assert.equal(listed.pendingCount, 2);
      receiver.status = 200;
      clock.advance(1);
      assert.equal(await service.deliverDue(), 2);
      assert.deepEqual(
        receiver.eventIds().sort(),
        [retried.eventUuid, retried.eventUuid, fresh.eventUuid].sort(),
      );
      assert.deepEqual(
        (await outboxRows()).map((row) => row.state),
        ['delivered', 'delivered'],
      );
    });

    test('gives up after 10 failed attempts and marks the delivery failed', async () => {
      const service = openService();
      const webhook = await service.create({ url: receiver.url, secret: SECRET });
      receiver.status = 500;
      hub.publish(buildChange());
      for (let attempt = 1; attempt <= 10; attempt++) {
        assert.equal(await service.deliverDue(), 1, `attempt ${attempt}`);
        clock.advance(400);
      }
      assert.equal(await service.deliverDue(), 0);
      assert.equal(receiver.received.length, 10);
      assert.equal(failures, 10);
      const [row] = await outboxRows();
      assert.equal(row?.state, 'failed');
      assert.equal(row.attempts, 10);
      const view = await service.get(webhook.id);
      assert.equal(view.lastDelivery.status, 'failed');
      assert.equal(view.consecutiveFailures, 10);
      assert.equal(view.pendingCount, 0);
    });

    test('purges delivered rows a day after delivery', async () => {
      const service = openService();
      await service.create({ url: receiver.url, secret: SECRET });
      hub.publish(buildChange());
      assert.equal(await service.deliverDue(), 1);
      clock.advance(86_399);
      await service.deliverDue();
      assert.equal((await outboxRows()).length, 1);
      clock.advance(600); // purging runs at most every 10 minutes
      await service.deliverDue();
      assert.deepEqual(await outboxRows(), []);
    });

    test('refuses an HTTPS receiver whose certificate the system does not trust', async () => {
      const pki = await ensureSitePki({
        dataDir: makeTempDir('webhook-pki'),
        hosts: ['127.0.0.1'],
        now: new Date(),
      });
      const untrusted = await new Receiver({ key: pki.serverKeyPem, cert: pki.serverCertPem }).listen();
      try {
        const service = openService();
        const webhook = await service.create({ url: untrusted.url, secret: SECRET });
        hub.publish(buildChange());
        assert.equal(await service.deliverDue(), 1);
        assert.equal(untrusted.received.length, 0);
        assert.match((await service.get(webhook.id)).lastDelivery.error ?? '', /certificate not trusted/);
      } finally {
        await untrusted.close();
      }
    });

    test('delivers in the background once started, and stop waits for the delivery in flight', async () => {
      const service = openService();
      await service.create({ url: receiver.url, secret: SECRET });
      let release = () => {};
      receiver.gate = new Promise((resolve) => {
        release = resolve;
      });
      service.start();
      const arrived = receiver.nextRequest();
      hub.publish(buildChange());
      await arrived;
      let isStopped = false;
      const stopping = service.stop().then(() => {
        isStopped = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(isStopped, false, 'stop() returned while a delivery was in flight');
      release();
      await stopping;
      assert.deepEqual(
        (await outboxRows()).map((row) => row.state),
        ['delivered'],
      );
    });

    test('deletes a webhook with its pending deliveries and answers not_found afterwards', async () => {
      const service = openService();
      const webhook = await service.create({ url: receiver.url, secret: SECRET });
      receiver.status = 500;
      hub.publish(buildChange());
      await service.deliverDue();
      await service.delete(webhook.id);
      assert.deepEqual(await outboxRows(), []);
      await assert.rejects(service.get(webhook.id), (error: unknown) => {
        return error instanceof AppError && error.code === 'not_found' && /alarm webhook/.test(error.message);
      });
      await assert.rejects(service.delete(webhook.id), /not found/);
    });

    test('serves the webhook routes with write-only secrets, validation and access levels', async () => {
      const service = openService();
      const app = await buildApp(service);
      try {
        const send = async (method: string, url: string, token: string, payload?: object) => {
          const response = await app.inject({
            method: method as 'GET',
            url,
            headers: { authorization: `Bearer ${token}` },
            ...(payload === undefined ? {} : { payload }),
          });
          return {
            status: response.statusCode,
            text: response.body,
            body: response.body ? JSON.parse(response.body) : undefined,
          };
        };
        const created = await send('POST', '/v1/alarm-webhooks', 'admin', {
          url: receiver.url,
          secret: SECRET,
          filter: { alarmIds: ['100.101'], kinds: ['raised', 'cleared'] },
        });
        assert.equal(created.status, 201, created.text);
        const view = created.body as AlarmWebhookView;
        assert.equal(view.secretHint, 'whse…');
        assert.deepEqual(view.filter, { alarmIds: ['100.101'], kinds: ['raised', 'cleared'] });
        assert.equal(view.isEnabled, true);
        assert.deepEqual(view.lastDelivery, {
          status: null,
          statusCode: null,
          error: null,
          attemptAt: null,
          successAt: null,
        });

        const listed = await send('GET', '/v1/alarm-webhooks', 'reader');
        assert.equal(listed.status, 200);
        assert.equal(listed.body.items.length, 1);
        const shown = await send('GET', `/v1/alarm-webhooks/${view.id}`, 'reader');
        assert.equal(shown.status, 200);
        for (const text of [created.text, listed.text, shown.text]) assert.ok(!text.includes(SECRET));

        const cases: Array<[object, string]> = [
          [{ url: receiver.url, secret: 'too-short' }, 'secret'],
          [{ url: receiver.url, secret: SECRET, extra: 1 }, 'extra'],
          [{ url: 'https://user:pw@receiver.example/', secret: SECRET }, 'url'],
          [{ url: 'ftp://receiver.example/', secret: SECRET }, 'url'],
          [{ url: receiver.url, secret: SECRET, filter: { minSeverity: 'fatal' } }, 'filter.minSeverity'],
        ];
        for (const [payload, field] of cases) {
          const refused = await send('POST', '/v1/alarm-webhooks', 'admin', payload);
          assert.equal(refused.status, 400, JSON.stringify(payload));
          assert.equal(refused.body.error.details.field, field);
        }
        assert.equal(
          (await send('POST', '/v1/alarm-webhooks', 'reader', { url: receiver.url, secret: SECRET })).status,
          403,
        );
        assert.equal((await send('DELETE', `/v1/alarm-webhooks/${view.id}`, 'reader')).status, 403);
        assert.equal((await send('DELETE', `/v1/alarm-webhooks/${view.id}`, 'admin')).status, 204);
        const missing = await send('GET', `/v1/alarm-webhooks/${view.id}`, 'reader');
        assert.equal(missing.status, 404);
        assert.equal(missing.body.error.message, `alarm webhook "${view.id}" not found`);
      } finally {
        await app.close();
      }
    });
  });
}

/** The HTTP edge with only the webhook routes; token "admin" may do anything, "reader" only read. */
async function buildApp(service: AlarmWebhookService) {
  const { app } = createHttpServer({
    logger: createLogger('silent'),
    accessControl: {
      async authenticate(token): Promise<Principal> {
        if (token !== 'admin' && token !== 'reader') throw new AppError('unauthenticated', 'unknown token');
        return { username: token, roles: [token], tokenId: token };
      },
      authorize(principal, permission) {
        if (principal.username === 'reader' && permission !== 'read') {
          throw new AppError('forbidden', `"${permission}" is not granted`);
        }
      },
    },
    recordRequest: async () => {},
    metrics: createHttpMetrics(),
    checkReady: async () => {},
    version: 'test',
  });
  registerAlarmWebhookRoutes(app, service);
  await app.ready();
  return app;
}
