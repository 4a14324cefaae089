import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import { deleteCredentials, readCredentials, writeCredentials } from './credentials.js';
import { type Column, printItem } from './output.js';
import { readPassword } from './prompt.js';
import { globalOptions, resolveConnection, useApi, withApi } from './session.js';
import { USER_FIELDS, type UserView } from './user-view.js';

interface IssuedToken {
  token: string;
  expiresAt: string;
  user: UserView;
}

type Whoami = UserView & { tokenId: string };

const WHOAMI_FIELDS: readonly Column<Whoami>[] = [
  ...USER_FIELDS,
  { header: 'TOKEN ID', value: (user) => user.tokenId },
];

/** `murm login`, `murm logout`, `murm whoami`. */
export function addAuthCommands(program: Command): void {
  program
    .command('login')
    .description(
      'log in to a site controller; keeps URL, CA path and token (never the password) in the config dir',
    )
    .option('--username <name>', 'user to log in as', 'admin')
    .addHelpText(
      'after',
      `
The password is asked for without echo, read from stdin when it is not a terminal, or taken from
MURM_PASSWORD. Credentials go to $MURM_CONFIG_DIR, $XDG_CONFIG_HOME/murm or ~/.config/murm
(credentials.json, mode 0600).

Examples:
  murm login --url https://127.0.0.1:7443 --ca ./data/pki/ca.crt
  murm login --url https://ctl.example:7443 --ca site-ca.crt --username alice
  MURM_PASSWORD=… murm login          # again, with the URL and CA of the last login`,
    )
    .action(async (flags: { username: string }, command: Command) => {
      const connection = resolveConnection(globalOptions(command), process.env);
      if (!connection) {
        throw new AppError(
          'invalid_input',
          'give the API URL: murm login --url https://HOST:7443 --ca CA_FILE',
        );
      }
      const { url, caPath } = connection;
      // The client opens first so a bad URL or CA file is reported before anyone types a password.
      const issued = await useApi({ url, caPath }, async (api) => {
        const password = await readPassword(`Password for "${flags.username}" at ${url}: `, 'MURM_PASSWORD');
        return api.post<IssuedToken>('/v1/auth/tokens', { username: flags.username, password });
      });
      const file = writeCredentials(process.env, {
        url,
        ...(caPath === undefined ? {} : { caPath }),
        token: issued.token,
        username: issued.user.name,
        expiresAt: issued.expiresAt,
      });
      process.stdout.write(
        `logged in to ${url} as "${issued.user.name}" (roles: ${issued.user.roles.join(', ')}); ` +
          `the token expires at ${issued.expiresAt}\ncredentials saved in ${file}\n`,
      );
    });

  program
    .command('logout')
    .description('revoke the stored token on the server and forget the stored credentials')
    .addHelpText('after', '\nExamples:\n  murm logout')
    .action(async () => {
      const stored = readCredentials(process.env);
      if (!stored) {
        process.stdout.write('not logged in; nothing to do\n');
        return;
      }
      try {
        await useApi(stored, (api) => api.delete('/v1/auth/tokens/current'));
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        // A token the server no longer knows is as good as revoked; anything else is worth a warning.
        if (!(error.code === 'unauthenticated' && 'reason' in error.details)) {
          process.stderr.write(
            `murm: warning: the token was not revoked on the server (${error.message}); it expires at ${stored.expiresAt}\n`,
          );
        }
      }
      deleteCredentials(process.env);
      process.stdout.write(`logged out of ${stored.url}\n`);
    });

  program
    .command('whoami')
    .description('show the user and token the CLI acts as')
    .addHelpText('after', '\nExamples:\n  murm whoami\n  murm whoami -o json')
    .action(async (_flags: unknown, command: Command) => {
      const me = await withApi(command, (api) => api.get<Whoami>('/v1/auth/whoami'));
      await printItem(globalOptions(command).output, me, WHOAMI_FIELDS);
    });
}
