import fs from 'node:fs';
import path from 'node:path';
import type { Database as BetterSqliteDatabase } from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';

/** Which SQL engine is behind a Database; migrations and a few queries differ by it. */
export type Dialect = 'sqlite' | 'postgres';

// Each domain declares its own table types; the shared handle is untyped and narrowed per domain.
// biome-ignore lint/suspicious/noExplicitAny: the one place where the schema is left open.
type AnyTables = any;

/** An open database: the Kysely handle, its dialect, and how to close it. */
export interface Database {
  readonly db: Kysely<AnyTables>;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

/** Narrows the shared handle to one domain's tables (a domain only ever sees its own). */
export function tablesOf<T>(database: Database): Kysely<T> {
  return database.db as Kysely<T>;
}

/** Opens `sqlite:<file>` (WAL, created if missing) or a `postgres://` URL. */
export async function openDatabase(url: string): Promise<Database> {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  return openPostgres(url);
}

async function openSqlite(file: string): Promise<Database> {
  const { default: BetterSqlite } = await import('better-sqlite3');
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new BetterSqlite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<AnyTables>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares a statement for every query, and preparing costs more than running a small one;
 * reuse prepared statements by their SQL text. Kysely runs each statement to completion before the
 * next, so sharing one is safe. The cache is bounded (queries with IN lists vary their text).
 */
function withStatementCache(sqlite: BetterSqliteDatabase) {
  const statements = new Map<string, ReturnType<BetterSqliteDatabase['prepare']>>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (!statement) {
        statement = sqlite.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

async function openPostgres(url: string): Promise<Database> {
  // Loaded only when asked for, so a SQLite site does not pay for it at start-up.
  const [{ default: pg }, { PostgresDialect }] = await Promise.all([import('pg'), import('kysely')]);
  // Our timestamps are text and counters fit in a double; read int8 as a number, not a string.
  pg.types.setTypeParser(20, (value: string) => Number(value));
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle connection that dies (server restart, network drop) emits 'error' on the pool; without a
  // listener Node treats it as uncaught and the process exits. The pool replaces the connection.
  pool.on('error', (error) => process.emitWarning(`PostgreSQL connection lost: ${error.message}`));
  const db = new Kysely<AnyTables>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}
