import { type Command, InvalidArgumentError, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { SEVERITIES, type Severity } from '../fault/model.js';
import { ALARM_CHANGE_KINDS, type AlarmWebhookFilter } from '../fault/webhook-model.js';
import type { AlarmWebhookView } from '../fault/webhook-service.js';
import { type Column, type OutputFormat, printData, printItem, printList } from './output.js';
import { confirm, isInteractive, readPassword } from './prompt.js';
import { globalOptions, withApi } from './session.js';

type ChangeKind = NonNullable<AlarmWebhookFilter['kinds']>[number];

interface AddFlags {
  alarmId?: string[];
  minSeverity?: Severity;
  entity?: string;
  kinds?: ChangeKind[];
}

const SECRET_ENV = 'MURM_WEBHOOK_SECRET';

const WEBHOOK_COLUMNS: readonly Column<AlarmWebhookView>[] = [
  { header: 'ID', value: (webhook) => webhook.id },
  { header: 'URL', value: (webhook) => webhook.url },
  { header: 'FILTER', value: (webhook) => describeFilter(webhook.filter) },
  { header: 'LAST STATUS', value: (webhook) => webhook.lastDelivery.status },
  { header: 'FAILURES', value: (webhook) => webhook.consecutiveFailures },
  { header: 'PENDING', value: (webhook) => webhook.pendingCount },
];

const WEBHOOK_FIELDS: readonly Column<AlarmWebhookView>[] = [
  { header: 'ID', value: (webhook) => webhook.id },
  { header: 'URL', value: (webhook) => webhook.url },
  { header: 'FILTER', value: (webhook) => describeFilter(webhook.filter) },
  { header: 'SECRET', value: (webhook) => webhook.secretHint },
  { header: 'ENABLED', value: (webhook) => webhook.isEnabled },
  { header: 'CREATED', value: (webhook) => webhook.createdAt },
  { header: 'LAST STATUS', value: (webhook) => webhook.lastDelivery.status },
  { header: 'LAST HTTP STATUS', value: (webhook) => webhook.lastDelivery.statusCode },
  { header: 'LAST ERROR', value: (webhook) => webhook.lastDelivery.error },
  { header: 'LAST ATTEMPT', value: (webhook) => webhook.lastDelivery.attemptAt },
  { header: 'LAST SUCCESS', value: (webhook) => webhook.lastDelivery.successAt },
  { header: 'FAILURES', value: (webhook) => webhook.consecutiveFailures },
  { header: 'PENDING', value: (webhook) => webhook.pendingCount },
];

/** `murm alarm-webhook …`: receivers that get alarm changes as signed HTTP POSTs. */
export function addAlarmWebhookCommands(program: Command): void {
  const webhook = program
    .command('alarm-webhook')
    .description('send alarm changes to HTTP receivers, signed with HMAC-SHA256 of a shared secret')
    .addHelpText(
      'after',
      `
Examples:
  murm alarm-webhook add https://receiver.example/alarms --min-severity major
  murm alarm-webhook list
  murm alarm-webhook show 5b0e8f3a-…
  murm alarm-webhook delete 5b0e8f3a-… --yes`,
    );

  webhook
    .command('add')
    .description(`subscribe a receiver; the secret is asked for (or taken from ${SECRET_ENV})`)
    .argument('<url>', 'receiver URL: https://, or http:// for a local receiver')
    .option('--alarm-id <ids>', 'only these alarm ids, separated by commas, like 100.101,100.103', parseList)
    .addOption(
      new Option('--min-severity <severity>', 'only this severity or a more severe one').choices(SEVERITIES),
    )
    .option('--entity <prefix>', 'only entity instance ids that start with this, like host=controller-0')
    .option(
      '--kinds <kinds>',
      `only these changes, separated by commas: ${ALARM_CHANGE_KINDS.join(', ')}`,
      parseKinds,
    )
    .addHelpText(
      'after',
      `
The secret (16 to 256 characters) signs every POST: the x-murm-signature header is
"t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>". It is never a flag, so it stays out of
shell history: type it at the prompt, pipe it on stdin, or set ${SECRET_ENV}.

Examples:
  murm alarm-webhook add https://receiver.example/alarms
  murm alarm-webhook add https://receiver.example/alarms --min-severity major --kinds raised,cleared
  ${SECRET_ENV}=… murm alarm-webhook add http://127.0.0.1:9000/hook --alarm-id 100.101 \\
      --entity host=controller-0 -o json`,
    )
    .action(async (url: string, flags: AddFlags, command: Command) => {
      const filter = buildFilter(flags);
      const created = await withApi(command, async (api) => {
        const secret = await readSecret();
        const body = filter === undefined ? { url, secret } : { url, secret, filter };
        return api.post<AlarmWebhookView>('/v1/alarm-webhooks', body);
      });
      const line = `added alarm webhook ${created.id} for ${created.url} (${describeFilter(created.filter) || 'every alarm change'})`;
      await report(globalOptions(command).output, created, line);
    });

  webhook
    .command('list')
    .description('list alarm webhooks with the outcome of their last delivery')
    .addHelpText('after', '\nExamples:\n  murm alarm-webhook list\n  murm alarm-webhook list -o json')
    .action(async (_flags: unknown, command: Command) => {
      const page = await withApi(command, (api) =>
        api.get<{ items: AlarmWebhookView[] }>('/v1/alarm-webhooks'),
      );
      await printList(globalOptions(command).output, page.items, WEBHOOK_COLUMNS);
    });

  webhook
    .command('show')
    .description('show one alarm webhook with its last delivery')
    .argument('<id>', 'webhook id, as "murm alarm-webhook list" shows it')
    .addHelpText(
      'after',
      '\nExamples:\n  murm alarm-webhook show 5b0e8f3a-…\n  murm alarm-webhook show 5b0e8f3a-… -o yaml',
    )
    .action(async (id: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) => api.get<AlarmWebhookView>(webhookPath(id)));
      await printItem(globalOptions(command).output, found, WEBHOOK_FIELDS);
    });

  webhook
    .command('delete')
    .description('delete an alarm webhook and the changes not yet delivered to it')
    .argument('<id>', 'webhook id, as "murm alarm-webhook list" shows it')
    .option('-y, --yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .addHelpText(
      'after',
      '\nExamples:\n  murm alarm-webhook delete 5b0e8f3a-…\n  murm alarm-webhook delete 5b0e8f3a-… --yes',
    )
    .action(async (id: string, flags: { yes?: true }, command: Command) => {
      const isDeleted = await withApi(command, async (api) => {
        if (!flags.yes && !(await isConfirmed(id))) return false;
        await api.delete(webhookPath(id));
        return true;
      });
      process.stdout.write(isDeleted ? `deleted alarm webhook ${id}\n` : `alarm webhook ${id} not deleted\n`);
    });
}

/** The secret from `MURM_WEBHOOK_SECRET`, else typed without echo, else one line of stdin. */
function readSecret(): Promise<string> {
  return readPassword('Webhook secret: ', SECRET_ENV);
}

function buildFilter(flags: AddFlags): AlarmWebhookFilter | undefined {
  const filter: AlarmWebhookFilter = {
    ...(flags.alarmId === undefined ? {} : { alarmIds: flags.alarmId }),
    ...(flags.minSeverity === undefined ? {} : { minSeverity: flags.minSeverity }),
    ...(flags.entity === undefined ? {} : { entityInstancePrefix: flags.entity }),
    ...(flags.kinds === undefined ? {} : { kinds: flags.kinds }),
  };
  return Object.keys(filter).length === 0 ? undefined : filter;
}

/** A filter in one line, like `alarm-id=100.101 min-severity=major kinds=raised,cleared`; empty for none. */
function describeFilter(filter: AlarmWebhookFilter): string {
  return [
    filter.alarmIds === undefined ? undefined : `alarm-id=${filter.alarmIds.join(',')}`,
    filter.minSeverity === undefined ? undefined : `min-severity=${filter.minSeverity}`,
    filter.entityInstancePrefix === undefined ? undefined : `entity=${filter.entityInstancePrefix}*`,
    filter.kinds === undefined ? undefined : `kinds=${filter.kinds.join(',')}`,
  ]
    .filter((part) => part !== undefined)
    .join(' ');
}

function parseList(value: string): string[] {
  const items = [
    ...new Set(
      value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    ),
  ];
  if (items.length === 0) throw new InvalidArgumentError('give one or more values separated by commas');
  return items;
}

function parseKinds(value: string): ChangeKind[] {
  const kinds = parseList(value);
  const bad = kinds.find((kind) => !(ALARM_CHANGE_KINDS as readonly string[]).includes(kind));
  if (bad !== undefined) {
    throw new InvalidArgumentError(`"${bad}" is not a kind of change; give ${ALARM_CHANGE_KINDS.join(', ')}`);
  }
  return kinds as ChangeKind[];
}

async function isConfirmed(id: string): Promise<boolean> {
  if (!isInteractive()) {
    throw new AppError(
      'invalid_input',
      `refusing to delete alarm webhook ${id} without confirmation; pass --yes`,
    );
  }
  return confirm(`Delete alarm webhook ${id}?`);
}

/** After a change: one line for people, the result as JSON/YAML for scripts. */
async function report(format: OutputFormat, result: unknown, line: string): Promise<void> {
  if (format === 'table') process.stdout.write(`${line}\n`);
  else await printData(format, result);
}

function webhookPath(id: string): string {
  return `/v1/alarm-webhooks/${encodeURIComponent(id)}`;
}
