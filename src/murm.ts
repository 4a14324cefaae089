import type { Command } from 'commander';
import { addAgentCommand } from './cli/agent-command.js';
import { addRendezvousCommand } from './cli/fdo-commands.js';
import { buildProgram, runProgram } from './cli/program.js';
import { DEFAULT_LISTEN } from './core/config.js';

interface ServeCommandFlags {
  dataDir?: string;
  listen?: string;
  database?: string;
  logLevel?: string;
  systemType?: string;
  localAgent?: boolean;
  systemController?: boolean;
  join?: string;
  oranListen?: string;
  fdoListen?: string;
}

/** Adds `murm serve`, the one command that runs a server instead of calling one. */
function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run a site controller (HTTPS API) with its data under --data-dir')
    .option('--data-dir <dir>', 'where the database, PKI and audit log live (env MURM_DATA_DIR)', undefined)
    .option('--listen <host:port>', `address to listen on (env MURM_LISTEN; default ${DEFAULT_LISTEN})`)
    .option(
      '--database <url>',
      'postgres://… URL, or sqlite:<file> (env MURM_DATABASE; default SQLite in the data dir)',
    )
    .option(
      '--log-level <level>',
      'fatal|error|warn|info|debug|trace|silent (env MURM_LOG_LEVEL; default info)',
    )
    .option(
      '--system-type <type>',
      'all-in-one|standard, used on the first start only (env MURM_SYSTEM_TYPE; default all-in-one)',
    )
    .option(
      '--system-controller',
      'manage subclouds: the distributed-cloud module (env MURM_SYSTEM_CONTROLLER=1)',
    )
    .option(
      '--join <bundle>',
      'join the system controller of this bundle from "murm subcloud add" (env MURM_JOIN_BUNDLE)',
    )
    .option(
      '--oran-listen <host:port>',
      'serve the O-RAN O-Cloud Notification API v2 (plain HTTP, no token) here; bind a management address (env MURM_ORAN_LISTEN; default off)',
    )
    .option(
      '--fdo-listen <host:port>',
      'serve the FDO rendezvous (TO0/TO1, plain HTTP, no token) here for devices and owners (env MURM_FDO_LISTEN; default off)',
    )
    .option(
      '--no-local-agent',
      "don't run controller-0's host agent in this process (env MURM_LOCAL_AGENT=0)",
    )
    .addHelpText(
      'after',
      `
Environment: MURM_ADMIN_PASSWORD (bootstrap admin password on first start), MURM_TOKEN_TTL (seconds, 3600),
MURM_PASSWORD_MIN_LENGTH (12), MURM_PASSWORD_HISTORY (5), MURM_LOCKOUT_ATTEMPTS (5),
MURM_LOCKOUT_SECONDS (1800), MURM_PASSWORD_MAX_AGE_DAYS (90), MURM_HEARTBEAT_INTERVAL_MS (agent heartbeat,
5000), MURM_HEARTBEAT_MISSED (heartbeats missed before a host is offline, 3), MURM_UPLINK_PING_INTERVAL_MS (system
controller: subcloud uplink pings, 3000; two missed make a subcloud offline), MURM_UPLINK_WORKERS (system controller:
uplink worker processes, 0 = uplinks on the API listener), MURM_UPLINK_LISTEN (their listener; default API port + 1).
FDO rendezvous: MURM_FDO_MAX_WAIT_SECONDS (longest registration granted, 2592000), MURM_FDO_SESSION_TTL
(seconds to finish an exchange, 120), MURM_FDO_MAX_SESSIONS (100000), MURM_FDO_RATE and MURM_FDO_RATE_BURST
(new exchanges per second per address, 50 and 100).

Examples:
  murm serve                                   # ./data, https://127.0.0.1:7443
  murm serve --listen 0.0.0.0:7443 --data-dir /var/lib/murm
  murm serve --database postgres://murm@db.example:5432/murm
  murm serve --system-controller               # manages subclouds
  murm serve --oran-listen 10.10.0.2:8080      # O-RAN PTP notifications for workloads on the cluster network
  murm serve --fdo-listen 0.0.0.0:8040         # FDO rendezvous for devices onboarding
  murm serve --join murm-join:eyJ…              # a subcloud joining its system controller`,
    )
    .action(async (flags: ServeCommandFlags) => {
      const [{ resolveServeConfig }, { serve }] = await Promise.all([
        import('./core/config.js'),
        import('./main.js'),
      ]);
      // Commander sets localAgent to true unless --no-local-agent was given; only the flag overrides the env.
      const { localAgent, ...rest } = flags;
      const serveFlags = localAgent === false ? { ...rest, localAgent } : rest;
      await serve(resolveServeConfig(serveFlags, process.env, process.cwd()));
    });
}

const program = buildProgram();
addServeCommand(program);
addAgentCommand(program);
addRendezvousCommand(program);
(await import('./cli/sim-command.js')).addSimCommand(program);
// Hidden: a system controller's uplink worker process, forked by `murm serve` (MURM_UPLINK_WORKERS).
program
  .command('uplink-worker', { hidden: true })
  .action(async () => (await import('./dcloud/uplink-worker-main.js')).runUplinkWorker());
await runProgram(program, process.argv);
