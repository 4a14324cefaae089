import fs from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { registerFdoVoucherCommands } from './fdo-voucher-commands.js';
import { parseLimit } from './option-parsers.js';
import { type Column, printData, printItem, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

interface RegistrationView {
  guid: string;
  deviceInfo: string;
  ownerKeyHash: string;
  manufacturerKeyHash: string;
  to2Addresses: { ip: string | null; dns: string | null; port: number; protocol: string }[];
  waitSeconds: number;
  source: string;
  registeredAt: string;
  expiresAt: string;
}

interface RuleView {
  list: string;
  subject: string;
  value: string;
  createdAt: string;
}

const REGISTRATIONS = '/v1/fdo/registrations';
const RULES = '/v1/fdo/access-rules';
const SUBJECTS = ['owner-key', 'manufacturer-key', 'guid'] as const;
const TO2_PROTOCOLS: Record<string, number> = { tcp: 1, tls: 2, http: 3, https: 5 };

const addresses = (r: RegistrationView) =>
  r.to2Addresses.map((a) => `${a.protocol}://${a.dns ?? a.ip}:${a.port}`).join(', ');

const REGISTRATION_COLUMNS: readonly Column<RegistrationView>[] = [
  { header: 'GUID', value: (r) => r.guid },
  { header: 'DEVICE INFO', value: (r) => r.deviceInfo },
  { header: 'TO2', value: addresses },
  { header: 'EXPIRES', value: (r) => r.expiresAt },
];

const REGISTRATION_FIELDS: readonly Column<RegistrationView>[] = [
  ...REGISTRATION_COLUMNS.slice(0, 3),
  { header: 'OWNER KEY HASH', value: (r) => r.ownerKeyHash },
  { header: 'MANUFACTURER KEY HASH', value: (r) => r.manufacturerKeyHash },
  { header: 'WAIT SECONDS', value: (r) => r.waitSeconds },
  { header: 'REGISTERED BY', value: (r) => r.source },
  { header: 'REGISTERED', value: (r) => r.registeredAt },
  { header: 'EXPIRES', value: (r) => r.expiresAt },
];

const RULE_COLUMNS: readonly Column<RuleView>[] = [
  { header: 'LIST', value: (r) => r.list },
  { header: 'SUBJECT', value: (r) => r.subject },
  { header: 'VALUE', value: (r) => r.value },
  { header: 'CREATED', value: (r) => r.createdAt },
];

/** `murm fdo …`: the FDO rendezvous's registrations and allow/deny lists, and TO0/TO1 as owner and device. */
export function addFdoCommands(program: Command): void {
  const fdo = program
    .command('fdo')
    .description('FIDO Device Onboard: rendezvous registrations, allow/deny lists, vouchers, TO0 and TO1')
    .addHelpText(
      'after',
      `
Examples:
  murm fdo registration list
  murm fdo deny guid 66b2146ffec53ca6ad017625990572ce
  murm fdo to0 --voucher dev1.ov.pem --owner-key owner.pem --rv http://rv.example:8040 --to2 owner.example:8043
  murm fdo to1 --device-credential dc.bin --rv http://rv.example:8040`,
    );
  addRegistrationCommands(fdo);
  registerFdoVoucherCommands(fdo);
  for (const list of ['allow', 'deny'] as const) addRuleCommands(fdo, list);
  addTo0Command(fdo);
  addTo1Command(fdo);
}

function addRegistrationCommands(fdo: Command): void {
  const registration = fdo
    .command('registration')
    .description('owner registrations (TO0) the rendezvous serves to devices (TO1)');
  registration
    .command('list')
    .description('list live registrations by GUID')
    .option('--limit <n>', 'most registrations to show', parseLimit, 100)
    .addHelpText('after', '\nExamples:\n  murm fdo registration list\n  murm fdo registration list -o json')
    .action(async (flags: { limit: number }, command: Command) => {
      const page = await withApi(command, (api) =>
        api.get<{ items: RegistrationView[] }>(REGISTRATIONS, { limit: String(flags.limit) }),
      );
      await printList(globalOptions(command).output, page.items, REGISTRATION_COLUMNS);
    });
  registration
    .command('show')
    .description('show one registration')
    .argument('<guid>', 'device GUID (32 hex digits, dashes allowed)')
    .action(async (guid: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) =>
        api.get<RegistrationView>(`${REGISTRATIONS}/${encodeURIComponent(guid)}`),
      );
      await printItem(globalOptions(command).output, found, REGISTRATION_FIELDS);
    });
  registration
    .command('delete')
    .description('delete a registration; the device then finds no owner until the owner runs TO0 again')
    .argument('<guid>', 'device GUID')
    .action(async (guid: string, _flags: unknown, command: Command) => {
      await withApi(command, (api) => api.delete(`${REGISTRATIONS}/${encodeURIComponent(guid)}`));
      process.stdout.write(`fdo registration "${guid}" deleted\n`);
    });
}

function addRuleCommands(fdo: Command, list: 'allow' | 'deny'): void {
  const explain =
    list === 'allow'
      ? 'when any allow rule exists, only devices whose GUID, owner key or manufacturer key is allowed register (TO0) and are served (TO1)'
      : 'TO0 refuses, and TO1 no longer serves, a device whose GUID, owner key or manufacturer key is denied';
  const group = fdo
    .command(list)
    .description(`the ${list} list: ${explain}`)
    .addHelpText(
      'after',
      `\nKeys are named by the SHA-384 (hex) of their CBOR PublicKey, as "murm fdo voucher show" prints them.\n\nExamples:\n  murm fdo ${list} add guid 66b2146ffec53ca6ad017625990572ce\n  murm fdo ${list} add manufacturer-key 3f1c…(96 hex digits)\n  murm fdo ${list} list -o json\n  murm fdo ${list} remove guid 66b2146ffec53ca6ad017625990572ce`,
    );
  group
    .command('add')
    .description(`add a GUID or owner key to the ${list} list`)
    .argument('<subject>', `${SUBJECTS.join(' | ')}`)
    .argument('<value>', 'GUID (hex) or key SHA-384 (hex)')
    .action(async (kind: string, value: string, _flags: unknown, command: Command) => {
      const rule = await withApi(command, (api) => api.put<RuleView>(rulePath(list, kind, value), {}));
      const output = globalOptions(command).output;
      if (output !== 'table') await printData(output, rule);
      else process.stdout.write(`${rule.subject} "${rule.value}" added to the fdo ${list} list\n`);
    });
  group
    .command('remove')
    .description(`remove a GUID or owner key from the ${list} list`)
    .argument('<subject>', `${SUBJECTS.join(' | ')}`)
    .argument('<value>', 'GUID (hex) or key SHA-384 (hex)')
    .action(async (kind: string, value: string, _flags: unknown, command: Command) => {
      await withApi(command, (api) => api.delete(rulePath(list, kind, value)));
      process.stdout.write(`${kind} "${value}" removed from the fdo ${list} list\n`);
    });
  group
    .command('list')
    .description(`list the ${list} rules`)
    .action(async (_flags: unknown, command: Command) => {
      const rules = await withApi(command, (api) => api.get<{ items: RuleView[] }>(RULES));
      const items = rules.items.filter((rule) => rule.list === list);
      await printList(globalOptions(command).output, items, RULE_COLUMNS);
    });
}

function rulePath(list: string, subject: string, value: string): string {
  if (!(SUBJECTS as readonly string[]).includes(subject)) {
    throw new AppError('invalid_input', `subject "${subject}" is not one of ${SUBJECTS.join(', ')}`);
  }
  return `${RULES}/${list}/${subject}/${encodeURIComponent(value)}`;
}

function addTo0Command(fdo: Command): void {
  fdo
    .command('to0')
    .description('as the owner: register a device with a rendezvous server (TO0) so it is sent to --to2')
    .requiredOption('--voucher <file>', 'ownership voucher (PEM or CBOR) whose last entry is your key')
    .requiredOption('--owner-key <file>', 'your owner private key (PEM)')
    .requiredOption('--rv <url>', 'rendezvous URL, e.g. http://rv.example:8040')
    .requiredOption('--to2 <host:port...>', 'where your TO2 server listens (repeatable)')
    .addOption(
      new Option('--to2-protocol <protocol>', 'TO2 transport')
        .choices(Object.keys(TO2_PROTOCOLS))
        .default('http'),
    )
    .option(
      '--wait <seconds>',
      'registration time to ask for (the server may grant less)',
      parseWaitSeconds,
      86_400,
    )
    .action(
      async (
        flags: {
          voucher: string;
          ownerKey: string;
          rv: string;
          to2: string[];
          to2Protocol: string;
          wait: number;
        },
        command: Command,
      ) => {
        const { createPrivateKey } = await import('node:crypto');
        const { FdoClient, parseTo2Target, registerOwner } = await import('../fdo/client.js');
        const voucher = readVoucherCbor(flags.voucher);
        const ownerKey = createPrivateKey(readFile(flags.ownerKey));
        const to2 = flags.to2.map((text) => parseTo2Target(text, TO2_PROTOCOLS[flags.to2Protocol]));
        const { waitSeconds: granted } = await withRendezvous(new FdoClient(flags.rv), flags.rv, (client) =>
          registerOwner(client, { voucher, ownerKey, to2, waitSeconds: flags.wait }),
        );
        const output = globalOptions(command).output;
        if (output !== 'table') await printData(output, { rv: flags.rv, waitSeconds: granted });
        else process.stdout.write(`registered with ${flags.rv} for ${granted} seconds\n`);
      },
    );
}

function addTo1Command(fdo: Command): void {
  fdo
    .command('to1')
    .description('as the device: ask a rendezvous server where the owner is (TO1) and print the redirect')
    .requiredOption('--device-credential <file>', 'device credential (CBOR, e.g. dc.bin)')
    .requiredOption('--rv <url>', 'rendezvous URL, e.g. http://rv.example:8040')
    .action(async (flags: { deviceCredential: string; rv: string }, command: Command) => {
      const { FdoClient, findOwner } = await import('../fdo/client.js');
      const { readDeviceCredential } = await import('../fdo/device-credential.js');
      const credential = readDeviceCredential(readFile(flags.deviceCredential));
      const redirect = await withRendezvous(new FdoClient(flags.rv), flags.rv, (client) =>
        findOwner(client, credential),
      );
      const output = globalOptions(command).output;
      const guid = Buffer.from(credential.guid).toString('hex');
      if (output !== 'table') {
        await printData(output, {
          guid,
          to2Addresses: redirect.to2Addresses,
          to1d: Buffer.from(redirect.to1d).toString('base64'),
        });
      } else {
        const lines = redirect.to2Addresses.map((a) => `  ${a.protocol}://${a.dns ?? a.ip}:${a.port}`);
        process.stdout.write(`device ${guid}: owner at\n${lines.join('\n')}\n`);
      }
    });
}

/** `murm rendezvous`: only the FDO listener, on the database of a site whose API manages it. */
export function addRendezvousCommand(program: Command): void {
  program
    .command('rendezvous')
    .description(
      'run only the FDO rendezvous (TO0/TO1) on a site database; "murm fdo" on that site manages it',
    )
    .option('--listen <host:port>', 'FDO listener address (env MURM_FDO_LISTEN; default 127.0.0.1:8040)')
    .option('--data-dir <dir>', 'data directory whose SQLite database to use (env MURM_DATA_DIR)')
    .option('--database <url>', 'postgres://… URL or sqlite:<file> (env MURM_DATABASE)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env MURM_LOG_LEVEL)')
    .addHelpText(
      'after',
      '\nEnvironment: MURM_FDO_MAX_WAIT_SECONDS, MURM_FDO_SESSION_TTL, MURM_FDO_MAX_SESSIONS, MURM_FDO_RATE,\nMURM_FDO_RATE_BURST (see "murm serve --help").\n\nExamples:\n  murm rendezvous --listen 0.0.0.0:8040 --data-dir /var/lib/murm\n  murm rendezvous --database postgres://murm@db.example:5432/murm',
    )
    .action(async (flags: { listen?: string; dataDir?: string; database?: string; logLevel?: string }) => {
      const [{ resolveServeConfig }, { runRendezvous }] = await Promise.all([
        import('../core/config.js'),
        import('../main.js'),
      ]);
      const { listen, ...rest } = flags;
      const fdoListen = listen ?? (process.env.MURM_FDO_LISTEN || '127.0.0.1:8040');
      const config = resolveServeConfig({ ...rest, fdoListen }, process.env, process.cwd());
      await runRendezvous(config, config.fdoListen ?? { host: '127.0.0.1', port: 8040 });
    });
}

/**
 * Runs one exchange with a rendezvous and closes the client. A refusal keeps its FDO error code in the
 * message (exit 1); a server that cannot be reached is `unavailable` (exit 7).
 */
async function withRendezvous<C extends { close(): Promise<void> }, T>(
  client: C,
  url: string,
  exchange: (client: C) => Promise<T>,
): Promise<T> {
  try {
    return await exchange(client);
  } catch (error) {
    if (error instanceof Error && error.name === 'FdoError') throw error;
    throw new AppError('unavailable', `cannot reach the rendezvous at ${url}: ${(error as Error).message}`);
  } finally {
    await client.close();
  }
}

function parseWaitSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 1 || seconds > 0xffffffff) {
    throw new InvalidArgumentError('give a whole number of seconds from 1 to 4294967295');
  }
  return seconds;
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new AppError('invalid_input', `cannot read "${file}": ${(error as Error).message}`);
  }
}

/** A voucher file as raw CBOR: PEM ("OWNERSHIP VOUCHER" armour) or CBOR already. */
function readVoucherCbor(file: string): Uint8Array {
  const bytes = readFile(file);
  const text = bytes.toString('latin1');
  if (!text.includes('-----BEGIN')) return new Uint8Array(bytes);
  const match = /-----BEGIN OWNERSHIP VOUCHER-----([\s\S]*?)-----END OWNERSHIP VOUCHER-----/.exec(text);
  if (!match?.[1]) throw new AppError('invalid_input', `"${file}" has no OWNERSHIP VOUCHER block`);
  return new Uint8Array(Buffer.from(match[1].replace(/\s+/g, ''), 'base64'));
}
