import { asArray, decodeCbor, encodeCbor } from '../../src/fdo/cbor.js';
import { signSign1 } from '../../src/fdo/crypto.js';
import { FDO_ERROR } from '../../src/fdo/errors.js';
import type { FdoReply, RendezvousProtocol } from '../../src/fdo/rendezvous/protocol.js';
import type { Rendezvous } from '../../src/fdo/rendezvous/rendezvous.js';
import { ownerSignBody, proveToRvBody, sampleDevice, sampleOwnedVoucher } from './fdo.js';

/**
 * What a fuzz run mutates: message bodies by type (from a real exchange), and the inner parts that sit
 * behind a signature or hash (the voucher, the EAT claims), which are mutated and then re-signed so the
 * deep decoders see them.
 */
export interface FuzzSeeds {
  messages: Map<number, Uint8Array[]>;
  voucher: Uint8Array;
  /** A TO0.OwnerSign around `voucher`, hashed and signed by the owner. */
  ownerSign(voucher: Uint8Array, nonce: Uint8Array): Uint8Array;
  /** EAT claims for a nonce, and a ProveToRV body with `payload` signed by the device. */
  eatClaims(nonce: Uint8Array): Uint8Array;
  proveToRv(payload: Uint8Array): Uint8Array;
}

/** What a fuzz run saw; `failures` are answers that break the contract (must stay empty). */
export interface FuzzResult {
  cases: number;
  outcomes: Record<string, number>;
  failures: string[];
}

const KNOWN_CODES = new Set<number>(
  Object.values(FDO_ERROR).filter((code) => code !== FDO_ERROR.INTERNAL_SERVER_ERROR),
);
const ANSWER_TO: Record<number, number> = { 20: 21, 22: 23, 30: 31, 32: 33 };
// Heads that claim huge or indefinite sizes, deep nesting, tags and simple values the codec must refuse.
const NASTY = [
  [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x5a, 0x7f, 0xff, 0xff, 0xff],
  [0xbf, 0x01, 0x02, 0xff],
  [0x9f, 0x80, 0xff],
  [0xd2, 0xd2, 0xd2, 0x80],
  [0xf8, 0x20],
  [0xa2, 0x01, 0x01, 0x01, 0x01],
  [0x63, 0xff, 0xfe, 0xfd],
  new Array(200).fill(0x81),
];

/** A small seeded PRNG (mulberry32): a failing run is reproduced from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(body: Uint8Array, next: () => number): Uint8Array {
  const int = (n: number) => Math.floor(next() * n);
  const bytes = Array.from(body);
  const rounds = 1 + int(4);
  for (let round = 0; round < rounds; round++) {
    const at = int(bytes.length + 1);
    switch (int(7)) {
      case 0:
        if (bytes.length > 0) bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ (1 << int(8));
        break;
      case 1:
        if (bytes.length > 0) bytes[at % bytes.length] = int(256);
        break;
      case 2:
        bytes.splice(at, 1 + int(8));
        break;
      case 3:
        bytes.splice(at, 0, ...Array.from({ length: 1 + int(8) }, () => int(256)));
        break;
      case 4:
        bytes.length = at;
        break;
      case 5:
        bytes.splice(at, int(4), ...(NASTY[int(NASTY.length)] ?? []));
        break;
      default:
        bytes.splice(at, 0, ...bytes.slice(int(bytes.length), int(bytes.length)));
    }
  }
  return Uint8Array.from(bytes);
}

/**
 * Sends `iterations` mutated messages to the protocol engine (the decoders and every check behind
 * them). Every answer must be a well-formed ErrorMessage with a known code other than 500 (an
 * internal error means an exception escaped a decoder), or the right answer type.
 */
export async function fuzzRendezvous(options: {
  protocol: RendezvousProtocol;
  seeds: FuzzSeeds;
  iterations: number;
  seed: number;
}): Promise<FuzzResult> {
  const next = random(options.seed);
  const { protocol, seeds } = options;
  const types = [...seeds.messages.keys()];
  const result: FuzzResult = { cases: 0, outcomes: {}, failures: [] };
  for (let i = 0; i < options.iterations; i++) {
    const dice = next();
    let type: number;
    let body: Uint8Array;
    let token: string | undefined;
    if (dice < 0.15) {
      type = 22;
      const session = await openExchange(protocol, seeds, 20);
      token = session.token;
      body = seeds.ownerSign(mutate(seeds.voucher, next), session.nonce);
    } else if (dice < 0.25) {
      type = 32;
      const session = await openExchange(protocol, seeds, 30);
      token = session.token;
      body = seeds.proveToRv(mutate(seeds.eatClaims(session.nonce), next));
    } else {
      type = next() < 0.05 ? Math.floor(next() * 300) : (types[Math.floor(next() * types.length)] ?? 20);
      const pool = seeds.messages.get(type) ?? seeds.messages.get(20) ?? [Uint8Array.of(0x80)];
      body = mutate(pool[Math.floor(next() * pool.length)] ?? Uint8Array.of(0x80), next);
      token =
        (type === 22 || type === 32) && next() < 0.7
          ? (await openExchange(protocol, seeds, type === 22 ? 20 : 30)).token
          : undefined;
    }
    const reply = await options.protocol.handle(type, body, token, '192.0.2.1');
    const outcome = judge(type, reply);
    result.cases += 1;
    result.outcomes[outcome.label] = (result.outcomes[outcome.label] ?? 0) + 1;
    if (outcome.failure) {
      result.failures.push(
        `seed ${options.seed} case ${i} type ${type} body ${Buffer.from(body).toString('hex')}: ${outcome.failure}`,
      );
    }
  }
  return result;
}

/** Opens an exchange (20 or 30) with the valid seed message, so 22 and 32 get past the token check. */
async function openExchange(
  protocol: RendezvousProtocol,
  seeds: FuzzSeeds,
  opener: 20 | 30,
): Promise<{ token: string | undefined; nonce: Uint8Array }> {
  const reply = await protocol.handle(
    opener,
    seeds.messages.get(opener)?.[0] ?? new Uint8Array(0),
    undefined,
    '192.0.2.1',
  );
  if (reply.type !== opener + 1) throw new Error(`the seed message ${opener} was refused`);
  const [nonce] = asArray(decodeCbor(reply.body)) as [Uint8Array];
  return { token: reply.token, nonce };
}

function judge(type: number, reply: FdoReply): { label: string; failure?: string } {
  if (reply.status === 200) {
    const expected = type === 255 ? undefined : ANSWER_TO[type];
    if (reply.type !== expected) return { label: 'bad', failure: `answer type ${String(reply.type)}` };
    return { label: `ok ${String(reply.type ?? 'empty')}` };
  }
  if (reply.type !== 255) return { label: 'bad', failure: `status ${reply.status} without ErrorMessage` };
  try {
    const message = decodeCbor(reply.body);
    if (!Array.isArray(message) || message.length !== 5)
      return { label: 'bad', failure: 'ErrorMessage shape' };
    const code = message[0] as number;
    if (!KNOWN_CODES.has(code)) return { label: `error ${code}`, failure: `error code ${code}` };
    if (message[1] !== (type <= 0xff ? type : 0))
      return { label: 'bad', failure: `EMPrevMsgID ${String(message[1])}` };
    return { label: `error ${code}` };
  } catch (error) {
    return { label: 'bad', failure: `undecodable ErrorMessage: ${String(error)}` };
  }
}

/** Seeds from a real exchange: the sample voucher registered, the sample device's messages. */
export async function realSeeds(rv: Rendezvous): Promise<FuzzSeeds> {
  const owned = sampleOwnedVoucher();
  const device = sampleDevice();
  const hello0 = await rv.protocol.handle(20, Uint8Array.of(0x80), undefined, '192.0.2.1');
  const [nonce0] = asArray(decodeCbor(hello0.body), 1) as [Uint8Array];
  const ownerSign = ownerSignBody({ voucher: owned.voucher, ownerKey: owned.ownerKey, nonce: nonce0 });
  const accepted = await rv.protocol.handle(22, ownerSign, hello0.token, '192.0.2.1');
  if (accepted.type !== 23) throw new Error('the seed voucher was not registered');
  const helloRv = encodeCbor([device.guid, [-7, new Uint8Array(0)]]);
  const hello1 = await rv.protocol.handle(30, helloRv, undefined, '192.0.2.1');
  const [nonce1] = asArray(decodeCbor(hello1.body), 2) as [Uint8Array];
  const eat = proveToRvBody({ nonce: nonce1, guid: device.guid, key: device.privateKey });
  return {
    messages: new Map([
      [20, [Uint8Array.of(0x80)]],
      [22, [ownerSign]],
      [30, [helloRv]],
      [32, [eat]],
      [255, [encodeCbor([100, 21, 'x', 0, null])]],
    ]),
    voucher: owned.voucher,
    ownerSign: (voucher, nonce) => ownerSignBody({ voucher, ownerKey: owned.ownerKey, nonce }),
    eatClaims: (nonce) =>
      encodeCbor(
        new Map<number, unknown>([
          [10, nonce],
          [256, Uint8Array.of(1, ...device.guid)],
        ]),
      ),
    proveToRv: (payload) => encodeCbor(signSign1(payload, device.privateKey)),
  };
}
