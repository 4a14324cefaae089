import type { ActiveAlarms } from './active-alarms.js';
import type { Alarm, AlarmChange, AlarmView, CatalogEntry } from './model.js';
import type { FaultWrite, StoredEvent } from './store.js';

/** A change waiting for its commit; its view is built only if someone listens. */
export interface PendingChange {
  kind: AlarmChange['kind'];
  event: StoredEvent;
  alarm: Alarm;
  entry: CatalogEntry;
}

/** What one call (a raise, a clear, a batch) changed, waiting for the group commit. */
export interface Mutation {
  deletedUuids: string[];
  upserts: Alarm[];
  events: StoredEvent[];
  changes: PendingChange[];
}

/** A mutation with nothing in it yet. */
export function emptyMutation(): Mutation {
  return { deletedUuids: [], upserts: [], events: [], changes: [] };
}

/** One write for a group: an alarm changed several times in the group is written once, in its last state. */
export function mergeMutations(group: readonly Mutation[]): FaultWrite {
  const upserts = new Map<string, Alarm>();
  const deletedUuids: string[] = [];
  const events: StoredEvent[] = [];
  for (const mutation of group) {
    for (const uuid of mutation.deletedUuids) {
      upserts.delete(uuid);
      deletedUuids.push(uuid);
    }
    for (const alarm of mutation.upserts) upserts.set(alarm.uuid, alarm);
    events.push(...mutation.events);
  }
  return { deletedUuids, upserts: [...upserts.values()], events };
}

/** The published form of a change; the alarm view is built on first read (most listeners filter first). */
export function toAlarmChange(pending: PendingChange, active: ActiveAlarms): AlarmChange {
  let view: AlarmView | undefined;
  return {
    kind: pending.kind,
    eventSeq: pending.event.seq,
    eventUuid: pending.event.uuid,
    get alarm() {
      view ??= active.toView(pending);
      return view;
    },
  };
}
