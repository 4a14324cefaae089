import type { Command } from 'commander';
import { AppError } from '../core/errors.js';
import { formatLabels, type HostView, hostPath, report } from './host-views.js';
import { globalOptions, withApi } from './session.js';

const LABEL = /^([^=\s]+)=(.*)$/;

/** `murm host label …`: key=value labels that select hosts (for PTP roles, workloads, and so on). */
export function addHostLabelCommands(host: Command): void {
  const label = host
    .command('label')
    .description('assign and remove key=value labels of a host')
    .addHelpText(
      'after',
      `
Examples:
  murm host label assign worker-0 zone=a ptp=grandmaster
  murm host label remove worker-0 ptp`,
    );

  label
    .command('assign')
    .description('give a host labels; a key it already has gets the new value')
    .argument('<host>', 'host name')
    .argument('<labels...>', 'labels as key=value')
    .addHelpText(
      'after',
      '\nExamples:\n  murm host label assign worker-0 zone=a\n  murm host label assign worker-0 zone=b ptp=grandmaster -o json',
    )
    .action(async (hostname: string, pairs: string[], _flags: unknown, command: Command) => {
      const labels = parseLabels(pairs);
      const changed = await withApi(command, (api) =>
        api.post<HostView>(`${hostPath(hostname)}/labels`, { labels }),
      );
      await report(globalOptions(command).output, changed, labelsLine(changed));
    });

  label
    .command('remove')
    .description('remove labels from a host by key')
    .argument('<host>', 'host name')
    .argument('<keys...>', 'label keys')
    .addHelpText(
      'after',
      '\nExamples:\n  murm host label remove worker-0 zone\n  murm host label remove worker-0 zone ptp -o json',
    )
    .action(async (hostname: string, keys: string[], _flags: unknown, command: Command) => {
      const changed = await withApi(command, async (api) => {
        for (const key of new Set(keys)) {
          await api.delete(`${hostPath(hostname)}/labels/${encodeURIComponent(key)}`);
        }
        // ApiClient.delete keeps no answer, so the host as it is now comes from a read.
        return api.get<HostView>(hostPath(hostname));
      });
      await report(globalOptions(command).output, changed, labelsLine(changed));
    });
}

/** `key=value` words as a record; a usage error names the first word that is not of that form. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const match = LABEL.exec(pair);
    if (!match?.[1] || match[2] === undefined) {
      throw new AppError('invalid_input', `label "${pair}" is not of the form key=value, like zone=a`, {
        field: 'labels',
      });
    }
    labels[match[1]] = match[2];
  }
  return labels;
}

function labelsLine(host: HostView): string {
  const labels = formatLabels(host.labels);
  return `host "${host.hostname}" labels: ${labels === '' ? 'none' : labels.replaceAll(',', ', ')}`;
}
