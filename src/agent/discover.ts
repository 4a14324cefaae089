import type { Dirent } from 'node:fs';
import { open, readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { formatCpuList, parseCpuList } from '../inventory/cpulist.js';
import type { HostInventory, LogicalCpu, NetworkInterface, NumaNode } from '../inventory/topology.js';

/** Where the kernel's sysfs and procfs are mounted; tests point these at recorded trees. */
export interface DiscoveryPaths {
  sysfs: string;
  procfs: string;
}

const DEFAULT_DISCOVERY_PATHS: DiscoveryPaths = { sysfs: '/sys', procfs: '/proc' };

/** A CPU's topology before its NUMA node is known. */
type CpuTopology = Omit<LogicalCpu, 'numaNode'>;

/** One small kernel file: its text, or the errno code that stopped the read. */
type TextRead = { text: string } | { code: string };

/** What one part of discovery found, with its own problems so concurrent parts still report in order. */
interface Found<T> {
  value: T;
  problems: string[];
}

/** Stop reading `/proc/cpuinfo` here: the first processor's block is a few KiB at most. */
const CPUINFO_HEAD_BYTES = 64 * 1024;

/**
 * Reads the CPU topology, NUMA nodes, memory and network interfaces of the host. Never throws: every
 * missing or malformed file becomes one entry of `problems` and the rest is still reported.
 */
export async function discoverInventory(paths: Partial<DiscoveryPaths> = {}): Promise<HostInventory> {
  const { sysfs, procfs } = { ...DEFAULT_DISCOVERY_PATHS, ...paths };
  const [cpus, nodes, model, memory, network] = await Promise.all([
    discoverCpus(sysfs),
    discoverNumaNodes(sysfs),
    discoverCpuModel(procfs),
    discoverMemory(procfs),
    discoverNetwork(sysfs),
  ]);
  const online = cpus.value.online;
  const numaNodes = nodes.value
    ? nodes.value.map((node) => (online ? { ...node, cpus: onlyOnline(node.cpus, online) } : node))
    : [{ node: 0, cpus: online ?? [], memoryKiB: memory.value.totalKiB }];
  const nodeOfCpu = new Map<number, number>();
  for (const node of numaNodes) for (const cpu of node.cpus) nodeOfCpu.set(cpu, node.node);
  return {
    cpuModel: model.value,
    cpus: cpus.value.topologies.map((cpu) => ({ ...cpu, numaNode: nodeOfCpu.get(cpu.cpu) ?? 0 })),
    numaNodes,
    memory: memory.value,
    network: network.value,
    problems: [cpus, nodes, model, memory, network].flatMap((part) => part.problems),
  };
}

function onlyOnline(cpus: number[], online: number[]): number[] {
  const isOnline = new Set(online);
  return cpus.filter((cpu) => isOnline.has(cpu));
}

/** The online CPUs (undefined when the CPU directory is unreadable) and the topology of each. */
async function discoverCpus(
  sysfs: string,
): Promise<Found<{ online: number[] | undefined; topologies: CpuTopology[] }>> {
  const base = join(sysfs, 'devices/system/cpu');
  let names: string[];
  try {
    names = await readdir(base);
  } catch (error) {
    const problem = `${failure('devices/system/cpu', errorCode(error))}; no CPUs reported`;
    return { value: { online: undefined, topologies: [] }, problems: [problem] };
  }
  const present = names.flatMap((name) => /^cpu(\d+)$/.exec(name)?.[1] ?? []).map(Number);
  const online = await readOnlineCpus(base, present.sort(byNumber));
  const cpus = await Promise.all(online.value.map((cpu) => readCpuTopology(base, cpu)));
  return {
    value: { online: online.value, topologies: cpus.flatMap((cpu) => cpu.value ?? []) },
    problems: [...online.problems, ...cpus.flatMap((cpu) => cpu.problems)],
  };
}

/** Offline CPUs keep their `cpu<N>` directories; the `online` list, when the kernel has one, says which run. */
async function readOnlineCpus(base: string, present: number[]): Promise<Found<number[]>> {
  const read = await readText(join(base, 'online'));
  if ('code' in read && read.code === 'ENOENT') return { value: present, problems: [] };
  const problems: string[] = [];
  return { value: parseCpuListFile(read, 'online', problems) ?? present, problems };
}

async function readCpuTopology(base: string, cpu: number): Promise<Found<CpuTopology | undefined>> {
  const dir = `cpu${cpu}/topology`;
  const [packageRead, coreRead, siblingsRead] = await Promise.all([
    readText(join(base, dir, 'physical_package_id')),
    readText(join(base, dir, 'core_id')),
    readSiblings(join(base, dir)),
  ]);
  const problems: string[] = [];
  const packageId = parseInteger(packageRead, `${dir}/physical_package_id`, problems);
  const core = parseInteger(coreRead, `${dir}/core_id`, problems);
  const siblingsLabel = `${dir}/${siblingsRead.file}`;
  const siblings = parseCpuListFile(siblingsRead.read, siblingsLabel, problems);
  const thread = siblings?.indexOf(cpu) ?? -1;
  if (siblings && thread < 0) {
    problems.push(`${siblingsLabel}: "${formatCpuList(siblings)}" leaves out cpu${cpu}`);
  }
  if (packageId === undefined || core === undefined || !siblings || thread < 0) {
    return { value: undefined, problems };
  }
  return { value: { cpu, package: packageId, core, thread, siblings }, problems };
}

/** `thread_siblings_list`, or `core_cpus_list`, its newer name, for a kernel that drops the deprecated one. */
async function readSiblings(dir: string): Promise<{ read: TextRead; file: string }> {
  const read = await readText(join(dir, 'thread_siblings_list'));
  if (!('code' in read) || read.code !== 'ENOENT') return { read, file: 'thread_siblings_list' };
  const newer = await readText(join(dir, 'core_cpus_list'));
  return 'code' in newer && newer.code === 'ENOENT'
    ? { read, file: 'thread_siblings_list' }
    : { read: newer, file: 'core_cpus_list' };
}

/** The NUMA nodes, or undefined when the kernel shows none (built without NUMA). */
async function discoverNumaNodes(sysfs: string): Promise<Found<NumaNode[] | undefined>> {
  const base = join(sysfs, 'devices/system/node');
  let names: string[];
  try {
    names = await readdir(base);
  } catch (error) {
    const code = errorCode(error);
    return { value: undefined, problems: code === 'ENOENT' ? [] : [failure('devices/system/node', code)] };
  }
  const ids = names.flatMap((name) => /^node(\d+)$/.exec(name)?.[1] ?? []).map(Number);
  if (ids.length === 0) return { value: undefined, problems: [] };
  const nodes = await Promise.all(ids.sort(byNumber).map((node) => readNumaNode(base, node)));
  return { value: nodes.map((node) => node.value), problems: nodes.flatMap((node) => node.problems) };
}

async function readNumaNode(base: string, node: number): Promise<Found<NumaNode>> {
  const dir = `node${node}`;
  const [cpulist, meminfo] = await Promise.all([
    readText(join(base, dir, 'cpulist')),
    readText(join(base, dir, 'meminfo')),
  ]);
  const problems: string[] = [];
  const cpus = parseCpuListFile(cpulist, `${dir}/cpulist`, problems) ?? [];
  const memoryKiB = parseMeminfo(meminfo, { label: `${dir}/meminfo`, prefix: `Node ${node} ` }, problems);
  return { value: { node, cpus, memoryKiB: memoryKiB.MemTotal }, problems };
}

async function discoverCpuModel(procfs: string): Promise<Found<string | undefined>> {
  const read = await readHead(join(procfs, 'cpuinfo'), (text) => /^model name\s*:.*\n/m.test(text));
  if ('code' in read) return { value: undefined, problems: [failure('proc/cpuinfo', read.code)] };
  const model = /^model name\s*:[ \t]*(.*)$/m.exec(read.text)?.[1]?.trim();
  return model
    ? { value: model, problems: [] }
    : { value: undefined, problems: ['proc/cpuinfo: no "model name" line'] };
}

async function discoverMemory(
  procfs: string,
): Promise<Found<{ totalKiB: number | undefined; availableKiB: number | undefined }>> {
  const problems: string[] = [];
  const read = await readText(join(procfs, 'meminfo'));
  const fields = parseMeminfo(read, { label: 'proc/meminfo', prefix: '' }, problems);
  return { value: { totalKiB: fields.MemTotal, availableKiB: fields.MemAvailable }, problems };
}

/**
 * `MemTotal` and `MemAvailable` (KiB) of a meminfo file; node files prefix each line with `Node <N> `.
 * A missing line is a problem; a missing `MemAvailable` only for `/proc/meminfo`, the one that has it.
 */
function parseMeminfo(
  read: TextRead,
  file: { label: string; prefix: string },
  problems: string[],
): { MemTotal: number | undefined; MemAvailable: number | undefined } {
  if ('code' in read) {
    problems.push(failure(file.label, read.code));
    return { MemTotal: undefined, MemAvailable: undefined };
  }
  const field = (name: string, isExpected: boolean): number | undefined => {
    const line = new RegExp(`^${file.prefix}${name}:\\s*(\\d+) kB\\s*$`, 'm').exec(read.text);
    if (!line && isExpected) problems.push(`${file.label}: no "${name}: <n> kB" line`);
    return line ? Number(line[1]) : undefined;
  };
  return { MemTotal: field('MemTotal', true), MemAvailable: field('MemAvailable', file.prefix === '') };
}

async function discoverNetwork(sysfs: string): Promise<Found<NetworkInterface[]>> {
  const base = join(sysfs, 'class/net');
  let entries: Dirent[];
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch (error) {
    return { value: [], problems: [failure('class/net', errorCode(error))] };
  }
  // Interfaces are links (directories in recorded trees); plain files such as bonding's
  // `bonding_masters` live here too and are not interfaces.
  const names = entries
    .filter((entry) => entry.isSymbolicLink() || entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const interfaces = await Promise.all(names.map((name) => readInterface(join(base, name), name)));
  return { value: interfaces.map((nic) => nic.value), problems: interfaces.flatMap((nic) => nic.problems) };
}

async function readInterface(dir: string, name: string): Promise<Found<NetworkInterface>> {
  const label = `net/${name}`;
  const [address, mtu, speed, driver] = await Promise.all([
    readText(join(dir, 'address')),
    readText(join(dir, 'mtu')),
    readText(join(dir, 'speed')),
    readDriver(dir),
  ]);
  const problems: string[] = [];
  if ('code' in address) problems.push(failure(`${label}/address`, address.code));
  const mac = 'text' in address ? address.text.trim() || undefined : undefined;
  const mtuValue = parseInteger(mtu, `${label}/mtu`, problems);
  const speedMbps = parseSpeed(speed, `${label}/speed`, problems);
  if ('code' in driver) problems.push(failure(`${label}/device/driver`, driver.code));
  const driverName = 'text' in driver ? driver.text : undefined;
  return { value: { name, mac, mtu: mtuValue, speedMbps, driver: driverName }, problems };
}

/**
 * The driver module's name from the `device/driver` link, read without following it so a recorded tree
 * needs no target. Virtual interfaces have no `device`, and unbound devices no `driver`: both are fine.
 */
async function readDriver(dir: string): Promise<{ text: string | undefined } | { code: string }> {
  try {
    return { text: basename(await readlink(join(dir, 'device/driver'))) };
  } catch (error) {
    const code = errorCode(error);
    return code === 'ENOENT' ? { text: undefined } : { code };
  }
}

/** Link speed; the kernel answers EINVAL or `-1` when it has none (link down, virtual device). */
function parseSpeed(read: TextRead, label: string, problems: string[]): number | undefined {
  if ('code' in read && (read.code === 'EINVAL' || read.code === 'ENOENT')) return undefined;
  const speed = parseInteger(read, label, problems);
  return speed !== undefined && speed >= 0 ? speed : undefined;
}

function parseInteger(read: TextRead, label: string, problems: string[]): number | undefined {
  if ('code' in read) {
    problems.push(failure(label, read.code));
    return undefined;
  }
  const text = read.text.trim();
  if (/^-?\d{1,15}$/.test(text)) return Number(text);
  problems.push(`${label}: ${quote(text)} is not a number`);
  return undefined;
}

function parseCpuListFile(read: TextRead, label: string, problems: string[]): number[] | undefined {
  if ('code' in read) {
    problems.push(failure(label, read.code));
    return undefined;
  }
  try {
    return parseCpuList(read.text);
  } catch (error) {
    problems.push(`${label}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

async function readText(path: string): Promise<TextRead> {
  try {
    return { text: await readFile(path, 'utf8') };
  } catch (error) {
    return { code: errorCode(error) };
  }
}

/**
 * Reads a file's start until `isEnough` holds. `/proc/cpuinfo` is generated as it is read and runs to
 * hundreds of KiB on a big host, while the first processor's block is all discovery needs.
 */
async function readHead(path: string, isEnough: (text: string) => boolean): Promise<TextRead> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const decoder = new TextDecoder();
    const buffer = Buffer.alloc(8192);
    let text = '';
    for (let total = 0; total < CPUINFO_HEAD_BYTES && !isEnough(text); ) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      text += decoder.decode(buffer.subarray(0, bytesRead), { stream: true });
    }
    return { text };
  } catch (error) {
    return { code: errorCode(error) };
  } finally {
    // A failed close loses nothing already read; discovery must not throw for it.
    await handle?.close().catch(() => undefined);
  }
}

function errorCode(error: unknown): string {
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  return typeof code === 'string' ? code : String(error);
}

function failure(label: string, code: string): string {
  return code === 'ENOENT' ? `${label}: missing` : `${label}: unreadable (${code})`;
}

function byNumber(a: number, b: number): number {
  return a - b;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
