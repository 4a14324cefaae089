import { type Command, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { SEVERITIES, type Severity } from '../fault/model.js';
import { type CertificateView, parseDurationText, report, type SourceView } from './cert-views.js';
import { type Column, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

interface WatchFlags {
  alarm: boolean;
  alarmBefore?: string;
  severity?: Severity;
  textPrefix?: string;
}

interface SetFlags extends WatchFlags {
  reset?: true;
}

const SOURCE_COLUMNS: readonly Column<SourceView>[] = [
  { header: 'ID', value: (source) => source.id },
  { header: 'KIND', value: (source) => source.kind },
  { header: 'TARGET', value: (source) => source.target },
  { header: 'STATUS', value: (source) => source.status },
  { header: 'CERTS', value: (source) => source.certificateCount },
  { header: 'CHECKED', value: (source) => source.lastCheckedAt },
  { header: 'ERROR', value: (source) => source.error },
];

/** `murm cert set FINGERPRINT …`: one certificate's alarm settings. */
export function addSetCommand(cert: Command): void {
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

/** `murm cert watch …`: the places the site watches for certificates. */
export function addWatchCommands(cert: Command): void {
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
