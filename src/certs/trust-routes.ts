import { Type } from '@sinclair/typebox';
import { type HttpApp, principalOf } from '../core/http/routes.js';
import type { TrustedCas } from './trust-service.js';

const TrustedCaSchema = Type.Object({
  fingerprint: Type.String(),
  subject: Type.String(),
  notAfter: Type.String(),
  pem: Type.String(),
  addedAt: Type.String(),
  addedBy: Type.String(),
  isFleetWide: Type.Boolean(),
});
const FingerprintParams = Type.Object({ fingerprint: Type.String({ minLength: 1, maxLength: 128 }) });
const ItemsSchema = Type.Object({ items: Type.Array(TrustedCaSchema) });
// A large corporate bundle is a few hundred KiB; the request body is limited to 1 MiB anyway.
const MAX_PEM_CHARS = 512 * 1024;

/** CA certificates the site trusts for outbound TLS (alarm webhooks), beside the site root CA. */
export function registerTrustedCaRoutes(app: HttpApp, trustedCas: TrustedCas): void {
  const tags = ['trusted CAs'];
  app.get(
    '/v1/trusted-cas',
    {
      config: { access: 'read' },
      schema: {
        summary: 'CA certificates the site trusts for outbound TLS, beside its root CA and the system CAs',
        tags,
        response: { 200: ItemsSchema },
      },
    },
    async () => ({ items: trustedCas.list() }),
  );
  app.post(
    '/v1/trusted-cas',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Trust the CA certificates of a PEM bundle (idempotent; refuses a bundle with a non-CA)',
        tags,
        body: Type.Object(
          {
            pem: Type.String({ minLength: 1, maxLength: MAX_PEM_CHARS }),
            fleetWide: Type.Optional(
              Type.Boolean({ description: 'copy the CAs to every managed subcloud (system controller)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: ItemsSchema, 201: ItemsSchema },
      },
    },
    async (request, reply) => {
      const { pem, fleetWide } = request.body;
      const { items, addedCount } = await trustedCas.add(
        pem,
        principalOf(request).username,
        fleetWide === undefined ? {} : { isFleetWide: fleetWide },
      );
      reply.status(addedCount > 0 ? 201 : 200);
      return { items };
    },
  );
  app.patch(
    '/v1/trusted-cas/:fingerprint',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Mark a trusted CA fleet-wide (copied to every managed subcloud) or local',
        tags,
        params: FingerprintParams,
        body: Type.Object({ fleetWide: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: TrustedCaSchema },
      },
    },
    async (request) => trustedCas.setFleetWide(request.params.fingerprint, request.body.fleetWide),
  );
  app.delete(
    '/v1/trusted-cas/:fingerprint',
    {
      config: { access: 'configure' },
      schema: { summary: 'Stop trusting a CA', tags, params: FingerprintParams },
    },
    async (request, reply) => {
      await trustedCas.remove(request.params.fingerprint);
      return reply.status(204).send();
    },
  );
}
