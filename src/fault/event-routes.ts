import { Type } from '@sinclair/typebox';
import { AppError } from '../core/errors.js';
import { type HttpApp, Page, PageQuery } from '../core/http/routes.js';
import { AlarmIdSchema, EventStateSchema, EventViewSchema, SuppressionSchema } from './schemas.js';
import type { FaultService } from './service.js';

/** The event log (newest first) and suppression per alarm id. */
export function registerEventRoutes(app: HttpApp, fault: FaultService): void {
  const tags = ['events'];
  app.get(
    '/v1/events',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List the event log, newest first',
        tags,
        querystring: Type.Object(
          {
            since: Type.Optional(Type.String({ format: 'date-time' })),
            until: Type.Optional(Type.String({ format: 'date-time' })),
            eventId: Type.Optional(Type.String({ maxLength: 7 })),
            entityInstance: Type.Optional(
              Type.String({ maxLength: 255, description: 'entity instance id prefix' }),
            ),
            state: Type.Optional(EventStateSchema),
            ...PageQuery,
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(EventViewSchema) },
      },
    },
    async (request) => {
      const { since, until, eventId, entityInstance, state, limit = 100, next } = request.query;
      const beforeSeq = next === undefined ? undefined : Number(Buffer.from(next, 'base64url').toString());
      if (beforeSeq !== undefined && !Number.isInteger(beforeSeq)) {
        throw new AppError('invalid_input', 'query parameter "next" is not a cursor this server gave out', {
          field: 'next',
        });
      }
      const iso = (value: string | undefined) =>
        value === undefined ? undefined : new Date(value).toISOString();
      const items = await fault.listEvents(
        {
          since: iso(since),
          until: iso(until),
          eventId,
          entityInstancePrefix: entityInstance,
          state,
          beforeSeq,
        },
        limit + 1,
      );
      const page = items.slice(0, limit);
      const last = page.at(-1);
      return items.length > limit && last
        ? { items: page, next: Buffer.from(String(last.seq)).toString('base64url') }
        : { items: page };
    },
  );
  app.get(
    '/v1/events/:uuid',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Show an event-log record',
        tags,
        params: Type.Object({ uuid: Type.String({ maxLength: 64 }) }),
        response: { 200: EventViewSchema },
      },
    },
    async (request) => fault.getEvent(request.params.uuid),
  );
  app.get(
    '/v1/event-suppressions',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Suppressible alarm ids and whether each is suppressed',
        tags,
        response: { 200: Type.Object({ items: Type.Array(SuppressionSchema) }) },
      },
    },
    async () => ({ items: fault.listSuppressions() }),
  );
  app.patch(
    '/v1/event-suppressions/:alarmId',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Suppress or unsuppress an alarm id (suppressed alarms stay stored but leave the summary)',
        tags,
        params: Type.Object({ alarmId: AlarmIdSchema }),
        body: Type.Object({ isSuppressed: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: SuppressionSchema },
      },
    },
    async (request) => fault.setSuppression(request.params.alarmId, request.body.isSuppressed),
  );
}
