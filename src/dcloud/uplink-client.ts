import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { type RawData, WebSocket } from 'ws';
import { reconnectDelayMs } from '../agent/backoff.js';
import { AppError } from '../core/errors.js';
import { parseJsonFrame } from '../core/json-frames.js';
import type { Logger } from '../core/log.js';
import {
  createUplinkKey,
  installUplinkCertificate,
  readPendingKey,
  readUplinkIdentity,
  type StoredLink,
  storePendingKey,
} from './join.js';
import { type SyncTarget, syncRevision } from './sync.js';
import {
  type AlarmCounts,
  type ControllerFrame,
  type EndpointDigest,
  type SubcloudFrame,
  type SyncEndpoint,
  UPLINK_PATH,
} from './uplink-protocol.js';

export interface UplinkClientOptions {
  /** Data directory of the site; the uplink identity lives in `<dataDir>/dc/`. */
  dataDir: string;
  logger: Logger;
  targets: readonly SyncTarget[];
  alarmCounts(): AlarmCounts;
  /** Calls `listener` after the site's alarm counts may have changed; returns the unsubscribe function. */
  onAlarmChange(listener: () => void): () => void;
  softwareVersion: string;
  random?: (() => number) | undefined;
  maxBackoffMs?: number | undefined;
}

type UplinkState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface UplinkStatus {
  state: UplinkState;
  controller: string;
  name: string;
  connectedSince?: string;
  lastError?: string;
  reconnects: number;
}

type RpcFrame = Extract<ControllerFrame, { type: 'rpc' }>;
type Endpoints = Partial<Record<SyncEndpoint, EndpointDigest>>;

const DEFAULT_MAX_BACKOFF_MS = 60_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;
/** Without a welcome this long after the digest, the connection is treated as dead. */
const WELCOME_TIMEOUT_MS = 30_000;
const MISSED_PINGS = 3;
/** Close code of the controller when the subcloud was deleted or its certificate replaced. */
const CLOSE_CERTIFICATE_REFUSED = 4001;
const MIN_PING_INTERVAL_MS = 10;
/** Alarm and endpoint changes within this window travel as one delta; the latest values win. */
const DELTA_COALESCE_MS = 100;
/** Alerts or answers of the controller when it refuses our client certificate. */
const REJECTED_CERTIFICATE =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REVOKED|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|ACCESS_DENIED)|Unexpected server response: 40[13]/;

/**
 * The subcloud's end of the uplink. Lifecycle:
 * - `connecting`: identity read from disk, TLS + WebSocket handshake, digest sent on open.
 * - `connected`: welcome received; deltas flow, RPCs are answered, the ping watchdog runs.
 * - `disconnected`: the connection closed or failed; a reconnect is scheduled with jittered backoff.
 * - `stopped`: stop() was called; nothing reconnects any more.
 * Nothing in the site waits on the uplink: change listeners only mark what to send.
 */
export class UplinkClient {
  private state: UplinkState = 'disconnected';
  private link: StoredLink = { name: '', controller: '' };
  private socket: WebSocket | undefined;
  /** The connection whose digest went out; deltas are sent only on it. */
  private digestSentOn: WebSocket | undefined;
  private attempt = 0;
  private reconnects = 0;
  private connectedSince: string | undefined;
  private lastError: string | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private deltaTimer: NodeJS.Timeout | undefined;
  private watchdogMs = WELCOME_TIMEOUT_MS;
  private isAlarmsDirty = false;
  private readonly dirtyEndpoints = new Set<SyncEndpoint>();
  private readonly sent: { alarms?: string; endpoints: Map<SyncEndpoint, string> } = { endpoints: new Map() };
  /** Deltas go out one after the other, so an older one never overtakes a newer one. */
  private flushing: Promise<void> = Promise.resolve();
  private pendingKeyPem: string | undefined;
  /** The last TLS session ticket, for the certificate it was made with: a reconnect resumes it. */
  private tlsSession: { certificatePem: string; ticket: Buffer } | undefined;
  private unsubscribers: (() => void)[] = [];
  private readonly logger: Logger;

  constructor(private readonly options: UplinkClientOptions) {
    this.logger = options.logger;
  }

  /** Reads the stored link and starts connecting in the background; throws `precondition_failed` when not joined. */
  async start(): Promise<void> {
    assert.ok(
      this.state === 'disconnected' && this.unsubscribers.length === 0,
      'the uplink client starts once',
    );
    this.link = (await readUplinkIdentity(this.options.dataDir)).link;
    this.unsubscribers = [
      this.options.onAlarmChange(() => this.markDirty('alarms')),
      ...this.options.targets.map((target) => target.onChange(() => this.markDirty(target.endpoint))),
    ];
    void this.connect();
  }

  status(): UplinkStatus {
    return {
      state: this.state,
      controller: this.link.controller,
      name: this.link.name,
      ...(this.connectedSince === undefined ? {} : { connectedSince: this.connectedSince }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      reconnects: this.reconnects,
    };
  }

  /** Closes the uplink and stops every timer; no reconnect follows. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.connectedSince = undefined;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.watchdogTimer);
    clearTimeout(this.deltaTimer);
    if (this.socket !== undefined) await closeSocket(this.socket, 1000, 'subcloud stopping');
    await this.flushing;
    this.logger.info('uplink stopped');
  }

  private async connect(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    let identity: Awaited<ReturnType<typeof readUplinkIdentity>>;
    try {
      identity = await readUplinkIdentity(this.options.dataDir);
    } catch (error) {
      this.lastError = (error as Error).message;
      this.logger.error({ err: error }, 'cannot read the uplink identity');
      this.scheduleReconnect(0, this.lastError);
      return;
    }
    if (this.state !== 'connecting') return;
    this.link = identity.link;
    this.watchdogMs = WELCOME_TIMEOUT_MS;
    const url = new URL(UPLINK_PATH, identity.link.uplink ?? identity.link.controller);
    url.protocol = 'wss:';
    const socket = new WebSocket(url.href, {
      ca: identity.caPem,
      key: identity.keyPem,
      cert: identity.certificatePem,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      perMessageDeflate: false,
      // Resuming skips the full mutual-TLS handshake: a restarted controller takes everyone back sooner.
      // A session made with an older certificate would present that one, so it is not reused.
      ...(this.tlsSession?.certificatePem === identity.certificatePem
        ? { session: this.tlsSession.ticket }
        : {}),
      createConnection: (options: object) => {
        const connection = tls.connect(options as tls.ConnectionOptions);
        connection.on('session', (ticket: Buffer) => {
          this.tlsSession = { certificatePem: identity.certificatePem, ticket };
        });
        return connection;
      },
    });
    this.socket = socket;
    socket.on('open', () => void this.sendDigest(socket, notAfterOf(identity.certificatePem)));
    socket.on('message', (data, isBinary) => this.receive(socket, data, isBinary));
    socket.on('ping', () => this.armWatchdog(socket));
    socket.on('error', (error) => this.onError(error));
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString()));
  }

  private async sendDigest(socket: WebSocket, certificateNotAfter: string | undefined): Promise<void> {
    this.armWatchdog(socket, WELCOME_TIMEOUT_MS);
    // Everything dirty so far is in this digest; changes from now on are flushed after it.
    this.isAlarmsDirty = false;
    this.dirtyEndpoints.clear();
    let endpoints: Endpoints;
    try {
      endpoints = await this.endpointDigests(this.options.targets);
    } catch (error) {
      this.logger.error({ err: error }, 'cannot compute the digest; reconnecting');
      socket.terminate();
      return;
    }
    endpoints['dc-cert'] = { revision: '', notAfter: certificateNotAfter };
    const alarms = this.options.alarmCounts();
    if (
      !this.send(socket, { type: 'digest', softwareVersion: this.options.softwareVersion, alarms, endpoints })
    )
      return;
    this.digestSentOn = socket;
    this.rememberSent(alarms, endpoints);
    if (this.isAlarmsDirty || this.dirtyEndpoints.size > 0) this.scheduleDelta();
  }

  private markDirty(what: 'alarms' | SyncEndpoint): void {
    if (what === 'alarms') this.isAlarmsDirty = true;
    else this.dirtyEndpoints.add(what);
    if (this.digestSentOn !== undefined && this.digestSentOn === this.socket) this.scheduleDelta();
  }

  private scheduleDelta(): void {
    if (this.deltaTimer !== undefined || this.state === 'stopped') return;
    this.deltaTimer = setTimeout(() => {
      this.deltaTimer = undefined;
      this.flushing = this.flushing
        .then(() => this.flushDelta())
        .catch((error: unknown) => this.logger.error({ err: error }, 'sending a delta failed'));
    }, DELTA_COALESCE_MS);
  }

  private async flushDelta(): Promise<void> {
    const socket = this.digestSentOn;
    if (socket === undefined || socket !== this.socket) return;
    const isAlarmsDirty = this.isAlarmsDirty;
    const targets = this.options.targets.filter((target) => this.dirtyEndpoints.has(target.endpoint));
    this.isAlarmsDirty = false;
    this.dirtyEndpoints.clear();
    let endpoints: Endpoints;
    try {
      endpoints = await this.endpointDigests(targets);
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot read a sync endpoint for a delta; the next digest carries it');
      return;
    }
    for (const [endpoint, digest] of Object.entries(endpoints) as [SyncEndpoint, EndpointDigest][]) {
      if (this.sent.endpoints.get(endpoint) === digest.revision) delete endpoints[endpoint];
    }
    const counts = isAlarmsDirty ? this.options.alarmCounts() : undefined;
    const alarms = counts !== undefined && JSON.stringify(counts) !== this.sent.alarms ? counts : undefined;
    if (alarms === undefined && Object.keys(endpoints).length === 0) return;
    const frame: SubcloudFrame = {
      type: 'delta',
      ...(alarms === undefined ? {} : { alarms }),
      ...(Object.keys(endpoints).length === 0 ? {} : { endpoints }),
    };
    if (this.send(socket, frame)) this.rememberSent(alarms, endpoints);
  }

  private async endpointDigests(targets: readonly SyncTarget[]): Promise<Endpoints> {
    const revisions = await Promise.all(targets.map(async (target) => syncRevision(await target.current())));
    const endpoints: Endpoints = {};
    targets.forEach((target, index) => {
      endpoints[target.endpoint] = { revision: revisions[index] ?? '' };
    });
    return endpoints;
  }

  private rememberSent(alarms: AlarmCounts | undefined, endpoints: Endpoints): void {
    if (alarms !== undefined) this.sent.alarms = JSON.stringify(alarms);
    for (const [endpoint, digest] of Object.entries(endpoints) as [SyncEndpoint, EndpointDigest][]) {
      this.sent.endpoints.set(endpoint, digest.revision);
    }
  }

  private receive(socket: WebSocket, data: RawData, isBinary: boolean): void {
    // A closing connection still delivers frames; once stopped, none may revive the state.
    if (this.state === 'stopped' || socket !== this.socket) return;
    const frame = parseJsonFrame<ControllerFrame>(data, isBinary);
    if (frame === undefined) {
      this.logger.warn('ignoring a frame from the system controller that is not a JSON object with a type');
      return;
    }
    switch (frame.type) {
      case 'welcome':
        this.onWelcome(socket, frame);
        return;
      case 'rpc':
        void this.answerRpc(socket, frame);
        return;
      case 'error':
        this.logger.warn({ message: frame.message }, 'the system controller refused a frame');
        return;
      default:
        this.logger.warn({ type: (frame as { type: string }).type }, 'ignoring a frame of unknown type');
    }
  }

  private onWelcome(socket: WebSocket, frame: Extract<ControllerFrame, { type: 'welcome' }>): void {
    this.state = 'connected';
    this.attempt = 0;
    this.connectedSince = new Date().toISOString();
    this.lastError = undefined;
    const pingIntervalMs = Number.isFinite(frame.pingIntervalMs)
      ? Math.max(frame.pingIntervalMs, MIN_PING_INTERVAL_MS)
      : undefined;
    this.watchdogMs = pingIntervalMs === undefined ? WELCOME_TIMEOUT_MS : pingIntervalMs * MISSED_PINGS;
    this.armWatchdog(socket);
    if (frame.name !== this.link.name) {
      this.logger.warn(
        { expected: this.link.name, got: frame.name },
        'the system controller knows this subcloud by another name',
      );
    }
    this.logger.info(
      { controller: this.link.controller, name: frame.name, managed: frame.managed },
      'uplink connected',
    );
  }

  /** A connection that stays silent past the watchdog is dead even if TCP has not noticed: drop it. */
  private armWatchdog(socket: WebSocket, timeoutMs = this.watchdogMs): void {
    if (socket !== this.socket) return;
    clearTimeout(this.watchdogTimer);
    this.watchdogTimer = setTimeout(() => {
      this.lastError = `no ping from the system controller within ${timeoutMs} ms`;
      this.logger.warn({ controller: this.link.controller, timeoutMs }, 'uplink silent; reconnecting');
      socket.terminate();
    }, timeoutMs);
  }

  private async answerRpc(socket: WebSocket, frame: RpcFrame): Promise<void> {
    const { id, method } = frame;
    if (typeof id !== 'string') {
      this.logger.warn({ method }, 'ignoring an rpc frame without id');
      return;
    }
    const deadlineMs =
      Number.isFinite(frame.deadlineMs) && frame.deadlineMs > 0 ? frame.deadlineMs : undefined;
    let isAnswered = false;
    const answer = (body: { result: unknown } | { error: { code: string; message: string } }) => {
      if (isAnswered) return;
      isAnswered = true;
      clearTimeout(timer);
      this.send(socket, { type: 'rpc-result', id, ...body });
    };
    // Answer at the deadline: the controller gave up by then, and late work must not read as success.
    const timer =
      deadlineMs === undefined
        ? undefined
        : setTimeout(
            () =>
              answer({
                error: {
                  code: 'unavailable',
                  message: `"${method}" did not finish within its deadline of ${deadlineMs} ms`,
                },
              }),
            deadlineMs,
          );
    try {
      const result = await this.runRpc(frame);
      if (isAnswered) this.logger.warn({ id, method }, 'an rpc finished after its deadline');
      answer({ result });
    } catch (error) {
      const code = error instanceof AppError ? error.code : 'internal';
      if (!(error instanceof AppError)) this.logger.error({ err: error, id, method }, 'rpc failed');
      answer({ error: { code, message: error instanceof Error ? error.message : String(error) } });
      return;
    }
    if (method === 'dc-cert.install') {
      // The controller accepts only the newest certificate: present it on a fresh connection now.
      this.attempt = 0;
      this.logger.info('uplink certificate renewed; reconnecting with it');
      await closeSocket(socket, 1000, 'certificate renewed');
    }
  }

  private async runRpc(frame: RpcFrame): Promise<unknown> {
    const params = (typeof frame.params === 'object' && frame.params !== null ? frame.params : {}) as Record<
      string,
      unknown
    >;
    switch (frame.method) {
      case 'sync.apply': {
        const target = this.options.targets.find((candidate) => candidate.endpoint === params.endpoint);
        if (target === undefined) {
          throw new AppError(
            'not_found',
            `sync endpoint "${String(params.endpoint)}" is not served by this subcloud`,
          );
        }
        if (!Array.isArray(params.resources))
          throw new AppError('invalid_input', 'sync.apply needs resources as an array');
        await target.apply(params.resources);
        return { revision: syncRevision(await target.current()) };
      }
      case 'dc-cert.renew': {
        const { keyPem, csrPem } = await createUplinkKey(this.link.name);
        await storePendingKey(this.options.dataDir, keyPem);
        this.pendingKeyPem = keyPem;
        return { csr: csrPem };
      }
      case 'dc-cert.install': {
        if (typeof params.certificate !== 'string')
          throw new AppError('invalid_input', 'dc-cert.install needs a certificate');
        const pendingKeyPem = this.pendingKeyPem ?? (await readPendingKey(this.options.dataDir));
        if (pendingKeyPem === undefined) {
          throw new AppError(
            'precondition_failed',
            'no renewal is under way on this subcloud; call dc-cert.renew first',
          );
        }
        await installUplinkCertificate(this.options.dataDir, params.certificate, pendingKeyPem);
        this.pendingKeyPem = undefined;
        return {};
      }
      default:
        throw new AppError('invalid_input', `unknown rpc method "${String(frame.method)}"`);
    }
  }

  private onError(error: Error & { code?: string }): void {
    if (this.state === 'stopped') return;
    this.lastError = error.message;
    const detail = { controller: this.link.controller, code: error.code, reason: error.message };
    if (REJECTED_CERTIFICATE.test(`${error.code ?? ''} ${error.message}`)) {
      this.lastError = `the system controller refused the uplink certificate (${error.message})`;
      this.logger.error(
        detail,
        "the system controller refused this subcloud's uplink certificate: the subcloud may have been removed from it or its certificate replaced; join again with a new bundle from `murm subcloud add`",
      );
    } else {
      this.logger.warn(detail, 'uplink to the system controller failed');
    }
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.digestSentOn = undefined;
    this.connectedSince = undefined;
    clearTimeout(this.watchdogTimer);
    if (this.state === 'stopped') return;
    if (code === CLOSE_CERTIFICATE_REFUSED) {
      this.lastError = `the system controller closed the uplink: ${reason}`;
      this.logger.error(
        { controller: this.link.controller, code, reason },
        'the system controller no longer accepts this subcloud',
      );
    }
    this.scheduleReconnect(code, reason);
  }

  private scheduleReconnect(code: number, reason: string): void {
    if (this.state === 'stopped') return;
    this.state = 'disconnected';
    const capMs = this.options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    const delayMs = reconnectDelayMs(this.attempt, this.options.random ?? Math.random, { capMs });
    this.attempt += 1;
    this.logger.info({ code, reason, delayMs, attempt: this.attempt }, 'uplink closed; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnects += 1;
      void this.connect();
    }, delayMs);
  }

  private send(socket: WebSocket, frame: SubcloudFrame): boolean {
    if (socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }
}

function notAfterOf(certificatePem: string): string | undefined {
  try {
    return new Date(new X509Certificate(certificatePem).validTo).toISOString();
  } catch {
    return undefined;
  }
}

/** Closes with a close frame, or abandons the socket if the controller does not answer in time. */
function closeSocket(socket: WebSocket, code: number, reason: string): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS);
    if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
    else socket.close(code, reason);
  });
}
