import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { loadX509 } from '../src/certs/site-pki.js';
import { AGENT_CHANNEL_PATH, type ControllerFrame } from '../src/inventory/agent-protocol.js';
import { httpsRequest, loginOverHttps } from './helpers/https.js';
import {
  type AgentProcess,
  eventually,
  makeTempDir,
  type ServerProcess,
  startAgentProcess,
  startServer,
} from './helpers/processes.js';
import { ADMIN_PASSWORD } from './helpers/site.js';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'hosts', 'one-socket-smt');
/** Agents renew in the last third of the life: a 12 s certificate (+1.2 s backdated) is due after ~8 s. */
const LIFETIME_S = 12;
const EMPTY_INVENTORY = { cpus: [], numaNodes: [], memory: {}, network: [], problems: [] };

type AuditItem = { event: string; username: string | null; status: number; detail: string | null };

/** Opens the agent channel with a client certificate; resolves with the socket or the refusal status. */
function openChannel(
  server: ServerProcess,
  tls: { key: string; cert: string },
): Promise<{ socket?: WebSocket; status?: number | undefined }> {
  const url = new URL(AGENT_CHANNEL_PATH, server.url);
  url.protocol = 'wss:';
  const socket = new WebSocket(url, { ca: fs.readFileSync(server.caPath, 'utf8'), ...tls });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_request, response) => resolve({ status: response.statusCode }));
    socket.once('error', reject);
  });
}

function nextFrame(socket: WebSocket): Promise<ControllerFrame> {
  return new Promise((resolve) => socket.once('message', (data) => resolve(JSON.parse(String(data)))));
}

/** A CSR for an existing key: a renewal that would keep the old key. */
async function csrForKey(keyPem: string): Promise<string> {
  const x509 = await loadX509();
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const pkcs8 = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, algorithm, true, ['verify']),
  };
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=worker-0',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return request.toString('pem');
}

describe('agent certificate renewal: real controller and agent processes', () => {
  let server: ServerProcess;
  let token: string;
  let agent: AgentProcess;
  let stateDir: string;

  const api = async (method: string, url: string, body?: unknown) =>
    httpsRequest(`${server.url}${url}`, { caPath: server.caPath, method, token, body });
  const audit = async (event: string) =>
    ((await api('GET', '/v1/audit?limit=500')).body as { items: AuditItem[] }).items.filter(
      (item) => item.event === event,
    );
  const stored = () => ({
    cert: fs.readFileSync(path.join(stateDir, 'agent.crt'), 'utf8'),
    key: fs.readFileSync(path.join(stateDir, 'agent.key'), 'utf8'),
  });

  before(async () => {
    server = await startServer({
      args: ['--system-type', 'standard'],
      env: {
        MURM_ADMIN_PASSWORD: ADMIN_PASSWORD,
        MURM_HEARTBEAT_INTERVAL_MS: '200',
        MURM_AGENT_CERT_LIFETIME_SECONDS: String(LIFETIME_S),
      },
    });
    token = await loginOverHttps(server, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await agent?.stop();
    await server.stop();
  });

  test('an agent renews its short-lived certificate with a new key and reconnects with it', async () => {
    const added = await api('POST', '/v1/hosts', { hostname: 'worker-0', personality: 'worker' });
    assert.equal(added.status, 201, added.text);
    const root = makeTempDir('renew-root');
    stateDir = path.join(root, 'var/lib/murm-agent');
    agent = startAgentProcess({
      url: server.url,
      caPath: server.caPath,
      root,
      token: (added.body as { enrollment: { token: string } }).enrollment.token,
      fixture: FIXTURE,
    });
    await eventually('worker-0 online', async () =>
      ((await api('GET', '/v1/hosts/worker-0')).body as { availability: string }).availability === 'online'
        ? true
        : undefined,
    );
    const enrolled = stored();
    const first = new X509Certificate(enrolled.cert);
    const lifeMs = Date.parse(first.validTo) - Date.parse(first.validFrom);
    assert.ok(
      lifeMs <= (LIFETIME_S + 2) * 1000,
      `the lifetime knob applies (${first.validFrom} → ${first.validTo})`,
    );

    const renewed = await eventually(
      'a renewed certificate on disk',
      async () => {
        const now = stored();
        return now.cert === enrolled.cert ? undefined : now;
      },
      20_000,
    );
    const second = new X509Certificate(renewed.cert);
    assert.ok(Date.parse(second.validTo) > Date.parse(first.validTo), `${second.validTo} > ${first.validTo}`);
    assert.equal(second.publicKey.equals(first.publicKey), false, 'a new key');
    assert.equal(second.subject, 'CN=worker-0');
    assert.ok(second.checkPrivateKey(createPrivateKey(renewed.key)), 'key and certificate match on disk');

    await eventually('the agent reconnected after renewing', async () =>
      (agent.output().match(/connected to the controller/g) ?? []).length >= 2 ? true : undefined,
    );
    const issued = await audit('agent.certificate-renewed');
    assert.ok(issued.length >= 1);
    assert.equal(issued.at(-1)?.username, 'agent:worker-0');
    assert.equal(issued.at(-1)?.status, 200);
    assert.ok((await audit('agent.connected')).length >= 2);
    const host = (await api('GET', '/v1/hosts/worker-0')).body as { availability: string };
    assert.equal(host.availability, 'online');
    // Proven by the reconnect, the new certificate replaced the enrolled one: that one is refused now.
    const old = await openChannel(server, enrolled);
    assert.equal(old.status, 403);
    await agent.stop();
  });

  test('a malformed or same-key request gets a clear error frame and the certificate keeps working', async () => {
    const current = stored();
    const { socket } = await openChannel(server, current);
    assert.ok(socket, 'the current certificate opens the channel');
    socket.send(
      JSON.stringify({ type: 'hello', agentVersion: 't', appliedRevision: null, inventory: EMPTY_INVENTORY }),
    );
    assert.equal((await nextFrame(socket)).type, 'welcome');
    const refusals: ControllerFrame[] = [];
    for (const frame of [
      { type: 'certificate-request', csr: 'not a certificate request' },
      { type: 'certificate-request' },
      { type: 'certificate-request', csr: await csrForKey(current.key) },
    ]) {
      const answer = nextFrame(socket);
      socket.send(JSON.stringify(frame));
      refusals.push(await answer);
    }
    socket.close();
    for (const refusal of refusals) {
      assert.equal(refusal.type, 'error');
      assert.equal((refusal as { refused?: string }).refused, 'certificate-request');
    }
    assert.match((refusals[0] as { message: string }).message, /not a PEM PKCS#10 certificate request/);
    assert.match((refusals[1] as { message: string }).message, /needs "csr"/);
    assert.match(
      (refusals[2] as { message: string }).message,
      /key the agent already uses; renew with a new key/,
    );
    const audited = (await audit('agent.certificate-renewed')).filter((item) => item.status === 400);
    assert.equal(audited.length, 2, 'the two requests that reached the CA are audited as refused');

    assert.deepEqual(stored(), current, 'nothing changed on disk');
    const again = await openChannel(server, current);
    assert.ok(again.socket, 'the controller still accepts the certificate after the refusals');
    again.socket.close();
  });
});
