import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconnectDelayMs } from './backoff.js';

describe('reconnectDelayMs', () => {
  it('doubles the ceiling with each attempt from the base', () => {
    const atCeiling = () => 0.999_999;
    const delays = [0, 1, 2, 3, 4].map((attempt) => reconnectDelayMs(attempt, atCeiling, { baseMs: 100 }));
    assert.deepEqual(delays, [99, 199, 399, 799, 1599]);
  });

  it('never waits longer than the cap, however many attempts failed', () => {
    for (const attempt of [6, 10, 31, 1000, Number.MAX_SAFE_INTEGER]) {
      const delay = reconnectDelayMs(attempt, () => 0.999_999, { baseMs: 500, capMs: 30_000 });
      assert.ok(delay <= 30_000 && delay >= 29_999, `attempt ${attempt} gave ${delay}`);
    }
  });

  it('draws the delay uniformly below the ceiling with the injected random source', () => {
    assert.equal(
      reconnectDelayMs(3, () => 0),
      0,
    );
    assert.equal(
      reconnectDelayMs(3, () => 0.5),
      2000,
    );
    assert.equal(
      reconnectDelayMs(3, () => 0.25),
      1000,
    );
  });

  it('stays within [0, ceiling] for every draw and attempt', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const ceiling = Math.min(30_000, 500 * 2 ** attempt);
      const delay = reconnectDelayMs(attempt, random);
      assert.ok(
        Number.isInteger(delay) && delay >= 0 && delay <= ceiling,
        `attempt ${attempt} gave ${delay}`,
      );
    }
  });

  it('treats a negative attempt as the first one and clamps a random source outside [0, 1)', () => {
    assert.equal(
      reconnectDelayMs(-3, () => 0.5, { baseMs: 100 }),
      50,
    );
    assert.equal(
      reconnectDelayMs(0, () => 7, { baseMs: 100 }),
      100,
    );
    assert.equal(
      reconnectDelayMs(0, () => -1, { baseMs: 100 }),
      0,
    );
  });
});
