import { invalidInput } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { SyncSource, SyncTarget } from '../dcloud/sync.js';
import type { FleetCa, TrustedCas } from './trust-service.js';

/** System controller: the fleet-wide trusted CAs (`{ fingerprint, pem }`, by fingerprint). */
export function trustedCaSyncSource(trustedCas: TrustedCas): SyncSource {
  return {
    endpoint: 'certificates',
    desired: async () => trustedCas.listFleetWide(),
    onChange: (listener) => trustedCas.onFleetChange(listener),
  };
}

/**
 * Subcloud: the local copies of the fleet-wide trusted CAs. `apply` replaces them in one transaction
 * (the trusted bundle follows at once) and logs what it did, since sync changes reach the site without
 * an HTTP request for the audit hooks to see. Throws `invalid_input` on a malformed resource.
 */
export function trustedCaSyncTarget(trustedCas: TrustedCas, logger: Logger): SyncTarget {
  return {
    endpoint: 'certificates',
    current: async () => trustedCas.listFleetWide(),
    async apply(resources) {
      const changes = await trustedCas.applyFleetWide(resources.map(parseFleetCa));
      logger.info(
        {
          endpoint: 'certificates',
          added: changes.added,
          removed: changes.removed,
          unchangedCount: changes.unchangedCount,
          conflictCount: changes.conflicts.length,
        },
        `applied fleet-wide trusted CAs from the system controller: ${changes.added.length} added, ${changes.removed.length} removed`,
      );
      if (changes.conflicts.length > 0) {
        logger.warn(
          { endpoint: 'certificates', fingerprints: changes.conflicts },
          'fleet-wide CAs are trusted here as local CAs and were left alone; remove the local ones to receive the fleet-wide ones',
        );
      }
    },
    onChange: (listener) => trustedCas.onFleetChange(listener),
  };
}

function parseFleetCa(value: unknown): FleetCa {
  const item = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof item.fingerprint !== 'string' || typeof item.pem !== 'string') {
    throw invalidInput('pem', 'a fleet-wide trusted CA needs a "fingerprint" and a "pem"');
  }
  return { fingerprint: item.fingerprint, pem: item.pem };
}
