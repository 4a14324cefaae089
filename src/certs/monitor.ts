import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { Clock } from '../core/clock.js';
import { AppError, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FaultService } from '../fault/service.js';
import { inspectCertificateFile } from './inspect.js';
import {
  type AlarmSettings,
  type CertificateInfo,
  certificateEntityId,
  defaultAlarmSettings,
  desiredAlarms,
  type ExpiryState,
} from './model.js';
import type { CertificateSourceStore } from './source-store.js';
import { expandPathSource, fetchEndpointChain, parseHostPort } from './sources.js';

/** Per-source alarm settings; what is left out falls back to the certificate's defaults. */
export type SourceSettings = Partial<AlarmSettings>;

/** A watched source and what its last evaluation found. */
export interface SourceView {
  id: string;
  kind: 'path' | 'endpoint' | 'platform';
  target: string;
  settings: SourceSettings;
  status: 'pending' | 'ok' | 'error';
  error: string | null;
  lastCheckedAt: string | null;
  certificateCount: number;
}

/** A certificate as seen in a source, with its expiry state and the alarm it has (if any). */
export interface CertificateView extends CertificateInfo {
  sourceId: string;
  sourceKind: SourceView['kind'];
  state: ExpiryState;
  alarmId: '500.200' | '500.210' | null;
}

interface Watched extends SourceView {
  certificates: CertificateInfo[];
  /** Expiry states counted by the last reconcile, so an audit reports without a second pass. */
  counts: { expiring: number; expired: number };
  entities: Set<string>;
  watcher: fs.FSWatcher | undefined;
  debounce: NodeJS.Timeout | undefined;
}

const FILE_CONCURRENCY = 64;
const RECURSIVE_WATCH_LIMIT = 2000;
const ENDPOINT_TIMEOUT_MS = 5000;
const BATCH = 1000;
const CERT_ALARMS = ['500.200', '500.210'] as const;

/**
 * Certificate expiry monitoring (StarlingX cert-alarm): every source is evaluated when added, when
 * its files change, and on a periodic audit; each certificate's state (ok → expiring → expired) is
 * turned into alarms 500.200 / 500.210 through the fault service, raising only what changed.
 */
export class CertificateMonitor {
  private readonly sources = new Map<string, Watched>();
  /** Per-certificate settings by fingerprint, applied over the source's. */
  private overrides = new Map<string, SourceSettings>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      store: CertificateSourceStore;
      fault: FaultService;
      clock: Clock;
      logger: Logger;
      platformFiles: readonly { id: string; path: string }[];
      auditIntervalMs: number;
    },
  ) {}

  /** Loads the stored sources and the platform's own certificates, and evaluates them all. */
  async open(): Promise<void> {
    for (const [fingerprint, settings] of await this.deps.store.listCertificateSettings()) {
      this.overrides.set(fingerprint, JSON.parse(settings) as SourceSettings);
    }
    for (const platform of this.deps.platformFiles) this.track(platform.id, 'platform', platform.path, {});
    for (const stored of await this.deps.store.list()) {
      this.track(stored.id, stored.kind, stored.target, JSON.parse(stored.settings) as SourceSettings);
    }
    await this.audit();
  }

  /** Starts the periodic audit and the file watchers (a serving process only). */
  start(): void {
    this.timer = setInterval(
      () =>
        void this.audit().catch((error) =>
          this.deps.logger.error({ err: error }, 'certificate audit failed'),
        ),
      this.deps.auditIntervalMs,
    );
    this.timer.unref();
    for (const source of this.sources.values()) this.watch(source);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const source of this.sources.values()) this.unwatch(source);
  }

  /** Adds a path or endpoint source and evaluates it at once. */
  async addSource(input: {
    kind: 'path' | 'endpoint';
    target: string;
    settings: SourceSettings;
  }): Promise<SourceView> {
    if (input.target.trim() === '')
      throw new AppError('invalid_input', 'the target is empty', { field: 'target' });
    if (input.kind === 'endpoint') parseHostPort(input.target); // throws invalid_input before anything is stored
    const id = randomUUID().slice(0, 8);
    await this.deps.store.insert({
      id,
      kind: input.kind,
      target: input.target,
      settings: JSON.stringify(input.settings),
      createdAt: this.deps.clock.now().toISOString(),
    });
    const source = this.track(id, input.kind, input.target, input.settings);
    await this.evaluate(source);
    if (this.timer) this.watch(source);
    return view(source);
  }

  /** Removes a source and clears the alarms of its certificates; platform sources stay. */
  async removeSource(id: string): Promise<void> {
    const source = this.sources.get(id);
    if (!source) throw notFound('certificate source', id);
    if (source.kind === 'platform')
      throw new AppError(
        'conflict',
        `"${id}" is one of the platform's own certificates and is always watched`,
      );
    await this.deps.store.delete(id);
    this.unwatch(source);
    this.sources.delete(id);
    await this.reconcile(source, []);
  }

  listSources(): SourceView[] {
    return [...this.sources.values()].map(view);
  }

  /** Every certificate seen, soonest expiry first. */
  listCertificates(filter: {
    expiringWithinSeconds?: number | undefined;
    state?: ExpiryState | undefined;
    sourceId?: string | undefined;
  }): CertificateView[] {
    const now = this.deps.clock.now();
    const out: CertificateView[] = [];
    for (const source of this.sources.values()) {
      if (filter.sourceId !== undefined && source.id !== filter.sourceId) continue;
      for (const certificate of source.certificates) {
        if (
          filter.expiringWithinSeconds !== undefined &&
          Date.parse(certificate.notAfter) - now.getTime() > filter.expiringWithinSeconds * 1000
        )
          continue;
        const decision = desiredAlarms(certificate, this.settingsFor(source, certificate), now);
        if (filter.state !== undefined && decision.state !== filter.state) continue;
        out.push({
          ...certificate,
          sourceId: source.id,
          sourceKind: source.kind,
          state: decision.state,
          alarmId: decision.raise?.alarmId ?? null,
        });
      }
    }
    return out.sort(
      (a, b) => compareText(a.notAfter, b.notAfter) || compareText(a.fingerprint, b.fingerprint),
    );
  }

  /** Re-evaluates every source now. */
  async audit(): Promise<{
    sources: number;
    certificates: number;
    expiring: number;
    expired: number;
    errors: number;
  }> {
    const totals = { sources: this.sources.size, certificates: 0, expiring: 0, expired: 0, errors: 0 };
    for (const source of this.sources.values()) {
      await this.evaluate(source);
      totals.certificates += source.certificates.length;
      totals.expiring += source.counts.expiring;
      totals.expired += source.counts.expired;
      if (source.status === 'error') totals.errors += 1;
    }
    return totals;
  }

  private track(id: string, kind: Watched['kind'], target: string, settings: SourceSettings): Watched {
    const source: Watched = {
      id,
      kind,
      target,
      settings,
      status: 'pending',
      error: null,
      lastCheckedAt: null,
      certificateCount: 0,
      certificates: [],
      counts: { expiring: 0, expired: 0 },
      entities: new Set(),
      watcher: undefined,
      debounce: undefined,
    };
    this.sources.set(id, source);
    return source;
  }

  private async evaluate(source: Watched): Promise<void> {
    let found: { certificates: CertificateInfo[]; error: string | null };
    try {
      found = await this.collect(source);
    } catch (error) {
      // A source must never stop the audit of the others.
      found = { certificates: [], error: error instanceof Error ? error.message : String(error) };
    }
    source.lastCheckedAt = this.deps.clock.now().toISOString();
    source.status = found.error === null ? 'ok' : 'error';
    source.error = found.error;
    // An endpoint that cannot be reached keeps its last known certificates: a network failure is not a renewal.
    if (source.kind === 'endpoint' && found.certificates.length === 0 && found.error !== null) return;
    source.certificates = found.certificates;
    source.certificateCount = found.certificates.length;
    await this.reconcile(source, found.certificates);
  }

  private async collect(source: Watched): Promise<{ certificates: CertificateInfo[]; error: string | null }> {
    if (source.kind === 'endpoint') {
      const chain = await fetchEndpointChain(source.target, { timeoutMs: ENDPOINT_TIMEOUT_MS });
      return 'error' in chain
        ? { certificates: [], error: chain.error }
        : { certificates: chain.certificates, error: null };
    }
    const expanded = await expandPathSource(source.target);
    if ('error' in expanded) return { certificates: [], error: expanded.error };
    const certificates: CertificateInfo[] = [];
    const errors: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < expanded.files.length) {
        const file = expanded.files[next++] as string;
        const result = await inspectCertificateFile(file);
        if ('error' in result) errors.push(result.error);
        else certificates.push(...result.certificates);
      }
    };
    await Promise.all(Array.from({ length: FILE_CONCURRENCY }, worker));
    if (expanded.files.length === 0)
      return { certificates, error: `no certificate files at ${source.target}` };
    const error =
      errors.length === 0
        ? null
        : `${errors.length} of ${expanded.files.length} files unreadable; first: ${errors[0]}`;
    return { certificates, error };
  }

  /** Raises and clears alarms so they match the certificates now seen; touches only what changed. */
  private async reconcile(source: Watched, certificates: readonly CertificateInfo[]): Promise<void> {
    const { fault } = this.deps;
    const now = this.deps.clock.now();
    const raise: {
      alarmId: string;
      entityInstanceId: string;
      severity: 'critical' | 'major' | 'minor' | 'warning';
      reasonText: string;
    }[] = [];
    const clear: { alarmId: string; entityInstanceId: string }[] = [];
    const entities = new Set<string>();
    const counts = { expiring: 0, expired: 0 };
    for (const certificate of certificates) {
      // One alarm per certificate per source, as StarlingX has one per certificate resource: a certificate
      // held by two sources with different settings is alarmed by each on its own terms.
      const mode = source.kind === 'path' ? 'file' : source.kind;
      const entityInstanceId = `${certificateEntityId(mode, certificate.fingerprint)}.source=${source.id}`;
      entities.add(entityInstanceId);
      const decision = desiredAlarms(certificate, this.settingsFor(source, certificate), now);
      if (decision.state !== 'ok') counts[decision.state] += 1;
      if (decision.raise) {
        const active = fault.findActive(decision.raise.alarmId, entityInstanceId);
        const isCurrent =
          active !== undefined &&
          active.severity === decision.raise.severity &&
          active.reasonText === decision.raise.reasonText;
        if (!isCurrent) {
          raise.push({ entityInstanceId, ...decision.raise });
        }
      }
      for (const alarmId of decision.clear) {
        if (fault.findActive(alarmId, entityInstanceId)) clear.push({ alarmId, entityInstanceId });
      }
    }
    for (const entityInstanceId of source.entities) {
      if (entities.has(entityInstanceId)) continue;
      for (const alarmId of CERT_ALARMS)
        if (fault.findActive(alarmId, entityInstanceId)) clear.push({ alarmId, entityInstanceId });
    }
    source.entities = entities;
    source.counts = counts;
    for (let start = 0; start < Math.max(raise.length, clear.length); start += BATCH) {
      await fault.applyBatch({
        raise: raise.slice(start, start + BATCH),
        clear: clear.slice(start, start + BATCH),
      });
    }
  }

  /**
   * Sets (or with an empty object removes) the alarm settings of one certificate, over its source's,
   * and re-evaluates the sources that hold it; throws `not_found` for a certificate no source has.
   */
  async setCertificateSettings(fingerprint: string, settings: SourceSettings): Promise<CertificateView> {
    const key = fingerprint.toLowerCase();
    const holders = [...this.sources.values()].filter((source) =>
      source.certificates.some((c) => c.fingerprint === key),
    );
    if (holders.length === 0) throw notFound('certificate', fingerprint);
    const isReset = Object.keys(settings).length === 0;
    await this.deps.store.setCertificateSettings(
      key,
      isReset ? undefined : JSON.stringify(settings),
      this.deps.clock.now().toISOString(),
    );
    if (isReset) this.overrides.delete(key);
    else this.overrides.set(key, settings);
    for (const source of holders) await this.reconcile(source, source.certificates);
    const view = this.listCertificates({}).find((certificate) => certificate.fingerprint === key);
    if (!view) throw notFound('certificate', fingerprint);
    return view;
  }

  private settingsFor(source: Watched, certificate: CertificateInfo): AlarmSettings {
    return {
      ...defaultAlarmSettings(certificate.isCa),
      ...source.settings,
      ...this.overrides.get(certificate.fingerprint),
    };
  }

  /** Watches a file or a directory and re-evaluates shortly after a change. */
  private watch(source: Watched): void {
    if (source.kind === 'endpoint' || source.watcher || /[*?]/.test(source.target)) return;
    try {
      // Whole trees are watched when small; a large tree (one inotify watch per directory) relies on
      // its top level and the periodic audit.
      const isRecursive =
        source.certificateCount <= RECURSIVE_WATCH_LIMIT && fs.statSync(source.target).isDirectory();
      source.watcher = fs.watch(source.target, { persistent: false, recursive: isRecursive }, () => {
        clearTimeout(source.debounce);
        source.debounce = setTimeout(() => void this.evaluate(source).catch(() => undefined), 300);
      });
      source.watcher.on('error', () => this.unwatch(source));
    } catch {
      // Not there yet, or not watchable: the periodic audit still covers it.
    }
  }

  private unwatch(source: Watched): void {
    clearTimeout(source.debounce);
    source.watcher?.close();
    source.watcher = undefined;
  }
}

function view(source: Watched): SourceView {
  const { id, kind, target, settings, status, error, lastCheckedAt, certificateCount } = source;
  return { id, kind, target, settings, status, error, lastCheckedAt, certificateCount };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
