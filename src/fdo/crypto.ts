import {
  constants,
  createHash,
  createHmac,
  createPublicKey,
  type JsonWebKey,
  type KeyObject,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { asArray, asBytes, asInt, asMap, asTagged, CborTag, decodeCbor, encodeCbor } from './cbor.js';
import { FDO_ERROR, FdoError } from './errors.js';

/** FDO PublicKey = [pkType, pkEnc, pkBody] (fdo.md §2). */
export type FdoPublicKey = { type: number; encoding: number; body: unknown };

export const PK_TYPE = { RSA2048RESTR: 1, RSAPKCS: 5, RSAPSS: 6, SECP256R1: 10, SECP384R1: 11 } as const;
export const PK_ENC = { CRYPTO: 0, X509: 1, X5CHAIN: 2, COSEKEY: 3 } as const;
export const HASH_TYPE = { SHA256: -16, SHA384: -43, HMAC_SHA256: 5, HMAC_SHA384: 6 } as const;
const COSE_ALG = { ES256: -7, ES384: -35, PS256: -37, PS384: -38, RS256: -257, RS384: -258 } as const;

const ALG_HASH: ReadonlyMap<number, 'sha256' | 'sha384'> = new Map([
  [COSE_ALG.ES256, 'sha256'],
  [COSE_ALG.RS256, 'sha256'],
  [COSE_ALG.PS256, 'sha256'],
  [COSE_ALG.ES384, 'sha384'],
  [COSE_ALG.RS384, 'sha384'],
  [COSE_ALG.PS384, 'sha384'],
]);

/** What a key can verify, derived once per KeyObject (asymmetricKeyDetails is not free). */
type KeyInfo =
  | { kind: 'ec'; curve: 'P-256' | 'P-384'; sigBytes: number }
  | { kind: 'rsa' | 'rsa-pss'; bits: number };

const KEY_INFO = new WeakMap<KeyObject, KeyInfo>();
// Re-importing a key costs ~4× a verification (fdo.md, issue 8), so imported keys are kept, bounded.
const KEY_CACHE = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 20_000;

function invalid(detail: string): FdoError {
  return new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, detail);
}

function keyInfo(key: KeyObject): KeyInfo {
  let info = KEY_INFO.get(key);
  if (info) return info;
  const details = key.asymmetricKeyDetails ?? {};
  if (
    key.asymmetricKeyType === 'ec' &&
    (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1')
  ) {
    const p256 = details.namedCurve === 'prime256v1';
    info = { kind: 'ec', curve: p256 ? 'P-256' : 'P-384', sigBytes: p256 ? 64 : 96 };
  } else if (
    (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') &&
    (details.modulusLength ?? 0) >= 2048
  ) {
    // FDO's smallest RSA type is RSA2048RESTR; shorter keys (e.g. a 1024-bit device leaf) are refused everywhere.
    info = { kind: key.asymmetricKeyType, bits: details.modulusLength ?? 0 };
  } else {
    throw invalid(
      `unsupported key ${key.asymmetricKeyType} ${details.namedCurve ?? details.modulusLength ?? ''}`.trim(),
    );
  }
  KEY_INFO.set(key, info);
  return info;
}

function cached(id: string, load: () => KeyObject): KeyObject {
  const hit = KEY_CACHE.get(id);
  if (hit) return hit;
  let key: KeyObject;
  try {
    key = load();
  } catch (err) {
    if (err instanceof FdoError) throw err;
    throw invalid(`public key does not import: ${(err as Error).message}`);
  }
  keyInfo(key);
  if (KEY_CACHE.size >= KEY_CACHE_MAX) {
    const oldest = KEY_CACHE.keys().next().value;
    if (oldest !== undefined) KEY_CACHE.delete(oldest);
  }
  KEY_CACHE.set(id, key);
  return key;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Imports a DER SubjectPublicKeyInfo, cached by its bytes. Throws FdoError(MESSAGE_BODY_ERROR). */
export function importSpki(der: Uint8Array): KeyObject {
  return cached(`spki:${hex(der)}`, () =>
    createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }),
  );
}

/** The public key of a DER certificate, cached by its bytes. Throws FdoError(MESSAGE_BODY_ERROR). */
export function importCertificateKey(der: Uint8Array): KeyObject {
  return cached(`x509:${hex(der)}`, () => new X509Certificate(der).publicKey);
}

/** Shape-checks an FDO PublicKey; throws FdoError(MESSAGE_BODY_ERROR). */
export function decodePublicKey(value: unknown): FdoPublicKey {
  const [type, encoding, body] = asArray(value, 3, 'PublicKey');
  const t = asInt(type, 'PublicKey.pkType');
  const e = asInt(encoding, 'PublicKey.pkEnc');
  if (!(Object.values(PK_TYPE) as number[]).includes(t)) throw invalid(`unsupported pkType ${t}`);
  if (e === PK_ENC.X509) asBytes(body, undefined, 'PublicKey.pkBody');
  else if (e === PK_ENC.X5CHAIN) {
    const certs = asArray(body, [1, 16], 'PublicKey.pkBody');
    for (const c of certs) asBytes(c, undefined, 'PublicKey.pkBody cert');
  } else if (e === PK_ENC.COSEKEY) asMap(body, 'PublicKey.pkBody');
  else throw invalid(`unsupported pkEnc ${e}`);
  return { type: t, encoding: e, body };
}

function coseKeyToJwk(m: Map<unknown, unknown>): JsonWebKey {
  const b64 = (x: unknown, what: string) => Buffer.from(asBytes(x, undefined, what)).toString('base64url');
  const kty = m.get(1);
  if (kty === 2) {
    const crv = m.get(-1) === 1 ? 'P-256' : m.get(-1) === 2 ? 'P-384' : undefined;
    if (!crv) throw invalid('COSE_Key curve is not P-256 or P-384');
    return { kty: 'EC', crv, x: b64(m.get(-2), 'COSE_Key x'), y: b64(m.get(-3), 'COSE_Key y') };
  }
  if (kty === 3) return { kty: 'RSA', n: b64(m.get(-1), 'COSE_Key n'), e: b64(m.get(-2), 'COSE_Key e') };
  throw invalid(`unsupported COSE_Key kty ${String(kty)}`);
}

/** Whether a key (public or private) is of an FDO pkType: the curve for EC, RSA of at least 2048 bits. */
export function keyFitsType(pkType: number, key: KeyObject): boolean {
  const info = keyInfo(key);
  return (
    (pkType === PK_TYPE.SECP256R1 && info.kind === 'ec' && info.curve === 'P-256') ||
    (pkType === PK_TYPE.SECP384R1 && info.kind === 'ec' && info.curve === 'P-384') ||
    (pkType === PK_TYPE.RSA2048RESTR && info.kind === 'rsa' && info.bits === 2048) ||
    (pkType === PK_TYPE.RSAPKCS && info.kind === 'rsa' && info.bits >= 2048) ||
    (pkType === PK_TYPE.RSAPSS && info.kind !== 'ec' && info.bits >= 2048)
  );
}

/** The KeyObject of an FDO PublicKey (X509, X5CHAIN leaf, COSEKEY), checked against pkType, cached. */
export function publicKeyToKeyObject(pk: FdoPublicKey): KeyObject {
  let key: KeyObject;
  if (pk.encoding === PK_ENC.X509) key = importSpki(asBytes(pk.body));
  else if (pk.encoding === PK_ENC.X5CHAIN) key = importCertificateKey(asBytes(asArray(pk.body)[0]));
  else if (pk.encoding === PK_ENC.COSEKEY) {
    const m = asMap(pk.body);
    key = cached(`cose:${hex(encodeCbor(m))}`, () =>
      createPublicKey({ key: coseKeyToJwk(m), format: 'jwk' }),
    );
  } else throw invalid(`unsupported pkEnc ${pk.encoding}`);
  if (!keyFitsType(pk.type, key)) throw invalid(`pkType ${pk.type} does not match the encoded key`);
  return key;
}

/** The FDO PublicKey (X509 encoding) of a key; a private key gives its public half. */
export function encodePublicKey(key: KeyObject): [number, number, Uint8Array] {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const info = keyInfo(pub);
  let type: number;
  if (info.kind === 'ec') type = info.curve === 'P-256' ? PK_TYPE.SECP256R1 : PK_TYPE.SECP384R1;
  else if (info.kind === 'rsa-pss') type = PK_TYPE.RSAPSS;
  else type = info.bits === 2048 ? PK_TYPE.RSA2048RESTR : PK_TYPE.RSAPKCS;
  return [type, PK_ENC.X509, new Uint8Array(pub.export({ format: 'der', type: 'spki' }))];
}

function algFits(alg: number, info: KeyInfo): boolean {
  if (info.kind === 'ec') return alg === (info.curve === 'P-256' ? COSE_ALG.ES256 : COSE_ALG.ES384);
  const pss = alg === COSE_ALG.PS256 || alg === COSE_ALG.PS384;
  const pkcs1 = alg === COSE_ALG.RS256 || alg === COSE_ALG.RS384;
  return info.kind === 'rsa-pss' ? pss : pss || pkcs1;
}

const EMPTY = new Uint8Array(0);

/** Sig_structure = ["Signature1", protected, h'' (external_aad), payload] (RFC 9052 §4.4). */
function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeCbor(['Signature1', protectedBytes, EMPTY, payload]);
}

function verifyOptions(alg: number, key: KeyObject, info: KeyInfo) {
  if (info.kind === 'ec') return { key, dsaEncoding: 'ieee-p1363' as const };
  if (alg === COSE_ALG.PS256 || alg === COSE_ALG.PS384) {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg === COSE_ALG.PS256 ? 32 : 48 };
  }
  return { key, padding: constants.RSA_PKCS1_PADDING };
}

/** A decoded COSE_Sign1 (tag 18), structure checked. */
type Sign1 = {
  protectedBytes: Uint8Array;
  alg: number;
  unprotected: Map<unknown, unknown>;
  payload: Uint8Array;
  signature: Uint8Array;
};

/** Splits a decoded tag-18 COSE_Sign1; throws FdoError(MESSAGE_BODY_ERROR) when it is not one. */
export function parseSign1(sign1: unknown): Sign1 {
  const [prot, unprotected, payload, signature] = asArray(asTagged(sign1, 18, 'COSE_Sign1'), 4, 'COSE_Sign1');
  const protectedBytes = asBytes(prot, undefined, 'COSE_Sign1 protected');
  const alg = asMap(decodeCbor(protectedBytes, { keepOriginals: false }), 'COSE_Sign1 protected').get(1);
  if (typeof alg !== 'number' || !ALG_HASH.has(alg)) throw invalid(`unsupported COSE alg ${String(alg)}`);
  return {
    protectedBytes,
    alg,
    unprotected: asMap(unprotected, 'COSE_Sign1 unprotected'),
    payload: asBytes(payload, undefined, 'COSE_Sign1 payload'),
    signature: asBytes(signature, undefined, 'COSE_Sign1 signature'),
  };
}

/**
 * Verifies a decoded COSE_Sign1 with a public key and returns its payload bytes. A malformed structure throws
 * FdoError(MESSAGE_BODY_ERROR); an alg that does not fit the key or a bad signature throws FdoError(failCode).
 */
export function verifySign1(
  sign1: unknown,
  key: KeyObject,
  failCode: number = FDO_ERROR.INVALID_MESSAGE_ERROR,
): Uint8Array {
  return verifyParsedSign1(parseSign1(sign1), key, failCode).payload;
}

/** The checks before the signature itself: the alg must fit the key, an ECDSA signature must be raw r‖s. */
function verifyArguments(s: Sign1, key: KeyObject, failCode: number) {
  const info = keyInfo(key);
  if (!algFits(s.alg, info))
    throw new FdoError(failCode, `COSE alg ${s.alg} does not fit the ${info.kind} key`);
  if (info.kind === 'ec' && s.signature.length !== info.sigBytes) {
    throw new FdoError(failCode, `ECDSA signature is ${s.signature.length} bytes, expected ${info.sigBytes}`);
  }
  return {
    hashName: ALG_HASH.get(s.alg),
    data: sigStructure(s.protectedBytes, s.payload),
    options: verifyOptions(s.alg, key, info),
  };
}

/** verifySign1 for an already split Sign1, for callers that also need its headers. */
export function verifyParsedSign1(
  s: Sign1,
  key: KeyObject,
  failCode: number = FDO_ERROR.INVALID_MESSAGE_ERROR,
): Sign1 {
  const { hashName, data, options } = verifyArguments(s, key, failCode);
  let ok = false;
  try {
    ok = verify(hashName, data, options, s.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new FdoError(failCode, 'COSE_Sign1 signature does not verify');
  return s;
}

/**
 * verifyParsedSign1 with the signature check on libuv's thread pool, so a busy rendezvous keeps its event loop
 * free while signatures are checked on other cores. Same checks, same codes (rejects instead of throwing).
 */
export function verifyParsedSign1Async(
  s: Sign1,
  key: KeyObject,
  failCode: number = FDO_ERROR.INVALID_MESSAGE_ERROR,
): Promise<Sign1> {
  return new Promise((resolve, reject) => {
    const { hashName, data, options } = verifyArguments(s, key, failCode);
    verify(hashName, data, options, s.signature, (err, ok) => {
      if (err || !ok) reject(new FdoError(failCode, 'COSE_Sign1 signature does not verify'));
      else resolve(s);
    });
  });
}

function algForKey(info: KeyInfo, pss: boolean): number {
  if (info.kind === 'ec') return info.curve === 'P-256' ? COSE_ALG.ES256 : COSE_ALG.ES384;
  if (info.kind === 'rsa-pss' || pss) return info.bits > 2048 ? COSE_ALG.PS384 : COSE_ALG.PS256;
  return info.bits > 2048 ? COSE_ALG.RS384 : COSE_ALG.RS256;
}

/**
 * Signs a payload as a tag-18 COSE_Sign1 ready for encodeCbor. The alg follows the private key: ES256/ES384 by
 * curve, RS256/RS384 by RSA size, PS256/PS384 for rsa-pss keys or when `pss` is asked for (RSAPSS vouchers).
 */
export function signSign1(
  payload: Uint8Array,
  key: KeyObject,
  unprotected: Map<number, unknown> = new Map(),
  options: { pss?: boolean } = {},
): CborTag {
  const info = keyInfo(key);
  const alg = algForKey(info, options.pss ?? false);
  const protectedBytes = encodeCbor(new Map([[1, alg]]));
  const signature = sign(
    ALG_HASH.get(alg),
    sigStructure(protectedBytes, payload),
    verifyOptions(alg, key, info),
  );
  return new CborTag(18, [protectedBytes, unprotected, payload, new Uint8Array(signature)]);
}

function digestName(type: number, hmacTypes: boolean): 'sha256' | 'sha384' {
  if (type === (hmacTypes ? HASH_TYPE.HMAC_SHA256 : HASH_TYPE.SHA256)) return 'sha256';
  if (type === (hmacTypes ? HASH_TYPE.HMAC_SHA384 : HASH_TYPE.SHA384)) return 'sha384';
  throw invalid(`unsupported ${hmacTypes ? 'HMAC' : 'hash'} type ${type}`);
}

/** SHA-256 (-16) or SHA-384 (-43) of data; other types throw FdoError(MESSAGE_BODY_ERROR). */
export function hash(type: number, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(digestName(type, false)).update(data).digest());
}

/** HMAC-SHA256 (5) or HMAC-SHA384 (6); other types throw FdoError(MESSAGE_BODY_ERROR). */
export function hmac(type: number, secret: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(digestName(type, true), secret).update(data).digest());
}

/** A decoded Hash/HMac = [type, value]; shape errors throw FdoError(MESSAGE_BODY_ERROR). */
export function decodeHash(value: unknown, what = 'Hash'): { type: number; value: Uint8Array } {
  const [type, digest] = asArray(value, 2, what);
  return { type: asInt(type, `${what} type`), value: asBytes(digest, undefined, `${what} value`) };
}

/** Whether a Hash item names a supported algorithm and equals the digest of data. */
export function hashMatches(expected: { type: number; value: Uint8Array }, data: Uint8Array): boolean {
  return Buffer.from(hash(expected.type, data)).equals(expected.value);
}
