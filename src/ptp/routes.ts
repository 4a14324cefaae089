import { Type } from '@sinclair/typebox';
import { type HttpApp, StringEnum } from '../core/http/routes.js';
import { LINUXPTP_VERSIONS, PTP_SERVICES, parsePtpParameter } from './model.js';
import type { PtpService } from './service.js';

const strict = { additionalProperties: false } as const;
const tags = ['ptp'];
const PtpName = Type.String({ minLength: 1, maxLength: 64 });
const Hostname = Type.String({ minLength: 1, maxLength: 63 });
const Ifname = Type.String({ minLength: 1, maxLength: 15 });
const NameParams = Type.Object({ name: PtpName });
const KeyParams = Type.Object({ name: PtpName, key: Type.String({ minLength: 1, maxLength: 64 }) });
const HostParams = Type.Object({ hostname: Hostname });
const Parameters = Type.Object(
  { parameters: Type.Array(Type.String({ minLength: 3, maxLength: 512 }), { minItems: 1, maxItems: 64 }) },
  strict,
);

const ParameterSchema = Type.Object({ name: Type.String(), value: Type.String() });
const InstanceSchema = Type.Object({
  name: Type.String(),
  service: StringEnum(PTP_SERVICES),
  parameters: Type.Array(ParameterSchema),
  hosts: Type.Array(Type.String()),
});
const InterfaceSchema = Type.Object({
  name: Type.String(),
  instance: Type.String(),
  parameters: Type.Array(ParameterSchema),
  hostInterfaces: Type.Record(Type.String(), Type.Array(Type.String())),
});
const HostPtpSchema = Type.Object({
  hostname: Type.String(),
  linuxptpVersion: StringEnum(LINUXPTP_VERSIONS),
  linuxptpOverride: Type.Union([StringEnum(LINUXPTP_VERSIONS), Type.Null()]),
  linuxptpDetected: Type.Union([Type.String(), Type.Null()]),
  instances: Type.Array(Type.String()),
  ports: Type.Array(Type.Object({ ifname: Type.String(), ptpInterface: Type.String() })),
  appliedFiles: Type.Array(Type.String()),
});
const ApplySchema = Type.Object({
  hosts: Type.Array(
    Type.Object({ hostname: Type.String(), files: Type.Array(Type.String()), isChanged: Type.Boolean() }),
  ),
});

/** PTP instances and interfaces (`/v1/ptp/…`), hosts' PTP assignments and `POST /v1/ptp:apply`. */
export function registerPtpRoutes(app: HttpApp, ptp: PtpService): void {
  registerInstanceRoutes(app, ptp);
  registerInterfaceRoutes(app, ptp);
  registerHostPtpRoutes(app, ptp);
  app.post(
    '/v1/ptp::apply',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Check and render the PTP configuration of every assigned host; agents then apply it',
        tags,
        response: { 200: ApplySchema },
      },
    },
    async () => ptp.apply(),
  );
}

function registerInstanceRoutes(app: HttpApp, ptp: PtpService): void {
  app.get(
    '/v1/ptp/instances',
    {
      config: { access: 'read' },
      schema: {
        summary: 'PTP instances',
        tags,
        response: { 200: Type.Object({ items: Type.Array(InstanceSchema) }) },
      },
    },
    async () => ({ items: ptp.definitions.listInstances() }),
  );
  app.get(
    '/v1/ptp/instances/:name',
    {
      config: { access: 'read' },
      schema: { summary: 'A PTP instance', tags, params: NameParams, response: { 200: InstanceSchema } },
    },
    async (request) => ptp.definitions.getInstance(request.params.name),
  );
  app.post(
    '/v1/ptp/instances',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add a PTP instance (one daemon configuration)',
        tags,
        body: Type.Object({ name: PtpName, service: StringEnum(PTP_SERVICES) }, strict),
        response: { 201: InstanceSchema },
      },
    },
    async (request, reply) => {
      reply.status(201);
      return ptp.definitions.addInstance(request.body.name, request.body.service);
    },
  );
  app.delete(
    '/v1/ptp/instances/:name',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Delete a PTP instance no host runs and no interface belongs to',
        tags,
        params: NameParams,
      },
    },
    async (request, reply) => {
      await ptp.definitions.deleteInstance(request.params.name);
      return reply.status(204).send();
    },
  );
  app.post(
    '/v1/ptp/instances/:name/parameters',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add or replace instance parameters (name=value, the [global] section)',
        tags,
        params: NameParams,
        body: Parameters,
        response: { 200: InstanceSchema },
      },
    },
    async (request) =>
      ptp.definitions.addInstanceParameters(
        request.params.name,
        request.body.parameters.map(parsePtpParameter),
      ),
  );
  app.delete(
    '/v1/ptp/instances/:name/parameters/:key',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Remove an instance parameter',
        tags,
        params: KeyParams,
        response: { 200: InstanceSchema },
      },
    },
    async (request) => ptp.definitions.removeInstanceParameters(request.params.name, [request.params.key]),
  );
}

function registerInterfaceRoutes(app: HttpApp, ptp: PtpService): void {
  app.get(
    '/v1/ptp/interfaces',
    {
      config: { access: 'read' },
      schema: {
        summary: 'PTP interfaces',
        tags,
        response: { 200: Type.Object({ items: Type.Array(InterfaceSchema) }) },
      },
    },
    async () => ({ items: ptp.definitions.listInterfaces() }),
  );
  app.get(
    '/v1/ptp/interfaces/:name',
    {
      config: { access: 'read' },
      schema: { summary: 'A PTP interface', tags, params: NameParams, response: { 200: InterfaceSchema } },
    },
    async (request) => ptp.definitions.getInterface(request.params.name),
  );
  app.post(
    '/v1/ptp/interfaces',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add a PTP interface (ports of one instance sharing port parameters)',
        tags,
        body: Type.Object({ name: PtpName, instance: PtpName }, strict),
        response: { 201: InterfaceSchema },
      },
    },
    async (request, reply) => {
      reply.status(201);
      return ptp.definitions.addInterface(request.body.name, request.body.instance);
    },
  );
  app.delete(
    '/v1/ptp/interfaces/:name',
    {
      config: { access: 'configure' },
      schema: { summary: 'Delete a PTP interface assigned to no host interface', tags, params: NameParams },
    },
    async (request, reply) => {
      await ptp.definitions.deleteInterface(request.params.name);
      return reply.status(204).send();
    },
  );
  app.post(
    '/v1/ptp/interfaces/:name/parameters',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add or replace interface parameters (name=value, the port sections)',
        tags,
        params: NameParams,
        body: Parameters,
        response: { 200: InterfaceSchema },
      },
    },
    async (request) =>
      ptp.definitions.addInterfaceParameters(
        request.params.name,
        request.body.parameters.map(parsePtpParameter),
      ),
  );
  app.delete(
    '/v1/ptp/interfaces/:name/parameters/:key',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Remove an interface parameter',
        tags,
        params: KeyParams,
        response: { 200: InterfaceSchema },
      },
    },
    async (request) => ptp.definitions.removeInterfaceParameters(request.params.name, [request.params.key]),
  );
}

function registerHostPtpRoutes(app: HttpApp, ptp: PtpService): void {
  app.get(
    '/v1/hosts/:hostname/ptp',
    {
      config: { access: 'read' },
      schema: {
        summary: 'A host’s PTP instances, ports and linuxptp version',
        tags,
        params: HostParams,
        response: { 200: HostPtpSchema },
      },
    },
    async (request) => ptp.hosts.getHost(request.params.hostname),
  );
  app.put(
    '/v1/hosts/:hostname/ptp',
    {
      config: { access: 'configure' },
      schema: {
        summary:
          'Set the linuxptp version whose parameter names the host’s files use (null: the version its agent detects)',
        tags,
        params: HostParams,
        body: Type.Object(
          { linuxptpVersion: Type.Union([StringEnum(LINUXPTP_VERSIONS), Type.Null()]) },
          strict,
        ),
        response: { 200: HostPtpSchema },
      },
    },
    async (request) => ptp.hosts.setLinuxptpVersion(request.params.hostname, request.body.linuxptpVersion),
  );
  app.post(
    '/v1/hosts/:hostname/ptp-instances',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Assign a PTP instance to a host',
        tags,
        params: HostParams,
        body: Type.Object({ instance: PtpName }, strict),
        response: { 200: HostPtpSchema },
      },
    },
    async (request) => ptp.hosts.assignHostInstance(request.params.hostname, request.body.instance),
  );
  app.delete(
    '/v1/hosts/:hostname/ptp-instances/:instance',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Remove a PTP instance from a host',
        tags,
        params: Type.Object({ hostname: Hostname, instance: PtpName }),
        response: { 200: HostPtpSchema },
      },
    },
    async (request) => ptp.hosts.removeHostInstance(request.params.hostname, request.params.instance),
  );
  app.post(
    '/v1/hosts/:hostname/ptp-interfaces',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Make a host interface a port of a PTP interface',
        tags,
        params: HostParams,
        body: Type.Object({ ifname: Ifname, ptpInterface: PtpName }, strict),
        response: { 200: HostPtpSchema },
      },
    },
    async (request) =>
      ptp.hosts.assignHostInterface(request.params.hostname, request.body.ifname, request.body.ptpInterface),
  );
  app.delete(
    '/v1/hosts/:hostname/ptp-interfaces/:ptpInterface/:ifname',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Remove a host interface from a PTP interface',
        tags,
        params: Type.Object({ hostname: Hostname, ptpInterface: PtpName, ifname: Ifname }),
        response: { 200: HostPtpSchema },
      },
    },
    async (request) =>
      ptp.hosts.removeHostInterface(
        request.params.hostname,
        request.params.ifname,
        request.params.ptpInterface,
      ),
  );
}
