import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../core/errors.js';

/** What `murm login` keeps so later commands can reach the server: never a password. */
export interface StoredCredentials {
  url: string;
  /** Absolute path of the CA file; absent when the system trust store verifies the server. */
  caPath?: string;
  token: string;
  username: string;
  expiresAt: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const FILE_NAME = 'credentials.json';
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/** `$MURM_CONFIG_DIR`, else `$XDG_CONFIG_HOME/murm`, else `~/.config/murm`. */
export function configDir(env: Env): string {
  if (env.MURM_CONFIG_DIR) return path.resolve(env.MURM_CONFIG_DIR);
  if (env.XDG_CONFIG_HOME) return path.resolve(env.XDG_CONFIG_HOME, 'murm');
  return path.join(os.homedir(), '.config', 'murm');
}

/** The path of the credentials file. */
function credentialsPath(env: Env): string {
  return path.join(configDir(env), FILE_NAME);
}

/** The stored credentials, or undefined when nobody logged in; throws `invalid_input` for a damaged file. */
export function readCredentials(env: Env): StoredCredentials | undefined {
  const file = credentialsPath(env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('invalid_input', `cannot read ${file}: ${(error as Error).message}`);
  }
  const data = parse(text);
  if (!data) {
    throw new AppError('invalid_input', `${file} is damaged; run "murm logout" and log in again`, { file });
  }
  return data;
}

/** Writes the credentials file (dir 0700, file 0600) atomically; returns its path. */
export function writeCredentials(env: Env, credentials: StoredCredentials): string {
  const dir = configDir(env);
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  fs.chmodSync(dir, DIR_MODE);
  const file = path.join(dir, FILE_NAME);
  const temp = `${file}.${process.pid}.tmp`;
  // Created with 0600 before the token is written, so the secret is never readable by others.
  fs.writeFileSync(temp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: FILE_MODE, flag: 'w' });
  fs.chmodSync(temp, FILE_MODE);
  fs.renameSync(temp, file);
  return file;
}

/** Removes the credentials file; false when there was none. */
export function deleteCredentials(env: Env): boolean {
  try {
    fs.unlinkSync(credentialsPath(env));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

function parse(text: string): StoredCredentials | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const { url, caPath, token, username, expiresAt } = record;
  if (typeof url !== 'string' || typeof token !== 'string' || typeof username !== 'string') return undefined;
  if (typeof expiresAt !== 'string' || (caPath !== undefined && typeof caPath !== 'string')) return undefined;
  return caPath === undefined
    ? { url, token, username, expiresAt }
    : { url, caPath, token, username, expiresAt };
}
