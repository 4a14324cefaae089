import { InvalidArgumentError } from 'commander';
import type { Severity } from '../fault/model.js';
import { type OutputFormat, printData } from './output.js';

export const CERTIFICATE_STATES = ['ok', 'expiring', 'expired'] as const;
export type CertificateState = (typeof CERTIFICATE_STATES)[number];
type SourceKind = 'path' | 'endpoint' | 'platform';

/** A certificate as `GET /v1/certificates` shows it. */
export interface CertificateView {
  fingerprint: string;
  subject: string;
  issuer: string;
  sans: string[];
  serial: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  isCa: boolean;
  location: string;
  sourceId: string;
  sourceKind: SourceKind;
  state: CertificateState;
  alarmId: '500.200' | '500.210' | null;
}

/** A watched place as `GET /v1/certificate-sources` shows it. */
export interface SourceView {
  id: string;
  kind: SourceKind;
  target: string;
  settings: {
    isAlarmEnabled?: boolean;
    alarmBeforeSeconds?: number;
    severity?: Severity;
    textPrefix?: string;
  };
  status: 'pending' | 'ok' | 'error';
  error: string | null;
  lastCheckedAt: string | null;
  certificateCount: number;
}

const DURATION_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
const DURATION_HINT = 'give a duration like 30d, 12h or 1w2d (units s, m, h, d, w)';

/** A duration like 30d, 12h or 1w2d, in seconds; a usage error otherwise. */
export function parseDurationSeconds(value: string): number {
  const text = value.trim();
  if (!/^(\d+[smhdw])+$/.test(text)) throw new InvalidArgumentError(DURATION_HINT);
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhdw])/g)) {
    seconds += Number(amount) * DURATION_SECONDS[unit as keyof typeof DURATION_SECONDS];
  }
  if (seconds <= 0 || !Number.isSafeInteger(seconds)) throw new InvalidArgumentError(DURATION_HINT);
  return seconds;
}

/** A duration checked like `parseDurationSeconds` but passed on as written, since the API takes the text. */
export function parseDurationText(value: string): string {
  parseDurationSeconds(value);
  return value.trim();
}

/** After a change: one line for people, the result as JSON/YAML for scripts. */
export async function report(format: OutputFormat, result: unknown, line: string): Promise<void> {
  if (format === 'table') process.stdout.write(`${line}\n`);
  else await printData(format, result);
}
