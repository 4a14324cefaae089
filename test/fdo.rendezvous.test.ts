import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { type Database, openDatabase } from '../src/core/db/database.js';
import { migrateToLatest } from '../src/core/db/migrate.js';
import { createLogger } from '../src/core/log.js';
import { asArray, decodeCbor, encodeCbor } from '../src/fdo/cbor.js';
import { FdoClient, findOwner, registerOwner } from '../src/fdo/client.js';
import { FDO_ERROR, FdoError } from '../src/fdo/errors.js';
import { type FdoListener, startFdoListener } from '../src/fdo/rendezvous/listener.js';
import { fdoMigration } from '../src/fdo/rendezvous/migrations/0013-fdo.js';
import { DEFAULT_RENDEZVOUS_SETTINGS } from '../src/fdo/rendezvous/model.js';
import { createRendezvous, type Rendezvous } from '../src/fdo/rendezvous/rendezvous.js';
import { encodeVoucher, extendVoucher, parseVoucher } from '../src/fdo/voucher.js';
import { FakeClock } from './helpers/clock.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import {
  ownerSignBody,
  proveToRvBody,
  SAMPLE_GUID,
  sampleDevice,
  sampleOwnedVoucher,
} from './helpers/fdo.js';

const TO2 = [{ host: '192.0.2.10', port: 8043, protocol: 3 }];

/** Asserts that a promise fails with an FDO ErrorMessage of this code. */
async function refusedWith(promise: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FdoError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });
}

for (const backend of BACKENDS) {
  describe(`fdo rendezvous TO0/TO1 over HTTP on ${backend.name}`, () => {
    let testDatabase: TestDatabase;
    let database: Database;
    let clock: FakeClock;
    let registry: Registry;
    let rv: Rendezvous;
    let listener: FdoListener;
    let client: FdoClient;
    const owned = sampleOwnedVoucher();
    const device = sampleDevice();

    /** 20 → 21: a fresh TO0 exchange's nonce and token. */
    const helloTo0 = async () => {
      const ack = await client.send(20, encodeCbor([]));
      const [nonce] = asArray(decodeCbor(ack.body), 1) as [Uint8Array];
      return { nonce, token: ack.authorization };
    };
    /** 30 → 31 as the sample device. */
    const helloTo1 = async (sigType = -7) => {
      const ack = await client.send(30, encodeCbor([device.guid, [sigType, new Uint8Array(0)]]));
      const [nonce] = asArray(decodeCbor(ack.body), 2) as [Uint8Array];
      return { nonce, token: ack.authorization };
    };

    before(async () => {
      testDatabase = await backend.create();
      database = await openDatabase(testDatabase.url);
      await migrateToLatest(database, [fdoMigration]);
      clock = new FakeClock();
      registry = new Registry();
      rv = createRendezvous({
        database,
        clock,
        logger: createLogger('silent'),
        settings: { ...DEFAULT_RENDEZVOUS_SETTINGS, rateBurst: 1000 },
        registry,
      });
      listener = await startFdoListener({
        protocol: rv.protocol,
        host: '127.0.0.1',
        port: 0,
        logger: createLogger('silent'),
      });
      client = new FdoClient(listener.url);
    });
    after(async () => {
      await client.close();
      await listener.close();
      await database.close();
      await testDatabase.drop();
    });

    test('TO0 registers the extended sample voucher; TO1 with dc.bin returns the exact to1d', async () => {
      const registered = await registerOwner(client, {
        voucher: owned.voucher,
        ownerKey: owned.ownerKey,
        to2: TO2,
        waitSeconds: 0xffffffff,
      });
      assert.equal(registered.waitSeconds, 30 * 86_400, 'the request is capped at 30 days');
      const redirect = await findOwner(client, device);
      assert.deepEqual(Buffer.from(redirect.to1d), Buffer.from(registered.to1d), 'to1d byte-exact');
      assert.deepEqual(redirect.to2Addresses, [
        { ip: '192.0.2.10', dns: null, port: 8043, protocol: 'http' },
      ]);
      const stored = await rv.registrations.get(SAMPLE_GUID);
      assert.equal(stored.deviceInfo, 'go.fdo.example');
      assert.equal(stored.source, '127.0.0.1');
      const metrics = await registry.metrics();
      assert.match(metrics, /murm_fdo_messages_total\{type="22",outcome="ok"\} 1/);
      assert.match(metrics, /murm_fdo_messages_total\{type="32",outcome="ok"\} 1/);
    });

    test('a live registration is replaced by its owner or a later one, never by an earlier or other branch', async () => {
      const rival = sampleOwnedVoucher();
      await refusedWith(
        registerOwner(client, {
          voucher: rival.voucher,
          ownerKey: rival.ownerKey,
          to2: TO2,
          waitSeconds: 60,
        }),
        FDO_ERROR.INVALID_OWNERSHIP_VOUCHER,
      );
      const next = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const resold = encodeVoucher(
        extendVoucher(parseVoucher(owned.voucher), owned.ownerKey, next.publicKey),
      );
      await registerOwner(client, { voucher: resold, ownerKey: next.privateKey, to2: TO2, waitSeconds: 60 });
      await refusedWith(
        registerOwner(client, {
          voucher: owned.voucher,
          ownerKey: owned.ownerKey,
          to2: TO2,
          waitSeconds: 60,
        }),
        FDO_ERROR.INVALID_OWNERSHIP_VOUCHER,
      );
      // The operator can still hand the device back: delete the registration.
      await rv.registrations.delete(SAMPLE_GUID);
      await registerOwner(client, {
        voucher: owned.voucher,
        ownerKey: owned.ownerKey,
        to2: TO2,
        waitSeconds: 0xffffffff,
      });
    });

    test('answers every message with the fixed headers; the token never changes within an exchange', async () => {
      const response = await request(`${listener.url}/fdo/101/msg/20`, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor; charset=binary' },
        body: Uint8Array.of(0x80),
      });
      const body = Buffer.from(await response.body.arrayBuffer());
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['message-type'], '21');
      assert.equal(response.headers['content-type'], 'application/cbor');
      assert.equal(response.headers['content-length'], '18');
      assert.match(String(response.headers.authorization), /^Bearer [A-Za-z0-9_-]{32}$/);
      assert.equal(body.subarray(0, 2).toString('hex'), '8150');
      const hello = await helloTo1();
      const proof = proveToRvBody({ nonce: hello.nonce, guid: device.guid, key: device.privateKey });
      const redirect = await client.send(32, proof, hello.token);
      assert.equal(redirect.type, 33);
      assert.equal(redirect.authorization, hello.token, 'the answer to 32 carries the same token');
    });

    test('the UEID may come under label 11 or be absent; a wrong UEID is INVALID_MESSAGE_ERROR', async () => {
      for (const ueidLabel of [11, 0]) {
        const { nonce, token } = await helloTo1();
        const answer = await client.send(
          32,
          proveToRvBody({ nonce, guid: device.guid, key: device.privateKey, ueidLabel }),
          token,
        );
        assert.equal(answer.type, 33);
      }
      const { nonce, token } = await helloTo1();
      const other = randomBytes(16);
      await refusedWith(
        client.send(32, proveToRvBody({ nonce, guid: other, key: device.privateKey }), token),
        101,
      );
    });

    test('TO1 refusals: unknown GUID, wrong sigInfo, wrong device signature, wrong nonce', async () => {
      await refusedWith(
        client.send(30, encodeCbor([randomBytes(16), [-7, new Uint8Array(0)]])),
        FDO_ERROR.RESOURCE_NOT_FOUND,
      );
      await refusedWith(helloTo1(-35), FDO_ERROR.INVALID_MESSAGE_ERROR);
      await refusedWith(client.send(30, encodeCbor([device.guid, [-7, Uint8Array.of(1)]])), 101);
      const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      let hello = await helloTo1();
      await refusedWith(
        client.send(32, proveToRvBody({ nonce: hello.nonce, guid: device.guid, key: stranger }), hello.token),
        101,
      );
      hello = await helloTo1();
      await refusedWith(
        client.send(
          32,
          proveToRvBody({ nonce: randomBytes(16), guid: device.guid, key: device.privateKey }),
          hello.token,
        ),
        101,
      );
    });

    test('TO0 refusals: wrong nonce, to0d hash, owner signature, TO2 addresses', async () => {
      const body = (nonce: Uint8Array, extra: Partial<Parameters<typeof ownerSignBody>[0]> = {}) =>
        ownerSignBody({ voucher: owned.voucher, ownerKey: owned.ownerKey, nonce, ...extra });
      let hello = await helloTo0();
      await refusedWith(client.send(22, body(randomBytes(16)), hello.token), FDO_ERROR.INVALID_MESSAGE_ERROR);
      hello = await helloTo0();
      await refusedWith(client.send(22, body(hello.nonce, { to0dHash: randomBytes(48) }), hello.token), 101);
      hello = await helloTo0();
      const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
      await refusedWith(
        client.send(22, body(hello.nonce, { ownerKey: stranger }), hello.token),
        FDO_ERROR.INVALID_OWNER_SIGN_BODY,
      );
      hello = await helloTo0();
      await refusedWith(
        client.send(22, body(hello.nonce, { to2Entries: [[null, null, 8043, 3]] }), hello.token),
        101,
      );
      hello = await helloTo0();
      await refusedWith(
        client.send(
          22,
          body(hello.nonce, { to2Entries: [[Uint8Array.of(1, 2, 3), null, 8043, 3]] }),
          hello.token,
        ),
        FDO_ERROR.INVALID_IP_ADDRESS,
      );
    });

    test('TO0 refuses tampered vouchers, a broken hash chain and an FDO 1.0 voucher', async () => {
      const tamperedEntry = Uint8Array.from(owned.voucher);
      tamperedEntry[tamperedEntry.length - 5] = (tamperedEntry[tamperedEntry.length - 5] ?? 0) ^ 0xff;
      // The header HMac feeds entry 0's prevHash: change one of its bytes and the chain breaks.
      const brokenChain = Uint8Array.from(owned.voucher);
      const hmacAt = Buffer.from(brokenChain).indexOf(Buffer.from([0x82, 0x06, 0x58, 0x30]));
      assert.ok(hmacAt > 0);
      brokenChain[hmacAt + 10] = (brokenChain[hmacAt + 10] ?? 0) ^ 0x01;
      const fdo10 = Uint8Array.from(owned.voucher);
      assert.deepEqual([...fdo10.subarray(0, 3)], [0x85, 0x18, 0x65]);
      fdo10[2] = 0x64;
      for (const voucher of [tamperedEntry, brokenChain, fdo10]) {
        const hello = await helloTo0();
        const body = ownerSignBody({ voucher, ownerKey: owned.ownerKey, nonce: hello.nonce });
        await refusedWith(client.send(22, body, hello.token), FDO_ERROR.INVALID_OWNERSHIP_VOUCHER);
      }
    });

    test('tokens: missing, foreign, reused, expired, and of the other protocol', async () => {
      const valid = (nonce: Uint8Array) =>
        ownerSignBody({ voucher: owned.voucher, ownerKey: owned.ownerKey, nonce });
      let hello = await helloTo0();
      await refusedWith(client.send(22, valid(hello.nonce)), FDO_ERROR.INVALID_JWT_TOKEN);
      await refusedWith(
        client.send(22, valid(hello.nonce), 'Bearer not-a-token'),
        FDO_ERROR.INVALID_JWT_TOKEN,
      );
      assert.equal((await client.send(22, valid(hello.nonce), hello.token)).type, 23);
      await refusedWith(client.send(22, valid(hello.nonce), hello.token), FDO_ERROR.INVALID_JWT_TOKEN);
      hello = await helloTo0();
      clock.advance(DEFAULT_RENDEZVOUS_SETTINGS.sessionTtlSeconds);
      await refusedWith(client.send(22, valid(hello.nonce), hello.token), FDO_ERROR.INVALID_JWT_TOKEN);
      hello = await helloTo0();
      await refusedWith(
        client.send(
          32,
          proveToRvBody({ nonce: hello.nonce, guid: device.guid, key: device.privateKey }),
          hello.token,
        ),
        FDO_ERROR.INVALID_MESSAGE_ERROR,
      );
      const to1 = await helloTo1();
      await refusedWith(client.send(22, valid(to1.nonce), to1.token), FDO_ERROR.INVALID_MESSAGE_ERROR);
    });

    test('an ErrorMessage from the peer ends its exchange and gets an empty 200', async () => {
      const hello = await helloTo1();
      const error = encodeCbor([101, 31, 'bad nonce', 0, null]);
      const response = await request(`${listener.url}/fdo/101/msg/255`, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor', authorization: String(hello.token) },
        body: error,
      });
      assert.equal(response.statusCode, 200);
      assert.equal((await response.body.arrayBuffer()).byteLength, 0);
      await refusedWith(
        client.send(
          32,
          proveToRvBody({ nonce: hello.nonce, guid: device.guid, key: device.privateKey }),
          hello.token,
        ),
        FDO_ERROR.INVALID_JWT_TOKEN,
      );
    });

    test('malformed requests get ErrorMessage 100 with HTTP 500', async () => {
      const post = async (path: string, body: Uint8Array, headers: Record<string, string> = {}) => {
        const response = await request(`${listener.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/cbor', ...headers },
          body,
        });
        const bytes = new Uint8Array(await response.body.arrayBuffer());
        return {
          status: response.statusCode,
          type: response.headers['message-type'],
          message: decodeCbor(bytes) as unknown[],
        };
      };
      const cases: [string, Promise<{ status: number; type: unknown; message: unknown[] }>, number][] = [
        ['bad CBOR', post('/fdo/101/msg/30', Uint8Array.of(0x82, 0x50)), 30],
        ['trailing bytes', post('/fdo/101/msg/20', Uint8Array.of(0x80, 0x80)), 20],
        ['not an array', post('/fdo/101/msg/30', Uint8Array.of(0xa0)), 30],
        ['unknown message type', post('/fdo/101/msg/40', Uint8Array.of(0x80)), 40],
        ['message type beyond uint8', post('/fdo/101/msg/300', Uint8Array.of(0x80)), 0],
        ['FDO 1.0 path', post('/fdo/100/msg/20', Uint8Array.of(0x80)), 20],
        [
          'wrong content type',
          post('/fdo/101/msg/20', Uint8Array.of(0x80), { 'content-type': 'application/json' }),
          20,
        ],
        ['oversized body', post('/fdo/101/msg/22', new Uint8Array(65_537)), 22],
      ];
      for (const [name, pending, prevMsgId] of cases) {
        const { status, type, message } = await pending;
        assert.equal(status, 500, name);
        assert.equal(type, '255', name);
        assert.equal(message[0], FDO_ERROR.MESSAGE_BODY_ERROR, name);
        assert.equal(message[1], prevMsgId, name);
        assert.equal(typeof message[2], 'string', name);
        assert.equal(message[3], Math.floor(clock.now().getTime() / 1000), name);
      }
      const health = await request(`${listener.url}/health`);
      assert.equal(health.statusCode, 200);
      await health.body.dump();
      const get = await request(`${listener.url}/fdo/101/msg/20`);
      assert.equal(get.statusCode, 405);
      await get.body.dump();
    });

    test('a denied owner key refuses TO0 and its registration is no longer served in TO1', async () => {
      const { ownerKeyHash } = await rv.registrations.get(SAMPLE_GUID);
      await rv.registrations.addRule('deny', 'owner-key', ownerKeyHash);
      await refusedWith(
        registerOwner(client, {
          voucher: owned.voucher,
          ownerKey: owned.ownerKey,
          to2: TO2,
          waitSeconds: 60,
        }),
        FDO_ERROR.INVALID_OWNERSHIP_VOUCHER,
      );
      await refusedWith(findOwner(client, device), FDO_ERROR.RESOURCE_NOT_FOUND);
      await rv.registrations.removeRule('deny', 'owner-key', ownerKeyHash);
      await rv.registrations.addRule('allow', 'guid', SAMPLE_GUID);
      await registerOwner(client, {
        voucher: owned.voucher,
        ownerKey: owned.ownerKey,
        to2: TO2,
        waitSeconds: 60,
      });
      await rv.registrations.removeRule('allow', 'guid', SAMPLE_GUID);
    });

    test('an allow list of manufacturer keys admits only their devices', async () => {
      const { manufacturerKeyHash } = await rv.registrations.get(SAMPLE_GUID);
      const register = () =>
        registerOwner(client, {
          voucher: owned.voucher,
          ownerKey: owned.ownerKey,
          to2: TO2,
          waitSeconds: 60,
        });
      await rv.registrations.addRule('allow', 'manufacturer-key', 'cd'.repeat(48));
      await refusedWith(register(), FDO_ERROR.INVALID_OWNERSHIP_VOUCHER);
      await rv.registrations.addRule('allow', 'manufacturer-key', manufacturerKeyHash);
      await register();
      for (const value of ['cd'.repeat(48), manufacturerKeyHash]) {
        await rv.registrations.removeRule('allow', 'manufacturer-key', value);
      }
    });

    test('a registration expires after the granted time', async () => {
      await registerOwner(client, {
        voucher: owned.voucher,
        ownerKey: owned.ownerKey,
        to2: TO2,
        waitSeconds: 60,
      });
      assert.equal((await findOwner(client, device)).to2Addresses.length, 1);
      clock.advance(60);
      await refusedWith(findOwner(client, device), FDO_ERROR.RESOURCE_NOT_FOUND);
    });
  });
}
