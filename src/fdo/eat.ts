import type { KeyObject } from 'node:crypto';
import { asBytes, asMap, type CborTag, decodeCbor, encodeCbor } from './cbor.js';
import { parseSign1, signSign1, verifyParsedSign1, verifyParsedSign1Async } from './crypto.js';
import { FDO_ERROR, FdoError } from './errors.js';

const EAT_NONCE = 10;
const EAT_UEID = 256;
// fdo-rs sends (and requires) the UEID under 11, an older EAT draft label (fdo.md §5).
const EAT_UEID_LEGACY = 11;

type Eat = { nonce: Uint8Array; ueid: Uint8Array | undefined; claims: Map<unknown, unknown> };

/** Structure checks of an EAT (MESSAGE_BODY_ERROR): a Sign1 whose payload map has a 16-byte nonce (claim 10). */
function readEat(sign1: unknown): { parsed: ReturnType<typeof parseSign1>; eat: Eat } {
  const parsed = parseSign1(sign1);
  const claims = asMap(decodeCbor(parsed.payload, { keepOriginals: false }), 'EAT payload');
  const nonce = asBytes(claims.get(EAT_NONCE), 16, 'EAT nonce (claim 10)');
  const primary = claims.get(EAT_UEID);
  // Label 11 counts as a UEID only when it looks like one; another meaning must not make a good EAT fail.
  const legacy = claims.get(EAT_UEID_LEGACY);
  let ueid: Uint8Array | undefined;
  if (primary !== undefined) ueid = asBytes(primary, undefined, 'EAT UEID');
  else if (legacy instanceof Uint8Array) ueid = legacy;
  return { parsed, eat: { nonce, ueid, claims } };
}

/** Two UEIDs that disagree are not a structure problem but a false claim (INVALID_MESSAGE_ERROR). */
function checkUeids(eat: Eat): void {
  const primary = eat.claims.get(EAT_UEID);
  const legacy = eat.claims.get(EAT_UEID_LEGACY);
  if (primary instanceof Uint8Array && legacy instanceof Uint8Array && !Buffer.from(primary).equals(legacy)) {
    throw new FdoError(
      FDO_ERROR.INVALID_MESSAGE_ERROR,
      'EAT carries two different UEIDs (labels 256 and 11)',
    );
  }
}

/**
 * Verifies an Entity Attestation Token (TO1.ProveToRV) with the device key and returns its claims.
 * Order as in fdo.md §5: structure and payload map (FdoError MESSAGE_BODY_ERROR), then the signature
 * (INVALID_MESSAGE_ERROR). The UEID is read from label 256, else 11; it is optional, callers cross-check it.
 */
export function verifyEat(sign1: unknown, deviceKey: KeyObject): Eat {
  const { parsed, eat } = readEat(sign1);
  verifyParsedSign1(parsed, deviceKey, FDO_ERROR.INVALID_MESSAGE_ERROR);
  checkUeids(eat);
  return eat;
}

/** verifyEat with the signature checked on the thread pool; rejects with the same FdoError codes. */
export async function verifyEatAsync(sign1: unknown, deviceKey: KeyObject): Promise<Eat> {
  const { parsed, eat } = readEat(sign1);
  await verifyParsedSign1Async(parsed, deviceKey, FDO_ERROR.INVALID_MESSAGE_ERROR);
  checkUeids(eat);
  return eat;
}

/** Device side: signs claims (e.g. 10 nonce, 256 UEID) as an EAT COSE_Sign1 ready for encodeCbor. */
export function signEat(
  claims: Map<number, unknown>,
  privateKey: KeyObject,
  unprotected: Map<number, unknown> = new Map(),
): CborTag {
  return signSign1(encodeCbor(claims), privateKey, unprotected);
}
