import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { makeCertificate } from './helpers/certs.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { ADMIN_PASSWORD, openTestSite, type TestSite } from './helpers/site.js';

type TrustedCa = { fingerprint: string; subject: string; notAfter: string; pem: string; addedBy: string };
type ErrorBody = { error: { code: string; message: string } };

const YEAR_MS = 365 * 86_400_000;

/** A real HTTPS receiver on 127.0.0.1 with the given certificate; counts the POSTs it gets. */
async function startReceiver(tlsOptions: { key: string; cert: string }) {
  const received: string[] = [];
  const server = https.createServer(tlsOptions, (request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.on('end', () => {
      received.push(request.url ?? '');
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/alarms`,
    received,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

for (const backend of BACKENDS) {
  describe(`trusted CAs on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let token: string;
    before(async () => {
      database = await backend.create();
      t = await openTestSite(database);
      token = await t.login('admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await t.close();
      await database.drop();
    });
    const call = (method: string, url: string, body?: unknown) => t.request({ method, url, token, body });
    const listed = async () => ((await call('GET', '/v1/trusted-cas')).body as { items: TrustedCa[] }).items;
    const notAfter = () => new Date(t.clock.now().getTime() + YEAR_MS);

    test('trusts both CAs of a bundle, once each however often it is added', async () => {
      const root = await makeCertificate({ commonName: 'Corp Root CA', isCa: true, notAfter: notAfter() });
      const issuing = await makeCertificate({
        commonName: 'Corp Issuing CA',
        isCa: true,
        issuer: root,
        notAfter: notAfter(),
      });
      const added = await call('POST', '/v1/trusted-cas', { pem: `${root.pem}\n${issuing.pem}` });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const again = await call('POST', '/v1/trusted-cas', { pem: root.pem });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      const items = await listed();
      assert.deepEqual(items.map((ca) => ca.subject).sort(), ['CN=Corp Issuing CA', 'CN=Corp Root CA']);
      assert.ok(items.every((ca) => ca.addedBy === 'admin' && /^[0-9a-f]{64}$/.test(ca.fingerprint)));
    });

    test('refuses a bundle holding a leaf certificate, and adds none of it', async () => {
      const ca = await makeCertificate({ commonName: 'Leaf Test CA', isCa: true, notAfter: notAfter() });
      const leaf = await makeCertificate({ commonName: 'server.example', issuer: ca, notAfter: notAfter() });
      const refused = await call('POST', '/v1/trusted-cas', { pem: ca.pem + leaf.pem });
      assert.equal(refused.status, 400);
      const { error } = refused.body as ErrorBody;
      assert.equal(error.code, 'invalid_input');
      assert.match(error.message, /certificate 2 of 2 \("CN=server\.example"\) is not a CA certificate/);
      assert.ok(!(await listed()).some((item) => item.subject === 'CN=Leaf Test CA'));
    });

    test('refuses corrupt PEM and text without a certificate, naming the problem', async () => {
      const ca = await makeCertificate({ commonName: 'Corrupt CA', isCa: true, notAfter: notAfter() });
      const cases: [string, RegExp][] = [
        [ca.pem.replace(/\n[A-Za-z0-9+/]{64}\n/, '\nAAAA\n'), /certificate 1 of 1 in the bundle is corrupt/],
        [ca.pem.replace(/-----END CERTIFICATE-----\n$/, ''), /has no END line/],
        [ca.keyPem, /no certificate in the bundle \(it holds PRIVATE KEY\)/],
        ['not a certificate', /no certificate in the bundle \(it holds no PEM block\)/],
      ];
      for (const [pem, message] of cases) {
        const refused = await call('POST', '/v1/trusted-cas', { pem });
        assert.equal(refused.status, 400, pem);
        const { error } = refused.body as ErrorBody;
        assert.equal(error.code, 'invalid_input');
        assert.match(error.message, message);
      }
    });

    test('removes a CA by fingerprint, and answers 404 for one not trusted', async () => {
      const ca = await makeCertificate({ commonName: 'Removed CA', isCa: true, notAfter: notAfter() });
      const added = await call('POST', '/v1/trusted-cas', { pem: ca.pem });
      const [item] = (added.body as { items: TrustedCa[] }).items;
      assert.ok(item);
      assert.equal((await call('DELETE', `/v1/trusted-cas/${item.fingerprint}`)).status, 204);
      assert.ok(!(await listed()).some((listedCa) => listedCa.fingerprint === item.fingerprint));
      assert.equal((await call('DELETE', `/v1/trusted-cas/${item.fingerprint}`)).status, 404);
    });

    test('lets a reader list but not change the trusted CAs', async () => {
      const reader = await t.userWithRole('reader');
      const ca = await makeCertificate({ commonName: 'Reader CA', isCa: true, notAfter: notAfter() });
      assert.equal((await t.request({ method: 'GET', url: '/v1/trusted-cas', token: reader })).status, 200);
      const refused = await t.request({
        method: 'POST',
        url: '/v1/trusted-cas',
        token: reader,
        body: { pem: ca.pem },
      });
      assert.equal(refused.status, 403);
    });

    test('keeps the trusted CAs across a restart', async () => {
      const previous = await listed();
      assert.ok(previous.length >= 2);
      await t.close();
      t = await openTestSite(database);
      token = await t.login('admin', ADMIN_PASSWORD);
      assert.deepEqual(await listed(), previous);
    });

    test('delivers a webhook to a receiver of a private CA only once the CA is trusted', async () => {
      const ca = await makeCertificate({
        commonName: 'Receiver Private CA',
        isCa: true,
        notAfter: notAfter(),
      });
      const leaf = await makeCertificate({
        commonName: '127.0.0.1',
        issuer: ca,
        sans: ['IP:127.0.0.1'],
        notBefore: new Date(Date.now() - 86_400_000),
        notAfter: new Date(Date.now() + YEAR_MS),
      });
      const receiver = await startReceiver({ key: leaf.keyPem, cert: leaf.pem });
      try {
        const created = await call('POST', '/v1/alarm-webhooks', {
          url: receiver.url,
          secret: 'whsec-0123456789abcdef',
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const { id } = created.body as { id: string };
        const raised = await call('POST', '/v1/alarms', {
          alarmId: '100.101',
          entityInstanceId: 'host=controller-0',
          severity: 'major',
          reasonText: 'CPU at 95%',
        });
        assert.equal(raised.status, 201, JSON.stringify(raised.body));
        await t.site.fault.settled();
        assert.equal(await t.site.webhooks.deliverDue(), 1);
        assert.equal(receiver.received.length, 0);
        const failed = (await call('GET', `/v1/alarm-webhooks/${id}`)).body as {
          lastDelivery: { error: string | null };
        };
        assert.match(failed.lastDelivery.error ?? '', /certificate not trusted/);

        const trusted = await call('POST', '/v1/trusted-cas', { pem: ca.pem });
        assert.equal(trusted.status, 201, JSON.stringify(trusted.body));
        t.clock.advance(60); // past the retry backoff
        assert.equal(await t.site.webhooks.deliverDue(), 1);
        assert.equal(receiver.received.length, 1);
      } finally {
        await receiver.close();
      }
    });
  });
}
