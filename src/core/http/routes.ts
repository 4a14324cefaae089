import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type TSchema, Type } from '@sinclair/typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import { AppError } from '../errors.js';
import type { Access, Principal } from './access.js';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    tags?: string[];
  }
  interface FastifyContextConfig {
    /** Every route declares what it needs; the server refuses to start with a route that does not. */
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
    /** Set by handlers to name an authentication event (login.success, logout, …) in the audit log. */
    auditEvent: string | undefined;
    /** The user an unauthenticated request acted for (the login name tried). */
    auditUser: string | undefined;
    auditDetail: string | undefined;
  }
}

/** The Fastify instance type every domain's routes register on. */
export type HttpApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The schema parts a route may declare; the OpenAPI document is built from them. */
export interface RouteSchema {
  summary?: string;
  tags?: string[];
  body?: TSchema;
  querystring?: TSchema;
  params?: TSchema;
  response?: Record<number, TSchema>;
}

/** The caller of an authenticated route; a route without a principal is a wiring bug. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('unauthenticated', 'this request carries no valid token');
  return request.principal;
}

/** A string schema limited to the given values, typed as their union. */
export function StringEnum<T extends string>(values: readonly T[], options: { description?: string } = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

/** A page of a list: the items and an opaque cursor for the next page (absent on the last). */
export function Page<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), next: Type.Optional(Type.String()) });
}

/** Query parameters every paged list accepts. */
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  next: Type.Optional(Type.String({ maxLength: 200 })),
};
