import { AppError } from '../core/errors.js';
import type { RenderedFile } from '../inventory/agent-protocol.js';
import type {
  AdministrativeState,
  Availability,
  OperationalState,
  Personality,
  SystemMode,
  SystemType,
} from '../inventory/model.js';
import type { HostInventory } from '../inventory/topology.js';
import { type Column, formatTable, type OutputFormat, printData, printItem } from './output.js';

/** The system as `GET /v1/system` shows it. */
export interface SystemView {
  name: string;
  description: string;
  systemType: SystemType;
  mode: SystemMode;
  region: string;
  softwareVersion: string;
  updatedAt: string;
}

/** A host as `GET /v1/hosts` shows it. */
export interface HostView {
  hostname: string;
  personality: Personality;
  subfunctions: string[];
  administrative: AdministrativeState;
  operational: OperationalState;
  availability: Availability;
  labels: Record<string, string>;
  enrolled: boolean;
  lastHeartbeatAt: string | null;
  targetRevision: string | null;
  appliedRevision: string | null;
  configStatus: 'up-to-date' | 'out-of-date' | 'unknown';
  createdAt: string;
  updatedAt: string;
}

/** What the agent of a host last reported, as `GET /v1/hosts/:hostname/inventory` shows it. */
export type InventoryView = HostInventory & { reportedAt: string };

/** The files rendered for a host, as `GET /v1/hosts/:hostname/config` shows them. */
export interface HostConfig {
  revision: string;
  files: RenderedFile[];
}

/** A one-time enrollment token for a host's agent. */
export interface EnrollmentView {
  token: string;
  expiresAt: string;
}

export const HOST_COLUMNS: readonly Column<HostView>[] = [
  { header: 'HOSTNAME', value: (host) => host.hostname },
  { header: 'PERSONALITY', value: (host) => host.personality },
  { header: 'ADMINISTRATIVE', value: (host) => host.administrative },
  { header: 'OPERATIONAL', value: (host) => host.operational },
  { header: 'AVAILABILITY', value: (host) => host.availability },
  { header: 'CONFIG', value: (host) => host.configStatus },
];

const HOST_FIELDS: readonly Column<HostView>[] = [
  { header: 'HOSTNAME', value: (host) => host.hostname },
  { header: 'PERSONALITY', value: (host) => host.personality },
  { header: 'SUBFUNCTIONS', value: (host) => host.subfunctions.join(',') },
  { header: 'ADMINISTRATIVE', value: (host) => host.administrative },
  { header: 'OPERATIONAL', value: (host) => host.operational },
  { header: 'AVAILABILITY', value: (host) => host.availability },
  { header: 'LABELS', value: (host) => formatLabels(host.labels) },
  { header: 'ENROLLED', value: (host) => host.enrolled },
  { header: 'LAST HEARTBEAT', value: (host) => host.lastHeartbeatAt },
  { header: 'CONFIG', value: (host) => host.configStatus },
  { header: 'TARGET REVISION', value: (host) => host.targetRevision },
  { header: 'APPLIED REVISION', value: (host) => host.appliedRevision },
  { header: 'CREATED', value: (host) => host.createdAt },
  { header: 'UPDATED', value: (host) => host.updatedAt },
];

const INVENTORY_FIELDS: readonly Column<InventoryView>[] = [
  { header: 'CPU MODEL', value: (inventory) => inventory.cpuModel },
  { header: 'LOGICAL CPUS', value: (inventory) => inventory.cpus.length },
  { header: 'CORES', value: (inventory) => countDistinct(inventory, (cpu) => `${cpu.package}/${cpu.core}`) },
  { header: 'PACKAGES', value: (inventory) => countDistinct(inventory, (cpu) => String(cpu.package)) },
  { header: 'NUMA NODES', value: numaNodeCount },
  { header: 'MEMORY', value: (inventory) => formatMemory(inventory.memory) },
];

/** The path of one host in the API. */
export function hostPath(hostname: string): string {
  return `/v1/hosts/${encodeURIComponent(hostname)}`;
}

/** Labels as `key=value` pairs joined by commas, in key order. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** `murm host show`: the host's fields, then a summary of its inventory (or why there is none). */
export async function printHostDetail(
  format: OutputFormat,
  host: HostView,
  inventory: InventoryView | undefined,
): Promise<void> {
  if (format !== 'table') return printData(format, { ...host, inventory: inventory ?? null });
  await printItem(format, host, HOST_FIELDS);
  if (inventory === undefined) {
    process.stdout.write('\nInventory: not reported yet; it arrives when the agent of the host connects\n');
    return;
  }
  process.stdout.write(`\nInventory (reported ${inventory.reportedAt}):\n`);
  await printItem(format, inventory, INVENTORY_FIELDS);
  if (inventory.network.length > 0) {
    process.stdout.write('\nNetwork interfaces:\n');
    const rows = inventory.network.map((nic) => [
      nic.name,
      nic.mac ?? '-',
      nic.mtu === undefined ? '-' : String(nic.mtu),
      nic.speedMbps === undefined ? '-' : `${nic.speedMbps} Mb/s`,
      nic.driver ?? '-',
    ]);
    process.stdout.write(formatTable([['NAME', 'MAC', 'MTU', 'SPEED', 'DRIVER'], ...rows]));
  }
  if (inventory.problems.length > 0) {
    process.stdout.write('\nProblems the agent met while reading the machine:\n');
    process.stdout.write(inventory.problems.map((problem) => `  - ${problem}\n`).join(''));
  }
}

/**
 * The token once, and the command that enrolls the host's agent with it. The agent needs the same
 * controller URL and CA file as this CLI, so both come from the CLI's own connection.
 */
export function printEnrollment(
  hostname: string,
  enrollment: EnrollmentView,
  agent: { url: string; caPath: string | undefined; root: string },
): void {
  const command = [
    'murm agent',
    `--controller ${shellWord(agent.url)}`,
    ...(agent.caPath === undefined ? [] : [`--ca ${shellWord(agent.caPath)}`]),
    `--token ${shellWord(enrollment.token)}`,
    `--root ${shellWord(agent.root)}`,
  ].join(' ');
  const caNote = agent.caPath === undefined ? '' : ' (with a copy of the CA file at that path)';
  process.stdout.write(
    `enrollment token for "${hostname}", shown only this once, valid until ${enrollment.expiresAt}:\n` +
      `  ${enrollment.token}\n` +
      `run this on ${hostname}${caNote}:\n` +
      `  ${command}\n`,
  );
}

/** `murm host config`: the revision and its files, or with `path` the content of that one file. */
export async function printHostConfig(
  format: OutputFormat,
  options: { hostname: string; config: HostConfig; path: string | undefined },
): Promise<void> {
  const { hostname, config, path } = options;
  if (path === undefined) {
    if (format !== 'table') return printData(format, config);
    process.stdout.write(`REVISION: ${config.revision}\n`);
    const rows = config.files.map((file) => [
      file.path,
      `0${file.mode.toString(8)}`,
      String(Buffer.byteLength(file.content, 'utf8')),
    ]);
    process.stdout.write(formatTable([['PATH', 'MODE', 'BYTES'], ...rows]));
    return;
  }
  // The list shows relative paths; a leading "/" as on the host itself means the same file.
  const file = config.files.find((each) => each.path === path.replace(/^\/+/, ''));
  if (file === undefined) {
    throw new AppError(
      'not_found',
      `host "${hostname}" has no file "${path}" in revision ${config.revision}; run "murm host config ${hostname}" for the list`,
      { kind: 'file', name: path },
    );
  }
  if (format !== 'table') return printData(format, file);
  process.stdout.write(file.content);
}

/** After a change: one line for people, the API's answer as JSON/YAML for scripts. */
export async function report(format: OutputFormat, result: unknown, line: string): Promise<void> {
  if (format === 'table') process.stdout.write(`${line}\n`);
  else await printData(format, result);
}

/** A word the shell passes through unchanged: as it is when it is safe, else in single quotes. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

function countDistinct(
  inventory: InventoryView,
  key: (cpu: InventoryView['cpus'][number]) => string,
): number {
  return new Set(inventory.cpus.map(key)).size;
}

function numaNodeCount(inventory: InventoryView): number {
  if (inventory.numaNodes.length > 0) return inventory.numaNodes.length;
  return countDistinct(inventory, (cpu) => String(cpu.numaNode));
}

function formatMemory(memory: InventoryView['memory']): string | undefined {
  const parts = [
    memory.totalKiB === undefined ? undefined : `${gib(memory.totalKiB)} total`,
    memory.availableKiB === undefined ? undefined : `${gib(memory.availableKiB)} available`,
  ].filter((part) => part !== undefined);
  return parts.length === 0 ? undefined : parts.join(', ');
}

function gib(kib: number): string {
  return `${(kib / 1024 / 1024).toFixed(1)} GiB`;
}
