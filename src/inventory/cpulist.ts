/**
 * The kernel's cpulist format (`0-3,8,10-11`), as sysfs prints CPU masks in `*_list` files and as the
 * `isolcpus=` and `nohz_full=` boot arguments take them.
 */

/**
 * Highest CPU number accepted. Linux builds for at most 8192 CPUs today; the bound keeps a corrupt range
 * such as `0-4294967295` from allocating a huge array.
 */
const MAX_CPU = 65_535;

const RANGE = /^(\d+)(?:-(\d+))?$/;

/**
 * Parses a cpulist into ascending, distinct CPU numbers. Blank text (a memoryless NUMA node) is the empty
 * list. Throws an Error naming the bad part for anything else the kernel would not print.
 */
export function parseCpuList(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const cpus = new Set<number>();
  for (const part of trimmed.split(',')) {
    const [first, last] = parseRange(part, trimmed);
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

function parseRange(part: string, list: string): [number, number] {
  const match = RANGE.exec(part.trim());
  if (!match?.[1]) {
    throw new Error(`cpu list ${quote(list)}: ${quote(part)} is neither a CPU number nor a range like "0-3"`);
  }
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  if (last < first) throw new Error(`cpu list ${quote(list)}: range ${quote(part)} runs backwards`);
  if (last > MAX_CPU) throw new Error(`cpu list ${quote(list)}: CPU ${last} is above ${MAX_CPU}`);
  return [first, last];
}

/**
 * Formats CPU numbers as the kernel prints them: ascending, duplicates dropped, every run of two or more
 * consecutive CPUs as a range. Throws a RangeError for a number that is not a CPU number.
 */
export function formatCpuList(cpus: readonly number[]): string {
  for (const cpu of cpus) {
    if (!Number.isSafeInteger(cpu) || cpu < 0) throw new RangeError(`${cpu} is not a CPU number`);
  }
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  let start = 0;
  for (let index = 1; index <= sorted.length; index++) {
    if (index < sorted.length && sorted[index] === (sorted[index - 1] ?? 0) + 1) continue;
    const first = sorted[start];
    const last = sorted[index - 1];
    parts.push(first === last ? `${first}` : `${first}-${last}`);
    start = index;
  }
  return parts.join(',');
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
