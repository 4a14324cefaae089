import type { PasswordPolicyConfig } from '../core/config.js';
import { AppError } from '../core/errors.js';
import type { Permission } from '../core/http/access.js';

/** StarlingX's platform roles, most powerful first. */
export const ROLES = ['admin', 'configurator', 'operator', 'reader'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The permission matrix. `read`: every GET; `operate`: operational actions (lock/unlock, clear alarms,
 * apply strategies); `configure`: configuration changes; `administer`: users, roles and the audit log.
 */
export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: ['read', 'operate', 'configure', 'administer'],
  configurator: ['read', 'operate', 'configure'],
  operator: ['read', 'operate'],
  reader: ['read'],
};

/** True when any of the roles grants the permission. */
export function hasPermission(roles: readonly string[], permission: Permission): boolean {
  return roles.some((role) => isRole(role) && ROLE_PERMISSIONS[role].includes(permission));
}

/** True for one of the four known roles. */
function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** A stored user account, as the identity service sees it. */
export interface User {
  name: string;
  roles: Role[];
  isEnabled: boolean;
  passwordHash: string;
  failedAttempts: number;
  lockedUntil: Date | undefined;
  passwordChangedAt: Date;
  createdAt: Date;
  /** Copied by the system controller to every managed subcloud; read-only on a subcloud. */
  isFleetWide: boolean;
}

/** What the system controller copies of a fleet-wide user: the stored scrypt hash, never a password. */
export interface FleetUser {
  name: string;
  roles: Role[];
  passwordHash: string;
  isEnabled: boolean;
}

/** The fleet copy of a user: roles sorted, so both sides compute the same revision. */
export function toFleetUser(user: Pick<User, 'name' | 'roles' | 'passwordHash' | 'isEnabled'>): FleetUser {
  return {
    name: user.name,
    roles: [...user.roles].sort(),
    passwordHash: user.passwordHash,
    isEnabled: user.isEnabled,
  };
}

/** Checks a user received from the system controller; throws `invalid_input` naming the problem. */
export function parseFleetUser(value: unknown): FleetUser {
  const item = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const { name, roles, passwordHash, isEnabled } = item;
  if (typeof name !== 'string') {
    throw new AppError('invalid_input', 'a fleet-wide user has no name', { field: 'name' });
  }
  validateUsername(name);
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
    throw new AppError('invalid_input', `fleet-wide user "${name}" has no list of roles`, { field: 'roles' });
  }
  if (typeof passwordHash !== 'string' || !passwordHash.startsWith('scrypt$')) {
    throw new AppError('invalid_input', `fleet-wide user "${name}" has no scrypt password hash`, {
      field: 'passwordHash',
    });
  }
  if (typeof isEnabled !== 'boolean') {
    throw new AppError('invalid_input', `fleet-wide user "${name}" has no enabled flag`, {
      field: 'isEnabled',
    });
  }
  return toFleetUser({ name, roles: validateRoles(roles), passwordHash, isEnabled });
}

/**
 * How a subcloud brings its fleet-wide users to the controller's list: create the missing, update
 * those that differ, remove fleet-wide users no longer listed. A local user of a listed name is never
 * overwritten: it is reported as a conflict for an operator to resolve.
 */
export interface FleetUserPlan {
  create: FleetUser[];
  update: Array<FleetUser & { isPasswordChanged: boolean }>;
  remove: string[];
  conflicts: string[];
  unchangedCount: number;
}

/** Plans applying the controller's fleet-wide users to the local ones (pure). */
export function planFleetUsers(local: readonly User[], desired: readonly FleetUser[]): FleetUserPlan {
  const byName = new Map(local.map((user) => [user.name, user]));
  const plan: FleetUserPlan = { create: [], update: [], remove: [], conflicts: [], unchangedCount: 0 };
  for (const wanted of desired) {
    const existing = byName.get(wanted.name);
    if (!existing) {
      plan.create.push(wanted);
    } else if (!existing.isFleetWide) {
      plan.conflicts.push(wanted.name);
    } else if (sameFleetUser(toFleetUser(existing), wanted)) {
      plan.unchangedCount++;
    } else {
      plan.update.push({ ...wanted, isPasswordChanged: existing.passwordHash !== wanted.passwordHash });
    }
  }
  const listed = new Set(desired.map((user) => user.name));
  plan.remove = local.filter((user) => user.isFleetWide && !listed.has(user.name)).map((user) => user.name);
  return plan;
}

function sameFleetUser(a: FleetUser, b: FleetUser): boolean {
  return (
    a.passwordHash === b.passwordHash &&
    a.isEnabled === b.isEnabled &&
    a.roles.join(',') === b.roles.join(',')
  );
}

/** Names are what operators type: lowercase letters, digits, `.`, `_`, `-`; 1–64 characters. */
export function validateUsername(name: string): void {
  if (!/^[a-z][a-z0-9._-]{0,63}$/.test(name)) {
    throw new AppError(
      'invalid_input',
      `user name "${name}" must start with a lowercase letter and use only a-z, 0-9, ".", "_" and "-" (at most 64)`,
      { field: 'name' },
    );
  }
}

/** Throws `invalid_input` listing every rule of the policy the password breaks. */
export function validatePasswordStrength(password: string, policy: PasswordPolicyConfig): void {
  const problems: string[] = [];
  if (password.length < policy.minLength) problems.push(`at least ${policy.minLength} characters`);
  if (!/[A-Z]/.test(password)) problems.push('an upper-case letter');
  if (!/[a-z]/.test(password)) problems.push('a lower-case letter');
  if (!/[0-9]/.test(password)) problems.push('a digit');
  if (!/[^A-Za-z0-9]/.test(password)) problems.push('a special character');
  if (problems.length > 0) {
    throw new AppError('invalid_input', `password needs ${problems.join(', ')}`, {
      field: 'password',
      problems,
    });
  }
}

/** Throws `invalid_input` unless roles is a non-empty list of known roles. */
export function validateRoles(roles: readonly string[]): Role[] {
  const unknown = roles.filter((role) => !isRole(role));
  if (roles.length === 0 || unknown.length > 0) {
    throw new AppError(
      'invalid_input',
      `roles must be one or more of ${ROLES.join(', ')}; got "${roles.join(',')}"`,
      {
        field: 'roles',
        unknown,
      },
    );
  }
  return [...new Set(roles)] as Role[];
}

/**
 * What a login attempt leads to. States of an account, by what moves them:
 * - usable: failures below the limit, not locked. A wrong password counts a failure;
 *   reaching `maxFailedAttempts` locks the account for `lockoutSeconds` (`locked-now`).
 * - locked: every attempt is refused, right password or not, until `lockedUntil`; then the count restarts.
 * - expired: the password is right but older than `maxAgeDays`; it must be changed before a token is given.
 * A right password on a usable, current account resets the failure count.
 */
export type LoginDecision =
  | { outcome: 'accepted' }
  | { outcome: 'rejected'; failedAttempts: number }
  | { outcome: 'locked-now'; lockedUntil: Date }
  | { outcome: 'locked'; lockedUntil: Date }
  | { outcome: 'disabled' }
  | { outcome: 'expired'; expiredAt: Date };

/** Decides a login attempt from the account state, whether the password matched, and the time. */
export function decideLogin(
  user: Pick<User, 'failedAttempts' | 'lockedUntil' | 'passwordChangedAt' | 'isEnabled'>,
  isPasswordRight: boolean,
  now: Date,
  policy: PasswordPolicyConfig,
): LoginDecision {
  if (user.lockedUntil && now < user.lockedUntil) return { outcome: 'locked', lockedUntil: user.lockedUntil };
  const previousFailures = user.lockedUntil ? 0 : user.failedAttempts;
  if (!isPasswordRight) {
    const failedAttempts = previousFailures + 1;
    if (failedAttempts >= policy.maxFailedAttempts) {
      return { outcome: 'locked-now', lockedUntil: new Date(now.getTime() + policy.lockoutSeconds * 1000) };
    }
    return { outcome: 'rejected', failedAttempts };
  }
  if (!user.isEnabled) return { outcome: 'disabled' };
  const expiredAt = passwordExpiresAt(user.passwordChangedAt, policy);
  if (now >= expiredAt) return { outcome: 'expired', expiredAt };
  return { outcome: 'accepted' };
}

/** When a password set at `changedAt` stops being accepted. */
export function passwordExpiresAt(changedAt: Date, policy: PasswordPolicyConfig): Date {
  return new Date(changedAt.getTime() + policy.maxAgeDays * 86_400_000);
}
