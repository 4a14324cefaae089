import { type Command, Option } from 'commander';
import { EVENT_STATES, type EventRecord, type EventState } from '../fault/model.js';
import { addPageOptions, type PageFlags, readPages, reportMore } from './alarm-commands.js';
import { parseTime } from './option-parsers.js';
import { type Column, printItem, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

/** An event-log record as the API shows it: the record plus the catalog facts of its time. */
interface EventView extends EventRecord {
  eventType: string;
  probableCause: string;
  proposedRepairAction: string;
  isServiceAffecting: boolean;
}

interface ListFlags extends PageFlags {
  since?: string;
  until?: string;
  eventId?: string;
  entity?: string;
  state?: EventState;
}

const EVENT_COLUMNS: readonly Column<EventView>[] = [
  { header: 'UUID', value: (event) => event.uuid },
  { header: 'TIME', value: (event) => event.timestamp },
  { header: 'STATE', value: (event) => event.state },
  { header: 'EVENT ID', value: (event) => event.eventId },
  { header: 'SEVERITY', value: (event) => event.severity },
  { header: 'ENTITY', value: (event) => event.entityInstanceId },
  { header: 'REASON', value: (event) => event.reasonText },
];

const EVENT_FIELDS: readonly Column<EventView>[] = [
  { header: 'UUID', value: (event) => event.uuid },
  { header: 'SEQ', value: (event) => event.seq },
  { header: 'TIME', value: (event) => event.timestamp },
  { header: 'STATE', value: (event) => event.state },
  { header: 'EVENT ID', value: (event) => event.eventId },
  { header: 'SEVERITY', value: (event) => event.severity },
  { header: 'ENTITY TYPE', value: (event) => event.entityTypeId },
  { header: 'ENTITY', value: (event) => event.entityInstanceId },
  { header: 'REASON', value: (event) => event.reasonText },
  { header: 'EVENT TYPE', value: (event) => event.eventType },
  { header: 'PROBABLE CAUSE', value: (event) => event.probableCause },
  { header: 'REPAIR ACTION', value: (event) => event.proposedRepairAction },
  { header: 'SERVICE AFFECTING', value: (event) => event.isServiceAffecting },
];

/** `murm event list` and `murm event show`: the fault event log (alarm sets and clears, and logs). */
export function addEventCommands(program: Command): void {
  const event = program
    .command('event')
    .description('read the event log: every alarm set and clear, and log-only events')
    .addHelpText('after', '\nExamples:\n  murm event list --since 24h\n  murm event show 7c1d…');

  addPageOptions(
    event
      .command('list')
      .description('list event-log records, newest first')
      .option(
        '--since <time>',
        'from this time on: ISO 8601 (2025-01-31T12:00:00Z) or an age like 30m, 2h, 7d',
        parseTime,
      )
      .option('--until <time>', 'before this time: ISO 8601 or an age like 30m, 2h, 7d', parseTime)
      .option('--event-id <id>', 'only this event (alarm or log) id, like 100.101')
      .option('--entity <prefix>', 'only entity instance ids that start with this, like host=controller-0')
      .addOption(new Option('--state <state>', 'only alarm sets, clears or logs').choices(EVENT_STATES)),
  )
    .addHelpText(
      'after',
      `
Examples:
  murm event list
  murm event list --since 24h --entity host=controller-0
  murm event list --event-id 100.101 --state clear -o json
  murm event list --since 2025-01-31T00:00:00Z --until 2025-02-01T00:00:00Z --all -o yaml`,
    )
    .action(async (flags: ListFlags, command: Command) => {
      const query = {
        since: flags.since,
        until: flags.until,
        eventId: flags.eventId,
        entityInstance: flags.entity,
        state: flags.state,
        limit: flags.limit,
      };
      const { items, next } = await withApi(command, (api) =>
        readPages(flags, (cursor) =>
          api.get<{ items: EventView[]; next?: string }>('/v1/events', { ...query, next: cursor }),
        ),
      );
      await printList(globalOptions(command).output, items, EVENT_COLUMNS);
      reportMore(next, 'events');
    });

  event
    .command('show')
    .description('show one event-log record')
    .argument('<uuid>', 'event uuid, as "murm event list" shows it')
    .addHelpText('after', '\nExamples:\n  murm event show 7c1d…\n  murm event show 7c1d… -o json')
    .action(async (uuid: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) =>
        api.get<EventView>(`/v1/events/${encodeURIComponent(uuid)}`),
      );
      await printItem(globalOptions(command).output, found, EVENT_FIELDS);
    });
}
