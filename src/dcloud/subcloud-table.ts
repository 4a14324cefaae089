import type { Clock } from '../core/clock.js';
import { GroupCommit } from '../core/db/group-commit.js';
import { invalidInput, notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { checkSubcloudName, overallSyncStatus } from './model.js';
import type { DcStore, EnrollmentRecord, SubcloudRecord } from './store.js';
import { type SubcloudView, toView } from './views.js';

export interface SubcloudFilter {
  availability?: string | undefined;
  management?: string | undefined;
  syncStatus?: string | undefined;
  group?: string | undefined;
}

/**
 * Every subcloud in memory (the source of truth while the controller runs) with batched writes:
 * changed rows are collected and written by one multi-row upsert per event-loop turn, so 1,000
 * subclouds going offline at once cost one statement, not 1,000.
 */
export class SubcloudTable {
  private readonly subclouds = new Map<string, SubcloudRecord>();
  private sortedNames: string[] | undefined;
  private readonly dirty = new Set<string>();
  private readonly deleted = new Set<string>();
  private readonly writes = new GroupCommit<string>(() => this.flush());

  constructor(
    private readonly store: DcStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async load(): Promise<SubcloudRecord[]> {
    const records = await this.store.listSubclouds();
    for (const record of records) this.subclouds.set(record.name, record);
    this.sortedNames = undefined;
    return records;
  }

  has(name: string): boolean {
    return this.subclouds.has(name);
  }

  find(name: string): SubcloudRecord | undefined {
    return this.subclouds.get(name);
  }

  /** Throws `not_found`. */
  get(name: string): SubcloudRecord {
    const subcloud = this.subclouds.get(name);
    if (!subcloud) throw notFound('subcloud', name);
    return subcloud;
  }

  /** Inserts new subclouds with their join tokens (one transaction), then keeps them in memory. */
  async insert(records: readonly SubcloudRecord[], enrollments: readonly EnrollmentRecord[]): Promise<void> {
    await this.store.insertSubclouds(records, enrollments);
    for (const record of records) this.subclouds.set(record.name, record);
    this.sortedNames = undefined;
  }

  /** Replaces the record in memory (stamping updatedAt); call persist() to write it. */
  put(next: SubcloudRecord): SubcloudRecord {
    const record = { ...next, updatedAt: this.clock.now().toISOString() };
    this.subclouds.set(record.name, record);
    return record;
  }

  /** Queues the row for the next group write; resolves when it is written. */
  persist(name: string): Promise<void> {
    this.dirty.add(name);
    return this.writes.add(name);
  }

  /** persist() for hot paths: a failed write is logged and retried with the next group. */
  persistQuietly(name: string): void {
    this.persist(name).catch((error: unknown) => {
      this.logger.error({ subcloud: name, err: error }, 'could not write subcloud state');
    });
  }

  /** Forgets the subcloud and deletes its row and join token. */
  async remove(name: string): Promise<void> {
    this.subclouds.delete(name);
    this.sortedNames = undefined;
    this.dirty.delete(name);
    this.deleted.add(name);
    await this.writes.add(name);
  }

  /** All subclouds sorted by name. */
  sorted(): SubcloudRecord[] {
    return this.names().map((name) => this.subclouds.get(name) as SubcloudRecord);
  }

  /** A page sorted by name: O(page) unfiltered; filtered, one cheap pass to count. */
  page(
    filter: SubcloudFilter,
    page: { limit: number; next?: string | undefined },
  ): { items: SubcloudView[]; next?: string; total: number } {
    const names = this.names();
    let start = 0;
    if (page.next !== undefined) {
      const after = decodeCursor(page.next);
      start = lowerBound(names, after);
      if (names[start] === after) start += 1;
    }
    const limit = Math.max(1, Math.floor(page.limit));
    const isPlain = Object.values(filter).every((value) => value === undefined);
    const items: SubcloudView[] = [];
    let total = 0;
    let hasMore = false;
    for (let index = isPlain ? start : 0; index < names.length; index += 1) {
      const subcloud = this.subclouds.get(names[index] as string) as SubcloudRecord;
      if (!isPlain && !matches(subcloud, filter)) continue;
      total += 1;
      if (index < start) continue;
      if (items.length < limit) {
        items.push(toView(subcloud));
      } else {
        hasMore = true;
        if (isPlain) break;
      }
    }
    if (isPlain) total = names.length;
    const last = items.at(-1)?.name;
    return hasMore && last !== undefined ? { items, next: encodeCursor(last), total } : { items, total };
  }

  memberCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { group } of this.subclouds.values()) counts.set(group, (counts.get(group) ?? 0) + 1);
    return counts;
  }

  /** Resolves once every queued write is done. */
  async settled(): Promise<void> {
    do await this.writes.settled();
    while (this.dirty.size > 0 || this.deleted.size > 0);
  }

  private names(): string[] {
    this.sortedNames ??= [...this.subclouds.keys()].sort();
    return this.sortedNames;
  }

  /** Writes whatever is dirty now (later additions to this group are covered too: rows are read at write time). */
  private async flush(): Promise<void> {
    const deletes = [...this.deleted];
    const saves: SubcloudRecord[] = [];
    for (const name of this.dirty) {
      const subcloud = this.subclouds.get(name);
      if (subcloud) saves.push(subcloud);
    }
    this.deleted.clear();
    this.dirty.clear();
    try {
      await this.store.writeSubclouds({ deletes, saves });
    } catch (error) {
      for (const name of deletes) if (!this.subclouds.has(name)) this.deleted.add(name);
      for (const { name } of saves) if (this.subclouds.has(name)) this.dirty.add(name);
      throw error;
    }
  }
}

function matches(subcloud: SubcloudRecord, filter: SubcloudFilter): boolean {
  if (filter.availability !== undefined && subcloud.availability !== filter.availability) return false;
  if (filter.management !== undefined && subcloud.management !== filter.management) return false;
  if (filter.group !== undefined && subcloud.group !== filter.group) return false;
  if (filter.syncStatus === undefined) return true;
  return overallSyncStatus(subcloud.availability, subcloud.endpoints) === filter.syncStatus;
}

function lowerBound(names: readonly string[], target: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((names[middle] as string) < target) low = middle + 1;
    else high = middle;
  }
  return low;
}

function encodeCursor(name: string): string {
  return Buffer.from(name).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const name = Buffer.from(cursor, 'base64url').toString();
  if (checkSubcloudName(name)) {
    throw invalidInput('next', 'the page cursor is not valid; start again from the first page');
  }
  return name;
}
