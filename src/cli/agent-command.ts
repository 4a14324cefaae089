import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createLogger, LOG_LEVELS, type LogLevel } from '../core/log.js';
import { globalOptions } from './session.js';

interface AgentFlags {
  controller: string;
  token?: string;
  root: string;
  stateDir?: string;
  sysfs?: string;
  procfs?: string;
  devicePluginDir?: string;
  ptpHoldoverSeconds?: number;
  ptpToleranceNs?: number;
  ptpMajorToleranceNs?: number;
  ptpPollIntervalMs?: number;
  logLevel: LogLevel;
}

/**
 * Adds `murm agent`, the host agent. Like `serve` it runs until SIGTERM/SIGINT instead of calling the
 * API; `--ca` is the global option, here the site CA that signed the controller's certificate.
 */
export function addAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the host agent: enroll once, then keep this host configured by its controller')
    .requiredOption('--controller <url>', 'controller URL, https://HOST:PORT')
    .addOption(
      new Option('--token <token>', 'one-time enrollment token from "murm host add" (first start only)').env(
        'MURM_AGENT_TOKEN',
      ),
    )
    .requiredOption('--root <dir>', 'directory the rendered configuration is written under; / on a real host')
    .option(
      '--state-dir <dir>',
      'agent key, certificate and applied revision (default <root>/var/lib/murm-agent)',
    )
    .option(
      '--sysfs <dir>',
      'where sysfs is mounted, read for CPU, NUMA and network discovery (default /sys)',
    )
    .option('--procfs <dir>', 'where procfs is mounted, read for CPU model and memory (default /proc)')
    .option(
      '--device-plugin-dir <dir>',
      "kubelet's device-plugin directory; serves isolated CPUs as murmuration.dev/isolcpus (usually /var/lib/kubelet/device-plugins)",
    )
    .addOption(
      new Option('--ptp-holdover-seconds <s>', 'PTP: HOLDOVER lasts this long before FREERUN (default 30)')
        .env('MURM_PTP_HOLDOVER_SECONDS')
        .argParser(nonNegative('--ptp-holdover-seconds')),
    )
    .addOption(
      new Option('--ptp-tolerance-ns <ns>', 'PTP: |offset| above this raises 100.119 minor (default 1000)')
        .env('MURM_PTP_TOLERANCE_NS')
        .argParser(nonNegative('--ptp-tolerance-ns')),
    )
    .addOption(
      new Option(
        '--ptp-major-tolerance-ns <ns>',
        'PTP: |offset| above this raises 100.119 major and is no longer LOCKED (default 1000000)',
      )
        .env('MURM_PTP_MAJOR_TOLERANCE_NS')
        .argParser(nonNegative('--ptp-major-tolerance-ns')),
    )
    .addOption(
      new Option('--ptp-poll-interval-ms <ms>', 'PTP: time between pmc polls of each ptp4l (default 1000)')
        .env('MURM_PTP_POLL_INTERVAL_MS')
        .argParser(nonNegative('--ptp-poll-interval-ms')),
    )
    .addOption(
      new Option('--log-level <level>', 'log verbosity')
        .choices(LOG_LEVELS)
        .env('MURM_LOG_LEVEL')
        .default('info'),
    )
    .addHelpText(
      'after',
      `
The agent enrolls on its first start with the token "murm host add" printed, keeping its key and
certificate in the state directory; later starts need no token. It then holds a mutual-TLS WebSocket
to the controller, reports what it discovers and writes the files the controller renders under --root.
Pass the token through MURM_AGENT_TOKEN rather than --token to keep it out of shell history.
Each ptp4l instance of the applied PTP configuration is polled through pmc on its uds_address and its
LOCKED/HOLDOVER/FREERUN state, clock class, offset and 100.119 alarms are reported to the controller;
the --ptp-* options tune that (defaults as in StarlingX).
--ca (or MURM_CA; required) is the site CA file "murm serve" printed (<data-dir>/pki/ca.crt).

Examples:
  MURM_AGENT_TOKEN=… murm agent --controller https://controller-0:7443 --ca /etc/murm/ca.crt --root /
  murm agent --controller https://controller-0:7443 --ca /etc/murm/ca.crt --root / \\
    --device-plugin-dir /var/lib/kubelet/device-plugins
  murm agent --controller https://127.0.0.1:7443 --ca ./data/pki/ca.crt --root /tmp/host \\
    --sysfs ./test/fixtures/hosts/no-smt/sys --procfs ./test/fixtures/hosts/no-smt/proc`,
    )
    .action(async (flags: AgentFlags, command: Command) => {
      // An empty MURM_CA counts as unset, as in the other commands.
      const caFile = globalOptions(command).ca ?? (process.env.MURM_CA || undefined);
      if (caFile === undefined) {
        command.error("error: required option '--ca <file>' not specified (the site CA file)", {
          exitCode: 2,
          code: 'murm.missingCa',
        });
      }
      await runAgent(flags, path.resolve(caFile));
    });
}

function nonNegative(flag: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isFinite(number) || number < 0) {
      throw new InvalidArgumentError(`${flag} must be a number ≥ 0, got "${value}"`);
    }
    return number;
  };
}

/** Runs the agent until SIGTERM or SIGINT, then stops it: the channel closes cleanly and nothing reconnects. */
async function runAgent(flags: AgentFlags, caFile: string): Promise<void> {
  // Loaded here so that other commands do not pay for ws, discovery and the runtime at start.
  const { startAgent } = await import('../agent/runtime.js');
  const logger = createLogger(flags.logLevel);
  const root = path.resolve(flags.root);
  const discovery = {
    ...(flags.sysfs === undefined ? {} : { sysfs: path.resolve(flags.sysfs) }),
    ...(flags.procfs === undefined ? {} : { procfs: path.resolve(flags.procfs) }),
  };
  const agent = await startAgent({
    controller: flags.controller,
    caFile,
    token: flags.token,
    root,
    stateDir: flags.stateDir === undefined ? undefined : path.resolve(flags.stateDir),
    discovery,
    devicePluginDir: flags.devicePluginDir === undefined ? undefined : path.resolve(flags.devicePluginDir),
    ptp: {
      holdoverSeconds: flags.ptpHoldoverSeconds,
      toleranceNs: flags.ptpToleranceNs,
      majorToleranceNs: flags.ptpMajorToleranceNs,
      pollIntervalMs: flags.ptpPollIntervalMs,
    },
    logger,
  });
  logger.info({ hostname: agent.hostname, controller: flags.controller, root }, 'agent started');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'stopping the agent');
  // A second signal means the operator will not wait for a clean stop.
  const forceExit = () => process.exit(1);
  process.once('SIGTERM', forceExit);
  process.once('SIGINT', forceExit);
  await agent.stop();
  process.off('SIGTERM', forceExit);
  process.off('SIGINT', forceExit);
  logger.flush();
}
