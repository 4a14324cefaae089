import { type Command, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { SYSTEM_MODES, type SystemMode } from '../inventory/model.js';
import { report, type SystemView } from './host-views.js';
import { type Column, printItem } from './output.js';
import { globalOptions, withApi } from './session.js';

interface ModifyFlags {
  name?: string;
  description?: string;
  region?: string;
  mode?: SystemMode;
}

const SYSTEM_FIELDS: readonly Column<SystemView>[] = [
  { header: 'NAME', value: (system) => system.name },
  { header: 'DESCRIPTION', value: (system) => system.description },
  { header: 'SYSTEM TYPE', value: (system) => system.systemType },
  { header: 'MODE', value: (system) => system.mode },
  { header: 'REGION', value: (system) => system.region },
  { header: 'SOFTWARE VERSION', value: (system) => system.softwareVersion },
  { header: 'UPDATED', value: (system) => system.updatedAt },
];

/** `murm system …`: the site's name, description, region and mode. */
export function addSystemCommands(program: Command): void {
  const system = program
    .command('system')
    .description("show and change the site's system: name, description, region, mode")
    .addHelpText(
      'after',
      `
Examples:
  murm system show
  murm system modify --name edge-paris-1 --region eu-west
  murm host lock controller-0 && murm system modify --mode duplex`,
    );

  system
    .command('show')
    .description('show the system')
    .addHelpText('after', '\nExamples:\n  murm system show\n  murm system show -o json')
    .action(async (_flags: unknown, command: Command) => {
      const found = await withApi(command, (api) => api.get<SystemView>('/v1/system'));
      await printItem(globalOptions(command).output, found, SYSTEM_FIELDS);
    });

  system
    .command('modify')
    .description('change the name, description or region of the system, or its mode')
    .option('--name <name>', 'new system name')
    .option('--description <text>', 'new description')
    .option('--region <region>', 'new region name')
    .addOption(
      new Option(
        '--mode <mode>',
        'All-in-one only: simplex → duplex (controller-0 must be locked); there is no way back',
      ).choices(SYSTEM_MODES),
    )
    .addHelpText(
      'after',
      `
Examples:
  murm system modify --name edge-paris-1 --description "Paris edge, rack 4"
  murm system modify --region eu-west -o json
  murm host lock controller-0 && murm system modify --mode duplex`,
    )
    .action(async (flags: ModifyFlags, command: Command) => {
      const body = {
        ...(flags.name === undefined ? {} : { name: flags.name }),
        ...(flags.description === undefined ? {} : { description: flags.description }),
        ...(flags.region === undefined ? {} : { region: flags.region }),
        ...(flags.mode === undefined ? {} : { mode: flags.mode }),
      };
      if (Object.keys(body).length === 0) {
        throw new AppError(
          'invalid_input',
          'nothing to change; give --name, --description, --region or --mode',
        );
      }
      const changed = await withApi(command, (api) => api.patch<SystemView>('/v1/system', body));
      await report(
        globalOptions(command).output,
        changed,
        `system "${changed.name}" (${changed.systemType} ${changed.mode}, region ${changed.region}) modified`,
      );
    });
}
