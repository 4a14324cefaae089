import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { discoverInventory } from '../src/agent/discover.js';
import { ensureSitePki, loadX509 } from '../src/certs/site-pki.js';
import type { RenderedFile } from '../src/inventory/agent-protocol.js';
import type { HostInventory } from '../src/inventory/topology.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { openTestSite, type TestSite } from './helpers/site.js';

type ErrorBody = { error: { code: string; message: string } };
type Host = {
  hostname: string;
  administrative: string;
  availability: string;
  configStatus: string;
  labels: object;
};
type Alarm = { alarmId: string; entityInstanceId: string; severity: string };

const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'hosts');

async function fixtureInventory(name: string): Promise<HostInventory> {
  const root = path.join(FIXTURES, name);
  return discoverInventory({ sysfs: path.join(root, 'sys'), procfs: path.join(root, 'proc') });
}

/** A real PKCS#10 request signed by a fresh P-256 key, as an agent would send. */
async function makeCsr(): Promise<string> {
  const x509 = await loadX509();
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=ignored',
    keys,
    signingAlgorithm: algorithm,
  });
  return csr.toString('pem');
}

for (const backend of BACKENDS) {
  describe(`inventory on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let admin: string;
    let operator: string;
    const pushed: { hostname: string; revision: string; files: RenderedFile[] }[] = [];
    const removed: string[] = [];

    const call = (method: string, url: string, body?: unknown, token = admin) =>
      t.request({ method, url, body, token });
    const activeAlarms = async (entity: string) => {
      const list = await call('GET', `/v1/alarms?entityInstance=${encodeURIComponent(entity)}&limit=100`);
      return (list.body as { items: Alarm[] }).items
        .filter((alarm) => alarm.entityInstanceId === entity)
        .map((a) => a.alarmId);
    };

    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      admin = await t.login('admin', 'Bootstrap-Pass-1');
      operator = await t.userWithRole('operator');
      t.site.inventory.subscribe({
        configChanged: (hostname, revision, files) => pushed.push({ hostname, revision, files }),
        removed: (hostname) => removed.push(hostname),
      });
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    test('starts as an All-in-one simplex system with controller-0 unlocked and no agent yet', async () => {
      const system = await call('GET', '/v1/system');
      assert.equal(system.status, 200);
      assert.equal((system.body as { systemType: string }).systemType, 'All-in-one');
      assert.equal((system.body as { mode: string }).mode, 'simplex');
      const hosts = (await call('GET', '/v1/hosts')).body as { items: Host[] };
      assert.deepEqual(
        hosts.items.map((h) => [h.hostname, h.administrative, h.availability]),
        [['controller-0', 'unlocked', 'offline']],
      );
    });

    test('refuses a second host in simplex and points to the migration', async () => {
      const refused = await call('POST', '/v1/hosts', {
        hostname: 'controller-1',
        personality: 'controller',
      });
      assert.equal(refused.status, 412);
      assert.match((refused.body as ErrorBody).error.message, /murm system modify --mode duplex/);
    });

    test('migrates simplex → duplex only with controller-0 locked, never back', async () => {
      const early = await call('PATCH', '/v1/system', { mode: 'duplex' });
      assert.equal(early.status, 412);
      assert.match((early.body as ErrorBody).error.message, /controller-0 must be locked/);
      const denied = await call('POST', '/v1/hosts/controller-0/lock', {}, operator.replace(/.$/, 'x'));
      assert.equal(denied.status, 401);
      const locked = await call('POST', '/v1/hosts/controller-0/lock', {}, operator);
      assert.equal(locked.status, 200, JSON.stringify(locked.body));
      assert.deepEqual(await activeAlarms('host=controller-0'), ['200.001']);
      const migrated = await call('PATCH', '/v1/system', { mode: 'duplex', description: 'lab' });
      assert.equal(migrated.status, 200);
      assert.equal((migrated.body as { mode: string }).mode, 'duplex');
      const back = await call('PATCH', '/v1/system', { mode: 'simplex' });
      assert.equal(back.status, 412);
      const events = await call('GET', '/v1/events?eventId=200.021&limit=10');
      const entities = (events.body as { items: { entityInstanceId: string }[] }).items.map(
        (e) => e.entityInstanceId,
      );
      assert.ok(entities.includes('host=controller-0.command=migrate-to-duplex'), entities.join());
      const empty = await call('PATCH', '/v1/system', {});
      assert.equal(empty.status, 400);
    });

    test('adds controller-1 locked with a one-time enrollment token; refuses bad input', async () => {
      const added = await call('POST', '/v1/hosts', {
        hostname: 'controller-1',
        personality: 'controller',
        labels: { rack: 'r1' },
      });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const body = added.body as { host: Host; enrollment: { token: string } };
      assert.equal(body.host.administrative, 'locked');
      assert.match(body.enrollment.token, /^murm_enroll_/);
      assert.deepEqual(await activeAlarms('host=controller-1'), ['200.001']);
      assert.equal(
        (await call('POST', '/v1/hosts', { hostname: 'controller-1', personality: 'controller' })).status,
        409,
      );
      assert.equal(
        (await call('POST', '/v1/hosts', { hostname: 'Bad_Name', personality: 'worker' })).status,
        400,
      );
      assert.equal(
        (await call('POST', '/v1/hosts', { hostname: 'worker-0', personality: 'router' })).status,
        400,
      );
      assert.equal(
        (await call('POST', '/v1/hosts', { hostname: 'worker-9', personality: 'worker' }, operator)).status,
        403,
      );
      assert.equal((await call('GET', '/v1/hosts/nope')).status, 404);
    });

    test('enrolls an agent once per token and issues a client certificate for the host', async () => {
      await ensureSitePki({ dataDir: t.config.dataDir, hosts: ['localhost'], now: new Date() });
      const { token } = (await call('POST', '/v1/hosts/controller-1/enrollment-token')).body as {
        token: string;
      };
      const csr = await makeCsr();
      const bad = await call('POST', '/v1/agent/enroll', { token: 'murm_enroll_nope', csr }, '');
      assert.equal(bad.status, 401);
      assert.match((bad.body as ErrorBody).error.message, /unknown, expired or already used/);
      const garbage = await call('POST', '/v1/agent/enroll', { token, csr: 'not a csr' }, '');
      assert.equal(garbage.status, 400);
      // The garbage CSR spent the token: a token works once, whatever happens after.
      const reused = await call('POST', '/v1/agent/enroll', { token, csr }, '');
      assert.equal(reused.status, 401);
      const fresh = (await call('POST', '/v1/hosts/controller-1/enrollment-token')).body as { token: string };
      const enrolled = await call('POST', '/v1/agent/enroll', { token: fresh.token, csr }, '');
      assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
      const { certificate, hostname } = enrolled.body as { certificate: string; hostname: string };
      assert.equal(hostname, 'controller-1');
      const cert = new X509Certificate(certificate);
      assert.equal(cert.subject, 'CN=controller-1');
      const fingerprint = cert.fingerprint256.replaceAll(':', '').toLowerCase();
      assert.equal(t.site.inventory.agentFor('controller-1', fingerprint), 'controller-1');
      assert.throws(() => t.site.inventory.agentFor('controller-0', fingerprint), /does not belong/);
      assert.equal((await call('GET', '/v1/hosts/controller-1')).body && true, true);
      assert.equal(
        ((await call('GET', '/v1/hosts/controller-1')).body as { enrolled: boolean }).enrolled,
        true,
      );
    });

    test('agent hello stores inventory, renders config, raises 250.001 until applied', async () => {
      const inventory = await fixtureInventory('two-socket-smt');
      const replies = await t.site.inventory.handleAgentFrame('controller-1', {
        type: 'hello',
        agentVersion: 'test',
        appliedRevision: null,
        inventory,
      });
      assert.equal((replies[0] as { type: string }).type, 'welcome');
      const config = replies[1] as { type: string; revision: string; files: RenderedFile[] };
      assert.equal(config.type, 'config');
      assert.ok(config.files.some((file) => file.path === 'etc/murm/platform-cpuset'));
      const host = (await call('GET', '/v1/hosts/controller-1')).body as Host;
      assert.equal(host.availability, 'online');
      assert.equal(host.configStatus, 'out-of-date');
      assert.deepEqual((await activeAlarms('host=controller-1')).sort(), ['200.001', '250.001']);
      await t.site.inventory.handleAgentFrame('controller-1', { type: 'applied', revision: config.revision });
      assert.deepEqual(await activeAlarms('host=controller-1'), ['200.001']);
      const reported = (await call('GET', '/v1/hosts/controller-1/inventory')).body as HostInventory;
      assert.equal(reported.cpus.length, 16);
      const cpus = (await call('GET', '/v1/hosts/controller-1/cpus')).body as {
        items: { function: string }[];
      };
      assert.equal(
        cpus.items.filter((cpu) => cpu.function === 'platform').length,
        2,
        'default: one core, two threads',
      );
    });

    test('CPU functions: refused while unlocked; on a locked host they re-render and push the config', async () => {
      const before = pushed.length;
      const modified = await call('PUT', '/v1/hosts/controller-1/cpu-functions', {
        function: 'application-isolated',
        coresPerNuma: { '0': 1, '1': 2 },
      });
      assert.equal(modified.status, 200, JSON.stringify(modified.body));
      const items = (modified.body as { items: { cpu: number; function: string; siblings: number[] }[] })
        .items;
      const isolated = items.filter((cpu) => cpu.function === 'application-isolated').map((cpu) => cpu.cpu);
      assert.equal(isolated.length, 6, 'three physical cores, two threads each');
      for (const cpu of items) {
        const functions = new Set(
          items.filter((other) => cpu.siblings.includes(other.cpu)).map((o) => o.function),
        );
        assert.equal(functions.size, 1, `siblings of cpu ${cpu.cpu} share one function`);
      }
      assert.equal(pushed.length, before + 1);
      assert.equal(pushed.at(-1)?.hostname, 'controller-1');
      assert.ok(pushed.at(-1)?.files.some((f) => f.content.includes('isolcpus=')));
      assert.ok((await activeAlarms('host=controller-1')).includes('250.001'));
      const unsatisfiable = await call('PUT', '/v1/hosts/controller-1/cpu-functions', {
        function: 'platform',
        coresPerNuma: { '7': 1 },
      });
      assert.equal(unsatisfiable.status, 400);
      await t.site.inventory.handleAgentFrame('controller-1', {
        type: 'applied',
        revision: pushed.at(-1)?.revision ?? '',
      });
      const unlocked = await call('POST', '/v1/hosts/controller-1/unlock', undefined, operator);
      assert.equal(unlocked.status, 200, JSON.stringify(unlocked.body));
      assert.equal((unlocked.body as Host).availability, 'available');
      assert.deepEqual(await activeAlarms('host=controller-1'), []);
      const refused = await call('PUT', '/v1/hosts/controller-1/cpu-functions', {
        function: 'platform',
        coresPerNuma: { '0': 2 },
      });
      assert.equal(refused.status, 412);
      assert.match((refused.body as ErrorBody).error.message, /must be locked/);
    });

    test('missed heartbeats make a host offline with 200.005; the next hello clears it', async () => {
      t.clock.advance(10);
      assert.deepEqual(
        await t.site.inventory.checkHeartbeats(),
        [],
        'two missed heartbeats are not yet three',
      );
      await t.site.inventory.handleAgentFrame('controller-1', { type: 'heartbeat', appliedRevision: null });
      t.clock.advance(15.001);
      assert.deepEqual(await t.site.inventory.checkHeartbeats(), ['controller-1']);
      assert.equal(((await call('GET', '/v1/hosts/controller-1')).body as Host).availability, 'offline');
      assert.ok((await activeAlarms('host=controller-1')).includes('200.005'));
      await t.site.inventory.handleAgentFrame('controller-1', {
        type: 'hello',
        agentVersion: 'test',
        appliedRevision: pushed.at(-1)?.revision ?? null,
        inventory: await fixtureInventory('two-socket-smt'),
      });
      assert.equal(((await call('GET', '/v1/hosts/controller-1')).body as Host).availability, 'available');
      assert.deepEqual(await activeAlarms('host=controller-1'), []);
    });

    test('labels: assign, overwrite, remove; unknown label is 404', async () => {
      const assigned = await call('POST', '/v1/hosts/controller-1/labels', {
        labels: { rack: 'r2', zone: 'a' },
      });
      assert.deepEqual((assigned.body as Host).labels, { rack: 'r2', zone: 'a' });
      const removedLabel = await call('DELETE', '/v1/hosts/controller-1/labels/zone');
      assert.deepEqual((removedLabel.body as Host).labels, { rack: 'r2' });
      assert.equal((await call('DELETE', '/v1/hosts/controller-1/labels/zone')).status, 404);
      assert.equal(
        (await call('POST', '/v1/hosts/controller-1/labels', { labels: { 'bad key!': 'x' } })).status,
        400,
      );
    });

    test('state survives a restart of the site on the same database', async () => {
      await t.close();
      t = await openTestSite(database);
      admin = await t.login('admin', 'Bootstrap-Pass-1');
      const host = (await call('GET', '/v1/hosts/controller-1')).body as Host & { enrolled: boolean };
      assert.deepEqual(host.labels, { rack: 'r2' });
      assert.equal(host.enrolled, true);
      assert.equal(((await call('GET', '/v1/system')).body as { mode: string }).mode, 'duplex');
      const cpus = (await call('GET', '/v1/hosts/controller-1/cpus')).body as {
        items: { function: string }[];
      };
      assert.equal(cpus.items.filter((cpu) => cpu.function === 'application-isolated').length, 6);
    });

    test('delete: refused for an unlocked host and for controller-0; forced delete clears its alarms', async () => {
      const refused = await call('DELETE', '/v1/hosts/controller-1');
      assert.equal(refused.status, 412);
      assert.match((refused.body as ErrorBody).error.message, /lock it first/);
      assert.equal((await call('DELETE', '/v1/hosts/controller-0?force=true')).status, 412);
      await t.site.inventory.handleAgentFrame('controller-1', { type: 'applied', revision: 'stale' });
      assert.ok((await activeAlarms('host=controller-1')).includes('250.001'));
      assert.equal((await call('DELETE', '/v1/hosts/controller-1?force=true')).status, 204);
      assert.deepEqual(await activeAlarms('host=controller-1'), []);
      assert.equal((await call('GET', '/v1/hosts/controller-1')).status, 404);
    });
  });
}
