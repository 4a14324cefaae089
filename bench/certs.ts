// Certificate benchmark: 100,000 real certificates in 10,000 directories (generated once, cached in
// ${XDG_CACHE_HOME:-~/.cache}/murm-bench/certs-100k/), watched as ONE path source. Measures the full
// evaluation (expand the tree, parse every certificate, evaluate expiry, raise alarms 500.200/500.210
// through the fault service) cold — the POST that adds the source — and warm (three audits), the
// server's RSS growth, the expiring-certificates listing and the alarm counts. Targets: cold full
// evaluation ≤ 5 s, RSS growth ≤ 200 MB.
//
//   npm run bench:certs            BENCH_CERTS=10000 (a smaller corpus, cached separately)
//   BENCH_TIMEOUT_SECONDS=600 (per request)   BENCH_MAX_SECONDS=1800 (whole run)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startMurm } from './lib/alarm-systems.js';
import { type Corpus, EXPIRING_WINDOW_SECONDS, ensureCorpus, expectedStates } from './lib/cert-corpus.js';
import { cpuSeconds, killAll, procMiB, type Running, stop } from './lib/children.js';
import type { Endpoint } from './lib/post-load.js';

const CERTS = Number(process.env.BENCH_CERTS ?? '100000');
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_SECONDS ?? '600') * 1000;
const MAX_MS = Number(process.env.BENCH_MAX_SECONDS ?? '1800') * 1000;
const AUDITS = 3;
const LIST_REPS = 5;
const ALARM_PAGE = 20_000;
const TARGET = { evaluationSeconds: 5, rssGrowthMB: 200 };
const MB_PER_MIB = 1.048576;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const tmpRoot = mkdtempSync(join(tmpdir(), 'murm-bench-certs-'));
const password = `${randomBytes(18).toString('base64url')}-Aa1`; // meets the password policy
const log = (msg: string): void => console.error(msg);
const loadAtStart = loadavg()[0] ?? 0;

interface Reply {
  status: number;
  text: string;
  ms: number;
}

/** One keep-alive connection to the loopback server whose timeouts allow minutes-long requests. */
function longPool(endpoint: Endpoint): Pool {
  const { hostname } = new URL(endpoint.origin);
  if (hostname !== '127.0.0.1') throw new Error(`refusing to target ${hostname}: only 127.0.0.1 is allowed`);
  return new Pool(endpoint.origin, {
    connections: 1,
    pipelining: 1,
    ...(endpoint.ca === undefined ? {} : { connect: { ca: endpoint.ca } }),
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
  });
}

async function call(pool: Pool, endpoint: Endpoint, method: 'GET' | 'POST', path: string, body?: unknown) {
  const headers: Record<string, string> = { ...endpoint.headers };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const t0 = performance.now();
  const res = await pool.request({
    path,
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, ms: performance.now() - t0 } satisfies Reply;
}

function expect(reply: Reply, status: number, what: string): void {
  if (reply.status === status) return;
  const hint = reply.status === 404 ? ' (does this build serve the certificate routes yet?)' : '';
  throw new Error(`${what}: HTTP ${reply.status}${hint} ${reply.text.slice(0, 500)}`);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1
    ? (s[mid] ?? Number.NaN)
    : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
};

interface SourceView {
  id: string;
  status: string;
  error: string | null;
  certificateCount: number;
}

interface AuditResult {
  sources: number;
  certificates: number;
  expiring: number;
  expired: number;
  errors: number;
}

/** Active alarms of `alarmId`, counted over every page. */
async function countAlarms(pool: Pool, endpoint: Endpoint, alarmId: string): Promise<number> {
  let count = 0;
  let next: string | undefined;
  for (let page = 0; page < 100; page++) {
    const query = next === undefined ? '' : `&next=${encodeURIComponent(next)}`;
    const r = await call(pool, endpoint, 'GET', `/v1/alarms?alarmId=${alarmId}&limit=${ALARM_PAGE}${query}`);
    expect(r, 200, `GET /v1/alarms?alarmId=${alarmId}`);
    const body = JSON.parse(r.text) as { items: unknown[]; next?: string };
    count += body.items.length;
    next = body.next;
    if (next === undefined) break;
  }
  return count;
}

interface Figures {
  source: SourceView;
  coldSeconds: number;
  /** Server CPU time (user + system) during the cold evaluation: below the wall time = waiting or contention. */
  coldCpuSeconds: number;
  auditSeconds: number[];
  audit: AuditResult;
  rssBeforeMiB: number;
  peakBeforeMiB: number;
  rssAfterMiB: number;
  peakAfterColdMiB: number;
  rssAfterAuditMiB: number;
  peakMiB: number;
  list: { medianMs: number; firstMs: number; items: number; hasNext: boolean };
  alarms: { expiring: number; expired: number };
  summary: unknown;
}

async function measure(corpus: Corpus, running: Running, endpoint: Endpoint): Promise<Figures> {
  const pid = running.child.pid;
  const pool = longPool(endpoint);
  try {
    await sleep(1_000); // idle
    const rssBeforeMiB = procMiB(pid, 'VmRSS');
    const peakBeforeMiB = procMiB(pid, 'VmHWM');
    log(`[murm] idle RSS ${rssBeforeMiB.toFixed(1)} MiB; adding ${corpus.root} (cold full evaluation)`);
    const cpu0 = cpuSeconds(pid);
    const cold = await call(pool, endpoint, 'POST', '/v1/certificate-sources', {
      kind: 'path',
      target: corpus.root,
    });
    expect(cold, 201, 'POST /v1/certificate-sources');
    const coldCpuSeconds = cpuSeconds(pid) - cpu0;
    const rssAfterMiB = procMiB(pid, 'VmRSS');
    const peakAfterColdMiB = procMiB(pid, 'VmHWM');
    const source = JSON.parse(cold.text) as SourceView;
    log(
      `[murm]   ${(cold.ms / 1000).toFixed(2)} s: ${source.certificateCount} certificates, status ${source.status}` +
        `${source.error === null ? '' : ` (${source.error})`}, RSS ${rssAfterMiB.toFixed(1)} MiB`,
    );
    const auditSeconds: number[] = [];
    let audit: AuditResult | undefined;
    for (let i = 0; i < AUDITS; i++) {
      const r = await call(pool, endpoint, 'POST', '/v1/certificate-sources:audit');
      expect(r, 200, 'POST /v1/certificate-sources:audit');
      audit = JSON.parse(r.text) as AuditResult;
      auditSeconds.push(r.ms / 1000);
      log(`[murm]   audit ${i + 1}: ${(r.ms / 1000).toFixed(2)} s ${r.text}`);
    }
    const rssAfterAuditMiB = procMiB(pid, 'VmRSS');
    const peakMiB = procMiB(pid, 'VmHWM');
    const listPath = `/v1/certificates?expiringWithin=${EXPIRING_WINDOW_SECONDS}&limit=1000`;
    const listMs: number[] = [];
    let items = 0;
    let hasNext = false;
    for (let i = 0; i < LIST_REPS; i++) {
      const r = await call(pool, endpoint, 'GET', listPath);
      expect(r, 200, `GET ${listPath}`);
      listMs.push(r.ms);
      const body = JSON.parse(r.text) as { items: unknown[]; next?: string };
      items = body.items.length;
      hasNext = body.next !== undefined;
    }
    const summaryReply = await call(pool, endpoint, 'GET', '/v1/alarms/summary');
    expect(summaryReply, 200, 'GET /v1/alarms/summary');
    const alarms = {
      expiring: await countAlarms(pool, endpoint, '500.200'),
      expired: await countAlarms(pool, endpoint, '500.210'),
    };
    if (audit === undefined) throw new Error('no audit ran');
    return {
      source,
      coldSeconds: cold.ms / 1000,
      coldCpuSeconds,
      auditSeconds,
      audit,
      rssBeforeMiB,
      peakBeforeMiB,
      rssAfterMiB,
      peakAfterColdMiB,
      rssAfterAuditMiB,
      peakMiB,
      list: { medianMs: median(listMs), firstMs: listMs[0] ?? Number.NaN, items, hasNext },
      alarms,
      summary: JSON.parse(summaryReply.text) as unknown,
    };
  } finally {
    await pool.destroy();
  }
}

const f = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');

function report(corpus: Corpus, fig: Figures, expected: ReturnType<typeof expectedStates>): void {
  const growthMiB = fig.rssAfterMiB - fig.rssBeforeMiB;
  const growthMB = growthMiB * MB_PER_MIB;
  const peakGrowthMiB = fig.peakMiB - fig.rssBeforeMiB;
  const auditMedian = median(fig.auditSeconds);
  const evaluationOk = fig.coldSeconds <= TARGET.evaluationSeconds;
  const rssOk = growthMB <= TARGET.rssGrowthMB;
  const rows: [string, string][] = [
    ['certificates (corpus / source)', `${corpus.certificates} / ${fig.source.certificateCount}`],
    ['directories', `${corpus.directories} (10 certificates each)`],
    ['source status', `${fig.source.status}${fig.source.error === null ? '' : ` — ${fig.source.error}`}`],
    [
      'cold full evaluation (s)',
      `${f(fig.coldSeconds, 2)}  (${f(corpus.certificates / fig.coldSeconds, 0)} certificates/s; server CPU ${f(fig.coldCpuSeconds, 2)} s)`,
    ],
    [
      `warm audit, median of ${AUDITS} (s)`,
      `${f(auditMedian, 2)}  [${fig.auditSeconds.map((s) => f(s, 2)).join(', ')}]`,
    ],
    ['RSS before (MiB)', f(fig.rssBeforeMiB)],
    ['RSS after evaluation (MiB)', f(fig.rssAfterMiB)],
    ['RSS growth (MiB / MB)', `${f(growthMiB)} / ${f(growthMB)}`],
    [
      'peak RSS, VmHWM (MiB)',
      `${f(fig.peakBeforeMiB)} before, ${f(fig.peakAfterColdMiB)} after evaluation (${f(fig.peakAfterColdMiB - fig.rssBeforeMiB)} above idle)`,
    ],
    [
      'RSS / peak after audits (MiB)',
      `${f(fig.rssAfterAuditMiB)} / ${f(fig.peakMiB)} (${f(peakGrowthMiB)} above idle)`,
    ],
    [
      'expiring: alarms 500.200 / audit / expected',
      `${fig.alarms.expiring} / ${fig.audit.expiring} / ${expected.expiring}`,
    ],
    [
      'expired:  alarms 500.210 / audit / expected',
      `${fig.alarms.expired} / ${fig.audit.expired} / ${expected.expired}`,
    ],
    [
      `GET /v1/certificates?expiringWithin=${EXPIRING_WINDOW_SECONDS}&limit=1000 (ms)`,
      `median ${f(fig.list.medianMs)}, first ${f(fig.list.firstMs)}; ${fig.list.items} items${fig.list.hasNext ? ' + next' : ''}`,
    ],
    ['alarm summary', JSON.stringify(fig.summary)],
    [
      `target: cold evaluation ≤ ${TARGET.evaluationSeconds} s`,
      `${verdict(evaluationOk)} (${f(fig.coldSeconds, 2)} s)`,
    ],
    [`target: RSS growth ≤ ${TARGET.rssGrowthMB} MB`, `${verdict(rssOk)} (${f(growthMB)} MB)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(
    `\nCertificate benchmark — node ${process.version}, ${cpus().length} CPUs, load ${f(loadAtStart, 2)} at start`,
  );
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  if (fig.alarms.expiring !== expected.expiring || fig.alarms.expired !== expected.expired) {
    console.log('  WARNING: the alarm counts differ from the corpus (expected counts use a 30-day window)');
  }
  const result = {
    certificates: corpus.certificates,
    sourceCertificates: fig.source.certificateCount,
    directories: corpus.directories,
    sourceStatus: fig.source.status,
    coldEvaluationSeconds: fig.coldSeconds,
    coldServerCpuSeconds: fig.coldCpuSeconds,
    auditSeconds: fig.auditSeconds,
    auditMedianSeconds: auditMedian,
    rssBeforeMiB: fig.rssBeforeMiB,
    rssAfterMiB: fig.rssAfterMiB,
    rssGrowthMiB: growthMiB,
    rssGrowthMB: growthMB,
    peakRssAfterEvaluationMiB: fig.peakAfterColdMiB,
    rssAfterAuditsMiB: fig.rssAfterAuditMiB,
    peakRssMiB: fig.peakMiB,
    alarms: { '500.200': fig.alarms.expiring, '500.210': fig.alarms.expired },
    audit: fig.audit,
    expected,
    listExpiring: fig.list,
    summary: fig.summary,
    targets: TARGET,
    pass: { evaluation: evaluationOk, rssGrowth: rssOk },
    ...(corpus.generatedSeconds === undefined ? {} : { corpusGeneratedSeconds: corpus.generatedSeconds }),
    node: process.version,
    cpus: cpus().length,
    loadAtStart,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
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
  if (!Number.isFinite(TIMEOUT_MS) || TIMEOUT_MS <= 0) throw new Error('BENCH_TIMEOUT_SECONDS must be > 0');
  if (!Number.isFinite(MAX_MS) || MAX_MS <= 0) throw new Error('BENCH_MAX_SECONDS must be > 0');
  const watchdog = setTimeout(() => {
    console.error(`bench:certs: still running after ${MAX_MS / 1000} s — giving up`);
    cleanup();
    process.exit(1);
  }, MAX_MS);
  watchdog.unref();
  const corpus = await ensureCorpus(CERTS, log);
  const sys = await startMurm(repoRoot, join(tmpRoot, 'murm'), password);
  let fig: Figures;
  try {
    fig = await measure(corpus, sys.running, sys.endpoint);
  } finally {
    await stop(sys.running);
  }
  report(corpus, fig, expectedStates(corpus, new Date()));
}

try {
  await main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  cleanup();
}
