import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { type WebSocket, WebSocketServer } from 'ws';
import { issueFromCsr } from '../src/certs/issue.js';
import { ensureSitePki, readSiteCa } from '../src/certs/site-pki.js';
import { type Sim, startSim } from '../src/dcloud/sim.js';
import { parseSimCommand } from '../src/dcloud/sim-control.js';
import {
  churnAlarms,
  decodeJoinBundle,
  EMPTY_REVISION,
  endpointDigests,
  parseAddressRange,
  RateBudget,
  simSubcloudName,
  sliceRange,
} from '../src/dcloud/sim-model.js';
import { syncRevision } from '../src/dcloud/sync.js';
import {
  type ControllerFrame,
  JOIN_BUNDLE_PREFIX,
  type SubcloudFrame,
  UPLINK_PATH,
} from '../src/dcloud/uplink-protocol.js';
import { httpsRequest, loginOverHttps } from './helpers/https.js';
import { eventually, makeTempDir, REPO_ROOT, startServer } from './helpers/processes.js';
import { ADMIN_PASSWORD } from './helpers/site.js';

test('names subclouds with a padded index and slices a fleet without gaps or overlaps', () => {
  assert.equal(simSubcloudName('sim', 42), 'sim-00042');
  for (const [total, slices] of [
    [10, 3],
    [2, 4],
    [20_000, 7],
  ] as const) {
    let expected = 0;
    for (let k = 0; k < slices; k++) {
      const { start, end } = sliceRange(total, slices, k);
      assert.equal(start, expected);
      assert.ok(end - start <= Math.ceil(total / slices));
      expected = end;
    }
    assert.equal(expected, total);
  }
});

test('parses source address ranges and refuses what is not one', () => {
  assert.deepEqual(parseAddressRange('127.0.0.254-127.0.1.1'), [
    '127.0.0.254',
    '127.0.0.255',
    '127.0.1.0',
    '127.0.1.1',
  ]);
  assert.deepEqual(parseAddressRange('127.0.0.9'), ['127.0.0.9']);
  for (const bad of ['127.0.0.9-127.0.0.1', 'a-b', '127.0.0.1-127.0.0.2-127.0.0.3', '10.0.0.0-10.1.0.0']) {
    assert.throws(() => parseAddressRange(bad), /source-ip-range/);
  }
});

test('turns fractional rates into whole events per tick', () => {
  const budget = new RateBudget(0.5);
  const fired = Array.from({ length: 40 }, () => budget.take(100)).reduce((a, b) => a + b, 0);
  assert.equal(fired, 2);
  assert.equal(new RateBudget(50).take(1000), 50);
});

test('churns alarm counts one step at a time and never below zero', () => {
  let counts = { critical: 0, major: 0, minor: 0, warning: 0 };
  let seed = 7;
  const random = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  for (let i = 0; i < 1000; i++) {
    const next = churnAlarms(counts, random);
    const diff = Object.keys(counts).reduce(
      (n, k) => n + Math.abs(next[k as keyof typeof counts] - counts[k as keyof typeof counts]),
      0,
    );
    assert.equal(diff, 1);
    assert.ok(Object.values(next).every((n) => n >= 0));
    counts = next;
  }
});

test('reports empty revisions and the certificate notAfter before anything was applied', () => {
  assert.equal(EMPTY_REVISION, syncRevision([]));
  assert.deepEqual(endpointDigests(undefined, '2030-01-01T00:00:00.000Z'), {
    identity: { revision: EMPTY_REVISION },
    certificates: { revision: EMPTY_REVISION },
    'dc-cert': { revision: EMPTY_REVISION, notAfter: '2030-01-01T00:00:00.000Z' },
  });
});

test('decodes join bundles and parses control lines', () => {
  const bundle = { name: 'sim-00001', controller: 'https://127.0.0.1:1', caPem: 'x', token: 't' };
  const text = `${JOIN_BUNDLE_PREFIX}${Buffer.from(JSON.stringify(bundle)).toString('base64url')}`;
  assert.deepEqual(decodeJoinBundle(text), bundle);
  assert.throws(() => decodeJoinBundle('murm-join:!!'), /not an enrollment bundle/);
  assert.deepEqual(parseSimCommand('cut 1000 30'), { type: 'cut', count: 1000, holdMs: 30_000 });
  assert.deepEqual(parseSimCommand('alarms sim-00001 1 0 2 0'), {
    type: 'alarms',
    name: 'sim-00001',
    alarms: { critical: 1, major: 0, minor: 2, warning: 0 },
  });
  assert.match(String(parseSimCommand('cut x')), /usage/);
  assert.match(String(parseSimCommand('reboot')), /unknown command/);
});

/** A tiny system controller speaking the uplink contract: bulk add, enroll, mTLS uplink, RPCs. */
async function startFakeController() {
  const dir = makeTempDir('fake-dc');
  const pki = await ensureSitePki({ dataDir: dir, hosts: ['127.0.0.1'], now: new Date() });
  const ca = await readSiteCa(dir);
  const caPem = fs.readFileSync(pki.caCertPath, 'utf8');
  const subclouds = new Map<
    string,
    { token?: string | undefined; fingerprint?: string | undefined; managed?: boolean }
  >();
  const uplinks = new Map<string, WebSocket>();
  const frames: { name: string; frame: SubcloudFrame }[] = [];
  const stats = { enrolled: 0, connections: 0, reused: 0, refused: 0 };
  const waiting = new Map<string, (frame: SubcloudFrame) => void>();
  let url = '';
  const server = https.createServer(
    {
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      ca: caPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk;
      });
      req.on('end', () => {
        void route(req.method ?? '', (req.url ?? '').split('?')[0] ?? '', body ? JSON.parse(body) : {}).then(
          ([status, answer]) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(answer));
          },
        );
      });
    },
  );
  const route = async (method: string, pathname: string, body: Record<string, unknown>) => {
    if (method === 'GET' && pathname === '/v1/subclouds') {
      return [
        200,
        { items: [...subclouds.keys()].map((name) => ({ name })), total: subclouds.size },
      ] as const;
    }
    if (method === 'POST' && pathname === '/v1/subclouds:batch') {
      const items = (body.subclouds as { name: string }[]).map(({ name }) => {
        const token = `token-${name}-${Math.random()}`;
        subclouds.set(name, { token });
        const bundle = Buffer.from(JSON.stringify({ name, controller: url, caPem, token })).toString(
          'base64url',
        );
        return { subcloud: { name }, bundle: `${JOIN_BUNDLE_PREFIX}${bundle}` };
      });
      return [201, { items }] as const;
    }
    if (method === 'POST' && pathname === '/v1/subcloud-enroll') {
      const entry = [...subclouds.entries()].find(([, s]) => s.token !== undefined && s.token === body.token);
      if (!entry) return [401, { error: { code: 'unauthenticated', message: 'unknown token' } }] as const;
      const [name, sub] = entry;
      const issued = await issueFromCsr(ca, {
        csrPem: String(body.csr),
        commonName: name,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
      });
      sub.token = undefined;
      sub.fingerprint = new (await import('node:crypto')).X509Certificate(issued.certPem).fingerprint256;
      stats.enrolled++;
      return [200, { name, certificate: issued.certPem, caBundle: caPem }] as const;
    }
    const manage = /^\/v1\/subclouds\/([^/]+)\/manage$/.exec(pathname);
    if (method === 'POST' && manage?.[1]) {
      const sub = subclouds.get(manage[1]);
      if (sub) sub.managed = true;
      return [200, {}] as const;
    }
    return [404, { error: { code: 'not_found', message: pathname } }] as const;
  };
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const tls = socket as TLSSocket;
    const peer = tls.getPeerCertificate();
    const name = String(peer?.subject?.CN ?? '');
    if (
      req.url !== UPLINK_PATH ||
      !tls.authorized ||
      subclouds.get(name)?.fingerprint !== peer.fingerprint256
    ) {
      stats.refused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    stats.connections++;
    if (tls.isSessionReused()) stats.reused++;
    wss.handleUpgrade(req, socket, head, (ws) => {
      uplinks.set(name, ws);
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(String(data)) as SubcloudFrame;
        frames.push({ name, frame });
        if (frame.type === 'digest') {
          const welcome: ControllerFrame = {
            type: 'welcome',
            name,
            pingIntervalMs: 5000,
            managed: subclouds.get(name)?.managed === true,
          };
          ws.send(JSON.stringify(welcome));
        }
        if (frame.type === 'rpc-result') waiting.get(frame.id)?.(frame);
      });
      ws.on('close', () => {
        if (uplinks.get(name) === ws) uplinks.delete(name);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  let nextId = 0;
  return {
    url,
    caPath: pki.caCertPath,
    subclouds,
    uplinks,
    frames,
    stats,
    rpc(name: string, method: 'sync.apply' | 'dc-cert.renew' | 'dc-cert.install', params: unknown) {
      const id = String(nextId++);
      const frame: ControllerFrame = { type: 'rpc', id, method, params, deadlineMs: 10_000 };
      return new Promise<SubcloudFrame>((resolve) => {
        waiting.set(id, resolve);
        uplinks.get(name)?.send(JSON.stringify(frame));
      });
    },
    async close() {
      for (const ws of uplinks.values()) ws.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function simOptions(fake: { url: string; caPath: string }, cacheDir: string, subclouds: number) {
  return {
    controller: fake.url,
    caPath: fake.caPath,
    token: 'admin-token',
    subclouds,
    prefix: 'sim',
    processes: 1,
    alarmRate: 0,
    disconnectRate: 0,
    isManaged: true,
    cacheDir,
    softwareVersion: '0.1.0',
    log: () => {},
  };
}

test('enrolls, connects, answers RPCs, renews its certificate and reuses the cache on a rerun', async () => {
  const fake = await startFakeController();
  const cacheDir = makeTempDir('sim-cache');
  let sim: Sim | undefined;
  try {
    sim = await startSim(simOptions(fake, cacheDir, 5));
    await eventually('5 uplinks', async () => (fake.uplinks.size === 5 ? true : undefined), 10_000);
    const digest = fake.frames.find((f) => f.frame.type === 'digest')?.frame;
    assert.equal(digest?.type, 'digest');
    assert.equal(digest.softwareVersion, '0.1.0');
    assert.deepEqual(digest.alarms, { critical: 0, major: 0, minor: 0, warning: 0 });
    assert.equal(digest.endpoints.identity?.revision, syncRevision([]));
    assert.ok(digest.endpoints['dc-cert']?.notAfter);
    await eventually('managed', async () =>
      [...fake.subclouds.values()].every((s) => s.managed) ? true : undefined,
    );

    const resources = [{ name: 'admin', roles: ['admin'] }];
    const applied = await fake.rpc('sim-00001', 'sync.apply', { endpoint: 'identity', resources });
    assert.deepEqual(applied, { type: 'rpc-result', id: '0', result: { revision: syncRevision(resources) } });

    assert.ok(await sim.setAlarms('sim-00002', { critical: 1, major: 0, minor: 0, warning: 0 }));
    await eventually('the alarm delta', async () =>
      fake.frames.some((f) => f.name === 'sim-00002' && f.frame.type === 'delta') ? true : undefined,
    );

    const renewed = await fake.rpc('sim-00003', 'dc-cert.renew', {});
    assert.equal(renewed.type, 'rpc-result');
    const csr = (renewed.result as { csr: string }).csr;
    const issued = await issueFromCsr(await readSiteCa(path.dirname(path.dirname(fake.caPath))), {
      csrPem: csr,
      commonName: 'sim-00003',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 2 * 86_400_000),
    });
    const entry = fake.subclouds.get('sim-00003');
    assert.ok(entry);
    entry.fingerprint = new (await import('node:crypto')).X509Certificate(issued.certPem).fingerprint256;
    const old = fake.uplinks.get('sim-00003');
    const installed = await fake.rpc('sim-00003', 'dc-cert.install', { certificate: issued.certPem });
    assert.deepEqual(installed.type === 'rpc-result' && installed.result, {});
    await eventually('the reconnect with the new certificate', async () => {
      const now = fake.uplinks.get('sim-00003');
      return now && now !== old ? true : undefined;
    });

    const before = fake.stats.connections;
    const cut = await sim.cut(2, 200);
    assert.equal(cut.names.length, 2);
    await eventually('the cut uplinks back', async () =>
      fake.stats.connections >= before + 2 && fake.uplinks.size === 5 ? true : undefined,
    );
    assert.ok(fake.stats.reused >= 2, `TLS sessions resumed: ${fake.stats.reused}`);
    await sim.stop();
    sim = undefined;

    const enrolled = fake.stats.enrolled;
    sim = await startSim(simOptions(fake, cacheDir, 5));
    await eventually('5 uplinks again', async () => (fake.uplinks.size === 5 ? true : undefined), 10_000);
    assert.equal(fake.stats.enrolled, enrolled, 'a rerun enrolls nothing');
    assert.equal(sim.stats().enrolled, 5);
  } finally {
    await sim?.stop();
    await fake.close();
  }
});

const hasSystemController = fs
  .readFileSync(path.join(REPO_ROOT, 'src', 'murm.ts'), 'utf8')
  .includes('system-controller');

test('holds 20 simulated subclouds online on a real system controller, with churn and a disconnect knob', {
  skip: hasSystemController ? false : 'murm serve --system-controller does not exist yet',
}, async () => {
  const server = await startServer({
    args: ['--system-controller'],
    // Short pings: a cut uplink is offline after 2 × 500 ms + 1 s instead of 7 s.
    env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD, MURM_UPLINK_PING_INTERVAL_MS: '500' },
  });
  let sim: Sim | undefined;
  try {
    const token = await loginOverHttps(server, 'admin', ADMIN_PASSWORD);
    const get = async (path: string) =>
      (await httpsRequest(`${server.url}${path}`, { caPath: server.caPath, token })).body as {
        items: { name: string; critical?: number; major?: number; minor?: number; warning?: number }[];
        total?: number;
      };
    sim = await startSim({
      ...simOptions(server, makeTempDir('sim-cache'), 20),
      token,
      alarmRate: 20,
    });
    await eventually(
      '20 subclouds online',
      async () => ((await get('/v1/subclouds?availability=online&limit=1')).total === 20 ? true : undefined),
      20_000,
    );
    await eventually('churned alarm counts in the summary', async () => {
      const summary = await get('/v1/dc/alarm-summary');
      return summary.items.some(
        (i) => (i.critical ?? 0) + (i.major ?? 0) + (i.minor ?? 0) + (i.warning ?? 0) > 0,
      )
        ? true
        : undefined;
    });
    const { names } = await sim.cut(1, 60_000);
    await eventually(
      `${names[0]} offline`,
      async () => ((await get('/v1/subclouds?availability=online&limit=1')).total === 19 ? true : undefined),
      20_000,
    );
  } finally {
    await sim?.stop();
    await server.stop();
  }
});
