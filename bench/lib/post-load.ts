// HTTP client side of the alarm benchmark: keep-alive pools (HTTP or HTTPS), a time-bounded POST
// load loop, a count-bounded POST fill and timed GETs. Only ever talks to 127.0.0.1.
import { Pool } from 'undici';

export interface Endpoint {
  /** http://127.0.0.1:PORT or https://127.0.0.1:PORT — any other host is refused. */
  origin: string;
  /** PEM of the CA that signed the server certificate (HTTPS only). */
  ca?: string;
  headers: Record<string, string>;
}

interface PostTarget {
  endpoint: Endpoint;
  path: string;
  okStatus: readonly number[];
}

export interface PostLoadOptions extends PostTarget {
  /** Request bodies, sent in turn (cycled); each carries `itemsPerRequest` items. */
  bodies: readonly Buffer[];
  itemsPerRequest: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
}

export interface PostLoadResult {
  /** Responses completed inside the measurement window (after warm-up). */
  requests: number;
  /** Unexpected statuses and transport errors inside the measurement window. */
  errors: number;
  /** Successful requests per second. */
  rps: number;
  /** Items (alarms) of successful requests per second. */
  itemsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The first failure seen (status and body start, or the transport error). */
  firstError?: string;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** A keep-alive pool to a loopback origin, one request in flight per connection. */
export function loopbackPool(endpoint: Endpoint, connections: number): Pool {
  const { hostname } = new URL(endpoint.origin);
  if (hostname !== '127.0.0.1') throw new Error(`refusing to target ${hostname}: only 127.0.0.1 is allowed`);
  return new Pool(endpoint.origin, {
    connections,
    pipelining: 1,
    ...(endpoint.ca === undefined ? {} : { connect: { ca: endpoint.ca } }),
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
}

type Outcome = { ok: true } | { ok: false; error: string };

async function post(pool: Pool, o: PostTarget, body: Buffer): Promise<Outcome> {
  try {
    const res = await pool.request({
      path: o.path,
      method: 'POST',
      headers: { ...o.endpoint.headers, 'content-type': 'application/json' },
      body,
    });
    const text = await res.body.text();
    if (o.okStatus.includes(res.statusCode)) return { ok: true };
    return { ok: false, error: `HTTP ${res.statusCode} ${text.slice(0, 300)}` };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/**
 * `connections` workers each keep one POST in flight for warm-up + duration, then stop by themselves.
 * Only responses completing inside the measurement window are counted.
 */
export async function runPostLoad(o: PostLoadOptions): Promise<PostLoadResult> {
  const pool = loopbackPool(o.endpoint, o.connections);
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const measureStart = performance.now() + o.warmupMs;
  const end = measureStart + o.durationMs;

  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const body = o.bodies[next++ % o.bodies.length] ?? Buffer.alloc(0);
      const started = performance.now();
      const outcome = await post(pool, o, body);
      const finished = performance.now();
      if (!outcome.ok) firstError ??= outcome.error;
      if (finished < measureStart || finished > end) continue;
      requests++;
      if (outcome.ok) latencies.push(finished - started);
      else errors++;
    }
  };

  try {
    await Promise.all(Array.from({ length: o.connections }, worker));
  } finally {
    await pool.destroy();
  }
  latencies.sort((a, b) => a - b);
  const rps = latencies.length / (o.durationMs / 1000);
  return {
    requests,
    errors,
    rps,
    itemsPerSec: rps * o.itemsPerRequest,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    ...(firstError === undefined ? {} : { firstError }),
  };
}

export interface FillOptions extends PostTarget {
  connections: number;
  /** Number of requests to send; `body(i)` builds the i-th. */
  requests: number;
  body: (i: number) => Buffer;
  /** Stop sending new requests after this long. */
  timeoutMs: number;
  /** Called after each successful request with the count so far. */
  onDone?: (done: number) => void;
}

export interface FillResult {
  done: number;
  errors: number;
  ms: number;
  timedOut: boolean;
  firstError?: string;
}

/** Sends a fixed number of POSTs over `connections` keep-alive connections, bounded by `timeoutMs`. */
export async function fill(o: FillOptions): Promise<FillResult> {
  const pool = loopbackPool(o.endpoint, o.connections);
  const t0 = performance.now();
  const deadline = t0 + o.timeoutMs;
  let next = 0;
  let done = 0;
  let errors = 0;
  let timedOut = false;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < o.requests && errors < 20) {
      if (performance.now() > deadline) {
        timedOut = true;
        return;
      }
      const outcome = await post(pool, o, o.body(next++));
      if (outcome.ok) {
        done++;
        o.onDone?.(done);
      } else {
        errors++;
        firstError ??= outcome.error;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.connections }, worker));
  } finally {
    await pool.destroy();
  }
  return {
    done,
    errors,
    ms: performance.now() - t0,
    timedOut,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

/** GET `path` on the pool; returns the body text and the time from send to the last body byte. */
export async function timedGet(
  pool: Pool,
  endpoint: Endpoint,
  path: string,
): Promise<{ status: number; text: string; ms: number }> {
  const t0 = performance.now();
  const res = await pool.request({ path, method: 'GET', headers: endpoint.headers });
  const text = await res.body.text();
  return { status: res.statusCode, text, ms: performance.now() - t0 };
}
