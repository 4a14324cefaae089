import { Type } from '@sinclair/typebox';
import { AppError } from '../core/errors.js';
import { type HttpApp, Page, PageQuery } from '../core/http/routes.js';
import type { EventStreams } from '../core/http/sse.js';
import type { AlarmCatalog } from './catalog.js';
import { registerEventRoutes } from './event-routes.js';
import {
  AlarmKeyBody,
  AlarmListItemSchema,
  AlarmViewSchema,
  RaiseBody,
  SeveritySchema,
  SummarySchema,
} from './schemas.js';
import type { FaultService } from './service.js';

const MAX_BATCH = 1000;
const MAX_PAGE = 20_000;
const UuidParams = Type.Object({ uuid: Type.String({ maxLength: 64 }) });
const strict = { additionalProperties: false } as const;

/** Alarms: list, show, raise, clear, batch, summary, live stream; plus the event log and suppression. */
export function registerFaultRoutes(
  app: HttpApp,
  deps: { fault: FaultService; catalog: AlarmCatalog; streams: EventStreams },
): void {
  const { fault, streams } = deps;
  const tags = ['alarms'];
  app.get(
    '/v1/alarms',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List active alarms, most severe first, then newest',
        tags,
        querystring: Type.Object(
          {
            alarmId: Type.Optional(Type.String({ maxLength: 7 })),
            entityType: Type.Optional(Type.String({ maxLength: 64 })),
            entityInstance: Type.Optional(
              Type.String({ maxLength: 255, description: 'entity instance id prefix' }),
            ),
            severity: Type.Optional(SeveritySchema),
            isMgmtAffecting: Type.Optional(Type.Boolean()),
            includeSuppressed: Type.Optional(Type.Boolean({ default: false })),
            expand: Type.Optional(
              Type.Boolean({
                default: false,
                description: 'include type, probable cause, repair action, service affecting',
              }),
            ),
            // Pages may be large here: items are cached JSON, so 20,000 cost little more than 1,000.
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 100 })),
            next: PageQuery.next,
          },
          strict,
        ),
        response: { 200: Page(Type.Union([AlarmListItemSchema, AlarmViewSchema])) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const body = fault.listAlarms(
        {
          alarmId: q.alarmId,
          entityType: q.entityType,
          entityInstancePrefix: q.entityInstance,
          severity: q.severity,
          isMgmtAffecting: q.isMgmtAffecting,
          includeSuppressed: q.includeSuppressed,
          isExpanded: q.expand,
        },
        q.limit ?? 100,
        q.next,
      );
      // The body is ready JSON (cached items, cached pages); the schema above documents its shape.
      return reply.type('application/json; charset=utf-8').send(body as never);
    },
  );
  app.get(
    '/v1/alarms/summary',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Counts of active alarms by severity and the overall status',
        tags,
        querystring: Type.Object({ includeSuppressed: Type.Optional(Type.Boolean()) }, strict),
        response: { 200: SummarySchema },
      },
    },
    async (request) => fault.summary({ includeSuppressed: request.query.includeSuppressed ?? false }),
  );
  app.get(
    '/v1/alarms/stream',
    {
      config: { access: 'read' },
      schema: { summary: 'Server-Sent Events: raised, updated, cleared (id = event-log seq)', tags },
    },
    async (request, reply) => {
      let unsubscribe = () => {};
      const stream = streams.start(request, reply, () => unsubscribe());
      unsubscribe = fault.subscribe((change) => stream.send(change.kind, change.eventSeq, change.alarm));
    },
  );
  app.get(
    '/v1/alarms/:uuid',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Show an active alarm',
        tags,
        params: UuidParams,
        response: { 200: AlarmViewSchema },
      },
    },
    async (request) => fault.getAlarm(request.params.uuid),
  );
  app.post(
    '/v1/alarms',
    {
      config: { access: 'operate' },
      schema: {
        summary:
          'Raise an alarm (or update the active one of the same id and entity); log ids go to the event log',
        tags,
        body: RaiseBody,
        response: {
          200: Type.Object({ change: Type.String(), alarm: Type.Optional(AlarmViewSchema) }),
          201: Type.Object({
            change: Type.String(),
            alarm: Type.Optional(AlarmViewSchema),
            eventUuid: Type.Optional(Type.String()),
          }),
        },
      },
    },
    async (request, reply) => {
      const result = await fault.raise(request.body);
      if (result.change === 'updated') return { change: result.change, alarm: result.alarm };
      reply.status(201);
      return 'event' in result
        ? { change: result.change, eventUuid: result.event.uuid }
        : { change: result.change, alarm: result.alarm };
    },
  );
  app.delete(
    '/v1/alarms/:uuid',
    { config: { access: 'operate' }, schema: { summary: 'Clear an active alarm', tags, params: UuidParams } },
    async (request, reply) => {
      await fault.clearByUuid(request.params.uuid);
      return reply.status(204).send();
    },
  );
  app.post(
    '/v1/alarms::batch',
    {
      config: { access: 'operate' },
      schema: {
        summary: `Raise and clear up to ${MAX_BATCH} alarms in one request (all or nothing on invalid input)`,
        tags,
        body: Type.Object(
          {
            raise: Type.Optional(Type.Array(RaiseBody, { maxItems: MAX_BATCH })),
            clear: Type.Optional(Type.Array(AlarmKeyBody, { maxItems: MAX_BATCH })),
          },
          strict,
        ),
        response: {
          200: Type.Object({
            raised: Type.Integer(),
            updated: Type.Integer(),
            logged: Type.Integer(),
            cleared: Type.Integer(),
            notActive: Type.Integer(),
          }),
        },
      },
    },
    async (request) => {
      const raise = request.body.raise ?? [];
      const clear = request.body.clear ?? [];
      if (raise.length + clear.length > MAX_BATCH) {
        throw new AppError(
          'invalid_input',
          `a batch holds at most ${MAX_BATCH} items; got ${raise.length + clear.length}`,
          {
            field: 'raise',
          },
        );
      }
      return fault.applyBatch({ raise, clear });
    },
  );
  app.get(
    '/v1/alarm-catalog',
    { config: { access: 'read' }, schema: { summary: 'The alarm catalog', tags } },
    async () => ({ items: deps.catalog.entries() }),
  );
  registerEventRoutes(app, fault);
}
