import { X509Certificate } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { FaultService, RaiseInput } from '../fault/service.js';
import { EndpointSync, type PushRetryOptions, type UplinkTransport } from './endpoint-sync.js';
import {
  availabilityAfter,
  type EndpointStatuses,
  endpointStatus,
  possibleAlarms,
  unknownEndpoints,
  wantedAlarms,
} from './model.js';
import type { SubcloudRecord } from './store.js';
import type { SubcloudTable } from './subcloud-table.js';
import type { SyncSource } from './sync.js';
import {
  type ControllerFrame,
  type EndpointDigest,
  type SubcloudFrame,
  SYNC_ENDPOINTS,
  type SyncEndpoint,
} from './uplink-protocol.js';

export interface SubcloudStatusOptions {
  table: SubcloudTable;
  fault: FaultService;
  clock: Clock;
  logger: Logger;
  sources: readonly SyncSource[];
  transport: UplinkTransport;
  /** Issues a new uplink certificate and records its fingerprint; returns the PEM. */
  renewCertificate(name: string, csrPem: string): Promise<string>;
  renewBeforeMs: number;
  pingIntervalMs: number;
  graceMs: number;
  /** Grace for subclouds that were online when this controller (re)started. */
  restartGraceMs: number;
  certAuditIntervalMs: number;
  maxPushesInFlight: number;
  rpcDeadlineMs: number;
  pushRetry?: PushRetryOptions | undefined;
}

/** What only memory knows about a subcloud's uplink: open connections, grace start, last report. */
interface Link {
  connections: number;
  disconnectedAtMs: number | undefined;
  reported: Partial<Record<SyncEndpoint, EndpointDigest>>;
  /** notAfter of the last certificate issued by dc-cert renewal (so renewal does not loop). */
  issuedNotAfterMs?: number | undefined;
}

/**
 * Availability and sync status of subclouds from their uplinks (dcmanager's state manager): computed
 * on the frame or event that changes them, so the status is right after the first digest; 280.001
 * and 280.002 follow in the same step, for many subclouds in one fault commit.
 */
export class SubcloudStatus {
  private readonly links = new Map<string, Link>();
  private readonly sync: EndpointSync;
  private readonly background = new Set<Promise<unknown>>();
  private lastCertAuditMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: SubcloudStatusOptions) {
    this.sync = new EndpointSync({
      sources: options.sources,
      transport: options.transport,
      logger: options.logger,
      maxInFlight: options.maxPushesInFlight,
      rpcDeadlineMs: options.rpcDeadlineMs,
      retry: options.pushRetry,
      hooks: {
        canPush: (name, endpoint) => this.canPush(name, endpoint),
        applied: (name, endpoint, revision) => this.applied(name, endpoint, revision),
        renew: (name, csr) => this.renew(name, csr),
        desiredChanged: (endpoint) => this.recompute(endpoint),
      },
    });
  }

  /**
   * Subclouds online before a restart get `restartGraceMs` to reconnect (their reconnect backoff may
   * have grown while this controller was down), so a controller restart raises no 280.001 for
   * subclouds that are fine. Reads the desired revisions.
   */
  async open(subclouds: readonly SubcloudRecord[]): Promise<void> {
    // The grace is counted from disconnectedAtMs: start it later so that it lasts restartGraceMs.
    const graceStartMs = this.nowMs() + Math.max(0, this.options.restartGraceMs - this.options.graceMs);
    for (const subcloud of subclouds) {
      if (subcloud.availability === 'online') {
        this.links.set(subcloud.name, { connections: 0, disconnectedAtMs: graceStartMs, reported: {} });
      }
    }
    await this.sync.open();
  }

  close(): void {
    this.sync.close();
  }

  connected(name: string): void {
    const link = this.link(name);
    link.connections += 1;
    link.disconnectedAtMs = undefined;
  }

  async handleFrame(subcloud: SubcloudRecord, frame: SubcloudFrame): Promise<ControllerFrame[]> {
    if (frame.type === 'rpc-result') return [];
    const { table } = this.options;
    const { name } = subcloud;
    const link = this.link(name);
    const now = this.options.clock.now().toISOString();
    if (frame.type === 'digest') {
      link.reported = { ...frame.endpoints };
      const next = table.put({
        ...subcloud,
        availability: availabilityAfter(subcloud.availability, 'digest'),
        deployStatus: 'complete',
        softwareVersion: frame.softwareVersion,
        alarms: { ...frame.alarms },
        lastSeenAt: now,
        endpoints: this.statuses(link),
      });
      table.persistQuietly(name);
      await this.syncAlarms([next]);
      this.pushOutOfSync(next, SYNC_ENDPOINTS);
      const managed = next.management === 'managed';
      return [{ type: 'welcome', name, pingIntervalMs: this.options.pingIntervalMs, managed }];
    }
    const changed = Object.keys(frame.endpoints ?? {}) as SyncEndpoint[];
    Object.assign(link.reported, frame.endpoints ?? {});
    // A delta only counts between a digest and going offline.
    const isOnline = subcloud.availability === 'online';
    const next = table.put({
      ...subcloud,
      alarms: frame.alarms && isOnline ? { ...frame.alarms } : subcloud.alarms,
      lastSeenAt: now,
      endpoints: isOnline ? this.statuses(link) : subcloud.endpoints,
    });
    table.persistQuietly(name);
    await this.syncAlarms([next]);
    this.pushOutOfSync(
      next,
      changed.filter((endpoint) => subcloud.endpoints[endpoint] !== 'out-of-sync'),
    );
    return [];
  }

  disconnected(name: string, reason: 'closed' | 'ping-timeout'): void {
    const link = this.links.get(name);
    if (!link) return;
    link.connections = Math.max(0, link.connections - 1);
    // Only the last open uplink counts: a replaced connection closing changes nothing.
    if (link.connections > 0) return;
    link.disconnectedAtMs = this.nowMs();
    if (reason === 'ping-timeout') this.track(this.goOffline([name]));
  }

  async checkAvailability(): Promise<string[]> {
    const nowMs = this.nowMs();
    const expired: string[] = [];
    for (const [name, link] of this.links) {
      if (link.connections > 0 || link.disconnectedAtMs === undefined) continue;
      if (nowMs - link.disconnectedAtMs >= this.options.graceMs) expired.push(name);
    }
    const offline = await this.goOffline(expired);
    if (nowMs - this.lastCertAuditMs >= this.options.certAuditIntervalMs) {
      // dc-cert status depends on the clock, not only on frames.
      this.lastCertAuditMs = nowMs;
      await this.recompute('dc-cert');
    }
    return offline;
  }

  /** After manage/unmanage: raise or clear what applies, push what is out-of-sync. */
  async managementChanged(subcloud: SubcloudRecord): Promise<void> {
    await this.syncAlarms([subcloud]);
    if (subcloud.management !== 'managed') this.sync.cancelRetries(subcloud.name);
    this.pushOutOfSync(subcloud, SYNC_ENDPOINTS);
  }

  /** A deleted subcloud: nothing more is pushed to it or tracked. */
  forget(name: string): void {
    this.links.delete(name);
    this.sync.cancelRetries(name);
  }

  async settled(): Promise<void> {
    do {
      await Promise.allSettled([...this.background]);
      await this.sync.settled();
    } while (this.background.size > 0);
  }

  /** Offline: every endpoint unknown, counts unknown, 280.001 for managed ones; one write, one alarm commit. */
  private async goOffline(names: readonly string[]): Promise<string[]> {
    const { table } = this.options;
    const changed: SubcloudRecord[] = [];
    for (const name of names) {
      const subcloud = table.find(name);
      const link = this.links.get(name);
      if (!subcloud || !link || link.connections > 0) continue;
      link.disconnectedAtMs = undefined;
      link.reported = {};
      this.sync.cancelRetries(name);
      if (subcloud.availability === 'offline') continue;
      const availability = availabilityAfter(subcloud.availability, 'grace-expired');
      changed.push(table.put({ ...subcloud, availability, endpoints: unknownEndpoints(), alarms: null }));
      table.persistQuietly(name);
    }
    await this.syncAlarms(changed);
    return changed.map((subcloud) => subcloud.name);
  }

  /** Re-evaluates one endpoint on every online subcloud (its desired revision or the clock moved). */
  private async recompute(endpoint: SyncEndpoint): Promise<void> {
    const { table } = this.options;
    const changed: SubcloudRecord[] = [];
    for (const [name, link] of this.links) {
      const subcloud = table.find(name);
      if (subcloud?.availability !== 'online') continue;
      const endpoints = this.statuses(link);
      if (endpoints[endpoint] === subcloud.endpoints[endpoint]) continue;
      changed.push(table.put({ ...subcloud, endpoints }));
      table.persistQuietly(name);
    }
    await this.syncAlarms(changed);
    for (const name of this.links.keys()) {
      const subcloud = table.find(name);
      if (subcloud) this.pushOutOfSync(subcloud, [endpoint]);
    }
  }

  private canPush(name: string, endpoint: SyncEndpoint): boolean {
    const subcloud = this.options.table.find(name);
    const link = this.links.get(name);
    if (!subcloud || !link || link.connections === 0) return false;
    if (subcloud.management !== 'managed' || subcloud.availability !== 'online') return false;
    if (subcloud.endpoints[endpoint] !== 'out-of-sync') return false;
    if (endpoint === 'dc-cert' && link.issuedNotAfterMs !== undefined) {
      // Renewing again cannot help while the subcloud holds the newest certificate we issued.
      const notAfter = Date.parse(link.reported['dc-cert']?.notAfter ?? '');
      if (!(notAfter < link.issuedNotAfterMs)) return false;
    }
    return true;
  }

  private async applied(name: string, endpoint: SyncEndpoint, revision: string): Promise<void> {
    const { table } = this.options;
    const subcloud = table.find(name);
    const link = this.links.get(name);
    if (!subcloud || !link || subcloud.availability !== 'online') return;
    link.reported[endpoint] = { ...link.reported[endpoint], revision };
    const next = table.put({ ...subcloud, endpoints: this.statuses(link) });
    table.persistQuietly(name);
    await this.syncAlarms([next]);
  }

  private async renew(name: string, csrPem: string): Promise<string> {
    const certificatePem = await this.options.renewCertificate(name, csrPem);
    const link = this.links.get(name);
    if (link) link.issuedNotAfterMs = notAfterOf(certificatePem);
    return certificatePem;
  }

  private pushOutOfSync(subcloud: SubcloudRecord, endpoints: readonly SyncEndpoint[]): void {
    if (subcloud.management !== 'managed' || subcloud.availability !== 'online') return;
    for (const endpoint of endpoints) {
      if (subcloud.endpoints[endpoint] === 'out-of-sync') this.sync.enqueue(subcloud.name, endpoint);
    }
  }

  /** Raises and clears what differs from wantedAlarms(), for many subclouds in one fault commit. */
  private async syncAlarms(subclouds: readonly SubcloudRecord[]): Promise<void> {
    const { fault } = this.options;
    const raise: RaiseInput[] = [];
    const clear: { alarmId: string; entityInstanceId: string }[] = [];
    for (const subcloud of subclouds) {
      const wanted = wantedAlarms(subcloud);
      for (const alarm of wanted) {
        const active = fault.findActive(alarm.alarmId, alarm.entityInstanceId);
        if (active?.severity !== alarm.severity || active.reasonText !== alarm.reasonText) raise.push(alarm);
      }
      for (const alarm of possibleAlarms(subcloud.name)) {
        const isWanted = wanted.some((w) => w.entityInstanceId === alarm.entityInstanceId);
        if (!isWanted && fault.findActive(alarm.alarmId, alarm.entityInstanceId)) clear.push(alarm);
      }
    }
    if (raise.length > 0 || clear.length > 0) await fault.applyBatch({ raise, clear });
  }

  private statuses(link: Link): EndpointStatuses {
    const nowMs = this.nowMs();
    const statuses = unknownEndpoints();
    for (const endpoint of SYNC_ENDPOINTS) {
      statuses[endpoint] = endpointStatus({
        endpoint,
        reported: link.reported[endpoint],
        desiredRevision: this.sync.desiredRevision(endpoint),
        nowMs,
        renewBeforeMs: this.options.renewBeforeMs,
      });
    }
    return statuses;
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'distributed-cloud state change failed');
    });
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }

  private link(name: string): Link {
    let link = this.links.get(name);
    if (!link) {
      link = { connections: 0, disconnectedAtMs: undefined, reported: {} };
      this.links.set(name, link);
    }
    return link;
  }

  private nowMs(): number {
    return this.options.clock.now().getTime();
  }
}

function notAfterOf(certificatePem: string): number | undefined {
  try {
    return Date.parse(new X509Certificate(certificatePem).validTo);
  } catch {
    return undefined;
  }
}
