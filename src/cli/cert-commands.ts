import { type Command, Option } from 'commander';
import { addPageOptions, type PageFlags, readPages, reportMore } from './alarm-commands.js';
import { addCertCaCommands } from './cert-ca-commands.js';
import {
  addCertIssueCommands,
  addManagedDeleteCommand,
  addManagedExportCommand,
} from './cert-issue-commands.js';
import { addSetCommand, addWatchCommands } from './cert-settings-commands.js';
import { addCertTrustCommands } from './cert-trust-commands.js';
import {
  CERTIFICATE_STATES,
  type CertificateState,
  type CertificateView,
  parseDurationSeconds,
} from './cert-views.js';
import { type Column, printData, printItem, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

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
