// HTTP client side of the API benchmark: readiness polling, token login and a time-bounded
// keep-alive load loop. Only ever talks to 127.0.0.1.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, Pool, request } from 'undici';

export interface LoadOptions {
  /** e.g. https://127.0.0.1:8443 — any other host is refused. */
  origin: string;
  path: string;
  headers: Record<string, string>;
  /** PEM of the CA that signed the server certificate. */
  ca: string;
  connections: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoadResult {
  /** Responses completed inside the measurement window (after warm-up). */
  requests: number;
  /** Non-200 responses and transport errors inside the measurement window. */
  errors: number;
  /** 200 responses per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

function assertLoopback(origin: string): void {
  const { hostname } = new URL(origin);
  if (hostname !== '127.0.0.1') throw new Error(`refusing to target ${hostname}: only 127.0.0.1 is allowed`);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Polls `${origin}/readyz` every `intervalMs` until it answers 200. Resolves with performance.now()
 * at the moment the 200 arrived. `failed()` is checked between attempts (e.g. "the process exited").
 */
export async function pollReady(
  origin: string,
  ca: string,
  opts: { intervalMs: number; timeoutMs: number; failed: () => string | undefined },
): Promise<number> {
  assertLoopback(origin);
  const agent = new Agent({ connect: { ca, timeout: 2_000 }, headersTimeout: 2_000, bodyTimeout: 2_000 });
  const deadline = performance.now() + opts.timeoutMs;
  let lastError = 'no attempt';
  try {
    while (performance.now() < deadline) {
      const failure = opts.failed();
      if (failure !== undefined) throw new Error(failure);
      try {
        const res = await request(`${origin}/readyz`, { dispatcher: agent });
        await res.body.dump();
        if (res.statusCode === 200) return performance.now();
        lastError = `HTTP ${res.statusCode}`;
      } catch (err) {
        lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        // A TLS/certificate problem will not fix itself: fail fast instead of polling for 30 s.
        if (/certificate|self.signed|altname|ERR_TLS/i.test(lastError)) throw new Error(lastError);
      }
      await sleep(opts.intervalMs);
    }
    throw new Error(`not ready after ${opts.timeoutMs} ms (last: ${lastError})`);
  } finally {
    await agent.destroy();
  }
}

/** POST /v1/auth/tokens and return the bearer token (expects 201). */
export async function login(origin: string, ca: string, username: string, password: string): Promise<string> {
  assertLoopback(origin);
  const agent = new Agent({ connect: { ca } });
  try {
    const res = await request(`${origin}/v1/auth/tokens`, {
      dispatcher: agent,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`login failed: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    const parsed: unknown = JSON.parse(text);
    const token = (parsed as { token?: unknown }).token;
    if (typeof token !== 'string' || token === '') throw new Error(`login failed: no token in ${text}`);
    return token;
  } finally {
    await agent.destroy();
  }
}

/**
 * `connections` workers each keep one request in flight on a keep-alive pool for warm-up + duration,
 * then stop by themselves. Only responses completing inside the measurement window are counted;
 * latency percentiles are over 200 responses.
 */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  assertLoopback(o.origin);
  const pool = new Pool(o.origin, {
    connections: o.connections,
    pipelining: 1,
    connect: { ca: o.ca },
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  const measureStart = performance.now() + o.warmupMs;
  const end = measureStart + o.durationMs;

  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const started = performance.now();
      let ok = false;
      try {
        const res = await pool.request({ path: o.path, method: 'GET', headers: o.headers });
        await res.body.text();
        ok = res.statusCode === 200;
      } catch {
        ok = false;
      }
      const finished = performance.now();
      if (finished < measureStart || finished > end) continue;
      requests++;
      if (ok) latencies.push(finished - started);
      else errors++;
    }
  };

  try {
    await Promise.all(Array.from({ length: o.connections }, worker));
  } finally {
    await pool.destroy();
  }
  latencies.sort((a, b) => a - b);
  return {
    requests,
    errors,
    rps: latencies.length / (o.durationMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}
