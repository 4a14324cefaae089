import { Type } from '@sinclair/typebox';
import { AppError } from '../core/errors.js';
import { type HttpApp, principalOf, StringEnum } from '../core/http/routes.js';
import { ROLES } from './model.js';
import type { AuthResult, IdentityService } from './service.js';

const RoleSchema = StringEnum(ROLES);
const UserName = Type.String({ minLength: 1, maxLength: 64 });
const Password = Type.String({ minLength: 1, maxLength: 256 });

const UserView = Type.Object({
  name: Type.String(),
  roles: Type.Array(Type.String()),
  isEnabled: Type.Boolean(),
  isLocked: Type.Boolean(),
  lockedUntil: Type.Union([Type.String(), Type.Null()]),
  failedAttempts: Type.Integer(),
  passwordChangedAt: Type.String(),
  passwordExpiresAt: Type.String(),
  createdAt: Type.String(),
  isFleetWide: Type.Boolean(),
});
const UserParams = Type.Object({ name: UserName });
const strict = { additionalProperties: false } as const;

function unwrap<T>(request: { auditEvent: string | undefined }, result: AuthResult<T>): T {
  request.auditEvent = result.event;
  if ('error' in result) throw result.error;
  return result.value;
}

/** Tokens (login, logout, whoami) and users. */
export function registerIdentityRoutes(app: HttpApp, identity: IdentityService): void {
  const auth = ['auth'];
  app.post(
    '/v1/auth/tokens',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Log in: exchange a user name and password for a bearer token',
        tags: auth,
        body: Type.Object({ username: UserName, password: Password }, strict),
        response: {
          201: Type.Object({
            token: Type.String(),
            tokenId: Type.String(),
            expiresAt: Type.String(),
            user: UserView,
          }),
        },
      },
    },
    async (request, reply) => {
      request.auditUser = request.body.username;
      const issued = unwrap(request, await identity.login(request.body.username, request.body.password));
      reply.status(201);
      return { ...issued, expiresAt: issued.expiresAt.toISOString() };
    },
  );
  app.post(
    '/v1/auth/password',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Change your own password by giving the current one (works when it has expired)',
        tags: auth,
        body: Type.Object({ username: UserName, currentPassword: Password, newPassword: Password }, strict),
        response: { 200: UserView },
      },
    },
    async (request) => {
      const { username, currentPassword, newPassword } = request.body;
      request.auditUser = username;
      return unwrap(request, await identity.changeOwnPassword(username, currentPassword, newPassword));
    },
  );
  app.delete(
    '/v1/auth/tokens/current',
    {
      config: { access: 'read' },
      schema: { summary: 'Log out: revoke the token of this request', tags: auth },
    },
    async (request, reply) => {
      request.auditEvent = 'logout';
      await identity.logout(principalOf(request));
      return reply.status(204).send();
    },
  );
  app.get(
    '/v1/auth/whoami',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The caller and its token',
        tags: auth,
        response: { 200: Type.Composite([UserView, Type.Object({ tokenId: Type.String() })]) },
      },
    },
    async (request) => identity.whoami(principalOf(request)),
  );
  registerUserRoutes(app, identity);
}

function registerUserRoutes(app: HttpApp, identity: IdentityService): void {
  const tags = ['users'];
  app.get(
    '/v1/users',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'List users',
        tags,
        response: { 200: Type.Object({ items: Type.Array(UserView) }) },
      },
    },
    async () => ({ items: await identity.listUsers() }),
  );
  app.post(
    '/v1/users',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'Create a user',
        tags,
        body: Type.Object(
          {
            name: UserName,
            roles: Type.Array(RoleSchema, { minItems: 1 }),
            password: Password,
            isEnabled: Type.Optional(Type.Boolean()),
            fleetWide: Type.Optional(
              Type.Boolean({ description: 'copy the user to every managed subcloud (system controller)' }),
            ),
          },
          strict,
        ),
        response: { 201: UserView },
      },
    },
    async (request, reply) => {
      const { isEnabled, fleetWide, ...rest } = request.body;
      reply.status(201);
      return identity.createUser({
        ...rest,
        ...(isEnabled === undefined ? {} : { isEnabled }),
        ...(fleetWide === undefined ? {} : { isFleetWide: fleetWide }),
      });
    },
  );
  app.get(
    '/v1/users/:name',
    {
      config: { access: 'administer' },
      schema: { summary: 'Show a user', tags, params: UserParams, response: { 200: UserView } },
    },
    async (request) => identity.getUser(request.params.name),
  );
  app.patch(
    '/v1/users/:name',
    {
      config: { access: 'administer' },
      schema: {
        summary: 'Change roles, enable/disable a user, or mark it fleet-wide',
        tags,
        params: UserParams,
        body: Type.Object(
          {
            roles: Type.Optional(Type.Array(RoleSchema, { minItems: 1 })),
            isEnabled: Type.Optional(Type.Boolean()),
            fleetWide: Type.Optional(Type.Boolean()),
          },
          strict,
        ),
        response: { 200: UserView },
      },
    },
    async (request) => {
      const { roles, isEnabled, fleetWide } = request.body;
      if (roles === undefined && isEnabled === undefined && fleetWide === undefined) {
        throw new AppError('invalid_input', 'give "roles", "isEnabled" or "fleetWide" to change', {
          field: 'body',
        });
      }
      return identity.modifyUser(request.params.name, {
        ...(roles === undefined ? {} : { roles }),
        ...(isEnabled === undefined ? {} : { isEnabled }),
        ...(fleetWide === undefined ? {} : { isFleetWide: fleetWide }),
      });
    },
  );
  app.delete(
    '/v1/users/:name',
    { config: { access: 'administer' }, schema: { summary: 'Delete a user', tags, params: UserParams } },
    async (request, reply) => {
      await identity.deleteUser(request.params.name, principalOf(request));
      return reply.status(204).send();
    },
  );
  app.put(
    '/v1/users/:name/password',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Set a password (admins: anyone; others: their own, with the current password)',
        tags,
        params: UserParams,
        body: Type.Object({ password: Password, currentPassword: Type.Optional(Password) }, strict),
        response: { 200: UserView },
      },
    },
    async (request) => {
      const { password, currentPassword } = request.body;
      return identity.setPassword(
        request.params.name,
        currentPassword === undefined ? { password } : { password, currentPassword },
        principalOf(request),
      );
    },
  );
  app.post(
    '/v1/users/:name/unlock',
    {
      config: { access: 'administer' },
      schema: { summary: 'Unlock a locked-out user', tags, params: UserParams, response: { 200: UserView } },
    },
    async (request) => identity.unlockUser(request.params.name),
  );
}
