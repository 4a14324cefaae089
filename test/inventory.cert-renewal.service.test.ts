import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { newKeyRequest } from '../src/agent/enroll.js';
import { ensureSitePki } from '../src/certs/site-pki.js';
import { BACKENDS, type TestDatabase } from './helpers/databases.js';
import { eventually } from './helpers/processes.js';
import { openTestSite, type TestSite } from './helpers/site.js';

/** What the channel knows of the certificate an agent connected with. */
function presented(certificatePem: string) {
  const certificate = new X509Certificate(certificatePem);
  return {
    fingerprint: certificate.fingerprint256.replaceAll(':', '').toLowerCase(),
    publicKey: certificate.publicKey,
  };
}

for (const backend of BACKENDS) {
  describe(`agent certificate renewal in the inventory on ${backend.name}`, () => {
    let database: TestDatabase;
    let t: TestSite;
    let enrolled: ReturnType<typeof presented>;
    let renewed: ReturnType<typeof presented>;

    const isAccepted = (fingerprint: string) => {
      try {
        return t.site.inventory.agentFor('worker-0', fingerprint) === 'worker-0';
      } catch {
        return false;
      }
    };
    const enroll = async () => {
      const admin = await t.login('admin', 'Bootstrap-Pass-1');
      const issued = await t.request({
        method: 'POST',
        url: '/v1/hosts/worker-0/enrollment-token',
        token: admin,
      });
      const { token } = issued.body as { token: string };
      const { csr } = await newKeyRequest();
      return presented((await t.site.inventory.enroll(token, csr)).certificate);
    };

    before(async () => {
      database = await backend.create();
      t = await openTestSite(database, { systemType: 'Standard' });
      await ensureSitePki({ dataDir: t.config.dataDir, hosts: ['localhost'], now: t.clock.now() });
      const admin = await t.login('admin', 'Bootstrap-Pass-1');
      const added = await t.request({
        method: 'POST',
        url: '/v1/hosts',
        token: admin,
        body: { hostname: 'worker-0', personality: 'worker' },
      });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      enrolled = await enroll();
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    test('issues to the channel’s host; refuses a stranger’s certificate, an unknown host and a bad CSR', async () => {
      const { csr } = await newKeyRequest();
      const answer = await t.site.inventory.renewAgentCertificate('worker-0', enrolled, csr);
      const certificate = new X509Certificate(answer.certificate);
      assert.equal(certificate.subject, 'CN=worker-0', 'the CSR said CN=<this machine>; the channel decides');
      assert.equal(answer.notAfter, new Date(certificate.validTo).toISOString());
      renewed = presented(answer.certificate);
      // agentFor() with the new fingerprint is the agent connecting with it: that comes in the next test.
      assert.ok(isAccepted(enrolled.fingerprint), 'the old certificate works until the new one is used');

      await assert.rejects(
        t.site.inventory.renewAgentCertificate('worker-0', { ...enrolled, fingerprint: 'f'.repeat(64) }, csr),
        { code: 'forbidden' },
      );
      await assert.rejects(t.site.inventory.renewAgentCertificate('worker-9', enrolled, csr), {
        code: 'not_found',
      });
      await assert.rejects(t.site.inventory.renewAgentCertificate('worker-0', enrolled, 'garbage'), {
        code: 'invalid_input',
      });
    });

    test('both certificates survive a controller restart; the first connection with the new one retires the old', async () => {
      const dataDir = t.config.dataDir;
      await t.close();
      t = await openTestSite(database, { systemType: 'Standard', dataDir });
      assert.ok(isAccepted(enrolled.fingerprint), 'an agent that had not stored the new one still gets in');
      assert.ok(isAccepted(renewed.fingerprint));
      // The retirement is written through the inventory's queue, after agentFor() answered.
      await eventually(
        'the old certificate retired',
        async () => (isAccepted(enrolled.fingerprint) ? undefined : true),
        5000,
      );
      assert.ok(isAccepted(renewed.fingerprint));
      await t.close();
      t = await openTestSite(database, { systemType: 'Standard', dataDir });
      assert.equal(isAccepted(enrolled.fingerprint), false, 'retired for good');
    });

    test('enrolling again retires every earlier certificate', async () => {
      const again = await enroll();
      assert.ok(isAccepted(again.fingerprint));
      assert.equal(isAccepted(renewed.fingerprint), false);
    });
  });
}
