import type { Access } from './access.js';
import type { RouteSchema } from './routes.js';

/**
 * Fills a route template's parameters (`:name`) using `fill`; `::` is Fastify's escape for a literal
 * colon (as in `/v1/alarms::batch`) and becomes `:`.
 */
export function fillRoute(template: string, fill: (name: string) => string): string {
  return template
    .replaceAll('::', '\u0000')
    .replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => fill(name))
    .replaceAll('\u0000', ':');
}

/** What the OpenAPI builder needs to know of a route. */
export interface RouteInfo {
  method: string;
  url: string;
  access: Access;
  schema: RouteSchema | undefined;
}

type JsonObject = Record<string, unknown>;

/** Builds an OpenAPI 3.1 document from the route table (TypeBox schemas are JSON Schema 2020-12). */
export function buildOpenApi(
  routes: readonly RouteInfo[],
  info: { title: string; version: string },
): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    const openPath = fillRoute(route.url, (name) => `{${name}}`);
    const schema = route.schema ?? {};
    const operation: JsonObject = {
      operationId: `${route.method.toLowerCase()}${openPath.replace(/[^A-Za-z0-9]+/g, '_')}`,
      summary: schema.summary ?? '',
      tags: schema.tags ?? [],
      'x-permission': route.access,
      security: route.access === 'public' ? [] : [{ bearer: [] }],
      parameters: [...parameters(schema.params, 'path'), ...parameters(schema.querystring, 'query')],
      responses: responses(schema.response),
    };
    if (schema.body) {
      operation.requestBody = { required: true, content: { 'application/json': { schema: schema.body } } };
    }
    paths[openPath] = { ...paths[openPath], [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'token from POST /v1/auth/tokens' },
      },
    },
  };
}

function parameters(schema: unknown, where: 'path' | 'query'): JsonObject[] {
  const object = schema as { properties?: Record<string, unknown>; required?: string[] } | undefined;
  if (!object?.properties) return [];
  return Object.entries(object.properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }));
}

function responses(schema: Record<string, unknown> | undefined): JsonObject {
  const out: JsonObject = {};
  for (const [status, body] of Object.entries(schema ?? {})) {
    out[status] = { description: `${status} response`, content: { 'application/json': { schema: body } } };
  }
  out.default = { description: 'error: {"error":{"code","message","details"}}' };
  return out;
}

/** A small self-contained HTML page that lists every operation of an OpenAPI document. */
export function renderDocsHtml(doc: JsonObject): string {
  const info = doc.info as { title: string; version: string };
  const rows: string[] = [];
  for (const [openPath, methods] of Object.entries(doc.paths as Record<string, JsonObject>)) {
    for (const [method, op] of Object.entries(methods as Record<string, JsonObject>)) {
      const body = (op.requestBody as { content: { 'application/json': { schema: unknown } } } | undefined)
        ?.content['application/json'].schema;
      rows.push(
        `<section><h3><code>${method.toUpperCase()} ${escapeHtml(openPath)}</code></h3>` +
          `<p>${escapeHtml(String(op.summary))} — requires <b>${escapeHtml(String(op['x-permission']))}</b></p>` +
          (body
            ? `<details><summary>request body</summary><pre>${escapeHtml(JSON.stringify(body, null, 2))}</pre></details>`
            : '') +
          '</section>',
      );
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)} API</title>
<style>body{font:15px system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}code{font-size:1rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}section{border-top:1px solid #ddd}</style>
</head><body><h1>${escapeHtml(info.title)} API ${escapeHtml(info.version)}</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> from <code>POST /v1/auth/tokens</code>.
Errors are <code>{"error":{"code","message","details"}}</code>.</p>${rows.join('\n')}</body></html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}
