import * as assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeTopology } from '../../test/helpers/topologies.js';
import { AppError } from '../core/errors.js';
import { allocateCpuFunctions } from './cpu-allocation.js';
import { type HostConfigInput, renderHostConfig } from './render.js';
import type { CpuFunctionCounts } from './topology.js';

const GOLDEN_ROOT = fileURLToPath(new URL('../../test/golden/render/', import.meta.url));
const IS_UPDATING = process.env.UPDATE_GOLDEN === '1';
const KUBELET = 'etc/kubernetes/kubelet.conf.d/50-murm-cpu-manager.conf';
const GRUB = 'etc/default/grub.d/50-murm-cpu.cfg';

function counts(platform: Record<number, number>, isolated: Record<number, number> = {}): CpuFunctionCounts {
  return { platform, 'application-isolated': isolated };
}

const CASES: Record<string, HostConfigInput> = {
  // cpu N and N + 8 share a core; node 0 has cores (0,8) (1,9) (2,10) (3,11), node 1 (4,12) … (7,15).
  'two-socket-smt': {
    hostname: 'worker-0',
    personality: 'worker',
    subfunctions: ['worker'],
    cpus: allocateCpuFunctions(
      makeTopology({ packages: 2, coresPerPackage: 4, threadsPerCore: 2 }),
      counts({ 0: 2, 1: 1 }, { 1: 2 }),
    ),
  },
  // An all-in-one controller; cores (0,1) (2,3) (4,5) (6,7).
  'one-socket-smt-adjacent': {
    hostname: 'controller-0',
    personality: 'controller',
    subfunctions: ['controller', 'worker'],
    cpus: allocateCpuFunctions(
      makeTopology({ packages: 1, coresPerPackage: 4, threadsPerCore: 2, siblingsAdjacent: true }),
      counts({ 0: 1 }, { 0: 2 }),
    ),
  },
  'no-smt': {
    hostname: 'worker-1',
    personality: 'worker',
    subfunctions: ['worker'],
    cpus: allocateCpuFunctions(
      makeTopology({ packages: 1, coresPerPackage: 4, threadsPerCore: 1 }),
      counts({ 0: 1 }),
    ),
  },
};

/** Every file under `dir`, as `/`-separated paths relative to it. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

describe('renderHostConfig golden files', () => {
  for (const [name, input] of Object.entries(CASES)) {
    it(`renders ${name} as in test/golden/render/${name}`, () => {
      const files = renderHostConfig(input);
      const dir = join(GOLDEN_ROOT, name);
      if (IS_UPDATING) {
        rmSync(dir, { recursive: true, force: true });
        for (const file of files) {
          mkdirSync(dirname(join(dir, file.path)), { recursive: true });
          writeFileSync(join(dir, file.path), file.content);
        }
      }
      assert.deepEqual(
        files.map((file) => file.path),
        listFiles(dir),
        'rendered paths match the golden files (UPDATE_GOLDEN=1 rewrites them)',
      );
      for (const file of files) {
        assert.equal(file.mode, 0o644, file.path);
        assert.equal(file.content, readFileSync(join(dir, file.path), 'utf8'), file.path);
      }
    });
  }
});

describe('renderHostConfig', () => {
  const worker = CASES['two-socket-smt'] as HostConfigInput;

  it('renders no kubelet drop-in for a pure controller or a storage host', () => {
    for (const personality of ['controller', 'storage'] as const) {
      const paths = renderHostConfig({ ...worker, personality, subfunctions: [personality] }).map(
        (f) => f.path,
      );
      assert.ok(!paths.includes(KUBELET), personality);
      assert.equal(paths.length, 4, personality);
    }
  });

  it('renders the kubelet drop-in for a controller with the worker subfunction', () => {
    const input = { ...worker, personality: 'controller' as const, subfunctions: ['controller', 'worker'] };
    assert.ok(renderHostConfig(input).some((file) => file.path === KUBELET));
  });

  it('adds no kernel parameters when nothing is isolated, but still renders the grub fragment', () => {
    const grub = renderHostConfig(CASES['no-smt'] as HostConfigInput).find((file) => file.path === GRUB);
    assert.ok(grub);
    assert.doesNotMatch(grub.content, /GRUB_CMDLINE_LINUX|isolcpus|nohz_full|rcu_nocbs/);
    assert.match(grub.content, /No application-isolated CPUs/);
  });

  it('keeps SMT siblings together in the isolated and platform lists', () => {
    const files = renderHostConfig(worker);
    const grub = files.find((file) => file.path === GRUB)?.content ?? '';
    assert.match(
      grub,
      /^GRUB_CMDLINE_LINUX="\$\{GRUB_CMDLINE_LINUX\} isolcpus=5-6,13-14 nohz_full=5-6,13-14 rcu_nocbs=5-6,13-14"$/m,
    );
    assert.equal(files.find((file) => file.path === 'etc/murm/platform-cpuset')?.content, '0-1,4,8-9,12\n');
  });

  it('writes the full assignment as JSON the device plugin can read back', () => {
    const json = renderHostConfig(worker).find((file) => file.path === 'etc/murm/cpu-functions.json');
    assert.deepEqual(JSON.parse(json?.content ?? 'null'), worker.cpus);
  });

  it('renders the same files whatever the order of the cpus', () => {
    assert.deepEqual(
      renderHostConfig({ ...worker, cpus: [...worker.cpus].reverse() }),
      renderHostConfig(worker),
    );
  });

  it('refuses a host without CPU inventory', () => {
    assert.throws(
      () => renderHostConfig({ ...worker, cpus: [] }),
      (error: unknown) => error instanceof AppError && error.code === 'precondition_failed',
    );
  });
});
