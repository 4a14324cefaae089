// Alarm benchmark: Murmuration's fault API side by side with Prometheus Alertmanager 0.25 on this
// machine — single raises, batched raises (50 and 500), listing 12,000 active alarms, and the RSS of
// Murmuration holding 1,000,000 active alarms. Installs nothing: Alertmanager is used when present.
//
//   npm run bench:alarms           BENCH_SECONDS=3 BENCH_MILLION=0 npm run bench:alarms
//   BENCH_TARGETS=alertmanager     (one system only)   BENCH_MILLION_SECONDS=900 (fill time limit)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'undici';
import { type Figures, type Million, printReport, type Stats } from './lib/alarm-report.js';
import { type AlarmSystem, type KeySet, startAlertmanager, startMurm } from './lib/alarm-systems.js';
import { cpuSeconds, findExecutable, killAll, procMiB, stop } from './lib/children.js';
import { fill, loopbackPool, percentile, runPostLoad, timedGet } from './lib/post-load.js';

const BENCH_SECONDS = Number(process.env.BENCH_SECONDS ?? '5');
const MILLION = process.env.BENCH_MILLION !== '0';
const MILLION_SECONDS = Number(process.env.BENCH_MILLION_SECONDS ?? '900');
const TARGETS = (process.env.BENCH_TARGETS ?? 'murm,alertmanager').split(',').map((t) => t.trim());
const CONNECTIONS = 16;
const WARMUP_MS = 1_000;
const LIST_ALARMS = 12_000;
const LOAD_KEYS = 20_000;
const LIST_REPS = 20;
const MILLION_ALARMS = 1_000_000;
const MILLION_BATCH = 1_000;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const tmpRoot = mkdtempSync(join(tmpdir(), 'murm-bench-alarms-'));
const password = `${randomBytes(18).toString('base64url')}-Aa1`; // meets the password policy
const log = (msg: string): void => console.error(msg);
const loadAtStart = loadavg()[0] ?? 0;

function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { medianMs: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

/** Runs `once` twice to warm up, then `reps` times; returns the timings of the measured runs. */
async function repeat(reps: number, once: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < 2; i++) await once();
  const out: number[] = [];
  for (let i = 0; i < reps; i++) out.push(await once());
  return out;
}

/** Raises hosts h-0 … h-<total-1> of `set` in batches; throws unless every request succeeded. */
async function raiseKeys(sys: AlarmSystem, set: KeySet, total: number, batch: number): Promise<void> {
  const r = await fill({
    endpoint: sys.endpoint,
    path: sys.batchPath,
    okStatus: sys.okStatus,
    connections: CONNECTIONS,
    requests: Math.ceil(total / batch),
    body: (i) => sys.batch(set, i * batch, Math.min(batch, total - i * batch)),
    timeoutMs: 120_000,
  });
  if (r.done * batch < total) {
    throw new Error(`${sys.name}: raising ${total} alarms failed after ${r.done} requests: ${r.firstError}`);
  }
}

async function getMs(sys: AlarmSystem, pool: Pool, path: string): Promise<number> {
  const res = await timedGet(pool, sys.endpoint, path);
  if (res.status !== 200)
    throw new Error(`${sys.name} GET ${path}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  return res.ms;
}

async function measure(sys: AlarmSystem): Promise<Figures> {
  log(`[${sys.name}] raising ${LIST_ALARMS} alarms to list`);
  await raiseKeys(sys, 'list', LIST_ALARMS, 500);
  const pool = loopbackPool(sys.endpoint, 1);
  let listAll: Figures['listAll'];
  let listPage: Stats | undefined;
  let summary: Stats | undefined;
  try {
    let last: string[] = [];
    const all = await repeat(LIST_REPS, async () => {
      const r = await sys.listAll(pool);
      last = r.texts;
      return r.ms;
    });
    listAll = { ...stats(all), count: sys.count(last), requests: last.length };
    if (listAll.count !== LIST_ALARMS) log(`[${sys.name}] WARNING: listed ${listAll.count} alarms`);
    if (sys.name === 'murm') {
      listPage = stats(await repeat(LIST_REPS, () => getMs(sys, pool, '/v1/alarms?limit=1000')));
      summary = stats(await repeat(LIST_REPS, () => getMs(sys, pool, '/v1/alarms/summary')));
    }
  } finally {
    await pool.destroy();
  }
  log(`[${sys.name}] raising the ${LOAD_KEYS} alarms the raise runs update`);
  await raiseKeys(sys, 'load', LOAD_KEYS, 500);
  const run = async (label: string, itemsPerRequest: number, bodies: Buffer[]) => {
    log(`[${sys.name}] ${label}: ${CONNECTIONS} connections, ${WARMUP_MS / 1000} s + ${BENCH_SECONDS} s`);
    const cpu0 = cpuSeconds(sys.running.child.pid);
    const t0 = performance.now();
    const r = await runPostLoad({
      endpoint: sys.endpoint,
      path: itemsPerRequest === 1 ? sys.singlePath : sys.batchPath,
      okStatus: sys.okStatus,
      bodies,
      itemsPerRequest,
      connections: CONNECTIONS,
      warmupMs: WARMUP_MS,
      durationMs: BENCH_SECONDS * 1000,
    });
    const serverCores = (cpuSeconds(sys.running.child.pid) - cpu0) / ((performance.now() - t0) / 1000);
    if (r.firstError !== undefined) log(`[${sys.name}] ${label}: first error: ${r.firstError}`);
    return { ...r, serverCores };
  };
  const batches = (size: number) =>
    Array.from({ length: LOAD_KEYS / size }, (_, i) => sys.batch('load', i * size, size));
  const single = await run(
    'single raises',
    1,
    Array.from({ length: LOAD_KEYS }, (_, k) => sys.single('load', k)),
  );
  const batch50 = await run('batches of 50', 50, batches(50));
  const batch500 = await run('batches of 500', 500, batches(500));
  const rssMiB = procMiB(sys.running.child.pid, 'VmRSS');
  return {
    single,
    batch50,
    batch500,
    listAll,
    ...(listPage === undefined ? {} : { listPage }),
    ...(summary === undefined ? {} : { summary }),
    rssMiB,
  };
}

async function million(): Promise<Million> {
  const sys = await startMurm(repoRoot, join(tmpRoot, 'murm-million'), password);
  try {
    const pid = sys.running.child.pid;
    await sleep(500);
    const idleRssMiB = procMiB(pid, 'VmRSS');
    log(
      `[murm] filling ${MILLION_ALARMS} alarms in batches of ${MILLION_BATCH} (limit ${MILLION_SECONDS} s)`,
    );
    const t0 = performance.now();
    const r = await fill({
      endpoint: sys.endpoint,
      path: sys.batchPath,
      okStatus: sys.okStatus,
      connections: CONNECTIONS,
      requests: MILLION_ALARMS / MILLION_BATCH,
      body: (i) => sys.batch('list', i * MILLION_BATCH, MILLION_BATCH),
      timeoutMs: MILLION_SECONDS * 1000,
      onDone: (done) => {
        const alarms = done * MILLION_BATCH;
        if (alarms % 100_000 !== 0) return;
        const s = ((performance.now() - t0) / 1000).toFixed(1);
        log(`[murm]   ${alarms} alarms, ${s} s, RSS ${procMiB(pid, 'VmRSS').toFixed(0)} MiB`);
      },
    });
    if (r.firstError !== undefined) log(`[murm] fill: first error: ${r.firstError}`);
    await sleep(5_000); // let the heap settle after the fill
    const rssMiB = procMiB(pid, 'VmRSS');
    const peakRssMiB = procMiB(pid, 'VmHWM');
    const pool = loopbackPool(sys.endpoint, 1);
    let firstPage: number[];
    let summary: number[];
    let activeMajor: number | undefined;
    try {
      firstPage = await repeat(3, () => getMs(sys, pool, '/v1/alarms?limit=1000'));
      summary = await repeat(3, () => getMs(sys, pool, '/v1/alarms/summary'));
      const body = await timedGet(pool, sys.endpoint, '/v1/alarms/summary');
      activeMajor = (JSON.parse(body.text) as { major?: number }).major;
    } finally {
      await pool.destroy();
    }
    const alarms = r.done * MILLION_BATCH;
    return {
      alarms,
      ...(activeMajor === undefined ? {} : { activeMajor }),
      fillSeconds: r.ms / 1000,
      alarmsPerSec: alarms / (r.ms / 1000),
      errors: r.errors,
      timedOut: r.timedOut,
      idleRssMiB,
      rssMiB,
      peakRssMiB,
      firstPage: stats(firstPage),
      summary: stats(summary),
    };
  } finally {
    await stop(sys.running);
  }
}

function cleanup(): void {
  killAll();
  rmSync(tmpRoot, { recursive: true, force: true });
}

process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

async function main(): Promise<void> {
  if (!Number.isFinite(BENCH_SECONDS) || BENCH_SECONDS <= 0) throw new Error('BENCH_SECONDS must be > 0');
  if (!Number.isFinite(MILLION_SECONDS) || MILLION_SECONDS <= 0) {
    throw new Error('BENCH_MILLION_SECONDS must be > 0');
  }
  const amBinary = findExecutable(['alertmanager'], ['/usr/bin/prometheus-alertmanager']);
  let amVersion: string | undefined;
  if (TARGETS.includes('alertmanager')) {
    if (amBinary === undefined) {
      console.log('alertmanager: not found (PATH, /usr/bin/prometheus-alertmanager) — measuring murm only.');
      console.log('  To compare, install it, e.g. apt-get install prometheus-alertmanager (Debian).');
    } else {
      amVersion = execFileSync(amBinary, ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim();
      log(`[alertmanager] ${amBinary}: ${amVersion}`);
    }
  }
  const results: { murm?: Figures; alertmanager?: Figures; million?: Million } = {};
  if (TARGETS.includes('murm')) {
    const sys = await startMurm(repoRoot, join(tmpRoot, 'murm'), password);
    try {
      results.murm = await measure(sys);
    } finally {
      await stop(sys.running);
    }
  }
  if (TARGETS.includes('alertmanager') && amBinary !== undefined) {
    const sys = await startAlertmanager(amBinary, join(tmpRoot, 'alertmanager'));
    try {
      results.alertmanager = await measure(sys);
    } finally {
      await stop(sys.running);
    }
  }
  if (TARGETS.includes('murm') && MILLION) results.million = await million();
  printReport({
    ...results,
    ...(amVersion === undefined ? {} : { amVersion }),
    benchSeconds: BENCH_SECONDS,
    connections: CONNECTIONS,
    warmupMs: WARMUP_MS,
    listAlarms: LIST_ALARMS,
    loadKeys: LOAD_KEYS,
    listReps: LIST_REPS,
    loadAtStart,
  });
}

try {
  await main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  cleanup();
}
