import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import type { SubcloudView } from '../dcloud/views.js';
import { report } from './host-views.js';
import { printData } from './output.js';
import { globalOptions, withApi } from './session.js';
import { subcloudPath } from './subcloud-views.js';

interface ModifyFlags {
  description?: string;
  location?: string;
  group?: string;
}

/** `murm subcloud modify` and `murm subcloud join-bundle`, added to the `subcloud` command. */
export function addSubcloudModifyCommands(subcloud: Command): void {
  subcloud
    .command('modify')
    .description("change a subcloud's description, location or group")
    .argument('<name>', 'subcloud name')
    .option('--description <text>', 'new description')
    .option('--location <text>', 'new location')
    .option('--group <group>', 'move it to this subcloud group')
    .addHelpText(
      'after',
      '\nExamples:\n  murm subcloud modify edge-1 --group east\n  murm subcloud modify edge-1 --location "Ottawa, rack 4" -o json',
    )
    .action(async (name: string, flags: ModifyFlags, command: Command) => {
      const body = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined));
      if (Object.keys(body).length === 0) {
        throw new AppError('invalid_input', 'give at least one of --description, --location, --group');
      }
      const changed = await withApi(command, (api) => api.patch<SubcloudView>(subcloudPath(name), body));
      await report(
        globalOptions(command).output,
        changed,
        `subcloud "${changed.name}" is in group "${changed.group}"`,
      );
    });
  subcloud
    .command('join-bundle')
    .description(
      'issue a new one-time join bundle for a subcloud (re-install, lost bundle); the old one stops working',
    )
    .argument('<name>', 'subcloud name')
    .option('--bundle-file <file>', 'write the bundle to this new file (mode 0600) instead of printing it')
    .addHelpText(
      'after',
      '\nExamples:\n  murm subcloud join-bundle edge-1\n  murm subcloud join-bundle edge-1 --bundle-file edge-1.bundle',
    )
    .action(async (name: string, flags: { bundleFile?: string }, command: Command) => {
      if (flags.bundleFile !== undefined && fs.existsSync(flags.bundleFile)) {
        throw new AppError(
          'invalid_input',
          `"${flags.bundleFile}" exists already; remove it or write elsewhere`,
        );
      }
      const { bundle } = await withApi(command, (api) =>
        api.post<{ bundle: string }>(`${subcloudPath(name)}/join-bundle`),
      );
      const format = globalOptions(command).output;
      if (flags.bundleFile === undefined) {
        if (format === 'table') {
          process.stdout.write(
            `new join bundle of "${name}" (shown only this once; the earlier one no longer works):\n${bundle}\n` +
              'on the subcloud: murm serve --join <bundle>, or murm dc join <bundle> where murm runs\n',
          );
        } else await printData(format, { name, bundle });
        return;
      }
      fs.writeFileSync(flags.bundleFile, `${bundle}\n`, { mode: 0o600, flag: 'wx' });
      const file = path.resolve(flags.bundleFile);
      if (format === 'table')
        process.stdout.write(`wrote the new join bundle of "${name}" to ${file} (mode 0600)\n`);
      else await printData(format, { name, bundleFile: file });
    });
}
