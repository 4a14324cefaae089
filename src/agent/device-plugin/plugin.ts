/**
 * Isolated-CPU device plugin: offers the host's application-isolated CPUs to Kubernetes as the extended
 * resource `murmuration.dev/isolcpus`, one device per logical CPU, device ID = the CPU number.
 *
 *   - serves the v1beta1 `DevicePlugin` service on `<pluginDir>/murm-isolcpus.sock` (pluginDir is
 *     kubelet's `/var/lib/kubelet/device-plugins`), removing a stale socket file first;
 *   - registers with kubelet's `Registration` service on `<pluginDir>/kubelet.sock`;
 *   - `Allocate` hands each container `MURM_ISOLCPUS=<kernel cpulist>`, and `GetPreferredAllocation`
 *     answers with the SMT-aware choice of `allocation.ts`.
 *
 * Kubelet restarts: a starting kubelet empties the plugin directory (our socket included) and then
 * creates a new kubelet.sock; it forgets every plugin, and plugins are expected to notice and register
 * again. We watch the directory of kubelet.sock and, whenever a new kubelet.sock appears (a different
 * inode or creation time: tmpfs hands a freed inode number straight to the next file),
 * serve again on a fresh socket if ours is gone and send Register again.
 */
import { watch } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type * as Grpc from '@grpc/grpc-js';
import type { AssignedCpu } from '../../inventory/topology.js';
import { preferredAllocation } from './allocation.js';
import {
  type AllocateRequest,
  type AllocateResponse,
  callUnary,
  DEVICE_PLUGIN_API_VERSION,
  type Device,
  type DevicePluginApi,
  type DevicePluginOptions,
  type ListAndWatchResponse,
  loadDevicePluginApi,
  type PreferredAllocationRequest,
  type PreferredAllocationResponse,
  type RegisterRequest,
} from './api.js';

export const ISOLCPUS_RESOURCE_NAME = 'murmuration.dev/isolcpus';
const DEFAULT_SOCKET_NAME = 'murm-isolcpus.sock';
const KUBELET_SOCKET_NAME = 'kubelet.sock';
const ENV_NAME = 'MURM_ISOLCPUS';
const REGISTER_TIMEOUT_MS = 10_000;
const PLUGIN_OPTIONS: DevicePluginOptions = {
  pre_start_required: false,
  get_preferred_allocation_available: true,
};

interface DevicePluginLogger {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
}

interface IsolcpusDevicePluginOptions {
  /** Kubelet's device-plugin directory, normally `/var/lib/kubelet/device-plugins`. */
  pluginDir: string;
  /** Defaults to `<pluginDir>/kubelet.sock`. */
  kubeletSocket?: string;
  /** File name of our socket inside pluginDir; defaults to `murm-isolcpus.sock`. */
  socketName?: string;
  /** The host's CPUs with their functions; only `application-isolated` ones are offered. */
  cpus: readonly AssignedCpu[];
  logger?: DevicePluginLogger;
}

export interface DevicePluginHandle {
  /** Absolute path of the plugin's unix socket. */
  readonly socketPath: string;
  /** Replaces the host's CPUs; open ListAndWatch streams get a new device list if the isolated set changed. */
  update(cpus: readonly AssignedCpu[]): void;
  /** Stops watching, ends the streams, stops serving and removes the socket file. */
  close(): Promise<void>;
}

type Stream = Grpc.ServerWritableStream<object, ListAndWatchResponse>;

/**
 * Serves the plugin and registers it with kubelet. Rejects (after cleaning up) when it cannot listen or
 * kubelet refuses or does not answer the first Register; later re-registrations only log their failures.
 */
export async function startIsolcpusDevicePlugin(
  options: IsolcpusDevicePluginOptions,
): Promise<DevicePluginHandle> {
  const api = await loadDevicePluginApi();
  const { grpc } = api;
  const socketName = options.socketName ?? DEFAULT_SOCKET_NAME;
  const socketPath = join(options.pluginDir, socketName);
  const kubeletSocket = options.kubeletSocket ?? join(options.pluginDir, KUBELET_SOCKET_NAME);
  const logger = options.logger;

  let cpus = options.cpus;
  let devices = listDevices(cpus);
  const streams = new Set<Stream>();

  const handlers: Grpc.UntypedServiceImplementation = {
    GetDevicePluginOptions: (_call: unknown, callback: Grpc.sendUnaryData<DevicePluginOptions>) =>
      callback(null, PLUGIN_OPTIONS),
    ListAndWatch: (call: Stream) => {
      streams.add(call);
      call.on('cancelled', () => streams.delete(call));
      call.write({ devices });
    },
    GetPreferredAllocation: (
      call: Grpc.ServerUnaryCall<PreferredAllocationRequest, PreferredAllocationResponse>,
      callback: Grpc.sendUnaryData<PreferredAllocationResponse>,
    ) =>
      callback(null, {
        container_responses: call.request.container_requests.map((request) => ({
          deviceIDs: preferredAllocation(
            cpus,
            request.available_deviceIDs,
            request.must_include_deviceIDs,
            request.allocation_size,
          ),
        })),
      }),
    Allocate: (
      call: Grpc.ServerUnaryCall<AllocateRequest, AllocateResponse>,
      callback: Grpc.sendUnaryData<AllocateResponse>,
    ) => {
      const isolated = new Set(devices.map((device) => device.ID));
      const unknown = call.request.container_requests
        .flatMap((r) => r.devices_ids)
        .find((id) => !isolated.has(id));
      if (unknown !== undefined) {
        callback({
          code: grpc.status.INVALID_ARGUMENT,
          details: `device "${unknown}" is not an application-isolated CPU of this host; the isolated CPUs are ${formatCpuList([...isolated].map(Number))}`,
        });
        return;
      }
      callback(null, {
        container_responses: call.request.container_requests.map((request) => ({
          envs: { [ENV_NAME]: formatCpuList(request.devices_ids.map(Number)) },
        })),
      });
    },
    PreStartContainer: (_call: unknown, callback: Grpc.sendUnaryData<object>) => callback(null, {}),
  };

  let server = await serve(api, socketPath, handlers);
  let registeredWith: string | undefined;
  let isClosed = false;

  const register = async (isRetry: boolean): Promise<void> => {
    const identity = await fileIdentity(kubeletSocket);
    const client = new grpc.Client(`unix://${kubeletSocket}`, grpc.credentials.createInsecure());
    const request: RegisterRequest = {
      version: DEVICE_PLUGIN_API_VERSION,
      endpoint: socketName,
      resource_name: ISOLCPUS_RESOURCE_NAME,
      options: PLUGIN_OPTIONS,
    };
    const deadline = Date.now() + REGISTER_TIMEOUT_MS;
    try {
      // On a retry kubelet.sock may exist a moment before kubelet listens on it: let the channel retry.
      if (isRetry) {
        await new Promise<void>((resolve, reject) =>
          client.waitForReady(deadline, (error) => (error ? reject(error) : resolve())),
        );
      }
      await callUnary(client, api.registration, 'Register', request, { deadline });
    } finally {
      client.close();
    }
    registeredWith = identity;
    logger?.info({ resource: ISOLCPUS_RESOURCE_NAME, socketPath, kubeletSocket }, 'registered with kubelet');
  };

  const registerAgainIfKubeletRestarted = async (): Promise<void> => {
    const identity = await fileIdentity(kubeletSocket).catch(() => undefined);
    if (isClosed || identity === undefined || identity === registeredWith) return;
    if (!(await exists(socketPath))) {
      // Shut the old server first: closing a unix listener unlinks its path, which would be the new socket.
      server.forceShutdown();
      streams.clear();
      server = await serve(api, socketPath, handlers);
    }
    await register(true);
  };

  try {
    await register(false);
  } catch (error) {
    server.forceShutdown();
    await rm(socketPath, { force: true });
    throw error;
  }

  // Serialised so two quick events cannot register twice or restart the server concurrently.
  let pending = Promise.resolve();
  const watcher = watch(dirname(kubeletSocket), (_event, filename) => {
    if (filename !== null && filename !== basename(kubeletSocket)) return;
    pending = pending
      .then(registerAgainIfKubeletRestarted)
      .catch((error: unknown) =>
        logger?.warn({ err: error, kubeletSocket }, 'could not register with kubelet again'),
      );
  });

  // Without a listener an error (the directory removed, say) would crash the agent; registration just stops.
  watcher.on('error', (error) =>
    logger?.warn({ err: error, kubeletSocket }, 'stopped watching for kubelet restarts'),
  );

  return {
    socketPath,
    update(next) {
      cpus = next;
      const nextDevices = listDevices(next);
      if (JSON.stringify(nextDevices) === JSON.stringify(devices)) return;
      devices = nextDevices;
      for (const stream of streams) if (!stream.cancelled) stream.write({ devices });
      logger?.info({ devices: devices.map((d) => d.ID) }, 'isolated CPUs changed');
    },
    async close() {
      isClosed = true;
      watcher.close();
      await pending;
      for (const stream of streams) stream.end();
      streams.clear();
      server.forceShutdown();
      await rm(socketPath, { force: true });
    },
  };
}

async function serve(
  api: DevicePluginApi,
  socketPath: string,
  handlers: Grpc.UntypedServiceImplementation,
): Promise<Grpc.Server> {
  await rm(socketPath, { force: true });
  const server = new api.grpc.Server();
  server.addService(api.devicePlugin, handlers);
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, api.grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
  return server;
}

function listDevices(cpus: readonly AssignedCpu[]): Device[] {
  return cpus
    .filter((cpu) => cpu.function === 'application-isolated')
    .sort((a, b) => a.cpu - b.cpu)
    .map((cpu) => ({ ID: String(cpu.cpu), health: 'Healthy', topology: { nodes: [{ ID: cpu.numaNode }] } }));
}

/** Kernel cpulist format: ascending, consecutive runs as ranges (`2-3,10`). */
function formatCpuList(cpus: number[]): string {
  const ranges: [number, number][] = [];
  for (const cpu of [...new Set(cpus)].sort((a, b) => a - b)) {
    const last = ranges.at(-1);
    if (last !== undefined && cpu === last[1] + 1) last[1] = cpu;
    else ranges.push([cpu, cpu]);
  }
  return ranges.map(([first, end]) => (first === end ? `${first}` : `${first}-${end}`)).join(',');
}

/** Tells two files at one path apart; ctime is in ns-resolution on Linux and set again by a new bind. */
async function fileIdentity(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return `${s.ino}:${s.birthtimeNs}:${s.ctimeNs}`;
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
