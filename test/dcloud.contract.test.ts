import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Sim, startSim } from '../src/dcloud/sim.js';
import { SYNC_ENDPOINTS } from '../src/dcloud/uplink-protocol.js';
import { httpsRequest, loginOverHttps, raiseAlarmAsAdmin } from './helpers/https.js';
import { eventually, makeTempDir, REPO_ROOT, type ServerProcess, startServer } from './helpers/processes.js';
import { ADMIN_PASSWORD } from './helpers/site.js';

/**
 * One set of assertions about what a system controller sees of a subcloud, run against a real
 * subcloud (`murm serve --join`) and against one simulated by `murm sim`, so the simulator the
 * benchmarks rely on cannot drift from the real thing.
 */
interface SubcloudUnderTest {
  name: string;
  /** Makes the subcloud report one major alarm. */
  raiseMajorAlarm(): Promise<void>;
  /** Ends the subcloud abruptly (its uplink closes without a goodbye). */
  kill(): Promise<void>;
}

interface SubcloudDetail {
  availability: string;
  deployStatus: string;
  management: string;
  softwareVersion: string | null;
  endpoints: { endpoint: string; syncStatus: string }[];
}

/** Offline grace (2 pings + 1 s) plus the audit tick, with room for a loaded test machine. */
const OFFLINE_BOUND_MS = 15_000;
/** Shorter than the default 3 s so that the kill → offline step takes seconds, not tens of them. */
const PING_INTERVAL_MS = 1000;

const hasSystemController = fs
  .readFileSync(path.join(REPO_ROOT, 'src', 'murm.ts'), 'utf8')
  .includes('system-controller');

describe('a subcloud as the system controller sees it', {
  skip: hasSystemController ? false : 'murm serve --system-controller does not exist yet',
}, () => {
  let controller: ServerProcess;
  let token: string;
  const cleanups: (() => Promise<unknown>)[] = [];
  const api = async (method: string, urlPath: string, body?: unknown) =>
    httpsRequest(`${controller.url}${urlPath}`, {
      caPath: controller.caPath,
      token,
      method,
      ...(body === undefined ? {} : { body }),
    });

  before(async () => {
    controller = await startServer({
      args: ['--system-controller'],
      env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD, MURM_UPLINK_PING_INTERVAL_MS: String(PING_INTERVAL_MS) },
    });
    token = await loginOverHttps(controller, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await controller?.stop();
  });

  async function realSubcloud(): Promise<SubcloudUnderTest> {
    const name = 'real-1';
    const added = await api('POST', '/v1/subclouds', { name });
    assert.equal(added.status, 201, added.text);
    const bundle = (added.body as { bundle: string }).bundle;
    const subcloud = await startServer({
      args: ['--join', bundle],
      env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD },
    });
    cleanups.push(() => subcloud.stop('SIGKILL'));
    return {
      name,
      async raiseMajorAlarm() {
        const raised = await raiseAlarmAsAdmin(subcloud, ADMIN_PASSWORD, {
          alarmId: '100.101',
          severity: 'major',
          reasonText: 'contract test: CPU usage crossed the major threshold',
        });
        assert.ok(raised.status === 200 || raised.status === 201, raised.text);
      },
      kill: async () => {
        await subcloud.stop('SIGKILL');
      },
    };
  }

  async function simulatedSubcloud(): Promise<SubcloudUnderTest> {
    const sim: Sim = await startSim({
      controller: controller.url,
      caPath: controller.caPath,
      token,
      subclouds: 1,
      prefix: 'contract-sim',
      processes: 1,
      alarmRate: 0,
      disconnectRate: 0,
      isManaged: false,
      cacheDir: makeTempDir('sim-cache'),
      softwareVersion: '0.1.0',
      log: () => {},
    });
    cleanups.push(() => sim.stop());
    const name = sim.names[0] ?? '';
    return {
      name,
      async raiseMajorAlarm() {
        await eventually('the simulated uplink', async () =>
          (await sim.setAlarms(name, { critical: 0, major: 1, minor: 0, warning: 0 })) ? true : undefined,
        );
      },
      kill: () => sim.stop(),
    };
  }

  for (const [kind, make] of [
    ['a real subcloud (murm serve --join)', realSubcloud],
    ['a simulated subcloud (murm sim)', simulatedSubcloud],
  ] as const) {
    test(`${kind}: online after join, in sync once managed, alarms in the summary, 280.001 when killed`, async () => {
      const subcloud = await make();
      const detail = async () => {
        const res = await api('GET', `/v1/subclouds/${subcloud.name}`);
        assert.equal(res.status, 200, res.text);
        return res.body as SubcloudDetail;
      };

      const joined = await eventually(
        `${subcloud.name} online`,
        async () => {
          const d = await detail();
          return d.availability === 'online' ? d : undefined;
        },
        30_000,
      );
      assert.equal(joined.deployStatus, 'complete');
      assert.ok(joined.softwareVersion);
      assert.deepEqual(joined.endpoints.map((e) => e.endpoint).sort(), [...SYNC_ENDPOINTS].sort());

      const managed = await api('POST', `/v1/subclouds/${subcloud.name}/manage`, {});
      assert.equal(managed.status, 200, managed.text);
      await eventually(`${subcloud.name} identity and certificates in-sync`, async () => {
        const d = await detail();
        const status = (endpoint: string) => d.endpoints.find((e) => e.endpoint === endpoint)?.syncStatus;
        return status('identity') === 'in-sync' && status('certificates') === 'in-sync' ? true : undefined;
      });

      await subcloud.raiseMajorAlarm();
      await eventually(`${subcloud.name}'s major alarm in the summary`, async () => {
        const res = await api('GET', '/v1/dc/alarm-summary');
        const item = (res.body as { items: { name: string; major: number | null }[] }).items.find(
          (i) => i.name === subcloud.name,
        );
        return (item?.major ?? 0) >= 1 ? true : undefined;
      });

      const killedAt = Date.now();
      await subcloud.kill();
      await eventually(
        `280.001 for ${subcloud.name}`,
        async () => {
          const res = await api('GET', '/v1/alarms?alarmId=280.001');
          const items = (res.body as { items: { entityInstanceId: string }[] }).items;
          return items.some((a) => a.entityInstanceId === `subcloud=${subcloud.name}`) ? true : undefined;
        },
        OFFLINE_BOUND_MS,
      );
      assert.equal((await detail()).availability, 'offline');
      assert.ok(Date.now() - killedAt <= OFFLINE_BOUND_MS);
    });
  }
});
