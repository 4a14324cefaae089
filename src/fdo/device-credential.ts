import { createPrivateKey, type KeyObject } from 'node:crypto';
import { asArray, asBytes, asMap, asText, asUint, decodeCbor } from './cbor.js';
import { decodeHash } from './crypto.js';
import { FDO_ERROR, FdoError } from './errors.js';

/** A device credential (dc.bin): what a device keeps after DI, enough to run TO1 as that device. */
export type DeviceCredential = {
  guid: Uint8Array;
  deviceInfo: string;
  rvInfo: unknown[];
  privateKey: KeyObject;
  hmacSecret: Uint8Array;
  publicKeyHash: { type: number; value: Uint8Array };
};

// fdo-rs writes the secrets as CBOR arrays of byte values rather than bstr; accept both.
function secretBytes(x: unknown, what: string): Uint8Array {
  if (x instanceof Uint8Array) return x;
  const items = asArray(x, undefined, what);
  return Uint8Array.from(items, (b) => asUint(b, 255, what));
}

/**
 * Reads a device credential in the fdo-rs file layout: [active, protver, DeviceInfo, Guid, RendezvousInfo,
 * PublicKeyHash, {"Plain": {"hmac_secret", "private_key"}}]. Throws FdoError(MESSAGE_BODY_ERROR).
 */
export function readDeviceCredential(bytes: Uint8Array): DeviceCredential {
  const [, protver, deviceInfo, guid, rvInfo, publicKeyHash, secrets] = asArray(
    decodeCbor(bytes),
    7,
    'DeviceCredential',
  );
  if (protver !== 101)
    throw new FdoError(
      FDO_ERROR.MESSAGE_BODY_ERROR,
      `device credential protocol version ${String(protver)}, expected 101`,
    );
  const plain = asMap(
    asMap(secrets, 'DeviceCredential secrets').get('Plain'),
    'DeviceCredential secrets.Plain',
  );
  const keyDer = secretBytes(plain.get('private_key'), 'private_key');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(keyDer), format: 'der', type: 'sec1' });
  } catch {
    try {
      privateKey = createPrivateKey({ key: Buffer.from(keyDer), format: 'der', type: 'pkcs8' });
    } catch (err) {
      throw new FdoError(
        FDO_ERROR.MESSAGE_BODY_ERROR,
        `device private key does not import: ${(err as Error).message}`,
      );
    }
  }
  return {
    guid: asBytes(guid, 16, 'Guid'),
    deviceInfo: asText(deviceInfo, 'DeviceInfo'),
    rvInfo: asArray(rvInfo, undefined, 'RendezvousInfo'),
    privateKey,
    hmacSecret: secretBytes(plain.get('hmac_secret'), 'hmac_secret'),
    publicKeyHash: decodeHash(publicKeyHash, 'PublicKeyHash'),
  };
}
