import type { AssignedCpu } from '../../inventory/topology.js';

/**
 * The CPUs kubelet should give a container asking for `size` isolated CPUs, mirroring the SMT-aware
 * rule of StarlingX 7.0's isolcpus device plugin, so that a container owns whole physical cores and
 * hyper-thread siblings are not shared between two latency-sensitive workloads:
 *   1. `mustInclude` first (kubelet's own choice, e.g. CPUs reused from an init container).
 *   2. Whole free pairs (both siblings application-isolated, available and not yet chosen), up to
 *      ⌊remaining/2⌋ of them.
 *   3. CPUs with no free sibling to pair with: the sibling is already allocated (an isolated CPU neither
 *      available nor chosen now), was chosen just now, or is not isolated at all.
 *   4. Only then one sibling of a free pair, which splits it; so a pair is split only for an odd
 *      remainder when step 3 has nothing left, and at most one CPU is taken that way.
 * When the whole request (must-include CPUs included) fits on one NUMA node, every CPU comes from one
 * node: the node of the must-include CPUs if they share one; otherwise the node where the steps above
 * give the most pairs, then no split, then the most free pairs, then the lowest CPU number. Within a step,
 * lower CPU numbers go first. The result holds at most `size` IDs, only from `available` ∪ `mustInclude`,
 * sorted numerically. IDs that are not isolated CPUs of `cpus` are valid answers but are treated as CPUs
 * without sibling or node.
 */
export function preferredAllocation(
  cpus: readonly AssignedCpu[],
  available: string[],
  mustInclude: string[],
  size: number,
): string[] {
  const isolated = new Map<string, AssignedCpu>();
  for (const cpu of cpus) if (cpu.function === 'application-isolated') isolated.set(String(cpu.cpu), cpu);

  const chosen = [...new Set(mustInclude)].sort(compareIds).slice(0, Math.max(0, size));
  const chosenSet = new Set(chosen);
  const free = [...new Set(available)].filter((id) => !chosenSet.has(id)).sort(compareIds);
  const need = Math.max(0, size - chosen.length);
  if (need === 0 || free.length === 0) return chosen;

  const picked = pickOnOneNode({ isolated, free, chosen, need }) ?? pick(isolated, free, need);
  return [...chosen, ...picked.ids].sort(compareIds);
}

interface Pick {
  ids: string[];
  /** Complete pairs among `ids`. */
  pairs: number;
  /** Whether a free pair had to be split. */
  isSplit: boolean;
  /** Free pairs in the pool the pick was made from. */
  freePairs: number;
}

/** Steps 2–4 over `pool` (sorted). */
function pick(isolated: ReadonlyMap<string, AssignedCpu>, pool: string[], need: number): Pick {
  const inPool = new Set(pool);
  const paired = new Set<string>();
  const pairs: [string, string][] = [];
  const unpaired: string[] = [];
  for (const id of pool) {
    if (paired.has(id)) continue;
    const sibling = isolated
      .get(id)
      ?.siblings.map(String)
      .find((s) => s !== id && inPool.has(s) && !paired.has(s));
    if (sibling === undefined) {
      unpaired.push(id);
    } else {
      pairs.push([id, sibling]);
      paired.add(id).add(sibling);
    }
  }
  const wholePairs = pairs.slice(0, Math.floor(need / 2));
  const ids = wholePairs.flat();
  const rest = need - ids.length;
  const fromUnpaired = unpaired.slice(0, rest);
  const fromPairs = pairs
    .slice(wholePairs.length)
    .flat()
    .slice(0, rest - fromUnpaired.length);
  ids.push(...fromUnpaired, ...fromPairs);
  return { ids, pairs: wholePairs.length, isSplit: fromPairs.length % 2 === 1, freePairs: pairs.length };
}

interface NodeChoice {
  isolated: ReadonlyMap<string, AssignedCpu>;
  free: string[];
  chosen: string[];
  need: number;
}

/** The best pick from a single NUMA node the whole request fits on; undefined when none fits. */
function pickOnOneNode({ isolated, free, chosen, need }: NodeChoice): Pick | undefined {
  const byNode = new Map<number, string[]>();
  for (const id of free) {
    const node = isolated.get(id)?.numaNode;
    if (node === undefined) continue;
    byNode.set(node, [...(byNode.get(node) ?? []), id]);
  }
  const chosenNodes = new Set(chosen.map((id) => isolated.get(id)?.numaNode));
  const candidates = [...byNode.entries()]
    .filter(([node, ids]) => ids.length >= need && (chosen.length === 0 || isOnly(chosenNodes, node)))
    .map(([, ids]) => ({ first: ids[0] ?? '', pick: pick(isolated, ids, need) }))
    .sort(
      (a, b) =>
        b.pick.pairs - a.pick.pairs ||
        Number(a.pick.isSplit) - Number(b.pick.isSplit) ||
        b.pick.freePairs - a.pick.freePairs ||
        compareIds(a.first, b.first),
    );
  return candidates[0]?.pick;
}

function isOnly(nodes: ReadonlySet<number | undefined>, node: number): boolean {
  return nodes.size === 1 && nodes.has(node);
}

/** Numeric order for CPU numbers; anything else after them, in string order. */
function compareIds(a: string, b: string): number {
  const x = /^\d+$/.test(a) ? Number(a) : Number.POSITIVE_INFINITY;
  const y = /^\d+$/.test(b) ? Number(b) : Number.POSITIVE_INFINITY;
  return x - y || (x === Number.POSITIVE_INFINITY && y === Number.POSITIVE_INFINITY ? a.localeCompare(b) : 0);
}
