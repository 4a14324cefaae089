import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import { type CliSession, openCliSession } from './helpers/cli-session.js';
import { FDO_VECTORS, SAMPLE_GUID, sampleOwnedVoucher, startRendezvousProcess } from './helpers/fdo.js';
import { type CliResult, makeTempDir } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const DC = path.join(FDO_VECTORS, 'dc.bin');

interface Redirect {
  guid: string;
  to2Addresses: { ip: string | null; dns: string | null; port: number; protocol: string }[];
  to1d: string;
}

let session: CliSession;
let rvUrl: string;
let files: { voucher: string; ownerKey: string };

before(async () => {
  // `murm serve` reads its environment: the FDO listener on a free port.
  process.env.MURM_FDO_LISTEN = '127.0.0.1:0';
  session = await openCliSession('cli-fdo', ADMIN_PASSWORD);
  const match = /FDO rendezvous \(no token\): (http:\/\/\S+?)\/fdo\/101\/msg\//.exec(session.server.output());
  assert.ok(match?.[1], session.server.output());
  rvUrl = match[1];
  const dir = makeTempDir('fdo-cli');
  const owned = sampleOwnedVoucher();
  const pem = Buffer.from(owned.voucher)
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n');
  files = { voucher: path.join(dir, 'device.ov.pem'), ownerKey: path.join(dir, 'owner.pem') };
  fs.writeFileSync(
    files.voucher,
    `-----BEGIN OWNERSHIP VOUCHER-----\n${pem}-----END OWNERSHIP VOUCHER-----\n`,
  );
  fs.writeFileSync(files.ownerKey, owned.ownerKey.export({ type: 'pkcs8', format: 'pem' }));
});

after(async () => {
  await session.server.stop();
});

function assertOk(result: CliResult): void {
  assert.equal(result.code, EXIT_CODES.ok, `${result.stdout}${result.stderr}`);
}

const to0 = () =>
  session.murm([
    'fdo',
    'to0',
    '--voucher',
    files.voucher,
    '--owner-key',
    files.ownerKey,
    '--rv',
    rvUrl,
    '--to2',
    'owner.example:8043',
    '--to2',
    '[2001:db8::1]:8443',
    '--to2-protocol',
    'https',
    '--wait',
    '3600',
  ]);

test('an owner registers with murm fdo to0 and the device finds it with murm fdo to1', async () => {
  const registered = await to0();
  assertOk(registered);
  assert.match(registered.stdout, /registered with http:\/\/127\.0\.0\.1:\d+ for 3600 seconds/);
  const redirect = await session.json<Redirect>(['fdo', 'to1', '--device-credential', DC, '--rv', rvUrl]);
  assert.equal(redirect.guid, SAMPLE_GUID);
  assert.deepEqual(redirect.to2Addresses, [
    { ip: null, dns: 'owner.example', port: 8043, protocol: 'https' },
    { ip: '2001:db8:0:0:0:0:0:1', dns: null, port: 8443, protocol: 'https' },
  ]);
  assert.equal(Buffer.from(redirect.to1d, 'base64')[0], 0xd2, 'to1d is a tagged COSE_Sign1');
  const table = await session.murm(['fdo', 'to1', '--device-credential', DC, '--rv', rvUrl]);
  assertOk(table);
  assert.match(table.stdout, /owner at\n {2}https:\/\/owner\.example:8043/);
});

test('operators list, show and delete registrations', async () => {
  const list = await session.json<{ guid: string; deviceInfo: string }[]>(['fdo', 'registration', 'list']);
  assert.deepEqual(
    list.map((r) => [r.guid, r.deviceInfo]),
    [[SAMPLE_GUID, 'go.fdo.example']],
  );
  const show = await session.murm(['fdo', 'registration', 'show', SAMPLE_GUID]);
  assertOk(show);
  assert.match(show.stdout, /OWNER KEY HASH:\s+[0-9a-f]{96}/);
  assert.match(show.stdout, /WAIT SECONDS:\s+3600/);
  assertOk(await session.murm(['fdo', 'registration', 'delete', SAMPLE_GUID]));
  const gone = await session.murm(['fdo', 'to1', '--device-credential', DC, '--rv', rvUrl]);
  assert.equal(gone.code, EXIT_CODES.failure);
  assert.match(gone.stderr, /error 6/);
  const missing = await session.murm(['fdo', 'registration', 'show', SAMPLE_GUID]);
  assert.equal(missing.code, EXIT_CODES.notFound, missing.stderr);
});

test('allow and deny lists from the CLI govern TO0', async () => {
  assertOk(await session.murm(['fdo', 'deny', 'add', 'guid', SAMPLE_GUID]));
  const denied = await to0();
  assert.equal(denied.code, EXIT_CODES.failure);
  assert.match(denied.stderr, /error 2/);
  const rules = await session.json<{ subject: string; value: string }[]>(['fdo', 'deny', 'list']);
  assert.deepEqual(
    rules.map((r) => [r.subject, r.value]),
    [['guid', SAMPLE_GUID]],
  );
  assert.deepEqual(await session.json(['fdo', 'allow', 'list']), []);
  assertOk(await session.murm(['fdo', 'deny', 'remove', 'guid', SAMPLE_GUID]));
  assertOk(await to0());
  const bad = await session.murm(['fdo', 'allow', 'add', 'owner-key', 'abc']);
  assert.equal(bad.code, EXIT_CODES.usage);
  assert.match(bad.stderr, /SHA-384/);
});

test('murm rendezvous serves the same registrations from the site database', async () => {
  const { child, url } = await startRendezvousProcess({
    dataDir: session.server.dataDir,
    logLevel: 'warn',
    timeoutMs: 30_000,
  });
  try {
    const redirect = await session.json<Redirect>(['fdo', 'to1', '--device-credential', DC, '--rv', url]);
    assert.equal(redirect.guid, SAMPLE_GUID);
  } finally {
    child.kill('SIGTERM');
  }
});

test('an unreachable rendezvous is exit 7 and a missing file a usage error', async () => {
  const down = await session.murm(['fdo', 'to1', '--device-credential', DC, '--rv', 'http://127.0.0.1:1']);
  assert.equal(down.code, EXIT_CODES.unavailable, down.stderr);
  assert.match(down.stderr, /cannot reach the rendezvous at http:\/\/127\.0\.0\.1:1/);
  const missing = await session.murm([
    'fdo',
    'to1',
    '--device-credential',
    '/nonexistent/dc.bin',
    '--rv',
    rvUrl,
  ]);
  assert.equal(missing.code, EXIT_CODES.usage, missing.stderr);
  assert.match(missing.stderr, /cannot read "\/nonexistent\/dc\.bin"/);
});
