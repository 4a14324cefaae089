import { Type } from '@sinclair/typebox';
import { type HttpApp, StringEnum } from '../core/http/routes.js';
import type { SubcloudLink } from './link.js';

const strict = { additionalProperties: false } as const;
const UPLINK_STATES = ['connecting', 'connected', 'disconnected', 'stopped'] as const;

const LinkStatusSchema = Type.Object({
  joined: Type.Boolean(),
  state: Type.Optional(StringEnum(UPLINK_STATES)),
  controller: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  connectedSince: Type.Optional(Type.String()),
  lastError: Type.Optional(Type.String()),
  reconnects: Type.Optional(Type.Integer()),
});

/** The subcloud side of distributed cloud: join a system controller, show the uplink. */
export function registerDcLinkRoutes(app: HttpApp, link: Pick<SubcloudLink, 'join' | 'status'>): void {
  const tags = ['dc'];
  app.post(
    '/v1/dc/join',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'Join a system controller with the bundle of `murm subcloud add`; starts the uplink',
        tags,
        body: Type.Object({ bundle: Type.String({ minLength: 1, maxLength: 65_536 }) }, strict),
        response: { 200: LinkStatusSchema },
      },
    },
    async (request) => {
      request.auditEvent = 'dc.join';
      await link.join(request.body.bundle);
      return link.status();
    },
  );
  app.get(
    '/v1/dc/link',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The link of this site to its system controller',
        tags,
        response: { 200: LinkStatusSchema },
      },
    },
    async () => link.status(),
  );
}
