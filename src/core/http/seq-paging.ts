import { AppError } from '../errors.js';

/** The position of a list paged newest first by a sequence number, from its `next` cursor. */
export function decodeSeqCursor(next: string | undefined): number | undefined {
  if (next === undefined) return undefined;
  const seq = Number(Buffer.from(next, 'base64url').toString());
  if (!Number.isInteger(seq)) {
    throw new AppError('invalid_input', 'query parameter "next" is not a cursor this server gave out', {
      field: 'next',
    });
  }
  return seq;
}

/** A page from rows fetched with `limit + 1`: the first `limit`, and a cursor when there are more. */
export function seqPage<T extends { seq: number }>(rows: T[], limit: number): { items: T[]; next?: string } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return rows.length > limit && last
    ? { items, next: Buffer.from(String(last.seq)).toString('base64url') }
    : { items };
}

/** A `date-time` query parameter as canonical ISO text (so it compares with stored timestamps). */
export function isoTime(value: string | undefined): string | undefined {
  return value === undefined ? undefined : new Date(value).toISOString();
}
