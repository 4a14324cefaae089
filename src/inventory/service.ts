import { createHash, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { AppError, invalidInput, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FaultService } from '../fault/service.js';
import type { AgentFrame, EnrollResponse, MonitorDirective, RenderedFile } from './agent-protocol.js';
import { type ExtraRenderer, HostConfigs } from './host-config.js';
import {
  type AdminAction,
  checkHostAdd,
  checkModeChange,
  configStatus,
  connectedStates,
  decideAdminAction,
  defaultSubfunctions,
  disconnectedStates,
  FIRST_CONTROLLER,
  type HostStates,
  hostEntity,
  INVENTORY_ALARMS,
  isRefusal,
  type Personality,
  type Refusal,
  type SystemMode,
  type SystemType,
} from './model.js';
import type { HostRecord, InventoryStore, SystemRecord } from './store.js';
import type { AssignedCpu, CpuFunction, HostInventory } from './topology.js';

const ENROLLMENT_TTL_MS = 24 * 3_600_000;
const TOKEN_PREFIX = 'murm_enroll_';

/** A host as the API shows it. */
export type HostView = Omit<HostRecord, 'agentCertificate' | 'cpuCounts'> & {
  enrolled: boolean;
  configStatus: 'up-to-date' | 'out-of-date' | 'unknown';
};

export interface Enrollment {
  token: string;
  expiresAt: string;
}

/** Issues the agent's client certificate from a CSR; returns the PEM and its SHA-256 fingerprint. */
type AgentCertificateIssuer = (
  csrPem: string,
  hostname: string,
) => Promise<{ certificatePem: string; fingerprint: string; caBundle: string }>;

export interface InventoryOptions {
  store: InventoryStore;
  fault: FaultService;
  clock: Clock;
  logger: Logger;
  issueAgentCertificate: AgentCertificateIssuer;
  /** How often agents heartbeat, and how many missed heartbeats make a host offline (StarlingX: 3 × 5 s). */
  heartbeat: { intervalMs: number; missed: number };
  /** The system row created on first start. */
  initialSystem: { name: string; systemType: SystemType; softwareVersion: string };
}

/** Another domain's handling of an agent frame (see `addAgentFrameHandler`). */
export type AgentFrameHandler = (hostname: string, frame: AgentFrame) => Promise<void>;

/** Something that wants to know when a host's desired configuration or existence changes (the agent channel). */
export interface HostListener {
  configChanged(
    hostname: string,
    revision: string,
    files: RenderedFile[],
    monitors?: MonitorDirective[] | undefined,
  ): void;
  removed(hostname: string): void;
}

/**
 * System and hosts: the lock/unlock state machine, enrollment of agents, the inventory they report,
 * CPU functions, the rendered per-host configuration and its alarms. Mutations run one at a time
 * (hosts change at human rates); heartbeats only touch memory unless a state changes.
 */
export class InventoryService {
  private readonly options: InventoryOptions;
  private readonly hosts = new Map<string, HostRecord>();
  private readonly inventory = new Map<string, { inventory: HostInventory; reportedAt: string }>();
  /** Last heartbeat per connected host, in clock milliseconds. */
  private readonly lastSeen = new Map<string, number>();
  private readonly configs = new HostConfigs();
  private readonly listeners = new Set<HostListener>();
  private readonly frameHandlers: AgentFrameHandler[] = [];
  private systemRecord: SystemRecord | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: InventoryOptions) {
    this.options = options;
  }

  /** Loads state; on first start creates the system and controller-0 (unlocked: it is the running controller). */
  async open(): Promise<void> {
    const { store, clock, initialSystem } = this.options;
    const now = clock.now().toISOString();
    this.systemRecord = await store.getSystem();
    if (!this.systemRecord) {
      this.systemRecord = {
        name: initialSystem.name,
        description: '',
        systemType: initialSystem.systemType,
        mode: 'simplex',
        region: 'RegionOne',
        softwareVersion: initialSystem.softwareVersion,
        updatedAt: now,
      };
      await store.putSystem(this.systemRecord);
    } else if (this.systemRecord.softwareVersion !== initialSystem.softwareVersion) {
      this.systemRecord = { ...this.systemRecord, softwareVersion: initialSystem.softwareVersion };
      await store.putSystem(this.systemRecord);
    }
    for (const host of await store.listHosts()) this.hosts.set(host.hostname, host);
    for (const row of await store.listInventory()) this.inventory.set(row.hostname, row);
    if (!this.hosts.has(FIRST_CONTROLLER)) {
      const host = this.newHost(FIRST_CONTROLLER, 'controller', undefined, {}, now);
      host.administrative = 'unlocked';
      await store.insertHost(host);
      this.hosts.set(host.hostname, host);
    }
    // Hosts that were connected before a restart get one full heartbeat window to come back.
    const startMs = clock.now().getTime();
    for (const host of this.hosts.values()) {
      if (host.availability !== 'offline') this.lastSeen.set(host.hostname, startMs);
    }
  }

  subscribe(listener: HostListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Adds another domain's handler for agent frames (every type, the domain picks its own). It runs after
   * the inventory handled the frame, outside the inventory's queue, called in the order frames arrived;
   * what it throws is sent back to the agent as an `error` frame.
   */
  addAgentFrameHandler(handler: AgentFrameHandler): void {
    this.frameHandlers.push(handler);
  }

  /** Adds another domain's files to hosts' configuration; call `refreshHostConfig` when they change. */
  addConfigRenderer(renderer: ExtraRenderer): void {
    this.configs.addRenderer(renderer);
  }

  /** Recomputes a host's target revision after an extra renderer's files changed; no-op for unknown hosts. */
  async refreshHostConfig(hostname: string): Promise<void> {
    return this.serialized(async () => {
      const host = this.hosts.get(hostname);
      if (host) await this.refreshTarget(host);
    });
  }

  get heartbeatIntervalMs(): number {
    return this.options.heartbeat.intervalMs;
  }

  system(): SystemRecord {
    if (!this.systemRecord) throw new Error('InventoryService.open() was not called');
    return this.systemRecord;
  }

  async modifySystem(
    patch: { name?: string; description?: string; region?: string; mode?: SystemMode },
    actor: string,
  ): Promise<SystemRecord> {
    return this.serialized(async () => {
      const current = this.system();
      if (patch.mode !== undefined) {
        refuse(checkModeChange(current, patch.mode, this.hosts.get(FIRST_CONTROLLER)));
      }
      const next: SystemRecord = {
        ...current,
        ...definedOnly(patch),
        updatedAt: this.options.clock.now().toISOString(),
      };
      await this.options.store.putSystem(next);
      this.systemRecord = next;
      if (patch.mode !== undefined && patch.mode !== current.mode) {
        this.options.logger.info({ from: current.mode, to: patch.mode, actor }, 'system mode changed');
        await this.log(FIRST_CONTROLLER, INVENTORY_ALARMS.command, `command=migrate-to-${patch.mode}`, {
          reason: `System mode changed from ${current.mode} to ${patch.mode} by ${actor}; controller-1 may now be added.`,
        });
      }
      return next;
    });
  }

  listHosts(filter: { personality?: Personality } = {}): HostView[] {
    return [...this.hosts.values()]
      .filter((host) => filter.personality === undefined || host.personality === filter.personality)
      .map((host) => this.view(host));
  }

  getHost(hostname: string): HostView {
    return this.view(this.host(hostname));
  }

  async addHost(input: {
    hostname: string;
    personality: Personality;
    subfunctions?: string[] | undefined;
    labels?: Record<string, string> | undefined;
  }): Promise<{ host: HostView; enrollment: Enrollment }> {
    return this.serialized(async () => {
      refuse(checkHostAdd(this.system(), [...this.hosts.values()], input));
      checkLabels(input.labels ?? {});
      const now = this.options.clock.now().toISOString();
      const host = this.newHost(
        input.hostname,
        input.personality,
        input.subfunctions,
        input.labels ?? {},
        now,
      );
      await this.options.store.insertHost(host);
      this.hosts.set(host.hostname, host);
      const enrollment = await this.createEnrollment(host.hostname);
      await this.options.fault.raise({
        alarmId: INVENTORY_ALARMS.locked,
        entityInstanceId: hostEntity(host.hostname),
        severity: 'warning',
        reasonText: `${host.hostname} was administratively locked and is out of service.`,
      });
      await this.log(host.hostname, INVENTORY_ALARMS.hostAdded, 'event=add', {
        reason: `${host.hostname} was added as ${host.personality}.`,
      });
      return { host: this.view(host), enrollment };
    });
  }

  /** A new one-time enrollment token for a host (replacing any earlier one). */
  async issueEnrollmentToken(hostname: string): Promise<Enrollment> {
    return this.serialized(async () => {
      this.host(hostname);
      return this.createEnrollment(hostname);
    });
  }

  async deleteHost(hostname: string, force: boolean): Promise<void> {
    return this.serialized(async () => {
      const host = this.host(hostname);
      if (hostname === FIRST_CONTROLLER) {
        throw new AppError(
          'precondition_failed',
          'controller-0 is the site controller itself and cannot be deleted',
        );
      }
      if (host.administrative === 'unlocked' && !force) {
        throw new AppError(
          'precondition_failed',
          `${hostname} is unlocked: lock it first ("murm host lock ${hostname}"), or delete with --force`,
        );
      }
      await this.options.store.deleteHost(hostname);
      this.hosts.delete(hostname);
      this.inventory.delete(hostname);
      this.lastSeen.delete(hostname);
      this.configs.forget(hostname);
      // Its alarms and those of its sub-entities (host=<name>.…), not those of host=<name>x.
      await this.options.fault.clearAllFor(hostEntity(hostname));
      for (const listener of this.listeners) listener.removed(hostname);
    });
  }

  async lock(hostname: string, force: boolean): Promise<HostView> {
    return this.adminAction(hostname, force ? 'force-lock' : 'lock');
  }

  async unlock(hostname: string): Promise<HostView> {
    return this.adminAction(hostname, 'unlock');
  }

  async assignLabels(hostname: string, labels: Record<string, string>): Promise<HostView> {
    checkLabels(labels);
    return this.serialized(async () => {
      const host = this.host(hostname);
      return this.view(await this.save(host, { labels: { ...host.labels, ...labels } }));
    });
  }

  async removeLabel(hostname: string, key: string): Promise<HostView> {
    return this.serialized(async () => {
      const host = this.host(hostname);
      if (!(key in host.labels)) throw notFound('label', `${key} on ${hostname}`);
      const { [key]: _removed, ...labels } = host.labels;
      return this.view(await this.save(host, { labels }));
    });
  }

  /** The host's logical CPUs with their functions; refused before its agent reported a topology. */
  cpus(hostname: string): AssignedCpu[] {
    const host = this.host(hostname);
    return this.configs.assignedCpus(host, this.inventory.get(hostname)?.inventory);
  }

  async modifyCpuFunctions(
    hostname: string,
    fn: CpuFunction,
    coresPerNuma: Record<number, number>,
  ): Promise<AssignedCpu[]> {
    return this.serialized(async () => {
      const host = this.host(hostname);
      if (host.administrative !== 'locked') {
        throw new AppError(
          'precondition_failed',
          `${hostname} must be locked to change its CPU functions (it is unlocked): run "murm host lock ${hostname}" first`,
        );
      }
      const inventory = this.inventory.get(hostname)?.inventory;
      const cpuCounts = this.configs.requestFunction(host, inventory, fn, coresPerNuma);
      const saved = await this.save(host, { cpuCounts });
      await this.refreshTarget(saved);
      return this.configs.assignedCpus(saved, inventory);
    });
  }

  reportedInventory(hostname: string): { inventory: HostInventory; reportedAt: string } {
    this.host(hostname);
    const reported = this.inventory.get(hostname);
    if (!reported) throw notFound('inventory of host', hostname);
    return reported;
  }

  /** The configuration rendered for a host (what its agent must apply); refused before inventory. */
  renderedConfig(hostname: string): { revision: string; files: RenderedFile[] } {
    const host = this.host(hostname);
    const rendered = this.configs.render(host, this.inventory.get(hostname)?.inventory);
    if (!rendered) {
      throw new AppError(
        'precondition_failed',
        `no configuration for ${hostname} yet: its agent has not reported its CPUs`,
      );
    }
    return rendered;
  }

  /** Spends a one-time enrollment token and issues the agent's client certificate. */
  async enroll(token: string, csrPem: string): Promise<EnrollResponse> {
    return this.serialized(async () => {
      const invalid = new AppError(
        'unauthenticated',
        'enrollment token is unknown, expired or already used',
        {
          reason: 'unknown',
        },
      );
      if (!token.startsWith(TOKEN_PREFIX)) throw invalid;
      const enrollment = await this.options.store.takeEnrollment(hashToken(token));
      if (!enrollment || Date.parse(enrollment.expiresAt) <= this.options.clock.now().getTime())
        throw invalid;
      const host = this.host(enrollment.hostname);
      const issued = await this.options.issueAgentCertificate(csrPem, host.hostname);
      await this.save(host, { agentCertificate: issued.fingerprint });
      // A re-enrolled host's old channel used the old certificate: close it.
      for (const listener of this.listeners) listener.removed(host.hostname);
      return { hostname: host.hostname, certificate: issued.certificatePem, caBundle: issued.caBundle };
    });
  }

  /**
   * The host whose agent holds the certificate with this fingerprint (the last one issued, or the one
   * it renewed from until the new one is used); `forbidden` for any other.
   */
  agentFor(commonName: string, fingerprint: string): string {
    const host = this.hosts.get(commonName);
    if (!host || !this.isAgentCertificate(host, fingerprint)) {
      throw new AppError('forbidden', 'this client certificate does not belong to an enrolled host');
    }
    const [current, previous] = agentFingerprints(host.agentCertificate);
    // The agent connected with its newest certificate, so it has stored it: the old one may go.
    if (previous !== undefined && fingerprint === current) this.forgetPreviousCertificate(host, current);
    return host.hostname;
  }

  private forgetPreviousCertificate(host: HostRecord, current: string): void {
    const recorded = host.agentCertificate;
    this.serialized(async () => {
      const now = this.hosts.get(host.hostname);
      if (now !== undefined && now.agentCertificate === recorded)
        await this.save(now, { agentCertificate: current });
    }).catch((error: unknown) => {
      this.options.logger.warn(
        { err: error, hostname: host.hostname },
        'could not forget a renewed agent certificate',
      );
    });
  }

  /**
   * Issues a new client certificate to the agent of `hostname` for the key of `csrPem`, asked on its
   * channel with the certificate `presented` (fingerprint and public key). The name comes from the
   * channel, never from the CSR. Throws `invalid_input` for a CSR that does not parse or reuses the
   * presented key, `forbidden` when the presented certificate is no longer this host's, `not_found`
   * for a deleted host.
   */
  async renewAgentCertificate(
    hostname: string,
    presented: { fingerprint: string; publicKey: KeyObject },
    csrPem: string,
  ): Promise<{ certificate: string; caBundle: string; notAfter: string }> {
    return this.serialized(async () => {
      const host = this.host(hostname);
      if (!this.isAgentCertificate(host, presented.fingerprint)) {
        throw new AppError(
          'forbidden',
          `the certificate of this channel is no longer the one of host "${hostname}"; enroll again`,
        );
      }
      const issued = await this.options.issueAgentCertificate(csrPem, host.hostname);
      const certificate = new X509Certificate(issued.certificatePem);
      if (certificate.publicKey.equals(presented.publicKey)) {
        throw new AppError(
          'invalid_input',
          'the certificate request is for the key the agent already uses; renew with a new key',
          { field: 'csr' },
        );
      }
      // Until the agent connects with the new certificate, the one it asked with keeps working.
      await this.save(host, { agentCertificate: `${issued.fingerprint} ${presented.fingerprint}` });
      this.options.logger.info({ hostname, notAfter: certificate.validTo }, 'renewed an agent certificate');
      return {
        certificate: issued.certificatePem,
        caBundle: issued.caBundle,
        notAfter: new Date(certificate.validTo).toISOString(),
      };
    });
  }

  private isAgentCertificate(host: HostRecord, fingerprint: string): boolean {
    return agentFingerprints(host.agentCertificate).includes(fingerprint);
  }

  /**
   * Handles one frame from a host's agent; returns the frames to send back. The first frame of a
   * connection must be `hello`; the answer is `welcome` and, when it differs from the applied one,
   * the current configuration.
   */
  async handleAgentFrame(hostname: string, frame: AgentFrame): Promise<unknown[]> {
    const replies = await this.handleOwnFrame(hostname, frame);
    for (const handler of this.frameHandlers) await handler(hostname, frame);
    return replies;
  }

  private async handleOwnFrame(hostname: string, frame: AgentFrame): Promise<unknown[]> {
    return this.serialized(async () => {
      let host = this.host(hostname);
      const nowMs = this.options.clock.now().getTime();
      this.lastSeen.set(hostname, nowMs);
      const replies: unknown[] = [];
      switch (frame.type) {
        case 'hello': {
          await this.storeInventory(hostname, frame.inventory);
          host = await this.recordConnected(host, frame.appliedRevision, nowMs);
          replies.push({ type: 'welcome', hostname, heartbeatIntervalMs: this.options.heartbeat.intervalMs });
          const rendered = this.configs.render(host, this.inventory.get(hostname)?.inventory);
          if (rendered && rendered.revision !== frame.appliedRevision) {
            const { revision, files, monitors } = rendered;
            replies.push({ type: 'config', revision, files, ...(monitors ? { monitors } : {}) });
          }
          break;
        }
        case 'heartbeat':
          await this.recordConnected(host, frame.appliedRevision, nowMs);
          break;
        case 'inventory':
          await this.storeInventory(hostname, frame.inventory);
          await this.refreshTarget(this.host(hostname));
          break;
        case 'applied':
          if (frame.error !== undefined) {
            this.options.logger.warn(
              { hostname, revision: frame.revision, error: frame.error },
              'agent could not apply configuration',
            );
          } else {
            await this.recordConnected(host, frame.revision, nowMs);
          }
          break;
      }
      return replies;
    });
  }

  /** Marks hosts whose agents missed their heartbeats offline and raises 200.005; run on a timer. */
  async checkHeartbeats(): Promise<string[]> {
    return this.serialized(async () => {
      const { intervalMs, missed } = this.options.heartbeat;
      const deadline = this.options.clock.now().getTime() - intervalMs * missed;
      const lost: string[] = [];
      for (const host of [...this.hosts.values()]) {
        const seen = this.lastSeen.get(host.hostname);
        if (seen === undefined || seen > deadline) continue;
        this.lastSeen.delete(host.hostname);
        await this.save(host, disconnectedStates(host.administrative));
        await this.options.fault.raise({
          alarmId: INVENTORY_ALARMS.heartbeatLost,
          entityInstanceId: hostEntity(host.hostname),
          severity: 'critical',
          reasonText: `${host.hostname} missed ${missed} heartbeats (${missed} × ${intervalMs / 1000} s) and is offline.`,
        });
        await this.log(host.hostname, INVENTORY_ALARMS.stateChange, 'status=offline', {
          reason: `${host.hostname} is offline: its agent stopped sending heartbeats.`,
        });
        lost.push(host.hostname);
      }
      return lost;
    });
  }

  private async adminAction(hostname: string, action: AdminAction): Promise<HostView> {
    return this.serialized(async () => {
      const host = this.host(hostname);
      const decision = decideAdminAction(this.system(), [...this.hosts.values()], host, action);
      if (isRefusal(decision)) throw new AppError(decision.code, decision.reason);
      const saved = await this.save(host, this.withProblems(hostname, decision));
      const entity = hostEntity(hostname);
      if (saved.administrative === 'locked') {
        await this.options.fault.raise({
          alarmId: INVENTORY_ALARMS.locked,
          entityInstanceId: entity,
          severity: 'warning',
          reasonText: `${hostname} was administratively locked and is out of service.`,
        });
      } else {
        await this.options.fault.clear(INVENTORY_ALARMS.locked, entity);
      }
      await this.log(hostname, INVENTORY_ALARMS.command, `command=${action}`, {
        reason: `${action} of ${hostname} accepted.`,
      });
      return this.view(saved);
    });
  }

  /** While connected, availability follows the admin state and whether discovery had problems. */
  private withProblems(hostname: string, states: HostStates): HostStates {
    if (states.availability === 'offline' || !this.lastSeen.has(hostname)) return states;
    const problems = (this.inventory.get(hostname)?.inventory.problems.length ?? 0) > 0;
    return connectedStates(states.administrative, problems);
  }

  private async recordConnected(
    host: HostRecord,
    applied: string | null,
    nowMs: number,
  ): Promise<HostRecord> {
    const states = this.withProblems(host.hostname, connectedStates(host.administrative, false));
    const wasOffline = host.availability === 'offline';
    const isChanged =
      wasOffline ||
      states.availability !== host.availability ||
      states.operational !== host.operational ||
      applied !== host.appliedRevision;
    if (!isChanged) return host;
    const saved = await this.save(host, {
      ...states,
      appliedRevision: applied,
      lastHeartbeatAt: new Date(nowMs).toISOString(),
    });
    if (wasOffline) {
      await this.options.fault.clear(INVENTORY_ALARMS.heartbeatLost, hostEntity(host.hostname));
      await this.log(host.hostname, INVENTORY_ALARMS.stateChange, 'status=online', {
        reason: `${host.hostname} is online: its agent connected.`,
      });
    }
    await this.syncConfigAlarm(saved);
    return saved;
  }

  private async storeInventory(hostname: string, inventory: HostInventory): Promise<void> {
    const current = this.inventory.get(hostname);
    if (current && JSON.stringify(current.inventory) === JSON.stringify(inventory)) return;
    const reportedAt = this.options.clock.now().toISOString();
    await this.options.store.putInventory(hostname, inventory, reportedAt);
    this.inventory.set(hostname, { inventory, reportedAt });
    if (inventory.problems.length > 0) {
      this.options.logger.warn(
        { hostname, problems: inventory.problems },
        'agent could not read all of its inventory',
      );
    }
  }

  /** Recomputes the host's target revision; pushes new configuration to its agent when it changed. */
  private async refreshTarget(host: HostRecord): Promise<HostRecord> {
    const rendered = this.configs.render(host, this.inventory.get(host.hostname)?.inventory);
    const target = rendered?.revision ?? null;
    const saved = target === host.targetRevision ? host : await this.save(host, { targetRevision: target });
    await this.syncConfigAlarm(saved);
    if (rendered && target !== host.targetRevision) {
      for (const listener of this.listeners)
        listener.configChanged(host.hostname, rendered.revision, rendered.files, rendered.monitors);
    }
    return saved;
  }

  /** 250.001 is active exactly while a host's target revision differs from the applied one. */
  private async syncConfigAlarm(host: HostRecord): Promise<void> {
    let target = host.targetRevision;
    if (target === null) {
      const rendered = this.configs.render(host, this.inventory.get(host.hostname)?.inventory);
      if (rendered) target = (await this.save(host, { targetRevision: rendered.revision })).targetRevision;
    }
    const entity = hostEntity(host.hostname);
    if (configStatus(target, this.host(host.hostname).appliedRevision) === 'out-of-date') {
      await this.options.fault.raise({
        alarmId: INVENTORY_ALARMS.configOutOfDate,
        entityInstanceId: entity,
        severity: 'major',
        reasonText: `The configuration of ${host.hostname} is out of date: its agent has not applied revision ${target}.`,
      });
    } else {
      await this.options.fault.clear(INVENTORY_ALARMS.configOutOfDate, entity);
    }
  }

  private async createEnrollment(hostname: string): Promise<Enrollment> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const expiresAt = new Date(this.options.clock.now().getTime() + ENROLLMENT_TTL_MS).toISOString();
    await this.options.store.putEnrollment(hostname, hashToken(token), expiresAt);
    return { token, expiresAt };
  }

  private newHost(
    hostname: string,
    personality: Personality,
    subfunctions: string[] | undefined,
    labels: Record<string, string>,
    now: string,
  ): HostRecord {
    return {
      hostname,
      personality,
      subfunctions: subfunctions ?? defaultSubfunctions(this.system().systemType, personality),
      administrative: 'locked',
      operational: 'disabled',
      availability: 'offline',
      labels,
      agentCertificate: null,
      lastHeartbeatAt: null,
      targetRevision: null,
      appliedRevision: null,
      cpuCounts: null,
      createdAt: now,
      updatedAt: now,
    };
  }

  /** Writes a changed host (compare-and-set on updatedAt) and updates the cache. */
  private async save(host: HostRecord, patch: Partial<HostRecord>): Promise<HostRecord> {
    const current = this.host(host.hostname);
    const nowMs = Math.max(this.options.clock.now().getTime(), Date.parse(current.updatedAt) + 1);
    const next: HostRecord = { ...current, ...patch, updatedAt: new Date(nowMs).toISOString() };
    if (!(await this.options.store.updateHost(next, current.updatedAt))) {
      throw new AppError('conflict', `${host.hostname} was changed by someone else; try again`);
    }
    this.hosts.set(next.hostname, next);
    return next;
  }

  private host(hostname: string): HostRecord {
    const host = this.hosts.get(hostname);
    if (!host) throw notFound('host', hostname);
    return host;
  }

  private view(host: HostRecord): HostView {
    const { agentCertificate, cpuCounts: _counts, ...rest } = host;
    const seen = this.lastSeen.get(host.hostname);
    return {
      ...rest,
      lastHeartbeatAt: seen === undefined ? host.lastHeartbeatAt : new Date(seen).toISOString(),
      enrolled: agentCertificate !== null,
      configStatus: configStatus(host.targetRevision, host.appliedRevision),
    };
  }

  private async log(
    hostname: string,
    alarmId: string,
    suffix: string,
    text: { reason: string },
  ): Promise<void> {
    await this.options.fault.raise({
      alarmId,
      entityInstanceId: `${hostEntity(hostname)}.${suffix}`,
      severity: 'warning',
      reasonText: text.reason,
    });
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/**
 * The fingerprints in a host's `agentCertificate`: the last one issued, then — between a renewal and
 * the agent's first connection with the new certificate — the one it renewed from, space-separated.
 * Stored, so a controller restart in that window strands no agent.
 */
function agentFingerprints(recorded: string | null): string[] {
  return recorded === null ? [] : recorded.split(' ');
}

/** Kubernetes-style label keys (optional `prefix/`), so labels can be handed on to kubelet as node labels. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function checkLabels(labels: Record<string, string>): void {
  for (const key of Object.keys(labels)) {
    if (!LABEL_KEY.test(key)) {
      throw invalidInput(
        'labels',
        `label key "${key}" is not valid: letters, digits, "-", "_" and ".", at most 63 characters, optionally after a "prefix/"`,
      );
    }
  }
}

function refuse(refusal: Refusal | undefined): void {
  if (refusal) throw new AppError(refusal.code, refusal.reason);
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}
