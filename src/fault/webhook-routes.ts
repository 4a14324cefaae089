import { Type } from '@sinclair/typebox';
import type { HttpApp } from '../core/http/routes.js';
import { SEVERITIES } from './model.js';
import {
  ALARM_CHANGE_KINDS,
  LAST_DELIVERY_STATUSES,
  SECRET_MAX_LENGTH,
  SECRET_MIN_LENGTH,
  URL_MAX_LENGTH,
} from './webhook-model.js';
import type { AlarmWebhookService } from './webhook-service.js';

const strict = { additionalProperties: false } as const;
const NullableString = Type.Union([Type.String(), Type.Null()]);

const Filter = Type.Object(
  {
    alarmIds: Type.Optional(
      Type.Array(Type.String({ pattern: '^[0-9]{3}\\.[0-9]{3}$' }), { minItems: 1, maxItems: 200 }),
    ),
    minSeverity: Type.Optional(Type.Union(SEVERITIES.map((severity) => Type.Literal(severity)))),
    entityInstancePrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    kinds: Type.Optional(
      Type.Array(Type.Union(ALARM_CHANGE_KINDS.map((kind) => Type.Literal(kind))), {
        minItems: 1,
        maxItems: ALARM_CHANGE_KINDS.length,
      }),
    ),
  },
  strict,
);

const WebhookView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  filter: Filter,
  secretHint: Type.String(),
  isEnabled: Type.Boolean(),
  createdAt: Type.String(),
  lastDelivery: Type.Object({
    status: Type.Union([...LAST_DELIVERY_STATUSES.map((status) => Type.Literal(status)), Type.Null()]),
    statusCode: Type.Union([Type.Integer(), Type.Null()]),
    error: NullableString,
    attemptAt: NullableString,
    successAt: NullableString,
  }),
  consecutiveFailures: Type.Integer(),
  pendingCount: Type.Integer(),
});
const WebhookParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Alarm webhook subscriptions: list, create, show, delete. */
export function registerAlarmWebhookRoutes(app: HttpApp, webhooks: AlarmWebhookService): void {
  const tags = ['alarm-webhooks'];
  app.get(
    '/v1/alarm-webhooks',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List alarm webhooks with their last delivery status',
        tags,
        response: { 200: Type.Object({ items: Type.Array(WebhookView) }) },
      },
    },
    async () => ({ items: await webhooks.list() }),
  );
  app.post(
    '/v1/alarm-webhooks',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Subscribe a receiver to alarm changes (signed with HMAC-SHA256 of the secret)',
        tags,
        body: Type.Object(
          {
            url: Type.String({ minLength: 1, maxLength: URL_MAX_LENGTH }),
            secret: Type.String({ minLength: SECRET_MIN_LENGTH, maxLength: SECRET_MAX_LENGTH }),
            filter: Type.Optional(Filter),
          },
          strict,
        ),
        response: { 201: WebhookView },
      },
    },
    async (request, reply) => {
      const { url, secret, filter } = request.body;
      reply.status(201);
      return webhooks.create(filter === undefined ? { url, secret } : { url, secret, filter });
    },
  );
  app.get(
    '/v1/alarm-webhooks/:id',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Show an alarm webhook',
        tags,
        params: WebhookParams,
        response: { 200: WebhookView },
      },
    },
    async (request) => webhooks.get(request.params.id),
  );
  app.delete(
    '/v1/alarm-webhooks/:id',
    {
      config: { access: 'configure' },
      schema: { summary: 'Delete an alarm webhook and its undelivered events', tags, params: WebhookParams },
    },
    async (request, reply) => {
      await webhooks.delete(request.params.id);
      return reply.status(204).send();
    },
  );
}
