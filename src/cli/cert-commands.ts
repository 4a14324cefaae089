import { type Command, InvalidArgumentError, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { SEVERITIES, type Severity } from '../fault/model.js';
import { addPageOptions, type PageFlags, readPages, reportMore } from './alarm-commands.js';
import { addCertCaCommands } from './cert-ca-commands.js';
import {
  addCertIssueCommands,
  addManagedDeleteCommand,
  addManagedExportCommand,
} from './cert-issue-commands.js';
import { addCertTrustCommands } from './cert-trust-commands.js';
import { type Column, type OutputFormat, printData, printItem, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

const CERTIFICATE_STATES = ['ok', 'expiring', 'expired'] as const;
type CertificateState = (typeof CERTIFICATE_STATES)[number];
type SourceKind = 'path' | 'endpoint' | 'platform';

/** A certificate as `GET /v1/certificates` shows it. */
interface CertificateView {
  fingerprint: string;
  subject: string;
  issuer: string;
  sans: string[];
  serial: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  isCa: boolean;
  location: string;
  sourceId: string;
  sourceKind: SourceKind;
  state: CertificateState;
  alarmId: '500.200' | '500.210' | null;
}

/** A watched place as `GET /v1/certificate-sources` shows it. */
interface SourceView {
  id: string;
  kind: SourceKind;
  target: string;
  settings: {
    isAlarmEnabled?: boolean;
    alarmBeforeSeconds?: number;
    severity?: Severity;
    textPrefix?: string;
  };
  status: 'pending' | 'ok' | 'error';
  error: string | null;
  lastCheckedAt: string | null;
  certificateCount: number;
}

interface AuditResult {
  sources: number;
  certificates: number;
  expiring: number;
  expired: number;
  errors: number;
}

interface ListFlags extends PageFlags {
  expiringWithin?: number;
  state?: CertificateState;
  source?: string;
}

interface WatchFlags {
  alarm: boolean;
  alarmBefore?: string;
  severity?: Severity;
  textPrefix?: string;
}

interface SetFlags extends WatchFlags {
  reset?: true;
}

const DURATION_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
const DURATION_HINT = 'give a duration like 30d, 12h or 1w2d (units s, m, h, d, w)';

const CERTIFICATE_COLUMNS: readonly Column<CertificateView>[] = [
  { header: 'NOT AFTER', value: (cert) => cert.notAfter },
  { header: 'STATE', value: (cert) => cert.state },
  { header: 'SUBJECT', value: (cert) => cert.subject },
  { header: 'LOCATION', value: (cert) => cert.location },
  { header: 'ALARM', value: (cert) => cert.alarmId },
];

const CERTIFICATE_FIELDS: readonly Column<CertificateView>[] = [
  { header: 'FINGERPRINT', value: (cert) => cert.fingerprint },
  { header: 'SUBJECT', value: (cert) => cert.subject },
  { header: 'ISSUER', value: (cert) => cert.issuer },
  { header: 'SANS', value: (cert) => cert.sans.join(', ') },
  { header: 'SERIAL', value: (cert) => cert.serial },
  { header: 'NOT BEFORE', value: (cert) => cert.notBefore },
  { header: 'NOT AFTER', value: (cert) => cert.notAfter },
  { header: 'KEY TYPE', value: (cert) => cert.keyType },
  { header: 'CA', value: (cert) => cert.isCa },
  { header: 'LOCATION', value: (cert) => cert.location },
  { header: 'SOURCE', value: (cert) => cert.sourceId },
  { header: 'SOURCE KIND', value: (cert) => cert.sourceKind },
  { header: 'STATE', value: (cert) => cert.state },
  { header: 'ALARM', value: (cert) => cert.alarmId },
];

const SOURCE_COLUMNS: readonly Column<SourceView>[] = [
  { header: 'ID', value: (source) => source.id },
  { header: 'KIND', value: (source) => source.kind },
  { header: 'TARGET', value: (source) => source.target },
  { header: 'STATUS', value: (source) => source.status },
  { header: 'CERTS', value: (source) => source.certificateCount },
  { header: 'CHECKED', value: (source) => source.lastCheckedAt },
  { header: 'ERROR', value: (source) => source.error },
];

const AUDIT_COLUMNS: readonly Column<AuditResult>[] = [
  { header: 'SOURCES', value: (result) => result.sources },
  { header: 'CERTIFICATES', value: (result) => result.certificates },
  { header: 'EXPIRING', value: (result) => result.expiring },
  { header: 'EXPIRED', value: (result) => result.expired },
  { header: 'ERRORS', value: (result) => result.errors },
];

/** `murm cert …`: certificates the site watches, their expiry alarms, and the places it watches. */
export function addCertCommands(program: Command): void {
  const cert = program
    .command('cert')
    .description('watch certificates (files and TLS endpoints) and raise alarms before they expire')
    .addHelpText(
      'after',
      `
Certificates that expire within a source's --alarm-before raise alarm 500.200; expired ones 500.210.

Examples:
  murm cert watch add-path '/etc/ssl/certs/*.pem' --alarm-before 30d
  murm cert watch add-endpoint registry.example:443 --severity critical
  murm cert list --expiring-within 30d
  murm cert show 9c4e1f07…
  murm cert set 9c4e1f07… --severity critical
  murm cert audit
  murm cert issue registry --dns registry.local --ip 10.0.0.5 --duration 90d --renew-before 30d
  murm cert managed list`,
    );

  addPageOptions(
    cert
      .command('list')
      .description('list watched certificates, soonest to expire first')
      .option(
        '--expiring-within <duration>',
        'only those expiring within this time (or expired), like 30d, 12h, 1w2d',
        parseDurationSeconds,
      )
      .addOption(new Option('--state <state>', 'only certificates in this state').choices(CERTIFICATE_STATES))
      .option('--source <id>', 'only certificates of this source, as "murm cert watch list" shows it'),
  )
    .addHelpText(
      'after',
      `
Examples:
  murm cert list
  murm cert list --expiring-within 30d
  murm cert list --state expired -o json
  murm cert list --source 6d0c1f2e-… --all -o yaml`,
    )
    .action(async (flags: ListFlags, command: Command) => {
      const query = {
        expiringWithin: flags.expiringWithin,
        state: flags.state,
        source: flags.source,
        limit: flags.limit,
      };
      const { items, next } = await withApi(command, (api) =>
        readPages(flags, (cursor) =>
          api.get<{ items: CertificateView[]; next?: string }>('/v1/certificates', {
            ...query,
            next: cursor,
          }),
        ),
      );
      await printList(globalOptions(command).output, items, CERTIFICATE_COLUMNS);
      reportMore(next, 'certificates');
    });

  cert
    .command('show')
    .description('show every field of one certificate')
    .argument('<fingerprint>', 'SHA-256 fingerprint (hex), as "murm cert list -o json" shows it')
    .addHelpText('after', '\nExamples:\n  murm cert show 9c4e1f07…\n  murm cert show 9c4e1f07… -o json')
    .action(async (fingerprint: string, _flags: unknown, command: Command) => {
      const path = `/v1/certificates/${encodeURIComponent(fingerprint)}`;
      const found = await withApi(command, (api) => api.get<CertificateView>(path));
      await printItem(globalOptions(command).output, found, CERTIFICATE_FIELDS);
    });

  cert
    .command('audit')
    .description('check every watched source now and count certificates by state')
    .addHelpText('after', '\nExamples:\n  murm cert audit\n  murm cert audit -o json')
    .action(async (_flags: unknown, command: Command) => {
      const result = await withApi(command, (api) => api.post<AuditResult>('/v1/certificate-sources:audit'));
      const format = globalOptions(command).output;
      if (format !== 'table') await printData(format, result);
      else await printList(format, [result], AUDIT_COLUMNS);
      if (result.errors > 0) {
        const sources = result.errors === 1 ? '1 source' : `${result.errors} sources`;
        process.stderr.write(`${sources} could not be read; see "murm cert watch list"\n`);
      }
    });

  addSetCommand(cert);
  addWatchCommands(cert);
  addCertIssueCommands(cert);
  const managedNote =
    '\nNAME is a managed certificate, one the site CA issued (see "murm cert managed list");' +
    ' "murm cert list" and "murm cert show" take fingerprints instead.';
  addManagedExportCommand(cert, 'murm cert').addHelpText('after', managedNote);
  addManagedDeleteCommand(cert, 'murm cert').addHelpText('after', managedNote);
  addCertTrustCommands(cert);
  addCertCaCommands(cert);
}

/** `murm cert set`: alarm settings for one certificate, over those of its source. */
function addSetCommand(cert: Command): void {
  cert
    .command('set')
    .description("change the alarm settings of one certificate, over its source's settings")
    .argument('<fingerprint>', 'SHA-256 fingerprint (hex), as "murm cert list -o json" shows it')
    .option(
      '--alarm-before <duration>',
      'raise the expiring alarm this long before expiry, like 30d',
      parseDurationText,
    )
    .addOption(new Option('--severity <severity>', 'severity of the expiring alarm').choices(SEVERITIES))
    .option('--text-prefix <text>', 'put this before the reason text of its alarms')
    .option('--no-alarm', 'raise no alarms for this certificate')
    .option('--reset', "drop this certificate's settings; its source's settings apply again")
    .addHelpText(
      'after',
      `
Examples:
  murm cert set 9c4e1f07… --alarm-before 60d --severity critical
  murm cert set 9c4e1f07… --no-alarm
  murm cert set 9c4e1f07… --reset`,
    )
    .action(async (fingerprint: string, flags: SetFlags, command: Command) => {
      const body = { settings: buildCertificateSettings(flags) };
      const path = `/v1/certificates/${encodeURIComponent(fingerprint)}`;
      const changed = await withApi(command, (api) => api.patch<CertificateView>(path, body));
      const line = `certificate ${changed.fingerprint.slice(0, 12)}…: state ${changed.state}, alarm ${changed.alarmId ?? 'none'}`;
      await report(globalOptions(command).output, changed, line);
    });
}

function buildCertificateSettings(flags: SetFlags): Record<string, string | boolean> {
  const settings = buildSettings(flags);
  if (flags.reset) {
    if (settings !== undefined) {
      throw new AppError('invalid_input', '--reset drops every setting; give it alone, or drop --reset');
    }
    return {};
  }
  if (settings === undefined) {
    throw new AppError(
      'invalid_input',
      'nothing to change; give --alarm-before, --severity, --text-prefix, --no-alarm or --reset',
    );
  }
  return settings;
}

function addWatchCommands(cert: Command): void {
  const watch = cert
    .command('watch')
    .description('add, list and remove the files and TLS endpoints whose certificates are watched')
    .addHelpText(
      'after',
      `
Examples:
  murm cert watch add-path '/etc/pki/*.crt' --alarm-before 30d
  murm cert watch add-endpoint ldap.example:636 --alarm-before 2w --severity major
  murm cert watch list
  murm cert watch remove 6d0c1f2e-…`,
    );

  addSourceCommand(watch, {
    kind: 'path',
    argument: ['<path>', 'a PEM file, a directory of them, or a glob (quote it for the shell)'],
    description: 'watch the certificates in PEM files: one file, a directory, or a glob',
    examples: [
      "murm cert watch add-path '/etc/pki/tls/certs/*.pem'",
      'murm cert watch add-path /etc/kubernetes/pki --alarm-before 1w2d --severity critical',
      'murm cert watch add-path /opt/app/tls.crt --no-alarm -o json',
    ],
  });
  addSourceCommand(watch, {
    kind: 'endpoint',
    argument: ['<host:port>', 'a TLS server, like registry.example:443 or 10.0.0.5:6443'],
    description: 'watch the certificate chain a TLS server presents',
    examples: [
      'murm cert watch add-endpoint registry.example:443',
      'murm cert watch add-endpoint 10.0.0.5:6443 --alarm-before 60d --text-prefix "k8s API:"',
    ],
  });

  watch
    .command('list')
    .description('list watched sources, with the outcome of their last check')
    .addHelpText('after', '\nExamples:\n  murm cert watch list\n  murm cert watch list -o json')
    .action(async (_flags: unknown, command: Command) => {
      const page = await withApi(command, (api) =>
        api.get<{ items: SourceView[] }>('/v1/certificate-sources'),
      );
      await printList(globalOptions(command).output, page.items, SOURCE_COLUMNS);
    });

  watch
    .command('remove')
    .description('stop watching a source and clear its alarms (platform sources cannot be removed)')
    .argument('<id>', 'source id, as "murm cert watch list" shows it')
    .addHelpText('after', '\nExamples:\n  murm cert watch remove 6d0c1f2e-…')
    .action(async (id: string, _flags: unknown, command: Command) => {
      await withApi(command, (api) => api.delete(`/v1/certificate-sources/${encodeURIComponent(id)}`));
      process.stdout.write(`removed certificate source ${id}\n`);
    });
}

/** `murm cert watch add-path` and `add-endpoint`: the same alarm options, a different kind of target. */
function addSourceCommand(
  watch: Command,
  spec: {
    kind: 'path' | 'endpoint';
    argument: [string, string];
    description: string;
    examples: readonly string[];
  },
): void {
  watch
    .command(`add-${spec.kind}`)
    .description(spec.description)
    .argument(...spec.argument)
    .option(
      '--alarm-before <duration>',
      'raise the expiring alarm this long before expiry, like 30d, 12h, 1w2d (server default if not given)',
      parseDurationText,
    )
    .addOption(new Option('--severity <severity>', 'severity of the expiring alarm').choices(SEVERITIES))
    .option('--text-prefix <text>', 'put this before the reason text of its alarms')
    .option('--no-alarm', 'list the certificates but raise no alarms for them')
    .addHelpText('after', `\nExamples:\n${spec.examples.map((line) => `  ${line}`).join('\n')}`)
    .action(async (target: string, flags: WatchFlags, command: Command) => {
      const settings = buildSettings(flags);
      const body = { kind: spec.kind, target, ...(settings === undefined ? {} : { settings }) };
      const created = await withApi(command, (api) => api.post<SourceView>('/v1/certificate-sources', body));
      await report(globalOptions(command).output, created, describeAdded(created));
    });
}

function buildSettings(flags: WatchFlags): Record<string, string | boolean> | undefined {
  const alarmOptions = {
    ...(flags.alarmBefore === undefined ? {} : { alarmBefore: flags.alarmBefore }),
    ...(flags.severity === undefined ? {} : { severity: flags.severity }),
    ...(flags.textPrefix === undefined ? {} : { textPrefix: flags.textPrefix }),
  };
  if (flags.alarm) return Object.keys(alarmOptions).length === 0 ? undefined : alarmOptions;
  if (Object.keys(alarmOptions).length > 0) {
    throw new AppError(
      'invalid_input',
      '--no-alarm raises no alarms; drop --alarm-before, --severity and --text-prefix, or drop --no-alarm',
    );
  }
  return { isAlarmEnabled: false };
}

function describeAdded(source: SourceView): string {
  const what = `watching ${source.kind} ${source.target} as source ${source.id}`;
  if (source.status === 'error') {
    return `${what}, but it cannot be read: ${source.error ?? 'no reason given'}`;
  }
  const count = source.certificateCount;
  return `${what}: ${source.status}, ${count} certificate${count === 1 ? '' : 's'}`;
}

/** `30d`, `12h`, `1w2d`: a positive duration in seconds; throws (a usage error) for anything else. */
function parseDurationSeconds(value: string): number {
  const text = value.trim();
  if (!/^(\d+[smhdw])+$/.test(text)) throw new InvalidArgumentError(DURATION_HINT);
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhdw])/g)) {
    seconds += Number(amount) * DURATION_SECONDS[unit as keyof typeof DURATION_SECONDS];
  }
  if (seconds <= 0 || !Number.isSafeInteger(seconds)) throw new InvalidArgumentError(DURATION_HINT);
  return seconds;
}

/** A duration checked like `parseDurationSeconds` but passed on as written, since the API takes the text. */
function parseDurationText(value: string): string {
  parseDurationSeconds(value);
  return value.trim();
}

/** After a change: one line for people, the result as JSON/YAML for scripts. */
async function report(format: OutputFormat, result: unknown, line: string): Promise<void> {
  if (format === 'table') process.stdout.write(`${line}\n`);
  else await printData(format, result);
}
