import { type KeyObject, randomUUID, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { WebSocket, WebSocketServer } from 'ws';
import { AppError } from '../core/errors.js';
import type { RequestRecorder } from '../core/http/access.js';
import { HTTP_STATUS } from '../core/http/errors.js';
import { refuseUpgrade, verifiedPeer } from '../core/http/upgrades.js';
import type { Logger } from '../core/log.js';
import {
  AGENT_CHANNEL_PATH,
  type AgentFrame,
  type ControllerFrame,
  type MonitorDirective,
  type RenderedFile,
} from './agent-protocol.js';
import type { HostListener, InventoryService } from './service.js';

const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const MAX_CSR_CHARS = 16 * 1024;
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
const LinuxptpVersion = Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()]));
const Timestamp = Type.String({ maxLength: 64 });
const PtpStatusSchema = Type.Object({
  state: Type.Union([Type.Literal('LOCKED'), Type.Literal('HOLDOVER'), Type.Literal('FREERUN')]),
  since: Timestamp,
  observedAt: Timestamp,
  isRunning: Type.Boolean(),
  source: Type.Union([Type.Literal('ptp'), Type.Literal('local'), Type.Literal('none')]),
  clockClass: Type.Integer({ minimum: 0, maximum: 255 }),
  offsetNs: OptionalNumber,
  gmIdentity: Type.Optional(Type.String({ maxLength: 64 })),
  ports: Type.Optional(
    Type.Array(Type.Object({ portNumber: Int, portState: Type.String({ maxLength: 32 }) }), {
      maxItems: 256,
    }),
  ),
  alarms: Type.Array(
    Type.Object({
      alarmId: Type.Literal('100.119'),
      entityTypeId: Type.Literal('host'),
      entityInstanceId: Type.String({ maxLength: 512 }),
      severity: Type.Union(['critical', 'major', 'minor', 'warning'].map((value) => Type.Literal(value))),
      reasonText: Type.String({ maxLength: 1024 }),
    }),
    { maxItems: 16 },
  ),
});
const FrameSchemas: Record<AgentFrame['type'], TSchema> = {
  hello: Type.Object({
    type: Type.Literal('hello'),
    agentVersion: Type.String({ maxLength: 64 }),
    appliedRevision: Revision,
    inventory: InventorySchema,
    linuxptpVersion: LinuxptpVersion,
  }),
  heartbeat: Type.Object({ type: Type.Literal('heartbeat'), appliedRevision: Revision }),
  inventory: Type.Object({
    type: Type.Literal('inventory'),
    inventory: InventorySchema,
    linuxptpVersion: LinuxptpVersion,
  }),
  applied: Type.Object({
    type: Type.Literal('applied'),
    revision: Type.String({ maxLength: 128 }),
    error: Type.Optional(Type.String({ maxLength: 4096 })),
  }),
  'ptp-status': Type.Object({
    type: Type.Literal('ptp-status'),
    instance: Type.String({ maxLength: 64 }),
    status: PtpStatusSchema,
  }),
  'certificate-request': Type.Object({
    type: Type.Literal('certificate-request'),
    csr: Type.String({ minLength: 1, maxLength: MAX_CSR_CHARS }),
  }),
};

/** The verified client certificate of one channel: what a renewal must prove it replaces. */
interface ChannelPeer {
  hostname: string;
  fingerprint: string;
  publicKey: KeyObject;
  source: string;
}

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

  configChanged(
    hostname: string,
    revision: string,
    files: RenderedFile[],
    monitors?: MonitorDirective[] | undefined,
  ): void {
    this.send(hostname, { type: 'config', revision, files, ...(monitors ? { monitors } : {}) });
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
    let channelPeer: ChannelPeer;
    try {
      const peer = verifiedPeer(socket);
      const hostname = this.inventory.agentFor(peer.commonName, peer.fingerprint);
      const { raw } = (socket as TLSSocket).getPeerCertificate();
      channelPeer = {
        hostname,
        fingerprint: peer.fingerprint,
        publicKey: new X509Certificate(raw).publicKey,
        source,
      };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.record('agent.rejected', undefined, source, 403, reason);
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    const wss = await this.server();
    const { hostname } = channelPeer;
    wss.handleUpgrade(request, socket, head, (ws) => {
      void this.record('agent.connected', hostname, source, 101, undefined);
      this.connected(channelPeer, ws);
    });
  }

  private connected(peer: ChannelPeer, ws: WebSocket): void {
    const { hostname } = peer;
    this.sockets.get(hostname)?.close(4002, 'replaced by a newer connection');
    this.sockets.set(hostname, ws);
    let hasHello = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? undefined : parseFrame(data);
      if (!frame) return this.sendTo(ws, invalidFrameError(data, isBinary));
      if (!hasHello && frame.type !== 'hello') {
        return this.sendTo(ws, { type: 'error', message: 'the first frame must be hello' });
      }
      hasHello = true;
      // Only the channel knows the certificate the agent proved; the inventory's handlers never see it.
      if (frame.type === 'certificate-request') return void this.renew(peer, ws, frame.csr);
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

  /** Issues the renewed certificate and audits the outcome like any mutating call. */
  private async renew(peer: ChannelPeer, ws: WebSocket, csr: string): Promise<void> {
    const { hostname, source } = peer;
    try {
      const renewed = await this.inventory.renewAgentCertificate(hostname, peer, csr);
      await this.record(
        'agent.certificate-renewed',
        hostname,
        source,
        200,
        `notAfter=${renewed.notAfter}`,
        'POST',
      );
      this.sendTo(ws, { type: 'certificate', certificate: renewed.certificate, caBundle: renewed.caBundle });
    } catch (error) {
      const code = error instanceof AppError ? error.code : 'internal';
      const message =
        error instanceof AppError
          ? error.message
          : 'the controller could not issue a certificate; see its log';
      if (code === 'internal')
        this.logger.error({ err: error, hostname }, 'agent certificate renewal failed');
      else this.logger.warn({ hostname, reason: message }, 'agent certificate renewal refused');
      await this.record('agent.certificate-renewed', hostname, source, HTTP_STATUS[code], message, 'POST');
      this.sendTo(ws, { type: 'error', message, refused: 'certificate-request' });
    }
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
    method = 'GET',
  ) {
    try {
      await this.audit({
        event,
        username: hostname === undefined ? undefined : `agent:${hostname}`,
        roles: [],
        source,
        method,
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

/** The answer to a frame that failed validation; a bad certificate-request says so, for the waiting agent. */
function invalidFrameError(data: Buffer, isBinary: boolean): ControllerFrame {
  if (!isBinary && jsonType(data) === 'certificate-request') {
    return {
      type: 'error',
      message: `certificate-request needs "csr": a PEM PKCS#10 request of at most ${MAX_CSR_CHARS} characters`,
      refused: 'certificate-request',
    };
  }
  return { type: 'error', message: 'not a valid agent frame' };
}

function jsonType(data: Buffer): unknown {
  try {
    return (JSON.parse(data.toString('utf8')) as { type?: unknown } | null)?.type;
  } catch {
    return undefined;
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
