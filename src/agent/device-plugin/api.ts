import * as assert from 'node:assert/strict';
import type * as Grpc from '@grpc/grpc-js';
import type { fromJSON } from '@grpc/proto-loader';

/**
 * The Kubernetes device plugin API, package `v1beta1`, written out as a protobufjs JSON descriptor.
 *
 * Why JSON and not the `.proto` text: the agent ships as one esbuild bundle, so nothing may be read from
 * disk at run time, and parsing proto text in memory would need protobufjs imported directly (it is only
 * a transitive dependency of @grpc/proto-loader). proto-loader's `fromJSON` takes this object as is.
 *
 * Kubelet only sees the wire, so what must match upstream exactly are the package, service and method
 * names (they make the HTTP/2 paths, e.g. `/v1beta1.Registration/Register`), each field's number and type,
 * and which calls stream. Field names are kept as upstream spells them (`keepCase`), including the
 * mixed-case `ID`, `deviceIDs` and `devices_ids`.
 */
const V1BETA1 = {
  nested: {
    v1beta1: {
      nested: {
        Registration: {
          methods: { Register: { requestType: 'RegisterRequest', responseType: 'Empty' } },
        },
        DevicePlugin: {
          methods: {
            GetDevicePluginOptions: { requestType: 'Empty', responseType: 'DevicePluginOptions' },
            ListAndWatch: {
              requestType: 'Empty',
              responseType: 'ListAndWatchResponse',
              responseStream: true,
            },
            GetPreferredAllocation: {
              requestType: 'PreferredAllocationRequest',
              responseType: 'PreferredAllocationResponse',
            },
            Allocate: { requestType: 'AllocateRequest', responseType: 'AllocateResponse' },
            PreStartContainer: {
              requestType: 'PreStartContainerRequest',
              responseType: 'PreStartContainerResponse',
            },
          },
        },
        Empty: { fields: {} },
        DevicePluginOptions: {
          fields: {
            pre_start_required: { type: 'bool', id: 1 },
            get_preferred_allocation_available: { type: 'bool', id: 2 },
          },
        },
        RegisterRequest: {
          fields: {
            version: { type: 'string', id: 1 },
            endpoint: { type: 'string', id: 2 },
            resource_name: { type: 'string', id: 3 },
            options: { type: 'DevicePluginOptions', id: 4 },
          },
        },
        ListAndWatchResponse: { fields: { devices: { rule: 'repeated', type: 'Device', id: 1 } } },
        TopologyInfo: { fields: { nodes: { rule: 'repeated', type: 'NUMANode', id: 1 } } },
        NUMANode: { fields: { ID: { type: 'int64', id: 1 } } },
        Device: {
          fields: {
            ID: { type: 'string', id: 1 },
            health: { type: 'string', id: 2 },
            topology: { type: 'TopologyInfo', id: 3 },
          },
        },
        PreStartContainerRequest: { fields: { devices_ids: { rule: 'repeated', type: 'string', id: 1 } } },
        PreStartContainerResponse: { fields: {} },
        PreferredAllocationRequest: {
          fields: {
            container_requests: { rule: 'repeated', type: 'ContainerPreferredAllocationRequest', id: 1 },
          },
        },
        ContainerPreferredAllocationRequest: {
          fields: {
            available_deviceIDs: { rule: 'repeated', type: 'string', id: 1 },
            must_include_deviceIDs: { rule: 'repeated', type: 'string', id: 2 },
            allocation_size: { type: 'int32', id: 3 },
          },
        },
        PreferredAllocationResponse: {
          fields: {
            container_responses: { rule: 'repeated', type: 'ContainerPreferredAllocationResponse', id: 1 },
          },
        },
        ContainerPreferredAllocationResponse: {
          fields: { deviceIDs: { rule: 'repeated', type: 'string', id: 1 } },
        },
        AllocateRequest: {
          fields: { container_requests: { rule: 'repeated', type: 'ContainerAllocateRequest', id: 1 } },
        },
        ContainerAllocateRequest: { fields: { devices_ids: { rule: 'repeated', type: 'string', id: 1 } } },
        CDIDevice: { fields: { name: { type: 'string', id: 1 } } },
        AllocateResponse: {
          fields: {
            container_responses: { rule: 'repeated', type: 'ContainerAllocateResponse', id: 1 },
          },
        },
        ContainerAllocateResponse: {
          fields: {
            envs: { keyType: 'string', type: 'string', id: 1 },
            mounts: { rule: 'repeated', type: 'Mount', id: 2 },
            devices: { rule: 'repeated', type: 'DeviceSpec', id: 3 },
            annotations: { keyType: 'string', type: 'string', id: 4 },
            cdi_devices: { rule: 'repeated', type: 'CDIDevice', id: 5 },
          },
        },
        Mount: {
          fields: {
            container_path: { type: 'string', id: 1 },
            host_path: { type: 'string', id: 2 },
            read_only: { type: 'bool', id: 3 },
          },
        },
        DeviceSpec: {
          fields: {
            container_path: { type: 'string', id: 1 },
            host_path: { type: 'string', id: 2 },
            permissions: { type: 'string', id: 3 },
          },
        },
      },
    },
  },
};

// protobufjs's declared JSON types lag its reader: they require `comment` on methods and lack `keyType`.
type ProtobufNamespace = Parameters<typeof fromJSON>[0];

/** The only API version kubelet accepts in `RegisterRequest.version` today. */
export const DEVICE_PLUGIN_API_VERSION = 'v1beta1';

// Message shapes as proto-loader decodes them with the options below: upstream field names, int64 as
// number, unset repeated fields as [] and maps as {}. Outgoing messages may leave fields out.

export interface DevicePluginOptions {
  pre_start_required?: boolean;
  get_preferred_allocation_available?: boolean;
}

export interface RegisterRequest {
  version: string;
  endpoint: string;
  resource_name: string;
  options?: DevicePluginOptions | null;
}

export interface Device {
  ID: string;
  health: string;
  topology?: { nodes: { ID: number }[] } | null;
}

export interface ListAndWatchResponse {
  devices: Device[];
}

export interface PreferredAllocationRequest {
  container_requests: {
    available_deviceIDs: string[];
    must_include_deviceIDs: string[];
    allocation_size: number;
  }[];
}

export interface PreferredAllocationResponse {
  container_responses: { deviceIDs: string[] }[];
}

export interface AllocateRequest {
  container_requests: { devices_ids: string[] }[];
}

interface ContainerAllocateResponse {
  envs?: Record<string, string>;
  mounts?: { container_path: string; host_path: string; read_only: boolean }[];
  devices?: { container_path: string; host_path: string; permissions: string }[];
  annotations?: Record<string, string>;
  cdi_devices?: { name: string }[];
}

export interface AllocateResponse {
  container_responses: ContainerAllocateResponse[];
}

/** grpc-js and the two service definitions, loaded together so callers import grpc-js only through here. */
export interface DevicePluginApi {
  grpc: typeof Grpc;
  registration: Grpc.ServiceDefinition;
  devicePlugin: Grpc.ServiceDefinition;
}

let loading: Promise<DevicePluginApi> | undefined;

/**
 * Loads grpc-js and proto-loader on first use (the controller process never pays for them) and builds
 * the v1beta1 service definitions from the embedded descriptor. Memoised.
 */
export function loadDevicePluginApi(): Promise<DevicePluginApi> {
  loading ??= load();
  return loading;
}

async function load(): Promise<DevicePluginApi> {
  const [grpc, protoLoader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
  const definition = protoLoader.fromJSON(V1BETA1 as ProtobufNamespace, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    arrays: true,
    objects: true,
  });
  const service = (name: string): Grpc.ServiceDefinition => {
    const found = definition[`v1beta1.${name}`];
    assert.ok(found !== undefined && !('format' in found), `v1beta1.${name} is a service`);
    return found;
  };
  return { grpc, registration: service('Registration'), devicePlugin: service('DevicePlugin') };
}

/** Calls the unary method `name` of `service` through `client`; rejects with the grpc-js `ServiceError`. */
export function callUnary<Response>(
  client: Grpc.Client,
  service: Grpc.ServiceDefinition,
  name: string,
  request: object,
  options: Grpc.CallOptions = {},
): Promise<Response> {
  const method = service[name];
  assert.ok(method !== undefined && !method.requestStream && !method.responseStream, `${name} is unary`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<object, Response>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      options,
      (error, response) => (error || response === undefined ? reject(error) : resolve(response)),
    );
  });
}
