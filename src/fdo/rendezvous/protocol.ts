import { type KeyObject, randomInt, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { hash, importSpki, verifySign1 } from '../crypto.js';
import { verifyEatAsync } from '../eat.js';
import { FDO_ERROR, FdoError } from '../errors.js';
import { parseVoucher, verifyVoucher } from '../voucher.js';
import {
  decodeHelloRv,
  decodeOwnerSign,
  decodeProveToRv,
  decodeTo0Hello,
  encodeAcceptOwner,
  encodeErrorMessage,
  encodeHelloAck,
  encodeHelloRvAck,
  readTo2Addresses,
} from './messages.js';
import type { RendezvousMetrics } from './metrics.js';
import { FDO_MESSAGE, grantWaitSeconds, isSignatureTypeOf, type RendezvousSettings } from './model.js';
import { RateLimiter, rateLimitKey } from './rate-limit.js';
import type { RendezvousRegistrations } from './service.js';
import { ProtocolSessions, randomBytesPooled } from './sessions.js';

/** What the listener sends back: an FDO message, or an ErrorMessage (HTTP 500), or an empty 200. */
export interface FdoReply {
  status: 200 | 500;
  /** Message-Type header; undefined for the empty answer to a peer's ErrorMessage. */
  type: number | undefined;
  body: Uint8Array;
  /** The exchange's bearer token, sent as `Authorization: Bearer <token>`. */
  token: string | undefined;
}

type SessionData =
  | { protocol: 'to0'; nonce: Uint8Array }
  | { protocol: 'to1'; nonce: Uint8Array; guid: Uint8Array; deviceKey: KeyObject; to1d: Uint8Array };

const NONCE_SIZE = 16;
const HASH_TYPES = new Set([-16, -43]);

/**
 * The rendezvous side of TO0 (20 → 21, 22 → 23) and TO1 (30 → 31, 32 → 33), transport aside. Each
 * check runs in the order and with the error code of fdo.md §4 and §5; the detail of a refusal goes
 * to the log with the exchange's correlation id, the peer only sees the code.
 */
export class RendezvousProtocol {
  private readonly sessions: ProtocolSessions<SessionData>;
  private readonly limiter: RateLimiter;
  // Correlation ids: unique per process run, cheap to make, and not guessable across restarts.
  private cid = randomInt(0, 2 ** 40);

  constructor(
    private readonly options: {
      registrations: RendezvousRegistrations;
      settings: RendezvousSettings;
      clock: Clock;
      logger: Logger;
      metrics?: RendezvousMetrics | undefined;
    },
  ) {
    const { settings, clock } = options;
    this.sessions = new ProtocolSessions({
      ttlMs: settings.sessionTtlSeconds * 1000,
      max: settings.maxSessions,
      clock,
    });
    this.limiter = new RateLimiter({ perSecond: settings.ratePerSecond, burst: settings.rateBurst, clock });
  }

  /** Live protocol exchanges. */
  get liveSessions(): number {
    return this.sessions.size;
  }

  /** Drops expired exchanges (the listener calls this periodically). */
  sweep(): void {
    this.sessions.sweep();
  }

  /**
   * Answers one message. `authorization` is the request's header as sent; `source` the peer address.
   * Never throws: every failure becomes an ErrorMessage.
   */
  async handle(
    type: number,
    body: Uint8Array,
    authorization: string | undefined,
    source: string,
  ): Promise<FdoReply> {
    const token = bearerToken(authorization);
    let cid = this.nextCid();
    try {
      switch (type) {
        case FDO_MESSAGE.TO0_HELLO:
          return this.count(type, this.to0Hello(body, source));
        case FDO_MESSAGE.TO0_OWNER_SIGN: {
          const session = this.takeSession(token, 'to0');
          cid = session.cid;
          const answer = await this.ownerSign(body, session.data, source, cid);
          // Every answer of an exchange carries its token, unchanged (fdo.md §1).
          return this.count(type, { ...answer, token: session.token });
        }
        case FDO_MESSAGE.TO1_HELLO_RV:
          return this.count(type, await this.helloRv(body, source));
        case FDO_MESSAGE.TO1_PROVE_TO_RV: {
          const session = this.takeSession(token, 'to1');
          cid = session.cid;
          const answer = await this.proveToRv(body, session.data, cid);
          return this.count(type, { ...answer, token: session.token });
        }
        case FDO_MESSAGE.ERROR:
          // The peer gave up: end its exchange and acknowledge without another ErrorMessage.
          if (token !== undefined) this.sessions.end(token);
          this.options.logger.info(
            { source, body: Buffer.from(body.subarray(0, 256)).toString('hex') },
            'fdo peer sent an error',
          );
          return { status: 200, type: undefined, body: new Uint8Array(0), token: undefined };
        default:
          throw new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, `unknown message type ${type}`);
      }
    } catch (error) {
      return this.errorReply(error, type, cid, source);
    }
  }

  /** An ErrorMessage for a failure found before a message was routed (bad path, body, headers). */
  reject(code: number, prevMsgId: number, detail: string, source: string): FdoReply {
    return this.errorReply(new FdoError(code, detail), prevMsgId, this.nextCid(), source);
  }

  private to0Hello(body: Uint8Array, source: string): FdoReply {
    decodeTo0Hello(body);
    const nonce = randomBytesPooled(NONCE_SIZE);
    const session = this.openSession({ protocol: 'to0', nonce }, source);
    return reply(FDO_MESSAGE.TO0_HELLO_ACK, encodeHelloAck(nonce), session.token);
  }

  private async ownerSign(
    body: Uint8Array,
    session: SessionData & { protocol: 'to0' },
    source: string,
    cid: number,
  ): Promise<FdoReply> {
    const message = decodeOwnerSign(body);
    if (!equalBytes(message.nonce, session.nonce)) {
      throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'NonceTO0Sign does not match HelloAck');
    }
    const to2Addresses = readTo2Addresses(message.to2Entries);
    // Entries (at least one, at most 32), hash chain, signatures, certificate chain and its hash, leaf validity.
    const voucher = verifyVoucher(parseVoucher(message.voucherBytes), { now: this.options.clock.now() });
    if (!voucher.deviceKey) {
      // EPID devices (no certificate chain) could not prove themselves in TO1 here (fdo.md §5).
      throw new FdoError(FDO_ERROR.INVALID_OWNERSHIP_VOUCHER, 'voucher has no device certificate chain');
    }
    verifySign1(message.to1d, voucher.ownerKey, FDO_ERROR.INVALID_OWNER_SIGN_BODY);
    const { type: hashType, value: to0dHash } = message.to0dHash;
    if (!HASH_TYPES.has(hashType) || !equalBytes(hash(hashType, message.to0dBytes), to0dHash)) {
      throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'to1dTo0dHash does not match to0d');
    }
    const { registrations, settings, clock, logger } = this.options;
    const subjects = {
      guid: voucher.guidHex,
      ownerKeyHash: voucher.ownerKeyHash,
      manufacturerKeyHash: voucher.manufacturerKeyHash,
    };
    if (!(await registrations.isAccepted(subjects))) {
      throw new FdoError(FDO_ERROR.INVALID_OWNERSHIP_VOUCHER, 'refused by the fdo allow/deny lists');
    }
    // A live registration is replaced only by a voucher that passes through its owner's key: the same
    // owner, or a later one the device was sold on to. An earlier owner cannot take a resold device back.
    const current = await registrations.liveOwner(voucher.guidHex);
    if (current !== undefined && !voucher.entryKeyHashes.includes(current)) {
      throw new FdoError(
        FDO_ERROR.INVALID_OWNERSHIP_VOUCHER,
        'the live registration belongs to an owner not in this voucher',
      );
    }
    const waitSeconds = grantWaitSeconds(message.waitSeconds, settings.maxWaitSeconds);
    const now = clock.now();
    await registrations.register({
      guid: voucher.guidHex,
      deviceInfo: voucher.deviceInfo,
      ownerKeyHash: voucher.ownerKeyHash,
      manufacturerKeyHash: voucher.manufacturerKeyHash,
      to2Addresses,
      waitSeconds,
      source,
      registeredAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + waitSeconds * 1000).toISOString(),
      to1d: message.to1dBytes,
      deviceKey: new Uint8Array(voucher.deviceKey.export({ type: 'spki', format: 'der' })),
    });
    logger.info(
      { cid, source, guid: voucher.guidHex, waitSeconds, requested: message.waitSeconds },
      'fdo owner registered (TO0)',
    );
    return reply(FDO_MESSAGE.TO0_ACCEPT_OWNER, encodeAcceptOwner(waitSeconds), undefined);
  }

  private async helloRv(body: Uint8Array, source: string): Promise<FdoReply> {
    const hello = decodeHelloRv(body);
    const guid = Buffer.from(hello.guid).toString('hex');
    const found = await this.options.registrations.findLive(guid);
    if (!found) throw new FdoError(FDO_ERROR.RESOURCE_NOT_FOUND, `no live registration for ${guid}`);
    // Imported keys are cached by their bytes: re-importing one per TO1 costs more than verifying with it.
    const deviceKey = importSpki(found.deviceKey);
    if (!isSignatureTypeOf(deviceKey, hello.sgType)) {
      throw new FdoError(
        FDO_ERROR.INVALID_MESSAGE_ERROR,
        `sgType ${hello.sgType} does not fit the device key`,
      );
    }
    const nonce = randomBytesPooled(NONCE_SIZE);
    const session = this.openSession(
      { protocol: 'to1', nonce, guid: hello.guid.slice(), deviceKey, to1d: found.to1d },
      source,
    );
    return reply(FDO_MESSAGE.TO1_HELLO_RV_ACK, encodeHelloRvAck(nonce, hello.sigInfo), session.token);
  }

  private async proveToRv(
    body: Uint8Array,
    session: SessionData & { protocol: 'to1' },
    cid: number,
  ): Promise<FdoReply> {
    // The signature is checked on libuv's thread pool: the event loop goes on parsing other requests.
    const eat = await verifyEatAsync(decodeProveToRv(body), session.deviceKey);
    if (!equalBytes(eat.nonce, session.nonce)) {
      throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'EAT nonce does not match HelloRVAck');
    }
    const { ueid } = eat;
    if (
      ueid !== undefined &&
      (ueid.length !== 17 || ueid[0] !== 1 || !equalBytes(ueid.subarray(1), session.guid))
    ) {
      throw new FdoError(FDO_ERROR.INVALID_MESSAGE_ERROR, 'EAT UEID is not this device');
    }
    // Guarded: the hex GUID would be built for every TO1 even when debug is off (the usual case).
    const { logger } = this.options;
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ cid, guid: Buffer.from(session.guid).toString('hex') }, 'fdo device redirected (TO1)');
    }
    return reply(FDO_MESSAGE.TO1_RV_REDIRECT, session.to1d, undefined);
  }

  private openSession(data: SessionData, source: string) {
    if (!this.limiter.take(rateLimitKey(source))) {
      this.options.metrics?.rateLimited();
      throw new FdoError(FDO_ERROR.INTERNAL_SERVER_ERROR, `rate limit for ${source} reached`);
    }
    const session = this.sessions.open(data, this.nextCid());
    if (!session) throw new FdoError(FDO_ERROR.INTERNAL_SERVER_ERROR, 'too many live protocol exchanges');
    return session;
  }

  /** The session of a token, taken (single use). Missing, unknown or expired: INVALID_JWT_TOKEN. */
  private takeSession<P extends SessionData['protocol']>(token: string | undefined, protocol: P) {
    const session = token === undefined ? undefined : this.sessions.take(token);
    if (!session) throw new FdoError(FDO_ERROR.INVALID_JWT_TOKEN, 'missing, unknown or expired token');
    if (session.data.protocol !== protocol) {
      throw new FdoError(
        FDO_ERROR.INVALID_MESSAGE_ERROR,
        `message out of order: the token is of ${session.data.protocol}`,
      );
    }
    return session as typeof session & { data: Extract<SessionData, { protocol: P }> };
  }

  private nextCid(): number {
    this.cid += 1;
    return this.cid;
  }

  private count(type: number, answer: FdoReply): FdoReply {
    this.options.metrics?.message(type, 'ok');
    return answer;
  }

  private errorReply(error: unknown, prevMsgId: number, cid: number, source: string): FdoReply {
    const { logger, clock, metrics } = this.options;
    const code = error instanceof FdoError ? error.code : FDO_ERROR.INTERNAL_SERVER_ERROR;
    if (error instanceof FdoError) {
      logger.warn({ cid, source, msgType: prevMsgId, code, detail: error.message }, 'fdo message refused');
    } else {
      logger.error({ cid, source, msgType: prevMsgId, err: error }, 'fdo message failed');
    }
    metrics?.message(prevMsgId, String(code));
    return {
      status: 500,
      type: FDO_MESSAGE.ERROR,
      // EMPrevMsgID is a uint8: a type beyond it was never a message (fdo-rs answers those with 0 too).
      body: encodeErrorMessage({ code, prevMsgId: prevMsgId <= 0xff ? prevMsgId : 0, now: clock.now(), cid }),
      token: undefined,
    };
  }
}

function reply(type: number, body: Uint8Array, token: string | undefined): FdoReply {
  return { status: 200, type, body, token };
}

const BEARER = /^bearer\s+(.*)$/is;

/** The token of an Authorization header: `Bearer <token>` (or the bare token some clients send). */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  const token = BEARER.exec(value)?.[1] ?? value;
  return token === '' ? undefined : token;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
