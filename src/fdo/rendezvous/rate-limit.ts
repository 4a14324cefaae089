import type { Clock } from '../../core/clock.js';

interface Bucket {
  tokens: number;
  at: number;
}

/** Source addresses tracked at most; beyond it idle buckets are dropped (full buckets carry no state). */
const MAX_TRACKED = 100_000;

/** Per-source token buckets: `perSecond` refill, `burst` capacity. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: { perSecond: number; burst: number; clock: Clock }) {}

  /** Takes one token for `source`; false when its bucket is empty. */
  take(source: string): boolean {
    const now = this.options.clock.now().getTime();
    const { perSecond, burst } = this.options;
    let bucket = this.buckets.get(source);
    if (!bucket) {
      if (this.buckets.size >= MAX_TRACKED) this.dropFull(now);
      bucket = { tokens: burst, at: now };
      this.buckets.set(source, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private dropFull(now: number): void {
    const { perSecond, burst } = this.options;
    for (const [source, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) this.buckets.delete(source);
    }
    // Under a flood from many addresses, forget the oldest rather than grow without bound.
    if (this.buckets.size >= MAX_TRACKED) this.buckets.clear();
  }
}

/**
 * The bucket an address draws from: IPv4 addresses one each, IPv6 addresses by their /64, because one
 * host usually holds a whole /64 and could otherwise rotate through it to escape the limit.
 */
export function rateLimitKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!address.includes(':')) return address;
  const [head = '', tail] = (address.split('%')[0] ?? '').split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [
    ...left,
    ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'),
    ...right,
  ];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
