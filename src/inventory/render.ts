import * as assert from 'node:assert/strict';
import { AppError } from '../core/errors.js';
import type { RenderedFile } from './agent-protocol.js';
import { formatCpuList } from './cpulist.js';
import type { AssignedCpu } from './topology.js';

/** What the controller knows about a host that decides its CPU configuration files. */
export interface HostConfigInput {
  hostname: string;
  personality: 'controller' | 'worker' | 'storage';
  subfunctions: string[];
  cpus: readonly AssignedCpu[];
}

const FILE_MODE = 0o644;
const KUBELET_DROP_IN = 'etc/kubernetes/kubelet.conf.d/50-murm-cpu-manager.conf';
const GRUB_FRAGMENT = 'etc/default/grub.d/50-murm-cpu.cfg';
const PLATFORM_CPUSET = 'etc/murm/platform-cpuset';
const SYSTEMD_AFFINITY = 'etc/systemd/system.conf.d/50-murm-cpu-affinity.conf';
const CPU_FUNCTIONS_JSON = 'etc/murm/cpu-functions.json';

/**
 * The files that put a host's CPU functions into effect, sorted by path: kubelet's static CPU manager
 * reservation (hosts with the worker function only), the kernel command line that isolates
 * application-isolated CPUs, systemd's affinity for platform services, the platform cpuset for murm's
 * own scripts, and the full assignment for the device plugin. Every file is always rendered (the grub
 * fragment included when nothing is isolated), so applying a new revision undoes an older one.
 * Throws `precondition_failed` when the host has no CPU inventory.
 */
export function renderHostConfig(input: HostConfigInput): RenderedFile[] {
  if (input.cpus.length === 0) {
    throw new AppError('precondition_failed', 'no CPU inventory reported yet for this host', {
      hostname: input.hostname,
    });
  }
  const cpus = [...input.cpus].sort((a, b) => a.cpu - b.cpu);
  const platform = cpusWith(cpus, 'platform');
  const isolated = cpusWith(cpus, 'application-isolated');
  assert.ok(platform.length > 0, 'allocation always leaves at least one platform CPU');
  const header = `# Written by murm for host ${JSON.stringify(input.hostname)}; murm rewrites it on every apply, do not edit.`;

  const files: RenderedFile[] = [
    { path: GRUB_FRAGMENT, mode: FILE_MODE, content: grubFragment(header, isolated) },
    { path: PLATFORM_CPUSET, mode: FILE_MODE, content: `${formatCpuList(platform)}\n` },
    { path: SYSTEMD_AFFINITY, mode: FILE_MODE, content: systemdAffinity(header, platform) },
    { path: CPU_FUNCTIONS_JSON, mode: FILE_MODE, content: cpuFunctionsJson(cpus) },
  ];
  if (input.personality === 'worker' || input.subfunctions.includes('worker')) {
    files.push({
      path: KUBELET_DROP_IN,
      mode: FILE_MODE,
      content: kubeletDropIn(header, platform, isolated),
    });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function cpusWith(cpus: readonly AssignedCpu[], fn: AssignedCpu['function']): number[] {
  return cpus.filter((cpu) => cpu.function === fn).map((cpu) => cpu.cpu);
}

/**
 * The static CPU manager with the platform CPUs reserved for system daemons (StarlingX's layout).
 * Upstream kubelet does not know the isolated set: StarlingX's kubelet is patched to keep exclusive
 * allocations off it; with a stock kubelet, isolated CPUs should be requested through the device plugin.
 */
function kubeletDropIn(header: string, platform: number[], isolated: number[]): string {
  return [
    header,
    `# Platform CPUs: ${formatCpuList(platform)}; application-isolated CPUs: ${formatCpuList(isolated) || 'none'}.`,
    '# Isolated CPUs reach pods through the murmuration.dev/isolcpus device plugin. After a policy or',
    '# reservation change, kubelet must be stopped and /var/lib/kubelet/cpu_manager_state removed before',
    '# it starts again.',
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    'cpuManagerPolicy: static',
    `reservedSystemCPUs: "${formatCpuList(platform)}"`,
    '',
  ].join('\n');
}

/** Sourced by grub-mkconfig after /etc/default/grub, so it appends to whatever the distribution set there. */
function grubFragment(header: string, isolated: number[]): string {
  const lines = [header, '# Takes effect after update-grub and a reboot.'];
  if (isolated.length === 0) {
    lines.push('# No application-isolated CPUs on this host: no CPU isolation parameters are added.');
  } else {
    const list = formatCpuList(isolated);
    lines.push(
      `# Application-isolated CPUs ${list}: kept out of the scheduler's load balancing, the tick and RCU callbacks.`,
      `GRUB_CMDLINE_LINUX="\${GRUB_CMDLINE_LINUX} isolcpus=${list} nohz_full=${list} rcu_nocbs=${list}"`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** systemd's CPUAffinity= takes indices and ranges separated by spaces; services inherit it from PID 1. */
function systemdAffinity(header: string, platform: number[]): string {
  return [
    header,
    '# Confines systemd and the services it starts to the platform CPUs; takes effect at the next boot',
    '# or `systemctl daemon-reexec` (services started before keep their affinity until restarted).',
    '[Manager]',
    `CPUAffinity=${formatCpuList(platform).replaceAll(',', ' ')}`,
    '',
  ].join('\n');
}

/**
 * JSON has no comments, so no header. Keys come in a fixed order whatever the input's, one per line,
 * with the short siblings arrays inline: the layout Biome keeps, so the golden copies stay lint-clean.
 */
function cpuFunctionsJson(cpus: readonly AssignedCpu[]): string {
  const objects = cpus.map((cpu) => {
    const fields: [string, string][] = [
      ['cpu', `${cpu.cpu}`],
      ['package', `${cpu.package}`],
      ['core', `${cpu.core}`],
      ['thread', `${cpu.thread}`],
      ['numaNode', `${cpu.numaNode}`],
      ['siblings', `[${cpu.siblings.join(', ')}]`],
      ['function', JSON.stringify(cpu.function)],
    ];
    return `  {\n${fields.map(([key, value]) => `    "${key}": ${value}`).join(',\n')}\n  }`;
  });
  return `[\n${objects.join(',\n')}\n]\n`;
}
