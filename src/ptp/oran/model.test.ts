import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialSyncStatus, type SyncState } from '../sync-state.js';
import { buildEvent, changedValues, isCoveredBy, parseResourceAddress, resourceValues } from './model.js';
import type { NodeSyncStatus } from './status-source.js';

function buildNodeStatus(
  overrides: Partial<NodeSyncStatus> & { state?: SyncState; clockClass?: number } = {},
) {
  const { state = 'LOCKED', clockClass = 6, ...rest } = overrides;
  const ptp = { ...initialSyncStatus(new Date('2026-01-01T00:00:00Z')), state, clockClass };
  return { node: 'controller-0', ptp, ...rest } satisfies NodeSyncStatus;
}

function resourceValue(status: NodeSyncStatus, path: string) {
  return resourceValues(status, '.').find((v) => v.path === path)?.value;
}

test('maps each PTP state to the lock-state value and the node sync-state', () => {
  for (const state of ['LOCKED', 'HOLDOVER', 'FREERUN'] as const) {
    const status = buildNodeStatus({ state });
    assert.equal(resourceValue(status, '/sync/ptp-status/lock-state'), state);
    assert.equal(resourceValue(status, '/sync/sync-status/sync-state'), state);
  }
});

test('derives sync-state as the worst of PTP, OS clock, SyncE and GNSS', () => {
  const cases: Array<[Partial<NodeSyncStatus> & { state?: SyncState }, SyncState]> = [
    [{ state: 'LOCKED', osClock: 'LOCKED' }, 'LOCKED'],
    [{ state: 'LOCKED', osClock: 'HOLDOVER' }, 'HOLDOVER'],
    [{ state: 'HOLDOVER', synce: 'FREERUN' }, 'FREERUN'],
    [{ state: 'LOCKED', gnss: 'NOT_SYNCHRONIZED' }, 'FREERUN'],
    [{ state: 'LOCKED', gnss: 'SYNCHRONIZED' }, 'LOCKED'],
  ];
  for (const [overrides, expected] of cases) {
    assert.equal(resourceValue(buildNodeStatus(overrides), '/sync/sync-status/sync-state'), expected);
  }
});

test('publishes the clock class as a metric and the optional resources only with data', () => {
  const bare = resourceValues(buildNodeStatus({ clockClass: 248 }), '.');
  assert.deepEqual(
    bare.map((v) => v.path),
    ['/sync/sync-status/sync-state', '/sync/ptp-status/lock-state', '/sync/ptp-status/clock-class'],
  );
  assert.equal(resourceValue(buildNodeStatus({ clockClass: 248 }), '/sync/ptp-status/clock-class'), 248);
  const full = buildNodeStatus({ osClock: 'LOCKED', gnss: 'SYNCHRONIZED', synce: 'LOCKED' });
  assert.equal(resourceValues(full, '.').length, 6);
});

test('reports only the resources whose value changed', () => {
  const before = buildNodeStatus({ state: 'LOCKED', clockClass: 6 });
  const after = buildNodeStatus({ state: 'LOCKED', clockClass: 135 });
  assert.deepEqual(
    changedValues(after, before, '.').map((v) => v.path),
    ['/sync/ptp-status/clock-class'],
  );
  assert.equal(changedValues(after, undefined, '.').length, 3);
});

test('builds a CloudEvent with the reference value format', () => {
  const [value] = resourceValues(buildNodeStatus(), '.').filter((v) => v.path.endsWith('clock-class'));
  assert.ok(value);
  const event = buildEvent(value, { id: 'e-1', time: new Date('2026-01-01T00:00:01Z') });
  assert.deepEqual(event, {
    specversion: '1.0',
    id: 'e-1',
    source: '/sync/ptp-status/clock-class',
    type: 'event.sync.ptp-status.ptp-clock-class-change',
    time: '2026-01-01T00:00:01.000Z',
    data: {
      version: '1.0',
      values: [
        {
          ResourceAddress: '/./controller-0/sync/ptp-status/clock-class',
          data_type: 'metric',
          value_type: 'metric',
          value: 6,
        },
      ],
    },
  });
});

test('covers a resource by an equal or shorter address of the same node only', () => {
  const resource = parseResourceAddress('/./controller-0/sync/ptp-status/lock-state', '.');
  const cases: Array<[string, boolean]> = [
    ['/./controller-0/sync', true],
    ['/./controller-0/sync/ptp-status', true],
    ['/./controller-0/sync/ptp-status/lock-state', true],
    ['/./controller-0/sync/ptp-status/clock-class', false],
    ['/./controller-0/sync/sync-status', false],
    ['/./controller-1/sync', false],
  ];
  for (const [text, expected] of cases) {
    assert.equal(isCoveredBy(resource, parseResourceAddress(text, '.')), expected, text);
  }
  // "/sync/ptp" is not a parent of "/sync/ptp-status/…": segments, not prefixes of text.
  assert.throws(() => parseResourceAddress('/./controller-0/sync/ptp', '.'), /unknown resource/);
});
