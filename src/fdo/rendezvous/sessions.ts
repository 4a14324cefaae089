import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';

const POOL_SIZE = 4096;
const TOKEN_SIZE = 24;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/**
 * Random bytes from the CSPRNG, drawn in 4 KiB batches: each exchange needs a nonce and a token, and one
 * system call per hundred exchanges costs less than two per exchange. The bytes are copied out, never shared.
 */
export function randomBytesPooled(size: number): Uint8Array {
  assert.ok(size <= POOL_SIZE, 'a pooled draw is small');
  const at = reserve(size);
  const bytes = new Uint8Array(pool.subarray(at, at + size));
  pool.fill(0, at, at + size);
  return bytes;
}

/** A bearer token: 24 pooled random bytes as base64url, encoded straight from the pool (no copies). */
function randomToken(): string {
  const at = reserve(TOKEN_SIZE);
  const token = pool.toString('base64url', at, at + TOKEN_SIZE);
  pool.fill(0, at, at + TOKEN_SIZE);
  return token;
}

/** Offset of `size` unused bytes in the pool; the caller copies them out and wipes them. */
function reserve(size: number): number {
  if (poolOffset + size > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += size;
  return at;
}

/** A live protocol exchange: which protocol, what the next message must prove, and its log id. */
export interface ProtocolSession<T> {
  readonly token: string;
  /** Correlation id: in the logs of every step and in an ErrorMessage's EMErrorCID. */
  readonly cid: number;
  readonly data: T;
  readonly expiresAt: number;
}

/**
 * Protocol sessions (fdo.md §1, §7): one opaque bearer token per exchange, issued on 21/31 and never
 * changed (the C device SDK keeps the first Authorization value it sees). A session is used once: the
 * second message of the exchange takes it, whatever the outcome. Sessions live `ttlMs`; at most `max`
 * at once. The Map keeps insertion order and every session has the same lifetime, so expired ones
 * are always at the front: the sweep stops at the first live one.
 */
export class ProtocolSessions<T> {
  private readonly sessions = new Map<string, ProtocolSession<T>>();

  constructor(private readonly options: { ttlMs: number; max: number; clock: Clock }) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Opens a session; undefined when `max` live sessions exist already. */
  open(data: T, cid: number): ProtocolSession<T> | undefined {
    const now = this.options.clock.now().getTime();
    if (this.sessions.size >= this.options.max) {
      this.sweep(now);
      if (this.sessions.size >= this.options.max) return undefined;
    }
    const session = {
      token: randomToken(),
      cid,
      data,
      expiresAt: now + this.options.ttlMs,
    };
    this.sessions.set(session.token, session);
    return session;
  }

  /** Removes and returns the live session of a token; undefined when unknown or expired. */
  take(token: string): ProtocolSession<T> | undefined {
    const session = this.sessions.get(token);
    if (!session) return undefined;
    this.sessions.delete(token);
    return session.expiresAt > this.options.clock.now().getTime() ? session : undefined;
  }

  /** Ends a session without using it (the peer sent an ErrorMessage). */
  end(token: string): void {
    this.sessions.delete(token);
  }

  /** Drops expired sessions; returns how many. */
  sweep(now = this.options.clock.now().getTime()): number {
    let count = 0;
    for (const [token, session] of this.sessions) {
      if (session.expiresAt > now) break;
      this.sessions.delete(token);
      count += 1;
    }
    return count;
  }
}
