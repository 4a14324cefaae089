import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type CloudEvent, HTTP } from 'cloudevents';
import { httpsRequest, loginOverHttps } from './https.js';
import {
  type AgentProcess,
  eventually,
  makeTempDir,
  REPO_ROOT,
  type ServerProcess,
  startAgentProcess,
  startServer,
} from './processes.js';

const ADMIN_PASSWORD = 'Oran-Site-Pass-1';
/** A recorded machine whose one NIC is `enp3s0`. */
const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'hosts', 'one-socket-smt');
/** The NIC the fixture reports; a test's PTP port. */
export const FIXTURE_NIC = 'enp3s0';

/**
 * A real `murm serve` child with the O-RAN notification API on its own listener (`--oran-listen
 * 127.0.0.1:0`), logged in as admin over HTTPS. `restart()` stops the process and starts a new one on
 * the same data directory and API port.
 */
export interface OranSite {
  server: ServerProcess;
  /** `http://127.0.0.1:<port>/ocloudNotifications/v2`, from the banner. */
  oranBase: string;
  api(method: string, url: string, body?: unknown): ReturnType<typeof httpsRequest>;
  /** Resolves with the exit code of the process it stopped (SIGTERM). */
  restart(): Promise<number | null>;
  /** Stops the server and removes its data directory and the agent roots; stop agents first. */
  stop(): Promise<void>;
  /** Temp directories stop() removes. */
  readonly tempDirs: string[];
}

export async function startOranSite(env: Record<string, string> = {}): Promise<OranSite> {
  const dataDir = makeTempDir('oran-site');
  // A restart keeps the API port: agents reconnect to the URL they were started with.
  const start = async (listen = '127.0.0.1:0') => {
    const server = await startServer({
      dataDir,
      args: ['--listen', listen, '--oran-listen', '127.0.0.1:0', '--system-type', 'standard'],
      env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env },
    });
    const oranBase = await eventually('the O-RAN URL in the banner', async () => {
      return /O-RAN notification API \(no token\): (http:\/\/\S+)/.exec(server.output())?.[1];
    });
    return { server, oranBase, token: await loginOverHttps(server, 'admin', ADMIN_PASSWORD) };
  };
  let current = await start();
  const site: OranSite = {
    server: current.server,
    oranBase: current.oranBase,
    api: (method, url, body) =>
      httpsRequest(`${current.server.url}${url}`, {
        caPath: current.server.caPath,
        method,
        token: current.token,
        body,
      }),
    async restart() {
      const code = await current.server.stop();
      current = await start(new URL(current.server.url).host);
      site.server = current.server;
      site.oranBase = current.oranBase;
      return code;
    },
    async stop() {
      await current.server.stop();
      for (const dir of site.tempDirs) fs.rmSync(dir, { recursive: true, force: true });
    },
    tempDirs: [dataDir],
  };
  return site;
}

/** Asserts a 2xx answer, or fails with the server's message. */
export async function expectOk(answer: ReturnType<typeof httpsRequest>, what: string) {
  const response = await answer;
  if (response.status < 200 || response.status > 299) {
    throw new Error(`${what}: ${response.status} ${response.text}`);
  }
  return response;
}

/** Adds a worker host and starts its agent process on the fixture machine, root in a temp dir. */
export async function addHostWithAgent(
  site: OranSite,
  hostname: string,
  agentArgs: string[] = [],
): Promise<{ agent: AgentProcess; root: string }> {
  const added = await expectOk(
    site.api('POST', '/v1/hosts', { hostname, personality: 'worker' }),
    'add host',
  );
  const { token } = (added.body as { enrollment: { token: string } }).enrollment;
  const root = makeTempDir(`root-${hostname}`);
  site.tempDirs.push(root);
  const agent = startAgentProcess({
    url: site.server.url,
    caPath: site.server.caPath,
    root,
    token,
    fixture: FIXTURE,
    args: agentArgs,
  });
  await eventually(`${hostname} online`, async () => {
    const host = (await site.api('GET', `/v1/hosts/${hostname}`)).body as { availability?: string };
    return host.availability === 'online' ? true : undefined;
  });
  return { agent, root };
}

/** One ptp4l instance on `ifname` of `hostname`, with `parameters` as `key=value`. */
interface Ptp4lInstanceSetup {
  hostname: string;
  root: string;
  instance: string;
  ifname: string;
  parameters: readonly string[];
}

/**
 * Configures one ptp4l instance on `ifname` of `hostname` through the HTTP API, applies it and
 * waits until the agent has written its config file under `root`; returns the file's content.
 */
export async function applyPtp4lInstance(site: OranSite, options: Ptp4lInstanceSetup): Promise<string> {
  try {
    return await configurePtp4lInstance(site, options);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nserver log:\n${site.server.output().slice(-3000)}`);
  }
}

async function configurePtp4lInstance(site: OranSite, options: Ptp4lInstanceSetup): Promise<string> {
  const { hostname, instance, ifname } = options;
  await expectOk(site.api('POST', '/v1/ptp/instances', { name: instance, service: 'ptp4l' }), 'add instance');
  await expectOk(
    site.api('POST', `/v1/ptp/instances/${instance}/parameters`, { parameters: options.parameters }),
    'instance parameters',
  );
  const port = `${instance}-port`;
  await expectOk(site.api('POST', '/v1/ptp/interfaces', { name: port, instance }), 'add interface');
  await expectOk(site.api('POST', `/v1/hosts/${hostname}/ptp-instances`, { instance }), 'assign instance');
  await expectOk(
    site.api('POST', `/v1/hosts/${hostname}/ptp-interfaces`, { ifname, ptpInterface: port }),
    'assign interface',
  );
  await expectOk(site.api('POST', '/v1/ptp:apply'), 'apply');
  const file = path.join(options.root, 'etc', 'linuxptp', `${instance}.conf`);
  return eventually(`the agent to write ${file}`, async () =>
    fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined,
  );
}

/** An O-RAN event as the cloudevents SDK parses it. */
export type OranCloudEvent = CloudEvent<{
  values: Array<{ ResourceAddress: string; value: string | number }>;
}>;

/** One POST an EventReceiver took, timed on arrival. */
export interface Delivery {
  headers: http.IncomingHttpHeaders;
  body: string;
  path: string;
  receivedAt: number;
}

/** Parses a delivery with the cloudevents SDK (structured or binary mode; throws on an invalid event). */
export function parseDelivery(delivery: Delivery): OranCloudEvent {
  return HTTP.toEvent({ headers: delivery.headers, body: delivery.body }) as OranCloudEvent;
}

/**
 * A subscriber's endpoint: a real HTTP server on 127.0.0.1 answering 204 to every POST, keeping what
 * arrived in order (any path, so one server can stand for many subscribers).
 */
export class EventReceiver {
  readonly deliveries: Delivery[] = [];
  private waiters: Array<() => void> = [];
  private port = 0;
  private readonly server = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      const receivedAt = Date.now();
      this.deliveries.push({ headers: request.headers, body, path: request.url ?? '', receivedAt });
      for (const wake of this.waiters.splice(0)) wake();
      response.statusCode = 204;
      response.end();
    });
  });

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', 4096, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(urlPath = '/events'): string {
    return `http://127.0.0.1:${this.port}${urlPath}`;
  }

  /** Resolves once `count` deliveries have arrived in all, or fails after `timeoutMs` saying what came. */
  async waitForTotal(count: number, timeoutMs: number): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.deliveries.length < count) {
      if (Date.now() > deadline) {
        const seen = this.deliveries.map((d) => parseDelivery(d).data?.values[0]?.value).join(', ');
        throw new Error(`${this.deliveries.length} of ${count} events arrived in ${timeoutMs} ms: ${seen}`);
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.deliveries.slice(0, count);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

/** POSTs an O-RAN subscription; returns the answer's status and body. */
export async function subscribeOran(
  oranBase: string,
  endpointUri: string,
  resourceAddress: string,
): Promise<{ status: number; body: { SubscriptionId?: string; message?: string } }> {
  const response = await fetch(`${oranBase}/subscriptions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ EndpointUri: endpointUri, ResourceAddress: resourceAddress }),
  });
  return { status: response.status, body: (await response.json()) as { SubscriptionId?: string } };
}
