import {
  asArray,
  asBytes,
  asInt,
  asUint,
  CborRaw,
  CborTag,
  decodeCbor,
  decodeWrapped,
  encodeCbor,
  originalBytes,
} from '../cbor.js';
import { FDO_ERROR, FdoError } from '../errors.js';
import type { To2Address } from './model.js';

/** Wire codecs of the rendezvous messages (fdo.md §4–§6). Decoders throw FdoError(MESSAGE_BODY_ERROR). */

const NONCE_SIZE = 16;
const GUID_SIZE = 16;
const COSE_SIGN1_TAG = 18;

/** TransportProtocol of an RVTO2AddrEntry (its numbering differs from RVProtocol's). */
const TRANSPORT_PROTOCOLS: Record<number, string> = {
  1: 'tcp',
  2: 'tls',
  3: 'http',
  4: 'coap',
  5: 'https',
  6: 'coaps',
};

/** TO0.OwnerSign (22), with the exact bytes the checks need. */
export interface OwnerSign {
  /** The contents of the to0d bstr: to1dTo0dHash is computed over exactly these. */
  to0dBytes: Uint8Array;
  /** The voucher item's original bytes inside to0d. */
  voucherBytes: Uint8Array;
  waitSeconds: number;
  nonce: Uint8Array;
  /** to1d as decoded (tag 18) and as received, for byte-exact storage. */
  to1d: CborTag;
  to1dBytes: Uint8Array;
  /** The to1d payload, decoded before any signature check (fdo.md §4 step 2). */
  to2Entries: unknown[];
  to0dHash: { type: number; value: Uint8Array };
}

/** Messages 20 and 30 open an exchange; 20 carries nothing we use but must be a CBOR array. */
export function decodeTo0Hello(body: Uint8Array): void {
  asArray(decodeCbor(body), undefined, 'TO0.Hello');
}

export function decodeOwnerSign(body: Uint8Array): OwnerSign {
  const message = asArray(decodeCbor(body), 2, 'TO0.OwnerSign');
  const to0dBytes = asBytes(message[0], undefined, 'to0d');
  const to0d = asArray(decodeWrapped(message[0], 'to0d'), 3, 'to0d');
  const voucherBytes = originalBytes(asArray(to0d[0], undefined, 'OwnershipVoucher'));
  if (!voucherBytes) throw new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, 'voucher bytes not kept');
  const to1d = message[1];
  const to1dBytes = originalBytes(to1d);
  if (!(to1d instanceof CborTag) || to1d.tag !== COSE_SIGN1_TAG || !to1dBytes) {
    throw new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, 'to1d is not a tagged COSE_Sign1');
  }
  const sign1 = asArray(to1d.contents, 4, 'to1d COSE_Sign1');
  const payload = asArray(decodeWrapped(sign1[2], 'to1d payload'), 2, 'To1dPayload');
  const to2Entries = asArray(payload[0], undefined, 'to1dRV');
  if (to2Entries.length === 0) throw new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, 'to1dRV is empty');
  const hash = asArray(payload[1], 2, 'to1dTo0dHash');
  return {
    to0dBytes,
    voucherBytes,
    waitSeconds: asUint(to0d[1], 0xffffffff, 'WaitSeconds'),
    nonce: asBytes(to0d[2], NONCE_SIZE, 'NonceTO0Sign'),
    to1d,
    to1dBytes,
    to2Entries,
    to0dHash: { type: asInt(hash[0], 'hash type'), value: asBytes(hash[1], undefined, 'hash value') },
  };
}

/**
 * Checks every RVTO2AddrEntry and returns them readable: an entry without IP and DNS is
 * INVALID_MESSAGE_ERROR (conformance RVT_22_BAD_RENDEVOUZ_BLOB), an IP that is not 4 or 16 bytes
 * INVALID_IP_ADDRESS, anything else malformed MESSAGE_BODY_ERROR.
 */
export function readTo2Addresses(entries: readonly unknown[]): To2Address[] {
  return entries.map((entry) => {
    const [ip, dns, port, protocol] = asArray(entry, 4, 'RVTO2AddrEntry');
    if (ip !== null && !(ip instanceof Uint8Array)) throw bodyError('RVIP is neither bstr nor null');
    if (dns !== null && typeof dns !== 'string') throw bodyError('RVDNS is neither tstr nor null');
    if (ip === null && (dns === null || dns === '')) {
      throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'RVTO2AddrEntry has neither IP nor DNS');
    }
    if (ip !== null && ip.length !== 4 && ip.length !== 16) {
      throw new FdoError(FDO_ERROR.INVALID_IP_ADDRESS, `RVIP has ${ip.length} bytes`);
    }
    const protocolName = TRANSPORT_PROTOCOLS[asUint(protocol, 255, 'RVProtocol')];
    if (protocolName === undefined) throw bodyError(`unknown RVProtocol ${String(protocol)}`);
    return {
      ip: ip === null ? null : formatIp(ip),
      dns,
      port: asUint(port, 0xffff, 'RVPort'),
      protocol: protocolName,
    };
  });
}

/** TO1.HelloRV (30): the device's GUID and the signature type it will use. */
export function decodeHelloRv(body: Uint8Array): { guid: Uint8Array; sgType: number; sigInfo: Uint8Array } {
  const message = asArray(decodeCbor(body), 2, 'TO1.HelloRV');
  const guid = asBytes(message[0], GUID_SIZE, 'Guid');
  const sigInfo = asArray(message[1], 2, 'eASigInfo');
  const sgType = asInt(sigInfo[0], 'sgType');
  asBytes(sigInfo[1], undefined, 'sigInfo info');
  const raw = originalBytes(message[1]);
  if (!raw) throw bodyError('sigInfo bytes not kept');
  if ((sigInfo[1] as Uint8Array).length !== 0) {
    throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'sigInfo info must be empty');
  }
  return { guid, sgType, sigInfo: raw };
}

/** TO1.ProveToRV (32): the EAT, a tagged COSE_Sign1 (its checks are the EAT verifier's). */
export function decodeProveToRv(body: Uint8Array): unknown {
  const eat = decodeCbor(body);
  if (!(eat instanceof CborTag) || eat.tag !== COSE_SIGN1_TAG)
    throw bodyError('EAT is not a tagged COSE_Sign1');
  return eat;
}

export function encodeHelloAck(nonce: Uint8Array): Uint8Array {
  return encodeCbor([nonce]);
}

export function encodeAcceptOwner(waitSeconds: number): Uint8Array {
  return encodeCbor([waitSeconds]);
}

/** HelloRVAck: the nonce and the device's sigInfo echoed as it sent it (the C SDK compares them). */
export function encodeHelloRvAck(nonce: Uint8Array, sigInfo: Uint8Array): Uint8Array {
  return encodeCbor([nonce, new CborRaw(sigInfo)]);
}

/** ErrorMessage (255): the string is generic on purpose, details go to the log only. */
export function encodeErrorMessage(options: {
  code: number;
  prevMsgId: number;
  now: Date;
  cid: number;
}): Uint8Array {
  return encodeCbor([
    options.code,
    options.prevMsgId,
    ERROR_TEXT[options.code] ?? 'error',
    Math.floor(options.now.getTime() / 1000),
    options.cid,
  ]);
}

const ERROR_TEXT: Record<number, string> = {
  [FDO_ERROR.INVALID_JWT_TOKEN]: 'invalid or expired token',
  [FDO_ERROR.INVALID_OWNERSHIP_VOUCHER]: 'ownership voucher rejected',
  [FDO_ERROR.INVALID_OWNER_SIGN_BODY]: 'owner signature rejected',
  [FDO_ERROR.INVALID_IP_ADDRESS]: 'invalid IP address',
  [FDO_ERROR.INVALID_GUID]: 'invalid GUID',
  [FDO_ERROR.RESOURCE_NOT_FOUND]: 'resource not found',
  [FDO_ERROR.MESSAGE_BODY_ERROR]: 'message body error',
  [FDO_ERROR.INVALID_MESSAGE_ERROR]: 'invalid message',
  [FDO_ERROR.INTERNAL_SERVER_ERROR]: 'internal server error',
};

function bodyError(detail: string): FdoError {
  return new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, detail);
}

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}
