import { type Command, Option } from 'commander';
import { PTP_SERVICES } from '../ptp/model.js';
import { report } from './host-views.js';
import { type Column, printItem, printList } from './output.js';
import {
  addParameterCommands,
  PTP_INSTANCE_COLUMNS,
  PTP_INTERFACE_COLUMNS,
  type PtpInstanceView,
  type PtpInterfaceView,
} from './ptp-views.js';
import { globalOptions, withApi } from './session.js';

const INSTANCES = '/v1/ptp/instances';
const INTERFACES = '/v1/ptp/interfaces';

interface ApplyResult {
  hosts: { hostname: string; files: string[]; isChanged: boolean }[];
}

/** `murm ptp …`: PTP instances and interfaces (StarlingX `ptp-instance-*`, `ptp-interface-*`) and apply. */
export function addPtpCommands(program: Command): void {
  const ptp = program
    .command('ptp')
    .description('PTP instances, interfaces and their parameters; apply them to the hosts')
    .addHelpText(
      'after',
      `
Examples:
  murm ptp instance add ptp1 --service ptp4l
  murm ptp instance parameter add ptp1 domainNumber=24
  murm ptp interface add ptp1if --instance ptp1
  murm host ptp-instance assign worker-0 ptp1
  murm host if-ptp assign worker-0 eno1 ptp1if
  murm ptp apply`,
    );
  addInstanceCommands(ptp);
  addInterfaceCommands(ptp);
  ptp
    .command('apply')
    .description('check every assigned host and render its PTP files; agents then apply them')
    .addHelpText('after', '\nExamples:\n  murm ptp apply\n  murm ptp apply -o json')
    .action(async (_flags: unknown, command: Command) => {
      const result = await withApi(command, (api) => api.post<ApplyResult>('/v1/ptp:apply'));
      const changed = result.hosts.filter((host) => host.isChanged).map((host) => host.hostname);
      const line =
        changed.length === 0
          ? 'ptp configuration applied; no host changed'
          : `ptp configuration applied; new configuration for ${changed.join(', ')}`;
      await report(globalOptions(command).output, result, line);
    });
}

function addInstanceCommands(ptp: Command): void {
  const instance = ptp
    .command('instance')
    .description('add, list, show and delete ptp instances (one daemon configuration each)')
    .addHelpText(
      'after',
      '\nExamples:\n  murm ptp instance add ptp1 --service ptp4l\n  murm ptp instance list\n  murm ptp instance show ptp1 -o json\n  murm ptp instance delete ptp1',
    );
  instance
    .command('add')
    .description('add a ptp instance')
    .argument('<name>', 'instance name (letters, digits, "-", "_")')
    .addOption(
      new Option('--service <service>', 'the daemon it configures')
        .choices(PTP_SERVICES)
        .makeOptionMandatory(),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  murm ptp instance add ptp1 --service ptp4l\n  murm ptp instance add phc --service phc2sys',
    )
    .action(async (name: string, flags: { service: string }, command: Command) => {
      const added = await withApi(command, (api) =>
        api.post<PtpInstanceView>(INSTANCES, { name, service: flags.service }),
      );
      await report(
        globalOptions(command).output,
        added,
        `ptp instance "${added.name}" added (${added.service})`,
      );
    });
  addListAndShow(instance, 'instance', INSTANCES, PTP_INSTANCE_COLUMNS);
  addDelete(instance, 'instance', INSTANCES);
  addParameterCommands(instance, 'instance', INSTANCES);
}

function addInterfaceCommands(ptp: Command): void {
  const ptpInterface = ptp
    .command('interface')
    .description('add, list, show and delete ptp interfaces (ports of one instance)')
    .addHelpText(
      'after',
      '\nExamples:\n  murm ptp interface add ptp1if --instance ptp1\n  murm ptp interface list\n  murm ptp interface show ptp1if\n  murm ptp interface delete ptp1if',
    );
  ptpInterface
    .command('add')
    .description('add a ptp interface to a ptp instance')
    .argument('<name>', 'interface name (letters, digits, "-", "_")')
    .requiredOption('--instance <instance>', 'the ptp instance its ports belong to')
    .addHelpText('after', '\nExamples:\n  murm ptp interface add ptp1if --instance ptp1')
    .action(async (name: string, flags: { instance: string }, command: Command) => {
      const added = await withApi(command, (api) =>
        api.post<PtpInterfaceView>(INTERFACES, { name, instance: flags.instance }),
      );
      await report(
        globalOptions(command).output,
        added,
        `ptp interface "${added.name}" added to ptp instance "${added.instance}"`,
      );
    });
  addListAndShow(ptpInterface, 'interface', INTERFACES, PTP_INTERFACE_COLUMNS);
  addDelete(ptpInterface, 'interface', INTERFACES);
  addParameterCommands(ptpInterface, 'interface', INTERFACES);
}

function addListAndShow<T>(parent: Command, noun: string, path: string, columns: readonly Column<T>[]): void {
  parent
    .command('list')
    .description(`list ptp ${noun}s`)
    .addHelpText('after', `\nExamples:\n  murm ptp ${noun} list\n  murm ptp ${noun} list -o json`)
    .action(async (_flags: unknown, command: Command) => {
      const { items } = await withApi(command, (api) => api.get<{ items: T[] }>(path));
      await printList(globalOptions(command).output, items, columns);
    });
  parent
    .command('show')
    .description(`show a ptp ${noun}`)
    .argument('<name>', `ptp ${noun} name`)
    .addHelpText('after', `\nExamples:\n  murm ptp ${noun} show ptp1\n  murm ptp ${noun} show ptp1 -o json`)
    .action(async (name: string, _flags: unknown, command: Command) => {
      const item = await withApi(command, (api) => api.get<T>(`${path}/${encodeURIComponent(name)}`));
      await printItem(globalOptions(command).output, item, columns);
    });
}

function addDelete(parent: Command, noun: string, path: string): void {
  parent
    .command('delete')
    .description(`delete a ptp ${noun} that is no longer in use`)
    .argument('<name>', `ptp ${noun} name`)
    .addHelpText('after', `\nExamples:\n  murm ptp ${noun} delete ptp1`)
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withApi(command, (api) => api.delete(`${path}/${encodeURIComponent(name)}`));
      process.stdout.write(`ptp ${noun} "${name}" deleted\n`);
    });
}
