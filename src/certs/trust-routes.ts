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
});
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
          { pem: Type.String({ minLength: 1, maxLength: MAX_PEM_CHARS }) },
          { additionalProperties: false },
        ),
        response: { 200: ItemsSchema, 201: ItemsSchema },
      },
    },
    async (request, reply) => {
      const { items, addedCount } = await trustedCas.add(request.body.pem, principalOf(request).username);
      reply.status(addedCount > 0 ? 201 : 200);
      return { items };
    },
  );
  app.delete(
    '/v1/trusted-cas/:fingerprint',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Stop trusting a CA',
        tags,
        params: Type.Object({ fingerprint: Type.String({ minLength: 1, maxLength: 128 }) }),
      },
    },
    async (request, reply) => {
      await trustedCas.remove(request.params.fingerprint);
      return reply.status(204).send();
    },
  );
}
