import { CompiledQuery, type Kysely } from 'kysely';
import { type Database, type Dialect, tablesOf } from '../core/db/database.js';

interface AuditLogTable {
  seq: number;
  at: string;
  event: string;
  username: string | null;
  roles: string;
  source: string;
  method: string;
  path: string;
  target: string;
  status: number;
  request_id: string;
  detail: string | null;
  prev_hash: string;
  hash: string;
}

const COLUMNS =
  'seq, at, event, username, roles, source, method, path, target, status, request_id, detail, prev_hash, hash';
const SQLITE_INSERT = `INSERT INTO audit_log (${COLUMNS}) SELECT ${COLUMNS.split(', ')
  .map((column) => `value ->> '$.${column}'`)
  .join(', ')} FROM json_each(?)`;
const POSTGRES_INSERT =
  `INSERT INTO audit_log (${COLUMNS}) SELECT ${COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, ` +
  'at text, event text, username text, roles text, source text, method text, path text, target text, ' +
  'status integer, request_id text, detail text, prev_hash text, hash text)';

/** One stored audit record (column names as in the table, camelCased). */
export interface AuditRecord {
  seq: number;
  at: string;
  event: string;
  username: string | null;
  roles: string;
  source: string;
  method: string;
  path: string;
  target: string;
  status: number;
  requestId: string;
  detail: string | null;
  prevHash: string;
  hash: string;
}

/** Filters of the audit list; every one is optional. */
export interface AuditFilter {
  username?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  outcome?: 'success' | 'failure' | undefined;
  beforeSeq?: number | undefined;
}

/** The append-only `audit_log` table. */
export class AuditStore {
  private readonly db: Kysely<{ audit_log: AuditLogTable }>;

  private readonly dialect: Dialect;

  constructor(database: Database) {
    this.db = tablesOf<{ audit_log: AuditLogTable }>(database);
    this.dialect = database.dialect;
  }

  async findLast(): Promise<AuditRecord | undefined> {
    const row = await this.db
      .selectFrom('audit_log')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /** Inserts records with one statement whose SQL does not depend on how many there are. */
  async appendMany(records: readonly AuditRecord[]): Promise<void> {
    const text = this.dialect === 'postgres' ? POSTGRES_INSERT : SQLITE_INSERT;
    await this.db.executeQuery(CompiledQuery.raw(text, [JSON.stringify(records.map(fromRecord))]));
  }

  /** Newest first. */
  async list(filter: AuditFilter, limit: number): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit_log').selectAll();
    if (filter.username !== undefined) query = query.where('username', '=', filter.username);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    if (filter.outcome === 'success') query = query.where('status', '<', 400);
    if (filter.outcome === 'failure') query = query.where('status', '>=', 400);
    if (filter.beforeSeq !== undefined) query = query.where('seq', '<', filter.beforeSeq);
    const rows = await query.orderBy('seq', 'desc').limit(limit).execute();
    return rows.map(toRecord);
  }

  /** Oldest first, from `afterSeq` on; used to walk the chain in batches. */
  async listFrom(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }
}

function toRecord(row: AuditLogTable): AuditRecord {
  return {
    seq: Number(row.seq),
    at: row.at,
    event: row.event,
    username: row.username,
    roles: row.roles,
    source: row.source,
    method: row.method,
    path: row.path,
    target: row.target,
    status: row.status,
    requestId: row.request_id,
    detail: row.detail,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function fromRecord(record: AuditRecord): AuditLogTable {
  return {
    seq: record.seq,
    at: record.at,
    event: record.event,
    username: record.username,
    roles: record.roles,
    source: record.source,
    method: record.method,
    path: record.path,
    target: record.target,
    status: record.status,
    request_id: record.requestId,
    detail: record.detail,
    prev_hash: record.prevHash,
    hash: record.hash,
  };
}
