import { isIPv4 } from 'node:net';
import { AppError } from '../core/errors.js';
import { syncRevision } from './sync.js';
import {
  type AlarmCounts,
  type EndpointDigest,
  JOIN_BUNDLE_PREFIX,
  type JoinBundle,
  SYNC_ENDPOINTS,
  type SyncEndpoint,
} from './uplink-protocol.js';

/**
 * Pure parts of `murm sim`: subcloud names, slicing a fleet over processes, source-address ranges,
 * fractional per-second rates, alarm churn and the digest a simulated subcloud reports.
 */

/** Digits of the index in a simulated subcloud's name: `sim-00042`. */
const NAME_DIGITS = 5;

/** The name of simulated subcloud `index` (0-based): `<prefix>-<index padded to 5 digits>`. */
export function simSubcloudName(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(NAME_DIGITS, '0')}`;
}

/** The half-open index range [start, end) that slice `slice` of `slices` owns out of `total`. */
export function sliceRange(total: number, slices: number, slice: number): { start: number; end: number } {
  const base = Math.floor(total / slices);
  const extra = total % slices;
  const start = slice * base + Math.min(slice, extra);
  return { start, end: start + base + (slice < extra ? 1 : 0) };
}

/**
 * The IPv4 addresses of an inclusive range `A-B` (or one address). Throws `invalid_input` for anything
 * else, or for a range of more than 65,536 addresses.
 */
export function parseAddressRange(range: string): string[] {
  const [from = '', to = from, ...rest] = range.split('-').map((part) => part.trim());
  if (rest.length > 0 || !isIPv4(from) || !isIPv4(to)) {
    throw new AppError('invalid_input', `--source-ip-range "${range}" is not like 127.0.0.2-127.0.0.250`, {
      field: 'sourceIpRange',
    });
  }
  const first = ipv4ToNumber(from);
  const last = ipv4ToNumber(to);
  if (last < first || last - first >= 65_536) {
    throw new AppError(
      'invalid_input',
      `--source-ip-range "${range}" must go upwards and hold at most 65,536 addresses`,
      { field: 'sourceIpRange' },
    );
  }
  const out: string[] = [];
  for (let n = first; n <= last; n++) out.push(numberToIpv4(n));
  return out;
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * Turns a per-second rate into whole events per tick, carrying the fraction over, so 0.5/s with a
 * 100 ms ticker fires once every 2 s instead of never.
 */
export class RateBudget {
  private carry = 0;

  constructor(private readonly perSecond: number) {}

  /** Events due after `elapsedMs` more milliseconds. */
  take(elapsedMs: number): number {
    this.carry += (this.perSecond * elapsedMs) / 1000;
    const whole = Math.floor(this.carry);
    this.carry -= whole;
    return whole;
  }
}

const SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const;

/** Alarm counts after one random change: one severity goes up or (when above zero) down by one. */
export function churnAlarms(current: AlarmCounts, random: () => number): AlarmCounts {
  const severity = SEVERITIES[Math.floor(random() * SEVERITIES.length) % SEVERITIES.length] ?? 'minor';
  const isRaise = current[severity] === 0 || random() < 0.5;
  return { ...current, [severity]: current[severity] + (isRaise ? 1 : -1) };
}

export const NO_ALARMS: AlarmCounts = Object.freeze({ critical: 0, major: 0, minor: 0, warning: 0 });

/** The revision of an empty resource list: what a subcloud that never received anything reports. */
export const EMPTY_REVISION = syncRevision([]);

/**
 * The endpoints part of a digest: each endpoint's revision (of the applied resources, or of none),
 * and for dc-cert the uplink certificate's notAfter.
 */
export function endpointDigests(
  revisions: Partial<Record<SyncEndpoint, string>> | undefined,
  certNotAfter: string,
): Partial<Record<SyncEndpoint, EndpointDigest>> {
  const out: Partial<Record<SyncEndpoint, EndpointDigest>> = {};
  for (const endpoint of SYNC_ENDPOINTS) {
    const revision = revisions?.[endpoint] ?? EMPTY_REVISION;
    out[endpoint] = endpoint === 'dc-cert' ? { revision, notAfter: certNotAfter } : { revision };
  }
  return out;
}

/** The bundle behind a `murm-join:` string; throws `invalid_input` when it is not one. */
export function decodeJoinBundle(bundle: string): JoinBundle {
  let value: Partial<JoinBundle> | undefined;
  if (bundle.startsWith(JOIN_BUNDLE_PREFIX)) {
    try {
      const json = Buffer.from(bundle.slice(JOIN_BUNDLE_PREFIX.length), 'base64url').toString('utf8');
      value = JSON.parse(json) as Partial<JoinBundle>;
    } catch {
      value = undefined;
    }
  }
  const { name, controller, caPem, token } = value ?? {};
  if (
    typeof name !== 'string' ||
    typeof controller !== 'string' ||
    typeof caPem !== 'string' ||
    typeof token !== 'string'
  ) {
    throw new AppError('invalid_input', `not an enrollment bundle (expected "${JOIN_BUNDLE_PREFIX}…")`);
  }
  return { name, controller, caPem, token };
}

/** The cache directory name of a controller: host and port of its URL, safe for a file name. */
export function controllerCacheKey(controller: string): string {
  const url = new URL(controller);
  const port = url.port || '443';
  return `${url.hostname}-${port}`.replace(/[^a-zA-Z0-9.-]/g, '_');
}
