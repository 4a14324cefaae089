import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { WebSocket, WebSocketServer } from 'ws';
import type { RequestRecorder } from '../core/http/access.js';
import { refuseUpgrade, verifiedPeer } from '../core/http/upgrades.js';
import type { Logger } from '../core/log.js';
import {
  AGENT_CHANNEL_PATH,
  type AgentFrame,
  type ControllerFrame,
  type RenderedFile,
} from './agent-protocol.js';
import type { HostListener, InventoryService } from './service.js';

const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const Int = Type.Integer({ minimum: 0 });
const OptionalNumber = Type.Optional(Type.Number());
const OptionalString = Type.Optional(Type.String({ maxLength: 1024 }));
const InventorySchema = Type.Object({
  cpuModel: OptionalString,
  cpus: Type.Array(
    Type.Object({
      cpu: Int,
      package: Int,
      core: Int,
      thread: Int,
      numaNode: Int,
      siblings: Type.Array(Int, { maxItems: 64 }),
    }),
    { maxItems: 16_384 },
  ),
  numaNodes: Type.Array(
    Type.Object({ node: Int, cpus: Type.Array(Int, { maxItems: 16_384 }), memoryKiB: OptionalNumber }),
    { maxItems: 1024 },
  ),
  memory: Type.Object({ totalKiB: OptionalNumber, availableKiB: OptionalNumber }),
  network: Type.Array(
    Type.Object({
      name: Type.String({ maxLength: 64 }),
      mac: OptionalString,
      mtu: OptionalNumber,
      speedMbps: OptionalNumber,
      driver: OptionalString,
    }),
    { maxItems: 4096 },
  ),
  problems: Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 1000 }),
});
const Revision = Type.Union([Type.String({ maxLength: 128 }), Type.Null()]);
const FrameSchemas: Record<AgentFrame['type'], TSchema> = {
  hello: Type.Object({
    type: Type.Literal('hello'),
    agentVersion: Type.String({ maxLength: 64 }),
    appliedRevision: Revision,
    inventory: InventorySchema,
  }),
  heartbeat: Type.Object({ type: Type.Literal('heartbeat'), appliedRevision: Revision }),
  inventory: Type.Object({ type: Type.Literal('inventory'), inventory: InventorySchema }),
  applied: Type.Object({
    type: Type.Literal('applied'),
    revision: Type.String({ maxLength: 128 }),
    error: Type.Optional(Type.String({ maxLength: 4096 })),
  }),
};

/**
 * The controller's end of the host-agent channel: WebSocket upgrades on the API listener at
 * `/v1/agent/channel`, accepted only with a client certificate the site CA issued to an enrolled host
 * (mutual TLS; the listener requests but does not require client certificates, so operators' clients
 * are unaffected). One connection per host; a newer one replaces the older.
 */
export class AgentChannelServer implements HostListener {
  private readonly sockets = new Map<string, WebSocket>();
  private wss: WebSocketServer | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly inventory: InventoryService,
    private readonly logger: Logger,
    private readonly audit: RequestRecorder,
  ) {
    this.unsubscribe = inventory.subscribe(this);
  }

  configChanged(hostname: string, revision: string, files: RenderedFile[]): void {
    this.send(hostname, { type: 'config', revision, files });
  }

  removed(hostname: string): void {
    this.sockets.get(hostname)?.close(4001, 'host deleted or enrolled again');
    this.sockets.delete(hostname);
  }

  /** Closes every agent connection (agents reconnect to the next controller process). */
  close(): void {
    this.unsubscribe();
    for (const socket of this.sockets.values()) socket.close(1001, 'controller shutting down');
    this.sockets.clear();
    this.wss?.close();
  }

  /** Handles an upgrade request for the agent channel (routed here by the API listener's UpgradeRouter). */
  async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const source = (socket as { remoteAddress?: string }).remoteAddress ?? 'unknown';
    let hostname: string;
    try {
      const peer = verifiedPeer(socket);
      hostname = this.inventory.agentFor(peer.commonName, peer.fingerprint);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.record('agent.rejected', undefined, source, 403, reason);
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    const wss = await this.server();
    wss.handleUpgrade(request, socket, head, (ws) => {
      void this.record('agent.connected', hostname, source, 101, undefined);
      this.connected(hostname, ws);
    });
  }

  private connected(hostname: string, ws: WebSocket): void {
    this.sockets.get(hostname)?.close(4002, 'replaced by a newer connection');
    this.sockets.set(hostname, ws);
    let hasHello = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? undefined : parseFrame(data);
      if (!frame) return this.sendTo(ws, { type: 'error', message: 'not a valid agent frame' });
      if (!hasHello && frame.type !== 'hello') {
        return this.sendTo(ws, { type: 'error', message: 'the first frame must be hello' });
      }
      hasHello = true;
      this.inventory.handleAgentFrame(hostname, frame).then(
        (replies) => {
          for (const reply of replies) this.sendTo(ws, reply as ControllerFrame);
        },
        (error: unknown) => {
          this.logger.warn({ err: error, hostname, frame: frame.type }, 'agent frame refused');
          this.sendTo(ws, { type: 'error', message: error instanceof Error ? error.message : String(error) });
        },
      );
    });
    ws.on('close', () => {
      if (this.sockets.get(hostname) === ws) this.sockets.delete(hostname);
    });
    ws.on('error', (error) => this.logger.warn({ err: error, hostname }, 'agent channel error'));
  }

  private send(hostname: string, frame: ControllerFrame): void {
    const ws = this.sockets.get(hostname);
    if (ws) this.sendTo(ws, frame);
  }

  private sendTo(ws: WebSocket, frame: ControllerFrame): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
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
    hostname: string | undefined,
    source: string,
    status: number,
    detail: string | undefined,
  ) {
    try {
      await this.audit({
        event,
        username: hostname === undefined ? undefined : `agent:${hostname}`,
        roles: [],
        source,
        method: 'GET',
        path: AGENT_CHANNEL_PATH,
        target: hostname ?? '',
        status,
        requestId: randomUUID(),
        detail,
      });
    } catch (error) {
      this.logger.error({ err: error }, 'could not write the security audit record');
    }
  }
}

function parseFrame(data: Buffer): AgentFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(FrameSchemas, type)) return undefined;
  const schema = FrameSchemas[type as AgentFrame['type']];
  return Value.Check(schema, value) ? (value as AgentFrame) : undefined;
}
