import { Type } from '@sinclair/typebox';
import { AppError } from '../core/errors.js';
import { type HttpApp, PageQuery, StringEnum } from '../core/http/routes.js';
import { SEVERITIES } from '../fault/model.js';
import { parseDuration } from './model.js';
import type { CertificateMonitor, SourceSettings } from './monitor.js';

const STATES = ['ok', 'expiring', 'expired'] as const;

const SettingsSchema = Type.Object({
  isAlarmEnabled: Type.Optional(Type.Boolean()),
  alarmBeforeSeconds: Type.Optional(Type.Integer()),
  severity: Type.Optional(StringEnum(SEVERITIES)),
  textPrefix: Type.Optional(Type.String()),
});

/** Alarm settings as a client gives them (durations as text). */
const SettingsInput = Type.Object(
  {
    isAlarmEnabled: Type.Optional(Type.Boolean()),
    alarmBefore: Type.Optional(Type.String({ maxLength: 32, description: 'e.g. 30d, 12h, 1w2d' })),
    severity: Type.Optional(StringEnum(SEVERITIES)),
    textPrefix: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);

function toSourceSettings(given: {
  isAlarmEnabled?: boolean;
  alarmBefore?: string;
  severity?: SourceSettings['severity'];
  textPrefix?: string;
}): SourceSettings {
  const settings: SourceSettings = {};
  if (given.isAlarmEnabled !== undefined) settings.isAlarmEnabled = given.isAlarmEnabled;
  if (given.alarmBefore !== undefined) settings.alarmBeforeSeconds = parseDuration(given.alarmBefore);
  if (given.severity !== undefined) settings.severity = given.severity;
  if (given.textPrefix !== undefined) settings.textPrefix = given.textPrefix;
  return settings;
}

const SourceSchema = Type.Object({
  id: Type.String(),
  kind: StringEnum(['path', 'endpoint', 'platform'] as const),
  target: Type.String(),
  settings: SettingsSchema,
  status: StringEnum(['pending', 'ok', 'error'] as const),
  error: Type.Union([Type.String(), Type.Null()]),
  lastCheckedAt: Type.Union([Type.String(), Type.Null()]),
  certificateCount: Type.Integer(),
});

const CertificateSchema = Type.Object({
  fingerprint: Type.String(),
  subject: Type.String(),
  issuer: Type.String(),
  sans: Type.Array(Type.String()),
  serial: Type.String(),
  notBefore: Type.String(),
  notAfter: Type.String(),
  keyType: Type.String(),
  isCa: Type.Boolean(),
  location: Type.String(),
  sourceId: Type.String(),
  sourceKind: Type.String(),
  state: StringEnum(STATES),
  alarmId: Type.Union([Type.String(), Type.Null()]),
});

/** Certificates seen by the monitor and the sources it watches. */
export function registerCertificateRoutes(app: HttpApp, monitor: CertificateMonitor): void {
  const tags = ['certificates'];
  app.get(
    '/v1/certificates',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Certificates seen in every watched source, soonest expiry first',
        tags,
        querystring: Type.Object(
          {
            expiringWithin: Type.Optional(Type.Integer({ minimum: 0, description: 'seconds from now' })),
            state: Type.Optional(StringEnum(STATES)),
            source: Type.Optional(Type.String({ maxLength: 64 })),
            ...PageQuery,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(CertificateSchema), next: Type.Optional(Type.String()) }),
        },
      },
    },
    async (request) => {
      const { expiringWithin, state, source, limit = 100, next } = request.query;
      const all = monitor.listCertificates({
        expiringWithinSeconds: expiringWithin,
        state,
        sourceId: source,
      });
      const offset = next === undefined ? 0 : Number(Buffer.from(next, 'base64url').toString());
      if (!Number.isInteger(offset) || offset < 0) {
        throw new AppError('invalid_input', 'query parameter "next" is not a cursor this server gave out', {
          field: 'next',
        });
      }
      const items = all.slice(offset, offset + limit);
      const end = offset + items.length;
      return end < all.length ? { items, next: Buffer.from(String(end)).toString('base64url') } : { items };
    },
  );
  app.get(
    '/v1/certificates/:fingerprint',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Show a certificate',
        tags,
        params: Type.Object({ fingerprint: Type.String({ maxLength: 64 }) }),
        response: { 200: CertificateSchema },
      },
    },
    async (request) => {
      const found = monitor
        .listCertificates({})
        .find((c) => c.fingerprint === request.params.fingerprint.toLowerCase());
      if (!found) throw new AppError('not_found', `certificate "${request.params.fingerprint}" not found`);
      return found;
    },
  );
  app.patch(
    '/v1/certificates/:fingerprint',
    {
      config: { access: 'configure' },
      schema: {
        summary: "Set this certificate's alarm settings over its source's ({} removes them)",
        tags,
        params: Type.Object({ fingerprint: Type.String({ maxLength: 64 }) }),
        body: Type.Object({ settings: SettingsInput }, { additionalProperties: false }),
        response: { 200: CertificateSchema },
      },
    },
    async (request) =>
      monitor.setCertificateSettings(request.params.fingerprint, toSourceSettings(request.body.settings)),
  );
  app.get(
    '/v1/certificate-sources',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Watched certificate sources and their status',
        tags,
        response: { 200: Type.Object({ items: Type.Array(SourceSchema) }) },
      },
    },
    async () => ({ items: monitor.listSources() }),
  );
  app.post(
    '/v1/certificate-sources',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Watch a path (file, directory or glob) or a TLS endpoint host:port',
        tags,
        body: Type.Object(
          {
            kind: StringEnum(['path', 'endpoint'] as const),
            target: Type.String({ minLength: 1, maxLength: 4096 }),
            settings: Type.Optional(SettingsInput),
          },
          { additionalProperties: false },
        ),
        response: { 201: SourceSchema },
      },
    },
    async (request, reply) => {
      const settings = toSourceSettings(request.body.settings ?? {});
      const source = await monitor.addSource({
        kind: request.body.kind,
        target: request.body.target,
        settings,
      });
      reply.status(201);
      return source;
    },
  );
  app.delete(
    '/v1/certificate-sources/:id',
    {
      config: { access: 'configure' },
      schema: {
        summary: 'Stop watching a source and clear its alarms',
        tags,
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      },
    },
    async (request, reply) => {
      await monitor.removeSource(request.params.id);
      return reply.status(204).send();
    },
  );
  app.post(
    '/v1/certificate-sources::audit',
    {
      config: { access: 'operate' },
      schema: {
        summary: 'Re-evaluate every source now',
        tags,
        response: {
          200: Type.Object({
            sources: Type.Integer(),
            certificates: Type.Integer(),
            expiring: Type.Integer(),
            expired: Type.Integer(),
            errors: Type.Integer(),
          }),
        },
      },
    },
    async () => monitor.audit(),
  );
}
