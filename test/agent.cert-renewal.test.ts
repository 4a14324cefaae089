import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CertificateRenewal, renewalDueAtMs, renewalRetryDelayMs } from '../src/agent/cert-renewal.js';
import { ensureEnrolled, newKeyRequest } from '../src/agent/enroll.js';
import { issueFromCsr } from '../src/certs/issue.js';
import { createLogger } from '../src/core/log.js';
import type { AgentFrame, ControllerFrame } from '../src/inventory/agent-protocol.js';
import { makeCertificate } from './helpers/certs.js';
import { FakeClock } from './helpers/clock.js';

const DAY_MS = 86_400_000;
const HOSTNAME = 'worker-7';
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

test('a certificate is due once two thirds of its life are over, or at the fraction asked for', () => {
  const validity = { notBeforeMs: T0, notAfterMs: T0 + 365 * DAY_MS };
  const cases: [number | undefined, number][] = [
    [undefined, T0 + (365 * DAY_MS * 2) / 3],
    [0.5, T0 + 182.5 * DAY_MS],
    [0, T0 + 365 * DAY_MS],
    [1, T0],
    [7, T0],
  ];
  for (const [fraction, due] of cases) assert.equal(renewalDueAtMs(validity, fraction), due, `${fraction}`);
});

test('retries after a failure back off from 1 min to 1 h with jitter in [d/2, d)', () => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => renewalRetryDelayMs(n, () => 0));
  assert.deepEqual(
    delays,
    [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000, 1_800_000],
  );
  assert.equal(
    renewalRetryDelayMs(1, () => 0.5),
    45_000,
  );
  assert.equal(
    renewalRetryDelayMs(2, () => 0.5, { baseMs: 100, capMs: 150 }),
    112,
  );
});

/** Lets timers of 0 ms and crypto work run (no waiting for time to pass: at most 200 turns). */
async function until<T>(what: string, check: () => T): Promise<Exclude<T, undefined>> {
  for (let turn = 0; turn < 200; turn += 1) {
    const value = check();
    if (value !== undefined) return value as Exclude<T, undefined>;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`never happened: ${what}`);
}

describe('certificate renewal of the agent, against a real CA and state directory', () => {
  let ca: { certPem: string; keyPem: string };
  let caFile: string;
  let root: string;

  /** An enrolled state directory holding a 365-day certificate issued at T0. */
  const enrolledStateDir = async (name: string) => {
    const stateDir = join(root, name);
    await mkdir(stateDir, { recursive: true });
    const { keyPem, csr } = await newKeyRequest();
    const issued = await issueFromCsr(ca, {
      csrPem: csr,
      commonName: HOSTNAME,
      notBefore: new Date(T0),
      notAfter: new Date(T0 + 365 * DAY_MS),
    });
    await writeFile(join(stateDir, 'agent.key'), keyPem);
    await writeFile(join(stateDir, 'agent.crt'), issued.certPem);
    await writeFile(join(stateDir, 'hostname'), `${HOSTNAME}\n`);
    return { stateDir, keyPem, certificatePem: issued.certPem };
  };

  /** The CA answering a CSR the way the controller does: CN = host name, `days` from `clock`. */
  const answer = async (frame: AgentFrame, clock: FakeClock, days = 365, commonName = HOSTNAME) => {
    assert.equal(frame.type, 'certificate-request');
    const csr = (frame as { csr: string }).csr;
    const issued = await issueFromCsr(ca, {
      csrPem: csr,
      commonName,
      notBefore: clock.now(),
      notAfter: new Date(clock.now().getTime() + days * DAY_MS),
    });
    return { type: 'certificate', certificate: issued.certPem, caBundle: ca.certPem } as ControllerFrame;
  };

  const start = (
    identity: { stateDir: string; keyPem: string; certificatePem: string },
    clock: FakeClock,
  ) => {
    const sent: AgentFrame[] = [];
    const renewed: { keyPem: string; certificatePem: string }[] = [];
    const renewal = new CertificateRenewal({
      ...identity,
      hostname: HOSTNAME,
      logger: createLogger('silent'),
      settings: { clock, random: () => 0.5 },
      send: (frame) => sent.push(frame) > 0,
      renewed: (value) => renewed.push(value),
    });
    return { renewal, sent, renewed };
  };

  before(async () => {
    const authority = await makeCertificate({
      commonName: 'site-ca',
      isCa: true,
      notBefore: new Date(T0 - DAY_MS),
      notAfter: new Date(T0 + 3650 * DAY_MS),
    });
    ca = { certPem: authority.pem, keyPem: authority.keyPem };
    root = await mkdtemp(join(tmpdir(), 'murm-renewal-'));
    caFile = join(root, 'ca.crt');
    await writeFile(caFile, ca.certPem);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('asks nothing before the window; asks once connected inside it, then stores and reports the new identity', async () => {
    const identity = await enrolledStateDir('renews');
    const clock = new FakeClock('2026-08-01T00:00:00.000Z');
    const { renewal, sent, renewed } = start(identity, clock);
    renewal.connected();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(sent, [], 'day 212 of 365 is before the window');

    clock.advance(40 * 86_400);
    renewal.connected();
    const request = await until('a certificate-request', () => sent[0]);
    assert.equal(renewal.handleFrame(await answer(request, clock)), true);
    const identityNow = await until('the renewed callback', () => renewed[0]);
    renewal.stop();

    const onDisk = await readFile(join(identity.stateDir, 'agent.crt'), 'utf8');
    assert.equal(onDisk, identityNow.certificatePem);
    assert.equal(await readFile(join(identity.stateDir, 'agent.key'), 'utf8'), identityNow.keyPem);
    await assert.rejects(stat(join(identity.stateDir, 'agent.key.previous')), { code: 'ENOENT' });
    const before = new X509Certificate(identity.certificatePem);
    const now = new X509Certificate(onDisk);
    assert.ok(Date.parse(now.validTo) > Date.parse(before.validTo));
    assert.equal(now.publicKey.equals(before.publicKey), false, 'a new key');
    assert.equal(sent.length, 1);
  });

  test('a refusal keeps the current certificate and asks again only after the backoff', async () => {
    const identity = await enrolledStateDir('refused');
    const clock = new FakeClock('2026-10-01T00:00:00.000Z');
    const { renewal, sent } = start(identity, clock);
    renewal.connected();
    await until('a certificate-request', () => sent[0]);
    renewal.handleFrame({ type: 'error', message: 'no', refused: 'certificate-request' });
    assert.equal(await readFile(join(identity.stateDir, 'agent.crt'), 'utf8'), identity.certificatePem);

    clock.advance(44);
    renewal.connected();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(sent.length, 1, 'the first retry waits 45 s (jitter 0.5 of 60 s)');
    clock.advance(2);
    renewal.connected();
    await until('the retry', () => sent[1]);
    // An answer for another host is refused on the agent's side as well, and kept out of the files.
    renewal.handleFrame(await answer(await until('the retry', () => sent[1]), clock, 365, 'worker-8'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    renewal.stop();
    assert.equal(await readFile(join(identity.stateDir, 'agent.crt'), 'utf8'), identity.certificatePem);
    assert.equal(await readFile(join(identity.stateDir, 'agent.key'), 'utf8'), identity.keyPem);
  });

  test('a failed write keeps the working pair and retries', async () => {
    const identity = await enrolledStateDir('unwritable');
    // A directory where the key backup goes makes the first write fail (root ignores permissions).
    await mkdir(join(identity.stateDir, 'agent.key.previous', 'blocker'), { recursive: true });
    const clock = new FakeClock('2026-10-01T00:00:00.000Z');
    const { renewal, sent, renewed } = start(identity, clock);
    renewal.connected();
    renewal.handleFrame(await answer(await until('a request', () => sent[0]), clock));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(renewed, []);
    const stored = await ensureEnrolled({
      controller: 'https://127.0.0.1:1',
      caFile,
      stateDir: identity.stateDir,
      logger: createLogger('silent'),
    });
    assert.equal(stored.certificatePem, identity.certificatePem);
    assert.equal(stored.keyPem, identity.keyPem);

    await rm(join(identity.stateDir, 'agent.key.previous'), { recursive: true });
    clock.advance(60);
    renewal.connected();
    renewal.handleFrame(await answer(await until('the retry', () => sent[1]), clock));
    await until('the renewed callback', () => renewed[0]);
    renewal.stop();
  });

  test('a start after a crash between the new key and the new certificate uses the old pair', async () => {
    const identity = await enrolledStateDir('crashed');
    const { keyPem: newKey } = await newKeyRequest();
    await writeFile(join(identity.stateDir, 'agent.key.previous'), identity.keyPem);
    await writeFile(join(identity.stateDir, 'agent.key'), newKey);
    const stored = await ensureEnrolled({
      controller: 'https://127.0.0.1:1',
      caFile,
      stateDir: identity.stateDir,
      logger: createLogger('silent'),
    });
    assert.equal(stored.keyPem, identity.keyPem);
    assert.equal(stored.certificatePem, identity.certificatePem);
    await rm(join(identity.stateDir, 'agent.key.previous'));
    await assert.rejects(
      ensureEnrolled({
        controller: 'https://127.0.0.1:1',
        caFile,
        stateDir: identity.stateDir,
        logger: createLogger('silent'),
      }),
      { code: 'precondition_failed', message: /is not for the key in/ },
    );
  });
});
