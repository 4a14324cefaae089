import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { API_PREFIX } from './model.js';
import type { OranNotificationService } from './service.js';
import type { OranSubscription } from './subscriptions-store.js';

interface OranNotificationServerOptions {
  service: OranNotificationService;
  logger: Logger;
}

const STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  unauthenticated: 401,
  forbidden: 403,
  password_expired: 403,
  account_locked: 403,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unavailable: 503,
  internal: 500,
};

const MAX_BODY_BYTES = 64 * 1024;
const CURRENT_STATE = '/CurrentState';

type Answer = { status: number; body?: unknown };

/**
 * The O-RAN O-Cloud Notification API v2 on its own plain-HTTP listener, apart from the site API.
 * Access: none, on purpose. O-RAN WG6 defines this API for workloads on the O-Cloud node and no
 * authentication for it; StarlingX serves it from an in-cluster sidecar the same way. Bind it to an
 * address only those workloads reach (loopback or the cluster network), never a public one.
 * Routes, all under /ocloudNotifications/v2: GET /health; POST, GET /subscriptions;
 * GET, DELETE /subscriptions/{id}; GET /publishers; GET /{ResourceAddress}/CurrentState.
 */
export class OranNotificationServer {
  private readonly server: http.Server;

  constructor(private readonly options: OranNotificationServerOptions) {
    this.server = http.createServer((request, response) => {
      void this.handle(request, response);
    });
  }

  /** Listens; resolves with the bound port. */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and ends open connections. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    let answer: Answer;
    try {
      answer = await this.route(request);
    } catch (error) {
      answer = this.answerError(error);
    }
    const body = answer.body === undefined ? '' : JSON.stringify(answer.body);
    response.statusCode = answer.status;
    if (body !== '') response.setHeader('content-type', 'application/json; charset=utf-8');
    response.end(body);
  }

  private async route(request: http.IncomingMessage): Promise<Answer> {
    const { service } = this.options;
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (!path.startsWith(`${API_PREFIX}/`)) return notFoundAnswer(path);
    const rest = path.slice(API_PREFIX.length);
    const method = request.method ?? 'GET';
    if (rest === '/health') return only(method, 'GET', () => ({ status: 200, body: { status: 'OK' } }));
    if (rest === '/publishers') {
      return only(method, 'GET', () => ({ status: 200, body: service.listPublishers().map(publisherView) }));
    }
    if (rest === '/subscriptions') {
      if (method === 'GET') {
        const subscriptions = await service.listSubscriptions();
        return { status: 200, body: subscriptions.map((s) => subscriptionView(s, request)) };
      }
      if (method !== 'POST') return methodNotAllowed(method);
      const input = (await readJson(request)) as Record<string, unknown>;
      const created = await service.subscribe({
        endpointUri: input.EndpointUri,
        resourceAddress: input.ResourceAddress,
      });
      return { status: 201, body: subscriptionView(created, request) };
    }
    const id = /^\/subscriptions\/([^/]+)$/.exec(rest)?.[1];
    if (id !== undefined) {
      const subscriptionId = decodeURIComponent(id);
      if (method === 'GET') {
        return {
          status: 200,
          body: subscriptionView(await service.getSubscription(subscriptionId), request),
        };
      }
      if (method !== 'DELETE') return methodNotAllowed(method);
      await service.deleteSubscription(subscriptionId);
      return { status: 204 };
    }
    if (rest.endsWith(CURRENT_STATE)) {
      const address = this.addressOf(rest.slice(0, -CURRENT_STATE.length));
      return only(method, 'GET', () => ({ status: 200, body: service.currentState(address) }));
    }
    return notFoundAnswer(path);
  }

  /**
   * The resource address in a CurrentState path. It may arrive percent-encoded (`%2F`), and HTTP
   * clients remove a `/./` segment, so `/./controller-0/sync/…` can arrive as `/controller-0/sync/…`.
   */
  private addressOf(encoded: string): string {
    // `/ocloudNotifications/v2/%2F.%2Fcontroller-0…` decodes to a doubled leading slash.
    const address = decodeURIComponent(encoded).replace(/^\/\//, '/');
    const segments = address.split('/');
    return segments[2] === 'sync' ? `/${this.options.service.cluster}${address}` : address;
  }

  private answerError(error: unknown): Answer {
    if (error instanceof AppError) {
      return { status: STATUS[error.code], body: { message: error.message, code: error.code } };
    }
    this.options.logger.error({ err: error }, 'O-RAN notification API request failed');
    return { status: 500, body: { message: 'internal error; see the controller log', code: 'internal' } };
  }
}

function subscriptionView(subscription: OranSubscription, request: http.IncomingMessage) {
  const host = request.headers.host ?? 'localhost';
  return {
    SubscriptionId: subscription.id,
    ResourceAddress: subscription.resourceAddress,
    EndpointUri: subscription.endpointUri,
    UriLocation: `http://${host}${API_PREFIX}/subscriptions/${subscription.id}`,
  };
}

function publisherView(publisher: { id: string; resourceAddress: string }) {
  return {
    id: publisher.id,
    ResourceAddress: publisher.resourceAddress,
    UriLocation: `${API_PREFIX}${publisher.resourceAddress}/CurrentState`,
  };
}

function only(method: string, allowed: string, run: () => Answer): Answer {
  return method === allowed ? run() : methodNotAllowed(method);
}

function methodNotAllowed(method: string): Answer {
  return { status: 405, body: { message: `method ${method} is not allowed here`, code: 'invalid_input' } };
}

function notFoundAnswer(path: string): Answer {
  return {
    status: 404,
    body: { message: `no route "${path}"; see ${API_PREFIX}/health`, code: 'not_found' },
  };
}

async function readJson(request: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new AppError('payload_too_large', `request body is over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AppError(
      'invalid_input',
      'request body is not JSON; send {"EndpointUri": …, "ResourceAddress": …}',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError(
      'invalid_input',
      'request body must be a JSON object with EndpointUri and ResourceAddress',
    );
  }
  return value;
}
