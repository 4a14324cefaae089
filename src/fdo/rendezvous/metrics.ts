import { Counter, Gauge, type Registry } from 'prom-client';

const SERVED = new Set([20, 22, 30, 32, 255]);

/** What the rendezvous counts; `/metrics` of the API process shows it. */
export interface RendezvousMetrics {
  /** A message answered: its type and the outcome ("ok" or the FDO error code). */
  message(type: number, outcome: string): void;
  rateLimited(): void;
}

/** Counters on the given registry; `countRegistrations` and `liveSessions` are read at scrape time. */
export function registerRendezvousMetrics(
  registry: Registry,
  sources: { countRegistrations: () => Promise<number>; liveSessions: () => number },
): RendezvousMetrics {
  const messages = new Counter({
    name: 'murm_fdo_messages_total',
    help: 'FDO rendezvous messages answered, by message type and outcome (ok or the FDO error code).',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const limited = new Counter({
    name: 'murm_fdo_rate_limited_total',
    help: 'FDO exchanges (messages 20 and 30) refused by the per-address rate limit.',
    registers: [registry],
  });
  new Gauge({
    name: 'murm_fdo_registrations',
    help: 'Live FDO rendezvous registrations (TO0) not yet expired.',
    registers: [registry],
    async collect() {
      this.set(await sources.countRegistrations());
    },
  });
  new Gauge({
    name: 'murm_fdo_protocol_sessions',
    help: 'FDO protocol exchanges in progress (a 20 or 30 answered, its 22 or 32 not yet received).',
    registers: [registry],
    collect() {
      this.set(sources.liveSessions());
    },
  });
  return {
    // Peers choose the type in the URL: anything but the served messages shares one label value.
    message: (type, outcome) => messages.inc({ type: SERVED.has(type) ? String(type) : 'other', outcome }),
    rateLimited: () => limited.inc(),
  };
}
