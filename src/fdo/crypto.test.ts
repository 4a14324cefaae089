import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CborTag, decodeCbor, encodeCbor } from './cbor.js';
import {
  decodePublicKey,
  encodePublicKey,
  hash,
  hmac,
  importSpki,
  PK_ENC,
  PK_TYPE,
  publicKeyToKeyObject,
  signSign1,
  verifySign1,
} from './crypto.js';
import { FDO_ERROR, FdoError } from './errors.js';
import { parseVoucher } from './voucher.js';

const VECTORS = new URL('../../test/fixtures/fdo-vectors/', import.meta.url);
const hasCode = (code: number) => (err: unknown) => err instanceof FdoError && err.code === code;
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const KEYS: Record<string, { privateKey: KeyObject; publicKey: KeyObject; alg: number; pkType: number }> = {
  'P-256': { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }), alg: -7, pkType: PK_TYPE.SECP256R1 },
  'P-384': { ...generateKeyPairSync('ec', { namedCurve: 'P-384' }), alg: -35, pkType: PK_TYPE.SECP384R1 },
  'RSA-2048': {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }),
    alg: -257,
    pkType: PK_TYPE.RSA2048RESTR,
  },
  'RSA-PSS-2048': {
    ...generateKeyPairSync('rsa-pss', { modulusLength: 2048 }),
    alg: -37,
    pkType: PK_TYPE.RSAPSS,
  },
};

test('signs and verifies COSE_Sign1 for every supported key kind, with the alg chosen from the key', () => {
  const payload = encodeCbor(['to1d payload', 1]);
  for (const [name, k] of Object.entries(KEYS)) {
    const signed = decodeCbor(encodeCbor(signSign1(payload, k.privateKey)));
    assert.ok(signed instanceof CborTag && signed.tag === 18, name);
    const [protectedBytes] = signed.contents as unknown[];
    assert.deepEqual(decodeCbor(protectedBytes as Uint8Array), new Map([[1, k.alg]]), name);
    assert.deepEqual(verifySign1(signed, k.publicKey), payload, name);
  }
});

test('the ES256 COSE_Sign1 layout matches the reference bytes: d2 84 43a10126 a0 <payload> 5840 r‖s', () => {
  const payload = new Uint8Array(40).fill(7);
  const bytes = encodeCbor(signSign1(payload, KEYS['P-256']?.privateKey as KeyObject));
  assert.equal(toHex(bytes.subarray(0, 8)), 'd28443a10126a058');
  assert.equal(toHex(bytes.subarray(8, 9)), '28');
  assert.equal(toHex(bytes.subarray(49, 51)), '5840', 'a raw 64-byte r‖s signature, not DER');
  assert.equal(bytes.length, 51 + 64);
});

test('a wrong key, a tampered payload, a DER signature or a mismatched alg fail with the caller’s code', () => {
  const p256 = KEYS['P-256'] as (typeof KEYS)[string];
  const p384 = KEYS['P-384'] as (typeof KEYS)[string];
  const payload = encodeCbor([1, 2, 3]);
  const signed = signSign1(payload, p256.privateKey);
  const code = FDO_ERROR.INVALID_OWNER_SIGN_BODY;
  assert.throws(
    () => verifySign1(signed, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, code),
    hasCode(code),
  );
  const [prot, unprot, , sig] = signed.contents as unknown[];
  assert.throws(
    () => verifySign1(new CborTag(18, [prot, unprot, encodeCbor([1, 2, 4]), sig]), p256.publicKey),
    hasCode(101),
  );
  const protectedBytes = prot as Uint8Array;
  const toBeSigned = encodeCbor(['Signature1', protectedBytes, new Uint8Array(0), payload]);
  const der = new Uint8Array(sign('sha256', toBeSigned, p256.privateKey));
  assert.throws(
    () => verifySign1(new CborTag(18, [prot, unprot, payload, der]), p256.publicKey),
    hasCode(101),
  );
  // Signed with P-256 (ES256) but checked against a P-384 owner key: the alg does not fit the key.
  assert.throws(() => verifySign1(signed, p384.publicKey, code), hasCode(code));
  const rsa = signSign1(payload, KEYS['RSA-2048']?.privateKey as KeyObject);
  assert.throws(() => verifySign1(rsa, p256.publicKey), hasCode(101));
});

test('structural problems in a COSE_Sign1 are MESSAGE_BODY_ERROR', () => {
  const signed = signSign1(encodeCbor(1), KEYS['P-256']?.privateKey as KeyObject);
  const key = KEYS['P-256']?.publicKey as KeyObject;
  const [prot, unprot, payload, sig] = signed.contents as unknown[];
  const bad = [
    signed.contents, // untagged
    new CborTag(17, signed.contents),
    new CborTag(18, [prot, unprot, payload]),
    new CborTag(18, [encodeCbor(new Map([[1, -999]])), unprot, payload, sig]),
    new CborTag(18, [new Uint8Array(0), unprot, payload, sig]),
    new CborTag(18, [prot, unprot, null, sig]),
  ];
  for (const item of bad)
    assert.throws(() => verifySign1(item, key, 3), hasCode(FDO_ERROR.MESSAGE_BODY_ERROR));
});

test('decodes FDO PublicKeys in X509, X5CHAIN and COSEKEY encodings and caches the KeyObject', () => {
  const p256 = KEYS['P-256'] as (typeof KEYS)[string];
  const x509 = decodePublicKey(decodeCbor(encodeCbor(encodePublicKey(p256.publicKey))));
  assert.equal(x509.type, PK_TYPE.SECP256R1);
  assert.equal(x509.encoding, PK_ENC.X509);
  const key = publicKeyToKeyObject(x509);
  assert.ok(key.equals(p256.publicKey));
  assert.equal(
    publicKeyToKeyObject(decodePublicKey(decodeCbor(encodeCbor(encodePublicKey(p256.privateKey))))),
    key,
  );
  assert.equal(importSpki(x509.body as Uint8Array), key, 'the same bytes give the same cached KeyObject');

  const jwk = p256.publicKey.export({ format: 'jwk' });
  const coseKey = new Map<number, unknown>([
    [1, 2],
    [-1, 1],
    [-2, new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))],
    [-3, new Uint8Array(Buffer.from(jwk.y as string, 'base64url'))],
  ]);
  assert.ok(publicKeyToKeyObject(decodePublicKey([PK_TYPE.SECP256R1, PK_ENC.COSEKEY, coseKey])).equals(key));

  const ov = parseVoucher(readFileSync(new URL('ov.pem', VECTORS), 'utf8'));
  const chain = ov.certChain ?? [];
  const leaf = publicKeyToKeyObject(decodePublicKey([PK_TYPE.SECP256R1, PK_ENC.X5CHAIN, chain]));
  assert.ok(leaf.equals(new X509Certificate(chain[0] as Uint8Array).publicKey));
  for (const [name, k] of Object.entries(KEYS)) {
    const [type] = encodePublicKey(k.publicKey);
    assert.equal(type, k.pkType, name);
  }
});

test('rejects PublicKeys whose pkType does not match the key or whose encoding is unsupported', () => {
  const p256Body = encodePublicKey(KEYS['P-256']?.publicKey as KeyObject)[2];
  const bad: unknown[] = [
    [PK_TYPE.SECP384R1, PK_ENC.X509, p256Body],
    [PK_TYPE.RSAPKCS, PK_ENC.X509, p256Body],
    [99, PK_ENC.X509, p256Body],
    [PK_TYPE.SECP256R1, 0, p256Body],
    [PK_TYPE.SECP256R1, PK_ENC.X509, new Uint8Array(10)],
    [PK_TYPE.SECP256R1, PK_ENC.X509],
  ];
  for (const value of bad) {
    assert.throws(() => publicKeyToKeyObject(decodePublicKey(value)), hasCode(FDO_ERROR.MESSAGE_BODY_ERROR));
  }
  const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey;
  const [type, , body] = encodePublicKey(rsa3072);
  assert.equal(type, PK_TYPE.RSAPKCS);
  assert.throws(
    () => publicKeyToKeyObject({ type: PK_TYPE.RSA2048RESTR, encoding: PK_ENC.X509, body }),
    hasCode(FDO_ERROR.MESSAGE_BODY_ERROR),
  );
  assert.ok(rsa3072.equals(publicKeyToKeyObject({ type, encoding: PK_ENC.X509, body })));
});

test('hashes and HMACs with the FDO type numbers and rejects unknown ones', () => {
  const data = new TextEncoder().encode('abc');
  assert.equal(toHex(hash(-16, data)), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hash(-43, data).length, 48);
  assert.equal(Object.getPrototypeOf(hash(-16, data)), Uint8Array.prototype);
  assert.equal(hmac(5, data, data).length, 32);
  assert.equal(hmac(6, data, data).length, 48);
  assert.throws(() => hash(5, data), hasCode(FDO_ERROR.MESSAGE_BODY_ERROR));
  assert.throws(() => hmac(-16, data, data), hasCode(FDO_ERROR.MESSAGE_BODY_ERROR));
});

test('keys FDO has no type for (RSA below 2048 bits, other curves) are refused', () => {
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const [, , p256Body] = encodePublicKey(KEYS['P-256']?.publicKey as KeyObject);
  const spki = (k: KeyObject) => new Uint8Array(k.export({ format: 'der', type: 'spki' }));
  const bodyError = hasCode(FDO_ERROR.MESSAGE_BODY_ERROR);
  assert.throws(() => importSpki(spki(weak.publicKey)), bodyError);
  assert.throws(() => signSign1(p256Body, weak.privateKey), bodyError);
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey;
  assert.throws(
    () => publicKeyToKeyObject({ type: PK_TYPE.SECP384R1, encoding: PK_ENC.X509, body: spki(p521) }),
    bodyError,
  );
  const signed = signSign1(p256Body, KEYS['P-256']?.privateKey as KeyObject);
  assert.throws(() => verifySign1(signed, generateKeyPairSync('ed25519').publicKey), bodyError);
});
