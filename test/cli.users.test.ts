import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { EXIT_CODES } from '../src/cli/program.js';
import { type CliResult, makeTempDir, runCli, type ServerProcess, startServer } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const USER_PASSWORD = 'User-Pass-1234';
const ROLE_USERS = { reader: 'rita', operator: 'otto', configurator: 'cora', admin: 'adam' } as const;

interface User {
  name: string;
  roles: string[];
  isEnabled: boolean;
  isLocked: boolean;
  failedAttempts: number;
}

let server: ServerProcess;
let adminDir: string;

before(async () => {
  // Two failed logins lock an account, so the unlock test needs only two attempts.
  server = await startServer({ env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD, MURM_LOCKOUT_ATTEMPTS: '2' } });
  adminDir = makeTempDir('cli-users');
  const result = await login('admin', ADMIN_PASSWORD, adminDir);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  const created = await Promise.all(
    Object.entries(ROLE_USERS).map(([role, name]) => admin(['user', 'create', name, '--roles', role])),
  );
  for (const each of created) assert.equal(each.code, EXIT_CODES.ok, each.stderr);
});

after(async () => {
  await server.stop();
});

/** Runs `murm` in a config dir, with no credentials or passwords from the environment of the test run. */
function murm(args: string[], dir: string, env: Record<string, string> = {}): Promise<CliResult> {
  const clean = { MURM_URL: '', MURM_CA: '', MURM_TOKEN: '', MURM_PASSWORD: '', MURM_NEW_PASSWORD: '' };
  return runCli(args, { env: { ...clean, MURM_CONFIG_DIR: dir, ...env } });
}

function admin(
  args: string[],
  env: Record<string, string> = { MURM_NEW_PASSWORD: USER_PASSWORD },
): Promise<CliResult> {
  return murm(args, adminDir, env);
}

function login(username: string, password: string, dir: string): Promise<CliResult> {
  return murm(['login', '--url', server.url, '--ca', server.caPath, '--username', username], dir, {
    MURM_PASSWORD: password,
  });
}

function parseUser(result: CliResult): User {
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  return JSON.parse(result.stdout) as User;
}

test('lists the users created with each role as JSON', async () => {
  const result = await admin(['user', 'list', '-o', 'json']);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  const users = JSON.parse(result.stdout) as User[];
  for (const [role, name] of Object.entries(ROLE_USERS)) {
    assert.deepEqual(users.find((user) => user.name === name)?.roles, [role]);
  }
});

test('prints the user list as a table with a header row', async () => {
  const result = await admin(['user', 'list']);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  const [header, ...rows] = result.stdout.trimEnd().split('\n');
  assert.match(header ?? '', /^NAME +ROLES +ENABLED +LOCKED +PASSWORD EXPIRES +CREATED +FLEET$/);
  assert.ok(rows.some((row) => /^otto +operator +yes +no +\d{4}-\d\d-\d\dT/.test(row)));
});

test('refuses user list to a reader with the forbidden exit code', async () => {
  const readerDir = makeTempDir('cli-reader');
  assert.equal((await login(ROLE_USERS.reader, USER_PASSWORD, readerDir)).code, EXIT_CODES.ok);
  const result = await murm(['user', 'list'], readerDir);
  assert.equal(result.code, EXIT_CODES.forbidden);
  assert.match(result.stderr, /^murm: user "rita" \(roles: reader\) may not administer[^\n]*\n$/);
});

test('tells missing users, duplicate names and weak passwords apart by exit code', async () => {
  const [missing, duplicate, weak] = await Promise.all([
    admin(['user', 'show', 'nosuch']),
    admin(['user', 'create', ROLE_USERS.operator, '--roles', 'operator']),
    admin(['user', 'create', 'weakling', '--roles', 'reader'], { MURM_NEW_PASSWORD: 'short' }),
  ]);
  assert.equal(missing.code, EXIT_CODES.notFound);
  assert.match(missing.stderr, /user "nosuch" not found/);
  assert.equal(duplicate.code, EXIT_CODES.conflict);
  assert.match(duplicate.stderr, /user "otto" already exists/);
  assert.equal(weak.code, EXIT_CODES.usage);
  assert.match(weak.stderr, /^murm: password needs at least 12 characters[^\n]*\n$/);
});

test('replaces the roles of a user with modify --roles', async () => {
  const user = parseUser(
    await admin(['user', 'modify', 'cora', '--roles', 'operator,configurator', '-o', 'json']),
  );
  assert.deepEqual(user.roles, ['operator', 'configurator']);
});

test('sets the password of another user as admin, and the user logs in with it', async () => {
  const newPassword = 'Otto-Pass-5678';
  const result = await admin(['user', 'set-password', 'otto'], { MURM_NEW_PASSWORD: newPassword });
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  assert.match(result.stdout, /password of "otto" changed/);
  assert.equal((await login('otto', newPassword, makeTempDir('cli-otto'))).code, EXIT_CODES.ok);
});

test('lets a user change their own password without a login, then with one and the current password', async () => {
  const dir = makeTempDir('cli-cora');
  const [first, second] = ['Cora-Pass-1111', 'Cora-Pass-2222'];
  const flags = ['--url', server.url, '--ca', server.caPath];
  const withoutLogin = await murm(['user', 'set-password', 'cora', ...flags], dir, {
    MURM_PASSWORD: USER_PASSWORD,
    MURM_NEW_PASSWORD: first,
  });
  assert.equal(withoutLogin.code, EXIT_CODES.ok, withoutLogin.stderr);
  assert.match(withoutLogin.stdout, /password of "cora" changed; log in with "murm login --username cora"/);
  assert.equal((await login('cora', first, dir)).code, EXIT_CODES.ok);
  const wrongCurrent = await murm(['user', 'set-password', 'cora'], dir, {
    MURM_PASSWORD: 'Wrong-Pass-123',
    MURM_NEW_PASSWORD: second,
  });
  assert.equal(wrongCurrent.code, EXIT_CODES.usage);
  assert.match(wrongCurrent.stderr, /the current password is wrong/);
  const loggedIn = await murm(['user', 'set-password', 'cora'], dir, {
    MURM_PASSWORD: first,
    MURM_NEW_PASSWORD: second,
  });
  assert.equal(loggedIn.code, EXIT_CODES.ok, loggedIn.stderr);
  assert.match(loggedIn.stdout, /password of "cora" changed\n/);
});

test('unlocks a user locked out by failed logins', async () => {
  const dir = makeTempDir('cli-locked');
  await login('adam', 'Wrong-Pass-123', dir);
  const locked = await login('adam', 'Wrong-Pass-123', dir);
  assert.equal(locked.code, EXIT_CODES.auth);
  assert.match(locked.stderr, /locked .*murm user unlock adam/);
  const user = parseUser(await admin(['user', 'unlock', 'adam', '-o', 'json']));
  assert.equal(user.isLocked, false);
  assert.equal(user.failedAttempts, 0);
});

test('deletes a user with --yes and refuses to without it when nobody can confirm', async () => {
  assert.equal((await admin(['user', 'create', 'temp', '--roles', 'reader'])).code, EXIT_CODES.ok);
  const unconfirmed = await admin(['user', 'delete', 'temp']);
  assert.equal(unconfirmed.code, EXIT_CODES.usage);
  assert.match(unconfirmed.stderr, /pass --yes/);
  const deleted = await admin(['user', 'delete', 'temp', '--yes']);
  assert.equal(deleted.code, EXIT_CODES.ok, deleted.stderr);
  assert.equal((await admin(['user', 'show', 'temp'])).code, EXIT_CODES.notFound);
});

test('prints a user as YAML that parses to the API object', async () => {
  const result = await admin(['user', 'show', 'admin', '-o', 'yaml']);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  const user = parse(result.stdout) as User;
  assert.equal(user.name, 'admin');
  assert.deepEqual(user.roles, ['admin']);
  assert.equal(user.isEnabled, true);
});
