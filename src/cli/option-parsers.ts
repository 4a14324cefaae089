import { InvalidArgumentError } from 'commander';

const DURATION_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`/`--until`: an ISO 8601 time or an age before now (`30m`, `2h`, `7d`), as an ISO string. */
export function parseTime(value: string): string {
  const age = /^(\d+)([smhd])$/.exec(value.trim());
  if (age) {
    const [, amount, unit] = age;
    return new Date(
      Date.now() - Number(amount) * DURATION_MS[unit as keyof typeof DURATION_MS],
    ).toISOString();
  }
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new InvalidArgumentError(
      'give an ISO 8601 time like 2025-01-31T12:00:00Z, or an age like 30m, 2h, 7d',
    );
  }
  return time.toISOString();
}

/** `--limit`: a page size from 1 to 1000. */
export function parseLimit(value: string): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError('give a whole number from 1 to 1000');
  }
  return limit;
}
