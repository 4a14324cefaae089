// The two systems of the alarm benchmark, behind one shape: how to start them, how a raise looks
// (single and batched) and how to list the active alarms. Murmuration speaks HTTPS with a bearer
// token; Alertmanager plain HTTP without authentication.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Pool, request } from 'undici';
import { freePort, launch, type Running, stop } from './children.js';
import { login, pollReady } from './load.js';

// The API allows pages of up to 20,000 alarms (items are cached JSON); fetch 12,000 in one request.
const LIST_PAGE = 20_000;

import { type Endpoint, timedGet } from './post-load.js';

/** Which alarm a key is raised for: `list` (the listed set and the million) or `load` (the raise runs). */
export type KeySet = 'list' | 'load';

export interface AlarmSystem {
  name: 'murm' | 'alertmanager';
  running: Running;
  endpoint: Endpoint;
  singlePath: string;
  batchPath: string;
  okStatus: readonly number[];
  /** Body raising the alarm of host h-<key>. */
  single: (set: KeySet, key: number) => Buffer;
  /** Body raising the alarms of hosts h-<start> … h-<start+count-1>. */
  batch: (set: KeySet, start: number, count: number) => Buffer;
  /** Fetches every active alarm (all pages); `ms` is send-to-last-byte, `texts` the raw bodies. */
  listAll: (pool: Pool) => Promise<{ ms: number; texts: string[] }>;
  /** Counts the alarms in the bodies `listAll` returned (outside the timed region). */
  count: (texts: readonly string[]) => number;
}

const reason = (key: number): string => `CPU usage 92% on h-${key} crossed the major threshold (90%)`;

/** Murmuration alarm ids: 100.101 (CPU) for the listed set, 100.103 (memory) for the load set. */
const MURM_ID: Record<KeySet, string> = { list: '100.101', load: '100.103' };

function murmItem(set: KeySet, key: number): string {
  return JSON.stringify({
    alarmId: MURM_ID[set],
    entityInstanceId: `host=h-${key}`,
    severity: 'major',
    reasonText: reason(key),
  });
}

function range(start: number, count: number, item: (key: number) => string): string {
  const items: string[] = [];
  for (let k = start; k < start + count; k++) items.push(item(k));
  return items.join(',');
}

/** The `next` cursor of a page, found without parsing the whole body. */
function cursorOf(text: string): string | undefined {
  const at = text.lastIndexOf('"next":"');
  if (at < 0) return undefined;
  const from = at + '"next":"'.length;
  return text.slice(from, text.indexOf('"', from));
}

/** The CA only exists after the controller's first start: wait for it to appear. */
async function waitForCa(path: string, r: Running): Promise<string> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const failure = r.failure();
    if (failure !== undefined) throw new Error(failure);
    try {
      const pem = readFileSync(path, 'utf8');
      if (pem.includes('-----END CERTIFICATE-----')) return pem;
    } catch {
      // not written yet
    }
    await sleep(20);
  }
  throw new Error(`no CA at ${path} after 30 s`);
}

async function failWithOutput(r: Running, err: unknown): Promise<never> {
  await stop(r);
  const tail = r.output().trim();
  throw new Error(
    `${r.name} did not start: ${(err as Error).message}${tail ? `\n--- output ---\n${tail}` : ''}`,
  );
}

export async function startMurm(repoRoot: string, dataDir: string, password: string): Promise<AlarmSystem> {
  const port = await freePort();
  const origin = `https://127.0.0.1:${port}`;
  const args = ['bin/murm.js', 'serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`];
  const env = { ...process.env, MURM_ADMIN_PASSWORD: password, MURM_EVENT_LOG_MAX: '5000000' };
  const running = launch('murm', process.execPath, [...args, '--log-level', 'warn'], { cwd: repoRoot, env });
  let endpoint: Endpoint;
  try {
    const ca = await waitForCa(join(dataDir, 'pki', 'ca.crt'), running);
    await pollReady(origin, ca, { intervalMs: 20, timeoutMs: 30_000, failed: running.failure });
    const token = await login(origin, ca, 'admin', password);
    endpoint = { origin, ca, headers: { authorization: `Bearer ${token}` } };
  } catch (err) {
    return failWithOutput(running, err);
  }
  return {
    name: 'murm',
    running,
    endpoint,
    singlePath: '/v1/alarms',
    batchPath: '/v1/alarms:batch',
    okStatus: [200, 201],
    single: (set, key) => Buffer.from(murmItem(set, key)),
    batch: (set, start, count) => Buffer.from(`{"raise":[${range(start, count, (k) => murmItem(set, k))}]}`),
    listAll: async (pool) => {
      const texts: string[] = [];
      const t0 = performance.now();
      let next: string | undefined;
      do {
        const query = next === undefined ? '' : `&next=${encodeURIComponent(next)}`;
        const res = await timedGet(pool, endpoint, `/v1/alarms?limit=${LIST_PAGE}${query}`);
        if (res.status !== 200)
          throw new Error(`GET /v1/alarms: HTTP ${res.status} ${res.text.slice(0, 300)}`);
        texts.push(res.text);
        next = cursorOf(res.text);
      } while (next !== undefined && texts.length < 100);
      return { ms: performance.now() - t0, texts };
    },
    count: (texts) => texts.reduce((n, t) => n + (JSON.parse(t) as { items: unknown[] }).items.length, 0),
  };
}

/** Alertmanager alert names, matching the Murmuration alarm ids above. */
const AM_NAME: Record<KeySet, string> = { list: 'HostCpuHigh', load: 'HostMemoryHigh' };

function amItem(set: KeySet, key: number, startsAt: string): string {
  return JSON.stringify({
    labels: { alertname: AM_NAME[set], instance: `h-${key}`, severity: 'major' },
    annotations: { summary: reason(key) },
    startsAt,
  });
}

const AM_CONFIG = `route:
  receiver: 'null'
receivers:
  - name: 'null'
`;

export async function startAlertmanager(binary: string, dir: string): Promise<AlarmSystem> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'alertmanager.yml'), AM_CONFIG);
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const args = [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ];
  const running = launch('alertmanager', binary, args, { cwd: dir, env: process.env });
  try {
    const deadline = performance.now() + 30_000;
    for (;;) {
      const failure = running.failure();
      if (failure !== undefined) throw new Error(failure);
      try {
        const res = await request(`${origin}/-/ready`);
        await res.body.dump();
        if (res.statusCode === 200) break;
      } catch {
        // not listening yet
      }
      if (performance.now() > deadline) throw new Error('/-/ready not 200 after 30 s');
      await sleep(20);
    }
  } catch (err) {
    return failWithOutput(running, err);
  }
  const endpoint: Endpoint = { origin, headers: {} };
  return {
    name: 'alertmanager',
    running,
    endpoint,
    singlePath: '/api/v2/alerts',
    batchPath: '/api/v2/alerts',
    okStatus: [200],
    single: (set, key) => Buffer.from(`[${amItem(set, key, new Date().toISOString())}]`),
    batch: (set, start, count) => {
      const startsAt = new Date().toISOString();
      return Buffer.from(`[${range(start, count, (k) => amItem(set, k, startsAt))}]`);
    },
    listAll: async (pool) => {
      const res = await timedGet(pool, endpoint, '/api/v2/alerts');
      if (res.status !== 200)
        throw new Error(`GET /api/v2/alerts: HTTP ${res.status} ${res.text.slice(0, 300)}`);
      return { ms: res.ms, texts: [res.text] };
    },
    count: (texts) => texts.reduce((n, t) => n + (JSON.parse(t) as unknown[]).length, 0),
  };
}
