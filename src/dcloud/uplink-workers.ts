import type { Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { AppError } from '../core/errors.js';
import type { RequestRecorder } from '../core/http/access.js';
import type { Logger } from '../core/log.js';
import type { DcService, UplinkTransport } from './service.js';
import { answerFrame, type CloseReason, PendingCalls, recordUplink } from './uplink-link.js';
import type { ControllerFrame, RpcMethod, SubcloudFrame } from './uplink-protocol.js';

/**
 * Uplink worker processes (`MURM_UPLINK_WORKERS=N`): one process may hold at most 20,000 open files and
 * use one core, so N forked workers share a dedicated uplink listener (node:cluster hands each accepted
 * connection to one of them) and do the TLS handshakes, WebSockets, pings and frame validation. This
 * process (the primary) owns DcService and all state: it authorizes each certificate when a worker asks
 * (one in-memory lookup: 20,000 connects a minute are 333 small IPC messages a second), and gets only
 * what changes state. IPC messages travel in batches, one per event-loop turn.
 *
 * Worker → primary: hello, ready, failed, refused (no valid certificate), auth, frame (digest, delta,
 * rpc-result), closed. Primary → worker: init, tls (renewed certificate), accept, refuse, send, close,
 * stop. A worker that dies is forked again; its subclouds reconnect to the others meanwhile.
 */

/** Resumed sessions skip the full handshake: 24 h covers a controller restart or a long outage. */
export const UPLINK_SESSION_TIMEOUT_S = 24 * 3600;
export const UPLINK_SESSION_ID_CONTEXT = 'murm-uplink';
const TICKET_KEY_FILE = 'uplink-ticket.key';
const RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
const STOP_TIMEOUT_MS = 2000;

/** Server key, certificate chain and the site CA bundle that verifies subclouds' certificates. */
export interface UplinkTls {
  key: string;
  cert: string;
  ca: string;
}

export interface WorkerInit {
  listen: { host: string; port: number };
  pingIntervalMs: number;
  logLevel: string;
  /** base64 of the 48-byte TLS session ticket keys. */
  ticketKeys: string;
  tls: UplinkTls;
}

export type WorkerMessage =
  | { t: 'hello' }
  | { t: 'ready'; port: number }
  | { t: 'failed'; message: string }
  | { t: 'refused'; source: string; detail: string }
  | { t: 'auth'; link: number; commonName: string; fingerprint: string; source: string }
  | { t: 'frame'; link: number; frame: SubcloudFrame }
  | { t: 'closed'; link: number; reason: CloseReason };

export type PrimaryMessage =
  | { t: 'init'; init: WorkerInit }
  | { t: 'tls'; tls: UplinkTls }
  | { t: 'accept'; link: number }
  | { t: 'refuse'; link: number }
  | { t: 'send'; link: number; frame: ControllerFrame }
  | { t: 'close'; link: number; code: number; reason: string }
  | { t: 'stop' };

/** Queues messages and sends them as one batch per event-loop turn. */
export class IpcOutbox<M> {
  private batch: M[] = [];

  constructor(private readonly deliver: (batch: M[]) => void) {}

  push(message: M): void {
    if (this.batch.length === 0) setImmediate(() => this.flush());
    this.batch.push(message);
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    if (batch.length > 0) this.deliver(batch);
  }
}

/** A link as the primary sees it: which worker holds it, under which id. */
interface RemoteLink {
  worker: WorkerSlot;
  id: number;
  name: string;
  calls: PendingCalls;
}

interface WorkerSlot {
  index: number;
  process: Worker;
  outbox: IpcOutbox<PrimaryMessage>;
  links: Map<number, RemoteLink>;
}

export interface WorkerUplinkOptions {
  workers: number;
  listen: { host: string; port: number };
  pingIntervalMs: number;
  logLevel: string;
  dataDir: string;
  logger: Logger;
  audit: RequestRecorder;
}

/** UplinkTransport over uplink worker processes; DcService does not know the difference. */
export class WorkerUplinkTransport implements UplinkTransport {
  private readonly byName = new Map<string, RemoteLink>();
  private readonly slots: (WorkerSlot | undefined)[] = [];
  private service: DcService | undefined;
  private tls: UplinkTls | undefined;
  private port: number | undefined;
  private isStopping = false;
  private restarts = 0;
  private ticketKeys = '';

  constructor(private readonly options: WorkerUplinkOptions) {}

  bind(service: DcService): void {
    this.service = service;
  }

  /** The key, certificate and CA the workers serve; new connections get them at once. */
  setTls(tls: UplinkTls): void {
    this.tls = tls;
    for (const slot of this.slots) slot?.outbox.push({ t: 'tls', tls });
  }

  /** Forks the workers; resolves when all listen (throws `unavailable` when one cannot). */
  async start(): Promise<void> {
    this.ticketKeys = readTicketKeys(this.options.dataDir);
    const cluster = (await import('node:cluster')).default;
    const entry = process.argv[1];
    if (entry === undefined) throw new Error('cannot fork uplink workers: process.argv[1] is not set');
    // A worker holds thousands of long-lived sockets and allocates little per frame: a small young
    // generation keeps its RSS down (10,000 uplinks per worker) at no visible CPU cost.
    cluster.setupPrimary({
      exec: entry,
      args: ['uplink-worker'],
      execArgv: [...process.execArgv, '--max-semi-space-size=1'],
    });
    // node:cluster shares a listener between workers by its exact address; with port 0 each worker
    // would get its own port, and a restarted one could not join them.
    this.port = await freePort(this.options.listen);
    try {
      await Promise.all(
        Array.from({ length: this.options.workers }, (_, index) => this.fork(cluster, index)),
      );
    } catch (error) {
      await this.close();
      throw error;
    }
    this.options.logger.info({ workers: this.options.workers, port: this.port }, 'uplink workers listening');
  }

  /** The https origin subclouds open their uplink at: the API's host with the uplink listener's port. */
  uplinkUrl(publicUrl: string): string | undefined {
    if (this.port === undefined) return undefined;
    const url = new URL(publicUrl);
    url.port = String(this.port);
    return url.origin;
  }

  get connectedCount(): number {
    return this.byName.size;
  }

  call(name: string, method: RpcMethod, params: unknown, deadlineMs: number): Promise<unknown> {
    const link = this.byName.get(name);
    if (!link) return Promise.reject(new AppError('unavailable', `subcloud ${name} is not connected`));
    return link.calls.call({ method, params, deadlineMs }, (frame) =>
      link.worker.outbox.push({ t: 'send', link: link.id, frame }),
    );
  }

  disconnect(name: string): void {
    const link = this.byName.get(name);
    link?.worker.outbox.push({
      t: 'close',
      link: link.id,
      code: 4001,
      reason: 'subcloud deleted or its certificate replaced',
    });
  }

  /** Stops the workers (they close their uplinks with 1001) and waits for them to exit. */
  async close(): Promise<void> {
    this.isStopping = true;
    // As on the in-process path: links closed by a stop leave their subclouds as they were, so that
    // after a restart they get the restart grace period rather than going offline now.
    this.byName.clear();
    const exits = this.slots.map((slot) => {
      if (!slot || slot.process.isDead()) return Promise.resolve();
      slot.outbox.push({ t: 'stop' });
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          slot.process.kill('SIGKILL');
          resolve();
        }, STOP_TIMEOUT_MS);
        slot.process.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    });
    await Promise.all(exits);
  }

  private fork(cluster: typeof import('node:cluster').default, index: number): Promise<void> {
    // Node's TLS layer gives every socket a 64 KB read buffer of which a few KB are ever written: as
    // its own mapping it stays mostly unbacked, while from glibc's heap it reuses pages that are already
    // resident (about 2.5 KB less RSS per uplink, measured). Only allocations this large are affected.
    const child = cluster.fork({
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? String(64 * 1024),
    });
    const slot: WorkerSlot = {
      index,
      process: child,
      links: new Map(),
      outbox: new IpcOutbox((batch) => {
        if (child.isConnected()) child.send(batch);
      }),
    };
    this.slots[index] = slot;
    return new Promise((resolve, reject) => {
      child.on('message', (batch: WorkerMessage[]) => {
        for (const message of batch) {
          if (message.t === 'ready') {
            this.restarts = 0;
            resolve();
          } else if (message.t === 'failed') {
            reject(new AppError('unavailable', `uplink worker could not listen: ${message.message}`));
          } else {
            this.receive(slot, message);
          }
        }
      });
      child.on('exit', (code, signal) => {
        reject(new AppError('unavailable', `uplink worker exited with ${signal ?? code} before listening`));
        this.exited(slot, signal ?? String(code));
      });
    });
  }

  private receive(slot: WorkerSlot, message: WorkerMessage): void {
    switch (message.t) {
      case 'hello':
        slot.outbox.push({ t: 'init', init: this.init() });
        return;
      case 'refused':
        void recordUplink(this.options, {
          event: 'subcloud.rejected',
          name: undefined,
          source: message.source,
          status: 403,
          detail: message.detail,
        });
        return;
      case 'auth':
        this.authorize(slot, message);
        return;
      case 'frame':
        this.frame(slot, message.link, message.frame);
        return;
      case 'closed':
        this.closed(slot, message.link, message.reason);
        return;
      default:
        return;
    }
  }

  private authorize(slot: WorkerSlot, message: Extract<WorkerMessage, { t: 'auth' }>): void {
    const service = this.requireService();
    const { source } = message;
    let name: string;
    try {
      name = service.subcloudFor(message.commonName, message.fingerprint);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      void recordUplink(this.options, {
        event: 'subcloud.rejected',
        name: undefined,
        source,
        status: 403,
        detail,
      });
      slot.outbox.push({ t: 'refuse', link: message.link });
      return;
    }
    void recordUplink(this.options, { event: 'subcloud.connected', name, source, status: 101 });
    const previous = this.byName.get(name);
    if (previous) {
      previous.worker.outbox.push({
        t: 'close',
        link: previous.id,
        code: 4002,
        reason: 'replaced by a newer connection',
      });
    }
    const link: RemoteLink = { worker: slot, id: message.link, name, calls: new PendingCalls(name) };
    slot.links.set(link.id, link);
    this.byName.set(name, link);
    service.connected(name);
    slot.outbox.push({ t: 'accept', link: link.id });
  }

  private frame(slot: WorkerSlot, id: number, frame: SubcloudFrame): void {
    const link = slot.links.get(id);
    if (!link) return;
    if (frame.type === 'rpc-result') {
      link.calls.settle(frame);
      return;
    }
    const context = { service: this.requireService(), logger: this.options.logger, name: link.name };
    answerFrame(context, frame, (reply) => slot.outbox.push({ t: 'send', link: id, frame: reply }));
  }

  private closed(slot: WorkerSlot, id: number, reason: CloseReason): void {
    const link = slot.links.get(id);
    if (!link) return;
    slot.links.delete(id);
    link.calls.rejectAll();
    if (this.byName.get(link.name) !== link) return;
    this.byName.delete(link.name);
    this.service?.disconnected(link.name, reason);
  }

  private exited(slot: WorkerSlot, how: string): void {
    for (const id of [...slot.links.keys()]) this.closed(slot, id, 'closed');
    if (this.isStopping || this.slots[slot.index] !== slot) return;
    this.options.logger.error({ worker: slot.index, exit: how }, 'uplink worker died; forking it again');
    const delayMs = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** this.restarts);
    this.restarts += 1;
    const timer = setTimeout(() => {
      void import('node:cluster').then(({ default: cluster }) =>
        this.fork(cluster, slot.index).catch((error: unknown) =>
          this.options.logger.error({ err: error }, 'uplink worker did not restart'),
        ),
      );
    }, delayMs);
    timer.unref();
  }

  private init(): WorkerInit {
    if (!this.tls) throw new Error('WorkerUplinkTransport.setTls() was not called before start()');
    return {
      listen: { host: this.options.listen.host, port: this.port ?? this.options.listen.port },
      pingIntervalMs: this.options.pingIntervalMs,
      logLevel: this.options.logLevel,
      ticketKeys: this.ticketKeys,
      tls: this.tls,
    };
  }

  private requireService(): DcService {
    if (!this.service) throw new Error('WorkerUplinkTransport.bind() was not called');
    return this.service;
  }
}

/** The session ticket keys, made once and kept so that sessions resume across controller restarts. */
function readTicketKeys(dataDir: string): string {
  const dir = path.join(dataDir, 'pki');
  const file = path.join(dir, TICKET_KEY_FILE);
  try {
    const key = fs.readFileSync(file);
    if (key.length === 48) return key.toString('base64');
  } catch {
    // Not made yet.
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = randomBytes(48);
  fs.writeFileSync(file, key, { mode: 0o600 });
  return key.toString('base64');
}

/** The configured port, or a free one when it is 0. */
function freePort(listen: { host: string; port: number }): Promise<number> {
  if (listen.port !== 0) return Promise.resolve(listen.port);
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, listen.host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
