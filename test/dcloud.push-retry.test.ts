import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../src/core/db/database.js';
import { migrateToLatest } from '../src/core/db/migrate.js';
import { createLogger } from '../src/core/log.js';
import { pushRetryDelayMs, type RetryTimers } from '../src/dcloud/endpoint-sync.js';
import { dcloudMigration } from '../src/dcloud/migrations/0009-dcloud.js';
import { DcService } from '../src/dcloud/service.js';
import { DcStore } from '../src/dcloud/store.js';
import { type SyncSource, syncRevision } from '../src/dcloud/sync.js';
import type { AlarmCounts, RpcMethod, SyncEndpoint } from '../src/dcloud/uplink-protocol.js';
import { loadAlarmCatalog } from '../src/fault/catalog.js';
import { faultMigration } from '../src/fault/migrations/0002-fault.js';
import { FaultService } from '../src/fault/service.js';
import { FaultStore } from '../src/fault/store.js';
import { FakeClock } from './helpers/clock.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { HoldingUplinkTransport } from './helpers/uplink-transport.js';

const NO_ALARMS: AlarmCounts = { critical: 0, major: 0, minor: 0, warning: 0 };

/** Timers the test fires by hand: what is pending, and with which delay. */
class ManualTimers implements RetryTimers {
  private next = 0;
  readonly pending = new Map<number, { callback: () => void; delayMs: number }>();
  readonly delays: number[] = [];
  setTimeout(callback: () => void, delayMs: number): unknown {
    this.next += 1;
    this.pending.set(this.next, { callback, delayMs });
    this.delays.push(delayMs);
    return this.next;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Fires every timer pending now (not those they schedule). */
  fireAll(): void {
    const due = [...this.pending.entries()];
    for (const [id] of due) this.pending.delete(id);
    for (const [, timer] of due) timer.callback();
  }
}

class StaticSource implements SyncSource {
  constructor(
    readonly endpoint: SyncEndpoint,
    readonly resources: unknown[],
  ) {}
  async desired(): Promise<unknown[]> {
    return this.resources;
  }
  onChange(): () => void {
    return () => undefined;
  }
}

/** A subcloud uplink that refuses the next `refusals[name]` sync.apply calls, then applies. */
class FlakyTransport extends HoldingUplinkTransport {
  readonly refusals = new Map<string, number>();
  readonly applies: string[] = [];
  override call(name: string, method: RpcMethod, params: unknown): Promise<unknown> {
    if (method !== 'sync.apply') return Promise.resolve({});
    this.applies.push(name);
    return super.call(name, method, params);
  }
  protected answer(name: string, _method: RpcMethod, params: unknown): unknown {
    const left = this.refusals.get(name) ?? 0;
    if (left > 0) {
      this.refusals.set(name, left - 1);
      throw new Error(`subcloud ${name} refused: database is locked`);
    }
    return { revision: syncRevision((params as { resources: unknown[] }).resources) };
  }
  disconnect(): void {}
}

test('retry delays double from 30 s to the 10 min cap, jittered within [d/2, d)', () => {
  const low = [1, 2, 3, 4, 5, 6, 7, 40].map((n) => pushRetryDelayMs(n, () => 0));
  assert.deepEqual(low, [15_000, 30_000, 60_000, 120_000, 240_000, 300_000, 300_000, 300_000]);
  assert.equal(
    pushRetryDelayMs(1, () => 0.999_999),
    29_999,
  );
  assert.equal(
    pushRetryDelayMs(9, () => 0.5),
    450_000,
  );
  assert.equal(
    pushRetryDelayMs(1, () => 7),
    30_000,
    'a bad random() cannot exceed the ceiling',
  );
});

for (const backend of BACKENDS) {
  describe(`push retries on ${backend.name}`, () => {
    let database: TestDatabase;
    let dc: DcService;
    let fault: FaultService;
    let close: () => Promise<void>;
    const clock = new FakeClock();
    const timers = new ManualTimers();
    const transport = new FlakyTransport();
    const identity = new StaticSource('identity', [{ user: 'admin' }]);
    const certificates = new StaticSource('certificates', [{ ca: 'root-1' }]);

    const alarms = (name: string) => {
      const body = JSON.parse(fault.listAlarms({}, 1000, undefined).toString()) as {
        items: { alarmId: string; entityInstanceId: string }[];
      };
      return body.items
        .filter((a) => a.entityInstanceId.startsWith(`subcloud=${name}.`))
        .map((a) => `${a.alarmId} ${a.entityInstanceId}`);
    };
    /** A subcloud that joined with a stale identity copy and is managed. */
    const managedOutOfSync = async (name: string) => {
      await dc.addSubcloud({ name });
      dc.connected(name);
      await dc.handleFrame(name, {
        type: 'digest',
        softwareVersion: '26.09',
        alarms: NO_ALARMS,
        endpoints: {
          identity: { revision: 'stale' },
          certificates: { revision: syncRevision(certificates.resources) },
          'dc-cert': {
            revision: '',
            notAfter: new Date(clock.now().getTime() + 300 * 86_400_000).toISOString(),
          },
        },
      });
      await dc.manage(name);
      await dc.settled();
    };

    before(async () => {
      database = await backend.create();
      const opened = await openDatabase(database.url);
      await migrateToLatest(opened, [faultMigration, dcloudMigration]);
      fault = await FaultService.open({
        store: new FaultStore(opened),
        catalog: loadAlarmCatalog(),
        clock,
        maxEvents: 100_000,
      });
      dc = new DcService({
        store: new DcStore(opened),
        fault,
        clock,
        logger: createLogger('silent'),
        issueCertificate: async (_csr, name) => ({ certificatePem: name, fingerprint: name, caBundle: 'CA' }),
        controllerUrl: () => 'https://controller.example:6443',
        caPem: () => 'CA-PEM',
        sources: [identity, certificates],
        transport,
        maxPushesInFlight: 4,
        pushRetry: { timers, random: () => 0.5 },
      });
      await dc.open();
      close = async () => {
        await dc.settled();
        dc.close();
        await opened.close();
      };
    });
    after(async () => {
      await close();
      await database.drop();
    });

    test('a refused push is retried after a jittered backoff and the accepted retry clears 280.002', async () => {
      transport.refusals.set('flaky-1', 2);
      await managedOutOfSync('flaky-1');
      assert.deepEqual(transport.applies, ['flaky-1']);
      assert.equal(dc.get('flaky-1').syncStatus, 'out-of-sync');
      assert.deepEqual(alarms('flaky-1'), ['280.002 subcloud=flaky-1.resource=identity']);
      assert.deepEqual(
        [...timers.pending.values()].map((t) => t.delayMs),
        [22_500],
      );

      timers.fireAll();
      await dc.settled();
      assert.deepEqual(transport.applies, ['flaky-1', 'flaky-1'], 'the second attempt is refused too');
      assert.deepEqual(
        [...timers.pending.values()].map((t) => t.delayMs),
        [45_000],
        'the delay doubled',
      );

      timers.fireAll();
      await dc.settled();
      assert.equal(transport.applies.length, 3);
      assert.equal(dc.get('flaky-1').syncStatus, 'in-sync');
      assert.deepEqual(alarms('flaky-1'), []);
      assert.equal(timers.pending.size, 0, 'nothing is retried once in-sync');
    });

    test('unmanage, offline and delete cancel a pending retry', async () => {
      for (const name of ['cancel-1', 'cancel-2', 'cancel-3']) {
        transport.refusals.set(name, 1);
        await managedOutOfSync(name);
      }
      assert.equal(timers.pending.size, 3);
      await dc.unmanage('cancel-1');
      assert.equal(timers.pending.size, 2);
      dc.disconnected('cancel-2', 'ping-timeout');
      await dc.settled();
      assert.equal(dc.get('cancel-2').availability, 'offline');
      assert.equal(timers.pending.size, 1);
      await dc.delete('cancel-3', true);
      assert.equal(timers.pending.size, 0);
      const before = transport.applies.length;
      timers.fireAll();
      await dc.settled();
      assert.equal(transport.applies.length, before, 'no push after a cancel');
    });

    test('a retry finding the subcloud in-sync by other means does not push', async () => {
      transport.refusals.set('healed-1', 1);
      await managedOutOfSync('healed-1');
      assert.equal(timers.pending.size, 1);
      // The subcloud caught up on its own (e.g. an operator fixed it) and says so in its next digest.
      await dc.handleFrame('healed-1', {
        type: 'delta',
        endpoints: { identity: { revision: syncRevision(identity.resources) } },
      });
      assert.equal(dc.get('healed-1').syncStatus, 'in-sync');
      const before = transport.applies.length;
      timers.fireAll();
      await dc.settled();
      assert.equal(transport.applies.length, before);
      assert.equal(timers.pending.size, 0);
    });

    test('retries of many subclouds run at most half the push slots at once', async () => {
      const names = Array.from({ length: 12 }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);
      for (const name of names) {
        transport.refusals.set(name, 1);
        await managedOutOfSync(name);
      }
      assert.equal(timers.pending.size, names.length);
      transport.maxInFlight = 0;
      transport.hold();
      timers.fireAll();
      // Let the queue fill its slots; held answers keep them busy.
      for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(transport.inFlight, 2, 'retries take 2 of the 4 slots');
      for (let round = 0; round < names.length && transport.inFlight > 0; round += 1) {
        transport.release();
        transport.hold();
        for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      }
      transport.release();
      await dc.settled();
      assert.equal(transport.maxInFlight, 2);
      for (const name of names) assert.equal(dc.get(name).syncStatus, 'in-sync', name);
      assert.equal(timers.pending.size, 0);
    });
  });
}
