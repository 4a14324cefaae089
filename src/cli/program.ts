import * as assert from 'node:assert/strict';
import { Command, CommanderError, Option } from 'commander';
import { AppError, type ErrorCode } from '../core/errors.js';
import { addAlarmCommands } from './alarm-commands.js';
import { addAuditCommands } from './audit-commands.js';
import { addAuthCommands } from './auth-commands.js';
import { addCertCommands } from './cert-commands.js';
import { CheckFailedError } from './check-failed.js';
import { addDcAlarmCommands } from './dc-alarm-commands.js';
import { addDcCommands } from './dc-join-command.js';
import { addEventCommands } from './event-commands.js';
import { addFdoCommands } from './fdo-commands.js';
import { addHostCommands } from './host-commands.js';
import { OUTPUT_FORMATS } from './output.js';
import { addPtpCommands } from './ptp-commands.js';
import { addHostPtpCommands } from './ptp-host-commands.js';
import { addSubcloudCommands } from './subcloud-commands.js';
import { addSubcloudGroupCommands } from './subcloud-group-commands.js';
import { addSystemCommands } from './system-commands.js';
import { addUserCommands } from './user-commands.js';
import { addAlarmWebhookCommands } from './webhook-commands.js';

/** CLI exit codes: scripts can tell usage, auth, not-found, conflict and unavailable apart. */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  forbidden: 4,
  notFound: 5,
  conflict: 6,
  unavailable: 7,
} as const;

/** Exit code per error code; a new code does not compile until it is mapped here. */
const EXIT_BY_CODE: Record<ErrorCode, number> = {
  invalid_input: EXIT_CODES.usage,
  payload_too_large: EXIT_CODES.usage,
  unsupported_media_type: EXIT_CODES.usage,
  unauthenticated: EXIT_CODES.auth,
  password_expired: EXIT_CODES.auth,
  account_locked: EXIT_CODES.auth,
  forbidden: EXIT_CODES.forbidden,
  not_found: EXIT_CODES.notFound,
  conflict: EXIT_CODES.conflict,
  precondition_failed: EXIT_CODES.conflict,
  unavailable: EXIT_CODES.unavailable,
  internal: EXIT_CODES.failure,
};

/** The `murm` command tree with its global options. */
export function buildProgram(): Command {
  const program = new Command('murm')
    .description('Murmuration: control plane for edge clouds')
    .option('--url <url>', 'API URL (default: env MURM_URL, or the URL of "murm login")')
    .option(
      '--ca <file>',
      'CA certificate that signed the server certificate (default: env MURM_CA, or the CA of "murm login")',
    )
    .addOption(
      new Option('-o, --output <format>', 'output of read commands').choices(OUTPUT_FORMATS).default('table'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .addHelpText(
      'after',
      `
Environment: MURM_URL, MURM_CA, MURM_TOKEN (override the stored login), MURM_PASSWORD,
MURM_NEW_PASSWORD, MURM_WEBHOOK_SECRET (instead of prompts), MURM_CONFIG_DIR (where "murm login" keeps
credentials).
Exit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 not authenticated, 4 forbidden,
5 not found, 6 conflict, 7 server unavailable.

Examples:
  murm login --url https://127.0.0.1:7443 --ca ./data/pki/ca.crt
  murm whoami
  murm user create alice --roles operator
  murm user list -o json
  murm audit list --user alice --since 24h
  murm audit verify
  murm alarm list --severity critical
  murm alarm watch
  murm alarm-webhook add https://noc.example/hooks --min-severity major
  murm event list --since 24h
  murm cert list --expiring-within 30d
  murm system show
  murm host add worker-0 --personality worker
  murm host list
  murm ptp instance add ptp1 --service ptp4l
  murm subcloud add edge-1 --bundle-file edge-1.bundle
  murm subcloud list --availability offline
  murm subcloud-group add east --update-apply-type serial
  murm dc alarm summary
  murm fdo registration list`,
    );
  addAuthCommands(program);
  addUserCommands(program);
  addAuditCommands(program);
  addAlarmCommands(program);
  addEventCommands(program);
  addAlarmWebhookCommands(program);
  addCertCommands(program);
  addSystemCommands(program);
  addHostCommands(program);
  const host = program.commands.find((command) => command.name() === 'host');
  assert.ok(host, 'addHostCommands added "host"');
  addHostPtpCommands(host);
  addPtpCommands(program);
  addSubcloudCommands(program);
  addSubcloudGroupCommands(program);
  addDcAlarmCommands(addDcCommands(program));
  addFdoCommands(program);
  return program;
}

/** Parses and runs; prints one actionable line on failure and exits with the mapped code. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  // `murm alarm list | head` closes the pipe early; that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_CODES.ok);
    throw error;
  });
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has already printed the message (or the help text, which is not an error).
    return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
  }
  if (error instanceof CheckFailedError) {
    process.stderr.write(`murm: ${error.message}\n`);
    return EXIT_CODES.failure;
  }
  if (error instanceof AppError) {
    process.stderr.write(`murm: ${error.message}\n`);
    return EXIT_BY_CODE[error.code];
  }
  process.stderr.write(`murm: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT_CODES.failure;
}
