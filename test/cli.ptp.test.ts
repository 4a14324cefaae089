import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import { type CliSession, openCliSession } from './helpers/cli-session.js';
import type { CliResult } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';

interface Instance {
  name: string;
  service: string;
  parameters: { name: string; value: string }[];
  hosts: string[];
}

interface PtpInterface {
  name: string;
  instance: string;
  hostInterfaces: Record<string, string[]>;
}

interface HostPtp {
  instances: string[];
  ports: { ifname: string; ptpInterface: string }[];
  appliedFiles: string[];
}

let session: CliSession;

before(async () => {
  session = await openCliSession('cli-ptp', ADMIN_PASSWORD);
});

after(async () => {
  await session.server.stop();
});

function murm(args: string[]): Promise<CliResult> {
  return session.murm(args);
}

function assertOk(result: CliResult): void {
  assert.equal(result.code, EXIT_CODES.ok, `${result.stdout}${result.stderr}`);
}

function assertFails(result: CliResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, `${result.stdout}${result.stderr}`);
  assert.match(result.stderr, message);
}

test('ptp --help shows examples; a missing --service is a usage error', async () => {
  const help = await murm(['ptp', '--help']);
  assertOk(help);
  assert.match(help.stdout, /murm ptp instance add ptp1 --service ptp4l/);
  const instanceHelp = await murm(['ptp', 'instance', 'parameter', 'add', '--help']);
  assert.match(instanceHelp.stdout, /Examples:/);
  assertFails(await murm(['ptp', 'instance', 'add', 'ptp1']), EXIT_CODES.usage, /--service/);
  assertFails(await murm(['ptp', 'instance', 'add', 'ptp1', '--service', 'ntpd']), EXIT_CODES.usage, /ntpd/);
});

test('adds, shows and lists ptp instances with parameters; refuses bad ones', async () => {
  assertOk(await murm(['ptp', 'instance', 'add', 'ptp1', '--service', 'ptp4l']));
  assertFails(
    await murm(['ptp', 'instance', 'add', 'ptp1', '--service', 'ptp4l']),
    EXIT_CODES.conflict,
    /already exists/,
  );
  const set = await murm([
    'ptp',
    'instance',
    'parameter',
    'add',
    'ptp1',
    'domainNumber=24',
    'logging_level=6',
  ]);
  assertOk(set);
  assert.match(set.stdout, /ptp instance "ptp1" parameters: domainNumber=24, logging_level=6/);
  assertFails(
    await murm(['ptp', 'instance', 'parameter', 'add', 'ptp1', 'bogus=1']),
    EXIT_CODES.usage,
    /ptp4l has no parameter "bogus"/,
  );
  assertFails(
    await murm(['ptp', 'instance', 'parameter', 'add', 'ptp1', 'domainNumber']),
    EXIT_CODES.usage,
    /must be name=value/,
  );
  assertOk(await murm(['ptp', 'instance', 'parameter', 'remove', 'ptp1', 'logging_level']));
  const shown = await session.json<Instance>(['ptp', 'instance', 'show', 'ptp1']);
  assert.deepEqual(shown.parameters, [{ name: 'domainNumber', value: '24' }]);
  const list = await murm(['ptp', 'instance', 'list']);
  assertOk(list);
  assert.match(list.stdout, /NAME\s+SERVICE\s+PARAMETERS\s+HOSTS/);
  assert.match(list.stdout, /ptp1\s+ptp4l\s+domainNumber=24/);
  assertFails(await murm(['ptp', 'instance', 'show', 'nope']), EXIT_CODES.notFound, /"nope" not found/);
});

test('adds ptp interfaces, assigns them to a host and applies', async () => {
  assertFails(
    await murm(['ptp', 'interface', 'add', 'if1', '--instance', 'nope']),
    EXIT_CODES.notFound,
    /ptp instance "nope" not found/,
  );
  assertOk(await murm(['ptp', 'interface', 'add', 'ptp1if', '--instance', 'ptp1']));
  assertOk(await murm(['ptp', 'interface', 'parameter', 'add', 'ptp1if', 'announceReceiptTimeout=3']));
  assertFails(
    await murm(['host', 'ptp-instance', 'assign', 'nope', 'ptp1']),
    EXIT_CODES.notFound,
    /host "nope" not found/,
  );
  assertOk(await murm(['host', 'ptp-instance', 'assign', 'controller-0', 'ptp1']));
  assertFails(await murm(['ptp', 'apply']), EXIT_CODES.usage, /has no interfaces on host "controller-0"/);
  const assigned = await session.json<HostPtp>([
    'host',
    'if-ptp',
    'assign',
    'controller-0',
    'eth0',
    'ptp1if',
  ]);
  assert.deepEqual(assigned.ports, [{ ifname: 'eth0', ptpInterface: 'ptp1if' }]);
  const interfaces = await session.json<PtpInterface[]>(['ptp', 'interface', 'list']);
  assert.deepEqual(interfaces[0]?.hostInterfaces, { 'controller-0': ['eth0'] });
  const applied = await murm(['ptp', 'apply']);
  assertOk(applied);
  assert.match(applied.stdout, /new configuration for controller-0/);
  const again = await murm(['ptp', 'apply']);
  assert.match(again.stdout, /no host changed/);
});

test('refuses to delete what is in use, then removes assignments and deletes', async () => {
  assertFails(
    await murm(['ptp', 'instance', 'delete', 'ptp1']),
    EXIT_CODES.conflict,
    /assigned to "controller-0"/,
  );
  assertFails(
    await murm(['ptp', 'interface', 'delete', 'ptp1if']),
    EXIT_CODES.conflict,
    /controller-0\/eth0/,
  );
  assertOk(await murm(['host', 'if-ptp', 'remove', 'controller-0', 'eth0', 'ptp1if']));
  const removed = await session.json<HostPtp>(['host', 'ptp-instance', 'remove', 'controller-0', 'ptp1']);
  assert.deepEqual(removed.instances, []);
  assertFails(
    await murm(['ptp', 'instance', 'delete', 'ptp1']),
    EXIT_CODES.conflict,
    /has ptp interfaces "ptp1if"/,
  );
  assertOk(await murm(['ptp', 'interface', 'delete', 'ptp1if']));
  assertOk(await murm(['ptp', 'instance', 'delete', 'ptp1']));
  assert.deepEqual(await session.json<Instance[]>(['ptp', 'instance', 'list']), []);
  assertOk(await murm(['ptp', 'apply']));
});
