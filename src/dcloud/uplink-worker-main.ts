import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { refuseUpgrade, verifiedPeer } from '../core/http/upgrades.js';
import { createLogger, type LogLevel } from '../core/log.js';
import { type CloseReason, MAX_FRAME_BYTES, UplinkLink } from './uplink-link.js';
import { UPLINK_PATH } from './uplink-protocol.js';
import {
  IpcOutbox,
  type PrimaryMessage,
  UPLINK_SESSION_ID_CONTEXT,
  UPLINK_SESSION_TIMEOUT_S,
  type UplinkTls,
  type WorkerInit,
  type WorkerMessage,
} from './uplink-workers.js';

/** One connection of this worker: before the primary accepted it, then with its link. */
interface Connection {
  socket: Duplex;
  /** Kept only until the primary answers: the upgrade needs them once. */
  request?: IncomingMessage | undefined;
  head?: Buffer | undefined;
  link?: UplinkLink;
  isEnded: boolean;
}

/**
 * `murm uplink-worker` (hidden; forked by WorkerUplinkTransport through node:cluster): terminates
 * subcloud uplinks on the shared uplink listener. The TLS handshake, the WebSocket, pings and frame
 * validation run here; the primary authorizes each certificate and owns all state. Only what changes
 * state crosses IPC: accepted/closed links, valid digest/delta frames and RPC results.
 */
export async function runUplinkWorker(): Promise<void> {
  const outbox = new IpcOutbox<WorkerMessage>((batch) => {
    if (process.connected) process.send?.(batch);
  });
  // Messages may come before the listener is up (a renewed certificate): queue them until then.
  const queued: PrimaryMessage[] = [];
  let handle: ((message: PrimaryMessage) => void) | undefined;
  let resolveInit: (init: WorkerInit) => void = () => undefined;
  const initialized = new Promise<WorkerInit>((resolve) => {
    resolveInit = resolve;
  });
  process.on('message', (batch: PrimaryMessage[]) => {
    for (const message of batch) {
      if (message.t === 'init') resolveInit(message.init);
      else if (handle) handle(message);
      else queued.push(message);
    }
  });
  // The primary is gone: its subclouds reconnect to the next one.
  process.on('disconnect', () => process.exit(0));
  outbox.push({ t: 'hello' });
  const init = await initialized;
  const logger = createLogger(init.logLevel as LogLevel).child({ component: 'uplink-worker' });
  const connections = new Map<number, Connection>();
  let nextId = 1;
  const { WebSocketServer } = await import('ws');
  const wss: WebSocketServer = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    clientTracking: false,
  });
  const server = https.createServer({
    ...tlsOptions(init.tls, init.ticketKeys),
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on('request', (_request, response) => {
    response
      .writeHead(404, { 'content-type': 'text/plain' })
      .end(`this listener serves ${UPLINK_PATH} only\n`);
  });

  const end = (id: number, reason: CloseReason) => {
    const connection = connections.get(id);
    if (!connection || connection.isEnded) return;
    connection.isEnded = true;
    connections.delete(id);
    outbox.push({ t: 'closed', link: id, reason });
  };
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((request.url ?? '').split('?')[0] !== UPLINK_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    const source = (socket as { remoteAddress?: string }).remoteAddress ?? 'unknown';
    let peer: { commonName: string; fingerprint: string };
    try {
      peer = verifiedPeer(socket);
    } catch (error) {
      outbox.push({ t: 'refused', source, detail: (error as Error).message });
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    const id = nextId++;
    connections.set(id, { socket, request, head, isEnded: false });
    socket.once('close', () => end(id, 'closed'));
    outbox.push({ t: 'auth', link: id, ...peer, source });
  });

  const accept = (id: number) => {
    const connection = connections.get(id);
    if (!connection || connection.socket.destroyed || !connection.request || !connection.head) return;
    const { request, head } = connection;
    connection.request = undefined;
    connection.head = undefined;
    wss.handleUpgrade(request, connection.socket, head, (ws) => {
      connection.link = new UplinkLink(ws, {
        onFrame: (frame) => outbox.push({ t: 'frame', link: id, frame }),
        onResult: (frame) => outbox.push({ t: 'frame', link: id, frame }),
        onClosed: (reason) => end(id, reason),
      });
    });
  };
  const refuse = (id: number) => {
    const connection = connections.get(id);
    if (!connection) return;
    // Refused before it was ever accepted: the primary forgot it already.
    connection.isEnded = true;
    connections.delete(id);
    refuseUpgrade(connection.socket, 403, 'Forbidden');
  };
  handle = (message: PrimaryMessage) => {
    switch (message.t) {
      case 'accept':
        return accept(message.link);
      case 'refuse':
        return refuse(message.link);
      case 'send':
        return connections.get(message.link)?.link?.send(message.frame);
      case 'close': {
        const connection = connections.get(message.link);
        if (connection?.link) connection.link.close(message.code, message.reason);
        else connection?.socket.destroy();
        return;
      }
      case 'tls':
        return server.setSecureContext(tlsOptions(message.tls, init.ticketKeys));
      case 'stop':
        for (const connection of connections.values()) {
          connection.link?.close(1001, 'controller shutting down');
        }
        server.close();
        setTimeout(() => process.exit(0), 500).unref();
        return;
      case 'init':
        return;
    }
  };
  for (const message of queued.splice(0)) handle(message);

  const ticker = setInterval(() => {
    for (const connection of [...connections.values()]) connection.link?.tick();
  }, init.pingIntervalMs);
  ticker.unref();
  server.on('error', (error) => {
    outbox.push({ t: 'failed', message: error.message });
    setTimeout(() => process.exit(1), 100);
  });
  server.listen(init.listen.port, init.listen.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : init.listen.port;
    logger.debug({ port }, 'uplink worker listening');
    outbox.push({ t: 'ready', port });
  });
}

/**
 * Forward-secret AEAD suites only; TLS 1.2 leaves Node's default list wider than an uplink needs (ECDSA
 * for the site PKI's keys, RSA for a managed server certificate).
 */
const UPLINK_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * One ticket key shared by every worker (and kept across restarts by the primary), so a subcloud resumes
 * its TLS session on whichever worker takes its next connection; a fixed session id context, since
 * OpenSSL refuses resumption with client certificates without one.
 *
 * TLS 1.2 at most, for memory: measured with 3,000 idle mutual-TLS WebSockets on Node 20 / OpenSSL 3.0,
 * a TLS 1.3 connection keeps about 17 KB more native memory for its whole life than a TLS 1.2 one, from
 * the server's first write on (with SSL_OP_NO_TICKET the difference vanishes, so it comes with TLS 1.3's
 * post-handshake tickets; tickets are what make reconnect storms cheap, so they stay). At 10,000 uplinks
 * a worker that is 170 MB a worker. The cost: in TLS 1.2 the subcloud's certificate crosses in the clear
 * during the handshake (its name is visible on the wire; authentication and secrecy are unchanged).
 */
function tlsOptions(tls: UplinkTls, ticketKeys: string) {
  return {
    key: tls.key,
    cert: tls.cert,
    ca: tls.ca,
    maxVersion: 'TLSv1.2' as const,
    ciphers: UPLINK_TLS12_CIPHERS,
    ticketKeys: Buffer.from(ticketKeys, 'base64'),
    sessionIdContext: UPLINK_SESSION_ID_CONTEXT,
    sessionTimeout: UPLINK_SESSION_TIMEOUT_S,
  };
}
