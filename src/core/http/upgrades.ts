import { createHash } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';

/** Handles one WebSocket upgrade request on its path. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;

/**
 * Routes HTTP upgrade requests of the API listener by path (the agent channel, the subcloud uplink).
 * Fastify does not see upgrades; each handler authenticates its peer itself (client certificates).
 */
export class UpgradeRouter {
  private readonly handlers = new Map<string, UpgradeHandler>();

  constructor(private readonly logger: Logger) {}

  route(path: string, handler: UpgradeHandler): void {
    this.handlers.set(path, handler);
  }

  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const handler = this.handlers.get((request.url ?? '').split('?')[0] ?? '');
      if (!handler) return refuseUpgrade(socket, 404, 'Not Found');
      handler(request, socket, head).catch((error: unknown) => {
        this.logger.error({ err: error, url: request.url }, 'upgrade failed');
        socket.destroy();
      });
    });
  }
}

/** Answers an upgrade request with a plain HTTP status and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * The client certificate of a TLS connection, verified against the listener's CA bundle: its common
 * name and SHA-256 fingerprint (lowercase hex). Throws `unauthenticated` without a verified certificate.
 */
export function verifiedPeer(socket: Duplex): { commonName: string; fingerprint: string } {
  const tlsSocket = socket as TLSSocket;
  if (typeof tlsSocket.getPeerCertificate !== 'function') {
    throw new AppError('unauthenticated', 'this endpoint needs TLS with a client certificate');
  }
  const peer = tlsSocket.getPeerCertificate();
  if (!peer?.raw) throw new AppError('unauthenticated', 'no client certificate');
  if (!tlsSocket.authorized) {
    throw new AppError(
      'unauthenticated',
      `client certificate not issued by the site CA (${tlsSocket.authorizationError})`,
    );
  }
  const commonName = [peer.subject?.CN ?? ''].flat()[0] ?? '';
  return { commonName, fingerprint: createHash('sha256').update(peer.raw).digest('hex') };
}
