// API benchmark: cold start, idle RSS and authenticated whoami throughput of the site controller
// (`node bin/murm.js serve`) compared with a bare Fastify + better-sqlite3 peer (bench/peer-bare.mjs).
//
//   npm run bench:api                     BENCH_SECONDS=5 npm run bench:api
//   BENCH_TARGETS=peer BENCH_PKI_DIR=DIR  (peer only, with DIR/{ca.crt,server.crt,server.key})
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type LoadResult, login, pollReady, runLoad } from './lib/load.js';

const BENCH_SECONDS = Number(process.env.BENCH_SECONDS ?? '10');
const TARGETS = (process.env.BENCH_TARGETS ?? 'murm,peer').split(',').map((t) => t.trim());
const CONNECTIONS = 16;
const WARMUP_MS = 2_000;
const COLD_RUNS = 5;
const TARGET_RSS_MB = 80;
const TARGET_COLD_MS = 600;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const tmpRoot = mkdtempSync(join(tmpdir(), 'murm-bench-'));
const password = `${randomBytes(18).toString('base64url')}-Aa1`; // meets the password policy
const live = new Set<ChildProcess>();

interface Target {
  name: string;
  args: (port: number) => string[];
}

interface Running {
  child: ChildProcess;
  origin: string;
  exited: Promise<void>;
  /** Set once the process has exited (or failed to spawn). */
  failure: () => string | undefined;
  /** Tail of the process's stdout + stderr. */
  output: () => string;
}

interface Figures {
  coldStartMs: { median: number; runs: number[] };
  idleRssMb: number;
  whoami: LoadResult;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function launch(target: Target): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, target.args(port), {
    cwd: repoRoot,
    env: { ...process.env, MURM_ADMIN_PASSWORD: password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let failure: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      failure = `${target.name}: spawn failed: ${err.message}`;
      live.delete(child);
      resolve();
    });
    child.once('exit', (code, signal) => {
      failure = `${target.name} exited (code ${code}, signal ${signal})`;
      live.delete(child);
      resolve();
    });
  });
  const origin = `https://127.0.0.1:${port}`;
  return { child, origin, exited, failure: () => failure, output: () => output };
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    console.error(`warning: pid ${r.child.pid} ignored SIGTERM for 10 s, killing it`);
    r.child.kill('SIGKILL');
  }, 10_000);
  await r.exited;
  clearTimeout(timer);
}

/** The controller's PKI (shared with the peer); BENCH_PKI_DIR overrides it for peer-only runs. */
function pkiDir(): string {
  return process.env.BENCH_PKI_DIR ?? join(tmpRoot, 'murm-data', 'pki');
}

let caPem: string | undefined;
const caPath = (): string => join(pkiDir(), 'ca.crt');

/** The CA only exists after the controller's first start: wait for it to appear. */
async function waitForCa(r: Running): Promise<string> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const failure = r.failure();
    if (failure !== undefined) throw new Error(failure);
    try {
      const pem = readFileSync(caPath(), 'utf8');
      if (pem.includes('-----END CERTIFICATE-----')) return pem;
    } catch {
      // not written yet
    }
    await sleep(5);
  }
  throw new Error(`no CA at ${caPath()} after 30 s`);
}

/** Spawns the target and waits for GET /readyz = 200; returns the process and spawn-to-ready time. */
async function startReady(target: Target): Promise<{ r: Running; ms: number }> {
  const t0 = performance.now();
  const r = await launch(target);
  try {
    caPem ??= await waitForCa(r);
    const readyAt = await pollReady(r.origin, caPem, { intervalMs: 5, timeoutMs: 30_000, failed: r.failure });
    return { r, ms: readyAt - t0 };
  } catch (err) {
    await stop(r);
    const output = r.output().trim();
    const tail = output ? `\n--- ${target.name} output (tail) ---\n${output}` : '';
    throw new Error(`${target.name} did not become ready: ${(err as Error).message}${tail}`);
  }
}

function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function measure(target: Target): Promise<Figures> {
  console.error(`[${target.name}] warm-up start`);
  await stop((await startReady(target)).r);

  const runs: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    const { r, ms } = await startReady(target);
    runs.push(ms);
    await stop(r);
  }
  console.error(`[${target.name}] cold starts: ${runs.map((ms) => ms.toFixed(0)).join(', ')} ms`);

  const { r } = await startReady(target);
  try {
    await sleep(1_000);
    const idleRssMb = rssMb(r.child.pid);
    const ca = caPem ?? '';
    const token = await login(r.origin, ca, 'admin', password);
    console.error(
      `[${target.name}] load: ${CONNECTIONS} connections, ${WARMUP_MS / 1000} s + ${BENCH_SECONDS} s`,
    );
    const whoami = await runLoad({
      origin: r.origin,
      path: '/v1/auth/whoami',
      headers: { authorization: `Bearer ${token}` },
      ca,
      connections: CONNECTIONS,
      warmupMs: WARMUP_MS,
      durationMs: BENCH_SECONDS * 1000,
    });
    return { coldStartMs: { median: median(runs), runs }, idleRssMb, whoami };
  } finally {
    await stop(r);
  }
}

const murmDataDir = join(tmpRoot, 'murm-data');
const peerDataDir = join(tmpRoot, 'peer-data');

const murmFlags = ['--data-dir', murmDataDir, '--log-level', 'warn'];
const murm: Target = {
  name: 'murm',
  args: (port) => ['bin/murm.js', 'serve', ...murmFlags, '--listen', `127.0.0.1:${port}`],
};

const peer: Target = {
  name: 'peer',
  args: (port) => {
    mkdirSync(peerDataDir, { recursive: true });
    const pki = pkiDir();
    const tls = ['--cert', join(pki, 'server.crt'), '--key', join(pki, 'server.key')];
    return ['bench/peer-bare.mjs', '--listen', `127.0.0.1:${port}`, ...tls, '--data-dir', peerDataDir];
  },
};

function report(results: Record<string, Figures | undefined>): void {
  const m = results.murm;
  const p = results.peer;
  const fmt = (x: number | undefined, digits = 1): string =>
    x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits);
  const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : a / b;
  const verdict = (x: number | undefined, max: number): string =>
    x === undefined ? '' : x <= max ? 'PASS' : 'FAIL';
  /** One table row; `pick` extracts the figure, `withRatio` adds murm/peer. */
  const row = (
    label: string,
    pick: (f: Figures) => number,
    digits: number,
    withRatio: boolean,
    target = '',
  ) => {
    const a = m && pick(m);
    const b = p && pick(p);
    return [label, fmt(a, digits), fmt(b, digits), withRatio ? fmt(ratio(a, b), 2) : '', target];
  };
  const coldTarget = `<= ${TARGET_COLD_MS} ms ${verdict(m?.coldStartMs.median, TARGET_COLD_MS)}`;
  const rssTarget = `<= ${TARGET_RSS_MB} MB ${verdict(m?.idleRssMb, TARGET_RSS_MB)}`;
  const rows: string[][] = [
    ['metric', 'murm', 'peer', 'murm/peer', 'target'],
    row('cold start median (ms)', (f) => f.coldStartMs.median, 1, true, coldTarget),
    row('idle RSS (MB)', (f) => f.idleRssMb, 1, true, rssTarget),
    row('whoami req/s', (f) => f.whoami.rps, 0, true),
    row('whoami p50 (ms)', (f) => f.whoami.p50Ms, 2, false),
    row('whoami p99 (ms)', (f) => f.whoami.p99Ms, 2, true),
    row('whoami errors (non-200)', (f) => f.whoami.errors, 0, false),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  console.log(
    `\nMurmuration API benchmark — Node ${process.version}, ${CONNECTIONS} keep-alive connections, ` +
      `${WARMUP_MS / 1000} s warm-up + ${BENCH_SECONDS} s\n`,
  );
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  '));
  for (const [name, f] of Object.entries(results)) {
    if (f) console.log(`${name} cold starts (ms): ${f.coldStartMs.runs.map((x) => x.toFixed(1)).join(', ')}`);
  }
  console.log('peer = bench/peer-bare.mjs: Fastify 5 + HTTPS + better-sqlite3 (WAL) + pino, plain node\n');
  const result = {
    node: process.version,
    benchSeconds: BENCH_SECONDS,
    connections: CONNECTIONS,
    targets: { idleRssMb: TARGET_RSS_MB, coldStartMs: TARGET_COLD_MS },
    ...results,
    ratios: {
      coldStart: ratio(m?.coldStartMs.median, p?.coldStartMs.median) ?? null,
      idleRss: ratio(m?.idleRssMb, p?.idleRssMb) ?? null,
      rps: ratio(m?.whoami.rps, p?.whoami.rps) ?? null,
      p99: ratio(m?.whoami.p99Ms, p?.whoami.p99Ms) ?? null,
    },
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

function cleanup(): void {
  for (const child of live) child.kill('SIGKILL');
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
  if (TARGETS.includes('murm') && process.env.BENCH_PKI_DIR)
    throw new Error('BENCH_PKI_DIR is for BENCH_TARGETS=peer only');
  const results: Record<string, Figures | undefined> = {};
  if (TARGETS.includes('murm')) results.murm = await measure(murm);
  if (TARGETS.includes('peer')) results.peer = await measure(peer);
  report(results);
}

try {
  await main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  cleanup();
}
