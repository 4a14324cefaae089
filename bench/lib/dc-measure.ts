// The phases of the distributed-cloud benchmark, each capped in time: all subclouds online, steady
// state under alarm churn, alarm change → summary, list/summary latency, and cut uplinks → 280.001.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'undici';
import { cpuSeconds, procMiB } from './children.js';
import { watchAlarms } from './dc-alarm-stream.js';
import type { Controller, SimProcess } from './dc-processes.js';
import { percentile, timedGet } from './post-load.js';

const log = (msg: string): void => console.error(msg);

export interface Latency {
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

function latency(samples: readonly number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), samples: sorted.length };
}

async function getJson<T>(pool: Pool, c: Controller, path: string): Promise<{ body: T; ms: number }> {
  const res = await timedGet(pool, c.endpoint, path);
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  return { body: JSON.parse(res.text) as T, ms: res.ms };
}

/** Polls `query` total until it reaches `target`; seconds taken, or undefined at the cap. */
export async function untilTotal(o: {
  pool: Pool;
  controller: Controller;
  query: string;
  target: number;
  capSeconds: number;
  label: string;
  sim: SimProcess;
}): Promise<{ seconds?: number; reached: number }> {
  const t0 = performance.now();
  let reached = 0;
  let lastLog = 0;
  while (performance.now() - t0 < o.capSeconds * 1000) {
    if (o.sim.child.exitCode !== null) throw new Error(`murm sim exited:\n${o.sim.progress()}`);
    reached = (await getJson<{ total: number }>(o.pool, o.controller, `/v1/subclouds?${o.query}&limit=1`))
      .body.total;
    if (reached >= o.target) return { seconds: (performance.now() - t0) / 1000, reached };
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      const s = ((performance.now() - t0) / 1000).toFixed(0);
      log(
        `  ${o.label}: ${reached}/${o.target} after ${s} s (${o.sim.progress().trim().split('\n').at(-1) ?? ''})`,
      );
    }
    await sleep(250);
  }
  return { reached };
}

export interface Steady {
  seconds: number;
  controllerRssMiB: number;
  controllerPeakRssMiB: number;
  controllerCpuPct: number;
  simCpuPct: number;
  simRssMiB: number;
  simProcesses: number;
}

/** CPU% of the controller and of all simulator processes over `seconds`, and the controller's RSS. */
export async function steadyState(c: Controller, sim: SimProcess, seconds: number): Promise<Steady> {
  const simPids = sim.pids();
  const controllerPids = c.pids();
  const cpu = () => ({
    controller: controllerPids.reduce((n, pid) => n + cpuSeconds(pid), 0),
    sim: simPids.reduce((n, pid) => n + cpuSeconds(pid), 0),
  });
  const before = cpu();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = cpu();
  const wall = (performance.now() - t0) / 1000;
  return {
    seconds,
    // With uplink workers, the controller is the primary and its workers together.
    controllerRssMiB: controllerPids.reduce((n, pid) => n + procMiB(pid, 'VmRSS'), 0),
    controllerPeakRssMiB: controllerPids.reduce((n, pid) => n + procMiB(pid, 'VmHWM'), 0),
    controllerCpuPct: ((after.controller - before.controller) / wall) * 100,
    simCpuPct: ((after.sim - before.sim) / wall) * 100,
    simRssMiB: simPids.reduce((n, pid) => n + procMiB(pid, 'VmRSS'), 0),
    simProcesses: simPids.length,
  };
}

interface SummaryItem {
  name: string;
  warning: number;
}

/**
 * Sets distinctive warning counts on `rounds × perRound` subclouds (a round at a time) and times how
 * long until each shows in GET /v1/dc/alarm-summary. Churn may move a count by one, so ±3 matches.
 */
export async function alarmToSummary(o: {
  pool: Pool;
  controller: Controller;
  sim: SimProcess;
  names: readonly string[];
  rounds: number;
  perRound: number;
}): Promise<Latency & { missed: number }> {
  const samples: number[] = [];
  let missed = 0;
  for (let r = 0; r < o.rounds; r++) {
    const pending = new Map<string, { marker: number; sentAt: number }>();
    for (let i = 0; i < o.perRound; i++) {
      const name = o.names[Math.floor(Math.random() * o.names.length)] ?? '';
      if (pending.has(name)) continue;
      const marker = 1000 + r * o.perRound + i;
      const answer = await o.sim.command<{ sent: boolean; at: number }>(`alarms ${name} 0 0 0 ${marker}`);
      if (answer.sent) pending.set(name, { marker, sentAt: answer.at });
    }
    const deadline = Date.now() + 30_000;
    while (pending.size > 0 && Date.now() < deadline) {
      const { body } = await getJson<{ items: SummaryItem[] }>(o.pool, o.controller, '/v1/dc/alarm-summary');
      const now = Date.now();
      for (const item of body.items) {
        const p = pending.get(item.name);
        if (p && Math.abs(item.warning - p.marker) <= 3) {
          samples.push(now - p.sentAt);
          pending.delete(item.name);
        }
      }
      if (pending.size > 0) await sleep(50);
    }
    missed += pending.size;
  }
  return { ...latency(samples), missed };
}

/** p50/p99 of `reps` sequential GETs of `path`. */
export async function getLatency(pool: Pool, c: Controller, path: string, reps: number): Promise<Latency> {
  for (let i = 0; i < 3; i++) await getJson(pool, c, path);
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) samples.push((await getJson(pool, c, path)).ms);
  return latency(samples);
}

/** Cuts `count` uplinks at once and times, per subcloud, the cut → 280.001 raised (SSE). */
export async function cutToOfflineAlarm(o: {
  controller: Controller;
  sim: SimProcess;
  count: number;
  capSeconds: number;
}): Promise<Latency & { cut: number; missed: number }> {
  const stream = await watchAlarms({
    origin: o.controller.endpoint.origin,
    ca: o.controller.endpoint.ca,
    token: o.controller.token,
  });
  try {
    await sleep(500);
    const cut = await o.sim.command<{ names: string[]; at: number }>(`cut ${o.count} ${o.capSeconds * 2}`);
    const entities = cut.names.map((n) => `subcloud=${n}`);
    const deadline = Date.now() + o.capSeconds * 1000;
    let raised = stream.raisedAt('280.001');
    while (Date.now() < deadline && entities.some((e) => !raised.has(e))) {
      await sleep(200);
      raised = stream.raisedAt('280.001');
    }
    const samples = entities.flatMap((e) => {
      const at = raised.get(e);
      return at === undefined ? [] : [at - cut.at];
    });
    return { ...latency(samples), cut: cut.names.length, missed: entities.length - samples.length };
  } finally {
    stream.close();
  }
}
