import { Type } from '@sinclair/typebox';
import { type HttpApp, StringEnum } from '../core/http/routes.js';
import { CA_ROTATION_PHASES } from './ca-rotation.js';
import type { CaRotation } from './ca-rotation-service.js';

const CaViewSchema = Type.Object({
  phase: StringEnum(CA_ROTATION_PHASES),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
  roots: Type.Array(
    Type.Object({
      subject: Type.String(),
      fingerprint256: Type.String(),
      notBefore: Type.String(),
      notAfter: Type.String(),
      isSigning: Type.Boolean(),
    }),
  ),
});

/** The site root CA: its trusted roots and the rotation to a new root. */
export function registerCaRotationRoutes(app: HttpApp, rotation: CaRotation): void {
  const tags = ['pki'];
  app.get(
    '/v1/pki/ca',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The site root CA rotation phase and the roots in the trusted bundle',
        tags,
        response: { 200: CaViewSchema },
      },
    },
    async () => rotation.show(),
  );
  app.post(
    '/v1/pki/rotate-ca',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'Rotate the site root CA: every remaining phase, or only the one given as ?phase=',
        tags,
        querystring: Type.Object(
          { phase: Type.Optional(StringEnum(CA_ROTATION_PHASES)) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Composite([
            CaViewSchema,
            Type.Object({ completed: Type.Array(StringEnum(CA_ROTATION_PHASES)) }),
          ]),
        },
      },
    },
    async (request) => {
      const { phase } = request.query;
      const completed = phase === undefined ? await rotation.rotate() : [await rotation.step(phase)];
      return { ...(await rotation.show()), completed };
    },
  );
}
