// Lean simulated FDO devices for bench/fdo.ts: the bench measures the rendezvous, so a device must cost
// as little CPU as an honest one can. Each device still runs the whole TO1 (30 → 31 → 32 → 33), signs a
// fresh EAT over the server's nonce and checks every answer; only the generic machinery is gone: a plain
// HTTP/1.1 keep-alive client on node:net instead of undici, and the constant CBOR parts built once.
import { type KeyObject, sign } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { asArray, asBytes, decodeCbor, encodeCbor } from '../src/fdo/cbor.js';

interface Answer {
  status: number;
  type: number;
  body: Buffer;
  authorization: string | undefined;
}

interface Waiting {
  request: Buffer;
  resolve: (answer: Answer) => void;
  reject: (error: Error) => void;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * One keep-alive connection, one request in flight at a time (as undici's default, no pipelining);
 * other requests wait in order. Responses must carry Content-Length (the rendezvous always sends it).
 * A closed or failed connection fails the request in flight and is reopened for the next one.
 */
export class KeepAliveConnection {
  private socket: Socket | undefined;
  private readonly waiting: Waiting[] = [];
  private current: Waiting | undefined;
  private input: Buffer = Buffer.alloc(0);

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  post(path: string, body: Uint8Array, authorization?: string): Promise<Answer> {
    const head =
      `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Type: application/cbor\r\n` +
      `Content-Length: ${body.length}\r\n${authorization === undefined ? '' : `Authorization: ${authorization}\r\n`}\r\n`;
    const request = Buffer.allocUnsafe(head.length + body.length);
    request.write(head, 0, 'latin1');
    request.set(body, head.length);
    return new Promise<Answer>((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (!this.current) this.next();
    });
  }

  close(): void {
    this.socket?.destroy();
  }

  private next(): void {
    const waiting = this.waiting.shift();
    this.current = waiting;
    if (!waiting) return;
    if (!this.socket) this.socket = this.open();
    this.socket.write(waiting.request);
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => {
      this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
      this.parse();
    });
    const fail = (error?: Error) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.input = Buffer.alloc(0);
      const current = this.current;
      this.current = undefined;
      current?.reject(error ?? new Error('connection closed'));
      if (this.waiting.length > 0) this.next();
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
    return socket;
  }

  private parse(): void {
    const end = this.input.indexOf(HEADER_END);
    if (end < 0) return;
    const lines = this.input.toString('latin1', 0, end).split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    let length = -1;
    let type = Number.NaN;
    let authorization: string | undefined;
    let close = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] ?? '';
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'message-type') type = Number(value);
      else if (name === 'authorization') authorization = value;
      else if (name === 'connection') close = value.toLowerCase() === 'close';
    }
    if (!Number.isInteger(length) || length < 0) {
      this.socket?.destroy(new Error(`response without Content-Length: ${lines[0]}`));
      return;
    }
    const start = end + HEADER_END.length;
    if (this.input.length < start + length) return;
    const body = this.input.subarray(start, start + length);
    this.input = this.input.subarray(start + length);
    const current = this.current;
    this.current = undefined;
    if (close) {
      // The server ends this connection after the answer: the next request opens a new one.
      const socket = this.socket;
      this.socket = undefined;
      socket?.destroy();
    }
    current?.resolve({ status, type, body, authorization });
    this.next();
  }
}

/** A device identity with what its TO1 messages reuse every time: HelloRV, EAT header, UEID claim. */
export interface LeanDevice {
  guid: Uint8Array;
  privateKey: KeyObject;
  /** The to1d the owner registered: message 33 must carry exactly these bytes. */
  to1d: Uint8Array;
}

interface Prepared {
  device: LeanDevice;
  hello: Uint8Array;
  sgType: number;
  digest: 'sha256' | 'sha384';
  /** `1: alg` as a bstr-wrapped map, as it appears in both Sig_structure and COSE_Sign1. */
  protectedBstr: Uint8Array;
  /** The payload map after the nonce: claim 256, the UEID (0x01 ‖ GUID). */
  ueidClaim: Uint8Array;
  signatureSize: number;
}

export function prepareDevice(device: LeanDevice): Prepared {
  const curve = device.privateKey.asymmetricKeyDetails?.namedCurve;
  if (curve !== 'prime256v1' && curve !== 'secp384r1')
    throw new Error(`bench devices use EC keys, not ${curve}`);
  const p256 = curve === 'prime256v1';
  const sgType = p256 ? -7 : -35;
  return {
    device,
    hello: encodeCbor([device.guid, [sgType, new Uint8Array(0)]]),
    sgType,
    digest: p256 ? 'sha256' : 'sha384',
    protectedBstr: encodeCbor(encodeCbor(new Map([[1, sgType]]))),
    ueidClaim: encodeCbor(Uint8Array.of(1, ...device.guid)),
    signatureSize: p256 ? 64 : 96,
  };
}

const SIGNATURE1 = encodeCbor('Signature1');
const EMPTY_BSTR = Uint8Array.of(0x40);
const EMPTY_MAP = Uint8Array.of(0xa0);

/** CBOR bstr header for a length below 256. */
function bstrHead(length: number): Uint8Array {
  return length < 24 ? Uint8Array.of(0x40 + length) : Uint8Array.of(0x58, length);
}

/** The EAT (tagged COSE_Sign1) over {10: nonce, 256: UEID}, signed with the device key. */
function eatBytes(p: Prepared, nonce: Uint8Array): Buffer {
  // Claims map of two entries: 10 → bstr(16) nonce, 256 (0x19 0x0100) → UEID.
  const payload = Buffer.concat([
    Uint8Array.of(0xa2, 0x0a, 0x50),
    nonce,
    Uint8Array.of(0x19, 0x01, 0x00),
    p.ueidClaim,
  ]);
  const payloadBstr = Buffer.concat([bstrHead(payload.length), payload]);
  const toSign = Buffer.concat([Uint8Array.of(0x84), SIGNATURE1, p.protectedBstr, EMPTY_BSTR, payloadBstr]);
  const signature = sign(p.digest, toSign, { key: p.device.privateKey, dsaEncoding: 'ieee-p1363' });
  return Buffer.concat([
    Uint8Array.of(0xd2, 0x84),
    p.protectedBstr,
    EMPTY_MAP,
    payloadBstr,
    bstrHead(signature.length),
    signature,
  ]);
}

/**
 * One full TO1 of `p` over `connection`, with every answer checked: 31 with a 16-byte nonce and our
 * sigInfo echoed, a bearer token; 33 with exactly the to1d the owner registered. Throws otherwise.
 */
export async function leanTo1(connection: KeepAliveConnection, p: Prepared): Promise<void> {
  const ack = await connection.post('/fdo/101/msg/30', p.hello);
  expect(ack, 31);
  const [nonce, sigInfo] = asArray(decodeCbor(ack.body), 2, 'TO1.HelloRVAck');
  const [echoedType, echoedInfo] = asArray(sigInfo, 2, 'eBSigInfo');
  if (echoedType !== p.sgType || asBytes(echoedInfo, undefined, 'eBSigInfo info').length !== 0) {
    throw new Error('eBSigInfo does not echo our sgType');
  }
  if (ack.authorization === undefined) throw new Error('HelloRVAck without Authorization');
  const redirect = await connection.post(
    '/fdo/101/msg/32',
    eatBytes(p, asBytes(nonce, 16, 'NonceTO1Proof')),
    ack.authorization,
  );
  expect(redirect, 33);
  if (!redirect.body.equals(p.device.to1d)) throw new Error('RVRedirect is not the registered to1d');
}

function expect(answer: Answer, type: number): void {
  if (answer.status !== 200 || answer.type !== type) {
    throw new Error(
      `expected message ${type}, got HTTP ${answer.status} type ${answer.type}: ${answer.body.toString('hex')}`,
    );
  }
}
