import { Type } from '@sinclair/typebox';
import { AppError } from '../core/errors.js';
import { type HttpApp, Page, PageQuery, principalOf, StringEnum } from '../core/http/routes.js';
import { AGENT_ENROLL_PATH } from './agent-protocol.js';
import {
  ADMINISTRATIVE_STATES,
  AVAILABILITIES,
  OPERATIONAL_STATES,
  PERSONALITIES,
  SYSTEM_MODES,
  SYSTEM_TYPES,
} from './model.js';
import type { InventoryService } from './service.js';
import { CPU_FUNCTIONS } from './topology.js';

const strict = { additionalProperties: false } as const;
const Hostname = Type.String({ minLength: 1, maxLength: 63 });
const HostParams = Type.Object({ hostname: Hostname });
const LabelKey = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$',
});
const Labels = Type.Record(LabelKey, Type.String({ maxLength: 253 }));
const Nullable = (schema: ReturnType<typeof Type.String>) => Type.Union([schema, Type.Null()]);

const SystemSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  systemType: StringEnum(SYSTEM_TYPES),
  mode: StringEnum(SYSTEM_MODES),
  region: Type.String(),
  softwareVersion: Type.String(),
  updatedAt: Type.String(),
});

const HostSchema = Type.Object({
  hostname: Type.String(),
  personality: StringEnum(PERSONALITIES),
  subfunctions: Type.Array(Type.String()),
  administrative: StringEnum(ADMINISTRATIVE_STATES),
  operational: StringEnum(OPERATIONAL_STATES),
  availability: StringEnum(AVAILABILITIES),
  labels: Type.Record(Type.String(), Type.String()),
  enrolled: Type.Boolean(),
  lastHeartbeatAt: Nullable(Type.String()),
  targetRevision: Nullable(Type.String()),
  appliedRevision: Nullable(Type.String()),
  configStatus: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const CpuSchema = Type.Object({
  cpu: Type.Integer(),
  package: Type.Integer(),
  core: Type.Integer(),
  thread: Type.Integer(),
  numaNode: Type.Integer(),
  siblings: Type.Array(Type.Integer()),
  function: StringEnum(CPU_FUNCTIONS),
});
const CpuItems = Type.Object({ items: Type.Array(CpuSchema) });
const EnrollmentSchema = Type.Object({ token: Type.String(), expiresAt: Type.String() });
const FileSchema = Type.Object({ path: Type.String(), mode: Type.Integer(), content: Type.String() });

/** System, hosts, labels, CPU functions, reported inventory and rendered configuration; agent enrollment. */
export function registerInventoryRoutes(app: HttpApp, inventory: InventoryService): void {
  registerSystemRoutes(app, inventory);
  registerHostRoutes(app, inventory);
  registerHostDetailRoutes(app, inventory);
  app.post(
    AGENT_ENROLL_PATH,
    {
      // The one-time enrollment token in the body is this route's credential (checked by the service).
      config: { access: 'public' },
      schema: {
        summary: 'Enroll a host agent: spend its one-time token, get a client certificate from the site CA',
        tags: ['agent'],
        body: Type.Object(
          {
            token: Type.String({ minLength: 1, maxLength: 200 }),
            csr: Type.String({ minLength: 1, maxLength: 16_384 }),
          },
          strict,
        ),
        response: {
          201: Type.Object({ hostname: Type.String(), certificate: Type.String(), caBundle: Type.String() }),
        },
      },
    },
    async (request, reply) => {
      request.auditEvent = 'agent.enroll';
      const enrolled = await inventory.enroll(request.body.token, request.body.csr);
      request.auditUser = `agent:${enrolled.hostname}`;
      reply.status(201);
      return enrolled;
    },
  );
}

function registerSystemRoutes(app: HttpApp, inventory: InventoryService): void {
  const tags = ['system'];
  app.get(
    '/v1/system',
    { config: { access: 'read' }, schema: { summary: 'The system', tags, response: { 200: SystemSchema } } },
    async () => inventory.system(),
  );
  app.patch(
    '/v1/system',
    {
      config: { access: 'configure' },
      schema: {
        summary:
          'Modify the system; mode simplex → duplex migrates an All-in-one system (controller-0 locked)',
        tags,
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
            description: Type.Optional(Type.String({ maxLength: 1024 })),
            region: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
            mode: Type.Optional(StringEnum(SYSTEM_MODES)),
          },
          { ...strict, minProperties: 1 },
        ),
        response: { 200: SystemSchema },
      },
    },
    async (request) => inventory.modifySystem(request.body, principalOf(request).username),
  );
}

function registerHostRoutes(app: HttpApp, inventory: InventoryService): void {
  const tags = ['hosts'];
  app.get(
    '/v1/hosts',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Hosts, by name',
        tags,
        querystring: Type.Object(
          { personality: Type.Optional(StringEnum(PERSONALITIES)), ...PageQuery },
          strict,
        ),
        response: { 200: Page(HostSchema) },
      },
    },
    async (request) => {
      const { personality, limit = 100, next } = request.query;
      const after = next === undefined ? undefined : decodeCursor(next);
      const hosts = inventory
        .listHosts(personality ? { personality } : {})
        .filter((host) => after === undefined || host.hostname > after);
      const items = hosts.slice(0, limit);
      const last = items.at(-1);
      return hosts.length > limit && last
        ? { items, next: Buffer.from(last.hostname).toString('base64url') }
        : { items };
    },
  );
  app.get(
    '/v1/hosts/:hostname',
    {
      config: { access: 'read' },
      schema: { summary: 'A host', tags, params: HostParams, response: { 200: HostSchema } },
    },
    async (request) => inventory.getHost(request.params.hostname),
  );
  app.post(
    '/v1/hosts',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add a host (locked); the answer carries its agent’s one-time enrollment token',
        tags,
        body: Type.Object(
          {
            hostname: Hostname,
            personality: StringEnum(PERSONALITIES),
            subfunctions: Type.Optional(
              Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: 8 }),
            ),
            labels: Type.Optional(Labels),
          },
          strict,
        ),
        response: { 201: Type.Object({ host: HostSchema, enrollment: EnrollmentSchema }) },
      },
    },
    async (request, reply) => {
      reply.status(201);
      return inventory.addHost(request.body);
    },
  );
  app.post(
    '/v1/hosts/:hostname/enrollment-token',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Issue a new one-time enrollment token for a host’s agent (the earlier one stops working)',
        tags,
        params: HostParams,
        response: { 201: EnrollmentSchema },
      },
    },
    async (request, reply) => {
      reply.status(201);
      return inventory.issueEnrollmentToken(request.params.hostname);
    },
  );
  app.delete(
    '/v1/hosts/:hostname',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Delete a locked host (force: also an unlocked one); its agent certificate stops working',
        tags,
        params: HostParams,
        querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }, strict),
      },
    },
    async (request, reply) => {
      await inventory.deleteHost(request.params.hostname, request.query.force === true);
      return reply.status(204).send();
    },
  );
  app.post(
    '/v1/hosts/:hostname/lock',
    {
      config: { access: 'operate' },
      schema: {
        summary: 'Lock a host (raises 200.001); force may lock the last unlocked controller',
        tags,
        params: HostParams,
        body: Type.Object({ force: Type.Optional(Type.Boolean()) }, strict),
        response: { 200: HostSchema },
      },
    },
    async (request) => inventory.lock(request.params.hostname, request.body?.force === true),
  );
  app.post(
    '/v1/hosts/:hostname/unlock',
    {
      config: { access: 'operate' },
      schema: {
        summary: 'Unlock a host (clears 200.001); its agent must be connected',
        tags,
        params: HostParams,
        response: { 200: HostSchema },
      },
    },
    async (request) => inventory.unlock(request.params.hostname),
  );
}

function registerHostDetailRoutes(app: HttpApp, inventory: InventoryService): void {
  const tags = ['hosts'];
  app.post(
    '/v1/hosts/:hostname/labels',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Assign labels (key → value) to a host; existing keys get the new value',
        tags,
        params: HostParams,
        body: Type.Object({ labels: Labels }, strict),
        response: { 200: HostSchema },
      },
    },
    async (request) => inventory.assignLabels(request.params.hostname, request.body.labels),
  );
  app.delete(
    '/v1/hosts/:hostname/labels/:key',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Remove a label from a host',
        tags,
        params: Type.Object({ hostname: Hostname, key: Type.String({ minLength: 1, maxLength: 63 }) }),
        response: { 200: HostSchema },
      },
    },
    async (request) => inventory.removeLabel(request.params.hostname, request.params.key),
  );
  app.get(
    '/v1/hosts/:hostname/cpus',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Logical CPUs with topology and function',
        tags,
        params: HostParams,
        response: { 200: CpuItems },
      },
    },
    async (request) => ({ items: inventory.cpus(request.params.hostname) }),
  );
  app.put(
    '/v1/hosts/:hostname/cpu-functions',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Set how many physical cores per NUMA node serve a function (host must be locked)',
        tags,
        params: HostParams,
        body: Type.Object(
          {
            function: StringEnum(CPU_FUNCTIONS),
            coresPerNuma: Type.Record(
              Type.String({ pattern: '^[0-9]{1,3}$' }),
              Type.Integer({ minimum: 0, maximum: 4096 }),
              {
                minProperties: 1,
              },
            ),
          },
          strict,
        ),
        response: { 200: CpuItems },
      },
    },
    async (request) => {
      const perNuma: Record<number, number> = {};
      for (const [node, count] of Object.entries(request.body.coresPerNuma)) perNuma[Number(node)] = count;
      return {
        items: await inventory.modifyCpuFunctions(request.params.hostname, request.body.function, perNuma),
      };
    },
  );
  app.get(
    '/v1/hosts/:hostname/inventory',
    {
      config: { access: 'read' },
      schema: {
        summary: 'What the host’s agent discovered (CPUs, NUMA, memory, NICs, problems)',
        tags,
        params: HostParams,
      },
    },
    async (request) => {
      const { inventory: reported, reportedAt } = inventory.reportedInventory(request.params.hostname);
      return { ...reported, reportedAt };
    },
  );
  app.get(
    '/v1/hosts/:hostname/config',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The configuration rendered for the host: revision and files its agent writes',
        tags,
        params: HostParams,
        response: { 200: Type.Object({ revision: Type.String(), files: Type.Array(FileSchema) }) },
      },
    },
    async (request) => inventory.renderedConfig(request.params.hostname),
  );
}

function decodeCursor(next: string): string {
  const value = Buffer.from(next, 'base64url').toString();
  if (value.length === 0)
    throw new AppError('invalid_input', 'next is not a cursor this list returned', { field: 'next' });
  return value;
}
