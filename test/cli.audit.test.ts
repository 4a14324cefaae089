import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { EXIT_CODES } from '../src/cli/program.js';
import { type CliResult, makeTempDir, runCli, type ServerProcess, startServer } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const READER_PASSWORD = 'Reader-Pass-123';

interface AuditRecord {
  seq: number;
  username: string | null;
  event: string;
  method: string;
  path: string;
  status: number;
}

let server: ServerProcess;
let databaseFile: string;
let adminDir: string;
let readerDir: string;

before(async () => {
  const dataDir = makeTempDir('cli-audit-data');
  // An explicit SQLite file, so the tamper test can reach the table whatever MURM_DATABASE says.
  databaseFile = path.join(dataDir, 'murm.db');
  server = await startServer({
    dataDir,
    env: { MURM_ADMIN_PASSWORD: ADMIN_PASSWORD },
    args: ['--database', `sqlite:${databaseFile}`],
  });
  adminDir = makeTempDir('cli-audit');
  readerDir = makeTempDir('cli-audit-reader');
  assert.equal((await login('admin', ADMIN_PASSWORD, adminDir)).code, EXIT_CODES.ok);
  const created = await murm(['user', 'create', 'rita', '--roles', 'reader'], adminDir, {
    MURM_NEW_PASSWORD: READER_PASSWORD,
  });
  assert.equal(created.code, EXIT_CODES.ok, created.stderr);
  const [wrong, reader] = await Promise.all([
    login('rita', 'Wrong-Pass-123', makeTempDir('cli-audit-wrong')),
    login('rita', READER_PASSWORD, readerDir),
  ]);
  assert.equal(wrong.code, EXIT_CODES.auth);
  assert.equal(reader.code, EXIT_CODES.ok, reader.stderr);
});

after(async () => {
  await server.stop();
});

/** Runs `murm` in a config dir, with no credentials or passwords from the environment of the test run. */
function murm(args: string[], dir: string, env: Record<string, string> = {}): Promise<CliResult> {
  const clean = { MURM_URL: '', MURM_CA: '', MURM_TOKEN: '', MURM_PASSWORD: '', MURM_NEW_PASSWORD: '' };
  return runCli(args, { env: { ...clean, MURM_CONFIG_DIR: dir, ...env } });
}

function login(username: string, password: string, dir: string): Promise<CliResult> {
  return murm(['login', '--url', server.url, '--ca', server.caPath, '--username', username], dir, {
    MURM_PASSWORD: password,
  });
}

async function auditList(args: string[]): Promise<AuditRecord[]> {
  const result = await murm(['audit', 'list', '-o', 'json', ...args], adminDir);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  return JSON.parse(result.stdout) as AuditRecord[];
}

test('lists audit records of mutating calls with user, method, path and status', async () => {
  const records = await auditList([]);
  const creation = records.find((record) => record.method === 'POST' && record.path === '/v1/users');
  assert.equal(creation?.username, 'admin');
  assert.equal(creation?.status, 201);
  assert.ok(records.some((record) => record.username === 'rita' && record.path === '/v1/auth/tokens'));
});

test('filters audit records by user and by failed outcome', async () => {
  const [byUser, failures] = await Promise.all([
    auditList(['--user', 'rita']),
    auditList(['--outcome', 'failure']),
  ]);
  assert.ok(byUser.length >= 2);
  assert.ok(byUser.every((record) => record.username === 'rita'));
  assert.ok(failures.length >= 1);
  assert.ok(failures.every((record) => record.status >= 400));
  assert.ok(failures.some((record) => record.username === 'rita' && record.status === 401));
});

test('follows the pages with --all', async () => {
  const [everything, paged] = await Promise.all([auditList([]), auditList(['--limit', '1', '--all'])]);
  assert.ok(everything.length >= 3);
  assert.deepEqual(
    paged.map((record) => record.seq),
    everything.map((record) => record.seq),
  );
});

test('refuses the audit log to a reader with the forbidden exit code', async () => {
  const result = await murm(['audit', 'list'], readerDir);
  assert.equal(result.code, EXIT_CODES.forbidden);
  assert.match(result.stderr, /^murm: user "rita" \(roles: reader\) may not administer[^\n]*\n$/);
});

test('verifies an intact audit chain and exits 0', async () => {
  const result = await murm(['audit', 'verify'], adminDir);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  assert.match(result.stdout, /^the audit chain is intact \(\d+ records checked\)\n$/);
});

test('reports the first altered record and exits non-zero', async () => {
  const db = new Database(databaseFile);
  try {
    db.prepare("UPDATE audit_log SET path = '/v1/tampered' WHERE seq = 2").run();
  } finally {
    db.close();
  }
  const result = await murm(['audit', 'verify'], adminDir);
  assert.equal(result.code, EXIT_CODES.failure);
  assert.match(
    result.stderr,
    /^murm: the audit chain is broken at record 2: its content does not match its hash/,
  );
});
