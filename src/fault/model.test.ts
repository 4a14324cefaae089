import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../core/errors.js';
import { entityTypeOf, meetsThreshold, summaryStatus, validateEntityInstanceId } from './model.js';

describe('summaryStatus', () => {
  const cases: Array<[string, { critical: number; major: number; minor: number; warning: number }, string]> =
    [
      ['is OK with no alarms', { critical: 0, major: 0, minor: 0, warning: 0 }, 'OK'],
      ['is OK with only warnings', { critical: 0, major: 0, minor: 0, warning: 7 }, 'OK'],
      ['is degraded with a minor', { critical: 0, major: 0, minor: 1, warning: 0 }, 'degraded'],
      ['is degraded with a major', { critical: 0, major: 2, minor: 0, warning: 3 }, 'degraded'],
      ['is critical with any critical', { critical: 1, major: 5, minor: 5, warning: 5 }, 'critical'],
    ];
  for (const [name, counts, expected] of cases)
    test(name, () => assert.equal(summaryStatus(counts), expected));
});

describe('meetsThreshold', () => {
  const cases: Array<[Parameters<typeof meetsThreshold>[0], Parameters<typeof meetsThreshold>[1], boolean]> =
    [
      ['critical', 'critical', true],
      ['major', 'critical', false],
      ['major', 'major', true],
      ['critical', 'warning', true],
      ['warning', 'minor', false],
      ['critical', 'none', false],
    ];
  for (const [severity, threshold, expected] of cases) {
    test(`says ${severity} ${expected ? 'meets' : 'does not meet'} ${threshold}`, () =>
      assert.equal(meetsThreshold(severity, threshold), expected));
  }
});

describe('entity instance ids', () => {
  for (const good of [
    'host=controller-0',
    'host=controller-0.ntp=10.0.0.1',
    'subcloud=edge-7.resource=identity',
    'resource=crd,name=x',
  ]) {
    test(`accepts ${good}`, () => validateEntityInstanceId(good));
  }
  for (const bad of ['', 'controller-0', 'host=a b', '=x', `host=${'x'.repeat(300)}`]) {
    test(`refuses "${bad.slice(0, 20)}"`, () => assert.throws(() => validateEntityInstanceId(bad), AppError));
  }
  test('takes the entity type from the first pair', () =>
    assert.equal(entityTypeOf('host=a.port=b'), 'host'));
});
