// Watches the controller's live alarm stream (Server-Sent Events, GET /v1/alarms/stream) and records
// when each alarm was raised, so the benchmark can time "uplink cut → 280.001 raised".
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';

export interface AlarmStream {
  /** performance-independent wall time (Date.now()) at which `alarmId` was raised for each entity. */
  raisedAt(alarmId: string): Map<string, number>;
  close(): void;
}

export function watchAlarms(o: { origin: string; ca: string; token: string }): Promise<AlarmStream> {
  const raised = new Map<string, Map<string, number>>();
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(
      `${o.origin}/v1/alarms/stream`,
      {
        ca: o.ca,
        headers: { authorization: `Bearer ${o.token}`, accept: 'text/event-stream' },
        agent: false,
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET /v1/alarms/stream: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            record(block);
          }
        });
        resolve({ raisedAt: (id) => raised.get(id) ?? new Map(), close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });

  function record(block: string): void {
    let event = '';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (event !== 'raised' || data === '') return;
    const alarm = JSON.parse(data) as { alarmId: string; entityInstanceId: string };
    let byEntity = raised.get(alarm.alarmId);
    if (!byEntity) {
      byEntity = new Map();
      raised.set(alarm.alarmId, byEntity);
    }
    if (!byEntity.has(alarm.entityInstanceId)) byEntity.set(alarm.entityInstanceId, Date.now());
  }
}
