import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { issueFromCsr, issueLeaf } from '../src/certs/issue.js';
import { createRootCa, loadX509 } from '../src/certs/site-pki.js';
import type { Logger } from '../src/core/log.js';
import { encodeJoinBundle, joinController, readLink } from '../src/dcloud/join.js';
import { SubcloudLink } from '../src/dcloud/link.js';
import { type SyncTarget, syncRevision } from '../src/dcloud/sync.js';
import { UplinkClient } from '../src/dcloud/uplink-client.js';
import {
  type AlarmCounts,
  type ControllerFrame,
  type RpcMethod,
  SUBCLOUD_ENROLL_PATH,
  type SubcloudFrame,
  type SyncEndpoint,
  UPLINK_PATH,
} from '../src/dcloud/uplink-protocol.js';
import { untilChange } from './helpers/events.js';

const BAD_TOKEN_MESSAGE = 'enrollment token is unknown, expired or already used';
const PING_INTERVAL_MS = 100;
/** Certificate times have whole seconds; so do these, so the digest's notAfter can be compared exactly. */
const NOT_AFTER = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 86_400_000);
const RENEWED_NOT_AFTER = new Date(NOT_AFTER.getTime() + 86_400_000);

type Ca = { certPem: string; keyPem: string };
type RpcResult = Extract<SubcloudFrame, { type: 'rpc-result' }>;

/** One uplink as the controller saw it. */
interface Connection {
  socket: WebSocket;
  name: string;
  fingerprint: string;
  frames: SubcloudFrame[];
}

/**
 * A system controller on real sockets: the enroll route and the uplink of uplink-protocol.ts with
 * mutual TLS. It accepts only the certificate it issued last to a subcloud, welcomes each digest and
 * pings every PING_INTERVAL_MS unless told not to.
 */
class TestController extends EventEmitter {
  readonly tokens = new Map<string, string>();
  readonly enrollments: { name: string; csrSubject: string }[] = [];
  readonly connections: Connection[] = [];
  /** Fingerprint of the newest certificate issued per subcloud name. */
  readonly accepted = new Map<string, string>();
  isRefusing = false;
  isPinging = true;
  upgradeAttempts = 0;
  notAfter = NOT_AFTER;
  private nextRpc = 0;
  private readonly uplink = new WebSocketServer({ noServer: true });
  private readonly timers = new Set<NodeJS.Timeout>();
  private server!: https.Server;

  constructor(readonly ca: Ca) {
    super();
  }

  async listen(): Promise<string> {
    const now = new Date();
    const serverCert = await issueLeaf(this.ca, {
      commonName: 'localhost',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      keyType: 'ecdsa-p256',
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: NOT_AFTER,
    });
    // Enrollment comes without a client certificate: ask for one, check `authorized` on the uplink.
    this.server = https.createServer({
      key: serverCert.keyPem,
      cert: serverCert.certPem,
      ca: [this.ca.certPem],
      requestCert: true,
      rejectUnauthorized: false,
    });
    this.server.on('request', (request, response) => void this.enroll(request, response));
    this.server.on('upgrade', (request, socket, head) => {
      this.upgradeAttempts += 1;
      this.emit('change');
      const tls = request.socket as TLSSocket;
      const peer = tls.getPeerCertificate();
      const name = String(peer.subject?.CN ?? '');
      const isNewest = this.accepted.get(name) === peer.fingerprint256;
      if (request.url !== UPLINK_PATH || !tls.authorized || !isNewest || this.isRefusing) {
        socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      this.uplink.handleUpgrade(request, socket, head, (ws) => this.accept(ws, name, peer.fingerprint256));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `https://localhost:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const client of this.uplink.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Resolves with `check()` once it returns something, re-checking on every change; fails after `timeoutMs`. */
  until<T>(what: string, check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    return untilChange(this, what, check, timeoutMs);
  }

  framesOf<T extends SubcloudFrame['type']>(connection: Connection | undefined, type: T) {
    return (connection?.frames ?? []).filter(
      (frame): frame is Extract<SubcloudFrame, { type: T }> => frame.type === type,
    );
  }

  /** Calls `method` on the subcloud of `connection` and resolves with its rpc-result frame. */
  async rpc(
    connection: Connection,
    method: RpcMethod,
    params: unknown,
    deadlineMs = 5000,
  ): Promise<RpcResult> {
    this.nextRpc += 1;
    const id = `rpc-${this.nextRpc}`;
    this.send(connection.socket, { type: 'rpc', id, method, params, deadlineMs });
    return this.until(`the result of ${method}`, () =>
      this.framesOf(connection, 'rpc-result').find((frame) => frame.id === id),
    );
  }

  /** Signs `csrPem` for `name` and makes that certificate the only one the uplink accepts. */
  async issue(csrPem: string, name: string, notAfter: Date): Promise<string> {
    const issued = await issueFromCsr(this.ca, {
      csrPem,
      commonName: name,
      notBefore: new Date(Date.now() - 60_000),
      notAfter,
    });
    this.accepted.set(name, new X509Certificate(issued.certPem).fingerprint256);
    return issued.certPem;
  }

  private async enroll(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of request) body += String(chunk);
    const { token, csr } = JSON.parse(body) as { token: string; csr: string };
    const name = this.tokens.get(token);
    response.setHeader('content-type', 'application/json');
    if (request.url !== SUBCLOUD_ENROLL_PATH || name === undefined) {
      response.statusCode = 401;
      response.end(JSON.stringify({ error: { code: 'unauthenticated', message: BAD_TOKEN_MESSAGE } }));
      return;
    }
    this.tokens.delete(token);
    const x509 = await loadX509();
    const csrSubject = new x509.Pkcs10CertificateRequest(csr).subject;
    // issueFromCsr verifies the request's signature and throws for a forged one.
    const certificate = await this.issue(csr, name, this.notAfter);
    this.enrollments.push({ name, csrSubject });
    response.statusCode = 201;
    response.end(JSON.stringify({ name, certificate, caBundle: this.ca.certPem }));
  }

  private accept(socket: WebSocket, name: string, fingerprint: string): void {
    const connection: Connection = { socket, name, fingerprint, frames: [] };
    this.connections.push(connection);
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as SubcloudFrame;
      connection.frames.push(frame);
      if (frame.type === 'digest') {
        this.send(socket, { type: 'welcome', name, pingIntervalMs: PING_INTERVAL_MS, managed: true });
      }
      this.emit('change');
    });
    socket.on('close', () => this.emit('change'));
    // Pongs make the waits re-check the client's status about every ping interval.
    socket.on('pong', () => this.emit('change'));
    if (this.isPinging) {
      const timer = setInterval(() => socket.ping(), PING_INTERVAL_MS);
      this.timers.add(timer);
      socket.on('close', () => clearInterval(timer));
    }
    this.emit('change');
  }

  send(socket: WebSocket, frame: ControllerFrame): void {
    socket.send(JSON.stringify(frame));
  }
}

/** An in-memory fake of our SyncTarget interface: resources in an array, apply() records its calls. */
class FakeSyncTarget implements SyncTarget {
  readonly applied: unknown[][] = [];
  applyDelayMs = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly endpoint: SyncEndpoint,
    private resources: unknown[],
  ) {}

  async current(): Promise<unknown[]> {
    return this.resources;
  }

  async apply(resources: unknown[]): Promise<void> {
    if (this.applyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.applyDelayMs));
    this.applied.push(resources);
    this.change(resources);
  }

  change(resources: unknown[]): void {
    this.resources = resources;
    for (const listener of this.listeners) listener();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The site's alarm counts with change listeners, as the fault domain would provide them. */
class FakeAlarms {
  counts: AlarmCounts = { critical: 0, major: 1, minor: 0, warning: 2 };
  private readonly listeners = new Set<() => void>();

  set(counts: Partial<AlarmCounts>): void {
    this.counts = { ...this.counts, ...counts };
    for (const listener of this.listeners) listener();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

interface LogLine {
  level: number;
  msg: string;
  delayMs?: number;
}

function captureLogger(lines: LogLine[]): Logger {
  return pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
}

describe('subcloud uplink client', () => {
  let ca: Ca;
  let controller: TestController;
  let controllerUrl: string;
  let dataDir: string;
  let logs: LogLine[];
  let identity: FakeSyncTarget;
  let certificates: FakeSyncTarget;
  let alarms: FakeAlarms;
  const clients: { stop(): Promise<void> }[] = [];

  before(async () => {
    ca = await createRootCa('test-controller', new Date());
  });

  beforeEach(async () => {
    controller = new TestController(ca);
    controllerUrl = await controller.listen();
    dataDir = await mkdtemp(join(tmpdir(), 'murm-subcloud-'));
    logs = [];
    identity = new FakeSyncTarget('identity', [{ user: 'admin', roles: ['admin'] }]);
    certificates = new FakeSyncTarget('certificates', []);
    alarms = new FakeAlarms();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.stop();
    await controller.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  after(() => controller.close().catch(() => undefined));

  function bundle(token: string, name: string): string {
    controller.tokens.set(token, name);
    return encodeJoinBundle({ name, controller: controllerUrl, caPem: ca.certPem, token });
  }

  function clientOptions(random: () => number = () => 0) {
    return {
      dataDir,
      logger: captureLogger(logs),
      targets: [identity, certificates],
      alarmCounts: () => alarms.counts,
      onAlarmChange: (listener: () => void) => alarms.onChange(listener),
      softwareVersion: '26.09',
      random,
    };
  }

  async function joined(name: string, random?: () => number): Promise<UplinkClient> {
    await joinController({
      dataDir,
      bundle: decodeBundle(bundle(`token-${name}`, name)),
      logger: captureLogger(logs),
    });
    const client = new UplinkClient(clientOptions(random));
    clients.push(client);
    await client.start();
    return client;
  }

  function decodeBundle(text: string) {
    return JSON.parse(Buffer.from(text.slice('murm-join:'.length), 'base64url').toString('utf8'));
  }

  const welcomed = (index: number) => () => {
    const connection = controller.connections[index];
    return controller.framesOf(connection, 'digest').length > 0 ? connection : undefined;
  };

  it('joins with its one-time token and stores key, certificate, CA and link', async () => {
    const link = await joinController({
      dataDir,
      bundle: decodeBundle(bundle('token-1', 'edge-1')),
      logger: captureLogger(logs),
    });

    assert.deepEqual(link, { name: 'edge-1', controller: controllerUrl });
    assert.deepEqual(controller.enrollments, [{ name: 'edge-1', csrSubject: 'CN=edge-1' }]);
    const dir = join(dataDir, 'dc');
    assert.equal((await stat(join(dir, 'uplink.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const certificate = new X509Certificate(await readFile(join(dir, 'uplink.crt'), 'utf8'));
    assert.equal(certificate.subject, 'CN=edge-1');
    assert.equal(certificate.fingerprint256, controller.accepted.get('edge-1'));
    assert.equal(await readFile(join(dir, 'controller-ca.crt'), 'utf8'), ca.certPem);
    assert.deepEqual(await readLink(dataDir), { name: 'edge-1', controller: controllerUrl });
  });

  it('fails the join with the message of the controller for a bad token and stores nothing', async () => {
    const text = encodeJoinBundle({
      name: 'edge-x',
      controller: controllerUrl,
      caPem: ca.certPem,
      token: 'spent',
    });

    await assert.rejects(
      joinController({ dataDir, bundle: decodeBundle(text), logger: captureLogger(logs) }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'unauthenticated');
        assert.match(error.message, new RegExp(`^joining ${controllerUrl} failed: ${BAD_TOKEN_MESSAGE}`));
        return true;
      },
    );
    assert.equal(await readLink(dataDir), undefined);
    await assert.rejects(stat(join(dataDir, 'dc/uplink.key')), { code: 'ENOENT' });
  });

  it('connects with its certificate and sends a digest with the revisions and the certificate notAfter', async () => {
    const client = await joined('edge-2');
    const connection = await controller.until('a digest', welcomed(0));

    assert.equal(connection.name, 'edge-2');
    const [digest] = controller.framesOf(connection, 'digest');
    assert.deepEqual(digest, {
      type: 'digest',
      softwareVersion: '26.09',
      alarms: { critical: 0, major: 1, minor: 0, warning: 2 },
      endpoints: {
        identity: { revision: syncRevision([{ user: 'admin', roles: ['admin'] }]) },
        certificates: { revision: syncRevision([]) },
        'dc-cert': { revision: '', notAfter: NOT_AFTER.toISOString() },
      },
    });
    const status = await controller.until(
      'connected',
      () => client.status().state === 'connected' && client.status(),
    );
    assert.equal(status.name, 'edge-2');
    assert.equal(status.controller, controllerUrl);
    assert.equal(status.reconnects, 0);
    assert.ok(status.connectedSince !== undefined);
  });

  it('coalesces a burst of alarm changes into one delta with the latest counts', async () => {
    await joined('edge-3');
    const connection = await controller.until('a digest', welcomed(0));

    for (let major = 2; major <= 6; major += 1) alarms.set({ major });
    alarms.set({ critical: 1 });
    const first = await controller.until('a delta', () => controller.framesOf(connection, 'delta')[0]);
    identity.change([{ user: 'admin', roles: ['admin', 'reader'] }]);
    const second = await controller.until(
      'a second delta',
      () => controller.framesOf(connection, 'delta')[1],
    );

    assert.deepEqual(first, { type: 'delta', alarms: { critical: 1, major: 6, minor: 0, warning: 2 } });
    // Had the burst produced a second alarm delta, it would have come before (or with) this one.
    assert.deepEqual(second, {
      type: 'delta',
      endpoints: { identity: { revision: syncRevision([{ user: 'admin', roles: ['admin', 'reader'] }]) } },
    });
  });

  it('applies sync.apply through the target and answers with its new revision', async () => {
    await joined('edge-4');
    const connection = await controller.until('a digest', welcomed(0));
    const resources = [{ certificate: 'ssl_ca', fingerprint: 'ab12' }];

    const result = await controller.rpc(connection, 'sync.apply', { endpoint: 'certificates', resources });

    assert.deepEqual(certificates.applied, [resources]);
    assert.deepEqual(result, {
      type: 'rpc-result',
      id: result.id,
      result: { revision: syncRevision(resources) },
    });
  });

  it('answers an unknown method, an unknown endpoint and work past its deadline with errors', async () => {
    await joined('edge-5');
    const connection = await controller.until('a digest', welcomed(0));

    const unknown = await controller.rpc(connection, 'fetch.everything' as RpcMethod, {});
    const missing = await controller.rpc(connection, 'sync.apply', { endpoint: 'ptp', resources: [] });
    identity.applyDelayMs = 300;
    const late = await controller.rpc(connection, 'sync.apply', { endpoint: 'identity', resources: [] }, 50);

    assert.deepEqual(unknown.error, {
      code: 'invalid_input',
      message: 'unknown rpc method "fetch.everything"',
    });
    assert.equal(missing.error?.code, 'not_found');
    assert.equal(late.error?.code, 'unavailable');
    assert.match(late.error?.message ?? '', /did not finish within its deadline of 50 ms/);
    // The apply went on and finished; it reports through a delta, never as a late success.
    await controller.until('the late apply', () => identity.applied.length === 1);
    assert.equal(
      controller.framesOf(connection, 'rpc-result').filter((frame) => frame.id === late.id).length,
      1,
    );
  });

  it('renews its certificate over rpc and reconnects with the new one', async () => {
    await joined('edge-6');
    const connection = await controller.until('a digest', welcomed(0));

    const renewed = await controller.rpc(connection, 'dc-cert.renew', {});
    const { csr } = renewed.result as { csr: string };
    assert.equal((await stat(join(dataDir, 'dc/uplink.key.pending'))).mode & 0o777, 0o600);
    const certificate = await controller.issue(csr, 'edge-6', RENEWED_NOT_AFTER);
    const installed = await controller.rpc(connection, 'dc-cert.install', { certificate });
    const next = await controller.until('a digest on a new connection', welcomed(1));

    assert.deepEqual(installed.result, {});
    assert.notEqual(next.fingerprint, connection.fingerprint);
    assert.equal(next.fingerprint, controller.accepted.get('edge-6'));
    const [digest] = controller.framesOf(next, 'digest');
    assert.equal(digest?.endpoints['dc-cert']?.notAfter, RENEWED_NOT_AFTER.toISOString());
    assert.equal((await stat(join(dataDir, 'dc/uplink.key'))).mode & 0o777, 0o600);
    await assert.rejects(stat(join(dataDir, 'dc/uplink.key.pending')), { code: 'ENOENT' });
  });

  it('refuses to install a certificate for another key', async () => {
    await joined('edge-7');
    const connection = await controller.until('a digest', welcomed(0));
    await controller.rpc(connection, 'dc-cert.renew', {});
    const stranger = await issueLeaf(ca, {
      commonName: 'edge-7',
      dns: [],
      ips: [],
      keyType: 'ecdsa-p256',
      notBefore: new Date(),
      notAfter: NOT_AFTER,
    });

    const installed = await controller.rpc(connection, 'dc-cert.install', { certificate: stranger.certPem });

    assert.equal(installed.error?.code, 'precondition_failed');
    assert.equal(controller.connections.length, 1);
  });

  it('reconnects with backoff and a fresh digest after the controller drops the connection', async () => {
    const client = await joined('edge-8', () => 0.5);
    const first = await controller.until('a digest', welcomed(0));

    alarms.counts = { critical: 2, major: 0, minor: 0, warning: 0 };
    first.socket.terminate();
    const second = await controller.until('a digest on a new connection', welcomed(1));

    assert.deepEqual(controller.framesOf(second, 'digest')[0]?.alarms, alarms.counts);
    // Attempt 0 waits a jittered share of the 500 ms base: random() = 0.5 gives 250 ms.
    assert.ok(logs.some((line) => line.msg === 'uplink closed; reconnecting' && line.delayMs === 250));
    await controller.until('connected again', () => client.status().state === 'connected');
    assert.equal(client.status().reconnects, 1);
  });

  it('logs a refused certificate clearly and keeps retrying with backoff', async () => {
    const client = await joined('edge-9');
    const first = await controller.until('a digest', welcomed(0));

    controller.isRefusing = true;
    first.socket.terminate();
    await controller.until('three refused attempts', () => controller.upgradeAttempts >= 4);

    assert.ok(
      logs.some(
        (line) => line.level >= 50 && line.msg.includes("refused this subcloud's uplink certificate"),
      ),
    );
    assert.match(client.status().lastError ?? '', /refused the uplink certificate/);
    controller.isRefusing = false;
    await controller.until('a new connection', welcomed(1));
  });

  it('drops a connection that brings no pings and connects again', async () => {
    controller.isPinging = false;
    await joined('edge-10');
    const first = await controller.until('a digest', welcomed(0));

    await controller.until(
      'the silent connection closed',
      () => first.socket.readyState === first.socket.CLOSED,
    );
    await controller.until('a new connection', welcomed(1));

    assert.ok(logs.some((line) => line.msg === 'uplink silent; reconnecting'));
  });

  it('does not reconnect after stop()', async () => {
    const client = await joined('edge-11');
    const first = await controller.until('a digest', welcomed(0));

    const closed = new Promise<number>((resolve) => first.socket.once('close', resolve));
    await client.stop();
    const attempts = controller.upgradeAttempts;
    // With random() = 0 a reconnect would come at once; give it ample time to show up.
    await new Promise((resolve) => setTimeout(resolve, 300));

    assert.equal(await closed, 1000);
    assert.equal(controller.upgradeAttempts, attempts);
    assert.equal(client.status().state, 'stopped');
  });

  it('joins a running site once through SubcloudLink and refuses a second join', async () => {
    const link = new SubcloudLink(clientOptions());
    clients.push(link);
    assert.equal(await link.startIfJoined(), false);
    assert.deepEqual(link.status(), { joined: false });

    await link.join(bundle('token-12', 'edge-12'));
    await controller.until('a digest', welcomed(0));
    await controller.until('connected', () => link.status().joined && link.status());

    await assert.rejects(link.join(bundle('token-13', 'edge-13')), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'conflict');
      assert.match(error.message, /already joined the system controller .* as "edge-12"/);
      return true;
    });
    await assert.rejects(link.join('not a bundle'), /not a join bundle/);
    await link.stop();

    const restarted = new SubcloudLink(clientOptions());
    clients.push(restarted);
    assert.equal(await restarted.startIfJoined(), true);
    await controller.until('a digest after the restart', welcomed(1));
  });
});
