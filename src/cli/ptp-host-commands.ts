import type { Command } from 'commander';
import { hostPath } from './host-views.js';
import { type HostPtpStatusView, type HostPtpView, printHostPtp, printHostPtpStatus } from './ptp-views.js';
import { globalOptions, withApi } from './session.js';

/**
 * `murm host ptp …` (status, assignments, linuxptp version), `murm host ptp-instance …` and
 * `murm host if-ptp …`: which PTP instances and ports a host runs and how they are doing.
 */
export function addHostPtpCommands(host: Command): void {
  addHostPtpGroup(host);
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

const VERSIONS = ['3.1', '4'];

function addHostPtpGroup(host: Command): void {
  const ptp = host
    .command('ptp')
    .description("a host's PTP status, assignments and linuxptp version")
    .addHelpText(
      'after',
      '\nExamples:\n  murm host ptp status worker-0\n  murm host ptp show worker-0\n  murm host ptp set-linuxptp worker-0 4\n  murm host ptp clear-linuxptp worker-0',
    );
  ptp
    .command('status')
    .description(
      'sync state (LOCKED/HOLDOVER/FREERUN), clock class, offset, source, ports and 100.119 alarms of each ptp4l instance, and the os-clock state of each phc2sys instance, as the agent last reported them',
    )
    .argument('<host>', 'host name')
    .addHelpText(
      'after',
      '\nThe agent polls each ptp4l instance of the applied configuration through pmc and reports every change.\nFor each phc2sys instance it checks the phc2sys process, the ptp4l instance it follows and the PHC offset\n(phc_ctl <interface> cmp); its state is the os-clock-sync-state. "*" marks the primary instance (the first that can take time from the network), which the O-RAN\nnotification API reports for the node.\n\nExamples:\n  murm host ptp status worker-0\n  murm host ptp status worker-0 -o json',
    )
    .action(async (hostname: string, _flags: unknown, command: Command) => {
      const view = await withApi(command, (api) =>
        api.get<HostPtpStatusView>(`${hostPath(hostname)}/ptp/status`),
      );
      await printHostPtpStatus(globalOptions(command).output, view);
    });
  ptp
    .command('show')
    .description("a host's PTP instances, ports, applied files and linuxptp version")
    .argument('<host>', 'host name')
    .addHelpText('after', '\nExamples:\n  murm host ptp show worker-0')
    .action(async (hostname: string, _flags: unknown, command: Command) => {
      const view = await withApi(command, (api) => api.get<HostPtpView>(`${hostPath(hostname)}/ptp`));
      await printHostPtp(globalOptions(command).output, view);
    });
  ptp
    .command('set-linuxptp')
    .description(
      'use this linuxptp version\'s parameter names for the host\'s files instead of the version its agent detects (from the next "murm ptp apply")',
    )
    .argument('<host>', 'host name')
    .argument('<version>', `linuxptp version: ${VERSIONS.join(' or ')}`)
    .addHelpText('after', '\nExamples:\n  murm host ptp set-linuxptp worker-0 4')
    .action(async (hostname: string, version: string, _flags: unknown, command: Command) => {
      if (!VERSIONS.includes(version)) {
        command.error(`error: linuxptp version must be ${VERSIONS.join(' or ')}, got "${version}"`, {
          exitCode: 2,
          code: 'murm.invalidArgument',
        });
      }
      await setVersion(command, hostname, version);
    });
  ptp
    .command('clear-linuxptp')
    .description(
      'go back to the linuxptp version the agent detects (ptp4l -v; 3.1 when unknown), from the next "murm ptp apply"',
    )
    .argument('<host>', 'host name')
    .addHelpText('after', '\nExamples:\n  murm host ptp clear-linuxptp worker-0')
    .action(async (hostname: string, _flags: unknown, command: Command) =>
      setVersion(command, hostname, null),
    );
}

async function setVersion(command: Command, hostname: string, version: string | null): Promise<void> {
  const changed = await withApi(command, (api) =>
    api.put<HostPtpView>(`${hostPath(hostname)}/ptp`, { linuxptpVersion: version }),
  );
  await printHostPtp(globalOptions(command).output, changed);
}
