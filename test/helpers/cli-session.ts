import assert from 'node:assert/strict';
import { EXIT_CODES } from '../../src/cli/program.js';
import { type CliResult, makeTempDir, runCli, type ServerProcess, startServer } from './processes.js';

// No credentials, passwords or secrets from the environment of the test run.
const CLEAN_ENV = {
  MURM_URL: '',
  MURM_CA: '',
  MURM_TOKEN: '',
  MURM_PASSWORD: '',
  MURM_NEW_PASSWORD: '',
  MURM_WEBHOOK_SECRET: '',
};

/** A `murm serve` process and a CLI logged in to it as admin, with its own config dir. */
export interface CliSession {
  server: ServerProcess;
  configDir: string;
  /** The environment a `murm` child of this session runs with (for tests that spawn it themselves). */
  env: Record<string, string>;
  /** Runs `murm` with this session's credentials (and `env` on top). */
  murm(args: string[], env?: Record<string, string>): Promise<CliResult>;
  /** Runs a read with `-o json`, asserts exit 0, and parses the output. */
  json<T>(args: string[], env?: Record<string, string>): Promise<T>;
}

/** Starts a server with the given admin password and logs the CLI in to it. */
export async function openCliSession(name: string, adminPassword: string): Promise<CliSession> {
  const server = await startServer({ env: { MURM_ADMIN_PASSWORD: adminPassword } });
  const configDir = makeTempDir(name);
  const sessionEnv = { ...CLEAN_ENV, MURM_CONFIG_DIR: configDir };
  const murm = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, { env: { ...sessionEnv, ...env } });
  const login = await murm(['login', '--url', server.url, '--ca', server.caPath], {
    MURM_PASSWORD: adminPassword,
  });
  assert.equal(login.code, EXIT_CODES.ok, login.stderr);
  return {
    server,
    configDir,
    env: sessionEnv,
    murm,
    async json<T>(args: string[], env: Record<string, string> = {}) {
      const result = await murm([...args, '-o', 'json'], env);
      assert.equal(result.code, EXIT_CODES.ok, result.stderr);
      return JSON.parse(result.stdout) as T;
    },
  };
}
