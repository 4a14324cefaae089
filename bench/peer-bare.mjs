// Bare peer for bench/api.ts: the smallest "Fastify 5 + HTTPS + better-sqlite3 (WAL) + pino" process that
// answers the same endpoints as the site controller. Plain JavaScript ESM so it starts with plain `node`.
//
//   node bench/peer-bare.mjs --listen 127.0.0.1:PORT --cert server.crt --key server.key [--data-dir DIR]
//
// Env: MURM_ADMIN_PASSWORD (password for POST /v1/auth/tokens), PEER_CERT / PEER_KEY (instead of flags).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import pino from 'pino';

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'data-dir': { type: 'string' },
  },
});

const listen = values.listen ?? '127.0.0.1:8443';
const certPath = values.cert ?? process.env.PEER_CERT;
const keyPath = values.key ?? process.env.PEER_KEY;
if (!certPath || !keyPath) {
  console.error('peer-bare: --cert and --key (or PEER_CERT / PEER_KEY) are required');
  process.exit(2);
}
const sep = listen.lastIndexOf(':');
const host = listen.slice(0, sep);
const port = Number(listen.slice(sep + 1));

const ownTempDir = values['data-dir'] === undefined;
const dataDir = values['data-dir'] ?? mkdtempSync(join(tmpdir(), 'murm-peer-'));

const db = new Database(join(dataDir, 'peer.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
db.exec(`
  CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    expires_at TEXT NOT NULL
  );
`);
db.prepare(`INSERT OR IGNORE INTO users (username, role) VALUES ('admin', 'admin')`).run();

const findUser = db.prepare('SELECT id FROM users WHERE username = ?');
const insertToken = db.prepare('INSERT INTO api_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)');
const findToken = db.prepare(`
  SELECT u.id, u.username, u.role, t.expires_at AS expiresAt
  FROM api_tokens t JOIN users u ON u.id = t.user_id
  WHERE t.token_hash = ?
`);

const sha256 = (text) => createHash('sha256').update(text).digest();
const adminPasswordHash = sha256(process.env.MURM_ADMIN_PASSWORD ?? '');

const app = Fastify({
  https: { cert: readFileSync(certPath), key: readFileSync(keyPath) },
  loggerInstance: pino({ level: 'warn' }),
});

app.get('/readyz', async () => ({ status: 'ready' }));

app.post('/v1/auth/tokens', async (req, reply) => {
  const body = req.body ?? {};
  const user = typeof body.username === 'string' ? findUser.get(body.username) : undefined;
  const password = typeof body.password === 'string' ? body.password : '';
  if (!user || !timingSafeEqual(sha256(password), adminPasswordHash)) {
    return reply.code(401).send({ error: 'invalid credentials' });
  }
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  insertToken.run(sha256(token).toString('hex'), user.id, expiresAt);
  return reply.code(201).send({ token, expiresAt });
});

app.get('/v1/auth/whoami', async (req, reply) => {
  const header = req.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7) : '';
  const row = token ? findToken.get(sha256(token).toString('hex')) : undefined;
  if (!row || row.expiresAt <= new Date().toISOString()) {
    return reply.code(401).send({ error: 'unauthorized' });
  }
  return { user: { id: row.id, username: row.username, role: row.role }, expiresAt: row.expiresAt };
});

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  await app.close();
  db.close();
  if (ownTempDir) rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

await app.listen({ host, port });
