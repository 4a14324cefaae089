import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import { hasPermission } from '../identity/model.js';
import type { ApiClient } from './client.js';
import { readNewPassword, readPassword } from './prompt.js';
import { type Connection, globalOptions, resolveConnection, useApi } from './session.js';
import { reportUser, type UserView, userPath } from './user-view.js';

/** `murm user set-password NAME`: with a login through the users API, without one through the public endpoint. */
export function addSetPasswordCommand(user: Command): void {
  user
    .command('set-password')
    .description('set the password of a user (admins: anyone; others: their own, giving the current one)')
    .argument('<name>', 'user name')
    .addHelpText(
      'after',
      `
The new password is asked for twice at a terminal, read from one line of stdin otherwise, or taken
from MURM_NEW_PASSWORD. Your current password, when needed, comes from MURM_PASSWORD or a prompt.
Without a valid login (for example after your password expired) the current password of NAME is
used instead of a token: give --url and --ca, or rely on the ones of the last login.

Examples:
  murm user set-password alice                      # an admin resets alice's password
  murm user set-password bob                        # bob changes his own
  murm user set-password bob --url https://127.0.0.1:7443 --ca ca.crt   # expired, not logged in`,
    )
    .action(async (name: string, _flags: unknown, command: Command) => {
      const connection = resolveConnection(globalOptions(command), process.env);
      if (connection === undefined) {
        throw new AppError(
          'invalid_input',
          `give the API URL: murm user set-password ${name} --url https://HOST:7443 --ca CA_FILE`,
        );
      }
      const changed =
        connection.token === undefined
          ? undefined
          : await useApi(connection, (api) => setWithToken(api, name));
      if (changed) {
        await reportUser(globalOptions(command).output, changed, `password of "${name}" changed`);
        return;
      }
      const user = await changeWithCurrentPassword(connection, name);
      await reportUser(
        globalOptions(command).output,
        user,
        `password of "${name}" changed; log in with "murm login --username ${name}"`,
      );
    });
}

/** Sets the password as the logged-in user; undefined when the login is no longer valid. */
async function setWithToken(api: ApiClient, name: string): Promise<UserView | undefined> {
  let me: UserView;
  try {
    me = await api.get<UserView>('/v1/auth/whoami');
  } catch (error) {
    // The server says why a token is refused (details.reason); that case falls back to the current password.
    if (error instanceof AppError && error.code === 'unauthenticated' && 'reason' in error.details)
      return undefined;
    throw error;
  }
  const needsCurrent = me.name === name && !hasPermission(me.roles, 'administer');
  const currentPassword = needsCurrent
    ? await readPassword(`Current password of "${name}": `, 'MURM_PASSWORD')
    : undefined;
  const password = await readNewPassword(name);
  const body = currentPassword === undefined ? { password } : { password, currentPassword };
  return api.put<UserView>(`${userPath(name)}/password`, body);
}

/** The public endpoint: works without a token, also when the password has expired. */
function changeWithCurrentPassword(connection: Connection, name: string): Promise<UserView> {
  return useApi({ url: connection.url, caPath: connection.caPath }, async (api) => {
    const currentPassword = await readPassword(`Current password of "${name}": `, 'MURM_PASSWORD');
    const newPassword = await readNewPassword(name);
    return api.post<UserView>('/v1/auth/password', { username: name, currentPassword, newPassword });
  });
}
