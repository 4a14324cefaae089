import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { configDir, deleteCredentials, readCredentials, writeCredentials } from './credentials.js';

const CREDENTIALS = {
  url: 'https://127.0.0.1:7443',
  token: 'murm_t',
  username: 'admin',
  expiresAt: '2030-01-01T00:00:00.000Z',
};

test('prefers MURM_CONFIG_DIR, then XDG_CONFIG_HOME, then ~/.config for the config dir', () => {
  assert.equal(configDir({ MURM_CONFIG_DIR: '/a', XDG_CONFIG_HOME: '/b' }), '/a');
  assert.equal(configDir({ MURM_CONFIG_DIR: '', XDG_CONFIG_HOME: '/b' }), path.join('/b', 'murm'));
  assert.equal(configDir({}), path.join(os.homedir(), '.config', 'murm'));
});

test('writes credentials readable only by the owner and reads them back', () => {
  const env = { MURM_CONFIG_DIR: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'murm-creds-')), 'murm') };
  assert.equal(readCredentials(env), undefined);
  const file = writeCredentials(env, { ...CREDENTIALS, caPath: '/data/pki/ca.crt' });
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.deepEqual(readCredentials(env), { ...CREDENTIALS, caPath: '/data/pki/ca.crt' });
  assert.equal(deleteCredentials(env), true);
  assert.equal(deleteCredentials(env), false);
});

test('refuses a damaged credentials file with a hint to log in again', () => {
  const env = { MURM_CONFIG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'murm-creds-')) };
  fs.writeFileSync(path.join(env.MURM_CONFIG_DIR, 'credentials.json'), '{"url": 1}');
  assert.throws(() => readCredentials(env), { code: 'invalid_input', message: /damaged; run "murm logout"/ });
});
