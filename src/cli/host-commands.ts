import { type Command, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { PERSONALITIES, type Personality } from '../inventory/model.js';
import { addPageOptions, type PageFlags, readPages, reportMore } from './alarm-commands.js';
import type { ApiClient } from './client.js';
import { addHostCpuCommands } from './host-cpu-commands.js';
import { addHostLabelCommands, parseLabels } from './host-label-commands.js';
import {
  type EnrollmentView,
  HOST_COLUMNS,
  type HostConfig,
  type HostView,
  hostPath,
  type InventoryView,
  printEnrollment,
  printHostConfig,
  printHostDetail,
  report,
} from './host-views.js';
import { printData, printList } from './output.js';
import { globalOptions, resolveConnection, withApi } from './session.js';

/** On a real host the agent writes its files in place, so its root is `/`. */
const AGENT_ROOT = '/';

interface ListFlags extends PageFlags {
  personality?: Personality;
}

interface AddFlags {
  personality: Personality;
  subfunctions?: string[];
  label?: Record<string, string>;
  agentRoot: string;
}

/** `murm host …`: the hosts of the site, their states, labels, CPUs and rendered configuration. */
export function addHostCommands(program: Command): void {
  const host = program
    .command('host')
    .description('add, list, lock, unlock and delete hosts; their labels, CPU functions and configuration')
    .addHelpText(
      'after',
      `
Examples:
  murm host list
  murm host add worker-0 --personality worker --label zone=a
  murm host show worker-0
  murm host lock worker-0
  murm host cpu modify worker-0 --function application-isolated --cores-on-numa0 2
  murm host unlock worker-0
  murm host config worker-0`,
    );

  addPageOptions(
    host
      .command('list')
      .description('list hosts with their states')
      .addOption(new Option('--personality <personality>', 'only hosts of this kind').choices(PERSONALITIES)),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  murm host list\n  murm host list --personality worker -o json\n  murm host list --all -o yaml',
    )
    .action(async (flags: ListFlags, command: Command) => {
      const query = { personality: flags.personality, limit: flags.limit };
      const { items, next } = await withApi(command, (api) =>
        readPages(flags, (cursor) =>
          api.get<{ items: HostView[]; next?: string }>('/v1/hosts', { ...query, next: cursor }),
        ),
      );
      await printList(globalOptions(command).output, items, HOST_COLUMNS);
      reportMore(next, 'hosts');
    });

  host
    .command('show')
    .description("show a host's states and what its agent reported: CPUs, memory, NICs, problems")
    .argument('<host>', 'host name')
    .addHelpText('after', '\nExamples:\n  murm host show worker-0\n  murm host show worker-0 -o json')
    .action(async (hostname: string, _flags: unknown, command: Command) => {
      const [found, inventory] = await withApi(command, async (api) => {
        const found = await api.get<HostView>(hostPath(hostname));
        return [found, await findInventory(api, hostname)] as const;
      });
      await printHostDetail(globalOptions(command).output, found, inventory);
    });

  host
    .command('add')
    .description('add a host and print the one-time token and command that enroll its agent')
    .argument('<host>', 'host name: lowercase letters, digits, "-"; controllers are controller-0 and -1')
    .addOption(
      new Option('--personality <personality>', 'what the host is')
        .choices(PERSONALITIES)
        .makeOptionMandatory(),
    )
    .option(
      '--subfunctions <list>',
      'comma-separated subfunctions (default: from the personality)',
      parseList,
    )
    .option('--label <key=value>', 'a label to give the host (repeatable)', collectLabel)
    .option('--agent-root <dir>', 'the --root to print in the agent command', AGENT_ROOT)
    .addHelpText(
      'after',
      `
Examples:
  murm host add worker-0 --personality worker
  murm host add worker-1 --personality worker --label zone=a --label ptp=grandmaster
  murm host add controller-1 --personality controller --subfunctions controller,worker -o json`,
    )
    .action(async (hostname: string, flags: AddFlags, command: Command) => {
      const body = {
        hostname,
        personality: flags.personality,
        ...(flags.subfunctions === undefined ? {} : { subfunctions: flags.subfunctions }),
        ...(flags.label === undefined ? {} : { labels: flags.label }),
      };
      const added = await withApi(command, (api) =>
        api.post<{ host: HostView; enrollment: EnrollmentView }>('/v1/hosts', body),
      );
      const format = globalOptions(command).output;
      if (format !== 'table') return printData(format, added);
      process.stdout.write(
        `added host "${hostname}" (${added.host.personality}, ${added.host.administrative})\n`,
      );
      printEnrollment(hostname, added.enrollment, agentTarget(command, flags.agentRoot));
    });

  host
    .command('enrollment-token')
    .description("issue a new one-time enrollment token for a host's agent (the old one stops working)")
    .argument('<host>', 'host name')
    .option('--agent-root <dir>', 'the --root to print in the agent command', AGENT_ROOT)
    .addHelpText(
      'after',
      '\nExamples:\n  murm host enrollment-token worker-0\n  murm host enrollment-token worker-0 -o json',
    )
    .action(async (hostname: string, flags: { agentRoot: string }, command: Command) => {
      const enrollment = await withApi(command, (api) =>
        api.post<EnrollmentView>(`${hostPath(hostname)}/enrollment-token`),
      );
      const format = globalOptions(command).output;
      if (format !== 'table') return printData(format, enrollment);
      printEnrollment(hostname, enrollment, agentTarget(command, flags.agentRoot));
    });

  host
    .command('delete')
    .description('delete a host; an unlocked host only with --force')
    .argument('<host>', 'host name')
    .option('--force', 'delete it even though it is unlocked (its workloads stop abruptly)')
    .addHelpText('after', '\nExamples:\n  murm host delete worker-0\n  murm host delete worker-0 --force')
    .action(async (hostname: string, flags: { force?: true }, command: Command) => {
      const path = `${hostPath(hostname)}${flags.force ? '?force=true' : ''}`;
      await withApi(command, (api) => api.delete(path));
      process.stdout.write(`deleted host "${hostname}"\n`);
    });

  host
    .command('lock')
    .description('lock a host: take it out of service so its configuration can change')
    .argument('<host>', 'host name')
    .option('--force', 'lock it even when that is refused, such as the last unlocked controller')
    .addHelpText('after', '\nExamples:\n  murm host lock worker-0\n  murm host lock controller-0 --force')
    .action(async (hostname: string, flags: { force?: true }, command: Command) => {
      const body = flags.force ? { force: true } : {};
      const locked = await withApi(command, (api) => api.post<HostView>(`${hostPath(hostname)}/lock`, body));
      await report(globalOptions(command).output, locked, statesLine(locked));
    });

  host
    .command('unlock')
    .description(
      'unlock a host: put it in service with its current configuration (its agent must be connected)',
    )
    .argument('<host>', 'host name')
    .addHelpText('after', '\nExamples:\n  murm host unlock worker-0\n  murm host unlock worker-0 -o json')
    .action(async (hostname: string, _flags: unknown, command: Command) => {
      const unlocked = await withApi(command, (api) => api.post<HostView>(`${hostPath(hostname)}/unlock`));
      await report(globalOptions(command).output, unlocked, statesLine(unlocked));
    });

  host
    .command('config')
    .description('show the configuration files rendered for a host, or one file with --file')
    .argument('<host>', 'host name')
    .option('--file <path>', 'print the content of this file, as the list shows its path')
    .addHelpText(
      'after',
      `
Examples:
  murm host config worker-0
  murm host config worker-0 --file etc/murm/platform-cpuset
  murm host config worker-0 -o json`,
    )
    .action(async (hostname: string, flags: { file?: string }, command: Command) => {
      const config = await withApi(command, (api) => api.get<HostConfig>(`${hostPath(hostname)}/config`));
      await printHostConfig(globalOptions(command).output, { hostname, config, path: flags.file });
    });

  addHostLabelCommands(host);
  addHostCpuCommands(host);
}

/** What the agent reported, or undefined while it has reported nothing. */
async function findInventory(api: ApiClient, hostname: string): Promise<InventoryView | undefined> {
  try {
    return await api.get<InventoryView>(`${hostPath(hostname)}/inventory`);
  } catch (error) {
    if (error instanceof AppError && error.code === 'not_found') return undefined;
    throw error;
  }
}

/** The controller URL and CA file this CLI uses, which the agent on the host needs too. */
function agentTarget(
  command: Command,
  root: string,
): { url: string; caPath: string | undefined; root: string } {
  const connection = resolveConnection(globalOptions(command), process.env);
  return { url: connection?.url ?? 'https://CONTROLLER:7443', caPath: connection?.caPath, root };
}

function parseList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function collectLabel(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  return { ...previous, ...parseLabels([value]) };
}

function statesLine(host: HostView): string {
  return `host "${host.hostname}" is ${host.administrative}, ${host.operational}, ${host.availability}`;
}
