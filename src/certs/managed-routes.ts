import { Type } from '@sinclair/typebox';
import { type HttpApp, StringEnum } from '../core/http/routes.js';
import { KEY_TYPES } from './issue.js';
import type { ManagedCertificates } from './managed-service.js';
import { parseDuration } from './model.js';

const ManagedCertificateSchema = Type.Object({
  name: Type.String(),
  dns: Type.Array(Type.String()),
  ips: Type.Array(Type.String()),
  keyType: StringEnum(KEY_TYPES),
  durationSeconds: Type.Integer(),
  renewBeforeSeconds: Type.Integer(),
  serial: Type.String(),
  notBefore: Type.String(),
  notAfter: Type.String(),
  certPem: Type.String(),
  createdAt: Type.String(),
  renewedAt: Type.Union([Type.String(), Type.Null()]),
});
const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });
const Duration = Type.String({ minLength: 1, maxLength: 32, description: 'e.g. 90d, 12h, 1w2d' });

/** Certificates the site issues from its root CA and renews itself. Keys leave only through export. */
export function registerManagedCertificateRoutes(app: HttpApp, managed: ManagedCertificates): void {
  const tags = ['managed certificates'];
  app.get(
    '/v1/managed-certificates',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Certificates issued by the site CA and renewed by the site',
        tags,
        response: { 200: Type.Object({ items: Type.Array(ManagedCertificateSchema) }) },
      },
    },
    async () => ({ items: await managed.list() }),
  );
  app.post(
    '/v1/managed-certificates',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Issue a certificate from the site CA; the site renews it renewBefore its expiry',
        tags,
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64 }),
            dns: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 100 })),
            ips: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100 })),
            keyType: Type.Optional(StringEnum(KEY_TYPES)),
            duration: Type.Optional(Duration),
            renewBefore: Type.Optional(Duration),
          },
          { additionalProperties: false },
        ),
        response: { 201: ManagedCertificateSchema },
      },
    },
    async (request, reply) => {
      const { name, dns = [], ips = [], keyType = 'ecdsa-p256' } = request.body;
      const issued = await managed.issue({
        name,
        dns,
        ips,
        keyType,
        durationSeconds: parseDuration(request.body.duration ?? '90d'),
        renewBeforeSeconds: parseDuration(request.body.renewBefore ?? '30d'),
      });
      reply.status(201);
      return issued;
    },
  );
  app.get(
    '/v1/managed-certificates/:name',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Show a managed certificate (without its key)',
        tags,
        params: NameParams,
        response: { 200: ManagedCertificateSchema },
      },
    },
    async (request) => managed.get(request.params.name),
  );
  app.delete(
    '/v1/managed-certificates/:name',
    {
      config: { access: 'configure' },
      schema: { summary: 'Delete a managed certificate and its key file', tags, params: NameParams },
    },
    async (request, reply) => {
      await managed.delete(request.params.name);
      return reply.status(204).send();
    },
  );
  app.post(
    '/v1/managed-certificates/:name/renew',
    {
      config: { access: 'operate' },
      schema: {
        summary: 'Renew now: a new key and serial, same names and lifetime',
        tags,
        params: NameParams,
        response: { 200: ManagedCertificateSchema },
      },
    },
    async (request) => managed.renew(request.params.name),
  );
  app.get(
    '/v1/managed-certificates/:name/export',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'Export the certificate with its private key and the site CA (admins only; audited)',
        tags,
        params: NameParams,
        response: {
          200: Type.Object({
            name: Type.String(),
            certPem: Type.String(),
            keyPem: Type.String(),
            caPem: Type.String(),
          }),
        },
      },
    },
    async (request) => {
      // A key leaving the site is a security event: record it even though this is a GET.
      request.auditEvent = 'certificate.key-exported';
      return managed.exportKey(request.params.name);
    },
  );
}
