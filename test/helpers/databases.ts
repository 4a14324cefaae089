import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { makeTempDir } from './processes.js';

/** A fresh, empty database for one test file, and how to drop it. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A storage backend the store and integration tests run on. */
export interface Backend {
  name: 'sqlite' | 'postgres';
  create(): Promise<TestDatabase>;
}

const PG_URL = process.env.MURM_TEST_PG_URL;
if (process.env.CI === 'true' && !PG_URL) {
  throw new Error(
    'CI=true but MURM_TEST_PG_URL is not set: the PostgreSQL half of the suite would be skipped',
  );
}

const sqlite: Backend = {
  name: 'sqlite',
  async create() {
    return { url: `sqlite:${path.join(makeTempDir('db'), 'murm.db')}`, drop: async () => {} };
  },
};

const postgres = (adminUrl: string): Backend => ({
  name: 'postgres',
  async create() {
    const name = `murm_t_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      async drop() {
        const client = new pg.Client({ connectionString: adminUrl });
        await client.connect();
        try {
          await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await client.end();
        }
      },
    };
  },
});

/** SQLite always; PostgreSQL too when MURM_TEST_PG_URL is set (CI sets it and fails without it). */
export const BACKENDS: readonly Backend[] = PG_URL ? [sqlite, postgres(PG_URL)] : [sqlite];
