import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveServeConfig } from '../../core/config.js';
import { AppError } from '../../core/errors.js';
import { DEFAULT_RENDEZVOUS_SETTINGS } from './model.js';
import { resolveRendezvousSettings } from './rendezvous.js';

describe('fdo rendezvous configuration', () => {
  test('defaults: 30 days at most, 120 s per exchange, 100000 exchanges, 50/s per address', () => {
    assert.deepEqual(resolveRendezvousSettings({}), DEFAULT_RENDEZVOUS_SETTINGS);
    assert.equal(DEFAULT_RENDEZVOUS_SETTINGS.maxWaitSeconds, 2_592_000);
  });

  test('reads the environment and names a bad variable', () => {
    const settings = resolveRendezvousSettings({ MURM_FDO_MAX_WAIT_SECONDS: '86400', MURM_FDO_RATE: '5' });
    assert.equal(settings.maxWaitSeconds, 86_400);
    assert.equal(settings.ratePerSecond, 5);
    assert.throws(
      () => resolveRendezvousSettings({ MURM_FDO_SESSION_TTL: '-1' }),
      (error: unknown) =>
        error instanceof AppError &&
        error.code === 'invalid_input' &&
        /MURM_FDO_SESSION_TTL/.test(error.message),
    );
  });

  test('--fdo-listen (or MURM_FDO_LISTEN) turns the listener on; off by default', () => {
    assert.equal(resolveServeConfig({}, {}, '/tmp').fdoListen, undefined);
    assert.deepEqual(resolveServeConfig({ fdoListen: '0.0.0.0:8040' }, {}, '/tmp').fdoListen, {
      host: '0.0.0.0',
      port: 8040,
    });
    assert.deepEqual(resolveServeConfig({}, { MURM_FDO_LISTEN: '[::1]:8041' }, '/tmp').fdoListen, {
      host: '::1',
      port: 8041,
    });
    assert.throws(() => resolveServeConfig({ fdoListen: '8040' }, {}, '/tmp'), /--fdo-listen|host:port/);
  });
});
