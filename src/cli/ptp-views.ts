import type { Command } from 'commander';
import { parsePtpParameter } from '../ptp/model.js';
import { report } from './host-views.js';
import { type Column, type OutputFormat, printItem } from './output.js';
import { globalOptions, withApi } from './session.js';

interface Parameter {
  name: string;
  value: string;
}

export interface PtpInstanceView {
  name: string;
  service: string;
  parameters: Parameter[];
  hosts: string[];
}

export interface PtpInterfaceView {
  name: string;
  instance: string;
  parameters: Parameter[];
  hostInterfaces: Record<string, string[]>;
}

export interface HostPtpView {
  hostname: string;
  linuxptpVersion: string;
  instances: string[];
  ports: { ifname: string; ptpInterface: string }[];
  appliedFiles: string[];
}

export const PTP_INSTANCE_COLUMNS: readonly Column<PtpInstanceView>[] = [
  { header: 'NAME', value: (instance) => instance.name },
  { header: 'SERVICE', value: (instance) => instance.service },
  { header: 'PARAMETERS', value: (instance) => formatParameters(instance.parameters) },
  { header: 'HOSTS', value: (instance) => instance.hosts.join(',') },
];

export const PTP_INTERFACE_COLUMNS: readonly Column<PtpInterfaceView>[] = [
  { header: 'NAME', value: (ptpInterface) => ptpInterface.name },
  { header: 'INSTANCE', value: (ptpInterface) => ptpInterface.instance },
  { header: 'PARAMETERS', value: (ptpInterface) => formatParameters(ptpInterface.parameters) },
  { header: 'PORTS', value: (ptpInterface) => formatPorts(ptpInterface.hostInterfaces) },
];

const HOST_PTP_FIELDS: readonly Column<HostPtpView>[] = [
  { header: 'HOST', value: (host) => host.hostname },
  { header: 'LINUXPTP', value: (host) => host.linuxptpVersion },
  { header: 'INSTANCES', value: (host) => host.instances.join(',') },
  {
    header: 'PORTS',
    value: (host) => host.ports.map((port) => `${port.ifname}:${port.ptpInterface}`).join(','),
  },
  { header: 'APPLIED FILES', value: (host) => host.appliedFiles.join(',') },
];

/** Prints a host's PTP assignments as `FIELD value` lines, or as JSON/YAML. */
export function printHostPtp(format: OutputFormat, host: HostPtpView): Promise<void> {
  return printItem(format, host, HOST_PTP_FIELDS);
}

/**
 * `… parameter add <name> key=value…` and `… parameter remove <name> key…` for ptp instances or
 * interfaces; `path` is the collection (`/v1/ptp/instances`).
 */
export function addParameterCommands(parent: Command, noun: 'instance' | 'interface', path: string): void {
  const example =
    noun === 'instance' ? 'ptp1 domainNumber=24 tx_timestamp_timeout=20' : 'ptp1if announceReceiptTimeout=3';
  const parameter = parent
    .command('parameter')
    .description(`add and remove parameters of a ptp ${noun}`)
    .addHelpText(
      'after',
      `\nExamples:\n  murm ptp ${noun} parameter add ${example}\n  murm ptp ${noun} parameter remove ${example.split(' ')[0]} ${(example.split(' ')[1] ?? '').split('=')[0]}`,
    );
  parameter
    .command('add')
    .description(`set parameters of a ptp ${noun}; one it already has gets the new value`)
    .argument('<name>', `ptp ${noun} name`)
    .argument('<parameters...>', 'parameters as key=value')
    .addHelpText('after', `\nExamples:\n  murm ptp ${noun} parameter add ${example}`)
    .action(async (name: string, pairs: string[], _flags: unknown, command: Command) => {
      const parameters = pairs.map((pair) => {
        parsePtpParameter(pair);
        return pair;
      });
      const changed = await withApi(command, (api) =>
        api.post<{ name: string; parameters: Parameter[] }>(
          `${path}/${encodeURIComponent(name)}/parameters`,
          {
            parameters,
          },
        ),
      );
      await report(globalOptions(command).output, changed, parametersLine(noun, changed));
    });
  parameter
    .command('remove')
    .description(`remove parameters of a ptp ${noun} by key`)
    .argument('<name>', `ptp ${noun} name`)
    .argument('<keys...>', 'parameter names')
    .addHelpText(
      'after',
      `\nExamples:\n  murm ptp ${noun} parameter remove ${example.split(' ')[0]} ${(example.split(' ')[1] ?? '').split('=')[0]}`,
    )
    .action(async (name: string, keys: string[], _flags: unknown, command: Command) => {
      const changed = await withApi(command, async (api) => {
        for (const key of new Set(keys)) {
          await api.delete(`${path}/${encodeURIComponent(name)}/parameters/${encodeURIComponent(key)}`);
        }
        return api.get<{ name: string; parameters: Parameter[] }>(`${path}/${encodeURIComponent(name)}`);
      });
      await report(globalOptions(command).output, changed, parametersLine(noun, changed));
    });
}

function parametersLine(noun: string, item: { name: string; parameters: Parameter[] }): string {
  const parameters = formatParameters(item.parameters);
  return `ptp ${noun} "${item.name}" parameters: ${parameters === '' ? 'none' : parameters.replaceAll(',', ', ')}`;
}

function formatParameters(parameters: readonly Parameter[]): string {
  return parameters.map((parameter) => `${parameter.name}=${parameter.value}`).join(',');
}

function formatPorts(hostInterfaces: Record<string, string[]>): string {
  return Object.entries(hostInterfaces)
    .flatMap(([hostname, ifnames]) => ifnames.map((ifname) => `${hostname}/${ifname}`))
    .join(',');
}
