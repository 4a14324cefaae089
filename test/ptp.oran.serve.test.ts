import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveServeConfig } from '../src/core/config.js';
import {
  addHostWithAgent,
  applyPtp4lInstance,
  FIXTURE_NIC,
  type OranSite,
  startOranSite,
} from './helpers/oran-site.js';
import { type AgentProcess, eventually, runCli } from './helpers/processes.js';

const HOSTNAME = 'worker-0';
const LOCK_STATE = `/./${HOSTNAME}/sync/ptp-status/lock-state`;

interface Subscription {
  SubscriptionId: string;
  ResourceAddress: string;
  EndpointUri: string;
  UriLocation: string;
}

test('--oran-listen and MURM_ORAN_LISTEN: off by default, the flag wins, bad values name their source', () => {
  assert.equal(resolveServeConfig({}, {}, '/tmp').oranListen, undefined);
  assert.deepEqual(resolveServeConfig({}, { MURM_ORAN_LISTEN: '10.0.0.2:8080' }, '/tmp').oranListen, {
    host: '10.0.0.2',
    port: 8080,
  });
  assert.deepEqual(
    resolveServeConfig({ oranListen: '[::1]:9090' }, { MURM_ORAN_LISTEN: '10.0.0.2:8080' }, '/tmp')
      .oranListen,
    { host: '::1', port: 9090 },
  );
  assert.throws(
    () => resolveServeConfig({}, { MURM_ORAN_LISTEN: 'port-8080' }, '/tmp'),
    (error: unknown) => (error as { details?: { field?: string } }).details?.field === 'MURM_ORAN_LISTEN',
  );
});

/**
 * `murm serve --oran-listen`: the O-RAN notification API on its own plain-HTTP listener, fed by the
 * agents' ptp4l monitors through the status registry. No ptp4l runs here: the agent's monitor finds no
 * daemon at the rendered socket, which is a status too (FREERUN, not running), so this needs no root.
 */
describe('murm serve --oran-listen', () => {
  let site: OranSite;
  let agent: AgentProcess | undefined;

  before(async () => {
    site = await startOranSite();
  });
  after(async () => {
    await agent?.stop();
    await site.stop();
  });

  test('answers health without a token on its own listener, and nothing of the site API', async () => {
    const health = await fetch(`${site.oranBase}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'OK' });
    const origin = new URL(site.oranBase).origin;
    assert.equal((await fetch(`${origin}/v1/alarms`)).status, 404);
    // And the site API does not serve the O-RAN routes.
    const onApi = await site.api('GET', '/ocloudNotifications/v2/health');
    assert.equal(onApi.status, 404);
  });

  test('refuses a malformed --oran-listen with the flag named', async () => {
    const result = await runCli(['serve', '--oran-listen', 'nowhere', '--data-dir', '/nonexistent']);
    assert.notEqual(result.code, 0);
    assert.match(`${result.stdout}${result.stderr}`, /listen address "nowhere" is not host:port/);
  });

  test('refuses a subscription to a node that reports no PTP status', async () => {
    const response = await fetch(`${site.oranBase}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ EndpointUri: 'http://127.0.0.1:9/events', ResourceAddress: LOCK_STATE }),
    });
    assert.equal(response.status, 404);
    assert.match(((await response.json()) as { message: string }).message, /worker-0/);
  });

  test('keeps subscriptions across a restart of the process', async () => {
    const started = await addHostWithAgent(site, HOSTNAME);
    agent = started.agent;
    await applyPtp4lInstance(site, {
      hostname: HOSTNAME,
      root: started.root,
      instance: `serve${process.pid}`,
      ifname: FIXTURE_NIC,
      parameters: ['domainNumber=24', 'slaveOnly=1'],
    });
    // The agent's monitor has polled (no daemon: FREERUN, not running) and reported it.
    const state = await eventually('worker-0 lock-state from the agent', async () => {
      const response = await fetch(`${site.oranBase}${LOCK_STATE}/CurrentState`);
      return response.status === 200
        ? ((await response.json()) as { data: { values: { value: string }[] } })
        : undefined;
    });
    assert.equal(state.data.values[0]?.value, 'FREERUN');
    const created = await fetch(`${site.oranBase}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ EndpointUri: 'http://127.0.0.1:9/events', ResourceAddress: LOCK_STATE }),
    });
    assert.equal(created.status, 201);
    const subscription = (await created.json()) as Subscription;

    // SIGTERM: both listeners close, pending work ends, exit 0.
    const stopped = site.server;
    assert.equal(await site.restart(), 0, stopped.output());
    const listed = (await (await fetch(`${site.oranBase}/subscriptions`)).json()) as Subscription[];
    assert.deepEqual(
      listed.map((s) => [s.SubscriptionId, s.ResourceAddress, s.EndpointUri]),
      [[subscription.SubscriptionId, LOCK_STATE, 'http://127.0.0.1:9/events']],
    );
    const one = await fetch(`${site.oranBase}/subscriptions/${subscription.SubscriptionId}`);
    assert.equal(one.status, 200);
    // Statuses live in memory: the node is known again once its agent has reconnected and reported.
    await eventually('worker-0 known again after the restart', async () => {
      const response = await fetch(`${site.oranBase}${LOCK_STATE}/CurrentState`);
      return response.status === 200 ? true : undefined;
    });
    // The same endpoint and address again is a conflict: the stored row survived, not just a list.
    const again = await fetch(`${site.oranBase}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ EndpointUri: 'http://127.0.0.1:9/events', ResourceAddress: LOCK_STATE }),
    });
    assert.equal(again.status, 409);
  });
});
