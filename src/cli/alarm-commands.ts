import { type Command, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { type AlarmSummary, type AlarmView, SEVERITIES, type Severity } from '../fault/model.js';
import { addWatchCommand } from './alarm-watch-command.js';
import { parseLimit } from './option-parsers.js';
import { type Column, type OutputFormat, printData, printItem, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

interface Page<T> {
  items: T[];
  next?: string;
}

/** What `POST /v1/alarms` did: an alarm raised or updated, or (for a log id) an event-log record written. */
type Raised = { change: 'raised' | 'updated'; alarm: AlarmView } | { change: 'logged'; eventUuid: string };

interface BatchResult {
  raised: number;
  updated: number;
  cleared: number;
  notActive: number;
}

interface Suppression {
  alarmId: string;
  description: string;
  isSuppressed: boolean;
}

/** The paging flags of list commands: `--limit`, `--all`, `--next`. */
export interface PageFlags {
  limit?: number;
  all?: true;
  next?: string;
}

interface ListFlags extends PageFlags {
  alarmId?: string;
  entityType?: string;
  entity?: string;
  severity?: Severity;
  mgmtAffecting?: true;
  includeSuppressed?: true;
}

const ALARM_COLUMNS: readonly Column<AlarmView>[] = [
  { header: 'UUID', value: (alarm) => alarm.uuid },
  { header: 'ALARM ID', value: (alarm) => alarm.alarmId },
  { header: 'SEVERITY', value: (alarm) => alarm.severity },
  { header: 'ENTITY', value: (alarm) => alarm.entityInstanceId },
  { header: 'REASON', value: (alarm) => alarm.reasonText },
  { header: 'TIME', value: (alarm) => alarm.timestamp },
];

const ALARM_FIELDS: readonly Column<AlarmView>[] = [
  { header: 'UUID', value: (alarm) => alarm.uuid },
  { header: 'ALARM ID', value: (alarm) => alarm.alarmId },
  { header: 'SEVERITY', value: (alarm) => alarm.severity },
  { header: 'ENTITY TYPE', value: (alarm) => alarm.entityTypeId },
  { header: 'ENTITY', value: (alarm) => alarm.entityInstanceId },
  { header: 'REASON', value: (alarm) => alarm.reasonText },
  { header: 'ALARM TYPE', value: (alarm) => alarm.alarmType },
  { header: 'PROBABLE CAUSE', value: (alarm) => alarm.probableCause },
  { header: 'REPAIR ACTION', value: (alarm) => alarm.proposedRepairAction },
  { header: 'SERVICE AFFECTING', value: (alarm) => alarm.isServiceAffecting },
  { header: 'MGMT AFFECTING', value: (alarm) => alarm.isMgmtAffecting },
  { header: 'DEGRADE AFFECTING', value: (alarm) => alarm.isDegradeAffecting },
  { header: 'SUPPRESSED', value: (alarm) => alarm.isSuppressed },
  { header: 'RAISED', value: (alarm) => alarm.raisedAt },
  { header: 'UPDATED', value: (alarm) => alarm.timestamp },
];

const SUMMARY_COLUMNS: readonly Column<AlarmSummary>[] = [
  { header: 'CRITICAL', value: (summary) => summary.critical },
  { header: 'MAJOR', value: (summary) => summary.major },
  { header: 'MINOR', value: (summary) => summary.minor },
  { header: 'WARNING', value: (summary) => summary.warning },
  { header: 'STATUS', value: (summary) => summary.status },
];

const SUPPRESSION_COLUMNS: readonly Column<Suppression>[] = [
  { header: 'ALARM ID', value: (item) => item.alarmId },
  { header: 'SUPPRESSED', value: (item) => item.isSuppressed },
  { header: 'DESCRIPTION', value: (item) => item.description },
];

/** `murm alarm …`: active alarms, raising and clearing them, suppression, and a live view. */
export function addAlarmCommands(program: Command): void {
  const alarm = program
    .command('alarm')
    .description('list, raise, clear, suppress and watch active alarms')
    .addHelpText(
      'after',
      `
Examples:
  murm alarm list --severity critical
  murm alarm summary
  murm alarm clear --alarm-id 100.101 --entity host=controller-0
  murm alarm suppress 100.101,100.103
  murm alarm watch`,
    );

  addPageOptions(
    alarm
      .command('list')
      .description('list active alarms, most severe first, then newest')
      .option('--alarm-id <id>', 'only this alarm id, like 100.101')
      .option('--entity-type <type>', 'only alarms on this type of entity, like host')
      .option('--entity <prefix>', 'only entity instance ids that start with this, like host=controller-0')
      .addOption(new Option('--severity <severity>', 'only alarms of this severity').choices(SEVERITIES))
      .option('--mgmt-affecting', 'only alarms that hold back management actions (lock, unlock, upgrade)')
      .option('--include-suppressed', 'also alarms whose alarm id is suppressed'),
  )
    .addHelpText(
      'after',
      `
Examples:
  murm alarm list
  murm alarm list --severity major --entity host=controller-0
  murm alarm list --alarm-id 100.101 --include-suppressed -o json
  murm alarm list --mgmt-affecting --all -o yaml`,
    )
    .action(async (flags: ListFlags, command: Command) => {
      const query = {
        alarmId: flags.alarmId,
        entityType: flags.entityType,
        entityInstance: flags.entity,
        severity: flags.severity,
        isMgmtAffecting: flags.mgmtAffecting ? 'true' : undefined,
        includeSuppressed: flags.includeSuppressed ? 'true' : undefined,
        limit: flags.limit,
      };
      const { items, next } = await withApi(command, (api) =>
        readPages(flags, (cursor) => api.get<Page<AlarmView>>('/v1/alarms', { ...query, next: cursor })),
      );
      await printList(globalOptions(command).output, items, ALARM_COLUMNS);
      reportMore(next, 'alarms');
    });

  alarm
    .command('show')
    .description('show one active alarm with its catalog facts')
    .argument('<uuid>', 'alarm uuid, as "murm alarm list" shows it')
    .addHelpText('after', '\nExamples:\n  murm alarm show 3f2b9c1e-…\n  murm alarm show 3f2b9c1e-… -o json')
    .action(async (uuid: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) => api.get<AlarmView>(alarmPath(uuid)));
      await printItem(globalOptions(command).output, found, ALARM_FIELDS);
    });

  alarm
    .command('summary')
    .description('count active alarms by severity; status is critical, degraded or OK')
    .option('--include-suppressed', 'also count alarms whose alarm id is suppressed')
    .addHelpText(
      'after',
      '\nExamples:\n  murm alarm summary\n  murm alarm summary --include-suppressed -o json',
    )
    .action(async (flags: { includeSuppressed?: true }, command: Command) => {
      const query = { includeSuppressed: flags.includeSuppressed ? 'true' : undefined };
      const summary = await withApi(command, (api) => api.get<AlarmSummary>('/v1/alarms/summary', query));
      const format = globalOptions(command).output;
      if (format === 'table') await printList(format, [summary], SUMMARY_COLUMNS);
      else await printData(format, summary);
    });

  alarm
    .command('raise')
    .description(
      'raise an alarm, or update the active one with the same id and entity; log ids go to the event log',
    )
    .requiredOption('--alarm-id <id>', 'alarm id from the catalog, like 100.101')
    .requiredOption('--entity <id>', 'entity instance id, like host=controller-0')
    .requiredOption('--severity <severity>', `one the catalog allows for the id: ${SEVERITIES.join(', ')}`)
    .requiredOption('--reason <text>', 'reason text operators will read')
    .addHelpText(
      'after',
      `
Examples:
  murm alarm raise --alarm-id 100.101 --entity host=controller-0 --severity major \\
      --reason "Platform CPU threshold exceeded; threshold 90%, actual 93%"`,
    )
    .action(
      async (
        flags: { alarmId: string; entity: string; severity: string; reason: string },
        command: Command,
      ) => {
        const body = {
          alarmId: flags.alarmId,
          entityInstanceId: flags.entity,
          severity: flags.severity,
          reasonText: flags.reason,
        };
        const result = await withApi(command, (api) => api.post<Raised>('/v1/alarms', body));
        const line =
          result.change === 'logged'
            ? `logged event ${body.alarmId} on ${body.entityInstanceId}, uuid ${result.eventUuid}`
            : `${result.change} alarm ${body.alarmId} on ${body.entityInstanceId} (${result.alarm.severity}), uuid ${result.alarm.uuid}`;
        await report(globalOptions(command).output, result, line);
      },
    );

  alarm
    .command('clear')
    .description('clear an active alarm, by uuid or by alarm id and entity instance id')
    .argument('[uuid]', 'alarm uuid, as "murm alarm list" shows it')
    .option('--alarm-id <id>', 'alarm id, like 100.101 (with --entity, instead of a uuid)')
    .option('--entity <id>', 'the exact entity instance id, like host=controller-0')
    .addHelpText(
      'after',
      '\nExamples:\n  murm alarm clear 3f2b9c1e-…\n  murm alarm clear --alarm-id 100.101 --entity host=controller-0',
    )
    .action(
      async (uuid: string | undefined, flags: { alarmId?: string; entity?: string }, command: Command) => {
        const format = globalOptions(command).output;
        if (uuid !== undefined) {
          if (flags.alarmId !== undefined || flags.entity !== undefined)
            throw new AppError('invalid_input', 'give either a uuid or --alarm-id with --entity, not both');
          await withApi(command, (api) => api.delete(alarmPath(uuid)));
          await report(format, { cleared: 1, notActive: 0 }, `cleared alarm ${uuid}`);
          return;
        }
        if (flags.alarmId === undefined || flags.entity === undefined)
          throw new AppError('invalid_input', 'give the uuid of the alarm, or both --alarm-id and --entity');
        const target = { alarmId: flags.alarmId, entityInstanceId: flags.entity };
        const result = await withApi(command, (api) =>
          api.post<BatchResult>('/v1/alarms:batch', { clear: [target] }),
        );
        const what = `alarm ${target.alarmId} on ${target.entityInstanceId}`;
        const line = result.cleared > 0 ? `cleared ${what}` : `${what} was not active; nothing to clear`;
        await report(format, { cleared: result.cleared, notActive: result.notActive }, line);
      },
    );

  addSuppressionCommands(alarm);
  addWatchCommand(alarm);
}

function addSuppressionCommands(alarm: Command): void {
  for (const isSuppressed of [true, false]) {
    const name = isSuppressed ? 'suppress' : 'unsuppress';
    alarm
      .command(name)
      .description(
        isSuppressed
          ? 'suppress alarm ids: their alarms stay active but leave lists and the summary'
          : 'show the alarms of suppressed alarm ids again',
      )
      .argument('<ids...>', 'alarm ids, separated by commas or spaces')
      .addHelpText('after', `\nExamples:\n  murm alarm ${name} 100.101\n  murm alarm ${name} 100.101,100.103`)
      .action(async (ids: string[], _flags: unknown, command: Command) => {
        const format = globalOptions(command).output;
        const changed = await withApi(command, async (api) => {
          const items: Suppression[] = [];
          for (const alarmId of parseAlarmIds(ids)) {
            const item = await api.patch<Suppression>(suppressionPath(alarmId), { isSuppressed });
            if (format === 'table') process.stdout.write(`${name}ed alarm id ${alarmId}\n`);
            items.push(item);
          }
          return items;
        });
        if (format !== 'table') await printData(format, changed);
      });
  }

  alarm
    .command('suppressions')
    .description('list the suppressible alarm ids and whether each is suppressed')
    .option('--suppressed', 'only the suppressed ones')
    .addHelpText(
      'after',
      '\nExamples:\n  murm alarm suppressions --suppressed\n  murm alarm suppressions -o json',
    )
    .action(async (flags: { suppressed?: true }, command: Command) => {
      const page = await withApi(command, (api) => api.get<Page<Suppression>>('/v1/event-suppressions'));
      const items = flags.suppressed ? page.items.filter((item) => item.isSuppressed) : page.items;
      await printList(globalOptions(command).output, items, SUPPRESSION_COLUMNS);
    });
}

/** Adds `--limit`, `--all` and `--next` to a list command. */
export function addPageOptions(command: Command): Command {
  return command
    .option('--limit <n>', 'items per page, 1–1000 (default 100)', parseLimit)
    .option('--all', 'follow the pages to the end')
    .option('--next <cursor>', 'continue after a page that said there are more');
}

/** One page from `--next` on, or with `--all` every page after it; `next` is the cursor of a page not read. */
export async function readPages<T>(
  flags: PageFlags,
  readPage: (cursor: string | undefined) => Promise<Page<T>>,
): Promise<{ items: T[]; next: string | undefined }> {
  const items: T[] = [];
  let cursor = flags.next;
  for (;;) {
    const page = await readPage(cursor);
    items.push(...page.items);
    cursor = page.next;
    if (!flags.all || cursor === undefined) return { items, next: cursor };
  }
}

/** Tells on stderr how to read the rest of a list. */
export function reportMore(next: string | undefined, noun: string): void {
  if (next !== undefined) process.stderr.write(`there are more ${noun}: add --all, or --next ${next}\n`);
}

function parseAlarmIds(values: readonly string[]): string[] {
  const ids = values.flatMap((value) => value.split(',')).map((id) => id.trim());
  const present = ids.filter((id) => id !== '');
  if (present.length === 0) throw new AppError('invalid_input', 'give one or more alarm ids, like 100.101');
  return [...new Set(present)];
}

/** After a change: one line for people, the result as JSON/YAML for scripts. */
async function report(format: OutputFormat, result: unknown, line: string): Promise<void> {
  if (format === 'table') process.stdout.write(`${line}\n`);
  else await printData(format, result);
}

function alarmPath(uuid: string): string {
  return `/v1/alarms/${encodeURIComponent(uuid)}`;
}

function suppressionPath(alarmId: string): string {
  return `/v1/event-suppressions/${encodeURIComponent(alarmId)}`;
}
