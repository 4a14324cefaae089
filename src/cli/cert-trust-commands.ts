import fs from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import { type Column, printData, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

/** A trusted CA as `GET /v1/trusted-cas` shows it. */
interface TrustedCaView {
  fingerprint: string;
  subject: string;
  notAfter: string;
  pem: string;
  addedAt: string;
  addedBy: string;
  isFleetWide: boolean;
}

const COLUMNS: readonly Column<TrustedCaView>[] = [
  { header: 'FINGERPRINT', value: (ca) => ca.fingerprint },
  { header: 'SUBJECT', value: (ca) => ca.subject },
  { header: 'NOT AFTER', value: (ca) => ca.notAfter },
  { header: 'ADDED', value: (ca) => ca.addedAt },
  { header: 'BY', value: (ca) => ca.addedBy },
  { header: 'FLEET', value: (ca) => ca.isFleetWide },
];

/** `murm cert trust …`: CA bundles the site trusts for outbound TLS (alarm webhooks). */
export function addCertTrustCommands(cert: Command): void {
  const trust = cert
    .command('trust')
    .description('add, list and remove the CA certificates the site trusts for outbound TLS')
    .addHelpText(
      'after',
      `
The site verifies HTTPS alarm webhook receivers against the system CAs, its own root CA and these.
Fleet-wide CAs (FLEET yes) are added on the system controller and copied to every managed subcloud;
there they are read-only.

Examples:
  murm cert trust add ./corporate-ca-bundle.pem
  murm cert trust add ./corporate-ca-bundle.pem --fleet-wide
  murm cert trust list
  murm cert trust modify 9c4e1f07… --no-fleet-wide
  murm cert trust remove 9c4e1f07…`,
    );

  trust
    .command('add')
    .description('trust every CA certificate of a PEM file (refused if it holds a non-CA certificate)')
    .argument('<file>', 'a PEM file of one or more CA certificates')
    .option('--fleet-wide', 'copy the CAs to every managed subcloud (on a system controller)')
    .addHelpText(
      'after',
      '\nExamples:\n  murm cert trust add ./corporate-ca-bundle.pem\n  murm cert trust add ./corporate-ca-bundle.pem --fleet-wide\n  murm cert trust add ./issuing-ca.crt -o json',
    )
    .action(async (file: string, flags: { fleetWide?: true }, command: Command) => {
      const pem = readPemFile(file);
      const body = { pem, ...(flags.fleetWide ? { fleetWide: true } : {}) };
      const added = await withApi(command, (api) =>
        api.post<{ items: TrustedCaView[] }>('/v1/trusted-cas', body),
      );
      const format = globalOptions(command).output;
      if (format !== 'table') {
        await printData(format, added);
        return;
      }
      for (const ca of added.items) {
        const scope = ca.isFleetWide ? ' (fleet-wide)' : '';
        process.stdout.write(`trusting ${ca.fingerprint} ${ca.subject}${scope}\n`);
      }
    });

  trust
    .command('list')
    .description(
      'list the trusted CAs (the system CAs and the site root CA are trusted without being listed)',
    )
    .addHelpText('after', '\nExamples:\n  murm cert trust list\n  murm cert trust list -o yaml')
    .action(async (_flags: unknown, command: Command) => {
      const page = await withApi(command, (api) => api.get<{ items: TrustedCaView[] }>('/v1/trusted-cas'));
      await printList(globalOptions(command).output, page.items, COLUMNS);
    });

  trust
    .command('modify')
    .description('mark a trusted CA fleet-wide (copied to every managed subcloud) or local again')
    .argument('<fingerprint>', 'SHA-256 fingerprint (hex), as "murm cert trust list" shows it')
    .option('--fleet-wide', 'copy the CA to every managed subcloud (on a system controller)')
    .option('--no-fleet-wide', 'stop copying the CA; the subclouds delete their copies')
    .addHelpText(
      'after',
      '\nExamples:\n  murm cert trust modify 9c4e1f07… --fleet-wide\n  murm cert trust modify 9c4e1f07… --no-fleet-wide',
    )
    .action(async (fingerprint: string, flags: { fleetWide?: boolean }, command: Command) => {
      if (flags.fleetWide === undefined) {
        throw new AppError('invalid_input', 'nothing to change; give --fleet-wide or --no-fleet-wide');
      }
      const body = { fleetWide: flags.fleetWide };
      const changed = await withApi(command, (api) =>
        api.patch<TrustedCaView>(`/v1/trusted-cas/${encodeURIComponent(fingerprint)}`, body),
      );
      const format = globalOptions(command).output;
      if (format !== 'table') {
        await printData(format, changed);
        return;
      }
      const scope = changed.isFleetWide ? 'fleet-wide' : 'local';
      process.stdout.write(`trusted CA ${changed.fingerprint} is ${scope}\n`);
    });

  trust
    .command('remove')
    .description('stop trusting a CA')
    .argument('<fingerprint>', 'SHA-256 fingerprint (hex), as "murm cert trust list" shows it')
    .addHelpText('after', '\nExamples:\n  murm cert trust remove 9c4e1f07…')
    .action(async (fingerprint: string, _flags: unknown, command: Command) => {
      await withApi(command, (api) => api.delete(`/v1/trusted-cas/${encodeURIComponent(fingerprint)}`));
      process.stdout.write(`removed trusted CA ${fingerprint}\n`);
    });
}

function readPemFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : (code ?? (error as Error).message);
    throw new AppError('invalid_input', `cannot read "${file}" (${reason}); give the path of a PEM file`);
  }
}
