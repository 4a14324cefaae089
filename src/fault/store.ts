import { CompiledQuery, type Kysely } from 'kysely';
import { type Database, type Dialect, tablesOf } from '../core/db/database.js';
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

const ALARM_COLUMNS =
  'uuid, alarm_id, entity_type_id, entity_instance_id, severity, reason_text, raised_at, updated_at';
const EVENT_COLUMNS =
  'seq, uuid, event_id, state, entity_type_id, entity_instance_id, severity, reason_text, event_type, ' +
  'probable_cause, proposed_repair_action, is_service_affecting, timestamp';
const UPSERT_TAIL =
  'ON CONFLICT (uuid) DO UPDATE SET severity = excluded.severity, reason_text = excluded.reason_text, ' +
  'updated_at = excluded.updated_at';

/** SQLite reads the JSON array with json_each; `WHERE true` keeps the upsert unambiguous after a SELECT. */
const SQLITE_WRITES = {
  deleteAlarms: 'DELETE FROM alarms WHERE uuid IN (SELECT value FROM json_each(?))',
  upsertAlarms: `INSERT INTO alarms (${ALARM_COLUMNS}) SELECT ${jsonFields(ALARM_COLUMNS)} FROM json_each(?) WHERE true ${UPSERT_TAIL}`,
  insertEvents: `INSERT INTO event_log (${EVENT_COLUMNS}) SELECT ${jsonFields(EVENT_COLUMNS)} FROM json_each(?)`,
};

/** PostgreSQL turns the JSON array into rows with jsonb_to_recordset. */
const POSTGRES_WRITES = {
  deleteAlarms: 'DELETE FROM alarms WHERE uuid IN (SELECT jsonb_array_elements_text($1::jsonb))',
  upsertAlarms:
    `INSERT INTO alarms (${ALARM_COLUMNS}) SELECT ${ALARM_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS r(` +
    'uuid text, alarm_id text, entity_type_id text, entity_instance_id text, severity text, reason_text text, ' +
    `raised_at text, updated_at text) ${UPSERT_TAIL}`,
  insertEvents:
    `INSERT INTO event_log (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS r(` +
    'seq bigint, uuid text, event_id text, state text, entity_type_id text, entity_instance_id text, ' +
    'severity text, reason_text text, event_type text, probable_cause text, proposed_repair_action text, ' +
    'is_service_affecting integer, timestamp text)',
};

function jsonFields(columns: string): string {
  return columns
    .split(', ')
    .map((column) => `value ->> '$.${column}'`)
    .join(', ');
}

/** The fault domain's tables: alarms, event_log, event_suppression. */
export class FaultStore {
  private readonly db: Kysely<FaultTables>;

  private readonly dialect: Dialect;

  constructor(database: Database) {
    this.db = tablesOf<FaultTables>(database);
    this.dialect = database.dialect;
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

  /**
   * Applies one group of changes in a single transaction. Each table gets one statement whose SQL
   * never changes: the rows travel as one JSON array parameter, so the prepared statement is reused
   * however many rows a group has (a multi-row VALUES list would be new SQL for every group size).
   */
  async write(change: FaultWrite): Promise<void> {
    const statements = this.dialect === 'postgres' ? POSTGRES_WRITES : SQLITE_WRITES;
    const run = (trx: Kysely<FaultTables>, text: string, rows: unknown[]) =>
      trx.executeQuery(CompiledQuery.raw(text, [JSON.stringify(rows)]));
    await this.db.transaction().execute(async (trx) => {
      // Deletes first: a cleared alarm and a new raise of the same key may share a group.
      if (change.deletedUuids.length > 0) await run(trx, statements.deleteAlarms, [...change.deletedUuids]);
      if (change.upserts.length > 0) await run(trx, statements.upsertAlarms, change.upserts.map(toAlarmRow));
      if (change.events.length > 0) await run(trx, statements.insertEvents, change.events.map(toEventRow));
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
