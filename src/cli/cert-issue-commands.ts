import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { type Column, type OutputFormat, printData, printItem, printList } from './output.js';
import { confirm, isInteractive } from './prompt.js';
import { globalOptions, withApi } from './session.js';

const KEY_TYPES = ['ecdsa-p256', 'rsa-2048'] as const;
const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/;
const DURATION_HINT = 'give a duration like 90d, 12h or 1w2d (units w, d, h, m)';

/** A managed certificate as `GET /v1/managed-certificates` shows it. */
interface ManagedCertificateView {
  name: string;
  dns: string[];
  ips: string[];
  keyType: (typeof KEY_TYPES)[number];
  durationSeconds: number;
  renewBeforeSeconds: number;
  serial: string;
  notBefore: string;
  notAfter: string;
  certPem: string;
  createdAt: string;
  renewedAt: string | null;
}

interface ExportView {
  name: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

interface IssueFlags {
  dns: string[];
  ip: string[];
  duration: string;
  renewBefore: string;
  key: (typeof KEY_TYPES)[number];
}

const COLUMNS: readonly Column<ManagedCertificateView>[] = [
  { header: 'NAME', value: (cert) => cert.name },
  { header: 'NOT AFTER', value: (cert) => cert.notAfter },
  { header: 'RENEWS AT', value: renewsAt },
  { header: 'KEY', value: (cert) => cert.keyType },
  { header: 'NAMES', value: (cert) => [...cert.dns, ...cert.ips].join(',') },
];

const FIELDS: readonly Column<ManagedCertificateView>[] = [
  { header: 'NAME', value: (cert) => cert.name },
  { header: 'DNS', value: (cert) => cert.dns.join(', ') },
  { header: 'IPS', value: (cert) => cert.ips.join(', ') },
  { header: 'KEY TYPE', value: (cert) => cert.keyType },
  { header: 'SERIAL', value: (cert) => cert.serial },
  { header: 'NOT BEFORE', value: (cert) => cert.notBefore },
  { header: 'NOT AFTER', value: (cert) => cert.notAfter },
  { header: 'RENEWS AT', value: renewsAt },
  { header: 'DURATION', value: (cert) => `${cert.durationSeconds}s` },
  { header: 'RENEW BEFORE', value: (cert) => `${cert.renewBeforeSeconds}s` },
  { header: 'CREATED', value: (cert) => cert.createdAt },
  { header: 'RENEWED', value: (cert) => cert.renewedAt },
];

/** `murm cert issue` and `murm cert managed …`: certificates the site CA issues and the site renews. */
export function addCertIssueCommands(cert: Command): void {
  cert
    .command('issue')
    .description('issue a certificate from the site CA; the site renews it before it expires')
    .argument('<name>', 'a name for it: a-z, 0-9, ".", "_", "-"')
    .option('--dns <names>', 'DNS names, comma-separated (repeatable)', collectList, [])
    .option('--ip <addresses>', 'IP addresses, comma-separated (repeatable)', collectList, [])
    .option('--duration <duration>', 'how long each certificate is valid', parseDurationText, '90d')
    .option('--renew-before <duration>', 'renew this long before it expires', parseDurationText, '30d')
    .addOption(new Option('--key <type>', 'key algorithm').choices(KEY_TYPES).default('ecdsa-p256'))
    .addHelpText(
      'after',
      `
Examples:
  murm cert issue registry --dns registry.local,registry --ip 10.0.0.5 --duration 90d --renew-before 30d
  murm cert issue ldap --dns ldap.example --key rsa-2048 -o json`,
    )
    .action(async (name: string, flags: IssueFlags, command: Command) => {
      const body = {
        name,
        dns: flags.dns,
        ips: flags.ip,
        keyType: flags.key,
        duration: flags.duration,
        renewBefore: flags.renewBefore,
      };
      const issued = await withApi(command, (api) =>
        api.post<ManagedCertificateView>('/v1/managed-certificates', body),
      );
      await report(
        globalOptions(command).output,
        issued,
        `issued ${issued.name}: serial ${issued.serial}, valid until ${issued.notAfter}, renews at ${renewsAt(issued)}`,
      );
    });

  const managed = cert
    .command('managed')
    .description('list, show, renew, export and delete the certificates the site issued')
    .addHelpText(
      'after',
      `
Examples:
  murm cert managed list
  murm cert managed show api-server
  murm cert managed renew registry
  murm cert managed export registry --out-dir ./registry-tls
  murm cert managed delete registry --yes`,
    );

  managed
    .command('list')
    .description('list managed certificates')
    .action(async (_flags: unknown, command: Command) => {
      const page = await withApi(command, (api) =>
        api.get<{ items: ManagedCertificateView[] }>('/v1/managed-certificates'),
      );
      await printList(globalOptions(command).output, page.items, COLUMNS);
    });

  managed
    .command('show')
    .description('show a managed certificate (never its key)')
    .argument('<name>', 'as "murm cert managed list" shows it')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) =>
        api.get<ManagedCertificateView>(`/v1/managed-certificates/${encodeURIComponent(name)}`),
      );
      await printItem(globalOptions(command).output, found, FIELDS);
    });

  managed
    .command('renew')
    .description('renew now: a new key and serial')
    .argument('<name>', 'as "murm cert managed list" shows it')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const renewed = await withApi(command, (api) =>
        api.post<ManagedCertificateView>(`/v1/managed-certificates/${encodeURIComponent(name)}/renew`),
      );
      await report(
        globalOptions(command).output,
        renewed,
        `renewed ${renewed.name}: serial ${renewed.serial}, valid until ${renewed.notAfter}`,
      );
    });

  addManagedExportCommand(managed, 'murm cert managed');
  addManagedDeleteCommand(managed, 'murm cert managed');
}

/** `export` on `parent` (`murm cert managed`, or `murm cert` itself): a managed certificate with its key. */
export function addManagedExportCommand(parent: Command, prefix: string): Command {
  return parent
    .command('export')
    .description('export a managed certificate, its private key and the site CA (admins only)')
    .argument('<name>', 'a managed certificate, as "murm cert managed list" shows it')
    .option('--out-dir <dir>', 'write <name>.crt, <name>.key (mode 0600) and ca.crt there')
    .addHelpText(
      'after',
      `\nExamples:\n  ${prefix} export registry --out-dir ./registry-tls\n  ${prefix} export registry -o json`,
    )
    .action(async (name: string, flags: { outDir?: string }, command: Command) => {
      const exported = await withApi(command, (api) =>
        api.get<ExportView>(`/v1/managed-certificates/${encodeURIComponent(name)}/export`),
      );
      const format = globalOptions(command).output;
      if (flags.outDir === undefined) {
        if (format === 'table') process.stdout.write(exported.certPem + exported.keyPem + exported.caPem);
        else await printData(format, exported);
        return;
      }
      fs.mkdirSync(flags.outDir, { recursive: true, mode: 0o700 });
      const keyPath = path.join(flags.outDir, `${name}.key`);
      fs.writeFileSync(keyPath, exported.keyPem, { mode: 0o600 });
      fs.chmodSync(keyPath, 0o600);
      fs.writeFileSync(path.join(flags.outDir, `${name}.crt`), exported.certPem);
      fs.writeFileSync(path.join(flags.outDir, 'ca.crt'), exported.caPem);
      process.stdout.write(`wrote ${name}.crt, ${name}.key and ca.crt to ${flags.outDir}\n`);
    });
}

/** `delete` on `parent` (`murm cert managed`, or `murm cert` itself): a managed certificate and its key file. */
export function addManagedDeleteCommand(parent: Command, prefix: string): Command {
  return parent
    .command('delete')
    .description('delete a managed certificate and its key file')
    .argument('<name>', 'a managed certificate, as "murm cert managed list" shows it')
    .option('-y, --yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .addHelpText('after', `\nExamples:\n  ${prefix} delete registry\n  ${prefix} delete registry --yes`)
    .action(async (name: string, flags: { yes?: true }, command: Command) => {
      const isDeleted = await withApi(command, async (api) => {
        if (!flags.yes && !(await isConfirmed(name))) return false;
        await api.delete(`/v1/managed-certificates/${encodeURIComponent(name)}`);
        return true;
      });
      process.stdout.write(
        isDeleted ? `deleted managed certificate ${name}\n` : `managed certificate ${name} not deleted\n`,
      );
    });
}

async function isConfirmed(name: string): Promise<boolean> {
  if (!isInteractive()) {
    throw new AppError(
      'invalid_input',
      `refusing to delete managed certificate "${name}" without confirmation; pass --yes`,
    );
  }
  return confirm(`Delete managed certificate "${name}" and its key?`);
}

function renewsAt(cert: ManagedCertificateView): string {
  return new Date(Date.parse(cert.notAfter) - cert.renewBeforeSeconds * 1000).toISOString();
}

function collectList(value: string, previous: string[]): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return [...previous, ...items];
}

/** Checked here for a usage error before any request; the API takes the text. */
function parseDurationText(value: string): string {
  const text = value.trim();
  if (text === '' || !DURATION.test(text)) throw new InvalidArgumentError(DURATION_HINT);
  return text;
}

async function report(format: OutputFormat, result: unknown, line: string): Promise<void> {
  if (format === 'table') process.stdout.write(`${line}\n`);
  else await printData(format, result);
}
