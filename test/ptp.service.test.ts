import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { discoverInventory } from '../src/agent/discover.js';
import type { RenderedFile } from '../src/inventory/agent-protocol.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { openTestSite, type TestSite } from './helpers/site.js';

type ErrorBody = { error: { code: string; message: string } };
type Instance = {
  name: string;
  service: string;
  parameters: { name: string; value: string }[];
  hosts: string[];
};
type HostPtp = {
  instances: string[];
  ports: { ifname: string; ptpInterface: string }[];
  appliedFiles: string[];
};
type Config = { revision: string; files: RenderedFile[] };

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'hosts', 'two-socket-smt');

for (const backend of BACKENDS) {
  describe(`ptp configuration on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let admin: string;

    const call = (method: string, url: string, body?: unknown) =>
      t.request({ method, url, body, token: admin });
    const refused = async (
      response: Promise<{ status: number; body: unknown }>,
      status: number,
      message: RegExp,
    ) => {
      const { status: actual, body } = await response;
      assert.equal(actual, status, JSON.stringify(body));
      assert.match((body as ErrorBody).error.message, message);
    };
    const activeAlarms = async (entity: string) => {
      const list = await call('GET', `/v1/alarms?entityInstance=${encodeURIComponent(entity)}&limit=100`);
      return (list.body as { items: { alarmId: string; entityInstanceId: string }[] }).items
        .filter((alarm) => alarm.entityInstanceId === entity)
        .map((alarm) => alarm.alarmId);
    };
    const hostStatus = async (hostname: string) =>
      ((await call('GET', `/v1/hosts/${hostname}`)).body as { configStatus: string }).configStatus;

    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      admin = await t.login('admin', 'Bootstrap-Pass-1');
      assert.equal((await call('POST', '/v1/hosts/controller-0/lock', {})).status, 200);
      assert.equal((await call('PATCH', '/v1/system', { mode: 'duplex' })).status, 200);
      const added = await call('POST', '/v1/hosts', { hostname: 'controller-1', personality: 'controller' });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      // controller-0 reports the recorded machine (NICs eno1, eno2, lo) and applies its first configuration.
      const inventory = await discoverInventory({
        sysfs: path.join(FIXTURE, 'sys'),
        procfs: path.join(FIXTURE, 'proc'),
      });
      const replies = await t.site.inventory.handleAgentFrame('controller-0', {
        type: 'hello',
        agentVersion: 'test',
        appliedRevision: null,
        inventory,
      });
      const first = replies[1] as Config;
      await t.site.inventory.handleAgentFrame('controller-0', { type: 'applied', revision: first.revision });
      assert.equal(await hostStatus('controller-0'), 'up-to-date');
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    test('adds, lists and shows ptp instances; refuses bad names, duplicates and unknown services', async () => {
      const added = await call('POST', '/v1/ptp/instances', { name: 'ptp1', service: 'ptp4l' });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      assert.deepEqual(added.body, { name: 'ptp1', service: 'ptp4l', parameters: [], hosts: [] });
      await refused(
        call('POST', '/v1/ptp/instances', { name: 'ptp1', service: 'ptp4l' }),
        409,
        /already exists/,
      );
      await refused(
        call('POST', '/v1/ptp/instances', { name: 'bad name', service: 'ptp4l' }),
        400,
        /may only contain/,
      );
      assert.equal((await call('POST', '/v1/ptp/instances', { name: 'x', service: 'ntpd' })).status, 400);
      const list = (await call('GET', '/v1/ptp/instances')).body as { items: Instance[] };
      assert.deepEqual(
        list.items.map((instance) => instance.name),
        ['ptp1'],
      );
      await refused(call('GET', '/v1/ptp/instances/nope'), 404, /ptp instance "nope" not found/);
    });

    test('refuses instance parameters unknown to the service or out of range, storing nothing', async () => {
      const set = await call('POST', '/v1/ptp/instances/ptp1/parameters', {
        parameters: ['domainNumber=24'],
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      await refused(
        call('POST', '/v1/ptp/instances/ptp1/parameters', { parameters: ['bogus=1'] }),
        400,
        /ptp4l has no parameter "bogus"/,
      );
      await refused(
        call('POST', '/v1/ptp/instances/ptp1/parameters', { parameters: ['domainNumber=300'] }),
        400,
        /"domainNumber" of ptp4l instance "ptp1".*\(got "300"\)/,
      );
      await refused(
        call('POST', '/v1/ptp/instances/ptp1/parameters', { parameters: ['nonsense'] }),
        400,
        /name=value/,
      );
      const replaced = await call('POST', '/v1/ptp/instances/ptp1/parameters', {
        parameters: ['domainNumber=25'],
      });
      assert.deepEqual((replaced.body as Instance).parameters, [{ name: 'domainNumber', value: '25' }]);
      await refused(call('DELETE', '/v1/ptp/instances/ptp1/parameters/nope'), 404, /nope/);
    });

    test('adds ptp interfaces with port parameters; refuses an unknown instance and bad values', async () => {
      await refused(call('POST', '/v1/ptp/interfaces', { name: 'if1', instance: 'nope' }), 404, /"nope"/);
      assert.equal(
        (await call('POST', '/v1/ptp/interfaces', { name: 'ptp1if', instance: 'ptp1' })).status,
        201,
      );
      const set = await call('POST', '/v1/ptp/interfaces/ptp1if/parameters', {
        parameters: ['announceReceiptTimeout=3'],
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      await refused(
        call('POST', '/v1/ptp/interfaces/ptp1if/parameters', { parameters: ['announceReceiptTimeout=1'] }),
        400,
        /announceReceiptTimeout/,
      );
      const shown = (await call('GET', '/v1/ptp/interfaces/ptp1if')).body as Instance;
      assert.deepEqual(shown.parameters, [{ name: 'announceReceiptTimeout', value: '3' }]);
    });

    test('assigns instances and host interfaces, checking the NICs the host reported', async () => {
      await refused(call('POST', '/v1/hosts/nope/ptp-instances', { instance: 'ptp1' }), 404, /host "nope"/);
      await refused(
        call('POST', '/v1/hosts/controller-0/ptp-instances', { instance: 'nope' }),
        404,
        /"nope"/,
      );
      assert.equal(
        (await call('POST', '/v1/hosts/controller-0/ptp-instances', { instance: 'ptp1' })).status,
        200,
      );
      await refused(
        call('POST', '/v1/hosts/controller-0/ptp-interfaces', { ifname: 'eth9', ptpInterface: 'ptp1if' }),
        400,
        /assigned to "eth9" on host "controller-0", which has no such interface \(it has eno1, eno2, lo\)/,
      );
      const assigned = await call('POST', '/v1/hosts/controller-0/ptp-interfaces', {
        ifname: 'eno1',
        ptpInterface: 'ptp1if',
      });
      assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
      assert.deepEqual((assigned.body as HostPtp).ports, [{ ifname: 'eno1', ptpInterface: 'ptp1if' }]);
      // Nothing is rendered before `ptp apply`.
      assert.equal(await hostStatus('controller-0'), 'up-to-date');
    });

    test('refuses a host interface in two ptp4l instances', async () => {
      await call('POST', '/v1/ptp/instances', { name: 'ptp2', service: 'ptp4l' });
      await call('POST', '/v1/ptp/interfaces', { name: 'ptp2if', instance: 'ptp2' });
      assert.equal(
        (await call('POST', '/v1/hosts/controller-0/ptp-instances', { instance: 'ptp2' })).status,
        200,
      );
      await refused(
        call('POST', '/v1/hosts/controller-0/ptp-interfaces', { ifname: 'eno1', ptpInterface: 'ptp2if' }),
        400,
        /interface "eno1" of host "controller-0" is a port of ptp4l instances "ptp1" and "ptp2"/,
      );
      const host = (await call('GET', '/v1/hosts/controller-0/ptp')).body as HostPtp;
      assert.deepEqual(host.ports, [{ ifname: 'eno1', ptpInterface: 'ptp1if' }]);
      assert.equal((await call('DELETE', '/v1/hosts/controller-0/ptp-instances/ptp2')).status, 200);
    });

    test('refuses a parameter the host’s linuxptp version does not know', async () => {
      await refused(
        call('POST', '/v1/ptp/instances/ptp1/parameters', { parameters: ['clientOnly=1'] }),
        400,
        /ptp4l \(linuxptp 3\.1\) on host "controller-0" has no parameter "clientOnly"/,
      );
      const four = await call('PUT', '/v1/hosts/controller-0/ptp', { linuxptpVersion: '4' });
      assert.equal(four.status, 200, JSON.stringify(four.body));
      assert.equal(
        (await call('POST', '/v1/ptp/instances/ptp1/parameters', { parameters: ['clientOnly=1'] })).status,
        200,
      );
      await refused(
        call('PUT', '/v1/hosts/controller-0/ptp', { linuxptpVersion: '3.1' }),
        400,
        /has no parameter "clientOnly"/,
      );
      assert.equal((await call('DELETE', '/v1/ptp/instances/ptp1/parameters/clientOnly')).status, 200);
      assert.equal((await call('PUT', '/v1/hosts/controller-0/ptp', { linuxptpVersion: '3.1' })).status, 200);
    });

    test('apply refuses a ptp4l instance without interfaces and a phc2sys without a source', async () => {
      // controller-1 has reported no inventory: its ports are not checked against NICs.
      assert.equal(
        (await call('POST', '/v1/hosts/controller-1/ptp-instances', { instance: 'ptp2' })).status,
        200,
      );
      await refused(
        call('POST', '/v1/ptp:apply'),
        400,
        /ptp4l instance "ptp2" has no interfaces on host "controller-1"/,
      );
      assert.equal(
        (
          await call('POST', '/v1/hosts/controller-1/ptp-interfaces', {
            ifname: 'eth5',
            ptpInterface: 'ptp2if',
          })
        ).status,
        200,
      );
      await refused(
        call('DELETE', '/v1/hosts/controller-1/ptp-instances/ptp2'),
        400,
        /its instance "ptp2" is not assigned to the host/,
      );
      await call('DELETE', '/v1/hosts/controller-1/ptp-interfaces/ptp2if/eth5');
      assert.equal((await call('DELETE', '/v1/hosts/controller-1/ptp-instances/ptp2')).status, 200);
      await call('POST', '/v1/ptp/instances', { name: 'phc1', service: 'phc2sys' });
      assert.equal(
        (await call('POST', '/v1/hosts/controller-1/ptp-instances', { instance: 'phc1' })).status,
        200,
      );
      await refused(
        call('POST', '/v1/ptp:apply'),
        400,
        /phc2sys instance "phc1" on host "controller-1" has no ptp4l/,
      );
      assert.equal((await call('DELETE', '/v1/hosts/controller-1/ptp-instances/phc1')).status, 200);
      assert.deepEqual(((await call('GET', '/v1/hosts/controller-0/ptp')).body as HostPtp).appliedFiles, []);
    });

    test('apply renders the host’s linuxptp files into its configuration; 250.001 until the agent applies', async () => {
      const applied = await call('POST', '/v1/ptp:apply');
      assert.equal(applied.status, 200, JSON.stringify(applied.body));
      const config = (await call('GET', '/v1/hosts/controller-0/config')).body as Config;
      const conf = config.files.find((file) => file.path === 'etc/linuxptp/ptp1.conf');
      assert.ok(conf, config.files.map((file) => file.path).join());
      assert.match(conf.content, /domainNumber\s+25/);
      assert.match(conf.content, /\[eno1\]/);
      assert.equal(await hostStatus('controller-0'), 'out-of-date');
      assert.ok((await activeAlarms('host=controller-0')).includes('250.001'));
      await t.site.inventory.handleAgentFrame('controller-0', { type: 'applied', revision: config.revision });
      assert.equal(await hostStatus('controller-0'), 'up-to-date');
      assert.ok(!(await activeAlarms('host=controller-0')).includes('250.001'));
    });

    test('refuses to delete an instance or interface that is still in use', async () => {
      await refused(call('DELETE', '/v1/ptp/instances/ptp1'), 409, /assigned to "controller-0"; remove it/);
      await refused(call('DELETE', '/v1/ptp/interfaces/ptp1if'), 409, /assigned to "controller-0\/eno1"/);
      await refused(call('DELETE', '/v1/ptp/instances/ptp2'), 409, /has ptp interfaces "ptp2if"/);
      assert.equal((await call('DELETE', '/v1/ptp/interfaces/ptp2if')).status, 204);
      assert.equal((await call('DELETE', '/v1/ptp/instances/ptp2')).status, 204);
    });

    test('state and applied files survive a restart of the site', async () => {
      const before = (await call('GET', '/v1/hosts/controller-0/config')).body as Config;
      await t.close();
      t = await openTestSite(database);
      admin = await t.login('admin', 'Bootstrap-Pass-1');
      const instance = (await call('GET', '/v1/ptp/instances/ptp1')).body as Instance;
      assert.deepEqual(instance, {
        name: 'ptp1',
        service: 'ptp4l',
        parameters: [{ name: 'domainNumber', value: '25' }],
        hosts: ['controller-0'],
      });
      const host = (await call('GET', '/v1/hosts/controller-0/ptp')).body as HostPtp;
      assert.ok(host.appliedFiles.includes('etc/linuxptp/ptp1.conf'));
      const after = (await call('GET', '/v1/hosts/controller-0/config')).body as Config;
      assert.equal(after.revision, before.revision);
      assert.equal(await hostStatus('controller-0'), 'up-to-date');
    });

    test('removing the assignments and applying takes the files off the host', async () => {
      await call('DELETE', '/v1/hosts/controller-0/ptp-interfaces/ptp1if/eno1');
      assert.equal((await call('DELETE', '/v1/hosts/controller-0/ptp-instances/ptp1')).status, 200);
      assert.equal((await call('POST', '/v1/ptp:apply')).status, 200);
      const config = (await call('GET', '/v1/hosts/controller-0/config')).body as Config;
      assert.ok(!config.files.some((file) => file.path.startsWith('etc/linuxptp/')));
      assert.equal(await hostStatus('controller-0'), 'out-of-date');
    });

    test('a deleted host keeps no files and its assignments can still be removed', async () => {
      await call('POST', '/v1/ptp/instances', { name: 'ptp9', service: 'ptp4l' });
      assert.equal(
        (await call('POST', '/v1/hosts/controller-1/ptp-instances', { instance: 'ptp9' })).status,
        200,
      );
      assert.equal((await call('DELETE', '/v1/hosts/controller-1')).status, 204);
      // Its incomplete ptp4l instance does not block apply for the hosts that remain.
      assert.equal((await call('POST', '/v1/ptp:apply')).status, 200);
      await refused(call('DELETE', '/v1/ptp/instances/ptp9'), 409, /assigned to "controller-1"/);
      assert.equal((await call('DELETE', '/v1/hosts/controller-1/ptp-instances/ptp9')).status, 200);
      assert.equal((await call('DELETE', '/v1/ptp/instances/ptp9')).status, 204);
      await refused(call('GET', '/v1/hosts/controller-1/ptp'), 404, /host "controller-1" not found/);
    });
  });
}
