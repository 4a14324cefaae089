import { type Column, type OutputFormat, printData } from './output.js';

/** A user as the API returns it. */
export interface UserView {
  name: string;
  roles: string[];
  isEnabled: boolean;
  isLocked: boolean;
  lockedUntil: string | null;
  failedAttempts: number;
  passwordChangedAt: string;
  passwordExpiresAt: string;
  createdAt: string;
  isFleetWide: boolean;
}

/** The lines of `murm user show` (and of `murm whoami`). */
export const USER_FIELDS: readonly Column<UserView>[] = [
  { header: 'NAME', value: (user) => user.name },
  { header: 'ROLES', value: (user) => user.roles.join(',') },
  { header: 'ENABLED', value: (user) => user.isEnabled },
  { header: 'LOCKED', value: (user) => (user.isLocked ? `until ${user.lockedUntil}` : false) },
  { header: 'FAILED LOGINS', value: (user) => user.failedAttempts },
  { header: 'PASSWORD CHANGED', value: (user) => user.passwordChangedAt },
  { header: 'PASSWORD EXPIRES', value: (user) => user.passwordExpiresAt },
  { header: 'CREATED', value: (user) => user.createdAt },
  { header: 'FLEET-WIDE', value: (user) => user.isFleetWide },
];

/** The path of one user in the API. */
export function userPath(name: string): string {
  return `/v1/users/${encodeURIComponent(name)}`;
}

/** After a change: one line for people, the changed user as JSON/YAML for scripts. */
export async function reportUser(format: OutputFormat, user: UserView, line: string): Promise<void> {
  if (format === 'table') process.stdout.write(`${line}\n`);
  else await printData(format, user);
}
