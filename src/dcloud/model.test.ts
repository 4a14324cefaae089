import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AvailabilityEvent,
  type AvailabilityState,
  availabilityAfter,
  checkGroup,
  checkGroupDelete,
  checkManagementChange,
  checkSubcloudDelete,
  checkSubcloudName,
  cloudStatus,
  type EndpointStatuses,
  endpointStatus,
  overallSyncStatus,
  unknownEndpoints,
  wantedAlarms,
} from './model.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const DAY = 86_400_000;
const counts = (critical: number, major: number, minor: number, warning: number) => ({
  critical,
  major,
  minor,
  warning,
});
const endpoints = (patch: Partial<EndpointStatuses>): EndpointStatuses => ({
  ...unknownEndpoints(),
  ...patch,
});

describe('cloudStatus', () => {
  const cases: [string, AvailabilityState, ReturnType<typeof counts> | null, string][] = [
    ['no alarms', 'online', counts(0, 0, 0, 0), 'OK'],
    ['warnings only', 'online', counts(0, 0, 0, 7), 'OK'],
    ['a minor alarm', 'online', counts(0, 0, 1, 0), 'degraded'],
    ['a major alarm', 'online', counts(0, 2, 0, 0), 'degraded'],
    ['a critical alarm', 'online', counts(1, 3, 3, 0), 'critical'],
    ['offline', 'offline', counts(1, 0, 0, 0), 'disabled'],
    ['no counts yet', 'online', null, 'disabled'],
  ];
  for (const [name, availability, alarms, expected] of cases) {
    test(`is ${expected} with ${name}`, () => assert.equal(cloudStatus(availability, alarms), expected));
  }
});

describe('overallSyncStatus', () => {
  const cases: [string, AvailabilityState, EndpointStatuses, string][] = [
    ['all unknown', 'online', endpoints({}), 'unknown'],
    ['one in-sync, rest unknown', 'online', endpoints({ identity: 'in-sync' }), 'in-sync'],
    [
      'one out-of-sync',
      'online',
      endpoints({ identity: 'in-sync', certificates: 'out-of-sync', 'dc-cert': 'in-sync' }),
      'out-of-sync',
    ],
    ['offline with stale in-sync', 'offline', endpoints({ identity: 'in-sync' }), 'unknown'],
  ];
  for (const [name, availability, statuses, expected] of cases) {
    test(`is ${expected} when ${name}`, () =>
      assert.equal(overallSyncStatus(availability, statuses), expected));
  }
});

describe('availabilityAfter', () => {
  const cases: [AvailabilityState, AvailabilityEvent, AvailabilityState][] = [
    ['offline', 'digest', 'online'],
    ['online', 'digest', 'online'],
    ['online', 'closed', 'online'],
    ['offline', 'closed', 'offline'],
    ['online', 'grace-expired', 'offline'],
    ['online', 'ping-timeout', 'offline'],
    ['offline', 'ping-timeout', 'offline'],
  ];
  for (const [from, event, to] of cases) {
    test(`${from} + ${event} → ${to}`, () => assert.equal(availabilityAfter(from, event), to));
  }
});

describe('endpointStatus', () => {
  const base = { nowMs: NOW, renewBeforeMs: 30 * DAY };
  const iso = (ms: number) => new Date(ms).toISOString();
  const cases: [string, Parameters<typeof endpointStatus>[0], string][] = [
    [
      'nothing reported',
      { ...base, endpoint: 'identity', reported: undefined, desiredRevision: 'a' },
      'unknown',
    ],
    [
      'same revision',
      { ...base, endpoint: 'identity', reported: { revision: 'a' }, desiredRevision: 'a' },
      'in-sync',
    ],
    [
      'other revision',
      { ...base, endpoint: 'certificates', reported: { revision: 'b' }, desiredRevision: 'a' },
      'out-of-sync',
    ],
    [
      'no desired yet',
      { ...base, endpoint: 'identity', reported: { revision: 'a' }, desiredRevision: undefined },
      'unknown',
    ],
    [
      'dc-cert far from expiry',
      {
        ...base,
        endpoint: 'dc-cert',
        reported: { revision: '', notAfter: iso(NOW + 90 * DAY) },
        desiredRevision: undefined,
      },
      'in-sync',
    ],
    [
      'dc-cert inside the renewal window',
      {
        ...base,
        endpoint: 'dc-cert',
        reported: { revision: '', notAfter: iso(NOW + 29 * DAY) },
        desiredRevision: undefined,
      },
      'out-of-sync',
    ],
    [
      'dc-cert without notAfter',
      { ...base, endpoint: 'dc-cert', reported: { revision: 'x' }, desiredRevision: undefined },
      'unknown',
    ],
  ];
  for (const [name, input, expected] of cases) {
    test(`is ${expected} for ${name}`, () => assert.equal(endpointStatus(input), expected));
  }
});

describe('wantedAlarms', () => {
  const subcloud = { name: 'sc-1', management: 'managed' as const, availability: 'online' as const };

  test('raises 280.002 per out-of-sync endpoint of a managed online subcloud', () => {
    const alarms = wantedAlarms({
      ...subcloud,
      endpoints: endpoints({ identity: 'out-of-sync', certificates: 'in-sync' }),
    });
    assert.deepEqual(alarms, [
      {
        alarmId: '280.002',
        entityInstanceId: 'subcloud=sc-1.resource=identity',
        severity: 'major',
        reasonText: 'sc-1 identity sync_status is out-of-sync',
      },
    ]);
  });

  test('raises only 280.001 for a managed offline subcloud', () => {
    const alarms = wantedAlarms({ ...subcloud, availability: 'offline', endpoints: unknownEndpoints() });
    assert.deepEqual(alarms, [
      {
        alarmId: '280.001',
        entityInstanceId: 'subcloud=sc-1',
        severity: 'critical',
        reasonText: 'sc-1 is offline',
      },
    ]);
  });

  test('raises nothing for an unmanaged subcloud, online or offline', () => {
    const out = endpoints({ identity: 'out-of-sync' });
    assert.deepEqual(wantedAlarms({ ...subcloud, management: 'unmanaged', endpoints: out }), []);
    assert.deepEqual(
      wantedAlarms({ ...subcloud, management: 'unmanaged', availability: 'offline', endpoints: out }),
      [],
    );
  });
});

describe('subcloud checks', () => {
  test('accepts host-like names and refuses others', () => {
    for (const name of ['sc-1', 'a', 'edge0001']) assert.equal(checkSubcloudName(name), undefined);
    for (const name of ['', 'Sc-1', '-a', 'a.b', 'a_b', 'x'.repeat(64)]) {
      assert.equal(checkSubcloudName(name)?.code, 'invalid_input', name);
    }
  });

  test('refuses a management change to the same state', () => {
    assert.equal(checkManagementChange('sc', 'unmanaged', 'managed'), undefined);
    assert.equal(checkManagementChange('sc', 'managed', 'managed')?.code, 'conflict');
  });

  test('deletes only unmanaged subclouds unless forced', () => {
    assert.equal(checkSubcloudDelete('sc', 'unmanaged', false), undefined);
    assert.equal(checkSubcloudDelete('sc', 'managed', true), undefined);
    assert.match(checkSubcloudDelete('sc', 'managed', false)?.reason ?? '', /unmanage it first/);
  });
});

describe('group checks', () => {
  const valid = { name: 'east', description: '', updateApplyType: 'serial', maxParallelSubclouds: 1 };
  const cases: [string, Parameters<typeof checkGroup>[0], string | undefined][] = [
    ['a valid group', valid, undefined],
    ['an empty name', { ...valid, name: ' ' }, 'name'],
    ['a 256-character name', { ...valid, name: 'g'.repeat(256) }, 'name'],
    ['an all-digit name', { ...valid, name: '42' }, 'name'],
    ['an unknown apply type', { ...valid, updateApplyType: 'random' }, 'updateApplyType'],
    ['max parallel 0', { ...valid, maxParallelSubclouds: 0 }, 'maxParallelSubclouds'],
    ['max parallel 5001', { ...valid, maxParallelSubclouds: 5001 }, 'maxParallelSubclouds'],
    ['max parallel 5000', { ...valid, maxParallelSubclouds: 5000 }, undefined],
    ['max parallel 2.5', { ...valid, maxParallelSubclouds: 2.5 }, 'maxParallelSubclouds'],
    ['a patch without name', { maxParallelSubclouds: 10 }, undefined],
  ];
  for (const [name, group, field] of cases) {
    test(`${field ? 'refuses' : 'accepts'} ${name}`, () => assert.equal(checkGroup(group)?.field, field));
  }

  test('refuses deleting Default or a group with members', () => {
    assert.match(checkGroupDelete('Default', 0)?.reason ?? '', /Default group cannot be deleted/);
    assert.match(checkGroupDelete('east', 3)?.reason ?? '', /still has 3 subcloud/);
    assert.equal(checkGroupDelete('east', 0), undefined);
  });
});
