// Child-process bookkeeping for benchmarks: free loopback ports, spawning with an output tail,
// graceful stop, VmRSS from /proc and a kill-everything hook for exit and signals.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

export interface Running {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  /** Set once the process has exited (or failed to spawn). */
  failure: () => string | undefined;
  /** Tail of the process's stdout + stderr. */
  output: () => string;
}

const live = new Set<ChildProcess>();

/** An unused TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function launch(
  name: string,
  command: string,
  args: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): Running {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
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
      failure = `${name}: spawn failed: ${err.message}`;
      live.delete(child);
      resolve();
    });
    child.once('exit', (code, signal) => {
      failure = `${name} exited (code ${code}, signal ${signal})`;
      live.delete(child);
      resolve();
    });
  });
  return { name, child, exited, failure: () => failure, output: () => output };
}

/** SIGTERM, then SIGKILL after 10 s. */
export async function stop(r: Running): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    console.error(`warning: ${r.name} (pid ${r.child.pid}) ignored SIGTERM for 10 s, killing it`);
    r.child.kill('SIGKILL');
  }, 10_000);
  await r.exited;
  clearTimeout(timer);
}

/** Kills every child still alive (synchronous: usable from an 'exit' handler). */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** A /proc/<pid>/status field in MiB (VmRSS, VmHWM, …); NaN when unreadable. */
export function procMiB(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system) the process has used so far, in seconds; NaN when unreadable. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Linux USER_HZ: 100 on every architecture Node supports. */
const CLOCK_TICKS = 100;

/** The first executable among `names` on PATH, then the absolute `fallbacks`; undefined if none. */
export function findExecutable(names: readonly string[], fallbacks: readonly string[]): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const candidates = [...names.flatMap((n) => dirs.map((d) => join(d, n))), ...fallbacks];
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}
