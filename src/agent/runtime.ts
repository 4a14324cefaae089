import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RawData, WebSocket } from 'ws';
import { parseJsonFrame } from '../core/json-frames.js';
import type { Logger } from '../core/log.js';
import {
  AGENT_CHANNEL_PATH,
  type AgentFrame,
  type ControllerFrame,
  type MonitorDirective,
  type RenderedFile,
} from '../inventory/agent-protocol.js';
import type { AssignedCpu, HostInventory } from '../inventory/topology.js';
import { applyRenderedFiles, readAppliedRevision } from './apply.js';
import { reconnectDelayMs } from './backoff.js';
import { CertificateRenewal, type CertificateRenewalSettings } from './cert-renewal.js';
import type { DevicePluginHandle } from './device-plugin/plugin.js';
import { type DiscoveryPaths, discoverInventory } from './discover.js';
import { type EnrollTransport, ensureEnrolled } from './enroll.js';
import { detectLinuxptpVersion, findLinuxptpProgram } from './ptp-linuxptp.js';
import { type PtpMonitorSettings, PtpMonitors } from './ptp-monitors.js';

export interface AgentOptions {
  /** Controller base URL, `https://HOST:PORT`. */
  controller: string;
  /** Site CA that signed the controller's server certificate. */
  caFile: string;
  /** One-time enrollment token from `murm host add`; needed only on the first start. */
  token?: string | undefined;
  /** How the token is spent; default `POST /v1/agent/enroll` on `controller`. */
  enroll?: EnrollTransport | undefined;
  /** Directory the rendered files are written under (`/` on a real host). */
  root: string;
  /** Key, certificate and applied-revision record; default `<root>/var/lib/murm-agent`. */
  stateDir?: string | undefined;
  discovery?: Partial<DiscoveryPaths> | undefined;
  rediscoverIntervalMs?: number | undefined;
  /** Kubelet device-plugin directory; when set, the isolcpus device plugin serves the isolated CPUs. */
  devicePluginDir?: string | undefined;
  /** Holdover, tolerances and poll interval of the ptp4l monitors (StarlingX defaults when unset). */
  ptp?: PtpMonitorSettings | undefined;
  logger: Logger;
  random?: (() => number) | undefined;
  /** When and how the client certificate is renewed over the channel (defaults: docs/operations.md). */
  certificateRenewal?: CertificateRenewalSettings | undefined;
}

export interface AgentHandle {
  readonly hostname: string;
  /** Resolves once `revision` has been applied (at once if it already is); for tests and tooling. */
  whenApplied(revision: string): Promise<void>;
  /** Closes the channel and stops every timer; no reconnect follows. */
  stop(): Promise<void>;
}

/**
 * Lifecycle of the channel:
 * - `connecting`: TLS + WebSocket handshake under way, hello sent on open.
 * - `connected`: welcome received; heartbeats run.
 * - `waiting`: the connection closed or failed; a reconnect is scheduled with jittered backoff.
 * - `stopping` → `stopped`: stop() was called; nothing reconnects any more.
 */
type AgentState = 'connecting' | 'connected' | 'waiting' | 'stopping' | 'stopped';

const DEFAULT_REDISCOVER_INTERVAL_MS = 60_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;
const MIN_HEARTBEAT_INTERVAL_MS = 50;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000;
const CPU_FUNCTIONS_FILE = 'etc/murm/cpu-functions.json';
/** Alerts the controller's TLS stack sends when it refuses our client certificate. */
const REJECTED_CERTIFICATE =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REVOKED|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|ACCESS_DENIED)|Unexpected server response: 40[13]/;

/**
 * Starts the host agent: enrolls on the first start (throws when that fails), then keeps one mutual
 * TLS WebSocket to the controller open, reconnecting with jittered backoff until stop().
 */
export async function startAgent(options: AgentOptions): Promise<AgentHandle> {
  const stateDir = options.stateDir ?? join(options.root, 'var/lib/murm-agent');
  const { controller, caFile, token, logger, enroll } = options;
  const identity = await ensureEnrolled({ controller, caFile, token, stateDir, logger, enroll });
  const agent = new HostAgent({
    options,
    stateDir,
    tls: { ca: identity.trustedCas, key: identity.keyPem, cert: identity.certificatePem },
    hostname: identity.hostname,
    appliedRevision: await readAppliedRevision(stateDir),
    inventory: await discoverInventory(options.discovery ?? {}),
    linuxptpVersion: await detectLinuxptpVersion(),
  });
  await agent.start();
  return {
    hostname: identity.hostname,
    whenApplied: (revision) => agent.whenApplied(revision),
    stop: () => agent.stop(),
  };
}

class HostAgent {
  private state: AgentState = 'connecting';
  private socket: WebSocket | undefined;
  private attempt = 0;
  private appliedRevision: string | null;
  private inventory: HostInventory;
  private linuxptpVersion: string | null;
  private reportedInventory: string | undefined;
  private readonly ptp: PtpMonitors;
  private readonly renewal: CertificateRenewal;
  private isDiscovering = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private rediscoverTimer: NodeJS.Timeout | undefined;
  /** Configs apply one after the other, in the order they arrived. */
  private applying: Promise<void> = Promise.resolve();
  private readonly waiters = new Map<string, (() => void)[]>();
  private devicePlugin: DevicePluginHandle | undefined;
  /** Device-plugin starts and updates, one after the other, apart from the config applies. */
  private pluginWork: Promise<void> = Promise.resolve();
  private readonly channelUrl: string;
  private readonly logger: Logger;
  private readonly version = agentVersion();

  constructor(
    private readonly deps: {
      options: AgentOptions;
      stateDir: string;
      tls: { ca: string[]; key: string; cert: string };
      hostname: string;
      appliedRevision: string | null;
      inventory: HostInventory;
      linuxptpVersion: string | null;
    },
  ) {
    this.appliedRevision = deps.appliedRevision;
    this.inventory = deps.inventory;
    this.linuxptpVersion = deps.linuxptpVersion;
    this.logger = deps.options.logger;
    this.ptp = new PtpMonitors({
      hostname: deps.hostname,
      stateDir: deps.stateDir,
      settings: { pmcPath: findLinuxptpProgram('pmc'), ...deps.options.ptp },
      logger: this.logger.child({ component: 'ptp' }),
      send: (frame) => {
        // Sent once welcomed; a reconnect sends every current status after its hello anyway.
        if (this.state === 'connected') this.sendCurrent(frame);
      },
    });
    this.renewal = new CertificateRenewal({
      stateDir: deps.stateDir,
      hostname: deps.hostname,
      keyPem: deps.tls.key,
      certificatePem: deps.tls.cert,
      logger: this.logger.child({ component: 'certificate' }),
      settings: deps.options.certificateRenewal,
      send: (frame) => {
        if (this.state !== 'connected' || this.socket?.readyState !== WebSocket.OPEN) return false;
        this.send(this.socket, frame);
        return true;
      },
      renewed: (identity) => this.useRenewedIdentity(identity),
    });
    const url = new URL(AGENT_CHANNEL_PATH, deps.options.controller);
    url.protocol = 'wss:';
    this.channelUrl = url.href;
  }

  async start(): Promise<void> {
    await this.ptp.resume();
    const interval = this.deps.options.rediscoverIntervalMs ?? DEFAULT_REDISCOVER_INTERVAL_MS;
    this.rediscoverTimer = setInterval(() => {
      this.rediscover().catch((error: unknown) => this.logger.error({ err: error }, 'rediscovery failed'));
    }, interval);
    this.connect();
  }

  whenApplied(revision: string): Promise<void> {
    if (this.appliedRevision === revision) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.set(revision, [...(this.waiters.get(revision) ?? []), resolve]);
    });
  }

  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    clearInterval(this.rediscoverTimer);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.reconnectTimer);
    this.renewal.stop();
    if (this.socket !== undefined) await closeSocket(this.socket);
    await this.applying;
    await this.ptp.stop();
    await this.pluginWork;
    await this.devicePlugin?.close();
    this.state = 'stopped';
    this.logger.info('agent stopped');
  }

  private connect(): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'connecting';
    const socket = new WebSocket(this.channelUrl, {
      ...this.deps.tls,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      perMessageDeflate: false,
    });
    this.socket = socket;
    socket.on('open', () => {
      this.reportedInventory = this.inventoryKey();
      this.send(socket, {
        type: 'hello',
        agentVersion: this.version,
        appliedRevision: this.appliedRevision,
        inventory: this.inventory,
        linuxptpVersion: this.linuxptpVersion,
      });
    });
    socket.on('message', (data, isBinary) => this.receive(socket, data, isBinary));
    socket.on('error', (error) => this.onError(error));
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString()));
  }

  private receive(socket: WebSocket, data: RawData, isBinary: boolean): void {
    const frame = parseJsonFrame<ControllerFrame>(data, isBinary);
    if (frame === undefined) {
      this.logger.warn('ignoring a frame from the controller that is not a JSON object with a type');
      return;
    }
    switch (frame.type) {
      case 'welcome':
        this.onWelcome(socket, frame);
        return;
      case 'config':
        if (typeof frame.revision !== 'string' || !Array.isArray(frame.files)) {
          this.logger.warn('ignoring a config frame without revision and files');
          return;
        }
        this.applying = this.applying.then(() =>
          this.applyConfig(frame.revision, frame.files, Array.isArray(frame.monitors) ? frame.monitors : []),
        );
        return;
      case 'certificate':
        this.renewal.handleFrame(frame);
        return;
      case 'error':
        if (this.renewal.handleFrame(frame)) return;
        this.logger.warn({ message: frame.message }, 'the controller refused a frame');
        return;
      default:
        this.logger.warn({ type: (frame as { type: string }).type }, 'ignoring a frame of unknown type');
    }
  }

  private onWelcome(socket: WebSocket, frame: Extract<ControllerFrame, { type: 'welcome' }>): void {
    this.state = 'connected';
    this.attempt = 0;
    if (frame.hostname !== this.deps.hostname) {
      this.logger.warn(
        { expected: this.deps.hostname, got: frame.hostname },
        'the controller knows this host by another name',
      );
    }
    const interval = Number.isFinite(frame.heartbeatIntervalMs)
      ? Math.max(frame.heartbeatIntervalMs, MIN_HEARTBEAT_INTERVAL_MS)
      : DEFAULT_HEARTBEAT_INTERVAL_MS;
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      this.send(socket, { type: 'heartbeat', appliedRevision: this.appliedRevision });
    }, interval);
    this.logger.info(
      { controller: this.deps.options.controller, hostname: frame.hostname },
      'connected to the controller',
    );
    // The controller may have restarted and forgotten them; statuses only travel on change otherwise.
    for (const status of this.ptp.currentFrames()) this.send(socket, status);
    this.renewal.connected();
  }

  /**
   * Presents the renewed certificate from the next connection on, and reconnects now so the
   * controller sees it proven (and drops the old one). Applied config, monitors and the device
   * plugin live in this process and carry over; the controller resends only what changed.
   */
  private useRenewedIdentity(identity: { keyPem: string; certificatePem: string }): void {
    this.deps.tls = { ...this.deps.tls, key: identity.keyPem, cert: identity.certificatePem };
    this.attempt = 0;
    if (this.socket !== undefined && this.state === 'connected')
      this.socket.close(1000, 'certificate renewed');
  }

  private async applyConfig(
    revision: string,
    files: RenderedFile[],
    monitors: MonitorDirective[],
  ): Promise<void> {
    const { root } = this.deps.options;
    try {
      const result = await applyRenderedFiles({ root, stateDir: this.deps.stateDir, revision, files });
      await this.ptp.apply(monitors);
      this.appliedRevision = revision;
      this.logger.info({ revision, ...result }, 'applied configuration');
      this.sendCurrent({ type: 'applied', revision });
      for (const resolve of this.waiters.get(revision) ?? []) resolve();
      this.waiters.delete(revision);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error({ revision, err: error }, 'applying configuration failed');
      this.sendCurrent({ type: 'applied', revision, error: message });
      return;
    }
    // Registering with kubelet can take seconds (or time out); the next config must not wait for it.
    this.pluginWork = this.pluginWork
      .then(() => this.updateDevicePlugin())
      .catch((error: unknown) => {
        this.logger.error({ err: error }, 'updating the isolcpus device plugin failed');
      });
  }

  private async rediscover(): Promise<void> {
    if (this.isDiscovering) return;
    this.isDiscovering = true;
    try {
      this.inventory = await discoverInventory(this.deps.options.discovery ?? {});
      this.linuxptpVersion = await detectLinuxptpVersion();
    } finally {
      this.isDiscovering = false;
    }
    const key = this.inventoryKey();
    // A connection not yet welcomed sends the new inventory in its hello instead.
    if (this.state !== 'connected' || key === this.reportedInventory) return;
    this.reportedInventory = key;
    this.sendCurrent({ type: 'inventory', inventory: this.inventory, linuxptpVersion: this.linuxptpVersion });
  }

  private onError(error: Error & { code?: string }): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    const detail = { controller: this.deps.options.controller, code: error.code, reason: error.message };
    if (REJECTED_CERTIFICATE.test(`${error.code ?? ''} ${error.message}`)) {
      this.logger.error(
        detail,
        "the controller rejected this agent's client certificate: the host may have been deleted or its certificate revoked; enroll again with a new token from `murm host add`",
      );
    } else {
      this.logger.warn(detail, 'channel to the controller failed');
    }
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    clearInterval(this.heartbeatTimer);
    this.renewal.disconnected();
    if (this.socket === socket) this.socket = undefined;
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'waiting';
    const delayMs = reconnectDelayMs(this.attempt, this.deps.options.random ?? Math.random);
    this.attempt += 1;
    this.logger.info({ code, reason, delayMs, attempt: this.attempt }, 'channel closed; reconnecting');
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private inventoryKey(): string {
    return `${inventoryKey(this.inventory)} ${this.linuxptpVersion}`;
  }

  /** Sends on the connection now open, if any: a frame for a connection that dropped is not worth keeping. */
  private sendCurrent(frame: AgentFrame): void {
    if (this.socket !== undefined) this.send(this.socket, frame);
  }

  private send(socket: WebSocket, frame: AgentFrame): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify(frame));
  }

  /** Serves the application-isolated CPUs the last config assigned through the kubelet device plugin. */
  private async updateDevicePlugin(): Promise<void> {
    const pluginDir = this.deps.options.devicePluginDir;
    if (pluginDir === undefined) return;
    const cpus = await readAssignedCpus(join(this.deps.options.root, CPU_FUNCTIONS_FILE));
    if (this.devicePlugin !== undefined) {
      this.devicePlugin.update(cpus ?? []);
      return;
    }
    if (cpus === undefined || this.state === 'stopping' || this.state === 'stopped') return;
    // Loaded only here: gRPC is a large dependency that hosts without a device-plugin dir never need.
    const { startIsolcpusDevicePlugin } = await import('./device-plugin/plugin.js');
    this.devicePlugin = await startIsolcpusDevicePlugin({ pluginDir, cpus, logger: this.logger });
    this.logger.info({ pluginDir }, 'isolcpus device plugin registered with kubelet');
  }
}

async function readAssignedCpus(path: string): Promise<AssignedCpu[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error(`"${path}" does not hold a list of assigned CPUs`);
  return parsed as AssignedCpu[];
}

/** Closes with a normal close frame, or abandons the socket if the controller does not answer in time. */
function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS);
    if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
    else socket.close(1000, 'agent stopping');
  });
}

/**
 * What decides whether the inventory changed. Available memory moves all the time and is not
 * inventory; leaving it out keeps a steady host from sending an `inventory` frame every interval.
 */
function inventoryKey(inventory: HostInventory): string {
  return JSON.stringify({ ...inventory, memory: { totalKiB: inventory.memory.totalKiB } });
}

/** The murmuration version, from the package.json beside the bundle (dist/) or above the sources (src/agent/). */
function agentVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === 'murmuration' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // Not this one; try the next place.
    }
  }
  return 'unknown';
}
