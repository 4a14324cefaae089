import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpsRequest, loginOverHttps } from './helpers/https.js';
import {
  type AgentProcess,
  eventually,
  makeTempDir,
  type ServerProcess,
  startAgentProcess,
  startServer,
} from './helpers/processes.js';
import { ADMIN_PASSWORD } from './helpers/site.js';

type Host = { hostname: string; administrative: string; availability: string; configStatus: string };
type EventRecord = { eventId: string; entityInstanceId: string; state: string };

const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'hosts');
const HEARTBEAT_MS = 200;
const MISSED = 3;

/**
 * A real controller process (Standard system, heartbeats every 200 ms) and two real agent processes
 * with separate roots, discovering recorded sysfs/procfs trees of two different machines.
 */
describe('inventory end to end: controller and two agent processes', () => {
  let server: ServerProcess;
  let token: string;
  const agents = new Map<string, AgentProcess>();
  const roots = new Map<string, string>();
  const machines = { 'worker-0': 'two-socket-smt', 'worker-1': 'one-socket-smt' } as const;

  const api = async (method: string, url: string, body?: unknown) =>
    httpsRequest(`${server.url}${url}`, { caPath: server.caPath, method, token, body });
  const host = async (name: string) => (await api('GET', `/v1/hosts/${name}`)).body as Host;
  const activeAlarmIds = async (name: string) => {
    const list = await api('GET', `/v1/alarms?entityInstance=host%3D${name}&limit=100`);
    return (list.body as { items: { alarmId: string; entityInstanceId: string }[] }).items
      .filter((alarm) => alarm.entityInstanceId === `host=${name}`)
      .map((alarm) => alarm.alarmId)
      .sort();
  };
  const events = async (eventId: string, name: string) => {
    const list = await api('GET', `/v1/events?eventId=${eventId}&entityInstance=host%3D${name}&limit=100`);
    return (list.body as { items: EventRecord[] }).items.map((event) => event.state).reverse();
  };

  before(async () => {
    server = await startServer({
      args: ['--system-type', 'standard'],
      env: {
        MURM_ADMIN_PASSWORD: ADMIN_PASSWORD,
        MURM_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
        MURM_HEARTBEAT_MISSED: String(MISSED),
      },
    });
    token = await loginOverHttps(server, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    for (const agent of agents.values()) await agent.stop();
    await server.stop();
  });

  test('refuses enrollment with a made-up token: the agent exits with the server’s reason', async () => {
    const agent = startAgentProcess({
      url: server.url,
      caPath: server.caPath,
      root: makeTempDir('root'),
      token: 'murm_enroll_made-up',
    });
    const code = await agent.exited;
    assert.notEqual(code, 0);
    assert.match(agent.output(), /enrollment token is unknown, expired or already used/);
  });

  test('two agents enroll, report their machines, and receive their configuration', async () => {
    for (const [hostname, machine] of Object.entries(machines)) {
      const added = await api('POST', '/v1/hosts', { hostname, personality: 'worker' });
      assert.equal(added.status, 201, added.text);
      const enrollment = (added.body as { enrollment: { token: string } }).enrollment;
      const root = makeTempDir(`root-${hostname}`);
      roots.set(hostname, root);
      agents.set(
        hostname,
        startAgentProcess({
          url: server.url,
          caPath: server.caPath,
          root,
          token: enrollment.token,
          fixture: path.join(FIXTURES, machine),
        }),
      );
    }
    for (const hostname of Object.keys(machines)) {
      await eventually(`${hostname} online and up to date`, async () => {
        const state = await host(hostname);
        return state.availability === 'online' && state.configStatus === 'up-to-date' ? state : undefined;
      });
    }
    const inventory = (await api('GET', '/v1/hosts/worker-0/inventory')).body as { cpus: unknown[] };
    assert.equal(inventory.cpus.length, 16);
    const other = (await api('GET', '/v1/hosts/worker-1/inventory')).body as { cpus: unknown[] };
    assert.equal(other.cpus.length, 8);
    assert.equal(
      fs.readFileSync(path.join(roots.get('worker-0') ?? '', 'etc/murm/platform-cpuset'), 'utf8').trim(),
      '0,8',
      'default: the lowest physical core of NUMA node 0, both threads',
    );
  });

  test('a token works once: a second agent with the same token is refused', async () => {
    const added = await api('POST', '/v1/hosts', { hostname: 'worker-9', personality: 'worker' });
    const spent = (added.body as { enrollment: { token: string } }).enrollment.token;
    const first = startAgentProcess({
      url: server.url,
      caPath: server.caPath,
      root: makeTempDir('r'),
      token: spent,
    });
    await eventually('worker-9 enrolled', async () =>
      (await host('worker-9')).availability === 'online' ? true : undefined,
    );
    await first.stop();
    const second = startAgentProcess({
      url: server.url,
      caPath: server.caPath,
      root: makeTempDir('r'),
      token: spent,
    });
    assert.notEqual(await second.exited, 0);
    assert.match(second.output(), /already used/);
    assert.equal((await api('DELETE', '/v1/hosts/worker-9')).status, 204);
  });

  test('lock → modify CPUs → unlock renders files under each root; 250.001 raised then cleared', async () => {
    const requests = {
      'worker-0': { function: 'application-isolated', coresPerNuma: { '0': 1, '1': 2 } },
      'worker-1': { function: 'application-isolated', coresPerNuma: { '0': 2 } },
    };
    for (const [hostname, request] of Object.entries(requests)) {
      const unlockedRefusal = await api('POST', `/v1/hosts/${hostname}/unlock`);
      assert.equal(unlockedRefusal.status, 200, unlockedRefusal.text);
      const refused = await api('PUT', `/v1/hosts/${hostname}/cpu-functions`, request);
      assert.equal(refused.status, 412);
      assert.match(refused.text, /must be locked/);
      assert.equal((await api('POST', `/v1/hosts/${hostname}/lock`)).status, 200);
      const modified = await api('PUT', `/v1/hosts/${hostname}/cpu-functions`, request);
      assert.equal(modified.status, 200, modified.text);
      assert.equal((await api('POST', `/v1/hosts/${hostname}/unlock`)).status, 200);
    }
    for (const hostname of Object.keys(requests)) {
      await eventually(`${hostname} available and up to date`, async () => {
        const state = await host(hostname);
        return state.availability === 'available' && state.configStatus === 'up-to-date' ? state : undefined;
      });
      assert.deepEqual(await activeAlarmIds(hostname), []);
      const states = await events('250.001', hostname);
      assert.ok(
        states.includes('set') && states.at(-1) === 'clear',
        `250.001 events of ${hostname}: ${states}`,
      );
    }
    const grub0 = fs.readFileSync(
      path.join(roots.get('worker-0') ?? '', 'etc/default/grub.d/50-murm-cpu.cfg'),
      'utf8',
    );
    assert.match(grub0, /isolcpus=\S+/);
    const cpus0 = JSON.parse(
      fs.readFileSync(path.join(roots.get('worker-0') ?? '', 'etc/murm/cpu-functions.json'), 'utf8'),
    ) as { cpu: number; function: string }[];
    assert.equal(cpus0.filter((cpu) => cpu.function === 'application-isolated').length, 6);
    const kubelet1 = fs.readFileSync(
      path.join(roots.get('worker-1') ?? '', 'etc/kubernetes/kubelet.conf.d/50-murm-cpu-manager.conf'),
      'utf8',
    );
    assert.match(kubelet1, /cpuManagerPolicy: static/);
    assert.match(kubelet1, /reservedSystemCPUs: "0-1"/, 'one platform core, adjacent siblings 0 and 1');
  });

  test('a killed agent makes its host offline with 200.005 within the bound; a restart clears it', async () => {
    const agent = agents.get('worker-1');
    assert.ok(agent);
    const killedAt = Date.now();
    await agent.stop('SIGKILL');
    const bound = HEARTBEAT_MS * MISSED + HEARTBEAT_MS + 1000;
    await eventually(
      '200.005 for worker-1',
      async () => ((await activeAlarmIds('worker-1')).includes('200.005') ? true : undefined),
      bound + 2000,
    );
    const detectedMs = Date.now() - killedAt;
    assert.ok(detectedMs <= bound, `offline detected after ${detectedMs} ms, bound ${bound} ms`);
    assert.equal((await host('worker-1')).availability, 'offline');
    // Restart without a token: the agent is enrolled already (its certificate is under its root).
    agents.set(
      'worker-1',
      startAgentProcess({
        url: server.url,
        caPath: server.caPath,
        root: roots.get('worker-1') ?? '',
        fixture: path.join(FIXTURES, machines['worker-1']),
      }),
    );
    await eventually('worker-1 available again', async () =>
      (await host('worker-1')).availability === 'available' ? true : undefined,
    );
    assert.deepEqual(await activeAlarmIds('worker-1'), []);
  });

  test('an agent on a machine with malformed topology files keeps reporting what it could read', async () => {
    const added = await api('POST', '/v1/hosts', { hostname: 'worker-2', personality: 'worker' });
    const { token: enrollToken } = (added.body as { enrollment: { token: string } }).enrollment;
    agents.set(
      'worker-2',
      startAgentProcess({
        url: server.url,
        caPath: server.caPath,
        root: makeTempDir('root-w2'),
        token: enrollToken,
        fixture: path.join(FIXTURES, 'malformed'),
      }),
    );
    const inventory = await eventually('worker-2 inventory', async () => {
      const response = await api('GET', '/v1/hosts/worker-2/inventory');
      return response.status === 200 ? (response.body as { cpus: unknown[]; problems: string[] }) : undefined;
    });
    assert.ok(inventory.problems.length > 0);
    assert.ok(inventory.cpus.length > 0 && inventory.cpus.length < 8, `${inventory.cpus.length} CPUs`);
    assert.equal((await host('worker-2')).availability, 'online');
  });
});

describe('npm start: the all-in-one site runs controller-0’s agent in process', () => {
  test('controller-0 reports this machine and applies its configuration under the data dir', async () => {
    const server = await startServer({
      localAgent: true,
      env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD, MURM_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) },
    });
    try {
      const token = await loginOverHttps(server, 'admin', ADMIN_PASSWORD);
      const get = async (url: string) =>
        httpsRequest(`${server.url}${url}`, { caPath: server.caPath, token });
      const host = await eventually('controller-0 available and up to date', async () => {
        const state = (await get('/v1/hosts/controller-0')).body as Host;
        return state.availability === 'available' && state.configStatus === 'up-to-date' ? state : undefined;
      });
      assert.equal(host.administrative, 'unlocked');
      const inventory = (await get('/v1/hosts/controller-0/inventory')).body as { cpus: unknown[] };
      assert.equal(inventory.cpus.length, os.availableParallelism());
      const cpuset = path.join(server.dataDir, 'agent-root', 'etc', 'murm', 'platform-cpuset');
      assert.match(fs.readFileSync(cpuset, 'utf8'), /^\d[\d,-]*\n$/);
      assert.equal(await server.stop(), 0, server.output());
    } finally {
      await server.stop();
    }
  });
});
