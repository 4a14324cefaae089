import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../../test/helpers/clock.js';
import { RateLimiter, rateLimitKey } from './rate-limit.js';
import { ProtocolSessions, randomBytesPooled } from './sessions.js';

describe('protocol sessions', () => {
  test('a token is taken once: the second use finds nothing', () => {
    const sessions = new ProtocolSessions<string>({ ttlMs: 60_000, max: 10, clock: new FakeClock() });
    const session = sessions.open('to0', 7);
    assert.ok(session);
    assert.match(session.token, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(sessions.take(session.token)?.data, 'to0');
    assert.equal(sessions.take(session.token), undefined);
  });

  test('a session expires after its time to live', () => {
    const clock = new FakeClock();
    const sessions = new ProtocolSessions<string>({ ttlMs: 120_000, max: 10, clock });
    const early = sessions.open('a', 1);
    clock.advance(119);
    const late = sessions.open('b', 2);
    assert.ok(early && late);
    assert.equal(sessions.take(early.token)?.data, 'a');
    clock.advance(2);
    assert.equal(sessions.sweep(), 0, 'the taken one is gone, the other is still live');
    clock.advance(118);
    assert.equal(sessions.take(late.token), undefined);
  });

  test('beyond the cap new sessions are refused until old ones expire', () => {
    const clock = new FakeClock();
    const sessions = new ProtocolSessions<number>({ ttlMs: 10_000, max: 3, clock });
    for (let i = 0; i < 3; i++) assert.ok(sessions.open(i, i));
    assert.equal(sessions.open(3, 3), undefined);
    clock.advance(10);
    assert.ok(sessions.open(4, 4), 'the sweep on a full table frees expired sessions');
    assert.equal(sessions.size, 1);
  });
});

test('pooled random draws have the size asked for and do not repeat across refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const bytes = randomBytesPooled(16);
    assert.equal(bytes.length, 16);
    seen.add(Buffer.from(bytes).toString('hex'));
  }
  assert.equal(seen.size, 1000);
});

describe('per-address rate limit', () => {
  test('allows the burst, then the refill rate, per address', () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ perSecond: 2, burst: 3, clock });
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('10.0.0.1')),
      [true, true, true, false],
    );
    assert.equal(limiter.take('10.0.0.2'), true, 'another address has its own bucket');
    clock.advance(0.5);
    assert.equal(limiter.take('10.0.0.1'), true);
    assert.equal(limiter.take('10.0.0.1'), false);
  });
});

test('rate limits IPv4 by address and IPv6 by /64', () => {
  assert.equal(rateLimitKey('203.0.113.9'), '203.0.113.9');
  assert.equal(rateLimitKey('::ffff:203.0.113.9'), '203.0.113.9');
  assert.equal(rateLimitKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(rateLimitKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(rateLimitKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(rateLimitKey('::1'), '0:0:0:0::/64');
  assert.equal(rateLimitKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
});
