import type { EventEmitter } from 'node:events';

/**
 * Resolves with `check()` once it returns something, re-checking on every `change` event of `emitter`;
 * fails after `timeoutMs` naming `what`. For in-test servers that emit `change` when they learn something.
 */
export function untilChange<T>(
  emitter: EventEmitter,
  what: string,
  check: () => T | undefined | false,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const poll = () => {
      const value = check();
      if (value === undefined || value === false) return;
      cleanup();
      resolve(value);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off('change', poll);
    };
    emitter.on('change', poll);
    poll();
  });
}
