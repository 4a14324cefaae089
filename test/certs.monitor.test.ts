import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeCertificate } from './helpers/certs.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { makeTempDir } from './helpers/processes.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type Source = { id: string; kind: string; status: string; error: string | null; certificateCount: number };
type Certificate = {
  fingerprint: string;
  subject: string;
  state: string;
  alarmId: string | null;
  location: string;
};
type Alarm = { alarmId: string; entityInstanceId: string; severity: string; reasonText: string };

const DAY = 86_400_000;

for (const backend of BACKENDS) {
  describe(`certificate monitoring on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let token: string;
    let dir: string;
    let start: Date;
    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      token = await t.login('admin', ADMIN_PASSWORD);
      start = t.clock.now();
      dir = makeTempDir('certs');
      const write = async (name: string, days: number) => {
        const cert = await makeCertificate({
          commonName: name,
          notBefore: new Date(start.getTime() - DAY),
          notAfter: new Date(start.getTime() + days * DAY),
        });
        fs.writeFileSync(path.join(dir, `${name}.crt`), cert.pem);
      };
      await write('valid', 365);
      await write('soon', 10);
      await write('gone', -2);
    });
    after(async () => {
      await t.close();
      await database.drop();
    });
    const call = (method: string, url: string, body?: unknown) => t.request({ method, url, token, body });
    const alarms = async (alarmId: string) =>
      ((await call('GET', `/v1/alarms?alarmId=${alarmId}&limit=1000`)).body as { items: Alarm[] }).items;
    const certificates = async (query = '') =>
      ((await call('GET', `/v1/certificates${query}`)).body as { items: Certificate[] }).items;

    test('evaluates a directory at once: 500.200 for the expiring, 500.210 for the expired', async () => {
      const created = await call('POST', '/v1/certificate-sources', { kind: 'path', target: dir });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const source = created.body as Source;
      assert.equal(source.status, 'ok');
      assert.equal(source.certificateCount, 3);
      const expiring = await certificates(`?expiringWithin=${30 * 86_400}`);
      assert.deepEqual(
        expiring.map((c) => `${c.state}:${c.alarmId}`),
        ['expired:500.210', 'expiring:500.200'],
      );
      const [soon] = await alarms('500.200');
      assert.ok(soon);
      assert.match(
        soon.entityInstanceId,
        /^system\.certificate\.mode=file\.uuid=[0-9a-f]{32}\.source=[0-9a-f]{8}$/,
      );
      assert.equal(soon.severity, 'major');
      assert.match(
        soon.reasonText,
        /Certificate soon .* is expiring soon on \d{4}-\d{2}-\d{2}, \d{2}:\d{2}:\d{2}/,
      );
      const [gone] = await alarms('500.210');
      assert.equal(gone?.severity, 'critical');
      assert.match(gone?.reasonText ?? '', /Certificate gone .* expired\./);
    });

    test('moves an expiring certificate to expired as time passes, clearing 500.200', async () => {
      t.clock.advance(11 * 86_400);
      token = await t.login('admin', ADMIN_PASSWORD); // the old token expired with the clock
      const audit = await call('POST', '/v1/certificate-sources:audit');
      assert.equal((audit.body as { expired: number }).expired, 2);
      assert.equal((await alarms('500.200')).length, 0);
      assert.equal((await alarms('500.210')).length, 2);
      t.clock.advance(-11 * 86_400);
      token = await t.login('admin', ADMIN_PASSWORD);
      await call('POST', '/v1/certificate-sources:audit');
    });

    test('clears the alarms of a certificate that was renewed (replaced in place)', async () => {
      const renewed = await makeCertificate({
        commonName: 'gone',
        notBefore: start,
        notAfter: new Date(start.getTime() + 400 * DAY),
      });
      fs.writeFileSync(path.join(dir, 'gone.crt'), renewed.pem);
      await call('POST', '/v1/certificate-sources:audit');
      assert.equal((await alarms('500.210')).length, 0);
      assert.equal((await alarms('500.200')).length, 1);
    });

    test('reports bad files per source without crashing or raising a false alarm', async () => {
      const bad = makeTempDir('bad-certs');
      fs.writeFileSync(path.join(bad, 'empty.crt'), '');
      fs.writeFileSync(
        path.join(bad, 'corrupt.pem'),
        '-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n',
      );
      const key = await makeCertificate({ commonName: 'k', notAfter: new Date(start.getTime() + DAY) });
      fs.writeFileSync(path.join(bad, 'key.pem'), key.keyPem);
      const before = (await alarms('500.200')).length + (await alarms('500.210')).length;
      const created = await call('POST', '/v1/certificate-sources', { kind: 'path', target: bad });
      const source = created.body as Source;
      assert.equal(source.status, 'error');
      assert.match(source.error ?? '', /3 of 3 files/);
      const missing = (
        await call('POST', '/v1/certificate-sources', { kind: 'path', target: '/nonexistent/certs' })
      ).body as Source;
      assert.equal(missing.status, 'error');
      const refused = (
        await call('POST', '/v1/certificate-sources', { kind: 'endpoint', target: '127.0.0.1:1' })
      ).body as Source;
      assert.equal(refused.status, 'error');
      assert.match(refused.error ?? '', /refused/);
      assert.equal((await alarms('500.200')).length + (await alarms('500.210')).length, before);
      const malformed = await call('POST', '/v1/certificate-sources', {
        kind: 'endpoint',
        target: 'no-port',
      });
      assert.equal(malformed.status, 400);
    });

    test('honours per-source settings: disabled, alarm-before, severity and text prefix', async () => {
      const quiet = (
        await call('POST', '/v1/certificate-sources', {
          kind: 'path',
          target: path.join(dir, 'soon.crt'),
          settings: { isAlarmEnabled: false },
        })
      ).body as Source;
      assert.equal(quiet.status, 'ok');
      const loud = await call('POST', '/v1/certificate-sources', {
        kind: 'path',
        target: path.join(dir, 'valid.crt'),
        settings: { alarmBefore: '400d', severity: 'minor', textPrefix: 'edge-7:' },
      });
      assert.equal(loud.status, 201);
      const valid = (await alarms('500.200')).find((a) =>
        a.reasonText.startsWith('edge-7: Certificate valid'),
      );
      assert.equal(valid?.severity, 'minor');
      assert.equal(
        (
          await call('POST', '/v1/certificate-sources', {
            kind: 'path',
            target: dir,
            settings: { alarmBefore: '3x' },
          })
        ).status,
        400,
      );
    });

    test('applies per-certificate settings over the source and removes them on reset', async () => {
      const soon = (await certificates(`?expiringWithin=${30 * 86_400}&state=expiring`)).find((c) =>
        c.subject.includes('soon'),
      );
      assert.ok(soon);
      const entity = (a: Alarm) => a.reasonText.includes('Certificate soon');
      const critical = await call('PATCH', `/v1/certificates/${soon.fingerprint}`, {
        settings: { severity: 'critical', textPrefix: 'db:' },
      });
      assert.equal(critical.status, 200, JSON.stringify(critical.body));
      assert.equal((await alarms('500.200')).find(entity)?.severity, 'critical');
      await call('PATCH', `/v1/certificates/${soon.fingerprint}`, { settings: { isAlarmEnabled: false } });
      assert.equal((await alarms('500.200')).filter(entity).length, 0);
      await call('PATCH', `/v1/certificates/${soon.fingerprint}`, { settings: {} });
      assert.equal((await alarms('500.200')).find(entity)?.severity, 'major');
      assert.equal((await call('PATCH', `/v1/certificates/${'0'.repeat(64)}`, { settings: {} })).status, 404);
      assert.equal(
        (await call('PATCH', `/v1/certificates/${soon.fingerprint}`, { settings: { alarmBefore: 'soon' } }))
          .status,
        400,
      );
    });

    test('re-evaluates at once when a file deep in a watched directory changes', async () => {
      const tree = makeTempDir('cert-tree');
      const nested = path.join(tree, 'a', 'b');
      fs.mkdirSync(nested, { recursive: true });
      const fresh = await makeCertificate({
        commonName: 'deep',
        notBefore: start,
        notAfter: new Date(start.getTime() + 365 * DAY),
      });
      fs.writeFileSync(path.join(nested, 'deep.crt'), fresh.pem);
      const source = (await call('POST', '/v1/certificate-sources', { kind: 'path', target: tree }))
        .body as Source;
      t.site.certificates.start();
      try {
        const stale = await makeCertificate({
          commonName: 'deep',
          notBefore: new Date(start.getTime() - DAY),
          notAfter: new Date(start.getTime() + 3 * DAY),
        });
        fs.writeFileSync(path.join(nested, 'deep.crt'), stale.pem);
        // Waits for the file-system event (bounded), not for a fixed time.
        let state = '';
        for (let attempt = 0; attempt < 100 && state !== 'expiring'; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          state = (await certificates(`?source=${source.id}`))[0]?.state ?? '';
        }
        assert.equal(state, 'expiring');
      } finally {
        t.site.certificates.stop();
      }
    });

    test('watches a TLS endpoint and alarms on its served chain', async () => {
      const cert = await makeCertificate({
        commonName: 'endpoint',
        notBefore: new Date(start.getTime() - DAY),
        notAfter: new Date(start.getTime() + 5 * DAY),
        sans: ['IP:127.0.0.1'],
      });
      const server = https.createServer({ cert: cert.pem, key: cert.keyPem }, (_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const created = (
          await call('POST', '/v1/certificate-sources', { kind: 'endpoint', target: `127.0.0.1:${port}` })
        ).body as Source;
        assert.equal(created.status, 'ok', created.error ?? '');
        const served = await certificates(`?source=${created.id}`);
        assert.equal(served[0]?.state, 'expiring');
        assert.ok(
          (await alarms('500.200')).some((a) =>
            a.entityInstanceId.startsWith('system.certificate.mode=endpoint.'),
          ),
        );
        assert.equal((await call('DELETE', `/v1/certificate-sources/${created.id}`)).status, 204);
        assert.ok(
          !(await alarms('500.200')).some((a) =>
            a.entityInstanceId.startsWith('system.certificate.mode=endpoint.'),
          ),
        );
      } finally {
        server.close();
      }
    });

    test('keeps its sources across a restart and refuses to drop platform sources', async () => {
      const sources = ((await call('GET', '/v1/certificate-sources')).body as { items: Source[] }).items;
      assert.ok(sources.some((s) => s.kind === 'platform'));
      assert.equal((await call('DELETE', '/v1/certificate-sources/platform-root-ca')).status, 409);
      await t.close();
      t = await openTestSite(database);
      token = await t.login('admin', ADMIN_PASSWORD);
      const reopened = ((await call('GET', '/v1/certificate-sources')).body as { items: Source[] }).items;
      assert.deepEqual(reopened.map((s) => s.id).sort(), sources.map((s) => s.id).sort());
    });
  });
}
