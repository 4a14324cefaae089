import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { HostInventory, LogicalCpu } from '../inventory/topology.js';
import { discoverInventory } from './discover.js';

const HOSTS = join(import.meta.dirname, '../../test/fixtures/hosts');
const RECORD = join(HOSTS, 'record.sh');

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'murm-discover-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function discoverHost(name: string): Promise<HostInventory> {
  return discoverInventory({ sysfs: join(HOSTS, name, 'sys'), procfs: join(HOSTS, name, 'proc') });
}

function cpuOf(inventory: HostInventory, cpu: number): LogicalCpu | undefined {
  return inventory.cpus.find((each) => each.cpu === cpu);
}

function cpusOnNode(inventory: HostInventory, node: number): number[] {
  return inventory.cpus.filter((cpu) => cpu.numaNode === node).map((cpu) => cpu.cpu);
}

/** Writes the files (relative path → content) under a fresh directory and returns that directory. */
async function tree(name: string, files: Record<string, string>): Promise<string> {
  const base = join(dir, name);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(join(base, file, '..'), { recursive: true });
    await writeFile(join(base, file), content);
  }
  return base;
}

describe('discoverInventory on recorded hosts', () => {
  test('reads two sockets whose SMT siblings are eight apart and whose core ids have gaps', async () => {
    const host = await discoverHost('two-socket-smt');
    assert.deepEqual(host.problems, []);
    assert.equal(host.cpuModel, 'Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz');
    assert.deepEqual(
      host.cpus.map((cpu) => cpu.cpu),
      [...Array(16).keys()],
    );
    assert.deepEqual(cpuOf(host, 0), {
      cpu: 0,
      package: 0,
      core: 0,
      thread: 0,
      numaNode: 0,
      siblings: [0, 8],
    });
    assert.deepEqual(cpuOf(host, 8), {
      cpu: 8,
      package: 0,
      core: 0,
      thread: 1,
      numaNode: 0,
      siblings: [0, 8],
    });
    assert.deepEqual(cpuOf(host, 3), {
      cpu: 3,
      package: 0,
      core: 3,
      thread: 0,
      numaNode: 0,
      siblings: [3, 11],
    });
    assert.deepEqual(cpuOf(host, 6), {
      cpu: 6,
      package: 1,
      core: 4,
      thread: 0,
      numaNode: 1,
      siblings: [6, 14],
    });
    assert.deepEqual(cpuOf(host, 15), {
      cpu: 15,
      package: 1,
      core: 5,
      thread: 1,
      numaNode: 1,
      siblings: [7, 15],
    });
    assert.deepEqual(cpusOnNode(host, 0), [0, 1, 2, 3, 8, 9, 10, 11]);
    assert.deepEqual(cpusOnNode(host, 1), [4, 5, 6, 7, 12, 13, 14, 15]);
    assert.deepEqual(host.numaNodes, [
      { node: 0, cpus: [0, 1, 2, 3, 8, 9, 10, 11], memoryKiB: 16309532 },
      { node: 1, cpus: [4, 5, 6, 7, 12, 13, 14, 15], memoryKiB: 16514556 },
    ]);
    assert.deepEqual(host.memory, { totalKiB: 32824088, availableKiB: 30118220 });
    assert.deepEqual(host.network, [
      { name: 'eno1', mac: '3c:fd:fe:a1:00:10', mtu: 9000, speedMbps: 10000, driver: 'ixgbe' },
      { name: 'eno2', mac: '3c:fd:fe:a1:00:11', mtu: 1500, speedMbps: undefined, driver: 'ixgbe' },
      { name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536, speedMbps: undefined, driver: undefined },
    ]);
  });

  test('reads one socket whose SMT siblings are adjacent', async () => {
    const host = await discoverHost('one-socket-smt');
    assert.deepEqual(host.problems, []);
    assert.equal(host.cpuModel, 'AMD Ryzen 3 3300X 4-Core Processor');
    assert.equal(host.cpus.length, 8);
    assert.deepEqual(cpuOf(host, 0), {
      cpu: 0,
      package: 0,
      core: 0,
      thread: 0,
      numaNode: 0,
      siblings: [0, 1],
    });
    assert.deepEqual(cpuOf(host, 1), {
      cpu: 1,
      package: 0,
      core: 0,
      thread: 1,
      numaNode: 0,
      siblings: [0, 1],
    });
    assert.deepEqual(cpuOf(host, 6), {
      cpu: 6,
      package: 0,
      core: 3,
      thread: 0,
      numaNode: 0,
      siblings: [6, 7],
    });
    assert.deepEqual(host.numaNodes, [{ node: 0, cpus: [0, 1, 2, 3, 4, 5, 6, 7], memoryKiB: 16309532 }]);
    assert.deepEqual(host.memory, { totalKiB: 16309532, availableKiB: 14022316 });
    assert.deepEqual(host.network, [
      { name: 'enp3s0', mac: 'a8:a1:59:0c:22:7e', mtu: 1500, speedMbps: 1000, driver: 'e1000e' },
      { name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536, speedMbps: undefined, driver: undefined },
    ]);
  });

  test('puts every CPU on node 0 with the machine memory when the kernel shows no NUMA nodes', async () => {
    const host = await discoverHost('no-smt');
    assert.deepEqual(host.problems, []);
    assert.deepEqual(host.cpus, [
      { cpu: 0, package: 0, core: 0, thread: 0, numaNode: 0, siblings: [0] },
      { cpu: 1, package: 0, core: 1, thread: 0, numaNode: 0, siblings: [1] },
      { cpu: 2, package: 0, core: 2, thread: 0, numaNode: 0, siblings: [2] },
      { cpu: 3, package: 0, core: 3, thread: 0, numaNode: 0, siblings: [3] },
    ]);
    assert.deepEqual(host.numaNodes, [{ node: 0, cpus: [0, 1, 2, 3], memoryKiB: 8152892 }]);
    assert.deepEqual(host.network, [
      { name: 'eth0', mac: '52:54:00:12:34:56', mtu: 1500, speedMbps: undefined, driver: 'virtio_net' },
      { name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536, speedMbps: undefined, driver: undefined },
    ]);
  });

  test('names each malformed or missing file and still reports everything else', async () => {
    const host = await discoverHost('malformed');
    assert.deepEqual(host.problems, [
      'cpu3/topology/core_id: "abc" is not a number',
      'cpu5/topology/thread_siblings_list: missing',
      'node0/meminfo: no "MemTotal: <n> kB" line',
      'net/enp3s0/mtu: "1500 bytes" is not a number',
    ]);
    assert.deepEqual(
      host.cpus.map((cpu) => cpu.cpu),
      [0, 1, 2, 4, 6, 7],
    );
    assert.deepEqual(cpuOf(host, 2), {
      cpu: 2,
      package: 0,
      core: 1,
      thread: 0,
      numaNode: 0,
      siblings: [2, 3],
    });
    assert.deepEqual(cpuOf(host, 4), {
      cpu: 4,
      package: 0,
      core: 2,
      thread: 0,
      numaNode: 0,
      siblings: [4, 5],
    });
    assert.deepEqual(host.numaNodes, [{ node: 0, cpus: [0, 1, 2, 3, 4, 5, 6, 7], memoryKiB: undefined }]);
    assert.equal(host.cpuModel, 'AMD Ryzen 3 3300X 4-Core Processor');
    assert.deepEqual(host.memory, { totalKiB: 16309532, availableKiB: 14022316 });
    assert.deepEqual(host.network, [
      { name: 'enp3s0', mac: 'a8:a1:59:0c:22:7e', mtu: undefined, speedMbps: 1000, driver: 'e1000e' },
      { name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536, speedMbps: undefined, driver: undefined },
    ]);
  });
});

describe('discoverInventory on made-up trees', () => {
  test('reports only an empty CPU list when the CPU directory is missing', async () => {
    const base = await tree('no-cpu-dir', {
      'sys/class/net/lo/address': '\n',
      'sys/class/net/lo/mtu': '65536\n',
    });
    const host = await discoverInventory({ sysfs: join(base, 'sys'), procfs: join(base, 'proc') });
    assert.deepEqual(host.cpus, []);
    assert.deepEqual(host.numaNodes, [{ node: 0, cpus: [], memoryKiB: undefined }]);
    assert.deepEqual(host.network, [
      { name: 'lo', mac: undefined, mtu: 65536, speedMbps: undefined, driver: undefined },
    ]);
    assert.deepEqual(host.problems, [
      'devices/system/cpu: missing; no CPUs reported',
      'proc/cpuinfo: missing',
      'proc/meminfo: missing',
    ]);
  });

  test('leaves out offline CPUs, falls back to core_cpus_list and names a garbage speed', async () => {
    const cpu = 'sys/devices/system/cpu';
    const base = await tree('offline', {
      [`${cpu}/online`]: '0,2\n',
      [`${cpu}/cpu0/topology/physical_package_id`]: '0\n',
      [`${cpu}/cpu0/topology/core_id`]: '0\n',
      [`${cpu}/cpu0/topology/core_cpus_list`]: '0-1\n',
      [`${cpu}/cpu1/topology/physical_package_id`]: '0\n',
      [`${cpu}/cpu2/topology/physical_package_id`]: '0\n',
      [`${cpu}/cpu2/topology/core_id`]: '1\n',
      [`${cpu}/cpu2/topology/thread_siblings_list`]: '3\n',
      'sys/devices/system/node/node0/cpulist': '0-2\n',
      'sys/devices/system/node/node0/meminfo': 'Node 0 MemTotal:    1024 kB\n',
      'sys/class/net/bonding_masters': 'bond0\n',
      'sys/class/net/bond0/address': 'aa:bb:cc:dd:ee:ff\n',
      'sys/class/net/bond0/mtu': '1500\n',
      'sys/class/net/bond0/speed': 'fast\n',
      'proc/cpuinfo': 'processor\t: 0\nCPU part\t: 0xd0c\n\n',
      'proc/meminfo': 'MemTotal:    2048 kB\n',
    });
    const host = await discoverInventory({ sysfs: join(base, 'sys'), procfs: join(base, 'proc') });
    assert.deepEqual(host.cpus, [{ cpu: 0, package: 0, core: 0, thread: 0, numaNode: 0, siblings: [0, 1] }]);
    assert.deepEqual(host.numaNodes, [{ node: 0, cpus: [0, 2], memoryKiB: 1024 }]);
    assert.deepEqual(host.memory, { totalKiB: 2048, availableKiB: undefined });
    assert.deepEqual(
      host.network.map((nic) => nic.name),
      ['bond0'],
    );
    assert.deepEqual(host.problems, [
      'cpu2/topology/thread_siblings_list: "3" leaves out cpu2',
      'proc/cpuinfo: no "model name" line',
      'proc/meminfo: no "MemAvailable: <n> kB" line',
      'net/bond0/speed: "fast" is not a number',
    ]);
  });
});

describe('discoverInventory on this machine', () => {
  test('finds at least one CPU with the default paths', async () => {
    const host = await discoverInventory();
    assert.ok(host.cpus.length >= 1, `no CPUs found; problems: ${host.problems.join('; ')}`);
    assert.ok(host.numaNodes.length >= 1);
  });

  test('reads the same host from a fresh record.sh recording as from /sys and /proc', async () => {
    const out = join(dir, 'recorded-live');
    await promisify(execFile)('bash', [RECORD, '--out', out]);
    const [live, recorded] = await Promise.all([
      discoverInventory(),
      discoverInventory({ sysfs: join(out, 'sys'), procfs: join(out, 'proc') }),
    ]);
    // MemAvailable moves between the two reads; everything else is fixed while the host runs.
    assert.deepEqual(
      { ...recorded, memory: recorded.memory.totalKiB },
      { ...live, memory: live.memory.totalKiB },
    );
  });

  test('record.sh reproduces a recorded tree exactly', async () => {
    const out = join(dir, 'recorded-fixture');
    const source = join(HOSTS, 'two-socket-smt');
    await promisify(execFile)('bash', [RECORD, '--out', out], {
      env: { ...process.env, SYSFS: join(source, 'sys'), PROCFS: join(source, 'proc') },
    });
    const recorded = await discoverInventory({ sysfs: join(out, 'sys'), procfs: join(out, 'proc') });
    assert.deepEqual(recorded, await discoverHost('two-socket-smt'));
  });

  test('the this-machine fixture holds the topology of the machine that recorded it', async (context) => {
    const [live, recorded] = await Promise.all([discoverInventory(), discoverHost('this-machine')]);
    if (live.cpuModel !== recorded.cpuModel || live.cpus.length !== recorded.cpus.length) {
      context.skip('this-machine was recorded on another host; rerun record.sh this-machine here');
      return;
    }
    assert.deepEqual(recorded.problems, []);
    assert.deepEqual(recorded.cpus, live.cpus);
    assert.deepEqual(
      recorded.numaNodes.map((node) => node.cpus),
      live.numaNodes.map((node) => node.cpus),
    );
  });
});
