import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { EXIT_CODES } from '../src/cli/program.js';
import { makeCertificate } from './helpers/certs.js';
import { type CliSession, openCliSession } from './helpers/cli-session.js';
import { type CliResult, makeTempDir, type ServerProcess } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const YEAR_MS = 365 * 86_400_000;
interface TrustedCaView {
  fingerprint: string;
  subject: string;
  addedBy: string;
}

let server: ServerProcess;
let session: CliSession;

before(async () => {
  session = await openCliSession('cli-trust', ADMIN_PASSWORD);
  server = session.server;
});

after(async () => {
  await server.stop();
});

function murm(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return session.murm(args, env);
}

function writeFile(name: string, text: string): string {
  const file = path.join(makeTempDir('trust-files'), name);
  fs.writeFileSync(file, text);
  return file;
}

test('adds a CA bundle, lists it as table, JSON and YAML, and removes one CA', async () => {
  const notAfter = new Date(Date.now() + YEAR_MS);
  const root = await makeCertificate({ commonName: 'CLI Root CA', isCa: true, notAfter });
  const issuing = await makeCertificate({ commonName: 'CLI Issuing CA', isCa: true, issuer: root, notAfter });
  const bundle = writeFile('bundle.pem', root.pem + issuing.pem);

  const added = await murm(['cert', 'trust', 'add', bundle]);
  assert.equal(added.code, EXIT_CODES.ok, added.stderr);
  assert.match(added.stdout, /trusting [0-9a-f]{64} CN=CLI Root CA\n/);
  assert.match(added.stdout, /trusting [0-9a-f]{64} CN=CLI Issuing CA\n/);

  const table = await murm(['cert', 'trust', 'list']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  assert.match(table.stdout, /FINGERPRINT\s+SUBJECT\s+NOT AFTER/);
  assert.match(table.stdout, /CN=CLI Issuing CA/);

  const json = await murm(['cert', 'trust', 'list', '-o', 'json']);
  assert.equal(json.code, EXIT_CODES.ok, json.stderr);
  const items = JSON.parse(json.stdout) as TrustedCaView[];
  assert.deepEqual(items.map((ca) => ca.subject).sort(), ['CN=CLI Issuing CA', 'CN=CLI Root CA']);
  assert.ok(items.every((ca) => ca.addedBy === 'admin'));

  const yaml = await murm(['cert', 'trust', 'list', '-o', 'yaml']);
  assert.deepEqual(parseYaml(yaml.stdout), items);

  const rootCa = items.find((ca) => ca.subject === 'CN=CLI Root CA');
  assert.ok(rootCa);
  const removed = await murm(['cert', 'trust', 'remove', rootCa.fingerprint]);
  assert.equal(removed.code, EXIT_CODES.ok, removed.stderr);
  assert.match(removed.stdout, new RegExp(`removed trusted CA ${rootCa.fingerprint}`));
  const remaining = JSON.parse(
    (await murm(['cert', 'trust', 'list', '-o', 'json'])).stdout,
  ) as TrustedCaView[];
  assert.deepEqual(
    remaining.map((ca) => ca.subject),
    ['CN=CLI Issuing CA'],
  );
  const again = await murm(['cert', 'trust', 'remove', rootCa.fingerprint]);
  assert.equal(again.code, EXIT_CODES.notFound, again.stdout);
});

test('refuses a leaf certificate and a missing file with a usage error that names the problem', async () => {
  const notAfter = new Date(Date.now() + YEAR_MS);
  const ca = await makeCertificate({ commonName: 'CLI Leaf CA', isCa: true, notAfter });
  const leaf = await makeCertificate({ commonName: 'leaf.example', issuer: ca, notAfter });
  const refused = await murm(['cert', 'trust', 'add', writeFile('leaf.pem', leaf.pem)]);
  assert.equal(refused.code, EXIT_CODES.usage);
  assert.match(refused.stderr, /"CN=leaf\.example"\) is not a CA certificate/);
  const missing = await murm(['cert', 'trust', 'add', '/nonexistent/ca.pem']);
  assert.equal(missing.code, EXIT_CODES.usage);
  assert.match(missing.stderr, /cannot read "\/nonexistent\/ca\.pem" \(not found\)/);
});

test('shows examples in the help of every trust command', async () => {
  for (const args of [
    ['cert', 'trust'],
    ['cert', 'trust', 'add'],
    ['cert', 'trust', 'list'],
    ['cert', 'trust', 'remove'],
  ]) {
    const help = await murm([...args, '--help']);
    assert.equal(help.code, EXIT_CODES.ok, help.stderr);
    assert.match(help.stdout, /Examples:\n {2}murm cert trust/, args.join(' '));
  }
});
