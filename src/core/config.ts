import path from 'node:path';
import { AppError } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

/** Everything `murm serve` needs to start; resolved once from flags, then environment, then defaults. */
export interface ServeConfig {
  dataDir: string;
  listen: { host: string; port: number };
  /** `sqlite:<file>` or a `postgres://` URL. */
  database: string;
  logLevel: LogLevel;
  adminPassword: string | undefined;
  tokenTtlSeconds: number;
  passwordPolicy: PasswordPolicyConfig;
  /** Most event-log records kept; the oldest are removed in batches beyond it. */
  eventLogMax: number;
  /** Seconds between full certificate audits. */
  certAuditIntervalSeconds: number;
  /** Agents heartbeat this often; a host that misses `heartbeatMissed` in a row is offline. */
  heartbeatIntervalMs: number;
  heartbeatMissed: number;
  /** Lifetime of the client certificates issued to host agents (default 365 days; agents renew in the last third). */
  agentCertificateLifetimeSeconds?: number;
  /** Set on the first start only: what kind of system this site is. */
  systemType: 'All-in-one' | 'Standard';
  /** Run an agent for controller-0 inside the server process (the all-in-one default). */
  localAgent: boolean;
  /** Enable the distributed-cloud module: this site manages subclouds. */
  systemController: boolean;
  /** A join bundle from `murm subcloud add` on a system controller, used on start when not joined yet. */
  joinBundle: string | undefined;
  /** Uplink ping interval (system controller); two missed pings make a subcloud offline. */
  uplinkPingIntervalMs: number;
  /** System controller: uplink worker processes (0: uplinks terminate on the API listener, in process). */
  uplinkWorkers?: number;
  /** Where the uplink workers listen (default: the API host, port + 1; 0 stays 0). */
  uplinkListen?: { host: string; port: number };
  /** Where the O-RAN O-Cloud Notification API v2 listens (plain HTTP, no token); off when undefined. */
  oranListen?: { host: string; port: number } | undefined;
  /** Where the FDO rendezvous (TO0/TO1) listens (plain HTTP, no token); off when undefined. */
  fdoListen?: { host: string; port: number } | undefined;
}

/** Tunables of the password and lockout policy (StarlingX defaults). */
export interface PasswordPolicyConfig {
  minLength: number;
  historyDepth: number;
  maxFailedAttempts: number;
  lockoutSeconds: number;
  maxAgeDays: number;
}

export const DEFAULT_PASSWORD_POLICY: PasswordPolicyConfig = {
  minLength: 12,
  historyDepth: 5,
  maxFailedAttempts: 5,
  lockoutSeconds: 1800,
  maxAgeDays: 90,
};

export const DEFAULT_LISTEN = '127.0.0.1:7443';

/** Flags as given on the command line; undefined means "not given". */
export interface ServeFlags {
  dataDir?: string | undefined;
  listen?: string | undefined;
  database?: string | undefined;
  logLevel?: string | undefined;
  systemType?: string | undefined;
  /** false when `--no-local-agent` was given. */
  localAgent?: boolean | undefined;
  systemController?: boolean | undefined;
  join?: string | undefined;
  oranListen?: string | undefined;
  fdoListen?: string | undefined;
}

type Env = Record<string, string | undefined>;

/** Resolves serve configuration; throws `invalid_input` naming the flag or variable that is wrong. */
export function resolveServeConfig(flags: ServeFlags, env: Env, cwd: string): ServeConfig {
  const dataDir = path.resolve(cwd, flags.dataDir ?? env.MURM_DATA_DIR ?? 'data');
  const listen = parseListen(flags.listen ?? env.MURM_LISTEN ?? DEFAULT_LISTEN);
  const databaseSetting = flags.database ?? env.MURM_DATABASE;
  const logLevel = flags.logLevel ?? env.MURM_LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new AppError('invalid_input', `log level "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`, {
      field: '--log-level',
    });
  }
  return {
    dataDir,
    listen,
    database: resolveDatabase(databaseSetting, dataDir),
    logLevel: logLevel as LogLevel,
    adminPassword: env.MURM_ADMIN_PASSWORD || undefined,
    tokenTtlSeconds: positiveInt(env, 'MURM_TOKEN_TTL', 3600),
    eventLogMax: positiveInt(env, 'MURM_EVENT_LOG_MAX', 100_000),
    certAuditIntervalSeconds: positiveInt(env, 'MURM_CERT_AUDIT_INTERVAL', 3600),
    heartbeatIntervalMs: positiveInt(env, 'MURM_HEARTBEAT_INTERVAL_MS', 5000),
    heartbeatMissed: positiveInt(env, 'MURM_HEARTBEAT_MISSED', 3),
    agentCertificateLifetimeSeconds: positiveInt(env, 'MURM_AGENT_CERT_LIFETIME_SECONDS', 365 * 86_400),
    systemType: parseSystemType(flags.systemType ?? env.MURM_SYSTEM_TYPE ?? 'all-in-one'),
    localAgent: flags.localAgent ?? env.MURM_LOCAL_AGENT !== '0',
    systemController: flags.systemController ?? env.MURM_SYSTEM_CONTROLLER === '1',
    joinBundle: flags.join ?? (env.MURM_JOIN_BUNDLE || undefined),
    uplinkPingIntervalMs: positiveInt(env, 'MURM_UPLINK_PING_INTERVAL_MS', 3000),
    uplinkWorkers: env.MURM_UPLINK_WORKERS === '0' ? 0 : positiveInt(env, 'MURM_UPLINK_WORKERS', 0),
    uplinkListen: env.MURM_UPLINK_LISTEN
      ? parseListen(env.MURM_UPLINK_LISTEN, 'MURM_UPLINK_LISTEN')
      : { host: listen.host, port: listen.port === 0 ? 0 : listen.port + 1 },
    oranListen: resolveOranListen(flags.oranListen, env.MURM_ORAN_LISTEN),
    fdoListen: resolveFdoListen(flags.fdoListen, env.MURM_FDO_LISTEN),
    passwordPolicy: {
      minLength: positiveInt(env, 'MURM_PASSWORD_MIN_LENGTH', DEFAULT_PASSWORD_POLICY.minLength),
      historyDepth: positiveInt(env, 'MURM_PASSWORD_HISTORY', DEFAULT_PASSWORD_POLICY.historyDepth),
      maxFailedAttempts: positiveInt(env, 'MURM_LOCKOUT_ATTEMPTS', DEFAULT_PASSWORD_POLICY.maxFailedAttempts),
      lockoutSeconds: positiveInt(env, 'MURM_LOCKOUT_SECONDS', DEFAULT_PASSWORD_POLICY.lockoutSeconds),
      maxAgeDays: positiveInt(env, 'MURM_PASSWORD_MAX_AGE_DAYS', DEFAULT_PASSWORD_POLICY.maxAgeDays),
    },
  };
}

function resolveDatabase(setting: string | undefined, dataDir: string): string {
  if (setting === undefined || setting === '') return `sqlite:${path.join(dataDir, 'murm.db')}`;
  if (setting.startsWith('postgres://') || setting.startsWith('postgresql://')) return setting;
  if (setting.startsWith('sqlite:'))
    return `sqlite:${path.resolve(dataDir, setting.slice('sqlite:'.length))}`;
  throw new AppError(
    'invalid_input',
    `database "${setting}" is neither a postgres:// URL nor sqlite:<file>`,
    {
      field: '--database',
    },
  );
}

/** Parses `host:port` (IPv6 as `[::1]:7443`). */
function parseListen(value: string, field = '--listen'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (!match || host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new AppError(
      'invalid_input',
      `listen address "${value}" is not host:port (e.g. ${DEFAULT_LISTEN})`,
      { field },
    );
  }
  return { host, port };
}

function resolveOranListen(
  flag: string | undefined,
  envValue: string | undefined,
): ServeConfig['oranListen'] {
  if (flag !== undefined) return parseListen(flag, '--oran-listen');
  return envValue ? parseListen(envValue, 'MURM_ORAN_LISTEN') : undefined;
}

function resolveFdoListen(flag: string | undefined, envValue: string | undefined): ServeConfig['fdoListen'] {
  if (flag !== undefined) return parseListen(flag, '--fdo-listen');
  return envValue ? parseListen(envValue, 'MURM_FDO_LISTEN') : undefined;
}

function parseSystemType(value: string): ServeConfig['systemType'] {
  const normalized = value.toLowerCase();
  if (normalized === 'all-in-one') return 'All-in-one';
  if (normalized === 'standard') return 'Standard';
  throw new AppError('invalid_input', `system type "${value}" is not all-in-one or standard`, {
    field: '--system-type',
  });
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new AppError('invalid_input', `${name}="${raw}" must be a positive whole number`, { field: name });
  }
  return value;
}
