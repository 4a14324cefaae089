import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../core/errors.js';
import type { AlarmChange } from './model.js';
import {
  type AlarmWebhookFilter,
  deliveryHeaders,
  describeFailure,
  matchesFilter,
  nextDelaySeconds,
  signPayload,
  stateAfterFailure,
  validateFilter,
  validateSecret,
  validateWebhookUrl,
} from './webhook-model.js';

function buildChange(overrides: { kind?: AlarmChange['kind']; alarm?: Partial<AlarmChange['alarm']> } = {}) {
  const change: AlarmChange = {
    kind: overrides.kind ?? 'raised',
    eventSeq: 1,
    eventUuid: 'e-1',
    alarm: {
      uuid: 'a-1',
      alarmId: '100.101',
      entityTypeId: 'host',
      entityInstanceId: 'host=controller-0.processor=0',
      severity: 'major',
      reasonText: 'CPU usage above threshold',
      raisedAt: '2026-01-01T00:00:00.000Z',
      timestamp: '2026-01-01T00:00:00.000Z',
      alarmType: 'operational-violation',
      probableCause: 'threshold-crossed',
      proposedRepairAction: 'reduce load',
      isServiceAffecting: false,
      isSuppressed: false,
      isMgmtAffecting: false,
      isDegradeAffecting: false,
      ...overrides.alarm,
    },
  };
  return change;
}

describe('matchesFilter', () => {
  const cases: Array<[string, AlarmWebhookFilter, AlarmChange, boolean]> = [
    ['matches anything with an empty filter', {}, buildChange(), true],
    ['matches a listed alarm id', { alarmIds: ['200.001', '100.101'] }, buildChange(), true],
    ['excludes an alarm id not listed', { alarmIds: ['200.001'] }, buildChange(), false],
    ['matches a severity above the minimum', { minSeverity: 'minor' }, buildChange(), true],
    ['matches the minimum severity itself', { minSeverity: 'major' }, buildChange(), true],
    ['excludes a severity below the minimum', { minSeverity: 'critical' }, buildChange(), false],
    [
      'matches an entity under the prefix',
      { entityInstancePrefix: 'host=controller-0' },
      buildChange(),
      true,
    ],
    ['excludes an entity outside the prefix', { entityInstancePrefix: 'host=worker' }, buildChange(), false],
    ['matches a listed kind', { kinds: ['cleared'] }, buildChange({ kind: 'cleared' }), true],
    ['excludes a kind not listed', { kinds: ['raised', 'updated'] }, buildChange({ kind: 'cleared' }), false],
    [
      'needs every criterion to match',
      { alarmIds: ['100.101'], minSeverity: 'critical' },
      buildChange(),
      false,
    ],
    [
      'judges a cleared alarm by the severity it had',
      { minSeverity: 'major', kinds: ['cleared'] },
      buildChange({ kind: 'cleared', alarm: { severity: 'critical' } }),
      true,
    ],
  ];
  for (const [name, filter, change, expected] of cases) {
    test(name, () => assert.equal(matchesFilter(filter, change), expected));
  }
});

describe('signPayload and deliveryHeaders', () => {
  const secret = 'whsec-0123456789abcdef';
  const body = '{"eventId":"e-1"}';

  test('signs timestamp.body with HMAC-SHA256 in hex (matches openssl dgst -hmac)', () => {
    assert.equal(
      signPayload(secret, 1_767_225_600, body),
      '4c84b23b69e33e2f73ac2aa91e85f4143582dad4c80616b74fac92eeb317463c',
    );
  });

  test('gives a different signature for another timestamp, body or secret', () => {
    const base = signPayload(secret, 1_767_225_600, body);
    assert.notEqual(signPayload(secret, 1_767_225_601, body), base);
    assert.notEqual(signPayload(secret, 1_767_225_600, `${body} `), base);
    assert.notEqual(signPayload(`${secret}x`, 1_767_225_600, body), base);
  });

  test('sends unix seconds, the signature, the event id and the kind', () => {
    const headers = deliveryHeaders({
      secret,
      at: new Date('2026-01-01T00:00:00.900Z'),
      body,
      eventId: 'e-1',
      kind: 'raised',
    });
    assert.equal(
      headers['x-murm-signature'],
      't=1767225600,v1=4c84b23b69e33e2f73ac2aa91e85f4143582dad4c80616b74fac92eeb317463c',
    );
    assert.equal(headers['x-murm-event-id'], 'e-1');
    assert.equal(headers['x-murm-event'], 'raised');
    assert.equal(headers['content-type'], 'application/json');
  });
});

describe('nextDelaySeconds', () => {
  const expected = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300];
  test('doubles from 1 s and caps at 300 s without jitter', () => {
    assert.deepEqual(
      expected.map((_, index) => nextDelaySeconds(index + 1, () => 0.5)),
      expected,
    );
  });

  test('stays within ±20% of the base delay at both ends of the random source', () => {
    expected.forEach((base, index) => {
      const low = nextDelaySeconds(index + 1, () => 0);
      const high = nextDelaySeconds(index + 1, () => 0.999_999);
      assert.ok(Math.abs(low - base * 0.8) < 1e-9, `attempt ${index + 1}: ${low}`);
      assert.ok(high < base * 1.2 && high > base * 1.199, `attempt ${index + 1}: ${high}`);
    });
  });

  test('spreads delays across the jitter range', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const delays = Array.from({ length: 200 }, () => nextDelaySeconds(4, random));
    assert.ok(delays.every((delay) => delay >= 6.4 && delay <= 9.6));
    assert.ok(Math.min(...delays) < 7 && Math.max(...delays) > 9);
  });
});

describe('stateAfterFailure', () => {
  test('stays pending below the maximum and fails at it', () => {
    assert.equal(stateAfterFailure(9, 10), 'pending');
    assert.equal(stateAfterFailure(10, 10), 'failed');
  });
});

describe('validation', () => {
  const refuses = (run: () => unknown, field: string) =>
    assert.throws(run, (error: unknown) => error instanceof AppError && error.details.field === field);

  test('accepts http and https URLs and returns them normalised', () => {
    assert.equal(
      validateWebhookUrl('https://Receiver.example/alarms?x=1'),
      'https://receiver.example/alarms?x=1',
    );
    assert.equal(validateWebhookUrl('http://127.0.0.1:9000'), 'http://127.0.0.1:9000/');
  });

  for (const url of ['ftp://receiver.example/', 'file:///etc/passwd', 'javascript:alert(1)', 'not a url']) {
    test(`refuses the URL ${url}`, () => refuses(() => validateWebhookUrl(url), 'url'));
  }

  test('refuses credentials in the URL without echoing them', () => {
    for (const url of ['https://user:pw@receiver.example/', 'https://token@receiver.example/']) {
      assert.throws(
        () => validateWebhookUrl(url),
        (error: unknown) =>
          error instanceof AppError && !error.message.includes('pw') && !error.message.includes('token@'),
      );
    }
  });

  test('refuses a secret shorter than 16 characters', () => {
    refuses(() => validateSecret('short-secret'), 'secret');
    assert.doesNotThrow(() => validateSecret('0123456789abcdef'));
  });

  test('refuses empty lists and malformed alarm ids in a filter, and keeps only known criteria', () => {
    refuses(() => validateFilter({ alarmIds: [] }), 'filter.alarmIds');
    refuses(() => validateFilter({ alarmIds: ['100'] }), 'filter.alarmIds');
    refuses(() => validateFilter({ kinds: [] }), 'filter.kinds');
    const extra = { minSeverity: 'major', kinds: ['raised', 'raised'], bogus: 1 } as AlarmWebhookFilter;
    assert.deepEqual(validateFilter(extra), { minSeverity: 'major', kinds: ['raised'] });
  });
});

describe('describeFailure', () => {
  const wrapped = (code: string) =>
    Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'names a refused connection wrapped by undici',
      wrapped('ECONNREFUSED'),
      /^connection refused \(ECONNREFUSED\)/,
    ],
    [
      'names a refused connection from an aggregate of addresses',
      Object.assign(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]), {
        code: 'X',
      }),
      /^connection refused/,
    ],
    ['names an untrusted certificate', wrapped('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), /certificate not trusted/],
    ['names a self-signed certificate', wrapped('DEPTH_ZERO_SELF_SIGNED_CERT'), /certificate not trusted/],
    ['names an unknown host', wrapped('ENOTFOUND'), /^host not found/],
    ['keeps the code and message of anything else', wrapped('ECONNRESET'), /^ECONNRESET: ECONNRESET/],
    ['copes with a thrown non-error', 'boom', /^boom$/],
  ];
  for (const [name, error, expected] of cases) {
    test(name, () => assert.match(describeFailure(error), expected));
  }
});
