import { Type } from '@sinclair/typebox';
import { type HttpApp, Page, PageQuery } from '../core/http/routes.js';
import { decodeSeqCursor, isoTime, seqPage } from '../core/http/seq-paging.js';
import type { AuditLog } from './audit-log.js';

const AuditRecordSchema = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  event: Type.String(),
  username: Type.Union([Type.String(), Type.Null()]),
  roles: Type.String(),
  source: Type.String(),
  method: Type.String(),
  path: Type.String(),
  target: Type.String(),
  status: Type.Integer(),
  requestId: Type.String(),
  detail: Type.Union([Type.String(), Type.Null()]),
  prevHash: Type.String(),
  hash: Type.String(),
});

/** The security audit log: list with filters, and verify the hash chain. */
export function registerAuditRoutes(app: HttpApp, audit: AuditLog): void {
  const tags = ['audit'];
  app.get(
    '/v1/audit',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'List security audit records, newest first',
        tags,
        querystring: Type.Object(
          {
            user: Type.Optional(Type.String({ maxLength: 64 })),
            since: Type.Optional(Type.String({ format: 'date-time' })),
            until: Type.Optional(Type.String({ format: 'date-time' })),
            outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
            ...PageQuery,
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(AuditRecordSchema) },
      },
    },
    async (request) => {
      const { user, since, until, outcome, limit = 100, next } = request.query;
      const beforeSeq = decodeSeqCursor(next);
      const items = await audit.list(
        { username: user, since: isoTime(since), until: isoTime(until), outcome, beforeSeq },
        limit + 1,
      );
      return seqPage(items, limit);
    },
  );
  app.get(
    '/v1/audit/verify',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'Recompute the hash chain and report the first broken record',
        tags,
        response: {
          200: Type.Object({
            isIntact: Type.Boolean(),
            checked: Type.Integer(),
            firstBroken: Type.Union([
              Type.Object({ seq: Type.Integer(), reason: Type.String() }),
              Type.Null(),
            ]),
          }),
        },
      },
    },
    async () => audit.verify(),
  );
}
