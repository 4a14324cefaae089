import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { GroupCommit } from '../core/db/group-commit.js';
import type { RequestRecord } from '../core/http/access.js';
import type { AuditFilter, AuditRecord, AuditStore } from './audit-store.js';

const GENESIS = '0'.repeat(64);
const VERIFY_BATCH = 1000;

/** The result of recomputing the hash chain. */
export interface AuditVerification {
  isIntact: boolean;
  checked: number;
  firstBroken: { seq: number; reason: string } | null;
}

/** Hash of a record's content chained to the previous record's hash. */
function auditHash(record: Omit<AuditRecord, 'hash'>): string {
  const content = [
    record.seq,
    record.at,
    record.event,
    record.username,
    record.roles,
    record.source,
    record.method,
    record.path,
    record.target,
    record.status,
    record.requestId,
    record.detail,
  ];
  return createHash('sha256')
    .update(record.prevHash)
    .update('\n')
    .update(JSON.stringify(content))
    .digest('hex');
}

/**
 * The security audit log: an append-only table plus a JSON-lines file, each record carrying the hash of
 * the one before. Records are chained in arrival order as they come, and written in groups: every record
 * that arrives while a write is under way goes into the next single insert and single file append, so a
 * burst of requests costs one round trip, not one each. `record` resolves once its record is stored.
 */
export class AuditLog {
  private last: { seq: number; hash: string } | undefined;
  private loading: Promise<AuditRecord | undefined> | undefined;
  private file: fs.promises.FileHandle | undefined;
  private readonly commits = new GroupCommit<AuditRecord>((records) => this.writeRecords(records));

  constructor(
    private readonly store: AuditStore,
    private readonly clock: Clock,
    private readonly filePath: string,
  ) {}

  /** Appends one record; resolves when it is in the table and the file. */
  async record(entry: RequestRecord): Promise<void> {
    if (!this.last) {
      // Concurrent first calls share one load; only the first to resume may set the chain head.
      this.loading ??= this.store.findLast();
      const stored = await this.loading;
      this.last ??= stored ?? { seq: 0, hash: GENESIS };
    }
    const unsigned: Omit<AuditRecord, 'hash'> = {
      seq: this.last.seq + 1,
      at: this.clock.now().toISOString(),
      event: entry.event,
      username: entry.username ?? null,
      roles: entry.roles.join(','),
      source: entry.source,
      method: entry.method,
      path: entry.path,
      target: entry.target,
      status: entry.status,
      requestId: entry.requestId,
      detail: entry.detail ?? null,
      prevHash: this.last.hash,
    };
    const record: AuditRecord = { ...unsigned, hash: auditHash(unsigned) };
    this.last = { seq: record.seq, hash: record.hash };
    return this.commits.add(record);
  }

  private async writeRecords(records: AuditRecord[]): Promise<void> {
    try {
      await this.store.appendMany(records);
    } catch (error) {
      // The chain in memory ran ahead of the table; start again from what is stored.
      this.last = undefined;
      this.loading = undefined;
      throw error;
    }
    if (!this.file) {
      await fs.promises.mkdir(path.dirname(this.filePath), { recursive: true, mode: 0o700 });
      this.file = await fs.promises.open(this.filePath, 'a', 0o600);
    }
    await this.file.appendFile(records.map((record) => `${JSON.stringify(record)}\n`).join(''));
  }

  /** Waits for pending records and closes the file. */
  async close(): Promise<void> {
    await this.commits.settled();
    await this.file?.close();
    this.file = undefined;
  }

  /** Newest first, paged by `beforeSeq`. */
  list(filter: AuditFilter, limit: number): Promise<AuditRecord[]> {
    return this.store.list(filter, limit);
  }

  /** Walks the whole chain and names the first record whose hash or link does not hold. */
  async verify(): Promise<AuditVerification> {
    let previous = { seq: 0, hash: GENESIS };
    let checked = 0;
    for (;;) {
      const batch = await this.store.listFrom(previous.seq, VERIFY_BATCH);
      for (const record of batch) {
        const broken = checkLink(previous, record);
        if (broken) return { isIntact: false, checked, firstBroken: broken };
        checked += 1;
        previous = { seq: record.seq, hash: record.hash };
      }
      if (batch.length < VERIFY_BATCH) return { isIntact: true, checked, firstBroken: null };
    }
  }
}

function checkLink(
  previous: { seq: number; hash: string },
  record: AuditRecord,
): { seq: number; reason: string } | null {
  if (record.seq !== previous.seq + 1) {
    return { seq: previous.seq + 1, reason: `the record is missing (the next one stored is ${record.seq})` };
  }
  if (record.prevHash !== previous.hash) {
    return { seq: record.seq, reason: 'its previous-hash does not match the record before it' };
  }
  if (auditHash(record) !== record.hash) {
    return { seq: record.seq, reason: 'its content does not match its hash (edited after it was written)' };
  }
  return null;
}
