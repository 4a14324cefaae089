import { AppError } from '../core/errors.js';
import type { Alarm, AlarmListItem, AlarmView, CatalogEntry, Severity } from './model.js';
import { alarmKey, meetsThreshold, SEVERITIES, severityRank } from './model.js';

/** An active alarm held in memory with its catalog entry and its cached JSON. */
interface ActiveAlarm {
  alarm: Alarm;
  entry: CatalogEntry;
  /** The list item as JSON (the short form), built on first listing. */
  json: string | undefined;
}

/** Filters of the alarm list; all optional, combined with AND. */
export interface AlarmFilter {
  alarmId?: string | undefined;
  entityType?: string | undefined;
  entityInstancePrefix?: string | undefined;
  severity?: Severity | undefined;
  isMgmtAffecting?: boolean | undefined;
  includeSuppressed?: boolean | undefined;
  /** Include the catalog facts (type, cause, repair action, service affecting) in each item. */
  isExpanded?: boolean | undefined;
}

const BODY_CACHE_SIZE = 16;

/** A page of the alarm list as ready-made JSON. */
interface AlarmPage {
  itemsJson: string[];
  next: string | undefined;
}

/**
 * The active alarms, indexed by key and uuid, kept in memory so that listing, summaries and the
 * raise path never scan the table (StarlingX lists 12,000 alarms; we aim at 1,000,000 per site).
 * The sorted order (most severe first, then newest) is rebuilt lazily after a change.
 */
export class ActiveAlarms {
  private readonly byKey = new Map<string, ActiveAlarm>();
  private readonly byUuid = new Map<string, ActiveAlarm>();
  // Counts per alarm id and severity, kept as alarms change, so a summary is O(catalog), not O(alarms).
  private readonly counts = new Map<string, { entry: CatalogEntry; bySeverity: Record<Severity, number> }>();
  private sorted: ActiveAlarm[] | undefined;
  // Response bodies of recent list requests, valid until the next change (dashboards poll the same page).
  private readonly bodies = new Map<string, Buffer>();

  constructor(private readonly isSuppressed: (alarmId: string) => boolean) {}

  get size(): number {
    return this.byKey.size;
  }

  find(alarmId: string, entityInstanceId: string): Alarm | undefined {
    return this.byKey.get(alarmKey(alarmId, entityInstanceId))?.alarm;
  }

  findByUuid(uuid: string): Alarm | undefined {
    return this.byUuid.get(uuid)?.alarm;
  }

  /** Adds or replaces the alarm of its key. */
  put(alarm: Alarm, entry: CatalogEntry): void {
    const key = alarmKey(alarm.alarmId, alarm.entityInstanceId);
    const previous = this.byKey.get(key);
    if (previous) {
      this.count(previous, -1);
      if (previous.alarm.uuid !== alarm.uuid) this.byUuid.delete(previous.alarm.uuid);
    }
    const active: ActiveAlarm = { alarm, entry, json: undefined };
    this.byKey.set(key, active);
    this.byUuid.set(alarm.uuid, active);
    this.count(active, 1);
    this.changed();
  }

  remove(alarm: Alarm): void {
    const key = alarmKey(alarm.alarmId, alarm.entityInstanceId);
    const active = this.byKey.get(key);
    if (!active) return;
    this.count(active, -1);
    this.byKey.delete(key);
    this.byUuid.delete(active.alarm.uuid);
    this.changed();
  }

  clear(): void {
    this.byKey.clear();
    this.byUuid.clear();
    this.counts.clear();
    this.changed();
  }

  private count(active: ActiveAlarm, delta: 1 | -1): void {
    let counts = this.counts.get(active.entry.id);
    if (!counts) {
      counts = { entry: active.entry, bySeverity: { critical: 0, major: 0, minor: 0, warning: 0 } };
      this.counts.set(active.entry.id, counts);
    }
    counts.bySeverity[active.alarm.severity] += delta;
  }

  /** Forgets cached JSON of one alarm id (its suppression changed). */
  invalidate(alarmId: string): void {
    for (const active of this.byKey.values()) if (active.alarm.alarmId === alarmId) active.json = undefined;
    this.changed();
  }

  private changed(): void {
    this.sorted = undefined;
    this.bodies.clear();
  }

  /** The JSON response body of a list page, reused while nothing changes. */
  pageBody(filter: AlarmFilter, limit: number, cursor: string | undefined): Buffer {
    const key = JSON.stringify([filter, limit, cursor]);
    let body = this.bodies.get(key);
    if (!body) {
      const page = this.page(filter, limit, cursor);
      const next = page.next === undefined ? '' : `,"next":${JSON.stringify(page.next)}`;
      body = Buffer.from(`{"items":[${page.itemsJson.join(',')}]${next}}`);
      if (this.bodies.size >= BODY_CACHE_SIZE) this.bodies.clear();
      this.bodies.set(key, body);
    }
    return body;
  }

  /** Alarms of an entity and its sub-entities: the id equals the prefix or continues it with ".". */
  withEntityPrefix(prefix: string): Alarm[] {
    const out: Alarm[] = [];
    for (const { alarm } of this.byKey.values()) {
      const id = alarm.entityInstanceId;
      if (id === prefix || id.startsWith(`${prefix}.`)) out.push(alarm);
    }
    return out;
  }

  view(uuid: string): AlarmView | undefined {
    const active = this.byUuid.get(uuid);
    return active ? this.toView(active) : undefined;
  }

  toView(active: { alarm: Alarm; entry: CatalogEntry }): AlarmView {
    const { alarm, entry } = active;
    return {
      ...alarm,
      alarmType: entry.alarmType,
      probableCause: entry.probableCause,
      proposedRepairAction: entry.proposedRepairAction,
      isServiceAffecting: entry.isServiceAffecting,
      isSuppressed: entry.isSuppressible && this.isSuppressed(alarm.alarmId),
      isMgmtAffecting: meetsThreshold(alarm.severity, entry.mgmtAffectingSeverity),
      isDegradeAffecting: meetsThreshold(alarm.severity, entry.degradeAffectingSeverity),
    };
  }

  /** The short list form: the alarm and its derived flags, without the catalog's texts. */
  toListItem(active: { alarm: Alarm; entry: CatalogEntry }): AlarmListItem {
    const { alarm, entry } = active;
    return {
      ...alarm,
      isSuppressed: entry.isSuppressible && this.isSuppressed(alarm.alarmId),
      isMgmtAffecting: meetsThreshold(alarm.severity, entry.mgmtAffectingSeverity),
      isDegradeAffecting: meetsThreshold(alarm.severity, entry.degradeAffectingSeverity),
    };
  }

  /** Counts by severity, leaving out suppressed alarms unless asked. */
  countBySeverity(includeSuppressed: boolean): Record<Severity, number> {
    const counts: Record<Severity, number> = { critical: 0, major: 0, minor: 0, warning: 0 };
    for (const { entry, bySeverity } of this.counts.values()) {
      if (!includeSuppressed && entry.isSuppressible && this.isSuppressed(entry.id)) continue;
      for (const severity of SEVERITIES) counts[severity] += bySeverity[severity];
    }
    return counts;
  }

  /** Active alarms per alarm id (for metrics). */
  countById(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [alarmId, { bySeverity }] of this.counts) {
      const total = SEVERITIES.reduce((sum, severity) => sum + bySeverity[severity], 0);
      if (total > 0) counts.set(alarmId, total);
    }
    return counts;
  }

  /** One page in list order, resuming after the cursor. */
  private page(filter: AlarmFilter, limit: number, cursor: string | undefined): AlarmPage {
    const sorted = this.sortedAlarms();
    let index = 0;
    if (cursor !== undefined) {
      const after = decodeCursor(cursor);
      index = firstAfter(sorted, after);
    }
    const itemsJson: string[] = [];
    let last: ActiveAlarm | undefined;
    for (; index < sorted.length && itemsJson.length < limit; index++) {
      const active = sorted[index] as ActiveAlarm;
      if (!this.matches(active, filter)) continue;
      if (filter.isExpanded) {
        itemsJson.push(JSON.stringify(this.toView(active)));
      } else {
        active.json ??= JSON.stringify(this.toListItem(active));
        itemsJson.push(active.json);
      }
      last = active;
    }
    let hasMore = false;
    for (let rest = index; last !== undefined && rest < sorted.length && !hasMore; rest++) {
      hasMore = this.matches(sorted[rest] as ActiveAlarm, filter);
    }
    return { itemsJson, next: hasMore && last ? encodeCursor(last.alarm) : undefined };
  }

  private matches(active: ActiveAlarm, filter: AlarmFilter): boolean {
    const { alarm } = active;
    if (filter.alarmId !== undefined && alarm.alarmId !== filter.alarmId) return false;
    if (filter.entityType !== undefined && alarm.entityTypeId !== filter.entityType) return false;
    if (
      filter.entityInstancePrefix !== undefined &&
      !alarm.entityInstanceId.startsWith(filter.entityInstancePrefix)
    ) {
      return false;
    }
    if (filter.severity !== undefined && alarm.severity !== filter.severity) return false;
    if (filter.isMgmtAffecting !== undefined) {
      if (meetsThreshold(alarm.severity, active.entry.mgmtAffectingSeverity) !== filter.isMgmtAffecting)
        return false;
    }
    if (!filter.includeSuppressed && this.isActiveSuppressed(active)) return false;
    return true;
  }

  private isActiveSuppressed(active: ActiveAlarm): boolean {
    return active.entry.isSuppressible && this.isSuppressed(active.alarm.alarmId);
  }

  private sortedAlarms(): ActiveAlarm[] {
    this.sorted ??= [...this.byKey.values()].sort((a, b) => compare(a.alarm, b.alarm));
    return this.sorted;
  }
}

type SortKey = { rank: number; timestamp: string; uuid: string };

function sortKey(alarm: Alarm): SortKey {
  return { rank: severityRank(alarm.severity), timestamp: alarm.timestamp, uuid: alarm.uuid };
}

/** Most severe first, then newest first, then by uuid so the order is total. */
function compareKeys(a: SortKey, b: SortKey): number {
  if (a.rank !== b.rank) return a.rank - b.rank;
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? 1 : -1;
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}

function compare(a: Alarm, b: Alarm): number {
  return compareKeys(sortKey(a), sortKey(b));
}

function firstAfter(sorted: readonly ActiveAlarm[], after: SortKey): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareKeys(sortKey((sorted[middle] as ActiveAlarm).alarm), after) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

function encodeCursor(alarm: Alarm): string {
  const key = sortKey(alarm);
  return Buffer.from(JSON.stringify([key.rank, key.timestamp, key.uuid])).toString('base64url');
}

function decodeCursor(cursor: string): SortKey {
  try {
    const [rank, timestamp, uuid] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (typeof rank === 'number' && typeof timestamp === 'string' && typeof uuid === 'string') {
      return { rank, timestamp, uuid };
    }
  } catch {
    // fall through to the error below
  }
  throw new AppError('invalid_input', 'query parameter "next" is not a cursor this server gave out', {
    field: 'next',
  });
}
