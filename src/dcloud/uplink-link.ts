import { randomUUID } from 'node:crypto';
import { type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { WebSocket } from 'ws';
import { AppError } from '../core/errors.js';
import type { RequestRecorder } from '../core/http/access.js';
import type { Logger } from '../core/log.js';
import type { DcService } from './service.js';
import {
  type ControllerFrame,
  type RpcMethod,
  type SubcloudFrame,
  SYNC_ENDPOINTS,
  UPLINK_PATH,
} from './uplink-protocol.js';

/**
 * The per-connection work of a subcloud uplink, shared by the in-process UplinkServer and the uplink
 * worker processes: frame validation, the missed-ping rule, the digest-first rule, RPC correlation and
 * the audit records of accepted and refused uplinks.
 */

export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** StarlingX's debounce: two failed checks in a row before a subcloud is declared offline. */
const MISSED_PINGS_OFFLINE = 2;

export type CloseReason = 'closed' | 'ping-timeout';
/** A frame that changes the subcloud's state (the owner of the state handles it). */
export type StateFrame = Exclude<SubcloudFrame, { type: 'rpc-result' }>;
export type RpcResultFrame = Extract<SubcloudFrame, { type: 'rpc-result' }>;

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

/** What a link reports to whoever owns it. */
export interface UplinkLinkHooks {
  /** A valid digest or delta; the first frame of a link is always a digest. */
  onFrame(frame: StateFrame): void;
  onResult(frame: RpcResultFrame): void;
  /** Once, when the connection ends. */
  onClosed(reason: CloseReason): void;
}

/**
 * One subcloud's open uplink: validates what it sends and counts missed pings. The owner calls tick()
 * from one shared ticker (no timer per subcloud); two unanswered pings end the link as `ping-timeout`.
 */
export class UplinkLink {
  private missedPings = 0;
  private hasDigest = false;
  private isEnded = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly hooks: UplinkLinkHooks,
  ) {
    ws.on('pong', () => {
      this.missedPings = 0;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    ws.on('close', () => this.end('closed'));
    // 'close' follows every error; the error itself says nothing the owner acts on.
    ws.on('error', () => undefined);
  }

  send(frame: ControllerFrame): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  /** One beat of the shared ping ticker. */
  tick(): void {
    if (this.missedPings >= MISSED_PINGS_OFFLINE) {
      this.end('ping-timeout');
      this.ws.terminate();
      return;
    }
    this.missedPings += 1;
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  private receive(data: Buffer, isBinary: boolean): void {
    const frame = isBinary ? undefined : parseFrame(data);
    if (!frame) {
      this.send({ type: 'error', message: 'not a valid uplink frame' });
    } else if (frame.type === 'rpc-result') {
      this.hooks.onResult(frame);
    } else if (!this.hasDigest && frame.type !== 'digest') {
      this.send({ type: 'error', message: 'the first frame must be a digest' });
    } else {
      this.hasDigest = true;
      this.hooks.onFrame(frame);
    }
  }

  private end(reason: CloseReason): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.hooks.onClosed(reason);
  }
}

interface PendingCall {
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** The RPCs of one link awaiting their answer, each with its deadline. */
export class PendingCalls {
  private readonly pending = new Map<string, PendingCall>();

  constructor(private readonly name: string) {}

  /** Sends an rpc frame; rejects `unavailable` on deadline, disconnect or an error answer. */
  call(
    request: { method: RpcMethod; params: unknown; deadlineMs: number },
    send: (frame: ControllerFrame) => void,
  ): Promise<unknown> {
    const { method, params, deadlineMs } = request;
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new AppError(
            'unavailable',
            `subcloud ${this.name} did not answer ${method} within ${deadlineMs} ms`,
          ),
        );
      }, deadlineMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      send({ type: 'rpc', id, method, params, deadlineMs });
    });
  }

  settle(frame: RpcResultFrame): void {
    const call = this.pending.get(frame.id);
    if (!call) return;
    this.pending.delete(frame.id);
    clearTimeout(call.timer);
    if (frame.error)
      call.reject(new AppError('unavailable', `subcloud ${this.name}: ${frame.error.message}`));
    else call.resolve(frame.result);
  }

  rejectAll(): void {
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(new AppError('unavailable', `subcloud ${this.name} disconnected`));
      this.pending.delete(id);
    }
  }
}

/** Hands a state frame to the service and sends its replies (or an error frame) back on the link. */
export function answerFrame(
  context: { service: DcService; logger: Logger; name: string },
  frame: StateFrame,
  send: (frame: ControllerFrame) => void,
): void {
  const { service, logger, name } = context;
  service.handleFrame(name, frame).then(
    (replies) => {
      for (const reply of replies) send(reply);
    },
    (error: unknown) => {
      logger.warn({ err: error, subcloud: name, frame: frame.type }, 'uplink frame refused');
      send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    },
  );
}

/** Writes the security audit record of an accepted (101) or refused (403) uplink; never throws. */
export async function recordUplink(
  context: { audit: RequestRecorder; logger: Logger },
  outcome: { event: string; name: string | undefined; source: string; status: number; detail?: string },
): Promise<void> {
  const { event, name, source, status, detail } = outcome;
  try {
    await context.audit({
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
    context.logger.error({ err: error }, 'could not write the security audit record');
  }
}

/** A valid subcloud frame, or undefined. */
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
