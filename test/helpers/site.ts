import type { ServeConfig } from '../../src/core/config.js';
import { DEFAULT_PASSWORD_POLICY } from '../../src/core/config.js';
import { createLogger } from '../../src/core/log.js';
import { openSite, type Site } from '../../src/main.js';
import { FakeClock } from './clock.js';
import type { TestDatabase } from './databases.js';
import { makeTempDir } from './processes.js';

export const ADMIN_PASSWORD = 'Bootstrap-Pass-1';

/** A serve configuration for tests: temp data dir, quiet logs, policy overrides. */
export function buildServeConfig(database: string, overrides: Partial<ServeConfig> = {}): ServeConfig {
  return {
    dataDir: makeTempDir('site'),
    listen: { host: '127.0.0.1', port: 0 },
    database,
    logLevel: 'silent',
    adminPassword: ADMIN_PASSWORD,
    tokenTtlSeconds: 3600,
    eventLogMax: 100_000,
    certAuditIntervalSeconds: 3600,
    heartbeatIntervalMs: 5000,
    heartbeatMissed: 3,
    systemType: 'All-in-one',
    localAgent: false,
    systemController: false,
    joinBundle: undefined,
    uplinkPingIntervalMs: 3000,
    passwordPolicy: { ...DEFAULT_PASSWORD_POLICY },
    ...overrides,
  };
}

/** An in-process site (no port opened) on a given database, with a fake clock and the admin bootstrapped. */
export interface TestSite {
  site: Site;
  clock: FakeClock;
  config: ServeConfig;
  /** Sends a request through Fastify's inject; JSON in and out. */
  request(options: {
    method: string;
    url: string;
    token?: string;
    body?: unknown;
    headers?: Record<string, string>;
  }): Promise<{
    status: number;
    body: unknown;
    headers: Record<string, unknown>;
  }>;
  login(username: string, password: string): Promise<string>;
  /** Creates a user as admin and returns a token for it. */
  userWithRole(role: string): Promise<string>;
  close(): Promise<void>;
}

/** Opens a site on the test database; close it in `after`. */
export async function openTestSite(
  database: TestDatabase,
  overrides: Partial<ServeConfig> = {},
): Promise<TestSite> {
  const clock = new FakeClock();
  const config = buildServeConfig(database.url, overrides);
  const site = await openSite({ config, clock, logger: createLogger('silent') });
  await site.identity.bootstrapAdmin(ADMIN_PASSWORD);
  let adminToken: string | undefined;
  const testSite: TestSite = {
    site,
    clock,
    config,
    async request({ method, url, token, body, headers }) {
      const response = await site.app.inject({
        method: method as 'GET',
        url,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        ...(body === undefined
          ? {}
          : typeof body === 'string'
            ? { payload: body }
            : { payload: body as object }),
      });
      const isJson = String(response.headers['content-type'] ?? '').includes('json');
      return {
        status: response.statusCode,
        body: isJson && response.body ? JSON.parse(response.body) : response.body,
        headers: response.headers,
      };
    },
    async login(username, password) {
      const response = await testSite.request({
        method: 'POST',
        url: '/v1/auth/tokens',
        body: { username, password },
      });
      if (response.status !== 201)
        throw new Error(`login of ${username} failed: ${JSON.stringify(response.body)}`);
      return (response.body as { token: string }).token;
    },
    async userWithRole(role) {
      adminToken ??= await testSite.login('admin', ADMIN_PASSWORD);
      const name = `${role}-${Math.random().toString(36).slice(2, 8)}`;
      const password = 'User-Pass-0001';
      const created = await testSite.request({
        method: 'POST',
        url: '/v1/users',
        token: adminToken,
        body: { name, roles: [role], password },
      });
      if (created.status !== 201) throw new Error(`creating ${name} failed: ${JSON.stringify(created.body)}`);
      return testSite.login(name, password);
    },
    close: () => site.close(),
  };
  return testSite;
}
