import { createHmac } from 'node:crypto';
import { invalidInput } from '../core/errors.js';
import { type AlarmChange, meetsThreshold, type Severity } from './model.js';

/**
 * Alarm webhooks: every alarm change that matches a subscription's filter is written to an outbox row
 * in the same statement for all matching subscriptions, then POSTed, signed, until the receiver answers
 * 2xx (at-least-once: a receiver deduplicates on `x-murm-event-id`).
 *
 * Outbox row states (stored as text):
 * - `pending`: waiting for its next attempt at `next_attempt_at`; a failed attempt keeps it pending and
 *   moves `next_attempt_at` by `nextDelaySeconds(attempts)`.
 * - `delivered`: the receiver answered 2xx. Terminal.
 * - `failed`: `maxAttempts` attempts failed; we gave up. Terminal.
 * For terminal rows `next_attempt_at` holds the time of the last attempt, which is what purging reads.
 */
const DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** The outcome of a webhook's most recent attempt: delivered, failed but retrying, or given up. */
export const LAST_DELIVERY_STATUSES = ['delivered', 'retrying', 'failed'] as const;
export type LastDeliveryStatus = (typeof LAST_DELIVERY_STATUSES)[number];

export const ALARM_CHANGE_KINDS = ['raised', 'updated', 'cleared'] as const;
type AlarmChangeKind = AlarmChange['kind'];

/** Which alarm changes a webhook receives; every given criterion must match (absent means any). */
export interface AlarmWebhookFilter {
  alarmIds?: string[];
  /** The least severe severity still sent (`major` sends critical and major). */
  minSeverity?: Severity;
  entityInstancePrefix?: string;
  kinds?: AlarmChangeKind[];
}

export const DEFAULT_MAX_ATTEMPTS = 10;
export const SECRET_MIN_LENGTH = 16;
export const SECRET_MAX_LENGTH = 256;
export const URL_MAX_LENGTH = 2048;
const FIRST_DELAY_SECONDS = 1;
const MAX_DELAY_SECONDS = 300;
const JITTER = 0.2;

/** True when the change passes every criterion of the filter. */
export function matchesFilter(filter: AlarmWebhookFilter, change: AlarmChange): boolean {
  const { alarm } = change;
  if (filter.kinds !== undefined && !filter.kinds.includes(change.kind)) return false;
  if (filter.alarmIds !== undefined && !filter.alarmIds.includes(alarm.alarmId)) return false;
  if (filter.minSeverity !== undefined && !meetsThreshold(alarm.severity, filter.minSeverity)) return false;
  if (
    filter.entityInstancePrefix !== undefined &&
    !alarm.entityInstanceId.startsWith(filter.entityInstancePrefix)
  ) {
    return false;
  }
  return true;
}

/** HMAC-SHA256 (hex) of `${timestamp}.${body}`: binding the time stops a captured request being replayed later. */
export function signPayload(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The headers of one delivery: JSON, the signature with its unix-seconds timestamp, the event id and kind. */
export function deliveryHeaders(options: {
  secret: string;
  at: Date;
  body: string;
  eventId: string;
  kind: string;
}): Record<string, string> {
  const timestamp = Math.floor(options.at.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'murmuration-webhook/1',
    'x-murm-event-id': options.eventId,
    'x-murm-event': options.kind,
    'x-murm-signature': `t=${timestamp},v1=${signPayload(options.secret, timestamp, options.body)}`,
  };
}

/**
 * Seconds to wait after the `attempt`-th failed attempt (1-based): 1, 2, 4, … capped at 300, then
 * spread ±20% by `random` (a value in [0, 1)) so receivers that come back are not hit all at once.
 */
export function nextDelaySeconds(attempt: number, random: () => number): number {
  const base = Math.min(FIRST_DELAY_SECONDS * 2 ** Math.max(0, attempt - 1), MAX_DELAY_SECONDS);
  return base * (1 + JITTER * (2 * random() - 1));
}

/** The state after a failed attempt: pending again, or failed once `attempts` reaches `maxAttempts`. */
export function stateAfterFailure(attempts: number, maxAttempts: number): DeliveryState {
  return attempts >= maxAttempts ? 'failed' : 'pending';
}

/** Checks a receiver URL; throws `invalid_input` unless it is http(s) without credentials. */
export function validateWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidInput('url', 'webhook url is not a URL; give e.g. https://receiver.example/alarms');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalidInput(
      'url',
      `webhook url scheme "${url.protocol}" is not allowed; use https:// (or http:// for a local receiver)`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidInput(
      'url',
      'webhook url must not carry credentials; the receiver checks the x-murm-signature header instead',
    );
  }
  if (url.href.length > URL_MAX_LENGTH) {
    throw invalidInput('url', `webhook url is longer than ${URL_MAX_LENGTH} characters`);
  }
  return url.href;
}

/** Throws `invalid_input` unless the secret has 16 to 256 characters. */
export function validateSecret(secret: string): void {
  if (secret.length < SECRET_MIN_LENGTH || secret.length > SECRET_MAX_LENGTH) {
    throw invalidInput(
      'secret',
      `webhook secret must have ${SECRET_MIN_LENGTH} to ${SECRET_MAX_LENGTH} characters; use a random string`,
    );
  }
}

/**
 * Checks a filter and returns a copy with only the known criteria; throws `invalid_input` for an empty
 * list or an alarm id not in `NNN.NNN` form.
 */
export function validateFilter(filter: AlarmWebhookFilter): AlarmWebhookFilter {
  const { alarmIds, minSeverity, entityInstancePrefix, kinds } = filter;
  if (alarmIds !== undefined) {
    if (alarmIds.length === 0) {
      throw invalidInput(
        'filter.alarmIds',
        'filter "alarmIds" is empty; leave it out to receive every alarm',
      );
    }
    const bad = alarmIds.find((id) => !/^\d{3}\.\d{3}$/.test(id));
    if (bad !== undefined) {
      throw invalidInput('filter.alarmIds', `alarm id "${bad}" is not in NNN.NNN form (e.g. 100.101)`);
    }
  }
  if (kinds !== undefined && kinds.length === 0) {
    throw invalidInput('filter.kinds', 'filter "kinds" is empty; leave it out to receive every kind');
  }
  return {
    ...(alarmIds === undefined ? {} : { alarmIds: [...new Set(alarmIds)] }),
    ...(minSeverity === undefined ? {} : { minSeverity }),
    ...(entityInstancePrefix === undefined ? {} : { entityInstancePrefix }),
    ...(kinds === undefined ? {} : { kinds: [...new Set(kinds)] }),
  };
}

const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A short, actionable description of a failed request (connection refused, untrusted certificate, …). */
export function describeFailure(error: unknown): string {
  const { code, message } = innermost(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED); is the receiver running?';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${code})`;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `no connection within the timeout (${code})`;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `no answer within the timeout (${code})`;
  }
  if (code !== undefined && UNTRUSTED_CERTIFICATE_CODES.has(code)) {
    return `receiver certificate not trusted (${code}); add its CA to the system trust store`;
  }
  return (code === undefined ? message : `${code}: ${message}`).slice(0, 500);
}

/**
 * The innermost error that carries a code (undici wraps socket errors in `cause`; Node aggregates the
 * attempts on several addresses in `errors`), or the error itself.
 */
function innermost(error: unknown): { code?: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (typeof error !== 'object' || error === null) return { message };
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const inner = [cause, ...(Array.isArray(errors) ? errors.slice(0, 1) : [])]
    .map((candidate) => (candidate === undefined ? undefined : innermost(candidate)))
    .find((found) => found?.code !== undefined);
  if (inner) return inner;
  return typeof code === 'string' ? { code, message } : { message };
}
