import { Type } from '@sinclair/typebox';
import { type HttpApp, Page, PageQuery, StringEnum } from '../../core/http/routes.js';
import { ACCESS_LISTS, ACCESS_SUBJECTS } from './model.js';
import type { RendezvousRegistrations } from './service.js';

const tags = ['fdo'];
const GuidParams = Type.Object({ guid: Type.String({ minLength: 1, maxLength: 64 }) });
const RuleParams = Type.Object({
  list: StringEnum(ACCESS_LISTS),
  subject: StringEnum(ACCESS_SUBJECTS),
  value: Type.String({ minLength: 1, maxLength: 128 }),
});
const RegistrationSchema = Type.Object({
  guid: Type.String(),
  deviceInfo: Type.String(),
  ownerKeyHash: Type.String(),
  manufacturerKeyHash: Type.String(),
  to2Addresses: Type.Array(
    Type.Object({
      ip: Type.Union([Type.String(), Type.Null()]),
      dns: Type.Union([Type.String(), Type.Null()]),
      port: Type.Integer(),
      protocol: Type.String(),
    }),
  ),
  waitSeconds: Type.Integer(),
  source: Type.String(),
  registeredAt: Type.String(),
  expiresAt: Type.String(),
});
const RuleSchema = Type.Object({
  list: StringEnum(ACCESS_LISTS),
  subject: StringEnum(ACCESS_SUBJECTS),
  value: Type.String(),
  createdAt: Type.String(),
});

/** Admin API of the FDO rendezvous: registrations (`/v1/fdo/registrations`) and allow/deny rules. */
export function registerFdoRoutes(app: HttpApp, registrations: RendezvousRegistrations): void {
  app.get(
    '/v1/fdo/registrations',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Live FDO rendezvous registrations (TO0), by GUID',
        tags,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: Page(RegistrationSchema) },
      },
    },
    async (request) => registrations.list(request.query.limit ?? 100, request.query.next),
  );
  app.get(
    '/v1/fdo/registrations/:guid',
    {
      config: { access: 'read' },
      schema: {
        summary: 'An FDO registration',
        tags,
        params: GuidParams,
        response: { 200: RegistrationSchema },
      },
    },
    async (request) => registrations.get(request.params.guid),
  );
  app.delete(
    '/v1/fdo/registrations/:guid',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Delete an FDO registration; the device then finds no owner in TO1',
        tags,
        params: GuidParams,
      },
    },
    async (request, reply) => {
      await registrations.delete(request.params.guid);
      return reply.status(204).send();
    },
  );
  app.get(
    '/v1/fdo/access-rules',
    {
      config: { access: 'read' },
      schema: {
        summary: 'FDO allow and deny rules (GUIDs, owner and manufacturer key hashes) applied to TO0 and TO1',
        tags,
        response: { 200: Type.Object({ items: Type.Array(RuleSchema) }) },
      },
    },
    async () => ({ items: await registrations.listRules() }),
  );
  app.put(
    '/v1/fdo/access-rules/:list/:subject/:value',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Add an allow or deny rule (409 when present)',
        tags,
        params: RuleParams,
        response: { 201: RuleSchema },
      },
    },
    async (request, reply) => {
      const { list, subject, value } = request.params;
      reply.status(201);
      return registrations.addRule(list, subject, value);
    },
  );
  app.delete(
    '/v1/fdo/access-rules/:list/:subject/:value',
    {
      config: { access: 'configure' },
      schema: { summary: 'Remove an allow or deny rule', tags, params: RuleParams },
    },
    async (request, reply) => {
      const { list, subject, value } = request.params;
      await registrations.removeRule(list, subject, value);
      return reply.status(204).send();
    },
  );
}
