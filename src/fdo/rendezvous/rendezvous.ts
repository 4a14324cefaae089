import type { Registry } from 'prom-client';
import type { Clock } from '../../core/clock.js';
import type { Database } from '../../core/db/database.js';
import { AppError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { registerRendezvousMetrics } from './metrics.js';
import { DEFAULT_RENDEZVOUS_SETTINGS, type RendezvousSettings } from './model.js';
import { RendezvousProtocol } from './protocol.js';
import { RendezvousRegistrations } from './service.js';
import { RendezvousStore } from './store.js';

/** The rendezvous parts the composition root wires: admin use cases and the protocol engine. */
export interface Rendezvous {
  readonly registrations: RendezvousRegistrations;
  readonly protocol: RendezvousProtocol;
}

/** Builds the rendezvous on a migrated database; with a registry, its counters go to `/metrics`. */
export function createRendezvous(parts: {
  database: Database;
  clock: Clock;
  logger: Logger;
  settings: RendezvousSettings;
  registry?: Registry | undefined;
}): Rendezvous {
  const logger = parts.logger.child({ component: 'fdo' });
  const registrations = new RendezvousRegistrations(new RendezvousStore(parts.database), parts.clock, logger);
  let protocol: RendezvousProtocol | undefined;
  const metrics = parts.registry
    ? registerRendezvousMetrics(parts.registry, {
        countRegistrations: () => registrations.countLive(),
        liveSessions: () => protocol?.liveSessions ?? 0,
      })
    : undefined;
  protocol = new RendezvousProtocol({
    registrations,
    settings: parts.settings,
    clock: parts.clock,
    logger,
    metrics,
  });
  return { registrations, protocol };
}

const SETTINGS_ENV: Record<keyof RendezvousSettings, string> = {
  maxWaitSeconds: 'MURM_FDO_MAX_WAIT_SECONDS',
  sessionTtlSeconds: 'MURM_FDO_SESSION_TTL',
  maxSessions: 'MURM_FDO_MAX_SESSIONS',
  ratePerSecond: 'MURM_FDO_RATE',
  rateBurst: 'MURM_FDO_RATE_BURST',
};

/** Rendezvous tunables from the environment (see SETTINGS_ENV); throws `invalid_input` naming the variable. */
export function resolveRendezvousSettings(env: Record<string, string | undefined>): RendezvousSettings {
  const settings = { ...DEFAULT_RENDEZVOUS_SETTINGS };
  for (const [key, name] of Object.entries(SETTINGS_ENV) as [keyof RendezvousSettings, string][]) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0 || value > 0xffffffff) {
      throw new AppError('invalid_input', `${name}="${text}" is not a positive integer`, { field: name });
    }
    settings[key] = value;
  }
  return settings;
}
