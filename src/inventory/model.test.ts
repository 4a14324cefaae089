import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AdminAction,
  checkHostAdd,
  checkModeChange,
  configStatus,
  connectedStates,
  decideAdminAction,
  defaultSubfunctions,
  type HostFacts,
  isRefusal,
  type SystemFacts,
} from './model.js';

const AIO_SX: SystemFacts = { systemType: 'All-in-one', mode: 'simplex' };
const AIO_DX: SystemFacts = { systemType: 'All-in-one', mode: 'duplex' };
const STANDARD: SystemFacts = { systemType: 'Standard', mode: 'simplex' };

function host(
  hostname: string,
  administrative: 'locked' | 'unlocked',
  availability = 'available',
): HostFacts {
  const personality = hostname.startsWith('controller') ? 'controller' : 'worker';
  return { hostname, personality, administrative, availability: availability as HostFacts['availability'] };
}

describe('lock/unlock state machine', () => {
  const c0 = host('controller-0', 'unlocked');
  const c1 = host('controller-1', 'unlocked');
  const c1Locked = host('controller-1', 'locked', 'online');
  const w0 = host('worker-0', 'unlocked');
  const w0Locked = host('worker-0', 'locked', 'online');
  const w0Offline = host('worker-0', 'locked', 'offline');
  const w0UnlockedOffline = host('worker-0', 'unlocked', 'offline');
  // [system, all hosts, host, action, expected states or refusal code + text]
  const cases: [string, SystemFacts, HostFacts[], HostFacts, AdminAction, string][] = [
    ['lock an unlocked worker', STANDARD, [c0, w0], w0, 'lock', 'locked/disabled/online'],
    [
      'lock an offline unlocked worker',
      STANDARD,
      [c0, w0UnlockedOffline],
      w0UnlockedOffline,
      'lock',
      'locked/disabled/offline',
    ],
    ['lock a locked worker', STANDARD, [c0, w0Locked], w0Locked, 'lock', 'conflict:already locked'],
    ['lock the simplex controller', AIO_SX, [c0], c0, 'lock', 'locked/disabled/online'],
    ['lock one of two unlocked controllers', AIO_DX, [c0, c1], c1, 'lock', 'locked/disabled/online'],
    [
      'lock the last unlocked controller',
      AIO_DX,
      [c0, c1Locked],
      c0,
      'lock',
      'precondition_failed:last unlocked controller',
    ],
    [
      'force-lock the last unlocked controller',
      AIO_DX,
      [c0, c1Locked],
      c0,
      'force-lock',
      'locked/disabled/online',
    ],
    [
      'unlock an online locked worker',
      STANDARD,
      [c0, w0Locked],
      w0Locked,
      'unlock',
      'unlocked/enabled/available',
    ],
    ['unlock an unlocked worker', STANDARD, [c0, w0], w0, 'unlock', 'conflict:already unlocked'],
    [
      'unlock an offline worker',
      STANDARD,
      [c0, w0Offline],
      w0Offline,
      'unlock',
      'precondition_failed:agent must be connected',
    ],
  ];
  for (const [name, system, hosts, subject, action, expected] of cases) {
    test(name, () => {
      const decision = decideAdminAction(system, hosts, subject, action);
      if (isRefusal(decision)) {
        const [code, text] = expected.split(':');
        assert.equal(decision.code, code, decision.reason);
        assert.match(decision.reason, new RegExp(text ?? ''));
      } else {
        assert.equal(`${decision.administrative}/${decision.operational}/${decision.availability}`, expected);
      }
    });
  }
});

describe('system mode migration', () => {
  const locked = host('controller-0', 'locked', 'online');
  const unlocked = host('controller-0', 'unlocked');
  test('simplex → duplex needs All-in-one and controller-0 locked', () => {
    assert.equal(checkModeChange(AIO_SX, 'duplex', locked), undefined);
    assert.match(checkModeChange(AIO_SX, 'duplex', unlocked)?.reason ?? '', /controller-0 must be locked/);
    assert.match(checkModeChange(STANDARD, 'duplex', locked)?.reason ?? '', /only to All-in-one/);
  });
  test('duplex → simplex is refused; the same mode is a no-op', () => {
    assert.match(checkModeChange(AIO_DX, 'simplex', locked)?.reason ?? '', /cannot go back to simplex/);
    assert.equal(checkModeChange(AIO_DX, 'duplex', unlocked), undefined);
  });
});

describe('which hosts a system may have', () => {
  const c0 = host('controller-0', 'unlocked');
  test('simplex refuses any second host and points to the migration', () => {
    const refusal = checkHostAdd(AIO_SX, [c0], { hostname: 'controller-1', personality: 'controller' });
    assert.equal(refusal?.code, 'precondition_failed');
    assert.match(refusal?.reason ?? '', /murm system modify --mode duplex/);
  });
  test('duplex accepts controller-1 and workers, not storage', () => {
    assert.equal(
      checkHostAdd(AIO_DX, [c0], { hostname: 'controller-1', personality: 'controller' }),
      undefined,
    );
    assert.equal(checkHostAdd(AIO_DX, [c0], { hostname: 'worker-0', personality: 'worker' }), undefined);
    assert.match(
      checkHostAdd(AIO_DX, [c0], { hostname: 's0', personality: 'storage' })?.reason ?? '',
      /Standard/,
    );
  });
  test('names: duplicates, bad names, controller names', () => {
    assert.equal(
      checkHostAdd(STANDARD, [c0], { hostname: 'controller-0', personality: 'controller' })?.code,
      'conflict',
    );
    assert.equal(
      checkHostAdd(STANDARD, [c0], { hostname: 'Bad_Name', personality: 'worker' })?.code,
      'invalid_input',
    );
    assert.equal(
      checkHostAdd(STANDARD, [c0], { hostname: 'ctl-9', personality: 'controller' })?.code,
      'invalid_input',
    );
    assert.equal(
      checkHostAdd(STANDARD, [c0], { hostname: 'controller-1', personality: 'worker' })?.code,
      'invalid_input',
    );
    assert.equal(checkHostAdd(STANDARD, [c0], { hostname: 'storage-0', personality: 'storage' }), undefined);
  });
});

describe('derived states', () => {
  test('subfunctions: an All-in-one controller also runs workloads', () => {
    assert.deepEqual(defaultSubfunctions('All-in-one', 'controller'), ['controller', 'worker']);
    assert.deepEqual(defaultSubfunctions('Standard', 'controller'), ['controller']);
    assert.deepEqual(defaultSubfunctions('Standard', 'worker'), ['worker']);
  });
  test('connected: locked is online, unlocked is available or degraded with discovery problems', () => {
    assert.equal(connectedStates('locked', true).availability, 'online');
    assert.equal(connectedStates('unlocked', false).availability, 'available');
    assert.equal(connectedStates('unlocked', true).availability, 'degraded');
  });
  test('config status', () => {
    assert.equal(configStatus(null, null), 'unknown');
    assert.equal(configStatus('a', 'a'), 'up-to-date');
    assert.equal(configStatus('a', null), 'out-of-date');
  });
});
