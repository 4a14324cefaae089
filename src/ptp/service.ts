import type { Logger } from '../core/log.js';
import type { MonitorDirective, RenderedFile } from '../inventory/agent-protocol.js';
import type { InventoryService } from '../inventory/service.js';
import { PtpConfig, withHost } from './config-state.js';
import { PtpDefinitions } from './definitions.js';
import { PtpHostAssignments } from './host-assignments.js';
import { renderPtpHost } from './render.js';
import { type PtpHostMonitoring, ptpHostMonitoring } from './status-directives.js';
import type { PtpHostRecord, PtpStore } from './store.js';

/**
 * PTP instances, interfaces and their assignments (StarlingX `ptp-instance-*`, `host-ptp-instance-*`,
 * `host-if-ptp-*`). Every change is checked with the pure validator against the hosts' reported NICs
 * and refused, with nothing stored, when it breaks an affected host. As in StarlingX, changes are
 * staged: `apply` checks that every assigned host is complete, renders its files and hands them to
 * the inventory, which makes them part of the host's configuration (new revision, 250.001 until the
 * agent applies). Mutations run one at a time. The use cases: `definitions` (instances, interfaces,
 * parameters), `hosts` (assignments, linuxptp version) and `apply` here.
 */
export class PtpService {
  readonly definitions: PtpDefinitions;
  readonly hosts: PtpHostAssignments;
  private readonly config: PtpConfig;
  private readonly listeners = new Set<(hostname: string) => Promise<void>>();
  private readonly monitoring = new WeakMap<RenderedFile[], PtpHostMonitoring>();

  constructor(options: { store: PtpStore; inventory: InventoryService; logger: Logger }) {
    this.config = new PtpConfig(options.store, options.inventory, options.logger);
    this.definitions = new PtpDefinitions(this.config);
    this.hosts = new PtpHostAssignments(this.config);
  }

  async open(): Promise<void> {
    await this.config.load();
  }

  /** Calls `listener` for each host whose applied PTP files changed (the inventory re-renders it). */
  onChange(listener: (hostname: string) => Promise<void>): void {
    this.listeners.add(listener);
  }

  /**
   * The files of the host's last apply and the ptp4l instances among them for its agent to monitor;
   * the inventory adds both to the host's configuration.
   */
  hostConfig(hostname: string): { files: RenderedFile[]; monitors: MonitorDirective[] } | undefined {
    const files =
      this.config.state.hosts.find((host) => host.hostname === hostname)?.appliedFiles ?? undefined;
    return files === undefined ? undefined : { files, monitors: this.monitoringOf(files).monitors };
  }

  /** The host's monitored ptp4l instances and its primary one, from its last apply (none before). */
  hostMonitoring(hostname: string): PtpHostMonitoring {
    const files = this.config.state.hosts.find((host) => host.hostname === hostname)?.appliedFiles ?? [];
    return this.monitoringOf(files);
  }

  /** Hosts with applied PTP files. */
  listAppliedHosts(): string[] {
    return this.config.state.hosts.filter((host) => host.appliedFiles !== null).map((host) => host.hostname);
  }

  /** Parsed once per apply: the inventory asks on every render. */
  private monitoringOf(files: RenderedFile[]): PtpHostMonitoring {
    let monitoring = this.monitoring.get(files);
    if (monitoring === undefined) {
      monitoring = ptpHostMonitoring(files);
      this.monitoring.set(files, monitoring);
    }
    return monitoring;
  }

  /**
   * Renders every host with PTP assignments (and clears hosts that no longer have any), then tells
   * the inventory about each host whose files changed. Throws `invalid_input` naming the first
   * problem of any host, with nothing applied.
   */
  async apply(): Promise<{ hosts: { hostname: string; files: string[]; isChanged: boolean }[] }> {
    return this.config.serialized(async () => {
      const site = this.config.site(this.config.state);
      const results: { hostname: string; files: string[]; isChanged: boolean }[] = [];
      const records: PtpHostRecord[] = [];
      for (const host of site.hosts.filter((candidate) => this.config.isKnownHost(candidate.hostname))) {
        const isAssigned = host.instances.length > 0;
        const current = this.config.hostRecord(host.hostname);
        if (!isAssigned && current.appliedFiles === null) continue;
        const files = isAssigned ? renderPtpHost(site, host.hostname) : null;
        const isChanged = JSON.stringify(files) !== JSON.stringify(current.appliedFiles);
        records.push({ ...current, appliedFiles: files });
        results.push({ hostname: host.hostname, files: (files ?? []).map((file) => file.path), isChanged });
      }
      for (const record of records) {
        await this.config.store.putHost(record);
        this.config.state = { ...this.config.state, hosts: withHost(this.config.state.hosts, record) };
      }
      for (const result of results.filter((candidate) => candidate.isChanged)) {
        for (const listener of this.listeners) await listener(result.hostname);
      }
      this.config.logger.info(
        { hosts: results.map((result) => result.hostname) },
        'ptp configuration applied',
      );
      return { hosts: results };
    });
  }
}
