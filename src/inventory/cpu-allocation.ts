import { AppError, invalidInput } from '../core/errors.js';
import type { AssignedCpu, CpuFunction, CpuFunctionCounts, LogicalCpu } from './topology.js';

/**
 * CPU function allocation, as StarlingX does it: counts are physical cores per NUMA node, and every
 * hardware thread of a physical core gets the core's function, so SMT siblings are never split. On
 * each NUMA node platform takes the lowest cores (by package, then core id), application-isolated the
 * next ones, and application whatever is left. The same counts on the same hardware always give the
 * same CPUs, so a re-render after a restart never moves a workload.
 */

/** One physical core and the logical CPUs (hardware threads) it carries, ascending. */
export interface PhysicalCore {
  numaNode: number;
  package: number;
  core: number;
  cpus: number[];
}

/** Physical cores of a node, in allocation order: ascending (package, core id); each with its logical CPUs. */
export function physicalCores(cpus: readonly LogicalCpu[]): PhysicalCore[] {
  const byCore = new Map<string, PhysicalCore>();
  for (const cpu of [...cpus].sort((a, b) => a.cpu - b.cpu)) {
    const key = `${cpu.package}:${cpu.core}`;
    const found = byCore.get(key);
    if (found) {
      found.cpus.push(cpu.cpu);
    } else {
      // The lowest-numbered thread decides the node; siblings on different nodes would be a broken report.
      byCore.set(key, { numaNode: cpu.numaNode, package: cpu.package, core: cpu.core, cpus: [cpu.cpu] });
    }
  }
  return [...byCore.values()].sort((a, b) => a.package - b.package || a.core - b.core);
}

/** The StarlingX default: one platform core on the lowest NUMA node, nothing isolated; throws `precondition_failed` without inventory. */
export function defaultCpuFunctionCounts(cpus: readonly LogicalCpu[]): CpuFunctionCounts {
  const cores = coresByNode(cpus);
  const lowest = Math.min(...cores.keys());
  return { platform: { [lowest]: 1 }, 'application-isolated': {} };
}

/**
 * Sets the count of `fn` on each NUMA node of `coresPerNuma`; other nodes keep their counts. Asking
 * for N application cores on a node makes the rest of it (after platform) application-isolated.
 * Throws `invalid_input` for an unknown node, a bad count or counts that do not fit, and
 * `precondition_failed` when the host has reported no CPUs yet.
 */
export function requestCpuFunction(
  cpus: readonly LogicalCpu[],
  current: CpuFunctionCounts,
  fn: CpuFunction,
  coresPerNuma: Record<number, number>,
): CpuFunctionCounts {
  const cores = coresByNode(cpus);
  const platform = { ...current.platform };
  const isolated = { ...current['application-isolated'] };
  for (const [key, requested] of Object.entries(coresPerNuma)) {
    const numaNode = checkedNode(fn, key, cores);
    checkCount(fn, numaNode, requested);
    if (fn === 'platform') {
      platform[numaNode] = requested;
    } else if (fn === 'application-isolated') {
      isolated[numaNode] = requested;
    } else {
      const available = coreCount(cores, numaNode);
      const platformCores = platform[numaNode] ?? 0;
      if (platformCores + requested > available) {
        throw invalidInput(
          fn,
          `NUMA node ${numaNode} has ${available} physical cores; ${platformCores} platform + ${requested} application do not fit`,
          { numaNode, available, requested: platformCores + requested },
        );
      }
      isolated[numaNode] = available - platformCores - requested;
    }
  }
  const counts = { platform: withoutZeros(platform), 'application-isolated': withoutZeros(isolated) };
  validateCounts(cores, counts);
  return counts;
}

/**
 * Gives every logical CPU its function, sorted by CPU number. Validates `counts` against the hardware
 * as `requestCpuFunction` does, since a stored count can stop fitting after a hardware change.
 */
export function allocateCpuFunctions(cpus: readonly LogicalCpu[], counts: CpuFunctionCounts): AssignedCpu[] {
  const cores = coresByNode(cpus);
  validateCounts(cores, counts);
  const functionOf = new Map<number, CpuFunction>();
  for (const [numaNode, nodeCores] of cores) {
    const platform = counts.platform[numaNode] ?? 0;
    const isolated = counts['application-isolated'][numaNode] ?? 0;
    nodeCores.forEach((core, index) => {
      const fn: CpuFunction =
        index < platform ? 'platform' : index < platform + isolated ? 'application-isolated' : 'application';
      for (const cpu of core.cpus) functionOf.set(cpu, fn);
    });
  }
  return [...cpus]
    .sort((a, b) => a.cpu - b.cpu)
    .map((cpu) => ({
      ...cpu,
      siblings: [...cpu.siblings],
      function: functionOf.get(cpu.cpu) ?? 'application',
    }));
}

/** Physical cores grouped by NUMA node, nodes ascending, each list in allocation order. */
function coresByNode(cpus: readonly LogicalCpu[]): Map<number, PhysicalCore[]> {
  if (cpus.length === 0) {
    throw new AppError('precondition_failed', 'no CPU inventory reported yet for this host', {});
  }
  const byNode = new Map<number, PhysicalCore[]>();
  for (const core of physicalCores(cpus)) {
    const list = byNode.get(core.numaNode);
    if (list) list.push(core);
    else byNode.set(core.numaNode, [core]);
  }
  return new Map([...byNode].sort(([a], [b]) => a - b));
}

function coreCount(cores: Map<number, PhysicalCore[]>, numaNode: number): number {
  return cores.get(numaNode)?.length ?? 0;
}

/** The node number of a `coresPerNuma` key; throws `invalid_input` for a node the host does not have. */
function checkedNode(field: string, key: string, cores: Map<number, PhysicalCore[]>): number {
  const numaNode = /^\d+$/.test(key) ? Number(key) : Number.NaN;
  if (!cores.has(numaNode)) {
    const nodes = [...cores.keys()];
    throw invalidInput(
      field,
      `NUMA node ${JSON.stringify(key)} does not exist on this host; its NUMA nodes are ${nodes.join(', ')}`,
      { numaNode: key, nodes },
    );
  }
  return numaNode;
}

function checkCount(field: string, numaNode: number | string, requested: number): void {
  if (!Number.isInteger(requested) || requested < 0) {
    throw invalidInput(
      field,
      `${field} core count for NUMA node ${numaNode} must be a whole number of physical cores (0 or more), got ${requested}`,
      { numaNode, requested },
    );
  }
}

/** Checks stored or requested counts against the hardware; throws `invalid_input` saying what does not fit. */
function validateCounts(cores: Map<number, PhysicalCore[]>, counts: CpuFunctionCounts): void {
  for (const fn of ['platform', 'application-isolated'] as const) {
    for (const [key, requested] of Object.entries(counts[fn])) {
      checkCount(fn, key, requested);
      // A zero count on a node that disappeared asks for nothing, so it is no reason to refuse.
      if (requested > 0) checkedNode(fn, key, cores);
    }
  }
  let platformTotal = 0;
  let coreTotal = 0;
  for (const [numaNode, nodeCores] of cores) {
    const available = nodeCores.length;
    const platform = counts.platform[numaNode] ?? 0;
    const isolated = counts['application-isolated'][numaNode] ?? 0;
    if (platform + isolated > available) {
      throw invalidInput(
        'cpuFunctions',
        `NUMA node ${numaNode} has ${available} physical cores; ${platform} platform + ${isolated} application-isolated do not fit`,
        { numaNode, available, requested: platform + isolated },
      );
    }
    platformTotal += platform;
    coreTotal += available;
  }
  if (platformTotal === 0) {
    throw invalidInput('cpuFunctions', 'at least one platform core is required', { requested: 0 });
  }
  if (coreTotal === platformTotal) {
    throw invalidInput('cpuFunctions', 'at least one core must remain for applications', {
      available: coreTotal,
      requested: platformTotal,
    });
  }
}

function withoutZeros(counts: Record<number, number>): Record<number, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, count]) => count !== 0));
}
