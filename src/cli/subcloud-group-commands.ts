import { type Command, InvalidArgumentError, Option } from 'commander';
import { AppError } from '../core/errors.js';
import type { GroupView } from '../dcloud/groups.js';
import { MAX_PARALLEL_SUBCLOUDS, UPDATE_APPLY_TYPES, type UpdateApplyType } from '../dcloud/model.js';
import { report } from './host-views.js';
import { type Column, printItem, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

interface GroupFlags {
  description?: string;
  updateApplyType?: UpdateApplyType;
  maxParallelSubclouds?: number;
}

const GROUP_COLUMNS: readonly Column<GroupView>[] = [
  { header: 'NAME', value: (group) => group.name },
  { header: 'APPLY TYPE', value: (group) => group.updateApplyType },
  { header: 'MAX PARALLEL', value: (group) => group.maxParallelSubclouds },
  { header: 'SUBCLOUDS', value: (group) => group.subclouds },
  { header: 'DESCRIPTION', value: (group) => group.description },
];

const GROUP_FIELDS: readonly Column<GroupView>[] = [
  ...GROUP_COLUMNS,
  { header: 'CREATED', value: (group) => group.createdAt },
  { header: 'UPDATED', value: (group) => group.updatedAt },
];

/** `murm subcloud-group …`: groups of subclouds and how updates are applied across their members. */
export function addSubcloudGroupCommands(program: Command): void {
  const group = program
    .command('subcloud-group')
    .description('add, list, modify and delete subcloud groups (on a system controller)')
    .addHelpText(
      'after',
      `
Examples:
  murm subcloud-group list
  murm subcloud-group add east --update-apply-type serial
  murm subcloud-group modify east --max-parallel-subclouds 10
  murm subcloud-group delete east`,
    );

  group
    .command('list')
    .description('list subcloud groups with their update settings and member counts')
    .addHelpText('after', '\nExamples:\n  murm subcloud-group list\n  murm subcloud-group list -o json')
    .action(async (_flags: unknown, command: Command) => {
      const { items } = await withApi(command, (api) =>
        api.get<{ items: GroupView[] }>('/v1/subcloud-groups'),
      );
      await printList(globalOptions(command).output, items, GROUP_COLUMNS);
    });

  group
    .command('show')
    .description('show a subcloud group')
    .argument('<name>', 'group name')
    .addHelpText(
      'after',
      '\nExamples:\n  murm subcloud-group show Default\n  murm subcloud-group show east -o json',
    )
    .action(async (name: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) => api.get<GroupView>(groupPath(name)));
      await printItem(globalOptions(command).output, found, GROUP_FIELDS);
    });

  addSettingOptions(
    group
      .command('add')
      .description('add a subcloud group (default: parallel, at most 2 subclouds at a time)')
      .argument('<name>', 'group name, up to 255 characters, not all digits'),
  )
    .addHelpText(
      'after',
      `
Examples:
  murm subcloud-group add east
  murm subcloud-group add canary --update-apply-type serial --description "first to update"
  murm subcloud-group add bulk --max-parallel-subclouds 100 -o json`,
    )
    .action(async (name: string, flags: GroupFlags, command: Command) => {
      const added = await withApi(command, (api) =>
        api.post<GroupView>('/v1/subcloud-groups', { name, ...settings(flags) }),
      );
      await report(globalOptions(command).output, added, `added ${groupLine(added)}`);
    });

  addSettingOptions(
    group
      .command('modify')
      .description('change the description or update settings of a subcloud group')
      .argument('<name>', 'group name'),
  )
    .addHelpText(
      'after',
      `
Examples:
  murm subcloud-group modify east --update-apply-type parallel --max-parallel-subclouds 10
  murm subcloud-group modify Default --description "everything else"`,
    )
    .action(async (name: string, flags: GroupFlags, command: Command) => {
      const patch = settings(flags);
      if (Object.keys(patch).length === 0) {
        throw new AppError(
          'invalid_input',
          'nothing to change; give --description, --update-apply-type or --max-parallel-subclouds',
        );
      }
      const changed = await withApi(command, (api) => api.patch<GroupView>(groupPath(name), patch));
      await report(globalOptions(command).output, changed, `modified ${groupLine(changed)}`);
    });

  group
    .command('delete')
    .description('delete an empty subcloud group (Default cannot be deleted)')
    .argument('<name>', 'group name')
    .addHelpText('after', '\nExamples:\n  murm subcloud-group delete east')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withApi(command, (api) => api.delete(groupPath(name)));
      process.stdout.write(`deleted subcloud group "${name}"\n`);
    });
}

function addSettingOptions(command: Command): Command {
  return command
    .option('--description <text>', 'what the group is for')
    .addOption(
      new Option(
        '--update-apply-type <type>',
        'update the members one at a time, or several at once',
      ).choices(UPDATE_APPLY_TYPES),
    )
    .option(
      '--max-parallel-subclouds <n>',
      `how many members update at once, 1–${MAX_PARALLEL_SUBCLOUDS}`,
      parseMaxParallel,
    );
}

function parseMaxParallel(value: string): number {
  const max = Number(value);
  if (!Number.isInteger(max) || max < 1 || max > MAX_PARALLEL_SUBCLOUDS) {
    throw new InvalidArgumentError(`give a whole number from 1 to ${MAX_PARALLEL_SUBCLOUDS}`);
  }
  return max;
}

function settings(flags: GroupFlags): Partial<GroupFlags> {
  return {
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.updateApplyType === undefined ? {} : { updateApplyType: flags.updateApplyType }),
    ...(flags.maxParallelSubclouds === undefined ? {} : { maxParallelSubclouds: flags.maxParallelSubclouds }),
  };
}

function groupPath(name: string): string {
  return `/v1/subcloud-groups/${encodeURIComponent(name)}`;
}

function groupLine(group: GroupView): string {
  return `subcloud group "${group.name}" (${group.updateApplyType}, at most ${group.maxParallelSubclouds} at a time)`;
}
