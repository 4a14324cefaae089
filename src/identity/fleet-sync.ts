import type { Logger } from '../core/log.js';
import type { SyncSource, SyncTarget } from '../dcloud/sync.js';
import { parseFleetUser } from './model.js';
import type { IdentityService } from './service.js';

/** System controller: the fleet-wide users (`{ name, roles, passwordHash, isEnabled }`, by name). */
export function identitySyncSource(identity: IdentityService): SyncSource {
  return {
    endpoint: 'identity',
    desired: () => identity.listFleetUsers(),
    onChange: (listener) => identity.onFleetChange(listener),
  };
}

/**
 * Subcloud: the local copies of the fleet-wide users. `apply` replaces them in one transaction and logs
 * what it did, since sync changes reach the site without an HTTP request for the audit hooks to see.
 * Throws `invalid_input` on a malformed resource (and then changes nothing).
 */
export function identitySyncTarget(identity: IdentityService, logger: Logger): SyncTarget {
  return {
    endpoint: 'identity',
    current: () => identity.listFleetUsers(),
    async apply(resources) {
      const plan = await identity.applyFleetUsers(resources.map(parseFleetUser));
      logger.info(
        {
          endpoint: 'identity',
          created: plan.create.map((user) => user.name),
          updated: plan.update.map((user) => user.name),
          removed: plan.remove,
          unchangedCount: plan.unchangedCount,
          conflictCount: plan.conflicts.length,
        },
        `applied fleet-wide users from the system controller: ${plan.create.length} created, ${plan.update.length} updated, ${plan.remove.length} removed`,
      );
      if (plan.conflicts.length > 0) {
        logger.warn(
          { endpoint: 'identity', users: plan.conflicts },
          'local users have the names of fleet-wide users and were left alone; delete them here to receive the fleet-wide ones',
        );
      }
    },
    onChange: (listener) => identity.onFleetChange(listener),
  };
}
