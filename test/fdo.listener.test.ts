import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createLogger } from '../src/core/log.js';
import { decodeCbor } from '../src/fdo/cbor.js';
import { FDO_ERROR } from '../src/fdo/errors.js';
import { startFdoListener } from '../src/fdo/rendezvous/listener.js';
import { DEFAULT_RENDEZVOUS_SETTINGS } from '../src/fdo/rendezvous/model.js';
import { createRendezvous } from '../src/fdo/rendezvous/rendezvous.js';
import { FakeClock } from './helpers/clock.js';
import { type FdoDatabase, openFdoDatabase } from './helpers/fdo-database.js';

describe('fdo rendezvous limits', () => {
  let fdo: FdoDatabase;
  before(async () => {
    fdo = await openFdoDatabase();
  });
  after(() => fdo.close());
  const open = (overrides: Partial<typeof DEFAULT_RENDEZVOUS_SETTINGS>) => {
    const clock = new FakeClock();
    const settings = { ...DEFAULT_RENDEZVOUS_SETTINGS, ...overrides };
    const rv = createRendezvous({ database: fdo.database, clock, logger: createLogger('silent'), settings });
    const hello = async (source = '203.0.113.9') => {
      const reply = await rv.protocol.handle(20, Uint8Array.of(0x80), undefined, source);
      return reply.type === 255 ? (decodeCbor(reply.body) as unknown[])[0] : reply.type;
    };
    return { clock, hello };
  };

  test('rate-limits new exchanges per source address', async () => {
    const { clock, hello } = open({ ratePerSecond: 1, rateBurst: 3 });
    assert.deepEqual([await hello(), await hello(), await hello(), await hello()], [21, 21, 21, 500]);
    assert.equal(await hello('203.0.113.10'), 21, 'another address has its own budget');
    clock.advance(1);
    assert.deepEqual([await hello(), await hello()], [21, 500]);
  });

  test('caps the live exchanges until they expire', async () => {
    const { clock, hello } = open({ maxSessions: 2 });
    assert.deepEqual([await hello(), await hello(), await hello()], [21, 21, 500]);
    clock.advance(DEFAULT_RENDEZVOUS_SETTINGS.sessionTtlSeconds);
    assert.equal(await hello(), 21);
  });
});

describe('fdo rendezvous listener details', () => {
  test('refuses a body without Content-Length, and logs each refusal with the ErrorMessage correlation id', async () => {
    const fdo = await openFdoDatabase();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const rv = createRendezvous({
      database: fdo.database,
      clock: new FakeClock(),
      logger,
      settings: DEFAULT_RENDEZVOUS_SETTINGS,
    });
    const listener = await startFdoListener({ protocol: rv.protocol, host: '127.0.0.1', port: 0, logger });
    try {
      const { port } = new URL(listener.url);
      const chunked = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/fdo/101/msg/20',
            headers: { 'content-type': 'application/cbor' },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          },
        );
        req.on('error', reject);
        req.write(Uint8Array.of(0x80));
        req.end();
      });
      assert.equal(chunked.status, 500);
      const [code, prevMsgId, , , cid] = decodeCbor(new Uint8Array(chunked.body)) as unknown[];
      assert.deepEqual([code, prevMsgId], [FDO_ERROR.MESSAGE_BODY_ERROR, 20]);
      const refusals = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((l) => l.msg === 'fdo message refused');
      assert.equal(refusals.length, 1);
      assert.equal(refusals[0]?.cid, cid);
      assert.match(String(refusals[0]?.detail), /Content-Length/);
    } finally {
      await listener.close();
      await fdo.close();
    }
  });
});
