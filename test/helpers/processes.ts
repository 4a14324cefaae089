import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository root, where `src/murm.ts` lives. */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
const ENTRY = path.join(REPO_ROOT, 'src', 'murm.ts');
const BUNDLE = path.join(REPO_ROOT, 'bin', 'murm.js');

/** Node arguments that run `murm`: the TypeScript source through tsx, or the built bundle (`npm run build`). */
function murmCommand(isBundle: boolean | undefined): string[] {
  return isBundle ? [BUNDLE] : ['--import', 'tsx', ENTRY];
}

/** A temp directory removed by the caller (or left for inspection on failure). */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `murm-${prefix}-`));
}

/** A `murm serve` child process on a free port. */
export interface ServerProcess {
  url: string;
  caPath: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `murm serve` (through tsx) and resolves when it prints its URL. */
export async function startServer(options: {
  dataDir?: string;
  env?: Record<string, string>;
  args?: string[];
  isBundle?: boolean;
  /** Run controller-0's in-process agent, as `npm start` does (off by default: most tests don't need it). */
  localAgent?: boolean;
}): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? makeTempDir('data');
  const child = spawn(
    process.execPath,
    [
      ...murmCommand(options.isBundle),
      'serve',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'warn',
      ...(options.localAgent ? [] : ['--no-local-agent']),
      ...(options.args ?? []),
    ],
    { cwd: REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`murm serve did not start in 30 s:\n${output}`)), 30_000);
    const onData = () => {
      const match = /ready at (https:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`murm serve exited with ${code} before it was ready:\n${output}`));
    });
  });
  return {
    url,
    caPath: path.join(dataDir, 'pki', 'ca.crt'),
    dataDir,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The result of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `murm` CLI as a child process (through tsx) with optional stdin. */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; input?: string; isBundle?: boolean } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...murmCommand(options.isBundle), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A `murm agent` child process. */
export interface AgentProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or null when killed by a signal). */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `murm agent` (through tsx) against a controller; `fixture` points discovery at a recorded tree. */
export function startAgentProcess(options: {
  url: string;
  caPath: string;
  root: string;
  token?: string;
  fixture?: string;
  args?: string[];
}): AgentProcess {
  const fixtureArgs = options.fixture
    ? ['--sysfs', path.join(options.fixture, 'sys'), '--procfs', path.join(options.fixture, 'proc')]
    : [];
  const child = spawn(
    process.execPath,
    [
      ...murmCommand(false),
      'agent',
      '--controller',
      options.url,
      '--ca',
      options.caPath,
      '--root',
      options.root,
      '--log-level',
      'info',
      ...(options.token ? ['--token', options.token] : []),
      ...fixtureArgs,
      ...(options.args ?? []),
    ],
    { cwd: REPO_ROOT, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs` with `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
