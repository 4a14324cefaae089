// FDO rendezvous benchmark: full TO1 exchanges (30 → 31 → 32 → 33) per second from many concurrent
// simulated devices over HTTP keep-alive, TO0 registrations per second, and the share of the server's
// CPU time spent verifying signatures. The server is a real `murm rendezvous` child process; the
// devices run in BENCH_CLIENT_THREADS worker threads of this process (same machine).
//
//   npm run bench:fdo     BENCH_SECONDS=10 BENCH_DEVICES=256 BENCH_CONNECTIONS=64 BENCH_CLIENT_THREADS=1 npm run bench:fdo
import type { ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import { decodeCbor, encodeCbor } from '../src/fdo/cbor.js';
import { FdoClient, registerOwner } from '../src/fdo/client.js';
import { signEat, verifyEat } from '../src/fdo/eat.js';
import {
  type SyntheticDevice,
  sampleDevice,
  startRendezvousProcess,
  syntheticDevices,
} from '../test/helpers/fdo.js';
import { makeTempDir } from '../test/helpers/processes.js';
import { KeepAliveConnection, leanTo1, prepareDevice } from './fdo-device.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? '8');
const WARMUP_SECONDS = 2;
const DEVICES = Number(process.env.BENCH_DEVICES ?? '256');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? '64');
// One device thread: it needs well under a core, and a second one only adds contention on two cores.
const THREADS = Number(process.env.BENCH_CLIENT_THREADS ?? '1');
const OWNERS = Number(process.env.BENCH_OWNERS ?? '16');
/** Distinct devices (own GUID, certificate and key); the simulated devices take turns being them. */
const DISTINCT = Number(process.env.BENCH_DISTINCT_DEVICES ?? '200');
const TARGET_TO1 = 5_000;
/** All simulated devices share one address, so the bench server's per-address limit is lifted (shown). */
const BENCH_RATE = '100000000';

interface LoadResult {
  done: number;
  errors: number;
  firstError?: string;
}

/** Runs `workers` loops of `exchange` for `seconds`, counting only after `warmup` seconds. */
async function load(workers: number, warmup: number, seconds: number, exchange: () => Promise<void>) {
  const start = performance.now() + warmup * 1000;
  const deadline = start + seconds * 1000;
  const result: LoadResult = { done: 0, errors: 0 };
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        try {
          await exchange();
          if (performance.now() >= start) result.done += 1;
        } catch (error) {
          result.errors += 1;
          result.firstError ??= String(error);
        }
      }
    }),
  );
  return result;
}

interface ThreadData {
  url: string;
  devices: number;
  connections: number;
  identities: { guid: Uint8Array; deviceKeyPem: string; to1d: Uint8Array }[];
}

/**
 * A client thread: `devices` simulated devices looping TO1 against the server, each time as the next
 * identity, sharing `connections` keep-alive connections (device i uses connection i mod connections).
 */
async function deviceThread(options: ThreadData): Promise<void> {
  const { hostname, port } = new URL(options.url);
  const connections = Array.from(
    { length: options.connections },
    () => new KeepAliveConnection(hostname, Number(port)),
  );
  const identities = options.identities.map((d) =>
    prepareDevice({ guid: d.guid, privateKey: createPrivateKey(d.deviceKeyPem), to1d: d.to1d }),
  );
  let turn = 0;
  let slot = 0;
  const result = await load(options.devices, WARMUP_SECONDS, SECONDS, () => {
    turn = (turn + 1) % identities.length;
    slot = (slot + 1) % connections.length;
    const device = identities[turn];
    const connection = connections[slot];
    if (!device || !connection) throw new Error('no device identity');
    return leanTo1(connection, device);
  });
  for (const connection of connections) connection.close();
  parentPort?.postMessage(result);
}

function startRendezvous(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  return startRendezvousProcess({
    dataDir,
    logLevel: 'error',
    timeoutMs: 60_000,
    // All simulated devices share one address: lift the per-address limits.
    env: { ...process.env, MURM_FDO_RATE: BENCH_RATE, MURM_FDO_RATE_BURST: BENCH_RATE },
    // e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/fdo-prof" to profile the server.
    nodeArgs: (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
  });
}

/** CPU seconds (user + system) a process (all threads) or, with `thread`, one of its threads has used. */
function cpuSeconds(pid: number, thread?: number): number {
  const file = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
  const fields = readFileSync(file, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Microseconds of one EAT verification (P-256, imported key) in this process. */
function verifyMicros(device: { guid: Uint8Array; privateKey: KeyObject }): number {
  const claims = new Map<number, unknown>([
    [10, new Uint8Array(16)],
    [256, Uint8Array.of(1, ...device.guid)],
  ]);
  const eat = decodeCbor(encodeCbor(signEat(claims, device.privateKey)));
  const key = createPublicKey(device.privateKey);
  for (let i = 0; i < 2000; i++) verifyEat(eat, key);
  const rounds = 20_000;
  const started = performance.now();
  for (let i = 0; i < rounds; i++) verifyEat(eat, key);
  return ((performance.now() - started) * 1000) / rounds;
}

async function runThreads(
  url: string,
  devices: readonly SyntheticDevice[],
  to1ds: readonly Uint8Array[],
): Promise<LoadResult> {
  const results = await Promise.all(
    Array.from({ length: THREADS }, (_, index) => {
      const share = (total: number) => Math.floor(total / THREADS) + (index < total % THREADS ? 1 : 0);
      // A .ts entry cannot be a worker's main module; an eval'd import goes through the tsx loader.
      const entry = JSON.stringify(import.meta.url);
      const worker = new Worker(
        `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); })`,
        {
          eval: true,
          workerData: {
            url,
            devices: share(DEVICES),
            connections: Math.max(1, share(CONNECTIONS)),
            identities: devices
              .map(({ guid, deviceKeyPem }, i) => ({
                guid,
                deviceKeyPem,
                to1d: to1ds[i] ?? new Uint8Array(0),
              }))
              .filter((_, i) => i % THREADS === index),
          } satisfies ThreadData,
        },
      );
      return new Promise<LoadResult>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    }),
  );
  return results.reduce((sum, r) => ({
    done: sum.done + r.done,
    errors: sum.errors + r.errors,
    ...((sum.firstError ?? r.firstError) ? { firstError: sum.firstError ?? r.firstError } : {}),
  }));
}

async function main(): Promise<void> {
  const dataDir = makeTempDir('bench-fdo');
  const server = await startRendezvous(dataDir);
  const pid = server.child.pid ?? 0;
  try {
    const client = new FdoClient(server.url, new Pool(server.url, { connections: OWNERS }));
    const owner = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const devices = await syntheticDevices(DISTINCT, owner.publicKey);
    const to2 = [{ host: '192.0.2.10', port: 8043, protocol: 3 }];
    let next = 0;
    const to1ds: Uint8Array[] = [];
    const register = async () => {
      const index = next++ % devices.length;
      const device = devices[index];
      if (!device) throw new Error('no device');
      const { to1d } = await registerOwner(client, {
        voucher: device.voucher,
        ownerKey: owner.privateKey,
        to2,
        waitSeconds: 86_400,
      });
      to1ds[index] = to1d;
    };
    while (next < devices.length) await register();
    // Server CPU is sampled over the measured window only (after the client threads' warm-up).
    const pending = runThreads(server.url, devices, to1ds);
    await new Promise((resolve) => setTimeout(resolve, WARMUP_SECONDS * 1000));
    let cpu = cpuSeconds(pid);
    // This process is the devices (the worker threads; the main thread only waits).
    const clientCpuBefore = cpuSeconds(process.pid);
    // The main thread is the event loop; signatures are verified on libuv's pool threads.
    const loopCpuBefore = cpuSeconds(pid, pid);
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const to1Cpu = cpuSeconds(pid) - cpu;
    const loopCpu = cpuSeconds(pid, pid) - loopCpuBefore;
    const clientCpu = cpuSeconds(process.pid) - clientCpuBefore;
    const to1 = await pending;
    const to0Seconds = Math.max(3, SECONDS / 2);
    cpu = cpuSeconds(pid);
    const to0 = await load(OWNERS, 0, to0Seconds, register);
    const to0Cpu = cpuSeconds(pid) - cpu;
    await client.close();
    const serverMicrosPerTo1 = (to1Cpu * 1e6) / Math.max(1, to1.done);
    const verify = verifyMicros(sampleDevice());
    const figures = {
      to1PerSecond: Math.round(to1.done / SECONDS),
      to1Errors: to1.errors,
      to0PerSecond: Math.round(to0.done / to0Seconds),
      to0Errors: to0.errors,
      serverCpuCoresDuringTo1: Number((to1Cpu / SECONDS).toFixed(2)),
      serverCpuMicrosPerTo1: Math.round(serverMicrosPerTo1),
      eventLoopMicrosPerTo1: Math.round((loopCpu * 1e6) / Math.max(1, to1.done)),
      eventLoopLimitTo1PerSecond: Math.round(to1.done / Math.max(0.001, loopCpu)),
      clientCpuCoresDuringTo1: Number((clientCpu / SECONDS).toFixed(2)),
      clientCpuMicrosPerTo1: Math.round((clientCpu * 1e6) / Math.max(1, to1.done)),
      // What all cores could do if the server and the devices had them to themselves (other load aside).
      cpuBoundTo1PerSecond: Math.round(
        (availableParallelism() * to1.done) / Math.max(1e-9, to1Cpu + clientCpu),
      ),
      serverCpuMicrosPerTo0: Math.round((to0Cpu * 1e6) / Math.max(1, to0.done)),
      eatVerifyMicros: Number(verify.toFixed(1)),
      // Measured in the same window as the server's CPU: what ran off the event loop (the pool threads
      // verifying EATs, and V8's helper threads). The microbenchmark ratio below varies with machine load.
      offLoopShareOfServerCpu: Number((1 - loopCpu / Math.max(1e-9, to1Cpu)).toFixed(2)),
      signatureShareOfServerCpu: Number((verify / serverMicrosPerTo1).toFixed(2)),
      devices: DEVICES,
      distinctDevices: DISTINCT,
      connections: CONNECTIONS,
      clientThreads: THREADS,
      seconds: SECONDS,
      serverRateLimitPerAddress: `MURM_FDO_RATE=${BENCH_RATE} MURM_FDO_RATE_BURST=${BENCH_RATE} (bench setting: one source address)`,
      cores: availableParallelism(),
      loadAverage1m: (await import('node:os')).loadavg()[0]?.toFixed(1),
    };
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    if (to1.firstError ?? to0.firstError)
      process.stdout.write(`first error: ${to1.firstError ?? to0.firstError}\n`);
    process.stdout.write(
      `TO1: ${figures.to1PerSecond}/s (target ${TARGET_TO1}/s: ${figures.to1PerSecond >= TARGET_TO1 ? 'met' : 'NOT met'}); ` +
        `TO0: ${figures.to0PerSecond}/s; off the event loop (EAT verification): ` +
        `${Math.round(figures.offLoopShareOfServerCpu * 100)}% of the server's CPU per TO1; event loop limit ` +
        `${figures.eventLoopLimitTo1PerSecond} TO1/s; server + devices CPU per TO1 ` +
        `${figures.serverCpuMicrosPerTo1 + figures.clientCpuMicrosPerTo1} µs, ${figures.cores} cores bound ` +
        `${figures.cpuBoundTo1PerSecond} TO1/s (load average ${figures.loadAverage1m})\n`,
    );
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
else await deviceThread(workerData as ThreadData);
