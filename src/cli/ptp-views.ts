import type { Command } from 'commander';
import { parsePtpParameter } from '../ptp/model.js';
import { report } from './host-views.js';
import { type Column, type OutputFormat, printData, printItem, printList } from './output.js';
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
  linuxptpOverride: string | null;
  linuxptpDetected: string | null;
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
  {
    header: 'LINUXPTP',
    value: (host) =>
      `${host.linuxptpVersion} (${host.linuxptpOverride === null ? 'detected' : 'set by an operator'}; ptp4l -v: ${host.linuxptpDetected ?? 'unknown'})`,
  },
  { header: 'INSTANCES', value: (host) => host.instances.join(',') },
  {
    header: 'PORTS',
    value: (host) => host.ports.map((port) => `${port.ifname}:${port.ptpInterface}`).join(','),
  },
  { header: 'APPLIED FILES', value: (host) => host.appliedFiles.join(',') },
];

/** `GET /v1/hosts/:hostname/ptp/status`. */
export interface HostPtpStatusView {
  hostname: string;
  /** Present on a host with a phc2sys instance. */
  osClock?: string | null;
  instances: {
    instance: string;
    service: string;
    isPrimary: boolean;
    reportedAt: string | null;
    status: {
      state: string;
      since: string;
      isRunning: boolean;
      source: string;
      clockClass: number;
      offsetNs: number | null;
      gmIdentity: string | null;
      ports: { portNumber: number; portState: string }[];
      osClock: {
        sourceInstance: string | null;
        phcInterface: string | null;
        phcOffsetNs: number | null;
        phcError: string | null;
      } | null;
      alarms: { entityInstanceId: string; severity: string }[];
    } | null;
  }[];
}

type InstanceStatus = HostPtpStatusView['instances'][number];

const PTP_STATUS_COLUMNS: readonly Column<InstanceStatus>[] = [
  {
    header: 'INSTANCE',
    value: (entry) =>
      entry.isPrimary
        ? `${entry.instance}*`
        : entry.service === 'phc2sys'
          ? `${entry.instance} (phc2sys)`
          : entry.instance,
  },
  {
    header: 'STATE',
    value: (entry) =>
      entry.status === null
        ? 'unknown'
        : entry.status.isRunning
          ? entry.status.state
          : `${entry.status.state} (not running)`,
  },
  { header: 'SINCE', value: (entry) => entry.status?.since },
  { header: 'CLASS', value: (entry) => entry.status?.clockClass },
  { header: 'OFFSET (ns)', value: (entry) => entry.status?.offsetNs },
  {
    header: 'SOURCE',
    value: (entry) =>
      entry.status === null || entry.status.source === 'none'
        ? undefined
        : entry.status.osClock?.sourceInstance
          ? `ptp4l ${entry.status.osClock.sourceInstance}`
          : `${entry.status.source} ${entry.status.gmIdentity ?? ''}`.trim(),
  },
  {
    header: 'PORTS',
    value: (entry) => entry.status?.ports.map((port) => `${port.portNumber}:${port.portState}`).join(','),
  },
  {
    header: 'ALARMS',
    value: (entry) =>
      entry.status?.alarms
        .map((alarm) => `${alarm.severity} ${alarm.entityInstanceId.replace(/^.*\.(ptp|phc2sys)/, '$1')}`)
        .join(', '),
  },
  {
    header: 'PHC',
    value: (entry) => {
      const osClock = entry.status?.osClock;
      if (!osClock?.phcInterface) return undefined;
      const reading = osClock.phcError ?? `${osClock.phcOffsetNs} ns`;
      return `${osClock.phcInterface}: ${reading}`;
    },
  },
];

/**
 * Prints a host's ptp4l and phc2sys statuses as a table (`*` marks the primary instance) and the os-clock
 * state, or as JSON/YAML.
 */
export async function printHostPtpStatus(format: OutputFormat, view: HostPtpStatusView): Promise<void> {
  if (format !== 'table') return printData(format, view);
  if (view.instances.length === 0) {
    process.stdout.write(
      `host "${view.hostname}" runs no ptp4l instance (assign one with "murm host ptp-instance assign", then "murm ptp apply")\n`,
    );
    return;
  }
  await printList(format, view.instances, PTP_STATUS_COLUMNS);
  process.stdout.write('* primary instance: the one the O-RAN notification API reports for this node\n');
  if (view.osClock !== undefined) {
    process.stdout.write(
      `os clock (system clock disciplined by phc2sys): ${view.osClock ?? 'unknown (not reported yet)'}; PHC: phc_ctl cmp offset, about -37 s (TAI-UTC) when locked\n`,
    );
  }
}

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
