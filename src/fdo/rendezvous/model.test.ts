import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { AppError } from '../../core/errors.js';
import {
  type AccessRule,
  grantWaitSeconds,
  isAccepted,
  isSignatureTypeOf,
  parseGuid,
  parseKeyHash,
} from './model.js';

const GUID = '66b2146ffec53ca6ad017625990572ce';
const KEY = 'ab'.repeat(48);
const rule = (list: AccessRule['list'], subject: AccessRule['subject'], value: string): AccessRule => ({
  list,
  subject,
  value,
  createdAt: '2026-01-01T00:00:00.000Z',
});

const MFG = 'ef'.repeat(48);
const device = (ownerKeyHash = KEY) => ({ guid: GUID, ownerKeyHash, manufacturerKeyHash: MFG });

describe('fdo rendezvous policy', () => {
  test('accepts everything without rules', () => {
    assert.equal(isAccepted([], device()), true);
  });

  test('a deny rule on the GUID, the owner key or the manufacturer key refuses, even when allowed', () => {
    assert.equal(isAccepted([rule('deny', 'guid', GUID)], device()), false);
    assert.equal(isAccepted([rule('allow', 'guid', GUID), rule('deny', 'owner-key', KEY)], device()), false);
    assert.equal(isAccepted([rule('deny', 'manufacturer-key', MFG)], device()), false);
    assert.equal(isAccepted([rule('deny', 'owner-key', MFG)], device()), true, 'subjects are not mixed up');
  });

  test('with allow rules only a device matching one of them passes', () => {
    const rules = [rule('allow', 'owner-key', KEY)];
    assert.equal(isAccepted(rules, device()), true);
    assert.equal(isAccepted(rules, device('cd'.repeat(48))), false);
    assert.equal(isAccepted([rule('allow', 'guid', GUID)], device('cd'.repeat(48))), true);
    assert.equal(isAccepted([rule('allow', 'manufacturer-key', MFG)], device('cd'.repeat(48))), true);
    assert.equal(isAccepted([rule('allow', 'manufacturer-key', KEY)], device()), false);
  });

  test('caps waitSeconds at the maximum and keeps smaller requests', () => {
    assert.equal(grantWaitSeconds(4_294_967_295, 2_592_000), 2_592_000);
    assert.equal(grantWaitSeconds(3600, 2_592_000), 3600);
  });

  test('normalises GUIDs and key hashes, refusing malformed ones', () => {
    assert.equal(parseGuid('66B2146F-FEC5-3CA6-AD01-7625990572CE'), GUID);
    assert.throws(
      () => parseGuid('66b2'),
      (error: unknown) => error instanceof AppError && error.code === 'invalid_input',
    );
    assert.equal(parseKeyHash(KEY.toUpperCase()), KEY);
    assert.throws(() => parseKeyHash('ab'.repeat(32)), /SHA-384/);
  });
});

describe('device signature types', () => {
  test('ES256 only for P-256, ES384 only for P-384, RS256/RS384 for RSA', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    assert.deepEqual(
      [-7, -35, -257].map((t) => isSignatureTypeOf(p256, t)),
      [true, false, false],
    );
    assert.deepEqual(
      [-7, -35, 90].map((t) => isSignatureTypeOf(p384, t)),
      [false, true, false],
    );
    assert.deepEqual(
      [-257, -258, -7].map((t) => isSignatureTypeOf(rsa, t)),
      [true, true, false],
    );
  });
});
