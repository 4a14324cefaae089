import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { makeCertificate } from './helpers/certs.js';
import { httpsRequest, loginOverHttps, raiseAlarmAsAdmin } from './helpers/https.js';
import { eventually, makeTempDir, type ServerProcess, startServer } from './helpers/processes.js';
import { ADMIN_PASSWORD } from './helpers/site.js';

type Subcloud = {
  name: string;
  availability: string;
  syncStatus: string;
  endpoints: { endpoint: string; syncStatus: string }[];
  alarms: { critical: number; major: number } | null;
};

const PING_MS = 300;
const FLEET_PASSWORD = 'Fleet-Pass-0001';
const NAMES = ['sub-w1', 'sub-w2'] as const;
const env = { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD, MURM_UPLINK_PING_INTERVAL_MS: String(PING_MS) };

/** Opens an uplink with the given client key/cert (or none) and reports how the listener answered. */
function tryUplink(url: string, caPath: string, tls: { key?: string; cert?: string }): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('https:', 'wss:')}/v1/dc/uplink`, {
      ca: fs.readFileSync(caPath),
      ...tls,
    });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_request, response) => resolve(`http ${response.statusCode}`));
    ws.on('error', (error) => resolve(`error ${error.message}`));
  });
}

/**
 * Opens a TLS connection to the uplink listener (resuming `session` if given) and asks for the uplink
 * upgrade; resolves the HTTP status, whether the session was resumed, and the session to resume next.
 */
function upgradeOverTls(
  url: string,
  options: { ca: string; key: string; cert: string; session?: Buffer | undefined },
): Promise<{ status: number; isResumed: boolean; session: Buffer | undefined; protocol: string | null }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    let answer = '';
    const socket = tls.connect({ host: hostname, port: Number(port), ...options });
    socket.on('session', (ticket: Buffer) => {
      session = ticket;
    });
    socket.on('secureConnect', () => {
      socket.write(
        `GET /v1/dc/uplink HTTP/1.1\r\nHost: ${hostname}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (!answer.includes('\r\n')) return;
      const isResumed = socket.isSessionReused();
      const protocol = socket.getProtocol();
      // Give the ticket of this connection a moment to arrive before closing it.
      setTimeout(() => {
        socket.destroy();
        resolve({ status: Number(answer.split(' ')[1]), isResumed, session, protocol });
      }, 50);
    });
    socket.on('error', reject);
  });
}

/** Child processes of `pid` that run node (the uplink workers; not short-lived tools like `ptp4l -v`). */
function nodeChildrenOf(pid: number): number[] {
  const children: number[] = [];
  const node = path.basename(process.execPath);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces; the fields after its closing parenthesis do not.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const argv0 = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (path.basename(argv0) === node) children.push(Number(entry));
    } catch {
      // Exited while listed.
    }
  }
  return children;
}

function decodeBundle(bundle: string): { controller: string; uplink?: string } {
  return JSON.parse(Buffer.from(bundle.slice('murm-join:'.length), 'base64url').toString());
}

describe('distributed cloud with uplink worker processes (MURM_UPLINK_WORKERS=2)', () => {
  let controller: ServerProcess;
  let token: string;
  let uplinkUrl: string;
  const subclouds = new Map<string, ServerProcess>();
  const dataDirs = new Map<string, string>();

  const api = async (method: string, url: string, body?: unknown) =>
    httpsRequest(`${controller.url}${url}`, { caPath: controller.caPath, method, token, body });
  const subcloud = async (name: string) => (await api('GET', `/v1/subclouds/${name}`)).body as Subcloud;
  const isAllOnline = async () => {
    for (const name of NAMES) {
      const s = await subcloud(name);
      if (s.availability !== 'online' || s.syncStatus !== 'in-sync') return undefined;
    }
    return true;
  };

  before(async () => {
    controller = await startServer({
      dataDir: makeTempDir('scw'),
      args: ['--system-controller'],
      env: { ...env, MURM_UPLINK_WORKERS: '2' },
    });
    token = await loginOverHttps(controller, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    for (const process of subclouds.values()) await process.stop();
    await controller.stop();
  });

  test('subclouds join through the API and come online through the bundle’s uplink listener', async () => {
    const added = await api('POST', '/v1/subclouds:batch', { subclouds: NAMES.map((name) => ({ name })) });
    assert.equal(added.status, 201, added.text);
    const items = (added.body as { items: { subcloud: { name: string }; bundle: string }[] }).items;
    const bundle = decodeBundle(items[0]?.bundle ?? '');
    assert.equal(bundle.controller, controller.url);
    assert.ok(bundle.uplink, 'the bundle names the uplink listener');
    assert.notEqual(new URL(bundle.uplink).port, new URL(controller.url).port);
    uplinkUrl = bundle.uplink;
    for (const item of items) {
      const dataDir = makeTempDir(item.subcloud.name);
      dataDirs.set(item.subcloud.name, dataDir);
      subclouds.set(item.subcloud.name, await startServer({ dataDir, args: ['--join', item.bundle], env }));
    }
    await eventually('both subclouds online and in sync', isAllOnline);
    for (const name of NAMES) assert.equal((await api('POST', `/v1/subclouds/${name}/manage`)).status, 200);
    assert.equal(nodeChildrenOf(controller.child.pid ?? 0).length, 2, 'two worker processes');
  });

  test('the workers refuse certificates that are not the issued one; the API listener has no uplink', async () => {
    assert.match(await tryUplink(uplinkUrl, controller.caPath, {}), /http 403/);
    const foreign = await makeCertificate({
      commonName: 'sub-w1',
      notAfter: new Date(Date.now() + 86_400_000),
    });
    assert.match(
      await tryUplink(uplinkUrl, controller.caPath, { key: foreign.keyPem, cert: foreign.pem }),
      /http 403|error/,
    );
    const dir = path.join(dataDirs.get('sub-w1') ?? '', 'dc');
    const own = {
      key: fs.readFileSync(path.join(dir, 'uplink.key'), 'utf8'),
      cert: fs.readFileSync(path.join(dir, 'uplink.crt'), 'utf8'),
    };
    assert.match(await tryUplink(controller.url, controller.caPath, own), /http 404/);
    // The real sub-w1 reconnects after being replaced by this probe.
    assert.equal(await tryUplink(uplinkUrl, controller.caPath, own), 'open');
    await eventually('sub-w1 back after the probe', isAllOnline);
  });

  test('TLS sessions resume on every worker (one shared ticket key) and the certificate is still checked', async () => {
    const dir = path.join(dataDirs.get('sub-w2') ?? '', 'dc');
    const options = {
      ca: fs.readFileSync(controller.caPath, 'utf8'),
      key: fs.readFileSync(path.join(dir, 'uplink.key'), 'utf8'),
      cert: fs.readFileSync(path.join(dir, 'uplink.crt'), 'utf8'),
    };
    const first = await upgradeOverTls(uplinkUrl, options);
    assert.equal(first.status, 101);
    assert.equal(first.isResumed, false);
    // Deliberate: TLS 1.3 keeps ~17 KB more native memory per idle link (docs/operations.md).
    assert.equal(first.protocol, 'TLSv1.2', 'the uplink workers cap TLS at 1.2');
    assert.ok(first.session, 'the listener hands out a session ticket');
    // Round robin over two workers: four connections reach both.
    for (let i = 0; i < 4; i++) {
      const next = await upgradeOverTls(uplinkUrl, { ...options, session: first.session });
      assert.deepEqual([next.status, next.isResumed], [101, true], `connection ${i + 2}`);
    }
    await eventually('sub-w2 back after the probes', isAllOnline);
  });

  test('subcloud alarms are aggregated across the IPC boundary', async () => {
    const process = subclouds.get('sub-w2');
    assert.ok(process);
    const raised = await raiseAlarmAsAdmin(process, ADMIN_PASSWORD, {
      alarmId: '100.101',
      severity: 'critical',
      reasonText: 'CPU',
    });
    assert.equal(raised.status, 201, raised.text);
    await eventually('critical count on sub-w2', async () =>
      (await subcloud('sub-w2')).alarms?.critical === 1 ? true : undefined,
    );
    const summary = (await api('GET', '/v1/dc/alarm-summary')).body as {
      items: { name: string; cloudStatus: string }[];
    };
    assert.equal(summary.items.find((item) => item.name === 'sub-w2')?.cloudStatus, 'critical');
  });

  test('pushes reach managed subclouds through the workers and skip unmanaged ones', async () => {
    assert.equal((await api('POST', '/v1/subclouds/sub-w1/unmanage')).status, 200);
    const created = await api('POST', '/v1/users', {
      name: 'fleet-op',
      roles: ['operator'],
      password: FLEET_PASSWORD,
      fleetWide: true,
    });
    assert.equal(created.status, 201, created.text);
    const w2 = subclouds.get('sub-w2');
    assert.ok(w2);
    await eventually('fleet-op logs in on sub-w2', async () => {
      const login = await httpsRequest(`${w2.url}/v1/auth/tokens`, {
        caPath: w2.caPath,
        method: 'POST',
        body: { username: 'fleet-op', password: FLEET_PASSWORD },
      });
      return login.status === 201 ? true : undefined;
    });
    await eventually('sub-w1 identity out-of-sync while unmanaged', async () => {
      const s = await subcloud('sub-w1');
      return s.endpoints.find((e) => e.endpoint === 'identity')?.syncStatus === 'out-of-sync'
        ? true
        : undefined;
    });
    assert.equal((await api('POST', '/v1/subclouds/sub-w1/manage')).status, 200);
    await eventually('sub-w1 in sync once managed', isAllOnline);
  });

  test('a killed worker is forked again and its subclouds come back online', async () => {
    const pid = controller.child.pid ?? 0;
    const [victim] = nodeChildrenOf(pid);
    assert.ok(victim);
    process.kill(victim, 'SIGKILL');
    await eventually('two workers again', async () => {
      const workers = nodeChildrenOf(pid);
      return workers.length === 2 && !workers.includes(victim) ? true : undefined;
    });
    await eventually('all subclouds online after the worker restart', isAllOnline, 25_000);
    const list = (await api('GET', '/v1/subclouds?availability=online&limit=1')).body as { total: number };
    assert.equal(list.total, NAMES.length);
  });
});
