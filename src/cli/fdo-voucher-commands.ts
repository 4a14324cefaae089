import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import { keyFitsType } from '../fdo/crypto.js';
import { FdoError } from '../fdo/errors.js';
import {
  encodeVoucherPem,
  extendVoucher,
  parseVoucher,
  type Voucher,
  verifyVoucher,
} from '../fdo/voucher.js';
import { summarizeVoucher, type VoucherSummary } from '../fdo/voucher-summary.js';
import { CheckFailedError } from './check-failed.js';
import { formatTable, printData } from './output.js';
import { globalOptions } from './session.js';

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : (code ?? (error as Error).message);
    throw new AppError('invalid_input', `cannot read ${what} "${file}" (${reason})`);
  }
}

function readVoucher(file: string): Voucher {
  try {
    return parseVoucher(new Uint8Array(readFile(file, 'voucher')));
  } catch (error) {
    if (!(error instanceof FdoError)) throw error;
    throw new AppError(
      'invalid_input',
      `"${file}" is not a usable FDO 1.1 ownership voucher (${error.message}); give a PEM or CBOR voucher`,
    );
  }
}

function readPrivateKey(file: string): KeyObject {
  try {
    return createPrivateKey(readFile(file, 'private key'));
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('invalid_input', `"${file}" is not a PEM private key (${(error as Error).message})`);
  }
}

/** The next owner's key from a public key, a certificate or (for convenience) a private key PEM. */
function readPublicKey(file: string): KeyObject {
  const pem = readFile(file, 'public key');
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return new X509Certificate(pem).publicKey;
    return createPublicKey(pem);
  } catch (error) {
    throw new AppError(
      'invalid_input',
      `"${file}" is not a PEM public key, certificate or private key (${(error as Error).message})`,
    );
  }
}

function printSummary(s: VoucherSummary): void {
  const rows: string[][] = [
    ['GUID:', s.guid],
    ['Device info:', s.deviceInfo],
    ['Protocol version:', `${s.protocolVersion} (FDO 1.1)`],
    ['Manufacturer key:', `${s.manufacturerKey.type} sha384:${s.manufacturerKey.hash}`],
    ['Header HMAC:', s.headerHmacType],
    ...s.rendezvous.map((line, i) => [i === 0 ? 'Rendezvous:' : '', line]),
    ['Owner key hash:', s.ownerKeyHash],
  ];
  process.stdout.write(formatTable(rows));
  process.stdout.write('\nDevice certificate chain (leaf first):\n');
  process.stdout.write(
    formatTable([
      ['#', 'SUBJECT', 'ISSUER', 'VALID FROM', 'VALID TO'],
      ...s.deviceCertificates.map((c, i) => [String(i), c.subject, c.issuer, c.validFrom, c.validTo]),
    ]),
  );
  process.stdout.write(`\nEntries (${s.entries.length}):\n`);
  if (s.entries.length > 0) {
    process.stdout.write(
      formatTable([
        ['#', 'KEY TYPE', 'OWNER KEY HASH (SHA-384)'],
        ...s.entries.map((e) => [String(e.index), e.keyType, e.keyHash]),
      ]),
    );
  }
  const code = s.verification.code === undefined ? '' : ` [FDO error ${s.verification.code}]`;
  process.stdout.write(
    `\nVerification: ${s.verification.isValid ? '' : 'FAILED: '}${s.verification.detail}${code}\n`,
  );
}

/** `murm fdo voucher …`: inspect and extend ownership vouchers offline (no server needed). */
export function registerFdoVoucherCommands(fdo: Command): void {
  const voucher = fdo
    .command('voucher')
    .description('inspect and extend FDO ownership vouchers (offline)')
    .addHelpText(
      'after',
      `
Examples:
  murm fdo voucher show device.ov.pem
  murm fdo voucher extend device.ov.pem --key my-owner-key.pem --to next-owner-pub.pem --out next.ov.pem`,
    );

  voucher
    .command('show')
    .description('decode and verify a voucher: GUID, RV info, device chain, entries, owner key hash')
    .argument('<file>', 'ownership voucher, PEM ("OWNERSHIP VOUCHER") or raw CBOR')
    .addHelpText(
      'after',
      '\nExits 1 when the voucher does not verify (the summary is printed anyway).\n\nExamples:\n  murm fdo voucher show device.ov.pem\n  murm fdo voucher show device.ov.pem -o json',
    )
    .action(async (file: string, _flags: unknown, command: Command) => {
      const summary = summarizeVoucher(readVoucher(file), new Date());
      const format = globalOptions(command).output;
      if (format === 'table') printSummary(summary);
      else await printData(format, summary);
      if (!summary.verification.isValid) {
        throw new CheckFailedError(`voucher "${file}" does not verify: ${summary.verification.detail}`);
      }
    });

  voucher
    .command('extend')
    .description('transfer a voucher to a new owner: append an entry signed by the current owner key')
    .argument('<file>', 'ownership voucher, PEM or raw CBOR')
    .requiredOption(
      '--key <file>',
      'PEM private key of the current owner (the manufacturer key if no entries)',
    )
    .requiredOption('--to <file>', 'PEM public key (or certificate) of the next owner')
    .option('--out <file>', 'write the extended voucher here instead of stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  murm fdo voucher extend ov.pem --key mfg_key.pem --to owner-pub.pem > owner.ov.pem\n  murm fdo voucher extend owner.ov.pem --key owner.pem --to buyer-pub.pem --out buyer.ov.pem',
    )
    .action(async (file: string, flags: { key: string; to: string; out?: string }, command: Command) => {
      const current = readVoucher(file);
      const previousKey = readPrivateKey(flags.key);
      const nextKey = readPublicKey(flags.to);
      if (!keyFitsType(current.header.manufacturerKey.type, nextKey)) {
        process.stderr.write(
          `murm: warning: the next owner key is not of the manufacturer key's type ${current.header.manufacturerKey.type}; FDO wants every key of a voucher to share it, and devices with limited crypto may fail TO2\n`,
        );
      }
      let extended: Voucher;
      try {
        extended = extendVoucher(current, previousKey, nextKey);
      } catch (error) {
        if (!(error instanceof FdoError)) throw error;
        throw new AppError('invalid_input', `cannot extend "${file}": ${error.message}`);
      }
      const pem = encodeVoucherPem(extended);
      if (flags.out === undefined) {
        process.stdout.write(pem);
        return;
      }
      fs.writeFileSync(flags.out, pem);
      const verified = verifyVoucher(extended, { allowNoEntries: true });
      const result = {
        file: flags.out,
        guid: verified.guidHex,
        entryCount: verified.entryCount,
        ownerKeyHash: verified.ownerKeyHash,
      };
      const format = globalOptions(command).output;
      if (format !== 'table') await printData(format, result);
      else
        process.stdout.write(
          `wrote ${flags.out}: ${result.entryCount} entries, owner key sha384:${result.ownerKeyHash}\n`,
        );
    });
}
