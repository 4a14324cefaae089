import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureSitePki } from '../src/certs/site-pki.js';
import { EXIT_CODES } from '../src/cli/program.js';
import { type CliResult, makeTempDir, runCli, type ServerProcess, startServer } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';

let server: ServerProcess;
let configDir: string;

before(async () => {
  server = await startServer({ env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  configDir = makeTempDir('cli-login');
});

after(async () => {
  await server.stop();
});

/** Runs `murm` with its own config dir and no credentials from the environment of the test run. */
function murm(args: string[], env: Record<string, string> = {}, dir = configDir): Promise<CliResult> {
  return runCli(args, { env: { MURM_CONFIG_DIR: dir, MURM_URL: '', MURM_CA: '', MURM_TOKEN: '', ...env } });
}

function login(extra: string[] = [], env: Record<string, string> = {}, dir = configDir): Promise<CliResult> {
  return murm(['login', '--url', server.url, ...extra], { MURM_PASSWORD: ADMIN_PASSWORD, ...env }, dir);
}

/** One line on stderr, prefixed "murm:". */
function assertOneLine(result: CliResult, pattern: RegExp): void {
  assert.match(result.stderr, /^murm: [^\n]+\n$/);
  assert.match(result.stderr, pattern);
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test('logs in with MURM_PASSWORD and keeps URL, CA and token, never the password, in a 0600 file', async () => {
  const result = await login(['--ca', server.caPath]);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  assert.match(result.stdout, /logged in to https:\/\/127\.0\.0\.1:\d+ as "admin"/);
  const file = path.join(configDir, 'credentials.json');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(configDir).mode & 0o777, 0o700);
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(!text.includes(ADMIN_PASSWORD));
  const stored = JSON.parse(text) as Record<string, unknown>;
  assert.equal(stored.url, server.url);
  assert.equal(stored.caPath, path.resolve(server.caPath));
  assert.equal(stored.username, 'admin');
  assert.equal(typeof stored.token, 'string');
});

test('shows the logged-in admin with whoami -o json', async () => {
  const result = await murm(['whoami', '-o', 'json']);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  const me = JSON.parse(result.stdout) as { name: string; roles: string[] };
  assert.equal(me.name, 'admin');
  assert.deepEqual(me.roles, ['admin']);
});

test('refuses a wrong password with the auth exit code and one line', async () => {
  const result = await login(
    ['--ca', server.caPath],
    { MURM_PASSWORD: 'Wrong-Pass-123' },
    makeTempDir('cli-wrong'),
  );
  assert.equal(result.code, EXIT_CODES.auth);
  assertOneLine(result, /invalid user name or password/);
});

test('forgets the login on logout, after which whoami says how to log in', async () => {
  const dir = makeTempDir('cli-logout');
  assert.equal((await login(['--ca', server.caPath], {}, dir)).code, EXIT_CODES.ok);
  const loggedOut = await murm(['logout'], {}, dir);
  assert.equal(loggedOut.code, EXIT_CODES.ok, loggedOut.stderr);
  assert.ok(!fs.existsSync(path.join(dir, 'credentials.json')));
  const result = await murm(['whoami'], {}, dir);
  assert.equal(result.code, EXIT_CODES.auth);
  assertOneLine(result, /not logged in; run "murm login --url https:\/\/HOST:7443 --ca CA_FILE"/);
});

test('asks whether murm serve is running when nothing listens at the URL', async () => {
  const url = `https://127.0.0.1:${await freePort()}`;
  const result = await murm(
    ['login', '--url', url, '--ca', server.caPath],
    { MURM_PASSWORD: 'x' },
    makeTempDir('cli-dead'),
  );
  assert.equal(result.code, EXIT_CODES.unavailable);
  assertOneLine(result, new RegExp(`cannot reach ${url}: connection refused — is "murm serve" running\\?`));
});

test('names --ca when the server certificate cannot be verified', async () => {
  const otherCa = await ensureSitePki({ dataDir: makeTempDir('cli-other-ca'), hosts: [], now: new Date() });
  const [withoutCa, wrongCa, missingCa] = await Promise.all([
    login([], {}, makeTempDir('cli-no-ca')),
    login(['--ca', otherCa.caCertPath], {}, makeTempDir('cli-wrong-ca')),
    login(['--ca', path.join(makeTempDir('cli-missing-ca'), 'ca.crt')], {}, makeTempDir('cli-missing-ca')),
  ]);
  assert.equal(withoutCa.code, EXIT_CODES.auth);
  assertOneLine(withoutCa, /cannot verify the TLS certificate .*no --ca was given.*pass --ca/);
  assert.equal(wrongCa.code, EXIT_CODES.auth);
  assertOneLine(wrongCa, /cannot verify the TLS certificate .*not signed by the CA in .*pass --ca/);
  assert.equal(missingCa.code, EXIT_CODES.usage);
  assertOneLine(missingCa, /cannot read the CA file .*no such file.*pass --ca/);
});

test('prints help with examples for murm and murm user, exiting 0', async () => {
  const [root, user] = await Promise.all([murm(['--help']), murm(['user', '--help'])]);
  for (const result of [root, user]) {
    assert.equal(result.code, EXIT_CODES.ok, result.stderr);
    assert.match(result.stdout, /Examples:\n {2}murm /);
  }
  assert.match(root.stdout, /login/);
  assert.match(user.stdout, /set-password/);
});

test('exits quietly when the reader of its output goes away (murm … | head)', async () => {
  const { spawn } = await import('node:child_process');
  const { REPO_ROOT } = await import('./helpers/processes.js');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/murm.ts', 'cert', '--help'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // Close our end of the pipe before it writes, as `head` does once it has read enough.
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) =>
    child.on('close', (exitCode) => resolve(exitCode)),
  );
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE/);
});
