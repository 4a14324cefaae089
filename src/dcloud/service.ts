import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { AppError, invalidInput } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FaultService } from '../fault/service.js';
import type { PushRetryOptions, UplinkTransport } from './endpoint-sync.js';
import { type GroupView, refuse, SubcloudGroups } from './groups.js';
import {
  checkManagementChange,
  checkSubcloudDelete,
  checkSubcloudName,
  DEFAULT_GROUP,
  type GroupSettings,
  type ManagementState,
  type UpdateApplyType,
  unknownEndpoints,
} from './model.js';
import type { DcStore, EnrollmentRecord, SubcloudRecord } from './store.js';
import { SubcloudStatus } from './subcloud-status.js';
import { type SubcloudFilter, SubcloudTable } from './subcloud-table.js';
import type { SyncSource } from './sync.js';
import {
  type ControllerFrame,
  JOIN_BUNDLE_PREFIX,
  type JoinBundle,
  type SubcloudEnrollResponse,
  type SubcloudFrame,
} from './uplink-protocol.js';
import {
  type AlarmSummary,
  alarmSummary,
  type SubcloudDetail,
  type SubcloudView,
  toDetail,
  toView,
} from './views.js';

export type { UplinkTransport } from './endpoint-sync.js';

const ENROLLMENT_TTL_MS = 7 * 24 * 3_600_000;
const TOKEN_PREFIX = 'murm_join_';
const MAX_BATCH = 5000;
const MAX_TEXT = 255;

export interface DcServiceOptions {
  store: DcStore;
  fault: FaultService;
  clock: Clock;
  logger: Logger;
  /** Issues the subcloud's uplink client certificate (CN = name) from a CSR, with its SHA-256 fingerprint. */
  issueCertificate(
    csrPem: string,
    name: string,
  ): Promise<{ certificatePem: string; fingerprint: string; caBundle: string }>;
  controllerUrl(): string;
  /** The uplink listener's URL when it is not the API's (uplink worker processes). */
  uplinkUrl?: (() => string | undefined) | undefined;
  caPem(): string;
  sources: SyncSource[];
  transport: UplinkTransport;
  /** dc-cert is out-of-sync once the uplink certificate expires within this (default 30 days). */
  dcCertRenewBeforeMs?: number;
  /** WebSocket ping interval of the uplink (default 3 s), sent to subclouds in `welcome`. */
  pingIntervalMs?: number;
  /** How long a closed uplink may stay closed before the subcloud is offline (default 2 pings + 1 s). */
  offlineGraceMs?: number;
  /** After a controller restart, how long previously online subclouds have to reconnect (default 65 s:
   * the subclouds' reconnect backoff is capped at 60 s). */
  restartGraceMs?: number;
  /** Pushes in flight at once (default 200). */
  maxPushesInFlight?: number;
  /** Deadline of each RPC to a subcloud (default 30 s). */
  rpcDeadlineMs?: number;
  /** How often checkAvailability() also re-evaluates dc-cert against the clock (default 1 h). */
  dcCertAuditIntervalMs?: number;
  /** Backoff, timers and concurrency of retried pushes (defaults: 30 s doubling to 10 min, real timers). */
  pushRetry?: PushRetryOptions | undefined;
}

export interface SubcloudInput {
  name: string;
  description?: string | undefined;
  location?: string | undefined;
  group?: string | undefined;
}

/**
 * The system controller's view of its subclouds (dcmanager): lifecycle, join tokens, groups, and —
 * through SubcloudStatus — availability, sync status, 280.x alarms and pushes. Subclouds live in
 * memory and are written in groups. Human actions run one at a time; uplink frames do not queue
 * behind them or each other.
 */
export class DcService {
  private readonly table: SubcloudTable;
  private readonly groups: SubcloudGroups;
  private readonly status: SubcloudStatus;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DcServiceOptions) {
    const pingIntervalMs = options.pingIntervalMs ?? 3000;
    this.table = new SubcloudTable(options.store, options.clock, options.logger);
    this.groups = new SubcloudGroups(options.store, options.clock);
    this.status = new SubcloudStatus({
      table: this.table,
      fault: options.fault,
      clock: options.clock,
      logger: options.logger,
      sources: options.sources,
      transport: options.transport,
      renewCertificate: (name, csr) => this.issue(name, csr).then((issued) => issued.certificatePem),
      renewBeforeMs: options.dcCertRenewBeforeMs ?? 30 * 24 * 3_600_000,
      pingIntervalMs,
      graceMs: options.offlineGraceMs ?? 2 * pingIntervalMs + 1000,
      restartGraceMs: options.restartGraceMs ?? 65_000,
      certAuditIntervalMs: options.dcCertAuditIntervalMs ?? 3_600_000,
      maxPushesInFlight: options.maxPushesInFlight ?? 200,
      rpcDeadlineMs: options.rpcDeadlineMs ?? 30_000,
      pushRetry: options.pushRetry,
    });
  }

  /** Loads groups (creating Default) and subclouds; subclouds online before a restart get one grace period. */
  async open(): Promise<void> {
    await this.groups.open();
    await this.status.open(await this.table.load());
  }

  /** Stops listening to the sync sources (pending work: see settled()). */
  close(): void {
    this.status.close();
  }

  /** Adds one subcloud (unmanaged, offline) and returns it with its join bundle. */
  async addSubcloud(input: SubcloudInput): Promise<{ subcloud: SubcloudView; bundle: string }> {
    const { items } = await this.add([input], false);
    return items[0] as { subcloud: SubcloudView; bundle: string };
  }

  /** Adds up to 5,000 subclouds all-or-nothing; `invalid_input`/`conflict` name the item (`items[i]: …`). */
  async addSubclouds(
    inputs: readonly SubcloudInput[],
  ): Promise<{ items: { subcloud: SubcloudView; bundle: string }[] }> {
    return this.add(inputs, true);
  }

  private async add(
    inputs: readonly SubcloudInput[],
    isBatch: boolean,
  ): Promise<{ items: { subcloud: SubcloudView; bundle: string }[] }> {
    return this.serialized(async () => {
      if (inputs.length === 0 || inputs.length > MAX_BATCH) {
        throw invalidInput('items', `add 1 to ${MAX_BATCH} subclouds per request (got ${inputs.length})`);
      }
      const seen = new Set<string>();
      for (const [index, input] of inputs.entries()) this.checkNew(input, isBatch ? index : undefined, seen);
      const now = this.options.clock.now().toISOString();
      const records = inputs.map((input) => newSubcloud(input, now));
      const tokens = inputs.map(() => newToken());
      const expiresAt = this.tokenExpiry();
      const enrollments: EnrollmentRecord[] = records.map((record, index) => ({
        name: record.name,
        tokenHash: hashToken(tokens[index] as string),
        expiresAt,
      }));
      await this.table.insert(records, enrollments);
      return {
        items: records.map((record, index) => ({
          subcloud: toView(record),
          bundle: this.bundle(record.name, tokens[index] as string),
        })),
      };
    });
  }

  /** A new join bundle for an existing subcloud (re-install); its previous token stops working. */
  async issueJoinBundle(name: string): Promise<string> {
    return this.serialized(async () => {
      this.table.get(name);
      const token = newToken();
      await this.options.store.putEnrollment({
        name,
        tokenHash: hashToken(token),
        expiresAt: this.tokenExpiry(),
      });
      return this.bundle(name, token);
    });
  }

  /** A page of subclouds sorted by name, with the filtered total; `invalid_input` for a bad cursor. */
  list(
    filter: SubcloudFilter,
    page: { limit: number; next?: string | undefined },
  ): { items: SubcloudView[]; next?: string; total: number } {
    return this.table.page(filter, page);
  }

  /** One subcloud with its endpoints and alarm counts; throws `not_found`. */
  get(name: string): SubcloudDetail {
    return toDetail(this.table.get(name));
  }

  /** Changes description, location or group; throws `not_found`, `invalid_input`. */
  async modify(
    name: string,
    patch: { description?: string | undefined; location?: string | undefined; group?: string | undefined },
  ): Promise<SubcloudView> {
    return this.serialized(async () => {
      const subcloud = this.table.get(name);
      checkText(patch, '');
      if (patch.group !== undefined && !this.groups.has(patch.group)) {
        throw invalidInput('group', `subcloud group "${patch.group}" does not exist`);
      }
      const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
      const next = this.table.put({ ...subcloud, ...defined });
      await this.table.persist(name);
      return toView(next);
    });
  }

  /** Makes a subcloud managed: raises the 280.x that apply, pushes what is out-of-sync; `conflict` if already. */
  async manage(name: string): Promise<SubcloudView> {
    return this.setManagement(name, 'managed');
  }

  /** Makes a subcloud unmanaged: clears its 280.x alarms; nothing is pushed to it any more. */
  async unmanage(name: string): Promise<SubcloudView> {
    return this.setManagement(name, 'unmanaged');
  }

  /**
   * Deletes an unmanaged subcloud (any, when forced): forgets its certificate and join token, closes its
   * uplink, clears its alarms. Throws `not_found`, `precondition_failed`.
   */
  async delete(name: string, force: boolean): Promise<void> {
    return this.serialized(async () => {
      const subcloud = this.table.get(name);
      refuse(checkSubcloudDelete(name, subcloud.management, force));
      this.status.forget(name);
      await this.table.remove(name);
      this.options.transport.disconnect(name);
      await this.options.fault.clearAllFor(`subcloud=${name}`);
    });
  }

  listGroups(): GroupView[] {
    const members = this.table.memberCounts();
    return this.groups.list().map((group) => ({ ...group, subclouds: members.get(group.name) ?? 0 }));
  }

  /** Throws `not_found`. */
  getGroup(name: string): GroupView {
    return { ...this.groups.get(name), subclouds: this.table.memberCounts().get(name) ?? 0 };
  }

  /** Throws `invalid_input`, or `conflict` when the name is taken. */
  async addGroup(input: {
    name: string;
    description?: string | undefined;
    updateApplyType: UpdateApplyType;
    maxParallelSubclouds: number;
  }): Promise<GroupView> {
    return this.serialized(async () => ({ ...(await this.groups.add(input)), subclouds: 0 }));
  }

  /** Changes description, apply type or max parallel; throws `not_found`, `invalid_input`. */
  async modifyGroup(name: string, patch: Partial<GroupSettings>): Promise<GroupView> {
    return this.serialized(async () => {
      await this.groups.modify(name, patch);
      return this.getGroup(name);
    });
  }

  /** Throws `not_found`; `precondition_failed` for Default or a group that still has subclouds. */
  async deleteGroup(name: string): Promise<void> {
    return this.serialized(() => this.groups.delete(name, this.table.memberCounts().get(name) ?? 0));
  }

  /** Spends a one-time join token (even if the CSR is bad) and issues the uplink certificate; else `unauthenticated`. */
  async enroll(token: string, csrPem: string): Promise<SubcloudEnrollResponse> {
    // Only spending the token is serialized; signing runs concurrently (thousands of subclouds join at once).
    const name = await this.serialized(async () => {
      const invalid = new AppError('unauthenticated', 'enrollment token is unknown, expired or already used');
      if (!token.startsWith(TOKEN_PREFIX)) throw invalid;
      const enrollment = await this.options.store.takeEnrollment(hashToken(token));
      const nowMs = this.options.clock.now().getTime();
      if (!enrollment || Date.parse(enrollment.expiresAt) <= nowMs || !this.table.has(enrollment.name)) {
        throw invalid;
      }
      return enrollment.name;
    });
    const issued = await this.issue(name, csrPem);
    // An uplink still open with an older certificate is no longer accepted.
    this.options.transport.disconnect(name);
    return { name, certificate: issued.certificatePem, caBundle: issued.caBundle };
  }

  /** The subcloud whose uplink presents this certificate; `forbidden` unless it is the one last issued to it. */
  subcloudFor(commonName: string, fingerprint: string): string {
    const subcloud = this.table.find(commonName);
    if (
      !subcloud ||
      subcloud.certificateFingerprint === null ||
      subcloud.certificateFingerprint !== fingerprint
    ) {
      throw new AppError(
        'forbidden',
        'this client certificate does not belong to a subcloud of this system controller',
      );
    }
    return subcloud.name;
  }

  /** An uplink opened (its digest follows); ends a grace period. Throws `not_found`. */
  connected(name: string): void {
    this.table.get(name);
    this.status.connected(name);
  }

  /**
   * Handles a frame of a subcloud's uplink; returns the frames to send back. digest → online, statuses,
   * 280.x, `welcome`, pushes of what is out-of-sync; delta → updated counts and statuses; rpc-result
   * belongs to the transport. Throws `not_found` for a deleted subcloud.
   */
  async handleFrame(name: string, frame: SubcloudFrame): Promise<ControllerFrame[]> {
    return this.status.handleFrame(this.table.get(name), frame);
  }

  /** An uplink closed: grace period, or offline at once after a ping timeout (unless a newer uplink is open). */
  disconnected(name: string, reason: 'closed' | 'ping-timeout'): void {
    if (this.table.has(name)) this.status.disconnected(name, reason);
  }

  /** Run on a timer: subclouds whose uplink stayed closed for the grace period become offline; returns them. */
  checkAvailability(): Promise<string[]> {
    return this.status.checkAvailability();
  }

  /** Alarm counts and cloud status of every subcloud (counts null while offline), with totals. */
  alarmSummary(): AlarmSummary {
    return alarmSummary(this.table.sorted());
  }

  /** Resolves when pending writes, pushes and alarm commits are done. */
  async settled(): Promise<void> {
    await this.queue;
    await this.status.settled();
    await this.table.settled();
    await this.options.fault.settled();
  }

  private async setManagement(name: string, management: ManagementState): Promise<SubcloudView> {
    return this.serialized(async () => {
      const subcloud = this.table.get(name);
      refuse(checkManagementChange(name, subcloud.management, management));
      const next = this.table.put({ ...subcloud, management });
      await this.table.persist(name);
      await this.status.managementChanged(next);
      return toView(next);
    });
  }

  /** Issues an uplink certificate and makes it the only one accepted for the subcloud (written before returning). */
  private async issue(name: string, csrPem: string) {
    const issued = await this.options.issueCertificate(csrPem, name);
    const subcloud = this.table.get(name);
    this.table.put({ ...subcloud, certificateFingerprint: issued.fingerprint });
    await this.table.persist(name);
    return issued;
  }

  /** Refuses a new subcloud; in a batch the message names the item (`items[i]: …`). */
  private checkNew(input: SubcloudInput, index: number | undefined, seen: Set<string>): void {
    const at = (message: string) => (index === undefined ? message : `items[${index}]: ${message}`);
    const refusal = checkSubcloudName(input.name);
    if (refusal) throw invalidInput('name', at(refusal.reason), { index });
    checkText(input, at(''));
    if (this.table.has(input.name) || seen.has(input.name)) {
      throw new AppError('conflict', at(`subcloud "${input.name}" already exists`), { index });
    }
    const group = input.group ?? DEFAULT_GROUP.name;
    if (!this.groups.has(group)) {
      throw invalidInput('group', at(`subcloud group "${group}" does not exist`), { index });
    }
    seen.add(input.name);
  }

  private bundle(name: string, token: string): string {
    const { controllerUrl, caPem } = this.options;
    const uplink = this.options.uplinkUrl?.();
    const bundle: JoinBundle = {
      name,
      controller: controllerUrl(),
      ...(uplink === undefined ? {} : { uplink }),
      caPem: caPem(),
      token,
    };
    return JOIN_BUNDLE_PREFIX + Buffer.from(JSON.stringify(bundle)).toString('base64url');
  }

  private tokenExpiry(): string {
    return new Date(this.options.clock.now().getTime() + ENROLLMENT_TTL_MS).toISOString();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function newSubcloud(input: SubcloudInput, now: string): SubcloudRecord {
  return {
    name: input.name,
    description: input.description ?? '',
    location: input.location ?? '',
    group: input.group ?? DEFAULT_GROUP.name,
    management: 'unmanaged',
    availability: 'offline',
    deployStatus: 'not-deployed',
    softwareVersion: null,
    endpoints: unknownEndpoints(),
    alarms: null,
    lastSeenAt: null,
    certificateFingerprint: null,
    createdAt: now,
    updatedAt: now,
  };
}

function checkText(
  input: { description?: string | undefined; location?: string | undefined },
  prefix: string,
) {
  for (const field of ['description', 'location'] as const) {
    const value = input[field];
    if (value !== undefined && value.length > MAX_TEXT) {
      throw invalidInput(field, `${prefix}the ${field} is at most ${MAX_TEXT} characters`);
    }
  }
}

function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
