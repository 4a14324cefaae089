import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PASSWORD_POLICY } from '../core/config.js';
import { AppError } from '../core/errors.js';
import {
  decideLogin,
  hasPermission,
  ROLE_PERMISSIONS,
  validatePasswordStrength,
  validateRoles,
} from './model.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const policy = DEFAULT_PASSWORD_POLICY;
const fresh = {
  failedAttempts: 0,
  lockedUntil: undefined,
  passwordChangedAt: new Date('2026-05-01T00:00:00Z'),
  isEnabled: true,
};
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);

describe('decideLogin', () => {
  const cases: Array<[string, Parameters<typeof decideLogin>[0], boolean, ReturnType<typeof decideLogin>]> = [
    ['accepts the right password on a usable account', fresh, true, { outcome: 'accepted' }],
    ['counts a wrong password', fresh, false, { outcome: 'rejected', failedAttempts: 1 }],
    [
      'counts the fourth failure without locking',
      { ...fresh, failedAttempts: 3 },
      false,
      { outcome: 'rejected', failedAttempts: 4 },
    ],
    [
      'locks on the fifth failure for 1800 s',
      { ...fresh, failedAttempts: 4 },
      false,
      { outcome: 'locked-now', lockedUntil: minutes(30) },
    ],
    [
      'refuses the right password while locked',
      { ...fresh, lockedUntil: minutes(10) },
      true,
      { outcome: 'locked', lockedUntil: minutes(10) },
    ],
    [
      'refuses a wrong password while locked without extending it',
      { ...fresh, lockedUntil: minutes(10) },
      false,
      { outcome: 'locked', lockedUntil: minutes(10) },
    ],
    [
      'accepts the right password once the lock has passed',
      { ...fresh, lockedUntil: minutes(-1) },
      true,
      { outcome: 'accepted' },
    ],
    [
      'restarts the count after a lock has passed',
      { ...fresh, failedAttempts: 4, lockedUntil: minutes(-1) },
      false,
      { outcome: 'rejected', failedAttempts: 1 },
    ],
    [
      'refuses a disabled account with the right password',
      { ...fresh, isEnabled: false },
      true,
      { outcome: 'disabled' },
    ],
    [
      'counts a wrong password on a disabled account',
      { ...fresh, isEnabled: false },
      false,
      { outcome: 'rejected', failedAttempts: 1 },
    ],
    [
      'reports an expired password after 90 days',
      { ...fresh, passwordChangedAt: new Date(NOW.getTime() - 90 * 86_400_000) },
      true,
      { outcome: 'expired', expiredAt: NOW },
    ],
    [
      'accepts a password one second before it expires',
      { ...fresh, passwordChangedAt: new Date(NOW.getTime() - 90 * 86_400_000 + 1000) },
      true,
      { outcome: 'accepted' },
    ],
  ];
  for (const [name, user, isRight, expected] of cases) {
    test(name, () => assert.deepEqual(decideLogin(user, isRight, NOW, policy), expected));
  }
});

describe('validatePasswordStrength', () => {
  test('accepts a password with 12 characters of all four classes', () => {
    validatePasswordStrength('Abcdefgh1234!', policy);
  });
  for (const [password, missing] of [
    ['Short1!a', 'at least 12 characters'],
    ['alllowercase1!', 'an upper-case letter'],
    ['ALLUPPERCASE1!', 'a lower-case letter'],
    ['NoDigitsHere!!', 'a digit'],
    ['NoSpecials1234', 'a special character'],
  ] as const) {
    test(`refuses "${password}" for lacking ${missing}`, () => {
      assert.throws(
        () => validatePasswordStrength(password, policy),
        (error: unknown) =>
          error instanceof AppError && error.code === 'invalid_input' && error.message.includes(missing),
      );
    });
  }
});

describe('roles and permissions', () => {
  test('grants each role exactly its row of the matrix', () => {
    assert.deepEqual(ROLE_PERMISSIONS, {
      admin: ['read', 'operate', 'configure', 'administer'],
      configurator: ['read', 'operate', 'configure'],
      operator: ['read', 'operate'],
      reader: ['read'],
    });
  });
  test('grants the union of several roles', () => {
    assert.equal(hasPermission(['reader', 'operator'], 'operate'), true);
    assert.equal(hasPermission(['reader', 'operator'], 'configure'), false);
  });
  test('ignores unknown role names', () => {
    assert.equal(hasPermission(['root'], 'read'), false);
  });
  test('refuses an empty or unknown role list', () => {
    assert.throws(() => validateRoles([]), AppError);
    assert.throws(() => validateRoles(['reader', 'superuser']), /superuser/);
  });
});
