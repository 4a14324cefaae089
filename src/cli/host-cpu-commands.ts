import { type Command, InvalidArgumentError, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { type AssignedCpu, CPU_FUNCTIONS, type CpuFunction } from '../inventory/topology.js';
import { hostPath } from './host-views.js';
import { type Column, type OutputFormat, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

/** NUMA nodes `--cores-on-numa<K>` exists for; commander has no pattern options, so each is declared. */
const NUMA_NODES = [0, 1, 2, 3, 4, 5, 6, 7] as const;
/** Shown in --help; the others are hidden and named in the help text, to keep the option list short. */
const SHOWN_NUMA_NODES = 2;

type ModifyFlags = { function: CpuFunction } & Partial<Record<`coresOnNuma${number}`, number>>;

const CPU_COLUMNS: readonly Column<AssignedCpu>[] = [
  { header: 'CPU', value: (cpu) => cpu.cpu },
  { header: 'PACKAGE', value: (cpu) => cpu.package },
  { header: 'CORE', value: (cpu) => cpu.core },
  { header: 'THREAD', value: (cpu) => cpu.thread },
  { header: 'NUMA', value: (cpu) => cpu.numaNode },
  { header: 'FUNCTION', value: (cpu) => cpu.function },
  { header: 'SIBLINGS', value: (cpu) => cpu.siblings.join(',') },
];

/** `murm host cpu …`: the logical CPUs of a host and the function (platform, application, …) of each. */
export function addHostCpuCommands(host: Command): void {
  const cpu = host
    .command('cpu')
    .description('list the CPUs of a host and assign them to functions')
    .addHelpText(
      'after',
      `
Examples:
  murm host cpu list worker-0
  murm host lock worker-0
  murm host cpu modify worker-0 --function platform --cores-on-numa0 1 --cores-on-numa1 1
  murm host unlock worker-0`,
    );

  cpu
    .command('list')
    .description("list a host's logical CPUs with their topology and function, as its agent reported them")
    .argument('<host>', 'host name')
    .addHelpText('after', '\nExamples:\n  murm host cpu list worker-0\n  murm host cpu list worker-0 -o json')
    .action(async (hostname: string, _flags: unknown, command: Command) => {
      const { items } = await withApi(command, (api) =>
        api.get<{ items: AssignedCpu[] }>(`${hostPath(hostname)}/cpus`),
      );
      await printCpus(globalOptions(command).output, hostname, items);
    });

  const modify = cpu
    .command('modify')
    .description(
      'give a function a number of physical cores on each NUMA node (the host must be locked); ' +
        'all their hardware threads follow',
    )
    .argument('<host>', 'host name')
    .addOption(
      new Option('--function <function>', 'the function to give the cores')
        .choices(CPU_FUNCTIONS)
        .makeOptionMandatory(),
    );
  for (const node of NUMA_NODES) {
    const option = new Option(
      `--cores-on-numa${node} <cores>`,
      `physical cores for the function on NUMA node ${node}`,
    ).argParser(parseCoreCount);
    modify.addOption(node < SHOWN_NUMA_NODES ? option : option.hideHelp());
  }
  modify
    .addHelpText(
      'after',
      `
--cores-on-numa2 … --cores-on-numa7 work the same for NUMA nodes 2 to 7. Give at least one.
application is what is left after platform and application-isolated.

Examples:
  murm host cpu modify worker-0 --function platform --cores-on-numa0 2
  murm host cpu modify worker-0 --function application-isolated --cores-on-numa0 4 --cores-on-numa1 4
  murm host cpu modify worker-0 --function application-isolated --cores-on-numa1 0 -o json`,
    )
    .action(async (hostname: string, flags: ModifyFlags, command: Command) => {
      const body = { function: flags.function, coresPerNuma: coresPerNuma(flags) };
      const { items } = await withApi(command, (api) =>
        api.put<{ items: AssignedCpu[] }>(`${hostPath(hostname)}/cpu-functions`, body),
      );
      const format = globalOptions(command).output;
      if (format === 'table') {
        const counts = Object.entries(body.coresPerNuma).map(([node, cores]) => `NUMA ${node}: ${cores}`);
        process.stdout.write(
          `host "${hostname}": ${flags.function} cores ${counts.join(', ')}; unlock the host to apply\n`,
        );
      }
      await printCpus(format, hostname, items);
    });
}

/** The requested counts by NUMA node, from the `--cores-on-numa<K>` options that were given. */
function coresPerNuma(flags: ModifyFlags): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of NUMA_NODES) {
    const cores = flags[`coresOnNuma${node}`];
    if (cores !== undefined) counts[String(node)] = cores;
  }
  if (Object.keys(counts).length === 0) {
    throw new AppError(
      'invalid_input',
      'give the number of physical cores on at least one NUMA node, like --cores-on-numa0 2',
    );
  }
  return counts;
}

function parseCoreCount(value: string): number {
  const cores = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(cores)) {
    throw new InvalidArgumentError('give a whole number of physical cores, 0 or more');
  }
  return cores;
}

/** CPUs in number order; without any, a sentence instead of an empty table. */
async function printCpus(
  format: OutputFormat,
  hostname: string,
  cpus: readonly AssignedCpu[],
): Promise<void> {
  const sorted = [...cpus].sort((a, b) => a.cpu - b.cpu);
  if (format === 'table' && sorted.length === 0) {
    process.stdout.write(
      `host "${hostname}" has reported no CPUs yet; they appear once its agent connects ` +
        `(see "murm host enrollment-token ${hostname}")\n`,
    );
    return;
  }
  await printList(format, sorted, CPU_COLUMNS);
}
