import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import { makeCertificate } from './helpers/certs.js';
import { type CliSession, openCliSession } from './helpers/cli-session.js';
import { type CliResult, makeTempDir, type ServerProcess } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const DAY_MS = 86_400_000;
interface CertificateView {
  fingerprint: string;
  subject: string;
  sans: string[];
  notAfter: string;
  sourceId: string;
  sourceKind: string;
  state: string;
  alarmId: string | null;
}

interface SourceView {
  id: string;
  kind: string;
  target: string;
  status: string;
  error: string | null;
  certificateCount: number;
}

interface AlarmView {
  alarmId: string;
  entityInstanceId: string;
  severity: string;
}

/** The common names of the three certificates `writeCertificates` puts in a directory. */
interface CertificateNames {
  valid: string;
  expiring: string;
  expired: string;
}

let server: ServerProcess;
let session: CliSession;
let certCount = 0;

before(async () => {
  session = await openCliSession('cli-certs', ADMIN_PASSWORD);
  server = session.server;
});

after(async () => {
  await server.stop();
});

function murm(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return session.murm(args, env);
}

function json<T>(args: string[]): Promise<T> {
  return session.json<T>(args);
}

/**
 * A directory with three real certificates: valid for a year and expiring in 10 days (made by
 * openssl), and expired last month (OpenSSL 3.0 cannot back-date, so `makeCertificate` makes it).
 */
async function writeCertificates(): Promise<{ dir: string; names: CertificateNames }> {
  const dir = makeTempDir('certs');
  // Keys elsewhere: the directory holds only what is watched.
  const keys = makeTempDir('cert-keys');
  certCount += 1;
  const names = {
    valid: `valid-${certCount}.test`,
    expiring: `expiring-${certCount}.test`,
    expired: `expired-${certCount}.test`,
  };
  for (const [name, days] of [
    [names.valid, 365],
    [names.expiring, 10],
  ] as const) {
    openssl(
      dir,
      `req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days ${days} -subj /CN=${name}`,
      '-keyout',
      path.join(keys, `${name}.key`),
      '-out',
      path.join(dir, `${name}.crt`),
    );
  }
  const expired = await makeCertificate({
    commonName: names.expired,
    notBefore: new Date(Date.now() - 365 * DAY_MS),
    notAfter: new Date(Date.now() - 30 * DAY_MS),
  });
  fs.writeFileSync(path.join(dir, `${names.expired}.crt`), expired.pem);
  fs.rmSync(keys, { recursive: true });
  return { dir, names };
}

/** Runs openssl in `cwd`: the arguments of `command` split at spaces, then `paths` (which may hold spaces). */
function openssl(cwd: string, command: string, ...paths: string[]): void {
  execFileSync('openssl', [...command.split(' '), ...paths], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function addPath(target: string, options: string[] = []): Promise<SourceView> {
  return json<SourceView>(['cert', 'watch', 'add-path', target, ...options]);
}

async function remove(source: SourceView): Promise<void> {
  const removed = await murm(['cert', 'watch', 'remove', source.id]);
  assert.equal(removed.code, EXIT_CODES.ok, removed.stderr);
  assert.equal(removed.stdout, `removed certificate source ${source.id}\n`);
}

async function certAlarms(): Promise<Record<'expiring' | 'expired', AlarmView[]>> {
  const [expiring, expired] = await Promise.all([
    json<AlarmView[]>(['alarm', 'list', '--alarm-id', '500.200']),
    json<AlarmView[]>(['alarm', 'list', '--alarm-id', '500.210']),
  ]);
  return { expiring, expired };
}

function nameOf(cert: CertificateView, names: CertificateNames): string | undefined {
  return Object.values(names).find((name) => cert.subject.includes(name));
}

test('watches a directory of certificates and lists the ones expiring within 30 days, soonest first', async () => {
  const { dir, names } = await writeCertificates();
  const source = await addPath(dir);
  try {
    assert.equal(source.kind, 'path');
    assert.equal(source.status, 'ok', source.error ?? '');
    assert.equal(source.certificateCount, 3);
    const listed = await json<SourceView[]>(['cert', 'watch', 'list']);
    assert.deepEqual(
      listed.filter((item) => item.id === source.id).map((item) => [item.status, item.certificateCount]),
      [['ok', 3]],
    );
    const expiring = await json<CertificateView[]>([
      'cert',
      'list',
      '--expiring-within',
      '30d',
      '--source',
      source.id,
    ]);
    assert.deepEqual(
      expiring.map((cert) => [nameOf(cert, names), cert.state]),
      [
        [names.expired, 'expired'],
        [names.expiring, 'expiring'],
      ],
    );
    const all = await json<CertificateView[]>(['cert', 'list', '--source', source.id]);
    assert.deepEqual(
      all.map((cert) => nameOf(cert, names)),
      [names.expired, names.expiring, names.valid],
    );
    const table = await murm(['cert', 'list', '--source', source.id, '--state', 'ok']);
    assert.equal(table.code, EXIT_CODES.ok, table.stderr);
    const [header, row, ...rest] = table.stdout.trimEnd().split('\n');
    assert.match(header ?? '', /^NOT AFTER +STATE +SUBJECT +LOCATION +ALARM$/);
    assert.match(row ?? '', new RegExp(`^\\S+ +ok +.*${names.valid.replaceAll('.', '\\.')}.* +-$`));
    assert.deepEqual(rest, []);
  } finally {
    await remove(source);
  }
});

test('shows every field of one certificate by fingerprint', async () => {
  const { dir, names } = await writeCertificates();
  const source = await addPath(dir);
  try {
    const certs = await json<CertificateView[]>([
      'cert',
      'list',
      '--source',
      source.id,
      '--state',
      'expiring',
    ]);
    const [expiring] = certs;
    assert.ok(expiring);
    const shown = await json<CertificateView>(['cert', 'show', expiring.fingerprint]);
    assert.deepEqual(shown, expiring);
    const table = await murm(['cert', 'show', expiring.fingerprint]);
    assert.equal(table.code, EXIT_CODES.ok, table.stderr);
    for (const field of [
      'FINGERPRINT',
      'ISSUER',
      'SANS',
      'SERIAL',
      'NOT BEFORE',
      'KEY TYPE',
      'SOURCE KIND',
    ]) {
      assert.match(table.stdout, new RegExp(`^${field}: `, 'm'));
    }
    assert.match(table.stdout, new RegExp(`^SUBJECT: +.*${names.expiring.replaceAll('.', '\\.')}`, 'm'));
    const missing = await murm(['cert', 'show', 'f'.repeat(64)]);
    assert.equal(missing.code, EXIT_CODES.notFound, missing.stderr);
  } finally {
    await remove(source);
  }
});

test('raises one expiring and one expired alarm, and clears them when the source is removed', async () => {
  const { dir } = await writeCertificates();
  const source = await addPath(dir, ['--alarm-before', '30d', '--severity', 'major']);
  let isRemoved = false;
  try {
    const raised = await certAlarms();
    assert.equal(raised.expiring.length, 1, JSON.stringify(raised));
    assert.equal(raised.expired.length, 1, JSON.stringify(raised));
    const certs = await json<CertificateView[]>(['cert', 'list', '--source', source.id]);
    assert.deepEqual(
      certs.map((cert) => [cert.state, cert.alarmId]),
      [
        ['expired', '500.210'],
        ['expiring', '500.200'],
        ['ok', null],
      ],
    );
    await remove(source);
    isRemoved = true;
    assert.deepEqual(await certAlarms(), { expiring: [], expired: [] });
    const listed = await json<SourceView[]>(['cert', 'watch', 'list']);
    assert.equal(
      listed.find((item) => item.id === source.id),
      undefined,
    );
  } finally {
    if (!isRemoved) await remove(source);
  }
});

test('raises no alarms for a source added with --no-alarm', async () => {
  const { dir } = await writeCertificates();
  const source = await addPath(dir, ['--no-alarm']);
  try {
    assert.equal(source.certificateCount, 3);
    assert.deepEqual(await certAlarms(), { expiring: [], expired: [] });
  } finally {
    await remove(source);
  }
});

test('adds a path that does not exist as a source in error, with the reason', async () => {
  const target = path.join(makeTempDir('certs-missing'), 'nonexistent');
  const result = await murm(['cert', 'watch', 'add-path', target]);
  assert.equal(result.code, EXIT_CODES.ok, result.stderr);
  const match = /^watching path (\S+) as source (\S+), but it cannot be read: (.+)\n$/.exec(result.stdout);
  assert.ok(match, result.stdout);
  assert.equal(match[1], target);
  const listed = await json<SourceView[]>(['cert', 'watch', 'list']);
  const source = listed.find((item) => item.id === match[2]);
  assert.ok(source);
  assert.equal(source.status, 'error');
  assert.ok((source.error ?? '') !== '');
  await remove(source);
});

test('watches the server own endpoint and lists the site certificates it presents', async () => {
  const target = new URL(server.url).host;
  const source = await json<SourceView>(['cert', 'watch', 'add-endpoint', target]);
  try {
    assert.equal(source.kind, 'endpoint');
    assert.equal(source.target, target);
    assert.equal(source.status, 'ok', source.error ?? '');
    assert.ok(source.certificateCount >= 1);
    const certs = await json<CertificateView[]>(['cert', 'list', '--source', source.id]);
    assert.equal(certs.length, source.certificateCount);
    assert.ok(certs.every((cert) => cert.sourceKind === 'endpoint' && cert.state === 'ok'));
    assert.ok(
      certs.some((cert) => cert.sans.some((san) => san.includes('127.0.0.1'))),
      JSON.stringify(certs),
    );
  } finally {
    await remove(source);
  }
});

test('audits every source and counts certificates by state', async () => {
  const { dir } = await writeCertificates();
  const source = await addPath(dir);
  const broken = await addPath(path.join(makeTempDir('certs-missing'), 'nonexistent'));
  try {
    const counts = await json<Record<string, number>>(['cert', 'audit']);
    assert.ok((counts.sources ?? 0) >= 2, JSON.stringify(counts));
    assert.ok((counts.certificates ?? 0) >= 3, JSON.stringify(counts));
    assert.equal(counts.expiring, 1);
    assert.equal(counts.expired, 1);
    assert.equal(counts.errors, 1);
    const table = await murm(['cert', 'audit']);
    assert.equal(table.code, EXIT_CODES.ok, table.stderr);
    assert.match(table.stdout, /^SOURCES +CERTIFICATES +EXPIRING +EXPIRED +ERRORS\n\d+ +\d+ +1 +1 +1\n$/);
    assert.equal(table.stderr, '1 source could not be read; see "murm cert watch list"\n');
  } finally {
    await remove(broken);
    await remove(source);
  }
});

test('lists the platform sources and refuses to remove them', async () => {
  const listed = await json<SourceView[]>(['cert', 'watch', 'list']);
  const platform = listed.filter((item) => item.kind === 'platform');
  assert.ok(platform.length >= 1, JSON.stringify(listed));
  const [first] = platform;
  assert.ok(first);
  const refused = await murm(['cert', 'watch', 'remove', first.id]);
  assert.notEqual(refused.code, EXIT_CODES.ok);
  assert.match(refused.stderr, /^murm: .+\n$/);
  const after = await json<SourceView[]>(['cert', 'watch', 'list']);
  assert.ok(after.some((item) => item.id === first.id));
});

test('refuses a bad duration and alarm options with --no-alarm with the usage exit code', async () => {
  const ids = async () => (await json<SourceView[]>(['cert', 'watch', 'list'])).map((item) => item.id);
  const before = await ids();
  const badBefore = await murm(['cert', 'watch', 'add-path', '/tmp', '--alarm-before', '3x']);
  assert.equal(badBefore.code, EXIT_CODES.usage);
  assert.match(badBefore.stderr, /--alarm-before.*'3x' is invalid. give a duration like 30d/);
  const badWithin = await murm(['cert', 'list', '--expiring-within', '30']);
  assert.equal(badWithin.code, EXIT_CODES.usage);
  const conflicting = await murm([
    'cert',
    'watch',
    'add-endpoint',
    'x.test:443',
    '--no-alarm',
    '--severity',
    'major',
  ]);
  assert.equal(conflicting.code, EXIT_CODES.usage);
  assert.match(conflicting.stderr, /^murm: --no-alarm raises no alarms/);
  assert.deepEqual(await ids(), before);
});

test('issues, lists, shows, exports and deletes a managed certificate', async () => {
  const issued = await json<{ name: string; serial: string; dns: string[]; ips: string[] }>([
    'cert',
    'issue',
    'web',
    '--dns',
    'web.local,web',
    '--ip',
    '10.0.0.9',
    '--duration',
    '90d',
    '--renew-before',
    '30d',
    '--key',
    'rsa-2048',
  ]);
  assert.deepEqual([issued.dns, issued.ips], [['web.local', 'web'], ['10.0.0.9']]);
  const listed = await murm(['cert', 'managed', 'list']);
  assert.equal(listed.code, EXIT_CODES.ok, listed.stderr);
  assert.match(listed.stdout, /^NAME +NOT AFTER +RENEWS AT +KEY +NAMES\n/);
  assert.match(listed.stdout, /\nweb +\S+ +\S+ +rsa-2048 +web\.local,web,10\.0\.0\.9\n/);
  assert.match(listed.stdout, /\napi-server /);
  const shown = await murm(['cert', 'managed', 'show', 'web']);
  assert.match(shown.stdout, new RegExp(`SERIAL: +${issued.serial}`));
  assert.doesNotMatch(shown.stdout + listed.stdout, /PRIVATE KEY/);
  const out = makeTempDir('export');
  const exported = await murm(['cert', 'managed', 'export', 'web', '--out-dir', out]);
  assert.equal(exported.code, EXIT_CODES.ok, exported.stderr);
  assert.equal(fs.statSync(path.join(out, 'web.key')).mode & 0o777, 0o600);
  const verified = execFileSync(
    'openssl',
    ['verify', '-CAfile', path.join(out, 'ca.crt'), path.join(out, 'web.crt')],
    { encoding: 'utf8' },
  );
  assert.match(verified, /: OK/);
  const renewed = await json<{ serial: string }>(['cert', 'managed', 'renew', 'web']);
  assert.notEqual(renewed.serial, issued.serial);
  const bad = await murm(['cert', 'issue', 'bad', '--dns', 'a.example', '--duration', 'soon']);
  assert.equal(bad.code, EXIT_CODES.usage);
  const unconfirmed = await murm(['cert', 'managed', 'delete', 'web']);
  assert.equal(unconfirmed.code, EXIT_CODES.usage);
  assert.match(unconfirmed.stderr, /without confirmation; pass --yes/);
  const deleted = await murm(['cert', 'managed', 'delete', 'web', '--yes']);
  assert.equal(deleted.code, EXIT_CODES.ok, deleted.stderr);
  assert.equal((await murm(['cert', 'managed', 'show', 'web'])).code, EXIT_CODES.notFound);
});

test('exports and deletes a managed certificate by name with the top-level cert commands', async () => {
  await json(['cert', 'issue', 'top', '--dns', 'top.local']);
  const out = makeTempDir('export-top');
  const exported = await murm(['cert', 'export', 'top', '--out-dir', out]);
  assert.equal(exported.code, EXIT_CODES.ok, exported.stderr);
  assert.equal(exported.stdout, `wrote top.crt, top.key and ca.crt to ${out}\n`);
  assert.equal(fs.statSync(path.join(out, 'top.key')).mode & 0o777, 0o600);
  const help = await murm(['cert', 'delete', '--help']);
  assert.match(help.stdout, /murm cert managed list/);
  const deleted = await murm(['cert', 'delete', 'top', '--yes']);
  assert.equal(deleted.code, EXIT_CODES.ok, deleted.stderr);
  assert.equal(deleted.stdout, 'deleted managed certificate top\n');
  assert.equal((await murm(['cert', 'managed', 'show', 'top'])).code, EXIT_CODES.notFound);
});

test('overrides, disables and resets the alarm settings of one certificate', async () => {
  const { dir } = await writeCertificates();
  const source = await addPath(dir, ['--alarm-before', '30d', '--severity', 'major']);
  try {
    const [expiring] = await json<CertificateView[]>([
      'cert',
      'list',
      '--source',
      source.id,
      '--state',
      'expiring',
    ]);
    assert.ok(expiring);
    const severities = async () => (await certAlarms()).expiring.map((alarm) => alarm.severity);
    assert.deepEqual(await severities(), ['major']);

    const critical = await murm(['cert', 'set', expiring.fingerprint, '--severity', 'critical']);
    assert.equal(critical.code, EXIT_CODES.ok, critical.stderr);
    assert.equal(
      critical.stdout,
      `certificate ${expiring.fingerprint.slice(0, 12)}…: state expiring, alarm 500.200\n`,
    );
    assert.deepEqual(await severities(), ['critical']);

    const silenced = await json<CertificateView>(['cert', 'set', expiring.fingerprint, '--no-alarm']);
    assert.deepEqual([silenced.fingerprint, silenced.alarmId], [expiring.fingerprint, null]);
    assert.deepEqual(await severities(), []);

    const reset = await json<CertificateView>(['cert', 'set', expiring.fingerprint, '--reset']);
    assert.equal(reset.alarmId, '500.200');
    assert.deepEqual(await severities(), ['major']);

    const nothing = await murm(['cert', 'set', expiring.fingerprint]);
    assert.equal(nothing.code, EXIT_CODES.usage);
    const both = await murm(['cert', 'set', expiring.fingerprint, '--reset', '--no-alarm']);
    assert.equal(both.code, EXIT_CODES.usage);
  } finally {
    await remove(source);
  }
});
