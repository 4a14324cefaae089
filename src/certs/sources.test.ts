import * as assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { makeCertificate } from '../../test/helpers/certs.js';
import { AppError } from '../core/errors.js';
import { expandPathSource, fetchEndpointChain, parseHostPort } from './sources.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const DAY_MS = 86_400_000;
const INTERMEDIATE_NOT_AFTER = new Date(NOW.getTime() + 1000 * DAY_MS);

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'murm-certs-sources-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Creates the files (relative paths) under a fresh directory and returns that directory. */
async function tree(name: string, files: readonly string[]): Promise<string> {
  const base = join(dir, name);
  for (const file of files) {
    await mkdir(join(base, file, '..'), { recursive: true });
    await writeFile(join(base, file), 'x');
  }
  return base;
}

function isInvalidInput(error: unknown): boolean {
  return error instanceof AppError && error.code === 'invalid_input';
}

describe('expandPathSource', () => {
  const FILES = [
    'x.pem',
    'a/y.crt',
    'a/b/z.cer',
    'a/b/c/w.der',
    'a/b/c/v.CRT',
    'a/readme.txt',
    'a/b/tls.key',
    'd/e/u.crt',
  ];

  it('names a single file as itself, whatever its extension', async () => {
    const base = await tree('single', ['tls.key']);
    assert.deepEqual(await expandPathSource(join(base, 'tls.key')), {
      files: [join(base, 'tls.key')],
      skipped: [],
    });
  });

  it('walks a directory recursively, keeping certificate extensions only', async () => {
    const base = await tree('walk', FILES);
    assert.deepEqual(await expandPathSource(base), {
      files: ['a/b/c/v.CRT', 'a/b/c/w.der', 'a/b/z.cer', 'a/y.crt', 'd/e/u.crt', 'x.pem'].map((file) =>
        join(base, file),
      ),
      skipped: [],
    });
  });

  it('follows links once and never loops', async () => {
    const base = await tree('links', ['a/b/y.pem']);
    const outside = await tree('outside', ['o.pem']);
    await symlink(base, join(base, 'a', 'b', 'loop'));
    await symlink(join(base, 'a'), join(base, 'inside'));
    await symlink(outside, join(base, 'out1'));
    await symlink(outside, join(base, 'a', 'out2'));
    await symlink(join(dir, 'nowhere.pem'), join(base, 'broken.pem'));
    const result = await expandPathSource(base);
    assert.ok('files' in result);
    assert.equal(result.files.length, 2, JSON.stringify(result.files));
    assert.ok(result.files.includes(join(base, 'a', 'b', 'y.pem')));
    assert.ok(result.files.some((file) => file.endsWith('o.pem')));
    assert.deepEqual(result.skipped, [`${join(base, 'broken.pem')}: broken link`]);
  });

  const globs: [string, string, string[]][] = [
    ['** matches any depth, the top level included', '**/*.crt', ['a/y.crt', 'd/e/u.crt']],
    ['* stays within one segment', 'a/*/*.cer', ['a/b/z.cer']],
    ['? matches one character', '?.pem', ['x.pem']],
    ['** in the middle', 'a/**/c/*', ['a/b/c/v.CRT', 'a/b/c/w.der']],
    ['a trailing ** keeps every file below', 'd/**', ['d/e/u.crt']],
    ['a glob keeps any extension it names', 'a/**/*.key', ['a/b/tls.key']],
    ['no match is an empty list', '**/*.p12', []],
  ];
  for (const [name, pattern, expected] of globs) {
    it(`expands a glob: ${name}`, async () => {
      const base = await tree(`glob-${globs.findIndex(([n]) => n === name)}`, FILES);
      assert.deepEqual(await expandPathSource(`${base}/${pattern}`), {
        files: expected.map((file) => join(base, file)),
        skipped: [],
      });
    });
  }

  it('answers an empty list for a glob below a missing directory', async () => {
    assert.deepEqual(await expandPathSource(join(dir, 'missing', '*.pem')), { files: [], skipped: [] });
  });

  it('answers an error for a missing path', async () => {
    assert.deepEqual(await expandPathSource(join(dir, 'missing.pem')), {
      error: `path "${join(dir, 'missing.pem')}" not found; check the path`,
    });
  });

  it('answers an error past the file limit', async () => {
    const base = await tree('limit', FILES);
    assert.deepEqual(await expandPathSource(base, { maxFiles: 3 }), {
      error: `more than 3 files under "${base}"; narrow the path or use a glob`,
    });
  });

  it('throws invalid_input for an empty target', async () => {
    await assert.rejects(expandPathSource(' '), isInvalidInput);
  });
});

describe('parseHostPort', () => {
  const valid: [string, string, number][] = [
    ['registry.local:443', 'registry.local', 443],
    ['10.0.0.5:6443', '10.0.0.5', 6443],
    ['[::1]:1', '::1', 1],
    ['[fd00::1]:65535', 'fd00::1', 65_535],
  ];
  for (const [target, host, port] of valid) {
    it(`splits "${target}"`, () => {
      assert.deepEqual(parseHostPort(target), { host, port });
    });
  }
  for (const target of [
    'registry.local',
    ':443',
    'a:0',
    'a:65536',
    '[::1]',
    '::1:443',
    'a b:443',
    '[nothost]:443',
    'https://a:443',
    'a:44x',
  ]) {
    it(`throws invalid_input for "${target}"`, () => {
      assert.throws(() => parseHostPort(target), isInvalidInput);
    });
  }
});

describe('fetchEndpointChain', () => {
  let root: Awaited<ReturnType<typeof makeCertificate>>;
  let intermediate: Awaited<ReturnType<typeof makeCertificate>>;
  let expiredLeaf: Awaited<ReturnType<typeof makeCertificate>>;

  before(async () => {
    root = await makeCertificate({
      commonName: 'Endpoint Root',
      notAfter: new Date(NOW.getTime() + 3650 * DAY_MS),
      isCa: true,
    });
    intermediate = await makeCertificate({
      commonName: 'Endpoint Intermediate',
      notAfter: INTERMEDIATE_NOT_AFTER,
      isCa: true,
      issuer: root,
    });
    expiredLeaf = await makeCertificate({
      commonName: 'localhost',
      notBefore: new Date('2024-01-01T00:00:00.000Z'),
      notAfter: new Date('2025-01-01T00:00:00.000Z'),
      issuer: intermediate,
      sans: ['DNS:localhost', 'IP:127.0.0.1'],
    });
  });

  async function listen(server: Server, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, resolve);
    });
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    return address.port;
  }

  async function withTlsServer(
    chainPem: string,
    host: string,
    run: (port: number) => Promise<void>,
  ): Promise<void> {
    const server = createTlsServer({ cert: chainPem, key: expiredLeaf.keyPem });
    const port = await listen(server, host);
    try {
      await run(port);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('reads the chain an endpoint presents, leaf first, even when the leaf has expired', async () => {
    await withTlsServer(expiredLeaf.pem + intermediate.pem, '127.0.0.1', async (port) => {
      const result = await fetchEndpointChain(`127.0.0.1:${port}`, { timeoutMs: 5000 });
      assert.ok('certificates' in result, JSON.stringify(result));
      assert.deepEqual(
        result.certificates.map((info) => [info.subject, info.isCa, info.notAfter, info.location]),
        [
          ['CN=localhost', false, '2025-01-01T00:00:00.000Z', `127.0.0.1:${port}`],
          ['CN=Endpoint Intermediate', true, INTERMEDIATE_NOT_AFTER.toISOString(), `127.0.0.1:${port}#1`],
        ],
      );
    });
  });

  it('stops at a self-signed root the endpoint sends', async () => {
    await withTlsServer(expiredLeaf.pem + intermediate.pem + root.pem, '127.0.0.1', async (port) => {
      const result = await fetchEndpointChain(`127.0.0.1:${port}`, {
        timeoutMs: 5000,
        servername: 'localhost',
      });
      assert.ok('certificates' in result, JSON.stringify(result));
      assert.deepEqual(
        result.certificates.map((info) => info.subject),
        ['CN=localhost', 'CN=Endpoint Intermediate', 'CN=Endpoint Root'],
      );
    });
  });

  it('reads an IPv6 endpoint', async (t) => {
    const probe = createTcpServer();
    try {
      await listen(probe, '::1');
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    } finally {
      probe.close();
    }
    await withTlsServer(expiredLeaf.pem + intermediate.pem, '::1', async (port) => {
      const result = await fetchEndpointChain(`[::1]:${port}`, { timeoutMs: 5000 });
      assert.ok('certificates' in result, JSON.stringify(result));
      assert.equal(result.certificates[1]?.location, `[::1]:${port}#1`);
    });
  });

  it('answers connection refused for a closed port', async () => {
    const server = createTcpServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    assert.deepEqual(await fetchEndpointChain(`127.0.0.1:${port}`, { timeoutMs: 5000 }), {
      error: `connection refused by 127.0.0.1:${port}; check that the service listens there`,
    });
  });

  it('times out on a server that never answers the handshake', async () => {
    const sockets: Socket[] = [];
    const server = createTcpServer((socket) => sockets.push(socket));
    const port = await listen(server);
    try {
      const started = performance.now();
      const result = await fetchEndpointChain(`127.0.0.1:${port}`, { timeoutMs: 300 });
      assert.deepEqual(result, {
        error: `timed out after 300 ms waiting for a TLS handshake with 127.0.0.1:${port}`,
      });
      assert.ok(performance.now() - started < 2000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers that a plain-text server does not speak TLS', async () => {
    const server = createTcpServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n'));
    });
    const port = await listen(server);
    try {
      const result = await fetchEndpointChain(`127.0.0.1:${port}`, { timeoutMs: 5000 });
      assert.ok('error' in result);
      assert.match(result.error, /does not speak TLS/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('throws invalid_input for a malformed target', async () => {
    await assert.rejects(fetchEndpointChain('registry.local', { timeoutMs: 300 }), isInvalidInput);
  });
});
