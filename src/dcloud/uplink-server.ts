import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { AppError } from '../core/errors.js';
import type { RequestRecorder } from '../core/http/access.js';
import { refuseUpgrade, verifiedPeer } from '../core/http/upgrades.js';
import type { Logger } from '../core/log.js';
import type { DcService, UplinkTransport } from './service.js';
import { answerFrame, MAX_FRAME_BYTES, PendingCalls, recordUplink, UplinkLink } from './uplink-link.js';
import type { RpcMethod } from './uplink-protocol.js';

/** One subcloud's uplink and the RPCs awaiting its answer. */
interface Link {
  name: string;
  link: UplinkLink;
  calls: PendingCalls;
}

/**
 * The system controller's end of the subcloud uplinks: WebSocket upgrades at `/v1/dc/uplink` on the API
 * listener, accepted only with the client certificate the controller last issued to that subcloud. One
 * shared ticker pings every link (no timer per subcloud); a link that misses two pings is closed and its
 * subcloud goes offline at once. RPCs to subclouds carry ids and deadlines. With uplink worker
 * processes (`MURM_UPLINK_WORKERS`), WorkerUplinkTransport takes this role instead.
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
    this.ticker ??= setInterval(() => {
      for (const { link } of [...this.links.values()]) link.tick();
    }, this.options.pingIntervalMs);
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
      const detail = error instanceof Error ? error.message : String(error);
      await recordUplink(this.options, {
        event: 'subcloud.rejected',
        name: undefined,
        source,
        status: 403,
        detail,
      });
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    const wss = await this.server();
    wss.handleUpgrade(request, socket, head, (ws) => {
      void recordUplink(this.options, { event: 'subcloud.connected', name, source, status: 101 });
      this.links.get(name)?.link.close(4002, 'replaced by a newer connection');
      const entry: Link = {
        name,
        calls: new PendingCalls(name),
        link: new UplinkLink(ws, {
          onFrame: (frame) =>
            answerFrame({ service, logger: this.options.logger, name }, frame, (reply) =>
              entry.link.send(reply),
            ),
          onResult: (frame) => entry.calls.settle(frame),
          onClosed: (reason) => this.closed(entry, reason),
        }),
      };
      this.links.set(name, entry);
      service.connected(name);
    });
  }

  call(name: string, method: RpcMethod, params: unknown, deadlineMs: number): Promise<unknown> {
    const entry = this.links.get(name);
    if (!entry) return Promise.reject(new AppError('unavailable', `subcloud ${name} is not connected`));
    return entry.calls.call({ method, params, deadlineMs }, (frame) => entry.link.send(frame));
  }

  disconnect(name: string): void {
    this.links.get(name)?.link.close(4001, 'subcloud deleted or its certificate replaced');
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    for (const { link } of this.links.values()) link.close(1001, 'controller shutting down');
    this.links.clear();
    this.wss?.close();
  }

  private closed(entry: Link, reason: 'closed' | 'ping-timeout'): void {
    entry.calls.rejectAll();
    if (this.links.get(entry.name) !== entry) return;
    this.links.delete(entry.name);
    this.service?.disconnected(entry.name, reason);
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
}
