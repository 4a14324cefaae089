import { isIP, type connect as netConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { type RawData, WebSocket } from 'ws';
import { reconnectDelayMs } from '../agent/backoff.js';
import { certificateNotAfter, type SimIdentity } from './sim-identity.js';
import { churnAlarms, endpointDigests, NO_ALARMS, RateBudget } from './sim-model.js';
import { rejectedUplink, type SimSubcloud, SimUplinkRpc } from './sim-rpc.js';
import {
  type AlarmCounts,
  type ControllerFrame,
  type SubcloudFrame,
  UPLINK_PATH,
} from './uplink-protocol.js';

/**
 * A fleet of simulated subclouds in one process, each holding one real uplink (WebSocket over mutual
 * TLS) to the system controller. Per subcloud there is a small record and, while connected, a socket;
 * all timing (connect ramp, reconnect backoff, cut uplinks coming back, churn) runs off ONE shared
 * ticker, so 10,000 subclouds cost 10,000 records, not 10,000 timers.
 *
 * Subcloud states: `ready` (queued to connect) → `connecting` (TLS + upgrade; digest on open) →
 * `connected` (welcome received) → on close `waiting` (jittered backoff, cap 60 s) → `ready`;
 * `held` (cut by the knob, reconnects when the hold ends); `stopped` after stop().
 */
export interface SimFleetOptions {
  /** https URL of the system controller. */
  controller: string;
  caPem: string;
  softwareVersion: string;
  /** Alarm-count changes per second across this fleet, each sent as a delta frame. */
  alarmRate?: number;
  /** Uplinks dropped (and reopened with backoff) per second across this fleet. */
  disconnectRate?: number;
  /** Source addresses to spread the uplinks over (round robin), when ephemeral ports run short. */
  localAddresses?: readonly string[];
  /** TLS + WebSocket handshakes in flight at once. */
  maxConnecting?: number;
  /** Called when a subcloud installs a renewed certificate (to update the cache). */
  onIdentity?: (identity: SimIdentity) => void;
  random?: () => number;
}

export interface SimFleetStats {
  total: number;
  connected: number;
  connecting: number;
  /** Subclouds whose last attempt the controller refused (HTTP 401/403 or a TLS alert). */
  rejected: number;
  deltasSent: number;
  rpcsAnswered: number;
}

const TICK_MS = 100;
const RECONNECT_CAP_MS = 60_000;
const DEFAULT_MAX_CONNECTING = 64;
const HANDSHAKE_TIMEOUT_MS = 20_000;
const PICK_TRIES = 8;

export class SimFleet {
  private readonly subs: SimSubcloud[] = [];
  private readonly byName = new Map<string, SimSubcloud>();
  /** Reconnects due, bucketed by tick. */
  private readonly due = new Map<number, SimSubcloud[]>();
  private readonly ready: SimSubcloud[] = [];
  private readyHead = 0;
  private nextBucket = 0;
  private connecting = 0;
  private connected = 0;
  private deltasSent = 0;
  private readonly rpc: SimUplinkRpc;
  private readonly alarmBudget: RateBudget;
  private readonly disconnectBudget: RateBudget;
  private readonly random: () => number;
  private readonly uplinkUrl: string;
  private readonly ticker: NodeJS.Timeout;
  private lastTick = performance.now();
  private isStopping = false;

  constructor(private readonly options: SimFleetOptions) {
    const url = new URL(UPLINK_PATH, options.controller);
    url.protocol = 'wss:';
    this.uplinkUrl = url.toString();
    this.random = options.random ?? Math.random;
    this.alarmBudget = new RateBudget(options.alarmRate ?? 0);
    this.disconnectBudget = new RateBudget(options.disconnectRate ?? 0);
    this.rpc = new SimUplinkRpc({
      send: (sub, frame) => this.send(sub, frame),
      onIdentity: (identity) => options.onIdentity?.(identity),
    });
    this.nextBucket = this.bucketOf(Date.now());
    this.ticker = setInterval(() => this.tick(), TICK_MS);
  }

  /** Adds a subcloud and queues its first connection. */
  add(identity: SimIdentity): void {
    if (this.isStopping || this.byName.has(identity.name)) return;
    const addresses = this.options.localAddresses ?? [];
    const sub: SimSubcloud = {
      ...identity,
      notAfter: certificateNotAfter(identity.certPem),
      pendingKeyPem: undefined,
      alarms: NO_ALARMS,
      revisions: undefined,
      socket: undefined,
      state: 'ready',
      attempt: 0,
      dueAt: 0,
      session: undefined,
      isManaged: false,
      isRejected: false,
      reconnectNow: false,
      address: addresses.length === 0 ? undefined : addresses[this.subs.length % addresses.length],
    };
    this.subs.push(sub);
    this.byName.set(sub.name, sub);
    this.ready.push(sub);
    this.pump();
  }

  stats(): SimFleetStats {
    let rejected = 0;
    for (const sub of this.subs) if (sub.isRejected) rejected++;
    return {
      total: this.subs.length,
      connected: this.connected,
      connecting: this.connecting,
      rejected,
      deltasSent: this.deltasSent,
      rpcsAnswered: this.rpc.answered,
    };
  }

  /** Names of the connected (welcomed) subclouds the controller reported unmanaged. */
  unmanagedConnected(): string[] {
    return this.subs.filter((s) => s.state === 'connected' && !s.isManaged).map((s) => s.name);
  }

  /** Sets a subcloud's alarm counts and sends them as a delta; false when it is not connected. */
  setAlarms(name: string, alarms: AlarmCounts): boolean {
    const sub = this.byName.get(name);
    if (!sub) return false;
    sub.alarms = { ...alarms };
    return this.send(sub, { type: 'delta', alarms: sub.alarms });
  }

  /**
   * Cuts `count` random connected uplinks (or the named ones) at once and keeps them down for
   * `holdMs`; returns the names cut and when.
   */
  cut(options: { count?: number; names?: readonly string[]; holdMs: number }): {
    names: string[];
    at: number;
  } {
    const chosen = options.names
      ? options.names.flatMap((n) => this.byName.get(n) ?? [])
      : this.pickConnected(options.count ?? 0);
    const at = Date.now();
    for (const sub of chosen) this.drop(sub, at + options.holdMs);
    return { names: chosen.map((s) => s.name), at };
  }

  /** Closes every uplink; nothing reconnects afterwards. */
  async stop(): Promise<void> {
    this.isStopping = true;
    clearInterval(this.ticker);
    const closing: Promise<void>[] = [];
    for (const sub of this.subs) {
      sub.state = 'stopped';
      const socket = sub.socket;
      if (!socket) continue;
      closing.push(new Promise((resolve) => socket.once('close', () => resolve())));
      socket.terminate();
    }
    await Promise.all(closing);
  }

  private pickConnected(count: number): SimSubcloud[] {
    const pool = this.subs.filter((s) => s.state === 'connected');
    const n = Math.min(count, pool.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.random() * (pool.length - i));
      const a = pool[i];
      const b = pool[j];
      if (a && b) {
        pool[i] = b;
        pool[j] = a;
      }
    }
    return pool.slice(0, n);
  }

  private randomConnected(): SimSubcloud | undefined {
    for (let i = 0; i < PICK_TRIES; i++) {
      const sub = this.subs[Math.floor(this.random() * this.subs.length)];
      if (sub?.state === 'connected') return sub;
    }
    return undefined;
  }

  private tick(): void {
    const now = performance.now();
    const elapsed = now - this.lastTick;
    this.lastTick = now;
    const nowBucket = this.bucketOf(Date.now());
    for (; this.nextBucket <= nowBucket; this.nextBucket++) {
      const list = this.due.get(this.nextBucket);
      if (!list) continue;
      this.due.delete(this.nextBucket);
      for (const sub of list) {
        if ((sub.state === 'waiting' || sub.state === 'held') && sub.dueAt <= Date.now() + TICK_MS) {
          sub.state = 'ready';
          this.ready.push(sub);
        }
      }
    }
    for (let n = this.alarmBudget.take(elapsed); n > 0; n--) {
      const sub = this.randomConnected();
      if (!sub) break;
      sub.alarms = churnAlarms(sub.alarms, this.random);
      this.send(sub, { type: 'delta', alarms: sub.alarms });
    }
    for (let n = this.disconnectBudget.take(elapsed); n > 0; n--) {
      const sub = this.randomConnected();
      if (sub) this.drop(sub);
    }
    this.pump();
  }

  private bucketOf(epochMs: number): number {
    return Math.floor(epochMs / TICK_MS);
  }

  private schedule(sub: SimSubcloud, at: number): void {
    sub.dueAt = at;
    const bucket = Math.max(this.bucketOf(at), this.nextBucket);
    const list = this.due.get(bucket);
    if (list) list.push(sub);
    else this.due.set(bucket, [sub]);
  }

  /** Starts queued connections while fewer than maxConnecting handshakes are in flight. */
  private pump(): void {
    const max = this.options.maxConnecting ?? DEFAULT_MAX_CONNECTING;
    while (this.connecting < max && this.readyHead < this.ready.length) {
      const sub = this.ready[this.readyHead++];
      if (sub?.state === 'ready') this.open(sub);
    }
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
  }

  private open(sub: SimSubcloud): void {
    sub.state = 'connecting';
    this.connecting++;
    const ws = new WebSocket(this.uplinkUrl, {
      ca: this.options.caPem,
      key: sub.keyPem,
      cert: sub.certPem,
      perMessageDeflate: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...(sub.address === undefined ? {} : { localAddress: sub.address }),
      // Our own connect, to keep the TLS session for a cheap resumption on the next reconnect.
      createConnection: ((options: ConnectionOptions & { host?: string }) => {
        const host = options.host ?? '';
        const socket = tlsConnect({
          ...options,
          servername: isIP(host) === 0 ? host : '',
          ...(sub.session === undefined ? {} : { session: sub.session }),
        });
        socket.on('session', (session: Buffer) => {
          sub.session = session;
        });
        return socket;
      }) as unknown as typeof netConnect,
    });
    sub.socket = ws;
    ws.on('open', () => {
      if (sub.socket !== ws) return;
      this.connecting--;
      sub.state = 'open';
      this.send(sub, {
        type: 'digest',
        softwareVersion: this.options.softwareVersion,
        alarms: sub.alarms,
        endpoints: endpointDigests(sub.revisions, sub.notAfter),
      });
      this.pump();
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.receive(sub, data);
    });
    ws.on('error', (error: Error & { code?: string }) => {
      if (rejectedUplink(error)) sub.isRejected = true;
    });
    ws.on('close', () => this.closed(sub, ws));
  }

  private receive(sub: SimSubcloud, data: RawData): void {
    let frame: ControllerFrame;
    try {
      frame = JSON.parse(String(data)) as ControllerFrame;
    } catch {
      return;
    }
    if (frame.type === 'welcome') {
      if (sub.state === 'open') this.connected++;
      sub.state = 'connected';
      sub.attempt = 0;
      sub.isRejected = false;
      sub.isManaged = frame.managed;
    } else if (frame.type === 'rpc') {
      this.rpc.handle(sub, frame);
    }
  }

  private closed(sub: SimSubcloud, ws: WebSocket): void {
    if (sub.socket !== ws) return;
    sub.socket = undefined;
    if (sub.state === 'connecting') {
      this.connecting--;
      this.pump();
    }
    if (sub.state === 'connected') this.connected--;
    if (sub.state === 'held' || sub.state === 'stopped' || this.isStopping) return;
    sub.state = 'waiting';
    if (sub.reconnectNow) {
      sub.reconnectNow = false;
      this.schedule(sub, Date.now());
      return;
    }
    this.schedule(
      sub,
      Date.now() + reconnectDelayMs(sub.attempt++, this.random, { capMs: RECONNECT_CAP_MS }),
    );
  }

  /** Drops the uplink at once; it reconnects after `holdUntil` (a cut) or after a short backoff. */
  private drop(sub: SimSubcloud, holdUntil?: number): void {
    const socket = sub.socket;
    if (sub.state === 'connected') this.connected--;
    if (sub.state === 'connecting') this.connecting--;
    sub.socket = undefined;
    if (holdUntil === undefined) {
      sub.state = 'waiting';
      this.schedule(sub, Date.now() + reconnectDelayMs(0, this.random, { capMs: RECONNECT_CAP_MS }));
    } else {
      sub.state = 'held';
      this.schedule(sub, holdUntil);
    }
    socket?.terminate();
  }

  private send(sub: SimSubcloud, frame: SubcloudFrame): boolean {
    const socket = sub.socket;
    if (socket?.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    if (frame.type === 'delta') this.deltasSent++;
    return true;
  }
}
