import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { globalOptions, resolveConnection } from './session.js';

interface SimFlags {
  subclouds: number;
  controller: string;
  uplink?: string;
  token?: string;
  prefix: string;
  processes?: number;
  alarmRate: number;
  disconnectRate: number;
  manage?: boolean;
  sourceIpRange?: string;
  cacheDir?: string;
}

/** Subclouds one process holds by default (a process may have at most ~20,000 open files). */
const SUBCLOUDS_PER_PROCESS = 10_000;

function wholeNumber(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`give a whole number of at least ${min}`);
    return n;
  };
}

function rate(value: string): number {
  const n = Number(value.replace(/\/s$/, ''));
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('give a rate per second like 50 or 0.5/s');
  return n;
}

/**
 * Adds `murm sim`, the subcloud simulator for benchmarks and tests. Like `serve` and `agent` it runs
 * until SIGTERM/SIGINT; `--ca` is the global option (the system controller's CA file).
 */
export function addSimCommand(program: Command): void {
  program
    .command('sim')
    .description('simulate N subclouds that enroll and hold real uplinks to a system controller')
    .requiredOption('--subclouds <n>', 'how many subclouds', wholeNumber(1))
    .requiredOption('--controller <url>', 'system controller URL, https://HOST:PORT')
    .option(
      '--uplink <url>',
      'uplink listener URL when the controller runs uplink workers (default: --controller)',
    )
    .addOption(new Option('--token <token>', 'admin token (default: MURM_TOKEN, then the stored login)'))
    .option('--prefix <prefix>', 'subcloud names are <prefix>-00000 …', 'sim')
    .option(
      '--processes <k>',
      `simulator processes (default one per ${SUBCLOUDS_PER_PROCESS})`,
      wholeNumber(1),
    )
    .option('--alarm-rate <r>', 'alarm-count changes per second across the fleet', rate, 0)
    .option('--disconnect-rate <d>', 'uplinks dropped and reopened per second across the fleet', rate, 0)
    .option('--manage', 'manage each subcloud once it is online')
    .option(
      '--source-ip-range <a-b>',
      'spread uplinks over these source addresses, e.g. 127.0.0.2-127.0.0.250',
    )
    .option(
      '--cache-dir <dir>',
      'keys and certificates kept between runs (default ~/.cache/murm-sim/<host>-<port>)',
    )
    .addHelpText(
      'after',
      `
Standard input takes knobs, one per line, each answered by one JSON line on standard output:
  stats · cut COUNT HOLD_SECONDS · alarms NAME CRITICAL MAJOR MINOR WARNING
Progress (enrolled n/N, connected n/N) goes to standard error every second.

Examples:
  murm sim --subclouds 1000 --controller https://127.0.0.1:7443 --ca ./data/pki/ca.crt --manage
  murm sim --subclouds 20000 --processes 4 --alarm-rate 50 --source-ip-range 127.0.0.2-127.0.0.250 \\
    --controller https://127.0.0.1:7443 --ca ./data/pki/ca.crt`,
    )
    .action(async (flags: SimFlags, command: Command) => {
      // Loaded here so that other commands do not pay for ws, x509 and the simulator at start.
      const { SIM_CHILD_ENV, runSimChild } = await import('../dcloud/sim-children.js');
      if (process.env[SIM_CHILD_ENV] === '1') return runSimChild();
      const caFile = globalOptions(command).ca ?? (process.env.MURM_CA || undefined);
      if (caFile === undefined) {
        command.error("error: required option '--ca <file>' not specified (the system controller's CA)", {
          exitCode: 2,
          code: 'murm.missingCa',
        });
      }
      const connection = resolveConnection({ ...globalOptions(command), url: flags.controller }, process.env);
      const token = flags.token ?? connection?.token;
      if (token === undefined) {
        throw new AppError(
          'unauthenticated',
          `no admin token for ${flags.controller}: pass --token, set MURM_TOKEN or run "murm login"`,
        );
      }
      await runSim(flags, path.resolve(caFile), token);
    });
}

async function runSim(flags: SimFlags, caPath: string, token: string): Promise<void> {
  const [{ startSim }, { attachSimControl }] = await Promise.all([
    import('../dcloud/sim.js'),
    import('../dcloud/sim-control.js'),
  ]);
  const sim = await startSim({
    controller: flags.controller,
    uplink: flags.uplink,
    caPath,
    token,
    subclouds: flags.subclouds,
    prefix: flags.prefix,
    processes: flags.processes ?? Math.ceil(flags.subclouds / SUBCLOUDS_PER_PROCESS),
    alarmRate: flags.alarmRate,
    disconnectRate: flags.disconnectRate,
    isManaged: flags.manage === true,
    sourceIpRange: flags.sourceIpRange,
    cacheDir: flags.cacheDir === undefined ? undefined : path.resolve(flags.cacheDir),
    softwareVersion: packageVersion(),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const detach = attachSimControl(sim, process.stdin, (line) => process.stdout.write(`${line}\n`));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  detach();
  process.stderr.write('sim: closing the uplinks\n');
  await sim.stop();
  // Anything still pending (enroll requests, stdin) must not keep the process alive.
  process.exit(0);
}

/** The version a simulated subcloud reports: this package's (the bundle sits one level below it). */
function packageVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const file = new URL(relative, import.meta.url);
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}
