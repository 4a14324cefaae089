/**
 * What a host agent discovers about its machine and reports to the controller. Shared by the agent
 * (discovery), the controller (storage, CPU allocation, rendering) and the device plugin.
 */

/** One logical CPU as the kernel numbers it, with its place in the physical topology. */
export interface LogicalCpu {
  /** Logical CPU number (`/sys/devices/system/cpu/cpu<N>`). */
  cpu: number;
  /** Physical package (socket), `topology/physical_package_id`. */
  package: number;
  /** Physical core id within the package, `topology/core_id` (not contiguous on every machine). */
  core: number;
  /** Position of this CPU among its core's hardware threads (0 for the lowest-numbered sibling). */
  thread: number;
  /** NUMA node the CPU belongs to (0 when the machine shows no NUMA nodes). */
  numaNode: number;
  /** Every logical CPU sharing this physical core, this one included, ascending. */
  siblings: number[];
}

export interface NumaNode {
  node: number;
  cpus: number[];
  /** `MemTotal` of `/sys/devices/system/node/node<N>/meminfo`, in KiB; undefined when unreadable. */
  memoryKiB?: number | undefined;
}

export interface NetworkInterface {
  name: string;
  mac?: string | undefined;
  mtu?: number | undefined;
  /** Mb/s; undefined when the kernel reports none (link down, virtual device). */
  speedMbps?: number | undefined;
  /** Driver module name (`device/driver` link); undefined for virtual interfaces. */
  driver?: string | undefined;
}

/** Everything discovered on one host. `problems` lists what could not be read, the rest is still reported. */
export interface HostInventory {
  cpuModel?: string | undefined;
  cpus: LogicalCpu[];
  numaNodes: NumaNode[];
  memory: { totalKiB?: number | undefined; availableKiB?: number | undefined };
  network: NetworkInterface[];
  /** Human-readable descriptions of files that were missing or malformed, e.g. "cpu3/topology/core_id: not a number". */
  problems: string[];
}

/** The functions a logical CPU can serve (StarlingX names, lower-cased). */
export const CPU_FUNCTIONS = ['platform', 'application', 'application-isolated'] as const;
export type CpuFunction = (typeof CPU_FUNCTIONS)[number];

/**
 * Requested counts of physical cores per function and NUMA node. `application` is never stored:
 * it is whatever is left over. Missing entries mean zero cores.
 */
export interface CpuFunctionCounts {
  platform: Record<number, number>;
  'application-isolated': Record<number, number>;
}

/** A logical CPU with the function the allocation gave it. */
export interface AssignedCpu extends LogicalCpu {
  function: CpuFunction;
}
