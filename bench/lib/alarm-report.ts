// The alarm benchmark's output: a table of both systems' figures, the ratios and the targets, then one
// `RESULT {json}` line.
import { cpus, loadavg } from 'node:os';
import type { PostLoadResult } from './post-load.js';

export interface Stats {
  medianMs: number;
  p99Ms: number;
}

/** A raise run and the server's CPU use during it (cores busy: CPU seconds per wall second). */
type Run = PostLoadResult & { serverCores: number };

export interface Figures {
  single: Run;
  batch50: Run;
  batch500: Run;
  /** Every active alarm: Murmuration 12 pages of 1000 in sequence, Alertmanager one request. */
  listAll: Stats & { count: number; requests: number };
  /** Murmuration only: one page of 1000. */
  listPage?: Stats;
  /** Murmuration only: GET /v1/alarms/summary. */
  summary?: Stats;
  /** VmRSS after the raise runs. */
  rssMiB: number;
}

export interface Million {
  alarms: number;
  /** `major` of the summary after the fill: the active alarms as the server counts them. */
  activeMajor?: number;
  fillSeconds: number;
  alarmsPerSec: number;
  errors: number;
  timedOut: boolean;
  idleRssMiB: number;
  rssMiB: number;
  peakRssMiB: number;
  firstPage: Stats;
  summary: Stats;
}

export interface ReportInput {
  murm?: Figures;
  alertmanager?: Figures;
  million?: Million;
  amVersion?: string;
  benchSeconds: number;
  connections: number;
  warmupMs: number;
  listAlarms: number;
  loadKeys: number;
  listReps: number;
  /** 1-minute load average when the benchmark started. */
  loadAtStart: number;
}

const TARGET = { singleRatio: 5, batchRatio: 1, listMs: 25, millionRssMiB: 1536 };

const fmt = (x: number | undefined, digits = 1): string =>
  x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits);
const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;
/** PASS/FAIL, or n/a when a figure is missing. */
const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');

export function printReport(input: ReportInput): void {
  const m = input.murm;
  const a = input.alertmanager;
  const mil = input.million;
  const rows: string[][] = [['metric', 'murm', 'alertmanager', 'murm/AM', 'target', '']];
  const row = (
    label: string,
    pick: (f: Figures) => number | undefined,
    digits: number,
    target = '',
    v = '',
  ) => {
    const x = m && pick(m);
    const y = a && pick(a);
    rows.push([label, fmt(x, digits), fmt(y, digits), fmt(ratio(x, y), 2), target, v]);
  };
  const ratios = {
    single: ratio(m?.single.rps, a?.single.rps),
    batch50: ratio(m?.batch50.itemsPerSec, a?.batch50.itemsPerSec),
    batch500: ratio(m?.batch500.itemsPerSec, a?.batch500.itemsPerSec),
    listAll: ratio(m?.listAll.medianMs, a?.listAll.medianMs),
  };
  const at = (r: number | undefined, min: number): boolean | undefined =>
    r === undefined ? undefined : r >= min;
  const verdicts = {
    single: verdict(at(ratios.single, TARGET.singleRatio)),
    batch50: verdict(at(ratios.batch50, TARGET.batchRatio)),
    batch500: verdict(at(ratios.batch500, TARGET.batchRatio)),
    list12k: verdict(m && m.listAll.medianMs <= TARGET.listMs),
    millionRss: verdict(mil && mil.alarms >= 1_000_000 && mil.rssMiB <= TARGET.millionRssMiB),
  };
  /** A row of several figures per system, shown as `x / y / …`, without a ratio. */
  const several = (label: string, pick: (f: Figures) => (number | undefined)[], digits = 2) => {
    const cell = (f: Figures | undefined): string => {
      const xs = f ? pick(f) : [];
      return xs.every((x) => x === undefined) ? '-' : xs.map((x) => fmt(x, digits)).join(' / ');
    };
    rows.push([label, cell(m), cell(a), '', '', '']);
  };
  row('single raise, requests/s', (f) => f.single.rps, 0, `>= ${TARGET.singleRatio}x AM`, verdicts.single);
  several('single raise p50 / p99 (ms)', (f) => [f.single.p50Ms, f.single.p99Ms]);
  row('batches of 50, alarms/s', (f) => f.batch50.itemsPerSec, 0, '>= 1x AM', verdicts.batch50);
  several('batches of 50 p50 / p99 (ms)', (f) => [f.batch50.p50Ms, f.batch50.p99Ms]);
  row('batches of 500, alarms/s', (f) => f.batch500.itemsPerSec, 0, '>= 1x AM', verdicts.batch500);
  several('batches of 500 p50 / p99 (ms)', (f) => [f.batch500.p50Ms, f.batch500.p99Ms]);
  const listLabel = `list ${input.listAlarms} active, median (ms)`;
  row(listLabel, (f) => f.listAll.medianMs, 2, `<= ${TARGET.listMs} ms`, verdicts.list12k);
  row(`list ${input.listAlarms} active, p99 (ms)`, (f) => f.listAll.p99Ms, 2);
  several('  requests / alarms listed', (f) => [f.listAll.requests, f.listAll.count], 0);
  several('list one page of 1000, p50 / p99 (ms)', (f) => [f.listPage?.medianMs, f.listPage?.p99Ms]);
  several('summary, p50 / p99 (ms)', (f) => [f.summary?.medianMs, f.summary?.p99Ms]);
  const cores = (f: Figures) => [f.single.serverCores, f.batch50.serverCores, f.batch500.serverCores];
  several('server CPU, cores: single / 50 / 500', cores);
  row('raise errors (all runs)', (f) => f.single.errors + f.batch50.errors + f.batch500.errors, 0);
  row('RSS after the runs (MiB)', (f) => f.rssMiB, 0);
  if (mil) {
    const st = (x: Stats): string => `${fmt(x.medianMs, 2)} / ${fmt(x.p99Ms, 2)}`;
    const rss = `<= ${TARGET.millionRssMiB} MiB`;
    rows.push(['1M: alarms raised / active (summary)', `${mil.alarms} / ${fmt(mil.activeMajor, 0)}`]);
    rows.push(['1M: fill, alarms/s (batches of 1000)', fmt(mil.alarmsPerSec, 0)]);
    rows.push(['1M: RSS 5 s after the fill (MiB)', fmt(mil.rssMiB, 0), '', '', rss, verdicts.millionRss]);
    rows.push(['1M: peak / idle RSS (MiB)', `${fmt(mil.peakRssMiB, 0)} / ${fmt(mil.idleRssMiB, 0)}`]);
    rows.push(['1M: one page of 1000, p50 / p99 (ms)', st(mil.firstPage)]);
    rows.push(['1M: summary, p50 / p99 (ms)', st(mil.summary)]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  console.log(
    `\nMurmuration alarm benchmark — Node ${process.version}, ${cpus().length} CPUs shared by client and ` +
      `server, ${input.connections} keep-alive connections, ${input.warmupMs / 1000} s warm-up + ` +
      `${input.benchSeconds} s per raise run\n`,
  );
  const busy = Math.max(input.loadAtStart, loadavg()[0] ?? 0) > cpus().length / 2;
  const load = `load average (1 min): ${fmt(input.loadAtStart, 2)} at start, ${fmt(loadavg()[0], 2)} at the end`;
  console.log(busy ? `WARNING: ${load} — other work shares the CPUs, the figures are noisy\n` : `${load}\n`);
  for (const r of rows)
    console.log(
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  console.log(`
alertmanager: ${input.amVersion ?? 'not measured'}; --cluster.listen-address= (no cluster), null receiver.
Transport: murm is HTTPS (TLS, bearer token); Alertmanager is plain HTTP without authentication.
Raise runs update ${input.loadKeys} alarms raised beforehand (hosts h-0…h-${input.loadKeys - 1}, cycled): every
  measured raise is an update of an active alarm (murm POST /v1/alarms and /v1/alarms:batch; Alertmanager
  POST /api/v2/alerts with 1, 50 or 500 alerts). The 1M fill creates new alarms (distinct hosts).
List: ${input.listAlarms} active alarms, ${input.listReps} runs after 2 warm-ups on one keep-alive connection, send to last
  byte (client JSON parsing excluded): murm one GET /v1/alarms?limit=20000 (the largest page the API allows),
  Alertmanager one GET /api/v2/alerts. PASS/FAIL on the median.
`);
  const result = {
    node: process.version,
    cpus: cpus().length,
    benchSeconds: input.benchSeconds,
    connections: input.connections,
    loadAtStart: input.loadAtStart,
    alertmanagerVersion: input.amVersion ?? null,
    targets: TARGET,
    murm: m ?? null,
    alertmanager: a ?? null,
    million: mil ?? null,
    ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, v ?? null])),
    verdicts,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}
