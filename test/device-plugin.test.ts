import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type * as Grpc from '@grpc/grpc-js';
import {
  type AllocateResponse,
  callUnary,
  type DevicePluginApi,
  type ListAndWatchResponse,
  loadDevicePluginApi,
  type PreferredAllocationResponse,
  type RegisterRequest,
} from '../src/agent/device-plugin/api.js';
import { ISOLCPUS_RESOURCE_NAME, startIsolcpusDevicePlugin } from '../src/agent/device-plugin/plugin.js';
import type { AssignedCpu } from '../src/inventory/topology.js';

const WAIT_MS = 15_000;

/** Rejects when `promise` has not settled within `ms`; the only timer in this file, a bound, not a sleep. */
async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Items pushed by callbacks, taken in order by awaiting `next()`. */
class Queue<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }

  next(what: string): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return within(new Promise<T>((resolve) => this.#waiters.push(resolve)), what);
  }
}

/** 2 NUMA nodes × 4 cores × 2 threads, siblings N and N+8; cores 2–3 of each node isolated unless `except`. */
function buildHost(except: readonly number[] = []): AssignedCpu[] {
  return [...Array(16).keys()].map((cpu) => {
    const core = cpu % 8;
    const isIsolated = core % 4 >= 2 && !except.includes(cpu);
    return {
      cpu,
      package: Math.floor(core / 4),
      core: core % 4,
      thread: cpu < 8 ? 0 : 1,
      numaNode: Math.floor(core / 4),
      siblings: [core, core + 8],
      function: isIsolated ? 'application-isolated' : 'application',
    };
  });
}

/** A kubelet stand-in: a real gRPC Registration server on `<dir>/kubelet.sock` that records each Register. */
async function startKubelet(api: DevicePluginApi, dir: string, registrations: Queue<RegisterRequest>) {
  const server = new api.grpc.Server();
  server.addService(api.registration, {
    Register: (call: Grpc.ServerUnaryCall<RegisterRequest, object>, callback: Grpc.sendUnaryData<object>) => {
      registrations.push(call.request);
      callback(null, {});
    },
  });
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `unix://${join(dir, 'kubelet.sock')}`,
      api.grpc.ServerCredentials.createInsecure(),
      (error, port) => (error ? reject(error) : resolve(port)),
    ),
  );
  return server;
}

function listAndWatch(api: DevicePluginApi, client: Grpc.Client) {
  const method = api.devicePlugin.ListAndWatch;
  assert.ok(method);
  const responses = new Queue<ListAndWatchResponse>();
  const stream = client.makeServerStreamRequest<object, ListAndWatchResponse>(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    {},
  );
  stream.on('data', (response: ListAndWatchResponse) => responses.push(response));
  // The stream ends with CANCELLED or UNAVAILABLE when the plugin restarts or closes; that is expected.
  stream.on('error', () => {});
  return { stream, responses };
}

test('serves isolated CPUs to kubelet over the v1beta1 device plugin API', async (t) => {
  const api = await loadDevicePluginApi();
  const { grpc } = api;
  const dir = await mkdtemp(join(tmpdir(), 'murm-dp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const registrations = new Queue<RegisterRequest>();
  let kubelet = await startKubelet(api, dir, registrations);
  t.after(() => kubelet.forceShutdown());

  const warnings: (string | undefined)[] = [];
  const logger = { info: () => {}, warn: (_o: object, message?: string) => warnings.push(message) };
  const plugin = await startIsolcpusDevicePlugin({ pluginDir: dir, cpus: buildHost(), logger });
  t.after(() => plugin.close());

  assert.deepEqual(await registrations.next('Register'), {
    version: 'v1beta1',
    endpoint: 'murm-isolcpus.sock',
    resource_name: ISOLCPUS_RESOURCE_NAME,
    options: { pre_start_required: false, get_preferred_allocation_available: true },
  });
  assert.equal(plugin.socketPath, join(dir, 'murm-isolcpus.sock'));

  const client = new grpc.Client(`unix://${plugin.socketPath}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const watch = listAndWatch(api, client);
  const first = await watch.responses.next('first ListAndWatch response');
  assert.deepEqual(
    first.devices.map((d) => [d.ID, d.health, d.topology?.nodes.map((n) => n.ID)]),
    [
      ['2', 'Healthy', [0]],
      ['3', 'Healthy', [0]],
      ['6', 'Healthy', [1]],
      ['7', 'Healthy', [1]],
      ['10', 'Healthy', [0]],
      ['11', 'Healthy', [0]],
      ['14', 'Healthy', [1]],
      ['15', 'Healthy', [1]],
    ],
  );

  const options = await callUnary(client, api.devicePlugin, 'GetDevicePluginOptions', {});
  assert.deepEqual(options, { pre_start_required: false, get_preferred_allocation_available: true });

  const all = first.devices.map((d) => d.ID);
  const request = (size: number, mustInclude: string[] = [], available = all) => ({
    available_deviceIDs: available,
    must_include_deviceIDs: mustInclude,
    allocation_size: size,
  });
  const preferred = await callUnary<PreferredAllocationResponse>(
    client,
    api.devicePlugin,
    'GetPreferredAllocation',
    {
      container_requests: [
        request(2),
        request(3),
        request(4),
        request(1),
        request(2, ['7']),
        request(1, [], ['2', '3', '10']),
      ],
    },
  );
  assert.deepEqual(
    preferred.container_responses.map((r) => r.deviceIDs),
    [['2', '10'], ['2', '3', '10'], ['2', '3', '10', '11'], ['2'], ['7', '15'], ['3']],
  );

  const allocated = await callUnary<AllocateResponse>(client, api.devicePlugin, 'Allocate', {
    container_requests: [{ devices_ids: ['10', '2', '3'] }, { devices_ids: ['14', '6'] }],
  });
  assert.deepEqual(
    allocated.container_responses.map((r) => r.envs),
    [{ MURM_ISOLCPUS: '2-3,10' }, { MURM_ISOLCPUS: '6,14' }],
  );
  await assert.rejects(
    callUnary(client, api.devicePlugin, 'Allocate', { container_requests: [{ devices_ids: ['2', '0'] }] }),
    (error: Grpc.ServiceError) => error.code === grpc.status.INVALID_ARGUMENT && /"0"/.test(error.details),
  );

  // An unchanged set pushes nothing: the next response is the one for the real change after it.
  plugin.update(buildHost());
  plugin.update(buildHost([2, 10]));
  const second = await watch.responses.next('ListAndWatch response after update');
  assert.deepEqual(
    second.devices.map((d) => d.ID),
    ['3', '6', '7', '11', '14', '15'],
  );
  await assert.rejects(
    callUnary(client, api.devicePlugin, 'Allocate', { container_requests: [{ devices_ids: ['2'] }] }),
    (error: Grpc.ServiceError) => error.code === grpc.status.INVALID_ARGUMENT,
  );

  // A restarting kubelet empties the plugin directory, then listens on a new kubelet.sock.
  kubelet.forceShutdown();
  await rm(join(dir, 'kubelet.sock'), { force: true });
  await rm(plugin.socketPath, { force: true });
  kubelet = await startKubelet(api, dir, registrations);
  const again = await registrations.next('Register after kubelet restart');
  assert.equal(again.resource_name, ISOLCPUS_RESOURCE_NAME);
  assert.equal(again.endpoint, 'murm-isolcpus.sock');

  const fresh = new grpc.Client(`unix://${plugin.socketPath}`, grpc.credentials.createInsecure());
  t.after(() => fresh.close());
  const rewatch = listAndWatch(api, fresh);
  const afterRestart = await rewatch.responses.next('ListAndWatch response after kubelet restart');
  assert.deepEqual(
    afterRestart.devices.map((d) => d.ID),
    ['3', '6', '7', '11', '14', '15'],
  );

  await plugin.close();
  await assert.rejects(stat(plugin.socketPath), { code: 'ENOENT' });
  assert.deepEqual(warnings, []);
});

test('fails to start when kubelet is not listening', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'murm-dp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(startIsolcpusDevicePlugin({ pluginDir: dir, cpus: buildHost() }));
  await assert.rejects(stat(join(dir, 'murm-isolcpus.sock')), { code: 'ENOENT' });
});
