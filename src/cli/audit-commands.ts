import { type Command, Option } from 'commander';
import { CheckFailedError } from './check-failed.js';
import { parseLimit, parseTime } from './option-parsers.js';
import { type Column, printData, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

interface AuditRecord {
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

interface AuditPage {
  items: AuditRecord[];
  next?: string;
}

interface AuditVerification {
  isIntact: boolean;
  checked: number;
  firstBroken: { seq: number; reason: string } | null;
}

interface ListFlags {
  user?: string;
  since?: string;
  until?: string;
  outcome?: 'success' | 'failure';
  limit?: number;
  all?: true;
  next?: string;
}

const AUDIT_COLUMNS: readonly Column<AuditRecord>[] = [
  { header: 'SEQ', value: (record) => record.seq },
  { header: 'AT', value: (record) => record.at },
  { header: 'USER', value: (record) => record.username },
  { header: 'EVENT', value: (record) => record.event },
  { header: 'METHOD', value: (record) => record.method },
  { header: 'PATH', value: (record) => record.path },
  { header: 'STATUS', value: (record) => record.status },
  { header: 'SOURCE', value: (record) => record.source },
];

/** `murm audit list` and `murm audit verify` (admins only). */
export function addAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description('read and verify the security audit log (admins only)')
    .addHelpText('after', '\nExamples:\n  murm audit list --since 1h\n  murm audit verify');

  audit
    .command('list')
    .description('list audit records, newest first: logins, logouts and every change')
    .option('--user <name>', 'only records of this user')
    .option(
      '--since <time>',
      'from this time on: ISO 8601 (2025-01-31T12:00:00Z) or an age like 30m, 2h, 7d',
      parseTime,
    )
    .option('--until <time>', 'before this time: ISO 8601 or an age like 30m, 2h, 7d', parseTime)
    .addOption(
      new Option('--outcome <outcome>', 'only successes (status < 400) or failures').choices([
        'success',
        'failure',
      ]),
    )
    .option('--limit <n>', 'records per page, 1–1000 (default 100)', parseLimit)
    .option('--all', 'follow the pages to the oldest record')
    .option('--next <cursor>', 'continue after a page that said there are more')
    .addHelpText(
      'after',
      `
Examples:
  murm audit list
  murm audit list --user alice --since 24h
  murm audit list --outcome failure --since 2025-01-31T00:00:00Z -o json
  murm audit list --all -o yaml`,
    )
    .action(async (flags: ListFlags, command: Command) => {
      const { items, next } = await withApi(command, async (api) => {
        const records: AuditRecord[] = [];
        let cursor = flags.next;
        for (;;) {
          const page = await api.get<AuditPage>('/v1/audit', {
            user: flags.user,
            since: flags.since,
            until: flags.until,
            outcome: flags.outcome,
            limit: flags.limit,
            next: cursor,
          });
          records.push(...page.items);
          cursor = page.next;
          if (!flags.all || cursor === undefined) return { items: records, next: cursor };
        }
      });
      await printList(globalOptions(command).output, items, AUDIT_COLUMNS);
      if (next !== undefined) process.stderr.write(`there are more records: add --all, or --next ${next}\n`);
    });

  audit
    .command('verify')
    .description(
      'recompute the hash chain of the audit log; exits non-zero when a record was altered or removed',
    )
    .addHelpText('after', '\nExamples:\n  murm audit verify\n  murm audit verify -o json')
    .action(async (_flags: unknown, command: Command) => {
      const result = await withApi(command, (api) => api.get<AuditVerification>('/v1/audit/verify'));
      const format = globalOptions(command).output;
      if (format !== 'table') await printData(format, result);
      if (result.firstBroken) {
        const { seq, reason } = result.firstBroken;
        throw new CheckFailedError(
          `the audit chain is broken at record ${seq}: ${reason} (${result.checked} records before it are intact)`,
        );
      }
      if (format === 'table')
        process.stdout.write(`the audit chain is intact (${result.checked} records checked)\n`);
    });
}
