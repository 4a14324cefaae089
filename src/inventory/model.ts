/**
 * Inventory rules as pure functions: system mode migration, which hosts a system may have, and the
 * host state machine (administrative lock/unlock, availability from the agent's heartbeats).
 * StarlingX facts: sysinv's system.py and host.py (reference §5).
 */

export const SYSTEM_TYPES = ['All-in-one', 'Standard'] as const;
export type SystemType = (typeof SYSTEM_TYPES)[number];
export const SYSTEM_MODES = ['simplex', 'duplex'] as const;
export type SystemMode = (typeof SYSTEM_MODES)[number];
export const PERSONALITIES = ['controller', 'worker', 'storage'] as const;
export type Personality = (typeof PERSONALITIES)[number];
export const ADMINISTRATIVE_STATES = ['locked', 'unlocked'] as const;
export type AdministrativeState = (typeof ADMINISTRATIVE_STATES)[number];
export const OPERATIONAL_STATES = ['enabled', 'disabled'] as const;
export type OperationalState = (typeof OPERATIONAL_STATES)[number];
export const AVAILABILITIES = ['available', 'degraded', 'failed', 'offline', 'online', 'intest'] as const;
export type Availability = (typeof AVAILABILITIES)[number];

/** The site controller's own host, created on first start. */
export const FIRST_CONTROLLER = 'controller-0';
const CONTROLLER_NAMES = ['controller-0', 'controller-1'];
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface SystemFacts {
  systemType: SystemType;
  mode: SystemMode;
}

export interface HostFacts {
  hostname: string;
  personality: Personality;
  administrative: AdministrativeState;
  availability: Availability;
}

/** A refused change: the error code for the edges and a sentence that says what to do. */
export interface Refusal {
  code: 'invalid_input' | 'conflict' | 'precondition_failed';
  reason: string;
}

/** Subfunctions a new host gets: an All-in-one controller also runs workloads. */
export function defaultSubfunctions(systemType: SystemType, personality: Personality): string[] {
  return personality === 'controller' && systemType === 'All-in-one'
    ? ['controller', 'worker']
    : [personality];
}

/**
 * Whether a host may be added. StarlingX: controllers are named controller-0/1; an All-in-one simplex
 * system is controller-0 alone (adding a second controller needs the duplex migration first); storage
 * hosts need a Standard system.
 */
export function checkHostAdd(
  system: SystemFacts,
  hosts: readonly HostFacts[],
  candidate: { hostname: string; personality: Personality },
): Refusal | undefined {
  const { hostname, personality } = candidate;
  if (!HOSTNAME.test(hostname)) {
    return {
      code: 'invalid_input',
      reason: `"${hostname}" is not a valid host name: lowercase letters, digits and "-", at most 63 characters`,
    };
  }
  if (hosts.some((host) => host.hostname === hostname)) {
    return { code: 'conflict', reason: `host ${hostname} already exists` };
  }
  if (personality === 'controller' && !CONTROLLER_NAMES.includes(hostname)) {
    return { code: 'invalid_input', reason: 'controllers are named controller-0 and controller-1' };
  }
  if (personality !== 'controller' && CONTROLLER_NAMES.includes(hostname)) {
    return { code: 'invalid_input', reason: `${hostname} is reserved for a controller` };
  }
  if (system.systemType === 'All-in-one' && system.mode === 'simplex') {
    return {
      code: 'precondition_failed',
      reason:
        'an All-in-one simplex system has only controller-0; to add hosts, migrate to duplex first: ' +
        'lock controller-0, then run "murm system modify --mode duplex"',
    };
  }
  if (system.systemType === 'All-in-one' && personality === 'storage') {
    return { code: 'precondition_failed', reason: 'storage hosts need a Standard system' };
  }
  return undefined;
}

/**
 * Whether the system mode may change. Only All-in-one systems have a mode; simplex → duplex needs
 * controller-0 locked; duplex → simplex is never allowed (StarlingX refuses it too).
 */
export function checkModeChange(
  system: SystemFacts,
  target: SystemMode,
  controller0: HostFacts | undefined,
): Refusal | undefined {
  if (target === system.mode) return undefined;
  if (system.systemType !== 'All-in-one') {
    return {
      code: 'precondition_failed',
      reason: `the mode applies only to All-in-one systems; this system is ${system.systemType}`,
    };
  }
  if (system.mode === 'duplex') {
    return {
      code: 'precondition_failed',
      reason: 'a duplex system cannot go back to simplex; reinstall the site as simplex instead',
    };
  }
  if (controller0?.administrative !== 'locked') {
    return {
      code: 'precondition_failed',
      reason: 'controller-0 must be locked before the migration to duplex: run "murm host lock controller-0"',
    };
  }
  return undefined;
}

export type AdminAction = 'lock' | 'force-lock' | 'unlock';

/** The states a host has after an administrative action. */
export interface HostStates {
  administrative: AdministrativeState;
  operational: OperationalState;
  availability: Availability;
}

/**
 * The lock/unlock state machine. Lock: the host must be unlocked, and a plain lock may not take away
 * the last unlocked controller of a multi-host system (force-lock may). Unlock: the host must be locked
 * and online (its agent connected), since unlocking applies configuration the agent has to write.
 */
export function decideAdminAction(
  system: SystemFacts,
  hosts: readonly HostFacts[],
  host: HostFacts,
  action: AdminAction,
): HostStates | Refusal {
  if (action === 'unlock') {
    if (host.administrative === 'unlocked') {
      return { code: 'conflict', reason: `${host.hostname} is already unlocked` };
    }
    if (host.availability === 'offline' || host.availability === 'failed') {
      return {
        code: 'precondition_failed',
        reason: `${host.hostname} is ${host.availability}: its agent must be connected before it can be unlocked`,
      };
    }
    return { administrative: 'unlocked', operational: 'enabled', availability: 'available' };
  }
  if (host.administrative === 'locked') {
    return { code: 'conflict', reason: `${host.hostname} is already locked` };
  }
  const isSimplex = system.systemType === 'All-in-one' && system.mode === 'simplex';
  const otherUnlockedControllers = hosts.filter(
    (other) =>
      other.hostname !== host.hostname &&
      other.personality === 'controller' &&
      other.administrative === 'unlocked',
  );
  if (
    action === 'lock' &&
    !isSimplex &&
    host.personality === 'controller' &&
    otherUnlockedControllers.length === 0
  ) {
    return {
      code: 'precondition_failed',
      reason: `${host.hostname} is the last unlocked controller; locking it stops the control plane's redundancy: use --force to lock it anyway`,
    };
  }
  const availability =
    host.availability === 'offline' || host.availability === 'failed' ? 'offline' : 'online';
  return { administrative: 'locked', operational: 'disabled', availability };
}

/** Availability and operational state while the agent is connected and heartbeating. */
export function connectedStates(administrative: AdministrativeState, hasProblems: boolean): HostStates {
  if (administrative === 'locked') return { administrative, operational: 'disabled', availability: 'online' };
  return { administrative, operational: 'enabled', availability: hasProblems ? 'degraded' : 'available' };
}

/** States after the agent missed its heartbeats. */
export function disconnectedStates(administrative: AdministrativeState): HostStates {
  return { administrative, operational: 'disabled', availability: 'offline' };
}

/** Whether a refusal or a new state came back. */
export function isRefusal(value: HostStates | Refusal | undefined): value is Refusal {
  return value !== undefined && 'reason' in value;
}

/** A host's configuration status from its target and applied revisions. */
export function configStatus(
  target: string | null,
  applied: string | null,
): 'up-to-date' | 'out-of-date' | 'unknown' {
  if (target === null) return 'unknown';
  return target === applied ? 'up-to-date' : 'out-of-date';
}

/** Alarm and log ids the inventory raises (entity `host=<hostname>`). */
export const INVENTORY_ALARMS = {
  locked: '200.001',
  heartbeatLost: '200.005',
  configOutOfDate: '250.001',
  hostAdded: '200.020',
  command: '200.021',
  stateChange: '200.022',
} as const;

export function hostEntity(hostname: string): string {
  return `host=${hostname}`;
}
