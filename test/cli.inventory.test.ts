import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import type { HostInventory, LogicalCpu } from '../src/inventory/topology.js';
import { type CliSession, openCliSession } from './helpers/cli-session.js';
import {
  type AgentProcess,
  type CliResult,
  eventually,
  makeTempDir,
  startAgentProcess,
} from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';

interface SystemView {
  name: string;
  description: string;
  systemType: string;
  mode: string;
  region: string;
  softwareVersion: string;
}

interface HostView {
  hostname: string;
  personality: string;
  subfunctions: string[];
  administrative: string;
  operational: string;
  availability: string;
  labels: Record<string, string>;
  enrolled: boolean;
  configStatus: string;
}

interface Added {
  host: HostView;
  enrollment: { token: string; expiresAt: string };
}

interface AssignedCpu extends LogicalCpu {
  function: string;
}

let session: CliSession;
const agents: AgentProcess[] = [];

before(async () => {
  session = await openCliSession('cli-inventory', ADMIN_PASSWORD);
});

after(async () => {
  for (const agent of agents) await agent.stop();
  await session.server.stop();
});

function murm(args: string[]): Promise<CliResult> {
  return session.murm(args);
}

function json<T>(args: string[]): Promise<T> {
  return session.json<T>(args);
}

function assertFails(result: CliResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, `${result.stdout}${result.stderr}`);
  assert.match(result.stderr, message);
}

/** Runs the real `murm agent` for the token the CLI printed, discovering the recorded two-socket machine. */
function connectAgent(token: string): void {
  const { url, caPath } = session.server;
  agents.push(
    startAgentProcess({
      url,
      caPath,
      token,
      root: makeTempDir('cli-agent'),
      fixture: path.join(import.meta.dirname, 'fixtures', 'hosts', 'two-socket-smt'),
    }),
  );
}

/** Reads the host until `isDone` holds (the agent's frames are handled asynchronously). */
/** Reads the host through the CLI until `isDone` holds (its agent's frames are handled asynchronously). */
function waitForHost(hostname: string, isDone: (host: HostView) => boolean): Promise<HostView> {
  return eventually(`host "${hostname}" in the expected state`, async () => {
    const host = await json<HostView>(['host', 'show', hostname]);
    return isDone(host) ? host : undefined;
  });
}

// The tests share one site and run in order: the first ones need controller-0 unlocked in a simplex
// system; the mode test locks it and migrates the system to duplex, which lets the later ones add hosts.

test('shows the system as JSON and as a table', async () => {
  const system = await json<SystemView>(['system', 'show']);
  assert.equal(system.systemType, 'All-in-one');
  assert.equal(system.mode, 'simplex');
  assert.equal(typeof system.softwareVersion, 'string');
  const table = await murm(['system', 'show']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  assert.match(table.stdout, /^NAME: +\S+/m);
  assert.match(table.stdout, /^SYSTEM TYPE: +All-in-one$/m);
  assert.match(table.stdout, /^MODE: +simplex$/m);
});

test('changes the name, description and region, and needs at least one option', async () => {
  const changed = await json<SystemView>([
    'system',
    'modify',
    '--name',
    'edge-paris-1',
    '--description',
    'Paris edge, rack 4',
    '--region',
    'eu-west',
  ]);
  assert.deepEqual(
    [changed.name, changed.description, changed.region],
    ['edge-paris-1', 'Paris edge, rack 4', 'eu-west'],
  );
  const line = await murm(['system', 'modify', '--region', 'eu-south']);
  assert.equal(line.code, EXIT_CODES.ok, line.stderr);
  assert.match(line.stdout, /^system "edge-paris-1" \(All-in-one simplex, region eu-south\) modified\n$/);
  assertFails(await murm(['system', 'modify']), EXIT_CODES.usage, /nothing to change; give --name/);
  assertFails(await murm(['system', 'modify', '--mode', 'triplex']), EXIT_CODES.usage, /Allowed choices/);
});

test('refuses CPU changes on an unlocked host with the conflict exit code', async () => {
  const controller = await json<HostView>(['host', 'show', 'controller-0']);
  assert.equal(controller.administrative, 'unlocked');
  const refused = await murm([
    'host',
    'cpu',
    'modify',
    'controller-0',
    '--function',
    'platform',
    '--cores-on-numa0',
    '1',
  ]);
  assertFails(refused, EXIT_CODES.conflict, /^murm: .*locked/);
});

test('reports usage errors of cpu modify before calling the API', async () => {
  const base = ['host', 'cpu', 'modify', 'controller-0'];
  const [noCount, badCount, negative, noFunction, badFunction, highNode] = await Promise.all([
    murm([...base, '--function', 'platform']),
    murm([...base, '--function', 'platform', '--cores-on-numa0', 'two']),
    murm([...base, '--function', 'platform', '--cores-on-numa1', '-1']),
    murm([...base, '--cores-on-numa0', '1']),
    murm([...base, '--function', 'vswitch', '--cores-on-numa0', '1']),
    murm([...base, '--function', 'platform', '--cores-on-numa9', '1']),
  ]);
  assertFails(noCount, EXIT_CODES.usage, /at least one NUMA node, like --cores-on-numa0 2/);
  assertFails(badCount, EXIT_CODES.usage, /'--cores-on-numa0 <cores>' argument 'two' is invalid/);
  assertFails(negative, EXIT_CODES.usage, /whole number of physical cores/);
  assertFails(noFunction, EXIT_CODES.usage, /required option '--function <function>' not specified/);
  assertFails(
    badFunction,
    EXIT_CODES.usage,
    /Allowed choices are platform, application, application-isolated/,
  );
  assertFails(highNode, EXIT_CODES.usage, /unknown option '--cores-on-numa9'/);
});

test('refuses the duplex migration until controller-0 is locked, and the way back always', async () => {
  const refused = await murm(['system', 'modify', '--mode', 'duplex']);
  assertFails(refused, EXIT_CODES.conflict, /controller-0 must be locked/);
  const locked = await murm(['host', 'lock', 'controller-0']);
  assert.equal(locked.code, EXIT_CODES.ok, locked.stderr);
  assert.match(locked.stdout, /^host "controller-0" is locked, disabled, \w+\n$/);
  const duplex = await json<SystemView>(['system', 'modify', '--mode', 'duplex']);
  assert.equal(duplex.mode, 'duplex');
  const back = await murm(['system', 'modify', '--mode', 'simplex']);
  assertFails(back, EXIT_CODES.conflict, /cannot go back to simplex/);
});

let workerToken = '';

test('adds a host and prints its enrollment token once with the agent command to run', async () => {
  const result = await murm(['host', 'add', 'worker-0', '--personality', 'worker', '--label', 'zone=a']);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^added host "worker-0" \(worker, locked\)$/);
  assert.match(lines[1] ?? '', /^enrollment token for "worker-0", shown only this once, valid until \d{4}-/);
  const token = lines[2]?.trim() ?? '';
  assert.ok(token.length >= 16, `token "${token}"`);
  const { url, caPath } = session.server;
  assert.equal(lines[4], `  murm agent --controller ${url} --ca ${caPath} --token ${token} --root /`);
  const again = await murm(['host', 'enrollment-token', 'worker-0', '--agent-root', '/srv/agent']);
  assert.equal(again.code, EXIT_CODES.ok, again.stderr);
  workerToken = again.stdout.split('\n')[1]?.trim() ?? '';
  assert.notEqual(workerToken, token);
  assert.match(again.stdout, new RegExp(`--token ${workerToken} --root /srv/agent\\n$`));
});

test('prints the API answer of host add as JSON', async () => {
  const added = await json<Added>([
    'host',
    'add',
    'worker-1',
    '--personality',
    'worker',
    '--label',
    'zone=b',
    '--label',
    'ptp=grandmaster',
  ]);
  assert.equal(added.host.hostname, 'worker-1');
  assert.deepEqual(added.host.labels, { zone: 'b', ptp: 'grandmaster' });
  assert.equal(typeof added.enrollment.token, 'string');
  assert.equal(typeof added.enrollment.expiresAt, 'string');
});

test('lists hosts as a table and filters them by personality', async () => {
  const table = await murm(['host', 'list']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  const [header, ...rows] = table.stdout.trimEnd().split('\n');
  assert.match(header ?? '', /^HOSTNAME +PERSONALITY +ADMINISTRATIVE +OPERATIONAL +AVAILABILITY +CONFIG$/);
  assert.ok(rows.some((row) => /^controller-0 +controller +locked +disabled +\S+ +\S+$/.test(row)));
  assert.ok(rows.some((row) => /^worker-0 +worker +locked +disabled +offline +\S+$/.test(row)));
  const workers = await json<HostView[]>(['host', 'list', '--personality', 'worker']);
  assert.deepEqual(workers.map((host) => host.hostname).sort(), ['worker-0', 'worker-1']);
});

test('shows a host with a note while its agent has reported nothing, and says why it has no CPUs', async () => {
  const table = await murm(['host', 'show', 'worker-1']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  assert.match(table.stdout, /^HOSTNAME: +worker-1$/m);
  assert.match(table.stdout, /^LABELS: +ptp=grandmaster,zone=b$/m);
  assert.match(table.stdout, /^ENROLLED: +no$/m);
  assert.match(table.stdout, /^Inventory: not reported yet/m);
  const shown = await json<HostView & { inventory: unknown }>(['host', 'show', 'worker-1']);
  assert.equal(shown.personality, 'worker');
  assert.equal(shown.inventory, null);
  const cpus = await murm(['host', 'cpu', 'list', 'worker-1']);
  assertFails(cpus, EXIT_CODES.conflict, /^murm: no CPU inventory reported yet for worker-1/);
  assert.equal(cpus.stdout, '');
});

test('shows the inventory the agent of a host reported', async () => {
  connectAgent(workerToken);
  const host = await waitForHost('worker-0', (each) => each.availability === 'online');
  assert.equal(host.enrolled, true);
  const table = await murm(['host', 'show', 'worker-0']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  for (const line of [
    /^Inventory \(reported \d{4}-.*\):$/,
    /^CPU MODEL: +Intel\(R\) Xeon\(R\) Silver 4110 CPU @ 2\.10GHz$/,
    /^LOGICAL CPUS: +16$/,
    /^CORES: +8$/,
    /^PACKAGES: +2$/,
    /^NUMA NODES: +2$/,
    /^MEMORY: +31\.3 GiB total, 28\.7 GiB available$/,
    /^NAME +MAC +MTU +SPEED +DRIVER$/,
    /^eno1 +3c:fd:fe:a1:00:10 +9000 +10000 Mb\/s +ixgbe$/,
  ]) {
    assert.match(table.stdout, new RegExp(line.source, 'm'));
  }
  const shown = await json<HostView & { inventory: HostInventory }>(['host', 'show', 'worker-0']);
  assert.equal(shown.inventory.cpus.length, 16);
});

test('lists the CPUs of a host in number order with their siblings and function', async () => {
  const table = await murm(['host', 'cpu', 'list', 'worker-0']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  const [header, first, ...rest] = table.stdout.trimEnd().split('\n');
  assert.match(header ?? '', /^CPU +PACKAGE +CORE +THREAD +NUMA +FUNCTION +SIBLINGS$/);
  assert.match(first ?? '', /^0 +0 +0 +0 +0 +\S+ +0,8$/);
  assert.equal(rest.length, 15);
  const cpus = await json<AssignedCpu[]>(['host', 'cpu', 'list', 'worker-0']);
  assert.deepEqual(
    cpus.map((cpu) => cpu.cpu),
    Array.from({ length: 16 }, (_, index) => index),
  );
});

test('gives a function cores per NUMA node on a locked host, with all their threads', async () => {
  const args = ['host', 'cpu', 'modify', 'worker-0', '--function', 'platform'];
  const cpus = await json<AssignedCpu[]>([...args, '--cores-on-numa0', '1', '--cores-on-numa1', '1']);
  const platform = cpus.filter((cpu) => cpu.function === 'platform');
  assert.equal(platform.length, 4);
  assert.deepEqual(
    [0, 1].map((node) => platform.filter((cpu) => cpu.numaNode === node).length),
    [2, 2],
  );
  for (const cpu of platform)
    assert.equal(cpus.find((other) => other.cpu === cpu.siblings[1])?.function, 'platform');
  const table = await murm([...args, '--cores-on-numa0', '2']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  assert.match(
    table.stdout,
    /^host "worker-0": platform cores NUMA 0: 2; unlock the host to apply\nCPU +PACKAGE/,
  );
  const tooMany = await murm([...args, '--cores-on-numa0', '9']);
  assert.equal(tooMany.code, EXIT_CODES.usage, tooMany.stderr);
  assert.match(tooMany.stderr, /^murm: \S.*\n$/);
});

test('lists the configuration files of a host and prints one of them', async () => {
  const config = await json<{ revision: string; files: { path: string; mode: number; content: string }[] }>([
    'host',
    'config',
    'worker-0',
  ]);
  const [file] = config.files;
  assert.ok(file);
  const table = await murm(['host', 'config', 'worker-0']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  const [revision, header, ...rows] = table.stdout.trimEnd().split('\n');
  assert.equal(revision, `REVISION: ${config.revision}`);
  assert.match(header ?? '', /^PATH +MODE +BYTES$/);
  assert.equal(rows.length, config.files.length);
  const content = await murm(['host', 'config', 'worker-0', '--file', file.path]);
  assert.equal(content.code, EXIT_CODES.ok, content.stderr);
  assert.equal(content.stdout, file.content);
  assertFails(
    await murm(['host', 'config', 'worker-0', '--file', 'etc/nosuch']),
    EXIT_CODES.notFound,
    /host "worker-0" has no file "etc\/nosuch"/,
  );
});

test('unlocks and locks a host, and refuses CPU changes while it is unlocked', async () => {
  const unlocked = await murm(['host', 'unlock', 'worker-0']);
  assert.equal(unlocked.code, EXIT_CODES.ok, unlocked.stderr);
  assert.equal(unlocked.stdout, 'host "worker-0" is unlocked, enabled, available\n');
  const refused = await murm([
    'host',
    'cpu',
    'modify',
    'worker-0',
    '--function',
    'application-isolated',
    '--cores-on-numa1',
    '1',
  ]);
  assertFails(refused, EXIT_CODES.conflict, /worker-0 must be locked/);
  assertFails(await murm(['host', 'unlock', 'worker-0']), EXIT_CODES.conflict, /already unlocked/);
  const locked = await json<HostView>(['host', 'lock', 'worker-0']);
  assert.deepEqual([locked.administrative, locked.operational], ['locked', 'disabled']);
  assertFails(await murm(['host', 'unlock', 'worker-1']), EXIT_CODES.conflict, /agent must be connected/);
});

test('assigns and removes labels, and refuses words that are not key=value', async () => {
  const assigned = await json<HostView>(['host', 'label', 'assign', 'worker-0', 'zone=c', 'rack=4']);
  assert.deepEqual(assigned.labels, { zone: 'c', rack: '4' });
  const line = await murm(['host', 'label', 'remove', 'worker-0', 'zone']);
  assert.equal(line.code, EXIT_CODES.ok, line.stderr);
  assert.equal(line.stdout, 'host "worker-0" labels: rack=4\n');
  const [noEquals, noKey] = await Promise.all([
    murm(['host', 'label', 'assign', 'worker-0', 'zone']),
    murm(['host', 'label', 'assign', 'worker-0', '=a']),
  ]);
  assertFails(noEquals, EXIT_CODES.usage, /^murm: label "zone" is not of the form key=value/);
  assertFails(noKey, EXIT_CODES.usage, /^murm: label "=a" is not of the form key=value/);
  assertFails(
    await murm(['host', 'add', 'worker-9', '--personality', 'worker', '--label', 'zone']),
    EXIT_CODES.usage,
    /label "zone" is not of the form key=value/,
  );
});

test('tells an unknown host apart by the not-found exit code', async () => {
  const results = await Promise.all([
    murm(['host', 'show', 'nosuch']),
    murm(['host', 'lock', 'nosuch']),
    murm(['host', 'label', 'assign', 'nosuch', 'a=b']),
    murm(['host', 'cpu', 'list', 'nosuch']),
    murm(['host', 'enrollment-token', 'nosuch']),
  ]);
  for (const result of results) assertFails(result, EXIT_CODES.notFound, /host "nosuch" not found/);
});

test('deletes a locked host, and an unlocked one only with --force', async () => {
  const deleted = await murm(['host', 'delete', 'worker-1']);
  assert.equal(deleted.code, EXIT_CODES.ok, deleted.stderr);
  assert.equal(deleted.stdout, 'deleted host "worker-1"\n');
  assertFails(await murm(['host', 'show', 'worker-1']), EXIT_CODES.notFound, /host "worker-1" not found/);
  assert.equal((await murm(['host', 'unlock', 'worker-0'])).code, EXIT_CODES.ok);
  assertFails(await murm(['host', 'delete', 'worker-0']), EXIT_CODES.conflict, /or delete with --force/);
  const forced = await murm(['host', 'delete', 'worker-0', '--force']);
  assert.equal(forced.code, EXIT_CODES.ok, forced.stderr);
});
