// Distributed-cloud benchmark: one system controller (from the bundle; SQLite, then PostgreSQL) and
// `murm sim` holding N simulated subclouds on real mutual-TLS uplinks. Prints the time until all N are
// online, the controller's RSS and CPU (and the simulator's CPU) in a steady state with 50 alarm
// changes/s, alarm change → alarm summary, list/summary latency, and 1,000 cut uplinks → 280.001.
//
//   npm run bench:dc                     BENCH_SUBCLOUDS=1000 npm run bench:dc
//   BENCH_BACKENDS=sqlite                BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
//   BENCH_STEADY_SECONDS=30              BENCH_ONLINE_SECONDS=900 (cap for the enroll + connect phase)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { killAll, stop } from './lib/children.js';
import {
  alarmToSummary,
  cutToOfflineAlarm,
  getLatency,
  type Latency,
  type Steady,
  steadyState,
  untilTotal,
} from './lib/dc-measure.js';
import { type Controller, startController, startSimProcess } from './lib/dc-processes.js';
import { loopbackPool } from './lib/post-load.js';

const SUBCLOUDS = Number(process.env.BENCH_SUBCLOUDS ?? '10000');
// One process may hold at most 20,000 open files: past 10,000 uplinks the controller terminates them in workers.
const UPLINK_WORKERS = Number(process.env.BENCH_UPLINK_WORKERS ?? (SUBCLOUDS > 10_000 ? '2' : '0'));
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',').map((b) => b.trim());
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? '30');
const ONLINE_SECONDS = Number(process.env.BENCH_ONLINE_SECONDS ?? String(Math.max(300, SUBCLOUDS / 10)));
const ALARM_RATE = 50;
const CUT = Math.min(1_000, SUBCLOUDS);
const CUT_CAP_SECONDS = 60;
const TARGETS = { online: 20_000, rssMiB: 1536, offlineP99Ms: 10_000, apiP99Ms: 200 };

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const tmpRoot = mkdtempSync(join(tmpdir(), 'murm-bench-dc-'));
const password = `${randomBytes(18).toString('base64url')}-Aa1`;
const log = (msg: string): void => console.error(msg);

interface Figures {
  backend: string;
  onlineSeconds?: number;
  online: number;
  managedSeconds?: number;
  steady?: Steady;
  alarmToSummary?: Latency & { missed: number };
  list?: Latency;
  summary?: Latency;
  cut?: Latency & { cut: number; missed: number };
  error?: string;
}

async function withDatabase<T>(backend: string, run: (url: string | undefined) => Promise<T>): Promise<T> {
  if (backend === 'sqlite') return run(undefined);
  const name = `murm_bench_dc_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  try {
    return await run(url.toString());
  } finally {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  }
}

async function measure(backend: string, database: string | undefined): Promise<Figures> {
  const dataDir = join(tmpRoot, backend);
  const controller: Controller = await startController({
    repoRoot,
    dataDir,
    password,
    uplinkWorkers: UPLINK_WORKERS,
    ...(database === undefined ? {} : { database }),
  });
  const figures: Figures = { backend, online: 0 };
  const sim = startSimProcess({
    repoRoot,
    controller,
    args: [
      '--subclouds',
      String(SUBCLOUDS),
      '--prefix',
      'bench',
      '--manage',
      '--alarm-rate',
      String(ALARM_RATE),
      '--cache-dir',
      join(tmpRoot, `sim-cache-${backend}`),
      ...(SUBCLOUDS > 15_000 ? ['--source-ip-range', '127.0.0.2-127.0.0.250'] : []),
    ],
  });
  const pool = loopbackPool(controller.endpoint, 2);
  try {
    log(`[${backend}] ${SUBCLOUDS} subclouds: enrolling and connecting (cap ${ONLINE_SECONDS} s)`);
    const common = { pool, controller, target: SUBCLOUDS, sim };
    const online = await untilTotal({
      ...common,
      query: 'availability=online',
      capSeconds: ONLINE_SECONDS,
      label: 'online',
    });
    figures.online = online.reached;
    if (online.seconds !== undefined) figures.onlineSeconds = online.seconds;
    const managed = await untilTotal({
      ...common,
      query: 'management=managed',
      capSeconds: 300,
      label: 'managed',
    });
    // Managed time counts from the sim start, so only when the online phase finished in time.
    if (managed.seconds !== undefined && online.seconds !== undefined) {
      figures.managedSeconds = online.seconds + managed.seconds;
    }
    log(`[${backend}] steady state ${STEADY_SECONDS} s with ${ALARM_RATE} alarm changes/s`);
    figures.steady = await steadyState(controller, sim, STEADY_SECONDS);
    log(`[${backend}] alarm change → alarm summary, 10 rounds of 20`);
    const names = Array.from({ length: SUBCLOUDS }, (_, i) => `bench-${String(i).padStart(5, '0')}`);
    figures.alarmToSummary = await alarmToSummary({ pool, controller, sim, names, rounds: 10, perRound: 20 });
    log(`[${backend}] list and summary latency`);
    figures.list = await getLatency(pool, controller, '/v1/subclouds?limit=100', 100);
    figures.summary = await getLatency(pool, controller, '/v1/dc/alarm-summary', 50);
    log(`[${backend}] cutting ${CUT} uplinks at once`);
    figures.cut = await cutToOfflineAlarm({ controller, sim, count: CUT, capSeconds: CUT_CAP_SECONDS });
  } catch (err) {
    figures.error = `${(err as Error).message}\n--- sim ---\n${sim.progress()}\n--- controller ---\n${controller.running.output()}`;
  } finally {
    await pool.destroy();
    await sim.stop();
    await stop(controller.running);
  }
  return figures;
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits);
const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'n/a ' : ok ? 'PASS' : 'FAIL');

function print(all: readonly Figures[]): void {
  console.log(
    `\nDistributed cloud: ${SUBCLOUDS} simulated subclouds (murm sim, mutual-TLS uplinks), one controller${
      UPLINK_WORKERS > 0
        ? ` with ${UPLINK_WORKERS} uplink worker processes (RSS and CPU include them)`
        : ' process'
    }`,
  );
  console.log(
    `machine: ${loadavg()[0]?.toFixed(2)} load at end; steady state ${STEADY_SECONDS} s with ${ALARM_RATE} alarm changes/s\n`,
  );
  for (const f of all) {
    const s = f.steady;
    const lines: [string, string, boolean | undefined][] = [
      [
        'all online',
        `${f.online}/${SUBCLOUDS} in ${fmt(f.onlineSeconds, 1)} s (managed after ${fmt(f.managedSeconds, 1)} s)`,
        f.online >= TARGETS.online ? true : f.online === SUBCLOUDS ? undefined : false,
      ],
      [
        'controller RSS',
        `${fmt(s?.controllerRssMiB)} MiB (peak ${fmt(s?.controllerPeakRssMiB)} MiB)`,
        s && s.controllerRssMiB <= TARGETS.rssMiB,
      ],
      ['controller CPU', `${fmt(s?.controllerCpuPct)} %`, undefined],
      [
        'simulator CPU, RSS',
        `${fmt(s?.simCpuPct)} %, ${fmt(s?.simRssMiB)} MiB over ${s?.simProcesses ?? 0} processes`,
        undefined,
      ],
      [
        'alarm change → summary',
        `p50 ${fmt(f.alarmToSummary?.p50Ms)} ms, p99 ${fmt(f.alarmToSummary?.p99Ms)} ms (${f.alarmToSummary?.samples ?? 0} samples, ${f.alarmToSummary?.missed ?? 0} missed)`,
        undefined,
      ],
      [
        'GET /v1/subclouds?limit=100',
        `p50 ${fmt(f.list?.p50Ms, 1)} ms, p99 ${fmt(f.list?.p99Ms, 1)} ms`,
        f.list && f.list.p99Ms <= TARGETS.apiP99Ms,
      ],
      [
        'GET /v1/dc/alarm-summary',
        `p50 ${fmt(f.summary?.p50Ms, 1)} ms, p99 ${fmt(f.summary?.p99Ms, 1)} ms`,
        f.summary && f.summary.p99Ms <= TARGETS.apiP99Ms,
      ],
      [
        `cut ${f.cut?.cut ?? CUT} uplinks → 280.001`,
        `p50 ${fmt(f.cut?.p50Ms)} ms, p99 ${fmt(f.cut?.p99Ms)} ms (${f.cut?.missed ?? 'n/a'} not raised in ${CUT_CAP_SECONDS} s)`,
        f.cut && f.cut.missed === 0 && f.cut.p99Ms <= TARGETS.offlineP99Ms,
      ],
    ];
    console.log(`[${f.backend}]`);
    for (const [name, value, ok] of lines) console.log(`  ${verdict(ok)}  ${name.padEnd(30)} ${value}`);
    if (f.error) console.log(`  ERROR ${f.error.slice(0, 3000)}`);
  }
  console.log(
    `\ntargets: ${TARGETS.online} online (n/a below that N), RSS ≤ ${TARGETS.rssMiB} MiB, offline → 280.001 p99 ≤ ${TARGETS.offlineP99Ms / 1000} s, list/summary p99 ≤ ${TARGETS.apiP99Ms} ms`,
  );
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

try {
  if (!Number.isInteger(SUBCLOUDS) || SUBCLOUDS < 1)
    throw new Error('BENCH_SUBCLOUDS must be a whole number ≥ 1');
  const all: Figures[] = [];
  for (const backend of BACKENDS) {
    if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`unknown backend "${backend}"`);
    all.push(await withDatabase(backend, (url) => measure(backend, url)));
  }
  print(all);
  if (all.some((f) => f.error !== undefined)) process.exitCode = 1;
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  cleanup();
}
