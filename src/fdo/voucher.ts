import { createHash, createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import {
  asArray,
  asBytes,
  asText,
  asUint,
  CborRaw,
  decodeCbor,
  decodeWrapped,
  encodeCbor,
  originalBytes,
} from './cbor.js';
import {
  decodeHash,
  decodePublicKey,
  encodePublicKey,
  type FdoPublicKey,
  HASH_TYPE,
  hash,
  hashMatches,
  keyFitsType,
  PK_TYPE,
  parseSign1,
  publicKeyToKeyObject,
  signSign1,
  verifyParsedSign1,
} from './crypto.js';
import { checkLeafValidity, verifyDeviceChain } from './device-chain.js';
import { FDO_ERROR, FdoError } from './errors.js';

const PROTOCOL_VERSION = 101;
// SDO capped entries at 10; a resale chain longer than this is far more likely an attack on the verifier.
const MAX_ENTRIES = 32;
const PEM_LABEL = 'OWNERSHIP VOUCHER';
const VERIFIED = new Map<string, VerifiedVoucher>();
const VERIFIED_MAX = 10_000;

type Hash = { type: number; value: Uint8Array };

type VoucherEntry = { bytes: Uint8Array; sign1: unknown };

/** A parsed (not yet verified) ownership voucher, keeping the original bytes FDO hashes over. */
export type Voucher = {
  /** Contents of the OVHeaderTag bstr. */
  headerBytes: Uint8Array;
  header: {
    guid: Uint8Array;
    rvInfo: unknown[];
    deviceInfo: string;
    manufacturerKey: FdoPublicKey;
    manufacturerKeyBytes: Uint8Array;
    certChainHash: Hash | null;
  };
  /** Original encoding of the OVHeaderHMac item. */
  hmacBytes: Uint8Array;
  hmac: Hash;
  certChain: Uint8Array[] | null;
  /** Each entry's original bytes including tag 18, and its decoded form. */
  entries: VoucherEntry[];
};

/** The facts a verified voucher establishes (fdo.md §3); shared between callers through the cache. */
export type VerifiedVoucher = Readonly<{
  guid: Uint8Array;
  guidHex: string;
  deviceInfo: string;
  rvInfo: readonly unknown[];
  manufacturerKey: KeyObject;
  manufacturerKeyType: number;
  manufacturerKeyHash: string;
  ownerKey: KeyObject;
  ownerKeyEncoded: unknown;
  ownerKeyHash: string;
  /** SHA-384 hex of each entry's CBOR-encoded OVEPubKey, entry 0 first. */
  entryKeyHashes: readonly string[];
  deviceKey: KeyObject | undefined;
  deviceCertificates: readonly X509Certificate[];
  entryCount: number;
}>;

function invalidVoucher(detail: string): FdoError {
  return new FdoError(FDO_ERROR.INVALID_OWNERSHIP_VOUCHER, detail);
}

/** Runs a step whose decoding/crypto failures all mean "this voucher is bad" (code 2), keeping INVALID_GUID. */
function asVoucherStep<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof FdoError && err.code === FDO_ERROR.INVALID_GUID) throw err;
    throw invalidVoucher(`${what}: ${(err as Error).message}`);
  }
}

function fromPem(text: string): Uint8Array {
  const match = /-----BEGIN OWNERSHIP VOUCHER-----([A-Za-z0-9+/=\s]*)-----END OWNERSHIP VOUCHER-----/.exec(
    text,
  );
  if (!match?.[1]) throw invalidVoucher('no "OWNERSHIP VOUCHER" PEM block');
  return new Uint8Array(Buffer.from(match[1].replace(/\s+/g, ''), 'base64'));
}

function sha384Hex(bytes: Uint8Array): string {
  return Buffer.from(hash(HASH_TYPE.SHA384, bytes)).toString('hex');
}

function parseHeader(headerBytes: Uint8Array): Voucher['header'] {
  const [protver, guid, rvInfo, deviceInfo, pubKey, certHash] = asArray(
    decodeCbor(headerBytes),
    6,
    'OVHeader',
  );
  if (protver !== PROTOCOL_VERSION) throw invalidVoucher(`OVHProtVer ${String(protver)}, expected 101`);
  if (!(guid instanceof Uint8Array) || guid.length !== 16) {
    throw new FdoError(FDO_ERROR.INVALID_GUID, 'OVGuid is not a 16-byte bstr');
  }
  return {
    guid,
    rvInfo: asArray(rvInfo, undefined, 'OVRVInfo'),
    deviceInfo: asText(deviceInfo, 'OVDeviceInfo'),
    manufacturerKey: decodePublicKey(pubKey),
    manufacturerKeyBytes: originalBytes(pubKey) ?? encodeCbor(pubKey),
    certChainHash: certHash === null ? null : decodeHash(certHash, 'OVDevCertChainHash'),
  };
}

/**
 * Parses an ownership voucher from PEM text or raw CBOR (bytes not starting with 0x85, a 5-array, are read as PEM).
 * Throws FdoError(INVALID_OWNERSHIP_VOUCHER) — also for an FDO 1.0 voucher — or INVALID_GUID.
 */
export function parseVoucher(input: Uint8Array | string): Voucher {
  let bytes: Uint8Array;
  if (typeof input === 'string') bytes = fromPem(input);
  else if (input[0] !== 0x85)
    bytes = fromPem(Buffer.from(input.buffer, input.byteOffset, input.length).toString('latin1'));
  else bytes = input;
  return asVoucherStep('voucher', () => {
    const [protver, headerTag, hmacItem, chain, entries] = asArray(decodeCbor(bytes), 5, 'OwnershipVoucher');
    if (protver !== PROTOCOL_VERSION) {
      throw invalidVoucher(
        protver === 100
          ? 'an FDO 1.0 voucher (OVProtVer 100); only 1.1 (101) is supported'
          : `OVProtVer ${String(protver)}`,
      );
    }
    const headerBytes = asBytes(headerTag, undefined, 'OVHeaderTag');
    const certChain =
      chain === null
        ? null
        : asArray(chain, undefined, 'OVDevCertChain').map((c) => asBytes(c, undefined, 'certificate'));
    const entryItems = asArray(entries, undefined, 'OVEntryArray');
    if (entryItems.length > MAX_ENTRIES)
      throw invalidVoucher(`${entryItems.length} entries, at most ${MAX_ENTRIES}`);
    return {
      headerBytes,
      header: parseHeader(headerBytes),
      hmacBytes: originalBytes(hmacItem) ?? encodeCbor(hmacItem),
      hmac: decodeHash(hmacItem, 'OVHeaderHMac'),
      certChain,
      entries: entryItems.map((sign1) => ({ bytes: originalBytes(sign1) ?? encodeCbor(sign1), sign1 })),
    };
  });
}

function checkRvInfo(rvInfo: unknown[]): void {
  if (rvInfo.length === 0) throw invalidVoucher('OVRVInfo is empty');
  for (const directive of rvInfo) {
    const instrs = asArray(directive, undefined, 'RendezvousDirective');
    if (instrs.length === 0) throw invalidVoucher('an OVRVInfo directive is empty');
    for (const instr of instrs) {
      const [variable, value] = asArray(instr, [1, 2], 'RendezvousInstr');
      asUint(variable, 255, 'RVVariable');
      if (value !== undefined) decodeWrapped(value, 'RVValue');
    }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function verifyUncached(v: Voucher): VerifiedVoucher {
  const { header } = v;
  if (header.deviceInfo.length === 0) throw invalidVoucher('OVDeviceInfo is empty');
  asVoucherStep('OVRVInfo', () => checkRvInfo(header.rvInfo));
  const manufacturerKey = asVoucherStep('manufacturer key', () =>
    publicKeyToKeyObject(header.manufacturerKey),
  );

  let device: ReturnType<typeof verifyDeviceChain> | undefined;
  if ((v.certChain === null) !== (header.certChainHash === null)) {
    throw invalidVoucher('OVDevCertChain and OVDevCertChainHash must both be present or both null');
  }
  if (v.certChain && header.certChainHash) {
    const chain = v.certChain;
    const expected = header.certChainHash;
    if (!asVoucherStep('OVDevCertChainHash', () => hashMatches(expected, concat(chain)))) {
      throw invalidVoucher('OVDevCertChainHash does not match the certificate chain');
    }
    device = verifyDeviceChain(chain);
  }

  const hdrInfo = concat([header.guid, Buffer.from(header.deviceInfo, 'utf8')]);
  let signer = manufacturerKey;
  let ownerKeyEncoded: unknown = decodeCbor(header.manufacturerKeyBytes);
  let ownerKeyBytes = header.manufacturerKeyBytes;
  let hashType: number | undefined;
  const entryKeyHashes: string[] = [];
  for (const [i, entry] of v.entries.entries()) {
    asVoucherStep(`entry ${i}`, () => {
      const sign1 = parseSign1(entry.sign1);
      const [prevHashItem, hdrHashItem, extra, pubKey] = asArray(
        decodeCbor(sign1.payload),
        4,
        'OVEntryPayload',
      );
      const prevHash = decodeHash(prevHashItem, 'OVEHashPrevEntry');
      const hdrHash = decodeHash(hdrHashItem, 'OVEHashHdrInfo');
      hashType ??= prevHash.type;
      if (prevHash.type !== hashType || hdrHash.type !== hashType) {
        throw invalidVoucher(
          `entry ${i} uses hash type ${prevHash.type}/${hdrHash.type}, entry 0 uses ${hashType}`,
        );
      }
      const previous =
        i === 0 ? concat([v.headerBytes, v.hmacBytes]) : (v.entries[i - 1] as VoucherEntry).bytes;
      if (!hashMatches(prevHash, previous)) throw invalidVoucher('OVEHashPrevEntry does not match');
      if (!hashMatches(hdrHash, hdrInfo)) throw invalidVoucher('OVEHashHdrInfo does not match');
      if (extra !== null) decodeWrapped(extra, 'OVEExtra');
      verifyParsedSign1(sign1, signer, FDO_ERROR.INVALID_OWNERSHIP_VOUCHER);
      signer = publicKeyToKeyObject(decodePublicKey(pubKey));
      ownerKeyEncoded = pubKey;
      ownerKeyBytes = originalBytes(pubKey) ?? encodeCbor(pubKey);
      entryKeyHashes.push(sha384Hex(ownerKeyBytes));
    });
  }

  return {
    guid: header.guid,
    guidHex: Buffer.from(header.guid).toString('hex'),
    deviceInfo: header.deviceInfo,
    rvInfo: header.rvInfo,
    manufacturerKey,
    manufacturerKeyType: header.manufacturerKey.type,
    manufacturerKeyHash: sha384Hex(header.manufacturerKeyBytes),
    ownerKey: signer,
    ownerKeyEncoded,
    ownerKeyHash: sha384Hex(ownerKeyBytes),
    entryKeyHashes,
    deviceKey: device?.leafKey,
    deviceCertificates: device?.certificates ?? [],
    entryCount: v.entries.length,
  };
}

/** A digest naming every byte verifyVoucher looks at, with lengths so that parts cannot shift. */
function voucherDigest(v: Voucher): string {
  const h = createHash('sha256');
  const part = (bytes: Uint8Array) => h.update(`${bytes.length}:`).update(bytes);
  part(v.headerBytes);
  part(v.hmacBytes);
  h.update(v.certChain === null ? 'no-chain' : `chain ${v.certChain.length}`);
  for (const cert of v.certChain ?? []) part(cert);
  h.update(`entries ${v.entries.length}`);
  for (const entry of v.entries) part(entry.bytes);
  return h.digest('hex');
}

/**
 * Verifies everything a rendezvous can check without the device secret (fdo.md §3, §4 step 5): header fields,
 * RV info, device certificate chain and its hash, and each entry's prevHash, hdrInfo hash and signature from
 * the manufacturer key onward. A voucher without entries is rejected unless `allowNoEntries` (then the
 * manufacturer key is the owner key). With `now`, the device leaf must be valid then.
 * A voucher never changes, so results are cached by its bytes: owners re-run TO0 for the same voucher
 * before the registration expires, and the chain and entry checks cost ~1 ms.
 * Throws FdoError(INVALID_OWNERSHIP_VOUCHER, detail) or INVALID_GUID.
 */
export function verifyVoucher(
  v: Voucher,
  options: { now?: Date; allowNoEntries?: boolean } = {},
): VerifiedVoucher {
  if (v.entries.length === 0 && !options.allowNoEntries) throw invalidVoucher('voucher has no entries');
  const digest = voucherDigest(v);
  let verified = VERIFIED.get(digest);
  if (!verified) {
    verified = Object.freeze(verifyUncached(v));
    if (VERIFIED.size >= VERIFIED_MAX) {
      const oldest = VERIFIED.keys().next().value;
      if (oldest !== undefined) VERIFIED.delete(oldest);
    }
    VERIFIED.set(digest, verified);
  }
  const leaf = verified.deviceCertificates[0];
  if (options.now && leaf) checkLeafValidity(leaf, options.now);
  return verified;
}

function spkiHex(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' }).toString('hex');
}

/**
 * Appends an entry transferring the voucher to `nextOwner`, signed by the current owner's private key (the
 * manufacturer key while there are no entries). The hash type follows entry 0, or the header HMac's size.
 * Throws FdoError(INVALID_OWNERSHIP_VOUCHER) when `previousOwnerKey` is not the current owner's key.
 */
export function extendVoucher(v: Voucher, previousOwnerKey: KeyObject, nextOwner: KeyObject): Voucher {
  const verified = verifyVoucher(v, { allowNoEntries: true });
  if (spkiHex(previousOwnerKey) !== spkiHex(verified.ownerKey)) {
    throw invalidVoucher('the signing key is not the current owner key of this voucher');
  }
  let hashType: number = v.hmac.type === HASH_TYPE.HMAC_SHA256 ? HASH_TYPE.SHA256 : HASH_TYPE.SHA384;
  const first = v.entries[0];
  if (first) hashType = decodeHash(asArray(decodeCbor(parseSign1(first.sign1).payload))[0]).type;
  const last = v.entries.at(-1);
  const previous = last ? last.bytes : concat([v.headerBytes, v.hmacBytes]);
  const hdrInfo = concat([v.header.guid, Buffer.from(v.header.deviceInfo, 'utf8')]);
  // FDO: every key in a voucher copies the manufacturer key's type, so a constrained device can check them all.
  const manufacturerType = v.header.manufacturerKey.type;
  const [ownType, encoding, body] = encodePublicKey(nextOwner);
  const nextKey = [keyFitsType(manufacturerType, nextOwner) ? manufacturerType : ownType, encoding, body];
  const payload = encodeCbor([
    [hashType, hash(hashType, previous)],
    [hashType, hash(hashType, hdrInfo)],
    null,
    nextKey,
  ]);
  const pss = manufacturerType === PK_TYPE.RSAPSS;
  const bytes = encodeCbor(signSign1(payload, previousOwnerKey, new Map(), { pss }));
  return { ...v, entries: [...v.entries, { bytes, sign1: decodeCbor(bytes) }] };
}

/** The voucher as CBOR, reusing every original byte so hashes over it stay valid. */
export function encodeVoucher(v: Voucher): Uint8Array {
  return encodeCbor([
    PROTOCOL_VERSION,
    v.headerBytes,
    new CborRaw(v.hmacBytes),
    v.certChain,
    v.entries.map((e) => new CborRaw(e.bytes)),
  ]);
}

/** The voucher in the PEM armour every FDO implementation reads. */
export function encodeVoucherPem(v: Voucher): string {
  const b64 = Buffer.from(encodeVoucher(v)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${PEM_LABEL}-----\n${lines.join('\n')}\n-----END ${PEM_LABEL}-----\n`;
}
