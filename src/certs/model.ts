import * as assert from 'node:assert/strict';
import { invalidInput } from '../core/errors.js';
import type { Severity } from '../fault/model.js';

/**
 * Certificate expiry monitoring (StarlingX cert-alarm). Each monitored certificate is in one state,
 * recomputed from its notAfter, the current time and its alarm threshold on every audit, never stored
 * as an edge-by-edge transition:
 *   - `ok`: more than the threshold left before notAfter. No alarm; 500.200 and 500.210 are cleared.
 *   - `expiring`: time to expiry ≤ threshold (and still > 0). Raises 500.200, clears 500.210.
 *   - `expired`: notAfter ≤ now. Raises 500.210, clears 500.200.
 * Time moves a certificate ok → expiring → expired; renewing or replacing it (a new notAfter) moves it
 * back to `ok` from either. A disabled alarm setting clears both alarms whatever the state, and a
 * certificate that is no longer found has both alarms cleared by the caller.
 */
export const EXPIRY_STATES = ['ok', 'expiring', 'expired'] as const;
export type ExpiryState = (typeof EXPIRY_STATES)[number];

/** 500.200 "certificate expiring soon" and 500.210 "certificate expired". */
type CertAlarmId = '500.200' | '500.210';

/** One parsed X.509 certificate and where it was found. */
export interface CertificateInfo {
  /** SHA-256 of the DER, lowercase hex without colons. */
  fingerprint: string;
  /** Distinguished name in certificate order, e.g. `C=US, O=Acme\, Inc., CN=registry.local`. */
  subject: string;
  issuer: string;
  /** Subject alternative names: `DNS:a`, `IP:1.2.3.4`, `IP:fd00::1`, `email:x@y`, `URI:…`, `DirName:…`, `RID:…`. */
  sans: string[];
  /** Serial number, lowercase hex. */
  serial: string;
  /** ISO 8601 UTC. */
  notBefore: string;
  notAfter: string;
  /** `ec-p256`, `ec-p384`, `ec-p521`, `rsa-2048`, `rsa-pss-2048`, `ed25519`, `ed448`, `dsa`, … or `unknown`. */
  keyType: string;
  isCa: boolean;
  /** File path, `path#<index>` for the n-th (index > 0) certificate of a bundle, `host:port[#<index>]` for an endpoint chain. */
  location: string;
}

/** Alarm settings of one certificate (StarlingX annotations `starlingx.io/alarm*`). */
export interface AlarmSettings {
  isAlarmEnabled: boolean;
  alarmBeforeSeconds: number;
  /** Overrides the built-in severity (500.200 major, 500.210 critical). */
  severity?: Severity;
  /** Prepended to the reason text, as `starlingx.io/alarm-text`. */
  textPrefix?: string;
}

/** What the fault service should do for one certificate. */
export interface DesiredAlarms {
  state: ExpiryState;
  raise?: { alarmId: CertAlarmId; severity: Severity; reasonText: string };
  clear: CertAlarmId[];
}

const EXPIRING: CertAlarmId = '500.200';
const EXPIRED: CertAlarmId = '500.210';
const DAY_SECONDS = 86_400;
const DEFAULT_ALARM_BEFORE_SECONDS = 30 * DAY_SECONDS;
// StarlingX alarms on the Kubernetes root CA 180 days ahead; CAs take long to roll out, so all CAs do here.
const DEFAULT_CA_ALARM_BEFORE_SECONDS = 180 * DAY_SECONDS;
const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/;
const UNIT_SECONDS = [7 * DAY_SECONDS, DAY_SECONDS, 3600, 60] as const;

/** The StarlingX defaults: alarm enabled, 30 days ahead, 180 days for a CA certificate. */
export function defaultAlarmSettings(isCa: boolean): AlarmSettings {
  return {
    isAlarmEnabled: true,
    alarmBeforeSeconds: isCa ? DEFAULT_CA_ALARM_BEFORE_SECONDS : DEFAULT_ALARM_BEFORE_SECONDS,
  };
}

/** Seconds in a StarlingX `NwNdNhNm` duration (`30d`, `1w2d`, `12h`, `90m`) or a plain number of seconds; throws `invalid_input`. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  let seconds: number | undefined;
  if (/^\d+$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else {
    const match = trimmed === '' ? null : DURATION.exec(trimmed);
    if (match !== null) {
      seconds = UNIT_SECONDS.reduce((sum, unit, i) => sum + Number(match[i + 1] ?? 0) * unit, 0);
    }
  }
  if (seconds === undefined || !Number.isSafeInteger(seconds)) {
    throw invalidInput(
      'duration',
      `duration "${text}" is not valid; use NwNdNhNm such as "30d", "1w2d", "12h" or "90m", or a number of seconds`,
      { value: text },
    );
  }
  return seconds;
}

/** The state of a certificate expiring at `notAfter` (ISO) at `now`, alarming `thresholdSeconds` ahead. */
export function expiryState(notAfter: string, now: Date, thresholdSeconds: number): ExpiryState {
  const expiresAt = Date.parse(notAfter);
  assert.ok(!Number.isNaN(expiresAt), `notAfter "${notAfter}" is not a date`);
  const secondsLeft = (expiresAt - now.getTime()) / 1000;
  if (secondsLeft <= 0) return 'expired';
  return secondsLeft <= thresholdSeconds ? 'expiring' : 'ok';
}

/** The alarms to raise and clear for a certificate at `now`, with StarlingX severities and reason texts. */
export function desiredAlarms(info: CertificateInfo, settings: AlarmSettings, now: Date): DesiredAlarms {
  const state = expiryState(info.notAfter, now, settings.alarmBeforeSeconds);
  if (!settings.isAlarmEnabled || state === 'ok') return { state, clear: [EXPIRING, EXPIRED] };
  const prefix = settings.textPrefix ? `${settings.textPrefix} ` : '';
  const name = certificateName(info);
  if (state === 'expiring') {
    return {
      state,
      raise: {
        alarmId: EXPIRING,
        severity: settings.severity ?? 'major',
        reasonText: `${prefix}Certificate ${name} is expiring soon on ${formatUtc(info.notAfter)}`,
      },
      clear: [EXPIRED],
    };
  }
  return {
    state,
    raise: {
      alarmId: EXPIRED,
      severity: settings.severity ?? 'critical',
      reasonText: `${prefix}Certificate ${name} expired.`,
    },
    clear: [EXPIRING],
  };
}

/** StarlingX's entity instance id of a certificate alarm: `system.certificate.mode=<kind>.uuid=<32 hex>`. */
export function certificateEntityId(sourceKind: string, fingerprint: string): string {
  assert.match(fingerprint, /^[0-9a-f]{32,}$/, 'fingerprint must be lowercase hex');
  return `system.certificate.mode=${sourceKind}.uuid=${fingerprint.slice(0, 32)}`;
}

/** The subject CN (else the whole subject, else the fingerprint) and the location. */
function certificateName(info: CertificateInfo): string {
  const label = commonName(info.subject) ?? (info.subject || `sha256:${info.fingerprint.slice(0, 16)}`);
  return `${label} (${info.location})`;
}

/** The last CN of a `CN=a, O=b` subject, unescaped; separators inside values are backslash-escaped. */
function commonName(subject: string): string | undefined {
  let found: string | undefined;
  for (const match of subject.matchAll(/(?:^|, | \+ )CN=((?:\\.|[^\\,+])*?)(?=, | \+ |$)/g)) {
    found = (match[1] ?? '').replace(/\\([0-9A-F]{2}|.)/g, (_, code: string) =>
      code.length === 2 ? String.fromCharCode(Number.parseInt(code, 16)) : code,
    );
  }
  return found === '' ? undefined : found;
}

/** `YYYY-MM-DD, HH:MM:SS` in UTC, as StarlingX writes expiry dates. */
function formatUtc(iso: string): string {
  const text = new Date(iso).toISOString();
  return `${text.slice(0, 10)}, ${text.slice(11, 19)}`;
}
