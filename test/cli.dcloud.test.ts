import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import type { GroupView } from '../src/dcloud/groups.js';
import type { AlarmSummary, SubcloudDetail, SubcloudView } from '../src/dcloud/views.js';
import { httpsRequest } from './helpers/https.js';
import { type CliResult, makeTempDir, runCli, type ServerProcess, startServer } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const BUNDLE = /murm-join:[\w-]+/g;

interface Page {
  items: SubcloudView[];
  total: number;
  next?: string;
}

let server: ServerProcess;
let env: Record<string, string>;
let workDir: string;

// openCliSession starts a plain site; subclouds need a system controller, so this file logs in itself.
before(async () => {
  server = await startServer({ env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD }, args: ['--system-controller'] });
  workDir = makeTempDir('cli-dcloud');
  env = { MURM_URL: '', MURM_CA: '', MURM_TOKEN: '', MURM_CONFIG_DIR: path.join(workDir, 'config') };
  const login = await murm(['login', '--url', server.url, '--ca', server.caPath], {
    MURM_PASSWORD: ADMIN_PASSWORD,
  });
  assert.equal(login.code, EXIT_CODES.ok, login.stderr);
});

after(async () => {
  await server.stop();
});

function murm(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { env: { ...env, ...extra } });
}

async function json<T>(args: string[]): Promise<T> {
  const result = await murm([...args, '-o', 'json']);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  return JSON.parse(result.stdout) as T;
}

function assertOk(result: CliResult): void {
  assert.equal(result.code, EXIT_CODES.ok, `${result.stdout}${result.stderr}`);
}

function assertFails(result: CliResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, `${result.stdout}${result.stderr}`);
  assert.match(result.stderr, message);
}

function modeOf(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

// The tests share one system controller and run in order: groups first, then subclouds in them.

test('adds, lists, shows and modifies subcloud groups, and validates settings before calling the API', async () => {
  const initial = await json<{ name: string }[]>(['subcloud-group', 'list']);
  assert.deepEqual(
    initial.map((group) => group.name),
    ['Default'],
  );
  const added = await murm(['subcloud-group', 'add', 'east', '--update-apply-type', 'serial']);
  assertOk(added);
  assert.match(added.stdout, /^added subcloud group "east" \(serial, at most 2 at a time\)\n$/);
  const bulk = await json<GroupView>(['subcloud-group', 'add', 'bulk', '--max-parallel-subclouds', '5000']);
  assert.deepEqual([bulk.updateApplyType, bulk.maxParallelSubclouds, bulk.subclouds], ['parallel', 5000, 0]);

  for (const bad of ['0', '5001', 'ten']) {
    assertFails(
      await murm(['subcloud-group', 'add', 'x', '--max-parallel-subclouds', bad]),
      EXIT_CODES.usage,
      /from 1 to 5000/,
    );
  }
  assertFails(
    await murm(['subcloud-group', 'add', 'x', '--update-apply-type', 'random']),
    EXIT_CODES.usage,
    /Allowed choices are serial, parallel/,
  );
  assertFails(await murm(['subcloud-group', 'modify', 'east']), EXIT_CODES.usage, /nothing to change/);
  assertFails(await murm(['subcloud-group', 'add', 'east']), EXIT_CODES.conflict, /already exists/);

  const modified = await json<GroupView>([
    'subcloud-group',
    'modify',
    'east',
    '--max-parallel-subclouds',
    '10',
    '--description',
    'eastern sites',
  ]);
  assert.deepEqual([modified.updateApplyType, modified.maxParallelSubclouds], ['serial', 10]);
  const shown = await murm(['subcloud-group', 'show', 'east']);
  assertOk(shown);
  assert.match(shown.stdout, /^APPLY TYPE: +serial$/m);
  assert.match(shown.stdout, /^MAX PARALLEL: +10$/m);
  assert.match(shown.stdout, /^DESCRIPTION: +eastern sites$/m);
  const table = await murm(['subcloud-group', 'list']);
  assertOk(table);
  assert.match(table.stdout, /^NAME +APPLY TYPE +MAX PARALLEL +SUBCLOUDS +DESCRIPTION$/m);
  assert.match(table.stdout, /^Default +parallel +2 +0 /m);
  assertFails(await murm(['subcloud-group', 'show', 'west']), EXIT_CODES.notFound, /"west" not found/);
});

test('adds a subcloud and prints its join bundle once, with the commands that join it', async () => {
  const added = await murm(['subcloud', 'add', 'edge-1', '--location', 'Paris, rack 4', '--group', 'east']);
  assertOk(added);
  const bundles = added.stdout.match(BUNDLE) ?? [];
  assert.equal(bundles.length, 1, added.stdout);
  assert.match(
    added.stdout,
    /^added subcloud "edge-1" to group "east" \(unmanaged, offline until it joins\)$/m,
  );
  assert.match(added.stdout, /shown only this once/);
  assert.match(added.stdout, /^ {2}murm serve --join "\$BUNDLE"/m);
  assert.match(added.stdout, /^ {2}murm dc join "\$BUNDLE"/m);

  const scripted = await json<{ subcloud: SubcloudView; bundle: string }>(['subcloud', 'add', 'edge-2']);
  assert.match(scripted.bundle, /^murm-join:/);
  assert.deepEqual(
    [scripted.subcloud.name, scripted.subcloud.group, scripted.subcloud.management],
    ['edge-2', 'Default', 'unmanaged'],
  );
  assertFails(await murm(['subcloud', 'add', 'edge-1']), EXIT_CODES.conflict, /edge-1/);
  assertFails(await murm(['subcloud', 'add']), EXIT_CODES.usage, /give a subcloud name/);
});

test('writes the join bundle to a 0600 file with --bundle-file, and never over an existing file', async () => {
  const file = path.join(workDir, 'edge-3.bundle');
  const added = await murm(['subcloud', 'add', 'edge-3', '--bundle-file', file]);
  assertOk(added);
  assert.equal(modeOf(file), 0o600);
  assert.match(fs.readFileSync(file, 'utf8'), /^murm-join:[\w-]+\n$/);
  assert.doesNotMatch(added.stdout, BUNDLE);
  assert.ok(added.stdout.includes(`murm serve --join "$(cat ${file})"`), added.stdout);
  assert.ok(added.stdout.includes(`murm dc join --bundle-file ${file}`), added.stdout);

  // Refused before the subcloud exists, so no bundle is lost.
  assertFails(
    await murm(['subcloud', 'add', 'edge-4', '--bundle-file', file]),
    EXIT_CODES.usage,
    /exists already/,
  );
  assertFails(await murm(['subcloud', 'show', 'edge-4']), EXIT_CODES.notFound, /"edge-4" not found/);
});

test('adds subclouds from a file and writes each bundle to the bundle directory', async () => {
  const names = path.join(workDir, 'sites.csv');
  fs.writeFileSync(names, 'name,group\nsite-a,east\n# later: site-x\n\nsite-b\nsite-c , bulk\n');
  const dir = path.join(workDir, 'bundles');
  const added = await murm(['subcloud', 'add', '--from-file', names, '--bundle-dir', dir]);
  assertOk(added);
  assert.match(added.stderr, /adding 3 subclouds from /);
  assert.match(added.stdout, /^added 3 subclouds; wrote their join bundles to /);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['site-a.bundle', 'site-b.bundle', 'site-c.bundle']);
  for (const file of fs.readdirSync(dir)) {
    assert.equal(modeOf(path.join(dir, file)), 0o600);
    assert.match(fs.readFileSync(path.join(dir, file), 'utf8'), /^murm-join:/);
  }
  const groups = await Promise.all(
    ['site-a', 'site-b', 'site-c'].map(
      async (name) => (await json<SubcloudDetail>(['subcloud', 'show', name])).group,
    ),
  );
  assert.deepEqual(groups, ['east', 'Default', 'bulk']);

  const bad = path.join(workDir, 'bad.txt');
  fs.writeFileSync(bad, 'site-d\nSite_E\n');
  assertFails(
    await murm(['subcloud', 'add', '--from-file', bad, '--bundle-dir', dir]),
    EXIT_CODES.usage,
    /line 2 of .*bad\.txt: "Site_E" is not a valid subcloud name/,
  );
  fs.writeFileSync(bad, 'site-d\nsite-d\n');
  assertFails(
    await murm(['subcloud', 'add', '--from-file', bad, '--bundle-dir', dir]),
    EXIT_CODES.usage,
    /line 2 of .*: subcloud "site-d" is already on line 1/,
  );
  assertFails(await murm(['subcloud', 'add', '--from-file', bad]), EXIT_CODES.usage, /needs --bundle-dir/);

  // Refusals of the server name the line of the file; nothing of the file is added.
  fs.writeFileSync(bad, 'site-d\nsite-e,west\n');
  assertFails(
    await murm(['subcloud', 'add', '--from-file', bad, '--bundle-dir', dir]),
    EXIT_CODES.usage,
    /line 2 of .*bad\.txt: subcloud group "west" does not exist/,
  );
  fs.writeFileSync(bad, 'site-d\n\nsite-a\n');
  assertFails(
    await murm(['subcloud', 'add', '--from-file', bad, '--bundle-dir', path.join(workDir, 'more')]),
    EXIT_CODES.conflict,
    /line 3 of .*bad\.txt: subcloud "site-a" already exists/,
  );
  assertFails(await murm(['subcloud', 'show', 'site-d']), EXIT_CODES.notFound, /"site-d" not found/);
});

test('lists subclouds with filters and pages, with the count of all matches', async () => {
  const all = await json<Page>(['subcloud', 'list']);
  assert.equal(all.total, 6);
  assert.deepEqual(
    all.items.map((subcloud) => subcloud.name),
    ['edge-1', 'edge-2', 'edge-3', 'site-a', 'site-b', 'site-c'],
  );
  const east = await json<Page>(['subcloud', 'list', '--group', 'east']);
  assert.deepEqual([east.total, east.items.map((subcloud) => subcloud.name)], [2, ['edge-1', 'site-a']]);
  const offline = await json<Page>([
    'subcloud',
    'list',
    '--availability',
    'offline',
    '--management',
    'unmanaged',
  ]);
  assert.equal(offline.total, 6);
  assert.equal((await json<Page>(['subcloud', 'list', '--availability', 'online'])).total, 0);
  assert.equal((await json<Page>(['subcloud', 'list', '--sync-status', 'in-sync'])).total, 0);

  const page = await murm(['subcloud', 'list', '--limit', '2']);
  assertOk(page);
  const lines = page.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^NAME +GROUP +MANAGEMENT +AVAILABILITY +DEPLOY +SYNC +CLOUD STATUS$/);
  assert.match(lines[1] ?? '', /^edge-1 +east +unmanaged +offline +not-deployed +unknown +disabled$/);
  assert.equal(lines.length, 3);
  assert.match(page.stderr, /^2 of 6$/m);
  assert.match(page.stderr, /there are more subclouds: add --all, or --next \S+/);
  const rest = await murm(['subcloud', 'list', '--limit', '2', '--all']);
  assertOk(rest);
  assert.match(rest.stderr, /^6 of 6$/m);
  assertFails(
    await murm(['subcloud', 'list', '--sync-status', 'synced']),
    EXIT_CODES.usage,
    /Allowed choices/,
  );
});

test('shows a subcloud with its endpoint sync statuses', async () => {
  const shown = await murm(['subcloud', 'show', 'edge-1']);
  assertOk(shown);
  assert.match(shown.stdout, /^LOCATION: +Paris, rack 4$/m);
  assert.match(shown.stdout, /^MANAGEMENT: +unmanaged$/m);
  assert.match(shown.stdout, /^DEPLOY STATUS: +not-deployed$/m);
  assert.match(shown.stdout, /^LAST SEEN: +-$/m);
  assert.match(shown.stdout, /^CLOUD STATUS: +disabled$/m);
  assert.match(shown.stdout, /^ALARMS: +-$/m);
  assert.match(shown.stdout, /^Endpoints:\nENDPOINT +SYNC STATUS\n/m);
  assert.match(shown.stdout, /^identity +unknown$/m);
  const detail = await json<SubcloudDetail>(['subcloud', 'show', 'edge-1']);
  assert.deepEqual(detail.endpoints, [
    { endpoint: 'identity', syncStatus: 'unknown' },
    { endpoint: 'certificates', syncStatus: 'unknown' },
    { endpoint: 'dc-cert', syncStatus: 'unknown' },
  ]);
  assert.deepEqual([detail.softwareVersion, detail.alarms], [null, null]);
});

test('manages and unmanages a subcloud, and refuses a change that changes nothing', async () => {
  const managed = await murm(['subcloud', 'manage', 'edge-2']);
  assertOk(managed);
  assert.match(managed.stdout, /^subcloud "edge-2" is managed, offline, unknown\n$/);
  assertFails(await murm(['subcloud', 'manage', 'edge-2']), EXIT_CODES.conflict, /already managed/);
  assert.deepEqual(
    (await json<Page>(['subcloud', 'list', '--management', 'managed'])).items.map(
      (subcloud) => subcloud.name,
    ),
    ['edge-2'],
  );
  const unmanaged = await json<SubcloudView>(['subcloud', 'unmanage', 'edge-2']);
  assert.equal(unmanaged.management, 'unmanaged');
  assertOk(await murm(['subcloud', 'manage', 'edge-2']));
});

test('refuses to delete a managed subcloud unless forced', async () => {
  assertFails(await murm(['subcloud', 'delete', 'edge-2']), EXIT_CODES.conflict, /unmanage it first/);
  const forced = await murm(['subcloud', 'delete', 'edge-2', '--force']);
  assertOk(forced);
  assert.equal(forced.stdout, 'deleted subcloud "edge-2"\n');
  assertOk(await murm(['subcloud', 'delete', 'edge-3']));
  assertFails(await murm(['subcloud', 'show', 'edge-2']), EXIT_CODES.notFound, /"edge-2" not found/);
});

test('refuses to delete the Default group and a group with members', async () => {
  assertFails(
    await murm(['subcloud-group', 'delete', 'Default']),
    EXIT_CODES.conflict,
    /Default group cannot/,
  );
  assertFails(await murm(['subcloud-group', 'delete', 'east']), EXIT_CODES.conflict, /still has 2 subcloud/);
  assertOk(await murm(['subcloud', 'delete', 'site-c']));
  const deleted = await murm(['subcloud-group', 'delete', 'bulk']);
  assertOk(deleted);
  assert.equal(deleted.stdout, 'deleted subcloud group "bulk"\n');
  assertFails(await murm(['subcloud-group', 'delete', 'bulk']), EXIT_CODES.notFound, /not found/);
});

test('summarizes the alarms of every subcloud as a table with totals and as JSON', async () => {
  const summary = await json<AlarmSummary>(['dc', 'alarm', 'summary']);
  assert.deepEqual(
    summary.items.map((row) => row.name),
    ['edge-1', 'site-a', 'site-b'],
  );
  assert.deepEqual(
    summary.items.map((row) => row.cloudStatus),
    ['disabled', 'disabled', 'disabled'],
  );
  assert.deepEqual(summary.totals, {
    critical: 0,
    major: 0,
    minor: 0,
    warning: 0,
    cloudStatus: { OK: 0, degraded: 0, critical: 0, disabled: 3 },
  });
  const table = await murm(['dc', 'alarm', 'summary']);
  assertOk(table);
  assert.match(table.stdout, /^NAME +CRITICAL +MAJOR +MINOR +WARNING +CLOUD STATUS$/m);
  assert.match(table.stdout, /^edge-1 +- +- +- +- +disabled$/m);
  assert.match(
    table.stdout,
    /^total: 0 critical, 0 major, 0 minor, 0 warning; 3 subclouds: 0 OK, 0 degraded, 0 critical, 3 disabled$/m,
  );
});

test('answers the not-found exit code for an unknown subcloud', async () => {
  for (const args of [
    ['subcloud', 'show', 'nowhere'],
    ['subcloud', 'manage', 'nowhere'],
    ['subcloud', 'unmanage', 'nowhere'],
    ['subcloud', 'delete', 'nowhere'],
  ]) {
    assertFails(await murm(args), EXIT_CODES.notFound, /subcloud "nowhere" not found/);
  }
});

test('gives examples in the help of every subcloud command', async () => {
  const commands = [
    ['subcloud'],
    ...['list', 'show', 'add', 'manage', 'unmanage', 'delete'].map((name) => ['subcloud', name]),
    ['subcloud-group'],
    ...['list', 'show', 'add', 'modify', 'delete'].map((name) => ['subcloud-group', name]),
    ['dc', 'alarm', 'summary'],
  ];
  const results = await Promise.all(commands.map((args) => murm([...args, '--help'])));
  results.forEach((result, index) => {
    assertOk(result);
    assert.match(result.stdout, /\nExamples:\n {2}murm /, (commands[index] ?? []).join(' '));
  });
});

test('moves a subcloud to another group and re-issues its join bundle, which replaces the old one', async () => {
  await murm(['subcloud-group', 'add', 'moves']);
  const added = await json<{ bundle: string }>(['subcloud', 'add', 'mover']);
  const moved = await json<SubcloudView>([
    'subcloud',
    'modify',
    'mover',
    '--group',
    'moves',
    '--location',
    'rack 4',
  ]);
  assert.equal(moved.group, 'moves');
  assertFails(await murm(['subcloud', 'modify', 'mover']), EXIT_CODES.usage, /at least one of/);
  assertFails(
    await murm(['subcloud', 'modify', 'mover', '--group', 'nope']),
    EXIT_CODES.usage,
    /does not exist/,
  );
  const file = path.join(workDir, 'mover.bundle');
  const written = await murm(['subcloud', 'join-bundle', 'mover', '--bundle-file', file]);
  assertOk(written);
  assert.equal(modeOf(file), 0o600);
  const fresh = fs.readFileSync(file, 'utf8').trim();
  assert.match(fresh, /^murm-join:/);
  assert.notEqual(fresh, added.bundle);
  const tokenOf = (bundle: string) =>
    (JSON.parse(Buffer.from(bundle.slice('murm-join:'.length), 'base64url').toString()) as { token: string })
      .token;
  const enroll = async (token: string) =>
    (
      await httpsRequest(`${server.url}/v1/subcloud-enroll`, {
        caPath: server.caPath,
        method: 'POST',
        body: { token, csr: 'x' },
      })
    ).status;
  assert.equal(await enroll(tokenOf(added.bundle)), 401, 'the first bundle no longer works');
  assert.equal(await enroll(tokenOf(fresh)), 400, 'the new token is accepted (then the CSR is refused)');
  assertFails(await murm(['subcloud', 'join-bundle', 'nobody']), EXIT_CODES.notFound, /not found/);
});
