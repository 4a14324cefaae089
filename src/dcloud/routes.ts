import { Type } from '@sinclair/typebox';
import { type HttpApp, PageQuery, StringEnum } from '../core/http/routes.js';
import type { DcService } from './service.js';
import { SUBCLOUD_ENROLL_PATH, SYNC_STATUSES } from './uplink-protocol.js';

const strict = { additionalProperties: false } as const;
const Name = Type.String({ minLength: 1, maxLength: 63 });
const NameParams = Type.Object({ name: Name });
const GroupParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) });
const NewSubcloud = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    location: Type.Optional(Type.String({ maxLength: 255 })),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  strict,
);
const MAX_BATCH = 5000;
const GroupFields = {
  description: Type.Optional(Type.String({ maxLength: 1024 })),
  updateApplyType: Type.Optional(StringEnum(['serial', 'parallel'] as const)),
  maxParallelSubclouds: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
};

/** Subclouds, subcloud groups, the fleet alarm summary and subcloud enrollment (system controller only). */
export function registerDcRoutes(app: HttpApp, dc: DcService): void {
  registerSubcloudRoutes(app, dc);
  registerGroupRoutes(app, dc);
  app.get(
    '/v1/dc/alarm-summary',
    {
      config: { access: 'read' },
      schema: { summary: 'Alarm counts and cloud status of every subcloud, with fleet totals', tags: ['dc'] },
    },
    async () => dc.alarmSummary(),
  );
  app.post(
    SUBCLOUD_ENROLL_PATH,
    {
      // The one-time token of the join bundle is this route's credential (checked by the service).
      config: { access: 'public' },
      schema: {
        summary: 'Join a subcloud: spend its one-time token, get its uplink client certificate',
        tags: ['dc'],
        body: Type.Object(
          {
            token: Type.String({ minLength: 1, maxLength: 200 }),
            csr: Type.String({ minLength: 1, maxLength: 16_384 }),
          },
          strict,
        ),
        response: {
          201: Type.Object({ name: Type.String(), certificate: Type.String(), caBundle: Type.String() }),
        },
      },
    },
    async (request, reply) => {
      request.auditEvent = 'subcloud.enroll';
      const enrolled = await dc.enroll(request.body.token, request.body.csr);
      request.auditUser = `subcloud:${enrolled.name}`;
      reply.status(201);
      return enrolled;
    },
  );
}

function registerSubcloudRoutes(app: HttpApp, dc: DcService): void {
  const tags = ['subclouds'];
  app.get(
    '/v1/subclouds',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Subclouds by name, filtered; `total` counts every match',
        tags,
        querystring: Type.Object(
          {
            availability: Type.Optional(StringEnum(['online', 'offline'] as const)),
            management: Type.Optional(StringEnum(['managed', 'unmanaged'] as const)),
            syncStatus: Type.Optional(StringEnum(SYNC_STATUSES)),
            group: Type.Optional(Type.String({ maxLength: 255 })),
            ...PageQuery,
          },
          strict,
        ),
      },
    },
    async (request) => {
      const { limit = 100, next, ...filter } = request.query;
      return dc.list(filter, next === undefined ? { limit } : { limit, next });
    },
  );
  app.get(
    '/v1/subclouds/:name',
    {
      config: { access: 'read' },
      schema: {
        summary: 'A subcloud with its endpoint sync statuses and alarm counts',
        tags,
        params: NameParams,
      },
    },
    async (request) => dc.get(request.params.name),
  );
  app.post(
    '/v1/subclouds',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add a subcloud (unmanaged); the answer carries its one-time join bundle',
        tags,
        body: NewSubcloud,
      },
    },
    async (request, reply) => {
      reply.status(201);
      return dc.addSubcloud(request.body);
    },
  );
  app.post(
    '/v1/subclouds::batch',
    {
      config: { access: 'configure' },
      schema: {
        summary: `Add up to ${MAX_BATCH} subclouds at once (all or none); one join bundle each`,
        tags,
        body: Type.Object(
          { subclouds: Type.Array(NewSubcloud, { minItems: 1, maxItems: MAX_BATCH }) },
          strict,
        ),
      },
    },
    async (request, reply) => {
      reply.status(201);
      return dc.addSubclouds(request.body.subclouds);
    },
  );
  for (const action of ['manage', 'unmanage'] as const) {
    app.post(
      `/v1/subclouds/:name/${action}`,
      {
        config: { access: 'operate' },
        schema: {
          summary:
            action === 'manage'
              ? 'Manage a subcloud: push fleet-wide resources to it and raise its alarms'
              : 'Unmanage a subcloud: no pushes, its 280.x alarms cleared; status still shown',
          tags,
          params: NameParams,
        },
      },
      async (request) =>
        action === 'manage' ? dc.manage(request.params.name) : dc.unmanage(request.params.name),
    );
  }
  app.patch(
    '/v1/subclouds/:name',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Change a subcloud’s description, location or group',
        tags,
        params: NameParams,
        body: Type.Object(
          {
            description: Type.Optional(Type.String({ maxLength: 1024 })),
            location: Type.Optional(Type.String({ maxLength: 255 })),
            group: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          },
          { ...strict, minProperties: 1 },
        ),
      },
    },
    async (request) => dc.modify(request.params.name, request.body),
  );
  app.post(
    '/v1/subclouds/:name/join-bundle',
    {
      config: { access: 'configure' },
      schema: {
        summary:
          'Issue a new one-time join bundle for a subcloud (re-install); the earlier one stops working',
        tags,
        params: NameParams,
        response: { 201: Type.Object({ bundle: Type.String() }) },
      },
    },
    async (request, reply) => {
      reply.status(201);
      return { bundle: await dc.issueJoinBundle(request.params.name) };
    },
  );
  app.delete(
    '/v1/subclouds/:name',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Delete an unmanaged subcloud (force: also a managed one) and revoke its uplink certificate',
        tags,
        params: NameParams,
        querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }, strict),
      },
    },
    async (request, reply) => {
      await dc.delete(request.params.name, request.query.force === true);
      return reply.status(204).send();
    },
  );
}

function registerGroupRoutes(app: HttpApp, dc: DcService): void {
  const tags = ['subcloud groups'];
  app.get(
    '/v1/subcloud-groups',
    { config: { access: 'read' }, schema: { summary: 'Subcloud groups', tags } },
    async () => ({ items: dc.listGroups() }),
  );
  app.get(
    '/v1/subcloud-groups/:name',
    { config: { access: 'read' }, schema: { summary: 'A subcloud group', tags, params: GroupParams } },
    async (request) => dc.getGroup(request.params.name),
  );
  app.post(
    '/v1/subcloud-groups',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add a subcloud group (update apply type serial|parallel, max parallel subclouds 1..5000)',
        tags,
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }), ...GroupFields }, strict),
      },
    },
    async (request, reply) => {
      reply.status(201);
      return dc.addGroup({
        updateApplyType: 'parallel',
        maxParallelSubclouds: 2,
        ...request.body,
      });
    },
  );
  app.patch(
    '/v1/subcloud-groups/:name',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Modify a subcloud group',
        tags,
        params: GroupParams,
        body: Type.Object(GroupFields, { ...strict, minProperties: 1 }),
      },
    },
    async (request) => dc.modifyGroup(request.params.name, request.body),
  );
  app.delete(
    '/v1/subcloud-groups/:name',
    {
      config: { access: 'configure' },
      schema: { summary: 'Delete an empty subcloud group (not Default)', tags, params: GroupParams },
    },
    async (request, reply) => {
      await dc.deleteGroup(request.params.name);
      return reply.status(204).send();
    },
  );
}
