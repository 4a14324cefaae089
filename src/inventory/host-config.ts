import { createHash } from 'node:crypto';
import { AppError } from '../core/errors.js';
import type { MonitorDirective, RenderedFile } from './agent-protocol.js';
import { allocateCpuFunctions, defaultCpuFunctionCounts, requestCpuFunction } from './cpu-allocation.js';
import { renderHostConfig } from './render.js';
import type { HostRecord } from './store.js';
import type { AssignedCpu, CpuFunction, CpuFunctionCounts, HostInventory } from './topology.js';

/**
 * Files another domain adds to a host's configuration (PTP, for one); undefined when it has none for
 * the host. Called on every render, so it must be cheap and synchronous.
 */
export type ExtraRenderer = (
  hostname: string,
) =>
  | readonly RenderedFile[]
  | { files: readonly RenderedFile[]; monitors: readonly MonitorDirective[] }
  | undefined;

interface Rendered {
  key: string;
  revision: string;
  files: RenderedFile[];
  /** Absent when no renderer asks for any, so such configurations keep the revision they always had. */
  monitors?: MonitorDirective[];
}

/**
 * CPU allocation and rendering for hosts, cached per host until what they depend on changes
 * (CPU counts, topology, personality, the files of extra renderers). The revision is a hash of the rendered files, so the same
 * configuration always has the same revision and "applied = target" survives restarts.
 */
export class HostConfigs {
  private readonly cache = new Map<string, Rendered>();
  private readonly renderers: ExtraRenderer[] = [];

  /** Adds files from another domain to every host's configuration from the next render on. */
  addRenderer(renderer: ExtraRenderer): void {
    this.renderers.push(renderer);
  }

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
  ): { revision: string; files: RenderedFile[]; monitors?: MonitorDirective[] } | undefined {
    if (!inventory || inventory.cpus.length === 0) return undefined;
    const parts = this.renderers.map((renderer) => renderer(host.hostname));
    const extra = parts.flatMap((part) => (part === undefined ? [] : 'files' in part ? part.files : part));
    const monitors = parts.flatMap((part) => (part !== undefined && 'monitors' in part ? part.monitors : []));
    const key = JSON.stringify([
      host.personality,
      host.subfunctions,
      host.cpuCounts,
      inventory.cpus,
      extra,
      monitors,
    ]);
    const cached = this.cache.get(host.hostname);
    if (cached?.key === key) return cached;
    const files = [
      ...renderHostConfig({
        hostname: host.hostname,
        personality: host.personality,
        subfunctions: host.subfunctions,
        cpus: this.assignedCpus(host, inventory),
      }),
      ...extra,
    ];
    const hashed = monitors.length === 0 ? files : [files, monitors];
    const revision = createHash('sha256').update(JSON.stringify(hashed)).digest('hex').slice(0, 16);
    const rendered: Rendered = { key, revision, files, ...(monitors.length === 0 ? {} : { monitors }) };
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
