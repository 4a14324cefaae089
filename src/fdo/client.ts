import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { Agent, type Dispatcher, request } from 'undici';
import { asArray, asBytes, asInt, asText, CborRaw, decodeCbor, decodeWrapped, encodeCbor } from './cbor.js';
import { hash, signSign1 } from './crypto.js';
import { signEat } from './eat.js';
import { FDO_ERROR, FdoError } from './errors.js';
import { readTo2Addresses } from './rendezvous/messages.js';
import { FDO_MESSAGE, type To2Address } from './rendezvous/model.js';

/** The owner and device sides of TO0 and TO1 over HTTP: the CLI, the tests and the benchmark use it. */

/** Where the owner's TO2 server listens, as TO0 registers it (RVTO2AddrEntry). */
export interface To2Target {
  host: string;
  port: number;
  /** TransportProtocol: 1 tcp, 2 tls, 3 http (default), 5 https. */
  protocol?: number;
}

/** A message exchanged with a rendezvous server. */
interface FdoAnswer {
  type: number;
  body: Uint8Array;
  authorization: string | undefined;
}

/**
 * One rendezvous server: `POST /fdo/101/msg/<type>`. The Authorization value of the first answer of an
 * exchange is sent back verbatim, as devices do. An ErrorMessage answer throws FdoError with its code.
 */
export class FdoClient {
  private readonly base: string;

  constructor(
    url: string,
    private readonly dispatcher: Dispatcher = new Agent({ keepAliveTimeout: 10_000 }),
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  async send(type: number, body: Uint8Array, authorization?: string): Promise<FdoAnswer> {
    const headers: Record<string, string> = {
      'content-type': 'application/cbor',
      'content-length': String(body.length),
    };
    if (authorization !== undefined) headers.authorization = authorization;
    const response = await request(`${this.base}/fdo/101/msg/${type}`, {
      method: 'POST',
      headers,
      body,
      dispatcher: this.dispatcher,
    });
    const bytes = new Uint8Array(await response.body.arrayBuffer());
    const messageType = Number(response.headers['message-type']);
    if (messageType === FDO_MESSAGE.ERROR) throw errorFrom(bytes, type);
    if (response.statusCode !== 200) {
      throw new FdoError(
        FDO_ERROR.INTERNAL_SERVER_ERROR,
        `rendezvous answered HTTP ${response.statusCode} to message ${type}`,
      );
    }
    const auth = response.headers.authorization;
    return { type: messageType, body: bytes, authorization: typeof auth === 'string' ? auth : undefined };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/**
 * Owner side of TO0: registers the voucher (raw CBOR) with the rendezvous so that the device is sent to
 * `to2`. The to1d is signed with `ownerKey` (the private key of the voucher's last entry). Returns the
 * waitSeconds the rendezvous granted and the to1d sent (devices receive exactly these bytes in TO1).
 */
export async function registerOwner(
  client: FdoClient,
  options: { voucher: Uint8Array; ownerKey: KeyObject; to2: readonly To2Target[]; waitSeconds: number },
): Promise<{ waitSeconds: number; to1d: Uint8Array }> {
  const hello = await client.send(FDO_MESSAGE.TO0_HELLO, encodeCbor([]));
  expectType(hello, FDO_MESSAGE.TO0_HELLO_ACK);
  const nonce = asBytes(asArray(decodeCbor(hello.body), 1, 'TO0.HelloAck')[0], 16, 'NonceTO0Sign');
  const to0d = encodeCbor([new CborRaw(options.voucher), options.waitSeconds, nonce]);
  const hashType = hashTypeFor(options.ownerKey);
  const payload = encodeCbor([options.to2.map(to2Entry), [hashType, hash(hashType, to0d)]]);
  const to1d = encodeCbor(signSign1(payload, options.ownerKey));
  const accepted = await client.send(
    FDO_MESSAGE.TO0_OWNER_SIGN,
    encodeCbor([to0d, new CborRaw(to1d)]),
    hello.authorization,
  );
  expectType(accepted, FDO_MESSAGE.TO0_ACCEPT_OWNER);
  const [granted] = asArray(decodeCbor(accepted.body), 1, 'TO0.AcceptOwner');
  return { waitSeconds: asInt(granted, 'WaitSeconds'), to1d };
}

/** What a device learns from TO1: the to1d exactly as served, and the TO2 addresses in it. */
export interface Redirect {
  to1d: Uint8Array;
  to2Addresses: To2Address[];
}

/** Device side of TO1: proves the device key to the rendezvous and returns the owner's redirect. */
export async function findOwner(
  client: FdoClient,
  device: { guid: Uint8Array; privateKey: KeyObject },
): Promise<Redirect> {
  const sgType = signatureTypeOf(device.privateKey);
  const helloBody = encodeCbor([device.guid, [sgType, new Uint8Array(0)]]);
  const ack = await client.send(FDO_MESSAGE.TO1_HELLO_RV, helloBody, undefined);
  expectType(ack, FDO_MESSAGE.TO1_HELLO_RV_ACK);
  const [nonce, sigInfo] = asArray(decodeCbor(ack.body), 2, 'TO1.HelloRVAck');
  // eBSigInfo must be our own sgType with empty info, as the C device SDK requires.
  const [echoedType, echoedInfo] = asArray(sigInfo, 2, 'eBSigInfo');
  if (echoedType !== sgType || asBytes(echoedInfo, undefined, 'eBSigInfo info').length !== 0) {
    throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'eBSigInfo does not echo our sgType');
  }
  const claims = new Map<number, unknown>([
    [10, asBytes(nonce, 16, 'NonceTO1Proof')],
    [256, Uint8Array.of(1, ...device.guid)],
  ]);
  const eat = signEat(claims, device.privateKey);
  const redirect = await client.send(FDO_MESSAGE.TO1_PROVE_TO_RV, encodeCbor(eat), ack.authorization);
  expectType(redirect, FDO_MESSAGE.TO1_RV_REDIRECT);
  const sign1 = asArray((decodeCbor(redirect.body) as { contents?: unknown }).contents, 4, 'to1d');
  const payload = asArray(decodeWrapped(sign1[2], 'to1d payload'), 2, 'To1dPayload');
  return { to1d: redirect.body, to2Addresses: readTo2Addresses(asArray(payload[0], undefined, 'to1dRV')) };
}

/** Parses `host:port` (IPv6 as `[::1]:8043`) into a TO2 target. */
export function parseTo2Target(text: string, protocol = 3): To2Target {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || port < 1 || port > 65535) {
    throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, `"${text}" is not host:port`);
  }
  return { host, port, protocol };
}

function to2Entry(target: To2Target): unknown[] {
  const ip = isIP(target.host) === 0 ? null : ipBytes(target.host);
  return [ip, ip === null ? target.host : null, target.port, target.protocol ?? 3];
}

function ipBytes(address: string): Uint8Array {
  if (isIP(address) === 4) return Uint8Array.from(address.split('.').map(Number));
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = groups(head);
  const right = address.includes('::') ? groups(tail) : [];
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return Uint8Array.from(all.flatMap((g) => [g >> 8, g & 0xff]));
}

function hashTypeFor(key: KeyObject): number {
  return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? -16 : -43;
}

function signatureTypeOf(key: KeyObject): number {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return -7;
  if (curve === 'secp384r1') return -35;
  if (key.asymmetricKeyType === 'rsa') return -257;
  throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'device key type not supported');
}

function expectType(answer: FdoAnswer, type: number): void {
  if (answer.type !== type) {
    throw new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, `expected message ${type}, got ${answer.type}`);
  }
}

/** An ErrorMessage turned into FdoError: the code, and what the server said for the message. */
function errorFrom(body: Uint8Array, sentType: number): FdoError {
  try {
    const [code, , text, , cid] = asArray(decodeCbor(body), 5, 'ErrorMessage');
    return new FdoError(
      asInt(code, 'EMErrorCode'),
      `rendezvous refused message ${sentType}: error ${String(code)} (${asText(text, 'EMErrorStr')}), cid ${String(cid)}`,
    );
  } catch {
    return new FdoError(
      FDO_ERROR.MESSAGE_BODY_ERROR,
      `rendezvous sent an unreadable ErrorMessage for ${sentType}`,
    );
  }
}
