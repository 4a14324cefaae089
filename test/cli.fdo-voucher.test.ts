import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import { parseVoucher, verifyVoucher } from '../src/fdo/voucher.js';
import { makeTempDir, runCli } from './helpers/processes.js';

const VECTORS = path.resolve(import.meta.dirname, 'fixtures/fdo-vectors');
const vector = (name: string) => path.join(VECTORS, name);

test('voucher show prints a verified summary of ov_extended.pem, as a table and as JSON', async () => {
  const table = await runCli(['fdo', 'voucher', 'show', vector('ov_extended.pem')]);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  assert.match(table.stdout, /GUID:\s+f1d0fd0066bd4ef392bc1b7c393fbe18\n/);
  assert.match(table.stdout, /Manufacturer key:\s+RSA2048RESTR sha384:[0-9a-f]{96}\n/);
  assert.match(table.stdout, /Rendezvous:\s+protocol=http dev-port=7777 owner-port=7777 ip=127\.0\.0\.1\n/);
  assert.match(table.stdout, /Entries \(6\):/);
  assert.match(table.stdout, /\n5\s+RSA2048RESTR\s+[0-9a-f]{96}\n/);
  assert.match(table.stdout, /Verification: valid: header, device certificate chain, hash chain/);

  const json = await runCli(['fdo', 'voucher', 'show', vector('ov_extended.pem'), '-o', 'json']);
  assert.equal(json.code, EXIT_CODES.ok, json.stderr);
  const summary = JSON.parse(json.stdout);
  assert.equal(summary.guid, 'f1d0fd0066bd4ef392bc1b7c393fbe18');
  assert.equal(summary.entries.length, 6);
  assert.equal(summary.ownerKeyHash, summary.entries[5].keyHash);
  assert.equal(summary.deviceCertificates.length, 3);
  assert.equal(summary.deviceCertificates[0].validTo, '2034-09-02T11:10:53.000Z');
  assert.deepEqual(summary.verification.isValid, true);
});

test('voucher extend hands ov.pem to a new owner; show then reports that owner; a wrong key is refused', async () => {
  const dir = makeTempDir('fdo-voucher');
  const owner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const ownerPub = path.join(dir, 'owner.pub.pem');
  const ownerKey = path.join(dir, 'owner.key.pem');
  fs.writeFileSync(ownerPub, owner.publicKey.export({ format: 'pem', type: 'spki' }));
  fs.writeFileSync(ownerKey, owner.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const out = path.join(dir, 'owned.ov.pem');

  const extended = await runCli([
    'fdo',
    'voucher',
    'extend',
    vector('ov.pem'),
    '--key',
    vector('mfg_key.pem'),
    '--to',
    ownerPub,
    '--out',
    out,
  ]);
  assert.equal(extended.code, EXIT_CODES.ok, extended.stderr);
  const verified = verifyVoucher(parseVoucher(fs.readFileSync(out, 'utf8')));
  assert.ok(verified.ownerKey.equals(owner.publicKey));
  assert.equal(extended.stdout, `wrote ${out}: 1 entries, owner key sha384:${verified.ownerKeyHash}\n`);
  assert.equal(extended.stderr, '', 'a P-384 owner matches the P-384 manufacturer key: no warning');

  const shown = await runCli(['fdo', 'voucher', 'show', out, '-o', 'json']);
  assert.equal(shown.code, EXIT_CODES.ok, shown.stderr);
  assert.equal(JSON.parse(shown.stdout).ownerKeyHash, verified.ownerKeyHash);

  const toStdout = await runCli(['fdo', 'voucher', 'extend', out, '--key', ownerKey, '--to', ownerPub]);
  assert.equal(toStdout.code, EXIT_CODES.ok, toStdout.stderr);
  assert.equal(verifyVoucher(parseVoucher(toStdout.stdout)).entryCount, 2);

  const p256 = path.join(dir, 'p256.pub.pem');
  fs.writeFileSync(
    p256,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }),
  );
  const mixed = await runCli(['fdo', 'voucher', 'extend', out, '--key', ownerKey, '--to', p256]);
  assert.match(mixed.stderr, /warning: the next owner key is not of the manufacturer key's type 11/);

  const wrongKey = await runCli([
    'fdo',
    'voucher',
    'extend',
    vector('ov.pem'),
    '--key',
    ownerKey,
    '--to',
    ownerPub,
  ]);
  assert.equal(wrongKey.code, EXIT_CODES.usage);
  assert.match(wrongKey.stderr, /cannot extend ".*ov\.pem": .*not the current owner key/);
});

test('voucher show exits non-zero with the reason for a tampered voucher and for a file that is not one', async () => {
  const dir = makeTempDir('fdo-voucher-bad');
  const pem = fs.readFileSync(vector('ov_extended.pem'), 'utf8');
  const raw = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  raw[raw.length - 10] = (raw[raw.length - 10] ?? 0) ^ 1; // inside the last entry's signature
  const tampered = path.join(dir, 'tampered.ov');
  fs.writeFileSync(tampered, raw);
  const result = await runCli(['fdo', 'voucher', 'show', tampered]);
  assert.equal(result.code, EXIT_CODES.failure);
  assert.match(
    result.stdout,
    /Verification: FAILED: entry 5: COSE_Sign1 signature does not verify \[FDO error 2\]/,
  );
  assert.match(result.stderr, /does not verify/);

  const notVoucher = await runCli(['fdo', 'voucher', 'show', vector('mfg_key.pem')]);
  assert.equal(notVoucher.code, EXIT_CODES.usage);
  assert.match(notVoucher.stderr, /is not a usable FDO 1\.1 ownership voucher/);
  const missing = await runCli(['fdo', 'voucher', 'show', path.join(dir, 'nope.pem')]);
  assert.equal(missing.code, EXIT_CODES.usage);
  assert.match(missing.stderr, /cannot read voucher ".*nope\.pem" \(not found\)/);
});
