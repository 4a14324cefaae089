import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';
import type { FleetUserPlan, Role, User } from './model.js';

interface UsersTable {
  name: string;
  roles: string;
  is_enabled: number;
  password_hash: string;
  failed_attempts: number;
  locked_until: string | null;
  password_changed_at: string;
  created_at: string;
  fleet_wide: number;
}
interface PasswordHistoryTable {
  user_name: string;
  seq: number;
  password_hash: string;
  created_at: string;
}
interface TokensTable {
  id: string;
  token_hash: string;
  user_name: string;
  created_at: string;
  expires_at: string;
}
interface IdentityTables {
  users: UsersTable;
  password_history: PasswordHistoryTable;
  tokens: TokensTable;
}

/** A token row joined with its user: what authenticating a request needs. */
export interface TokenRecord {
  id: string;
  expiresAt: Date;
  userName: string;
  roles: Role[];
  isEnabled: boolean;
}

/** Queries on the identity domain's own tables: users, password_history, tokens. */
export class IdentityStore {
  private readonly db: Kysely<IdentityTables>;

  constructor(database: Database) {
    this.db = tablesOf<IdentityTables>(database);
  }

  async findUser(name: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  async listUsers(): Promise<User[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map(toUser);
  }

  async countUsers(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Inserts a user and records the first password in its history. */
  async insertUser(user: User): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('users').values(fromUser(user)).execute();
      await trx
        .insertInto('password_history')
        .values({
          user_name: user.name,
          seq: 1,
          password_hash: user.passwordHash,
          created_at: user.passwordChangedAt.toISOString(),
        })
        .execute();
    });
  }

  /** Updates the mutable fields of a user; returns false when no such user exists. */
  async updateUser(
    name: string,
    changes: Partial<Pick<User, 'roles' | 'isEnabled' | 'failedAttempts' | 'lockedUntil' | 'isFleetWide'>>,
  ): Promise<boolean> {
    const values: Partial<UsersTable> = {};
    if (changes.roles) values.roles = changes.roles.join(',');
    if (changes.isEnabled !== undefined) values.is_enabled = changes.isEnabled ? 1 : 0;
    if (changes.isFleetWide !== undefined) values.fleet_wide = changes.isFleetWide ? 1 : 0;
    if (changes.failedAttempts !== undefined) values.failed_attempts = changes.failedAttempts;
    if ('lockedUntil' in changes) values.locked_until = changes.lockedUntil?.toISOString() ?? null;
    const result = await this.db.updateTable('users').set(values).where('name', '=', name).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Sets a new password hash, appends it to the history and trims the history to `keep` entries. */
  async replacePassword(name: string, passwordHash: string, at: Date, keep: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({
          password_hash: passwordHash,
          password_changed_at: at.toISOString(),
          failed_attempts: 0,
          locked_until: null,
        })
        .where('name', '=', name)
        .execute();
      await appendPasswordHistory(trx, { name, passwordHash, at, keep });
    });
  }

  /** The fleet-wide users, by name. */
  async listFleetUsers(): Promise<User[]> {
    const rows = await this.db
      .selectFrom('users')
      .selectAll()
      .where('fleet_wide', '=', 1)
      .orderBy('name')
      .execute();
    return rows.map(toUser);
  }

  /**
   * In one transaction: reads the users, asks `decide` what to change, and writes it. Created users are
   * fleet-wide; a changed password is appended to the history (trimmed to `keep`) and revokes the
   * user's tokens; removed users lose their tokens (and, by cascade, their history). Returns the plan.
   */
  async applyFleetUsers(
    decide: (users: User[]) => FleetUserPlan,
    at: Date,
    keep: number,
  ): Promise<FleetUserPlan> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('users').selectAll().orderBy('name').execute();
      const plan = decide(rows.map(toUser));
      const now = at.toISOString();
      for (const user of plan.create) {
        await trx
          .insertInto('users')
          .values(
            fromUser({
              ...user,
              failedAttempts: 0,
              lockedUntil: undefined,
              passwordChangedAt: at,
              createdAt: at,
              isFleetWide: true,
            }),
          )
          .execute();
        await trx
          .insertInto('password_history')
          .values({ user_name: user.name, seq: 1, password_hash: user.passwordHash, created_at: now })
          .execute();
      }
      for (const user of plan.update) {
        await trx
          .updateTable('users')
          .set({
            roles: user.roles.join(','),
            is_enabled: user.isEnabled ? 1 : 0,
            ...(user.isPasswordChanged
              ? {
                  password_hash: user.passwordHash,
                  password_changed_at: now,
                  failed_attempts: 0,
                  locked_until: null,
                }
              : {}),
          })
          .where('name', '=', user.name)
          .where('fleet_wide', '=', 1)
          .execute();
        if (!user.isPasswordChanged) continue;
        await trx.deleteFrom('tokens').where('user_name', '=', user.name).execute();
        await appendPasswordHistory(trx, { name: user.name, passwordHash: user.passwordHash, at, keep });
      }
      if (plan.remove.length > 0) {
        await trx.deleteFrom('tokens').where('user_name', 'in', plan.remove).execute();
        await trx.deleteFrom('users').where('name', 'in', plan.remove).where('fleet_wide', '=', 1).execute();
      }
      return plan;
    });
  }

  /** The most recent password hashes of a user, newest first. */
  async recentPasswordHashes(name: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('password_history')
      .select('password_hash')
      .where('user_name', '=', name)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.map((row) => row.password_hash);
  }

  async deleteUser(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('name', '=', name).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async insertToken(token: {
    id: string;
    tokenHash: string;
    userName: string;
    createdAt: Date;
    expiresAt: Date;
  }) {
    await this.db
      .insertInto('tokens')
      .values({
        id: token.id,
        token_hash: token.tokenHash,
        user_name: token.userName,
        created_at: token.createdAt.toISOString(),
        expires_at: token.expiresAt.toISOString(),
      })
      .execute();
  }

  async findToken(tokenHash: string): Promise<TokenRecord | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.name', 'tokens.user_name')
      .select(['tokens.id', 'tokens.expires_at', 'users.name', 'users.roles', 'users.is_enabled'])
      .where('tokens.token_hash', '=', tokenHash)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      expiresAt: new Date(row.expires_at),
      userName: row.name,
      roles: splitRoles(row.roles),
      isEnabled: Boolean(row.is_enabled),
    };
  }

  async deleteToken(id: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('id', '=', id).execute();
  }

  /** Revokes every token of a user except, optionally, one. */
  async deleteUserTokens(userName: string, exceptId?: string): Promise<void> {
    let query = this.db.deleteFrom('tokens').where('user_name', '=', userName);
    if (exceptId) query = query.where('id', '!=', exceptId);
    await query.execute();
  }

  async deleteExpiredTokens(now: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('tokens')
      .where('expires_at', '<=', now.toISOString())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/** Appends a password to a user's history and keeps only the newest `keep` entries. */
async function appendPasswordHistory(
  trx: Kysely<IdentityTables>,
  entry: { name: string; passwordHash: string; at: Date; keep: number },
): Promise<void> {
  const last = await trx
    .selectFrom('password_history')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('user_name', '=', entry.name)
    .executeTakeFirst();
  const seq = Number(last?.seq ?? 0) + 1;
  await trx
    .insertInto('password_history')
    .values({
      user_name: entry.name,
      seq,
      password_hash: entry.passwordHash,
      created_at: entry.at.toISOString(),
    })
    .execute();
  await trx
    .deleteFrom('password_history')
    .where('user_name', '=', entry.name)
    .where('seq', '<=', seq - entry.keep)
    .execute();
}

function splitRoles(roles: string): Role[] {
  return roles.split(',').filter(Boolean) as Role[];
}

function toUser(row: UsersTable): User {
  return {
    name: row.name,
    roles: splitRoles(row.roles),
    isEnabled: Boolean(row.is_enabled),
    passwordHash: row.password_hash,
    failedAttempts: row.failed_attempts,
    lockedUntil: row.locked_until ? new Date(row.locked_until) : undefined,
    passwordChangedAt: new Date(row.password_changed_at),
    createdAt: new Date(row.created_at),
    isFleetWide: Boolean(row.fleet_wide),
  };
}

function fromUser(user: User): UsersTable {
  return {
    name: user.name,
    roles: user.roles.join(','),
    is_enabled: user.isEnabled ? 1 : 0,
    password_hash: user.passwordHash,
    failed_attempts: user.failedAttempts,
    locked_until: user.lockedUntil?.toISOString() ?? null,
    password_changed_at: user.passwordChangedAt.toISOString(),
    created_at: user.createdAt.toISOString(),
    fleet_wide: user.isFleetWide ? 1 : 0,
  };
}
