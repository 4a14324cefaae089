import fs from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { AVAILABILITY_STATES, checkSubcloudName, MANAGEMENT_STATES } from '../dcloud/model.js';
import { SYNC_STATUSES } from '../dcloud/uplink-protocol.js';
import type { SubcloudDetail, SubcloudView } from '../dcloud/views.js';
import { addPageOptions, type PageFlags, readPages, reportMore } from './alarm-commands.js';
import { report } from './host-views.js';
import { printData, printList } from './output.js';
import { globalOptions, withApi } from './session.js';
import { addSubcloudModifyCommands } from './subcloud-modify-commands.js';
import {
  type AddedSubcloud,
  printJoinBundle,
  printJoinBundleFile,
  printSubcloudDetail,
  SUBCLOUD_COLUMNS,
  subcloudPath,
  subcloudStatesLine,
} from './subcloud-views.js';

/** The most subclouds `POST /v1/subclouds:batch` takes at once. */
const MAX_BATCH = 5000;
const PROGRESS_EVERY = 500;

interface ListFlags extends PageFlags {
  availability?: string;
  management?: string;
  syncStatus?: string;
  group?: string;
}

interface AddFlags {
  description?: string;
  location?: string;
  group?: string;
  bundleFile?: string;
  fromFile?: string;
  bundleDir?: string;
}

interface NewSubcloud {
  name: string;
  group?: string;
}

/** `murm subcloud …`: the subclouds of a system controller, their states, and how they join. */
export function addSubcloudCommands(program: Command): void {
  const subcloud = program
    .command('subcloud')
    .description('add, list, manage, unmanage and delete subclouds (on a system controller)')
    .addHelpText(
      'after',
      `
Examples:
  murm subcloud add edge-1 --location "Paris, rack 4" --bundle-file edge-1.bundle
  murm subcloud add --from-file sites.csv --bundle-dir ./bundles
  murm subcloud list --availability offline
  murm subcloud show edge-1
  murm subcloud manage edge-1
  murm subcloud delete edge-1 --force`,
    );

  addPageOptions(
    subcloud
      .command('list')
      .description('list subclouds by name with their states; the count of all matches goes to stderr')
      .addOption(
        new Option('--availability <state>', 'only online or offline ones').choices(AVAILABILITY_STATES),
      )
      .addOption(
        new Option('--management <state>', 'only managed or unmanaged ones').choices(MANAGEMENT_STATES),
      )
      .addOption(
        new Option('--sync-status <status>', 'only ones with this overall sync status').choices(
          SYNC_STATUSES,
        ),
      )
      .option('--group <group>', 'only the members of this subcloud group'),
  )
    .addHelpText(
      'after',
      `
Examples:
  murm subcloud list
  murm subcloud list --management managed --sync-status out-of-sync
  murm subcloud list --group Default --all -o json`,
    )
    .action(async (flags: ListFlags, command: Command) => {
      const query = {
        availability: flags.availability,
        management: flags.management,
        syncStatus: flags.syncStatus,
        group: flags.group,
        limit: flags.limit,
      };
      let total = 0;
      const { items, next } = await withApi(command, (api) =>
        readPages(flags, async (cursor) => {
          const page = await api.get<{ items: SubcloudView[]; next?: string; total: number }>(
            '/v1/subclouds',
            {
              ...query,
              next: cursor,
            },
          );
          total = page.total;
          return page;
        }),
      );
      const format = globalOptions(command).output;
      // Scripts get the count of all matches with the items; people get it on stderr, under the table.
      if (format === 'table') await printList(format, items, SUBCLOUD_COLUMNS);
      else await printData(format, { items, total, ...(next === undefined ? {} : { next }) });
      process.stderr.write(`${items.length} of ${total}\n`);
      reportMore(next, 'subclouds');
    });

  subcloud
    .command('show')
    .description("show a subcloud's states, software version, alarms and the sync status of each endpoint")
    .argument('<name>', 'subcloud name')
    .addHelpText('after', '\nExamples:\n  murm subcloud show edge-1\n  murm subcloud show edge-1 -o json')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) => api.get<SubcloudDetail>(subcloudPath(name)));
      await printSubcloudDetail(globalOptions(command).output, found);
    });

  subcloud
    .command('add')
    .description('add a subcloud (unmanaged) and print its one-time join bundle, or add many from a file')
    .argument('[name]', 'subcloud name: lowercase letters, digits and "-", at most 63 characters')
    .option('--description <text>', 'what the subcloud is')
    .option('--location <text>', 'where the subcloud is')
    .option(
      '--group <group>',
      'its subcloud group (default: Default); with --from-file, for lines without one',
    )
    .option(
      '--bundle-file <file>',
      'write the join bundle to this new file (mode 0600) instead of printing it',
    )
    .option(
      '--from-file <file>',
      'add every subcloud of this file: one name per line, optionally "name,group"',
    )
    .option(
      '--bundle-dir <dir>',
      'with --from-file: write each join bundle to <dir>/<name>.bundle (mode 0600)',
    )
    .addHelpText(
      'after',
      `
The join bundle holds a one-time token; the server keeps only its hash, so it is shown only once.

Examples:
  murm subcloud add edge-1
  murm subcloud add edge-2 --group east --location "Lyon" --bundle-file ./edge-2.bundle
  murm subcloud add --from-file sites.csv --bundle-dir ./bundles
  murm subcloud add edge-3 -o json`,
    )
    .action(async (name: string | undefined, flags: AddFlags, command: Command) => {
      if (flags.fromFile === undefined) await addOne(command, name, flags);
      else await addFromFile(command, name, { ...flags, fromFile: flags.fromFile });
    });

  for (const action of ['manage', 'unmanage'] as const) {
    subcloud
      .command(action)
      .description(
        action === 'manage'
          ? 'manage a subcloud: push fleet-wide resources to it and raise its alarms'
          : 'unmanage a subcloud: no more pushes, its 280.x alarms cleared; its status is still shown',
      )
      .argument('<name>', 'subcloud name')
      .addHelpText(
        'after',
        `\nExamples:\n  murm subcloud ${action} edge-1\n  murm subcloud ${action} edge-1 -o json`,
      )
      .action(async (name: string, _flags: unknown, command: Command) => {
        const changed = await withApi(command, (api) =>
          api.post<SubcloudView>(`${subcloudPath(name)}/${action}`),
        );
        await report(globalOptions(command).output, changed, subcloudStatesLine(changed));
      });
  }

  addSubcloudModifyCommands(subcloud);
  subcloud
    .command('delete')
    .description(
      'delete an unmanaged subcloud and revoke its uplink certificate; a managed one only with --force',
    )
    .argument('<name>', 'subcloud name')
    .option('--force', 'delete it even though it is managed')
    .addHelpText('after', '\nExamples:\n  murm subcloud delete edge-1\n  murm subcloud delete edge-1 --force')
    .action(async (name: string, flags: { force?: true }, command: Command) => {
      const target = `${subcloudPath(name)}${flags.force ? '?force=true' : ''}`;
      await withApi(command, (api) => api.delete(target));
      process.stdout.write(`deleted subcloud "${name}"\n`);
    });
}

async function addOne(command: Command, name: string | undefined, flags: AddFlags): Promise<void> {
  if (name === undefined) usage('give a subcloud name, or --from-file with a file of names');
  if (flags.bundleDir !== undefined)
    usage('--bundle-dir goes with --from-file; for one subcloud use --bundle-file');
  // Checked before the subcloud exists: a bundle that cannot be written is lost for good.
  if (flags.bundleFile !== undefined) assertFree(flags.bundleFile);
  const body = {
    name,
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.location === undefined ? {} : { location: flags.location }),
    ...(flags.group === undefined ? {} : { group: flags.group }),
  };
  const added = await withApi(command, (api) => api.post<AddedSubcloud>('/v1/subclouds', body));
  const format = globalOptions(command).output;
  if (flags.bundleFile === undefined) {
    if (format === 'table') printJoinBundle(added.subcloud, added.bundle);
    else await printData(format, added);
    return;
  }
  writeBundle(flags.bundleFile, added.bundle);
  if (format === 'table') printJoinBundleFile(added.subcloud, flags.bundleFile);
  else await printData(format, { subcloud: added.subcloud, bundleFile: path.resolve(flags.bundleFile) });
}

async function addFromFile(
  command: Command,
  name: string | undefined,
  flags: AddFlags & { fromFile: string },
): Promise<void> {
  if (name !== undefined) usage('give either a subcloud name or --from-file, not both');
  if (flags.bundleDir === undefined)
    usage('--from-file needs --bundle-dir, where each join bundle is written');
  if (flags.bundleFile !== undefined || flags.description !== undefined || flags.location !== undefined) {
    usage('--bundle-file, --description and --location are for one subcloud; not with --from-file');
  }
  const { subclouds, lines } = readSubcloudFile(flags.fromFile, flags.group);
  const bundleDir = flags.bundleDir;
  fs.mkdirSync(bundleDir, { recursive: true, mode: 0o700 });
  for (const each of subclouds) assertFree(bundleFile(bundleDir, each.name));
  process.stderr.write(`adding ${subclouds.length} subclouds from ${flags.fromFile}…\n`);
  const { items } = await withApi(command, (api) =>
    api.post<{ items: AddedSubcloud[] }>('/v1/subclouds:batch', { subclouds }),
  ).catch((error: unknown) => {
    throw atLine(error, flags.fromFile, lines);
  });
  const written = items.map((added, index) => {
    const file = bundleFile(bundleDir, added.subcloud.name);
    writeBundle(file, added.bundle);
    const count = index + 1;
    if (count % PROGRESS_EVERY === 0 && count < items.length) {
      process.stderr.write(`wrote ${count} of ${items.length} join bundles\n`);
    }
    return { subcloud: added.subcloud, bundleFile: path.resolve(file) };
  });
  const format = globalOptions(command).output;
  if (format !== 'table') return printData(format, { items: written });
  process.stdout.write(
    `added ${items.length} subclouds; wrote their join bundles to ${path.join(bundleDir, '<name>.bundle')} ` +
      '(mode 0600; each holds a one-time token: keep them secret).\n' +
      'copy each file to its subcloud and run there:\n' +
      '  murm serve --join "$(cat <name>.bundle)"     # starts the subcloud and joins\n' +
      '  murm dc join --bundle-file <name>.bundle      # or, where murm already runs\n',
  );
}

/**
 * The subclouds of a names file: one per line as `name` or `name,group` (a CSV with an optional
 * `name,group` header); blank lines and `#` comments are skipped. Throws `invalid_input` naming the line.
 */
function readSubcloudFile(
  file: string,
  defaultGroup: string | undefined,
): { subclouds: NewSubcloud[]; lines: number[] } {
  const subclouds: NewSubcloud[] = [];
  const lines: number[] = [];
  const seen = new Map<string, number>();
  readText(file)
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim();
      const where = `line ${index + 1} of ${file}`;
      if (line === '' || line.startsWith('#')) return;
      const fields = line.split(',').map((field) => field.trim());
      const [name = '', group = ''] = fields;
      // A CSV may start with a header row.
      if (subclouds.length === 0 && name.toLowerCase() === 'name') return;
      if (fields.length > 2) usage(`${where}: "${line}" is not "name" or "name,group"`);
      const refusal = checkSubcloudName(name);
      if (refusal) usage(`${where}: ${refusal.reason}`);
      const first = seen.get(name);
      if (first !== undefined) usage(`${where}: subcloud "${name}" is already on line ${first}`);
      seen.set(name, index + 1);
      const chosen = group === '' ? defaultGroup : group;
      subclouds.push(chosen === undefined ? { name } : { name, group: chosen });
      lines.push(index + 1);
    });
  if (subclouds.length === 0) usage(`${file} names no subclouds; give one name per line`);
  if (subclouds.length > MAX_BATCH) {
    usage(`${file} names ${subclouds.length} subclouds; add at most ${MAX_BATCH} at once (split the file)`);
  }
  return { subclouds, lines };
}

/** The API names a refused batch item by its index (`items[3]: …`); people need the line of their file. */
function atLine(error: unknown, file: string, lines: readonly number[]): unknown {
  const index = error instanceof AppError ? error.details.index : undefined;
  const line = typeof index === 'number' ? lines[index] : undefined;
  if (!(error instanceof AppError) || line === undefined) return error;
  const message = error.message.replace(/^items\[\d+\]: /, '');
  return new AppError(error.code, `line ${line} of ${file}: ${message}`, error.details);
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    return usage(`cannot read "${file}" (${reason})`);
  }
}

function bundleFile(dir: string, name: string): string {
  return path.join(dir, `${name}.bundle`);
}

/** Refuses a bundle path that exists already: an older bundle there would be overwritten or confused. */
function assertFree(file: string): void {
  if (fs.existsSync(file)) usage(`"${file}" exists already; remove it or write the bundle elsewhere`);
}

/** Writes a bundle only its owner can read; `wx` so a file created meanwhile is never overwritten. */
function writeBundle(file: string, bundle: string): void {
  fs.writeFileSync(file, `${bundle}\n`, { mode: 0o600, flag: 'wx' });
}

function usage(message: string): never {
  throw new AppError('invalid_input', message);
}
