import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AssignedCpu } from '../../inventory/topology.js';
import { preferredAllocation } from './allocation.js';

interface HostShape {
  nodes: number;
  coresPerNode: number;
  threadsPerCore: number;
  /** Which threads of which global core are application-isolated: `isolated(core, thread)`. */
  isolated: (core: number, thread: number) => boolean;
}

/** Linux numbering: thread t of global core c is cpu c + t × cores; nodes hold consecutive cores. */
function buildHost(shape: HostShape): AssignedCpu[] {
  const cores = shape.nodes * shape.coresPerNode;
  const threads = [...Array(shape.threadsPerCore).keys()];
  return [...Array(cores).keys()].flatMap((core) =>
    threads.map((thread) => ({
      cpu: core + thread * cores,
      package: Math.floor(core / shape.coresPerNode),
      core: core % shape.coresPerNode,
      thread,
      numaNode: Math.floor(core / shape.coresPerNode),
      siblings: threads.map((t) => core + t * cores),
      function: shape.isolated(core, thread) ? 'application-isolated' : 'application',
    })),
  );
}

// 2 nodes × 4 cores × 2 threads, siblings N and N+8; cores 2–3 of each node isolated:
// node 0 has pairs {2,10} {3,11}, node 1 has pairs {6,14} {7,15}.
const HOST = buildHost({
  nodes: 2,
  coresPerNode: 4,
  threadsPerCore: 2,
  isolated: (core) => core % 4 >= 2,
});
const ALL = ['2', '3', '6', '7', '10', '11', '14', '15'];
const without = (...ids: string[]) => ALL.filter((id) => !ids.includes(id));

const CASES: { name: string; available: string[]; mustInclude?: string[]; size: number; want: string[] }[] = [
  { name: 'takes one whole core for 2', available: ALL, size: 2, want: ['2', '10'] },
  { name: 'takes two whole cores of one node for 4', available: ALL, size: 4, want: ['2', '3', '10', '11'] },
  {
    name: 'splits a pair for 3 only when no half core is free',
    available: ALL,
    size: 3,
    want: ['2', '3', '10'],
  },
  { name: 'takes one thread for 1 when every core is whole', available: ALL, size: 1, want: ['2'] },
  {
    name: 'crosses nodes only when no node fits',
    available: ALL,
    size: 6,
    want: ['2', '3', '6', '10', '11', '14'],
  },
  { name: 'prefers a cpu whose sibling is allocated for 1', available: without('11'), size: 1, want: ['3'] },
  {
    name: 'completes an odd request with a half core rather than splitting a pair',
    available: without('11'),
    size: 3,
    want: ['2', '3', '10'],
  },
  {
    name: 'prefers the node with more free pairs when both give whole cores',
    available: without('3', '11'),
    size: 2,
    want: ['6', '14'],
  },
  {
    name: 'prefers the node giving whole cores over the one with half cores',
    available: without('14', '15'),
    size: 2,
    want: ['2', '10'],
  },
  {
    name: 'completes the core of a must-include cpu',
    available: ALL,
    mustInclude: ['2'],
    size: 2,
    want: ['2', '10'],
  },
  {
    name: 'adds whole pairs after a must-include cpu',
    available: ALL,
    mustInclude: ['2'],
    size: 3,
    want: ['2', '3', '11'],
  },
  {
    name: 'stays on the node of the must-include cpus',
    available: ALL,
    mustInclude: ['7'],
    size: 3,
    want: ['6', '7', '14'],
  },
  {
    name: 'ignores nodes when must-include cpus span nodes',
    available: ALL,
    mustInclude: ['2', '6'],
    size: 4,
    want: ['2', '3', '6', '11'],
  },
  { name: 'returns nothing for size 0', available: ALL, size: 0, want: [] },
  {
    name: 'returns every available cpu when asked for more',
    available: ['3', '2'],
    size: 5,
    want: ['2', '3'],
  },
  {
    name: 'cuts must-include to size',
    available: ALL,
    mustInclude: ['10', '3', '2'],
    size: 2,
    want: ['2', '3'],
  },
];

for (const c of CASES) {
  test(`${c.name}`, () => {
    assert.deepEqual(preferredAllocation(HOST, c.available, c.mustInclude ?? [], c.size), c.want);
  });
}

test('picks the lowest cpus on a host without SMT', () => {
  const host = buildHost({ nodes: 1, coresPerNode: 6, threadsPerCore: 1, isolated: (core) => core >= 1 });
  assert.deepEqual(preferredAllocation(host, ['5', '4', '2', '1'], [], 3), ['1', '2', '4']);
});

test('treats ids it does not know as valid cpus without sibling or node', () => {
  assert.deepEqual(preferredAllocation(HOST, ['2', '10', '99'], [], 3), ['2', '10', '99']);
});

/** Small seeded PRNG (mulberry32) so a failure replays with the same seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What is proved, for any SMT1/SMT2 host, available set, must-include ⊆ available and size. Let r = size −
 * |mustInclude|, picked = result ∖ mustInclude, and pool = the free CPUs (available ∖ mustInclude) of the
 * result's node when the result lies on one node, else all free CPUs. A free pair is a core with both
 * threads in the pool; a split CPU is a picked CPU whose sibling is in the pool but not in the result.
 *   1. The result is sorted, duplicate-free, ⊆ available ∪ mustInclude, of size min(size, |available ∪ mustInclude|).
 *   2. It contains mustInclude whenever |mustInclude| ≤ size.
 *   3. picked holds ≥ min(⌊r/2⌋, free pairs in the pool) complete pairs.
 *   4. picked holds at most one split CPU, and one only when r is odd and every pool CPU without a
 *      sibling in the pool is in the result.
 *   5. If some node holds every must-include CPU and ≥ r free CPUs, the result lies on one node.
 */
test('keeps its SMT and NUMA promises on 1000 random hosts and requests', () => {
  for (let seed = 1; seed <= 1000; seed++) {
    const random = mulberry32(seed);
    const int = (n: number) => Math.floor(random() * n);
    const shape = { nodes: 1 + int(3), coresPerNode: 1 + int(5), threadsPerCore: 1 + int(2) };
    const coreKind = [...Array(shape.nodes * shape.coresPerNode)].map(() => random());
    // Mostly whole isolated cores, sometimes only thread 0 (a CPU whose sibling is not isolated).
    const host = buildHost({
      ...shape,
      isolated: (core, thread) =>
        (coreKind[core] ?? 1) < 0.5 || ((coreKind[core] ?? 1) < 0.65 && thread === 0),
    });
    const byId = new Map(host.map((cpu) => [String(cpu.cpu), cpu]));
    const isolatedIds = host
      .filter((cpu) => cpu.function === 'application-isolated')
      .map((cpu) => String(cpu.cpu));
    const available = isolatedIds.filter(() => random() < 0.7);
    const mustInclude = available.filter(() => random() < 0.1);
    const size = int(available.length + 3);
    const result = preferredAllocation(host, available, mustInclude, size);
    const context = `seed ${seed}: available ${available}, must ${mustInclude}, size ${size} → ${result}`;

    assert.deepEqual(
      result,
      [...new Set(result)].sort((a, b) => Number(a) - Number(b)),
      context,
    );
    assert.ok(
      result.every((id) => available.includes(id) || mustInclude.includes(id)),
      context,
    );
    assert.equal(result.length, Math.min(size, new Set([...available, ...mustInclude]).size), context);
    if (mustInclude.length > size) continue;
    assert.ok(
      mustInclude.every((id) => result.includes(id)),
      context,
    );

    const node = (id: string) => byId.get(id)?.numaNode;
    const r = size - mustInclude.length;
    const picked = result.filter((id) => !mustInclude.includes(id));
    const resultNodes = new Set(result.map(node));
    const free = available.filter((id) => !mustInclude.includes(id));
    const pool = resultNodes.size === 1 ? free.filter((id) => resultNodes.has(node(id))) : free;
    const sibling = (id: string) =>
      byId
        .get(id)
        ?.siblings.map(String)
        .find((s) => s !== id);
    const pairsIn = (ids: string[]) => ids.filter((id) => ids.includes(sibling(id) ?? '')).length / 2;
    assert.ok(pairsIn(picked) >= Math.min(Math.floor(r / 2), pairsIn(pool)), `pairs: ${context}`);

    const split = picked.filter(
      (id) => pool.includes(sibling(id) ?? '') && !result.includes(sibling(id) ?? ''),
    );
    assert.ok(split.length <= 1, `splits: ${context}`);
    if (split.length === 1) {
      assert.equal(r % 2, 1, `split on even: ${context}`);
      const loose = pool.filter((id) => !pool.includes(sibling(id) ?? ''));
      assert.ok(
        loose.every((id) => result.includes(id)),
        `split with a half core left: ${context}`,
      );
    }

    const mustNodes = new Set(mustInclude.map(node));
    const fits = [...new Set(free.map(node))].some(
      (n) =>
        (mustInclude.length === 0 || (mustNodes.size === 1 && mustNodes.has(n))) &&
        free.filter((id) => node(id) === n).length >= r,
    );
    if (fits && result.length > 0) assert.equal(resultNodes.size, 1, `numa: ${context}`);
  }
});
