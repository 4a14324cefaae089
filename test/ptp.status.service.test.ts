import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { discoverInventory } from '../src/agent/discover.js';
import type { MonitorDirective, PtpStatusPayload } from '../src/inventory/agent-protocol.js';
import type { HostInventory } from '../src/inventory/topology.js';
import type { NodeSyncStatus } from '../src/ptp/oran/status-source.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { openTestSite, type TestSite } from './helpers/site.js';

type Config = { type: string; revision: string; monitors?: MonitorDirective[] };
type StatusBody = {
  hostname: string;
  osClock?: string | null;
  instances: {
    instance: string;
    service: string;
    isPrimary: boolean;
    reportedAt: string | null;
    status: {
      state: string;
      clockClass: number;
      offsetNs: number | null;
      ports: unknown[];
      osClock: Record<string, unknown> | null;
    } | null;
  }[];
};

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'hosts', 'two-socket-smt');
const HOST = 'controller-0';
const ENTITY = `host=${HOST}.instance=ptp1.ptp`;
const PHC_ENTITY = `host=${HOST}.instance=phc1.ptp`;
const NO_SOURCE = `host=${HOST}.phc2sys=phc1.phc2sys=no-source-clock`;

/** What the agent's os-clock monitor sends for phc1 (os-clock-state.ts), with its alarms' full entities. */
function osClockPayload(
  state: PtpStatusPayload['state'],
  alarms: [entity: string, severity: 'major' | 'minor'][],
): PtpStatusPayload {
  const isLocked = state === 'LOCKED';
  return {
    state,
    since: '2026-01-01T00:00:00.000Z',
    observedAt: '2026-01-01T00:00:02.000Z',
    isRunning: !alarms.some(([entity]) => entity === PHC_ENTITY),
    source: isLocked ? 'ptp' : 'none',
    clockClass: isLocked ? 6 : 248,
    ...(isLocked ? { offsetNs: 20 } : {}),
    osClock: isLocked ? { sourceInstance: 'ptp1', phcInterface: 'eno1', phcOffsetNs: -37_000_000_020 } : {},
    alarms: alarms.map(([entityInstanceId, severity]) => ({
      alarmId: '100.119',
      entityTypeId: 'host',
      entityInstanceId,
      severity,
      reasonText: `phc1 ${entityInstanceId} ${severity}`,
    })),
  };
}

function payload(state: PtpStatusPayload['state'], alarms: [string, 'major' | 'minor'][]): PtpStatusPayload {
  return {
    state,
    since: '2026-01-01T00:00:00.000Z',
    observedAt: '2026-01-01T00:00:01.000Z',
    isRunning: !alarms.some(([suffix]) => suffix === ''),
    source: state === 'LOCKED' ? 'ptp' : 'none',
    clockClass: state === 'LOCKED' ? 6 : 248,
    ...(state === 'LOCKED' ? { offsetNs: 5, gmIdentity: '020000.fffe.000001' } : {}),
    ports: [{ portNumber: 1, portState: state === 'LOCKED' ? 'SLAVE' : 'LISTENING' }],
    alarms: alarms.map(([suffix, severity]) => ({
      alarmId: '100.119',
      entityTypeId: 'host',
      entityInstanceId: `${ENTITY}${suffix}`,
      severity,
      reasonText: `ptp1 ${suffix || 'not running'} ${severity}`,
    })),
  };
}

for (const backend of BACKENDS) {
  describe(`ptp status from agents on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let admin: string;
    let inventory: HostInventory;
    const nodes: NodeSyncStatus[] = [];

    const call = (method: string, url: string, body?: unknown) =>
      t.request({ method, url, body, token: admin });
    const frame = (value: unknown) =>
      t.site.inventory.handleAgentFrame(
        HOST,
        value as Parameters<TestSite['site']['inventory']['handleAgentFrame']>[1],
      );
    const status = (state: PtpStatusPayload['state'], alarms: [string, 'major' | 'minor'][] = []) =>
      frame({ type: 'ptp-status', instance: 'ptp1', status: payload(state, alarms) });
    /** Active 100.119 alarms of ptp1 as `suffix:severity`. */
    const alarms = () =>
      ['', '=no-lock', '=out-of-tolerance'].flatMap((suffix) => {
        const active = t.site.fault.findActive('100.119', `${ENTITY}${suffix}`);
        return active ? [`${suffix || 'ptp'}:${active.severity}`] : [];
      });
    const ptpEvents = async () => {
      const list = await call('GET', '/v1/events?eventId=100.119&limit=1000');
      assert.equal(list.status, 200, JSON.stringify(list.body));
      return (list.body as { items: unknown[] }).items.length;
    };

    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      admin = await t.login('admin', 'Bootstrap-Pass-1');
      t.site.ptpStatus.onChange((node) => nodes.push(node));
      assert.equal((await call('POST', `/v1/hosts/${HOST}/lock`, {})).status, 200);
      assert.equal((await call('PATCH', '/v1/system', { mode: 'duplex' })).status, 200);
      inventory = await discoverInventory({
        sysfs: path.join(FIXTURE, 'sys'),
        procfs: path.join(FIXTURE, 'proc'),
      });
      const replies = (await frame({
        type: 'hello',
        agentVersion: 'test',
        appliedRevision: null,
        inventory,
        linuxptpVersion: '3.1.1',
      })) as Config[];
      await frame({ type: 'applied', revision: replies[1]?.revision });
      for (const [method, url, body] of [
        ['POST', '/v1/ptp/instances', { name: 'ptp1', service: 'ptp4l' }],
        ['POST', '/v1/ptp/instances/ptp1/parameters', { parameters: ['domainNumber=24'] }],
        ['POST', '/v1/ptp/interfaces', { name: 'ptp1if', instance: 'ptp1' }],
        ['POST', `/v1/hosts/${HOST}/ptp-instances`, { instance: 'ptp1' }],
        ['POST', `/v1/hosts/${HOST}/ptp-interfaces`, { ifname: 'eno1', ptpInterface: 'ptp1if' }],
        ['POST', '/v1/ptp/instances', { name: 'phc1', service: 'phc2sys' }],
        ['POST', `/v1/hosts/${HOST}/ptp-instances`, { instance: 'phc1' }],
        ['POST', '/v1/ptp:apply', {}],
      ] as const) {
        const response = await call(method, url, body);
        assert.ok(response.status < 300, `${method} ${url}: ${JSON.stringify(response.body)}`);
      }
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    test('the host configuration tells the agent to monitor each ptp4l instance at its uds_address and each phc2sys instance', async () => {
      const [, config] = (await frame({
        type: 'hello',
        agentVersion: 'test',
        appliedRevision: null,
        inventory,
      })) as Config[];
      assert.equal(config?.type, 'config');
      assert.deepEqual(config?.monitors, [
        { kind: 'ptp4l', instance: 'ptp1', udsAddress: '/var/run/ptp4l-ptp1', domainNumber: 24 },
        {
          kind: 'phc2sys',
          instance: 'phc1',
          configPath: '/etc/linuxptp/phc1.conf',
          sources: [{ ptp4l: 'ptp1', interfaces: ['eno1'] }],
        },
      ]);
      const listed = await call('GET', `/v1/hosts/${HOST}/ptp/status`);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body, {
        hostname: HOST,
        osClock: null,
        instances: [
          { instance: 'ptp1', service: 'ptp4l', isPrimary: true, reportedAt: null, status: null },
          { instance: 'phc1', service: 'phc2sys', isPrimary: false, reportedAt: null, status: null },
        ],
      });
    });

    test('raises and clears 100.119 as reported, once, and publishes each change', async () => {
      const eventsBefore = await ptpEvents();
      await status('LOCKED');
      assert.deepEqual(alarms(), []);
      t.clock.advance(10);
      await status('FREERUN', [['=no-lock', 'major']]);
      assert.deepEqual(alarms(), ['=no-lock:major']);
      // The agent repeats its statuses after every hello: nothing is raised again.
      await status('FREERUN', [['=no-lock', 'major']]);
      await status('FREERUN', [['=no-lock', 'major']]);
      assert.equal(await ptpEvents(), eventsBefore + 1);
      await status('LOCKED', [['=out-of-tolerance', 'minor']]);
      assert.deepEqual(alarms(), ['=out-of-tolerance:minor']);
      await status('FREERUN', [['', 'major']]);
      assert.deepEqual(alarms(), ['ptp:major']);
      await status('LOCKED');
      assert.deepEqual(alarms(), []);
      assert.deepEqual(
        nodes.map((node) => `${node.node}:${node.ptp.state}:${node.ptp.alarms.length}`),
        [
          `${HOST}:LOCKED:0`,
          `${HOST}:FREERUN:1`,
          `${HOST}:LOCKED:1`,
          `${HOST}:FREERUN:1`,
          `${HOST}:LOCKED:0`,
        ],
      );
      const shown = (await call('GET', `/v1/hosts/${HOST}/ptp/status`)).body as StatusBody;
      assert.equal(shown.instances[0]?.status?.state, 'LOCKED');
      assert.equal(shown.instances[0]?.status?.clockClass, 6);
      assert.equal(shown.instances[0]?.status?.offsetNs, 5);
      assert.deepEqual(shown.instances[0]?.status?.ports, [{ portNumber: 1, portState: 'SLAVE' }]);
      assert.equal(shown.instances[0]?.reportedAt, t.clock.now().toISOString());
    });

    test('refuses alarms of another host or instance and statuses that are not valid', async () => {
      const foreign = payload('FREERUN', []);
      foreign.alarms = [
        {
          alarmId: '100.119',
          entityTypeId: 'host',
          entityInstanceId: 'host=controller-1.instance=ptp1.ptp=no-lock',
          severity: 'major',
          reasonText: 'spoofed',
        },
      ];
      await assert.rejects(
        frame({ type: 'ptp-status', instance: 'ptp1', status: foreign }),
        /not a condition/,
      );
      assert.equal(
        t.site.fault.findActive('100.119', 'host=controller-1.instance=ptp1.ptp=no-lock'),
        undefined,
      );
      const badTime = { ...payload('LOCKED', []), since: 'yesterday' };
      await assert.rejects(frame({ type: 'ptp-status', instance: 'ptp1', status: badTime }), /ISO-8601/);
      // An instance the configuration does not have is dropped, not an error.
      await frame({ type: 'ptp-status', instance: 'ptp9', status: payload('FREERUN', []) });
      assert.equal(t.site.ptpStatus.instances(HOST).length, 2);
      // The phc2sys condition is phc2sys instances' only, and their details are checked.
      const borrowed = osClockPayload('FREERUN', [[NO_SOURCE, 'major']]);
      await assert.rejects(
        frame({ type: 'ptp-status', instance: 'ptp1', status: borrowed }),
        /not a condition/,
      );
      const badDetails = { ...osClockPayload('LOCKED', []), osClock: { phcOffsetNs: 'soon' } };
      await assert.rejects(
        frame({ type: 'ptp-status', instance: 'phc1', status: badDetails }),
        /phcOffsetNs/,
      );
      assert.equal(t.site.fault.findActive('100.119', NO_SOURCE), undefined);
    });

    test("fills the node's osClock from phc2sys frames and raises and clears their 100.119", async () => {
      const osClock = (state: PtpStatusPayload['state'], alarms: [string, 'major' | 'minor'][] = []) =>
        frame({ type: 'ptp-status', instance: 'phc1', status: osClockPayload(state, alarms) });
      const active = () =>
        [PHC_ENTITY, `${PHC_ENTITY}=no-lock`, `${PHC_ENTITY}=out-of-tolerance`, NO_SOURCE].flatMap(
          (entity) => {
            const alarm = t.site.fault.findActive('100.119', entity);
            return alarm ? [`${entity.replace(/^.*\.(ptp|phc2sys)/, '$1')}:${alarm.severity}`] : [];
          },
        );
      await status('LOCKED');
      const seen = nodes.length;
      await osClock('FREERUN', [[PHC_ENTITY, 'major']]);
      assert.deepEqual(active(), ['ptp:major']);
      assert.equal(t.site.ptpStatus.current(HOST)?.osClock, 'FREERUN');
      await osClock('FREERUN', [
        [NO_SOURCE, 'major'],
        [`${PHC_ENTITY}=no-lock`, 'major'],
      ]);
      assert.deepEqual(active(), ['ptp=no-lock:major', 'phc2sys=no-source-clock:major']);
      await osClock('LOCKED');
      assert.deepEqual(active(), []);
      assert.equal(t.site.ptpStatus.current(HOST)?.osClock, 'LOCKED');
      await osClock('LOCKED');
      await osClock('HOLDOVER', [[`${PHC_ENTITY}=out-of-tolerance`, 'minor']]);
      assert.deepEqual(active(), ['ptp=out-of-tolerance:minor']);
      // The O-RAN API hears each os-clock change once, with the ptp4l state unchanged.
      assert.deepEqual(
        nodes.slice(seen).map((node) => `${node.ptp.state}/${node.osClock}`),
        ['LOCKED/FREERUN', 'LOCKED/LOCKED', 'LOCKED/HOLDOVER'],
      );
      const shown = (await call('GET', `/v1/hosts/${HOST}/ptp/status`)).body as StatusBody;
      assert.equal(shown.osClock, 'HOLDOVER');
      assert.equal(shown.instances[1]?.service, 'phc2sys');
      assert.deepEqual(shown.instances[1]?.status?.osClock, {
        sourceInstance: null,
        phcInterface: null,
        phcOffsetNs: null,
        phcError: null,
      });
      assert.equal(shown.instances[0]?.status?.osClock, null);
      await osClock('LOCKED');
      const locked = (await call('GET', `/v1/hosts/${HOST}/ptp/status`)).body as StatusBody;
      assert.deepEqual(locked.instances[1]?.status?.osClock, {
        sourceInstance: 'ptp1',
        phcInterface: 'eno1',
        phcOffsetNs: -37_000_000_020,
        phcError: null,
      });
      assert.equal(locked.instances[1]?.status?.offsetNs, 20);
      assert.deepEqual(active(), []);
    });

    test('answers 404 for an unknown host and an empty list for a host without ptp', async () => {
      const unknown = await call('GET', '/v1/hosts/nope/ptp/status');
      assert.equal(unknown.status, 404);
      assert.match((unknown.body as { error: { message: string } }).error.message, /host "nope" not found/);
      assert.equal((await t.request({ method: 'GET', url: `/v1/hosts/${HOST}/ptp/status` })).status, 401);
      const added = await call('POST', '/v1/hosts', { hostname: 'controller-1', personality: 'controller' });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const reader = await t.userWithRole('reader');
      const empty = await t.request({
        method: 'GET',
        url: '/v1/hosts/controller-1/ptp/status',
        token: reader,
      });
      assert.deepEqual(empty.body, { hostname: 'controller-1', instances: [] });
    });

    test('uses the detected linuxptp version unless an operator set one', async () => {
      const shown = async () =>
        (await call('GET', `/v1/hosts/${HOST}/ptp`)).body as {
          linuxptpVersion: string;
          linuxptpOverride: string | null;
          linuxptpDetected: string | null;
        };
      const first = await shown();
      assert.deepEqual(
        [first.linuxptpVersion, first.linuxptpOverride, first.linuxptpDetected],
        ['3.1', null, '3.1.1'],
      );
      await frame({ type: 'inventory', inventory, linuxptpVersion: '4.2' });
      assert.equal((await shown()).linuxptpVersion, '4');
      assert.equal((await shown()).linuxptpDetected, '4.2');
      const set = await call('PUT', `/v1/hosts/${HOST}/ptp`, { linuxptpVersion: '3.1' });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal((await shown()).linuxptpVersion, '3.1');
      await frame({ type: 'inventory', inventory, linuxptpVersion: '4.3' });
      assert.equal((await shown()).linuxptpVersion, '3.1');
      assert.equal((await call('PUT', `/v1/hosts/${HOST}/ptp`, { linuxptpVersion: null })).status, 200);
      assert.deepEqual(
        { version: (await shown()).linuxptpVersion, override: (await shown()).linuxptpOverride },
        { version: '4', override: null },
      );
      // Not installed any more: back to the default.
      await frame({ type: 'inventory', inventory, linuxptpVersion: null });
      assert.equal((await shown()).linuxptpVersion, '3.1');
    });

    test('clears every alarm of an instance removed from the host and forgets its status', async () => {
      await frame({
        type: 'ptp-status',
        instance: 'phc1',
        status: osClockPayload('FREERUN', [[NO_SOURCE, 'major']]),
      });
      assert.equal(t.site.fault.findActive('100.119', NO_SOURCE)?.severity, 'major');
      assert.equal((await call('DELETE', `/v1/hosts/${HOST}/ptp-instances/phc1`)).status, 200);
      assert.equal((await call('POST', '/v1/ptp:apply', {})).status, 200);
      assert.equal(t.site.fault.findActive('100.119', NO_SOURCE), undefined);
      assert.equal(t.site.ptpStatus.current(HOST)?.osClock, undefined);
      await status('FREERUN', [['=no-lock', 'major']]);
      assert.deepEqual(alarms(), ['=no-lock:major']);
      assert.equal((await call('DELETE', `/v1/hosts/${HOST}/ptp-interfaces/ptp1if/eno1`)).status, 200);
      assert.equal((await call('DELETE', `/v1/hosts/${HOST}/ptp-instances/ptp1`)).status, 200);
      assert.equal((await call('POST', '/v1/ptp:apply', {})).status, 200);
      assert.deepEqual(alarms(), []);
      const shown = (await call('GET', `/v1/hosts/${HOST}/ptp/status`)).body as StatusBody;
      assert.deepEqual(shown.instances, []);
      assert.equal(t.site.ptpStatus.current(HOST), undefined);
    });
  });
}
