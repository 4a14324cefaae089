import type { LogicalCpu } from '../../src/inventory/topology.js';

/** Where one logical CPU sits; `siblings` and `thread` are derived from all placements together. */
export interface CpuPlacement {
  cpu: number;
  package: number;
  core: number;
  numaNode: number;
}

export interface TopologyShape {
  packages: number;
  coresPerPackage: number;
  threadsPerCore: number;
  /**
   * true: a core's threads are numbered next to each other (0,1 | 2,3), as some BIOSes and VMs do.
   * false (default): Linux's usual numbering, cpu N and N + total cores share a core.
   */
  siblingsAdjacent?: boolean;
  /** Core ids per package, `coresPerPackage` each; default 0..coresPerPackage-1 (real ids have gaps). */
  coreIds?: readonly (readonly number[])[];
}

/** A synthetic topology numbered as Linux numbers one, one NUMA node per package. */
export function makeTopology(shape: TopologyShape): LogicalCpu[] {
  const totalCores = shape.packages * shape.coresPerPackage;
  const placements: CpuPlacement[] = [];
  for (let pkg = 0; pkg < shape.packages; pkg += 1) {
    for (let index = 0; index < shape.coresPerPackage; index += 1) {
      const globalCore = pkg * shape.coresPerPackage + index;
      const core = shape.coreIds?.[pkg]?.[index] ?? index;
      for (let thread = 0; thread < shape.threadsPerCore; thread += 1) {
        const cpu = shape.siblingsAdjacent
          ? globalCore * shape.threadsPerCore + thread
          : thread * totalCores + globalCore;
        placements.push({ cpu, package: pkg, core, numaNode: pkg });
      }
    }
  }
  return topologyOf(placements);
}

/** LogicalCpus sorted by cpu, with siblings and thread index computed the way the agent reports them. */
export function topologyOf(placements: readonly CpuPlacement[]): LogicalCpu[] {
  const siblingsOf = new Map<string, number[]>();
  for (const placement of placements) {
    const key = `${placement.package}:${placement.core}`;
    siblingsOf.set(key, [...(siblingsOf.get(key) ?? []), placement.cpu]);
  }
  return [...placements]
    .sort((a, b) => a.cpu - b.cpu)
    .map((placement) => {
      const siblings = [...(siblingsOf.get(`${placement.package}:${placement.core}`) ?? [])].sort(
        (a, b) => a - b,
      );
      return { ...placement, thread: siblings.indexOf(placement.cpu), siblings };
    });
}
