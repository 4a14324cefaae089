import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CborTag, decodeCbor, encodeCbor } from './cbor.js';
import { encodePublicKey, HASH_TYPE, hash, hmac, PK_TYPE, signSign1 } from './crypto.js';
import { readDeviceCredential } from './device-credential.js';
import { FDO_ERROR, FdoError } from './errors.js';
import { encodeVoucher, encodeVoucherPem, extendVoucher, parseVoucher, verifyVoucher } from './voucher.js';

const VECTORS = new URL('../../test/fixtures/fdo-vectors/', import.meta.url);
const OV_PEM = readFileSync(new URL('ov.pem', VECTORS), 'utf8');
const OV_EXTENDED_PEM = readFileSync(new URL('ov_extended.pem', VECTORS), 'utf8');
const MFG_KEY = createPrivateKey(readFileSync(new URL('mfg_key.pem', VECTORS)));
const DEVICE = readDeviceCredential(new Uint8Array(readFileSync(new URL('dc.bin', VECTORS))));
const OV_EXTENDED = encodeVoucher(parseVoucher(OV_EXTENDED_PEM));
const OV = encodeVoucher(parseVoucher(OV_PEM));

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha384Hex = (b: Uint8Array) => toHex(hash(HASH_TYPE.SHA384, b));
const rejects = (code: number, detail?: RegExp) => (err: unknown) =>
  err instanceof FdoError && err.code === code && (detail === undefined || detail.test(err.message));

/** Decodes a voucher to plain arrays, lets the test spoil it, and encodes it again. */
function spoil(bytes: Uint8Array, change: (ov: unknown[]) => void): Uint8Array {
  // Decoded byte strings are views into the input: decode a copy so in-place edits stay local.
  const ov = decodeCbor(bytes.slice()) as unknown[];
  change(ov);
  return encodeCbor(ov);
}

/** Same, for the OVHeader inside ov.pem (no entries, so a changed header is not caught by entry 0's hash). */
function spoilHeader(change: (header: unknown[], ov: unknown[]) => void): Uint8Array {
  return spoil(OV, (ov) => {
    const header = decodeCbor(ov[1] as Uint8Array) as unknown[];
    change(header, ov);
    ov[1] = encodeCbor(header);
  });
}

function verifyBytes(bytes: Uint8Array, allowNoEntries = false) {
  return verifyVoucher(parseVoucher(bytes), { allowNoEntries, now: new Date('2026-01-01T00:00:00Z') });
}

test('ov_extended.pem (RSA, 6 entries) verifies end to end', () => {
  const v = verifyVoucher(parseVoucher(OV_EXTENDED_PEM), { now: new Date('2026-01-01T00:00:00Z') });
  assert.equal(v.guidHex, 'f1d0fd0066bd4ef392bc1b7c393fbe18');
  assert.equal(v.deviceInfo, 'I am a virtual FIDO Alliance device!');
  assert.equal(v.entryCount, 6);
  assert.equal(v.manufacturerKeyType, 1);
  assert.equal(v.manufacturerKey.asymmetricKeyType, 'rsa');
  assert.equal(v.ownerKey.asymmetricKeyType, 'rsa');
  assert.equal(v.entryKeyHashes.length, 6);
  assert.equal(v.ownerKeyHash, v.entryKeyHashes[5]);
  assert.equal(v.ownerKeyHash, sha384Hex(encodeCbor(v.ownerKeyEncoded)));
  assert.equal(v.deviceKey?.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(v.deviceCertificates.length, 3);
  const again = parseVoucher(OV_EXTENDED);
  assert.equal(
    verifyVoucher(again),
    verifyVoucher(again),
    'a voucher verified once is served from the cache',
  );
});

test('ov.pem parses; its header HMAC and manufacturer key hash match the dc.bin device credential', () => {
  const parsed = parseVoucher(OV_PEM);
  assert.equal(parsed.entries.length, 0);
  assert.equal(toHex(parsed.header.guid), '66b2146ffec53ca6ad017625990572ce');
  assert.deepEqual(parsed.header.guid, DEVICE.guid);
  assert.deepEqual(hmac(parsed.hmac.type, DEVICE.hmacSecret, parsed.headerBytes), parsed.hmac.value);
  const v = verifyVoucher(parsed, { allowNoEntries: true });
  assert.equal(v.manufacturerKeyHash, toHex(DEVICE.publicKeyHash.value));
  assert.equal(v.ownerKeyHash, v.manufacturerKeyHash, 'without entries the manufacturer still owns it');
  assert.ok(v.deviceKey?.equals(createPublicKey(DEVICE.privateKey)), 'the dc.bin key is the device leaf key');
  assert.throws(() => verifyVoucher(parsed), rejects(FDO_ERROR.INVALID_OWNERSHIP_VOUCHER, /no entries/));
});

test('reads PEM text, PEM bytes and raw CBOR alike and re-encodes byte for byte', () => {
  const raw = new Uint8Array(
    Buffer.from(OV_EXTENDED_PEM.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'),
  );
  assert.deepEqual(OV_EXTENDED, raw);
  assert.deepEqual(encodeVoucher(parseVoucher(Buffer.from(OV_EXTENDED_PEM))), raw);
  assert.deepEqual(encodeVoucher(parseVoucher(encodeVoucherPem(parseVoucher(raw)))), raw);
  assert.throws(
    () => parseVoucher('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    rejects(2),
  );
});

test('extends ov.pem with the manufacturer key to an owner, and that owner to the next', () => {
  const owner = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const once = parseVoucher(encodeVoucherPem(extendVoucher(parseVoucher(OV_PEM), MFG_KEY, owner.publicKey)));
  const first = verifyBytes(encodeVoucher(once));
  assert.equal(first.entryCount, 1);
  assert.ok(first.ownerKey.equals(owner.publicKey));
  assert.deepEqual(first.guid, DEVICE.guid);
  // Entry 0 hashes with SHA-384 because the header HMAC is HMAC-SHA384 (fdo.md §4).
  const [, , payload] = (once.entries[0] as { sign1: CborTag }).sign1.contents as Uint8Array[];
  const [prevHash] = decodeCbor(payload as Uint8Array) as unknown[][];
  assert.equal(prevHash?.[0], HASH_TYPE.SHA384);

  const buyer = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const twice = verifyBytes(encodeVoucher(extendVoucher(once, owner.privateKey, buyer.publicKey)));
  assert.equal(twice.entryCount, 2);
  assert.ok(twice.ownerKey.equals(buyer.publicKey));
  assert.throws(
    () => extendVoucher(once, MFG_KEY, buyer.publicKey),
    rejects(FDO_ERROR.INVALID_OWNERSHIP_VOUCHER, /not the current owner/),
  );
});

test('rejects tampered entries, a broken hash chain and a wrong signature with INVALID_OWNERSHIP_VOUCHER', () => {
  const tamperedPayload = spoil(OV_EXTENDED, (ov) => {
    const entry = (ov[4] as CborTag[])[3] as CborTag;
    const [prot, unprot, payload, sig] = entry.contents as Uint8Array[];
    const changed = Uint8Array.from(payload as Uint8Array);
    changed[changed.length - 5] = (changed[changed.length - 5] as number) ^ 1;
    (ov[4] as CborTag[])[3] = new CborTag(18, [prot, unprot, changed, sig]);
  });
  assert.throws(() => verifyBytes(tamperedPayload), rejects(2, /entry 3/));
  const brokenChain = spoil(OV_EXTENDED, (ov) => (ov[4] as unknown[]).splice(2, 1));
  assert.throws(() => verifyBytes(brokenChain), rejects(2, /entry 2: OVEHashPrevEntry does not match/));

  const owner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const extended = encodeVoucher(extendVoucher(parseVoucher(OV_PEM), MFG_KEY, owner.publicKey));
  const forged = spoil(extended, (ov) => {
    const [, , payload] = ((ov[4] as CborTag[])[0] as CborTag).contents as Uint8Array[];
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    (ov[4] as unknown[])[0] = signSign1(payload as Uint8Array, stranger);
  });
  assert.throws(() => verifyBytes(forged), rejects(2, /entry 0: COSE_Sign1 signature does not verify/));
  const tamperedHmac = spoil(extended, (ov) => {
    const value = (ov[2] as Uint8Array[])[1] as Uint8Array;
    value[0] = (value[0] as number) ^ 0xff;
  });
  assert.throws(() => verifyBytes(tamperedHmac), rejects(2, /entry 0: OVEHashPrevEntry does not match/));
});

test('rejects an FDO 1.0 voucher, bad CBOR and a garbage header', () => {
  assert.throws(() => parseVoucher(spoil(OV_EXTENDED, (ov) => (ov[0] = 100))), rejects(2, /FDO 1\.0/));
  assert.throws(() => parseVoucher(OV_EXTENDED.subarray(0, 500)), rejects(2, /malformed CBOR/));
  assert.throws(() => parseVoucher(spoil(OV, (ov) => (ov[1] = new Uint8Array([0x86, 0x18])))), rejects(2));
  assert.throws(() => parseVoucher(spoilHeader((h) => (h[0] = 100))), rejects(2, /OVHProtVer/));
  assert.throws(
    () => parseVoucher(spoilHeader((h) => (h[1] = new Uint8Array(15)))),
    rejects(FDO_ERROR.INVALID_GUID),
  );
});

test('checks the device certificate chain, its hash, the RV info and the device info', () => {
  const certHash = (chain: Uint8Array[]) => [-43, hash(-43, Buffer.concat(chain))];
  const wrongHash = spoil(OV_EXTENDED, (ov) => {
    const cert = (ov[3] as Uint8Array[])[1] as Uint8Array;
    cert[cert.length - 1] = (cert[cert.length - 1] as number) ^ 1;
  });
  assert.throws(() => verifyBytes(wrongHash), rejects(2, /OVDevCertChainHash does not match/));
  const swapped = spoilHeader((h, ov) => {
    const chain = (ov[3] as Uint8Array[]).reverse();
    h[5] = certHash(chain);
  });
  assert.doesNotThrow(() => parseVoucher(swapped));
  assert.throws(() => verifyBytes(swapped, true), rejects(2, /not issued by/));
  const extraCert = spoilHeader((h, ov) => {
    (ov[3] as Uint8Array[]).push(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]));
    h[5] = certHash(ov[3] as Uint8Array[]);
  });
  assert.throws(() => verifyBytes(extraCert, true), rejects(2, /certificate 2 does not parse/));
  assert.throws(
    () =>
      verifyBytes(
        spoil(OV, (ov) => (ov[3] = null)),
        true,
      ),
    rejects(2, /both/),
  );
  assert.throws(
    () =>
      verifyBytes(
        spoilHeader((h) => (h[2] = [])),
        true,
      ),
    rejects(2, /OVRVInfo is empty/),
  );
  assert.throws(
    () =>
      verifyBytes(
        spoilHeader((h) => (h[2] = [[]])),
        true,
      ),
    rejects(2, /directive is empty/),
  );
  assert.throws(
    () =>
      verifyBytes(
        spoilHeader((h) => (h[3] = '')),
        true,
      ),
    rejects(2, /OVDeviceInfo is empty/),
  );
  const fuzzedKey = spoilHeader((h) => {
    const body = (h[4] as unknown[])[2] as Uint8Array;
    body[30] = (body[30] as number) ^ 0x55;
  });
  assert.throws(() => verifyBytes(fuzzedKey, true), rejects(2, /manufacturer key/));
  assert.throws(
    () => verifyVoucher(parseVoucher(OV_EXTENDED), { now: new Date('2040-01-01T00:00:00Z') }),
    rejects(2, /leaf is not valid/),
  );
});

test('a voucher with random bytes flipped is rejected with code 2 or 5 and nothing else', () => {
  const owner = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const base = encodeVoucher(extendVoucher(parseVoucher(OV_PEM), MFG_KEY, owner.publicKey));
  let seed = 11;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed;
  };
  let accepted = 0;
  for (let i = 0; i < 400; i++) {
    const bytes = base.slice();
    for (let j = 0; j <= i % 3; j++) {
      const at = next() % bytes.length;
      bytes[at] = (bytes[at] as number) ^ (1 << (next() % 8));
    }
    if (Buffer.from(bytes).equals(base)) continue; // two flips of the same bit
    try {
      verifyVoucher(parseVoucher(bytes));
      accepted++;
    } catch (err) {
      assert.ok(err instanceof FdoError && (err.code === 2 || err.code === 5), `unexpected ${String(err)}`);
    }
  }
  assert.equal(accepted, 0, 'every byte of a voucher is covered by a hash or a signature');
});

test('a new entry copies the manufacturer key type and signs with PSS in an RSAPSS voucher', () => {
  const ov = parseVoucher(OV_PEM);
  for (const manufacturerType of [PK_TYPE.RSAPKCS, PK_TYPE.RSAPSS]) {
    const manufacturer = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const [, encoding, body] = encodePublicKey(manufacturer.publicKey);
    const header = decodeCbor(ov.headerBytes.slice()) as unknown[];
    header[4] = [manufacturerType, encoding, body];
    const manufactured = encodeCbor([101, encodeCbor(header), [6, new Uint8Array(48)], ov.certChain, []]);
    const next = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const sold = extendVoucher(parseVoucher(manufactured), manufacturer.privateKey, next);
    const [protectedBytes, , payload] = (sold.entries[0] as { sign1: CborTag }).sign1
      .contents as Uint8Array[];
    const alg = (decodeCbor(protectedBytes as Uint8Array) as Map<number, number>).get(1);
    assert.equal(alg, manufacturerType === PK_TYPE.RSAPSS ? -37 : -257);
    const [, , , nextKey] = decodeCbor(payload as Uint8Array) as unknown[][];
    assert.equal(nextKey?.[0], manufacturerType, 'not RSA2048RESTR although the key is 2048 bits');
    assert.ok(verifyVoucher(sold).ownerKey.equals(next));
  }
});
