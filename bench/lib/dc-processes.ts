// The two processes of the distributed-cloud benchmark: a system controller (`murm serve
// --system-controller` from the bundle, SQLite or PostgreSQL) and the simulator (`murm sim`), which
// is driven through its standard input (one knob a line, one JSON answer a line).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, launch, type Running, stop } from './children.js';
import { login, pollReady } from './load.js';
import type { Endpoint } from './post-load.js';

export interface Controller {
  running: Running;
  endpoint: Endpoint & { ca: string };
  caPath: string;
  token: string;
  /** Where subclouds open their uplinks (the API, or the uplink workers' listener). */
  uplink: string;
  /** The controller process and its uplink workers (for CPU and RSS figures). */
  pids(): number[];
}

async function waitForCa(path: string, r: Running): Promise<string> {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const failure = r.failure();
    if (failure !== undefined) throw new Error(`${failure}\n${r.output()}`);
    try {
      const pem = readFileSync(path, 'utf8');
      if (pem.includes('-----END CERTIFICATE-----')) return pem;
    } catch {
      // not written yet
    }
    await sleep(50);
  }
  throw new Error(`no CA at ${path} after 60 s`);
}

/** Starts `murm serve --system-controller` from the bundle; resolves once logged in as admin. */
export async function startController(o: {
  repoRoot: string;
  dataDir: string;
  database?: string;
  password: string;
  /** Uplink worker processes (MURM_UPLINK_WORKERS); 0 = uplinks on the API listener. */
  uplinkWorkers: number;
}): Promise<Controller> {
  const port = await freePort();
  const uplinkPort = o.uplinkWorkers > 0 ? await freePort() : port;
  const origin = `https://127.0.0.1:${port}`;
  const args = [
    'bin/murm.js',
    'serve',
    '--system-controller',
    '--no-local-agent',
    '--data-dir',
    o.dataDir,
    '--listen',
    `127.0.0.1:${port}`,
    '--log-level',
    'warn',
    ...(o.database === undefined ? [] : ['--database', o.database]),
  ];
  const env = {
    ...process.env,
    MURM_ADMIN_PASSWORD: o.password,
    MURM_UPLINK_WORKERS: String(o.uplinkWorkers),
    MURM_UPLINK_LISTEN: `127.0.0.1:${uplinkPort}`,
  };
  const running = launch('controller', process.execPath, args, { cwd: o.repoRoot, env });
  try {
    const caPath = join(o.dataDir, 'pki', 'ca.crt');
    const ca = await waitForCa(caPath, running);
    await pollReady(origin, ca, { intervalMs: 50, timeoutMs: 60_000, failed: running.failure });
    const token = await login(origin, ca, 'admin', o.password);
    return {
      running,
      caPath,
      token,
      uplink: `https://127.0.0.1:${uplinkPort}`,
      pids: () => withChildren(running.child.pid),
      endpoint: { origin, ca, headers: { authorization: `Bearer ${token}` } },
    };
  } catch (err) {
    await stop(running);
    throw new Error(`the controller did not start: ${(err as Error).message}\n${running.output()}`);
  }
}

/** A running `murm sim`, its knobs, and the pids of its processes (for CPU figures). */
export interface SimProcess {
  child: ChildProcess;
  /** Sends one knob line; resolves with its JSON answer. */
  command<T>(line: string): Promise<T>;
  /** The simulator's pid and those of its forked children. */
  pids(): number[];
  /** The last progress lines on stderr. */
  progress(): string;
  stop(): Promise<void>;
}

export function startSimProcess(o: {
  repoRoot: string;
  controller: Controller;
  args: readonly string[];
}): SimProcess {
  const child = spawn(
    process.execPath,
    [
      'bin/murm.js',
      'sim',
      '--controller',
      o.controller.endpoint.origin,
      '--uplink',
      o.controller.uplink,
      '--ca',
      o.controller.caPath,
      ...o.args,
    ],
    {
      cwd: o.repoRoot,
      env: { ...process.env, MURM_TOKEN: o.controller.token },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let progress = '';
  child.stderr.on('data', (chunk: Buffer) => {
    progress = (progress + chunk.toString()).slice(-2000);
  });
  const answers: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => answers.shift()?.(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  return {
    child,
    command: <T>(line: string) =>
      new Promise<T>((resolve, reject) => {
        if (child.exitCode !== null) return reject(new Error(`murm sim exited:\n${progress}`));
        answers.push((answer) => resolve(JSON.parse(answer) as T));
        child.stdin.write(`${line}\n`);
      }),
    pids: () => {
      const pid = child.pid;
      if (pid === undefined) return [];
      try {
        const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
        return [pid, ...children.split(/\s+/).filter(Boolean).map(Number)];
      } catch {
        return [pid];
      }
    },
    progress: () => progress,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      process.off('exit', killOnExit);
    },
  };
}

/** A process and its direct children (uplink workers), from /proc. */
function withChildren(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return [pid, ...(children ? children.split(' ').map(Number) : [])];
  } catch {
    return [pid];
  }
}
