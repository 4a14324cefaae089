import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { GroupCommit } from '../core/db/group-commit.js';
import { AppError, notFound } from '../core/errors.js';
import { ActiveAlarms, type AlarmFilter } from './active-alarms.js';
import type { AlarmCatalog } from './catalog.js';
import {
  type Alarm,
  type AlarmChange,
  type AlarmSummary,
  type AlarmView,
  type CatalogEntry,
  type Severity,
  summaryStatus,
  validateEntityInstanceId,
  validateSeverity,
} from './model.js';
import { emptyMutation, type Mutation, mergeMutations, toAlarmChange } from './mutation.js';
import type { EventFilter, FaultStore, StoredEvent } from './store.js';

/** What raising needs; the catalog supplies everything else. */
export interface RaiseInput {
  alarmId: string;
  entityInstanceId: string;
  severity: Severity;
  reasonText: string;
}

/** The outcome of a raise: a new alarm, an update of the active one, or a log written to the event log. */
export type RaiseResult =
  | { change: 'raised' | 'updated'; alarm: AlarmView }
  | { change: 'logged'; event: StoredEvent };

/** Counts of what a batch did. */
export interface BatchResult {
  raised: number;
  updated: number;
  logged: number;
  cleared: number;
  notActive: number;
}

type AppliedRaise =
  | { change: 'raised' | 'updated'; alarm: Alarm; entry: CatalogEntry }
  | { change: 'logged'; event: StoredEvent };

const MAX_REASON = 1024;

/**
 * Fault management: the single path through which alarms are raised and cleared. Active alarms live
 * in memory (loaded at start) and every change is written to the database in groups, one transaction
 * per event-loop turn; callers resolve once their change is committed, and subscribers hear of it
 * after the commit, in order.
 */
export class FaultService {
  private readonly active: ActiveAlarms;
  private suppressed = new Set<string>();
  private lastSeq = 0;
  private eventCount = 0;
  private written = 0;
  private readonly listeners = new Set<(change: AlarmChange) => void>();
  private readonly commits = new GroupCommit<Mutation>((group) => this.commit(group));

  private constructor(
    private readonly store: FaultStore,
    private readonly catalog: AlarmCatalog,
    private readonly clock: Clock,
    private readonly maxEvents: number,
  ) {
    this.active = new ActiveAlarms((alarmId) => this.suppressed.has(alarmId));
  }

  /** Loads active alarms, suppressions and the event-log extent. */
  static async open(options: { store: FaultStore; catalog: AlarmCatalog; clock: Clock; maxEvents: number }) {
    const service = new FaultService(options.store, options.catalog, options.clock, options.maxEvents);
    await service.load();
    return service;
  }

  private async load(): Promise<void> {
    this.active.clear();
    this.suppressed = new Set(await this.store.listSuppressed());
    for (const alarm of await this.store.listAlarms()) {
      const entry = this.catalog.find(alarm.alarmId);
      if (entry) this.active.put(alarm, entry);
    }
    const extent = await this.store.eventLogExtent();
    this.lastSeq = extent.lastSeq;
    this.eventCount = extent.count;
  }

  /** Raises or updates an alarm (or writes a log entry); throws `invalid_input` naming the problem. */
  async raise(input: RaiseInput): Promise<RaiseResult> {
    const entry = this.validateRaise(input);
    const mutation = emptyMutation();
    const result = this.applyRaise(input, entry, mutation);
    await this.commits.add(mutation);
    return 'event' in result ? result : { change: result.change, alarm: this.active.toView(result) };
  }

  /** Clears the active alarm of (alarmId, entityInstanceId); false when none was active (idempotent). */
  async clear(alarmId: string, entityInstanceId: string): Promise<boolean> {
    const alarm = this.active.find(alarmId, entityInstanceId);
    if (!alarm) return false;
    const mutation = emptyMutation();
    this.applyClear(alarm, mutation);
    await this.commits.add(mutation);
    return true;
  }

  /** Clears an active alarm by uuid; throws `not_found` when it is not active. */
  async clearByUuid(uuid: string): Promise<void> {
    const alarm = this.active.findByUuid(uuid);
    if (!alarm) throw notFound('active alarm', uuid);
    await this.clear(alarm.alarmId, alarm.entityInstanceId);
  }

  /**
   * Clears every active alarm of an entity and its sub-entities (`host=a` clears `host=a` and
   * `host=a.port=p`, not `host=ab`); returns how many.
   */
  async clearAllFor(entityPrefix: string): Promise<number> {
    const mutation = emptyMutation();
    const alarms = this.active.withEntityPrefix(entityPrefix);
    for (const alarm of alarms) this.applyClear(alarm, mutation);
    if (alarms.length > 0) await this.commits.add(mutation);
    return alarms.length;
  }

  /** Raises and clears many alarms in one commit; nothing is applied when any item is invalid. */
  async applyBatch(batch: {
    raise: readonly RaiseInput[];
    clear: readonly { alarmId: string; entityInstanceId: string }[];
  }): Promise<BatchResult> {
    const entries = batch.raise.map((input, index) => {
      try {
        return this.validateRaise(input);
      } catch (error) {
        if (error instanceof AppError) {
          throw new AppError('invalid_input', `raise[${index}]: ${error.message}`, {
            ...error.details,
            index,
          });
        }
        throw error;
      }
    });
    const result: BatchResult = { raised: 0, updated: 0, logged: 0, cleared: 0, notActive: 0 };
    const mutation = emptyMutation();
    batch.raise.forEach((input, index) => {
      result[this.applyRaise(input, entries[index] as CatalogEntry, mutation).change] += 1;
    });
    for (const { alarmId, entityInstanceId } of batch.clear) {
      const alarm = this.active.find(alarmId, entityInstanceId);
      if (alarm) {
        this.applyClear(alarm, mutation);
        result.cleared += 1;
      } else {
        result.notActive += 1;
      }
    }
    if (mutation.events.length > 0) await this.commits.add(mutation);
    return result;
  }

  /** Counts by severity and the status; suppressed alarms are left out unless asked. */
  summary(options: { includeSuppressed?: boolean } = {}): AlarmSummary {
    const counts = this.active.countBySeverity(options.includeSuppressed ?? false);
    return { ...counts, status: summaryStatus(counts) };
  }

  /** A page of active alarms (most severe first, then newest) as a ready JSON body `{items, next?}`. */
  listAlarms(filter: AlarmFilter, limit: number, cursor: string | undefined): Buffer {
    return this.active.pageBody(filter, limit, cursor);
  }

  /** The active alarm of (alarmId, entityInstanceId), if any: lets a caller raise only what changed. */
  findActive(
    alarmId: string,
    entityInstanceId: string,
  ): { severity: Severity; reasonText: string } | undefined {
    return this.active.find(alarmId, entityInstanceId);
  }

  /** An active alarm by uuid; throws `not_found`. */
  getAlarm(uuid: string): AlarmView {
    const view = this.active.view(uuid);
    if (!view) throw notFound('active alarm', uuid);
    return view;
  }

  listEvents(filter: EventFilter, limit: number): Promise<StoredEvent[]> {
    return this.store.listEvents(filter, limit);
  }

  async getEvent(uuid: string): Promise<StoredEvent> {
    const event = await this.store.findEvent(uuid);
    if (!event) throw notFound('event', uuid);
    return event;
  }

  /** Suppressible alarm ids with their suppression state. */
  listSuppressions(): { alarmId: string; description: string; isSuppressed: boolean }[] {
    return this.catalog
      .entries()
      .filter((entry) => entry.isSuppressible)
      .map((entry) => ({
        alarmId: entry.id,
        description: entry.description,
        isSuppressed: this.suppressed.has(entry.id),
      }));
  }

  /** Suppresses or unsuppresses an alarm id; throws `invalid_input` for ids the catalog does not allow. */
  async setSuppression(alarmId: string, isSuppressed: boolean) {
    const entry = this.catalog.get(alarmId);
    if (!entry.isSuppressible) {
      throw new AppError('invalid_input', `alarm ${alarmId} is not suppressible (the catalog says so)`, {
        field: 'alarmId',
      });
    }
    await this.store.setSuppression(alarmId, isSuppressed, this.clock.now().toISOString());
    if (isSuppressed) this.suppressed.add(alarmId);
    else this.suppressed.delete(alarmId);
    this.active.invalidate(alarmId);
    return { alarmId, description: entry.description, isSuppressed };
  }

  /** Hears every committed change, in order; returns the unsubscribe function. */
  subscribe(listener: (change: AlarmChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Active alarms per alarm id and events written since start (for /metrics). */
  stats(): { byId: Map<string, number>; bySeverity: Record<Severity, number>; eventsWritten: number } {
    return {
      byId: this.active.countById(),
      bySeverity: this.active.countBySeverity(true),
      eventsWritten: this.written,
    };
  }

  /** Waits for every change accepted so far to be committed. */
  settled(): Promise<void> {
    return this.commits.settled();
  }

  private validateRaise(input: RaiseInput): CatalogEntry {
    const entry = this.catalog.get(input.alarmId);
    validateSeverity(entry, input.severity);
    validateEntityInstanceId(input.entityInstanceId);
    if (input.reasonText.length === 0 || input.reasonText.length > MAX_REASON) {
      throw new AppError('invalid_input', `reason text must be 1 to ${MAX_REASON} characters`, {
        field: 'reasonText',
      });
    }
    return entry;
  }

  private applyRaise(input: RaiseInput, entry: CatalogEntry, mutation: Mutation): AppliedRaise {
    const now = this.clock.now().toISOString();
    if (entry.kind === 'log') {
      const event = this.event(entry, 'log', input.entityInstanceId, input.severity, input.reasonText, now);
      mutation.events.push(event);
      return { change: 'logged', event };
    }
    const existing = this.active.find(input.alarmId, input.entityInstanceId);
    const alarm: Alarm = existing
      ? { ...existing, severity: input.severity, reasonText: input.reasonText, timestamp: now }
      : {
          uuid: randomUUID(),
          alarmId: entry.id, // the catalog's string: one copy shared by every alarm of this id
          entityTypeId: entry.entityType,
          entityInstanceId: input.entityInstanceId,
          severity: input.severity,
          reasonText: input.reasonText,
          raisedAt: now,
          timestamp: now,
        };
    this.active.put(alarm, entry);
    const event = this.event(entry, 'set', alarm.entityInstanceId, alarm.severity, alarm.reasonText, now);
    mutation.upserts.push(alarm);
    mutation.events.push(event);
    const change = existing ? 'updated' : 'raised';
    mutation.changes.push({ kind: change, event, alarm, entry });
    return { change, alarm, entry };
  }

  private applyClear(alarm: Alarm, mutation: Mutation): void {
    const entry = this.catalog.get(alarm.alarmId);
    this.active.remove(alarm);
    const now = this.clock.now().toISOString();
    const event = this.event(entry, 'clear', alarm.entityInstanceId, 'clear', alarm.reasonText, now);
    // A raise earlier in this same mutation must not be written after its clear.
    const raisedHere = mutation.upserts.findIndex((upsert) => upsert.uuid === alarm.uuid);
    if (raisedHere >= 0) mutation.upserts.splice(raisedHere, 1);
    mutation.deletedUuids.push(alarm.uuid);
    mutation.events.push(event);
    mutation.changes.push({ kind: 'cleared', event, alarm, entry });
  }

  private event(
    entry: CatalogEntry,
    state: StoredEvent['state'],
    entityInstanceId: string,
    severity: StoredEvent['severity'],
    reasonText: string,
    timestamp: string,
  ): StoredEvent {
    this.lastSeq += 1;
    return {
      seq: this.lastSeq,
      uuid: randomUUID(),
      eventId: entry.id,
      state,
      entityTypeId: entry.entityType,
      entityInstanceId,
      severity,
      reasonText,
      eventType: entry.alarmType,
      probableCause: entry.probableCause,
      proposedRepairAction: entry.proposedRepairAction,
      isServiceAffecting: entry.isServiceAffecting,
      timestamp,
    };
  }

  private async commit(group: Mutation[]): Promise<void> {
    const write = mergeMutations(group);
    try {
      await this.store.write(write);
    } catch (error) {
      // Memory ran ahead of the database; go back to what is stored.
      await this.load();
      throw error;
    }
    this.written += write.events.length;
    this.eventCount += write.events.length;
    await this.trimEventLog();
    if (this.listeners.size === 0) return;
    for (const mutation of group) {
      for (const pending of mutation.changes) {
        const change = toAlarmChange(pending, this.active);
        for (const listener of this.listeners) {
          try {
            listener(change);
          } catch {
            // A failing listener must not stop the others or the writer.
          }
        }
      }
    }
  }

  private async trimEventLog(): Promise<void> {
    const slack = Math.max(1, Math.floor(this.maxEvents / 100));
    if (this.eventCount <= this.maxEvents + slack) return;
    const removed = await this.store.trimEvents(this.lastSeq, this.maxEvents);
    this.eventCount -= removed;
  }
}
