import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type Alarm = {
  uuid: string;
  alarmId: string;
  entityInstanceId: string;
  severity: string;
  reasonText: string;
  timestamp: string;
  isSuppressed: boolean;
  isMgmtAffecting: boolean;
};
type Event = {
  seq: number;
  uuid: string;
  eventId: string;
  state: string;
  severity: string;
  entityInstanceId: string;
  timestamp: string;
};
type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };

for (const backend of BACKENDS) {
  describe(`alarms on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let token: string;
    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      token = await t.login('admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await t.close();
      await database.drop();
    });
    const call = (method: string, url: string, body?: unknown) => t.request({ method, url, token, body });
    const raise = (alarmId: string, entityInstanceId: string, severity: string, reasonText = 'reason') =>
      call('POST', '/v1/alarms', { alarmId, entityInstanceId, severity, reasonText });
    const list = async (query = '') =>
      (await call('GET', `/v1/alarms${query}`)).body as { items: Alarm[]; next?: string };
    const events = async (query = '') =>
      (await call('GET', `/v1/events${query}`)).body as { items: Event[]; next?: string };

    test('raises a new alarm, then updates it in place keeping its uuid', async () => {
      const first = await raise('100.101', 'host=controller-0', 'major', 'CPU at 91%');
      assert.equal(first.status, 201);
      const { alarm } = first.body as { change: string; alarm: Alarm };
      assert.equal((first.body as { change: string }).change, 'raised');
      t.clock.advance(60);
      const second = await raise('100.101', 'host=controller-0', 'critical', 'CPU at 97%');
      assert.equal(second.status, 200);
      const updated = (second.body as { change: string; alarm: Alarm }).alarm;
      assert.equal((second.body as { change: string }).change, 'updated');
      assert.equal(updated.uuid, alarm.uuid);
      assert.equal(updated.severity, 'critical');
      assert.equal(updated.reasonText, 'CPU at 97%');
      assert.ok(updated.timestamp > alarm.timestamp);
      assert.equal(updated.isMgmtAffecting, true);
      const sets = (await events('?eventId=100.101')).items;
      assert.deepEqual(
        sets.map((e) => `${e.state}:${e.severity}`),
        ['set:critical', 'set:major'],
      );
    });

    test('clears idempotently and writes one clear record', async () => {
      const { alarm } = (await raise('100.103', 'host=controller-0.memory=total', 'major')).body as {
        alarm: Alarm;
      };
      assert.equal((await call('DELETE', `/v1/alarms/${alarm.uuid}`)).status, 204);
      assert.equal((await call('DELETE', `/v1/alarms/${alarm.uuid}`)).status, 404);
      const batch = await call('POST', '/v1/alarms:batch', {
        clear: [{ alarmId: '100.103', entityInstanceId: 'host=controller-0.memory=total' }],
      });
      assert.deepEqual(batch.body, { raised: 0, updated: 0, logged: 0, cleared: 0, notActive: 1 });
      const log = (await events('?eventId=100.103')).items;
      assert.deepEqual(
        log.map((e) => e.state),
        ['clear', 'set'],
      );
      assert.equal(log[0]?.severity, 'clear');
    });

    const refusals: Array<[string, Record<string, unknown>, string, RegExp]> = [
      [
        'an id not in the catalog',
        { alarmId: '999.999', entityInstanceId: 'host=a', severity: 'major', reasonText: 'x' },
        'alarmId',
        /not in the alarm catalog/,
      ],
      [
        'a severity the catalog does not allow',
        { alarmId: '200.001', entityInstanceId: 'host=a', severity: 'critical', reasonText: 'x' },
        'severity',
        /allows warning/,
      ],
      [
        'a malformed entity instance id',
        { alarmId: '100.101', entityInstanceId: 'controller 0', severity: 'major', reasonText: 'x' },
        'entityInstanceId',
        /type=value/,
      ],
      [
        'an unknown severity',
        { alarmId: '100.101', entityInstanceId: 'host=a', severity: 'bad', reasonText: 'x' },
        'severity',
        /must be equal to one of/,
      ],
    ];
    for (const [what, body, field, message] of refusals) {
      test(`refuses ${what} with a 400 naming "${field}" and stores nothing`, async () => {
        const before = await list('?includeSuppressed=true');
        const response = await call('POST', '/v1/alarms', body);
        assert.equal(response.status, 400);
        assert.equal((response.body as ErrorBody).error.details.field, field);
        assert.match((response.body as ErrorBody).error.message, message);
        assert.deepEqual(await list('?includeSuppressed=true'), before);
      });
    }

    test('sends log entries only to the event log', async () => {
      const response = await raise('200.021', 'host=controller-0.command=swact', 'warning', 'manual swact');
      assert.equal(response.status, 201);
      assert.equal((response.body as { change: string }).change, 'logged');
      assert.equal((await list('?alarmId=200.021')).items.length, 0);
      assert.equal((await events('?state=log')).items[0]?.eventId, '200.021');
    });

    test('lists most severe first, then newest, and pages with a cursor', async () => {
      const batch = [];
      for (let i = 0; i < 120; i++) {
        batch.push({
          alarmId: '100.104',
          entityInstanceId: `host=worker-${i}.filesystem=/var`,
          severity: i % 3 === 0 ? 'critical' : 'major',
          reasonText: `fs ${i}`,
        });
      }
      const created = await call('POST', '/v1/alarms:batch', { raise: batch });
      assert.deepEqual(created.body, { raised: 120, updated: 0, logged: 0, cleared: 0, notActive: 0 });
      const seen: Alarm[] = [];
      let next: string | undefined;
      do {
        const page = await list(`?alarmId=100.104&limit=50${next ? `&next=${next}` : ''}`);
        seen.push(...page.items);
        next = page.next;
      } while (next);
      assert.equal(seen.length, 120);
      assert.equal(new Set(seen.map((a) => a.uuid)).size, 120);
      const firstMajor = seen.findIndex((a) => a.severity === 'major');
      assert.equal(firstMajor, 40);
      assert.ok(seen.slice(firstMajor).every((a) => a.severity === 'major'));
      const critical = await list('?alarmId=100.104&severity=critical&entityInstance=host=worker-3');
      assert.deepEqual(critical.items.map((a) => a.entityInstanceId).sort(), [
        'host=worker-3.filesystem=/var',
        'host=worker-30.filesystem=/var',
        'host=worker-33.filesystem=/var',
        'host=worker-36.filesystem=/var',
        'host=worker-39.filesystem=/var',
      ]);
      assert.equal((await call('GET', '/v1/alarms?next=garbage')).status, 400);
      const short = (await list('?alarmId=100.104&limit=1')).items[0] as Record<string, unknown>;
      assert.equal(short.probableCause, undefined);
      const expanded = (await list('?alarmId=100.104&limit=1&expand=true')).items[0] as Record<
        string,
        unknown
      >;
      assert.equal(expanded.probableCause, 'threshold-crossed');
      assert.equal(expanded.uuid, short.uuid);
    });

    test('refuses a batch over 1000 items and a batch with one bad item, applying nothing', async () => {
      const item = (i: number) => ({
        alarmId: '100.101',
        entityInstanceId: `host=big-${i}`,
        severity: 'major',
        reasonText: 'x',
      });
      const tooBig = await call('POST', '/v1/alarms:batch', {
        raise: Array.from({ length: 600 }, (_, i) => item(i)),
        clear: Array.from({ length: 401 }, (_, i) => ({
          alarmId: '100.101',
          entityInstanceId: `host=big-${i}`,
        })),
      });
      assert.equal(tooBig.status, 400);
      const bad = await call('POST', '/v1/alarms:batch', {
        raise: [item(1), { ...item(2), alarmId: '999.999' }],
      });
      assert.equal(bad.status, 400);
      assert.match((bad.body as ErrorBody).error.message, /raise\[1\]/);
      assert.equal((await list('?entityInstance=host=big-')).items.length, 0);
    });

    test('clears every alarm of an entity and its sub-entities, not of a longer name', async () => {
      await call('POST', '/v1/alarms:batch', {
        raise: [
          { alarmId: '200.001', entityInstanceId: 'host=edge-1', severity: 'warning', reasonText: 'locked' },
          {
            alarmId: '100.104',
            entityInstanceId: 'host=edge-1.filesystem=/',
            severity: 'major',
            reasonText: 'full',
          },
          { alarmId: '200.001', entityInstanceId: 'host=edge-10', severity: 'warning', reasonText: 'locked' },
        ],
      });
      assert.equal(await t.site.fault.clearAllFor('host=edge-1'), 2);
      assert.deepEqual(
        (await list('?entityInstance=host=edge-1')).items.map((a) => a.entityInstanceId),
        ['host=edge-10'],
      );
    });

    test('suppresses only suppressible ids, keeps suppressed alarms listed on request and out of the summary', async () => {
      const refused = await call('PATCH', '/v1/event-suppressions/200.001', { isSuppressed: true });
      assert.equal(refused.status, 400);
      const before = (await call('GET', '/v1/alarms/summary')).body as Record<string, number | string>;
      assert.equal(
        (await call('PATCH', '/v1/event-suppressions/100.104', { isSuppressed: true })).status,
        200,
      );
      assert.equal((await list('?alarmId=100.104')).items.length, 0);
      const included = await list('?alarmId=100.104&includeSuppressed=true&limit=1000');
      assert.equal(included.items.length, 120);
      assert.ok(included.items.every((a) => a.isSuppressed));
      const summary = (await call('GET', '/v1/alarms/summary')).body as Record<string, number | string>;
      assert.equal(summary.critical, Number(before.critical) - 40);
      const withSuppressed = (await call('GET', '/v1/alarms/summary?includeSuppressed=true')).body as Record<
        string,
        number
      >;
      assert.equal(withSuppressed.critical, before.critical);
      const suppressions = (await call('GET', '/v1/event-suppressions')).body as {
        items: { alarmId: string; isSuppressed: boolean }[];
      };
      assert.equal(suppressions.items.find((s) => s.alarmId === '100.104')?.isSuppressed, true);
      assert.equal(
        (await call('PATCH', '/v1/event-suppressions/100.104', { isSuppressed: false })).status,
        200,
      );
    });

    test('filters the event log by time range, entity and state, newest first, paged', async () => {
      t.clock.advance(1);
      const from = t.clock.now().toISOString(); // every event so far is older than this
      t.clock.advance(600);
      await raise('100.114', 'host=controller-1.ntp', 'major', 'no NTP');
      await t.site.fault.clear('100.114', 'host=controller-1.ntp');
      const range = await events(
        `?since=${encodeURIComponent(t.clock.now().toISOString())}&entityInstance=host=controller-1`,
      );
      assert.deepEqual(
        range.items.map((e) => e.state),
        ['clear', 'set'],
      );
      const older = await events(`?until=${encodeURIComponent(from)}&limit=5`);
      assert.ok(older.items.every((e) => e.timestamp < from));
      assert.ok(older.next);
      const page2 = await events(`?until=${encodeURIComponent(from)}&limit=5&next=${older.next}`);
      assert.ok((page2.items[0]?.seq ?? 0) < (older.items.at(-1)?.seq ?? 0));
      const one = await call('GET', `/v1/events/${range.items[0]?.uuid}`);
      assert.equal((one.body as Event).state, 'clear');
    });

    test('exposes active alarms by severity and id and events written in /metrics', async () => {
      const text = (await call('GET', '/metrics')).body as string;
      assert.match(text, /murm_alarms_active\{severity="critical"\} \d+/);
      assert.match(text, /murm_alarms_active_by_id\{alarm_id="100\.104"\} 120/);
      assert.match(text, /murm_events_written_total \d+/);
    });

    test('keeps alarms, uuids, suppressions and events across a restart', async () => {
      const before = await list('?includeSuppressed=true&limit=1000');
      await t.request({
        method: 'PATCH',
        url: '/v1/event-suppressions/100.101',
        token,
        body: { isSuppressed: true },
      });
      const eventsBefore = (await events('?limit=1000')).items.length;
      await t.close();
      t = await openTestSite(database);
      token = await t.login('admin', ADMIN_PASSWORD);
      const afterwards = await list('?includeSuppressed=true&limit=1000');
      assert.deepEqual(afterwards.items.map((a) => a.uuid).sort(), before.items.map((a) => a.uuid).sort());
      assert.equal((await list('?alarmId=100.101')).items.length, 0);
      assert.equal((await events('?limit=1000')).items.length, eventsBefore);
    });
  });
}

describe('event log retention', () => {
  test('removes the oldest events in batches beyond the configured maximum', async () => {
    const sqlite = BACKENDS[0];
    assert.ok(sqlite);
    const database = await sqlite.create();
    const t = await openTestSite(database, { eventLogMax: 100 });
    try {
      for (let round = 0; round < 3; round++) {
        const raise = Array.from({ length: 50 }, (_, i) => ({
          alarmId: '100.101',
          entityInstanceId: `host=r-${round}-${i}`,
          severity: 'major' as const,
          reasonText: 'x',
        }));
        await t.site.fault.applyBatch({ raise, clear: [] });
      }
      const rows = await t.site.database.db.selectFrom('event_log').select(['seq']).orderBy('seq').execute();
      assert.equal(rows.length, 100);
      assert.equal(Number(rows[0]?.seq), 51);
    } finally {
      await t.close();
      await database.drop();
    }
  });
});
