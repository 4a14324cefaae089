import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCertificateInfo } from '../../test/helpers/certs.js';
import { AppError } from '../core/errors.js';
import { validateEntityInstanceId } from '../fault/model.js';
import {
  type AlarmSettings,
  certificateEntityId,
  type DesiredAlarms,
  defaultAlarmSettings,
  desiredAlarms,
  EXPIRY_STATES,
  type ExpiryState,
  expiryState,
  parseDuration,
} from './model.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const DAY = 86_400;
const THIRTY_DAYS = 30 * DAY;

/** notAfter `seconds` from NOW, as ISO. */
function inSeconds(seconds: number): string {
  return new Date(NOW.getTime() + seconds * 1000).toISOString();
}

describe('expiryState', () => {
  const cases: [string, number, ExpiryState][] = [
    ['more than the threshold left', THIRTY_DAYS + 1, 'ok'],
    ['exactly the threshold left', THIRTY_DAYS, 'expiring'],
    ['one second left', 1, 'expiring'],
    ['notAfter exactly now', 0, 'expired'],
    ['notAfter one second ago', -1, 'expired'],
    ['notAfter a year ago', -365 * DAY, 'expired'],
  ];
  for (const [name, secondsLeft, expected] of cases) {
    it(`is ${expected} with ${name}`, () => {
      assert.equal(expiryState(inSeconds(secondsLeft), NOW, THIRTY_DAYS), expected);
    });
  }

  it('reaches every state in the table', () => {
    assert.deepEqual(new Set(cases.map(([, , state]) => state)), new Set(EXPIRY_STATES));
  });

  it('moves back to ok when the certificate is renewed', () => {
    assert.equal(expiryState(inSeconds(-DAY), NOW, THIRTY_DAYS), 'expired');
    assert.equal(expiryState(inSeconds(365 * DAY), NOW, THIRTY_DAYS), 'ok');
  });
});

describe('defaultAlarmSettings', () => {
  it('alarms 30 days ahead for a leaf and 180 days ahead for a CA', () => {
    assert.deepEqual(defaultAlarmSettings(false), { isAlarmEnabled: true, alarmBeforeSeconds: THIRTY_DAYS });
    assert.deepEqual(defaultAlarmSettings(true), { isAlarmEnabled: true, alarmBeforeSeconds: 180 * DAY });
  });
});

describe('desiredAlarms', () => {
  const LOCATION = '/etc/ssl/private/registry-cert.crt';
  const leaf = defaultAlarmSettings(false);
  const cases: {
    name: string;
    secondsLeft: number;
    settings: AlarmSettings;
    subject?: string;
    isCa?: boolean;
    expected: DesiredAlarms;
  }[] = [
    {
      name: 'clears both alarms while more than the threshold is left',
      secondsLeft: 31 * DAY,
      settings: leaf,
      expected: { state: 'ok', clear: ['500.200', '500.210'] },
    },
    {
      name: 'raises 500.200 major and clears 500.210 at exactly the threshold',
      secondsLeft: THIRTY_DAYS,
      settings: leaf,
      expected: {
        state: 'expiring',
        raise: {
          alarmId: '500.200',
          severity: 'major',
          reasonText: `Certificate registry.local (${LOCATION}) is expiring soon on 2026-03-31, 12:00:00`,
        },
        clear: ['500.210'],
      },
    },
    {
      name: 'raises 500.210 critical and clears 500.200 once notAfter is reached',
      secondsLeft: 0,
      settings: leaf,
      expected: {
        state: 'expired',
        raise: {
          alarmId: '500.210',
          severity: 'critical',
          reasonText: `Certificate registry.local (${LOCATION}) expired.`,
        },
        clear: ['500.200'],
      },
    },
    {
      name: 'uses the severity override for 500.200',
      secondsLeft: DAY,
      settings: { ...leaf, severity: 'minor' },
      expected: {
        state: 'expiring',
        raise: {
          alarmId: '500.200',
          severity: 'minor',
          reasonText: `Certificate registry.local (${LOCATION}) is expiring soon on 2026-03-02, 12:00:00`,
        },
        clear: ['500.210'],
      },
    },
    {
      name: 'uses the severity override for 500.210',
      secondsLeft: -DAY,
      settings: { ...leaf, severity: 'warning' },
      expected: {
        state: 'expired',
        raise: {
          alarmId: '500.210',
          severity: 'warning',
          reasonText: `Certificate registry.local (${LOCATION}) expired.`,
        },
        clear: ['500.200'],
      },
    },
    {
      name: 'clears both alarms of an expired certificate whose alarm is disabled',
      secondsLeft: -DAY,
      settings: { ...leaf, isAlarmEnabled: false },
      expected: { state: 'expired', clear: ['500.200', '500.210'] },
    },
    {
      name: 'prepends the text prefix to the reason text',
      secondsLeft: -1,
      settings: { ...leaf, textPrefix: 'Registry:' },
      expected: {
        state: 'expired',
        raise: {
          alarmId: '500.210',
          severity: 'critical',
          reasonText: `Registry: Certificate registry.local (${LOCATION}) expired.`,
        },
        clear: ['500.200'],
      },
    },
    {
      name: 'alarms a CA 100 days ahead with the CA default of 180 days',
      secondsLeft: 100 * DAY,
      settings: defaultAlarmSettings(true),
      isCa: true,
      expected: {
        state: 'expiring',
        raise: {
          alarmId: '500.200',
          severity: 'major',
          reasonText: `Certificate registry.local (${LOCATION}) is expiring soon on 2026-06-09, 12:00:00`,
        },
        clear: ['500.210'],
      },
    },
    {
      name: 'names a certificate without a CN by its whole subject',
      secondsLeft: -1,
      settings: leaf,
      subject: 'C=US, O=Acme',
      expected: {
        state: 'expired',
        raise: {
          alarmId: '500.210',
          severity: 'critical',
          reasonText: `Certificate C=US, O=Acme (${LOCATION}) expired.`,
        },
        clear: ['500.200'],
      },
    },
    {
      name: 'unescapes the CN and takes it from a multi-valued RDN',
      secondsLeft: -1,
      settings: leaf,
      subject: 'C=US, O=x + CN=Acme\\, Inc. \\2B1',
      expected: {
        state: 'expired',
        raise: {
          alarmId: '500.210',
          severity: 'critical',
          reasonText: `Certificate Acme, Inc. +1 (${LOCATION}) expired.`,
        },
        clear: ['500.200'],
      },
    },
  ];
  for (const { name, secondsLeft, settings, subject, isCa, expected } of cases) {
    it(name, () => {
      const info = buildCertificateInfo({
        notAfter: inSeconds(secondsLeft),
        location: LOCATION,
        ...(subject === undefined ? {} : { subject }),
        ...(isCa === undefined ? {} : { isCa }),
      });
      assert.deepEqual(desiredAlarms(info, settings, NOW), expected);
    });
  }

  it('leaves a CA 100 days from expiry alone with the leaf default of 30 days', () => {
    const info = buildCertificateInfo({ notAfter: inSeconds(100 * DAY), isCa: true });
    assert.equal(desiredAlarms(info, defaultAlarmSettings(false), NOW).state, 'ok');
  });
});

describe('parseDuration', () => {
  const valid: [string, number][] = [
    ['30d', THIRTY_DAYS],
    ['180d', 180 * DAY],
    ['12h', 12 * 3600],
    ['90m', 90 * 60],
    ['1w2d', 9 * DAY],
    ['1w1d1h1m', 8 * DAY + 3660],
    ['2w', 14 * DAY],
    ['3600', 3600],
    ['0', 0],
    [' 30d ', THIRTY_DAYS],
  ];
  for (const [text, seconds] of valid) {
    it(`reads "${text}" as ${seconds} seconds`, () => {
      assert.equal(parseDuration(text), seconds);
    });
  }

  for (const text of ['', ' ', '30x', '1d1w', '-1d', '1.5d', 'd', '30 d', '30D', '1e3', '0x10']) {
    it(`rejects "${text}" with invalid_input naming the text`, () => {
      assert.throws(
        () => parseDuration(text),
        (error: unknown) =>
          error instanceof AppError && error.code === 'invalid_input' && error.message.includes(`"${text}"`),
      );
    });
  }
});

describe('certificateEntityId', () => {
  it('forms the StarlingX entity id from the first 32 hex digits of the fingerprint', () => {
    const fingerprint = `${'0123456789abcdef'.repeat(2)}${'f'.repeat(32)}`;
    const id = certificateEntityId('ssl', fingerprint);
    assert.equal(id, 'system.certificate.mode=ssl.uuid=0123456789abcdef0123456789abcdef');
    assert.doesNotThrow(() => validateEntityInstanceId(id));
  });
});
