import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { EXIT_CODES } from '../src/cli/program.js';
import type { AlarmWebhookView } from '../src/fault/webhook-service.js';
import { type CliSession, openCliSession } from './helpers/cli-session.js';
import type { CliResult, ServerProcess } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const SECRET = 'whsec-cli-0123456789abcdef';
const WAIT_MS = 15_000;
const POLL_MS = 100;
interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: ServerProcess;
let session: CliSession;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];

before(async () => {
  receiver = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  session = await openCliSession('cli-webhooks', ADMIN_PASSWORD);
  server = session.server;
});

after(async () => {
  await server.stop();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

function murm(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return session.murm(args, env);
}

function json<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
  return session.json<T>(args, env);
}

/** Polls `check` until it returns a value, for at most WAIT_MS. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${WAIT_MS} ms`);
    await delay(POLL_MS);
  }
}

test('delivers a raised alarm to the receiver signed with the secret, and lists it as delivered', async () => {
  const created = await json<AlarmWebhookView>(
    ['alarm-webhook', 'add', receiverUrl, '--alarm-id', '100.101', '--kinds', 'raised,cleared'],
    { MURM_WEBHOOK_SECRET: SECRET },
  );
  assert.equal(created.url, receiverUrl);
  assert.deepEqual(created.filter, { alarmIds: ['100.101'], kinds: ['raised', 'cleared'] });
  assert.ok(!JSON.stringify(created).includes(SECRET), 'the secret is never shown');

  const raised = await murm([
    'alarm',
    'raise',
    '--alarm-id',
    '100.101',
    '--entity',
    'host=webhook-0',
    '--severity',
    'major',
    '--reason',
    'webhook test',
  ]);
  assert.equal(raised.code, EXIT_CODES.ok, raised.stderr);

  const delivery = await waitFor('the POST to the receiver', () =>
    received.find((request) => request.body.includes('host=webhook-0')),
  );
  const signature = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(delivery.headers['x-murm-signature']));
  assert.ok(signature, `x-murm-signature: ${delivery.headers['x-murm-signature']}`);
  const [, timestamp, hex] = signature;
  const expected = createHmac('sha256', SECRET).update(`${timestamp}.${delivery.body}`).digest('hex');
  assert.equal(hex, expected);
  const payload = JSON.parse(delivery.body) as { kind: string; alarm: { alarmId: string } };
  assert.equal(payload.kind, 'raised');
  assert.equal(payload.alarm.alarmId, '100.101');

  const listed = await waitFor('the delivered status', async () => {
    const items = await json<AlarmWebhookView[]>(['alarm-webhook', 'list']);
    const mine = items.find((item) => item.id === created.id);
    return mine?.lastDelivery.status === 'delivered' ? mine : undefined;
  });
  assert.equal(listed.consecutiveFailures, 0);
  assert.equal(listed.lastDelivery.statusCode, 204);

  const table = await murm(['alarm-webhook', 'list']);
  assert.equal(table.code, EXIT_CODES.ok, table.stderr);
  assert.match(table.stdout, /^ID\s+URL\s+FILTER\s+LAST STATUS\s+FAILURES\s+PENDING$/m);
  assert.match(
    table.stdout,
    new RegExp(
      `^${created.id}\\s+\\S+\\s+alarm-id=100\\.101 kinds=raised,cleared\\s+delivered\\s+0\\s+0$`,
      'm',
    ),
  );

  const shown = await json<AlarmWebhookView>(['alarm-webhook', 'show', created.id]);
  assert.equal(shown.id, created.id);
});

test('refuses a too-short secret with the usage exit code and the server message', async () => {
  const result = await murm(['alarm-webhook', 'add', receiverUrl], { MURM_WEBHOOK_SECRET: 'short' });
  assert.equal(result.code, EXIT_CODES.usage);
  assert.match(result.stderr, /"secret".*16/);
});

test('refuses an unknown kind of change before calling the server', async () => {
  const result = await murm(['alarm-webhook', 'add', receiverUrl, '--kinds', 'raised,gone'], {
    MURM_WEBHOOK_SECRET: SECRET,
  });
  assert.equal(result.code, EXIT_CODES.usage);
  assert.match(result.stderr, /"gone" is not a kind of change/);
});

test('show exits with the not-found code for an unknown id', async () => {
  const result = await murm(['alarm-webhook', 'show', 'nosuch']);
  assert.equal(result.code, EXIT_CODES.notFound);
  assert.match(result.stderr, /nosuch/);
});

test('delete asks for --yes without a terminal, and with it removes the webhook', async () => {
  const added = await json<AlarmWebhookView>(['alarm-webhook', 'add', receiverUrl], {
    MURM_WEBHOOK_SECRET: SECRET,
  });
  const refused = await murm(['alarm-webhook', 'delete', added.id]);
  assert.equal(refused.code, EXIT_CODES.usage);
  assert.match(refused.stderr, /pass --yes/);

  const items = await json<AlarmWebhookView[]>(['alarm-webhook', 'list']);
  assert.ok(items.some((item) => item.id === added.id));
  for (const item of items) {
    const deleted = await murm(['alarm-webhook', 'delete', item.id, '--yes']);
    assert.equal(deleted.code, EXIT_CODES.ok, deleted.stderr);
    assert.equal(deleted.stdout, `deleted alarm webhook ${item.id}\n`);
  }
  assert.deepEqual(await json<AlarmWebhookView[]>(['alarm-webhook', 'list']), []);
});
