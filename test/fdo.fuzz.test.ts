import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger } from '../src/core/log.js';
import { DEFAULT_RENDEZVOUS_SETTINGS } from '../src/fdo/rendezvous/model.js';
import { createRendezvous } from '../src/fdo/rendezvous/rendezvous.js';
import { FakeClock } from './helpers/clock.js';
import { type FdoDatabase, openFdoDatabase } from './helpers/fdo-database.js';
import { fuzzRendezvous, realSeeds } from './helpers/fdo-fuzz.js';

let fdo: FdoDatabase;

before(async () => {
  fdo = await openFdoDatabase();
});
after(() => fdo.close());

test('mutated messages, and mutated vouchers and EATs re-signed, always get a well-formed answer, never an internal error', async () => {
  const rv = createRendezvous({
    database: fdo.database,
    clock: new FakeClock(),
    logger: createLogger('silent'),
    settings: { ...DEFAULT_RENDEZVOUS_SETTINGS, rateBurst: 1_000_000 },
  });
  const seeds = await realSeeds(rv);
  const result = await fuzzRendezvous({ protocol: rv.protocol, seeds, iterations: 4000, seed: 20261206 });
  assert.deepEqual(result.failures, []);
  assert.equal(result.cases, 4000);
  assert.ok((result.outcomes['error 100'] ?? 0) > 500, JSON.stringify(result.outcomes));
  // The re-signed cases reach the voucher and EAT checks behind the signatures.
  assert.ok((result.outcomes['error 2'] ?? 0) > 20, JSON.stringify(result.outcomes));
  assert.ok((result.outcomes['error 101'] ?? 0) > 20, JSON.stringify(result.outcomes));
});
