import type { Command } from 'commander';
import { hostPath } from './host-views.js';
import { type HostPtpView, printHostPtp } from './ptp-views.js';
import { globalOptions, withApi } from './session.js';

/** `murm host ptp-instance …` and `murm host if-ptp …`: which PTP instances and ports a host runs. */
export function addHostPtpCommands(host: Command): void {
  const instance = host
    .command('ptp-instance')
    .description('assign ptp instances to a host and remove them')
    .addHelpText(
      'after',
      '\nExamples:\n  murm host ptp-instance assign worker-0 ptp1\n  murm host ptp-instance remove worker-0 ptp1',
    );
  instance
    .command('assign')
    .description('run a ptp instance on a host (after the next "murm ptp apply")')
    .argument('<host>', 'host name')
    .argument('<instance>', 'ptp instance name')
    .addHelpText('after', '\nExamples:\n  murm host ptp-instance assign worker-0 ptp1')
    .action(async (hostname: string, name: string, _flags: unknown, command: Command) => {
      const changed = await withApi(command, (api) =>
        api.post<HostPtpView>(`${hostPath(hostname)}/ptp-instances`, { instance: name }),
      );
      await printHostPtp(globalOptions(command).output, changed);
    });
  instance
    .command('remove')
    .description('stop running a ptp instance on a host (after the next "murm ptp apply")')
    .argument('<host>', 'host name')
    .argument('<instance>', 'ptp instance name')
    .addHelpText('after', '\nExamples:\n  murm host ptp-instance remove worker-0 ptp1')
    .action(async (hostname: string, name: string, _flags: unknown, command: Command) => {
      const changed = await withApi(command, (api) =>
        api
          .delete(`${hostPath(hostname)}/ptp-instances/${encodeURIComponent(name)}`)
          .then(() => api.get<HostPtpView>(`${hostPath(hostname)}/ptp`)),
      );
      await printHostPtp(globalOptions(command).output, changed);
    });

  const port = host
    .command('if-ptp')
    .description('make host interfaces ports of ptp interfaces, and remove them')
    .addHelpText(
      'after',
      '\nExamples:\n  murm host if-ptp assign worker-0 eno1 ptp1if\n  murm host if-ptp remove worker-0 eno1 ptp1if',
    );
  port
    .command('assign')
    .description('make a host interface a port of a ptp interface')
    .argument('<host>', 'host name')
    .argument('<host-interface>', "the host's network interface, as its agent reported it")
    .argument('<ptp-interface>', 'ptp interface name')
    .addHelpText('after', '\nExamples:\n  murm host if-ptp assign worker-0 eno1 ptp1if')
    .action(
      async (hostname: string, ifname: string, ptpInterface: string, _flags: unknown, command: Command) => {
        const changed = await withApi(command, (api) =>
          api.post<HostPtpView>(`${hostPath(hostname)}/ptp-interfaces`, { ifname, ptpInterface }),
        );
        await printHostPtp(globalOptions(command).output, changed);
      },
    );
  port
    .command('remove')
    .description('remove a host interface from a ptp interface')
    .argument('<host>', 'host name')
    .argument('<host-interface>', "the host's network interface")
    .argument('<ptp-interface>', 'ptp interface name')
    .addHelpText('after', '\nExamples:\n  murm host if-ptp remove worker-0 eno1 ptp1if')
    .action(
      async (hostname: string, ifname: string, ptpInterface: string, _flags: unknown, command: Command) => {
        const path = `${hostPath(hostname)}/ptp-interfaces/${encodeURIComponent(ptpInterface)}/${encodeURIComponent(ifname)}`;
        const changed = await withApi(command, (api) =>
          api.delete(path).then(() => api.get<HostPtpView>(`${hostPath(hostname)}/ptp`)),
        );
        await printHostPtp(globalOptions(command).output, changed);
      },
    );
}
