import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type CborTag, decodeCbor, encodeCbor } from './cbor.js';
import { signSign1 } from './crypto.js';
import { readDeviceCredential } from './device-credential.js';
import { signEat, verifyEat, verifyEatAsync } from './eat.js';
import { FDO_ERROR, FdoError } from './errors.js';
import { parseVoucher, verifyVoucher } from './voucher.js';

const VECTORS = new URL('../../test/fixtures/fdo-vectors/', import.meta.url);
const DEVICE = readDeviceCredential(new Uint8Array(readFileSync(new URL('dc.bin', VECTORS))));
// The device key as a rendezvous gets it: the leaf of the voucher's device certificate chain.
const DEVICE_KEY = verifyVoucher(parseVoucher(readFileSync(new URL('ov.pem', VECTORS), 'utf8')), {
  allowNoEntries: true,
}).deviceKey;
const NONCE = new Uint8Array(16).fill(0xab);
const UEID = Uint8Array.of(1, ...DEVICE.guid);
const rejects = (code: number) => (err: unknown) => err instanceof FdoError && err.code === code;

/** As a device sends it: encoded, then decoded by the rendezvous. */
function wire(claims: Map<number, unknown>) {
  return decodeCbor(encodeCbor(signEat(claims, DEVICE.privateKey)));
}

test('the dc.bin device key signs an EAT that verifies with the voucher’s device leaf key', () => {
  assert.ok(DEVICE_KEY?.equals(createPublicKey(DEVICE.privateKey)));
  const bytes = encodeCbor(
    signEat(
      new Map<number, unknown>([
        [10, NONCE],
        [256, UEID],
      ]),
      DEVICE.privateKey,
    ),
  );
  // fdo.md §10: d2 84 43a10126 a0 5828 <a2 0a 50 nonce 190100 51 01 guid> 5840 <r‖s>
  const expectedPayload = `a20a50${'ab'.repeat(16)}1901005101${Buffer.from(DEVICE.guid).toString('hex')}`;
  assert.equal(
    Buffer.from(bytes.subarray(0, 9 + 40)).toString('hex'),
    `d28443a10126a05828${expectedPayload}`,
  );
  const eat = verifyEat(decodeCbor(bytes), DEVICE_KEY ?? DEVICE.privateKey);
  assert.deepEqual(eat.nonce, NONCE);
  assert.deepEqual(eat.ueid, UEID);
  assert.equal(eat.claims.size, 2);
});

test('accepts the UEID under label 11 (fdo-rs) or no UEID at all', () => {
  const key = DEVICE_KEY ?? DEVICE.privateKey;
  assert.deepEqual(
    verifyEat(
      wire(
        new Map<number, unknown>([
          [10, NONCE],
          [11, UEID],
        ]),
      ),
      key,
    ).ueid,
    UEID,
  );
  assert.equal(verifyEat(wire(new Map<number, unknown>([[10, NONCE]])), key).ueid, undefined);
  const both = wire(
    new Map<number, unknown>([
      [10, NONCE],
      [256, UEID],
      [11, Uint8Array.of(1, 2)],
    ]),
  );
  assert.throws(() => verifyEat(both, key), rejects(FDO_ERROR.INVALID_MESSAGE_ERROR));
});

test('a foreign device key is INVALID_MESSAGE_ERROR; a broken structure is MESSAGE_BODY_ERROR', () => {
  const key = DEVICE_KEY ?? DEVICE.privateKey;
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const foreign = decodeCbor(encodeCbor(signEat(new Map<number, unknown>([[10, NONCE]]), stranger)));
  assert.throws(() => verifyEat(foreign, key), rejects(FDO_ERROR.INVALID_MESSAGE_ERROR));
  const body = rejects(FDO_ERROR.MESSAGE_BODY_ERROR);
  assert.throws(() => verifyEat(wire(new Map<number, unknown>([[256, UEID]])), key), body);
  assert.throws(() => verifyEat(wire(new Map<number, unknown>([[10, new Uint8Array(8)]])), key), body);
  assert.throws(
    () => verifyEat(decodeCbor(encodeCbor(signSign1(encodeCbor([NONCE]), DEVICE.privateKey))), key),
    body,
  );
  const untagged = (wire(new Map<number, unknown>([[10, NONCE]])) as CborTag).contents;
  assert.throws(() => verifyEat(untagged, key), body);
});

test('verifyEatAsync gives the same claims and the same error codes as verifyEat', async () => {
  const key = DEVICE_KEY ?? DEVICE.privateKey;
  const eat = await verifyEatAsync(
    wire(
      new Map<number, unknown>([
        [10, NONCE],
        [256, UEID],
      ]),
    ),
    key,
  );
  assert.deepEqual(eat.nonce, NONCE);
  assert.deepEqual(eat.ueid, UEID);
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const foreign = decodeCbor(encodeCbor(signEat(new Map<number, unknown>([[10, NONCE]]), stranger)));
  await assert.rejects(verifyEatAsync(foreign, key), rejects(FDO_ERROR.INVALID_MESSAGE_ERROR));
  await assert.rejects(
    verifyEatAsync(wire(new Map<number, unknown>([[256, UEID]])), key),
    rejects(FDO_ERROR.MESSAGE_BODY_ERROR),
  );
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
  await assert.rejects(
    verifyEatAsync(wire(new Map<number, unknown>([[10, NONCE]])), p384),
    rejects(FDO_ERROR.INVALID_MESSAGE_ERROR),
  );
});
