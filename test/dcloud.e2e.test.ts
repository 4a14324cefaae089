import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { makeCertificate } from './helpers/certs.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { httpsRequest, loginOverHttps, raiseAlarmAsAdmin } from './helpers/https.js';
import { eventually, makeTempDir, type ServerProcess, startServer } from './helpers/processes.js';
import { ADMIN_PASSWORD } from './helpers/site.js';

type Subcloud = {
  name: string;
  management: string;
  availability: string;
  syncStatus: string;
  endpoints: { endpoint: string; syncStatus: string }[];
  alarms: { critical: number; major: number } | null;
};
type Alarm = { alarmId: string; entityInstanceId: string };
type EventRecord = { eventId: string; entityInstanceId: string; state: string };

const PING_MS = 300;
const FLEET_PASSWORD = 'Fleet-Pass-0001';
const NAMES = ['sub-a', 'sub-b', 'sub-c'] as const;
const env = { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD, MURM_UPLINK_PING_INTERVAL_MS: String(PING_MS) };

/** Opens an uplink with the given client key/cert (or none) and reports how the controller answered. */
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

for (const backend of BACKENDS) {
  describe(`distributed cloud end to end: controller on ${backend.name} and three real subclouds`, () => {
    let database: TestDatabase;
    let controller: ServerProcess;
    let token: string;
    const controllerData = makeTempDir('sc');
    const subclouds = new Map<string, ServerProcess>();
    const dataDirs = new Map<string, string>();

    const api = async (method: string, url: string, body?: unknown) =>
      httpsRequest(`${controller.url}${url}`, { caPath: controller.caPath, method, token, body });
    const subcloud = async (name: string) => (await api('GET', `/v1/subclouds/${name}`)).body as Subcloud;
    const alarmsOf = async (prefix: string) => {
      const list = await api('GET', `/v1/alarms?entityInstance=${encodeURIComponent(prefix)}&limit=1000`);
      return (list.body as { items: Alarm[] }).items;
    };
    // A restarted controller listens on the same port: the subclouds' bundles carry its URL.
    const startController = async (listen = '127.0.0.1:0') => {
      controller = await startServer({
        dataDir: controllerData,
        args: ['--system-controller', '--database', database.url, '--listen', listen],
        env,
      });
      token = await loginOverHttps(controller, 'admin', ADMIN_PASSWORD);
    };
    const startSubcloud = async (name: string, join?: string) => {
      const dataDir = dataDirs.get(name) ?? makeTempDir(name);
      dataDirs.set(name, dataDir);
      subclouds.set(name, await startServer({ dataDir, args: join ? ['--join', join] : [], env }));
    };

    before(async () => {
      database = await backend.create();
      await startController();
    });
    after(async () => {
      for (const process of subclouds.values()) await process.stop();
      await controller.stop();
      await database.drop();
    });

    test('three subclouds join with their bundles and come online, in sync', async () => {
      const added = await api('POST', '/v1/subclouds:batch', { subclouds: NAMES.map((name) => ({ name })) });
      assert.equal(added.status, 201, added.text);
      const items = (added.body as { items: { subcloud: { name: string }; bundle: string }[] }).items;
      await Promise.all(items.map((item) => startSubcloud(item.subcloud.name, item.bundle)));
      for (const name of NAMES) {
        const state = await eventually(`${name} online`, async () => {
          const s = await subcloud(name);
          return s.availability === 'online' && s.syncStatus === 'in-sync' ? s : undefined;
        });
        assert.deepEqual(state.endpoints.map((e) => `${e.endpoint}:${e.syncStatus}`).sort(), [
          'certificates:in-sync',
          'dc-cert:in-sync',
          'identity:in-sync',
        ]);
        assert.equal((await api('POST', `/v1/subclouds/${name}/manage`)).status, 200);
      }
      const list = (await api('GET', '/v1/subclouds?availability=online&limit=1')).body as { total: number };
      assert.equal(list.total, 3);
    });

    test('a reused bundle and certificates that are not the issued one are refused', async () => {
      const fresh = await api('POST', '/v1/subclouds', { name: 'sub-x' });
      const { bundle } = fresh.body as { bundle: string };
      const joinToken = JSON.parse(
        Buffer.from(bundle.slice('murm-join:'.length), 'base64url').toString(),
      ).token;
      const csr = 'not even a CSR';
      const first = await api('POST', '/v1/subcloud-enroll', { token: joinToken, csr });
      assert.equal(first.status, 400);
      const reused = await api('POST', '/v1/subcloud-enroll', { token: joinToken, csr });
      assert.equal(reused.status, 401);
      assert.match(reused.text, /already used/);
      const wrong = await api('POST', '/v1/subcloud-enroll', { token: 'murm_join_made-up', csr });
      assert.equal(wrong.status, 401);
      assert.match(await tryUplink(controller.url, controller.caPath, {}), /http 403/);
      const foreign = await makeCertificate({
        commonName: 'sub-a',
        notAfter: new Date(Date.now() + 86_400_000),
      });
      assert.match(
        await tryUplink(controller.url, controller.caPath, { key: foreign.keyPem, cert: foreign.pem }),
        /http 403|error/,
      );
      // sub-a's own certificate opens the uplink; the same certificate after a re-issue would not.
      const aDir = path.join(dataDirs.get('sub-a') ?? '', 'dc');
      const own = {
        key: fs.readFileSync(path.join(aDir, 'uplink.key'), 'utf8'),
        cert: fs.readFileSync(path.join(aDir, 'uplink.crt'), 'utf8'),
      };
      assert.equal(await tryUplink(controller.url, controller.caPath, own), 'open');
      await api('DELETE', '/v1/subclouds/sub-x');
    });

    test('a fleet-wide user created on the controller can log in on every subcloud', async () => {
      const created = await api('POST', '/v1/users', {
        name: 'fleet-op',
        roles: ['operator'],
        password: FLEET_PASSWORD,
        fleetWide: true,
      });
      assert.equal(created.status, 201, created.text);
      const ca = await makeCertificate({
        commonName: 'Fleet Root CA',
        isCa: true,
        notAfter: new Date(Date.now() + 86_400_000),
      });
      const trusted = await api('POST', '/v1/trusted-cas', { pem: ca.pem, fleetWide: true });
      assert.equal(trusted.status, 201, trusted.text);
      for (const name of NAMES) {
        const process = subclouds.get(name);
        assert.ok(process);
        const local = await loginOverHttps(process, 'admin', ADMIN_PASSWORD);
        await eventually(`fleet CA on ${name}`, async () => {
          const list = await httpsRequest(`${process.url}/v1/trusted-cas`, {
            caPath: process.caPath,
            token: local,
          });
          const items = (list.body as { items: { subject: string }[] }).items;
          return items.some((item) => item.subject.includes('Fleet Root CA')) ? true : undefined;
        });
        await eventually(`fleet-op on ${name}`, async () => {
          const login = await httpsRequest(`${process.url}/v1/auth/tokens`, {
            caPath: process.caPath,
            method: 'POST',
            body: { username: 'fleet-op', password: FLEET_PASSWORD },
          });
          return login.status === 201 ? true : undefined;
        });
        assert.equal((await subcloud(name)).syncStatus, 'in-sync');
      }
    });

    test('subcloud alarms are aggregated in the controller’s summary', async () => {
      const process = subclouds.get('sub-b');
      assert.ok(process);
      const raised = await raiseAlarmAsAdmin(process, ADMIN_PASSWORD, {
        alarmId: '100.101',
        severity: 'critical',
        reasonText: 'CPU',
      });
      assert.equal(raised.status, 201, raised.text);
      await eventually('critical count on sub-b', async () =>
        (await subcloud('sub-b')).alarms?.critical === 1 ? true : undefined,
      );
      const summary = (await api('GET', '/v1/dc/alarm-summary')).body as {
        items: { name: string; cloudStatus: string }[];
      };
      assert.equal(summary.items.find((item) => item.name === 'sub-b')?.cloudStatus, 'critical');
    });

    test('a killed subcloud goes offline with 280.001 within the bound; restarted, it clears', async () => {
      const process = subclouds.get('sub-c');
      assert.ok(process);
      const killedAt = Date.now();
      await process.stop('SIGKILL');
      const bound = 3 * PING_MS + 2 * PING_MS + 1000 + 1000;
      await eventually('280.001 for sub-c', async () =>
        (await alarmsOf('subcloud=sub-c')).some((a) => a.alarmId === '280.001') ? true : undefined,
      );
      const detectedMs = Date.now() - killedAt;
      assert.ok(detectedMs <= bound, `offline detected after ${detectedMs} ms, bound ${bound} ms`);
      const offline = await subcloud('sub-c');
      assert.equal(offline.availability, 'offline');
      assert.ok(offline.endpoints.every((e) => e.syncStatus === 'unknown'));
      await startSubcloud('sub-c');
      await eventually('sub-c back online and in sync', async () => {
        const s = await subcloud('sub-c');
        return s.availability === 'online' && s.syncStatus === 'in-sync' ? true : undefined;
      });
      assert.deepEqual(await alarmsOf('subcloud=sub-c'), []);
    });

    test('an unmanaged subcloud gets no pushes but its status is still shown', async () => {
      assert.equal((await api('POST', '/v1/subclouds/sub-a/unmanage')).status, 200);
      const created = await api('POST', '/v1/users', {
        name: 'fleet-late',
        roles: ['reader'],
        password: FLEET_PASSWORD,
        fleetWide: true,
      });
      assert.equal(created.status, 201);
      await eventually('sub-b receives fleet-late', async () =>
        (await subcloud('sub-b')).syncStatus === 'in-sync' ? true : undefined,
      );
      const a = await eventually('sub-a identity out-of-sync', async () => {
        const s = await subcloud('sub-a');
        return s.endpoints.find((e) => e.endpoint === 'identity')?.syncStatus === 'out-of-sync'
          ? s
          : undefined;
      });
      assert.equal(a.availability, 'online');
      assert.deepEqual(await alarmsOf('subcloud=sub-a'), [], 'no 280.002 for an unmanaged subcloud');
      const process = subclouds.get('sub-a');
      assert.ok(process);
      const login = await httpsRequest(`${process.url}/v1/auth/tokens`, {
        caPath: process.caPath,
        method: 'POST',
        body: { username: 'fleet-late', password: FLEET_PASSWORD },
      });
      assert.equal(login.status, 401, 'nothing was pushed to sub-a');
      assert.equal((await api('POST', '/v1/subclouds/sub-a/manage')).status, 200);
      await eventually('sub-a in sync once managed', async () =>
        (await subcloud('sub-a')).syncStatus === 'in-sync' ? true : undefined,
      );
    });

    test('autonomy: with the controller down a subcloud serves logins and alarms; on return it converges', async () => {
      await controller.stop();
      const process = subclouds.get('sub-b');
      assert.ok(process);
      const fleetLogin = await httpsRequest(`${process.url}/v1/auth/tokens`, {
        caPath: process.caPath,
        method: 'POST',
        body: { username: 'fleet-op', password: FLEET_PASSWORD },
      });
      assert.equal(fleetLogin.status, 201, 'a synced fleet-wide user logs in while the controller is down');
      const raised = await raiseAlarmAsAdmin(process, ADMIN_PASSWORD, {
        alarmId: '100.103',
        severity: 'major',
        reasonText: 'memory',
      });
      assert.equal(raised.status, 201, raised.text);
      const restartedAt = new Date().toISOString();
      await startController(new URL(controller.url).host);
      for (const name of NAMES) {
        // Seen after the restart: reconnected, not just remembered as online.
        await eventually(
          `${name} reconnected after the restart`,
          async () => {
            const s = (await subcloud(name)) as Subcloud & { lastSeenAt: string };
            return s.availability === 'online' && s.lastSeenAt > restartedAt ? true : undefined;
          },
          40_000,
        );
      }
      const all = await alarmsOf('subcloud=');
      assert.deepEqual(all, [], 'no subcloud alarms after a clean reconnect');
      await eventually('the alarm raised during the outage is counted', async () =>
        (await subcloud('sub-b')).alarms?.major === 1 ? true : undefined,
      );
      const events = await api('GET', '/v1/events?eventId=280.001&limit=100');
      const sets = (events.body as { items: EventRecord[] }).items.filter((e) => e.state === 'set');
      assert.equal(sets.length, 1, 'only sub-c’s one outage was ever raised');
    });
  });
}
