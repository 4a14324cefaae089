import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type * as Grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { loadDevicePluginApi, type RegisterRequest } from '../src/agent/device-plugin/api.js';
import { type AgentHandle, type AgentOptions, startAgent } from '../src/agent/runtime.js';
import { loadX509 } from '../src/certs/site-pki.js';
import type { Logger } from '../src/core/log.js';
import {
  AGENT_CHANNEL_PATH,
  AGENT_ENROLL_PATH,
  type AgentFrame,
  type ControllerFrame,
  type RenderedFile,
} from '../src/inventory/agent-protocol.js';
import type { AssignedCpu } from '../src/inventory/topology.js';
import { makeCertificate } from './helpers/certs.js';
import { untilChange } from './helpers/events.js';
import { REPO_ROOT, startAgentProcess } from './helpers/processes.js';

type TestCa = Awaited<ReturnType<typeof makeCertificate>>;

const FIXTURE = join(REPO_ROOT, 'test/fixtures/hosts/no-smt');
const HEARTBEAT_MS = 100;
const BAD_TOKEN_MESSAGE = 'enrollment token is unknown, expired or already used';
const NOT_AFTER = new Date(Date.now() + 86_400_000);

/** One WebSocket the agent opened, as the controller saw it. */
interface Connection {
  socket: WebSocket;
  isAuthorized: boolean;
  commonName: string;
  frames: (AgentFrame & { receivedAt: number })[];
}

/**
 * A minimal controller on real sockets: the enroll route and the channel of agent-protocol.ts, with
 * mutual TLS. It sends welcome on hello, then the desired config when the agent's revision differs.
 */
class TestController extends EventEmitter {
  readonly tokens = new Map<string, string>();
  readonly enrollments: { csrSubject: string; hostname: string }[] = [];
  readonly connections: Connection[] = [];
  readonly revoked = new Set<string>();
  upgradeAttempts = 0;
  desired: { revision: string; files: RenderedFile[] } = { revision: 'r1', files: [] };
  private readonly channel = new WebSocketServer({ noServer: true });
  private server!: https.Server;

  constructor(private readonly ca: TestCa) {
    super();
  }

  async listen(): Promise<string> {
    const serverCert = await makeCertificate({
      commonName: 'localhost',
      notAfter: NOT_AFTER,
      issuer: this.ca,
      sans: ['DNS:localhost', 'IP:127.0.0.1'],
    });
    // Enrollment comes without a client certificate, so the handshake asks for one but does not
    // insist; the channel checks `authorized` itself, as the real controller has to.
    this.server = https.createServer({
      key: serverCert.keyPem,
      cert: serverCert.pem,
      ca: [this.ca.pem],
      requestCert: true,
      rejectUnauthorized: false,
    });
    this.server.on('request', (request, response) => void this.enroll(request, response));
    this.server.on('upgrade', (request, socket, head) => {
      this.upgradeAttempts += 1;
      this.emit('change');
      const tls = request.socket as TLSSocket;
      const commonName = String(tls.getPeerCertificate().subject?.CN ?? '');
      if (request.url !== AGENT_CHANNEL_PATH || !tls.authorized || this.revoked.has(commonName)) {
        socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      this.channel.handleUpgrade(request, socket, head, (ws) => this.accept(ws, tls.authorized, commonName));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `https://localhost:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const client of this.channel.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Resolves with `check()` once it returns something, re-checking on every change; fails after `timeoutMs`. */
  until<T>(what: string, check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    return untilChange(this, what, check, timeoutMs);
  }

  framesOf(type: AgentFrame['type']): (AgentFrame & { receivedAt: number })[] {
    return this.connections.flatMap((connection) => connection.frames.filter((frame) => frame.type === type));
  }

  private async enroll(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of request) body += String(chunk);
    const { token, csr } = JSON.parse(body) as { token: string; csr: string };
    const hostname = this.tokens.get(token);
    response.setHeader('content-type', 'application/json');
    if (request.url !== AGENT_ENROLL_PATH || hostname === undefined) {
      response.statusCode = 401;
      response.end(JSON.stringify({ error: { code: 'unauthenticated', message: BAD_TOKEN_MESSAGE } }));
      return;
    }
    this.tokens.delete(token);
    const x509 = await loadX509();
    const request10 = new x509.Pkcs10CertificateRequest(csr);
    assert.equal(await request10.verify(), true, 'the CSR is signed by its own key');
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: '01ab',
      subject: `CN=${hostname}`,
      issuer: `CN=${this.ca.commonName}`,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: NOT_AFTER,
      publicKey: request10.publicKey,
      signingKey: this.ca.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    });
    this.enrollments.push({ csrSubject: request10.subject, hostname });
    response.statusCode = 201;
    response.end(
      JSON.stringify({ hostname, certificate: certificate.toString('pem'), caBundle: this.ca.pem }),
    );
  }

  private accept(socket: WebSocket, isAuthorized: boolean, commonName: string): void {
    const connection: Connection = { socket, isAuthorized, commonName, frames: [] };
    this.connections.push(connection);
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as AgentFrame;
      connection.frames.push({ ...frame, receivedAt: performance.now() });
      if (frame.type === 'hello') {
        this.send(socket, { type: 'welcome', hostname: commonName, heartbeatIntervalMs: HEARTBEAT_MS });
        if (frame.appliedRevision !== this.desired.revision)
          this.send(socket, { type: 'config', ...this.desired });
      }
      this.emit('change');
    });
    this.emit('change');
  }

  send(socket: WebSocket, frame: ControllerFrame): void {
    socket.send(JSON.stringify(frame));
  }
}

/** `whenApplied` bounded in time, so a broken agent fails the test instead of hanging it. */
async function appliedWithin(agent: AgentHandle, revision: string, timeoutMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`revision "${revision}" not applied within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([agent.whenApplied(revision), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A pino logger whose lines land in `lines`, so tests can check what the agent told the operator. */
function captureLogger(lines: { level: number; msg: string }[]): Logger {
  return pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
}

describe('host agent runtime', () => {
  let ca: TestCa;
  let controller: TestController;
  let controllerUrl: string;
  let base: string;
  let caFile: string;
  let logs: { level: number; msg: string }[];
  const agents: AgentHandle[] = [];

  before(async () => {
    ca = await makeCertificate({ commonName: 'Test site CA', isCa: true, notAfter: NOT_AFTER });
  });

  beforeEach(async () => {
    controller = new TestController(ca);
    controllerUrl = await controller.listen();
    base = await mkdtemp(join(tmpdir(), 'murm-agent-'));
    caFile = join(base, 'ca.crt');
    await writeFile(caFile, ca.pem);
    logs = [];
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    await controller?.close();
  });

  async function start(overrides: Partial<AgentOptions> = {}): Promise<AgentHandle> {
    const agent = await startAgent({
      controller: controllerUrl,
      caFile,
      root: join(base, 'root'),
      discovery: { sysfs: join(FIXTURE, 'sys'), procfs: join(FIXTURE, 'proc') },
      logger: captureLogger(logs),
      random: () => 0,
      ...overrides,
    });
    agents.push(agent);
    return agent;
  }

  async function finish(agent: AgentHandle): Promise<void> {
    await agent.stop();
    await controller.close();
    await rm(base, { recursive: true, force: true });
  }

  it('enrolls with its token, connects with the issued client certificate and applies the config', async () => {
    controller.tokens.set('token-1', 'worker-1');
    controller.desired = {
      revision: 'r1',
      files: [{ path: 'etc/murm/agent.conf', mode: 0o640, content: 'isolcpus=2-3\n' }],
    };

    const agent = await start({ token: 'token-1' });
    await appliedWithin(agent, 'r1');

    assert.equal(agent.hostname, 'worker-1');
    assert.equal(controller.enrollments.length, 1);
    assert.match(controller.enrollments[0]?.csrSubject ?? '', /^CN=/);
    const stateDir = join(base, 'root/var/lib/murm-agent');
    assert.equal((await stat(join(stateDir, 'agent.key'))).mode & 0o777, 0o600);
    assert.equal((await readFile(join(stateDir, 'hostname'), 'utf8')).trim(), 'worker-1');
    assert.equal(await readFile(join(stateDir, 'ca.crt'), 'utf8'), ca.pem);

    const [connection] = controller.connections;
    assert.equal(connection?.isAuthorized, true);
    assert.equal(connection?.commonName, 'worker-1');
    const hello = connection?.frames[0];
    assert.equal(hello?.type, 'hello');
    assert.equal(hello.type === 'hello' && hello.appliedRevision, null);
    assert.deepEqual(hello.type === 'hello' && hello.inventory.cpus.map((cpu) => cpu.cpu), [0, 1, 2, 3]);

    const target = join(base, 'root/etc/murm/agent.conf');
    assert.equal(await readFile(target, 'utf8'), 'isolcpus=2-3\n');
    assert.equal((await stat(target)).mode & 0o777, 0o640);
    const applied = await controller.until('applied', () => controller.framesOf('applied')[0]);
    assert.deepEqual({ ...applied, receivedAt: 0 }, { type: 'applied', revision: 'r1', receivedAt: 0 });

    const beats = await controller.until('two heartbeats', () => {
      const found = controller.framesOf('heartbeat');
      return found.length >= 2 ? found : undefined;
    });
    const [first, second] = beats;
    assert.ok(first && second && second.receivedAt - first.receivedAt >= HEARTBEAT_MS * 0.9);
    assert.equal(first?.type === 'heartbeat' && first.appliedRevision, 'r1');
    await finish(agent);
  });

  it('reconnects after the controller drops it, says hello with the applied revision and applies the next one', async () => {
    controller.tokens.set('token-2', 'worker-2');
    const kept: RenderedFile = { path: 'etc/kept.conf', mode: 0o644, content: 'kept\n' };
    const dropped: RenderedFile = { path: 'etc/dropped.conf', mode: 0o644, content: 'dropped\n' };
    controller.desired = { revision: 'r1', files: [kept, dropped] };
    const agent = await start({ token: 'token-2' });
    await appliedWithin(agent, 'r1');
    await controller.until('welcome', () => controller.framesOf('heartbeat')[0]);

    controller.desired = { revision: 'r2', files: [kept] };
    controller.connections[0]?.socket.terminate();
    await appliedWithin(agent, 'r2');

    assert.equal(controller.connections.length, 2);
    const hello = controller.connections[1]?.frames[0];
    assert.equal(hello?.type === 'hello' && hello.appliedRevision, 'r1');
    await assert.rejects(stat(join(base, 'root', dropped.path)), { code: 'ENOENT' });
    assert.equal(await readFile(join(base, 'root', kept.path), 'utf8'), 'kept\n');
    await finish(agent);
  });

  it('restarts from its state directory without enrolling again, ignoring a token passed anyway', async () => {
    controller.tokens.set('token-3', 'worker-3');
    controller.desired = { revision: 'r1', files: [] };
    const first = await start({ token: 'token-3' });
    await appliedWithin(first, 'r1');
    await first.stop();

    const second = await start({ token: 'token-3' });
    const hello = await controller.until('second hello', () => controller.connections[1]?.frames[0]);

    assert.equal(controller.enrollments.length, 1);
    assert.equal(hello.type === 'hello' && hello.appliedRevision, 'r1');
    assert.ok(logs.some((line) => line.msg.includes('ignoring the enrollment token')));
    await finish(second);
  });

  it('fails enrollment with the message of the controller for a bad token, writing no identity', async () => {
    await assert.rejects(start({ token: 'not-a-token' }), (error: Error) => {
      assert.match(error.message, new RegExp(BAD_TOKEN_MESSAGE));
      return true;
    });
    await assert.rejects(stat(join(base, 'root/var/lib/murm-agent/agent.crt')), { code: 'ENOENT' });
    await controller.close();
  });

  it('refuses to start unenrolled without a token', async () => {
    await assert.rejects(start(), /this agent is not enrolled yet: pass --token from `murm host add`/);
    await controller.close();
  });

  it('answers a config it cannot apply with an applied frame carrying the error', async () => {
    controller.tokens.set('token-4', 'worker-4');
    controller.desired = { revision: 'bad', files: [{ path: '../escape', mode: 0o644, content: 'x' }] };
    const agent = await start({ token: 'token-4' });

    const applied = await controller.until('applied', () => controller.framesOf('applied')[0]);

    assert.equal(applied.type === 'applied' && applied.revision, 'bad');
    assert.match((applied.type === 'applied' && applied.error) || '', /climbs out of the agent root/);
    await finish(agent);
  });

  it('logs a refused client certificate clearly and keeps retrying with backoff', async () => {
    controller.tokens.set('token-5', 'worker-5');
    const agent = await start({ token: 'token-5' });
    await appliedWithin(agent, 'r1');

    controller.revoked.add('worker-5');
    controller.connections[0]?.socket.terminate();
    await controller.until('three refused attempts', () => controller.upgradeAttempts >= 4);

    assert.ok(
      logs.some((line) => line.level >= 50 && line.msg.includes("rejected this agent's client certificate")),
    );
    controller.revoked.delete('worker-5');
    await controller.until('a new connection', () => controller.connections[1]);
    await finish(agent);
  });

  it('sends inventory only when discovery finds a change', async () => {
    const fixture = join(base, 'host');
    await cp(FIXTURE, fixture, { recursive: true, verbatimSymlinks: true });
    controller.tokens.set('token-6', 'worker-6');
    const agent = await start({
      token: 'token-6',
      discovery: { sysfs: join(fixture, 'sys'), procfs: join(fixture, 'proc') },
      rediscoverIntervalMs: 20,
    });
    // Five heartbeats span about twenty rediscoveries of an unchanged host.
    await controller.until('five heartbeats', () => controller.framesOf('heartbeat').length >= 5);
    assert.equal(controller.framesOf('inventory').length, 0);

    // Replace the file in one step: discovery running mid-write would report a truncated value.
    await writeFile(join(fixture, 'mtu.new'), '9000\n');
    await rename(join(fixture, 'mtu.new'), join(fixture, 'sys/class/net/eth0/mtu'));
    const frame = await controller.until('inventory', () => controller.framesOf('inventory')[0]);

    const eth0 =
      frame.type === 'inventory' ? frame.inventory.network.find((nic) => nic.name === 'eth0') : undefined;
    assert.equal(eth0?.mtu, 9000);
    await finish(agent);
  });

  it('runs as `murm agent` until SIGTERM, then closes the channel cleanly and exits 0', async () => {
    controller.tokens.set('token-8', 'worker-8');
    controller.desired = {
      revision: 'r1',
      files: [{ path: 'etc/murm/cli.conf', mode: 0o644, content: 'cli\n' }],
    };
    const agent = startAgentProcess({
      url: controllerUrl,
      caPath: caFile,
      root: join(base, 'root'),
      token: 'token-8',
      fixture: FIXTURE,
    });
    try {
      await controller.until('applied', () => controller.framesOf('applied')[0], 20_000);
      const closed = new Promise<number>((resolve) =>
        controller.connections[0]?.socket.once('close', resolve),
      );

      assert.equal(await agent.stop('SIGTERM'), 0, agent.output());
      assert.equal(await closed, 1000);
      assert.equal(await readFile(join(base, 'root/etc/murm/cli.conf'), 'utf8'), 'cli\n');
      assert.match(agent.output(), /stopping the agent/);
    } finally {
      await agent.stop('SIGKILL');
    }
    await controller.close();
    await rm(base, { recursive: true, force: true });
  });

  it('serves the isolated CPUs of the applied config through the device plugin, and closes it on stop', async () => {
    const pluginDir = join(base, 'device-plugins');
    await mkdir(pluginDir);
    const api = await loadDevicePluginApi();
    const registrations: RegisterRequest[] = [];
    const kubelet = new api.grpc.Server();
    kubelet.addService(api.registration, {
      Register: (
        call: Grpc.ServerUnaryCall<RegisterRequest, object>,
        callback: Grpc.sendUnaryData<object>,
      ) => {
        registrations.push(call.request);
        controller.emit('change');
        callback(null, {});
      },
    });
    await new Promise<number>((resolve, reject) =>
      kubelet.bindAsync(
        `unix://${join(pluginDir, 'kubelet.sock')}`,
        api.grpc.ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      ),
    );
    const cpus: AssignedCpu[] = [0, 1, 2, 3].map((cpu) => ({
      cpu,
      package: 0,
      core: cpu,
      thread: 0,
      numaNode: 0,
      siblings: [cpu],
      function: cpu < 2 ? 'platform' : 'application-isolated',
    }));
    controller.tokens.set('token-9', 'worker-9');
    controller.desired = {
      revision: 'r1',
      files: [{ path: 'etc/murm/cpu-functions.json', mode: 0o644, content: JSON.stringify(cpus) }],
    };
    const agent = await start({ token: 'token-9', devicePluginDir: pluginDir });
    try {
      const registration = await controller.until('Register', () => registrations[0]);

      assert.equal(registration.resource_name, 'murmuration.dev/isolcpus');
      assert.equal((await stat(join(pluginDir, registration.endpoint))).isSocket(), true);
      await agent.stop();
      await assert.rejects(stat(join(pluginDir, registration.endpoint)), { code: 'ENOENT' });
    } finally {
      kubelet.forceShutdown();
    }
    await finish(agent);
  });

  it('does not reconnect after stop()', async () => {
    controller.tokens.set('token-7', 'worker-7');
    const agent = await start({ token: 'token-7' });
    await appliedWithin(agent, 'r1');

    await agent.stop();
    const attempts = controller.upgradeAttempts;
    // With random() = 0 a reconnect would come at once; give it ample time to show up.
    await new Promise((resolve) => setTimeout(resolve, 300));

    assert.equal(controller.upgradeAttempts, attempts);
    assert.equal(controller.connections[0]?.socket.readyState, 3);
    await finish(agent);
  });
});
