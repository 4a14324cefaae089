import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { decodeCbor, encodeCbor } from './cbor.js';
import { readDeviceCredential } from './device-credential.js';
import { FDO_ERROR, FdoError } from './errors.js';

const DC = new Uint8Array(readFileSync(new URL('../../test/fixtures/fdo-vectors/dc.bin', import.meta.url)));
const rejects = (err: unknown) => err instanceof FdoError && err.code === FDO_ERROR.MESSAGE_BODY_ERROR;

test('reads dc.bin: GUID, device info, RV info, the P-256 device key and the 32-byte HMAC secret', () => {
  const dc = readDeviceCredential(DC);
  assert.equal(Buffer.from(dc.guid).toString('hex'), '66b2146ffec53ca6ad017625990572ce');
  assert.equal(dc.deviceInfo, 'go.fdo.example');
  assert.equal(dc.rvInfo.length, 2);
  assert.equal(dc.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(dc.hmacSecret.length, 32);
  assert.equal(dc.publicKeyHash.type, -43);
});

test('accepts the secrets as bstr too, and rejects other layouts', () => {
  const items = decodeCbor(DC.slice()) as unknown[];
  const plain = (items[6] as Map<string, Map<string, unknown>>).get('Plain') as Map<string, unknown>;
  plain.set('hmac_secret', Uint8Array.from(plain.get('hmac_secret') as number[]));
  assert.equal(readDeviceCredential(encodeCbor(items)).hmacSecret.length, 32);
  plain.set('private_key', [1, 2, 3]);
  assert.throws(() => readDeviceCredential(encodeCbor(items)), rejects);
  plain.set('private_key', [1, 2, 300]);
  assert.throws(() => readDeviceCredential(encodeCbor(items)), rejects);
  assert.throws(
    () => readDeviceCredential(encodeCbor([...items.slice(0, 1), 100, ...items.slice(2)])),
    rejects,
  );
  assert.throws(() => readDeviceCredential(encodeCbor(items.slice(0, 6))), rejects);
});
