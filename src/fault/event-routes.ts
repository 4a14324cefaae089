import { Type } from '@sinclair/typebox';
import { type HttpApp, Page, PageQuery } from '../core/http/routes.js';
import { decodeSeqCursor, isoTime, seqPage } from '../core/http/seq-paging.js';
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
      const beforeSeq = decodeSeqCursor(next);
      const items = await fault.listEvents(
        {
          since: isoTime(since),
          until: isoTime(until),
          eventId,
          entityInstancePrefix: entityInstance,
          state,
          beforeSeq,
        },
        limit + 1,
      );
      return seqPage(items, limit);
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
