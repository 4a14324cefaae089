import fs from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import type { LinkStatus } from '../dcloud/link.js';
import { report } from './host-views.js';
import { type Column, printItem } from './output.js';
import { globalOptions, withApi } from './session.js';

type JoinedStatus = Extract<LinkStatus, { joined: true }>;

interface JoinFlags {
  bundleFile?: string;
}

const NOT_JOINED = 'this site has not joined a system controller; run "murm dc join <bundle>"';

const STATUS_FIELDS: readonly Column<JoinedStatus>[] = [
  { header: 'NAME', value: (link) => link.name },
  { header: 'CONTROLLER', value: (link) => link.controller },
  { header: 'STATE', value: (link) => link.state },
  { header: 'CONNECTED SINCE', value: (link) => link.connectedSince },
  { header: 'RECONNECTS', value: (link) => link.reconnects },
  { header: 'LAST ERROR', value: (link) => link.lastError },
];

/** `murm dc …`: distributed cloud. Returns the `dc` command so other files can add subcommands to it. */
export function addDcCommands(program: Command): Command {
  const dc = program
    .command('dc')
    .description('distributed cloud: join this site to a system controller and show its uplink')
    .addHelpText(
      'after',
      `
Examples:
  murm dc join murm-join:eyJuYW1lIjoi…
  murm dc join --bundle-file ./edge-paris-1.join
  murm dc status`,
    );

  dc.command('join')
    .description(
      'join the system controller of a bundle from "murm subcloud add" (on the site you are logged into)',
    )
    .argument('[bundle]', 'the bundle text, murm-join:…')
    .option('--bundle-file <file>', 'read the bundle from a file instead')
    .addHelpText(
      'after',
      '\nExamples:\n  murm dc join murm-join:eyJuYW1lIjoi…\n  murm dc join --bundle-file ./edge-paris-1.join -o json',
    )
    .action(async (bundleArgument: string | undefined, flags: JoinFlags, command: Command) => {
      const bundle = bundleText(bundleArgument, flags.bundleFile);
      const joined = await withApi(command, (api) => api.post<LinkStatus>('/v1/dc/join', { bundle }));
      const line = joined.joined
        ? `joined the system controller ${joined.controller} as subcloud "${joined.name}"; uplink ${joined.state}`
        : 'joined the system controller';
      await report(globalOptions(command).output, joined, line);
    });

  dc.command('status')
    .description('show the uplink of this site to its system controller')
    .addHelpText('after', '\nExamples:\n  murm dc status\n  murm dc status -o json')
    .action(async (_flags: unknown, command: Command) => {
      const link = await withApi(command, (api) => api.get<LinkStatus>('/v1/dc/link'));
      const format = globalOptions(command).output;
      if (link.joined) await printItem(format, link, STATUS_FIELDS);
      else await report(format, link, NOT_JOINED);
    });

  return dc;
}

function bundleText(argument: string | undefined, file: string | undefined): string {
  if (argument !== undefined && file !== undefined) {
    throw new AppError('invalid_input', 'give the bundle or --bundle-file, not both');
  }
  if (file !== undefined) {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'not found' : (code ?? (error as Error).message);
      throw new AppError('invalid_input', `cannot read the bundle file "${file}" (${reason})`, {
        field: 'bundle-file',
      });
    }
  }
  if (argument === undefined || argument.trim() === '') {
    throw new AppError('invalid_input', 'give the bundle "murm subcloud add" printed, or --bundle-file FILE');
  }
  return argument.trim();
}
