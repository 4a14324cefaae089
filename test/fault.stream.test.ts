import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { BACKENDS } from './helpers/databases.js';
import { ADMIN_PASSWORD, openTestSite } from './helpers/site.js';

type Received = {
  event: string;
  id: string;
  data: { alarmId: string; entityInstanceId: string; severity: string };
};

/** Reads Server-Sent Events from a real socket and hands each complete event to `onEvent`. */
function openStream(
  url: string,
  token: string,
  onEvent: (event: Received) => void,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { authorization: `Bearer ${token}` } }, (response) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((line) => !line.startsWith(':'))
              .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
          );
          if (fields.event && fields.id && fields.data) {
            onEvent({ event: fields.event, id: fields.id, data: JSON.parse(fields.data) });
          }
          end = buffer.indexOf('\n\n');
        }
      });
      resolve(response);
    });
    request.on('error', reject);
  });
}

test('streams raised, updated and cleared alarms over SSE and ends the stream at shutdown', async () => {
  const sqlite = BACKENDS[0];
  assert.ok(sqlite);
  const database = await sqlite.create();
  const t = await openTestSite(database);
  try {
    const token = await t.login('admin', ADMIN_PASSWORD);
    await t.site.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.site.app.server.address() as { port: number };
    const received: Received[] = [];
    let notify = () => {};
    const response = await openStream(`http://127.0.0.1:${port}/v1/alarms/stream`, token, (event) => {
      received.push(event);
      notify();
    });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /text\/event-stream/);
    const waitFor = (count: number) =>
      new Promise<void>((resolve) => {
        notify = () => received.length >= count && resolve();
        notify();
      });

    await t.site.fault.raise({
      alarmId: '100.101',
      entityInstanceId: 'host=controller-0',
      severity: 'major',
      reasonText: 'cpu',
    });
    await t.site.fault.raise({
      alarmId: '100.101',
      entityInstanceId: 'host=controller-0',
      severity: 'critical',
      reasonText: 'cpu',
    });
    await t.site.fault.clear('100.101', 'host=controller-0');
    await waitFor(3);
    assert.deepEqual(
      received.map((r) => `${r.event}:${r.data.severity}`),
      ['raised:major', 'updated:critical', 'cleared:critical'],
    );
    const ids = received.map((r) => Number(r.id));
    assert.ok(
      ids[0] !== undefined && ids[0] > 0 && ids[1] === ids[0] + 1 && ids[2] === ids[0] + 2,
      ids.join(','),
    );

    const ended = new Promise<void>((resolve) => response.on('end', () => resolve()));
    await t.close();
    await ended;
  } finally {
    await database.drop();
  }
});
