import { type Command, Option } from 'commander';
import { AppError } from '../core/errors.js';
import { validateRoles } from '../identity/model.js';
import { type Column, printItem, printList } from './output.js';
import { confirm, isInteractive, readNewPassword } from './prompt.js';
import { globalOptions, withApi } from './session.js';
import { addSetPasswordCommand } from './user-password-command.js';
import { reportUser, USER_FIELDS, type UserView, userPath } from './user-view.js';

const USER_COLUMNS: readonly Column<UserView>[] = [
  { header: 'NAME', value: (user) => user.name },
  { header: 'ROLES', value: (user) => user.roles.join(',') },
  { header: 'ENABLED', value: (user) => user.isEnabled },
  { header: 'LOCKED', value: (user) => user.isLocked },
  { header: 'PASSWORD EXPIRES', value: (user) => user.passwordExpiresAt },
  { header: 'CREATED', value: (user) => user.createdAt },
  { header: 'FLEET', value: (user) => user.isFleetWide },
];

const ROLES_HELP = 'comma-separated roles: admin, configurator, operator, reader';

/** `murm user …`: accounts and their roles (admins only, except set-password for yourself). */
export function addUserCommands(program: Command): void {
  const user = program
    .command('user')
    .description('manage user accounts and their roles')
    .addHelpText(
      'after',
      `
Fleet-wide users (FLEET yes) are created on the system controller and copied, with their password, to
every managed subcloud; there they are read-only.

Examples:
  murm user list
  murm user create alice --roles operator
  murm user create ops --roles operator --fleet-wide
  murm user modify alice --roles operator,configurator
  murm user set-password alice
  murm user delete alice --yes`,
    );

  user
    .command('list')
    .description('list users')
    .addHelpText('after', '\nExamples:\n  murm user list\n  murm user list -o json')
    .action(async (_flags: unknown, command: Command) => {
      const page = await withApi(command, (api) => api.get<{ items: UserView[] }>('/v1/users'));
      await printList(globalOptions(command).output, page.items, USER_COLUMNS);
    });

  user
    .command('show')
    .description('show one user')
    .argument('<name>', 'user name')
    .addHelpText('after', '\nExamples:\n  murm user show alice\n  murm user show alice -o yaml')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const found = await withApi(command, (api) => api.get<UserView>(userPath(name)));
      await printItem(globalOptions(command).output, found, USER_FIELDS);
    });

  user
    .command('create')
    .description('create a user; the password is asked for (or taken from MURM_NEW_PASSWORD)')
    .argument('<name>', 'user name: lowercase letters, digits, ".", "_", "-"')
    .requiredOption('--roles <roles>', ROLES_HELP)
    .option('--disabled', 'create the account disabled')
    .option('--fleet-wide', 'copy the user to every managed subcloud (on a system controller)')
    .addHelpText(
      'after',
      `
Examples:
  murm user create alice --roles operator
  murm user create bob --roles admin --disabled
  murm user create ops --roles operator --fleet-wide
  MURM_NEW_PASSWORD=… murm user create ci --roles reader -o json`,
    )
    .action(
      async (name: string, flags: { roles: string; disabled?: true; fleetWide?: true }, command: Command) => {
        const roles = parseRoles(flags.roles);
        const created = await withApi(command, async (api) => {
          const password = await readNewPassword(name);
          const body = {
            name,
            roles,
            password,
            ...(flags.disabled ? { isEnabled: false } : {}),
            ...(flags.fleetWide ? { fleetWide: true } : {}),
          };
          return api.post<UserView>('/v1/users', body);
        });
        const state = `${created.isEnabled ? '' : ', disabled'}${created.isFleetWide ? ', fleet-wide' : ''}`;
        await reportUser(
          globalOptions(command).output,
          created,
          `created user "${name}" (roles: ${created.roles.join(', ')}${state})`,
        );
      },
    );

  user
    .command('modify')
    .description('change the roles of a user, enable or disable it, or mark it fleet-wide')
    .argument('<name>', 'user name')
    .option('--roles <roles>', `replace the roles: ${ROLES_HELP}`)
    .addOption(new Option('--enable', 'allow the user to log in').conflicts('disable'))
    .addOption(new Option('--disable', 'refuse logins of the user'))
    .option('--fleet-wide', 'copy the user to every managed subcloud (on a system controller)')
    .option('--no-fleet-wide', 'stop copying the user; the subclouds delete their copies')
    .addHelpText(
      'after',
      '\nExamples:\n  murm user modify alice --roles operator,configurator\n  murm user modify alice --disable\n  murm user modify alice --enable\n  murm user modify alice --fleet-wide\n  murm user modify alice --no-fleet-wide',
    )
    .action(
      async (
        name: string,
        flags: { roles?: string; enable?: true; disable?: true; fleetWide?: boolean },
        command: Command,
      ) => {
        if (flags.roles === undefined && !flags.enable && !flags.disable && flags.fleetWide === undefined) {
          throw new AppError(
            'invalid_input',
            'nothing to change; give --roles, --enable, --disable, --fleet-wide or --no-fleet-wide',
          );
        }
        const body = {
          ...(flags.roles === undefined ? {} : { roles: parseRoles(flags.roles) }),
          ...(flags.enable ? { isEnabled: true } : flags.disable ? { isEnabled: false } : {}),
          ...(flags.fleetWide === undefined ? {} : { fleetWide: flags.fleetWide }),
        };
        const changed = await withApi(command, (api) => api.patch<UserView>(userPath(name), body));
        const state = `${changed.isEnabled ? 'enabled' : 'disabled'}${changed.isFleetWide ? ', fleet-wide,' : ''}`;
        await reportUser(
          globalOptions(command).output,
          changed,
          `user "${name}" is ${state} with roles ${changed.roles.join(', ')}`,
        );
      },
    );

  user
    .command('delete')
    .description('delete a user and revoke its tokens')
    .argument('<name>', 'user name')
    .option('-y, --yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .addHelpText('after', '\nExamples:\n  murm user delete alice\n  murm user delete alice --yes')
    .action(async (name: string, flags: { yes?: true }, command: Command) => {
      const isDeleted = await withApi(command, async (api) => {
        if (!flags.yes && !(await isConfirmed(name))) return false;
        await api.delete(userPath(name));
        return true;
      });
      process.stdout.write(isDeleted ? `deleted user "${name}"\n` : `user "${name}" not deleted\n`);
    });

  user
    .command('unlock')
    .description('unlock a user locked out after too many failed logins')
    .argument('<name>', 'user name')
    .addHelpText('after', '\nExamples:\n  murm user unlock alice')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const unlocked = await withApi(command, (api) => api.post<UserView>(`${userPath(name)}/unlock`));
      await reportUser(globalOptions(command).output, unlocked, `unlocked user "${name}"`);
    });

  addSetPasswordCommand(user);
}

function parseRoles(value: string): string[] {
  return validateRoles(
    value
      .split(',')
      .map((role) => role.trim())
      .filter((role) => role !== ''),
  );
}

async function isConfirmed(name: string): Promise<boolean> {
  if (!isInteractive()) {
    throw new AppError('invalid_input', `refusing to delete user "${name}" without confirmation; pass --yes`);
  }
  return confirm(`Delete user "${name}"?`);
}
