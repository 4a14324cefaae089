import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeJoinBundle, encodeJoinBundle, readLink } from './join.js';
import type { JoinBundle } from './uplink-protocol.js';

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

function buildBundle(overrides: Partial<JoinBundle> = {}): JoinBundle {
  return {
    name: 'edge-1',
    controller: 'https://sc.example:7443',
    caPem: CA_PEM,
    token: 't0k3n',
    ...overrides,
  };
}

function rawBundle(value: unknown): string {
  return `murm-join:${Buffer.from(JSON.stringify(value)).toString('base64url')}`;
}

describe('join bundle', () => {
  it('round-trips through the murm-join: text form', () => {
    const bundle = buildBundle();
    const text = encodeJoinBundle(bundle);

    assert.match(text, /^murm-join:[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeJoinBundle(text), bundle);
    assert.deepEqual(decodeJoinBundle(`  ${text}\n`), bundle);
  });

  const garbage: [string, string, RegExp][] = [
    ['an empty string', '', /does not start with "murm-join:"/],
    ['text without the prefix', 'eyJuYW1lIjoiZWRnZS0xIn0', /does not start with "murm-join:"/],
    ['a payload that is not base64url', 'murm-join:abc+/=', /not base64url/],
    [
      'a payload that is not JSON',
      `murm-join:${Buffer.from('{"name":').toString('base64url')}`,
      /does not decode to JSON/,
    ],
    ['JSON that is not an object', rawBundle([1, 2]), /"name" is missing/],
    ['a bundle without token', rawBundle({ ...buildBundle(), token: undefined }), /"token" is missing/],
    ['a bundle with an empty name', rawBundle({ ...buildBundle(), name: '' }), /"name" is missing/],
    [
      'an http controller',
      rawBundle(buildBundle({ controller: 'http://sc:7443' })),
      /is not an https:\/\/ URL/,
    ],
    [
      'a CA without a certificate',
      rawBundle(buildBundle({ caPem: 'hello' })),
      /caPem holds no PEM certificate/,
    ],
  ];
  for (const [what, text, reason] of garbage) {
    it(`refuses ${what} as invalid input`, () => {
      assert.throws(
        () => decodeJoinBundle(text),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'invalid_input');
          assert.match(error.message, /^not a join bundle: /);
          assert.match(error.message, reason);
          return true;
        },
      );
    });
  }
});

describe('readLink', () => {
  it('finds no link in a data directory that never joined', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'murm-join-'));
    try {
      assert.equal(await readLink(dataDir), undefined);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
