import { createHash } from 'node:crypto';
import { AppError } from '../core/errors.js';
import type { RenderedFile } from './agent-protocol.js';
import { allocateCpuFunctions, defaultCpuFunctionCounts, requestCpuFunction } from './cpu-allocation.js';
import { renderHostConfig } from './render.js';
import type { HostRecord } from './store.js';
import type { AssignedCpu, CpuFunction, CpuFunctionCounts, HostInventory } from './topology.js';

interface Rendered {
  key: string;
  revision: string;
  files: RenderedFile[];
}

/**
 * CPU allocation and rendering for hosts, cached per host until what they depend on changes
 * (CPU counts, topology, personality). The revision is a hash of the rendered files, so the same
 * configuration always has the same revision and "applied = target" survives restarts.
 */
export class HostConfigs {
  private readonly cache = new Map<string, Rendered>();

  assignedCpus(host: HostRecord, inventory: HostInventory | undefined): AssignedCpu[] {
    const cpus = topologyOf(host.hostname, inventory);
    return allocateCpuFunctions(cpus, host.cpuCounts ?? defaultCpuFunctionCounts(cpus));
  }

  requestFunction(
    host: HostRecord,
    inventory: HostInventory | undefined,
    fn: CpuFunction,
    coresPerNuma: Record<number, number>,
  ): CpuFunctionCounts {
    const cpus = topologyOf(host.hostname, inventory);
    return requestCpuFunction(cpus, host.cpuCounts ?? defaultCpuFunctionCounts(cpus), fn, coresPerNuma);
  }

  /** The host's rendered configuration, or undefined while its agent has not reported CPUs. */
  render(
    host: HostRecord,
    inventory: HostInventory | undefined,
  ): { revision: string; files: RenderedFile[] } | undefined {
    if (!inventory || inventory.cpus.length === 0) return undefined;
    const key = JSON.stringify([host.personality, host.subfunctions, host.cpuCounts, inventory.cpus]);
    const cached = this.cache.get(host.hostname);
    if (cached?.key === key) return cached;
    const files = renderHostConfig({
      hostname: host.hostname,
      personality: host.personality,
      subfunctions: host.subfunctions,
      cpus: this.assignedCpus(host, inventory),
    });
    const revision = createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 16);
    const rendered = { key, revision, files };
    this.cache.set(host.hostname, rendered);
    return rendered;
  }

  forget(hostname: string): void {
    this.cache.delete(hostname);
  }
}

function topologyOf(hostname: string, inventory: HostInventory | undefined): HostInventory['cpus'] {
  if (!inventory || inventory.cpus.length === 0) {
    throw new AppError(
      'precondition_failed',
      `no CPU inventory reported yet for ${hostname}: its agent must connect first`,
    );
  }
  return inventory.cpus;
}
