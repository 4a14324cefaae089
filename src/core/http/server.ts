import { randomUUID } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import fastJson from 'fast-json-stringify';
import {
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaValidationError,
  fastify,
  LogController,
} from 'fastify';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccessControl, RequestRecorder } from './access.js';
import { HTTP_STATUS, toAppError } from './errors.js';
import type { HttpMetrics } from './metrics.js';
import { buildOpenApi, fillRoute, type RouteInfo, renderDocsHtml } from './openapi.js';
import type { HttpApp, RouteSchema } from './routes.js';

const BODY_LIMIT = 1024 * 1024;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What the HTTP edge needs from the rest of the process. */
export interface HttpServerOptions {
  logger: Logger;
  /** With `ca`, the listener also asks for (but does not require) client certificates issued by it. */
  tls?: { key: string; cert: string; ca?: string } | undefined;
  accessControl: AccessControl;
  recordRequest: RequestRecorder;
  metrics: HttpMetrics;
  /** Readiness beyond "listening": throws `unavailable` with a reason when not ready. */
  checkReady: () => Promise<void>;
  version: string;
}

/** The HTTP server with its route table, which `routes` fills as domains register. */
export interface HttpServer {
  readonly app: HttpApp;
  readonly routes: readonly RouteInfo[];
}

// ajv-formats is CommonJS with a default export that TypeScript's nodenext view wraps once more.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** Creates the Fastify app with authentication, authorization, audit, metrics, errors and docs wired in. */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const app = fastify({
    loggerInstance: options.logger,
    // Per-request info lines would dominate the log and the CPU; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    exposeHeadRoutes: false,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    ...(options.tls
      ? {
          https: {
            ...options.tls,
            ...(options.tls.ca ? { requestCert: true, rejectUnauthorized: false } : {}),
          },
        }
      : {}),
  }) as unknown as HttpApp;

  installValidation(app);
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (access === undefined)
      throw new Error(`route ${String(route.method)} ${route.url} declares no access level`);
    for (const method of [route.method].flat()) {
      routes.push({ method, url: route.url, access, schema: route.schema as RouteSchema | undefined });
    }
  });
  app.decorateRequest('principal', undefined);
  app.decorateRequest('auditEvent', undefined);
  app.decorateRequest('auditUser', undefined);
  app.decorateRequest('auditDetail', undefined);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const access = request.routeOptions.config.access;
    if (access === 'public') return;
    await authenticate(request, options.accessControl);
    if (access !== undefined) options.accessControl.authorize(request.principal as never, access);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const status = reply.statusCode;
    const isAuthFailure =
      (status === 401 || status === 403) && request.routeOptions.config.access !== 'public';
    if (MUTATING.has(request.method) || request.auditEvent !== undefined || isAuthFailure) {
      const event = request.auditEvent ?? (status === 403 ? 'access.denied' : 'request');
      try {
        await options.recordRequest({
          event,
          username: request.principal?.username ?? request.auditUser,
          roles: request.principal?.roles ?? [],
          source: request.ip,
          method: request.method,
          path: request.url.split('?')[0] ?? request.url,
          target: targetOf(request),
          status,
          requestId: request.id,
          detail: request.auditDetail,
        });
      } catch (error) {
        request.log.error({ err: error }, 'could not write the security audit record');
      }
    }
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    options.metrics.observeRequest(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler(async (error, request, reply) => sendError(toAppError(error), error, request, reply));
  app.setNotFoundHandler(async (request, reply) => {
    await authenticate(request, options.accessControl);
    return sendError(
      new AppError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
      null,
      request,
      reply,
    );
  });

  registerPlatformRoutes(app, routes, options);
  return { app, routes };
}

async function authenticate(request: FastifyRequest, accessControl: AccessControl): Promise<void> {
  const header = request.headers.authorization;
  const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
  try {
    request.principal = await accessControl.authenticate(token);
  } catch (error) {
    if (token !== undefined && error instanceof AppError) {
      request.auditEvent = error.details.reason === 'expired' ? 'token.expired' : 'token.rejected';
    }
    throw error;
  }
}

async function sendError(error: AppError, original: unknown, request: FastifyRequest, reply: FastifyReply) {
  const status = HTTP_STATUS[error.code];
  if (status >= 500) request.log.error({ err: original ?? error }, 'request failed');
  if (error.code === 'unauthenticated') reply.header('www-authenticate', 'Bearer');
  return reply
    .status(status)
    .type('application/json')
    .send({ error: { code: error.code, message: error.message, details: error.details } });
}

/** The resource a request acted on: the route template with its parameters filled in. */
function targetOf(request: FastifyRequest): string {
  const template = request.routeOptions.url;
  if (!template) return '';
  const params = (request.params ?? {}) as Record<string, string>;
  return fillRoute(template.replace(/^\/v1\//, ''), (name) => params[name] ?? name);
}

function installValidation(app: HttpApp): void {
  // Bodies are validated strictly (no type coercion, unknown fields rejected by the schemas);
  // query strings and path parameters arrive as text and are coerced to the declared types.
  // Validators and serializers are compiled on first use: compiling every route at start-up
  // was the largest part of the cold start, and most routes of an edge site are rarely called.
  let strict: Ajv | undefined;
  let coercing: Ajv | undefined;
  const ajvFor = (httpPart: string | undefined): Ajv => {
    if (httpPart === 'body') {
      strict ??= makeAjv(false);
      return strict;
    }
    coercing ??= makeAjv('array');
    return coercing;
  };
  app.setValidatorCompiler(({ schema, httpPart }) => {
    let validate: ValidateFunction | undefined;
    const lazy = (data: unknown) => {
      validate ??= ajvFor(httpPart).compile(schema as object);
      // A request without a body is checked as an empty object: fine where every field is optional
      // (POST …/lock), and a "missing required property" error naming the field everywhere else.
      const isValid = validate(data == null && httpPart === 'body' ? {} : data);
      lazy.errors = (validate.errors ?? null) as FastifySchemaValidationError[] | null;
      return isValid;
    };
    lazy.errors = null as FastifySchemaValidationError[] | null;
    return lazy;
  });
  app.setSerializerCompiler(({ schema }) => {
    let serialize: ((data: unknown) => string) | undefined;
    return (data: unknown) => {
      serialize ??= fastJson(schema as Parameters<typeof fastJson>[0]);
      return serialize(data);
    };
  });
}

function makeAjv(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false });
  addFormats(ajv);
  return ajv;
}

function registerPlatformRoutes(
  app: HttpApp,
  routes: readonly RouteInfo[],
  options: HttpServerOptions,
): void {
  app.get(
    '/healthz',
    { config: { access: 'public' }, schema: { summary: 'liveness', tags: ['platform'] } },
    async () => ({
      status: 'ok',
    }),
  );
  app.get(
    '/readyz',
    { config: { access: 'public' }, schema: { summary: 'readiness', tags: ['platform'] } },
    async () => {
      await options.checkReady();
      return { status: 'ready' };
    },
  );
  app.get(
    '/metrics',
    { config: { access: 'read' }, schema: { summary: 'Prometheus metrics', tags: ['platform'] } },
    async (_request, reply) => {
      reply.type(options.metrics.registry.contentType);
      return options.metrics.registry.metrics();
    },
  );
  let openApi: Record<string, unknown> | undefined;
  const document = () => {
    openApi ??= buildOpenApi(routes, { title: 'Murmuration', version: options.version });
    return openApi;
  };
  app.get(
    '/openapi.json',
    { config: { access: 'read' }, schema: { summary: 'OpenAPI 3.1 document', tags: ['platform'] } },
    async () => document(),
  );
  app.get(
    '/docs',
    { config: { access: 'read' }, schema: { summary: 'API documentation', tags: ['platform'] } },
    async (_r, reply) => reply.type('text/html; charset=utf-8').send(renderDocsHtml(document())),
  );
}
