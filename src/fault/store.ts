import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';
import type { Alarm, EventRecord, EventState, Severity } from './model.js';

interface AlarmsTable {
  uuid: string;
  alarm_id: string;
  entity_type_id: string;
  entity_instance_id: string;
  severity: string;
  reason_text: string;
  raised_at: string;
  updated_at: string;
}
interface EventLogTable {
  seq: number;
  uuid: string;
  event_id: string;
  state: string;
  entity_type_id: string;
  entity_instance_id: string;
  severity: string;
  reason_text: string;
  event_type: string;
  probable_cause: string;
  proposed_repair_action: string;
  is_service_affecting: number;
  timestamp: string;
}
interface EventSuppressionTable {
  alarm_id: string;
  is_suppressed: number;
  updated_at: string;
}
interface FaultTables {
  alarms: AlarmsTable;
  event_log: EventLogTable;
  event_suppression: EventSuppressionTable;
}

/** An event-log row with the catalog facts copied at the time it was written. */
export interface StoredEvent extends EventRecord {
  eventType: string;
  probableCause: string;
  proposedRepairAction: string;
  isServiceAffecting: boolean;
}

/** One group commit: alarms to delete and to upsert, events to append. */
export interface FaultWrite {
  deletedUuids: readonly string[];
  upserts: readonly Alarm[];
  events: readonly StoredEvent[];
}

/** Filters of the event log; all optional, combined with AND. */
export interface EventFilter {
  since?: string | undefined;
  until?: string | undefined;
  eventId?: string | undefined;
  entityInstancePrefix?: string | undefined;
  state?: EventState | undefined;
  beforeSeq?: number | undefined;
}

// Rows per statement: well under SQLite's limit of 32,766 bound parameters.
const CHUNK = 500;

/** The fault domain's tables: alarms, event_log, event_suppression. */
export class FaultStore {
  private readonly db: Kysely<FaultTables>;

  constructor(database: Database) {
    this.db = tablesOf<FaultTables>(database);
  }

  async listAlarms(): Promise<Alarm[]> {
    const rows = await this.db.selectFrom('alarms').selectAll().execute();
    return rows.map((row) => ({
      uuid: row.uuid,
      alarmId: row.alarm_id,
      entityTypeId: row.entity_type_id,
      entityInstanceId: row.entity_instance_id,
      severity: row.severity as Severity,
      reasonText: row.reason_text,
      raisedAt: row.raised_at,
      timestamp: row.updated_at,
    }));
  }

  /** The newest sequence number and how many events are stored. */
  async eventLogExtent(): Promise<{ lastSeq: number; count: number }> {
    const row = await this.db
      .selectFrom('event_log')
      .select((eb) => [eb.fn.max('seq').as('last'), eb.fn.countAll<number>().as('count')])
      .executeTakeFirst();
    return { lastSeq: Number(row?.last ?? 0), count: Number(row?.count ?? 0) };
  }

  /** Applies one group of changes in a single transaction. */
  async write(change: FaultWrite): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (let start = 0; start < change.deletedUuids.length; start += CHUNK) {
        await trx
          .deleteFrom('alarms')
          .where('uuid', 'in', change.deletedUuids.slice(start, start + CHUNK))
          .execute();
      }
      for (let start = 0; start < change.upserts.length; start += CHUNK) {
        const rows = change.upserts.slice(start, start + CHUNK).map(toAlarmRow);
        await trx
          .insertInto('alarms')
          .values(rows)
          .onConflict((oc) =>
            oc.column('uuid').doUpdateSet((eb) => ({
              severity: eb.ref('excluded.severity'),
              reason_text: eb.ref('excluded.reason_text'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
      for (let start = 0; start < change.events.length; start += CHUNK) {
        await trx
          .insertInto('event_log')
          .values(change.events.slice(start, start + CHUNK).map(toEventRow))
          .execute();
      }
    });
  }

  /** Deletes the oldest events so that at most `keep` remain below `lastSeq`. */
  async trimEvents(lastSeq: number, keep: number): Promise<number> {
    const result = await this.db
      .deleteFrom('event_log')
      .where('seq', '<=', lastSeq - keep)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Newest first. */
  async listEvents(filter: EventFilter, limit: number): Promise<StoredEvent[]> {
    let query = this.db.selectFrom('event_log').selectAll();
    if (filter.since !== undefined) query = query.where('timestamp', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('timestamp', '<', filter.until);
    if (filter.eventId !== undefined) query = query.where('event_id', '=', filter.eventId);
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.entityInstancePrefix !== undefined) {
      query = query.where('entity_instance_id', '>=', filter.entityInstancePrefix);
      query = query.where('entity_instance_id', '<', `${filter.entityInstancePrefix}\uffff`);
    }
    if (filter.beforeSeq !== undefined) query = query.where('seq', '<', filter.beforeSeq);
    const rows = await query.orderBy('seq', 'desc').limit(limit).execute();
    return rows.map(toEvent);
  }

  async findEvent(uuid: string): Promise<StoredEvent | undefined> {
    const row = await this.db.selectFrom('event_log').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? toEvent(row) : undefined;
  }

  async listSuppressed(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('event_suppression')
      .select('alarm_id')
      .where('is_suppressed', '=', 1)
      .execute();
    return rows.map((row) => row.alarm_id);
  }

  async setSuppression(alarmId: string, isSuppressed: boolean, at: string): Promise<void> {
    await this.db
      .insertInto('event_suppression')
      .values({ alarm_id: alarmId, is_suppressed: isSuppressed ? 1 : 0, updated_at: at })
      .onConflict((oc) =>
        oc.column('alarm_id').doUpdateSet({ is_suppressed: isSuppressed ? 1 : 0, updated_at: at }),
      )
      .execute();
  }
}

function toAlarmRow(alarm: Alarm): AlarmsTable {
  return {
    uuid: alarm.uuid,
    alarm_id: alarm.alarmId,
    entity_type_id: alarm.entityTypeId,
    entity_instance_id: alarm.entityInstanceId,
    severity: alarm.severity,
    reason_text: alarm.reasonText,
    raised_at: alarm.raisedAt,
    updated_at: alarm.timestamp,
  };
}

function toEventRow(event: StoredEvent): EventLogTable {
  return {
    seq: event.seq,
    uuid: event.uuid,
    event_id: event.eventId,
    state: event.state,
    entity_type_id: event.entityTypeId,
    entity_instance_id: event.entityInstanceId,
    severity: event.severity,
    reason_text: event.reasonText,
    event_type: event.eventType,
    probable_cause: event.probableCause,
    proposed_repair_action: event.proposedRepairAction,
    is_service_affecting: event.isServiceAffecting ? 1 : 0,
    timestamp: event.timestamp,
  };
}

function toEvent(row: EventLogTable): StoredEvent {
  return {
    seq: Number(row.seq),
    uuid: row.uuid,
    eventId: row.event_id,
    state: row.state as EventState,
    entityTypeId: row.entity_type_id,
    entityInstanceId: row.entity_instance_id,
    severity: row.severity as StoredEvent['severity'],
    reasonText: row.reason_text,
    eventType: row.event_type,
    probableCause: row.probable_cause,
    proposedRepairAction: row.proposed_repair_action,
    isServiceAffecting: Boolean(row.is_service_affecting),
    timestamp: row.timestamp,
  };
}
