import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { PasswordPolicyConfig } from '../core/config.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import type { AccessControl, Permission, Principal } from '../core/http/access.js';
import {
  decideLogin,
  type FleetUser,
  type FleetUserPlan,
  hasPermission,
  passwordExpiresAt,
  planFleetUsers,
  ROLE_PERMISSIONS,
  type Role,
  toFleetUser,
  type User,
  validatePasswordStrength,
  validateRoles,
  validateUsername,
} from './model.js';
import { hashPassword, verifyPassword } from './password.js';
import type { IdentityStore, TokenRecord } from './store.js';

/** A user as the API shows it: never the password hash. */
export interface UserView {
  name: string;
  roles: Role[];
  isEnabled: boolean;
  isLocked: boolean;
  lockedUntil: string | null;
  failedAttempts: number;
  passwordChangedAt: string;
  passwordExpiresAt: string;
  createdAt: string;
  isFleetWide: boolean;
}

/** The outcome of a login or password change, with the audit event it stands for. */
export type AuthResult<T> = { event: string; value: T } | { event: string; error: AppError };

/** An issued bearer token; the token text is shown once and stored only hashed. */
export interface IssuedToken {
  token: string;
  tokenId: string;
  expiresAt: Date;
  user: UserView;
}

const TOKEN_CACHE_SIZE = 10_000;

/**
 * Users, passwords, lockout, tokens and role checks. Tokens that authenticated are cached by hash (one
 * controller process owns its database); every change to a user or its tokens evicts that user.
 *
 * Fleet-wide users are copied by the system controller to every managed subcloud. On a site that is
 * fleet-managed (a subcloud) they change only through {@link applyFleetUsers}; the API refuses to edit,
 * delete or re-password them. Logins, lockout and tokens stay local everywhere.
 */
export class IdentityService implements AccessControl {
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly fleetListeners = new Set<() => void>();
  private isFleetManaged = false;

  constructor(
    private readonly store: IdentityStore,
    private readonly clock: Clock,
    private readonly policy: PasswordPolicyConfig,
    private readonly tokenTtlSeconds: number,
  ) {}

  /** Creates `admin` on an empty site; returns the password when it was generated here. */
  async bootstrapAdmin(
    password: string | undefined,
  ): Promise<{ isCreated: boolean; password: string | undefined }> {
    if ((await this.store.countUsers()) > 0) return { isCreated: false, password: undefined };
    const chosen = password ?? generatePassword();
    await this.createUser({ name: 'admin', roles: ['admin'], password: chosen });
    return { isCreated: true, password: chosen };
  }

  /** Checks the password and issues a token. Failures count toward lockout. */
  async login(username: string, password: string): Promise<AuthResult<IssuedToken>> {
    const checked = await this.checkPassword(username, password);
    if ('error' in checked) return checked;
    const user = checked.value;
    const token = `murm_${randomBytes(32).toString('base64url')}`;
    const now = this.clock.now();
    const issued = {
      id: randomBytes(6).toString('hex'),
      tokenHash: hashToken(token),
      userName: user.name,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.tokenTtlSeconds * 1000),
    };
    await this.store.insertToken(issued);
    return {
      event: 'login.success',
      value: { token, tokenId: issued.id, expiresAt: issued.expiresAt, user: this.view(user) },
    };
  }

  /** Changes a password by proving the current one; the way out of an expired password. */
  async changeOwnPassword(
    username: string,
    currentPassword: string,
    newPassword: string,
  ): Promise<AuthResult<UserView>> {
    const checked = await this.checkPassword(username, currentPassword, { allowExpired: true });
    if ('error' in checked)
      return { event: checked.event.replace('login.', 'password.change.'), error: checked.error };
    if (this.isReadOnly(checked.value)) {
      return { event: 'password.change.failure', error: managedByControllerError(username) };
    }
    await this.replacePassword(checked.value, newPassword);
    await this.store.deleteUserTokens(username);
    this.forgetTokensOf(username);
    if (checked.value.isFleetWide) this.fleetChanged();
    return { event: 'password.change', value: this.view(await this.getUserRecord(username)) };
  }

  private async checkPassword(
    username: string,
    password: string,
    options: { allowExpired?: boolean } = {},
  ): Promise<AuthResult<User>> {
    const refused = new AppError('unauthenticated', 'invalid user name or password');
    const user = await this.store.findUser(username);
    if (!user) {
      await verifyPassword(password, DUMMY_HASH); // same work as a real check, so timing does not reveal names
      return { event: 'login.failure', error: refused };
    }
    const now = this.clock.now();
    const decision = decideLogin(user, await verifyPassword(password, user.passwordHash), now, this.policy);
    switch (decision.outcome) {
      case 'accepted':
        if (user.failedAttempts > 0 || user.lockedUntil) {
          await this.store.updateUser(user.name, { failedAttempts: 0, lockedUntil: undefined });
        }
        return { event: 'login.success', value: user };
      case 'rejected':
        await this.store.updateUser(user.name, {
          failedAttempts: decision.failedAttempts,
          lockedUntil: undefined,
        });
        return { event: 'login.failure', error: refused };
      case 'locked-now':
        await this.store.updateUser(user.name, { failedAttempts: 0, lockedUntil: decision.lockedUntil });
        return { event: 'login.lockout', error: lockedError(user.name, decision.lockedUntil) };
      case 'locked':
        return { event: 'login.locked', error: lockedError(user.name, decision.lockedUntil) };
      case 'disabled':
        return {
          event: 'login.failure',
          error: new AppError('unauthenticated', `user "${user.name}" is disabled`),
        };
      case 'expired':
        if (options.allowExpired) return { event: 'login.success', value: user };
        return {
          event: 'login.expired',
          error: new AppError(
            'password_expired',
            `password of "${user.name}" expired on ${decision.expiredAt.toISOString()}; set a new one with "murm user set-password ${user.name}"`,
            { expiredAt: decision.expiredAt.toISOString() },
          ),
        };
    }
  }

  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token) {
      throw new AppError('unauthenticated', 'this request needs a bearer token; log in with "murm login"', {
        reason: 'missing',
      });
    }
    const tokenHash = hashToken(token);
    let record = this.tokens.get(tokenHash);
    if (!record) {
      record = await this.store.findToken(tokenHash);
      if (record?.isEnabled) {
        if (this.tokens.size >= TOKEN_CACHE_SIZE) this.tokens.clear();
        this.tokens.set(tokenHash, record);
      }
    }
    if (!record?.isEnabled) {
      throw new AppError('unauthenticated', 'the token is not valid; log in again with "murm login"', {
        reason: 'unknown',
      });
    }
    if (this.clock.now() >= record.expiresAt) {
      throw new AppError('unauthenticated', 'the token has expired; log in again with "murm login"', {
        reason: 'expired',
      });
    }
    return { username: record.userName, roles: record.roles, tokenId: record.id };
  }

  authorize(principal: Principal, permission: Permission): void {
    if (hasPermission(principal.roles, permission)) return;
    const granting = Object.entries(ROLE_PERMISSIONS)
      .filter(([, permissions]) => permissions.includes(permission))
      .map(([role]) => role);
    throw new AppError(
      'forbidden',
      `user "${principal.username}" (roles: ${principal.roles.join(', ')}) may not ${permission}; this needs one of the roles ${granting.join(', ')}`,
      { permission, roles: principal.roles },
    );
  }

  /** Removes tokens past their expiry; returns how many. */
  deleteExpiredTokens(): Promise<number> {
    return this.store.deleteExpiredTokens(this.clock.now());
  }

  async logout(principal: Principal): Promise<void> {
    await this.store.deleteToken(principal.tokenId);
    for (const [hash, record] of this.tokens) if (record.id === principal.tokenId) this.tokens.delete(hash);
  }

  private forgetTokensOf(userName: string): void {
    for (const [hash, record] of this.tokens) if (record.userName === userName) this.tokens.delete(hash);
  }

  /** The caller's account and token. */
  async whoami(principal: Principal): Promise<UserView & { tokenId: string }> {
    return { ...this.view(await this.getUserRecord(principal.username)), tokenId: principal.tokenId };
  }

  /**
   * Creates a user; throws `conflict` when the name is taken or when asked for a fleet-wide user on a
   * fleet-managed site, `invalid_input` on a weak password.
   */
  async createUser(input: {
    name: string;
    roles: readonly string[];
    password: string;
    isEnabled?: boolean;
    isFleetWide?: boolean;
  }) {
    validateUsername(input.name);
    const roles = validateRoles(input.roles);
    validatePasswordStrength(input.password, this.policy);
    const isFleetWide = input.isFleetWide ?? false;
    if (isFleetWide) this.assertFleetWideEditable();
    if (await this.store.findUser(input.name)) throw conflict(`user "${input.name}" already exists`);
    const now = this.clock.now();
    const user: User = {
      name: input.name,
      roles,
      isEnabled: input.isEnabled ?? true,
      passwordHash: await hashPassword(input.password),
      failedAttempts: 0,
      lockedUntil: undefined,
      passwordChangedAt: now,
      createdAt: now,
      isFleetWide,
    };
    await this.store.insertUser(user);
    if (isFleetWide) this.fleetChanged();
    return this.view(user);
  }

  async listUsers(): Promise<UserView[]> {
    return (await this.store.listUsers()).map((user) => this.view(user));
  }

  async getUser(name: string): Promise<UserView> {
    return this.view(await this.getUserRecord(name));
  }

  /**
   * Changes roles, enabled state or whether the user is fleet-wide; refuses to leave the site without
   * an enabled admin, and (`conflict`) to change fleet-wide users on a fleet-managed site.
   */
  async modifyUser(
    name: string,
    changes: { roles?: readonly string[]; isEnabled?: boolean; isFleetWide?: boolean },
  ): Promise<UserView> {
    const user = await this.getEditableUser(name);
    if (changes.isFleetWide !== undefined) this.assertFleetWideEditable();
    const roles = changes.roles ? validateRoles(changes.roles) : user.roles;
    const isEnabled = changes.isEnabled ?? user.isEnabled;
    const isFleetWide = changes.isFleetWide ?? user.isFleetWide;
    if (!(roles.includes('admin') && isEnabled)) await this.assertAnotherAdmin(name);
    await this.store.updateUser(name, { roles, isEnabled, isFleetWide });
    this.forgetTokensOf(name);
    if (user.isFleetWide || isFleetWide) this.fleetChanged();
    return this.view(await this.getUserRecord(name));
  }

  async deleteUser(name: string, actor: Principal): Promise<void> {
    if (name === actor.username)
      throw conflict(`you cannot delete your own account "${name}"; ask another admin`);
    const user = await this.getEditableUser(name);
    await this.assertAnotherAdmin(name);
    await this.store.deleteUser(name);
    this.forgetTokensOf(name);
    if (user.isFleetWide) this.fleetChanged();
  }

  /** Sets a password: admins for anyone, others only their own and with the current password. */
  async setPassword(name: string, input: { password: string; currentPassword?: string }, actor: Principal) {
    const user = await this.getEditableUser(name);
    const isAdmin = hasPermission(actor.roles, 'administer');
    if (actor.username !== name && !isAdmin) {
      throw new AppError('forbidden', `only an admin may set the password of another user ("${name}")`);
    }
    if (!isAdmin || input.currentPassword !== undefined) {
      if (
        input.currentPassword === undefined ||
        !(await verifyPassword(input.currentPassword, user.passwordHash))
      ) {
        throw new AppError('invalid_input', 'the current password is wrong', { field: 'currentPassword' });
      }
    }
    await this.replacePassword(user, input.password);
    await this.store.deleteUserTokens(name, actor.username === name ? actor.tokenId : undefined);
    this.forgetTokensOf(name);
    if (user.isFleetWide) this.fleetChanged();
    return this.view(await this.getUserRecord(name));
  }

  /** Clears a lockout and the failure count. */
  async unlockUser(name: string): Promise<UserView> {
    await this.getUserRecord(name);
    await this.store.updateUser(name, { failedAttempts: 0, lockedUntil: undefined });
    return this.getUser(name);
  }

  private async replacePassword(user: User, password: string): Promise<void> {
    validatePasswordStrength(password, this.policy);
    for (const previous of await this.store.recentPasswordHashes(user.name, this.policy.historyDepth)) {
      if (await verifyPassword(password, previous)) {
        throw new AppError(
          'invalid_input',
          `the new password must differ from the last ${this.policy.historyDepth} passwords of "${user.name}"`,
          { field: 'password' },
        );
      }
    }
    await this.store.replacePassword(
      user.name,
      await hashPassword(password),
      this.clock.now(),
      this.policy.historyDepth,
    );
  }

  /** Marks this site as managed by a system controller: fleet-wide users become read-only here. */
  setFleetManaged(isFleetManaged: boolean): void {
    this.isFleetManaged = isFleetManaged;
  }

  /** Calls `listener` after any change to a fleet-wide user (here or applied); returns the unsubscribe. */
  onFleetChange(listener: () => void): () => void {
    this.fleetListeners.add(listener);
    return () => this.fleetListeners.delete(listener);
  }

  /** The fleet-wide users, by name, as the system controller copies them. */
  async listFleetUsers(): Promise<FleetUser[]> {
    return (await this.store.listFleetUsers()).map(toFleetUser);
  }

  /**
   * Makes the local fleet-wide users those of `users`, in one transaction; local users of the same
   * names stay as they are and come back as `conflicts`. Throws `invalid_input` on a repeated name.
   */
  async applyFleetUsers(users: readonly FleetUser[]): Promise<FleetUserPlan> {
    const names = users.map((user) => user.name);
    const repeated = names.find((name, index) => names.indexOf(name) !== index);
    if (repeated !== undefined) {
      throw new AppError('invalid_input', `fleet-wide user "${repeated}" is listed twice`, {
        name: repeated,
      });
    }
    const plan = await this.store.applyFleetUsers(
      (local) => planFleetUsers(local, users),
      this.clock.now(),
      this.policy.historyDepth,
    );
    for (const user of plan.update) this.forgetTokensOf(user.name);
    for (const name of plan.remove) this.forgetTokensOf(name);
    if (plan.create.length + plan.update.length + plan.remove.length > 0) this.fleetChanged();
    return plan;
  }

  private isReadOnly(user: User): boolean {
    return this.isFleetManaged && user.isFleetWide;
  }

  private async getEditableUser(name: string): Promise<User> {
    const user = await this.getUserRecord(name);
    if (this.isReadOnly(user)) throw managedByControllerError(name);
    return user;
  }

  private assertFleetWideEditable(): void {
    if (this.isFleetManaged) {
      throw conflict(
        'this site is managed by a system controller; mark users fleet-wide on the system controller',
      );
    }
  }

  private fleetChanged(): void {
    for (const listener of this.fleetListeners) {
      try {
        listener();
      } catch (error) {
        // A listener only schedules sync work; its failure must not undo a committed change.
        process.emitWarning(`a fleet-wide user listener failed: ${(error as Error).message}`);
      }
    }
  }

  private async assertAnotherAdmin(name: string): Promise<void> {
    const others = (await this.store.listUsers()).filter(
      (u) => u.name !== name && u.isEnabled && u.roles.includes('admin'),
    );
    if (others.length === 0)
      throw conflict(`"${name}" is the last enabled admin; create another admin first`);
  }

  private async getUserRecord(name: string): Promise<User> {
    const user = await this.store.findUser(name);
    if (!user) throw notFound('user', name);
    return user;
  }

  private view(user: User): UserView {
    const now = this.clock.now();
    const isLocked = user.lockedUntil !== undefined && now < user.lockedUntil;
    return {
      name: user.name,
      roles: user.roles,
      isEnabled: user.isEnabled,
      isLocked,
      lockedUntil: isLocked ? (user.lockedUntil?.toISOString() ?? null) : null,
      failedAttempts: user.failedAttempts,
      passwordChangedAt: user.passwordChangedAt.toISOString(),
      passwordExpiresAt: passwordExpiresAt(user.passwordChangedAt, this.policy).toISOString(),
      createdAt: user.createdAt.toISOString(),
      isFleetWide: user.isFleetWide,
    };
  }
}

function managedByControllerError(name: string): AppError {
  return conflict(`user "${name}" is managed by the system controller; change it there`, { name });
}

function lockedError(name: string, until: Date): AppError {
  return new AppError(
    'account_locked',
    `account "${name}" is locked after too many failed logins until ${until.toISOString()}; an admin can unlock it with "murm user unlock ${name}"`,
    { lockedUntil: until.toISOString() },
  );
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A random password that satisfies the default policy: 20 characters of four classes. */
function generatePassword(): string {
  const body = randomBytes(15).toString('base64url').replace(/[-_]/g, 'x');
  return `${body}Aa7#`;
}

// A valid scrypt hash of a random string, used to spend the same time on unknown user names.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
