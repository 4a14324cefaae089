// Longer fuzz run over the FDO rendezvous message decoders and checks (the bounded one is in npm test):
//
//   npm run fuzz:fdo                      FUZZ_ITERATIONS=200000 FUZZ_SEED=7 npm run fuzz:fdo

import { systemClock } from '../src/core/clock.js';
import { openDatabase } from '../src/core/db/database.js';
import { migrateToLatest } from '../src/core/db/migrate.js';
import { createLogger } from '../src/core/log.js';
import { fdoMigration } from '../src/fdo/rendezvous/migrations/0013-fdo.js';
import { DEFAULT_RENDEZVOUS_SETTINGS } from '../src/fdo/rendezvous/model.js';
import { createRendezvous } from '../src/fdo/rendezvous/rendezvous.js';
import { fuzzRendezvous, realSeeds } from '../test/helpers/fdo-fuzz.js';

const iterations = Number(process.env.FUZZ_ITERATIONS ?? '50000');
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const database = await openDatabase('sqlite::memory:');
await migrateToLatest(database, [fdoMigration]);
const rv = createRendezvous({
  database,
  clock: systemClock,
  logger: createLogger('silent'),
  settings: { ...DEFAULT_RENDEZVOUS_SETTINGS, rateBurst: Number.MAX_SAFE_INTEGER },
});
const started = performance.now();
const result = await fuzzRendezvous({ protocol: rv.protocol, seeds: await realSeeds(rv), iterations, seed });
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `fuzz:fdo seed ${seed}: ${result.cases} cases in ${seconds.toFixed(1)} s\n${JSON.stringify(result.outcomes, null, 2)}\n`,
);
await database.close();
if (result.failures.length > 0) {
  process.stdout.write(`${result.failures.slice(0, 20).join('\n')}\n`);
  process.exitCode = 1;
}
