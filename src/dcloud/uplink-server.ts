import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { WebSocket, WebSocketServer } from 'ws';
import { AppError } from '../core/errors.js';
import type { RequestRecorder } from '../core/http/access.js';
import { refuseUpgrade, verifiedPeer } from '../core/http/upgrades.js';
import type { Logger } from '../core/log.js';
import type { DcService, UplinkTransport } from './service.js';
import {
  type ControllerFrame,
  type RpcMethod,
  type SubcloudFrame,
  SYNC_ENDPOINTS,
  UPLINK_PATH,
} from './uplink-protocol.js';

const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** StarlingX's debounce: two failed checks in a row before a subcloud is declared offline. */
const MISSED_PINGS_OFFLINE = 2;

const Count = Type.Integer({ minimum: 0, maximum: 1_000_000_000 });
const AlarmCountsSchema = Type.Object({ critical: Count, major: Count, minor: Count, warning: Count });
const EndpointsSchema = Type.Partial(
  Type.Object(
    Object.fromEntries(
      SYNC_ENDPOINTS.map((endpoint) => [
        endpoint,
        Type.Object({
          revision: Type.String({ maxLength: 128 }),
          notAfter: Type.Optional(Type.String({ maxLength: 64 })),
        }),
      ]),
    ),
  ),
);
const FrameSchemas: Record<SubcloudFrame['type'], TSchema> = {
  digest: Type.Object({
    type: Type.Literal('digest'),
    softwareVersion: Type.String({ maxLength: 64 }),
    alarms: AlarmCountsSchema,
    endpoints: EndpointsSchema,
  }),
  delta: Type.Object({
    type: Type.Literal('delta'),
    alarms: Type.Optional(AlarmCountsSchema),
    endpoints: Type.Optional(EndpointsSchema),
  }),
  'rpc-result': Type.Object({
    type: Type.Literal('rpc-result'),
    id: Type.String({ maxLength: 64 }),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  }),
};

interface PendingCall {
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One subcloud's uplink: its socket, missed pings and RPCs awaiting an answer. */
interface Link {
  name: string;
  ws: WebSocket;
  missedPings: number;
  hasDigest: boolean;
  pending: Map<string, PendingCall>;
}

/**
 * The system controller's end of the subcloud uplinks: WebSocket upgrades at `/v1/dc/uplink` on the API
 * listener, accepted only with the client certificate the controller last issued to that subcloud. One
 * shared ticker pings every link (no timer per subcloud); a link that misses two pings is closed and its
 * subcloud goes offline at once. RPCs to subclouds carry ids and deadlines.
 */
export class UplinkServer implements UplinkTransport {
  private readonly links = new Map<string, Link>();
  private wss: WebSocketServer | undefined;
  private service: DcService | undefined;
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly options: { logger: Logger; audit: RequestRecorder; pingIntervalMs: number }) {}

  /** The service is created with this server as its transport, then bound here. */
  bind(service: DcService): void {
    this.service = service;
  }

  /** Starts pinging (a serving process only; in-process tests drive the service directly). */
  start(): void {
    this.ticker ??= setInterval(() => this.pingAll(), this.options.pingIntervalMs);
    this.ticker.unref();
  }

  get connectedCount(): number {
    return this.links.size;
  }

  async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const service = this.requireService();
    const source = (socket as { remoteAddress?: string }).remoteAddress ?? 'unknown';
    let name: string;
    try {
      const peer = verifiedPeer(socket);
      name = service.subcloudFor(peer.commonName, peer.fingerprint);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.record('subcloud.rejected', undefined, source, 403, reason);
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    const wss = await this.server();
    wss.handleUpgrade(request, socket, head, (ws) => {
      void this.record('subcloud.connected', name, source, 101, undefined);
      this.connected(name, ws);
    });
  }

  call(name: string, method: RpcMethod, params: unknown, deadlineMs: number): Promise<unknown> {
    const link = this.links.get(name);
    if (!link) return Promise.reject(new AppError('unavailable', `subcloud ${name} is not connected`));
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        link.pending.delete(id);
        reject(
          new AppError('unavailable', `subcloud ${name} did not answer ${method} within ${deadlineMs} ms`),
        );
      }, deadlineMs);
      timer.unref();
      link.pending.set(id, { resolve, reject, timer });
      this.send(link, { type: 'rpc', id, method, params, deadlineMs });
    });
  }

  disconnect(name: string): void {
    this.links.get(name)?.ws.close(4001, 'subcloud deleted or its certificate replaced');
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    for (const link of this.links.values()) link.ws.close(1001, 'controller shutting down');
    this.links.clear();
    this.wss?.close();
  }

  private connected(name: string, ws: WebSocket): void {
    const service = this.requireService();
    this.links.get(name)?.ws.close(4002, 'replaced by a newer connection');
    const link: Link = { name, ws, missedPings: 0, hasDigest: false, pending: new Map() };
    this.links.set(name, link);
    service.connected(name);
    ws.on('pong', () => {
      link.missedPings = 0;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? undefined : parseFrame(data);
      if (!frame) return this.send(link, { type: 'error', message: 'not a valid uplink frame' });
      if (frame.type === 'rpc-result') return this.settle(link, frame);
      if (!link.hasDigest && frame.type !== 'digest') {
        return this.send(link, { type: 'error', message: 'the first frame must be a digest' });
      }
      link.hasDigest = true;
      service.handleFrame(name, frame).then(
        (replies) => {
          for (const reply of replies) this.send(link, reply);
        },
        (error: unknown) => {
          this.options.logger.warn({ err: error, subcloud: name, frame: frame.type }, 'uplink frame refused');
          this.send(link, { type: 'error', message: error instanceof Error ? error.message : String(error) });
        },
      );
    });
    ws.on('close', () => this.closed(link, 'closed'));
    ws.on('error', (error) => this.options.logger.debug({ err: error, subcloud: name }, 'uplink error'));
  }

  private closed(link: Link, reason: 'closed' | 'ping-timeout'): void {
    for (const [id, call] of link.pending) {
      clearTimeout(call.timer);
      call.reject(new AppError('unavailable', `subcloud ${link.name} disconnected`));
      link.pending.delete(id);
    }
    if (this.links.get(link.name) !== link) return;
    this.links.delete(link.name);
    this.service?.disconnected(link.name, reason);
  }

  private pingAll(): void {
    for (const link of [...this.links.values()]) {
      if (link.missedPings >= MISSED_PINGS_OFFLINE) {
        this.closed(link, 'ping-timeout');
        link.ws.terminate();
        continue;
      }
      link.missedPings += 1;
      if (link.ws.readyState === link.ws.OPEN) link.ws.ping();
    }
  }

  private settle(link: Link, frame: Extract<SubcloudFrame, { type: 'rpc-result' }>): void {
    const call = link.pending.get(frame.id);
    if (!call) return;
    link.pending.delete(frame.id);
    clearTimeout(call.timer);
    if (frame.error)
      call.reject(new AppError('unavailable', `subcloud ${link.name}: ${frame.error.message}`));
    else call.resolve(frame.result);
  }

  private send(link: Link, frame: ControllerFrame): void {
    if (link.ws.readyState === link.ws.OPEN) link.ws.send(JSON.stringify(frame));
  }

  private requireService(): DcService {
    if (!this.service) throw new Error('UplinkServer.bind() was not called');
    return this.service;
  }

  private async server(): Promise<WebSocketServer> {
    if (!this.wss) {
      const { WebSocketServer } = await import('ws');
      this.wss ??= new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
    }
    return this.wss;
  }

  private async record(
    event: string,
    name: string | undefined,
    source: string,
    status: number,
    detail: string | undefined,
  ): Promise<void> {
    try {
      await this.options.audit({
        event,
        username: name === undefined ? undefined : `subcloud:${name}`,
        roles: [],
        source,
        method: 'GET',
        path: UPLINK_PATH,
        target: name ?? '',
        status,
        requestId: randomUUID(),
        detail,
      });
    } catch (error) {
      this.options.logger.error({ err: error }, 'could not write the security audit record');
    }
  }
}

function parseFrame(data: Buffer): SubcloudFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(FrameSchemas, type)) return undefined;
  return Value.Check(FrameSchemas[type as SubcloudFrame['type']], value)
    ? (value as SubcloudFrame)
    : undefined;
}
