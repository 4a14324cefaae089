import path from 'node:path';
import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import { ApiClient, type ApiTarget } from './client.js';
import { readCredentials } from './credentials.js';
import type { OutputFormat } from './output.js';

/** The options every command inherits from `murm`. */
export interface GlobalOptions {
  url?: string;
  ca?: string;
  output: OutputFormat;
}

/** The server to call and the token to call it with, after flags, env and stored credentials. */
export interface Connection {
  url: string;
  /** Absolute path of the CA file, if any. */
  caPath: string | undefined;
  token: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

const NOT_LOGGED_IN = 'not logged in; run "murm login --url https://HOST:7443 --ca CA_FILE"';

/** The global options as seen from any command of the tree. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/**
 * Resolves url, CA and token: flags, then MURM_URL / MURM_CA / MURM_TOKEN, then the stored login.
 * The stored CA and token are used only for the URL they were stored for, so a token never goes to
 * another server. Undefined when no URL is known.
 */
export function resolveConnection(options: GlobalOptions, env: Env): Connection | undefined {
  const stored = readCredentials(env);
  // An empty variable counts as unset, as shells make it easy to clear one that way.
  const url = options.url ?? (env.MURM_URL || stored?.url);
  if (url === undefined) return undefined;
  const login = stored && isSameOrigin(stored.url, url) ? stored : undefined;
  const caPath = options.ca ?? (env.MURM_CA || login?.caPath);
  const token = env.MURM_TOKEN || login?.token;
  return {
    url,
    caPath: caPath === undefined ? undefined : path.resolve(caPath),
    token,
  };
}

/**
 * Runs `action` with an API client for the command's connection and closes it afterwards.
 * Throws `unauthenticated` when no token is known.
 */
export async function withApi<T>(command: Command, action: (api: ApiClient) => Promise<T>): Promise<T> {
  const connection = resolveConnection(globalOptions(command), process.env);
  if (connection === undefined) throw new AppError('unauthenticated', NOT_LOGGED_IN);
  if (connection.token === undefined) {
    throw new AppError(
      'unauthenticated',
      `not logged in to ${connection.url}; run "murm login --url ${connection.url} --ca CA_FILE"`,
    );
  }
  return useApi(connection, action);
}

/** Runs `action` with an API client for `target` and closes the client afterwards. */
export async function useApi<T>(target: ApiTarget, action: (api: ApiClient) => Promise<T>): Promise<T> {
  const api = await ApiClient.open(target);
  try {
    return await action(api);
  } finally {
    await api.close();
  }
}

function isSameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
