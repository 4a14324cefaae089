import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CpuPlacement, makeTopology, topologyOf } from '../../test/helpers/topologies.js';
import { AppError, type ErrorCode } from '../core/errors.js';
import {
  allocateCpuFunctions,
  defaultCpuFunctionCounts,
  physicalCores,
  requestCpuFunction,
} from './cpu-allocation.js';
import { CPU_FUNCTIONS, type CpuFunction, type CpuFunctionCounts, type LogicalCpu } from './topology.js';

/** 2 sockets × 4 cores × 2 threads, Linux numbering: cpu N and N + 8 share a core. */
const TWO_SOCKET_SMT = makeTopology({ packages: 2, coresPerPackage: 4, threadsPerCore: 2 });
/** 1 socket × 4 cores × 2 threads, siblings numbered next to each other: (0,1) (2,3) (4,5) (6,7). */
const ONE_SOCKET_ADJACENT = makeTopology({
  packages: 1,
  coresPerPackage: 4,
  threadsPerCore: 2,
  siblingsAdjacent: true,
});
const NO_SMT = makeTopology({ packages: 1, coresPerPackage: 4, threadsPerCore: 1 });
/** cpu0 is core 8, cpu1 core 2, cpu2 core 5, cpu3 core 0: allocation follows core ids, not cpu numbers. */
const SCATTERED_CORE_IDS = makeTopology({
  packages: 1,
  coresPerPackage: 4,
  threadsPerCore: 1,
  coreIds: [[8, 2, 5, 0]],
});

function counts(platform: Record<number, number>, isolated: Record<number, number> = {}): CpuFunctionCounts {
  return { platform, 'application-isolated': isolated };
}

/** The CPUs given `fn`, ascending. */
function cpusWith(cpus: readonly LogicalCpu[], given: CpuFunctionCounts, fn: CpuFunction): number[] {
  return allocateCpuFunctions(cpus, given)
    .filter((cpu) => cpu.function === fn)
    .map((cpu) => cpu.cpu);
}

describe('physicalCores', () => {
  it('groups Linux-numbered siblings into one core per (package, core id)', () => {
    assert.deepEqual(
      physicalCores(TWO_SOCKET_SMT).map((core) => [core.numaNode, core.package, core.core, core.cpus]),
      [
        [0, 0, 0, [0, 8]],
        [0, 0, 1, [1, 9]],
        [0, 0, 2, [2, 10]],
        [0, 0, 3, [3, 11]],
        [1, 1, 0, [4, 12]],
        [1, 1, 1, [5, 13]],
        [1, 1, 2, [6, 14]],
        [1, 1, 3, [7, 15]],
      ],
    );
  });

  it('orders cores by core id, whatever the cpu numbering', () => {
    assert.deepEqual(
      physicalCores(SCATTERED_CORE_IDS).map((core) => [core.core, core.cpus]),
      [
        [0, [3]],
        [2, [1]],
        [5, [2]],
        [8, [0]],
      ],
    );
  });
});

describe('defaultCpuFunctionCounts', () => {
  it('gives one platform core on NUMA node 0 and isolates nothing', () => {
    assert.deepEqual(defaultCpuFunctionCounts(TWO_SOCKET_SMT), counts({ 0: 1 }));
    assert.deepEqual(cpusWith(TWO_SOCKET_SMT, defaultCpuFunctionCounts(TWO_SOCKET_SMT), 'platform'), [0, 8]);
  });

  it('uses the lowest NUMA node when there is no node 0', () => {
    const placements: CpuPlacement[] = [
      { cpu: 0, package: 0, core: 0, numaNode: 2 },
      { cpu: 1, package: 1, core: 0, numaNode: 1 },
    ];
    assert.deepEqual(defaultCpuFunctionCounts(topologyOf(placements)), counts({ 1: 1 }));
  });
});

describe('allocateCpuFunctions', () => {
  const cases: [string, LogicalCpu[], CpuFunctionCounts, number[], number[]][] = [
    ['2-socket SMT', TWO_SOCKET_SMT, counts({ 0: 2, 1: 1 }, { 1: 2 }), [0, 1, 4, 8, 9, 12], [5, 6, 13, 14]],
    [
      '1-socket SMT with adjacent siblings',
      ONE_SOCKET_ADJACENT,
      counts({ 0: 1 }, { 0: 2 }),
      [0, 1],
      [2, 3, 4, 5],
    ],
    ['no SMT', NO_SMT, counts({ 0: 1 }), [0], []],
    ['scattered core ids', SCATTERED_CORE_IDS, counts({ 0: 1 }, { 0: 1 }), [3], [1]],
  ];
  for (const [name, cpus, given, platform, isolated] of cases) {
    it(`gives platform the lowest cores and isolates the next ones (${name})`, () => {
      const assigned = allocateCpuFunctions(cpus, given);
      assert.deepEqual(
        assigned.map((cpu) => cpu.cpu),
        cpus.map((cpu) => cpu.cpu),
      );
      assert.deepEqual(cpusWith(cpus, given, 'platform'), platform);
      assert.deepEqual(cpusWith(cpus, given, 'application-isolated'), isolated);
      const rest = cpus
        .map((cpu) => cpu.cpu)
        .filter((cpu) => !platform.includes(cpu) && !isolated.includes(cpu));
      assert.deepEqual(cpusWith(cpus, given, 'application'), rest);
    });
  }

  it('takes platform cores from the lowest cores of each NUMA node', () => {
    assert.deepEqual(cpusWith(TWO_SOCKET_SMT, counts({ 0: 1, 1: 1 }), 'platform'), [0, 4, 8, 12]);
  });

  it('keeps every field of the inventory and adds the function', () => {
    const [first] = allocateCpuFunctions(TWO_SOCKET_SMT, counts({ 0: 1 }));
    assert.deepEqual(first, { ...TWO_SOCKET_SMT[0], function: 'platform' });
  });

  it('ignores a zero count on a NUMA node the host no longer has', () => {
    assert.deepEqual(cpusWith(NO_SMT, counts({ 0: 1, 3: 0 }, { 3: 0 }), 'platform'), [0]);
  });
});

describe('requestCpuFunction', () => {
  const current = counts({ 0: 1 });

  it('sets platform cores on the named node and keeps the others', () => {
    assert.deepEqual(
      requestCpuFunction(TWO_SOCKET_SMT, current, 'platform', { 1: 2 }),
      counts({ 0: 1, 1: 2 }),
    );
  });

  it('sets application-isolated cores on the named nodes', () => {
    assert.deepEqual(
      requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1 }, { 0: 1 }), 'application-isolated', { 1: 3 }),
      counts({ 0: 1 }, { 0: 1, 1: 3 }),
    );
  });

  it('isolates what is left after platform and the requested application cores', () => {
    const result = requestCpuFunction(TWO_SOCKET_SMT, current, 'application', { 0: 1, 1: 3 });
    assert.deepEqual(result, counts({ 0: 1 }, { 0: 2, 1: 1 }));
    assert.deepEqual(cpusWith(TWO_SOCKET_SMT, result, 'application'), [3, 5, 6, 7, 11, 13, 14, 15]);
  });

  it('drops counts set to zero', () => {
    const result = requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1, 1: 1 }, { 1: 2 }), 'platform', { 1: 0 });
    assert.deepEqual(result, counts({ 0: 1 }, { 1: 2 }));
  });

  it('does not change the counts it was given', () => {
    const before = counts({ 0: 1 }, { 0: 1 });
    requestCpuFunction(TWO_SOCKET_SMT, before, 'platform', { 0: 2 });
    assert.deepEqual(before, counts({ 0: 1 }, { 0: 1 }));
  });
});

describe('refusals', () => {
  const cases: [string, () => unknown, ErrorCode, string, Record<string, unknown>][] = [
    [
      'an unknown NUMA node',
      () => requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1 }), 'platform', { 2: 1 }),
      'invalid_input',
      'NUMA node "2" does not exist on this host; its NUMA nodes are 0, 1',
      { numaNode: '2', nodes: [0, 1] },
    ],
    [
      'a negative count',
      () => requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1 }), 'application-isolated', { 1: -1 }),
      'invalid_input',
      'application-isolated core count for NUMA node 1 must be a whole number of physical cores (0 or more), got -1',
      { numaNode: 1, requested: -1 },
    ],
    [
      'a fractional count',
      () => requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1 }), 'platform', { 0: 1.5 }),
      'invalid_input',
      'platform core count for NUMA node 0 must be a whole number of physical cores (0 or more), got 1.5',
      { numaNode: 0, requested: 1.5 },
    ],
    [
      'platform and isolated cores that do not fit on a node',
      () => requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1, 1: 3 }), 'application-isolated', { 1: 2 }),
      'invalid_input',
      'NUMA node 1 has 4 physical cores; 3 platform + 2 application-isolated do not fit',
      { numaNode: 1, available: 4, requested: 5 },
    ],
    [
      'more application cores than a node has after platform',
      () => requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1 }), 'application', { 0: 4 }),
      'invalid_input',
      'NUMA node 0 has 4 physical cores; 1 platform + 4 application do not fit',
      { numaNode: 0, available: 4, requested: 5 },
    ],
    [
      'no platform core left',
      () => requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1 }), 'platform', { 0: 0 }),
      'invalid_input',
      'at least one platform core is required',
      { requested: 0 },
    ],
    [
      'no core left for applications',
      () => requestCpuFunction(TWO_SOCKET_SMT, counts({ 0: 1 }), 'platform', { 0: 4, 1: 4 }),
      'invalid_input',
      'at least one core must remain for applications',
      { available: 8, requested: 8 },
    ],
    [
      'the defaults on a one-core host, which leave nothing for applications',
      () => {
        const oneCore = makeTopology({ packages: 1, coresPerPackage: 1, threadsPerCore: 2 });
        return allocateCpuFunctions(oneCore, defaultCpuFunctionCounts(oneCore));
      },
      'invalid_input',
      'at least one core must remain for applications',
      { available: 1, requested: 1 },
    ],
    [
      'a stored count that no longer fits the hardware',
      () => allocateCpuFunctions(NO_SMT, counts({ 0: 1 }, { 0: 4 })),
      'invalid_input',
      'NUMA node 0 has 4 physical cores; 1 platform + 4 application-isolated do not fit',
      { numaNode: 0, available: 4, requested: 5 },
    ],
    [
      'a stored count on a NUMA node that is gone',
      () => allocateCpuFunctions(NO_SMT, counts({ 0: 1 }, { 1: 2 })),
      'invalid_input',
      'NUMA node "1" does not exist on this host; its NUMA nodes are 0',
      { numaNode: '1', nodes: [0] },
    ],
    [
      'an empty topology (request)',
      () => requestCpuFunction([], counts({ 0: 1 }), 'platform', { 0: 1 }),
      'precondition_failed',
      'no CPU inventory reported yet for this host',
      {},
    ],
    [
      'an empty topology (allocation)',
      () => allocateCpuFunctions([], counts({ 0: 1 })),
      'precondition_failed',
      'no CPU inventory reported yet for this host',
      {},
    ],
    [
      'an empty topology (defaults)',
      () => defaultCpuFunctionCounts([]),
      'precondition_failed',
      'no CPU inventory reported yet for this host',
      {},
    ],
  ];
  for (const [name, call, code, message, details] of cases) {
    it(`refuses ${name}`, () => {
      assert.throws(call, (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, code);
        assert.equal(error.message, message);
        for (const [key, value] of Object.entries(details)) assert.deepEqual(error.details[key], value, key);
        return true;
      });
    });
  }

  it('accepts isolating every core left after platform', () => {
    assert.deepEqual(cpusWith(NO_SMT, counts({ 0: 1 }, { 0: 3 }), 'application'), []);
  });
});

/** mulberry32: a tiny seeded PRNG, so a failing case can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Random {
  int(min: number, max: number): number;
  shuffle<T>(items: readonly T[]): T[];
}

function randomOf(seed: number): Random {
  const next = mulberry32(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    int,
    shuffle: (items) => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i -= 1) {
        const j = int(0, i);
        [copy[i], copy[j]] = [copy[j] as (typeof copy)[number], copy[i] as (typeof copy)[number]];
      }
      return copy;
    },
  };
}

/** 1–4 packages (one NUMA node each), 1–16 cores with scattered ids, 1–2 threads, cpus numbered at random. */
function randomTopology(random: Random): LogicalCpu[] {
  const packages = random.int(1, 4);
  const threads = random.int(1, 2);
  const places: Omit<CpuPlacement, 'cpu'>[] = [];
  for (let pkg = 0; pkg < packages; pkg += 1) {
    const coreIds = random.shuffle(Array.from({ length: 64 }, (_, id) => id)).slice(0, random.int(1, 16));
    for (const core of coreIds) {
      for (let thread = 0; thread < threads; thread += 1) places.push({ package: pkg, core, numaNode: pkg });
    }
  }
  const numbers = random.shuffle(places.map((_, index) => index));
  return topologyOf(places.map((place, index) => ({ ...place, cpu: numbers[index] as number })));
}

/** Mostly valid requests, sometimes a count too large, negative, or on a node the host lacks. */
function randomRequest(
  random: Random,
  coresOnNode: Map<number, number>,
): [CpuFunction, Record<number, number>] {
  const fn = CPU_FUNCTIONS[random.int(0, CPU_FUNCTIONS.length - 1)] as CpuFunction;
  const request: Record<number, number> = {};
  for (const [node, cores] of coresOnNode) {
    if (random.int(0, 2) > 0) request[node] = random.int(0, Math.min(cores + 1, random.int(1, cores + 1)));
  }
  const oddity = random.int(0, 19);
  if (oddity === 0) request[coresOnNode.size + random.int(0, 2)] = 1;
  if (oddity === 1) request[0] = -1;
  return [fn, request];
}

/** Cores of each node in the order the rules define (package, then core id), computed independently. */
function coresInRuleOrder(cpus: readonly LogicalCpu[]): Map<number, string[]> {
  const byNode = new Map<number, Set<string>>();
  const ordered = [...cpus].sort((a, b) => a.package - b.package || a.core - b.core);
  for (const cpu of ordered) {
    const set = byNode.get(cpu.numaNode) ?? new Set<string>();
    set.add(`${cpu.package}:${cpu.core}`);
    byNode.set(cpu.numaNode, set);
  }
  return new Map([...byNode].map(([node, set]) => [node, [...set]]));
}

function expectedRun(given: CpuFunctionCounts, node: number, cores: number): CpuFunction[] {
  const platform = given.platform[node] ?? 0;
  const isolated = given['application-isolated'][node] ?? 0;
  return [
    ...Array<CpuFunction>(platform).fill('platform'),
    ...Array<CpuFunction>(isolated).fill('application-isolated'),
    ...Array<CpuFunction>(cores - platform - isolated).fill('application'),
  ];
}

function checkAllocation(cpus: readonly LogicalCpu[], given: CpuFunctionCounts, context: string): void {
  const assigned = allocateCpuFunctions(cpus, given);
  assert.deepEqual(
    assigned.map((cpu) => cpu.cpu),
    cpus.map((cpu) => cpu.cpu).sort((a, b) => a - b),
    `${context}: every cpu once, sorted`,
  );
  const coreFunction = new Map<string, CpuFunction>();
  for (const cpu of assigned) {
    const key = `${cpu.package}:${cpu.core}`;
    const seen = coreFunction.get(key);
    assert.ok(seen === undefined || seen === cpu.function, `${context}: siblings of core ${key} split`);
    coreFunction.set(key, cpu.function);
  }
  for (const [node, cores] of coresInRuleOrder(cpus)) {
    assert.deepEqual(
      cores.map((key) => coreFunction.get(key)),
      expectedRun(given, node, cores.length),
      `${context}: functions of the cores of NUMA node ${node} in (package, core) order`,
    );
  }
}

function checkRequestHonoured(
  before: CpuFunctionCounts,
  after: CpuFunctionCounts,
  [fn, request]: [CpuFunction, Record<number, number>],
  coresOnNode: Map<number, number>,
  context: string,
): void {
  for (const [node, cores] of coresOnNode) {
    const platform = after.platform[node] ?? 0;
    const isolated = after['application-isolated'][node] ?? 0;
    const actual = { platform, 'application-isolated': isolated, application: cores - platform - isolated };
    const requested = request[node];
    if (requested !== undefined) assert.equal(actual[fn], requested, `${context}: ${fn} on node ${node}`);
    if (requested === undefined || fn !== 'platform') {
      assert.equal(platform, before.platform[node] ?? 0, `${context}: platform on node ${node} kept`);
    }
    if (requested === undefined || fn === 'platform') {
      const kept = before['application-isolated'][node] ?? 0;
      assert.equal(isolated, kept, `${context}: isolated on node ${node} kept`);
    }
  }
}

describe('allocation properties', () => {
  const baseSeed = Number(process.env.MURM_PROPERTY_SEED ?? 20_261_123);
  const runs = 600;

  it(`holds for ${runs} random topologies and requests (base seed ${baseSeed})`, () => {
    let succeeded = 0;
    let refused = 0;
    for (let run = 0; run < runs; run += 1) {
      const seed = baseSeed + run;
      const random = randomOf(seed);
      const cpus = randomTopology(random);
      const coresOnNode = new Map([...coresInRuleOrder(cpus)].map(([node, cores]) => [node, cores.length]));
      let current: CpuFunctionCounts = counts({ 0: 1 });
      for (let step = 0; step < 4; step += 1) {
        const context = `seed ${seed} step ${step} (replay: MURM_PROPERTY_SEED=${seed})`;
        const request = randomRequest(random, coresOnNode);
        let next: CpuFunctionCounts;
        try {
          next = requestCpuFunction(cpus, current, ...request);
        } catch (error) {
          assert.ok(error instanceof AppError, `${context}: ${String(error)}`);
          assert.ok(
            ['invalid_input', 'precondition_failed'].includes(error.code),
            `${context}: ${error.code}`,
          );
          assert.ok(error.message.length > 0, `${context}: empty message`);
          refused += 1;
          continue;
        }
        checkRequestHonoured(current, next, request, coresOnNode, context);
        checkAllocation(cpus, next, context);
        current = next;
        succeeded += 1;
      }
    }
    // Both paths must be exercised, or the property says nothing.
    assert.ok(succeeded > runs / 2 && refused > runs / 10, `succeeded ${succeeded}, refused ${refused}`);
  });
});
