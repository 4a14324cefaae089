import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../core/log.js';
import { FDO_ERROR } from '../errors.js';
import { FDO_BODY_LIMIT } from './model.js';
import type { FdoReply, RendezvousProtocol } from './protocol.js';

const PATH = /^\/fdo\/(\d{1,3})\/msg\/(\d{1,3})$/;
const PROTOCOL_VERSION = '101';
const SWEEP_INTERVAL_MS = 10_000;
const MAX_CONNECTIONS = 20_000;

/** A running FDO listener. */
export interface FdoListener {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The device- and owner-facing FDO endpoint, on a plain node:http server of its own: devices reach it
 * from outside and authenticate with the protocol itself, so the API's token and TLS rules do not apply.
 * `POST /fdo/101/msg/<type>` with an `application/cbor` body of at most 64 KiB and an explicit
 * Content-Length; `GET /health` for load balancers. Everything else about FDO is in RendezvousProtocol.
 */
export async function startFdoListener(options: {
  protocol: RendezvousProtocol;
  host: string;
  port: number;
  logger: Logger;
}): Promise<FdoListener> {
  const { protocol, logger } = options;
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (request, response) => {
    handleRequest(protocol, request, response).catch((error: unknown) => {
      logger.error({ err: error }, 'fdo listener failed a request');
      if (!response.headersSent) response.writeHead(500, { 'content-length': 0 }).end();
      else response.destroy();
    });
  });
  // Slow senders must not hold sockets open: the whole request has this long to arrive.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // Devices keep connections alive between messages; bound them so idle sockets cannot exhaust descriptors.
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const sweeper = setInterval(() => protocol.sweep(), SWEEP_INTERVAL_MS);
  sweeper.unref();
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${port}`;
  logger.info({ url }, 'fdo rendezvous listening');
  return {
    url,
    async close() {
      clearInterval(sweeper);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

async function handleRequest(
  protocol: RendezvousProtocol,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const source = request.socket.remoteAddress ?? 'unknown';
  const url = request.url ?? '';
  if (url === '/health' && request.method === 'GET') {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 }).end('ok\n');
    return;
  }
  const match = PATH.exec(url);
  if (!match) {
    response.writeHead(404, { 'content-length': 0 }).end();
    return;
  }
  if (request.method !== 'POST') {
    response.writeHead(405, { allow: 'POST', 'content-length': 0 }).end();
    return;
  }
  const type = Number(match[2]);
  const refuse = (detail: string) => {
    // The body was not read: close rather than parse a stream we are no longer in step with.
    response.shouldKeepAlive = false;
    send(response, protocol.reject(FDO_ERROR.MESSAGE_BODY_ERROR, type, detail, source));
  };
  if (match[1] !== PROTOCOL_VERSION) return refuse(`protocol version ${match[1]} is not served`);
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/cbor')
    return refuse(`content type "${mediaType ?? ''}" is not application/cbor`);
  const declared = request.headers['content-length'];
  if (declared === undefined || request.headers['transfer-encoding'] !== undefined) {
    return refuse('Content-Length is required');
  }
  const length = Number(declared);
  if (length > FDO_BODY_LIMIT) return refuse(`body of ${length} bytes exceeds ${FDO_BODY_LIMIT}`);
  const body = await readBody(request, length);
  if (!body) return refuse('body shorter than its Content-Length');
  const authorization = request.headers.authorization;
  send(response, await protocol.handle(type, body, authorization, source));
}

/** Reads exactly `length` bytes (Node enforces Content-Length); undefined when the peer stops early. */
function readBody(request: http.IncomingMessage, length: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const body = new Uint8Array(length);
    let offset = 0;
    request.on('data', (chunk: Buffer) => {
      if (offset + chunk.length > length) {
        request.destroy();
        return resolve(undefined);
      }
      body.set(chunk, offset);
      offset += chunk.length;
    });
    request.on('end', () => resolve(offset === length ? body : undefined));
    request.on('aborted', () => resolve(undefined));
    request.on('error', reject);
  });
}

function send(response: http.ServerResponse, reply: FdoReply): void {
  const headers: Record<string, string | number> = { 'content-length': reply.body.length };
  if (reply.type !== undefined) {
    headers['content-type'] = 'application/cbor';
    headers['message-type'] = reply.type;
  }
  if (reply.token !== undefined) headers.authorization = `Bearer ${reply.token}`;
  response.writeHead(reply.status, headers).end(reply.body);
}
